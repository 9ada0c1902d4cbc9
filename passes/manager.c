/* manager.c — the pass manager: names to pipeline, run, dump, verify, time.
 *
 * A pipeline is a comma list of registry names ("canonicalize,cse"); the manager checks
 * every name of --passes, --print-after and --disable-pass before running anything, so a
 * typo costs nothing and is reported with the list of known names. Passes run one after
 * the other over the whole module (pass-major, as MLIR's module pass manager and QBE's
 * main.c do), so a dump after a pass shows every function in the same state.
 *
 * Decision a newcomer may question: the pipeline is at most PASS_MAX_PIPELINE entries in
 * a fixed array rather than a growing list. A pipeline is typed by a person or spelled in
 * the driver; 64 steps is far beyond either, and a fixed array keeps this file free of
 * ownership questions. Longer lists are a user error, not a crash.
 */
#include "passes.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

enum { PASS_MAX_PIPELINE = 64 };

static const PassInfo pass_table[] = {
#define PASS(c, name, dump, desc) {name, dump, desc, pass_##c},
#include "passes.def"
#undef PASS
};

enum { PASS_TABLE_COUNT = (int)(sizeof pass_table / sizeof pass_table[0]) };

int pass_count(void) { return PASS_TABLE_COUNT; }

const PassInfo *pass_info(int i) {
    return i >= 0 && i < PASS_TABLE_COUNT ? &pass_table[i] : NULL;
}

const PassInfo *pass_lookup(const char *name, size_t len) {
    for (int i = 0; i < PASS_TABLE_COUNT; i++)
        if (strlen(pass_table[i].name) == len && memcmp(pass_table[i].name, name, len) == 0)
            return &pass_table[i];
    return NULL;
}

const char *pass_default_pipeline(void) { return "canonicalize,constant-fold,cse,fuse-attention,fuse-matmul,fuse-elementwise,dce"; }

const char *pass_fusion_names(void) {
    static char names[256];
    if (!names[0])
        for (int i = 0, k = 0; i < PASS_TABLE_COUNT; i++)
            if (strncmp(pass_table[i].name, "fuse-", 5) == 0)
                k += snprintf(names + k, sizeof names - (size_t)k, "%s%s", k ? "," : "", pass_table[i].name);
    return names;
}

const char *pass_pre_grad_pipeline(void) { return "canonicalize,constant-fold,cse,fuse-attention"; }

bool pass_run_pre_grad(IrModule *m, const PassOptions *opts, char *err, size_t errlen) {
    if (errlen) err[0] = 0;
    if (opts->passes) return true; /* the user's own pipeline runs as given, after autodiff */
    PassOptions pre = {.passes = pass_pre_grad_pipeline(), .disable = opts->disable,
                       .verify_each = opts->verify_each, .dump = opts->dump};
    return pass_run_pipeline(m, &pre, err, errlen);
}

void pass_dump(FILE *out, const PassInfo *p, const IrModule *m, bool failed) {
    fprintf(out, "// -----// IR Dump After %s (%s)%s //----- //\n", p->dump_name, p->name,
            failed ? " Failed" : "");
    ir_print_module(out, m);
    fflush(out);
}

/* Parses a comma list of pass names into out[] (at most max). `what` names the flag in
 * messages. Returns the count, or -1 with a message in err. */
static int parse_list(const char *list, const char *what, const PassInfo **out, int max,
                      char *err, size_t errlen) {
    int n = 0;
    if (!*list) return 0;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        /* Tolerate spaces around names: "cse, dce" is what people type in scripts. */
        while (len && (*p == ' ' || *p == '\t')) p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        if (len == 0) {
            snprintf(err, errlen, "empty pass name in %s '%s'", what, list);
            return -1;
        }
        const PassInfo *info = pass_lookup(p, len);
        if (!info) {
            int k = snprintf(err, errlen, "unknown pass '%.*s' (known: ", (int)len, p);
            for (int i = 0; i < PASS_TABLE_COUNT && k >= 0 && (size_t)k < errlen; i++)
                k += snprintf(err + k, errlen - (size_t)k, "%s%s", i ? ", " : "",
                              pass_table[i].name);
            if (k >= 0 && (size_t)k < errlen) snprintf(err + k, errlen - (size_t)k, ")");
            return -1;
        }
        if (n == max) {
            snprintf(err, errlen, "too many passes in %s (at most %d)", what, max);
            return -1;
        }
        out[n++] = info;
        if (!comma) break;
        p = comma + 1;
    }
    return n;
}

