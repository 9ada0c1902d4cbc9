/* builtins.c — the builtin functions of .tfm, the weight helpers and initialisers.
 *
 * One table row per builtin: its name, how many positional arguments it takes, which
 * keyword arguments it accepts, and the function that lowers it to IR. Argument counts
 * and keywords are checked from the row, so every builtin gives the same messages
 * ("softmax takes 1 argument but 3 were given", "softmax has no argument 'axs'").
 *
 * Decision a newcomer may question: the shorthands heads, merge_heads and mask_causal
 * are not IR ops. They lower to primitive ops (reshape + transpose; transpose + reshape;
 * arange, le, where with a -inf constant), so a model written with them presents the
 * same graph to the fusion passes as one written out by hand.
 */
#include <math.h>
#include <string.h>

#include "frontend/lower.h"

typedef FeVal (*FeBuiltinFn)(FeLower *L, const FeArgs *a, IrOp op);

typedef struct {
    const char *name;
    int min, max;     /* positional arguments; max -1: up to FE_MAX_ARGS */
    const char *kws;  /* accepted keywords, space separated */
    FeBuiltinFn fn;
    IrOp op;
} FeBuiltin;

static const FeVal fe_error = {FV_ERROR, 0, 0.0, NULL, NULL, NULL, NULL, 0};

static FeVal tensor_val(IrValue *t) {
    FeVal v = fe_error;
    if (t) {
        v.kind = FV_TENSOR;
        v.t = t;
    }
    return v;
}

/* The keyword argument `name`, or NULL. */
static const FeVal *kwarg(const FeArgs *a, const char *name, DiagLoc *loc) {
    for (int i = 0; i < a->nkw; i++) {
        if (strcmp(a->kw[i], name) == 0) {
            if (loc) *loc = a->kw_loc[i];
            return &a->kwv[i];
        }
    }
    return NULL;
}

static bool kw_int(FeLower *L, const FeArgs *a, const char *name, int64_t dflt, int64_t *out) {
    DiagLoc loc;
    const FeVal *v = kwarg(a, name, &loc);
    if (!v) {
        *out = dflt;
        return true;
    }
    char what[64];
    snprintf(what, sizeof what, "%s=", name);
    return fe_as_int(L, v, loc, what, out);
}

static bool kw_num(FeLower *L, const FeArgs *a, const char *name, double dflt, double *out) {
    DiagLoc loc;
    const FeVal *v = kwarg(a, name, &loc);
    if (!v) {
        *out = dflt;
        return true;
    }
    char what[64];
    snprintf(what, sizeof what, "%s=", name);
    return fe_as_number(L, v, loc, what, out);
}

static bool arg_tensor(FeLower *L, const FeArgs *a, int i, IrValue **out) {
    char what[80];
    snprintf(what, sizeof what, "argument %d of %s", i + 1, a->fn);
    return fe_as_tensor(L, &a->pos[i], a->pos_loc[i], what, out);
}

static bool arg_int(FeLower *L, const FeArgs *a, int i, int64_t *out) {
    char what[80];
    snprintf(what, sizeof what, "argument %d of %s", i + 1, a->fn);
    return fe_as_int(L, &a->pos[i], a->pos_loc[i], what, out);
}

static bool arg_num(FeLower *L, const FeArgs *a, int i, double *out) {
    char what[80];
    snprintf(what, sizeof what, "argument %d of %s", i + 1, a->fn);
    return fe_as_number(L, &a->pos[i], a->pos_loc[i], what, out);
}

static bool any_error(const FeArgs *a) {
    for (int i = 0; i < a->npos; i++)
        if (a->pos[i].kind == FV_ERROR) return true;
    for (int i = 0; i < a->nkw; i++)
        if (a->kwv[i].kind == FV_ERROR) return true;
    return false;
}

static bool is_number(const FeVal *v) { return v->kind == FV_INT || v->kind == FV_FLOAT; }
static double num(const FeVal *v) { return v->kind == FV_INT ? (double)v->i : v->f; }

/* ---- elementwise ---- */

