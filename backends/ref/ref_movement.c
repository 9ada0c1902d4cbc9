/* ref_movement.c — ops that move elements without computing: reshape, transpose,
 * broadcast, slice, concat, split, gather. They work on any dtype.
 *
 * Slice, split and concat are written as outer x axis x inner loops (outer: the product
 * of the dims before the axis, inner: after it), the layout every backend will use.
 * Decision a newcomer may question: gather indices are not wrapped Python-style; a
 * negative or too-large index is a run-time error naming the index and its position,
 * since in a model it always means bad input data (a token id past the vocabulary).
 */
#include <stdlib.h>
#include <string.h>

#include "ref.h"

static void copy_elem(Tensor *out, int64_t oi, const Tensor *in, int64_t ii) {
    if (out->dtype == in->dtype) {
        size_t sz = ir_dtype_size(in->dtype);
        memcpy((char *)out->data + (size_t)oi * sz, (const char *)in->data + (size_t)ii * sz, sz);
    } else {
        ref_store(out, oi, ref_load(in, ii));
    }
}

static int64_t prod(const int64_t *dims, int from, int to) {
    int64_t n = 1;
    for (int i = from; i < to; i++) n *= dims[i];
    return n;
}

/* Copy a [outer, len, inner] window starting at `start` along the axis of `in` into
 * `out` at `ostart` along its axis. */
static void copy_window(Tensor *out, int64_t ostart, const Tensor *in, int64_t start,
                        int64_t len, int axis) {
    int64_t outer = prod(in->dims, 0, axis), inner = prod(in->dims, axis + 1, in->rank);
    int64_t din = in->dims[axis], dout = out->dims[axis];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t a = 0; a < len; a++)
            for (int64_t j = 0; j < inner; j++)
                copy_elem(out, (o * dout + ostart + a) * inner + j, in,
                          (o * din + start + a) * inner + j);
}

static void transpose(const int64_t *perm, const Tensor *x, Tensor *out) {
    int64_t in_stride[IR_MAX_RANK];
    int64_t s = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        in_stride[d] = s;
        s *= x->dims[d];
    }
    int64_t n = tensor_numel(out);
    for (int64_t i = 0; i < n; i++) {
        /* out[o0, o1, ...] = x[...] with x's axis perm[j] at coordinate o_j */
        int64_t rest = i, off = 0;
        for (int j = out->rank - 1; j >= 0; j--) {
            int64_t c = rest % out->dims[j];
            rest /= out->dims[j];
            off += c * in_stride[perm[j]];
        }
        copy_elem(out, i, x, off);
    }
}

static bool gather(const Tensor *table, const Tensor *idx, Tensor *out, char *err,
                   size_t errlen) {
    int64_t rows = table->dims[0], row = prod(table->dims, 1, table->rank);
    int64_t n = tensor_numel(idx);
    for (int64_t p = 0; p < n; p++) {
        double kd = ref_load(idx, p);
        if (!(kd >= 0 && kd < (double)rows)) {
            snprintf(err, errlen,
                     "gather index %.0f at position %lld of the indices is out of range: the "
                     "table has %lld rows (valid: 0..%lld)",
                     kd, (long long)p, (long long)rows, (long long)rows - 1);
            return false;
        }
        int64_t k = (int64_t)kd;
        for (int64_t j = 0; j < row; j++) copy_elem(out, p * row + j, table, k * row + j);
    }
    return true;
}

/* out = zeros; out[idx[p], ...] += upd[p, ...]. Accumulates in double per element, in
 * index order, so duplicate indices sum deterministically. */
static bool scatter_add(const Tensor *idx, const Tensor *upd, Tensor *out, char *err,
                        size_t errlen) {
    int64_t rows = out->dims[0], row = prod(out->dims, 1, out->rank);
    int64_t n = tensor_numel(idx);
    if (tensor_numel(upd) != n * row) {
        snprintf(err, errlen, "scatter_add: %lld updates do not fill %lld indices of rows of %lld",
                 (long long)tensor_numel(upd), (long long)n, (long long)row);
        return false;
    }
    int64_t total = rows * row;
    double *acc = xcalloc((size_t)(total > 0 ? total : 1), sizeof *acc);
    for (int64_t p = 0; p < n; p++) {
        double kd = ref_load(idx, p);
        if (!(kd >= 0 && kd < (double)rows)) {
            snprintf(err, errlen,
                     "scatter_add index %.0f at position %lld is out of range: the table has "
                     "%lld rows (valid: 0..%lld)",
                     kd, (long long)p, (long long)rows, (long long)rows - 1);
            free(acc);
            return false;
        }
        int64_t k = (int64_t)kd;
        for (int64_t j = 0; j < row; j++) acc[k * row + j] += ref_load(upd, p * row + j);
    }
    for (int64_t i = 0; i < total; i++) ref_store(out, i, acc[i]);
    free(acc);
    return true;
}

bool ref_eval_movement(const IrValue *v, Tensor *const *a, Tensor *out, char *err,
                       size_t errlen) {
    const IrAttrs *at = &v->attrs;
    int64_t n = tensor_numel(out);
    switch (v->op) {
    case OP_RESHAPE: /* row-major data does not move */
        for (int64_t i = 0; i < n; i++) copy_elem(out, i, a[0], i);
        return true;
    case OP_TRANSPOSE:
        transpose(at->ints, a[0], out);
        return true;
    case OP_BROADCAST: {
        int64_t s[IR_MAX_RANK];
        ref_broadcast_strides(a[0]->rank, a[0]->dims, out->rank, out->dims, s);
        for (int64_t i = 0; i < n; i++)
            copy_elem(out, i, a[0], ref_broadcast_offset(i, out->rank, out->dims, s));
        return true;
    }
    case OP_SLICE:
        copy_window(out, 0, a[0], at->start, at->end - at->start, (int)at->axis);
        return true;
    case OP_SPLIT: {
        int64_t len = a[0]->dims[at->axis] / at->parts;
        copy_window(out, 0, a[0], at->index * len, len, (int)at->axis);
        return true;
    }
    case OP_CONCAT: {
        int64_t pos = 0;
        for (int i = 0; i < v->nargs; i++) {
            copy_window(out, pos, a[i], 0, a[i]->dims[at->axis], (int)at->axis);
            pos += a[i]->dims[at->axis];
        }
        return true;
    }
    case OP_GATHER:
        return gather(a[0], a[1], out, err, errlen);
    case OP_SCATTER_ADD:
        return scatter_add(a[0], a[1], out, err, errlen);
    default:
        snprintf(err, errlen, "%s is not a movement op", ir_op_name(v->op));
        return false;
    }
}
