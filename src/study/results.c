/* Results tables: strict CSV reading (with line numbers), writing, and the metrics.csv of
 * one training run. */
#define _POSIX_C_SOURCE 200809L
#include "hypersimplex/study.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/csvtext.h"
#include "util/atomic_file.h"
#include "util/error.h"

enum { COL_DATASET, COL_LOSS, COL_BATCH, COL_SEED, COL_EPOCH, COL_TEST, COL_VAL, COL_TRAIN_LOSS,
       COL_SECONDS, COL_VARIANT, COL_VAL_THR, COL_TEST_THR, N_COLS };
static const char *const col_names[N_COLS] = {"dataset", "loss", "batch_size", "seed", "epoch",
                                              "test_accuracy", "val_accuracy", "train_loss",
                                              "seconds", "variant", "val_accuracy_threshold",
                                              "test_accuracy_threshold"};
#define N_REQUIRED 6 /* the first six columns */
#define MAX_FIELDS 64

typedef struct row {
    long epoch;
    double test, val, train_loss, seconds, val_thr, test_thr;
    size_t line;
} row;

typedef struct pending {
    char *dataset, *variant, *loss;
    long batch, seed;
    size_t line;
    row *rows;
    size_t n, cap;
    uint64_t hash;
} pending;

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void hs_run_curve_free(hs_run_curve *run)
{
    if (!run)
        return;
    free(run->dataset);
    free(run->variant);
    free(run->loss);
    free(run->test_accuracy);
    free(run->val_accuracy);
    free(run->train_loss);
    free(run->seconds);
    free(run->test_accuracy_threshold);
    free(run->val_accuracy_threshold);
    memset(run, 0, sizeof *run);
}

void hs_results_free(hs_results *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_runs; i++)
        hs_run_curve_free(&r->runs[i]);
    free(r->runs);
    memset(r, 0, sizeof *r);
}

static int run_cmp(const hs_run_curve *a, const hs_run_curve *b)
{
    int c = strcmp(a->dataset, b->dataset);
    if (c)
        return c;
    c = strcmp(a->variant, b->variant);
    if (c)
        return c;
    c = strcmp(a->loss, b->loss);
    if (c)
        return c;
    if (a->batch_size != b->batch_size)
        return a->batch_size < b->batch_size ? -1 : 1;
    if (a->seed != b->seed)
        return a->seed < b->seed ? -1 : 1;
    return 0;
}

static int run_cmp_q(const void *a, const void *b)
{
    return run_cmp(a, b);
}

/* Room for n runs. Exactly n: a table holds at most thousands of runs, and adding one
 * already moves the runs after it to keep the order. */
static hs_status reserve_runs(hs_results *r, size_t n)
{
    if (n <= r->n_runs)
        return HS_OK;
    hs_run_curve *runs = realloc(r->runs, n * sizeof *runs);
    if (!runs)
        return hs_fail(HS_ERR_NOMEM, "out of memory growing a results table");
    r->runs = runs;
    return HS_OK;
}

hs_status hs_results_add(hs_results *r, hs_run_curve *run)
{
    if (!r || !run || !run->dataset || !run->loss || !run->variant)
        return hs_fail(HS_ERR_NULL, "hs_results_add: NULL results or run identity");
    size_t lo = 0, hi = r->n_runs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = run_cmp(&r->runs[mid], run);
        if (c == 0)
            return hs_fail(HS_ERR_ARG, "run %s/%s%s%s b%ld s%ld is already in the table", run->dataset,
                           run->loss, *run->variant ? "/" : "", run->variant, run->batch_size, run->seed);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    hs_status s = reserve_runs(r, r->n_runs + 1);
    if (s)
        return s;
    memmove(&r->runs[lo + 1], &r->runs[lo], (r->n_runs - lo) * sizeof *r->runs);
    r->runs[lo] = *run;
    r->n_runs++;
    memset(run, 0, sizeof *run);
    return HS_OK;
}

hs_status hs_results_truncate(hs_results *r, size_t epochs)
{
    if (!r)
        return hs_fail(HS_ERR_NULL, "hs_results_truncate: NULL results");
    if (epochs == 0)
        return hs_fail(HS_ERR_ARG, "cannot keep 0 epochs of a run");
    for (size_t i = 0; i < r->n_runs; i++)
        if (r->runs[i].epochs > epochs)
            r->runs[i].epochs = epochs;
    return HS_OK;
}

