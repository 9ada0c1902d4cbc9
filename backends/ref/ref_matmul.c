/* ref_matmul.c — batched matmul: x[..., M, K] @ y[..., K, N] -> out[..., M, N], the
 * batch dims broadcast as in NumPy (a batch dim of 1, or a missing one, repeats).
 *
 * Decision a newcomer may question: each dot product accumulates in double, in order
 * k = 0..K-1, and is rounded to the output dtype once. That is more accurate than any
 * float32 kernel, so a backend's tolerance measures its own rounding, not ours. The
 * triple loop is deliberately naive: this file is an oracle, not a kernel.
 */
#include "ref.h"

bool ref_eval_matmul(const Tensor *x, const Tensor *y, Tensor *out) {
    int br = out->rank - 2; /* batch rank */
    int64_t m = x->dims[x->rank - 2], k = x->dims[x->rank - 1], n = y->dims[y->rank - 1];
    /* Batch strides (in matrices) of x and y within the output's batch dims. */
    int64_t sx[IR_MAX_RANK], sy[IR_MAX_RANK];
    ref_broadcast_strides(x->rank - 2, x->dims, br, out->dims, sx);
    ref_broadcast_strides(y->rank - 2, y->dims, br, out->dims, sy);
    int64_t batches = 1;
    for (int i = 0; i < br; i++) batches *= out->dims[i];
    for (int64_t b = 0; b < batches; b++) {
        int64_t xb = ref_broadcast_offset(b, br, out->dims, sx) * m * k;
        int64_t yb = ref_broadcast_offset(b, br, out->dims, sy) * k * n;
        int64_t ob = b * m * n;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double acc = 0;
                for (int64_t p = 0; p < k; p++)
                    acc += ref_load(x, xb + i * k + p) * ref_load(y, yb + p * n + j);
                ref_store(out, ob + i * n + j, acc);
            }
    }
    return true;
}
