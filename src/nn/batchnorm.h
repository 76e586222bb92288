/* Internal: training-mode batch normalization (optionally fused with the following ReLU) with
 * the batch statistics and the parameter-gradient sums accumulated in double.
 *
 * Why not oneDNN's: oneDNN 2.6 accumulates each channel's sums in one float lane, one element
 * after another, so their rounding error grows with the number of elements summed, batch x
 * height x width (6.4 million per channel for the paper's first layers at batch 8192). The
 * batch mean and variance, and the sums of the backward pass (d beta = sum dy, d gamma =
 * sum dy x_hat), then lose several digits at the large batches of the paper's study, and the
 * error grows with the batch (measured by scripts/check_authors_protocol.py against PyTorch).
 * Here every sum runs in double: the result is correct to float precision at any batch size.
 *
 * Layout: any 4-D f32 activation whose channels are either plain or blocked by cb along the
 * channel dimension (nchw, nhwc, nChw8c, nChw16c): element (n, c, h, w) at
 *     n * sn + (c / cb) * sc + h * sh + w * sw + c % cb.
 * Channels of the last block beyond C (padding of a blocked layout) are written as 0.
 *
 * Forward (training): mean and biased variance of every channel over (n, h, w), then
 *     y = (x - mean) * (gamma / sqrt(var + eps)) + beta,   y = max(y, 0) if relu.
 * Backward: g = dy where the forward's output was > 0 (relu; recomputed from x with the same
 * float arithmetic as the forward, so no mask is stored), else dy;
 *     d beta = sum g,  d gamma = sum g x_hat,
 *     dx = gamma inv (g - d beta / M - x_hat d gamma / M),  x_hat = (x - mean) inv,
 *     inv = 1 / sqrt(var + eps), M = N H W.
 * Threads: OpenMP over channel blocks; every channel's sums run in one fixed order, so the
 * results do not depend on the thread count. */
#ifndef HS_NN_BATCHNORM_H
#define HS_NN_BATCHNORM_H

#include <stddef.h>

#include "hypersimplex.h"

typedef struct hs_bn_layout {
    size_t N, C, H, W;
    size_t cb;              /* channel block (1: plain) */
    size_t sn, sc, sh, sw;  /* element strides of n, channel block, h, w */
} hs_bn_layout;

/* The per-channel state the forward leaves for the backward (C entries each). */
typedef struct hs_bn_state {
    double *mean, *inv;     /* batch mean, 1 / sqrt(var + eps) */
    float *mean_f, *scale_f; /* the forward's float constants: mean, gamma * inv */
} hs_bn_state;

/* Training forward. mean_var (2 x C, may be NULL) receives the batch mean and biased variance
 * as floats; st (arrays of C) receives the state for the backward. y must not alias x.
 * Errors: HS_ERR_NULL, HS_ERR_SIZE (a zero dimension, cb not 1..64). */
hs_status hs_bn_train_forward(float *y, const float *x, const hs_bn_layout *l, const float *gamma,
                              const float *beta, double eps, int relu, float *mean_var,
                              const hs_bn_state *st);

/* Backward of the last hs_bn_train_forward on the same x (st as it left it). dx may equal dy
 * (in place) or be NULL (only the parameter gradients). dgamma, dbeta (C) are overwritten. */
hs_status hs_bn_train_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                               const float *x, const hs_bn_layout *l, const float *gamma,
                               const float *beta, int relu, const hs_bn_state *st);

#endif
