/* Internal: Winograd F(4x4, 3x3) convolution (3x3 kernel, stride 1, zero padding 1) on
 * oneDNN's blocked activation layout nChw8c (tag aBcd8b): element (n, c, h, w) at
 * ((n * C/8 + c/8) * H + h) * W + w) * 8 + c % 8. Channel counts are multiples of 8; any
 * H, W >= 1. Weights are PyTorch's plain OIHW floats (cout x cin x 3 x 3).
 *
 * Every convolution walks the batch's 4x4 output tiles in chunks of a few dozen per thread:
 * the chunk's input tiles are transformed (B^T d B, 6x6) into V[36][tiles][cin] (in cache),
 * 36 small GEMMs with the transformed weights U[36][cin][cout] give M[36][tiles][cout], and
 * A^T m A turns each back into a 4x4 output tile. The GEMMs use an AVX2+FMA micro-kernel when
 * the CPU has it, else portable C.
 *
 * Threads: OpenMP over chunks (HS_HAVE_OPENMP). Results are deterministic for a given thread
 * count (the weight gradient sums per-thread partials in thread order). */
#ifndef HS_NN_WINOGRAD_H
#define HS_NN_WINOGRAD_H

#include <stddef.h>

#include "hypersimplex.h"

/* Scratch memory reused across calls (grown as needed; 64-byte aligned). */
typedef struct hs_wino_ws {
    float *buf;
    size_t cap; /* floats */
} hs_wino_ws;

void hs_wino_ws_free(hs_wino_ws *ws);

/* Tests: on != 0 makes the following calls use the portable C kernels even on an AVX2 CPU. */
void hs_wino_force_portable(int on);

/* Floats of a transformed weight tensor: 36 * cin * cout. */
size_t hs_wino_u_size(size_t cin, size_t cout);

/* U for the forward y = conv(x, w) from w (cout x cin x 3 x 3). */
void hs_wino_weights_fwd(float *U, const float *w, size_t cin, size_t cout);
/* U for the data gradient dx = conv_transpose(dy, w): the forward's U of the 180-degree
 * rotated, channel-transposed kernel (cin x cout x 3 x 3). */
void hs_wino_weights_bwd_data(float *U, const float *w, size_t cin, size_t cout);

/* y (N x cout x H x W, nChw8c) = conv(x (N x cin x H x W, nChw8c)) + b with U from
 * hs_wino_weights_fwd(w, cin, cout); b (cout) may be NULL. y must not overlap x. */
hs_status hs_wino_forward(float *y, const float *x, const float *U, const float *b, size_t N,
                          size_t cin, size_t cout, size_t H, size_t W, hs_wino_ws *ws);
/* dx (N x cin x H x W) from dy (N x cout x H x W) with U from hs_wino_weights_bwd_data. */
hs_status hs_wino_backward_data(float *dx, const float *dy, const float *U, size_t N, size_t cin,
                                size_t cout, size_t H, size_t W, hs_wino_ws *ws);
/* dw (cout x cin x 3 x 3, overwritten) = sum over n, h, w of dy (x) x-patch; db (cout,
 * overwritten, may be NULL) = sum of dy. */
hs_status hs_wino_backward_weights(float *dw, float *db, const float *x, const float *dy,
                                   size_t N, size_t cin, size_t cout, size_t H, size_t W,
                                   hs_wino_ws *ws);

/* Not Winograd: the weight gradient of a 3x3 convolution with ONE input channel (the first
 * layer), x plain (N x 1 x H x W), dy nChw8c (N x cout x H x W), dw (cout x 1 x 3 x 3), db
 * (cout, may be NULL); a direct loop, threads over output channel blocks. */
hs_status hs_wino_cin1_backward_weights(float *dw, float *db, const float *x, const float *dy,
                                        size_t N, size_t cout, size_t H, size_t W,
                                        hs_wino_ws *ws);

#endif
