/* fuse_matmul.c — three rewrites around matmuls, in this order, each function at a time:
 *
 *   1. reassociate: (A @ B) @ C becomes A @ (B @ C), or back, when the other order costs
 *      fewer multiply-adds for every value of the symbols (x[B, 4, 1024] @ w1[1024, 1024]
 *      @ w2[1024, 2]: w1 @ w2 first, 2M + 8K·B against 4M·B + 8K·B; q @ W @ k^T: which
 *      is cheaper depends on T against S, so it stays as written);
 *   2. merge projections: matmuls of one input by different weights (x @ Wq, x @ Wk,
 *      x @ Wv, the biases added after each) become one matmul by the weights
 *      concatenated along N (and the biases concatenated), and each old value a slice of
 *      its result: one kernel reads x once instead of three times;
 *   3. epilogue: a matmul and the elementwise ops that consume it (bias add, GELU or ReLU,
 *      residual add, a scale and a mask) become one `fused` op whose body starts with the
 *      matmul: backends apply the elementwise ops to each block of the product while it
 *      is still in registers or cache, instead of writing it out and reading it back.
 *
 * What it leaves alone, on purpose:
 *   - A matmul that is a function result, or read by anything outside the epilogue,
 *     keeps its value: the epilogue would have to write both, and that saves nothing.
 *   - Reassociation when the cheaper order depends on the symbols' values (T against S),
 *     when costs tie, or when the inner product has another use (it would be computed
 *     twice). The rounding changes (sums in another order): that is the trade.
 *   - Merging weights that are not `weight` values of rank 2 with a fixed N: activations
 *     (the weight gradients x^T @ dy of a backward pass) would be copied into the concat
 *     every step, and the cpu backend's sum(x^T @ dy) kernel would no longer see them.
 *   - An operand transposed in its last two axes is copied into the body as a transpose
 *     of the parameter, not materialised: the cpu and vulkan matmuls read it in place.
 *   - At most FUSE_MAX_INPUTS outside operands per kernel (the matmul's two included): a
 *     Vulkan kernel then needs six storage buffers with the output.
 *
 * Output is a function of the input text: values are visited in definition order (or
 * its reverse), never by pointer.
 */
#include "passes.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

enum { FUSE_MAX_INPUTS = 5, MAX_TERMS = 8, MAX_GROUP = 16 };

static bool is_f32_matmul(const IrValue *v) { return v->op == OP_MATMUL && v->type.dtype == DT_F32; }

static bool is_result(const IrFunc *f, const IrValue *v) {
    for (int i = 0; i < f->nresults; i++)
        if (f->results[i] == v) return true;
    return false;
}

/* Builds a value whose operands were checked to fit (an internal error otherwise). */
static IrValue *build(IrFunc *f, IrOp op, IrValue **args, int n, const IrAttrs *at, IrValue *before) {
    char err[256];
    IrValue *v = ir_build(f, op, args, n, at, NULL, before, err, sizeof err);
    if (!v) fprintf(stderr, "fuse-matmul: %s\n", err);
    assert(v && "fuse-matmul builds only values whose operand types it checked");
    return v;
}

/* ---- 1. reassociation ---- */

/* A cost as a polynomial in the symbols: sum of coef * (product of the symbols in key,
 * sorted and joined by '*'; "" for a constant). */
typedef struct {
    double coef;
    char key[96];
} Term;

typedef struct {
    Term t[MAX_TERMS];
    int n;
} Poly;

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Adds sign * (the product of dims[0..n)) as a term. */
static void poly_add_product(Poly *p, double sign, const IrDim *dims, int n) {
    const char *syms[3 * IR_MAX_RANK];
    int ns = 0;
    double coef = sign;
    for (int i = 0; i < n; i++) {
        if (dims[i].sym)
            syms[ns++] = dims[i].sym;
        else
            coef *= (double)dims[i].size;
    }
    qsort(syms, (size_t)ns, sizeof *syms, cmp_str);
    char key[96] = "";
    for (int i = 0; i < ns; i++) {
        strncat(key, syms[i], sizeof key - strlen(key) - 2);
        strcat(key, "*");
    }
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->t[i].key, key) == 0) {
            p->t[i].coef += coef;
            return;
        }
    if (p->n == MAX_TERMS) return; /* cannot happen: four products of one term each */
    p->t[p->n].coef = coef;
    memcpy(p->t[p->n].key, key, sizeof key);
    p->n++;
}

