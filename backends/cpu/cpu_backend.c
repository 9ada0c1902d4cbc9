/* cpu_backend.c — the CPU backend behind the Backend vtable: compile a function into one
 * JIT-compiled kernel per value, then run it as often as asked.
 *
 * compile: codegen every value (identical kernels shared), optimise and emit one object
 * (or take it from the disk cache), load it into an LLJIT and look the kernels up.
 * run: the contract of ref_run. Symbols are bound from the inputs with the reference's
 * own shape code (ref_value_shape), so shape errors read the same on both backends; each
 * value gets a fresh tensor, freed after its last use; cpu_plan.c turns the concrete
 * shapes into each kernel's params, and the kernel runs on the thread pool.
 *
 * Decision a newcomer may question: the pool, the target machine and the cache dir
 * belong to the Backend; the JIT with its code belongs to each BkExec, so destroying an
 * exec frees its code while the backend lives on for the next compile.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/ref/ref.h"
#include "cpu.h"
#include "cpu_cg.h"

typedef struct {
    BkOptions opts;
    CpuTarget target;
    CpuPool *pool;
    char cache_buf[4096];
    const char *cache_dir; /* NULL: no cache */
} CpuBackend;

typedef struct {
    IrValue *v;
    CpuKernelInfo ki;
    bool virt;      /* a transpose every user reads in place: no kernel, no tensor */
    /* A reshape: its operand's data under its own shape (every tensor here is contiguous,
     * so a reshape moves nothing). Its kernel is still built, for ahead-of-time drivers. */
    bool alias;
    /* A split along the last axis read only through reshapes that cut that axis into
     * heads, read only by transposes (attention's q, k, v): the split is not copied; the
     * transposes read the parts in place, `strided` (view's strides, in elements). */
    bool split_view, strided;
    Tensor view; /* the alias or part of the current run */
    int64_t strides[IR_MAX_RANK];
    CpuKernelFn fn;
    CpuKernelFn epi; /* a fused matmul's epilogue (ki.epi) */
    double seconds; /* profile */
    double best;    /* profile: the fastest call, 0 before the first */
    int64_t calls;
} Step;

struct BkExec {
    CpuBackend *cb;
    IrFunc *f;
    CpuJit *jit;
    Step *steps; /* indexed by value id; leaves have fn == NULL */
    int nsteps;
    bool compiled; /* LLVM ran (false: the object came from the cache) */
    /* Freed intermediate tensors kept for reuse by later values and runs: the same
     * sizes recur every layer and every step, and fresh pages cost a fault each. */
    Tensor **pool;
    int npool;
    double compile_seconds;
    int nkernels;
};

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A transpose that swaps the last two axes only (what `x @ w^T` lowers to). */
static bool swaps_last_two(const IrValue *v) {
    if (v->op != OP_TRANSPOSE || v->type.dtype != DT_F32 || v->attrs.nints < 2) return false;
    int r = v->attrs.nints;
    for (int i = 0; i < r - 2; i++)
        if (v->attrs.ints[i] != i) return false;
    return v->attrs.ints[r - 2] == r - 1 && v->attrs.ints[r - 1] == r - 2;
}

/* Mark the transposes that only f32 matmuls read (and no result is): the matmul kernels
 * read them in place, through their packing, and the transpose is never built. */
static void fuse_transposes(IrFunc *f, Step *steps) {
    for (IrValue *t = f->first; t; t = t->next) {
        if (!swaps_last_two(t)) continue;
        bool ok = true;
        for (int i = 0; ok && i < f->nresults; i++) ok = f->results[i] != t;
        for (IrValue *u = f->first; ok && u; u = u->next)
            for (int i = 0; ok && i < u->nargs; i++)
                if (u->args[i] == t) ok = u->op == OP_MATMUL && u->type.dtype == DT_F32;
        if (!ok) continue;
        steps[t->id].virt = true;
        for (IrValue *u = t->next; u; u = u->next)
            if (u->op == OP_MATMUL) {
                if (u->args[0] == t) steps[u->id].ki.trans_a = true;
                if (u->args[1] == t) steps[u->id].ki.trans_b = true;
            }
    }
}

