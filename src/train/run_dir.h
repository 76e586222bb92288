/* Internal: the writers of a run directory's JSON and CSV files (the readers and the file
 * names are public: hypersimplex/train.h, "The run directory"). Each file is written whole
 * through the atomic writer (util/atomic_file.h), so a reader sees the old or the new file. */
#ifndef HS_TRAIN_RUN_DIR_H
#define HS_TRAIN_RUN_DIR_H

#include "hypersimplex/train.h"

/* What config.json records beside the configuration: the sizes of the split and the network. */
typedef struct hs_run_info {
    size_t n_train, n_val, n_test, nparams;
    hs_net_shape shape;
} hs_run_info;

/* dir/config.json: every option of c and ri. */
hs_status hs_run_write_config(const char *dir, const hs_train_config *c, const hs_run_info *ri);

/* dir/metrics.csv: rows[0..n). */
hs_status hs_run_write_metrics(const char *dir, const hs_epoch_metrics *rows, size_t n);

/* dir/summary.json: the selections of r, the last training loss and the epoch seconds of
 * rows (r->epochs_done of them), and theta (C), the running class thresholds (NaN where none). */
hs_status hs_run_write_summary(const char *dir, const hs_train_config *c, const hs_train_result *r,
                               const hs_epoch_metrics *rows, const double *theta, size_t C);

#endif
