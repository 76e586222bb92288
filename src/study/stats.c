/* Selection of one accuracy per run, paired t-tests (GSL), and the study table. */
#define _POSIX_C_SOURCE 200809L
#include "hypersimplex/study.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

#include "study/study_internal.h"
#include "util/error.h"

/* GSL's cdf functions return a double and report domain errors through the global GSL
 * error handler, which we do not touch (other code in the process may rely on it). Inputs
 * are validated before the call; this macro checks the result is a probability and turns
 * anything else into HS_ERR_BACKEND with the call, file and line. */
#define HS_GSL_PROB(out, expr)                                                                      \
    do {                                                                                            \
        double hs_gsl_v_ = (expr);                                                                  \
        if (!(hs_gsl_v_ >= 0.0 && hs_gsl_v_ <= 1.0))                                                \
            return hs_fail(HS_ERR_BACKEND, "%s:%d: GSL %s returned %g, not a probability", __FILE__, \
                           __LINE__, #expr, hs_gsl_v_);                                             \
        (out) = hs_gsl_v_;                                                                          \
    } while (0)

hs_status hs_select_rule_parse(hs_select_rule *out, const char *name)
{
    if (!out || !name)
        return hs_fail(HS_ERR_NULL, "hs_select_rule_parse: NULL argument");
    if (!strcmp(name, "max-test"))
        *out = HS_SELECT_MAX_TEST;
    else if (!strcmp(name, "best-val"))
        *out = HS_SELECT_BEST_VAL;
    else if (!strcmp(name, "last"))
        *out = HS_SELECT_LAST;
    else
        return hs_fail(HS_ERR_ARG, "unknown selection rule '%s' (max-test, best-val, last)", name);
    return HS_OK;
}

const char *hs_select_rule_name(hs_select_rule r)
{
    switch (r) {
    case HS_SELECT_MAX_TEST: return "max-test";
    case HS_SELECT_BEST_VAL: return "best-val";
    case HS_SELECT_LAST: return "last";
    }
    return "unknown";
}

hs_status hs_run_select(double *accuracy, size_t *epoch, const hs_run_curve *run, hs_select_rule rule)
{
    if (!accuracy || !run)
        return hs_fail(HS_ERR_NULL, "hs_run_select: NULL argument");
    if (run->epochs == 0 || !run->test_accuracy)
        return hs_fail(HS_ERR_ARG, "run %s %s batch %ld seed %ld has no epochs", run->dataset, run->loss,
                       run->batch_size, run->seed);
    size_t best = 0;
    switch (rule) {
    case HS_SELECT_MAX_TEST:
        for (size_t e = 1; e < run->epochs; e++)
            if (run->test_accuracy[e] > run->test_accuracy[best])
                best = e;
        break;
    case HS_SELECT_BEST_VAL: {
        int found = 0;
        for (size_t e = 0; e < run->epochs; e++) {
            double v = run->val_accuracy ? run->val_accuracy[e] : NAN;
            if (isnan(v))
                continue;
            if (!found || v > run->val_accuracy[best])
                best = e;
            found = 1;
        }
        if (!found)
            return hs_fail(HS_ERR_ARG,
                           "best-val: run %s %s batch %ld seed %ld (line %zu) has no validation accuracy "
                           "(select with the rule max-test or last)", run->dataset, run->loss, run->batch_size,
                           run->seed, run->line);
        break;
    }
    case HS_SELECT_LAST:
        best = run->epochs - 1;
        break;
    default:
        return hs_fail(HS_ERR_ARG, "unknown selection rule %d", (int)rule);
    }
    *accuracy = run->test_accuracy[best];
    if (epoch)
        *epoch = best;
    return HS_OK;
}

hs_status hs_paired_ttest(hs_ttest *out, const double *a, const double *b, size_t n)
{
    if (!out || !a || !b)
        return hs_fail(HS_ERR_NULL, "hs_paired_ttest: NULL argument");
    out->n = n;
    out->mean_diff = out->sd_diff = out->t = out->p = NAN;
    out->df = n >= 1 ? (double)(n - 1) : NAN;
    if (n < 2)
        return hs_fail(HS_ERR_SIZE, "paired t-test needs at least 2 pairs, got %zu", n);
    double mean = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i]))
            return hs_fail(HS_ERR_NONFINITE, "paired t-test: pair %zu is not finite", i);
        mean += a[i] - b[i];
    }
    mean /= (double)n;
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (a[i] - b[i]) - mean;
        ss += d * d;
    }
    double sd = sqrt(ss / (double)(n - 1));
    double scale = 0.0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fmax(fabs(a[i]), fabs(b[i])));
    out->mean_diff = mean;
    out->sd_diff = sd;
    /* Differences that agree up to rounding (e.g. accuracies 0.5/0.4 and 0.6/0.5, whose
     * double differences differ in the last bit) leave no variance to test against: a t of
     * 1e16 would be a wrong number. */
    if (!(sd > 1e-12 * scale))
        return hs_fail(HS_ERR_ARG, "paired t-test: all %zu differences are equal (%g); t is undefined", n, mean);
    double t = mean / (sd / sqrt((double)n));
    double q;
    HS_GSL_PROB(q, gsl_cdf_tdist_Q(fabs(t), out->df));
    out->t = t;
    out->p = fmin(1.0, 2.0 * q);
    return HS_OK;
}

