/* checkpoint.c — saving and strictly reloading training checkpoints (see checkpoint.h).
 *
 * Decision a newcomer may question: the RNG state and counters are stored as decimal
 * strings in __metadata__, not as tensors. safetensors has no u64 dtype, the metadata map
 * is the format's place for such facts, and other tools (Python's safetensors) show them.
 */
#include "checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/safetensors.h"

/* mkdir -p of path's directory. */
static bool make_parent(const char *path, char *err, size_t errlen) {
    size_t n = strlen(path);
    char *dir = xmalloc(n + 1);
    memcpy(dir, path, n + 1);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create directory '%s': %s", dir, strerror(errno));
            free(dir);
            return false;
        }
        *p = '/';
    }
    free(dir);
    return true;
}

bool rt_checkpoint_save(const char *path, const IrModule *m, Tensor *const *weights, const RtCkptState *st,
                        char *err, size_t errlen) {
    if (!make_parent(path, err, errlen)) return false;
    int n = 0;
    for (const IrWeight *w = m->weights; w; w = w->next) n++;
    const char **names = xcalloc((size_t)(n ? n : 1), sizeof *names);
    int i = 0;
    for (const IrWeight *w = m->weights; w; w = w->next) names[i++] = w->name;
    RtMetadata meta = {0};
    char buf[32];
    rt_metadata_set(&meta, "tfc.model", m->name);
#define PUT(key, fmt, v)                          \
    snprintf(buf, sizeof buf, fmt, v);            \
    rt_metadata_set(&meta, key, buf)
    PUT("tfc.step", "%" PRId64, st->step);
    PUT("tfc.seed", "%" PRIu64, st->seed);
    PUT("tfc.data.epoch", "%" PRIu64, st->data.epoch);
    PUT("tfc.data.index", "%" PRIu64, st->data.index);
    PUT("tfc.data.rng", "%" PRIu64, st->data.rng);
#undef PUT
    bool ok = rt_safetensors_write_meta(path, names, weights, n, &meta, err, errlen);
    rt_metadata_free(&meta);
    free(names);
    return ok;
}

static bool get_u64(const RtMetadata *meta, const char *key, uint64_t *out, const char *path, char *err,
                    size_t errlen) {
    const char *s = rt_metadata_get(meta, key);
    char *end;
    errno = 0;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (!s || *end || end == s || errno) {
        snprintf(err, errlen, "%s is not a tfc training checkpoint: its metadata has no valid '%s'", path, key);
        return false;
    }
    *out = v;
    return true;
}

bool rt_checkpoint_load(const char *path, const IrModule *m, Tensor **weights, RtCkptState *st, char *err,
                        size_t errlen) {
    RtTensorSet set = {0};
    RtMetadata meta = {0};
    if (!rt_safetensors_read_meta(path, &set, &meta, err, errlen)) return false;
    uint64_t step = 0, seed = 0, epoch = 0, index = 0, rng = 0;
    bool ok = get_u64(&meta, "tfc.step", &step, path, err, errlen) &&
              get_u64(&meta, "tfc.seed", &seed, path, err, errlen) &&
              get_u64(&meta, "tfc.data.epoch", &epoch, path, err, errlen) &&
              get_u64(&meta, "tfc.data.index", &index, path, err, errlen) &&
              get_u64(&meta, "tfc.data.rng", &rng, path, err, errlen);
    const char *model = rt_metadata_get(&meta, "tfc.model");
    int n = 0;
    for (const IrWeight *w = m->weights; ok && w; w = w->next, n++) {
        const Tensor *t = rt_tensor_set_find(&set, w->name);
        char ws[IR_TYPE_STR_MAX], ts[IR_TYPE_STR_MAX];
        if (!t) {
            snprintf(err, errlen, "%s is not a checkpoint of this model%s%s%s: it has no '%s' (%s)", path,
                     model ? " (it is from model '" : "", model ? model : "", model ? "')" : "", w->name,
                     strncmp(w->name, "optim.", 6) == 0 ? "optimizer state: was it saved with another optimizer?"
                                                        : "a weight of the model");
            ok = false;
            break;
        }
        bool same = t->dtype == w->type.dtype && t->rank == w->type.rank;
        for (int d = 0; same && d < t->rank; d++) same = t->dims[d] == w->type.dims[d].size;
        if (!same) {
            snprintf(err, errlen, "%s is not a checkpoint of this model: '%s' is %s here but %s in the file", path,
                     w->name, ir_type_str(&w->type, ws, sizeof ws), tensor_shape_str(t, ts, sizeof ts));
            ok = false;
        }
    }
    if (ok && n != set.n) {
        snprintf(err, errlen, "%s is not a checkpoint of this model: it holds %d tensors, the model %d", path, set.n, n);
        ok = false;
    }
    if (ok) {
        int i = 0;
        for (const IrWeight *w = m->weights; w; w = w->next, i++) {
            int k = rt_tensor_set_index(&set, w->name);
            tensor_destroy(weights[i]);
            weights[i] = set.tensors[k];
            set.tensors[k] = NULL;
        }
        *st = (RtCkptState){(int64_t)step, seed, {epoch, index, rng}};
    }
    rt_tensor_set_free(&set);
    rt_metadata_free(&meta);
    return ok;
}
