/* codegen.c — one IR value to one LLVM function, through the LLVM C API.
 *
 * Every kernel has the signature of CpuKernelFn and reads its shapes from params (layout
 * in cpu_cg.h), so a kernel depends only on the op, dtypes, ranks and attributes that
 * change its code; the key built from those dedups kernels (the 12 layers of GPT-2
 * share one kernel per op kind).
 *
 * Decisions a newcomer may question:
 *   - Elementwise kernels generate one fast inner loop per pattern of inner strides
 *     (each input either contiguous or broadcast along the last dim) plus a general
 *     strided loop; the host's strides pick one at run time. That keeps bias adds,
 *     scalar multiplies and per-row broadcasts vectorized without recompiling.
 *   - The LLVM 16 C API cannot set fast-math flags, so reductions are allowed to be
 *     reordered (and hence vectorized) with the loop hint llvm.loop.vectorize.enable,
 *     which LoopVectorize takes as permission to reassociate. f32 sums then run as many
 *     partial sums, whose rounding error is no worse than the sequential order's.
 *   - Float math is f32 throughout (the reference computes in double); conformance
 *     tolerances state how far that may drift.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/DebugInfo.h>

#include "cpu_cg.h"

/* ---- context and helpers ---- */

/* Remarks and "loop not vectorized" warnings are LLVM talking to itself: drop them. Errors
 * in generated IR are caught by the verifier before codegen. */
static void quiet_diagnostics(LLVMDiagnosticInfoRef di, void *ctx) { (void)di, (void)ctx; }

void cpu_cg_init(CpuCg *c, const char *module_name, int vec) {
    memset(c, 0, sizeof *c);
    c->vec = vec;
    c->ctx = LLVMContextCreate();
    LLVMContextSetDiagnosticHandler(c->ctx, quiet_diagnostics, NULL);
    c->mod = LLVMModuleCreateWithNameInContext(module_name, c->ctx);
    c->b = LLVMCreateBuilderInContext(c->ctx);
    c->i1 = LLVMInt1TypeInContext(c->ctx);
    c->i8 = LLVMInt8TypeInContext(c->ctx);
    c->i32 = LLVMInt32TypeInContext(c->ctx);
    c->i64 = LLVMInt64TypeInContext(c->ctx);
    c->f32 = LLVMFloatTypeInContext(c->ctx);
    c->f64 = LLVMDoubleTypeInContext(c->ctx);
    c->ptr = LLVMPointerTypeInContext(c->ctx, 0);
    c->voidt = LLVMVoidTypeInContext(c->ctx);
    LLVMTypeRef ps[4] = {c->ptr, c->ptr, c->i64, c->i64};
    c->kfn = LLVMFunctionType(c->i64, ps, 4, 0);
    c->md_loop = LLVMGetMDKindIDInContext(c->ctx, "llvm.loop", 9);
}

void cpu_cg_dispose(CpuCg *c) {
    for (int i = 0; i < c->n; i++) free(c->keys[i]);
    free(c->keys);
    free(c->names);
    LLVMDisposeBuilder(c->b);
    LLVMDisposeModule(c->mod);
    LLVMContextDispose(c->ctx);
}

static LLVMValueRef fconst_(CpuCg *c, double x) { return LLVMConstReal(c->f32, x); }

LLVMValueRef cpu_i64(CpuCg *c, int64_t x) { return LLVMConstInt(c->i64, (unsigned long long)x, 1); }

LLVMValueRef cpu_param(CpuCg *c, int i) {
    LLVMValueRef idx = cpu_i64(c, i);
    LLVMValueRef p = LLVMBuildGEP2(c->b, c->i64, c->params, &idx, 1, "");
    return LLVMBuildLoad2(c->b, c->i64, p, "");
}

LLVMValueRef cpu_buf(CpuCg *c, int i) {
    LLVMValueRef idx = cpu_i64(c, i);
    LLVMValueRef p = LLVMBuildGEP2(c->b, c->ptr, c->bufs, &idx, 1, "");
    return LLVMBuildLoad2(c->b, c->ptr, p, "");
}

LLVMValueRef cpu_load(CpuCg *c, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef idx) {
    LLVMValueRef p = LLVMBuildGEP2(c->b, t, base, &idx, 1, "");
    return LLVMBuildLoad2(c->b, t, p, "");
}

void cpu_store(CpuCg *c, LLVMTypeRef t, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx) {
    LLVMValueRef p = LLVMBuildGEP2(c->b, t, base, &idx, 1, "");
    LLVMBuildStore(c->b, v, p);
}

LLVMValueRef cpu_intrinsic(CpuCg *c, const char *name, LLVMTypeRef overload, LLVMValueRef *args,
                           int nargs) {
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMTypeRef ov[1] = {overload};
    LLVMValueRef f = LLVMGetIntrinsicDeclaration(c->mod, id, ov, overload ? 1 : 0);
    LLVMTypeRef ft = LLVMIntrinsicGetType(c->ctx, id, ov, overload ? 1 : 0);
    return LLVMBuildCall2(c->b, ft, f, args, (unsigned)nargs, "");
}

/* NaN-propagating max / min (torch.maximum's rule). llvm.maximum would say it in one
 * call, but LLVM 16's x86 backend cannot select it, so it is spelled with selects. */
static LLVMValueRef nan_minmax(CpuCg *c, bool is_max, LLVMValueRef a, LLVMValueRef b) {
    LLVMValueRef pick_a = LLVMBuildFCmp(c->b, is_max ? LLVMRealUGT : LLVMRealULT, a, b, "");
    LLVMValueRef t = LLVMBuildSelect(c->b, pick_a, a, b, "");
    return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealUNO, b, b, ""), b, t, "");
}

/* A constant of type t (f32 or i32, or a vector of them: the value in every lane). */
static LLVMValueRef splat_const(LLVMTypeRef t, LLVMValueRef scalar) {
    if (LLVMGetTypeKind(t) != LLVMVectorTypeKind) return scalar;
    unsigned n = LLVMGetVectorSize(t);
    LLVMValueRef lanes[64];
    for (unsigned i = 0; i < n; i++) lanes[i] = scalar;
    return LLVMConstVector(lanes, n);
}

/* exp(x) in f32 without a libm call, so that loops around it vectorize (the LLVM 16 C
 * API has no vector math library to map llvm.exp onto). Cephes' expf: n = round(x log2 e),
 * r = x - n ln 2 (ln 2 in two parts), exp(r) by a degree-6 polynomial on |r| <= ln2/2,
 * times 2^n built from exponent bits in two halves so that results down to the
 * subnormals and up to overflow come out right. Within 2 ulp of the true value; x is
 * clamped to [-104, 88.73] (exp is 0 below and inf above in f32); NaN stays NaN.
 * x is f32 or a vector of f32: every constant takes x's shape. */
static LLVMValueRef vexp(CpuCg *c, LLVMValueRef x) {
    LLVMTypeRef ft = LLVMTypeOf(x), it = c->i32;
    if (LLVMGetTypeKind(ft) == LLVMVectorTypeKind) it = LLVMVectorType(c->i32, LLVMGetVectorSize(ft));
#define KF(v) splat_const(ft, fconst_(c, (v)))
#define KI(v) splat_const(it, LLVMConstInt(c->i32, (v), 0))
    LLVMValueRef lo = KF(-104.0), hi = KF(88.73);
    LLVMValueRef xc = LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, x, lo, ""), lo, x, "");
    xc = LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOGT, xc, hi, ""), hi, xc, "");
    LLVMValueRef t = LLVMBuildFAdd(c->b, LLVMBuildFMul(c->b, xc, KF(1.44269504088896341), ""),
                                   KF(0.5), "");
    LLVMValueRef n = cpu_intrinsic(c, "llvm.floor", ft, &t, 1);
    LLVMValueRef r = LLVMBuildFSub(c->b, xc, LLVMBuildFMul(c->b, n, KF(0.693359375), ""), "");
    r = LLVMBuildFAdd(c->b, r, LLVMBuildFMul(c->b, n, KF(2.12194440e-4), ""), "");
    static const double k[6] = {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3,
                                4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1};
    LLVMValueRef p = KF(k[0]);
    for (int i = 1; i < 6; i++) p = LLVMBuildFAdd(c->b, LLVMBuildFMul(c->b, p, r, ""), KF(k[i]), "");
    p = LLVMBuildFMul(c->b, p, LLVMBuildFMul(c->b, r, r, ""), "");
    p = LLVMBuildFAdd(c->b, LLVMBuildFAdd(c->b, p, r, ""), KF(1.0), "");
    LLVMValueRef ni = LLVMBuildFPToSI(c->b, n, it, "");
    LLVMValueRef e1 = LLVMBuildAShr(c->b, ni, KI(1), "");
    LLVMValueRef e2 = LLVMBuildSub(c->b, ni, e1, "");
    LLVMValueRef bias = KI(127), sh = KI(23);
    LLVMValueRef s1 = LLVMBuildBitCast(c->b, LLVMBuildShl(c->b, LLVMBuildAdd(c->b, e1, bias, ""), sh, ""), ft, "");
    LLVMValueRef s2 = LLVMBuildBitCast(c->b, LLVMBuildShl(c->b, LLVMBuildAdd(c->b, e2, bias, ""), sh, ""), ft, "");
    LLVMValueRef res = LLVMBuildFMul(c->b, LLVMBuildFMul(c->b, p, s1, ""), s2, "");
    return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealUNO, x, x, ""), x, res, "");
#undef KF
#undef KI
}

LLVMValueRef cpu_exp(CpuCg *c, LLVMValueRef x) { return vexp(c, x); }
LLVMValueRef cpu_nanmax(CpuCg *c, LLVMValueRef a, LLVMValueRef b) { return nan_minmax(c, true, a, b); }

/* tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|); for |x| < 0.125 the series
 * x - x^3/3 + 2x^5/15 - 17x^7/315 (truncation below 1e-9 relative), which avoids the
 * cancellation in 1 - e near 0. */
static LLVMValueRef vtanh(CpuCg *c, LLVMValueRef x) {
    LLVMValueRef ax = cpu_intrinsic(c, "llvm.fabs", c->f32, &x, 1);
    LLVMValueRef e = vexp(c, LLVMBuildFMul(c->b, ax, fconst_(c, -2.0), ""));
    LLVMValueRef one = fconst_(c, 1.0);
    LLVMValueRef t = LLVMBuildFDiv(c->b, LLVMBuildFSub(c->b, one, e, ""), LLVMBuildFAdd(c->b, one, e, ""), "");
    LLVMValueRef args[2] = {t, x};
    t = cpu_intrinsic(c, "llvm.copysign", c->f32, args, 2);
    LLVMValueRef x2 = LLVMBuildFMul(c->b, x, x, "");
    LLVMValueRef q = fconst_(c, -17.0 / 315.0);
    q = LLVMBuildFAdd(c->b, LLVMBuildFMul(c->b, q, x2, ""), fconst_(c, 2.0 / 15.0), "");
    q = LLVMBuildFAdd(c->b, LLVMBuildFMul(c->b, q, x2, ""), fconst_(c, -1.0 / 3.0), "");
    q = LLVMBuildFMul(c->b, LLVMBuildFMul(c->b, q, x2, ""), x, "");
    q = LLVMBuildFAdd(c->b, q, x, "");
    LLVMValueRef small = LLVMBuildFCmp(c->b, LLVMRealOLT, ax, fconst_(c, 0.125), "");
    return LLVMBuildSelect(c->b, small, q, t, "");
}

