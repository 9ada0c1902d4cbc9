/* infer.c — shape inference: one infer_<rule> per `shape rule` column of ops.def.
 *
 * Rules see normalised attributes (non-negative axes, sorted AXES; ir_build does that)
 * and write messages a newcomer can act on, always showing the operand types. Ops whose
 * result cannot be inferred (rule `given`) take the caller's type and only check it. */
#include <string.h>

#include "ir.h"

#define RULE_ARGS                                                                       \
    IrOp op, IrValue **a, int n, const IrAttrs *at, const IrType *given, IrType *out, \
        char *err, size_t errlen

#define FAIL(...)                              \
    do {                                       \
        snprintf(err, errlen, __VA_ARGS__);    \
        return false;                          \
    } while (0)

/* Scratch strings for messages: s0..s2 hold the printed operand types. */
typedef struct {
    char s[3][IR_TYPE_STR_MAX];
} TypeStrs;

static const char *tstr(TypeStrs *ts, int i, const IrType *t) {
    return ir_type_str(t, ts->s[i], sizeof ts->s[i]);
}

static char *dim_str(IrDim d, char *buf, size_t n) {
    if (d.sym)
        snprintf(buf, n, "%s", d.sym);
    else
        snprintf(buf, n, "%lld", (long long)d.size);
    return buf;
}

static bool is_float(IrDType dt) { return dt != DT_I32; }

static bool need_given(IrOp op, const IrType *given, char *err, size_t errlen) {
    if (given) return true;
    FAIL("%s needs its result type to be given", ir_op_name(op));
}

static bool infer_given(RULE_ARGS) {
    if (!need_given(op, given, err, errlen)) return false;
    *out = *given;
    return true;
}

static bool infer_arange(RULE_ARGS) {
    if (!need_given(op, given, err, errlen)) return false;
    if (given->rank != 1) {
        TypeStrs ts;
        FAIL("arange gives a 1-D tensor, not %s", tstr(&ts, 0, given));
    }
    *out = *given;
    return true;
}

static bool infer_unary(RULE_ARGS) {
    *out = a[0]->type;
    return true;
}

static bool infer_unary_float(RULE_ARGS) {
    TypeStrs ts;
    if (!is_float(a[0]->type.dtype))
        FAIL("%s needs a float tensor, got %s", ir_op_name(op), tstr(&ts, 0, &a[0]->type));
    *out = a[0]->type;
    return true;
}

static bool infer_cast(RULE_ARGS) {
    if (!need_given(op, given, err, errlen)) return false;
    IrType t = a[0]->type;
    t.dtype = given->dtype;
    if (!ir_type_eq(&t, given)) {
        TypeStrs ts;
        FAIL("cast changes only the dtype: %s cannot become %s", tstr(&ts, 0, &a[0]->type),
             tstr(&ts, 1, given));
    }
    *out = *given;
    return true;
}

/* NumPy broadcasting of x and y into out; false with the reason in why. */
static bool broadcast2(const IrType *x, const IrType *y, IrType *out, char *why, size_t n) {
    int rank = x->rank > y->rank ? x->rank : y->rank;
    out->dtype = x->dtype;
    out->rank = rank;
    for (int i = 0; i < rank; i++) {
        int xi = x->rank - rank + i, yi = y->rank - rank + i;
        IrDim dx = xi >= 0 ? x->dims[xi] : ir_dim_int(1);
        IrDim dy = yi >= 0 ? y->dims[yi] : ir_dim_int(1);
        if (ir_dim_eq(dx, dy) || (!dy.sym && dy.size == 1)) {
            out->dims[i] = dx;
        } else if (!dx.sym && dx.size == 1) {
            out->dims[i] = dy;
        } else {
            char b1[32], b2[32];
            snprintf(why, n, "dims %s and %s differ (axis %d from the right)",
                     dim_str(dx, b1, sizeof b1), dim_str(dy, b2, sizeof b2), rank - i);
            return false;
        }
    }
    return true;
}

