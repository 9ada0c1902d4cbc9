/* ast_print.c — the syntax tree as indented S-expressions (`tfc compile --emit=ast`).
 *
 *   (model gpt2
 *     (param n_layer 12)
 *     (input idx i32[B, T])
 *     (assign (x) (+ (index wte idx) (index wpe (call arange T)))))
 *
 * One statement per line, expressions on one line; the form is for reading and for
 * FileCheck, it is not parsed back. Expression trees are at most FE_MAX_EXPR_DEPTH high
 * (the parser guarantees it), so printing them recursively is safe.
 */
#include "frontend/ast.h"

static void print_expr(FILE *out, const FeExpr *e);

static void print_args(FILE *out, const FeExpr *e, int from) {
    for (int i = from; i < e->nargs; i++) {
        fputc(' ', out);
        if (e->kw && e->kw[i]) fprintf(out, "%s=", e->kw[i]);
        print_expr(out, e->args[i]);
    }
}

static void print_expr(FILE *out, const FeExpr *e) {
    switch (e->kind) {
    case E_INT: fprintf(out, "%lld", (long long)e->ival); break;
    case E_FLOAT: fprintf(out, "%g", e->fval); break;
    case E_NAME: fputs(e->name, out); break;
    case E_BINARY:
        fprintf(out, "(%c ", e->op);
        print_expr(out, e->lhs);
        fputc(' ', out);
        print_expr(out, e->rhs);
        fputc(')', out);
        break;
    case E_NEG:
        fputs("(neg ", out);
        print_expr(out, e->lhs);
        fputc(')', out);
        break;
    case E_CALL:
        fputs(e->piped ? "(pipe " : "(call ", out);
        print_expr(out, e->lhs);
        print_args(out, e, 0);
        fputc(')', out);
        break;
    case E_INDEX:
        fputs("(index ", out);
        print_expr(out, e->lhs);
        fputc(' ', out);
        print_expr(out, e->rhs);
        fputc(')', out);
        break;
    case E_TRANSPOSE:
        fputs("(T ", out);
        print_expr(out, e->lhs);
        fputc(')', out);
        break;
    case E_MEMBER:
        fputs("(. ", out);
        print_expr(out, e->lhs);
        fprintf(out, " %s)", e->name);
        break;
    case E_LIST:
        fputs("(list", out);
        print_args(out, e, 0);
        fputc(')', out);
        break;
    }
}

static void print_type(FILE *out, const FeTypeExpr *t) {
    fputs(t->dtype, out);
    if (!t->dims) return;
    fputc('[', out);
    for (int i = 0; i < t->ndims; i++) {
        if (i) fputs(", ", out);
        print_expr(out, t->dims[i]);
    }
    fputc(']', out);
}

static void indent(FILE *out, int n) {
    for (int i = 0; i < n; i++) fputs("  ", out);
}

static void print_names(FILE *out, const FeStmt *s) {
    fputc('(', out);
    for (int i = 0; i < s->nnames; i++) fprintf(out, i ? " %s" : "%s", s->names[i]);
    fputc(')', out);
}

static void print_stmt(FILE *out, const FeStmt *s, int level) {
    indent(out, level);
    switch (s->kind) {
    case S_PARAM:
        fprintf(out, "(param %s ", s->names[0]);
        print_expr(out, s->value);
        break;
    case S_INPUT:
        fprintf(out, "(input %s ", s->names[0]);
        print_type(out, s->type);
        break;
    case S_WEIGHT:
        fprintf(out, "(weight %s", s->names[0]);
        if (s->type) {
            fputc(' ', out);
            print_type(out, s->type);
        }
        if (s->value) {
            fputc(' ', out);
            print_expr(out, s->value);
        }
        break;
    case S_ASSIGN:
        fputs("(assign ", out);
        print_names(out, s);
        fputc(' ', out);
        print_expr(out, s->value);
        break;
    case S_OUTPUT:
        fputs("(output ", out);
        print_names(out, s);
        break;
    case S_RETURN:
        fputs("(return", out);
        for (int i = 0; i < s->nexprs; i++) {
            fputc(' ', out);
            print_expr(out, s->exprs[i]);
        }
        break;
    case S_FOR:
        fprintf(out, "(for %s ", s->names[0]);
        print_expr(out, s->lo);
        fputc(' ', out);
        print_expr(out, s->hi);
        if (s->path) {
            fputs(" as ", out);
            for (int i = 0; i < s->npath; i++) {
                if (i) fputc('.', out);
                if (s->path[i].text) {
                    fputs(s->path[i].text, out);
                } else {
                    fputc('{', out);
                    print_expr(out, s->path[i].expr);
                    fputc('}', out);
                }
            }
        }
        for (int i = 0; i < s->nbody; i++) {
            fputc('\n', out);
            print_stmt(out, s->body[i], level + 1);
        }
        break;
    }
    fputc(')', out);
}

void fe_ast_print(FILE *out, const FeProgram *p) {
    for (int i = 0; i < p->nitems; i++) {
        const FeItem *it = p->items[i];
        fprintf(out, "(%s %s", it->is_model ? "model" : "block", it->name);
        if (!it->is_model) {
            fputs(" (", out);
            for (int j = 0; j < it->nparams; j++) {
                if (j) fputc(' ', out);
                fputs(it->params[j].name, out);
                if (it->params[j].type) {
                    fputc(':', out);
                    print_type(out, it->params[j].type);
                }
            }
            fputc(')', out);
        }
        for (int j = 0; j < it->nbody; j++) {
            fputc('\n', out);
            print_stmt(out, it->body[j], 1);
        }
        fputs(")\n", out);
    }
}
