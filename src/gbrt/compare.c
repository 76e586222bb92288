/* Comparing losses on the same splits over several seeds: the protocol (split, train every
 * configuration, evaluate on the test set), its tidy runs table and CSV, the summaries with
 * the study layer's paired t-test, and the Markdown report. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypersimplex/gbrt.h"
#include "hypersimplex/study.h"
#include "io/csvtext.h"
#include "util/error.h"

/* The test split's own seed stream, so that it does not mirror the validation split. */
#define TEST_STREAM 0x7e57c0de5eedull

/* ------------------------------------------------------------------------- */
/* Names                                                                     */
/* ------------------------------------------------------------------------- */

hs_status hs_gbrt_hessian_parse(hs_gbrt_hessian *out, const char *name)
{
    static const struct { const char *name; hs_gbrt_hessian h; } names[] = {
        {"ones", HS_GBRT_HESS_ONES}, {"gn", HS_GBRT_HESS_GN}, {"const", HS_GBRT_HESS_CONST}};
    for (size_t i = 0; name && i < sizeof names / sizeof *names; i++)
        if (!strcmp(name, names[i].name)) {
            *out = names[i].h;
            return HS_OK;
        }
    return hs_fail(HS_ERR_ARG, "hessian '%s' is not ones, gn or const", name ? name : "(null)");
}

const char *hs_gbrt_hessian_name(hs_gbrt_hessian h)
{
    switch (h) {
    case HS_GBRT_HESS_ONES: return "ones";
    case HS_GBRT_HESS_GN: return "gn";
    case HS_GBRT_HESS_CONST: return "const";
    }
    return "?";
}

hs_status hs_gbrt_config_parse(hs_gbrt_config *out, int *hessian_given, const char *name,
                               hs_gbrt_hessian default_hessian)
{
    if (!out || !name)
        return hs_fail(HS_ERR_NULL, "hs_gbrt_config_parse: NULL argument");
    const char *colon = strchr(name, ':');
    size_t len = colon ? (size_t)(colon - name) : strlen(name);
    hs_gbrt_config c = {HS_GBRT_HYPERSIMPLEX, default_hessian};
    if (!colon && !strcmp(name, "logistic")) {
        c.loss = HS_GBRT_LOGISTIC;
    } else if ((len == 12 && !strncmp(name, "hypersimplex", 12)) ||
               (len == 2 && !strncmp(name, "hs", 2))) {
        if (colon && hs_gbrt_hessian_parse(&c.hessian, colon + 1))
            return HS_ERR_ARG;
    } else {
        return hs_fail(HS_ERR_ARG, "'%s' is not logistic or hypersimplex[:ones|gn|const]", name);
    }
    *out = c;
    if (hessian_given)
        *hessian_given = colon != NULL;
    return HS_OK;
}

void hs_gbrt_config_name(char name[HS_GBRT_CONFIG_NAME_MAX], const hs_gbrt_config *c)
{
    if (c->loss == HS_GBRT_LOGISTIC)
        snprintf(name, HS_GBRT_CONFIG_NAME_MAX, "logistic");
    else
        snprintf(name, HS_GBRT_CONFIG_NAME_MAX, "hypersimplex:%s", hs_gbrt_hessian_name(c->hessian));
}

/* ------------------------------------------------------------------------- */
/* The runs table                                                            */
/* ------------------------------------------------------------------------- */

void hs_gbrt_runs_free(hs_gbrt_runs *runs)
{
    if (!runs)
        return;
    for (size_t i = 0; i < runs->n; i++)
        free(runs->rows[i].table);
    free(runs->rows);
    runs->rows = NULL;
    runs->n = 0;
}

/* Appends *run (its table string is taken over, also on failure). */
static hs_status runs_append(hs_gbrt_runs *runs, hs_gbrt_run *run)
{
    hs_gbrt_run *grown = realloc(runs->rows, (runs->n + 1) * sizeof *grown);
    if (!grown) {
        free(run->table);
        return hs_fail(HS_ERR_NOMEM, "out of memory for %zu runs", runs->n + 1);
    }
    runs->rows = grown;
    runs->rows[runs->n++] = *run;
    return HS_OK;
}

