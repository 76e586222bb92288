/* Internal: the checkpoint file of a training run.
 *
 * Layout (little-endian as written by this machine; integers u32/u64, reals f64, tensors f32):
 *   "HSNNCKPT" (8 bytes), u32 version (2), u32 reserved 0
 *   fingerprint: the options a resume must match (hs_ckpt_fingerprint, fixed size; version 2
 *       ends with f64 theta_momentum)
 *   u64 epochs_done, u64 adam_steps, u64 nparams, u64 nbufs
 *   f32 params[nparams], f32 adam_m[nparams], f32 adam_v[nparams], f32 buffers[nbufs]
 *   u64 ntheta, f64 theta[ntheta]: the running class thresholds (version 2; ntheta = classes,
 *       NaN where a class has none yet and for non-HS losses)
 *   u64 nrows, then per row: u64 epoch, f64 train_loss, f64 val_accuracy, f64 test_accuracy,
 *       f64 seconds, and in version 2 f64 val_accuracy_threshold, f64 test_accuracy_threshold
 *   u64 FNV-1a hash of every byte before it
 * Written atomically (util/atomic_file.h). Version 1 files (before the class thresholds) are
 * still read: theta_momentum 0, ntheta 0, threshold accuracies NaN; hs_train_run resumes
 * them for the losses without thresholds only. */
#ifndef HS_TRAIN_CHECKPOINT_H
#define HS_TRAIN_CHECKPOINT_H

#include <stdint.h>

#include "hypersimplex/train.h"

#define HS_CKPT_VERSION 2u

typedef struct hs_ckpt_fingerprint {
    uint32_t dataset, loss_kind, k_policy, reg;
    double tau, k_fraction, lr, val_fraction;
    uint64_t batch_size, seed, train_limit, test_limit, width, hidden;
    uint32_t augment, classes;
    uint64_t channels, height, img_width;
    double theta_momentum;  /* HS losses; 0 for the others */
} hs_ckpt_fingerprint;

typedef struct hs_ckpt {
    uint32_t version;                   /* of the file read (written: HS_CKPT_VERSION) */
    hs_ckpt_fingerprint fp;
    uint64_t epochs_done, steps;
    uint64_t nparams, nbufs;
    float *params, *m, *v, *buffers;    /* borrowed when writing, allocated when reading */
    uint64_t ntheta;
    double *theta;                      /* (ntheta) running class thresholds; idem */
    uint64_t nrows;
    hs_epoch_metrics *rows;             /* idem */
} hs_ckpt;

hs_status hs_ckpt_write(const char *path, const hs_ckpt *c);
/* Reads and validates (magic, version, sizes, hash). Allocates the arrays; free with
 * hs_ckpt_free. HS_ERR_IO if the file cannot be opened or read, HS_ERR_FORMAT otherwise. */
hs_status hs_ckpt_read(hs_ckpt *c, const char *path);
void hs_ckpt_free(hs_ckpt *c);
/* The checksum that ends a checkpoint, of its first n bytes (lets the fuzz harness reach the
 * parsing behind the check). */
uint64_t hs_ckpt_checksum(const void *bytes, size_t n);
/* NULL if equal, else the name of the first differing field. */
const char *hs_ckpt_fingerprint_diff(const hs_ckpt_fingerprint *a, const hs_ckpt_fingerprint *b);

#endif
