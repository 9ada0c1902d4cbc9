/* test_vulkan.c — the Vulkan backend against the reference backend: every op on random
 * inputs of awkward shapes (1, primes, sizes that are not multiples of a workgroup or
 * a matmul tile), symbolic dims at two sizes with one compiled function, the
 * run-time errors (gather / scatter_add / cross_entropy indices, integer division by
 * zero) with ref's exact messages, the memory limits (maxStorageBufferRange, an
 * allocation cap), the artifact and the caches.
 *
 * Runs with the Khronos validation layer (TFC_VK_VALIDATE=1) when it is installed and
 * fails on any validation error. Without a Vulkan device every test prints SKIP and why.
 * Tolerance: |vk - ref| <= 1e-5 + 1e-4 |ref| per element (2e-4 for matmul, whose float32
 * sums are compared with ref's double ones).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backends/ref/ref.h"
#include "backends/vulkan/vk.h"
#include "ir/ir.h"
#include "passes/autodiff.h"

static Backend *vk;
static char skip_reason[1100];
static int validated; /* layer present: validation errors are checked */

static uint64_t rng = 88172645463325252ull;
static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

#define SKIP_IF_NO_VK()                                  \
    do {                                                 \
        if (!vk) {                                       \
            printf("SKIP: %s\n", skip_reason);           \
            skip();                                      \
        }                                                \
    } while (0)

static IrModule *parse(const char *src) {
    Diag d;
    diag_init(&d, "case", src, strlen(src), stderr);
    IrModule *m = ir_parse(src, strlen(src), &d);
    assert_non_null(m);
    char err[256];
    if (!ir_verify(m, err, sizeof err)) fail_msg("verify: %s", err);
    return m;
}

/* spec: "f32 3,5" (normal-ish values), "i32 4 7" (ints in 0..6), "pos 3,5" (positive). */
static Tensor *make_input(const char *spec) {
    char kind[8];
    int64_t dims[IR_MAX_RANK];
    int rank = 0, range = 0, n = 0;
    sscanf(spec, "%7s %n", kind, &n);
    const char *p = spec + n;
    while (*p && *p != ' ') {
        if (*p == '-') { p++; break; } /* "-": rank 0 */
        dims[rank++] = strtoll(p, (char **)&p, 10);
        if (*p == ',') p++;
    }
    if (*p == ' ') range = atoi(p + 1);
    char err[128];
    bool plus1 = strcmp(kind, "i32p") == 0; /* ints in 1..range */
    Tensor *t = tensor_create(strncmp(kind, "i32", 3) == 0 ? DT_I32 : DT_F32, rank, dims, err, sizeof err);
    assert_non_null(t);
    for (int64_t i = 0; i < tensor_numel(t); i++) {
        if (t->dtype == DT_I32)
            ((int32_t *)t->data)[i] = range ? (int32_t)(urand() * range) + plus1 : (int32_t)(urand() * 21) - 10;
        else if (strcmp(kind, "pos") == 0)
            ((float *)t->data)[i] = (float)(0.1 + 2 * urand());
        else
            ((float *)t->data)[i] = (float)(4 * urand() - 2);
    }
    return t;
}

static void compare(const char *what, const Tensor *a, const Tensor *b, double tol) {
    assert_int_equal(a->dtype, b->dtype);
    assert_int_equal(a->rank, b->rank);
    for (int i = 0; i < a->rank; i++) assert_int_equal(a->dims[i], b->dims[i]);
    int64_t n = tensor_numel(a), bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = ref_load(a, i), y = ref_load(b, i);
        if (isnan(x) && isnan(y)) continue;
        double d = fabs(x - y), lim = 1e-5 + tol * fabs(y);
        if (!(d <= lim)) {
            if (bad++ < 3) fprintf(stderr, "  %s: element %lld: vulkan %.9g, ref %.9g\n", what, (long long)i, x, y);
            if (d > worst || isnan(d)) worst = d;
        }
    }
    if (bad) fail_msg("%s: %lld of %lld elements differ from ref", what, (long long)bad, (long long)n);
}

/* Run @forward of src on both backends with inputs from specs (NULL-terminated). */
static bool case_grad; /* check @forward_grad (autodiff) instead of @forward */

