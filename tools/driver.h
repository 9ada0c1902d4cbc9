/* driver.h — what the files of the command-line driver share: the parsed flags (Args),
 * the helpers that read files and report user errors, and one entry point per command.
 *
 *   tfc.c          usage and dispatch (main)
 *   args.c         flags, files, loading a module, running the passes
 *   cmd_compile.c  compile (and --stats, --grad, --target cpu|vulkan), opt, passes
 *   cmd_run.c      run, conform, devices
 *   cmd_gpt2.c     generate, tokenize, detokenize
 *   cmd_train.c    train
 *
 * The driver is thin by design: every command parses its flags and calls the libraries,
 * where all real work (and every message about a model) lives. Exit codes: 0 success,
 * 1 user error (a message on stderr). Only tfc.c's main returns to the shell. */
#ifndef TFC_DRIVER_H
#define TFC_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "ir/ir.h"
#include "passes/autodiff.h"
#include "passes/memplan.h"
#include "passes/passes.h"
#include "runtime/bpe.h"
#include "runtime/generate.h"
#include "runtime/hf_config.h"
#include "runtime/conform.h"
#include "runtime/model_run.h"
#include "runtime/npy.h"
#include "runtime/targets.h"
#ifdef TFC_HAVE_VULKAN
#include "backends/vulkan/vk.h"
#endif
#include "runtime/train.h"

enum { MAX_FILE = 256 << 20, MAX_DEFINES = 256, MAX_INPUTS = 64 };

typedef struct {
    const char *file, *out, *emit, *model, *target, *weights, *config;
    FeDefine defines[MAX_DEFINES];
    int ndefines;
    const char *inputs[MAX_INPUTS];
    int ninputs;
    uint64_t seed;
    const char *tokenizer, *prompt, *prompt_ids, *max_new, *temperature, *top_k; /* generate */
    bool no_cache;
    PassOptions passes;
    bool help, list_models, grad, stats;
    const char *dims; /* --dims B=4,T=64 for --stats */
    bool profile;       /* --profile: per-kernel times (run) */
    int threads;        /* --threads N: backend worker threads (0: all cores) */
    const char *device; /* --device N: Vulkan device index (see `tfc devices`) */
    bool pipeline_given; /* --passes or -O<n> seen */
} Args;
extern const char *usage_pass_flags, *usage_compile, *usage_opt, *usage_run, *usage_generate;

int fail(const char *fmt, const char *a, const char *b);
char *read_file(const char *path, size_t *len);
int flag_value(int argc, char **argv, int *i, const char *name, const char **out);
bool parse_args(int argc, char **argv, Args *a, const char *usage);
FILE *open_out(const char *path);
int close_out(FILE *f, const char *path);
bool has_suffix(const char *s, const char *suffix);
IrModule *load_module(const Args *a);
bool run_passes(IrModule *m, Args *a);
bool parse_device(const Args *a, int *dev);
bool is_artifact(const char *path);
int cmd_compile(Args *a);
int cmd_opt(Args *a);
int cmd_run(Args *a);
int cmd_generate(Args *a, bool ids_only);
int cmd_passes(void);
int cmd_conform(int argc, char **argv);
int cmd_devices(void);
int cmd_train(int argc, char **argv);
int cmd_tokenize(int argc, char **argv, bool decode);

#endif