static const char *verb(IrOp op) {
    switch (op) {
    case OP_ADD: return "add";
    case OP_SUB: return "subtract";
    case OP_MUL: return "multiply";
    case OP_DIV: return "divide";
    default: return ir_op_name(op);
    }
}

static bool infer_binary(RULE_ARGS) {
    TypeStrs ts;
    const IrType *x = &a[0]->type, *y = &a[1]->type;
    char why[160];
    if (x->dtype != y->dtype)
        FAIL("cannot %s %s and %s: dtypes differ (use cast)", verb(op), tstr(&ts, 0, x),
             tstr(&ts, 1, y));
    if (!broadcast2(x, y, out, why, sizeof why))
        FAIL("cannot %s %s and %s: %s", verb(op), tstr(&ts, 0, x), tstr(&ts, 1, y), why);
    return true;
}

static bool infer_where(RULE_ARGS) {
    TypeStrs ts;
    const IrType *c = &a[0]->type, *x = &a[1]->type, *y = &a[2]->type;
    char why[160];
    if (x->dtype != y->dtype)
        FAIL("where: the two branches %s and %s have different dtypes", tstr(&ts, 0, x),
             tstr(&ts, 1, y));
    IrType xy;
    if (!broadcast2(x, y, &xy, why, sizeof why))
        FAIL("where: branches %s and %s do not broadcast: %s", tstr(&ts, 0, x), tstr(&ts, 1, y),
             why);
    IrType cc = *c;
    cc.dtype = xy.dtype;
    if (!broadcast2(&xy, &cc, out, why, sizeof why))
        FAIL("where: condition %s does not broadcast with %s: %s", tstr(&ts, 0, c),
             tstr(&ts, 1, &xy), why);
    return true;
}

static bool infer_matmul(RULE_ARGS) {
    TypeStrs ts;
    const IrType *x = &a[0]->type, *y = &a[1]->type;
    if (x->rank < 2 || y->rank < 2)
        FAIL("matmul needs operands of rank 2 or more, got %s and %s", tstr(&ts, 0, x),
             tstr(&ts, 1, y));
    if (x->dtype != y->dtype || !is_float(x->dtype))
        FAIL("matmul needs two float tensors of one dtype, got %s and %s", tstr(&ts, 0, x),
             tstr(&ts, 1, y));
    IrDim k1 = x->dims[x->rank - 1], k2 = y->dims[y->rank - 2];
    if (!ir_dim_eq(k1, k2)) {
        char b1[32], b2[32];
        FAIL("cannot matmul %s by %s: inner dims %s and %s differ", tstr(&ts, 0, x),
             tstr(&ts, 1, y), dim_str(k1, b1, sizeof b1), dim_str(k2, b2, sizeof b2));
    }
    IrType bx = *x, by = *y, batch;
    bx.rank -= 2;
    by.rank -= 2;
    char why[160];
    if (!broadcast2(&bx, &by, &batch, why, sizeof why))
        FAIL("cannot matmul %s by %s: batch dims do not broadcast: %s", tstr(&ts, 0, x),
             tstr(&ts, 1, y), why);
    *out = batch;
    out->dims[out->rank++] = x->dims[x->rank - 2];
    out->dims[out->rank++] = y->dims[y->rank - 1];
    return true;
}

static bool infer_reduce(RULE_ARGS) {
    TypeStrs ts;
    const IrType *x = &a[0]->type;
    if (at->nints < 1) FAIL("%s needs at least one axis", ir_op_name(op));
    *out = *x;
    out->rank = 0;
    int k = 0;
    for (int i = 0; i < x->rank; i++) {
        bool reduced = k < at->nints && at->ints[k] == i;
        if (reduced) k++;
        if (!reduced)
            out->dims[out->rank++] = x->dims[i];
        else if (at->keepdim)
            out->dims[out->rank++] = ir_dim_int(1);
    }
    if (k != at->nints)
        FAIL("%s: axis %lld is out of range for %s", ir_op_name(op), (long long)at->ints[k],
             tstr(&ts, 0, x));
    return true;
}

