/* metrics.csv of one training run (hs_run_read_metrics), which `sweep` collects. */
#include <math.h>

#include "fuzz_util.h"
#include "hypersimplex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = hs_fuzz_file(0, data, size);
    hs_run_curve run;
    hs_fuzz_clear_error();
    if (hs_run_read_metrics(&run, path, "fashion-mnist", "", "hypersimplex", 128, 0) != HS_OK) {
        HS_FUZZ_CHECK(run.epochs == 0 && !run.test_accuracy && !run.dataset);
        HS_FUZZ_CHECK(hs_fuzz_has_error());
        return 0;
    }
    HS_FUZZ_CHECK(run.epochs >= 1 && run.dataset && run.variant && run.loss);
    for (size_t e = 0; e < run.epochs; e++) {
        HS_FUZZ_CHECK(run.test_accuracy[e] >= 0.0 && run.test_accuracy[e] <= 1.0);
        HS_FUZZ_CHECK(isnan(run.val_accuracy[e]) ||
                      (run.val_accuracy[e] >= 0.0 && run.val_accuracy[e] <= 1.0));
    }
    hs_run_curve_free(&run);
    return 0;
}
