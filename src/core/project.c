/* Front end of the operator: validation, strided float/double layouts, threads over rows,
 * and dispatch to the row solvers (fast L2, sort+PAV reference, KL, binary entropy). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef HS_HAVE_OPENMP
#include <omp.h>
#endif

#include "core/project_internal.h"
#include "core/project_variants.h"
#include "core/rows.h"
#include "util/error.h"

int hs_core_portable = 0;

void hs_core_force_portable(int on)
{
    hs_core_portable = on != 0;
}

hs_proj hs_proj_make(size_t rows, size_t n, double k, double tau)
{
    hs_proj d = {0};
    d.rows = rows;
    d.n = n;
    d.row_stride = (ptrdiff_t)n;
    d.elem_stride = 1;
    d.k = k;
    d.tau = tau;
    d.reg = HS_REG_L2;
    d.solver = HS_SOLVER_FAST;
    d.threads = 0;
    return d;
}

static const char *const hs_reg_names[] = {"l2", "kl", "entropy"};
static const char *const hs_solver_names[] = {"fast", "pav"};

const char *hs_regularization_name(hs_regularization r)
{
    if ((int)r < 0 || (size_t)r >= sizeof hs_reg_names / sizeof hs_reg_names[0])
        return "unknown";
    return hs_reg_names[r];
}

hs_status hs_regularization_parse(hs_regularization *out, const char *name)
{
    if (!out || !name)
        return hs_fail(HS_ERR_NULL, "hs_regularization_parse: %s is NULL", out ? "name" : "out");
    for (size_t i = 0; i < sizeof hs_reg_names / sizeof hs_reg_names[0]; i++)
        if (!strcmp(name, hs_reg_names[i])) {
            *out = (hs_regularization)i;
            return HS_OK;
        }
    return hs_fail(HS_ERR_ARG, "unknown regularization '%s' (expected l2, kl or entropy)", name);
}

const char *hs_solver_name(hs_solver s)
{
    if ((int)s < 0 || (size_t)s >= sizeof hs_solver_names / sizeof hs_solver_names[0])
        return "unknown";
    return hs_solver_names[s];
}

hs_status hs_solver_parse(hs_solver *out, const char *name)
{
    if (!out || !name)
        return hs_fail(HS_ERR_NULL, "hs_solver_parse: %s is NULL", out ? "name" : "out");
    for (size_t i = 0; i < sizeof hs_solver_names / sizeof hs_solver_names[0]; i++)
        if (!strcmp(name, hs_solver_names[i])) {
            *out = (hs_solver)i;
            return HS_OK;
        }
    if (!strcmp(name, "sort_pav")) {
        *out = HS_SOLVER_SORT_PAV;
        return HS_OK;
    }
    return hs_fail(HS_ERR_ARG, "unknown solver '%s' (expected fast or pav)", name);
}

/* Absolute value of a stride as an unsigned size (strides may be negative). */
static size_t abs_stride(ptrdiff_t s)
{
    return s < 0 ? (size_t)0 - (size_t)s : (size_t)s;
}

/* Layout checks: sizes, overflow of the largest offset, and two distinct (row, element)
 * pairs never sharing memory. */
static const char *check_layout(const hs_proj *d)
{
    if (d->rows == 0)
        return "rows must be >= 1";
    if (d->n == 0)
        return "n must be >= 1 (the hypersimplex of an empty vector is empty)";
    if (d->n > (size_t)PTRDIFF_MAX / sizeof(double) || d->rows > (size_t)PTRDIFF_MAX / sizeof(double))
        return "rows or n is absurdly large";
    size_t es = abs_stride(d->elem_stride), rs = abs_stride(d->row_stride);
    if (es == 0 && d->n > 1)
        return "elem_stride must be non-zero";
    if (rs == 0 && d->rows > 1)
        return "row_stride must be non-zero when rows > 1";
    size_t lim = (size_t)PTRDIFF_MAX / sizeof(double);
    if (d->n > 1 && es > lim / (d->n - 1))
        return "elem_stride * (n - 1) overflows";
    if (d->rows > 1 && rs > lim / (d->rows - 1))
        return "row_stride * (rows - 1) overflows";
    size_t span_e = (d->n - 1) * es, span_r = (d->rows - 1) * rs;
    if (span_e > lim - span_r)
        return "the layout spans more memory than can be addressed";
    if (d->rows > 1 && d->n > 1 && !(rs > span_e || es > span_r))
        return "layout maps two (row, element) pairs to one address: rows must not interleave";
    return NULL;
}

