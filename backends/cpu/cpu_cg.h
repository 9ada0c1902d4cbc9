/* cpu_cg.h — what the files of backends/cpu/ share among themselves: the code generator
 * context (LLVM types live here and nowhere outside this folder), the kernel kinds with
 * the layout of their run-time params, the JIT/target, the cache and the thread pool.
 *
 * Decision a newcomer may question: the param layout of each kernel kind is written
 * once, here, as a comment beside the kind; codegen.c reads params at those offsets and
 * cpu_plan.c writes them. Both sides must change together, and this is where they meet.
 */
#ifndef TFC_CPU_CG_H
#define TFC_CPU_CG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "backends/backend.h"
#include "backends/tensor.h"
#include "ir/ir.h"

/* Every kernel: bufs[0] is the output (except matmul: A, B, C), params as below, and
 * [lo, hi) the part of the parallel range this call does. Returns 0, or an error code. */
typedef int64_t (*CpuKernelFn)(void **bufs, const int64_t *params, int64_t lo, int64_t hi);

/* Most inputs of one elementwise kernel (a fused one; plain ops have at most 3). */
enum { CPU_EW_MAX_IN = 8 };

typedef enum {
    /* Strided elementwise over an iteration space of rank R (leaves, unary, binary,
     * where, cast, the movement ops that are copies, and fused bodies). bufs: out, in0, in1, ...
     * params: dims[R], then per tensor k (out first, then the inputs):
     * base_k, strides_k[R] (in elements). Parallel range: rows = prod(dims[0..R-2]).
     * Returns 1 on an i32 division by zero, 2 on an i32 negative power. */
    CPU_K_EW,
    /* A fused body ending in a reduction over the trailing RR of X's R dims (X: the
     * reduction's operand). bufs: out (contiguous over the kept dims), in0, in1, ...
     * params: dims[R] of X, then per input k: base_k, strides_k[R] (broadcast into X),
     * then count (reduced elements). Range: output elements. */
    CPU_K_FUSED_REDUCE,
    /* A fused body headed by a softmax / log_softmax over the last axis (an epilogue on
     * each probability): bufs and params as CPU_K_EW's, over the output's R dims; the
     * softmax's operand is one of the inputs. Range: rows = prod(dims[0..R-2]). */
    CPU_K_FUSED_SOFTMAX,
    /* Reduction: params kdims[RK], kstrides[RK], rdims[RR], rstrides[RR], count.
     * bufs: out (contiguous over the kept dims), in. Range: output elements. */
    CPU_K_REDUCE,
    /* Reduction over leading axes (axes = [0 .. k-1], k < rank): the input is
     * [rows, cols] and the output [cols]; params rows, cols, count; bufs out, in.
     * Range: columns, so each thread streams over rows, vectorized along columns. */
    CPU_K_COLREDUCE,
    /* Matmul of one batch: bufs A, B, C (row-major), scratch; params M, N, K, lda,
     * ldb, ldc, scratch floats (A(i, p) is A[i*lda + p], or A[p*lda + i] when trans_a; B
     * likewise). Scratch (64-byte aligned) holds the packed operands when it is big
     * enough, else the kernel allocates its own. Range: columns of C. */
    CPU_K_MATMUL,
    /* softmax / log_softmax: params outer, len, inner; range: outer*inner rows. */
    CPU_K_SOFTMAX,
    /* layernorm over the last axis: bufs out, x, g, b; params C; range: rows.
     * layernorm_grad has the same layout with dy in place of b. */
    CPU_K_LAYERNORM,
    /* cross_entropy: bufs out (scalar), logits, targets; params V, npos; range [0, 1).
     * Returns 1 + the position of an out-of-range target. */
    CPU_K_XENT,
    /* gather: bufs out, table, idx; params rows, rowlen, npos; range: positions.
     * Returns 1 + the position of an out-of-range index. */
    CPU_K_GATHER,
    /* scatter_add: bufs out, idx, upd; params rows, rowlen, npos; range: columns
     * (each thread owns columns, so duplicate indices never race). Returns 1 + pos. */
    CPU_K_SCATTER,
    /* attention, attention_lse, attention_grad (attention.c): bufs out, q, k, then v
     * (attention) or v, o, do, lse (attention_grad), the bias last when there is one;
     * params (CPU_ATT_*) Tq, Tk, D, Dv, bsq, bsk (the bias strides along queries and keys,
     * 0 when broadcast), rows (per batch: Tq, or Tk for d k and d v), each buffer's batch
     * stride, and the bias's batch offset as (b / nin) sout + (b % nin) sin. Range:
     * (batch, row) pairs b * rows + row, so one call does many batches of few rows. */
    CPU_K_ATTENTION,
} CpuKind;

