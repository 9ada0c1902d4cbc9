/* parser.c — reads the text form that printer.c writes (see docs/ir.md).
 *
 * A hand-written lexer and a flat recursive-descent parser: the grammar has no nesting
 * beyond module > func > value, so no input can exhaust the stack. Every operation goes
 * through ir_build, so a text file is checked exactly like a model built by the frontend:
 * the stated result type must be the inferred one. Value names are local to a function;
 * `%N` numbers need not be dense or ordered in input (the printer renumbers). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef enum {
    T_EOF, T_IDENT, T_NUMBER, T_VALUE /* %name */, T_SYMBOL /* @name */, T_PUNCT, T_ARROW, T_BAD
} TokKind;

typedef struct {
    TokKind kind;
    const char *start; /* for T_SYMBOL with quotes: the unescaped text lives in `text` */
    size_t len;
    char punct;
    size_t offset;
} Token;

enum { MAX_VALUES_PER_FUNC = 1 << 22, MAX_NAME = 4096, MAX_RESULTS = 1 << 16 };

typedef struct {
    const char *src;
    size_t len, pos;
    Diag *diag;
    Token tok;
    IrModule *m;
    char text[MAX_NAME + 1]; /* unescaped quoted symbol */
    /* value names of the current function */
    struct Binding {
        const char *name; /* interned */
        IrValue *v;
        DiagLoc loc;
    } *binds;
    size_t nbinds, capbinds;
    /* the current function's declared result types, returned values and updates */
    IrType *rtypes;
    IrValue **res;
    IrWeight **upd;
    int capres;
} Parser;

/* Room for result i (0-based); false with a message past MAX_RESULTS. */
static bool result_room(Parser *p, int i);

static DiagLoc here(Parser *p) { return diag_loc_at(p->diag, p->tok.offset); }

static bool is_ident_char(int c) { return isalnum(c) || c == '_' || c == '.' || c == '-'; }

static void next(Parser *p) {
    const char *s = p->src;
    for (;;) {
        while (p->pos < p->len && (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' ||
                                   s[p->pos] == '\r'))
            p->pos++;
        if (p->pos + 1 < p->len && s[p->pos] == '/' && s[p->pos + 1] == '/') {
            while (p->pos < p->len && s[p->pos] != '\n') p->pos++;
            continue;
        }
        break;
    }
    Token *t = &p->tok;
    t->offset = p->pos;
    t->start = s + p->pos;
    t->len = 0;
    if (p->pos >= p->len) {
        t->kind = T_EOF;
        return;
    }
    unsigned char c = (unsigned char)s[p->pos];
    size_t b = p->pos;
    if (c == '-' && p->pos + 1 < p->len && s[p->pos + 1] == '>') {
        t->kind = T_ARROW;
        p->pos += 2;
    } else if (isdigit(c) || ((c == '-' || c == '+') && p->pos + 1 < p->len &&
                              (isdigit((unsigned char)s[p->pos + 1]) || s[p->pos + 1] == 'i' ||
                               s[p->pos + 1] == 'n'))) {
        p->pos++;
        while (p->pos < p->len && (isalnum((unsigned char)s[p->pos]) || s[p->pos] == '.' ||
                                   ((s[p->pos] == '-' || s[p->pos] == '+') &&
                                    (s[p->pos - 1] == 'e' || s[p->pos - 1] == 'E'))))
            p->pos++;
        t->kind = T_NUMBER;
    } else if (isalpha(c) || c == '_') {
        while (p->pos < p->len && (isalnum((unsigned char)s[p->pos]) || s[p->pos] == '_')) p->pos++;
        t->kind = T_IDENT;
    } else if (c == '%') {
        p->pos++;
        b = p->pos;
        while (p->pos < p->len && (isalnum((unsigned char)s[p->pos]) || s[p->pos] == '_')) p->pos++;
        t->kind = p->pos > b ? T_VALUE : T_BAD;
    } else if (c == '@' && p->pos + 1 < p->len && s[p->pos + 1] == '"') {
        p->pos += 2;
        size_t n = 0;
        t->kind = T_SYMBOL;
        for (;;) {
            if (p->pos >= p->len || s[p->pos] == '\n' || n >= MAX_NAME) {
                t->kind = T_BAD;
                break;
            }
            char ch = s[p->pos++];
            if (ch == '"') break;
            if (ch == '\\' && p->pos < p->len) {
                ch = s[p->pos++];
                if (ch == 'x' && p->pos + 1 < p->len && isxdigit((unsigned char)s[p->pos]) &&
                    isxdigit((unsigned char)s[p->pos + 1])) {
                    char hex[3] = {s[p->pos], s[p->pos + 1], 0};
                    ch = (char)strtol(hex, NULL, 16);
                    p->pos += 2;
                }
            }
            p->text[n++] = ch;
        }
        p->text[n] = 0;
        t->start = p->text;
        t->len = n;
        if (t->kind == T_BAD || n == 0 || memchr(p->text, 0, n)) t->kind = T_BAD;
        return;
    } else if (c == '@') {
        p->pos++;
        b = p->pos;
        while (p->pos < p->len && is_ident_char((unsigned char)s[p->pos])) p->pos++;
        t->kind = p->pos > b ? T_SYMBOL : T_BAD;
    } else if (strchr("{}()[],:=", c) && c) {
        p->pos++;
        t->kind = T_PUNCT;
        t->punct = (char)c;
    } else {
        p->pos++;
        t->kind = T_BAD;
    }
    t->start = s + b;
    t->len = p->pos - b;
}

