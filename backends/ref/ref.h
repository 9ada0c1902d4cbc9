/* ref.h — the reference backend: an interpreter of the graph IR in plain C, the oracle
 * every other backend is checked against. Table of contents of backends/ref/.
 *
 *   ref_run.c          walks a function: binds symbolic dims, allocates one tensor per
 *                      value, frees it after its last use, hands the results back
 *   ref_shape.c        the concrete shape of each value, computed from its operands and
 *                      checked against the declared type (binding symbols on the way)
 *   ref_elementwise.c  unary / binary ops with NumPy broadcasting, where, cast, leaves
 *   ref_matmul.c       batched matmul with broadcast batch dims
 *   ref_reduce.c       sum, max, mean over a set of axes
 *   ref_movement.c     reshape, transpose, broadcast, slice, concat, split, gather
 *   ref_nn.c           softmax, log_softmax, layernorm, layernorm_grad, cross_entropy
 *   ref_attention.c    attention, attention_lse, attention_grad (a score row at a time)
 *
 * Worked example (one function `forward(x: f32[B, 4]) -> f32[B, 4]`, no weights):
 *
 *     Tensor *in[1] = {x}, *out[1];
 *     char err[256];
 *     if (!ref_run(f, NULL, in, out, err, sizeof err)) fprintf(stderr, "%s\n", err);
 *     ... use out[0] ...; tensor_destroy(out[0]);
 *
 * Decision a newcomer may question: every float op computes in double and rounds once to
 * float32 when it stores. The oracle should be the most accurate answer cheaply
 * available, so that a backend's error is measured against the truth, not against
 * another float32 rounding order. Integer (i32) arithmetic wraps modulo 2^32, like the
 * machine code the other backends emit, and never hits C's signed-overflow UB.
 */
#ifndef TFC_REF_H
#define TFC_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"
#include "backends/tensor.h"
#include "ir/ir.h"

/* Run f. weights: one Tensor per module weight in module order (m->weights list order);
 * inputs: one per f->params; outputs: filled with newly created tensors, one per
 * f->results (the caller destroys them). Symbolic dims are bound from the inputs' shapes
 * (then from weights and from the values computed); an input whose dtype or shape
 * disagrees with its declared type, or a symbol bound to two different sizes, is an error
 * naming the input, the dim and both sizes. Run-time errors (an out-of-range gather index
 * or cross_entropy target, an integer division by zero) are errors too. Returns false
 * with a message in err on any error; outputs are then all NULL. */
/* Runs f on the reference backend until the first value (in definition order) that holds
 * a NaN, and describes it in `what` ("%12 = log (line 5)"); false when no value does.
 * For a training run that diverged: which op produced the NaN. */
bool ref_find_nan(IrFunc *f, Tensor *const *weights, Tensor *const *inputs, char *what, size_t n);

/* The interpreter as a Backend (ref_backend.c). */
Backend *ref_backend_create(const BkOptions *o, char *err, size_t errlen);

bool ref_run(IrFunc *f, Tensor *const *weights, Tensor *const *inputs, Tensor **outputs,
             char *err, size_t errlen);

/* ---- Symbol bindings (ref_shape.c) ---- */

typedef struct {
    const char *sym;   /* interned symbol name */
    int64_t size;
    char origin[96];   /* who bound it, for messages: "input 'idx' dim 1" */
} RefBinding;

typedef struct {
    RefBinding *b;
    int n, cap;
} RefEnv;

void ref_env_free(RefEnv *env);
/* The size bound to sym, or -1 when it is not bound. */
int64_t ref_env_lookup(const RefEnv *env, const char *sym);
/* Bind sym to size, or check it agrees with an earlier binding. `what` names the
 * binder for the message ("input 'idx' dim 1"). */
bool ref_env_bind(RefEnv *env, const char *sym, int64_t size, const char *what, char *err,
                  size_t errlen);
/* Check a tensor's dtype and shape against a declared type, binding its symbols.
 * `what` names the tensor ("input 'idx'"). */
bool ref_env_match(RefEnv *env, const IrType *t, const Tensor *x, const char *what, char *err,
                   size_t errlen);

