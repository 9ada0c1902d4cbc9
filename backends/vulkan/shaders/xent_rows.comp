// xent_rows.comp — cross-entropy, first pass: one workgroup (ROW_SERIAL: one
// invocation, common.glsl) per position p writes
// -log_softmax(logits[p])[target[p]] into the scratch buffer (binding 0). A target
// outside 0..V-1 is recorded in the error buffer (smallest position wins) and the
// position contributes 0: the run then fails with the reference's message.
void main() {
    uint lid = ROW_LID;
    for (uint p = ROW_FIRST; p < NPOS; p += ROW_STEP) {
        TARGET_T t = b2.d[p];
        if (!(t >= TARGET_T(0) && t < TARGET_T(V))) {
            if (lid == 0u) { atomicMin(be.e[ERRSLOT], p); b0.d[p] = 0.0; }
            continue;
        }
        uint base = p * V;
        float mx = -INF_F;
        for (uint k = lid; k < V; k += ROW_WG) mx = nanmax(mx, b1.d[base + k]);
        mx = wg_max(mx);
        float s = 0.0;
        for (uint k = lid; k < V; k += ROW_WG) s += exp(b1.d[base + k] - mx);
        s = wg_sum(s);
        if (lid == 0u) b0.d[p] = log(s) + mx - b1.d[base + uint(t)];
    }
}
