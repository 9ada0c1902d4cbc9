/* vjp.c — the vector-Jacobian rule of every differentiable op, one function per row of
 * ir/ops.def's `vjp` column. Given g = d loss / d v, a rule writes d loss / d operand i
 * into grads[i] for each operand with need[i] set.
 *
 * Rules build only existing ops, written for any float dtype and for symbolic dims; where
 * a count is needed over symbolic dims (mean, cross_entropy) it is computed in the graph
 * by summing ones, so one compiled backward serves every batch size and length.
 * Decision a newcomer may question: composite ops (softmax, layernorm, cross_entropy)
 * recompute what they need (mean, rstd, softmax) from their inputs instead of saving it:
 * the forward ops stay as they are, and CSE merges what the forward already computed.
 */
#include <math.h>
#include <string.h>

#include "ad.h"

static IrType scalar_of(IrDType dt) { return (IrType){.dtype = dt}; }

static IrValue *num(AdCtx *c, double x, IrDType dt) {
    IrType t = scalar_of(dt);
    return ad_fill(c, x, &t);
}

static IrValue *mul(AdCtx *c, IrValue *x, IrValue *y) { return ad_op2(c, OP_MUL, x, y); }
static IrValue *add(AdCtx *c, IrValue *x, IrValue *y) { return ad_op2(c, OP_ADD, x, y); }
static IrValue *sub(AdCtx *c, IrValue *x, IrValue *y) { return ad_op2(c, OP_SUB, x, y); }
static IrValue *divide(AdCtx *c, IrValue *x, IrValue *y) { return ad_op2(c, OP_DIV, x, y); }
static IrValue *mulk(AdCtx *c, IrValue *x, double k) { return mul(c, x, num(c, k, x->type.dtype)); }

static IrValue *reduce(AdCtx *c, IrOp op, IrValue *x, const int64_t *axes, int n, bool keepdim) {
    IrAttrs a = {.nints = n, .keepdim = keepdim};
    memcpy(a.ints, axes, sizeof a.ints[0] * (size_t)n);
    return ad_op(c, op, &x, 1, &a, NULL);
}

static IrValue *last_axis(AdCtx *c, IrOp op, IrValue *x) {
    int64_t axis = x->type.rank - 1;
    return reduce(c, op, x, &axis, 1, true);
}

/* Float 1/0 mask of a comparison (comparisons give the operands' dtype). */
static IrValue *cmp(AdCtx *c, IrOp op, IrValue *x, IrValue *y) { return ad_op2(c, op, x, y); }

static IrValue *reshape(AdCtx *c, IrValue *x, const IrType *t) {
    if (ir_type_eq(&x->type, t)) return x;
    return ad_op(c, OP_RESHAPE, &x, 1, NULL, t);
}

static IrValue *broadcast(AdCtx *c, IrValue *x, const IrType *t) {
    if (ir_type_eq(&x->type, t)) return x;
    return ad_op(c, OP_BROADCAST, &x, 1, NULL, t);
}

/* x's type with the reduced axes kept as 1. */
static IrType keepdim_type(const IrType *x, const IrAttrs *a) {
    IrType t = *x;
    for (int i = 0; i < a->nints; i++) t.dims[a->ints[i]] = ir_dim_int(1);
    return t;
}

/* The number of elements the axes of x span, as a scalar of x's dtype. */
static IrValue *count(AdCtx *c, const IrType *x, const int64_t *axes, int n) {
    IrType span = {.dtype = x->dtype, .rank = n};
    double k = 1;
    bool fixed = true;
    for (int i = 0; i < n; i++) {
        span.dims[i] = x->dims[axes[i]];
        if (span.dims[i].sym)
            fixed = false;
        else
            k *= (double)span.dims[i].size;
    }
    if (fixed || n == 0) return num(c, k, x->dtype);
    int64_t all[IR_MAX_RANK];
    for (int i = 0; i < n; i++) all[i] = i;
    return reduce(c, OP_SUM, ad_fill(c, 1, &span), all, n, false);
}

static void vjp_neg(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    gr[0] = ad_op1(c, OP_NEG, g);
}

static void vjp_exp(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    gr[0] = mul(c, g, v);
}

static void vjp_log(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    gr[0] = divide(c, g, v->args[0]);
}

static void vjp_sqrt(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    gr[0] = divide(c, g, mulk(c, v, 2));
}

/* y = x^-1/2, dy/dx = -1/2 x^-3/2 = -1/2 y^3 */
static void vjp_rsqrt(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    gr[0] = mul(c, g, mulk(c, mul(c, v, mul(c, v, v)), -0.5));
}

