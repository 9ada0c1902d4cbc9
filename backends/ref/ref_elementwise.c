/* ref_elementwise.c — element access, leaves (constant, arange), unary and binary ops
 * with NumPy broadcasting, where and cast.
 *
 * Every element goes through ref_load/ref_store, which convert through double: slow,
 * but one code path for every dtype, and exact for i32, f16 and bf16 values.
 *
 * Decisions a newcomer may question:
 *   - Float math is done in double and rounded once on store (see ref.h).
 *   - i32 arithmetic is done in int64 and wrapped to 32 bits (two's complement), the
 *     machine behaviour; i32 division truncates toward zero (C, torch's
 *     rounding_mode="trunc") and a zero divisor is a run-time error, as is a negative
 *     integer exponent (NumPy refuses it too).
 *   - maximum/minimum propagate NaN (torch.maximum does), comparisons with NaN give 0.
 */
#include <math.h>
#include <string.h>

#include "ref.h"

/* ---- half and bfloat16 ---- */

float ref_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    float f;
    if (exp == 0)
        f = ldexpf((float)man, -24); /* zero or subnormal */
    else if (exp == 31)
        f = man ? NAN : INFINITY;
    else
        f = ldexpf((float)(man | 0x400), (int)exp - 25);
    return sign ? -f : f;
}

uint16_t ref_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    if (isnan(f)) return sign | 0x7e00;
    float a = fabsf(f);
    if (a >= 65520.0f) return sign | 0x7c00; /* rounds to infinity */
    if (a < ldexpf(1.0f, -14)) {
        /* subnormal: units of 2^-24, rounded to nearest even by nearbyint */
        return sign | (uint16_t)nearbyintf(a * ldexpf(1.0f, 24));
    }
    int e;
    float m = frexpf(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    /* 11 significant bits: mantissa in units of 2^(e-11) */
    uint32_t sig = (uint32_t)nearbyintf(ldexpf(m, 11));
    if (sig == 2048) { /* rounding carried into the next binade */
        sig = 1024;
        e++;
    }
    uint32_t exp = (uint32_t)(e - 1 + 15);
    if (exp >= 31) return sign | 0x7c00;
    return sign | (uint16_t)((exp << 10) | (sig & 0x3ff));
}

float ref_bf16_to_f32(uint16_t h) {
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

uint16_t ref_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if (isnan(f)) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1); /* round to nearest even */
    return (uint16_t)(x >> 16);
}

/* ---- element access ---- */

double ref_load(const Tensor *t, int64_t i) {
    switch (t->dtype) {
    case DT_F32: return ((const float *)t->data)[i];
    case DT_I32: return ((const int32_t *)t->data)[i];
    case DT_F16: return ref_f16_to_f32(((const uint16_t *)t->data)[i]);
    case DT_BF16: return ref_bf16_to_f32(((const uint16_t *)t->data)[i]);
    case DT_F64: return ((const double *)t->data)[i];
    default: return 0;
    }
}

static int32_t to_i32(double x) {
    if (isnan(x)) return 0;
    if (x >= 2147483647.0) return INT32_MAX;
    if (x <= -2147483648.0) return INT32_MIN;
    return (int32_t)x; /* truncates toward zero */
}

void ref_store(Tensor *t, int64_t i, double x) {
    switch (t->dtype) {
    case DT_F32: ((float *)t->data)[i] = (float)x; break;
    case DT_I32: ((int32_t *)t->data)[i] = to_i32(x); break;
    case DT_F16: ((uint16_t *)t->data)[i] = ref_f32_to_f16((float)x); break;
    case DT_BF16: ((uint16_t *)t->data)[i] = ref_f32_to_bf16((float)x); break;
    case DT_F64: ((double *)t->data)[i] = x; break;
    default: break;
    }
}

static int32_t wrap32(int64_t x) { return (int32_t)(uint32_t)(uint64_t)x; }

/* ---- broadcasting ---- */

