/* memplan.c — liveness-based placement of intermediates, and per-function counts.
 *
 * Placement: values in definition order; a value's buffer is taken first-fit from the
 * freed blocks (lowest offset that fits, else the top of the arena) and returned after
 * its last use. Results live to the end; inputs and weights belong to the caller and
 * are counted as resident, not planned. A reshape is a view: it shares its operand's
 * buffer, which then lives as long as the reshape's last use.
 *
 * FLOPs per op: matmul 2·M·N·K per batch; elementwise ops 1 per output element;
 * reductions 1 per input element; softmax / log_softmax 5, layernorm 8, layernorm_grad 14
 * (three passes over the row: sums of x and dy·g, of squared deviations and dy·g·(x - mean),
 * then the result) and cross_entropy 5 per input element; data movement 0. Fused attention per (query, key) pair the mask
 * lets through: 2·D for the score, 5 for the softmax, 2·Dv for P·v (attention_lse: no
 * P·v); attention_grad recomputes the score and adds 2·Dv for dP = do·v and 2·D for its
 * product with k or q (d v: only 2·Dv for P·do). Its bytes are its operands and result,
 * as for every op: q, k, v (o, do, lse), the bias, never a Tq x Tk score matrix.
 * Counts, not a cost model: enough to compare a program before and after fusion.
 */
#include "memplan.h"

#include <stdlib.h>
#include <string.h>

static bool is_view(const IrValue *v) { return v->op == OP_RESHAPE; }
static bool is_resident(const IrValue *v) { return v->op == OP_INPUT || v->op == OP_WEIGHT; }

/* Free leaves: a scalar constant is an immediate, an input or weight is already there. */
static bool is_free(const IrValue *v) {
    return is_resident(v) || is_view(v) || (v->op == OP_CONSTANT && v->type.rank == 0);
}

static bool numel(const IrType *t, const DimValue *dims, int ndims, int64_t *out, char *err,
                  size_t errlen) {
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        int64_t d = t->dims[i].size;
        if (t->dims[i].sym) {
            d = -1;
            for (int k = 0; k < ndims; k++)
                if (strcmp(dims[k].name, t->dims[i].sym) == 0) d = dims[k].size;
            if (d < 0) {
                snprintf(err, errlen, "no size for dim %s (give it with --dims %s=N)", t->dims[i].sym,
                         t->dims[i].sym);
                return false;
            }
        }
        if (d > 0 && n > IR_MAX_ELEMENTS / d) {
            snprintf(err, errlen, "a tensor of the function is too large at these dims");
            return false;
        }
        n *= d;
    }
    *out = n;
    return true;
}

typedef struct {
    int64_t off, size;
} Block;

/* First fit among the free blocks (kept sorted by offset), else the top. */
static int64_t take(Block *free_blocks, int *nfree, int64_t *top, int64_t size) {
    for (int i = 0; i < *nfree; i++) {
        if (free_blocks[i].size < size) continue;
        int64_t off = free_blocks[i].off;
        free_blocks[i].off += size;
        free_blocks[i].size -= size;
        if (free_blocks[i].size == 0) {
            memmove(free_blocks + i, free_blocks + i + 1, sizeof *free_blocks * (size_t)(*nfree - i - 1));
            (*nfree)--;
        }
        return off;
    }
    int64_t off = *top;
    *top += size;
    return off;
}

/* Return a block, merging it with its neighbours; a block at the top lowers the top. */
static void give(Block *free_blocks, int *nfree, int64_t *top, int64_t off, int64_t size) {
    int i = 0;
    while (i < *nfree && free_blocks[i].off < off) i++;
    memmove(free_blocks + i + 1, free_blocks + i, sizeof *free_blocks * (size_t)(*nfree - i));
    free_blocks[i] = (Block){off, size};
    (*nfree)++;
    if (i + 1 < *nfree && free_blocks[i].off + free_blocks[i].size == free_blocks[i + 1].off) {
        free_blocks[i].size += free_blocks[i + 1].size;
        memmove(free_blocks + i + 1, free_blocks + i + 2, sizeof *free_blocks * (size_t)(*nfree - i - 2));
        (*nfree)--;
    }
    if (i > 0 && free_blocks[i - 1].off + free_blocks[i - 1].size == free_blocks[i].off) {
        free_blocks[i - 1].size += free_blocks[i].size;
        memmove(free_blocks + i, free_blocks + i + 1, sizeof *free_blocks * (size_t)(*nfree - i - 1));
        (*nfree)--;
        i--;
    }
    if (free_blocks[i].off + free_blocks[i].size == *top) {
        *top = free_blocks[i].off;
        (*nfree)--;
    }
}

