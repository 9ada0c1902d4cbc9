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
 * (temp file next to it, fsync, rename, fsync of the directory): a reader sees the old
 * file or the new one, never a torn one. Further string pairs can go into __metadata__
 * (training checkpoints keep their step, RNG state and data position there).
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

/* Zero-copy reading: the file mapped read-only (mmap), its header validated as above,
 * each tensor a pointer into the mapping. The map owns the mapping and every name and
 * pointer it hands out: they stay valid until rt_st_unmap. Only the tensors used are
 * read from disk (by the page cache), so a 6 GB checkpoint costs no memory up front.
 *
 *     RtStMap *m = rt_st_map("model.safetensors", err, sizeof err);
 *     int i = rt_st_find(m, "wte.weight");
 *     RtStInfo info; rt_st_entry(m, i, &info);   // dtype, shape, data (read-only)
 *     Tensor *t = rt_st_tensor(m, i, err, sizeof err);   // an owned copy, converted
 *     rt_st_unmap(m);
 */
typedef struct RtStMap RtStMap;
typedef struct {
    const char *name;       /* owned by the map */
    const char *file_dtype; /* "F32", "F16", "BF16", "F64", "I32", "I64" */
    IrDType dtype;          /* what rt_st_tensor makes of it: f32 or i32 */
    int rank;
    int64_t dims[IR_MAX_RANK];
    const void *data; /* into the mapping, read-only; nbytes long, in file_dtype */
    size_t nbytes;
} RtStInfo;

RtStMap *rt_st_map(const char *path, char *err, size_t errlen);
void rt_st_unmap(RtStMap *m);
int rt_st_count(const RtStMap *m);
/* Tensor i (in header order): false if i is out of range. */
bool rt_st_entry(const RtStMap *m, int i, RtStInfo *out);
/* Tensor i without a copy: its data points into the mapping, which then stays mapped
 * until the tensor and the caller's map are both gone (rt_st_unmap may come first).
 * NULL when the file's dtype needs converting (F16, BF16, F64, I64) or the data is not
 * aligned to its element size; the caller then copies with rt_st_tensor. */
Tensor *rt_st_borrow(RtStMap *m, int i);
/* The index of name, or -1. */
int rt_st_find(const RtStMap *m, const char *name);
/* A new tensor holding tensor i's data converted to its dtype (I64 out of the i32 range
 * is an error naming the file and tensor). */
Tensor *rt_st_tensor(const RtStMap *m, int i, char *err, size_t errlen);
bool rt_safetensors_write(const char *path, const char *const *names, Tensor *const *tensors,
                          int n, char *err, size_t errlen);

/* The __metadata__ string map (the set owns its strings). */
typedef struct {
    int n;
    char **keys, **values;
} RtMetadata;

/* As above, with extra __metadata__ pairs (meta may be NULL; "format" is always "pt"). */
bool rt_safetensors_write_meta(const char *path, const char *const *names, Tensor *const *tensors,
                               int n, const RtMetadata *meta, char *err, size_t errlen);
/* As rt_safetensors_read, also returning __metadata__'s string values (others skipped). */
bool rt_safetensors_read_meta(const char *path, RtTensorSet *out, RtMetadata *meta, char *err,
                              size_t errlen);
void rt_metadata_set(RtMetadata *m, const char *key, const char *value);
const char *rt_metadata_get(const RtMetadata *m, const char *key); /* NULL: absent */
void rt_metadata_free(RtMetadata *m);

void rt_tensor_set_free(RtTensorSet *s);
/* The index of name in s, or -1. */
int rt_tensor_set_index(const RtTensorSet *s, const char *name);
Tensor *rt_tensor_set_find(const RtTensorSet *s, const char *name);
/* Add a copy of name and take ownership of t. */
void rt_tensor_set_add(RtTensorSet *s, const char *name, Tensor *t);

#endif
