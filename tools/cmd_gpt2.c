/* cmd_gpt2.c — GPT-2 at the command line: `tfc generate` (streaming, KV cache),
 * `tfc tokenize` and `tfc detokenize`. */
#include "driver.h"

static const char *usage_tokenize =
    "usage: tfc tokenize --tokenizer DIR (TEXT | -)\n"
    "       tfc detokenize --tokenizer DIR (ID... | -)\n"
    "\n"
    "tokenize prints the GPT-2 token ids of TEXT (or of standard input with -) on one\n"
    "line, separated by spaces; detokenize writes the bytes of the ids (read from\n"
    "standard input, separated by white space, with -). DIR holds\n"
    "encoder.json and vocab.bpe (scripts/fetch-tokenizer.sh puts them in data/gpt2).\n";

int cmd_tokenize(int argc, char **argv, bool decode) {
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
const char *usage_generate =
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

int cmd_generate(Args *a, bool ids_only) {
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
