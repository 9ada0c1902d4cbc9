/* attention.c — the fused attention kernels, generated as LLVM IR. A call does a range
 * of (batch, row) pairs: the kernel cuts it at batch boundaries and runs the one-batch
 * code below on each piece with that batch's pointers (base + b * batch stride, the
 * bias's offset given in two levels so that it may broadcast over heads), so a short
 * sequence (T = 3 in a grokking model) costs one call per chunk, not one per head.
 * Per batch:
 *
 *   forward  o[i] = Σ_j softmax_j(S[i, j]) v[j]      range: query rows
 *   lse      lse[i] = log Σ_j exp(S[i, j])             range: query rows
 *   dq       dq[i] = scale Σ_j dS[i, j] k[j]            range: query rows
 *   dk       dk[j] = scale Σ_i dS[i, j] q[i]            range: key rows
 *   dv       dv[j] = Σ_i P[i, j] do[i]                  range: key rows
 *
 * with S[i, j] = scale q[i].k[j] + bias[i, j], P = exp(S - lse), dS = P (do[i].v[j] - D[i]),
 * D[i] = do[i].o[i]. No kernel writes the Tq x Tk scores: the forward is FlashAttention's
 * online softmax. Queries go in blocks of QB rows and keys in blocks of KB; for each key
 * block, each row of the query block computes its KB scores (from the keys packed
 * transposed once per call, see build_forward), updates its running max m and sum l,
 * rescales its P v accumulator by exp(m_old - m_new) and adds the block's P v. The key
 * block (KB rows of k and v, 32 KiB at D = 64) stays in L1 while the QB rows reuse it.
 * Causal masking never computes a hidden score: row i stops at key i + Tk - Tq, and a
 * key block that row i cannot see is skipped.
 *
 * lse and the gradients recompute S from q and k (the gradients exp it with the saved
 * lse) in *lane blocks* (see build_grad): vectors run along one side (queries for lse
 * and dq, keys for dk and dv), LB = 2 vectors wide, and the other side goes R rows at a
 * time, its scalars broadcast, so every product is a small register-tiled matmul with
 * no horizontal sum: S, dP = do v^T and the accumulation of dS q, dS k or P do into a
 * [D, LB] block that stays in L1. A call owns its lanes' output rows, so threads never
 * write the same row, and causal masking skips the rows that see none of a block.
 *
 * Vectorization: the forward's inner loops carry llvm.loop.vectorize.enable, which also
 * lets LLVM reorder the f32 sums (see codegen.c); lse and the gradients are written with
 * explicit <W x float> vectors (W = 16 with AVX-512, 8 with AVX2) and llvm.fma.
 *
 * Decision a newcomer may question: a row that sees no key at all (every key hidden by
 * the causal mask or by -inf bias) gives NaN in o and -inf in lse, as the unfused softmax
 * does; its gradient rows are then meaningless, and the reference gives NaN where these
 * kernels may give 0 (they skip keys the mask hides instead of computing exp(-inf + inf)).
 */
#include <math.h>
#include <string.h>

#include "cpu_cg.h"

enum { QB = 16, KB = 64 };

typedef enum { ATT_FWD, ATT_LSE, ATT_DQ, ATT_DK, ATT_DV } AttMode;

typedef struct {
    AttMode mode;
    bool causal, bias;
    double scale;
    /* params and buffers, read in the entry block */
    LLVMValueRef Tq, Tk, D, Dv, bsq, bsk, off, rows;
    LLVMValueRef out, q, k, v, o, dout, lse, bp;
    LLVMValueRef *bufs[8]; /* &out, &q, ... in buffer order, the bias last (NULL: none) */
    LLVMValueRef acc; /* f32 slot for dot products */
} Att;

static LLVMValueRef add(CpuCg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAdd(c->b, a, b, ""); }
static LLVMValueRef sub(CpuCg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildSub(c->b, a, b, ""); }
static LLVMValueRef mul(CpuCg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildMul(c->b, a, b, ""); }
static LLVMValueRef imin(CpuCg *c, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, a, b, ""), a, b, "");
}
static LLVMValueRef imax(CpuCg *c, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSGT, a, b, ""), a, b, "");
}
static LLVMValueRef fconst(CpuCg *c, double x) { return LLVMConstReal(c->f32, x); }
static LLVMValueRef fmuladd(CpuCg *c, LLVMValueRef a, LLVMValueRef b, LLVMValueRef acc) {
    LLVMValueRef args[3] = {a, b, acc};
    return cpu_intrinsic(c, "llvm.fmuladd", c->f32, args, 3);
}
static LLVMValueRef get(CpuCg *c, LLVMValueRef slot) { return LLVMBuildLoad2(c->b, c->f32, slot, ""); }
static void set(CpuCg *c, LLVMValueRef slot, LLVMValueRef x) { LLVMBuildStore(c->b, x, slot); }
static LLVMValueRef is_ninf(CpuCg *c, LLVMValueRef x) { /* x: f32 or a vector of f32 */
    LLVMValueRef ninf = fconst(c, -INFINITY);
    LLVMTypeRef t = LLVMTypeOf(x);
    if (LLVMGetTypeKind(t) == LLVMVectorTypeKind) {
        LLVMValueRef lanes[64];
        for (unsigned k = 0; k < LLVMGetVectorSize(t); k++) lanes[k] = ninf;
        ninf = LLVMConstVector(lanes, LLVMGetVectorSize(t));
    }
    return LLVMBuildFCmp(c->b, LLVMRealOEQ, x, ninf, "");
}

/* Σ_e a[ao + e] b[bo + e] over e < n, vectorized (partial sums in any order). */
static LLVMValueRef dot(CpuCg *c, const Att *s, LLVMValueRef a, LLVMValueRef ao, LLVMValueRef b,
                        LLVMValueRef bo, LLVMValueRef n) {
    set(c, s->acc, fconst(c, 0));
    CpuLoop l;
    LLVMValueRef e = cpu_loop_begin(c, &l, cpu_i64(c, 0), n, true);
    LLVMValueRef x = cpu_load(c, c->f32, a, add(c, ao, e)), y = cpu_load(c, c->f32, b, add(c, bo, e));
    set(c, s->acc, fmuladd(c, x, y, get(c, s->acc)));
    cpu_loop_end(c, &l, NULL);
    return get(c, s->acc);
}

