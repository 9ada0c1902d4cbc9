/* safetensors.c — reading and writing safetensors files (format in safetensors.h).
 *
 * Reading maps the file (mmap, read-only) and validates the whole header before any
 * data is touched: every entry's fields, its offsets against the data section, the data
 * size against dtype x shape, and — after sorting the entries by offset — that no two
 * overlap. After that every entry is a pointer into the mapping that is known to lie
 * inside the file, so no later access can read out of bounds. rt_safetensors_read is
 * this map plus one copy per tensor; rt_st_map gives the mapping itself (zero-copy:
 * pages are read from disk only when a tensor is used).
 *
 * Decision a newcomer may question: holes between tensors are allowed (the reference
 * Rust implementation rejects them). A hole harms nothing, and refusing it would refuse
 * files some writers produce with alignment padding.
 */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/ref/ref.h"

/* ---- tensor sets ---- */

void rt_tensor_set_free(RtTensorSet *s) {
    for (int i = 0; i < s->n; i++) {
        free(s->names[i]);
        tensor_destroy(s->tensors[i]);
    }
    free(s->names);
    free(s->tensors);
    s->n = 0;
    s->names = NULL;
    s->tensors = NULL;
}

int rt_tensor_set_index(const RtTensorSet *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0) return i;
    return -1;
}

Tensor *rt_tensor_set_find(const RtTensorSet *s, const char *name) {
    int i = rt_tensor_set_index(s, name);
    return i < 0 ? NULL : s->tensors[i];
}

void rt_tensor_set_add(RtTensorSet *s, const char *name, Tensor *t) {
    s->names = xrealloc(s->names, sizeof *s->names * (size_t)(s->n + 1));
    s->tensors = xrealloc(s->tensors, sizeof *s->tensors * (size_t)(s->n + 1));
    size_t len = strlen(name);
    s->names[s->n] = xmalloc(len + 1);
    memcpy(s->names[s->n], name, len + 1);
    s->tensors[s->n] = t;
    s->n++;
}

/* ---- dtypes ---- */

typedef struct {
    const char *name;
    int size;
    IrDType dt; /* what the tensor becomes */
} StDType;

static const StDType st_dtypes[] = {
    {"F32", 4, DT_F32}, {"I32", 4, DT_I32}, {"F16", 2, DT_F32},
    {"BF16", 2, DT_F32}, {"F64", 8, DT_F32}, {"I64", 8, DT_I32},
};

static const StDType *find_dtype(const char *name) {
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(st_dtypes[i].name, name) == 0) return &st_dtypes[i];
    return NULL;
}

/* ---- reading ---- */

/* A tensor name as messages show it: control bytes as '?', at most 80 bytes. */
static const char *shown(const char *name, char *buf, size_t n) {
    size_t k = 0;
    for (; name[k] && k + 1 < n && k < 80; k++)
        buf[k] = (unsigned char)name[k] < 0x20 || name[k] == 0x7f ? '?' : name[k];
    buf[k] = 0;
    if (name[k] && n > 4 && k + 4 < n) memcpy(buf + k, "...", 4);
    return buf;
}

typedef struct {
    const char *name; /* points into the cJSON tree */
    const StDType *dtype;
    int rank;
    int64_t dims[IR_MAX_RANK];
    uint64_t begin, end;
} Entry;

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* A JSON number that is an integer in [0, 2^53]. */
static bool json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0) || v != floor(v)) return false;
    *out = (uint64_t)v;
    return true;
}

