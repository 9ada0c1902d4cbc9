/* tfc.c — the command-line driver. Thin by design: it parses flags, reads files and
 * calls the libraries; all real work (and every message about a model) lives there.
 *
 * Exit codes: 0 success, 1 user error (a message on stderr), 2 never (internal errors
 * abort with file:line). This is the only file that calls exit(). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "ir/ir.h"
#include "passes/autodiff.h"
#include "passes/passes.h"
#include "runtime/model_run.h"
#include "runtime/npy.h"
#include "runtime/targets.h"

#ifndef TFC_VERSION
#define TFC_VERSION "dev"
#endif

enum { MAX_FILE = 256 << 20, MAX_DEFINES = 256, MAX_INPUTS = 64 };

static const char *usage_main =
    "usage: tfc COMMAND [options]\n"
    "\n"
    "tfc compiles transformer models written in the .tfm language into a graph IR,\n"
    "optimizes it, and runs it.\n"
    "\n"
    "commands:\n"
    "  compile FILE.tfm   check and lower a model; print its AST or IR\n"
    "  opt FILE.tfir      read IR, run passes, print IR\n"
    "  run FILE           run a model (.tfm or .tfir) on .npy inputs\n"
    "  passes             list the optimization passes\n"
    "\n"
    "  tfc COMMAND --help    options of one command\n"
    "  tfc --version         print the version\n"
    "\n"
    "examples:\n"
    "  tfc compile models/gpt2.tfm --emit=ir -D n_layer=2\n"
    "  tfc opt test.tfir --passes=cse,dce\n"
    "  tfc run models/gpt2.tfm -D n_layer=2 -D n_embd=64 -D n_head=4 -D vocab=256 \\\n"
    "      --target ref --input idx=idx.npy -o logits.npy\n";

static const char *usage_pass_flags =
    "pass options:\n"
    "  --passes=LIST         comma-separated passes to run (see `tfc passes`)\n"
    "  -O0                   run no pass;  -O1/-O2: the default pipeline\n"
    "  --print-after-all     print the IR after every pass\n"
    "  --print-after=LIST    print the IR after the named passes\n"
    "  --disable-pass=LIST   skip the named passes\n"
    "  --time-passes         print how long each pass took (stderr)\n"
    "  --verify-each         verify the IR after every pass (always on in tests)\n";

static const char *usage_compile =
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
    "  --grad          also derive @forward_grad: the loss (the model's first output,\n"
    "                  a scalar) and its gradient for every weight (autodiff)\n"
    "  -o OUT          write the output to OUT instead of standard output\n";

static const char *usage_opt =
    "usage: tfc opt FILE.tfir [-o OUT] [pass options]\n"
    "\n"
    "Reads a module in the IR's text form, runs passes on it and prints it. With no\n"
    "pass given it runs none and prints its input unchanged (in canonical form).\n";

static const char *usage_run =
    "usage: tfc run FILE [-D name=value]... [--model NAME] --target ref\n"
    "               [--weights W.safetensors] [--seed N] --input NAME=FILE.npy...\n"
    "               [-o OUT.npy] [pass options]\n"
    "\n"
    "Runs the model's forward function. FILE is a .tfm model or a .tfir module.\n"
    "Weights missing from --weights are drawn from the model's initialisers with\n"
    "--seed (default 0): the same seed draws the same weights on every target.\n"
    "Inputs and outputs are NumPy .npy files (f32 or i32, C order). With one output\n"
    "and -o, it is written to OUT.npy; with several, to OUT.0.npy, OUT.1.npy, ...\n"
    "Without -o, each output's shape and first values are printed.\n"
    "\n"
    "  --target ref    the reference interpreter (the only target so far)\n";

static int fail(const char *fmt, const char *a, const char *b) {
    fputs("tfc: error: ", stderr);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return 1;
}

/* Reads a whole file; NULL with a message on failure. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fail("cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_FILE) {
                fail("'%s' is larger than %s", path, "256 MiB");
                free(buf);
                if (f != stdin) fclose(f);
                return NULL;
            }
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    bool bad = ferror(f);
    if (f != stdin) fclose(f);
    if (bad) {
        fail("cannot read '%s'%s", path, "");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

typedef struct {
    const char *file, *out, *emit, *model, *target, *weights;
    FeDefine defines[MAX_DEFINES];
    int ndefines;
    const char *inputs[MAX_INPUTS];
    int ninputs;
    uint64_t seed;
    PassOptions passes;
    bool help, list_models, grad;
    bool pipeline_given; /* --passes or -O<n> seen */
} Args;

