#include "fuzz_curve.h"

#include <math.h>

#include "fuzz_util.h"

static int is_fraction_or_nan(double v)
{
    return isnan(v) || (v >= 0.0 && v <= 1.0);
}

void hs_fuzz_check_curve(const hs_run_curve *run)
{
    HS_FUZZ_CHECK(run->dataset && run->variant && run->loss && run->epochs >= 1);
    for (size_t e = 0; e < run->epochs; e++) {
        HS_FUZZ_CHECK(run->test_accuracy[e] >= 0.0 && run->test_accuracy[e] <= 1.0);
        HS_FUZZ_CHECK(is_fraction_or_nan(run->val_accuracy[e]));
        if (run->test_accuracy_threshold)
            HS_FUZZ_CHECK(is_fraction_or_nan(run->test_accuracy_threshold[e]));
        if (run->val_accuracy_threshold)
            HS_FUZZ_CHECK(is_fraction_or_nan(run->val_accuracy_threshold[e]));
    }
}