static bool parse_entry(const cJSON *item, Entry *e, uint64_t data_len, char *why,
                        size_t whylen) {
    if (!cJSON_IsObject(item)) {
        snprintf(why, whylen, "entry is not a JSON object");
        return false;
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs)) {
        snprintf(why, whylen, "entry needs \"dtype\" (a string), \"shape\" and "
                 "\"data_offsets\" (arrays)");
        return false;
    }
    e->dtype = find_dtype(dt->valuestring);
    if (!e->dtype) {
        snprintf(why, whylen, "dtype %s is not supported (F32, I32, F16, BF16, F64, I64 are)",
                 dt->valuestring);
        return false;
    }
    int rank = cJSON_GetArraySize(shape);
    if (rank > IR_MAX_RANK) {
        snprintf(why, whylen, "shape has %d dims (limit %d)", rank, IR_MAX_RANK);
        return false;
    }
    e->rank = rank;
    uint64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        uint64_t d;
        if (!json_uint(cJSON_GetArrayItem(shape, i), &d)) {
            snprintf(why, whylen, "shape dim %d is not a non-negative integer", i);
            return false;
        }
        if (d > 0 && numel > (uint64_t)IR_MAX_ELEMENTS / d) {
            snprintf(why, whylen, "shape has more than %lld elements", (long long)IR_MAX_ELEMENTS);
            return false;
        }
        e->dims[i] = (int64_t)d;
        numel *= d;
    }
    if (cJSON_GetArraySize(offs) != 2 || !json_uint(cJSON_GetArrayItem(offs, 0), &e->begin) ||
        !json_uint(cJSON_GetArrayItem(offs, 1), &e->end)) {
        snprintf(why, whylen, "data_offsets is not a pair of non-negative integers");
        return false;
    }
    if (e->begin > e->end) {
        snprintf(why, whylen, "data_offsets [%llu, %llu] end before they begin",
                 (unsigned long long)e->begin, (unsigned long long)e->end);
        return false;
    }
    if (e->end > data_len) {
        snprintf(why, whylen, "data_offsets [%llu, %llu] are outside the data section "
                 "(%llu bytes)", (unsigned long long)e->begin, (unsigned long long)e->end,
                 (unsigned long long)data_len);
        return false;
    }
    uint64_t want = numel * (uint64_t)e->dtype->size;
    if (e->end - e->begin != want) {
        snprintf(why, whylen, "%s%s needs %llu bytes but data_offsets [%llu, %llu] hold %llu",
                 e->dtype->name, rank ? "" : "[]", (unsigned long long)want,
                 (unsigned long long)e->begin, (unsigned long long)e->end,
                 (unsigned long long)(e->end - e->begin));
        return false;
    }
    return true;
}