/* ---- parsing ---- */

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t key_hash(const char *dataset, const char *variant, const char *loss, long batch, long seed)
{
    uint64_t h = 14695981039346656037ULL;
    h = fnv(h, dataset, strlen(dataset) + 1);
    h = fnv(h, variant, strlen(variant) + 1);
    h = fnv(h, loss, strlen(loss) + 1);
    h = fnv(h, &batch, sizeof batch);
    h = fnv(h, &seed, sizeof seed);
    return h;
}

typedef struct run_map {
    pending *runs;
    size_t n, cap;
    size_t *slots; /* index + 1, 0 = empty */
    size_t n_slots;
} run_map;

static void map_free(run_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->runs[i].dataset);
        free(m->runs[i].variant);
        free(m->runs[i].loss);
        free(m->runs[i].rows);
    }
    free(m->runs);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static int pending_is(const pending *p, uint64_t h, const char *dataset, const char *variant,
                      const char *loss, long batch, long seed)
{
    return p->hash == h && p->batch == batch && p->seed == seed && !strcmp(p->dataset, dataset) &&
           !strcmp(p->variant, variant) && !strcmp(p->loss, loss);
}

static hs_status map_rehash(run_map *m, size_t n_slots)
{
    size_t *slots = calloc(n_slots, sizeof *slots);
    if (!slots)
        return hs_fail(HS_ERR_NOMEM, "out of memory indexing runs");
    for (size_t i = 0; i < m->n; i++) {
        size_t j = (size_t)(m->runs[i].hash & (n_slots - 1));
        while (slots[j])
            j = (j + 1) & (n_slots - 1);
        slots[j] = i + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->n_slots = n_slots;
    return HS_OK;
}

/* Finds or creates the run; *out receives its index. */
static hs_status map_get(run_map *m, size_t *out, const char *dataset, const char *variant,
                         const char *loss, long batch, long seed, size_t line)
{
    uint64_t h = key_hash(dataset, variant, loss, batch, seed);
    if (m->n_slots) {
        size_t j = (size_t)(h & (m->n_slots - 1));
        while (m->slots[j]) {
            if (pending_is(&m->runs[m->slots[j] - 1], h, dataset, variant, loss, batch, seed)) {
                *out = m->slots[j] - 1;
                return HS_OK;
            }
            j = (j + 1) & (m->n_slots - 1);
        }
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        pending *runs = realloc(m->runs, cap * sizeof *runs);
        if (!runs)
            return hs_fail(HS_ERR_NOMEM, "out of memory reading runs");
        m->runs = runs;
        m->cap = cap;
    }
    pending *p = &m->runs[m->n];
    memset(p, 0, sizeof *p);
    p->dataset = xstrdup(dataset);
    p->variant = xstrdup(variant);
    p->loss = xstrdup(loss);
    p->batch = batch;
    p->seed = seed;
    p->line = line;
    p->hash = h;
    m->n++;
    if (!p->dataset || !p->variant || !p->loss)
        return hs_fail(HS_ERR_NOMEM, "out of memory reading runs");
    if (m->n * 2 > m->n_slots) {
        hs_status s = map_rehash(m, m->n_slots ? m->n_slots * 2 : 128);
        if (s)
            return s;
    } else {
        size_t j = (size_t)(h & (m->n_slots - 1));
        while (m->slots[j])
            j = (j + 1) & (m->n_slots - 1);
        m->slots[j] = m->n;
    }
    *out = m->n - 1;
    return HS_OK;
}

static hs_status push_row(pending *p, const row *r)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        row *rows = realloc(p->rows, cap * sizeof *rows);
        if (!rows)
            return hs_fail(HS_ERR_NOMEM, "out of memory reading rows");
        p->rows = rows;
        p->cap = cap;
    }
    p->rows[p->n++] = *r;
    return HS_OK;
}

static int row_cmp(const void *a, const void *b)
{
    const row *x = a, *y = b;
    if (x->epoch != y->epoch)
        return x->epoch < y->epoch ? -1 : 1;
    return x->line < y->line ? -1 : (x->line > y->line);
}

