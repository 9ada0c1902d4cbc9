/* test_autodiff.c — gradients built by autodiff against central finite differences, in
 * float64 on the reference backend: every differentiable op alone, attention with a
 * bias, then a whole GPT-2 block with its loss, as lowered and with fused attention.
 *
 * Each case is loss = sum(op(weights...) * r) with r a fixed random weight, so every
 * output element matters with a different weight. For each differentiated weight, up to
 * SAMPLES elements are perturbed by ±EPS; the check is
 *   ||autodiff - numeric|| / max(||autodiff||, ||numeric||) <= 1e-5
 * over those elements. With EPS = 1e-6 in float64 the central difference error is
 * O(EPS^2) relative, far below the tolerance; a wrong rule is off by O(1).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backends/ref/ref.h"
#include "frontend/frontend.h"
#include "passes/autodiff.h"
#include "passes/passes.h"
#include "runtime/init.h"

enum { SAMPLES = 12, MAX_W = 64 };
static const double EPS = 1e-6, TOL = 1e-5;

typedef struct {
    IrModule *m;
    IrFunc *f;      /* computes the loss */
    Tensor *w[MAX_W];
    int nw;
    Tensor *in[8];  /* inputs of f (integer indices, symbolic-shaped data) */
} Case;

static IrType ty(IrDType dt, int rank, const int *dims) {
    IrType t = {.dtype = dt, .rank = rank};
    for (int i = 0; i < rank; i++) t.dims[i] = ir_dim_int(dims[i]);
    return t;
}

static double run_loss(Case *c, IrFunc *f, Tensor **outs) {
    char err[512];
    Tensor *o[MAX_W + 1] = {0};
    if (!ref_run(f, c->w, c->in, o, err, sizeof err)) fail_msg("ref_run: %s", err);
    double loss = ref_load(o[0], 0);
    for (int i = 0; i < f->nresults; i++) {
        if (outs)
            outs[i] = o[i];
        else
            tensor_destroy(o[i]);
    }
    return loss;
}

static void draw_weights(Case *c, uint64_t seed) {
    char err[256];
    c->nw = 0;
    for (IrWeight *w = c->m->weights; w; w = w->next) {
        c->w[c->nw] = rt_init_weight(w, seed, err, sizeof err);
        assert_non_null(c->w[c->nw]);
        c->nw++;
    }
}

/* Builds the gradient function, then compares every differentiated weight's gradient
 * with central differences of the loss. Returns the worst relative error. */
static double check_grads(Case *c, const char *what) {
    char err[512];
    IrFunc *g = ad_build_grad_func(c->f, 0, err, sizeof err);
    if (!g) fail_msg("%s: %s", what, err);
    if (!ir_verify(c->m, err, sizeof err)) fail_msg("%s: backward IR invalid: %s", what, err);
    Tensor *outs[MAX_W + 1] = {0};
    run_loss(c, g, outs);
    double worst = 0;
    int k = 1;
    int wi = 0;
    for (IrWeight *w = c->m->weights; w; w = w->next, wi++) {
        bool read = false;
        for (IrValue *v = c->f->first; v; v = v->next)
            read |= v->op == OP_WEIGHT && v->attrs.name == w->name;
        if (!read) continue;
        Tensor *grad = outs[k++], *t = c->w[wi];
        int64_t n = tensor_numel(t);
        double num2 = 0, ad2 = 0, diff2 = 0;
        for (int s = 0; s < SAMPLES && s < n; s++) {
            int64_t i = n <= SAMPLES ? s : (int64_t)((s * 7919 + 13) % n);
            double x = ref_load(t, i);
            ref_store(t, i, x + EPS);
            double lp = run_loss(c, c->f, NULL);
            ref_store(t, i, x - EPS);
            double lm = run_loss(c, c->f, NULL);
            ref_store(t, i, x);
            double numeric = (lp - lm) / (2 * EPS), a = ref_load(grad, i);
            num2 += numeric * numeric;
            ad2 += a * a;
            diff2 += (numeric - a) * (numeric - a);
        }
        double scale = fmax(sqrt(fmax(num2, ad2)), 1e-12);
        double rel = sqrt(diff2) / scale;
        if (rel > worst) worst = rel;
        if (rel > TOL)
            print_message("%s: d loss / d %s: relative error %.3g (|numeric| %.3g, |autodiff| %.3g)\n",
                          what, w->name, rel, sqrt(num2), sqrt(ad2));
    }
    for (int i = 0; i < g->nresults; i++) tensor_destroy(outs[i]);
    return worst;
}

