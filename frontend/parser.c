/* parser.c — recursive descent from tokens to the syntax tree of ast.h.
 *
 *   program := item*
 *   item    := 'model' NAME '{' stmt* '}'
 *            | 'block' NAME '(' [bparam {',' bparam}] ')' '{' stmt* '}'
 *   bparam  := NAME [':' type]
 *   stmt    := 'param' NAME '=' expr {',' NAME '=' expr}
 *            | 'input' NAME ':' type
 *            | 'weight' NAME [':' type] ['=' expr]
 *            | 'for' NAME 'in' expr '..' expr ['as' path] '{' stmt* '}'
 *            | 'output' NAME {',' NAME}
 *            | 'return' expr {',' expr}
 *            | NAME {',' NAME} '=' expr
 *   path    := seg {'.' seg}        seg := NAME | INT | '{' expr '}'
 *   type    := NAME ['[' [expr {',' expr}] ']']
 *   expr    := add {'|>' postfix}                       (lowest)
 *   add     := mul {('+' | '-') mul}
 *   mul     := unary {('*' | '/' | '@') unary}
 *   unary   := '-' unary | postfix
 *   postfix := primary {'(' args ')' | '[' expr ']' | '^' 'T' | '.' NAME}
 *   primary := INT | FLOAT | NAME | 'true' | 'false' | '(' expr ')' | '[' [expr {',' expr}] ']'
 *   args    := [arg {',' arg}]      arg := [NAME '='] expr
 *
 * A statement ends at the end of its line (or at ';' or '}'); inside () and [] line
 * breaks are free, and an operator at the end of a line continues the expression.
 *
 * Decision a newcomer may question: every recursive rule goes through enter(), which
 * stops at FE_MAX_NESTING with "nesting too deep" — 100,000 '(' must be an error, not a
 * stack overflow — and expression trees carry their height, so a 10 MB `1+1+1...` line
 * cannot make the (recursive) lowering overflow either. After an error the parser skips
 * to the next line, and gives up after DIAG_MAX_ERRORS.
 */
#include <stdlib.h>
#include <string.h>

#include "frontend/ast.h"

typedef struct {
    FeLexer lx;
    Diag *diag;
    FeProgram *prog;
    Arena *arena;
    FeToken win[3]; /* win[0] is the current token */
    int nwin;
    int group;      /* open () and [] around the current token: line breaks are free */
    int depth;      /* recursion depth of the rules */
    long nodes;
    bool stop;      /* a limit was hit or too many errors: unwind to the end */
    /* intern table: open addressing on (bytes, length) */
    const char **names;
    size_t cap, count;
} FeParser;

/* ---- tokens ---- */

static FeToken *peek(FeParser *p, int k) {
    while (p->nwin <= k) p->win[p->nwin++] = fe_lex_next(&p->lx);
    return &p->win[k];
}

static FeToken next(FeParser *p) {
    FeToken t = *peek(p, 0);
    p->win[0] = p->win[1];
    p->win[1] = p->win[2];
    p->nwin--;
    return t;
}

static bool at(FeParser *p, FeTokKind k) { return peek(p, 0)->kind == k; }

static bool accept(FeParser *p, FeTokKind k) {
    if (!at(p, k)) return false;
    next(p);
    return true;
}

/* A token starts a new statement line (outside any () or []). */
static bool at_line_break(FeParser *p) { return p->group == 0 && peek(p, 0)->nl_before; }

static void describe(FeParser *p, const FeToken *t, char *buf, size_t n) {
    if (t->kind == TK_IDENT || t->kind == TK_INT || t->kind == TK_FLOAT) {
        int shown = t->len > 40 ? 40 : (int)t->len;
        snprintf(buf, n, "'%.*s'%s", shown, p->lx.src + t->loc.offset, t->len > 40 ? "..." : "");
    } else {
        snprintf(buf, n, "%s", fe_tok_kind_name(t->kind));
    }
}

