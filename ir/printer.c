/* printer.c — the text form of the IR. Lives beside parser.c: what one prints the
 * other reads, and print(parse(print(M))) == print(M) byte for byte (a test checks it).
 *
 * Values are numbered afresh at every print (%0, %1, ... in list order; inputs keep their
 * names), so the text never depends on pointer values or on how a pass edited the list.
 * Floats print in the shortest form that reads back to the same double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

void ir_print_double(FILE *out, double x) {
    if (isnan(x)) {
        fputs("nan", out);
        return;
    }
    if (isinf(x)) {
        fputs(x < 0 ? "-inf" : "inf", out);
        return;
    }
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    fputs(buf, out);
}

/* Names made of [A-Za-z0-9_.-] print bare after @; others are quoted. */
void ir_print_symbol(FILE *out, const char *name) {
    bool bare = *name != 0;
    for (const char *p = name; *p; p++)
        if (!(((*p | 32) >= 'a' && (*p | 32) <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '.' || *p == '-'))
            bare = false;
    fputc('@', out);
    if (bare) {
        fputs(name, out);
        return;
    }
    fputc('"', out);
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 32 || c >= 127)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void print_type(FILE *out, const IrType *t) {
    char buf[IR_TYPE_STR_MAX];
    fputs(ir_type_str(t, buf, sizeof buf), out);
}

static void print_ref(FILE *out, const IrValue *v) {
    if (v->op == OP_INPUT)
        fprintf(out, "%%%s", v->attrs.name);
    else
        fprintf(out, "%%%d", v->id);
}

static void print_attrs(FILE *out, const IrValue *v) {
    unsigned want = ir_op_attrs(v->op) & ~(unsigned)A_NAME;
    if (!want) return;
    const IrAttrs *a = &v->attrs;
    const char *sep = " {";
    if (want & A_AXIS) fprintf(out, "%saxis = %lld", sep, (long long)a->axis), sep = ", ";
    if (want & (A_AXES | A_PERM)) {
        fprintf(out, "%s%s = [", sep, (want & A_AXES) ? "axes" : "perm");
        for (int i = 0; i < a->nints; i++) fprintf(out, i ? ", %lld" : "%lld", (long long)a->ints[i]);
        fputc(']', out);
        sep = ", ";
    }
    if (want & A_START) fprintf(out, "%sstart = %lld", sep, (long long)a->start), sep = ", ";
    if (want & A_END) fprintf(out, "%send = %lld", sep, (long long)a->end), sep = ", ";
    if (want & A_PARTS) fprintf(out, "%sparts = %lld", sep, (long long)a->parts), sep = ", ";
    if (want & A_INDEX) fprintf(out, "%sindex = %lld", sep, (long long)a->index), sep = ", ";
    if (want & A_VALUE) {
        fprintf(out, "%svalue = ", sep);
        ir_print_double(out, a->value);
        sep = ", ";
    }
    if (want & A_EPS) {
        fprintf(out, "%seps = ", sep);
        ir_print_double(out, a->eps);
        sep = ", ";
    }
    if (want & A_SCALE) {
        fprintf(out, "%sscale = ", sep);
        ir_print_double(out, a->scale);
        sep = ", ";
    }
    if (want & A_KEEPDIM) fprintf(out, "%skeepdim = %s", sep, a->keepdim ? "true" : "false"), sep = ", ";
    if (want & A_CAUSAL) fprintf(out, "%scausal = %s", sep, a->causal ? "true" : "false");
    fputc('}', out);
}

void ir_print_func(FILE *out, IrFunc *f) {
    ir_func_number(f);
    fputs("  func ", out);
    ir_print_symbol(out, f->name);
    fputc('(', out);
    for (int i = 0; i < f->nparams; i++) {
        fprintf(out, "%s%%%s: ", i ? ", " : "", f->params[i]->attrs.name);
        print_type(out, &f->params[i]->type);
    }
    fputs(") -> (", out);
    for (int i = 0; i < f->nresults; i++) {
        if (i) fputs(", ", out);
        print_type(out, &f->results[i]->type);
    }
    fputs(") {\n", out);
    for (IrValue *v = f->first; v; v = v->next) {
        if (v->op == OP_INPUT) continue;
        fprintf(out, "    %%%d = %s", v->id, ir_op_name(v->op));
        if (v->attrs.name) {
            fputc(' ', out);
            ir_print_symbol(out, v->attrs.name);
        }
        for (int i = 0; i < v->nargs; i++) {
            fputs(i ? ", " : " ", out);
            print_ref(out, v->args[i]);
        }
        print_attrs(out, v);
        fputs(" : ", out);
        print_type(out, &v->type);
        fputc('\n', out);
    }
    fputs("    return", out);
    for (int i = 0; i < f->nresults; i++) {
        fputs(i ? ", " : " ", out);
        print_ref(out, f->results[i]);
        if (f->updates[i]) {
            fputs(" -> ", out);
            ir_print_symbol(out, f->updates[i]->name);
        }
    }
    fputs("\n  }\n", out);
}

static void print_init(FILE *out, const IrInit *in) {
    switch (in->kind) {
    case INIT_ZEROS: fputs("zeros", out); break;
    case INIT_ONES: fputs("ones", out); break;
    case INIT_NORMAL:
        fputs("normal(", out);
        ir_print_double(out, in->a);
        fputc(')', out);
        break;
    case INIT_UNIFORM:
        fputs("uniform(", out);
        ir_print_double(out, in->a);
        fputs(", ", out);
        ir_print_double(out, in->b);
        fputc(')', out);
        break;
    case INIT_CONSTANT:
        fputs("constant(", out);
        ir_print_double(out, in->a);
        fputc(')', out);
        break;
    }
}

void ir_print_module(FILE *out, const IrModule *m) {
    fputs("module ", out);
    ir_print_symbol(out, m->name);
    fputs(" {\n", out);
    for (const IrWeight *w = m->weights; w; w = w->next) {
        fputs("  weight ", out);
        ir_print_symbol(out, w->name);
        fputs(" : ", out);
        print_type(out, &w->type);
        fputs(" = ", out);
        print_init(out, &w->init);
        fputc('\n', out);
    }
    for (IrFunc *f = m->funcs; f; f = f->next) ir_print_func(out, f);
    fputs("}\n", out);
}
