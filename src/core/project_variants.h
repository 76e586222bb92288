/* Internal: exact row solvers of the two non-Euclidean regularizations of the
 * soft-binary-argmax@k operator (see hs_regularization in include/hypersimplex.h).
 * Called per row by the operator in project.c; the VJPs live in project_backward.c. */
#ifndef HS_CORE_PROJECT_VARIANTS_H
#define HS_CORE_PROJECT_VARIANTS_H

#include <stddef.h>

#include "hypersimplex.h"

/* Both solvers share one contract.
 * z (n) contiguous: the scores of one row, with x = z / tau finite for every element
 * (tau > 0 with 1 / tau finite); 0 <= k <= n. The solvers form x_i - x_j as (z_i - z_j) / tau,
 * never z / tau itself, so p is that of the exact quotients. Writes p (n) contiguous; p may
 * alias z. theta: the row's threshold (p_i = min(1, exp(x_i - theta)) for KL,
 * p_i = sigmoid(x_i - theta) for entropy); for k == 0 theta = +inf and p = 0 exactly, for
 * k == n theta = -inf and p = 1 exactly.
 * n_free: KL -> #{i : p_i < 1}; entropy -> #{i : 0 < p_i < 1} (as evaluated in double).
 * Exact to double rounding: the loops stop on a certificate (KL: the optimality conditions
 * of the sorted active set; entropy: the bracket around theta cannot shrink any more), never
 * after a fixed iteration count. Returns HS_OK, or HS_ERR_NOMEM (p untouched) when the
 * work buffer cannot be allocated. */
hs_status hs_kl_solve_row(double *p /* (n) */, double *theta, size_t *n_free,
                          const double *z /* (n) */, size_t n, double k, double tau);
hs_status hs_entropy_solve_row(double *p /* (n) */, double *theta, size_t *n_free,
                               const double *z /* (n) */, size_t n, double k, double tau);

#endif
