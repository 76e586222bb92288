/* The study layer: a paired t-test (GSL's Student t). */
#include <math.h>
#include <stdio.h>

#include <hypersimplex/study.h>

int main(void)
{
    const double a[4] = {0.91, 0.93, 0.92, 0.95}, b[4] = {0.90, 0.91, 0.91, 0.92};
    hs_ttest t;
    if (hs_paired_ttest(&t, a, b, 4) != HS_OK) {
        fprintf(stderr, "study: %s\n", hs_last_error());
        return 1;
    }
    printf("study: t = %.4f, p = %.4f\n", t.t, t.p);
    return t.t > 0 && t.p > 0 && t.p < 1 ? 0 : 1;
}
