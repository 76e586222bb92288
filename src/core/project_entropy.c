/* Exact row solver of the binary-entropy-regularized soft-binary-argmax@k (the LML layer
 * of Amos et al.):
 *     p_i = sigmoid(x_i - theta),   sum_i p_i = k.
 *
 * Method. r(theta) = sum_i sigmoid(x_i - theta) - k is continuous and strictly decreasing,
 * and its root lies in [min x - L, max x - L] with L = logit(k / n) (at the left end every
 * p_i >= k / n, at the right end every p_i <= k / n). A safeguarded Newton iteration keeps
 * that bracket: each evaluation moves one end of the bracket to theta by the sign of r; the
 * Newton step (r / sum p(1-p)) is taken when it falls strictly inside the bracket and is at
 * most half the step before last, otherwise the bracket is bisected. Bisection is by value
 * while the bracket is narrow and by the binary representation of the doubles while it is
 * wide, so that even [-1e308, 1e308] shrinks to the right binade in ~64 steps. The loop
 * stops when |r(theta)| is within the rounding bound of its own evaluation (4 eps times the
 * sum of the summed terms), when the Newton correction no longer changes theta (it is below
 * half an ulp), or when the bracket holds no double strictly inside: full double precision,
 * no tunable tolerance. The residual is summed on the side that keeps small terms exact
 * (sum p - k when k <= n/2, (n - k) - sum (1 - p) otherwise), with sigmoid and p(1-p) in
 * forms that neither overflow nor cancel for large |x - theta|.
 *
 * The iteration runs on y = (z - a) / tau for an anchor score a (0 at first, then the score
 * next to the root): differences of scores are formed before dividing, so neither the
 * rounding of theta nor that of z / tau enters the unsaturated p, at any magnitude. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/project_variants.h"

/* Bracket narrower than this (in units of x) is bisected by value. */
#define HS_ENT_VALUE_BISECT_WIDTH 64.0
/* Safety net only: the bracket argument above ends the loop long before (each Newton
 * step at least halves every two iterations, each bisection halves the bracket's binary
 * range), so this is never the stopping rule. */
#define HS_ENT_MAX_ITER 10000

/* Order-preserving map of doubles onto integers (-0.0 and +0.0 both map to 0). */
static int64_t hs_double_key(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    if (u >> 63) {
        return -(int64_t)(u & 0x7fffffffffffffffULL);
    }
    return (int64_t)u;
}

static double hs_key_double(int64_t key)
{
    uint64_t u = key < 0 ? ((uint64_t)(-key) | 0x8000000000000000ULL) : (uint64_t)key;
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* A point strictly inside (lo, hi); the caller guarantees one exists. */
static double hs_bisect(double lo, double hi)
{
    double mid;
    if (hi - lo <= HS_ENT_VALUE_BISECT_WIDTH) {
        mid = lo + 0.5 * (hi - lo);
    } else {
        int64_t klo = hs_double_key(lo), khi = hs_double_key(hi);
        int64_t kmid = klo / 2 + khi / 2 + (klo % 2 + khi % 2) / 2;
        mid = hs_key_double(kmid);
    }
    if (!(mid > lo && mid < hi)) {
        mid = nextafter(lo, INFINITY);
    }
    return mid;
}

/* r(theta) and sum_i p_i (1 - p_i) at theta = delta in the frame y of the anchor (see the
 * top): the unsaturated coordinates (|y_i - delta| < 40) lie near the anchor, so y_i carries
 * one rounding relative to its own small size. */
static double hs_entropy_residual(double *wsum, const double *y, size_t n, double k, double delta)
{
    int upper = k > 0.5 * (double)n; /* sum the complements: they are the small terms */
    double acc = 0.0, comp = 0.0, w = 0.0;
    size_t i;
    for (i = 0; i < n; i++) {
        double t = y[i] - delta;
        double e = exp(-fabs(t));           /* in [0, 1], never overflows */
        double big = 1.0 / (1.0 + e);       /* sigmoid(|t|) */
        double small = e / (1.0 + e);       /* sigmoid(-|t|), no cancellation */
        double term = (upper == (t >= 0.0)) ? small : big;
        /* Neumaier's compensated sum: the sign of r near the root must not be decided by
         * the rounding of n additions. */
        double sum = acc + term;
        comp += fabs(acc) >= fabs(term) ? (acc - sum) + term : (term - sum) + acc;
        acc = sum;
        w += big * small;
    }
    *wsum = w;
    return upper ? (((double)n - k) - acc) - comp : (acc - k) + comp;
}

/* Root delta of r(delta) = 0 (frame y) within [lo, hi], starting at guess (NAN: bisect
 * first). Returns the evaluated point with the smallest |r|, the final bracket ends included. */
static double hs_entropy_root(const double *y, size_t n, double k, double lo, double hi,
                              double guess)
{
    double th, best_th, best_abs = INFINITY, wsum, r;
    double step = INFINITY, step_old = INFINITY;
    /* Rounding bound of the computed residual: every summed term carries a relative error
     * of a few ulps, and the compensated sum adds about one ulp of the total. */
    double noise = 4.0 * DBL_EPSILON * (k > 0.5 * (double)n ? (double)n - k : k);
    int iter, lo_seen = 0, hi_seen = 0;

    if (!(lo < hi)) {
        return lo; /* all x equal: the root is exactly x - logit(k / n) */
    }
    th = (guess > lo && guess < hi) ? guess : hs_bisect(lo, hi);
    best_th = th;
    for (iter = 0; iter < HS_ENT_MAX_ITER; iter++) {
        double next, newton = NAN;
        r = hs_entropy_residual(&wsum, y, n, k, th);
        if (fabs(r) <= best_abs) { /* ties: the later point, nearer the root */
            best_abs = fabs(r);
            best_th = th;
        }
        if (fabs(r) <= noise) {
            return th; /* r is zero to the rounding of its own evaluation */
        }
        if (r > 0.0) {
            lo = th; /* sum p too large: theta must grow */
            lo_seen = 1;
        } else {
            hi = th;
            hi_seen = 1;
        }
        if (!(nextafter(lo, INFINITY) < hi)) {
            break; /* no double strictly inside the bracket */
        }
        if (wsum > 0.0) {
            newton = th + r / wsum;
            if (newton == th) {
                break; /* the Newton correction is below half an ulp of theta: converged */
            }
        }
        if (newton > lo && newton < hi && fabs(newton - th) <= 0.5 * fabs(step_old)) {
            next = newton;
        } else {
            next = hs_bisect(lo, hi);
        }
        step_old = step;
        step = next - th;
        th = next;
    }
    /* An end of the initial bracket that was never evaluated may itself be the root (when
     * the doubles near it are too coarse to hold any point in between). */
    if (!lo_seen) {
        r = hs_entropy_residual(&wsum, y, n, k, lo);
        if (fabs(r) < best_abs) {
            best_abs = fabs(r);
            best_th = lo;
        }
    }
    if (!hi_seen) {
        r = hs_entropy_residual(&wsum, y, n, k, hi);
        if (fabs(r) < best_abs) {
            best_th = hi;
        }
    }
    return best_th;
}

/* Rows up to this length keep the frame on the stack; longer rows use one malloc. */
#define HS_ENT_STACK_N 256

/* y = (z - a) / tau, clamped to +-DBL_MAX (a far coordinate is saturated either way), and the
 * range of y. */
static void hs_entropy_frame(double *y, double *ymin, double *ymax, const double *z, size_t n,
                             double a, double tau)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double v = fmin(fmax((z[i] - a) / tau, -DBL_MAX), DBL_MAX);
        y[i] = v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    *ymin = lo;
    *ymax = hi;
}

