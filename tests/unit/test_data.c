/* test_data.c — the data loaders (runtime/data.c): synthetic examples are what they
 * claim (reversal reversed, modadd sums), batches depend on the seed alone and resume
 * exactly from a saved position, text vocabularies and baselines, labelled files. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/data.h"

static RtData *open_spec(RtDataSpec sp, uint64_t seed) {
    char err[512];
    RtData *d = rt_data_open(&sp, seed, err, sizeof err);
    if (!d) fprintf(stderr, "%s\n", err);
    assert_non_null(d);
    return d;
}

static void test_reverse(void **state) {
    (void)state;
    RtData *d = open_spec((RtDataSpec){.kind = RT_DATA_REVERSE, .len = 5, .vocab = 7, .val_examples = 16}, 3);
    const RtDataInfo *in = rt_data_info(d);
    assert_int_equal(in->T, 9);
    assert_int_equal(in->vocab, 7);
    assert_true(fabs(in->baseline - log(7.0)) < 1e-12);
    int32_t idx[4 * 9], tgt[4 * 9];
    rt_data_next_batch(d, 4, idx, tgt);
    for (int b = 0; b < 4; b++) {
        int32_t s[10];
        s[0] = idx[b * 9];
        for (int i = 0; i < 9; i++) {
            s[i + 1] = tgt[b * 9 + i];
            if (i > 0) assert_int_equal(idx[b * 9 + i], tgt[b * 9 + i - 1]); /* shifted by one */
        }
        for (int i = 0; i < 5; i++) assert_int_equal(s[5 + i], s[4 - i]);
    }
    rt_data_free(d);
}

static void test_modadd(void **state) {
    (void)state;
    RtData *d = open_spec((RtDataSpec){.kind = RT_DATA_MODADD, .p = 11, .val_examples = 21}, 1);
    const RtDataInfo *in = rt_data_info(d);
    assert_int_equal(in->n_train, 100);
    assert_int_equal(in->vocab, 12);
    int32_t idx[3 * 8], tgt[3 * 8];
    rt_data_val_batch(d, 0, 8, idx, tgt);
    for (int b = 0; b < 8; b++) {
        assert_int_equal(idx[b * 3 + 2], 11);
        assert_int_equal(tgt[b * 3 + 2], (idx[b * 3] + idx[b * 3 + 1]) % 11);
    }
    rt_data_free(d);
}

static void test_resume_position(void **state) {
    (void)state;
    RtDataSpec sp = {.kind = RT_DATA_MODADD, .p = 7, .val_examples = 9}; /* 40 train pairs */
    RtData *a = open_spec(sp, 5), *b = open_spec(sp, 5), *c = open_spec(sp, 6);
    int32_t x[5 * 16], y[5 * 16], x2[5 * 16], y2[5 * 16]; /* room for the copy task (T = 5) */
    for (int k = 0; k < 3; k++) rt_data_next_batch(a, 16, x, y); /* crosses an epoch */
    RtDataPos pos = rt_data_pos(a);
    rt_data_next_batch(a, 16, x, y);
    rt_data_seek(b, pos);
    rt_data_next_batch(b, 16, x2, y2);
    assert_memory_equal(x, x2, sizeof(int32_t) * 3 * 16);
    assert_memory_equal(y, y2, sizeof(int32_t) * 3 * 16);
    rt_data_seek(c, (RtDataPos){0, 0, 0});
    rt_data_free(a);
    rt_data_free(b);
    rt_data_free(c);
    /* Infinite streams restore from the generator state. */
    RtDataSpec rv = {.kind = RT_DATA_COPY, .len = 3, .vocab = 4, .val_examples = 4};
    a = open_spec(rv, 9);
    b = open_spec(rv, 9);
    rt_data_next_batch(a, 16, x, y);
    pos = rt_data_pos(a);
    rt_data_next_batch(a, 16, x, y);
    rt_data_seek(b, pos);
    rt_data_next_batch(b, 16, x2, y2);
    assert_memory_equal(x, x2, sizeof(int32_t) * 16 * 5);
    rt_data_free(a);
    rt_data_free(b);
}

static char *write_tmp(const char *text) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/tfc_test_data_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_text_char(void **state) {
    (void)state;
    char *path = write_tmp("abababababababababab abababababab cccc");
    RtData *d = open_spec((RtDataSpec){.kind = RT_DATA_TEXT, .path = path, .tokens = RT_TOK_CHAR, .block = 4,
                                       .split = 0.5},
                          1);
    const RtDataInfo *in = rt_data_info(d);
    assert_int_equal(in->vocab, 3); /* <unk>, 'a', 'b' from the training half */
    assert_true(fabs(in->baseline - log(2.0)) < 1e-12);
    int32_t idx[4], tgt[4];
    rt_data_val_batch(d, 0, 1, idx, tgt);
    for (int i = 0; i < 3; i++) assert_int_equal(idx[i + 1], tgt[i]);
    int32_t ids[8];
    assert_int_equal(rt_data_encode(d, "abc", ids, 8), 3);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[2], 0); /* 'c' never seen in training */
    rt_data_free(d);
    remove(path);
}

static void test_labelled(void **state) {
    (void)state;
    char *path = write_tmp("spam\tbuy cheap pills now\nham\thello bob see you\nham\tmeeting at noon\n"
                           "spam\tcheap cheap pills\nham\tlunch at noon bob\nham\tsee you bob\n");
    RtData *d = open_spec((RtDataSpec){.kind = RT_DATA_LABELLED, .path = path, .tokens = RT_TOK_WORD, .block = 3,
                                       .split = 0.5},
                          1);
    const RtDataInfo *in = rt_data_info(d);
    assert_int_equal(in->n_class, 2);
    assert_int_equal(in->n_train, 3);
    assert_int_equal(in->n_val, 3);
    assert_false(in->per_token);
    int32_t idx[3 * 3], tgt[3];
    rt_data_val_batch(d, 0, 3, idx, tgt);
    for (int i = 0; i < 3; i++) assert_true(tgt[i] == 0 || tgt[i] == 1); /* ham < spam */
    rt_data_free(d);
    char err[256];
    remove(path);
    path = write_tmp("no tab here\n");
    RtDataSpec bad = {.kind = RT_DATA_LABELLED, .path = path, .block = 3, .split = 0.5};
    assert_null(rt_data_open(&bad, 1, err, sizeof err));
    assert_non_null(strstr(err, ":1: expected LABEL<TAB>TEXT"));
    remove(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reverse),         cmocka_unit_test(test_modadd),
        cmocka_unit_test(test_resume_position), cmocka_unit_test(test_text_char),
        cmocka_unit_test(test_labelled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
