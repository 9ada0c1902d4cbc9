/* ref_shape.c — concrete shapes at run time, and the symbol bindings behind them.
 *
 * Decision a newcomer may question: the interpreter does not trust the declared types.
 * It computes each value's shape from its operand tensors, as NumPy would, and then
 * checks that shape against the declared type, binding each symbol the first time it is
 * met. Declared types come from shape inference, which this oracle is supposed to check,
 * and a hand-written .tfir that was never verified must give a message, not a wild write.
 * Only leaves and `given` ops (constant, arange, reshape, broadcast) take their shape from
 * the declared type, with every symbol resolved through the bindings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

void ref_env_free(RefEnv *env) {
    free(env->b);
    env->b = NULL;
    env->n = env->cap = 0;
}

int64_t ref_env_lookup(const RefEnv *env, const char *sym) {
    for (int i = 0; i < env->n; i++)
        if (env->b[i].sym == sym || strcmp(env->b[i].sym, sym) == 0) return env->b[i].size;
    return -1;
}

bool ref_env_bind(RefEnv *env, const char *sym, int64_t size, const char *what, char *err,
                  size_t errlen) {
    for (int i = 0; i < env->n; i++) {
        RefBinding *b = &env->b[i];
        if (b->sym != sym && strcmp(b->sym, sym) != 0) continue;
        if (b->size == size) return true;
        snprintf(err, errlen, "%s: %s is %lld here but %lld from %s", what, sym,
                 (long long)size, (long long)b->size, b->origin);
        return false;
    }
    if (env->n == env->cap) {
        env->cap = env->cap ? env->cap * 2 : 8;
        env->b = xrealloc(env->b, sizeof *env->b * (size_t)env->cap);
    }
    RefBinding *b = &env->b[env->n++];
    b->sym = sym;
    b->size = size;
    snprintf(b->origin, sizeof b->origin, "%s", what);
    return true;
}

static char *dims_str(int rank, const int64_t *dims, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)dims[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

/* Check a computed shape against a declared type, binding symbols. */
static bool match_dims(RefEnv *env, const IrType *t, int rank, const int64_t *dims,
                       const char *what, char *err, size_t errlen) {
    char ts[IR_TYPE_STR_MAX], ds[IR_TYPE_STR_MAX];
    if (rank != t->rank) {
        snprintf(err, errlen, "%s has shape %s but is declared %s (rank %d, not %d)", what,
                 dims_str(rank, dims, ds, sizeof ds), ir_type_str(t, ts, sizeof ts), t->rank,
                 rank);
        return false;
    }
    for (int i = 0; i < rank; i++) {
        IrDim d = t->dims[i];
        if (d.sym) {
            char who[96];
            snprintf(who, sizeof who, "%s dim %d", what, i);
            if (!ref_env_bind(env, d.sym, dims[i], who, err, errlen)) return false;
        } else if (d.size != dims[i]) {
            snprintf(err, errlen, "%s has shape %s but is declared %s: dim %d is %lld, not %lld",
                     what, dims_str(rank, dims, ds, sizeof ds), ir_type_str(t, ts, sizeof ts),
                     i, (long long)dims[i], (long long)d.size);
            return false;
        }
    }
    return true;
}

bool ref_env_match(RefEnv *env, const IrType *t, const Tensor *x, const char *what, char *err,
                   size_t errlen) {
    if (x->dtype != t->dtype) {
        char ts[IR_TYPE_STR_MAX], xs[IR_TYPE_STR_MAX];
        snprintf(err, errlen, "%s is %s but is declared %s: dtypes differ", what,
                 tensor_shape_str(x, xs, sizeof xs), ir_type_str(t, ts, sizeof ts));
        return false;
    }
    return match_dims(env, t, x->rank, x->dims, what, err, errlen);
}

/* Resolve a declared type through the bindings. At most one symbol may be unbound when
 * `numel` >= 0 (reshape): it is solved so that the element count is numel. */
