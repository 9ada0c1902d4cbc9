/* ir.h — the graph IR: the table of contents of ir/.
 *
 * A Module owns weights (name, type, initialiser) and functions. A function is an SSA
 * dataflow graph kept as a list of values in definition order; every value is produced by
 * exactly one op and has one result type (dtype + shape). A dim is an integer or a symbol
 * (`B`, `T`); symbols stay symbols until a backend binds them at run time.
 *
 * Everything of a module lives in its arena and is freed by ir_module_destroy(). Strings
 * (names, symbols) are interned in that arena, so they compare by pointer.
 *
 * Decision a newcomer may question: values with several results (split) do not exist;
 * split takes the index of the part it yields, so every consumer of the graph sees one
 * result per op and one kind of edge.
 */
#ifndef TFC_IR_H
#define TFC_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "diag.h"

#define IR_MAX_RANK 8

/* Largest element count of one tensor the compiler accepts (2^34 f32 = 64 GiB). */
#define IR_MAX_ELEMENTS (INT64_C(1) << 34)

typedef enum { DT_F32, DT_I32, DT_F16, DT_BF16, DT_F64, DT_COUNT } IrDType;

typedef struct {
    int64_t size;    /* meaningful when sym == NULL */
    const char *sym; /* interned symbol name, or NULL for a fixed size */
} IrDim;

typedef struct {
    IrDType dtype;
    int rank;
    IrDim dims[IR_MAX_RANK];
} IrType;

typedef enum {
#define OP(e, name, nargs, attrs, rule, vjp, flags) OP_##e,
#include "ops.def"
#undef OP
    OP_COUNT
} IrOp;

/* Attribute bits used by the op table. */
enum {
    A_AXIS = 1 << 0, A_AXES = 1 << 1, A_PERM = 1 << 2, A_START = 1 << 3, A_END = 1 << 4,
    A_PARTS = 1 << 5, A_INDEX = 1 << 6, A_VALUE = 1 << 7, A_EPS = 1 << 8,
    A_KEEPDIM = 1 << 9, A_NAME = 1 << 10, A_SCALE = 1 << 11, A_CAUSAL = 1 << 12,
};

/* Op flags used by the op table. */
enum {
    F_LEAF = 1 << 0, F_UNARY = 1 << 1, F_BINARY = 1 << 2, F_ELEMENTWISE = 1 << 3,
    F_COMMUTATIVE = 1 << 4, F_REDUCE = 1 << 5, F_MOVEMENT = 1 << 6,
    F_TYPE_GIVEN = 1 << 7, /* the result type is an input of the op, not inferred */
};

/* The attributes of one op; which fields mean something is the op's `attrs` column. */
typedef struct {
    int64_t axis, start, end, parts, index;
    int64_t ints[IR_MAX_RANK]; /* AXES (sorted, non-negative) or PERM */
    int nints;
    double value; /* CONSTANT's value */
    double eps;   /* LAYERNORM */
    double scale; /* ATTENTION*: the factor on q·k */
    bool keepdim;
    bool causal;  /* ATTENTION*: query i sees keys j <= i + (Tk - Tq) */
    const char *name; /* interned: WEIGHT's checkpoint name, INPUT's name, FUSED's body */
    const struct IrFunc *body; /* FUSED: the function named `name` (ir_build finds it) */
} IrAttrs;

/* Which part of a training step a value belongs to, for --stats: autodiff marks what it
 * adds as backward, the optimizer builder what it adds as update; passes that replace a
 * value put the new one before it and it inherits the phase. Not part of the text form. */
typedef enum { IR_PHASE_FORWARD, IR_PHASE_BACKWARD, IR_PHASE_UPDATE, IR_PHASES } IrPhase;

typedef struct IrValue IrValue;
struct IrValue {
    IrOp op;
    IrType type;
    int nargs;
    IrValue **args;
    IrAttrs attrs;
    IrValue *prev, *next; /* the function's list, in definition order */
    int id;               /* scratch number, valid after ir_func_number() */
    int uses;             /* number of uses, valid after ir_func_count_uses() */
    DiagLoc loc;          /* where the source asked for it (line 0: nowhere) */
    IrPhase phase;
};

typedef enum { INIT_ZEROS, INIT_ONES, INIT_NORMAL, INIT_UNIFORM, INIT_CONSTANT } IrInitKind;

typedef struct {
    IrInitKind kind;
    double a, b; /* NORMAL: std (a); UNIFORM: [a, b); CONSTANT: a */
} IrInit;

typedef struct IrWeight {
    const char *name; /* interned checkpoint name, e.g. h.0.attn.c_attn.weight */
    IrType type;
    IrInit init;
    struct IrWeight *next;
} IrWeight;

typedef struct IrFunc {
    const char *name;
    int nparams;
    IrValue **params; /* OP_INPUT values, also at the head of the list */
    int nresults;
    IrValue **results;
    /* updates[i]: the weight that result i replaces after a run (NULL: a plain output).
     * This is how a training step writes new weights and optimizer state: the runtime
     * installs the result as the weight's new value once the whole function has run, so
     * every read of a weight inside the function sees its old value. Printed as
     * `return %loss, %7 -> @w`. */
    IrWeight **updates;
    IrValue *first, *last;
    struct IrModule *module;
    struct IrFunc *next;
} IrFunc;

typedef struct IrModule {
    Arena arena;
    const char *name;
    IrWeight *weights, *weights_last;
    IrFunc *funcs, *funcs_last;
} IrModule;

