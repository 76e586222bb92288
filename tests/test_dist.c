/* Data-parallel training (docs/distributed.md), on real Fashion-MNIST.
 *
 * Without MPI: synchronized batch norm of two replicas (two threads, summing through shared
 * memory) against one network on their union, value and gradients.
 * With MPI (`mpirun --allow-run-as-root --oversubscribe -np 2`, one thread per rank): two
 * ranks with synchronized batch norm and the HyperSimplex loss on the global batch reproduce
 * a one-process run's loss at every step and its final parameters; a resumed two-rank run
 * ends bit-identical to an uninterrupted one, and a one-process resume of a two-rank
 * checkpoint finishes; an error every rank meets is printed once, with exit status 2; a rank
 * killed mid-run ends the whole job with an error and leaves only complete files. The MPI
 * tests skip, saying why, when the build has no MPI.
 *
 * This executable is also the worker of the comparison: `test_dist --worker OUT LOSS sync|local` runs
 * the library's hs_train_run on every rank of an MPI job, and rank 0 writes the loss of every
 * step to OUT/steps.txt. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hypersimplex/train.h"
#include "train/checkpoint.h"
#include "util/fs.h"
#include "support/cli_run.h"
#include "test_util.h"

static char tmp_root[256];
static const char *self_path;

enum { MAX_STEPS = 256 };

static int setup(void **state)
{
    (void)state;
    return tu_scratch_make(tmp_root, sizeof tmp_root, "dist");
}

static int teardown(void **state)
{
    (void)state;
    return tu_scratch_remove(tmp_root);
}

/* ------------------------------------------------------------------------- */
/* Synchronized batch norm, two replicas in two threads                      */
/* ------------------------------------------------------------------------- */

/* The replicas' sum: each thread deposits its buffer, both wait, both add the two up. */
typedef struct shared_sum {
    pthread_barrier_t bar;
    double *slot[2];
    size_t calls[2];
} shared_sum;

typedef struct replica {
    shared_sum *sh;
    int id;
    hs_net *net;
    const float *x, *dlogits;
    float *logits;
    size_t B;
    hs_status st;
} replica;

static replica reps[2];

static hs_status replica_sum(double *buf, size_t n, void *user)
{
    replica *r = user;
    shared_sum *sh = r->sh;
    double *copy = malloc(n * sizeof *copy);
    if (!copy)
        return HS_ERR_NOMEM;
    memcpy(copy, buf, n * sizeof *copy);
    sh->slot[r->id] = copy;
    sh->calls[r->id]++;
    pthread_barrier_wait(&sh->bar);
    for (size_t i = 0; i < n; i++)
        buf[i] = sh->slot[0][i] + sh->slot[1][i]; /* the same order on both replicas */
    pthread_barrier_wait(&sh->bar);
    free(copy);
    return HS_OK;
}

static void *replica_step(void *p)
{
    replica *r = p;
    hs_nn_set_threads(1);
    r->st = hs_net_forward(r->net, r->logits, r->x, r->B, 1);
    if (!r->st)
        r->st = hs_net_backward(r->net, r->dlogits);
    return NULL;
}

static double max_abs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i]));
    return m;
}

/* Two replicas with 3 and 5 images against one network on all 8: logits, the sum of the
 * replicas' gradients, and the running statistics agree to float rounding; without the hook
 * (local statistics) they do not. */
