/* threadpool.c — a pthreads pool owned by one Backend: parallel-for over [0, n).
 *
 * The range is cut into contiguous chunks (up to `per_thread` per thread); the calling
 * thread and the workers take chunks from an atomic counter until none is left, then the
 * caller waits for the workers. Several chunks per thread let a thread whose core is
 * shared with another process do less (this machine's 2 cores are shared); the chunk
 * boundaries depend only on n, so results do not depend on who ran what. Workers sleep
 * on a condition variable between dispatches.
 * Decision a newcomer may question: workers block instead of spinning, after watching
 * for the next dispatch for ~30 us only. This machine's cores are shared (and PyTorch's
 * OpenMP spinning, for up to 200 ms, is what halves its speed here); the short watch
 * catches the next kernel of a model, which follows within microseconds (GPT-2's
 * forward: ~1 % faster), and small ranges below the grain run inline anyway.
 * Each thread also owns a scratch buffer (cpu_pool_scratch) that outlives dispatches:
 * matmul packs into it instead of allocating (and page-faulting) a buffer per call.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "cpu_cg.h"

struct CpuPool {
    int threads;
    pthread_t *tids;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    /* the current dispatch */
    uint64_t gen;
    int pending, chunks;
    atomic_int next; /* the next chunk to take */
    int64_t n;
    CpuTask fn;
    void *ctx;
    int64_t status;
    bool quit;
    void **scratch; /* per thread, cpu_pool_scratch */
    size_t *scratch_len;
};

typedef struct {
    CpuPool *p;
    int index; /* 1..threads-1 */
} Worker;

static void chunk(int64_t n, int chunks, int i, int64_t *lo, int64_t *hi) {
    *lo = n * i / chunks;
    *hi = n * (i + 1) / chunks;
}

/* Watch for the next dispatch a little while (SPIN_ROUNDS pauses, ~30 us) before going
 * to sleep: a model's kernels follow each other within microseconds, and a sleeping
 * worker joins each of them a futex wake-up late. Called and returns with p->mu held. */
enum { SPIN_ROUNDS = 2000 };
static void spin_for_next(CpuPool *p, uint64_t seen) {
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        if (__atomic_load_n(&p->gen, __ATOMIC_ACQUIRE) != seen || __atomic_load_n(&p->quit, __ATOMIC_ACQUIRE))
            break;
        __builtin_ia32_pause();
    }
    pthread_mutex_lock(&p->mu);
}

static void *worker_main(void *arg) {
    Worker *w = arg;
    CpuPool *p = w->p;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (!p->quit && p->gen == seen) spin_for_next(p, seen);
        while (!p->quit && p->gen == seen) pthread_cond_wait(&p->go, &p->mu);
        if (p->quit) break;
        seen = p->gen;
        CpuTask fn = p->fn;
        void *ctx = p->ctx;
        int64_t n = p->n;
        int chunks = p->chunks;
        pthread_mutex_unlock(&p->mu);
        int64_t st = 0;
        for (int c; (c = atomic_fetch_add(&p->next, 1)) < chunks;) {
            int64_t lo, hi;
            chunk(n, chunks, c, &lo, &hi);
            int64_t s = fn(ctx, lo, hi, w->index);
            if (s && (!st || s < st)) st = s;
        }
        pthread_mutex_lock(&p->mu);
        if (st && (!p->status || st < p->status)) p->status = st;
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    free(w);
    return NULL;
}

CpuPool *cpu_pool_create(int threads) {
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    if (threads > 256) threads = 256;
    CpuPool *p = xcalloc(1, sizeof *p);
    p->threads = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    p->tids = xcalloc((size_t)threads, sizeof *p->tids);
    p->scratch = xcalloc((size_t)threads, sizeof *p->scratch);
    p->scratch_len = xcalloc((size_t)threads, sizeof *p->scratch_len);
    for (int i = 1; i < threads; i++) {
        Worker *w = xmalloc(sizeof *w);
        *w = (Worker){p, i};
        if (pthread_create(&p->tids[i], NULL, worker_main, w) != 0) {
            free(w);
            p->threads = i; /* run with the workers we got */
            break;
        }
    }
    return p;
}

void cpu_pool_destroy(CpuPool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(&p->quit, true, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->threads; i++) pthread_join(p->tids[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    for (int i = 0; i < p->threads; i++) free(p->scratch[i]);
    free(p->scratch);
    free(p->scratch_len);
    free(p->tids);
    free(p);
}

int cpu_pool_threads(const CpuPool *p) { return p->threads; }

int64_t cpu_pool_for(CpuPool *p, int64_t n, int64_t grain, int per_thread, CpuTask fn,
                     void *ctx) {
    if (n <= 0) return 0;
    if (grain < 1) grain = 1;
    if (per_thread < 1) per_thread = 1;
    int64_t want = (n + grain - 1) / grain, most = (int64_t)p->threads * per_thread;
    int chunks = (int)(want < most ? want : most);
    if (chunks <= 1 || p->threads <= 1) return fn(ctx, 0, n, 0);
    pthread_mutex_lock(&p->mu);
    p->n = n;
    p->chunks = chunks;
    p->fn = fn;
    p->ctx = ctx;
    p->status = 0;
    atomic_store(&p->next, 0);
    p->pending = p->threads - 1;
    __atomic_store_n(&p->gen, p->gen + 1, __ATOMIC_RELEASE); /* spinning workers read it unlocked */
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    int64_t st = 0;
    for (int c; (c = atomic_fetch_add(&p->next, 1)) < chunks;) {
        int64_t lo, hi;
        chunk(n, chunks, c, &lo, &hi);
        int64_t s = fn(ctx, lo, hi, 0);
        if (s && (!st || s < st)) st = s;
    }
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    if (p->status && (!st || p->status < st)) st = p->status;
    pthread_mutex_unlock(&p->mu);
    return st;
}

void *cpu_pool_scratch(CpuPool *p, int thread, size_t bytes) {
    if (thread < 0 || thread >= p->threads) return NULL;
    if (p->scratch_len[thread] < bytes) {
        free(p->scratch[thread]);
        size_t rounded = (bytes + 63) & ~(size_t)63;
        p->scratch[thread] = aligned_alloc(64, rounded);
        p->scratch_len[thread] = p->scratch[thread] ? rounded : 0;
    }
    return p->scratch[thread];
}