const char *hs_proj_check(const hs_proj *d)
{
    if (!d)
        return "the hs_proj description is NULL";
    const char *m = check_layout(d);
    if (m)
        return m;
    if (d->reg != HS_REG_L2 && d->reg != HS_REG_KL && d->reg != HS_REG_ENTROPY)
        return "unknown regularization";
    if (d->solver != HS_SOLVER_FAST && d->solver != HS_SOLVER_SORT_PAV)
        return "unknown solver";
    if (d->threads < 0)
        return "threads must be >= 0";
    for (size_t r = 0; r < (d->k_rows ? d->rows : 1); r++) {
        double k = hs_row_k(d, r);
        if (!isfinite(k) || k < 0 || k > (double)d->n)
            return "k must be finite and in [0, n]";
    }
    for (size_t r = 0; r < (d->tau_rows ? d->rows : 1); r++) {
        double tau = hs_row_tau(d, r);
        if (!isfinite(tau) || !(tau > 0))
            return "tau must be finite and > 0";
    }
    return NULL;
}

hs_status hs_proj_validate(const hs_proj *d)
{
    if (!d)
        return hs_fail(HS_ERR_NULL, "the hs_proj description is NULL");
    const char *m = check_layout(d);
    if (m)
        return hs_fail(HS_ERR_SIZE, "%s (rows = %zu, n = %zu, row_stride = %td, elem_stride = %td)",
                       m, d->rows, d->n, d->row_stride, d->elem_stride);
    if (d->reg != HS_REG_L2 && d->reg != HS_REG_KL && d->reg != HS_REG_ENTROPY)
        return hs_fail(HS_ERR_ARG, "unknown regularization %d", (int)d->reg);
    if (d->solver != HS_SOLVER_FAST && d->solver != HS_SOLVER_SORT_PAV)
        return hs_fail(HS_ERR_ARG, "unknown solver %d", (int)d->solver);
    if (d->threads < 0)
        return hs_fail(HS_ERR_ARG, "threads = %d must be >= 0", d->threads);
    for (size_t r = 0; r < (d->k_rows ? d->rows : 1); r++) {
        double k = hs_row_k(d, r);
        if (!isfinite(k) || k < 0 || k > (double)d->n)
            return hs_fail(HS_ERR_K, "row %zu: k = %g is not in [0, n = %zu]", r, k, d->n);
    }
    for (size_t r = 0; r < (d->tau_rows ? d->rows : 1); r++) {
        double tau = hs_row_tau(d, r);
        if (!isfinite(tau) || !(tau > 0))
            return hs_fail(HS_ERR_TAU, "row %zu: tau = %g must be finite and > 0", r, tau);
    }
    return HS_OK;
}

int hs_thread_count(const hs_proj *d, size_t work)
{
#ifdef HS_HAVE_OPENMP
    if (d->rows < 2 || work < 262144) /* below this, thread start-up costs more than it saves */
        return 1;
    int nt = d->threads > 0 ? d->threads : omp_get_max_threads();
    if ((size_t)nt > d->rows)
        nt = (int)d->rows;
    return nt < 1 ? 1 : nt;
#else
    (void)d;
    (void)work;
    return 1;
#endif
}

/* Failure reported by a worker thread; the smallest failing row wins so that the message
 * does not depend on scheduling. */
typedef struct row_failure {
    size_t row;
    hs_status status;
} row_failure;

static void note_failure(row_failure *f, size_t row, hs_status s)
{
#ifdef HS_HAVE_OPENMP
#pragma omp critical
#endif
    {
        if (f->status == HS_OK || row < f->row) {
            f->row = row;
            f->status = s;
        }
    }
}

/* Runs fn(row, scratch, ctx) for every row, over `nt` threads, each thread with its own
 * scratch of scratch_len doubles; failures are collected in *fail (smallest row wins). */
typedef hs_status (*row_fn)(size_t row, double *scratch, void *ctx);

