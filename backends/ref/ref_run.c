/* ref_run.c — the interpreter's main loop: bind inputs and weights, evaluate each value
 * in definition order into a fresh tensor, free a tensor once its last user has run,
 * and hand the results to the caller.
 *
 * Decision a newcomer may question: no memory plan, no buffer reuse, no in-place ops.
 * One malloc per value keeps every kernel trivially correct (outputs never alias
 * inputs), and freeing at the last use keeps peak memory near what a planned backend
 * needs, so the oracle can run the same models the backends run. Inputs and weights
 * are borrowed from the caller, never copied; a result that is an input or weight (or
 * appears twice in the result list) is copied so that every output is a new tensor.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

/* A fused kernel is its body run as a function: every op still rounds once to f32, so
 * the result is bit for bit the unfused graph's. */
static bool eval_fused(const IrValue *v, Tensor *const *a, Tensor *out, char *err, size_t errlen) {
    Tensor *r;
    if (!ref_run((IrFunc *)v->attrs.body, NULL, a, &r, err, errlen)) return false;
    memcpy(out->data, r->data, tensor_bytes(out));
    tensor_destroy(r);
    return true;
}

bool ref_eval_op(const IrValue *v, Tensor *const *a, Tensor *out, char *err, size_t errlen) {
    switch (v->op) {
    case OP_CONSTANT: case OP_ARANGE:
        return ref_eval_leaf(v, out, err, errlen);
    case OP_NEG: case OP_EXP: case OP_LOG: case OP_SQRT: case OP_RSQRT: case OP_TANH:
    case OP_SIGMOID: case OP_RELU: case OP_GELU: case OP_ABS:
        return ref_eval_unary(v->op, a[0], out, err, errlen);
    case OP_CAST:
        return ref_eval_cast(a[0], out);
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_POW: case OP_MAXIMUM:
    case OP_MINIMUM: case OP_EQ: case OP_LT: case OP_LE:
        return ref_eval_binary(v->op, a[0], a[1], out, err, errlen);
    case OP_WHERE:
        return ref_eval_where(a[0], a[1], a[2], out);
    case OP_MATMUL:
        return ref_eval_matmul(a[0], a[1], out);
    case OP_SUM: case OP_MAX: case OP_MEAN:
        return ref_eval_reduce(v->op, &v->attrs, a[0], out);
    case OP_RESHAPE: case OP_TRANSPOSE: case OP_BROADCAST: case OP_SLICE: case OP_CONCAT:
    case OP_SPLIT: case OP_GATHER: case OP_SCATTER_ADD:
        return ref_eval_movement(v, a, out, err, errlen);
    case OP_SOFTMAX: case OP_LOG_SOFTMAX:
        return ref_eval_softmax(v->op == OP_LOG_SOFTMAX, v->attrs.axis, a[0], out);
    case OP_LAYERNORM:
        return ref_eval_layernorm(v->attrs.eps, a[0], a[1], a[2], out);
    case OP_LAYERNORM_GRAD:
        return ref_eval_layernorm_grad(v->attrs.eps, a[0], a[1], a[2], out);
    case OP_CROSS_ENTROPY:
        return ref_eval_cross_entropy(a[0], a[1], out, err, errlen);
    case OP_FUSED:
        return eval_fused(v, a, out, err, errlen);
    case OP_ATTENTION: case OP_ATTENTION_LSE: case OP_ATTENTION_GRAD:
        return ref_eval_attention(v, a, out);
    default:
        snprintf(err, errlen, "the reference backend has no kernel for %s", ir_op_name(v->op));
        return false;
    }
}

/* Per-value state, indexed by slot: params first (0..nparams-1), then the other values
 * in definition order (nparams + id after ir_func_number). */
typedef struct {
    Tensor *t;
    bool owned;     /* created here (not an input or weight) and not yet handed out */
    bool result;    /* listed in f->results: never freed by the loop */
    int last_use;   /* slot of the last value that reads it; -1: none */
} Slot;

typedef struct {
    IrFunc *f;
    Slot *slots;
    int nslots;
    char *nan_at;   /* ref_find_nan: where the first NaN's value is described; NULL: off */
    size_t nan_len;
} Run;