/* What codegen decided for one value. */
typedef struct {
    CpuKind kind;
    int rank;        /* EW: iteration rank R; REDUCE: RK */
    int rrank;       /* REDUCE: RR */
    bool trans_a, trans_b; /* MATMUL: the operand is a transpose of its last two axes,
                              read in place (the transpose value is never built) */
    bool sum_matmul; /* a SUM over the batch axes of matmul(x^T, dy) (a weight gradient):
                        computed as one matmul with K = batch * rows; the batched matmul
                        is never built. Input (like trans_a/trans_b) to cpu_cg_value. */
    char name[24];   /* the LLVM function's symbol */
    /* MATMUL of a fused op (fuse-matmul): x and y are operands mm_x and mm_y (stored
     * transposed when trans_a / trans_b), and `epi` (rank `rank`) is an EW kernel applied
     * to each computed block of C: bufs out, C (the same block), then operands
     * epi_args[0..epi_nargs). epi[0] == 0: a plain matmul. */
    char epi[24];
    int mm_x, mm_y, epi_nargs;
    int8_t epi_args[CPU_EW_MAX_IN];
} CpuKernelInfo;

/* ---- codegen (codegen.c, matmul.c) ---- */

typedef struct {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMTypeRef i1, i8, i32, i64, f32, f64, ptr, voidt, kfn;
    /* the kernel being built */
    LLVMValueRef fn, bufs, params, lo, hi, errslot;
    /* kernels built so far, by key, so identical values share one function */
    char **keys;
    char (*names)[24];
    int n, cap;
    unsigned md_loop;
    int vec; /* f32 lanes of the host's widest vector: 16 (AVX-512), 8 (AVX2), 4 */
} CpuCg;

void cpu_cg_init(CpuCg *c, const char *module_name, int vec);
void cpu_cg_dispose(CpuCg *c); /* builder, module and context */
/* The kernel for v (built, or found among those built). out->trans_a / trans_b are
 * inputs: set them before the call for a matmul whose operand transpose is fused. */
bool cpu_cg_value(CpuCg *c, const IrValue *v, CpuKernelInfo *out, char *err, size_t errlen);
/* The matmul kernel (matmul.c), as function `name`; ta/tb: A / B stored transposed. */
void cpu_cg_matmul(CpuCg *c, IrDType dt, bool ta, bool tb, const char *name);
/* The params of CPU_K_ATTENTION: bufs[i]'s batch stride is CPU_ATT_STRIDE + i (the
 * bias's is unused: CPU_ATT_BIAS_* give its offset). */
enum {
    CPU_ATT_ROWS = 6, CPU_ATT_STRIDE = 7, CPU_ATT_BIAS_NIN = 15, CPU_ATT_BIAS_SIN,
    CPU_ATT_BIAS_SOUT, CPU_ATT_NPARAMS
};

/* The kernel of an attention, attention_lse or attention_grad value (attention.c). */
void cpu_cg_attention(CpuCg *c, const IrValue *v, const char *name);

/* Helpers shared by codegen.c and matmul.c. */
typedef struct {
    LLVMBasicBlockRef head, body, exit;
    LLVMValueRef iv, phi;
    bool vectorize;
} CpuLoop;
/* Opens `for (iv = lo; iv < hi; iv += step)`; the builder is left in the body. */
LLVMValueRef cpu_loop_begin(CpuCg *c, CpuLoop *l, LLVMValueRef lo, LLVMValueRef hi,
                            bool vectorize);
void cpu_loop_end(CpuCg *c, CpuLoop *l, LLVMValueRef step); /* step NULL: 1 */
/* Starts function `name` with the kernel signature; sets c->fn, bufs, params, lo, hi. */
void cpu_fn_begin(CpuCg *c, const char *name);
void cpu_fn_end(CpuCg *c); /* returns *errslot */
LLVMValueRef cpu_param(CpuCg *c, int i);            /* params[i] as i64 */
LLVMValueRef cpu_buf(CpuCg *c, int i);              /* bufs[i] as ptr */
LLVMValueRef cpu_i64(CpuCg *c, int64_t x);
LLVMValueRef cpu_load(CpuCg *c, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef idx);
void cpu_store(CpuCg *c, LLVMTypeRef t, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx);
LLVMValueRef cpu_intrinsic(CpuCg *c, const char *name, LLVMTypeRef overload,
                           LLVMValueRef *args, int nargs);
LLVMValueRef cpu_exp(CpuCg *c, LLVMValueRef x); /* f32 (or f32 vector) exp, vectorizable */
LLVMValueRef cpu_nanmax(CpuCg *c, LLVMValueRef a, LLVMValueRef b); /* max propagating NaN */

/* ---- target, optimisation, JIT (jit.c) ---- */

typedef struct {
    LLVMTargetMachineRef tm;       /* JIT: host CPU and features, PIC */
    char *triple, *cpu, *features; /* LLVM-allocated strings */
} CpuTarget;

bool cpu_target_init(CpuTarget *t, char *err, size_t errlen);
int cpu_target_vec(const CpuTarget *t); /* f32 lanes of the widest vector */
void cpu_target_dispose(CpuTarget *t);
/* Optimise (default<O3>) and emit an object file for mod (which it changes). The object
 * comes from the cache when `cache_dir` holds one for the same IR and target.
 * *compiled tells whether LLVM ran. */
