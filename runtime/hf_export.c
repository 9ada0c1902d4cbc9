/* hf_export.c — writing a trained GPT-2 as model.safetensors + config.json (hf_export.h).
 *
 * The expected tensors are listed from the shapes of wte and wpe and the number of
 * h.N.ln_1.weight found; the module must hold exactly those (plus optim.* state, which
 * is skipped). Checking before writing means a model that is not GPT-2 never leaves a
 * half-written directory that `tfc run --config` would then refuse with a less direct
 * message.
 *
 * Decision a newcomer may question: config.json is printed with fprintf, not built with
 * cJSON: it is a dozen fixed keys, and the text is then exactly what docs/training.md shows.
 */
#include "hf_export.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/safetensors.h"

enum { PER_LAYER = 12 };

static const IrWeight *find(const IrModule *m, const char *name, int *index) {
    int i = 0;
    for (const IrWeight *w = m->weights; w; w = w->next, i++)
        if (strcmp(w->name, name) == 0) {
            if (index) *index = i;
            return w;
        }
    return NULL;
}

/* Whether weight `name` exists as f32 with dims (a, b) (b < 0: rank 1); else a message. */
static bool want(const IrModule *m, const char *name, int64_t a, int64_t b, char *err, size_t errlen) {
    const IrWeight *w = find(m, name, NULL);
    if (!w) {
        snprintf(err, errlen, "the model has no '%s': export writes a Hugging Face GPT-2, so the model must be "
                 "models/gpt2.tfm's gpt2", name);
        return false;
    }
    const IrType *t = &w->type;
    bool ok = t->dtype == DT_F32 && t->rank == (b < 0 ? 1 : 2) && t->dims[0].size == a && (b < 0 || t->dims[1].size == b);
    if (!ok) {
        char ts[IR_TYPE_STR_MAX], ws[64];
        if (b < 0) snprintf(ws, sizeof ws, "f32[%lld]", (long long)a);
        else snprintf(ws, sizeof ws, "f32[%lld, %lld]", (long long)a, (long long)b);
        snprintf(err, errlen, "'%s' is %s, but a GPT-2 of this size has %s", name, ir_type_str(t, ts, sizeof ts), ws);
    }
    return ok;
}

static bool make_dirs(const char *dir, char *err, size_t errlen) {
    size_t n = strlen(dir);
    char *p = xmalloc(n + 2);
    memcpy(p, dir, n + 1);
    p[n] = '/', p[n + 1] = 0;
    for (char *q = p + 1; *q; q++) {
        if (*q != '/') continue;
        *q = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create directory '%s': %s", p, strerror(errno));
            free(p);
            return false;
        }
        *q = '/';
    }
    free(p);
    return true;
}

