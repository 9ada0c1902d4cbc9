/* lexer.c — turns .tfm source bytes into tokens, one at a time.
 *
 * Whitespace and `#` comments are skipped; a line break is not a token but is recorded on
 * the next token (nl_before), because statements end at the end of a line. Numbers are
 * decimal integers and floats (`12`, `0.02`, `1e-5`); `0..n` is a range, so a dot only
 * starts a fraction when a digit follows it.
 *
 * Decision a newcomer may question: any byte that cannot start a token (control bytes,
 * non-ASCII) is one error for the whole run of such bytes, and a NUL byte marks the file
 * as binary (the parser stops at that first error), so garbage gives one message, not
 * one per byte; identifiers are ASCII only.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/ast.h"

static const char *const fe_keywords[] = {
    "model", "block", "param", "input", "weight", "for", "in", "as", "output", "return",
    "true", "false",
};

void fe_lex_init(FeLexer *lx, const char *src, size_t len, Diag *diag) {
    lx->src = src;
    lx->len = len;
    lx->pos = 0;
    lx->line = 1;
    lx->col = 1;
    lx->diag = diag;
    lx->binary = false;
}

const char *fe_tok_kind_name(FeTokKind k) {
    switch (k) {
    case TK_EOF: return "end of file";
    case TK_ERROR: return "invalid token";
    case TK_IDENT: return "a name";
    case TK_INT: return "an integer";
    case TK_FLOAT: return "a number";
    case TK_MODEL: return "'model'";
    case TK_BLOCK: return "'block'";
    case TK_PARAM: return "'param'";
    case TK_INPUT: return "'input'";
    case TK_WEIGHT: return "'weight'";
    case TK_FOR: return "'for'";
    case TK_IN: return "'in'";
    case TK_AS: return "'as'";
    case TK_OUTPUT: return "'output'";
    case TK_RETURN: return "'return'";
    case TK_TRUE: return "'true'";
    case TK_FALSE: return "'false'";
    case TK_LPAREN: return "'('";
    case TK_RPAREN: return "')'";
    case TK_LBRACKET: return "'['";
    case TK_RBRACKET: return "']'";
    case TK_LBRACE: return "'{'";
    case TK_RBRACE: return "'}'";
    case TK_COMMA: return "','";
    case TK_COLON: return "':'";
    case TK_SEMI: return "';'";
    case TK_ASSIGN: return "'='";
    case TK_PLUS: return "'+'";
    case TK_MINUS: return "'-'";
    case TK_STAR: return "'*'";
    case TK_SLASH: return "'/'";
    case TK_AT: return "'@'";
    case TK_CARET: return "'^'";
    case TK_DOT: return "'.'";
    case TK_DOTDOT: return "'..'";
    case TK_PIPE: return "'|>'";
    }
    return "?";
}

static void advance(FeLexer *lx, size_t n) {
    for (size_t i = 0; i < n && lx->pos < lx->len; i++) {
        if (lx->src[lx->pos] == '\n') {
            lx->line++;
            lx->col = 1;
        } else {
            lx->col++;
        }
        lx->pos++;
    }
}

static int peekc(const FeLexer *lx, size_t ahead) {
    size_t p = lx->pos + ahead;
    return p < lx->len ? (unsigned char)lx->src[p] : -1;
}

static bool is_ident_start(int c) { return c >= 0 && (isalpha(c) || c == '_') && c < 128; }
static bool is_ident_char(int c) { return c >= 0 && c < 128 && (isalnum(c) || c == '_'); }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }

/* Length of the longest number literal at s (digits, fraction, exponent); 0 if none.
 * *bad is set when the literal is malformed ("1e", "1e+"). */
static size_t scan_number(const char *s, size_t len, bool *is_float, bool *bad) {
    size_t i = 0;
    *is_float = false;
    *bad = false;
    while (i < len && is_digit((unsigned char)s[i])) i++;
    if (i == 0) return 0;
    if (i + 1 < len && s[i] == '.' && is_digit((unsigned char)s[i + 1])) {
        *is_float = true;
        i++;
        while (i < len && is_digit((unsigned char)s[i])) i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        *is_float = true;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) i++;
        size_t digits = i;
        while (i < len && is_digit((unsigned char)s[i])) i++;
        if (i == digits) *bad = true;
    }
    return i;
}

