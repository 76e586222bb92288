/* Internal: the data-parallel parts of a training run (src/train/train.c), over the ranks of
 * an hs_comm (hypersimplex/dist.h). With one process (comm NULL or of size 1) every function
 * does exactly what the single-process run did, and nothing is exchanged.
 *
 * Error agreement. Ranks must leave a run together: a rank that returns while the others
 * wait in a collective operation hangs the job. Errors that every rank meets identically
 * (bad options, a diverged loss, which is reduced over the ranks before it is checked) are
 * shared without communication; errors of one rank that may happen at a known point (data
 * files, the checkpoint read and the writes of rank 0) pass through hs_dist_agree, which
 * gives every rank the first failing rank's status and message. Any other error is this
 * rank's alone (hs_comm_error_shared() 0): the program ends the job. */
#ifndef HS_TRAIN_DIST_H
#define HS_TRAIN_DIST_H

#include "hypersimplex/train.h"
#include "train/checkpoint.h"

typedef struct hs_dist {
    hs_comm *comm;          /* NULL: one process */
    int rank, size;
    int sync_bn;
    hs_loss_scope scope;
    int in_setup;           /* before the first step: a failure is agreed on at the end */
    int agreed;             /* the current error was agreed by every rank */
    size_t *counts;         /* (size) scratch: values per rank of a gather */
    float *packed;          /* (B x (C + 1)) gathered logits with the label as last column */
    float *all_logits, *all_dlogits;
    int32_t *all_labels;
    size_t cap_rows;
    void *check;            /* rank 0's parameters, statistics and thresholds (epoch end) */
} hs_dist;

/* From the configuration (cfg->comm may be NULL). Errors: HS_ERR_NOMEM. */
hs_status hs_dist_init(hs_dist *d, const hs_train_config *cfg);
void hs_dist_free(hs_dist *d);

static inline int hs_dist_is_writer(const hs_dist *d) { return d->rank == 0; }

/* This rank's rows [*lo, *lo + *cnt) of n: rank r of N takes [n r / N, n (r + 1) / N). */
void hs_dist_shard(const hs_dist *d, size_t n, size_t *lo, size_t *cnt);

/* HS_ERR_SIZE unless every batch of an epoch of n images in batches of b gives every rank at
 * least one image. The same answer on every rank. */
hs_status hs_dist_check_batches(const hs_dist *d, size_t n, size_t b);

/* Collective: HS_OK if st is HS_OK on every rank; else the status and message of the lowest
 * failing rank, on every rank (marked agreed). */
hs_status hs_dist_agree(hs_dist *d, hs_status st);

/* The end of hs_train_run: a failure during the setup that the other ranks have not heard
 * of yet is agreed on now (they wait in the matching hs_dist_agree); records in the comm
 * whether the returned error is shared. Returns the status the run returns. */
hs_status hs_dist_finish(hs_dist *d, hs_status st);

/* Collective: rank 0's checkpoint (*have: whether it read one) is given to every rank. */
hs_status hs_dist_bcast_ckpt(hs_dist *d, hs_ckpt *ck, int *have);

/* The loss of one step. logits/labels: this rank's b rows of the global batch of B rows.
 * Writes the global batch's loss (the same on every rank), this rank's rows of its gradient
 * into dlogits (so the sum over ranks of the parameter gradients is the global one), and the
 * batch thresholds theta (C; identical on every rank). A non-finite logit anywhere gives a
 * NaN loss on every rank (HS_OK), so that the divergence check agrees. */
hs_status hs_dist_loss(hs_dist *d, double *loss, float *dlogits, double *theta, const float *logits,
                       const int32_t *labels, size_t b, size_t B, size_t C, const hs_loss_opts *o);

/* Collective: gradients summed over the ranks, in place. */
hs_status hs_dist_sum_grads(hs_dist *d, float *g, size_t n);

/* Collective: counts (n) summed over the ranks, in place. */
hs_status hs_dist_sum_counts(hs_dist *d, double *counts, size_t n);

/* Collective, after an epoch's steps: without synchronized batch norm the running statistics
 * (each rank's own) are averaged over the ranks; then every rank checks that its parameters,
 * statistics and thresholds equal rank 0's (HS_ERR_BACKEND naming the rank if not). */
hs_status hs_dist_epoch_end(hs_dist *d, hs_net *net, const double *theta, size_t C);

/* The synchronized batch norm's sum (hs_net_sum_fn; user = the hs_dist). */
hs_status hs_dist_bn_sum(double *buf, size_t n, void *user);

/* Seconds spent in collective operations so far. */
double hs_dist_seconds(const hs_dist *d);

#endif