static const char *tok_desc(Parser *p, char *buf, size_t n) {
    Token *t = &p->tok;
    if (t->kind == T_EOF) return "end of file";
    if (t->kind == T_BAD) {
        unsigned char c = (unsigned char)p->src[t->offset];
        if (c == '"' || c == '@')
            snprintf(buf, n, "a malformed name");
        else if (isprint(c))
            snprintf(buf, n, "'%c'", c);
        else
            snprintf(buf, n, "byte 0x%02x", c);
        return buf;
    }
    snprintf(buf, n, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), t->start);
    return buf;
}

static bool expected(Parser *p, const char *what) {
    char buf[64];
    diag_error(p->diag, here(p), "expected %s, found %s", what, tok_desc(p, buf, sizeof buf));
    return false;
}

static bool is_punct(Parser *p, char c) { return p->tok.kind == T_PUNCT && p->tok.punct == c; }

static bool eat_punct(Parser *p, char c) {
    if (!is_punct(p, c)) {
        char what[8] = {'\'', c, '\'', 0};
        return expected(p, what);
    }
    next(p);
    return true;
}

static bool is_word(Parser *p, const char *w) {
    return p->tok.kind == T_IDENT && strlen(w) == p->tok.len && memcmp(p->tok.start, w, p->tok.len) == 0;
}

static bool parse_double(Parser *p, double *out) {
    bool neg = false;
    if (p->tok.kind == T_IDENT && (is_word(p, "inf") || is_word(p, "nan"))) {
        *out = is_word(p, "inf") ? INFINITY : NAN;
        next(p);
        return true;
    }
    if (p->tok.kind != T_NUMBER) return expected(p, "a number");
    char buf[64];
    if (p->tok.len >= sizeof buf) {
        diag_error(p->diag, here(p), "number literal is too long");
        return false;
    }
    memcpy(buf, p->tok.start, p->tok.len);
    buf[p->tok.len] = 0;
    const char *s = buf;
    if (*s == '-' || *s == '+') neg = *s++ == '-';
    char *end;
    double v;
    if (strcmp(s, "inf") == 0)
        v = INFINITY;
    else if (strcmp(s, "nan") == 0)
        v = NAN;
    else {
        errno = 0;
        v = strtod(s, &end);
        if (*end || end == s || !isdigit((unsigned char)*s)) {
            diag_error(p->diag, here(p), "bad number literal '%s'", buf);
            return false;
        }
    }
    *out = neg ? -v : v;
    next(p);
    return true;
}

static bool parse_int(Parser *p, int64_t *out) {
    DiagLoc loc = here(p);
    double d;
    if (!parse_double(p, &d)) return false;
    if (d != floor(d) || fabs(d) > 9e15) {
        diag_error(p->diag, loc, "expected an integer");
        return false;
    }
    *out = (int64_t)d;
    return true;
}

