/* Internal: plain C reference layers (double precision, NCHW, contiguous). They are the test
 * oracle of the oneDNN engine: simple loops, no blocking, no threads.
 * Backward functions overwrite their outputs (dx, dw, db). */
#ifndef HS_NN_REF_LAYERS_H
#define HS_NN_REF_LAYERS_H

#include <stddef.h>

/* 3x3 convolution, stride 1, zero padding 1. w (co x ci x 3 x 3), b (co). */
void hs_ref_conv3x3_forward(double *y /* (N x co x H x W) */, const double *x /* (N x ci x H x W) */,
                            const double *w, const double *b, size_t N, size_t ci, size_t co,
                            size_t H, size_t W);
/* dx may be NULL (first layer). */
void hs_ref_conv3x3_backward(double *dx /* (N x ci x H x W) */, double *dw /* (co x ci x 3 x 3) */,
                             double *db /* (co) */, const double *dy /* (N x co x H x W) */,
                             const double *x, const double *w, size_t N, size_t ci, size_t co,
                             size_t H, size_t W);

/* Batch norm over N x H x W per channel, training mode: batch mean and biased variance are
 * written to mean, var (C); y = gamma (x - mean) / sqrt(var + eps) + beta. */
void hs_ref_bn_forward_train(double *y, double *mean /* (C) */, double *var /* (C) */,
                             const double *x /* (N x C x HW) */, const double *gamma,
                             const double *beta, size_t N, size_t C, size_t HW, double eps);
/* Evaluation mode with given statistics. */
void hs_ref_bn_forward_eval(double *y, const double *x, const double *gamma, const double *beta,
                            const double *mean, const double *var, size_t N, size_t C, size_t HW,
                            double eps);
/* Backward of the training-mode forward (statistics depend on x). */
void hs_ref_bn_backward(double *dx, double *dgamma, double *dbeta, const double *dy,
                        const double *x, const double *mean, const double *var,
                        const double *gamma, size_t N, size_t C, size_t HW, double eps);

/* 2x2 max pooling, stride 2 (H, W even). The first maximum of each window (row-major scan)
 * takes the gradient. */
void hs_ref_maxpool2_forward(double *y /* (N x C x H/2 x W/2) */, const double *x /* (N x C x H x W) */,
                             size_t N, size_t C, size_t H, size_t W);
void hs_ref_maxpool2_backward(double *dx, const double *dy, const double *x, size_t N, size_t C,
                              size_t H, size_t W);

/* ReLU. Backward uses the forward output y: dx = dy * (y > 0). dx may alias dy. */
void hs_ref_relu_forward(double *y, const double *x, size_t n);
void hs_ref_relu_backward(double *dx, const double *dy, const double *y, size_t n);

/* Linear: y = x w^T + b, x (N x in), w (out x in), b (out), y (N x out). dx may be NULL. */
void hs_ref_linear_forward(double *y, const double *x, const double *w, const double *b,
                           size_t N, size_t in, size_t out);
void hs_ref_linear_backward(double *dx, double *dw, double *db, const double *dy,
                            const double *x, const double *w, size_t N, size_t in, size_t out);

#endif