static void test_bn_sync_two_replicas(void **state)
{
    (void)state;
    hs_nn_set_threads(1);
    const size_t B = 8, b0 = 3, C = 10, img = 28 * 28;
    hs_net_shape shape = hs_net_shape_paper(1, 28, 28, C, 8);
    shape.hidden = 32;
    hs_net *one = NULL;
    assert_int_equal(hs_net_create(&one, &shape), HS_OK);
    assert_int_equal(hs_net_init(one, 7), HS_OK);
    size_t np = hs_net_param_count(one), nb = hs_net_buffer_count(one);
    float *x = tu_fvec(B * img), *dl = tu_fvec(B * C), *lg = tu_fvec(B * C);
    float *lg2 = tu_fvec(B * C), *g2 = tu_fvec(np);
    tu_rng rng = tu_rng_make(3);
    for (size_t i = 0; i < B * img; i++) /* an offset and scale for batch norm to remove */
        x[i] = (float)(0.5 + 2.0 * tu_normal(&rng));
    for (size_t i = 0; i < B * C; i++)
        dl[i] = (float)(tu_normal(&rng) / (double)B);
    assert_int_equal(hs_net_forward(one, lg, x, B, 1), HS_OK);
    assert_int_equal(hs_net_backward(one, dl), HS_OK);

    for (int local = 0; local < 2; local++) {
        shared_sum sh;
        memset(&sh, 0, sizeof sh);
        pthread_barrier_init(&sh.bar, NULL, 2);
        pthread_t th[2];
        for (int r = 0; r < 2; r++) {
            size_t lo = r ? b0 : 0, n = r ? B - b0 : b0;
            reps[r] = (replica){&sh, r, NULL, x + lo * img, dl + lo * C, lg2 + lo * C, n, HS_OK};
            assert_int_equal(hs_net_create(&reps[r].net, &shape), HS_OK);
            assert_int_equal(hs_net_init(reps[r].net, 7), HS_OK);
            if (!local)
                assert_int_equal(hs_net_set_bn_sync(reps[r].net, replica_sum, &reps[r]), HS_OK);
        }
        for (int r = 0; r < 2; r++)
            assert_int_equal(pthread_create(&th[r], NULL, replica_step, &reps[r]), 0);
        for (int r = 0; r < 2; r++)
            pthread_join(th[r], NULL);
        pthread_barrier_destroy(&sh.bar);
        for (int r = 0; r < 2; r++)
            assert_int_equal(reps[r].st, HS_OK);
        assert_int_equal(sh.calls[0], local ? 0 : 8); /* 4 batch norms, forward and backward */
        const float *ga = hs_net_grads(reps[0].net), *gb = hs_net_grads(reps[1].net);
        for (size_t i = 0; i < np; i++)
            g2[i] = ga[i] + gb[i];
        double lscale = max_abs(lg, B * C), lerr = 0, gerr = 0, berr = 0;
        for (size_t i = 0; i < B * C; i++)
            lerr = fmax(lerr, fabs((double)lg[i] - lg2[i]));
        /* gradients tensor by tensor, relative to the tensor's largest entry */
        for (size_t t = 0; t < hs_net_param_tensors(one); t++) {
            const hs_tensor_info *ti = hs_net_param_info(one, t);
            const float *g1 = hs_net_grads(one) + ti->offset;
            double sc = max_abs(g1, ti->count), e = 0;
            for (size_t i = 0; i < ti->count; i++)
                e = fmax(e, fabs((double)g1[i] - g2[ti->offset + i]));
            /* a convolution bias before batch norm has gradient 0 (rounding noise only) */
            if (sc > 1e-6)
                gerr = fmax(gerr, e / sc);
        }
        const float *b1 = hs_net_buffers(one), *bs = hs_net_buffers(reps[0].net);
        for (size_t i = 0; i < nb; i++)
            berr = fmax(berr, fabs((double)b1[i] - bs[i]));
        print_message("%s statistics: logits %.2e (of %.2f), gradients %.2e (relative), running stats %.2e\n",
                      local ? "local" : "synchronized", lerr, lscale, gerr, berr);
        if (local) {
            assert_true(lerr > 1e-3 * lscale);
            assert_true(gerr > 1e-2);
        } else {
            assert_true(lerr <= 1e-5 * lscale);
            assert_true(gerr <= 1e-4);
            assert_true(berr <= 1e-5);
        }
        for (int r = 0; r < 2; r++)
            hs_net_free(reps[r].net);
    }
    hs_net_free(one);
    free(x), free(dl), free(lg), free(lg2), free(g2);
}

/* ------------------------------------------------------------------------- */
/* The worker (under mpirun) and the one-process reference                   */
/* ------------------------------------------------------------------------- */

typedef struct step_log {
    double loss[MAX_STEPS];
    size_t n;
} step_log;

static void log_step(const hs_train_event *ev, void *user)
{
    step_log *l = user;
    if (ev->kind == HS_TRAIN_BATCH && l->n < MAX_STEPS)
        l->loss[l->n++] = ev->batch_loss;
}

