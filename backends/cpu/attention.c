/* attention.c — the fused attention kernels, generated as LLVM IR, for one batch (the
 * host walks the batch dims and hands each batch's pointers in, as for matmul):
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
 * block, each row of the query block computes its KB scores into a small stack buffer,
 * updates its running max m and sum l, rescales its output row by exp(m_old - m_new) and
 * adds P v. The key block (KB rows of k and v, 32 KiB at D = 64) stays in L1 while the
 * QB rows reuse it. The output row itself is the accumulator, so nothing is allocated.
 * Causal masking never computes a hidden score: row i stops at key i + Tk - Tq, and a
 * key block that row i cannot see is skipped.
 *
 * The backward kernels recompute S from q, k and the saved lse. dq walks key blocks per
 * query block like the forward; dk and dv own a block of key rows each and walk the
 * queries that see them (so threads never write the same row), recomputing D[i] once
 * per query and key block.
 *
 * Vectorization: the inner loops (dot products over D and Dv, the exp of a score block,
 * the axpy of a value row into an output row) carry llvm.loop.vectorize.enable, which
 * also lets LLVM reorder the f32 sums (see codegen.c); dot products use llvm.fmuladd so
 * they become FMAs.
 *
 * Decision a newcomer may question: a row that sees no key at all (every key hidden by
 * the causal mask or by -inf bias) gives NaN in o and -inf in lse, as the unfused softmax
 * does; its gradient rows are then meaningless, and the reference gives NaN where these
 * kernels may give 0 (they skip keys the mask hides instead of computing exp(-inf + inf)).
 */
#include <math.h>
#include <string.h>

#include "cpu_cg.h"

enum { QB = 16, KB = 64, KB_GRAD = 32 };

typedef enum { ATT_FWD, ATT_LSE, ATT_DQ, ATT_DK, ATT_DV } AttMode;

