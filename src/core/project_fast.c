/* Sort-free solver for the L2 projection onto the (n,k)-hypersimplex.
 *
 * We look for the threshold t (in the units of z) with
 *     f(t) = sum_i clip((z_i - t) / tau, 0, 1) = k,
 * f being piecewise linear and nonincreasing with breakpoints z_i - tau and z_i.
 *
 * Outline (expected O(n), exact):
 *  1. For long rows, solve the same problem on a regular sample of the row; two sample
 *     solutions with k shifted by about three standard errors give a bracket [tL, tR] that
 *     holds the answer with high probability.
 *  2. One pass over the row sorts every element relative to the bracket: always 0, always 1,
 *     always free (its contribution is then linear in t and kept as a count and a sum), or
 *     undetermined (a breakpoint inside the bracket). Only the undetermined ones are copied
 *     to the work buffer. If the bracket turns out not to hold the answer, a second pass with
 *     the full range repairs it (rare, and still exact).
 *  3. Active-set Newton on the candidates: from the partition at a trial t, the root of its
 *     linear piece is the next trial; when two successive trials have the same partition the
 *     root is exact. Each pass also narrows the bracket and drops candidates whose status it
 *     fixes; if Newton leaves the bracket, a candidate's breakpoint is the pivot, so the
 *     candidate set shrinks every pass and the search ends.
 *
 * Precision: sums of free coordinates are taken relative to a reference point near the
 * answer, blocked, and the answer is returned as ref + d, so |z|/tau up to ~1e6 keeps
 * sum(p) = k to ~1e-12 k. When the free set at the root is empty, the middle of the flat
 * interval is returned, so that no coordinate sits on a breakpoint. */
#include <math.h>
#include <string.h>

#include "core/project_internal.h"
#include "core/rows.h"

/* Rows up to this length skip sampling: one gather pass is as cheap as anything else. */
enum { SMALL_ROW = 512, SAMPLE_MAX = 4096, NEWTON_PASSES = 6 };
/* Sums are accumulated in blocks of this many terms and then added up, which keeps their
 * rounding error near (SUM_BLOCK + n / SUM_BLOCK) eps instead of n eps. */
enum { SUM_BLOCK = 1024 };

/* What is known about the elements no longer in the candidate list. */
typedef struct l2_state {
    double tL, tR;   /* bracket: f(tL) >= k >= f(tR) */
    double ref;      /* reference point for sums of free coordinates */
    double n_one;    /* elements equal to 1 throughout the bracket */
    double n_free;   /* elements free throughout the bracket */
    double s_free;   /* sum of (z_i - ref) over those */
} l2_state;

/* How a search ended. */
typedef struct l2_root {
    double d;        /* root = ref + d */
    int flat;        /* the free set is empty: every point of an interval is a root */
    double t;        /* for a flat root: the root as found (ref + d may round off it) */
} l2_root;

size_t hs_l2_work_len(size_t n)
{
    /* contiguous copy, candidates, and the sample (at most n / 16 elements) */
    return 2 * n + (n / 16 < SAMPLE_MAX ? n / 16 : SAMPLE_MAX) + 1;
}

static inline double load(hs_row_view v, size_t i)
{
    ptrdiff_t off = (ptrdiff_t)i * v.stride;
    return v.is_float ? (double)((const float *)v.base)[off] : ((const double *)v.base)[off];
}

/* Elements [b0, b0 + len) of the row as contiguous doubles: the row itself when it is a
 * contiguous double array, else a converted copy in buf. */
static const double *row_block(hs_row_view z, size_t b0, size_t len, double *buf)
{
    if (!z.is_float && z.stride == 1)
        return (const double *)z.base + b0;
    if (z.is_float && z.stride == 1)
        for (size_t i = 0; i < len; i++) /* a plain loop: vectorizes */
            buf[i] = (double)((const float *)z.base)[b0 + i];
    else
        for (size_t i = 0; i < len; i++)
            buf[i] = load(z, b0 + i);
    return buf;
}

