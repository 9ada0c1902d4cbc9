/* test_script.c — the training-script parser (runtime/script.c) and the learning-rate
 * schedules (runtime/schedule.c): every setting read into RtScript, defaults, and one
 * diagnostic per kind of mistake (checked to fail, with the message going to a file). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/schedule.h"
#include "runtime/script.h"

static RtScript *parse(const char *src, char *msg, size_t n) {
    FILE *f = tmpfile();
    RtScript *s = rt_script_parse("dir/t.tfm", src, strlen(src), f);
    rewind(f);
    size_t k = fread(msg, 1, n - 1, f);
    msg[k] = 0;
    fclose(f);
    return s;
}

static void test_full_script(void **state) {
    (void)state;
    char msg[1024];
    RtScript *s = parse("# a comment\n"
                        "train moby {\n"
                        "  model = \"gpt2.tfm\" with { n_layer = 4, n_embd = 128 }\n"
                        "  data = text(\"data/m.txt\", tokens = word, block = 128, split = 0.8, max_vocab = 500)\n"
                        "  loss = cross_entropy(logits, next(idx))\n"
                        "  optimizer = adamw(lr = 1e-3, betas = (0.9, 0.99), weight_decay = 0.1)\n"
                        "  schedule = cosine(warmup = 100)\n"
                        "  steps = 3000   batch = 32   clip = 1.0   seed = 5\n"
                        "  eval every 200 batches 20\n"
                        "  sample every 1000 tokens 200 prompt \"Call me\"\n"
                        "  save \"runs/m/ckpt.safetensors\" every 500\n"
                        "}\n",
                        msg, sizeof msg);
    assert_non_null(s);
    assert_string_equal(s->name, "moby");
    assert_string_equal(s->model_path, "dir/gpt2.tfm"); /* relative to the script */
    assert_int_equal(s->ndefines, 2);
    assert_string_equal(s->defines[1].name, "n_embd");
    assert_string_equal(s->defines[1].value, "128");
    assert_int_equal(s->data.kind, RT_DATA_TEXT);
    assert_int_equal(s->data.tokens, RT_TOK_WORD);
    assert_int_equal(s->data.block, 128);
    assert_int_equal(s->data.max_vocab, 500);
    assert_true(s->data.split == 0.8);
    assert_string_equal(s->loss_target, "next");
    assert_int_equal(s->opt.kind, OPT_ADAMW);
    assert_true(s->opt.beta2 == 0.99 && s->opt.weight_decay == 0.1 && s->opt.clip == 1.0);
    assert_true(s->lr == 1e-3);
    assert_int_equal(s->sched.kind, RT_SCHED_COSINE);
    assert_int_equal(s->sched.warmup, 100);
    assert_true(s->sched.min_lr == 1e-4); /* lr / 10 by default */
    assert_int_equal(s->steps, 3000);
    assert_int_equal(s->batch, 32);
    assert_int_equal(s->seed, 5);
    assert_int_equal(s->eval_every, 200);
    assert_int_equal(s->eval_batches, 20);
    assert_int_equal(s->sample_every, 1000);
    assert_string_equal(s->sample_prompt, "Call me");
    assert_string_equal(s->save_path, "runs/m/ckpt.safetensors");
    assert_int_equal(s->save_every, 500);
    rt_script_free(s);
}

static void test_clip_before_optimizer(void **state) {
    (void)state;
    char msg[512];
    RtScript *s = parse("train x { model = \"m.tfm\" data = reverse() loss = cross_entropy(logits, target)\n"
                        "clip = 0.5 optimizer = sgd(lr = 0.1, momentum = 0.9) }", msg, sizeof msg);
    assert_non_null(s);
    assert_true(s->opt.clip == 0.5);
    assert_int_equal(s->opt.kind, OPT_SGD);
    assert_true(s->opt.momentum == 0.9);
    rt_script_free(s);
}

static void test_errors(void **state) {
    (void)state;
    static const struct {
        const char *src, *want;
    } cases[] = {
        {"model x {}", "1:1: error: a training script starts with 'train NAME {'"},
        {"train x { steps = 1.5 }", "error: steps must be an integer, not 1.5"},
        {"train x { steps = 1 steps = 2 }", "error: 'steps' is set twice"},
        {"train x { data = audio(\"a\") }", "error: unknown data source 'audio'"},
        {"train x { optimizer = lion() }", "error: unknown optimizer 'lion'"},
        {"train x { optimizer = adamw(betas = 0.9) }", "error: betas must be a pair"},
        {"train x { schedule = linear() }", "error: unknown schedule 'linear'"},
        {"train x { loss = mse(a, b) }", "error: unknown loss"},
        {"train x { model = \"m\" with { n = x } }", "error: param 'n' needs a number"},
        {"train x { data = text(\"a\", tokens = bpe) }", "error: bpe takes the tokenizer's directory"},
        {"train x { data = text(\"a\", tokens = bytes) }", "error: tokens must be char, word or bpe(\"DIR\")"},
        {"train x { data = labelled(\"a\", tokens = bpe(\"d\")) }", "error: tokens = bpe(...) is for text(...) only"},
        {"train x { export \"a\" export \"b\" }", "error: 'export' is set twice"},
        {"train x { export 3 }", "error: expected a directory: export \"runs/x/hf\""},
        {"train x { model = \"a\n }", "error: unterminated string"},
        {"train x { batch = 0 }", "error: batch must be in [1, "},
        {"train x { model = \"m\" data = reverse() loss = cross_entropy(logits, target) } extra",
         "error: unexpected text after the end"},
        {"train x { steps = 1 ! }", "error: unexpected character '!'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char msg[1024];
        RtScript *s = parse(cases[i].src, msg, sizeof msg);
        if (s || !strstr(msg, cases[i].want)) {
            fprintf(stderr, "case %zu: %s\n  want: %s\n  got: %s\n", i, cases[i].src, cases[i].want, msg);
            fail();
        }
    }
}

static void test_schedule(void **state) {
    (void)state;
    RtSchedule c = {.kind = RT_SCHED_COSINE, .warmup = 10, .min_lr = 0.1};
    assert_true(rt_schedule_lr(&c, 1.0, 1, 110) == 0.1);  /* warm-up: lr * 1/10 */
    assert_true(rt_schedule_lr(&c, 1.0, 10, 110) == 1.0); /* end of warm-up */
    assert_true(fabs(rt_schedule_lr(&c, 1.0, 60, 110) - 0.55) < 1e-12); /* half way: (1 + 0.1) / 2 */
    assert_true(fabs(rt_schedule_lr(&c, 1.0, 110, 110) - 0.1) < 1e-12); /* ends at min_lr */
    RtSchedule k = {.kind = RT_SCHED_CONSTANT};
    assert_true(rt_schedule_lr(&k, 0.5, 77, 100) == 0.5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_script),
        cmocka_unit_test(test_clip_before_optimizer),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
