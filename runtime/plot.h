/* plot.h — the loss curve as a small hand-written SVG: training loss per step, validation
 * loss at each evaluation, the baseline as a dashed line.
 *
 * Decision a newcomer may question: SVG written by hand (a polyline and a few labels)
 * rather than a plotting library: no dependency, readable in any browser, diffable. */
#ifndef TFC_RT_PLOT_H
#define TFC_RT_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const int64_t *steps; /* x */
    const double *loss;   /* y */
    int n;
} RtSeries;

/* baseline: NaN for none. */
bool rt_plot_svg(const char *path, const char *title, RtSeries train, RtSeries val, double baseline,
                 const char *baseline_label, char *err, size_t errlen);

#endif
