/* cpu_plan.c — from concrete shapes to kernel params, and the launch on the pool.
 *
 * The param layouts are those written beside CpuKind in cpu_cg.h. Strides are in
 * elements; a broadcast dim has stride 0, so broadcasting, transposes, slices and
 * splits are all the same strided copy with different strides and base offsets.
 *
 * Decision a newcomer may question: the grain (the least work worth a thread) is set so
 * that a chunk holds at least ~32K elements (or ~1M multiply-adds for matmul). Smaller
 * ops run on the calling thread: waking a worker costs more than they do, and small
 * tensors are where per-op overhead dominates (the grokking model).
 */
#include <stdlib.h>
#include <string.h>

#include "backends/ref/ref.h"
#include "cpu_cg.h"

enum { EW_MIN_CHUNK = 32768, MM_MIN_CHUNK = 1 << 20 };

typedef struct {
    CpuKernelFn fn;
    void **bufs;
    const int64_t *params;
} Call;

static int64_t call_task(void *ctx, int64_t lo, int64_t hi, int thread) {
    Call *c = ctx;
    (void)thread;
    return c->fn(c->bufs, c->params, lo, hi);
}

/* Run fn over [0, n) on the pool, or (ahead-of-time) record the call instead. */
static int64_t launch(const CpuLaunch *L, CpuKernelFn fn, void **bufs, int nbufs,
                      const int64_t *params, int nparams, int64_t n, int64_t grain, int per) {
    if (L->rec) return L->rec(L->rec_ctx, bufs, nbufs, params, nparams, 0, n), 0;
    Call c = {fn, bufs, params};
    return cpu_pool_for(L->pool, n, grain, per, call_task, &c);
}

static void contig_strides(int rank, const int64_t *dims, int64_t *s) {
    int64_t k = 1;
    for (int i = rank - 1; i >= 0; i--) {
        s[i] = k;
        k *= dims[i];
    }
}

static int64_t prod(const int64_t *d, int from, int to) {
    int64_t n = 1;
    for (int i = from; i < to; i++) n *= d[i];
    return n;
}

/* The EW params for an iteration space dims[R] (R >= 1): out base/strides, then inputs. */
typedef struct {
    int R, nt;
    int64_t p[IR_MAX_RANK + (CPU_EW_MAX_IN + 1) * (IR_MAX_RANK + 1) + 1]; /* + a fused reduction's count */
} EwParams;

static void ew_init(EwParams *e, int R, const int64_t *dims, int rank) {
    memset(e, 0, sizeof *e);
    e->R = R;
    for (int d = 0; d < R; d++) e->p[d] = 1;
    for (int d = 0; d < rank; d++) e->p[R - rank + d] = dims[d];
}

/* Add a tensor's base and strides (given for the last `rank` dims; the rest 0). */
static void ew_add(EwParams *e, int64_t base, const int64_t *strides, int rank) {
    int64_t *q = e->p + e->R + e->nt * (e->R + 1);
    q[0] = base;
    for (int d = 0; d < e->R; d++) q[1 + d] = 0;
    for (int d = 0; d < rank; d++) q[1 + e->R - rank + d] = strides[d];
    e->nt++;
}

static int64_t ew_launch(const CpuLaunch *L, CpuKernelFn fn, void **bufs, const EwParams *e) {
    int64_t inner = e->p[e->R - 1], rows = 1;
    for (int d = 0; d < e->R - 1; d++) rows *= e->p[d];
    if (rows == 0 || inner == 0) return 0;
    int64_t grain = inner >= EW_MIN_CHUNK ? 1 : EW_MIN_CHUNK / inner;
    return launch(L, fn, bufs, e->nt, e->p, e->R + e->nt * (e->R + 1), rows, grain, 4);
}

