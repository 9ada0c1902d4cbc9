/* frontend.h — the .tfm model language: the table of contents of frontend/.
 *
 *   source bytes ──lexer.c──▶ tokens ──parser.c──▶ AST (ast.h) ──lower.c, builtins.c──▶ IrModule
 *                                                  └─ast_print.c──▶ --emit=ast
 *
 * Example (see docs/language.md for the whole language):
 *
 *     Diag d;
 *     diag_init(&d, "gpt2.tfm", src, len, stderr);
 *     FeDefine defs[] = {{"n_layer", "2"}};
 *     IrModule *m = fe_compile("gpt2.tfm", src, len, defs, 1, &d);
 *     if (!m) return 1;            // every error was already printed by diag
 *
 * The result holds one function @forward (inputs in declaration order, results = the
 * `output`s in order) and every weight, named by its checkpoint path.
 *
 * Decision a newcomer may question: there is no separate semantic-analysis pass over the
 * AST. Blocks are inlined while lowering (each call site is a fresh instantiation with its
 * own weights and shapes), so checks happen where values become known; only block
 * recursion is checked up front, on the call graph, so that inlining always terminates.
 * Every input, however hostile, is bounded by the FE_MAX_* limits below: the frontend
 * reports an error instead of recursing, looping or allocating without bound.
 */
#ifndef TFC_FRONTEND_H
#define TFC_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ir/ir.h"

/* Limits: each is reported as an error naming the limit, never reached silently. */
#define FE_MAX_SOURCE (64u << 20)    /* bytes of one source file */
#define FE_MAX_NAME 128              /* bytes of one identifier */
#define FE_MAX_NESTING 200           /* nested (), [], {}, unary minus, blocks in the parser */
#define FE_MAX_EXPR_DEPTH 1000       /* depth of an expression tree (long a+b+c+... chains) */
#define FE_MAX_ARGS 64               /* arguments of one call, items of one list */
#define FE_MAX_NODES 1000000         /* syntax nodes of one file */
#define FE_MAX_LOOP 4096             /* iterations of one `for` */
#define FE_MAX_OPS 250000            /* IR values of one compiled model */
#define FE_MAX_CALL_DEPTH 64         /* nested block calls while inlining */
#define FE_MAX_PARTS 1024            /* parts of one split */

/* A -D name=value override of a model `param`; the value as typed ("2", "0.1"). */
typedef struct {
    const char *name;
    const char *value;
} FeDefine;

/* Parse, check and lower a .tfm file. Returns a module with one function @forward
 * (inputs in declaration order, results = the `output`s) and all weights, or NULL after
 * reporting every error to diag. Never crashes, never hangs, on any input bytes.
 * Compiles the last `model` of the file. */
IrModule *fe_compile(const char *file, const char *src, size_t len, const FeDefine *defs,
                     int ndefs, Diag *diag);

/* The same, compiling the model called `model_name` (the driver's --model NAME);
 * model_name == NULL picks the last model of the file. An unknown name is an error that
 * lists the models the file defines. */
IrModule *fe_compile_model(const char *file, const char *src, size_t len,
                           const FeDefine *defs, int ndefs, const char *model_name,
                           Diag *diag);

/* Parse only and print the AST (for `tfc compile --emit=ast`); false after errors. */
bool fe_print_ast(FILE *out, const char *file, const char *src, size_t len, Diag *diag);

/* Writes the names of the models a file defines, one per line, in file order (for
 * `tfc ... --model help`-style listings); false after parse errors. */
bool fe_list_models(FILE *out, const char *file, const char *src, size_t len, Diag *diag);

#endif
