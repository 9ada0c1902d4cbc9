/* ref_reduce.c — sum, max and mean over a set of axes (sorted, distinct, non-negative:
 * the builder normalises them), with or without keepdim.
 *
 * Each output element is computed by walking the input once and adding every element
 * into the output slot it maps to; the slot of an input element is its index with the
 * reduced axes dropped. Accumulation is in double (i32 sums in int64, wrapped to 32 bits
 * on store). An empty reduction gives 0 for sum, -inf for max (INT32_MIN on i32) and
 * NaN for mean, as NumPy does for sum and mean (NumPy refuses max of nothing).
 */
#include <math.h>
#include <stdlib.h>

#include "ref.h"

bool ref_eval_reduce(IrOp op, const IrAttrs *at, const Tensor *x, Tensor *out) {
    int64_t nout = tensor_numel(out), nin = tensor_numel(x);
    bool ints = out->dtype == DT_I32;
    double *acc = xmalloc(sizeof *acc * (size_t)(nout ? nout : 1));
    int64_t *iacc = xmalloc(sizeof *iacc * (size_t)(nout ? nout : 1));
    for (int64_t i = 0; i < nout; i++) {
        acc[i] = op == OP_MAX ? -INFINITY : 0.0;
        iacc[i] = op == OP_MAX ? INT32_MIN : 0;
    }
    bool reduced[IR_MAX_RANK] = {0};
    int64_t count = 1; /* elements folded into each output */
    for (int i = 0; i < at->nints; i++) {
        reduced[at->ints[i]] = true;
        count *= x->dims[at->ints[i]];
    }
    for (int64_t i = 0; i < nin; i++) {
        /* Drop the reduced axes from i's multi-index to find its output slot. */
        int64_t rest = i, slot = 0, scale = 1;
        for (int d = x->rank - 1; d >= 0; d--) {
            int64_t c = rest % x->dims[d];
            rest /= x->dims[d];
            if (!reduced[d]) {
                slot += c * scale;
                scale *= x->dims[d];
            }
        }
        double v = ref_load(x, i);
        if (ints) {
            int64_t iv = (int64_t)v;
            if (op == OP_MAX)
                iacc[slot] = iv > iacc[slot] ? iv : iacc[slot];
            else
                iacc[slot] = (int64_t)(int32_t)(uint32_t)(uint64_t)(iacc[slot] + iv);
        } else if (op == OP_MAX) {
            /* NaN propagates, as torch.max does */
            if (isnan(v) || v > acc[slot]) acc[slot] = isnan(acc[slot]) ? acc[slot] : v;
        } else {
            acc[slot] += v;
        }
    }
    for (int64_t i = 0; i < nout; i++) {
        if (ints)
            ((int32_t *)out->data)[i] = (int32_t)iacc[i];
        else
            ref_store(out, i, op == OP_MEAN ? acc[i] / (double)count : acc[i]);
    }
    free(acc);
    free(iacc);
    return true;
}
