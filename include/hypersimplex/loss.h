/*
 * hypersimplex/loss.h: the HyperSimplex loss (multiclass and binary) and the baselines it
 * is compared with (softmax cross-entropy, multiclass hinge, MSE on softmax probabilities).
 * Every loss returns its value and, on request, its gradient with respect to the scores.
 *
 * HyperSimplex loss, multiclass. Logits Z (B x C, row-major), labels y (B). For every class
 * c the column Z[:, c] (one score per example of the batch) is mapped onto the
 * (B, k_c)-hypersimplex by the soft-binary-argmax@k operator (include/hypersimplex.h) at
 * temperature tau_c, and compared with the one-hot column Y[:, c] = [y_b == c]:
 *     P[:, c] = soft-binary-argmax@k_c(Z[:, c] / tau_c),
 *     loss    = sum_{b,c} (P[b,c] - Y[b,c])^2 / (B C)      (sum_reduction = 1: no division).
 * The columns are projected in place through the operator's strides (no transposed copy).
 *
 * HyperSimplex loss, binary. Scores z (n), targets y (n) in {0, 1}:
 *     p = soft-binary-argmax@k(z / tau),  loss = sum_i (p_i - y_i)^2 / n  (or the sum).
 *
 * The k policies (how many "positive responses" k_c a column must sum to):
 *   HS_K_COUNT     k_c = number of examples of class c in the batch (the paper's text).
 *                  DEFAULT. The one-hot column is then itself a vertex of the
 *                  (B, k_c)-hypersimplex, so the (L2) loss is 0 exactly when every positive of
 *                  the class outscores every negative by at least tau_c (a surrogate that
 *                  vanishes precisely on a margin-separated batch, like the zero-one loss it
 *                  stands for), and it needs neither a hyper-parameter nor training-set
 *                  statistics.
 *   HS_K_PRIOR     k_c = B * class_prior[c], class_prior the class frequencies of the
 *                  training labels (the paper's "expected number of positive responses").
 *   HS_K_FRACTION  k_c = floor(k_fraction * B) for every class (the authors' released
 *                  code uses k_fraction = 0.5: use "fraction:0.5" to reproduce their runs).
 * k does not depend on the logits, so it carries no gradient.
 *
 * Baselines (as in the paper's code):
 *   cross-entropy  mean over the batch of logsumexp(z_b) - z_b[y_b] (stable log-sum-exp).
 *   hinge          mean over the batch of sum_{j != y_b} max(0, 1 + z_b[j] - z_b[y_b]);
 *                  a term exactly at its kink contributes gradient 0.
 *   mse            sum_{b,c} (softmax(z_b)[c] - Y[b,c])^2 / (B C)   (or the sum).
 *
 * Float entry points read and write float arrays; values and sums are accumulated in double.
 */
#ifndef HYPERSIMPLEX_LOSS_H
#define HYPERSIMPLEX_LOSS_H

#include "hypersimplex.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hs_loss_kind {
    HS_LOSS_CROSS_ENTROPY = 0,
    HS_LOSS_HINGE = 1,
    HS_LOSS_MSE_SOFTMAX = 2,
    HS_LOSS_HYPERSIMPLEX = 3
} hs_loss_kind;

typedef enum hs_k_policy {
    HS_K_COUNT = 0,     /* k_c = #{b : y_b == c} (default, see above) */
    HS_K_PRIOR = 1,     /* k_c = B * class_prior[c] */
    HS_K_FRACTION = 2   /* k_c = floor(k_fraction * B) */
} hs_k_policy;

typedef struct hs_loss_opts {
    hs_loss_kind kind;
    double tau;                 /* HS only; > 0. Default 1.5 (the released code's
                                   regularization_strength) */
    const double *tau_class;    /* (C) per-class tau or NULL (then tau for every class) */
    hs_k_policy k_policy;       /* HS only; default HS_K_COUNT */
    double k_fraction;          /* HS_K_FRACTION: k_c = floor(P * B), P in [0, 1]; default 0.5 */
    const double *class_prior;  /* (C) HS_K_PRIOR: class frequencies of the training labels,
                                   each in [0, 1] (binary loss: (2) = {pi_0, pi_1}) */
    hs_regularization reg;      /* HS only: HS_REG_L2 (default), HS_REG_KL, HS_REG_ENTROPY */
    int sum_reduction;          /* HS/MSE: 0 = mean over the B*C entries (default), 1 = sum */
    int threads;                /* HS only: threads of the column projection (hs_proj.threads);
                                   default 1 (serial: the C columns are short jobs) */
} hs_loss_opts;