/* Op table lookups. */
const char *ir_op_name(IrOp op);
int ir_op_nargs(IrOp op); /* -1: variadic (one or more) */
unsigned ir_op_attrs(IrOp op);
unsigned ir_op_flags(IrOp op);
bool ir_op_from_name(const char *name, size_t len, IrOp *out);
const char *ir_dtype_name(IrDType dt);
bool ir_dtype_from_name(const char *name, size_t len, IrDType *out);
size_t ir_dtype_size(IrDType dt);

/* Types and shapes (ir/type.c). */
IrDim ir_dim_int(int64_t n);
IrDim ir_dim_sym(const char *interned);
bool ir_dim_eq(IrDim a, IrDim b);
bool ir_type_eq(const IrType *a, const IrType *b);
bool ir_type_is_static(const IrType *t);
/* Product of the fixed dims (symbols count as 1); saturates at INT64_MAX. */
int64_t ir_type_static_elements(const IrType *t);
/* Writes e.g. "f32[B, T, 768]" into buf (always NUL-terminated); returns buf. */
char *ir_type_str(const IrType *t, char *buf, size_t n);
#define IR_TYPE_STR_MAX 160

/* Module and functions (ir/module.c). */
IrModule *ir_module_create(const char *name);
void ir_module_destroy(IrModule *m);
const char *ir_intern(IrModule *m, const char *s, size_t len);
IrWeight *ir_module_add_weight(IrModule *m, const char *name, const IrType *t, IrInit init);
IrWeight *ir_module_find_weight(const IrModule *m, const char *name);
/* The position of weight `name` in m->weights (the order backends take weight tensors
 * in), or -1. */
int ir_module_weight_index(const IrModule *m, const char *name);
IrFunc *ir_module_add_func(IrModule *m, const char *name);
IrFunc *ir_module_find_func(const IrModule *m, const char *name);
/* Adds a function placed before `before` in the module's list (and so in its text). */
IrFunc *ir_module_add_func_before(IrModule *m, const char *name, IrFunc *before);
/* Whether f is the body of a fused kernel (its name starts with "fused."): such
 * functions are parts of others, not entry points. */
bool ir_func_is_body(const IrFunc *f);
/* The matmul of a fused body (fuse-matmul's epilogue form), or NULL (ir/infer.c). */
const IrValue *ir_body_matmul(const IrFunc *body);
/* The softmax or log_softmax heading a fused body (a row op with an elementwise epilogue,
 * made by fuse-elementwise), or NULL (ir/infer.c). */
const IrValue *ir_body_row_head(const IrFunc *body);
/* Whether t is a transpose that swaps the last two axes only (what `w^T` lowers to). */
bool ir_is_swap_last2(const IrValue *t);
IrValue *ir_func_add_param(IrFunc *f, const char *name, const IrType *t);
void ir_func_set_results(IrFunc *f, IrValue **vals, int n); /* no updates */
void ir_func_set_update(IrFunc *f, int result, IrWeight *w);
void ir_func_number(IrFunc *f);
void ir_func_count_uses(IrFunc *f);
/* A copy of src named `name`, appended to src's module. If map_out is not NULL it gets
 * a malloc'd array mapping src's values (indexed by their position in src's list, which
 * this call writes into their `id`) to the copies; the caller frees it. */
IrFunc *ir_func_clone(IrFunc *src, const char *name, IrValue ***map_out);
/* Link an unlinked v into f's list before `before` (NULL: at the end). */
void ir_value_link(IrFunc *f, IrValue *v, IrValue *before);
/* Unlink v from its function's list (its storage stays in the arena). */
void ir_value_remove(IrFunc *f, IrValue *v);
/* Replace every use of `from` (operands and results) by `to`. */
void ir_replace_uses(IrFunc *f, IrValue *from, IrValue *to);

/* Building values (ir/builder.c). Infers the result type from the operands; for ops
 * whose rule is `given`, `given` must be the result type (it is checked, not trusted).
 * On a user error returns NULL and writes a message such as
 * "cannot add f32[B, T, 64] and f32[B, 3]: dims 64 and 3 differ" into err. The value is
 * appended to f (or inserted before `before` when it is not NULL). */
IrValue *ir_build(IrFunc *f, IrOp op, IrValue **args, int nargs, const IrAttrs *attrs,
                  const IrType *given, IrValue *before, char *err, size_t errlen);
/* Shape inference alone: the type `op` gives these operands, or false with a message. */
bool ir_infer(IrOp op, IrValue **args, int nargs, const IrAttrs *attrs, const IrType *given,
              IrType *out, char *err, size_t errlen);

/* Text form (ir/printer.c, ir/parser.c): print(parse(print(M))) == print(M) byte for byte. */
void ir_print_module(FILE *out, const IrModule *m);
void ir_print_func(FILE *out, IrFunc *f);
void ir_print_double(FILE *out, double x); /* shortest form that reads back exactly */
void ir_print_symbol(FILE *out, const char *name); /* @name, quoted when needed */
/* Parses a module; on errors reports them to `diag` and returns NULL. */
IrModule *ir_parse(const char *src, size_t len, Diag *diag);

/* Verifier (ir/verify.c): checks SSA order, operand counts, attributes and that every
 * value's type is what inference gives. Returns false and writes the first broken
 * invariant into err. */
bool ir_verify(IrModule *m, char *err, size_t errlen);

#endif
