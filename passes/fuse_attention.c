/* fuse_attention.c — replace softmax(scale · q @ kᵀ + mask) @ v, however a model spells
 * it, by one `attention` op (ir/ops.def), which a backend runs without writing the
 * Tq x Tk scores to memory, and whose gradient (passes/vjp.c) recomputes them.
 *
 * A match starts at a matmul(P, V) and walks inward:
 *   P       softmax over the last axis
 *   scale   mul or div by a constant (either operand of mul), any number of them, on the
 *           scores or on Q or K before the matmul
 *   mask    where(cond, s, -inf), where(cond, -inf, s), or add(s, m) in either order
 *   scores  matmul(Q, X), X = Kᵀ. When X is transpose(K0, perm), k is K0 under perm with
 *           its last two entries swapped back (GPT-2's perm [0, 2, 3, 1], which also moves
 *           the heads, gives k = transpose(K0, [0, 2, 1, 3])), or K0 itself when that is
 *           the identity; any other X gives k = transpose(X) with the last two axes swapped.
 * A mask that reads no input and no weight (aranges and constants) is run on the
 * reference interpreter at small sizes; when it keeps exactly the keys j <= i + Tk - Tq
 * at every size it becomes causal = true. Any other mask becomes the additive bias
 * operand: m itself, or where(cond, 0, -inf) on cond's own shape (never broadcast to
 * Tq x Tk); several masks are summed.
 *
 * Left alone, on purpose:
 *  - a scores, scale, mask or softmax value with a second use, or returned: attention
 *    does not give it, so fusing would compute the scores twice;
 *  - softmax over another axis, log_softmax, a matmul(V, P);
 *  - where with a fill other than -inf: a finite fill is not an additive bias (its row
 *    may be all fill, and exp of a finite fill is not 0);
 *  - a scale outside an add mask (c · (s + m) would need the bias c · m), and a scale
 *    <= 0 outside a where mask (it turns -inf into +inf or NaN);
 *  - operands whose batch dims differ: matmul broadcasts them, attention does not.
 *
 * Decision a newcomer may question: causality is decided by running the mask, not by
 * matching le(arange, reshape(arange)). Models spell it with le or lt, swapped operands,
 * a subtraction, a triangular constant, an add of where(..., 0, -inf); running the
 * subgraph treats them all alike, and a mask that is not exactly causal at every tested
 * size stays a bias, which is always correct. The pass therefore links the interpreter
 * (backends/ref), which depends on nothing but the IR.
 */
#include "passes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/ref/ref.h"

enum {
    FA_MAX_CHAIN = 32,            /* ops between the two matmuls, both included */
    FA_MAX_MASKS = 4,
    FA_MAX_EVAL = 1 << 20,        /* largest tensor evaluated to decide causality */
    FA_SIZES = 6,                 /* causality is tested for sizes 1..FA_SIZES */
};

typedef enum {
    MASK_KEEP_NONZERO, /* where(cond, s, -inf): cond != 0 keeps the score */
    MASK_KEEP_ZERO,    /* where(cond, -inf, s): cond == 0 keeps it */
    MASK_ADD,          /* add(s, m): m == 0 keeps it, m == -inf drops it */
} MaskKind;

typedef struct {
    MaskKind kind;
    IrValue *v; /* cond for the where forms, m for add */
} Mask;

typedef struct {
    IrValue *out;                 /* matmul(P, V), the value attention replaces */
    IrValue *scores;              /* matmul(Q, X) */
    IrValue *chain[FA_MAX_CHAIN]; /* out, softmax, scales, masks, scores: each used once */
    int nchain;
    int nscales;                  /* scales met so far on the scores side */
    double scale;
    Mask masks[FA_MAX_MASKS];
    int nmasks;
    IrValue *q, *v;               /* attention's q and v */
    IrValue *kbase;               /* k = transpose(kbase, kperm), or kbase when identity */
    IrAttrs kperm;
} Match;

static bool is_neg_inf(const IrValue *x) {
    return x->op == OP_CONSTANT && isinf(x->attrs.value) && x->attrs.value < 0;
}

/* x = mul(y, c), mul(c, y) or div(y, c) for a constant c, with x of y's type: *inner = y,
 * *factor = c or 1/c. */
static bool scale_of(IrValue *x, IrValue **inner, double *factor) {
    if (x->op != OP_MUL && x->op != OP_DIV) return false;
    for (int side = 1; side >= 0; side--) {
        IrValue *c = x->args[side], *y = x->args[1 - side];
        if (c->op != OP_CONSTANT || (x->op == OP_DIV && side == 0)) continue;
        if (!ir_type_eq(&y->type, &x->type)) continue;
        double k = x->op == OP_DIV ? 1.0 / c->attrs.value : c->attrs.value;
        if (!isfinite(k)) return false;
        *inner = y;
        *factor = k;
        return true;
    }
    return false;
}