static bool ew(const CpuLaunch *L, const IrValue *v, const CpuKernelInfo *ki, CpuKernelFn fn,
               Tensor *const *a, Tensor *out, char *err, size_t errlen) {
    const IrAttrs *at = &v->attrs;
    int R = ki->rank;
    int64_t os[IR_MAX_RANK], is[IR_MAX_RANK];
    contig_strides(out->rank, out->dims, os);
    EwParams e;
    void *bufs[CPU_EW_MAX_IN + 1] = {out->data};
    int64_t st;
    if (v->op == OP_CONCAT) {
        int64_t pos = 0;
        for (int i = 0; i < v->nargs; i++) {
            ew_init(&e, R, a[i]->dims, a[i]->rank);
            ew_add(&e, pos * os[at->axis], os, out->rank);
            contig_strides(a[i]->rank, a[i]->dims, is);
            ew_add(&e, 0, is, a[i]->rank);
            bufs[1] = a[i]->data;
            if ((st = ew_launch(L, fn, bufs, &e))) break;
            pos += a[i]->dims[at->axis];
        }
        return true;
    }
    ew_init(&e, R, out->dims, out->rank);
    ew_add(&e, 0, os, out->rank);
    switch (v->op) {
    case OP_CONSTANT: case OP_ARANGE:
        break;
    case OP_RESHAPE:
        ew_add(&e, 0, os, out->rank);
        bufs[1] = a[0]->data;
        break;
    case OP_TRANSPOSE: {
        int64_t s[IR_MAX_RANK];
        if (L->in_strides)
            memcpy(is, L->in_strides, sizeof is[0] * (size_t)a[0]->rank);
        else
            contig_strides(a[0]->rank, a[0]->dims, is);
        for (int j = 0; j < out->rank; j++) s[j] = is[at->ints[j]];
        ew_add(&e, 0, s, out->rank);
        bufs[1] = a[0]->data;
        break;
    }
    case OP_SLICE: case OP_SPLIT: {
        contig_strides(a[0]->rank, a[0]->dims, is);
        int64_t start = v->op == OP_SLICE ? at->start : at->index * (a[0]->dims[at->axis] / at->parts);
        ew_add(&e, start * is[at->axis], is, a[0]->rank);
        bufs[1] = a[0]->data;
        break;
    }
    default: /* unary, binary, where, cast, broadcast, fused: NumPy broadcasting */
        for (int i = 0; i < v->nargs; i++) {
            int64_t s[IR_MAX_RANK];
            ref_broadcast_strides(a[i]->rank, a[i]->dims, out->rank, out->dims, s);
            ew_add(&e, 0, s, out->rank);
            bufs[1 + i] = a[i]->data;
        }
    }
    st = ew_launch(L, fn, bufs, &e);
    if (st == 1 || st == 2) { /* find the first bad element, for the reference's message */
        int64_t sx[IR_MAX_RANK], sy[IR_MAX_RANK], n = tensor_numel(out);
        ref_broadcast_strides(a[0]->rank, a[0]->dims, out->rank, out->dims, sx);
        ref_broadcast_strides(a[1]->rank, a[1]->dims, out->rank, out->dims, sy);
        for (int64_t i = 0; i < n; i++) {
            int32_t y = ((const int32_t *)a[1]->data)[ref_broadcast_offset(i, out->rank, out->dims, sy)];
            int32_t x = ((const int32_t *)a[0]->data)[ref_broadcast_offset(i, out->rank, out->dims, sx)];
            if (st == 1 && y == 0) {
                snprintf(err, errlen, "integer division by zero (dividing %lld by 0)", (long long)x);
                return false;
            }
            if (st == 2 && y < 0) {
                snprintf(err, errlen, "integer %lld raised to the negative power %lld "
                         "(cast to f32 first)", (long long)x, (long long)y);
                return false;
            }
        }
        snprintf(err, errlen, "integer %s", st == 1 ? "division by zero" : "negative power");
        return false;
    }
    return true;
}