static int slot_of(const Run *r, const IrValue *v) {
    if (v->op == OP_INPUT) {
        for (int i = 0; i < r->f->nparams; i++)
            if (r->f->params[i] == v) return i;
        return -1;
    }
    return v->id < 0 ? -1 : r->f->nparams + v->id;
}

static void name_value(const Run *r, const IrValue *v, char *buf, size_t n) {
    if (v->op == OP_INPUT)
        snprintf(buf, n, "%%%s", v->attrs.name ? v->attrs.name : "?");
    else if (v->loc.line > 0)
        snprintf(buf, n, "%%%d = %s (line %d)", v->id, ir_op_name(v->op), v->loc.line);
    else
        snprintf(buf, n, "%%%d = %s", v->id, ir_op_name(v->op));
}

/* Prefix err with "@func, %3 = softmax: " (err holds the reason). */
static bool fail_at(const Run *r, const IrValue *v, char *err, size_t errlen) {
    char who[96], why[512];
    name_value(r, v, who, sizeof who);
    snprintf(why, sizeof why, "%s", err);
    snprintf(err, errlen, "@%s, %s: %s", r->f->name, who, why);
    return false;
}

static Tensor *clone(const Tensor *t) {
    char err[64];
    Tensor *c = tensor_create(t->dtype, t->rank, t->dims, err, sizeof err);
    if (c) memcpy(c->data, t->data, tensor_bytes(t));
    return c;
}

static bool eval_value(Run *r, RefEnv *env, IrValue *v, Tensor *const *weights, char *err,
                       size_t errlen) {
    int s = slot_of(r, v);
    if (s < 0 || s >= r->nslots) {
        snprintf(err, errlen, "value is not numbered in its function (an input not in the "
                 "parameter list?)");
        return fail_at(r, v, err, errlen);
    }
    if (v->op == OP_INPUT) return true; /* bound before the walk */
    if (v->op == OP_WEIGHT) {
        bool about_v;
        Tensor *t = ref_weight_tensor(r->f->module, v, weights, env, &about_v, err, errlen);
        if (!t) return about_v ? fail_at(r, v, err, errlen) : false;
        r->slots[s].t = t;
        r->slots[s].owned = false;
        return true;
    }
    Tensor *args[64];
    Tensor **a = v->nargs <= 64 ? args : xmalloc(sizeof *a * (size_t)v->nargs);
    bool ok = true;
    for (int i = 0; ok && i < v->nargs; i++) {
        int as = slot_of(r, v->args[i]);
        a[i] = as >= 0 && as < r->nslots ? r->slots[as].t : NULL;
        if (!a[i]) {
            snprintf(err, errlen, "operand %d is used before it is defined (or after it was "
                     "freed: the IR is not in SSA order)", i);
            ok = false;
        }
    }
    int rank = 0;
    int64_t dims[IR_MAX_RANK];
    Tensor *out = NULL;
    if (ok) ok = ref_value_shape(v, a, env, &rank, dims, err, errlen);
    if (ok) ok = (out = tensor_create(v->type.dtype, rank, dims, err, errlen)) != NULL;
    if (ok) ok = ref_eval_op(v, a, out, err, errlen);
    if (a != args) free(a);
    if (!ok) {
        tensor_destroy(out);
        return fail_at(r, v, err, errlen);
    }
    r->slots[s].t = out;
    r->slots[s].owned = true;
    return true;
}

/* Free every owned tensor whose last reader is slot s (and s itself if nobody reads it). */
static void release(Run *r, int s) {
    for (int i = 0; i < r->nslots; i++) {
        Slot *sl = &r->slots[i];
        bool dead = sl->last_use == s || (i == s && sl->last_use < 0);
        if (dead && sl->t && sl->owned && !sl->result) {
            tensor_destroy(sl->t);
            sl->t = NULL;
            sl->owned = false;
        }
    }
}

static bool has_nan(const Tensor *t) {
    if (!t || t->dtype == DT_I32) return false;
    for (int64_t i = 0, n = tensor_numel(t); i < n; i++)
        if (isnan(ref_load(t, i))) return true;
    return false;
}