/* An identity field: non-empty (unless allow_empty), no quotes, no surrounding blanks. */
static hs_status check_name(const char *name, size_t line, const char *col, const char *value,
                            int allow_empty)
{
    size_t n = strlen(value);
    if (!n && !allow_empty)
        return hs_fail(HS_ERR_FORMAT, "%s:%zu: column %s is empty", name, line, col);
    if (n && (value[0] == ' ' || value[0] == '\t' || value[n - 1] == ' ' || value[n - 1] == '\t'))
        return hs_fail(HS_ERR_FORMAT, "%s:%zu: column %s ('%s') has surrounding blanks", name, line, col, value);
    for (size_t i = 0; i < n; i++)
        if (value[i] == '"' || (unsigned char)value[i] < 0x20)
            return hs_fail(HS_ERR_FORMAT, "%s:%zu: column %s: quotes and control characters are not supported",
                           name, line, col);
    return HS_OK;
}

static hs_status parse_fraction(double *out, const char *name, size_t line, const char *col,
                                const char *text, int optional)
{
    int bad = optional ? hs_parse_optional_double(text, out) : hs_parse_double_str(text, out);
    if (bad)
        return hs_fail(HS_ERR_FORMAT, "%s:%zu: column %s: '%s' is not a finite number", name, line, col, text);
    if (!isnan(*out) && (*out < 0.0 || *out > 1.0))
        return hs_fail(HS_ERR_FORMAT, "%s:%zu: column %s: %s is not an accuracy in [0, 1]", name, line,
                       col, text);
    return HS_OK;
}

static hs_status parse_rows(run_map *m, char *text, size_t len, const char *name)
{
    char *cursor = text, *end = text + len;
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3))
        cursor += 3; /* a UTF-8 byte order mark, as some spreadsheet programs write */
    size_t lineno = 0;
    char *line = hs_next_line(&cursor, end, &lineno);
    if (!line || !*line)
        return hs_fail(HS_ERR_FORMAT, "%s:1: empty file (expected a header line)", name);
    char *head[MAX_FIELDS];
    size_t n_cols = hs_split_fields(line, head, MAX_FIELDS);
    if (n_cols > MAX_FIELDS)
        return hs_fail(HS_ERR_FORMAT, "%s:1: more than %d columns", name, MAX_FIELDS);
    long idx[N_COLS];
    for (int c = 0; c < N_COLS; c++) {
        idx[c] = hs_find_column(head, n_cols, col_names[c]);
        if (idx[c] >= 0 && hs_find_column(head + idx[c] + 1, n_cols - (size_t)idx[c] - 1, col_names[c]) >= 0)
            return hs_fail(HS_ERR_FORMAT, "%s:1: column %s appears twice", name, col_names[c]);
    }
    for (int c = 0; c < N_REQUIRED; c++)
        if (idx[c] < 0)
            return hs_fail(HS_ERR_FORMAT,
                           "%s:1: missing column %s (required: dataset, loss, batch_size, seed, epoch, "
                           "test_accuracy)", name, col_names[c]);

    size_t last = SIZE_MAX;
    size_t blank_line = 0;
    char *f[MAX_FIELDS];
    while ((line = hs_next_line(&cursor, end, &lineno))) {
        if (!*line) {
            if (!blank_line)
                blank_line = lineno;
            continue;
        }
        if (blank_line)
            return hs_fail(HS_ERR_FORMAT, "%s:%zu: empty line inside the table", name, blank_line);
        size_t nf = hs_split_fields(line, f, MAX_FIELDS);
        if (nf != n_cols)
            return hs_fail(HS_ERR_FORMAT, "%s:%zu: %zu fields, the header has %zu", name, lineno, nf, n_cols);
        const char *dataset = f[idx[COL_DATASET]], *loss = f[idx[COL_LOSS]];
        const char *variant = idx[COL_VARIANT] >= 0 ? f[idx[COL_VARIANT]] : "";
        hs_status s;
        if ((s = check_name(name, lineno, "dataset", dataset, 0)) ||
            (s = check_name(name, lineno, "loss", loss, 0)) ||
            (s = check_name(name, lineno, "variant", variant, 1)))
            return s;
        long batch, seed, epoch;
        if (hs_parse_long_str(f[idx[COL_BATCH]], &batch) || batch < 1)
            return hs_fail(HS_ERR_FORMAT, "%s:%zu: column batch_size: '%s' is not a positive integer", name,
                           lineno, f[idx[COL_BATCH]]);
        if (hs_parse_long_str(f[idx[COL_SEED]], &seed))
            return hs_fail(HS_ERR_FORMAT, "%s:%zu: column seed: '%s' is not an integer", name, lineno,
                           f[idx[COL_SEED]]);
        if (hs_parse_long_str(f[idx[COL_EPOCH]], &epoch) || epoch < 0)
            return hs_fail(HS_ERR_FORMAT, "%s:%zu: column epoch: '%s' is not an integer >= 0", name, lineno,
                           f[idx[COL_EPOCH]]);
        row r = {.epoch = epoch, .val = NAN, .train_loss = NAN, .seconds = NAN, .val_thr = NAN,
                 .test_thr = NAN, .line = lineno};
        if ((s = parse_fraction(&r.test, name, lineno, "test_accuracy", f[idx[COL_TEST]], 0)))
            return s;
        if (idx[COL_VAL] >= 0 && (s = parse_fraction(&r.val, name, lineno, "val_accuracy", f[idx[COL_VAL]], 1)))
            return s;
        if (idx[COL_VAL_THR] >= 0 &&
            (s = parse_fraction(&r.val_thr, name, lineno, "val_accuracy_threshold", f[idx[COL_VAL_THR]], 1)))
            return s;
        if (idx[COL_TEST_THR] >= 0 &&
            (s = parse_fraction(&r.test_thr, name, lineno, "test_accuracy_threshold", f[idx[COL_TEST_THR]], 1)))
            return s;
        if (idx[COL_TRAIN_LOSS] >= 0 && hs_parse_optional_double(f[idx[COL_TRAIN_LOSS]], &r.train_loss))
            return hs_fail(HS_ERR_FORMAT, "%s:%zu: column train_loss: '%s' is not a finite number", name,
                           lineno, f[idx[COL_TRAIN_LOSS]]);
        if (idx[COL_SECONDS] >= 0 &&
            (hs_parse_optional_double(f[idx[COL_SECONDS]], &r.seconds) || r.seconds < 0))
            return hs_fail(HS_ERR_FORMAT, "%s:%zu: column seconds: '%s' is not a number >= 0", name, lineno,
                           f[idx[COL_SECONDS]]);
        size_t ri = 0;
        if (last != SIZE_MAX && pending_is(&m->runs[last], key_hash(dataset, variant, loss, batch, seed), dataset,
                                           variant, loss, batch, seed))
            ri = last;
        else if ((s = map_get(m, &ri, dataset, variant, loss, batch, seed, lineno)))
            return s;
        last = ri;
        if ((s = push_row(&m->runs[ri], &r)))
            return s;
    }
    if (m->n == 0)
        return hs_fail(HS_ERR_FORMAT, "%s: no data rows after the header", name);
    return HS_OK;
}