LLVMValueRef cpu_loop_begin(CpuCg *c, CpuLoop *l, LLVMValueRef lo, LLVMValueRef hi,
                            bool vectorize) {
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(c->b);
    l->head = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "head");
    l->body = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "body");
    l->exit = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "exit");
    l->vectorize = vectorize;
    LLVMBuildBr(c->b, l->head);
    LLVMPositionBuilderAtEnd(c->b, l->head);
    l->phi = LLVMBuildPhi(c->b, c->i64, "i");
    LLVMAddIncoming(l->phi, &lo, &pre, 1);
    LLVMValueRef cond = LLVMBuildICmp(c->b, LLVMIntSLT, l->phi, hi, "");
    LLVMBuildCondBr(c->b, cond, l->body, l->exit);
    LLVMPositionBuilderAtEnd(c->b, l->body);
    l->iv = l->phi;
    return l->iv;
}

void cpu_loop_end(CpuCg *c, CpuLoop *l, LLVMValueRef step) {
    LLVMValueRef next = LLVMBuildAdd(c->b, l->iv, step ? step : cpu_i64(c, 1), "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->b);
    LLVMValueRef br = LLVMBuildBr(c->b, l->head);
    LLVMAddIncoming(l->phi, &next, &latch, 1);
    if (l->vectorize) {
        /* !llvm.loop !{self, !{"llvm.loop.vectorize.enable", i1 true}} */
        LLVMMetadataRef tmp = LLVMTemporaryMDNode(c->ctx, NULL, 0);
        LLVMMetadataRef s = LLVMMDStringInContext2(c->ctx, "llvm.loop.vectorize.enable", 26);
        LLVMMetadataRef t = LLVMValueAsMetadata(LLVMConstInt(c->i1, 1, 0));
        LLVMMetadataRef hint_ops[2] = {s, t};
        LLVMMetadataRef hint = LLVMMDNodeInContext2(c->ctx, hint_ops, 2);
        LLVMMetadataRef ops[2] = {tmp, hint};
        LLVMMetadataRef node = LLVMMDNodeInContext2(c->ctx, ops, 2);
        LLVMMetadataReplaceAllUsesWith(tmp, node);
        LLVMSetMetadata(br, c->md_loop, LLVMMetadataAsValue(c->ctx, node));
    }
    LLVMPositionBuilderAtEnd(c->b, l->exit);
}

void cpu_fn_begin(CpuCg *c, const char *name) {
    c->fn = LLVMAddFunction(c->mod, name, c->kfn);
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    LLVMAddAttributeAtIndex(c->fn, 1, LLVMCreateEnumAttribute(c->ctx, noalias, 0));
    LLVMAddAttributeAtIndex(c->fn, 2, LLVMCreateEnumAttribute(c->ctx, noalias, 0));
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "entry");
    LLVMPositionBuilderAtEnd(c->b, entry);
    c->bufs = LLVMGetParam(c->fn, 0);
    c->params = LLVMGetParam(c->fn, 1);
    c->lo = LLVMGetParam(c->fn, 2);
    c->hi = LLVMGetParam(c->fn, 3);
    c->errslot = LLVMBuildAlloca(c->b, c->i64, "err");
    LLVMBuildStore(c->b, cpu_i64(c, 0), c->errslot);
}

void cpu_fn_end(CpuCg *c) {
    LLVMBuildRet(c->b, LLVMBuildLoad2(c->b, c->i64, c->errslot, ""));
}

static LLVMTypeRef lty(CpuCg *c, IrDType dt) { return dt == DT_I32 ? c->i32 : c->f32; }
static LLVMValueRef fconst(CpuCg *c, double x) { return LLVMConstReal(c->f32, x); }

/* Set *errslot to code when cond holds (keeps the first non-zero code). */
static void flag_error(CpuCg *c, LLVMValueRef cond, int64_t code) {
    LLVMValueRef old = LLVMBuildLoad2(c->b, c->i64, c->errslot, "");
    LLVMValueRef isz = LLVMBuildICmp(c->b, LLVMIntEQ, old, cpu_i64(c, 0), "");
    LLVMValueRef set = LLVMBuildAnd(c->b, cond, isz, "");
    LLVMBuildStore(c->b, LLVMBuildSelect(c->b, set, cpu_i64(c, code), old, ""), c->errslot);
}

/* ---- scalar ops ---- */

/* int32 power by squaring, wrapping (the helper function tfc_ipow in the module). */
static LLVMValueRef ipow(CpuCg *c, LLVMValueRef a, LLVMValueRef e) {
    LLVMValueRef f = LLVMGetNamedFunction(c->mod, "tfc_ipow");
    LLVMTypeRef ps[2] = {c->i32, c->i32};
    LLVMTypeRef ft = LLVMFunctionType(c->i32, ps, 2, 0);
    if (!f) {
        f = LLVMAddFunction(c->mod, "tfc_ipow", ft);
        LLVMSetLinkage(f, LLVMInternalLinkage);
        LLVMBuilderRef b = LLVMCreateBuilderInContext(c->ctx);
        LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(c->ctx, f, "entry");
        LLVMBasicBlockRef loop = LLVMAppendBasicBlockInContext(c->ctx, f, "loop");
        LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(c->ctx, f, "done");
        LLVMPositionBuilderAtEnd(b, entry);
        LLVMValueRef x = LLVMGetParam(f, 0), n = LLVMGetParam(f, 1);
        LLVMValueRef one = LLVMConstInt(c->i32, 1, 0), zero = LLVMConstInt(c->i32, 0, 0);
        LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSGT, n, zero, ""), loop, done);
        LLVMPositionBuilderAtEnd(b, loop);
        LLVMValueRef r = LLVMBuildPhi(b, c->i32, "r"), base = LLVMBuildPhi(b, c->i32, "b"),
                     k = LLVMBuildPhi(b, c->i32, "k");
        LLVMValueRef odd = LLVMBuildICmp(b, LLVMIntNE, LLVMBuildAnd(b, k, one, ""), zero, "");
        LLVMValueRef r2 = LLVMBuildSelect(b, odd, LLVMBuildMul(b, r, base, ""), r, "");
        LLVMValueRef b2 = LLVMBuildMul(b, base, base, "");
        LLVMValueRef k2 = LLVMBuildLShr(b, k, one, "");
        LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSGT, k2, zero, ""), loop, done);
        LLVMValueRef vr[2] = {one, r2}, vb[2] = {x, b2}, vk[2] = {n, k2};
        LLVMBasicBlockRef from[2] = {entry, loop};
        LLVMAddIncoming(r, vr, from, 2);
        LLVMAddIncoming(base, vb, from, 2);
        LLVMAddIncoming(k, vk, from, 2);
        LLVMPositionBuilderAtEnd(b, done);
        LLVMValueRef res = LLVMBuildPhi(b, c->i32, "res");
        LLVMAddIncoming(res, vr, from, 2);
        LLVMBuildRet(b, res);
        LLVMDisposeBuilder(b);
    }
    LLVMValueRef args[2] = {a, e};
    return LLVMBuildCall2(c->b, ft, f, args, 2, "");
}

static LLVMValueRef emit_unary(CpuCg *c, IrOp op, IrDType dt, LLVMValueRef x) {
    if (dt == DT_I32) {
        LLVMValueRef zero = LLVMConstInt(c->i32, 0, 0);
        switch (op) {
        case OP_NEG: return LLVMBuildSub(c->b, zero, x, "");
        case OP_RELU: return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSGT, x, zero, ""), x, zero, "");
        case OP_ABS:
            return LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, x, zero, ""),
                                   LLVMBuildSub(c->b, zero, x, ""), x, "");
        default: return NULL;
        }
    }
    LLVMValueRef one = fconst(c, 1.0);
    switch (op) {
    case OP_NEG: return LLVMBuildFNeg(c->b, x, "");
    case OP_EXP: return vexp(c, x);
    case OP_LOG: return cpu_intrinsic(c, "llvm.log", c->f32, &x, 1);
    case OP_SQRT: return cpu_intrinsic(c, "llvm.sqrt", c->f32, &x, 1);
    case OP_RSQRT: return LLVMBuildFDiv(c->b, one, cpu_intrinsic(c, "llvm.sqrt", c->f32, &x, 1), "");
    case OP_TANH: return vtanh(c, x);
    case OP_SIGMOID: {
        LLVMValueRef nx = LLVMBuildFNeg(c->b, x, "");
        LLVMValueRef e = vexp(c, nx);
        return LLVMBuildFDiv(c->b, one, LLVMBuildFAdd(c->b, one, e, ""), "");
    }
    case OP_RELU: {
        LLVMValueRef zero = fconst(c, 0.0);
        return LLVMBuildSelect(c->b, LLVMBuildFCmp(c->b, LLVMRealOGT, x, zero, ""), x, zero, "");
    }
    case OP_GELU: {
        /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
        LLVMValueRef x3 = LLVMBuildFMul(c->b, LLVMBuildFMul(c->b, x, x, ""), x, "");
        LLVMValueRef in = LLVMBuildFAdd(c->b, x, LLVMBuildFMul(c->b, fconst(c, 0.044715), x3, ""), "");
        in = LLVMBuildFMul(c->b, fconst(c, sqrt(2.0 / 3.14159265358979323846)), in, "");
        LLVMValueRef t = vtanh(c, in);
        return LLVMBuildFMul(c->b, LLVMBuildFMul(c->b, fconst(c, 0.5), x, ""),
                             LLVMBuildFAdd(c->b, one, t, ""), "");
    }
    case OP_ABS: return cpu_intrinsic(c, "llvm.fabs", c->f32, &x, 1);
    default: return NULL;
    }
}

