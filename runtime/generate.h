/* generate.h — text generation with GPT-2: a prompt's ids in, new ids out, one at a time.
 *
 *     RtGenerateOptions o = {.decode = m_decode, .weights_path = "model.safetensors",
 *                            .strict_weights = true, .max_new = 100, .temperature = 0.8f,
 *                            .top_k = 40, .seed = 1, .on_token = print_token, .user = tok};
 *     RtIds out = {0};
 *     if (!rt_generate(&o, prompt_ids, n, &out, err, sizeof err)) ...
 *
 * With a KV cache (the default) every step runs the decode function (models/gpt2.tfm's
 * gpt2_decode: inputs idx i32[B, 1], pos i32[1], kv f32[L, 2, B, H, S, D], mask f32[S],
 * here f32[S, 1]; outputs logits [B, 1, V] and this step's k, v [L, 2, B, H, 1, D]) on
 * one token; the prompt goes through it token by token too. Without the cache
 * (o.full, for checking) every step reruns the whole model (gpt2: idx i32[B, T] ->
 * logits [B, T, V]) on the growing prefix. Both give the same tokens: tested.
 *
 * Sampling: temperature 0 takes the most likely token (the first on ties); otherwise
 * logits / temperature are restricted to the top_k largest (0: all) and sampled with a
 * generator seeded by `seed` (SplitMix64, held in the call: no global state). The
 * on_token callback sees every new id as soon as it is chosen (to stream it).
 */
#ifndef TFC_RT_GENERATE_H
#define TFC_RT_GENERATE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "backends/backend.h"
#include "ir/ir.h"
#include "runtime/bpe.h"

typedef struct {
    IrModule *decode;         /* the one-token model with a KV cache (function @forward) */
    IrModule *full;           /* the whole-sequence model; used instead when no_cache */
    bool no_cache;
    const char *weights_path; /* NULL: weights from their initialisers with `seed` */
    bool strict_weights;      /* a Hugging Face checkpoint (see RtWeightsOptions) */
    uint64_t init_seed;       /* for weights from initialisers */
    FILE *warn;               /* weight warnings; NULL: none */
    const char *target;       /* backend: NULL or "ref", "cpu", "vulkan" */
    BkOptions backend;
    int max_new;              /* tokens to generate */
    float temperature;        /* 0: greedy */
    int top_k;                /* 0: no limit */
    uint64_t seed;            /* sampling */
    int32_t stop_id;          /* stop after generating this id (-1: never) */
    void (*on_token)(int32_t id, void *user);
    void *user;
} RtGenerateOptions;

/* Generates up to o->max_new ids after prompt[0..n) and appends them to out. The prompt
 * plus the new tokens must fit the model's n_ctx positions. */
bool rt_generate(const RtGenerateOptions *o, const int32_t *prompt, size_t n, RtIds *out,
                 char *err, size_t errlen);

#endif