static bool resolve(RefEnv *env, const IrType *t, int64_t numel, int64_t *dims, char *err,
                    size_t errlen) {
    int unbound = -1;
    int64_t known = 1;
    for (int i = 0; i < t->rank; i++) {
        int64_t s = t->dims[i].sym ? ref_env_lookup(env, t->dims[i].sym) : t->dims[i].size;
        if (s < 0) {
            if (numel < 0 || unbound >= 0) {
                snprintf(err, errlen,
                         "symbol %s has no size: no input, weight or earlier value binds it",
                         t->dims[i].sym);
                return false;
            }
            unbound = i;
            continue;
        }
        dims[i] = s;
        known *= s;
    }
    if (unbound >= 0) {
        if (known == 0 || numel % known != 0) {
            snprintf(err, errlen, "cannot solve %s: %lld elements do not divide by %lld",
                     t->dims[unbound].sym, (long long)numel, (long long)known);
            return false;
        }
        dims[unbound] = numel / known;
        if (!ref_env_bind(env, t->dims[unbound].sym, dims[unbound], "a reshape", err, errlen))
            return false;
    }
    return true;
}

/* NumPy broadcasting of shape y into (out_rank, out) in place. */
static bool broadcast_into(int *out_rank, int64_t *out, int rank, const int64_t *dims,
                           char *err, size_t errlen) {
    int r = *out_rank > rank ? *out_rank : rank;
    int64_t res[IR_MAX_RANK];
    for (int i = 0; i < r; i++) {
        int xi = *out_rank - r + i, yi = rank - r + i;
        int64_t dx = xi >= 0 ? out[xi] : 1, dy = yi >= 0 ? dims[yi] : 1;
        if (dx == dy || dy == 1)
            res[i] = dx;
        else if (dx == 1)
            res[i] = dy;
        else {
            snprintf(err, errlen, "operand shapes do not broadcast: dims %lld and %lld differ "
                     "(axis %d from the right)", (long long)dx, (long long)dy, r - i);
            return false;
        }
    }
    *out_rank = r;
    memcpy(out, res, sizeof res[0] * (size_t)r);
    return true;
}

static int64_t numel_of(int rank, const int64_t *dims) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    return n;
}

#define FAIL(...)                           \
    do {                                    \
        snprintf(err, errlen, __VA_ARGS__); \
        return false;                       \
    } while (0)

static bool same_dims(const Tensor *t, int rank, const int64_t *d) {
    return t->rank == rank && memcmp(t->dims, d, sizeof d[0] * (size_t)rank) == 0;
}

/* attention ops: q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] with equal batch dims;
 * the bias broadcasts to the scores [..., Tq, Tk]; attention_grad's o and do are
 * [..., Tq, Dv] and lse [..., Tq]. The kernels index all of these without checks. */
