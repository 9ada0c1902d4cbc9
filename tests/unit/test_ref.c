/* test_ref.c — the reference backend, op by op, on small cases checked by hand.
 *
 * Each case builds a one-op function with the IR builder, runs it through ref_run and
 * compares with values worked out by hand (the working is in the comment beside each).
 * Transcendental values were worked to 8 digits with a calculator from their definition
 * (e.g. softmax([1,2,3]) = [e^-2, e^-1, 1] / (e^-2 + e^-1 + 1)); the tolerance is 1e-6
 * relative, so a wrong formula cannot hide in it. Error cases check that the message
 * names what is wrong.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backends/ref/ref.h"

/* ---- helpers ---- */

/* Parse "2,3" or "B,3" (or "" for a scalar) into dims; symbols are interned in m. */
static IrType ty(IrModule *m, IrDType dt, const char *spec) {
    IrType t = {.dtype = dt};
    const char *p = spec;
    while (*p) {
        const char *q = p;
        while (*q && *q != ',') q++;
        if (*p >= '0' && *p <= '9')
            t.dims[t.rank++] = ir_dim_int(strtoll(p, NULL, 10));
        else
            t.dims[t.rank++] = ir_dim_sym(ir_intern(m, p, (size_t)(q - p)));
        p = *q ? q + 1 : q;
    }
    return t;
}

static Tensor *mk(IrDType dt, const char *spec, const void *vals) {
    int64_t dims[IR_MAX_RANK];
    int rank = 0;
    const char *p = spec;
    while (*p) {
        dims[rank++] = strtoll(p, (char **)&p, 10);
        if (*p == ',') p++;
    }
    char err[128];
    Tensor *t = tensor_create(dt, rank, dims, err, sizeof err);
    assert_non_null(t);
    if (vals) memcpy(t->data, vals, tensor_bytes(t));
    return t;
}
#define F(spec, ...) mk(DT_F32, spec, (const float[]){__VA_ARGS__})
#define I(spec, ...) mk(DT_I32, spec, (const int32_t[]){__VA_ARGS__})

static void check(const Tensor *t, IrDType dt, const char *spec, const double *want,
                  double tol) {
    assert_non_null(t);
    assert_int_equal(t->dtype, dt);
    int64_t dims[IR_MAX_RANK];
    int rank = 0;
    const char *p = spec;
    while (*p) {
        dims[rank++] = strtoll(p, (char **)&p, 10);
        if (*p == ',') p++;
    }
    assert_int_equal(t->rank, rank);
    for (int i = 0; i < rank; i++) assert_int_equal(t->dims[i], dims[i]);
    for (int64_t i = 0; i < tensor_numel(t); i++) {
        double got = ref_load(t, i), w = want[i];
        bool ok = isnan(w) ? isnan(got) : got == w || fabs(got - w) <= tol * (1 + fabs(w));
        if (!ok) fail_msg("element %lld: got %.9g, want %.9g", (long long)i, got, w);
    }
}
#define CHECKF(t, spec, ...) check(t, DT_F32, spec, (const double[]){__VA_ARGS__}, 1e-6)
#define CHECKI(t, spec, ...) check(t, DT_I32, spec, (const double[]){__VA_ARGS__}, 0)

/* Build f(%a0, %a1, ...) = op(...) over the given tensors' static shapes and run it.
 * Returns the single output, or NULL with the message in err. */
static Tensor *run_op(IrOp op, int n, Tensor **ins, IrAttrs at, const char *given_spec,
                      IrDType given_dt, char *err, size_t errlen) {
    IrModule *m = ir_module_create("t");
    IrFunc *f = ir_module_add_func(m, "f");
    IrValue *args[8];
    for (int i = 0; i < n; i++) {
        IrType t = {.dtype = ins[i]->dtype, .rank = ins[i]->rank};
        for (int d = 0; d < t.rank; d++) t.dims[d] = ir_dim_int(ins[i]->dims[d]);
        char name[16];
        snprintf(name, sizeof name, "a%d", i);
        args[i] = ir_func_add_param(f, name, &t);
    }
    IrType g;
    if (given_spec) g = ty(m, given_dt, given_spec);
    char berr[256];
    IrValue *v = ir_build(f, op, args, n, &at, given_spec ? &g : NULL, NULL, berr, sizeof berr);
    if (!v) fail_msg("ir_build: %s", berr);
    ir_func_set_results(f, &v, 1);
    Tensor *out = NULL;
    bool ok = ref_run(f, NULL, ins, &out, err, errlen);
    assert_true(ok == (out != NULL));
    ir_module_destroy(m);
    for (int i = 0; i < n; i++) tensor_destroy(ins[i]);
    return out;
}

static Tensor *run1(IrOp op, Tensor *x, IrAttrs at) {
    char err[512];
    Tensor *out = run_op(op, 1, (Tensor *[]){x}, at, NULL, DT_F32, err, sizeof err);
    if (!out) fail_msg("%s", err);
    return out;
}

static Tensor *run2(IrOp op, Tensor *x, Tensor *y) {
    char err[512];
    Tensor *out = run_op(op, 2, (Tensor *[]){x, y}, (IrAttrs){0}, NULL, DT_F32, err, sizeof err);
    if (!out) fail_msg("%s", err);
    return out;
}

/* ---- elementwise ---- */