/* sign * the multiply-adds of x @ y giving type out: batch * M * K * N. */
static void poly_add_matmul(Poly *p, double sign, const IrType *x, const IrType *out) {
    IrDim d[IR_MAX_RANK + 1];
    int n = 0;
    for (int i = 0; i < out->rank; i++) d[n++] = out->dims[i];
    d[n++] = x->dims[x->rank - 1]; /* K */
    poly_add_product(p, sign, d, n);
}

/* Whether p > 0 for every value of its symbols (each >= 1). Sufficient test: every term
 * with a symbol has a coefficient >= 0, so p grows with each symbol and is least with
 * all of them 1, where it is the sum of the coefficients. Conservative ("T*T - T" is
 * refused), never wrong. */
static bool poly_positive(const Poly *p) {
    double at_ones = 0;
    for (int i = 0; i < p->n; i++) {
        if (p->t[i].key[0] && p->t[i].coef < 0) return false;
        at_ones += p->t[i].coef;
    }
    return at_ones > 0;
}

/* outer = matmul(inner, c) with inner = matmul(a, b) (left) or outer = matmul(a, inner)
 * with inner = matmul(b, c): rebuilds outer in the other order when that is cheaper for
 * every value of the symbols. Returns whether it did. */
static bool try_reassociate(IrFunc *f, IrValue *outer, bool left) {
    IrValue *inner = outer->args[left ? 0 : 1];
    IrValue *a = left ? inner->args[0] : outer->args[0];
    IrValue *b = left ? inner->args[1] : inner->args[0];
    IrValue *c = left ? outer->args[1] : inner->args[1];
    /* the other order: left ? a @ (b @ c) : (a @ b) @ c */
    IrValue *p0 = left ? b : a, *p1 = left ? c : b;
    IrValue *pair[2] = {p0, p1};
    IrType nt, ot;
    char why[256];
    if (!ir_infer(OP_MATMUL, pair, 2, NULL, NULL, &nt, why, sizeof why)) return false;
    IrValue tmp = {.op = OP_MATMUL, .type = nt};
    IrValue *opair[2] = {left ? a : &tmp, left ? &tmp : c};
    if (!ir_infer(OP_MATMUL, opair, 2, NULL, NULL, &ot, why, sizeof why) || !ir_type_eq(&ot, &outer->type))
        return false;
    Poly d = {0}; /* now - other */
    poly_add_matmul(&d, 1, &inner->args[0]->type, &inner->type);
    poly_add_matmul(&d, 1, &outer->args[0]->type, &outer->type);
    poly_add_matmul(&d, -1, &p0->type, &nt);
    poly_add_matmul(&d, -1, &opair[0]->type, &ot);
    if (!poly_positive(&d)) return false;
    IrValue *ni = build(f, OP_MATMUL, pair, 2, NULL, outer);
    if (!ni) return false;
    IrValue *oargs[2] = {left ? a : ni, left ? ni : c};
    IrValue *no = build(f, OP_MATMUL, oargs, 2, NULL, outer);
    if (!no) {
        ir_value_remove(f, ni);
        return false;
    }
    no->loc = outer->loc;
    ir_replace_uses(f, outer, no);
    ir_value_remove(f, outer);
    ir_value_remove(f, inner);
    return true;
}

