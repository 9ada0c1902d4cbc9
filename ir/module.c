/* module.c — modules, weights, functions and the value list.
 *
 * Interning is a linear probe table kept in the module; it grows by doubling. The
 * table is the only mutable state besides the lists and it belongs to the module. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct {
    const char **slots;
    size_t cap, count;
} InternTable;

/* The intern table lives in the arena's first allocation, found through this wrapper. */
typedef struct {
    IrModule m;
    InternTable strings;
} ModuleStorage;

static uint64_t hash_bytes(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

IrModule *ir_module_create(const char *name) {
    ModuleStorage *ms = xcalloc(1, sizeof *ms);
    ms->m.name = ir_intern(&ms->m, name, strlen(name));
    return &ms->m;
}

void ir_module_destroy(IrModule *m) {
    if (!m) return;
    ModuleStorage *ms = (ModuleStorage *)m;
    arena_free(&m->arena);
    free(ms->strings.slots);
    free(ms);
}

const char *ir_intern(IrModule *m, const char *s, size_t len) {
    InternTable *t = &((ModuleStorage *)m)->strings;
    if (t->count * 2 >= t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        const char **slots = xcalloc(cap, sizeof *slots);
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->slots[i]) continue;
            size_t j = hash_bytes(t->slots[i], strlen(t->slots[i])) & (cap - 1);
            while (slots[j]) j = (j + 1) & (cap - 1);
            slots[j] = t->slots[i];
        }
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    size_t j = hash_bytes(s, len) & (t->cap - 1);
    while (t->slots[j]) {
        if (strlen(t->slots[j]) == len && memcmp(t->slots[j], s, len) == 0) return t->slots[j];
        j = (j + 1) & (t->cap - 1);
    }
    t->slots[j] = arena_strdup(&m->arena, s, len);
    t->count++;
    return t->slots[j];
}

IrWeight *ir_module_add_weight(IrModule *m, const char *name, const IrType *t, IrInit init) {
    IrWeight *w = arena_alloc(&m->arena, sizeof *w);
    w->name = ir_intern(m, name, strlen(name));
    w->type = *t;
    w->init = init;
    if (m->weights_last)
        m->weights_last->next = w;
    else
        m->weights = w;
    m->weights_last = w;
    return w;
}

IrWeight *ir_module_find_weight(const IrModule *m, const char *name) {
    for (IrWeight *w = m->weights; w; w = w->next)
        if (strcmp(w->name, name) == 0) return w;
    return NULL;
}

int ir_module_weight_index(const IrModule *m, const char *name) {
    int i = 0;
    for (const IrWeight *w = m->weights; w; w = w->next, i++)
        if (w->name == name || strcmp(w->name, name) == 0) return i;
    return -1;
}

IrFunc *ir_module_add_func(IrModule *m, const char *name) {
    IrFunc *f = arena_alloc(&m->arena, sizeof *f);
    f->name = ir_intern(m, name, strlen(name));
    f->module = m;
    if (m->funcs_last)
        m->funcs_last->next = f;
    else
        m->funcs = f;
    m->funcs_last = f;
    return f;
}

IrFunc *ir_module_add_func_before(IrModule *m, const char *name, IrFunc *before) {
    IrFunc *f = ir_module_add_func(m, name);
    if (!before || before == f) return f;
    /* unlink f from the tail, then link it in front of `before` */
    IrFunc **pp = &m->funcs;
    while (*pp != f) pp = &(*pp)->next;
    *pp = NULL;
    m->funcs_last = m->funcs;
    while (m->funcs_last && m->funcs_last->next) m->funcs_last = m->funcs_last->next;
    for (pp = &m->funcs; *pp != before; pp = &(*pp)->next) {}
    f->next = before;
    *pp = f;
    return f;
}

bool ir_func_is_body(const IrFunc *f) { return strncmp(f->name, "fused.", 6) == 0; }

IrFunc *ir_module_find_func(const IrModule *m, const char *name) {
    for (IrFunc *f = m->funcs; f; f = f->next)
        if (strcmp(f->name, name) == 0) return f;
    return NULL;
}

