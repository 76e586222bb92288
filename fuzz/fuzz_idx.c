/* IDX image and label files (hs_idx_load), raw or gzip: the input is split into the two
 * files (fuzz_util.h). A loaded data set must be as the header says; a failure must leave
 * the data set empty and say why. */
#include "fuzz_util.h"
#include "hypersimplex/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hs_fuzz_parts parts = hs_fuzz_split(data, size);
    const char *images = hs_fuzz_file(0, parts.a, parts.na);
    const char *labels = hs_fuzz_file(1, parts.b, parts.nb);
    const size_t classes = 10;
    hs_dataset d;
    hs_fuzz_clear_error();
    if (hs_idx_load(&d, images, labels, classes) != HS_OK) {
        HS_FUZZ_CHECK(!d.pixels && !d.labels && d.count == 0);
        HS_FUZZ_CHECK(hs_fuzz_has_error());
        return 0;
    }
    HS_FUZZ_CHECK(d.count >= 1 && d.channels == 1 && d.height >= 1 && d.width >= 1);
    HS_FUZZ_CHECK(d.classes == classes && d.pixels && d.labels);
    /* The whole pixel array is there (AddressSanitizer checks the last byte). */
    volatile uint8_t last = d.pixels[d.count * d.height * d.width - 1];
    (void)last;
    for (size_t i = 0; i < d.count; i++)
        HS_FUZZ_CHECK(d.labels[i] >= 0 && (size_t)d.labels[i] < classes);
    hs_dataset_free(&d);
    return 0;
}