static int count_uses(IrFunc *f, const IrValue *t) {
    int n = 0;
    for (int i = 0; i < f->nresults; i++) n += f->results[i] == t;
    for (IrValue *u = f->first; u; u = u->next)
        for (int i = 0; i < u->nargs; i++) n += u->args[i] == t;
    return n;
}

/* sum(matmul(transpose(x), dy), axes = every batch axis), what autodiff gives for the
 * weight gradient of x @ w with x [B, T, C]: the same numbers as one [C, B*T] @ [B*T, N]
 * matmul, without the [B, C, N] intermediate. Needs x and dy with identical batch dims
 * (no broadcasting) and the transpose already read in place. */
static void fuse_sum_matmuls(IrFunc *f, Step *steps) {
    for (IrValue *s = f->first; s; s = s->next) {
        if (s->op != OP_SUM || s->type.dtype != DT_F32 || s->attrs.keepdim) continue;
        IrValue *m = s->args[0];
        int r = m->type.rank;
        if (m->op != OP_MATMUL || m->type.dtype != DT_F32 || r < 3 || s->attrs.nints != r - 2) continue;
        bool ok = steps[m->id].ki.trans_a && !steps[m->id].ki.trans_b && count_uses(f, m) == 1;
        for (int i = 0; ok && i < r - 2; i++) ok = s->attrs.ints[i] == i;
        IrValue *t = m->args[0], *dy = m->args[1];
        ok = ok && t->op == OP_TRANSPOSE && steps[t->id].virt && dy->type.rank == r &&
             t->args[0]->type.rank == r;
        for (int i = 0; ok && i < r - 2; i++)
            ok = ir_dim_eq(t->args[0]->type.dims[i], m->type.dims[i]) &&
                 ir_dim_eq(dy->type.dims[i], m->type.dims[i]);
        if (!ok) continue;
        steps[m->id].virt = true;
        steps[s->id].ki.sum_matmul = true;
    }
}

static bool is_result(const IrFunc *f, const IrValue *v) {
    for (int i = 0; i < f->nresults; i++)
        if (f->results[i] == v) return true;
    return false;
}

/* r = reshape(part) keeps part's leading dims and cuts its last dim into static dims
 * (f32[B, T, 768] -> f32[B, T, 12, 64]), and only transposes read it. */
static bool cuts_last_dim(const IrFunc *f, const IrValue *r, const IrValue *part) {
    const IrType *in = &part->type, *out = &r->type;
    int lead = in->rank - 1;
    if (r->op != OP_RESHAPE || out->rank <= lead || is_result(f, r) || in->dims[lead].sym) return false;
    int64_t n = 1;
    for (int i = 0; i < out->rank; i++) {
        if (i < lead && !ir_dim_eq(in->dims[i], out->dims[i])) return false;
        if (i >= lead && out->dims[i].sym) return false;
        if (i >= lead) n *= out->dims[i].size;
    }
    if (n != in->dims[lead].size) return false;
    for (const IrValue *u = f->first; u; u = u->next)
        for (int i = 0; i < u->nargs; i++)
            if (u->args[i] == r && u->op != OP_TRANSPOSE) return false;
    return true;
}

/* Mark the splits along the last axis whose every user cuts_last_dim: GPT-2's q, k, v,
 * which would be copied out of qkv, then each copied again by its head transpose. */
static void fuse_head_splits(IrFunc *f, Step *steps) {
    for (IrValue *sp = f->first; sp; sp = sp->next) {
        if (sp->op != OP_SPLIT || sp->attrs.axis != sp->type.rank - 1 || is_result(f, sp)) continue;
        bool ok = true;
        int users = 0;
        for (IrValue *u = f->first; ok && u; u = u->next)
            for (int i = 0; ok && i < u->nargs; i++)
                if (u->args[i] == sp) ok = cuts_last_dim(f, u, sp), users++;
        if (!ok || !users) continue;
        steps[sp->id].split_view = true;
        for (IrValue *u = f->first; u; u = u->next)
            if (u->nargs && u->args[0] == sp) steps[u->id].strided = true;
    }
}