static bool infer_reduce_float(RULE_ARGS) {
    TypeStrs ts;
    if (!is_float(a[0]->type.dtype))
        FAIL("%s needs a float tensor, got %s", ir_op_name(op), tstr(&ts, 0, &a[0]->type));
    return infer_reduce(op, a, n, at, given, out, err, errlen);
}

/* Element counts agree when the fixed parts multiply to the same number and the same
 * symbols appear on both sides (symbols are never split or merged). */
static bool same_count(const IrType *x, const IrType *y) {
    if (ir_type_static_elements(x) != ir_type_static_elements(y)) return false;
    int used[IR_MAX_RANK] = {0};
    int nsx = 0, nsy = 0;
    for (int i = 0; i < x->rank; i++) nsx += x->dims[i].sym != NULL;
    for (int j = 0; j < y->rank; j++) nsy += y->dims[j].sym != NULL;
    if (nsx != nsy) return false;
    for (int i = 0; i < x->rank; i++) {
        if (!x->dims[i].sym) continue;
        int j = 0;
        while (j < y->rank && (used[j] || y->dims[j].sym != x->dims[i].sym)) j++;
        if (j == y->rank) return false;
        used[j] = 1;
    }
    return true;
}

static bool infer_reshape(RULE_ARGS) {
    TypeStrs ts;
    if (!need_given(op, given, err, errlen)) return false;
    if (given->dtype != a[0]->type.dtype || !same_count(&a[0]->type, given))
        FAIL("cannot reshape %s into %s: element counts differ", tstr(&ts, 0, &a[0]->type),
             tstr(&ts, 1, given));
    *out = *given;
    return true;
}

static bool infer_transpose(RULE_ARGS) {
    TypeStrs ts;
    const IrType *x = &a[0]->type;
    if (at->nints != x->rank)
        FAIL("transpose of %s needs a permutation of %d axes, got %d", tstr(&ts, 0, x), x->rank,
             at->nints);
    bool seen[IR_MAX_RANK] = {0};
    *out = *x;
    for (int i = 0; i < x->rank; i++) {
        int64_t p = at->ints[i];
        if (p < 0 || p >= x->rank || seen[p])
            FAIL("transpose of %s: perm is not a permutation of 0..%d", tstr(&ts, 0, x),
                 x->rank - 1);
        seen[p] = true;
        out->dims[i] = x->dims[p];
    }
    return true;
}

static bool infer_broadcast(RULE_ARGS) {
    TypeStrs ts;
    if (!need_given(op, given, err, errlen)) return false;
    const IrType *x = &a[0]->type;
    IrType r;
    char why[160];
    if (given->dtype != x->dtype || given->rank < x->rank ||
        !broadcast2(given, x, &r, why, sizeof why) || !ir_type_eq(&r, given))
        FAIL("cannot broadcast %s to %s", tstr(&ts, 0, x), tstr(&ts, 1, given));
    *out = *given;
    return true;
}

static bool axis_ok(IrOp op, const IrType *x, int64_t axis, char *err, size_t errlen) {
    TypeStrs ts;
    if (axis < 0 || axis >= x->rank)
        FAIL("%s: axis %lld is out of range for %s", ir_op_name(op), (long long)axis,
             tstr(&ts, 0, x));
    return true;
}

static bool infer_slice(RULE_ARGS) {
    TypeStrs ts;
    const IrType *x = &a[0]->type;
    if (!axis_ok(op, x, at->axis, err, errlen)) return false;
    IrDim d = x->dims[at->axis];
    if (d.sym) FAIL("slice along symbolic dim %s of %s is not supported", d.sym, tstr(&ts, 0, x));
    if (at->start < 0 || at->start >= at->end || at->end > d.size)
        FAIL("slice [%lld, %lld) is outside axis %lld of %s", (long long)at->start,
             (long long)at->end, (long long)at->axis, tstr(&ts, 0, x));
    *out = *x;
    out->dims[at->axis] = ir_dim_int(at->end - at->start);
    return true;
}

