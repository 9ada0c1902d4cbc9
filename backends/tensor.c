/* tensor.c — host tensors. Sizes are checked against IR_MAX_ELEMENTS so a hostile
 * .npy header or shape cannot ask for more memory than the machine has.
 *
 * Decision a newcomer may question: tensors of 4 MiB and more are mapped, 2 MiB aligned,
 * and advised onto transparent huge pages (as NumPy does). A fresh 51 MB GPT-2 logits
 * tensor otherwise takes 12,500 page faults on first touch, a fifth of its matmul; and
 * mapped memory is zero already, so it skips a memset. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, madvise, MADV_HUGEPAGE */
#include "tensor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

enum { HUGE_MIN = 4 << 20, HUGE_PAGE = 2 << 20 };

/* Zeroed, 64-byte aligned memory of `bytes` (a multiple of 64); *mapped: the length
 * mapped (to munmap), or 0 when it came from aligned_alloc. */
static void *alloc_data(size_t bytes, size_t *mapped) {
    *mapped = 0;
#ifdef __linux__
    if (bytes >= HUGE_MIN) {
        size_t len = (bytes + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1), over = len + HUGE_PAGE;
        char *m = mmap(NULL, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return NULL;
        /* keep the 2 MiB aligned part: huge pages need aligned 2 MiB ranges */
        char *p = (char *)(((uintptr_t)m + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
        if (p > m) munmap(m, (size_t)(p - m));
        if (m + over > p + len) munmap(p + len, (size_t)(m + over - (p + len)));
        madvise(p, len, MADV_HUGEPAGE); /* advice only: failure changes nothing */
        *mapped = len;
        return p;
    }
#endif
    void *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

int64_t tensor_numel(const Tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->dims[i];
    return n;
}

size_t tensor_bytes(const Tensor *t) {
    return (size_t)tensor_numel(t) * ir_dtype_size(t->dtype);
}

Tensor *tensor_create(IrDType dt, int rank, const int64_t *dims, char *err, size_t errlen) {
    if (rank < 0 || rank > IR_MAX_RANK) {
        snprintf(err, errlen, "rank %d is outside 0..%d", rank, IR_MAX_RANK);
        return NULL;
    }
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) {
            snprintf(err, errlen, "dim %d is negative (%lld)", i, (long long)dims[i]);
            return NULL;
        }
        if (dims[i] > 0 && n > IR_MAX_ELEMENTS / dims[i]) {
            snprintf(err, errlen, "tensor is too large (more than %lld elements)",
                     (long long)IR_MAX_ELEMENTS);
            return NULL;
        }
        n *= dims[i];
    }
    Tensor *t = xcalloc(1, sizeof *t);
    t->dtype = dt;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
    size_t bytes = (size_t)n * ir_dtype_size(dt);
    size_t rounded = (bytes + 63) & ~(size_t)63;
    t->data = alloc_data(rounded ? rounded : 64, &t->mapped);
    if (!t->data) {
        free(t);
        snprintf(err, errlen, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    return t;
}

void tensor_destroy(Tensor *t) {
    if (!t) return;
    if (t->release)
        t->release(t->release_ctx);
#ifdef __linux__
    else if (t->mapped)
        munmap(t->data, t->mapped);
#endif
    else
        free(t->data);
    free(t);
}

char *tensor_shape_str(const Tensor *t, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "%s[", ir_dtype_name(t->dtype));
    for (int i = 0; i < t->rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)t->dims[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}
