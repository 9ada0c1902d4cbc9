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
#include "passes/memplan.h"
#include "passes/passes.h"
#include "runtime/bpe.h"
#include "runtime/generate.h"
#include "runtime/hf_config.h"
#include "runtime/conform.h"
#include "runtime/model_run.h"
#include "runtime/npy.h"
#include "runtime/targets.h"
#ifdef TFC_HAVE_VULKAN
#include "backends/vulkan/vk.h"
#endif
#include "runtime/train.h"

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
    "  devices            list the Vulkan devices and their limits\n"
    "  train SCRIPT       train a model from a training script (docs/training.md)\n"
    "  generate FILE.tfm  continue a prompt, streaming the text (GPT-2, KV cache)\n"
    "  tokenize           text to GPT-2 token ids;  detokenize: ids to text\n"
    "  conform --target T compare a backend with the reference, op by op and on GPT-2\n"
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
    "  --stats         print kernels, FLOPs, bytes moved and planned peak memory of\n"
    "                  every function, before and after the passes (needs --dims)\n"
    "  --dims B=4,T=64 sizes of the symbolic dims for --stats\n"
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
    "               [--config config.json] [-o OUT.npy] [pass options]\n"
    "\n"
    "Runs the model's forward function. FILE is a .tfm model or a .tfir module.\n"
    "Weights missing from --weights are drawn from the model's initialisers with\n"
    "--seed (default 0): the same seed draws the same weights on every target.\n"
    "Inputs and outputs are NumPy .npy files (f32 or i32, C order). With one output\n"
    "and -o, it is written to OUT.npy; with several, to OUT.0.npy, OUT.1.npy, ...\n"
    "Without -o, each output's shape and first values are printed.\n"
    "\n"
    "  --target ref    the reference interpreter (default)\n"
    "  --target cpu    LLVM-compiled kernels on a thread pool (docs/cpu-backend.md)\n"
    "  --threads N     cpu: worker threads (default: all cores)\n"
    "  --profile       print a per-kernel time table\n"
    "  --config FILE   a Hugging Face config.json: its n_layer, n_head, n_embd,\n"
    "                  vocab_size, n_positions become -D overrides (a -D given wins),\n"
    "                  and --weights must then hold exactly the model's weights\n"
    "                  (HF's attn.bias buffers are ignored)\n"
    "  --grad          run @forward_grad instead (autodiff, docs/autodiff.md): the\n"
    "                  loss (the model's first output, a scalar) then the gradient\n"
    "                  of every float weight, in the module's weight order\n";

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
    const char *file, *out, *emit, *model, *target, *weights, *config;
    FeDefine defines[MAX_DEFINES];
    int ndefines;
    const char *inputs[MAX_INPUTS];
    int ninputs;
    uint64_t seed;
    const char *tokenizer, *prompt, *prompt_ids, *max_new, *temperature, *top_k; /* generate */
    bool no_cache;
    PassOptions passes;
    bool help, list_models, grad, stats;
    const char *dims; /* --dims B=4,T=64 for --stats */
    bool profile;       /* --profile: per-kernel times (run) */
    int threads;        /* --threads N: backend worker threads (0: all cores) */
    const char *device; /* --device N: Vulkan device index (see `tfc devices`) */
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
        } else if ((m = flag_value(argc, argv, &i, "--config", &v))) {
            a->config = v;
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
        } else if (strcmp(s, "--stats") == 0) {
            a->stats = true;
        } else if ((m = flag_value(argc, argv, &i, "--dims", &v))) {
            a->dims = v;
        } else if ((m = flag_value(argc, argv, &i, "--tokenizer", &v))) {
            a->tokenizer = v;
        } else if (strcmp(s, "-p") == 0 || strcmp(s, "--prompt") == 0 || strncmp(s, "--prompt=", 9) == 0) {
            if (s[2] == '=' || s[8] == '=') a->prompt = strchr(s, '=') + 1;
            else if (i + 1 >= argc) return fail("%s needs the prompt text%s", s, ""), false;
            else a->prompt = argv[++i];
        } else if (strcmp(s, "-n") == 0) {
            if (i + 1 >= argc) return fail("-n needs a number of tokens%s%s", "", ""), false;
            a->max_new = argv[++i];
        } else if ((m = flag_value(argc, argv, &i, "--temperature", &v))) {
            a->temperature = v;
        } else if ((m = flag_value(argc, argv, &i, "--top-k", &v))) {
            a->top_k = v;
        } else if ((m = flag_value(argc, argv, &i, "--prompt-ids", &v))) {
            a->prompt_ids = v;
        } else if (strcmp(s, "--no-cache") == 0) {
            a->no_cache = true;
        } else if ((m = flag_value(argc, argv, &i, "--device", &v))) {
            a->device = v;
        } else if (strcmp(s, "--profile") == 0) {
            a->profile = true;
        } else if ((m = flag_value(argc, argv, &i, "--threads", &v))) {
            char *end;
            long n = m > 0 ? strtol(v, &end, 10) : 0;
            if (m > 0 && (*end || end == v || n < 1 || n > 256))
                return fail("--threads needs a number of threads in 1..256, got '%s'%s", v, ""), false;
            a->threads = (int)n;
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
#ifdef TFC_HAVE_VULKAN
    if (has_suffix(a->file, ".tfcv") || vk_is_artifact(a->file)) { /* a compiled artifact */
        char err[1024];
        IrModule *am = vk_artifact_load_module(a->file, err, sizeof err);
        if (!am) fail("%s%s", err, "");
        return am;
    }
#endif
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
        /* --config: the checkpoint's sizes as -D overrides; a -D given by hand wins. */
        FeDefine defs[MAX_DEFINES + RT_HF_CONFIG_MAX];
        int ndefs = 0;
        RtHfConfig cfg = {0};
        char err[1024];
        if (a->config && !rt_hf_config_read(a->config, &cfg, err, sizeof err)) {
            fail("%s%s", err, "");
            free(src);
            return NULL;
        }
        for (int i = 0; i < cfg.n; i++) {
            bool given = false;
            for (int k = 0; k < a->ndefines; k++) given |= strcmp(a->defines[k].name, cfg.names[i]) == 0;
            if (!given) defs[ndefs++] = (FeDefine){cfg.names[i], cfg.values[i]};
        }
        for (int k = 0; k < a->ndefines; k++) defs[ndefs++] = a->defines[k];
        m = fe_compile_model(a->file, src, len, defs, ndefs, a->model, &d);
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

/* --device N: -1 (the best device) when not given; false with a message when bad. */
static bool parse_device(const Args *a, int *dev) {
    *dev = -1;
    if (!a->device) return true;
    char *end;
    long d = strtol(a->device, &end, 10);
    if (*end || end == a->device || d < 0 || d > 1000)
        return fail("--device needs a device number (see `tfc devices`), got '%s'%s", a->device, ""), false;
    *dev = (int)d;
    return true;
}

static bool is_artifact(const char *path) {
#ifdef TFC_HAVE_VULKAN
    return has_suffix(path, ".tfcv") || vk_is_artifact(path);
#else
    return has_suffix(path, ".tfcv");
#endif
}

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

static int cmd_devices(void) {
#ifdef TFC_HAVE_VULKAN
    char err[1024];
    if (!vk_list_devices(stdout, err, sizeof err)) return fail("%s%s", err, "");
    return 0;
#else
    return fail("this tfc was built without the Vulkan backend (-DTFC_VULKAN=OFF)%s%s", "", "");
#endif
}

/* --stats: the counts of every function (at most max) for the dims of --dims. */
static bool collect_stats(IrModule *m, const Args *a, DimValue *dims, int *ndims, FuncStats *st,
                          int max) {
    char err[256];
    if (!a->dims) return fail("--stats needs --dims, e.g. --dims B=4,T=64%s%s", "", ""), false;
    if (!mp_parse_dims(a->dims, dims, IR_MAX_RANK * 2, ndims, err, sizeof err))
        return fail("%s%s", err, ""), false;
    int i = 0;
    for (IrFunc *f = m->funcs; f && i < max; f = f->next, i++)
        if (!mp_stats(f, dims, *ndims, &st[i], err, sizeof err))
            return fail("@%s: %s", f->name, err), false;
    return true;
}

static int print_stats(IrModule *m, const DimValue *dims, int ndims, const FuncStats *before, int max) {
    FuncStats after[16];
    char err[256];
    printf("%-22s %-7s %9s %16s %16s %16s\n", "function", "", "kernels", "FLOPs", "bytes moved", "peak bytes");
    int64_t peak = 0;
    int i = 0;
    for (IrFunc *f = m->funcs; f && i < max; f = f->next, i++) {
        if (!mp_stats(f, dims, ndims, &after[i], err, sizeof err)) return fail("@%s: %s", f->name, err);
        const FuncStats *s[2] = {&before[i], &after[i]};
        for (int k = 0; k < 2; k++)
            printf("@%-21s %-7s %9lld %16.0f %16.0f %16lld\n", f->name, k ? "after" : "before",
                   (long long)s[k]->kernels, s[k]->flops, s[k]->bytes_moved, (long long)s[k]->peak);
        if (after[i].peak > peak) peak = after[i].peak;
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

static int cmd_compile(Args *a) {
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
    IrModule *m = NULL;
    if (is_training_script(a->file)) {
        /* The whole step of a training script: @forward, @loss and @train_step, whose
         * backward pass --grad would otherwise add. */
        char err[1024] = "";
        RtTrainOptions to = {.script = a->file, .compiled = &m};
        if (!rt_train(&to, err, sizeof err)) return *err ? fail("%s%s", err, "") : 1;
        a->grad = false;
    } else {
        m = load_module(a);
    }
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
    enum { MAX_FUNCS = 16 };
    FuncStats before[MAX_FUNCS];
    DimValue dims[IR_MAX_RANK * 2];
    int ndims = 0;
    if (a->stats && !collect_stats(m, a, dims, &ndims, before, MAX_FUNCS)) {
        ir_module_destroy(m);
        return 1;
    }
    if (!run_passes(m, a)) {
        rc = 1;
    } else if (a->stats) {
        rc = print_stats(m, dims, ndims, before, MAX_FUNCS);
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

static const char *usage_conform =
    "usage: tfc conform --target ref|cpu|vulkan [--threads N] [--models DIR] [--filter TEXT]\n"
    "\n"
    "Runs every op on random inputs of awkward shapes, and GPT-2 tiny graphs (forward,\n"
    "backward, a training step), on the target and on the reference interpreter, and\n"
    "compares them within the tolerance each case states (runtime/conform.c). Prints one\n"
    "line per case, then `N passed, M failed`; exits 1 if any case failed.\n"
    "\n"
    "  --models DIR   where gpt2.tfm is (default: models)\n"
    "  --filter TEXT  only the cases whose name contains TEXT\n";

static int cmd_conform(int argc, char **argv) {
    RtConformOptions o = {.target = NULL};
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        int m = 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_conform, stdout);
            return 0;
        } else if ((m = flag_value(argc, argv, &i, "--target", &v))) {
            o.target = v;
        } else if ((m = flag_value(argc, argv, &i, "--models", &v))) {
            o.models_dir = v;
        } else if ((m = flag_value(argc, argv, &i, "--filter", &v))) {
            o.filter = v;
        } else if ((m = flag_value(argc, argv, &i, "--threads", &v))) {
            o.backend.threads = m > 0 ? atoi(v) : 0;
            if (m > 0 && (o.backend.threads < 1 || o.backend.threads > 256))
                return fail("--threads needs a number of threads in 1..256, got '%s'%s", v, "");
        } else {
            return fail("unknown option '%s' (see tfc conform --help)%s", argv[i], "");
        }
        if (m < 0) return 1;
    }
    if (!o.target) return fail("conform needs --target NAME (see tfc conform --help)%s%s", "", "");
    char err[256];
    if (!rt_target_exists(o.target, err, sizeof err)) return fail("%s%s", err, "");
    o.backend.device = -1;
    return rt_conform(&o, stdout) == 0 ? 0 : 1;
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
    bool artifact = is_artifact(a->file); /* already optimized: no passes */
    int dev;
    if (!parse_device(a, &dev)) goto done;
    if (a->grad) { /* the loss and every weight's gradient, as `tfc compile --grad` builds them */
        IrFunc *fwd = artifact ? NULL : ir_module_find_func(m, "forward");
        if (!fwd || !ad_build_grad_func(fwd, 0, err, sizeof err)) {
            fail("%s%s", fwd ? err : "--grad needs a .tfm model with a @forward to differentiate", "");
            goto done;
        }
    }
    if (!artifact && !run_passes(m, a)) goto done;
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
    RtRunOptions ro = {.func = a->grad ? "forward_grad" : "forward", .weights_path = a->weights, .seed = a->seed,
                       .strict_weights = a->config != NULL,
                       .target = a->target ? a->target : artifact ? "vulkan" : "ref"};
    ro.backend = (BkOptions){.device = dev, .profile = a->profile, .threads = a->threads,
                             .artifact = artifact ? a->file : NULL};
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

/* ---- tokenize, detokenize: GPT-2 BPE (runtime/bpe.h) ---- */

static const char *usage_tokenize =
    "usage: tfc tokenize --tokenizer DIR (TEXT | -)\n"
    "       tfc detokenize --tokenizer DIR (ID... | -)\n"
    "\n"
    "tokenize prints the GPT-2 token ids of TEXT (or of standard input with -) on one\n"
    "line, separated by spaces; detokenize writes the bytes of the ids (read from\n"
    "standard input, separated by white space, with -). DIR holds\n"
    "encoder.json and vocab.bpe (scripts/fetch-tokenizer.sh puts them in data/gpt2).\n";

static int cmd_tokenize(int argc, char **argv, bool decode) {
    const char *dir = NULL, *text = NULL;
    const char **ids_arg = xcalloc((size_t)argc + 1, sizeof *ids_arg);
    int nids = 0, rc = 0;
    for (int i = 0; i < argc && rc == 0; i++) {
        const char *v = NULL;
        int m;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_tokenize, stdout);
            free(ids_arg);
            return 0;
        }
        if ((m = flag_value(argc, argv, &i, "--tokenizer", &v))) {
            if (m < 0) rc = 1;
            dir = v;
        } else if (argv[i][0] == '-' && argv[i][1] && !(decode && argv[i][1] >= '0' && argv[i][1] <= '9')) {
            rc = fail("unknown option '%s' (see --help)%s", argv[i], "");
        } else if (decode) {
            ids_arg[nids++] = argv[i];
        } else if (text) {
            rc = fail("unexpected argument '%s' (one TEXT, or - for standard input)%s", argv[i], "");
        } else {
            text = argv[i];
        }
    }
    if (rc == 0 && !dir) rc = fail("--tokenizer DIR is required (the folder of encoder.json and vocab.bpe)%s%s", "", "");
    if (rc == 0 && !decode && !text) rc = fail("no TEXT given (use - for standard input)%s%s", "", "");
    char err[1024];
    RtBpe *tok = rc == 0 ? rt_bpe_load(dir, err, sizeof err) : NULL;
    if (rc == 0 && !tok) rc = fail("%s%s", err, "");
    char *stdin_ids = NULL; /* detokenize -: the ids come from standard input */
    if (rc == 0 && decode && nids == 1 && strcmp(ids_arg[0], "-") == 0) {
        size_t len;
        if (!(stdin_ids = read_file("-", &len))) rc = 1;
        nids = 0;
        for (char *t = strtok(stdin_ids ? stdin_ids : "", " \t\r\n"); t; t = strtok(NULL, " \t\r\n")) {
            if (nids == argc) ids_arg = xrealloc(ids_arg, sizeof *ids_arg * (size_t)(argc = 2 * argc + 16));
            ids_arg[nids++] = t;
        }
    }
    if (rc == 0 && decode) {
        for (int i = 0; i < nids && rc == 0; i++) {
            char *end;
            errno = 0;
            long id = strtol(ids_arg[i], &end, 10);
            size_t n = 0;
            const char *bytes = *end || end == ids_arg[i] || errno || id < 0 || id > 0x7fffffff
                                    ? NULL : rt_bpe_token(tok, (int32_t)id, &n);
            if (!bytes) {
                fflush(stdout);
                snprintf(err, sizeof err, "%d", rt_bpe_vocab_size(tok) - 1);
                rc = fail("'%s' is not a token id (ids are 0 to %s)", ids_arg[i], err);
            } else {
                fwrite(bytes, 1, n, stdout);
            }
        }
    } else if (rc == 0) {
        size_t len = strlen(text);
        char *buf = strcmp(text, "-") == 0 ? read_file("-", &len) : NULL;
        RtIds ids = {0};
        if (strcmp(text, "-") == 0 && !buf) rc = 1;
        else if (!rt_bpe_encode(tok, buf ? buf : text, len, &ids, err, sizeof err)) rc = fail("%s%s", err, "");
        for (size_t i = 0; rc == 0 && i < ids.n; i++) printf(i ? " %d" : "%d", ids.v[i]);
        if (rc == 0) putchar('\n');
        rt_ids_free(&ids);
        free(buf);
    }
    rt_bpe_destroy(tok);
    free(ids_arg);
    free(stdin_ids);
    if (fflush(stdout) != 0 && rc == 0) rc = fail("cannot write the output%s%s", "", "");
    return rc;
}

/* ---- generate ---- */

static const char *usage_generate =
    "usage: tfc generate FILE.tfm --weights W.safetensors [--config config.json]\n"
    "                    --tokenizer DIR -p PROMPT [-n 100] [--temperature 0.8]\n"
    "                    [--top-k 40] [--seed N] [--target ref|cpu|vulkan] [-D name=value]...\n"
    "\n"
    "Writes PROMPT's continuation as it is produced, one token at a time. Each new token\n"
    "costs one position: the model NAME_decode of FILE (gpt2_decode in models/gpt2.tfm)\n"
    "runs one token with a KV cache (docs/generation.md). Without --weights, weights are\n"
    "drawn from the initialisers with --seed.\n"
    "\n"
    "  -p, --prompt TEXT    the prompt (- reads it from standard input)\n"
    "  -n N                 new tokens (default 100); fewer if the model writes <|endoftext|>\n"
    "  --temperature T      0: always the most likely token (greedy); default 0.8\n"
    "  --top-k K            sample among the K most likely tokens (default 40; 0: all)\n"
    "  --seed N             sampling seed (and initialiser seed; default 0)\n"
    "  --model NAME         the whole-sequence model (default: the file's last); its\n"
    "                       decode model is NAME_decode\n"
    "  --no-cache           rerun NAME on the whole prefix for every token (slow; a check)\n"
    "  --ids                print the new token ids on one line instead of the text\n"
    "  --prompt-ids \"ID ...\" the prompt as token ids (with --ids, no tokenizer needed)\n";

typedef struct {
    RtBpe *tok;
    bool ids;
    int count;
} GenPrint;

static void print_token(int32_t id, void *user) {
    GenPrint *g = user;
    size_t n;
    const char *s = g->ids ? NULL : rt_bpe_token(g->tok, id, &n);
    if (g->ids) printf(g->count ? " %d" : "%d", id);
    else if (s) fwrite(s, 1, n, stdout);
    g->count++;
    fflush(stdout);
}

static bool parse_number(const char *flag, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = v ? strtod(v, &end) : 0;
    if (!v) return true;
    if (*end || end == v || errno || !(x >= lo && x <= hi)) {
        char range[64];
        snprintf(range, sizeof range, "a number from %g to %g, got '%s'", lo, hi, v);
        return fail("%s needs %s", flag, range), false;
    }
    *out = x;
    return true;
}

static int cmd_generate(Args *a, bool ids_only) {
    char err[1024];
    double max_new = 100, temp = 0.8, top_k = 40;
    if (!parse_number("-n", a->max_new, 0, 1 << 20, &max_new) ||
        !parse_number("--temperature", a->temperature, 0, 100, &temp) ||
        !parse_number("--top-k", a->top_k, 0, 1 << 24, &top_k))
        return 1;
    if (max_new != (int)max_new || top_k != (int)top_k)
        return fail("-n and --top-k need whole numbers%s%s", "", "");
    if (!a->tokenizer && !(a->prompt_ids && ids_only))
        return fail("--tokenizer DIR is required (see scripts/fetch-tokenizer.sh)%s%s", "", "");
    if (!a->prompt == !a->prompt_ids) return fail("give the prompt as -p TEXT or as --prompt-ids \"ID ...\"%s%s", "", "");
    if (a->target && !rt_target_exists(a->target, err, sizeof err)) return fail("%s%s", err, "");
    RtBpe *tok = a->tokenizer ? rt_bpe_load(a->tokenizer, err, sizeof err) : NULL;
    if (a->tokenizer && !tok) return fail("%s%s", err, "");
    int rc = 1;
    RtIds prompt = {0};
    for (const char *p = a->prompt_ids; p && *p;) {
        char *end;
        errno = 0;
        long id = strtol(p, &end, 10);
        if (end == p || errno || id < 0 || id > 0x7fffffff || (*end && *end != ' ' && *end != ',')) {
            fail("--prompt-ids needs token ids separated by spaces, got '%s'%s", a->prompt_ids, "");
            rt_bpe_destroy(tok);
            rt_ids_free(&prompt);
            return 1;
        }
        rt_ids_push(&prompt, (int32_t)id);
        for (p = end; *p == ' ' || *p == ','; p++) {}
    }
    IrModule *full = NULL, *decode = NULL;
    RtIds out = {0};
    char *text = NULL;
    size_t len = a->prompt ? strlen(a->prompt) : 0;
    if (a->prompt && strcmp(a->prompt, "-") == 0 && !(text = read_file("-", &len))) goto done;
    if (a->prompt && !rt_bpe_encode(tok, text ? text : a->prompt, len, &prompt, err, sizeof err)) {
        fail("%s%s", err, "");
        goto done;
    }
    int32_t eot = tok ? rt_bpe_lookup(tok, "<|endoftext|>", 13) : -1;
    if (prompt.n == 0 && eot >= 0) rt_ids_push(&prompt, eot); /* GPT-2 starts texts so */
    if (!(full = load_module(a)) || !run_passes(full, a)) goto done;
    if (!a->no_cache) {
        char name[256];
        snprintf(name, sizeof name, "%s_decode", full->name);
        const char *saved = a->model;
        a->model = name;
        decode = load_module(a);
        a->model = saved;
        if (!decode || !run_passes(decode, a)) goto done;
    }
    if (!ids_only && a->prompt) {
        fwrite(text ? text : a->prompt, 1, len, stdout);
        fflush(stdout);
    }
    GenPrint gp = {tok, ids_only, 0};
    RtGenerateOptions o = {.decode = decode, .full = full, .no_cache = a->no_cache,
                           .weights_path = a->weights, .strict_weights = a->config != NULL,
                           .init_seed = a->seed, .warn = stderr, .target = a->target,
                           .max_new = (int)max_new, .temperature = (float)temp,
                           .top_k = (int)top_k, .seed = a->seed, .stop_id = eot,
                           .on_token = print_token, .user = &gp};
    if (!rt_generate(&o, prompt.v, prompt.n, &out, err, sizeof err)) {
        fflush(stdout);
        fputc('\n', stdout);
        fail("%s%s", err, "");
        goto done;
    }
    putchar('\n');
    rc = fflush(stdout) == 0 ? 0 : fail("cannot write the output%s%s", "", "");
done:
    rt_ids_free(&prompt);
    rt_ids_free(&out);
    free(text);
    if (full) ir_module_destroy(full);
    if (decode) ir_module_destroy(decode);
    rt_bpe_destroy(tok);
    return rc;
}

/* ---- train: runtime/train.h does the work ---- */

static const char *usage_train =
    "usage: tfc train SCRIPT [--target ref|cpu] [--steps N] [--seed N] [--save CKPT]\n"
    "                 [--resume CKPT] [--metrics FILE] [--threads N] [--export DIR]\n"
    "\n"
    "Trains the model a training script names (docs/training.md): forward, loss,\n"
    "backward and optimizer compiled into one step, run --steps times. The last line\n"
    "is `final: step=N train_loss=X val_loss=Y [val_acc=Z] baseline=B`.\n"
    "\n"
    "  --steps N        train to step N (default: the script's steps)\n"
    "  --seed N         initial weights, data order and samples (default: the script's)\n"
    "  --save CKPT      checkpoint path (default: the script's `save`)\n"
    "  --resume CKPT    continue from a checkpoint, bit for bit as if never stopped\n"
    "  --metrics FILE   JSONL, one object per step (default: runs/NAME/metrics.jsonl);\n"
    "                   the loss plot goes beside it (FILE with .svg)\n"
    "  --threads N      backend threads\n"
    "  --export DIR     at the end, write DIR/model.safetensors + DIR/config.json, a\n"
    "                   Hugging Face GPT-2 for tfc run/generate --config (default: the\n"
    "                   script's `export`)\n";

static int cmd_train(int argc, char **argv) {
    RtTrainOptions o = {0};
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i], *v = NULL;
        int m = 0;
        char *end = NULL;
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            fputs(usage_train, stdout);
            return 0;
        }
        if ((m = flag_value(argc, argv, &i, "--target", &v)) > 0) o.target = v;
        else if ((m = flag_value(argc, argv, &i, "--save", &v)) > 0) o.save = v;
        else if ((m = flag_value(argc, argv, &i, "--resume", &v)) > 0) o.resume = v;
        else if ((m = flag_value(argc, argv, &i, "--metrics", &v)) > 0) o.metrics = v;
        else if ((m = flag_value(argc, argv, &i, "--export", &v)) > 0) o.export_dir = v;
        else if ((m = flag_value(argc, argv, &i, "--steps", &v)) > 0 ||
                 (m = flag_value(argc, argv, &i, "--seed", &v)) > 0 ||
                 (m = flag_value(argc, argv, &i, "--threads", &v)) > 0) {
            errno = 0;
            unsigned long long n = strtoull(v, &end, 10);
            if (*end || end == v || errno || v[0] == '-' || n > (1ull << 40))
                return fail("%s needs a non-negative integer, got '%s'", argv[i - (argv[i] == v)], v);
            const char *flag = argv[i] == v ? argv[i - 1] : s;
            if (strncmp(flag, "--steps", 7) == 0) {
                if (n == 0) return fail("--steps must be at least 1%s%s", "", "");
                o.steps = (int64_t)n;
            } else if (strncmp(flag, "--seed", 6) == 0) {
                o.seed = n;
                o.seed_given = true;
            } else {
                o.threads = (int)n;
            }
        } else if (m < 0) {
            return 1;
        } else if (s[0] == '-' && s[1]) {
            return fail("unknown option '%s' (see tfc train --help)%s", s, "");
        } else if (!o.script) {
            o.script = s;
        } else {
            return fail("unexpected argument '%s' (one training script only)%s", s, "");
        }
    }
    if (!o.script) return fail("no training script (see tfc train --help)%s%s", "", "");
    char err[2048];
    if (!rt_train(&o, err, sizeof err)) {
        if (*err) fail("%s%s", err, "");
        return 1;
    }
    return 0;
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
                       : strcmp(cmd, "generate") == 0 ? usage_generate
                                                   : NULL;
    if (strcmp(cmd, "passes") == 0) return cmd_passes();
    if (strcmp(cmd, "conform") == 0) return cmd_conform(argc - 2, argv + 2);
    if (strcmp(cmd, "devices") == 0) return cmd_devices();
    if (strcmp(cmd, "train") == 0) return cmd_train(argc - 2, argv + 2);
    if (strcmp(cmd, "tokenize") == 0 || strcmp(cmd, "detokenize") == 0)
        return cmd_tokenize(argc - 2, argv + 2, strcmp(cmd, "detokenize") == 0);
    if (!base) return fail("unknown command '%s' (commands: compile, opt, run, train, generate, tokenize, detokenize, conform, devices, passes; see tfc --help)", cmd, "");
    snprintf(usage, sizeof usage, "%s\n%s", base, usage_pass_flags);
    Args a = {0};
    bool ids_flag = false; /* generate --ids */
    for (int i = 2; i < argc; i++)
        if (strcmp(cmd, "generate") == 0 && strcmp(argv[i], "--ids") == 0) {
            ids_flag = true;
            memmove(&argv[i], &argv[i + 1], sizeof *argv * (size_t)(argc - i));
            argc--;
            break;
        }
    bool ok = parse_args(argc - 2, argv + 2, &a, usage);
    int rc;
    if (!ok) rc = 1;
    else if (a.help) rc = 0;
    else if (strcmp(cmd, "compile") == 0) rc = cmd_compile(&a);
    else if (strcmp(cmd, "opt") == 0) rc = cmd_opt(&a);
    else if (strcmp(cmd, "generate") == 0) rc = cmd_generate(&a, ids_flag);
    else rc = cmd_run(&a);
    for (int i = 0; i < a.ndefines; i++) free((char *)a.defines[i].name);
    return rc;
}