static void describe(char *buf, size_t n, const pending *p)
{
    snprintf(buf, n, "%s%s%s %s batch %ld seed %ld", p->dataset, *p->variant ? " " : "", p->variant, p->loss,
             p->batch, p->seed);
}

/* Orders each run's rows and checks its epochs are exactly 0 .. E-1. */
static hs_status check_epochs(pending *p, const char *name)
{
    int sorted = 1;
    for (size_t i = 1; i < p->n && sorted; i++)
        if (row_cmp(&p->rows[i - 1], &p->rows[i]) > 0)
            sorted = 0;
    if (!sorted)
        qsort(p->rows, p->n, sizeof *p->rows, row_cmp);
    char who[256];
    for (size_t i = 0; i < p->n; i++) {
        if (i > 0 && p->rows[i].epoch == p->rows[i - 1].epoch) {
            describe(who, sizeof who, p);
            return hs_fail(HS_ERR_FORMAT, "%s:%zu: run %s has epoch %ld twice (also on line %zu)", name,
                           p->rows[i].line, who, p->rows[i].epoch, p->rows[i - 1].line);
        }
        if (p->rows[i].epoch != (long)i) {
            describe(who, sizeof who, p);
            return hs_fail(HS_ERR_FORMAT, "%s:%zu: run %s (first row on line %zu) has no epoch %zu (epochs "
                           "must be 0, 1, ..., E-1)", name, p->rows[i].line, who, p->line, i);
        }
    }
    return HS_OK;
}

