/* test_passes.c — the pass manager and the first passes, on IR built with ir_build.
 *
 * Each test builds a small function, runs one pass through its registry entry, checks
 * the graph it leaves (which values remain, their ops, operands and constants), and
 * checks that the module still verifies. Cases a pass must leave alone are tested beside
 * the cases it must rewrite. The manager's tests check the messages users see. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backends/ref/ref.h"
#include "ir/ir.h"
#include "passes/passes.h"

/* ---- helpers: build small graphs ------------------------------------------------- */

static IrType ty(IrDType dt, int rank, const IrDim *dims) {
    IrType t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.rank = rank;
    for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
    return t;
}

/* f32 with fixed dims: tf(2, 3, 4) is f32[3, 4]. */
static IrType tf(int rank, ...) {
    IrDim d[IR_MAX_RANK];
    va_list ap;
    va_start(ap, rank);
    for (int i = 0; i < rank; i++) d[i] = ir_dim_int(va_arg(ap, int));
    va_end(ap);
    return ty(DT_F32, rank, d);
}

static IrValue *build(IrFunc *f, IrOp op, IrValue **args, int n, const IrAttrs *at,
                      const IrType *given) {
    char err[256] = "";
    IrValue *v = ir_build(f, op, args, n, at, given, NULL, err, sizeof err);
    if (!v) fail_msg("ir_build(%s): %s", ir_op_name(op), err);
    return v;
}

static IrValue *cst(IrFunc *f, double value, IrType t) {
    IrAttrs a = {0};
    a.value = value;
    return build(f, OP_CONSTANT, NULL, 0, &a, &t);
}

static IrValue *un(IrFunc *f, IrOp op, IrValue *x) { return build(f, op, &x, 1, NULL, NULL); }

static IrValue *bin(IrFunc *f, IrOp op, IrValue *x, IrValue *y) {
    IrValue *args[2] = {x, y};
    return build(f, op, args, 2, NULL, NULL);
}

static IrValue *given1(IrFunc *f, IrOp op, IrValue *x, IrType t) {
    return build(f, op, &x, 1, NULL, &t);
}

static IrValue *transpose(IrFunc *f, IrValue *x, int n, const int *perm) {
    IrAttrs a = {0};
    a.nints = n;
    for (int i = 0; i < n; i++) a.ints[i] = perm[i];
    return build(f, OP_TRANSPOSE, &x, 1, &a, NULL);
}

static IrValue *reduce(IrFunc *f, IrOp op, IrValue *x, int axis) {
    IrAttrs a = {0};
    a.nints = 1;
    a.ints[0] = axis;
    return build(f, op, &x, 1, &a, NULL);
}

static void results(IrFunc *f, int n, ...) {
    IrValue *r[8];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) r[i] = va_arg(ap, IrValue *);
    va_end(ap);
    ir_func_set_results(f, r, n);
}

typedef struct {
    IrModule *m;
    IrFunc *f;
    IrValue *x; /* %x: f32[B, 4] */
    IrType xt;
} Fixture;

static Fixture fixture(void) {
    Fixture fx;
    fx.m = ir_module_create("m");
    fx.f = ir_module_add_func(fx.m, "forward");
    IrDim d[2] = {ir_dim_sym(ir_intern(fx.m, "B", 1)), ir_dim_int(4)};
    fx.xt = ty(DT_F32, 2, d);
    fx.x = ir_func_add_param(fx.f, "x", &fx.xt);
    return fx;
}

static int count_values(const IrFunc *f) {
    int n = 0;
    for (IrValue *v = f->first; v; v = v->next) n++;
    return n;
}

static bool in_func(const IrFunc *f, const IrValue *want) {
    for (IrValue *v = f->first; v; v = v->next)
        if (v == want) return true;
    return false;
}

static void assert_verifies(IrModule *m) {
    char err[512] = "";
    if (!ir_verify(m, err, sizeof err)) fail_msg("ir_verify: %s", err);
}

/* Runs one pass by its registry name and verifies the module afterwards. */
static bool run(IrModule *m, const char *name) {
    const PassInfo *p = pass_lookup(name, strlen(name));
    assert_non_null(p);
    bool changed = p->run(m);
    assert_verifies(m);
    return changed;
}

/* The module's text, for comparisons and substring checks (caller frees). */
static char *print(IrModule *m) {
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    ir_print_module(out, m);
    fclose(out);
    return buf;
}

/* ---- canonicalize ---------------------------------------------------------------- */

