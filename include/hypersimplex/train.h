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

/* Checks c without touching data or files: NULL if hs_train_run would accept it, else a
 * message naming the first bad field, e.g. "batch_size 0 out of range [1, 2^20]" or
 * "loss.tau 0 must be finite and > 0" (fields of the loss options, hs_loss_opts_check, as
 * loss.<field>). The message is in a buffer of the calling thread, valid until its next call
 * of hs_train_config_check. hs_train_run fails with it (prefixed "training: "). */
HS_API const char *hs_train_config_check(const hs_train_config *c);

/* The loss options `train` uses for `kind` unless told otherwise: hs_loss_opts_default(kind),
 * except that the HyperSimplex loss takes the k policy fraction:0.5 (k_c = floor(B / 2), the
 * authors' released code) instead of the library's count. Why: in the k-policy study
 * (docs/study.md) fraction:0.5 is as accurate as the others under the threshold rule and is
 * the only policy whose argmax-of-logits predictions are too, so it is the safe default for a
 * model whose users may predict either way. */
HS_API hs_loss_opts hs_train_loss_default(hs_loss_kind kind);

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

/* ------------------------------------------------------------------------- */
/* The run directory: the files of a run, for the tools that read them        */
/* ------------------------------------------------------------------------- */

/* The names of the files hs_train_run writes into out_dir (see the top of this header). */
#define HS_RUN_CONFIG_FILE "config.json"
#define HS_RUN_METRICS_FILE "metrics.csv"
#define HS_RUN_CHECKPOINT_FILE "checkpoint.bin"
#define HS_RUN_SUMMARY_FILE "summary.json"

/* How far the run in a directory has come. */
typedef enum hs_run_progress {
    HS_RUN_FRESH = 0,   /* no checkpoint and no summary (or no directory): nothing to resume */
    HS_RUN_PARTIAL = 1, /* a checkpoint but no summary: `resume` continues it */
    HS_RUN_DONE = 2     /* summary.json: every epoch done */
} hs_run_progress;

/* The progress of the run in dir (a missing directory is HS_RUN_FRESH). Errors: HS_ERR_NULL,
 * HS_ERR_IO (dir or one of its files cannot be examined, e.g. no permission). */
HS_API hs_status hs_run_dir_progress(hs_run_progress *out, const char *dir);

/* A run's configuration as config.json records it. */
typedef struct hs_run_record {
    hs_train_config config;     /* every option config.json records; out_dir is the directory
                                   read, data_dir the one recorded (both owned here); comm is
                                   NULL and resume 0 */
    char *version;              /* hs_version() of the build that wrote it */
    size_t ranks;               /* processes of a data-parallel run (1: one process) */
    size_t n_train, n_val, n_test, parameters;
    hs_net_shape shape;         /* image channels, height, width, classes; width, hidden */
} hs_run_record;

/* Reads dir/config.json. The keys dataset, loss, k_policy, k_fraction, batch_size, seed and
 * epochs are required (they identify the run); every other key takes its
 * hs_train_config_default() value when absent, and unknown keys are ignored. Errors (with the
 * file and the key named): HS_ERR_NULL, HS_ERR_IO (missing or unreadable), HS_ERR_FORMAT (not
 * JSON, a missing required key, a value of the wrong type or out of range, an unknown
 * dataset, loss, k policy or regularization name). On failure *out is zeroed. */
HS_API hs_status hs_run_record_read(hs_run_record *out, const char *dir);
HS_API void hs_run_record_free(hs_run_record *r);

/* Reads dir/summary.json into *result (the selections of both prediction rules; JSON null is
 * NaN; train_seconds, train_images_per_second, train_comm_seconds and already_complete are 0)
 * and, if theta is non-NULL, up to max_theta of its running class thresholds into theta
 * (*n_theta, optional, receives how many it records). Errors as hs_run_record_read. */
HS_API hs_status hs_run_summary_read(hs_train_result *result, double *theta, size_t max_theta,
                                     size_t *n_theta, const char *dir);

#ifdef __cplusplus
}
#endif

#endif /* HYPERSIMPLEX_TRAIN_H */