/* f32[B, T, 768] */
static bool parse_type(Parser *p, IrType *t) {
    memset(t, 0, sizeof *t);
    if (p->tok.kind != T_IDENT || !ir_dtype_from_name(p->tok.start, p->tok.len, &t->dtype))
        return expected(p, "a type such as f32[B, 4]");
    next(p);
    if (!eat_punct(p, '[')) return false;
    while (!is_punct(p, ']')) {
        if (t->rank == IR_MAX_RANK) {
            diag_error(p->diag, here(p), "too many dims (the limit is %d)", IR_MAX_RANK);
            return false;
        }
        if (p->tok.kind == T_IDENT) {
            t->dims[t->rank++] = ir_dim_sym(ir_intern(p->m, p->tok.start, p->tok.len));
            next(p);
        } else {
            DiagLoc loc = here(p);
            int64_t n;
            if (!parse_int(p, &n)) return false;
            if (n < 0) {
                diag_error(p->diag, loc, "a dim cannot be negative");
                return false;
            }
            t->dims[t->rank++] = ir_dim_int(n);
        }
        if (!is_punct(p, ']') && !eat_punct(p, ',')) return false;
    }
    next(p);
    if (ir_type_static_elements(t) > IR_MAX_ELEMENTS) {
        diag_error(p->diag, here(p), "type is too large for memory (more than %lld elements)",
                   (long long)IR_MAX_ELEMENTS);
        return false;
    }
    return true;
}

static struct Binding *find_binding(Parser *p, const char *name) {
    for (size_t i = 0; i < p->nbinds; i++)
        if (p->binds[i].name == name) return &p->binds[i];
    return NULL;
}

static bool bind(Parser *p, const char *name, IrValue *v, DiagLoc loc) {
    struct Binding *old = find_binding(p, name);
    if (old) {
        diag_error(p->diag, loc, "value %%%s is defined twice", name);
        diag_note(p->diag, old->loc, "first definition is here");
        return false;
    }
    if (p->nbinds == MAX_VALUES_PER_FUNC) {
        diag_error(p->diag, loc, "too many values in one function (the limit is %d)",
                   MAX_VALUES_PER_FUNC);
        return false;
    }
    if (p->nbinds == p->capbinds) {
        p->capbinds = p->capbinds ? p->capbinds * 2 : 64;
        p->binds = xrealloc(p->binds, sizeof *p->binds * p->capbinds);
    }
    p->binds[p->nbinds++] = (struct Binding){name, v, loc};
    return true;
}

static IrValue *parse_ref(Parser *p) {
    if (p->tok.kind != T_VALUE) {
        expected(p, "a value such as %0");
        return NULL;
    }
    const char *name = ir_intern(p->m, p->tok.start, p->tok.len);
    struct Binding *b = find_binding(p, name);
    if (!b) {
        diag_error(p->diag, here(p), "use of undefined value %%%s", name);
        return NULL;
    }
    next(p);
    return b->v;
}

static bool parse_bool(Parser *p, bool *out) {
    if (is_word(p, "true") || is_word(p, "false")) {
        *out = is_word(p, "true");
        next(p);
        return true;
    }
    return expected(p, "true or false");
}