/* Statistics of one block against the bracket, in a loop the compiler vectorizes:
 * counts of settled ones and settled free, the sum of the free ones relative to ref, and a
 * check value that is NaN iff some z is NaN/Inf or z/tau overflows. */
typedef struct block_stats {
    double c1, cf, sf, bad;
} block_stats;

static inline __attribute__((always_inline)) void block_scan(const double *b, size_t len,
                                                             const l2_state *st, double tau,
                                                             double inv_tau, block_stats *o)
{
    double tL = st->tL, tR = st->tR, ref = st->ref;
    double c1 = 0, cf = 0, sf = 0, bad = 0;
#pragma omp simd reduction(+ : c1, cf, sf, bad)
    for (size_t i = 0; i < len; i++) {
        double v = b[i];
        double x = v * inv_tau;
        bad += x - x; /* NaN iff v is NaN/Inf or v/tau overflows */
        double one = v - tau >= tR ? 1.0 : 0.0;
        double fr = (v - tau <= tL ? 1.0 : 0.0) * (v >= tR ? 1.0 : 0.0);
        c1 += one;
        cf += fr;
        sf += fr * (v - ref);
    }
    o->c1 += c1;
    o->cf += cf;
    o->sf += sf;
    o->bad += bad;
}

/* Appends the block's undetermined elements (a breakpoint inside the bracket) to w. */
static inline __attribute__((always_inline)) size_t block_keep(double *w, size_t m, const double *b,
                                                               size_t len, const l2_state *st,
                                                               double tau)
{
    double tL = st->tL, tR = st->tR;
    for (size_t i = 0; i < len; i++) {
        double v = b[i];
        int settled = (v <= tL) | (v - tau >= tR) | ((v - tau <= tL) & (v >= tR));
        w[m] = v;
        m += (size_t)!settled;
    }
    return m;
}

/* One pass over the row: candidates for the state's bracket go to w, settled elements into
 * the state. Returns the number of candidates; *bad is NaN iff the row is not usable. */
HS_MULTIVERSION
static size_t classify_row(double *w, l2_state *st, hs_row_view z, double tau, double *bad)
{
    double buf[SUM_BLOCK], inv_tau = 1.0 / tau;
    block_stats o = {0, 0, 0, 0};
    size_t m = 0;
    for (size_t b0 = 0; b0 < z.n; b0 += SUM_BLOCK) {
        size_t len = z.n - b0 < SUM_BLOCK ? z.n - b0 : SUM_BLOCK;
        const double *b = row_block(z, b0, len, buf);
        block_stats ob = {0, 0, 0, 0}; /* per-block partial sums keep rounding small */
        block_scan(b, len, st, tau, inv_tau, &ob);
        o.c1 += ob.c1;
        o.cf += ob.cf;
        o.sf += ob.sf;
        o.bad += ob.bad;
        m = block_keep(w, m, b, len, st, tau);
    }
    st->n_one += o.c1;
    st->n_free += o.cf;
    st->s_free += o.sf;
    *bad = o.bad;
    return m;
}

/* Partition of the whole row at t: ones, free count and sum of (z_i - ref) over the free
 * ones, plus the non-finite check. Vectorized, blocked sums. */
typedef struct row_eval {
    double one, nfree, sum, bad;
    /* The partition at t holds on (dn, up): up is the nearest breakpoint above t at which an
     * element changes class, dn the nearest below. */
    double dn, up;
} row_eval;

