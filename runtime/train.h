/* train.h — `tfc train SCRIPT`: the training runtime, table of contents of its files.
 *
 *   script.c      the training-script language (script.h, docs/training.md)
 *   data.c        text, labelled text and synthetic tasks as batches (data.h)
 *   train_build.c model + loss as IR, then @train_step (runtime/train_step.h), passes
 *   train.c       the loop: batches, learning rate, run, install updates, eval, sample
 *   schedule.c    learning-rate schedules (schedule.h)
 *   checkpoint.c  weights + optimizer state + position, atomic (checkpoint.h)
 *   hf_export.c   the trained GPT-2 as model.safetensors + config.json (hf_export.h)
 *   progress.c    progress bar or plain lines (progress.h)
 *   plot.c        the loss curve as SVG (plot.h)
 *
 *     RtTrainOptions o = {.script = "models/train_reverse.tfm", .target = "ref"};
 *     char err[1024] = "";
 *     if (!rt_train(&o, err, sizeof err)) { if (*err) fprintf(stderr, "tfc: error: %s\n", err); return 1; }
 *
 * The last line printed is `final: step=N train_loss=X val_loss=Y [val_acc=Z] baseline=B`.
 *
 * Decision a newcomer may question: the whole step (forward, loss, backward, clipping,
 * optimizer) is one IR function compiled once; the host only feeds batches, the learning
 * rate and the step number, and swaps in the updated weights after each run. Everything
 * a backend must do to train is run one function.
 */
#ifndef TFC_RT_TRAIN_H
#define TFC_RT_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "backends/backend.h"
#include "ir/ir.h"
#include "runtime/data.h"
#include "runtime/script.h"

typedef struct {
    const char *script;   /* the training script */
    const char *target;   /* NULL: "ref" */
    int64_t steps;        /* 0: the script's */
    bool seed_given;
    uint64_t seed;        /* overrides the script's seed when seed_given */
    const char *save;     /* overrides the script's checkpoint path */
    const char *resume;   /* checkpoint to continue from */
    const char *metrics;  /* overrides runs/NAME/metrics.jsonl */
    const char *export_dir; /* overrides the script's `export`: a Hugging Face GPT-2 (hf_export.h) */
    int threads;          /* backend threads (0: the backend's default) */
    const char *disable_passes; /* comma list of passes to skip (--disable-pass), or NULL */
    FILE *out;            /* progress, samples, the final line (NULL: stdout) */
    IrModule **compiled;  /* when set: stop after building the step and hand its module
                             (@forward, @loss, @train_step) to the caller (tfc compile) */
} RtTrainOptions;

/* Runs the script. User errors in the script are printed as diagnostics (file:line:col)
 * and give false with err empty; other errors give false with a message in err. */
bool rt_train(const RtTrainOptions *o, char *err, size_t errlen);

/* The graph of one training run (train_build.c). */
typedef struct {
    IrModule *m;
    IrFunc *forward;  /* the model: idx -> logits */
    IrFunc *eval;     /* @loss: (idx, targets) -> (loss, logits) */
    IrFunc *step;     /* @train_step: (idx, targets, lr, step) -> (loss, grad norm, updates...) */
} RtTrainGraph;

/* Compiles the script's model with its overrides (and vocab, n_class, n_ctx from the data
 * when the model has such params and the script leaves them), runs the pre-autodiff passes
 * on it (pass_pre_grad_pipeline: attention is fused before it is differentiated), appends
 * the loss and builds @train_step, then runs the default passes; `disable` (a comma list
 * of pass names, or NULL) is skipped in both. Errors are diagnostics at the script line
 * to blame; returns false after printing them (or with a message in err for a bad pass
 * name). */
bool rt_train_build(RtScript *s, const RtDataInfo *info, const char *disable, RtTrainGraph *g,
                    char *err, size_t errlen);

/* The value of the model's integer param `name`: the script's `with { name = ... }`, else
 * the default on the model file's first `param ... name = N` line. False if neither. */
bool rt_train_param(const RtScript *s, const char *name, long *out);

#endif