static bool reduce(const CpuLaunch *L, const IrValue *v, const CpuKernelInfo *ki, CpuKernelFn fn,
                   const Tensor *x, Tensor *out) {
    const IrAttrs *at = &v->attrs;
    int RK = ki->rank, RR = ki->rrank;
    int64_t xs[IR_MAX_RANK], p[4 * IR_MAX_RANK + 1];
    contig_strides(x->rank, x->dims, xs);
    int nk = 0, nr = 0;
    int64_t kd[IR_MAX_RANK], ks[IR_MAX_RANK], rd[IR_MAX_RANK], rs[IR_MAX_RANK], count = 1;
    for (int i = 0, j = 0; i < x->rank; i++) {
        bool red = j < at->nints && at->ints[j] == i;
        if (red) {
            j++;
            rd[nr] = x->dims[i], rs[nr++] = xs[i];
            count *= x->dims[i];
        } else {
            kd[nk] = x->dims[i], ks[nk++] = xs[i];
        }
    }
    if (nk == 0) kd[0] = 1, ks[0] = 0, nk = 1;
    if (nr == 0) rd[0] = 1, rs[0] = 0, nr = 1;
    for (int d = 0; d < RK; d++) p[d] = kd[d], p[RK + d] = ks[d];
    for (int d = 0; d < RR; d++) p[2 * RK + d] = rd[d], p[2 * RK + RR + d] = rs[d];
    p[2 * RK + 2 * RR] = count;
    void *bufs[2] = {out->data, x->data};
    int64_t nout = tensor_numel(out);
    int64_t grain = count >= EW_MIN_CHUNK ? 1 : EW_MIN_CHUNK / (count ? count : 1);
    launch(L, fn, bufs, 2, p, 2 * RK + 2 * RR + 1, nout, grain, 4);
    return true;
}

/* A fused matmul's epilogue: an EW kernel over the output's iteration space (R = its
 * rank; a row is every dim but the last), whose tensors are the output, the product (the
 * output itself: each element is read, then overwritten) and the epilogue's operands
 * with their broadcast strides. Bases are for column 0; a block of columns [c0, c1) of
 * rows [r0, r1) is the same params with the last dim c1 - c0 and each base moved by c0
 * times its last stride, run over rows [r0, r1). */
typedef struct {
    CpuKernelFn fn;
    int nbufs;
    void *bufs[CPU_EW_MAX_IN + 1];
    EwParams e;
} Epilogue;

static void epilogue_init(Epilogue *ep, CpuKernelFn fn, const CpuKernelInfo *ki, Tensor *const *a,
                          Tensor *out) {
    int64_t os[IR_MAX_RANK], s[IR_MAX_RANK];
    contig_strides(out->rank, out->dims, os);
    ep->fn = fn;
    ew_init(&ep->e, out->rank, out->dims, out->rank);
    ew_add(&ep->e, 0, os, out->rank);
    ew_add(&ep->e, 0, os, out->rank);
    ep->bufs[0] = ep->bufs[1] = out->data;
    ep->nbufs = 2;
    for (int k = 0; k < ki->epi_nargs; k++) {
        const Tensor *t = a[ki->epi_args[k]];
        ref_broadcast_strides(t->rank, t->dims, out->rank, out->dims, s);
        ew_add(&ep->e, 0, s, out->rank);
        ep->bufs[ep->nbufs++] = t->data;
    }
}

/* The epilogue on columns [c0, c1) of output rows [r0, r1). */
static int64_t epilogue_block(const Epilogue *ep, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    EwParams e = ep->e;
    int R = e.R;
    e.p[R - 1] = c1 - c0;
    for (int k = 0; k < e.nt; k++) {
        int64_t *q = e.p + R + k * (R + 1);
        q[0] += c0 * q[R]; /* base += c0 * the last axis' stride */
    }
    return ep->fn((void **)ep->bufs, e.p, r0, r1);
}

/* Matmul over (batch, row block, column) triples: the range is batches * nrb * N, where
 * tall matrices are cut into row blocks of MB rows. The kernel's own range is columns, so
 * without row blocks a tall-skinny product (M = 11490, N = 128) would give each thread a
 * sliver of columns and make it repack all of A. */
typedef struct {
    CpuKernelFn fn;
    CpuPool *pool; /* for each thread's packing scratch; NULL: the kernel allocates */
    const Tensor *x, *y;
    Tensor *out;
    int br;
    bool ta;
    int64_t sx[IR_MAX_RANK], sy[IR_MAX_RANK], p[7], mb, nrb;
    const Epilogue *epi; /* NULL: a plain matmul */
} MatmulCall;

