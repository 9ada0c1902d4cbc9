/* type.c — dims, shapes and their printed form. */
#include <string.h>

#include "ir.h"

IrDim ir_dim_int(int64_t n) { return (IrDim){n, NULL}; }
IrDim ir_dim_sym(const char *interned) { return (IrDim){0, interned}; }

bool ir_dim_eq(IrDim a, IrDim b) {
    if (a.sym || b.sym) return a.sym == b.sym;
    return a.size == b.size;
}

bool ir_type_eq(const IrType *a, const IrType *b) {
    if (a->dtype != b->dtype || a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (!ir_dim_eq(a->dims[i], b->dims[i])) return false;
    return true;
}

bool ir_type_is_static(const IrType *t) {
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i].sym) return false;
    return true;
}

int64_t ir_type_static_elements(const IrType *t) {
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i].sym) continue;
        int64_t d = t->dims[i].size;
        if (d != 0 && n > INT64_MAX / d) return INT64_MAX;
        n *= d;
    }
    return n;
}

char *ir_type_str(const IrType *t, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "%s[", ir_dtype_name(t->dtype));
    for (int i = 0; i < t->rank && k < n; i++) {
        const char *sep = i ? ", " : "";
        if (t->dims[i].sym)
            k += (size_t)snprintf(buf + k, n - k, "%s%s", sep, t->dims[i].sym);
        else
            k += (size_t)snprintf(buf + k, n - k, "%s%lld", sep, (long long)t->dims[i].size);
    }
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}