bool cpu_compile_object(CpuTarget *t, LLVMModuleRef mod, const char *cache_dir, void **obj,
                        size_t *objlen, bool *compiled, char *err, size_t errlen);

typedef struct CpuJit CpuJit;
CpuJit *cpu_jit_create(const void *obj, size_t objlen, char *err, size_t errlen);
void *cpu_jit_lookup(CpuJit *j, const char *name, char *err, size_t errlen);
void cpu_jit_destroy(CpuJit *j);

/* ---- on-disk cache (cache.c) ---- */

/* The directory to use: $TFC_CACHE, else ~/.cache/tfc; NULL when neither is set. */
const char *cpu_cache_dir(char *buf, size_t n);
uint64_t cpu_hash(const void *data, size_t n, uint64_t h); /* h: 0 to start */
/* An object stored under `key`, checked; NULL when absent or corrupt (then ignored). */
void *cpu_cache_get(const char *dir, uint64_t key, size_t *len);
void cpu_cache_put(const char *dir, uint64_t key, const void *obj, size_t len);

/* ---- thread pool (threadpool.c) ---- */

typedef struct CpuPool CpuPool;

CpuPool *cpu_pool_create(int threads); /* threads <= 0: all cores */
void cpu_pool_destroy(CpuPool *p);
int cpu_pool_threads(const CpuPool *p);
/* Calls fn(ctx, lo, hi) over [0, n) in at most threads * per_thread contiguous chunks of
 * at least `grain` items, taken dynamically by the workers and the calling thread.
 * Returns the smallest non-zero status any chunk returned (kernels return 1 + the
 * position of a bad index, so that is the first bad position, as the reference says). */
typedef int64_t (*CpuTask)(void *ctx, int64_t lo, int64_t hi, int thread);
int64_t cpu_pool_for(CpuPool *p, int64_t n, int64_t grain, int per_thread, CpuTask fn,
                     void *ctx);
/* A 64-byte aligned buffer of at least `bytes` that belongs to pool thread `thread`
 * (0: the caller; the `thread` a task was given) and lives as long as the pool, so that
 * each kernel call does not allocate (and page-fault) its scratch anew. NULL: no memory. */
void *cpu_pool_scratch(CpuPool *p, int thread, size_t bytes);
/* The floats a matmul call packs into at most (matmul.c checks its block sizes fit). */
enum { CPU_MM_SCRATCH_FLOATS = 256 * (16 * 48 + 48) + (1 << 20) + 64 };

/* Operand headers of a sum_matmul value: x [..., T, C] (the transpose's source) and
 * dy [..., T, N] viewed as xa = [C, B*T] (stored transposed) and yb = [B*T, N], and
 * mm = the batched matmul's shape [..., C, N] for shape checks. */
void cpu_plan_sum_matmul_views(const Tensor *x, const Tensor *dy, Tensor *xa, Tensor *yb,
                               Tensor *mm);

/* ---- launching a kernel with concrete shapes (cpu_plan.c) ---- */

/* Where kernel calls go: the pool, or (ahead of time, aot.c) a recorder that receives
 * each call's buffers, params and range instead of running it. */
typedef void (*CpuRecordFn)(void *ctx, void **bufs, int nbufs, const int64_t *params,
                            int nparams, int64_t lo, int64_t hi);
typedef struct {
    CpuPool *pool;
    CpuRecordFn rec; /* NULL: run */
    void *rec_ctx;
    /* recording only: the calls recorded next go to kernel `name` (a fused matmul's
     * epilogue, recorded after its matmul) */
    void (*rec_kernel)(void *ctx, const char *name);
    CpuKernelFn epi; /* running a fused matmul: its epilogue kernel (ki->epi) */
    /* a transpose's operand is a strided view (a split's part, see cpu_backend.c): its
     * strides in elements, from its data pointer; NULL: contiguous */
    const int64_t *in_strides;
} CpuLaunch;

/* Compute the params of v's kernel from its operands `a` and its output `out` (already
 * created with its concrete shape), run it, and turn a non-zero return into the
 * reference backend's message. */
bool cpu_plan_launch(const CpuLaunch *L, const IrValue *v, const CpuKernelInfo *ki, CpuKernelFn fn,
                     Tensor *const *a, Tensor *out, char *err, size_t errlen);

/* ---- ahead of time (aot.c) ---- */

/* Writes an object (shared: a shared library) holding f's kernels (obj) and a generated
 * driver `int tfc_<f>(weights, inputs, outputs)` to out. kis and virt are indexed by
 * value id, as cpu_backend.c's codegen left them. Static shapes only. */
bool cpu_aot_write(IrFunc *f, const CpuKernelInfo *kis, const bool *virt, const void *obj,
                   size_t objlen, bool shared, FILE *out, char *err, size_t errlen);
/* The C header documenting that entry point. */
bool cpu_aot_header(IrFunc *f, FILE *out, char *err, size_t errlen);

#endif