/* Peels constant factors off x (they need not be single-use: only their operand is read). */
static IrValue *peel_scales(IrValue *x, double *scale) {
    IrValue *inner;
    double k;
    while (scale_of(x, &inner, &k)) {
        *scale *= k;
        x = inner;
    }
    return x;
}

static bool take(Match *m, IrValue *x) {
    if (x->uses != 1 || m->nchain == FA_MAX_CHAIN) return false;
    m->chain[m->nchain++] = x;
    return true;
}

/* The scores matmul(Q, X): q and k with the scales on Q and K peeled. */
static bool match_scores(Match *m, IrValue *s) {
    if (!take(m, s)) return false;
    m->scores = s;
    m->q = peel_scales(s->args[0], &m->scale);
    IrValue *x = peel_scales(s->args[1], &m->scale);
    int r = x->type.rank;
    m->kperm = (IrAttrs){.nints = r};
    for (int i = 0; i < r; i++) m->kperm.ints[i] = i;
    if (x->op == OP_TRANSPOSE) {
        m->kperm = x->attrs;
        x = peel_scales(x->args[0], &m->scale);
    }
    int64_t last = m->kperm.ints[r - 1];
    m->kperm.ints[r - 1] = m->kperm.ints[r - 2];
    m->kperm.ints[r - 2] = last;
    m->kbase = x;
    return true;
}

/* Walks from the softmax's operand to the scores matmul (see the file comment). Backtracks
 * only at an add, whose scores side is whichever operand leads to a match. */
static bool walk(Match *m, IrValue *s) {
    IrValue *inner;
    double k;
    if (scale_of(s, &inner, &k)) {
        if (!take(m, s)) return false;
        m->scale *= k;
        m->nscales++;
        return walk(m, inner);
    }
    if (s->op == OP_WHERE) {
        int side = is_neg_inf(s->args[2]) ? 1 : is_neg_inf(s->args[1]) ? 2 : 0;
        if (!side || m->scale <= 0 || m->nmasks == FA_MAX_MASKS ||
            !ir_type_eq(&s->args[side]->type, &s->type) || !take(m, s))
            return false;
        m->masks[m->nmasks++] = (Mask){side == 1 ? MASK_KEEP_NONZERO : MASK_KEEP_ZERO, s->args[0]};
        return walk(m, s->args[side]);
    }
    if (s->op == OP_ADD) {
        if (m->nscales > 0 || m->nmasks == FA_MAX_MASKS) return false;
        for (int side = 0; side < 2; side++) {
            if (!ir_type_eq(&s->args[side]->type, &s->type)) continue;
            Match saved = *m;
            if (!take(m, s)) return false;
            m->masks[m->nmasks++] = (Mask){MASK_ADD, s->args[1 - side]};
            if (walk(m, s->args[side])) return true;
            *m = saved;
        }
        return false;
    }
    return s->op == OP_MATMUL && match_scores(m, s);
}

static bool match_attention(IrValue *out, Match *m) {
    memset(m, 0, sizeof *m);
    m->scale = 1;
    if (out->op != OP_MATMUL) return false;
    IrValue *p = out->args[0];
    if (p->op != OP_SOFTMAX || p->attrs.axis != p->type.rank - 1) return false;
    m->out = out;
    m->v = out->args[1];
    m->chain[m->nchain++] = out;
    return take(m, p) && walk(m, p->args[0]);
}

/* ---- Is a mask causal? ---- */

/* Marks root and everything it reads (mark[] indexed by id); true when nothing marked is
 * an input or a weight. */
static bool mark_closure(IrValue *root, unsigned char *mark, int nvalues) {
    IrValue **stack = xmalloc(sizeof *stack * ((size_t)nvalues + 1));
    int n = 0;
    bool constant = true;
    mark[root->id] = 1;
    stack[n++] = root;
    while (n > 0) {
        IrValue *x = stack[--n];
        if (x->op == OP_INPUT || x->op == OP_WEIGHT) constant = false;
        for (int i = 0; i < x->nargs; i++)
            if (!mark[x->args[i]->id]) {
                mark[x->args[i]->id] = 1;
                stack[n++] = x->args[i];
            }
    }
    free(stack);
    return constant;
}

/* Whether the evaluated mask t keeps exactly the causal pattern of a tq x tk score matrix:
 * key j is kept for query i iff j <= i + tk - tq. t broadcasts to [..., tq, tk]. */