/* y[yo + e] += alpha x[xo + e] over e < n, vectorized. */
static void axpy(CpuCg *c, LLVMValueRef y, LLVMValueRef yo, LLVMValueRef alpha, LLVMValueRef x,
                 LLVMValueRef xo, LLVMValueRef n) {
    CpuLoop l;
    LLVMValueRef e = cpu_loop_begin(c, &l, cpu_i64(c, 0), n, true);
    LLVMValueRef yi = add(c, yo, e);
    cpu_store(c, c->f32, fmuladd(c, alpha, cpu_load(c, c->f32, x, add(c, xo, e)), cpu_load(c, c->f32, y, yi)), y, yi);
    cpu_loop_end(c, &l, NULL);
}

/* y[yo + e] = x over e < n. */
static void fill(CpuCg *c, LLVMValueRef y, LLVMValueRef yo, LLVMValueRef x, LLVMValueRef n) {
    CpuLoop l;
    LLVMValueRef e = cpu_loop_begin(c, &l, cpu_i64(c, 0), n, true);
    cpu_store(c, c->f32, x, y, add(c, yo, e));
    cpu_loop_end(c, &l, NULL);
}

/* Keys [j0, j0 + n) that query i sees: how many, from j0 on (0 .. n). */
static LLVMValueRef visible(CpuCg *c, const Att *s, LLVMValueRef i, LLVMValueRef j0, LLVMValueRef n) {
    if (!s->causal) return n;
    LLVMValueRef last = add(c, add(c, i, s->off), cpu_i64(c, 1)); /* keys < i + Tk - Tq + 1 */
    return imax(c, cpu_i64(c, 0), imin(c, n, sub(c, last, j0)));
}

/* Opens `if (cond) {`; returns the block after it. */
static LLVMBasicBlockRef if_begin(CpuCg *c, LLVMValueRef cond) {
    LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "then");
    LLVMBasicBlockRef cont = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "cont");
    LLVMBuildCondBr(c->b, cond, then, cont);
    LLVMPositionBuilderAtEnd(c->b, then);
    return cont;
}
static void if_end(CpuCg *c, LLVMBasicBlockRef cont) {
    LLVMBuildBr(c->b, cont);
    LLVMPositionBuilderAtEnd(c->b, cont);
}

static LLVMValueRef libc_fn(CpuCg *c, const char *name, LLVMTypeRef ret, LLVMTypeRef *ps, int n) {
    LLVMValueRef f = LLVMGetNamedFunction(c->mod, name);
    return f ? f : LLVMAddFunction(c->mod, name, LLVMFunctionType(ret, ps, (unsigned)n, 0));
}

static LLVMValueRef call(CpuCg *c, LLVMValueRef f, LLVMValueRef *args, int n) {
    return LLVMBuildCall2(c->b, LLVMGlobalGetValueType(f), f, args, (unsigned)n, "");
}

/* The batch loop around a builder's body: over the batches that [lo, hi) touches, with
 * c->lo and c->hi set to the piece's rows and s's pointers to the batch's. Builders
 * open it after their allocas and scratch (an alloca inside a loop grows the stack). */
typedef struct {
    CpuLoop l;
    LLVMValueRef lo, hi;
    Att saved;
} Batch;

static void batch_begin(CpuCg *c, Att *s, Batch *bt) {
    bt->lo = c->lo, bt->hi = c->hi, bt->saved = *s;
    LLVMValueRef b0 = LLVMBuildSDiv(c->b, c->lo, s->rows, "");
    LLVMValueRef b1 = LLVMBuildSDiv(c->b, add(c, c->hi, sub(c, s->rows, cpu_i64(c, 1))), s->rows, "");
    LLVMValueRef b = cpu_loop_begin(c, &bt->l, b0, b1, false), first = mul(c, b, s->rows);
    c->lo = imax(c, cpu_i64(c, 0), sub(c, bt->lo, first));
    c->hi = imin(c, s->rows, sub(c, bt->hi, first));
    for (int i = 0; i < 8 && s->bufs[i]; i++) {
        LLVMValueRef off, nin = cpu_param(c, CPU_ATT_BIAS_NIN);
        if (s->bufs[i] == &s->bp)
            off = add(c, mul(c, LLVMBuildSDiv(c->b, b, nin, ""), cpu_param(c, CPU_ATT_BIAS_SOUT)),
                      mul(c, LLVMBuildSRem(c->b, b, nin, ""), cpu_param(c, CPU_ATT_BIAS_SIN)));
        else
            off = mul(c, b, cpu_param(c, CPU_ATT_STRIDE + i));
        *s->bufs[i] = LLVMBuildGEP2(c->b, c->f32, *s->bufs[i], &off, 1, "");
    }
}

static void batch_end(CpuCg *c, Att *s, Batch *bt) {
    cpu_loop_end(c, &bt->l, NULL);
    *s = bt->saved;
    c->lo = bt->lo, c->hi = bt->hi;
}

/* forward over query rows [lo, hi).
 * The keys this call needs are first packed transposed, kt[d * ldt + j] = k[j, d] with
 * zeros past the last key up to a multiple of KB, so that a row's scores for a key block
 * are KB-wide vectors: sacc[c] += q[i, d] kt[d, j0 + c] over d, with sacc (a KB-float stack
 * array read at constant offsets) kept in registers by LLVM. The P·v sum of a query block
 * goes to `acc`, a QB x Dv stack array, also register-resident across the keys of a row
 * when Dv is a compile-time constant; with a symbolic Dv (or a huge one) the output rows
 * themselves are the accumulator. */