static LLVMValueRef emit_binary(CpuCg *c, IrOp op, IrDType dt, LLVMValueRef a, LLVMValueRef b) {
    LLVMValueRef ab[2] = {a, b};
    if (dt == DT_I32) {
        LLVMValueRef zero = LLVMConstInt(c->i32, 0, 0), one = LLVMConstInt(c->i32, 1, 0);
        LLVMValueRef m1 = LLVMConstInt(c->i32, (unsigned long long)-1, 1);
        switch (op) {
        case OP_ADD: return LLVMBuildAdd(c->b, a, b, "");
        case OP_SUB: return LLVMBuildSub(c->b, a, b, "");
        case OP_MUL: return LLVMBuildMul(c->b, a, b, "");
        case OP_DIV: {
            /* x86 traps on /0 and INT_MIN/-1: divide by a safe divisor, flag /0 */
            LLVMValueRef isz = LLVMBuildICmp(c->b, LLVMIntEQ, b, zero, "");
            LLVMValueRef ism1 = LLVMBuildICmp(c->b, LLVMIntEQ, b, m1, "");
            flag_error(c, isz, 1);
            LLVMValueRef d = LLVMBuildSelect(c->b, LLVMBuildOr(c->b, isz, ism1, ""), one, b, "");
            LLVMValueRef q = LLVMBuildSDiv(c->b, a, d, "");
            return LLVMBuildSelect(c->b, ism1, LLVMBuildSub(c->b, zero, a, ""), q, "");
        }
        case OP_POW:
            flag_error(c, LLVMBuildICmp(c->b, LLVMIntSLT, b, zero, ""), 2);
            return ipow(c, a, b);
        case OP_MAXIMUM: return cpu_intrinsic(c, "llvm.smax", c->i32, ab, 2);
        case OP_MINIMUM: return cpu_intrinsic(c, "llvm.smin", c->i32, ab, 2);
        case OP_EQ: return LLVMBuildZExt(c->b, LLVMBuildICmp(c->b, LLVMIntEQ, a, b, ""), c->i32, "");
        case OP_LT: return LLVMBuildZExt(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, a, b, ""), c->i32, "");
        case OP_LE: return LLVMBuildZExt(c->b, LLVMBuildICmp(c->b, LLVMIntSLE, a, b, ""), c->i32, "");
        default: return NULL;
        }
    }
    switch (op) {
    case OP_ADD: return LLVMBuildFAdd(c->b, a, b, "");
    case OP_SUB: return LLVMBuildFSub(c->b, a, b, "");
    case OP_MUL: return LLVMBuildFMul(c->b, a, b, "");
    case OP_DIV: return LLVMBuildFDiv(c->b, a, b, "");
    case OP_POW: return cpu_intrinsic(c, "llvm.pow", c->f32, ab, 2);
    case OP_MAXIMUM: return nan_minmax(c, true, a, b);
    case OP_MINIMUM: return nan_minmax(c, false, a, b);
    case OP_EQ: return LLVMBuildUIToFP(c->b, LLVMBuildFCmp(c->b, LLVMRealOEQ, a, b, ""), c->f32, "");
    case OP_LT: return LLVMBuildUIToFP(c->b, LLVMBuildFCmp(c->b, LLVMRealOLT, a, b, ""), c->f32, "");
    case OP_LE: return LLVMBuildUIToFP(c->b, LLVMBuildFCmp(c->b, LLVMRealOLE, a, b, ""), c->f32, "");
    default: return NULL;
    }
}

static LLVMValueRef emit_cast(CpuCg *c, IrDType from, IrDType to, LLVMValueRef x) {
    if (from == to) return x;
    if (from == DT_F32 && to == DT_I32) /* saturating, NaN -> 0: ref's rule exactly */
    {
        unsigned id = LLVMLookupIntrinsicID("llvm.fptosi.sat", 15);
        LLVMTypeRef ov[2] = {c->i32, c->f32};
        LLVMValueRef f = LLVMGetIntrinsicDeclaration(c->mod, id, ov, 2);
        return LLVMBuildCall2(c->b, LLVMIntrinsicGetType(c->ctx, id, ov, 2), f, &x, 1, "");
    }
    return LLVMBuildSIToFP(c->b, x, c->f32, "");
}

/* ---- elementwise kernels ---- */

typedef struct {
    const IrValue *v;
    int R, nin;
    IrDType out, in[CPU_EW_MAX_IN];
    /* A fused kernel: its body, and the one inner-stride pattern its operand types
     * predict (bit k: operand k is contiguous along the last axis, else broadcast). */
    const IrFunc *body;
    unsigned fused_pattern;
    /* A matmul's epilogue: input 0 is the product (mm's value) and body parameter k is
     * input pmap[k] (-1: only the matmul reads it). Plain fused bodies: pmap[k] = k. */
    const IrValue *mm;
    int pmap[CPU_EW_MAX_IN];
    /* A softmax's epilogue: head is the body's softmax, whose value (each probability) is
     * x[0]; body parameter k is input k, x[k + 1] (pmap[k] = k + 1). */
    const IrValue *head;
} EwSpec;

/* The scalar result of op v on x[] (operand dtypes `in`, result dtype `out`); `flat` is
 * the element's flat index (for arange). */
static LLVMValueRef ew_compute(CpuCg *c, const IrValue *v, const IrDType *in, IrDType out,
                               LLVMValueRef *x, LLVMValueRef flat) {
    LLVMValueRef r = NULL;
    unsigned fl = ir_op_flags(v->op);
    if (v->op == OP_CONSTANT) {
        r = fconst(c, (float)v->attrs.value);
        if (out == DT_I32) {
            double d = v->attrs.value;
            int32_t iv = isnan(d) ? 0 : d >= 2147483647.0 ? INT32_MAX : d <= -2147483648.0 ? INT32_MIN : (int32_t)d;
            r = LLVMConstInt(c->i32, (unsigned long long)(int64_t)iv, 1);
        }
    } else if (v->op == OP_ARANGE) {
        r = out == DT_I32 ? LLVMBuildTrunc(c->b, flat, c->i32, "") : LLVMBuildSIToFP(c->b, flat, c->f32, "");
    } else if (v->op == OP_CAST) {
        r = emit_cast(c, in[0], out, x[0]);
    } else if (v->op == OP_WHERE) {
        LLVMValueRef cond = in[0] == DT_I32
                                ? LLVMBuildICmp(c->b, LLVMIntNE, x[0], LLVMConstInt(c->i32, 0, 0), "")
                                : LLVMBuildFCmp(c->b, LLVMRealUNE, x[0], fconst(c, 0.0), "");
        r = LLVMBuildSelect(c->b, cond, x[1], x[2], "");
    } else if (fl & F_MOVEMENT) {
        r = x[0];
    } else if (fl & F_BINARY) {
        r = emit_binary(c, v->op, in[0], x[0], x[1]);
    } else {
        r = emit_unary(c, v->op, in[0], x[0]);
    }
    return r;
}

/* A fused body evaluated on one element: x[s->pmap[k]] is parameter k's value (and x[0]
 * the matmul's or the softmax's, for an epilogue, whose transposes, matmul and softmax
 * are not computed here). For a body that ends in a reduction, the value of the
 * reduction's operand. `col` is the element's index along the iteration's last axis:
 * an arange's value (the body rule gives it that axis's length). */
static LLVMValueRef body_compute(CpuCg *c, const EwSpec *s, LLVMValueRef *x, LLVMValueRef col) {
    const IrFunc *body = s->body;
    int n = 0;
    for (const IrValue *v = body->first; v; v = v->next) n++;
    LLVMValueRef *val = calloc((size_t)n, sizeof *val), r;
    int id = 0, param = 0;
    for (const IrValue *v = body->first; v; v = v->next, id++) {
        ((IrValue *)v)->id = id;
        if (v->op == OP_INPUT) {
            int k = s->pmap[param++];
            val[id] = k >= 0 ? x[k] : NULL;
            continue;
        }
        if (v == s->mm || v == s->head) {
            val[id] = x[0];
            continue;
        }
        if (v->op == OP_TRANSPOSE) continue; /* read in place by the matmul */
        LLVMValueRef args[3];
        IrDType in[3];
        for (int i = 0; i < v->nargs; i++) args[i] = val[v->args[i]->id], in[i] = v->args[i]->type.dtype;
        if (ir_op_flags(v->op) & F_REDUCE) { /* the caller accumulates the reduction's operand */
            val[id] = args[0];
            break;
        }
        val[id] = ew_compute(c, v, in, v->type.dtype, args, col);
    }
    r = val[body->results[0]->id];
    free(val);
    return r;
}

/* One element: loads the inputs at idx[k], computes, stores at oidx. `flat` is the
 * element's flat index (a plain arange's value), `col` its index along the last axis (a
 * body's arange's). */
static void ew_element(CpuCg *c, const EwSpec *s, LLVMValueRef *inptr, LLVMValueRef *inidx,
                       LLVMValueRef outptr, LLVMValueRef oidx, LLVMValueRef flat, LLVMValueRef col) {
    LLVMValueRef x[CPU_EW_MAX_IN];
    for (int k = 0; k < s->nin; k++) x[k] = cpu_load(c, lty(c, s->in[k]), inptr[k], inidx[k]);
    /* an epilogue reads the product where it stores the result: through the output's
     * pointer and index, so LLVM sees the same address (dependence distance 0) and
     * vectorizes; through the aliasing input pointer its overlap check fails at run
     * time and the loop runs scalar (8x slower with GELU's tanh) */
    if (s->mm) x[0] = cpu_load(c, lty(c, s->in[0]), outptr, oidx);
    LLVMValueRef r = s->body ? body_compute(c, s, x, col) : ew_compute(c, s->v, s->in, s->out, x, flat);
    cpu_store(c, lty(c, s->out), r, outptr, oidx);
}

static void build_ew(CpuCg *c, const EwSpec *s, const char *name) {
    cpu_fn_begin(c, name);
    int R = s->R, nt = s->nin + 1;
    LLVMValueRef dims[IR_MAX_RANK], base[CPU_EW_MAX_IN + 1], st[CPU_EW_MAX_IN + 1][IR_MAX_RANK],
        ptr[CPU_EW_MAX_IN + 1];
    for (int d = 0; d < R; d++) dims[d] = cpu_param(c, d);
    for (int k = 0; k < nt; k++) {
        base[k] = cpu_param(c, R + k * (R + 1));
        for (int d = 0; d < R; d++) st[k][d] = cpu_param(c, R + k * (R + 1) + 1 + d);
        ptr[k] = cpu_buf(c, k);
    }
    LLVMValueRef inner = dims[R - 1];
    CpuLoop rows;
    LLVMValueRef r = cpu_loop_begin(c, &rows, c->lo, c->hi, false);
    LLVMValueRef rem = r, off[CPU_EW_MAX_IN + 1];
    for (int k = 0; k < nt; k++) off[k] = base[k];
    for (int d = R - 2; d >= 0; d--) {
        LLVMValueRef cd = LLVMBuildURem(c->b, rem, dims[d], "");
        rem = LLVMBuildUDiv(c->b, rem, dims[d], "");
        for (int k = 0; k < nt; k++)
            off[k] = LLVMBuildAdd(c->b, off[k], LLVMBuildMul(c->b, cd, st[k][d], ""), "");
    }
    LLVMValueRef flat0 = LLVMBuildMul(c->b, r, inner, "");
    /* Patterns: output inner stride 1, input k inner stride (mask>>k & 1) ? 1 : 0. A fused
     * kernel has up to CPU_EW_MAX_IN inputs, too many to enumerate: it gets the pattern
     * its types predict, then the general loop. */
    int npat = s->body ? 1 : 1 << s->nin;
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "join");
    LLVMValueRef one = cpu_i64(c, 1), zero = cpu_i64(c, 0);
    LLVMValueRef out_contig = LLVMBuildICmp(c->b, LLVMIntEQ, st[0][R - 1], one, "");
    for (int pat = 0; pat <= npat; pat++) {
        bool general = pat == npat;
        unsigned mask = s->body ? s->fused_pattern : (unsigned)pat;
        LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "pat");
        LLVMBasicBlockRef next = general ? NULL : LLVMAppendBasicBlockInContext(c->ctx, c->fn, "nextpat");
        if (general) {
            LLVMBuildBr(c->b, body);
        } else {
            LLVMValueRef cond = out_contig;
            for (int k = 0; k < s->nin; k++) {
                LLVMValueRef want = (mask >> k) & 1 ? one : zero;
                cond = LLVMBuildAnd(c->b, cond, LLVMBuildICmp(c->b, LLVMIntEQ, st[k + 1][R - 1], want, ""), "");
            }
            LLVMBuildCondBr(c->b, cond, body, next);
        }
        LLVMPositionBuilderAtEnd(c->b, body);
        CpuLoop jl;
        LLVMValueRef j = cpu_loop_begin(c, &jl, zero, inner, !general);
        LLVMValueRef idx[CPU_EW_MAX_IN], oidx;
        for (int k = 0; k < s->nin; k++) {
            if (general)
                idx[k] = LLVMBuildAdd(c->b, off[k + 1], LLVMBuildMul(c->b, j, st[k + 1][R - 1], ""), "");
            else
                idx[k] = (mask >> k) & 1 ? LLVMBuildAdd(c->b, off[k + 1], j, "") : off[k + 1];
        }
        oidx = general ? LLVMBuildAdd(c->b, off[0], LLVMBuildMul(c->b, j, st[0][R - 1], ""), "")
                       : LLVMBuildAdd(c->b, off[0], j, "");
        ew_element(c, s, ptr + 1, idx, ptr[0], oidx, LLVMBuildAdd(c->b, flat0, j, ""), j);
        cpu_loop_end(c, &jl, NULL);
        LLVMBuildBr(c->b, join);
        if (next) LLVMPositionBuilderAtEnd(c->b, next);
    }
    LLVMPositionBuilderAtEnd(c->b, join);
    cpu_loop_end(c, &rows, NULL);
    cpu_fn_end(c);
}

