/* The vectors `hypersimplex project` reads (project_parse_text), in double and float mode. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/parsers.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse(const uint8_t *data, size_t size, int as_float)
{
    char *text = malloc(size + 1); /* the parser works in place on a NUL-terminated copy */
    if (!text)
        return;
    if (size)
        memcpy(text, data, size);
    text[size] = '\0';
    project_rows r;
    int rc = project_parse_text(&r, "fuzz", text, size, as_float);
    free(text);
    if (rc != 0) {
        HS_FUZZ_CHECK(rc == 1 || rc == 2);
        HS_FUZZ_CHECK(r.count == 0 && !r.values && !r.len);
        return;
    }
    HS_FUZZ_CHECK(r.count >= 1);
    size_t total = 0;
    for (size_t i = 0; i < r.count; i++) {
        HS_FUZZ_CHECK(r.len[i] >= 1 && r.line[i] >= 1);
        HS_FUZZ_CHECK(i == 0 || r.line[i - 1] < r.line[i]);
        total += r.len[i];
    }
    HS_FUZZ_CHECK(total == r.total);
    for (size_t j = 0; j < r.total; j++)
        HS_FUZZ_CHECK(isfinite(r.values[j]) && (!as_float || fabs(r.values[j]) <= FLT_MAX));
    project_rows_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cli_set_quiet(1); /* only whether the input is accepted matters */
    parse(data, size, 0);
    parse(data, size, 1);
    return 0;
}
