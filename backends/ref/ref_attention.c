/* ref_attention.c — the fused attention ops, in double, one score row at a time:
 *
 *   attention(q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] [, bias]) -> [..., Tq, Dv]
 *   attention_lse(q, k [, bias]) -> [..., Tq]
 *   attention_grad(q, k, v, o, do, lse [, bias]) {index} -> dq, dk or dv
 *
 * The score row of query i is S[j] = scale * q_i . k_j + bias[i, j], and -inf where the
 * causal mask hides key j (j > i + Tk - Tq). The forward is the unfused graph's softmax
 * exactly (ref_nn.c): the row max is subtracted first, and a row of -inf uses 0 as its
 * max, so a query that sees no key gives sum 0: NaN outputs and lse = -inf.
 *
 * Decision a newcomer may question: the gradient uses the lse and o it is given (P =
 * exp(S - lse), D_i = do_i . o_i), not values it recomputes. That is the op's definition
 * and what the fused kernels do; the oracle must check the same function. dK and dV sum
 * over queries, so one batch's [Tk, D] rows are accumulated in double before the single
 * rounding; only a row of scores is ever held, never Tq x Tk.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

typedef struct {
    const Tensor *q, *k, *v, *o, *dout, *lse, *bias;
    int r;                        /* rank of q */
    int64_t Tq, Tk, D, Dv, batches;
    int64_t bs[IR_MAX_RANK];      /* bias strides within the scores [..., Tq, Tk] */
    int64_t sdims[IR_MAX_RANK];   /* the scores' dims */
    double scale;
    bool causal;
} Att;

static void att_init(Att *a, const IrValue *v, Tensor *const *t) {
    memset(a, 0, sizeof *a);
    int nb = v->op == OP_ATTENTION ? 3 : v->op == OP_ATTENTION_LSE ? 2 : 6;
    a->q = t[0], a->k = t[1];
    if (v->op != OP_ATTENTION_LSE) a->v = t[2];
    if (v->op == OP_ATTENTION_GRAD) a->o = t[3], a->dout = t[4], a->lse = t[5];
    if (v->nargs > nb) a->bias = t[nb];
    a->r = a->q->rank;
    a->Tq = a->q->dims[a->r - 2], a->D = a->q->dims[a->r - 1], a->Tk = a->k->dims[a->r - 2];
    a->Dv = a->v ? a->v->dims[a->r - 1] : 0;
    a->batches = 1;
    for (int i = 0; i < a->r - 2; i++) a->batches *= a->q->dims[i];
    memcpy(a->sdims, a->q->dims, sizeof a->sdims[0] * (size_t)a->r);
    a->sdims[a->r - 1] = a->Tk;
    if (a->bias) ref_broadcast_strides(a->bias->rank, a->bias->dims, a->r, a->sdims, a->bs);
    a->scale = v->attrs.scale;
    a->causal = v->attrs.causal;
}

/* S[j] for query i of batch b: scaled, biased, masked. */
static void score_row(const Att *a, int64_t b, int64_t i, double *s) {
    int64_t qo = (b * a->Tq + i) * a->D, kb = b * a->Tk * a->D;
    int64_t boff = a->bias ? ref_broadcast_offset(b, a->r - 2, a->sdims, a->bs) + i * a->bs[a->r - 2] : 0;
    for (int64_t j = 0; j < a->Tk; j++) {
        if (a->causal && j > i + a->Tk - a->Tq) {
            s[j] = -INFINITY;
            continue;
        }
        double dot = 0;
        for (int64_t d = 0; d < a->D; d++)
            dot += ref_load(a->q, qo + d) * ref_load(a->k, kb + j * a->D + d);
        s[j] = a->scale * dot;
        if (a->bias) s[j] += ref_load(a->bias, boff + j * a->bs[a->r - 1]);
    }
}

/* The softmax normaliser of a row: its max (0 for a row of -inf, NaN if any is NaN) and
 * sum of exp(s - max). */
