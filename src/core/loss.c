/* The HyperSimplex loss (multiclass and binary), option handling and the dispatch to the
 * baselines. See include/hypersimplex/loss.h for the definitions. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/loss_internal.h"
#include "util/error.h"

hs_loss_opts hs_loss_opts_default(hs_loss_kind kind)
{
    hs_loss_opts o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.tau = 1.5;
    o.tau_class = NULL;
    o.k_policy = HS_K_COUNT;
    o.k_fraction = 0.5;
    o.class_prior = NULL;
    o.reg = HS_REG_L2;
    o.sum_reduction = 0;
    o.threads = 1;
    return o;
}

/* ------------------------------------------------------------------------- */
/* Names                                                                     */
/* ------------------------------------------------------------------------- */

static const char *const hs_loss_names[] = {"cross_entropy", "hinge", "mse", "hypersimplex"};

const char *hs_loss_kind_name(hs_loss_kind k)
{
    if ((int)k < 0 || (size_t)k >= sizeof hs_loss_names / sizeof hs_loss_names[0]) {
        return "unknown";
    }
    return hs_loss_names[k];
}

hs_status hs_loss_kind_parse(hs_loss_kind *out, const char *name)
{
    size_t i;
    if (out == NULL || name == NULL) {
        return hs_fail(HS_ERR_NULL, "hs_loss_kind_parse: %s is NULL", out ? "name" : "out");
    }
    for (i = 0; i < sizeof hs_loss_names / sizeof hs_loss_names[0]; i++) {
        if (strcmp(name, hs_loss_names[i]) == 0) {
            *out = (hs_loss_kind)i;
            return HS_OK;
        }
    }
    return hs_fail(HS_ERR_ARG,
                   "unknown loss '%s' (expected cross_entropy, hinge, mse or hypersimplex)", name);
}

const char *hs_k_policy_name(hs_k_policy p)
{
    switch (p) {
    case HS_K_COUNT: return "count";
    case HS_K_PRIOR: return "prior";
    case HS_K_FRACTION: return "fraction";
    }
    return "unknown";
}

hs_status hs_k_policy_parse(hs_k_policy *out, double *fraction, const char *text)
{
    if (out == NULL || fraction == NULL || text == NULL) {
        return hs_fail(HS_ERR_NULL, "hs_k_policy_parse: %s is NULL",
                       out == NULL ? "out" : fraction == NULL ? "fraction" : "text");
    }
    if (strcmp(text, "count") == 0) {
        *out = HS_K_COUNT;
        return HS_OK;
    }
    if (strcmp(text, "prior") == 0) {
        *out = HS_K_PRIOR;
        return HS_OK;
    }
    if (strcmp(text, "fraction") == 0) {
        *out = HS_K_FRACTION;
        *fraction = 0.5;
        return HS_OK;
    }
    if (strncmp(text, "fraction:", 9) == 0) {
        const char *num = text + 9;
        char *end = NULL;
        double v;
        /* strtod accepts leading blanks, "inf" and "nan": refuse them explicitly. */
        if (*num == '\0' || !(*num == '.' || (*num >= '0' && *num <= '9'))) {
            return hs_fail(HS_ERR_ARG, "k policy '%s': expected fraction:P with P a number in [0, 1]",
                           text);
        }
        v = strtod(num, &end);
        if (end == num || *end != '\0') {
            return hs_fail(HS_ERR_ARG, "k policy '%s': expected fraction:P with P a number in [0, 1]",
                           text);
        }
        if (!(v >= 0.0 && v <= 1.0)) {
            return hs_fail(HS_ERR_K, "k policy '%s': the fraction %g is outside [0, 1]", text, v);
        }
        *out = HS_K_FRACTION;
        *fraction = v;
        return HS_OK;
    }
    return hs_fail(HS_ERR_ARG, "unknown k policy '%s' (expected count, prior or fraction:P)", text);
}

/* ------------------------------------------------------------------------- */
/* Validation                                                                */
/* ------------------------------------------------------------------------- */

