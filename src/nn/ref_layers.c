#include "nn/ref_layers.h"

#include <math.h>
#include <string.h>

void hs_ref_conv3x3_forward(double *y, const double *x, const double *w, const double *b, size_t N,
                            size_t ci, size_t co, size_t H, size_t W)
{
    for (size_t n = 0; n < N; n++)
        for (size_t o = 0; o < co; o++)
            for (size_t i = 0; i < H; i++)
                for (size_t j = 0; j < W; j++) {
                    double s = b ? b[o] : 0.0;
                    for (size_t c = 0; c < ci; c++)
                        for (size_t ki = 0; ki < 3; ki++)
                            for (size_t kj = 0; kj < 3; kj++) {
                                /* input row i + ki - 1, column j + kj - 1 */
                                if (i + ki < 1 || i + ki - 1 >= H || j + kj < 1 || j + kj - 1 >= W)
                                    continue;
                                s += w[((o * ci + c) * 3 + ki) * 3 + kj] *
                                     x[((n * ci + c) * H + i + ki - 1) * W + j + kj - 1];
                            }
                    y[((n * co + o) * H + i) * W + j] = s;
                }
}

void hs_ref_conv3x3_backward(double *dx, double *dw, double *db, const double *dy, const double *x,
                             const double *w, size_t N, size_t ci, size_t co, size_t H, size_t W)
{
    if (dx)
        memset(dx, 0, N * ci * H * W * sizeof *dx);
    memset(dw, 0, co * ci * 9 * sizeof *dw);
    if (db)
        memset(db, 0, co * sizeof *db);
    for (size_t n = 0; n < N; n++)
        for (size_t o = 0; o < co; o++)
            for (size_t i = 0; i < H; i++)
                for (size_t j = 0; j < W; j++) {
                    double g = dy[((n * co + o) * H + i) * W + j];
                    if (db)
                        db[o] += g;
                    for (size_t c = 0; c < ci; c++)
                        for (size_t ki = 0; ki < 3; ki++)
                            for (size_t kj = 0; kj < 3; kj++) {
                                if (i + ki < 1 || i + ki - 1 >= H || j + kj < 1 || j + kj - 1 >= W)
                                    continue;
                                size_t xi = ((n * ci + c) * H + i + ki - 1) * W + j + kj - 1;
                                size_t wi = ((o * ci + c) * 3 + ki) * 3 + kj;
                                dw[wi] += g * x[xi];
                                if (dx)
                                    dx[xi] += g * w[wi];
                            }
                }
}

void hs_ref_bn_forward_train(double *y, double *mean, double *var, const double *x,
                             const double *gamma, const double *beta, size_t N, size_t C,
                             size_t HW, double eps)
{
    double m = (double)(N * HW);
    for (size_t c = 0; c < C; c++) {
        double s = 0;
        for (size_t n = 0; n < N; n++)
            for (size_t k = 0; k < HW; k++)
                s += x[(n * C + c) * HW + k];
        double mu = s / m;
        double q = 0;
        for (size_t n = 0; n < N; n++)
            for (size_t k = 0; k < HW; k++) {
                double d = x[(n * C + c) * HW + k] - mu;
                q += d * d;
            }
        mean[c] = mu;
        var[c] = q / m;
    }
    hs_ref_bn_forward_eval(y, x, gamma, beta, mean, var, N, C, HW, eps);
}

void hs_ref_bn_forward_eval(double *y, const double *x, const double *gamma, const double *beta,
                            const double *mean, const double *var, size_t N, size_t C, size_t HW,
                            double eps)
{
    for (size_t c = 0; c < C; c++) {
        double inv = 1.0 / sqrt(var[c] + eps);
        for (size_t n = 0; n < N; n++)
            for (size_t k = 0; k < HW; k++) {
                size_t i = (n * C + c) * HW + k;
                y[i] = gamma[c] * (x[i] - mean[c]) * inv + beta[c];
            }
    }
}

