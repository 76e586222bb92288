/* A run directory's JSON files as the train layer reads them back (hs_run_record_read,
 * hs_run_summary_read): the first part of the input is config.json, the rest summary.json
 * (fuzz_util.h's hs_fuzz_split), written into a private directory. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "hypersimplex/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/hs_fuzz_run_json_XXXXXX";

static void put(const char *name, const uint8_t *bytes, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    HS_FUZZ_CHECK(f != NULL);
    HS_FUZZ_CHECK(n == 0 || fwrite(bytes, 1, n, f) == n);
    HS_FUZZ_CHECK(fclose(f) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int made = 0;
    if (!made)
        HS_FUZZ_CHECK(mkdtemp(dir) != NULL);
    made = 1;
    hs_fuzz_parts p = hs_fuzz_split(data, size);
    put(HS_RUN_CONFIG_FILE, p.a, p.na);
    put(HS_RUN_SUMMARY_FILE, p.b, p.nb);

    hs_run_record r;
    hs_fuzz_clear_error();
    if (hs_run_record_read(&r, dir) != HS_OK) {
        HS_FUZZ_CHECK(hs_fuzz_has_error());
        HS_FUZZ_CHECK(!r.version && !r.config.out_dir && !r.config.data_dir);
    } else {
        /* what the reader accepts is a configuration a run would accept */
        HS_FUZZ_CHECK(hs_train_config_check(&r.config) == NULL);
        HS_FUZZ_CHECK(r.config.out_dir && !strcmp(r.config.out_dir, dir));
    }
    hs_run_record_free(&r);

    hs_train_result res;
    double theta[4];
    size_t n_theta = 99;
    hs_fuzz_clear_error();
    if (hs_run_summary_read(&res, theta, 4, &n_theta, dir) != HS_OK) {
        HS_FUZZ_CHECK(hs_fuzz_has_error());
        HS_FUZZ_CHECK(n_theta == 0 && res.epochs_done == 0);
    }
    return 0;
}