static bool attention_shape(const IrValue *v, Tensor *const *a, int *rank, int64_t *d,
                            char *err, size_t errlen) {
    int base = v->op == OP_ATTENTION ? 3 : v->op == OP_ATTENTION_LSE ? 2 : 6;
    if (v->nargs != base && v->nargs != base + 1)
        FAIL("%s takes %d operands (or %d with a bias), not %d", ir_op_name(v->op), base,
             base + 1, v->nargs);
    const Tensor *q = a[0], *k = a[1], *val = v->op == OP_ATTENTION_LSE ? NULL : a[2];
    int r = q->rank;
    bool ok = r >= 2 && r <= IR_MAX_RANK && k->rank == r && k->dims[r - 1] == q->dims[r - 1];
    for (int i = 0; ok && i < r - 2; i++) ok = k->dims[i] == q->dims[i];
    if (ok && val) {
        ok = val->rank == r && val->dims[r - 2] == k->dims[r - 2];
        for (int i = 0; ok && i < r - 2; i++) ok = val->dims[i] == q->dims[i];
    }
    if (!ok) {
        char s1[IR_TYPE_STR_MAX], s2[IR_TYPE_STR_MAX], s3[IR_TYPE_STR_MAX] = "-";
        if (val) tensor_shape_str(val, s3, sizeof s3);
        FAIL("%s needs q [..., Tq, D], k [..., Tk, D] and v [..., Tk, Dv] with equal batch "
             "dims, got %s, %s and %s", ir_op_name(v->op), tensor_shape_str(q, s1, sizeof s1),
             tensor_shape_str(k, s2, sizeof s2), s3);
    }
    int64_t scores[IR_MAX_RANK], o[IR_MAX_RANK];
    memcpy(scores, q->dims, sizeof scores[0] * (size_t)r);
    scores[r - 1] = k->dims[r - 2];
    memcpy(o, q->dims, sizeof o[0] * (size_t)r);
    if (val) o[r - 1] = val->dims[r - 1];
    if (v->nargs == base + 1) {
        const Tensor *bias = a[base];
        int br = r;
        int64_t bd[IR_MAX_RANK];
        memcpy(bd, scores, sizeof bd[0] * (size_t)r);
        char s1[IR_TYPE_STR_MAX], s2[IR_TYPE_STR_MAX];
        if (bias->rank > r || !broadcast_into(&br, bd, bias->rank, bias->dims, err, errlen) ||
            memcmp(bd, scores, sizeof bd[0] * (size_t)r) != 0)
            FAIL("%s: the bias %s does not broadcast to the scores %s", ir_op_name(v->op),
                 tensor_shape_str(bias, s1, sizeof s1), dims_str(r, scores, s2, sizeof s2));
    }
    if (v->op == OP_ATTENTION_GRAD) {
        char s1[IR_TYPE_STR_MAX];
        if (!same_dims(a[3], r, o) || !same_dims(a[4], r, o) || !same_dims(a[5], r - 1, o))
            FAIL("attention_grad needs o and do of shape %s and lse of its shape without the "
                 "last dim", dims_str(r, o, s1, sizeof s1));
        if (v->attrs.index < 0 || v->attrs.index > 2)
            FAIL("attention_grad index must be 0, 1 or 2, not %lld", (long long)v->attrs.index);
        const Tensor *src = a[v->attrs.index];
        *rank = r;
        memcpy(d, src->dims, sizeof d[0] * (size_t)r);
        return true;
    }
    *rank = v->op == OP_ATTENTION ? r : r - 1;
    memcpy(d, o, sizeof d[0] * (size_t)*rank);
    return true;
}