double hs_gbrt_run_auc(const hs_gbrt_run *run)
{
    return isnan(run->test_auc) ? run->result.valid_auc : run->test_auc;
}

/* ------------------------------------------------------------------------- */
/* The protocol                                                              */
/* ------------------------------------------------------------------------- */

static const char *protocol_check(const hs_gbrt_protocol *p, const hs_table *valid)
{
    const char *bad = hs_gbrt_params_check(&p->params);
    if (bad)
        return bad;
    if (!p->configs || p->n_configs == 0)
        return "no configurations";
    if (p->repeats == 0)
        return "repeats must be >= 1";
    if (p->seed > (uint64_t)INT64_MAX - p->repeats)
        return "seeds must be < 2^63";
    if (!(p->test_fraction == 0 || (p->test_fraction > 0 && p->test_fraction < 1)))
        return "test_fraction must be 0 or in (0, 1)";
    if (!valid && !(p->valid_fraction > 0 && p->valid_fraction < 1))
        return "valid_fraction must be in (0, 1)";
    if (!p->table)
        return "the table has no name";
    return NULL;
}

/* The sets of one seed: train and valid point at the data, the fixed validation table or the
 * split tables held here. */
typedef struct seed_sets {
    hs_table rest, test, tr, va;
    const hs_table *train, *valid;
} seed_sets;

static void seed_sets_free(seed_sets *s)
{
    hs_table_free(&s->rest);
    hs_table_free(&s->test);
    hs_table_free(&s->tr);
    hs_table_free(&s->va);
}

/* Re-raises the current failure with a prefix saying which step failed. */
static hs_status fail_in(hs_status st, const char *step, uint64_t seed)
{
    char msg[400];
    snprintf(msg, sizeof msg, "%s", hs_last_error());
    return hs_fail(st, "seed %" PRIu64 ", %s: %s", seed, step, msg);
}

/* Steps 1 and 2: the test split, then the validation split of the rest. */
static hs_status split_for_seed(seed_sets *s, const hs_table *data, const hs_table *valid,
                                const hs_gbrt_protocol *p, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    const hs_table *pool = data;
    hs_status st;
    if (p->test_fraction > 0) {
        if ((st = hs_table_split(&s->rest, &s->test, data, p->test_fraction, seed ^ TEST_STREAM)))
            return fail_in(st, "splitting off the test set", seed);
        pool = &s->rest;
    }
    s->train = pool;
    s->valid = valid;
    if (!valid) {
        if ((st = hs_table_split(&s->tr, &s->va, pool, p->valid_fraction, seed)))
            return fail_in(st, "splitting the table", seed);
        s->train = &s->tr;
        s->valid = &s->va;
    }
    return HS_OK;
}

/* Step 4: test-set AUC and accuracy of a kept model. */
static hs_status evaluate(double *auc, double *acc, const hs_gbrt_model *m, const hs_table *t)
{
    float *buf = malloc(t->rows * sizeof *buf);
    if (!buf)
        return hs_fail(HS_ERR_NOMEM, "out of memory for %zu predictions", t->rows);
    hs_status st = hs_gbrt_predict_margin(buf, m, t);
    if (!st)
        st = hs_auc(auc, buf, t->labels, t->rows);
    if (!st)
        st = hs_gbrt_predict_label(buf, m, t);
    if (!st) {
        size_t ok = 0;
        for (size_t i = 0; i < t->rows; i++)
            ok += buf[i] == t->labels[i];
        *acc = (double)ok / (double)t->rows;
    }
    free(buf);
    return st;
}

/* Step 3 and 4 for one configuration: trains, evaluates, hands the run to the hooks and
 * appends it. */
