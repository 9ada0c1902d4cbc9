/* matmul.c — the matmul kernel, generated as LLVM IR: C[M, N] = A[M, K] @ B[K, N] for one
 * batch (the host walks the broadcast batch dims and hands each batch's pointers in).
 *
 * f32 follows the BLIS structure, with block sizes for this machine's caches:
 *
 *   for jc in N by NC:                 B block (KC x NC, ~768 KiB) stays in L2
 *     for pc in K by KC:  pack B[pc.., jc..] into NR-wide panels (zero-padded; B stored
 *                         along k: here; stored along N: by the first ir pass, below)
 *       for ic in rows by MC:  pack A[ic.., pc..] into MR-tall panels (zero-padded),
 *                              on the first jc only when all of A fits A_ALL floats
 *         for ir in MC by MR:          A micro-panel (MR x KC, 8 KiB) stays in L1
 *           for jr in NC by NR:  micro-kernel: an MR x NR tile of C in registers
 *
 * The micro-kernel keeps MR x NR/W vector accumulators (W = 16 lanes with AVX-512:
 * 8 x 48, 24 zmm registers, plus 3 for B and one broadcast of A); each k step is
 * NR/W vector loads of B, MR broadcasts of A and MR*NR/W FMAs, one FMA a cycle on Zen 4
 * (it issues a 512-bit FMA as two 256-bit halves). It prefetches its C tile before the
 * k loop. Edge tiles compute the full tile on zero padding and store only the valid part.
 *
 * B stored [K, N] (the weights of x @ w) is packed by the micro-kernel itself on the
 * first A panel of each block: it loads B's rows from the operand, stores them into the
 * packed panel and uses them. The weights come from memory (a model's 340 MB do not stay
 * in the L3 from one call to the next); as a pass of its own, packing waited on those
 * loads (11-13 % of GPT-2's matmul time), while inside the k loop their latency hides
 * behind the FMAs.
 *
 * Packing is vector code, one routine for both operands: an operand stored along the
 * panel's width (B, A^T) is copied a vector at a time with masked loads (the mask also
 * zero-pads the last panel); one stored along k (A, B^T) goes through registers in
 * T x T tiles (log2 T rounds of shuffles). Scalar loops only fill edges.
 *
 * Decisions a newcomer may question:
 *   - The parallel range is columns of C: each call (one thread's share) packs only its
 *     own columns of B, the big operand for transformer shapes (M = B*T rows, N up to
 *     the vocabulary), and packs the small A once (or per column block when A is over
 *     A_ALL floats, 4 MiB). No packed data is shared, so threads need no barrier.
 *   - Packing goes into a scratch buffer the caller passes (the thread pool keeps one
 *     per thread: no allocation and no page faults per call); without one (ahead of
 *     time) the kernel allocates its own, so it stays self-contained.
 *   - KC = 256 and NC = 16 panels were the best of KC 256/384/512 x NC 8/16 panels
 *     on the GPT-2 shapes (Zen 4: 32 KiB L1d, 1 MiB L2 per core).
 *   - i32 matmul (not produced by the frontend) keeps the plain i-k-j loop.
 */
#include "cpu_cg.h"

enum { KC = 256, NC_PANELS = 16, A_ALL = 1 << 20 };
/* the most a call packs (NR is at most 48) fits the scratch the pool hands out */
_Static_assert(KC * (NC_PANELS * 48 + 48) + A_ALL + 32 <= CPU_MM_SCRATCH_FLOATS,
               "matmul packing outgrew CPU_MM_SCRATCH_FLOATS (cpu_cg.h)");

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

static LLVMValueRef fptr(CpuCg *c, LLVMValueRef base, LLVMValueRef idx) {
    return LLVMBuildGEP2(c->b, c->f32, base, &idx, 1, "");
}

static LLVMValueRef vload(CpuCg *c, LLVMTypeRef vt, LLVMValueRef base, LLVMValueRef idx) {
    LLVMValueRef l = LLVMBuildLoad2(c->b, vt, fptr(c, base, idx), "");
    LLVMSetAlignment(l, 4);
    return l;
}

