/* autodiff.c — reverse-mode differentiation of an IR function (see autodiff.h).
 *
 * 1. Mark the active values: those that depend on a weight we differentiate by and that
 *    the loss depends on (everything else gets no adjoint and costs nothing).
 * 2. Walk the function backwards from the loss; each active value hands its adjoint to
 *    its op's VJP rule (vjp.c), and the operands' adjoints accumulate by addition.
 * 3. A weight read several times gets the sum of its reads' adjoints.
 * The new ops are appended after the function's last value, so the forward values the
 * rules use are already defined (SSA order holds by construction).
 */
#include <stdlib.h>
#include <string.h>

#include "ad.h"

enum { IR_MAX_PIECES = 16 };

IrValue *ad_op(AdCtx *c, IrOp op, IrValue **args, int nargs, const IrAttrs *a, const IrType *given) {
    char err[512];
    IrValue *v = ir_build(c->f, op, args, nargs, a, given, NULL, err, sizeof err);
    if (!v) {
        fprintf(stderr, "tfc: internal error in autodiff building %s: %s\n", ir_op_name(op), err);
        abort();
    }
    return v;
}

IrValue *ad_op1(AdCtx *c, IrOp op, IrValue *x) { return ad_op(c, op, &x, 1, NULL, NULL); }

IrValue *ad_op2(AdCtx *c, IrOp op, IrValue *x, IrValue *y) {
    return ad_op(c, op, (IrValue *[]){x, y}, 2, NULL, NULL);
}

IrValue *ad_fill(AdCtx *c, double value, const IrType *t) {
    IrType scalar = {.dtype = t->dtype};
    IrAttrs a = {.value = value};
    IrValue *k = ad_op(c, OP_CONSTANT, NULL, 0, &a, &scalar);
    return t->rank == 0 ? k : ad_op(c, OP_BROADCAST, &k, 1, NULL, t);
}

IrValue *ad_unbroadcast(AdCtx *c, IrValue *g, const IrType *t) {
    const IrType *gt = &g->type;
    int lead = gt->rank - t->rank;
    if (lead > 0) {
        IrAttrs a = {.nints = lead};
        for (int i = 0; i < lead; i++) a.ints[i] = i;
        g = ad_op(c, OP_SUM, &g, 1, &a, NULL);
        gt = &g->type;
    }
    IrAttrs a = {.keepdim = true};
    for (int i = 0; i < t->rank; i++) {
        IrDim want = t->dims[i], have = gt->dims[i];
        if (!want.sym && want.size == 1 && !(!have.sym && have.size == 1)) a.ints[a.nints++] = i;
    }
    if (a.nints) g = ad_op(c, OP_SUM, &g, 1, &a, NULL);
    return g;
}

static bool is_float(const IrType *t) { return t->dtype != DT_I32; }

static bool in_list(IrWeight *const *ws, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (ws[i]->name == name) return true;
    return false;
}

IrWeight **ad_float_weights_read(IrFunc *f, int *n) {
    int nw = 0;
    for (IrWeight *w = f->module->weights; w; w = w->next) nw++;
    IrWeight **ws = xcalloc((size_t)nw + 1, sizeof *ws);
    *n = 0;
    for (IrWeight *w = f->module->weights; w; w = w->next) {
        bool read = false;
        for (IrValue *v = f->first; v && !read; v = v->next)
            read = v->op == OP_WEIGHT && v->attrs.name == w->name;
        if (read && is_float(&w->type)) ws[(*n)++] = w;
    }
    return ws;
}

/* The pieces of x along `axis`: x itself, or the operands of a concat along it. */
typedef struct {
    int n;
    IrValue *v[IR_MAX_PIECES];
    int64_t start[IR_MAX_PIECES + 1];
} Pieces;

/* zeros as ad_fill makes them (a broadcast scalar 0), or as constant-fold leaves them */
static bool is_zero_fill(const IrValue *v) {
    if (v->op == OP_BROADCAST) v = v->args[0];
    return v->op == OP_CONSTANT && v->attrs.value == 0;
}

