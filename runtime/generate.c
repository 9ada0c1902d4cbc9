/* generate.c — the generation loop (contract in generate.h): compile once, run one
 * position per step, keep the KV cache on the host, pick the next token.
 *
 * Decisions a newcomer may question:
 * - The cache lives in the runtime as an ordinary input tensor, and the decode function
 *   returns only this step's k and v ([L, 2, B, H, 1, D]), which the loop copies into
 *   the cache at `pos`. Returning the whole updated cache would copy it every step, and
 *   modelling it as weights updated in place would fix the batch size in the model.
 * - The cache has S = prompt + new tokens positions, not n_ctx: attention over the
 *   cache costs S per step, and S is a symbolic dim, so the compiled function serves
 *   any S. Positions after `pos` are masked with -inf through `mask`.
 */
#include "generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_run.h"
#include "targets.h"

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct {
    float p;
    int32_t id;
} Cand;

static int cand_desc(const void *a, const void *b) {
    const Cand *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The next id from logits[0..v). */
static int32_t pick(const float *logits, int32_t v, const RtGenerateOptions *o, uint64_t *rng) {
    int32_t best = 0;
    for (int32_t i = 1; i < v; i++)
        if (logits[i] > logits[best]) best = i;
    if (o->temperature <= 0) return best;
    Cand *c = xmalloc(sizeof *c * (size_t)v);
    for (int32_t i = 0; i < v; i++) c[i] = (Cand){logits[i], i};
    int32_t k = v;
    if (o->top_k > 0 && o->top_k < v) {
        qsort(c, (size_t)v, sizeof *c, cand_desc);
        k = o->top_k;
    }
    double sum = 0, top = logits[best];
    for (int32_t i = 0; i < k; i++) sum += (c[i].p = (float)exp((c[i].p - top) / o->temperature));
    double u = (double)(splitmix64(rng) >> 11) * 0x1.0p-53 * sum;
    int32_t id = c[k - 1].id;
    for (int32_t i = 0; i < k; i++) {
        if ((u -= c[i].p) < 0) {
            id = c[i].id;
            break;
        }
    }
    free(c);
    return id;
}

static Tensor *new_tensor(IrDType dt, int rank, const int64_t *dims, char *err, size_t errlen) {
    return tensor_create(dt, rank, dims, err, errlen);
}

bool rt_generate(const RtGenerateOptions *o, const int32_t *prompt, size_t n, RtIds *out,
                 char *err, size_t errlen) {
    IrModule *m = o->no_cache ? o->full : o->decode;
    IrFunc *f = m ? ir_module_find_func(m, "forward") : NULL;
    if (!f) {
        snprintf(err, errlen, "the %s model has no @forward function", o->no_cache ? "full" : "decode");
        return false;
    }
    if (n == 0) {
        snprintf(err, errlen, "the prompt has no tokens");
        return false;
    }
    /* What the model says about itself: n_ctx from wpe, L, H, D from the cache input. */
    const IrWeight *wpe = ir_module_find_weight(m, "wpe.weight");
    int64_t n_ctx = wpe && wpe->type.rank == 2 ? wpe->type.dims[0].size : INT64_MAX;
    int expect_params = o->no_cache ? 1 : 5;
    if (f->nparams != expect_params || f->nresults != (o->no_cache ? 1 : 2)) {
        snprintf(err, errlen, "@%s does not look like a %s model (%d inputs, %d outputs; see "
                 "docs/generation.md)", m->name, o->no_cache ? "whole-sequence" : "decode",
                 f->nparams, f->nresults);
        return false;
    }
    int64_t total = (int64_t)n + o->max_new;
    if (total > n_ctx) {
        snprintf(err, errlen, "the prompt (%zu tokens) and %d new tokens need %lld positions, "
                 "but the model has n_ctx = %lld", n, o->max_new, (long long)total, (long long)n_ctx);
        return false;
    }
    int64_t L = 0, H = 0, D = 0, S = total;
    if (!o->no_cache) {
        const IrType *kt = &f->params[2]->type;
        if (kt->rank != 6 || kt->dims[0].sym || kt->dims[3].sym || kt->dims[5].sym) {
            snprintf(err, errlen, "@%s's third input is not a cache f32[L, 2, B, H, S, D]", m->name);
            return false;
        }
        L = kt->dims[0].size, H = kt->dims[3].size, D = kt->dims[5].size;
    }
    Tensor **ws = NULL;
    int nw = 0;
    RtWeightsOptions wo = {.path = o->weights_path, .seed = o->init_seed, .warn = o->warn,
                           .strict = o->strict_weights};
    if (!rt_weights_load_opts(m, &wo, &ws, &nw, err, errlen)) return false;
    Backend *b = rt_backend_create(o->target ? o->target : "ref", &o->backend, err, errlen);
    BkExec *e = b ? b->compile(b, f, err, errlen) : NULL;
    bool ok = e != NULL;
    int64_t one[2] = {1, 1}, sdims[2] = {S, 1}, kvdims[6] = {L, 2, 1, H, S, D};
    Tensor *idx = NULL, *pos = NULL, *kv = NULL, *mask = NULL, *here = NULL;
    if (ok && !o->no_cache) {
        ok = (idx = new_tensor(DT_I32, 2, one, err, errlen)) && (pos = new_tensor(DT_I32, 1, one, err, errlen)) &&
             (kv = new_tensor(DT_F32, 6, kvdims, err, errlen)) && (mask = new_tensor(DT_F32, 1, sdims, err, errlen)) &&
             (here = new_tensor(DT_F32, 2, sdims, err, errlen));
        for (int64_t s = 0; ok && s < S; s++) ((float *)mask->data)[s] = -INFINITY;
    }
    int32_t *seq = xmalloc(sizeof *seq * (size_t)total);
    memcpy(seq, prompt, sizeof *seq * n);
    int64_t len = (int64_t)n;
    uint64_t rng = o->seed;
    /* Step t feeds token seq[t] (no_cache: seq[0..t]) and, from the prompt's last token
     * on, picks seq[t + 1]. */
    for (int64_t t = 0; ok && t < total - 1 && len < total; t++) {
        if (o->no_cache && t + 1 < (int64_t)n) continue; /* nothing to pick yet */
        Tensor *outs[2] = {NULL, NULL};
        const float *logits;
        int32_t vocab;
        if (o->no_cache) {
            int64_t d[2] = {1, t + 1};
            Tensor *in = new_tensor(DT_I32, 2, d, err, errlen);
            if (!(ok = in != NULL)) break;
            memcpy(in->data, seq, sizeof *seq * (size_t)(t + 1));
            ok = b->run(e, ws, &in, outs, err, errlen);
            tensor_destroy(in);
            if (!ok) break;
            vocab = (int32_t)outs[0]->dims[2];
            logits = (const float *)outs[0]->data + t * vocab;
        } else {
            ((int32_t *)idx->data)[0] = seq[t];
            ((int32_t *)pos->data)[0] = (int32_t)t;
            ((float *)mask->data)[t] = 0;
            memset(here->data, 0, sizeof(float) * (size_t)S);
            ((float *)here->data)[t] = 1;
            Tensor *ins[5] = {idx, pos, kv, mask, here};
            if (!(ok = b->run(e, ws, ins, outs, err, errlen))) break;
            /* this step's k, v [L, 2, 1, H, 1, D] into the cache [L, 2, 1, H, S, D] at t */
            const float *kn = outs[1]->data;
            float *c = kv->data;
            for (int64_t r = 0; r < L * 2 * H; r++)
                memcpy(c + (r * S + t) * D, kn + r * D, sizeof(float) * (size_t)D);
            vocab = (int32_t)outs[0]->dims[2];
            logits = outs[0]->data;
        }
        if (t + 1 >= (int64_t)n) {
            int32_t id = pick(logits, vocab, o, &rng);
            seq[len++] = id;
            rt_ids_push(out, id);
            if (o->on_token) o->on_token(id, o->user);
            if (id == o->stop_id) t = total; /* stop */
        }
        tensor_destroy(outs[0]);
        tensor_destroy(outs[1]);
    }
    free(seq);
    tensor_destroy(idx);
    tensor_destroy(pos);
    tensor_destroy(kv);
    tensor_destroy(mask);
    tensor_destroy(here);
    if (e) b->exec_destroy(e);
    if (b) b->destroy(b);
    rt_tensors_free(ws, nw);
    return ok;
}
