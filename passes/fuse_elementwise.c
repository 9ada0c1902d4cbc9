/* fuse_elementwise.c — chains of elementwise ops become one `fused` kernel each.
 *
 * A group grows backwards from a root (an elementwise op, or a reduction over trailing
 * axes fed by one):
 * an operand joins when it is elementwise itself and every use of it is inside the
 * group, so nothing outside ever needs it in memory. The group's ops are copied into a
 * body function `@fused.N` (placed before the function, so the text reads top down) and
 * the root is replaced by `fused @fused.N` on the group's outside operands. Scalar
 * constants are copied into the body rather than passed in.
 *
 * Why this is exact: every member's shape broadcasts into the root's iteration shape
 * (elementwise results are the broadcast of their operands), so computing each output
 * element by evaluating the whole chain at that element, each operand read at its
 * broadcast index, gives what the separate kernels give, op by op and rounding by
 * rounding.
 *
 * A softmax or log_softmax over the last axis may head a group (as a matmul heads one in
 * fuse-matmul): it joins when the root has its type, and its operand stays outside. The
 * row kernel then applies the rest of the body to each probability as it stores it: the
 * cross-entropy gradient (p - onehot(t)) * g / n never writes p. An arange joins like an
 * elementwise op when it runs along the iteration's last axis (in a body its value is the
 * element's index along that axis).
 *
 * Decisions a newcomer may question:
 *   - Operands are visited in decreasing definition order, so by the time one is
 *     considered all its users (defined later) are decided; a value used twice inside
 *     one group joins once both users have.
 *   - A value with a use outside the group is recomputed inside it only when that is one
 *     arithmetic op on operands no group can take (`recomputable`): the clipped gradient
 *     g·c is read by both AdamW kernels of its weight, and storing it costs more than
 *     two multiplies. Anything longer stays stored once.
 *   - Groups take at most FUSE_MAX_INPUTS outside operands: with the output that is eight
 *     storage buffers, what the Vulkan backend asks of a device (VK_MAX_BIND). A
 *     candidate that would exceed it stays outside.
 */
#include "passes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FUSE_MAX_INPUTS = 7 };

/* Elementwise ops that cannot fail at run time (an i32 division or power can: those keep
 * their own kernel, whose error message names the operands). */
static bool is_elementwise(const IrValue *v) {
    if (!(ir_op_flags(v->op) & (F_UNARY | F_BINARY | F_ELEMENTWISE))) return false;
    if (v->type.dtype != DT_F32 && v->type.dtype != DT_I32) return false;
    if (v->type.dtype == DT_I32 && (v->op == OP_DIV || v->op == OP_POW)) return false;
    for (int i = 0; i < v->nargs; i++)
        if (v->args[i]->type.dtype != DT_F32 && v->args[i]->type.dtype != DT_I32) return false;
    return true;
}

static bool is_scalar_constant(const IrValue *v) { return v->op == OP_CONSTANT && v->type.rank == 0; }

/* A softmax or log_softmax over the last axis, in f32: it may head a group whose root has
 * its type (an epilogue on each probability as the row kernel stores it). */
static bool is_row_head(const IrValue *v) {
    return (v->op == OP_SOFTMAX || v->op == OP_LOG_SOFTMAX) && v->type.dtype == DT_F32 &&
           v->attrs.axis == v->type.rank - 1;
}

/* The shape a group rooted at root iterates over: the root's, or a reduction's operand's. */
static const IrType *iter_type(const IrValue *root) {
    return (ir_op_flags(root->op) & F_REDUCE) ? &root->args[0]->type : &root->type;
}

/* Whether v may join the group rooted at root, which holds a row head already or not.
 * An arange joins when it runs along the iteration's last axis: in a body its value is
 * the element's index along that axis. */
static bool may_join(const IrValue *v, const IrValue *root, bool has_head) {
    if (is_elementwise(v)) return true;
    const IrType *it = iter_type(root);
    if (v->op == OP_ARANGE)
        return it->rank >= 1 && ir_dim_eq(v->type.dims[0], it->dims[it->rank - 1]);
    return is_row_head(v) && !has_head && !(ir_op_flags(root->op) & F_REDUCE) && ir_type_eq(&v->type, &root->type);
}

/* A reduction fed by an elementwise op, over trailing axes (a row reduction, or all axes):
 * the kernel then walks each output's elements contiguously, and the chain feeding it is
 * computed on the fly instead of stored. */
static bool is_reduction_root(const IrValue *v) {
    if (!(ir_op_flags(v->op) & F_REDUCE) || v->type.dtype != DT_F32 || !is_elementwise(v->args[0]))
        return false;
    int r = v->args[0]->type.rank, n = v->attrs.nints;
    for (int i = 0; i < n; i++)
        if (v->attrs.ints[i] != r - n + i) return false;
    return n > 0;
}

