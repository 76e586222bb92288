/* Internal declarations shared by the files of the data layer. */
#ifndef HS_DATA_INTERNAL_H
#define HS_DATA_INTERNAL_H

#include "hypersimplex.h"
#include "hypersimplex/data.h"

/* Limits checked on file headers before anything is allocated. */
#define HS_DATA_MAX_COUNT ((size_t)1 << 26)      /* images per file */
#define HS_DATA_MAX_SIDE ((size_t)4096)          /* rows, cols */
#define HS_DATA_MAX_BYTES ((uint64_t)1 << 32)    /* pixel bytes per file */

/* Loads the (fashion-)mnist train and test sets from the standard IDX file names in dir. */
hs_status hs_idx_load_dir(hs_dataset *train, hs_dataset *test, const char *dir, size_t classes);
/* Loads the CIFAR-10 binary batches from dir or dir/cifar-10-batches-bin. */
hs_status hs_cifar10_load_dir(hs_dataset *train, hs_dataset *test, const char *dir);


/* Largest-remainder apportionment: quota[c] = the share of `pick` items given to class c
 * out of total items whose class sizes are counts[c] (sum counts = total, pick <= total).
 * floor(pick * counts[c] / total) each, the remaining units to the largest remainders,
 * ties to the smaller class index. sum quota = pick and quota[c] <= counts[c]. */
void hs_data_quota(size_t *quota, const size_t *counts, size_t classes, size_t pick, size_t total);

/* Marks chosen[i] = 1 for quota[c] images of each class c drawn uniformly at random from the
 * stream `key` (0 for the others). Returns HS_ERR_NOMEM or HS_OK. */
hs_status hs_data_pick_stratified(unsigned char *chosen, const hs_dataset *d, const size_t *quota,
                                  uint64_t key);
#endif