/* ---- reductions ---- */

static void build_reduce(CpuCg *c, IrOp op, IrDType dt, int RK, int RR, const char *name) {
    cpu_fn_begin(c, name);
    LLVMTypeRef t = lty(c, dt);
    LLVMValueRef kd[IR_MAX_RANK], ks[IR_MAX_RANK], rd[IR_MAX_RANK], rs[IR_MAX_RANK];
    for (int d = 0; d < RK; d++) kd[d] = cpu_param(c, d), ks[d] = cpu_param(c, RK + d);
    for (int d = 0; d < RR; d++) rd[d] = cpu_param(c, 2 * RK + d), rs[d] = cpu_param(c, 2 * RK + RR + d);
    LLVMValueRef count = cpu_param(c, 2 * RK + 2 * RR);
    LLVMValueRef out = cpu_buf(c, 0), in = cpu_buf(c, 1);
    LLVMValueRef rrows = cpu_i64(c, 1);
    for (int d = 0; d < RR - 1; d++) rrows = LLVMBuildMul(c->b, rrows, rd[d], "");
    LLVMValueRef acc = LLVMBuildAlloca(c->b, t, "acc");
    LLVMValueRef init = dt == DT_I32 ? LLVMConstInt(c->i32, op == OP_MAX ? (unsigned long long)INT32_MIN : 0, 1)
                                     : fconst(c, op == OP_MAX ? -INFINITY : 0.0);
    CpuLoop lr;
    LLVMValueRef r = cpu_loop_begin(c, &lr, c->lo, c->hi, false);
    LLVMValueRef rem = r, base = cpu_i64(c, 0);
    for (int d = RK - 1; d >= 0; d--) {
        LLVMValueRef cd = LLVMBuildURem(c->b, rem, kd[d], "");
        rem = LLVMBuildUDiv(c->b, rem, kd[d], "");
        base = LLVMBuildAdd(c->b, base, LLVMBuildMul(c->b, cd, ks[d], ""), "");
    }
    LLVMBuildStore(c->b, init, acc);
    CpuLoop lq;
    LLVMValueRef q = cpu_loop_begin(c, &lq, cpu_i64(c, 0), rrows, false);
    LLVMValueRef qrem = q, off = base;
    for (int d = RR - 2; d >= 0; d--) {
        LLVMValueRef cd = LLVMBuildURem(c->b, qrem, rd[d], "");
        qrem = LLVMBuildUDiv(c->b, qrem, rd[d], "");
        off = LLVMBuildAdd(c->b, off, LLVMBuildMul(c->b, cd, rs[d], ""), "");
    }
    LLVMValueRef contig = LLVMBuildICmp(c->b, LLVMIntEQ, rs[RR - 1], cpu_i64(c, 1), "");
    LLVMBasicBlockRef fast = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "fast");
    LLVMBasicBlockRef slow = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "slow");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "join");
    LLVMBuildCondBr(c->b, contig, fast, slow);
    for (int pass = 0; pass < 2; pass++) {
        LLVMPositionBuilderAtEnd(c->b, pass == 0 ? fast : slow);
        CpuLoop lj;
        LLVMValueRef j = cpu_loop_begin(c, &lj, cpu_i64(c, 0), rd[RR - 1], pass == 0);
        LLVMValueRef idx = pass == 0 ? LLVMBuildAdd(c->b, off, j, "")
                                     : LLVMBuildAdd(c->b, off, LLVMBuildMul(c->b, j, rs[RR - 1], ""), "");
        LLVMValueRef x = cpu_load(c, t, in, idx), a = LLVMBuildLoad2(c->b, t, acc, ""), n;
        LLVMValueRef ax[2] = {a, x};
        if (op == OP_MAX)
            n = dt == DT_I32 ? cpu_intrinsic(c, "llvm.smax", t, ax, 2) : nan_minmax(c, true, a, x);
        else
            n = dt == DT_I32 ? LLVMBuildAdd(c->b, a, x, "") : LLVMBuildFAdd(c->b, a, x, "");
        LLVMBuildStore(c->b, n, acc);
        cpu_loop_end(c, &lj, NULL);
        LLVMBuildBr(c->b, join);
    }
    LLVMPositionBuilderAtEnd(c->b, join);
    cpu_loop_end(c, &lq, NULL);
    LLVMValueRef res = LLVMBuildLoad2(c->b, t, acc, "");
    if (op == OP_MEAN) res = LLVMBuildFDiv(c->b, res, LLVMBuildSIToFP(c->b, count, c->f32, ""), "");
    cpu_store(c, t, res, out, r);
    cpu_loop_end(c, &lr, NULL);
    cpu_fn_end(c);
}

/* out[j] = op over i of in[i * cols + j], for j in [lo, hi), in column tiles that stay in
 * L1 while the rows stream past. */
static void build_colreduce(CpuCg *c, IrOp op, IrDType dt, const char *name) {
    cpu_fn_begin(c, name);
    LLVMTypeRef t = lty(c, dt);
    LLVMValueRef rows = cpu_param(c, 0), cols = cpu_param(c, 1), count = cpu_param(c, 2);
    LLVMValueRef out = cpu_buf(c, 0), in = cpu_buf(c, 1);
    LLVMValueRef init = dt == DT_I32 ? LLVMConstInt(c->i32, op == OP_MAX ? (unsigned long long)INT32_MIN : 0, 1)
                                     : fconst(c, op == OP_MAX ? -INFINITY : 0.0);
    const int64_t TILE = 2048;
    CpuLoop lt, lz, li, lj, lm;
    LLVMValueRef j0 = cpu_loop_begin(c, &lt, c->lo, c->hi, false);
    LLVMValueRef rest = LLVMBuildSub(c->b, c->hi, j0, "");
    LLVMValueRef j1 = LLVMBuildAdd(c->b, j0, LLVMBuildSelect(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, rest, cpu_i64(c, TILE), ""),
                                                              rest, cpu_i64(c, TILE), ""), "");
    LLVMValueRef j = cpu_loop_begin(c, &lz, j0, j1, true);
    cpu_store(c, t, init, out, j);
    cpu_loop_end(c, &lz, NULL);
    LLVMValueRef i = cpu_loop_begin(c, &li, cpu_i64(c, 0), rows, false);
    LLVMValueRef base = LLVMBuildMul(c->b, i, cols, "");
    j = cpu_loop_begin(c, &lj, j0, j1, true);
    LLVMValueRef a = cpu_load(c, t, out, j), x = cpu_load(c, t, in, LLVMBuildAdd(c->b, base, j, ""));
    LLVMValueRef ax[2] = {a, x}, n;
    if (op == OP_MAX)
        n = dt == DT_I32 ? cpu_intrinsic(c, "llvm.smax", t, ax, 2) : nan_minmax(c, true, a, x);
    else
        n = dt == DT_I32 ? LLVMBuildAdd(c->b, a, x, "") : LLVMBuildFAdd(c->b, a, x, "");
    cpu_store(c, t, n, out, j);
    cpu_loop_end(c, &lj, NULL);
    cpu_loop_end(c, &li, NULL);
    if (op == OP_MEAN) {
        LLVMValueRef fc = LLVMBuildSIToFP(c->b, count, c->f32, "");
        j = cpu_loop_begin(c, &lm, j0, j1, true);
        cpu_store(c, t, LLVMBuildFDiv(c->b, cpu_load(c, t, out, j), fc, ""), out, j);
        cpu_loop_end(c, &lm, NULL);
    }
    cpu_loop_end(c, &lt, cpu_i64(c, TILE));
    cpu_fn_end(c);
}

/* ---- softmax, layernorm, layernorm_grad, cross_entropy ---- */

/* Max (NaN-propagating) and sum of exp(x - max) over x[base + i*stride], i < len.
 * A row of -inf gets max 0, as the reference does. */
static void row_max(CpuCg *c, LLVMValueRef x, LLVMValueRef base, LLVMValueRef len,
                    LLVMValueRef stride, LLVMValueRef mxslot) {
    LLVMBuildStore(c->b, fconst(c, -INFINITY), mxslot);
    CpuLoop l;
    LLVMValueRef i = cpu_loop_begin(c, &l, cpu_i64(c, 0), len, false);
    LLVMValueRef v = cpu_load(c, c->f32, x, LLVMBuildAdd(c->b, base, LLVMBuildMul(c->b, i, stride, ""), ""));
    LLVMBuildStore(c->b, nan_minmax(c, true, LLVMBuildLoad2(c->b, c->f32, mxslot, ""), v), mxslot);
    cpu_loop_end(c, &l, NULL);
    LLVMValueRef mx = LLVMBuildLoad2(c->b, c->f32, mxslot, "");
    LLVMValueRef isninf = LLVMBuildFCmp(c->b, LLVMRealOEQ, mx, fconst(c, -INFINITY), "");
    LLVMBuildStore(c->b, LLVMBuildSelect(c->b, isninf, fconst(c, 0.0), mx, ""), mxslot);
}

static LLVMValueRef row_sumexp(CpuCg *c, LLVMValueRef x, LLVMValueRef base, LLVMValueRef len,
                               LLVMValueRef stride, LLVMValueRef mx, LLVMValueRef sumslot) {
    LLVMBuildStore(c->b, fconst(c, 0.0), sumslot);
    CpuLoop l;
    LLVMValueRef i = cpu_loop_begin(c, &l, cpu_i64(c, 0), len, true);
    LLVMValueRef v = cpu_load(c, c->f32, x, LLVMBuildAdd(c->b, base, LLVMBuildMul(c->b, i, stride, ""), ""));
    LLVMValueRef d = LLVMBuildFSub(c->b, v, mx, "");
    LLVMValueRef e = vexp(c, d);
    LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, sumslot, ""), e, ""), sumslot);
    cpu_loop_end(c, &l, NULL);
    return LLVMBuildLoad2(c->b, c->f32, sumslot, "");
}

