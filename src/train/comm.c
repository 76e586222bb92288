/* The group of processes of a data-parallel run: MPI when built with it (HS_HAVE_MPI), else
 * only the single-process case. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HS_HAVE_MPI
#include <mpi.h>
#endif

#include "train/comm.h"
#include "util/error.h"
#include "util/fs.h"

struct hs_comm {
    int rank, size, local_size;
    int started_mpi;    /* hs_comm_world called MPI_Init_thread */
    int error_shared;
    double seconds;
#ifdef HS_HAVE_MPI
    MPI_Comm comm;
#endif
};

int hs_comm_mpi_available(void)
{
#ifdef HS_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

int hs_comm_launched(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

int hs_comm_rank(const hs_comm *c) { return c ? c->rank : 0; }
int hs_comm_size(const hs_comm *c) { return c ? c->size : 1; }
int hs_comm_local_size(const hs_comm *c) { return c ? c->local_size : 1; }
int hs_comm_error_shared(const hs_comm *c) { return !c || c->size == 1 || c->error_shared; }
double hs_comm_seconds(const hs_comm *c) { return c ? c->seconds : 0.0; }

void hs_comm_set_error_shared(hs_comm *c, int shared)
{
    if (c)
        c->error_shared = shared != 0;
}

#ifdef HS_HAVE_MPI

/* Whether there is anything to exchange. */
static int multi(const hs_comm *c)
{
    return c && c->size > 1;
}

static hs_status mpi_fail(int rc, const char *call)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "error code %d", rc);
    return hs_fail(HS_ERR_BACKEND, "MPI: %s failed: %s", call, msg);
}

/* Runs an MPI call, timing it into c->seconds. */
#define HS_MPI(c, call)                                                                     \
    do {                                                                                    \
        double t0_ = hs_now();                                                               \
        int rc_ = (call);                                                                   \
        (c)->seconds += hs_now() - t0_;                                                      \
        if (rc_ != MPI_SUCCESS)                                                             \
            return mpi_fail(rc_, #call);                                                    \
    } while (0)

hs_status hs_comm_world(hs_comm **out, int *argc, char ***argv)
{
    if (!out)
        return hs_fail(HS_ERR_NULL, "hs_comm_world: NULL argument");
    *out = NULL;
    hs_comm *c = calloc(1, sizeof *c);
    if (!c)
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    int init = 0, rc;
    MPI_Initialized(&init);
    if (!init) {
        int provided = 0;
        if ((rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS) {
            free(c);
            return mpi_fail(rc, "MPI_Init_thread");
        }
        c->started_mpi = 1;
    }
    /* errors come back as statuses (a rank that dies still ends the job: the launcher's doing) */
    if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &c->comm)) != MPI_SUCCESS ||
        (rc = MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN)) != MPI_SUCCESS ||
        (rc = MPI_Comm_rank(c->comm, &c->rank)) != MPI_SUCCESS ||
        (rc = MPI_Comm_size(c->comm, &c->size)) != MPI_SUCCESS) {
        hs_status st = mpi_fail(rc, "setting up the communicator");
        free(c);
        return st;
    }
    MPI_Comm node;
    c->local_size = 1;
    if (MPI_Comm_split_type(c->comm, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_size(node, &c->local_size);
        MPI_Comm_free(&node);
    }
    c->error_shared = 1;
    *out = c;
    return HS_OK;
}

void hs_comm_finalize(hs_comm *c)
{
    if (!c)
        return;
    MPI_Comm_free(&c->comm);
    if (c->started_mpi)
        MPI_Finalize();
    free(c);
}

void hs_comm_abort(hs_comm *c, int code)
{
    int init = 0;
    MPI_Initialized(&init);
    if (c || init)
        MPI_Abort(c ? c->comm : MPI_COMM_WORLD, code);
    exit(code);
}

/* MPI counts are ints: larger buffers go in pieces. */
enum { CHUNK = 1 << 28 };