/* "expected X, found Y" at the current token; silent after a lexer error (already told). */
static void error_expected(FeParser *p, const char *what) {
    FeToken *t = peek(p, 0);
    if (t->kind == TK_ERROR || p->stop) return;
    char found[64];
    describe(p, t, found, sizeof found);
    if (t->kind == TK_EOF)
        diag_error(p->diag, t->loc, "unexpected end of file, expected %s", what);
    else
        diag_error(p->diag, t->loc, "expected %s, found %s", what, found);
}

static bool expect(FeParser *p, FeTokKind k, const char *what) {
    if (accept(p, k)) return true;
    error_expected(p, what ? what : fe_tok_kind_name(k));
    return false;
}

/* ---- memory and names ---- */

static void *node(FeParser *p, size_t size) {
    if (++p->nodes == FE_MAX_NODES) {
        diag_error(p->diag, peek(p, 0)->loc, "file is too large (more than %d syntax nodes)",
                   FE_MAX_NODES);
        p->stop = true;
    }
    return arena_alloc(p->arena, size);
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

static const char *intern(FeParser *p, const char *s, size_t n) {
    if (2 * (p->count + 1) > p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 256;
        const char **names = xcalloc(cap, sizeof *names);
        for (size_t i = 0; i < p->cap; i++) {
            if (!p->names[i]) continue;
            size_t j = hash_bytes(p->names[i], strlen(p->names[i])) & (cap - 1);
            while (names[j]) j = (j + 1) & (cap - 1);
            names[j] = p->names[i];
        }
        free(p->names);
        p->names = names;
        p->cap = cap;
    }
    size_t j = hash_bytes(s, n) & (p->cap - 1);
    while (p->names[j]) {
        if (strncmp(p->names[j], s, n) == 0 && p->names[j][n] == 0) return p->names[j];
        j = (j + 1) & (p->cap - 1);
    }
    p->names[j] = arena_strdup(p->arena, s, n);
    p->count++;
    return p->names[j];
}

static const char *tok_name(FeParser *p, const FeToken *t) {
    return intern(p, p->lx.src + t->loc.offset, t->len);
}

/* Growable pointer arrays built on the heap, then copied into the arena. */
typedef struct {
    void **items;
    int n, cap;
} Vec;

static void vec_push(Vec *v, void *x) {
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 8;
        v->items = xrealloc(v->items, (size_t)v->cap * sizeof *v->items);
    }
    v->items[v->n++] = x;
}

static void *vec_finish(FeParser *p, Vec *v, size_t elem) {
    void *out = v->n ? arena_alloc(p->arena, (size_t)v->n * elem) : NULL;
    if (v->n) memcpy(out, v->items, (size_t)v->n * sizeof *v->items);
    free(v->items);
    v->items = NULL;
    return out;
}

/* ---- nesting ---- */

static bool enter(FeParser *p) {
    if (p->stop) return false;
    if (++p->depth > FE_MAX_NESTING) {
        diag_error(p->diag, peek(p, 0)->loc, "nesting too deep (limit %d levels)", FE_MAX_NESTING);
        p->stop = true;
        return false;
    }
    return true;
}

static void leave(FeParser *p) { p->depth--; }

/* ---- expressions ---- */

static FeExpr *parse_expr(FeParser *p);

static FeExpr *new_expr(FeParser *p, FeExprKind k, DiagLoc loc) {
    FeExpr *e = node(p, sizeof *e);
    e->kind = k;
    e->loc = loc;
    e->depth = 1;
    return e;
}

/* Sets e's height from its children; false (after one error) past FE_MAX_EXPR_DEPTH. */
static bool fix_depth(FeParser *p, FeExpr *e) {
    int d = 0;
    if (e->lhs && e->lhs->depth > d) d = e->lhs->depth;
    if (e->rhs && e->rhs->depth > d) d = e->rhs->depth;
    for (int i = 0; i < e->nargs; i++)
        if (e->args[i]->depth > d) d = e->args[i]->depth;
    e->depth = d + 1;
    if (e->depth > FE_MAX_EXPR_DEPTH) {
        diag_error(p->diag, e->loc, "expression nested too deep (limit %d levels)", FE_MAX_EXPR_DEPTH);
        p->stop = true;
        return false;
    }
    return true;
}

