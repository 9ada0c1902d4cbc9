/* test_init.c — deterministic weight initialisation, and weight loading for a model run.
 *
 * The generator's building blocks are checked against published values (splitmix64's
 * first outputs from state 0, FNV-1a of "a"), so that an implementation elsewhere can be
 * checked against the same numbers; distributions are checked statistically with bounds
 * of several standard errors, never against pasted outputs of this code. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/init.h"
#include "runtime/model_run.h"
#include "runtime/safetensors.h"

static void test_generator(void **state) {
    /* splitmix64 from state 0 yields 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4,
     * 0x06C45D188009454F (Vigna's reference implementation) */
    assert_true(rt_init_draw(0, 0) == UINT64_C(0xE220A8397B1DCDAF));
    assert_true(rt_init_draw(0, 1) == UINT64_C(0x6E789E6AA1B965F4));
    assert_true(rt_init_draw(0, 2) == UINT64_C(0x06C45D188009454F));
    /* the key depends on both seed and name */
    assert_true(rt_init_key(1, "a") != rt_init_key(2, "a"));
    assert_true(rt_init_key(1, "a") != rt_init_key(1, "b"));
    assert_true(rt_init_key(1, "wte") == rt_init_key(1, "wte"));
}

static Tensor *draw(IrInit init, uint64_t seed, const char *name, int64_t n) {
    char err[256];
    Tensor *t = tensor_create(DT_F32, 1, &n, err, sizeof err);
    assert_non_null(t);
    if (!rt_init_fill(t, init, seed, name, err, sizeof err)) fail_msg("%s", err);
    return t;
}