static void build_forward(CpuCg *c, Att *s) {
    LLVMValueRef m = LLVMBuildArrayAlloca(c->b, c->f32, cpu_i64(c, QB), "m");
    LLVMValueRef l = LLVMBuildArrayAlloca(c->b, c->f32, cpu_i64(c, QB), "l");
    LLVMValueRef sb = LLVMBuildArrayAlloca(c->b, c->f32, cpu_i64(c, KB), "s");
    LLVMValueRef sacc = LLVMBuildArrayAlloca(c->b, c->f32, cpu_i64(c, KB), "sacc");
    LLVMValueRef mx = LLVMBuildAlloca(c->b, c->f32, "bm"), ps = LLVMBuildAlloca(c->b, c->f32, "ps");
    bool local = LLVMIsConstant(s->Dv) && LLVMConstIntGetSExtValue(s->Dv) * QB <= 16384;
    LLVMValueRef acc = local ? LLVMBuildArrayAlloca(c->b, c->f32, mul(c, s->Dv, cpu_i64(c, QB)), "acc") : s->out;
    LLVMValueRef zero = cpu_i64(c, 0), ninf = fconst(c, -INFINITY), f0 = fconst(c, 0);
    /* room for every key, then per batch: pack the keys rows [lo, hi) can see */
    LLVMValueRef ldmax = mul(c, LLVMBuildSDiv(c->b, add(c, s->Tk, cpu_i64(c, KB - 1)), cpu_i64(c, KB), ""), cpu_i64(c, KB));
    LLVMValueRef bytes = mul(c, mul(c, ldmax, s->D), cpu_i64(c, 4));
    bytes = LLVMBuildAnd(c->b, add(c, bytes, cpu_i64(c, 127)), cpu_i64(c, -64), ""); /* never 0 */
    LLVMTypeRef aps[2] = {c->i64, c->i64};
    LLVMValueRef kt = call(c, libc_fn(c, "aligned_alloc", c->ptr, aps, 2), (LLVMValueRef[]){cpu_i64(c, 64), bytes}, 2);
    fill(c, kt, zero, f0, mul(c, ldmax, s->D)); /* once: the padding is never packed */
    Batch bt;
    batch_begin(c, s, &bt);
    LLVMValueRef kmax = s->causal ? imax(c, zero, imin(c, s->Tk, add(c, c->hi, s->off))) : s->Tk;
    LLVMValueRef ldt = mul(c, LLVMBuildSDiv(c->b, add(c, kmax, cpu_i64(c, KB - 1)), cpu_i64(c, KB), ""), cpu_i64(c, KB));
    CpuLoop pj, pd;
    LLVMValueRef j = cpu_loop_begin(c, &pj, zero, kmax, false);
    LLVMValueRef d = cpu_loop_begin(c, &pd, zero, s->D, false);
    cpu_store(c, c->f32, cpu_load(c, c->f32, s->k, add(c, mul(c, j, s->D), d)), kt, add(c, mul(c, d, ldt), j));
    cpu_loop_end(c, &pd, NULL);
    cpu_loop_end(c, &pj, NULL);

    CpuLoop lq, lr, lj, lr2, ld, lk, lc, lc3, lc4, lf;
    LLVMValueRef i0 = cpu_loop_begin(c, &lq, c->lo, c->hi, false);
    LLVMValueRef nq = imin(c, cpu_i64(c, QB), sub(c, c->hi, i0));
    /* accumulator row r: acc[r * Dv] locally, the output row i0 + r otherwise */
    LLVMValueRef abase = local ? zero : mul(c, i0, s->Dv);
    LLVMValueRef r = cpu_loop_begin(c, &lr, zero, nq, false);
    cpu_store(c, c->f32, ninf, m, r);
    cpu_store(c, c->f32, f0, l, r);
    fill(c, acc, add(c, abase, mul(c, r, s->Dv)), f0, s->Dv);
    cpu_loop_end(c, &lr, NULL);
    /* keys any row of the block sees: below i0 + nq + Tk - Tq when causal */
    LLVMValueRef kend = s->causal ? imax(c, zero, imin(c, s->Tk, add(c, add(c, i0, nq), s->off))) : s->Tk;
    LLVMValueRef j0 = cpu_loop_begin(c, &lj, zero, kend, false);
    LLVMValueRef nk = imin(c, cpu_i64(c, KB), sub(c, kend, j0));
    r = cpu_loop_begin(c, &lr2, zero, nq, false);
    LLVMValueRef i = add(c, i0, r);
    LLVMValueRef nkr = visible(c, s, i, j0, nk);
    LLVMBasicBlockRef skip = if_begin(c, LLVMBuildICmp(c->b, LLVMIntSGT, nkr, zero, ""));
    /* scores of the whole key block (KB wide, padding included), then scale and bias */
    fill(c, sacc, zero, f0, cpu_i64(c, KB));
    LLVMValueRef qrow = mul(c, i, s->D);
    d = cpu_loop_begin(c, &ld, zero, s->D, false);
    LLVMValueRef qd = cpu_load(c, c->f32, s->q, add(c, qrow, d)), ktrow = add(c, mul(c, d, ldt), j0);
    LLVMValueRef cc = cpu_loop_begin(c, &lk, zero, cpu_i64(c, KB), true);
    cpu_store(c, c->f32, fmuladd(c, qd, cpu_load(c, c->f32, kt, add(c, ktrow, cc)), cpu_load(c, c->f32, sacc, cc)), sacc, cc);
    cpu_loop_end(c, &lk, NULL);
    cpu_loop_end(c, &ld, NULL);
    set(c, mx, ninf);
    cc = cpu_loop_begin(c, &lc, zero, nkr, false);
    LLVMValueRef x = LLVMBuildFMul(c->b, cpu_load(c, c->f32, sacc, cc), fconst(c, s->scale), "");
    if (s->bias)
        x = LLVMBuildFAdd(c->b, x, cpu_load(c, c->f32, s->bp, add(c, mul(c, i, s->bsq), mul(c, add(c, j0, cc), s->bsk))), "");
    cpu_store(c, c->f32, x, sb, cc);
    set(c, mx, cpu_nanmax(c, get(c, mx), x));
    cpu_loop_end(c, &lc, NULL);
    /* online softmax: the new max, the rescale of what was summed so far; a max of -inf
     * (every score so far hidden) uses 0, as the reference's softmax does */
    LLVMValueRef mold = cpu_load(c, c->f32, m, r), mnew = cpu_nanmax(c, mold, get(c, mx));
    LLVMValueRef muse = LLVMBuildSelect(c->b, is_ninf(c, mnew), f0, mnew, "");
    LLVMValueRef alpha = LLVMBuildSelect(c->b, is_ninf(c, mold), f0,
                                         cpu_exp(c, LLVMBuildFSub(c->b, mold, mnew, "")), "");
    set(c, ps, f0);
    cc = cpu_loop_begin(c, &lc3, zero, nkr, true);
    LLVMValueRef p = cpu_exp(c, LLVMBuildFSub(c->b, cpu_load(c, c->f32, sb, cc), muse, ""));
    cpu_store(c, c->f32, p, sb, cc);
    set(c, ps, LLVMBuildFAdd(c->b, get(c, ps), p, ""));
    cpu_loop_end(c, &lc3, NULL);
    cpu_store(c, c->f32, fmuladd(c, cpu_load(c, c->f32, l, r), alpha, get(c, ps)), l, r);
    cpu_store(c, c->f32, mnew, m, r);
    LLVMValueRef arow = add(c, abase, mul(c, r, s->Dv));
    CpuLoop ls;
    LLVMValueRef e = cpu_loop_begin(c, &ls, zero, s->Dv, true);
    LLVMValueRef ai = add(c, arow, e);
    cpu_store(c, c->f32, LLVMBuildFMul(c->b, cpu_load(c, c->f32, acc, ai), alpha, ""), acc, ai);
    cpu_loop_end(c, &ls, NULL);
    cc = cpu_loop_begin(c, &lc4, zero, nkr, false);
    axpy(c, acc, arow, cpu_load(c, c->f32, sb, cc), s->v, mul(c, add(c, j0, cc), s->Dv), s->Dv);
    cpu_loop_end(c, &lc4, NULL);
    if_end(c, skip);
    cpu_loop_end(c, &lr2, NULL);
    cpu_loop_end(c, &lj, cpu_i64(c, KB));
    /* o = acc / l (0/0 = NaN for a row that saw no key; Tk = 0 gives 0, the empty sum) */
    r = cpu_loop_begin(c, &lf, zero, nq, false);
    i = add(c, i0, r);
    LLVMValueRef lr_ = cpu_load(c, c->f32, l, r);
    LLVMValueRef none = LLVMBuildICmp(c->b, LLVMIntEQ, s->Tk, zero, "");
    LLVMValueRef den = LLVMBuildSelect(c->b, none, fconst(c, 1), lr_, "");
    LLVMValueRef orow = mul(c, i, s->Dv);
    arow = add(c, abase, mul(c, r, s->Dv));
    CpuLoop le;
    e = cpu_loop_begin(c, &le, zero, s->Dv, true);
    cpu_store(c, c->f32, LLVMBuildFDiv(c->b, cpu_load(c, c->f32, acc, add(c, arow, e)), den, ""), s->out, add(c, orow, e));
    cpu_loop_end(c, &le, NULL);
    cpu_loop_end(c, &lf, NULL);
    cpu_loop_end(c, &lq, cpu_i64(c, QB));
    batch_end(c, s, &bt);
    call(c, libc_fn(c, "free", c->voidt, &c->ptr, 1), &kt, 1);
}