static bool reassociate(IrFunc *f) {
    bool changed = false, again = true;
    /* every rewrite lowers the cost for all symbol values, so this ends; the bound is a
     * guard against a cost model gone wrong, not a limit a model reaches */
    for (int round = 0; again && round < 64; round++) {
        again = false;
        ir_func_count_uses(f);
        for (IrValue *v = f->first; v && !again; v = v->next) {
            if (!is_f32_matmul(v)) continue;
            for (int side = 0; side < 2 && !again; side++) {
                IrValue *in = v->args[side];
                if (!is_f32_matmul(in) || in->uses != 1 || is_result(f, in)) continue;
                again = try_reassociate(f, v, side == 0);
            }
        }
        changed |= again;
    }
    return changed;
}

/* ---- 2. merging projections of one input ---- */

/* x @ w with w a rank-2 f32 weight of fixed N: a projection that can be merged. */
static bool is_projection(const IrValue *v) {
    if (!is_f32_matmul(v)) return false;
    const IrValue *w = v->args[1];
    return w->op == OP_WEIGHT && w->type.rank == 2 && !w->type.dims[1].sym;
}

/* The bias added to projection p, when p's one use is `p + b` with b [N] of p's dtype and
 * b a weight (which can move up to the merged matmul); else NULL. *add gets the add. */
static IrValue *bias_of(IrFunc *f, IrValue *p, IrValue **add) {
    if (p->uses != 1 || is_result(f, p)) return NULL;
    for (IrValue *u = p->next; u; u = u->next) {
        bool uses_p = false;
        for (int i = 0; i < u->nargs; i++) uses_p |= u->args[i] == p;
        if (!uses_p) continue;
        if (u->op != OP_ADD || !ir_type_eq(&u->type, &p->type)) return NULL;
        IrValue *b = u->args[0] == p ? u->args[1] : u->args[0];
        if (b == p || b->op != OP_WEIGHT || b->type.rank != 1 || b->type.dtype != DT_F32 ||
            !ir_dim_eq(b->type.dims[0], p->args[1]->type.dims[1]))
            return NULL;
        *add = u;
        return b;
    }
    return NULL;
}

/* Moves a weight read up to just before `at` (weight reads have no operands). */
static void hoist(IrFunc *f, IrValue *w, IrValue *at) {
    if (w->id < at->id) return;
    ir_value_remove(f, w);
    ir_value_link(f, w, at);
    w->id = at->id; /* before `at` now */
}

/* Replaces the projections g[0..n) of one input by one matmul and slices of it. */
static void merge_group(IrFunc *f, IrValue **g, int n) {
    IrValue *at = g[0], *ws[MAX_GROUP], *bs[MAX_GROUP], *adds[MAX_GROUP];
    bool biased = true;
    for (int i = 0; i < n; i++) {
        ws[i] = g[i]->args[1];
        bs[i] = biased ? bias_of(f, g[i], &adds[i]) : NULL;
        biased = biased && bs[i];
    }
    for (int i = 0; i < n; i++) {
        hoist(f, ws[i], at);
        if (biased) hoist(f, bs[i], at);
    }
    IrAttrs cat = {.axis = 1};
    IrValue *wcat = build(f, OP_CONCAT, ws, n, &cat, at);
    IrValue *y = build(f, OP_MATMUL, (IrValue *[]){g[0]->args[0], wcat}, 2, NULL, at);
    y->loc = g[0]->loc;
    if (biased) {
        cat.axis = 0;
        IrValue *bcat = build(f, OP_CONCAT, bs, n, &cat, at);
        y = build(f, OP_ADD, (IrValue *[]){y, bcat}, 2, NULL, at);
    }
    int64_t start = 0;
    int r = y->type.rank;
    for (int i = 0; i < n; i++) {
        int64_t len = ws[i]->type.dims[1].size;
        IrAttrs sl = {.axis = r - 1, .start = start, .end = start + len};
        IrValue *part = build(f, OP_SLICE, &y, 1, &sl, at);
        start += len;
        ir_replace_uses(f, biased ? adds[i] : g[i], part);
    }
    for (int i = 0; i < n; i++) { /* last: g[0] is where the new values went */
        if (biased) ir_value_remove(f, adds[i]);
        ir_value_remove(f, g[i]);
    }
}