hs_status hs_entropy_solve_row(double *p, double *theta, size_t *n_free, const double *z,
                               size_t n, double k, double tau)
{
    double stack_buf[HS_ENT_STACK_N] = {0}; /* initialized: GCC cannot see the frame fill it */
    double *y = stack_buf, ymin, ymax, logit, delta, anchor = 0.0;
    size_t i, free_count = 0;

    if (k <= 0.0 || k >= (double)n) {
        double v = k <= 0.0 ? 0.0 : 1.0;
        for (i = 0; i < n; i++) {
            p[i] = v;
        }
        *theta = k <= 0.0 ? INFINITY : -INFINITY;
        *n_free = 0;
        return HS_OK;
    }
    if (n > HS_ENT_STACK_N) {
        y = malloc(n * sizeof *y);
        if (y == NULL) {
            return HS_ERR_NOMEM;
        }
    }
    logit = log(k) - log((double)n - k);

    /* Pass 1 on the plain scale y = z / tau (anchor 0) locates theta to the resolution of the
     * doubles near it. Then, while theta is far from the anchor, the iteration re-solves in
     * the frame of the score nearest to theta, which makes the unsaturated p exact also where
     * the rounding of theta (|theta| large) or of z / tau would not; the nearest score is
     * read in the current frame, so each round finds it at a finer resolution. Within 64 of
     * the anchor the unsaturated y_i (|y_i - theta| < 40) carry an error of a few ulps of 100
     * at most, as a closer anchor would give. */
    hs_entropy_frame(y, &ymin, &ymax, z, n, anchor, tau);
    delta = hs_entropy_root(y, n, k, ymin - logit, ymax - logit, NAN);
    for (int round = 0; round < 4 && fabs(delta) > 64.0; round++) {
        size_t best = 0;
        for (i = 1; i < n; i++) {
            if (fabs(y[i] - delta) < fabs(y[best] - delta)) {
                best = i;
            }
        }
        if (z[best] == anchor) {
            break; /* theta is far from every score: the p are 0 or 1 to double precision */
        }
        double guess = delta - y[best];
        anchor = z[best];
        hs_entropy_frame(y, &ymin, &ymax, z, n, anchor, tau);
        /* the bracket stays finite so that no inf - inf can arise in the residual */
        delta = hs_entropy_root(y, n, k, fmax(ymin - logit, -DBL_MAX),
                                fmin(ymax - logit, DBL_MAX), guess);
    }

    for (i = 0; i < n; i++) {
        double t = y[i] - delta;
        double e = exp(-fabs(t));
        double v = t >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        p[i] = v;
        free_count += v > 0.0 && v < 1.0;
    }
    if (y != stack_buf) {
        free(y);
    }
    *theta = anchor / tau + delta;
    *n_free = free_count;
    return HS_OK;
}