static void vjp_tanh(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    gr[0] = mul(c, g, sub(c, num(c, 1, v->type.dtype), mul(c, v, v)));
}

static void vjp_sigmoid(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    gr[0] = mul(c, g, mul(c, v, sub(c, num(c, 1, v->type.dtype), v)));
}

static void vjp_relu(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    IrValue *zero = num(c, 0, v->type.dtype);
    IrValue *args[3] = {cmp(c, OP_LT, zero, v->args[0]), g, zero};
    gr[0] = ad_op(c, OP_WHERE, args, 3, NULL, NULL);
}

/* y = x/2 (1 + tanh u), u = s (x + k x^3), s = sqrt(2/pi):
 * dy/dx = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) s (1 + 3k x^2) */
static void vjp_gelu(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    const double s = sqrt(2.0 / 3.14159265358979323846), k = 0.044715;
    IrDType dt = v->type.dtype;
    IrValue *x = v->args[0], *x2 = mul(c, x, x), *one = num(c, 1, dt);
    IrValue *t = ad_op1(c, OP_TANH, mulk(c, add(c, x, mulk(c, mul(c, x2, x), k)), s));
    IrValue *left = mulk(c, add(c, one, t), 0.5);
    IrValue *du = mulk(c, add(c, one, mulk(c, x2, 3 * k)), s);
    IrValue *right = mul(c, mulk(c, x, 0.5), mul(c, sub(c, one, mul(c, t, t)), du));
    gr[0] = mul(c, g, add(c, left, right));
}

/* sign(x), 0 at 0 (as torch) */
static void vjp_abs(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    IrValue *x = v->args[0], *zero = num(c, 0, v->type.dtype);
    gr[0] = mul(c, g, sub(c, cmp(c, OP_LT, zero, x), cmp(c, OP_LT, x, zero)));
}

static void vjp_cast(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    if (v->args[0]->type.dtype != DT_I32 && v->type.dtype != DT_I32)
        gr[0] = ad_op(c, OP_CAST, &g, 1, NULL, &v->args[0]->type);
}

static void vjp_add(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    if (need[0]) gr[0] = ad_unbroadcast(c, g, &v->args[0]->type);
    if (need[1]) gr[1] = ad_unbroadcast(c, g, &v->args[1]->type);
}

static void vjp_sub(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    if (need[0]) gr[0] = ad_unbroadcast(c, g, &v->args[0]->type);
    if (need[1]) gr[1] = ad_unbroadcast(c, ad_op1(c, OP_NEG, g), &v->args[1]->type);
}

static void vjp_mul(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    IrValue *x = v->args[0], *y = v->args[1];
    if (need[0]) gr[0] = ad_unbroadcast(c, mul(c, g, y), &x->type);
    if (need[1]) gr[1] = ad_unbroadcast(c, mul(c, g, x), &y->type);
}

/* v = x / y: dx = g / y, dy = -g v / y */
static void vjp_div(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    IrValue *x = v->args[0], *y = v->args[1];
    if (need[0]) gr[0] = ad_unbroadcast(c, divide(c, g, y), &x->type);
    if (need[1]) gr[1] = ad_unbroadcast(c, ad_op1(c, OP_NEG, divide(c, mul(c, g, v), y)), &y->type);
}

/* v = a^b: da = g b a^(b-1), db = g v log a */
static void vjp_pow(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    IrValue *a = v->args[0], *b = v->args[1];
    if (need[0]) {
        IrValue *bm1 = sub(c, b, num(c, 1, b->type.dtype));
        gr[0] = ad_unbroadcast(c, mul(c, g, mul(c, b, ad_op2(c, OP_POW, a, bm1))), &a->type);
    }
    if (need[1]) gr[1] = ad_unbroadcast(c, mul(c, g, mul(c, v, ad_op1(c, OP_LOG, a))), &b->type);
}

/* maximum/minimum: the gradient goes to the operand that won; ties split it evenly, as
 * torch does. */
static void vjp_minmax(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    IrValue *x = v->args[0], *y = v->args[1];
    IrValue *win = v->op == OP_MAXIMUM ? cmp(c, OP_LT, y, x) : cmp(c, OP_LT, x, y);
    IrValue *m0 = add(c, win, mulk(c, cmp(c, OP_EQ, x, y), 0.5));
    if (need[0]) gr[0] = ad_unbroadcast(c, mul(c, g, m0), &x->type);
    if (need[1])
        gr[1] = ad_unbroadcast(c, mul(c, g, sub(c, num(c, 1, v->type.dtype), m0)), &y->type);
}