/* The value whose buffer v uses (a chain of views ends at a real buffer). */
static const IrValue *owner(const IrValue *v) {
    while (is_view(v)) v = v->args[0];
    return v;
}

bool mp_plan(IrFunc *f, const DimValue *dims, int ndims, MemPlan *plan, char *err, size_t errlen) {
    memset(plan, 0, sizeof *plan);
    int n = 0;
    for (IrValue *v = f->first; v; v = v->next) v->id = n++;
    plan->n = n;
    plan->offset = xcalloc((size_t)n + 1, sizeof *plan->offset);
    plan->bytes = xcalloc((size_t)n + 1, sizeof *plan->bytes);
    int *last = xcalloc((size_t)n + 1, sizeof *last);
    Block *free_blocks = xcalloc((size_t)n + 1, sizeof *free_blocks);
    bool ok = true;
    for (IrValue *v = f->first; v; v = v->next) {
        plan->offset[v->id] = -1;
        last[v->id] = v->id;
        int64_t count;
        if (!numel(&v->type, dims, ndims, &count, err, errlen)) {
            ok = false;
            break;
        }
        int64_t bytes = count * (int64_t)ir_dtype_size(v->type.dtype);
        if (is_resident(v))
            plan->resident += bytes;
        else if (!is_free(v))
            plan->bytes[v->id] = bytes;
        for (int i = 0; i < v->nargs; i++) {
            const IrValue *o = owner(v->args[i]);
            if (last[o->id] < v->id) last[o->id] = v->id;
        }
    }
    for (int i = 0; ok && i < f->nresults; i++) last[owner(f->results[i])->id] = n;
    int nfree = 0;
    int64_t top = 0;
    for (IrValue *v = f->first; ok && v; v = v->next) {
        if (plan->bytes[v->id] > 0) {
            plan->offset[v->id] = take(free_blocks, &nfree, &top, plan->bytes[v->id]);
            if (top > plan->peak) plan->peak = top;
        }
        /* Buffers whose last use is v go back (each value's own buffer, views excluded). */
        for (int i = 0; i < v->nargs; i++) {
            const IrValue *o = owner(v->args[i]);
            if (last[o->id] == v->id && plan->offset[o->id] >= 0 && plan->bytes[o->id] > 0) {
                give(free_blocks, &nfree, &top, plan->offset[o->id], plan->bytes[o->id]);
                plan->bytes[o->id] = -plan->bytes[o->id]; /* mark returned */
            }
        }
        if (last[v->id] == v->id && plan->bytes[v->id] > 0) { /* never used */
            give(free_blocks, &nfree, &top, plan->offset[v->id], plan->bytes[v->id]);
            plan->bytes[v->id] = -plan->bytes[v->id];
        }
    }
    for (int i = 0; i < n; i++)
        if (plan->bytes[i] < 0) plan->bytes[i] = -plan->bytes[i];
    free(last);
    free(free_blocks);
    if (!ok) mp_plan_free(plan);
    return ok;
}

void mp_plan_free(MemPlan *plan) {
    free(plan->offset);
    free(plan->bytes);
    memset(plan, 0, sizeof *plan);
}

static int64_t dim_size(IrDim d, const DimValue *dims, int ndims) {
    IrType t = {.rank = 1, .dims = {d}};
    int64_t n = 0;
    char err[8];
    numel(&t, dims, ndims, &n, err, sizeof err);
    return n;
}

/* FLOPs of an attention op: (query, key) pairs seen, times the work per pair. */
static double attention_flops(const IrValue *v, const DimValue *dims, int ndims) {
    const IrType *q = &v->args[0]->type, *k = &v->args[1]->type;
    int r = q->rank;
    int64_t tq = dim_size(q->dims[r - 2], dims, ndims), tk = dim_size(k->dims[r - 2], dims, ndims);
    double D = (double)dim_size(q->dims[r - 1], dims, ndims), batch = 1, pairs = 0;
    double Dv = v->op == OP_ATTENTION_LSE ? 0 : (double)dim_size(v->args[2]->type.dims[r - 1], dims, ndims);
    for (int i = 0; i < r - 2; i++) batch *= (double)dim_size(q->dims[i], dims, ndims);
    if (!v->attrs.causal)
        pairs = (double)tq * (double)tk;
    else /* query i sees keys j <= i + tk - tq */
        for (int64_t i = 0; i < tq; i++) {
            int64_t seen = i + tk - tq + 1;
            pairs += (double)(seen < 0 ? 0 : seen > tk ? tk : seen);
        }
    double per = 2 * D + 5 + 2 * Dv; /* attention; lse has Dv = 0 */
    if (v->op == OP_ATTENTION_GRAD) per = v->attrs.index == 2 ? 2 * D + 5 + 2 * Dv : 4 * D + 5 + 2 * Dv;
    return batch * pairs * per;
}