static void case_free(Case *c) {
    for (int i = 0; i < c->nw; i++) tensor_destroy(c->w[i]);
    for (int i = 0; i < 8; i++) tensor_destroy(c->in[i]);
    ir_module_destroy(c->m);
    memset(c, 0, sizeof *c);
}

static IrValue *read_weight(Case *c, const char *name, IrType t, IrInit init) {
    ir_module_add_weight(c->m, name, &t, init);
    IrAttrs a = {.name = ir_intern(c->m, name, strlen(name))};
    char err[256];
    IrValue *v = ir_build(c->f, OP_WEIGHT, NULL, 0, &a, &t, NULL, err, sizeof err);
    assert_non_null(v);
    return v;
}

static IrValue *build(Case *c, IrOp op, IrValue **args, int n, const IrAttrs *a, const IrType *given) {
    char err[512];
    IrValue *v = ir_build(c->f, op, args, n, a, given, NULL, err, sizeof err);
    if (!v) fail_msg("building %s: %s", ir_op_name(op), err);
    return v;
}

/* loss = sum(y * r), r a fixed random weight of y's (static) type */
static void finish(Case *c, IrValue *y) {
    IrValue *r = read_weight(c, "r", y->type, (IrInit){INIT_NORMAL, 1, 0});
    IrValue *p = build(c, OP_MUL, (IrValue *[]){y, r}, 2, NULL, NULL);
    IrValue *loss = p;
    if (p->type.rank) {
        IrAttrs a = {.nints = p->type.rank};
        for (int i = 0; i < a.nints; i++) a.ints[i] = i;
        loss = build(c, OP_SUM, &p, 1, &a, NULL);
    }
    ir_func_set_results(c->f, &loss, 1);
}

static void start(Case *c) {
    c->m = ir_module_create("t");
    c->f = ir_module_add_func(c->m, "loss");
}

typedef struct {
    const char *name;
    IrOp op;
    int nargs;
    int rank[3];
    int dims[3][4];
    IrInit init[3];
    IrAttrs attrs;
    int given_rank; /* for ops with a given result type */
    int given[4];
} OpCase;

#define N1 {INIT_NORMAL, 1, 0}
#define POS {INIT_UNIFORM, 0.5, 2}