static void rows_serial(const hs_proj *d, size_t scratch_len, row_fn fn, void *ctx,
                        row_failure *fail)
{
    double *scratch = malloc(scratch_len * sizeof *scratch);
    for (size_t r = 0; r < d->rows; r++) {
        hs_status s = scratch ? fn(r, scratch, ctx) : HS_ERR_NOMEM;
        if (s != HS_OK)
            note_failure(fail, r, s);
    }
    free(scratch);
}

static void for_each_row(const hs_proj *d, int nt, size_t scratch_len, row_fn fn, void *ctx,
                         row_failure *fail)
{
    /* One thread: no OpenMP region at all (its start-up costs as much as a short row). */
    if (nt <= 1) {
        rows_serial(d, scratch_len, fn, ctx, fail);
        return;
    }
#ifdef HS_HAVE_OPENMP
#pragma omp parallel num_threads(nt)
    {
        double *scratch = malloc(scratch_len * sizeof *scratch);
        long long rows = (long long)d->rows;
#pragma omp for schedule(dynamic, 1)
        for (long long r = 0; r < rows; r++) {
            hs_status s = scratch ? fn((size_t)r, scratch, ctx) : HS_ERR_NOMEM;
            if (s != HS_OK)
                note_failure(fail, (size_t)r, s);
        }
        free(scratch);
    }
#else
    rows_serial(d, scratch_len, fn, ctx, fail);
#endif
}

/* Message for a row that failed: finds the first non-finite element for NONFINITE. */
static hs_status report_failure(const row_failure *f, const void *z, const hs_proj *d,
                                int is_float)
{
    if (f->status == HS_ERR_NONFINITE) {
        hs_row_view v = hs_row_of(z, d, f->row, is_float);
        double tau = hs_row_tau(d, f->row);
        for (size_t j = 0; j < d->n; j++) {
            double x = hs_row_load(v, j);
            if (!isfinite(x))
                return hs_fail(HS_ERR_NONFINITE, "row %zu, element %zu: z = %g is not finite",
                               f->row, j, x);
            if (!isfinite(x / tau))
                return hs_fail(HS_ERR_NONFINITE,
                               "row %zu, element %zu: z / tau = %g / %g overflows", f->row, j,
                               x, tau);
        }
        return hs_fail(HS_ERR_NONFINITE, "row %zu: non-finite value", f->row);
    }
    if (f->status == HS_ERR_NOMEM)
        return hs_fail(HS_ERR_NOMEM, "out of memory (row %zu, n = %zu)", f->row, d->n);
    return hs_fail(f->status, "row %zu: %s", f->row, hs_status_string(f->status));
}

/* Phase 1 of the fast path for one row: its threshold as (reference point, offset, scale). */
typedef struct fast_ctx {
    const void *z;
    const hs_proj *d;
    int is_float;
    double *t;
} fast_ctx;

static hs_status fast_row(size_t row, double *work, void *vctx)
{
    fast_ctx *c = vctx;
    return hs_l2_fast_row(&c->t[3 * row], &c->t[3 * row + 1], &c->t[3 * row + 2],
                          hs_row_of(c->z, c->d, row, c->is_float), hs_row_k(c->d, row),
                          hs_row_tau(c->d, row), work);
}

/* Phase 2 of the fast path for one row: p from the threshold, and theta / n_free. */
static void write_row(void *p, double *theta, size_t *n_free, const void *z, const hs_proj *d,
                      int is_float, const double *t, size_t row)
{
    double tau = hs_row_tau(d, row);
    const double *tr = t + 3 * row; /* reference point, offset, scale */
    size_t written_free = hs_write_clipped(p, z, d, row, is_float, tr[0], tr[1], tr[2], tau);
    if (theta)
        theta[row] = (tr[0] + tr[1]) / (tau * tr[2]);
    if (n_free)
        n_free[row] = written_free;
}

/* Fast L2 path in two phases: every row's threshold first (reading z only), then p. So on
 * any error nothing has been written, even when p aliases z. */
