/* The base library: project a vector onto the (5, 2)-hypersimplex, its VJP, and a loss. */
#include <math.h>
#include <stdio.h>

#include <hypersimplex.h>

int main(void)
{
    double z[5] = {3.0, 1.0, 0.2, -1.0, 2.5}, p[5], g[5] = {1, 0, 0, 0, -1}, dz[5];
    hs_proj d = hs_proj_make(1, 5, 2.0, 1.0);
    if (hs_project_d(p, NULL, NULL, z, &d) != HS_OK || hs_project_vjp_d(dz, p, g, &d) != HS_OK) {
        fprintf(stderr, "operator: %s\n", hs_last_error());
        return 1;
    }
    double sum = 0;
    for (int i = 0; i < 5; i++)
        sum += p[i];
    /* a bad k fails with a message that names it */
    d.k = 9.0;
    if (hs_project_d(p, NULL, NULL, z, &d) != HS_ERR_K || !*hs_last_error())
        return 1;

    float logits[6] = {2, 0, 1, 0, 1, 3}, grad[6];
    int32_t labels[2] = {0, 2};
    double value = 0;
    hs_loss_opts o = hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX);
    if (hs_loss_multiclass_f(&value, grad, logits, labels, 2, 3, &o) != HS_OK) {
        fprintf(stderr, "loss: %s\n", hs_last_error());
        return 1;
    }
    printf("hypersimplex %s: sum p = %.12g, loss = %.6g\n", hs_version(), sum, value);
    return fabs(sum - 2.0) < 1e-12 && isfinite(value) ? 0 : 1;
}
