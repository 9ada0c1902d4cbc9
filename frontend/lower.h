/* lower.h — what lower.c (statements, names, blocks) and builtins.c (the builtin
 * functions and weight helpers) share while turning the syntax tree into IR.
 *
 * Lowering is evaluation: an expression evaluates to a FeVal, which is a compile-time
 * number, a symbolic dim, an IR tensor value, a tuple (split's result), a list
 * ([B, T, C]) or a layer (the weights a `weight x = linear(...)` made). Values that
 * failed are FV_ERROR: an error was already reported, and everything computed from them
 * is FV_ERROR too, silently, so one mistake gives one message.
 *
 * Decision a newcomer may question: names are bound in an FeEnv, a hash map from the
 * parser's interned name pointers to a stack of bindings, instead of walking a list;
 * a generated file with 100,000 distinct names must not make lowering quadratic.
 */
#ifndef TFC_FE_LOWER_H
#define TFC_FE_LOWER_H

#include "frontend/ast.h"

/* Executed statements and built values of one compile, bounding nested loops. */
#define FE_MAX_STEPS 5000000

typedef enum { FV_ERROR, FV_INT, FV_FLOAT, FV_DIM, FV_TENSOR, FV_TUPLE, FV_LIST, FV_LAYER } FeValKind;

typedef enum { FL_LINEAR, FL_LAYERNORM, FL_EMBEDDING } FeLayerKind;

typedef struct {
    FeLayerKind kind;
    const char *path; /* checkpoint prefix, e.g. h.0.attn.c_attn */
    IrValue *w, *b;   /* b may be NULL (linear(..., bias=false)) */
} FeLayer;

typedef struct FeVal FeVal;
struct FeVal {
    FeValKind kind;
    int64_t i;        /* FV_INT */
    double f;         /* FV_FLOAT */
    const char *sym;  /* FV_DIM: module-interned symbol */
    IrValue *t;       /* FV_TENSOR */
    FeLayer *layer;   /* FV_LAYER */
    FeVal *items;     /* FV_TUPLE, FV_LIST */
    int n;
};

/* A small open-addressing map from pointers to ints (interned names → indices). */
typedef struct {
    const void **keys;
    int *vals;
    size_t cap, count;
} FePtrMap;

void fe_map_put(FePtrMap *m, const void *key, int val);
bool fe_map_get(const FePtrMap *m, const void *key, int *val);
void fe_map_free(FePtrMap *m);

typedef enum { B_VAR, B_PARAM, B_INPUT, B_WEIGHT, B_LOOP, B_DIM, B_ARG } FeBindKind;

typedef struct {
    const char *name;
    FeVal val;
    DiagLoc loc;
    FeBindKind kind;
    int prev; /* the binding it shadows, or -1 */
} FeBinding;

typedef struct {
    FeBinding *b;
    int n, cap;
    FePtrMap map; /* name → newest binding (or -1 once popped) */
    int *scopes;  /* binding count at each open scope */
    int nscopes, scap;
} FeEnv;

/* One compile. */
typedef struct {
    Diag *diag;
    IrModule *m;
    IrFunc *f;
    Arena scratch;          /* tuples, lists, layers, paths: freed after lowering */
    const FeProgram *prog;
    const FeItem *model;
    FePtrMap blocks;        /* interned name → index into prog->items */
    FeEnv params;           /* the model's params: visible in every block */
    const FeDefine *defs;
    int ndefs;
    const char *prefix;     /* weight path prefix ("" at the top) */
    int call_depth;
    long steps;             /* statements executed (FE_MAX_STEPS) */
    long nops;              /* values built (FE_MAX_OPS) */
    long suggest_work;      /* edit-distance cells spent on "did you mean" hints */
    IrValue **outs;         /* the model's outputs so far (heap) */
    int nouts, capouts;
    bool stop;              /* a global limit was hit: unwind without more errors */
    FePtrMap weights;       /* module-interned checkpoint names already defined */
    size_t reported[DIAG_MAX_ERRORS];
    int nreported;
} FeLower;

/* Reports an error unless one was already reported at the same place. */
void fe_err(FeLower *L, DiagLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Appends one op (ir_build), reporting its error at loc; NULL after an error. */
IrValue *fe_build(FeLower *L, DiagLoc loc, IrOp op, IrValue **args, int nargs,
                  const IrAttrs *attrs, const IrType *given);
/* A rank-0 constant of dtype dt. */
IrValue *fe_scalar(FeLower *L, DiagLoc loc, double v, IrDType dt);
/* Coercions with errors naming `what` ("the argument of softmax"). */
bool fe_as_tensor(FeLower *L, const FeVal *v, DiagLoc loc, const char *what, IrValue **out);
bool fe_as_int(FeLower *L, const FeVal *v, DiagLoc loc, const char *what, int64_t *out);
bool fe_as_number(FeLower *L, const FeVal *v, DiagLoc loc, const char *what, double *out);
bool fe_as_dim(FeLower *L, const FeVal *v, DiagLoc loc, const char *what, IrDim *out);
/* Normalizes a possibly negative axis for a tensor of `rank` dims. */
bool fe_axis(FeLower *L, int64_t axis, int rank, DiagLoc loc, const char *fn, int64_t *out);
/* Checks a declared or computed type against IR_MAX_ELEMENTS. */
bool fe_check_size(FeLower *L, const IrType *t, DiagLoc loc);
/* "a tensor f32[B, T]", "the number 3", "a tuple of 3 values": for messages. */
const char *fe_describe(const FeVal *v, char *buf, size_t n);
/* Closest of `names` to `name` (edit distance), or NULL if none is close. */
const char *fe_closest(const char *name, const char *const *names, int n);

/* builtins.c */
typedef struct {
    const char *fn;      /* the function's name, for messages */
    DiagLoc loc;         /* the call */
    FeVal *pos;          /* positional arguments */
    DiagLoc *pos_loc;
    int npos;
    const char **kw;     /* keyword arguments */
    FeVal *kwv;
    DiagLoc *kw_loc;
    int nkw;
} FeArgs;

/* True if `name` is a builtin function (or a weight helper / initialiser, which are
 * only valid in a `weight` statement). */
bool fe_is_builtin(const char *name);
/* Calls builtin `a->fn`; checks argument counts and keywords. */
FeVal fe_call_builtin(FeLower *L, const FeArgs *a);
/* Calls a layer value: linear → x @ W + b, layernorm → layernorm(x, W, b). */
FeVal fe_call_layer(FeLower *L, const FeLayer *layer, const FeArgs *a);
/* `weight NAME = linear(in, out) | layernorm(n) | embedding(n, d)` at checkpoint path. */
FeVal fe_weight_helper(FeLower *L, const char *path, const FeArgs *a);
/* `weight NAME: type = normal(0.02) | zeros | ones | uniform(a, b) | constant(v)`. */
bool fe_initialiser(FeLower *L, const FeArgs *a, IrInit *out);
/* Declares a weight (module + OP_WEIGHT value); NULL after a duplicate name. */
IrValue *fe_declare_weight(FeLower *L, const char *path, const IrType *t, IrInit init,
                           DiagLoc loc);
/* The names of every builtin, for "did you mean" (NULL-terminated). */
extern const char *const fe_builtin_names[];

#endif
