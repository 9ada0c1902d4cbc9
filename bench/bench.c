/* bench.c — timings of tfc's backends for bench/run (not a test: it asserts nothing).
 *
 *   tfc_bench matmul M K N [--at | --bt] [--target cpu] [--threads 2] [--reps 10]
 *     (--at: A given as [K, M], --bt: B given as [N, K], each transposed in the IR and
 *     read in place by the kernel: x^T @ dy of a weight gradient, x @ w^T of a tied head)
 *   tfc_bench gpt2-forward B T [-D name=value]... [--target cpu] [--threads 2] [--reps 5]
 *   tfc_bench gpt2-train B T [...]   (forward, backward, AdamW: one @train_step)
 *   --no-fusion: compile with every fuse-* pass disabled (bench/run fusion compares)
 *   --print-ir: the module that runs, on stderr (with --profile: which chain a fused.N is)
 *   --cold: before each run, write 64 MiB elsewhere, so the operands come from memory, not
 *     the L3 (in a model, each layer's weights were evicted by the 11 layers between)
 *
 * Prints `time_ms: X` (best of --reps runs after one warm-up; compile time excluded and
 * printed apart as `compile_ms`), the GFLOP/s, the kernels and planned peak of the memory
 * plan (`--stats`'s numbers) and the process's peak resident memory (`peak_rss_mb`). The best run, not the mean, because
 * the machine is shared: the best run is the one least disturbed by others.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "frontend/frontend.h"
#include "ir/ir.h"
#include "passes/memplan.h"
#include "passes/passes.h"
#include "runtime/model_run.h"
#include "runtime/targets.h"
#include "runtime/train_step.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static Tensor *rnd(IrDType dt, int rank, const int64_t *dims, int mod) {
    char err[128];
    Tensor *t = tensor_create(dt, rank, dims, err, sizeof err);
    if (!t) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    unsigned s = 12345;
    for (int64_t i = 0; i < tensor_numel(t); i++) {
        s = s * 1103515245u + 12345u;
        if (dt == DT_I32)
            ((int32_t *)t->data)[i] = (int32_t)((s >> 8) % (unsigned)mod);
        else
            ((float *)t->data)[i] = (float)((s >> 8) % 2001) / 1000.0f - 1.0f;
    }
    return t;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: tfc_bench matmul M K N | gpt2-forward B T [options]\n");
        return 1;
    }
    const char *target = "cpu";
    int threads = 2, reps = 0;
    int64_t pos[3] = {0};
    int npos = 0;
    FeDefine defs[32];
    int ndefs = 0;
    const char *models = "models";
    PassOptions passes = {0};
    bool at = false, bt = false, profile = false, print_ir = false, cold = false; /* matmul: A as [K, M] / B as [N, K], transposed in the IR */
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--target") == 0 && i + 1 < argc) target = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--models") == 0 && i + 1 < argc) models = argv[++i];
        else if (strcmp(argv[i], "--at") == 0) at = true;
        else if (strcmp(argv[i], "--bt") == 0) bt = true;
        else if (strcmp(argv[i], "--profile") == 0) profile = true;
        else if (strcmp(argv[i], "--no-fusion") == 0) passes.disable = pass_fusion_names();
        else if (strcmp(argv[i], "--print-ir") == 0) print_ir = true;
        else if (strcmp(argv[i], "--cold") == 0) cold = true;
        else if (strcmp(argv[i], "-D") == 0 && i + 1 < argc && ndefs < 32) {
            char *kv = argv[++i], *eq = strchr(kv, '=');
            if (!eq) return fprintf(stderr, "-D needs name=value\n"), 1;
            *eq = 0;
            defs[ndefs++] = (FeDefine){kv, eq + 1};
        } else if (npos < 3) pos[npos++] = atoll(argv[i]);
    }
    char err[1024];
    IrModule *m = NULL;
    Tensor *in[2] = {0};
    double flops = 0;
    bool train = false;
    int vocab = 256; /* token ids drawn below min(256, the model's vocab) */
    if (strcmp(argv[1], "matmul") == 0) {
        if (npos != 3) return fprintf(stderr, "matmul M K N\n"), 1;
        char src[1024];
        long long M = pos[0], K = pos[1], N = pos[2];
        /* %a0, %b0: the operands as given; %a, %b: as multiplied */
        char ta[256] = "", tb[256] = "";
        if (at)
            snprintf(ta, sizeof ta, "    %%a = transpose %%a0 {perm = [1, 0]} : f32[%lld, %lld]\n", M, K);
        if (bt)
            snprintf(tb, sizeof tb, "    %%b = transpose %%b0 {perm = [1, 0]} : f32[%lld, %lld]\n", K, N);
        snprintf(src, sizeof src,
                 "module @mm {\n  func @forward(%%%s: f32[%lld, %lld], %%%s: f32[%lld, %lld]) -> "
                 "(f32[%lld, %lld]) {\n%s%s    %%c = matmul %%a, %%b : f32[%lld, %lld]\n    return %%c\n  }\n}\n",
                 at ? "a0" : "a", at ? K : M, at ? M : K, bt ? "b0" : "b", bt ? N : K, bt ? K : N, M, N,
                 ta, tb, M, N);
        Diag d;
        diag_init(&d, "bench", src, strlen(src), stderr);
        m = ir_parse(src, strlen(src), &d);
        int64_t ad[2] = {at ? pos[1] : pos[0], at ? pos[0] : pos[1]};
        int64_t bd[2] = {bt ? pos[2] : pos[1], bt ? pos[1] : pos[2]};
        in[0] = rnd(DT_F32, 2, ad, 0);
        in[1] = rnd(DT_F32, 2, bd, 0);
        flops = 2.0 * (double)pos[0] * (double)pos[1] * (double)pos[2];
        if (!reps) reps = 10;
    } else if (strcmp(argv[1], "gpt2-forward") == 0 || strcmp(argv[1], "gpt2-train") == 0) {
        if (npos != 2) return fprintf(stderr, "%s B T\n", argv[1]), 1;
        char path[4096];
        snprintf(path, sizeof path, "%s/gpt2.tfm", models);
        FILE *fp = fopen(path, "rb");
        if (!fp) return fprintf(stderr, "cannot open %s\n", path), 1;
        char *src = xmalloc(1 << 20);
        size_t len = fread(src, 1, (1 << 20) - 1, fp);
        fclose(fp);
        src[len] = 0;
        Diag d;
        diag_init(&d, path, src, len, stderr);
        m = fe_compile_model(path, src, len, defs, ndefs, "gpt2", &d);
        free(src);
        train = strcmp(argv[1], "gpt2-train") == 0;
        /* a training step is differentiated from the model as training builds it (only
         * the passes that run before autodiff), then the whole step goes through the
         * pipeline below */
        if (m && !(train ? pass_run_pre_grad(m, &passes, err, sizeof err)
                         : pass_run_pipeline(m, &passes, err, sizeof err)))
            return fprintf(stderr, "%s\n", err), 1;
        int64_t id[2] = {pos[0], pos[1]};
        for (int i = 0; i < ndefs; i++)
            if (strcmp(defs[i].name, "vocab") == 0 && atoi(defs[i].value) < vocab) vocab = atoi(defs[i].value);
        in[0] = rnd(DT_I32, 2, id, vocab);
        if (!reps) reps = 5;
        /* matmul FLOPs of the forward, from the IR (2*M*K*N per matmul) */
        IrFunc *f = m ? ir_module_find_func(m, "forward") : NULL;
        for (IrValue *v = f ? f->first : NULL; v; v = v->next) {
            if (v->op != OP_MATMUL) continue;
            double n = 2;
            for (int i = 0; i < v->type.rank; i++)
                n *= v->type.dims[i].sym ? (double)(strcmp(v->type.dims[i].sym, "B") == 0 ? pos[0] : pos[1])
                                         : (double)v->type.dims[i].size;
            const IrType *a = &v->args[0]->type;
            n *= a->dims[a->rank - 1].sym ? (double)pos[1] : (double)a->dims[a->rank - 1].size;
            flops += n;
        }
        if (train) flops *= 3; /* backward: two matmuls per forward matmul */
    } else {
        return fprintf(stderr, "unknown benchmark '%s'\n", argv[1]), 1;
    }
    if (!m) return 1;
    IrFunc *f = ir_module_find_func(m, "forward");
    Tensor *extra[3] = {0};
    if (train) {
        /* loss = cross_entropy(logits, targets); the AdamW step of train_step.h */
        IrType tt = f->params[0]->type;
        IrValue *tg = ir_func_add_param(f, "targets", &tt);
        IrValue *args[2] = {f->results[0], tg};
        IrValue *loss = ir_build(f, OP_CROSS_ENTROPY, args, 2, &(IrAttrs){0}, NULL, NULL, err, sizeof err);
        if (!loss) return fprintf(stderr, "%s\n", err), 1;
        ir_func_set_results(f, &loss, 1);
        OptConfig oc = {.kind = OPT_ADAMW, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8,
                        .weight_decay = 0.1, .clip = 1.0};
        if (!(f = rt_build_train_step(f, &oc, err, sizeof err))) return fprintf(stderr, "%s\n", err), 1;
        if (!pass_run_pipeline(m, &passes, err, sizeof err)) return fprintf(stderr, "%s\n", err), 1;
        int64_t none[1];
        extra[0] = rnd(DT_I32, 2, in[0]->dims, vocab);
        extra[1] = tensor_create(DT_F32, 0, none, err, sizeof err);
        extra[2] = tensor_create(DT_F32, 0, none, err, sizeof err);
        ((float *)extra[1]->data)[0] = 1e-4f;
        ((float *)extra[2]->data)[0] = 1.0f;
    }
    Tensor *inputs[4] = {in[0], in[1] ? in[1] : extra[0], extra[1], extra[2]};
    Tensor **w = NULL;
    int nw = 0;
    if (!rt_weights_load(m, NULL, 1, NULL, &w, &nw, err, sizeof err)) return fprintf(stderr, "%s\n", err), 1;
    Backend *b = rt_backend_create(target, &(BkOptions){.threads = threads, .profile = profile}, err, sizeof err);
    if (!b) return fprintf(stderr, "%s\n", err), 1;
    if (print_ir) ir_print_module(stderr, m);
    /* before compiling: the plan renumbers the values, which the compiled plan keys on */
    if (strcmp(argv[1], "matmul") != 0) { /* the memory plan's view: kernels per run, planned peak */
        DimValue dv[2] = {{"B", pos[0]}, {"T", pos[1]}};
        FuncStats st;
        if (mp_stats(f, dv, 2, &st, err, sizeof err))
            printf("kernels: %lld\nplanned_peak_mb: %.1f\n", (long long)st.kernels, (double)st.peak / 1048576.0);
    }
    double t0 = now();
    BkExec *e = b->compile(b, f, err, sizeof err);
    if (!e) return fprintf(stderr, "%s\n", err), 1;
    printf("compile_ms: %.1f\n", 1e3 * (now() - t0));
    double best = 1e30;
    enum { EVICT_BYTES = 64 << 20 }; /* twice the L3 */
    char *evict = cold ? xcalloc(EVICT_BYTES, 1) : NULL;
    for (int r = 0; r <= reps; r++) {
        Tensor *out[4] = {0};
        if (evict) memset(evict, r, EVICT_BYTES);
        double t = now();
        Tensor **outs = xcalloc((size_t)f->nresults, sizeof *outs);
        if (!b->run(e, w, inputs, outs, err, sizeof err)) return fprintf(stderr, "%s\n", err), 1;
        t = now() - t;
        if (r > 0 && t < best) best = t; /* run 0 warms up */
        for (int i = 0; i < f->nresults; i++) tensor_destroy(outs[i]);
        free(outs);
        (void)out;
    }
    free(evict);
    if (profile && b->profile_report) b->profile_report(e, stdout);
    printf("gflops: %.1f\n", flops / best * 1e-9);
    printf("time_ms: %.3f\n", best * 1e3);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak_rss_mb: %.1f\n", (double)ru.ru_maxrss / 1024.0);
    b->exec_destroy(e);
    b->destroy(b);
    rt_tensors_free(w, nw);
    tensor_destroy(in[0]);
    tensor_destroy(in[1]);
    for (int i = 0; i < 3; i++) tensor_destroy(extra[i]);
    ir_module_destroy(m);
    return 0;
}
