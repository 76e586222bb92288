/*
 * hypersimplex: the soft-binary-argmax@k operator (Euclidean projection onto the
 * (n,k)-hypersimplex), its exact derivatives, and the HyperSimplex loss.
 *
 * This header is the public contract of the base library, libhypersimplex, which needs only
 * libm (and the OpenMP runtime unless built with HS_OPENMP=OFF): the operator here and the losses in hypersimplex/loss.h (included below). The other
 * layers are libraries of their own with a header each, same conventions:
 * hypersimplex/data.h, nn.h, train.h, study.h, gbrt.h; hypersimplex/all.h includes them all.
 * Conventions used everywhere:
 *   - Every exported name starts with hs_ / HS_.
 *   - Functions return hs_status; HS_OK is 0. hs_status_string() names a code,
 *     hs_last_error() gives the detailed message of the last failure in this thread.
 *   - The library never prints, never exits, never aborts on user input.
 *   - Arrays are described in a comment on each pointer: (rows x n) etc. Strides are
 *     in elements, not bytes. Sizes come last in argument lists, outputs first.
 *   - Units: k counts coordinates (a real number in [0, n]); tau is a temperature
 *     (same unit as the scores z).
 */
#ifndef HYPERSIMPLEX_H
#define HYPERSIMPLEX_H

#include <stddef.h>
#include <stdint.h>

#define HS_VERSION_MAJOR 0
#define HS_VERSION_MINOR 1
#define HS_VERSION_PATCH 0
#define HS_VERSION_STRING "0.1.0"

#if defined(_WIN32) && defined(HS_BUILD_SHARED)
#define HS_API __declspec(dllexport)
#elif defined(_WIN32) && defined(HS_USE_SHARED)
#define HS_API __declspec(dllimport)
#elif defined(__GNUC__)
#define HS_API __attribute__((visibility("default")))
#else
#define HS_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------- */
/* Status codes                                                              */
/* ------------------------------------------------------------------------- */

typedef enum hs_status {
    HS_OK = 0,
    HS_ERR_NULL = 1,        /* a required pointer is NULL */
    HS_ERR_SIZE = 2,        /* a size is zero, absurd, or overflows; bad strides */
    HS_ERR_K = 3,           /* k outside [0, n] or not finite */
    HS_ERR_TAU = 4,         /* tau <= 0 or not finite */
    HS_ERR_NONFINITE = 5,   /* NaN or +-Inf in input data */
    HS_ERR_ARG = 6,         /* another invalid argument (unknown enum value, bad option) */
    HS_ERR_LABEL = 7,       /* a class label outside [0, C) */
    HS_ERR_NOMEM = 8,       /* memory allocation failed */
    HS_ERR_IO = 9,          /* a file could not be opened, read, written, or renamed */
    HS_ERR_FORMAT = 10,     /* file content is malformed: magic, version, truncation, syntax */
    HS_ERR_BACKEND = 11,    /* a third-party library (oneDNN, XGBoost, GSL) reported an error */
    HS_ERR_DIVERGED = 12,   /* a computation produced NaN/Inf (e.g. the training loss) */
    HS_ERR_UNSUPPORTED = 13 /* feature not compiled in or not available for these inputs */
} hs_status;

/* Short fixed description of a status code (never NULL). */
HS_API const char *hs_status_string(hs_status s);

/* Detailed message of the last failing call in the calling thread (e.g. which row, which
 * element, which file and line). Every call that returns a status other than HS_OK sets it
 * before returning, so after a failure it describes that failure and never an earlier one.
 * Successful calls leave it unchanged: read it after a failure. Empty string if no call has
 * failed in this thread. Valid until the next failing call in the same thread. */
HS_API const char *hs_last_error(void);

/* Library version as a string, e.g. "0.1.0". */
HS_API const char *hs_version(void);

/* ------------------------------------------------------------------------- */
/* Soft-binary-argmax@k: projection onto the (n,k)-hypersimplex              */
/* ------------------------------------------------------------------------- */

