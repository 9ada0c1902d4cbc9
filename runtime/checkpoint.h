/* checkpoint.h — training checkpoints: every module weight (the model's and the
 * optimizer's `optim.*` state) plus the training position, in one safetensors file.
 *
 *     RtCkptState st = {.step = 100, .seed = 1, .data = rt_data_pos(d)};
 *     rt_checkpoint_save("runs/x/ckpt.safetensors", m, weights, &st, err, sizeof err);
 *     rt_checkpoint_load("runs/x/ckpt.safetensors", m, weights, &st, err, sizeof err);
 *
 * The position lives in the header's __metadata__ as decimal strings: tfc.step, tfc.seed,
 * tfc.data.epoch, tfc.data.index, tfc.data.rng, and tfc.model (the module's name). The
 * write is atomic (runtime/safetensors.h): a checkpoint is the old one or the new one.
 *
 * Decision a newcomer may question: loading is strict, unlike `tfc run --weights`. A
 * resumed run must continue bit for bit, so every module weight must be in the file with
 * exactly its shape; anything else means the checkpoint is from another model (or another
 * optimizer) and is refused before training starts.
 */
#ifndef TFC_RT_CHECKPOINT_H
#define TFC_RT_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/tensor.h"
#include "ir/ir.h"
#include "runtime/data.h"

typedef struct {
    int64_t step; /* steps completed */
    uint64_t seed;
    RtDataPos data;
} RtCkptState;

/* weights: one per module weight, in module order. */
bool rt_checkpoint_save(const char *path, const IrModule *m, Tensor *const *weights, const RtCkptState *st,
                        char *err, size_t errlen);
/* Replaces weights[i] (destroying the old tensors) with the file's; false with a message,
 * weights untouched, when the file does not match the module. */
bool rt_checkpoint_load(const char *path, const IrModule *m, Tensor **weights, RtCkptState *st, char *err,
                        size_t errlen);

#endif