/* ---- the study ---- */

static const char *const known_losses[] = {"cross_entropy", "hinge", "mse", "hypersimplex"};
static const char *const known_datasets[] = {"fashion-mnist", "mnist", "cifar10"};

static int rank_of(const char *name, const char *const *list, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(name, list[i]))
            return i;
    return n;
}

/* "hypersimplex@P" (the HS loss with k policy P) ranks with "hypersimplex". */
static int loss_rank(const char *name)
{
    return hs_study_is_hs_loss(name) ? 3 : rank_of(name, known_losses, 4);
}

int hs_study_is_hs_loss(const char *name)
{
    return !strcmp(name, "hypersimplex") || !strncmp(name, "hypersimplex@", 13);
}

int hs_study_loss_cmp(const char *a, const char *b)
{
    int ra = loss_rank(a), rb = loss_rank(b);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    return strcmp(a, b);
}

int hs_study_dataset_cmp(const char *a, const char *b)
{
    int ra = rank_of(a, known_datasets, 3), rb = rank_of(b, known_datasets, 3);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    return strcmp(a, b);
}

static int group_cmp(const hs_study_group *a, const hs_study_group *b)
{
    int c = hs_study_dataset_cmp(a->dataset, b->dataset);
    if (c)
        return c;
    c = strcmp(a->variant, b->variant);
    if (c)
        return c;
    return a->batch_size < b->batch_size ? -1 : (a->batch_size > b->batch_size);
}

static int group_cmp_q(const void *a, const void *b)
{
    return group_cmp(a, b);
}

static int loss_cmp_q(const void *a, const void *b)
{
    return hs_study_loss_cmp(*(char *const *)a, *(char *const *)b);
}

void hs_study_free(hs_study *s)
{
    if (!s)
        return;
    if (s->cells)
        for (size_t i = 0; i < s->n_groups * s->n_losses; i++) {
            free(s->cells[i].seeds);
            free(s->cells[i].values);
        }
    free(s->cells);
    for (size_t g = 0; g < s->n_groups; g++) {
        free(s->groups[g].dataset);
        free(s->groups[g].variant);
    }
    free(s->groups);
    for (size_t l = 0; l < s->n_losses; l++)
        free(s->losses[l]);
    free(s->losses);
    free(s->baseline);
    memset(s, 0, sizeof *s);
}