static FeVal bi_unary(FeLower *L, const FeArgs *a, IrOp op) {
    const FeVal *x = &a->pos[0];
    if (is_number(x)) {
        /* Compile-time arithmetic: sqrt(C / n_head) is a number, not a graph. */
        double v = num(x), r;
        switch (op) {
        case OP_EXP: r = exp(v); break;
        case OP_LOG:
            if (v <= 0) {
                fe_err(L, a->pos_loc[0], "log of %g is undefined (it must be positive)", v);
                return fe_error;
            }
            r = log(v);
            break;
        case OP_SQRT: case OP_RSQRT:
            if (v < 0 || (op == OP_RSQRT && v == 0)) {
                fe_err(L, a->pos_loc[0], "%s of %g is undefined", a->fn, v);
                return fe_error;
            }
            r = op == OP_SQRT ? sqrt(v) : 1.0 / sqrt(v);
            break;
        case OP_TANH: r = tanh(v); break;
        case OP_SIGMOID: r = 1.0 / (1.0 + exp(-v)); break;
        case OP_RELU: r = v > 0 ? v : 0; break;
        case OP_ABS: r = fabs(v); break;
        case OP_GELU: r = 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))); break;
        default: r = v; break;
        }
        if (!isfinite(r)) {
            fe_err(L, a->loc, "%s(%g) is too large", a->fn, v);
            return fe_error;
        }
        if (x->kind == FV_INT && (op == OP_RELU || op == OP_ABS)) {
            FeVal out = *x;
            out.i = (int64_t)r;
            return out;
        }
        FeVal out = fe_error;
        out.kind = FV_FLOAT;
        out.f = r;
        return out;
    }
    IrValue *t;
    if (!arg_tensor(L, a, 0, &t)) return fe_error;
    return tensor_val(fe_build(L, a->loc, op, &t, 1, NULL, NULL));
}

/* Binary builtins (maximum, minimum, pow, matmul): numbers become constants. */
static FeVal bi_binary(FeLower *L, const FeArgs *a, IrOp op) {
    IrValue *t[2] = {NULL, NULL};
    const FeVal *x = &a->pos[0], *y = &a->pos[1];
    if (op != OP_MATMUL && is_number(x) && !is_number(y)) {
        if (!arg_tensor(L, a, 1, &t[1])) return fe_error;
        t[0] = fe_scalar(L, a->pos_loc[0], num(x), t[1]->type.dtype);
    } else if (op != OP_MATMUL && is_number(y) && !is_number(x)) {
        if (!arg_tensor(L, a, 0, &t[0])) return fe_error;
        t[1] = fe_scalar(L, a->pos_loc[1], num(y), t[0]->type.dtype);
    } else {
        if (!arg_tensor(L, a, 0, &t[0]) || !arg_tensor(L, a, 1, &t[1])) return fe_error;
    }
    if (!t[0] || !t[1]) return fe_error;
    return tensor_val(fe_build(L, a->loc, op, t, 2, NULL, NULL));
}

static FeVal bi_where(FeLower *L, const FeArgs *a, IrOp op) {
    IrValue *t[3] = {NULL, NULL, NULL};
    if (!arg_tensor(L, a, 0, &t[0])) return fe_error;
    IrDType dt = DT_F32;
    for (int i = 1; i < 3; i++)
        if (a->pos[i].kind == FV_TENSOR) dt = a->pos[i].t->type.dtype;
    for (int i = 1; i < 3; i++) {
        if (is_number(&a->pos[i]))
            t[i] = fe_scalar(L, a->pos_loc[i], num(&a->pos[i]), dt);
        else if (!arg_tensor(L, a, i, &t[i]))
            return fe_error;
        if (!t[i]) return fe_error;
    }
    return tensor_val(fe_build(L, a->loc, op, t, 3, NULL, NULL));
}

/* ---- reductions and normalisations ---- */

static FeVal bi_softmax(FeLower *L, const FeArgs *a, IrOp op) {
    IrValue *x;
    int64_t axis;
    if (!arg_tensor(L, a, 0, &x) || !kw_int(L, a, "axis", -1, &axis)) return fe_error;
    IrAttrs at = {0};
    if (!fe_axis(L, axis, x->type.rank, a->loc, a->fn, &at.axis)) return fe_error;
    return tensor_val(fe_build(L, a->loc, op, &x, 1, &at, NULL));
}