static bool infer_concat(RULE_ARGS) {
    TypeStrs ts;
    const IrType *x = &a[0]->type;
    if (!axis_ok(op, x, at->axis, err, errlen)) return false;
    *out = *x;
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const IrType *y = &a[i]->type;
        bool ok = y->dtype == x->dtype && y->rank == x->rank;
        for (int d = 0; ok && d < x->rank; d++)
            ok = d == at->axis ? !y->dims[d].sym : ir_dim_eq(x->dims[d], y->dims[d]);
        if (!ok)
            FAIL("cannot concat %s and %s along axis %lld", tstr(&ts, 0, x), tstr(&ts, 1, y),
                 (long long)at->axis);
        total += y->dims[at->axis].size;
    }
    out->dims[at->axis] = ir_dim_int(total);
    return true;
}

static bool infer_split(RULE_ARGS) {
    TypeStrs ts;
    const IrType *x = &a[0]->type;
    if (!axis_ok(op, x, at->axis, err, errlen)) return false;
    IrDim d = x->dims[at->axis];
    if (at->parts < 1 || at->index < 0 || at->index >= at->parts)
        FAIL("split: part %lld of %lld does not exist", (long long)at->index, (long long)at->parts);
    if (d.sym || d.size % at->parts != 0)
        FAIL("cannot split %s into %lld equal parts along axis %lld", tstr(&ts, 0, x),
             (long long)at->parts, (long long)at->axis);
    *out = *x;
    out->dims[at->axis] = ir_dim_int(d.size / at->parts);
    return true;
}

static bool infer_gather(RULE_ARGS) {
    TypeStrs ts;
    const IrType *table = &a[0]->type, *idx = &a[1]->type;
    if (table->rank < 1 || idx->dtype != DT_I32)
        FAIL("gather needs a table of rank 1 or more and i32 indices, got %s and %s",
             tstr(&ts, 0, table), tstr(&ts, 1, idx));
    if (idx->rank + table->rank - 1 > IR_MAX_RANK)
        FAIL("gather result would have rank %d (limit %d)", idx->rank + table->rank - 1,
             IR_MAX_RANK);
    *out = *idx;
    out->dtype = table->dtype;
    for (int i = 1; i < table->rank; i++) out->dims[out->rank++] = table->dims[i];
    return true;
}

static bool infer_scatter_add(RULE_ARGS) {
    TypeStrs ts;
    if (!need_given(op, given, err, errlen)) return false;
    const IrType *idx = &a[0]->type, *upd = &a[1]->type;
    bool ok = given->rank >= 1 && idx->dtype == DT_I32 && upd->dtype == given->dtype &&
              upd->rank == idx->rank + given->rank - 1;
    for (int i = 0; ok && i < idx->rank; i++) ok = ir_dim_eq(upd->dims[i], idx->dims[i]);
    for (int i = 1; ok && i < given->rank; i++)
        ok = ir_dim_eq(upd->dims[idx->rank + i - 1], given->dims[i]);
    if (!ok)
        FAIL("scatter_add into %s needs i32 indices [...] and updates [..., rest of the table], "
             "got %s and %s", tstr(&ts, 2, given), tstr(&ts, 0, idx), tstr(&ts, 1, upd));
    *out = *given;
    return true;
}

static bool infer_softmax(RULE_ARGS) {
    if (!infer_unary_float(op, a, n, at, given, out, err, errlen)) return false;
    return axis_ok(op, &a[0]->type, at->axis, err, errlen);
}

static bool infer_layernorm(RULE_ARGS) {
    TypeStrs ts;
    const IrType *x = &a[0]->type, *g = &a[1]->type, *b = &a[2]->type;
    if (x->rank < 1 || !is_float(x->dtype))
        FAIL("layernorm needs a float tensor of rank 1 or more, got %s", tstr(&ts, 0, x));
    IrDim c = x->dims[x->rank - 1];
    for (int i = 1; i <= 2; i++) {
        const IrType *p = i == 1 ? g : b;
        if (p->rank != 1 || p->dtype != x->dtype || !ir_dim_eq(p->dims[0], c))
            FAIL("layernorm of %s needs a %s of shape [%s], got %s", tstr(&ts, 0, x),
                 i == 1 ? "gain" : "bias", dim_str(c, ts.s[2], sizeof ts.s[2]),
                 tstr(&ts, 1, p));
    }
    *out = *x;
    return true;
}