/* The shape computed from the operands; *from_type set when it must come from the type. */
static bool operand_shape(const IrValue *v, Tensor *const *a, int *rank, int64_t *d,
                          bool *from_type, char *err, size_t errlen) {
    const IrAttrs *at = &v->attrs;
    *from_type = false;
    switch (v->op) {
    case OP_INPUT: case OP_WEIGHT: case OP_CONSTANT: case OP_ARANGE: case OP_RESHAPE:
    case OP_BROADCAST: case OP_SCATTER_ADD: case OP_FUSED:
        *from_type = true;
        return true;
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_POW: case OP_MAXIMUM:
    case OP_MINIMUM: case OP_EQ: case OP_LT: case OP_LE: case OP_WHERE:
        *rank = 0;
        for (int i = 0; i < v->nargs; i++)
            if (!broadcast_into(rank, d, a[i]->rank, a[i]->dims, err, errlen)) return false;
        return true;
    case OP_MATMUL: {
        const Tensor *x = a[0], *y = a[1];
        if (x->rank < 2 || y->rank < 2) FAIL("matmul needs operands of rank 2 or more");
        if (x->dims[x->rank - 1] != y->dims[y->rank - 2])
            FAIL("matmul inner dims %lld and %lld differ", (long long)x->dims[x->rank - 1],
                 (long long)y->dims[y->rank - 2]);
        *rank = x->rank - 2;
        memcpy(d, x->dims, sizeof d[0] * (size_t)*rank);
        if (!broadcast_into(rank, d, y->rank - 2, y->dims, err, errlen)) return false;
        d[(*rank)++] = x->dims[x->rank - 2];
        d[(*rank)++] = y->dims[y->rank - 1];
        return true;
    }
    case OP_SUM: case OP_MAX: case OP_MEAN: {
        *rank = 0;
        for (int i = 0; i < at->nints; i++)
            if (at->ints[i] < 0 || at->ints[i] >= a[0]->rank || (i && at->ints[i] <= at->ints[i - 1]))
                FAIL("reduction axes must be sorted, distinct and in 0..%d", a[0]->rank - 1);
        for (int i = 0, k = 0; i < a[0]->rank; i++) {
            bool red = k < at->nints && at->ints[k] == i;
            if (red) k++;
            if (!red)
                d[(*rank)++] = a[0]->dims[i];
            else if (at->keepdim)
                d[(*rank)++] = 1;
        }
        return true;
    }
    case OP_TRANSPOSE: {
        bool seen[IR_MAX_RANK] = {0};
        if (at->nints != a[0]->rank) FAIL("transpose perm has %d axes, operand rank %d",
                                          at->nints, a[0]->rank);
        *rank = a[0]->rank;
        for (int i = 0; i < *rank; i++) {
            int64_t p = at->ints[i];
            if (p < 0 || p >= *rank || seen[p]) FAIL("transpose perm is not a permutation");
            seen[p] = true;
            d[i] = a[0]->dims[p];
        }
        return true;
    }
    case OP_SLICE: case OP_SPLIT: case OP_CONCAT: case OP_SOFTMAX: case OP_LOG_SOFTMAX:
        if (at->axis < 0 || at->axis >= a[0]->rank)
            FAIL("axis %lld is out of range for rank %d", (long long)at->axis, a[0]->rank);
        *rank = a[0]->rank;
        memcpy(d, a[0]->dims, sizeof d[0] * (size_t)*rank);
        if (v->op == OP_SLICE) {
            if (at->start < 0 || at->start > at->end || at->end > d[at->axis])
                FAIL("slice [%lld, %lld) is outside axis %lld of size %lld",
                     (long long)at->start, (long long)at->end, (long long)at->axis,
                     (long long)d[at->axis]);
            d[at->axis] = at->end - at->start;
        } else if (v->op == OP_SPLIT) {
            if (at->parts < 1 || at->index < 0 || at->index >= at->parts ||
                d[at->axis] % at->parts != 0)
                FAIL("cannot take part %lld of %lld equal parts of axis %lld (size %lld)",
                     (long long)at->index, (long long)at->parts, (long long)at->axis,
                     (long long)d[at->axis]);
            d[at->axis] /= at->parts;
        } else if (v->op == OP_CONCAT) {
            d[at->axis] = 0;
            for (int i = 0; i < v->nargs; i++) {
                bool ok = a[i]->rank == *rank;
                for (int j = 0; ok && j < *rank; j++)
                    ok = j == at->axis || a[i]->dims[j] == d[j];
                if (!ok) FAIL("concat operand %d does not match operand 0 off axis %lld", i,
                              (long long)at->axis);
                d[at->axis] += a[i]->dims[at->axis];
            }
        }
        return true;
    case OP_GATHER:
        if (a[0]->rank < 1 || a[1]->rank + a[0]->rank - 1 > IR_MAX_RANK)
            FAIL("gather needs a table of rank 1 or more and a result of rank <= %d",
                 IR_MAX_RANK);
        *rank = a[1]->rank;
        memcpy(d, a[1]->dims, sizeof d[0] * (size_t)*rank);
        for (int i = 1; i < a[0]->rank; i++) d[(*rank)++] = a[0]->dims[i];
        return true;
    case OP_LAYERNORM: {
        const Tensor *x = a[0];
        if (x->rank < 1) FAIL("layernorm needs rank 1 or more");
        int64_t c = x->dims[x->rank - 1];
        if (tensor_numel(a[1]) != c || tensor_numel(a[2]) != c)
            FAIL("layernorm gain and bias need %lld elements (the last dim)", (long long)c);
        *rank = x->rank;
        memcpy(d, x->dims, sizeof d[0] * (size_t)*rank);
        return true;
    }
    case OP_LAYERNORM_GRAD: {
        const Tensor *x = a[0], *dy = a[2];
        if (x->rank < 1) FAIL("layernorm_grad needs rank 1 or more");
        int64_t c = x->dims[x->rank - 1];
        bool same = dy->rank == x->rank;
        for (int i = 0; same && i < x->rank; i++) same = dy->dims[i] == x->dims[i];
        if (tensor_numel(a[1]) != c || !same)
            FAIL("layernorm_grad needs a gain of %lld elements (the last dim) and dy shaped as x",
                 (long long)c);
        *rank = x->rank;
        memcpy(d, x->dims, sizeof d[0] * (size_t)*rank);
        return true;
    }
    case OP_CROSS_ENTROPY: {
        const Tensor *x = a[0], *t = a[1];
        bool ok = x->rank >= 1 && t->rank == x->rank - 1;
        for (int i = 0; ok && i < t->rank; i++) ok = t->dims[i] == x->dims[i];
        if (!ok) FAIL("cross_entropy targets must have the logits' shape without its last dim");
        *rank = 0;
        return true;
    }
    case OP_ATTENTION: case OP_ATTENTION_LSE: case OP_ATTENTION_GRAD:
        return attention_shape(v, a, rank, d, err, errlen);
    default: /* unary and cast */
        if (v->nargs != 1) FAIL("%s: unexpected operand count %d", ir_op_name(v->op), v->nargs);
        *rank = a[0]->rank;
        memcpy(d, a[0]->dims, sizeof d[0] * (size_t)*rank);
        return true;
    }
}

