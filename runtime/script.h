/* script.h — training scripts: parsing `train NAME { ... }` files into an RtScript.
 *
 *     train reverse {
 *       model     = "gpt2.tfm" with { n_layer = 2, n_embd = 64, n_head = 4 }
 *       data      = reverse(len = 8, vocab = 10)
 *       loss      = cross_entropy(logits, target)
 *       optimizer = adamw(lr = 3e-3, betas = (0.9, 0.99), weight_decay = 0.01)
 *       schedule  = cosine(warmup = 50)
 *       steps = 600   batch = 32   clip = 1.0
 *       eval every 100 batches 8
 *       save "runs/reverse/ckpt.safetensors" every 200
 *     }
 *
 * The whole language is in docs/training.md. Errors are diagnostics (file:line:col, the
 * line, a caret) sent to the script's Diag; the script keeps its source and the location
 * of each statement, so that later stages (a missing data file, a loss of the wrong
 * shape) can point at the line that caused them.
 *
 * Decision a newcomer may question: a training script is its own small language, not an
 * extension of the .tfm model language. A model is a pure function of its params; a
 * script is configuration (file paths, strings, tuples) that the model language has no
 * reason to grow. The two meet at one point: `model = "FILE" with { param = value }`,
 * which is exactly `tfc compile FILE -D param=value`.
 */
#ifndef TFC_RT_SCRIPT_H
#define TFC_RT_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frontend/frontend.h"
#include "ir/diag.h"
#include "runtime/train_step.h"

typedef enum { RT_DATA_TEXT, RT_DATA_LABELLED, RT_DATA_REVERSE, RT_DATA_COPY, RT_DATA_MODADD } RtDataKind;
typedef enum { RT_TOK_CHAR, RT_TOK_WORD, RT_TOK_BPE } RtTokens;
typedef enum { RT_SCHED_CONSTANT, RT_SCHED_COSINE } RtSchedKind;

/* The data source and its options (only those of its kind mean something). */
typedef struct {
    RtDataKind kind;
    char *path;        /* text, labelled: as written (relative to the working directory) */
    RtTokens tokens;   /* text, labelled */
    char *bpe_dir;     /* tokens = bpe("DIR"): GPT-2's encoder.json + vocab.bpe (text only) */
    int block;         /* text: tokens per example; labelled: tokens per text (cut or padded) */
    double split;      /* text, labelled: fraction used for training */
    int max_vocab;     /* word tokens: keep the most frequent words (0: all) */
    int len, vocab;    /* reverse, copy: sequence length and alphabet */
    int p;             /* modadd: the modulus */
    int val_examples;  /* synthetic: size of the fixed validation set */
} RtDataSpec;

typedef struct {
    RtSchedKind kind;
    int warmup;        /* steps of linear warm-up */
    double min_lr;     /* cosine: the floor (default lr / 10) */
} RtSchedule;

typedef struct {
    char *name;        /* train NAME */
    char *file;        /* the script's path (as given) */
    char *src;         /* its text (owned; the Diag points into it) */
    size_t len;
    Diag diag;

    char *model_path;  /* resolved against the script's directory */
    char *model_name;  /* `model = "f.tfm" model NAME ...`: which model of the file (NULL: last) */
    FeDefine *defines; /* the `with { ... }` overrides (strings owned) */
    int ndefines;
    RtDataSpec data;
    char *loss_output; /* cross_entropy(OUTPUT, TARGET): OUTPUT names the model's output */
    char *loss_target; /* "next" (next(idx)), "target" or "label" */
    OptConfig opt;
    double lr;
    RtSchedule sched;
    int steps, batch;
    uint64_t seed;
    int eval_every, eval_batches;          /* 0: evaluate at the end only */
    int sample_every, sample_tokens;       /* text models: generated text */
    char *sample_prompt;
    char *save_path;                       /* NULL: no checkpoint */
    int save_every;                        /* 0: at the end only */
    char *metrics_path;                    /* NULL: runs/NAME/metrics.jsonl */
    char *export_dir;                      /* `export "DIR"`: a Hugging Face GPT-2 at the end (NULL: none) */

    /* Where each setting was written, for later diagnostics (line 0: not written). */
    DiagLoc at_model, at_data, at_loss, at_optimizer, at_batch, at_save, at_export;
} RtScript;

/* Reads and parses the script at `path`. Errors go to stderr as diagnostics (or, for a
 * file that cannot be read, into err); returns NULL on any error. */
RtScript *rt_script_load(const char *path, char *err, size_t errlen);
/* The same from a string (for tests); messages go to `diag_out`. */
RtScript *rt_script_parse(const char *file, const char *src, size_t len, FILE *diag_out);
void rt_script_free(RtScript *s);

/* True when `path` starts like a training script (its first word is `train`). */
bool rt_script_sniff(const char *src, size_t len);

#endif
