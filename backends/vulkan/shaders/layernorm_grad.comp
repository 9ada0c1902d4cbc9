// layernorm_grad.comp — d x of layernorm over the last axis (C elements), one workgroup
// per row (ROW_SERIAL: one invocation, common.glsl). b1 is x, b2 the gain, b3 dy:
//   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = dy g.
// Mean and variance are recomputed in the row as layernorm.comp does (two passes, never
// E[x^2] - E[x]^2); xhat is recomputed in the last pass, never stored.
void main() {
    uint lid = ROW_LID;
    for (uint row = ROW_FIRST; row < ROWS; row += ROW_STEP) {
        uint base = row * C;
        float sx = 0.0, sd = 0.0;
        for (uint k = lid; k < C; k += ROW_WG) {
            sx += b1.d[base + k];
            sd += b3.d[base + k] * b2.d[k];
        }
        float mean = wg_sum(sx) / float(C);
        float m1 = wg_sum(sd) / float(C);
        float sv = 0.0, sdx = 0.0;
        for (uint k = lid; k < C; k += ROW_WG) {
            float xc = b1.d[base + k] - mean;
            sv += xc * xc;
            sdx += b3.d[base + k] * b2.d[k] * xc;
        }
        float rstd = 1.0 / sqrt(wg_sum(sv) / float(C) + EPS);
        float k2 = wg_sum(sdx) / float(C) * rstd * rstd; // mean(dxhat xhat) rstd
        for (uint k = lid; k < C; k += ROW_WG) {
            float xc = b1.d[base + k] - mean;
            b0.d[base + k] = rstd * (b3.d[base + k] * b2.d[k] - m1 - xc * k2);
        }
    }
}