/* Codegen for every value of f into c; steps gets each value's kernel info. */
static bool codegen_func(CpuCg *c, IrFunc *f, Step *steps, char *err, size_t errlen) {
    fuse_transposes(f, steps);
    fuse_sum_matmuls(f, steps);
    fuse_head_splits(f, steps);
    for (IrValue *v = f->first; v; v = v->next) {
        if (v->op == OP_INPUT || v->op == OP_WEIGHT) continue;
        steps[v->id].v = v;
        steps[v->id].alias = v->op == OP_RESHAPE && v->type.dtype == v->args[0]->type.dtype;
        if (steps[v->id].virt) continue;
        if (!cpu_cg_value(c, v, &steps[v->id].ki, err, errlen)) {
            char why[512];
            snprintf(why, sizeof why, "%s", err);
            snprintf(err, errlen, "@%s, %%%d = %s: %s", f->name, v->id, ir_op_name(v->op), why);
            return false;
        }
    }
    return true;
}

static BkExec *cpu_compile(Backend *b, IrFunc *f, char *err, size_t errlen) {
    CpuBackend *cb = b->impl;
    double t0 = now_seconds();
    ir_func_number(f);
    int n = 0;
    for (IrValue *v = f->first; v; v = v->next)
        if (v->id + 1 > n) n = v->id + 1;
    BkExec *e = xcalloc(1, sizeof *e);
    e->cb = cb;
    e->f = f;
    e->nsteps = n;
    e->steps = xcalloc((size_t)(n ? n : 1), sizeof *e->steps);
    CpuCg c;
    cpu_cg_init(&c, f->name, cpu_target_vec(&cb->target));
    void *obj = NULL;
    size_t objlen = 0;
    bool ok = codegen_func(&c, f, e->steps, err, errlen);
    e->nkernels = c.n;
    if (ok)
        ok = cpu_compile_object(&cb->target, c.mod, cb->cache_dir, &obj, &objlen, &e->compiled,
                                err, errlen);
    cpu_cg_dispose(&c);
    if (ok) ok = (e->jit = cpu_jit_create(obj, objlen, err, errlen)) != NULL;
    free(obj);
    for (int i = 0; ok && i < n; i++) {
        Step *s = &e->steps[i];
        if (!s->v || s->virt) continue;
        /* steps sharing a kernel look it up once */
        for (int j = 0; j < i && !s->fn; j++)
            if (e->steps[j].fn && strcmp(e->steps[j].ki.name, s->ki.name) == 0) s->fn = e->steps[j].fn;
        if (!s->fn) {
            void *p = cpu_jit_lookup(e->jit, s->ki.name, err, errlen);
            ok = p != NULL;
            memcpy(&s->fn, &p, sizeof p);
        }
        if (ok && s->ki.epi[0]) {
            void *p = cpu_jit_lookup(e->jit, s->ki.epi, err, errlen);
            ok = p != NULL;
            memcpy(&s->epi, &p, sizeof p);
        }
    }
    if (!ok) {
        cpu_jit_destroy(e->jit);
        free(e->steps);
        free(e);
        return NULL;
    }
    e->compile_seconds = now_seconds() - t0;
    if (cb->opts.profile)
        fprintf(cb->opts.log ? cb->opts.log : stderr,
                "cpu: @%s: %d kernels, %s in %.3f s\n", f->name, e->nkernels,
                e->compiled ? "compiled" : "loaded from the cache", e->compile_seconds);
    return e;
}

/* ---- run ---- */

typedef struct {
    Tensor *t;
    bool owned, result;
    int last_use;
} Slot;

static int slot_of(const IrFunc *f, const IrValue *v) {
    if (v->op == OP_INPUT) {
        for (int i = 0; i < f->nparams; i++)
            if (f->params[i] == v) return i;
        return -1;
    }
    return v->id < 0 ? -1 : f->nparams + v->id;
}

static bool fail_at(const IrFunc *f, const IrValue *v, char *err, size_t errlen) {
    char why[512];
    snprintf(why, sizeof why, "%s", err);
    if (v->loc.line > 0)
        snprintf(err, errlen, "@%s, %%%d = %s (line %d): %s", f->name, v->id, ir_op_name(v->op),
                 v->loc.line, why);
    else
        snprintf(err, errlen, "@%s, %%%d = %s: %s", f->name, v->id, ir_op_name(v->op), why);
    return false;
}