void hs_ref_bn_backward(double *dx, double *dgamma, double *dbeta, const double *dy,
                        const double *x, const double *mean, const double *var,
                        const double *gamma, size_t N, size_t C, size_t HW, double eps)
{
    double m = (double)(N * HW);
    for (size_t c = 0; c < C; c++) {
        double inv = 1.0 / sqrt(var[c] + eps);
        double sdy = 0, sdyxh = 0;
        for (size_t n = 0; n < N; n++)
            for (size_t k = 0; k < HW; k++) {
                size_t i = (n * C + c) * HW + k;
                sdy += dy[i];
                sdyxh += dy[i] * (x[i] - mean[c]) * inv;
            }
        dgamma[c] = sdyxh;
        dbeta[c] = sdy;
        for (size_t n = 0; n < N; n++)
            for (size_t k = 0; k < HW; k++) {
                size_t i = (n * C + c) * HW + k;
                double xh = (x[i] - mean[c]) * inv;
                dx[i] = gamma[c] * inv * (dy[i] - sdy / m - xh * sdyxh / m);
            }
    }
}

void hs_ref_maxpool2_forward(double *y, const double *x, size_t N, size_t C, size_t H, size_t W)
{
    size_t Ho = H / 2, Wo = W / 2;
    for (size_t p = 0; p < N * C; p++)
        for (size_t i = 0; i < Ho; i++)
            for (size_t j = 0; j < Wo; j++) {
                const double *s = x + p * H * W + 2 * i * W + 2 * j;
                double v = s[0];
                if (s[1] > v)
                    v = s[1];
                if (s[W] > v)
                    v = s[W];
                if (s[W + 1] > v)
                    v = s[W + 1];
                y[p * Ho * Wo + i * Wo + j] = v;
            }
}

void hs_ref_maxpool2_backward(double *dx, const double *dy, const double *x, size_t N, size_t C,
                              size_t H, size_t W)
{
    size_t Ho = H / 2, Wo = W / 2;
    memset(dx, 0, N * C * H * W * sizeof *dx);
    for (size_t p = 0; p < N * C; p++)
        for (size_t i = 0; i < Ho; i++)
            for (size_t j = 0; j < Wo; j++) {
                size_t base = p * H * W + 2 * i * W + 2 * j;
                size_t cand[4] = {base, base + 1, base + W, base + W + 1};
                size_t best = cand[0];
                for (int t = 1; t < 4; t++)
                    if (x[cand[t]] > x[best])
                        best = cand[t];
                dx[best] += dy[p * Ho * Wo + i * Wo + j];
            }
}

void hs_ref_relu_forward(double *y, const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : 0.0;
}

void hs_ref_relu_backward(double *dx, const double *dy, const double *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = y[i] > 0 ? dy[i] : 0.0;
}

void hs_ref_linear_forward(double *y, const double *x, const double *w, const double *b, size_t N,
                           size_t in, size_t out)
{
    for (size_t n = 0; n < N; n++)
        for (size_t o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (size_t i = 0; i < in; i++)
                s += x[n * in + i] * w[o * in + i];
            y[n * out + o] = s;
        }
}

void hs_ref_linear_backward(double *dx, double *dw, double *db, const double *dy, const double *x,
                            const double *w, size_t N, size_t in, size_t out)
{
    if (dx)
        for (size_t n = 0; n < N; n++)
            for (size_t i = 0; i < in; i++) {
                double s = 0;
                for (size_t o = 0; o < out; o++)
                    s += dy[n * out + o] * w[o * in + i];
                dx[n * in + i] = s;
            }
    for (size_t o = 0; o < out; o++) {
        for (size_t i = 0; i < in; i++) {
            double s = 0;
            for (size_t n = 0; n < N; n++)
                s += dy[n * out + o] * x[n * in + i];
            dw[o * in + i] = s;
        }
        if (db) {
            double s = 0;
            for (size_t n = 0; n < N; n++)
                s += dy[n * out + o];
            db[o] = s;
        }
    }
}
