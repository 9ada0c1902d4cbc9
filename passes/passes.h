/* passes.h — the pass manager and the passes: the table of contents of passes/.
 *
 * A pass is one file and one verb: `bool pass_<name>(IrModule *m)` rewrites every
 * function of m in place and returns whether it changed anything. Every pass is a row
 * of passes.def; the manager (manager.c) turns a comma list of kebab-case names into a
 * pipeline, runs it, and gives the debugging knobs MLIR users expect: print after all or
 * some passes, disable a pass, time the passes, verify the IR after each one.
 *
 *   passes.def        the registry: one row per pass (kebab-case name, entry point, dump
 *                     name, description); the manager's table and --help come from it
 *   manager.c         names to pipeline, run, dump after, verify after, time
 *   canonicalize.c    algebraic identities into one canonical form (x+0, transpose chains)
 *   constant_fold.c   ops whose operands are all (splat) constants become constants
 *   cse.c             values computing the same thing are merged (hash-consing)
 *   dce.c             values nothing uses are removed
 *   fuse_attention.c  matmul, scale, mask, softmax, matmul -> one attention op
 *   fuse_matmul.c     matmul chains reassociated, projections of one input merged,
 *                     matmul + elementwise epilogue (bias, activation, residual) fused
 *   fuse_elementwise.c  chains of elementwise ops fused into one kernel each
 *
 * Worked example (the driver does this for `tfc opt --passes=canonicalize,cse`):
 *
 *     PassOptions o = {.passes = "canonicalize,cse", .verify_each = true, .dump = stdout};
 *     char err[256];
 *     if (!pass_run_pipeline(m, &o, err, sizeof err)) fprintf(stderr, "tfc: %s\n", err);
 *
 * Decision a newcomer may question: passes take the module, not one function. Most of
 * today's passes work a function at a time (they loop over m->funcs themselves), but
 * autodiff adds a function and the memory plan sees the whole module; one signature for
 * every row keeps the registry a plain table.
 *
 * Contract of every pass: the IR it leaves passes ir_verify, and its printed output is a
 * function of its input text alone (no decision depends on pointer values or on the
 * iteration order of a pointer-keyed table).
 */
#ifndef TFC_PASSES_H
#define TFC_PASSES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ir/ir.h"

/* The passes (one file each). */
#define PASS(c, name, dump, desc) bool pass_##c(IrModule *m);
#include "passes.def"
#undef PASS

/* Bodies of fused kernels (fuse_elementwise.c; fuse_matmul.c makes them too). */
/* A new empty function "fused.N" (the first free N), placed before `before`. */
IrFunc *pass_body_new(IrModule *m, IrFunc *before);
/* An existing body computing what `body` does (then `body` is dropped from the module),
 * or `body` itself: the layers of a model make the same bodies, and one kernel serves. */
IrFunc *pass_body_share(IrModule *m, IrFunc *body);

typedef bool (*PassFn)(IrModule *m);

typedef struct {
    const char *name;      /* kebab-case, as on the command line: "constant-fold" */
    const char *dump_name; /* as in dump headers: "ConstantFold" */
    const char *desc;      /* one line, for --help */
    PassFn run;
} PassInfo;

/* The registry, in passes.def order. */
int pass_count(void);
const PassInfo *pass_info(int i);
/* The row whose name is the len bytes at `name` (no NUL needed), or NULL. */
const PassInfo *pass_lookup(const char *name, size_t len);

typedef struct {
    const char *passes;      /* comma list, NULL = default pipeline, "" = no pass */
    bool print_after_all;
    const char *print_after; /* comma list of names, or NULL */
    const char *disable;     /* comma list of names to skip, or NULL */
    bool time_passes;        /* table to stderr at the end */
    bool verify_each;        /* ir_verify before the first and after every pass */
    FILE *dump;              /* where dumps go (NULL: stdout) */
} PassOptions;

/* Runs the pipeline on m. User errors (an unknown or empty pass name in any of the
 * three lists) return false before anything runs, with a message such as
 * "unknown pass 'csee' (known: canonicalize, constant-fold, cse, dce, fuse-attention)" in err.
 * With verify_each, a verifier failure returns false with
 * "pass 'cse' broke the IR: <invariant>" in err after dumping the IR under the header
 * `// -----// IR Dump After CSE (cse) Failed //----- //`; an invalid input gives
 * "invalid IR before the first pass: <invariant>". */
bool pass_run_pipeline(IrModule *m, const PassOptions *opts, char *err, size_t errlen);

/* The engine under pass_run_pipeline: runs passes[0..n) in order with opts' dump, verify
 * and timing knobs (opts->passes, print_after and disable are not read; print[i] asks for
 * a dump after passes[i], and print may be NULL). Public so that a test can run a pass
 * that is not in the registry, such as one that breaks the IR on purpose. */
bool pass_run_passes(IrModule *m, const PassInfo *const *passes, int n, const bool *print,
                     const PassOptions *opts, char *err, size_t errlen);

/* "canonicalize,constant-fold,cse,fuse-attention,fuse-elementwise,dce" */
const char *pass_default_pipeline(void);

/* The fusion passes (every registry name that starts with "fuse-"), as a comma list for
 * PassOptions.disable: what --stats and bench compare against. */
const char *pass_fusion_names(void);

/* "canonicalize,constant-fold,cse,fuse-attention": what runs on a model before autodiff
 * differentiates it, so that the backward is built from the fused ops' VJP rules
 * (attention's recomputes the scores instead of keeping the Tq x Tk probabilities). */
const char *pass_pre_grad_pipeline(void);

/* Runs pass_pre_grad_pipeline on m with opts' --disable-pass list and verify_each (no
 * dumps, no timing). Does nothing when opts->passes is set (--passes, -O0): the user's
 * own pipeline then runs as given, after autodiff. False with a message in err on the
 * manager's errors (an unknown name in the disable list). */
bool pass_run_pre_grad(IrModule *m, const PassOptions *opts, char *err, size_t errlen);

/* Writes the MLIR-style dump of m after pass p into out. */
void pass_dump(FILE *out, const PassInfo *p, const IrModule *m, bool failed);

#endif