static void check_case(const char *what, const char *src, double tol, ...) {
    IrModule *m = parse(src);
    IrFunc *f = ir_module_find_func(m, "forward");
    assert_non_null(f);
    if (case_grad) {
        char gerr[512];
        f = ad_build_grad_func(f, 0, gerr, sizeof gerr);
        if (!f) fail_msg("%s: grad: %s", what, gerr);
    }
    Tensor *in[8] = {0};
    va_list ap;
    va_start(ap, tol);
    int nin = 0;
    for (const char *s; (s = va_arg(ap, const char *));) in[nin++] = make_input(s);
    va_end(ap);
    int nw = 0;
    for (IrWeight *w = m->weights; w; w = w->next) nw++;
    Tensor *ws[8] = {0};
    int i = 0;
    for (IrWeight *w = m->weights; w; w = w->next, i++) {
        char spec[64];
        int k = snprintf(spec, sizeof spec, "f32 ");
        for (int d = 0; d < w->type.rank; d++)
            k += snprintf(spec + k, sizeof spec - (size_t)k, d ? ",%lld" : "%lld", (long long)w->type.dims[d].size);
        ws[i] = make_input(spec);
    }
    Tensor *ro[8] = {0}, *vo[8] = {0};
    char err[1024];
    if (!ref_run(f, ws, in, ro, err, sizeof err)) fail_msg("%s: ref: %s", what, err);
    BkExec *e = vk->compile(vk, f, err, sizeof err);
    if (!e) fail_msg("%s: compile: %s", what, err);
    if (!vk->run(e, ws, in, vo, err, sizeof err)) fail_msg("%s: run: %s", what, err);
    for (int r = 0; r < f->nresults; r++) {
        compare(what, vo[r], ro[r], tol);
        tensor_destroy(vo[r]);
        tensor_destroy(ro[r]);
    }
    vk->exec_destroy(e);
    for (int k = 0; k < nin; k++) tensor_destroy(in[k]);
    for (int k = 0; k < nw; k++) tensor_destroy(ws[k]);
    ir_module_destroy(m);
}

#define UNARY(op, kind)                                                                     \
    check_case(op, "module @t { func @forward(%x: f32[B, 13]) -> (f32[B, 13]) {\n"         \
                   "  %0 = " op " %x : f32[B, 13]\n  return %0\n} }", 1e-4, kind " 7,13", NULL)

static void test_unary(void **state) {
    SKIP_IF_NO_VK();
    UNARY("neg", "f32"); UNARY("exp", "f32"); UNARY("log", "pos"); UNARY("sqrt", "pos");
    UNARY("rsqrt", "pos"); UNARY("tanh", "f32"); UNARY("sigmoid", "f32"); UNARY("relu", "f32");
    UNARY("gelu", "f32"); UNARY("abs", "f32");
    check_case("i32 neg/abs/relu", "module @t { func @forward(%x: i32[5, 3]) -> (i32[5, 3], i32[5, 3], i32[5, 3]) {\n"
               "  %0 = neg %x : i32[5, 3]\n  %1 = abs %x : i32[5, 3]\n  %2 = relu %x : i32[5, 3]\n"
               "  return %0, %1, %2\n} }", 0, "i32 5,3", NULL);
    check_case("cast", "module @t { func @forward(%x: f32[7, 3], %i: i32[7, 3]) -> (i32[7, 3], f32[7, 3]) {\n"
               "  %0 = cast %x : i32[7, 3]\n  %1 = cast %i : f32[7, 3]\n  return %0, %1\n} }", 0,
               "f32 7,3", "i32 7,3", NULL);
}

#define BINARY(op)                                                                           \
    check_case(op, "module @t { func @forward(%x: f32[B, 1, 5], %y: f32[3, 1]) -> (f32[B, 3, 5]) {\n" \
                   "  %0 = " op " %x, %y : f32[B, 3, 5]\n  return %0\n} }", 1e-4, "f32 4,1,5", "f32 3,1", NULL)

