/* test_cpu.c — the LLVM CPU backend beyond op-by-op conformance (that is `tfc conform
 * --target cpu`): symbolic dims bound at run time without recompiling, run-time index
 * errors as messages, the on-disk cache (a hit compiles nothing; a corrupt entry is
 * rebuilt, never trusted), thread counts giving identical results (attention too), and
 * --emit=llvm.
 * Expected values come from the reference backend run on the same inputs.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/ref/ref.h"
#include "ir/ir.h"
#ifdef TFC_HAVE_CPU
#include "backends/cpu/cpu.h"

static const char *SRC =
    "module @t {\n"
    "  weight @w : f32[13, 7] = normal(0.02)\n"
    "  func @forward(%x: f32[B, T, 13], %i: i32[B]) -> (f32[B, T, 7], f32[B, 7]) {\n"
    "    %0 = weight @w : f32[13, 7]\n"
    "    %1 = matmul %x, %0 : f32[B, T, 7]\n"
    "    %2 = gelu %1 : f32[B, T, 7]\n"
    "    %3 = softmax %2 {axis = 2} : f32[B, T, 7]\n"
    "    %4 = gather %0, %i : f32[B, 7]\n"
    "    return %3, %4\n"
    "  }\n"
    "}\n";

static IrModule *parse(const char *src) {
    Diag d;
    diag_init(&d, "test", src, strlen(src), stderr);
    IrModule *m = ir_parse(src, strlen(src), &d);
    assert_non_null(m);
    return m;
}

static Tensor *rnd(IrDType dt, int rank, const int64_t *dims, int mod, unsigned seed) {
    char err[128];
    Tensor *t = tensor_create(dt, rank, dims, err, sizeof err);
    assert_non_null(t);
    for (int64_t k = 0; k < tensor_numel(t); k++) {
        seed = seed * 1103515245u + 12345u;
        if (dt == DT_I32)
            ((int32_t *)t->data)[k] = (int32_t)((seed >> 8) % (unsigned)mod);
        else
            ((float *)t->data)[k] = (float)((seed >> 8) % 2001) / 1000.0f - 1.0f;
    }
    return t;
}

static void expect_close(const Tensor *a, const Tensor *b, double tol) {
    assert_int_equal(a->rank, b->rank);
    for (int i = 0; i < a->rank; i++) assert_int_equal(a->dims[i], b->dims[i]);
    for (int64_t k = 0; k < tensor_numel(a); k++) {
        double x = ref_load(a, k), y = ref_load(b, k);
        if (!(x - y <= tol && y - x <= tol)) fail_msg("element %lld: %g vs %g", (long long)k, x, y);
    }
}

/* Runs forward with batch B, length T on exec e and on ref; compares. */
static void run_both(Backend *b, BkExec *e, IrFunc *f, Tensor *w, int64_t B, int64_t T) {
    int64_t xd[3] = {B, T, 13}, id[1] = {B};
    Tensor *in[2] = {rnd(DT_F32, 3, xd, 0, (unsigned)(B * 31 + T)), rnd(DT_I32, 1, id, 13, 7)};
    Tensor *ws[1] = {w}, *got[2], *want[2];
    char err[512];
    assert_true(b->run(e, ws, in, got, err, sizeof err));
    assert_true(ref_run(f, ws, in, want, err, sizeof err));
    for (int i = 0; i < 2; i++) {
        expect_close(got[i], want[i], 1e-5);
        tensor_destroy(got[i]);
        tensor_destroy(want[i]);
    }
    tensor_destroy(in[0]);
    tensor_destroy(in[1]);
}

/* One compile serves every B and T: symbols are kernel arguments. */
static void test_symbolic_dims(void **state) {
    char err[512];
    IrModule *m = parse(SRC);
    IrFunc *f = m->funcs;
    Backend *b = cpu_backend_create(&(BkOptions){.threads = 2}, err, sizeof err);
    assert_non_null(b);
    BkExec *e = b->compile(b, f, err, sizeof err);
    assert_non_null(e);
    int64_t wd[2] = {13, 7};
    Tensor *w = rnd(DT_F32, 2, wd, 0, 3);
    run_both(b, e, f, w, 1, 1);
    run_both(b, e, f, w, 2, 5);
    run_both(b, e, f, w, 3, 129);
    tensor_destroy(w);
    b->exec_destroy(e);
    b->destroy(b);
    ir_module_destroy(m);
}

