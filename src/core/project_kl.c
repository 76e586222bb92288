/* Exact row solver of the KL-regularized soft-binary-argmax@k ("capped softmax"):
 *     p_i = min(1, exp(x_i - theta)),   sum_i p_i = k.
 *
 * Method. Let s_0 >= s_1 >= ... be x in decreasing order. The capped coordinates (p = 1)
 * are a prefix of that order, of length m < k; if the first m are capped, the free ones
 * satisfy
 *     sum_{i >= m} exp(s_i - theta) = k - m   =>   theta_m = s_m + L_m - log(k - m),
 * with L_m = log sum_{i >= m} exp(s_i - s_m) in [0, log n], the log-sum-exp of the suffix
 * measured from its own top. The solution is the m whose theta_m is consistent with its own
 * split, s_{m-1} >= theta_m >= s_m: then sum min(1, exp(x - theta_m)) = k, and since that
 * sum is strictly decreasing in theta wherever it is below n, theta_m is the unique root.
 *
 * Only m < K = ceil(k) can be capped, so only the K largest coordinates need an order: they
 * are selected (expected O(n), three-way quickselect; a full sort if the selection degrades)
 * and sorted (O(K log K)); the others enter through one sum T = sum exp(s_i - s_{K-1}) over
 * i >= K (every term <= 1). Then a backward recurrence over the top K,
 *     L_{K-1} = log1p(T),   L_m = log1p(exp((s_{m+1} - s_m) + L_{m+1})),
 * never overflows (the argument of exp is at most log n). No tolerance, no iteration count.
 *
 * Precision at large |x|: the split test and p are evaluated as offsets from the anchor s_m,
 *     p_i = min(1, (k - m) exp(x_i - s_m) / S_m),   S_m = sum_{i >= m} exp(s_i - s_m),
 * with S_m summed directly (compensated) rather than through exp(L_m), and never through
 * theta itself. Every difference x_i - x_j is formed as (z_i - z_j) / tau from the scores, so
 * neither the rounding of theta nor that of z / tau enters: z = 2^40 + small or |z / tau| ~
 * 1e300 lose nothing (z_i - z_j is exact for the coordinates near the anchor). */
#include <math.h>
#include <stdlib.h>

#include "core/project_internal.h"
#include "core/project_variants.h"

static int hs_cmp_desc(const void *pa, const void *pb)
{
    double a = *(const double *)pa;
    double b = *(const double *)pb;
    return (a < b) - (a > b);
}

