/* schedule_check.c — prints tfc's learning rate for steps 1..S, one per line, for
 * tests/oracle/schedule.sh to compare with torch.optim.lr_scheduler.
 * usage: schedule_check constant|cosine LR WARMUP MIN_LR STEPS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/schedule.h"

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: schedule_check constant|cosine LR WARMUP MIN_LR STEPS\n");
        return 1;
    }
    RtSchedule s = {.kind = strcmp(argv[1], "constant") == 0 ? RT_SCHED_CONSTANT : RT_SCHED_COSINE,
                    .warmup = atoi(argv[3]), .min_lr = atof(argv[4])};
    double lr = atof(argv[2]);
    int steps = atoi(argv[5]);
    for (int k = 1; k <= steps; k++) printf("%.17g\n", rt_schedule_lr(&s, lr, k, steps));
    return 0;
}
