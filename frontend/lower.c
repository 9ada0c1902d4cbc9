/* lower.c — from the syntax tree to an IrModule: names, statements, expressions, blocks.
 *
 * The selected model's statements run top to bottom, building IR as they go: `param`
 * binds a compile-time number (or its -D override), `input` adds a parameter of
 * @forward, `weight` adds module weights under the current checkpoint path, `for` unrolls
 * its body once per iteration (extending the path with `as h.{i}`), a block call inlines
 * the block's body in a fresh scope whose path is extended by the block's name, and
 * `output` collects the results.
 *
 * Decision a newcomer may question: blocks are inlined, not lowered once and called,
 * because their shapes (B, T, C in `x: f32[B, T, C]`) and their weights are different at
 * every call site; the IR has no calls to lower into anyway. Inlining would not stop on a
 * recursive block, so recursion is rejected first, on the call graph, and call depth,
 * loop length and total work are capped (FE_MAX_*) so no input can hang the compiler.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/lower.h"

static const FeVal fe_error = {FV_ERROR, 0, 0.0, NULL, NULL, NULL, NULL, 0};

/* ---- pointer map ---- */

static size_t hash_ptr(const void *p) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

void fe_map_put(FePtrMap *m, const void *key, int val) {
    if (2 * (m->count + 1) > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        const void **keys = xcalloc(cap, sizeof *keys);
        int *vals = xcalloc(cap, sizeof *vals);
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i]) continue;
            size_t j = hash_ptr(m->keys[i]) & (cap - 1);
            while (keys[j]) j = (j + 1) & (cap - 1);
            keys[j] = m->keys[i];
            vals[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
    }
    size_t j = hash_ptr(key) & (m->cap - 1);
    while (m->keys[j] && m->keys[j] != key) j = (j + 1) & (m->cap - 1);
    if (!m->keys[j]) {
        m->keys[j] = key;
        m->count++;
    }
    m->vals[j] = val;
}