static bool pieces_of(IrValue *x, int64_t axis, Pieces *p) {
    bool cat = x->op == OP_CONCAT && x->attrs.axis == axis;
    p->n = cat ? x->nargs : 1;
    if (p->n > IR_MAX_PIECES) return false;
    p->start[0] = 0;
    for (int i = 0; i < p->n; i++) {
        p->v[i] = cat ? x->args[i] : x;
        if (p->v[i]->type.dims[axis].sym) return false;
        p->start[i + 1] = p->start[i] + p->v[i]->type.dims[axis].size;
    }
    return true;
}

/* Whether a boundary of q falls strictly inside [lo, hi). */
static bool cuts(const Pieces *q, int64_t lo, int64_t hi) {
    for (int i = 1; i < q->n; i++)
        if (q->start[i] > lo && q->start[i] < hi) return true;
    return false;
}

/* a + b when both are zero-padded along one axis with disjoint live windows (the
 * gradients of the parts of a split: q, k and v of a fused projection) as one concat of
 * the live pieces, instead of padding each with zeros and adding the padded tensors.
 * NULL when they are not of that form. */
static IrValue *merge_pads(AdCtx *c, IrValue *a, IrValue *b) {
    if (a->op != OP_CONCAT && b->op != OP_CONCAT) return NULL;
    int64_t axis = (a->op == OP_CONCAT ? a : b)->attrs.axis;
    Pieces pa, pb;
    if (!pieces_of(a, axis, &pa) || !pieces_of(b, axis, &pb) || !ir_type_eq(&a->type, &b->type)) return NULL;
    IrValue *out[2 * IR_MAX_PIECES];
    int n = 0;
    int64_t at = 0, end = pa.start[pa.n];
    while (at < end) {
        int i = 0, j = 0;
        while (pa.start[i + 1] <= at) i++;
        while (pb.start[j + 1] <= at) j++;
        bool la = !is_zero_fill(pa.v[i]), lb = !is_zero_fill(pb.v[j]);
        if (la && lb) return NULL; /* overlapping live windows: a real add */
        const Pieces *live = la ? &pa : lb ? &pb : NULL;
        int k = la ? i : j;
        if (live && (live->start[k] != at || cuts(la ? &pb : &pa, at, live->start[k + 1]))) return NULL;
        int64_t next = live ? live->start[k + 1] : (pa.start[i + 1] < pb.start[j + 1] ? pa.start[i + 1] : pb.start[j + 1]);
        if (live) {
            out[n++] = live->v[k];
        } else { /* zeros up to the next boundary of either */
            IrType z = a->type;
            z.dims[axis] = ir_dim_int(next - at);
            out[n++] = ad_fill(c, 0, &z);
        }
        if (n == 2 * IR_MAX_PIECES) return NULL;
        at = next;
    }
    if (n == 1) return out[0];
    IrAttrs at_ = {.axis = axis};
    return ad_op(c, OP_CONCAT, out, n, &at_, NULL);
}