/* x+0, x-0, x*1, x/1 all become x when the result has x's type. */
static void test_canon_identities(void **state) {
    Fixture fx = fixture();
    IrValue *zero = cst(fx.f, 0, tf(0)), *one = cst(fx.f, 1, tf(0));
    IrValue *a = bin(fx.f, OP_ADD, fx.x, zero);
    IrValue *b = bin(fx.f, OP_SUB, a, zero);
    IrValue *c = bin(fx.f, OP_MUL, b, one);
    IrValue *d = bin(fx.f, OP_DIV, c, one);
    IrValue *e = bin(fx.f, OP_ADD, zero, d); /* constant on the left: swapped, then x+0 */
    results(fx.f, 1, e);
    assert_true(run(fx.m, "canonicalize"));
    assert_ptr_equal(fx.f->results[0], fx.x);
    assert_false(in_func(fx.f, a) || in_func(fx.f, b) || in_func(fx.f, c) || in_func(fx.f, d));
    assert_false(run(fx.m, "canonicalize")); /* a second run finds nothing */
    ir_module_destroy(fx.m);
}

/* x + zeros[3, B, 4] broadcasts x: the result is wider than x and must stay. */
static void test_canon_broadcast_add_kept(void **state) {
    Fixture fx = fixture();
    IrDim d[3] = {ir_dim_int(3), fx.xt.dims[0], ir_dim_int(4)};
    IrValue *zero = cst(fx.f, 0, ty(DT_F32, 3, d));
    IrValue *a = bin(fx.f, OP_ADD, fx.x, zero);
    results(fx.f, 1, a);
    assert_false(run(fx.m, "canonicalize"));
    assert_ptr_equal(fx.f->results[0], a);
    ir_module_destroy(fx.m);
}

/* x*0 is not 0 for NaN and inf; x-x is not 0 either; 0-x is not neg(x) for x = +0. */
static void test_canon_float_traps_kept(void **state) {
    Fixture fx = fixture();
    IrValue *zero = cst(fx.f, 0, tf(0));
    IrValue *a = bin(fx.f, OP_MUL, fx.x, zero);
    IrValue *b = bin(fx.f, OP_SUB, fx.x, fx.x);
    IrValue *c = bin(fx.f, OP_SUB, zero, fx.x);
    results(fx.f, 3, a, b, c);
    assert_false(run(fx.m, "canonicalize"));
    assert_int_equal(count_values(fx.f), 5);
    ir_module_destroy(fx.m);
}

static void test_canon_neg_neg(void **state) {
    Fixture fx = fixture();
    IrValue *a = un(fx.f, OP_NEG, fx.x);
    IrValue *b = un(fx.f, OP_NEG, a);
    IrValue *c = un(fx.f, OP_NEG, b); /* neg(neg(neg x)) -> neg x (a copy of a, for cse) */
    results(fx.f, 2, b, c);
    assert_true(run(fx.m, "canonicalize"));
    assert_ptr_equal(fx.f->results[0], fx.x);
    assert_ptr_equal(fx.f->results[1], c);
    assert_ptr_equal(c->args[0], fx.x);
    assert_false(in_func(fx.f, b));
    ir_module_destroy(fx.m);
}

/* transpose(transpose(x, p), q) is one transpose by p∘q, or x when that is the identity. */
static void test_canon_transpose_chains(void **state) {
    IrModule *m = ir_module_create("m");
    IrFunc *f = ir_module_add_func(m, "f");
    IrType t = tf(3, 2, 3, 5);
    IrValue *x = ir_func_add_param(f, "x", &t);
    int p[3] = {1, 2, 0}, q[3] = {2, 0, 1}, s[3] = {1, 0, 2}, id[3] = {0, 1, 2};
    IrValue *a = transpose(f, x, 3, p);   /* [3, 5, 2] */
    IrValue *back = transpose(f, a, 3, q); /* [2, 3, 5]: identity overall */
    IrValue *c = transpose(f, a, 3, s);   /* [5, 3, 2]: x perm [2, 1, 0] */
    IrValue *ident = transpose(f, x, 3, id);
    results(f, 3, back, c, ident);
    assert_true(run(m, "canonicalize"));
    assert_ptr_equal(f->results[0], x);
    assert_ptr_equal(f->results[2], x);
    assert_ptr_equal(f->results[1], c);
    assert_ptr_equal(c->args[0], x);
    assert_int_equal(c->attrs.ints[0], 2);
    assert_int_equal(c->attrs.ints[1], 1);
    assert_int_equal(c->attrs.ints[2], 0);
    ir_module_destroy(m);
}