static bool tensor_is_causal(const Tensor *t, MaskKind kind, int64_t tq, int64_t tk) {
    int64_t rows = t->rank >= 2 ? t->dims[t->rank - 2] : 1;
    int64_t cols = t->rank >= 1 ? t->dims[t->rank - 1] : 1;
    if ((rows != tq && rows != 1) || (cols != tk && cols != 1)) return false;
    int64_t n = tensor_numel(t);
    for (int64_t e = 0; e < n; e++) {
        double x = ref_load(t, e);
        bool keep;
        if (kind == MASK_KEEP_NONZERO) keep = x != 0;
        else if (kind == MASK_KEEP_ZERO) keep = x == 0;
        else if (x == 0) keep = true;
        else if (isinf(x) && x < 0) keep = false;
        else return false; /* a finite, non-zero bias is not a mask */
        int64_t a = (e / cols) % rows, b = e % cols;
        for (int64_t i = rows == 1 ? 0 : a; i < (rows == 1 ? tq : a + 1); i++)
            for (int64_t j = cols == 1 ? 0 : b; j < (cols == 1 ? tk : b + 1); j++)
                if ((j <= i + tk - tq) != keep) return false;
    }
    return true;
}

/* Binds every symbol of the marked values' types not bound yet to 2 (a batch or head
 * count the mask may broadcast over); false when a marked value would be too large. */
static bool bind_rest(IrFunc *f, const unsigned char *mark, RefEnv *env) {
    char err[256];
    for (IrValue *x = f->first; x; x = x->next) {
        if (!mark[x->id]) continue;
        int64_t elems = 1;
        for (int i = 0; i < x->type.rank; i++) {
            IrDim d = x->type.dims[i];
            if (d.sym && ref_env_lookup(env, d.sym) < 0 && !ref_env_bind(env, d.sym, 2, "mask", err, sizeof err))
                return false;
            int64_t size = d.sym ? ref_env_lookup(env, d.sym) : d.size;
            if (size > FA_MAX_EVAL || (elems *= size) > FA_MAX_EVAL) return false;
        }
    }
    return true;
}

/* Runs the marked values (definition order) on the interpreter with tq and tk bound, and
 * tests the mask's tensor. False on any failure: the mask then stays a bias. */
static bool causal_at(IrFunc *f, const unsigned char *mark, int nvalues, const Mask *mask,
                      IrDim dq, IrDim dk, int64_t tq, int64_t tk) {
    RefEnv env = {0};
    char err[512];
    bool ok = (!dq.sym || ref_env_bind(&env, dq.sym, tq, "Tq", err, sizeof err)) &&
              (!dk.sym || ref_env_bind(&env, dk.sym, tk, "Tk", err, sizeof err)) &&
              bind_rest(f, mark, &env);
    Tensor **t = xcalloc((size_t)nvalues + 1, sizeof *t);
    for (IrValue *x = f->first; ok && x; x = x->next) {
        if (!mark[x->id]) continue;
        Tensor *args[64];
        if (x->nargs > 64) ok = false;
        for (int i = 0; ok && i < x->nargs; i++) args[i] = t[x->args[i]->id];
        int rank;
        int64_t dims[IR_MAX_RANK];
        ok = ok && ref_value_shape(x, args, &env, &rank, dims, err, sizeof err) &&
             (t[x->id] = tensor_create(x->type.dtype, rank, dims, err, sizeof err)) != NULL &&
             ref_eval_op(x, args, t[x->id], err, sizeof err);
    }
    ok = ok && tensor_is_causal(t[mask->v->id], mask->kind, tq, tk);
    for (int i = 0; i < nvalues; i++) tensor_destroy(t[i]);
    free(t);
    ref_env_free(&env);
    return ok;
}

/* Whether a mask that reads no input or weight is causal for the scores' [Tq, Tk] at every
 * tested size: Tq = Tk = n when they are one symbol, every pair otherwise; a fixed dim is
 * tested at its size only. */
static bool mask_is_causal(IrFunc *f, int nvalues, const Mask *mask, const IrType *scores) {
    unsigned char *mark = xcalloc((size_t)nvalues + 1, 1);
    bool ok = mark_closure(mask->v, mark, nvalues);
    IrDim dq = scores->dims[scores->rank - 2], dk = scores->dims[scores->rank - 1];
    bool tied = dq.sym && dk.sym && ir_dim_eq(dq, dk);
    int nq = dq.sym ? FA_SIZES : 1, nk = dk.sym && !tied ? FA_SIZES : 1;
    for (int a = 0; ok && a < nq; a++)
        for (int b = 0; ok && b < nk; b++) {
            int64_t tq = dq.sym ? a + 1 : dq.size;
            int64_t tk = tied ? tq : dk.sym ? b + 1 : dk.size;
            ok = causal_at(f, mark, nvalues, mask, dq, dk, tq, tk);
        }
    free(mark);
    return ok;
}