static inline __attribute__((always_inline)) void block_eval(const double *b, size_t len, double t,
                                                             double tau, double ref,
                                                             double inv_tau, row_eval *o)
{
    double e1 = 0, ef = 0, es = 0, bad = 0, dn = -INFINITY, up = INFINITY;
    for (size_t i = 0; i < len; i++) {
        double v = b[i], a = v - tau;
        double x = v * inv_tau;
        bad += x - x; /* NaN iff v is NaN/Inf or v/tau overflows */
        double one = a >= t ? 1.0 : 0.0;
        double fr = (v > t ? 1.0 : 0.0) - one; /* tau > 0: a one is also above t */
        e1 += one;
        ef += fr;
        es += fr * (v - ref);
        /* moving up, a one turns free at a, a free one turns 0 at v; moving down the reverse */
        double u = a >= t ? a : (v > t ? v : INFINITY);
        double w = v <= t ? v : (a < t ? a : -INFINITY);
        up = u < up ? u : up;
        dn = w > dn ? w : dn;
    }
    o->one += e1;
    o->nfree += ef;
    o->sum += es;
    o->bad += bad;
    o->up = up < o->up ? up : o->up;
    o->dn = dn > o->dn ? dn : o->dn;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HS_HAVE_AVX2_PATH 1

/* block_eval with AVX2 intrinsics: same arithmetic, four lanes at a time (the products with
 * the 0/1 mask are exact, so the lanes' sums match the scalar loop up to summation order). */
__attribute__((target("avx2"))) static void block_eval_avx2(const double *b, size_t len,
                                                            double t, double tau, double ref,
                                                            double inv_tau, row_eval *o)
{
    const __m256d vt = _mm256_set1_pd(t), vtau = _mm256_set1_pd(tau);
    const __m256d vref = _mm256_set1_pd(ref), vinv = _mm256_set1_pd(inv_tau);
    const __m256d one = _mm256_set1_pd(1.0), inf = _mm256_set1_pd(INFINITY);
    const __m256d ninf = _mm256_set1_pd(-INFINITY);
    __m256d e1 = _mm256_setzero_pd(), ef = e1, es = e1, bad = e1, up = inf, dn = ninf;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        __m256d v = _mm256_loadu_pd(b + i), a = _mm256_sub_pd(v, vtau);
        __m256d x = _mm256_mul_pd(v, vinv);
        bad = _mm256_add_pd(bad, _mm256_sub_pd(x, x));
        __m256d m_one = _mm256_cmp_pd(a, vt, _CMP_GE_OQ);
        __m256d m_above = _mm256_cmp_pd(v, vt, _CMP_GT_OQ);
        __m256d is_one = _mm256_and_pd(m_one, one);
        __m256d fr = _mm256_sub_pd(_mm256_and_pd(m_above, one), is_one);
        e1 = _mm256_add_pd(e1, is_one);
        ef = _mm256_add_pd(ef, fr);
        es = _mm256_add_pd(es, _mm256_mul_pd(fr, _mm256_sub_pd(v, vref)));
        /* nearest class-changing breakpoints above and below t (see block_eval) */
        __m256d u = _mm256_blendv_pd(_mm256_blendv_pd(inf, v, m_above), a, m_one);
        __m256d m_a_below = _mm256_cmp_pd(a, vt, _CMP_LT_OQ);
        __m256d w = _mm256_blendv_pd(_mm256_blendv_pd(ninf, a, m_a_below), v,
                                     _mm256_cmp_pd(v, vt, _CMP_LE_OQ));
        up = _mm256_min_pd(up, u);
        dn = _mm256_max_pd(dn, w);
    }
    double l1[4], lf[4], ls[4], lb[4], lu[4], ld[4];
    _mm256_storeu_pd(l1, e1);
    _mm256_storeu_pd(lf, ef);
    _mm256_storeu_pd(ls, es);
    _mm256_storeu_pd(lb, bad);
    _mm256_storeu_pd(lu, up);
    _mm256_storeu_pd(ld, dn);
    row_eval tail = {0, 0, 0, 0, -INFINITY, INFINITY};
    block_eval(b + i, len - i, t, tau, ref, inv_tau, &tail);
    o->one += (l1[0] + l1[1]) + (l1[2] + l1[3]) + tail.one;
    o->nfree += (lf[0] + lf[1]) + (lf[2] + lf[3]) + tail.nfree;
    o->sum += (ls[0] + ls[1]) + (ls[2] + ls[3]) + tail.sum;
    o->bad += (lb[0] + lb[1]) + (lb[2] + lb[3]) + tail.bad;
    for (int j = 0; j < 4; j++) {
        tail.up = lu[j] < tail.up ? lu[j] : tail.up;
        tail.dn = ld[j] > tail.dn ? ld[j] : tail.dn;
    }
    o->up = tail.up < o->up ? tail.up : o->up;
    o->dn = tail.dn > o->dn ? tail.dn : o->dn;
}
#endif

