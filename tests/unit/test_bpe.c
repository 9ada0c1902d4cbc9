/* test_bpe.c — the BPE merge loop against the reference algorithm (OpenAI's encoder.py:
 * rescan every pair, merge the lowest-ranked one everywhere, left to right), on random
 * words and random merge tables whose ranks are deliberately out of training order; the
 * byte fallback for invalid UTF-8; and load errors. The vocabulary is synthetic (written
 * here), so the test needs no downloaded files; tests/e2e/tokenizer_node.sh checks the
 * real GPT-2 vocabulary against the reference encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/bpe.h"

static char dir[64];

/* GPT-2's bytes_to_unicode: the code point standing for byte b. */
static unsigned byte_cp(int b) {
    bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    if (printable) return (unsigned)b;
    int n = 0;
    for (int c = 0; c < b; c++)
        if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174)) n++;
    return 256u + (unsigned)n;
}

/* Writes a token's bytes as byte-level UTF-8, JSON-escaped. */
static void put_level(FILE *f, const char *s, bool json) {
    for (; *s; s++) {
        unsigned cp = byte_cp((unsigned char)*s);
        if (json && (cp == '"' || cp == '\\')) fputc('\\', f);
        if (cp < 0x80) fputc((int)cp, f);
        else {
            fputc((int)(0xC0 | cp >> 6), f);
            fputc((int)(0x80 | (cp & 0x3F)), f);
        }
    }
}

enum { MAXTOK = 64 };
static char toks[256 + MAXTOK][16]; /* token strings; ids 0..255 are the bytes */
static int ntok;
static int merge_a[MAXTOK], merge_b[MAXTOK], nmerge; /* in rank order */

static int tok_id(const char *s) {
    for (int i = 0; i < ntok; i++)
        if (strcmp(toks[i], s) == 0) return i;
    return -1;
}

/* Random merges over "abc"; the rank order is shuffled so that a merge may come before
 * the merges that make its parts. */