/* {axis = 2, axes = [0, 1], value = -inf, keepdim = true} */
static bool parse_attrs(Parser *p, IrOp op, IrAttrs *a) {
    unsigned want = ir_op_attrs(op) & ~(unsigned)A_NAME, seen = 0;
    if (!is_punct(p, '{')) goto check;
    next(p);
    while (!is_punct(p, '}')) {
        if (p->tok.kind != T_IDENT) return expected(p, "an attribute name");
        static const struct {
            const char *name;
            unsigned bit;
        } names[] = {{"axis", A_AXIS},   {"axes", A_AXES},   {"perm", A_PERM},
                     {"start", A_START}, {"end", A_END},     {"parts", A_PARTS},
                     {"index", A_INDEX}, {"value", A_VALUE}, {"eps", A_EPS},
                     {"keepdim", A_KEEPDIM}, {"scale", A_SCALE}, {"causal", A_CAUSAL}};
        unsigned bit = 0;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (is_word(p, names[i].name)) bit = names[i].bit;
        if (!(bit & want)) {
            diag_error(p->diag, here(p), "%s has no attribute '%.*s'", ir_op_name(op),
                       (int)(p->tok.len > 40 ? 40 : p->tok.len), p->tok.start);
            return false;
        }
        if (seen & bit) {
            diag_error(p->diag, here(p), "attribute '%.*s' is given twice", (int)p->tok.len,
                       p->tok.start);
            return false;
        }
        seen |= bit;
        next(p);
        if (!eat_punct(p, '=')) return false;
        bool ok = true;
        switch (bit) {
        case A_AXIS: ok = parse_int(p, &a->axis); break;
        case A_START: ok = parse_int(p, &a->start); break;
        case A_END: ok = parse_int(p, &a->end); break;
        case A_PARTS: ok = parse_int(p, &a->parts); break;
        case A_INDEX: ok = parse_int(p, &a->index); break;
        case A_VALUE: ok = parse_double(p, &a->value); break;
        case A_EPS: ok = parse_double(p, &a->eps); break;
        case A_KEEPDIM: ok = parse_bool(p, &a->keepdim); break;
        case A_SCALE: ok = parse_double(p, &a->scale); break;
        case A_CAUSAL: ok = parse_bool(p, &a->causal); break;
        default: /* A_AXES, A_PERM */
            if (!eat_punct(p, '[')) return false;
            while (!is_punct(p, ']')) {
                if (a->nints == IR_MAX_RANK) {
                    diag_error(p->diag, here(p), "too many axes (the limit is %d)", IR_MAX_RANK);
                    return false;
                }
                if (!parse_int(p, &a->ints[a->nints++])) return false;
                if (!is_punct(p, ']') && !eat_punct(p, ',')) return false;
            }
            next(p);
        }
        if (!ok) return false;
        if (!is_punct(p, '}') && !eat_punct(p, ',')) return false;
    }
    next(p);
check:
    /* keepdim and causal default to false; every other attribute the op has must be given. */
    if ((want & ~seen & ~(unsigned)(A_KEEPDIM | A_CAUSAL)) != 0) {
        diag_error(p->diag, here(p), "%s is missing an attribute (it needs %s%s%s%s%s%s%s%s%s%s)",
                   ir_op_name(op), want & A_AXIS ? "axis " : "", want & A_AXES ? "axes " : "",
                   want & A_PERM ? "perm " : "", want & A_START ? "start " : "",
                   want & A_END ? "end " : "", want & A_PARTS ? "parts " : "",
                   want & A_INDEX ? "index " : "", want & A_VALUE ? "value " : "",
                   want & A_EPS ? "eps " : "", want & A_SCALE ? "scale " : "");
        return false;
    }
    return true;
}

/* %3 = op [@name] [%a, %b] [{attrs}] : type */
static bool parse_value(Parser *p, IrFunc *f) {
    DiagLoc loc = here(p);
    const char *name = ir_intern(p->m, p->tok.start, p->tok.len);
    next(p);
    if (!eat_punct(p, '=')) return false;
    if (p->tok.kind != T_IDENT) return expected(p, "an op name");
    IrOp op;
    DiagLoc oploc = here(p);
    if (!ir_op_from_name(p->tok.start, p->tok.len, &op) || op == OP_INPUT) {
        diag_error(p->diag, oploc, "unknown op '%.*s'", (int)(p->tok.len > 40 ? 40 : p->tok.len),
                   p->tok.start);
        return false;
    }
    next(p);
    IrAttrs attrs = {0};
    if (ir_op_attrs(op) & A_NAME) {
        if (p->tok.kind != T_SYMBOL) return expected(p, "a name such as @wte");
        attrs.name = ir_intern(p->m, p->tok.start, p->tok.len);
        if (op == OP_WEIGHT && !ir_module_find_weight(p->m, attrs.name)) {
            diag_error(p->diag, here(p), "unknown weight @%s", attrs.name);
            return false;
        }
        next(p);
    }
    IrValue *args[64];
    int nargs = 0;
    while (p->tok.kind == T_VALUE) {
        if (nargs == 64) {
            diag_error(p->diag, here(p), "too many operands (the limit is 64)");
            return false;
        }
        if (!(args[nargs++] = parse_ref(p))) return false;
        if (!is_punct(p, ',')) break;
        next(p);
    }
    if (!parse_attrs(p, op, &attrs)) return false;
    if (!eat_punct(p, ':')) return false;
    IrType type;
    if (!parse_type(p, &type)) return false;
    if (op == OP_WEIGHT) {
        IrWeight *w = ir_module_find_weight(p->m, attrs.name);
        if (!ir_type_eq(&w->type, &type)) {
            char a[IR_TYPE_STR_MAX], b[IR_TYPE_STR_MAX];
            diag_error(p->diag, oploc, "weight @%s is %s, not %s", w->name,
                       ir_type_str(&w->type, a, sizeof a), ir_type_str(&type, b, sizeof b));
            return false;
        }
    }
    char err[512];
    IrValue *v = ir_build(f, op, args, nargs, &attrs, &type, NULL, err, sizeof err);
    if (!v) {
        diag_error(p->diag, oploc, "%s", err);
        return false;
    }
    v->loc = loc;
    return bind(p, name, v, loc);
}