static bool merge_projections(IrFunc *f) {
    ir_func_count_uses(f);
    ir_func_number(f);
    int n = 0;
    for (IrValue *v = f->first; v; v = v->next) n++;
    IrValue **ps = xcalloc((size_t)n + 1, sizeof *ps);
    int np = 0;
    for (IrValue *v = f->first; v; v = v->next)
        if (is_projection(v)) ps[np++] = v;
    bool changed = false;
    for (int i = 0; i < np; i++) {
        if (!ps[i]) continue;
        IrValue *g[MAX_GROUP];
        int k = 0;
        g[k++] = ps[i];
        for (int j = i + 1; j < np && k < MAX_GROUP; j++) {
            if (!ps[j] || ps[j]->args[0] != ps[i]->args[0] ||
                !ir_dim_eq(ps[j]->args[1]->type.dims[0], ps[i]->args[1]->type.dims[0]))
                continue;
            bool dup = false; /* the same weight twice is CSE's business */
            for (int q = 0; q < k; q++) dup |= g[q]->args[1] == ps[j]->args[1];
            if (dup) continue;
            g[k++] = ps[j];
            ps[j] = NULL;
        }
        if (k < 2) continue;
        merge_group(f, g, k);
        changed = true;
    }
    free(ps);
    return changed;
}

/* ---- 3. epilogues ---- */

/* Elementwise ops that cannot fail at run time (fuse-elementwise's rule). */
static bool is_elementwise(const IrValue *v) {
    if (!(ir_op_flags(v->op) & (F_UNARY | F_BINARY | F_ELEMENTWISE))) return false;
    if (v->type.dtype != DT_F32 && v->type.dtype != DT_I32) return false;
    if (v->type.dtype == DT_I32 && (v->op == OP_DIV || v->op == OP_POW)) return false;
    for (int i = 0; i < v->nargs; i++)
        if (v->args[i]->type.dtype != DT_F32 && v->args[i]->type.dtype != DT_I32) return false;
    return true;
}

static bool is_scalar_constant(const IrValue *v) { return v->op == OP_CONSTANT && v->type.rank == 0; }

/* A matmul operand read in place: a transpose of the last two axes (the body copies it
 * as a transpose of its source, and the kernels read the source transposed). */
static bool is_view(const IrValue *a) { return ir_is_swap_last2(a) && a->type.dtype == DT_F32; }

typedef struct {
    IrFunc *f;
    IrValue **vals;  /* by id */
    int *group;      /* by id: the group a value belongs to, -1: none */
    int *inner_uses; /* by id: uses by members of the group being grown */
    bool *result;    /* by id */
    bool *reach;     /* by id: depends on the matmul through elementwise ops of its type */
    int n;
} Ctx;

/* Whether v is one of the values numbered when the function was entered (fused ops made
 * since are not, and are never members). */
static bool known(const Ctx *c, const IrValue *v) { return v->id >= 0 && v->id < c->n && c->vals[v->id] == v; }

static bool in_group(const Ctx *c, const IrValue *v, int g) { return known(c, v) && c->group[v->id] == g; }

/* The value a body parameter stands for when member v reads operand i. */
static IrValue *outside_of(const Ctx *c, const IrValue *v, int i, int g) {
    IrValue *a = v->args[i];
    if (in_group(c, a, g) || is_scalar_constant(a)) return NULL;
    if (v->op == OP_MATMUL && is_view(a)) return a->args[0];
    return a;
}

/* Outside operands of group g (members among ids lo..hi), in first-use order; max + 1
 * when there are more than max. */