static void vjp_where(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    IrValue *zero = num(c, 0, v->type.dtype);
    if (need[1])
        gr[1] = ad_unbroadcast(c, ad_op(c, OP_WHERE, (IrValue *[]){v->args[0], g, zero}, 3, NULL, NULL),
                               &v->args[1]->type);
    if (need[2])
        gr[2] = ad_unbroadcast(c, ad_op(c, OP_WHERE, (IrValue *[]){v->args[0], zero, g}, 3, NULL, NULL),
                               &v->args[2]->type);
}

static IrValue *swap_last2(AdCtx *c, IrValue *x) {
    IrAttrs a = {.nints = x->type.rank};
    for (int i = 0; i < a.nints; i++) a.ints[i] = i;
    a.ints[a.nints - 1] = a.nints - 2;
    a.ints[a.nints - 2] = a.nints - 1;
    return ad_op(c, OP_TRANSPOSE, &x, 1, &a, NULL);
}

/* v = A @ B: dA = g @ B^T, dB = A^T @ g, each summed over broadcast batch dims */
static void vjp_matmul(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    IrValue *a = v->args[0], *b = v->args[1];
    if (need[0]) gr[0] = ad_unbroadcast(c, ad_op2(c, OP_MATMUL, g, swap_last2(c, b)), &a->type);
    if (need[1]) gr[1] = ad_unbroadcast(c, ad_op2(c, OP_MATMUL, swap_last2(c, a), g), &b->type);
}

/* g with the reduced axes of v put back (as 1s), then spread over x's shape */
static IrValue *unreduce(AdCtx *c, IrValue *v, IrValue *g) {
    IrType kt = keepdim_type(&v->args[0]->type, &v->attrs);
    return broadcast(c, reshape(c, g, &kt), &v->args[0]->type);
}

static void vjp_sum(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    gr[0] = unreduce(c, v, g);
}

static void vjp_mean(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    gr[0] = divide(c, unreduce(c, v, g), count(c, &v->args[0]->type, v->attrs.ints, v->attrs.nints));
}

/* The maxima share the gradient evenly (as torch.amax). */
static void vjp_max(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    IrValue *x = v->args[0];
    IrType kt = keepdim_type(&x->type, &v->attrs);
    IrValue *mask = cmp(c, OP_EQ, x, reshape(c, v, &kt));
    IrValue *n = reduce(c, OP_SUM, mask, v->attrs.ints, v->attrs.nints, true);
    gr[0] = divide(c, mul(c, mask, reshape(c, g, &kt)), n);
}

static void vjp_reshape(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    gr[0] = reshape(c, g, &v->args[0]->type);
}

static bool swaps_last2(const IrValue *v) {
    int r = v->attrs.nints;
    for (int i = 0; i < r - 2; i++)
        if (v->attrs.ints[i] != i) return false;
    return r >= 2 && v->attrs.ints[r - 2] == r - 1 && v->attrs.ints[r - 1] == r - 2;
}

/* (Σ_batch X @ Y)ᵀ as Σ_batch Yᵀ @ Xᵀ: when the gradient of xᵀ is a matmul (summed over
 * leading batch axes), its transpose is taken by swapping the operands, whose transposes
 * the backends read in place, instead of copying the product. GPT-2's tied embedding:
 * the logits' weight gradient [768, 50257] (154 MB) is made as [50257, 768] directly.
 * NULL when g is not of that form. */
static IrValue *transposed_product(AdCtx *c, IrValue *g) {
    IrValue *m = g;
    bool summed = g->op == OP_SUM && !g->attrs.keepdim;
    if (summed) {
        m = g->args[0];
        for (int i = 0; i < g->attrs.nints; i++)
            if (g->attrs.ints[i] != i || i >= m->type.rank - 2) return NULL;
    }
    if (m->op != OP_MATMUL) return NULL;
    IrValue *t = ad_op2(c, OP_MATMUL, swap_last2(c, m->args[1]), swap_last2(c, m->args[0]));
    return summed ? reduce(c, OP_SUM, t, g->attrs.ints, g->attrs.nints, false) : t;
}

static void vjp_transpose(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    if (swaps_last2(v) && (gr[0] = transposed_product(c, g))) return;
    IrAttrs a = {.nints = v->attrs.nints};
    for (int i = 0; i < a.nints; i++) a.ints[v->attrs.ints[i]] = i;
    gr[0] = ad_op(c, OP_TRANSPOSE, &g, 1, &a, NULL);
}

