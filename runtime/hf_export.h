/* hf_export.h — a trained GPT-2 written as a Hugging Face checkpoint: DIR/model.safetensors
 * (the model's weights only, GPT2Model's names) and DIR/config.json.
 *
 *     if (!rt_hf_export("runs/gpt2_moby/hf", m, weights, n_head, err, sizeof err)) ...
 *     // then: tfc generate models/gpt2.tfm --weights runs/gpt2_moby/hf/model.safetensors
 *     //            --config runs/gpt2_moby/hf/config.json --tokenizer data/gpt2 -p "..."
 *
 * The module's weights must be exactly models/gpt2.tfm's gpt2: wte.weight [V, C],
 * wpe.weight [P, C], h.0 ... h.{L-1} with GPT-2's twelve tensors each (Conv1D layout,
 * [in, out]) and ln_f; optimizer state (optim.*) is left out. Anything else (another
 * model, a missing layer, a wrong shape) is an error naming the weight, and nothing is
 * written. config.json gets model_type gpt2, n_layer, n_head, n_embd, vocab_size,
 * n_positions = n_ctx, layer_norm_epsilon 1e-5 and activation_function gelu_new: what
 * runtime/hf_config.h reads back strictly and what transformers' GPT2LMHeadModel loads.
 *
 * Decision a newcomer may question: n_head is passed in, not found in the weights. The
 * shapes fix every other number of the config, but not how C is cut into heads; the
 * caller knows it from the model's params (runtime/train_build.c, rt_train_param).
 */
#ifndef TFC_RT_HF_EXPORT_H
#define TFC_RT_HF_EXPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "backends/tensor.h"
#include "ir/ir.h"

/* Whether m's weights are a GPT-2's (the checks of rt_hf_export, nothing written): run
 * before training, so that a script that cannot export fails before its first step. */
bool rt_hf_export_check(const IrModule *m, long n_head, char *err, size_t errlen);

/* weights: one per module weight, in module order. Creates DIR (and its parents). */
bool rt_hf_export(const char *dir, const IrModule *m, Tensor *const *weights, long n_head, char *err,
                  size_t errlen);

#endif
