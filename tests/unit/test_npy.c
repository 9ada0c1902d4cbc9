/* test_npy.c — .npy round trips, the converted dtypes, and every malformed-file case
 * with the message it must give. Malformed files are written byte by byte here, so
 * the test needs no Python; the header strings are the ones NumPy writes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/npy.h"

static char dir[64];

static int setup(void **state) {
    snprintf(dir, sizeof dir, "/tmp/tfc_test_npy_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *path(const char *name) {
    static char buf[128];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

/* Write a .npy of format `major` with the given header dict (padded to 64 as NumPy
 * does) followed by `len` data bytes. */
static void write_raw(const char *p, int major, const char *dict, const void *data, size_t len) {
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hlen = (pre + dl + 1 + 63) / 64 * 64 - pre;
    fwrite("\x93NUMPY", 1, 6, f);
    fputc(major, f);
    fputc(0, f);
    for (size_t i = 0; i < pre - 8; i++) fputc((int)((hlen >> (8 * i)) & 0xff), f);
    fwrite(dict, 1, dl, f);
    for (size_t i = dl; i < hlen - 1; i++) fputc(' ', f);
    fputc('\n', f);
    if (len) fwrite(data, 1, len, f);
    fclose(f);
}

static void expect_error(const char *p, const char *needle) {
    char err[512];
    Tensor *t = rt_npy_read(p, err, sizeof err);
    if (t) fail_msg("%s: read succeeded, expected an error containing '%s'", p, needle);
    if (!strstr(err, needle) || !strstr(err, p))
        fail_msg("message '%s' lacks '%s' or the file name", err, needle);
}

static void test_round_trip(void **state) {
    char err[512];
    int64_t dims[2] = {2, 3};
    Tensor *t = tensor_create(DT_F32, 2, dims, err, sizeof err);
    for (int i = 0; i < 6; i++) ((float *)t->data)[i] = (float)i * 0.5f - 1;
    assert_true(rt_npy_write(path("a.npy"), t, err, sizeof err));
    Tensor *u = rt_npy_read(path("a.npy"), err, sizeof err);
    assert_non_null(u);
    assert_int_equal(u->dtype, DT_F32);
    assert_int_equal(u->rank, 2);
    assert_int_equal(u->dims[0], 2);
    assert_int_equal(u->dims[1], 3);
    assert_memory_equal(u->data, t->data, 24);
    tensor_destroy(u);
    tensor_destroy(t);
    /* the header is the one NumPy writes: 128 bytes in all, padded with spaces */
    FILE *f = fopen(path("a.npy"), "rb");
    char head[128];
    assert_int_equal(fread(head, 1, 128, f), 128);
    fclose(f);
    assert_memory_equal(head + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                        59);
    assert_int_equal(head[127], '\n');

    /* i32 vector, scalar and an empty tensor */
    int64_t d1 = 4, d0[2] = {0, 3};
    t = tensor_create(DT_I32, 1, &d1, err, sizeof err);
    for (int i = 0; i < 4; i++) ((int32_t *)t->data)[i] = -i * 1000003;
    assert_true(rt_npy_write(path("i.npy"), t, err, sizeof err));
    u = rt_npy_read(path("i.npy"), err, sizeof err);
    assert_non_null(u);
    assert_int_equal(u->dtype, DT_I32);
    assert_int_equal(u->rank, 1);
    assert_memory_equal(u->data, t->data, 16);
    tensor_destroy(u);
    tensor_destroy(t);
    t = tensor_create(DT_F32, 0, NULL, err, sizeof err);
    ((float *)t->data)[0] = 42;
    assert_true(rt_npy_write(path("s.npy"), t, err, sizeof err));
    u = rt_npy_read(path("s.npy"), err, sizeof err);
    assert_non_null(u);
    assert_int_equal(u->rank, 0);
    assert_true(((float *)u->data)[0] == 42);
    tensor_destroy(u);
    tensor_destroy(t);
    t = tensor_create(DT_F32, 2, d0, err, sizeof err);
    assert_true(rt_npy_write(path("e.npy"), t, err, sizeof err));
    u = rt_npy_read(path("e.npy"), err, sizeof err);
    assert_non_null(u);
    assert_int_equal(u->dims[0], 0);
    assert_int_equal(u->dims[1], 3);
    tensor_destroy(u);
    tensor_destroy(t);
}

