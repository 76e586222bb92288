/* CIFAR-10 binary batches (hs_cifar10_load_files), raw or gzip: the input is split into two
 * files (fuzz_util.h) read with a limit of 2 records each, so the limit is reachable with
 * small inputs. */
#include "fuzz_util.h"
#include "hypersimplex/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hs_fuzz_parts parts = hs_fuzz_split(data, size);
    const char *paths[2] = {hs_fuzz_file(0, parts.a, parts.na), hs_fuzz_file(1, parts.b, parts.nb)};
    const size_t max_records = 2;
    hs_dataset d;
    hs_fuzz_clear_error();
    if (hs_cifar10_load_files(&d, paths, 2, max_records) != HS_OK) {
        HS_FUZZ_CHECK(!d.pixels && !d.labels && d.count == 0);
        HS_FUZZ_CHECK(hs_fuzz_has_error());
        return 0;
    }
    HS_FUZZ_CHECK(d.count >= 2 && d.count <= 2 * max_records);
    HS_FUZZ_CHECK(d.channels == 3 && d.height == 32 && d.width == 32 && d.classes == 10);
    volatile uint8_t last = d.pixels[d.count * 3 * 32 * 32 - 1];
    (void)last;
    for (size_t i = 0; i < d.count; i++)
        HS_FUZZ_CHECK(d.labels[i] >= 0 && d.labels[i] < 10);
    hs_dataset_free(&d);
    return 0;
}