hs_status hs_loss_check_size(size_t B, size_t C)
{
    if (B == 0 || C == 0) {
        return hs_fail(HS_ERR_SIZE, "batch size B = %zu and classes C = %zu must both be >= 1",
                       B, C);
    }
    if (B > (size_t)PTRDIFF_MAX / sizeof(double) / C) {
        return hs_fail(HS_ERR_SIZE, "B = %zu times C = %zu is too large", B, C);
    }
    return HS_OK;
}

hs_status hs_loss_check_batch(const int32_t *labels, size_t B, size_t C)
{
    size_t b;
    hs_status s = hs_loss_check_size(B, C);
    if (s != HS_OK) {
        return s;
    }
    for (b = 0; b < B; b++) {
        if (labels[b] < 0 || (size_t)labels[b] >= C) {
            return hs_fail(HS_ERR_LABEL, "labels[%zu] = %ld is outside [0, C = %zu)", b,
                           (long)labels[b], C);
        }
    }
    return HS_OK;
}

hs_status hs_loss_check_finite(const void *logits, size_t B, size_t C, int is_float)
{
    size_t b, c;
    for (b = 0; b < B; b++) {
        for (c = 0; c < C; c++) {
            double v = hs_loss_load(logits, b * C + c, is_float);
            if (!isfinite(v)) {
                return hs_fail(HS_ERR_NONFINITE, "logits[%zu][%zu] = %g is not finite", b, c, v);
            }
        }
    }
    return HS_OK;
}

const char *hs_loss_opts_check(const hs_loss_opts *o)
{
    static _Thread_local char msg[160];
    if (o == NULL) {
        return "the hs_loss_opts are NULL";
    }
    if ((int)o->kind < 0 || (size_t)o->kind >= sizeof hs_loss_names / sizeof hs_loss_names[0]) {
        snprintf(msg, sizeof msg, "kind %d is not a loss", (int)o->kind);
    } else if (o->sum_reduction != 0 && o->sum_reduction != 1) {
        snprintf(msg, sizeof msg, "sum_reduction %d must be 0 (mean) or 1 (sum)", o->sum_reduction);
    } else if (o->kind != HS_LOSS_HYPERSIMPLEX) {
        return NULL; /* the other fields are the HyperSimplex loss's */
    } else if (strcmp(hs_regularization_name(o->reg), "unknown") == 0) {
        snprintf(msg, sizeof msg, "reg %d is not a regularization", (int)o->reg);
    } else if (o->threads < 0) {
        snprintf(msg, sizeof msg, "threads %d must be >= 0", o->threads);
    } else if (o->tau_class == NULL && !(isfinite(o->tau) && o->tau > 0.0)) {
        snprintf(msg, sizeof msg, "tau %g must be finite and > 0", o->tau);
    } else if (o->k_policy != HS_K_COUNT && o->k_policy != HS_K_PRIOR &&
               o->k_policy != HS_K_FRACTION) {
        snprintf(msg, sizeof msg, "k_policy %d is not a k policy", (int)o->k_policy);
    } else if (o->k_policy == HS_K_FRACTION && !(o->k_fraction >= 0.0 && o->k_fraction <= 1.0)) {
        snprintf(msg, sizeof msg, "k_fraction %g must be in [0, 1]", o->k_fraction);
    } else {
        return NULL;
    }
    return msg;
}

static hs_status hs_check_opts(const hs_loss_opts *o)
{
    if (o->kind != HS_LOSS_CROSS_ENTROPY && o->kind != HS_LOSS_HINGE &&
        o->kind != HS_LOSS_MSE_SOFTMAX && o->kind != HS_LOSS_HYPERSIMPLEX) {
        return hs_fail(HS_ERR_ARG, "unknown loss kind %d", (int)o->kind);
    }
    if (o->sum_reduction != 0 && o->sum_reduction != 1) {
        return hs_fail(HS_ERR_ARG, "sum_reduction = %d must be 0 (mean) or 1 (sum)",
                       o->sum_reduction);
    }
    return HS_OK;
}

/* Checks the HS-specific options: policy, fraction, prior (n_prior entries), regularization,
 * threads, and tau when no per-class tau is used. */