static hs_status project_l2_fast(void *p, double *theta, size_t *n_free, const void *z,
                                 const hs_proj *d, int is_float)
{
    double *t = malloc(3 * d->rows * sizeof *t); /* per row: reference point, offset, scale */
    if (!t)
        return hs_fail(HS_ERR_NOMEM, "out of memory (%zu rows)", d->rows);
    row_failure fail = {0, HS_OK};
    int nt = hs_thread_count(d, d->rows * d->n);
    fast_ctx ctx = {z, d, is_float, t};
    for_each_row(d, nt, hs_l2_work_len(d->n), fast_row, &ctx, &fail);
    if (fail.status != HS_OK) {
        free(t);
        return report_failure(&fail, z, d, is_float);
    }
    long long rows = (long long)d->rows;
    if (nt <= 1) {
        for (size_t row = 0; row < d->rows; row++)
            write_row(p, theta, n_free, z, d, is_float, t, row);
    } else {
#ifdef HS_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
        for (long long r = 0; r < rows; r++)
            write_row(p, theta, n_free, z, d, is_float, t, (size_t)r);
    }
    free(t);
    return HS_OK;
}

/* One row of the reference or a variant solver, on a contiguous double copy of z (z and tau
 * scaled alike when tau is tiny; the solvers never form z / tau itself). */
typedef struct copy_ctx {
    void *p;
    double *theta;
    size_t *n_free;
    const void *z;
    const hs_proj *d;
    int is_float;
} copy_ctx;

static hs_status copy_row(size_t row, double *x, void *vctx)
{
    copy_ctx *c = vctx;
    const hs_proj *d = c->d;
    hs_row_view v = hs_row_of(c->z, d, row, c->is_float);
    double tau = hs_row_tau(d, row), k = hs_row_k(d, row), th = 0, sc = hs_tau_scale(tau);
    size_t nf = 0;
    for (size_t j = 0; j < d->n; j++)
        x[j] = hs_row_load(v, j) * sc;
    tau *= sc;
    hs_status s;
    if (d->reg == HS_REG_KL)
        s = hs_kl_solve_row(x, &th, &nf, x, d->n, k, tau);
    else if (d->reg == HS_REG_ENTROPY)
        s = hs_entropy_solve_row(x, &th, &nf, x, d->n, k, tau);
    else
        s = hs_l2_pav_row(x, &th, &nf, x, d->n, k, tau);
    if (s != HS_OK)
        return s;
    hs_row_store_all(c->p, d, row, c->is_float, x);
    if (c->theta)
        c->theta[row] = th;
    if (c->n_free)
        c->n_free[row] = nf;
    return HS_OK;
}

/* Reference and variant solvers work on a contiguous copy of z per row. They are preceded by
 * a finiteness check of z / tau over all rows so that an error leaves p untouched. */
static hs_status project_by_copy(void *p, double *theta, size_t *n_free, const void *z,
                                 const hs_proj *d, int is_float)
{
    row_failure fail = {0, HS_OK};
    for (size_t r = 0; r < d->rows && fail.status == HS_OK; r++) {
        hs_row_view v = hs_row_of(z, d, r, is_float);
        double tau = hs_row_tau(d, r);
        for (size_t j = 0; j < d->n; j++) {
            if (!isfinite(hs_row_load(v, j) / tau)) {
                fail.row = r;
                fail.status = HS_ERR_NONFINITE;
                break;
            }
        }
    }
    if (fail.status != HS_OK)
        return report_failure(&fail, z, d, is_float);

    copy_ctx ctx = {p, theta, n_free, z, d, is_float};
    for_each_row(d, hs_thread_count(d, d->rows * d->n), d->n, copy_row, &ctx, &fail);
    if (fail.status != HS_OK)
        return report_failure(&fail, z, d, is_float);
    return HS_OK;
}

static hs_status project_any(void *p, double *theta, size_t *n_free, const void *z,
                             const hs_proj *d, int is_float)
{
    hs_status s = hs_proj_validate(d);
    if (s != HS_OK)
        return s;
    if (!p || !z)
        return hs_fail(HS_ERR_NULL, "%s is NULL", !p ? "p (output)" : "z (input)");
    if (d->reg == HS_REG_L2 && d->solver == HS_SOLVER_FAST)
        return project_l2_fast(p, theta, n_free, z, d, is_float);
    return project_by_copy(p, theta, n_free, z, d, is_float);
}

hs_status hs_project_d(double *p, double *theta, size_t *n_free, const double *z,
                       const hs_proj *d)
{
    return project_any(p, theta, n_free, z, d, 0);
}

hs_status hs_project_f(float *p, double *theta, size_t *n_free, const float *z,
                       const hs_proj *d)
{
    return project_any(p, theta, n_free, z, d, 1);
}
