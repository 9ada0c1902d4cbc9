/* bpe.c — GPT-2's byte-level BPE (format and contract in bpe.h).
 *
 * Encoding is three steps. (1) The pre-tokenizer splits text into words with GPT-2's
 * pattern, compiled once with PCRE2 (UTF, Unicode properties, JIT when the library has
 * it, and PCRE2_MATCH_INVALID_UTF so that invalid UTF-8 is skipped, never an error: the
 * bytes a match skips become a word of their own). (2) Each word's bytes start as one
 * token each and are merged by BPE. (3) A cache maps words already seen to their ids,
 * which is what makes real text fast: most words repeat.
 *
 * Decisions a newcomer may question:
 * - Tokens are handled as ids and raw bytes, never as the "byte-level unicode" strings of
 *   encoder.json: the files are translated once at load time (each character of a token
 *   string stands for one byte), so merging compares integers.
 * - The merge loop is not the reference's "rescan all pairs, merge the best one
 *   everywhere" (quadratic in the word: a 1 MB run of letters would take hours) but a
 *   heap of candidate pairs ordered by (rank, position). It reproduces the reference
 *   exactly: all pairs of the lowest rank are taken from the heap before any is merged
 *   and merged left to right, skipping those an earlier merge consumed, just as the
 *   reference's left-to-right scan does; pairs created by a merge only enter later rounds.
 * - `\s` in the pattern is spelled out as JavaScript's whitespace set, because the
 *   reference encoder runs in JavaScript and PCRE2's `\s` differs from it on U+FEFF
 *   (see docs/tokenizer.md).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "bpe.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/arena.h"

/* Whitespace as JavaScript's \s (ECMA-262 WhiteSpace + LineTerminator). */
#define WS "\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}" \
           "\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}"
/* GPT-2's pattern: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static const char bpe_pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS
                                  "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])|[" WS "]+";

enum { CACHE_MAX_WORDS = 1 << 18, CACHE_MAX_WORD_LEN = 256, MAX_VOCAB = 1 << 24 };

/* ---- a hash map from byte strings to two int32s ---- */

typedef struct {
    const char *key; /* NULL: empty slot */
    uint32_t len;
    int32_t a, b;
} Slot;

typedef struct {
    Slot *slots;
    size_t cap, n; /* cap a power of two */
} StrMap;

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static Slot *map_find(const StrMap *m, const char *s, size_t n) {
    if (!m->cap) return NULL;
    for (size_t i = hash_bytes(s, n) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        Slot *e = &m->slots[i];
        if (!e->key) return e;
        if (e->len == n && memcmp(e->key, s, n) == 0) return e;
    }
}

/* Inserts key (which must outlive the map) unless present; returns its slot. */
static Slot *map_put(StrMap *m, const char *s, size_t n, bool *fresh) {
    if ((m->n + 1) * 2 > m->cap) {
        StrMap g = {xcalloc(m->cap ? m->cap * 2 : 1024, sizeof(Slot)), m->cap ? m->cap * 2 : 1024, 0};
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].key) *map_find(&g, m->slots[i].key, m->slots[i].len) = m->slots[i];
        g.n = m->n;
        free(m->slots);
        *m = g;
    }
    Slot *e = map_find(m, s, n);
    *fresh = !e->key;
    if (*fresh) {
        e->key = s;
        e->len = (uint32_t)n;
        m->n++;
    }
    return e;
}

/* ---- the tokenizer ---- */

typedef struct {
    int32_t rank, result;
} Merge;

struct RtBpe {
    int32_t nvocab;
    char **tok;        /* tok[id]: the token's bytes (NUL-terminated for convenience) */
    uint32_t *toklen;
    StrMap vocab;      /* bytes -> id (a) */
    int32_t byte_id[256];
    /* merges: open addressing on the pair (a, b) */
    uint64_t *mkeys;   /* (a << 32 | b) + 1; 0: empty */
    Merge *mvals;
    size_t mcap;
    pcre2_code *re;
    pcre2_match_data *md;
    /* word cache: bytes -> ids pool[a .. a+b) */
    StrMap cache;
    Arena cache_keys;
    RtIds pool;
};