/* Comma-separated expressions up to `close`; the opening token is already consumed.
 * With kw != NULL, `name = expr` arguments are allowed. */
static bool parse_list(FeParser *p, FeTokKind close, FeExpr *e, bool keywords) {
    Vec args = {0}, kws = {0}, locs = {0};
    bool ok = true, seen_kw = false;
    p->group++;
    while (!at(p, close)) {
        if (args.n == FE_MAX_ARGS) {
            diag_error(p->diag, peek(p, 0)->loc, "too many items in one list (limit %d)", FE_MAX_ARGS);
            ok = false;
            break;
        }
        const char *kw = NULL;
        DiagLoc *kl = NULL;
        if (keywords && at(p, TK_IDENT) && peek(p, 1)->kind == TK_ASSIGN) {
            FeToken t = next(p);
            next(p);
            kw = tok_name(p, &t);
            kl = arena_alloc(p->arena, sizeof *kl);
            *kl = t.loc;
            seen_kw = true;
        } else if (seen_kw) {
            diag_error(p->diag, peek(p, 0)->loc,
                       "positional argument after a keyword argument");
            ok = false;
            break;
        }
        FeExpr *a = parse_expr(p);
        if (!a) {
            ok = false;
            break;
        }
        vec_push(&args, a);
        vec_push(&kws, (void *)kw);
        vec_push(&locs, kl);
        if (!accept(p, TK_COMMA)) break;
    }
    if (ok && !expect(p, close, close == TK_RPAREN ? "',' or ')'" : "',' or ']'")) ok = false;
    p->group--;
    e->nargs = args.n;
    e->args = vec_finish(p, &args, sizeof(FeExpr *));
    if (keywords) {
        e->kw = arena_alloc(p->arena, (size_t)(kws.n ? kws.n : 1) * sizeof *e->kw);
        e->kw_loc = arena_alloc(p->arena, (size_t)(locs.n ? locs.n : 1) * sizeof *e->kw_loc);
        for (int i = 0; i < kws.n; i++) {
            e->kw[i] = kws.items[i];
            if (locs.items[i]) e->kw_loc[i] = *(DiagLoc *)locs.items[i];
        }
    }
    free(kws.items);
    free(locs.items);
    return ok && fix_depth(p, e);
}

static FeExpr *parse_primary(FeParser *p) {
    FeToken *t = peek(p, 0);
    FeExpr *e;
    switch (t->kind) {
    case TK_INT:
        e = new_expr(p, E_INT, t->loc);
        e->ival = t->ival;
        next(p);
        return e;
    case TK_FLOAT:
        e = new_expr(p, E_FLOAT, t->loc);
        e->fval = t->fval;
        next(p);
        return e;
    case TK_TRUE: case TK_FALSE:
        e = new_expr(p, E_INT, t->loc);
        e->ival = t->kind == TK_TRUE;
        next(p);
        return e;
    case TK_IDENT:
        e = new_expr(p, E_NAME, t->loc);
        e->name = tok_name(p, t);
        next(p);
        return e;
    case TK_LPAREN: {
        next(p);
        if (!enter(p)) return NULL;
        p->group++;
        e = parse_expr(p);
        if (e && !expect(p, TK_RPAREN, "')'")) e = NULL;
        p->group--;
        leave(p);
        return e;
    }
    case TK_LBRACKET: {
        e = new_expr(p, E_LIST, t->loc);
        next(p);
        if (!enter(p)) return NULL;
        bool ok = parse_list(p, TK_RBRACKET, e, false);
        leave(p);
        return ok ? e : NULL;
    }
    default:
        error_expected(p, "an expression");
        return NULL;
    }
}