/* 640 training images in batches of 40 (16 steps an epoch, 2 epochs), width 8, no
 * augmentation (the shards would draw the same crops anyway: they depend on the image). */
static hs_train_config compare_config(const char *out, hs_loss_kind kind)
{
    hs_train_config c = hs_train_config_default();
    c.loss = hs_loss_opts_default(kind);
    c.batch_size = 40;
    c.epochs = 2;
    c.width = 8;
    c.hidden = 32;
    c.lr = 1e-4;
    c.train_limit = 800;
    c.val_fraction = 0.2;
    c.test_limit = 200;
    c.augment = 0;
    c.threads = 1;
    c.eval_batch = 100;
    c.out_dir = out;
    return c;
}

static int worker(int argc, char **argv)
{
    if (argc != 5)
        return 2;
    hs_loss_kind kind;
    if (hs_loss_kind_parse(&kind, argv[3]))
        return 2;
    hs_comm *comm = NULL;
    if (hs_comm_world(&comm, NULL, NULL)) {
        fprintf(stderr, "worker: %s\n", hs_last_error());
        return 1;
    }
    hs_train_config c = compare_config(argv[2], kind);
    c.comm = comm;
    c.sync_bn = !strcmp(argv[4], "sync");
    step_log log;
    memset(&log, 0, sizeof log);
    hs_train_result r;
    hs_status st = hs_train_run(&r, &c, log_step, &log);
    if (st) {
        fprintf(stderr, "worker rank %d: %s\n", hs_comm_rank(comm), hs_last_error());
        hs_comm_abort(comm, 1);
    }
    if (hs_comm_rank(comm) == 0) {
        char path[600];
        snprintf(path, sizeof path, "%s/steps.txt", argv[2]);
        FILE *f = fopen(path, "w");
        for (size_t i = 0; f && i < log.n; i++)
            fprintf(f, "%.17g\n", log.loss[i]);
        if (!f || fclose(f))
            st = HS_ERR_IO;
    }
    hs_comm_finalize(comm);
    return st ? 1 : 0;
}

/* ------------------------------------------------------------------------- */
/* MPI jobs                                                                  */
/* ------------------------------------------------------------------------- */

#ifdef HS_HAVE_MPI
#define SKIP_WITHOUT_MPI() ((void)0)
#else
#define SKIP_WITHOUT_MPI()                                                                          \
    do {                                                                                            \
        print_message("skipped: this build has no MPI (apt-get install libopenmpi-dev openmpi-bin, "  \
                      "then configure with -DHS_WITH_MPI=ON)\n");                                   \
        skip();                                                                                     \
    } while (0)
#define HS_MPIEXEC "mpirun"
#endif

/* `mpirun ... -np N PROGRAM ARGS` with one thread per rank, output to err_file(.out); the
 * exit status. */
static int run_mpi(int n, const char *program, const char *args, const char *err_file)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "OMP_NUM_THREADS=1 '%s' --allow-run-as-root --oversubscribe -np %d '%s' %s >'%s.out' 2>'%s'",
             HS_MPIEXEC, n, program, args, err_file, err_file);
    int s = system(cmd);
    return WIFEXITED(s) ? WEXITSTATUS(s) : -1;
}

static void print_file(const char *path)
{
    char *t = tu_slurp(path);
    if (t)
        print_message("%s:\n%s\n", path, t);
    free(t);
}

/* Two ranks (synchronized batch norm, HS loss on the global batch) against one process, 32
 * steps at lr 1e-4. The ranks sum their gradients in another order and take the batch
 * statistics in double rather than oneDNN's float, so the runs differ by float rounding at
 * the first step, and training amplifies that (Adam moves a coordinate whose gradient is
 * rounding noise by about lr a step, the HS projection's free sets flip): a single process
 * with 2 threads instead of 1 drifts as far (HS_DEBUG_SELF=1 prints that gap). Tolerances:
 *   the first step's loss        1e-5 relative (ranks with per-rank batch norm: ~3e-3),
 *   every step's loss            5e-3 relative,
 *   the final parameters         20 lr absolute,
 *   the running statistics       1e-2 relative (of max(1, |value|)).
 * The parameter comparison leaves out the parameters whose exact gradient is 0, which Adam
 * moves by independent +-lr steps in the two runs: the convolution biases (each followed by
 * batch norm, which subtracts them again) and, for the HS loss, the last layer's bias (the
 * loss ignores a constant added to a logit column). The same job with per-rank batch norm
 * must fail the first-step tolerance. */
