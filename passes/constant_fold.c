/* constant_fold.c — replace ops whose operands are all constants by a constant.
 *
 * Constants in the IR are splats: OP_CONSTANT holds one scalar (attrs.value) and its
 * result type gives the shape. So an elementwise op of constants is a constant of the
 * result type, and a movement op (broadcast, reshape, transpose, slice, split, gather,
 * concat of equal values) of a constant is the same scalar in the new type. Reductions of
 * a splat: max and mean give the scalar, sum gives scalar * count; all three are folded
 * only when the reduced dims are fixed sizes (count known and non-zero).
 *
 * Arithmetic: operands are first rounded to their dtype (a constant written 0.1 in an f32
 * function is the float nearest 0.1), the op is computed in double, and the result is
 * rounded to f32 or truncated toward zero to i32. For + - * / and sqrt that is exactly
 * the f32 result (double has more than 2*24+2 bits); for exp, tanh, ... it is the
 * correctly rounded value, which a backend's libm may miss by an ulp.
 *
 * Decisions a newcomer may question:
 *  - The folded value is rewritten in place (same position, same location, its op becomes
 *    constant); its old operands are left for dce.
 *  - Arithmetic whose result is not finite (1/0, log 0, overflow) or does not fit i32 is
 *    not folded: the pass never writes a NaN or inf the source did not write, and i32
 *    division by zero stays the backend's business. Selection and movement of an
 *    existing -inf (a causal mask) do fold: they create nothing.
 *  - i32 division truncates toward zero (C), i32 pow is not folded. f16 and bf16
 *    arithmetic is not folded (no exact rounding helper yet); their movement ops are.
 *  - sum of a splat is folded as value * count, the exact sum rounded once; a backend that
 *    adds n copies one by one in f32 may differ in the last bits for large n.
 *  - maximum/minimum with a NaN operand are not folded: NumPy and PyTorch propagate NaN
 *    where C's fmax drops it, and the backends are the judge.
 */
#include "passes.h"

#include <math.h>
#include <string.h>

/* The scalar a constant of dtype dt really holds. */
static double held(IrDType dt, double x) {
    switch (dt) {
    case DT_F32: return (double)(float)x;
    case DT_I32: return trunc(x);
    default: return x;
    }
}

/* Rounds an arithmetic result x to dtype dt; false when it must not be folded. */
static bool round_result(IrDType dt, double x, double *out) {
    switch (dt) {
    case DT_F32: {
        float r = (float)x;
        if (!isfinite(r)) return false;
        *out = (double)r;
        return true;
    }
    case DT_I32:
        if (!isfinite(x)) return false;
        x = trunc(x);
        if (x < -2147483648.0 || x > 2147483647.0) return false;
        *out = x;
        return true;
    default:
        return false;
    }
}

static bool eval_unary(IrOp op, IrDType src, double x, double *r) {
    switch (op) {
    case OP_NEG: *r = -x; return true;
    case OP_EXP: *r = exp(x); return true;
    case OP_LOG: *r = log(x); return true;
    case OP_SQRT: *r = sqrt(x); return true;
    case OP_RSQRT: *r = 1.0 / sqrt(x); return true;
    case OP_TANH: *r = tanh(x); return true;
    case OP_SIGMOID: *r = 1.0 / (1.0 + exp(-x)); return true;
    case OP_RELU: *r = x > 0 ? x : 0.0; return true;
    case OP_GELU: /* the tanh form, as GPT-2 and ops.def say */
        *r = 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
        return true;
    case OP_ABS: *r = fabs(x); return true;
    case OP_CAST: *r = x; return true;
    default: return false;
    }
}

static bool eval_binary(IrOp op, IrDType dt, double a, double b, double *r) {
    switch (op) {
    case OP_ADD: *r = a + b; return true;
    case OP_SUB: *r = a - b; return true;
    case OP_MUL: *r = a * b; return true;
    case OP_DIV:
        if (dt == DT_I32 && b == 0) return false;
        *r = a / b;
        return true;
    case OP_POW:
        if (dt == DT_I32) return false;
        *r = pow(a, b);
        return true;
    case OP_MAXIMUM:
        if (isnan(a) || isnan(b)) return false;
        *r = a > b ? a : b;
        return true;
    case OP_MINIMUM:
        if (isnan(a) || isnan(b)) return false;
        *r = a < b ? a : b;
        return true;
    case OP_EQ: *r = a == b ? 1.0 : 0.0; return true;
    case OP_LT: *r = a < b ? 1.0 : 0.0; return true;
    case OP_LE: *r = a <= b ? 1.0 : 0.0; return true;
    default: return false;
    }
}