static void test_binary_broadcast(void **state) {
    /* [[1,2,3],[4,5,6]] + [10,20,30]: the row is added to each row */
    Tensor *o = run2(OP_ADD, F("2,3", 1, 2, 3, 4, 5, 6), F("3", 10, 20, 30));
    CHECKF(o, "2,3", 11, 22, 33, 14, 25, 36);
    tensor_destroy(o);
    /* [[1],[2]] - [[10,20,30]]: outer difference, shape [2,3] */
    o = run2(OP_SUB, F("2,1", 1, 2), F("1,3", 10, 20, 30));
    CHECKF(o, "2,3", -9, -19, -29, -8, -18, -28);
    tensor_destroy(o);
    /* scalar (rank 0) times a vector */
    o = run2(OP_MUL, F("", 3), F("4", 1, 2, 3, 4));
    CHECKF(o, "4", 3, 6, 9, 12);
    tensor_destroy(o);
    /* [2,1,2] / [3,1]: result [2,3,2]; out[b,i,j] = x[b,0,j] / y[i,0] */
    o = run2(OP_DIV, F("2,1,2", 1, 2, 3, 4), F("3,1", 1, 2, 4));
    CHECKF(o, "2,3,2", 1, 2, 0.5, 1, 0.25, 0.5, 3, 4, 1.5, 2, 0.75, 1);
    tensor_destroy(o);
}

static void test_binary_ops(void **state) {
    Tensor *o = run2(OP_POW, F("3", 2, 9, 4), F("3", 3, 0.5, -1)); /* 8, 3, 0.25 */
    CHECKF(o, "3", 8, 3, 0.25);
    tensor_destroy(o);
    o = run2(OP_MAXIMUM, F("3", 1, 5, -2), F("3", 2, 3, -3));
    CHECKF(o, "3", 2, 5, -2);
    tensor_destroy(o);
    o = run2(OP_MINIMUM, F("3", 1, 5, -2), F("3", 2, 3, -3));
    CHECKF(o, "3", 1, 3, -3);
    tensor_destroy(o);
    o = run2(OP_MAXIMUM, F("2", NAN, 1), F("2", 0, 2)); /* NaN propagates */
    CHECKF(o, "2", NAN, 2);
    tensor_destroy(o);
    o = run2(OP_EQ, F("3", 1, 2, 3), F("3", 1, 0, 3));
    CHECKF(o, "3", 1, 0, 1);
    tensor_destroy(o);
    o = run2(OP_LT, F("3", 1, 2, 3), F("", 2));
    CHECKF(o, "3", 1, 0, 0);
    tensor_destroy(o);
    o = run2(OP_LE, F("3", 1, 2, 3), F("", 2));
    CHECKF(o, "3", 1, 1, 0);
    tensor_destroy(o);
}

static void test_binary_i32(void **state) {
    /* INT32_MAX + 1 wraps to INT32_MIN; 7 + (-9) = -2 */
    Tensor *o = run2(OP_ADD, I("2", INT32_MAX, 7), I("2", 1, -9));
    CHECKI(o, "2", INT32_MIN, -2);
    tensor_destroy(o);
    /* division truncates toward zero: -7/2 = -3, 7/-2 = -3, 7/2 = 3 */
    o = run2(OP_DIV, I("3", -7, 7, 7), I("3", 2, -2, 2));
    CHECKI(o, "3", -3, -3, 3);
    tensor_destroy(o);
    /* 65536 * 65536 = 2^32 wraps to 0; 3 * -4 = -12 */
    o = run2(OP_MUL, I("2", 65536, 3), I("2", 65536, -4));
    CHECKI(o, "2", 0, -12);
    tensor_destroy(o);
    o = run2(OP_POW, I("3", 2, -3, 5), I("3", 10, 3, 0)); /* 1024, -27, 1 */
    CHECKI(o, "3", 1024, -27, 1);
    tensor_destroy(o);
    o = run2(OP_LT, I("3", 1, 2, 3), I("3", 2, 2, 2));
    CHECKI(o, "3", 1, 0, 0);
    tensor_destroy(o);
    o = run2(OP_SUB, I("2", 5, INT32_MIN), I("2", 7, 1)); /* -2, INT32_MIN-1 wraps to MAX */
    CHECKI(o, "2", -2, INT32_MAX);
    tensor_destroy(o);
}

static void test_binary_errors(void **state) {
    char err[512];
    Tensor *o = run_op(OP_DIV, 2, (Tensor *[]){I("2", 1, 2), I("2", 1, 0)}, (IrAttrs){0}, NULL,
                       DT_F32, err, sizeof err);
    assert_null(o);
    assert_non_null(strstr(err, "division by zero"));
    assert_non_null(strstr(err, "div")); /* names the op */
    o = run_op(OP_POW, 2, (Tensor *[]){I("1", 2), I("1", -1)}, (IrAttrs){0}, NULL, DT_F32, err,
               sizeof err);
    assert_null(o);
    assert_non_null(strstr(err, "negative power"));
}