static row_eval eval_row(hs_row_view z, double t, double tau, double ref)
{
    double buf[SUM_BLOCK], inv_tau = 1.0 / tau;
    row_eval o = {0, 0, 0, 0, -INFINITY, INFINITY};
    int avx2 = hs_cpu_has_avx2();
    for (size_t b0 = 0; b0 < z.n; b0 += SUM_BLOCK) {
        size_t len = z.n - b0 < SUM_BLOCK ? z.n - b0 : SUM_BLOCK;
        const double *b = row_block(z, b0, len, buf);
#ifdef HS_HAVE_AVX2_PATH
        if (avx2) {
            block_eval_avx2(b, len, t, tau, ref, inv_tau, &o);
            continue;
        }
#endif
        (void)avx2;
        block_eval(b, len, t, tau, ref, inv_tau, &o);
    }
    return o;
}

/* Partition of the candidates at a trial point t, plus the settled constants. */
typedef struct trial {
    double one, nfree, sum; /* counts of ones and free, sum of (z_i - ref) over free */
} trial;

/* Moves candidates settled by the state's bracket into the constants (compacting w), and
 * evaluates the partition of the remaining ones at t. */
HS_MULTIVERSION
static void filter_and_eval(double *w, size_t *len, l2_state *st, double tau, double t, trial *e)
{
    double tL = st->tL, tR = st->tR, ref = st->ref;
    double c1 = 0, cf = 0, sf = 0, e1 = 0, ef = 0, es = 0;
    size_t m = 0;
    for (size_t b0 = 0; b0 < *len; b0 += SUM_BLOCK) {
        size_t b1 = *len - b0 < SUM_BLOCK ? *len : b0 + SUM_BLOCK;
        double sf_b = 0, es_b = 0;
#pragma omp simd reduction(+ : c1, cf, sf_b, e1, ef, es_b)
        for (size_t i = b0; i < b1; i++) {
            double z = w[i];
            int zero = z <= tL, one = z - tau >= tR;
            int fr = (z - tau <= tL) & (z >= tR);
            int keep = !(zero | one | fr);
            int one_here = keep & (z - tau >= t);
            int free_here = keep & !one_here & (z > t);
            c1 += one ? 1.0 : 0.0;
            cf += fr ? 1.0 : 0.0;
            sf_b += fr ? z - ref : 0.0;
            e1 += one_here ? 1.0 : 0.0;
            ef += free_here ? 1.0 : 0.0;
            es_b += free_here ? z - ref : 0.0;
        }
        sf += sf_b;
        es += es_b;
        for (size_t i = b0; i < b1; i++) {
            double z = w[i];
            int settled = (z <= tL) | (z - tau >= tR) | ((z - tau <= tL) & (z >= tR));
            w[m] = z;
            m += (size_t)!settled;
        }
    }
    *len = m;
    st->n_one += c1;
    st->n_free += cf;
    st->s_free += sf;
    e->one = st->n_one + e1;
    e->nfree = st->n_free + ef;
    e->sum = st->s_free + es;
}

/* Exact root of f(t) = k given a valid bracket in st and the candidates w[0..*lenp).
 * Compacts w in place and leaves the final candidate count in *lenp. */
