/* train.c — the training loop of `tfc train` (overview in train.h).
 *
 * Per step: the next batch, lr from the schedule, one run of @train_step, a NaN/Inf check
 * of the loss and gradient norm, then every update result installed as its weight's new
 * tensor (the old one freed). Evaluation, sampling and checkpoints at their cadences;
 * at the end a final evaluation, checkpoint, loss plot and the `final:` line.
 *
 * Decision a newcomer may question: a checkpoint is written only at the `save every`
 * cadence and at the end, never after a step whose loss is not finite: when training
 * diverges, the file on disk is the last good state, and the run stops with exit 1.
 */
#include "train.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backends/ref/ref.h"
#include "runtime/checkpoint.h"
#include "runtime/hf_export.h"
#include "runtime/init.h"
#include "runtime/model_run.h"
#include "runtime/plot.h"
#include "runtime/progress.h"
#include "runtime/schedule.h"
#include "runtime/targets.h"

typedef struct {
    RtScript *s;
    RtData *d;
    const RtDataInfo *info;
    RtTrainGraph g;
    Backend *b;
    BkExec *step_x, *eval_x, *fwd_x;
    Tensor **w;
    int nw;
    int *upd_index; /* result r of @train_step -> weight index (-1: not an update) */
    int64_t nparams; /* model parameters (optimizer state not counted) */
    uint64_t seed;
    FILE *out;
    RtProgress prog;
    char *err;
    size_t errlen;
} Run;

typedef struct {
    double loss, acc, acc_rand, acc_learn;
} Eval;

static Tensor *new_i32(int64_t a, int64_t b, int rank) {
    char e[128];
    int64_t dims[2] = {a, b};
    return tensor_create(DT_I32, rank, dims, e, sizeof e);
}

static Tensor *new_scalar(float v) {
    char e[128];
    Tensor *t = tensor_create(DT_F32, 0, NULL, e, sizeof e);
    ((float *)t->data)[0] = v;
    return t;
}

static bool mkdirs_for(const char *path) {
    char *dir = xmalloc(strlen(path) + 1);
    strcpy(dir, path);
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
                free(dir);
                return false;
            }
            *p = '/';
        }
    free(dir);
    return true;
}

/* Evaluates `nb` validation batches of size B. */
static bool evaluate(Run *r, int64_t nb, int B, Eval *ev) {
    const RtDataInfo *in = r->info;
    int T = in->T, TT = in->per_token ? T : 1;
    Tensor *idx = new_i32(B, T, 2), *tgt = in->per_token ? new_i32(B, T, 2) : new_i32(B, 0, 1);
    double loss = 0;
    int64_t right = 0, total = 0, rr = 0, rn = 0, lr = 0, ln = 0;
    bool ok = true;
    for (int64_t k = 0; k < nb && ok; k++) {
        rt_data_val_batch(r->d, k, B, idx->data, tgt->data);
        Tensor *outs[2] = {0};
        ok = r->b->run(r->eval_x, r->w, (Tensor *[]){idx, tgt}, outs, r->err, r->errlen);
        if (!ok) break;
        loss += ((float *)outs[0]->data)[0];
        const float *lg = outs[1]->data;
        int64_t V = outs[1]->dims[outs[1]->rank - 1];
        const int32_t *t = tgt->data;
        for (int64_t i = 0; i < (int64_t)B * TT; i++) {
            int64_t best = 0;
            for (int64_t v = 1; v < V; v++)
                if (lg[i * V + v] > lg[i * V + best]) best = v;
            bool hit = best == t[i];
            right += hit;
            total++;
            int pos = (int)(i % TT);
            if (in->learn_from > 0 && pos < in->rand_end) rr += hit, rn++;
            if (in->learn_from > 0 && pos >= in->learn_from) lr += hit, ln++;
        }
        tensor_destroy(outs[0]);
        tensor_destroy(outs[1]);
    }
    tensor_destroy(idx);
    tensor_destroy(tgt);
    *ev = (Eval){loss / (double)(nb ? nb : 1), (double)right / (double)(total ? total : 1),
                 rn ? (double)rr / (double)rn : NAN, ln ? (double)lr / (double)ln : NAN};
    return ok;
}

/* The id an empty prompt starts from: GPT-2's <|endoftext|> (the last id) for BPE, else 0. */
static int32_t empty_prompt_id(const Run *r) {
    return r->s->data.tokens == RT_TOK_BPE ? (int32_t)(r->info->vocab - 1) : 0;
}