static void compare_with_one_process(hs_loss_kind kind)
{
    char one[512], two[512], err[600], args[1200];
    snprintf(one, sizeof one, "%s/one_%s", tmp_root, hs_loss_kind_name(kind));
    snprintf(two, sizeof two, "%s/two_%s", tmp_root, hs_loss_kind_name(kind));
    snprintf(err, sizeof err, "%s.err", two);
    hs_train_config c = compare_config(one, kind);
    step_log ref;
    memset(&ref, 0, sizeof ref);
    hs_train_result r;
    assert_int_equal(hs_train_run(&r, &c, log_step, &ref), HS_OK);
    assert_int_equal(ref.n, 32);
    if (getenv("HS_DEBUG_SELF")) {
        char o2[600];
        snprintf(o2, sizeof o2, "%s_t2", one);
        hs_train_config c2 = compare_config(o2, kind);
        c2.threads = 2;
        step_log l2;
        memset(&l2, 0, sizeof l2);
        assert_int_equal(hs_train_run(&r, &c2, log_step, &l2), HS_OK);
        double w2 = 0;
        for (size_t i = 0; i < l2.n; i++)
            w2 = fmax(w2, fabs(l2.loss[i] - ref.loss[i]) / ref.loss[i]);
        hs_ckpt a2, b2;
        char q1[700], q2[700];
        snprintf(q1, sizeof q1, "%s/checkpoint.bin", one);
        snprintf(q2, sizeof q2, "%s/checkpoint.bin", o2);
        assert_int_equal(hs_ckpt_read(&a2, q1), HS_OK);
        assert_int_equal(hs_ckpt_read(&b2, q2), HS_OK);
        double pe = 0;
        for (size_t i = 0; i < a2.nparams; i++)
            pe = fmax(pe, fabs((double)a2.params[i] - b2.params[i]));
        print_message("self gap threads 1 vs 2: first %.2e worst %.2e, params %.2e (%.2f lr)\n",
                      fabs(l2.loss[0] - ref.loss[0]) / ref.loss[0], w2, pe, pe / c.lr);
        hs_ckpt_free(&a2);
        hs_ckpt_free(&b2);
    }

    snprintf(args, sizeof args, "--worker '%s' %s sync", two, hs_loss_kind_name(kind));
    int rc = run_mpi(2, self_path, args, err);
    if (rc)
        print_file(err);
    assert_int_equal(rc, 0);
    char path[700];
    snprintf(path, sizeof path, "%s/steps.txt", two);
    char *t = tu_slurp(path);
    assert_non_null(t);
    double worst = 0, first = 0;
    size_t n = 0;
    for (char *p = t; *p && n < MAX_STEPS; n++) {
        char *end;
        double v = strtod(p, &end);
        assert_true(end != p);
        double rel = fabs(v - ref.loss[n]) / fabs(ref.loss[n]);
        worst = fmax(worst, rel);
        if (n == 0)
            first = rel;
        p = end + strspn(end, "\n");
    }
    free(t);
    assert_int_equal(n, ref.n);

    hs_ckpt a, b;
    char pa[700], pb[700];
    snprintf(pa, sizeof pa, "%s/checkpoint.bin", one);
    snprintf(pb, sizeof pb, "%s/checkpoint.bin", two);
    assert_int_equal(hs_ckpt_read(&a, pa), HS_OK);
    assert_int_equal(hs_ckpt_read(&b, pb), HS_OK);
    assert_int_equal(a.steps, b.steps);
    hs_net *net = NULL;
    hs_net_shape shape = hs_net_shape_paper(1, 28, 28, 10, c.width);
    shape.hidden = c.hidden;
    assert_int_equal(hs_net_create(&net, &shape), HS_OK);
    double perr = 0, excluded = 0;
    for (size_t ti = 0; ti < hs_net_param_tensors(net); ti++) {
        const hs_tensor_info *info = hs_net_param_info(net, ti);
        int conv_bias = ti < 16 && ti % 4 == 1;
        int last_bias = ti == hs_net_param_tensors(net) - 1 && kind == HS_LOSS_HYPERSIMPLEX;
        double e = 0;
        for (size_t i = 0; i < info->count; i++)
            e = fmax(e, fabs((double)a.params[info->offset + i] - b.params[info->offset + i]));
        if (conv_bias || last_bias)
            excluded = fmax(excluded, e);
        else
            perr = fmax(perr, e);
    }
    double serr = 0;
    for (size_t i = 0; i < a.nbufs; i++)
        serr = fmax(serr, fabs((double)a.buffers[i] - b.buffers[i]) / fmax(1.0, fabs((double)a.buffers[i])));
    print_message("%s, 2 ranks vs 1 process over %zu steps: loss relative difference %.2e at the first "
                  "step, %.2e at worst; parameters %.2e (%.3f lr), running statistics %.2e; excluded "
                  "biases %.2e (%.1f lr)\n", hs_loss_kind_name(kind), n, first, worst, perr, perr / c.lr, serr,
                  excluded, excluded / c.lr);
    assert_true(first <= 1e-5);
    assert_true(worst <= 5e-3);
    assert_true(perr <= 20 * c.lr);
    assert_true(serr <= 1e-2);
    hs_ckpt_free(&a);
    hs_ckpt_free(&b);
    hs_net_free(net);

    /* the tolerance separates: per-rank statistics change the very first step */
    snprintf(two, sizeof two, "%s/local_%s", tmp_root, hs_loss_kind_name(kind));
    snprintf(args, sizeof args, "--worker '%s' %s local", two, hs_loss_kind_name(kind));
    assert_int_equal(run_mpi(2, self_path, args, err), 0);
    snprintf(path, sizeof path, "%s/steps.txt", two);
    t = tu_slurp(path);
    assert_non_null(t);
    double local_first = fabs(strtod(t, NULL) - ref.loss[0]) / ref.loss[0];
    free(t);
    print_message("with per-rank batch norm: %.2e at the first step\n", local_first);
    assert_true(local_first > 1e-4);
}