static FeExpr *parse_postfix(FeParser *p) {
    FeExpr *e = parse_primary(p);
    while (e && !p->stop && !at_line_break(p)) {
        FeToken *t = peek(p, 0);
        FeExpr *x;
        if (t->kind == TK_LPAREN) {
            x = new_expr(p, E_CALL, e->loc);
            x->lhs = e;
            next(p);
            if (!enter(p)) return NULL;
            bool ok = parse_list(p, TK_RPAREN, x, true);
            leave(p);
            if (!ok) return NULL;
        } else if (t->kind == TK_LBRACKET) {
            x = new_expr(p, E_INDEX, t->loc);
            next(p);
            if (!enter(p)) return NULL;
            p->group++;
            x->lhs = e;
            x->rhs = parse_expr(p);
            bool ok = x->rhs && expect(p, TK_RBRACKET, "']'");
            p->group--;
            leave(p);
            if (!ok || !fix_depth(p, x)) return NULL;
        } else if (t->kind == TK_CARET) {
            x = new_expr(p, E_TRANSPOSE, t->loc);
            next(p);
            FeToken *u = peek(p, 0);
            if (u->kind != TK_IDENT || u->len != 1 || p->lx.src[u->loc.offset] != 'T') {
                error_expected(p, "'T' after '^' (x^T swaps the last two axes)");
                return NULL;
            }
            next(p);
            x->lhs = e;
            if (!fix_depth(p, x)) return NULL;
        } else if (t->kind == TK_DOT) {
            next(p);
            FeToken *u = peek(p, 0);
            if (u->kind != TK_IDENT && !(u->kind >= TK_MODEL && u->kind <= TK_FALSE)) {
                error_expected(p, "a name after '.'");
                return NULL;
            }
            x = new_expr(p, E_MEMBER, u->loc);
            x->name = tok_name(p, u);
            next(p);
            x->lhs = e;
            if (!fix_depth(p, x)) return NULL;
        } else {
            break;
        }
        e = x;
    }
    return e;
}

static FeExpr *parse_unary(FeParser *p) {
    if (at(p, TK_MINUS)) {
        FeToken t = next(p);
        if (!enter(p)) return NULL;
        FeExpr *e = new_expr(p, E_NEG, t.loc);
        e->lhs = parse_unary(p);
        leave(p);
        if (!e->lhs || !fix_depth(p, e)) return NULL;
        return e;
    }
    return parse_postfix(p);
}

static FeExpr *binary(FeParser *p, FeToken op, FeExpr *l, FeExpr *r) {
    static const char ops[] = {[TK_PLUS] = '+', [TK_MINUS] = '-', [TK_STAR] = '*',
                               [TK_SLASH] = '/', [TK_AT] = '@'};
    FeExpr *e = new_expr(p, E_BINARY, op.loc);
    e->op = ops[op.kind];
    e->lhs = l;
    e->rhs = r;
    return fix_depth(p, e) ? e : NULL;
}

static FeExpr *parse_mul(FeParser *p) {
    FeExpr *e = parse_unary(p);
    while (e && !at_line_break(p) && (at(p, TK_STAR) || at(p, TK_SLASH) || at(p, TK_AT))) {
        FeToken op = next(p);
        FeExpr *r = parse_unary(p);
        e = r ? binary(p, op, e, r) : NULL;
    }
    return e;
}

static FeExpr *parse_add(FeParser *p) {
    FeExpr *e = parse_mul(p);
    while (e && !at_line_break(p) && (at(p, TK_PLUS) || at(p, TK_MINUS))) {
        FeToken op = next(p);
        FeExpr *r = parse_mul(p);
        e = r ? binary(p, op, e, r) : NULL;
    }
    return e;
}