/* Generates n tokens after `prompt` with @forward, sampling at temperature 1. */
static bool sample_text(Run *r, const char *prompt, int n, uint64_t salt, FILE *out) {
    int T = r->info->T, cap = n + 256;
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)cap);
    int len = rt_data_encode(r->d, prompt ? prompt : "", ids, 256);
    if (len == 0) ids[len++] = empty_prompt_id(r); /* BPE: <|endoftext|>, as GPT-2 texts start */
    int start = len;
    RtRng rng = {rt_init_key(r->seed, "sample") ^ salt};
    bool ok = true;
    for (int k = 0; k < n && ok; k++) {
        int ctx = len < T ? len : T;
        Tensor *idx = new_i32(1, ctx, 2);
        memcpy(idx->data, ids + len - ctx, sizeof(int32_t) * (size_t)ctx);
        Tensor *lg = NULL;
        ok = r->b->run(r->fwd_x, r->w, &idx, &lg, r->err, r->errlen);
        tensor_destroy(idx);
        if (!ok) break;
        int64_t V = lg->dims[lg->rank - 1];
        const float *row = (const float *)lg->data + (int64_t)(ctx - 1) * V;
        double mx = row[0], sum = 0;
        for (int64_t v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
        for (int64_t v = 0; v < V; v++) sum += exp(row[v] - mx);
        double u = (double)(rt_rng_next(&rng) >> 11) * 0x1p-53 * sum, c = 0;
        int64_t pick = V - 1;
        for (int64_t v = 0; v < V; v++)
            if ((c += exp(row[v] - mx)) > u) {
                pick = v;
                break;
            }
        ids[len++] = (int32_t)(pick < r->info->vocab ? pick : 0);
        tensor_destroy(lg);
    }
    if (ok) {
        fputs("sample: ", out);
        if (prompt) fputs(prompt, out);
        rt_data_decode(r->d, ids + start, len - start, out);
        fputc('\n', out);
        fflush(out);
    }
    free(ids);
    return ok;
}

static bool save_ckpt(Run *r, const char *path, int64_t step) {
    RtCkptState st = {step, r->seed, rt_data_pos(r->d)};
    return rt_checkpoint_save(path, r->g.m, r->w, &st, r->err, r->errlen);
}

static void json_num(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, ",\"%s\":%.9g", key, v);
    else fprintf(f, ",\"%s\":null", key);
}