/* ---- gradients ----
 *
 * dk, dv and dq are one generator with the sides swapped. The *lanes* of a vector run
 * along one side in blocks of LB = NV W (keys for dk and dv, queries for dq), and the
 * other side, the *rows*, goes R at a time; each row's scalars are broadcast against
 * the lane vectors, so nothing needs a horizontal sum. Per lane block:
 *
 *   at[d, c] = A[l0 + c, d], bt[e, c] = B[l0 + c, e]   packed transposed (lanes past nl: stale)
 *   for rows s0 by R:                   (those the causal mask lets see the block)
 *     S[r]  = Σ_d X[s_r, d] at[d]       R x NV vectors, in registers
 *     P[r]  = exp(scale S + bias - lse), 0 where masked
 *     dP[r] = Σ_e Y[s_r, e] bt[e]       (not for dv)
 *     dS[r] = P (dP - D)
 *     acc[e] += Σ_r Y[s_r, e] P[r]  (dv)   or   Σ_r X[s_r, e] dS[r]  (dk, dq)
 *   out[l0 + c, e] = acc[e, c] (times scale for dk and dq)
 *
 * with, for dk and dv: lanes keys, A = k, B = v, rows queries, X = q, Y = do, lse and D
 * per row; for dq: lanes queries, A = q, B = do, rows keys, X = k, Y = v, lse and D per
 * lane. Each output element sums over the rows in ascending order, one FMA per row
 * (masked rows add an exact 0), so the blocking never changes a bit of the result. */

enum { NV_GRAD = 2, R_MAX = 4 };

typedef struct {
    int W, NV, R, LB;
    LLVMTypeRef vt, vi;   /* <W x f32>, <W x i32> */
    bool keys;            /* lanes are keys (dk, dv); queries for dq */
    LLVMValueRef X, Y, A, B;
    LLVMValueRef acc[R_MAX][NV_GRAD]; /* vector slots, entry-block allocas: registers */
} Grad;

static LLVMValueRef vsplat(CpuCg *c, const Grad *g, LLVMValueRef x) {
    LLVMTypeRef t = LLVMTypeOf(x) == c->f32 ? g->vt : g->vi;
    LLVMValueRef v = LLVMBuildInsertElement(c->b, LLVMGetUndef(t), x, LLVMConstInt(c->i32, 0, 0), "");
    return LLVMBuildShuffleVector(c->b, v, LLVMGetUndef(t), LLVMConstNull(g->vi), "");
}
static LLVMValueRef vld(CpuCg *c, const Grad *g, LLVMValueRef base, LLVMValueRef idx) {
    LLVMValueRef l = LLVMBuildLoad2(c->b, g->vt, LLVMBuildGEP2(c->b, c->f32, base, &idx, 1, ""), "");
    LLVMSetAlignment(l, 4);
    return l;
}
static void vst(CpuCg *c, LLVMValueRef x, LLVMValueRef base, LLVMValueRef idx) {
    LLVMSetAlignment(LLVMBuildStore(c->b, x, LLVMBuildGEP2(c->b, c->f32, base, &idx, 1, "")), 4);
}
static LLVMValueRef vfma(CpuCg *c, const Grad *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef acc) {
    LLVMValueRef args[3] = {a, b, acc};
    return cpu_intrinsic(c, "llvm.fma", g->vt, args, 3);
}
static LLVMValueRef i32(CpuCg *c, LLVMValueRef x) { return LLVMBuildTrunc(c->b, x, c->i32, ""); }
static LLVMValueRef clamp(CpuCg *c, LLVMValueRef x, LLVMValueRef lo, LLVMValueRef hi) {
    return imin(c, imax(c, x, lo), hi);
}