/* layernorm_grad(x [..., C], gamma [C], dy like x) {eps} -> like x */
static bool infer_layernorm_grad(RULE_ARGS) {
    TypeStrs ts;
    const IrType *x = &a[0]->type, *g = &a[1]->type, *dy = &a[2]->type;
    if (x->rank < 1 || !is_float(x->dtype))
        FAIL("layernorm_grad needs a float tensor of rank 1 or more, got %s", tstr(&ts, 0, x));
    IrDim c = x->dims[x->rank - 1];
    if (g->rank != 1 || g->dtype != x->dtype || !ir_dim_eq(g->dims[0], c))
        FAIL("layernorm_grad of %s needs a gain of shape [%s], got %s", tstr(&ts, 0, x),
             dim_str(c, ts.s[2], sizeof ts.s[2]), tstr(&ts, 1, g));
    if (!ir_type_eq(dy, x))
        FAIL("layernorm_grad needs dy of x's type %s, got %s", tstr(&ts, 0, x), tstr(&ts, 1, dy));
    *out = *x;
    return true;
}

/* Checks q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] (v may be NULL) with equal batch
 * dims and one float dtype, and a bias that broadcasts to [..., Tq, Tk]. */
static bool attention_operands(IrOp op, const IrType *q, const IrType *k, const IrType *v,
                               const IrType *bias, char *err, size_t errlen) {
    TypeStrs ts;
    bool ok = q->rank >= 2 && k->rank == q->rank && is_float(q->dtype) && k->dtype == q->dtype &&
              ir_dim_eq(q->dims[q->rank - 1], k->dims[k->rank - 1]);
    for (int i = 0; ok && i < q->rank - 2; i++) ok = ir_dim_eq(q->dims[i], k->dims[i]);
    if (!ok)
        FAIL("%s needs q [..., Tq, D] and k [..., Tk, D] of one float dtype and equal batch dims, "
             "got %s and %s", ir_op_name(op), tstr(&ts, 0, q), tstr(&ts, 1, k));
    if (v) {
        ok = v->rank == k->rank && v->dtype == k->dtype && ir_dim_eq(v->dims[v->rank - 2], k->dims[k->rank - 2]);
        for (int i = 0; ok && i < k->rank - 2; i++) ok = ir_dim_eq(v->dims[i], k->dims[i]);
        if (!ok)
            FAIL("%s needs v [..., Tk, Dv] matching k %s, got %s", ir_op_name(op), tstr(&ts, 0, k),
                 tstr(&ts, 1, v));
    }
    if (bias) {
        IrType scores = *q, out;
        scores.dims[scores.rank - 1] = k->dims[k->rank - 2];
        char why[160];
        if (bias->dtype != q->dtype || !broadcast2(&scores, bias, &out, why, sizeof why) ||
            !ir_type_eq(&out, &scores))
            FAIL("%s needs a bias of dtype %s that broadcasts to the scores %s, got %s",
                 ir_op_name(op), ir_dtype_name(q->dtype), tstr(&ts, 0, &scores), tstr(&ts, 1, bias));
    }
    return true;
}

static bool attention_arity(IrOp op, int n, int base, char *err, size_t errlen) {
    if (n == base || n == base + 1) return true;
    FAIL("%s takes %d operands, or %d with a bias, but %d were given", ir_op_name(op), base,
         base + 1, n);
}

static bool infer_attention(RULE_ARGS) {
    if (!attention_arity(op, n, 3, err, errlen) ||
        !attention_operands(op, &a[0]->type, &a[1]->type, &a[2]->type, n == 4 ? &a[3]->type : NULL,
                            err, errlen))
        return false;
    *out = a[0]->type;
    out->dims[out->rank - 1] = a[2]->type.dims[a[2]->type.rank - 1];
    return true;
}