static l2_root solve_candidates(double *w, size_t *lenp, l2_state *st, double k, double tau)
{
    l2_root r = {0, 0, 0};
    size_t len = *lenp;
    double t = st->ref;
    if (!(t > st->tL && t < st->tR))
        t = 0.5 * (st->tL + st->tR);
    double prev_one = -1, prev_free = -1, prev_d = 0;
    for (int iter = 0;; iter++) {
        if (len == 0) {
            /* f is linear on the whole bracket (constant if nothing is free). */
            if (st->n_free > 0) {
                double d = (st->s_free - tau * (k - st->n_one)) / st->n_free;
                r.d = fmin(fmax(d, st->tL - st->ref), st->tR - st->ref);
            } else {
                r.t = 0.5 * (st->tL + st->tR);
                r.d = r.t - st->ref;
                r.flat = 1;
            }
            break;
        }
        trial e;
        filter_and_eval(w, &len, st, tau, t, &e);
        if (e.one == prev_one && e.nfree == prev_free) {
            /* Same partition as the point t was computed from: t is its exact root. */
            r.d = prev_d;
            break;
        }
        double f = e.one + (e.sum - e.nfree * (t - st->ref)) / tau;
        if (f == k || (e.nfree == 0 && e.one == k)) {
            r.d = t - st->ref;
            r.flat = e.nfree == 0;
            r.t = t;
            break;
        }
        if (f > k)
            st->tL = t;
        else
            st->tR = t;
        double next = NAN, d = NAN;
        if (e.nfree > 0 && iter < 64) {
            d = (e.sum - tau * (k - e.one)) / e.nfree;
            next = st->ref + d;
        }
        if (next > st->tL && next < st->tR) {
            prev_one = e.one;
            prev_free = e.nfree;
            prev_d = d;
        } else {
            /* Newton left the bracket: pivot on a candidate's breakpoint inside it. */
            prev_one = prev_free = -1;
            next = 0.5 * (st->tL + st->tR);
            for (size_t j = 0; j < len; j++) {
                double z = w[(len / 2 + j) % len];
                if (z > st->tL && z < st->tR) {
                    next = z;
                    break;
                }
                if (z - tau > st->tL && z - tau < st->tR) {
                    next = z - tau;
                    break;
                }
            }
            if (!(next > st->tL && next < st->tR)) {
                /* No representable point strictly inside: the bracket is one ulp wide. */
                r.d = st->tL - st->ref;
                break;
            }
        }
        t = next;
    }
    *lenp = len;
    return r;
}

/* A flat root t (no free coordinate): f = k on [largest z at 0, smallest z - tau at 1].
 * Answer the middle, so every p is exactly 0 or 1 and stays so under rounding. The ones are
 * decided by the same comparison as in the search; everything else is 0 at a flat root. */
static void center_flat_root(double *ref, double *d, hs_row_view z, double tau, double t)
{
    double hz = -INFINITY, lo = INFINITY;
    for (size_t i = 0; i < z.n; i++) {
        double v = load(z, i);
        if (v - tau >= t)
            lo = v - tau < lo ? v - tau : lo;
        else
            hz = v > hz ? v : hz;
    }
    *ref = t;
    *d = 0;
    if (!(hz <= lo))
        return; /* cannot happen at a true flat root; keep t */
    *ref = isinf(hz) ? lo : (isinf(lo) ? hz : 0.5 * (hz + lo));
}

/* Moves the reference point onto the root when every free coordinate is still among the
 * candidates: the offset is then recomputed from differences z_i - t that are exact for
 * free coordinates (z_i lies within tau of t), so p keeps full precision even when |t| >> tau
 * and the first reference point was far away. */
static void recenter(double *ref, double *d, const double *w, size_t len, const l2_state *st,
                     double k, double tau)
{
    if (st->n_free > 0)
        return; /* some free coordinates are only known through their sum */
    double t = *ref + *d, ones = st->n_one, nfree = 0, sum = 0;
    for (size_t i = 0; i < len; i++) {
        double z = w[i];
        if (z - tau >= t)
            ones += 1;
        else if (z > t) {
            nfree += 1;
            sum += z - t;
        }
    }
    if (nfree == 0)
        return;
    double dd = (sum - tau * (k - ones)) / nfree;
    if (fabs(dd) < tau) {
        *ref = t;
        *d = dd;
    }
}