/* Defaults for `kind`: tau 1.5, no per-class tau, k policy count, k_fraction 0.5, no prior,
 * L2, mean reduction, 1 thread. */
HS_API hs_loss_opts hs_loss_opts_default(hs_loss_kind kind);

/* Checks o without data: NULL if valid, else a message naming the field, e.g.
 * "tau 0 must be finite and > 0" (in a buffer of the calling thread, valid until its next
 * call of hs_loss_opts_check). Checks kind and sum_reduction, and for the HyperSimplex loss
 * reg, threads, k_policy, k_fraction (policy fraction) and tau (when tau_class is NULL). The
 * arrays tau_class and class_prior have C entries, which only the loss calls know: they check
 * them (and that policy prior has a class_prior). */
HS_API const char *hs_loss_opts_check(const hs_loss_opts *o);

/* logits (B x C) row-major, labels (B) in [0, C). Writes the loss value; if dlogits is
 * non-NULL it receives d loss / d logits (B x C), overwritten (not accumulated).
 * Errors (nothing is written on a validation error): HS_ERR_NULL (loss, logits, labels or o NULL; prior
 * policy without class_prior), HS_ERR_SIZE (B or C zero, B*C overflows), HS_ERR_LABEL
 * (labels[b] outside [0, C)), HS_ERR_NONFINITE (a logit NaN/Inf, or logit/tau overflows),
 * HS_ERR_TAU (tau or tau_class[c] not finite and > 0), HS_ERR_K (k_fraction or
 * class_prior[c] outside [0, 1]), HS_ERR_ARG (unknown kind, policy or regularization;
 * sum_reduction not 0/1; threads < 0), HS_ERR_NOMEM. hs_last_error() names the index. */
HS_API hs_status hs_loss_multiclass_f(double *loss, float *dlogits /* (B x C) or NULL */,
                                      const float *logits /* (B x C) */,
                                      const int32_t *labels /* (B) */, size_t B, size_t C,
                                      const hs_loss_opts *o);
HS_API hs_status hs_loss_multiclass_d(double *loss, double *dlogits /* (B x C) or NULL */,
                                      const double *logits /* (B x C) */,
                                      const int32_t *labels /* (B) */, size_t B, size_t C,
                                      const hs_loss_opts *o);

/* The same loss with the batch's per-class thresholds. theta (C) or NULL receives, for the
 * HyperSimplex loss, the projection threshold of every column: P[:, c] = clip(Z[:, c] / tau_c
 * - theta_c, 0, 1) (HS_REG_L2; KL and entropy: their own threshold, include/hypersimplex.h).
 * theta_c is NaN when k_c <= 0 or k_c >= B (with HS_K_COUNT: class c absent from the batch,
 * or the whole batch): every p is then 0 (or 1) and theta_c is only bounded on one side.
 * When 0 < k_c < B and no coordinate of the column is free, theta_c is the middle of the
 * interval of thresholds that give the same P. For the other kinds every theta_c is NaN
 * (their loss has no threshold). theta is written only when the call succeeds.
 *
 * Why the thresholds matter: with k fixed by the labels (every policy), adding a constant
 * b_c to column c of the logits changes neither P nor the loss nor its gradient (theta_c
 * absorbs it: theta_c -> theta_c + b_c / tau_c), so the loss does not train how the
 * columns compare with each other and argmax_c z_c is partly arbitrary. The prediction
 * rule that matches the loss is argmax_c (z_c / tau_c - theta_c): see hs_loss_predict_*
 * and docs/losses.md. Errors as hs_loss_multiclass_*. */
HS_API hs_status hs_loss_multiclass_ex_f(double *loss, float *dlogits /* (B x C) or NULL */,
                                         double *theta /* (C) or NULL */,
                                         const float *logits /* (B x C) */,
                                         const int32_t *labels /* (B) */, size_t B, size_t C,
                                         const hs_loss_opts *o);
HS_API hs_status hs_loss_multiclass_ex_d(double *loss, double *dlogits /* (B x C) or NULL */,
                                         double *theta /* (C) or NULL */,
                                         const double *logits /* (B x C) */,
                                         const int32_t *labels /* (B) */, size_t B, size_t C,
                                         const hs_loss_opts *o);

