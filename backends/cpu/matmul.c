/* matmul.c — the matmul kernel, generated as LLVM IR: C[M, N] = A[M, K] @ B[K, N] for one
 * batch (the host walks the broadcast batch dims and hands each batch's pointers in).
 *
 * f32 follows the BLIS structure, with block sizes for this machine's caches:
 *
 *   for jc in N by NC:                 B block (KC x NC, ~768 KiB) stays in L2
 *     for pc in K by KC:  pack B[pc.., jc..] into NR-wide panels (zero-padded)
 *       for ic in rows by MC:  pack A[ic.., pc..] into MR-tall panels (zero-padded)
 *         for ir in MC by MR:          A micro-panel (MR x KC, 8 KiB) stays in L1
 *           for jr in NC by NR:  micro-kernel: an MR x NR tile of C in registers
 *
 * The micro-kernel keeps MR x NR/W vector accumulators (W = 16 lanes with AVX-512:
 * 8 x 48, 24 zmm registers, plus 3 for B and one broadcast of A); each k step is
 * NR/W vector loads of B, MR broadcasts of A and MR*NR/W FMAs. Edge tiles compute the
 * full tile on zero padding and store only the valid part.
 *
 * Decisions a newcomer may question:
 *   - The parallel range is columns of C: each call (one thread's share) packs only its
 *     own columns of B, the big operand for transformer shapes (M = B*T rows, N up to
 *     the vocabulary), and repacks the small A per column block. No packed data is
 *     shared, so threads need no barrier.
 *   - Packing buffers come from aligned_alloc inside the kernel, so the kernel is
 *     self-contained (the same code works in an ahead-of-time object).
 *   - i32 matmul (not produced by the frontend) keeps the plain i-k-j loop.
 */
#include "cpu_cg.h"

enum { KC = 256, NC_PANELS = 16 };

/* Begin an internal helper function; the builder ends up in its entry block. */
static LLVMValueRef helper_begin(CpuCg *c, const char *name, LLVMTypeRef *ps, int n) {
    LLVMTypeRef ft = LLVMFunctionType(c->voidt, ps, (unsigned)n, 0);
    LLVMValueRef f = LLVMAddFunction(c->mod, name, ft);
    LLVMSetLinkage(f, LLVMInternalLinkage);
    c->fn = f;
    LLVMPositionBuilderAtEnd(c->b, LLVMAppendBasicBlockInContext(c->ctx, f, "entry"));
    return f;
}

static LLVMValueRef imin(CpuCg *c, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, a, b, ""), a, b, "");
}

static LLVMValueRef add(CpuCg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAdd(c->b, a, b, ""); }
static LLVMValueRef mul(CpuCg *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildMul(c->b, a, b, ""); }

/* Bp[(j / NR) * kc * NR + p * NR + j % NR] = B(pc + p, jc + j), 0 past nc; B(p, j) is
 * B[p * ldb + j], or B[j * ldb + p] when B is stored transposed (tb). Loops run along
 * the stored rows, so reads are contiguous either way. */