static void hs_swap(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

void hs_select_top(double *s, size_t n, size_t K)
{
    size_t lo = 0, hi = n, rounds = 0, limit = 16;
    for (size_t m = n; m > 1; m >>= 1) {
        limit += 2;
    }
    while (hi - lo > 1) {
        if (++rounds > limit) {
            qsort(s + lo, hi - lo, sizeof *s, hs_cmp_desc);
            return;
        }
        /* median of three as pivot */
        double a = s[lo], b = s[lo + (hi - lo) / 2], c = s[hi - 1];
        double pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        /* [lo, gt): > pivot, [gt, i): == pivot, [lt, hi): < pivot */
        size_t gt = lo, i = lo, lt = hi;
        while (i < lt) {
            if (s[i] > pivot) {
                hs_swap(&s[i++], &s[gt++]);
            } else if (s[i] < pivot) {
                hs_swap(&s[i], &s[--lt]);
            } else {
                i++;
            }
        }
        if (K <= gt) {
            hi = gt; /* the boundary lies among the larger ones */
        } else if (K <= lt) {
            return; /* the boundary falls inside the block equal to the pivot */
        } else {
            lo = lt;
        }
    }
}

/* Rows up to this length work on the stack; longer rows use one malloc. */
#define HS_KL_STACK_N 256

hs_status hs_kl_solve_row(double *p, double *theta, size_t *n_free, const double *z, size_t n,
                          double k, double tau)
{
    double stack_buf[2 * HS_KL_STACK_N];
    double *buf = stack_buf;
    double *s, *lse;
    size_t i, m, K, best_m = 0, free_count = 0;
    double best_violation = INFINITY, rest, anchor, offset, free_sum, comp, scale, tail, tcomp;

    if (k <= 0.0) {
        for (i = 0; i < n; i++) {
            p[i] = 0.0;
        }
        *theta = INFINITY;
        *n_free = n;
        return HS_OK;
    }
    if (k >= (double)n) {
        for (i = 0; i < n; i++) {
            p[i] = 1.0;
        }
        *theta = -INFINITY;
        *n_free = 0;
        return HS_OK;
    }

    if (n > HS_KL_STACK_N) {
        buf = malloc(2 * n * sizeof *buf);
        if (buf == NULL) {
            return HS_ERR_NOMEM;
        }
    }
    s = buf;
    lse = buf + n; /* lse[m] = L_m for m < K */
    for (i = 0; i < n; i++) {
        s[i] = z[i];
    }
    /* K = ceil(k): the candidates for capping are m = 0 .. K - 1 (0 < k < n, so 1 <= K <= n). */
    K = (size_t)ceil(k);
    if (K < n) {
        hs_select_top(s, n, K);
    }
    qsort(s, K, sizeof *s, hs_cmp_desc);

    /* Tail below the top K, relative to s_{K-1} (every term <= 1), compensated. */
    tail = 0.0;
    tcomp = 0.0;
    for (i = K; i < n; i++) {
        double term = exp((s[i] - s[K - 1]) / tau), sum = tail + term;
        tcomp += tail >= term ? (tail - sum) + term : (term - sum) + tail;
        tail = sum;
    }
    tail += tcomp;
    lse[K - 1] = log1p(tail);
    for (i = K - 1; i-- > 0;) {
        lse[i] = log1p(exp((s[i + 1] - s[i]) / tau + lse[i + 1]));
    }

    for (m = 0; m < K; m++) {
        /* s_m <= theta_m <= s_{m-1} as offsets from the anchor s_m:
         * theta_m - s_m = L_m - log(k - m). */
        double off = lse[m] - log(k - (double)m);
        double violation = 0.0;
        if (off < 0.0) {
            violation -= off; /* the top free coordinate would exceed 1 */
        }
        if (m > 0 && (s[m - 1] - s[m]) / tau < off) {
            violation += off - (s[m - 1] - s[m]) / tau; /* the lowest capped one below 1 */
        }
        if (violation < best_violation) {
            best_violation = violation;
            best_m = m;
            if (violation == 0.0) {
                break;
            }
        }
    }
    /* A split always exists in exact arithmetic; when rounding blurs a tie between s_m and
     * theta_m, the least violated split is kept, which then differs by rounding only. */
    rest = k - (double)best_m;
    anchor = s[best_m];
    /* Final normalizer S_m summed directly (and compensated) over the sorted free part plus
     * the tail: then the free p sum to k - m to within a few ulps, whereas exp(L_m) carries
     * the recurrence's accumulated rounding. */
    free_sum = 0.0;
    comp = 0.0;
    for (i = K; i-- > best_m;) {
        double term = exp((s[i] - anchor) / tau), sum = free_sum + term; /* Neumaier */
        comp += free_sum >= term ? (free_sum - sum) + term : (term - sum) + free_sum;
        free_sum = sum;
    }
    if (tail > 0.0) {
        double term = tail * exp((s[K - 1] - anchor) / tau), sum = free_sum + term;
        comp += free_sum >= term ? (free_sum - sum) + term : (term - sum) + free_sum;
        free_sum = sum;
    }
    free_sum += comp;
    offset = log(free_sum);
    scale = rest / free_sum;

    if (buf != stack_buf) {
        free(buf);
    }
    for (i = 0; i < n; i++) {
        double v = scale * exp((z[i] - anchor) / tau);
        v = v < 1.0 ? v : 1.0;
        p[i] = v;
        free_count += v < 1.0;
    }
    *theta = anchor / tau + (offset - log(rest));
    *n_free = free_count;
    return HS_OK;
}