static void test_binary(void **state) {
    SKIP_IF_NO_VK();
    BINARY("add"); BINARY("sub"); BINARY("mul"); BINARY("div"); BINARY("maximum");
    BINARY("minimum"); BINARY("eq"); BINARY("lt"); BINARY("le");
    check_case("pow", "module @t { func @forward(%x: f32[6, 5], %y: f32[5]) -> (f32[6, 5]) {\n"
               "  %0 = pow %x, %y : f32[6, 5]\n  return %0\n} }", 1e-4, "pos 6,5", "f32 5", NULL);
    check_case("i32 binary", "module @t { func @forward(%x: i32[6, 5], %y: i32[5]) -> (i32[6, 5], i32[6, 5], i32[6, 5], i32[6, 5]) {\n"
               "  %0 = add %x, %y : i32[6, 5]\n  %1 = mul %x, %y : i32[6, 5]\n  %2 = div %x, %y : i32[6, 5]\n"
               "  %3 = pow %x, %y : i32[6, 5]\n  return %0, %1, %2, %3\n} }", 0, "i32 6,5", "i32p 5 4", NULL);
    check_case("where", "module @t { func @forward(%c: i32[4, 1], %x: f32[4, 6], %y: f32[6]) -> (f32[4, 6]) {\n"
               "  %0 = where %c, %x, %y : f32[4, 6]\n  return %0\n} }", 0, "i32 4,1 2", "f32 4,6", "f32 6", NULL);
}

static void test_matmul(void **state) {
    SKIP_IF_NO_VK();
    check_case("matmul 2d awkward", "module @t { func @forward(%x: f32[67, 131], %y: f32[131, 71]) -> (f32[67, 71]) {\n"
               "  %0 = matmul %x, %y : f32[67, 71]\n  return %0\n} }", 2e-4, "f32 67,131", "f32 131,71", NULL);
    check_case("matmul 1x1", "module @t { func @forward(%x: f32[1, 1], %y: f32[1, 1]) -> (f32[1, 1]) {\n"
               "  %0 = matmul %x, %y : f32[1, 1]\n  return %0\n} }", 2e-4, "f32 1,1", "f32 1,1", NULL);
    check_case("matmul batched broadcast", "module @t { func @forward(%x: f32[B, 3, 5, 7], %y: f32[3, 7, 9]) -> (f32[B, 3, 5, 9]) {\n"
               "  %0 = matmul %x, %y : f32[B, 3, 5, 9]\n  return %0\n} }", 2e-4, "f32 2,3,5,7", "f32 3,7,9", NULL);
}

static void test_reduce(void **state) {
    SKIP_IF_NO_VK();
    check_case("sum last", "module @t { func @forward(%x: f32[B, 7, 300]) -> (f32[B, 7]) {\n"
               "  %0 = sum %x {axes = [2], keepdim = false} : f32[B, 7]\n  return %0\n} }", 1e-4, "f32 3,7,300", NULL);
    check_case("sum first two", "module @t { func @forward(%x: f32[B, 7, 11]) -> (f32[1, 1, 11]) {\n"
               "  %0 = sum %x {axes = [0, 1], keepdim = true} : f32[1, 1, 11]\n  return %0\n} }", 1e-4, "f32 5,7,11", NULL);
    check_case("max middle", "module @t { func @forward(%x: f32[5, 7, 11]) -> (f32[5, 11]) {\n"
               "  %0 = max %x {axes = [1], keepdim = false} : f32[5, 11]\n  return %0\n} }", 0, "f32 5,7,11", NULL);
    check_case("mean all", "module @t { func @forward(%x: f32[5, 7, 11]) -> (f32[]) {\n"
               "  %0 = mean %x {axes = [0, 1, 2], keepdim = false} : f32[]\n  return %0\n} }", 1e-4, "f32 5,7,11", NULL);
    check_case("i32 sum max", "module @t { func @forward(%x: i32[5, 7]) -> (i32[5], i32[7]) {\n"
               "  %0 = sum %x {axes = [1], keepdim = false} : i32[5]\n"
               "  %1 = max %x {axes = [0], keepdim = false} : i32[7]\n  return %0, %1\n} }", 0, "i32 5,7", NULL);
}