static void row_stats(const Att *a, const double *s, double *mx, double *sum) {
    double m = -INFINITY;
    for (int64_t j = 0; j < a->Tk; j++)
        if (s[j] > m || isnan(s[j])) m = s[j];
    if (isinf(m) && m < 0) m = 0;
    double t = 0;
    for (int64_t j = 0; j < a->Tk; j++) t += exp(s[j] - m);
    *mx = m, *sum = t;
}

static void forward(const Att *a, bool lse_only, Tensor *out, double *s) {
    for (int64_t b = 0; b < a->batches; b++)
        for (int64_t i = 0; i < a->Tq; i++) {
            double mx, sum;
            score_row(a, b, i, s);
            row_stats(a, s, &mx, &sum);
            int64_t row = b * a->Tq + i;
            if (lse_only) {
                ref_store(out, row, mx + log(sum));
                continue;
            }
            for (int64_t e = 0; e < a->Dv; e++) {
                double acc = 0;
                for (int64_t j = 0; j < a->Tk; j++)
                    acc += exp(s[j] - mx) / sum * ref_load(a->v, (b * a->Tk + j) * a->Dv + e);
                ref_store(out, row * a->Dv + e, acc);
            }
        }
}

/* dS[j] = P[j] (dP[j] - D_i) for query i, with P = exp(S - lse_i), dP[j] = do_i . v_j,
 * D_i = do_i . o_i; s holds S on entry, P on return. */
static void ds_row(const Att *a, int64_t b, int64_t i, double *s, double *ds) {
    int64_t row = b * a->Tq + i;
    double lse = ref_load(a->lse, row), di = 0;
    for (int64_t e = 0; e < a->Dv; e++)
        di += ref_load(a->dout, row * a->Dv + e) * ref_load(a->o, row * a->Dv + e);
    for (int64_t j = 0; j < a->Tk; j++) {
        double dp = 0;
        for (int64_t e = 0; e < a->Dv; e++)
            dp += ref_load(a->dout, row * a->Dv + e) * ref_load(a->v, (b * a->Tk + j) * a->Dv + e);
        s[j] = exp(s[j] - lse);
        ds[j] = s[j] * (dp - di);
    }
}

static void backward(const Att *a, int64_t index, Tensor *out, double *s, double *ds) {
    /* index 0: dq [Tq, D] rows; 1: dk [Tk, D]; 2: dv [Tk, Dv] */
    int64_t rows = index == 0 ? a->Tq : a->Tk, cols = index == 2 ? a->Dv : a->D;
    int64_t n = rows * cols;
    double *acc = xcalloc((size_t)(n > 0 ? n : 1), sizeof *acc);
    for (int64_t b = 0; b < a->batches; b++) {
        memset(acc, 0, sizeof *acc * (size_t)n);
        for (int64_t i = 0; i < a->Tq; i++) {
            score_row(a, b, i, s);
            ds_row(a, b, i, s, ds);
            int64_t qrow = (b * a->Tq + i);
            for (int64_t j = 0; j < a->Tk; j++) {
                int64_t krow = b * a->Tk + j;
                for (int64_t c = 0; c < cols; c++) {
                    if (index == 0)
                        acc[i * cols + c] += a->scale * ds[j] * ref_load(a->k, krow * a->D + c);
                    else if (index == 1)
                        acc[j * cols + c] += a->scale * ds[j] * ref_load(a->q, qrow * a->D + c);
                    else
                        acc[j * cols + c] += s[j] * ref_load(a->dout, qrow * a->Dv + c);
                }
            }
        }
        for (int64_t x = 0; x < n; x++) ref_store(out, b * rows * cols + x, acc[x]);
    }
    free(acc);
}

bool ref_eval_attention(const IrValue *v, Tensor *const *args, Tensor *out) {
    Att a;
    att_init(&a, v, args);
    double *s = xmalloc(sizeof *s * (size_t)(a.Tk ? 2 * a.Tk : 1));
    if (v->op == OP_ATTENTION_GRAD)
        backward(&a, v->attrs.index, out, s, s + a.Tk);
    else
        forward(&a, v->op == OP_ATTENTION_LSE, out, s);
    free(s);
    return true;
}