static int outside_operands(const Ctx *c, int g, int lo, int hi, IrValue **out, int max) {
    int k = 0;
    for (int id = lo; id <= hi; id++) {
        IrValue *v = c->vals[id];
        if (c->group[id] != g) continue;
        for (int i = 0; i < v->nargs; i++) {
            IrValue *a = outside_of(c, v, i, g);
            bool seen = !a;
            for (int j = 0; j < k && !seen; j++) seen = out[j] == a;
            if (seen) continue;
            if (k == max) return max + 1;
            out[k++] = a;
        }
    }
    return k;
}

static void join(Ctx *c, IrValue *v, int g) {
    c->group[v->id] = g;
    if (v->op == OP_MATMUL) return; /* its operands stay outside: they are read, not fused */
    for (int i = 0; i < v->nargs; i++)
        if (known(c, v->args[i])) c->inner_uses[v->args[i]->id]++;
}

/* Grows group g backwards from root, as fuse-elementwise does, admitting the matmul mm
 * too: a value joins when every use of it is inside the group and the group's outside
 * operands stay within FUSE_MAX_INPUTS. Returns the lowest member id, or -1 (group
 * undone) when mm did not join. */
static int grow(Ctx *c, IrValue *root, IrValue *mm, int g) {
    memset(c->inner_uses, 0, sizeof *c->inner_uses * (size_t)c->n);
    join(c, root, g);
    int lo = root->id;
    for (int id = root->id - 1; id >= mm->id; id--) {
        IrValue *v = c->vals[id];
        if (c->inner_uses[id] == 0 || c->group[id] >= 0 || c->result[id] || c->inner_uses[id] != v->uses ||
            !(is_elementwise(v) || v == mm))
            continue;
        c->group[id] = g; /* tentatively, to count the operands with v inside */
        IrValue *ops[FUSE_MAX_INPUTS + 1];
        int nops = outside_operands(c, g, id, root->id, ops, FUSE_MAX_INPUTS);
        c->group[id] = -1;
        if (nops > FUSE_MAX_INPUTS) continue;
        join(c, v, g);
        lo = id;
    }
    if (c->group[mm->id] != g) {
        for (int id = lo; id <= root->id; id++)
            if (c->group[id] == g) c->group[id] = -1;
        return -1;
    }
    return lo;
}

/* Copies group g (ids lo..root) into a new body and replaces root by a fused op on the
 * group's outside operands. Members are removed; a transpose read only by the matmul
 * goes too (the body reads its source). */
static void outline(Ctx *c, IrValue *root, IrValue *mm, int g, int lo) {
    IrFunc *f = c->f;
    IrModule *m = f->module;
    IrValue *ops[FUSE_MAX_INPUTS + 1];
    int nops = outside_operands(c, g, lo, root->id, ops, FUSE_MAX_INPUTS);
    char err[256];
    IrFunc *body = pass_body_new(m, f);
    IrValue *params[FUSE_MAX_INPUTS];
    for (int i = 0; i < nops; i++) {
        char pname[16];
        snprintf(pname, sizeof pname, "x%d", i);
        params[i] = ir_func_add_param(body, pname, &ops[i]->type);
    }
    IrValue **copy = xcalloc((size_t)(root->id - lo + 1), sizeof *copy);
    for (int id = lo; id <= root->id; id++) {
        IrValue *v = c->vals[id];
        if (c->group[id] != g) continue;
        IrValue *args[3];
        for (int i = 0; i < v->nargs; i++) {
            IrValue *a = v->args[i], *o = outside_of(c, v, i, g);
            if (!o) {
                args[i] = in_group(c, a, g) ? copy[a->id - lo]
                                            : ir_build(body, OP_CONSTANT, NULL, 0, &a->attrs, &a->type, NULL, err, sizeof err);
                continue;
            }
            int k = 0;
            while (ops[k] != o) k++;
            args[i] = params[k];
            if (o != a) /* a transpose read in place */
                args[i] = ir_build(body, OP_TRANSPOSE, &args[i], 1, &a->attrs, NULL, NULL, err, sizeof err);
        }
        copy[id - lo] = ir_build(body, v->op, args, v->nargs, &v->attrs,
                                 (ir_op_flags(v->op) & F_TYPE_GIVEN) ? &v->type : NULL, NULL, err, sizeof err);
    }
    ir_func_set_results(body, &copy[root->id - lo], 1);
    free(copy);
    body = pass_body_share(m, body);
    IrAttrs at = {.name = body->name};
    IrValue *fused = ir_build(f, OP_FUSED, ops, nops, &at, &root->type, root, err, sizeof err);
    fused->loc = mm->loc;
    ir_replace_uses(f, root, fused);
    for (int i = 0; i < 2; i++) { /* transposes only the matmul read */
        IrValue *t = mm->args[i];
        int by_mm = (mm->args[0] == t) + (mm->args[1] == t);
        if (is_view(t) && known(c, t) && t->uses == by_mm && !c->result[t->id] && c->group[t->id] < 0) {
            c->group[t->id] = g; /* gone: never a member or operand of a later group */
            ir_value_remove(f, t);
        }
    }
    for (int id = root->id; id >= lo; id--)
        if (c->group[id] == g && c->vals[id] != mm->args[0] && c->vals[id] != mm->args[1])
            ir_value_remove(f, c->vals[id]);
}