static LLVMValueRef build_pack_b(CpuCg *c, const char *name, int NR, bool tb) {
    LLVMTypeRef ps[7] = {c->ptr, c->ptr, c->i64, c->i64, c->i64, c->i64, c->i64};
    LLVMValueRef f = helper_begin(c, name, ps, 7);
    LLVMValueRef Bp = LLVMGetParam(f, 0), B = LLVMGetParam(f, 1), ldb = LLVMGetParam(f, 2);
    LLVMValueRef pc = LLVMGetParam(f, 3), kc = LLVMGetParam(f, 4), jc = LLVMGetParam(f, 5);
    LLVMValueRef nc = LLVMGetParam(f, 6);
    LLVMValueRef nr = cpu_i64(c, NR);
    LLVMValueRef npan = LLVMBuildSDiv(c->b, add(c, nc, cpu_i64(c, NR - 1)), nr, "");
    if (tb) {
        CpuLoop lj, lp;
        LLVMValueRef j = cpu_loop_begin(c, &lj, cpu_i64(c, 0), nc, false);
        LLVMValueRef src = add(c, mul(c, add(c, jc, j), ldb), pc);
        LLVMValueRef jp = LLVMBuildSDiv(c->b, j, nr, ""), jq = LLVMBuildSRem(c->b, j, nr, "");
        LLVMValueRef dst = add(c, mul(c, mul(c, jp, kc), nr), jq);
        LLVMValueRef p = cpu_loop_begin(c, &lp, cpu_i64(c, 0), kc, false);
        cpu_store(c, c->f32, cpu_load(c, c->f32, B, add(c, src, p)), Bp, add(c, dst, mul(c, p, nr)));
        cpu_loop_end(c, &lp, NULL);
        cpu_loop_end(c, &lj, NULL);
        /* zero padding of the last panel: columns nc .. npan*NR */
        CpuLoop lz, lp2;
        LLVMValueRef jz = cpu_loop_begin(c, &lz, nc, mul(c, npan, nr), false);
        LLVMValueRef zp = LLVMBuildSDiv(c->b, jz, nr, ""), zq = LLVMBuildSRem(c->b, jz, nr, "");
        LLVMValueRef zd = add(c, mul(c, mul(c, zp, kc), nr), zq);
        LLVMValueRef p2 = cpu_loop_begin(c, &lp2, cpu_i64(c, 0), kc, false);
        cpu_store(c, c->f32, LLVMConstReal(c->f32, 0), Bp, add(c, zd, mul(c, p2, nr)));
        cpu_loop_end(c, &lp2, NULL);
        cpu_loop_end(c, &lz, NULL);
        LLVMBuildRetVoid(c->b);
        return f;
    }
    CpuLoop lj, lp, lq;
    /* row by row of B: reads stream along a row, writes go to one NR run per panel */
    LLVMValueRef p = cpu_loop_begin(c, &lp, cpu_i64(c, 0), kc, false);
    LLVMValueRef jp = cpu_loop_begin(c, &lj, cpu_i64(c, 0), npan, false);
    LLVMValueRef j0 = mul(c, jp, nr);
    LLVMValueRef dst0 = mul(c, mul(c, jp, kc), nr);
    LLVMValueRef src = add(c, mul(c, add(c, pc, p), ldb), add(c, jc, j0));
    LLVMValueRef dst = add(c, dst0, mul(c, p, nr));
    LLVMValueRef valid = imin(c, LLVMBuildSub(c->b, nc, j0, ""), nr);
    LLVMValueRef q = cpu_loop_begin(c, &lq, cpu_i64(c, 0), valid, true);
    cpu_store(c, c->f32, cpu_load(c, c->f32, B, add(c, src, q)), Bp, add(c, dst, q));
    cpu_loop_end(c, &lq, NULL);
    CpuLoop lz;
    q = cpu_loop_begin(c, &lz, valid, nr, false); /* zero padding of the last panel */
    cpu_store(c, c->f32, LLVMConstReal(c->f32, 0), Bp, add(c, dst, q));
    cpu_loop_end(c, &lz, NULL);
    cpu_loop_end(c, &lj, NULL);
    cpu_loop_end(c, &lp, NULL);
    LLVMBuildRetVoid(c->b);
    return f;
}

