/* tensor.h — a host tensor: dtype, concrete shape, contiguous row-major data.
 *
 * The currency between the runtime and every backend: inputs, weights and outputs are
 * Tensors on the host; a device backend copies them in and out. One owner each:
 * tensor_create/tensor_destroy. */
#ifndef TFC_TENSOR_H
#define TFC_TENSOR_H

#include "ir/ir.h"

typedef struct {
    IrDType dtype;
    int rank;
    int64_t dims[IR_MAX_RANK];
    void *data; /* numel * dtype size bytes; 64-byte aligned when tensor_create made it */
    /* A tensor may borrow its data (a weight pointing into a mapped checkpoint): then
     * tensor_destroy calls release(release_ctx) instead of freeing data. Borrowed data is
     * aligned to its element size, which is all any backend assumes. */
    void (*release)(void *ctx);
    void *release_ctx;
    size_t mapped; /* tensor_create mapped data of this many bytes (big tensors); 0: malloc */
} Tensor;

/* Returns NULL (and writes why into err) if the shape is invalid or too large. */
Tensor *tensor_create(IrDType dt, int rank, const int64_t *dims, char *err, size_t errlen);
/* The same without zeroing the data, for outputs a kernel writes in full. */
Tensor *tensor_create_uninit(IrDType dt, int rank, const int64_t *dims, char *err, size_t errlen);
void tensor_destroy(Tensor *t);
int64_t tensor_numel(const Tensor *t);
size_t tensor_bytes(const Tensor *t);
/* "f32[2, 5, 256]" */
char *tensor_shape_str(const Tensor *t, char *buf, size_t n);

#endif
