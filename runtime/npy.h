/* npy.h — NumPy .npy files (format versions 1.0, 2.0 and 3.0) to and from host Tensors.
 *
 * Reads little-endian '<f4' and '<i4' as they are; '<f8' and '<f2' become f32, '<i8',
 * '|i1', '|u1' and '|b1' become i32 (an i64 value outside the i32 range is an error).
 * C order only. Every malformed file (bad magic, Fortran order, big-endian, a header
 * that does not parse, a size that disagrees with the file) gives a message naming the
 * file and the problem. Writes f32 as '<f4', i32 as '<i4', f16 as '<f2', bf16 as '<f4'
 * (NumPy has no bfloat16), atomically (temp file, fsync, rename).
 *
 *     char err[512];
 *     Tensor *t = rt_npy_read("idx.npy", err, sizeof err);
 *     if (!t) { fprintf(stderr, "tfc: %s\n", err); return 1; }
 */
#ifndef TFC_RT_NPY_H
#define TFC_RT_NPY_H

#include <stdbool.h>
#include <stddef.h>

#include "backends/tensor.h"

/* Returns a new tensor, or NULL with "FILE: why" in err. */
Tensor *rt_npy_read(const char *path, char *err, size_t errlen);
/* Returns false with "FILE: why" in err. */
bool rt_npy_write(const char *path, const Tensor *t, char *err, size_t errlen);

#endif
