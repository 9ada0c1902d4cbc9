/* plot.c — loss curves as SVG (see plot.h). The y axis starts at 0 and ends at the
 * largest finite loss (or the baseline, if higher); x runs over the steps shown. */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { W = 720, H = 420, L = 60, R = 20, T = 40, B = 50 };

static void polyline(FILE *f, RtSeries s, double x0, double x1, double ymax, const char *color, bool dots) {
    if (s.n == 0) return;
    if (!dots) fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.2\" points=\"", color);
    for (int i = 0; i < s.n; i++) {
        if (!isfinite(s.loss[i])) continue;
        double x = L + (W - L - R) * ((double)s.steps[i] - x0) / (x1 > x0 ? x1 - x0 : 1);
        double y = T + (H - T - B) * (1 - s.loss[i] / ymax);
        if (dots) fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", x, y, color);
        else fprintf(f, "%.1f,%.1f ", x, y);
    }
    if (!dots) fprintf(f, "\"/>\n");
}

bool rt_plot_svg(const char *path, const char *title, RtSeries train, RtSeries val, double baseline,
                 const char *baseline_label, char *err, size_t errlen) {
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        return false;
    }
    double ymax = isfinite(baseline) ? baseline : 0, x0 = 1e300, x1 = -1e300;
    RtSeries all[2] = {train, val};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < all[k].n; i++) {
            if (isfinite(all[k].loss[i]) && all[k].loss[i] > ymax) ymax = all[k].loss[i];
            if ((double)all[k].steps[i] < x0) x0 = (double)all[k].steps[i];
            if ((double)all[k].steps[i] > x1) x1 = (double)all[k].steps[i];
        }
    if (ymax <= 0) ymax = 1;
    ymax *= 1.05;
    if (x0 > x1) x0 = 0, x1 = 1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
            "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"24\" font-size=\"15\">", L);
    for (const char *c = title; *c; c++) {
        if (*c == '<') fputs("&lt;", f);
        else if (*c == '&') fputs("&amp;", f);
        else fputc(*c, f);
    }
    fprintf(f, "</text>\n");
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, H - B, W - R, H - B);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, T, L, H - B);
    for (int i = 0; i <= 4; i++) {
        double v = ymax * i / 4, y = T + (H - T - B) * (1 - v / ymax);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", L - 6, y + 4, v);
        double sx = x0 + (x1 - x0) * i / 4, x = L + (W - L - R) * (double)i / 4;
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n", x, H - B + 18, sx);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>\n", (L + W - R) / 2, H - 10);
    if (isfinite(baseline)) {
        double y = T + (H - T - B) * (1 - baseline / ymax);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"gray\" stroke-dasharray=\"6,4\"/>\n", L, y,
                W - R, y);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"gray\">%s %.3f</text>\n", W - R, y - 4,
                baseline_label ? baseline_label : "baseline", baseline);
    }
    polyline(f, train, x0, x1, ymax, "#1f77b4", false);
    polyline(f, val, x0, x1, ymax, "#d62728", true);
    fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#1f77b4\">train loss</text>\n", W - R - 170, T + 14);
    fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#d62728\">validation loss</text>\n", W - R - 90, T + 14);
    fprintf(f, "</svg>\n");
    bool ok = fclose(f) == 0;
    if (!ok) snprintf(err, errlen, "cannot write '%s'", path);
    return ok;
}