static const OpCase op_cases[] = {
    {"neg", OP_NEG, 1, {2}, {{3, 5}}, {N1}},
    {"exp", OP_EXP, 1, {2}, {{3, 5}}, {N1}},
    {"log", OP_LOG, 1, {2}, {{3, 5}}, {POS}},
    {"sqrt", OP_SQRT, 1, {2}, {{3, 5}}, {POS}},
    {"rsqrt", OP_RSQRT, 1, {2}, {{3, 5}}, {POS}},
    {"tanh", OP_TANH, 1, {2}, {{3, 5}}, {N1}},
    {"sigmoid", OP_SIGMOID, 1, {2}, {{3, 5}}, {N1}},
    {"relu", OP_RELU, 1, {2}, {{3, 5}}, {N1}},
    {"gelu", OP_GELU, 1, {2}, {{3, 5}}, {N1}},
    {"abs", OP_ABS, 1, {2}, {{3, 5}}, {N1}},
    {"add broadcast", OP_ADD, 2, {3, 1}, {{2, 3, 5}, {5}}, {N1, N1}},
    {"sub broadcast", OP_SUB, 2, {2, 2}, {{3, 1}, {1, 5}}, {N1, N1}},
    {"mul broadcast", OP_MUL, 2, {3, 2}, {{2, 3, 5}, {3, 1}}, {N1, N1}},
    {"div", OP_DIV, 2, {2, 2}, {{3, 5}, {3, 5}}, {N1, POS}},
    {"pow", OP_POW, 2, {2, 1}, {{3, 5}, {5}}, {POS, N1}},
    {"maximum", OP_MAXIMUM, 2, {2, 2}, {{3, 5}, {3, 5}}, {N1, N1}},
    {"minimum", OP_MINIMUM, 2, {2, 1}, {{3, 5}, {5}}, {N1, N1}},
    {"matmul", OP_MATMUL, 2, {2, 2}, {{3, 4}, {4, 5}}, {N1, N1}},
    {"matmul batched", OP_MATMUL, 2, {3, 2}, {{2, 3, 4}, {4, 5}}, {N1, N1}},
    {"matmul batch broadcast", OP_MATMUL, 2, {4, 3}, {{2, 1, 3, 4}, {3, 4, 5}}, {N1, N1}},
    {"sum", OP_SUM, 1, {3}, {{2, 3, 5}}, {N1}, {.nints = 2, .ints = {0, 2}}},
    {"sum keepdim", OP_SUM, 1, {3}, {{2, 3, 5}}, {N1}, {.nints = 1, .ints = {1}, .keepdim = true}},
    {"mean", OP_MEAN, 1, {3}, {{2, 3, 5}}, {N1}, {.nints = 1, .ints = {2}}},
    {"max", OP_MAX, 1, {2}, {{3, 5}}, {N1}, {.nints = 1, .ints = {1}}},
    {"transpose", OP_TRANSPOSE, 1, {3}, {{2, 3, 5}}, {N1}, {.nints = 3, .ints = {2, 0, 1}}},
    {"reshape", OP_RESHAPE, 1, {3}, {{2, 3, 4}}, {N1}, {0}, 2, {6, 4}},
    {"broadcast", OP_BROADCAST, 1, {2}, {{3, 1}}, {N1}, {0}, 3, {2, 3, 5}},
    {"slice", OP_SLICE, 1, {2}, {{3, 7}}, {N1}, {.axis = 1, .start = 2, .end = 5}},
    {"split", OP_SPLIT, 1, {2}, {{3, 6}}, {N1}, {.axis = 1, .parts = 3, .index = 1}},
    {"concat", OP_CONCAT, 3, {2, 2, 2}, {{3, 2}, {3, 1}, {3, 4}}, {N1, N1, N1}, {.axis = 1}},
    {"softmax", OP_SOFTMAX, 1, {2}, {{3, 5}}, {N1}, {.axis = 1}},
    {"softmax axis 0", OP_SOFTMAX, 1, {2}, {{3, 5}}, {N1}, {.axis = 0}},
    {"log_softmax", OP_LOG_SOFTMAX, 1, {2}, {{3, 5}}, {N1}, {.axis = 1}},
    {"layernorm", OP_LAYERNORM, 3, {3, 1, 1}, {{2, 3, 5}, {5}, {5}}, {N1, N1, N1}, {.eps = 1e-5}},
    /* d x is layernorm_grad, d gain sums g * layernorm(x, 1, 0): rows of 13 and 64, a row of
     * one (x - mean = 0, so d x = 0), an offset x with a larger eps */
    {"layernorm C=13", OP_LAYERNORM, 3, {2, 1, 1}, {{7, 13}, {13}, {13}}, {N1, N1, N1}, {.eps = 1e-5}},
    {"layernorm C=64", OP_LAYERNORM, 3, {2, 1, 1}, {{3, 64}, {64}, {64}}, {N1, POS, N1}, {.eps = 1e-5}},
    {"layernorm C=1", OP_LAYERNORM, 3, {2, 1, 1}, {{3, 1}, {1}, {1}}, {N1, N1, N1}, {.eps = 1e-5}},
    {"layernorm offset, eps 0.1", OP_LAYERNORM, 3, {2, 1, 1}, {{4, 6}, {6}, {6}}, {POS, N1, N1}, {.eps = 0.1}},
    {"cast (float to float)", OP_CAST, 1, {2}, {{3, 5}}, {N1}, {0}, 2, {3, 5}},
    {"attention", OP_ATTENTION, 3, {3, 3, 3}, {{2, 3, 4}, {2, 5, 4}, {2, 5, 3}}, {N1, N1, N1}, {.scale = 0.7}},
    {"attention causal, Tq < Tk", OP_ATTENTION, 3, {4, 4, 4}, {{2, 2, 3, 4}, {2, 2, 5, 4}, {2, 2, 5, 3}},
     {N1, N1, N1}, {.scale = 0.5, .causal = true}},
};

