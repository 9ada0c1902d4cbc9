/* verify.c — the IR's invariants, checked between passes.
 *
 * Checked: every operand is defined earlier in the same function (SSA order); operand
 * counts match the op table; attributes are normalised; the stored type of every value
 * is exactly what shape inference gives; inputs head the list; weights exist with the
 * stated type; results belong to the function. The message names the function, the
 * value number (as the printer numbers it) and the broken invariant. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

#define FAIL(...)                              \
    do {                                       \
        snprintf(err, errlen, __VA_ARGS__);    \
        goto fail;                             \
    } while (0)

/* Open-addressing pointer set: values seen so far in this function. */
typedef struct {
    const void **slots;
    size_t cap;
} PtrSet;

static size_t ptr_hash(const void *p, size_t cap) {
    return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ULL) & (cap - 1);
}

static void set_add(PtrSet *s, const void *p) {
    size_t i = ptr_hash(p, s->cap);
    while (s->slots[i]) i = (i + 1) & (s->cap - 1);
    s->slots[i] = p;
}

static bool set_has(const PtrSet *s, const void *p) {
    for (size_t i = ptr_hash(p, s->cap); s->slots[i]; i = (i + 1) & (s->cap - 1))
        if (s->slots[i] == p) return true;
    return false;
}

static bool verify_func(IrFunc *f, char *err, size_t errlen) {
    size_t n = 0;
    for (IrValue *v = f->first; v; v = v->next) n++;
    size_t cap = 16;
    while (cap < 2 * n + 2) cap *= 2;
    PtrSet seen = {xcalloc(cap, sizeof(void *)), cap};
    ir_func_number(f);
    int param = 0;
    bool params_done = false;
    for (IrValue *v = f->first; v; v = v->next) {
        const char *who = f->name;
        if (v->op == OP_INPUT) {
            if (params_done || param >= f->nparams || f->params[param] != v)
                FAIL("@%s: input %%%s is not in the parameter list at its place", who,
                     v->attrs.name);
            param++;
        } else {
            params_done = true;
        }
        for (int i = 0; i < v->nargs; i++)
            if (!v->args[i] || !set_has(&seen, v->args[i]))
                FAIL("@%s: operand %d of %%%d (%s) is not defined before it", who, i, v->id,
                     ir_op_name(v->op));
        if (v->op == OP_WEIGHT) {
            IrWeight *w = ir_module_find_weight(f->module, v->attrs.name);
            if (!w || !ir_type_eq(&w->type, &v->type))
                FAIL("@%s: %%%d refers to weight @%s, which %s", who, v->id, v->attrs.name,
                     w ? "has another type" : "does not exist");
        }
        if (v->op != OP_INPUT) {
            IrAttrs a = v->attrs;
            if ((ir_op_attrs(v->op) & A_AXIS) && (a.axis < 0 || (v->nargs && a.axis >= v->args[0]->type.rank)))
                FAIL("@%s: %%%d (%s) has axis %lld out of range", who, v->id, ir_op_name(v->op),
                     (long long)a.axis);
            if (ir_op_attrs(v->op) & A_AXES)
                for (int i = 0; i < a.nints; i++)
                    if (a.ints[i] < 0 || (i && a.ints[i] <= a.ints[i - 1]))
                        FAIL("@%s: %%%d (%s) has axes that are not sorted and non-negative", who,
                             v->id, ir_op_name(v->op));
            IrType t;
            char why[400];
            const bool given = ir_op_flags(v->op) & F_TYPE_GIVEN;
            if (!ir_infer(v->op, v->args, v->nargs, &a, given ? &v->type : NULL, &t, why, sizeof why))
                FAIL("@%s: %%%d (%s) is invalid: %s", who, v->id, ir_op_name(v->op), why);
            if (!ir_type_eq(&t, &v->type)) {
                char s1[IR_TYPE_STR_MAX], s2[IR_TYPE_STR_MAX];
                FAIL("@%s: %%%d (%s) has type %s but its operands give %s", who, v->id,
                     ir_op_name(v->op), ir_type_str(&v->type, s1, sizeof s1),
                     ir_type_str(&t, s2, sizeof s2));
            }
        }
        set_add(&seen, v);
    }
    if (param != f->nparams) FAIL("@%s: %d parameters but %d inputs in the list", f->name, f->nparams, param);
    for (int i = 0; i < f->nresults; i++)
        if (!f->results[i] || !set_has(&seen, f->results[i]))
            FAIL("@%s: result %d is not a value of the function", f->name, i);
    for (int i = 0; i < f->nresults; i++) {
        IrWeight *w = f->updates[i];
        if (w && (ir_module_find_weight(f->module, w->name) != w || !ir_type_eq(&w->type, &f->results[i]->type)))
            FAIL("@%s: result %d updates weight @%s, which is not a weight of its type", f->name, i, w->name);
        for (int j = 0; w && j < i; j++)
            if (f->updates[j] == w) FAIL("@%s: weight @%s is updated twice", f->name, w->name);
    }
    free(seen.slots);
    return true;
fail:
    free(seen.slots);
    return false;
}

bool ir_verify(IrModule *m, char *err, size_t errlen) {
    for (IrFunc *f = m->funcs; f; f = f->next)
        if (!verify_func(f, err, errlen)) return false;
    return true;
}
