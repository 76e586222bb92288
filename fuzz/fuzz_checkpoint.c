/* Training checkpoints (hs_ckpt_read). The harness appends the right checksum to the
 * fuzzed bytes, so the inputs reach the parsing behind the checksum test (a wrong checksum
 * is rejected before anything is parsed; tests/test_train.c covers that). */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "train/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *file = malloc(size + 8);
    if (!file)
        return 0;
    if (size)
        memcpy(file, data, size);
    uint64_t sum = hs_ckpt_checksum(data, size);
    memcpy(file + size, &sum, 8);
    const char *path = hs_fuzz_file(0, file, size + 8);
    free(file);
    hs_ckpt c;
    hs_fuzz_clear_error();
    if (hs_ckpt_read(&c, path) != HS_OK) {
        HS_FUZZ_CHECK(!c.params && !c.m && !c.v && !c.buffers && !c.theta && !c.rows);
        HS_FUZZ_CHECK(hs_fuzz_has_error());
        return 0;
    }
    HS_FUZZ_CHECK(c.params && c.m && c.v && c.buffers && c.rows);
    HS_FUZZ_CHECK(c.nrows == c.epochs_done);
    /* version 1 files have no class thresholds; version 2 files a (possibly empty) array */
    HS_FUZZ_CHECK(c.version == 1 || c.version == HS_CKPT_VERSION);
    HS_FUZZ_CHECK(c.version == 1 ? c.ntheta == 0 && !c.theta : c.theta != NULL);
    /* The arrays are as long as the header says (AddressSanitizer checks the last elements). */
    volatile float last = 0;
    if (c.nparams)
        last += c.params[c.nparams - 1] + c.m[c.nparams - 1] + c.v[c.nparams - 1];
    if (c.nbufs)
        last += c.buffers[c.nbufs - 1];
    if (c.ntheta)
        last += (float)c.theta[c.ntheta - 1];
    (void)last;
    for (uint64_t i = 0; i < c.nrows; i++)
        HS_FUZZ_CHECK(c.rows[i].epoch == i);
    hs_ckpt_free(&c);
    return 0;
}
