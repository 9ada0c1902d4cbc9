/* npy.c — reading and writing NumPy .npy files.
 *
 * The header is a Python dict literal, e.g.
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * parsed here by a small hand-written scanner that accepts exactly the three keys NumPy
 * writes, in any order, with either quote style and an optional trailing comma.
 *
 * Decisions a newcomer may question:
 *   - The file's size must be exactly header + data: a truncated file and one with
 *     trailing bytes are both errors, because either means the file is not what its
 *     header says (np.load also refuses a short file; it ignores extra bytes).
 *   - The host is assumed little-endian (x86-64, AArch64): '<f4' data is read straight
 *     into the tensor; '=' (native) is therefore accepted as little-endian.
 *   - 64-bit data (f8, i8) is converted rather than refused, because np.arange and
 *     np.array([...]) give int64/float64 by default and users pass those without thinking.
 */
#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/ref/ref.h"

#define FAIL(...)                           \
    do {                                    \
        snprintf(err, errlen, __VA_ARGS__); \
        goto fail;                          \
    } while (0)

/* What the file's 'descr' says. */
typedef struct {
    char kind;   /* 'f', 'i', 'u', 'b' */
    int size;    /* bytes per element */
    IrDType dt;  /* the tensor dtype it becomes */
} NpyDescr;

typedef struct {
    const char *p, *end;
} Scan;