static void test_unary(void **state) {
    Tensor *o = run1(OP_NEG, F("2", 1, -2), (IrAttrs){0});
    CHECKF(o, "2", -1, 2);
    tensor_destroy(o);
    o = run1(OP_EXP, F("2", 0, 1), (IrAttrs){0}); /* e = 2.718281828 */
    CHECKF(o, "2", 1, 2.718281828);
    tensor_destroy(o);
    o = run1(OP_LOG, F("2", 1, 2.718281828f), (IrAttrs){0});
    CHECKF(o, "2", 0, 1);
    tensor_destroy(o);
    o = run1(OP_SQRT, F("2", 4, 2), (IrAttrs){0});
    CHECKF(o, "2", 2, 1.414213562);
    tensor_destroy(o);
    o = run1(OP_RSQRT, F("2", 4, 0.25), (IrAttrs){0});
    CHECKF(o, "2", 0.5, 2);
    tensor_destroy(o);
    /* tanh(1) = (e - 1/e) / (e + 1/e) = 0.761594156 */
    o = run1(OP_TANH, F("2", 0, 1), (IrAttrs){0});
    CHECKF(o, "2", 0, 0.761594156);
    tensor_destroy(o);
    /* sigmoid(2) = 1 / (1 + e^-2) = 1 / 1.135335283 = 0.880797078 */
    o = run1(OP_SIGMOID, F("2", 0, 2), (IrAttrs){0});
    CHECKF(o, "2", 0.5, 0.880797078);
    tensor_destroy(o);
    o = run1(OP_RELU, F("3", -1, 0, 3), (IrAttrs){0});
    CHECKF(o, "3", 0, 0, 3);
    tensor_destroy(o);
    o = run1(OP_ABS, F("2", -1.5, 2), (IrAttrs){0});
    CHECKF(o, "2", 1.5, 2);
    tensor_destroy(o);
    /* gelu(1) = 0.5 (1 + tanh(0.797884561 * 1.044715)) = 0.5 (1 + tanh(0.833561)) =
     * 0.5 * 1.682383 = 0.841192; gelu(-1) = -1 - gelu(1) + 1 ... by oddness of tanh:
     * 0.5 * -1 * (1 - 0.682383) = -0.158808 */
    o = run1(OP_GELU, F("3", 0, 1, -1), (IrAttrs){0});
    check(o, DT_F32, "3", (const double[]){0, 0.841192, -0.158808}, 2e-6);
    tensor_destroy(o);
    o = run1(OP_NEG, I("2", 3, INT32_MIN), (IrAttrs){0}); /* -INT32_MIN wraps to itself */
    CHECKI(o, "2", -3, INT32_MIN);
    tensor_destroy(o);
    o = run1(OP_ABS, I("2", -3, 4), (IrAttrs){0});
    CHECKI(o, "2", 3, 4);
    tensor_destroy(o);
}

static void test_cast_where(void **state) {
    char err[512];
    /* f32 -> i32 truncates toward zero, NaN gives 0, 1e10 saturates */
    Tensor *o = run_op(OP_CAST, 1, (Tensor *[]){F("5", 2.7f, -2.7f, NAN, 1e10f, -0.5f)},
                       (IrAttrs){0}, "5", DT_I32, err, sizeof err);
    CHECKI(o, "5", 2, -2, 0, INT32_MAX, 0);
    tensor_destroy(o);
    o = run_op(OP_CAST, 1, (Tensor *[]){I("2", -3, 16777217)}, (IrAttrs){0}, "2", DT_F32, err,
               sizeof err);
    CHECKF(o, "2", -3, 16777216); /* 2^24 + 1 is not a float: rounds to even */
    tensor_destroy(o);
    /* where(cond [2,1], a [2,2], b scalar) */
    o = run_op(OP_WHERE, 3, (Tensor *[]){F("2,1", 1, 0), F("2,2", 1, 2, 3, 4), F("", -1)},
               (IrAttrs){0}, NULL, DT_F32, err, sizeof err);
    CHECKF(o, "2,2", 1, 2, -1, -1);
    tensor_destroy(o);
}

/* ---- matmul ---- */