static bool parse_func(Parser *p) {
    next(p); /* func */
    if (p->tok.kind != T_SYMBOL) return expected(p, "a function name such as @forward");
    const char *fname = ir_intern(p->m, p->tok.start, p->tok.len);
    if (ir_module_find_func(p->m, fname)) {
        diag_error(p->diag, here(p), "function @%s is defined twice", fname);
        return false;
    }
    IrFunc *f = ir_module_add_func(p->m, fname);
    next(p);
    p->nbinds = 0;
    if (!eat_punct(p, '(')) return false;
    while (!is_punct(p, ')')) {
        if (p->tok.kind != T_VALUE) return expected(p, "a parameter such as %x");
        DiagLoc loc = here(p);
        const char *name = ir_intern(p->m, p->tok.start, p->tok.len);
        if (isdigit((unsigned char)name[0])) {
            diag_error(p->diag, loc, "a parameter needs a name that starts with a letter");
            return false;
        }
        next(p);
        IrType t;
        if (!eat_punct(p, ':') || !parse_type(p, &t)) return false;
        if (!bind(p, name, ir_func_add_param(f, name, &t), loc)) return false;
        if (!is_punct(p, ')') && !eat_punct(p, ',')) return false;
    }
    next(p);
    int nr = 0;
    if (p->tok.kind != T_ARROW) return expected(p, "'->'");
    next(p);
    if (!eat_punct(p, '(')) return false;
    while (!is_punct(p, ')')) {
        if (!result_room(p, nr)) return false;
        if (!parse_type(p, &p->rtypes[nr++])) return false;
        if (!is_punct(p, ')') && !eat_punct(p, ',')) return false;
    }
    next(p);
    if (!eat_punct(p, '{')) return false;
    while (p->tok.kind == T_VALUE)
        if (!parse_value(p, f)) return false;
    if (!is_word(p, "return")) return expected(p, "a value definition or 'return'");
    DiagLoc rloc = here(p);
    next(p);
    IrValue **res = p->res;
    IrWeight **upd = p->upd;
    int n = 0;
    while (p->tok.kind == T_VALUE) {
        if (!result_room(p, n)) return false;
        res = p->res;
        upd = p->upd;
        upd[n] = NULL;
        if (!(res[n++] = parse_ref(p))) return false;
        if (p->tok.kind == T_ARROW) {
            next(p);
            if (p->tok.kind != T_SYMBOL) return expected(p, "the weight a result updates, such as @w");
            const char *wname = ir_intern(p->m, p->tok.start, p->tok.len);
            if (!(upd[n - 1] = ir_module_find_weight(p->m, wname))) {
                diag_error(p->diag, here(p), "unknown weight @%s", wname);
                return false;
            }
            if (!ir_type_eq(&upd[n - 1]->type, &res[n - 1]->type)) {
                char a[IR_TYPE_STR_MAX], b[IR_TYPE_STR_MAX];
                diag_error(p->diag, here(p), "weight @%s is %s but the value that updates it is %s",
                           wname, ir_type_str(&upd[n - 1]->type, a, sizeof a),
                           ir_type_str(&res[n - 1]->type, b, sizeof b));
                return false;
            }
            next(p);
        }
        if (!is_punct(p, ',')) break;
        next(p);
    }
    if (n != nr) {
        diag_error(p->diag, rloc, "@%s declares %d result%s but returns %d", fname, nr,
                   nr == 1 ? "" : "s", n);
        return false;
    }
    for (int i = 0; i < n; i++) {
        if (!ir_type_eq(&res[i]->type, &p->rtypes[i])) {
            char a[IR_TYPE_STR_MAX], b[IR_TYPE_STR_MAX];
            diag_error(p->diag, rloc, "result %d is declared %s but the value returned is %s", i,
                       ir_type_str(&p->rtypes[i], a, sizeof a), ir_type_str(&res[i]->type, b, sizeof b));
            return false;
        }
    }
    ir_func_set_results(f, res, n);
    for (int i = 0; i < n; i++) ir_func_set_update(f, i, upd[i]);
    return eat_punct(p, '}');
}