static Tensor *clone(const Tensor *t) {
    char err[64];
    Tensor *c = tensor_create(t->dtype, t->rank, t->dims, err, sizeof err);
    if (c) memcpy(c->data, t->data, tensor_bytes(t));
    return c;
}

/* st->view: v (an alias or a split_view) over x's data. A split's part starts `index`
 * parts into x's last axis and keeps x's strides; a strided reshape of it keeps the
 * leading strides and cuts the last axis (stride 1) into contiguous dims. */
static void set_view(Step *st, const Step *part, const IrValue *v, const Tensor *x, int rank,
                     const int64_t *dims) {
    st->view = (Tensor){.dtype = v->type.dtype, .rank = rank, .data = x->data};
    memcpy(st->view.dims, dims, sizeof dims[0] * (size_t)rank);
    if (st->split_view) {
        int64_t k = 1;
        for (int i = x->rank - 1; i >= 0; i--) st->strides[i] = k, k *= x->dims[i];
        st->view.data = (char *)x->data + ir_dtype_size(x->dtype) * (size_t)(v->attrs.index * dims[rank - 1]);
    } else if (st->strided) {
        int lead = part->view.rank - 1;
        memcpy(st->strides, part->strides, sizeof st->strides[0] * (size_t)lead);
        int64_t k = 1;
        for (int i = rank - 1; i >= lead; i--) st->strides[i] = k, k *= dims[i];
    }
}

/* One call of st's kernel took `sec`. */
static void profile_add(Step *st, double sec) {
    st->seconds += sec;
    if (!st->calls || sec < st->best) st->best = sec;
    st->calls++;
}

enum { POOL_MAX = 512 };

static void pool_give(BkExec *e, Tensor *t) {
    if (!t) return;
    if (e->npool == POOL_MAX) {
        tensor_destroy(t);
        return;
    }
    if (!e->pool) e->pool = xcalloc(POOL_MAX, sizeof *e->pool);
    e->pool[e->npool++] = t;
}

/* A tensor of this shape: a pooled one of the same byte size, or a new one. */
static Tensor *pool_take(BkExec *e, IrDType dt, int rank, const int64_t *dims, char *err,
                         size_t errlen) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    size_t bytes = (size_t)n * ir_dtype_size(dt);
    for (int i = e->npool - 1; i >= 0; i--) {
        Tensor *t = e->pool[i];
        if (tensor_bytes(t) != bytes) continue;
        e->pool[i] = e->pool[--e->npool];
        t->dtype = dt;
        t->rank = rank;
        memcpy(t->dims, dims, sizeof dims[0] * (size_t)rank);
        return t;
    }
    return tensor_create_uninit(dt, rank, dims, err, errlen); /* kernels write all of it */
}

