/* model_run.c — weights from a checkpoint or initialisers, inputs matched by name, one
 * run on the chosen backend. The policy for mismatched checkpoints is stated in model_run.h.
 *
 * Decision a newcomer may question: the checkpoint is mapped (rt_st_map), not read, and
 * a weight whose file dtype is the model's is borrowed from the mapping (zero-copy: the
 * pages are read when a kernel first touches them, and tensors the model ignores are
 * never read). Only a weight that needs converting (F16, BF16, F64 in the file) or whose
 * data is misaligned is copied. The mapping is private, so nothing can write the file.
 */
#include "model_run.h"

#include <stdlib.h>
#include <string.h>

#include "backends/ref/ref.h" /* ref_load/ref_store: dtype conversion */
#include "targets.h"
#include "init.h"
#include "safetensors.h"

void rt_tensors_free(Tensor **ts, int n) {
    if (!ts) return;
    for (int i = 0; i < n; i++) tensor_destroy(ts[i]);
    free(ts);
}

static bool is_float(IrDType dt) { return dt != DT_I32; }

/* Print "what: a, b, c, d, e and 7 more" to warn. */
static void warn_list(FILE *warn, const char *what, const char **names, int n) {
    if (!warn || n == 0) return;
    fprintf(warn, "tfc: warning: %s: ", what);
    for (int i = 0; i < n && i < 5; i++) fprintf(warn, "%s%s", i ? ", " : "", names[i]);
    if (n > 5) fprintf(warn, " and %d more", n - 5);
    fprintf(warn, "\n");
}

/* Whether the file's tensor `e` can be weight w (dtype class and shape); else a message. */
static bool fits(const IrWeight *w, const RtStInfo *e, const char *path, char *err, size_t errlen) {
    char ws[IR_TYPE_STR_MAX], ts[IR_TYPE_STR_MAX];
    bool ok = e->rank == w->type.rank && (e->dtype == w->type.dtype ||
                                          (is_float(e->dtype) && is_float(w->type.dtype)));
    for (int i = 0; ok && i < e->rank; i++)
        ok = w->type.dims[i].sym || w->type.dims[i].size == e->dims[i];
    if (!ok) {
        size_t k = (size_t)snprintf(ts, sizeof ts, "%s[", ir_dtype_name(e->dtype));
        for (int i = 0; i < e->rank && k < sizeof ts; i++)
            k += (size_t)snprintf(ts + k, sizeof ts - k, "%s%lld", i ? ", " : "", (long long)e->dims[i]);
        if (k < sizeof ts)
            snprintf(ts + k, sizeof ts - k, "]%s%s%s", strcmp(e->file_dtype, "F32") &&
                     strcmp(e->file_dtype, "I32") ? " (stored as " : "",
                     strcmp(e->file_dtype, "F32") && strcmp(e->file_dtype, "I32") ? e->file_dtype : "",
                     strcmp(e->file_dtype, "F32") && strcmp(e->file_dtype, "I32") ? ")" : "");
        snprintf(err, errlen, "weight '%s' is %s in the model but %s in %s", w->name,
                 ir_type_str(&w->type, ws, sizeof ws), ts, path);
    }
    return ok;
}

/* Tensor k of the mapped file as weight w's dtype: borrowed from the mapping when it can
 * be (zero-copy), else copied and converted. */
static Tensor *take_weight(const IrWeight *w, RtStMap *file, int k, char *err, size_t errlen) {
    Tensor *t = rt_st_borrow(file, k);
    if (t && t->dtype == w->type.dtype) return t;
    tensor_destroy(t);
    t = rt_st_tensor(file, k, err, errlen);
    if (!t || t->dtype == w->type.dtype) return t;
    Tensor *c = tensor_create(w->type.dtype, t->rank, t->dims, err, errlen);
    if (c)
        for (int64_t i = 0; i < tensor_numel(t); i++) ref_store(c, i, ref_load(t, i));
    tensor_destroy(t);
    return c;
}

/* Tensors Hugging Face GPT-2 files carry that a model of primitive ops does not use:
 * the causal-mask buffers and the LM head tied to wte. Ignored silently in strict mode. */