static void test_matmul(void **state) {
    /* [[1,2,3],[4,5,6]] @ [[7,8],[9,10],[11,12]]: 1*7+2*9+3*11 = 58, 1*8+2*10+3*12 = 64,
     * 4*7+5*9+6*11 = 139, 4*8+5*10+6*12 = 154 */
    Tensor *o = run2(OP_MATMUL, F("2,3", 1, 2, 3, 4, 5, 6), F("3,2", 7, 8, 9, 10, 11, 12));
    CHECKF(o, "2,2", 58, 64, 139, 154);
    tensor_destroy(o);
    /* batch broadcast: x [2,1,2] (two row vectors) @ y [2,1] -> [2,1,1]:
     * [1,2].[3,4] = 11, [5,6].[3,4] = 39 */
    o = run2(OP_MATMUL, F("2,1,2", 1, 2, 5, 6), F("2,1", 3, 4));
    CHECKF(o, "2,1,1", 11, 39);
    tensor_destroy(o);
    /* x [1,2,2] identity-ish against y [3,2,2]: out[b] = x[0] @ y[b]; x = [[1,0],[0,2]]
     * doubles y's second row */
    o = run2(OP_MATMUL, F("1,2,2", 1, 0, 0, 2),
             F("3,2,2", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
    CHECKF(o, "3,2,2", 1, 2, 6, 8, 5, 6, 14, 16, 9, 10, 22, 24);
    tensor_destroy(o);
    /* x [2,1,1,2] @ y [3,2,1]: batch dims [2,1] and [3] broadcast to [2,3] */
    o = run2(OP_MATMUL, F("2,1,1,2", 1, 1, 2, -1), F("3,2,1", 1, 2, 3, 4, 5, 6));
    /* row [1,1]: 3, 7, 11; row [2,-1]: 0, 2, 4 */
    CHECKF(o, "2,3,1,1", 3, 7, 11, 0, 2, 4);
    tensor_destroy(o);
}

/* ---- reductions ---- */

static IrAttrs axes(int n, const int64_t *a, bool keep) {
    IrAttrs at = {.nints = n, .keepdim = keep};
    for (int i = 0; i < n; i++) at.ints[i] = a[i];
    return at;
}

static void test_reduce(void **state) {
    /* [[1,2,3],[4,5,6]]: row sums 6, 15; column sums 5, 7, 9 */
    Tensor *o = run1(OP_SUM, F("2,3", 1, 2, 3, 4, 5, 6), axes(1, (int64_t[]){1}, false));
    CHECKF(o, "2", 6, 15);
    tensor_destroy(o);
    o = run1(OP_SUM, F("2,3", 1, 2, 3, 4, 5, 6), axes(1, (int64_t[]){0}, true));
    CHECKF(o, "1,3", 5, 7, 9);
    tensor_destroy(o);
    o = run1(OP_MAX, F("2,3", 1, 9, 3, 4, 5, -6), axes(1, (int64_t[]){1}, true));
    CHECKF(o, "2,1", 9, 5);
    tensor_destroy(o);
    o = run1(OP_MEAN, F("2,3", 1, 2, 3, 4, 5, 6), axes(2, (int64_t[]){0, 1}, false));
    CHECKF(o, "", 3.5); /* 21 / 6 */
    tensor_destroy(o);
    /* [2,2,2] = 0..7, sum over axes 0 and 2: out[j] = sum x[i,j,k]:
     * j=0: 0+1+4+5 = 10, j=1: 2+3+6+7 = 18 */
    o = run1(OP_SUM, F("2,2,2", 0, 1, 2, 3, 4, 5, 6, 7), axes(2, (int64_t[]){0, 2}, false));
    CHECKF(o, "2", 10, 18);
    tensor_destroy(o);
    o = run1(OP_SUM, I("2,2", INT32_MAX, 1, 5, 6), axes(1, (int64_t[]){1}, false));
    CHECKI(o, "2", INT32_MIN, 11);
    tensor_destroy(o);
    o = run1(OP_MAX, I("3", -5, 7, 2), axes(1, (int64_t[]){0}, false));
    CHECKI(o, "", 7);
    tensor_destroy(o);
    /* negative axes are normalised by the builder: axis -1 of [2,3] is 1 */
    o = run1(OP_SUM, F("2,3", 1, 2, 3, 4, 5, 6), axes(1, (int64_t[]){-1}, false));
    CHECKF(o, "2", 6, 15);
    tensor_destroy(o);
}

/* ---- movement ---- */

static void test_movement(void **state) {
    char err[512];
    Tensor *o = run_op(OP_RESHAPE, 1, (Tensor *[]){F("2,3", 1, 2, 3, 4, 5, 6)}, (IrAttrs){0},
                       "3,2", DT_F32, err, sizeof err);
    CHECKF(o, "3,2", 1, 2, 3, 4, 5, 6);
    tensor_destroy(o);
    /* transpose [2,3] -> [3,2]: out[i][j] = x[j][i] */
    o = run1(OP_TRANSPOSE, F("2,3", 1, 2, 3, 4, 5, 6), (IrAttrs){.nints = 2, .ints = {1, 0}});
    CHECKF(o, "3,2", 1, 4, 2, 5, 3, 6);
    tensor_destroy(o);
    /* x[a,b,c] of shape [2,1,3] = 0..5, perm (2,0,1): out[c,a,b] shape [3,2,1] =
     * x[0,0,0], x[1,0,0], x[0,0,1], x[1,0,1], x[0,0,2], x[1,0,2] = 0,3,1,4,2,5 */
    o = run1(OP_TRANSPOSE, I("2,1,3", 0, 1, 2, 3, 4, 5), (IrAttrs){.nints = 3, .ints = {2, 0, 1}});
    CHECKI(o, "3,2,1", 0, 3, 1, 4, 2, 5);
    tensor_destroy(o);
    o = run_op(OP_BROADCAST, 1, (Tensor *[]){F("3,1", 1, 2, 3)}, (IrAttrs){0}, "2,3,2", DT_F32,
               err, sizeof err);
    CHECKF(o, "2,3,2", 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3);
    tensor_destroy(o);
    /* slice axis 1 [1, 3) of [[1,2,3],[4,5,6]] */
    o = run1(OP_SLICE, F("2,3", 1, 2, 3, 4, 5, 6), (IrAttrs){.axis = 1, .start = 1, .end = 3});
    CHECKF(o, "2,2", 2, 3, 5, 6);
    tensor_destroy(o);
    /* split axis -1 of [2,6] into 3 parts, part 1: columns 2..3 */
    o = run1(OP_SPLIT, F("2,6", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11),
             (IrAttrs){.axis = -1, .parts = 3, .index = 1});
    CHECKF(o, "2,2", 2, 3, 8, 9);
    tensor_destroy(o);
    /* concat axis 1: [2,1] ++ [2,2] */
    o = run_op(OP_CONCAT, 2, (Tensor *[]){F("2,1", 1, 2), F("2,2", 3, 4, 5, 6)},
               (IrAttrs){.axis = 1}, NULL, DT_F32, err, sizeof err);
    CHECKF(o, "2,3", 1, 3, 4, 2, 5, 6);
    tensor_destroy(o);
    /* concat axis 0 of three */
    o = run_op(OP_CONCAT, 3, (Tensor *[]){I("1,2", 1, 2), I("2,2", 3, 4, 5, 6), I("1,2", 7, 8)},
               (IrAttrs){.axis = 0}, NULL, DT_F32, err, sizeof err);
    CHECKI(o, "4,2", 1, 2, 3, 4, 5, 6, 7, 8);
    tensor_destroy(o);
    /* gather rows [2, 0, 2] of a [3,2] table -> [1,3,2] with idx shape [1,3] */
    o = run2(OP_GATHER, F("3,2", 10, 11, 20, 21, 30, 31), I("1,3", 2, 0, 2));
    CHECKF(o, "1,3,2", 30, 31, 10, 11, 30, 31);
    tensor_destroy(o);
    /* 1-D table gives scalars per index */
    o = run2(OP_GATHER, I("4", 5, 6, 7, 8), I("2", 3, 1));
    CHECKI(o, "2", 8, 6);
    tensor_destroy(o);
}

static void test_gather_out_of_range(void **state) {
    char err[512];
    Tensor *o = run_op(OP_GATHER, 2, (Tensor *[]){F("3,2", 1, 2, 3, 4, 5, 6), I("2", 1, 3)},
                       (IrAttrs){0}, NULL, DT_F32, err, sizeof err);
    assert_null(o);
    assert_non_null(strstr(err, "gather index 3 at position 1"));
    assert_non_null(strstr(err, "3 rows"));
    o = run_op(OP_GATHER, 2, (Tensor *[]){F("3,2", 1, 2, 3, 4, 5, 6), I("1", -1)},
               (IrAttrs){0}, NULL, DT_F32, err, sizeof err);
    assert_null(o);
    assert_non_null(strstr(err, "gather index -1"));
}

/* ---- nn ---- */

static void test_softmax(void **state) {
    /* softmax([1,2,3]) = [e^-2, e^-1, 1] / (0.135335283 + 0.367879441 + 1 = 1.503214724)
     *                  = [0.090030573, 0.244728471, 0.665240956];
     * log_softmax = [1,2,3] - 3 - log(1.503214724) = [-2.407605964, -1.407605964, -0.407605964].
     * Second row [1000, 1000, 1000] checks the max subtraction: 1/3 each, no overflow. */
    Tensor *o = run1(OP_SOFTMAX, F("2,3", 1, 2, 3, 1000, 1000, 1000), (IrAttrs){.axis = 1});
    CHECKF(o, "2,3", 0.090030573, 0.244728471, 0.665240956, 1.0 / 3, 1.0 / 3, 1.0 / 3);
    tensor_destroy(o);
    o = run1(OP_LOG_SOFTMAX, F("1,3", 1, 2, 3), (IrAttrs){.axis = -1});
    CHECKF(o, "1,3", -2.407605964, -1.407605964, -0.407605964);
    tensor_destroy(o);
    /* along axis 0 of [2,2] = [[0,0],[ln 3, 0]]: column 0 -> [1/4, 3/4], column 1 halves */
    o = run1(OP_SOFTMAX, F("2,2", 0, 0, 1.098612289f, 0), (IrAttrs){.axis = 0});
    CHECKF(o, "2,2", 0.25, 0.5, 0.75, 0.5);
    tensor_destroy(o);
}

static void test_attention(void **state) {
    char err[512];
    /* q = [[1], [2]], k = [[1], [0]], v = [[10], [20]] (Tq = Tk = 2, D = Dv = 1, scale 1).
     * Causal: query 0 sees key 0 only: o = 10, lse = s00 = 1. Query 1 scores [2, 0]:
     * P = [e^2, 1] / (e^2 + 1) = [0.880797078, 0.119202922], o = 8.80797078 + 2.38405844
     * = 11.19202922, lse = log(e^2 + 1) = 2.126928011.
     * Not causal, query 0 scores [1, 0]: o = (10 e + 20) / (e + 1) = 12.68941421,
     * lse = log(e + 1) = 1.313261688. */
#define QKV F("2,1", 1, 2), F("2,1", 1, 0), F("2,1", 10, 20)
    IrAttrs causal = {.scale = 1, .causal = true}, full = {.scale = 1};
    Tensor *o = run_op(OP_ATTENTION, 3, (Tensor *[]){QKV}, causal, NULL, DT_F32, err, sizeof err);
    CHECKF(o, "2,1", 10, 11.19202922);
    tensor_destroy(o);
    o = run_op(OP_ATTENTION, 3, (Tensor *[]){QKV}, full, NULL, DT_F32, err, sizeof err);
    CHECKF(o, "2,1", 12.68941421, 11.19202922);
    tensor_destroy(o);
    o = run_op(OP_ATTENTION_LSE, 2, (Tensor *[]){F("2,1", 1, 2), F("2,1", 1, 0)}, causal, NULL,
               DT_F32, err, sizeof err);
    CHECKF(o, "2", 1, 2.126928011);
    tensor_destroy(o);
    o = run_op(OP_ATTENTION_LSE, 2, (Tensor *[]){F("2,1", 1, 2), F("2,1", 1, 0)}, full, NULL,
               DT_F32, err, sizeof err);
    CHECKF(o, "2", 1.313261688, 2.126928011);
    tensor_destroy(o);
    /* a bias [0, -inf] hides key 1 from both queries: o = v0 = 10, lse = q_i k_0 = [1, 2] */
    o = run_op(OP_ATTENTION, 4, (Tensor *[]){QKV, F("2", 0, -INFINITY)}, full, NULL, DT_F32, err,
               sizeof err);
    CHECKF(o, "2,1", 10, 10);
    tensor_destroy(o);
    /* Tq = 1 < Tk = 2 (decode): causal lets the last query see every key: 2 k = [2, 0] as
     * for query 1 above. A bias of -inf everywhere hides every key: NaN, as softmax of a
     * row of -inf, and lse = -inf. */
    o = run_op(OP_ATTENTION, 3, (Tensor *[]){F("1,1", 2), F("2,1", 1, 0), F("2,1", 10, 20)},
               causal, NULL, DT_F32, err, sizeof err);
    CHECKF(o, "1,1", 11.19202922);
    tensor_destroy(o);
    o = run_op(OP_ATTENTION, 4, (Tensor *[]){QKV, F("1", -INFINITY)}, full, NULL, DT_F32, err,
               sizeof err);
    check(o, DT_F32, "2,1", (const double[]){NAN, NAN}, 0);
    tensor_destroy(o);
    o = run_op(OP_ATTENTION_LSE, 3, (Tensor *[]){F("2,1", 1, 2), F("2,1", 1, 0), F("1", -INFINITY)},
               full, NULL, DT_F32, err, sizeof err);
    check(o, DT_F32, "2", (const double[]){-INFINITY, -INFINITY}, 0);
    tensor_destroy(o);
    /* Gradients of the causal case with do = [[1], [1]] and the o, lse above.
     * P = [[1, 0], [0.880797078, 0.119202922]]; dV = P^T dO = [1.880797078, 0.119202922].
     * dP = dO V^T = [10, 20] per row; D = do . o = [10, 11.19202922];
     * dS = P (dP - D) = [[0, 0], [0.880797078 (-1.19202922), 0.119202922 (8.80797078)]]
     *    = [[0, 0], [-1.049935854, 1.049935854]];
     * dQ = dS K = [0, -1.049935854]; dK = dS^T Q = [-2.099871708, 2.099871708]. */
    double dq[2] = {0, -1.049935854}, dk[2] = {-2.099871708, 2.099871708};
    double dv[2] = {1.880797078, 0.119202922};
    const double *want[3] = {dq, dk, dv};
    for (int index = 0; index < 3; index++) {
        IrAttrs at = causal;
        at.index = index;
        o = run_op(OP_ATTENTION_GRAD, 6,
                   (Tensor *[]){QKV, F("2,1", 10, 11.19202922f), F("2,1", 1, 1), F("2", 1, 2.126928011f)},
                   at, NULL, DT_F32, err, sizeof err);
        check(o, DT_F32, "2,1", want[index], 1e-6);
        tensor_destroy(o);
    }
#undef QKV
}

static void test_layernorm(void **state) {
    char err[512];
    /* row [1,2,3]: mean 2, biased var (1+0+1)/3 = 2/3, 1/sqrt(2/3 + eps) with eps = 0:
     * 1.224744871; normalised [-1.224744871, 0, 1.224744871]; times g=[2,1,0.5] plus
     * b=[1,0,-1]: [-1.449489743, 0, -0.387627564].
     * row [4,4,4]: var 0, eps 1e-5 keeps it finite: (x - mean) = 0, so out = b. */
    Tensor *o = run_op(OP_LAYERNORM, 3,
                       (Tensor *[]){F("2,3", 1, 2, 3, 4, 4, 4), F("3", 2, 1, 0.5), F("3", 1, 0, -1)},
                       (IrAttrs){.eps = 0}, NULL, DT_F32, err, sizeof err);
    /* eps 0 on a constant row is 0 * inf = NaN: documents that eps matters */
    check(o, DT_F32, "2,3", (const double[]){-1.449489743, 0, -0.387627564, NAN, NAN, NAN}, 1e-6);
    tensor_destroy(o);
    o = run_op(OP_LAYERNORM, 3,
               (Tensor *[]){F("2,3", 1, 2, 3, 4, 4, 4), F("3", 2, 1, 0.5), F("3", 1, 0, -1)},
               (IrAttrs){.eps = 1e-5}, NULL, DT_F32, err, sizeof err);
    /* with eps 1e-5: 1/sqrt(0.666676667) = 1.224735686, so [-1.449471372, 0, -0.387632157] */
    CHECKF(o, "2,3", -1.449471372, 0, -0.387632157, 1, 0, -1);
    tensor_destroy(o);
}

static void test_cross_entropy(void **state) {
    char err[512];
    /* logits [[1,2,3],[1,2,3]], targets [2,0]: -log_softmax = 0.407605964 and 2.407605964,
     * mean 1.407605964 */
    Tensor *o = run_op(OP_CROSS_ENTROPY, 2, (Tensor *[]){F("2,3", 1, 2, 3, 1, 2, 3), I("2", 2, 0)},
                       (IrAttrs){0}, NULL, DT_F32, err, sizeof err);
    CHECKF(o, "", 1.407605964);
    tensor_destroy(o);
    /* [1,2,2] logits with [1,2] targets: rows [0,0] target 1 -> ln 2 = 0.693147181, row
     * [0, ln 3] target 1 -> log(4/3) = 0.287682072; mean 0.490414626 */
    o = run_op(OP_CROSS_ENTROPY, 2, (Tensor *[]){F("1,2,2", 0, 0, 0, 1.098612289f), I("1,2", 1, 1)},
               (IrAttrs){0}, NULL, DT_F32, err, sizeof err);
    CHECKF(o, "", 0.490414626);
    tensor_destroy(o);
    o = run_op(OP_CROSS_ENTROPY, 2, (Tensor *[]){F("2,3", 1, 2, 3, 1, 2, 3), I("2", 2, 3)},
               (IrAttrs){0}, NULL, DT_F32, err, sizeof err);
    assert_null(o);
    assert_non_null(strstr(err, "target 3 at position 1 is out of range"));
    assert_non_null(strstr(err, "3 classes"));
}

/* ---- leaves, symbols, the run loop ---- */

static void test_leaves_and_symbols(void **state) {
    /* f(%x: f32[B, 2]) = (x + arange(B)[:, None] as f32, constant 2.5 : f32[B]) */
    IrModule *m = ir_module_create("t");
    IrFunc *f = ir_module_add_func(m, "f");
    IrType tx = ty(m, DT_F32, "B,2");
    IrValue *x = ir_func_add_param(f, "x", &tx);
    char err[512];
    IrType ti = ty(m, DT_I32, "B"), tf = ty(m, DT_F32, "B"), tb1 = ty(m, DT_F32, "B,1");
    IrValue *ar = ir_build(f, OP_ARANGE, NULL, 0, NULL, &ti, NULL, err, sizeof err);
    assert_non_null(ar);
    IrValue *arf = ir_build(f, OP_CAST, &ar, 1, NULL, &tf, NULL, err, sizeof err);
    assert_non_null(arf);
    IrValue *col = ir_build(f, OP_RESHAPE, &arf, 1, NULL, &tb1, NULL, err, sizeof err);
    assert_non_null(col);
    IrValue *sum = ir_build(f, OP_ADD, (IrValue *[]){x, col}, 2, NULL, NULL, NULL, err, sizeof err);
    assert_non_null(sum);
    IrValue *c = ir_build(f, OP_CONSTANT, NULL, 0, &(IrAttrs){.value = 2.5}, &tf, NULL, err,
                          sizeof err);
    assert_non_null(c);
    ir_func_set_results(f, (IrValue *[]){sum, c, x}, 3);
    Tensor *in = F("3,2", 1, 1, 1, 1, 1, 1), *out[3];
    assert_true(ref_run(f, NULL, &in, out, err, sizeof err));
    CHECKF(out[0], "3,2", 1, 1, 2, 2, 3, 3);
    CHECKF(out[1], "3", 2.5, 2.5, 2.5);
    CHECKF(out[2], "3,2", 1, 1, 1, 1, 1, 1); /* an input as a result is copied */
    assert_ptr_not_equal(out[2], in);
    for (int i = 0; i < 3; i++) tensor_destroy(out[i]);
    /* the same function with B = 1 */
    tensor_destroy(in);
    in = F("1,2", 5, 6);
    assert_true(ref_run(f, NULL, &in, out, err, sizeof err));
    CHECKF(out[0], "1,2", 5, 6);
    for (int i = 0; i < 3; i++) tensor_destroy(out[i]);
    tensor_destroy(in);
    ir_module_destroy(m);
}

static void test_input_errors(void **state) {
    IrModule *m = ir_module_create("t");
    IrFunc *f = ir_module_add_func(m, "f");
    IrType ta = ty(m, DT_F32, "B,3"), tb = ty(m, DT_F32, "B,3");
    IrValue *a = ir_func_add_param(f, "a", &ta), *b = ir_func_add_param(f, "b", &tb);
    char err[512];
    IrValue *s = ir_build(f, OP_ADD, (IrValue *[]){a, b}, 2, NULL, NULL, NULL, err, sizeof err);
    ir_func_set_results(f, &s, 1);
    Tensor *out = NULL;
    /* B bound to 2 by a, then 4 by b */
    Tensor *ins[2] = {mk(DT_F32, "2,3", NULL), mk(DT_F32, "4,3", NULL)};
    assert_false(ref_run(f, NULL, ins, &out, err, sizeof err));
    assert_null(out);
    assert_non_null(strstr(err, "input 'b' dim 0"));
    assert_non_null(strstr(err, "B is 4 here but 2 from input 'a' dim 0"));
    tensor_destroy(ins[1]);
    /* fixed dim wrong: 2 x 4 against [B, 3] */
    ins[1] = mk(DT_F32, "2,4", NULL);
    assert_false(ref_run(f, NULL, ins, &out, err, sizeof err));
    assert_non_null(strstr(err, "input 'b'"));
    assert_non_null(strstr(err, "dim 1 is 4, not 3"));
    tensor_destroy(ins[1]);
    /* wrong rank and wrong dtype */
    ins[1] = mk(DT_F32, "6", NULL);
    assert_false(ref_run(f, NULL, ins, &out, err, sizeof err));
    assert_non_null(strstr(err, "rank"));
    tensor_destroy(ins[1]);
    ins[1] = mk(DT_I32, "2,3", NULL);
    assert_false(ref_run(f, NULL, ins, &out, err, sizeof err));
    assert_non_null(strstr(err, "dtypes differ"));
    tensor_destroy(ins[1]);
    tensor_destroy(ins[0]);
    ir_module_destroy(m);
}

static void test_weights_and_chain(void **state) {
    /* f(%x: f32[2, 2]) = softmax(x @ w + b) with weights w [2,2], b [2]; the chain of
     * values exercises freeing after last use. x = I, w = [[0, ln3], [0, 0]], b = 0:
     * row 0 = softmax([0, ln 3]) = [1/4, 3/4], row 1 = softmax([0, 0]) = [1/2, 1/2]. */
    IrModule *m = ir_module_create("t");
    IrType tw = ty(m, DT_F32, "2,2"), tb = ty(m, DT_F32, "2");
    ir_module_add_weight(m, "w", &tw, (IrInit){INIT_ZEROS, 0, 0});
    ir_module_add_weight(m, "b", &tb, (IrInit){INIT_ZEROS, 0, 0});
    IrFunc *f = ir_module_add_func(m, "f");
    IrValue *x = ir_func_add_param(f, "x", &tw);
    char err[512];
    IrValue *w = ir_build(f, OP_WEIGHT, NULL, 0, &(IrAttrs){.name = ir_intern(m, "w", 1)}, &tw,
                          NULL, err, sizeof err);
    IrValue *b = ir_build(f, OP_WEIGHT, NULL, 0, &(IrAttrs){.name = ir_intern(m, "b", 1)}, &tb,
                          NULL, err, sizeof err);
    assert_non_null(w);
    assert_non_null(b);
    IrValue *mm = ir_build(f, OP_MATMUL, (IrValue *[]){x, w}, 2, NULL, NULL, NULL, err, sizeof err);
    IrValue *ad = ir_build(f, OP_ADD, (IrValue *[]){mm, b}, 2, NULL, NULL, NULL, err, sizeof err);
    IrValue *dead = ir_build(f, OP_EXP, &ad, 1, NULL, NULL, NULL, err, sizeof err); /* unused */
    assert_non_null(dead);
    IrValue *sm = ir_build(f, OP_SOFTMAX, &ad, 1, &(IrAttrs){.axis = 1}, NULL, NULL, err,
                           sizeof err);
    assert_non_null(sm);
    ir_func_set_results(f, (IrValue *[]){sm, sm, w}, 3);
    Tensor *ws[2] = {F("2,2", 0, 1.098612289f, 0, 0), F("2", 0, 0)};
    Tensor *in = F("2,2", 1, 0, 0, 1), *out[3];
    assert_true(ref_run(f, ws, &in, out, err, sizeof err));
    CHECKF(out[0], "2,2", 0.25, 0.75, 0.5, 0.5);
    CHECKF(out[1], "2,2", 0.25, 0.75, 0.5, 0.5);
    assert_ptr_not_equal(out[0], out[1]);
    CHECKF(out[2], "2,2", 0, 1.098612289, 0, 0);
    for (int i = 0; i < 3; i++) tensor_destroy(out[i]);
    /* a weight of the wrong shape is named */
    tensor_destroy(ws[1]);
    ws[1] = F("3", 0, 0, 0);
    assert_false(ref_run(f, ws, &in, out, err, sizeof err));
    assert_non_null(strstr(err, "weight 'b'"));
    for (int i = 0; i < 2; i++) tensor_destroy(ws[i]);
    tensor_destroy(in);
    ir_module_destroy(m);
}

/* A declared type the computed shape contradicts (IR edited by hand, or a bug in shape
 * inference) is reported, not trusted: the oracle checks inference too. */
static void test_declared_type_checked(void **state) {
    IrModule *m = ir_module_create("t");
    IrFunc *f = ir_module_add_func(m, "f");
    IrType tx = ty(m, DT_F32, "2,3");
    IrValue *x = ir_func_add_param(f, "x", &tx);
    char err[512];
    IrValue *e = ir_build(f, OP_EXP, &x, 1, NULL, NULL, NULL, err, sizeof err);
    ir_func_set_results(f, &e, 1);
    e->type.dims[1] = ir_dim_int(4); /* corrupt it */
    Tensor *in = mk(DT_F32, "2,3", NULL), *out = NULL;
    assert_false(ref_run(f, NULL, &in, &out, err, sizeof err));
    assert_non_null(strstr(err, "@f, %0 = exp: the result of %0 = exp has shape [2, 3] but is "
                                "declared f32[2, 4]: dim 1 is 3, not 4"));
    tensor_destroy(in);
    ir_module_destroy(m);
}

static void test_half_conversions(void **state) {
    /* 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff (max), 65520 rounds to inf 0x7c00,
     * 2^-24 = 0x0001 (smallest subnormal), 0.1 = 0x2e66 (0.0999755859375) */
    assert_int_equal(ref_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(ref_f32_to_f16(-2.0f), 0xc000);
    assert_int_equal(ref_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(ref_f32_to_f16(65520.0f), 0x7c00);
    assert_int_equal(ref_f32_to_f16(ldexpf(1.0f, -24)), 0x0001);
    assert_int_equal(ref_f32_to_f16(0.1f), 0x2e66);
    assert_true(ref_f16_to_f32(0x2e66) == 0.0999755859375f);
    assert_true(ref_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    assert_true(isinf(ref_f16_to_f32(0x7c00)));
    for (uint32_t h = 0; h < 0x7c00; h++) /* every finite positive half round-trips */
        assert_int_equal(ref_f32_to_f16(ref_f16_to_f32((uint16_t)h)), h);
    /* bf16: 1.0 = 0x3f80; 1 + 2^-8 is halfway between 0x3f80 and 0x3f81: ties to even */
    assert_int_equal(ref_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(ref_f32_to_bf16(1.0f + ldexpf(1.0f, -8)), 0x3f80);
    assert_int_equal(ref_f32_to_bf16(1.0f + 3 * ldexpf(1.0f, -8)), 0x3f82);
    assert_true(ref_bf16_to_f32(0x3f80) == 1.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_broadcast), cmocka_unit_test(test_binary_ops),
        cmocka_unit_test(test_binary_i32),       cmocka_unit_test(test_binary_errors),
        cmocka_unit_test(test_unary),            cmocka_unit_test(test_cast_where),
        cmocka_unit_test(test_matmul),           cmocka_unit_test(test_reduce),
        cmocka_unit_test(test_movement),         cmocka_unit_test(test_gather_out_of_range),
        cmocka_unit_test(test_softmax),          cmocka_unit_test(test_attention),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_cross_entropy),    cmocka_unit_test(test_leaves_and_symbols),
        cmocka_unit_test(test_input_errors),     cmocka_unit_test(test_weights_and_chain),
        cmocka_unit_test(test_declared_type_checked), cmocka_unit_test(test_half_conversions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