static void build_softmax(CpuCg *c, bool log_form, const char *name) {
    cpu_fn_begin(c, name);
    LLVMValueRef len = cpu_param(c, 1), inner = cpu_param(c, 2);
    LLVMValueRef out = cpu_buf(c, 0), x = cpu_buf(c, 1);
    LLVMValueRef mxs = LLVMBuildAlloca(c->b, c->f32, "mx"), sums = LLVMBuildAlloca(c->b, c->f32, "s");
    CpuLoop lr;
    LLVMValueRef r = cpu_loop_begin(c, &lr, c->lo, c->hi, false);
    LLVMValueRef o = LLVMBuildUDiv(c->b, r, inner, ""), j = LLVMBuildURem(c->b, r, inner, "");
    LLVMValueRef base = LLVMBuildAdd(c->b, LLVMBuildMul(c->b, LLVMBuildMul(c->b, o, len, ""), inner, ""), j, "");
    row_max(c, x, base, len, inner, mxs);
    LLVMValueRef mx = LLVMBuildLoad2(c->b, c->f32, mxs, "");
    LLVMValueRef sum = row_sumexp(c, x, base, len, inner, mx, sums);
    LLVMValueRef lse = cpu_intrinsic(c, "llvm.log", c->f32, &sum, 1);
    CpuLoop l;
    LLVMValueRef i = cpu_loop_begin(c, &l, cpu_i64(c, 0), len, true);
    LLVMValueRef idx = LLVMBuildAdd(c->b, base, LLVMBuildMul(c->b, i, inner, ""), "");
    LLVMValueRef d = LLVMBuildFSub(c->b, cpu_load(c, c->f32, x, idx), mx, "");
    LLVMValueRef y = log_form ? LLVMBuildFSub(c->b, d, lse, "")
                              : LLVMBuildFDiv(c->b, vexp(c, d), sum, "");
    cpu_store(c, c->f32, y, out, idx);
    cpu_loop_end(c, &l, NULL);
    cpu_loop_end(c, &lr, NULL);
    cpu_fn_end(c);
}

/* fuse-elementwise's softmax head: per row of the output (params as CPU_K_EW's), the
 * max and sum of exponentials of input s->pmap[px] - 1 along the last axis, then one
 * loop that computes each probability and evaluates the body's epilogue on it, the other
 * inputs read at their broadcast offsets: one fast loop for the inner-stride pattern the
 * types predict, one general. The [rows, V] probabilities are never stored. */
static void build_fused_softmax(CpuCg *c, const EwSpec *s, int px, const char *name) {
    cpu_fn_begin(c, name);
    bool log_form = s->head->op == OP_LOG_SOFTMAX;
    int R = s->R, nt = s->nin + 1;
    LLVMValueRef dims[IR_MAX_RANK], base[CPU_EW_MAX_IN + 1], st[CPU_EW_MAX_IN + 1][IR_MAX_RANK],
        ptr[CPU_EW_MAX_IN + 1];
    for (int d = 0; d < R; d++) dims[d] = cpu_param(c, d);
    for (int k = 0; k < nt; k++) {
        base[k] = cpu_param(c, R + k * (R + 1));
        for (int d = 0; d < R; d++) st[k][d] = cpu_param(c, R + k * (R + 1) + 1 + d);
        ptr[k] = cpu_buf(c, k);
    }
    LLVMValueRef inner = dims[R - 1], zero = cpu_i64(c, 0), one = cpu_i64(c, 1);
    LLVMValueRef mxs = LLVMBuildAlloca(c->b, c->f32, "mx"), sums = LLVMBuildAlloca(c->b, c->f32, "s");
    CpuLoop rows;
    LLVMValueRef r = cpu_loop_begin(c, &rows, c->lo, c->hi, false);
    LLVMValueRef rem = r, off[CPU_EW_MAX_IN + 1];
    for (int k = 0; k < nt; k++) off[k] = base[k];
    for (int d = R - 2; d >= 0; d--) {
        LLVMValueRef cd = LLVMBuildURem(c->b, rem, dims[d], "");
        rem = LLVMBuildUDiv(c->b, rem, dims[d], "");
        for (int k = 0; k < nt; k++)
            off[k] = LLVMBuildAdd(c->b, off[k], LLVMBuildMul(c->b, cd, st[k][d], ""), "");
    }
    int xt = px + 1; /* the softmax operand's tensor */
    row_max(c, ptr[xt], off[xt], inner, st[xt][R - 1], mxs);
    LLVMValueRef mx = LLVMBuildLoad2(c->b, c->f32, mxs, "");
    LLVMValueRef sum = row_sumexp(c, ptr[xt], off[xt], inner, st[xt][R - 1], mx, sums);
    LLVMValueRef lse = cpu_intrinsic(c, "llvm.log", c->f32, &sum, 1);
    LLVMValueRef fast_ok = LLVMBuildICmp(c->b, LLVMIntEQ, st[0][R - 1], one, "");
    for (int k = 0; k < s->nin; k++)
        fast_ok = LLVMBuildAnd(c->b, fast_ok, LLVMBuildICmp(c->b, LLVMIntEQ, st[k + 1][R - 1],
                                                           (s->fused_pattern >> k) & 1 ? one : zero, ""), "");
    LLVMBasicBlockRef fast = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "fast");
    LLVMBasicBlockRef slow = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "slow");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "join");
    LLVMBuildCondBr(c->b, fast_ok, fast, slow);
    for (int pass = 0; pass < 2; pass++) {
        LLVMPositionBuilderAtEnd(c->b, pass == 0 ? fast : slow);
        CpuLoop lj;
        LLVMValueRef j = cpu_loop_begin(c, &lj, zero, inner, pass == 0), x[CPU_EW_MAX_IN + 1];
        LLVMValueRef idx[CPU_EW_MAX_IN + 1];
        for (int k = 0; k < nt; k++) {
            bool contig = k == 0 || ((s->fused_pattern >> (k - 1)) & 1);
            idx[k] = pass == 1 ? LLVMBuildAdd(c->b, off[k], LLVMBuildMul(c->b, j, st[k][R - 1], ""), "")
                     : contig  ? LLVMBuildAdd(c->b, off[k], j, "")
                               : off[k];
            if (k > 0) x[k] = cpu_load(c, lty(c, s->in[k - 1]), ptr[k], idx[k]);
        }
        LLVMValueRef d = LLVMBuildFSub(c->b, x[xt], mx, "");
        x[0] = log_form ? LLVMBuildFSub(c->b, d, lse, "") : LLVMBuildFDiv(c->b, vexp(c, d), sum, "");
        cpu_store(c, lty(c, s->out), body_compute(c, s, x, j), ptr[0], idx[0]);
        cpu_loop_end(c, &lj, NULL);
        LLVMBuildBr(c->b, join);
    }
    LLVMPositionBuilderAtEnd(c->b, join);
    cpu_loop_end(c, &rows, NULL);
    cpu_fn_end(c);
}

static void build_layernorm(CpuCg *c, double eps, const char *name) {
    cpu_fn_begin(c, name);
    LLVMValueRef C = cpu_param(c, 0);
    LLVMValueRef out = cpu_buf(c, 0), x = cpu_buf(c, 1), g = cpu_buf(c, 2), bb = cpu_buf(c, 3);
    LLVMValueRef s1 = LLVMBuildAlloca(c->b, c->f32, "s1"), s2 = LLVMBuildAlloca(c->b, c->f32, "s2");
    LLVMValueRef fc = LLVMBuildSIToFP(c->b, C, c->f32, "");
    CpuLoop lr;
    LLVMValueRef r = cpu_loop_begin(c, &lr, c->lo, c->hi, false);
    LLVMValueRef base = LLVMBuildMul(c->b, r, C, "");
    LLVMBuildStore(c->b, fconst(c, 0.0), s1);
    CpuLoop l1;
    LLVMValueRef i = cpu_loop_begin(c, &l1, cpu_i64(c, 0), C, true);
    LLVMValueRef v = cpu_load(c, c->f32, x, LLVMBuildAdd(c->b, base, i, ""));
    LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, s1, ""), v, ""), s1);
    cpu_loop_end(c, &l1, NULL);
    LLVMValueRef mean = LLVMBuildFDiv(c->b, LLVMBuildLoad2(c->b, c->f32, s1, ""), fc, "");
    LLVMBuildStore(c->b, fconst(c, 0.0), s2);
    CpuLoop l2;
    i = cpu_loop_begin(c, &l2, cpu_i64(c, 0), C, true);
    v = LLVMBuildFSub(c->b, cpu_load(c, c->f32, x, LLVMBuildAdd(c->b, base, i, "")), mean, "");
    LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, s2, ""), LLVMBuildFMul(c->b, v, v, ""), ""), s2);
    cpu_loop_end(c, &l2, NULL);
    LLVMValueRef var = LLVMBuildFDiv(c->b, LLVMBuildLoad2(c->b, c->f32, s2, ""), fc, "");
    LLVMValueRef ve = LLVMBuildFAdd(c->b, var, fconst(c, eps), "");
    LLVMValueRef rstd = LLVMBuildFDiv(c->b, fconst(c, 1.0), cpu_intrinsic(c, "llvm.sqrt", c->f32, &ve, 1), "");
    CpuLoop l3;
    i = cpu_loop_begin(c, &l3, cpu_i64(c, 0), C, true);
    LLVMValueRef idx = LLVMBuildAdd(c->b, base, i, "");
    v = LLVMBuildFMul(c->b, LLVMBuildFSub(c->b, cpu_load(c, c->f32, x, idx), mean, ""), rstd, "");
    v = LLVMBuildFAdd(c->b, LLVMBuildFMul(c->b, v, cpu_load(c, c->f32, g, i), ""), cpu_load(c, c->f32, bb, i), "");
    cpu_store(c, c->f32, v, out, idx);
    cpu_loop_end(c, &l3, NULL);
    cpu_loop_end(c, &lr, NULL);
    cpu_fn_end(c);
}

/* d x of layernorm, per row of C: pass 1 sums x and dxhat = dy g, pass 2 sums (x - mean)^2
 * and dxhat (x - mean), pass 3 writes rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat));
 * xhat is recomputed, never stored. */