static hs_status hs_check_hs_opts(const hs_loss_opts *o, size_t n_prior, int use_tau_class)
{
    size_t c;
    if (o->reg != HS_REG_L2 && o->reg != HS_REG_KL && o->reg != HS_REG_ENTROPY) {
        return hs_fail(HS_ERR_ARG, "unknown regularization %d", (int)o->reg);
    }
    if (o->threads < 0) {
        return hs_fail(HS_ERR_ARG, "threads = %d must be >= 0", o->threads);
    }
    if (!use_tau_class && !(isfinite(o->tau) && o->tau > 0.0)) {
        return hs_fail(HS_ERR_TAU, "tau = %g must be finite and > 0", o->tau);
    }
    switch (o->k_policy) {
    case HS_K_COUNT:
        break;
    case HS_K_FRACTION:
        if (!(o->k_fraction >= 0.0 && o->k_fraction <= 1.0)) {
            return hs_fail(HS_ERR_K, "k_fraction = %g must be in [0, 1]", o->k_fraction);
        }
        break;
    case HS_K_PRIOR:
        if (o->class_prior == NULL) {
            return hs_fail(HS_ERR_NULL, "k policy 'prior' needs class_prior");
        }
        for (c = 0; c < n_prior; c++) {
            if (!(o->class_prior[c] >= 0.0 && o->class_prior[c] <= 1.0)) {
                return hs_fail(HS_ERR_K, "class_prior[%zu] = %g must be in [0, 1]", c,
                               o->class_prior[c]);
            }
        }
        break;
    default:
        return hs_fail(HS_ERR_ARG, "unknown k policy %d", (int)o->k_policy);
    }
    return HS_OK;
}

/* k_c for every class (labels already checked). */
static void hs_fill_class_k(double *k, const int32_t *labels, size_t B, size_t C,
                            const hs_loss_opts *o)
{
    size_t b, c;
    switch (o->k_policy) {
    case HS_K_COUNT:
        for (c = 0; c < C; c++) {
            k[c] = 0.0;
        }
        for (b = 0; b < B; b++) {
            k[labels[b]] += 1.0;
        }
        break;
    case HS_K_PRIOR:
        for (c = 0; c < C; c++) {
            double v = (double)B * o->class_prior[c];
            k[c] = v < (double)B ? v : (double)B; /* 1.0 * B may round above B */
        }
        break;
    case HS_K_FRACTION:
        for (c = 0; c < C; c++) {
            double v = floor(o->k_fraction * (double)B);
            k[c] = v < (double)B ? v : (double)B;
        }
        break;
    }
}

hs_status hs_loss_class_k(double *k, const int32_t *labels, size_t B, size_t C,
                          const hs_loss_opts *o)
{
    hs_status s;
    size_t b;
    if (k == NULL || labels == NULL || o == NULL) {
        return hs_fail(HS_ERR_NULL, "hs_loss_class_k: %s is NULL",
                       k == NULL ? "k" : labels == NULL ? "labels" : "o");
    }
    if (B == 0 || C == 0) {
        return hs_fail(HS_ERR_SIZE, "batch size B = %zu and classes C = %zu must both be >= 1",
                       B, C);
    }
    for (b = 0; b < B; b++) {
        if (labels[b] < 0 || (size_t)labels[b] >= C) {
            return hs_fail(HS_ERR_LABEL, "labels[%zu] = %ld is outside [0, C = %zu)", b,
                           (long)labels[b], C);
        }
    }
    s = hs_check_hs_opts(o, C, 1);
    if (s != HS_OK) {
        return s;
    }
    hs_fill_class_k(k, labels, B, C, o);
    return HS_OK;
}