/* dst[d * LB + c] = src[(l0 + c) * n + d] for c < nl, 0 for nl <= c < LB. */
static void pack_t(CpuCg *c, const Grad *g, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef n,
                   LLVMValueRef l0, LLVMValueRef nl) {
    CpuLoop lc, ld;
    LLVMValueRef cc = cpu_loop_begin(c, &lc, cpu_i64(c, 0), nl, false);
    LLVMValueRef row = mul(c, add(c, l0, cc), n);
    LLVMValueRef d = cpu_loop_begin(c, &ld, cpu_i64(c, 0), n, false);
    cpu_store(c, c->f32, cpu_load(c, c->f32, src, add(c, row, d)), dst, add(c, mul(c, d, cpu_i64(c, g->LB)), cc));
    cpu_loop_end(c, &ld, NULL);
    cpu_loop_end(c, &lc, NULL);
}

/* t[r][v] = Σ_e rows[srow[r] n + e] pk[e LB + v W ..] over e < n: R rows x LB lanes. */
static void tile_product(CpuCg *c, const Grad *g, LLVMValueRef rows, LLVMValueRef n, LLVMValueRef pk,
                         LLVMValueRef const *srow, LLVMValueRef t[R_MAX][NV_GRAD]) {
    LLVMValueRef rbase[R_MAX];
    for (int r = 0; r < g->R; r++) {
        rbase[r] = mul(c, srow[r], n);
        for (int v = 0; v < g->NV; v++) LLVMBuildStore(c->b, LLVMConstNull(g->vt), g->acc[r][v]);
    }
    CpuLoop l;
    LLVMValueRef e = cpu_loop_begin(c, &l, cpu_i64(c, 0), n, false);
    LLVMValueRef b[NV_GRAD];
    for (int v = 0; v < g->NV; v++) b[v] = vld(c, g, pk, add(c, mul(c, e, cpu_i64(c, g->LB)), cpu_i64(c, v * g->W)));
    for (int r = 0; r < g->R; r++) {
        LLVMValueRef x = vsplat(c, g, cpu_load(c, c->f32, rows, add(c, rbase[r], e)));
        for (int v = 0; v < g->NV; v++)
            LLVMBuildStore(c->b, vfma(c, g, x, b[v], LLVMBuildLoad2(c->b, g->vt, g->acc[r][v], "")), g->acc[r][v]);
    }
    cpu_loop_end(c, &l, NULL);
    for (int r = 0; r < g->R; r++)
        for (int v = 0; v < g->NV; v++) t[r][v] = LLVMBuildLoad2(c->b, g->vt, g->acc[r][v], "");
}

/* acc[e LB + v W ..] += Σ_r rows[srow[r] n + e] t[r][v] over e < n, rows in order. */
static void tile_update(CpuCg *c, const Grad *g, LLVMValueRef acc, LLVMValueRef rows, LLVMValueRef n,
                        LLVMValueRef const *srow, LLVMValueRef t[R_MAX][NV_GRAD]) {
    LLVMValueRef rbase[R_MAX];
    for (int r = 0; r < g->R; r++) rbase[r] = mul(c, srow[r], n);
    CpuLoop l;
    LLVMValueRef e = cpu_loop_begin(c, &l, cpu_i64(c, 0), n, false);
    LLVMValueRef a[NV_GRAD], idx[NV_GRAD];
    for (int v = 0; v < g->NV; v++) {
        idx[v] = add(c, mul(c, e, cpu_i64(c, g->LB)), cpu_i64(c, v * g->W));
        a[v] = vld(c, g, acc, idx[v]);
    }
    for (int r = 0; r < g->R; r++) {
        LLVMValueRef x = vsplat(c, g, cpu_load(c, c->f32, rows, add(c, rbase[r], e)));
        for (int v = 0; v < g->NV; v++) a[v] = vfma(c, g, x, t[r][v], a[v]);
    }
    for (int v = 0; v < g->NV; v++) vst(c, a[v], acc, idx[v]);
    cpu_loop_end(c, &l, NULL);
}

/* bias[i, j] for row s and the lanes v W .. of the block at l0 (lanes past nl read the
 * last valid one: they are masked anyway). */
static LLVMValueRef bias_vec(CpuCg *c, const Att *s, const Grad *g, LLVMValueRef srow, LLVMValueRef l0,
                             LLVMValueRef nl, int v) {
    LLVMValueRef x = LLVMGetUndef(g->vt), last = sub(c, nl, cpu_i64(c, 1));
    for (int k = 0; k < g->W; k++) {
        LLVMValueRef lane = add(c, l0, imin(c, cpu_i64(c, v * g->W + k), last));
        LLVMValueRef i = g->keys ? srow : lane, j = g->keys ? lane : srow;
        LLVMValueRef b = cpu_load(c, c->f32, s->bp, add(c, mul(c, i, s->bsq), mul(c, j, s->bsk)));
        x = LLVMBuildInsertElement(c->b, x, b, LLVMConstInt(c->i32, (unsigned)k, 0), "");
    }
    return x;
}

/* Lanes [v W, v W + W) of the block that row s0 + r sees: lo <= lane < hi as vectors. */
static LLVMValueRef lane_mask(CpuCg *c, const Grad *g, LLVMValueRef lo, LLVMValueRef hi, int v) {
    LLVMValueRef lanes[64];
    for (int k = 0; k < g->W; k++) lanes[k] = LLVMConstInt(c->i32, (unsigned)(v * g->W + k), 0);
    LLVMValueRef cv = LLVMConstVector(lanes, (unsigned)g->W);
    LLVMValueRef m = LLVMBuildICmp(c->b, LLVMIntSLT, cv, hi, "");
    return lo ? LLVMBuildAnd(c->b, m, LLVMBuildICmp(c->b, LLVMIntSGE, cv, lo, ""), "") : m;
}

static void grad_init(CpuCg *c, const Att *s, Grad *g, bool keys) {
    *g = (Grad){.W = c->vec, .NV = NV_GRAD, .keys = keys};
    g->R = g->W >= 16 ? 4 : 2; /* S, dP and the loads fit 32 zmm (16 ymm with AVX2) */
    g->LB = g->W * g->NV;
    g->vt = LLVMVectorType(c->f32, (unsigned)g->W), g->vi = LLVMVectorType(c->i32, (unsigned)g->W);
    for (int r = 0; r < g->R; r++)
        for (int v = 0; v < g->NV; v++) g->acc[r][v] = LLVMBuildAlloca(c->b, g->vt, "acc");
}

