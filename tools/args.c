/* args.c — the driver's flags (parse_args), reading files, loading a module (.tfm,
 * .tfir or a .tfcv artifact), running the pass pipeline, and reporting user errors. */
#include "driver.h"

const char *usage_pass_flags =
    "pass options:\n"
    "  --passes=LIST         comma-separated passes to run (see `tfc passes`)\n"
    "  -O0                   run no pass;  -O1/-O2: the default pipeline\n"
    "  --print-after-all     print the IR after every pass\n"
    "  --print-after=LIST    print the IR after the named passes\n"
    "  --disable-pass=LIST   skip the named passes\n"
    "  --time-passes         print how long each pass took (stderr)\n"
    "  --verify-each         verify the IR after every pass (always on in tests)\n";
int fail(const char *fmt, const char *a, const char *b) {
    fputs("tfc: error: ", stderr);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return 1;
}

/* Reads a whole file; NULL with a message on failure. */
char *read_file(const char *path, size_t *len) {
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
/* Matches "--name=value" or "--name value": 0 no match, 1 matched (value in *out),
 * -1 matched but the value is missing (reported). Advances *i past a separate value. */
int flag_value(int argc, char **argv, int *i, const char *name, const char **out) {
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

bool parse_args(int argc, char **argv, Args *a, const char *usage) {
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

FILE *open_out(const char *path) {
    if (!path || strcmp(path, "-") == 0) return stdout;
    FILE *f = fopen(path, "w");
    if (!f) fail("cannot write '%s': %s", path, strerror(errno));
    return f;
}

int close_out(FILE *f, const char *path) {
    if (f == stdout) return fflush(stdout) == 0 ? 0 : 1;
    if (fclose(f) != 0) return fail("cannot write '%s': %s", path, strerror(errno));
    return 0;
}

bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Loads FILE as a module: .tfir through the IR parser, anything else as .tfm. */
IrModule *load_module(const Args *a) {
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

bool run_passes(IrModule *m, Args *a) {
    char err[512];
    if (!pass_run_pipeline(m, &a->passes, err, sizeof err)) {
        fail("%s%s", err, "");
        return false;
    }
    return true;
}

/* --device N: -1 (the best device) when not given; false with a message when bad. */
bool parse_device(const Args *a, int *dev) {
    *dev = -1;
    if (!a->device) return true;
    char *end;
    long d = strtol(a->device, &end, 10);
    if (*end || end == a->device || d < 0 || d > 1000)
        return fail("--device needs a device number (see `tfc devices`), got '%s'%s", a->device, ""), false;
    *dev = (int)d;
    return true;
}

bool is_artifact(const char *path) {
#ifdef TFC_HAVE_VULKAN
    return has_suffix(path, ".tfcv") || vk_is_artifact(path);
#else
    return has_suffix(path, ".tfcv");
#endif
}