static void skip_ws(Scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool eat(Scan *s, char c) {
    skip_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

/* A quoted string into buf; false if malformed or too long. */
static bool scan_string(Scan *s, char *buf, size_t n) {
    skip_ws(s);
    if (s->p >= s->end || (*s->p != '\'' && *s->p != '"')) return false;
    char q = *s->p++;
    size_t k = 0;
    while (s->p < s->end && *s->p != q) {
        if (k + 1 >= n) return false;
        char c = *s->p++;
        buf[k++] = c >= 0x20 && c < 0x7f ? c : '?'; /* messages show it: keep it printable */
    }
    if (s->p >= s->end) return false;
    s->p++;
    buf[k] = 0;
    return true;
}

static bool scan_word(Scan *s, const char *w) {
    skip_ws(s);
    size_t n = strlen(w);
    if ((size_t)(s->end - s->p) >= n && memcmp(s->p, w, n) == 0) {
        s->p += n;
        return true;
    }
    return false;
}

/* A shape tuple such as (), (3,), (2, 3). */
static bool scan_shape(Scan *s, int *rank, int64_t *dims, char *why, size_t whylen) {
    if (!eat(s, '(')) {
        snprintf(why, whylen, "'shape' is not a tuple");
        return false;
    }
    *rank = 0;
    for (;;) {
        if (eat(s, ')')) return true;
        skip_ws(s);
        if (s->p >= s->end || *s->p < '0' || *s->p > '9') {
            snprintf(why, whylen, "'shape' holds something that is not a non-negative integer");
            return false;
        }
        int64_t v = 0;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
            if (v > IR_MAX_ELEMENTS) {
                snprintf(why, whylen, "a dim in 'shape' is too large");
                return false;
            }
            v = v * 10 + (*s->p++ - '0');
        }
        if (s->p < s->end && *s->p == 'L') s->p++; /* Python 2 longs */
        if (*rank == IR_MAX_RANK) {
            snprintf(why, whylen, "'shape' has more than %d dims", IR_MAX_RANK);
            return false;
        }
        dims[(*rank)++] = v;
        if (eat(s, ',')) continue;
        if (eat(s, ')')) return true;
        snprintf(why, whylen, "'shape' tuple is malformed");
        return false;
    }
}

static bool parse_descr(const char *d, NpyDescr *out, char *why, size_t whylen) {
    char order = d[0];
    if (order == '>') {
        snprintf(why, whylen, "data is big-endian ('%s'); save it little-endian, e.g. "
                 "arr.astype('<%s')", d, d + 1);
        return false;
    }
    if (order != '<' && order != '|' && order != '=') {
        snprintf(why, whylen, "dtype '%s' is not supported (use '<f4' or '<i4')", d);
        return false;
    }
    const char *t = d + 1;
    static const struct { const char *name; char kind; int size; IrDType dt; } known[] = {
        {"f4", 'f', 4, DT_F32}, {"f8", 'f', 8, DT_F32}, {"f2", 'f', 2, DT_F32},
        {"i4", 'i', 4, DT_I32}, {"i8", 'i', 8, DT_I32}, {"i1", 'i', 1, DT_I32},
        {"u1", 'u', 1, DT_I32}, {"b1", 'b', 1, DT_I32},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(t, known[i].name) == 0) {
            if (order == '|' && known[i].size != 1) break;
            out->kind = known[i].kind;
            out->size = known[i].size;
            out->dt = known[i].dt;
            return true;
        }
    snprintf(why, whylen, "dtype '%s' is not supported (use '<f4' or '<i4'; '<f8', '<f2', "
             "'<i8', '|i1', '|u1' and '|b1' are converted)", d);
    return false;
}

/* Parse the header dict. */
static bool parse_header(const char *h, size_t len, NpyDescr *descr, int *rank, int64_t *dims,
                         char *why, size_t whylen) {
    Scan s = {h, h + len};
    bool have_descr = false, have_order = false, have_shape = false;
    if (!eat(&s, '{')) {
        snprintf(why, whylen, "header is not a Python dict");
        return false;
    }
    for (;;) {
        if (eat(&s, '}')) break;
        char key[32], val[32];
        if (!scan_string(&s, key, sizeof key) || !eat(&s, ':')) {
            snprintf(why, whylen, "header dict is malformed");
            return false;
        }
        if (strcmp(key, "descr") == 0) {
            if (!scan_string(&s, val, sizeof val)) {
                snprintf(why, whylen, "'descr' is not a simple dtype string (structured "
                         "arrays are not supported)");
                return false;
            }
            if (!parse_descr(val, descr, why, whylen)) return false;
            have_descr = true;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (scan_word(&s, "True")) {
                snprintf(why, whylen, "array is in Fortran order; save a C-order copy with "
                         "np.ascontiguousarray");
                return false;
            }
            if (!scan_word(&s, "False")) {
                snprintf(why, whylen, "'fortran_order' is neither True nor False");
                return false;
            }
            have_order = true;
        } else if (strcmp(key, "shape") == 0) {
            if (!scan_shape(&s, rank, dims, why, whylen)) return false;
            have_shape = true;
        } else {
            snprintf(why, whylen, "header has an unexpected key '%s'", key);
            return false;
        }
        if (eat(&s, ',')) continue;
        if (eat(&s, '}')) break;
        snprintf(why, whylen, "header dict is malformed");
        return false;
    }
    if (!have_descr || !have_order || !have_shape) {
        snprintf(why, whylen, "header lacks '%s'",
                 !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
        return false;
    }
    return true;
}

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Convert n elements of raw file data into t starting at element `at`. */
static bool convert(const NpyDescr *d, const unsigned char *raw, int64_t n, Tensor *t,
                    int64_t at, char *why, size_t whylen) {
    for (int64_t i = 0; i < n; i++) {
        const unsigned char *p = raw + i * d->size;
        int64_t k = at + i;
        if (d->kind == 'f' && d->size == 8) {
            double x;
            memcpy(&x, p, 8);
            ((float *)t->data)[k] = (float)x;
        } else if (d->kind == 'f' && d->size == 2) {
            ((float *)t->data)[k] = ref_f16_to_f32((uint16_t)le(p, 2));
        } else if (d->kind == 'i' && d->size == 8) {
            int64_t x = (int64_t)le(p, 8);
            if (x < INT32_MIN || x > INT32_MAX) {
                snprintf(why, whylen, "element %lld is %lld, outside the i32 range that "
                         "int64 data is converted to", (long long)k, (long long)x);
                return false;
            }
            ((int32_t *)t->data)[k] = (int32_t)x;
        } else if (d->kind == 'i' && d->size == 1) {
            ((int32_t *)t->data)[k] = (int8_t)p[0];
        } else { /* u1, b1 */
            ((int32_t *)t->data)[k] = p[0];
        }
    }
    return true;
}

Tensor *rt_npy_read(const char *path, char *err, size_t errlen) {
    Tensor *t = NULL;
    char *header = NULL;
    unsigned char *chunk = NULL;
    char why[256];
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode))
        FAIL("%s: not a regular file", path);
    uint64_t fsize = (uint64_t)st.st_size;
    unsigned char pre[12];
    if (fsize < 10 || fread(pre, 1, 10, fp) != 10)
        FAIL("%s: not a .npy file (shorter than the 10-byte preamble)", path);
    if (memcmp(pre, "\x93NUMPY", 6) != 0) FAIL("%s: not a .npy file (bad magic bytes)", path);
    int major = pre[6];
    uint64_t hlen, pre_len;
    if (major == 1) {
        hlen = le(pre + 8, 2);
        pre_len = 10;
    } else if (major == 2 || major == 3) {
        if (fsize < 12 || fread(pre + 10, 1, 2, fp) != 2)
            FAIL("%s: truncated in the preamble", path);
        hlen = le(pre + 8, 4);
        pre_len = 12;
    } else {
        FAIL("%s: .npy format version %d.%d is not supported (1.0, 2.0, 3.0 are)", path, major,
             pre[7]);
    }
    if (pre_len + hlen > fsize)
        FAIL("%s: header length %llu runs past the end of the file (%llu bytes)", path,
             (unsigned long long)hlen, (unsigned long long)fsize);
    header = xmalloc(hlen + 1);
    if (fread(header, 1, hlen, fp) != hlen) FAIL("%s: cannot read the header", path);
    header[hlen] = 0;
    NpyDescr d = {0};
    int rank = 0;
    int64_t dims[IR_MAX_RANK];
    if (!parse_header(header, hlen, &d, &rank, dims, why, sizeof why))
        FAIL("%s: %s", path, why);
    int64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] > 0 && numel > IR_MAX_ELEMENTS / dims[i])
            FAIL("%s: shape has more than %lld elements", path, (long long)IR_MAX_ELEMENTS);
        numel *= dims[i];
    }
    uint64_t want = (uint64_t)numel * (uint64_t)d.size, have = fsize - pre_len - hlen;
    if (have < want)
        FAIL("%s: truncated: the header promises %llu bytes of data but the file holds %llu",
             path, (unsigned long long)want, (unsigned long long)have);
    if (have > want)
        FAIL("%s: %llu bytes follow the %llu bytes of data the header describes", path,
             (unsigned long long)(have - want), (unsigned long long)want);
    t = tensor_create(d.dt, rank, dims, why, sizeof why);
    if (!t) FAIL("%s: %s", path, why);
    if (d.size == 4) {
        if (fread(t->data, 1, (size_t)want, fp) != want) FAIL("%s: read error", path);
    } else {
        enum { CHUNK = 1 << 16 };
        chunk = xmalloc((size_t)CHUNK * (size_t)d.size);
        for (int64_t at = 0; at < numel; at += CHUNK) {
            int64_t n = numel - at < CHUNK ? numel - at : CHUNK;
            if (fread(chunk, (size_t)d.size, (size_t)n, fp) != (size_t)n)
                FAIL("%s: read error", path);
            if (!convert(&d, chunk, n, t, at, why, sizeof why)) FAIL("%s: %s", path, why);
        }
    }
    fclose(fp);
    free(header);
    free(chunk);
    return t;