static void link_before(IrFunc *f, IrValue *v, IrValue *before) {
    if (!before) {
        v->prev = f->last;
        if (f->last)
            f->last->next = v;
        else
            f->first = v;
        f->last = v;
        return;
    }
    v->next = before;
    v->prev = before->prev;
    if (before->prev)
        before->prev->next = v;
    else
        f->first = v;
    before->prev = v;
}

void ir_value_link(IrFunc *f, IrValue *v, IrValue *before) { link_before(f, v, before); }

IrValue *ir_func_add_param(IrFunc *f, const char *name, const IrType *t) {
    IrModule *m = f->module;
    IrValue *v = arena_alloc(&m->arena, sizeof *v);
    v->op = OP_INPUT;
    v->type = *t;
    v->attrs.name = ir_intern(m, name, strlen(name));
    /* Params stay at the head of the list, in order. */
    link_before(f, v, f->nparams ? f->params[f->nparams - 1]->next : f->first);
    IrValue **params = arena_alloc(&m->arena, sizeof *params * (size_t)(f->nparams + 1));
    if (f->nparams) memcpy(params, f->params, sizeof *params * (size_t)f->nparams);
    params[f->nparams++] = v;
    f->params = params;
    return v;
}

void ir_func_set_results(IrFunc *f, IrValue **vals, int n) {
    f->results = arena_alloc(&f->module->arena, sizeof *vals * (size_t)(n ? n : 1));
    if (n) memcpy(f->results, vals, sizeof *vals * (size_t)n);
    f->nresults = n;
    f->updates = arena_alloc(&f->module->arena, sizeof *f->updates * (size_t)(n ? n : 1));
}

void ir_func_set_update(IrFunc *f, int result, IrWeight *w) { f->updates[result] = w; }

void ir_func_number(IrFunc *f) {
    int id = 0;
    for (IrValue *v = f->first; v; v = v->next) v->id = v->op == OP_INPUT ? -1 : id++;
}

void ir_func_count_uses(IrFunc *f) {
    for (IrValue *v = f->first; v; v = v->next) v->uses = 0;
    for (IrValue *v = f->first; v; v = v->next)
        for (int i = 0; i < v->nargs; i++) v->args[i]->uses++;
    for (int i = 0; i < f->nresults; i++) f->results[i]->uses++;
}

void ir_value_remove(IrFunc *f, IrValue *v) {
    if (v->prev)
        v->prev->next = v->next;
    else
        f->first = v->next;
    if (v->next)
        v->next->prev = v->prev;
    else
        f->last = v->prev;
    v->prev = v->next = NULL;
}

void ir_replace_uses(IrFunc *f, IrValue *from, IrValue *to) {
    for (IrValue *v = f->first; v; v = v->next)
        for (int i = 0; i < v->nargs; i++)
            if (v->args[i] == from) v->args[i] = to;
    for (int i = 0; i < f->nresults; i++)
        if (f->results[i] == from) f->results[i] = to;
}

IrFunc *ir_func_clone(IrFunc *src, const char *name, IrValue ***map_out) {
    IrModule *m = src->module;
    IrFunc *f = ir_module_add_func(m, name);
    int n = 0;
    for (IrValue *v = src->first; v; v = v->next) v->id = n++;
    IrValue **map = xcalloc((size_t)(n ? n : 1), sizeof *map);
    for (IrValue *v = src->first; v; v = v->next) {
        IrValue *c;
        if (v->op == OP_INPUT) {
            c = ir_func_add_param(f, v->attrs.name, &v->type);
        } else {
            c = arena_alloc(&m->arena, sizeof *c);
            *c = *v;
            c->prev = c->next = NULL;
            c->args = arena_alloc(&m->arena, sizeof *c->args * (size_t)(v->nargs ? v->nargs : 1));
            for (int i = 0; i < v->nargs; i++) c->args[i] = map[v->args[i]->id];
            ir_value_link(f, c, NULL);
        }
        c->loc = v->loc;
        map[v->id] = c;
    }
    IrValue **res = xcalloc((size_t)(src->nresults ? src->nresults : 1), sizeof *res);
    for (int i = 0; i < src->nresults; i++) res[i] = map[src->results[i]->id];
    ir_func_set_results(f, res, src->nresults);
    for (int i = 0; i < src->nresults; i++) ir_func_set_update(f, i, src->updates[i]);
    free(res);
    if (map_out)
        *map_out = map;
    else
        free(map);
    return f;
}
