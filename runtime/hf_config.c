/* hf_config.c — reading GPT-2's config.json into model params (contract in hf_config.h).
 *
 * Decision a newcomer may question: the config becomes -D overrides of the .tfm model's
 * params (strings), not a struct the runtime reads. The model file stays the one place
 * that says what GPT-2 is; the config only sizes it, exactly as `-D n_layer=48` would.
 */
#include "hf_config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/arena.h"

static char *slurp(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    enum { MAX = 1 << 20 }; /* a config is a few hundred bytes */
    char *buf = xmalloc(MAX + 1);
    size_t n = fread(buf, 1, MAX + 1, f);
    bool bad = ferror(f);
    fclose(f);
    if (bad || n > MAX) {
        snprintf(err, errlen, "%s: %s", path, bad ? "cannot read" : "larger than 1 MiB: not a config.json");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

/* A positive integer at key (or at alt when key is absent); 0 with a message if bad. */
static long get_int(const cJSON *root, const char *key, const char *alt, const char *path,
                    char *err, size_t errlen) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!j && alt) j = cJSON_GetObjectItemCaseSensitive(root, alt), key = j ? alt : key;
    if (!j) {
        snprintf(err, errlen, "%s: \"%s\" is missing%s%s%s", path, key, alt ? " (and so is \"" : "",
                 alt ? alt : "", alt ? "\")" : "");
        return 0;
    }
    double v = cJSON_IsNumber(j) ? j->valuedouble : 0;
    if (!(v >= 1 && v <= (1 << 20)) || v != floor(v)) {
        snprintf(err, errlen, "%s: \"%s\" must be a positive integer (at most 1048576)", path, key);
        return 0;
    }
    return (long)v;
}

bool rt_hf_config_read(const char *path, RtHfConfig *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    char *src = slurp(path, err, errlen);
    if (!src) return false;
    cJSON *root = cJSON_Parse(src);
    free(src);
    bool ok = false;
    if (!root || !cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: not a JSON object (a Hugging Face config.json)", path);
        goto done;
    }
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (j && (!cJSON_IsString(j) || strcmp(j->valuestring, "gpt2") != 0)) {
        snprintf(err, errlen, "%s: \"model_type\" is %s%s%s, but tfc's config mapping is for \"gpt2\"",
                 path, cJSON_IsString(j) ? "\"" : "not a string", cJSON_IsString(j) ? j->valuestring : "",
                 cJSON_IsString(j) ? "\"" : "");
        goto done;
    }
    j = cJSON_GetObjectItemCaseSensitive(root, "activation_function");
    if (j && (!cJSON_IsString(j) || (strcmp(j->valuestring, "gelu_new") != 0 &&
                                     strcmp(j->valuestring, "gelu_pytorch_tanh") != 0))) {
        snprintf(err, errlen, "%s: \"activation_function\" must be \"gelu_new\" (GPT-2's tanh GELU, "
                 "the one models/gpt2.tfm uses)", path);
        goto done;
    }
    j = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_epsilon");
    if (j && (!cJSON_IsNumber(j) || fabs(j->valuedouble - 1e-5) > 1e-12)) {
        snprintf(err, errlen, "%s: \"layer_norm_epsilon\" must be 1e-05 (the model's layernorm eps)", path);
        goto done;
    }
    static const char *const unsupported[] = {"scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"};
    for (int i = 0; i < 2; i++) {
        j = cJSON_GetObjectItemCaseSensitive(root, unsupported[i]);
        if (j && !cJSON_IsFalse(j) && !cJSON_IsNull(j)) {
            snprintf(err, errlen, "%s: \"%s\" is set, which models/gpt2.tfm does not implement",
                     path, unsupported[i]);
            goto done;
        }
    }
    static const struct { const char *key, *alt, *param; } map[] = {
        {"n_layer", NULL, "n_layer"}, {"n_head", NULL, "n_head"}, {"n_embd", NULL, "n_embd"},
        {"vocab_size", NULL, "vocab"}, {"n_positions", "n_ctx", "n_ctx"},
    };
    long v[5];
    for (int i = 0; i < 5; i++) {
        if (!(v[i] = get_int(root, map[i].key, map[i].alt, path, err, errlen))) goto done;
        snprintf(out->names[i], sizeof out->names[i], "%s", map[i].param);
        snprintf(out->values[i], sizeof out->values[i], "%ld", v[i]);
    }
    out->n = 5;
    if (v[2] % v[1] != 0) {
        snprintf(err, errlen, "%s: \"n_embd\" (%ld) is not a multiple of \"n_head\" (%ld)", path,
                 v[2], v[1]);
        goto done;
    }
    j = cJSON_GetObjectItemCaseSensitive(root, "n_inner");
    if (j && !cJSON_IsNull(j) && !(cJSON_IsNumber(j) && j->valuedouble == 4.0 * (double)v[2])) {
        snprintf(err, errlen, "%s: \"n_inner\" must be null or 4 * n_embd (%ld)", path, 4 * v[2]);
        goto done;
    }
    ok = true;
done:
    if (!ok) out->n = 0;
    cJSON_Delete(root);
    return ok;
}
