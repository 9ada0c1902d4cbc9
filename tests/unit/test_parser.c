/* test_parser.c — the .tfm parser, checked through the printed AST (--emit=ast): grammar,
 * precedence, statement ends at line breaks, the pipe, and the errors and limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frontend/ast.h"

/* Parses src; returns the printed AST (or the diagnostics when there were errors). */
static char *parse(const char *src, size_t len, int *errors) {
    char *ast = NULL, *msgs = NULL;
    size_t alen = 0, mlen = 0;
    FILE *a = open_memstream(&ast, &alen), *m = open_memstream(&msgs, &mlen);
    Diag d;
    diag_init(&d, "t.tfm", src, len, m);
    bool ok = fe_print_ast(a, "t.tfm", src, len, &d);
    fclose(a);
    fclose(m);
    *errors = d.errors;
    if (ok) {
        free(msgs);
        return ast;
    }
    free(ast);
    return msgs;
}

static void expect_ast(const char *src, const char *want) {
    int errors;
    char *got = parse(src, strlen(src), &errors);
    if (errors || strcmp(got, want) != 0) fprintf(stderr, "source:\n%s\ngot:\n%s\nwant:\n%s\n", src, got, want);
    assert_int_equal(errors, 0);
    assert_string_equal(got, want);
    free(got);
}

static void expect_error(const char *src, size_t len, const char *msg) {
    if (len == SIZE_MAX) len = strlen(src);
    int errors;
    char *got = parse(src, len, &errors);
    if (!strstr(got, msg)) fprintf(stderr, "got:\n%s\nwant a message containing:\n%s\n", got, msg);
    assert_true(errors > 0);
    assert_non_null(strstr(got, msg));
    free(got);
}

/* Checks: every statement kind of a model and a block parses into the expected tree. */
static void test_statements(void **state) {
    (void)state;
    expect_ast("model m {\n"
               "  param a = 1, b = 2.5\n"
               "  input idx: i32[B, T]\n"
               "  weight w: f32[a, 3*a] = normal(0.02)\n"
               "  weight l = linear(a, a)\n"
               "  q, k = split(x, 2, axis=-1)\n"
               "  for i in 0..a as h.{i} {\n"
               "    x = x\n"
               "  }\n"
               "  output q, k\n"
               "}\n"
               "block f(x: f32[B, C], y) {\n"
               "  return x, y\n"
               "}\n",
               "(model m\n"
               "  (param a 1)\n"
               "  (param b 2.5)\n"
               "  (input idx i32[B, T])\n"
               "  (weight w f32[a, (* 3 a)] (call normal 0.02))\n"
               "  (weight l (call linear a a))\n"
               "  (assign (q k) (call split x 2 axis=(neg 1)))\n"
               "  (for i 0 a as h.{i}\n"
               "    (assign (x) x))\n"
               "  (output (q k)))\n"
               "(block f (x:f32[B, C] y)\n"
               "  (return x y))\n");
}

/* Checks: @ and * bind tighter than +, unary minus tighter than @, postfix tightest;
 * the pipe is lowest and becomes a call with the piped value first. */
static void test_precedence(void **state) {
    (void)state;
    expect_ast("model m {\n  y = a + b * c @ d^T - -e[i] / f.weight\n  z = a + b |> g(1) |> h\n}\n",
               "(model m\n"
               "  (assign (y) (- (+ a (@ (* b c) (T d))) (/ (neg (index e i)) (. f weight))))\n"
               "  (assign (z) (pipe h (pipe g (+ a b) 1))))\n");
}

/* Checks: a line break ends a statement, except inside () and [] or after an operator. */
static void test_line_breaks(void **state) {
    (void)state;
    expect_ast("model m {\n  y = a +\n    b\n  z = f(a,\n        b)\n  w = [1,\n 2]; v = 3\n}\n",
               "(model m\n"
               "  (assign (y) (+ a b))\n"
               "  (assign (z) (call f a b))\n"
               "  (assign (w) (list 1 2))\n"
               "  (assign (v) 3))\n");
    /* `(b)` on the next line is not a call of `a`: it starts a new (invalid) statement. */
    expect_error("model m {\n  y = a\n  (b)\n}\n", SIZE_MAX, "expected a statement");
}

/* Checks: the parser's messages for common mistakes. */
static void test_errors(void **state) {
    (void)state;
    expect_error("model m {\n  y = x +\n", SIZE_MAX, "t.tfm:3:1: error: unexpected end of file, expected an expression");
    expect_error("model m {\n  y = x )\n}\n", SIZE_MAX, "t.tfm:2:9: error: expected the end of the line after the statement, found ')'");
    expect_error("model m {\n  y = f(a=1, 2)\n}\n", SIZE_MAX, "positional argument after a keyword argument");
    expect_error("foo\n", SIZE_MAX, "t.tfm:1:1: error: expected 'model' or 'block', found 'foo'");
    expect_error("model m {\n  input x f32\n}\n", SIZE_MAX, "expected ':' and a type");
    expect_error("model m {\n  y = x^2\n}\n", SIZE_MAX, "expected 'T' after '^'");
}

/* Checks: after an error the parser skips to the next line and reports the next error
 * too, without follow-on errors in between. */
static void test_recovery(void **state) {
    (void)state;
    int errors;
    const char *src = "model m {\n  y = )\n  z = (\n  w = 1\n}\nmodel n {\n  v = ]\n}\n";
    char *got = parse(src, strlen(src), &errors);
    assert_int_equal(errors, 3);
    assert_non_null(strstr(got, "t.tfm:2:7:"));
    assert_non_null(strstr(got, "t.tfm:7:7:"));
    free(got);
}

/* Checks: deep nesting is an error at the limit, not a stack overflow, and a long
 * operator chain is bounded by the expression-depth limit. */
static void test_limits(void **state) {
    (void)state;
    size_t n = 100000;
    char *src = malloc(3 * n + 64);
    size_t len = (size_t)sprintf(src, "model m {\n  y = ");
    memset(src + len, '(', n);
    len += n;
    len += (size_t)sprintf(src + len, "x");
    memset(src + len, ')', n);
    len += n;
    len += (size_t)sprintf(src + len, "\n}\n");
    expect_error(src, len, "nesting too deep (limit 200 levels)");
    len = (size_t)sprintf(src, "model m {\n  y = x");
    for (int i = 0; i < 5000; i++) len += (size_t)sprintf(src + len, "+x");
    len += (size_t)sprintf(src + len, "\n}\n");
    expect_error(src, len, "expression nested too deep (limit 1000 levels)");
    free(src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statements), cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_line_breaks), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_recovery), cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