/* reshape(reshape(x)) reads x; reshape/broadcast/cast to x's own type is x. */
static void test_canon_reshape_broadcast(void **state) {
    IrModule *m = ir_module_create("m");
    IrFunc *f = ir_module_add_func(m, "f");
    IrType t = tf(2, 4, 6);
    IrValue *x = ir_func_add_param(f, "x", &t);
    IrValue *r1 = given1(f, OP_RESHAPE, x, tf(1, 24));
    IrValue *r2 = given1(f, OP_RESHAPE, r1, tf(3, 2, 3, 4));
    IrValue *same = given1(f, OP_RESHAPE, x, t);
    IrValue *bsame = given1(f, OP_BROADCAST, x, t);
    IrValue *csame = given1(f, OP_CAST, x, t);
    IrValue *b1 = given1(f, OP_BROADCAST, x, tf(3, 5, 4, 6));
    IrValue *b2 = given1(f, OP_BROADCAST, b1, tf(4, 2, 5, 4, 6));
    results(f, 5, r2, same, bsame, csame, b2);
    assert_true(run(m, "canonicalize"));
    assert_ptr_equal(f->results[0], r2);
    assert_ptr_equal(r2->args[0], x);
    assert_ptr_equal(f->results[1], x);
    assert_ptr_equal(f->results[2], x);
    assert_ptr_equal(f->results[3], x);
    assert_ptr_equal(b2->args[0], x);
    ir_module_destroy(m);
}

/* div by ±2^k becomes mul by the exact reciprocal; div by 3 or by an i32 stays. */
static void test_canon_div_pow2(void **state) {
    Fixture fx = fixture();
    IrValue *four = cst(fx.f, 4, tf(0)), *three = cst(fx.f, 3, tf(0));
    IrValue *neg_eighth = cst(fx.f, -0.125, tf(0));
    IrValue *a = bin(fx.f, OP_DIV, fx.x, four);
    IrValue *b = bin(fx.f, OP_DIV, fx.x, three);
    IrValue *c = bin(fx.f, OP_DIV, fx.x, neg_eighth);
    IrDim d[1] = {ir_dim_int(4)};
    IrType it = ty(DT_I32, 1, d), i0 = ty(DT_I32, 0, NULL);
    IrValue *i = ir_func_add_param(fx.f, "i", &it);
    IrValue *e = bin(fx.f, OP_DIV, i, cst(fx.f, 4, i0));
    results(fx.f, 4, a, b, c, e);
    assert_true(run(fx.m, "canonicalize"));
    assert_int_equal(a->op, OP_MUL);
    assert_int_equal(a->args[1]->op, OP_CONSTANT);
    assert_true(a->args[1]->attrs.value == 0.25);
    assert_int_equal(b->op, OP_DIV);
    assert_int_equal(c->op, OP_MUL);
    assert_true(c->args[1]->attrs.value == -8.0);
    assert_int_equal(e->op, OP_DIV);
    ir_module_destroy(fx.m);
}

/* ---- constant-fold --------------------------------------------------------------- */

static void test_fold_elementwise(void **state) {
    Fixture fx = fixture();
    IrValue *two = cst(fx.f, 2, tf(0)), *three = cst(fx.f, 3, tf(1, 4));
    IrValue *a = bin(fx.f, OP_ADD, two, three);                 /* 5 : f32[4] */
    IrValue *b = un(fx.f, OP_NEG, a);                           /* -5, folded in the same walk */
    IrValue *c = bin(fx.f, OP_ADD, cst(fx.f, 0.1, tf(0)), cst(fx.f, 0.2, tf(0)));
    IrValue *d = bin(fx.f, OP_DIV, two, cst(fx.f, 0, tf(0)));   /* inf: kept */
    IrValue *e = bin(fx.f, OP_ADD, fx.x, two);                  /* not all constant: kept */
    IrValue *lt = bin(fx.f, OP_LT, two, three);                 /* 1 */
    results(fx.f, 5, b, c, d, e, lt);
    assert_true(run(fx.m, "constant-fold"));
    assert_int_equal(a->op, OP_CONSTANT);
    assert_true(a->attrs.value == 5.0);
    assert_int_equal(b->op, OP_CONSTANT);
    assert_true(b->attrs.value == -5.0);
    assert_int_equal(b->type.rank, 1);
    assert_int_equal(c->op, OP_CONSTANT);
    assert_true(c->attrs.value == (double)(0.1f + 0.2f)); /* rounded to f32, not 0.3 */
    assert_int_equal(d->op, OP_DIV);
    assert_int_equal(e->op, OP_ADD);
    assert_true(lt->attrs.value == 1.0);
    ir_module_destroy(fx.m);
}

/* i32 division truncates toward zero; overflow and division by zero stay. */
static void test_fold_i32(void **state) {
    IrModule *m = ir_module_create("m");
    IrFunc *f = ir_module_add_func(m, "f");
    IrType i0 = ty(DT_I32, 0, NULL);
    IrValue *a = bin(f, OP_DIV, cst(f, -7, i0), cst(f, 2, i0));
    IrValue *b = bin(f, OP_DIV, cst(f, 7, i0), cst(f, 0, i0));
    IrValue *c = bin(f, OP_MUL, cst(f, 65536, i0), cst(f, 65536, i0));
    IrType f0 = tf(0);
    IrValue *d = given1(f, OP_CAST, cst(f, -2.75, f0), i0);
    results(f, 4, a, b, c, d);
    assert_true(run(m, "constant-fold"));
    assert_int_equal(a->op, OP_CONSTANT);
    assert_true(a->attrs.value == -3.0);
    assert_int_equal(b->op, OP_DIV);
    assert_int_equal(c->op, OP_MUL);
    assert_int_equal(d->op, OP_CONSTANT);
    assert_true(d->attrs.value == -2.0);
    ir_module_destroy(m);
}