static FeExpr *parse_expr(FeParser *p) {
    if (!enter(p)) return NULL;
    FeExpr *e = parse_add(p);
    while (e && !at_line_break(p) && at(p, TK_PIPE)) {
        FeToken op = next(p);
        FeExpr *f = parse_postfix(p);
        if (!f) {
            e = NULL;
            break;
        }
        FeExpr *call;
        if (f->kind == E_CALL) {
            call = f;
        } else if (f->kind == E_NAME || f->kind == E_MEMBER) {
            call = new_expr(p, E_CALL, f->loc);
            call->lhs = f;
            call->kw = arena_alloc(p->arena, sizeof *call->kw);
            call->kw_loc = arena_alloc(p->arena, sizeof *call->kw_loc);
        } else {
            diag_error(p->diag, op.loc, "the right side of '|>' must be a function or a call");
            e = NULL;
            break;
        }
        if (call->nargs == FE_MAX_ARGS) {
            diag_error(p->diag, op.loc, "too many items in one list (limit %d)", FE_MAX_ARGS);
            e = NULL;
            break;
        }
        /* Prepend the piped value as the first positional argument. */
        FeExpr **args = arena_alloc(p->arena, (size_t)(call->nargs + 1) * sizeof *args);
        const char **kw = arena_alloc(p->arena, (size_t)(call->nargs + 1) * sizeof *kw);
        DiagLoc *kl = arena_alloc(p->arena, (size_t)(call->nargs + 1) * sizeof *kl);
        args[0] = e;
        for (int i = 0; i < call->nargs; i++) {
            args[i + 1] = call->args[i];
            kw[i + 1] = call->kw[i];
            kl[i + 1] = call->kw_loc[i];
        }
        call->args = args;
        call->kw = kw;
        call->kw_loc = kl;
        call->nargs++;
        call->piped = true;
        e = fix_depth(p, call) ? call : NULL;
    }
    leave(p);
    return e;
}

/* ---- types, statements, items ---- */

static FeTypeExpr *parse_type(FeParser *p) {
    FeToken *t = peek(p, 0);
    if (t->kind != TK_IDENT) {
        error_expected(p, "a type such as f32[B, T]");
        return NULL;
    }
    FeTypeExpr *ty = node(p, sizeof *ty);
    ty->dtype = tok_name(p, t);
    ty->loc = t->loc;
    next(p);
    if (at(p, TK_LBRACKET) && !at_line_break(p)) {
        FeExpr tmp = {0};
        next(p);
        if (!enter(p)) return NULL;
        bool ok = parse_list(p, TK_RBRACKET, &tmp, false);
        leave(p);
        if (!ok) return NULL;
        if (tmp.nargs > IR_MAX_RANK) {
            diag_error(p->diag, ty->loc, "a tensor has at most %d dims, this type has %d",
                       IR_MAX_RANK, tmp.nargs);
            return NULL;
        }
        ty->dims = tmp.args;
        ty->ndims = tmp.nargs;
    }
    return ty;
}

static bool parse_name(FeParser *p, const char **name, DiagLoc *loc, const char *what) {
    FeToken *t = peek(p, 0);
    if (t->kind != TK_IDENT) {
        error_expected(p, what);
        return false;
    }
    *name = tok_name(p, t);
    if (loc) *loc = t->loc;
    next(p);
    return true;
}

static FeStmt *new_stmt(FeParser *p, FeStmtKind k, DiagLoc loc) {
    FeStmt *s = node(p, sizeof *s);
    s->kind = k;
    s->loc = loc;
    return s;
}

static void one_name(FeParser *p, FeStmt *s, const char *name, DiagLoc loc) {
    s->names = arena_alloc(p->arena, sizeof *s->names);
    s->name_locs = arena_alloc(p->arena, sizeof *s->name_locs);
    s->names[0] = name;
    s->name_locs[0] = loc;
    s->nnames = 1;
}

static bool parse_body(FeParser *p, FeStmt ***body, int *nbody, DiagLoc *end);

/* `param a = 1, b = 2` gives one S_PARAM per name, appended to out. */
static bool parse_params(FeParser *p, Vec *out) {
    DiagLoc kw = next(p).loc;
    do {
        const char *name;
        DiagLoc loc;
        if (!parse_name(p, &name, &loc, "a param name")) return false;
        if (!expect(p, TK_ASSIGN, "'=' and a value (param n = 12)")) return false;
        FeExpr *v = parse_expr(p);
        if (!v) return false;
        FeStmt *s = new_stmt(p, S_PARAM, kw);
        one_name(p, s, name, loc);
        s->value = v;
        vec_push(out, s);
    } while (accept(p, TK_COMMA));
    return true;
}

