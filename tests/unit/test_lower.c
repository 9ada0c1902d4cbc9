/* test_lower.c — lowering .tfm to IR: the models in models/ compile, verify and carry
 * Hugging Face checkpoint names; -D overrides and --model selection; the shorthands lower
 * to primitive ops; and user errors give NULL with a message, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frontend/frontend.h"

typedef struct {
    IrModule *m;
    char *msgs;
    int errors;
} Result;

static Result compile_n(const char *src, size_t len, const FeDefine *defs, int ndefs, const char *model) {
    Result r = {0};
    size_t n = 0;
    FILE *out = open_memstream(&r.msgs, &n);
    Diag d;
    diag_init(&d, "t.tfm", src, len, out);
    r.m = fe_compile_model("t.tfm", src, len, defs, ndefs, model, &d);
    fclose(out);
    r.errors = d.errors;
    if (r.m) {
        char err[512];
        if (!ir_verify(r.m, err, sizeof err)) fail_msg("IR does not verify: %s", err);
    }
    return r;
}

static Result compile(const char *src, const FeDefine *defs, int ndefs, const char *model) {
    return compile_n(src, strlen(src), defs, ndefs, model);
}

static void done(Result *r) {
    if (r->m) ir_module_destroy(r->m);
    free(r->msgs);
}

/* models/NAME, found from this file's path (tests run from the build folder). */
static char *read_model(const char *name) {
    char path[4096];
    const char *here = __FILE__, *cut = strstr(here, "tests/unit/");
    snprintf(path, sizeof path, "%.*smodels/%s", cut ? (int)(cut - here) : 0, here, name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *src = malloc((size_t)n + 1);
    assert_int_equal(fread(src, 1, (size_t)n, f), (size_t)n);
    src[n] = 0;
    fclose(f);
    return src;
}

static int count_weights(const IrModule *m) {
    int n = 0;
    for (const IrWeight *w = m->weights; w; w = w->next) n++;
    return n;
}

static void expect_weight(const IrModule *m, const char *name, const char *type) {
    const IrWeight *w = ir_module_find_weight(m, name);
    if (!w) fail_msg("no weight %s", name);
    char buf[IR_TYPE_STR_MAX];
    assert_string_equal(ir_type_str(&w->type, buf, sizeof buf), type);
}

static void expect_result(IrModule *m, const char *type) {
    IrFunc *f = ir_module_find_func(m, "forward");
    assert_non_null(f);
    assert_int_equal(f->nresults, 1);
    char buf[IR_TYPE_STR_MAX];
    assert_string_equal(ir_type_str(&f->results[0]->type, buf, sizeof buf), type);
}

/* Checks: GPT-2 small has exactly Hugging Face GPT2Model's 148 tensors with their shapes
 * (Conv1D layout [in, out]), one input i32[B, T] and logits f32[B, T, 50257]. */
static void test_gpt2_small(void **state) {
    (void)state;
    char *src = read_model("gpt2.tfm");
    Result r = compile(src, NULL, 0, NULL);
    assert_non_null(r.m);
    assert_int_equal(count_weights(r.m), 2 + 12 * 12 + 2);
    expect_weight(r.m, "wte.weight", "f32[50257, 768]");
    expect_weight(r.m, "wpe.weight", "f32[1024, 768]");
    expect_weight(r.m, "h.0.ln_1.weight", "f32[768]");
    expect_weight(r.m, "h.0.ln_1.bias", "f32[768]");
    expect_weight(r.m, "h.0.attn.c_attn.weight", "f32[768, 2304]");
    expect_weight(r.m, "h.0.attn.c_attn.bias", "f32[2304]");
    expect_weight(r.m, "h.5.attn.c_proj.weight", "f32[768, 768]");
    expect_weight(r.m, "h.11.ln_2.bias", "f32[768]");
    expect_weight(r.m, "h.11.mlp.c_fc.weight", "f32[768, 3072]");
    expect_weight(r.m, "h.11.mlp.c_proj.weight", "f32[3072, 768]");
    expect_weight(r.m, "ln_f.weight", "f32[768]");
    expect_weight(r.m, "ln_f.bias", "f32[768]");
    IrFunc *f = ir_module_find_func(r.m, "forward");
    assert_int_equal(f->nparams, 1);
    char buf[IR_TYPE_STR_MAX];
    assert_string_equal(ir_type_str(&f->params[0]->type, buf, sizeof buf), "i32[B, T]");
    expect_result(r.m, "f32[B, T, 50257]");
    done(&r);
    free(src);
}

/* Checks: -D overrides shrink GPT-2; an unknown or non-numeric -D is an error naming it. */
static void test_defines(void **state) {
    (void)state;
    char *src = read_model("gpt2.tfm");
    FeDefine small[] = {{"n_layer", "2"}, {"n_embd", "64"}, {"n_head", "4"}, {"vocab", "256"}};
    Result r = compile(src, small, 4, NULL);
    assert_non_null(r.m);
    assert_int_equal(count_weights(r.m), 2 + 2 * 12 + 2);
    expect_weight(r.m, "h.1.attn.c_attn.weight", "f32[64, 192]");
    assert_null(ir_module_find_weight(r.m, "h.2.ln_1.weight"));
    expect_result(r.m, "f32[B, T, 256]");
    done(&r);
    FeDefine typo[] = {{"n_layr", "2"}};
    r = compile(src, typo, 1, NULL);
    assert_null(r.m);
    assert_non_null(strstr(r.msgs, "-D n_layr: model 'gpt2' has no param 'n_layr' (did you mean 'n_layer'?)"));
    done(&r);
    FeDefine bad[] = {{"n_layer", "two"}};
    r = compile(src, bad, 1, NULL);
    assert_null(r.m);
    assert_non_null(strstr(r.msgs, "-D n_layer=two: 'two' is not a number"));
    done(&r);
    free(src);
}

/* Checks: the BERT classifier gives class logits [B, n_class] from i32[B, T] tokens. */
static void test_bert(void **state) {
    (void)state;
    char *src = read_model("bert.tfm");
    FeDefine small[] = {{"n_layer", "2"}, {"n_embd", "64"}, {"n_head", "4"}, {"vocab", "256"}, {"n_class", "3"}};
    Result r = compile(src, small, 5, NULL);
    assert_non_null(r.m);
    expect_weight(r.m, "layer.1.self_attn.query.weight", "f32[64, 64]");
    expect_weight(r.m, "classifier.weight", "f32[64, 3]");
    expect_result(r.m, "f32[B, 3]");
    done(&r);
    free(src);
}

/* Checks: every model of attention.tfm compiles when picked with --model, the default is
 * the last one, and an unknown name lists the models. */
static void test_attention_models(void **state) {
    (void)state;
    char *src = read_model("attention.tfm");
    const char *names[] = {"dot_product", "scaled_dot_product", "general", "additive",
                           "additive_tanh", "single_head", "multi_head", "attention_block"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        Result r = compile(src, NULL, 0, names[i]);
        if (!r.m) fail_msg("%s: %s", names[i], r.msgs);
        assert_string_equal(r.m->name, names[i]);
        expect_result(r.m, "f32[B, T, 64]");
        done(&r);
    }
    Result r = compile(src, NULL, 0, NULL);
    assert_non_null(r.m);
    assert_string_equal(r.m->name, "attention_block");
    done(&r);
    r = compile(src, NULL, 0, "nope");
    assert_null(r.m);
    assert_non_null(strstr(r.msgs, "no model named 'nope' in this file (it has: dot_product, scaled_dot_product"));
    done(&r);
    free(src);
}

/* The ops of @forward in order, as their text names joined by spaces. */
static char *op_list(IrModule *m) {
    char *s = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&s, &n);
    for (IrValue *v = ir_module_find_func(m, "forward")->first; v; v = v->next)
        fprintf(out, "%s%s", v == ir_module_find_func(m, "forward")->first ? "" : " ", ir_op_name(v->op));
    fclose(out);
    return s;
}