/* When free coordinates were folded into (count, sum relative to ref) far from the root
 * (|d| >> tau), the offset carries about eps |d| / tau of error per free coordinate; if that
 * could show in sum(p) at the 1e-14 k level, one more pass recomputes it from exact
 * differences z_i - t. Rare: it needs a far reference point and many folded coordinates. */
static void refine_if_imprecise(double *ref, double *d, hs_row_view z, const l2_state *st,
                                double k, double tau)
{
    if (st->n_free == 0 || fabs(*d) <= 8 * tau)
        return;
    double err = 2.3e-16 * (fabs(*d) + tau) * st->n_free / tau *
                 (1.0 + (double)SUM_BLOCK + st->n_free / (double)SUM_BLOCK);
    if (err <= 1e-14 * fmax(1.0, k))
        return;
    double t = *ref + *d, ones = 0, nfree = 0, sum = 0;
    for (size_t b0 = 0; b0 < z.n; b0 += SUM_BLOCK) {
        size_t b1 = z.n - b0 < SUM_BLOCK ? z.n : b0 + SUM_BLOCK;
        double sum_b = 0;
        for (size_t i = b0; i < b1; i++) {
            double v = load(z, i);
            if (v - tau >= t)
                ones += 1;
            else if (v > t) {
                nfree += 1;
                sum_b += v - t;
            }
        }
        sum += sum_b;
    }
    if (nfree > 0) {
        *ref = t;
        *d = (sum - tau * (k - ones)) / nfree;
    }
}

/* The Newton path sums (z_i - ref) over all free coordinates; if ref is far from the root
 * (|d| >> tau) those terms lose precision, and one more pass relative to the root fixes it. */
static void refine_if_imprecise_eval(double *ref, double *d, hs_row_view z, row_eval e, double k,
                                     double tau)
{
    l2_state st = {0, 0, *ref, e.one, e.nfree, e.sum};
    refine_if_imprecise(ref, d, z, &st, k, tau);
}

static void min_max(hs_row_view z, double *lo, double *hi)
{
    double a = INFINITY, b = -INFINITY;
    for (size_t i = 0; i < z.n; i++) {
        double v = load(z, i);
        a = v < a ? v : a;
        b = v > b ? v : b;
    }
    *lo = a;
    *hi = b;
}

/* Solves a contiguous buffer of doubles completely (bracket from its min and max). */
static double solve_buffer(double *w, size_t len, double k, double tau, double lo, double hi)
{
    l2_state st = {lo - tau, hi, 0.5 * (lo + hi), 0, 0, 0};
    l2_root r = solve_candidates(w, &len, &st, k, tau);
    return st.ref + r.d;
}