static bool train_loop(Run *r, const RtTrainOptions *o) {
    RtScript *s = r->s;
    const RtDataInfo *in = r->info;
    int B = s->batch, T = in->T;
    int64_t total = o->steps > 0 ? o->steps : s->steps, start = 0;
    const char *save = o->save ? o->save : s->save_path;
    char metrics_default[512];
    snprintf(metrics_default, sizeof metrics_default, "runs/%s/metrics.jsonl", s->name);
    const char *metrics = o->metrics ? o->metrics : s->metrics_path ? s->metrics_path : metrics_default;
    char *err = r->err;
    size_t errlen = r->errlen;

    if (o->resume) {
        RtCkptState st;
        if (!rt_checkpoint_load(o->resume, r->g.m, r->w, &st, err, errlen)) return false;
        start = st.step;
        r->seed = st.seed;
        rt_data_seek(r->d, st.data);
        if (start >= total) {
            snprintf(err, errlen, "%s is at step %lld: nothing left to do for --steps %lld", o->resume,
                     (long long)start, (long long)total);
            return false;
        }
    }
    int Bv = (int64_t)B < in->n_val ? B : (int)in->n_val;
    int64_t nval_batches = in->n_val / Bv;
    int64_t nb_eval = s->eval_batches < nval_batches ? s->eval_batches : nval_batches;
    int64_t nb_final = nval_batches < 64 ? nval_batches : (nb_eval > 64 ? nb_eval : 64);
    /* A first evaluation before any step: catches every run-time mismatch (positions
     * beyond n_ctx, ids beyond the embedding) before training starts. */
    Eval ev0;
    if (!evaluate(r, 1, Bv, &ev0)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "the model cannot run on this data: %s", err);
        snprintf(err, errlen, "%s", msg);
        return false;
    }
    if (!mkdirs_for(metrics)) {
        snprintf(err, errlen, "cannot create the directory of '%s': %s", metrics, strerror(errno));
        return false;
    }
    FILE *mf = fopen(metrics, "w");
    if (!mf) {
        snprintf(err, errlen, "cannot write '%s': %s", metrics, strerror(errno));
        return false;
    }
    char ntrain[32] = "unlimited";
    if (in->n_train >= 0) snprintf(ntrain, sizeof ntrain, "%lld", (long long)in->n_train);
    fprintf(r->out, "training %s: %lld steps of batch %d on %s (%s), %lld parameters; data: %s train / %lld val "
            "examples, vocab %d; baseline %.4f (%s)\n",
            s->name, (long long)total, B, r->b->name, s->model_path, (long long)r->nparams, ntrain,
            (long long)in->n_val, in->vocab, in->baseline, in->baseline_what);
    Tensor *idx = new_i32(B, T, 2), *tgt = in->per_token ? new_i32(B, T, 2) : new_i32(B, 0, 1);
    int nres = r->g.step->nresults;
    Tensor **outs = xcalloc((size_t)nres, sizeof *outs);
    int64_t cap = total - start + 1, nlog = 0, nv = 0;
    int64_t *xs = xmalloc(sizeof(int64_t) * (size_t)cap), *vxs = xmalloc(sizeof(int64_t) * (size_t)(cap + 1));
    double *ys = xmalloc(sizeof(double) * (size_t)cap), *vys = xmalloc(sizeof(double) * (size_t)(cap + 1));
    bool ok = true;
    int64_t last_saved = o->resume ? start : -1;
    rt_progress_begin(&r->prog, r->out, total, start);
    for (int64_t step = start + 1; step <= total && ok; step++) {
        double t0 = rt_now();
        rt_data_next_batch(r->d, B, idx->data, tgt->data);
        double lr = rt_schedule_lr(&s->sched, s->lr, step, s->steps); /* the recipe's length, not --steps */
        Tensor *lr_t = new_scalar((float)lr), *st_t = new_scalar((float)step);
        memset(outs, 0, sizeof *outs * (size_t)nres);
        ok = r->b->run(r->step_x, r->w, (Tensor *[]){idx, tgt, lr_t, st_t}, outs, err, errlen);
        tensor_destroy(lr_t);
        tensor_destroy(st_t);
        if (!ok) break;
        double loss = ((float *)outs[0]->data)[0], gnorm = ((float *)outs[1]->data)[0];
        if (!isfinite(loss) || !isfinite(gnorm)) {
            rt_progress_end(&r->prog);
            /* Replay the step on the reference interpreter to name the op that made the NaN. */
            char first[256] = "", culprit[300] = "";
            lr_t = new_scalar((float)lr);
            st_t = new_scalar((float)step);
            if (ref_find_nan(r->g.step, r->w, (Tensor *[]){idx, tgt, lr_t, st_t}, first, sizeof first))
                snprintf(culprit, sizeof culprit, "; the first NaN comes from %s in @train_step", first);
            tensor_destroy(lr_t);
            tensor_destroy(st_t);
            char kept[600] = "no checkpoint was written";
            if (last_saved >= 0) snprintf(kept, sizeof kept, "the last good checkpoint, %s (step %lld), is kept",
                                          o->resume && last_saved == start ? o->resume : save, (long long)last_saved);
            snprintf(err, errlen, "step %lld: the %s is %s%s; training stopped (%s)", (long long)step,
                     !isfinite(loss) ? "loss" : "gradient norm", isnan(!isfinite(loss) ? loss : gnorm) ? "NaN" : "infinite",
                     culprit, kept);
            for (int i = 0; i < nres; i++) tensor_destroy(outs[i]);
            ok = false;
            break;
        }
        for (int i = 0; i < nres; i++) {
            if (r->upd_index[i] < 0) {
                tensor_destroy(outs[i]);
                continue;
            }
            for (int j = 0; j < i; j++)
                if (outs[j] == outs[i]) { /* one tensor for two results: copy it */
                    Tensor *c = tensor_create(outs[i]->dtype, outs[i]->rank, outs[i]->dims, err, errlen);
                    memcpy(c->data, outs[i]->data, tensor_bytes(c));
                    outs[i] = c;
                    break;
                }
            tensor_destroy(r->w[r->upd_index[i]]);
            r->w[r->upd_index[i]] = outs[i];
        }
        double dt = rt_now() - t0, tps = (double)B * T / (dt > 0 ? dt : 1e-9); /* tokens read */
        xs[nlog] = step;
        ys[nlog++] = loss;
        fprintf(mf, "{\"step\":%lld", (long long)step);
        json_num(mf, "loss", loss);
        json_num(mf, "lr", lr);
        json_num(mf, "grad_norm", gnorm);
        json_num(mf, "tokens_per_s", tps);
        bool do_eval = s->eval_every > 0 && step % s->eval_every == 0 && step != total;
        if (do_eval) {
            Eval ev;
            if (!(ok = evaluate(r, nb_eval, Bv, &ev))) break;
            json_num(mf, "val_loss", ev.loss);
            vxs[nv] = step;
            vys[nv++] = ev.loss;
            char line[256];
            int k = snprintf(line, sizeof line, "step %lld: val_loss %.4f", (long long)step, ev.loss);
            if (in->n_class) snprintf(line + k, sizeof line - (size_t)k, ", val_acc %.4f", ev.acc);
            else if (in->learn_from > 0)
                snprintf(line + k, sizeof line - (size_t)k, ", accuracy %.3f on random positions, %.3f on determined ones",
                         ev.acc_rand, ev.acc_learn);
            rt_progress_note(&r->prog, line);
        }
        fprintf(mf, "}\n");
        fflush(mf);
        rt_progress_step(&r->prog, step, loss, tps);
        if (s->sample_every > 0 && step % s->sample_every == 0 && step != total && in->per_token &&
            s->data.kind == RT_DATA_TEXT) {
            rt_progress_end(&r->prog);
            if (!(ok = sample_text(r, s->sample_prompt, s->sample_tokens, (uint64_t)step, r->out))) break;
        }
        if (save && s->save_every > 0 && step % s->save_every == 0 && step != total) {
            if (!(ok = save_ckpt(r, save, step))) break;
            last_saved = step;
        }
    }
    rt_progress_end(&r->prog);
    fclose(mf);
    tensor_destroy(idx);
    tensor_destroy(tgt);
    free(outs);
    Eval ev = {0};
    if (ok) ok = evaluate(r, nb_final, Bv, &ev);
    if (ok) {
        vxs[nv] = total;
        vys[nv++] = ev.loss;
    }
    if (ok && save) {
        ok = save_ckpt(r, save, total);
        if (ok) fprintf(r->out, "checkpoint: %s (step %lld)\n", save, (long long)total);
    }
    const char *export_dir = o->export_dir ? o->export_dir : s->export_dir;
    if (ok && export_dir) {
        long n_head = 0;
        rt_train_param(s, "n_head", &n_head); /* checked before training */
        if ((ok = rt_hf_export(export_dir, r->g.m, r->w, n_head, err, errlen))) {
            fprintf(r->out, "exported: %s/model.safetensors and %s/config.json (Hugging Face GPT-2)\n", export_dir,
                    export_dir);
        }
    }
    if (ok) {
        char plot[600], title[256];
        size_t k = strlen(metrics);
        if (k > 6 && strcmp(metrics + k - 6, ".jsonl") == 0) k -= 6;
        snprintf(plot, sizeof plot, "%.*s.svg", (int)k, metrics);
        snprintf(title, sizeof title, "%s: loss per step (%s)", s->name, r->b->name);
        if (!rt_plot_svg(plot, title, (RtSeries){xs, ys, (int)nlog}, (RtSeries){vxs, vys, (int)nv}, in->baseline,
                         in->n_class ? NULL : "baseline", err, errlen))
            fprintf(stderr, "tfc: warning: %s\n", err), *err = 0;
        else
            fprintf(r->out, "metrics: %s, plot: %s\n", metrics, plot);
    }
    if (ok && s->data.kind == RT_DATA_TEXT && s->sample_tokens > 0)
        ok = sample_text(r, s->sample_prompt, s->sample_tokens, (uint64_t)total, r->out);
    if (ok) {
        int64_t m = nlog < 10 ? nlog : 10;
        double tl = 0;
        for (int64_t i = nlog - m; i < nlog; i++) tl += ys[i];
        tl = m ? tl / (double)m : NAN;
        if (in->learn_from > 0)
            fprintf(r->out, "accuracy: random_positions=%.4f determined_positions=%.4f chance=%.4f\n", ev.acc_rand,
                    ev.acc_learn, 1.0 / in->vocab);
        fprintf(r->out, "final: step=%lld train_loss=%.4f val_loss=%.4f", (long long)total, tl, ev.loss);
        if (in->n_class) fprintf(r->out, " val_acc=%.4f", ev.acc);
        fprintf(r->out, " baseline=%.4f\n", in->baseline);
        fflush(r->out);
    }
    free(xs);
    free(ys);
    free(vxs);
    free(vys);
    return ok;
}