static void vstore(CpuCg *c, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx) {
    LLVMSetAlignment(LLVMBuildStore(c->b, v, fptr(c, base, idx)), 4);
}

/* Lanes [0, n) that are below `count` (an i64; <= 0: none). */
static LLVMValueRef lane_mask(CpuCg *c, int n, LLVMValueRef count) {
    LLVMValueRef iota[16];
    for (int i = 0; i < n; i++) iota[i] = cpu_i64(c, i);
    LLVMTypeRef vt = LLVMVectorType(c->i64, (unsigned)n);
    LLVMValueRef s = LLVMBuildInsertElement(c->b, LLVMGetUndef(vt), count, LLVMConstInt(c->i32, 0, 0), "");
    LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(c->i32, (unsigned)n)); /* splat lane 0 */
    s = LLVMBuildShuffleVector(c->b, s, LLVMGetUndef(vt), zeros, "");
    return LLVMBuildICmp(c->b, LLVMIntSLT, LLVMConstVector(iota, (unsigned)n), s, "");
}

/* n floats from base[idx], lanes at or past `count` read as 0 (and not read at all). */
static LLVMValueRef load_first(CpuCg *c, int n, LLVMValueRef base, LLVMValueRef idx, LLVMValueRef count) {
    LLVMTypeRef vt = LLVMVectorType(c->f32, (unsigned)n);
    LLVMTypeRef ov[2] = {vt, c->ptr};
    unsigned id = LLVMLookupIntrinsicID("llvm.masked.load", 16);
    LLVMValueRef f = LLVMGetIntrinsicDeclaration(c->mod, id, ov, 2);
    LLVMValueRef args[4] = {fptr(c, base, idx), LLVMConstInt(c->i32, 4, 0), lane_mask(c, n, count),
                            LLVMConstNull(vt)};
    return LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, id, ov, 2), f, args, 4, "");
}

/* Transpose n vectors of n lanes in place (n a power of two): round d swaps the
 * off-diagonal d x d blocks of every 2d x 2d block, one two-input shuffle per row. */
static void transpose_regs(CpuCg *c, LLVMValueRef *r, int n) {
    for (int d = n / 2; d >= 1; d /= 2)
        for (int i = 0; i < n; i++) {
            if (i & d) continue;
            LLVMValueRef lo[16], hi[16];
            for (int j = 0; j < n; j++) {
                lo[j] = LLVMConstInt(c->i32, (unsigned)((j & d) ? n + j - d : j), 0);
                hi[j] = LLVMConstInt(c->i32, (unsigned)((j & d) ? n + j : j + d), 0);
            }
            LLVMValueRef a = r[i], b = r[i + d];
            r[i] = LLVMBuildShuffleVector(c->b, a, b, LLVMConstVector(lo, (unsigned)n), "");
            r[i + d] = LLVMBuildShuffleVector(c->b, a, b, LLVMConstVector(hi, (unsigned)n), "");
        }
}

/* dst[t * ds + r] = src[r * ss + t] for r, t < n: an n x n tile through registers. */
static void copy_transposed(CpuCg *c, int n, LLVMValueRef src, LLVMValueRef ss, LLVMValueRef dst,
                            LLVMValueRef ds) {
    LLVMTypeRef vt = LLVMVectorType(c->f32, (unsigned)n);
    LLVMValueRef r[16];
    for (int i = 0; i < n; i++) r[i] = vload(c, vt, src, mul(c, cpu_i64(c, i), ss));
    transpose_regs(c, r, n);
    for (int i = 0; i < n; i++) vstore(c, r[i], dst, mul(c, cpu_i64(c, i), ds));
}