static FeVal bi_reduce(FeLower *L, const FeArgs *a, IrOp op) {
    IrValue *x;
    int64_t keepdim;
    if (!arg_tensor(L, a, 0, &x) || !kw_int(L, a, "keepdim", 0, &keepdim)) return fe_error;
    int rank = x->type.rank;
    bool on[IR_MAX_RANK] = {false};
    DiagLoc loc;
    const FeVal *ax = kwarg(a, "axis", &loc);
    if (!ax) {
        for (int i = 0; i < rank; i++) on[i] = true;
    } else {
        const FeVal *items = ax->kind == FV_LIST ? ax->items : ax;
        int n = ax->kind == FV_LIST ? ax->n : 1;
        for (int i = 0; i < n; i++) {
            int64_t v, k;
            if (!fe_as_int(L, &items[i], loc, "axis=", &v) || !fe_axis(L, v, rank, loc, a->fn, &k))
                return fe_error;
            on[k] = true;
        }
    }
    IrAttrs at = {0};
    for (int i = 0; i < rank; i++)
        if (on[i]) at.ints[at.nints++] = i;
    at.keepdim = keepdim != 0;
    return tensor_val(fe_build(L, a->loc, op, &x, 1, &at, NULL));
}

static FeVal bi_layernorm(FeLower *L, const FeArgs *a, IrOp op) {
    IrValue *t[3];
    double eps;
    for (int i = 0; i < 3; i++)
        if (!arg_tensor(L, a, i, &t[i])) return fe_error;
    if (!kw_num(L, a, "eps", 1e-5, &eps)) return fe_error;
    IrAttrs at = {0};
    at.eps = eps;
    return tensor_val(fe_build(L, a->loc, op, t, 3, &at, NULL));
}

static FeVal bi_tensors(FeLower *L, const FeArgs *a, IrOp op) {
    IrValue *t[2];
    if (!arg_tensor(L, a, 0, &t[0]) || !arg_tensor(L, a, 1, &t[1])) return fe_error;
    return tensor_val(fe_build(L, a->loc, op, t, 2, NULL, NULL));
}

/* ---- movement ---- */

static FeVal reshape_to(FeLower *L, DiagLoc loc, IrValue *x, const IrDim *dims, int rank) {
    IrType t = {x->type.dtype, rank, {{0}}};
    for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
    return tensor_val(fe_build(L, loc, OP_RESHAPE, &x, 1, NULL, &t));
}

static FeVal transpose_perm(FeLower *L, DiagLoc loc, IrValue *x, const int64_t *perm) {
    IrAttrs at = {0};
    at.nints = x->type.rank;
    for (int i = 0; i < at.nints; i++) at.ints[i] = perm[i];
    return tensor_val(fe_build(L, loc, OP_TRANSPOSE, &x, 1, &at, NULL));
}

/* Swaps axes i and j of x. */
static FeVal swap_axes(FeLower *L, DiagLoc loc, IrValue *x, int i, int j) {
    int64_t perm[IR_MAX_RANK];
    for (int k = 0; k < x->type.rank; k++) perm[k] = k;
    perm[i] = j;
    perm[j] = i;
    return transpose_perm(L, loc, x, perm);
}

static FeVal bi_reshape(FeLower *L, const FeArgs *a, IrOp op) {
    IrValue *x;
    if (!arg_tensor(L, a, 0, &x)) return fe_error;
    const FeVal *shape = &a->pos[1];
    if (shape->kind != FV_LIST) {
        fe_err(L, a->pos_loc[1], "reshape needs the new shape as a list, as in reshape(x, [B, T, 12, 64])");
        return fe_error;
    }
    if (shape->n > IR_MAX_RANK) {
        fe_err(L, a->pos_loc[1], "a tensor has at most %d dims, this shape has %d", IR_MAX_RANK, shape->n);
        return fe_error;
    }
    IrDim dims[IR_MAX_RANK];
    for (int i = 0; i < shape->n; i++)
        if (!fe_as_dim(L, &shape->items[i], a->pos_loc[1], "a dim of reshape", &dims[i])) return fe_error;
    return reshape_to(L, a->loc, x, dims, shape->n);
}

static FeVal bi_transpose(FeLower *L, const FeArgs *a, IrOp op) {
    IrValue *x;
    if (!arg_tensor(L, a, 0, &x)) return fe_error;
    int rank = x->type.rank;
    if (a->npos == 1) {
        if (rank < 2) {
            char ts[IR_TYPE_STR_MAX];
            fe_err(L, a->loc, "transpose needs at least 2 dims, got %s", ir_type_str(&x->type, ts, sizeof ts));
            return fe_error;
        }
        return swap_axes(L, a->loc, x, rank - 2, rank - 1);
    }
    const FeVal *p = &a->pos[1];
    if (p->kind != FV_LIST || p->n != rank) {
        fe_err(L, a->pos_loc[1], "transpose needs a permutation of the %d axes as a list, as in [0, 2, 1, 3]", rank);
        return fe_error;
    }
    int64_t perm[IR_MAX_RANK];
    for (int i = 0; i < rank; i++) {
        int64_t v;
        if (!fe_as_int(L, &p->items[i], a->pos_loc[1], "an axis of the permutation", &v) ||
            !fe_axis(L, v, rank, a->pos_loc[1], a->fn, &perm[i]))
            return fe_error;
    }
    return transpose_perm(L, a->loc, x, perm);
}