hs_status hs_class_prior_from_labels(double *prior, const int32_t *labels, size_t count,
                                     size_t C)
{
    size_t i, c;
    if (prior == NULL || labels == NULL) {
        return hs_fail(HS_ERR_NULL, "hs_class_prior_from_labels: %s is NULL",
                       prior == NULL ? "prior" : "labels");
    }
    if (count == 0 || C == 0) {
        return hs_fail(HS_ERR_SIZE, "count = %zu and C = %zu must both be >= 1", count, C);
    }
    for (i = 0; i < count; i++) {
        if (labels[i] < 0 || (size_t)labels[i] >= C) {
            return hs_fail(HS_ERR_LABEL, "labels[%zu] = %ld is outside [0, C = %zu)", i,
                           (long)labels[i], C);
        }
    }
    for (c = 0; c < C; c++) {
        prior[c] = 0.0;
    }
    for (i = 0; i < count; i++) {
        prior[labels[i]] += 1.0;
    }
    for (c = 0; c < C; c++) {
        prior[c] /= (double)count;
    }
    return HS_OK;
}

/* ------------------------------------------------------------------------- */
/* HyperSimplex loss                                                         */
/* ------------------------------------------------------------------------- */

/* One HyperSimplex loss evaluation. The scores are a row-major B x C matrix (binary: n x 1)
 * and d describes its columns to the operator; the target of entry (b, c) is
 * [labels[b] == c] (multiclass) or y[b] (binary, C = 1). */
typedef struct hs_hs_problem {
    const void *z;
    const int32_t *labels; /* multiclass, or NULL */
    const void *y;         /* binary (same type as z), or NULL */
    size_t B, C;           /* multiclass: B x C; binary: B = n, C = 1 */
    int is_float;
} hs_hs_problem;

static double hs_hs_target(const hs_hs_problem *pr, size_t b, size_t c)
{
    if (pr->labels) {
        return (size_t)pr->labels[b] == c ? 1.0 : 0.0;
    }
    return hs_loss_load(pr->y, b, pr->is_float);
}

/* The fused L2 loss + backward (see hs_hs_forward_backward). Inlined with constant is_float
 * and multiclass so that each combination compiles to its own branch-free inner loops.
 * Returns sum (p - Y)^2; writes dz. work: 2 * C doubles. */
static inline __attribute__((always_inline)) double
hs_fused_l2(void *dz, const void *p, const hs_hs_problem *pr, const hs_proj *d, double scale,
            double *work, int is_float, int multiclass)
{
    size_t B = pr->B, C = pr->C, b, c;
    double total = 0.0, two_scale = 2.0 * scale;
    double *gmean = work, *inv_tau = work + C;
    for (c = 0; c < C; c++) {
        gmean[c] = 0.0; /* sum of (p - Y) over S, then 2 scale times its mean */
        inv_tau[c] = 0.0; /* |S|, then 1 / tau */
    }
    /* Pass 1: loss and the per-column sums over S. Membership in S enters as a 0/1 factor
     * rather than a branch: which coordinates are free is data-dependent and would be
     * mispredicted about as often as not. */
    for (b = 0; b < B; b++) {
        size_t y = multiclass ? (size_t)pr->labels[b] : 0;
        double yb = multiclass ? 0.0 : hs_loss_load(pr->y, b, is_float);
        double row_total = 0.0;
        for (c = 0; c < C; c++) {
            double pv = hs_loss_load(p, b * C + c, is_float);
            double diff = pv - (multiclass ? (double)(c == y) : yb);
            double in_s = (double)((pv > 0.0) & (pv < 1.0));
            row_total += diff * diff;
            gmean[c] += diff * in_s;
            inv_tau[c] += in_s;
        }
        total += row_total;
    }
    for (c = 0; c < C; c++) {
        double tau = d->tau_rows ? d->tau_rows[c] : d->tau;
        gmean[c] = inv_tau[c] > 0.0 ? gmean[c] / inv_tau[c] : 0.0;
        inv_tau[c] = two_scale / tau;
    }
    /* Pass 2: dz = (2 scale / tau_c) 1_S ((p - Y) - mean_S (p - Y)). */
    for (b = 0; b < B; b++) {
        size_t y = multiclass ? (size_t)pr->labels[b] : 0;
        double yb = multiclass ? 0.0 : hs_loss_load(pr->y, b, is_float);
        for (c = 0; c < C; c++) {
            size_t i = b * C + c;
            double pv = hs_loss_load(p, i, is_float);
            double diff = pv - (multiclass ? (double)(c == y) : yb);
            double in_s = (double)((pv > 0.0) & (pv < 1.0));
            hs_loss_store(dz, i, is_float, (diff - gmean[c]) * inv_tau[c] * in_s);
        }
    }
    return total;
}

