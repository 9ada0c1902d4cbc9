/* progress.h — what a user sees while a model trains: on a terminal, one bar redrawn in
 * place (step, loss, tokens/s, ETA); otherwise (a log file, CI) plain lines every
 * `every` steps, so logs stay readable.
 *
 *     RtProgress p;
 *     rt_progress_begin(&p, stdout, total_steps, first_step);
 *     rt_progress_step(&p, step, loss, tokens_per_s);
 *     rt_progress_note(&p, "step 200: val_loss 1.23");   // clears the bar first
 *     rt_progress_end(&p);
 */
#ifndef TFC_RT_PROGRESS_H
#define TFC_RT_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *out;
    bool tty;
    int64_t total, first, every;
    double t0;       /* start time, seconds */
    bool bar_shown;
} RtProgress;

/* Seconds of a monotonic clock. */
double rt_now(void);
void rt_progress_begin(RtProgress *p, FILE *out, int64_t total, int64_t first);
void rt_progress_step(RtProgress *p, int64_t step, double loss, double tokens_per_s);
void rt_progress_note(RtProgress *p, const char *line);
void rt_progress_end(RtProgress *p);

#endif