bool rt_hf_export_check(const IrModule *m, long n_head, char *err, size_t errlen) {
    const IrWeight *wte = find(m, "wte.weight", NULL), *wpe = find(m, "wpe.weight", NULL);
    if (!wte || !wpe || wte->type.rank != 2 || wpe->type.rank != 2) {
        snprintf(err, errlen, "export writes a Hugging Face GPT-2, but the model has no %s: it must be "
                 "models/gpt2.tfm's gpt2", !wte || wte->type.rank != 2 ? "wte.weight [vocab, n_embd]"
                                                                      : "wpe.weight [n_ctx, n_embd]");
        return false;
    }
    int64_t C = wte->type.dims[1].size, P = wpe->type.dims[0].size;
    if (n_head <= 0 || C % n_head != 0) {
        snprintf(err, errlen, "export: n_embd = %lld is not a multiple of n_head = %ld", (long long)C, n_head);
        return false;
    }
    int L = 0;
    char name[64];
    for (;; L++) {
        snprintf(name, sizeof name, "h.%d.ln_1.weight", L);
        if (!find(m, name, NULL)) break;
    }
    if (!want(m, "wpe.weight", P, C, err, errlen) || !want(m, "ln_f.weight", C, -1, err, errlen) ||
        !want(m, "ln_f.bias", C, -1, err, errlen))
        return false;
    static const struct {
        const char *suffix;
        int a, b; /* multiples of C; b 0: rank 1 */
    } layer[PER_LAYER] = {
        {"ln_1.weight", 1, 0},        {"ln_1.bias", 1, 0},        {"attn.c_attn.weight", 1, 3},
        {"attn.c_attn.bias", 3, 0},   {"attn.c_proj.weight", 1, 1}, {"attn.c_proj.bias", 1, 0},
        {"ln_2.weight", 1, 0},        {"ln_2.bias", 1, 0},        {"mlp.c_fc.weight", 1, 4},
        {"mlp.c_fc.bias", 4, 0},      {"mlp.c_proj.weight", 4, 1}, {"mlp.c_proj.bias", 1, 0},
    };
    for (int i = 0; i < L; i++)
        for (int k = 0; k < PER_LAYER; k++) {
            snprintf(name, sizeof name, "h.%d.%s", i, layer[k].suffix);
            if (!want(m, name, layer[k].a * C, layer[k].b ? layer[k].b * C : -1, err, errlen)) return false;
        }
    /* Exactly those: wte, wpe, ln_f (2) and 12 per layer, every other weight optimizer state. */
    int nmodel = 0;
    for (const IrWeight *w = m->weights; w; w = w->next) {
        if (strncmp(w->name, "optim.", 6) == 0) continue;
        nmodel++;
        bool known = strcmp(w->name, "wte.weight") == 0 || strcmp(w->name, "wpe.weight") == 0 ||
                     strncmp(w->name, "ln_f.", 5) == 0;
        int i = -1, used = 0;
        if (!known && sscanf(w->name, "h.%d.%n", &i, &used) == 1 && used > 0 && i >= 0 && i < L)
            for (int k = 0; k < PER_LAYER && !known; k++) known = strcmp(w->name + used, layer[k].suffix) == 0;
        if (!known) {
            snprintf(err, errlen, "'%s' is not a GPT-2 weight: export writes a Hugging Face GPT-2, so the model "
                     "must be models/gpt2.tfm's gpt2", w->name);
            return false;
        }
    }
    if (nmodel != 4 + PER_LAYER * L) {
        snprintf(err, errlen, "the model has %d weights where a %d-layer GPT-2 has %d", nmodel, L, 4 + PER_LAYER * L);
        return false;
    }
    return true;
}

bool rt_hf_export(const char *dir, const IrModule *m, Tensor *const *weights, long n_head, char *err,
                  size_t errlen) {
    if (!rt_hf_export_check(m, n_head, err, errlen) || !make_dirs(dir, err, errlen)) return false;
    const IrWeight *wte = find(m, "wte.weight", NULL), *wpe = find(m, "wpe.weight", NULL);
    int64_t V = wte->type.dims[0].size, C = wte->type.dims[1].size, P = wpe->type.dims[0].size;
    int L = 0, nmodel = 0;
    for (const IrWeight *w = m->weights; w; w = w->next) {
        nmodel += strncmp(w->name, "optim.", 6) != 0;
        if (strncmp(w->name, "h.", 2) == 0 && atoi(w->name + 2) + 1 > L) L = atoi(w->name + 2) + 1;
    }
    const char **names = xcalloc((size_t)nmodel, sizeof *names);
    Tensor **ts = xcalloc((size_t)nmodel, sizeof *ts);
    int n = 0, i = 0;
    for (const IrWeight *w = m->weights; w; w = w->next, i++)
        if (strncmp(w->name, "optim.", 6) != 0) names[n] = w->name, ts[n++] = weights[i];
    size_t plen = strlen(dir) + 32;
    char *path = xmalloc(plen);
    snprintf(path, plen, "%s/model.safetensors", dir);
    bool ok = rt_safetensors_write(path, names, ts, n, err, errlen);
    free(names);
    free(ts);
    if (ok) {
        snprintf(path, plen, "%s/config.json", dir);
        FILE *f = fopen(path, "w");
        if (!f) {
            snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
            ok = false;
        } else {
            fprintf(f,
                    "{\n  \"model_type\": \"gpt2\",\n  \"architectures\": [\"GPT2LMHeadModel\"],\n"
                    "  \"vocab_size\": %lld,\n  \"n_positions\": %lld,\n  \"n_ctx\": %lld,\n  \"n_embd\": %lld,\n"
                    "  \"n_layer\": %d,\n  \"n_head\": %ld,\n  \"n_inner\": null,\n"
                    "  \"activation_function\": \"gelu_new\",\n  \"layer_norm_epsilon\": 1e-05,\n"
                    "  \"bos_token_id\": 50256,\n  \"eos_token_id\": 50256,\n  \"tie_word_embeddings\": true\n}\n",
                    (long long)V, (long long)P, (long long)P, (long long)C, L, n_head);
            if (fclose(f) != 0) {
                snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
                ok = false;
            }
        }
    }
    free(path);
    return ok;
}