/* Matches "--name=value" or "--name value": 0 no match, 1 matched (value in *out),
 * -1 matched but the value is missing (reported). Advances *i past a separate value. */
static int flag_value(int argc, char **argv, int *i, const char *name, const char **out) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return 0;
    if (argv[*i][n] == '=') {
        *out = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != 0) return 0;
    if (*i + 1 >= argc) {
        fail("%s needs a value%s", name, "");
        return -1;
    }
    *out = argv[++*i];
    return 1;
}

static bool add_define(Args *a, const char *kv) {
    const char *eq = kv ? strchr(kv, '=') : NULL;
    if (!eq || eq == kv) return fail("-D needs name=value, got '%s'%s", kv ? kv : "", ""), false;
    if (a->ndefines == MAX_DEFINES) return fail("too many -D options%s%s", "", ""), false;
    char *name = xmalloc((size_t)(eq - kv) + 1);
    memcpy(name, kv, (size_t)(eq - kv));
    name[eq - kv] = 0;
    a->defines[a->ndefines++] = (FeDefine){name, eq + 1};
    return true;
}

static bool parse_seed(Args *a, const char *v) {
    char *end;
    errno = 0;
    unsigned long long seed = strtoull(v, &end, 10);
    if (*end || end == v || errno || v[0] == '-')
        return fail("--seed needs a non-negative integer, got '%s'%s", v, ""), false;
    a->seed = seed;
    return true;
}

static bool parse_args(int argc, char **argv, Args *a, const char *usage) {
    a->passes.dump = stdout;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i], *v = NULL;
        int m = 0;
        bool ok = true;
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            fputs(usage, stdout);
            a->help = true;
            return true;
        }
        if (strcmp(s, "-D") == 0) {
            ok = add_define(a, i + 1 < argc ? argv[++i] : NULL);
        } else if (strncmp(s, "-D", 2) == 0) {
            ok = add_define(a, s + 2);
        } else if (strcmp(s, "-o") == 0) {
            if (i + 1 >= argc) return fail("-o needs a file name%s%s", "", ""), false;
            a->out = argv[++i];
        } else if ((m = flag_value(argc, argv, &i, "--emit", &v))) {
            a->emit = v;
        } else if ((m = flag_value(argc, argv, &i, "--model", &v))) {
            a->model = v;
        } else if ((m = flag_value(argc, argv, &i, "--target", &v))) {
            a->target = v;
        } else if ((m = flag_value(argc, argv, &i, "--weights", &v))) {
            a->weights = v;
        } else if ((m = flag_value(argc, argv, &i, "--seed", &v))) {
            ok = m < 0 || parse_seed(a, v);
        } else if ((m = flag_value(argc, argv, &i, "--input", &v))) {
            if (m > 0 && !strchr(v, '='))
                return fail("--input needs NAME=FILE.npy, got '%s'%s", v, ""), false;
            if (a->ninputs == MAX_INPUTS) return fail("too many --input options%s%s", "", ""), false;
            if (m > 0) a->inputs[a->ninputs++] = v;
        } else if ((m = flag_value(argc, argv, &i, "--passes", &v))) {
            a->passes.passes = v;
            a->pipeline_given = true;
        } else if ((m = flag_value(argc, argv, &i, "--print-after", &v))) {
            a->passes.print_after = v;
        } else if ((m = flag_value(argc, argv, &i, "--disable-pass", &v))) {
            a->passes.disable = v;
        } else if (strcmp(s, "--print-after-all") == 0) {
            a->passes.print_after_all = true;
        } else if (strcmp(s, "--grad") == 0) {
            a->grad = true;
        } else if (strcmp(s, "--list-models") == 0) {
            a->list_models = true;
        } else if (strcmp(s, "--time-passes") == 0) {
            a->passes.time_passes = true;
        } else if (strcmp(s, "--verify-each") == 0) {
            a->passes.verify_each = true;
        } else if (strcmp(s, "-O0") == 0) {
            a->passes.passes = "";
            a->pipeline_given = true;
        } else if (strcmp(s, "-O1") == 0 || strcmp(s, "-O2") == 0) {
            a->passes.passes = NULL;
            a->pipeline_given = true;
        } else if (s[0] == '-' && s[1] != 0) {
            return fail("unknown option '%s' (see --help)%s", s, ""), false;
        } else if (!a->file) {
            a->file = s;
        } else {
            return fail("unexpected argument '%s' (one input file only)%s", s, ""), false;
        }
        if (m < 0 || !ok) return false;
    }
    if (!a->file) return fail("no input file (see --help)%s%s", "", ""), false;
    if (getenv("TFC_VERIFY_EACH")) a->passes.verify_each = true;
    return true;
}