/* Converts the literal s[0..n) (already scanned as valid) into a value; false if an
 * integer does not fit in int64 or a float overflows. */
static bool convert_number(const char *s, size_t n, bool is_float, int64_t *ival,
                           double *fval) {
    char buf[64];
    if (n >= sizeof buf) {
        /* Longer than any int64 or sensible float: only leading zeros could save it. */
        if (is_float) return false;
        size_t z = 0;
        while (z + 1 < n && s[z] == '0') z++;
        if (n - z >= sizeof buf) return false;
        s += z;
        n -= z;
    }
    memcpy(buf, s, n);
    buf[n] = 0;
    if (is_float) {
        double v = strtod(buf, NULL);
        if (isinf(v)) return false;
        *fval = v;
        return true;
    }
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = buf[i] - '0';
        if (v > (INT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *ival = v;
    return true;
}

bool fe_parse_number(const char *s, size_t len, bool *is_float, int64_t *ival,
                     double *fval) {
    bool bad;
    size_t n = scan_number(s, len, is_float, &bad);
    if (n == 0 || n != len || bad) return false;
    return convert_number(s, n, *is_float, ival, fval);
}

static FeToken make(FeLexer *lx, FeTokKind k, DiagLoc loc, size_t len, bool nl) {
    FeToken t = {k, loc, len, nl, 0, 0.0};
    advance(lx, len);
    return t;
}

/* Shows a literal in a message, shortened if it is long. */
static void report_literal(FeLexer *lx, DiagLoc loc, const char *what, const char *s,
                           size_t n, const char *hint) {
    int shown = n > 40 ? 40 : (int)n;
    diag_error(lx->diag, loc, "%s '%.*s%s'%s", what, shown, s, n > 40 ? "..." : "", hint);
}

FeToken fe_lex_next(FeLexer *lx) {
    bool nl = false;
    for (;;) {
        int c = peekc(lx, 0);
        if (c == '\n') {
            nl = true;
            advance(lx, 1);
        } else if (c == ' ' || c == '\t' || c == '\r') {
            advance(lx, 1);
        } else if (c == '#') {
            const char *end = memchr(lx->src + lx->pos, '\n', lx->len - lx->pos);
            size_t n = end ? (size_t)(end - (lx->src + lx->pos)) : lx->len - lx->pos;
            lx->pos += n; /* no line break inside: the column is not used again before one */
            lx->col += (int)(n > (size_t)INT32_MAX / 2 ? INT32_MAX / 2 : n);
        } else {
            break;
        }
    }
    DiagLoc loc = {lx->line, lx->col, lx->pos};
    int c = peekc(lx, 0);
    if (c < 0) return (FeToken){TK_EOF, loc, 0, nl, 0, 0.0};
    const char *s = lx->src + lx->pos;
    size_t rest = lx->len - lx->pos;

    if (is_ident_start(c)) {
        size_t n = 1;
        while (n < rest && is_ident_char((unsigned char)s[n])) n++;
        if (n > FE_MAX_NAME) {
            diag_error(lx->diag, loc, "name is %zu characters long (limit %d)", n, FE_MAX_NAME);
            return make(lx, TK_ERROR, loc, n, nl);
        }
        for (size_t k = 0; k < sizeof fe_keywords / sizeof *fe_keywords; k++) {
            if (strlen(fe_keywords[k]) == n && memcmp(fe_keywords[k], s, n) == 0)
                return make(lx, (FeTokKind)(TK_MODEL + k), loc, n, nl);
        }
        return make(lx, TK_IDENT, loc, n, nl);
    }

    if (is_digit(c)) {
        bool is_float, bad;
        size_t n = scan_number(s, rest, &is_float, &bad);
        /* A literal glued to letters ("12abc", "0x1f", "1e") is one bad literal. */
        size_t m = n;
        while (m < rest && (is_ident_char((unsigned char)s[m]) ||
                            (s[m] == '.' && m + 1 < rest && is_digit((unsigned char)s[m + 1]))))
            m++;
        if (bad || m != n) {
            report_literal(lx, loc, "bad number literal", s, m, "");
            return make(lx, TK_ERROR, loc, m, nl);
        }
        FeToken t = {is_float ? TK_FLOAT : TK_INT, loc, n, nl, 0, 0.0};
        if (!convert_number(s, n, is_float, &t.ival, &t.fval)) {
            report_literal(lx, loc, "number literal", s, n, " is too large");
            t.kind = TK_ERROR;
        }
        advance(lx, n);
        return t;
    }

    switch (c) {
    case '(': return make(lx, TK_LPAREN, loc, 1, nl);
    case ')': return make(lx, TK_RPAREN, loc, 1, nl);
    case '[': return make(lx, TK_LBRACKET, loc, 1, nl);
    case ']': return make(lx, TK_RBRACKET, loc, 1, nl);
    case '{': return make(lx, TK_LBRACE, loc, 1, nl);
    case '}': return make(lx, TK_RBRACE, loc, 1, nl);
    case ',': return make(lx, TK_COMMA, loc, 1, nl);
    case ':': return make(lx, TK_COLON, loc, 1, nl);
    case ';': return make(lx, TK_SEMI, loc, 1, nl);
    case '=': return make(lx, TK_ASSIGN, loc, 1, nl);
    case '+': return make(lx, TK_PLUS, loc, 1, nl);
    case '-': return make(lx, TK_MINUS, loc, 1, nl);
    case '*': return make(lx, TK_STAR, loc, 1, nl);
    case '/': return make(lx, TK_SLASH, loc, 1, nl);
    case '@': return make(lx, TK_AT, loc, 1, nl);
    case '^': return make(lx, TK_CARET, loc, 1, nl);
    case '.':
        if (peekc(lx, 1) == '.') return make(lx, TK_DOTDOT, loc, 2, nl);
        if (is_digit(peekc(lx, 1))) {
            size_t m = 1;
            while (m < rest && (is_ident_char((unsigned char)s[m]) || s[m] == '.')) m++;
            report_literal(lx, loc, "bad number literal", s, m,
                           " (write a digit before the dot, as in 0.5)");
            return make(lx, TK_ERROR, loc, m, nl);
        }
        return make(lx, TK_DOT, loc, 1, nl);
    case '|':
        if (peekc(lx, 1) == '>') return make(lx, TK_PIPE, loc, 2, nl);
        break;
    case '"': case '\'': {
        /* The language has no strings; name the mistake instead of "unexpected '\"'". */
        const char *end = memchr(s + 1, c, rest - 1);
        const char *eol = memchr(s + 1, '\n', rest - 1);
        if (!end || (eol && eol < end)) {
            diag_error(lx->diag, loc, "unterminated string (and the language has no strings)");
            size_t n = eol ? (size_t)(eol - s) : rest;
            return make(lx, TK_ERROR, loc, n, nl);
        }
        diag_error(lx->diag, loc, "strings are not part of the language");
        return make(lx, TK_ERROR, loc, (size_t)(end - s) + 1, nl);
    }
    default: break;
    }

    if (c == 0) {
        size_t n = 0;
        while (n < rest && s[n] == 0) n++;
        diag_error(lx->diag, loc, "NUL byte in source (is this a binary file?)");
        lx->binary = true;
        return make(lx, TK_ERROR, loc, n, nl);
    }
    if (c < 32 || c >= 127) {
        /* One error for the whole run of bytes that cannot start a token. */
        size_t n = 0;
        while (n < rest) {
            unsigned char b = (unsigned char)s[n];
            if (!(b >= 127 || (b < 32 && b != '\n' && b != '\t' && b != '\r' && b != 0))) break;
            n++;
        }
        if (c >= 128)
            diag_error(lx->diag, loc, "non-ASCII byte 0x%02x in source (names and operators are ASCII)", c);
        else
            diag_error(lx->diag, loc, "unexpected control byte 0x%02x in source", c);
        return make(lx, TK_ERROR, loc, n ? n : 1, nl);
    }
    diag_error(lx->diag, loc, "unexpected character '%c'", c);
    return make(lx, TK_ERROR, loc, 1, nl);
}