static hs_status run_config(hs_gbrt_runs *out, const seed_sets *s, size_t data_rows,
                            const hs_gbrt_protocol *p, const hs_gbrt_config *cfg, uint64_t seed,
                            const hs_gbrt_hooks *hooks)
{
    hs_gbrt_params prm = p->params;
    prm.loss = cfg->loss;
    prm.hessian = cfg->hessian;
    prm.seed = seed;
    hs_gbrt_run run;
    memset(&run, 0, sizeof run);
    run.rows = data_rows;
    hs_gbrt_config_name(run.config, cfg);
    run.tau = prm.tau;
    run.seed = seed;
    run.test_auc = run.test_acc = NAN;
    if (hooks && hooks->start)
        hooks->start(&run, prm.rounds, hooks->user);
    hs_gbrt_model *model = NULL;
    hs_status st = hs_gbrt_train(&model, &run.result, s->train, s->valid, &prm,
                                 hooks ? hooks->round : NULL, hooks ? hooks->user : NULL);
    if (st)
        return fail_in(st, "training", seed);
    if (s->test.rows && (st = evaluate(&run.test_auc, &run.test_acc, model, &s->test)))
        st = fail_in(st, "evaluating the test set", seed);
    if (!st && !(run.table = strdup(p->table)))
        st = hs_fail(HS_ERR_NOMEM, "out of memory");
    if (!st && hooks && hooks->done)
        st = hooks->done(&run, model, hooks->user);
    hs_gbrt_free(model);
    if (st) {
        free(run.table);
        return st;
    }
    return runs_append(out, &run);
}

hs_status hs_gbrt_compare(hs_gbrt_runs *out, const hs_table *data, const hs_table *valid,
                          const hs_gbrt_protocol *protocol, const hs_gbrt_hooks *hooks)
{
    if (!out || !data || !protocol)
        return hs_fail(HS_ERR_NULL, "hs_gbrt_compare: NULL argument");
    const char *bad = protocol_check(protocol, valid);
    if (bad)
        return hs_fail(HS_ERR_ARG, "gbrt comparison: %s", bad);
    hs_status st = HS_OK;
    for (size_t r = 0; r < protocol->repeats && !st; r++) {
        uint64_t seed = protocol->seed + r;
        seed_sets sets;
        st = split_for_seed(&sets, data, valid, protocol, seed);
        for (size_t c = 0; c < protocol->n_configs && !st; c++)
            st = run_config(out, &sets, data->rows, protocol, &protocol->configs[c], seed, hooks);
        seed_sets_free(&sets);
    }
    return st;
}

/* ------------------------------------------------------------------------- */
/* Summaries                                                                 */
/* ------------------------------------------------------------------------- */

static void mean_sd(const double *x, size_t n, double *mean, double *sd)
{
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++)
        m += x[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++)
        s += (x[i] - m) * (x[i] - m);
    *mean = m;
    *sd = n > 1 ? sqrt(s / (double)(n - 1)) : NAN;
}

/* Whether run r belongs to the group (table, tau) of sm. Taus compare exactly: the runs CSV
 * keeps them with %.17g, so a tau read back is the tau written. */
static int in_group(const hs_gbrt_run *r, const hs_gbrt_summary *sm)
{
    return !strcmp(r->table, sm->table) && r->tau == sm->tau;
}

/* The rows of (table, tau, config) in file order: their AUCs, seeds and the means of the
 * rest. */
static hs_status collect(hs_gbrt_summary *sm, double *auc, uint64_t *seed,
                         const hs_gbrt_runs *runs)
{
    size_t n = 0;
    double acc = 0, best = 0, train = 0;
    for (size_t i = 0; i < runs->n; i++) {
        const hs_gbrt_run *r = &runs->rows[i];
        if (!in_group(r, sm) || strcmp(r->config, sm->config))
            continue;
        if (r->rows != sm->rows)
            return hs_fail(HS_ERR_ARG, "table %s: runs disagree on its rows (%zu, %zu)",
                           sm->table, sm->rows, r->rows);
        auc[n] = hs_gbrt_run_auc(r);
        seed[n] = r->seed;
        acc += isnan(r->test_acc) ? r->result.valid_acc : r->test_acc;
        best += r->result.best_round;
        train += r->result.train_auc;
        n++;
    }
    sm->n = n;
    mean_sd(auc, n, &sm->auc_mean, &sm->auc_sd);
    sm->acc_mean = acc / (double)n;
    sm->best_round_mean = best / (double)n;
    sm->train_auc_mean = train / (double)n;
    return HS_OK;
}