/* The operands of the sides, from s's pointers (the batch's: call after batch_begin). */
static void grad_operands(const Att *s, Grad *g) {
    g->X = g->keys ? s->q : s->k, g->Y = g->keys ? s->dout : s->v;
    g->A = g->keys ? s->k : s->q, g->B = g->keys ? s->v : s->dout;
}

/* zeroed once per call: the lanes past a block's last are never packed (see pack_t) */
static LLVMValueRef scratch(CpuCg *c, LLVMValueRef floats) {
    LLVMValueRef bytes = mul(c, floats, cpu_i64(c, 4));
    bytes = LLVMBuildAnd(c->b, add(c, bytes, cpu_i64(c, 127)), cpu_i64(c, -64), ""); /* never 0 */
    LLVMTypeRef aps[2] = {c->i64, c->i64};
    LLVMValueRef p = call(c, libc_fn(c, "aligned_alloc", c->ptr, aps, 2), (LLVMValueRef[]){cpu_i64(c, 64), bytes}, 2);
    fill(c, p, cpu_i64(c, 0), fconst(c, 0), floats);
    return p;
}
static LLVMValueRef at_offset(CpuCg *c, LLVMValueRef p, LLVMValueRef n) {
    return LLVMBuildGEP2(c->b, c->f32, p, &n, 1, "");
}

/* The rows of the other side that see some lane of the block [l0, l0 + nl): queries from
 * l0 - off on (lanes are keys), keys below l0 + nl + off (lanes are queries). */
static void row_range(CpuCg *c, const Att *s, const Grad *g, LLVMValueRef l0, LLVMValueRef nl,
                      LLVMValueRef *rlo, LLVMValueRef *rhi) {
    LLVMValueRef zero = cpu_i64(c, 0);
    *rlo = zero, *rhi = g->keys ? s->Tq : s->Tk;
    if (s->causal && g->keys) *rlo = clamp(c, sub(c, l0, s->off), zero, s->Tq);
    if (s->causal && !g->keys) *rhi = clamp(c, add(c, add(c, l0, nl), s->off), zero, s->Tk);
}

/* One group of R rows from s0 (the last may be short: its missing rows repeat row
 * rhi - 1, all lanes masked). */
typedef struct {
    LLVMValueRef srow[R_MAX];
    LLVMValueRef mask[R_MAX][NV_GRAD]; /* the lanes each row sees */
} Rows;

static void row_group(CpuCg *c, const Att *s, const Grad *g, LLVMValueRef s0, LLVMValueRef rhi,
                      LLVMValueRef l0, LLVMValueRef nl, Rows *rw) {
    LLVMValueRef zero = cpu_i64(c, 0), one = cpu_i64(c, 1), LB = cpu_i64(c, g->LB);
    for (int r = 0; r < g->R; r++) {
        LLVMValueRef row = add(c, s0, cpu_i64(c, r));
        LLVMValueRef in = LLVMBuildICmp(c->b, LLVMIntSLT, row, rhi, "");
        rw->srow[r] = imin(c, row, sub(c, rhi, one));
        /* causal: key <= query + off, i.e. lane <= row + off - l0 (keys) or
         * lane >= row - off - l0 (queries) */
        LLVMValueRef hi = LLVMBuildSelect(c->b, in, nl, zero, ""), lo = NULL;
        if (s->causal && g->keys) hi = clamp(c, add(c, sub(c, add(c, row, s->off), l0), one), zero, hi);
        if (s->causal && !g->keys) lo = vsplat(c, g, i32(c, clamp(c, sub(c, sub(c, row, s->off), l0), zero, LB)));
        LLVMValueRef hiv = vsplat(c, g, i32(c, hi));
        for (int v = 0; v < g->NV; v++) rw->mask[r][v] = lane_mask(c, g, lo, hiv, v);
    }
}

/* x[r][v] = scale S + bias for the row group, S = X[rows] . at (lanes). */
static void scores(CpuCg *c, const Att *s, const Grad *g, const Rows *rw, LLVMValueRef at,
                   LLVMValueRef l0, LLVMValueRef nl, LLVMValueRef x[R_MAX][NV_GRAD]) {
    tile_product(c, g, g->X, s->D, at, rw->srow, x);
    for (int r = 0; r < g->R; r++)
        for (int v = 0; v < g->NV; v++) {
            x[r][v] = LLVMBuildFMul(c->b, x[r][v], vsplat(c, g, fconst(c, s->scale)), "");
            if (s->bias) x[r][v] = LLVMBuildFAdd(c->b, x[r][v], bias_vec(c, s, g, rw->srow[r], l0, nl, v), "");
        }
}

/* lse over query rows [lo, hi): lanes are queries, keys go R at a time, and each lane
 * keeps the online softmax's running max m and sum l in registers (see build_forward
 * for the rules on -inf). */