/* ---- The rewrite ---- */

typedef struct {
    IrFunc *f;
    IrValue *before;   /* new values go before the matmul attention replaces */
    IrValue *built[16];
    int nbuilt;
    bool failed;
} Builder;

static IrValue *build(Builder *b, IrOp op, IrValue **args, int nargs, const IrAttrs *a,
                      const IrType *given) {
    if (b->failed || b->nbuilt == (int)(sizeof b->built / sizeof b->built[0])) {
        b->failed = true;
        return NULL;
    }
    char err[512];
    IrValue *x = ir_build(b->f, op, args, nargs, a, given, b->before, err, sizeof err);
    if (!x) b->failed = true;
    else b->built[b->nbuilt++] = x;
    return x;
}

static IrValue *scalar(Builder *b, double value, IrDType dt) {
    IrType t = {.dtype = dt};
    IrAttrs a = {.value = value};
    return build(b, OP_CONSTANT, NULL, 0, &a, &t);
}

/* The bias term of one mask: m, or where(cond, 0, -inf) (where(cond, -inf, 0) for the
 * swapped form) on cond's shape. */
static IrValue *bias_term(Builder *b, const Mask *mask, IrDType dt) {
    if (mask->kind == MASK_ADD) return mask->v;
    IrValue *zero = scalar(b, 0, dt), *ninf = scalar(b, -INFINITY, dt);
    if (b->failed) return NULL;
    IrValue *args[3] = {mask->v, zero, ninf};
    if (mask->kind == MASK_KEEP_ZERO) args[1] = ninf, args[2] = zero;
    return build(b, OP_WHERE, args, 3, NULL, NULL);
}

static bool is_identity(const IrAttrs *perm) {
    for (int i = 0; i < perm->nints; i++)
        if (perm->ints[i] != i) return false;
    return true;
}

/* Builds attention for a match; on any failure (operands attention refuses, a type that
 * is not out's) removes what it built and returns false. */
static bool rewrite(IrFunc *f, Match *m, int nvalues) {
    /* Decided before anything is built: the evaluation reads the numbering. */
    bool causal = false, is_causal[FA_MAX_MASKS];
    for (int i = 0; i < m->nmasks; i++)
        causal |= is_causal[i] = mask_is_causal(f, nvalues, &m->masks[i], &m->scores->type);
    Builder b = {.f = f, .before = m->out};
    IrDType dt = m->out->type.dtype;
    IrValue *bias = NULL;
    for (int i = 0; i < m->nmasks && !b.failed; i++) {
        if (is_causal[i]) continue;
        IrValue *term = bias_term(&b, &m->masks[i], dt);
        bias = !bias || b.failed ? term : build(&b, OP_ADD, (IrValue *[]){bias, term}, 2, NULL, NULL);
    }
    IrValue *k = m->kbase;
    if (!is_identity(&m->kperm) && !b.failed) k = build(&b, OP_TRANSPOSE, &k, 1, &m->kperm, NULL);
    IrAttrs a = {.scale = m->scale, .causal = causal};
    IrValue *args[4] = {m->q, k, m->v, bias};
    IrValue *att = b.failed ? NULL : build(&b, OP_ATTENTION, args, bias ? 4 : 3, &a, NULL);
    if (!att || !ir_type_eq(&att->type, &m->out->type)) {
        for (int i = b.nbuilt - 1; i >= 0; i--) ir_value_remove(f, b.built[i]);
        return false;
    }
    att->loc = m->out->loc;
    ir_replace_uses(f, m->out, att);
    for (int i = 0; i < m->nchain; i++) ir_value_remove(f, m->chain[i]);
    return true;
}

static int number_values(IrFunc *f) {
    int n = 0;
    for (IrValue *v = f->first; v; v = v->next) v->id = n++;
    ir_func_count_uses(f);
    return n;
}

static bool fuse_func(IrFunc *f) {
    bool changed = false;
    int n = number_values(f);
    for (IrValue *v = f->first, *next; v; v = next) {
        next = v->next; /* a rewrite removes v and values before it, and inserts before it */
        Match m;
        if (!match_attention(v, &m) || !rewrite(f, &m, n)) continue;
        changed = true;
        n = number_values(f);
    }
    return changed;
}

bool pass_fuse_attention(IrModule *m) {
    bool changed = false;
    for (IrFunc *f = m->funcs; f; f = f->next) changed |= fuse_func(f);
    return changed;
}
