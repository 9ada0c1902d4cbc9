/* optab.c — lookups into the op table (ops.def) and the dtype table. */
#include <string.h>

#include "ir.h"

typedef struct {
    const char *name;
    int nargs;
    unsigned attrs, flags;
} OpInfo;

static const OpInfo op_info[OP_COUNT] = {
#define OP(e, name, nargs, attrs, rule, vjp, flags) [OP_##e] = {name, nargs, attrs, flags},
#include "ops.def"
#undef OP
};

static const struct {
    const char *name;
    size_t size;
} dtype_info[DT_COUNT] = {
    [DT_F32] = {"f32", 4}, [DT_I32] = {"i32", 4}, [DT_F16] = {"f16", 2}, [DT_BF16] = {"bf16", 2},
    [DT_F64] = {"f64", 8}, /* gradient checks on the reference backend */
};

const char *ir_op_name(IrOp op) { return op_info[op].name; }
int ir_op_nargs(IrOp op) { return op_info[op].nargs; }
unsigned ir_op_attrs(IrOp op) { return op_info[op].attrs; }
unsigned ir_op_flags(IrOp op) { return op_info[op].flags; }

bool ir_op_from_name(const char *name, size_t len, IrOp *out) {
    for (int i = 0; i < OP_COUNT; i++) {
        if (strlen(op_info[i].name) == len && memcmp(op_info[i].name, name, len) == 0) {
            *out = (IrOp)i;
            return true;
        }
    }
    return false;
}

const char *ir_dtype_name(IrDType dt) { return dtype_info[dt].name; }
size_t ir_dtype_size(IrDType dt) { return dtype_info[dt].size; }

bool ir_dtype_from_name(const char *name, size_t len, IrDType *out) {
    for (int i = 0; i < DT_COUNT; i++) {
        if (strlen(dtype_info[i].name) == len && memcmp(dtype_info[i].name, name, len) == 0) {
            *out = (IrDType)i;
            return true;
        }
    }
    return false;
}
