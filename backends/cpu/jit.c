/* jit.c — the host target machine, the optimisation pipeline, object emission and the
 * ORC LLJIT that runs the objects in-process.
 *
 * Decision a newcomer may question: the JIT is fed an object file, not LLVM IR. We
 * optimise (default<O3>) and emit the object ourselves with a target machine for the
 * host CPU and its features (AVX-512 where present), so that the very same bytes can be
 * cached on disk (a second run compiles nothing) and written out by `tfc compile -o`.
 * Each compiled function gets its own LLJIT instance, owned by its BkExec, so freeing
 * the exec frees its code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "cpu_cg.h"

static bool llvm_fail(LLVMErrorRef e, const char *what, char *err, size_t errlen) {
    char *msg = LLVMGetErrorMessage(e);
    snprintf(err, errlen, "cpu backend: %s: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
    return false;
}

bool cpu_target_init(CpuTarget *t, char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    /* idempotent process-wide registration of the native target */
    if (LLVMInitializeNativeTarget() || LLVMInitializeNativeAsmPrinter()) {
        snprintf(err, errlen, "cpu backend: LLVM has no native target for this machine");
        return false;
    }
    t->triple = LLVMGetDefaultTargetTriple();
    t->cpu = LLVMGetHostCPUName();
    t->features = LLVMGetHostCPUFeatures();
    LLVMTargetRef target;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(t->triple, &target, &msg)) {
        snprintf(err, errlen, "cpu backend: target %s: %s", t->triple, msg ? msg : "?");
        LLVMDisposeMessage(msg);
        cpu_target_dispose(t);
        return false;
    }
    t->tm = LLVMCreateTargetMachine(target, t->triple, t->cpu, t->features,
                                    LLVMCodeGenLevelAggressive, LLVMRelocPIC,
                                    LLVMCodeModelDefault);
    return true;
}

int cpu_target_vec(const CpuTarget *t) {
    if (strstr(t->features, "+avx512f")) return 16;
    if (strstr(t->features, "+avx")) return 8;
    return 4;
}

void cpu_target_dispose(CpuTarget *t) {
    if (t->tm) LLVMDisposeTargetMachine(t->tm);
    LLVMDisposeMessage(t->triple);
    LLVMDisposeMessage(t->cpu);
    LLVMDisposeMessage(t->features);
    memset(t, 0, sizeof *t);
}

bool cpu_compile_object(CpuTarget *t, LLVMModuleRef mod, const char *cache_dir, void **obj,
                        size_t *objlen, bool *compiled, char *err, size_t errlen) {
    *compiled = false;
    LLVMSetTarget(mod, t->triple);
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(t->tm);
    LLVMSetModuleDataLayout(mod, td);
    LLVMDisposeTargetData(td);
    char *text = LLVMPrintModuleToString(mod);
    uint64_t key = cpu_hash(text, strlen(text), 0);
    key = cpu_hash(t->triple, strlen(t->triple), key);
    key = cpu_hash(t->cpu, strlen(t->cpu), key);
    key = cpu_hash(t->features, strlen(t->features), key);
    unsigned maj, min, pat;
    LLVMGetVersion(&maj, &min, &pat);
    char ver[64];
    int vn = snprintf(ver, sizeof ver, "tfc-cpu-1 llvm %u.%u.%u", maj, min, pat);
    key = cpu_hash(ver, (size_t)vn, key);
    LLVMDisposeMessage(text);
    if (cache_dir && (*obj = cpu_cache_get(cache_dir, key, objlen))) return true;

    char *msg = NULL;
    if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
        snprintf(err, errlen, "cpu backend: generated invalid LLVM IR (internal error): %.400s", msg);
        LLVMDisposeMessage(msg);
        return false;
    }
    LLVMDisposeMessage(msg); /* allocated even on success */
    msg = NULL;
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(po, 1);
    LLVMPassBuilderOptionsSetSLPVectorization(po, 1);
    LLVMErrorRef e = LLVMRunPasses(mod, "default<O3>", t->tm, po);
    LLVMDisposePassBuilderOptions(po);
    if (e) return llvm_fail(e, "optimising", err, errlen);
    LLVMMemoryBufferRef buf;
    if (LLVMTargetMachineEmitToMemoryBuffer(t->tm, mod, LLVMObjectFile, &msg, &buf)) {
        snprintf(err, errlen, "cpu backend: emitting code: %s", msg ? msg : "?");
        LLVMDisposeMessage(msg);
        return false;
    }
    *objlen = LLVMGetBufferSize(buf);
    *obj = xmalloc(*objlen ? *objlen : 1);
    memcpy(*obj, LLVMGetBufferStart(buf), *objlen);
    LLVMDisposeMemoryBuffer(buf);
    *compiled = true;
    if (cache_dir) cpu_cache_put(cache_dir, key, *obj, *objlen);
    return true;
}

struct CpuJit {
    LLVMOrcLLJITRef jit;
};

CpuJit *cpu_jit_create(const void *obj, size_t objlen, char *err, size_t errlen) {
    LLVMOrcLLJITRef jit;
    LLVMErrorRef e = LLVMOrcCreateLLJIT(&jit, NULL);
    if (e) return llvm_fail(e, "creating the JIT", err, errlen), NULL;
    CpuJit *j = xcalloc(1, sizeof *j);
    j->jit = jit;
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(jit);
    /* libm (expf, tanhf, ...) from the process */
    LLVMOrcDefinitionGeneratorRef gen;
    e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(jit),
                                                             NULL, NULL);
    if (e) {
        cpu_jit_destroy(j);
        return llvm_fail(e, "searching the process for symbols", err, errlen), NULL;
    }
    LLVMOrcJITDylibAddGenerator(jd, gen);
    LLVMMemoryBufferRef buf =
        LLVMCreateMemoryBufferWithMemoryRangeCopy(obj, objlen, "tfc-kernels");
    e = LLVMOrcLLJITAddObjectFile(jit, jd, buf);
    if (e) {
        cpu_jit_destroy(j);
        return llvm_fail(e, "loading the kernels", err, errlen), NULL;
    }
    return j;
}

void *cpu_jit_lookup(CpuJit *j, const char *name, char *err, size_t errlen) {
    LLVMOrcExecutorAddress addr = 0;
    LLVMErrorRef e = LLVMOrcLLJITLookup(j->jit, &addr, name);
    if (e) return llvm_fail(e, "looking up a kernel", err, errlen), NULL;
    void *p;
    memcpy(&p, &(uintptr_t){(uintptr_t)addr}, sizeof p);
    return p;
}

void cpu_jit_destroy(CpuJit *j) {
    if (!j) return;
    LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->jit);
    if (e) LLVMConsumeError(e);
    free(j);
}