/* Movement of a splat is the splat; sum is value * count for fixed reduced dims only. */
static void test_fold_movement_and_reduce(void **state) {
    Fixture fx = fixture();
    IrValue *c = cst(fx.f, 1.5, tf(2, 2, 3));
    IrValue *bc = given1(fx.f, OP_BROADCAST, c, tf(3, 5, 2, 3));
    int p[3] = {2, 0, 1};
    IrValue *tr = transpose(fx.f, bc, 3, p);
    IrValue *sum = reduce(fx.f, OP_SUM, c, 1);  /* 4.5 : f32[2] */
    IrValue *mean = reduce(fx.f, OP_MEAN, c, 1); /* 1.5 */
    IrDim d[2] = {fx.xt.dims[0], ir_dim_int(4)};
    IrValue *sym = cst(fx.f, 2, ty(DT_F32, 2, d));
    IrValue *sumsym = reduce(fx.f, OP_SUM, sym, 0); /* over B: count unknown, kept */
    IrValue *sum4 = reduce(fx.f, OP_SUM, sym, 1);   /* over 4: 8 : f32[B] */
    results(fx.f, 5, tr, sum, mean, sumsym, sum4);
    assert_true(run(fx.m, "constant-fold"));
    assert_int_equal(tr->op, OP_CONSTANT);
    assert_true(tr->attrs.value == 1.5);
    assert_int_equal(tr->type.rank, 3);
    assert_true(sum->attrs.value == 4.5);
    assert_true(mean->attrs.value == 1.5);
    assert_int_equal(sumsym->op, OP_SUM);
    assert_int_equal(sum4->op, OP_CONSTANT);
    assert_true(sum4->attrs.value == 8.0);
    ir_module_destroy(fx.m);
}

/* ---- cse ------------------------------------------------------------------------- */

static void test_cse_merges(void **state) {
    Fixture fx = fixture();
    IrValue *c1 = cst(fx.f, 2, tf(0)), *c2 = cst(fx.f, 2, tf(0));
    IrValue *a1 = bin(fx.f, OP_MUL, fx.x, c1);
    IrValue *a2 = bin(fx.f, OP_MUL, fx.x, c2);  /* same once c2 is c1 */
    IrValue *a3 = bin(fx.f, OP_MUL, c2, fx.x);  /* commutative: same too */
    IrValue *s = bin(fx.f, OP_SUB, a2, a3);     /* sub(a1, a1) */
    results(fx.f, 2, s, a2);
    assert_true(run(fx.m, "cse"));
    assert_false(in_func(fx.f, c2) || in_func(fx.f, a2) || in_func(fx.f, a3));
    assert_ptr_equal(s->args[0], a1);
    assert_ptr_equal(s->args[1], a1);
    assert_ptr_equal(fx.f->results[1], a1);
    assert_false(run(fx.m, "cse"));
    ir_module_destroy(fx.m);
}

/* Inputs never merge; 0 and -0 differ; the same value of two types differs;
 * sum over different axes differs; weights merge by name. */
static void test_cse_keeps_distinct(void **state) {
    IrModule *m = ir_module_create("m");
    IrType t = tf(2, 3, 3);
    ir_module_add_weight(m, "w", &t, (IrInit){INIT_ZEROS, 0, 0});
    IrFunc *f = ir_module_add_func(m, "f");
    IrValue *x = ir_func_add_param(f, "x", &t);
    IrValue *y = ir_func_add_param(f, "y", &t);
    IrValue *pz = cst(f, 0.0, tf(0)), *nz = cst(f, -0.0, tf(0)), *pz1 = cst(f, 0.0, tf(1, 1));
    IrValue *s0 = reduce(f, OP_SUM, x, 0), *s1 = reduce(f, OP_SUM, x, 1);
    IrAttrs wa = {0};
    wa.name = ir_intern(m, "w", 1);
    IrValue *w1 = build(f, OP_WEIGHT, NULL, 0, &wa, &t);
    IrValue *w2 = build(f, OP_WEIGHT, NULL, 0, &wa, &t);
    IrValue *u = bin(f, OP_ADD, w1, w2);
    results(f, 8, x, y, pz, nz, pz1, s0, s1, u);
    assert_true(run(m, "cse"));
    assert_true(in_func(f, y) && in_func(f, nz) && in_func(f, pz1) && in_func(f, s1));
    assert_false(in_func(f, w2));
    assert_ptr_equal(u->args[1], w1);
    ir_module_destroy(m);
}

/* ---- dce ------------------------------------------------------------------------- */