static bool parse_names(FeParser *p, FeStmt *s, const char *what) {
    Vec names = {0}, locs = {0};
    do {
        const char *name;
        DiagLoc loc;
        if (names.n == FE_MAX_ARGS) {
            diag_error(p->diag, peek(p, 0)->loc, "too many names (limit %d)", FE_MAX_ARGS);
            free(names.items);
            free(locs.items);
            return false;
        }
        if (!parse_name(p, &name, &loc, what)) {
            free(names.items);
            free(locs.items);
            return false;
        }
        DiagLoc *l = arena_alloc(p->arena, sizeof *l);
        *l = loc;
        vec_push(&names, (void *)name);
        vec_push(&locs, l);
    } while (accept(p, TK_COMMA));
    s->nnames = names.n;
    s->names = (const char **)vec_finish(p, &names, sizeof(char *));
    s->name_locs = arena_alloc(p->arena, (size_t)locs.n * sizeof *s->name_locs);
    for (int i = 0; i < locs.n; i++) s->name_locs[i] = *(DiagLoc *)locs.items[i];
    free(locs.items);
    return true;
}

static FeStmt *parse_for(FeParser *p) {
    FeStmt *s = new_stmt(p, S_FOR, next(p).loc);
    const char *var;
    DiagLoc vloc;
    if (!parse_name(p, &var, &vloc, "a loop variable name")) return NULL;
    one_name(p, s, var, vloc);
    if (!expect(p, TK_IN, "'in' (for i in 0..n)")) return NULL;
    if (!(s->lo = parse_expr(p))) return NULL;
    if (!expect(p, TK_DOTDOT, "'..' (for i in 0..n)")) return NULL;
    if (!(s->hi = parse_expr(p))) return NULL;
    if (accept(p, TK_AS)) {
        Vec segs = {0};
        do {
            FePathSeg *seg = arena_alloc(p->arena, sizeof *seg);
            FeToken *t = peek(p, 0);
            if (t->kind == TK_IDENT || t->kind == TK_INT) {
                seg->text = tok_name(p, t);
                next(p);
            } else if (t->kind == TK_LBRACE) {
                next(p);
                if (!(seg->expr = parse_expr(p)) || !expect(p, TK_RBRACE, "'}'")) {
                    free(segs.items);
                    return NULL;
                }
            } else {
                error_expected(p, "a weight path such as h.{i}");
                free(segs.items);
                return NULL;
            }
            if (segs.n == FE_MAX_ARGS) {
                diag_error(p->diag, t->loc, "weight path is too long (limit %d parts)", FE_MAX_ARGS);
                free(segs.items);
                return NULL;
            }
            vec_push(&segs, seg);
        } while (accept(p, TK_DOT));
        s->npath = segs.n;
        s->path = arena_alloc(p->arena, (size_t)segs.n * sizeof *s->path);
        for (int i = 0; i < segs.n; i++) s->path[i] = *(FePathSeg *)segs.items[i];
        free(segs.items);
    }
    DiagLoc end;
    if (!parse_body(p, &s->body, &s->nbody, &end)) return NULL;
    return s;
}

