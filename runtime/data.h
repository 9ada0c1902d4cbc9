/* data.h — training data: text (char, word or GPT-2 BPE tokens), labelled text, and synthetic tasks
 * (sequence reversal, copy, modular addition), served as batches of i32 token ids.
 *
 *     RtData *d = rt_data_open(&script->data, seed, err, sizeof err);
 *     const RtDataInfo *in = rt_data_info(d);       // vocab, T, sizes, baseline
 *     rt_data_next_batch(d, B, idx, tgt);            // idx [B, T]; tgt [B, T] or [B]
 *     rt_data_val_batch(d, k, B, idx, tgt);          // the k-th fixed validation batch
 *
 * Every example is `idx` (T token ids, the model's input) and a target: T ids for
 * language models and sequence tasks (`next(idx)` / `target`), one class id for labelled
 * text (`label`). What each source makes, and its baseline, is in docs/training.md.
 *
 * Determinism: the order of training examples is a function of the seed alone. Finite
 * data (text windows, labelled texts, modadd pairs) is visited epoch by epoch in a
 * permutation drawn from (seed, epoch); infinite data (reverse, copy) is drawn from a
 * splitmix64 stream. RtDataPos (epoch, index, stream state) is all a checkpoint needs to
 * continue exactly where a run stopped.
 *
 * Decision a newcomer may question: vocabularies are built from the training split only,
 * so validation measures what a model trained on this data would meet. Text keeps id 0
 * for unknown tokens (a character or word of the validation text never seen in
 * training); labelled text keeps 0 for padding and 1 for unknown.
 */
#ifndef TFC_RT_DATA_H
#define TFC_RT_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/script.h"

/* splitmix64: the generator of shuffles and synthetic examples (see runtime/init.h). */
typedef struct {
    uint64_t s;
} RtRng;
uint64_t rt_rng_next(RtRng *r);
uint32_t rt_rng_below(RtRng *r, uint32_t n); /* uniform in [0, n) */

typedef struct {
    int vocab;            /* token ids are in [0, vocab) */
    int n_class;          /* labelled: the number of classes; else 0 */
    int T;                /* tokens per example */
    bool per_token;       /* targets are [B, T] (else [B]) */
    int64_t n_train;      /* training examples (-1: unlimited) */
    int64_t n_val;        /* validation examples */
    int64_t train_tokens; /* text: tokens in the training split */
    double baseline;      /* see baseline_what */
    const char *baseline_what;
    /* Sequence tasks: target positions [0, rand_end) are random (nothing can predict
     * them), positions [learn_from, T) are determined by the input seen so far. */
    int rand_end, learn_from;
} RtDataInfo;

typedef struct {
    uint64_t epoch, index, rng;
} RtDataPos;

typedef struct RtData RtData;

/* Opens (reads, tokenizes, splits) the data. NULL with a message naming the file or the
 * problem on error (a missing file, an empty split, a label line without a tab). */
RtData *rt_data_open(const RtDataSpec *spec, uint64_t seed, char *err, size_t errlen);
void rt_data_free(RtData *d);
const RtDataInfo *rt_data_info(const RtData *d);

/* The next training batch; advances the position. tgt holds B*T or B ids. */
void rt_data_next_batch(RtData *d, int B, int32_t *idx, int32_t *tgt);
/* Validation batch k (examples k*B ... wrapping around the validation set). */
void rt_data_val_batch(const RtData *d, int64_t k, int B, int32_t *idx, int32_t *tgt);

RtDataPos rt_data_pos(const RtData *d);
void rt_data_seek(RtData *d, RtDataPos pos);

/* Text only: token ids of `text` (unknown pieces become 0; at most max ids), and the
 * text of ids written to out. */
int rt_data_encode(const RtData *d, const char *text, int32_t *out, int max);
void rt_data_decode(const RtData *d, const int32_t *ids, int n, FILE *out);

#endif
