/* diag.c — printing diagnostics with the offending source line and a caret.
 *
 * Long lines (a 10 MB line is a valid input) are shown as a window of at most
 * 100 columns around the caret; bytes that are not printable are shown as '?'. */
#include "diag.h"

#include <stdarg.h>

enum { WINDOW = 100 };

void diag_init(Diag *d, const char *file, const char *src, size_t len, FILE *out) {
    d->file = file;
    d->src = src;
    d->len = len;
    d->out = out ? out : stderr;
    d->errors = 0;
}

DiagLoc diag_loc_at(const Diag *d, size_t offset) {
    DiagLoc loc = {1, 1, offset};
    if (offset > d->len) offset = d->len;
    for (size_t i = 0; i < offset; i++) {
        if (d->src[i] == '\n') {
            loc.line++;
            loc.col = 1;
        } else {
            loc.col++;
        }
    }
    return loc;
}

static void show_line(const Diag *d, DiagLoc loc) {
    if (!d->src || loc.offset > d->len) return;
    size_t start = loc.offset, end = loc.offset;
    while (start > 0 && d->src[start - 1] != '\n') start--;
    while (end < d->len && d->src[end] != '\n') end++;
    size_t caret = loc.offset - start;
    size_t from = caret > WINDOW / 2 ? loc.offset - WINDOW / 2 : start;
    size_t to = end - from > WINDOW ? from + WINDOW : end;
    fputs("  ", d->out);
    if (from > start) fputs("...", d->out);
    for (size_t i = from; i < to; i++) {
        unsigned char c = (unsigned char)d->src[i];
        fputc(c == '\t' ? ' ' : (c < 32 || c == 127) ? '?' : c, d->out);
    }
    if (to < end) fputs("...", d->out);
    fputs("\n  ", d->out);
    if (from > start) fputs("   ", d->out);
    for (size_t i = from; i < loc.offset; i++) {
        /* Count UTF-8 lead bytes only, so the caret lines up under multi-byte text. */
        if (((unsigned char)d->src[i] & 0xC0) != 0x80) fputc(' ', d->out);
    }
    fputs("^\n", d->out);
}

static void report(Diag *d, DiagLoc loc, const char *kind, const char *fmt, va_list ap) {
    if (loc.line > 0)
        fprintf(d->out, "%s:%d:%d: %s: ", d->file, loc.line, loc.col, kind);
    else
        fprintf(d->out, "%s: %s: ", d->file, kind);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    if (loc.line > 0) show_line(d, loc);
}

void diag_error(Diag *d, DiagLoc loc, const char *fmt, ...) {
    d->errors++;
    if (d->errors > DIAG_MAX_ERRORS) return;
    va_list ap;
    va_start(ap, fmt);
    report(d, loc, "error", fmt, ap);
    va_end(ap);
    if (d->errors == DIAG_MAX_ERRORS)
        fprintf(d->out, "%s: note: too many errors, stopping here\n", d->file);
}

void diag_note(Diag *d, DiagLoc loc, const char *fmt, ...) {
    if (d->errors > DIAG_MAX_ERRORS) return;
    va_list ap;
    va_start(ap, fmt);
    report(d, loc, "note", fmt, ap);
    va_end(ap);
}
