// layernorm.comp — layernorm over the last axis (C elements), one workgroup per row
// (ROW_SERIAL: one invocation, common.glsl):
// biased variance (divide by C) and EPS inside the square root, as torch.nn.LayerNorm.
// Two passes over the row (mean, then squared deviations) rather than E[x^2] - E[x]^2,
// which cancels badly in float32.
void main() {
    uint lid = ROW_LID;
    for (uint row = ROW_FIRST; row < ROWS; row += ROW_STEP) {
        uint base = row * C;
        float s = 0.0;
        for (uint k = lid; k < C; k += ROW_WG) s += b1.d[base + k];
        float mean = wg_sum(s) / float(C);
        float v = 0.0;
        for (uint k = lid; k < C; k += ROW_WG) {
            float d = b1.d[base + k] - mean;
            v += d * d;
        }
        float rstd = 1.0 / sqrt(wg_sum(v) / float(C) + EPS);
        for (uint k = lid; k < C; k += ROW_WG)
            b0.d[base + k] = (b1.d[base + k] - mean) * rstd * b2.d[k] + b3.d[k];
    }
}