static void test_two_ranks_match_one_process_hs(void **state)
{
    (void)state;
    SKIP_WITHOUT_MPI();
    tu_need_fashion_mnist();
    compare_with_one_process(HS_LOSS_HYPERSIMPLEX);
}

static void test_two_ranks_match_one_process_ce(void **state)
{
    (void)state;
    SKIP_WITHOUT_MPI();
    tu_need_fashion_mnist();
    compare_with_one_process(HS_LOSS_CROSS_ENTROPY);
}

/* The CLI options of the resume and failure tests. */
#define CLI_COMMON                                                                                  \
    "train --loss hypersimplex --width 8 --hidden 16 --train-limit 800 --test-limit 100 "            \
    "--batch-size 50 --lr 1e-3 --threads 1 --eval-batch 100 --quiet --sync-bn"

static void assert_same_state(const char *a_dir, const char *b_dir)
{
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/checkpoint.bin", a_dir);
    snprintf(pb, sizeof pb, "%s/checkpoint.bin", b_dir);
    hs_ckpt a, b;
    assert_int_equal(hs_ckpt_read(&a, pa), HS_OK);
    assert_int_equal(hs_ckpt_read(&b, pb), HS_OK);
    assert_int_equal(a.epochs_done, b.epochs_done);
    assert_int_equal(a.steps, b.steps);
    assert_memory_equal(a.params, b.params, a.nparams * sizeof(float));
    assert_memory_equal(a.m, b.m, a.nparams * sizeof(float));
    assert_memory_equal(a.v, b.v, a.nparams * sizeof(float));
    assert_memory_equal(a.buffers, b.buffers, a.nbufs * sizeof(float));
    assert_memory_equal(a.theta, b.theta, a.ntheta * sizeof(double));
    for (uint64_t i = 0; i < a.nrows; i++) {
        assert_memory_equal(&a.rows[i].train_loss, &b.rows[i].train_loss, sizeof(double));
        assert_memory_equal(&a.rows[i].test_accuracy, &b.rows[i].test_accuracy, sizeof(double));
        assert_memory_equal(&a.rows[i].test_accuracy_threshold, &b.rows[i].test_accuracy_threshold,
                            sizeof(double));
    }
    hs_ckpt_free(&a);
    hs_ckpt_free(&b);
}