static void build_lse(CpuCg *c, Att *s) {
    Grad g;
    grad_init(c, s, &g, false);
    LLVMValueRef ms[NV_GRAD], ls[NV_GRAD];
    for (int v = 0; v < g.NV; v++) ms[v] = LLVMBuildAlloca(c->b, g.vt, "m"), ls[v] = LLVMBuildAlloca(c->b, g.vt, "l");
    LLVMValueRef zero = cpu_i64(c, 0), LB = cpu_i64(c, g.LB), at_n = mul(c, s->D, LB);
    LLVMValueRef vninf = vsplat(c, &g, fconst(c, -INFINITY)), v0 = LLVMConstNull(g.vt);
    LLVMValueRef at = scratch(c, add(c, at_n, mul(c, LB, cpu_i64(c, 2))));
    LLVMValueRef mo = at_offset(c, at, at_n), lo_ = at_offset(c, mo, LB);
    Batch bt;
    batch_begin(c, s, &bt);
    grad_operands(s, &g);
    CpuLoop lb, lr, lf;
    LLVMValueRef l0 = cpu_loop_begin(c, &lb, c->lo, c->hi, false);
    LLVMValueRef nl = imin(c, LB, sub(c, c->hi, l0));
    pack_t(c, &g, at, g.A, s->D, l0, nl);
    for (int v = 0; v < g.NV; v++) LLVMBuildStore(c->b, vninf, ms[v]), LLVMBuildStore(c->b, v0, ls[v]);
    LLVMValueRef rlo, rhi;
    row_range(c, s, &g, l0, nl, &rlo, &rhi);
    LLVMValueRef s0 = cpu_loop_begin(c, &lr, rlo, rhi, false);
    Rows rw;
    row_group(c, s, &g, s0, rhi, l0, nl, &rw);
    LLVMValueRef x[R_MAX][NV_GRAD];
    scores(c, s, &g, &rw, at, l0, nl, x);
    for (int v = 0; v < g.NV; v++) {
        LLVMValueRef mold = LLVMBuildLoad2(c->b, g.vt, ms[v], ""), mnew = mold;
        for (int r = 0; r < g.R; r++) {
            x[r][v] = LLVMBuildSelect(c->b, rw.mask[r][v], x[r][v], vninf, "");
            mnew = cpu_nanmax(c, mnew, x[r][v]);
        }
        LLVMValueRef muse = LLVMBuildSelect(c->b, is_ninf(c, mnew), v0, mnew, "");
        LLVMValueRef alpha = LLVMBuildSelect(c->b, is_ninf(c, mold), v0, cpu_exp(c, LLVMBuildFSub(c->b, mold, mnew, "")), "");
        LLVMValueRef l = LLVMBuildFMul(c->b, LLVMBuildLoad2(c->b, g.vt, ls[v], ""), alpha, "");
        for (int r = 0; r < g.R; r++) l = LLVMBuildFAdd(c->b, l, cpu_exp(c, LLVMBuildFSub(c->b, x[r][v], muse, "")), "");
        LLVMBuildStore(c->b, l, ls[v]), LLVMBuildStore(c->b, mnew, ms[v]);
    }
    cpu_loop_end(c, &lr, cpu_i64(c, g.R));
    /* lse = max + log l (a row that saw no key: -inf, as log 0) */
    for (int v = 0; v < g.NV; v++) {
        vst(c, LLVMBuildLoad2(c->b, g.vt, ms[v], ""), mo, cpu_i64(c, v * g.W));
        vst(c, LLVMBuildLoad2(c->b, g.vt, ls[v], ""), lo_, cpu_i64(c, v * g.W));
    }
    LLVMValueRef cc = cpu_loop_begin(c, &lf, zero, nl, false);
    LLVMValueRef mm = cpu_load(c, c->f32, mo, cc), ll = cpu_load(c, c->f32, lo_, cc);
    LLVMValueRef mu = LLVMBuildSelect(c->b, is_ninf(c, mm), fconst(c, 0), mm, "");
    cpu_store(c, c->f32, LLVMBuildFAdd(c->b, mu, cpu_intrinsic(c, "llvm.log", c->f32, &ll, 1), ""), s->out, add(c, l0, cc));
    cpu_loop_end(c, &lf, NULL);
    cpu_loop_end(c, &lb, LB);
    batch_end(c, s, &bt);
    call(c, libc_fn(c, "free", c->voidt, &c->ptr, 1), &at, 1);
}

