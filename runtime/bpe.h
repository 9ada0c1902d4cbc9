/* bpe.h — GPT-2's byte-level BPE tokenizer: text bytes to token ids and back.
 *
 *     char err[512];
 *     RtBpe *tok = rt_bpe_load("data/gpt2", err, sizeof err);   // encoder.json + vocab.bpe
 *     RtIds ids = {0};
 *     if (!rt_bpe_encode(tok, text, len, &ids, err, sizeof err)) ...
 *     size_t n; const char *bytes = rt_bpe_token(tok, ids.v[0], &n);
 *     rt_ids_free(&ids);
 *     rt_bpe_destroy(tok);
 *
 * Any bytes encode, valid UTF-8 or not, and decoding gives them back byte for byte: every
 * byte has its own token, so text the pre-tokenizer cannot read (invalid UTF-8) is
 * encoded byte by byte and merged as usual. The ids equal those of the reference encoder
 * (the npm package gpt-3-encoder, OpenAI's encoder.py ported to JavaScript) on valid UTF-8;
 * docs/tokenizer.md says where and why the pre-tokenizer's whitespace follows JavaScript.
 *
 * An RtBpe caches the merges of the words it has seen, so encoding mutates it: one RtBpe
 * per thread. Decoding (rt_bpe_token) only reads it.
 */
#ifndef TFC_RT_BPE_H
#define TFC_RT_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct RtBpe RtBpe;

/* A growable array of token ids; the holder owns v. */
typedef struct {
    int32_t *v;
    size_t n, cap;
} RtIds;

void rt_ids_push(RtIds *ids, int32_t id);
void rt_ids_free(RtIds *ids);

/* Reads DIR/encoder.json and DIR/vocab.bpe. NULL with "FILE: why" in err on any problem:
 * a missing file, JSON that does not parse, an id out of range or given twice, a token
 * that is not byte-level text, a merge line that is not two tokens or whose parts or
 * result are not in the vocabulary, a byte without its own token. */
RtBpe *rt_bpe_load(const char *dir, char *err, size_t errlen);
void rt_bpe_destroy(RtBpe *b);

/* Appends the ids of text[0..len) to ids. Fails only when the pre-tokenizer fails
 * (PCRE2 match limit), with a message. */
bool rt_bpe_encode(RtBpe *b, const char *text, size_t len, RtIds *ids, char *err, size_t errlen);

/* Number of ids: every id in [0, n) is a token. */
int32_t rt_bpe_vocab_size(const RtBpe *b);
/* The bytes of token id (not NUL-terminated) and their count; NULL if id is out of range. */
const char *rt_bpe_token(const RtBpe *b, int32_t id, size_t *len);
/* The id of the token whose bytes are s[0..len), or -1 (e.g. "<|endoftext|>"). */
int32_t rt_bpe_lookup(const RtBpe *b, const char *s, size_t len);

#endif
