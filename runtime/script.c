/* script.c — the training-script parser: lexer, a generic value tree, then one
 * interpreter per setting that checks names, types and ranges (language in
 * docs/training.md, result in script.h).
 *
 * Decision a newcomer may question: the parser first reads every `key = value` into a
 * generic tree (numbers, strings, names, calls with keyword arguments, tuples) and only
 * then gives each key its meaning. One small grammar serves every setting, and each
 * setting's checks (unknown argument, value out of range) live in one place with the
 * location of the very token to blame.
 */
#include "script.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_SCRIPT = 1 << 20, MAX_ARGS = 32, MAX_DEPTH = 16 };

/* ---- lexer ---- */

typedef enum { T_EOF, T_NAME, T_NUM, T_STR, T_PUNCT, T_BAD } TokKind;

typedef struct {
    TokKind kind;
    size_t at, len; /* bytes of the token in the source */
    char *str;      /* T_STR: the unescaped text (owned by the parser) */
} Tok;

typedef struct {
    RtScript *s;
    size_t pos;
    Tok tok;
    bool failed;
    int depth;
} P;

static DiagLoc loc_of(P *p, size_t at) { return diag_loc_at(&p->s->diag, at); }

static void perr(P *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void perr(P *p, size_t at, const char *fmt, ...) {
    if (p->failed) return; /* one mistake, one message */
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_error(&p->s->diag, loc_of(p, at), "%s", msg);
    p->failed = true;
}

static void next(P *p) {
    const char *src = p->s->src;
    size_t n = p->s->len, i = p->pos;
    free(p->tok.str);
    p->tok = (Tok){0};
    for (;;) {
        while (i < n && (src[i] == ' ' || src[i] == '\t' || src[i] == '\r' || src[i] == '\n' || src[i] == ';')) i++;
        if (i < n && src[i] == '#') {
            while (i < n && src[i] != '\n') i++;
            continue;
        }
        break;
    }
    p->tok.at = i;
    if (i >= n) {
        p->tok.kind = T_EOF;
        p->pos = i;
        return;
    }
    unsigned char c = (unsigned char)src[i];
    size_t j = i;
    if (isalpha(c) || c == '_') {
        while (j < n && (isalnum((unsigned char)src[j]) || src[j] == '_')) j++;
        p->tok.kind = T_NAME;
    } else if (isdigit(c) || ((c == '-' || c == '.') && j + 1 < n && (isdigit((unsigned char)src[j + 1]) || src[j + 1] == '.'))) {
        j++;
        while (j < n && (isalnum((unsigned char)src[j]) || src[j] == '.' ||
                         ((src[j] == '-' || src[j] == '+') && (src[j - 1] == 'e' || src[j - 1] == 'E'))))
            j++;
        p->tok.kind = T_NUM;
    } else if (c == '"') {
        j++;
        char *buf = xmalloc(n - i + 1);
        size_t k = 0;
        while (j < n && src[j] != '"' && src[j] != '\n') {
            if (src[j] == '\\' && j + 1 < n) {
                j++;
                buf[k++] = src[j] == 'n' ? '\n' : src[j] == 't' ? '\t' : src[j];
            } else {
                buf[k++] = src[j];
            }
            j++;
        }
        buf[k] = 0;
        if (j >= n || src[j] != '"') {
            free(buf);
            perr(p, i, "unterminated string");
            p->tok.kind = T_BAD;
            p->pos = n;
            return;
        }
        j++;
        p->tok.kind = T_STR;
        p->tok.str = buf;
    } else if (strchr("=,(){}", c)) {
        j++;
        p->tok.kind = T_PUNCT;
    } else {
        perr(p, i, isprint(c) ? "unexpected character '%c'" : "unexpected byte 0x%02x", c);
        p->tok.kind = T_BAD;
        p->pos = n;
        return;
    }
    p->tok.len = j - i;
    p->pos = j;
}

static bool is_punct(P *p, char c) { return p->tok.kind == T_PUNCT && p->s->src[p->tok.at] == c; }
static bool is_word(P *p, const char *w) {
    return p->tok.kind == T_NAME && p->tok.len == strlen(w) && memcmp(p->s->src + p->tok.at, w, p->tok.len) == 0;
}
static char *tok_text(P *p) {
    char *s = xmalloc(p->tok.len + 1);
    memcpy(s, p->s->src + p->tok.at, p->tok.len);
    s[p->tok.len] = 0;
    return s;
}
static bool expect(P *p, char c) {
    if (is_punct(p, c)) {
        next(p);
        return true;
    }
    perr(p, p->tok.at, "expected '%c'", c);
    return false;
}

/* ---- values ---- */

typedef enum { V_NUM, V_STR, V_NAME, V_CALL, V_TUPLE, V_WITH } VKind;

typedef struct Val Val;
struct Val {
    VKind kind;
    size_t at;
    char *text;   /* NUM: as typed; STR: unescaped; NAME, CALL: the name; WITH: the path */
    double num;
    int n;        /* CALL: arguments; TUPLE: items; WITH: overrides */
    char **keys;  /* CALL, WITH: keyword (NULL: positional) */
    size_t *key_at;
    Val **items;
    char *with_model; /* WITH: `model NAME` */
};

static void val_free(Val *v) {
    if (!v) return;
    for (int i = 0; i < v->n; i++) {
        val_free(v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->keys);
    free(v->key_at);
    free(v->items);
    free(v->text);
    free(v->with_model);
    free(v);
}

static Val *new_val(VKind k, size_t at) {
    Val *v = xcalloc(1, sizeof *v);
    v->kind = k;
    v->at = at;
    return v;
}

static void add_item(Val *v, char *key, size_t key_at, Val *item) {
    v->items = xrealloc(v->items, sizeof *v->items * (size_t)(v->n + 1));
    v->keys = xrealloc(v->keys, sizeof *v->keys * (size_t)(v->n + 1));
    v->key_at = xrealloc(v->key_at, sizeof *v->key_at * (size_t)(v->n + 1));
    v->items[v->n] = item;
    v->keys[v->n] = key;
    v->key_at[v->n] = key_at;
    v->n++;
}

static Val *parse_value(P *p);

static Val *parse_num(P *p) {
    Val *v = new_val(V_NUM, p->tok.at);
    v->text = tok_text(p);
    char *end;
    errno = 0;
    v->num = strtod(v->text, &end);
    if (*end || errno || !isfinite(v->num)) perr(p, p->tok.at, "'%s' is not a number", v->text);
    next(p);
    return v;
}

/* value := NUM | STR ['with' '{' NAME '=' NUM, ... '}'] ['model' NAME]
 *        | NAME ['(' [arg {',' arg}] ')'] | '(' value {',' value} ')'
 * arg   := [NAME '='] value */
static Val *parse_value(P *p) {
    if (p->failed) return NULL;
    if (++p->depth > MAX_DEPTH) {
        perr(p, p->tok.at, "values nest more than %d deep", MAX_DEPTH);
        return NULL;
    }
    Val *v = NULL;
    if (p->tok.kind == T_NUM) {
        v = parse_num(p);
    } else if (p->tok.kind == T_STR) {
        v = new_val(V_STR, p->tok.at);
        v->text = p->tok.str;
        p->tok.str = NULL;
        next(p);
        if (is_word(p, "with")) {
            v->kind = V_WITH;
            next(p);
            expect(p, '{');
            while (!p->failed && !is_punct(p, '}')) {
                if (p->tok.kind != T_NAME) {
                    perr(p, p->tok.at, "expected a param name in 'with { ... }'");
                    break;
                }
                size_t kat = p->tok.at;
                char *key = tok_text(p);
                next(p);
                if (!expect(p, '=')) {
                    free(key);
                    break;
                }
                if (p->tok.kind != T_NUM) {
                    perr(p, p->tok.at, "param '%s' needs a number", key);
                    free(key);
                    break;
                }
                add_item(v, key, kat, parse_num(p));
                if (is_punct(p, ',')) next(p);
            }
            expect(p, '}');
        }
        if (!p->failed && is_word(p, "model")) {
            next(p);
            if (p->tok.kind != T_NAME) perr(p, p->tok.at, "expected a model name after 'model'");
            else {
                v->with_model = tok_text(p);
                next(p);
            }
        }
    } else if (p->tok.kind == T_NAME) {
        v = new_val(V_NAME, p->tok.at);
        v->text = tok_text(p);
        next(p);
        if (is_punct(p, '(')) {
            v->kind = V_CALL;
            next(p);
            while (!p->failed && !is_punct(p, ')')) {
                if (v->n == MAX_ARGS) {
                    perr(p, p->tok.at, "more than %d arguments", MAX_ARGS);
                    break;
                }
                char *key = NULL;
                size_t kat = p->tok.at;
                if (p->tok.kind == T_NAME) {
                    /* NAME '=' value is a keyword argument; NAME alone is a value. */
                    size_t save = p->pos;
                    Tok t = p->tok;
                    p->tok.str = NULL;
                    next(p);
                    if (is_punct(p, '=')) {
                        key = xmalloc(t.len + 1);
                        memcpy(key, p->s->src + t.at, t.len);
                        key[t.len] = 0;
                        next(p);
                    } else {
                        free(p->tok.str);
                        p->tok = t;
                        p->pos = save;
                    }
                }
                Val *a = parse_value(p);
                if (!a) {
                    free(key);
                    break;
                }
                add_item(v, key, kat, a);
                if (!is_punct(p, ',')) break;
                next(p);
            }
            expect(p, ')');
        }
    } else if (is_punct(p, '(')) {
        v = new_val(V_TUPLE, p->tok.at);
        next(p);
        while (!p->failed) {
            Val *a = parse_value(p);
            if (!a) break;
            add_item(v, NULL, a->at, a);
            if (!is_punct(p, ',')) break;
            next(p);
        }
        expect(p, ')');
    } else {
        perr(p, p->tok.at, p->tok.kind == T_EOF ? "expected a value, found the end of the file"
                                                 : "expected a value");
    }
    p->depth--;
    if (p->failed) {
        val_free(v);
        return NULL;
    }
    return v;
}

/* ---- meanings ---- */

static char *xstrdup_(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

static bool want_num(P *p, const Val *v, const char *what, double lo, double hi, bool integer, double *out) {
    if (!v || v->kind != V_NUM) {
        perr(p, v ? v->at : 0, "%s must be a number", what);
        return false;
    }
    if (integer && v->num != floor(v->num)) {
        perr(p, v->at, "%s must be an integer, not %s", what, v->text);
        return false;
    }
    if (!(v->num >= lo && v->num <= hi)) {
        perr(p, v->at, "%s must be in [%g, %g], not %s", what, lo, hi, v->text);
        return false;
    }
    *out = v->num;
    return true;
}

static bool want_int(P *p, const Val *v, const char *what, int lo, int hi, int *out) {
    double d;
    if (!want_num(p, v, what, lo, hi, true, &d)) return false;
    *out = (int)d;
    return true;
}

/* Checks a call's arguments against `names` (NULL-terminated): positional arguments take
 * the names in order; args[i] receives the value given for names[i] (or NULL). */
static bool bind_args(P *p, const Val *call, const char *const *names, const Val **args) {
    int nn = 0;
    while (names[nn]) nn++;
    for (int i = 0; i < nn; i++) args[i] = NULL;
    for (int i = 0; i < call->n; i++) {
        int k = -1;
        if (!call->keys[i]) {
            if (i >= nn) {
                perr(p, call->items[i]->at, "%s() takes at most %d argument%s", call->text, nn, nn == 1 ? "" : "s");
                return false;
            }
            k = i;
        } else {
            for (int j = 0; j < nn; j++)
                if (strcmp(names[j], call->keys[i]) == 0) k = j;
            if (k < 0) {
                char list[256] = "";
                for (int j = 0; j < nn; j++)
                    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "", names[j]);
                perr(p, call->key_at[i], "%s() has no argument '%s' (it takes %s)", call->text, call->keys[i], list);
                return false;
            }
        }
        if (args[k]) {
            perr(p, call->key_at[i], "argument '%s' of %s() is given twice", names[k], call->text);
            return false;
        }
        args[k] = call->items[i];
    }
    return true;
}

static bool is_call(const Val *v, const char *name) {
    return (v->kind == V_CALL || v->kind == V_NAME) && strcmp(v->text, name) == 0;
}

static void set_model(P *p, const Val *v) {
    RtScript *s = p->s;
    if (v->kind != V_STR && v->kind != V_WITH) {
        perr(p, v->at, "model must be a file name: model = \"gpt2.tfm\" with { n_layer = 2 }");
        return;
    }
    /* Resolve against the script's directory. */
    const char *slash = strrchr(s->file, '/');
    if (v->text[0] == '/' || !slash) {
        s->model_path = xstrdup_(v->text);
    } else {
        size_t dn = (size_t)(slash - s->file) + 1, n = dn + strlen(v->text) + 1;
        s->model_path = xmalloc(n);
        snprintf(s->model_path, n, "%.*s%s", (int)dn, s->file, v->text);
    }
    if (v->with_model) s->model_name = xstrdup_(v->with_model);
    s->defines = xcalloc((size_t)(v->n ? v->n : 1), sizeof *s->defines);
    for (int i = 0; i < v->n; i++) {
        for (int j = 0; j < i; j++)
            if (strcmp(v->keys[i], v->keys[j]) == 0) {
                perr(p, v->key_at[i], "param '%s' is set twice", v->keys[i]);
                return;
            }
        s->defines[s->ndefines++] = (FeDefine){xstrdup_(v->keys[i]), xstrdup_(v->items[i]->text)};
    }
}

static void set_data(P *p, const Val *v) {
    RtDataSpec *d = &p->s->data;
    static const char *const file_args[] = {"path", "tokens", "block", "split", "max_vocab", NULL};
    static const char *const seq_args[] = {"len", "vocab", "val", NULL};
    static const char *const mod_args[] = {"p", "val", NULL};
    const Val *a[8];
    *d = (RtDataSpec){.tokens = RT_TOK_CHAR, .block = 64, .split = 0.9, .len = 8, .vocab = 10, .p = 97,
                      .val_examples = 512};
    if (v->kind != V_CALL) {
        perr(p, v->at, "data must be text(...), labelled(...), reverse(...), copy(...) or modadd(...)");
        return;
    }
    if (is_call(v, "text") || is_call(v, "labelled")) {
        d->kind = is_call(v, "text") ? RT_DATA_TEXT : RT_DATA_LABELLED;
        if (!bind_args(p, v, file_args, a)) return;
        if (!a[0] || a[0]->kind != V_STR) {
            perr(p, a[0] ? a[0]->at : v->at, "%s() needs a file name first: %s(\"data/file\", ...)", v->text, v->text);
            return;
        }
        d->path = xstrdup_(a[0]->text);
        if (a[1]) {
            if (a[1]->kind == V_NAME && strcmp(a[1]->text, "char") == 0) d->tokens = RT_TOK_CHAR;
            else if (a[1]->kind == V_NAME && strcmp(a[1]->text, "word") == 0) d->tokens = RT_TOK_WORD;
            else if (is_call(a[1], "bpe") && d->kind == RT_DATA_TEXT) {
                if (a[1]->kind != V_CALL || a[1]->n != 1 || a[1]->keys[0] || a[1]->items[0]->kind != V_STR)
                    perr(p, a[1]->at, "bpe takes the tokenizer's directory: tokens = bpe(\"data/gpt2\")");
                else {
                    d->tokens = RT_TOK_BPE;
                    d->bpe_dir = xstrdup_(a[1]->items[0]->text);
                }
            } else if (is_call(a[1], "bpe")) perr(p, a[1]->at, "tokens = bpe(...) is for text(...) only");
            else perr(p, a[1]->at, "tokens must be char, word or bpe(\"DIR\")");
        }
        if (a[4] && d->tokens == RT_TOK_BPE) perr(p, a[4]->at, "max_vocab is for char and word tokens (bpe keeps GPT-2's vocabulary)");
        if (a[2]) want_int(p, a[2], "block", 1, 1 << 16, &d->block);
        if (a[3]) want_num(p, a[3], "split", 0.01, 0.99, false, &d->split);
        if (a[4]) want_int(p, a[4], "max_vocab", 3, 1 << 24, &d->max_vocab);
    } else if (is_call(v, "reverse") || is_call(v, "copy")) {
        d->kind = is_call(v, "reverse") ? RT_DATA_REVERSE : RT_DATA_COPY;
        if (!bind_args(p, v, seq_args, a)) return;
        if (a[0]) want_int(p, a[0], "len", 2, 4096, &d->len);
        if (a[1]) want_int(p, a[1], "vocab", 2, 1 << 20, &d->vocab);
        if (a[2]) want_int(p, a[2], "val", 1, 1 << 20, &d->val_examples);
    } else if (is_call(v, "modadd")) {
        d->kind = RT_DATA_MODADD;
        if (!bind_args(p, v, mod_args, a)) return;
        if (a[0]) want_int(p, a[0], "p", 2, 1 << 20, &d->p);
        if (a[1]) want_int(p, a[1], "val", 1, 1 << 20, &d->val_examples);
    } else {
        perr(p, v->at, "unknown data source '%s' (known: text, labelled, reverse, copy, modadd)", v->text);
    }
}

static void set_loss(P *p, const Val *v) {
    if (v->kind != V_CALL || strcmp(v->text, "cross_entropy") != 0) {
        perr(p, v->at, "unknown loss (known: cross_entropy(OUTPUT, TARGET))");
        return;
    }
    if (v->n != 2 || v->keys[0] || v->keys[1]) {
        perr(p, v->at, "cross_entropy takes two arguments: the model's output and the target");
        return;
    }
    const Val *o = v->items[0], *t = v->items[1];
    if (o->kind != V_NAME) {
        perr(p, o->at, "the first argument of cross_entropy names the model's output (e.g. logits)");
        return;
    }
    if (t->kind == V_CALL && strcmp(t->text, "next") == 0 && t->n == 1 && t->items[0]->kind == V_NAME) {
        p->s->loss_target = xstrdup_("next");
    } else if (t->kind == V_NAME && (strcmp(t->text, "target") == 0 || strcmp(t->text, "label") == 0)) {
        p->s->loss_target = xstrdup_(t->text);
    } else {
        perr(p, t->at, "the target must be next(INPUT) (language models), label (classifiers) or target "
             "(synthetic tasks)");
        return;
    }
    p->s->loss_output = xstrdup_(o->text);
}

static void set_optimizer_kind(P *p, const Val *v);
static void set_optimizer(P *p, const Val *v) {
    double clip = p->s->opt.clip; /* `clip` is its own setting, in any order */
    set_optimizer_kind(p, v);
    p->s->opt.clip = clip;
}

static void set_optimizer_kind(P *p, const Val *v) {
    RtScript *s = p->s;
    static const char *const adamw_args[] = {"lr", "betas", "eps", "weight_decay", NULL};
    static const char *const sgd_args[] = {"lr", "momentum", "weight_decay", NULL};
    const Val *a[5];
    if (v->kind != V_CALL && v->kind != V_NAME) {
        perr(p, v->at, "optimizer must be adamw(...) or sgd(...)");
        return;
    }
    if (strcmp(v->text, "adamw") == 0 || strcmp(v->text, "adam") == 0) {
        s->opt = (OptConfig){.kind = OPT_ADAMW, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                             .weight_decay = strcmp(v->text, "adam") == 0 ? 0 : 0.01};
        s->lr = 1e-3;
        if (v->kind == V_CALL && !bind_args(p, v, adamw_args, a)) return;
        if (v->kind == V_NAME) memset(a, 0, sizeof a);
        if (a[0]) want_num(p, a[0], "lr", 0, 1e6, false, &s->lr);
        if (a[1]) {
            if (a[1]->kind != V_TUPLE || a[1]->n != 2) {
                perr(p, a[1]->at, "betas must be a pair: betas = (0.9, 0.99)");
                return;
            }
            want_num(p, a[1]->items[0], "beta1", 0, 0.999999, false, &s->opt.beta1);
            want_num(p, a[1]->items[1], "beta2", 0, 0.999999, false, &s->opt.beta2);
        }
        if (a[2]) want_num(p, a[2], "eps", 1e-30, 1, false, &s->opt.eps);
        if (a[3]) want_num(p, a[3], "weight_decay", 0, 10, false, &s->opt.weight_decay);
    } else if (strcmp(v->text, "sgd") == 0) {
        s->opt = (OptConfig){.kind = OPT_SGD};
        s->lr = 0.1;
        if (v->kind == V_CALL && !bind_args(p, v, sgd_args, a)) return;
        if (v->kind == V_NAME) memset(a, 0, sizeof a);
        if (a[0]) want_num(p, a[0], "lr", 0, 1e6, false, &s->lr);
        if (a[1]) want_num(p, a[1], "momentum", 0, 0.999999, false, &s->opt.momentum);
        if (a[2]) want_num(p, a[2], "weight_decay", 0, 10, false, &s->opt.weight_decay);
    } else {
        perr(p, v->at, "unknown optimizer '%s' (known: adamw, adam, sgd)", v->text);
    }
}

static void set_schedule(P *p, const Val *v) {
    RtSchedule *c = &p->s->sched;
    static const char *const args[] = {"warmup", "min_lr", NULL};
    const Val *a[3] = {0};
    *c = (RtSchedule){.min_lr = -1};
    if (v->kind != V_CALL && v->kind != V_NAME) {
        perr(p, v->at, "schedule must be constant(...) or cosine(...)");
        return;
    }
    if (strcmp(v->text, "constant") == 0) c->kind = RT_SCHED_CONSTANT;
    else if (strcmp(v->text, "cosine") == 0) c->kind = RT_SCHED_COSINE;
    else {
        perr(p, v->at, "unknown schedule '%s' (known: constant, cosine)", v->text);
        return;
    }
    if (v->kind == V_CALL && !bind_args(p, v, args, a)) return;
    if (a[0]) want_int(p, a[0], "warmup", 0, 1 << 30, &c->warmup);
    if (a[1]) {
        if (c->kind != RT_SCHED_COSINE) perr(p, a[1]->at, "min_lr is for cosine()");
        else want_num(p, a[1], "min_lr", 0, 10, false, &c->min_lr);
    }
}

/* eval every N [batches K] | sample every N [tokens K] [prompt "..."] | save "F" [every N]
 * | export "DIR" */
static void parse_special(P *p, const char *what) {
    RtScript *s = p->s;
    size_t at = p->tok.at;
    next(p);
    if (strcmp(what, "export") == 0) {
        if (p->tok.kind != T_STR) return perr(p, p->tok.at, "expected a directory: export \"runs/x/hf\"");
        if (s->export_dir) return perr(p, at, "'export' is set twice");
        s->export_dir = p->tok.str;
        p->tok.str = NULL;
        s->at_export = loc_of(p, at);
        next(p);
        return;
    }
    if (strcmp(what, "save") == 0) {
        if (p->tok.kind != T_STR) return perr(p, p->tok.at, "expected a file name: save \"runs/x/ckpt.safetensors\"");
        free(s->save_path);
        s->save_path = p->tok.str;
        p->tok.str = NULL;
        s->at_save = loc_of(p, at);
        next(p);
        if (is_word(p, "every")) {
            next(p);
            Val *v = parse_value(p);
            want_int(p, v, "save every", 1, 1 << 30, &s->save_every);
            val_free(v);
        }
        return;
    }
    if (!is_word(p, "every")) return perr(p, p->tok.at, "expected 'every' after '%s'", what);
    next(p);
    Val *v = parse_value(p);
    int *every = strcmp(what, "eval") == 0 ? &s->eval_every : &s->sample_every;
    want_int(p, v, "every", 1, 1 << 30, every);
    val_free(v);
    for (;;) {
        if (strcmp(what, "eval") == 0 && is_word(p, "batches")) {
            next(p);
            v = parse_value(p);
            want_int(p, v, "batches", 1, 1 << 20, &s->eval_batches);
        } else if (strcmp(what, "sample") == 0 && is_word(p, "tokens")) {
            next(p);
            v = parse_value(p);
            want_int(p, v, "tokens", 1, 1 << 20, &s->sample_tokens);
        } else if (strcmp(what, "sample") == 0 && is_word(p, "prompt")) {
            next(p);
            if (p->tok.kind != T_STR) return perr(p, p->tok.at, "expected a string after 'prompt'");
            free(s->sample_prompt);
            s->sample_prompt = p->tok.str;
            p->tok.str = NULL;
            next(p);
            continue;
        } else {
            return;
        }
        val_free(v);
        if (p->failed) return;
    }
}

static const char *const keys[] = {"model", "data", "loss", "optimizer", "schedule", "steps",
                                   "batch", "clip", "seed", "metrics", NULL};

static void parse_body(P *p) {
    RtScript *s = p->s;
    bool seen[16] = {0};
    while (!p->failed && !is_punct(p, '}')) {
        if (p->tok.kind == T_EOF) return perr(p, p->tok.at, "expected '}' to close 'train %s {'", s->name);
        if (p->tok.kind != T_NAME) return perr(p, p->tok.at, "expected a setting such as 'steps = 100'");
        if (is_word(p, "eval") || is_word(p, "sample") || is_word(p, "save") || is_word(p, "export")) {
            char *w = tok_text(p);
            parse_special(p, w);
            free(w);
            continue;
        }
        size_t at = p->tok.at;
        char *key = tok_text(p);
        int k = -1;
        for (int i = 0; keys[i]; i++)
            if (strcmp(keys[i], key) == 0) k = i;
        if (k < 0) {
            perr(p, at, "unknown setting '%s' (known: model, data, loss, optimizer, schedule, steps, batch, "
                 "clip, seed, metrics, eval, sample, save, export)", key);
            free(key);
            return;
        }
        if (seen[k]) {
            perr(p, at, "'%s' is set twice", key);
            free(key);
            return;
        }
        seen[k] = true;
        next(p);
        if (!expect(p, '=')) {
            free(key);
            return;
        }
        Val *v = parse_value(p);
        if (v) {
            DiagLoc l = loc_of(p, v->at);
            double d;
            switch (k) {
            case 0: s->at_model = l; set_model(p, v); break;
            case 1: s->at_data = l; set_data(p, v); break;
            case 2: s->at_loss = l; set_loss(p, v); break;
            case 3: s->at_optimizer = l; set_optimizer(p, v); break;
            case 4: set_schedule(p, v); break;
            case 5: want_int(p, v, "steps", 1, 1 << 30, &s->steps); break;
            case 6: s->at_batch = l; want_int(p, v, "batch", 1, 1 << 20, &s->batch); break;
            case 7: if (want_num(p, v, "clip", 0, 1e9, false, &d)) s->opt.clip = d; break;
            case 8: if (want_num(p, v, "seed", 0, 9007199254740992.0, true, &d)) s->seed = (uint64_t)d; break;
            case 9:
                if (v->kind != V_STR) perr(p, v->at, "metrics must be a file name");
                else s->metrics_path = xstrdup_(v->text);
                break;
            }
        }
        val_free(v);
        free(key);
    }
    for (const char *const *r = (const char *const[]){"model", "data", "loss", NULL}; *r; r++) {
        int k = 0;
        while (strcmp(keys[k], *r) != 0) k++;
        if (!p->failed && !seen[k]) perr(p, p->tok.at, "the script sets no '%s' (every script needs model, data and loss)", *r);
    }
}

bool rt_script_sniff(const char *src, size_t len) {
    size_t i = 0;
    for (;;) {
        while (i < len && isspace((unsigned char)src[i])) i++;
        if (i < len && src[i] == '#') {
            while (i < len && src[i] != '\n') i++;
            continue;
        }
        break;
    }
    return len - i > 5 && memcmp(src + i, "train", 5) == 0 && isspace((unsigned char)src[i + 5]);
}

RtScript *rt_script_parse(const char *file, const char *src, size_t len, FILE *diag_out) {
    RtScript *s = xcalloc(1, sizeof *s);
    s->file = xstrdup_(file);
    s->src = xmalloc(len + 1);
    memcpy(s->src, src, len);
    s->src[len] = 0;
    s->len = len;
    diag_init(&s->diag, s->file, s->src, len, diag_out);
    /* Defaults (docs/training.md lists them). */
    s->opt = (OptConfig){.kind = OPT_ADAMW, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
    s->lr = 1e-3;
    s->sched.min_lr = -1;
    s->steps = 100;
    s->batch = 16;
    s->eval_batches = 8;
    s->sample_tokens = 200;
    P p = {.s = s};
    next(&p);
    if (!is_word(&p, "train")) {
        perr(&p, p.tok.at, "a training script starts with 'train NAME {'");
    } else {
        next(&p);
        if (p.tok.kind != T_NAME) perr(&p, p.tok.at, "expected the script's name after 'train'");
        else {
            s->name = tok_text(&p);
            next(&p);
            if (expect(&p, '{')) parse_body(&p);
            if (!p.failed) {
                next(&p);
                if (p.tok.kind != T_EOF) perr(&p, p.tok.at, "unexpected text after the end of 'train %s { ... }'", s->name);
            }
        }
    }
    free(p.tok.str);
    if (s->sched.min_lr < 0) s->sched.min_lr = s->lr / 10;
    if (p.failed || s->diag.errors) {
        rt_script_free(s);
        return NULL;
    }
    return s;
}

RtScript *rt_script_load(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    char *buf = xmalloc(MAX_SCRIPT + 1);
    size_t n = fread(buf, 1, MAX_SCRIPT + 1, f);
    bool bad = ferror(f);
    fclose(f);
    if (bad || n > MAX_SCRIPT) {
        snprintf(err, errlen, bad ? "cannot read '%s'" : "'%s' is larger than 1 MiB (not a training script?)", path);
        free(buf);
        return NULL;
    }
    RtScript *s = rt_script_parse(path, buf, n, stderr);
    free(buf);
    if (!s) snprintf(err, errlen, "%s: the training script has errors", path);
    return s;
}

void rt_script_free(RtScript *s) {
    if (!s) return;
    for (int i = 0; i < s->ndefines; i++) {
        free((char *)s->defines[i].name);
        free((char *)s->defines[i].value);
    }
    free(s->defines);
    free(s->name);
    free(s->file);
    free(s->src);
    free(s->model_path);
    free(s->model_name);
    free(s->data.path);
    free(s->data.bpe_dir);
    free(s->export_dir);
    free(s->loss_output);
    free(s->loss_target);
    free(s->sample_prompt);
    free(s->save_path);
    free(s->metrics_path);
    free(s);
}
