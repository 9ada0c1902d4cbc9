/* schedule.c — learning-rate schedules (formulas in schedule.h).
 * Decision a newcomer may question: computed in double on the host and rounded once to
 * f32 when fed to the step, so every backend sees the same rate, bit for bit. */
#include "schedule.h"

#include <math.h>

double rt_schedule_lr(const RtSchedule *s, double lr, int64_t step, int64_t total) {
    if (s->warmup > 0 && step <= s->warmup) return lr * (double)step / (double)s->warmup;
    if (s->kind == RT_SCHED_CONSTANT) return lr;
    /* The cosine starts at the last warm-up step (or at step 1 without warm-up), as
     * torch's SequentialLR(LinearLR, CosineAnnealingLR) does. */
    int64_t start = s->warmup > 0 ? s->warmup : 1, span = total - start;
    double p = (double)(step - start) / (double)(span > 1 ? span : 1);
    if (p > 1) p = 1;
    return s->min_lr + (lr - s->min_lr) * 0.5 * (1 + cos(3.14159265358979323846 * p));
}
