/* metrics.csv of one training run (hs_run_read_metrics), which `sweep` collects, with or
 * without the optional threshold-rule columns. */
#include "fuzz_curve.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = hs_fuzz_file(0, data, size);
    hs_run_curve run;
    hs_fuzz_clear_error();
    if (hs_run_read_metrics(&run, path, "fashion-mnist", "", "hypersimplex", 128, 0) != HS_OK) {
        HS_FUZZ_CHECK(run.epochs == 0 && !run.test_accuracy && !run.dataset);
        HS_FUZZ_CHECK(!run.test_accuracy_threshold && !run.val_accuracy_threshold);
        HS_FUZZ_CHECK(hs_fuzz_has_error());
        return 0;
    }
    hs_fuzz_check_curve(&run);
    hs_run_curve_free(&run);
    return 0;
}