void ref_broadcast_strides(int rank, const int64_t *dims, int out_rank,
                           const int64_t *out_dims, int64_t *strides) {
    int64_t s = 1;
    for (int i = out_rank - 1; i >= 0; i--) {
        int j = rank - out_rank + i;
        if (j < 0 || dims[j] == 1 || dims[j] != out_dims[i]) {
            strides[i] = 0;
        } else {
            strides[i] = s;
        }
        if (j >= 0) s *= dims[j];
    }
}

int64_t ref_broadcast_offset(int64_t i, int out_rank, const int64_t *out_dims,
                             const int64_t *strides) {
    int64_t off = 0;
    for (int d = out_rank - 1; d >= 0; d--) {
        int64_t n = out_dims[d];
        off += (i % n) * strides[d];
        i /= n;
    }
    return off;
}

/* ---- leaves ---- */

bool ref_eval_leaf(const IrValue *v, Tensor *out, char *err, size_t errlen) {
    int64_t n = tensor_numel(out);
    if (v->op == OP_CONSTANT) {
        for (int64_t i = 0; i < n; i++) ref_store(out, i, v->attrs.value);
    } else if (v->op == OP_ARANGE) {
        for (int64_t i = 0; i < n; i++) ref_store(out, i, (double)i);
    } else {
        snprintf(err, errlen, "%s is not a leaf the interpreter computes", ir_op_name(v->op));
        return false;
    }
    return true;
}

/* ---- unary ---- */