static int cmp_begin(const void *a, const void *b) {
    const Entry *x = *(const Entry *const *)a, *y = *(const Entry *const *)b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* Entry e's data (at `src`, in the mapping) converted into a new tensor. */
static Tensor *copy_entry(const unsigned char *src, const Entry *e, char *why, size_t whylen) {
    Tensor *t = tensor_create(e->dtype->dt, e->rank, e->dims, why, whylen);
    if (!t) return NULL;
    int64_t n = tensor_numel(t);
    int sz = e->dtype->size;
    const char *dn = e->dtype->name;
    if (sz == (int)ir_dtype_size(t->dtype)) {
        if (n) memcpy(t->data, src, (size_t)n * (size_t)sz);
        return t;
    }
    for (int64_t i = 0; i < n; i++) {
        const unsigned char *p = src + i * sz;
        if (strcmp(dn, "F16") == 0) {
            ((float *)t->data)[i] = ref_f16_to_f32((uint16_t)(p[0] | p[1] << 8));
        } else if (strcmp(dn, "BF16") == 0) {
            ((float *)t->data)[i] = ref_bf16_to_f32((uint16_t)(p[0] | p[1] << 8));
        } else if (strcmp(dn, "F64") == 0) {
            double d;
            memcpy(&d, p, 8);
            ((float *)t->data)[i] = (float)d;
        } else { /* I64 */
            int64_t v = (int64_t)le64(p);
            if (v < INT32_MIN || v > INT32_MAX) {
                snprintf(why, whylen, "element %lld is %lld, outside the i32 range I64 "
                         "data is converted to", (long long)i, (long long)v);
                tensor_destroy(t);
                return NULL;
            }
            ((int32_t *)t->data)[i] = (int32_t)v;
        }
    }
    return t;
}

struct RtStMap {
    unsigned char *base; /* the whole file, mapped read-only */
    size_t size;
    const unsigned char *data; /* the data section */
    cJSON *root;               /* entry names point into it */
    Entry *entries;            /* in file (header) order */
    int n;
    char *path;
    int refs;                  /* the caller's, plus one per borrowed tensor */
};

void rt_st_unmap(RtStMap *m) {
    if (!m || --m->refs > 0) return;
    if (m->base) munmap(m->base, m->size);
    cJSON_Delete(m->root);
    free(m->entries);
    free(m->path);
    free(m);
}

RtStMap *rt_st_map(const char *path, char *err, size_t errlen) {
    RtStMap *m = xcalloc(1, sizeof *m);
    m->refs = 1;
    char *header = NULL;
    Entry **sorted = NULL;
    char why[512], n1[96], n2[96];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        free(m);
        return NULL;
    }
#define FAIL(...)                           \
    do {                                    \
        snprintf(err, errlen, __VA_ARGS__); \
        goto fail;                          \
    } while (0)
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) FAIL("%s: not a regular file", path);
    uint64_t fsize = (uint64_t)st.st_size;
    if (fsize < 8) FAIL("%s: not a safetensors file (shorter than the 8-byte header length)", path);
    if (fsize > (uint64_t)SIZE_MAX) FAIL("%s: too large to map", path);
    /* Private and writable: a backend that writes into a borrowed weight gets its own
     * copy of the page (copy-on-write); the file itself is never changed. */
    void *base = mmap(NULL, (size_t)fsize, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (base == MAP_FAILED) FAIL("%s: cannot map: %s", path, strerror(errno));
    m->base = base;
    m->size = (size_t)fsize;
    uint64_t hlen = le64(m->base);
    if (hlen > RT_SAFETENSORS_MAX_HEADER)
        FAIL("%s: header length %llu is over the 100 MB limit (not a safetensors file?)", path,
             (unsigned long long)hlen);
    if (8 + hlen > fsize)
        FAIL("%s: header length %llu runs past the end of the file (%llu bytes)", path,
             (unsigned long long)hlen, (unsigned long long)fsize);
    header = xmalloc(hlen + 1); /* cJSON wants the text NUL-terminated: a copy, not the map */
    memcpy(header, m->base + 8, hlen);
    header[hlen] = 0;
    uint64_t data_len = fsize - 8 - hlen;
    m->data = m->base + 8 + hlen;
    m->root = cJSON_ParseWithLength(header, hlen);
    if (!m->root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= header && at <= header + hlen ? (long)(at - header) : -1;
        FAIL("%s: header is not valid JSON (near byte %ld of the header)", path, off);
    }
    if (!cJSON_IsObject(m->root)) FAIL("%s: header is not a JSON object", path);
    int count = cJSON_GetArraySize(m->root);
    m->entries = xcalloc((size_t)(count ? count : 1), sizeof *m->entries);
    int n = 0;
    for (cJSON *item = m->root->child; item; item = item->next) {
        if (strcmp(item->string, "__metadata__") == 0) continue;
        for (int i = 0; i < n; i++)
            if (strcmp(m->entries[i].name, item->string) == 0)
                FAIL("%s: tensor '%s' appears twice in the header", path,
                     shown(item->string, n1, sizeof n1));
        m->entries[n].name = item->string;
        if (!parse_entry(item, &m->entries[n], data_len, why, sizeof why))
            FAIL("%s: tensor '%s': %s", path, shown(item->string, n1, sizeof n1), why);
        n++;
    }
    m->n = n;
    sorted = xmalloc(sizeof *sorted * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) sorted[i] = &m->entries[i];
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_begin);
    const Entry *prev = NULL;
    for (int i = 0; i < n; i++) {
        const Entry *e = sorted[i];
        if (e->begin == e->end) continue; /* empty tensors occupy nothing */
        if (prev && e->begin < prev->end)
            FAIL("%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap in the data",
                 path, shown(prev->name, n1, sizeof n1), (unsigned long long)prev->begin,
                 (unsigned long long)prev->end, shown(e->name, n2, sizeof n2),
                 (unsigned long long)e->begin,
                 (unsigned long long)e->end);
        prev = e;
    }
