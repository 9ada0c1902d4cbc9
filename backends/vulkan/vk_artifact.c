/* vk_artifact.c — the .tfcv file: everything `tfc run` needs to run a compiled model
 * without compiling a shader.
 *
 *   "TFCV" magic, u32 format version, u32 length + tfc version string
 *   u64 payload length, u64 FNV-1a hash of the payload    (truncation / corruption)
 *   payload:
 *     str  function name
 *     str  the module's optimized IR (text form: types, symbols, weights' initialisers)
 *     u32  weights; each: str name, str type ("f32[50257, 768]")
 *     u32  kernels (the schedule); each: str name, u64 shader hash, u32 bindings,
 *          i32 slot per binding
 *     u32  SPIR-V modules; each: u64 hash, u32 words, words
 * (str = u32 length + bytes; little-endian.)
 *
 * Loading parses the IR and regenerates the schedule; each kernel's shader is looked up
 * by hash in the file, so glslang does not run. The buffer plan is recomputed at each
 * run from the run's shapes (sizes depend on B and T); the stored schedule names the
 * slots so a mismatch (a different tfc) is detected, not silently run.
 *
 * Decision a newcomer may question: the IR travels inside the artifact. Shapes and
 * symbol binding at run time use the same code as compile time; a second, binary
 * description of shapes would be a second thing to keep right.
 */
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

#define TFCV_MAGIC "TFCV"
#define TFCV_VERSION 1u
#ifndef TFC_VERSION
#define TFC_VERSION "dev"
#endif

typedef struct {
    char *s;
    size_t n, cap;
} Buf;

static void put(Buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, p, n);
    b->n += n;
}
static void put32(Buf *b, uint32_t v) { put(b, &v, 4); }
static void put64(Buf *b, uint64_t v) { put(b, &v, 8); }
static void putstr(Buf *b, const char *s, size_t n) {
    put32(b, (uint32_t)n);
    put(b, s, n);
}

bool vk_artifact_write(FILE *out, IrFunc *f, const VkKernel *ks, int nks, const VkSpirvSet *spv,
                       char *err, size_t errlen) {
    Buf p = {0};
    putstr(&p, f->name, strlen(f->name));
    char *ir = NULL;
    size_t irn = 0;
    FILE *mf = open_memstream(&ir, &irn);
    ir_print_module(mf, f->module);
    fclose(mf);
    putstr(&p, ir, irn);
    free(ir);
    uint32_t nw = 0;
    for (IrWeight *w = f->module->weights; w; w = w->next) nw++;
    put32(&p, nw);
    for (IrWeight *w = f->module->weights; w; w = w->next) {
        char ts[IR_TYPE_STR_MAX];
        putstr(&p, w->name, strlen(w->name));
        ir_type_str(&w->type, ts, sizeof ts);
        putstr(&p, ts, strlen(ts));
    }
    put32(&p, (uint32_t)nks);
    for (int k = 0; k < nks; k++) {
        putstr(&p, ks[k].name, strlen(ks[k].name));
        put64(&p, ks[k].pipe < spv->n ? spv->v[ks[k].pipe].hash : 0);
        put32(&p, (uint32_t)ks[k].nbind);
        for (int i = 0; i < ks[k].nbind; i++) put32(&p, (uint32_t)ks[k].bind[i]);
    }
    put32(&p, (uint32_t)spv->n);
    for (int i = 0; i < spv->n; i++) {
        put64(&p, spv->v[i].hash);
        put32(&p, (uint32_t)spv->v[i].nwords);
        put(&p, spv->v[i].words, spv->v[i].nwords * 4);
    }
    Buf h = {0};
    put(&h, TFCV_MAGIC, 4);
    put32(&h, TFCV_VERSION);
    putstr(&h, TFC_VERSION, strlen(TFC_VERSION));
    put64(&h, p.n);
    put64(&h, vk_hash(p.s, p.n, 0));
    bool ok = fwrite(h.s, 1, h.n, out) == h.n && fwrite(p.s, 1, p.n, out) == p.n;
    if (!ok) snprintf(err, errlen, "cannot write the artifact");
    free(h.s);
    free(p.s);
    return ok;
}

typedef struct {
    const unsigned char *p;
    size_t n, at;
    bool bad;
} Rd;

static bool get(Rd *r, void *out, size_t n) {
    if (r->bad || r->n - r->at < n) {
        r->bad = true;
        memset(out, 0, n);
        return false;
    }
    memcpy(out, r->p + r->at, n);
    r->at += n;
    return true;
}
static uint32_t get32(Rd *r) {
    uint32_t v;
    get(r, &v, 4);
    return v;
}
static uint64_t get64(Rd *r) {
    uint64_t v;
    get(r, &v, 8);
    return v;
}
static const char *getstr(Rd *r, size_t *n) {
    *n = get32(r);
    if (r->bad || r->n - r->at < *n) {
        r->bad = true;
        *n = 0;
        return "";
    }
    const char *s = (const char *)r->p + r->at;
    r->at += *n;
    return s;
}