/* Pack kc-deep panels of R rows (of A) or R columns (of B), k-major, zero past n:
 *   dst[(r / R) * kc * R + p * R + r % R] = X(r, p)   for r < n rounded up to R, p < kc
 * where X(r, p) = src[r + p * stride] (rows_contig) or src[r * stride + p]. The four
 * operand layouts are these two: B and A^T stored [K, *] run along r; B^T and A along p. */
static void pack_rows(CpuCg *c, int R, int T, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef stride,
                      LLVMValueRef kc, LLVMValueRef n, LLVMValueRef npan) {
    /* Row by row when a panel row is whole cache lines (B: 192 bytes), so reads stream
     * along the source rows. Narrower rows (A^T: 32 bytes) go panel by panel: row by row,
     * each line would be written in halves kc * R * 4 bytes apart (8 KiB: the same L1
     * set for every panel) and be evicted between the halves. */
    bool by_panel = R * 4 < 64;
    CpuLoop l1, l2;
    LLVMValueRef p, jp;
    if (by_panel) {
        jp = cpu_loop_begin(c, &l1, cpu_i64(c, 0), npan, false);
        p = cpu_loop_begin(c, &l2, cpu_i64(c, 0), kc, false);
    } else {
        p = cpu_loop_begin(c, &l1, cpu_i64(c, 0), kc, false);
        jp = cpu_loop_begin(c, &l2, cpu_i64(c, 0), npan, false);
    }
    LLVMValueRef r0 = mul(c, jp, cpu_i64(c, R));
    LLVMValueRef d0 = add(c, mul(c, r0, kc), mul(c, p, cpu_i64(c, R)));
    for (int v = 0; v < R / T; v++) {
        LLVMValueRef rv = add(c, r0, cpu_i64(c, v * T));
        LLVMValueRef x = load_first(c, T, src, add(c, rv, mul(c, p, stride)), LLVMBuildSub(c->b, n, rv, ""));
        vstore(c, x, dst, add(c, d0, cpu_i64(c, v * T)));
    }
    cpu_loop_end(c, &l2, NULL);
    cpu_loop_end(c, &l1, NULL);
}

static void pack_tiles(CpuCg *c, int R, int T, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef stride,
                       LLVMValueRef kc, LLVMValueRef n, LLVMValueRef npan) {
    CpuLoop lj, lb, lp, lr;
    LLVMValueRef jp = cpu_loop_begin(c, &lj, cpu_i64(c, 0), npan, false);
    LLVMValueRef r0 = mul(c, jp, cpu_i64(c, R)), d0 = mul(c, r0, kc);
    /* full panels go T x T tile by tile through registers; the rest element by element */
    LLVMValueRef full = LLVMBuildICmp(c->b, LLVMIntSGE, LLVMBuildSub(c->b, n, r0, ""), cpu_i64(c, R), "");
    LLVMValueRef kc_tiles = LLVMBuildSub(c->b, kc, LLVMBuildSRem(c->b, kc, cpu_i64(c, T), ""), "");
    LLVMValueRef pv = LLVMBuildSelect(c->b, full, kc_tiles, cpu_i64(c, 0), "");
    LLVMValueRef pb = cpu_loop_begin(c, &lb, cpu_i64(c, 0), pv, false);
    for (int v = 0; v < R / T; v++) {
        LLVMValueRef rv = add(c, r0, cpu_i64(c, v * T));
        copy_transposed(c, T, fptr(c, src, add(c, mul(c, rv, stride), pb)), stride,
                        fptr(c, dst, add(c, d0, add(c, mul(c, pb, cpu_i64(c, R)), cpu_i64(c, v * T)))),
                        cpu_i64(c, R));
    }
    cpu_loop_end(c, &lb, cpu_i64(c, T));
    LLVMValueRef p = cpu_loop_begin(c, &lp, pv, kc, false);
    LLVMValueRef r = cpu_loop_begin(c, &lr, cpu_i64(c, 0), cpu_i64(c, R), false);
    LLVMValueRef in = LLVMBuildICmp(c->b, LLVMIntSLT, add(c, r0, r), n, "");
    LLVMValueRef at = LLVMBuildSelect(c->b, in, add(c, mul(c, add(c, r0, r), stride), p), cpu_i64(c, 0), "");
    LLVMValueRef x = LLVMBuildSelect(c->b, in, cpu_load(c, c->f32, src, at), LLVMConstReal(c->f32, 0), "");
    cpu_store(c, c->f32, x, dst, add(c, d0, add(c, mul(c, p, cpu_i64(c, R)), r)));
    cpu_loop_end(c, &lr, NULL);
    cpu_loop_end(c, &lp, NULL);
    cpu_loop_end(c, &lj, NULL);
}