hs_status hs_comm_sum_d(hs_comm *c, double *buf, size_t n)
{
    for (size_t i = 0; multi(c) && i < n; i += CHUNK) {
        int k = (int)(n - i < CHUNK ? n - i : CHUNK);
        HS_MPI(c, MPI_Allreduce(MPI_IN_PLACE, buf + i, k, MPI_DOUBLE, MPI_SUM, c->comm));
    }
    return HS_OK;
}

hs_status hs_comm_sum_f(hs_comm *c, float *buf, size_t n)
{
    for (size_t i = 0; multi(c) && i < n; i += CHUNK) {
        int k = (int)(n - i < CHUNK ? n - i : CHUNK);
        HS_MPI(c, MPI_Allreduce(MPI_IN_PLACE, buf + i, k, MPI_FLOAT, MPI_SUM, c->comm));
    }
    return HS_OK;
}

hs_status hs_comm_min_i(hs_comm *c, int *buf, size_t n)
{
    if (!multi(c) || n == 0)
        return HS_OK;
    if (n > INT_MAX)
        return hs_fail(HS_ERR_SIZE, "MPI: %zu values in one minimum", n);
    HS_MPI(c, MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_INT, MPI_MIN, c->comm));
    return HS_OK;
}

hs_status hs_comm_gather_f(hs_comm *c, float *all, const float *mine, const size_t *counts)
{
    if (!multi(c)) {
        if (all != mine)
            memcpy(all, mine, counts[0] * sizeof *all);
        return HS_OK;
    }
    int *cnt = malloc(2 * (size_t)c->size * sizeof *cnt);
    if (!cnt)
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    int *displ = cnt + c->size;
    size_t off = 0;
    for (int r = 0; r < c->size; r++) {
        if (counts[r] > INT_MAX || off > (size_t)INT_MAX - counts[r]) {
            free(cnt);
            return hs_fail(HS_ERR_SIZE, "MPI: gathering more than %d values", INT_MAX);
        }
        cnt[r] = (int)counts[r];
        displ[r] = (int)off;
        off += counts[r];
    }
    double t0 = hs_now();
    int rc = MPI_Allgatherv(mine, cnt[c->rank], MPI_FLOAT, all, cnt, displ, MPI_FLOAT, c->comm);
    c->seconds += hs_now() - t0;
    free(cnt);
    return rc == MPI_SUCCESS ? HS_OK : mpi_fail(rc, "MPI_Allgatherv");
}

hs_status hs_comm_bcast(hs_comm *c, void *buf, size_t bytes, int root)
{
    for (size_t i = 0; multi(c) && i < bytes; i += CHUNK) {
        int k = (int)(bytes - i < CHUNK ? bytes - i : CHUNK);
        HS_MPI(c, MPI_Bcast((char *)buf + i, k, MPI_BYTE, root, c->comm));
    }
    return HS_OK;
}

#else /* one process only */

hs_status hs_comm_world(hs_comm **out, int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if (out)
        *out = NULL;
    return hs_fail(HS_ERR_UNSUPPORTED, "this build has no MPI: install libopenmpi-dev and openmpi-bin "
                                       "and configure with -DHS_WITH_MPI=ON");
}

void hs_comm_finalize(hs_comm *c)
{
    free(c);
}

void hs_comm_abort(hs_comm *c, int code)
{
    (void)c;
    exit(code);
}

/* Without MPI no group has more than one process: every exchange is the identity. */
hs_status hs_comm_sum_d(hs_comm *c, double *buf, size_t n) { (void)c, (void)buf, (void)n; return HS_OK; }
hs_status hs_comm_sum_f(hs_comm *c, float *buf, size_t n) { (void)c, (void)buf, (void)n; return HS_OK; }
hs_status hs_comm_min_i(hs_comm *c, int *buf, size_t n) { (void)c, (void)buf, (void)n; return HS_OK; }

hs_status hs_comm_gather_f(hs_comm *c, float *all, const float *mine, const size_t *counts)
{
    (void)c;
    if (all != mine)
        memcpy(all, mine, counts[0] * sizeof *all);
    return HS_OK;
}

hs_status hs_comm_bcast(hs_comm *c, void *buf, size_t bytes, int root)
{
    (void)c, (void)buf, (void)bytes, (void)root;
    return HS_OK;
}

#endif
