/* Internal: pieces shared by the HyperSimplex losses (loss.c) and the baselines
 * (loss_baselines.c). Arrays are float or double as told by is_float. */
#ifndef HS_CORE_LOSS_INTERNAL_H
#define HS_CORE_LOSS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hypersimplex.h"
#include "hypersimplex/loss.h"

static inline double hs_loss_load(const void *a, size_t i, int is_float)
{
    return is_float ? (double)((const float *)a)[i] : ((const double *)a)[i];
}

static inline void hs_loss_store(void *a, size_t i, int is_float, double v)
{
    if (is_float) {
        ((float *)a)[i] = (float)v;
    } else {
        ((double *)a)[i] = v;
    }
}

/* Checks sizes: B, C >= 1 and B*C doubles without overflow. */
hs_status hs_loss_check_size(size_t B, size_t C);
/* Checks sizes (as hs_loss_check_size) and every label in [0, C), with a message
 * naming the first offending index. */
hs_status hs_loss_check_batch(const int32_t *labels, size_t B, size_t C);
/* Checks every logit is finite; the message names the first offending [b][c]. */
hs_status hs_loss_check_finite(const void *logits, size_t B, size_t C, int is_float);

/* Baselines: value into *loss and, if dlogits != NULL, the gradient. Inputs already checked
 * by hs_loss_check_batch and hs_loss_check_finite. Never fail. */
void hs_loss_cross_entropy(double *loss, void *dlogits, const void *logits,
                           const int32_t *labels, size_t B, size_t C, int is_float);
void hs_loss_hinge(double *loss, void *dlogits, const void *logits, const int32_t *labels,
                   size_t B, size_t C, int is_float);
void hs_loss_mse_softmax(double *loss, void *dlogits, const void *logits,
                         const int32_t *labels, size_t B, size_t C, int sum_reduction,
                         int is_float);

#endif
