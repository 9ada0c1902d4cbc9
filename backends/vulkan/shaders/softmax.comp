// softmax.comp — softmax / log_softmax along one axis: one workgroup (ROW_SERIAL:
// one invocation, common.glsl) per row of LEN
// elements spaced INNER apart (INNER = 1 for the last axis: contiguous). The stable form
// of the reference: subtract the row max, a row of -inf uses 0 as its max.
// X_AT(i) reads the input and STORE(offset, value) writes each result: a fused body
// headed by the softmax (fuse-elementwise) reads its parameter and applies its epilogue
// to each probability as it is stored.
#ifndef X_AT
#define X_AT(i) b1.d[i]
#endif
#ifndef STORE
#define STORE(o, x) b0.d[o] = (x)
#endif
void main() {
    uint lid = ROW_LID;
    for (uint row = ROW_FIRST; row < ROWS; row += ROW_STEP) {
        uint base = (row / INNER) * LEN * INNER + row % INNER;
        float mx = -INF_F;
        for (uint k = lid; k < LEN; k += ROW_WG) mx = nanmax(mx, X_AT(base + k * INNER));
        mx = wg_max(mx);
        if (isinf(mx) && mx < 0.0) mx = 0.0;
        float s = 0.0;
        for (uint k = lid; k < LEN; k += ROW_WG) s += exp(X_AT(base + k * INNER) - mx);
        s = wg_sum(s);
        float lse = log(s);
        for (uint k = lid; k < LEN; k += ROW_WG) {
            float x = X_AT(base + k * INNER) - mx;
#ifdef LOG_FORM
            STORE(base + k * INNER, x - lse);
#else
            STORE(base + k * INNER, exp(x) / s);
#endif
        }
    }
}
