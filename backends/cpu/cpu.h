/* cpu.h — the LLVM-JIT CPU backend: table of contents of backends/cpu/.
 *
 *   cpu_backend.c  the Backend vtable: compile (plan + codegen + JIT), run (bind symbolic
 *                  dims, allocate, launch one kernel per value on the pool), profile
 *   cpu_cg.h       what these files share (LLVM types stay in this folder)
 *   cpu_plan.c     run-time parameters of each kernel (dims, strides, offsets) computed
 *                  from the concrete shapes of one run, and the launch on the pool
 *   codegen.c      IR value -> LLVM function (elementwise, reductions, movement, nn ops),
 *                  through the LLVM C API; loop and vector helpers
 *   matmul.c       the packed, register-tiled, vectorized matmul, generated as LLVM IR
 *   attention.c    fused attention forward, log-sum-exp and gradients (online softmax)
 *   jit.c          target machine for the host, default<O3>, object emission, ORC LLJIT
 *   cache.c        on-disk object cache keyed by a hash of the LLVM IR and the target
 *   threadpool.c   a pthreads pool: parallel-for over a range, the caller takes part
 *   aot.c          ahead of time: the kernels plus a generated C driver as a .o / .so,
 *                  and the header documenting its entry point
 *
 * Worked example (what `tfc run --target cpu` does through runtime/targets.c):
 *
 *     Backend *b = cpu_backend_create(&(BkOptions){.threads = 2}, err, sizeof err);
 *     BkExec *e = b->compile(b, f, err, sizeof err);       // JIT (or cache hit)
 *     b->run(e, weights, inputs, outputs, err, sizeof err); // ref_run's contract
 *     b->exec_destroy(e); b->destroy(b);
 *
 * Decision a newcomer may question: one kernel per IR value, every kernel with the same
 * C signature `int64_t k(void **bufs, const int64_t *params, int64_t lo, int64_t hi)`.
 * Shapes, strides and offsets are run-time params, so symbolic dims never recompile and
 * identical kernels (every layer of a model) are generated once; [lo, hi) is the slice
 * of the kernel's parallel range one thread takes; a non-zero return is a run-time error
 * (an index out of range: 1 + its position) that the host turns into a message. LLVM
 * types never leave this folder: they live in cpu_cg.h, included by the .c files only.
 */
#ifndef TFC_CPU_H
#define TFC_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "backends/backend.h"

Backend *cpu_backend_create(const BkOptions *o, char *err, size_t errlen);

#endif