/* One statement (S_PARAM may give several, all pushed to out); false after an error. */
static bool parse_stmt(FeParser *p, Vec *out) {
    FeToken *t = peek(p, 0);
    FeStmt *s = NULL;
    switch (t->kind) {
    case TK_PARAM:
        return parse_params(p, out);
    case TK_INPUT: {
        s = new_stmt(p, S_INPUT, next(p).loc);
        const char *name;
        DiagLoc loc;
        if (!parse_name(p, &name, &loc, "an input name")) return false;
        one_name(p, s, name, loc);
        if (!expect(p, TK_COLON, "':' and a type (input idx: i32[B, T])")) return false;
        if (!(s->type = parse_type(p))) return false;
        break;
    }
    case TK_WEIGHT: {
        s = new_stmt(p, S_WEIGHT, next(p).loc);
        const char *name;
        DiagLoc loc;
        if (!parse_name(p, &name, &loc, "a weight name")) return false;
        one_name(p, s, name, loc);
        if (accept(p, TK_COLON) && !(s->type = parse_type(p))) return false;
        if (accept(p, TK_ASSIGN)) {
            if (!(s->value = parse_expr(p))) return false;
        } else if (!s->type) {
            error_expected(p, "':' and a type, or '=' and a layer such as linear(C, C)");
            return false;
        }
        break;
    }
    case TK_FOR:
        if (!enter(p)) return false;
        s = parse_for(p);
        leave(p);
        if (!s) return false;
        vec_push(out, s);
        return true; /* ends with '}': no line break needed */
    case TK_OUTPUT:
        s = new_stmt(p, S_OUTPUT, next(p).loc);
        if (!parse_names(p, s, "the name of a value to output")) return false;
        break;
    case TK_RETURN: {
        s = new_stmt(p, S_RETURN, next(p).loc);
        Vec exprs = {0};
        do {
            FeExpr *e = exprs.n < FE_MAX_ARGS ? parse_expr(p) : NULL;
            if (!e) {
                if (exprs.n == FE_MAX_ARGS)
                    diag_error(p->diag, t->loc, "too many values (limit %d)", FE_MAX_ARGS);
                free(exprs.items);
                return false;
            }
            vec_push(&exprs, e);
        } while (accept(p, TK_COMMA));
        s->nexprs = exprs.n;
        s->exprs = vec_finish(p, &exprs, sizeof(FeExpr *));
        break;
    }
    case TK_IDENT: {
        FeTokKind k1 = peek(p, 1)->kind;
        if (k1 != TK_ASSIGN && k1 != TK_COMMA) {
            char found[64];
            describe(p, peek(p, 1), found, sizeof found);
            if (k1 == TK_LPAREN)
                diag_error(p->diag, t->loc, "a call on its own does nothing: assign its result, as in y = %.*s(...)",
                           (int)(t->len > 40 ? 40 : t->len), p->lx.src + t->loc.offset);
            else if (peek(p, 1)->kind != TK_ERROR)
                diag_error(p->diag, peek(p, 1)->loc, "expected '=' after '%.*s', found %s",
                           (int)(t->len > 40 ? 40 : t->len), p->lx.src + t->loc.offset, found);
            return false;
        }
        s = new_stmt(p, S_ASSIGN, t->loc);
        if (!parse_names(p, s, "a name")) return false;
        if (!expect(p, TK_ASSIGN, "'='")) return false;
        if (!(s->value = parse_expr(p))) return false;
        break;
    }
    default:
        error_expected(p, "a statement (param, input, weight, for, output, return or name = ...)");
        return false;
    }
    vec_push(out, s);
    if (!at_line_break(p) && !at(p, TK_RBRACE) && !at(p, TK_EOF) && !accept(p, TK_SEMI)) {
        error_expected(p, "the end of the line after the statement");
        return false;
    }
    return true;
}

/* Skips the rest of a broken statement: to the next line, jumping over {...} groups. */
static void recover(FeParser *p) {
    int braces = 0;
    p->group = 0;
    for (;;) {
        FeToken *t = peek(p, 0);
        if (t->kind == TK_EOF) return;
        if (braces == 0 && t->kind == TK_RBRACE) return;
        if (t->kind == TK_LBRACE) braces++;
        if (t->kind == TK_RBRACE) braces--;
        next(p);
        if (braces == 0 && peek(p, 0)->nl_before) return;
    }
}

static bool too_many_errors(FeParser *p) {
    if (p->diag->errors >= DIAG_MAX_ERRORS || p->lx.binary) p->stop = true;
    return p->stop;
}