hs_status hs_l2_fast_row(double *ref, double *d, hs_row_view z, double k, double tau,
                         double *work)
{
    size_t n = z.n;
    double bad, zmin, zmax;
    *d = 0;
    if (n <= SMALL_ROW || k == 0 || k == (double)n) {
        l2_state all = {-INFINITY, INFINITY, 0, 0, 0, 0};
        size_t len = classify_row(work, &all, z, tau, &bad);
        if (isnan(bad))
            return HS_ERR_NONFINITE;
        min_max(z, &zmin, &zmax);
        if (k == 0) {
            *ref = zmax; /* every p_i = clip((z_i - zmax)/tau) = 0 */
            return HS_OK;
        }
        if (k == (double)n) {
            *ref = zmin; /* every p_i = clip((z_i - zmin + tau)/tau) = 1 */
            *d = -tau;
            return HS_OK;
        }
        l2_state st = {zmin - tau, zmax, 0.5 * (zmin + zmax), 0, 0, 0};
        *ref = st.ref;
        l2_root r = solve_candidates(work, &len, &st, k, tau);
        *d = r.d;
        if (r.flat)
            center_flat_root(ref, d, z, tau, r.t);
        else
            recenter(ref, d, work, len, &st, k, tau);
        return HS_OK;
    }

    /* Strided or float rows are copied once to contiguous doubles: every pass below then
     * streams through memory with vector loads. */
    double *cand = work + n;
    if (z.is_float && z.stride == 1) {
        for (size_t i = 0; i < n; i++) /* a plain loop: vectorizes */
            work[i] = (double)((const float *)z.base)[i];
        z.base = work;
        z.is_float = 0;
    } else if (z.is_float || z.stride != 1) {
        for (size_t i = 0; i < n; i++)
            work[i] = load(z, i);
        z.base = work;
        z.is_float = 0;
        z.stride = 1;
    }

    /* 1. A regular sample gives a starting point near the root. */
    size_t m = n / 16 < SAMPLE_MAX ? n / 16 : SAMPLE_MAX;
    double *sample = work + 2 * n;
    double smin = INFINITY, smax = -INFINITY, schk = 0;
    for (size_t i = 0; i < m; i++) {
        double v = load(z, (size_t)((double)i * (double)n / (double)m));
        sample[i] = v;
        schk += (v / tau) * 0.0;
        smin = v < smin ? v : smin;
        smax = v > smax ? v : smax;
    }
    if (isnan(schk))
        return HS_ERR_NONFINITE;
    double t = solve_buffer(sample, m, k * (double)m / (double)n, tau, smin, smax);

    /* 2. Newton over the whole row, one vectorized pass per step. Two successive steps with
     * the same partition certify the root exactly; this takes about four passes. */
    l2_state st = {-INFINITY, INFINITY, t, 0, 0, 0};
    double prev_one = -1, prev_free = -1, prev_d = 0;
    for (int pass = 0; pass < NEWTON_PASSES; pass++) {
        row_eval e = eval_row(z, t, tau, st.ref);
        if (isnan(e.bad))
            return HS_ERR_NONFINITE;
        if (e.one == prev_one && e.nfree == prev_free) {
            *ref = st.ref;
            *d = prev_d;
            refine_if_imprecise_eval(ref, d, z, e, k, tau);
            return HS_OK;
        }
        double f = e.one + (e.sum - e.nfree * (t - st.ref)) / tau;
        if (f == k || (e.nfree == 0 && e.one == k)) {
            *ref = st.ref;
            *d = t - st.ref;
            if (e.nfree == 0)
                center_flat_root(ref, d, z, tau, t);
            return HS_OK;
        }
        if (f > k)
            st.tL = t;
        else
            st.tR = t;
        if (e.nfree == 0)
            break; /* Newton has no slope here */
        double dn = (e.sum - tau * (k - e.one)) / e.nfree, next = st.ref + dn;
        if (next > e.dn && next < e.up) {
            /* No element changes class between t and next: the partition at next is the one
             * next was computed from, so next is the exact root. */
            *ref = st.ref;
            *d = dn;
            refine_if_imprecise_eval(ref, d, z, e, k, tau);
            return HS_OK;
        }
        if (!(next > st.tL && next < st.tR))
            break;
        prev_one = e.one;
        prev_free = e.nfree;
        prev_d = dn;
        t = next;
    }

    /* 3. Rarely needed: exact search among the elements with a breakpoint in the bracket
     * Newton has narrowed (closed with the row's range where it is still open). */
    if (isinf(st.tL) || isinf(st.tR)) {
        min_max(z, &zmin, &zmax);
        st.tL = isinf(st.tL) ? zmin - tau : st.tL;
        st.tR = isinf(st.tR) ? zmax : st.tR;
    }
    size_t len = classify_row(cand, &st, z, tau, &bad);
    *ref = st.ref;
    l2_root r = solve_candidates(cand, &len, &st, k, tau);
    *d = r.d;
    if (r.flat) {
        center_flat_root(ref, d, z, tau, r.t);
    } else {
        recenter(ref, d, cand, len, &st, k, tau);
        refine_if_imprecise(ref, d, z, &st, k, tau);
    }
    return HS_OK;
}