static void test_dce(void **state) {
    Fixture fx = fixture();
    IrType t = fx.xt;
    IrValue *unused = ir_func_add_param(fx.f, "unused", &t);
    IrValue *a = un(fx.f, OP_EXP, fx.x);
    IrValue *dead1 = un(fx.f, OP_TANH, a);
    IrValue *dead2 = bin(fx.f, OP_ADD, dead1, a); /* dead chain: both go */
    IrValue *live = un(fx.f, OP_NEG, a);
    results(fx.f, 2, live, a);
    assert_true(run(fx.m, "dce"));
    assert_true(in_func(fx.f, unused) && in_func(fx.f, a) && in_func(fx.f, live));
    assert_false(in_func(fx.f, dead1) || in_func(fx.f, dead2));
    assert_false(run(fx.m, "dce"));
    ir_module_destroy(fx.m);
}

/* ---- the manager ------------------------------------------------------------------ */

static void test_manager_unknown_pass(void **state) {
    Fixture fx = fixture();
    results(fx.f, 1, fx.x);
    char err[256];
    PassOptions o = {.passes = "cse,csee", .verify_each = true};
    assert_false(pass_run_pipeline(fx.m, &o, err, sizeof err));
    assert_string_equal(err, "unknown pass 'csee' (known: canonicalize, constant-fold, cse, dce, fuse-attention, fuse-elementwise, fuse-matmul)");
    o = (PassOptions){.passes = "cse,,dce"};
    assert_false(pass_run_pipeline(fx.m, &o, err, sizeof err));
    assert_string_equal(err, "empty pass name in --passes 'cse,,dce'");
    o = (PassOptions){.passes = "cse", .print_after = "dse"};
    assert_false(pass_run_pipeline(fx.m, &o, err, sizeof err));
    assert_non_null(strstr(err, "unknown pass 'dse'"));
    o = (PassOptions){.passes = "cse", .disable = "nope"};
    assert_false(pass_run_pipeline(fx.m, &o, err, sizeof err));
    assert_non_null(strstr(err, "unknown pass 'nope'"));
    /* A short buffer gets a truncated, terminated message. */
    char small[16];
    o = (PassOptions){.passes = "x"};
    assert_false(pass_run_pipeline(fx.m, &o, small, sizeof small));
    assert_int_equal(strlen(small), sizeof small - 1);
    ir_module_destroy(fx.m);
}

static void test_manager_registry(void **state) {
    assert_string_equal(pass_default_pipeline(), "canonicalize,constant-fold,cse,fuse-attention,fuse-matmul,fuse-elementwise,dce");
    assert_string_equal(pass_pre_grad_pipeline(), "canonicalize,constant-fold,cse,fuse-attention");
    assert_int_equal(pass_count(), 7);
    assert_string_equal(pass_info(1)->name, "constant-fold");
    assert_string_equal(pass_info(1)->dump_name, "ConstantFold");
    assert_string_equal(pass_info(4)->name, "fuse-attention");
    assert_string_equal(pass_info(5)->name, "fuse-elementwise");
    assert_string_equal(pass_info(6)->name, "fuse-matmul");
    assert_null(pass_info(7));
    assert_non_null(pass_lookup("dce", 3));
    assert_null(pass_lookup("dc", 2));
}

/* The default pipeline reduces (x + 0) * (2 * 3) + (x + 0) * 6 to x * 6 + x * 6 then to one
 * multiply feeding one add; dumps have MLIR's header; --disable-pass skips. */
static void test_manager_pipeline_and_dumps(void **state) {
    Fixture fx = fixture();
    IrValue *zero = cst(fx.f, 0, tf(0));
    IrValue *a = bin(fx.f, OP_ADD, fx.x, zero);
    IrValue *six = bin(fx.f, OP_MUL, cst(fx.f, 2, tf(0)), cst(fx.f, 3, tf(0)));
    IrValue *p = bin(fx.f, OP_MUL, a, six);
    IrValue *q = bin(fx.f, OP_MUL, a, cst(fx.f, 6, tf(0)));
    results(fx.f, 1, bin(fx.f, OP_ADD, p, q));

    char *dump = NULL, err[256];
    size_t len = 0;
    FILE *out = open_memstream(&dump, &len);
    PassOptions o = {.passes = NULL, .print_after = "cse", .disable = "dce,fuse-elementwise",
                     .verify_each = true, .dump = out};
    assert_true(pass_run_pipeline(fx.m, &o, err, sizeof err));
    fclose(out);
    assert_non_null(strstr(dump, "// -----// IR Dump After CSE (cse) //----- //\nmodule @m {"));
    assert_null(strstr(dump, "(canonicalize)"));
    free(dump);
    assert_int_equal(count_values(fx.f), 7); /* x, dead 0, 2, 3, then 6, mul, add */
    PassOptions all = {.passes = "dce", .verify_each = true};
    assert_true(pass_run_pipeline(fx.m, &all, err, sizeof err));
    assert_int_equal(count_values(fx.f), 4); /* x, 6, mul, add */
    char *text = print(fx.m);
    assert_non_null(strstr(text, "%1 = mul %x, %0 : f32[B, 4]\n    %2 = add %1, %1"));
    free(text);
    ir_module_destroy(fx.m);
}

