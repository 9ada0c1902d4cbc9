/* backend.h — the interface every backend fills: compile a function, run it.
 *
 *     Backend *b = ref_backend_create(&(BkOptions){0}, err, sizeof err);
 *     BkExec *e = b->compile(b, f, err, sizeof err);
 *     b->run(e, weights, inputs, outputs, err, sizeof err);   // as often as needed
 *     b->exec_destroy(e);
 *     b->destroy(b);
 *
 * A backend is a vtable filled with designated initializers; members marked optional
 * may be NULL. Tensors cross the interface on the host (backends/tensor.h): a device
 * backend copies them in and out. Symbolic dims are bound from the inputs at every run,
 * so one compiled function serves every batch size and length.
 *
 * The contract of run is ref_run's (backends/ref/ref.h): weights one per module weight
 * in module order, inputs one per parameter, outputs filled with new tensors, one per
 * result; a user error (wrong input shape, index out of range) returns false with a
 * message. Results that update weights (IrFunc.updates) are ordinary outputs here: the
 * runtime installs them as the weights' new values.
 *
 * Decision a newcomer may question: backends see one function at a time and know
 * nothing of checkpoints, data or training. Everything a training step does is IR, so a
 * backend that runs every op trains every model.
 */
#ifndef TFC_BACKEND_H
#define TFC_BACKEND_H

#include <stdbool.h>
#include <stdio.h>

#include "backends/tensor.h"
#include "ir/ir.h"

typedef struct BkExec BkExec; /* a compiled function; each backend defines its own */

typedef struct {
    int threads;  /* worker threads; 0: all cores */
    int device;   /* device index for GPU backends; -1: the best one */
    bool profile; /* collect per-kernel times for profile_report */
    FILE *log;    /* progress and warnings (NULL: stderr) */
    const char *artifact; /* vulkan: a .tfcv file whose SPIR-V to use instead of compiling */
} BkOptions;

typedef struct Backend Backend;
struct Backend {
    const char *name; /* "ref", "cpu", "vulkan" */
    BkExec *(*compile)(Backend *b, IrFunc *f, char *err, size_t errlen);
    bool (*run)(BkExec *e, Tensor *const *weights, Tensor *const *inputs, Tensor **outputs,
                char *err, size_t errlen);
    void (*exec_destroy)(BkExec *e);
    void (*destroy)(Backend *b);
    /* optional: write generated code (what: "llvm", "glsl", "spirv", ...) */
    bool (*emit)(Backend *b, IrFunc *f, const char *what, FILE *out, char *err, size_t errlen);
    /* optional: a per-kernel time table of the runs so far */
    void (*profile_report)(BkExec *e, FILE *out);
    void *impl; /* the backend's own state */
};

#endif