/* Regularization of the operator. For x = z / tau:
 *   HS_REG_L2      p = argmin ||p - x||^2 over {p in [0,1]^n, sum p = k}
 *                    = clip(x - theta, 0, 1)                      (the paper's operator)
 *   HS_REG_KL      p_i = min(1, exp(x_i - theta)), sum p = k       (capped softmax)
 *   HS_REG_ENTROPY p_i = sigmoid(x_i - theta), sum p = k          (binary entropy, LML layer)
 * theta is the row's scalar, reported per row by the forward call. */
typedef enum hs_regularization {
    HS_REG_L2 = 0,
    HS_REG_KL = 1,
    HS_REG_ENTROPY = 2
} hs_regularization;

/* Solver for HS_REG_L2. The fast one is the default; the paper's sort + isotonic
 * regression (pool-adjacent-violators) is kept as the reference and test oracle.
 * The variants (KL, entropy) have one exact solver each and ignore this field. */
typedef enum hs_solver {
    HS_SOLVER_FAST = 0,     /* sort-free threshold search, expected O(n) */
    HS_SOLVER_SORT_PAV = 1  /* sort + pool-adjacent-violators, O(n log n) */
} hs_solver;

/* Names used on the command line and in files: regularizations "l2", "kl", "entropy";
 * solvers "fast", "pav" (parsing also takes "sort_pav", the Python bindings' name). Parsing
 * is strict (whole string, case-sensitive); on failure HS_ERR_ARG (HS_ERR_NULL for a NULL
 * argument) with the expected names in the message, and *out is untouched. The name
 * functions return "unknown" for an invalid value. */
HS_API hs_status hs_regularization_parse(hs_regularization *out, const char *name);
HS_API const char *hs_regularization_name(hs_regularization r);
HS_API hs_status hs_solver_parse(hs_solver *out, const char *name);
HS_API const char *hs_solver_name(hs_solver s);

/* Description of a batch of `rows` vectors of length `n` and the operator applied to each.
 * Build one with hs_proj_make() and adjust fields as needed.
 *
 * Layout: element j of row r lives at  base[r * row_stride + j * elem_stride].
 *   Contiguous rows (row-major rows x n):       row_stride = n, elem_stride = 1.
 *   Columns of a row-major B x C matrix:        rows = C, n = B, row_stride = 1, elem_stride = C.
 * All arrays passed with one hs_proj (z, p, g, outputs) share this layout. Strides may be
 * negative; two distinct (r, j) must not map to the same element.
 *
 * k:   the target sum, a real number in [0, n]. If k_rows is non-NULL it holds one k per row
 *      and the scalar k is ignored.
 * tau: the temperature, > 0. If tau_rows is non-NULL it holds one tau per row.
 */
typedef struct hs_proj {
    size_t rows;            /* number of vectors, >= 1 */
    size_t n;               /* length of each vector, >= 1 */
    ptrdiff_t row_stride;   /* elements between row starts */
    ptrdiff_t elem_stride;  /* elements between consecutive entries of one row, != 0 */
    double k;               /* target sum when k_rows == NULL */
    const double *k_rows;   /* (rows) per-row k, or NULL */
    double tau;             /* temperature when tau_rows == NULL */
    const double *tau_rows; /* (rows) per-row tau, or NULL */
    hs_regularization reg;  /* default HS_REG_L2 */
    hs_solver solver;       /* default HS_SOLVER_FAST */
    int threads;            /* OpenMP threads over rows: 0 = runtime default, 1 = serial */
} hs_proj;

/* Contiguous rows x n, scalar k and tau, L2, fast solver, default threads. */
HS_API hs_proj hs_proj_make(size_t rows, size_t n, double k, double tau);

/* Checks a description without touching data: NULL if valid, else a static message. */
HS_API const char *hs_proj_check(const hs_proj *d);