static void test_converted_dtypes(void **state) {
    char err[512];
    double d[3] = {1.5, -2.25, 1e300};
    write_raw(path("f8.npy"), 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", d,
              sizeof d);
    Tensor *t = rt_npy_read(path("f8.npy"), err, sizeof err);
    assert_non_null(t);
    assert_int_equal(t->dtype, DT_F32);
    assert_true(((float *)t->data)[0] == 1.5f && ((float *)t->data)[1] == -2.25f);
    assert_true(isinf(((float *)t->data)[2]));
    tensor_destroy(t);
    int64_t q[2] = {-5, 2000000000};
    /* format 2.0, double quotes and keys in another order are accepted too */
    write_raw(path("i8.npy"), 2, "{\"shape\": (1, 2), \"fortran_order\": False, \"descr\": \"<i8\"}",
              q, sizeof q);
    t = rt_npy_read(path("i8.npy"), err, sizeof err);
    if (!t) fail_msg("%s", err);
    assert_int_equal(t->dtype, DT_I32);
    assert_int_equal(((int32_t *)t->data)[0], -5);
    assert_int_equal(((int32_t *)t->data)[1], 2000000000);
    tensor_destroy(t);
    unsigned char bytes[3] = {0, 200, 255};
    write_raw(path("u1.npy"), 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }",
              bytes, 3);
    t = rt_npy_read(path("u1.npy"), err, sizeof err);
    assert_non_null(t);
    assert_int_equal(((int32_t *)t->data)[2], 255);
    tensor_destroy(t);
    uint16_t h[2] = {0x3c00, 0xc000}; /* half 1.0, -2.0 */
    write_raw(path("f2.npy"), 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", h, 4);
    t = rt_npy_read(path("f2.npy"), err, sizeof err);
    assert_non_null(t);
    assert_true(((float *)t->data)[0] == 1.0f && ((float *)t->data)[1] == -2.0f);
    tensor_destroy(t);
}

static void test_malformed(void **state) {
    float f4[6] = {0};
    int64_t big[1] = {INT64_C(3000000000)};
    write_raw(path("fortran.npy"), 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
              f4, 24);
    expect_error(path("fortran.npy"), "Fortran order");
    write_raw(path("be.npy"), 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }",
              f4, 24);
    expect_error(path("be.npy"), "big-endian");
    write_raw(path("short.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
              f4, 20);
    expect_error(path("short.npy"), "truncated");
    write_raw(path("long.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
              f4, 24);
    expect_error(path("long.npy"), "8 bytes follow");
    write_raw(path("i8big.npy"), 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
              big, 8);
    expect_error(path("i8big.npy"), "outside the i32 range");
    write_raw(path("c8.npy"), 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
              f4, 8);
    expect_error(path("c8.npy"), "dtype '<c8' is not supported");
    write_raw(path("nodict.npy"), 1, "[1, 2]", NULL, 0);
    expect_error(path("nodict.npy"), "not a Python dict");
    write_raw(path("noshape.npy"), 1, "{'descr': '<f4', 'fortran_order': False}", NULL, 0);
    expect_error(path("noshape.npy"), "lacks 'shape'");
    write_raw(path("negshape.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
              NULL, 0);
    expect_error(path("negshape.npy"), "not a non-negative integer");
    write_raw(path("huge.npy"), 1,
              "{'descr': '<f4', 'fortran_order': False, 'shape': (4000000, 4000000, 4000000)}",
              NULL, 0);
    expect_error(path("huge.npy"), "more than");
    write_raw(path("key.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}",
              f4, 4);
    expect_error(path("key.npy"), "unexpected key 'x'");
    write_raw(path("struct.npy"), 1,
              "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", f4, 4);
    expect_error(path("struct.npy"), "structured");
    write_raw(path("v9.npy"), 9, "{}", NULL, 0);
    expect_error(path("v9.npy"), "version 9.0");

    FILE *f = fopen(path("magic.npy"), "wb");
    fwrite("PK\x03\x04 not numpy at all", 1, 22, f);
    fclose(f);
    expect_error(path("magic.npy"), "bad magic");
    f = fopen(path("tiny.npy"), "wb");
    fwrite("\x93NUM", 1, 4, f);
    fclose(f);
    expect_error(path("tiny.npy"), "shorter than");
    /* header length pointing past the end of the file */
    f = fopen(path("hlen.npy"), "wb");
    fwrite("\x93NUMPY\x01\x00\xff\xff{}", 1, 12, f);
    fclose(f);
    expect_error(path("hlen.npy"), "past the end");
    expect_error(path("missing.npy"), "cannot open");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_converted_dtypes),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