/* Projection, loss value and (if dz) gradient. p: work buffer of the input type with room
 * for B * C entries; work: 2 * C doubles; theta (C) or NULL: the operator's thresholds. */
static hs_status hs_hs_forward_backward(double *loss, void *dz, double *theta, void *p,
                                        const hs_hs_problem *pr, const hs_proj *d,
                                        int sum_reduction, double *work)
{
    size_t B = pr->B, C = pr->C, b, c;
    double total = 0.0;
    double scale = sum_reduction ? 1.0 : 1.0 / ((double)B * (double)C);
    int is_float = pr->is_float;
    hs_status s;

    s = is_float ? hs_project_f(p, theta, NULL, pr->z, d) : hs_project_d(p, theta, NULL, pr->z, d);
    if (s != HS_OK) {
        return s;
    }
    /* Element (b, c) is at b * C + c for both layouts (binary: C = 1). */
    if (dz == NULL) {
        for (b = 0; b < B; b++) {
            for (c = 0; c < C; c++) {
                double diff = hs_loss_load(p, b * C + c, is_float) - hs_hs_target(pr, b, c);
                total += diff * diff;
            }
        }
    } else if (d->reg != HS_REG_L2) {
        /* g = d loss / d p = 2 scale (p - Y) goes into dz, then dz = J^T g in place. */
        for (b = 0; b < B; b++) {
            for (c = 0; c < C; c++) {
                size_t i = b * C + c;
                double diff = hs_loss_load(p, i, is_float) - hs_hs_target(pr, b, c);
                total += diff * diff;
                hs_loss_store(dz, i, is_float, 2.0 * scale * diff);
            }
        }
        s = is_float ? hs_project_vjp_f(dz, p, dz, d) : hs_project_vjp_d(dz, p, dz, d);
        if (s != HS_OK) {
            return s;
        }
    } else {
        /* L2: the VJP of include/hypersimplex.h, dz = (1/tau_c) 1_S (g - mean_S g) per column
         * with S = {0 < p < 1} as stored, fused with the loss into two row-major passes (the
         * operator's own VJP would walk every column with stride C). KL and entropy take the
         * generic path above; the tests check this one against it. */
        if (is_float) {
            total = pr->labels ? hs_fused_l2(dz, p, pr, d, scale, work, 1, 1)
                               : hs_fused_l2(dz, p, pr, d, scale, work, 1, 0);
        } else {
            total = pr->labels ? hs_fused_l2(dz, p, pr, d, scale, work, 0, 1)
                               : hs_fused_l2(dz, p, pr, d, scale, work, 0, 0);
        }
    }
    *loss = total * scale;
    return HS_OK;
}

/* Small per-class arrays live on the stack up to this many classes. */
#define HS_LOSS_STACK_CLASSES 64

