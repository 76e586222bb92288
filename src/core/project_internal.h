/* Internal interface between the operator's front end (project.c: validation, layout,
 * threads) and its row solvers. */
#ifndef HS_CORE_PROJECT_INTERNAL_H
#define HS_CORE_PROJECT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hypersimplex.h"

/* Streaming passes prefetch this many bytes ahead, once per 64-byte line. On a 2-core Xeon VM
 * the hardware prefetcher alone left the classification pass over a row of 10^7 doubles at
 * under half the bandwidth memcpy gets there (forward 4.4 ns/element, 2.7 with this). A
 * prefetch never faults, so running past the end of an array is harmless; the address is
 * formed as an integer so that no out-of-bounds pointer is ever computed. */
enum { HS_PREFETCH_AHEAD = 8192 };
/* Call for every element index i a loop visits of an array of es-byte elements: issues the
 * prefetch when i starts a 64-byte line (relative to a). */
static inline void hs_prefetch_stream(const void *a, size_t i, size_t es)
{
    size_t byte = i * es;
    if ((byte & 63) == 0)
        __builtin_prefetch((const void *)((uintptr_t)a + byte + HS_PREFETCH_AHEAD));
}

/* Power of two by which rows with an extreme tau are scaled (z and tau alike, which leaves
 * z/tau unchanged): a tiny tau so that offsets of a fraction of it stay far above the
 * subnormal range, a huge one so that multiples of it (tau times a count) stay finite. */
static inline double hs_tau_scale(double tau)
{
    return tau < 0x1p-900 ? 0x1p600 : (tau > 0x1p900 ? 0x1p-600 : 1.0);
}

/* A read-only view of one row of the caller's data: float or double, any element stride. */
typedef struct hs_row_view {
    const void *base;   /* address of element 0 of the row */
    ptrdiff_t stride;   /* elements between consecutive entries */
    int is_float;       /* 1: float, 0: double */
    size_t n;
} hs_row_view;

/* Fast L2 solver. Finds t (in the units of z) with sum_i clip((z_i - t)/tau, 0, 1) = k,
 * reading the row in place, and returns it as t = (ref + d) / scale: then
 *     p_i = clip(((z_i * scale - ref) - d) / (tau * scale), 0, 1)
 * evaluated this way is exact to a few ulps at any magnitude of z/tau (ref lies within a few
 * tau of the threshold; scale is a power of two, 1 unless tau is so small that offsets from
 * ref would fall below the doubles' range). work: scratch for at least hs_l2_work_len(n)
 * doubles. Returns HS_ERR_NONFINITE if the row holds NaN/Inf or some z_i/tau overflows.
 * (The free-set size is counted when p is written, in p's own precision.) */
size_t hs_l2_work_len(size_t n);
hs_status hs_l2_fast_row(double *ref, double *d, double *scale, hs_row_view z, double k,
                         double tau, double *work);
/* The fast solver's sample of a long row: its size (0 for rows solved without one) and the
 * position of element i (one pseudo-random element in each of m equal strata). Internal;
 * tests use them to build rows that mislead the sample. */
size_t hs_l2_sample_len(size_t n);
size_t hs_l2_sample_pos(size_t i, size_t m, size_t n);

/* Reference L2 solver (the paper's): sort + pool-adjacent-violators on x = z/tau, contiguous
 * z (n) with every z_i/tau finite and 1/tau finite. Works on (z_i - c)/tau for a score c next
 * to the threshold, so p is that of the exact quotients at any magnitude. Writes p (n) in the
 * original order (p may alias z); theta from the free coordinates (or a consistent value when
 * there are none). Returns HS_ERR_NOMEM on allocation failure. */
hs_status hs_l2_pav_row(double *p, double *theta, size_t *n_free, const double *z, size_t n,
                        double k, double tau);

/* Rearranges s (n) so that its K largest values come first (in no particular order),
 * 1 <= K <= n. Expected O(n) (three-way quickselect); a full sort if the selection degrades. */
void hs_select_top(double *s, size_t n, size_t K);

#endif