/* Marks what depends on mm through elementwise ops of mm's type (the candidate roots). */
static void find_reach(Ctx *c, const IrValue *mm) {
    memset(c->reach, 0, sizeof *c->reach * (size_t)c->n);
    c->reach[mm->id] = true;
    for (int id = mm->id + 1; id < c->n; id++) {
        IrValue *v = c->vals[id];
        if (c->group[id] >= 0 || !is_elementwise(v) || !ir_type_eq(&v->type, &mm->type)) continue;
        for (int i = 0; i < v->nargs && !c->reach[id]; i++)
            c->reach[id] = known(c, v->args[i]) && c->reach[v->args[i]->id];
    }
}

static bool epilogues(IrFunc *f) {
    ir_func_count_uses(f);
    int n = 0;
    for (IrValue *v = f->first; v; v = v->next) v->id = n++;
    Ctx c = {f, xcalloc((size_t)n + 1, sizeof *c.vals), xcalloc((size_t)n + 1, sizeof *c.group),
             xcalloc((size_t)n + 1, sizeof *c.inner_uses), xcalloc((size_t)n + 1, sizeof *c.result),
             xcalloc((size_t)n + 1, sizeof *c.reach), n};
    for (IrValue *v = f->first; v; v = v->next) c.vals[v->id] = v, c.group[v->id] = -1;
    for (int i = 0; i < f->nresults; i++) c.result[f->results[i]->id] = true;
    bool changed = false;
    int groups = 0;
    /* later matmuls first: an epilogue never reaches back past its own matmul, so an
     * earlier matmul's epilogue is untouched by a later one's outlining */
    for (int id = n - 1; id >= 0; id--) {
        IrValue *mm = c.vals[id];
        if (!is_f32_matmul(mm) || c.group[id] >= 0 || c.result[id]) continue;
        find_reach(&c, mm);
        int g = groups++;
        /* the latest root that takes the matmul in gives the longest epilogue */
        for (int r = n - 1; r > id; r--) {
            if (!c.reach[r] || c.group[r] >= 0) continue;
            int lo = grow(&c, c.vals[r], mm, g);
            if (lo < 0) continue;
            outline(&c, c.vals[r], mm, g, lo);
            changed = true;
            break;
        }
    }
    free(c.vals), free(c.group), free(c.inner_uses), free(c.result), free(c.reach);
    return changed;
}

bool pass_fuse_matmul(IrModule *m) {
    bool changed = false;
    for (IrFunc *f = m->funcs; f; f = f->next) {
        if (ir_func_is_body(f)) continue;
        changed |= reassociate(f);
        changed |= merge_projections(f);
        changed |= epilogues(f);
    }
    return changed;
}