static void build_layernorm_grad(CpuCg *c, double eps, const char *name) {
    cpu_fn_begin(c, name);
    LLVMValueRef C = cpu_param(c, 0);
    LLVMValueRef out = cpu_buf(c, 0), x = cpu_buf(c, 1), g = cpu_buf(c, 2), dy = cpu_buf(c, 3);
    LLVMValueRef sx = LLVMBuildAlloca(c->b, c->f32, "sx"), sd = LLVMBuildAlloca(c->b, c->f32, "sd");
    LLVMValueRef sv = LLVMBuildAlloca(c->b, c->f32, "sv"), sdx = LLVMBuildAlloca(c->b, c->f32, "sdx");
    LLVMValueRef fc = LLVMBuildSIToFP(c->b, C, c->f32, "");
    CpuLoop lr;
    LLVMValueRef r = cpu_loop_begin(c, &lr, c->lo, c->hi, false);
    LLVMValueRef base = LLVMBuildMul(c->b, r, C, "");
    LLVMBuildStore(c->b, fconst(c, 0.0), sx);
    LLVMBuildStore(c->b, fconst(c, 0.0), sd);
    CpuLoop l1;
    LLVMValueRef i = cpu_loop_begin(c, &l1, cpu_i64(c, 0), C, true);
    LLVMValueRef idx = LLVMBuildAdd(c->b, base, i, "");
    LLVMValueRef xv = cpu_load(c, c->f32, x, idx);
    LLVMValueRef dxh = LLVMBuildFMul(c->b, cpu_load(c, c->f32, dy, idx), cpu_load(c, c->f32, g, i), "");
    LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, sx, ""), xv, ""), sx);
    LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, sd, ""), dxh, ""), sd);
    cpu_loop_end(c, &l1, NULL);
    LLVMValueRef mean = LLVMBuildFDiv(c->b, LLVMBuildLoad2(c->b, c->f32, sx, ""), fc, "");
    LLVMValueRef m1 = LLVMBuildFDiv(c->b, LLVMBuildLoad2(c->b, c->f32, sd, ""), fc, "");
    LLVMBuildStore(c->b, fconst(c, 0.0), sv);
    LLVMBuildStore(c->b, fconst(c, 0.0), sdx);
    CpuLoop l2;
    i = cpu_loop_begin(c, &l2, cpu_i64(c, 0), C, true);
    idx = LLVMBuildAdd(c->b, base, i, "");
    LLVMValueRef xc = LLVMBuildFSub(c->b, cpu_load(c, c->f32, x, idx), mean, "");
    dxh = LLVMBuildFMul(c->b, cpu_load(c, c->f32, dy, idx), cpu_load(c, c->f32, g, i), "");
    LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, sv, ""), LLVMBuildFMul(c->b, xc, xc, ""), ""), sv);
    LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f32, sdx, ""), LLVMBuildFMul(c->b, dxh, xc, ""), ""), sdx);
    cpu_loop_end(c, &l2, NULL);
    LLVMValueRef var = LLVMBuildFDiv(c->b, LLVMBuildLoad2(c->b, c->f32, sv, ""), fc, "");
    LLVMValueRef ve = LLVMBuildFAdd(c->b, var, fconst(c, eps), "");
    LLVMValueRef rstd = LLVMBuildFDiv(c->b, fconst(c, 1.0), cpu_intrinsic(c, "llvm.sqrt", c->f32, &ve, 1), "");
    /* mean(dxhat xhat) = rstd mean(dxhat (x - mean)); k = rstd * that, so xhat m2 = xc rstd k */
    LLVMValueRef m2 = LLVMBuildFMul(c->b, LLVMBuildFDiv(c->b, LLVMBuildLoad2(c->b, c->f32, sdx, ""), fc, ""), rstd, "");
    LLVMValueRef k = LLVMBuildFMul(c->b, m2, rstd, "");
    CpuLoop l3;
    i = cpu_loop_begin(c, &l3, cpu_i64(c, 0), C, true);
    idx = LLVMBuildAdd(c->b, base, i, "");
    xc = LLVMBuildFSub(c->b, cpu_load(c, c->f32, x, idx), mean, "");
    dxh = LLVMBuildFMul(c->b, cpu_load(c, c->f32, dy, idx), cpu_load(c, c->f32, g, i), "");
    LLVMValueRef v = LLVMBuildFSub(c->b, LLVMBuildFSub(c->b, dxh, m1, ""), LLVMBuildFMul(c->b, xc, k, ""), "");
    cpu_store(c, c->f32, LLVMBuildFMul(c->b, v, rstd, ""), out, idx);
    cpu_loop_end(c, &l3, NULL);
    cpu_loop_end(c, &lr, NULL);
    cpu_fn_end(c);
}

static void build_xent(CpuCg *c, const char *name) {
    cpu_fn_begin(c, name);
    LLVMValueRef V = cpu_param(c, 0), npos = cpu_param(c, 1);
    LLVMValueRef out = cpu_buf(c, 0), x = cpu_buf(c, 1), tg = cpu_buf(c, 2);
    LLVMValueRef mxs = LLVMBuildAlloca(c->b, c->f32, "mx"), sums = LLVMBuildAlloca(c->b, c->f32, "s");
    LLVMValueRef tot = LLVMBuildAlloca(c->b, c->f64, "tot");
    LLVMBuildStore(c->b, LLVMConstReal(c->f64, 0.0), tot);
    LLVMBasicBlockRef bad = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "bad");
    CpuLoop lp;
    LLVMValueRef p = cpu_loop_begin(c, &lp, cpu_i64(c, 0), npos, false);
    LLVMValueRef t = LLVMBuildSExt(c->b, cpu_load(c, c->i32, tg, p), c->i64, "");
    LLVMValueRef oob = LLVMBuildOr(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, t, cpu_i64(c, 0), ""),
                                   LLVMBuildICmp(c->b, LLVMIntSGE, t, V, ""), "");
    LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "ok");
    LLVMBuildCondBr(c->b, oob, bad, ok);
    LLVMPositionBuilderAtEnd(c->b, ok);
    LLVMValueRef base = LLVMBuildMul(c->b, p, V, "");
    row_max(c, x, base, V, cpu_i64(c, 1), mxs);
    LLVMValueRef mx = LLVMBuildLoad2(c->b, c->f32, mxs, "");
    LLVMValueRef sum = row_sumexp(c, x, base, V, cpu_i64(c, 1), mx, sums);
    LLVMValueRef lse = cpu_intrinsic(c, "llvm.log", c->f32, &sum, 1);
    LLVMValueRef lt = cpu_load(c, c->f32, x, LLVMBuildAdd(c->b, base, t, ""));
    LLVMValueRef loss = LLVMBuildFSub(c->b, LLVMBuildFAdd(c->b, lse, mx, ""), lt, "");
    LLVMBuildStore(c->b, LLVMBuildFAdd(c->b, LLVMBuildLoad2(c->b, c->f64, tot, ""),
                                       LLVMBuildFPExt(c->b, loss, c->f64, ""), ""), tot);
    cpu_loop_end(c, &lp, NULL);
    LLVMValueRef mean = LLVMBuildFDiv(c->b, LLVMBuildLoad2(c->b, c->f64, tot, ""),
                                      LLVMBuildSIToFP(c->b, npos, c->f64, ""), "");
    cpu_store(c, c->f32, LLVMBuildFPTrunc(c->b, mean, c->f32, ""), out, cpu_i64(c, 0));
    cpu_fn_end(c);
    LLVMPositionBuilderAtEnd(c->b, bad);
    LLVMBuildRet(c->b, LLVMBuildAdd(c->b, p, cpu_i64(c, 1), ""));
}

/* ---- gather and scatter_add ---- */

static void build_gather(CpuCg *c, IrDType dt, const char *name) {
    cpu_fn_begin(c, name);
    LLVMTypeRef t = lty(c, dt);
    LLVMValueRef rows = cpu_param(c, 0), rowlen = cpu_param(c, 1);
    LLVMValueRef out = cpu_buf(c, 0), tab = cpu_buf(c, 1), ix = cpu_buf(c, 2);
    LLVMBasicBlockRef bad = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "bad");
    CpuLoop lp;
    LLVMValueRef p = cpu_loop_begin(c, &lp, c->lo, c->hi, false);
    LLVMValueRef k = LLVMBuildSExt(c->b, cpu_load(c, c->i32, ix, p), c->i64, "");
    LLVMValueRef oob = LLVMBuildOr(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, k, cpu_i64(c, 0), ""),
                                   LLVMBuildICmp(c->b, LLVMIntSGE, k, rows, ""), "");
    LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "ok");
    LLVMBuildCondBr(c->b, oob, bad, ok);
    LLVMPositionBuilderAtEnd(c->b, ok);
    LLVMValueRef src = LLVMBuildMul(c->b, k, rowlen, ""), dst = LLVMBuildMul(c->b, p, rowlen, "");
    CpuLoop lj;
    LLVMValueRef j = cpu_loop_begin(c, &lj, cpu_i64(c, 0), rowlen, true);
    LLVMValueRef v = cpu_load(c, t, tab, LLVMBuildAdd(c->b, src, j, ""));
    cpu_store(c, t, v, out, LLVMBuildAdd(c->b, dst, j, ""));
    cpu_loop_end(c, &lj, NULL);
    cpu_loop_end(c, &lp, NULL);
    cpu_fn_end(c);
    LLVMPositionBuilderAtEnd(c->b, bad);
    LLVMBuildRet(c->b, LLVMBuildAdd(c->b, p, cpu_i64(c, 1), ""));
}

static void build_scatter(CpuCg *c, IrDType dt, const char *name) {
    cpu_fn_begin(c, name);
    LLVMTypeRef t = lty(c, dt);
    LLVMValueRef rows = cpu_param(c, 0), rowlen = cpu_param(c, 1), npos = cpu_param(c, 2);
    LLVMValueRef out = cpu_buf(c, 0), ix = cpu_buf(c, 1), upd = cpu_buf(c, 2);
    LLVMValueRef zero = dt == DT_I32 ? LLVMConstInt(c->i32, 0, 0) : fconst(c, 0.0);
    CpuLoop lr;
    LLVMValueRef r = cpu_loop_begin(c, &lr, cpu_i64(c, 0), rows, false);
    LLVMValueRef rb = LLVMBuildMul(c->b, r, rowlen, "");
    CpuLoop lz;
    LLVMValueRef j = cpu_loop_begin(c, &lz, c->lo, c->hi, true);
    cpu_store(c, t, zero, out, LLVMBuildAdd(c->b, rb, j, ""));
    cpu_loop_end(c, &lz, NULL);
    cpu_loop_end(c, &lr, NULL);
    LLVMBasicBlockRef bad = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "bad");
    CpuLoop lp;
    LLVMValueRef p = cpu_loop_begin(c, &lp, cpu_i64(c, 0), npos, false);
    LLVMValueRef k = LLVMBuildSExt(c->b, cpu_load(c, c->i32, ix, p), c->i64, "");
    LLVMValueRef oob = LLVMBuildOr(c->b, LLVMBuildICmp(c->b, LLVMIntSLT, k, cpu_i64(c, 0), ""),
                                   LLVMBuildICmp(c->b, LLVMIntSGE, k, rows, ""), "");
    LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "ok");
    LLVMBuildCondBr(c->b, oob, bad, ok);
    LLVMPositionBuilderAtEnd(c->b, ok);
    LLVMValueRef dst = LLVMBuildMul(c->b, k, rowlen, ""), src = LLVMBuildMul(c->b, p, rowlen, "");
    CpuLoop lj;
    j = cpu_loop_begin(c, &lj, c->lo, c->hi, true);
    LLVMValueRef di = LLVMBuildAdd(c->b, dst, j, "");
    LLVMValueRef a = cpu_load(c, t, out, di), u = cpu_load(c, t, upd, LLVMBuildAdd(c->b, src, j, ""));
    cpu_store(c, t, dt == DT_I32 ? LLVMBuildAdd(c->b, a, u, "") : LLVMBuildFAdd(c->b, a, u, ""), out, di);
    cpu_loop_end(c, &lj, NULL);
    cpu_loop_end(c, &lp, NULL);
    cpu_fn_end(c);
    LLVMPositionBuilderAtEnd(c->b, bad);
    LLVMBuildRet(c->b, LLVMBuildAdd(c->b, p, cpu_i64(c, 1), ""));
}