/* The paired t-test of sm against its table's baseline b (the study layer's). */
static hs_status compare_to_baseline(hs_gbrt_summary *sm, const double *auc, const uint64_t *seed,
                                     const double *b_auc, const uint64_t *b_seed, size_t b_n)
{
    sm->mean_diff = sm->sd_diff = sm->t = sm->df = sm->p = NAN;
    sm->t_status = HS_ERR_ARG;
    if (sm->is_baseline) {
        snprintf(sm->t_message, sizeof sm->t_message, "the baseline");
        return HS_OK;
    }
    if (sm->n != b_n || memcmp(seed, b_seed, b_n * sizeof *seed))
        return hs_fail(HS_ERR_ARG, "table %s, tau %g: %s does not have the seeds of the "
                       "baseline", sm->table, sm->tau, sm->config);
    hs_ttest tt;
    sm->t_status = hs_paired_ttest(&tt, auc, b_auc, sm->n);
    if (sm->t_status)
        snprintf(sm->t_message, sizeof sm->t_message, "%s", hs_last_error());
    sm->mean_diff = tt.mean_diff;
    sm->sd_diff = tt.sd_diff;
    sm->t = tt.t;
    sm->df = tt.df;
    sm->p = tt.p;
    return HS_OK;
}

/* Appends the configurations of the group (table, tau) of run i to sum, in the order of
 * their first row (the first is the baseline). */
static void list_group(hs_gbrt_summary *sum, size_t *n, const hs_gbrt_runs *runs, size_t i)
{
    size_t first = *n, j;
    hs_gbrt_summary key = {.table = runs->rows[i].table, .tau = runs->rows[i].tau};
    for (size_t r = i; r < runs->n; r++) {
        const hs_gbrt_run *run = &runs->rows[r];
        if (!in_group(run, &key))
            continue;
        for (j = first; j < *n && strcmp(sum[j].config, run->config); j++)
            ;
        if (j < *n)
            continue;
        hs_gbrt_summary *sm = &sum[(*n)++];
        memset(sm, 0, sizeof *sm);
        sm->table = run->table;
        sm->rows = run->rows;
        sm->tau = run->tau;
        sm->config = run->config;
        sm->is_baseline = j == first;
    }
}

/* The (table, tau, config) triples: tables in the order of their first row, within a table
 * its taus in the order of their first row, then list_group's order. */
static void list_pairs(hs_gbrt_summary *sum, size_t *n, const hs_gbrt_runs *runs)
{
    *n = 0;
    for (size_t i = 0; i < runs->n; i++) {
        const char *table = runs->rows[i].table;
        size_t j;
        for (j = 0; j < *n && strcmp(sum[j].table, table); j++)
            ;
        if (j < *n)
            continue; /* a table seen before */
        for (size_t r = i; r < runs->n; r++) {
            const hs_gbrt_run *run = &runs->rows[r];
            if (strcmp(run->table, table))
                continue;
            for (j = 0; j < *n && !in_group(run, &sum[j]); j++)
                ;
            if (j == *n)
                list_group(sum, n, runs, r); /* a new tau of this table */
        }
    }
}

