/* test_checkpoint.c — training checkpoints (runtime/checkpoint.c): a save/load round
 * trip restores every tensor and the position bit for bit, no temporary file is left
 * behind, and a file from another model is refused with the weights left untouched. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/checkpoint.h"

static IrModule *module(int64_t n) {
    IrModule *m = ir_module_create("tiny");
    IrType t = {.dtype = DT_F32, .rank = 2, .dims = {ir_dim_int(2), ir_dim_int(n)}};
    ir_module_add_weight(m, "w", &t, (IrInit){INIT_ZEROS, 0, 0});
    ir_module_add_weight(m, "optim.w.m", &t, (IrInit){INIT_ZEROS, 0, 0});
    return m;
}

static Tensor **tensors(int64_t n, float base) {
    char err[128];
    Tensor **w = calloc(2, sizeof *w);
    for (int i = 0; i < 2; i++) {
        w[i] = tensor_create(DT_F32, 2, (int64_t[]){2, n}, err, sizeof err);
        for (int64_t k = 0; k < 2 * n; k++) ((float *)w[i]->data)[k] = base + (float)(i * 100 + k) / 7.0f;
    }
    return w;
}

static void test_round_trip(void **state) {
    (void)state;
    char dir[] = "/tmp/tfc_ckpt_XXXXXX", path[128], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/sub/ck.safetensors", dir); /* the directory is created */
    IrModule *m = module(3);
    Tensor **w = tensors(3, 1), **r = tensors(3, -5);
    RtCkptState st = {42, 7, {3, 11, 0xFEDCBA9876543210ull}}, got = {0};
    assert_true(rt_checkpoint_save(path, m, w, &st, err, sizeof err));
    assert_true(rt_checkpoint_load(path, m, r, &got, err, sizeof err));
    for (int i = 0; i < 2; i++) assert_memory_equal(w[i]->data, r[i]->data, tensor_bytes(w[i]));
    assert_int_equal(got.step, 42);
    assert_int_equal(got.seed, 7);
    assert_int_equal(got.data.epoch, 3);
    assert_int_equal(got.data.index, 11);
    assert_true(got.data.rng == 0xFEDCBA9876543210ull);
    /* Only the checkpoint is left in the directory: the temporary file was renamed. */
    char sub[160];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    DIR *dd = opendir(sub);
    int files = 0;
    for (struct dirent *e; (e = readdir(dd));) files += e->d_name[0] != '.';
    closedir(dd);
    assert_int_equal(files, 1);
    /* Another model (other shapes): refused, weights untouched. */
    IrModule *m2 = module(4);
    Tensor **o = tensors(4, 9);
    assert_false(rt_checkpoint_load(path, m2, o, &got, err, sizeof err));
    assert_non_null(strstr(err, "is not a checkpoint of this model: 'w' is f32[2, 4] here but f32[2, 3] in the file"));
    assert_true(((float *)o[0]->data)[0] == 9.0f);
    for (int i = 0; i < 2; i++) {
        tensor_destroy(w[i]);
        tensor_destroy(r[i]);
        tensor_destroy(o[i]);
    }
    free(w);
    free(r);
    free(o);
    remove(path);
    rmdir(sub);
    rmdir(dir);
    ir_module_destroy(m);
    ir_module_destroy(m2);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_round_trip)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