/* pack(dst, src, stride, kc, n) with the layout above; n >= 1, kc >= 1. */
static LLVMValueRef build_pack(CpuCg *c, const char *name, int R, bool rows_contig) {
    LLVMTypeRef ps[5] = {c->ptr, c->ptr, c->i64, c->i64, c->i64};
    LLVMValueRef f = helper_begin(c, name, ps, 5);
    LLVMValueRef kc = LLVMGetParam(f, 3), n = LLVMGetParam(f, 4);
    LLVMValueRef npan = LLVMBuildSDiv(c->b, add(c, n, cpu_i64(c, R - 1)), cpu_i64(c, R), "");
    int T = R < c->vec ? R : c->vec; /* vector width of the copies; divides R */
    if (rows_contig)
        pack_rows(c, R, T, LLVMGetParam(f, 0), LLVMGetParam(f, 1), LLVMGetParam(f, 2), kc, n, npan);
    else
        pack_tiles(c, R, T, LLVMGetParam(f, 0), LLVMGetParam(f, 1), LLVMGetParam(f, 2), kc, n, npan);
    LLVMBuildRetVoid(c->b);
    return f;
}

/* C[MR x NR tile] (+)= Ap panel x Bp panel over kc; only mr x nr of it is stored.
 * With pack_b, two more params (Bs, ldb): B is read from the operand itself, row k of the
 * panel at Bs[k * ldb] (zero past nr), and each row is also stored into Bp, so the first
 * A panel of a block packs B as it goes and the others read the packed panel. */