static FeVal bi_split(FeLower *L, const FeArgs *a, IrOp op) {
    IrValue *x;
    int64_t parts, axis;
    if (!arg_tensor(L, a, 0, &x) || !arg_int(L, a, 1, &parts) || !kw_int(L, a, "axis", -1, &axis))
        return fe_error;
    if (parts < 1 || parts > FE_MAX_PARTS) {
        fe_err(L, a->pos_loc[1], "split into %lld parts: the count must be between 1 and %d",
               (long long)parts, FE_MAX_PARTS);
        return fe_error;
    }
    IrAttrs at = {0};
    if (!fe_axis(L, axis, x->type.rank, a->loc, a->fn, &at.axis)) return fe_error;
    at.parts = parts;
    FeVal out = fe_error;
    out.kind = FV_TUPLE;
    out.n = (int)parts;
    out.items = arena_alloc(&L->scratch, (size_t)parts * sizeof *out.items);
    for (int i = 0; i < parts; i++) {
        at.index = i;
        out.items[i] = tensor_val(fe_build(L, a->loc, op, &x, 1, &at, NULL));
        if (out.items[i].kind == FV_ERROR) return fe_error;
    }
    return out;
}

static FeVal bi_concat(FeLower *L, const FeArgs *a, IrOp op) {
    const FeVal *items = a->pos;
    int n = a->npos;
    if (n == 1 && a->pos[0].kind == FV_LIST) {
        items = a->pos[0].items;
        n = a->pos[0].n;
    }
    IrValue *t[FE_MAX_ARGS];
    for (int i = 0; i < n; i++)
        if (!fe_as_tensor(L, &items[i], a->pos_loc[i < a->npos ? i : 0], "an argument of concat", &t[i]))
            return fe_error;
    if (n == 0) {
        fe_err(L, a->loc, "concat needs at least 1 tensor");
        return fe_error;
    }
    int64_t axis;
    if (!kw_int(L, a, "axis", 0, &axis)) return fe_error;
    IrAttrs at = {0};
    if (!fe_axis(L, axis, t[0]->type.rank, a->loc, a->fn, &at.axis)) return fe_error;
    return tensor_val(fe_build(L, a->loc, op, t, n, &at, NULL));
}

static FeVal bi_slice(FeLower *L, const FeArgs *a, IrOp op) {
    IrValue *x;
    int64_t start, end, axis;
    if (!arg_tensor(L, a, 0, &x) || !arg_int(L, a, 1, &start) || !arg_int(L, a, 2, &end) ||
        !kw_int(L, a, "axis", 0, &axis))
        return fe_error;
    IrAttrs at = {0};
    if (!fe_axis(L, axis, x->type.rank, a->loc, a->fn, &at.axis)) return fe_error;
    if (start < 0 || end <= start) {
        fe_err(L, a->loc, "slice %lld..%lld is empty or negative", (long long)start, (long long)end);
        return fe_error;
    }
    at.start = start;
    at.end = end;
    return tensor_val(fe_build(L, a->loc, op, &x, 1, &at, NULL));
}

static FeVal bi_arange(FeLower *L, const FeArgs *a, IrOp op) {
    IrDim d;
    if (!fe_as_dim(L, &a->pos[0], a->pos_loc[0], "the argument of arange", &d)) return fe_error;
    IrType t = {DT_I32, 1, {d}};
    return tensor_val(fe_build(L, a->loc, op, NULL, 0, NULL, &t));
}

/* heads(x, n): [..., T, C] → reshape [..., T, n, C/n] → transpose [..., n, T, C/n]. */
static FeVal bi_heads(FeLower *L, const FeArgs *a, IrOp op) {
    IrValue *x;
    int64_t n;
    if (!arg_tensor(L, a, 0, &x) || !arg_int(L, a, 1, &n)) return fe_error;
    int r = x->type.rank;
    char ts[IR_TYPE_STR_MAX];
    if (r < 2 || r + 1 > IR_MAX_RANK) {
        fe_err(L, a->loc, "heads needs a tensor of 2 to %d dims, got %s", IR_MAX_RANK - 1,
               ir_type_str(&x->type, ts, sizeof ts));
        return fe_error;
    }
    IrDim c = x->type.dims[r - 1];
    if (c.sym || n <= 0 || c.size % n != 0) {
        fe_err(L, a->loc, "heads: the last dim of %s cannot be split into %lld heads",
               ir_type_str(&x->type, ts, sizeof ts), (long long)n);
        return fe_error;
    }
    IrDim dims[IR_MAX_RANK];
    for (int i = 0; i < r - 1; i++) dims[i] = x->type.dims[i];
    dims[r - 1] = ir_dim_int(n);
    dims[r] = ir_dim_int(c.size / n);
    FeVal y = reshape_to(L, a->loc, x, dims, r + 1);
    if (y.kind == FV_ERROR) return y;
    return swap_axes(L, a->loc, y.t, r - 2, r - 1);
}

