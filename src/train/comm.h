/* Internal: the collective operations of a data-parallel run over an hs_comm
 * (hypersimplex/dist.h). Every function is collective: each rank of the group calls it in the
 * same order with matching sizes. c NULL (one process) or a group of one: nothing to
 * exchange, the buffers are left as they are. Each records its time in hs_comm_seconds().
 * Errors: HS_ERR_BACKEND (MPI's message), HS_ERR_SIZE (a count MPI cannot take). */
#ifndef HS_TRAIN_COMM_H
#define HS_TRAIN_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "hypersimplex/dist.h"

/* In-place sums over the ranks (MPI_Allreduce with MPI_IN_PLACE, MPI_SUM). */
hs_status hs_comm_sum_d(hs_comm *c, double *buf, size_t n);
hs_status hs_comm_sum_f(hs_comm *c, float *buf, size_t n);
/* In-place minimum of n ints over the ranks. */
hs_status hs_comm_min_i(hs_comm *c, int *buf, size_t n);
/* all (sum of counts floats) receives every rank's `mine` (counts[rank] floats) in rank
 * order; counts (size) is the same on every rank. */
hs_status hs_comm_gather_f(hs_comm *c, float *all, const float *mine, const size_t *counts);
/* Rank root's `bytes` bytes at buf are copied to every rank's buf. */
hs_status hs_comm_bcast(hs_comm *c, void *buf, size_t bytes, int root);
/* Records whether hs_train_run's error on this rank is shared by every rank. */
void hs_comm_set_error_shared(hs_comm *c, int shared);

#endif
