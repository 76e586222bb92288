/* libsvm tables for gradient boosting (hs_table_read, HS_TABLE_LIBSVM), raw or gzip. */
#include "fuzz_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hs_fuzz_table(data, size, HS_TABLE_LIBSVM);
    return 0;
}