/* A broken module is reported before anything runs, naming the invariant. */
static void test_manager_verifies_input(void **state) {
    Fixture fx = fixture();
    IrValue *a = un(fx.f, OP_NEG, fx.x);
    results(fx.f, 1, a);
    a->type = tf(1, 7); /* the stored type is not what inference gives */
    char err[512];
    PassOptions o = {.passes = "dce", .verify_each = true};
    assert_false(pass_run_pipeline(fx.m, &o, err, sizeof err));
    assert_non_null(strstr(err, "invalid IR before the first pass: "));
    assert_non_null(strstr(err, "f32[7]"));
    ir_module_destroy(fx.m);
}

/* A pass that breaks the IR on purpose: it gives its first non-input value a wrong type. */
static bool pass_break_it(IrModule *m) {
    for (IrValue *v = m->funcs->first; v; v = v->next)
        if (v->op != OP_INPUT) {
            v->type = tf(1, 7);
            return true;
        }
    return false;
}

/* After a pass breaks the IR, the manager names the pass and the invariant and dumps the
 * IR under a "Failed" header; the passes after it do not run. */
static void test_manager_catches_broken_pass(void **state) {
    Fixture fx = fixture();
    results(fx.f, 1, un(fx.f, OP_NEG, fx.x));
    const PassInfo breaker = {"break-it", "BreakIt", "breaks the IR", pass_break_it};
    const PassInfo *list[3] = {pass_lookup("cse", 3), &breaker, pass_lookup("dce", 3)};
    char *dump = NULL, err[512];
    size_t len = 0;
    FILE *out = open_memstream(&dump, &len);
    PassOptions o = {.verify_each = true, .print_after_all = true, .dump = out};
    assert_false(pass_run_passes(fx.m, list, 3, NULL, &o, err, sizeof err));
    fclose(out);
    assert_string_equal(err, "pass 'break-it' broke the IR: @forward: %0 (neg) has type f32[7] "
                             "but its operands give f32[B, 4]");
    assert_non_null(strstr(dump, "// -----// IR Dump After CSE (cse) //----- //\n"));
    assert_non_null(strstr(dump, "// -----// IR Dump After BreakIt (break-it) Failed //----- //\n"
                                 "module @m {"));
    assert_null(strstr(dump, "(dce)"));
    free(dump);
    ir_module_destroy(fx.m);
}

/* The printed result of a pipeline does not depend on where values were allocated:
 * building the same graph after unrelated allocations gives the same text. */
static void test_deterministic(void **state) {
    char *texts[2];
    for (int k = 0; k < 2; k++) {
        IrModule *m = ir_module_create("m");
        IrFunc *f = ir_module_add_func(m, "f");
        IrType t = tf(2, 3, 4);
        IrValue *x = ir_func_add_param(f, "x", &t);
        if (k) /* shift every later allocation */
            for (int i = 0; i < 100; i++) arena_alloc(&m->arena, 48 + (size_t)i);
        IrValue *vals[12];
        for (int i = 0; i < 12; i++) {
            IrValue *c = cst(f, i % 3, tf(0));
            vals[i] = bin(f, i % 2 ? OP_ADD : OP_MUL, i ? vals[i - 1] : x, c);
            vals[i] = bin(f, OP_ADD, vals[i], i % 4 ? x : vals[i]);
        }
        results(f, 1, vals[11]);
        PassOptions o = {.verify_each = true};
        char err[256];
        assert_true(pass_run_pipeline(m, &o, err, sizeof err));
        texts[k] = print(m);
        ir_module_destroy(m);
    }
    assert_string_equal(texts[0], texts[1]);
    free(texts[0]);
    free(texts[1]);
}

/* ---- differential: the default pipeline does not change what a graph computes ----- */

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A random graph over x: f32[3, 4] and y: f32[4] with constants, elementwise, movement
 * and reduction ops, built so that canonicalize, constant-fold and cse all find work.
 * Divisors are constants only: the one liberty canonicalize takes (the sign of a zero
 * in x + 0) shows only through a division by that zero. */