#undef FAIL
    close(fd);
    free(header);
    free(sorted);
    size_t pl = strlen(path);
    m->path = xmalloc(pl + 1);
    memcpy(m->path, path, pl + 1);
    return m;
fail:
    close(fd);
    free(header);
    free(sorted);
    rt_st_unmap(m);
    return NULL;
}

int rt_st_count(const RtStMap *m) { return m->n; }

bool rt_st_entry(const RtStMap *m, int i, RtStInfo *out) {
    if (i < 0 || i >= m->n) return false;
    const Entry *e = &m->entries[i];
    out->name = e->name;
    out->file_dtype = e->dtype->name;
    out->dtype = e->dtype->dt;
    out->rank = e->rank;
    for (int d = 0; d < e->rank; d++) out->dims[d] = e->dims[d];
    out->data = m->data + e->begin;
    out->nbytes = (size_t)(e->end - e->begin);
    return true;
}

int rt_st_find(const RtStMap *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->entries[i].name, name) == 0) return i;
    return -1;
}

Tensor *rt_st_tensor(const RtStMap *m, int i, char *err, size_t errlen) {
    char why[512], n1[96];
    const Entry *e = &m->entries[i];
    Tensor *t = copy_entry(m->data + e->begin, e, why, sizeof why);
    if (!t) snprintf(err, errlen, "%s: tensor '%s': %s", m->path, shown(e->name, n1, sizeof n1), why);
    return t;
}

static void release_mapping(void *m) { rt_st_unmap(m); }

Tensor *rt_st_borrow(RtStMap *m, int i) {
    const Entry *e = &m->entries[i];
    size_t size = ir_dtype_size(e->dtype->dt);
    const unsigned char *src = m->data + e->begin;
    if ((int)size != e->dtype->size || (uintptr_t)src % size != 0) return NULL;
    Tensor *t = xcalloc(1, sizeof *t);
    t->dtype = e->dtype->dt;
    t->rank = e->rank;
    memcpy(t->dims, e->dims, sizeof t->dims[0] * (size_t)e->rank);
    t->data = (void *)src;
    t->release = release_mapping;
    t->release_ctx = m;
    m->refs++;
    return t;
}

/* ---- metadata ---- */

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

void rt_metadata_set(RtMetadata *m, const char *key, const char *value) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->keys[i], key) == 0) {
            free(m->values[i]);
            m->values[i] = dup_str(value);
            return;
        }
    m->keys = xrealloc(m->keys, sizeof *m->keys * (size_t)(m->n + 1));
    m->values = xrealloc(m->values, sizeof *m->values * (size_t)(m->n + 1));
    m->keys[m->n] = dup_str(key);
    m->values[m->n] = dup_str(value);
    m->n++;
}

const char *rt_metadata_get(const RtMetadata *m, const char *key) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->keys[i], key) == 0) return m->values[i];
    return NULL;
}

void rt_metadata_free(RtMetadata *m) {
    for (int i = 0; i < m->n; i++) {
        free(m->keys[i]);
        free(m->values[i]);
    }
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}

bool rt_safetensors_read(const char *path, RtTensorSet *out, char *err, size_t errlen) {
    return rt_safetensors_read_meta(path, out, NULL, err, errlen);
}

bool rt_safetensors_read_meta(const char *path, RtTensorSet *out, RtMetadata *meta, char *err,
                              size_t errlen) {
    memset(out, 0, sizeof *out);
    if (meta) memset(meta, 0, sizeof *meta);
    RtStMap *m = rt_st_map(path, err, errlen);
    if (!m) return false;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(m->root, "__metadata__");
    if (meta && cJSON_IsObject(md))
        for (const cJSON *kv = md->child; kv; kv = kv->next)
            if (cJSON_IsString(kv)) rt_metadata_set(meta, kv->string, kv->valuestring);
    for (int i = 0; i < m->n; i++) {
        Tensor *t = rt_st_tensor(m, i, err, errlen);
        if (!t) {
            rt_st_unmap(m);
            rt_tensor_set_free(out);
            if (meta) rt_metadata_free(meta);
            return false;
        }
        rt_tensor_set_add(out, m->entries[i].name, t);
    }
    rt_st_unmap(m);
    return true;
}