static bool all_const(const IrValue *v) {
    if (v->nargs == 0) return false;
    for (int i = 0; i < v->nargs; i++)
        if (v->args[i]->op != OP_CONSTANT) return false;
    return true;
}

/* Number of elements a reduction folds into one, when every reduced dim is fixed. */
static bool reduced_count(const IrValue *v, double *count) {
    const IrType *in = &v->args[0]->type;
    double n = 1;
    if (v->attrs.nints == 0) return false; /* not reached by valid IR; be safe */
    for (int i = 0; i < v->attrs.nints; i++) {
        int64_t ax = v->attrs.ints[i];
        if (ax < 0 || ax >= in->rank || in->dims[ax].sym) return false;
        n *= (double)in->dims[ax].size;
    }
    if (n <= 0) return false;
    *count = n;
    return true;
}

/* The value v folds to, if it does. */
static bool fold_value(const IrValue *v, double *out) {
    if (!all_const(v)) return false;
    const IrValue *a = v->args[0];
    IrDType dt = v->type.dtype, src = a->type.dtype;
    unsigned flags = ir_op_flags(v->op);
    double r;

    if (v->op == OP_WHERE) {
        if (src != DT_F32 && src != DT_I32) return false; /* the condition's dtype */
        const IrValue *pick = held(src, a->attrs.value) != 0 ? v->args[1] : v->args[2];
        *out = pick->attrs.value;
        return true;
    }
    if (flags & F_UNARY) {
        if (src != DT_F32 && src != DT_I32) return false;
        if (!eval_unary(v->op, src, held(src, a->attrs.value), &r)) return false;
        return round_result(dt, r, out);
    }
    if (flags & F_BINARY) {
        const IrValue *b = v->args[1];
        if (src != DT_F32 && src != DT_I32) return false;
        if (!eval_binary(v->op, src, held(src, a->attrs.value),
                         held(b->type.dtype, b->attrs.value), &r))
            return false;
        return round_result(dt, r, out);
    }
    switch (v->op) {
    case OP_BROADCAST:
    case OP_RESHAPE:
    case OP_TRANSPOSE:
    case OP_SLICE:
    case OP_SPLIT:
        *out = a->attrs.value;
        return true;
    case OP_CONCAT:
        for (int i = 1; i < v->nargs; i++)
            if (memcmp(&v->args[i]->attrs.value, &a->attrs.value, sizeof(double)) != 0)
                return false;
        *out = a->attrs.value;
        return true;
    case OP_GATHER: {
        /* Every row of a splat table is the same; fold only in-range indices. */
        const IrValue *idx = v->args[1];
        double i = held(idx->type.dtype, idx->attrs.value);
        if (a->type.rank < 1 || a->type.dims[0].sym || i < 0 ||
            i >= (double)a->type.dims[0].size)
            return false;
        *out = a->attrs.value;
        return true;
    }
    case OP_SUM: {
        double count;
        if (!reduced_count(v, &count) || (src != DT_F32 && src != DT_I32)) return false;
        return round_result(dt, held(src, a->attrs.value) * count, out);
    }
    case OP_MAX:
    case OP_MEAN: {
        double count;
        if (!reduced_count(v, &count)) return false;
        if (dt == src) {
            *out = a->attrs.value;
            return true;
        }
        if (src != DT_F32 && src != DT_I32) return false;
        return round_result(dt, held(src, a->attrs.value), out);
    }
    default:
        return false;
    }
}

static bool fold_func(IrFunc *f) {
    bool changed = false;
    for (IrValue *v = f->first; v; v = v->next) {
        double value;
        if (v->op == OP_CONSTANT || !fold_value(v, &value)) continue;
        v->op = OP_CONSTANT;
        v->nargs = 0;
        v->args = NULL;
        memset(&v->attrs, 0, sizeof v->attrs);
        v->attrs.value = value;
        changed = true;
    }
    return changed;
}

bool pass_constant_fold(IrModule *m) {
    bool changed = false;
    for (IrFunc *f = m->funcs; f; f = f->next) changed |= fold_func(f);
    return changed;
}
