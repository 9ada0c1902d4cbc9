/* cse.c — common subexpression elimination by hash-consing.
 *
 * Values are visited in definition order. Each one, after its operands have been
 * replaced by their representatives, is looked up in a table keyed by what it computes:
 * (op, operands, the attributes its op uses, result type). A hit means an earlier value
 * computes the same thing: every use of the later one now uses the earlier one, and the
 * later one is removed. Leaves follow the same rule, which gives: a constant is keyed by
 * its value and type, a weight by its name and type, an arange by its type.
 *
 * Decisions a newcomer may question:
 *  - INPUT is never merged: two parameters of the same type are different arguments.
 *  - Constant values are compared bit for bit, so 0.0 and -0.0 stay apart and two NaNs
 *    of the same payload merge (both are right: they are the same constant).
 *  - Operands of a commutative op are compared as a sorted pair, so add(a, b) and
 *    add(b, a) merge; the survivor keeps its own operand order.
 *  - The table is keyed by operand numbers (IrValue.id, renumbered here), never by
 *    pointers, and the pass only looks values up, never iterates the table: the output
 *    does not depend on where the arena put anything.
 *  - Replacement is done by rewriting operands through a representative array as the walk
 *    goes, O(values + edges), rather than ir_replace_uses per duplicate, which is
 *    O(values) each time.
 */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t h, uint64_t x) {
    h ^= x + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
}

static uint64_t hash_str(uint64_t h, const char *s) {
    if (!s) return mix(h, 0);
    for (; *s; s++) h = mix(h, (unsigned char)*s);
    return mix(h, 1);
}

static uint64_t hash_type(uint64_t h, const IrType *t) {
    h = mix(h, (uint64_t)t->dtype);
    h = mix(h, (uint64_t)t->rank);
    for (int i = 0; i < t->rank; i++)
        h = t->dims[i].sym ? hash_str(h, t->dims[i].sym) : mix(h, (uint64_t)t->dims[i].size);
    return h;
}

static uint64_t double_bits(double d) {
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

/* Operand ids in the order the key uses: sorted for a commutative binary op. */
static void key_args(const IrValue *v, int *a, int *b) {
    *a = v->args[0]->id;
    *b = v->args[1]->id;
    if (*a > *b) {
        int t = *a;
        *a = *b;
        *b = t;
    }
}

static bool is_commutative_pair(const IrValue *v) {
    return v->nargs == 2 && (ir_op_flags(v->op) & F_COMMUTATIVE);
}

static uint64_t hash_value(const IrValue *v) {
    uint64_t h = mix(0x243f6a8885a308d3ULL, (uint64_t)v->op);
    h = hash_type(h, &v->type);
    h = mix(h, (uint64_t)v->nargs);
    if (is_commutative_pair(v)) {
        int a, b;
        key_args(v, &a, &b);
        h = mix(mix(h, (uint64_t)a), (uint64_t)b);
    } else {
        for (int i = 0; i < v->nargs; i++) h = mix(h, (uint64_t)v->args[i]->id);
    }
    unsigned attrs = ir_op_attrs(v->op);
    const IrAttrs *at = &v->attrs;
    if (attrs & A_AXIS) h = mix(h, (uint64_t)at->axis);
    if (attrs & A_START) h = mix(h, (uint64_t)at->start);
    if (attrs & A_END) h = mix(h, (uint64_t)at->end);
    if (attrs & A_PARTS) h = mix(h, (uint64_t)at->parts);
    if (attrs & A_INDEX) h = mix(h, (uint64_t)at->index);
    if (attrs & (A_AXES | A_PERM)) {
        h = mix(h, (uint64_t)at->nints);
        for (int i = 0; i < at->nints; i++) h = mix(h, (uint64_t)at->ints[i]);
    }
    if (attrs & A_VALUE) h = mix(h, double_bits(at->value));
    if (attrs & A_EPS) h = mix(h, double_bits(at->eps));
    if (attrs & A_KEEPDIM) h = mix(h, (uint64_t)at->keepdim);
    if (attrs & A_SCALE) h = mix(h, double_bits(at->scale));
    if (attrs & A_CAUSAL) h = mix(h, (uint64_t)at->causal);
    if (attrs & A_NAME) h = hash_str(h, at->name);
    return h;
}

static bool same_value(const IrValue *x, const IrValue *y) {
    if (x->op != y->op || x->nargs != y->nargs || !ir_type_eq(&x->type, &y->type))
        return false;
    if (is_commutative_pair(x)) {
        int xa, xb, ya, yb;
        key_args(x, &xa, &xb);
        key_args(y, &ya, &yb);
        if (xa != ya || xb != yb) return false;
    } else {
        for (int i = 0; i < x->nargs; i++)
            if (x->args[i] != y->args[i]) return false;
    }
    unsigned attrs = ir_op_attrs(x->op);
    const IrAttrs *a = &x->attrs, *b = &y->attrs;
    if ((attrs & A_AXIS) && a->axis != b->axis) return false;
    if ((attrs & A_START) && a->start != b->start) return false;
    if ((attrs & A_END) && a->end != b->end) return false;
    if ((attrs & A_PARTS) && a->parts != b->parts) return false;
    if ((attrs & A_INDEX) && a->index != b->index) return false;
    if (attrs & (A_AXES | A_PERM)) {
        if (a->nints != b->nints) return false;
        for (int i = 0; i < a->nints; i++)
            if (a->ints[i] != b->ints[i]) return false;
    }
    if ((attrs & A_VALUE) && double_bits(a->value) != double_bits(b->value)) return false;
    if ((attrs & A_EPS) && double_bits(a->eps) != double_bits(b->eps)) return false;
    if ((attrs & A_KEEPDIM) && a->keepdim != b->keepdim) return false;
    if ((attrs & A_SCALE) && double_bits(a->scale) != double_bits(b->scale)) return false;
    if ((attrs & A_CAUSAL) && a->causal != b->causal) return false;
    /* Names are interned: equal names are the same pointer. */
    if ((attrs & A_NAME) && a->name != b->name) return false;
    return true;
}

static bool cse_func(IrFunc *f) {
    int n = 0;
    for (IrValue *v = f->first; v; v = v->next) v->id = n++;
    size_t cap = 16;
    while (cap < 2 * (size_t)n) cap *= 2;
    IrValue **table = xcalloc(cap, sizeof *table);
    IrValue **repr = xcalloc((size_t)n ? (size_t)n : 1, sizeof *repr);

    bool changed = false;
    for (IrValue *v = f->first, *next; v; v = next) {
        next = v->next;
        repr[v->id] = v;
        for (int i = 0; i < v->nargs; i++) v->args[i] = repr[v->args[i]->id];
        if (v->op == OP_INPUT) continue;
        size_t slot = (size_t)hash_value(v) & (cap - 1);
        while (table[slot] && !same_value(table[slot], v)) slot = (slot + 1) & (cap - 1);
        if (!table[slot]) {
            table[slot] = v;
            continue;
        }
        repr[v->id] = table[slot];
        ir_value_remove(f, v);
        changed = true;
    }
    for (int i = 0; i < f->nresults; i++) f->results[i] = repr[f->results[i]->id];
    free(table);
    free(repr);
    return changed;
}

bool pass_cse(IrModule *m) {
    bool changed = false;
    for (IrFunc *f = m->funcs; f; f = f->next) changed |= cse_func(f);
    return changed;
}