static hs_status pending_to_curve(hs_run_curve *c, pending *p)
{
    memset(c, 0, sizeof *c);
    c->dataset = p->dataset;
    c->variant = p->variant;
    c->loss = p->loss;
    p->dataset = p->variant = p->loss = NULL;
    c->batch_size = p->batch;
    c->seed = p->seed;
    c->epochs = p->n;
    c->line = p->line;
    c->test_accuracy = malloc(p->n * sizeof(double));
    c->val_accuracy = malloc(p->n * sizeof(double));
    c->train_loss = malloc(p->n * sizeof(double));
    c->seconds = malloc(p->n * sizeof(double));
    c->test_accuracy_threshold = malloc(p->n * sizeof(double));
    c->val_accuracy_threshold = malloc(p->n * sizeof(double));
    if (!c->test_accuracy || !c->val_accuracy || !c->train_loss || !c->seconds || !c->test_accuracy_threshold ||
        !c->val_accuracy_threshold)
        return hs_fail(HS_ERR_NOMEM, "out of memory building runs");
    for (size_t i = 0; i < p->n; i++) {
        c->test_accuracy[i] = p->rows[i].test;
        c->val_accuracy[i] = p->rows[i].val;
        c->train_loss[i] = p->rows[i].train_loss;
        c->seconds[i] = p->rows[i].seconds;
        c->test_accuracy_threshold[i] = p->rows[i].test_thr;
        c->val_accuracy_threshold[i] = p->rows[i].val_thr;
    }
    return HS_OK;
}

hs_status hs_results_parse(hs_results *out, const char *text, size_t len, const char *name)
{
    if (!out || !text)
        return hs_fail(HS_ERR_NULL, "hs_results_parse: NULL argument");
    memset(out, 0, sizeof *out);
    if (!name)
        name = "<results>";
    char *copy = malloc(len + 1);
    if (!copy)
        return hs_fail(HS_ERR_NOMEM, "out of memory reading %s", name);
    memcpy(copy, text, len);
    copy[len] = '\0';
    run_map m = {0};
    hs_status s = parse_rows(&m, copy, len, name);
    free(copy);
    for (size_t i = 0; !s && i < m.n; i++)
        s = check_epochs(&m.runs[i], name);
    if (!s)
        s = reserve_runs(out, m.n);
    for (size_t i = 0; !s && i < m.n; i++) {
        s = pending_to_curve(&out->runs[i], &m.runs[i]);
        out->n_runs = i + 1;
    }
    map_free(&m);
    if (s) {
        hs_results_free(out);
        return s;
    }
    qsort(out->runs, out->n_runs, sizeof *out->runs, run_cmp_q);
    return HS_OK;
}

hs_status hs_results_read(hs_results *out, const char *path)
{
    if (!out || !path)
        return hs_fail(HS_ERR_NULL, "hs_results_read: NULL argument");
    memset(out, 0, sizeof *out);
    char *text;
    size_t len;
    hs_status s = hs_read_text_file(&text, &len, path);
    if (s)
        return s;
    s = hs_results_parse(out, text, len, path);
    free(text);
    return s;
}

/* ---- writing ---- */

static void put_opt(FILE *f, double v, const char *fmt)
{
    fputc(',', f);
    if (!isnan(v))
        fprintf(f, fmt, v);
}

hs_status hs_results_write(const hs_results *r, const char *path)
{
    if (!r || !path)
        return hs_fail(HS_ERR_NULL, "hs_results_write: NULL argument");
    int any_variant = 0;
    for (size_t i = 0; i < r->n_runs; i++)
        if (*r->runs[i].variant)
            any_variant = 1;
    hs_atomic_file af;
    hs_status s = hs_atomic_open(&af, path);
    if (s)
        return s;
    fprintf(af.f, "dataset,loss,batch_size,seed,epoch,test_accuracy,val_accuracy,train_loss,seconds,"
                  "val_accuracy_threshold,test_accuracy_threshold%s\n", any_variant ? ",variant" : "");
    for (size_t i = 0; i < r->n_runs; i++) {
        const hs_run_curve *c = &r->runs[i];
        for (size_t e = 0; e < c->epochs; e++) {
            fprintf(af.f, "%s,%s,%ld,%ld,%zu,%.6f", c->dataset, c->loss, c->batch_size, c->seed, e,
                    c->test_accuracy[e]);
            put_opt(af.f, c->val_accuracy ? c->val_accuracy[e] : NAN, "%.6f");
            put_opt(af.f, c->train_loss ? c->train_loss[e] : NAN, "%.17g");
            put_opt(af.f, c->seconds ? c->seconds[e] : NAN, "%.17g");
            put_opt(af.f, c->val_accuracy_threshold ? c->val_accuracy_threshold[e] : NAN, "%.6f");
            put_opt(af.f, c->test_accuracy_threshold ? c->test_accuracy_threshold[e] : NAN, "%.6f");
            if (any_variant)
                fprintf(af.f, ",%s", c->variant);
            fputc('\n', af.f);
        }
    }
    return hs_atomic_commit(&af);
}

