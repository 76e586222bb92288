/*
 * hypersimplex/train.h: training runs of the paper's network (hypersimplex/nn.h) on an image
 * data set (hypersimplex/data.h) with one of the losses (hypersimplex/loss.h) and Adam.
 *
 * A run lives in an output directory and is written atomically:
 *   config.json     every option of the run
 *   metrics.csv     epoch,train_loss,val_accuracy,test_accuracy,seconds,
 *                   val_accuracy_threshold,test_accuracy_threshold (one row per epoch, epochs
 *                   from 0, accuracies in [0, 1] with %.6f; "nan" without validation set, and
 *                   in the threshold columns for the losses without thresholds)
 *   checkpoint.bin  everything needed to resume exactly (written after every epoch with
 *                   metrics.csv)
 *   summary.json    written last, only when all epochs are done (its presence means "done")
 *
 * Determinism: the initialization, the split, the shuffles and the augmentation depend only
 * on the seed (and epoch, image index), so a resumed run ends bit-identical to an
 * uninterrupted one with the same number of threads.
 *
 * Epochs: every training image once per epoch in batches of batch_size (the last batch may
 * be smaller, like PyTorch's DataLoader without drop_last); then accuracy on the validation
 * and test sets in evaluation mode.
 *
 * Two prediction rules are evaluated. "argmax": argmax_c z_c of the logits (every loss; the
 * figure that compares with the paper's). "threshold" (HyperSimplex loss only): argmax_c
 * (z_c / tau - theta_c) with the running class thresholds theta (hs_loss_theta_update,
 * momentum theta_momentum), updated after every training step from the thresholds of the
 * step's batch (hs_loss_multiclass_ex_f; the train-mode forward). The HS loss is invariant to
 * a constant added to a logit column, so the argmax rule is partly arbitrary for it
 * (docs/losses.md); the threshold rule is what the loss trains. The thresholds are part of the
 * model state (checkpoint.bin, summary.json). A threshold accuracy is NaN for the other
 * losses and while some class has no threshold yet.
 */
#ifndef HYPERSIMPLEX_TRAIN_H
#define HYPERSIMPLEX_TRAIN_H

#include "hypersimplex.h"
#include "hypersimplex/data.h"
#include "hypersimplex/dist.h"
#include "hypersimplex/loss.h"
#include "hypersimplex/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hs_train_config {
    hs_data_kind dataset;       /* default fashion-mnist */
    const char *data_dir;       /* NULL: hs_data_default_dir(dataset) */
    hs_loss_opts loss;          /* kind and options (tau, k policy, ...); class_prior is
                                   computed from the training labels for HS_K_PRIOR */
    size_t batch_size;          /* default 1024 */
    size_t epochs;              /* default 20 */
    size_t width;               /* channels of every convolution, default 64 (the paper) */
    size_t hidden;              /* units of the first linear layer, default 512 */
    uint64_t seed;              /* default 0 */
    double lr;                  /* Adam learning rate, default 1e-4 (the paper) */
    double val_fraction;        /* stratified validation split of the training set, default 0.1 */
    size_t train_limit;         /* 0: all training images; else a stratified subset of this
                                   many (taken before the validation split); more than the
                                   training set holds is HS_ERR_SIZE */
    size_t test_limit;          /* 0: all test images; else a stratified subset (at most the
                                   test set's size) */
    int augment;                /* default 1: the paper's random crop + flip */
    int threads;                /* 0: runtime default */
    size_t eval_batch;          /* batch size of evaluation, default 1000 */
    const char *out_dir;        /* required; created if missing (one level) */
    int resume;                 /* continue from out_dir/checkpoint.bin if present */
    double theta_momentum;      /* HS: momentum of the running class thresholds, in [0, 1];
                                   default 0.1 (batch normalization's default momentum) */
    /* Data parallelism (hypersimplex/dist.h, docs/distributed.md). Every rank of comm calls
     * hs_train_run with the same configuration (threads may differ); rank r of N trains on
     * rows [b r / N, b (r + 1) / N) of every global batch of b = batch_size images (the same
     * shuffled order as one process), the gradients are summed over the ranks, evaluation is
     * sharded, and only rank 0 touches out_dir (so resuming works with any N). Every batch,
     * the last one of an epoch included, must have at least N images. */
    hs_comm *comm;              /* NULL (default): one process */
    int sync_bn;                /* 1: batch norm statistics over the global batch
                                   (hs_net_set_bn_sync): N ranks compute the step of one
                                   process, up to rounding. 0 (default): each rank's own
                                   shard, running statistics averaged over the ranks after
                                   every epoch */
    hs_loss_scope loss_scope;   /* HS loss: HS_LOSS_SCOPE_GLOBAL (default) or _SHARD */
} hs_train_config;

