/* test_safetensors.c — safetensors round trips (order, dtypes, empty tensors) and every
 * malformed-file case with the message it must give. Malformed files are assembled
 * here from a JSON header string and raw bytes. */
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

#include "backends/ref/ref.h"
#include "runtime/safetensors.h"

static char dir[64];

static int setup(void **state) {
    snprintf(dir, sizeof dir, "/tmp/tfc_test_st_XXXXXX");
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

/* 8-byte length (hlen, or strlen(json) when hlen is 0), the JSON, then len data bytes. */
static void write_st(const char *p, uint64_t hlen, const char *json, const void *data, size_t len) {
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    if (!hlen) hlen = strlen(json);
    for (int i = 0; i < 8; i++) fputc((int)((hlen >> (8 * i)) & 0xff), f);
    fwrite(json, 1, strlen(json), f);
    if (len) fwrite(data, 1, len, f);
    fclose(f);
}

static void expect_error(const char *p, const char *needle) {
    char err[512];
    RtTensorSet s;
    if (rt_safetensors_read(p, &s, err, sizeof err)) {
        rt_tensor_set_free(&s);
        fail_msg("%s: read succeeded, expected an error containing '%s'", p, needle);
    }
    assert_int_equal(s.n, 0);
    if (!strstr(err, needle) || !strstr(err, p))
        fail_msg("message '%s' lacks '%s' or the file name", err, needle);
}

static void test_round_trip(void **state) {
    char err[512];
    int64_t d23[2] = {2, 3}, d4 = 4, d0 = 0;
    Tensor *a = tensor_create(DT_F32, 2, d23, err, sizeof err);
    Tensor *b = tensor_create(DT_I32, 1, &d4, err, sizeof err);
    Tensor *c = tensor_create(DT_F32, 1, &d0, err, sizeof err);
    Tensor *h = tensor_create(DT_F16, 1, &d4, err, sizeof err);
    Tensor *bf = tensor_create(DT_BF16, 0, NULL, err, sizeof err);
    for (int i = 0; i < 6; i++) ((float *)a->data)[i] = (float)i / 3;
    for (int i = 0; i < 4; i++) ((int32_t *)b->data)[i] = i * -7;
    for (int i = 0; i < 4; i++) ((uint16_t *)h->data)[i] = ref_f32_to_f16((float)i - 1.5f);
    ((uint16_t *)bf->data)[0] = ref_f32_to_bf16(3.0f);
    /* deliberately not sorted: the order given is the order read back */
    const char *names[5] = {"z.weight", "a.idx", "empty", "half", "scalar.bf16"};
    Tensor *ts[5] = {a, b, c, h, bf};
    assert_true(rt_safetensors_write(path("m.safetensors"), names, ts, 5, err, sizeof err));
    RtTensorSet s;
    if (!rt_safetensors_read(path("m.safetensors"), &s, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(s.n, 5);
    for (int i = 0; i < 5; i++) assert_string_equal(s.names[i], names[i]);
    assert_int_equal(s.tensors[0]->dtype, DT_F32);
    assert_memory_equal(s.tensors[0]->data, a->data, 24);
    assert_int_equal(s.tensors[1]->dtype, DT_I32);
    assert_memory_equal(s.tensors[1]->data, b->data, 16);
    assert_int_equal(s.tensors[2]->dims[0], 0);
    /* F16 and BF16 come back as f32 */
    assert_int_equal(s.tensors[3]->dtype, DT_F32);
    for (int i = 0; i < 4; i++) assert_true(((float *)s.tensors[3]->data)[i] == (float)i - 1.5f);
    assert_int_equal(s.tensors[4]->rank, 0);
    assert_true(((float *)s.tensors[4]->data)[0] == 3.0f);
    assert_ptr_equal(rt_tensor_set_find(&s, "half"), s.tensors[3]);
    assert_null(rt_tensor_set_find(&s, "nope"));
    rt_tensor_set_free(&s);
    /* the header length is a multiple of 8 and the metadata says "pt" */
    FILE *f = fopen(path("m.safetensors"), "rb");
    unsigned char pre[8];
    assert_int_equal(fread(pre, 1, 8, f), 8);
    assert_int_equal(pre[0] % 8, 0);
    char head[64];
    assert_int_equal(fread(head, 1, 40, f), 40);
    fclose(f);
    assert_memory_equal(head, "{\"__metadata__\":{\"format\":\"pt\"}", 31);
    /* duplicate names are refused on write */
    const char *dup[2] = {"x", "x"};
    assert_false(rt_safetensors_write(path("d.safetensors"), dup, ts, 2, err, sizeof err));
    assert_non_null(strstr(err, "'x' is given twice"));
    for (int i = 0; i < 5; i++) tensor_destroy(ts[i]);
}

static void test_converted(void **state) {
    char err[512];
    double f8[2] = {0.5, -4};
    write_st(path("f64.st"), 0, "{\"x\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}",
             f8, 16);
    RtTensorSet s;
    if (!rt_safetensors_read(path("f64.st"), &s, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(s.tensors[0]->dtype, DT_F32);
    assert_true(((float *)s.tensors[0]->data)[1] == -4.0f);
    rt_tensor_set_free(&s);
    int64_t i8[1] = {INT64_C(1) << 40};
    write_st(path("i64.st"), 0, "{\"x\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}",
             i8, 8);
    expect_error(path("i64.st"), "outside the i32 range");
}

/* The zero-copy view: entries point into the mapping, in header order; begin > end and
 * a truncated data section are refused before any data is touched. */
static void test_mapped(void **state) {
    char err[512];
    float d[4] = {1, 2, 3, 4};
    write_st(path("map.st"), 0,
             "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", d, 16);
    RtStMap *m = rt_st_map(path("map.st"), err, sizeof err);
    if (!m) fail_msg("%s", err);
    assert_int_equal(rt_st_count(m), 2);
    RtStInfo info;
    assert_true(rt_st_entry(m, 0, &info));
    assert_string_equal(info.name, "b");
    assert_string_equal(info.file_dtype, "F32");
    assert_int_equal(info.nbytes, 4);
    float first; /* the data may sit at any byte offset: read it as bytes */
    memcpy(&first, info.data, sizeof first);
    assert_true(first == 4.0f);
    assert_int_equal(rt_st_find(m, "a"), 1);
    assert_int_equal(rt_st_find(m, "c"), -1);
    assert_false(rt_st_entry(m, 2, &info));
    Tensor *t = rt_st_tensor(m, 1, err, sizeof err);
    assert_non_null(t);
    assert_true(((float *)t->data)[2] == 3.0f);
    tensor_destroy(t);
    rt_st_unmap(m);
    write_st(path("order.st"), 0, "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", d, 8);
    expect_error(path("order.st"), "tensor 'w': data_offsets [8, 4] end before they begin");
    assert_null(rt_st_map(path("order.st"), err, sizeof err));
    write_st(path("trunc.st"), 0, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", d, 10);
    expect_error(path("trunc.st"), "tensor 'w': data_offsets [0, 16] are outside the data section (10 bytes)");
}

/* Zero-copy: an aligned F32 tensor is borrowed from the mapping (its data is the mapped
 * bytes) and stays valid after the caller unmaps; misaligned data is not borrowed. */
static void test_borrow(void **state) {
    char err[512];
    float d[4] = {1, 2, 3, 4};
    /* 8 + 64 header bytes (padded with spaces, as the format allows): aligned data. */
    const char *json = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}       ";
    assert_int_equal(strlen(json), 64);
    write_st(path("borrow.st"), 0, json, d, 16);
    RtStMap *m = rt_st_map(path("borrow.st"), err, sizeof err);
    if (!m) fail_msg("%s", err);
    RtStInfo info;
    assert_true(rt_st_entry(m, 0, &info));
    Tensor *t = rt_st_borrow(m, 0);
    assert_non_null(t);
    assert_ptr_equal(t->data, info.data);
    assert_int_equal(t->rank, 2);
    rt_st_unmap(m); /* the tensor keeps the mapping */
    assert_true(((float *)t->data)[3] == 4.0f);
    ((float *)t->data)[0] = 9; /* private mapping: the file is not changed */
    tensor_destroy(t);
    m = rt_st_map(path("borrow.st"), err, sizeof err);
    Tensor *c = rt_st_tensor(m, 0, err, sizeof err);
    assert_true(((float *)c->data)[0] == 1.0f);
    tensor_destroy(c);
    rt_st_unmap(m);
    /* An unpadded 57-byte header puts the data at byte 65: not 4-aligned, so not borrowed. */
    write_st(path("odd.st"), 0, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", d, 16);
    m = rt_st_map(path("odd.st"), err, sizeof err);
    if (!m) fail_msg("%s", err);
    assert_null(rt_st_borrow(m, 0));
    rt_st_unmap(m);
}

static void test_malformed(void **state) {
    float d[8] = {0};
    FILE *f = fopen(path("short.st"), "wb");
    fwrite("\x10\x00", 1, 2, f);
    fclose(f);
    expect_error(path("short.st"), "shorter than the 8-byte header length");
    write_st(path("past.st"), 1000, "{}", NULL, 0);
    expect_error(path("past.st"), "runs past the end of the file");
    write_st(path("huge.st"), UINT64_C(200000000), "{}", NULL, 0);
    expect_error(path("huge.st"), "over the 100 MB limit");
    write_st(path("json.st"), 0, "{\"x\": {\"dtype\": \"F32\",", NULL, 0);
    expect_error(path("json.st"), "not valid JSON");
    write_st(path("array.st"), 0, "[1, 2]", NULL, 0);
    expect_error(path("array.st"), "not a JSON object");
    write_st(path("nodtype.st"), 0, "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8);
    expect_error(path("nodtype.st"), "tensor 'w': entry needs \"dtype\"");
    write_st(path("c64.st"), 0, "{\"w\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}",
             d, 8);
    expect_error(path("c64.st"), "tensor 'w': dtype C64 is not supported");
    write_st(path("shape.st"), 0, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}",
             d, 8);
    expect_error(path("shape.st"), "tensor 'w': shape dim 0 is not a non-negative integer");
    write_st(path("range.st"), 0, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
             d, 8);
    expect_error(path("range.st"), "tensor 'w': data_offsets [0, 16] are outside the data section");
    write_st(path("size.st"), 0, "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",
             d, 8);
    expect_error(path("size.st"), "tensor 'w': F32 needs 12 bytes but data_offsets [0, 8] hold 8");
    write_st(path("overlap.st"), 0,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
             d, 16);
    expect_error(path("overlap.st"), "tensors 'a' [0, 8] and 'b' [4, 12] overlap");
    write_st(path("dup.st"), 0,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
             d, 8);
    expect_error(path("dup.st"), "tensor 'a' appears twice");
    write_st(path("rank.st"), 0,
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", d, 4);
    expect_error(path("rank.st"), "tensor 'w': shape has 9 dims");
    write_st(path("big.st"), 0,
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[100000000,100000000],\"data_offsets\":[0,4]}}",
             d, 4);
    expect_error(path("big.st"), "tensor 'w': shape has more than");
    expect_error(path("missing.st"), "cannot open");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_converted),
        cmocka_unit_test(test_mapped),
        cmocka_unit_test(test_borrow),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