/* Ap[(i / MR) * kc * MR + p * MR + i % MR] = A[(ic + i) * lda + pc + p], 0 past mc. */
static LLVMValueRef build_pack_a(CpuCg *c, const char *name, int MR, bool ta) {
    LLVMTypeRef ps[7] = {c->ptr, c->ptr, c->i64, c->i64, c->i64, c->i64, c->i64};
    LLVMValueRef f = helper_begin(c, name, ps, 7);
    LLVMValueRef Ap = LLVMGetParam(f, 0), A = LLVMGetParam(f, 1), lda = LLVMGetParam(f, 2);
    LLVMValueRef ic = LLVMGetParam(f, 3), mc = LLVMGetParam(f, 4), pc = LLVMGetParam(f, 5);
    LLVMValueRef kc = LLVMGetParam(f, 6);
    LLVMValueRef mr = cpu_i64(c, MR);
    LLVMValueRef npan = LLVMBuildSDiv(c->b, add(c, mc, cpu_i64(c, MR - 1)), mr, "");
    CpuLoop li, lr, lp;
    if (ta) { /* stored [K, M]: for each k, MR contiguous rows */
        LLVMValueRef ip = cpu_loop_begin(c, &li, cpu_i64(c, 0), npan, false);
        LLVMValueRef dst0 = mul(c, mul(c, ip, kc), mr);
        LLVMValueRef p = cpu_loop_begin(c, &lp, cpu_i64(c, 0), kc, false);
        LLVMValueRef src = add(c, mul(c, add(c, pc, p), lda), add(c, ic, mul(c, ip, mr)));
        LLVMValueRef dst = add(c, dst0, mul(c, p, mr));
        LLVMValueRef r = cpu_loop_begin(c, &lr, cpu_i64(c, 0), mr, true);
        LLVMValueRef in = LLVMBuildICmp(c->b, LLVMIntSLT, add(c, mul(c, ip, mr), r), mc, "");
        LLVMValueRef v = cpu_load(c, c->f32, A, add(c, src, LLVMBuildSelect(c->b, in, r, cpu_i64(c, 0), "")));
        cpu_store(c, c->f32, LLVMBuildSelect(c->b, in, v, LLVMConstReal(c->f32, 0), ""), Ap, add(c, dst, r));
        cpu_loop_end(c, &lr, NULL);
        cpu_loop_end(c, &lp, NULL);
        cpu_loop_end(c, &li, NULL);
        LLVMBuildRetVoid(c->b);
        return f;
    }
    LLVMValueRef ip = cpu_loop_begin(c, &li, cpu_i64(c, 0), npan, false);
    LLVMValueRef dst0 = mul(c, mul(c, ip, kc), mr);
    LLVMValueRef r = cpu_loop_begin(c, &lr, cpu_i64(c, 0), mr, false);
    LLVMValueRef row = add(c, mul(c, ip, mr), r);
    LLVMValueRef in = LLVMBuildICmp(c->b, LLVMIntSLT, row, mc, "");
    LLVMValueRef srow = add(c, ic, LLVMBuildSelect(c->b, in, row, cpu_i64(c, 0), ""));
    /* A(row, pc + p): A[row*lda + pc + p], or A[(pc + p)*lda + row] when transposed */
    LLVMValueRef src = ta ? add(c, mul(c, pc, lda), srow) : add(c, mul(c, srow, lda), pc);
    LLVMValueRef pstride = ta ? lda : cpu_i64(c, 1);
    LLVMValueRef p = cpu_loop_begin(c, &lp, cpu_i64(c, 0), kc, false);
    LLVMValueRef v = cpu_load(c, c->f32, A, add(c, src, mul(c, p, pstride)));
    cpu_store(c, c->f32, LLVMBuildSelect(c->b, in, v, LLVMConstReal(c->f32, 0), ""), Ap,
              add(c, add(c, dst0, mul(c, p, mr)), r));
    cpu_loop_end(c, &lp, NULL);
    cpu_loop_end(c, &lr, NULL);
    cpu_loop_end(c, &li, NULL);
    LLVMBuildRetVoid(c->b);
    return f;
}