typedef struct {
    IrValue **vals;  /* by id */
    int *group;      /* by id: the group a value belongs to, -1: none */
    int *dup;        /* by id: the group that recomputes it (it keeps its own kernel too) */
    int *inner_uses; /* by id: uses by members of the group being grown */
    bool *result;    /* by id: a result of the function */
    int n;
} Ctx;

/* Whether a is computed inside group g (its member, or recomputed there). */
static bool member(const Ctx *c, const IrValue *a, int g) {
    return a->op != OP_INPUT && (c->group[a->id] == g || c->dup[a->id] == g);
}

/* A value cheap enough to compute again in each group that reads it rather than store:
 * one arithmetic op on operands no group can take (a gradient scaled by the clipping
 * factor, a weight scaled by the decay, read by the AdamW kernels of its weight). */
static bool recomputable(const IrValue *v) {
    if (!is_elementwise(v) || !(v->op == OP_MUL || v->op == OP_DIV || v->op == OP_ADD || v->op == OP_SUB ||
                                v->op == OP_NEG || v->op == OP_CAST))
        return false;
    for (int i = 0; i < v->nargs; i++)
        if (is_elementwise(v->args[i])) return false;
    return true;
}

/* Outside operands of the group `g` (members marked in c->group), in first-use order. */
static int outside_operands(const Ctx *c, int g, int lo, int hi, IrValue **out, int max) {
    int k = 0;
    for (int id = lo; id <= hi; id++) {
        IrValue *v = c->vals[id];
        if (!member(c, v, g)) continue;
        for (int i = 0; i < v->nargs; i++) {
            IrValue *a = v->args[i];
            if (member(c, a, g) || is_scalar_constant(a)) continue;
            bool seen = false;
            for (int j = 0; j < k && !seen; j++) seen = out[j] == a;
            if (seen) continue;
            if (k == max) return max + 1;
            out[k++] = a;
        }
    }
    return k;
}

static int count_new_operands(const Ctx *c, int g, const IrValue *cand, IrValue **ops, int nops) {
    int extra = 0;
    for (int i = 0; i < cand->nargs; i++) {
        IrValue *a = cand->args[i];
        if (is_scalar_constant(a) || member(c, a, g)) continue;
        bool seen = false;
        for (int j = 0; j < nops && !seen; j++) seen = ops[j] == a;
        for (int j = 0; j < i && !seen; j++) seen = cand->args[j] == a;
        extra += !seen;
    }
    return extra;
}

/* Grows group g from root; returns the lowest member id. A row head's operand stays
 * outside (the row kernel reads it whole), so its operands are not counted as used
 * inside. */
static int grow(Ctx *c, IrValue *root, int g) {
    c->group[root->id] = g;
    for (int i = 0; i < root->nargs; i++)
        if (root->args[i]->op != OP_INPUT) c->inner_uses[root->args[i]->id]++;
    int lo = root->id;
    bool has_head = false;
    for (int id = root->id - 1; id >= 0; id--) {
        IrValue *v = c->vals[id];
        bool shared = c->inner_uses[id] != v->uses; /* read outside the group too */
        if (c->inner_uses[id] == 0 || c->group[id] >= 0 || c->result[id] || !may_join(v, root, has_head) ||
            (shared && !recomputable(v)))
            continue;
        /* the operands the group would read from outside if v joined */
        IrValue *ops[FUSE_MAX_INPUTS + 1];
        int nops = outside_operands(c, g, lo, root->id, ops, FUSE_MAX_INPUTS);
        if (nops - 1 + count_new_operands(c, g, v, ops, nops) > FUSE_MAX_INPUTS) continue;
        if (shared)
            c->dup[id] = g;
        else
            c->group[id] = g;
        lo = id;
        if (is_row_head(v)) {
            has_head = true;
            continue;
        }
        for (int i = 0; i < v->nargs; i++)
            if (v->args[i]->op != OP_INPUT) c->inner_uses[v->args[i]->id]++;
    }
    return lo;
}

static void fresh_body_name(IrModule *m, char *buf, size_t n) {
    for (int k = 0;; k++) {
        snprintf(buf, n, "fused.%d", k);
        if (!ir_module_find_func(m, buf)) return;
    }
}

/* A body's text without its name: what it computes. Caller frees. */
static char *body_text(IrFunc *body) {
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    ir_print_func(mem, body);
    fclose(mem);
    memmove(text, strchr(text, '('), strlen(strchr(text, '(')) + 1);
    return text;
}

/* An existing body that computes what `body` does (the 12 layers of GPT-2 make the
 * same chains): the fused op then names it and `body` is dropped. */
static IrFunc *same_body(IrModule *m, IrFunc *body) {
    char *want = body_text(body);
    IrFunc *found = NULL;
    for (IrFunc *f = m->funcs; f && !found; f = f->next) {
        if (f == body || !ir_func_is_body(f)) continue;
        char *have = body_text(f);
        if (strcmp(have, want) == 0) found = f;
        free(have);
    }
    free(want);
    return found;
}