/* '{' stmt* '}' */
static bool parse_body(FeParser *p, FeStmt ***body, int *nbody, DiagLoc *end) {
    if (!expect(p, TK_LBRACE, "'{'")) return false;
    int saved_group = p->group;
    p->group = 0;
    Vec stmts = {0};
    bool ok = true;
    while (!at(p, TK_RBRACE) && !too_many_errors(p)) {
        if (at(p, TK_EOF)) {
            error_expected(p, "'}'");
            ok = false;
            break;
        }
        if (accept(p, TK_SEMI)) continue;
        if (!parse_stmt(p, &stmts)) {
            ok = false;
            recover(p);
        }
    }
    *end = peek(p, 0)->loc;
    if (ok && !p->stop) next(p); /* '}' */
    else if (at(p, TK_RBRACE)) next(p);
    p->group = saved_group;
    *nbody = stmts.n;
    *body = vec_finish(p, &stmts, sizeof(FeStmt *));
    return ok && !p->stop;
}

static FeItem *parse_item(FeParser *p) {
    FeToken *t = peek(p, 0);
    if (t->kind != TK_MODEL && t->kind != TK_BLOCK) {
        error_expected(p, "'model' or 'block'");
        return NULL;
    }
    FeItem *it = node(p, sizeof *it);
    it->is_model = t->kind == TK_MODEL;
    next(p);
    if (!parse_name(p, &it->name, &it->loc, it->is_model ? "a model name" : "a block name"))
        return NULL;
    if (!it->is_model) {
        if (!expect(p, TK_LPAREN, "'(' and the block's arguments")) return NULL;
        Vec params = {0};
        p->group++;
        while (!at(p, TK_RPAREN)) {
            FeBlockParam *bp = arena_alloc(p->arena, sizeof *bp);
            if (params.n == FE_MAX_ARGS) {
                diag_error(p->diag, peek(p, 0)->loc, "too many arguments (limit %d)", FE_MAX_ARGS);
                free(params.items);
                return NULL;
            }
            if (!parse_name(p, &bp->name, &bp->loc, "an argument name")) {
                free(params.items);
                return NULL;
            }
            if (accept(p, TK_COLON) && !(bp->type = parse_type(p))) {
                free(params.items);
                return NULL;
            }
            vec_push(&params, bp);
            if (!accept(p, TK_COMMA)) break;
        }
        p->group--;
        if (!expect(p, TK_RPAREN, "',' or ')'")) {
            free(params.items);
            return NULL;
        }
        it->nparams = params.n;
        it->params = arena_alloc(p->arena, (size_t)(params.n ? params.n : 1) * sizeof *it->params);
        for (int i = 0; i < params.n; i++) it->params[i] = *(FeBlockParam *)params.items[i];
        free(params.items);
    }
    if (!parse_body(p, &it->body, &it->nbody, &it->end)) return NULL;
    return it;
}

FeProgram *fe_parse(const char *src, size_t len, Diag *diag) {
    FeProgram *prog = xcalloc(1, sizeof *prog);
    FeParser p = {0};
    fe_lex_init(&p.lx, src, len, diag);
    p.diag = diag;
    p.prog = prog;
    p.arena = &prog->arena;
    Vec items = {0};
    while (!at(&p, TK_EOF) && !too_many_errors(&p)) {
        size_t start = peek(&p, 0)->loc.offset;
        FeItem *it = parse_item(&p);
        if (it) {
            vec_push(&items, it);
            continue;
        }
        /* Skip to the next line that starts an item (at least one token). */
        p.group = 0;
        if (peek(&p, 0)->loc.offset == start) next(&p);
        while (!at(&p, TK_EOF) && !too_many_errors(&p) && !((at(&p, TK_MODEL) || at(&p, TK_BLOCK)) && peek(&p, 0)->nl_before))
            next(&p);
    }
    prog->nitems = items.n;
    prog->items = vec_finish(&p, &items, sizeof(FeItem *));
    free(p.names);
    return prog;
}

void fe_program_free(FeProgram *p) {
    if (!p) return;
    arena_free(&p->arena);
    free(p);
}