/* Forward. p (layout of d) receives the projection of x = z / tau for each row.
 * Exactness: x means the exact quotients z_i / tau (they are never rounded to doubles), and
 *   p is exact at every magnitude of x. With p* the exact result and n the row length,
 *       |p_i - p*_i| <= eps_n = 2^-38 + n 2^-50   for every i   (double output),
 *   hence |sum_i p_i - k| <= n eps_n; float output is that double result rounded to float
 *   (half a float ulp more per coordinate). The n term bounds the rounding of sums over the
 *   row. This holds for all solvers and regularizations, float and double, every layout, and
 *   any finite z and tau with no z_i / tau overflowing: z = 1e308, ties beyond 2^53, one huge
 *   score beside small ones, a tiny or subnormal tau. (The free coordinates of an L2 row lie
 *   within one unit of each other, so their offsets from a score next to the threshold are
 *   exact-sized; rows with every |z_i| <= 4096 tau are solved directly, others around such a
 *   score.)
 * theta (rows), optional: the row's threshold (see hs_regularization), rounded to double
 *   (from |theta| = 2^53 on that rounding can reach one unit, so p never goes through theta);
 *   for HS_REG_L2 with an empty free set it is any value consistent with p (p is still exact).
 * n_free (rows), optional: size of the free set S = {i : 0 < p_i < 1} (L2, KL) or n
 *   (entropy, whose p is interior unless k is 0 or n).
 * p may alias z (in place). Float inputs are processed in double internally.
 * Errors: HS_ERR_NULL, HS_ERR_SIZE, HS_ERR_K, HS_ERR_TAU, HS_ERR_NONFINITE (z has NaN/Inf, or
 * some z_i / tau overflows, i.e. rounds to +-inf in double: the only magnitude that fails),
 * HS_ERR_ARG, HS_ERR_NOMEM. On error, p is left unmodified. */
HS_API hs_status hs_project_d(double *p, double *theta, size_t *n_free,
                              const double *z, const hs_proj *d);
HS_API hs_status hs_project_f(float *p, double *theta, size_t *n_free,
                              const float *z, const hs_proj *d);

/* Backward, vector-Jacobian product: dz = J(z)^T g, with p the forward output for the
 * same d. For L2: dz = (1/tau) * 1_S * (g - mean_S g), S = {i : 0 < p_i < 1}; coordinates
 * clamped at 0 or 1 get exactly 0 (also when tied). Empty S gives dz = 0.
 * KL: dz = (1/tau) * 1_F * p * (g - <p,g>_F / sum_F p), F = {i : p_i < 1}.
 * Entropy: dz = (1/tau) * w * (g - <w,g> / sum w), w = p (1 - p).
 * The weights are read off p as given, so with p from hs_project_* the VJP is exact at every
 * magnitude as well (to the rounding of its two sums over the row); a dz whose exact value
 * exceeds DBL_MAX (|g| / tau beyond it) comes out as +-inf.
 * dz is overwritten (not accumulated); dz may alias g. O(n) per row. */
HS_API hs_status hs_project_vjp_d(double *dz, const double *p, const double *g,
                                  const hs_proj *d);
HS_API hs_status hs_project_vjp_f(float *dz, const float *p, const float *g,
                                  const hs_proj *d);

/* Forward-mode, Jacobian-vector product: dp = J(z) dz. J is symmetric for all three
 * regularizations, so this is the same map as the VJP; provided under its own name for
 * forward-mode callers. dp may alias dz. */
HS_API hs_status hs_project_jvp_d(double *dp, const double *p, const double *dz,
                                  const hs_proj *d);
HS_API hs_status hs_project_jvp_f(float *dp, const float *p, const float *dz,
                                  const hs_proj *d);

#ifdef __cplusplus
}
#endif

/* The losses are part of this contract (and of the base library). */
#include "hypersimplex/loss.h"

#endif /* HYPERSIMPLEX_H */