bool rt_train(const RtTrainOptions *o, char *err, size_t errlen) {
    *err = 0;
    Run r = {.out = o->out ? o->out : stdout, .err = err, .errlen = errlen};
    const char *target = o->target ? o->target : "ref";
    if (!rt_target_exists(target, err, errlen)) return false;
    r.s = rt_script_load(o->script, err, errlen);
    if (!r.s) {
        if (strstr(err, "has errors")) *err = 0; /* the diagnostics said it */
        return false;
    }
    RtScript *s = r.s;
    bool ok = false;
    r.seed = o->seed_given ? o->seed : s->seed;
    char why[1024];
    r.d = rt_data_open(&s->data, r.seed, why, sizeof why);
    if (!r.d) {
        diag_error(&s->diag, s->at_data, "%s", why);
        goto done;
    }
    r.info = rt_data_info(r.d);
    if (r.info->n_train >= 0 && s->batch > r.info->n_train) {
        diag_error(&s->diag, s->at_batch.line ? s->at_batch : s->at_data,
                   "batch = %d is larger than the data: it has %lld training examples", s->batch,
                   (long long)r.info->n_train);
        goto done;
    }
    if (!rt_train_build(s, r.info, o->disable_passes, &r.g, err, errlen)) goto done;
    if (o->compiled) {
        *o->compiled = r.g.m;
        r.g.m = NULL;
        ok = true;
        goto done;
    }
    const char *export_dir = o->export_dir ? o->export_dir : s->export_dir;
    long n_head = 0;
    if (export_dir && !(rt_train_param(s, "n_head", &n_head) && rt_hf_export_check(r.g.m, n_head, why, sizeof why))) {
        if (n_head == 0) snprintf(why, sizeof why, "the model has no param n_head, and export writes a GPT-2");
        if (s->at_export.line) diag_error(&s->diag, s->at_export, "cannot export: %s", why);
        else snprintf(err, errlen, "cannot --export: %s", why);
        goto done;
    }
    BkOptions bo = {.threads = o->threads, .device = -1};
    r.b = rt_backend_create(target, &bo, err, errlen);
    if (!r.b) goto done;
    if (!(r.step_x = r.b->compile(r.b, r.g.step, err, errlen))) goto done;
    if (!(r.eval_x = r.b->compile(r.b, r.g.eval, err, errlen))) goto done;
    if (!(r.fwd_x = r.b->compile(r.b, r.g.forward, err, errlen))) goto done;
    if (!rt_weights_load(r.g.m, NULL, r.seed, NULL, &r.w, &r.nw, err, errlen)) goto done;
    for (const IrWeight *w = r.g.m->weights; w; w = w->next)
        if (strncmp(w->name, "optim.", 6) != 0) r.nparams += ir_type_static_elements(&w->type);
    r.upd_index = xcalloc((size_t)r.g.step->nresults, sizeof *r.upd_index);
    for (int i = 0; i < r.g.step->nresults; i++)
        r.upd_index[i] = r.g.step->updates && r.g.step->updates[i] ? ir_module_weight_index(r.g.m, r.g.step->updates[i]->name) : -1;
    ok = train_loop(&r, o);
done:
    if (r.b) {
        if (r.step_x) r.b->exec_destroy(r.step_x);
        if (r.eval_x) r.b->exec_destroy(r.eval_x);
        if (r.fwd_x) r.b->exec_destroy(r.fwd_x);
        r.b->destroy(r.b);
    }
    rt_tensors_free(r.w, r.nw);
    free(r.upd_index);
    if (r.g.m) ir_module_destroy(r.g.m);
    rt_data_free(r.d);
    if (!ok && !*err && s->diag.errors == 0) snprintf(err, errlen, "training failed");
    rt_script_free(s);
    return ok;
}
