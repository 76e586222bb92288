/* Results CSV of the study (hs_results_read), raw or gzip, and what the report does with a
 * table that parsed: the selection rules, the paired t-tests and the Markdown table. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_curve.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = hs_fuzz_file(0, data, size);
    hs_results r;
    hs_fuzz_clear_error();
    if (hs_results_read(&r, path) != HS_OK) {
        HS_FUZZ_CHECK(r.n_runs == 0 && !r.runs);
        HS_FUZZ_CHECK(hs_fuzz_has_error());
        return 0;
    }
    HS_FUZZ_CHECK(r.n_runs >= 1);
    for (size_t i = 0; i < r.n_runs; i++)
        hs_fuzz_check_curve(&r.runs[i]);
    static const hs_select_rule rules[3] = {HS_SELECT_MAX_TEST, HS_SELECT_BEST_VAL, HS_SELECT_LAST};
    for (int k = 0; k < 3; k++) {
        hs_study s;
        if (hs_study_compute(&s, &r, rules[k], "cross_entropy") != HS_OK)
            continue;
        hs_markdown_opts o = hs_markdown_opts_default();
        char *md = NULL;
        if (hs_study_markdown(&md, &s, &o) == HS_OK)
            HS_FUZZ_CHECK(md && strlen(md) > 0);
        free(md);
        hs_study_free(&s);
    }
    hs_results_free(&r);
    return 0;
}
