/* cmd_compile.c — `tfc compile` (IR, AST, --stats, --grad, training scripts, and
 * --target cpu|vulkan code and artifacts), `tfc opt` and `tfc passes`. */
#include "driver.h"

const char *usage_compile =
    "usage: tfc compile FILE.tfm [-D name=value]... [--model NAME] [--emit=ast|ir]\n"
    "                   [-o OUT] [pass options]\n"
    "\n"
    "Checks a model and lowers it to the graph IR. With --emit=ir the IR after the\n"
    "pass pipeline is printed (or written to OUT); --emit=ast prints the syntax tree.\n"
    "Without --emit, a one-line summary is printed (or the IR written to OUT).\n"
    "\n"
    "  -D name=value   override a `param` of the model (e.g. -D n_layer=2)\n"
    "  --model NAME    which model of the file (default: the last one)\n"
    "  --list-models   print the names of the models the file defines\n"
    "  --stats         print kernels, FLOPs, bytes moved and planned peak memory of\n"
    "                  every function, before and after the passes (needs --dims)\n"
    "  --dims B=4,T=64 sizes of the symbolic dims for --stats\n"
    "  --grad          also derive @forward_grad: the loss (the model's first output,\n"
    "                  a scalar) and its gradient for every weight (autodiff)\n"
    "  -o OUT          write the output to OUT instead of standard output\n";
const char *usage_opt =
    "usage: tfc opt FILE.tfir [-o OUT] [pass options]\n"
    "\n"
    "Reads a module in the IR's text form, runs passes on it and prints it. With no\n"
    "pass given it runs none and prints its input unchanged (in canonical form).\n";
/* tfc compile --target vulkan: --emit=glsl|spirv dumps the shaders, -o OUT.tfcv writes
 * the artifact (the backend's emit "tfcv"). */
static int cmd_compile_target(Args *a) {
    const char *what = a->emit ? a->emit : "tfcv";
    if (strcmp(a->target, "cpu") == 0 && !a->emit) { /* -o model.o | libmodel.so */
        if (!a->out) return fail("--target cpu needs --emit=llvm or -o OUT.o|OUT.so%s%s", "", "");
        what = has_suffix(a->out, ".so") ? "so" : "obj";
    }
    if (strcmp(what, "tfcv") == 0 && !a->out)
        return fail("--target %s needs -o OUT.tfcv (the artifact) or --emit=glsl|spirv%s",
                    a->target, "");
    int dev;
    if (!parse_device(a, &dev)) return 1;
    IrModule *m = load_module(a);
    if (!m) return 1;
    int rc = 1;
    char err[1024];
    Backend *b = NULL;
    IrFunc *f = ir_module_find_func(m, "forward");
    if (!run_passes(m, a)) goto done;
    if (!f) {
        fail("module @%s has no function @forward%s", m->name, "");
        goto done;
    }
    BkOptions bo = {.device = dev};
    if (!(b = rt_backend_create(a->target, &bo, err, sizeof err))) {
        fail("%s%s", err, "");
        goto done;
    }
    if (!b->emit) {
        fail("target %s cannot emit code%s", a->target, "");
        goto done;
    }
    bool binary = strcmp(what, "tfcv") == 0 || strcmp(what, "obj") == 0 || strcmp(what, "so") == 0;
    FILE *out = binary ? fopen(a->out, "wb") : open_out(a->out);
    if (!out) {
        fail("cannot write '%s': %s", a->out, strerror(errno));
        goto done;
    }
    bool ok = b->emit(b, f, what, out, err, sizeof err);
    rc = close_out(out, a->out);
    if (ok && rc == 0 && (strcmp(what, "obj") == 0 || strcmp(what, "so") == 0)) {
        /* the C header beside it: model.o -> model.h, libmodel.so -> libmodel.h */
        char hpath[512];
        const char *dot = strrchr(a->out, '.');
        snprintf(hpath, sizeof hpath, "%.*s.h", (int)(dot ? dot - a->out : (long)strlen(a->out)), a->out);
        FILE *h = fopen(hpath, "w");
        ok = h && b->emit(b, f, "header", h, err, sizeof err);
        if (h) fclose(h);
        if (!h) snprintf(err, sizeof err, "cannot write '%.400s': %s", hpath, strerror(errno));
    }
    if (!ok) {
        rc = fail("%s%s", err, "");
        if (a->out) remove(a->out);
    }
done:
    if (b) b->destroy(b);
    ir_module_destroy(m);
    return rc;
}
/* --stats: every function (bodies of fused kernels are parts of their users), before and
 * after fusion; a function with forward, backward and update values (a training step)
 * also gets a row per phase. `before` is the same program built with every fuse-* pass
 * disabled; functions pair up by name. */
