/*
 * hypersimplex/dist.h: the processes of a data-parallel training run (MPI).
 *
 * `mpirun -np N hypersimplex train ...` runs N ranks of one training run (docs/distributed.md):
 * every global batch is split into N contiguous shards, gradients are summed over the ranks,
 * the HyperSimplex loss is evaluated on the whole global batch (hs_train_config.loss_scope),
 * batch norm may synchronize its statistics (hs_train_config.sync_bn), evaluation is sharded,
 * and rank 0 alone writes the run directory. An hs_comm is the group of ranks; NULL means one
 * process (every function below accepts NULL: rank 0 of 1).
 *
 * Available when the library was built with MPI (CMake option HS_WITH_MPI, ON when Open MPI's
 * libopenmpi-dev is installed); otherwise hs_comm_world() fails with HS_ERR_UNSUPPORTED.
 */
#ifndef HYPERSIMPLEX_DIST_H
#define HYPERSIMPLEX_DIST_H

#ifdef __cplusplus
extern "C" {
#endif

/* The types come before the umbrella header, which includes train.h, their user. */
typedef struct hs_comm hs_comm;

/* Where the HyperSimplex loss of a data-parallel step is evaluated (other losses are sums
 * over examples: both scopes are the same for them). */
typedef enum hs_loss_scope {
    HS_LOSS_SCOPE_GLOBAL = 0,   /* default: the ranks all-gather the logits and labels, every
                                   rank evaluates the loss, k_c and the thresholds on the whole
                                   global batch (what one process would do) and keeps its
                                   rows of the gradient */
    HS_LOSS_SCOPE_SHARD = 1     /* every rank projects its own shard (k_c from its shard); the
                                   loss is the shards' size-weighted mean, the batch thresholds
                                   the mean of the ranks' finite ones (for comparison) */
} hs_loss_scope;

#ifdef __cplusplus
}
#endif

#include "hypersimplex.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "global", "shard". Parsing is strict; on failure HS_ERR_ARG (HS_ERR_NULL for a NULL
 * argument) naming the expected names, and *out is untouched. The name of an invalid value is
 * "unknown". */
HS_API hs_status hs_loss_scope_parse(hs_loss_scope *out, const char *name);
HS_API const char *hs_loss_scope_name(hs_loss_scope s);

/* 1 if the library was built with MPI, else 0. */
HS_API int hs_comm_mpi_available(void);

/* 1 if this process was started by an MPI launcher (mpirun/mpiexec of Open MPI, MPICH or
 * Intel MPI, Slurm's srun with PMI/PMIx): one of OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK is
 * set in the environment. A program starts MPI only then, so a plain run needs no launcher. */
HS_API int hs_comm_launched(void);

/* Initializes MPI (MPI_Init_thread with MPI_THREAD_FUNNELED) unless it is initialized
 * already, and returns the group of all processes (MPI_COMM_WORLD) in *out. argc/argv may be
 * NULL. Errors: HS_ERR_NULL, HS_ERR_UNSUPPORTED (built without MPI), HS_ERR_BACKEND (MPI
 * failed; hs_last_error() has MPI's message), HS_ERR_NOMEM. */
HS_API hs_status hs_comm_world(hs_comm **out, int *argc, char ***argv);

HS_API int hs_comm_rank(const hs_comm *c);  /* 0 for NULL */
HS_API int hs_comm_size(const hs_comm *c);  /* 1 for NULL */
/* Ranks of c on this machine (sharing its memory), this one included; 1 for NULL. */
HS_API int hs_comm_local_size(const hs_comm *c);

/* Whether the error that hs_train_run last returned on this rank was returned by every rank
 * of c, with the same status and message (bad options or data, a diverged run, a failed write
 * of rank 0, ...): then every rank may simply report it (rank 0 prints it) and end normally.
 * 0 for an error of this rank alone (e.g. out of memory, a oneDNN failure): the other ranks
 * may be waiting for this one in a collective operation, so the program must end the job
 * with hs_comm_abort(). Always 1 for NULL or a group of one process. */
HS_API int hs_comm_error_shared(const hs_comm *c);

/* Seconds this rank has spent in collective operations (all-reduce, all-gather, broadcast)
 * since hs_comm_world: communication plus waiting for the slowest rank. */
HS_API double hs_comm_seconds(const hs_comm *c);

/* Ends MPI if hs_comm_world started it (MPI_Finalize) and frees c. NULL: nothing. */
HS_API void hs_comm_finalize(hs_comm *c);

/* Ends every process of the job with exit status `code` (MPI_Abort); does not return. For a
 * program's fatal-error path after hs_comm_error_shared() said 0; the library itself never
 * calls it. NULL or without MPI: exit(code). */
HS_API void hs_comm_abort(hs_comm *c, int code);

#ifdef __cplusplus
}
#endif

#endif /* HYPERSIMPLEX_DIST_H */