/* Checks: mask_causal, heads and merge_heads lower to primitive ops only (what the fusion
 * passes look for), and split to one OP_SPLIT per part. */
static void test_shorthands_are_primitive(void **state) {
    (void)state;
    Result r = compile("model m {\n  input x: f32[B, T, T]\n  y = softmax(mask_causal(x))\n  output y\n}\n", NULL, 0, NULL);
    assert_non_null(r.m);
    char *ops = op_list(r.m);
    assert_string_equal(ops, "input arange reshape arange le constant where softmax");
    free(ops);
    done(&r);
    r = compile("model m {\n  input x: f32[B, T, 12]\n  a, b, c = split(x, 3, axis=-1) |> heads(2)\n"
                "  y = merge_heads(a)\n  output y\n}\n", NULL, 0, NULL);
    assert_non_null(r.m);
    ops = op_list(r.m);
    assert_string_equal(ops, "input split split split reshape transpose reshape transpose reshape transpose transpose reshape");
    free(ops);
    IrValue *s1 = r.m->funcs->first->next->next;
    assert_int_equal(s1->op, OP_SPLIT);
    assert_int_equal(s1->attrs.parts, 3);
    assert_int_equal(s1->attrs.index, 1);
    assert_int_equal(s1->attrs.axis, 2);
    expect_result(r.m, "f32[B, T, 4]");
    done(&r);
}

/* Checks: compile-time integer expressions over params, integer division that is exact
 * stays an integer, and sqrt of a number is folded instead of becoming an op. */
static void test_compile_time_arithmetic(void **state) {
    (void)state;
    Result r = compile("model m {\n  param C = 48, H = 4\n  input x: f32[B, C]\n  weight w: f32[C, 3*C - C / H] = zeros\n"
                       "  y = x @ w / sqrt(C / H - 8)\n  output y\n}\n", NULL, 0, NULL);
    assert_non_null(r.m);
    expect_weight(r.m, "w", "f32[48, 132]");
    char *ops = op_list(r.m);
    assert_string_equal(ops, "input weight matmul constant div");
    free(ops);
    IrValue *c = r.m->funcs->last->prev;
    assert_int_equal(c->op, OP_CONSTANT);
    assert_true(c->attrs.value == 2.0);
    done(&r);
}