/* Every op with a float operand on its own. */
static void test_op_gradients(void **state) {
    int failures = 0;
    for (size_t k = 0; k < sizeof op_cases / sizeof op_cases[0]; k++) {
        const OpCase *oc = &op_cases[k];
        Case c = {0};
        start(&c);
        IrValue *args[3];
        for (int i = 0; i < oc->nargs; i++) {
            char name[16];
            snprintf(name, sizeof name, "a%d", i);
            args[i] = read_weight(&c, name, ty(DT_F64, oc->rank[i], oc->dims[i]), oc->init[i]);
        }
        IrType given = ty(DT_F64, oc->given_rank, oc->given);
        IrValue *y = build(&c, oc->op, args, oc->nargs, &oc->attrs, oc->given_rank ? &given : NULL);
        finish(&c, y);
        draw_weights(&c, 7 + k);
        double worst = check_grads(&c, oc->name);
        printf("  %-24s worst relative error %.2e\n", oc->name, worst);
        failures += worst > TOL;
        case_free(&c);
    }
    assert_int_equal(failures, 0);
}

/* where(cond, a, b) with a data-dependent mask; cast f64 -> f64 round trip; gather and
 * scatter_add with integer indices (repeated, so gradients accumulate); cross-entropy
 * and mean over a symbolic dim, whose counts are computed in the graph; layernorm over
 * symbolic rows (its layernorm_grad and column sums with B unknown at compile time). */
