/* ref_backend.c — the reference interpreter behind the Backend interface. Compiling is
 * remembering the function: the interpreter walks the IR at every run. */
#include <stdlib.h>

#include "ref.h"

struct BkExec {
    IrFunc *f;
};

static BkExec *ref_compile(Backend *b, IrFunc *f, char *err, size_t errlen) {
    BkExec *e = xcalloc(1, sizeof *e);
    e->f = f;
    return e;
}

static bool ref_backend_run(BkExec *e, Tensor *const *weights, Tensor *const *inputs,
                            Tensor **outputs, char *err, size_t errlen) {
    return ref_run(e->f, weights, inputs, outputs, err, errlen);
}

static void ref_exec_destroy(BkExec *e) { free(e); }

static void ref_destroy(Backend *b) { free(b); }

Backend *ref_backend_create(const BkOptions *o, char *err, size_t errlen) {
    Backend *b = xcalloc(1, sizeof *b);
    *b = (Backend){
        .name = "ref",
        .compile = ref_compile,
        .run = ref_backend_run,
        .exec_destroy = ref_exec_destroy,
        .destroy = ref_destroy,
    };
    return b;
}