const hs_study_cell *hs_study_at(const hs_study *s, size_t g, size_t l)
{
    if (!s || g >= s->n_groups || l >= s->n_losses)
        return NULL;
    return &s->cells[g * s->n_losses + l];
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static long find_loss(const hs_study *s, const char *loss)
{
    for (size_t l = 0; l < s->n_losses; l++)
        if (!strcmp(s->losses[l], loss))
            return (long)l;
    return -1;
}

static long find_group(const hs_study *s, const char *dataset, const char *variant, long batch)
{
    hs_study_group key = {(char *)dataset, (char *)variant, batch};
    size_t lo = 0, hi = s->n_groups;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = group_cmp(&s->groups[mid], &key);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static hs_status collect_names(hs_study *s, const hs_results *r)
{
    s->losses = calloc(r->n_runs, sizeof *s->losses);
    s->groups = calloc(r->n_runs, sizeof *s->groups);
    if (!s->losses || !s->groups)
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < r->n_runs; i++) {
        const hs_run_curve *c = &r->runs[i];
        if (find_loss(s, c->loss) < 0) {
            if (!(s->losses[s->n_losses] = dup_str(c->loss)))
                return hs_fail(HS_ERR_NOMEM, "out of memory");
            s->n_losses++;
        }
        int seen = 0;
        for (size_t g = 0; g < s->n_groups && !seen; g++)
            seen = s->groups[g].batch_size == c->batch_size && !strcmp(s->groups[g].dataset, c->dataset) &&
                   !strcmp(s->groups[g].variant, c->variant);
        if (!seen) {
            hs_study_group *g = &s->groups[s->n_groups++];
            g->batch_size = c->batch_size;
            g->dataset = dup_str(c->dataset);
            g->variant = dup_str(c->variant);
            if (!g->dataset || !g->variant)
                return hs_fail(HS_ERR_NOMEM, "out of memory");
        }
    }
    qsort(s->losses, s->n_losses, sizeof *s->losses, loss_cmp_q);
    qsort(s->groups, s->n_groups, sizeof *s->groups, group_cmp_q);
    return HS_OK;
}

static void compare_cell(hs_study_cell *c, const hs_study_cell *base)
{
    c->test.n = 0;
    c->test.mean_diff = c->test.sd_diff = c->test.t = c->test.p = c->test.df = NAN;
    if (c == base) {
        c->cmp = HS_CMP_BASELINE;
        return;
    }
    if (c->n == 0 || base->n == 0) {
        c->cmp = HS_CMP_MISSING;
        return;
    }
    if (c->n != base->n || memcmp(c->seeds, base->seeds, c->n * sizeof *c->seeds)) {
        c->cmp = HS_CMP_UNPAIRED;
        return;
    }
    if (c->n < 2) {
        c->cmp = HS_CMP_TOO_FEW;
        c->test.n = c->n;
        c->test.mean_diff = c->values[0] - base->values[0];
        return;
    }
    hs_status st = hs_paired_ttest(&c->test, c->values, base->values, c->n);
    c->cmp = st == HS_OK ? HS_CMP_OK : HS_CMP_ZERO_VAR;
}

hs_status hs_study_compute(hs_study *s, const hs_results *r, hs_select_rule rule, const char *baseline)
{
    if (!s || !r || !baseline)
        return hs_fail(HS_ERR_NULL, "hs_study_compute: NULL argument");
    memset(s, 0, sizeof *s);
    s->rule = rule;
    if (r->n_runs == 0)
        return hs_fail(HS_ERR_ARG, "the results table has no runs");
    hs_status st = HS_OK;
    if (!(s->baseline = dup_str(baseline)))
        st = hs_fail(HS_ERR_NOMEM, "out of memory");
    if (!st)
        st = collect_names(s, r);
    long b = st ? -1 : find_loss(s, baseline);
    if (!st && b < 0)
        st = hs_fail(HS_ERR_ARG, "the baseline loss '%s' does not occur in the results", baseline);
    if (!st && !(s->cells = calloc(s->n_groups * s->n_losses, sizeof *s->cells)))
        st = hs_fail(HS_ERR_NOMEM, "out of memory");
    if (st) {
        hs_study_free(s);
        return st;
    }
    /* Count runs per cell, then fill (runs are sorted by seed within a cell). */
    size_t *cell_of = malloc(r->n_runs * sizeof *cell_of);
    if (!cell_of) {
        hs_study_free(s);
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->n_runs; i++) {
        const hs_run_curve *c = &r->runs[i];
        size_t g = (size_t)find_group(s, c->dataset, c->variant, c->batch_size);
        size_t l = (size_t)find_loss(s, c->loss);
        cell_of[i] = g * s->n_losses + l;
        s->cells[cell_of[i]].n++;
    }
    for (size_t k = 0; !st && k < s->n_groups * s->n_losses; k++) {
        hs_study_cell *c = &s->cells[k];
        c->mean = c->sd = NAN;
        if (c->n == 0)
            continue;
        c->seeds = malloc(c->n * sizeof *c->seeds);
        c->values = malloc(c->n * sizeof *c->values);
        if (!c->seeds || !c->values)
            st = hs_fail(HS_ERR_NOMEM, "out of memory");
        c->n = 0;
    }
    for (size_t i = 0; !st && i < r->n_runs; i++) {
        hs_study_cell *c = &s->cells[cell_of[i]];
        double v;
        st = hs_run_select(&v, NULL, &r->runs[i], rule);
        if (st)
            break;
        if (c->n == 0 || r->runs[i].epochs < c->min_epochs)
            c->min_epochs = r->runs[i].epochs;
        if (c->n == 0 || r->runs[i].epochs > c->max_epochs)
            c->max_epochs = r->runs[i].epochs;
        c->seeds[c->n] = r->runs[i].seed;
        c->values[c->n] = v;
        c->n++;
    }
    free(cell_of);
    if (st) {
        hs_study_free(s);
        return st;
    }
    for (size_t k = 0; k < s->n_groups * s->n_losses; k++) {
        hs_study_cell *c = &s->cells[k];
        if (c->n == 0)
            continue;
        double m = 0.0;
        for (size_t i = 0; i < c->n; i++)
            m += c->values[i];
        m /= (double)c->n;
        c->mean = m;
        if (c->n >= 2) {
            double ss = 0.0;
            for (size_t i = 0; i < c->n; i++)
                ss += (c->values[i] - m) * (c->values[i] - m);
            c->sd = sqrt(ss / (double)(c->n - 1));
        }
    }
    for (size_t g = 0; g < s->n_groups; g++) {
        const hs_study_cell *base = &s->cells[g * s->n_losses + (size_t)b];
        for (size_t l = 0; l < s->n_losses; l++)
            compare_cell(&s->cells[g * s->n_losses + l], base);
    }
    return HS_OK;
}