static void test_index_and_symbolic_gradients(void **state) {
    char err[256];
    int failures = 0;
    for (int k = 0; k < 6; k++) {
        Case c = {0};
        start(&c);
        IrValue *y = NULL;
        const char *what = "";
        if (k == 0) {
            what = "where";
            IrValue *a = read_weight(&c, "a", ty(DT_F64, 2, (int[]){3, 5}), (IrInit){INIT_NORMAL, 1, 0});
            IrValue *b = read_weight(&c, "b", ty(DT_F64, 1, (int[]){5}), (IrInit){INIT_NORMAL, 1, 0});
            IrValue *zero = build(&c, OP_CONSTANT, NULL, 0, &(IrAttrs){.value = 0}, &(IrType){.dtype = DT_F64});
            IrValue *cond = build(&c, OP_LT, (IrValue *[]){zero, a}, 2, NULL, NULL);
            y = build(&c, OP_WHERE, (IrValue *[]){cond, a, b}, 3, NULL, NULL);
        } else if (k == 1 || k == 2) {
            what = k == 1 ? "gather" : "scatter_add";
            IrType it = ty(DT_I32, 2, (int[]){2, 4});
            IrValue *idx = ir_func_add_param(c.f, "idx", &it);
            c.in[0] = tensor_create(DT_I32, 2, (int64_t[]){2, 4}, err, sizeof err);
            int32_t ids[] = {1, 0, 3, 1, 6, 1, 0, 2};
            memcpy(c.in[0]->data, ids, sizeof ids);
            if (k == 1) {
                IrValue *table = read_weight(&c, "table", ty(DT_F64, 2, (int[]){7, 3}), (IrInit){INIT_NORMAL, 1, 0});
                y = build(&c, OP_GATHER, (IrValue *[]){table, idx}, 2, NULL, NULL);
            } else {
                IrValue *upd = read_weight(&c, "upd", ty(DT_F64, 3, (int[]){2, 4, 3}), (IrInit){INIT_NORMAL, 1, 0});
                IrType out = ty(DT_F64, 2, (int[]){7, 3});
                y = build(&c, OP_SCATTER_ADD, (IrValue *[]){idx, upd}, 2, NULL, &out);
            }
        } else if (k == 3) {
            what = "cross_entropy, symbolic positions";
            IrType lt = {.dtype = DT_F64, .rank = 3, .dims = {ir_dim_sym(ir_intern(c.m, "B", 1)), ir_dim_int(3), ir_dim_int(6)}};
            IrType tt = lt;
            tt.rank = 2;
            tt.dtype = DT_I32;
            IrValue *x = ir_func_add_param(c.f, "x", &lt), *t = ir_func_add_param(c.f, "t", &tt);
            IrValue *w = read_weight(&c, "w", ty(DT_F64, 1, (int[]){6}), (IrInit){INIT_NORMAL, 1, 0});
            IrValue *logits = build(&c, OP_MUL, (IrValue *[]){x, w}, 2, NULL, NULL);
            y = build(&c, OP_CROSS_ENTROPY, (IrValue *[]){logits, t}, 2, NULL, NULL);
            c.in[0] = tensor_create(DT_F64, 3, (int64_t[]){2, 3, 6}, err, sizeof err);
            for (int i = 0; i < 36; i++) ref_store(c.in[0], i, sin(i * 1.7));
            c.in[1] = tensor_create(DT_I32, 2, (int64_t[]){2, 3}, err, sizeof err);
            for (int i = 0; i < 6; i++) ref_store(c.in[1], i, (i * 5) % 6);
        } else if (k == 5) {
            what = "layernorm over symbolic rows";
            const char *B = ir_intern(c.m, "B", 1);
            IrType xt = {.dtype = DT_F64, .rank = 3, .dims = {ir_dim_sym(B), ir_dim_int(3), ir_dim_int(6)}};
            IrValue *x = ir_func_add_param(c.f, "x", &xt);
            IrValue *w = read_weight(&c, "w", ty(DT_F64, 1, (int[]){6}), (IrInit){INIT_NORMAL, 1, 0});
            IrValue *gain = read_weight(&c, "gain", ty(DT_F64, 1, (int[]){6}), (IrInit){INIT_NORMAL, 1, 0});
            IrValue *bias = read_weight(&c, "bias", ty(DT_F64, 1, (int[]){6}), (IrInit){INIT_NORMAL, 1, 0});
            IrValue *p = build(&c, OP_MUL, (IrValue *[]){x, w}, 2, NULL, NULL);
            IrValue *ln = build(&c, OP_LAYERNORM, (IrValue *[]){p, gain, bias}, 3, &(IrAttrs){.eps = 1e-5}, NULL);
            /* a static-shaped result for finish(): the mean over the symbolic rows */
            y = build(&c, OP_MEAN, &ln, 1, &(IrAttrs){.nints = 1, .ints = {0}}, NULL);
            c.in[0] = tensor_create(DT_F64, 3, (int64_t[]){2, 3, 6}, err, sizeof err);
            for (int i = 0; i < 36; i++) ref_store(c.in[0], i, sin(i * 1.3) + 0.5);
        } else {
            what = "mean over a symbolic dim";
            IrType xt = {.dtype = DT_F64, .rank = 2, .dims = {ir_dim_sym(ir_intern(c.m, "T", 1)), ir_dim_int(4)}};
            IrValue *x = ir_func_add_param(c.f, "x", &xt);
            IrValue *w = read_weight(&c, "w", ty(DT_F64, 1, (int[]){4}), (IrInit){INIT_NORMAL, 1, 0});
            IrValue *p = build(&c, OP_MUL, (IrValue *[]){x, w}, 2, NULL, NULL);
            y = build(&c, OP_MEAN, &p, 1, &(IrAttrs){.nints = 1, .ints = {0}}, NULL);
            c.in[0] = tensor_create(DT_F64, 2, (int64_t[]){5, 4}, err, sizeof err);
            for (int i = 0; i < 20; i++) ref_store(c.in[0], i, cos(i * 0.9));
        }
        finish(&c, y);
        draw_weights(&c, 100 + k);
        double worst = check_grads(&c, what);
        printf("  %-34s worst relative error %.2e\n", what, worst);
        failures += worst > TOL;
        case_free(&c);
    }
    assert_int_equal(failures, 0);
}