/* merge_heads(x): [..., H, T, D] → transpose [..., T, H, D] → reshape [..., T, H*D]. */
static FeVal bi_merge_heads(FeLower *L, const FeArgs *a, IrOp op) {
    IrValue *x;
    if (!arg_tensor(L, a, 0, &x)) return fe_error;
    int r = x->type.rank;
    char ts[IR_TYPE_STR_MAX];
    IrDim h = r >= 3 ? x->type.dims[r - 3] : ir_dim_int(0), d = r >= 3 ? x->type.dims[r - 1] : h;
    if (r < 3 || h.sym || d.sym) {
        fe_err(L, a->loc, "merge_heads needs [..., heads, T, dim] with fixed heads and dim, got %s",
               ir_type_str(&x->type, ts, sizeof ts));
        return fe_error;
    }
    FeVal y = swap_axes(L, a->loc, x, r - 3, r - 2);
    if (y.kind == FV_ERROR) return y;
    IrDim dims[IR_MAX_RANK];
    for (int i = 0; i < r - 2; i++) dims[i] = y.t->type.dims[i];
    dims[r - 2] = ir_dim_int(h.size * d.size);
    return reshape_to(L, a->loc, y.t, dims, r - 1);
}

/* mask_causal(x): x[..., i, j] where j <= i, -inf elsewhere (arange, le, where). */
static FeVal bi_mask_causal(FeLower *L, const FeArgs *a, IrOp op) {
    IrValue *x;
    if (!arg_tensor(L, a, 0, &x)) return fe_error;
    int r = x->type.rank;
    if (r < 2) {
        char ts[IR_TYPE_STR_MAX];
        fe_err(L, a->loc, "mask_causal needs scores [..., T, T], got %s", ir_type_str(&x->type, ts, sizeof ts));
        return fe_error;
    }
    IrType rows_t = {DT_I32, 1, {x->type.dims[r - 2]}};
    IrType cols_t = {DT_I32, 1, {x->type.dims[r - 1]}};
    IrType col_vec = {DT_I32, 2, {x->type.dims[r - 2], ir_dim_int(1)}};
    IrValue *rows = fe_build(L, a->loc, OP_ARANGE, NULL, 0, NULL, &rows_t);
    IrValue *rows2 = rows ? fe_build(L, a->loc, OP_RESHAPE, &rows, 1, NULL, &col_vec) : NULL;
    IrValue *cols = rows2 ? fe_build(L, a->loc, OP_ARANGE, NULL, 0, NULL, &cols_t) : NULL;
    if (!cols) return fe_error;
    IrValue *le_args[2] = {cols, rows2};
    IrValue *keep = fe_build(L, a->loc, OP_LE, le_args, 2, NULL, NULL); /* [T, T]: j <= i */
    IrValue *ninf = keep ? fe_scalar(L, a->loc, -INFINITY, x->type.dtype) : NULL;
    if (!ninf) return fe_error;
    IrValue *w[3] = {keep, x, ninf};
    return tensor_val(fe_build(L, a->loc, OP_WHERE, w, 3, NULL, NULL));
}

/* Names valid only in a `weight` statement: calling them elsewhere is a clear error. */
static FeVal bi_weight_only(FeLower *L, const FeArgs *a, IrOp op) {
    bool layer = strcmp(a->fn, "linear") == 0 || strcmp(a->fn, "embedding") == 0;
    if (layer)
        fe_err(L, a->loc, "%s(...) creates weights: write `weight NAME = %s(...)`", a->fn, a->fn);
    else
        fe_err(L, a->loc, "%s is an initialiser: write `weight NAME: f32[...] = %s%s`", a->fn,
               a->fn, strcmp(a->fn, "zeros") == 0 || strcmp(a->fn, "ones") == 0 ? "" : "(...)");
    return fe_error;
}