static hs_status hs_loss_hypersimplex(double *loss, void *dlogits, double *theta,
                                      const void *logits, const int32_t *labels, size_t B,
                                      size_t C, const hs_loss_opts *o, int is_float)
{
    double k_stack[4 * HS_LOSS_STACK_CLASSES];
    double *k = k_stack; /* k (C), the fused backward's work (2 C), then theta (C) */
    void *p = NULL;
    size_t c, elem = is_float ? sizeof(float) : sizeof(double);
    hs_hs_problem pr;
    hs_proj d;
    hs_status s;

    s = hs_check_hs_opts(o, C, o->tau_class != NULL);
    if (s != HS_OK) {
        return s;
    }
    if (o->tau_class != NULL) {
        for (c = 0; c < C; c++) {
            if (!(isfinite(o->tau_class[c]) && o->tau_class[c] > 0.0)) {
                return hs_fail(HS_ERR_TAU, "tau_class[%zu] = %g must be finite and > 0", c,
                               o->tau_class[c]);
            }
        }
    }
    if (C > HS_LOSS_STACK_CLASSES) {
        k = malloc(4 * C * sizeof *k);
    }
    p = malloc(B * C * elem);
    if (k == NULL || p == NULL) {
        if (k != k_stack) {
            free(k);
        }
        free(p);
        return hs_fail(HS_ERR_NOMEM, "out of memory for the projection of a %zu x %zu batch",
                       B, C);
    }
    hs_fill_class_k(k, labels, B, C, o);

    /* Column c of the row-major B x C logits: C rows of n = B elements, stride C. */
    d = hs_proj_make(C, B, 0.0, o->tau);
    d.row_stride = 1;
    d.elem_stride = (ptrdiff_t)C;
    d.k_rows = k;
    d.tau_rows = o->tau_class;
    d.reg = o->reg;
    d.threads = o->threads;

    pr.z = logits;
    pr.labels = labels;
    pr.y = NULL;
    pr.B = B;
    pr.C = C;
    pr.is_float = is_float;
    s = hs_hs_forward_backward(loss, dlogits, theta ? k + 3 * C : NULL, p, &pr, &d,
                               o->sum_reduction, k + C);
    if (s == HS_OK && theta) {
        /* k_c = 0 or B: every p is 0 (or 1), the threshold is only bounded on one side. */
        for (c = 0; c < C; c++) {
            theta[c] = k[c] > 0.0 && k[c] < (double)B ? k[3 * C + c] : NAN;
        }
    }
    if (s == HS_ERR_NONFINITE) {
        /* The logits were not scanned up front (the projection checks them anyway): name
         * the offending logit if there is one, else keep the operator's message (z / tau
         * overflowing). */
        hs_status fs = hs_loss_check_finite(logits, B, C, is_float);
        s = fs != HS_OK ? fs : s;
    }

    if (k != k_stack) {
        free(k);
    }
    free(p);
    return s;
}

static hs_status hs_loss_multiclass_any(double *loss, void *dlogits, double *theta,
                                        const void *logits, const int32_t *labels, size_t B,
                                        size_t C, const hs_loss_opts *o, int is_float)
{
    hs_status s;
    size_t c;
    if (loss == NULL || logits == NULL || labels == NULL || o == NULL) {
        return hs_fail(HS_ERR_NULL, "hs_loss_multiclass: %s is NULL",
                       loss == NULL     ? "loss"
                       : logits == NULL ? "logits"
                       : labels == NULL ? "labels"
                                        : "o");
    }
    s = hs_check_opts(o);
    if (s != HS_OK) {
        return s;
    }
    s = hs_loss_check_batch(labels, B, C);
    if (s == HS_OK && o->kind != HS_LOSS_HYPERSIMPLEX) {
        s = hs_loss_check_finite(logits, B, C, is_float);
    }
    if (s != HS_OK) {
        return s;
    }
    if (theta != NULL && o->kind != HS_LOSS_HYPERSIMPLEX) {
        for (c = 0; c < C; c++) {
            theta[c] = NAN; /* the baselines have no threshold */
        }
    }
    switch (o->kind) {
    case HS_LOSS_CROSS_ENTROPY:
        hs_loss_cross_entropy(loss, dlogits, logits, labels, B, C, is_float);
        return HS_OK;
    case HS_LOSS_HINGE:
        hs_loss_hinge(loss, dlogits, logits, labels, B, C, is_float);
        return HS_OK;
    case HS_LOSS_MSE_SOFTMAX:
        hs_loss_mse_softmax(loss, dlogits, logits, labels, B, C, o->sum_reduction, is_float);
        return HS_OK;
    case HS_LOSS_HYPERSIMPLEX:
        return hs_loss_hypersimplex(loss, dlogits, theta, logits, labels, B, C, o, is_float);
    }
    return hs_fail(HS_ERR_ARG, "unknown loss kind %d", (int)o->kind);
}

hs_status hs_loss_multiclass_f(double *loss, float *dlogits, const float *logits,
                               const int32_t *labels, size_t B, size_t C, const hs_loss_opts *o)
{
    return hs_loss_multiclass_any(loss, dlogits, NULL, logits, labels, B, C, o, 1);
}

hs_status hs_loss_multiclass_d(double *loss, double *dlogits, const double *logits,
                               const int32_t *labels, size_t B, size_t C, const hs_loss_opts *o)
{
    return hs_loss_multiclass_any(loss, dlogits, NULL, logits, labels, B, C, o, 0);
}