bool ref_value_shape(const IrValue *v, Tensor *const *args, RefEnv *env, int *rank,
                     int64_t *dims, char *err, size_t errlen) {
    bool from_type;
    if (!operand_shape(v, args, rank, dims, &from_type, err, errlen)) return false;
    if (from_type) {
        int64_t numel = v->op == OP_RESHAPE ? tensor_numel(args[0]) : -1;
        *rank = v->type.rank;
        if (!resolve(env, &v->type, numel, dims, err, errlen)) return false;
        if (v->op == OP_RESHAPE && numel_of(*rank, dims) != numel) {
            char s1[IR_TYPE_STR_MAX], s2[IR_TYPE_STR_MAX];
            FAIL("cannot reshape %s (%lld elements) into %s (%lld elements)",
                 tensor_shape_str(args[0], s1, sizeof s1), (long long)numel,
                 dims_str(*rank, dims, s2, sizeof s2), (long long)numel_of(*rank, dims));
        }
        if (v->op == OP_BROADCAST) {
            int r = *rank;
            int64_t b[IR_MAX_RANK];
            memcpy(b, dims, sizeof b[0] * (size_t)r);
            if (args[0]->rank > r ||
                !broadcast_into(&r, b, args[0]->rank, args[0]->dims, err, errlen) ||
                memcmp(b, dims, sizeof b[0] * (size_t)r) != 0) {
                char s1[IR_TYPE_STR_MAX], s2[IR_TYPE_STR_MAX];
                FAIL("cannot broadcast %s to %s", tensor_shape_str(args[0], s1, sizeof s1),
                     dims_str(*rank, dims, s2, sizeof s2));
            }
        }
        if (v->op == OP_ARANGE && *rank != 1) FAIL("arange must give a 1-D tensor");
        return true;
    }
    char what[64];
    snprintf(what, sizeof what, "the result of %%%d = %s", v->id, ir_op_name(v->op));
    return match_dims(env, &v->type, *rank, dims, what, err, errlen);
}

Tensor *ref_weight_tensor(const IrModule *m, const IrValue *v, Tensor *const *weights, RefEnv *env,
                          bool *about_v, char *err, size_t errlen) {
    int wi = ir_module_weight_index(m, v->attrs.name);
    *about_v = true;
    if (wi < 0) {
        snprintf(err, errlen, "weight '%s' is not declared in the module", v->attrs.name);
        return NULL;
    }
    const IrWeight *w = ir_module_find_weight(m, v->attrs.name);
    *about_v = false;
    if (!weights || !weights[wi]) {
        snprintf(err, errlen, "no tensor was given for weight '%s'", w->name);
        return NULL;
    }
    char what[160];
    snprintf(what, sizeof what, "weight '%s'", w->name);
    if (!ref_env_match(env, &w->type, weights[wi], what, err, errlen)) return NULL;
    *about_v = true;
    if (!ref_env_match(env, &v->type, weights[wi], what, err, errlen)) return NULL;
    return weights[wi];
}
