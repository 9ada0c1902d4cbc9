/* conform.h — backend conformance: every op on random inputs of awkward shapes, and whole
 * graphs (GPT-2 tiny forward, its backward, a training step), run on a target and on the
 * reference interpreter and compared within a tolerance stated per case.
 * This is `tfc conform --target NAME`; any backend (cpu, vulkan) reuses it.
 *
 *     RtConformOptions o = {.target = "cpu", .models_dir = "models"};
 *     int failed = rt_conform(&o, stdout);   // one line per case, then "N passed, M failed"
 *
 * Tolerances (written beside the cases in conform.c): data movement, comparisons and
 * integer ops are bitwise; single IEEE ops (add, mul, div, sqrt) within 1 ulp (the
 * reference rounds a double result once); transcendental ops within a few ulps plus an
 * absolute floor; sums of K terms (matmul, reductions) within K·u·Σ|terms|, the
 * classical bound for recursive summation, with Σ|terms| computed by the reference on
 * the absolute values of the inputs.
 */
#ifndef TFC_RT_CONFORM_H
#define TFC_RT_CONFORM_H

#include <stdio.h>

#include "backends/backend.h"

typedef struct {
    const char *target;     /* the backend under test */
    BkOptions backend;      /* its options (threads, ...) */
    const char *models_dir; /* where gpt2.tfm is (NULL: "models") */
    const char *filter;     /* run only cases whose name contains this (NULL: all) */
    unsigned seed;          /* input data seed (0: a fixed default) */
} RtConformOptions;

/* Runs the suite, printing to out; returns the number of failed cases (-1 when the
 * target cannot be created, with the reason printed). */
int rt_conform(const RtConformOptions *o, FILE *out);

#endif
