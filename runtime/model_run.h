/* model_run.h — running one function of a module on the reference backend, with its
 * weights loaded from a checkpoint or drawn from their initialisers. This is what
 * `tfc run FILE.tfm --target ref [--weights W.safetensors] [--seed N]
 *  --input NAME=FILE.npy ... [-o OUT.npy]` does after parsing its flags.
 *
 *     RtNamedTensor in[] = {{"idx", rt_npy_read("idx.npy", err, sizeof err)}};
 *     RtRunOptions o = {.func = "forward", .weights_path = "w.safetensors", .seed = 1337};
 *     RtOutputs out = {0};
 *     if (!rt_model_run(m, &o, in, 1, &out, err, sizeof err)) ...
 *     rt_npy_write("logits.npy", out.tensors[0], err, sizeof err);
 *     rt_outputs_free(&out);
 *
 * Weight policy: a weight in the file must match the model's dtype (float dtypes convert
 * into one another) and shape exactly, or it is an error naming the weight and both
 * types. A model weight missing from the file is drawn from its initialiser (with a
 * warning, since it usually means a misspelled name). A tensor in the file that the
 * model does not have is a warning, not an error: Hugging Face checkpoints carry buffers
 * (GPT-2's attn.bias masks) that a model written with primitive ops does not need.
 * Warnings go to o->warn (stderr by default); at most 5 names are listed, then a count.
 */
#ifndef TFC_RT_MODEL_RUN_H
#define TFC_RT_MODEL_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "backends/backend.h"
#include "backends/tensor.h"
#include "ir/ir.h"
#include "runtime/safetensors.h"

/* One input of a run: the name of a function parameter and its tensor (the caller's). */
typedef struct {
    const char *name; /* NULL: the parameter at this input's position */
    Tensor *tensor;
} RtNamedTensor;

typedef struct {
    const char *func;         /* function to run; NULL: "forward" */
    const char *weights_path; /* safetensors checkpoint; NULL: every weight from its init */
    uint64_t seed;            /* for the initialisers (see runtime/init.h) */
    FILE *warn;               /* where warnings go; NULL: stderr */
    bool quiet;               /* no warnings at all */
    const char *target;       /* backend: "ref" (NULL), "cpu", "vulkan" */
    BkOptions backend;        /* threads, device, profiling */
    bool strict_weights;      /* see RtWeightsOptions.strict */
} RtRunOptions;

/* The results of a run, one per function result, named "output0", "output1", ... (or
 * the parameter's name when a result is a parameter). Same layout as a tensor set. */
typedef RtTensorSet RtOutputs;

/* One tensor per weight of m, in module order (m->weights), as ref_run and the other
 * backends take them. weights_path may be NULL (everything from initialisers). Warnings
 * go to `warn` (NULL: none). */
bool rt_weights_load(const IrModule *m, const char *weights_path, uint64_t seed, FILE *warn,
                     Tensor ***out, int *nout, char *err, size_t errlen);

/* The same with every option: */
typedef struct {
    const char *path; /* safetensors checkpoint; NULL: every weight from its initialiser */
    uint64_t seed;
    FILE *warn; /* NULL: no warnings */
    /* A Hugging Face checkpoint (tfc run/generate --config): a model weight missing from
     * the file is an error, and so is a tensor the model does not have, except the
     * buffers HF files carry (h.N.attn.bias, h.N.attn.masked_bias, lm_head.weight).
     * Names may carry GPT2LMHeadModel's "transformer." prefix. */
    bool strict;
} RtWeightsOptions;
bool rt_weights_load_opts(const IrModule *m, const RtWeightsOptions *o, Tensor ***out, int *nout,
                          char *err, size_t errlen);

/* Destroys n tensors and the array holding them (NULL entries allowed). */
void rt_tensors_free(Tensor **ts, int n);

/* Run function o->func of m on backend o->target. Inputs are matched to the
 * function's parameters by name; every parameter must be given exactly once. The input
 * tensors stay the caller's. On success `out` holds one new tensor per result (free with
 * rt_outputs_free); on failure it is empty and err says why. */
bool rt_model_run(IrModule *m, const RtRunOptions *o, const RtNamedTensor *inputs, int ninputs,
                  RtOutputs *out, char *err, size_t errlen);
void rt_outputs_free(RtOutputs *out);

#endif
