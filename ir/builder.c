/* builder.c — creating values: normalise attributes, infer the type, link the value.
 *
 * Normalising here (negative axes made non-negative, reduction axes sorted) means every
 * pass, printer and backend sees one spelling of each op, which is what lets CSE and the
 * printer's round trip work without special cases. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bool normalise(IrOp op, IrValue **args, int nargs, IrAttrs *at, char *err, size_t errlen) {
    unsigned want = ir_op_attrs(op);
    int rank = nargs > 0 ? args[0]->type.rank : 0;
    if ((want & A_AXIS) && at->axis < 0) at->axis += rank;
    if (want & A_AXES) {
        for (int i = 0; i < at->nints; i++) {
            if (at->ints[i] < 0) at->ints[i] += rank;
            if (at->ints[i] < 0 || at->ints[i] >= rank) {
                char t[IR_TYPE_STR_MAX];
                snprintf(err, errlen, "%s: axis %lld is out of range for %s", ir_op_name(op),
                         (long long)(at->ints[i] < 0 ? at->ints[i] - rank : at->ints[i]),
                         ir_type_str(&args[0]->type, t, sizeof t));
                return false;
            }
        }
        qsort(at->ints, (size_t)at->nints, sizeof at->ints[0], cmp_i64);
        for (int i = 1; i < at->nints; i++)
            if (at->ints[i] == at->ints[i - 1]) {
                snprintf(err, errlen, "%s: axis %lld is listed twice", ir_op_name(op),
                         (long long)at->ints[i]);
                return false;
            }
    }
    /* Attributes the op does not have are cleared, so equal ops compare equal. */
    IrAttrs clean = {0};
    if (want & A_AXIS) clean.axis = at->axis;
    if (want & (A_AXES | A_PERM)) {
        clean.nints = at->nints;
        memcpy(clean.ints, at->ints, sizeof clean.ints);
    }
    if (want & A_START) clean.start = at->start;
    if (want & A_END) clean.end = at->end;
    if (want & A_PARTS) clean.parts = at->parts;
    if (want & A_INDEX) clean.index = at->index;
    if (want & A_VALUE) clean.value = at->value;
    if (want & A_EPS) clean.eps = at->eps;
    if (want & A_KEEPDIM) clean.keepdim = at->keepdim;
    if (want & A_SCALE) clean.scale = at->scale;
    if (want & A_CAUSAL) clean.causal = at->causal;
    if (want & A_NAME) clean.name = at->name;
    *at = clean;
    return true;
}

IrValue *ir_build(IrFunc *f, IrOp op, IrValue **args, int nargs, const IrAttrs *attrs,
                  const IrType *given, IrValue *before, char *err, size_t errlen) {
    IrAttrs at = attrs ? *attrs : (IrAttrs){0};
    if ((ir_op_attrs(op) & A_NAME) && !at.name) {
        snprintf(err, errlen, "%s needs a name", ir_op_name(op));
        return NULL;
    }
    if (ir_op_nargs(op) < 0 ? nargs < 1 : nargs != ir_op_nargs(op)) {
        IrType unused;
        ir_infer(op, args, nargs, &at, given, &unused, err, errlen); /* writes the message */
        return NULL;
    }
    if (!normalise(op, args, nargs, &at, err, errlen)) return NULL;
    if (op == OP_FUSED && !(at.body = ir_module_find_func(f->module, at.name))) {
        snprintf(err, errlen, "fused refers to @%s, which is not a function defined before it", at.name);
        return NULL;
    }
    IrType type;
    if (!ir_infer(op, args, nargs, &at, given, &type, err, errlen)) return NULL;
    IrModule *m = f->module;
    IrValue *v = arena_alloc(&m->arena, sizeof *v);
    v->op = op;
    v->type = type;
    v->attrs = at;
    v->nargs = nargs;
    v->args = arena_alloc(&m->arena, sizeof *args * (size_t)(nargs ? nargs : 1));
    if (nargs) memcpy(v->args, args, sizeof *args * (size_t)nargs);
    v->phase = before ? before->phase : IR_PHASE_FORWARD;
    ir_value_link(f, v, before);
    return v;
}
