/* data.c — loaders and batchers for the training data (contract in data.h).
 *
 * Text is tokenized whole, split by position (the first `split` of the tokens train, the
 * rest validate), and cut into non-overlapping windows of block+1 tokens; an epoch visits
 * every training window once in a permutation drawn from (seed, epoch). Labelled text is
 * one example per line, `LABEL<TAB>TEXT`, shuffled once with a fixed key before the split
 * (so the split is the same for every seed, and a file sorted by label still gets both
 * classes on each side).
 *
 * `tokens = bpe("data/gpt2")` uses GPT-2's own tokenizer (runtime/bpe.h) and its whole
 * vocabulary, so a model trained on it is a genuine GPT-2 that `tfc generate --tokenizer`
 * decodes; its ids are GPT-2's, none unknown, and the baseline is their unigram entropy.
 *
 * Decision a newcomer may question: "characters" are bytes. Vocabularies stay small
 * (Moby Dick has 90-odd distinct bytes), a multi-byte UTF-8 character is just a few
 * tokens the model learns to emit together, and no text can fail to decode.
 */
#include "data.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/bpe.h"
#include "runtime/init.h"

enum { MAX_DATA = 512 << 20 };

uint64_t rt_rng_next(RtRng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint32_t rt_rng_below(RtRng *r, uint32_t n) {
    /* Lemire's multiply-shift; the bias (n / 2^32) is far below anything measurable here. */
    return (uint32_t)(((rt_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

typedef struct {
    const char *s;
    int len;
    int64_t count;
    int id;
} Word;

struct RtData {
    RtDataSpec spec;
    RtDataInfo info;
    uint64_t seed;
    /* text: every token, the training split first */
    int32_t *tok;
    int64_t ntok, ntrain_tok;
    /* finite examples (labelled, modadd): T ids + targets each */
    int32_t *tr_idx, *tr_tgt, *va_idx, *va_tgt;
    /* the order of this epoch */
    int64_t *perm;
    uint64_t epoch, index;
    RtRng rng;
    /* vocabulary (text): byte -> id, id -> piece */
    int byte_id[256];
    char *raw;        /* the file's bytes (word pieces point into it) */
    char *vocab_text; /* labelled word vocabulary: the training texts the pieces point into */
    Word *words;      /* word vocabulary sorted by text, for lookup */
    int nwords;
    const char **piece; /* id -> text */
    int *piece_len;
    RtBpe *bpe;         /* tokens = bpe(DIR): GPT-2's tokenizer (ids are GPT-2's) */
};

const RtDataInfo *rt_data_info(const RtData *d) { return &d->info; }

static char *read_all(const char *path, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open '%s': %s%s", path, strerror(errno),
                 errno == ENOENT ? " (scripts/fetch-data.sh fetches the data sets into data/)" : "");
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_DATA) {
                snprintf(err, errlen, "'%s' is larger than 512 MiB", path);
                free(buf);
                fclose(f);
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
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "cannot read '%s'", path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* ---- tokenizers ---- */

static bool word_byte(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '\'' || c >= 0x80; }
static bool space_byte(unsigned char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

/* Word pieces of s[0, n): runs of letters, digits, apostrophes and non-ASCII bytes, or
 * one punctuation byte; whitespace separates. Calls fn for each. Returns the count. */
static int64_t split_words(const char *s, size_t n, void (*fn)(void *, const char *, int), void *ctx) {
    int64_t count = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (space_byte(c)) {
            i++;
            continue;
        }
        size_t j = i + 1;
        if (word_byte(c))
            while (j < n && word_byte((unsigned char)s[j]) && j - i < 64) j++;
        if (fn) fn(ctx, s + i, (int)(j - i));
        count++;
        i = j;
    }
    return count;
}

static int cmp_word_text(const void *a, const void *b) {
    const Word *x = a, *y = b;
    int m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, (size_t)m);
    return c ? c : x->len - y->len;
}

static int cmp_word_count(const void *a, const void *b) {
    const Word *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return cmp_word_text(a, b);
}

typedef struct {
    Word *w;
    int64_t n;
} WordList;

static void collect(void *ctx, const char *s, int len) {
    WordList *l = ctx;
    l->w[l->n++] = (Word){s, len, 1, 0};
}

/* Builds the word vocabulary from the training text: ids from `first` on, most frequent
 * first, at most max_vocab ids in all (0: no limit). */
static void build_word_vocab(RtData *d, const char *s, size_t n, int first, int max_vocab) {
    int64_t total = split_words(s, n, NULL, NULL);
    WordList l = {xmalloc(sizeof(Word) * (size_t)(total ? total : 1)), 0};
    split_words(s, n, collect, &l);
    qsort(l.w, (size_t)l.n, sizeof(Word), cmp_word_text);
    int64_t u = 0;
    for (int64_t i = 0; i < l.n; i++) {
        if (u > 0 && cmp_word_text(&l.w[u - 1], &l.w[i]) == 0) l.w[u - 1].count++;
        else l.w[u++] = l.w[i];
    }
    qsort(l.w, (size_t)u, sizeof(Word), cmp_word_count);
    int64_t keep = u;
    if (max_vocab > 0 && keep > max_vocab - first) keep = max_vocab - first;
    d->nwords = (int)keep;
    d->info.vocab = first + (int)keep;
    d->piece = xcalloc((size_t)d->info.vocab, sizeof *d->piece);
    d->piece_len = xcalloc((size_t)d->info.vocab, sizeof *d->piece_len);
    for (int i = 0; i < keep; i++) {
        l.w[i].id = first + i;
        d->piece[first + i] = l.w[i].s;
        d->piece_len[first + i] = l.w[i].len;
    }
    d->words = xrealloc(l.w, sizeof(Word) * (size_t)(keep ? keep : 1));
    qsort(d->words, (size_t)keep, sizeof(Word), cmp_word_text);
}

static int word_id(const RtData *d, const char *s, int len, int unk) {
    Word key = {s, len, 0, 0};
    const Word *w = bsearch(&key, d->words, (size_t)d->nwords, sizeof(Word), cmp_word_text);
    return w ? w->id : unk;
}

typedef struct {
    const RtData *d;
    int32_t *out;
    int64_t n, max;
    int unk;
} Enc;

static void enc_word(void *ctx, const char *s, int len) {
    Enc *e = ctx;
    if (e->n < e->max) e->out[e->n] = word_id(e->d, s, len, e->unk);
    e->n++;
}

/* Byte vocabulary of the training text: ids from `first` on, in byte order. */
static void build_byte_vocab(RtData *d, const unsigned char *s, size_t n, int first) {
    bool seen[256] = {0};
    for (size_t i = 0; i < n; i++) seen[s[i]] = true;
    int id = first;
    for (int c = 0; c < 256; c++) d->byte_id[c] = seen[c] ? id++ : -1;
    d->info.vocab = id;
}

/* Encodes s[0, n) into out (at most max ids); returns the number of tokens. */
static int64_t encode(const RtData *d, const char *s, size_t n, int32_t *out, int64_t max, int unk) {
    if (d->spec.tokens == RT_TOK_BPE) { /* only prompts come here: open_text encodes the book itself */
        RtIds ids = {0};
        char why[256];
        if (!rt_bpe_encode(d->bpe, s, n, &ids, why, sizeof why)) ids.n = 0;
        for (size_t i = 0; i < ids.n && (int64_t)i < max; i++) out[i] = ids.v[i];
        int64_t got = (int64_t)ids.n;
        rt_ids_free(&ids);
        return got;
    }
    if (d->spec.tokens == RT_TOK_WORD) {
        Enc e = {d, out, 0, max, unk};
        split_words(s, n, enc_word, &e);
        return e.n;
    }
    for (size_t i = 0; i < n; i++)
        if ((int64_t)i < max) {
            int id = d->byte_id[(unsigned char)s[i]];
            out[i] = id < 0 ? unk : id;
        }
    return (int64_t)n;
}

int rt_data_encode(const RtData *d, const char *text, int32_t *out, int max) {
    int64_t n = encode(d, text, strlen(text), out, max, 0);
    return (int)(n < max ? n : max);
}

void rt_data_decode(const RtData *d, const int32_t *ids, int n, FILE *out) {
    for (int i = 0; i < n; i++) {
        int id = ids[i];
        if (d->spec.tokens == RT_TOK_BPE) {
            size_t len;
            const char *b = rt_bpe_token(d->bpe, id, &len);
            if (b) fwrite(b, 1, len, out);
            else fputs("<unk>", out);
        } else if (d->spec.tokens == RT_TOK_CHAR) {
            int c = -1;
            for (int b = 0; b < 256 && c < 0; b++)
                if (d->byte_id[b] == id) c = b;
            fputc(c < 0 ? '?' : c, out);
        } else {
            if (i) fputc(' ', out);
            if (id >= 0 && id < d->info.vocab && d->piece[id]) fwrite(d->piece[id], 1, (size_t)d->piece_len[id], out);
            else fputs("<unk>", out);
        }
    }
}

/* ---- sources ---- */

static double unigram_entropy(const int32_t *tok, int64_t n, int vocab) {
    int64_t *count = xcalloc((size_t)vocab, sizeof *count);
    for (int64_t i = 0; i < n; i++) count[tok[i]]++;
    double h = 0;
    for (int v = 0; v < vocab; v++)
        if (count[v]) h -= (double)count[v] / (double)n * log((double)count[v] / (double)n);
    free(count);
    return h;
}

/* GPT-2 BPE: the tokenizer's whole vocabulary (50257 ids, none unknown), the two splits
 * encoded apart (the cut is at white space, which BPE attaches to the next word anyway). */
static bool open_bpe_text(RtData *d, size_t cut, size_t len, int64_t *ntr, int64_t *nva, char *err, size_t errlen) {
    char why[512];
    d->bpe = rt_bpe_load(d->spec.bpe_dir, why, sizeof why);
    if (!d->bpe) {
        snprintf(err, errlen, "cannot load the BPE tokenizer: %s (scripts/fetch-data.sh fetches it into data/gpt2)",
                 why);
        return false;
    }
    RtIds tr = {0}, va = {0};
    if (!rt_bpe_encode(d->bpe, d->raw, cut, &tr, why, sizeof why) ||
        !rt_bpe_encode(d->bpe, d->raw + cut, len - cut, &va, why, sizeof why)) {
        snprintf(err, errlen, "'%s': %s", d->spec.path, why);
        rt_ids_free(&tr);
        rt_ids_free(&va);
        return false;
    }
    *ntr = (int64_t)tr.n, *nva = (int64_t)va.n;
    d->ntok = *ntr + *nva;
    d->tok = xmalloc(sizeof(int32_t) * (size_t)(d->ntok ? d->ntok : 1));
    if (tr.n) memcpy(d->tok, tr.v, sizeof(int32_t) * tr.n);
    if (va.n) memcpy(d->tok + tr.n, va.v, sizeof(int32_t) * va.n);
    rt_ids_free(&tr);
    rt_ids_free(&va);
    d->info.vocab = rt_bpe_vocab_size(d->bpe);
    return true;
}

static bool open_text(RtData *d, char *err, size_t errlen) {
    size_t len;
    d->raw = read_all(d->spec.path, &len, err, errlen);
    if (!d->raw) return false;
    size_t cut = (size_t)((double)len * d->spec.split);
    while (cut < len && cut > 0 && !space_byte((unsigned char)d->raw[cut])) cut++; /* a word boundary */
    int64_t ntr, nva;
    if (d->spec.tokens == RT_TOK_BPE) {
        if (!open_bpe_text(d, cut, len, &ntr, &nva, err, errlen)) return false;
    } else {
        if (d->spec.tokens == RT_TOK_WORD) build_word_vocab(d, d->raw, cut, 1, d->spec.max_vocab);
        else build_byte_vocab(d, (const unsigned char *)d->raw, cut, 1);
        ntr = encode(d, d->raw, cut, NULL, 0, 0), nva = encode(d, d->raw + cut, len - cut, NULL, 0, 0);
        d->ntok = ntr + nva;
        d->tok = xmalloc(sizeof(int32_t) * (size_t)(d->ntok ? d->ntok : 1));
        encode(d, d->raw, cut, d->tok, ntr, 0);
        encode(d, d->raw + cut, len - cut, d->tok + ntr, nva, 0);
    }
    d->ntrain_tok = ntr;
    int B = d->spec.block;
    d->info.T = B;
    d->info.per_token = true;
    d->info.n_train = ntr > B ? (ntr - 1) / B : 0;
    d->info.n_val = nva > B ? (nva - 1) / B : 0;
    d->info.train_tokens = ntr;
    if (d->info.n_train == 0 || d->info.n_val == 0) {
        snprintf(err, errlen, "'%s' is too short: %lld training and %lld validation tokens make no window of "
                 "block + 1 = %d tokens", d->spec.path, (long long)ntr, (long long)nva, B + 1);
        return false;
    }
    d->info.baseline = unigram_entropy(d->tok, ntr, d->info.vocab);
    d->info.baseline_what = "unigram entropy of the training text (nats)";
    return true;
}

typedef struct {
    char *label, *text;
    size_t text_len;
    uint64_t key;
} Line;

static int cmp_line_key(const void *a, const void *b) {
    const Line *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool open_labelled(RtData *d, char *err, size_t errlen) {
    size_t len;
    d->raw = read_all(d->spec.path, &len, err, errlen);
    if (!d->raw) return false;
    int64_t nl = 0, cap = 1024;
    Line *lines = xmalloc(sizeof(Line) * (size_t)cap);
    int lineno = 0;
    for (char *s = d->raw, *end = d->raw + len; s < end;) {
        char *nlp = memchr(s, '\n', (size_t)(end - s));
        char *e = nlp ? nlp : end;
        lineno++;
        if (e > s && e[-1] == '\r') e[-1] = 0;
        *e = 0;
        if (*s) {
            char *tab = strchr(s, '\t');
            if (!tab) {
                snprintf(err, errlen, "%s:%d: expected LABEL<TAB>TEXT", d->spec.path, lineno);
                free(lines);
                return false;
            }
            *tab = 0;
            if (nl == cap) lines = xrealloc(lines, sizeof(Line) * (size_t)(cap *= 2));
            lines[nl] = (Line){s, tab + 1, strlen(tab + 1), rt_init_draw(rt_init_key(0, "labelled.split"), (uint64_t)nl)};
            nl++;
        }
        s = e + 1;
    }
    qsort(lines, (size_t)nl, sizeof(Line), cmp_line_key);
    int64_t ntr = (int64_t)((double)nl * d->spec.split), nva = nl - ntr;
    if (ntr < 1 || nva < 1) {
        snprintf(err, errlen, "'%s' has %lld labelled lines: too few to split into training and validation",
                 d->spec.path, (long long)nl);
        free(lines);
        return false;
    }
    /* Classes: the distinct labels, sorted. */
    char **labels = xmalloc(sizeof(char *) * (size_t)nl);
    for (int64_t i = 0; i < nl; i++) labels[i] = lines[i].label;
    qsort(labels, (size_t)nl, sizeof(char *), cmp_str);
    int nc = 0;
    for (int64_t i = 0; i < nl; i++)
        if (nc == 0 || strcmp(labels[nc - 1], labels[i]) != 0) labels[nc++] = labels[i];
    if (nc < 2) {
        snprintf(err, errlen, "'%s' has only one label ('%s'): nothing to classify", d->spec.path, labels[0]);
        free(labels);
        free(lines);
        return false;
    }
    /* Vocabulary from the training texts: 0 pad, 1 unknown. */
    if (d->spec.tokens == RT_TOK_WORD) {
        size_t tot = 0;
        for (int64_t i = 0; i < ntr; i++) tot += lines[i].text_len + 1;
        char *all = xmalloc(tot + 1), *q = all;
        for (int64_t i = 0; i < ntr; i++) {
            memcpy(q, lines[i].text, lines[i].text_len);
            q += lines[i].text_len;
            *q++ = '\n';
        }
        build_word_vocab(d, all, tot, 2, d->spec.max_vocab);
        d->vocab_text = all; /* the vocabulary's pieces point into it */
    } else {
        bool seen[256] = {0};
        for (int64_t i = 0; i < ntr; i++)
            for (size_t k = 0; k < lines[i].text_len; k++) seen[(unsigned char)lines[i].text[k]] = true;
        int id = 2;
        for (int c = 0; c < 256; c++) d->byte_id[c] = seen[c] ? id++ : -1;
        d->info.vocab = id;
    }
    int T = d->spec.block;
    d->info.T = T;
    d->info.per_token = false;
    d->info.n_class = nc;
    d->info.n_train = ntr;
    d->info.n_val = nva;
    d->tr_idx = xcalloc((size_t)(ntr * T), sizeof(int32_t));
    d->va_idx = xcalloc((size_t)(nva * T), sizeof(int32_t));
    d->tr_tgt = xmalloc(sizeof(int32_t) * (size_t)ntr);
    d->va_tgt = xmalloc(sizeof(int32_t) * (size_t)nva);
    int64_t *count = xcalloc((size_t)nc, sizeof *count);
    for (int64_t i = 0; i < nl; i++) {
        bool tr = i < ntr;
        int32_t *row = tr ? d->tr_idx + i * T : d->va_idx + (i - ntr) * T;
        encode(d, lines[i].text, lines[i].text_len, row, T, 1);
        const char **hit = bsearch(&lines[i].label, labels, (size_t)nc, sizeof(char *), cmp_str);
        int c = (int)((char **)hit - labels);
        if (tr) {
            d->tr_tgt[i] = c;
            count[c]++;
        } else {
            d->va_tgt[i - ntr] = c;
        }
    }
    int major = 0;
    for (int c = 1; c < nc; c++)
        if (count[c] > count[major]) major = c;
    int64_t right = 0;
    for (int64_t i = 0; i < nva; i++) right += d->va_tgt[i] == major;
    d->info.baseline = (double)right / (double)nva;
    d->info.baseline_what = "majority-class accuracy on the validation split";
    free(count);
    free(labels);
    free(lines);
    return true;
}

/* One reverse or copy example from the stream. */
static void seq_example(RtData *d, RtRng *r, int32_t *idx, int32_t *tgt) {
    int L = d->spec.len, V = d->spec.vocab;
    int32_t s[2 * 4096];
    for (int i = 0; i < L; i++) s[i] = (int32_t)rt_rng_below(r, (uint32_t)V);
    for (int i = 0; i < L; i++) s[L + i] = d->spec.kind == RT_DATA_REVERSE ? s[L - 1 - i] : s[i];
    memcpy(idx, s, sizeof(int32_t) * (size_t)(2 * L - 1));
    memcpy(tgt, s + 1, sizeof(int32_t) * (size_t)(2 * L - 1));
}

static bool open_synthetic(RtData *d, char *err, size_t errlen) {
    if (d->spec.kind == RT_DATA_MODADD) {
        int p = d->spec.p;
        int64_t all = (int64_t)p * p, nva = d->spec.val_examples;
        if (nva >= all) {
            snprintf(err, errlen, "modadd(p = %d) has %lld pairs: val = %lld leaves none to train on", p,
                     (long long)all, (long long)nva);
            return false;
        }
        int64_t *order = xmalloc(sizeof(int64_t) * (size_t)all);
        for (int64_t i = 0; i < all; i++) order[i] = i;
        RtRng r = {rt_init_key(d->seed, "modadd.split")};
        for (int64_t i = all - 1; i > 0; i--) {
            int64_t j = (int64_t)rt_rng_below(&r, (uint32_t)(i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        int64_t ntr = all - nva;
        d->info.T = 3;
        d->tr_idx = xmalloc(sizeof(int32_t) * (size_t)(ntr * 3));
        d->tr_tgt = xmalloc(sizeof(int32_t) * (size_t)(ntr * 3));
        d->va_idx = xmalloc(sizeof(int32_t) * (size_t)(nva * 3));
        d->va_tgt = xmalloc(sizeof(int32_t) * (size_t)(nva * 3));
        for (int64_t i = 0; i < all; i++) {
            int a = (int)(order[i] / p), b = (int)(order[i] % p);
            int32_t *x = i < nva ? d->va_idx + i * 3 : d->tr_idx + (i - nva) * 3;
            int32_t *y = i < nva ? d->va_tgt + i * 3 : d->tr_tgt + (i - nva) * 3;
            x[0] = a, x[1] = b, x[2] = p;       /* "a b =" */
            y[0] = b, y[1] = p, y[2] = (a + b) % p;
        }
        free(order);
        d->info.vocab = p + 1;
        d->info.n_train = ntr;
        d->info.n_val = nva;
        d->info.rand_end = 1;
        d->info.learn_from = 2;
    } else {
        int T = 2 * d->spec.len - 1;
        int64_t nva = d->spec.val_examples;
        d->info.T = T;
        d->info.vocab = d->spec.vocab;
        d->info.n_train = -1;
        d->info.n_val = nva;
        d->va_idx = xmalloc(sizeof(int32_t) * (size_t)(nva * T));
        d->va_tgt = xmalloc(sizeof(int32_t) * (size_t)(nva * T));
        RtRng r = {rt_init_key(d->seed, "synthetic.val")};
        for (int64_t i = 0; i < nva; i++) seq_example(d, &r, d->va_idx + i * T, d->va_tgt + i * T);
        d->info.rand_end = d->spec.len - 1;
        d->info.learn_from = d->spec.len - 1;
    }
    d->info.per_token = true;
    d->info.baseline = log((double)d->info.vocab);
    d->info.baseline_what = "ln V, the loss of uniform guessing";
    return true;
}

RtData *rt_data_open(const RtDataSpec *spec, uint64_t seed, char *err, size_t errlen) {
    RtData *d = xcalloc(1, sizeof *d);
    d->spec = *spec;
    d->spec.path = NULL;
    d->spec.bpe_dir = NULL;
    if (spec->bpe_dir) {
        size_t n = strlen(spec->bpe_dir) + 1;
        d->spec.bpe_dir = xmalloc(n);
        memcpy(d->spec.bpe_dir, spec->bpe_dir, n);
    }
    if (spec->path) {
        size_t n = strlen(spec->path) + 1;
        d->spec.path = xmalloc(n);
        memcpy(d->spec.path, spec->path, n);
    }
    d->seed = seed;
    d->rng.s = rt_init_key(seed, "synthetic.train");
    bool ok = spec->kind == RT_DATA_TEXT       ? open_text(d, err, errlen)
              : spec->kind == RT_DATA_LABELLED ? open_labelled(d, err, errlen)
                                               : open_synthetic(d, err, errlen);
    if (!ok) {
        rt_data_free(d);
        return NULL;
    }
    rt_data_seek(d, (RtDataPos){0, 0, d->rng.s});
    return d;
}

void rt_data_free(RtData *d) {
    if (!d) return;
    free(d->spec.path);
    free(d->spec.bpe_dir);
    rt_bpe_destroy(d->bpe);
    free(d->tok);
    free(d->tr_idx);
    free(d->tr_tgt);
    free(d->va_idx);
    free(d->va_tgt);
    free(d->perm);
    free(d->raw);
    free(d->vocab_text);
    free(d->words);
    free(d->piece);
    free(d->piece_len);
    free(d);
}

/* ---- batches ---- */

static void make_perm(RtData *d) {
    int64_t n = d->info.n_train;
    if (n < 0) return;
    if (!d->perm) d->perm = xmalloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) d->perm[i] = i;
    RtRng r = {rt_init_key(d->seed, "data.epoch") ^ (d->epoch * 0xD1B54A32D192ED03ull)};
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rt_rng_below(&r, (uint32_t)(i + 1)), t = d->perm[i];
        d->perm[i] = d->perm[j];
        d->perm[j] = t;
    }
}

RtDataPos rt_data_pos(const RtData *d) { return (RtDataPos){d->epoch, d->index, d->rng.s}; }

void rt_data_seek(RtData *d, RtDataPos pos) {
    d->epoch = pos.epoch;
    d->index = pos.index;
    d->rng.s = pos.rng;
    make_perm(d);
}

/* Example i of the finite training or validation set into idx/tgt. */
static void example(const RtData *d, bool val, int64_t i, int32_t *idx, int32_t *tgt) {
    int T = d->info.T, TT = d->info.per_token ? T : 1;
    if (d->spec.kind == RT_DATA_TEXT) {
        const int32_t *base = d->tok + (val ? d->ntrain_tok : 0) + i * T;
        memcpy(idx, base, sizeof(int32_t) * (size_t)T);
        memcpy(tgt, base + 1, sizeof(int32_t) * (size_t)T);
        return;
    }
    memcpy(idx, (val ? d->va_idx : d->tr_idx) + i * T, sizeof(int32_t) * (size_t)T);
    memcpy(tgt, (val ? d->va_tgt : d->tr_tgt) + i * TT, sizeof(int32_t) * (size_t)TT);
}

void rt_data_next_batch(RtData *d, int B, int32_t *idx, int32_t *tgt) {
    int T = d->info.T, TT = d->info.per_token ? T : 1;
    for (int b = 0; b < B; b++) {
        if (d->info.n_train < 0) {
            seq_example(d, &d->rng, idx + b * T, tgt + b * TT);
            continue;
        }
        if (d->index >= (uint64_t)d->info.n_train) {
            d->epoch++;
            d->index = 0;
            make_perm(d);
        }
        example(d, false, d->perm[d->index++], idx + b * T, tgt + b * TT);
    }
}

void rt_data_val_batch(const RtData *d, int64_t k, int B, int32_t *idx, int32_t *tgt) {
    int T = d->info.T, TT = d->info.per_token ? T : 1;
    for (int b = 0; b < B; b++) example(d, true, (k * B + b) % d->info.n_val, idx + b * T, tgt + b * TT);
}
