/* train_step.c — builds @train_step: loss, backward, clipping and the optimizer update
 * as one IR function (see train_step.h for its parameters and results).
 *
 * The formulas are torch.optim's, in the same order of operations, so a test can compare
 * trajectories against PyTorch closely:
 *   clip:  c = min(1, clip / (‖g‖ + 1e-6));  g ← c g          (clip_grad_norm_)
 *   SGD:   g ← g + wd p;  b ← μ b + g;  p ← p − lr b          (buffer starts at 0, so the
 *                                                            first b is g, as torch)
 *   AdamW: p ← p (1 − lr wd);  m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²;
 *          p ← p − (lr / (1 − β1^t)) m / (√v / √(1 − β2^t) + ε)
 * Decision a newcomer may question: weight decay applies only to weights of rank 2 or
 * more (matrices, embeddings), not to biases and layernorm gains — the usual choice for
 * transformers (GPT-2, nanoGPT). The PyTorch check builds the same two parameter groups.
 */
#include "train_step.h"

#include <stdlib.h>
#include <string.h>

#include "passes/autodiff.h"

typedef struct {
    IrFunc *f;
    char *err;
    size_t errlen;
    bool ok;
} Builder;

static IrValue *op(Builder *b, IrOp o, IrValue **args, int n, const IrAttrs *a, const IrType *given) {
    if (!b->ok) return NULL;
    IrValue *v = ir_build(b->f, o, args, n, a, given, NULL, b->err, b->errlen);
    b->ok = v != NULL;
    return v;
}

static IrValue *op2(Builder *b, IrOp o, IrValue *x, IrValue *y) {
    return op(b, o, (IrValue *[]){x, y}, 2, NULL, NULL);
}

static IrValue *num(Builder *b, double x, IrDType dt) {
    IrType t = {.dtype = dt};
    IrAttrs a = {.value = x};
    return op(b, OP_CONSTANT, NULL, 0, &a, &t);
}

static IrValue *sum_all(Builder *b, IrValue *x) {
    if (x->type.rank == 0) return x;
    IrAttrs a = {.nints = x->type.rank};
    for (int i = 0; i < a.nints; i++) a.ints[i] = i;
    return op(b, OP_SUM, &x, 1, &a, NULL);
}

static IrValue *read_weight(Builder *b, IrWeight *w) {
    IrAttrs a = {.name = w->name};
    return op(b, OP_WEIGHT, NULL, 0, &a, &w->type);
}

/* A zero-initialised state weight `optim.<w>.<what>` of w's type. */
static IrWeight *state_weight(IrModule *m, const IrWeight *w, const char *what) {
    size_t n = strlen(w->name) + strlen(what) + 16;
    char *name = xmalloc(n);
    snprintf(name, n, "optim.%s.%s", w->name, what);
    IrWeight *s = ir_module_find_weight(m, name);
    if (!s) s = ir_module_add_weight(m, name, &w->type, (IrInit){INIT_ZEROS, 0, 0});
    free(name);
    return s;
}

static bool check_config(const OptConfig *o, char *err, size_t errlen) {
    const char *bad = NULL;
    if (o->kind == OPT_ADAMW && !(o->beta1 >= 0 && o->beta1 < 1)) bad = "beta1 must be in [0, 1)";
    else if (o->kind == OPT_ADAMW && !(o->beta2 >= 0 && o->beta2 < 1)) bad = "beta2 must be in [0, 1)";
    else if (o->kind == OPT_ADAMW && !(o->eps > 0)) bad = "eps must be positive";
    else if (o->kind == OPT_SGD && !(o->momentum >= 0 && o->momentum < 1)) bad = "momentum must be in [0, 1)";
    else if (!(o->weight_decay >= 0)) bad = "weight_decay must not be negative";
    else if (!(o->clip >= 0)) bad = "clip must not be negative";
    if (bad) snprintf(err, errlen, "optimizer: %s", bad);
    return bad == NULL;
}

