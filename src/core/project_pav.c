/* The paper's algorithm, kept as the reference solver and test oracle: the (n,k)-hypersimplex
 * is the permutahedron of w = (1,...,1, k - floor(k), 0,...,0), and the projection onto a
 * permutahedron is p = s - v unsorted, where s is x sorted in decreasing order and v is the
 * non-increasing isotonic regression of s - w (pool adjacent violators). O(n log n). */
#include <math.h>
#include <stdlib.h>

#include "core/project_internal.h"

typedef struct {
    double value;
    size_t index;
} keyed;

static int by_value_desc(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->value > y->value)
        return -1;
    if (x->value < y->value)
        return 1;
    return (x->index > y->index) - (x->index < y->index); /* stable for ties */
}

hs_status hs_l2_pav_row(double *p, double *theta, size_t *n_free, const double *x, size_t n,
                        double k)
{
    keyed *s = malloc(n * sizeof *s);
    double *bsum = malloc(n * sizeof *bsum);
    size_t *bcount = malloc(n * sizeof *bcount);
    if (!s || !bsum || !bcount) {
        free(s);
        free(bsum);
        free(bcount);
        return HS_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        s[i].value = x[i];
        s[i].index = i;
    }
    qsort(s, n, sizeof *s, by_value_desc);

    /* The projection commutes with shifting x, so work relative to the value at position k:
     * the pooled sums then stay small near the threshold and keep their precision. */
    double whole = floor(k), frac = k - whole;
    double c = s[(size_t)whole < n ? (size_t)whole : n - 1].value;
    for (size_t i = 0; i < n; i++)
        s[i].value -= c;
    size_t nb = 0; /* blocks of pooled values: sum and count */
    for (size_t i = 0; i < n; i++) {
        double w = (double)i < whole ? 1.0 : ((double)i == whole ? frac : 0.0);
        bsum[nb] = s[i].value - w;
        bcount[nb] = 1;
        nb++;
        /* v must be non-increasing: pool while a block's mean exceeds its predecessor's. */
        while (nb > 1 && bsum[nb - 1] * (double)bcount[nb - 2] >
                             bsum[nb - 2] * (double)bcount[nb - 1]) {
            bsum[nb - 2] += bsum[nb - 1];
            bcount[nb - 2] += bcount[nb - 1];
            nb--;
        }
    }

    size_t i = 0, nfree = 0;
    double theta_sum = 0, lo_one = INFINITY, hi_zero = -INFINITY;
    for (size_t b = 0; b < nb; b++) {
        double v = bsum[b] / (double)bcount[b];
        for (size_t j = 0; j < bcount[b]; j++, i++) {
            double q = s[i].value - v;
            q = q < 0 ? 0 : (q > 1 ? 1 : q);
            p[s[i].index] = q;
            if (q > 0 && q < 1) {
                nfree++;
                theta_sum += s[i].value - q;
            }
            if (q >= 1 && s[i].value - 1 < lo_one)
                lo_one = s[i].value - 1;
            if (q <= 0 && s[i].value > hi_zero)
                hi_zero = s[i].value;
        }
    }
    if (nfree > 0) {
        *theta = c + theta_sum / (double)nfree;
    } else {
        /* No free coordinate: any theta between the largest 0 and the smallest 1 works. */
        *theta = c + (isinf(lo_one) ? hi_zero : (isinf(hi_zero) ? lo_one : 0.5 * (lo_one + hi_zero)));
    }
    *n_free = nfree;
    free(s);
    free(bsum);
    free(bcount);
    return HS_OK;
}