static void vjp_broadcast(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    gr[0] = ad_unbroadcast(c, g, &v->args[0]->type);
}

/* g placed at [start, end) of axis in zeros shaped like x */
static IrValue *pad_axis(AdCtx *c, IrValue *g, const IrType *x, int64_t axis, int64_t start,
                         int64_t end) {
    IrValue *parts[3];
    int n = 0;
    int64_t size = x->dims[axis].size;
    IrType z = *x;
    if (start > 0) {
        z.dims[axis] = ir_dim_int(start);
        parts[n++] = ad_fill(c, 0, &z);
    }
    parts[n++] = g;
    if (end < size) {
        z.dims[axis] = ir_dim_int(size - end);
        parts[n++] = ad_fill(c, 0, &z);
    }
    if (n == 1) return g;
    IrAttrs a = {.axis = axis};
    return ad_op(c, OP_CONCAT, parts, n, &a, NULL);
}

static void vjp_slice(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    gr[0] = pad_axis(c, g, &v->args[0]->type, v->attrs.axis, v->attrs.start, v->attrs.end);
}

static void vjp_split(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    int64_t part = v->type.dims[v->attrs.axis].size, start = part * v->attrs.index;
    gr[0] = pad_axis(c, g, &v->args[0]->type, v->attrs.axis, start, start + part);
}

static void vjp_concat(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    int64_t axis = v->attrs.axis, at = 0;
    for (int i = 0; i < v->nargs; i++) {
        int64_t size = v->args[i]->type.dims[axis].size;
        if (need[i]) {
            IrAttrs a = {.axis = axis, .start = at, .end = at + size};
            gr[i] = v->nargs == 1 ? g : ad_op(c, OP_SLICE, &g, 1, &a, NULL);
        }
        at += size;
    }
}

static void vjp_gather(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    if (need[0])
        gr[0] = ad_op(c, OP_SCATTER_ADD, (IrValue *[]){v->args[1], g}, 2, NULL, &v->args[0]->type);
}

static void vjp_scatter_add(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    if (need[1]) gr[1] = ad_op2(c, OP_GATHER, g, v->args[0]);
}

/* dx = y (g - sum(g y)) */
static void vjp_softmax(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    IrValue *s = reduce(c, OP_SUM, mul(c, g, v), &v->attrs.axis, 1, true);
    gr[0] = mul(c, v, sub(c, g, s));
}

/* dx = g - exp(y) sum(g) */
static void vjp_log_softmax(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    IrValue *s = reduce(c, OP_SUM, g, &v->attrs.axis, 1, true);
    gr[0] = sub(c, g, mul(c, ad_op1(c, OP_EXP, v), s));
}

/* y = xhat γ + β, xhat = (x - mean) rstd:
 * dβ = Σ g, dγ = Σ g xhat, dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = g γ.
 * dx is one layernorm_grad op: a row kernel on every backend that recomputes mean and rstd
 * in the row, so xhat is never stored for it. dγ needs xhat itself, summed over the rows:
 * it is layernorm(x, 1, 0), one row kernel (the primitive chain of means, sub and rsqrt
 * was five kernels after fusion), built only when γ needs a gradient; the fills of 1 and 0
 * are shared (CSE) by every layernorm of one width. */
static void vjp_layernorm(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    IrValue *x = v->args[0], *gamma = v->args[1], *beta = v->args[2];
    IrAttrs a = {.eps = v->attrs.eps};
    if (need[2]) gr[2] = ad_unbroadcast(c, g, &beta->type);
    if (need[1]) {
        IrValue *args[3] = {x, ad_fill(c, 1, &gamma->type), ad_fill(c, 0, &gamma->type)};
        IrValue *xhat = ad_op(c, OP_LAYERNORM, args, 3, &a, NULL);
        gr[1] = ad_unbroadcast(c, mul(c, g, xhat), &gamma->type);
    }
    if (need[0]) gr[0] = ad_op(c, OP_LAYERNORM_GRAD, (IrValue *[]){x, gamma, g}, 3, &a, NULL);
}