IrFunc *rt_build_train_step(IrFunc *loss_fn, const OptConfig *o, char *err, size_t errlen) {
    IrModule *m = loss_fn->module;
    if (!check_config(o, err, errlen)) return NULL;
    if (loss_fn->nresults < 1) {
        snprintf(err, errlen, "@%s has no result to use as the loss", loss_fn->name);
        return NULL;
    }
    if (ir_module_find_func(m, "train_step")) {
        snprintf(err, errlen, "the module already has a @train_step");
        return NULL;
    }
    int n;
    IrWeight **ws = ad_float_weights_read(loss_fn, &n); /* the trainable weights */
    IrFunc *f = ir_func_clone(loss_fn, "train_step", NULL);
    IrType scalar = {.dtype = DT_F32};
    IrValue *lr = ir_func_add_param(f, "lr", &scalar);
    IrValue *step = ir_func_add_param(f, "step", &scalar);
    IrValue *loss = f->results[0];
    IrValue **grads = xcalloc((size_t)n + 1, sizeof *grads);
    /* results: loss, grad norm, n weights, up to 2n states */
    IrValue **res = xcalloc((size_t)(3 * n + 2), sizeof *res);
    IrWeight **upd = xcalloc((size_t)(3 * n + 2), sizeof *upd);
    Builder b = {f, err, errlen, ad_grad(f, loss, ws, n, grads, err, errlen)};
    IrValue *backward_end = f->last; /* what follows is the update (clipping, the optimizer) */
    IrDType dt = DT_F32;

    /* Global norm of every gradient, before clipping. */
    IrValue *sq = num(&b, 0, dt);
    for (int i = 0; i < n && b.ok; i++) sq = op2(&b, OP_ADD, sq, sum_all(&b, op2(&b, OP_MUL, grads[i], grads[i])));
    IrValue *gnorm = op(&b, OP_SQRT, &sq, 1, NULL, NULL);
    if (o->clip > 0) {
        IrValue *c = op2(&b, OP_DIV, num(&b, o->clip, dt), op2(&b, OP_ADD, gnorm, num(&b, 1e-6, dt)));
        c = op2(&b, OP_MINIMUM, c, num(&b, 1, dt));
        for (int i = 0; i < n && b.ok; i++) grads[i] = op2(&b, OP_MUL, grads[i], c);
    }
    int nr = 0, ns = 0;
    res[nr++] = loss;
    res[nr++] = gnorm;
    IrValue **states = res + 2 + n;
    IrWeight **state_w = upd + 2 + n;
    IrValue *bc1 = NULL, *bc2sqrt = NULL;
    if (o->kind == OPT_ADAMW) {
        bc1 = op2(&b, OP_SUB, num(&b, 1, dt), op2(&b, OP_POW, num(&b, o->beta1, dt), step));
        IrValue *bc2 = op2(&b, OP_SUB, num(&b, 1, dt), op2(&b, OP_POW, num(&b, o->beta2, dt), step));
        bc2sqrt = op(&b, OP_SQRT, &bc2, 1, NULL, NULL);
    }
    for (int i = 0; i < n && b.ok; i++) {
        IrWeight *w = ws[i];
        IrValue *p = read_weight(&b, w), *g = grads[i];
        double wd = w->type.rank >= 2 ? o->weight_decay : 0;
        if (o->kind == OPT_SGD) {
            if (wd > 0) g = op2(&b, OP_ADD, g, op2(&b, OP_MUL, p, num(&b, wd, dt)));
            if (o->momentum > 0) {
                IrWeight *bw = state_weight(m, w, "momentum");
                g = op2(&b, OP_ADD, op2(&b, OP_MUL, read_weight(&b, bw), num(&b, o->momentum, dt)), g);
                states[ns] = g;
                state_w[ns++] = bw;
            }
            p = op2(&b, OP_SUB, p, op2(&b, OP_MUL, g, lr));
        } else {
            IrWeight *mw = state_weight(m, w, "m"), *vw = state_weight(m, w, "v");
            if (wd > 0) p = op2(&b, OP_MUL, p, op2(&b, OP_SUB, num(&b, 1, dt), op2(&b, OP_MUL, lr, num(&b, wd, dt))));
            IrValue *mv = op2(&b, OP_ADD, op2(&b, OP_MUL, read_weight(&b, mw), num(&b, o->beta1, dt)),
                              op2(&b, OP_MUL, g, num(&b, 1 - o->beta1, dt)));
            IrValue *vv = op2(&b, OP_ADD, op2(&b, OP_MUL, read_weight(&b, vw), num(&b, o->beta2, dt)),
                              op2(&b, OP_MUL, op2(&b, OP_MUL, g, g), num(&b, 1 - o->beta2, dt)));
            IrValue *root = op(&b, OP_SQRT, &vv, 1, NULL, NULL);
            IrValue *denom = op2(&b, OP_ADD, op2(&b, OP_DIV, root, bc2sqrt), num(&b, o->eps, dt));
            IrValue *stepsize = op2(&b, OP_DIV, lr, bc1);
            p = op2(&b, OP_SUB, p, op2(&b, OP_MUL, op2(&b, OP_DIV, mv, denom), stepsize));
            states[ns] = mv;
            state_w[ns++] = mw;
            states[ns] = vv;
            state_w[ns++] = vw;
        }
        res[nr] = p;
        upd[nr++] = w;
    }
    for (IrValue *v = backward_end ? backward_end->next : NULL; v; v = v->next) v->phase = IR_PHASE_UPDATE;
    if (b.ok) {
        /* The states were written at 2 + n onwards, right after the n weights. */
        ir_func_set_results(f, res, nr + ns);
        for (int i = 0; i < nr + ns; i++) ir_func_set_update(f, i, upd[i]);
    }
    free(ws);
    free(grads);
    free(res);
    free(upd);
    return b.ok ? f : NULL;
}
