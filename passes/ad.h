/* ad.h — what autodiff.c and vjp.c share: the builder context and the VJP rule type.
 * Internal to passes/; users include autodiff.h. */
#ifndef TFC_AD_H
#define TFC_AD_H

#include "autodiff.h"

/* Builds backward ops at the end of a function. A failure to build is a bug in a rule
 * (shapes in the backward pass follow from a verified forward pass), so ad_op aborts with
 * the op and the message rather than returning an error. */
typedef struct {
    IrFunc *f;
} AdCtx;

/* One result per operand: grads[i] receives d loss / d operand i given g = d loss / d v
 * for each operand with need[i] set (a rule may skip the others), or stays NULL when no
 * gradient flows to it (integer operands, masks, indices). */
typedef void (*VjpRule)(AdCtx *c, IrValue *v, IrValue *g, const bool *need, IrValue **grads);

VjpRule ad_vjp_rule(IrOp op); /* NULL: the op passes no gradient */

IrValue *ad_op(AdCtx *c, IrOp op, IrValue **args, int nargs, const IrAttrs *a, const IrType *given);
IrValue *ad_op1(AdCtx *c, IrOp op, IrValue *x);
IrValue *ad_op2(AdCtx *c, IrOp op, IrValue *x, IrValue *y);
/* A scalar constant broadcast to type t (a plain constant when t is a scalar). */
IrValue *ad_fill(AdCtx *c, double value, const IrType *t);
/* g summed down to type t: the adjoint of NumPy broadcasting from t to g's shape. */
IrValue *ad_unbroadcast(AdCtx *c, IrValue *g, const IrType *t);

#endif
