/* canonicalize.c — rewrite algebraic identities into one canonical form.
 *
 * Rules (each one keeps the value bit for bit, except where noted):
 *   add(x, 0), sub(x, 0), mul(x, 1), div(x, 1)    -> x   (when the result type is x's type)
 *   neg(neg(x))                                      -> x
 *   cast(x) to x's own type                          -> x
 *   transpose(transpose(x, p), q)                    -> transpose(x, p∘q), or x if identity
 *   transpose(x, identity), reshape/broadcast(x) of x's own type -> x
 *   reshape(reshape(x)), broadcast(broadcast(x))     -> one reshape / broadcast of x
 *   op(constant, x) for a commutative op             -> op(x, constant)
 *   div(x, c) for a float c = ±2^k                   -> mul(x, 1/c)   (1/c is exact)
 * Rules never applied because they change floats: x*0 -> 0 (NaN, inf, -0), x-x -> 0,
 * 0-x -> neg(x) (+0 vs -0), x/c -> x*(1/c) when 1/c is not a power of two.
 *
 * Decisions a newcomer may question:
 *  - add(x, 0) -> x is also taken for a float x, although -0.0 + +0.0 is +0.0: the sign of
 *    a zero is the one bit this pass lets go (as frameworks' graph optimisers do); the
 *    brief for this compiler names x+0 -> x as an identity. sub(x, +0) is exact.
 *  - The broadcast trap: add(x, 0) where 0 is f32[B, T] and x is f32[T] has a result
 *    wider than x, so it is left alone unless the result type equals x's type.
 *  - A rewrite changes the value in place when its op keeps its operand count (swap,
 *    transpose chains, div -> mul), and replaces it by an existing value otherwise. Every
 *    in-place rewrite is checked by ir_infer against the value's old type before it is
 *    kept, so a rule can never change a type behind the verifier's back.
 *  - The replaced value is removed at once (it has no use left); operands that become
 *    dead (the constant 0, the inner transpose) are left for dce, one verb per pass.
 *  - Walks in definition order until nothing changes (at most a few rounds; operands are
 *    canonical before their users are visited, so a second round is normally a no-op).
 */
#include "passes.h"

#include <assert.h>
#include <math.h>
#include <string.h>

enum { CANON_MAX_ROUNDS = 8 };

static bool is_const(const IrValue *v, double c) {
    return v->op == OP_CONSTANT && v->attrs.value == c;
}

static bool is_float(IrDType dt) { return dt != DT_I32; }

/* Sets v's operands to args (same count) and attrs to *attrs if the result type stays the
 * same; returns whether it did. */
static bool rewrite_in_place(IrValue *v, IrOp op, IrValue **args, const IrAttrs *attrs) {
    IrType t;
    char err[256];
    if (!ir_infer(op, args, v->nargs, attrs, &v->type, &t, err, sizeof err)) return false;
    if (!ir_type_eq(&t, &v->type)) return false;
    v->op = op;
    for (int i = 0; i < v->nargs; i++) v->args[i] = args[i];
    v->attrs = *attrs;
    return true;
}

/* Every use of v now uses x, and v goes. */
static void replace(IrFunc *f, IrValue *v, IrValue *x) {
    ir_replace_uses(f, v, x);
    ir_value_remove(f, v);
}

static bool is_identity_perm(const IrAttrs *a) {
    for (int i = 0; i < a->nints; i++)
        if (a->ints[i] != i) return false;
    return true;
}

/* c == ±2^k with both c and 1/c normal numbers of dtype dt: then x/c and x*(1/c) round
 * the same real number, so they are equal bit for bit. */
static bool exact_reciprocal(double c, IrDType dt, double *inv) {
    if (!isfinite(c) || c == 0) return false;
    int e;
    double mant = frexp(c, &e);
    if (fabs(mant) != 0.5) return false;
    int k = e - 1, lim;
    switch (dt) {
    case DT_F32: case DT_BF16: lim = 126; break;
    case DT_F16: lim = 14; break;
    default: return false;
    }
    if (k < -lim || k > lim) return false;
    *inv = ldexp(mant < 0 ? -1.0 : 1.0, -k);
    return true;
}