bool fe_map_get(const FePtrMap *m, const void *key, int *val) {
    if (!m->cap) return false;
    size_t j = hash_ptr(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (m->keys[j] == key) {
            *val = m->vals[j];
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return false;
}

void fe_map_free(FePtrMap *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- scopes ---- */

static FeBinding *env_find(FeEnv *e, const char *name) {
    int i;
    return fe_map_get(&e->map, name, &i) && i >= 0 ? &e->b[i] : NULL;
}

static void env_bind(FeEnv *e, const char *name, FeVal v, DiagLoc loc, FeBindKind kind) {
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 32;
        e->b = xrealloc(e->b, (size_t)e->cap * sizeof *e->b);
    }
    int prev = -1;
    fe_map_get(&e->map, name, &prev);
    e->b[e->n] = (FeBinding){name, v, loc, kind, prev};
    fe_map_put(&e->map, name, e->n);
    e->n++;
}

static void env_push(FeEnv *e) {
    if (e->nscopes == e->scap) {
        e->scap = e->scap ? 2 * e->scap : 8;
        e->scopes = xrealloc(e->scopes, (size_t)e->scap * sizeof *e->scopes);
    }
    e->scopes[e->nscopes++] = e->n;
}

static void env_pop(FeEnv *e) {
    int mark = e->scopes[--e->nscopes];
    while (e->n > mark) {
        FeBinding *b = &e->b[--e->n];
        fe_map_put(&e->map, b->name, b->prev);
    }
}

/* The binding was made in the innermost open scope. */
static bool env_in_scope(const FeEnv *e, const FeBinding *b) {
    int mark = e->nscopes ? e->scopes[e->nscopes - 1] : 0;
    return b - e->b >= mark;
}

static void env_free(FeEnv *e) {
    free(e->b);
    free(e->scopes);
    fe_map_free(&e->map);
    memset(e, 0, sizeof *e);
}

/* One activation: the model's body, or one call of a block. */
typedef struct {
    FeEnv env;
    const FeItem *item;
    bool is_block;
    int loop_depth;
    bool returned;
    FeVal ret;
} Frame;

static FeBinding *lookup(FeLower *L, Frame *fr, const char *name) {
    FeBinding *b = env_find(&fr->env, name);
    return b ? b : env_find(&L->params, name);
}

/* ---- errors and helpers shared with builtins.c ---- */

void fe_err(FeLower *L, DiagLoc loc, const char *fmt, ...) {
    if (L->stop) return;
    if (loc.line > 0) {
        for (int i = 0; i < L->nreported; i++)
            if (L->reported[i] == loc.offset) return;
        if (L->nreported < DIAG_MAX_ERRORS) L->reported[L->nreported++] = loc.offset;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_error(L->diag, loc, "%s", msg);
    if (L->diag->errors >= DIAG_MAX_ERRORS) L->stop = true;
}

bool fe_check_size(FeLower *L, const IrType *t, DiagLoc loc) {
    if (ir_type_static_elements(t) <= IR_MAX_ELEMENTS) return true;
    char ts[IR_TYPE_STR_MAX];
    fe_err(L, loc, "shape %s is too large for memory (more than %lld elements)",
           ir_type_str(t, ts, sizeof ts), (long long)IR_MAX_ELEMENTS);
    return false;
}

IrValue *fe_build(FeLower *L, DiagLoc loc, IrOp op, IrValue **args, int nargs,
                  const IrAttrs *attrs, const IrType *given) {
    if (L->stop) return NULL;
    if (++L->nops > FE_MAX_OPS) {
        fe_err(L, loc, "model is too large: more than %d operations", FE_MAX_OPS);
        L->stop = true;
        return NULL;
    }
    IrAttrs none = {0};
    char err[512] = "";
    IrValue *v = ir_build(L->f, op, args, nargs, attrs ? attrs : &none, given, NULL, err, sizeof err);
    if (!v) {
        fe_err(L, loc, "%s", err[0] ? err : "invalid operation");
        return NULL;
    }
    v->loc = loc;
    return fe_check_size(L, &v->type, loc) ? v : NULL;
}

IrValue *fe_scalar(FeLower *L, DiagLoc loc, double v, IrDType dt) {
    IrType t = {dt, 0, {{0}}};
    IrAttrs at = {0};
    at.value = v;
    return fe_build(L, loc, OP_CONSTANT, NULL, 0, &at, &t);
}

const char *fe_describe(const FeVal *v, char *buf, size_t n) {
    char ts[IR_TYPE_STR_MAX];
    switch (v->kind) {
    case FV_ERROR: snprintf(buf, n, "an invalid value"); break;
    case FV_INT: snprintf(buf, n, "the number %lld", (long long)v->i); break;
    case FV_FLOAT: snprintf(buf, n, "the number %g", v->f); break;
    case FV_DIM: snprintf(buf, n, "the symbolic dim %s", v->sym); break;
    case FV_TENSOR: snprintf(buf, n, "a tensor %s", ir_type_str(&v->t->type, ts, sizeof ts)); break;
    case FV_TUPLE: snprintf(buf, n, "a tuple of %d values", v->n); break;
    case FV_LIST: snprintf(buf, n, "a list of %d items", v->n); break;
    case FV_LAYER:
        snprintf(buf, n, "%s", v->layer->kind == FL_LINEAR ? "a linear layer"
                               : v->layer->kind == FL_LAYERNORM ? "a layernorm layer" : "an embedding");
        break;
    }
    return buf;
}

bool fe_as_tensor(FeLower *L, const FeVal *v, DiagLoc loc, const char *what, IrValue **out) {
    if (v->kind == FV_TENSOR) {
        *out = v->t;
        return true;
    }
    if (v->kind == FV_LAYER && v->layer->kind == FL_EMBEDDING) {
        *out = v->layer->w;
        return true;
    }
    if (v->kind == FV_ERROR) return false;
    char d[128];
    if (v->kind == FV_LAYER)
        fe_err(L, loc, "%s must be a tensor, got %s (call it, or use its .weight)", what, fe_describe(v, d, sizeof d));
    else if (v->kind == FV_TUPLE)
        fe_err(L, loc, "%s must be a tensor, got %s (unpack it first: a, b = ...)", what, fe_describe(v, d, sizeof d));
    else
        fe_err(L, loc, "%s must be a tensor, got %s", what, fe_describe(v, d, sizeof d));
    return false;
}

bool fe_as_int(FeLower *L, const FeVal *v, DiagLoc loc, const char *what, int64_t *out) {
    if (v->kind == FV_INT) {
        *out = v->i;
        return true;
    }
    if (v->kind == FV_ERROR) return false;
    char d[128];
    if (v->kind == FV_DIM)
        fe_err(L, loc, "%s must be an integer known at compile time, got the symbolic dim %s", what, v->sym);
    else
        fe_err(L, loc, "%s must be an integer, got %s", what, fe_describe(v, d, sizeof d));
    return false;
}

bool fe_as_number(FeLower *L, const FeVal *v, DiagLoc loc, const char *what, double *out) {
    if (v->kind == FV_INT || v->kind == FV_FLOAT) {
        *out = v->kind == FV_INT ? (double)v->i : v->f;
        return true;
    }
    if (v->kind == FV_ERROR) return false;
    char d[128];
    fe_err(L, loc, "%s must be a number, got %s", what, fe_describe(v, d, sizeof d));
    return false;
}

bool fe_as_dim(FeLower *L, const FeVal *v, DiagLoc loc, const char *what, IrDim *out) {
    if (v->kind == FV_DIM) {
        *out = ir_dim_sym(v->sym);
        return true;
    }
    if (v->kind == FV_INT) {
        if (v->i <= 0 || v->i > IR_MAX_ELEMENTS) {
            fe_err(L, loc, "%s must be between 1 and %lld, got %lld", what, (long long)IR_MAX_ELEMENTS,
                   (long long)v->i);
            return false;
        }
        *out = ir_dim_int(v->i);
        return true;
    }
    if (v->kind == FV_ERROR) return false;
    char d[128];
    fe_err(L, loc, "%s must be a size (an integer or a symbol such as T), got %s", what,
           fe_describe(v, d, sizeof d));
    return false;
}

bool fe_axis(FeLower *L, int64_t axis, int rank, DiagLoc loc, const char *fn, int64_t *out) {
    if (axis < -rank || axis >= rank) {
        fe_err(L, loc, "%s: axis %lld is out of range for a tensor of %d dim%s", fn, (long long)axis,
               rank, rank == 1 ? "" : "s");
        return false;
    }
    *out = axis < 0 ? axis + rank : axis;
    return true;
}

static int edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > FE_MAX_NAME || nb > FE_MAX_NAME) return 1 << 20;
    int row[FE_MAX_NAME + 1];
    for (size_t j = 0; j <= nb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

const char *fe_closest(const char *name, const char *const *names, int n) {
    const char *best = NULL;
    int limit = ((int)strlen(name) + 1) / 3, bestd;
    if (limit < 1) limit = 1;
    bestd = limit + 1;
    for (int i = 0; i < n; i++) {
        if (!names[i] || strcmp(names[i], name) == 0) continue;
        int d = edit_distance(name, names[i]);
        if (d < bestd) {
            bestd = d;
            best = names[i];
        }
    }
    return best;
}

/* " (did you mean 'x'?)" for a name among everything visible from fr, or "". */
static void suggest(FeLower *L, Frame *fr, const char *name, bool functions, char *buf, size_t n) {
    buf[0] = 0;
    if (L->stop || L->suggest_work > 100000000) return;
    int cap = fr->env.n + L->params.n + L->prog->nitems + 64, k = 0;
    const char **names = xmalloc((size_t)cap * sizeof *names);
    if (!functions) {
        for (int i = 0; i < fr->env.n; i++) names[k++] = fr->env.b[i].name;
        for (int i = 0; i < L->params.n; i++) names[k++] = L->params.b[i].name;
    }
    for (int i = 0; i < L->prog->nitems; i++)
        if (!L->prog->items[i]->is_model) names[k++] = L->prog->items[i]->name;
    for (int i = 0; fe_builtin_names[i] && k < cap; i++) names[k++] = fe_builtin_names[i];
    if (functions) {
        for (int i = 0; i < fr->env.n && k < cap; i++)
            if (fr->env.b[i].val.kind == FV_LAYER) names[k++] = fr->env.b[i].name;
    }
    /* Bounded work: hints stop once 10^8 edit-distance cells have been spent. */
    long len = (long)strlen(name) + 1;
    L->suggest_work += (long)k * len * (FE_MAX_NAME + 1);
    const char *best = fe_closest(name, names, k);
    free(names);
    if (best)
        snprintf(buf, n, " (did you mean '%s'?)", best);
    else
        buf[0] = 0;
}

/* Reports an undefined name and binds it to an error so it is reported once. */
static FeVal undefined(FeLower *L, Frame *fr, const char *name, DiagLoc loc) {
    int idx;
    if (fe_map_get(&L->blocks, name, &idx)) {
        fe_err(L, loc, "block '%s' must be called, as in %s(x)", name, name);
    } else if (fe_is_builtin(name)) {
        fe_err(L, loc, "'%s' is a function: call it, as in %s(x)", name, name);
    } else {
        char hint[200];
        suggest(L, fr, name, false, hint, sizeof hint);
        fe_err(L, loc, "undefined name '%s'%s", name, hint);
    }
    env_bind(&fr->env, name, fe_error, loc, B_VAR);
    return fe_error;
}

static const char *path_join(FeLower *L, const char *prefix, const char *name) {
    if (!prefix[0]) return name;
    size_t a = strlen(prefix), b = strlen(name);
    char *s = arena_alloc(&L->scratch, a + b + 2);
    memcpy(s, prefix, a);
    s[a] = '.';
    memcpy(s + a + 1, name, b + 1);
    return s;
}

/* ---- expressions ---- */

static FeVal lower_expr(FeLower *L, Frame *fr, const FeExpr *e);

static FeVal num_int(int64_t i) {
    FeVal v = fe_error;
    v.kind = FV_INT;
    v.i = i;
    return v;
}

static FeVal num_float(double f) {
    FeVal v = fe_error;
    v.kind = FV_FLOAT;
    v.f = f;
    return v;
}

static FeVal tensor_val(IrValue *t) {
    FeVal v = fe_error;
    if (t) {
        v.kind = FV_TENSOR;
        v.t = t;
    }
    return v;
}

static const char *op_verb(char op) {
    switch (op) {
    case '+': return "add";
    case '-': return "subtract";
    case '*': return "multiply";
    case '/': return "divide";
    default: return "matrix-multiply";
    }
}

/* Compile-time arithmetic on numbers. */
static FeVal fold(FeLower *L, char op, const FeVal *a, const FeVal *b, DiagLoc loc) {
    if (a->kind == FV_INT && b->kind == FV_INT) {
        int64_t r;
        bool overflow = false;
        switch (op) {
        case '+': overflow = __builtin_add_overflow(a->i, b->i, &r); break;
        case '-': overflow = __builtin_sub_overflow(a->i, b->i, &r); break;
        case '*': overflow = __builtin_mul_overflow(a->i, b->i, &r); break;
        default:
            if (b->i == 0) {
                fe_err(L, loc, "division by zero");
                return fe_error;
            }
            if (b->i == -1 && a->i == INT64_MIN) {
                overflow = true;
                break;
            }
            if (a->i % b->i == 0) return num_int(a->i / b->i);
            return num_float((double)a->i / (double)b->i);
        }
        if (overflow) {
            fe_err(L, loc, "integer overflow in %lld %c %lld", (long long)a->i, op, (long long)b->i);
            return fe_error;
        }
        return num_int(r);
    }
    double x = a->kind == FV_INT ? (double)a->i : a->f, y = b->kind == FV_INT ? (double)b->i : b->f, r;
    switch (op) {
    case '+': r = x + y; break;
    case '-': r = x - y; break;
    case '*': r = x * y; break;
    default:
        if (y == 0) {
            fe_err(L, loc, "division by zero");
            return fe_error;
        }
        r = x / y;
    }
    if (!isfinite(r)) {
        fe_err(L, loc, "number too large in %g %c %g", x, op, y);
        return fe_error;
    }
    return num_float(r);
}

static bool is_number(const FeVal *v) { return v->kind == FV_INT || v->kind == FV_FLOAT; }
static bool is_tensorish(const FeVal *v) {
    return v->kind == FV_TENSOR || (v->kind == FV_LAYER && v->layer->kind == FL_EMBEDDING);
}

static FeVal lower_binary(FeLower *L, Frame *fr, const FeExpr *e) {
    FeVal a = lower_expr(L, fr, e->lhs);
    FeVal b = lower_expr(L, fr, e->rhs);
    if (a.kind == FV_ERROR || b.kind == FV_ERROR) return fe_error;
    char da[128], db[128];
    if (a.kind == FV_DIM || b.kind == FV_DIM) {
        fe_err(L, e->loc, "cannot %s with the symbolic dim %s: its size is known only at run time",
               op_verb(e->op), a.kind == FV_DIM ? a.sym : b.sym);
        return fe_error;
    }
    if (is_number(&a) && is_number(&b)) {
        if (e->op == '@') {
            fe_err(L, e->loc, "'@' multiplies matrices: both sides must be tensors, got %s and %s",
                   fe_describe(&a, da, sizeof da), fe_describe(&b, db, sizeof db));
            return fe_error;
        }
        return fold(L, e->op, &a, &b, e->loc);
    }
    bool ok_a = is_tensorish(&a) || (is_number(&a) && e->op != '@');
    bool ok_b = is_tensorish(&b) || (is_number(&b) && e->op != '@');
    if (!ok_a || !ok_b) {
        const FeVal *bad = ok_a ? &b : &a;
        fe_err(L, e->loc, "cannot %s %s and %s%s", op_verb(e->op), fe_describe(&a, da, sizeof da),
               fe_describe(&b, db, sizeof db),
               bad->kind == FV_TUPLE ? " (unpack the tuple first: a, b = ...)"
               : bad->kind == FV_LAYER ? " (call the layer, or use its .weight)" : "");
        return fe_error;
    }
    IrValue *t[2];
    if (is_number(&a)) {
        fe_as_tensor(L, &b, e->loc, "", &t[1]);
        t[0] = fe_scalar(L, e->lhs->loc, a.kind == FV_INT ? (double)a.i : a.f, t[1]->type.dtype);
    } else if (is_number(&b)) {
        fe_as_tensor(L, &a, e->loc, "", &t[0]);
        t[1] = fe_scalar(L, e->rhs->loc, b.kind == FV_INT ? (double)b.i : b.f, t[0]->type.dtype);
    } else {
        fe_as_tensor(L, &a, e->loc, "", &t[0]);
        fe_as_tensor(L, &b, e->loc, "", &t[1]);
    }
    if (!t[0] || !t[1]) return fe_error;
    IrOp op = e->op == '+' ? OP_ADD : e->op == '-' ? OP_SUB : e->op == '*' ? OP_MUL
            : e->op == '/' ? OP_DIV : OP_MATMUL;
    return tensor_val(fe_build(L, e->loc, op, t, 2, NULL, NULL));
}

static FeVal call_block(FeLower *L, int idx, const FeArgs *a);

/* Evaluates the arguments of a call into an FeArgs (arrays in the scratch arena). */
static bool eval_args(FeLower *L, Frame *fr, const FeExpr *e, const char *fn, FeArgs *a) {
    memset(a, 0, sizeof *a);
    a->fn = fn;
    a->loc = e->loc;
    int n = e->nargs ? e->nargs : 1;
    a->pos = arena_alloc(&L->scratch, (size_t)n * sizeof *a->pos);
    a->pos_loc = arena_alloc(&L->scratch, (size_t)n * sizeof *a->pos_loc);
    a->kw = arena_alloc(&L->scratch, (size_t)n * sizeof *a->kw);
    a->kwv = arena_alloc(&L->scratch, (size_t)n * sizeof *a->kwv);
    a->kw_loc = arena_alloc(&L->scratch, (size_t)n * sizeof *a->kw_loc);
    bool ok = true;
    for (int i = 0; i < e->nargs; i++) {
        FeVal v = lower_expr(L, fr, e->args[i]);
        if (v.kind == FV_ERROR) ok = false;
        if (e->kw && e->kw[i]) {
            a->kw[a->nkw] = e->kw[i];
            a->kw_loc[a->nkw] = e->kw_loc[i];
            a->kwv[a->nkw++] = v;
        } else {
            a->pos_loc[a->npos] = e->args[i]->loc;
            a->pos[a->npos++] = v;
        }
    }
    return ok;
}

static FeVal lower_call(FeLower *L, Frame *fr, const FeExpr *e) {
    const FeExpr *c = e->lhs;
    const char *fn = "this value";
    const FeLayer *layer = NULL;
    int block = -1;
    char d[128];
    if (c->kind == E_NAME) {
        fn = c->name;
        FeBinding *b = lookup(L, fr, fn);
        if (b) {
            if (b->val.kind == FV_ERROR) return fe_error;
            if (b->val.kind != FV_LAYER) {
                fe_err(L, c->loc, "'%s' is %s, not a function", fn, fe_describe(&b->val, d, sizeof d));
                return fe_error;
            }
            layer = b->val.layer;
        } else if (!fe_map_get(&L->blocks, fn, &block) && !fe_is_builtin(fn)) {
            char hint[200];
            suggest(L, fr, fn, true, hint, sizeof hint);
            fe_err(L, c->loc, "unknown function '%s'%s", fn, hint);
            return fe_error;
        }
    } else {
        FeVal cv = lower_expr(L, fr, c);
        if (cv.kind == FV_ERROR) return fe_error;
        if (cv.kind != FV_LAYER) {
            fe_err(L, c->loc, "only functions, blocks and layers can be called; this is %s",
                   fe_describe(&cv, d, sizeof d));
            return fe_error;
        }
        layer = cv.layer;
    }
    FeArgs a;
    if (!eval_args(L, fr, e, fn, &a)) return fe_error;
    if (e->piped && a.npos > 0 && a.pos[0].kind == FV_TUPLE) {
        /* `tuple |> f(args)` applies f to each element: split(...) |> heads(n_head). */
        FeVal tuple = a.pos[0], out = fe_error;
        out.kind = FV_TUPLE;
        out.n = tuple.n;
        out.items = arena_alloc(&L->scratch, (size_t)tuple.n * sizeof *out.items);
        for (int i = 0; i < tuple.n; i++) {
            a.pos[0] = tuple.items[i];
            out.items[i] = layer ? fe_call_layer(L, layer, &a)
                         : block >= 0 ? call_block(L, block, &a) : fe_call_builtin(L, &a);
            if (out.items[i].kind == FV_ERROR) return fe_error;
        }
        return out;
    }
    if (layer) return fe_call_layer(L, layer, &a);
    if (block >= 0) return call_block(L, block, &a);
    return fe_call_builtin(L, &a);
}

static FeVal lower_expr(FeLower *L, Frame *fr, const FeExpr *e) {
    if (L->stop) return fe_error;
    char d[128];
    switch (e->kind) {
    case E_INT: return num_int(e->ival);
    case E_FLOAT: return num_float(e->fval);
    case E_NAME: {
        FeBinding *b = lookup(L, fr, e->name);
        return b ? b->val : undefined(L, fr, e->name, e->loc);
    }
    case E_BINARY: return lower_binary(L, fr, e);
    case E_NEG: {
        FeVal v = lower_expr(L, fr, e->lhs);
        if (v.kind == FV_INT) {
            if (v.i == INT64_MIN) {
                fe_err(L, e->loc, "integer overflow in -(%lld)", (long long)v.i);
                return fe_error;
            }
            return num_int(-v.i);
        }
        if (v.kind == FV_FLOAT) return num_float(-v.f);
        if (v.kind == FV_ERROR) return v;
        IrValue *t;
        if (!fe_as_tensor(L, &v, e->loc, "the operand of unary '-'", &t)) return fe_error;
        return tensor_val(fe_build(L, e->loc, OP_NEG, &t, 1, NULL, NULL));
    }
    case E_CALL: return lower_call(L, fr, e);
    case E_INDEX: {
        FeVal table = lower_expr(L, fr, e->lhs), idx = lower_expr(L, fr, e->rhs);
        if (table.kind == FV_ERROR || idx.kind == FV_ERROR) return fe_error;
        IrValue *t[2];
        if (!fe_as_tensor(L, &table, e->loc, "the table of an index expression", &t[0])) return fe_error;
        if (idx.kind != FV_TENSOR) {
            fe_err(L, e->rhs->loc, "an index must be a tensor of i32 indices, as in wte[idx], got %s "
                   "(use slice(x, start, end, axis=...) for ranges)", fe_describe(&idx, d, sizeof d));
            return fe_error;
        }
        t[1] = idx.t;
        return tensor_val(fe_build(L, e->loc, OP_GATHER, t, 2, NULL, NULL));
    }
    case E_TRANSPOSE: {
        FeVal v = lower_expr(L, fr, e->lhs);
        if (v.kind == FV_ERROR) return v;
        FeArgs a = {0};
        a.fn = "transpose";
        a.loc = e->loc;
        a.pos = &v;
        a.pos_loc = (DiagLoc *)&e->lhs->loc;
        a.npos = 1;
        return fe_call_builtin(L, &a);
    }
    case E_MEMBER: {
        FeVal v = lower_expr(L, fr, e->lhs);
        if (v.kind == FV_ERROR) return v;
        if (v.kind == FV_LAYER) {
            if (strcmp(e->name, "weight") == 0) return tensor_val(v.layer->w);
            if (strcmp(e->name, "bias") == 0 && v.layer->b) return tensor_val(v.layer->b);
        }
        fe_err(L, e->loc, "%s has no member '%s'%s", fe_describe(&v, d, sizeof d), e->name,
               v.kind == FV_LAYER ? " (layers have .weight and .bias)" : "");
        return fe_error;
    }
    case E_LIST: {
        FeVal out = fe_error;
        out.kind = FV_LIST;
        out.n = e->nargs;
        out.items = arena_alloc(&L->scratch, (size_t)(e->nargs ? e->nargs : 1) * sizeof *out.items);
        for (int i = 0; i < e->nargs; i++) {
            out.items[i] = lower_expr(L, fr, e->args[i]);
            if (out.items[i].kind == FV_ERROR) return fe_error;
        }
        return out;
    }
    }
    return fe_error;
}

/* ---- types ---- */

static bool eval_dtype(FeLower *L, const FeTypeExpr *te, IrDType *out) {
    if (ir_dtype_from_name(te->dtype, strlen(te->dtype), out)) return true;
    fe_err(L, te->loc, "unknown type '%s' (the types are f32, i32, f16, bf16 and f64)", te->dtype);
    return false;
}

typedef enum { TY_INPUT, TY_WEIGHT } FeTypeMode;

/* Evaluates a declared type. For inputs, a dim that is a new name becomes a symbol,
 * bound in fr so later code can say arange(T); weights need fixed sizes. */
static bool eval_type(FeLower *L, Frame *fr, const FeTypeExpr *te, FeTypeMode mode, IrType *out) {
    memset(out, 0, sizeof *out);
    if (!eval_dtype(L, te, &out->dtype)) return false;
    out->rank = te->ndims;
    bool ok = true;
    for (int i = 0; i < te->ndims; i++) {
        const FeExpr *de = te->dims[i];
        FeVal v;
        if (mode == TY_INPUT && de->kind == E_NAME && !lookup(L, fr, de->name) &&
            !fe_map_get(&L->blocks, de->name, &(int){0})) {
            v = fe_error;
            v.kind = FV_DIM;
            v.sym = ir_intern(L->m, de->name, strlen(de->name));
            env_bind(&fr->env, de->name, v, de->loc, B_DIM);
        } else {
            v = lower_expr(L, fr, de);
        }
        if (!fe_as_dim(L, &v, de->loc, "a dim", &out->dims[i])) {
            ok = false;
            continue;
        }
        if (mode == TY_WEIGHT && out->dims[i].sym) {
            fe_err(L, de->loc, "a weight's shape must be fixed, but '%s' is a symbolic dim", out->dims[i].sym);
            ok = false;
        }
    }
    return ok && fe_check_size(L, out, te->loc);
}

/* Binds the dims of a block argument's declared type against the tensor passed. */
static bool bind_arg_type(FeLower *L, Frame *fr, const FeItem *blk, const FeBlockParam *bp,
                          const FeVal *v, DiagLoc loc) {
    IrValue *t;
    char what[FE_MAX_NAME * 2 + 64];
    snprintf(what, sizeof what, "argument '%s' of block '%s'", bp->name, blk->name);
    if (!fe_as_tensor(L, v, loc, what, &t)) return false;
    IrType want = {0};
    bool ok = eval_dtype(L, bp->type, &want.dtype) && want.dtype == t->type.dtype &&
              bp->type->ndims == t->type.rank;
    want.rank = bp->type->ndims;
    for (int i = 0; i < bp->type->ndims; i++) {
        const FeExpr *de = bp->type->dims[i];
        IrDim got = i < t->type.rank ? t->type.dims[i] : ir_dim_int(1);
        if (de->kind == E_NAME && !lookup(L, fr, de->name)) {
            FeVal dv = fe_error;
            if (got.sym) {
                dv.kind = FV_DIM;
                dv.sym = got.sym;
            } else {
                dv.kind = FV_INT;
                dv.i = got.size;
            }
            env_bind(&fr->env, de->name, dv, de->loc, B_DIM);
            want.dims[i] = got;
            continue;
        }
        FeVal dv = lower_expr(L, fr, de);
        if (!fe_as_dim(L, &dv, de->loc, "a dim", &want.dims[i])) return false;
        if (!ir_dim_eq(want.dims[i], got)) ok = false;
    }
    if (!ok) {
        char ws[IR_TYPE_STR_MAX], gs[IR_TYPE_STR_MAX];
        if (bp->type->ndims > IR_MAX_RANK) want.rank = IR_MAX_RANK;
        fe_err(L, loc, "%s must be %s, got %s", what, ir_type_str(&want, ws, sizeof ws),
               ir_type_str(&t->type, gs, sizeof gs));
    }
    return ok;
}

/* ---- statements ---- */

static void lower_body(FeLower *L, Frame *fr, FeStmt *const *body, int n);

static bool check_new_name(FeLower *L, Frame *fr, const char *name, DiagLoc loc) {
    FeBinding *b = env_find(&fr->env, name);
    if (!b || !env_in_scope(&fr->env, b)) b = fr->is_block || fr->loop_depth ? NULL : env_find(&L->params, name);
    if (!b) return true;
    fe_err(L, loc, "duplicate definition of '%s'", name);
    if (!L->stop) diag_note(L->diag, b->loc, "'%s' was first defined here", name);
    return false;
}

static const FeDefine *find_define(FeLower *L, const char *name) {
    const FeDefine *found = NULL;
    for (int i = 0; i < L->ndefs; i++)
        if (strcmp(L->defs[i].name, name) == 0) found = &L->defs[i]; /* the last one wins */
    return found;
}

static FeVal define_value(const FeDefine *d) {
    const char *s = d->value;
    bool neg = s[0] == '-';
    bool is_float;
    int64_t i = 0;
    double f = 0;
    if (!fe_parse_number(s + neg, strlen(s + neg), &is_float, &i, &f)) return fe_error;
    return is_float ? num_float(neg ? -f : f) : num_int(neg ? -i : i);
}

static void lower_weight(FeLower *L, Frame *fr, const FeStmt *s) {
    const char *name = s->names[0];
    if (!check_new_name(L, fr, name, s->name_locs[0])) return;
    const char *path = path_join(L, L->prefix, name);
    FeVal v = fe_error;
    const FeExpr *init = s->value;
    const FeExpr *callee = init && init->kind == E_CALL ? init->lhs : init;
    if (init && (!callee || callee->kind != E_NAME)) {
        fe_err(L, init->loc, s->type ? "a weight's initialiser must be normal(std), zeros, ones, uniform(a, b) or constant(v)"
                                     : "a weight without a type needs a layer: linear(in, out), layernorm(n) or embedding(n, dim)");
    } else if (s->type) {
        IrType t;
        IrInit ii = {INIT_NORMAL, 0.02, 0};
        bool ok = eval_type(L, fr, s->type, TY_WEIGHT, &t);
        if (init) {
            FeArgs a;
            if (init->kind == E_CALL) {
                ok = eval_args(L, fr, init, callee->name, &a) && ok;
            } else {
                memset(&a, 0, sizeof a);
                a.fn = callee->name;
                a.loc = callee->loc;
            }
            ok = ok && fe_initialiser(L, &a, &ii);
        }
        if (ok) v = tensor_val(fe_declare_weight(L, path, &t, ii, s->names ? s->name_locs[0] : s->loc));
    } else {
        FeArgs a;
        if (init->kind == E_CALL) {
            if (eval_args(L, fr, init, callee->name, &a)) v = fe_weight_helper(L, path, &a);
        } else {
            memset(&a, 0, sizeof a);
            a.fn = callee->name;
            a.loc = callee->loc;
            v = fe_weight_helper(L, path, &a);
        }
    }
    env_bind(&fr->env, name, v, s->name_locs[0], B_WEIGHT);
}

static void lower_assign(FeLower *L, Frame *fr, const FeStmt *s) {
    FeVal v = lower_expr(L, fr, s->value);
    if (s->nnames > 1 && v.kind != FV_ERROR && (v.kind != FV_TUPLE || v.n != s->nnames)) {
        char d[128];
        fe_err(L, s->name_locs[0], "cannot unpack %s into %d names", fe_describe(&v, d, sizeof d), s->nnames);
        v = fe_error;
    }
    for (int i = 0; i < s->nnames; i++) {
        const char *name = s->names[i];
        FeVal vi = s->nnames > 1 && v.kind != FV_ERROR ? v.items[i] : v;
        FeBinding *b = env_find(&fr->env, name);
        FeBinding *p = b ? NULL : env_find(&L->params, name);
        const FeBinding *fixed = p ? p : b && b->kind != B_VAR && b->kind != B_ARG && b->kind != B_INPUT ? b : NULL;
        if (fixed) {
            static const char *const kinds[] = {"variable", "param", "input", "weight", "loop variable", "dim", "argument"};
            fe_err(L, s->name_locs[i], "cannot assign to %s '%s'%s", kinds[fixed->kind], name,
                   fixed->kind == B_PARAM ? " (params are fixed; override them with -D)" : "");
            continue;
        }
        if (b)
            b->val = vi;
        else
            env_bind(&fr->env, name, vi, s->name_locs[i], B_VAR);
    }
}

static void lower_for(FeLower *L, Frame *fr, const FeStmt *s) {
    FeVal lo = lower_expr(L, fr, s->lo), hi = lower_expr(L, fr, s->hi);
    int64_t a, b, n;
    if (!fe_as_int(L, &lo, s->lo->loc, "the start of a loop", &a) ||
        !fe_as_int(L, &hi, s->hi->loc, "the end of a loop", &b))
        return;
    if (__builtin_sub_overflow(b, a, &n) || n > FE_MAX_LOOP) {
        fe_err(L, s->loc, "loop of %s%lld iterations is too large (limit %d)", n > FE_MAX_LOOP ? "" : "over ",
               (long long)(n > FE_MAX_LOOP ? n : INT64_MAX), FE_MAX_LOOP);
        return;
    }
    const char *saved = L->prefix;
    fr->loop_depth++;
    for (int64_t i = a; i < b && !L->stop; i++) {
        int errors = L->diag->errors;
        env_push(&fr->env);
        env_bind(&fr->env, s->names[0], num_int(i), s->name_locs[0], B_LOOP);
        bool ok = true;
        if (s->path) {
            char buf[1024];
            size_t len = 0;
            for (int k = 0; k < s->npath && ok; k++) {
                char part[64];
                const char *text = s->path[k].text;
                if (!text) {
                    FeVal pv = lower_expr(L, fr, s->path[k].expr);
                    int64_t iv = 0;
                    ok = fe_as_int(L, &pv, s->path[k].expr->loc, "a part of a weight path", &iv);
                    snprintf(part, sizeof part, "%lld", (long long)iv);
                    text = part;
                }
                size_t m = strlen(text);
                if (len + m + 2 > sizeof buf) {
                    fe_err(L, s->loc, "weight path is too long");
                    ok = false;
                    break;
                }
                if (k) buf[len++] = '.';
                memcpy(buf + len, text, m);
                len += m;
                buf[len] = 0;
            }
            if (ok) L->prefix = path_join(L, saved, arena_strdup(&L->scratch, buf, len));
        }
        if (ok) lower_body(L, fr, s->body, s->nbody);
        L->prefix = saved;
        env_pop(&fr->env);
        if (L->diag->errors > errors) break; /* one report, not one per iteration */
    }
    fr->loop_depth--;
}

static void lower_stmt(FeLower *L, Frame *fr, const FeStmt *s) {
    if (++L->steps > FE_MAX_STEPS) {
        fe_err(L, s->loc, "model takes too long to expand: more than %d statements run (nested loops?)",
               FE_MAX_STEPS);
        L->stop = true;
        return;
    }
    const char *where = fr->is_block ? "a block" : "a loop";
    switch (s->kind) {
    case S_PARAM: {
        if (fr->is_block || fr->loop_depth) {
            fe_err(L, s->loc, "param is only allowed at the top level of a model, not in %s", where);
            return;
        }
        const char *name = s->names[0];
        if (!check_new_name(L, fr, name, s->name_locs[0])) return;
        const FeDefine *def = find_define(L, name);
        FeVal v = def ? define_value(def) : lower_expr(L, fr, s->value);
        if (v.kind != FV_ERROR && !is_number(&v)) {
            char d[128];
            fe_err(L, s->value->loc, "param '%s' must be a number, got %s", name, fe_describe(&v, d, sizeof d));
            v = fe_error;
        }
        env_bind(&L->params, name, v, s->name_locs[0], B_PARAM);
        return;
    }
    case S_INPUT: {
        if (fr->is_block || fr->loop_depth) {
            fe_err(L, s->loc, "input is only allowed at the top level of a model, not in %s%s", where,
                   fr->is_block ? " (pass tensors to a block as arguments)" : "");
            return;
        }
        const char *name = s->names[0];
        if (!check_new_name(L, fr, name, s->name_locs[0])) return;
        IrType t;
        FeVal v = fe_error;
        if (eval_type(L, fr, s->type, TY_INPUT, &t) && !L->stop) {
            if (++L->nops > FE_MAX_OPS) {
                fe_err(L, s->loc, "model is too large: more than %d operations", FE_MAX_OPS);
                L->stop = true;
                return;
            }
            IrValue *in = ir_func_add_param(L->f, ir_intern(L->m, name, strlen(name)), &t);
            in->loc = s->name_locs[0];
            v = tensor_val(in);
        }
        env_bind(&fr->env, name, v, s->name_locs[0], B_INPUT);
        return;
    }
    case S_WEIGHT: lower_weight(L, fr, s); return;
    case S_ASSIGN: lower_assign(L, fr, s); return;
    case S_FOR: lower_for(L, fr, s); return;
    case S_OUTPUT:
        if (fr->is_block) {
            fe_err(L, s->loc, "output is only allowed in a model; a block gives its result with return");
            return;
        }
        if (fr->loop_depth) {
            fe_err(L, s->loc, "output is only allowed at the top level of a model, not in a loop");
            return;
        }
        for (int i = 0; i < s->nnames; i++) {
            FeBinding *b = lookup(L, fr, s->names[i]);
            FeVal v = b ? b->val : undefined(L, fr, s->names[i], s->name_locs[i]);
            IrValue *t;
            char what[FE_MAX_NAME + 32];
            snprintf(what, sizeof what, "output '%s'", s->names[i]);
            if (!fe_as_tensor(L, &v, s->name_locs[i], what, &t)) continue;
            if (L->nouts == L->capouts) {
                L->capouts = L->capouts ? 2 * L->capouts : 8;
                L->outs = xrealloc(L->outs, (size_t)L->capouts * sizeof *L->outs);
            }
            L->outs[L->nouts++] = t;
        }
        return;
    case S_RETURN: {
        if (!fr->is_block) {
            fe_err(L, s->loc, "return is only allowed in a block; a model names its results with output");
            return;
        }
        if (fr->loop_depth) {
            fe_err(L, s->loc, "return must be the last statement of a block, not inside a loop");
            return;
        }
        FeVal v = fe_error;
        if (s->nexprs == 1) {
            v = lower_expr(L, fr, s->exprs[0]);
        } else {
            v.kind = FV_TUPLE;
            v.n = s->nexprs;
            v.items = arena_alloc(&L->scratch, (size_t)s->nexprs * sizeof *v.items);
            for (int i = 0; i < s->nexprs; i++) {
                v.items[i] = lower_expr(L, fr, s->exprs[i]);
                if (v.items[i].kind == FV_ERROR) v = fe_error;
                if (v.kind == FV_ERROR) break;
            }
        }
        fr->ret = v;
        fr->returned = true;
        return;
    }
    }
}

static void lower_body(FeLower *L, Frame *fr, FeStmt *const *body, int n) {
    for (int i = 0; i < n && !L->stop; i++) {
        if (fr->returned) {
            fe_err(L, body[i]->loc, "statement after return (a block ends with its return)");
            return;
        }
        lower_stmt(L, fr, body[i]);
    }
}

static FeVal call_block(FeLower *L, int idx, const FeArgs *a) {
    const FeItem *blk = L->prog->items[idx];
    if (a->nkw) {
        fe_err(L, a->kw_loc[0], "block '%s' takes no keyword arguments", blk->name);
        return fe_error;
    }
    if (a->npos != blk->nparams) {
        fe_err(L, a->loc, "block '%s' takes %d argument%s but %d %s given", blk->name, blk->nparams,
               blk->nparams == 1 ? "" : "s", a->npos, a->npos == 1 ? "was" : "were");
        return fe_error;
    }
    for (int i = 0; i < a->npos; i++)
        if (a->pos[i].kind == FV_ERROR) return fe_error;
    if (L->call_depth >= FE_MAX_CALL_DEPTH) {
        fe_err(L, a->loc, "blocks call each other more than %d deep", FE_MAX_CALL_DEPTH);
        L->stop = true;
        return fe_error;
    }
    int errors = L->diag->errors;
    Frame fr = {0};
    fr.item = blk;
    fr.is_block = true;
    const char *saved = L->prefix;
    L->prefix = path_join(L, saved, blk->name);
    L->call_depth++;
    bool ok = true;
    for (int i = 0; i < blk->nparams; i++) {
        const FeBlockParam *bp = &blk->params[i];
        if (bp->type && !bind_arg_type(L, &fr, blk, bp, &a->pos[i], a->pos_loc[i])) ok = false;
        env_bind(&fr.env, bp->name, a->pos[i], bp->loc, B_ARG);
    }
    if (ok) {
        lower_body(L, &fr, blk->body, blk->nbody);
        if (!fr.returned && !L->stop)
            fe_err(L, blk->end, "block '%s' ends without a return", blk->name);
    }
    L->call_depth--;
    L->prefix = saved;
    env_free(&fr.env);
    if (L->diag->errors > errors && ok && !L->stop)
        diag_note(L->diag, a->loc, "in the call of block '%s' here", blk->name);
    return fr.returned ? fr.ret : fe_error;
}

/* ---- whole-file checks ---- */

typedef struct {
    int to;
    DiagLoc loc;
} FeEdge;

typedef struct {
    FeEdge *e;
    int n, cap;
} FeEdges;

static void collect_locals(FeStmt *const *body, int n, FePtrMap *locals) {
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < body[i]->nnames; k++) fe_map_put(locals, body[i]->names[k], 1);
        if (body[i]->kind == S_FOR) collect_locals(body[i]->body, body[i]->nbody, locals);
    }
}

static void calls_in_expr(FeLower *L, const FeExpr *e, const FePtrMap *locals, FeEdges *out) {
    if (!e) return;
    int to, dummy;
    if (e->kind == E_CALL && e->lhs->kind == E_NAME && !fe_map_get(locals, e->lhs->name, &dummy) &&
        fe_map_get(&L->blocks, e->lhs->name, &to)) {
        if (out->n == out->cap) {
            out->cap = out->cap ? 2 * out->cap : 8;
            out->e = xrealloc(out->e, (size_t)out->cap * sizeof *out->e);
        }
        out->e[out->n++] = (FeEdge){to, e->lhs->loc};
    }
    calls_in_expr(L, e->lhs, locals, out);
    calls_in_expr(L, e->rhs, locals, out);
    for (int i = 0; i < e->nargs; i++) calls_in_expr(L, e->args[i], locals, out);
}

static void calls_in_body(FeLower *L, FeStmt *const *body, int n, const FePtrMap *locals, FeEdges *out) {
    for (int i = 0; i < n; i++) {
        const FeStmt *s = body[i];
        calls_in_expr(L, s->value, locals, out);
        calls_in_expr(L, s->lo, locals, out);
        calls_in_expr(L, s->hi, locals, out);
        for (int k = 0; k < s->nexprs; k++) calls_in_expr(L, s->exprs[k], locals, out);
        if (s->kind == S_FOR) calls_in_body(L, s->body, s->nbody, locals, out);
    }
}

/* Rejects blocks that call themselves, directly or through others (iterative DFS: a
 * chain of 100,000 blocks must not overflow the stack here either). */
static void check_recursion(FeLower *L) {
    const FeProgram *p = L->prog;
    int n = p->nitems;
    FeEdges *edges = xcalloc((size_t)n, sizeof *edges);
    for (int i = 0; i < n; i++) {
        const FeItem *it = p->items[i];
        if (it->is_model) continue;
        FePtrMap locals = {0};
        for (int k = 0; k < it->nparams; k++) fe_map_put(&locals, it->params[k].name, 1);
        collect_locals(it->body, it->nbody, &locals);
        calls_in_body(L, it->body, it->nbody, &locals, &edges[i]);
        fe_map_free(&locals);
    }
    char *color = xcalloc((size_t)n, 1); /* 0 new, 1 on the stack, 2 done */
    int *stack = xmalloc((size_t)n * sizeof *stack), *next = xcalloc((size_t)n, sizeof *next);
    for (int root = 0; root < n && !L->stop; root++) {
        if (color[root] || p->items[root]->is_model) continue;
        int sp = 0;
        stack[sp++] = root;
        color[root] = 1;
        while (sp > 0 && !L->stop) {
            int v = stack[sp - 1];
            if (next[v] == edges[v].n) {
                color[v] = 2;
                sp--;
                continue;
            }
            FeEdge e = edges[v].e[next[v]++];
            if (color[e.to] == 0) {
                color[e.to] = 1;
                stack[sp++] = e.to;
            } else if (color[e.to] == 1) {
                int from = sp - 1;
                while (stack[from] != e.to) from--;
                const char *name = p->items[e.to]->name;
                if (from == sp - 1) {
                    fe_err(L, e.loc, "block '%s' calls itself (recursion is not allowed)", name);
                } else {
                    char via[512] = "";
                    size_t len = 0;
                    for (int k = from + 1; k < sp; k++) {
                        if (k - from > 8) {
                            snprintf(via + len, sizeof via - len, " and %d more", sp - k);
                            break;
                        }
                        len += (size_t)snprintf(via + len, sizeof via - len, "%s'%s'", k > from + 1 ? ", " : "",
                                                p->items[stack[k]]->name);
                    }
                    fe_err(L, e.loc, "block '%s' calls itself through %s (recursion is not allowed)", name, via);
                }
            }
        }
    }
    for (int i = 0; i < n; i++) free(edges[i].e);
    free(edges);
    free(color);
    free(stack);
    free(next);
}

/* Indexes blocks by name and picks the model; false after errors. */
static bool index_items(FeLower *L, const char *model_name) {
    const FeProgram *p = L->prog;
    FePtrMap models = {0};
    const FeItem *last = NULL;
    int nmodels = 0;
    for (int i = 0; i < p->nitems; i++) {
        const FeItem *it = p->items[i];
        FePtrMap *map = it->is_model ? &models : &L->blocks;
        int prev;
        if (fe_map_get(map, it->name, &prev)) {
            fe_err(L, it->loc, "duplicate definition of %s '%s'", it->is_model ? "model" : "block", it->name);
            diag_note(L->diag, p->items[prev]->loc, "'%s' was first defined here", it->name);
            continue;
        }
        if (!it->is_model && fe_is_builtin(it->name)) {
            fe_err(L, it->loc, "block '%s' has the name of a builtin function; choose another name", it->name);
            continue;
        }
        fe_map_put(map, it->name, i);
        if (it->is_model) {
            nmodels++;
            if (!model_name || strcmp(model_name, it->name) == 0) last = it;
        }
    }
    fe_map_free(&models);
    if (L->diag->errors) return false;
    if (!last) {
        if (nmodels == 0) {
            diag_error(L->diag, (DiagLoc){0, 0, 0}, "the file defines no model (write `model NAME { ... }`)");
        } else {
            char list[1024] = "";
            size_t len = 0;
            for (int i = 0; i < p->nitems && len + FE_MAX_NAME + 8 < sizeof list; i++)
                if (p->items[i]->is_model)
                    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", p->items[i]->name);
            diag_error(L->diag, (DiagLoc){0, 0, 0}, "no model named '%s' in this file (it has: %s)", model_name, list);
        }
        return false;
    }
    L->model = last;
    return true;
}

/* Every -D must name a param of the model and be a number. */
static bool check_defines(FeLower *L) {
    const FeItem *m = L->model;
    for (int i = 0; i < L->ndefs; i++) {
        const FeDefine *d = &L->defs[i];
        bool found = false;
        const char *names[256];
        int k = 0;
        for (int j = 0; j < m->nbody; j++) {
            if (m->body[j]->kind != S_PARAM) continue;
            if (strcmp(m->body[j]->names[0], d->name) == 0) found = true;
            if (k < 256) names[k++] = m->body[j]->names[0];
        }
        if (!found) {
            const char *best = fe_closest(d->name, names, k);
            char hint[FE_MAX_NAME + 32] = "";
            if (best) snprintf(hint, sizeof hint, " (did you mean '%s'?)", best);
            diag_error(L->diag, (DiagLoc){0, 0, 0}, "-D %s: model '%s' has no param '%s'%s", d->name,
                       m->name, d->name, hint);
        } else if (define_value(d).kind == FV_ERROR) {
            diag_error(L->diag, (DiagLoc){0, 0, 0}, "-D %s=%s: '%s' is not a number", d->name, d->value,
                       d->value);
        }
    }
    return L->diag->errors == 0;
}

static void lower_model(FeLower *L) {
    Frame fr = {0};
    fr.item = L->model;
    lower_body(L, &fr, L->model->body, L->model->nbody);
    if (!L->diag->errors && L->nouts == 0)
        fe_err(L, L->model->loc, "model '%s' has no output (add `output NAME` for each result)", L->model->name);
    if (!L->diag->errors) ir_func_set_results(L->f, L->outs, L->nouts);
    env_free(&fr.env);
}

IrModule *fe_compile_model(const char *file, const char *src, size_t len, const FeDefine *defs,
                           int ndefs, const char *model_name, Diag *diag) {
    (void)file;
    if (len > FE_MAX_SOURCE) {
        diag_error(diag, (DiagLoc){0, 0, 0}, "file is %zu bytes, larger than the limit of %u bytes", len,
                   (unsigned)FE_MAX_SOURCE);
        return NULL;
    }
    int errors0 = diag->errors;
    FeProgram *prog = fe_parse(src, len, diag);
    if (diag->errors > errors0) {
        fe_program_free(prog);
        return NULL;
    }
    /* Count errors from zero below: the frontend's checks compare with diag->errors. */
    int saved = diag->errors;
    diag->errors = 0;
    FeLower L = {0};
    L.diag = diag;
    L.prog = prog;
    L.defs = defs;
    L.ndefs = ndefs;
    L.prefix = "";
    if (index_items(&L, model_name)) check_recursion(&L);
    if (!diag->errors && check_defines(&L)) {
        L.m = ir_module_create(L.model->name);
        L.m->name = ir_intern(L.m, L.model->name, strlen(L.model->name));
        L.f = ir_module_add_func(L.m, "forward");
        lower_model(&L);
    }
    IrModule *m = L.m;
    if (diag->errors && m) {
        ir_module_destroy(m);
        m = NULL;
    }
    diag->errors += saved;
    env_free(&L.params);
    fe_map_free(&L.blocks);
    fe_map_free(&L.weights);
    arena_free(&L.scratch);
    free(L.outs);
    fe_program_free(prog);
    return m;
}

IrModule *fe_compile(const char *file, const char *src, size_t len, const FeDefine *defs,
                     int ndefs, Diag *diag) {
    return fe_compile_model(file, src, len, defs, ndefs, NULL, diag);
}

bool fe_print_ast(FILE *out, const char *file, const char *src, size_t len, Diag *diag) {
    (void)file;
    if (len > FE_MAX_SOURCE) {
        diag_error(diag, (DiagLoc){0, 0, 0}, "file is %zu bytes, larger than the limit of %u bytes", len,
                   (unsigned)FE_MAX_SOURCE);
        return false;
    }
    int errors0 = diag->errors;
    FeProgram *prog = fe_parse(src, len, diag);
    bool ok = diag->errors == errors0;
    if (ok) fe_ast_print(out, prog);
    fe_program_free(prog);
    return ok;
}

bool fe_list_models(FILE *out, const char *file, const char *src, size_t len, Diag *diag) {
    (void)file;
    if (len > FE_MAX_SOURCE) return false;
    int errors0 = diag->errors;
    FeProgram *prog = fe_parse(src, len, diag);
    bool ok = diag->errors == errors0;
    for (int i = 0; ok && i < prog->nitems; i++)
        if (prog->items[i]->is_model) fprintf(out, "%s\n", prog->items[i]->name);
    fe_program_free(prog);
    return ok;
}
