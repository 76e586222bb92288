/* The MPI side of a command (see cli_dist.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <unistd.h>

#include "cli/cli_dist.h"
#include "cli/cli_util.h"

int cli_dist_begin(hs_comm **comm, int *threads)
{
    *comm = NULL;
    if (!hs_comm_launched())
        return 0;
    hs_status s = hs_comm_world(comm, NULL, NULL);
    if (s) {
        cli_status_error("MPI", s);
        return s == HS_ERR_UNSUPPORTED ? 2 : 1;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int local = hs_comm_local_size(*comm);
    if (*threads == 0 && local > 1)
        *threads = cores > local ? (int)(cores / local) : 1;
    return 0;
}

int cli_dist_fail(hs_comm *comm, const char *what, hs_status s, int code)
{
    if (!hs_comm_error_shared(comm)) {
        fprintf(stderr, "error: %s: rank %d of %d: %s; ending every rank\n", what, hs_comm_rank(comm),
                hs_comm_size(comm), *hs_last_error() ? hs_last_error() : hs_status_string(s));
        fflush(stderr);
        hs_comm_abort(comm, code);
    }
    if (hs_comm_rank(comm) == 0)
        cli_status_error(what, s);
    hs_comm_finalize(comm);
    return code;
}
