/* safetensors.h — Hugging Face safetensors files to and from named host Tensors.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON
 *   {"__metadata__": {...}, "NAME": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}}
 * then the raw little-endian data, offsets relative to the end of the header.
 *
 * Reading keeps the file's tensor order. F32 and I32 are read as they are; F16, BF16 and
 * F64 become f32, I64 becomes i32 (a value outside the i32 range is an error). Every
 * malformed file gives a message naming the file and, where there is one, the tensor:
 * header length past the end of the file or over 100 MB, JSON that does not parse, a
 * missing or mistyped field, offsets out of range or overlapping, a dtype and shape that
 * disagree with the data size, a duplicate name.
 *
 * Writing stores F32, I32, F16, BF16 as they are, in the order given, with
 * {"__metadata__": {"format": "pt"}} so that transformers accepts the file, atomically
 * (temp file next to it, fsync, rename).
 *
 *     RtTensorSet set = {0};
 *     if (!rt_safetensors_read("model.safetensors", &set, err, sizeof err)) ...
 *     Tensor *wte = rt_tensor_set_find(&set, "wte.weight");
 *     rt_tensor_set_free(&set);
 */
#ifndef TFC_RT_SAFETENSORS_H
#define TFC_RT_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>

#include "backends/tensor.h"

/* Named tensors; the set owns names and tensors (an entry may be NULL once taken). */
typedef struct {
    int n;
    char **names;
    Tensor **tensors;
} RtTensorSet;

/* Largest JSON header accepted (the format's own limit). */
#define RT_SAFETENSORS_MAX_HEADER (100u * 1000u * 1000u)

bool rt_safetensors_read(const char *path, RtTensorSet *out, char *err, size_t errlen);
bool rt_safetensors_write(const char *path, const char *const *names, Tensor *const *tensors,
                          int n, char *err, size_t errlen);

void rt_tensor_set_free(RtTensorSet *s);
/* The index of name in s, or -1. */
int rt_tensor_set_index(const RtTensorSet *s, const char *name);
Tensor *rt_tensor_set_find(const RtTensorSet *s, const char *name);
/* Add a copy of name and take ownership of t. */
void rt_tensor_set_add(RtTensorSet *s, const char *name, Tensor *t);

#endif