/* The buffers and params of one (batch, row block) of m (scratch: none). */
static void matmul_piece(const MatmulCall *m, int64_t b, int64_t rb, void **bufs, int64_t *p) {
    int64_t M = m->p[0], N = m->p[1], K = m->p[2];
    int64_t xb = ref_broadcast_offset(b, m->br, m->out->dims, m->sx) * M * K;
    int64_t yb = ref_broadcast_offset(b, m->br, m->out->dims, m->sy) * K * N;
    int64_t r0 = rb * m->mb, rows = M - r0 < m->mb ? M - r0 : m->mb;
    /* row r0 of A: A[r0 * lda] stored plainly, A[r0] when stored transposed */
    int64_t aoff = m->ta ? r0 : r0 * m->p[3];
    bufs[0] = (float *)m->x->data + xb + aoff;
    bufs[1] = (float *)m->y->data + yb;
    bufs[2] = (float *)m->out->data + b * M * N + r0 * N;
    bufs[3] = NULL;
    memcpy(p, m->p, sizeof m->p);
    p[0] = rows;
    p[6] = 0;
}

static int64_t matmul_task(void *ctx, int64_t lo, int64_t hi, int thread) {
    MatmulCall *m = ctx;
    int64_t N = m->p[1];
    size_t bytes = sizeof(float) * CPU_MM_SCRATCH_FLOATS;
    void *scratch = m->pool ? cpu_pool_scratch(m->pool, thread, bytes) : NULL;
    while (lo < hi) {
        int64_t piece = lo / N, c0 = lo % N, c1 = c0 + (hi - lo) < N ? c0 + (hi - lo) : N;
        void *bufs[4];
        int64_t p[7];
        int64_t b = piece / m->nrb, rb = piece % m->nrb;
        matmul_piece(m, b, rb, bufs, p);
        bufs[3] = scratch;
        p[6] = scratch ? CPU_MM_SCRATCH_FLOATS : 0;
        int64_t st = m->fn(bufs, p, c0, c1);
        if (!st && m->epi) { /* while the block is in cache: its output rows are b*M + r */
            int64_t r0 = b * m->p[0] + rb * m->mb;
            st = epilogue_block(m->epi, r0, r0 + p[0], c0, c1);
        }
        if (st) return st;
        lo += c1 - c0;
    }
    return 0;
}

static bool matmul(const CpuLaunch *L, const CpuKernelInfo *ki, CpuKernelFn fn, const Tensor *x,
                   const Tensor *y, Tensor *out, const Epilogue *epi) {
    MatmulCall m = {.fn = fn, .pool = L->pool, .x = x, .y = y, .out = out, .br = out->rank - 2,
                    .ta = ki->trans_a, .epi = epi};
    int64_t M = x->dims[x->rank - 2], K = x->dims[x->rank - 1], N = y->dims[y->rank - 1];
    ref_broadcast_strides(x->rank - 2, x->dims, m.br, out->dims, m.sx);
    ref_broadcast_strides(y->rank - 2, y->dims, m.br, out->dims, m.sy);
    int64_t batches = prod(out->dims, 0, m.br);
    /* x[B, T, K] @ w[K, N]: w is the same for every batch, so the batches are rows of
     * one [B*T, K] @ [K, N] matmul (B packed once, more rows per packed panel). */
    bool y_shared = true, x_full = x->rank - 2 == m.br;
    for (int i = 0; i < m.br; i++) y_shared = y_shared && m.sy[i] == 0;
    for (int i = 0; x_full && i < m.br; i++) x_full = x->dims[i] == out->dims[i];
    if (batches > 1 && y_shared && x_full && !ki->trans_a) {
        M *= batches;
        batches = 1;
        m.br = 0;
    }
    int64_t p[7] = {M, N, K, ki->trans_a ? M : K, ki->trans_b ? K : N, N, 0};
    memcpy(m.p, p, sizeof p);
    if (M == 0 || N == 0 || batches == 0) return true;
    m.mb = M > 1024 && M > 4 * N ? 512 : M;
    m.nrb = (M + m.mb - 1) / m.mb;
    if (L->rec) {
        for (int64_t b = 0; b < batches; b++)
            for (int64_t rb = 0; rb < m.nrb; rb++) {
                void *bufs[4];
                int64_t pp[7];
                matmul_piece(&m, b, rb, bufs, pp);
                L->rec(L->rec_ctx, bufs, 4, pp, 7, 0, N);
            }
        if (epi) { /* recorded after the whole product: the same result, less cache reuse */
            L->rec_kernel(L->rec_ctx, ki->epi);
            L->rec(L->rec_ctx, (void **)epi->bufs, epi->nbufs, epi->e.p, epi->e.R + epi->e.nt * (epi->e.R + 1),
                   0, prod(out->dims, 0, out->rank - 1));
        }
        return true;
    }
    int64_t col = m.mb * (K ? K : 1);
    int64_t grain = col >= MM_MIN_CHUNK ? 1 : MM_MIN_CHUNK / col;
    /* every chunk repacks A: at least 512 columns of B per chunk keep that small */
    int64_t total = batches * m.nrb * N, th = cpu_pool_threads(L->pool);
    int64_t share = (total + th - 1) / th; /* never fewer chunks than threads for this */
    if (grain < 512 && N >= 512) grain = 512 < share ? 512 : share;
    cpu_pool_for(L->pool, total, grain, 2, matmul_task, &m);
    return true;
}