/* Checks: weights made in a block get the block's name as prefix, inside a loop also the
 * loop's `as` path; layer helpers make .weight/.bias with the documented initialisers. */
static void test_weight_paths(void **state) {
    (void)state;
    Result r = compile("model m {\n  input x: f32[B, 8]\n  for i in 1..3 as enc.{i}.sub {\n    x = f(x)\n  }\n  output x\n}\n"
                       "block f(a: f32[B, C]) {\n  weight proj = linear(C, C, bias=false)\n  weight ln = layernorm(C)\n"
                       "  weight s: f32[C] = uniform(-1, 1)\n  return ln(proj(a)) * s\n}\n", NULL, 0, NULL);
    assert_non_null(r.m);
    expect_weight(r.m, "enc.1.sub.f.proj.weight", "f32[8, 8]");
    assert_null(ir_module_find_weight(r.m, "enc.1.sub.f.proj.bias"));
    expect_weight(r.m, "enc.2.sub.f.ln.bias", "f32[8]");
    const IrWeight *w = ir_module_find_weight(r.m, "enc.2.sub.f.ln.weight");
    assert_int_equal(w->init.kind, INIT_ONES);
    w = ir_module_find_weight(r.m, "enc.2.sub.f.s");
    assert_int_equal(w->init.kind, INIT_UNIFORM);
    assert_true(w->init.a == -1.0 && w->init.b == 1.0);
    w = ir_module_find_weight(r.m, "enc.1.sub.f.proj.weight");
    assert_int_equal(w->init.kind, INIT_NORMAL);
    assert_true(w->init.a == 0.02);
    assert_int_equal(count_weights(r.m), 2 * 4);
    done(&r);
}

/* Checks: user errors give NULL and the message, at the operator for shape errors. */
static void test_errors(void **state) {
    (void)state;
    Result r = compile("model m {\n  input a: f32[B, 3]\n  input b: f32[B, 4]\n  y = a + b\n  output y\n}\n", NULL, 0, NULL);
    assert_null(r.m);
    assert_non_null(strstr(r.msgs, "t.tfm:4:9: error: cannot add f32[B, 3] and f32[B, 4]"));
    done(&r);
    r = compile("model m {\n  input x: f32[B, 3]\n  y = softmax(x, 1, 2)\n  output y\n}\n", NULL, 0, NULL);
    assert_non_null(strstr(r.msgs, "t.tfm:3:7: error: softmax takes 1 argument but 3 were given"));
    done(&r);
    r = compile("model m {\n  input x: f32[B, 3]\n  y = a(x)\n  output y\n}\nblock a(x) {\n  return b(x)\n}\n"
                "block b(x) {\n  return a(x)\n}\n", NULL, 0, NULL);
    assert_non_null(strstr(r.msgs, "block 'a' calls itself through 'b' (recursion is not allowed)"));
    done(&r);
    r = compile("model m {\n  input x: f32[B, 3]\n  y = x\n}\n", NULL, 0, NULL);
    assert_non_null(strstr(r.msgs, "model 'm' has no output"));
    done(&r);
}

/* Checks: arbitrary bytes never crash the frontend: every prefix of a real model, and
 * random bytes, either compile or report an error. */
static void test_hostile_inputs(void **state) {
    (void)state;
    char *src = read_model("gpt2.tfm");
    size_t len = strlen(src);
    FeDefine small[] = {{"n_layer", "1"}, {"n_embd", "8"}, {"n_head", "2"}, {"vocab", "16"}, {"n_ctx", "8"}};
    for (size_t cut = 0; cut < len; cut += 7) {
        Result r = compile_n(src, cut, small, 5, NULL);
        assert_true(r.m != NULL || r.errors > 0);
        done(&r);
    }
    uint32_t seed = 12345;
    char buf[512];
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof buf; i++) {
            seed = seed * 1103515245u + 12345u;
            /* Mostly characters the language uses, so the parser gets further. */
            static const char alphabet[] = "model block x y f(){}[],:=+-*/@^.|> \n0123456789#Tin";
            buf[i] = (seed >> 24) % 4 ? alphabet[(seed >> 8) % (sizeof alphabet - 1)] : (char)(seed >> 16);
        }
        Result r = compile_n(buf, sizeof buf, NULL, 0, NULL);
        assert_true(r.m != NULL || r.errors > 0);
        done(&r);
    }
    free(src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2_small), cmocka_unit_test(test_defines),
        cmocka_unit_test(test_bert), cmocka_unit_test(test_attention_models),
        cmocka_unit_test(test_shorthands_are_primitive), cmocka_unit_test(test_compile_time_arithmetic),
        cmocka_unit_test(test_weight_paths), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_hostile_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