static void print_row(const char *name, const char *when, int64_t kernels, double flops, double bytes,
                      const char *peak) {
    printf("%-22s %-7s %9lld %16.0f %16.0f %16s\n", name, when, (long long)kernels, flops, bytes, peak);
}

static int print_stats(IrModule *before, IrModule *after, const Args *a) {
    DimValue dims[IR_MAX_RANK * 2];
    int ndims;
    char err[256];
    if (!a->dims) return fail("--stats needs --dims, e.g. --dims B=4,T=64%s%s", "", "");
    if (!mp_parse_dims(a->dims, dims, IR_MAX_RANK * 2, &ndims, err, sizeof err)) return fail("%s%s", err, "");
    printf("%-22s %-7s %9s %16s %16s %16s\n", "function", "", "kernels", "FLOPs", "bytes moved", "peak bytes");
    int64_t peak = 0;
    for (IrFunc *f = after->funcs; f; f = f->next) {
        if (ir_func_is_body(f)) continue;
        IrFunc *g = ir_module_find_func(before, f->name);
        FuncStats st[2];
        if (!g || !mp_stats(g, dims, ndims, &st[0], err, sizeof err) || !mp_stats(f, dims, ndims, &st[1], err, sizeof err))
            return fail("@%s: %s", f->name, g ? err : "missing without fusion");
        char name[80], pk[32];
        snprintf(name, sizeof name, "@%s", f->name);
        for (int k = 0; k < 2; k++) {
            snprintf(pk, sizeof pk, "%lld", (long long)st[k].peak);
            print_row(name, k ? "after" : "before", st[k].kernels, st[k].flops, st[k].bytes_moved, pk);
        }
        int phases = 0;
        for (int p = 0; p < IR_PHASES; p++) phases += st[1].phase[p].kernels > 0;
        static const char *const phase_name[IR_PHASES] = {"  forward", "  backward", "  update"};
        for (int p = 0; phases > 1 && p < IR_PHASES; p++)
            for (int k = 0; k < 2 && (st[0].phase[p].kernels || st[1].phase[p].kernels); k++)
                print_row(phase_name[p], k ? "after" : "before", st[k].phase[p].kernels, st[k].phase[p].flops,
                          st[k].phase[p].bytes_moved, "-");
        if (st[1].peak > peak) peak = st[1].peak;
    }
    printf("peak memory: %lld bytes\n", (long long)peak);
    return 0;
}

/* A training script starts with `train` (after comments), a model file does not. */
static bool is_training_script(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = buf;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (*p != '#') break;
        while (*p && *p != '\n') p++;
    }
    return strncmp(p, "train", 5) == 0 && (p[5] == ' ' || p[5] == '\t');
}
/* The module this command works on: a training script's whole step (@forward, @loss,
 * @train_step), or the model (with its gradient under --grad), after the passes. NULL
 * after printing why. */