bool ad_grad(IrFunc *f, IrValue *loss, IrWeight *const *wrt, int n, IrValue **grads, char *err,
             size_t errlen) {
    char ts[IR_TYPE_STR_MAX];
    if (loss->type.rank != 0 || !is_float(&loss->type)) {
        snprintf(err, errlen, "the loss must be a float scalar, not %s",
                 ir_type_str(&loss->type, ts, sizeof ts));
        return false;
    }
    for (int i = 0; i < n; i++)
        if (!is_float(&wrt[i]->type)) {
            snprintf(err, errlen, "cannot differentiate by @%s: it is %s, not float", wrt[i]->name,
                     ir_type_str(&wrt[i]->type, ts, sizeof ts));
            return false;
        }
    int count = 0;
    for (IrValue *v = f->first; v; v = v->next) v->id = count++;
    bool *active = xcalloc((size_t)count + 1, sizeof *active);
    bool *reach = xcalloc((size_t)count + 1, sizeof *reach);
    IrValue **adj = xcalloc((size_t)count + 1, sizeof *adj);
    for (IrValue *v = f->first; v; v = v->next) {
        bool a = v->op == OP_WEIGHT && in_list(wrt, n, v->attrs.name);
        for (int i = 0; !a && i < v->nargs; i++) a = active[v->args[i]->id];
        active[v->id] = a && is_float(&v->type);
    }
    reach[loss->id] = true;
    for (IrValue *v = loss; v; v = v->prev)
        if (reach[v->id])
            for (int i = 0; i < v->nargs; i++) reach[v->args[i]->id] = true;

    AdCtx c = {f};
    IrValue *last = f->last; /* everything after it is backward code */
    adj[loss->id] = ad_fill(&c, 1, &loss->type);
    bool ok = true;
    for (IrValue *v = loss; v && ok; v = v->prev) {
        IrValue *g = adj[v->id];
        VjpRule rule = ad_vjp_rule(v->op);
        if (!g || !active[v->id] || !reach[v->id]) continue;
        if (!rule) {
            /* comparisons are flat (no gradient); any other op without a rule is one that
             * only the compiler makes (fused kernels, attention's backward ops): treating
             * it as a constant would give silent zeros, so say where fusion went wrong */
            IrOp op = v->op;
            if ((ir_op_flags(op) & F_LEAF) || op == OP_EQ || op == OP_LT || op == OP_LE) continue;
            int text_id = 0; /* as the printed IR numbers it (inputs have names) */
            for (IrValue *u = f->first; u != v; u = u->next) text_id += u->op != OP_INPUT;
            snprintf(err, errlen, "cannot differentiate through %s (%%%d): it has no gradient rule; "
                     "differentiate the model before the fusion passes that make it", ir_op_name(op), text_id);
            ok = false;
            break;
        }
        bool need[64] = {0};
        IrValue *gr[64] = {0};
        bool any = false;
        for (int i = 0; i < v->nargs && i < 64; i++) any |= need[i] = active[v->args[i]->id];
        if (!any) continue;
        rule(&c, v, g, need, gr);
        for (int i = 0; i < v->nargs && i < 64; i++) {
            if (!need[i] || !gr[i]) continue;
            int k = v->args[i]->id;
            IrValue *merged = adj[k] ? merge_pads(&c, adj[k], gr[i]) : NULL;
            adj[k] = merged ? merged : adj[k] ? ad_op2(&c, OP_ADD, adj[k], gr[i]) : gr[i];
        }
    }
    for (int i = 0; ok && i < n; i++) {
        grads[i] = NULL;
        for (IrValue *v = f->first; v; v = v == last ? NULL : v->next)
            if (v->op == OP_WEIGHT && v->attrs.name == wrt[i]->name && adj[v->id])
                grads[i] = grads[i] ? ad_op2(&c, OP_ADD, grads[i], adj[v->id]) : adj[v->id];
        if (!grads[i]) grads[i] = ad_fill(&c, 0, &wrt[i]->type);
    }
    for (IrValue *v = last ? last->next : f->first; v; v = v->next) v->phase = IR_PHASE_BACKWARD;
    free(active);
    free(reach);
    free(adj);
    return ok;
}

IrFunc *ad_build_grad_func(IrFunc *src, int loss_result, char *err, size_t errlen) {
    IrModule *m = src->module;
    if (loss_result < 0 || loss_result >= src->nresults) {
        snprintf(err, errlen, "@%s has no result %d to differentiate", src->name, loss_result);
        return NULL;
    }
    char name[256];
    snprintf(name, sizeof name, "%s_grad", src->name);
    if (ir_module_find_func(m, name)) {
        snprintf(err, errlen, "@%s already exists", name);
        return NULL;
    }
    int n;
    IrWeight **ws = ad_float_weights_read(src, &n);
    IrValue *loss = src->results[loss_result];
    char ts[IR_TYPE_STR_MAX];
    if (loss->type.rank != 0 || !is_float(&loss->type)) {
        snprintf(err, errlen,
                 "@%s's result %d is %s: differentiating needs a float scalar loss (a model "
                 "whose output is a loss, or a training script)",
                 src->name, loss_result, ir_type_str(&loss->type, ts, sizeof ts));
        free(ws);
        return NULL;
    }
    IrFunc *f = ir_func_clone(src, name, NULL);
    IrValue **res = xcalloc((size_t)n + 1, sizeof *res);
    res[0] = f->results[loss_result];
    bool ok = ad_grad(f, res[0], ws, n, res + 1, err, errlen);
    if (ok) ir_func_set_results(f, res, n + 1);
    free(res);
    free(ws);
    return ok ? f : NULL;
}
