/* The paper's algorithm, kept as the reference solver and test oracle: the (n,k)-hypersimplex
 * is the permutahedron of w = (1,...,1, k - floor(k), 0,...,0), and the projection onto a
 * permutahedron is p = s - v unsorted, where s is x sorted in decreasing order and v is the
 * non-increasing isotonic regression of s - w (pool adjacent violators). O(n log n).
 *
 * Exact at every magnitude of x = z / tau. The projection commutes with shifting x, so s is
 * measured from c / tau, c the (floor(k)+1)-th largest z, which lies within one unit of the
 * threshold: s_i = (z_i - c) / tau has a single rounding, relative to its own small size, for
 * every coordinate that can be free (the quotients z_i / tau themselves are never formed).
 * A pooled block keeps its first (largest) element as an anchor a and the compensated sum
 * of (s_i - a) - w_i: the free coordinates of a block lie within one unit of each other, so
 * those terms are exact-sized, and a single far element (a block of one) gets p = w exactly
 * instead of s - (s - w) rounded. */
#include <math.h>
#include <stdlib.h>

#include "core/project_internal.h"

typedef struct {
    double value;
    size_t index;
} keyed;

/* A pooled block: anchor, compensated sum of (s_i - anchor) - w_i, size. */
typedef struct {
    double anchor, sum, comp;
    size_t count;
} pav_block;

static int by_value_desc(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->value > y->value)
        return -1;
    if (x->value < y->value)
        return 1;
    return (x->index > y->index) - (x->index < y->index); /* stable for ties */
}

/* Neumaier's compensated addition of v to (*sum, *comp). */
static void add_compensated(double *sum, double *comp, double v)
{
    double t = *sum + v;
    *comp += fabs(*sum) >= fabs(v) ? (*sum - t) + v : (v - t) + *sum;
    *sum = t;
}

/* Mean of the block relative to its anchor: v = anchor + block_offset. */
static double block_offset(const pav_block *b)
{
    return (b->sum + b->comp) / (double)b->count;
}

/* Whether block b's mean exceeds that of the block a before it (a violation), compared with
 * the counts multiplied across instead of two divisions. */
static int violates(const pav_block *a, const pav_block *b)
{
    double ca = (double)a->count, cb = (double)b->count;
    double gap = b->anchor - a->anchor; /* <= 0: anchors are sorted */
    return gap * ca * cb + ((b->sum + b->comp) * ca - (a->sum + a->comp) * cb) > 0;
}

hs_status hs_l2_pav_row(double *p, double *theta, size_t *n_free, const double *z, size_t n,
                        double k, double tau)
{
    keyed *s = malloc(n * sizeof *s);
    pav_block *blk = malloc(n * sizeof *blk);
    if (!s || !blk) {
        free(s);
        free(blk);
        return HS_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        s[i].value = z[i];
        s[i].index = i;
    }
    qsort(s, n, sizeof *s, by_value_desc);

    double whole = floor(k), frac = k - whole;
    double c = s[(size_t)whole < n ? (size_t)whole : n - 1].value;
    /* Far coordinates are clamped: they stay 0 or 1, and block arithmetic stays finite. */
    const double far = 0x1p960;
    for (size_t i = 0; i < n; i++) {
        double v = (s[i].value - c) / tau;
        s[i].value = v < -far ? -far : (v > far ? far : v);
    }
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        double w = (double)i < whole ? 1.0 : ((double)i == whole ? frac : 0.0);
        blk[nb] = (pav_block){s[i].value, -w, 0.0, 1};
        nb++;
        /* v must be non-increasing: pool while a block's mean exceeds its predecessor's. */
        while (nb > 1 && violates(&blk[nb - 2], &blk[nb - 1])) {
            pav_block *a = &blk[nb - 2], *b = &blk[nb - 1];
            add_compensated(&a->sum, &a->comp, b->sum);
            add_compensated(&a->sum, &a->comp, b->comp);
            add_compensated(&a->sum, &a->comp, (double)b->count * (b->anchor - a->anchor));
            a->count += b->count;
            nb--;
        }
    }

    /* A block holding a free coordinate has its mean at the threshold (p = s - v there). */
    size_t i = 0, nfree = 0;
    double t = NAN, lo_one = INFINITY, hi_zero = -INFINITY;
    for (size_t b = 0; b < nb; b++) {
        double off = block_offset(&blk[b]);
        for (size_t j = 0; j < blk[b].count; j++, i++) {
            double q = (s[i].value - blk[b].anchor) - off;
            q = q < 0 ? 0 : (q > 1 ? 1 : q);
            p[s[i].index] = q;
            if (q > 0 && q < 1) {
                nfree++;
                t = blk[b].anchor + off; /* the threshold relative to c / tau */
            }
            if (q >= 1 && s[i].value - 1 < lo_one)
                lo_one = s[i].value - 1;
            if (q <= 0 && s[i].value > hi_zero)
                hi_zero = s[i].value;
        }
    }
    if (nfree == 0) {
        /* No free coordinate: any theta between the largest 0 and the smallest 1 works. */
        t = isinf(lo_one) ? hi_zero : (isinf(hi_zero) ? lo_one : 0.5 * (lo_one + hi_zero));
    }
    *theta = c / tau + t;
    *n_free = nfree;
    free(s);
    free(blk);
    return HS_OK;
}