static bool eval_value(BkExec *e, Slot *slots, RefEnv *env, IrValue *v, Tensor *const *weights,
                       char *err, size_t errlen) {
    IrFunc *f = e->f;
    int s = slot_of(f, v);
    if (v->op == OP_INPUT) return true;
    if (v->op == OP_WEIGHT) {
        bool about_v;
        Tensor *t = ref_weight_tensor(f->module, v, weights, env, &about_v, err, errlen);
        if (!t) return about_v ? fail_at(f, v, err, errlen) : false;
        slots[s].t = t;
        slots[s].owned = false;
        return true;
    }
    Step *st = &e->steps[v->id];
    if (st->virt) { /* its users read the operand in place */
        slots[s].t = slots[slot_of(f, v->args[0])].t;
        slots[s].owned = false;
        return true;
    }
    if (st->ki.sum_matmul) {
        const IrValue *m = v->args[0];
        Tensor *x = slots[slot_of(f, m->args[0])].t, *dy = slots[slot_of(f, m->args[1])].t;
        if (!x || !dy) {
            snprintf(err, errlen, "operand used before it is defined");
            return fail_at(f, v, err, errlen);
        }
        Tensor xa, yb, mm, *mmp = &mm, *ops[2] = {&xa, &yb};
        cpu_plan_sum_matmul_views(x, dy, &xa, &yb, &mm);
        int rank;
        int64_t dims[IR_MAX_RANK];
        Tensor *out = NULL;
        bool ok = ref_value_shape(v, &mmp, env, &rank, dims, err, errlen) &&
                  (out = pool_take(e, v->type.dtype, rank, dims, err, errlen)) != NULL;
        if (ok) {
            bool prof = e->cb->opts.profile;
            double t0 = prof ? now_seconds() : 0;
            CpuLaunch L = {.pool = e->cb->pool};
            ok = cpu_plan_launch(&L, v, &st->ki, st->fn, ops, out, err, errlen);
            if (prof) profile_add(st, now_seconds() - t0);
        }
        if (!ok) {
            pool_give(e, out);
            return fail_at(f, v, err, errlen);
        }
        slots[s].t = out;
        slots[s].owned = true;
        return true;
    }
    Tensor *args[64], swapped[2];
    Tensor **a = v->nargs <= 64 ? args : xmalloc(sizeof *a * (size_t)v->nargs);
    bool ok = true;
    for (int i = 0; ok && i < v->nargs; i++) {
        int as = slot_of(f, v->args[i]);
        a[i] = as >= 0 ? slots[as].t : NULL;
        if (!a[i]) {
            snprintf(err, errlen, "operand %d is used before it is defined", i);
            ok = false;
        } else if (v->op == OP_MATMUL && i < 2 && (i ? st->ki.trans_b : st->ki.trans_a)) {
            /* the stored operand is [..., K, M] (or [..., N, K]); shapes see its transpose */
            swapped[i] = *a[i];
            int r = a[i]->rank;
            swapped[i].dims[r - 2] = a[i]->dims[r - 1];
            swapped[i].dims[r - 1] = a[i]->dims[r - 2];
            a[i] = &swapped[i];
        }
    }
    int rank = 0;
    int64_t dims[IR_MAX_RANK];
    Tensor *out = NULL;
    if (ok) ok = ref_value_shape(v, a, env, &rank, dims, err, errlen);
    if (ok && (st->alias || st->split_view)) {
        set_view(st, st->strided ? &e->steps[v->args[0]->id] : NULL, v, a[0], rank, dims);
        slots[s].t = &st->view;
        slots[s].owned = false;
        return true;
    }
    if (ok) ok = (out = pool_take(e, v->type.dtype, rank, dims, err, errlen)) != NULL;
    if (ok) {
        bool prof = e->cb->opts.profile;
        double t0 = prof ? now_seconds() : 0;
        const Step *in = v->nargs && v->args[0]->op != OP_INPUT ? &e->steps[v->args[0]->id] : NULL;
        CpuLaunch L = {.pool = e->cb->pool, .epi = st->epi,
                       .in_strides = in && in->strided && in->alias ? in->strides : NULL};
        ok = cpu_plan_launch(&L, v, &st->ki, st->fn, a, out, err, errlen);
        if (prof) profile_add(st, now_seconds() - t0);
    }
    if (a != args) free(a);
    if (!ok) {
        pool_give(e, out);
        return fail_at(f, v, err, errlen);
    }
    slots[s].t = out;
    slots[s].owned = true;
    return true;
}

static void extend_virtual(BkExec *e, Slot *slots, const IrValue *a, int s) {
    const Step *st = a->op == OP_INPUT ? NULL : &e->steps[a->id];
    if (!st || (!st->virt && !st->alias && !st->split_view)) return;
    for (int i = 0; i < a->nargs; i++) {
        int src = slot_of(e->f, a->args[i]);
        if (src >= 0 && slots[src].last_use < s) slots[src].last_use = s;
        extend_virtual(e, slots, a->args[i], s);
    }
}