/* Two ranks: 3 epochs at once, and 1 epoch then --resume to 3: bit-identical. Then the
 * 1-epoch checkpoint resumed by one process finishes too (any number of ranks resumes). */
static void test_resume_two_ranks(void **state)
{
    (void)state;
    SKIP_WITHOUT_MPI();
    tu_need_fashion_mnist();
    char full[512], part[512], solo[512], err[600], args[1500];
    snprintf(full, sizeof full, "%s/resume_full", tmp_root);
    snprintf(part, sizeof part, "%s/resume_part", tmp_root);
    snprintf(solo, sizeof solo, "%s/resume_solo", tmp_root);
    snprintf(err, sizeof err, "%s/resume.err", tmp_root);
    snprintf(args, sizeof args, CLI_COMMON " --epochs 3 --out '%s'", full);
    assert_int_equal(run_mpi(2, HS_CLI_PATH, args, err), 0);
    snprintf(args, sizeof args, CLI_COMMON " --epochs 1 --out '%s'", part);
    assert_int_equal(run_mpi(2, HS_CLI_PATH, args, err), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", part, solo);
    assert_int_equal(system(cmd), 0);
    snprintf(args, sizeof args, CLI_COMMON " --epochs 3 --out '%s' --resume", part);
    int rc = run_mpi(2, HS_CLI_PATH, args, err);
    if (rc)
        print_file(err);
    assert_int_equal(rc, 0);
    assert_same_state(full, part);
    /* only rank 0 printed the summary */
    char outp[700];
    snprintf(outp, sizeof outp, "%s.out", err);
    char *o = tu_slurp(outp), *first = o ? strstr(o, "maximum test accuracy") : NULL;
    assert_non_null(first);
    assert_null(strstr(first + 1, "maximum test accuracy"));
    free(o);

    snprintf(args, sizeof args, CLI_COMMON " --epochs 3 --out '%s' --resume", solo);
    assert_int_equal(tu_run_cli(args, err), 0);
    size_t done = 0;
    snprintf(outp, sizeof outp, "%s/summary.json", solo);
    assert_true(hs_path_exists(outp));
    snprintf(outp, sizeof outp, "%s/checkpoint.bin", solo);
    assert_int_equal(hs_train_checkpoint_info(&done, NULL, NULL, 0, outp), HS_OK);
    assert_int_equal(done, 3);
}

/* An error every rank meets (a missing data directory) is printed once, exit status 2. */
static void test_shared_error_printed_once(void **state)
{
    (void)state;
    SKIP_WITHOUT_MPI();
    tu_need_fashion_mnist();
    char out[512], err[600], args[1500];
    snprintf(out, sizeof out, "%s/nodata", tmp_root);
    snprintf(err, sizeof err, "%s/nodata.err", tmp_root);
    snprintf(args, sizeof args, CLI_COMMON " --epochs 1 --data-dir '%s/missing' --out '%s'", tmp_root, out);
    int rc = run_mpi(2, HS_CLI_PATH, args, err);
    char *e = tu_slurp(err);
    assert_non_null(e);
    print_message("exit %d, stderr: %s", rc, e);
    assert_int_equal(rc, 2);
    char *first = strstr(e, "error: train:");
    assert_non_null(first);
    assert_null(strstr(first + 1, "error: train:"));
    free(e);
}

/* Pid of the process of the given MPI rank among mpirun's children, or -1. */
static pid_t rank_pid(pid_t launcher, int rank)
{
    DIR *d = opendir("/proc");
    pid_t found = -1;
    struct dirent *de;
    char want[64];
    snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", rank);
    while (d && found < 0 && (de = readdir(d))) {
        char path[300];
        long pid = strtol(de->d_name, NULL, 10);
        if (pid <= 0)
            continue;
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        char st[1024] = {0};
        FILE *sf = fopen(path, "r"); /* a /proc file has no size: read what it gives */
        if (sf) {
            size_t got = fread(st, 1, sizeof st - 1, sf);
            st[got] = '\0';
            fclose(sf);
        }
        /* field 4 (after "pid (comm) state") is the parent's pid */
        char *rp = strrchr(st, ')');
        long ppid = -1;
        if (rp)
            sscanf(rp + 2, "%*c %ld", &ppid);
        if (ppid != (long)launcher)
            continue;
        snprintf(path, sizeof path, "/proc/%ld/environ", pid);
        FILE *f = fopen(path, "rb");
        char buf[1 << 16];
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
            buf[n] = '\0';
            if (!strcmp(buf + i, want))
                found = (pid_t)pid;
        }
    }
    if (d)
        closedir(d);
    return found;
}