static const FeBuiltin fe_builtins[] = {
    {"exp", 1, 1, "", bi_unary, OP_EXP},
    {"log", 1, 1, "", bi_unary, OP_LOG},
    {"sqrt", 1, 1, "", bi_unary, OP_SQRT},
    {"rsqrt", 1, 1, "", bi_unary, OP_RSQRT},
    {"tanh", 1, 1, "", bi_unary, OP_TANH},
    {"sigmoid", 1, 1, "", bi_unary, OP_SIGMOID},
    {"relu", 1, 1, "", bi_unary, OP_RELU},
    {"gelu", 1, 1, "", bi_unary, OP_GELU},
    {"abs", 1, 1, "", bi_unary, OP_ABS},
    {"maximum", 2, 2, "", bi_binary, OP_MAXIMUM},
    {"minimum", 2, 2, "", bi_binary, OP_MINIMUM},
    {"pow", 2, 2, "", bi_binary, OP_POW},
    {"matmul", 2, 2, "", bi_binary, OP_MATMUL},
    {"where", 3, 3, "", bi_where, OP_WHERE},
    {"softmax", 1, 1, "axis", bi_softmax, OP_SOFTMAX},
    {"log_softmax", 1, 1, "axis", bi_softmax, OP_LOG_SOFTMAX},
    {"sum", 1, 1, "axis keepdim", bi_reduce, OP_SUM},
    {"mean", 1, 1, "axis keepdim", bi_reduce, OP_MEAN},
    {"max", 1, 1, "axis keepdim", bi_reduce, OP_MAX},
    {"layernorm", 3, 3, "eps", bi_layernorm, OP_LAYERNORM},
    {"cross_entropy", 2, 2, "", bi_tensors, OP_CROSS_ENTROPY},
    {"reshape", 2, 2, "", bi_reshape, OP_RESHAPE},
    {"transpose", 1, 2, "", bi_transpose, OP_TRANSPOSE},
    {"split", 2, 2, "axis", bi_split, OP_SPLIT},
    {"concat", 1, -1, "axis", bi_concat, OP_CONCAT},
    {"slice", 3, 3, "axis", bi_slice, OP_SLICE},
    {"arange", 1, 1, "", bi_arange, OP_ARANGE},
    {"heads", 2, 2, "", bi_heads, OP_RESHAPE},
    {"merge_heads", 1, 1, "", bi_merge_heads, OP_RESHAPE},
    {"mask_causal", 1, 1, "", bi_mask_causal, OP_WHERE},
    {"linear", 0, -1, "bias std", bi_weight_only, OP_WEIGHT},
    {"embedding", 0, -1, "std", bi_weight_only, OP_WEIGHT},
    {"normal", 0, -1, "", bi_weight_only, OP_WEIGHT},
    {"uniform", 0, -1, "", bi_weight_only, OP_WEIGHT},
    {"zeros", 0, -1, "", bi_weight_only, OP_WEIGHT},
    {"ones", 0, -1, "", bi_weight_only, OP_WEIGHT},
    {"constant", 0, -1, "", bi_weight_only, OP_WEIGHT},
};

enum { FE_NBUILTINS = sizeof fe_builtins / sizeof *fe_builtins };

const char *const fe_builtin_names[] = {
    "exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "relu", "gelu", "abs", "maximum",
    "minimum", "pow", "matmul", "where", "softmax", "log_softmax", "sum", "mean", "max",
    "layernorm", "cross_entropy", "reshape", "transpose", "split", "concat", "slice",
    "arange", "heads", "merge_heads", "mask_causal", "linear", "embedding", "normal",
    "uniform", "zeros", "ones", "constant", NULL,
};

static const FeBuiltin *find_builtin(const char *name) {
    for (int i = 0; i < FE_NBUILTINS; i++)
        if (strcmp(fe_builtins[i].name, name) == 0) return &fe_builtins[i];
    return NULL;
}

bool fe_is_builtin(const char *name) { return find_builtin(name) != NULL; }

static const char *plural(int n) { return n == 1 ? "" : "s"; }
static const char *were(int n) { return n == 1 ? "was" : "were"; }