/* Attention over (batch, row) pairs: the range is batches * rows (query rows, or key rows
 * for d k and d v), and the kernel cuts its chunk at batch boundaries itself, stepping
 * each operand by its batch stride. q, k, v, o, do, lse and the output have equal batch
 * dims (no broadcasting); only the bias broadcasts, and its batch offset is given to the
 * kernel in two levels, (b / nin) sout + (b % nin) sin over the last batch dim (nin) and
 * the rest: that covers a bias over [B, H], [B, 1] (the usual [B, 1, 1, Tk] mask), [1, H]
 * or none. Any other broadcast (the outer batch dims not one contiguous run) is called
 * per batch with its offset from ref_broadcast_offset, as before. */
typedef struct {
    CpuKernelFn fn;
    Tensor *const *a;
    Tensor *out;
    int nargs, br;
    bool bias;
    int64_t batches, rows, p[CPU_ATT_NPARAMS], sdims[IR_MAX_RANK], bs[IR_MAX_RANK];
} AttnCall;

/* bufs: out, then the operands in order, the bias last; batch b's pointers when b >= 0 */
static void attn_bufs(const AttnCall *m, int64_t b, void **bufs) {
    int64_t bb = b < 0 ? 0 : b;
    bufs[0] = (float *)m->out->data + m->p[CPU_ATT_STRIDE] * bb;
    int nops = m->bias ? m->nargs - 1 : m->nargs;
    for (int i = 0; i < nops; i++) bufs[1 + i] = (float *)m->a[i]->data + m->p[CPU_ATT_STRIDE + 1 + i] * bb;
    if (m->bias)
        bufs[m->nargs] = (float *)m->a[m->nargs - 1]->data +
                         (b < 0 ? 0 : ref_broadcast_offset(b, m->br, m->sdims, m->bs));
}

/* the per-batch fallback: a chunk that crosses a batch boundary is cut there (each
 * piece's range stays in [0, rows), so the kernel's own batch loop sees batch 0) */
static int64_t attn_task(void *ctx, int64_t lo, int64_t hi, int thread) {
    (void)thread; /* attention kernels take no scratch from the pool */
    AttnCall *m = ctx;
    while (lo < hi) {
        int64_t b = lo / m->rows, r0 = lo % m->rows, r1 = r0 + (hi - lo) < m->rows ? r0 + (hi - lo) : m->rows;
        void *bufs[8];
        attn_bufs(m, b, bufs);
        int64_t st = m->fn(bufs, m->p, r0, r1);
        if (st) return st;
        lo += r1 - r0;
    }
    return 0;
}

