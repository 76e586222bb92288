/* Sort-free solver for the L2 projection onto the (n,k)-hypersimplex.
 *
 * We look for the threshold t (in the units of z) with
 *     f(t) = sum_i clip((z_i - t) / tau, 0, 1) = k,
 * f being piecewise linear and nonincreasing with breakpoints z_i - tau and z_i.
 *
 * Outline (expected O(n), exact):
 *  1. For long rows, solve the same problem on a stratified random sample of the row; two
 *     sample solutions with k shifted by four standard errors give a bracket [tL, tR] that
 *     holds the answer with high probability.
 *  2. One pass over the row sorts every element relative to the bracket: always 0, always 1,
 *     always free (its contribution is then linear in t and kept as a count and a sum), or
 *     undetermined (a breakpoint inside the bracket). Only the undetermined ones are copied
 *     to the work buffer (a few percent of the row). If the bracket turns out not to hold
 *     the answer, a second pass with the side that does repairs it (rare, and still exact).
 *  3. Active-set Newton on the candidates: from the partition at a trial t, the root of its
 *     linear piece is the next trial; when two successive trials have the same partition the
 *     root is exact. Each pass also narrows the bracket and drops candidates whose status it
 *     fixes; if Newton leaves the bracket, a candidate's breakpoint is the pivot, so the
 *     candidate set shrinks every pass and the search ends.
 * So a long row costs one read pass (plus the write of p by the caller) and work on a small
 * fraction of it. Medium rows (see NEWTON_ROW) instead run Newton passes over the whole row
 * from the sample's root, certified exact by the nearest breakpoints around each step (two
 * or three passes); rows of up to SMALL_ROW elements go straight to step 3 with every
 * element a candidate.
 *
 * Precision: sums of free coordinates are taken relative to a reference point near the
 * answer, blocked, and the answer is returned as ref + d. When the free set at the root is
 * empty, the middle of the flat interval is returned, so that no coordinate sits on a
 * breakpoint. All of this is exact while every |z| is at most MODERATE tau: a breakpoint
 * z_i - tau or a trial point then rounds by far less than the accuracy promised for p. Other
 * rows (|z| / tau up to 1e308, or tau so small that offsets of a fraction of it would be
 * subnormal) are re-expressed around a frame point next to the threshold, where they become
 * rows of moderate magnitude with the same solution (solve_in_frame): the free coordinates
 * lie within one unit of each other, so their offsets from that point are exact-sized. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/project_internal.h"
#include "core/rows.h"

/* Rows up to this length skip sampling: one gather pass is as cheap as anything else. */
/* Rows up to SMALL_ROW are solved with every element a candidate; up to NEWTON_ROW by Newton
 * passes over the whole row from a sampled start; longer rows by the sampled bracket and one
 * classification pass (measured crossovers on AVX2). */
enum { SMALL_ROW = 64, NEWTON_ROW = 131072, SAMPLE_MAX = 65536, NEWTON_PASSES = 6 };
/* Sums are accumulated in blocks of this many terms and then added up, which keeps their
 * rounding error near (SUM_BLOCK + n / SUM_BLOCK) eps instead of n eps. */
enum { SUM_BLOCK = 1024 };
/* Rows with every |z| <= MODERATE tau are solved in the units of z (see moderate()); the
 * others around a frame point, with the window FRAME tau either side (see solve_in_frame). */
enum { MODERATE = 4096, FRAME = 64 };

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

/* Whether the solve in the units of z is exact for this row: every z and breakpoint is then
 * a double within MODERATE tau of 0, whose rounding moves a p_i by at most MODERATE eps. */
static int moderate(double lo, double hi, double tau)
{
    double limit = MODERATE * tau;
    return lo >= -limit && hi <= limit; /* false for NaN */
}

size_t hs_l2_work_len(size_t n)
{
    /* contiguous copy, candidates (+ spare slots for vector stores), the sample and a copy */
    return 2 * n + 4 + 2 * hs_l2_sample_len(n) + 1;
}

static inline double load(hs_row_view v, size_t i)
{
    ptrdiff_t off = (ptrdiff_t)i * v.stride;
    return v.is_float ? (double)((const float *)v.base)[off] : ((const double *)v.base)[off];
}

/* Statistics of one block against the bracket, in a loop the compiler vectorizes:
 * counts of settled ones and settled free, the sum of the free ones relative to ref, and the
 * block's minimum and maximum (non-finite values are caught from those and from the
 * candidates: a NaN fails every comparison and so is always kept as a candidate). */
typedef struct block_stats {
    double c1, cf, sf, lo, hi;
} block_stats;