static bool cpu_run(BkExec *e, Tensor *const *weights, Tensor *const *inputs, Tensor **outputs,
                    char *err, size_t errlen) {
    IrFunc *f = e->f;
    for (int i = 0; i < f->nresults; i++) outputs[i] = NULL;
    int nslots = f->nparams + e->nsteps;
    Slot *slots = xcalloc((size_t)(nslots ? nslots : 1), sizeof *slots);
    for (int i = 0; i < nslots; i++) slots[i].last_use = -1;
    for (IrValue *v = f->first; v; v = v->next) {
        int s = slot_of(f, v);
        for (int i = 0; s >= 0 && i < v->nargs; i++) {
            const IrValue *a = v->args[i];
            int as = slot_of(f, a);
            if (as >= 0 && slots[as].last_use < s) slots[as].last_use = s;
            /* a virtual value is read through its operands: keep them alive as long */
            extend_virtual(e, slots, a, s);
        }
    }
    for (int i = 0; i < f->nresults; i++) {
        int s = slot_of(f, f->results[i]);
        if (s >= 0) slots[s].result = true;
    }
    RefEnv env = {0};
    bool ok = true;
    for (int i = 0; ok && i < f->nparams; i++) {
        IrValue *p = f->params[i];
        char what[160];
        snprintf(what, sizeof what, "input '%s'", p->attrs.name ? p->attrs.name : "?");
        if (!inputs || !inputs[i]) {
            snprintf(err, errlen, "@%s: no tensor was given for %s", f->name, what);
            ok = false;
            break;
        }
        ok = ref_env_match(&env, &p->type, inputs[i], what, err, errlen);
        slots[i].t = inputs[i];
    }
    for (IrValue *v = f->first; ok && v; v = v->next) {
        ok = eval_value(e, slots, &env, v, weights, err, errlen);
        if (!ok || v->op == OP_INPUT) continue;
        int s = slot_of(f, v);
        for (int i = 0; i < nslots; i++) { /* free what s was the last reader of */
            Slot *sl = &slots[i];
            bool dead = sl->last_use == s || (i == s && sl->last_use < 0);
            if (dead && sl->t && sl->owned && !sl->result) {
                pool_give(e, sl->t);
                sl->t = NULL;
                sl->owned = false;
            }
        }
    }
    for (int i = 0; ok && i < f->nresults; i++) {
        int s = slot_of(f, f->results[i]);
        Slot *sl = s >= 0 ? &slots[s] : NULL;
        if (!sl || !sl->t) {
            snprintf(err, errlen, "@%s: result %d is not a value of the function", f->name, i);
            ok = false;
        } else if (sl->owned) {
            outputs[i] = sl->t;
            sl->owned = false;
        } else if (!(outputs[i] = clone(sl->t))) {
            snprintf(err, errlen, "@%s: out of memory copying result %d", f->name, i);
            ok = false;
        }
    }
    for (int i = 0; i < nslots; i++)
        if (slots[i].owned) pool_give(e, slots[i].t);
    if (!ok)
        for (int i = 0; i < f->nresults; i++) {
            for (int j = i + 1; j < f->nresults; j++)
                if (outputs[j] == outputs[i]) outputs[j] = NULL;
            tensor_destroy(outputs[i]);
            outputs[i] = NULL;
        }
    free(slots);
    ref_env_free(&env);
    return ok;
}

static void cpu_exec_destroy(BkExec *e) {
    if (!e) return;
    cpu_jit_destroy(e->jit);
    for (int i = 0; i < e->npool; i++) tensor_destroy(e->pool[i]);
    free(e->pool);
    free(e->steps);
    free(e);
}

/* ---- profile ---- */

static void cpu_profile_report(BkExec *e, FILE *out) {
    /* aggregate by op name, in order of first appearance */
    typedef struct {
        const char *op;
        double s, best; /* best: the sum of each value's fastest call */
        int64_t calls;
        int values;
    } Row;
    /* a fused kernel is named by its body (bodies are shared by the layers that compute
     * the same chain), so the table says which chains cost */
    Row *rows = xcalloc((size_t)e->nsteps + 1, sizeof *rows);
    int nrows = 0;
    double total = 0, best = 0;
    for (int i = 0; i < e->nsteps; i++) {
        Step *st = &e->steps[i];
        if (!st->v || !st->calls) continue;
        const char *op = st->v->op == OP_FUSED ? st->v->attrs.body->name : ir_op_name(st->v->op);
        int r = 0;
        while (r < nrows && strcmp(rows[r].op, op) != 0) r++;
        if (r == nrows) rows[nrows++] = (Row){op, 0, 0, 0, 0};
        rows[r].s += st->seconds;
        rows[r].best += st->best;
        best += st->best;
        rows[r].calls += st->calls;
        rows[r].values++;
        total += st->seconds;
    }
    for (int i = 1; i < nrows; i++) /* by time, descending */
        for (int j = i; j > 0 && rows[j].s > rows[j - 1].s; j--) {
            Row t = rows[j];
            rows[j] = rows[j - 1];
            rows[j - 1] = t;
        }
    fprintf(out, "cpu profile of @%s (%d threads; compile %.3f s, %s)\n", e->f->name,
            cpu_pool_threads(e->cb->pool), e->compile_seconds,
            e->compiled ? "compiled" : "from the cache");
    /* best: each value's fastest call, summed (a run's time when no neighbour disturbs) */
    fprintf(out, "  %-14s %8s %8s %12s %7s %10s\n", "kernel", "values", "calls", "time (ms)", "share",
            "best (ms)");
    for (int i = 0; i < nrows; i++)
        fprintf(out, "  %-14s %8d %8lld %12.3f %6.1f%% %10.3f\n", rows[i].op, rows[i].values,
                (long long)rows[i].calls, rows[i].s * 1e3, total > 0 ? 100 * rows[i].s / total : 0,
                rows[i].best * 1e3);
    fprintf(out, "  %-14s %8s %8s %12.3f %7s %10.3f\n", "total", "", "", total * 1e3, "", best * 1e3);
    free(rows);
}

