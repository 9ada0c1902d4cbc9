/* optim_check.c — runs tfc's @train_step (optimizers as IR, on the reference backend) on
 * the gradient sequence optim_torch.py wrote and compares every step's weights and
 * gradient norm with torch.optim's.
 *
 * usage: optim_check DIR sgd|adamw MOMENTUM BETA1 BETA2 EPS WD CLIP
 * The loss is sum(w * Gw) + sum(b * Gb) with Gw, Gb inputs, so its gradient is exactly
 * the given sequence. Tolerance: relative 2e-6 of the largest weight (float32: torch
 * fuses some operations that tfc runs as separate ops, so roundings differ by a few ulp
 * per step). Prints one line per step and ends with "N passed, M failed". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/ref/ref.h"
#include "runtime/npy.h"
#include "runtime/train_step.h"

static Tensor *load(const char *dir, const char *name) {
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    Tensor *t = rt_npy_read(path, err, sizeof err);
    if (!t) {
        fprintf(stderr, "optim_check: %s\n", err);
        exit(1);
    }
    return t;
}

static IrValue *build(IrFunc *f, IrOp op, IrValue **args, int n, const IrAttrs *a, const IrType *t) {
    char err[512];
    IrValue *v = ir_build(f, op, args, n, a, t, NULL, err, sizeof err);
    if (!v) {
        fprintf(stderr, "optim_check: %s\n", err);
        exit(1);
    }
    return v;
}

/* sum(weight * input) over all axes */
static IrValue *dot(IrFunc *f, IrModule *m, const char *name, const IrType *t) {
    ir_module_add_weight(m, name, t, (IrInit){INIT_ZEROS, 0, 0});
    IrAttrs wa = {.name = ir_intern(m, name, strlen(name))};
    char gname[32];
    snprintf(gname, sizeof gname, "g%s", name);
    IrValue *w = build(f, OP_WEIGHT, NULL, 0, &wa, t);
    IrValue *g = ir_func_add_param(f, gname, t);
    IrValue *p = build(f, OP_MUL, (IrValue *[]){w, g}, 2, NULL, NULL);
    IrAttrs sa = {.nints = t->rank, .ints = {0, 1}};
    return build(f, OP_SUM, &p, 1, &sa, NULL);
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: optim_check DIR sgd|adamw MOMENTUM BETA1 BETA2 EPS WD CLIP\n");
        return 1;
    }
    const char *dir = argv[1];
    OptConfig oc = {.kind = strcmp(argv[2], "sgd") == 0 ? OPT_SGD : OPT_ADAMW,
                    .momentum = atof(argv[3]), .beta1 = atof(argv[4]), .beta2 = atof(argv[5]),
                    .eps = atof(argv[6]), .weight_decay = atof(argv[7]), .clip = atof(argv[8])};
    IrModule *m = ir_module_create("optim");
    IrFunc *f = ir_module_add_func(m, "loss");
    IrType tw = {.dtype = DT_F32, .rank = 2, .dims = {ir_dim_int(3), ir_dim_int(4)}};
    IrType tb = {.dtype = DT_F32, .rank = 1, .dims = {ir_dim_int(4)}};
    IrValue *lw = dot(f, m, "w", &tw), *lb = dot(f, m, "b", &tb);
    IrValue *loss = build(f, OP_ADD, (IrValue *[]){lw, lb}, 2, NULL, NULL);
    ir_func_set_results(f, &loss, 1);
    char err[512];
    IrFunc *step = rt_build_train_step(f, &oc, err, sizeof err);
    if (!step || !ir_verify(m, err, sizeof err)) {
        fprintf(stderr, "optim_check: %s\n", err);
        return 1;
    }
    /* Weights in module order: w, b, then the optimizer state (zeros). */
    Tensor *weights[16] = {0};
    int nw = 0;
    for (IrWeight *w = m->weights; w; w = w->next) {
        int64_t dims[IR_MAX_RANK];
        for (int i = 0; i < w->type.rank; i++) dims[i] = w->type.dims[i].size;
        weights[nw++] = tensor_create(DT_F32, w->type.rank, dims, err, sizeof err);
    }
    Tensor *w0 = load(dir, "w0"), *b0 = load(dir, "b0"), *gw = load(dir, "gw"), *gb = load(dir, "gb");
    Tensor *lr = load(dir, "lr"), *ew = load(dir, "w"), *eb = load(dir, "b"), *en = load(dir, "norm");
    memcpy(weights[0]->data, w0->data, tensor_bytes(w0));
    memcpy(weights[1]->data, b0->data, tensor_bytes(b0));
    int steps = (int)gw->dims[0], passed = 0, failed = 0;
    Tensor *in[4];
    in[0] = tensor_create(DT_F32, 2, (int64_t[]){3, 4}, err, sizeof err);
    in[1] = tensor_create(DT_F32, 1, (int64_t[]){4}, err, sizeof err);
    in[2] = tensor_create(DT_F32, 0, NULL, err, sizeof err);
    in[3] = tensor_create(DT_F32, 0, NULL, err, sizeof err);
    for (int k = 0; k < steps; k++) {
        memcpy(in[0]->data, (float *)gw->data + k * 12, 12 * sizeof(float));
        memcpy(in[1]->data, (float *)gb->data + k * 4, 4 * sizeof(float));
        ((float *)in[2]->data)[0] = ((float *)lr->data)[k];
        ((float *)in[3]->data)[0] = (float)(k + 1);
        Tensor *out[16] = {0};
        if (!ref_run(step, weights, in, out, err, sizeof err)) {
            fprintf(stderr, "optim_check: %s\n", err);
            return 1;
        }
        for (int r = 0; r < step->nresults; r++) {
            IrWeight *u = step->updates[r];
            if (!u) {
                tensor_destroy(out[r] == out[0] || out[r] == out[1] ? NULL : out[r]);
                continue;
            }
            int wi = 0;
            for (IrWeight *w = m->weights; w != u; w = w->next) wi++;
            tensor_destroy(weights[wi]);
            weights[wi] = out[r];
        }
        double scale = 0, worst = 0;
        for (int i = 0; i < 12; i++) scale = fmax(scale, fabs(((float *)ew->data)[k * 12 + i]));
        for (int i = 0; i < 12; i++)
            worst = fmax(worst, fabs(((float *)weights[0]->data)[i] - ((float *)ew->data)[k * 12 + i]));
        for (int i = 0; i < 4; i++)
            worst = fmax(worst, fabs(((float *)weights[1]->data)[i] - ((float *)eb->data)[k * 4 + i]));
        double norm = ((float *)out[1]->data)[0], enorm = ((float *)en->data)[k];
        double rel = worst / scale, nrel = fabs(norm - enorm) / enorm;
        bool ok = rel <= 2e-6 && nrel <= 1e-6;
        printf("%s step %2d: max weight error %.2e (relative %.2e), grad norm %.6g vs torch %.6g\n",
               ok ? "ok  " : "FAIL", k + 1, worst, rel, norm, enorm);
        ok ? passed++ : failed++;
        tensor_destroy(out[0]);
        tensor_destroy(out[1]);
    }
    printf("%d passed, %d failed\n", passed, failed);
    for (int i = 0; i < nw; i++) tensor_destroy(weights[i]);
    Tensor *all[] = {w0, b0, gw, gb, lr, ew, eb, en, in[0], in[1], in[2], in[3]};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_destroy(all[i]);
    ir_module_destroy(m);
    return failed ? 1 : 0;
}