/* loss = mean over positions of -log softmax(x)[t]: dx = (softmax(x) - onehot(t)) g / N */
static void vjp_cross_entropy(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    IrValue *x = v->args[0], *t = v->args[1];
    const IrType *xt = &x->type;
    IrAttrs last = {.axis = xt->rank - 1};
    IrValue *p = ad_op(c, OP_SOFTMAX, &x, 1, &last, NULL);
    IrType vt = {.dtype = DT_I32, .rank = 1, .dims = {xt->dims[xt->rank - 1]}};
    IrValue *classes = ad_op(c, OP_ARANGE, NULL, 0, NULL, &vt);
    IrType t1 = t->type;
    t1.dims[t1.rank++] = ir_dim_int(1);
    IrValue *hit = ad_op2(c, OP_EQ, reshape(c, t, &t1), classes);
    IrType ht = hit->type;
    ht.dtype = xt->dtype;
    IrValue *onehot = ad_op(c, OP_CAST, &hit, 1, NULL, &ht);
    int64_t axes[IR_MAX_RANK];
    for (int i = 0; i < t->type.rank; i++) axes[i] = i;
    IrType pos = t->type;
    pos.dtype = xt->dtype;
    IrValue *n = count(c, &pos, axes, t->type.rank);
    gr[0] = mul(c, sub(c, p, onehot), divide(c, g, n));
}

/* The identity [n, n] of dtype dt, with n = t's last dim (symbolic or not), broadcast to t:
 * eq(arange, reshape(arange)) cast to float. */
static IrValue *identity_like(AdCtx *c, const IrType *t) {
    IrDim n = t->dims[t->rank - 1];
    IrType row = {.dtype = DT_I32, .rank = 1, .dims = {n}}, col = {.dtype = DT_I32, .rank = 2, .dims = {n, ir_dim_int(1)}};
    IrValue *r = ad_op(c, OP_ARANGE, NULL, 0, NULL, &row);
    IrValue *hit = ad_op2(c, OP_EQ, r, reshape(c, r, &col));
    IrType eye = {.dtype = t->dtype, .rank = 2, .dims = {n, n}};
    return broadcast(c, ad_op(c, OP_CAST, &hit, 1, NULL, &eye), t);
}

/* d bias of o = attention(q, k, v, bias), for the rare bias that depends on a weight (a
 * learned positional bias): dS = P (dP - rowsum(do o)), dP = do @ v^T, summed down to
 * bias's shape. attention_grad has no bias output, so the probabilities P are materialised
 * here, as attention(q, k, I, bias) with I the [Tk, Tk] identity: one op, which masks
 * causally exactly as the forward did. This costs the Tq x Tk tensors fusion avoids, but
 * only when a bias needs a gradient; training then still works. */
static IrValue *attention_bias_grad(AdCtx *c, IrValue *o, IrValue *g) {
    IrValue *q = o->args[0], *k = o->args[1], *v = o->args[2], *bias = o->args[3];
    IrType eye = k->type;
    eye.dims[eye.rank - 1] = k->type.dims[k->type.rank - 2];
    IrValue *args[4] = {q, k, identity_like(c, &eye), bias};
    IrValue *p = ad_op(c, OP_ATTENTION, args, 4, &o->attrs, NULL);
    IrValue *dp = ad_op2(c, OP_MATMUL, g, swap_last2(c, v));
    IrValue *d = last_axis(c, OP_SUM, mul(c, g, o));
    return ad_unbroadcast(c, mul(c, p, sub(c, dp, d)), &bias->type);
}

/* o = attention(q, k, v [, bias]): the backward of flash attention. attention_lse gives
 * each score row's log-sum-exp (recomputed from q and k, as softmax's rule recomputes);
 * attention_grad recomputes the probabilities from q, k and lse block by block, so no
 * Tq x Tk tensor is written. */
static void vjp_attention(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **gr) {
    IrValue *bias = v->nargs == 4 ? v->args[3] : NULL;
    IrAttrs a = {.scale = v->attrs.scale, .causal = v->attrs.causal};
    if (need[0] || need[1] || need[2]) {
        IrValue *lse_args[3] = {v->args[0], v->args[1], bias};
        IrValue *lse = ad_op(c, OP_ATTENTION_LSE, lse_args, bias ? 3 : 2, &a, NULL);
        IrValue *args[7] = {v->args[0], v->args[1], v->args[2], v, g, lse, bias};
        for (int i = 0; i < 3; i++) {
            if (!need[i]) continue;
            IrAttrs ai = a;
            ai.index = i;
            gr[i] = ad_op(c, OP_ATTENTION_GRAD, args, bias ? 7 : 6, &ai, NULL);
        }
    }
    if (bias && need[3]) gr[3] = attention_bias_grad(c, v, g);
}

static const VjpRule rules[OP_COUNT] = {
#define none NULL
#define OP(e, name, nargs, attrs, rule, vjp, flags) [OP_##e] = vjp_##vjp,
#define vjp_none NULL
#include "ir/ops.def"
#undef OP
#undef vjp_none
#undef none
};

VjpRule ad_vjp_rule(IrOp op) { return rules[op]; }
