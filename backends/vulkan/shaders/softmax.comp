// softmax.comp — softmax / log_softmax along one axis: one workgroup (ROW_SERIAL:
// one invocation, common.glsl) per row of LEN
// elements spaced INNER apart (INNER = 1 for the last axis: contiguous). The stable form
// of the reference: subtract the row max, a row of -inf uses 0 as its max.
void main() {
    uint lid = ROW_LID;
    for (uint row = ROW_FIRST; row < ROWS; row += ROW_STEP) {
        uint base = (row / INNER) * LEN * INNER + row % INNER;
        float mx = -INF_F;
        for (uint k = lid; k < LEN; k += ROW_WG) mx = nanmax(mx, b1.d[base + k * INNER]);
        mx = wg_max(mx);
        if (isinf(mx) && mx < 0.0) mx = 0.0;
        float s = 0.0;
        for (uint k = lid; k < LEN; k += ROW_WG) s += exp(b1.d[base + k * INNER] - mx);
        s = wg_sum(s);
        float lse = log(s);
        for (uint k = lid; k < LEN; k += ROW_WG) {
            float x = b1.d[base + k * INNER] - mx;
#ifdef LOG_FORM
            b0.d[base + k * INNER] = x - lse;
#else
            b0.d[base + k * INNER] = exp(x) / s;
#endif
        }
    }
}