static IrModule *random_module(uint64_t seed) {
    IrModule *m = ir_module_create("rand");
    IrFunc *f = ir_module_add_func(m, "f");
    IrType t34 = tf(2, 3, 4), t4 = tf(1, 4);
    IrValue *pool[64];
    int n = 0;
    pool[n++] = ir_func_add_param(f, "x", &t34);
    pool[n++] = ir_func_add_param(f, "y", &t4);
    static const double consts[] = {0, -0.0, 1, 2, 0.5, -1, 3, 0.25, 0.1, -4};
    IrType shapes[3] = {tf(0), t4, t34};
    uint64_t s = seed * 2654435761u + 1;
    char err[256];
    while (n < 40) {
        uint64_t r = rng_next(&s);
        IrValue *a = pool[rng_next(&s) % (uint64_t)n], *b = pool[rng_next(&s) % (uint64_t)n];
        IrAttrs at = {0};
        IrValue *v = NULL;
        switch (r % 10) {
        case 0:
        case 1: {
            at.value = consts[rng_next(&s) % 10];
            v = ir_build(f, OP_CONSTANT, NULL, 0, &at, &shapes[rng_next(&s) % 3], NULL, err,
                         sizeof err);
            break;
        }
        case 2: {
            static const IrOp un_ops[] = {OP_NEG, OP_EXP, OP_TANH, OP_ABS, OP_RELU, OP_SIGMOID};
            v = ir_build(f, un_ops[rng_next(&s) % 6], &a, 1, NULL, NULL, NULL, err, sizeof err);
            break;
        }
        case 3:
        case 4:
        case 5: {
            static const IrOp bin_ops[] = {OP_ADD, OP_SUB, OP_MUL, OP_MAXIMUM, OP_ADD, OP_MUL};
            IrValue *args[2] = {a, b};
            v = ir_build(f, bin_ops[rng_next(&s) % 6], args, 2, NULL, NULL, NULL, err, sizeof err);
            break;
        }
        case 6: {
            if (b->op != OP_CONSTANT) break;
            IrValue *args[2] = {a, b};
            v = ir_build(f, OP_DIV, args, 2, NULL, NULL, NULL, err, sizeof err);
            break;
        }
        case 7:
            if (a->type.rank != 2) break;
            at.nints = 2;
            at.ints[0] = 1;
            at.ints[1] = 0;
            v = ir_build(f, OP_TRANSPOSE, &a, 1, &at, NULL, NULL, err, sizeof err);
            break;
        case 8: {
            IrType t = a->type;
            if (t.rank == 2) t = rng_next(&s) % 2 ? tf(1, (int)(t.dims[0].size * t.dims[1].size)) : t;
            else if (t.rank == 1 && t.dims[0].size == 12) t = t34;
            else if (t.rank == 1) t = tf(2, 1, (int)t.dims[0].size);
            v = ir_build(f, rng_next(&s) % 2 ? OP_RESHAPE : OP_BROADCAST, &a, 1, NULL, &t, NULL,
                         err, sizeof err);
            if (!v) v = ir_build(f, OP_RESHAPE, &a, 1, NULL, &t, NULL, err, sizeof err);
            break;
        }
        case 9:
            if (a->type.rank == 0) break;
            at.nints = 1;
            at.ints[0] = (int64_t)(rng_next(&s) % (uint64_t)a->type.rank);
            v = ir_build(f, rng_next(&s) % 2 ? OP_SUM : OP_MAX, &a, 1, &at, NULL, NULL, err,
                         sizeof err);
            break;
        }
        if (v) pool[n++] = v;
    }
    IrValue *res[4] = {pool[n - 1], pool[n - 2], pool[n - 7], pool[n / 2]};
    ir_func_set_results(f, res, 4);
    return m;
}

static Tensor *fill(IrDType dt, int rank, const int64_t *dims, uint64_t seed) {
    char err[256];
    Tensor *t = tensor_create(dt, rank, dims, err, sizeof err);
    assert_non_null(t);
    float *p = t->data;
    for (int64_t i = 0; i < tensor_numel(t); i++) p[i] = (float)((int)(rng_next(&seed) % 17) - 8) * 0.375f;
    return t;
}

static void run_ref(IrFunc *f, Tensor **in, Tensor **out) {
    char err[256] = "";
    if (!ref_run(f, NULL, in, out, err, sizeof err)) fail_msg("ref_run: %s", err);
}

static void test_pipeline_preserves_results(void **state) {
    int64_t d34[2] = {3, 4}, d4[1] = {4};
    int changed_graphs = 0;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        IrModule *m = random_module(seed);
        assert_verifies(m);
        IrFunc *f = m->funcs;
        Tensor *in[2] = {fill(DT_F32, 2, d34, seed), fill(DT_F32, 1, d4, seed + 7)};
        Tensor *before[4], *after[4];
        run_ref(f, in, before);
        int nvalues = count_values(f);
        PassOptions o = {.verify_each = true};
        char err[512];
        if (!pass_run_pipeline(m, &o, err, sizeof err)) fail_msg("seed %d: %s", (int)seed, err);
        changed_graphs += count_values(f) != nvalues;
        run_ref(f, in, after);
        for (int r = 0; r < 4; r++) {
            assert_int_equal(before[r]->rank, after[r]->rank);
            const float *p = before[r]->data, *q = after[r]->data;
            for (int64_t i = 0; i < tensor_numel(before[r]); i++)
                if (!(p[i] == q[i] || (p[i] != p[i] && q[i] != q[i])))
                    fail_msg("seed %d, result %d, element %lld: %.9g before, %.9g after",
                             (int)seed, r, (long long)i, p[i], q[i]);
            tensor_destroy(before[r]);
            tensor_destroy(after[r]);
        }
        tensor_destroy(in[0]);
        tensor_destroy(in[1]);
        ir_module_destroy(m);
    }
    assert_true(changed_graphs > 250); /* the pipeline had work to do */
}