static FILE *open_out(const char *path) {
    if (!path || strcmp(path, "-") == 0) return stdout;
    FILE *f = fopen(path, "w");
    if (!f) fail("cannot write '%s': %s", path, strerror(errno));
    return f;
}

static int close_out(FILE *f, const char *path) {
    if (f == stdout) return fflush(stdout) == 0 ? 0 : 1;
    if (fclose(f) != 0) return fail("cannot write '%s': %s", path, strerror(errno));
    return 0;
}

static bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Loads FILE as a module: .tfir through the IR parser, anything else as .tfm. */
static IrModule *load_module(const Args *a) {
    size_t len;
    char *src = read_file(a->file, &len);
    if (!src) return NULL;
    Diag d;
    diag_init(&d, a->file, src, len, stderr);
    IrModule *m;
    if (has_suffix(a->file, ".tfir")) {
        if (a->ndefines) fprintf(stderr, "tfc: warning: -D has no effect on a .tfir file\n");
        m = ir_parse(src, len, &d);
    } else {
        m = fe_compile_model(a->file, src, len, a->defines, a->ndefines, a->model, &d);
    }
    free(src);
    return m;
}

static bool run_passes(IrModule *m, Args *a) {
    char err[512];
    if (!pass_run_pipeline(m, &a->passes, err, sizeof err)) {
        fail("%s%s", err, "");
        return false;
    }
    return true;
}

