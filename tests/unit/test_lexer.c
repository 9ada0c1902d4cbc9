/* test_lexer.c — the .tfm lexer: token kinds, locations, line breaks, numbers and the
 * errors for bytes and literals that cannot be tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frontend/ast.h"

typedef struct {
    char *buf;
    size_t len;
    FILE *out;
    Diag diag;
    FeLexer lx;
} Lex;

static void lex_open(Lex *l, const char *src, size_t len) {
    l->out = open_memstream(&l->buf, &l->len);
    diag_init(&l->diag, "t.tfm", src, len, l->out);
    fe_lex_init(&l->lx, src, len, &l->diag);
}

static void lex_close(Lex *l) {
    fclose(l->out);
    free(l->buf);
}

/* Checks: a statement's tokens come out in order with their kinds and columns. */
static void test_kinds_and_columns(void **state) {
    (void)state;
    const char *src = "x = wte[idx] @ w^T |> f(axis=-1)";
    Lex l;
    lex_open(&l, src, strlen(src));
    FeTokKind want[] = {TK_IDENT, TK_ASSIGN, TK_IDENT, TK_LBRACKET, TK_IDENT, TK_RBRACKET, TK_AT,
                        TK_IDENT, TK_CARET, TK_IDENT, TK_PIPE, TK_IDENT, TK_LPAREN, TK_IDENT,
                        TK_ASSIGN, TK_MINUS, TK_INT, TK_RPAREN, TK_EOF};
    int cols[] = {1, 3, 5, 8, 9, 12, 14, 16, 17, 18, 20, 23, 24, 25, 29, 30, 31, 32};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        FeToken t = fe_lex_next(&l.lx);
        assert_int_equal(t.kind, want[i]);
        if (i < sizeof cols / sizeof *cols) assert_int_equal(t.loc.col, cols[i]);
    }
    assert_int_equal(l.diag.errors, 0);
    lex_close(&l);
}

/* Checks: keywords are recognised, `in` and `as` too, and a longer name is a name. */
static void test_keywords(void **state) {
    (void)state;
    const char *src = "model block param input weight for in as output return true false models";
    Lex l;
    lex_open(&l, src, strlen(src));
    for (int k = TK_MODEL; k <= TK_FALSE; k++) assert_int_equal(fe_lex_next(&l.lx).kind, k);
    assert_int_equal(fe_lex_next(&l.lx).kind, TK_IDENT);
    lex_close(&l);
}

/* Checks: line breaks and comments are skipped but recorded as nl_before with the right
 * line numbers. */
static void test_lines_and_comments(void **state) {
    (void)state;
    const char *src = "a # comment\n\n  b\tc # x\nd";
    Lex l;
    lex_open(&l, src, strlen(src));
    FeToken a = fe_lex_next(&l.lx), b = fe_lex_next(&l.lx), c = fe_lex_next(&l.lx), d = fe_lex_next(&l.lx);
    assert_false(a.nl_before);
    assert_true(b.nl_before);
    assert_int_equal(b.loc.line, 3);
    assert_int_equal(b.loc.col, 3);
    assert_false(c.nl_before);
    assert_true(d.nl_before);
    assert_int_equal(d.loc.line, 4);
    assert_int_equal(fe_lex_next(&l.lx).kind, TK_EOF);
    lex_close(&l);
}

/* Checks: integers, floats, exponents, and that `0..n` is a range, not the float `0.`. */
static void test_numbers(void **state) {
    (void)state;
    const char *src = "12 0.02 1e-5 3.5E2 0..n_layer";
    Lex l;
    lex_open(&l, src, strlen(src));
    FeToken t = fe_lex_next(&l.lx);
    assert_int_equal(t.kind, TK_INT);
    assert_int_equal(t.ival, 12);
    t = fe_lex_next(&l.lx);
    assert_int_equal(t.kind, TK_FLOAT);
    assert_true(t.fval == 0.02);
    t = fe_lex_next(&l.lx);
    assert_true(t.kind == TK_FLOAT && t.fval == 1e-5);
    t = fe_lex_next(&l.lx);
    assert_true(t.kind == TK_FLOAT && t.fval == 350.0);
    assert_int_equal(fe_lex_next(&l.lx).kind, TK_INT);
    assert_int_equal(fe_lex_next(&l.lx).kind, TK_DOTDOT);
    assert_int_equal(fe_lex_next(&l.lx).kind, TK_IDENT);
    assert_int_equal(l.diag.errors, 0);
    lex_close(&l);
}

/* Checks: malformed and oversized literals are one error each, with the literal quoted. */
static void test_bad_numbers(void **state) {
    (void)state;
    const char *src = "1e 12abc 99999999999999999999999";
    Lex l;
    lex_open(&l, src, strlen(src));
    for (int i = 0; i < 3; i++) assert_int_equal(fe_lex_next(&l.lx).kind, TK_ERROR);
    assert_int_equal(fe_lex_next(&l.lx).kind, TK_EOF);
    assert_int_equal(l.diag.errors, 3);
    fflush(l.out);
    assert_non_null(strstr(l.buf, "t.tfm:1:1: error: bad number literal '1e'"));
    assert_non_null(strstr(l.buf, "t.tfm:1:4: error: bad number literal '12abc'"));
    assert_non_null(strstr(l.buf, "t.tfm:1:10: error: number literal '99999999999999999999999' is too large"));
    lex_close(&l);
}

/* Checks: a NUL byte is an error that marks the source binary; a run of control bytes is
 * one error, not one per byte. */
static void test_bad_bytes(void **state) {
    (void)state;
    const char src[] = "a \x01\x02\x03 b \0 c";
    Lex l;
    lex_open(&l, src, sizeof src - 1);
    assert_int_equal(fe_lex_next(&l.lx).kind, TK_IDENT);
    assert_int_equal(fe_lex_next(&l.lx).kind, TK_ERROR);
    assert_int_equal(fe_lex_next(&l.lx).kind, TK_IDENT);
    assert_false(l.lx.binary);
    assert_int_equal(fe_lex_next(&l.lx).kind, TK_ERROR);
    assert_true(l.lx.binary);
    assert_int_equal(l.diag.errors, 2);
    lex_close(&l);
}

/* Checks: -D values are parsed like literals, and only whole literals are accepted. */
static void test_parse_number(void **state) {
    (void)state;
    bool f;
    int64_t i;
    double d;
    assert_true(fe_parse_number("64", 2, &f, &i, &d) && !f && i == 64);
    assert_true(fe_parse_number("0.1", 3, &f, &i, &d) && f && d == 0.1);
    assert_false(fe_parse_number("abc", 3, &f, &i, &d));
    assert_false(fe_parse_number("12x", 3, &f, &i, &d));
    assert_false(fe_parse_number("", 0, &f, &i, &d));
}

/* Checks: a name longer than FE_MAX_NAME is refused with its length. */
static void test_long_name(void **state) {
    (void)state;
    size_t n = 100000;
    char *src = malloc(n);
    memset(src, 'a', n);
    Lex l;
    lex_open(&l, src, n);
    assert_int_equal(fe_lex_next(&l.lx).kind, TK_ERROR);
    assert_int_equal(fe_lex_next(&l.lx).kind, TK_EOF);
    fflush(l.out);
    assert_non_null(strstr(l.buf, "name is 100000 characters long (limit 128)"));
    lex_close(&l);
    free(src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_and_columns), cmocka_unit_test(test_keywords),
        cmocka_unit_test(test_lines_and_comments), cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_bad_numbers), cmocka_unit_test(test_bad_bytes),
        cmocka_unit_test(test_parse_number), cmocka_unit_test(test_long_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