static inline __attribute__((always_inline)) void block_scan(const double *b, size_t len,
                                                             const l2_state *st, double tau,
                                                             block_stats *o)
{
    double tL = st->tL, tR = st->tR, ref = st->ref;
    double c1 = 0, cf = 0, sf = 0, lo = o->lo, hi = o->hi;
#pragma omp simd reduction(+ : c1, cf, sf) reduction(min : lo) reduction(max : hi)
    for (size_t i = 0; i < len; i++) {
        double v = b[i];
        double one = v - tau >= tR ? 1.0 : 0.0;
        double fr = (v - tau <= tL ? 1.0 : 0.0) * (v >= tR ? 1.0 : 0.0);
        c1 += one;
        cf += fr;
        sf += fr * (v - ref);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    o->c1 += c1;
    o->cf += cf;
    o->sf += sf;
    o->lo = lo;
    o->hi = hi;
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

/* Portable classification of a contiguous double row (see classify_row). */
HS_MULTIVERSION
static size_t classify_plain(double *w, const double *z, size_t n, const l2_state *st,
                             double tau, block_stats *o)
{
    size_t m = 0;
    for (size_t b0 = 0; b0 < n; b0 += SUM_BLOCK) {
        size_t len = n - b0 < SUM_BLOCK ? n - b0 : SUM_BLOCK;
        block_stats ob = {0, 0, 0, o->lo, o->hi}; /* per-block partial sums keep rounding small */
        block_scan(z + b0, len, st, tau, &ob);
        o->c1 += ob.c1;
        o->cf += ob.cf;
        o->sf += ob.sf;
        o->lo = ob.lo;
        o->hi = ob.hi;
        m = block_keep(w, m, z + b0, len, st, tau);
    }
    return m;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HS_HAVE_AVX2_PATH 1

/* For each 4-bit mask of kept lanes, the 32-bit lane indices that move the kept doubles to
 * the front of a vector (a compress, which AVX2 lacks). */
static const int keep_perm[16][8] = {
    {0, 1, 2, 3, 4, 5, 6, 7}, {0, 1, 2, 3, 4, 5, 6, 7}, {2, 3, 0, 1, 4, 5, 6, 7},
    {0, 1, 2, 3, 4, 5, 6, 7}, {4, 5, 0, 1, 2, 3, 6, 7}, {0, 1, 4, 5, 2, 3, 6, 7},
    {2, 3, 4, 5, 0, 1, 6, 7}, {0, 1, 2, 3, 4, 5, 6, 7}, {6, 7, 0, 1, 2, 3, 4, 5},
    {0, 1, 6, 7, 2, 3, 4, 5}, {2, 3, 6, 7, 0, 1, 4, 5}, {0, 1, 2, 3, 6, 7, 4, 5},
    {4, 5, 6, 7, 0, 1, 2, 3}, {0, 1, 4, 5, 6, 7, 2, 3}, {2, 3, 4, 5, 6, 7, 0, 1},
    {0, 1, 2, 3, 4, 5, 6, 7}};

/* Sum of a vector's four lanes as (0 + 1) + (2 + 3). */
static inline __attribute__((always_inline, target("avx2"))) double hsum4(__m256d v)
{
    double l[4];
    _mm256_storeu_pd(l, v);
    return (l[0] + l[1]) + (l[2] + l[3]);
}

/* The classification pass with AVX2, one pass for everything: settled counts and sums per
 * block (same blocking as classify_plain), min/max, and the candidates compressed into w
 * without branches (a full vector is stored at w + m and m advances by the kept count, so
 * w needs 3 spare slots). z is a contiguous row of doubles or (is_float) floats. */
__attribute__((target("avx2,popcnt"))) static size_t classify_avx2(double *w, const void *z,
                                                                  int is_float, size_t n,
                                                                  const l2_state *st,
                                                                  double tau, block_stats *o)
{
    const __m256d vtL = _mm256_set1_pd(st->tL), vtR = _mm256_set1_pd(st->tR);
    const __m256d vtau = _mm256_set1_pd(tau), vref = _mm256_set1_pd(st->ref);
    const __m256d one = _mm256_set1_pd(1.0);
    __m256d lo = _mm256_set1_pd(o->lo), hi = _mm256_set1_pd(o->hi);
    size_t m = 0, es = is_float ? sizeof(float) : sizeof(double);
    for (size_t b0 = 0; b0 < n; b0 += SUM_BLOCK) {
        size_t len = n - b0 < SUM_BLOCK ? n - b0 : SUM_BLOCK, i = 0;
        __m256d c1 = _mm256_setzero_pd(), cf = c1, sf = c1;
        for (; i + 4 <= len; i += 4) {
            hs_prefetch_stream(z, b0 + i, es);
            __m256d v = is_float ? _mm256_cvtps_pd(_mm_loadu_ps((const float *)z + b0 + i))
                                 : _mm256_loadu_pd((const double *)z + b0 + i);
            __m256d a = _mm256_sub_pd(v, vtau);
            __m256d m_one = _mm256_cmp_pd(a, vtR, _CMP_GE_OQ);
            __m256d m_free = _mm256_and_pd(_mm256_cmp_pd(a, vtL, _CMP_LE_OQ),
                                           _mm256_cmp_pd(v, vtR, _CMP_GE_OQ));
            __m256d settled = _mm256_or_pd(_mm256_or_pd(m_one, m_free),
                                           _mm256_cmp_pd(v, vtL, _CMP_LE_OQ));
            c1 = _mm256_add_pd(c1, _mm256_and_pd(m_one, one));
            cf = _mm256_add_pd(cf, _mm256_and_pd(m_free, one));
            sf = _mm256_add_pd(sf, _mm256_and_pd(m_free, _mm256_sub_pd(v, vref)));
            lo = _mm256_min_pd(lo, v);
            hi = _mm256_max_pd(hi, v);
            int keep = ~_mm256_movemask_pd(settled) & 15;
            __m256i perm = _mm256_loadu_si256((const __m256i *)keep_perm[keep]);
            _mm256_storeu_pd(w + m, _mm256_castps_pd(
                                        _mm256_permutevar8x32_ps(_mm256_castpd_ps(v), perm)));
            m += (size_t)__builtin_popcount((unsigned)keep);
        }
        double tail[4];
        size_t nt = len - i;
        for (size_t j = 0; j < nt; j++)
            tail[j] = is_float ? (double)((const float *)z)[b0 + i + j]
                               : ((const double *)z)[b0 + i + j];
        block_stats ot = {0, 0, 0, o->lo, o->hi};
        block_scan(tail, nt, st, tau, &ot);
        m = block_keep(w, m, tail, nt, st, tau);
        o->c1 += hsum4(c1) + ot.c1;
        o->cf += hsum4(cf) + ot.cf;
        o->sf += hsum4(sf) + ot.sf;
        o->lo = ot.lo;
        o->hi = ot.hi;
    }
    double llo[4], lhi[4];
    _mm256_storeu_pd(llo, lo);
    _mm256_storeu_pd(lhi, hi);
    for (int j = 0; j < 4; j++) {
        o->lo = llo[j] < o->lo ? llo[j] : o->lo;
        o->hi = lhi[j] > o->hi ? lhi[j] : o->hi;
    }
    return m;
}
#endif

/* One pass over a contiguous row (doubles, or floats when is_float): candidates for the
 * state's bracket go to w (which needs n + 3 slots), settled elements into the state.
 * Returns the number of candidates and the row's min and max; fails with HS_ERR_NONFINITE if
 * the row holds NaN/Inf or z/tau overflows. */
static hs_status classify_row(size_t *len, double *w, l2_state *st, const void *z, int is_float,
                              size_t n, double tau, double *zmin, double *zmax)
{
    block_stats o = {0, 0, 0, INFINITY, -INFINITY};
    size_t m;
#ifdef HS_HAVE_AVX2_PATH
    if (hs_cpu_has_avx2())
        m = classify_avx2(w, z, is_float, n, st, tau, &o);
    else
#endif
        m = classify_plain(w, (const double *)z, n, st, tau, &o); /* callers convert floats */
    double chk = (o.lo / tau) * 0.0 + (o.hi / tau) * 0.0;
#pragma omp simd reduction(+ : chk)
    for (size_t i = 0; i < m; i++)
        chk += w[i] * 0.0; /* NaN are always candidates */
    if (isnan(chk))
        return HS_ERR_NONFINITE;
    st->n_one += o.c1;
    st->n_free += o.cf;
    st->s_free += o.sf;
    *len = m;
    *zmin = o.lo;
    *zmax = o.hi;
    return HS_OK;
}

/* Partition of the candidates at a trial point t, plus the settled constants. */
typedef struct trial {
    double one, nfree, sum; /* counts of ones and free, sum of (z_i - ref) over free */
} trial;

/* Moves candidates settled by the state's bracket into the constants (compacting w), and
 * evaluates the partition of the remaining ones at t. */
HS_MULTIVERSION
static void filter_and_eval_plain(double *w, size_t *len, l2_state *st, double tau, double t, trial *e)
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

#ifdef HS_HAVE_AVX2_PATH
/* filter_and_eval with AVX2 in one loop: the compress of classify_avx2 runs in place (stores
 * never pass the element being read). Same comparisons, same blocking of the sums. A block's
 * last partial vector is padded with -inf, which every bracket settles as 0 (counted nowhere),
 * and its kept elements are copied out one by one, so nothing is written past *len. */
__attribute__((target("avx2,popcnt"))) static void filter_and_eval_avx2(double *w, size_t *len,
                                                                       l2_state *st, double tau,
                                                                       double t, trial *e)
{
    const __m256d vtL = _mm256_set1_pd(st->tL), vtR = _mm256_set1_pd(st->tR);
    const __m256d vtau = _mm256_set1_pd(tau), vref = _mm256_set1_pd(st->ref);
    const __m256d vt = _mm256_set1_pd(t), one = _mm256_set1_pd(1.0);
    __m256d c1 = _mm256_setzero_pd(), cf = c1, e1 = c1, ef = c1;
    double sf = 0, es = 0;
    size_t n = *len, m = 0;
    for (size_t b0 = 0; b0 < n; b0 += SUM_BLOCK) {
        size_t b1 = n - b0 < SUM_BLOCK ? n : b0 + SUM_BLOCK;
        __m256d sfv = _mm256_setzero_pd(), esv = sfv;
        for (size_t i = b0; i < b1; i += 4) {
            double pad[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY}, out[4];
            int full = i + 4 <= b1;
            if (!full)
                memcpy(pad, w + i, (b1 - i) * sizeof *w);
            __m256d v = _mm256_loadu_pd(full ? w + i : pad), a = _mm256_sub_pd(v, vtau);
            __m256d m_one = _mm256_cmp_pd(a, vtR, _CMP_GE_OQ);
            __m256d m_free = _mm256_and_pd(_mm256_cmp_pd(a, vtL, _CMP_LE_OQ),
                                           _mm256_cmp_pd(v, vtR, _CMP_GE_OQ));
            __m256d settled = _mm256_or_pd(_mm256_or_pd(m_one, m_free),
                                           _mm256_cmp_pd(v, vtL, _CMP_LE_OQ));
            __m256d d = _mm256_sub_pd(v, vref);
            c1 = _mm256_add_pd(c1, _mm256_and_pd(m_one, one));
            cf = _mm256_add_pd(cf, _mm256_and_pd(m_free, one));
            sfv = _mm256_add_pd(sfv, _mm256_and_pd(m_free, d));
            __m256d h_one = _mm256_andnot_pd(settled, _mm256_cmp_pd(a, vt, _CMP_GE_OQ));
            __m256d h_free = _mm256_andnot_pd(_mm256_or_pd(settled, h_one),
                                              _mm256_cmp_pd(v, vt, _CMP_GT_OQ));
            e1 = _mm256_add_pd(e1, _mm256_and_pd(h_one, one));
            ef = _mm256_add_pd(ef, _mm256_and_pd(h_free, one));
            esv = _mm256_add_pd(esv, _mm256_and_pd(h_free, d));
            int keep = ~_mm256_movemask_pd(settled) & 15;
            size_t kept = (size_t)__builtin_popcount((unsigned)keep);
            __m256i perm = _mm256_loadu_si256((const __m256i *)keep_perm[keep]);
            __m256d packed = _mm256_castps_pd(_mm256_permutevar8x32_ps(_mm256_castpd_ps(v), perm));
            if (full) {
                _mm256_storeu_pd(w + m, packed);
            } else {
                _mm256_storeu_pd(out, packed);
                memcpy(w + m, out, kept * sizeof *w);
            }
            m += kept;
        }
        sf += hsum4(sfv);
        es += hsum4(esv);
    }
    *len = m;
    st->n_one += hsum4(c1);
    st->n_free += hsum4(cf);
    st->s_free += sf;
    e->one = st->n_one + hsum4(e1);
    e->nfree = st->n_free + hsum4(ef);
    e->sum = st->s_free + es;
}
#endif

static void filter_and_eval(double *w, size_t *len, l2_state *st, double tau, double t, trial *e)
{
#ifdef HS_HAVE_AVX2_PATH
    if (hs_cpu_has_avx2()) {
        filter_and_eval_avx2(w, len, st, tau, t, e);
        return;
    }
#endif
    filter_and_eval_plain(w, len, st, tau, t, e);
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

/* Partition of the whole row at t: ones, free count and sum of (z_i - ref) over the free
 * ones, plus the check of the row's range (see range_gate). Vectorized, blocked sums. */
typedef struct row_eval {
    double one, nfree, sum, bad;
    /* The partition at t holds on (dn, up): up is the nearest breakpoint above t at which an
     * element changes class, dn the nearest below. */
    double dn, up;
} row_eval;

/* Factors c1, c2 with (z * c1) * c2 overflowing exactly when |z| exceeds about `limit`
 * (limit >= 2^-900): the row's range is checked inside the evaluation pass at the cost of
 * one multiply, without the registers a running min and max would take. */
typedef struct range_gate {
    double c1, c2;
} range_gate;

static range_gate make_gate(double limit)
{
    range_gate g = {1.0, DBL_MAX / limit};
    if (limit < 1.0) {
        g.c1 = 1.0 / limit;
        g.c2 = DBL_MAX;
    }
    return g;
}

static inline __attribute__((always_inline)) void block_eval(const double *b, size_t len, double t,
                                                             double tau, double ref,
                                                             range_gate gate, row_eval *o)
{
    double e1 = 0, ef = 0, es = 0, bad = 0, dn = -INFINITY, up = INFINITY;
    for (size_t i = 0; i < len; i++) {
        double v = b[i], a = v - tau;
        double x = (v * gate.c1) * gate.c2;
        bad += x - x; /* NaN iff v is NaN/Inf or beyond the gate's limit */
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

#ifdef HS_HAVE_AVX2_PATH

/* block_eval with AVX2 intrinsics: same arithmetic, four lanes at a time (the products with
 * the 0/1 mask are exact, so the lanes' sums match the scalar loop up to summation order). */
__attribute__((target("avx2"))) static void block_eval_avx2(const double *b, size_t len,
                                                            double t, double tau, double ref,
                                                            range_gate gate, row_eval *o)
{
    const __m256d vt = _mm256_set1_pd(t), vtau = _mm256_set1_pd(tau);
    const __m256d vref = _mm256_set1_pd(ref), vc1 = _mm256_set1_pd(gate.c1);
    const __m256d vc2 = _mm256_set1_pd(gate.c2);
    const __m256d one = _mm256_set1_pd(1.0), inf = _mm256_set1_pd(INFINITY);
    const __m256d ninf = _mm256_set1_pd(-INFINITY);
    __m256d e1 = _mm256_setzero_pd(), ef = e1, es = e1, bad = e1, up = inf, dn = ninf;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        __m256d v = _mm256_loadu_pd(b + i), a = _mm256_sub_pd(v, vtau);
        __m256d x = _mm256_mul_pd(_mm256_mul_pd(v, vc1), vc2);
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
    block_eval(b + i, len - i, t, tau, ref, gate, &tail);
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

static row_eval eval_row(hs_row_view z, double t, double tau, double ref, range_gate gate)
{
    double buf[SUM_BLOCK];
    row_eval o = {0, 0, 0, 0, -INFINITY, INFINITY};
    int avx2 = hs_cpu_has_avx2();
    for (size_t b0 = 0; b0 < z.n; b0 += SUM_BLOCK) {
        size_t len = z.n - b0 < SUM_BLOCK ? z.n - b0 : SUM_BLOCK;
        const double *b = row_block(z, b0, len, buf);
#ifdef HS_HAVE_AVX2_PATH
        if (avx2) {
            block_eval_avx2(b, len, t, tau, ref, gate, &o);
            continue;
        }
#endif
        (void)avx2;
        block_eval(b, len, t, tau, ref, gate, &o);
    }
    return o;
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

/* When free coordinates were folded into (count, sum relative to ref) far from the root, the
 * offset carries up to eps (|d| / tau + 1) times the growth of the sum over them (their
 * count, or SUM_BLOCK + count / SUM_BLOCK for the blocked sums) of error per coordinate. Up to
 * what |d| = 8 tau gives, that is within the accuracy promised for each p_i (see
 * hs_project_d); beyond, one more pass recomputes the offset from differences z_i - t that
 * are as small as tau p_i. Rare: it needs a far reference point and many free coordinates. */
static void refine_if_imprecise(double *ref, double *d, hs_row_view z, const l2_state *st,
                                double k, double tau)
{
    double blocked = SUM_BLOCK + st->n_free / SUM_BLOCK;
    double growth = st->n_free < blocked ? st->n_free : blocked;
    if (st->n_free == 0 || (fabs(*d) / tau + 1) * growth <= 9 * blocked)
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

/* The sample costs about its size m in work, the candidates about n / sqrt(m) (the bracket
 * narrows as 1 / sqrt(m)): m near n^(2/3) balances the two. */
size_t hs_l2_sample_len(size_t n)
{
    if (n <= SMALL_ROW)
        return 0;
    size_t m = (size_t)cbrt((double)n * (double)n);
    m = n / 16 < m ? n / 16 : m;
    return m < SAMPLE_MAX ? m : SAMPLE_MAX;
}

size_t hs_l2_sample_pos(size_t i, size_t m, size_t n)
{
    size_t s0 = (size_t)((double)i * (double)n / (double)m);
    size_t s1 = (size_t)((double)(i + 1) * (double)n / (double)m);
    uint64_t h = (uint64_t)i * 0x9E3779B97F4A7C15u;
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9u;
    h ^= h >> 29;
    return s0 + (size_t)(((h >> 32) * (uint64_t)(s1 - s0)) >> 32);
}

/* Stratified sample: one element from each of m equal strata of the row (m <= n / 16).
 * Unlike a regular grid, this cannot alias with periodic data: the sample's f is an unbiased
 * estimate of f / (n / m) for every input. Returns min and max of the sample. The elements
 * are scattered over the row, so they are prefetched some strata ahead. */
static inline __attribute__((always_inline)) void take_sample(double *s, size_t m, const void *z,
                                                              int is_float, size_t n, double *lo,
                                                              double *hi)
{
    enum { AHEAD = 16 };
    size_t es = is_float ? sizeof(float) : sizeof(double);
    const char *zb = (const char *)z;
    double a = INFINITY, b = -INFINITY;
    for (size_t i = 0; i < m; i++) {
        if (i + AHEAD < m)
            __builtin_prefetch(zb + es * hs_l2_sample_pos(i + AHEAD, m, n));
        size_t j = hs_l2_sample_pos(i, m, n);
        double v = is_float ? (double)((const float *)z)[j] : ((const double *)z)[j];
        s[i] = v;
        a = v < a ? v : a;
        b = v > b ? v : b;
    }
    *lo = a;
    *hi = b;
}

/* Root of the sample's f for a target ks, searched in [tL, tR]; -inf/+inf when ks is at or
 * beyond the ends (the row's root may then lie outside the sample's range). scratch holds m
 * doubles. */
static double sample_root(const double *s, double *scratch, size_t m, double ks, double tau,
                          double tL, double tR)
{
    if (ks >= (double)m)
        return -INFINITY;
    if (ks <= 0)
        return INFINITY;
    memcpy(scratch, s, m * sizeof *s);
    l2_state st = {tL, tR, 0.5 * (tL + tR), 0, 0, 0};
    size_t len = m;
    l2_root r = solve_candidates(scratch, &len, &st, ks, tau);
    return st.ref + r.d;
}

/* f at tL and at tR from the settled constants and the candidates (infinite ends: n, 0). */
static void bracket_values(const double *w, size_t len, const l2_state *st, double tau,
                           size_t n, double *fL, double *fR)
{
    double tL = st->tL, tR = st->tR, inv_tau = 1.0 / tau, sL = 0, sR = 0;
    int finL = isfinite(tL), finR = isfinite(tR);
    double cL = finL ? tL : 0, cR = finR ? tR : 0;
#pragma omp simd reduction(+ : sL, sR)
    for (size_t i = 0; i < len; i++) {
        double pl = (w[i] - cL) * inv_tau, pr = (w[i] - cR) * inv_tau;
        sL += pl < 0 ? 0 : (pl > 1 ? 1 : pl);
        sR += pr < 0 ? 0 : (pr > 1 ? 1 : pr);
    }
    double lin = st->n_free > 0 ? 1.0 : 0.0;
    *fL = finL ? st->n_one + lin * (st->s_free - st->n_free * (tL - st->ref)) * inv_tau + sL
               : (double)n;
    *fR = finR ? st->n_one + lin * (st->s_free - st->n_free * (tR - st->ref)) * inv_tau + sR : 0;
}

/* Step 3: the exact root among the candidates w[0..len) of a valid bracket in *st, returned
 * as (ref, d) relative to a point near the root whenever the sums could have cost precision. */
static void search_candidates(double *ref, double *d, double *w, size_t len, l2_state *st,
                              hs_row_view z, double k, double tau)
{
    *ref = st->ref;
    l2_root r = solve_candidates(w, &len, st, k, tau);
    *d = r.d;
    if (r.flat) {
        center_flat_root(ref, d, z, tau, r.t);
    } else {
        recenter(ref, d, w, len, st, k, tau);
        refine_if_imprecise(ref, d, z, st, k, tau);
    }
}

/* Newton over the whole row from t (the reference point), one vectorized pass per step. Two
 * successive steps with the same partition certify the root exactly, and so does a step that
 * no breakpoint separates from its trial point. Returns 1 with the root in (ref, d), 0 if it
 * gave up (then *st holds the bracket it narrowed), -1 if some z is not finite or, with gate
 * set, the row is not of moderate magnitude (without it: if some z * (1/tau) overflows). */
static inline __attribute__((always_inline)) int newton_row(double *ref, double *d, l2_state *st,
                                                            hs_row_view z, double k, double tau,
                                                            double t, int gate)
{
    double prev_one = -1, prev_free = -1, prev_d = 0;
    range_gate rg = gate ? make_gate(MODERATE * tau) : (range_gate){1.0, 1.0 / tau};
    *st = (l2_state){-INFINITY, INFINITY, t, 0, 0, 0};
    for (int pass = 0; pass < NEWTON_PASSES; pass++) {
        row_eval e = eval_row(z, t, tau, st->ref, rg);
        if (isnan(e.bad))
            return -1;
        if (e.one == prev_one && e.nfree == prev_free) {
            *ref = st->ref;
            *d = prev_d;
            refine_if_imprecise_eval(ref, d, z, e, k, tau);
            return 1;
        }
        double f = e.one + (e.sum - e.nfree * (t - st->ref)) / tau;
        if (f == k || (e.nfree == 0 && e.one == k)) {
            *ref = st->ref;
            *d = t - st->ref;
            if (e.nfree == 0)
                center_flat_root(ref, d, z, tau, t);
            return 1;
        }
        if (f > k)
            st->tL = t;
        else
            st->tR = t;
        if (e.nfree == 0)
            return 0; /* Newton has no slope here */
        double dn = (e.sum - tau * (k - e.one)) / e.nfree, next = st->ref + dn;
        if (next > e.dn && next < e.up) {
            /* No element changes class between t and next: next is the exact root. */
            *ref = st->ref;
            *d = dn;
            refine_if_imprecise_eval(ref, d, z, e, k, tau);
            return 1;
        }
        if (!(next > st->tL && next < st->tR))
            return 0;
        prev_one = e.one;
        prev_free = e.nfree;
        prev_d = dn;
        t = next;
    }
    return 0;
}

static hs_status l2_row(double *ref, double *d, double *scale, hs_row_view z, double k,
                        double tau, double *work, int gate);

/* One block of solve_in_frame's pass: u = (v - f) * sc for the contiguous doubles b; those
 * in [lo, hi] are appended to w, those above hi counted in *ones. Returns the new length of
 * w; *bad becomes NaN if some v is not finite, *vmax the largest |v| (finite v). */
typedef struct window {
    double f, sc, lo, hi;
} window;

static inline __attribute__((always_inline)) size_t window_block_plain(double *w, size_t m,
                                                                       const double *b,
                                                                       size_t len, window wn,
                                                                       size_t *ones, double *bad,
                                                                       double *vmax)
{
    for (size_t i = 0; i < len; i++) {
        double v = b[i], u = (v - wn.f) * wn.sc, a = fabs(v);
        *bad += v * 0.0;
        *vmax = a > *vmax ? a : *vmax;
        *ones += u > wn.hi; /* branch-free: above and below are equally likely */
        w[m] = u;
        m += (u >= wn.lo) & (u <= wn.hi);
    }
    return m;
}

#ifdef HS_HAVE_AVX2_PATH
/* window_block_plain four lanes at a time, kept values compressed as in classify_avx2 (w needs
 * 3 spare slots). */
__attribute__((target("avx2,popcnt"))) static size_t window_block_avx2(double *w, size_t m,
                                                                      const double *b,
                                                                      size_t len, window wn,
                                                                      size_t *ones, double *bad,
                                                                      double *vmax)
{
    const __m256d vf = _mm256_set1_pd(wn.f), vsc = _mm256_set1_pd(wn.sc);
    const __m256d vlo = _mm256_set1_pd(wn.lo), vhi = _mm256_set1_pd(wn.hi);
    const __m256d zero = _mm256_setzero_pd(), sign = _mm256_set1_pd(-0.0);
    __m256d vbad = zero, vmx = zero;
    size_t i = 0, above = 0;
    for (; i + 4 <= len; i += 4) {
        __m256d v = _mm256_loadu_pd(b + i);
        __m256d u = _mm256_mul_pd(_mm256_sub_pd(v, vf), vsc);
        vbad = _mm256_add_pd(vbad, _mm256_mul_pd(v, zero));
        vmx = _mm256_max_pd(vmx, _mm256_andnot_pd(sign, v));
        above += (size_t)__builtin_popcount((unsigned)_mm256_movemask_pd(
            _mm256_cmp_pd(u, vhi, _CMP_GT_OQ)));
        int keep = _mm256_movemask_pd(_mm256_and_pd(_mm256_cmp_pd(u, vlo, _CMP_GE_OQ),
                                                    _mm256_cmp_pd(u, vhi, _CMP_LE_OQ)));
        __m256i perm = _mm256_loadu_si256((const __m256i *)keep_perm[keep]);
        _mm256_storeu_pd(w + m, _mm256_castps_pd(
                                    _mm256_permutevar8x32_ps(_mm256_castpd_ps(u), perm)));
        m += (size_t)__builtin_popcount((unsigned)keep);
    }
    *ones += above;
    *bad += hsum4(vbad);
    double lm[4];
    _mm256_storeu_pd(lm, vmx);
    for (int j = 0; j < 4; j++)
        *vmax = lm[j] > *vmax ? lm[j] : *vmax;
    return window_block_plain(w, m, b + i, len - i, wn, ones, bad, vmax);
}
#endif

/* The row re-expressed around a frame point f within a few tau of the threshold. With
 * u_i = (z_i - f) * scale, a coordinate with u_i < -FRAME tau is 0 and one with
 * u_i > (FRAME + 1) tau is 1 as long as the root stays within FRAME tau of f; the others form
 * a row of moderate magnitude (usually a small part of the row) whose coordinates near the
 * root carry one rounding relative to their own small size. Its root r, for k less the ones,
 * gives the row's threshold (f * scale + r) / scale exactly at any magnitude of z/tau. f is
 * first the sample's root f0 (when finite); if r then falls outside the window, f becomes the
 * (floor(k)+1)-th largest z, which always lies within tau of a root. orig: the caller's row
 * (any stride, float or double). Expected O(n): a pass or two over the row, a selection at
 * most, and a moderate solve of the window. Also checks that every z_i / tau is finite. */
static hs_status solve_in_frame(double *ref, double *d, double *scale, hs_row_view orig,
                                double k, double tau, double *work, double f0)
{
    size_t n = orig.n;
    double sc = hs_tau_scale(tau), taus = tau * sc, w = FRAME * taus;
    /* |z| below this cannot overflow z / tau; at or above it the quotient decides */
    const double safe = tau * DBL_MAX * (1.0 - 0x1p-50);
    for (int attempt = 0; attempt < 2; attempt++) {
        double f = f0;
        if (attempt == 1 || !isfinite(f)) {
            double *s = work + n; /* the candidates' slots are free until the solve below */
            for (size_t i = 0; i < n; i++)
                s[i] = load(orig, i);
            size_t K = (size_t)floor(k) + 1; /* 0 < k < n here */
            hs_select_top(s, n, K);
            f = s[0];
            for (size_t i = 1; i < K; i++)
                f = s[i] < f ? s[i] : f;
            attempt = 1;
        }
        size_t m = 0, ones = 0;
        window wn = {f, sc, -w, w + taus};
        double buf[SUM_BLOCK];
        for (size_t b0 = 0; b0 < n; b0 += SUM_BLOCK) {
            size_t len = n - b0 < SUM_BLOCK ? n - b0 : SUM_BLOCK;
            const double *b = row_block(orig, b0, len, buf);
            double bad = 0, vmax = 0;
#ifdef HS_HAVE_AVX2_PATH
            if (hs_cpu_has_avx2())
                m = window_block_avx2(work, m, b, len, wn, &ones, &bad, &vmax);
            else
#endif
                m = window_block_plain(work, m, b, len, wn, &ones, &bad, &vmax);
            if (isnan(bad))
                return HS_ERR_NONFINITE;
            for (size_t i = 0; vmax >= safe && i < len; i++) /* rare: near overflow */
                if (!isfinite(b[i] / tau))
                    return HS_ERR_NONFINITE;
        }
        double kw = k - (double)ones, r = 0;
        if (!(kw >= 0 && kw <= (double)m))
            continue; /* the root is outside the window */
        if (m > 0) {
            hs_row_view uv = {work, 1, 0, m};
            double uref, ud, us;
            hs_status s = l2_row(&uref, &ud, &us, uv, kw, taus, work, 0);
            if (s != HS_OK)
                return s;
            r = uref + ud;
        }
        if (attempt == 1 || (r >= -w && r <= w)) {
            *ref = f * sc;
            *d = r;
            *scale = sc;
            return HS_OK;
        }
    }
    return HS_OK; /* not reached: the second attempt always returns */
}

hs_status hs_l2_fast_row(double *ref, double *d, double *scale, hs_row_view z, double k,
                         double tau, double *work)
{
    return l2_row(ref, d, scale, z, k, tau, work, 1);
}

/* gate: rows not of moderate magnitude (and extreme tau) go to solve_in_frame; 0 for the rows
 * solve_in_frame itself builds. take_sample and newton_row are inlined here, which keeps the
 * per-row cost of medium rows what it was before the gate existed. */
static hs_status l2_row(double *ref, double *d, double *scale, hs_row_view z, double k,
                        double tau, double *work, int gate)
{
    size_t n = z.n, len;
    double zmin, zmax;
    hs_status s;
    hs_row_view orig = z;
    *d = 0;
    *scale = 1;
    /* Strided rows are copied once to contiguous doubles (and so are float rows without
     * AVX2): the classification then streams through memory with vector loads. */
    int is_float = z.is_float;
    const void *base = z.base;
    if (z.stride != 1 || (is_float && !hs_cpu_has_avx2())) {
        for (size_t i = 0; i < n; i++)
            work[i] = load(z, i);
        base = work;
        is_float = 0;
        z.base = work;
        z.is_float = 0;
        z.stride = 1;
    }
    double *cand = work + n;

    if (k == 0 || k == (double)n) {
        /* Only the range and the finiteness check are needed: a bracket at +inf settles
         * every finite element (as 0) and leaves no candidate but NaN. */
        l2_state none = {INFINITY, INFINITY, 0, 0, 0, 0};
        if ((s = classify_row(&len, cand, &none, base, is_float, n, tau, &zmin, &zmax)))
            return s;
        if (k == 0) {
            *ref = zmax; /* every p_i = clip((z_i - zmax)/tau) = 0 */
        } else {
            *ref = zmin; /* every p_i = clip((z_i - zmin + tau)/tau) = 1 */
            *d = -tau;
        }
        return HS_OK;
    }
    if (gate && hs_tau_scale(tau) != 1.0)
        return solve_in_frame(ref, d, scale, orig, k, tau, work, NAN);
    /* A row found not to be of moderate magnitude is still solved in the units of z, and the
     * result, accurate to about the rounding of z, is the frame point of solve_in_frame. */
    int mod = 1;
    if (n <= SMALL_ROW) {
        /* Short rows: the whole row is the candidate set. */
        l2_state all = {-INFINITY, INFINITY, 0, 0, 0, 0};
        if ((s = classify_row(&len, cand, &all, base, is_float, n, tau, &zmin, &zmax)))
            return s;
        mod = !gate || moderate(zmin, zmax, tau);
        l2_state st = {zmin - tau, zmax, 0.5 * (zmin + zmax), 0, 0, 0};
        search_candidates(ref, d, cand, len, &st, z, k, tau);
        return mod ? HS_OK : solve_in_frame(ref, d, scale, orig, k, tau, work, *ref + *d);
    }

    size_t m = hs_l2_sample_len(n);
    double *sample = cand + n + 4, *scratch = sample + m;
    double slo, shi;
    take_sample(sample, m, base, is_float, n, &slo, &shi);
    double q = k / (double)n, ks = k * (double)m / (double)n;
    double t0 = sample_root(sample, scratch, m, ks, tau, slo - tau, shi);
    mod = !gate || moderate(slo, shi, tau);
    if (n <= NEWTON_ROW && isfinite(t0)) {
        /* Medium rows: a few passes over the whole row beat the bracket's bookkeeping. */
        l2_state nst;
        int ok = newton_row(ref, d, &nst, z, k, tau, t0, mod && gate);
        if (ok < 0 && mod && gate) { /* non-finite or not moderate: again, for an estimate */
            mod = 0;
            ok = newton_row(ref, d, &nst, z, k, tau, t0, 0);
        }
        if (ok < 0) /* some z * (1/tau) is not finite: solve_in_frame checks z / tau */
            return gate ? solve_in_frame(ref, d, scale, orig, k, tau, work, NAN)
                        : HS_ERR_NONFINITE;
        if (ok > 0)
            return mod ? HS_OK : solve_in_frame(ref, d, scale, orig, k, tau, work, *ref + *d);
    }

    /* 1. A stratified sample brackets the root with high probability: the sample's roots for
     * k shifted by four standard errors of the sampled f (Bhatia-Davis bounds the variance of
     * a [0,1] term with mean q by q (1 - q)), plus two for ties and rounding. */
    double delta = 4.0 * sqrt((double)m * q * (1.0 - q)) + 2.0;
    /* Sums of the always-free coordinates are taken relative to the sample's own root t0:
     * terms z_i - ref then stay about as small as tau p_i, which keeps their rounding error
     * far below the k * 1e-12 the result promises (a bracket end can be much farther away,
     * e.g. for nearly equal z with tiny p_i). The bracket ends are searched on either side. */
    double tL = sample_root(sample, scratch, m, ks + delta, tau, slo - tau, t0);
    double tR = sample_root(sample, scratch, m, ks - delta, tau, t0, shi);
    if (!(tL <= t0 && t0 <= tR)) /* NaN from non-finite data (caught below) */
        tL = -INFINITY, tR = INFINITY;
    double mid = t0;
    if (!(mid > tL && mid < tR))
        mid = isfinite(tL) ? (isfinite(tR) ? 0.5 * (tL + tR) : tL) : (isfinite(tR) ? tR : 0);

    /* 2. One pass classifies the row against the bracket; only elements with a breakpoint
     * inside it are copied. */
    l2_state st = {tL, tR, mid, 0, 0, 0};
    if ((s = classify_row(&len, cand, &st, base, is_float, n, tau, &zmin, &zmax)))
        return s;
    mod = mod && (!gate || moderate(zmin, zmax, tau));
    double fL, fR;
    bracket_values(cand, len, &st, tau, n, &fL, &fR);
    if (!(fL >= k && fR <= k)) {
        /* The sample misled us (rare): classify again with the side that holds the root,
         * closed by the row's range. */
        l2_state st2 = {fL < k ? zmin - tau : tR, fL < k ? tL : zmax, 0, 0, 0, 0};
        st2.tL = isfinite(st2.tL) ? st2.tL : zmin - tau;
        st2.tR = isfinite(st2.tR) ? st2.tR : zmax;
        st2.ref = 0.5 * (st2.tL + st2.tR);
        st = st2;
        if ((s = classify_row(&len, cand, &st, base, is_float, n, tau, &zmin, &zmax)))
            return s;
    } else {
        st.tL = isfinite(tL) ? tL : zmin - tau;
        st.tR = isfinite(tR) ? tR : zmax;
    }

    /* 3. Exact search among the candidates. */
    search_candidates(ref, d, cand, len, &st, z, k, tau);
    return mod ? HS_OK : solve_in_frame(ref, d, scale, orig, k, tau, work, *ref + *d);
}