hs_status hs_gbrt_summarize(hs_gbrt_summary **out, size_t *n_out, const hs_gbrt_runs *runs)
{
    if (!out || !n_out || !runs)
        return hs_fail(HS_ERR_NULL, "hs_gbrt_summarize: NULL argument");
    *out = NULL;
    *n_out = 0;
    if (runs->n == 0)
        return hs_fail(HS_ERR_ARG, "the runs table has no runs");
    hs_gbrt_summary *sum = calloc(runs->n, sizeof *sum);
    double *auc = malloc(2 * runs->n * sizeof *auc);
    uint64_t *seed = malloc(2 * runs->n * sizeof *seed);
    hs_status st = HS_OK;
    size_t n = 0;
    if (!sum || !auc || !seed)
        st = hs_fail(HS_ERR_NOMEM, "out of memory for %zu runs", runs->n);
    if (!st)
        list_pairs(sum, &n, runs);
    double *b_auc = auc + runs->n;
    uint64_t *b_seed = seed + runs->n;
    size_t b_n = 0;
    for (size_t i = 0; i < n && !st; i++) {
        if (sum[i].is_baseline) {
            if ((st = collect(&sum[i], b_auc, b_seed, runs)))
                break;
            b_n = sum[i].n;
            st = compare_to_baseline(&sum[i], b_auc, b_seed, b_auc, b_seed, b_n);
        } else if (!(st = collect(&sum[i], auc, seed, runs))) {
            st = compare_to_baseline(&sum[i], auc, seed, b_auc, b_seed, b_n);
        }
    }
    free(auc);
    free(seed);
    if (st) {
        free(sum);
        return st;
    }
    *out = sum;
    *n_out = n;
    return HS_OK;
}

/* ------------------------------------------------------------------------- */
/* The runs CSV                                                              */
/* ------------------------------------------------------------------------- */

static const char *const columns[] = {
    "table", "rows", "loss", "tau", "seed", "rounds", "best_round", "valid_auc", "valid_acc",
    "valid_auc_xgb", "test_auc", "test_acc", "train_auc", "theta", "t_objective", "t_boost",
    "t_total"};
enum { N_COLUMNS = sizeof columns / sizeof *columns };

hs_status hs_gbrt_runs_write(const hs_gbrt_runs *runs, FILE *f, const char *name)
{
    if (!runs || !f || !name)
        return hs_fail(HS_ERR_NULL, "hs_gbrt_runs_write: NULL argument");
    for (size_t c = 0; c < N_COLUMNS; c++)
        fprintf(f, "%s%c", columns[c], c + 1 < N_COLUMNS ? ',' : '\n');
    for (size_t i = 0; i < runs->n; i++) {
        const hs_gbrt_run *r = &runs->rows[i];
        const hs_gbrt_result *s = &r->result;
        fprintf(f, "%s,%zu,%s,%.17g,%" PRIu64 ",%d,%d,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,"
                   "%.17g,%.17g,%.17g\n",
                r->table, r->rows, r->config, r->tau, r->seed, s->rounds_done, s->best_round,
                s->valid_auc, s->valid_acc, s->valid_auc_xgb, r->test_auc, r->test_acc,
                s->train_auc, s->theta, s->t_objective, s->t_boost, s->t_total);
    }
    if (ferror(f))
        return hs_fail(HS_ERR_IO, "cannot write %s", name);
    return HS_OK;
}

