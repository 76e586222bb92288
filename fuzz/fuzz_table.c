#include "fuzz_table.h"

#include <math.h>
#include <string.h>

#include "fuzz_util.h"

void hs_fuzz_table(const uint8_t *data, size_t size, hs_table_format format)
{
    const char *path = hs_fuzz_file(0, data, size);
    hs_table t;
    hs_fuzz_clear_error();
    if (hs_table_read(&t, path, format) != HS_OK) {
        HS_FUZZ_CHECK(t.rows == 0 && !t.indptr && !t.values && !t.labels);
        HS_FUZZ_CHECK(hs_fuzz_has_error());
        return;
    }
    /* A text table with a NUL byte is refused (the line reader stops there otherwise and
     * would read half a line); gzip input is binary, its decompressed text is not seen here. */
    int gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    HS_FUZZ_CHECK(gz || !memchr(data, '\0', size));
    HS_FUZZ_CHECK(t.rows >= 1 && t.indptr && t.labels);
    HS_FUZZ_CHECK(t.indptr[0] == 0 && t.indptr[t.rows] == t.nnz);
    for (size_t r = 0; r < t.rows; r++) {
        HS_FUZZ_CHECK(t.labels[r] == 0.0f || t.labels[r] == 1.0f);
        HS_FUZZ_CHECK(t.indptr[r] <= t.indptr[r + 1]);
        for (size_t j = t.indptr[r]; j < t.indptr[r + 1]; j++) {
            HS_FUZZ_CHECK(t.indices[j] < t.cols && isfinite(t.values[j]));
            /* columns increase within a row (libsvm demands it, CSV stores them in order) */
            HS_FUZZ_CHECK(j == t.indptr[r] || t.indices[j - 1] < t.indices[j]);
        }
    }
    hs_table_free(&t);
}