static LLVMValueRef build_micro(CpuCg *c, const char *name, int MR, int NR, bool pack_b) {
    int W = c->vec, NV = NR / W;
    LLVMTypeRef ps[10] = {c->ptr, c->ptr, c->ptr, c->i64, c->i64, c->i64, c->i64, c->i64, c->ptr, c->i64};
    LLVMValueRef f = helper_begin(c, name, ps, pack_b ? 10 : 8);
    LLVMValueRef Ap = LLVMGetParam(f, 0), Bp = LLVMGetParam(f, 1), C = LLVMGetParam(f, 2);
    LLVMValueRef ldc = LLVMGetParam(f, 3), kc = LLVMGetParam(f, 4), mr = LLVMGetParam(f, 5);
    LLVMValueRef nr = LLVMGetParam(f, 6), accum = LLVMGetParam(f, 7);
    LLVMValueRef Bs = pack_b ? LLVMGetParam(f, 8) : NULL, ldb = pack_b ? LLVMGetParam(f, 9) : NULL;
    LLVMTypeRef vt = LLVMVectorType(c->f32, (unsigned)W);
    LLVMValueRef acc[16][4];
    LLVMValueRef zero = LLVMConstNull(vt);
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++) {
            acc[i][v] = LLVMBuildAlloca(c->b, vt, "acc");
            LLVMBuildStore(c->b, zero, acc[i][v]);
        }
    LLVMValueRef tile = LLVMBuildArrayAlloca(c->b, c->f32, cpu_i64(c, MR * NR), "tile");
    /* the C tile is read after the k loop: fetch it now, behind the FMAs */
    for (int i = 0; i < MR; i++)
        for (int l = 0; l < NR * 4; l += 64) {
            LLVMValueRef args[4] = {fptr(c, C, add(c, mul(c, cpu_i64(c, i), ldc), cpu_i64(c, l / 4))),
                                    LLVMConstInt(c->i32, 1, 0), LLVMConstInt(c->i32, 3, 0),
                                    LLVMConstInt(c->i32, 1, 0)};
            cpu_intrinsic(c, "llvm.prefetch", c->ptr, args, 4);
        }
    LLVMValueRef undef = LLVMGetUndef(vt);
    LLVMValueRef zmask = LLVMConstNull(LLVMVectorType(c->i32, (unsigned)W));
    CpuLoop lk;
    LLVMValueRef k = cpu_loop_begin(c, &lk, cpu_i64(c, 0), kc, false);
    LLVMValueRef bv[4];
    for (int v = 0; v < NV; v++) {
        LLVMValueRef idx = add(c, mul(c, k, cpu_i64(c, NR)), cpu_i64(c, v * W));
        if (pack_b) { /* the load's latency hides behind the FMAs of the k steps before */
            LLVMValueRef at = add(c, mul(c, k, ldb), cpu_i64(c, v * W));
            bv[v] = load_first(c, W, Bs, at, LLVMBuildSub(c->b, nr, cpu_i64(c, v * W), ""));
            vstore(c, bv[v], Bp, idx);
            continue;
        }
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

/* A buffer of `floats` f32, 64-byte aligned (aligned_alloc wants a multiple of 64). */
static LLVMValueRef alloc_floats(CpuCg *c, LLVMValueRef floats) {
    LLVMTypeRef ft, aps[2] = {c->i64, c->i64};
    LLVMValueRef alloc = libc_fn(c, "aligned_alloc", c->ptr, aps, 2, &ft);
    LLVMValueRef bytes = add(c, mul(c, floats, cpu_i64(c, 4)), cpu_i64(c, 63));
    LLVMValueRef args[2] = {cpu_i64(c, 64), LLVMBuildAnd(c->b, bytes, cpu_i64(c, -64), "")};
    return call(c, alloc, args, 2);
}

static LLVMValueRef at(CpuCg *c, LLVMValueRef base, LLVMValueRef idx) { return fptr(c, base, idx); }

/* `scratch` when `own` is false, else a buffer of `floats` allocated here. */
static LLVMValueRef scratch_or_alloc(CpuCg *c, LLVMValueRef own, LLVMValueRef scratch, LLVMValueRef floats) {
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(c->b);
    LLVMBasicBlockRef get = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "alloc");
    LLVMBasicBlockRef have = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "have");
    LLVMBuildCondBr(c->b, own, get, have);
    LLVMPositionBuilderAtEnd(c->b, get);
    LLVMValueRef mem = alloc_floats(c, floats);
    LLVMBuildBr(c->b, have);
    LLVMPositionBuilderAtEnd(c->b, have);
    LLVMValueRef phi = LLVMBuildPhi(c->b, c->ptr, "buf");
    LLVMValueRef vals[2] = {scratch, mem};
    LLVMBasicBlockRef from[2] = {pre, get};
    LLVMAddIncoming(phi, vals, from, 2);
    return phi;
}

static LLVMValueRef round16(CpuCg *c, LLVMValueRef n) {
    return LLVMBuildAnd(c->b, add(c, n, cpu_i64(c, 15)), cpu_i64(c, -16), "");
}

/* n rounded up to a multiple of r */
static LLVMValueRef round_up(CpuCg *c, LLVMValueRef n, int r) {
    return mul(c, LLVMBuildSDiv(c->b, add(c, n, cpu_i64(c, r - 1)), cpu_i64(c, r), ""), cpu_i64(c, r));
}

