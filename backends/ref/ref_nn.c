/* ref_nn.c — the composite ops models use as units: softmax and log_softmax along an
 * axis, layernorm over the last axis and its input gradient layernorm_grad, cross_entropy.
 *
 * All in double, each written the numerically stable way a backend should match:
 * softmax subtracts the max of its row first, log_softmax is x - max - log(sum exp(x -
 * max)), layernorm uses the biased variance (divide by C, as torch.nn.LayerNorm) and
 * eps inside the square root. cross_entropy is the mean over every position of
 * -log_softmax(logits)[target]; an out-of-range target is a run-time error naming the
 * target and its position (there is no ignore_index), and no positions at all give NaN
 * (0/0, as torch's mean of nothing).
 */
#include <math.h>
#include <stdlib.h>

#include "ref.h"

/* Softmax of one row of `len` elements spaced `stride` apart, starting at `base`. */
static void softmax_row(bool log_form, const Tensor *x, Tensor *out, int64_t base,
                        int64_t len, int64_t stride) {
    double mx = -INFINITY;
    for (int64_t i = 0; i < len; i++) {
        double v = ref_load(x, base + i * stride);
        if (v > mx || isnan(v)) mx = v;
    }
    if (isinf(mx) && mx < 0) mx = 0; /* a row of -inf: exp(-inf - 0) = 0, sum 0 -> NaN */
    double sum = 0;
    for (int64_t i = 0; i < len; i++) sum += exp(ref_load(x, base + i * stride) - mx);
    double lse = log(sum);
    for (int64_t i = 0; i < len; i++) {
        double v = ref_load(x, base + i * stride) - mx;
        ref_store(out, base + i * stride, log_form ? v - lse : exp(v) / sum);
    }
}

bool ref_eval_softmax(bool log_form, int64_t axis, const Tensor *x, Tensor *out) {
    int64_t outer = 1, inner = 1, len = x->dims[axis];
    for (int i = 0; i < axis; i++) outer *= x->dims[i];
    for (int i = (int)axis + 1; i < x->rank; i++) inner *= x->dims[i];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++)
            softmax_row(log_form, x, out, o * len * inner + j, len, inner);
    return true;
}

bool ref_eval_layernorm(double eps, const Tensor *x, const Tensor *g, const Tensor *b,
                        Tensor *out) {
    /* x is (..., C); g and b are (C) */
    int64_t c = x->dims[x->rank - 1];
    int64_t rows = c ? tensor_numel(x) / c : 0;
    for (int64_t r = 0; r < rows; r++) {
        int64_t base = r * c;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < c; i++) mean += ref_load(x, base + i);
        mean /= (double)c;
        for (int64_t i = 0; i < c; i++) {
            double d = ref_load(x, base + i) - mean;
            var += d * d;
        }
        var /= (double)c;
        double rstd = 1.0 / sqrt(var + eps);
        for (int64_t i = 0; i < c; i++)
            ref_store(out, base + i,
                      (ref_load(x, base + i) - mean) * rstd * ref_load(g, i) + ref_load(b, i));
    }
    return true;
}

/* dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = dy g, per row. */
bool ref_eval_layernorm_grad(double eps, const Tensor *x, const Tensor *g, const Tensor *dy,
                             Tensor *out) {
    /* x and dy are (..., C); g is (C) */
    int64_t c = x->dims[x->rank - 1];
    int64_t rows = c ? tensor_numel(x) / c : 0;
    for (int64_t r = 0; r < rows; r++) {
        int64_t base = r * c;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < c; i++) mean += ref_load(x, base + i);
        mean /= (double)c;
        for (int64_t i = 0; i < c; i++) {
            double d = ref_load(x, base + i) - mean;
            var += d * d;
        }
        var /= (double)c;
        double rstd = 1.0 / sqrt(var + eps);
        double m1 = 0, m2 = 0; /* mean(dxhat), mean(dxhat xhat) */
        for (int64_t i = 0; i < c; i++) {
            double dxhat = ref_load(dy, base + i) * ref_load(g, i);
            m1 += dxhat;
            m2 += dxhat * (ref_load(x, base + i) - mean) * rstd;
        }
        m1 /= (double)c;
        m2 /= (double)c;
        for (int64_t i = 0; i < c; i++) {
            double dxhat = ref_load(dy, base + i) * ref_load(g, i);
            double xhat = (ref_load(x, base + i) - mean) * rstd;
            ref_store(out, base + i, rstd * (dxhat - m1 - xhat * m2));
        }
    }
    return true;
}

bool ref_eval_cross_entropy(const Tensor *logits, const Tensor *targets, Tensor *out,
                            char *err, size_t errlen) {
    /* logits (..., V), targets (...) of i32 */
    int64_t v = logits->dims[logits->rank - 1];
    int64_t npos = tensor_numel(targets);
    double total = 0;
    for (int64_t p = 0; p < npos; p++) {
        double t = ref_load(targets, p);
        if (!(t >= 0 && t < (double)v)) {
            snprintf(err, errlen,
                     "cross_entropy target %.0f at position %lld is out of range: the logits "
                     "have %lld classes (valid: 0..%lld)",
                     t, (long long)p, (long long)v, (long long)v - 1);
            return false;
        }
        int64_t base = p * v;
        double mx = -INFINITY;
        for (int64_t i = 0; i < v; i++) {
            double l = ref_load(logits, base + i);
            if (l > mx || isnan(l)) mx = l;
        }
        double sum = 0;
        for (int64_t i = 0; i < v; i++) sum += exp(ref_load(logits, base + i) - mx);
        /* -log_softmax[t] = log(sum exp(l - mx)) + mx - l[t] */
        total += log(sum) + mx - ref_load(logits, base + (int64_t)t);
    }
    ref_store(out, 0, total / (double)npos);
    return true;
}