/* Running per-class thresholds, the way batch normalization keeps its running statistics:
 * for every class c with a finite theta_batch[c],
 *     theta_run[c] = (1 - momentum) theta_run[c] + momentum theta_batch[c],
 * except that a theta_run[c] that is not finite (start every entry as NaN: "no value yet")
 * takes theta_batch[c] as it is. So the first batch that determines a class's threshold
 * initializes it (no bias towards an arbitrary start value such as 0), and a batch whose
 * theta_batch[c] is NaN (see hs_loss_multiclass_ex_*) leaves class c unchanged.
 * momentum in [0, 1] (0: keep the first value; 1: the last batch only); typical 0.1.
 * theta_run and theta_batch may not overlap unless equal.
 * Errors: HS_ERR_NULL, HS_ERR_SIZE (C zero), HS_ERR_ARG (momentum not in [0, 1]); nothing
 * is written on an error. */
HS_API hs_status hs_loss_theta_update(double *theta_run /* (C) */,
                                      const double *theta_batch /* (C) */, size_t C,
                                      double momentum);

/* The threshold prediction rule: pred[b] = argmax_c (logits[b][c] / tau_c - theta[c]),
 * evaluated in double, ties to the lowest c. tau_c is o->tau_class[c] if o->tau_class is
 * non-NULL, else o->tau; the other fields of o are not read. theta (C): the thresholds
 * (e.g. running thresholds from hs_loss_theta_update), every entry finite.
 * Errors (nothing written): HS_ERR_NULL (pred, logits, theta or o), HS_ERR_SIZE (B or C zero,
 * B*C overflows), HS_ERR_TAU (a tau not finite and > 0), HS_ERR_NONFINITE (a theta[c] not
 * finite -- NaN: the class never had a threshold -- or a logit NaN/Inf); hs_last_error()
 * names the index. */
HS_API hs_status hs_loss_predict_f(int32_t *pred /* (B) */, const float *logits /* (B x C) */,
                                   const double *theta /* (C) */, size_t B, size_t C,
                                   const hs_loss_opts *o);
HS_API hs_status hs_loss_predict_d(int32_t *pred /* (B) */, const double *logits /* (B x C) */,
                                   const double *theta /* (C) */, size_t B, size_t C,
                                   const hs_loss_opts *o);

/* Binary HyperSimplex loss. z (n) scores, y (n) targets, each exactly 0 or 1. Reads tau,
 * k_policy (count: k = sum y, the default; prior: k = n * class_prior[1]; fraction:
 * k = floor(k_fraction * n)), reg, sum_reduction (0: mean over n, 1: sum) and threads of o;
 * o->kind and o->tau_class are ignored. dz (n) or NULL receives d loss / d z.
 * Errors as hs_loss_multiclass_*; a y_i other than 0 and 1 gives HS_ERR_LABEL. */
HS_API hs_status hs_loss_binary_hs_f(double *loss, float *dz /* (n) or NULL */,
                                     const float *z /* (n) */, const float *y /* (n) */,
                                     size_t n, const hs_loss_opts *o);
HS_API hs_status hs_loss_binary_hs_d(double *loss, double *dz /* (n) or NULL */,
                                     const double *z /* (n) */, const double *y /* (n) */,
                                     size_t n, const hs_loss_opts *o);

/* The k_c (C) that the multiclass HyperSimplex loss uses for this batch under o's policy.
 * Same validation of labels and policy as hs_loss_multiclass_*. */
HS_API hs_status hs_loss_class_k(double *k /* (C) */, const int32_t *labels /* (B) */,
                                 size_t B, size_t C, const hs_loss_opts *o);

/* Class frequencies of `count` labels in [0, C): prior[c] = #{i : labels[i] == c} / count,
 * for HS_K_PRIOR. Errors: HS_ERR_NULL, HS_ERR_SIZE (count or C zero), HS_ERR_LABEL. */
HS_API hs_status hs_class_prior_from_labels(double *prior /* (C) */,
                                            const int32_t *labels /* (count) */,
                                            size_t count, size_t C);

/* Names used on the command line and in result CSVs: "cross_entropy", "hinge", "mse",
 * "hypersimplex"; policies "count", "prior", "fraction:P" (P in [0, 1]; "fraction" alone
 * means P = 0.5). Parsing is strict (whole string, case-sensitive); on failure HS_ERR_ARG
 * (HS_ERR_K for a P outside [0, 1]) and *out is untouched. */
HS_API hs_status hs_loss_kind_parse(hs_loss_kind *out, const char *name);
HS_API const char *hs_loss_kind_name(hs_loss_kind k); /* "unknown" for an invalid value */
HS_API hs_status hs_k_policy_parse(hs_k_policy *out, double *fraction, const char *text);
/* "count", "prior" or "fraction" (the fraction itself is not part of the name). */
HS_API const char *hs_k_policy_name(hs_k_policy p);

#ifdef __cplusplus
}
#endif

#endif /* HYPERSIMPLEX_LOSS_H */