/* ---- emit ---- */

static bool cpu_emit(Backend *b, IrFunc *f, const char *what, FILE *out, char *err, size_t errlen) {
    CpuBackend *cb = b->impl;
    if (strcmp(what, "header") == 0) return cpu_aot_header(f, out, err, errlen);
    bool aot = strcmp(what, "obj") == 0 || strcmp(what, "so") == 0;
    if (!aot && strcmp(what, "llvm") != 0) {
        snprintf(err, errlen, "the cpu backend emits llvm, obj, so or header, not '%s'", what);
        return false;
    }
    ir_func_number(f);
    int n = 0;
    for (IrValue *v = f->first; v; v = v->next)
        if (v->id + 1 > n) n = v->id + 1;
    Step *steps = xcalloc((size_t)(n ? n : 1), sizeof *steps);
    CpuCg c;
    cpu_cg_init(&c, f->name, cpu_target_vec(&cb->target));
    void *obj = NULL;
    size_t objlen;
    bool compiled;
    bool ok = codegen_func(&c, f, steps, err, errlen) &&
              cpu_compile_object(&cb->target, c.mod, aot ? cb->cache_dir : NULL, &obj, &objlen,
                                 &compiled, err, errlen);
    if (ok && aot) {
        CpuKernelInfo *kis = xcalloc((size_t)(n ? n : 1), sizeof *kis);
        bool *virt = xcalloc((size_t)(n ? n : 1), sizeof *virt);
        for (int i = 0; i < n; i++) kis[i] = steps[i].ki, virt[i] = steps[i].virt;
        ok = cpu_aot_write(f, kis, virt, obj, objlen, what[0] == 's', out, err, errlen);
        free(kis);
        free(virt);
    } else if (ok) {
        char *text = LLVMPrintModuleToString(c.mod);
        fputs(text, out);
        LLVMDisposeMessage(text);
    }
    free(obj);
    free(steps);
    cpu_cg_dispose(&c);
    return ok;
}

static void cpu_destroy(Backend *b) {
    if (!b) return;
    CpuBackend *cb = b->impl;
    cpu_pool_destroy(cb->pool);
    cpu_target_dispose(&cb->target);
    free(cb);
    free(b);
}

Backend *cpu_backend_create(const BkOptions *o, char *err, size_t errlen) {
    CpuBackend *cb = xcalloc(1, sizeof *cb);
    if (o) cb->opts = *o;
    if (!cpu_target_init(&cb->target, err, errlen)) {
        free(cb);
        return NULL;
    }
    cb->pool = cpu_pool_create(cb->opts.threads);
    cb->cache_dir = cpu_cache_dir(cb->cache_buf, sizeof cb->cache_buf);
    Backend *b = xcalloc(1, sizeof *b);
    *b = (Backend){
        .name = "cpu",
        .compile = cpu_compile,
        .run = cpu_run,
        .exec_destroy = cpu_exec_destroy,
        .destroy = cpu_destroy,
        .emit = cpu_emit,
        .profile_report = cpu_profile_report,
        .impl = cb,
    };
    return b;
}