/* The concrete shape of v given its operand tensors: computed from the operands for ops
 * whose shape follows from them, resolved from v's declared type through env for leaves
 * and for `given` ops; in both cases checked against the declared type (binding symbols
 * met for the first time). Writes the rank and dims. */
/* The tensor weight op v reads: weights[i] for v's weight (one tensor per module weight,
 * in module order), checked against the weight's declared type and v's, binding
 * symbols. NULL with a message otherwise; *about_v tells whether the message concerns v
 * itself (the caller then adds v's location). Shared by every backend. */
Tensor *ref_weight_tensor(const IrModule *m, const IrValue *v, Tensor *const *weights, RefEnv *env,
                          bool *about_v, char *err, size_t errlen);

bool ref_value_shape(const IrValue *v, Tensor *const *args, RefEnv *env, int *rank,
                     int64_t *dims, char *err, size_t errlen);

/* ---- Kernels ---- */

/* Evaluate one op into `out`, a tensor already created with v's dtype and the shape
 * ref_value_shape gives. args are v's operand tensors. Leaves INPUT and WEIGHT are not
 * evaluated here (ref_run binds them). Returns false with a message on a run-time error. */
bool ref_eval_op(const IrValue *v, Tensor *const *args, Tensor *out, char *err, size_t errlen);

/* Per-family kernels, dispatched by ref_eval_op. */
bool ref_eval_leaf(const IrValue *v, Tensor *out, char *err, size_t errlen);
bool ref_eval_unary(IrOp op, const Tensor *x, Tensor *out, char *err, size_t errlen);
bool ref_eval_binary(IrOp op, const Tensor *x, const Tensor *y, Tensor *out, char *err,
                     size_t errlen);
bool ref_eval_where(const Tensor *c, const Tensor *x, const Tensor *y, Tensor *out);
bool ref_eval_cast(const Tensor *x, Tensor *out);
bool ref_eval_matmul(const Tensor *x, const Tensor *y, Tensor *out);
bool ref_eval_reduce(IrOp op, const IrAttrs *at, const Tensor *x, Tensor *out);
bool ref_eval_movement(const IrValue *v, Tensor *const *args, Tensor *out, char *err,
                       size_t errlen);
bool ref_eval_softmax(bool log, int64_t axis, const Tensor *x, Tensor *out);
bool ref_eval_layernorm(double eps, const Tensor *x, const Tensor *g, const Tensor *b,
                        Tensor *out);
bool ref_eval_layernorm_grad(double eps, const Tensor *x, const Tensor *g, const Tensor *dy,
                             Tensor *out);
bool ref_eval_cross_entropy(const Tensor *logits, const Tensor *targets, Tensor *out,
                            char *err, size_t errlen);
/* attention, attention_lse, attention_grad: args are v's operands, shapes already checked. */
bool ref_eval_attention(const IrValue *v, Tensor *const *args, Tensor *out);

/* ---- Element access shared by the kernels (ref_elementwise.c) ---- */

/* Element i of t as a double (any dtype), and store a double into element i (rounded to
 * the tensor's dtype; to i32 by truncation toward zero, NaN as 0, saturating). */
double ref_load(const Tensor *t, int64_t i);
void ref_store(Tensor *t, int64_t i, double x);

/* IEEE half and bfloat16 conversions (round to nearest even), also used by the
 * runtime's file readers. */
float ref_f16_to_f32(uint16_t h);
uint16_t ref_f32_to_f16(float f);
float ref_bf16_to_f32(uint16_t h);
uint16_t ref_f32_to_bf16(float f);

/* Row-major strides of t in elements; for broadcasting a tensor of shape `dims` (rank
 * `rank`) into an output of rank `out_rank`: the stride is 0 along broadcast axes and for
 * missing leading axes. */
void ref_broadcast_strides(int rank, const int64_t *dims, int out_rank,
                           const int64_t *out_dims, int64_t *strides);
/* Offset in a tensor of the output's linear element i, given strides from above. */
int64_t ref_broadcast_offset(int64_t i, int out_rank, const int64_t *out_dims,
                             const int64_t *strides);

#endif