/* C[MR x NR tile] (+)= Ap panel x Bp panel over kc; only mr x nr of it is stored. */
static LLVMValueRef build_micro(CpuCg *c, const char *name, int MR, int NR) {
    int W = c->vec, NV = NR / W;
    LLVMTypeRef ps[8] = {c->ptr, c->ptr, c->ptr, c->i64, c->i64, c->i64, c->i64, c->i64};
    LLVMValueRef f = helper_begin(c, name, ps, 8);
    LLVMValueRef Ap = LLVMGetParam(f, 0), Bp = LLVMGetParam(f, 1), C = LLVMGetParam(f, 2);
    LLVMValueRef ldc = LLVMGetParam(f, 3), kc = LLVMGetParam(f, 4), mr = LLVMGetParam(f, 5);
    LLVMValueRef nr = LLVMGetParam(f, 6), accum = LLVMGetParam(f, 7);
    LLVMTypeRef vt = LLVMVectorType(c->f32, (unsigned)W);
    LLVMValueRef acc[16][4];
    LLVMValueRef zero = LLVMConstNull(vt);
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++) {
            acc[i][v] = LLVMBuildAlloca(c->b, vt, "acc");
            LLVMBuildStore(c->b, zero, acc[i][v]);
        }
    LLVMValueRef tile = LLVMBuildArrayAlloca(c->b, c->f32, cpu_i64(c, MR * NR), "tile");
    LLVMValueRef undef = LLVMGetUndef(vt);
    LLVMValueRef zmask = LLVMConstNull(LLVMVectorType(c->i32, (unsigned)W));
    CpuLoop lk;
    LLVMValueRef k = cpu_loop_begin(c, &lk, cpu_i64(c, 0), kc, false);
    LLVMValueRef bv[4];
    for (int v = 0; v < NV; v++) {
        LLVMValueRef idx = add(c, mul(c, k, cpu_i64(c, NR)), cpu_i64(c, v * W));
        LLVMValueRef pv = LLVMBuildGEP2(c->b, c->f32, Bp, &idx, 1, "");
        bv[v] = LLVMBuildLoad2(c->b, vt, pv, "");
        LLVMSetAlignment(bv[v], 4);
    }
    for (int i = 0; i < MR; i++) {
        LLVMValueRef a = cpu_load(c, c->f32, Ap, add(c, mul(c, k, cpu_i64(c, MR)), cpu_i64(c, i)));
        LLVMValueRef s = LLVMBuildInsertElement(c->b, undef, a, LLVMConstInt(c->i32, 0, 0), "");
        s = LLVMBuildShuffleVector(c->b, s, undef, zmask, "");
        for (int v = 0; v < NV; v++) {
            LLVMValueRef args[3] = {s, bv[v], LLVMBuildLoad2(c->b, vt, acc[i][v], "")};
            LLVMBuildStore(c->b, cpu_intrinsic(c, "llvm.fma", vt, args, 3), acc[i][v]);
        }
    }
    cpu_loop_end(c, &lk, NULL);
    /* full tile: straight to C; edge tile: through `tile`, then the valid part */
    LLVMValueRef full = LLVMBuildAnd(c->b, LLVMBuildICmp(c->b, LLVMIntEQ, mr, cpu_i64(c, MR), ""),
                                     LLVMBuildICmp(c->b, LLVMIntEQ, nr, cpu_i64(c, NR), ""), "");
    LLVMValueRef doacc = LLVMBuildICmp(c->b, LLVMIntNE, accum, cpu_i64(c, 0), "");
    LLVMBasicBlockRef bfull = LLVMAppendBasicBlockInContext(c->ctx, f, "full");
    LLVMBasicBlockRef bedge = LLVMAppendBasicBlockInContext(c->ctx, f, "edge");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(c->ctx, f, "done");
    LLVMBuildCondBr(c->b, full, bfull, bedge);
    LLVMPositionBuilderAtEnd(c->b, bfull);
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++) {
            LLVMValueRef idx = add(c, mul(c, cpu_i64(c, i), ldc), cpu_i64(c, v * W));
            LLVMValueRef pc = LLVMBuildGEP2(c->b, c->f32, C, &idx, 1, "");
            LLVMValueRef old = LLVMBuildLoad2(c->b, vt, pc, "");
            LLVMSetAlignment(old, 4);
            LLVMValueRef a = LLVMBuildLoad2(c->b, vt, acc[i][v], "");
            LLVMValueRef nv = LLVMBuildSelect(c->b, doacc, LLVMBuildFAdd(c->b, old, a, ""), a, "");
            LLVMValueRef st = LLVMBuildStore(c->b, nv, pc);
            LLVMSetAlignment(st, 4);
        }
    LLVMBuildBr(c->b, done);
    LLVMPositionBuilderAtEnd(c->b, bedge);
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++) {
            LLVMValueRef idx = cpu_i64(c, i * NR + v * W);
            LLVMValueRef pt = LLVMBuildGEP2(c->b, c->f32, tile, &idx, 1, "");
            LLVMValueRef st = LLVMBuildStore(c->b, LLVMBuildLoad2(c->b, vt, acc[i][v], ""), pt);
            LLVMSetAlignment(st, 4);
        }
    CpuLoop li, lj;
    LLVMValueRef i = cpu_loop_begin(c, &li, cpu_i64(c, 0), mr, false);
    LLVMValueRef j = cpu_loop_begin(c, &lj, cpu_i64(c, 0), nr, false);
    LLVMValueRef ci = add(c, mul(c, i, ldc), j);
    LLVMValueRef t = cpu_load(c, c->f32, tile, add(c, mul(c, i, cpu_i64(c, NR)), j));
    LLVMValueRef old = cpu_load(c, c->f32, C, ci);
    cpu_store(c, c->f32, LLVMBuildSelect(c->b, doacc, LLVMBuildFAdd(c->b, old, t, ""), t, ""), C, ci);
    cpu_loop_end(c, &lj, NULL);
    cpu_loop_end(c, &li, NULL);
    LLVMBuildBr(c->b, done);
    LLVMPositionBuilderAtEnd(c->b, done);
    LLVMBuildRetVoid(c->b);
    return f;
}