/* An out-of-range gather index is a message naming it, not a crash. */
static void test_index_error(void **state) {
    char err[512];
    IrModule *m = parse(SRC);
    Backend *b = cpu_backend_create(&(BkOptions){.threads = 1}, err, sizeof err);
    BkExec *e = b->compile(b, m->funcs, err, sizeof err);
    assert_non_null(e);
    int64_t xd[3] = {2, 3, 13}, id[1] = {2}, wd[2] = {13, 7};
    Tensor *w = rnd(DT_F32, 2, wd, 0, 3);
    Tensor *in[2] = {rnd(DT_F32, 3, xd, 0, 1), rnd(DT_I32, 1, id, 13, 1)};
    ((int32_t *)in[1]->data)[1] = 99;
    Tensor *ws[1] = {w}, *out[2];
    assert_false(b->run(e, ws, in, out, err, sizeof err));
    assert_non_null(strstr(err, "gather index 99 at position 1"));
    assert_null(out[0]);
    tensor_destroy(w);
    tensor_destroy(in[0]);
    tensor_destroy(in[1]);
    b->exec_destroy(e);
    b->destroy(b);
    ir_module_destroy(m);
}

/* Compiles f with profiling on and returns what the backend logged. */
static void compile_log(IrFunc *f, char *log, size_t n) {
    char err[512];
    FILE *lf = tmpfile();
    assert_non_null(lf);
    Backend *b = cpu_backend_create(&(BkOptions){.threads = 1, .profile = true, .log = lf}, err, sizeof err);
    BkExec *e = b->compile(b, f, err, sizeof err);
    assert_non_null(e);
    int64_t wd[2] = {13, 7};
    Tensor *w = rnd(DT_F32, 2, wd, 0, 3);
    run_both(b, e, f, w, 2, 3); /* whatever the cache held, the code is right */
    tensor_destroy(w);
    b->exec_destroy(e);
    b->destroy(b);
    rewind(lf);
    size_t k = fread(log, 1, n - 1, lf);
    log[k] = 0;
    fclose(lf);
}

/* A second compile of the same function loads the object from $TFC_CACHE; a corrupted
 * entry is ignored and rebuilt. */
static void test_cache(void **state) {
    char dir[] = "/tmp/tfc-cache-test-XXXXXX", log[1024];
    assert_non_null(mkdtemp(dir));
    setenv("TFC_CACHE", dir, 1);
    IrModule *m = parse(SRC);
    compile_log(m->funcs, log, sizeof log);
    assert_non_null(strstr(log, "compiled in"));
    compile_log(m->funcs, log, sizeof log);
    assert_non_null(strstr(log, "loaded from the cache"));
    /* corrupt every entry: flip bytes in the middle of the object */
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *fp = fopen(path, "r+b");
        assert_non_null(fp);
        fseek(fp, 200, SEEK_SET);
        fputs("garbage garbage", fp);
        fclose(fp);
        n++;
    }
    closedir(d);
    assert_true(n >= 1);
    compile_log(m->funcs, log, sizeof log);
    assert_non_null(strstr(log, "compiled in"));
    ir_module_destroy(m);
    /* clean up */
    d = opendir(dir);
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        remove(path);
    }
    closedir(d);
    rmdir(dir);
    unsetenv("TFC_CACHE");
}

/* 1 and 3 threads give the same bits: every output element is computed by one thread
 * in the same order, whatever the split. */
static void test_threads_deterministic(void **state) {
    char err[512];
    IrModule *m = parse(SRC);
    Tensor *res[2][2];
    int64_t xd[3] = {4, 67, 13}, id[1] = {4}, wd[2] = {13, 7};
    Tensor *w = rnd(DT_F32, 2, wd, 0, 3);
    Tensor *in[2] = {rnd(DT_F32, 3, xd, 0, 1), rnd(DT_I32, 1, id, 13, 1)};
    for (int t = 0; t < 2; t++) {
        Backend *b = cpu_backend_create(&(BkOptions){.threads = t ? 3 : 1}, err, sizeof err);
        BkExec *e = b->compile(b, m->funcs, err, sizeof err);
        Tensor *ws[1] = {w};
        assert_true(b->run(e, ws, in, res[t], err, sizeof err));
        b->exec_destroy(e);
        b->destroy(b);
    }
    for (int i = 0; i < 2; i++) {
        assert_memory_equal(res[0][i]->data, res[1][i]->data, tensor_bytes(res[0][i]));
        tensor_destroy(res[0][i]);
        tensor_destroy(res[1][i]);
    }
    tensor_destroy(w);
    tensor_destroy(in[0]);
    tensor_destroy(in[1]);
    ir_module_destroy(m);
}

