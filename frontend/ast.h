/* ast.h — tokens, the syntax tree of a .tfm file, and the lexer/parser entry points.
 *
 * The tree is plain data in its own Arena (freed in one call once lowering is done);
 * names are interned by the parser, so two names are equal exactly when their pointers
 * are. Every node carries the DiagLoc of the token that best explains it (an operator's
 * own position for a binary expression), which is where errors about it point.
 *
 * Decision a newcomer may question: the lexer is pulled one token at a time instead of
 * producing an array first, so a 64 MB file of one-character tokens never needs a token
 * array in memory; the parser keeps a three-token window.
 */
#ifndef TFC_FE_AST_H
#define TFC_FE_AST_H

#include <stdbool.h>
#include <stdint.h>

#include "frontend/frontend.h"
#include "ir/arena.h"
#include "ir/diag.h"

/* ---- Tokens (lexer.c) ---- */

typedef enum {
    TK_EOF, TK_ERROR, TK_IDENT, TK_INT, TK_FLOAT,
    /* keywords: keep in the order of fe_keywords[] in lexer.c */
    TK_MODEL, TK_BLOCK, TK_PARAM, TK_INPUT, TK_WEIGHT, TK_FOR, TK_IN, TK_AS, TK_OUTPUT,
    TK_RETURN, TK_TRUE, TK_FALSE,
    /* punctuation */
    TK_LPAREN, TK_RPAREN, TK_LBRACKET, TK_RBRACKET, TK_LBRACE, TK_RBRACE, TK_COMMA,
    TK_COLON, TK_SEMI, TK_ASSIGN, TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH, TK_AT, TK_CARET,
    TK_DOT, TK_DOTDOT, TK_PIPE,
} FeTokKind;

typedef struct {
    FeTokKind kind;
    DiagLoc loc;     /* line, column and offset of the first byte */
    size_t len;      /* bytes of source text */
    bool nl_before;  /* a line break separates it from the previous token */
    int64_t ival;    /* TK_INT */
    double fval;     /* TK_FLOAT */
} FeToken;

typedef struct {
    const char *src;
    size_t len, pos;
    int line, col;
    Diag *diag;
    bool binary; /* a NUL byte was seen: the parser stops at the first error */
} FeLexer;

void fe_lex_init(FeLexer *lx, const char *src, size_t len, Diag *diag);
/* The next token; errors (bad bytes, bad literals, long names) are reported and give
 * TK_ERROR, after which lexing goes on. */
FeToken fe_lex_next(FeLexer *lx);
/* "'model'", "')'", "end of file": how messages name a token kind. */
const char *fe_tok_kind_name(FeTokKind k);
/* Parses a whole number the way the lexer does ("12", "0.5", "1e-3"); false if `s` is
 * not exactly one number literal. Used for -D values. */
bool fe_parse_number(const char *s, size_t len, bool *is_float, int64_t *ival, double *fval);

/* ---- Syntax tree ---- */

typedef struct FeExpr FeExpr;
typedef struct FeStmt FeStmt;

typedef enum {
    E_INT, E_FLOAT, E_NAME,
    E_BINARY,    /* op: '+', '-', '*', '/', '@' */
    E_NEG,       /* -lhs */
    E_CALL,      /* lhs(args...), kw[i] names keyword arguments (NULL: positional) */
    E_INDEX,     /* lhs[rhs] */
    E_TRANSPOSE, /* lhs^T */
    E_MEMBER,    /* lhs.name */
    E_LIST,      /* [args...] */
} FeExprKind;

struct FeExpr {
    FeExprKind kind;
    DiagLoc loc;
    char op;          /* E_BINARY */
    int64_t ival;     /* E_INT */
    double fval;      /* E_FLOAT */
    const char *name; /* E_NAME, E_MEMBER (interned) */
    FeExpr *lhs, *rhs;
    FeExpr **args;
    const char **kw;  /* E_CALL: per argument, keyword name or NULL */
    DiagLoc *kw_loc;
    int nargs;
    int depth;        /* height of this subtree (bounded by FE_MAX_EXPR_DEPTH) */
    bool piped;       /* E_CALL written `args[0] |> lhs(rest)`: maps over a tuple */
};

/* A tensor type as written: `f32[B, T, 3*C]`. */
typedef struct {
    const char *dtype; /* interned */
    DiagLoc loc;
    FeExpr **dims;
    int ndims;
} FeTypeExpr;

/* One segment of a `for ... as h.{i}` path: a literal name or an interpolation. */
typedef struct {
    const char *text; /* literal segment, or NULL */
    FeExpr *expr;     /* `{expr}` segment */
} FePathSeg;

typedef enum { S_PARAM, S_INPUT, S_WEIGHT, S_ASSIGN, S_FOR, S_OUTPUT, S_RETURN } FeStmtKind;

struct FeStmt {
    FeStmtKind kind;
    DiagLoc loc;            /* the keyword, or the first name of an assignment */
    const char **names;     /* PARAM, INPUT, WEIGHT: 1 name; ASSIGN, OUTPUT: n names; FOR: var */
    DiagLoc *name_locs;
    int nnames;
    FeTypeExpr *type;       /* INPUT; WEIGHT (NULL for a layer helper) */
    FeExpr *value;          /* PARAM, WEIGHT (initialiser or helper), ASSIGN */
    FeExpr **exprs;         /* RETURN */
    int nexprs;
    FeExpr *lo, *hi;        /* FOR */
    FePathSeg *path;        /* FOR ... as path (NULL: no new weight scope) */
    int npath;
    FeStmt **body;          /* FOR */
    int nbody;
};

typedef struct {
    const char *name;
    DiagLoc loc;
    FeTypeExpr *type; /* NULL: any tensor */
} FeBlockParam;

typedef struct {
    bool is_model;
    const char *name;
    DiagLoc loc; /* the name */
    FeBlockParam *params; /* blocks */
    int nparams;
    FeStmt **body;
    int nbody;
    DiagLoc end; /* the closing brace */
} FeItem;

typedef struct {
    Arena arena; /* every node and name */
    FeItem **items;
    int nitems;
} FeProgram;

/* Parses a whole file (parser.c). Always returns a program (possibly partial); the
 * caller checks diag->errors and calls fe_program_free. */
FeProgram *fe_parse(const char *src, size_t len, Diag *diag);
void fe_program_free(FeProgram *p);

/* Prints the tree as indented S-expressions (ast_print.c). */
void fe_ast_print(FILE *out, const FeProgram *p);

#endif