static bool result_room(Parser *p, int i) {
    if (i >= MAX_RESULTS) {
        diag_error(p->diag, here(p), "too many results (the limit is %d)", MAX_RESULTS);
        return false;
    }
    if (i < p->capres) return true;
    p->capres = p->capres ? p->capres * 2 : 64;
    p->rtypes = xrealloc(p->rtypes, sizeof *p->rtypes * (size_t)p->capres);
    p->res = xrealloc(p->res, sizeof *p->res * (size_t)p->capres);
    p->upd = xrealloc(p->upd, sizeof *p->upd * (size_t)p->capres);
    return true;
}

static bool parse_weight(Parser *p) {
    next(p); /* weight */
    if (p->tok.kind != T_SYMBOL) return expected(p, "a weight name such as @wte");
    DiagLoc loc = here(p);
    const char *name = ir_intern(p->m, p->tok.start, p->tok.len);
    if (ir_module_find_weight(p->m, name)) {
        diag_error(p->diag, loc, "weight @%s is defined twice", name);
        return false;
    }
    next(p);
    IrType t;
    if (!eat_punct(p, ':') || !parse_type(p, &t)) return false;
    if (!ir_type_is_static(&t)) {
        diag_error(p->diag, loc, "weight @%s must have a fixed shape (no symbols)", name);
        return false;
    }
    if (!eat_punct(p, '=')) return false;
    IrInit in = {0};
    int want = 0;
    if (is_word(p, "zeros")) in.kind = INIT_ZEROS;
    else if (is_word(p, "ones")) in.kind = INIT_ONES;
    else if (is_word(p, "normal")) in.kind = INIT_NORMAL, want = 1;
    else if (is_word(p, "uniform")) in.kind = INIT_UNIFORM, want = 2;
    else if (is_word(p, "constant")) in.kind = INIT_CONSTANT, want = 1;
    else return expected(p, "an initialiser (zeros, ones, normal(std), uniform(a, b), constant(v))");
    next(p);
    if (want) {
        if (!eat_punct(p, '(') || !parse_double(p, &in.a)) return false;
        if (want == 2 && (!eat_punct(p, ',') || !parse_double(p, &in.b))) return false;
        if (!eat_punct(p, ')')) return false;
    }
    ir_module_add_weight(p->m, name, &t, in);
    return true;
}

IrModule *ir_parse(const char *src, size_t len, Diag *diag) {
    Parser p = {.src = src, .len = len, .diag = diag};
    next(&p);
    if (!is_word(&p, "module")) {
        expected(&p, "'module'");
        return NULL;
    }
    next(&p);
    if (p.tok.kind != T_SYMBOL) {
        expected(&p, "a module name such as @gpt2");
        return NULL;
    }
    p.m = ir_module_create("");
    p.m->name = ir_intern(p.m, p.tok.start, p.tok.len);
    next(&p);
    bool ok = eat_punct(&p, '{');
    while (ok && !is_punct(&p, '}')) {
        if (is_word(&p, "weight"))
            ok = parse_weight(&p);
        else if (is_word(&p, "func"))
            ok = parse_func(&p);
        else
            ok = expected(&p, "'weight', 'func' or '}'");
    }
    if (ok) {
        next(&p);
        if (p.tok.kind != T_EOF) ok = expected(&p, "end of file after the module");
    }
    free(p.binds);
    free(p.rtypes);
    free(p.res);
    free(p.upd);
    if (!ok || diag->errors) {
        ir_module_destroy(p.m);
        return NULL;
    }
    return p.m;
}
