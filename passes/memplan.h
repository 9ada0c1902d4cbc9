/* memplan.h — where each intermediate tensor of a function lives, and how much memory
 * the function needs: a liveness-based plan for concrete dims, and the counts that
 * `tfc compile --stats` prints (kernels, FLOPs, bytes moved, planned peak memory).
 *
 *     DimValue dims[] = {{"B", 4}, {"T", 64}};
 *     MemPlan plan;
 *     if (!mp_plan(f, dims, 2, &plan, err, sizeof err)) ...
 *     ... plan.offset[v->id] ...; mp_plan_free(&plan);
 *
 * Decision a newcomer may question: the plan is made for concrete dims, not symbolic
 * ones. Offsets that are expressions of B and T would let one plan serve every size,
 * but first-fit placement depends on the order of sizes, which changes with the dims;
 * a backend re-plans when the dims change (cheap: linear in the number of values).
 */
#ifndef TFC_MEMPLAN_H
#define TFC_MEMPLAN_H

#include "ir/ir.h"

typedef struct {
    char name[64]; /* a symbol, e.g. "T" */
    int64_t size;
} DimValue;

typedef struct {
    int n;            /* values in the function (ids 0..n-1, params included) */
    int64_t *offset;  /* byte offset of each value's buffer; -1: not planned (inputs, weights,
                         views such as reshape that share their operand's buffer) */
    int64_t *bytes;   /* bytes of each value (0 for values that are not planned) */
    int64_t peak;     /* bytes of the arena the plan needs */
    int64_t resident; /* bytes of the inputs and weights the function reads */
} MemPlan;

typedef struct {
    int64_t kernels;     /* ops that launch work (views and leaves are free) */
    double flops;        /* see memplan.c for the count per op */
    double bytes_moved;  /* operands read plus results written, by every kernel */
    int64_t peak;        /* planned intermediates + resident inputs and weights */
    /* the same counts for the values of each phase (a training step's forward, backward
     * and update; IrValue.phase); the totals above are their sums */
    struct {
        int64_t kernels;
        double flops, bytes_moved;
    } phase[IR_PHASES];
} FuncStats;

/* Plans f for the given dims (every symbol f uses must be given). Value ids are assigned
 * in list order, params included (this overwrites IrValue.id). */
bool mp_plan(IrFunc *f, const DimValue *dims, int ndims, MemPlan *plan, char *err, size_t errlen);
void mp_plan_free(MemPlan *plan);

bool mp_stats(IrFunc *f, const DimValue *dims, int ndims, FuncStats *out, char *err, size_t errlen);

/* Parses "B=4,T=64" into dims (at most max); false with a message. */
bool mp_parse_dims(const char *s, DimValue *dims, int max, int *n, char *err, size_t errlen);

#endif