/* One data line of the runs CSV into *r; col[c] is the field index of columns[c]. */
static hs_status parse_run(hs_gbrt_run *r, char **field, const long *col, const char *path,
                           size_t line)
{
    memset(r, 0, sizeof *r);
    const char *cfg = field[col[2]];
    hs_gbrt_config parsed;
    if (strlen(cfg) >= HS_GBRT_CONFIG_NAME_MAX ||
        hs_gbrt_config_parse(&parsed, NULL, cfg, HS_GBRT_HESS_ONES))
        return hs_fail(HS_ERR_FORMAT, "%s:%zu: loss '%s' is not a gbrt configuration", path,
                       line, cfg);
    snprintf(r->config, sizeof r->config, "%s", cfg);
    long rows, seed, rounds, best;
    if (!*field[col[0]])
        return hs_fail(HS_ERR_FORMAT, "%s:%zu: empty table name", path, line);
    if (hs_parse_long_str(field[col[1]], &rows) || rows < 1 ||
        hs_parse_long_str(field[col[4]], &seed) || seed < 0 ||
        hs_parse_long_str(field[col[5]], &rounds) || rounds < 0 ||
        hs_parse_long_str(field[col[6]], &best) || best < 0 || best > rounds)
        return hs_fail(HS_ERR_FORMAT, "%s:%zu: rows, seed, rounds or best_round is not a "
                       "valid count", path, line);
    r->rows = (size_t)rows;
    r->seed = (uint64_t)seed;
    r->result.rounds_done = (int)rounds;
    r->result.best_round = (int)best;
    double *real[] = {&r->tau, &r->result.valid_auc, &r->result.valid_acc,
                      &r->result.valid_auc_xgb, &r->test_auc, &r->test_acc,
                      &r->result.train_auc, &r->result.theta, &r->result.t_objective,
                      &r->result.t_boost, &r->result.t_total};
    static const int real_col[] = {3, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    for (size_t k = 0; k < sizeof real_col / sizeof *real_col; k++)
        if (hs_parse_optional_double(field[col[real_col[k]]], real[k]))
            return hs_fail(HS_ERR_FORMAT, "%s:%zu: %s '%s' is not a number", path, line,
                           columns[real_col[k]], field[col[real_col[k]]]);
    if (!(r->tau > 0))
        return hs_fail(HS_ERR_FORMAT, "%s:%zu: tau must be > 0", path, line);
    if (isnan(hs_gbrt_run_auc(r)))
        return hs_fail(HS_ERR_FORMAT, "%s:%zu: neither a test nor a validation AUC", path, line);
    if (!(r->table = strdup(field[col[0]])))
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    return HS_OK;
}

/* Largest runs CSV read: one line per run, far below this. */
#define RUNS_MAX_BYTES ((size_t)1 << 28)

hs_status hs_gbrt_runs_read(hs_gbrt_runs *out, const char *path)
{
    if (!out || !path)
        return hs_fail(HS_ERR_NULL, "hs_gbrt_runs_read: NULL argument");
    char *text;
    size_t len, lineno = 0;
    hs_status st = hs_read_text_file(&text, &len, path, RUNS_MAX_BYTES);
    if (st)
        return st;
    char *cursor = text, *end = text + len;
    char *head = hs_next_line(&cursor, end, &lineno);
    char *names[N_COLUMNS + 8];
    size_t nf = head ? hs_split_fields(head, names, N_COLUMNS + 8) : 0;
    long col[N_COLUMNS];
    if (!head || nf > N_COLUMNS + 8)
        st = hs_fail(HS_ERR_FORMAT, "%s:1: no header or too many columns", path);
    for (size_t c = 0; c < N_COLUMNS && !st; c++)
        if ((col[c] = hs_find_column(names, nf, columns[c])) < 0)
            st = hs_fail(HS_ERR_FORMAT, "%s:1: no column '%s'", path, columns[c]);
    size_t first = out->n;
    char *line;
    while (!st && (line = hs_next_line(&cursor, end, &lineno))) {
        if (!*line)
            continue;
        char *field[N_COLUMNS + 8];
        size_t got = hs_split_fields(line, field, N_COLUMNS + 8);
        if (got != nf) {
            st = hs_fail(HS_ERR_FORMAT, "%s:%zu: %zu fields, the header has %zu", path, lineno,
                         got, nf);
            break;
        }
        hs_gbrt_run run;
        if ((st = parse_run(&run, field, col, path, lineno)))
            break;
        st = runs_append(out, &run);
    }
    if (!st && out->n == first)
        st = hs_fail(HS_ERR_FORMAT, "%s: no runs", path);
    if (st) { /* nothing of this file stays */
        for (size_t i = first; i < out->n; i++)
            free(out->rows[i].table);
        out->n = first;
    }
    free(text);
    return st;
}

/* ------------------------------------------------------------------------- */
/* Markdown                                                                  */
/* ------------------------------------------------------------------------- */

/* The column labels of a configuration: long ("HS, hessian gn"), short ("HS gn") and tiny
 * ("gn"). */
static void labels(const char *config, char *lng, char *shrt, char *tiny, size_t n)
{
    const char *colon = strchr(config, ':');
    if (!colon || strncmp(config, "hypersimplex", 12)) {
        snprintf(lng, n, "%s", config);
        snprintf(shrt, n, "%s", config);
        snprintf(tiny, n, "%s", config);
        return;
    }
    snprintf(lng, n, "HS, hessian %s%s", colon + 1,
             !strcmp(colon + 1, "ones") ? " (authors)" : "");
    snprintf(shrt, n, "HS %s", colon + 1);
    snprintf(tiny, n, "%s", colon + 1);
}

/* Every group has the first group's configurations, in order, and its seed count. */
static hs_status check_uniform(const hs_gbrt_summary *sum, size_t n, size_t *per_group)
{
    size_t k = 1;
    while (k < n && !sum[k].is_baseline)
        k++;
    if (n % k)
        return hs_fail(HS_ERR_ARG, "the tables of the runs have different configurations");
    for (size_t i = 0; i < n; i++)
        if (strcmp(sum[i].config, sum[i % k].config) || sum[i].n != sum[0].n)
            return hs_fail(HS_ERR_ARG, "table %s, tau %g: its configurations or seeds differ "
                           "from those of table %s, tau %g", sum[i].table, sum[i].tau,
                           sum[0].table, sum[0].tau);
    *per_group = k;
    return HS_OK;
}

/* How the tables of a report look. */
typedef struct md_layout {
    size_t k;      /* configurations per group */
    int test;      /* the AUCs are test AUCs (else validation AUCs) */
    int show_tau;  /* the runs hold more than one tau: a column tau */
    int train_auc; /* the second table has the mean training AUC */
} md_layout;

static void auc_table(FILE *f, const hs_gbrt_summary *sum, size_t n, const md_layout *lay)
{
    char lng[64], shrt[64], tiny[64];
    size_t k = lay->k;
    /* The difference: "HS - baseline" when every other configuration is HyperSimplex and the
     * baseline is not, else the other configuration's name if there is one, else a word. */
    int all_hs = strncmp(sum[0].config, "hypersimplex", 12) != 0;
    for (size_t c = 1; c < k; c++)
        all_hs &= !strncmp(sum[c].config, "hypersimplex", 12);
    const char *minus = all_hs ? "HS" : k == 2 ? sum[1].config : "configuration";
    fprintf(f, "## %s AUC (mean +- sd over %zu seeds) and paired t-test against %s\n\n",
            lay->test ? "Test" : "Validation", sum[0].n, sum[0].config);
    fprintf(f, "| table | rows |%s", lay->show_tau ? " tau |" : "");
    for (size_t c = 0; c < k; c++) {
        labels(sum[c].config, lng, shrt, tiny, sizeof lng);
        fprintf(f, " %s |", lng);
    }
    fprintf(f, "\n|---|---|%s", lay->show_tau ? "---|" : "");
    for (size_t c = 0; c < k; c++)
        fprintf(f, "---|");
    fprintf(f, "\n");
    for (size_t i = 0; i < n; i += k) {
        fprintf(f, "| %s | %zu |", sum[i].table, sum[i].rows);
        if (lay->show_tau)
            fprintf(f, " %g |", sum[i].tau);
        for (size_t c = 0; c < k; c++) {
            const hs_gbrt_summary *s = &sum[i + c];
            fprintf(f, " %.4f +- %.4f", s->auc_mean, s->auc_sd);
            if (!s->is_baseline && s->t_status == HS_OK)
                fprintf(f, " (%+.4f, t = %.3f, p = %.4g)", s->mean_diff, s->t, s->p);
            else if (!s->is_baseline)
                fprintf(f, " (%+.4f, t undefined)", s->mean_diff);
            fprintf(f, " |");
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\nIn parentheses: mean paired difference %s - %s, t statistic (df = %zu), "
               "two-sided p.\n", minus, sum[0].config,
            sum[0].n - 1);
}

/* " (a / b / c)": the configurations' tiny labels. */
static void tiny_list(FILE *f, const hs_gbrt_summary *sum, size_t k)
{
    char lng[64], shrt[64], tiny[64];
    fprintf(f, " (");
    for (size_t c = 0; c < k; c++) {
        labels(sum[c].config, lng, shrt, tiny, sizeof lng);
        fprintf(f, "%s%s", c ? " / " : "", tiny);
    }
    fprintf(f, ")");
}

static void acc_table(FILE *f, const hs_gbrt_summary *sum, size_t n, const md_layout *lay)
{
    char lng[64], shrt[64], tiny[64];
    size_t k = lay->k;
    fprintf(f, "## %s accuracy (mean over seeds)%s\n\n", lay->test ? "Test" : "Validation",
            lay->train_auc ? ", rounds kept and training AUC" : " and rounds kept");
    fprintf(f, "Decision rules: logistic margin >= 0; HyperSimplex p = clip(margin / tau - theta) "
               ">= 1/2\nwith the training projection's theta.");
    if (lay->train_auc)
        fprintf(f, " Training AUC: of the kept model on its training\nset, mean over seeds.");
    fprintf(f, "\n\n| table |%s", lay->show_tau ? " tau |" : "");
    for (size_t c = 0; c < k; c++) {
        labels(sum[c].config, lng, shrt, tiny, sizeof lng);
        fprintf(f, " %s acc |", shrt);
    }
    fprintf(f, " best rounds");
    tiny_list(f, sum, k);
    fprintf(f, " |");
    if (lay->train_auc) {
        fprintf(f, " train AUC");
        tiny_list(f, sum, k);
        fprintf(f, " |");
    }
    fprintf(f, "\n|---|%s", lay->show_tau ? "---|" : "");
    for (size_t c = 0; c <= k + (lay->train_auc ? 1 : 0); c++)
        fprintf(f, "---|");
    fprintf(f, "\n");
    for (size_t i = 0; i < n; i += k) {
        fprintf(f, "| %s |", sum[i].table);
        if (lay->show_tau)
            fprintf(f, " %g |", sum[i].tau);
        for (size_t c = 0; c < k; c++)
            fprintf(f, " %.4f |", sum[i + c].acc_mean);
        for (size_t c = 0; c < k; c++)
            fprintf(f, "%s%.0f", c ? " / " : " ", sum[i + c].best_round_mean);
        fprintf(f, " |");
        if (lay->train_auc) {
            for (size_t c = 0; c < k; c++)
                fprintf(f, "%s%.4f", c ? " / " : " ", sum[i + c].train_auc_mean);
            fprintf(f, " |");
        }
        fprintf(f, "\n");
    }
}

hs_status hs_gbrt_markdown(char **md, const hs_gbrt_runs *runs)
{
    return hs_gbrt_markdown_opts(md, runs, NULL);
}

hs_status hs_gbrt_markdown_opts(char **md, const hs_gbrt_runs *runs,
                                const hs_gbrt_report_options *options)
{
    if (!md || !runs)
        return hs_fail(HS_ERR_NULL, "hs_gbrt_markdown: NULL argument");
    *md = NULL;
    hs_gbrt_summary *sum;
    size_t n;
    md_layout lay = {0};
    hs_status st = hs_gbrt_summarize(&sum, &n, runs);
    if (st)
        return st;
    if ((st = check_uniform(sum, n, &lay.k))) {
        free(sum);
        return st;
    }
    lay.test = 1;
    for (size_t i = 0; i < runs->n; i++) {
        lay.test &= !isnan(runs->rows[i].test_auc);
        lay.show_tau |= runs->rows[i].tau != runs->rows[0].tau;
    }
    lay.train_auc = options && options->train_auc;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        free(sum);
        return hs_fail(HS_ERR_NOMEM, "out of memory for the report");
    }
    auc_table(f, sum, n, &lay);
    fprintf(f, "\n");
    acc_table(f, sum, n, &lay);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    free(sum);
    if (bad) {
        free(text);
        return hs_fail(HS_ERR_NOMEM, "out of memory for the report");
    }
    *md = text;
    return HS_OK;
}
