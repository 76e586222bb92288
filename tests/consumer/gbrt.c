/* The gbrt layer: the exact AUC of some scores against XGBoost's own. */
#include <math.h>
#include <stdio.h>

#include <hypersimplex/gbrt.h>

int main(void)
{
    const float score[6] = {0.1f, 0.4f, 0.35f, 0.8f, 0.7f, 0.2f}, label[6] = {0, 0, 1, 1, 1, 0};
    double ours = 0, xgb = 0;
    if (hs_auc(&ours, score, label, 6) != HS_OK || hs_gbrt_xgb_auc_of_scores(&xgb, score, label, 6) != HS_OK) {
        fprintf(stderr, "gbrt: %s\n", hs_last_error());
        return 1;
    }
    printf("gbrt: AUC %.6f, XGBoost's %.6f\n", ours, xgb);
    return fabs(ours - xgb) < 1e-6 ? 0 : 1;
}