/* fuse-matmul's epilogues keep results bit for bit on ref: each body op still rounds
 * once, as the separate kernels did. Random chains after x @ w (or x @ w^T), with bias
 * and residual operands; no chain of matmuls, so nothing is reassociated. */
static void test_fuse_matmul_preserves_results(void **state) {
    int64_t dx[2] = {3, 4}, dw[2] = {4, 5}, dwt[2] = {5, 4}, db[1] = {5}, dr[2] = {3, 5};
    int fused = 0;
    for (uint64_t seed = 1; seed <= 60; seed++) {
        IrModule *m = ir_module_create("mm");
        IrFunc *f = ir_module_add_func(m, "f");
        bool tw = seed % 2;
        IrType tx = tf(2, 3, 4), tw_ = tw ? tf(2, 5, 4) : tf(2, 4, 5), tb = tf(1, 5), tr = tf(2, 3, 5);
        IrValue *x = ir_func_add_param(f, "x", &tx), *w = ir_func_add_param(f, "w", &tw_);
        IrValue *b = ir_func_add_param(f, "b", &tb), *r = ir_func_add_param(f, "r", &tr);
        static const int perm[2] = {1, 0};
        IrValue *v = bin(f, OP_MATMUL, x, tw ? transpose(f, w, 2, perm) : w);
        uint64_t s = seed * 2654435761u + 3;
        for (int k = 0; k < 4; k++) {
            static const IrOp ops[] = {OP_ADD, OP_GELU, OP_RELU, OP_MUL, OP_TANH, OP_SUB};
            IrOp op = ops[rng_next(&s) % 6];
            IrValue *other = rng_next(&s) % 2 ? b : r;
            v = ir_op_flags(op) & F_BINARY ? bin(f, op, v, other) : un(f, op, v);
        }
        results(f, 1, v);
        Tensor *in[4] = {fill(DT_F32, 2, dx, seed), fill(DT_F32, 2, tw ? dwt : dw, seed + 1),
                         fill(DT_F32, 1, db, seed + 2), fill(DT_F32, 2, dr, seed + 3)};
        Tensor *before, *after;
        run_ref(f, in, &before);
        PassOptions o = {.passes = "fuse-matmul,dce", .verify_each = true};
        char err[512];
        if (!pass_run_pipeline(m, &o, err, sizeof err)) fail_msg("seed %d: %s", (int)seed, err);
        fused += f->first->next->next->next->next->op == OP_FUSED && count_values(f) == 5;
        run_ref(f, in, &after);
        for (int64_t i = 0; i < tensor_numel(before); i++) {
            float p = ((float *)before->data)[i], q = ((float *)after->data)[i];
            if (!(p == q || (p != p && q != q)))
                fail_msg("seed %d, element %lld: %.9g before, %.9g after", (int)seed, (long long)i, p, q);
        }
        tensor_destroy(before), tensor_destroy(after);
        for (int i = 0; i < 4; i++) tensor_destroy(in[i]);
        ir_module_destroy(m);
    }
    assert_int_equal(fused, 60); /* every chain became one kernel (4 inputs + the fused op) */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canon_identities),
        cmocka_unit_test(test_canon_broadcast_add_kept),
        cmocka_unit_test(test_canon_float_traps_kept),
        cmocka_unit_test(test_canon_neg_neg),
        cmocka_unit_test(test_canon_transpose_chains),
        cmocka_unit_test(test_canon_reshape_broadcast),
        cmocka_unit_test(test_canon_div_pow2),
        cmocka_unit_test(test_fold_elementwise),
        cmocka_unit_test(test_fold_i32),
        cmocka_unit_test(test_fold_movement_and_reduce),
        cmocka_unit_test(test_cse_merges),
        cmocka_unit_test(test_cse_keeps_distinct),
        cmocka_unit_test(test_dce),
        cmocka_unit_test(test_manager_unknown_pass),
        cmocka_unit_test(test_manager_registry),
        cmocka_unit_test(test_manager_pipeline_and_dumps),
        cmocka_unit_test(test_manager_verifies_input),
        cmocka_unit_test(test_manager_catches_broken_pass),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_pipeline_preserves_results),
        cmocka_unit_test(test_fuse_matmul_preserves_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