/* Checks counts and keyword names against min/max/kws; false after an error. */
static bool check_args(FeLower *L, const FeArgs *a, int min, int max, const char *kws) {
    if (max < 0) max = FE_MAX_ARGS;
    if (a->npos < min || a->npos > max) {
        if (min == max)
            fe_err(L, a->loc, "%s takes %d argument%s but %d %s given", a->fn, min, plural(min), a->npos, were(a->npos));
        else if (max == FE_MAX_ARGS)
            fe_err(L, a->loc, "%s takes at least %d argument%s but %d %s given", a->fn, min, plural(min), a->npos, were(a->npos));
        else
            fe_err(L, a->loc, "%s takes %d to %d arguments but %d %s given", a->fn, min, max, a->npos, were(a->npos));
        return false;
    }
    for (int i = 0; i < a->nkw; i++) {
        size_t n = strlen(a->kw[i]);
        const char *p = kws;
        bool ok = false;
        while (*p) {
            const char *e = strchr(p, ' ');
            size_t m = e ? (size_t)(e - p) : strlen(p);
            if (m == n && strncmp(p, a->kw[i], n) == 0) ok = true;
            p += m + (e ? 1 : 0);
        }
        if (!ok) {
            if (*kws)
                fe_err(L, a->kw_loc[i], "%s has no argument '%s' (it takes: %s)", a->fn, a->kw[i], kws);
            else
                fe_err(L, a->kw_loc[i], "%s has no argument '%s' (it takes no keyword arguments)", a->fn, a->kw[i]);
            return false;
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(a->kw[i], a->kw[j]) == 0) {
                fe_err(L, a->kw_loc[i], "argument '%s' is given twice", a->kw[i]);
                return false;
            }
        }
    }
    return true;
}

FeVal fe_call_builtin(FeLower *L, const FeArgs *a) {
    const FeBuiltin *b = find_builtin(a->fn);
    if (!b || !check_args(L, a, b->min, b->max, b->kws) || any_error(a)) return fe_error;
    return b->fn(L, a, b->op);
}

/* ---- layers ---- */

FeVal fe_call_layer(FeLower *L, const FeLayer *layer, const FeArgs *a) {
    if (layer->kind == FL_EMBEDDING) {
        fe_err(L, a->loc, "embedding '%s' is looked up by indexing, as in %s[idx]", a->fn, a->fn);
        return fe_error;
    }
    if (!check_args(L, a, 1, 1, "") || any_error(a)) return fe_error;
    IrValue *x;
    if (!arg_tensor(L, a, 0, &x)) return fe_error;
    if (layer->kind == FL_LAYERNORM) {
        IrValue *t[3] = {x, layer->w, layer->b};
        IrAttrs at = {0};
        at.eps = 1e-5;
        return tensor_val(fe_build(L, a->loc, OP_LAYERNORM, t, 3, &at, NULL));
    }
    IrValue *mm[2] = {x, layer->w};
    IrValue *y = fe_build(L, a->loc, OP_MATMUL, mm, 2, NULL, NULL);
    if (!y || !layer->b) return tensor_val(y);
    IrValue *add[2] = {y, layer->b};
    return tensor_val(fe_build(L, a->loc, OP_ADD, add, 2, NULL, NULL));
}

IrValue *fe_declare_weight(FeLower *L, const char *path, const IrType *t, IrInit init, DiagLoc loc) {
    const char *name = ir_intern(L->m, path, strlen(path));
    int dummy;
    if (fe_map_get(&L->weights, name, &dummy)) {
        fe_err(L, loc, "weight '%s' is defined twice%s", name,
               L->call_depth > 0 ? " (a block called twice in one scope makes its weights twice: "
                                   "call it in a `for ... as NAME.{i}` loop)" : "");
        return NULL;
    }
    if (!fe_check_size(L, t, loc)) return NULL;
    fe_map_put(&L->weights, name, 1);
    ir_module_add_weight(L->m, name, t, init);
    IrAttrs at = {0};
    at.name = name;
    return fe_build(L, loc, OP_WEIGHT, NULL, 0, &at, t);
}

static bool dim_arg(FeLower *L, const FeArgs *a, int i, int64_t *out) {
    if (!arg_int(L, a, i, out)) return false;
    if (*out <= 0 || *out > IR_MAX_ELEMENTS) {
        fe_err(L, a->pos_loc[i], "argument %d of %s must be a size between 1 and %lld, got %lld", i + 1,
               a->fn, (long long)IR_MAX_ELEMENTS, (long long)*out);
        return false;
    }
    return true;
}

static const char *join(FeLower *L, const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *s = arena_alloc(&L->scratch, na + nb + 2);
    memcpy(s, a, na);
    s[na] = '.';
    memcpy(s + na + 1, b, nb + 1);
    return s;
}

