/* dce.c — dead code elimination: remove values that nothing uses and that are not
 * results of their function.
 *
 * Every op of the IR is pure (no op writes memory or has another effect), so a value
 * with no use is dead whatever its op. One backward walk suffices: uses are counted
 * first, and removing a dead value decrements the counts of its operands, which are
 * defined earlier in the list and so visited later in the walk.
 *
 * Decision a newcomer may question: function parameters (INPUT) are never removed, even
 * when unused, because they are the function's signature: callers bind them by
 * position. Weights unused by every function are not removed either: they are entries
 * of the checkpoint, and dropping one would change what a saved model contains.
 * The pass counts uses itself (in scratch memory, indexed by a fresh numbering in
 * IrValue.id) rather than trusting IrValue.uses, so it is correct whatever ran before.
 */
#include "passes.h"

#include <stdlib.h>

static bool dce_func(IrFunc *f) {
    int n = 0;
    for (IrValue *v = f->first; v; v = v->next) v->id = n++;
    int *uses = xcalloc((size_t)n ? (size_t)n : 1, sizeof *uses);
    for (IrValue *v = f->first; v; v = v->next)
        for (int i = 0; i < v->nargs; i++) uses[v->args[i]->id]++;
    for (int i = 0; i < f->nresults; i++) uses[f->results[i]->id]++;

    bool changed = false;
    for (IrValue *v = f->last, *prev; v; v = prev) {
        prev = v->prev;
        if (uses[v->id] > 0 || v->op == OP_INPUT) continue;
        for (int i = 0; i < v->nargs; i++) uses[v->args[i]->id]--;
        ir_value_remove(f, v);
        changed = true;
    }
    free(uses);
    return changed;
}

bool pass_dce(IrModule *m) {
    bool changed = false;
    for (IrFunc *f = m->funcs; f; f = f->next) changed |= dce_func(f);
    return changed;
}