static bool infer_attention_lse(RULE_ARGS) {
    if (!attention_arity(op, n, 2, err, errlen) ||
        !attention_operands(op, &a[0]->type, &a[1]->type, NULL, n == 3 ? &a[2]->type : NULL, err,
                            errlen))
        return false;
    *out = a[0]->type;
    out->rank--;
    return true;
}

/* attention_grad(q, k, v, o, do, lse [, bias]) {index = 0 | 1 | 2}: d q, d k or d v. */
static bool infer_attention_grad(RULE_ARGS) {
    if (!attention_arity(op, n, 6, err, errlen) ||
        !attention_operands(op, &a[0]->type, &a[1]->type, &a[2]->type, n == 7 ? &a[6]->type : NULL,
                            err, errlen))
        return false;
    TypeStrs ts;
    IrType o, lse;
    if (!infer_attention(OP_ATTENTION, a, 3, at, NULL, &o, err, errlen)) return false;
    infer_attention_lse(OP_ATTENTION_LSE, a, 2, at, NULL, &lse, err, errlen);
    if (!ir_type_eq(&a[3]->type, &o) || !ir_type_eq(&a[4]->type, &o) || !ir_type_eq(&a[5]->type, &lse))
        FAIL("attention_grad needs o and do of type %s and lse of type %s", tstr(&ts, 0, &o),
             tstr(&ts, 1, &lse));
    if (at->index < 0 || at->index > 2)
        FAIL("attention_grad index is 0 (d q), 1 (d k) or 2 (d v), got %lld", (long long)at->index);
    *out = a[at->index]->type;
    return true;
}

bool ir_is_swap_last2(const IrValue *t) {
    if (t->op != OP_TRANSPOSE || t->attrs.nints < 2) return false;
    int r = t->attrs.nints;
    for (int i = 0; i < r - 2; i++)
        if (t->attrs.ints[i] != i) return false;
    return t->attrs.ints[r - 2] == r - 1 && t->attrs.ints[r - 1] == r - 2;
}

const IrValue *ir_body_matmul(const IrFunc *body) {
    for (const IrValue *v = body->first; v; v = v->next)
        if (v->op == OP_MATMUL) return v;
    return NULL;
}

/* A body with a matmul (made by fuse-matmul) is a matmul with an epilogue: the matmul
 * reads parameters, or parameters transposed in their last two axes (the kernels read
 * those in place), and the elementwise ops after it are applied to each element of its
 * result as it is stored. That needs one result element per matmul element: the body
 * returns the matmul's type, and no reduction. Returns false with a message. */
static bool body_matmul_ok(const IrFunc *b, const IrValue *mm, char *err, size_t errlen) {
    TypeStrs ts;
    int nmm = 0;
    for (const IrValue *v = b->first; v; v = v->next) {
        nmm += v->op == OP_MATMUL;
        bool feeds_mm = v == mm->args[0] || v == mm->args[1];
        if (v->op == OP_TRANSPOSE && !(feeds_mm && ir_is_swap_last2(v) && v->args[0]->op == OP_INPUT))
            FAIL("fused @%s: a transpose in a body must swap the last two axes of a parameter for "
                 "its matmul", b->name);
        for (int i = 0; i < v->nargs; i++)
            if (v->args[i]->op == OP_TRANSPOSE && v != mm)
                FAIL("fused @%s: a transposed parameter may feed the matmul only", b->name);
    }
    if (nmm > 1) FAIL("fused @%s: a body holds at most one matmul, this one has %d", b->name, nmm);
    for (int i = 0; i < 2; i++)
        if (mm->args[i]->op != OP_INPUT && mm->args[i]->op != OP_TRANSPOSE)
            FAIL("fused @%s: the matmul's operands must be parameters (or their transposes), "
                 "operand %d is %s", b->name, i, ir_op_name(mm->args[i]->op));
    if (mm->type.dtype != DT_F32 || !ir_type_eq(&mm->type, &b->results[0]->type) ||
        (ir_op_flags(b->results[0]->op) & F_REDUCE))
        FAIL("fused @%s: a body with a matmul must return an f32 tensor of the matmul's type %s, "
             "not %s", b->name, tstr(&ts, 0, &mm->type), tstr(&ts, 1, &b->results[0]->type));
    return true;
}