FeVal fe_weight_helper(FeLower *L, const char *path, const FeArgs *a) {
    FeLayer *layer = arena_alloc(&L->scratch, sizeof *layer);
    layer->path = path;
    IrInit zeros = {INIT_ZEROS, 0, 0}, ones = {INIT_ONES, 0, 0};
    if (strcmp(a->fn, "linear") == 0) {
        int64_t in, out, bias;
        double std;
        if (!check_args(L, a, 2, 2, "bias std") || any_error(a) || !dim_arg(L, a, 0, &in) ||
            !dim_arg(L, a, 1, &out) || !kw_int(L, a, "bias", 1, &bias) || !kw_num(L, a, "std", 0.02, &std))
            return fe_error;
        layer->kind = FL_LINEAR;
        IrType wt = {DT_F32, 2, {ir_dim_int(in), ir_dim_int(out)}};
        IrType bt = {DT_F32, 1, {ir_dim_int(out)}};
        layer->w = fe_declare_weight(L, join(L, path, "weight"), &wt, (IrInit){INIT_NORMAL, std, 0}, a->loc);
        if (!layer->w) return fe_error;
        if (bias) {
            layer->b = fe_declare_weight(L, join(L, path, "bias"), &bt, zeros, a->loc);
            if (!layer->b) return fe_error;
        }
    } else if (strcmp(a->fn, "layernorm") == 0) {
        int64_t n;
        if (!check_args(L, a, 1, 1, "") || any_error(a) || !dim_arg(L, a, 0, &n)) return fe_error;
        layer->kind = FL_LAYERNORM;
        IrType t = {DT_F32, 1, {ir_dim_int(n)}};
        layer->w = fe_declare_weight(L, join(L, path, "weight"), &t, ones, a->loc);
        layer->b = layer->w ? fe_declare_weight(L, join(L, path, "bias"), &t, zeros, a->loc) : NULL;
        if (!layer->b) return fe_error;
    } else if (strcmp(a->fn, "embedding") == 0) {
        int64_t n, d;
        double std;
        if (!check_args(L, a, 2, 2, "std") || any_error(a) || !dim_arg(L, a, 0, &n) ||
            !dim_arg(L, a, 1, &d) || !kw_num(L, a, "std", 0.02, &std))
            return fe_error;
        layer->kind = FL_EMBEDDING;
        IrType t = {DT_F32, 2, {ir_dim_int(n), ir_dim_int(d)}};
        layer->w = fe_declare_weight(L, join(L, path, "weight"), &t, (IrInit){INIT_NORMAL, std, 0}, a->loc);
        if (!layer->w) return fe_error;
    } else {
        fe_err(L, a->loc, "a weight without a type needs a layer: linear(in, out), layernorm(n) or "
                          "embedding(n, dim); '%s' is not one", a->fn);
        return fe_error;
    }
    FeVal v = fe_error;
    v.kind = FV_LAYER;
    v.layer = layer;
    return v;
}

bool fe_initialiser(FeLower *L, const FeArgs *a, IrInit *out) {
    *out = (IrInit){INIT_ZEROS, 0, 0};
    const char *fn = a->fn;
    if (strcmp(fn, "zeros") == 0 || strcmp(fn, "ones") == 0) {
        if (!check_args(L, a, 0, 0, "")) return false;
        out->kind = fn[0] == 'z' ? INIT_ZEROS : INIT_ONES;
        return true;
    }
    if (strcmp(fn, "normal") == 0 || strcmp(fn, "constant") == 0) {
        if (!check_args(L, a, 1, 1, "") || any_error(a) || !arg_num(L, a, 0, &out->a)) return false;
        out->kind = fn[0] == 'n' ? INIT_NORMAL : INIT_CONSTANT;
        if (out->kind == INIT_NORMAL && out->a < 0) {
            fe_err(L, a->pos_loc[0], "normal(std) needs std >= 0, got %g", out->a);
            return false;
        }
        return true;
    }
    if (strcmp(fn, "uniform") == 0) {
        if (!check_args(L, a, 2, 2, "") || any_error(a) || !arg_num(L, a, 0, &out->a) ||
            !arg_num(L, a, 1, &out->b))
            return false;
        out->kind = INIT_UNIFORM;
        if (!(out->a < out->b)) {
            fe_err(L, a->loc, "uniform(a, b) needs a < b, got uniform(%g, %g)", out->a, out->b);
            return false;
        }
        return true;
    }
    fe_err(L, a->loc, "unknown initialiser '%s' (use normal(std), zeros, ones, uniform(a, b) or constant(v))", fn);
    return false;
}