static bool attention(const CpuLaunch *L, const IrValue *v, CpuKernelFn fn, Tensor *const *a,
                      Tensor *out) {
    int base = v->op == OP_ATTENTION ? 3 : v->op == OP_ATTENTION_LSE ? 2 : 6;
    const Tensor *q = a[0], *k = a[1];
    int r = q->rank;
    AttnCall m = {.fn = fn, .a = a, .out = out, .nargs = v->nargs, .br = r - 2,
                  .bias = v->nargs > base};
    int64_t Tq = q->dims[r - 2], Tk = k->dims[r - 2], D = q->dims[r - 1];
    int64_t Dv = v->op == OP_ATTENTION_LSE ? 0 : a[2]->dims[r - 1];
    memcpy(m.sdims, q->dims, sizeof m.sdims[0] * (size_t)r);
    m.sdims[r - 1] = Tk;
    if (m.bias) {
        const Tensor *bias = a[v->nargs - 1];
        ref_broadcast_strides(bias->rank, bias->dims, r, m.sdims, m.bs);
    }
    bool keys = v->op == OP_ATTENTION_GRAD && v->attrs.index > 0;
    m.rows = keys ? Tk : Tq;
    int64_t batches = m.batches = prod(q->dims, 0, r - 2);
    if (batches == 0 || m.rows == 0) return true;
    int64_t p[6] = {Tq, Tk, D, Dv, m.bias ? m.bs[r - 2] : 0, m.bias ? m.bs[r - 1] : 0};
    memcpy(m.p, p, sizeof p);
    m.p[CPU_ATT_ROWS] = m.rows;
    m.p[CPU_ATT_STRIDE] = tensor_numel(out) / batches;
    for (int i = 0; i < (m.bias ? v->nargs - 1 : v->nargs); i++)
        m.p[CPU_ATT_STRIDE + 1 + i] = tensor_numel(a[i]) / batches;
    /* the bias in two levels: nin = the last batch dim, sout = the offset of batch nin;
     * the outer dims must then step by sout times the batches inside them */
    bool whole = true;
    m.p[CPU_ATT_BIAS_NIN] = 1;
    if (m.bias && r > 2) {
        int64_t nin = m.sdims[r - 3], sout = batches > nin ? ref_broadcast_offset(nin, m.br, m.sdims, m.bs) : 0;
        m.p[CPU_ATT_BIAS_NIN] = nin, m.p[CPU_ATT_BIAS_SIN] = m.bs[r - 3], m.p[CPU_ATT_BIAS_SOUT] = sout;
        int64_t inner = 1;
        for (int d = r - 4; d >= 0; inner *= m.sdims[d], d--)
            if (m.sdims[d] != 1 && m.bs[d] != sout * inner) whole = false;
    }
    if (L->rec) {
        if (whole) {
            void *bufs[8];
            attn_bufs(&m, -1, bufs);
            L->rec(L->rec_ctx, bufs, v->nargs + 1, m.p, CPU_ATT_NPARAMS, 0, batches * m.rows);
            return true;
        }
        for (int64_t b = 0; b < batches; b++) {
            void *bufs[8];
            attn_bufs(&m, b, bufs);
            L->rec(L->rec_ctx, bufs, v->nargs + 1, m.p, CPU_ATT_NPARAMS, 0, m.rows);
        }
        return true;
    }
    /* a row costs ~2 (D + Dv) flops per key of the other side: chunks of ~1M flops, and
     * at least 16 rows (a query block) */
    int64_t per_row = 2 * (D + Dv + 1) * ((keys ? Tq : Tk) + 1);
    int64_t grain = MM_MIN_CHUNK / per_row;
    if (grain < 16) grain = 16;
    if (whole) {
        void *bufs[8];
        attn_bufs(&m, -1, bufs);
        Call c = {fn, bufs, m.p};
        cpu_pool_for(L->pool, batches * m.rows, grain, 4, call_task, &c);
        return true;
    }
    cpu_pool_for(L->pool, batches * m.rows, grain, 4, attn_task, &m);
    return true;
}

