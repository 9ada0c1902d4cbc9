// xent_mean.comp — cross-entropy, second pass: one workgroup sums the NPOS per-position
// losses (binding 1, the scratch buffer) and writes their mean (NaN for no positions).
// ROW_SERIAL: every invocation sums all of them; invocation 0 writes.
void main() {
    uint lid = ROW_LID;
    float s = 0.0;
    for (uint k = lid; k < NPOS; k += ROW_WG) s += b1.d[k];
    s = wg_sum(s);
    if (gl_LocalInvocationID.x == 0u) b0.d[0] = NPOS == 0u ? NAN_F : s / float(NPOS);
}