/* One rewrite at v, if a rule matches. May remove v. */
static bool canon_value(IrFunc *f, IrValue *v) {
    IrValue *a = v->nargs > 0 ? v->args[0] : NULL;
    IrValue *b = v->nargs > 1 ? v->args[1] : NULL;
    bool changed = false;

    /* Constant operand of a commutative op to the right. */
    if (v->nargs == 2 && (ir_op_flags(v->op) & F_COMMUTATIVE) && a->op == OP_CONSTANT &&
        b->op != OP_CONSTANT) {
        IrValue *args[2] = {b, a};
        if (rewrite_in_place(v, v->op, args, &v->attrs)) {
            a = v->args[0];
            b = v->args[1];
            changed = true;
        }
    }

    switch (v->op) {
    case OP_ADD:
    case OP_SUB:
        if (is_const(b, 0.0) && ir_type_eq(&v->type, &a->type)) {
            replace(f, v, a);
            return true;
        }
        break;
    case OP_MUL:
        if (is_const(b, 1.0) && ir_type_eq(&v->type, &a->type)) {
            replace(f, v, a);
            return true;
        }
        break;
    case OP_DIV: {
        if (is_const(b, 1.0) && ir_type_eq(&v->type, &a->type)) {
            replace(f, v, a);
            return true;
        }
        double inv;
        if (b->op == OP_CONSTANT && is_float(v->type.dtype) &&
            exact_reciprocal(b->attrs.value, b->type.dtype, &inv)) {
            IrAttrs ca;
            memset(&ca, 0, sizeof ca);
            ca.value = inv;
            char err[256];
            IrValue *c = ir_build(f, OP_CONSTANT, NULL, 0, &ca, &b->type, v, err, sizeof err);
            assert(c && "building a constant of an existing constant's type cannot fail");
            IrValue *args[2] = {a, c};
            if (rewrite_in_place(v, OP_MUL, args, &v->attrs)) return true;
            ir_value_remove(f, c);
        }
        break;
    }
    case OP_NEG:
        if (a->op == OP_NEG) {
            replace(f, v, a->args[0]);
            return true;
        }
        break;
    case OP_CAST:
    case OP_RESHAPE:
    case OP_BROADCAST:
        if (ir_type_eq(&v->type, &a->type)) {
            replace(f, v, a);
            return true;
        }
        if (v->op != OP_CAST && a->op == v->op) {
            IrValue *args[1] = {a->args[0]};
            if (rewrite_in_place(v, v->op, args, &v->attrs)) return true;
        }
        break;
    case OP_TRANSPOSE:
        if (is_identity_perm(&v->attrs)) {
            replace(f, v, a);
            return true;
        }
        if (a->op == OP_TRANSPOSE && a->attrs.nints == v->attrs.nints) {
            /* out[i] = in[perm[i]], so transpose(transpose(x, p), q) reads x[p[q[i]]]. */
            IrAttrs at = v->attrs;
            for (int i = 0; i < at.nints; i++) at.ints[i] = a->attrs.ints[v->attrs.ints[i]];
            if (is_identity_perm(&at) && ir_type_eq(&v->type, &a->args[0]->type)) {
                replace(f, v, a->args[0]);
                return true;
            }
            IrValue *args[1] = {a->args[0]};
            if (rewrite_in_place(v, OP_TRANSPOSE, args, &at)) return true;
        }
        break;
    default:
        break;
    }
    return changed;
}

static bool canon_func(IrFunc *f) {
    bool any = false;
    for (int round = 0; round < CANON_MAX_ROUNDS; round++) {
        bool changed = false;
        for (IrValue *v = f->first, *next; v; v = next) {
            next = v->next;
            changed |= canon_value(f, v);
        }
        if (!changed) break;
        any = true;
    }
    return any;
}

bool pass_canonicalize(IrModule *m) {
    bool changed = false;
    for (IrFunc *f = m->funcs; f; f = f->next) changed |= canon_func(f);
    return changed;
}