hs_status hs_loss_multiclass_ex_f(double *loss, float *dlogits, double *theta,
                                  const float *logits, const int32_t *labels, size_t B, size_t C,
                                  const hs_loss_opts *o)
{
    return hs_loss_multiclass_any(loss, dlogits, theta, logits, labels, B, C, o, 1);
}

hs_status hs_loss_multiclass_ex_d(double *loss, double *dlogits, double *theta,
                                  const double *logits, const int32_t *labels, size_t B,
                                  size_t C, const hs_loss_opts *o)
{
    return hs_loss_multiclass_any(loss, dlogits, theta, logits, labels, B, C, o, 0);
}

/* ------------------------------------------------------------------------- */
/* Running thresholds and the threshold prediction rule                      */
/* ------------------------------------------------------------------------- */

hs_status hs_loss_theta_update(double *theta_run, const double *theta_batch, size_t C,
                               double momentum)
{
    size_t c;
    if (theta_run == NULL || theta_batch == NULL) {
        return hs_fail(HS_ERR_NULL, "hs_loss_theta_update: %s is NULL",
                       theta_run == NULL ? "theta_run" : "theta_batch");
    }
    if (C == 0) {
        return hs_fail(HS_ERR_SIZE, "hs_loss_theta_update: C = 0 classes");
    }
    if (!(momentum >= 0.0 && momentum <= 1.0)) {
        return hs_fail(HS_ERR_ARG, "threshold momentum %g must be in [0, 1]", momentum);
    }
    for (c = 0; c < C; c++) {
        double t = theta_batch[c];
        if (!isfinite(t)) {
            continue; /* this batch says nothing about class c */
        }
        theta_run[c] = isfinite(theta_run[c]) ? (1.0 - momentum) * theta_run[c] + momentum * t : t;
    }
    return HS_OK;
}

static hs_status hs_loss_predict_any(int32_t *pred, const void *logits, const double *theta,
                                     size_t B, size_t C, const hs_loss_opts *o, int is_float)
{
    double tau_stack[HS_LOSS_STACK_CLASSES];
    double *tau = tau_stack;
    size_t b, c;
    hs_status s = HS_OK;

    if (pred == NULL || logits == NULL || theta == NULL || o == NULL) {
        return hs_fail(HS_ERR_NULL, "hs_loss_predict: %s is NULL",
                       pred == NULL     ? "pred"
                       : logits == NULL ? "logits"
                       : theta == NULL  ? "theta"
                                        : "o");
    }
    s = hs_loss_check_size(B, C);
    if (s != HS_OK) {
        return s;
    }
    for (c = 0; c < C; c++) {
        double t = o->tau_class ? o->tau_class[c] : o->tau;
        if (!(isfinite(t) && t > 0.0)) {
            return o->tau_class ? hs_fail(HS_ERR_TAU, "tau_class[%zu] = %g must be finite and > 0",
                                          c, t)
                                : hs_fail(HS_ERR_TAU, "tau = %g must be finite and > 0", t);
        }
        if (!isfinite(theta[c])) {
            return hs_fail(HS_ERR_NONFINITE,
                           "theta[%zu] = %g is not finite (a class without a threshold yet?)", c,
                           theta[c]);
        }
    }
    s = hs_loss_check_finite(logits, B, C, is_float);
    if (s != HS_OK) {
        return s;
    }
    if (C > HS_LOSS_STACK_CLASSES) {
        tau = malloc(C * sizeof *tau);
        if (tau == NULL) {
            return hs_fail(HS_ERR_NOMEM, "out of memory for %zu classes", C);
        }
    }
    for (c = 0; c < C; c++) {
        tau[c] = o->tau_class ? o->tau_class[c] : o->tau;
    }
    for (b = 0; b < B; b++) {
        size_t best = 0;
        double best_v = -INFINITY;
        for (c = 0; c < C; c++) {
            /* z / tau as a division, like the projection (z * (1 / tau) can differ in the
             * last bit). */
            double v = hs_loss_load(logits, b * C + c, is_float) / tau[c] - theta[c];
            if (c == 0 || v > best_v) {
                best = c;
                best_v = v;
            }
        }
        pred[b] = (int32_t)best;
    }
    if (tau != tau_stack) {
        free(tau);
    }
    return HS_OK;
}