static void test_movement(void **state) {
    SKIP_IF_NO_VK();
    check_case("reshape transpose", "module @t { func @forward(%x: f32[B, 6, 5]) -> (f32[5, B, 6], f32[B, 30]) {\n"
               "  %0 = transpose %x {perm = [2, 0, 1]} : f32[5, B, 6]\n  %1 = reshape %x : f32[B, 30]\n"
               "  return %0, %1\n} }", 0, "f32 3,6,5", NULL);
    check_case("broadcast slice split concat", "module @t { func @forward(%x: f32[3, 1, 5], %y: f32[3, 4, 5]) -> (f32[3, 4, 5], f32[3, 2, 5], f32[3, 2, 5], f32[3, 6, 5]) {\n"
               "  %0 = broadcast %x : f32[3, 4, 5]\n  %1 = slice %y {axis = 1, start = 1, end = 3} : f32[3, 2, 5]\n"
               "  %2 = split %y {axis = 1, parts = 2, index = 1} : f32[3, 2, 5]\n"
               "  %3 = concat %y, %2 {axis = 1} : f32[3, 6, 5]\n  return %0, %1, %2, %3\n} }", 0,
               "f32 3,1,5", "f32 3,4,5", NULL);
    check_case("gather scatter_add", "module @t { func @forward(%t: f32[11, 6], %i: i32[B, 5], %u: f32[B, 5, 6]) -> (f32[B, 5, 6], f32[11, 6]) {\n"
               "  %0 = gather %t, %i : f32[B, 5, 6]\n  %1 = scatter_add %i, %u : f32[11, 6]\n  return %0, %1\n} }",
               1e-5, "f32 11,6", "i32 2,5 11", "f32 2,5,6", NULL);
    check_case("arange constant", "module @t { func @forward(%x: f32[T]) -> (i32[T], f32[T]) {\n"
               "  %0 = arange : i32[T]\n  %1 = constant {value = 0.1} : f32[]\n  %2 = add %x, %1 : f32[T]\n"
               "  return %0, %2\n} }", 0, "f32 9", NULL);
}

static void test_nn(void **state) {
    SKIP_IF_NO_VK();
    check_case("softmax last", "module @t { func @forward(%x: f32[B, 3, 37]) -> (f32[B, 3, 37], f32[B, 3, 37]) {\n"
               "  %0 = softmax %x {axis = 2} : f32[B, 3, 37]\n  %1 = log_softmax %x {axis = 2} : f32[B, 3, 37]\n"
               "  return %0, %1\n} }", 1e-4, "f32 2,3,37", NULL);
    check_case("softmax middle", "module @t { func @forward(%x: f32[4, 300, 3]) -> (f32[4, 300, 3]) {\n"
               "  %0 = softmax %x {axis = 1} : f32[4, 300, 3]\n  return %0\n} }", 1e-4, "f32 4,300,3", NULL);
    check_case("layernorm", "module @t { func @forward(%x: f32[B, 5, 77], %g: f32[77], %b: f32[77]) -> (f32[B, 5, 77]) {\n"
               "  %0 = layernorm %x, %g, %b {eps = 1e-05} : f32[B, 5, 77]\n  return %0\n} }", 2e-4,
               "f32 3,5,77", "f32 77", "f32 77", NULL);
    check_case("layernorm_grad", "module @t { func @forward(%x: f32[B, 5, 77], %g: f32[77], %dy: f32[B, 5, 77]) -> (f32[B, 5, 77]) {\n"
               "  %0 = layernorm_grad %x, %g, %dy {eps = 1e-05} : f32[B, 5, 77]\n  return %0\n} }", 2e-4,
               "f32 3,5,77", "f32 77", "f32 3,5,77", NULL);
    check_case("cross_entropy", "module @t { func @forward(%l: f32[B, 5, 29], %t: i32[B, 5]) -> (f32[]) {\n"
               "  %0 = cross_entropy %l, %t : f32[]\n  return %0\n} }", 1e-4, "f32 3,5,29", "i32 3,5 29", NULL);
}

/* Forward and backward of a small language model (gather, layernorm, gelu, matmul,
 * cross_entropy and their VJPs: scatter_add, transposes, reductions). */
