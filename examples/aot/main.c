/* main.c — a C program that runs a model compiled ahead of time by tfc, without tfc.
 *
 *     tfc compile examples/aot/mlp.tfir --target cpu -o model.o     # also writes model.h
 *     cc -I. examples/aot/main.c model.o -lm -o mlp && ./mlp
 *
 * (or -o libmodel.so, then: cc -I. examples/aot/main.c -L. -lmodel -lm -o mlp). model.h
 * documents the entry point: weights in module order, inputs, outputs, their shapes.
 * The weights and inputs are filled with values exact in f32 (k/64 for small integers k),
 * so that tests/e2e/cpu_aot.sh can build the same tensors in NumPy and compare with
 * `tfc run`. It prints every output element, one per line.
 */
#include <stdint.h>
#include <stdio.h>

#include "model.h"

static void fill(float *x, int n, int seed) {
    for (int i = 0; i < n; i++) x[i] = (float)(((i * 37 + seed * 11) % 101) - 50) / 64.0f;
}

int main(void) {
    static float w1[13 * 37], b1[37], w2[11 * 37], x[5 * 13], y0[5 * 11], y1[3 * 37];
    int32_t idx[3] = {0, 12, 5};
    fill(w1, 13 * 37, 1);
    fill(b1, 37, 2);
    fill(w2, 11 * 37, 3);
    fill(x, 5 * 13, 4);
    const void *weights[] = {w1, b1, w2};
    const void *inputs[] = {x, idx};
    void *outputs[] = {y0, y1};
    int rc = tfc_forward(weights, inputs, outputs);
    if (rc != 0) {
        fprintf(stderr, "tfc_forward failed: %d\n", rc);
        return 1;
    }
    for (int i = 0; i < 5 * 11; i++) printf("%.9g\n", y0[i]);
    for (int i = 0; i < 3 * 37; i++) printf("%.9g\n", y1[i]);
    return 0;
}