static int cmd_compile(Args *a) {
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
    IrModule *m = load_module(a);
    if (!m) return 1;
    int rc = 0;
    if (a->grad) {
        char err[512];
        IrFunc *fwd = ir_module_find_func(m, "forward");
        if (!fwd || !ad_build_grad_func(fwd, 0, err, sizeof err)) {
            fail("%s%s", fwd ? err : "the module has no @forward to differentiate", "");
            ir_module_destroy(m);
            return 1;
        }
    }
    if (!run_passes(m, a)) {
        rc = 1;
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

static int cmd_opt(Args *a) {
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

static int cmd_passes(void) {
    for (int i = 0; i < pass_count(); i++)
        printf("  %-16s %s\n", pass_info(i)->name, pass_info(i)->desc);
    printf("default pipeline: %s\n", pass_default_pipeline());
    return 0;
}

static void print_preview(const char *name, const Tensor *t) {
    char shape[128];
    printf("%s: %s", name, tensor_shape_str(t, shape, sizeof shape));
    int64_t n = tensor_numel(t);
    printf(" [");
    for (int64_t i = 0; i < n && i < 8; i++) {
        if (t->dtype == DT_F32)
            printf(i ? ", %.6g" : "%.6g", ((const float *)t->data)[i]);
        else
            printf(i ? ", %d" : "%d", ((const int32_t *)t->data)[i]);
    }
    printf("%s]\n", n > 8 ? ", ..." : "");
}

static int cmd_run(Args *a) {
    char terr[256];
    if (a->target && !rt_target_exists(a->target, terr, sizeof terr)) return fail("%s%s", terr, "");
    IrModule *m = load_module(a);
    if (!m) return 1;
    int rc = 1;
    RtNamedTensor inputs[MAX_INPUTS] = {{0}};
    int ninputs = 0;
    RtOutputs outs = {0};
    char err[1024];
    if (!run_passes(m, a)) goto done;
    for (int i = 0; i < a->ninputs; i++) {
        const char *eq = strchr(a->inputs[i], '=');
        char *name = xmalloc((size_t)(eq - a->inputs[i]) + 1);
        memcpy(name, a->inputs[i], (size_t)(eq - a->inputs[i]));
        name[eq - a->inputs[i]] = 0;
        inputs[ninputs].name = name;
        inputs[ninputs].tensor = rt_npy_read(eq + 1, err, sizeof err);
        ninputs++;
        if (!inputs[ninputs - 1].tensor) {
            fail("%s%s", err, "");
            goto done;
        }
    }
    RtRunOptions ro = {.func = "forward", .weights_path = a->weights, .seed = a->seed,
                       .target = a->target ? a->target : "ref"};
    if (!rt_model_run(m, &ro, inputs, ninputs, &outs, err, sizeof err)) {
        fail("%s%s", err, "");
        goto done;
    }
    rc = 0;
    for (int i = 0; i < outs.n && rc == 0; i++) {
        if (!a->out) {
            print_preview(outs.names[i], outs.tensors[i]);
            continue;
        }
        char path[4096];
        if (outs.n == 1) {
            snprintf(path, sizeof path, "%s", a->out);
        } else {
            size_t k = strlen(a->out);
            if (has_suffix(a->out, ".npy")) k -= 4;
            snprintf(path, sizeof path, "%.*s.%d.npy", (int)k, a->out, i);
        }
        if (!rt_npy_write(path, outs.tensors[i], err, sizeof err)) rc = fail("%s%s", err, "");
    }
done:
    for (int i = 0; i < ninputs; i++) {
        free((char *)inputs[i].name);
        tensor_destroy(inputs[i].tensor);
    }
    rt_outputs_free(&outs);
    ir_module_destroy(m);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("tfc %s\n", TFC_VERSION);
        return 0;
    }
    const char *cmd = argv[1];
    static char usage[4096];
    const char *base = strcmp(cmd, "compile") == 0 ? usage_compile
                       : strcmp(cmd, "opt") == 0   ? usage_opt
                       : strcmp(cmd, "run") == 0   ? usage_run
                                                   : NULL;
    if (strcmp(cmd, "passes") == 0) return cmd_passes();
    if (!base) return fail("unknown command '%s' (commands: compile, opt, run, passes; see tfc --help)", cmd, "");
    snprintf(usage, sizeof usage, "%s\n%s", base, usage_pass_flags);
    Args a = {0};
    bool ok = parse_args(argc - 2, argv + 2, &a, usage);
    int rc;
    if (!ok) rc = 1;
    else if (a.help) rc = 0;
    else if (strcmp(cmd, "compile") == 0) rc = cmd_compile(&a);
    else if (strcmp(cmd, "opt") == 0) rc = cmd_opt(&a);
    else rc = cmd_run(&a);
    for (int i = 0; i < a.ndefines; i++) free((char *)a.defines[i].name);
    return rc;
}