/* ---- dispatch ---- */

/* The kernel called `key`, building it with build() when it is new. */
static const char *intern_kernel(CpuCg *c, const char *key, bool *is_new) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->keys[i], key) == 0) {
            *is_new = false;
            return c->names[i];
        }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 32;
        c->keys = xrealloc(c->keys, sizeof *c->keys * (size_t)c->cap);
        c->names = xrealloc(c->names, sizeof *c->names * (size_t)c->cap);
    }
    size_t len = strlen(key);
    c->keys[c->n] = xmalloc(len + 1);
    memcpy(c->keys[c->n], key, len + 1);
    snprintf(c->names[c->n], sizeof c->names[c->n], "tfc_k%d", c->n);
    *is_new = true;
    return c->names[c->n++];
}

static bool dtype_ok(IrDType dt) { return dt == DT_F32 || dt == DT_I32; }

/* A fused reduction: out[o] = op over the trailing dims of X of body(inputs at X's
 * element), X = the reduction operand's shape [kept..., reduced...] (layout in cpu_cg.h).
 * The last reduced dim is the inner loop: one fast loop for the inner-stride pattern the
 * types predict, one general. f32 sums are reordered (vectorized) as build_reduce's are. */
static void build_fused_reduce(CpuCg *c, const EwSpec *s, int RK, const char *name) {
    cpu_fn_begin(c, name);
    const IrValue *root = s->body->results[0];
    IrOp op = root->op;
    int R = s->R, nin = s->nin;
    LLVMValueRef dims[IR_MAX_RANK], base[CPU_EW_MAX_IN], st[CPU_EW_MAX_IN][IR_MAX_RANK], ptr[CPU_EW_MAX_IN];
    for (int d = 0; d < R; d++) dims[d] = cpu_param(c, d);
    for (int k = 0; k < nin; k++) {
        base[k] = cpu_param(c, R + k * (R + 1));
        for (int d = 0; d < R; d++) st[k][d] = cpu_param(c, R + k * (R + 1) + 1 + d);
        ptr[k] = cpu_buf(c, k + 1);
    }
    LLVMValueRef count = cpu_param(c, R + nin * (R + 1)), out = cpu_buf(c, 0);
    LLVMValueRef init = fconst(c, op == OP_MAX ? -INFINITY : 0.0), zero = cpu_i64(c, 0), one = cpu_i64(c, 1);
    LLVMValueRef acc = LLVMBuildAlloca(c->b, c->f32, "acc");
    LLVMValueRef rrows = one; /* reduced elements before the last reduced dim */
    for (int d = RK; d < R - 1; d++) rrows = LLVMBuildMul(c->b, rrows, dims[d], "");
    CpuLoop lo_;
    LLVMValueRef o = cpu_loop_begin(c, &lo_, c->lo, c->hi, false);
    LLVMValueRef rem = o, off0[CPU_EW_MAX_IN];
    for (int k = 0; k < nin; k++) off0[k] = base[k];
    for (int d = RK - 1; d >= 0; d--) {
        LLVMValueRef cd = LLVMBuildURem(c->b, rem, dims[d], "");
        rem = LLVMBuildUDiv(c->b, rem, dims[d], "");
        for (int k = 0; k < nin; k++) off0[k] = LLVMBuildAdd(c->b, off0[k], LLVMBuildMul(c->b, cd, st[k][d], ""), "");
    }
    LLVMBuildStore(c->b, init, acc);
    CpuLoop lq;
    LLVMValueRef q = cpu_loop_begin(c, &lq, zero, rrows, false), qrem = q, off[CPU_EW_MAX_IN];
    for (int k = 0; k < nin; k++) off[k] = off0[k];
    for (int d = R - 2; d >= RK; d--) {
        LLVMValueRef cd = LLVMBuildURem(c->b, qrem, dims[d], "");
        qrem = LLVMBuildUDiv(c->b, qrem, dims[d], "");
        for (int k = 0; k < nin; k++) off[k] = LLVMBuildAdd(c->b, off[k], LLVMBuildMul(c->b, cd, st[k][d], ""), "");
    }
    LLVMValueRef fast_ok = LLVMConstInt(c->i1, 1, 0);
    for (int k = 0; k < nin; k++)
        fast_ok = LLVMBuildAnd(c->b, fast_ok, LLVMBuildICmp(c->b, LLVMIntEQ, st[k][R - 1],
                                                           (s->fused_pattern >> k) & 1 ? one : zero, ""), "");
    LLVMBasicBlockRef fast = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "fast");
    LLVMBasicBlockRef slow = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "slow");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(c->ctx, c->fn, "join");
    LLVMBuildCondBr(c->b, fast_ok, fast, slow);
    for (int pass = 0; pass < 2; pass++) {
        LLVMPositionBuilderAtEnd(c->b, pass == 0 ? fast : slow);
        CpuLoop lj;
        LLVMValueRef j = cpu_loop_begin(c, &lj, zero, dims[R - 1], pass == 0), x[CPU_EW_MAX_IN];
        for (int k = 0; k < nin; k++) {
            LLVMValueRef idx = pass == 1 ? LLVMBuildAdd(c->b, off[k], LLVMBuildMul(c->b, j, st[k][R - 1], ""), "")
                               : (s->fused_pattern >> k) & 1 ? LLVMBuildAdd(c->b, off[k], j, "") : off[k];
            x[k] = cpu_load(c, lty(c, s->in[k]), ptr[k], idx);
        }
        LLVMValueRef e = body_compute(c, s, x, j), a = LLVMBuildLoad2(c->b, c->f32, acc, "");
        LLVMBuildStore(c->b, op == OP_MAX ? nan_minmax(c, true, a, e) : LLVMBuildFAdd(c->b, a, e, ""), acc);
        cpu_loop_end(c, &lj, NULL);
        LLVMBuildBr(c->b, join);
    }
    LLVMPositionBuilderAtEnd(c->b, join);
    cpu_loop_end(c, &lq, NULL);
    LLVMValueRef res = LLVMBuildLoad2(c->b, c->f32, acc, "");
    if (op == OP_MEAN) res = LLVMBuildFDiv(c->b, res, LLVMBuildSIToFP(c->b, count, c->f32, ""), "");
    cpu_store(c, c->f32, res, out, o);
    cpu_loop_end(c, &lo_, NULL);
    cpu_fn_end(c);
}

/* A fused elementwise kernel, keyed by a hash of its body's text (equal bodies, as in
 * the 12 layers of GPT-2, share one function). */