static void test_distributions(void **state) {
    enum { N = 100001 }; /* odd: the last element uses the cos half of its pair */
    Tensor *t = draw((IrInit){INIT_NORMAL, 0.02, 0}, 7, "w", N);
    const float *x = t->data;
    double mean = 0, var = 0;
    for (int i = 0; i < N; i++) mean += x[i];
    mean /= N;
    for (int i = 0; i < N; i++) var += (x[i] - mean) * (x[i] - mean);
    double sd = sqrt(var / N);
    /* standard error of the mean: 0.02 / sqrt(N) = 6.3e-5; of the std: ~0.02/sqrt(2N) */
    assert_true(fabs(mean) < 5 * 0.02 / sqrt(N));
    assert_true(fabs(sd - 0.02) < 5 * 0.02 / sqrt(2.0 * N));
    assert_true(isfinite(x[N - 1]));
    /* the same seed and name give the same tensor; another name does not */
    Tensor *u = draw((IrInit){INIT_NORMAL, 0.02, 0}, 7, "w", N);
    assert_memory_equal(t->data, u->data, sizeof(float) * N);
    tensor_destroy(u);
    u = draw((IrInit){INIT_NORMAL, 0.02, 0}, 7, "v", N);
    assert_true(memcmp(t->data, u->data, sizeof(float) * 16) != 0);
    tensor_destroy(u);
    /* a prefix is stable: drawing fewer elements gives the first ones */
    u = draw((IrInit){INIT_NORMAL, 0.02, 0}, 7, "w", 10);
    assert_memory_equal(t->data, u->data, sizeof(float) * 10);
    tensor_destroy(u);
    tensor_destroy(t);

    t = draw((IrInit){INIT_UNIFORM, -1, 3}, 1, "u", N);
    x = t->data;
    double lo = 1e9, hi = -1e9;
    mean = 0;
    for (int i = 0; i < N; i++) {
        mean += x[i];
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    mean /= N;
    /* uniform(-1, 3): mean 1, std 4/sqrt(12) = 1.1547 */
    assert_true(lo >= -1 && hi < 3);
    assert_true(lo < -0.99 && hi > 2.99);
    assert_true(fabs(mean - 1) < 5 * 1.1547 / sqrt(N));
    tensor_destroy(t);

    t = draw((IrInit){INIT_CONSTANT, 0.25, 0}, 1, "c", 3);
    assert_true(((float *)t->data)[2] == 0.25f);
    tensor_destroy(t);
    t = draw((IrInit){INIT_ONES, 0, 0}, 1, "o", 3);
    assert_true(((float *)t->data)[0] == 1.0f);
    tensor_destroy(t);
}

static void test_init_errors(void **state) {
    char err[256];
    int64_t n = 4;
    Tensor *t = tensor_create(DT_I32, 1, &n, err, sizeof err);
    assert_false(rt_init_fill(t, (IrInit){INIT_NORMAL, 1, 0}, 1, "idx", err, sizeof err));
    assert_non_null(strstr(err, "weight 'idx'"));
    assert_true(rt_init_fill(t, (IrInit){INIT_ONES, 0, 0}, 1, "idx", err, sizeof err));
    assert_int_equal(((int32_t *)t->data)[3], 1);
    tensor_destroy(t);
    t = tensor_create(DT_F32, 1, &n, err, sizeof err);
    assert_false(rt_init_fill(t, (IrInit){INIT_UNIFORM, 2, 1}, 1, "w", err, sizeof err));
    assert_non_null(strstr(err, "empty range"));
    assert_false(rt_init_fill(t, (IrInit){INIT_NORMAL, -1, 0}, 1, "w", err, sizeof err));
    assert_non_null(strstr(err, "std >= 0"));
    tensor_destroy(t);
}

/* Weights from a module: adding a weight leaves the others' values unchanged, and a
 * checkpoint overrides by name with shape checks. */
static void test_weights_load(void **state) {
    char err[512];
    IrType t23 = {.dtype = DT_F32, .rank = 2, .dims = {{2, NULL}, {3, NULL}}};
    IrType t4 = {.dtype = DT_F32, .rank = 1, .dims = {{4, NULL}}};
    IrModule *m1 = ir_module_create("a"), *m2 = ir_module_create("b");
    ir_module_add_weight(m1, "w", &t23, (IrInit){INIT_NORMAL, 1, 0});
    ir_module_add_weight(m2, "extra", &t4, (IrInit){INIT_UNIFORM, 0, 1});
    ir_module_add_weight(m2, "w", &t23, (IrInit){INIT_NORMAL, 1, 0});
    Tensor **w1, **w2;
    int n1, n2;
    assert_true(rt_weights_load(m1, NULL, 5, NULL, &w1, &n1, err, sizeof err));
    assert_true(rt_weights_load(m2, NULL, 5, NULL, &w2, &n2, err, sizeof err));
    assert_int_equal(n1, 1);
    assert_int_equal(n2, 2);
    assert_memory_equal(w1[0]->data, w2[1]->data, 24);

    /* a checkpoint with w (other values) and an unknown tensor: w is taken from it */
    char dir[] = "/tmp/tfc_test_init_XXXXXX", p[64];
    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof p, "%s/w.safetensors", dir);
    for (int i = 0; i < 6; i++) ((float *)w1[0]->data)[i] = (float)i;
    const char *names[2] = {"w", "h.0.attn.bias"};
    Tensor *ts[2] = {w1[0], w2[0]};
    assert_true(rt_safetensors_write(p, names, ts, 2, err, sizeof err));
    Tensor **w3;
    int n3;
    char *buf = NULL;
    size_t blen = 0;
    FILE *warn = open_memstream(&buf, &blen);
    assert_true(rt_weights_load(m2, p, 5, warn, &w3, &n3, err, sizeof err));
    fclose(warn);
    assert_memory_equal(w3[1]->data, w1[0]->data, 24);
    assert_non_null(strstr(buf, "1 model weight not in"));
    assert_non_null(strstr(buf, "extra"));
    assert_non_null(strstr(buf, "h.0.attn.bias"));
    free(buf);
    rt_tensors_free(w3, n3);

    /* a shape mismatch names the weight and both types */
    const char *bad[1] = {"w"};
    Tensor *t4t = w2[0];
    assert_true(rt_safetensors_write(p, bad, &t4t, 1, err, sizeof err));
    assert_false(rt_weights_load(m2, p, 5, NULL, &w3, &n3, err, sizeof err));
    assert_non_null(strstr(err, "weight 'w' is f32[2, 3] in the model but f32[4]"));
    unlink(p);
    rmdir(dir);
    rt_tensors_free(w1, n1);
    rt_tensors_free(w2, n2);
    ir_module_destroy(m1);
    ir_module_destroy(m2);
}