/* ---- writing ---- */

static const char *st_name(IrDType dt) {
    switch (dt) {
    case DT_F32: return "F32";
    case DT_I32: return "I32";
    case DT_F16: return "F16";
    case DT_BF16: return "BF16";
    case DT_F64: return "F64";
    default: return NULL;
    }
}

/* fsync the directory holding path, so that a rename into it survives a crash. */
static bool sync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? xmalloc((size_t)(slash - path) + 2) : dup_str(".");
    if (slash) {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    int fd = open(dir, O_RDONLY);
    free(dir);
    if (fd < 0) return false;
    bool ok = fsync(fd) == 0 || errno == EINVAL; /* some file systems cannot sync a directory */
    close(fd);
    return ok;
}

bool rt_safetensors_write(const char *path, const char *const *names, Tensor *const *tensors,
                          int n, char *err, size_t errlen) {
    return rt_safetensors_write_meta(path, names, tensors, n, NULL, err, errlen);
}

bool rt_safetensors_write_meta(const char *path, const char *const *names, Tensor *const *tensors,
                               int n, const RtMetadata *extra, char *err, size_t errlen) {
    for (int i = 0; i < n; i++) {
        if (!st_name(tensors[i]->dtype)) {
            snprintf(err, errlen, "%s: tensor '%s' has a dtype safetensors cannot store", path,
                     names[i]);
            return false;
        }
        if (strcmp(names[i], "__metadata__") == 0) {
            snprintf(err, errlen, "%s: '__metadata__' is reserved and cannot name a tensor", path);
            return false;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0) {
                snprintf(err, errlen, "%s: tensor name '%s' is given twice", path, names[i]);
                return false;
            }
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    for (int i = 0; extra && i < extra->n; i++)
        if (strcmp(extra->keys[i], "format") != 0) cJSON_AddStringToObject(meta, extra->keys[i], extra->values[i]);
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const Tensor *t = tensors[i];
        cJSON *e = cJSON_AddObjectToObject(root, names[i]);
        cJSON_AddStringToObject(e, "dtype", st_name(t->dtype));
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t->rank; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->dims[d]));
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += tensor_bytes(t);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) {
        snprintf(err, errlen, "%s: out of memory building the header", path);
        return false;
    }
    size_t jlen = strlen(json), hlen = (jlen + 7) / 8 * 8; /* pad with spaces to 8 bytes */

    size_t tl = strlen(path) + 16;
    char *tmp = xmalloc(tl);
    snprintf(tmp, tl, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *fp = NULL;
    if (fd >= 0) {
        fchmod(fd, 0644);
        fp = fdopen(fd, "wb");
        if (!fp) {
            close(fd);
            unlink(tmp);
        }
    }
    if (!fp) {
        snprintf(err, errlen, "%s: cannot create a temporary file next to it: %s", path,
                 strerror(errno));
        free(json);
        free(tmp);
        return false;
    }
    unsigned char pre[8];
    for (int i = 0; i < 8; i++) pre[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    bool ok = fwrite(pre, 1, 8, fp) == 8 && fwrite(json, 1, jlen, fp) == jlen;
    for (size_t i = jlen; ok && i < hlen; i++) ok = fputc(' ', fp) != EOF;
    for (int i = 0; ok && i < n; i++)
        if (tensor_bytes(tensors[i]))
            ok = fwrite(tensors[i]->data, 1, tensor_bytes(tensors[i]), fp) ==
                 tensor_bytes(tensors[i]);
    ok = ok && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    int saved = errno;
    ok = fclose(fp) == 0 && ok;
    if (ok && rename(tmp, path) != 0) {
        saved = errno;
        ok = false;
    }
    if (ok && !sync_dir(path)) {
        snprintf(err, errlen, "%s: written, but the directory could not be synced: %s", path, strerror(errno));
        free(json);
        free(tmp);
        return false;
    }
    if (!ok) {
        unlink(tmp);
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(saved));
    }
    free(json);
    free(tmp);
    return ok;
}
