/* Exact AUC: the Mann-Whitney statistic with midranks. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>

#include "hypersimplex/gbrt.h"
#include "util/error.h"

typedef struct scored {
    float score;
    float label;
} scored;

static int by_score(const void *a, const void *b)
{
    float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x > y) - (x < y);
}

hs_status hs_auc(double *auc, const float *score, const float *label, size_t n)
{
    if (!auc || !score || !label)
        return hs_fail(HS_ERR_NULL, "hs_auc: NULL argument");
    if (n == 0)
        return hs_fail(HS_ERR_SIZE, "hs_auc: no examples");
    scored *v = malloc(n * sizeof *v);
    if (!v)
        return hs_fail(HS_ERR_NOMEM, "hs_auc: out of memory for %zu examples", n);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(score[i])) {
            free(v);
            return hs_fail(HS_ERR_NONFINITE, "hs_auc: score %zu is NaN", i);
        }
        if (label[i] != 0.0f && label[i] != 1.0f) {
            free(v);
            return hs_fail(HS_ERR_LABEL, "hs_auc: label %zu is %g, not 0 or 1", i,
                           (double)label[i]);
        }
        pos += label[i] == 1.0f;
        v[i].score = score[i];
        v[i].label = label[i];
    }
    size_t neg = n - pos;
    if (pos == 0 || neg == 0) {
        free(v);
        return hs_fail(HS_ERR_LABEL, "hs_auc: only %s examples (AUC needs both classes)",
                       pos ? "positive" : "negative");
    }
    qsort(v, n, sizeof *v, by_score);
    /* For each group of tied scores: every positive beats the negatives below the group and
     * ties with the negatives inside it (counted 1/2). Doubled to stay in integers. */
    double twice_wins = 0;
    size_t neg_below = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i, p = 0;
        while (j < n && v[j].score == v[i].score) {
            p += v[j].label == 1.0f;
            j++;
        }
        size_t q = (j - i) - p;
        twice_wins += (double)p * (double)(2 * neg_below + q);
        neg_below += q;
        i = j;
    }
    free(v);
    *auc = twice_wins / (2.0 * (double)pos * (double)neg);
    return HS_OK;
}