static void make_vocab(unsigned seed) {
    srand(seed);
    ntok = 256;
    for (int b = 0; b < 256; b++) toks[b][0] = (char)b, toks[b][1] = 0;
    toks[0][0] = 0; /* byte 0 is the empty C string here: never used by the words */
    nmerge = 0;
    const int base[3] = {'a', 'b', 'c'};
    for (int tries = 0; nmerge < 40 && tries < 1000; tries++) {
        int x = rand() % 3 == 0 || ntok == 256 ? base[rand() % 3] : 256 + rand() % (ntok - 256);
        int y = rand() % 3 == 0 || ntok == 256 ? base[rand() % 3] : 256 + rand() % (ntok - 256);
        char s[40];
        snprintf(s, sizeof s, "%s%s", toks[x], toks[y]);
        if (strlen(s) > 12 || tok_id(s) >= 0) continue;
        strcpy(toks[ntok++], s);
        merge_a[nmerge] = x, merge_b[nmerge] = y, nmerge++;
    }
    for (int i = nmerge - 1; i > 0; i--) { /* shuffle ranks */
        int j = rand() % (i + 1), ta = merge_a[i], tb = merge_b[i];
        merge_a[i] = merge_a[j], merge_b[i] = merge_b[j];
        merge_a[j] = ta, merge_b[j] = tb;
    }
    char p[128];
    snprintf(p, sizeof p, "%s/encoder.json", dir);
    FILE *f = fopen(p, "w");
    fputc('{', f);
    for (int i = 0; i < ntok; i++) {
        fprintf(f, "%s\"", i ? ", " : "");
        if (i == 0) fputs("\xc4\x80", f); /* byte 0 is U+0100 */
        else put_level(f, toks[i], true);
        fprintf(f, "\": %d", i);
    }
    fputs("}", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/vocab.bpe", dir);
    f = fopen(p, "w");
    fputs("#version: 0.2\n", f);
    for (int i = 0; i < nmerge; i++) {
        put_level(f, toks[merge_a[i]], false);
        fputc(' ', f);
        put_level(f, toks[merge_b[i]], false);
        fputc('\n', f);
    }
    fclose(f);
}

static int rank_of(int x, int y) {
    for (int i = 0; i < nmerge; i++)
        if (merge_a[i] == x && merge_b[i] == y) return i;
    return -1;
}

/* encoder.py's bpe(), on ids. */
static int reference(const char *w, int *out) {
    int n = (int)strlen(w);
    for (int i = 0; i < n; i++) out[i] = (unsigned char)w[i];
    for (;;) {
        int best = -1, bx = 0, by = 0;
        for (int i = 0; i + 1 < n; i++) {
            int r = rank_of(out[i], out[i + 1]);
            if (r >= 0 && (best < 0 || r < best)) best = r, bx = out[i], by = out[i + 1];
        }
        if (best < 0) return n;
        char s[40];
        snprintf(s, sizeof s, "%s%s", toks[bx], toks[by]);
        int merged = tok_id(s), k = 0;
        for (int i = 0; i < n;) {
            if (i + 1 < n && out[i] == bx && out[i + 1] == by) out[k++] = merged, i += 2;
            else out[k++] = out[i++];
        }
        n = k;
    }
}

static int setup(void **state) {
    snprintf(dir, sizeof dir, "/tmp/tfc_test_bpe_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_merges_match_reference(void **state) {
    char err[512];
    int words = 0;
    for (unsigned seed = 1; seed <= 30; seed++) {
        make_vocab(seed);
        RtBpe *b = rt_bpe_load(dir, err, sizeof err);
        if (!b) fail_msg("seed %u: %s", seed, err);
        for (int t = 0; t < 200; t++) {
            char w[300];
            int n = 1 + rand() % (t < 150 ? 20 : 290);
            for (int i = 0; i < n; i++) w[i] = "abc"[rand() % (t % 2 ? 3 : 2)];
            w[n] = 0;
            int want[300];
            int nwant = reference(w, want);
            RtIds got = {0};
            assert_true(rt_bpe_encode(b, w, (size_t)n, &got, err, sizeof err));
            if ((int)got.n != nwant || memcmp(got.v, want, sizeof(int) * (size_t)nwant) != 0)
                fail_msg("seed %u word '%s': %zu ids, reference %d", seed, w, got.n, nwant);
            rt_ids_free(&got);
            words++;
        }
        rt_bpe_destroy(b);
    }
    printf("checked %d words on 30 random merge tables: all equal the reference\n", words);
}

static void test_invalid_utf8_round_trip(void **state) {
    make_vocab(5);
    char err[512];
    RtBpe *b = rt_bpe_load(dir, err, sizeof err);
    assert_non_null(b);
    const char text[] = "ab \xff\xfe" "cab \xc3 \xe2\x82 abc\xf0\x9f\x98";
    RtIds ids = {0};
    assert_true(rt_bpe_encode(b, text, sizeof text - 1, &ids, err, sizeof err));
    char back[64];
    size_t k = 0;
    for (size_t i = 0; i < ids.n; i++) {
        size_t n;
        const char *s = rt_bpe_token(b, ids.v[i], &n);
        assert_non_null(s);
        memcpy(back + k, s, n);
        k += n;
    }
    assert_int_equal(k, sizeof text - 1);
    assert_memory_equal(back, text, k);
    size_t n;
    assert_null(rt_bpe_token(b, -1, &n));
    assert_null(rt_bpe_token(b, rt_bpe_vocab_size(b), &n));
    rt_ids_free(&ids);
    rt_bpe_destroy(b);
}

static void test_load_errors(void **state) {
    char err[512], p[128];
    make_vocab(3);
    snprintf(p, sizeof p, "%s/vocab.bpe", dir);
    FILE *f = fopen(p, "w");
    fputs("#version: 0.2\n\xc4\x80\xc4\x80 a\n", f); /* U+0100 U+0100 = "\0\0": no token */
    fclose(f);
    assert_null(rt_bpe_load(dir, err, sizeof err));
    if (!strstr(err, "vocab.bpe:2: merge") || !strstr(err, "has a part that is not a token"))
        fail_msg("message: %s", err);
    snprintf(p, sizeof p, "%s/encoder.json", dir);
    f = fopen(p, "w");
    fputs("{\"a\": 0, \"\xe4\xb8\x80\": 1}", f); /* U+4E00 is no byte */
    fclose(f);
    assert_null(rt_bpe_load(dir, err, sizeof err));
    if (!strstr(err, "(id 1) is not byte-level text")) fail_msg("message: %s", err);
    unlink(p);
    assert_null(rt_bpe_load(dir, err, sizeof err));
    if (!strstr(err, "encoder.json: cannot open")) fail_msg("message: %s", err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merges_match_reference),
        cmocka_unit_test(test_invalid_utf8_round_trip),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