/* attention with a bias: a weight bias (its gradient comes from the materialised
 * probabilities), broadcast from [1, Tk], with causal masking; an input bias holding -inf
 * (no gradient flows to it, q, k and v get theirs through the masked scores). */
static void test_attention_bias_gradients(void **state) {
    char err[256];
    int failures = 0;
    for (int k = 0; k < 3; k++) {
        Case c = {0};
        start(&c);
        IrValue *q = read_weight(&c, "q", ty(DT_F64, 3, (int[]){2, 3, 4}), (IrInit){INIT_NORMAL, 1, 0});
        IrValue *kk = read_weight(&c, "k", ty(DT_F64, 3, (int[]){2, 5, 4}), (IrInit){INIT_NORMAL, 1, 0});
        IrValue *v = read_weight(&c, "v", ty(DT_F64, 3, (int[]){2, 5, 3}), (IrInit){INIT_NORMAL, 1, 0});
        IrValue *bias;
        const char *what;
        IrAttrs a = {.scale = 0.6, .causal = k == 1};
        if (k < 2) {
            what = k == 0 ? "attention, weight bias [3, 5]" : "attention causal, weight bias [1, 5]";
            int bd[2] = {k == 0 ? 3 : 1, 5};
            bias = read_weight(&c, "bias", ty(DT_F64, 2, bd), (IrInit){INIT_NORMAL, 1, 0});
        } else {
            what = "attention, input bias with -inf";
            IrType bt = ty(DT_F64, 3, (int[]){2, 1, 5});
            bias = ir_func_add_param(c.f, "bias", &bt);
            c.in[0] = tensor_create(DT_F64, 3, (int64_t[]){2, 1, 5}, err, sizeof err);
            for (int i = 0; i < 10; i++) ref_store(c.in[0], i, i % 3 == 1 ? -INFINITY : 0.1 * i);
        }
        IrValue *y = build(&c, OP_ATTENTION, (IrValue *[]){q, kk, v, bias}, 4, &a, NULL);
        finish(&c, y);
        draw_weights(&c, 200 + k);
        double worst = check_grads(&c, what);
        printf("  %-38s worst relative error %.2e\n", what, worst);
        failures += worst > TOL;
        case_free(&c);
    }
    assert_int_equal(failures, 0);
}

/* Every f32 in the module becomes f64: the gradient check runs the model in double. */
static void retype_f64(IrModule *m) {
    for (IrWeight *w = m->weights; w; w = w->next)
        if (w->type.dtype == DT_F32) w->type.dtype = DT_F64;
    for (IrFunc *f = m->funcs; f; f = f->next)
        for (IrValue *v = f->first; v; v = v->next)
            if (v->type.dtype == DT_F32) v->type.dtype = DT_F64;
}

/* A whole GPT-2 (one block, odd sizes) with its language-model loss; with `fused`, the
 * forward goes through fuse-attention first, so the backward is attention's VJP. */