void rt_ids_push(RtIds *ids, int32_t id) {
    if (ids->n == ids->cap) {
        ids->cap = ids->cap ? ids->cap * 2 : 64;
        ids->v = xrealloc(ids->v, ids->cap * sizeof *ids->v);
    }
    ids->v[ids->n++] = id;
}

void rt_ids_free(RtIds *ids) {
    free(ids->v);
    memset(ids, 0, sizeof *ids);
}

int32_t rt_bpe_vocab_size(const RtBpe *b) { return b->nvocab; }

const char *rt_bpe_token(const RtBpe *b, int32_t id, size_t *len) {
    if (id < 0 || id >= b->nvocab || !b->tok[id]) return NULL;
    *len = b->toklen[id];
    return b->tok[id];
}

int32_t rt_bpe_lookup(const RtBpe *b, const char *s, size_t len) {
    const Slot *e = map_find(&b->vocab, s, len);
    return e && e->key ? e->a : -1;
}

static const Merge *merge_find(const RtBpe *b, int32_t x, int32_t y) {
    uint64_t key = ((uint64_t)(uint32_t)x << 32 | (uint32_t)y) + 1;
    for (size_t i = (size_t)(key * 0x9E3779B97F4A7C15ull >> 20) & (b->mcap - 1);;
         i = (i + 1) & (b->mcap - 1)) {
        if (b->mkeys[i] == key) return &b->mvals[i];
        if (!b->mkeys[i]) return NULL;
    }
}

/* ---- loading ---- */

/* GPT-2's bytes_to_unicode, inverted: the byte a code point stands for, or -1. */
static int cp_to_byte(uint32_t cp) {
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255))
        return (int)cp;
    if (cp < 256 || cp >= 256 + 68) return -1;
    int n = 0; /* the (cp-256)-th byte that is not printable */
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
        if (!printable && n++ == (int)(cp - 256)) return b;
    }
    return -1;
}

/* Decodes UTF-8 byte-level text s[0..n) into raw bytes out (at most n); -1 if it is not. */
static long unlevel(const char *s, size_t n, char *out) {
    const unsigned char *p = (const unsigned char *)s;
    long k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        if (p[i] < 0x80) cp = p[i++];
        else if ((p[i] & 0xE0) == 0xC0 && i + 1 < n && (p[i + 1] & 0xC0) == 0x80) {
            cp = (uint32_t)(p[i] & 0x1F) << 6 | (p[i + 1] & 0x3F);
            i += 2;
        } else return -1; /* byte-level characters are all below U+0800 */
        int byte = cp_to_byte(cp);
        if (byte < 0) return -1;
        out[k++] = (char)byte;
    }
    return k;
}