static unsigned char *slurp(const char *path, size_t *n, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open '%s'", path);
        return NULL;
    }
    size_t cap = 1 << 20, len = 0;
    unsigned char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) buf = xrealloc(buf, cap *= 2);
    }
    fclose(f);
    *n = len;
    return buf;
}

bool vk_is_artifact(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char m[4] = {0};
    bool yes = fread(m, 1, 4, f) == 4 && memcmp(m, TFCV_MAGIC, 4) == 0;
    fclose(f);
    return yes;
}

/* Opens and checks the header; r is positioned at the payload. */
static unsigned char *open_checked(const char *path, Rd *r, char *err, size_t errlen) {
    size_t n;
    unsigned char *buf = slurp(path, &n, err, errlen);
    if (!buf) return NULL;
    *r = (Rd){buf, n, 0, false};
    char magic[4];
    if (!get(r, magic, 4) || memcmp(magic, TFCV_MAGIC, 4) != 0) {
        snprintf(err, errlen, "'%s' is not a tfc Vulkan artifact (.tfcv): bad magic number", path);
        free(buf);
        return NULL;
    }
    uint32_t ver = get32(r);
    size_t vn;
    const char *vs = getstr(r, &vn);
    if (r->bad) goto truncated;
    if (ver != TFCV_VERSION || vn != strlen(TFC_VERSION) || memcmp(vs, TFC_VERSION, vn) != 0) {
        snprintf(err, errlen, "'%s' was written by tfc %.*s (artifact format %u); this is tfc %s "
                 "(format %u): recompile it with `tfc compile ... --target vulkan -o %s`",
                 path, (int)(vn > 40 ? 40 : vn), vs, ver, TFC_VERSION, TFCV_VERSION, path);
        free(buf);
        return NULL;
    }
    uint64_t plen = get64(r), phash = get64(r);
    if (r->bad || r->n - r->at < plen) goto truncated;
    if (vk_hash(r->p + r->at, plen, 0) != phash) {
        snprintf(err, errlen, "'%s' is corrupt: its checksum does not match", path);
        free(buf);
        return NULL;
    }
    return buf;
truncated:
    snprintf(err, errlen, "'%s' is truncated (%zu bytes): recompile it", path, n);
    free(buf);
    return NULL;
}

IrModule *vk_artifact_load_module(const char *path, char *err, size_t errlen) {
    Rd r;
    unsigned char *buf = open_checked(path, &r, err, errlen);
    if (!buf) return NULL;
    size_t n;
    getstr(&r, &n); /* function name */
    const char *ir = getstr(&r, &n);
    char *src = xmalloc(n + 1);
    memcpy(src, ir, n);
    src[n] = 0;
    Diag d;
    diag_init(&d, path, src, n, stderr);
    IrModule *m = ir_parse(src, n, &d);
    if (!m) snprintf(err, errlen, "'%s': the IR inside the artifact does not parse", path);
    free(src);
    free(buf);
    return m;
}

bool vk_artifact_read_spirv(const char *path, VkSpirvSet *out, char *err, size_t errlen) {
    Rd r;
    unsigned char *buf = open_checked(path, &r, err, errlen);
    if (!buf) return false;
    size_t n;
    getstr(&r, &n);
    getstr(&r, &n);
    uint32_t nw = get32(&r);
    for (uint32_t i = 0; i < nw && !r.bad; i++) {
        getstr(&r, &n);
        getstr(&r, &n);
    }
    uint32_t nk = get32(&r);
    for (uint32_t k = 0; k < nk && !r.bad; k++) {
        getstr(&r, &n);
        get64(&r);
        uint32_t nb = get32(&r);
        for (uint32_t i = 0; i < nb && !r.bad; i++) get32(&r);
    }
    uint32_t ns = get32(&r);
    for (uint32_t i = 0; i < ns && !r.bad; i++) {
        uint64_t h = get64(&r);
        uint32_t nwords = get32(&r);
        if (r.n - r.at < (size_t)nwords * 4) {
            r.bad = true;
            break;
        }
        uint32_t *w = xmalloc((size_t)nwords * 4 + 4);
        get(&r, w, (size_t)nwords * 4);
        vk_spirv_add(out, h, w, nwords);
        free(w);
    }
    free(buf);
    if (r.bad) {
        snprintf(err, errlen, "'%s' is truncated or corrupt: recompile it", path);
        vk_spirv_set_free(out);
        return false;
    }
    return true;
}