static bool known_buffer(const char *name) {
    size_t n = strlen(name);
    static const char *const ends[] = {".attn.bias", ".attn.masked_bias"};
    for (int i = 0; i < 2; i++) {
        size_t k = strlen(ends[i]);
        if (n > k && strcmp(name + n - k, ends[i]) == 0) return true;
    }
    return strcmp(name, "lm_head.weight") == 0 || strcmp(name, "transformer.lm_head.weight") == 0;
}

bool rt_weights_load(const IrModule *m, const char *weights_path, uint64_t seed, FILE *warn,
                     Tensor ***out, int *nout, char *err, size_t errlen) {
    RtWeightsOptions o = {.path = weights_path, .seed = seed, .warn = warn};
    return rt_weights_load_opts(m, &o, out, nout, err, errlen);
}

bool rt_weights_load_opts(const IrModule *m, const RtWeightsOptions *o, Tensor ***out, int *nout,
                          char *err, size_t errlen) {
    const char *weights_path = o->path;
    FILE *warn = o->warn;
    int n = 0;
    for (const IrWeight *w = m->weights; w; w = w->next) n++;
    Tensor **ws = xcalloc((size_t)(n ? n : 1), sizeof *ws);
    const char **missing = xcalloc((size_t)(n ? n : 1), sizeof *missing);
    int nmissing = 0;
    RtStMap *file = NULL;
    bool ok = true;
    if (weights_path) ok = (file = rt_st_map(weights_path, err, errlen)) != NULL;
    int nfile = file ? rt_st_count(file) : 0;
    bool *used = xcalloc((size_t)(nfile ? nfile : 1), sizeof *used);
    int i = 0;
    for (const IrWeight *w = m->weights; ok && w; w = w->next, i++) {
        int k = file ? rt_st_find(file, w->name) : -1;
        if (k < 0 && file && o->strict) { /* saved from GPT2LMHeadModel: transformer.NAME */
            char pre[512];
            snprintf(pre, sizeof pre, "transformer.%s", w->name);
            k = rt_st_find(file, pre);
        }
        if (k >= 0) {
            RtStInfo e;
            rt_st_entry(file, k, &e);
            used[k] = true;
            ok = fits(w, &e, weights_path, err, errlen) &&
                 (ws[i] = take_weight(w, file, k, err, errlen)) != NULL;
        } else if (o->strict && file) {
            char ts[IR_TYPE_STR_MAX];
            snprintf(err, errlen, "weight '%s' (%s) of the model is not in %s", w->name,
                     ir_type_str(&w->type, ts, sizeof ts), weights_path);
            ok = false;
        } else {
            if (weights_path) missing[nmissing++] = w->name;
            ok = (ws[i] = rt_init_weight(w, o->seed, err, errlen)) != NULL;
        }
    }
    for (int k = 0; ok && o->strict && k < nfile; k++) {
        RtStInfo e;
        rt_st_entry(file, k, &e);
        if (!used[k] && !known_buffer(e.name)) {
            snprintf(err, errlen, "tensor '%.200s' in %s is not a weight of model @%s", e.name,
                     weights_path, m->name);
            ok = false;
        }
    }
    if (ok && weights_path && !o->strict) {
        char what[512];
        snprintf(what, sizeof what, "%d model weight%s not in %s, drawn from %s initialiser%s",
                 nmissing, nmissing == 1 ? "" : "s", weights_path, nmissing == 1 ? "its" : "their",
                 nmissing == 1 ? "" : "s");
        warn_list(warn, what, missing, nmissing);
        const char **extra = xcalloc((size_t)(nfile ? nfile : 1), sizeof *extra);
        int nextra = 0;
        for (int k = 0; k < nfile; k++) {
            RtStInfo e;
            rt_st_entry(file, k, &e);
            if (!used[k]) extra[nextra++] = e.name;
        }
        snprintf(what, sizeof what, "%d tensor%s in %s %s not in the model, ignored", nextra,
                 nextra == 1 ? "" : "s", weights_path, nextra == 1 ? "is" : "are");
        warn_list(warn, what, extra, nextra);
        free(extra);
    }
    rt_st_unmap(file);
    free(used);
    free(missing);
    if (!ok) {
        rt_tensors_free(ws, n);
        *out = NULL;
        *nout = 0;
        return false;
    }
    *out = ws;
    *nout = n;
    return true;
}