const IrValue *ir_body_row_head(const IrFunc *body) {
    for (const IrValue *v = body->first; v; v = v->next)
        if (v->op == OP_SOFTMAX || v->op == OP_LOG_SOFTMAX) return v;
    return NULL;
}

/* A body with a softmax or log_softmax (made by fuse-elementwise) is a row op with an
 * epilogue: the kernel computes each row's max and sum of exponentials, then evaluates
 * the elementwise ops on each probability as it is stored. That needs the softmax over
 * the last axis of a parameter, in f32, and one result element per softmax element: the
 * body returns the softmax's type, with no matmul and no reduction. */
static bool body_row_head_ok(const IrFunc *b, const IrValue *h, char *err, size_t errlen) {
    TypeStrs ts;
    int nh = 0;
    for (const IrValue *v = b->first; v; v = v->next) nh += v->op == OP_SOFTMAX || v->op == OP_LOG_SOFTMAX;
    if (nh > 1) FAIL("fused @%s: a body holds at most one softmax or log_softmax, this one has %d", b->name, nh);
    if (ir_body_matmul(b)) FAIL("fused @%s: a body holds a matmul or a %s, not both", b->name, ir_op_name(h->op));
    if (h->args[0]->op != OP_INPUT || h->type.dtype != DT_F32 || h->attrs.axis != h->type.rank - 1)
        FAIL("fused @%s: its %s must be over the last axis of an f32 parameter", b->name, ir_op_name(h->op));
    if (!ir_type_eq(&h->type, &b->results[0]->type) || (ir_op_flags(b->results[0]->op) & F_REDUCE))
        FAIL("fused @%s: a body with a %s must return a tensor of its type %s, not %s", b->name,
             ir_op_name(h->op), tstr(&ts, 0, &h->type), tstr(&ts, 1, &b->results[0]->type));
    return true;
}

/* An arange in a body stands for each element's index along the last axis of the
 * iteration space (the result's, or a final reduction's operand's): its length must be
 * that axis's, and a matmul's epilogue, which runs on blocks, has none. */
static bool body_arange_ok(const IrFunc *b, const IrValue *v, char *err, size_t errlen) {
    const IrValue *r = b->results[0];
    const IrType *it = (ir_op_flags(r->op) & F_REDUCE) ? &r->args[0]->type : &r->type;
    if (ir_body_matmul(b) || it->rank < 1 || !ir_dim_eq(v->type.dims[0], it->dims[it->rank - 1]))
        FAIL("fused @%s: an arange in a body must have the length of the last axis of the body's "
             "iteration space, and no matmul beside it", b->name);
    return true;
}

/* The body's parameter types are the operand types and its one result is the given type
 * (the verifier checks which ops a body may hold). */
