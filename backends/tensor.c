/* tensor.c — host tensors. Sizes are checked against IR_MAX_ELEMENTS so a hostile
 * .npy header or shape cannot ask for more memory than the machine has.
 *
 * Decision a newcomer may question: tensors of 4 MiB and more are mapped, 2 MiB aligned,
 * and advised onto transparent huge pages (as NumPy does). A fresh 51 MB GPT-2 logits
 * tensor otherwise takes 12,500 page faults on first touch, a fifth of its matmul; and
 * mapped memory is zero already, so it skips a memset.
 *
 * Freed mappings are kept (up to MAP_CACHE_MAX bytes) and handed to the next tensor of
 * the same mapped size: a training step's results are every weight and optimizer state
 * anew (1.5 GB for GPT-2 small), and the runtime frees the old ones right after, so
 * without the cache each step would fault all of it in again (and the kernel zero it). */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, madvise, MADV_HUGEPAGE */
#include "tensor.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

enum { HUGE_MIN = 4 << 20, HUGE_PAGE = 2 << 20, MAP_CACHE_SLOTS = 1024 };
#define MAP_CACHE_MAX ((size_t)2 << 30)

/* Freed mappings, oldest first; the oldest are unmapped to make room for a new one. */
static struct {
    pthread_mutex_t mu;
    void *p[MAP_CACHE_SLOTS];
    size_t len[MAP_CACHE_SLOTS], total;
    int n;
} cache = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void cache_drop(int i) { /* under the lock */
    cache.total -= cache.len[i];
    cache.n--;
    memmove(cache.p + i, cache.p + i + 1, sizeof cache.p[0] * (size_t)(cache.n - i));
    memmove(cache.len + i, cache.len + i + 1, sizeof cache.len[0] * (size_t)(cache.n - i));
}

/* A kept mapping of exactly `len` bytes (the newest), or NULL. */
static void *cache_take(size_t len) {
    void *p = NULL;
    pthread_mutex_lock(&cache.mu);
    for (int i = cache.n - 1; i >= 0 && !p; i--)
        if (cache.len[i] == len) p = cache.p[i], cache_drop(i);
    pthread_mutex_unlock(&cache.mu);
    return p;
}

static void release_mapping(void *p, size_t len) {
#ifdef __linux__
    if (len > MAP_CACHE_MAX) {
        munmap(p, len);
        return;
    }
    pthread_mutex_lock(&cache.mu);
    while (cache.n && (cache.n == MAP_CACHE_SLOTS || cache.total + len > MAP_CACHE_MAX)) {
        munmap(cache.p[0], cache.len[0]);
        cache_drop(0);
    }
    cache.p[cache.n] = p, cache.len[cache.n++] = len;
    cache.total += len;
    pthread_mutex_unlock(&cache.mu);
#else
    (void)p, (void)len;
#endif
}

/* 64-byte aligned memory of `bytes` (a multiple of 64), zeroed when `zero`; *mapped: the
 * length mapped (to munmap), or 0 when it came from aligned_alloc. */
static void *alloc_data(size_t bytes, bool zero, size_t *mapped) {
    *mapped = 0;
#ifdef __linux__
    if (bytes >= HUGE_MIN) {
        size_t len = (bytes + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1), over = len + HUGE_PAGE;
        char *kept = cache_take(len);
        if (kept) {
            if (zero) memset(kept, 0, bytes);
            *mapped = len;
            return kept;
        }
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
    if (p && zero) memset(p, 0, bytes);
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

static Tensor *create(IrDType dt, int rank, const int64_t *dims, bool zero, char *err, size_t errlen) {
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
    t->data = alloc_data(rounded ? rounded : 64, zero, &t->mapped);
    if (!t->data) {
        free(t);
        snprintf(err, errlen, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    return t;
}

Tensor *tensor_create(IrDType dt, int rank, const int64_t *dims, char *err, size_t errlen) {
    return create(dt, rank, dims, true, err, errlen);
}

Tensor *tensor_create_uninit(IrDType dt, int rank, const int64_t *dims, char *err, size_t errlen) {
    return create(dt, rank, dims, false, err, errlen);
}

void tensor_destroy(Tensor *t) {
    if (!t) return;
    if (t->release)
        t->release(t->release_ctx);
    else if (t->mapped)
        release_mapping(t->data, t->mapped);
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