typedef struct {
    AttMode mode;
    bool causal, bias;
    double scale;
    /* params and buffers, read in the entry block */
    LLVMValueRef Tq, Tk, D, Dv, bsq, bsk, off;
    LLVMValueRef out, q, k, v, o, dout, lse, bp;
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
static LLVMValueRef is_ninf(CpuCg *c, LLVMValueRef x) {
    return LLVMBuildFCmp(c->b, LLVMRealOEQ, x, fconst(c, -INFINITY), "");
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

/* S[i, j] = scale q[i].k[j] + bias[i, j] (the caller never asks for a hidden key). */
static LLVMValueRef score(CpuCg *c, const Att *s, LLVMValueRef i, LLVMValueRef j) {
    LLVMValueRef d = dot(c, s, s->q, mul(c, i, s->D), s->k, mul(c, j, s->D), s->D);
    LLVMValueRef x = LLVMBuildFMul(c->b, d, fconst(c, s->scale), "");
    if (!s->bias) return x;
    LLVMValueRef bi = add(c, mul(c, i, s->bsq), mul(c, j, s->bsk));
    return LLVMBuildFAdd(c->b, x, cpu_load(c, c->f32, s->bp, bi), "");
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

/* forward and lse over query rows [lo, hi). */
static void build_forward(CpuCg *c, Att *s) {
    bool lse = s->mode == ATT_LSE;
    LLVMValueRef m = LLVMBuildArrayAlloca(c->b, c->f32, cpu_i64(c, QB), "m");
    LLVMValueRef l = LLVMBuildArrayAlloca(c->b, c->f32, cpu_i64(c, QB), "l");
    LLVMValueRef sb = LLVMBuildArrayAlloca(c->b, c->f32, cpu_i64(c, KB), "s");
    LLVMValueRef mx = LLVMBuildAlloca(c->b, c->f32, "bm"), ps = LLVMBuildAlloca(c->b, c->f32, "ps");
    LLVMValueRef zero = cpu_i64(c, 0), ninf = fconst(c, -INFINITY), f0 = fconst(c, 0);
    CpuLoop lq, lr, lj, lr2, lc, lc2, lc3, lc4, lf;
    LLVMValueRef i0 = cpu_loop_begin(c, &lq, c->lo, c->hi, false);
    LLVMValueRef nq = imin(c, cpu_i64(c, QB), sub(c, c->hi, i0));
    LLVMValueRef r = cpu_loop_begin(c, &lr, zero, nq, false);
    cpu_store(c, c->f32, ninf, m, r);
    cpu_store(c, c->f32, f0, l, r);
    if (!lse) fill(c, s->out, mul(c, add(c, i0, r), s->Dv), f0, s->Dv);
    cpu_loop_end(c, &lr, NULL);
    /* keys any row of the block sees: below i0 + nq + Tk - Tq when causal */
    LLVMValueRef kend = s->causal ? imax(c, zero, imin(c, s->Tk, add(c, add(c, i0, nq), s->off))) : s->Tk;
    LLVMValueRef j0 = cpu_loop_begin(c, &lj, zero, kend, false);
    LLVMValueRef nk = imin(c, cpu_i64(c, KB), sub(c, kend, j0));
    r = cpu_loop_begin(c, &lr2, zero, nq, false);
    LLVMValueRef i = add(c, i0, r);
    LLVMValueRef nkr = visible(c, s, i, j0, nk);
    LLVMBasicBlockRef skip = if_begin(c, LLVMBuildICmp(c->b, LLVMIntSGT, nkr, zero, ""));
    /* scores of the block and their max */
    LLVMValueRef cc = cpu_loop_begin(c, &lc, zero, nkr, false);
    cpu_store(c, c->f32, score(c, s, i, add(c, j0, cc)), sb, cc);
    cpu_loop_end(c, &lc, NULL);
    set(c, mx, ninf);
    cc = cpu_loop_begin(c, &lc2, zero, nkr, false);
    set(c, mx, cpu_nanmax(c, get(c, mx), cpu_load(c, c->f32, sb, cc)));
    cpu_loop_end(c, &lc2, NULL);
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
    if (!lse) {
        LLVMValueRef orow = mul(c, i, s->Dv);
        CpuLoop le;
        LLVMValueRef e = cpu_loop_begin(c, &le, zero, s->Dv, true);
        LLVMValueRef oi = add(c, orow, e);
        cpu_store(c, c->f32, LLVMBuildFMul(c->b, cpu_load(c, c->f32, s->out, oi), alpha, ""), s->out, oi);
        cpu_loop_end(c, &le, NULL);
        cc = cpu_loop_begin(c, &lc4, zero, nkr, false);
        axpy(c, s->out, orow, cpu_load(c, c->f32, sb, cc), s->v, mul(c, add(c, j0, cc), s->Dv), s->Dv);
        cpu_loop_end(c, &lc4, NULL);
    }
    if_end(c, skip);
    cpu_loop_end(c, &lr2, NULL);
    cpu_loop_end(c, &lj, cpu_i64(c, KB));
    /* o = acc / l (0/0 = NaN for a row that saw no key; Tk = 0 gives 0, the empty sum),
     * lse = max + log l */
    r = cpu_loop_begin(c, &lf, zero, nq, false);
    i = add(c, i0, r);
    LLVMValueRef lr_ = cpu_load(c, c->f32, l, r);
    if (lse) {
        LLVMValueRef mm = cpu_load(c, c->f32, m, r);
        LLVMValueRef mu = LLVMBuildSelect(c->b, is_ninf(c, mm), f0, mm, "");
        cpu_store(c, c->f32, LLVMBuildFAdd(c->b, mu, cpu_intrinsic(c, "llvm.log", c->f32, &lr_, 1), ""), s->out, i);
    } else {
        LLVMValueRef none = LLVMBuildICmp(c->b, LLVMIntEQ, s->Tk, zero, "");
        LLVMValueRef den = LLVMBuildSelect(c->b, none, fconst(c, 1), lr_, "");
        LLVMValueRef orow = mul(c, i, s->Dv);
        CpuLoop le;
        LLVMValueRef e = cpu_loop_begin(c, &le, zero, s->Dv, true);
        LLVMValueRef oi = add(c, orow, e);
        cpu_store(c, c->f32, LLVMBuildFDiv(c->b, cpu_load(c, c->f32, s->out, oi), den, ""), s->out, oi);
        cpu_loop_end(c, &le, NULL);
    }
    cpu_loop_end(c, &lf, NULL);
    cpu_loop_end(c, &lq, cpu_i64(c, QB));
}

/* P[i, j] = exp(S[i, j] - lse[i]). */
static LLVMValueRef prob(CpuCg *c, const Att *s, LLVMValueRef i, LLVMValueRef j, LLVMValueRef lse_i) {
    return cpu_exp(c, LLVMBuildFSub(c->b, score(c, s, i, j), lse_i, ""));
}

/* dS[i, j] = P (do[i].v[j] - D[i]). */
static LLVMValueRef dscore(CpuCg *c, const Att *s, LLVMValueRef i, LLVMValueRef j, LLVMValueRef p,
                           LLVMValueRef di) {
    LLVMValueRef dp = dot(c, s, s->dout, mul(c, i, s->Dv), s->v, mul(c, j, s->Dv), s->Dv);
    return LLVMBuildFMul(c->b, p, LLVMBuildFSub(c->b, dp, di, ""), "");
}

/* dq over query rows [lo, hi): per query block, D[i] first, then key blocks. */
static void build_dq(CpuCg *c, Att *s) {
    LLVMValueRef dd = LLVMBuildArrayAlloca(c->b, c->f32, cpu_i64(c, QB), "D");
    LLVMValueRef sb = LLVMBuildArrayAlloca(c->b, c->f32, cpu_i64(c, KB), "ds");
    LLVMValueRef zero = cpu_i64(c, 0), f0 = fconst(c, 0);
    CpuLoop lq, lr, lj, lr2, lc, lc2;
    LLVMValueRef i0 = cpu_loop_begin(c, &lq, c->lo, c->hi, false);
    LLVMValueRef nq = imin(c, cpu_i64(c, QB), sub(c, c->hi, i0));
    LLVMValueRef r = cpu_loop_begin(c, &lr, zero, nq, false);
    LLVMValueRef i = add(c, i0, r);
    fill(c, s->out, mul(c, i, s->D), f0, s->D);
    LLVMValueRef orow = mul(c, i, s->Dv);
    cpu_store(c, c->f32, dot(c, s, s->dout, orow, s->o, orow, s->Dv), dd, r);
    cpu_loop_end(c, &lr, NULL);
    LLVMValueRef kend = s->causal ? imax(c, zero, imin(c, s->Tk, add(c, add(c, i0, nq), s->off))) : s->Tk;
    LLVMValueRef j0 = cpu_loop_begin(c, &lj, zero, kend, false);
    LLVMValueRef nk = imin(c, cpu_i64(c, KB), sub(c, kend, j0));
    r = cpu_loop_begin(c, &lr2, zero, nq, false);
    i = add(c, i0, r);
    LLVMValueRef nkr = visible(c, s, i, j0, nk), lse_i = cpu_load(c, c->f32, s->lse, i);
    LLVMValueRef di = cpu_load(c, c->f32, dd, r);
    LLVMValueRef cc = cpu_loop_begin(c, &lc, zero, nkr, false);
    LLVMValueRef j = add(c, j0, cc);
    LLVMValueRef ds = dscore(c, s, i, j, prob(c, s, i, j, lse_i), di);
    cpu_store(c, c->f32, LLVMBuildFMul(c->b, ds, fconst(c, s->scale), ""), sb, cc);
    cpu_loop_end(c, &lc, NULL);
    cc = cpu_loop_begin(c, &lc2, zero, nkr, false);
    axpy(c, s->out, mul(c, i, s->D), cpu_load(c, c->f32, sb, cc), s->k, mul(c, add(c, j0, cc), s->D), s->D);
    cpu_loop_end(c, &lc2, NULL);
    cpu_loop_end(c, &lr2, NULL);
    cpu_loop_end(c, &lj, cpu_i64(c, KB));
    cpu_loop_end(c, &lq, cpu_i64(c, QB));
}

/* dk or dv over key rows [lo, hi): per key block, the queries that see it. */
static void build_dkv(CpuCg *c, Att *s) {
    bool dk = s->mode == ATT_DK;
    LLVMValueRef cols = dk ? s->D : s->Dv;
    LLVMValueRef zero = cpu_i64(c, 0), f0 = fconst(c, 0);
    CpuLoop lb, lz, li, lc;
    LLVMValueRef j0 = cpu_loop_begin(c, &lb, c->lo, c->hi, false);
    LLVMValueRef nk = imin(c, cpu_i64(c, KB_GRAD), sub(c, c->hi, j0));
    LLVMValueRef z = cpu_loop_begin(c, &lz, zero, nk, false);
    fill(c, s->out, mul(c, add(c, j0, z), cols), f0, cols);
    cpu_loop_end(c, &lz, NULL);
    /* query i sees key j iff i >= j - (Tk - Tq) */
    LLVMValueRef qstart = s->causal ? imin(c, s->Tq, imax(c, zero, sub(c, j0, s->off))) : zero;
    LLVMValueRef i = cpu_loop_begin(c, &li, qstart, s->Tq, false);
    LLVMValueRef nkr = visible(c, s, i, j0, nk), lse_i = cpu_load(c, c->f32, s->lse, i);
    LLVMValueRef irow = mul(c, i, s->Dv);
    LLVMValueRef di = dk ? dot(c, s, s->dout, irow, s->o, irow, s->Dv) : NULL;
    LLVMValueRef cc = cpu_loop_begin(c, &lc, zero, nkr, false);
    LLVMValueRef j = add(c, j0, cc);
    LLVMValueRef p = prob(c, s, i, j, lse_i);
    if (dk) {
        LLVMValueRef ds = LLVMBuildFMul(c->b, dscore(c, s, i, j, p, di), fconst(c, s->scale), "");
        axpy(c, s->out, mul(c, j, s->D), ds, s->q, mul(c, i, s->D), s->D);
    } else {
        axpy(c, s->out, mul(c, j, s->Dv), p, s->dout, irow, s->Dv);
    }
    cpu_loop_end(c, &lc, NULL);
    cpu_loop_end(c, &li, NULL);
    cpu_loop_end(c, &lb, cpu_i64(c, KB_GRAD));
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
    s.bsq = cpu_param(c, 4), s.bsk = cpu_param(c, 5);
    s.off = sub(c, s.Tk, s.Tq);
    /* bufs: out, q, k, then v (forward) or v, o, do, lse (gradients); the bias last */
    s.out = cpu_buf(c, 0), s.q = cpu_buf(c, 1), s.k = cpu_buf(c, 2);
    if (s.mode != ATT_LSE) s.v = cpu_buf(c, 3);
    if (base == 6) s.o = cpu_buf(c, 4), s.dout = cpu_buf(c, 5), s.lse = cpu_buf(c, 6);
    if (s.bias) s.bp = cpu_buf(c, base + 1);
    if (s.mode <= ATT_LSE)
        build_forward(c, &s);
    else if (s.mode == ATT_DQ)
        build_dq(c, &s);
    else
        build_dkv(c, &s);
    cpu_fn_end(c);
}