/* ---- metrics.csv of one training run ---- */

hs_status hs_run_read_metrics(hs_run_curve *run, const char *metrics_path, const char *dataset,
                              const char *variant, const char *loss, long batch_size, long seed)
{
    if (!run || !metrics_path || !dataset || !loss)
        return hs_fail(HS_ERR_NULL, "hs_run_read_metrics: NULL argument");
    memset(run, 0, sizeof *run);
    char *text;
    size_t len;
    hs_status s = hs_read_text_file(&text, &len, metrics_path);
    if (s)
        return s;
    static const char *const need[5] = {"epoch", "train_loss", "val_accuracy", "test_accuracy", "seconds"};
    char *cursor = text, *end = text + len, *line;
    size_t lineno = 0;
    long idx[5], idx_val_thr, idx_test_thr;
    char *f[MAX_FIELDS];
    size_t n_cols = 0, n = 0, cap = 0;
    line = hs_next_line(&cursor, end, &lineno);
    if (!line || !*line) {
        s = hs_fail(HS_ERR_FORMAT, "%s:1: empty file (expected a header line)", metrics_path);
        goto done;
    }
    n_cols = hs_split_fields(line, f, MAX_FIELDS);
    if (n_cols > MAX_FIELDS) {
        s = hs_fail(HS_ERR_FORMAT, "%s:1: too many columns", metrics_path);
        goto done;
    }
    for (int c = 0; c < 5; c++)
        if ((idx[c] = hs_find_column(f, n_cols, need[c])) < 0) {
            s = hs_fail(HS_ERR_FORMAT, "%s:1: missing column %s", metrics_path, need[c]);
            goto done;
        }
    idx_val_thr = hs_find_column(f, n_cols, "val_accuracy_threshold");
    idx_test_thr = hs_find_column(f, n_cols, "test_accuracy_threshold");
    run->dataset = xstrdup(dataset);
    run->variant = xstrdup(variant ? variant : "");
    run->loss = xstrdup(loss);
    run->batch_size = batch_size;
    run->seed = seed;
    if (!run->dataset || !run->variant || !run->loss) {
        s = hs_fail(HS_ERR_NOMEM, "out of memory");
        goto done;
    }
    while ((line = hs_next_line(&cursor, end, &lineno))) {
        if (!*line) {
            if (cursor < end) {
                s = hs_fail(HS_ERR_FORMAT, "%s:%zu: empty line", metrics_path, lineno);
                goto done;
            }
            continue;
        }
        if (hs_split_fields(line, f, MAX_FIELDS) != n_cols) {
            s = hs_fail(HS_ERR_FORMAT, "%s:%zu: field count differs from the header", metrics_path, lineno);
            goto done;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            double *a = realloc(run->test_accuracy, cap * sizeof *a);
            if (a)
                run->test_accuracy = a;
            double *b = realloc(run->val_accuracy, cap * sizeof *b);
            if (b)
                run->val_accuracy = b;
            double *c = realloc(run->train_loss, cap * sizeof *c);
            if (c)
                run->train_loss = c;
            double *d = realloc(run->seconds, cap * sizeof *d);
            if (d)
                run->seconds = d;
            double *g = realloc(run->test_accuracy_threshold, cap * sizeof *g);
            if (g)
                run->test_accuracy_threshold = g;
            double *h = realloc(run->val_accuracy_threshold, cap * sizeof *h);
            if (h)
                run->val_accuracy_threshold = h;
            if (!a || !b || !c || !d || !g || !h) {
                s = hs_fail(HS_ERR_NOMEM, "out of memory reading %s", metrics_path);
                goto done;
            }
        }
        long epoch;
        if (hs_parse_long_str(f[idx[0]], &epoch) || epoch != (long)n) {
            s = hs_fail(HS_ERR_FORMAT, "%s:%zu: epoch '%s', expected %zu", metrics_path, lineno, f[idx[0]], n);
            goto done;
        }
        if ((s = parse_fraction(&run->test_accuracy[n], metrics_path, lineno, "test_accuracy", f[idx[3]], 0)) ||
            (s = parse_fraction(&run->val_accuracy[n], metrics_path, lineno, "val_accuracy", f[idx[2]], 1)))
            goto done;
        run->test_accuracy_threshold[n] = run->val_accuracy_threshold[n] = NAN;
        if ((idx_test_thr >= 0 && (s = parse_fraction(&run->test_accuracy_threshold[n], metrics_path, lineno,
                                                       "test_accuracy_threshold", f[idx_test_thr], 1))) ||
            (idx_val_thr >= 0 && (s = parse_fraction(&run->val_accuracy_threshold[n], metrics_path, lineno,
                                                     "val_accuracy_threshold", f[idx_val_thr], 1))))
            goto done;
        if (hs_parse_optional_double(f[idx[1]], &run->train_loss[n]) ||
            hs_parse_optional_double(f[idx[4]], &run->seconds[n])) {
            s = hs_fail(HS_ERR_FORMAT, "%s:%zu: train_loss or seconds is not a number", metrics_path, lineno);
            goto done;
        }
        n++;
    }
    run->epochs = n;
    if (n == 0)
        s = hs_fail(HS_ERR_FORMAT, "%s: no epochs recorded", metrics_path);
done:
    free(text);
    if (s)
        hs_run_curve_free(run);
    return s;
}

