/* progress.c — progress bar on a terminal, periodic lines elsewhere (see progress.h).
 * Decision a newcomer may question: whether stdout is a terminal decides, not a flag;
 * TFC_PROGRESS=plain forces the plain lines (for a terminal that records a session). */
#include "progress.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double rt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void rt_progress_begin(RtProgress *p, FILE *out, int64_t total, int64_t first) {
    const char *force = getenv("TFC_PROGRESS");
    p->out = out;
    p->tty = isatty(fileno(out)) && !(force && strcmp(force, "plain") == 0);
    p->total = total;
    p->first = first;
    int64_t n = total - first;
    p->every = n >= 20 ? n / 10 : 1;
    if (p->every > 100) p->every = 100;
    p->t0 = rt_now();
    p->bar_shown = false;
}

static void fmt_time(double s, char *buf, size_t n) {
    if (s < 0 || s > 1e7) snprintf(buf, n, "?");
    else if (s < 60) snprintf(buf, n, "%.0fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)s / 3600, (int)s / 60 % 60);
}

void rt_progress_step(RtProgress *p, int64_t step, double loss, double tokens_per_s) {
    double el = rt_now() - p->t0;
    int64_t done = step - p->first;
    double eta = done > 0 ? el / (double)done * (double)(p->total - step) : -1;
    char eta_s[32];
    fmt_time(eta, eta_s, sizeof eta_s);
    if (p->tty) {
        enum { W = 30 };
        int fill = (int)((double)W * (double)step / (double)(p->total ? p->total : 1));
        char bar[W + 1];
        for (int i = 0; i < W; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
        bar[W] = 0;
        fprintf(p->out, "\r\033[Kstep %lld/%lld [%s] loss %.4f  %.0f tok/s  ETA %s", (long long)step,
                (long long)p->total, bar, loss, tokens_per_s, eta_s);
        fflush(p->out);
        p->bar_shown = true;
    } else if (step == p->total || (step - p->first) % p->every == 0) {
        fprintf(p->out, "step %lld/%lld: loss %.4f, %.0f tok/s, ETA %s\n", (long long)step, (long long)p->total,
                loss, tokens_per_s, eta_s);
        fflush(p->out);
    }
}

void rt_progress_note(RtProgress *p, const char *line) {
    if (p->bar_shown) fputs("\r\033[K", p->out);
    fprintf(p->out, "%s\n", line);
    fflush(p->out);
    p->bar_shown = false;
}

void rt_progress_end(RtProgress *p) {
    if (p->bar_shown) fputc('\n', p->out);
    p->bar_shown = false;
    fflush(p->out);
}