static void test_backward(void **state) {
    SKIP_IF_NO_VK();
    const char *src =
        "module @t {\n  weight @emb : f32[11, 8] = normal(0.5)\n  weight @w : f32[8, 11] = normal(0.5)\n"
        "  weight @g : f32[8] = ones\n  weight @b : f32[8] = zeros\n"
        "  func @forward(%idx: i32[B, T], %tgt: i32[B, T]) -> (f32[]) {\n"
        "    %0 = weight @emb : f32[11, 8]\n    %1 = gather %0, %idx : f32[B, T, 8]\n"
        "    %2 = weight @g : f32[8]\n    %3 = weight @b : f32[8]\n"
        "    %4 = layernorm %1, %2, %3 {eps = 1e-05} : f32[B, T, 8]\n    %5 = gelu %4 : f32[B, T, 8]\n"
        "    %6 = weight @w : f32[8, 11]\n    %7 = matmul %5, %6 : f32[B, T, 11]\n"
        "    %8 = cross_entropy %7, %tgt : f32[]\n    return %8\n  }\n}\n";
    check_case("lm forward", src, 1e-4, "i32 3,5 11", "i32 3,5 11", NULL);
    case_grad = true;
    check_case("lm backward", src, 1e-3, "i32 3,5 11", "i32 3,5 11", NULL);
    case_grad = false;
}

/* One compiled function, two batch sizes: symbols are push constants. */
static void test_symbolic_sizes(void **state) {
    SKIP_IF_NO_VK();
    const char *src = "module @t { func @forward(%x: f32[B, T, 8], %w: f32[8, 8]) -> (f32[B, T, 8]) {\n"
                      "  %0 = matmul %x, %w : f32[B, T, 8]\n  %1 = softmax %0 {axis = 2} : f32[B, T, 8]\n"
                      "  return %1\n} }";
    IrModule *m = parse(src);
    IrFunc *f = ir_module_find_func(m, "forward");
    char err[1024];
    BkExec *e = vk->compile(vk, f, err, sizeof err);
    assert_non_null(e);
    const char *shapes[] = {"f32 2,3,8", "f32 5,17,8", "f32 1,1,8"};
    for (int s = 0; s < 3; s++) {
        Tensor *in[2] = {make_input(shapes[s]), make_input("f32 8,8")}, *ro[1], *vo[1];
        assert_true(ref_run(f, NULL, in, ro, err, sizeof err));
        if (!vk->run(e, NULL, in, vo, err, sizeof err)) fail_msg("run: %s", err);
        compare("symbolic", vo[0], ro[0], 2e-4);
        tensor_destroy(vo[0]);
        tensor_destroy(ro[0]);
        tensor_destroy(in[0]);
        tensor_destroy(in[1]);
    }
    vk->exec_destroy(e);
    ir_module_destroy(m);
}

/* Run-time errors give exactly ref's message. */
static void expect_same_error(const char *src, const char *const *specs, int n, const Tensor *override) {
    IrModule *m = parse(src);
    IrFunc *f = ir_module_find_func(m, "forward");
    Tensor *in[4];
    for (int i = 0; i < n; i++) in[i] = make_input(specs[i]);
    if (override) memcpy(in[1]->data, override->data, tensor_bytes(override));
    Tensor *ro[2] = {0}, *vo[2] = {0};
    char rerr[1024], verr[1024];
    assert_false(ref_run(f, NULL, in, ro, rerr, sizeof rerr));
    BkExec *e = vk->compile(vk, f, verr, sizeof verr);
    assert_non_null(e);
    assert_false(vk->run(e, NULL, in, vo, verr, sizeof verr));
    assert_null(vo[0]);
    assert_string_equal(verr, rerr);
    vk->exec_destroy(e);
    for (int i = 0; i < n; i++) tensor_destroy(in[i]);
    ir_module_destroy(m);
}

static void test_runtime_errors(void **state) {
    SKIP_IF_NO_VK();
    int64_t d[1] = {6};
    char err[64];
    Tensor *idx = tensor_create(DT_I32, 1, d, err, sizeof err);
    int32_t bad[6] = {1, 2, 11, 0, -1, 12};
    memcpy(idx->data, bad, sizeof bad);
    const char *g[] = {"f32 11,3", "i32 6"};
    expect_same_error("module @t { func @forward(%t: f32[11, 3], %i: i32[6]) -> (f32[6, 3]) {\n"
                      "  %0 = gather %t, %i : f32[6, 3]\n  return %0\n} }", g, 2, idx);
    const char *s[] = {"f32 6,3", "i32 6"};
    expect_same_error("module @t { func @forward(%u: f32[6, 3], %i: i32[6]) -> (f32[11, 3]) {\n"
                      "  %0 = scatter_add %i, %u : f32[11, 3]\n  return %0\n} }", s, 2, idx);
    const char *c[] = {"f32 6,11", "i32 6"};
    expect_same_error("module @t { func @forward(%l: f32[6, 11], %t: i32[6]) -> (f32[]) {\n"
                      "  %0 = cross_entropy %l, %t : f32[]\n  return %0\n} }", c, 2, idx);
    int32_t zero[6] = {1, 2, 3, 0, 5, 0};
    memcpy(idx->data, zero, sizeof zero);
    const char *dv[] = {"i32 6", "i32 6"};
    expect_same_error("module @t { func @forward(%a: i32[6], %b: i32[6]) -> (i32[6]) {\n"
                      "  %0 = div %a, %b : i32[6]\n  return %0\n} }", dv, 2, idx);
    tensor_destroy(idx);
}