void cpu_plan_sum_matmul_views(const Tensor *x, const Tensor *dy, Tensor *xa, Tensor *yb,
                               Tensor *mm) {
    int r = x->rank;
    int64_t bt = prod(x->dims, 0, r - 1), C = x->dims[r - 1], N = dy->dims[r - 1];
    *xa = (Tensor){.dtype = x->dtype, .rank = 2, .dims = {C, bt}, .data = x->data};
    *yb = (Tensor){.dtype = dy->dtype, .rank = 2, .dims = {bt, N}, .data = dy->data};
    *mm = *x;
    mm->dims[r - 2] = C;
    mm->dims[r - 1] = N;
}

/* X (the reduction operand of the body) is the broadcast of the inputs, right-aligned. */
static bool fused_reduce(const CpuLaunch *L, const IrValue *v, const CpuKernelInfo *ki, CpuKernelFn fn,
                         Tensor *const *a, Tensor *out) {
    int R = ki->rank, RK = R - ki->rrank;
    int64_t x[IR_MAX_RANK];
    for (int d = 0; d < R; d++) x[d] = 1;
    for (int i = 0; i < v->nargs; i++)
        for (int d = 0; d < a[i]->rank; d++)
            if (a[i]->dims[d] != 1) x[R - a[i]->rank + d] = a[i]->dims[d];
    EwParams e;
    ew_init(&e, R, x, R);
    void *bufs[CPU_EW_MAX_IN + 1] = {out->data};
    for (int i = 0; i < v->nargs; i++) {
        int64_t s[IR_MAX_RANK];
        ref_broadcast_strides(a[i]->rank, a[i]->dims, R, x, s);
        ew_add(&e, 0, s, R);
        bufs[1 + i] = a[i]->data;
    }
    int64_t nout = prod(x, 0, RK), count = prod(x, RK, R);
    e.p[R + e.nt * (R + 1)] = count;
    if (nout == 0) return true;
    int64_t grain = count >= EW_MIN_CHUNK ? 1 : EW_MIN_CHUNK / (count ? count : 1);
    launch(L, fn, bufs, 1 + v->nargs, e.p, R + e.nt * (R + 1) + 1, nout, grain, 4);
    return true;
}