static char *read_all(const char *path, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = xmalloc(cap + 1);
    for (size_t got; (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            if (cap >= (size_t)256 << 20) {
                snprintf(err, errlen, "%s: larger than 256 MiB", path);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = xrealloc(buf, (cap *= 2) + 1);
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s: cannot read", path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static bool load_encoder(RtBpe *b, const char *path, char *err, size_t errlen) {
    size_t len;
    char *src = read_all(path, &len, err, errlen);
    if (!src) return false;
    cJSON *root = cJSON_ParseWithLength(src, len);
    free(src);
    bool ok = false;
    if (!root || !cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: not a JSON object of token -> id", path);
        goto done;
    }
    int32_t maxid = -1;
    for (cJSON *e = root->child; e; e = e->next) {
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (!(v >= 0 && v < MAX_VOCAB) || v != (int32_t)v) {
            snprintf(err, errlen, "%s: token '%.60s' has id %s, not an integer in [0, %d)",
                     path, e->string, cJSON_IsNumber(e) ? "out of range" : "that is not a number",
                     MAX_VOCAB);
            goto done;
        }
        if ((int32_t)v > maxid) maxid = (int32_t)v;
    }
    b->nvocab = maxid + 1;
    b->tok = xcalloc((size_t)(b->nvocab ? b->nvocab : 1), sizeof *b->tok);
    b->toklen = xcalloc((size_t)(b->nvocab ? b->nvocab : 1), sizeof *b->toklen);
    for (cJSON *e = root->child; e; e = e->next) {
        int32_t id = (int32_t)e->valuedouble;
        size_t n = strlen(e->string);
        char *bytes = xmalloc(n + 1);
        long k = unlevel(e->string, n, bytes);
        if (k <= 0) {
            snprintf(err, errlen, "%s: token '%.60s' (id %d) is not byte-level text", path,
                     e->string, id);
            free(bytes);
            goto done;
        }
        bytes[k] = 0;
        if (b->tok[id]) {
            snprintf(err, errlen, "%s: id %d is given to two tokens", path, id);
            free(bytes);
            goto done;
        }
        bool fresh;
        Slot *s = map_put(&b->vocab, bytes, (size_t)k, &fresh);
        b->tok[id] = bytes;
        b->toklen[id] = (uint32_t)k;
        if (!fresh) {
            snprintf(err, errlen, "%s: token '%.60s' appears twice (ids %d and %d)", path,
                     e->string, s->a, id);
            goto done;
        }
        s->a = id;
    }
    for (int c = 0; c < 256; c++) {
        char byte = (char)c;
        b->byte_id[c] = rt_bpe_lookup(b, &byte, 1);
        if (b->byte_id[c] < 0) {
            snprintf(err, errlen, "%s: byte 0x%02x has no token of its own", path, c);
            goto done;
        }
    }
    ok = true;
done:
    cJSON_Delete(root);
    return ok;
}

static bool load_merges(RtBpe *b, const char *path, char *err, size_t errlen) {
    size_t len;
    char *src = read_all(path, &len, err, errlen);
    if (!src) return false;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += src[i] == '\n';
    b->mcap = 16;
    while (b->mcap < lines * 2) b->mcap *= 2;
    b->mkeys = xcalloc(b->mcap, sizeof *b->mkeys);
    b->mvals = xcalloc(b->mcap, sizeof *b->mvals);
    char *buf = xmalloc(len + 1);
    int32_t rank = 0;
    int lineno = 0;
    bool ok = true;
    for (char *line = src, *end; ok && line < src + len; line = end + 1) {
        end = memchr(line, '\n', (size_t)(src + len - line));
        if (!end) end = src + len;
        lineno++;
        size_t n = (size_t)(end - line);
        if (n && line[n - 1] == '\r') n--;
        if (n == 0 || (lineno == 1 && strncmp(line, "#version", 8) == 0)) continue;
        char *sp = memchr(line, ' ', n);
        if (!sp || sp == line || sp + 1 == line + n || memchr(sp + 1, ' ', (size_t)(line + n - sp - 1))) {
            snprintf(err, errlen, "%s:%d: a merge is two tokens separated by one space", path, lineno);
            ok = false;
            break;
        }
        long ka = unlevel(line, (size_t)(sp - line), buf);
        long kb = ka > 0 ? unlevel(sp + 1, (size_t)(line + n - sp - 1), buf + ka) : -1;
        int32_t x = ka > 0 ? rt_bpe_lookup(b, buf, (size_t)ka) : -1;
        int32_t y = kb > 0 ? rt_bpe_lookup(b, buf + ka, (size_t)kb) : -1;
        int32_t r = x >= 0 && y >= 0 ? rt_bpe_lookup(b, buf, (size_t)(ka + kb)) : -1;
        if (r < 0) {
            snprintf(err, errlen, "%s:%d: merge '%.*s' %s", path, lineno, (int)n, line,
                     x < 0 || y < 0 ? "has a part that is not a token of encoder.json"
                                    : "makes a token that is not in encoder.json");
            ok = false;
            break;
        }
        if (merge_find(b, x, y)) continue; /* a repeated merge keeps its first rank */
        uint64_t key = ((uint64_t)(uint32_t)x << 32 | (uint32_t)y) + 1;
        size_t i = (size_t)(key * 0x9E3779B97F4A7C15ull >> 20) & (b->mcap - 1);
        while (b->mkeys[i]) i = (i + 1) & (b->mcap - 1);
        b->mkeys[i] = key;
        b->mvals[i] = (Merge){rank++, r};
    }
    free(buf);
    free(src);
    return ok;
}

RtBpe *rt_bpe_load(const char *dir, char *err, size_t errlen) {
    RtBpe *b = xcalloc(1, sizeof *b);
    size_t n = strlen(dir) + 32;
    char *path = xmalloc(n);
    snprintf(path, n, "%s/encoder.json", dir);
    bool ok = load_encoder(b, path, err, errlen);
    snprintf(path, n, "%s/vocab.bpe", dir);
    ok = ok && load_merges(b, path, err, errlen);
    free(path);
    if (ok) {
        int code;
        PCRE2_SIZE at;
        b->re = pcre2_compile((PCRE2_SPTR)bpe_pattern, PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code, &at, NULL);
        if (!b->re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            snprintf(err, errlen, "the pre-tokenizer pattern does not compile at %zu: %s",
                     (size_t)at, (char *)msg);
            ok = false;
        } else {
            pcre2_jit_compile(b->re, PCRE2_JIT_COMPLETE); /* optional: interpreted otherwise */
            b->md = pcre2_match_data_create_from_pattern(b->re, NULL);
        }
    }
    if (!ok) {
        rt_bpe_destroy(b);
        return NULL;
    }
    return b;
}

void rt_bpe_destroy(RtBpe *b) {
    if (!b) return;
    for (int32_t i = 0; i < b->nvocab; i++) free(b->tok[i]);
    free(b->tok);
    free(b->toklen);
    free(b->vocab.slots);
    free(b->mkeys);
    free(b->mvals);
    if (b->md) pcre2_match_data_free(b->md);
    if (b->re) pcre2_code_free(b->re);
    free(b->cache.slots);
    arena_free(&b->cache_keys);
    rt_ids_free(&b->pool);
    free(b);
}

/* ---- merging one word ---- */

typedef struct {
    int32_t rank, left; /* order: rank, then position */
    int32_t x, y;       /* the pair when pushed: stale if the symbols changed since */
} Cand;

typedef struct {
    Cand *v;
    size_t n, cap;
} Heap;

static bool cand_less(const Cand *a, const Cand *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->left < b->left;
}

static void heap_push(Heap *h, Cand c) {
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = xrealloc(h->v, h->cap * sizeof *h->v);
    }
    size_t i = h->n++;
    for (; i > 0 && cand_less(&c, &h->v[(i - 1) / 2]); i = (i - 1) / 2) h->v[i] = h->v[(i - 1) / 2];
    h->v[i] = c;
}

static Cand heap_pop(Heap *h) {
    Cand top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && cand_less(&h->v[c + 1], &h->v[c])) c++;
        if (!cand_less(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

typedef struct {
    int32_t *id, *next, *prev; /* a doubly linked list of symbols; id -1: merged away */
    Heap heap;
    Cand *round;
    size_t round_cap;
} Work;

static void push_pair(const RtBpe *b, Work *w, int32_t left) {
    int32_t right = w->next[left];
    if (right < 0) return;
    const Merge *m = merge_find(b, w->id[left], w->id[right]);
    if (m) heap_push(&w->heap, (Cand){m->rank, left, w->id[left], w->id[right]});
}

/* BPE of one word's bytes; appends its ids to out. */
static void merge_word(const RtBpe *b, const unsigned char *s, int32_t n, RtIds *out) {
    if (n == 1) {
        rt_ids_push(out, b->byte_id[s[0]]);
        return;
    }
    Work w = {0};
    w.id = xmalloc((size_t)n * sizeof *w.id);
    w.next = xmalloc((size_t)n * sizeof *w.next);
    w.prev = xmalloc((size_t)n * sizeof *w.prev);
    for (int32_t i = 0; i < n; i++) {
        w.id[i] = b->byte_id[s[i]];
        w.next[i] = i + 1 < n ? i + 1 : -1;
        w.prev[i] = i - 1;
    }
    for (int32_t i = 0; i + 1 < n; i++) push_pair(b, &w, i);
    while (w.heap.n) {
        /* One round: every candidate of the lowest rank, in position order. */
        size_t k = 0;
        int32_t rank = w.heap.v[0].rank;
        while (w.heap.n && w.heap.v[0].rank == rank) {
            if (k == w.round_cap) {
                w.round_cap = w.round_cap ? w.round_cap * 2 : 64;
                w.round = xrealloc(w.round, w.round_cap * sizeof *w.round);
            }
            w.round[k++] = heap_pop(&w.heap);
        }
        for (size_t j = 0; j < k; j++) {
            const Cand *c = &w.round[j];
            int32_t l = c->left, r = w.next[l];
            if (w.id[l] != c->x || r < 0 || w.id[r] != c->y) continue; /* stale */
            w.id[l] = merge_find(b, c->x, c->y)->result;
            w.id[r] = -1;
            w.next[l] = w.next[r];
            if (w.next[r] >= 0) w.prev[w.next[r]] = l;
            if (w.prev[l] >= 0) push_pair(b, &w, w.prev[l]);
            push_pair(b, &w, l);
        }
    }
    for (int32_t i = 0; i >= 0; i = w.next[i]) rt_ids_push(out, w.id[i]);
    free(w.id);
    free(w.next);
    free(w.prev);
    free(w.heap.v);
    free(w.round);
}

static void encode_word(RtBpe *b, const char *s, size_t n, RtIds *out) {
    if (n > CACHE_MAX_WORD_LEN || n > INT32_MAX) {
        /* Long words are rare and would bloat the cache; very long ones are split into
         * chunks of 2^30 bytes only because positions are int32 (no such text is real). */
        for (size_t at = 0; at < n; at += (size_t)1 << 30) {
            size_t m = n - at < ((size_t)1 << 30) ? n - at : (size_t)1 << 30;
            merge_word(b, (const unsigned char *)s + at, (int32_t)m, out);
        }
        return;
    }
    const Slot *hit = map_find(&b->cache, s, n);
    if (hit && hit->key) {
        for (int32_t i = 0; i < hit->b; i++) rt_ids_push(out, b->pool.v[hit->a + i]);
        return;
    }
    size_t from = out->n;
    merge_word(b, (const unsigned char *)s, (int32_t)n, out);
    if (b->cache.n >= CACHE_MAX_WORDS) { /* full: start over rather than grow without bound */
        free(b->cache.slots);
        memset(&b->cache, 0, sizeof b->cache);
        arena_free(&b->cache_keys);
        b->pool.n = 0;
    }
    bool fresh;
    Slot *e = map_put(&b->cache, arena_strdup(&b->cache_keys, s, n), n, &fresh);
    e->a = (int32_t)b->pool.n;
    e->b = (int32_t)(out->n - from);
    for (size_t i = from; i < out->n; i++) rt_ids_push(&b->pool, out->v[i]);
}

bool rt_bpe_encode(RtBpe *b, const char *text, size_t len, RtIds *ids, char *err, size_t errlen) {
    size_t off = 0;
    while (off < len) {
        int rc = pcre2_match(b->re, (PCRE2_SPTR)text, len, off, 0, b->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) {
            encode_word(b, text + off, len - off, ids); /* trailing bytes no word matched */
            break;
        }
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            snprintf(err, errlen, "pre-tokenizer failed at byte %zu: %s", off, (char *)msg);
            return false;
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(b->md);
        if (ov[0] > off) encode_word(b, text + off, ov[0] - off, ids); /* invalid UTF-8 */
        if (ov[1] <= ov[0]) { /* cannot happen (every alternative takes a character) */
            snprintf(err, errlen, "pre-tokenizer matched nothing at byte %zu", (size_t)ov[0]);
            return false;
        }
        encode_word(b, text + ov[0], ov[1] - ov[0], ids);
        off = ov[1];
    }
    return true;
}