/* rt_model_run end to end: inputs matched by name, a missing input named. */
static void test_model_run(void **state) {
    char err[512];
    IrModule *m = ir_module_create("m");
    IrType t2 = {.dtype = DT_F32, .rank = 1, .dims = {{2, NULL}}};
    ir_module_add_weight(m, "b", &t2, (IrInit){INIT_CONSTANT, 10, 0});
    IrFunc *f = ir_module_add_func(m, "forward");
    IrValue *x = ir_func_add_param(f, "x", &t2);
    IrValue *y = ir_func_add_param(f, "y", &t2);
    IrValue *b = ir_build(f, OP_WEIGHT, NULL, 0, &(IrAttrs){.name = ir_intern(m, "b", 1)}, &t2,
                          NULL, err, sizeof err);
    IrValue *s = ir_build(f, OP_SUB, (IrValue *[]){x, y}, 2, NULL, NULL, NULL, err, sizeof err);
    IrValue *r = ir_build(f, OP_ADD, (IrValue *[]){s, b}, 2, NULL, NULL, NULL, err, sizeof err);
    assert_non_null(r);
    ir_func_set_results(f, &r, 1);
    int64_t two = 2;
    Tensor *tx = tensor_create(DT_F32, 1, &two, err, sizeof err);
    Tensor *ty = tensor_create(DT_F32, 1, &two, err, sizeof err);
    ((float *)tx->data)[0] = 5;
    ((float *)ty->data)[1] = 1;
    /* given in the other order, by name: out = x - y + 10 = [15, 9] */
    RtNamedTensor ins[2] = {{"y", ty}, {"x", tx}};
    RtRunOptions o = {.func = "forward", .quiet = true};
    RtOutputs out;
    if (!rt_model_run(m, &o, ins, 2, &out, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(out.n, 1);
    assert_string_equal(out.names[0], "output0");
    assert_true(((float *)out.tensors[0]->data)[0] == 15 && ((float *)out.tensors[0]->data)[1] == 9);
    rt_outputs_free(&out);
    assert_false(rt_model_run(m, &o, ins, 1, &out, err, sizeof err));
    assert_int_equal(out.n, 0);
    assert_non_null(strstr(err, "input 'x' (f32[2]) of @forward was not given"));
    RtNamedTensor wrong[1] = {{"z", tx}};
    assert_false(rt_model_run(m, &o, wrong, 1, &out, err, sizeof err));
    assert_non_null(strstr(err, "has no input 'z' (its inputs: x y)"));
    RtNamedTensor twice[2] = {{"x", tx}, {"x", ty}};
    assert_false(rt_model_run(m, &o, twice, 2, &out, err, sizeof err));
    assert_non_null(strstr(err, "input 'x' is given twice"));
    o.func = "backward";
    assert_false(rt_model_run(m, &o, NULL, 0, &out, err, sizeof err));
    assert_non_null(strstr(err, "no function @backward (it has: @forward)"));
    tensor_destroy(tx);
    tensor_destroy(ty);
    ir_module_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generator),   cmocka_unit_test(test_distributions),
        cmocka_unit_test(test_init_errors), cmocka_unit_test(test_weights_load),
        cmocka_unit_test(test_model_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
