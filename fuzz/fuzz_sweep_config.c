/* `hypersimplex sweep --config` files (sweep_config_check: the file read and applied as the
 * command does, then validated). */
#include "cli/cli_util.h"
#include "cli/parsers.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cli_set_quiet(1); /* only whether the input is accepted matters */
    int rc = sweep_config_check(hs_fuzz_file(0, data, size));
    HS_FUZZ_CHECK(rc == 0 || rc == 1 || rc == 2);
    return 0;
}