fail:
    fclose(fp);
    free(header);
    free(chunk);
    tensor_destroy(t);
    return NULL;
}

/* ---- writing ---- */

/* Create "PATH.tmp.XXXXXX" next to path; *tmp gets its malloc'd name. */
static FILE *open_temp(const char *path, char **tmp) {
    size_t n = strlen(path) + 16;
    *tmp = xmalloc(n);
    snprintf(*tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(*tmp);
    if (fd < 0) return NULL;
    fchmod(fd, 0644);
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        close(fd);
        unlink(*tmp);
    }
    return fp;
}

/* Flush, fsync, close and rename into place; on failure removes the temp file. */
static bool commit_temp(FILE *fp, const char *tmp, const char *path) {
    bool ok = fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    ok = fclose(fp) == 0 && ok;
    if (ok) ok = rename(tmp, path) == 0;
    if (!ok) unlink(tmp);
    return ok;
}

bool rt_npy_write(const char *path, const Tensor *t, char *err, size_t errlen) {
    const char *descr = t->dtype == DT_I32   ? "<i4"
                        : t->dtype == DT_F16 ? "<f2"
                        : t->dtype == DT_F64 ? "<f8"
                                             : "<f4";
    char dict[512];
    size_t k = (size_t)snprintf(dict, sizeof dict,
                                "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < t->rank; i++)
        k += (size_t)snprintf(dict + k, sizeof dict - k, "%lld,%s", (long long)t->dims[i],
                              i + 1 < t->rank ? " " : "");
    if (t->rank > 1) k--; /* NumPy writes (3,) but (2, 3) */
    k += (size_t)snprintf(dict + k, sizeof dict - k, "), }");
    /* Pad with spaces so that preamble + header is a multiple of 64, ending in '\n'. */
    size_t total = 10 + k + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t hlen = padded - 10;
    char *tmp = NULL;
    FILE *fp = open_temp(path, &tmp);
    if (!fp) {
        snprintf(err, errlen, "%s: cannot create a temporary file next to it: %s", path,
                 strerror(errno));
        free(tmp);
        return false;
    }
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    bool ok = fwrite(pre, 1, 10, fp) == 10 && fwrite(dict, 1, k, fp) == k;
    for (size_t i = k; ok && i < hlen - 1; i++) ok = fputc(' ', fp) != EOF;
    ok = ok && fputc('\n', fp) != EOF;
    int64_t n = tensor_numel(t);
    if (t->dtype == DT_BF16) {
        for (int64_t i = 0; ok && i < n; i++) {
            float f = ref_bf16_to_f32(((const uint16_t *)t->data)[i]);
            ok = fwrite(&f, 4, 1, fp) == 1;
        }
    } else if (ok && n > 0) {
        ok = fwrite(t->data, 1, tensor_bytes(t), fp) == tensor_bytes(t);
    }
    int saved = errno;
    if (!ok) {
        fclose(fp);
        unlink(tmp);
    } else if (!commit_temp(fp, tmp, path)) {
        saved = errno;
        ok = false;
    }
    if (!ok) snprintf(err, errlen, "%s: cannot write: %s", path, strerror(saved));
    free(tmp);
    return ok;
}