/* The attention kernels too: their chunks cut batches and query blocks anywhere (here
 * 8 batches of 200 rows in chunks of ~40), and a row's keys are still summed in one order. */
static void test_attention_threads_deterministic(void **state) {
    static const char *src =
        "module @t {\n"
        "  func @f(%q: f32[4, 2, 200, 32], %k: f32[4, 2, 200, 32], %v: f32[4, 2, 200, 32], "
        "%g: f32[4, 2, 200, 32], %b: f32[4, 1, 1, 200]) -> (f32[4, 2, 200, 32], f32[4, 2, 200, 32], "
        "f32[4, 2, 200, 32], f32[4, 2, 200, 32]) {\n"
        "    %o = attention %q, %k, %v, %b {scale = 0.2, causal = true} : f32[4, 2, 200, 32]\n"
        "    %l = attention_lse %q, %k, %b {scale = 0.2, causal = true} : f32[4, 2, 200]\n"
        "    %dq = attention_grad %q, %k, %v, %o, %g, %l, %b {scale = 0.2, causal = true, index = 0} : f32[4, 2, 200, 32]\n"
        "    %dk = attention_grad %q, %k, %v, %o, %g, %l, %b {scale = 0.2, causal = true, index = 1} : f32[4, 2, 200, 32]\n"
        "    %dv = attention_grad %q, %k, %v, %o, %g, %l, %b {scale = 0.2, causal = true, index = 2} : f32[4, 2, 200, 32]\n"
        "    return %o, %dq, %dk, %dv\n"
        "  }\n"
        "}\n";
    char err[512];
    IrModule *m = parse(src);
    int64_t xd[4] = {4, 2, 200, 32}, bd[4] = {4, 1, 1, 200};
    Tensor *in[5], *res[2][4];
    for (int i = 0; i < 4; i++) in[i] = rnd(DT_F32, 4, xd, 0, 11u + (unsigned)i);
    in[4] = rnd(DT_F32, 4, bd, 0, 5);
    for (int t = 0; t < 2; t++) {
        Backend *b = cpu_backend_create(&(BkOptions){.threads = t ? 3 : 1}, err, sizeof err);
        BkExec *e = b->compile(b, m->funcs, err, sizeof err);
        assert_non_null(e);
        if (!b->run(e, NULL, in, res[t], err, sizeof err)) fail_msg("%s", err);
        b->exec_destroy(e);
        b->destroy(b);
    }
    for (int i = 0; i < 4; i++) {
        assert_memory_equal(res[0][i]->data, res[1][i]->data, tensor_bytes(res[0][i]));
        tensor_destroy(res[0][i]);
        tensor_destroy(res[1][i]);
    }
    for (int i = 0; i < 5; i++) tensor_destroy(in[i]);
    ir_module_destroy(m);
}

/* --emit=llvm prints the optimised module: one function per distinct kernel. */
static void test_emit_llvm(void **state) {
    char err[512];
    IrModule *m = parse(SRC);
    Backend *b = cpu_backend_create(&(BkOptions){0}, err, sizeof err);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_true(b->emit(b, m->funcs, "llvm", out, err, sizeof err));
    fclose(out);
    assert_non_null(strstr(buf, "define"));
    assert_non_null(strstr(buf, "@tfc_k0"));
    assert_false(b->emit(b, m->funcs, "glsl", stdout, err, sizeof err));
    free(buf);
    b->destroy(b);
    ir_module_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symbolic_dims),
        cmocka_unit_test(test_index_error),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_threads_deterministic),
        cmocka_unit_test(test_attention_threads_deterministic),
        cmocka_unit_test(test_emit_llvm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#else
int main(void) {
    puts("SKIP: built without the cpu backend (-DTFC_CPU=OFF)");
    return 0;
}
#endif