static bool build_fused(CpuCg *c, const IrValue *v, CpuKernelInfo *ki, const char **name,
                        char *err, size_t errlen) {
    const IrFunc *body = v->attrs.body;
    const IrValue *root = body->results[0];
    bool red = (ir_op_flags(root->op) & F_REDUCE) != 0;
    /* iteration space: the output, or the reduction's operand */
    const IrType *o = red ? &root->args[0]->type : &v->type;
    int nred = red ? root->attrs.nints : 0;
    bool trailing = true;
    for (int i = 0; i < nred; i++) trailing &= root->attrs.ints[i] == o->rank - nred + i;
    if (v->nargs > CPU_EW_MAX_IN || (red && (!trailing || nred == 0 || v->type.dtype != DT_F32))) {
        snprintf(err, errlen, "the cpu backend has no kernel for fused @%s (%d operands%s)", body->name,
                 v->nargs, red ? ", a reduction not over trailing axes" : "");
        return false;
    }
    const IrValue *head = ir_body_row_head(body);
    EwSpec s = {.v = v, .out = v->type.dtype, .nin = v->nargs, .body = body, .head = head};
    int px = -1; /* a softmax head's parameter */
    for (int k = 0; k < v->nargs; k++) {
        s.pmap[k] = head ? k + 1 : k;
        if (head && body->params[k] == head->args[0]) px = k;
    }
    if (head && px < 0) {
        snprintf(err, errlen, "the cpu backend has no kernel for fused @%s (its softmax does not read "
                 "a parameter)", body->name);
        return false;
    }
    s.R = o->rank > 0 ? o->rank : 1;
    for (int k = 0; k < v->nargs; k++) {
        const IrType *t = &v->args[k]->type;
        s.in[k] = t->dtype;
        bool bcast = t->rank == 0 || (!t->dims[t->rank - 1].sym && t->dims[t->rank - 1].size == 1 &&
                                      !(o->rank > 0 && !o->dims[o->rank - 1].sym && o->dims[o->rank - 1].size == 1));
        if (!bcast) s.fused_pattern |= 1u << k;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    ir_print_func(mem, (IrFunc *)body);
    fclose(mem);
    /* the body's name is not part of what it computes */
    const char *from = strchr(text, '(');
    uint64_t h = cpu_hash(from ? from : text, strlen(from ? from : text), 0);
    free(text);
    char key[96];
    snprintf(key, sizeof key, "fused.%016llx.%d.%x", (unsigned long long)h, s.R, s.fused_pattern);
    bool is_new;
    *name = intern_kernel(c, key, &is_new);
    ki->kind = red ? CPU_K_FUSED_REDUCE : head ? CPU_K_FUSED_SOFTMAX : CPU_K_EW;
    ki->rank = s.R;
    ki->rrank = nred;
    if (is_new && red) build_fused_reduce(c, &s, o->rank - nred, *name);
    else if (is_new && head) build_fused_softmax(c, &s, px, *name);
    else if (is_new) build_ew(c, &s, *name);
    return true;
}

/* Whether an operand's last dim is contiguous in an iteration over `o` (not a dim of 1
 * broadcast along it): the inner-stride pattern the kernel specialises for. */
static bool inner_contiguous(const IrType *t, const IrType *o) {
    bool bcast = t->rank == 0 || (!t->dims[t->rank - 1].sym && t->dims[t->rank - 1].size == 1 &&
                                  !(o->rank > 0 && !o->dims[o->rank - 1].sym && o->dims[o->rank - 1].size == 1));
    return !bcast;
}

/* The body parameter (0-based) that matmul operand k reads, and whether transposed. */
static int matmul_param(const IrFunc *body, const IrValue *mm, int k, bool *trans) {
    const IrValue *a = mm->args[k];
    *trans = a->op == OP_TRANSPOSE;
    if (*trans) a = a->args[0];
    for (int i = 0; i < body->nparams; i++)
        if (body->params[i] == a) return i;
    return -1;
}

/* fuse-matmul's form: the matmul kernel (shared with plain matmuls) and an elementwise
 * kernel for the epilogue, which cpu_plan.c runs on each block of the product right
 * after the block is computed (still in cache). The epilogue's inputs are the product,
 * then the operands the epilogue reads (ki->epi_args). */
static bool build_fused_matmul(CpuCg *c, const IrValue *v, CpuKernelInfo *ki, const char **name,
                               char *err, size_t errlen) {
    const IrFunc *body = v->attrs.body;
    const IrValue *mm = ir_body_matmul(body);
    bool ta, tb;
    int px = matmul_param(body, mm, 0, &ta), py = matmul_param(body, mm, 1, &tb);
    if (px < 0 || py < 0 || v->type.dtype != DT_F32 || v->nargs + 1 > CPU_EW_MAX_IN) {
        snprintf(err, errlen, "the cpu backend has no kernel for fused @%s (a matmul on %d operands)",
                 body->name, v->nargs);
        return false;
    }
    char key[96];
    bool is_new;
    snprintf(key, sizeof key, "matmul.f32.%d%d", ta, tb);
    *name = intern_kernel(c, key, &is_new);
    if (is_new) cpu_cg_matmul(c, DT_F32, ta, tb, *name);
    ki->kind = CPU_K_MATMUL;
    ki->trans_a = ta, ki->trans_b = tb;
    ki->mm_x = px, ki->mm_y = py;

    EwSpec s = {.v = v, .out = DT_F32, .nin = 1, .body = body, .mm = mm};
    s.R = v->type.rank;
    s.in[0] = DT_F32;
    s.fused_pattern = 1; /* the product: contiguous */
    for (int k = 0; k < body->nparams; k++) {
        const IrValue *p = body->params[k];
        bool read = false;
        for (const IrValue *u = p->next; u && !read; u = u->next)
            for (int i = 0; i < u->nargs; i++) read |= u->args[i] == p && u != mm && u->op != OP_TRANSPOSE;
        s.pmap[k] = -1;
        if (!read) continue;
        s.pmap[k] = s.nin;
        ki->epi_args[s.nin - 1] = (int8_t)k;
        s.in[s.nin] = p->type.dtype;
        if (inner_contiguous(&p->type, &v->type)) s.fused_pattern |= 1u << s.nin;
        s.nin++;
    }
    ki->epi_nargs = s.nin - 1;
    ki->rank = s.R;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    ir_print_func(mem, (IrFunc *)body);
    fclose(mem);
    const char *from = strchr(text, '(');
    uint64_t h = cpu_hash(from ? from : text, strlen(from ? from : text), 0);
    free(text);
    snprintf(key, sizeof key, "epilogue.%016llx.%d.%x", (unsigned long long)h, s.R, s.fused_pattern);
    const char *epi = intern_kernel(c, key, &is_new);
    if (is_new) build_ew(c, &s, epi);
    snprintf(ki->epi, sizeof ki->epi, "%s", epi);
    return true;
}

bool cpu_cg_value(CpuCg *c, const IrValue *v, CpuKernelInfo *ki, char *err, size_t errlen) {
    char key[256];
    const IrDType dt = v->type.dtype;
    IrDType a0 = v->nargs > 0 ? v->args[0]->type.dtype : dt;
    bool ta = ki->trans_a, tb = ki->trans_b, smm = ki->sum_matmul;
    memset(ki, 0, sizeof *ki);
    ki->trans_a = ta, ki->trans_b = tb, ki->sum_matmul = smm;
    if (smm) { /* sum over the batch of x^T @ dy: one matmul, A stored transposed */
        ki->kind = CPU_K_MATMUL;
        ki->trans_a = true;
        bool is_new;
        const char *name = intern_kernel(c, "matmul.f32.10", &is_new);
        if (is_new) cpu_cg_matmul(c, DT_F32, true, false, name);
        snprintf(ki->name, sizeof ki->name, "%s", name);
        return true;
    }
    if (!dtype_ok(dt)) {
        snprintf(err, errlen, "the cpu backend supports f32 and i32 tensors, not %s (%s)",
                 ir_dtype_name(dt), ir_op_name(v->op));
        return false;
    }
    for (int i = 0; i < v->nargs; i++)
        if (!dtype_ok(v->args[i]->type.dtype)) {
            snprintf(err, errlen, "the cpu backend supports f32 and i32 tensors, not %s (%s)",
                     ir_dtype_name(v->args[i]->type.dtype), ir_op_name(v->op));
            return false;
        }
    unsigned fl = ir_op_flags(v->op);
    bool is_new;
    const char *name;
    switch (v->op) {
    case OP_MATMUL: {
        ki->kind = CPU_K_MATMUL;
        snprintf(key, sizeof key, "matmul.%s.%d%d", ir_dtype_name(dt), ta, tb);
        name = intern_kernel(c, key, &is_new);
        if (is_new) cpu_cg_matmul(c, dt, ta, tb, name);
        break;
    }
    case OP_SUM: case OP_MAX: case OP_MEAN: {
        int nred = v->attrs.nints, r = v->args[0]->type.rank;
        bool prefix = nred > 0 && nred < r;
        for (int i = 0; prefix && i < nred; i++) prefix = v->attrs.ints[i] == i;
        if (prefix) {
            ki->kind = CPU_K_COLREDUCE;
            snprintf(key, sizeof key, "colreduce.%s.%s", ir_op_name(v->op), ir_dtype_name(dt));
            name = intern_kernel(c, key, &is_new);
            if (is_new) build_colreduce(c, v->op, dt, name);
            break;
        }
        ki->kind = CPU_K_REDUCE;
        ki->rank = r - nred > 0 ? r - nred : 1;
        ki->rrank = nred > 0 ? nred : 1;
        snprintf(key, sizeof key, "reduce.%s.%s.%d.%d", ir_op_name(v->op), ir_dtype_name(dt),
                 ki->rank, ki->rrank);
        name = intern_kernel(c, key, &is_new);
        if (is_new) build_reduce(c, v->op, dt, ki->rank, ki->rrank, name);
        break;
    }
    case OP_SOFTMAX: case OP_LOG_SOFTMAX:
        ki->kind = CPU_K_SOFTMAX;
        if (dt != DT_F32) goto f32_only;
        name = intern_kernel(c, ir_op_name(v->op), &is_new);
        if (is_new) build_softmax(c, v->op == OP_LOG_SOFTMAX, name);
        break;
    case OP_LAYERNORM:
        ki->kind = CPU_K_LAYERNORM;
        if (dt != DT_F32) goto f32_only;
        snprintf(key, sizeof key, "layernorm.%.17g", v->attrs.eps);
        name = intern_kernel(c, key, &is_new);
        if (is_new) build_layernorm(c, v->attrs.eps, name);
        break;
    case OP_LAYERNORM_GRAD:
        ki->kind = CPU_K_LAYERNORM; /* the same launch: bufs out, x, g, dy; params C */
        if (dt != DT_F32) goto f32_only;
        snprintf(key, sizeof key, "layernorm_grad.%.17g", v->attrs.eps);
        name = intern_kernel(c, key, &is_new);
        if (is_new) build_layernorm_grad(c, v->attrs.eps, name);
        break;
    case OP_CROSS_ENTROPY:
        ki->kind = CPU_K_XENT;
        if (dt != DT_F32 || v->args[1]->type.dtype != DT_I32) goto f32_only;
        name = intern_kernel(c, "cross_entropy", &is_new);
        if (is_new) build_xent(c, name);
        break;
    case OP_FUSED:
        if (ir_body_matmul(v->attrs.body) ? !build_fused_matmul(c, v, ki, &name, err, errlen)
                                          : !build_fused(c, v, ki, &name, err, errlen))
            return false;
        break;
    case OP_ATTENTION: case OP_ATTENTION_LSE: case OP_ATTENTION_GRAD: {
        ki->kind = CPU_K_ATTENTION;
        if (dt != DT_F32) goto f32_only;
        /* static head sizes are baked in (-1: symbolic) */
        const IrType *q = &v->args[0]->type, *val = &v->args[v->op == OP_ATTENTION_LSE ? 0 : 2]->type;
        IrDim dd = q->dims[q->rank - 1], dv = val->dims[val->rank - 1];
        snprintf(key, sizeof key, "%s.%lld.%d.%d.%.17g.%lld.%lld", ir_op_name(v->op),
                 (long long)(v->op == OP_ATTENTION_GRAD ? v->attrs.index : 0), v->nargs,
                 v->attrs.causal, v->attrs.scale, (long long)(dd.sym ? -1 : dd.size),
                 (long long)(dv.sym ? -1 : dv.size));
        name = intern_kernel(c, key, &is_new);
        if (is_new) cpu_cg_attention(c, v, name);
        break;
    }
    case OP_GATHER:
        ki->kind = CPU_K_GATHER;
        if (v->args[1]->type.dtype != DT_I32) goto i32_index;
        snprintf(key, sizeof key, "gather.%s", ir_dtype_name(dt));
        name = intern_kernel(c, key, &is_new);
        if (is_new) build_gather(c, dt, name);
        break;
    case OP_SCATTER_ADD:
        ki->kind = CPU_K_SCATTER;
        if (v->args[0]->type.dtype != DT_I32) goto i32_index;
        snprintf(key, sizeof key, "scatter_add.%s", ir_dtype_name(dt));
        name = intern_kernel(c, key, &is_new);
        if (is_new) build_scatter(c, dt, name);
        break;
    default: {
        bool ew = (fl & (F_UNARY | F_BINARY | F_ELEMENTWISE)) || v->op == OP_CONSTANT ||
                  v->op == OP_ARANGE || v->op == OP_RESHAPE || v->op == OP_TRANSPOSE ||
                  v->op == OP_BROADCAST || v->op == OP_SLICE || v->op == OP_SPLIT ||
                  v->op == OP_CONCAT;
        if (!ew || v->op == OP_INPUT || v->op == OP_WEIGHT) {
            snprintf(err, errlen, "the cpu backend has no kernel for %s", ir_op_name(v->op));
            return false;
        }
        EwSpec s = {.v = v, .out = dt};
        bool copy = (fl & F_MOVEMENT) != 0;
        s.nin = copy ? 1 : v->nargs;
        for (int i = 0; i < s.nin; i++) s.in[i] = v->args[i]->type.dtype;
        /* concat copies one operand at a time into its window: iteration rank = rank */
        s.R = v->type.rank > 0 ? v->type.rank : 1;
        if (v->op == OP_CONSTANT) {
            snprintf(key, sizeof key, "constant.%s.%d.%.17g", ir_dtype_name(dt), s.R, v->attrs.value);
        } else if (copy) {
            snprintf(key, sizeof key, "copy.%s.%d", ir_dtype_name(dt), s.R);
        } else {
            int k = snprintf(key, sizeof key, "ew.%s.%s.%d", ir_op_name(v->op), ir_dtype_name(dt), s.R);
            for (int i = 0; i < s.nin; i++)
                k += snprintf(key + k, sizeof key - (size_t)k, ".%s", ir_dtype_name(s.in[i]));
        }
        if (copy) { /* every movement op is the same copy kernel */
            static const IrValue copy_v = {.op = OP_RESHAPE};
            s.v = &copy_v;
        }
        ki->kind = CPU_K_EW;
        ki->rank = s.R;
        name = intern_kernel(c, key, &is_new);
        if (is_new) {
            if (!copy && !(fl & (F_BINARY)) && v->op != OP_WHERE && v->op != OP_CAST &&
                v->op != OP_CONSTANT && v->op != OP_ARANGE && a0 == DT_I32 &&
                v->op != OP_NEG && v->op != OP_RELU && v->op != OP_ABS) {
                snprintf(err, errlen, "%s is not defined on i32 (cast to f32 first)", ir_op_name(v->op));
                return false;
            }
            build_ew(c, &s, name);
        }
        break;
    }
    }
    snprintf(ki->name, sizeof ki->name, "%s", name);
    return true;
f32_only:
    snprintf(err, errlen, "the cpu backend computes %s on f32 only", ir_op_name(v->op));
    return false;
i32_index:
    snprintf(err, errlen, "the cpu backend needs i32 indices for %s", ir_op_name(v->op));
    return false;
}
