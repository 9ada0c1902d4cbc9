/* schedule.h — the learning rate of each step, computed on the host and fed to
 * @train_step as its %lr input (so one compiled step serves every schedule).
 *
 * With base rate lr, warm-up W steps, total S steps and step s = 1, 2, ..., S:
 *   warm-up (s <= W):   lr_s = lr * s / W
 *   constant:           lr_s = lr
 *   cosine (s > W):     p = (s - W') / max(1, S - W'), W' = max(W, 1);
 *                       lr_s = min_lr + (lr - min_lr) (1 + cos(pi p)) / 2
 * so the cosine starts at lr and ends exactly at min_lr on the last step: torch's
 * SequentialLR([LinearLR(1/W, total_iters=W-1), CosineAnnealingLR(T_max=S-W, eta_min)],
 * milestones=[W-1]), or CosineAnnealingLR(T_max=S-1) alone without warm-up
 * (tests/oracle/schedule.sh checks both).
 */
#ifndef TFC_RT_SCHEDULE_H
#define TFC_RT_SCHEDULE_H

#include <stdint.h>

#include "runtime/script.h"

double rt_schedule_lr(const RtSchedule *s, double lr, int64_t step, int64_t total);

#endif
