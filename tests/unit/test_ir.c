/* test_ir.c — the IR core: building values and shape inference, the verifier, and the
 * text form (printer/parser round trip and parse errors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ir/ir.h"

static IrType ty(IrDType dt, int rank, ...) {
    IrType t = {.dtype = dt, .rank = rank};
    va_list ap;
    va_start(ap, rank);
    for (int i = 0; i < rank; i++) t.dims[i] = ir_dim_int(va_arg(ap, int));
    va_end(ap);
    return t;
}

static char *print_to_string(const IrModule *m) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ir_print_module(f, m);
    fclose(f);
    return buf;
}

/* Broadcasting add infers the NumPy shape, including symbolic dims. */
static void test_infer_broadcast(void **state) {
    IrModule *m = ir_module_create("t");
    IrFunc *f = ir_module_add_func(m, "forward");
    IrType tx = ty(DT_F32, 3, 0, 0, 64);
    tx.dims[0] = ir_dim_sym(ir_intern(m, "B", 1));
    tx.dims[1] = ir_dim_sym(ir_intern(m, "T", 1));
    IrValue *x = ir_func_add_param(f, "x", &tx);
    IrType tb = ty(DT_F32, 1, 64);
    IrValue *b = ir_func_add_param(f, "b", &tb);
    char err[256];
    IrValue *s = ir_build(f, OP_ADD, (IrValue *[]){x, b}, 2, NULL, NULL, NULL, err, sizeof err);
    assert_non_null(s);
    char buf[IR_TYPE_STR_MAX];
    assert_string_equal(ir_type_str(&s->type, buf, sizeof buf), "f32[B, T, 64]");
    ir_module_destroy(m);
}

/* A shape mismatch names both shapes and the dims that differ. */
static void test_infer_mismatch_message(void **state) {
    IrModule *m = ir_module_create("t");
    IrFunc *f = ir_module_add_func(m, "forward");
    IrType t1 = ty(DT_F32, 2, 4, 64), t2 = ty(DT_F32, 2, 4, 3);
    IrValue *x = ir_func_add_param(f, "x", &t1), *y = ir_func_add_param(f, "y", &t2);
    char err[256];
    assert_null(ir_build(f, OP_ADD, (IrValue *[]){x, y}, 2, NULL, NULL, NULL, err, sizeof err));
    assert_string_equal(err, "cannot add f32[4, 64] and f32[4, 3]: dims 64 and 3 differ (axis 1 from the right)");
    assert_null(ir_build(f, OP_MATMUL, (IrValue *[]){x, y}, 2, NULL, NULL, NULL, err, sizeof err));
    assert_string_equal(err, "cannot matmul f32[4, 64] by f32[4, 3]: inner dims 64 and 4 differ");
    ir_module_destroy(m);
}

