/* The MPI side of a command: joining the job when started by mpirun/srun, and ending it. */
#ifndef HS_CLI_DIST_H
#define HS_CLI_DIST_H

#include "hypersimplex/dist.h"

/* When an MPI launcher started this process (hs_comm_launched), joins the job: *comm gets the
 * group of all ranks (else NULL, one process), and *threads, if 0 (all cores), becomes the
 * cores divided among the ranks on this machine. Returns 0, or an exit status after printing
 * the error (e.g. a build without MPI started by mpirun). */
int cli_dist_begin(hs_comm **comm, int *threads);

/* Reports a failed run s whose exit status would be `code` and returns that status: an error
 * shared by every rank is printed by rank 0 and MPI is ended normally; an error of this rank
 * alone is printed with the rank's number and ends the whole job (hs_comm_abort). */
int cli_dist_fail(hs_comm *comm, const char *what, hs_status s, int code);

#endif