hs_status hs_loss_predict_f(int32_t *pred, const float *logits, const double *theta, size_t B,
                            size_t C, const hs_loss_opts *o)
{
    return hs_loss_predict_any(pred, logits, theta, B, C, o, 1);
}

hs_status hs_loss_predict_d(int32_t *pred, const double *logits, const double *theta, size_t B,
                            size_t C, const hs_loss_opts *o)
{
    return hs_loss_predict_any(pred, logits, theta, B, C, o, 0);
}

/* ------------------------------------------------------------------------- */
/* Binary HyperSimplex loss                                                  */
/* ------------------------------------------------------------------------- */

static hs_status hs_loss_binary_any(double *loss, void *dz, const void *z, const void *y,
                                    size_t n, const hs_loss_opts *o, int is_float)
{
    size_t i, elem = is_float ? sizeof(float) : sizeof(double);
    double k = 0.0, work[2];
    void *p;
    hs_hs_problem pr;
    hs_proj d;
    hs_status s;

    if (loss == NULL || z == NULL || y == NULL || o == NULL) {
        return hs_fail(HS_ERR_NULL, "hs_loss_binary_hs: %s is NULL",
                       loss == NULL ? "loss"
                       : z == NULL  ? "z"
                       : y == NULL  ? "y"
                                    : "o");
    }
    if (n == 0) {
        return hs_fail(HS_ERR_SIZE, "the number of scores n must be >= 1");
    }
    if (n > (size_t)PTRDIFF_MAX / sizeof(double)) {
        return hs_fail(HS_ERR_SIZE, "n = %zu is too large", n);
    }
    if (o->sum_reduction != 0 && o->sum_reduction != 1) {
        return hs_fail(HS_ERR_ARG, "sum_reduction = %d must be 0 (mean) or 1 (sum)",
                       o->sum_reduction);
    }
    s = hs_check_hs_opts(o, 2, 0);
    if (s != HS_OK) {
        return s;
    }
    for (i = 0; i < n; i++) {
        double v = hs_loss_load(y, i, is_float);
        if (v != 0.0 && v != 1.0) {
            return hs_fail(HS_ERR_LABEL, "y[%zu] = %g is not 0 or 1", i, v);
        }
        k += v;
    }
    for (i = 0; i < n; i++) {
        double v = hs_loss_load(z, i, is_float);
        if (!isfinite(v)) {
            return hs_fail(HS_ERR_NONFINITE, "z[%zu] = %g is not finite", i, v);
        }
    }
    if (o->k_policy == HS_K_PRIOR) {
        k = (double)n * o->class_prior[1];
    } else if (o->k_policy == HS_K_FRACTION) {
        k = floor(o->k_fraction * (double)n);
    }
    k = k < (double)n ? k : (double)n;

    p = malloc(n * elem);
    if (p == NULL) {
        return hs_fail(HS_ERR_NOMEM, "out of memory for the projection of %zu scores", n);
    }
    d = hs_proj_make(1, n, k, o->tau);
    d.reg = o->reg;
    d.threads = o->threads;
    pr.z = z;
    pr.labels = NULL;
    pr.y = y;
    pr.B = n;
    pr.C = 1;
    pr.is_float = is_float;
    s = hs_hs_forward_backward(loss, dz, NULL, p, &pr, &d, o->sum_reduction, work);
    free(p);
    return s;
}

hs_status hs_loss_binary_hs_f(double *loss, float *dz, const float *z, const float *y, size_t n,
                              const hs_loss_opts *o)
{
    return hs_loss_binary_any(loss, dz, z, y, n, o, 1);
}

hs_status hs_loss_binary_hs_d(double *loss, double *dz, const double *z, const double *y,
                              size_t n, const hs_loss_opts *o)
{
    return hs_loss_binary_any(loss, dz, z, y, n, o, 0);
}