static LLVMValueRef libc_fn(CpuCg *c, const char *name, LLVMTypeRef ret, LLVMTypeRef *ps, int n,
                            LLVMTypeRef *ft) {
    *ft = LLVMFunctionType(ret, ps, (unsigned)n, 0);
    LLVMValueRef f = LLVMGetNamedFunction(c->mod, name);
    return f ? f : LLVMAddFunction(c->mod, name, *ft);
}

static LLVMValueRef call(CpuCg *c, LLVMValueRef f, LLVMValueRef *args, int n) {
    return LLVMBuildCall2(c->b, LLVMGlobalGetValueType(f), f, args, (unsigned)n, "");
}

static void build_sgemm(CpuCg *c, bool ta, bool tb, const char *name) {
    int W = c->vec;
    int MR = W >= 16 ? 8 : 4, NR = 3 * W, NC = NR * NC_PANELS, MC = MR * 16;
    char nm[64];
    snprintf(nm, sizeof nm, "%s_packb", name);
    LLVMValueRef packb = build_pack_b(c, nm, NR, tb);
    snprintf(nm, sizeof nm, "%s_packa", name);
    LLVMValueRef packa = build_pack_a(c, nm, MR, ta);
    snprintf(nm, sizeof nm, "%s_micro", name);
    LLVMValueRef micro = build_micro(c, nm, MR, NR);

    cpu_fn_begin(c, name);
    LLVMValueRef M = cpu_param(c, 0), K = cpu_param(c, 2);
    LLVMValueRef lda = cpu_param(c, 3), ldb = cpu_param(c, 4), ldc = cpu_param(c, 5);
    LLVMValueRef A = cpu_buf(c, 0), B = cpu_buf(c, 1), C = cpu_buf(c, 2);
    LLVMTypeRef ft;
    LLVMTypeRef aps[2] = {c->i64, c->i64};
    LLVMValueRef alloc = libc_fn(c, "aligned_alloc", c->ptr, aps, 2, &ft);
    LLVMValueRef freef = libc_fn(c, "free", c->voidt, &c->ptr, 1, &ft);
    /* packing buffers sized for this call (small matmuls must not pay for big blocks);
     * aligned_alloc wants a multiple of the alignment */
    LLVMValueRef kcap = add(c, imin(c, K, cpu_i64(c, KC)), cpu_i64(c, 1));
    LLVMValueRef ncap = add(c, imin(c, LLVMBuildSub(c->b, c->hi, c->lo, ""), cpu_i64(c, NC)), cpu_i64(c, NR));
    LLVMValueRef mcap = add(c, imin(c, M, cpu_i64(c, MC)), cpu_i64(c, MR));
    LLVMValueRef bbytes = mul(c, mul(c, kcap, ncap), cpu_i64(c, 4));
    LLVMValueRef abytes = mul(c, mul(c, kcap, mcap), cpu_i64(c, 4));
    LLVMValueRef round = cpu_i64(c, -64);
    bbytes = LLVMBuildAnd(c->b, add(c, bbytes, cpu_i64(c, 63)), round, "");
    abytes = LLVMBuildAnd(c->b, add(c, abytes, cpu_i64(c, 63)), round, "");
    LLVMValueRef a1[2] = {cpu_i64(c, 64), bbytes};
    LLVMValueRef Bp = call(c, alloc, a1, 2);
    LLVMValueRef a2[2] = {cpu_i64(c, 64), abytes};
    LLVMValueRef Ap = call(c, alloc, a2, 2);
    /* K = 0: C is zeros (the loops below never store) */
    LLVMBasicBlockRef kz = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "kzero");
    LLVMBasicBlockRef main = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "main");
    LLVMBuildCondBr(c->b, LLVMBuildICmp(c->b, LLVMIntEQ, K, cpu_i64(c, 0), ""), kz, main);
    LLVMPositionBuilderAtEnd(c->b, kz);
    CpuLoop zi, zj;
    LLVMValueRef zr = cpu_loop_begin(c, &zi, cpu_i64(c, 0), M, false);
    LLVMValueRef zc = cpu_loop_begin(c, &zj, c->lo, c->hi, true);
    cpu_store(c, c->f32, LLVMConstReal(c->f32, 0), C, add(c, mul(c, zr, ldc), zc));
    cpu_loop_end(c, &zj, NULL);
    cpu_loop_end(c, &zi, NULL);
    LLVMBasicBlockRef fin = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "fin");
    LLVMBuildBr(c->b, fin);
    LLVMPositionBuilderAtEnd(c->b, main);
    CpuLoop ljc, lpc, lic, lir, ljr;
    LLVMValueRef jc = cpu_loop_begin(c, &ljc, c->lo, c->hi, false);
    LLVMValueRef nc = imin(c, cpu_i64(c, NC), LLVMBuildSub(c->b, c->hi, jc, ""));
    LLVMValueRef pc = cpu_loop_begin(c, &lpc, cpu_i64(c, 0), K, false);
    LLVMValueRef kc = imin(c, cpu_i64(c, KC), LLVMBuildSub(c->b, K, pc, ""));
    LLVMValueRef pbargs[7] = {Bp, B, ldb, pc, kc, jc, nc};
    call(c, packb, pbargs, 7);
    LLVMValueRef accum = LLVMBuildZExt(c->b, LLVMBuildICmp(c->b, LLVMIntSGT, pc, cpu_i64(c, 0), ""), c->i64, "");
    LLVMValueRef ic = cpu_loop_begin(c, &lic, cpu_i64(c, 0), M, false);
    LLVMValueRef mc = imin(c, cpu_i64(c, MC), LLVMBuildSub(c->b, M, ic, ""));
    LLVMValueRef paargs[7] = {Ap, A, lda, ic, mc, pc, kc};
    call(c, packa, paargs, 7);
    LLVMValueRef ir = cpu_loop_begin(c, &lir, cpu_i64(c, 0), mc, false);
    LLVMValueRef mr = imin(c, cpu_i64(c, MR), LLVMBuildSub(c->b, mc, ir, ""));
    LLVMValueRef apan = LLVMBuildGEP2(c->b, c->f32, Ap, (LLVMValueRef[]){mul(c, ir, kc)}, 1, "");
    LLVMValueRef jr = cpu_loop_begin(c, &ljr, cpu_i64(c, 0), nc, false);
    LLVMValueRef nr = imin(c, cpu_i64(c, NR), LLVMBuildSub(c->b, nc, jr, ""));
    LLVMValueRef bpan = LLVMBuildGEP2(c->b, c->f32, Bp, (LLVMValueRef[]){mul(c, jr, kc)}, 1, "");
    LLVMValueRef coff = add(c, mul(c, add(c, ic, ir), ldc), add(c, jc, jr));
    LLVMValueRef cptr = LLVMBuildGEP2(c->b, c->f32, C, &coff, 1, "");
    LLVMValueRef margs[8] = {apan, bpan, cptr, ldc, kc, mr, nr, accum};
    call(c, micro, margs, 8);
    cpu_loop_end(c, &ljr, cpu_i64(c, NR));
    cpu_loop_end(c, &lir, cpu_i64(c, MR));
    cpu_loop_end(c, &lic, cpu_i64(c, MC));
    cpu_loop_end(c, &lpc, cpu_i64(c, KC));
    cpu_loop_end(c, &ljc, cpu_i64(c, NC));
    LLVMBuildBr(c->b, fin);
    LLVMPositionBuilderAtEnd(c->b, fin);
    call(c, freef, &Bp, 1);
    call(c, freef, &Ap, 1);
    cpu_fn_end(c);
}