HS_API hs_train_config hs_train_config_default(void);

typedef struct hs_epoch_metrics {
    size_t epoch;               /* from 0 */
    double train_loss;          /* mean training loss over the epoch's images */
    double val_accuracy;        /* NaN without a validation set */
    double test_accuracy;
    double seconds;             /* wall time of the epoch (training and evaluation) */
    double val_accuracy_threshold;  /* the same under the threshold rule (NaN for non-HS */
    double test_accuracy_threshold; /* losses and while a class has no threshold) */
} hs_epoch_metrics;

typedef enum hs_train_event_kind {
    HS_TRAIN_START = 0,         /* data loaded, network ready (start_epoch > 0 on resume) */
    HS_TRAIN_BATCH = 1,         /* after each training step */
    HS_TRAIN_EPOCH = 2          /* epoch finished, evaluated and checkpointed */
} hs_train_event_kind;

typedef struct hs_train_event {
    hs_train_event_kind kind;
    size_t epoch, epochs;       /* current epoch (from 0) and total */
    size_t start_epoch;         /* first epoch of this invocation */
    size_t n_train, n_val, n_test;
    size_t images_done;         /* training images done in this epoch */
    double loss;                /* running mean training loss of this epoch */
    const hs_epoch_metrics *metrics; /* HS_TRAIN_EPOCH only */
    size_t reference_kernels;   /* HS_TRAIN_BATCH/EPOCH: hs_net_reference_kernels() of the
                                   network; > 0 means a much slower run (see nn.h) */
    double batch_loss;          /* HS_TRAIN_BATCH: the loss of this step's (global) batch */
    size_t step;                /* HS_TRAIN_BATCH: Adam steps done in the whole run */
} hs_train_event;

/* Progress callback; the library never prints. */
typedef void (*hs_train_callback)(const hs_train_event *ev, void *user);

typedef struct hs_train_result {
    size_t epochs_done;
    size_t best_val_epoch;          /* epoch of the best validation accuracy (first of ties;
                                       the last epoch without validation set) */
    double best_val_accuracy;
    double test_at_best_val;        /* the model-selection figure */
    double max_test_accuracy;       /* maximum test accuracy over epochs (the paper's measure) */
    size_t max_test_epoch;
    double final_test_accuracy;     /* test accuracy after the last epoch */
    double train_seconds;           /* training steps only, this invocation */
    double train_images_per_second; /* training images / train_seconds, this invocation */
    double train_comm_seconds;      /* of train_seconds, the time this rank spent in collective
                                       operations (0 for one process) */
    int already_complete;           /* resume of a run whose summary.json existed */
    /* The same selections under the threshold rule (NaN for the losses without thresholds):
     * best_val_epoch_threshold picks by val_accuracy_threshold. */
    size_t best_val_epoch_threshold;
    double best_val_accuracy_threshold;
    double test_at_best_val_threshold;
    double max_test_accuracy_threshold;
    size_t max_test_epoch_threshold;
    double final_test_accuracy_threshold;
} hs_train_result;

/* Runs (or resumes) a training run. Errors: HS_ERR_NULL, HS_ERR_ARG/HS_ERR_SIZE (bad config,
 * out_dir already holding a run without resume, checkpoint of a different configuration, an
 * HS run's checkpoint of version 1, which has no class thresholds),
 * data errors (HS_ERR_IO, HS_ERR_FORMAT), HS_ERR_DIVERGED (NaN/Inf loss or parameters: the
 * run stops, the checkpoint of the last good epoch is kept), HS_ERR_BACKEND, HS_ERR_NOMEM. */
HS_API hs_status hs_train_run(hs_train_result *result, const hs_train_config *cfg,
                              hs_train_callback cb, void *user);

/* Reads a checkpoint's progress (for tools and tests): epochs done, Adam steps, and up to
 * max_rows metrics rows into rows (may be NULL). Errors: HS_ERR_IO, HS_ERR_FORMAT. */
HS_API hs_status hs_train_checkpoint_info(size_t *epochs_done, uint64_t *steps,
                                          hs_epoch_metrics *rows, size_t max_rows,
                                          const char *path);

#ifdef __cplusplus
}
#endif

#endif /* HYPERSIMPLEX_TRAIN_H */
