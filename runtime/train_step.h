/* train_step.h — one training step as one IR function: forward, loss, backward
 * (passes/autodiff.h), gradient clipping and the optimizer update, all IR.
 *
 *     OptConfig oc = {.kind = OPT_ADAMW, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8,
 *                     .weight_decay = 0.1, .clip = 1.0};
 *     IrFunc *step = rt_build_train_step(loss_fn, &oc, err, sizeof err);
 *
 * loss_fn is a function whose result 0 is the scalar loss (the training runtime builds
 * it from the model's forward and the script's loss). The step function has loss_fn's
 * parameters followed by `%lr: f32[]` (the learning rate of this step, computed by the
 * host from the schedule) and `%step: f32[]` (1 for the first step; AdamW's bias
 * correction). Its results are: the loss, the global gradient norm (before clipping),
 * then one new value per trainable weight (`-> @w`), then the optimizer state (`-> @s`).
 * Optimizer state lives in the module as weights initialised to zeros, named
 * `optim.<weight>.m` / `optim.<weight>.v` (AdamW) or `optim.<weight>.momentum` (SGD), so
 * checkpoints carry it like any weight.
 *
 * Trainable weights: every float weight the loss depends on.
 */
#ifndef TFC_RT_TRAIN_STEP_H
#define TFC_RT_TRAIN_STEP_H

#include "ir/ir.h"

typedef enum { OPT_SGD, OPT_ADAMW } OptKind;

typedef struct {
    OptKind kind;
    double momentum;      /* SGD: torch.optim.SGD(momentum=..., dampening=0, nesterov=False) */
    double beta1, beta2;  /* AdamW */
    double eps;           /* AdamW */
    double weight_decay;  /* decoupled (AdamW: p -= lr*wd*p; SGD: L2 added to the gradient, as torch) */
    double clip;          /* clip the global gradient norm to this (0: no clipping) */
} OptConfig;

/* Builds @train_step in loss_fn's module; NULL with a message on error. */
IrFunc *rt_build_train_step(IrFunc *loss_fn, const OptConfig *o, char *err, size_t errlen);

#endif