static void build_imatmul(CpuCg *c, const char *name) {
    cpu_fn_begin(c, name);
    LLVMTypeRef t = c->i32;
    LLVMValueRef M = cpu_param(c, 0), K = cpu_param(c, 2);
    LLVMValueRef lda = cpu_param(c, 3), ldb = cpu_param(c, 4), ldc = cpu_param(c, 5);
    LLVMValueRef A = cpu_buf(c, 0), B = cpu_buf(c, 1), C = cpu_buf(c, 2);
    CpuLoop li, lz, lk, lj;
    LLVMValueRef i = cpu_loop_begin(c, &li, cpu_i64(c, 0), M, false);
    LLVMValueRef crow = mul(c, i, ldc);
    LLVMValueRef j = cpu_loop_begin(c, &lz, c->lo, c->hi, true);
    cpu_store(c, t, LLVMConstInt(t, 0, 0), C, add(c, crow, j));
    cpu_loop_end(c, &lz, NULL);
    LLVMValueRef k = cpu_loop_begin(c, &lk, cpu_i64(c, 0), K, false);
    LLVMValueRef a = cpu_load(c, t, A, add(c, mul(c, i, lda), k));
    LLVMValueRef brow = mul(c, k, ldb);
    j = cpu_loop_begin(c, &lj, c->lo, c->hi, true);
    LLVMValueRef ci = add(c, crow, j);
    LLVMValueRef nv = LLVMBuildAdd(c->b, cpu_load(c, t, C, ci),
                                   LLVMBuildMul(c->b, a, cpu_load(c, t, B, add(c, brow, j)), ""), "");
    cpu_store(c, t, nv, C, ci);
    cpu_loop_end(c, &lj, NULL);
    cpu_loop_end(c, &lk, NULL);
    cpu_loop_end(c, &li, NULL);
    cpu_fn_end(c);
}

void cpu_cg_matmul(CpuCg *c, IrDType dt, bool ta, bool tb, const char *name) {
    if (dt == DT_I32 && !ta && !tb)
        build_imatmul(c, name);
    else
        build_sgemm(c, ta, tb, name);
}