static void drop_func(IrModule *m, IrFunc *f) {
    IrFunc **pp = &m->funcs;
    while (*pp != f) pp = &(*pp)->next;
    *pp = f->next;
    if (m->funcs_last == f) {
        m->funcs_last = m->funcs;
        while (m->funcs_last && m->funcs_last->next) m->funcs_last = m->funcs_last->next;
    }
}

IrFunc *pass_body_new(IrModule *m, IrFunc *before) {
    char name[32];
    fresh_body_name(m, name, sizeof name);
    return ir_module_add_func_before(m, name, before);
}

IrFunc *pass_body_share(IrModule *m, IrFunc *body) {
    IrFunc *twin = same_body(m, body);
    if (!twin) return body;
    drop_func(m, body); /* its storage stays in the arena */
    return twin;
}

/* Copies group g (ids lo..root) into a new body and replaces the root by a fused op. */
static void outline(Ctx *c, IrFunc *f, IrValue *root, int g, int lo) {
    IrModule *m = f->module;
    IrValue *ops[FUSE_MAX_INPUTS + 1];
    int nops = outside_operands(c, g, lo, root->id, ops, FUSE_MAX_INPUTS);
    char err[256];
    IrFunc *body = pass_body_new(m, f);
    IrValue **copy = xcalloc((size_t)(root->id - lo + 1), sizeof *copy);
    IrValue *params[FUSE_MAX_INPUTS];
    for (int i = 0; i < nops; i++) {
        char pname[16];
        snprintf(pname, sizeof pname, "x%d", i);
        params[i] = ir_func_add_param(body, pname, &ops[i]->type);
    }
    for (int id = lo; id <= root->id; id++) {
        IrValue *v = c->vals[id];
        if (!member(c, c->vals[id], g)) continue;
        IrValue *args[3];
        for (int i = 0; i < v->nargs; i++) {
            IrValue *a = v->args[i];
            if (member(c, a, g)) {
                args[i] = copy[a->id - lo];
            } else if (is_scalar_constant(a)) {
                args[i] = ir_build(body, OP_CONSTANT, NULL, 0, &a->attrs, &a->type, NULL, err, sizeof err);
            } else {
                int k = 0;
                while (ops[k] != a) k++;
                args[i] = params[k];
            }
        }
        copy[id - lo] = ir_build(body, v->op, args, v->nargs, &v->attrs,
                                 (ir_op_flags(v->op) & F_TYPE_GIVEN) ? &v->type : NULL, NULL, err, sizeof err);
    }
    ir_func_set_results(body, &copy[root->id - lo], 1);
    free(copy);
    body = pass_body_share(m, body);
    IrAttrs at = {.name = body->name};
    IrValue *fused = ir_build(f, OP_FUSED, ops, nops, &at, &root->type, root, err, sizeof err);
    fused->loc = root->loc;
    fused->phase = root->phase;
    ir_replace_uses(f, root, fused);
    for (int id = root->id; id >= lo; id--)
        if (c->group[id] == g) ir_value_remove(f, c->vals[id]); /* not what it recomputes */
}

static bool fuse_func(IrFunc *f) {
    ir_func_count_uses(f);
    int n = 0;
    for (IrValue *v = f->first; v; v = v->next) v->id = n++;
    Ctx c = {xcalloc((size_t)n + 1, sizeof *c.vals), xcalloc((size_t)n + 1, sizeof *c.group),
             xcalloc((size_t)n + 1, sizeof *c.dup), xcalloc((size_t)n + 1, sizeof *c.inner_uses),
             xcalloc((size_t)n + 1, sizeof *c.result), n};
    for (IrValue *v = f->first; v; v = v->next) c.vals[v->id] = v, c.group[v->id] = c.dup[v->id] = -1;
    for (int i = 0; i < f->nresults; i++) c.result[f->results[i]->id] = true;
    bool changed = false;
    int groups = 0;
    for (int id = n - 1; id >= 0; id--) {
        IrValue *root = c.vals[id];
        if (c.group[id] >= 0 || !(is_elementwise(root) || is_reduction_root(root))) continue;
        int g = groups++;
        memset(c.inner_uses, 0, sizeof *c.inner_uses * (size_t)n);
        int lo = grow(&c, root, g);
        int members = 0;
        for (int k = lo; k <= id; k++) members += member(&c, c.vals[k], g);
        IrValue *ops[FUSE_MAX_INPUTS + 1];
        /* one op is already one kernel; a chain of constants alone is constant-fold's */
        if (members < 2 || outside_operands(&c, g, lo, id, ops, FUSE_MAX_INPUTS) == 0) continue;
        outline(&c, f, root, g, lo);
        changed = true;
    }
    free(c.vals), free(c.group), free(c.dup), free(c.inner_uses), free(c.result);
    return changed;
}

bool pass_fuse_elementwise(IrModule *m) {
    bool changed = false;
    for (IrFunc *f = m->funcs; f; f = f->next)
        if (!ir_func_is_body(f)) changed |= fuse_func(f);
    return changed;
}