static bool in_list(const PassInfo *const *list, int n, const PassInfo *p) {
    for (int i = 0; i < n; i++)
        if (list[i] == p) return true;
    return false;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The --time-passes table, in the layout of MLIR's execution time report. A pass that
 * runs twice has two rows: the rows follow the pipeline, not the registry. The verifier
 * has a row of its own; dumping is not timed. */
static void print_timing(FILE *out, const PassInfo *const *pipe, const double *secs, int n,
                         double verify_secs, bool verified) {
    double total = verify_secs;
    for (int i = 0; i < n; i++) total += secs[i];
    fprintf(out, "===-------------------------------------------------------------------------===\n"
                 "                      ... Pass execution timing report ...\n"
                 "===-------------------------------------------------------------------------===\n");
    fprintf(out, "  Total Execution Time: %.4f seconds\n\n", total);
    fprintf(out, "  ----Wall Time----  ----Name----\n");
    for (int i = 0; i < n; i++) {
        double pct = total > 0 ? 100.0 * secs[i] / total : 0.0;
        fprintf(out, "  %8.4f (%5.1f%%)  %s (%s)\n", secs[i], pct, pipe[i]->dump_name,
                pipe[i]->name);
    }
    if (verified)
        fprintf(out, "  %8.4f (%5.1f%%)  Verifier\n", verify_secs,
                total > 0 ? 100.0 * verify_secs / total : 0.0);
    fprintf(out, "  %8.4f (100.0%%)  Total\n", total);
    fflush(out);
}

bool pass_run_passes(IrModule *m, const PassInfo *const *passes, int n, const bool *print,
                     const PassOptions *opts, char *err, size_t errlen) {
    double secs[PASS_MAX_PIPELINE] = {0};
    FILE *dump = opts->dump ? opts->dump : stdout;
    char why[512];
    if (errlen) err[0] = 0;
    if (n > PASS_MAX_PIPELINE) {
        snprintf(err, errlen, "too many passes (at most %d)", PASS_MAX_PIPELINE);
        return false;
    }
    if (opts->verify_each && !ir_verify(m, why, sizeof why)) {
        snprintf(err, errlen, "invalid IR before the first pass: %s", why);
        return false;
    }
    double verify_secs = 0;
    for (int i = 0; i < n; i++) {
        const PassInfo *p = passes[i];
        double t0 = now_seconds();
        p->run(m);
        secs[i] = now_seconds() - t0;
        bool ok = true;
        if (opts->verify_each) {
            double v0 = now_seconds();
            ok = ir_verify(m, why, sizeof why);
            verify_secs += now_seconds() - v0;
        }
        if (!ok) {
            pass_dump(dump, p, m, true);
            snprintf(err, errlen, "pass '%s' broke the IR: %s", p->name, why);
            return false;
        }
        if (opts->print_after_all || (print && print[i])) pass_dump(dump, p, m, false);
    }
    if (opts->time_passes) print_timing(stderr, passes, secs, n, verify_secs, opts->verify_each);
    return true;
}

bool pass_run_pipeline(IrModule *m, const PassOptions *opts, char *err, size_t errlen) {
    const PassInfo *pipe[PASS_MAX_PIPELINE], *print[PASS_MAX_PIPELINE],
        *disabled[PASS_MAX_PIPELINE], *run[PASS_MAX_PIPELINE];
    bool print_run[PASS_MAX_PIPELINE];
    if (errlen) err[0] = 0;

    const char *passes = opts->passes ? opts->passes : pass_default_pipeline();
    int npipe = parse_list(passes, "--passes", pipe, PASS_MAX_PIPELINE, err, errlen);
    if (npipe < 0) return false;
    int nprint = 0, ndisabled = 0;
    if (opts->print_after) {
        nprint = parse_list(opts->print_after, "--print-after", print, PASS_MAX_PIPELINE,
                            err, errlen);
        if (nprint < 0) return false;
    }
    if (opts->disable) {
        ndisabled = parse_list(opts->disable, "--disable-pass", disabled, PASS_MAX_PIPELINE,
                               err, errlen);
        if (ndisabled < 0) return false;
    }
    int nrun = 0;
    for (int i = 0; i < npipe; i++) {
        if (in_list(disabled, ndisabled, pipe[i])) continue;
        print_run[nrun] = in_list(print, nprint, pipe[i]);
        run[nrun++] = pipe[i];
    }
    return pass_run_passes(m, run, nrun, print_run, opts, err, errlen);
}