/* Batched matmul broadcasts batch dims; reductions normalise negative axes. */
static void test_infer_matmul_reduce(void **state) {
    IrModule *m = ir_module_create("t");
    IrFunc *f = ir_module_add_func(m, "forward");
    IrType t1 = ty(DT_F32, 4, 2, 3, 5, 7), t2 = ty(DT_F32, 2, 7, 11);
    IrValue *x = ir_func_add_param(f, "x", &t1), *y = ir_func_add_param(f, "y", &t2);
    char err[256], buf[IR_TYPE_STR_MAX];
    IrValue *mm = ir_build(f, OP_MATMUL, (IrValue *[]){x, y}, 2, NULL, NULL, NULL, err, sizeof err);
    assert_non_null(mm);
    assert_string_equal(ir_type_str(&mm->type, buf, sizeof buf), "f32[2, 3, 5, 11]");
    IrAttrs a = {.nints = 2, .ints = {-1, 0}, .keepdim = true};
    IrValue *r = ir_build(f, OP_SUM, &mm, 1, &a, NULL, NULL, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(r->attrs.ints[0], 0);
    assert_int_equal(r->attrs.ints[1], 3);
    assert_string_equal(ir_type_str(&r->type, buf, sizeof buf), "f32[1, 3, 5, 1]");
    a.keepdim = false;
    r = ir_build(f, OP_MEAN, &mm, 1, &a, NULL, NULL, err, sizeof err);
    assert_string_equal(ir_type_str(&r->type, buf, sizeof buf), "f32[3, 5]");
    ir_module_destroy(m);
}

/* Shapes too large for memory are refused by inference. */
static void test_infer_too_large(void **state) {
    IrModule *m = ir_module_create("t");
    IrFunc *f = ir_module_add_func(m, "forward");
    IrType big = ty(DT_F32, 2, 1 << 20, 1 << 20);
    char err[256];
    assert_null(ir_build(f, OP_CONSTANT, NULL, 0, NULL, &big, NULL, err, sizeof err));
    assert_non_null(strstr(err, "too large for memory"));
    ir_module_destroy(m);
}

static const char *sample =
    "module @m {\n"
    "  weight @h.0.w : f32[4, 8] = normal(0.02)\n"
    "  weight @b : f32[8] = zeros\n"
    "  weight @\"odd name\" : f32[2] = uniform(-0.5, 0.25)\n"
    "  func @forward(%x: f32[B, T, 4], %idx: i32[B, T]) -> (f32[B, T, 8], f32[]) {\n"
    "    %0 = weight @h.0.w : f32[4, 8]\n"
    "    %1 = matmul %x, %0 : f32[B, T, 8]\n"
    "    %2 = weight @b : f32[8]\n"
    "    %3 = add %1, %2 : f32[B, T, 8]\n"
    "    %4 = constant {value = -inf} : f32[]\n"
    "    %5 = arange : i32[T]\n"
    "    %6 = sum %3 {axes = [2], keepdim = true} : f32[B, T, 1]\n"
    "    %7 = softmax %3 {axis = 2} : f32[B, T, 8]\n"
    "    %8 = split %7 {axis = 2, parts = 2, index = 1} : f32[B, T, 4]\n"
    "    %9 = reshape %8 : f32[B, T, 2, 2]\n"
    "    %10 = transpose %9 {perm = [0, 2, 1, 3]} : f32[B, 2, T, 2]\n"
    "    %11 = cross_entropy %3, %idx : f32[]\n"
    "    %12 = maximum %11, %4 : f32[]\n"
    "    %13 = constant {value = 0.1} : f32[]\n"
    "    %14 = layernorm %3, %2, %2 {eps = 1e-05} : f32[B, T, 8]\n"
    "    return %14, %12\n"
    "  }\n"
    "  func @step(%g: f32[8]) -> (f32[8], f32[]) {\n"
    "    %0 = weight @b : f32[8]\n"
    "    %1 = sub %0, %g : f32[8]\n"
    "    %2 = sum %1 {axes = [0], keepdim = false} : f32[]\n"
    "    return %1 -> @b, %2\n"
    "  }\n"
    "}\n";

/* Printing what was parsed gives the same text, and again after a second parse. */
static void test_round_trip(void **state) {
    Diag d;
    diag_init(&d, "sample.tfir", sample, strlen(sample), stderr);
    IrModule *m = ir_parse(sample, strlen(sample), &d);
    assert_non_null(m);
    char err[256];
    assert_true(ir_verify(m, err, sizeof err));
    char *once = print_to_string(m);
    assert_string_equal(once, sample);
    IrModule *m2 = ir_parse(once, strlen(once), &d);
    assert_non_null(m2);
    char *twice = print_to_string(m2);
    assert_string_equal(once, twice);
    free(once);
    free(twice);
    ir_module_destroy(m);
    ir_module_destroy(m2);
}

static int parse_error(const char *src, char *msg, size_t n) {
    FILE *out = fmemopen(msg, n, "w");
    Diag d;
    diag_init(&d, "bad.tfir", src, strlen(src), out);
    IrModule *m = ir_parse(src, strlen(src), &d);
    fclose(out);
    ir_module_destroy(m);
    return d.errors;
}

/* Parse errors carry file:line:col, the message, the line and a caret. */
static void test_parse_errors(void **state) {
    char msg[1024] = {0};
    assert_int_equal(parse_error("module @m {\n  func @f() -> (f32[]) {\n    %0 = bogus : f32[]\n"
                                 "    return %0\n  }\n}\n", msg, sizeof msg), 1);
    assert_string_equal(msg, "bad.tfir:3:10: error: unknown op 'bogus'\n"
                             "      %0 = bogus : f32[]\n"
                             "           ^\n");
    memset(msg, 0, sizeof msg);
    assert_int_equal(parse_error("module @m {\n  func @f(%x: f32[2]) -> (f32[2]) {\n"
                                 "    %0 = add %x, %y : f32[2]\n    return %0\n  }\n}\n", msg, sizeof msg), 1);
    assert_non_null(strstr(msg, "bad.tfir:3:18: error: use of undefined value %y"));
    memset(msg, 0, sizeof msg);
    assert_int_equal(parse_error("module @m {\n  func @f(%x: f32[2]) -> (f32[2]) {\n"
                                 "    %0 = exp %x : f32[3]\n    return %0\n  }\n}\n", msg, sizeof msg), 1);
    assert_non_null(strstr(msg, "error: exp gives f32[2], not the stated f32[3]"));
    memset(msg, 0, sizeof msg);
    assert_int_equal(parse_error("\x01\x02garbage", msg, sizeof msg), 1);
    assert_non_null(strstr(msg, "expected 'module', found byte 0x01"));
}

/* The verifier catches a value whose stored type disagrees with inference. */
static void test_verifier(void **state) {
    Diag d;
    diag_init(&d, "sample.tfir", sample, strlen(sample), stderr);
    IrModule *m = ir_parse(sample, strlen(sample), &d);
    IrFunc *f = m->funcs;
    IrValue *v = f->first;
    while (v->op != OP_MATMUL) v = v->next;
    v->type.dims[2] = ir_dim_int(9);
    char err[256];
    assert_false(ir_verify(m, err, sizeof err));
    assert_string_equal(err, "@forward: %1 (matmul) has type f32[B, T, 9] but its operands give f32[B, T, 8]");
    ir_module_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_infer_broadcast),      cmocka_unit_test(test_infer_mismatch_message),
        cmocka_unit_test(test_infer_matmul_reduce),  cmocka_unit_test(test_infer_too_large),
        cmocka_unit_test(test_round_trip),           cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_verifier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
