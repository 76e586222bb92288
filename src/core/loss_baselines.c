/* The losses the HyperSimplex loss is compared with, in the paper's formulations:
 * softmax cross-entropy, multiclass hinge and MSE on the softmax probabilities.
 * Values are accumulated in double for float and double inputs alike. */
#include <math.h>

#include "core/loss_internal.h"

/* Writes exp(z_c - max z) into e (C) for one row and their sum into *sum_out (stable: the
 * largest term is exactly 1). */
static void hs_row_softmax_terms(double *sum_out, double *e, const void *logits, size_t row0,
                                 size_t C, int is_float)
{
    double m = hs_loss_load(logits, row0, is_float), s = 0.0;
    size_t c;
    for (c = 1; c < C; c++) {
        double v = hs_loss_load(logits, row0 + c, is_float);
        m = v > m ? v : m;
    }
    for (c = 0; c < C; c++) {
        e[c] = exp(hs_loss_load(logits, row0 + c, is_float) - m);
        s += e[c];
    }
    *sum_out = s;
}

/* Rows of up to this many classes keep their softmax on the stack; wider rows recompute
 * it in a second pass instead of allocating. */
#define HS_LOSS_STACK_C 64

void hs_loss_cross_entropy(double *loss, void *dlogits, const void *logits,
                           const int32_t *labels, size_t B, size_t C, int is_float)
{
    double total = 0.0, inv_b = 1.0 / (double)B;
    size_t b, c;
    for (b = 0; b < B; b++) {
        size_t row0 = b * C, y = (size_t)labels[b];
        double m = hs_loss_load(logits, row0, is_float), s = 0.0, lse;
        for (c = 1; c < C; c++) {
            double v = hs_loss_load(logits, row0 + c, is_float);
            m = v > m ? v : m;
        }
        if (dlogits) {
            /* The gradient buffer holds exp(z - m) until s is known. */
            for (c = 0; c < C; c++) {
                double e = exp(hs_loss_load(logits, row0 + c, is_float) - m);
                s += e;
                hs_loss_store(dlogits, row0 + c, is_float, e);
            }
        } else {
            for (c = 0; c < C; c++) {
                s += exp(hs_loss_load(logits, row0 + c, is_float) - m);
            }
        }
        lse = m + log(s);
        total += lse - hs_loss_load(logits, row0 + y, is_float);
        if (dlogits) {
            double scale = inv_b / s;
            /* Recomputing exp in the float case would cost more than re-reading the stored
             * (rounded) term, whose relative error 2^-24 is that of the float output. */
            for (c = 0; c < C; c++) {
                double g = hs_loss_load(dlogits, row0 + c, is_float) * scale;
                hs_loss_store(dlogits, row0 + c, is_float, c == y ? g - inv_b : g);
            }
        }
    }
    *loss = total * inv_b;
}

void hs_loss_hinge(double *loss, void *dlogits, const void *logits, const int32_t *labels,
                   size_t B, size_t C, int is_float)
{
    double total = 0.0, inv_b = 1.0 / (double)B;
    size_t b, c;
    for (b = 0; b < B; b++) {
        size_t row0 = b * C, y = (size_t)labels[b];
        double zy = hs_loss_load(logits, row0 + y, is_float);
        size_t active = 0;
        for (c = 0; c < C; c++) {
            double margin = 1.0 + hs_loss_load(logits, row0 + c, is_float) - zy;
            int on = c != y && margin > 0.0;
            if (on) {
                total += margin;
                active++;
            }
            if (dlogits) {
                hs_loss_store(dlogits, row0 + c, is_float, on ? inv_b : 0.0);
            }
        }
        if (dlogits) {
            hs_loss_store(dlogits, row0 + y, is_float, -(double)active * inv_b);
        }
    }
    *loss = total * inv_b;
}

void hs_loss_mse_softmax(double *loss, void *dlogits, const void *logits,
                         const int32_t *labels, size_t B, size_t C, int sum_reduction,
                         int is_float)
{
    double e[HS_LOSS_STACK_C];
    double total = 0.0;
    double scale = sum_reduction ? 1.0 : 1.0 / ((double)B * (double)C);
    size_t b, c;
    for (b = 0; b < B; b++) {
        size_t row0 = b * C, y = (size_t)labels[b];
        double s, inv_s, sg = 0.0;
        if (C <= HS_LOSS_STACK_C) {
            hs_row_softmax_terms(&s, e, logits, row0, C, is_float);
            inv_s = 1.0 / s;
            for (c = 0; c < C; c++) {
                double q = e[c] * inv_s, diff = q - (c == y ? 1.0 : 0.0);
                total += diff * diff;
                e[c] = q;
                sg += q * diff;
            }
            if (dlogits) {
                /* d/dz_c of sum_j (q_j - y_j)^2 = 2 q_c ((q_c - y_c) - sum_j q_j (q_j - y_j)) */
                for (c = 0; c < C; c++) {
                    double diff = e[c] - (c == y ? 1.0 : 0.0);
                    hs_loss_store(dlogits, row0 + c, is_float, 2.0 * scale * e[c] * (diff - sg));
                }
            }
        } else {
            /* Wide rows: two passes over the logits instead of a row-sized buffer. */
            double m = hs_loss_load(logits, row0, is_float);
            for (c = 1; c < C; c++) {
                double v = hs_loss_load(logits, row0 + c, is_float);
                m = v > m ? v : m;
            }
            s = 0.0;
            for (c = 0; c < C; c++) {
                s += exp(hs_loss_load(logits, row0 + c, is_float) - m);
            }
            inv_s = 1.0 / s;
            for (c = 0; c < C; c++) {
                double q = exp(hs_loss_load(logits, row0 + c, is_float) - m) * inv_s;
                double diff = q - (c == y ? 1.0 : 0.0);
                total += diff * diff;
                sg += q * diff;
            }
            if (dlogits) {
                for (c = 0; c < C; c++) {
                    double q = exp(hs_loss_load(logits, row0 + c, is_float) - m) * inv_s;
                    double diff = q - (c == y ? 1.0 : 0.0);
                    hs_loss_store(dlogits, row0 + c, is_float, 2.0 * scale * q * (diff - sg));
                }
            }
        }
    }
    *loss = total * scale;
}