bool cpu_plan_launch(const CpuLaunch *L, const IrValue *v, const CpuKernelInfo *ki, CpuKernelFn fn,
                     Tensor *const *a, Tensor *out, char *err, size_t errlen) {
    switch (ki->kind) {
    case CPU_K_FUSED_REDUCE:
        return fused_reduce(L, v, ki, fn, a, out);
    case CPU_K_EW: case CPU_K_FUSED_SOFTMAX:
        return ew(L, v, ki, fn, a, out, err, errlen);
    case CPU_K_REDUCE:
        return reduce(L, v, ki, fn, a[0], out);
    case CPU_K_COLREDUCE: {
        int64_t cols = tensor_numel(out), rows = prod(a[0]->dims, 0, v->attrs.nints);
        int64_t p[3] = {rows, cols, rows};
        void *bufs[2] = {out->data, a[0]->data};
        /* at least 256 columns (and ~32K elements) per thread */
        int64_t grain = rows * 256 >= EW_MIN_CHUNK ? 256 : EW_MIN_CHUNK / (rows ? rows : 1);
        launch(L, fn, bufs, 2, p, 3, cols, grain, 4);
        return true;
    }
    case CPU_K_MATMUL: {
        if (!ki->epi[0]) return matmul(L, ki, fn, a[0], a[1], out, NULL);
        /* a fused op: x and y are two of its operands, stored transposed when trans_a /
         * trans_b (the matmul is planned on their logical shapes) */
        Tensor xy[2] = {*a[ki->mm_x], *a[ki->mm_y]};
        for (int i = 0; i < 2; i++)
            if (i ? ki->trans_b : ki->trans_a) {
                int r = xy[i].rank;
                int64_t d = xy[i].dims[r - 2];
                xy[i].dims[r - 2] = xy[i].dims[r - 1];
                xy[i].dims[r - 1] = d;
            }
        Epilogue ep;
        epilogue_init(&ep, L->epi, ki, a, out);
        return matmul(L, ki, fn, &xy[0], &xy[1], out, &ep);
    }
    case CPU_K_ATTENTION:
        return attention(L, v, fn, a, out);
    case CPU_K_SOFTMAX: {
        int64_t ax = v->attrs.axis;
        int64_t p[3] = {prod(out->dims, 0, (int)ax), out->dims[ax], prod(out->dims, (int)ax + 1, out->rank)};
        void *bufs[2] = {out->data, a[0]->data};
        int64_t rows = p[0] * p[2];
        launch(L, fn, bufs, 2, p, 3, rows, p[1] >= EW_MIN_CHUNK ? 1 : EW_MIN_CHUNK / (p[1] ? p[1] : 1), 4);
        return true;
    }
    case CPU_K_LAYERNORM: {
        int64_t C = out->dims[out->rank - 1];
        int64_t p[1] = {C}, rows = C ? tensor_numel(out) / C : 0;
        void *bufs[4] = {out->data, a[0]->data, a[1]->data, a[2]->data};
        launch(L, fn, bufs, 4, p, 1, rows, C >= EW_MIN_CHUNK ? 1 : EW_MIN_CHUNK / (C ? C : 1), 4);
        return true;
    }
    case CPU_K_XENT: {
        const Tensor *lg = a[0], *tg = a[1];
        int64_t p[2] = {lg->dims[lg->rank - 1], tensor_numel(tg)};
        void *bufs[3] = {out->data, lg->data, tg->data};
        int64_t st = launch(L, fn, bufs, 3, p, 2, 1, 1, 1);
        if (st) {
            int64_t pos = st - 1;
            snprintf(err, errlen,
                     "cross_entropy target %d at position %lld is out of range: the logits "
                     "have %lld classes (valid: 0..%lld)",
                     ((const int32_t *)tg->data)[pos], (long long)pos, (long long)p[0],
                     (long long)p[0] - 1);
            return false;
        }
        return true;
    }
    case CPU_K_GATHER: {
        const Tensor *tab = a[0], *ix = a[1];
        int64_t p[3] = {tab->dims[0], prod(tab->dims, 1, tab->rank), tensor_numel(ix)};
        void *bufs[3] = {out->data, tab->data, ix->data};
        int64_t st = launch(L, fn, bufs, 3, p, 3, p[2], p[1] >= EW_MIN_CHUNK ? 1 : EW_MIN_CHUNK / (p[1] ? p[1] : 1), 4);
        if (st) {
            int64_t pos = st - 1;
            snprintf(err, errlen,
                     "gather index %d at position %lld of the indices is out of range: the "
                     "table has %lld rows (valid: 0..%lld)",
                     ((const int32_t *)ix->data)[pos], (long long)pos, (long long)p[0],
                     (long long)p[0] - 1);
            return false;
        }
        return true;
    }
    case CPU_K_SCATTER: {
        const Tensor *ix = a[0], *upd = a[1];
        int64_t p[3] = {out->dims[0], prod(out->dims, 1, out->rank), tensor_numel(ix)};
        if (tensor_numel(upd) != p[2] * p[1]) {
            snprintf(err, errlen, "scatter_add: %lld updates do not fill %lld indices of rows of %lld",
                     (long long)tensor_numel(upd), (long long)p[2], (long long)p[1]);
            return false;
        }
        void *bufs[3] = {out->data, ix->data, upd->data};
        int64_t work = p[2] + p[0];
        int64_t grain = work >= EW_MIN_CHUNK ? 16 : EW_MIN_CHUNK / (work ? work : 1);
        int64_t st = launch(L, fn, bufs, 3, p, 3, p[1], grain, 4);
        if (st) {
            int64_t pos = st - 1;
            snprintf(err, errlen,
                     "scatter_add index %d at position %lld is out of range: the table has "
                     "%lld rows (valid: 0..%lld)",
                     ((const int32_t *)ix->data)[pos], (long long)pos, (long long)p[0],
                     (long long)p[0] - 1);
            return false;
        }
        return true;
    }
    }
    snprintf(err, errlen, "cpu backend: unknown kernel kind");
    return false;
}