static bool infer_fused(RULE_ARGS) {
    if (!need_given(op, given, err, errlen)) return false;
    const IrFunc *b = at->body;
    TypeStrs ts;
    if (!b) FAIL("fused needs its body function");
    if (b->nparams != n || b->nresults != 1)
        FAIL("fused @%s takes %d operands and gives 1 result, but its body has %d parameters and %d results",
             b->name, n, b->nparams, b->nresults);
    for (int i = 0; i < n; i++)
        if (!ir_type_eq(&a[i]->type, &b->params[i]->type))
            FAIL("fused @%s: operand %d is %s but the body's parameter is %s", b->name, i,
                 tstr(&ts, 0, &a[i]->type), tstr(&ts, 1, &b->params[i]->type));
    if (!ir_type_eq(&b->results[0]->type, given))
        FAIL("fused @%s gives %s but its body returns %s", b->name, tstr(&ts, 0, given),
             tstr(&ts, 1, &b->results[0]->type));
    /* what one kernel computes: elementwise ops, aranges and scalar constants, and at
     * most one reduction, which is the result; or a matmul, or a softmax over the last
     * axis, with an elementwise epilogue */
    const IrValue *mm = ir_body_matmul(b), *head = ir_body_row_head(b);
    if (mm && !body_matmul_ok(b, mm, err, errlen)) return false;
    if (head && !body_row_head_ok(b, head, err, errlen)) return false;
    int k = 0;
    for (const IrValue *v = b->first; v; v = v->next, k++) {
        unsigned fl = ir_op_flags(v->op);
        bool ok = v->op == OP_INPUT || (fl & (F_UNARY | F_BINARY | F_ELEMENTWISE)) ||
                  (v->op == OP_CONSTANT && v->type.rank == 0) || ((fl & F_REDUCE) && v == b->results[0]) ||
                  (mm && (v->op == OP_MATMUL || v->op == OP_TRANSPOSE)) || v == head || v->op == OP_ARANGE;
        if (!ok)
            FAIL("fused @%s: its value %d (%s) cannot be part of a fused body (elementwise ops, aranges, "
                 "scalar constants and one final reduction, or one matmul or last-axis softmax and its "
                 "elementwise epilogue)",
                 b->name, k - b->nparams, ir_op_name(v->op));
        if (v->op == OP_ARANGE && !body_arange_ok(b, v, err, errlen)) return false;
    }
    *out = *given;
    return true;
}

static bool infer_cross_entropy(RULE_ARGS) {
    TypeStrs ts;
    const IrType *x = &a[0]->type, *t = &a[1]->type;
    bool ok = x->rank >= 1 && is_float(x->dtype) && t->dtype == DT_I32 && t->rank == x->rank - 1;
    for (int i = 0; ok && i < t->rank; i++) ok = ir_dim_eq(x->dims[i], t->dims[i]);
    if (!ok)
        FAIL("cross_entropy needs logits [..., V] and i32 targets [...] with the same leading "
             "dims, got %s and %s",
             tstr(&ts, 0, x), tstr(&ts, 1, t));
    out->dtype = x->dtype;
    out->rank = 0;
    return true;
}

typedef bool (*InferFn)(RULE_ARGS);
static const InferFn rules[OP_COUNT] = {
#define OP(e, name, nargs, attrs, rule, vjp, flags) [OP_##e] = infer_##rule,
#include "ops.def"
#undef OP
};

bool ir_infer(IrOp op, IrValue **args, int nargs, const IrAttrs *attrs, const IrType *given,
              IrType *out, char *err, size_t errlen) {
    int want = ir_op_nargs(op);
    if (want >= 0 ? nargs != want : nargs < 1)
        FAIL("%s takes %s%d operand%s but %d %s given", ir_op_name(op), want < 0 ? "at least " : "",
             want < 0 ? 1 : want, want == 1 || want < 0 ? "" : "s", nargs,
             nargs == 1 ? "was" : "were");
    memset(out, 0, sizeof *out);
    if (!rules[op](op, args, nargs, attrs, given, out, err, errlen)) return false;
    for (int i = 0; i < out->rank; i++)
        if (!out->dims[i].sym && out->dims[i].size < 0) {
            TypeStrs ts;
            FAIL("%s gives a negative dim in %s", ir_op_name(op), tstr(&ts, 0, out));
        }
    int64_t count = ir_type_static_elements(out);
    if (count > IR_MAX_ELEMENTS) {
        TypeStrs ts;
        FAIL("shape %s is too large for memory (more than %lld elements)", tstr(&ts, 0, out),
             (long long)IR_MAX_ELEMENTS);
    }
    if (given && !ir_type_eq(out, given)) {
        TypeStrs ts;
        FAIL("%s gives %s, not the stated %s", ir_op_name(op), tstr(&ts, 0, out),
             tstr(&ts, 1, given));
    }
    return true;
}