static bool run(IrFunc *f, Tensor *const *weights, Tensor *const *inputs, Tensor **outputs,
                char *nan_at, size_t nan_len, char *err, size_t errlen);

bool ref_run(IrFunc *f, Tensor *const *weights, Tensor *const *inputs, Tensor **outputs,
             char *err, size_t errlen) {
    return run(f, weights, inputs, outputs, NULL, 0, err, errlen);
}

bool ref_find_nan(IrFunc *f, Tensor *const *weights, Tensor *const *inputs, char *what, size_t n) {
    Tensor **outs = xcalloc((size_t)f->nresults + 1, sizeof *outs);
    char err[512];
    *what = 0;
    run(f, weights, inputs, outs, what, n, err, sizeof err);
    for (int i = 0; i < f->nresults; i++) {
        for (int j = i + 1; j < f->nresults; j++)
            if (outs[j] == outs[i]) outs[j] = NULL;
        tensor_destroy(outs[i]);
    }
    free(outs);
    return *what != 0;
}

static bool run(IrFunc *f, Tensor *const *weights, Tensor *const *inputs, Tensor **outputs,
                char *nan_at, size_t nan_len, char *err, size_t errlen) {
    for (int i = 0; i < f->nresults; i++) outputs[i] = NULL;
    ir_func_number(f);
    Run r = {.f = f, .nan_at = nan_at, .nan_len = nan_len};
    int nvalues = 0;
    for (IrValue *v = f->first; v; v = v->next)
        if (v->op != OP_INPUT) nvalues++;
    r.nslots = f->nparams + nvalues;
    r.slots = xcalloc((size_t)(r.nslots ? r.nslots : 1), sizeof *r.slots);
    for (int i = 0; i < r.nslots; i++) r.slots[i].last_use = -1;
    for (IrValue *v = f->first; v; v = v->next) {
        int s = slot_of(&r, v);
        for (int i = 0; s >= 0 && i < v->nargs; i++) {
            int as = slot_of(&r, v->args[i]);
            if (as >= 0 && as < r.nslots && r.slots[as].last_use < s) r.slots[as].last_use = s;
        }
    }
    for (int i = 0; i < f->nresults; i++) {
        int s = slot_of(&r, f->results[i]);
        if (s >= 0 && s < r.nslots) r.slots[s].result = true;
    }

    RefEnv env = {0};
    bool ok = true;
    /* Inputs first, so that a shape error names the input rather than some value. */
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
        r.slots[i].t = inputs[i];
    }
    for (IrValue *v = f->first; ok && v; v = v->next) {
        ok = eval_value(&r, &env, v, weights, err, errlen);
        if (ok && r.nan_at && has_nan(r.slots[slot_of(&r, v)].t)) {
            name_value(&r, v, r.nan_at, r.nan_len);
            snprintf(err, errlen, "stopped at the first NaN");
            ok = false;
        }
        if (ok && v->op != OP_INPUT) release(&r, slot_of(&r, v));
    }
    for (int i = 0; ok && i < f->nresults; i++) {
        int s = slot_of(&r, f->results[i]);
        Slot *sl = s >= 0 && s < r.nslots ? &r.slots[s] : NULL;
        if (!sl || !sl->t) {
            snprintf(err, errlen, "@%s: result %d is not a value of the function", f->name, i);
            ok = false;
        } else if (sl->owned) {
            outputs[i] = sl->t; /* handed over: the caller owns it now */
            sl->owned = false;
        } else if (!(outputs[i] = clone(sl->t))) {
            snprintf(err, errlen, "@%s: out of memory copying result %d", f->name, i);
            ok = false;
        }
    }
    for (int i = 0; i < r.nslots; i++)
        if (r.slots[i].owned) tensor_destroy(r.slots[i].t);
    if (!ok)
        for (int i = 0; i < f->nresults; i++) {
            /* a tensor handed to two outputs would be freed twice: clear duplicates */
            for (int j = i + 1; j < f->nresults; j++)
                if (outputs[j] == outputs[i]) outputs[j] = NULL;
            tensor_destroy(outputs[i]);
            outputs[i] = NULL;
        }
    free(r.slots);
    ref_env_free(&env);
    return ok;
}
