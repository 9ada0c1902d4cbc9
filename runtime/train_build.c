/* train_build.c — the IR of a training run: the script's model (its @forward), the loss
 * appended as @loss, and @train_step built from it (runtime/train_step.h).
 *
 *   @loss(idx, targets) = (cross_entropy(forward(idx), targets), forward(idx))
 *
 * Decision a newcomer may question: params the data decides (vocab, n_class, n_ctx) are
 * filled in from the data when the model declares them and the script leaves them out,
 * by looking for `param NAME` in the model's text. A script then cannot disagree with its
 * data by accident; one that sets them explicitly is checked against the data instead.
 */
#include "train.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "passes/passes.h"
#include "runtime/train_step.h"

static char *read_text(const char *path, size_t *len, char *why, size_t whylen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whylen, "cannot open model '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 14, n = 0;
    char *buf = xmalloc(cap + 1);
    for (size_t got; (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            if (cap >= FE_MAX_SOURCE) break;
            buf = xrealloc(buf, (cap *= 2) + 1);
        }
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Whether a line `param ... NAME = ...` of the model text declares NAME. */
static bool model_has_param(const char *src, const char *name) {
    size_t k = strlen(name);
    for (const char *line = src; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        const char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (strncmp(p, "param", 5) != 0 || !isspace((unsigned char)p[5])) continue;
        const char *end = strchr(p, '\n');
        if (!end) end = p + strlen(p);
        for (const char *q = p + 5; q + k <= end; q++) {
            if (strncmp(q, name, k) != 0 || isalnum((unsigned char)q[-1]) || q[-1] == '_') continue;
            const char *r = q + k;
            if (isalnum((unsigned char)*r) || *r == '_') continue;
            while (*r == ' ' || *r == '\t') r++;
            if (*r == '=') return true;
        }
    }
    return false;
}

static const char *define_of(const RtScript *s, const char *name) {
    for (int i = 0; i < s->ndefines; i++)
        if (strcmp(s->defines[i].name, name) == 0) return s->defines[i].value;
    return NULL;
}

bool rt_train_build(RtScript *s, const RtDataInfo *info, const char *disable, RtTrainGraph *g,
                    char *err, size_t errlen) {
    memset(g, 0, sizeof *g);
    Diag *sd = &s->diag;
    char why[1024];
    size_t len;
    char *src = read_text(s->model_path, &len, why, sizeof why);
    if (!src) {
        diag_error(sd, s->at_model, "%s", why);
        return false;
    }
    /* Overrides: the script's, then what the data decides. */
    FeDefine defs[64];
    char vals[3][32];
    int nd = 0;
    for (int i = 0; i < s->ndefines && nd < 60; i++) defs[nd++] = s->defines[i];
    struct {
        const char *name;
        int value;
    } auto_params[3] = {{"vocab", info->vocab}, {"n_class", info->n_class}, {"n_ctx", info->T}};
    for (int i = 0; i < 3; i++) {
        if (auto_params[i].value <= 0 || !model_has_param(src, auto_params[i].name)) continue;
        const char *given = define_of(s, auto_params[i].name);
        if (given) {
            long v = strtol(given, NULL, 10);
            if (v < auto_params[i].value) {
                diag_error(sd, s->at_model, "%s = %s is too small for the data, which needs %d%s",
                           auto_params[i].name, given, auto_params[i].value,
                           i == 2 ? " positions" : i == 1 ? " classes" : " token ids");
                free(src);
                return false;
            }
            continue;
        }
        snprintf(vals[i], sizeof vals[i], "%d", auto_params[i].value);
        defs[nd++] = (FeDefine){auto_params[i].name, vals[i]};
    }
    Diag md;
    diag_init(&md, s->model_path, src, len, stderr);
    g->m = fe_compile_model(s->model_path, src, len, defs, nd, s->model_name, &md);
    free(src);
    if (!g->m) {
        diag_error(sd, s->at_model, "the model has errors (above)");
        return false;
    }
    /* Fusion before autodiff: the step then differentiates attention as one op. */
    PassOptions po = {.disable = disable, .verify_each = getenv("TFC_VERIFY_EACH") != NULL};
    if (!pass_run_pre_grad(g->m, &po, err, errlen)) return false;
    g->forward = ir_module_find_func(g->m, "forward");
    IrFunc *fw = g->forward;
    char ts[IR_TYPE_STR_MAX];
    if (!fw || fw->nparams != 1 || fw->params[0]->type.dtype != DT_I32 || fw->params[0]->type.rank != 2) {
        diag_error(sd, s->at_model, "a trained model takes one input of token ids, i32[B, T]%s%s",
                   fw && fw->nparams ? "; this one's first is " : "",
                   fw && fw->nparams ? ir_type_str(&fw->params[0]->type, ts, sizeof ts) : "");
        return false;
    }
    /* The target must be what the data provides. */
    const char *want = info->n_class ? "label" : s->data.kind == RT_DATA_TEXT ? "next" : "target";
    if (strcmp(s->loss_target, want) != 0) {
        diag_error(sd, s->at_loss, "this data provides %s, so the loss is cross_entropy(%s, %s)",
                   strcmp(want, "next") == 0 ? "text to predict" : strcmp(want, "label") == 0 ? "a label per text"
                                                                                           : "a target sequence",
                   s->loss_output, strcmp(want, "next") == 0 ? "next(idx)" : want);
        return false;
    }
    IrFunc *lf = ir_func_clone(fw, "loss", NULL);
    IrValue *logits = lf->results[0];
    const IrType *it = &lf->params[0]->type;
    IrType tt = {.dtype = DT_I32, .rank = info->per_token ? 2 : 1, .dims = {it->dims[0], it->dims[1]}};
    IrValue *targets = ir_func_add_param(lf, "targets", &tt);
    IrValue *loss = ir_build(lf, OP_CROSS_ENTROPY, (IrValue *[]){logits, targets}, 2, NULL, NULL, NULL, why, sizeof why);
    if (!loss) {
        diag_error(sd, s->at_loss, "the loss does not fit the model: %s", why);
        return false;
    }
    const IrType *lt = &logits->type;
    int classes = info->n_class ? info->n_class : info->vocab;
    if (lt->rank > 0 && !lt->dims[lt->rank - 1].sym && lt->dims[lt->rank - 1].size < classes) {
        diag_error(sd, s->at_loss, "%s is %s: %lld classes, but the data has %d %s", s->loss_output,
                   ir_type_str(lt, ts, sizeof ts), (long long)lt->dims[lt->rank - 1].size, classes,
                   info->n_class ? "labels" : "token ids");
        return false;
    }
    ir_func_set_results(lf, (IrValue *[]){loss, logits}, 2);
    g->eval = lf;
    g->step = rt_build_train_step(lf, &s->opt, why, sizeof why);
    if (!g->step) {
        diag_error(sd, s->at_optimizer, "%s", why);
        return false;
    }
    if (!pass_run_pipeline(g->m, &po, err, errlen)) return false;
    return true;
}

bool rt_train_param(const RtScript *s, const char *name, long *out) {
    const char *given = define_of(s, name);
    char *end;
    if (given) {
        *out = strtol(given, &end, 10);
        return end != given && *end == 0;
    }
    char why[256];
    size_t len;
    char *src = read_text(s->model_path, &len, why, sizeof why);
    if (!src) return false;
    bool found = false;
    size_t k = strlen(name);
    for (const char *line = src; line && *line && !found; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        const char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (strncmp(p, "param", 5) != 0 || !isspace((unsigned char)p[5])) continue;
        const char *eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        for (const char *q = p + 5; q + k <= eol && !found; q++) {
            if (strncmp(q, name, k) != 0 || isalnum((unsigned char)q[-1]) || q[-1] == '_') continue;
            const char *r = q + k;
            if (isalnum((unsigned char)*r) || *r == '_') continue;
            while (*r == ' ' || *r == '\t') r++;
            if (*r != '=') continue;
            *out = strtol(r + 1, &end, 10);
            found = end != r + 1;
        }
    }
    free(src);
    return found;
}