static void test_refusals(void **state) {
    SKIP_IF_NO_VK();
    char err[1024];
    IrModule *m = parse("module @t { func @forward(%x: f64[3]) -> (f64[3]) {\n  %0 = neg %x : f64[3]\n  return %0\n} }");
    assert_null(vk->compile(vk, ir_module_find_func(m, "forward"), err, sizeof err));
    assert_non_null(strstr(err, "f64 exists only for gradient checks"));
    ir_module_destroy(m);
    /* a tensor larger than maxStorageBufferRange is refused, never run wrong */
    setenv("TFC_VK_MAX_RANGE", "4096", 1);
    Backend *small = vk_backend_create(&(BkOptions){.device = -1}, err, sizeof err);
    unsetenv("TFC_VK_MAX_RANGE");
    assert_non_null(small);
    m = parse("module @t { func @forward(%x: f32[N]) -> (f32[N]) {\n  %0 = exp %x : f32[N]\n  return %0\n} }");
    IrFunc *f = ir_module_find_func(m, "forward");
    BkExec *e = small->compile(small, f, err, sizeof err);
    assert_non_null(e);
    Tensor *in[1] = {make_input("f32 2000")}, *out[1];
    assert_false(small->run(e, NULL, in, out, err, sizeof err));
    assert_non_null(strstr(err, "maxStorageBufferRange"));
    tensor_destroy(in[0]);
    small->exec_destroy(e);
    small->destroy(small);
    /* out of device memory, forced with an allocation cap */
    setenv("TFC_VK_MAX_ALLOC", "100000", 1);
    small = vk_backend_create(&(BkOptions){.device = -1}, err, sizeof err);
    unsetenv("TFC_VK_MAX_ALLOC");
    assert_non_null(small);
    e = small->compile(small, f, err, sizeof err);
    in[0] = make_input("f32 100000");
    assert_false(small->run(e, NULL, in, out, err, sizeof err));
    assert_non_null(strstr(err, "out of device memory"));
    tensor_destroy(in[0]);
    small->exec_destroy(e);
    small->destroy(small);
    /* a device that does not exist */
    assert_null(vk_backend_create(&(BkOptions){.device = 99}, err, sizeof err));
    assert_non_null(strstr(err, "--device 99"));
    ir_module_destroy(m);
}

static void test_no_validation_errors(void **state) {
    SKIP_IF_NO_VK();
    if (!validated) {
        printf("SKIP: VK_LAYER_KHRONOS_validation is not installed\n");
        skip();
    }
    assert_int_equal(vk_validation_errors(vk), 0);
}

int main(void) {
    char err[1024];
    FILE *layer = fopen("/usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json", "r");
    if (layer) {
        fclose(layer);
        setenv("TFC_VK_VALIDATE", "1", 1);
        validated = 1;
    }
    vk = vk_backend_create(&(BkOptions){.device = -1}, err, sizeof err);
    if (!vk) snprintf(skip_reason, sizeof skip_reason, "no Vulkan: %s", err);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary),           cmocka_unit_test(test_binary),
        cmocka_unit_test(test_matmul),          cmocka_unit_test(test_reduce),
        cmocka_unit_test(test_movement),        cmocka_unit_test(test_nn),
        cmocka_unit_test(test_backward),        cmocka_unit_test(test_symbolic_sizes),  cmocka_unit_test(test_runtime_errors),
        cmocka_unit_test(test_refusals),        cmocka_unit_test(test_no_validation_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (vk) vk->destroy(vk);
    return rc;
}
