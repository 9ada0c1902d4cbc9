/* hf_config.h — a Hugging Face GPT-2 config.json as the params of a .tfm model.
 *
 *     RtHfConfig c;
 *     if (!rt_hf_config_read("config.json", &c, err, sizeof err)) ...
 *     for (int i = 0; i < c.n; i++) define(c.names[i], c.values[i]);   // -D name=value
 *
 * The keys map to models/gpt2.tfm's params: n_layer, n_head, n_embd, vocab_size -> vocab,
 * n_positions (or the older n_ctx) -> n_ctx. Each must be a positive integer (at most
 * 2^20) and n_embd a multiple of n_head. Settings tfc's GPT-2 cannot honour are errors,
 * not silently different results: model_type other than "gpt2", an activation other
 * than the tanh GELU ("gelu_new", "gelu_pytorch_tanh"), layer_norm_epsilon other than
 * 1e-5, n_inner other than 4 * n_embd, scale_attn_by_inverse_layer_idx or
 * reorder_and_upcast_attn set. Every message names the file and the key.
 */
#ifndef TFC_RT_HF_CONFIG_H
#define TFC_RT_HF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum { RT_HF_CONFIG_MAX = 8 };

typedef struct {
    int n;
    char names[RT_HF_CONFIG_MAX][16];
    char values[RT_HF_CONFIG_MAX][24];
} RtHfConfig;

bool rt_hf_config_read(const char *path, RtHfConfig *out, char *err, size_t errlen);

#endif