/* ---- prediction rules ---- */

hs_status hs_pred_rule_parse(hs_pred_rule *out, const char *name)
{
    if (!out || !name)
        return hs_fail(HS_ERR_NULL, "hs_pred_rule_parse: NULL argument");
    if (!strcmp(name, "argmax"))
        *out = HS_RULE_ARGMAX;
    else if (!strcmp(name, "threshold"))
        *out = HS_RULE_THRESHOLD;
    else
        return hs_fail(HS_ERR_ARG, "unknown prediction rule '%s' (argmax, threshold)", name);
    return HS_OK;
}

const char *hs_pred_rule_name(hs_pred_rule r)
{
    switch (r) {
    case HS_RULE_ARGMAX: return "argmax";
    case HS_RULE_THRESHOLD: return "threshold";
    }
    return "unknown";
}

/* Number of epochs of the run with a threshold test accuracy. */
static size_t threshold_epochs(const hs_run_curve *c)
{
    size_t n = 0;
    for (size_t e = 0; c->test_accuracy_threshold && e < c->epochs; e++)
        n += isnan(c->test_accuracy_threshold[e]) ? 0u : 1u;
    return n;
}

hs_status hs_results_use_rule(hs_results *r, hs_pred_rule rule, size_t *n_threshold)
{
    if (!r)
        return hs_fail(HS_ERR_NULL, "hs_results_use_rule: NULL results");
    if (rule != HS_RULE_ARGMAX && rule != HS_RULE_THRESHOLD)
        return hs_fail(HS_ERR_ARG, "unknown prediction rule %d", (int)rule);
    size_t n = 0;
    for (size_t i = 0; i < r->n_runs; i++) {
        const hs_run_curve *c = &r->runs[i];
        size_t k = threshold_epochs(c);
        if (k && k != c->epochs && rule == HS_RULE_THRESHOLD)
            return hs_fail(HS_ERR_ARG,
                           "run %s %s batch %ld seed %ld (line %zu) has the threshold rule's test accuracy "
                           "for %zu of its %zu epochs", c->dataset, c->loss, c->batch_size, c->seed, c->line,
                           k, c->epochs);
        n += k ? 1u : 0u;
    }
    if (rule == HS_RULE_THRESHOLD) {
        for (size_t i = 0; i < r->n_runs; i++) {
            hs_run_curve *c = &r->runs[i];
            if (!threshold_epochs(c))
                continue;
            double *t = c->test_accuracy;
            c->test_accuracy = c->test_accuracy_threshold;
            c->test_accuracy_threshold = t;
            t = c->val_accuracy;
            c->val_accuracy = c->val_accuracy_threshold;
            c->val_accuracy_threshold = t;
        }
    }
    if (n_threshold)
        *n_threshold = n;
    return HS_OK;
}