void rt_outputs_free(RtOutputs *out) { rt_tensor_set_free(out); }

bool rt_model_run(IrModule *m, const RtRunOptions *o, const RtNamedTensor *inputs, int ninputs,
                  RtOutputs *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    const char *func_name = o->func ? o->func : "forward";
    FILE *warn = o->quiet ? NULL : o->warn ? o->warn : stderr;
    IrFunc *f = ir_module_find_func(m, func_name);
    if (!f) {
        size_t k = (size_t)snprintf(err, errlen, "module @%s has no function @%s (it has:",
                                    m->name, func_name);
        for (IrFunc *g = m->funcs; g && k < errlen; g = g->next)
            k += (size_t)snprintf(err + k, errlen - k, " @%s", g->name);
        if (k < errlen) snprintf(err + k, errlen - k, ")");
        return false;
    }
    /* Match inputs to parameters. */
    Tensor **bound = xcalloc((size_t)(f->nparams ? f->nparams : 1), sizeof *bound);
    bool ok = true;
    for (int i = 0; ok && i < ninputs; i++) {
        int p = -1;
        const char *name = inputs[i].name;
        if (!name) {
            p = i < f->nparams ? i : -1;
            if (p < 0)
                snprintf(err, errlen, "@%s takes %d input%s but %d were given", f->name,
                         f->nparams, f->nparams == 1 ? "" : "s", ninputs);
        } else {
            for (int j = 0; j < f->nparams; j++)
                if (strcmp(f->params[j]->attrs.name, name) == 0) p = j;
            if (p < 0) {
                size_t k = (size_t)snprintf(err, errlen, "@%s has no input '%s' (its inputs:",
                                            f->name, name);
                for (int j = 0; j < f->nparams && k < errlen; j++)
                    k += (size_t)snprintf(err + k, errlen - k, " %s", f->params[j]->attrs.name);
                if (k < errlen) snprintf(err + k, errlen - k, ")");
            }
        }
        if (p >= 0 && bound[p]) {
            snprintf(err, errlen, "input '%s' is given twice", f->params[p]->attrs.name);
            p = -1;
        }
        if (p < 0)
            ok = false;
        else
            bound[p] = inputs[i].tensor;
    }
    for (int j = 0; ok && j < f->nparams; j++)
        if (!bound[j]) {
            char ts[IR_TYPE_STR_MAX];
            snprintf(err, errlen, "input '%s' (%s) of @%s was not given", f->params[j]->attrs.name,
                     ir_type_str(&f->params[j]->type, ts, sizeof ts), f->name);
            ok = false;
        }
    Tensor **ws = NULL;
    int nw = 0;
    RtWeightsOptions wo = {.path = o->weights_path, .seed = o->seed, .warn = warn,
                           .strict = o->strict_weights};
    if (ok) ok = rt_weights_load_opts(m, &wo, &ws, &nw, err, errlen);
    if (ok) {
        Tensor **outs = xcalloc((size_t)(f->nresults ? f->nresults : 1), sizeof *outs);
        Backend *b = rt_backend_create(o->target ? o->target : "ref", &o->backend, err, errlen);
        BkExec *e = b ? b->compile(b, f, err, errlen) : NULL;
        ok = e && b->run(e, ws, bound, outs, err, errlen);
        if (e && o->backend.profile && b->profile_report) b->profile_report(e, stdout);
        if (e) b->exec_destroy(e);
        if (b) b->destroy(b);
        for (int i = 0; ok && i < f->nresults; i++) {
            char name[32];
            const IrValue *r = f->results[i];
            if (r->op == OP_INPUT)
                rt_tensor_set_add(out, r->attrs.name, outs[i]);
            else {
                snprintf(name, sizeof name, "output%d", i);
                rt_tensor_set_add(out, name, outs[i]);
            }
        }
        free(outs);
    }
    rt_tensors_free(ws, nw);
    free(bound);
    return ok;
}