/* dk, dv or dq over lane rows [lo, hi) (keys, or queries for dq); see above. */
static void build_grad(CpuCg *c, Att *s) {
    Grad g;
    grad_init(c, s, &g, s->mode != ATT_DQ);
    bool dv = s->mode == ATT_DV;
    LLVMValueRef zero = cpu_i64(c, 0), LB = cpu_i64(c, g.LB);
    LLVMValueRef ocols = dv ? s->Dv : s->D;
    /* scratch: at [D, LB], bt [Dv, LB], acc [ocols, LB], lse and D per lane [LB] each
     * (dq), D per query [Tq] (dk) */
    LLVMValueRef at_n = mul(c, s->D, LB), bt_n = mul(c, s->Dv, LB), acc_n = mul(c, ocols, LB);
    LLVMValueRef at = scratch(c, add(c, add(c, add(c, at_n, bt_n), add(c, acc_n, mul(c, LB, cpu_i64(c, 2)))), s->Tq));
    LLVMValueRef bt = at_offset(c, at, at_n), acc = at_offset(c, bt, bt_n), lsev = at_offset(c, acc, acc_n);
    LLVMValueRef dlane = at_offset(c, lsev, LB), drow = at_offset(c, dlane, LB);
    Batch bat;
    batch_begin(c, s, &bat);
    grad_operands(s, &g);
    if (s->mode == ATT_DK) { /* D[i] = do[i].o[i] for the queries that see a key of [lo, hi) */
        LLVMValueRef first = s->causal ? clamp(c, sub(c, c->lo, s->off), zero, s->Tq) : zero;
        CpuLoop li;
        LLVMValueRef i = cpu_loop_begin(c, &li, first, s->Tq, false);
        LLVMValueRef row = mul(c, i, s->Dv);
        cpu_store(c, c->f32, dot(c, s, s->dout, row, s->o, row, s->Dv), drow, i);
        cpu_loop_end(c, &li, NULL);
    }

    CpuLoop lb, lz, lr, lo_, le;
    LLVMValueRef l0 = cpu_loop_begin(c, &lb, c->lo, c->hi, false);
    LLVMValueRef nl = imin(c, LB, sub(c, c->hi, l0));
    pack_t(c, &g, at, g.A, s->D, l0, nl);
    if (!dv) pack_t(c, &g, bt, g.B, s->Dv, l0, nl);
    { /* zero the accumulator vectors the block reads (lanes below nl rounded up to W) */
        LLVMValueRef nw = mul(c, LLVMBuildSDiv(c->b, add(c, nl, cpu_i64(c, g.W - 1)), cpu_i64(c, g.W), ""), cpu_i64(c, g.W));
        CpuLoop lzr;
        LLVMValueRef e = cpu_loop_begin(c, &lzr, zero, ocols, false);
        fill(c, acc, mul(c, e, LB), fconst(c, 0), nw);
        cpu_loop_end(c, &lzr, NULL);
    }
    if (!g.keys) { /* lse and D of the block's queries */
        LLVMValueRef cc = cpu_loop_begin(c, &lz, zero, LB, false);
        LLVMValueRef in = LLVMBuildICmp(c->b, LLVMIntSLT, cc, nl, "");
        LLVMValueRef i = add(c, l0, LLVMBuildSelect(c->b, in, cc, zero, ""));
        LLVMValueRef row = mul(c, i, s->Dv);
        cpu_store(c, c->f32, cpu_load(c, c->f32, s->lse, i), lsev, cc);
        cpu_store(c, c->f32, dot(c, s, s->dout, row, s->o, row, s->Dv), dlane, cc);
        cpu_loop_end(c, &lz, NULL);
    }
    LLVMValueRef rlo, rhi;
    row_range(c, s, &g, l0, nl, &rlo, &rhi);
    LLVMValueRef s0 = cpu_loop_begin(c, &lr, rlo, rhi, false);
    Rows rw;
    row_group(c, s, &g, s0, rhi, l0, nl, &rw);
    LLVMValueRef P[R_MAX][NV_GRAD];
    scores(c, s, &g, &rw, at, l0, nl, P);
    for (int r = 0; r < g.R; r++) {
        LLVMValueRef lse_r = g.keys ? vsplat(c, &g, cpu_load(c, c->f32, s->lse, rw.srow[r])) : NULL;
        for (int v = 0; v < g.NV; v++) {
            LLVMValueRef x = LLVMBuildFSub(c->b, P[r][v], lse_r ? lse_r : vld(c, &g, lsev, cpu_i64(c, v * g.W)), "");
            P[r][v] = LLVMBuildSelect(c->b, rw.mask[r][v], cpu_exp(c, x), LLVMConstNull(g.vt), "");
        }
    }
    if (dv) {
        tile_update(c, &g, acc, g.Y, s->Dv, rw.srow, P);
    } else {
        LLVMValueRef dP[R_MAX][NV_GRAD];
        tile_product(c, &g, g.Y, s->Dv, bt, rw.srow, dP);
        for (int r = 0; r < g.R; r++) {
            LLVMValueRef d_r = g.keys ? vsplat(c, &g, cpu_load(c, c->f32, drow, rw.srow[r])) : NULL;
            for (int v = 0; v < g.NV; v++) {
                LLVMValueRef d = d_r ? d_r : vld(c, &g, dlane, cpu_i64(c, v * g.W));
                LLVMValueRef x = LLVMBuildFMul(c->b, P[r][v], LLVMBuildFSub(c->b, dP[r][v], d, ""), "");
                dP[r][v] = LLVMBuildSelect(c->b, rw.mask[r][v], x, LLVMConstNull(g.vt), ""); /* dS */
            }
        }
        tile_update(c, &g, acc, g.X, s->D, rw.srow, dP);
    }
    cpu_loop_end(c, &lr, cpu_i64(c, g.R));
    /* out[l0 + c, e] = acc[e, c], scaled for dk and dq */
    LLVMValueRef cc = cpu_loop_begin(c, &lo_, zero, nl, false);
    LLVMValueRef orow = mul(c, add(c, l0, cc), ocols);
    LLVMValueRef e = cpu_loop_begin(c, &le, zero, ocols, false);
    LLVMValueRef x = cpu_load(c, c->f32, acc, add(c, mul(c, e, LB), cc));
    if (!dv) x = LLVMBuildFMul(c->b, x, fconst(c, s->scale), "");
    cpu_store(c, c->f32, x, s->out, add(c, orow, e));
    cpu_loop_end(c, &le, NULL);
    cpu_loop_end(c, &lo_, NULL);
    cpu_loop_end(c, &lb, LB);
    batch_end(c, s, &bat);
    call(c, libc_fn(c, "free", c->voidt, &c->ptr, 1), &at, 1);
}

void cpu_cg_attention(CpuCg *c, const IrValue *v, const char *name) {
    Att s = {.causal = v->attrs.causal, .scale = v->attrs.scale};
    int base;
    switch (v->op) {
    case OP_ATTENTION: s.mode = ATT_FWD, base = 3; break;
    case OP_ATTENTION_LSE: s.mode = ATT_LSE, base = 2; break;
    default: s.mode = (AttMode)(ATT_DQ + v->attrs.index), base = 6; break;
    }
    s.bias = v->nargs > base;
    cpu_fn_begin(c, name);
    s.acc = LLVMBuildAlloca(c->b, c->f32, "acc");
    s.Tq = cpu_param(c, 0), s.Tk = cpu_param(c, 1), s.D = cpu_param(c, 2), s.Dv = cpu_param(c, 3);
    /* a head size fixed in the IR becomes a constant: loops over it unroll, and the
     * accumulators stay in registers (the kernel key holds the sizes) */
    int r = v->args[0]->type.rank;
    IrDim dd = v->args[0]->type.dims[r - 1], dv = s.mode == ATT_LSE ? dd : v->args[2]->type.dims[r - 1];
    if (!dd.sym) s.D = cpu_i64(c, dd.size);
    if (!dv.sym) s.Dv = cpu_i64(c, dv.size);
    s.bsq = cpu_param(c, 4), s.bsk = cpu_param(c, 5), s.rows = cpu_param(c, CPU_ATT_ROWS);
    s.off = sub(c, s.Tk, s.Tq);
    /* bufs: out, q, k, then v (forward) or v, o, do, lse (gradients); the bias last */
    s.out = cpu_buf(c, 0), s.q = cpu_buf(c, 1), s.k = cpu_buf(c, 2);
    if (s.mode != ATT_LSE) s.v = cpu_buf(c, 3);
    if (base == 6) s.o = cpu_buf(c, 4), s.dout = cpu_buf(c, 5), s.lse = cpu_buf(c, 6);
    if (s.bias) s.bp = cpu_buf(c, base + 1);
    LLVMValueRef *order[8] = {&s.out, &s.q, &s.k, &s.v, &s.o, &s.dout, &s.lse};
    int nb = base + 1;
    if (s.bias) order[nb++] = &s.bp;
    memcpy(s.bufs, order, sizeof(LLVMValueRef *) * (size_t)nb);
    if (s.mode == ATT_FWD)
        build_forward(c, &s);
    else if (s.mode == ATT_LSE)
        build_lse(c, &s);
    else
        build_grad(c, &s);
    cpu_fn_end(c);
}