/* Rank 1 killed (SIGKILL) after the first checkpoint: the job ends with an error naming the
 * dead rank, rank 0 does not hang, and the directory holds only complete files. */
static void test_dead_rank_ends_job(void **state)
{
    (void)state;
    SKIP_WITHOUT_MPI();
    tu_need_fashion_mnist();
    char out[512], err[600], ck[700];
    snprintf(out, sizeof out, "%s/killed", tmp_root);
    snprintf(err, sizeof err, "%s/killed.err", tmp_root);
    snprintf(ck, sizeof ck, "%s/checkpoint.bin", out);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(err, "w", stderr) || !freopen("/dev/null", "w", stdout))
            _exit(127);
        setenv("OMP_NUM_THREADS", "1", 1);
        execl(HS_MPIEXEC, HS_MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", "2", HS_CLI_PATH,
              "train", "--loss", "hypersimplex", "--width", "8", "--hidden", "16", "--train-limit", "2000",
              "--test-limit", "100", "--batch-size", "50", "--epochs", "50", "--lr", "1e-3", "--threads", "1",
              "--quiet", "--sync-bn", "--out", out, (char *)NULL);
        _exit(127);
    }
    double t0 = hs_now();
    int status = 0, ended = 0;
    while (!hs_path_exists(ck) && hs_now() - t0 < 300 && !ended) {
        ended = waitpid(pid, &status, WNOHANG) == pid;
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    assert_false(ended);
    assert_true(hs_path_exists(ck));
    pid_t victim = rank_pid(pid, 1);
    assert_true(victim > 0);
    assert_int_equal(kill(victim, SIGKILL), 0);
    t0 = hs_now();
    while (!ended && hs_now() - t0 < 120) {
        ended = waitpid(pid, &status, WNOHANG) == pid;
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    if (!ended) { /* a hang: clean up, then fail */
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    assert_true(ended);
    char *e = tu_slurp(err);
    assert_non_null(e);
    print_message("mpirun exit status %d, stderr:\n%s", WIFEXITED(status) ? WEXITSTATUS(status) : -1, e);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    assert_non_null(strstr(e, "rank 1"));
    free(e);
    /* complete files only: no temporary file left, the checkpoint and metrics readable */
    DIR *d = opendir(out);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        print_message("  %s\n", de->d_name);
        assert_null(strstr(de->d_name, ".tmp."));
        assert_true(!strcmp(de->d_name, "checkpoint.bin") || !strcmp(de->d_name, "metrics.csv") ||
                    !strcmp(de->d_name, "config.json"));
    }
    closedir(d);
    size_t done = 0;
    hs_epoch_metrics rows[50];
    assert_int_equal(hs_train_checkpoint_info(&done, NULL, rows, 50, ck), HS_OK);
    assert_true(done >= 1 && done < 50);
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc > 1 && !strcmp(argv[1], "--worker"))
        return worker(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bn_sync_two_replicas),
        cmocka_unit_test(test_two_ranks_match_one_process_hs),
        cmocka_unit_test(test_two_ranks_match_one_process_ce),
        cmocka_unit_test(test_resume_two_ranks),
        cmocka_unit_test(test_shared_error_printed_once),
        cmocka_unit_test(test_dead_rank_ends_job),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