static IrModule *build(Args *a) {
    IrModule *m = NULL;
    char err[1024] = "";
    if (is_training_script(a->file)) {
        RtTrainOptions to = {.script = a->file, .compiled = &m, .disable_passes = a->passes.disable};
        if (!rt_train(&to, err, sizeof err)) return *err ? (fail("%s%s", err, ""), NULL) : NULL;
    } else {
        if (!(m = load_module(a))) return NULL;
        IrFunc *fwd = ir_module_find_func(m, "forward");
        if (a->grad && !pass_run_pre_grad(m, &a->passes, err, sizeof err)) {
            fail("%s%s", err, "");
        } else if (a->grad && (!fwd || !ad_build_grad_func(fwd, 0, err, sizeof err))) {
            fail("%s%s", fwd ? err : "the module has no @forward to differentiate", "");
        } else if (run_passes(m, a)) {
            return m;
        }
        ir_module_destroy(m);
        return NULL;
    }
    if (!run_passes(m, a)) {
        ir_module_destroy(m);
        return NULL;
    }
    return m;
}

int cmd_compile(Args *a) {
    if ((a->target && (strcmp(a->target, "vulkan") == 0 || strcmp(a->target, "cpu") == 0)) ||
        (a->emit && (strcmp(a->emit, "glsl") == 0 || strcmp(a->emit, "spirv") == 0))) {
        if (!a->target) a->target = "vulkan";
        return cmd_compile_target(a);
    }
    if (a->emit && strcmp(a->emit, "ast") != 0 && strcmp(a->emit, "ir") != 0)
        return fail("--emit must be ast or ir, not '%s'%s", a->emit, "");
    if (a->list_models || (a->emit && strcmp(a->emit, "ast") == 0)) {
        size_t len;
        char *src = read_file(a->file, &len);
        if (!src) return 1;
        FILE *out = open_out(a->out);
        if (!out) return free(src), 1;
        Diag d;
        diag_init(&d, a->file, src, len, stderr);
        bool ok = a->list_models ? fe_list_models(out, a->file, src, len, &d)
                                 : fe_print_ast(out, a->file, src, len, &d);
        free(src);
        int rc = close_out(out, a->out);
        return ok ? rc : 1;
    }
    IrModule *m = build(a);
    if (!m) return 1;
    int rc = 0;
    if (a->stats) {
        /* the same program with fusion off, for the `before` rows */
        Args off = *a;
        char disable[512];
        snprintf(disable, sizeof disable, "%s%s%s", a->passes.disable ? a->passes.disable : "",
                 a->passes.disable ? "," : "", pass_fusion_names());
        off.passes.disable = disable;
        IrModule *before = build(&off);
        rc = before ? print_stats(before, m, a) : 1;
        if (before) ir_module_destroy(before);
    } else if (a->emit || a->out) {
        FILE *out = open_out(a->out);
        if (!out) rc = 1;
        else {
            ir_print_module(out, m);
            rc = close_out(out, a->out);
        }
    } else {
        int64_t params = 0, nweights = 0, nvalues = 0;
        for (IrWeight *w = m->weights; w; w = w->next, nweights++)
            params += ir_type_static_elements(&w->type);
        for (IrFunc *f = m->funcs; f; f = f->next)
            for (IrValue *v = f->first; v; v = v->next) nvalues++;
        printf("%s: model @%s: %lld weights (%lld parameters), %lld IR values\n", a->file,
               m->name, (long long)nweights, (long long)params, (long long)nvalues);
    }
    ir_module_destroy(m);
    return rc;
}
int cmd_opt(Args *a) {
    if (!a->pipeline_given) a->passes.passes = ""; /* opt runs only what it is told */
    size_t len;
    char *src = read_file(a->file, &len);
    if (!src) return 1;
    Diag d;
    diag_init(&d, a->file, src, len, stderr);
    IrModule *m = ir_parse(src, len, &d);
    free(src);
    if (!m) return 1;
    int rc = 1;
    if (run_passes(m, a)) {
        FILE *out = open_out(a->out);
        if (out) {
            ir_print_module(out, m);
            rc = close_out(out, a->out);
        }
    }
    ir_module_destroy(m);
    return rc;
}
int cmd_passes(void) {
    for (int i = 0; i < pass_count(); i++)
        printf("  %-16s %s\n", pass_info(i)->name, pass_info(i)->desc);
    printf("default pipeline: %s\n", pass_default_pipeline());
    return 0;
}