static double unary_f(IrOp op, double x) {
    switch (op) {
    case OP_NEG: return -x;
    case OP_EXP: return exp(x);
    case OP_LOG: return log(x);
    case OP_SQRT: return sqrt(x);
    case OP_RSQRT: return 1.0 / sqrt(x);
    case OP_TANH: return tanh(x);
    case OP_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case OP_RELU: return x > 0 ? x : 0.0; /* relu(NaN) = 0 here; torch gives NaN */
    case OP_GELU: {
        /* GPT-2's tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
        const double k = sqrt(2.0 / 3.14159265358979323846);
        return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
    }
    case OP_ABS: return fabs(x);
    default: return NAN;
    }
}

static bool unary_i(IrOp op, int64_t x, int64_t *r) {
    switch (op) {
    case OP_NEG: *r = -x; return true;
    case OP_RELU: *r = x > 0 ? x : 0; return true;
    case OP_ABS: *r = x < 0 ? -x : x; return true;
    default: return false;
    }
}

bool ref_eval_unary(IrOp op, const Tensor *x, Tensor *out, char *err, size_t errlen) {
    int64_t n = tensor_numel(out);
    if (out->dtype == DT_I32) {
        for (int64_t i = 0; i < n; i++) {
            int64_t r;
            if (!unary_i(op, (int64_t)ref_load(x, i), &r)) {
                snprintf(err, errlen, "%s is not defined on i32 (cast to f32 first)",
                         ir_op_name(op));
                return false;
            }
            ((int32_t *)out->data)[i] = wrap32(r);
        }
        return true;
    }
    for (int64_t i = 0; i < n; i++) ref_store(out, i, unary_f(op, ref_load(x, i)));
    return true;
}

/* ---- binary ---- */

static double binary_f(IrOp op, double a, double b) {
    switch (op) {
    case OP_ADD: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    case OP_DIV: return a / b;
    case OP_POW: return pow(a, b);
    case OP_MAXIMUM: return isnan(a) || isnan(b) ? NAN : (a > b ? a : b);
    case OP_MINIMUM: return isnan(a) || isnan(b) ? NAN : (a < b ? a : b);
    case OP_EQ: return a == b;
    case OP_LT: return a < b;
    case OP_LE: return a <= b;
    default: return NAN;
    }
}

/* Integer pow by squaring, wrapping; b >= 0. */
static int64_t ipow(int64_t a, int64_t b) {
    uint32_t r = 1, base = (uint32_t)a;
    while (b > 0) {
        if (b & 1) r *= base;
        base *= base;
        b >>= 1;
    }
    return (int32_t)r;
}

static bool binary_i(IrOp op, int64_t a, int64_t b, int64_t *r, char *err, size_t errlen) {
    switch (op) {
    case OP_ADD: *r = a + b; return true;
    case OP_SUB: *r = a - b; return true;
    case OP_MUL: *r = a * b; return true;
    case OP_DIV:
        if (b == 0) {
            snprintf(err, errlen, "integer division by zero (dividing %lld by 0)", (long long)a);
            return false;
        }
        *r = a / b; /* int64: INT32_MIN / -1 does not overflow, and wraps below */
        return true;
    case OP_POW:
        if (b < 0) {
            snprintf(err, errlen, "integer %lld raised to the negative power %lld "
                     "(cast to f32 first)", (long long)a, (long long)b);
            return false;
        }
        *r = ipow(a, b);
        return true;
    case OP_MAXIMUM: *r = a > b ? a : b; return true;
    case OP_MINIMUM: *r = a < b ? a : b; return true;
    case OP_EQ: *r = a == b; return true;
    case OP_LT: *r = a < b; return true;
    case OP_LE: *r = a <= b; return true;
    default:
        snprintf(err, errlen, "%s is not a binary op", ir_op_name(op));
        return false;
    }
}

bool ref_eval_binary(IrOp op, const Tensor *x, const Tensor *y, Tensor *out, char *err,
                     size_t errlen) {
    int64_t sx[IR_MAX_RANK], sy[IR_MAX_RANK];
    ref_broadcast_strides(x->rank, x->dims, out->rank, out->dims, sx);
    ref_broadcast_strides(y->rank, y->dims, out->rank, out->dims, sy);
    int64_t n = tensor_numel(out);
    bool ints = x->dtype == DT_I32 && y->dtype == DT_I32;
    for (int64_t i = 0; i < n; i++) {
        double a = ref_load(x, ref_broadcast_offset(i, out->rank, out->dims, sx));
        double b = ref_load(y, ref_broadcast_offset(i, out->rank, out->dims, sy));
        if (ints) {
            int64_t r;
            if (!binary_i(op, (int64_t)a, (int64_t)b, &r, err, errlen)) return false;
            if (out->dtype == DT_I32)
                ((int32_t *)out->data)[i] = wrap32(r);
            else
                ref_store(out, i, (double)wrap32(r));
        } else {
            ref_store(out, i, binary_f(op, a, b));
        }
    }
    return true;
}

bool ref_eval_where(const Tensor *c, const Tensor *x, const Tensor *y, Tensor *out) {
    int64_t sc[IR_MAX_RANK], sx[IR_MAX_RANK], sy[IR_MAX_RANK];
    ref_broadcast_strides(c->rank, c->dims, out->rank, out->dims, sc);
    ref_broadcast_strides(x->rank, x->dims, out->rank, out->dims, sx);
    ref_broadcast_strides(y->rank, y->dims, out->rank, out->dims, sy);
    int64_t n = tensor_numel(out);
    for (int64_t i = 0; i < n; i++) {
        double cond = ref_load(c, ref_broadcast_offset(i, out->rank, out->dims, sc));
        /* cond != 0 picks x; a NaN condition is != 0 and picks x, as in C and NumPy */
        if (cond != 0)
            ref_store(out, i, ref_load(x, ref_broadcast_offset(i, out->rank, out->dims, sx)));
        else
            ref_store(out, i, ref_load(y, ref_broadcast_offset(i, out->rank, out->dims, sy)));
    }
    return true;
}

bool ref_eval_cast(const Tensor *x, Tensor *out) {
    /* float -> i32 truncates toward zero (C and torch .to(int32)); NaN becomes 0 and
     * values past the i32 range saturate instead of being undefined. */
    int64_t n = tensor_numel(out);
    for (int64_t i = 0; i < n; i++) ref_store(out, i, ref_load(x, i));
    return true;
}