static void build_sgemm(CpuCg *c, bool ta, bool tb, const char *name) {
    int W = c->vec;
    int MR = W >= 16 ? 8 : 4, NR = 3 * W, NC = NR * NC_PANELS, MC = MR * 16;
    char nm[64];
    snprintf(nm, sizeof nm, "%s_packb", name);
    LLVMValueRef packb = tb ? build_pack(c, nm, NR, false) : NULL;
    snprintf(nm, sizeof nm, "%s_packa", name);
    LLVMValueRef packa = build_pack(c, nm, MR, ta);
    snprintf(nm, sizeof nm, "%s_micro", name);
    LLVMValueRef micro = build_micro(c, nm, MR, NR, false);
    snprintf(nm, sizeof nm, "%s_micro_packb", name);
    LLVMValueRef micro_packb = tb ? NULL : build_micro(c, nm, MR, NR, true);

    cpu_fn_begin(c, name);
    LLVMValueRef M = cpu_param(c, 0), K = cpu_param(c, 2);
    LLVMValueRef lda = cpu_param(c, 3), ldb = cpu_param(c, 4), ldc = cpu_param(c, 5);
    LLVMValueRef A = cpu_buf(c, 0), B = cpu_buf(c, 1), C = cpu_buf(c, 2);
    LLVMTypeRef ft;
    LLVMValueRef freef = libc_fn(c, "free", c->voidt, &c->ptr, 1, &ft);
    /* Packing buffers sized for this call (small matmuls must not pay for big blocks).
     * When all of A packed fits A_ALL floats, it is packed once, on the first column
     * block, and reused by the others (else each column block repacks its rows). */
    LLVMValueRef kcap = imin(c, K, cpu_i64(c, KC)), mpad = round_up(c, M, MR);
    LLVMValueRef cols = LLVMBuildSub(c->b, c->hi, c->lo, "");
    LLVMValueRef ncap = add(c, imin(c, cols, cpu_i64(c, NC)), cpu_i64(c, NR));
    LLVMValueRef a_all = LLVMBuildICmp(c->b, LLVMIntSLE, mul(c, mpad, K), cpu_i64(c, A_ALL), "");
    LLVMValueRef a_block = mul(c, kcap, add(c, imin(c, M, cpu_i64(c, MC)), cpu_i64(c, MR)));
    LLVMValueRef afloats = LLVMBuildSelect(c->b, a_all, mul(c, mpad, K), a_block, "");
    /* B's block then A, each 64-byte aligned, in the caller's scratch when it is big
     * enough (the pool keeps one per thread), else in a buffer of this call's own */
    LLVMValueRef bfloats = round16(c, mul(c, kcap, ncap));
    LLVMValueRef need = add(c, bfloats, round16(c, afloats));
    LLVMValueRef own = LLVMBuildICmp(c->b, LLVMIntSLT, cpu_param(c, 6), need, "");
    LLVMValueRef Bp = scratch_or_alloc(c, own, cpu_buf(c, 3), need);
    LLVMValueRef Ap = at(c, Bp, bfloats);
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
    /* B(pc, jc): B[pc * ldb + jc], or B[jc * ldb + pc] when stored transposed */
    LLVMValueRef boff = tb ? add(c, mul(c, jc, ldb), pc) : add(c, mul(c, pc, ldb), jc);
    LLVMValueRef Bsrc = at(c, B, boff);
    if (tb) { /* B stored along k: packed first, 16 x 16 tiles through registers */
        LLVMValueRef pbargs[5] = {Bp, Bsrc, ldb, kc, nc};
        call(c, packb, pbargs, 5);
    }
    LLVMValueRef accum = LLVMBuildZExt(c->b, LLVMBuildICmp(c->b, LLVMIntSGT, pc, cpu_i64(c, 0), ""), c->i64, "");
    LLVMValueRef ic = cpu_loop_begin(c, &lic, cpu_i64(c, 0), M, false);
    LLVMValueRef mc = imin(c, cpu_i64(c, MC), LLVMBuildSub(c->b, M, ic, ""));
    /* all of A packed: block (pc, ic) at pc * mpad + ic * kc; else one block at 0 */
    LLVMValueRef apos = add(c, mul(c, pc, mpad), mul(c, ic, kc));
    apos = LLVMBuildSelect(c->b, a_all, apos, cpu_i64(c, 0), "");
    LLVMValueRef Apc = at(c, Ap, apos);
    LLVMValueRef repack = LLVMBuildOr(c->b, LLVMBuildNot(c->b, a_all, ""),
                                      LLVMBuildICmp(c->b, LLVMIntEQ, jc, c->lo, ""), "");
    LLVMBasicBlockRef bpack = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "packa");
    LLVMBasicBlockRef bpacked = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "packed");
    LLVMBuildCondBr(c->b, repack, bpack, bpacked);
    LLVMPositionBuilderAtEnd(c->b, bpack);
    LLVMValueRef aoff = ta ? add(c, mul(c, pc, lda), ic) : add(c, mul(c, ic, lda), pc);
    LLVMValueRef paargs[5] = {Apc, at(c, A, aoff), lda, kc, mc};
    call(c, packa, paargs, 5);
    LLVMBuildBr(c->b, bpacked);
    LLVMPositionBuilderAtEnd(c->b, bpacked);
    LLVMValueRef ir = cpu_loop_begin(c, &lir, cpu_i64(c, 0), mc, false);
    LLVMValueRef mr = imin(c, cpu_i64(c, MR), LLVMBuildSub(c->b, mc, ir, ""));
    LLVMValueRef apan = at(c, Apc, mul(c, ir, kc));
    LLVMValueRef jr = cpu_loop_begin(c, &ljr, cpu_i64(c, 0), nc, false);
    LLVMValueRef nr = imin(c, cpu_i64(c, NR), LLVMBuildSub(c->b, nc, jr, ""));
    LLVMValueRef bpan = at(c, Bp, mul(c, jr, kc));
    LLVMValueRef cptr = at(c, C, add(c, mul(c, add(c, ic, ir), ldc), add(c, jc, jr)));
    LLVMValueRef margs[10] = {apan, bpan, cptr, ldc, kc, mr, nr, accum, at(c, Bsrc, jr), ldb};
    if (tb) {
        call(c, micro, margs, 8);
    } else { /* B stored along the panel: the block's first A panel packs it (build_micro) */
        LLVMValueRef first = LLVMBuildAnd(c->b, LLVMBuildICmp(c->b, LLVMIntEQ, ic, cpu_i64(c, 0), ""),
                                          LLVMBuildICmp(c->b, LLVMIntEQ, ir, cpu_i64(c, 0), ""), "");
        LLVMBasicBlockRef bfirst = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "packing");
        LLVMBasicBlockRef bpacked2 = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "bpacked");
        LLVMBasicBlockRef bnext = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "micro_done");
        LLVMBuildCondBr(c->b, first, bfirst, bpacked2);
        LLVMPositionBuilderAtEnd(c->b, bfirst);
        call(c, micro_packb, margs, 10);
        LLVMBuildBr(c->b, bnext);
        LLVMPositionBuilderAtEnd(c->b, bpacked2);
        call(c, micro, margs, 8);
        LLVMBuildBr(c->b, bnext);
        LLVMPositionBuilderAtEnd(c->b, bnext);
    }
    cpu_loop_end(c, &ljr, cpu_i64(c, NR));
    cpu_loop_end(c, &lir, cpu_i64(c, MR));
    cpu_loop_end(c, &lic, cpu_i64(c, MC));
    cpu_loop_end(c, &lpc, cpu_i64(c, KC));
    cpu_loop_end(c, &ljc, cpu_i64(c, NC));
    LLVMBuildBr(c->b, fin);
    LLVMPositionBuilderAtEnd(c->b, fin);
    LLVMBasicBlockRef bfree = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "free");
    LLVMBasicBlockRef bdone = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "freed");
    LLVMBuildCondBr(c->b, own, bfree, bdone);
    LLVMPositionBuilderAtEnd(c->b, bfree);
    call(c, freef, &Bp, 1);
    LLVMBuildBr(c->b, bdone);
    LLVMPositionBuilderAtEnd(c->b, bdone);
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
