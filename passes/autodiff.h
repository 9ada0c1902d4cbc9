/* autodiff.h — reverse-mode automatic differentiation as an IR transformation.
 *
 *     IrValue *grads[n];
 *     if (!ad_grad(f, loss, weights, n, grads, err, sizeof err)) ...
 *     // f now also computes d loss / d weights[i] as the value grads[i]
 *
 * The backward pass is IR like the forward pass: it is built from the same ops (plus
 * scatter_add, gather's gradient), so every backend that runs the forward runs the
 * backward, and the passes optimise both together. The vector-Jacobian rule of each op
 * is named in the op's row of ir/ops.def and written in passes/vjp.c.
 *
 * Decision a newcomer may question: gradients are appended to the function that computes
 * the loss rather than built as a separate function. Forward values the backward needs
 * (activations, softmax outputs) are then plain SSA uses; there is nothing to save and
 * reload, and a later memory plan decides what stays live.
 */
#ifndef TFC_AUTODIFF_H
#define TFC_AUTODIFF_H

#include "ir/ir.h"

/* Appends to f the ops computing the gradient of `loss` (a scalar float value of f) with
 * respect to each weight in wrt; grads[i] receives a value of wrt[i]'s type (zeros when
 * the loss does not depend on it). False with a message on a user error (a loss that is
 * not a scalar float, a weight that is not float). */
bool ad_grad(IrFunc *f, IrValue *loss, IrWeight *const *wrt, int n, IrValue **grads, char *err,
             size_t errlen);

/* The float weights f reads, in module order (malloc'd; *n of them). These are what
 * ad_build_grad_func differentiates by and what a training step trains. */
IrWeight **ad_float_weights_read(IrFunc *f, int *n);

/* Builds `@<f>_grad` from f: a copy whose results are loss (f's result `loss_result`) and
 * then the gradient of every float weight f reads, in module order. For
 * `tfc compile --emit=ir --grad`. NULL with a message on error. */
IrFunc *ad_build_grad_func(IrFunc *f, int loss_result, char *err, size_t errlen);

#endif
