/* diag.h — user-facing diagnostics: `file:line:col: error: message`, the source line
 * and a caret under the column. Shared by the .tfm frontend and the .tfir parser.
 *
 * Diagnostics are collected, never fatal: callers return a status and the driver
 * decides the exit code. After DIAG_MAX_ERRORS the rest are counted but not printed,
 * so garbage input cannot flood the terminal. */
#ifndef TFC_DIAG_H
#define TFC_DIAG_H

#include <stddef.h>
#include <stdio.h>

#define DIAG_MAX_ERRORS 20

typedef struct {
    int line, col;  /* 1-based; line 0 means "no location" */
    size_t offset;  /* byte offset of the location in the source */
} DiagLoc;

typedef struct {
    const char *file; /* name shown in messages */
    const char *src;  /* the whole source text (may contain NUL bytes) */
    size_t len;
    FILE *out;        /* where messages go (stderr by default) */
    int errors;
} Diag;

void diag_init(Diag *d, const char *file, const char *src, size_t len, FILE *out);
void diag_error(Diag *d, DiagLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_note(Diag *d, DiagLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Location of byte `offset` in d->src (computes line and column). */
DiagLoc diag_loc_at(const Diag *d, size_t offset);

#endif
