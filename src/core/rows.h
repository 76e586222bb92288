/* Internal: addressing one row of an hs_proj layout, for float or double data. */
#ifndef HS_CORE_ROWS_H
#define HS_CORE_ROWS_H

#include <stddef.h>

#include "core/project_internal.h"
#include "hypersimplex.h"

/* Hot loops are compiled twice, for AVX2 and for the baseline, and picked at load time. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define HS_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define HS_MULTIVERSION
#endif

/* Nonzero: the AVX2 code paths are off even on an AVX2 CPU (set by tests through
 * hs_core_force_portable, so that the portable code is exercised on the build machine). */
extern int hs_core_portable;
void hs_core_force_portable(int on);

/* Whether this CPU runs the AVX2 code paths (asked once per translation unit). */
static inline int hs_cpu_has_avx2(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    static int cached = -1;
    if (hs_core_portable)
        return 0;
    if (cached < 0)
        cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    return cached;
#else
    return 0;
#endif
}

/* Validates d (layout, enums, every k and tau) with a detailed hs_last_error message. */
hs_status hs_proj_validate(const hs_proj *d);

/* Threads to use for `work` elements spread over d->rows rows (1 when not worth it). */
int hs_thread_count(const hs_proj *d, size_t work);

static inline double hs_row_k(const hs_proj *d, size_t r)
{
    return d->k_rows ? d->k_rows[r] : d->k;
}

static inline double hs_row_tau(const hs_proj *d, size_t r)
{
    return d->tau_rows ? d->tau_rows[r] : d->tau;
}

static inline ptrdiff_t hs_row_offset(const hs_proj *d, size_t r)
{
    return (ptrdiff_t)r * d->row_stride;
}

static inline hs_row_view hs_row_of(const void *base, const hs_proj *d, size_t r, int is_float)
{
    hs_row_view v;
    ptrdiff_t off = hs_row_offset(d, r);
    v.base = is_float ? (const void *)((const float *)base + off)
                      : (const void *)((const double *)base + off);
    v.stride = d->elem_stride;
    v.is_float = is_float;
    v.n = d->n;
    return v;
}

static inline double hs_row_load(hs_row_view v, size_t i)
{
    ptrdiff_t off = (ptrdiff_t)i * v.stride;
    return v.is_float ? (double)((const float *)v.base)[off] : ((const double *)v.base)[off];
}

/* p_i = clip(((z_i * scale - ref) - off) / (tau * scale), 0, 1) for row r (threshold
 * t = (ref + off) / scale, see hs_l2_fast_row). Returns |{i : 0 < p_i < 1}| as written. */
size_t hs_write_clipped(void *p, const void *z, const hs_proj *d, size_t r, int is_float,
                        double ref, double off, double scale, double tau);

/* Row r of p from a contiguous double buffer x (n). */
void hs_row_store_all(void *p, const hs_proj *d, size_t r, int is_float, const double *x);

#endif