static double flops_of(const IrValue *v, const DimValue *dims, int ndims) {
    char err[8];
    int64_t out = 0, in = 0;
    numel(&v->type, dims, ndims, &out, err, sizeof err);
    if (v->nargs) numel(&v->args[0]->type, dims, ndims, &in, err, sizeof err);
    unsigned fl = ir_op_flags(v->op);
    switch (v->op) {
    case OP_MATMUL: {
        int64_t k = 0;
        IrType kt = {.rank = 1, .dims = {v->args[0]->type.dims[v->args[0]->type.rank - 1]}};
        numel(&kt, dims, ndims, &k, err, sizeof err);
        return 2.0 * (double)out * (double)k;
    }
    case OP_SOFTMAX: case OP_LOG_SOFTMAX: case OP_CROSS_ENTROPY: return 5.0 * (double)in;
    case OP_LAYERNORM: return 8.0 * (double)in;
    case OP_LAYERNORM_GRAD: return 14.0 * (double)in;
    case OP_FUSED: { /* its body's ops, each counted as the op itself (an elementwise op
                        over its own elements, a final reduction over its operand's) */
        double n = 0;
        for (const IrValue *b = v->attrs.body->first; b; b = b->next)
            if (b->op != OP_INPUT) n += flops_of(b, dims, ndims);
        return n;
    }
    case OP_ATTENTION: case OP_ATTENTION_LSE: case OP_ATTENTION_GRAD:
        return attention_flops(v, dims, ndims);
    default:
        if (fl & F_REDUCE) return (double)in;
        if (fl & (F_UNARY | F_BINARY | F_ELEMENTWISE)) return (double)out;
        return 0;
    }
}

bool mp_stats(IrFunc *f, const DimValue *dims, int ndims, FuncStats *out, char *err, size_t errlen) {
    MemPlan plan;
    if (!mp_plan(f, dims, ndims, &plan, err, errlen)) return false;
    memset(out, 0, sizeof *out);
    for (IrValue *v = f->first; v; v = v->next) {
        if (is_free(v)) continue;
        double flops = flops_of(v, dims, ndims), bytes_moved = (double)plan.bytes[v->id];
        int64_t bytes;
        for (int i = 0; i < v->nargs; i++)
            if (numel(&v->args[i]->type, dims, ndims, &bytes, err, errlen))
                bytes_moved += (double)bytes * (double)ir_dtype_size(v->args[i]->type.dtype);
        out->kernels++, out->flops += flops, out->bytes_moved += bytes_moved;
        out->phase[v->phase].kernels++;
        out->phase[v->phase].flops += flops;
        out->phase[v->phase].bytes_moved += bytes_moved;
    }
    out->peak = plan.peak + plan.resident;
    mp_plan_free(&plan);
    return true;
}

bool mp_parse_dims(const char *s, DimValue *dims, int max, int *n, char *err, size_t errlen) {
    *n = 0;
    while (s && *s) {
        const char *eq = strchr(s, '='), *end = strchr(s, ',');
        if (!end) end = s + strlen(s);
        char *num_end = NULL;
        long long size = eq && eq < end ? strtoll(eq + 1, &num_end, 10) : -1;
        if (!eq || eq > end || eq == s || (size_t)(eq - s) >= sizeof dims[0].name || num_end != end ||
            size < 0) {
            snprintf(err, errlen, "--dims needs NAME=SIZE pairs such as B=4,T=64, got '%.*s'",
                     (int)(end - s), s);
            return false;
        }
        if (*n == max) {
            snprintf(err, errlen, "--dims: too many dims (at most %d)", max);
            return false;
        }
        memcpy(dims[*n].name, s, (size_t)(eq - s));
        dims[*n].name[eq - s] = 0;
        dims[(*n)++].size = size;
        s = *end ? end + 1 : end;
    }
    return true;
}