static void gpt2_block_gradients(bool fused) {
    FILE *fp = fopen(TFC_SOURCE_DIR "/models/gpt2.tfm", "rb");
    assert_non_null(fp);
    static char src[1 << 16];
    size_t len = fread(src, 1, sizeof src - 1, fp);
    fclose(fp);
    FeDefine defs[] = {{"n_layer", "1"}, {"n_embd", "12"}, {"n_head", "3"}, {"vocab", "11"}, {"n_ctx", "8"}};
    Diag d;
    diag_init(&d, "gpt2.tfm", src, len, stderr);
    Case c = {0};
    c.m = fe_compile("gpt2.tfm", src, len, defs, 5, &d);
    assert_non_null(c.m);
    retype_f64(c.m);
    if (fused) {
        PassOptions po = {.passes = "canonicalize,constant-fold,cse,fuse-attention,dce", .verify_each = true};
        char perr[512];
        if (!pass_run_pipeline(c.m, &po, perr, sizeof perr)) fail_msg("passes: %s", perr);
    }
    IrFunc *fwd = ir_module_find_func(c.m, "forward");
    int nattention = 0;
    for (IrValue *v = fwd->first; v; v = v->next) nattention += v->op == OP_ATTENTION;
    assert_int_equal(nattention, fused ? 1 : 0);
    c.f = ir_func_clone(fwd, "loss", NULL);
    IrValue *logits = c.f->results[0];
    IrType tt = {.dtype = DT_I32, .rank = 2, .dims = {logits->type.dims[0], logits->type.dims[1]}};
    IrValue *targets = ir_func_add_param(c.f, "targets", &tt);
    IrValue *loss = build(&c, OP_CROSS_ENTROPY, (IrValue *[]){logits, targets}, 2, NULL, NULL);
    ir_func_set_results(c.f, &loss, 1);
    char err[256];
    assert_true(ir_verify(c.m, err, sizeof err));
    draw_weights(&c, 3);
    /* Larger weights than GPT-2's init, so every path carries a gradient that matters. */
    for (int i = 0; i < c.nw; i++)
        for (int64_t j = 0; j < tensor_numel(c.w[i]); j++) ref_store(c.w[i], j, ref_load(c.w[i], j) * 10 + 0.01 * (double)(j % 7));
    c.in[0] = tensor_create(DT_I32, 2, (int64_t[]){2, 5}, err, sizeof err);
    c.in[1] = tensor_create(DT_I32, 2, (int64_t[]){2, 5}, err, sizeof err);
    for (int i = 0; i < 10; i++) {
        ref_store(c.in[0], i, (i * 7 + 3) % 11);
        ref_store(c.in[1], i, (i * 5 + 1) % 11);
    }
    const char *what = fused ? "gpt2 block, fused attention" : "gpt2 block";
    double worst = check_grads(&c, what);
    printf("  %s (16 weights) worst relative error %.2e\n", what, worst);
    assert_true(worst <= TOL);
    case_free(&c);
}

static void test_gpt2_block_gradients(void **state) { gpt2_block_gradients(false); }
static void test_gpt2_block_fused_gradients(void **state) { gpt2_block_gradients(true); }

/* Autodiff refuses what has no gradient, with a message. */
static void test_errors(void **state) {
    Case c = {0};
    start(&c);
    IrValue *a = read_weight(&c, "a", ty(DT_F64, 1, (int[]){3}), (IrInit){INIT_ZEROS, 0, 0});
    ir_func_set_results(c.f, &a, 1);
    char err[256];
    assert_null(ad_build_grad_func(c.f, 0, err, sizeof err));
    assert_string_equal(err, "@loss's result 0 is f64[3]: differentiating needs a float scalar loss "
                             "(a model whose output is a loss, or a training script)");
    case_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_gradients),
        cmocka_unit_test(test_index_and_symbolic_gradients),
        cmocka_unit_test(test_attention_bias_gradients),
        cmocka_unit_test(test_gpt2_block_gradients),
        cmocka_unit_test(test_gpt2_block_fused_gradients),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
