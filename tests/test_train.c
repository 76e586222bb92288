/* Training runs on real Fashion-MNIST (Debian's dataset-fashion-mnist; the tests that need it
 * are skipped, saying so, when it is absent): a short run learns, resume ends bit-identical
 * to an uninterrupted run (library and a killed CLI process), a diverging run stops and keeps
 * its last good checkpoint, bad data and bad options are rejected cleanly. Small networks
 * and subsets, one thread: quick on a busy 2-core machine. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* flock */
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hypersimplex.h"
#include "train/checkpoint.h"
#include "util/fs.h"
#include "support/cli_run.h"
#include "test_util.h"

static char tmp_root[256];

static int setup(void **state)
{
    (void)state;
    return tu_scratch_make(tmp_root, sizeof tmp_root, "train");
}

static int teardown(void **state)
{
    (void)state;
    return tu_scratch_remove(tmp_root);
}

static void dir_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmp_root, name);
}

static void file_in(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

/* Small, quick configuration on a subset of real Fashion-MNIST. */
static hs_train_config small_config(const char *out, hs_loss_kind kind)
{
    hs_train_config c = hs_train_config_default();
    c.loss = hs_loss_opts_default(kind);
    c.width = 8;
    c.hidden = 16;
    c.train_limit = 400;
    c.test_limit = 100;
    c.batch_size = 64;
    c.epochs = 3;
    c.lr = 1e-3;
    c.threads = 1;
    c.eval_batch = 100;
    c.out_dir = out;
    return c;
}

static void test_short_real_training(void **state)
{
    (void)state;
    tu_need_fashion_mnist();
    char dir[512], path[600];
    dir_path(dir, sizeof dir, "short");
    hs_train_config c = hs_train_config_default();
    c.loss = hs_loss_opts_default(HS_LOSS_CROSS_ENTROPY);
    c.width = 8;
    c.train_limit = 5000;
    c.test_limit = 2000;
    c.batch_size = 32;
    c.epochs = 2;
    c.lr = 2e-3;
    c.augment = 0;
    c.threads = 1;
    c.out_dir = dir;
    hs_train_result r;
    hs_status st = hs_train_run(&r, &c, NULL, NULL);
    if (st)
        print_error("%s\n", hs_last_error());
    assert_int_equal(st, HS_OK);
    print_message("short run: test accuracy %.4f at best validation epoch %zu, max %.4f\n", r.test_at_best_val,
                  r.best_val_epoch, r.max_test_accuracy);
    assert_int_equal(r.epochs_done, 2);
    assert_true(r.max_test_accuracy >= 0.75);
    assert_true(r.test_at_best_val >= 0.75);
    assert_true(r.best_val_accuracy >= 0.7);
    file_in(path, sizeof path, dir, "metrics.csv");
    char *m = tu_slurp(path);
    assert_non_null(m);
    const char *head = "epoch,train_loss,val_accuracy,test_accuracy,seconds,val_accuracy_threshold,"
                       "test_accuracy_threshold\n0,";
    assert_true(!strncmp(m, head, strlen(head)));
    assert_non_null(strstr(m, "\n1,"));
    assert_non_null(strstr(m, ",nan,nan\n")); /* cross-entropy has no threshold rule */
    free(m);
    file_in(path, sizeof path, dir, "config.json");
    char *cj = tu_slurp(path);
    assert_non_null(cj);
    assert_non_null(strstr(cj, "\"loss\": \"cross_entropy\""));
    assert_non_null(strstr(cj, "\"n_train\": 4500"));
    assert_non_null(strstr(cj, "\"n_val\": 500"));
    free(cj);
    file_in(path, sizeof path, dir, "summary.json");
    char *sj = tu_slurp(path);
    assert_non_null(sj);
    assert_non_null(strstr(sj, "\"max_test_accuracy\""));
    assert_non_null(strstr(sj, "\"test_accuracy_at_best_val\""));
    assert_non_null(strstr(sj, "\"max_test_accuracy_threshold\": null"));
    free(sj);
    assert_true(isnan(r.max_test_accuracy_threshold) && isnan(r.test_at_best_val_threshold));
}

static void assert_same_checkpoint(const char *a_dir, const char *b_dir)
{
    char pa[600], pb[600];
    file_in(pa, sizeof pa, a_dir, "checkpoint.bin");
    file_in(pb, sizeof pb, b_dir, "checkpoint.bin");
    hs_ckpt a, b;
    assert_int_equal(hs_ckpt_read(&a, pa), HS_OK);
    assert_int_equal(hs_ckpt_read(&b, pb), HS_OK);
    assert_int_equal(a.epochs_done, b.epochs_done);
    assert_int_equal(a.steps, b.steps);
    assert_int_equal(a.nparams, b.nparams);
    assert_memory_equal(a.params, b.params, a.nparams * sizeof(float));
    assert_memory_equal(a.m, b.m, a.nparams * sizeof(float));
    assert_memory_equal(a.v, b.v, a.nparams * sizeof(float));
    assert_memory_equal(a.buffers, b.buffers, a.nbufs * sizeof(float));
    /* the running class thresholds, bit for bit, so both predict alike under either rule */
    assert_int_equal(a.ntheta, b.ntheta);
    assert_memory_equal(a.theta, b.theta, a.ntheta * sizeof(double));
    for (uint64_t i = 0; i < a.nrows; i++) {
        assert_memory_equal(&a.rows[i].train_loss, &b.rows[i].train_loss, sizeof(double));
        assert_memory_equal(&a.rows[i].val_accuracy, &b.rows[i].val_accuracy, sizeof(double));
        assert_memory_equal(&a.rows[i].test_accuracy, &b.rows[i].test_accuracy, sizeof(double));
        assert_memory_equal(&a.rows[i].val_accuracy_threshold, &b.rows[i].val_accuracy_threshold,
                            sizeof(double));
        assert_memory_equal(&a.rows[i].test_accuracy_threshold, &b.rows[i].test_accuracy_threshold,
                            sizeof(double));
    }
    hs_ckpt_free(&a);
    hs_ckpt_free(&b);
}

static void test_resume_identical(void **state)
{
    (void)state;
    tu_need_fashion_mnist();
    char a_dir[512], b_dir[512], path[600];
    dir_path(a_dir, sizeof a_dir, "resume_a");
    dir_path(b_dir, sizeof b_dir, "resume_b");
    hs_train_result ra, rb;
    hs_train_config ca = small_config(a_dir, HS_LOSS_HYPERSIMPLEX);
    assert_int_equal(hs_train_run(&ra, &ca, NULL, NULL), HS_OK);
    /* b: one epoch, then resumed to three */
    hs_train_config cb = small_config(b_dir, HS_LOSS_HYPERSIMPLEX);
    cb.epochs = 1;
    assert_int_equal(hs_train_run(&rb, &cb, NULL, NULL), HS_OK);
    file_in(path, sizeof path, b_dir, "summary.json");
    assert_true(hs_path_exists(path));
    cb.epochs = 3;
    cb.resume = 1;
    assert_int_equal(hs_train_run(&rb, &cb, NULL, NULL), HS_OK);
    assert_false(rb.already_complete);
    assert_same_checkpoint(a_dir, b_dir);
    assert_true(ra.max_test_accuracy == rb.max_test_accuracy);
    assert_true(ra.test_at_best_val == rb.test_at_best_val);
    /* an HS run has a threshold for every class and evaluates the threshold rule */
    hs_ckpt ck;
    file_in(path, sizeof path, a_dir, "checkpoint.bin");
    assert_int_equal(hs_ckpt_read(&ck, path), HS_OK);
    assert_int_equal(ck.version, HS_CKPT_VERSION);
    assert_int_equal(ck.ntheta, 10);
    for (size_t c = 0; c < 10; c++)
        assert_true(isfinite(ck.theta[c]));
    for (size_t e = 0; e < 3; e++)
        assert_true(ck.rows[e].test_accuracy_threshold >= 0 && ck.rows[e].test_accuracy_threshold <= 1);
    hs_ckpt_free(&ck);
    assert_true(ra.max_test_accuracy_threshold == rb.max_test_accuracy_threshold);
    assert_true(ra.test_at_best_val_threshold == rb.test_at_best_val_threshold);
    assert_true(isfinite(ra.max_test_accuracy_threshold));
    /* another threshold momentum cannot resume this run */
    hs_train_config cm = cb;
    cm.epochs = 4;
    cm.theta_momentum = 0.5;
    assert_int_equal(hs_train_run(&rb, &cm, NULL, NULL), HS_ERR_ARG);
    assert_non_null(strstr(hs_last_error(), "theta_momentum"));
    /* resuming a complete run does nothing and reports it */
    assert_int_equal(hs_train_run(&rb, &cb, NULL, NULL), HS_OK);
    assert_true(rb.already_complete);
    assert_int_equal(rb.epochs_done, 3);
    /* another configuration cannot resume this run; a second run cannot overwrite it */
    hs_train_config cc = cb;
    cc.seed = 1;
    assert_int_equal(hs_train_run(&rb, &cc, NULL, NULL), HS_ERR_ARG);
    assert_non_null(strstr(hs_last_error(), "seed"));
    cc = cb;
    cc.resume = 0;
    assert_int_equal(hs_train_run(&rb, &cc, NULL, NULL), HS_ERR_ARG);
    /* fewer epochs than done */
    cc = cb;
    cc.epochs = 2;
    assert_int_equal(hs_train_run(&rb, &cc, NULL, NULL), HS_ERR_ARG);
}

static void test_divergence_keeps_checkpoint(void **state)
{
    (void)state;
    tu_need_fashion_mnist();
    char dir[512], path[600];
    dir_path(dir, sizeof dir, "diverge");
    hs_train_config c = small_config(dir, HS_LOSS_CROSS_ENTROPY);
    c.train_limit = 200;
    c.val_fraction = 0.1;
    c.batch_size = 180; /* one step per epoch: epoch 0 ends with huge but finite parameters */
    c.lr = 1e36;
    hs_train_result r;
    assert_int_equal(hs_train_run(&r, &c, NULL, NULL), HS_ERR_DIVERGED);
    assert_non_null(strstr(hs_last_error(), "diverged"));
    assert_non_null(strstr(hs_last_error(), "not finite"));
    file_in(path, sizeof path, dir, "checkpoint.bin");
    size_t done = 99;
    hs_epoch_metrics rows[3];
    assert_int_equal(hs_train_checkpoint_info(&done, NULL, rows, 3, path), HS_OK);
    assert_int_equal(done, 1);
    file_in(path, sizeof path, dir, "summary.json");
    assert_false(hs_path_exists(path));
}

static void write_file(const char *path, const void *data, size_t n);

/* A truncated or corrupted checkpoint is rejected on resume (HS_ERR_FORMAT), never loaded. */
static void test_corrupt_checkpoint_rejected(void **state)
{
    (void)state;
    tu_need_fashion_mnist();
    char dir[512], path[600];
    dir_path(dir, sizeof dir, "corrupt");
    hs_train_config c = small_config(dir, HS_LOSS_CROSS_ENTROPY);
    c.epochs = 1;
    c.train_limit = 200;
    hs_train_result r;
    assert_int_equal(hs_train_run(&r, &c, NULL, NULL), HS_OK);
    file_in(path, sizeof path, dir, "checkpoint.bin");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    enum { CAP = 1 << 22 };
    unsigned char *buf = malloc(CAP);
    assert_non_null(buf);
    size_t n = fread(buf, 1, CAP, f);
    fclose(f);
    assert_true(n > 100 && n < CAP);
    c.epochs = 2;
    c.resume = 1;
    buf[n / 2] ^= 0x01; /* one flipped bit */
    write_file(path, buf, n);
    assert_int_equal(hs_train_run(&r, &c, NULL, NULL), HS_ERR_FORMAT);
    assert_non_null(strstr(hs_last_error(), "checksum"));
    buf[n / 2] ^= 0x01;
    write_file(path, buf, n - 9); /* truncated */
    assert_int_equal(hs_train_run(&r, &c, NULL, NULL), HS_ERR_FORMAT);
    write_file(path, "HSNNCKPX", 8);
    assert_int_equal(hs_train_run(&r, &c, NULL, NULL), HS_ERR_FORMAT);
    /* A size the file claims is checked against the bytes it holds before anything is
     * allocated: a parameter count of 2^60 with a valid checksum is refused as truncated. */
    enum { NPARAMS_AT = 168 }; /* magic 8, version 4 + 4, fingerprint 136 (version 2), epochs 8, steps 8 */
    uint64_t np, huge = (uint64_t)1 << 60;
    memcpy(&np, buf + NPARAMS_AT, sizeof np);
    assert_true(np > 1000 && np < 100000000); /* the layout assumed above */
    unsigned char *forged = malloc(n);
    assert_non_null(forged);
    memcpy(forged, buf, n);
    memcpy(forged + NPARAMS_AT, &huge, sizeof huge);
    uint64_t h = 0xCBF29CE484222325ull; /* FNV-1a over all but the stored hash */
    for (size_t i = 0; i + 8 < n; i++)
        h = (h ^ forged[i]) * 0x100000001B3ull;
    memcpy(forged + n - 8, &h, sizeof h);
    write_file(path, forged, n);
    free(forged);
    assert_int_equal(hs_train_checkpoint_info(NULL, NULL, NULL, 0, path), HS_ERR_FORMAT);
    assert_non_null(strstr(hs_last_error(), "truncated (tensor of 1152921504606846976 floats)"));
    write_file(path, buf, n); /* intact again: resumes */
    assert_int_equal(hs_train_run(&r, &c, NULL, NULL), HS_OK);
    assert_int_equal(r.epochs_done, 2);
    free(buf);
}

/* Rewrites a version-2 checkpoint (buf, n bytes) as the version 1 that builds before the class
 * thresholds wrote: no theta_momentum in the fingerprint, no thresholds, 5 fields per metrics
 * row. Returns the new length. */
static size_t downgrade_to_v1(unsigned char *buf, size_t n)
{
    const size_t fp1 = 128, head = 16; /* the version-1 fingerprint; magic, version, reserved */
    uint64_t counts[4], ntheta, nrows;
    memcpy(counts, buf + head + fp1 + 8, sizeof counts);
    size_t pos = head + fp1 + 8 + sizeof counts + (size_t)(3 * counts[2] + counts[3]) * sizeof(float);
    memcpy(&ntheta, buf + pos, 8);
    memcpy(&nrows, buf + pos + 8 + 8 * ntheta, 8);
    unsigned char *out = malloc(n);
    assert_non_null(out);
    uint32_t one = 1;
    size_t k = 0;
    memcpy(out, buf, head + fp1);
    memcpy(out + 8, &one, 4);
    k = head + fp1;
    memcpy(out + k, buf + head + fp1 + 8, pos - (head + fp1 + 8));
    k += pos - (head + fp1 + 8);
    memcpy(out + k, &nrows, 8);
    k += 8;
    const unsigned char *row = buf + pos + 8 + 8 * ntheta + 8;
    for (uint64_t i = 0; i < nrows; i++, row += 56, k += 40)
        memcpy(out + k, row, 40);
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < k; i++) {
        h ^= out[i];
        h *= 0x100000001B3ull;
    }
    memcpy(out + k, &h, 8);
    k += 8;
    memcpy(buf, out, k);
    free(out);
    return k;
}

static size_t read_whole(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    assert_true(n > 100 && n < cap);
    return n;
}

/* A checkpoint of version 1 (before the class thresholds): a run of a loss without thresholds
 * resumes from it and ends like an uninterrupted run; a HyperSimplex run refuses it with a
 * clear message (its thresholds are lost, it could not resume exactly). */
static void test_version1_checkpoint(void **state)
{
    (void)state;
    char full[512], old[512], path[600];
    enum { CAP = 1 << 22 };
    unsigned char *buf = malloc(CAP);
    assert_non_null(buf);
    hs_train_result r;
    for (int hs = 0; hs < 2; hs++) {
        dir_path(full, sizeof full, hs ? "v1_hs_full" : "v1_ce_full");
        dir_path(old, sizeof old, hs ? "v1_hs_old" : "v1_ce_old");
        hs_train_config c = small_config(full, hs ? HS_LOSS_HYPERSIMPLEX : HS_LOSS_CROSS_ENTROPY);
        c.train_limit = 200;
        c.epochs = 2;
        assert_int_equal(hs_train_run(&r, &c, NULL, NULL), HS_OK);
        c.out_dir = old;
        c.epochs = 1;
        assert_int_equal(hs_train_run(&r, &c, NULL, NULL), HS_OK);
        file_in(path, sizeof path, old, "checkpoint.bin");
        size_t n = downgrade_to_v1(buf, read_whole(path, buf, CAP));
        write_file(path, buf, n);
        hs_ckpt ck;
        assert_int_equal(hs_ckpt_read(&ck, path), HS_OK);
        assert_int_equal(ck.version, 1);
        assert_int_equal(ck.ntheta, 0);
        assert_true(isnan(ck.rows[0].test_accuracy_threshold));
        hs_ckpt_free(&ck);
        c.epochs = 2;
        c.resume = 1;
        if (hs) {
            assert_int_equal(hs_train_run(&r, &c, NULL, NULL), HS_ERR_FORMAT);
            assert_non_null(strstr(hs_last_error(), "version 1"));
        } else {
            assert_int_equal(hs_train_run(&r, &c, NULL, NULL), HS_OK);
            assert_same_checkpoint(full, old);
        }
    }
    free(buf);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_bad_data_rejected(void **state)
{
    (void)state;
    char data[512], out[512], path[600], err[600], args[1500];
    dir_path(data, sizeof data, "baddata");
    assert_int_equal(mkdir(data, 0777), 0);
    /* images file with a wrong magic, labels truncated */
    unsigned char junk[64] = {0x00, 0x00, 0x08, 0x04, 0, 0, 0, 1};
    const char *names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                           "t10k-labels-idx1-ubyte"};
    for (int i = 0; i < 4; i++) {
        file_in(path, sizeof path, data, names[i]);
        write_file(path, junk, sizeof junk);
    }
    dir_path(out, sizeof out, "baddata_run");
    hs_train_config c = small_config(out, HS_LOSS_CROSS_ENTROPY);
    c.data_dir = data;
    hs_train_result r;
    hs_status st = hs_train_run(&r, &c, NULL, NULL);
    assert_true(st == HS_ERR_FORMAT || st == HS_ERR_IO);
    assert_non_null(strstr(hs_last_error(), "baddata"));
    file_in(path, sizeof path, out, "checkpoint.bin");
    assert_false(hs_path_exists(path));
    /* the command: exit status 2 and an error message naming the file */
    dir_path(err, sizeof err, "baddata.err");
    snprintf(args, sizeof args, "train --data-dir '%s' --out '%s/cli' --epochs 1 --width 8", data, out);
    assert_int_equal(tu_run_cli(args, err), 2);
    char *e = tu_slurp(err);
    assert_non_null(e);
    assert_non_null(strstr(e, "error: "));
    assert_non_null(strstr(e, "baddata"));
    free(e);
    /* a missing data directory */
    snprintf(args, sizeof args, "train --data-dir '%s/missing' --out '%s/cli2' --epochs 1", data, out);
    assert_int_equal(tu_run_cli(args, err), 2);
}

/* train's HyperSimplex default is k = floor(B / 2) (fraction:0.5, the k-policy study), the
 * library's loss default stays count; the other losses keep the library's options. */
static void test_loss_defaults(void **state)
{
    (void)state;
    hs_train_config c = hs_train_config_default();
    assert_int_equal(c.loss.kind, HS_LOSS_HYPERSIMPLEX);
    assert_int_equal(c.loss.k_policy, HS_K_FRACTION);
    assert_true(c.loss.k_fraction == 0.5);
    assert_int_equal(hs_loss_opts_default(HS_LOSS_HYPERSIMPLEX).k_policy, HS_K_COUNT);
    hs_loss_opts ce = hs_train_loss_default(HS_LOSS_CROSS_ENTROPY);
    assert_int_equal(ce.k_policy, hs_loss_opts_default(HS_LOSS_CROSS_ENTROPY).k_policy);
}

static void test_cli_usage(void **state)
{
    (void)state;
    char err[600], out[700];
    dir_path(err, sizeof err, "usage.err");
    assert_int_equal(tu_run_cli("train --help", err), 0);
    snprintf(out, sizeof out, "%s.out", err);
    char *h = tu_slurp(out);
    assert_non_null(h);
    const char *opts[] = {"--out", "--dataset", "--data-dir", "--loss", "--tau", "--k-policy", "--batch-size",
                          "--epochs", "--width", "--seed", "--lr", "--val-fraction", "--train-limit",
                          "--threads", "--resume", "--quiet"};
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++)
        assert_non_null(strstr(h, opts[i]));
    free(h);
    assert_int_equal(tu_run_cli("train --epochs 2", err), 2);                 /* no --out */
    assert_int_equal(tu_run_cli("train --out /tmp/x --bogus", err), 2);       /* unknown option */
    assert_int_equal(tu_run_cli("train --out /tmp/x --loss nope", err), 2);   /* unknown loss */
    assert_int_equal(tu_run_cli("train --out /tmp/x --tau -1", err), 2);      /* bad tau */
    assert_int_equal(tu_run_cli("train --out /tmp/x --k-policy fraction:2", err), 2);
    assert_int_equal(tu_run_cli("train --out /tmp/x --batch-size 0", err), 2);
    assert_int_equal(tu_run_cli("train --out /tmp/x --val-fraction 1", err), 2);
    char *e = tu_slurp(err);
    assert_non_null(e);
    assert_non_null(strstr(e, "error: "));
    free(e);
}

/* One trainer per output directory: a second one (library or command, --resume or not) is
 * refused while the first holds DIR/.lock; the sweep hands its lock to its trainer. */
static void test_directory_lock(void **state)
{
    (void)state;
    char out[512], lock[600], err[600], args[4096], path[1024];
    dir_path(out, sizeof out, "locked_run");
    dir_path(err, sizeof err, "locked.err");
    assert_int_equal(mkdir(out, 0777), 0);
    file_in(lock, sizeof lock, out, ".lock");
    int fd = open(lock, O_RDWR | O_CREAT, 0666); /* another trainer holds the directory */
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    hs_train_config c = small_config(out, HS_LOSS_CROSS_ENTROPY);
    hs_train_result r;
    assert_int_equal(hs_train_run(&r, &c, NULL, NULL), HS_ERR_IO);
    assert_non_null(strstr(hs_last_error(), "in use by another process"));
    file_in(path, sizeof path, out, "config.json");
    assert_false(hs_path_exists(path));
    const char *small = "--width 8 --hidden 16 --train-limit 200 --test-limit 100 --batch-size 50 --epochs 1 "
                        "--val-fraction 0 --threads 1 --quiet";
    for (int resume = 0; resume < 2; resume++) {
        snprintf(args, sizeof args, "train %s --out '%s'%s", small, out, resume ? " --resume" : "");
        assert_int_equal(tu_run_cli(args, err), 2);
        char *e = tu_slurp(err);
        assert_non_null(e);
        assert_non_null(strstr(e, "error: train: "));
        assert_non_null(strstr(e, "is in use by another process"));
        free(e);
    }
    /* a sweep skips the busy run instead of failing it */
    char runs[512];
    dir_path(runs, sizeof runs, "lock_sweep");
    const char *sweep = "sweep --losses cross_entropy --batch-sizes 50 --seeds 0 --epochs 1 --set width=8 "
                        "--set hidden=16 --set train-limit=200 --set test-limit=100 --set val-fraction=0 "
                        "--threads 1 --name s";
    char run_dir[600];
    snprintf(run_dir, sizeof run_dir, "%.500s/s/fashion-mnist_cross_entropy_b50_s0", runs);
    snprintf(args, sizeof args, "mkdir -p '%s' && flock '%s/.lock' '%s' %s --runs-dir '%s' >'%s.out' 2>'%s'",
             run_dir, run_dir, HS_CLI_PATH, sweep, runs, err, err);
    int st = system(args);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1); /* the run is unfinished */
    snprintf(path, sizeof path, "%s.out", err);
    char *o = tu_slurp(path);
    assert_non_null(o);
    assert_non_null(strstr(o, "[skip] fashion-mnist_cross_entropy_b50_s0: running in another process"));
    free(o);
    /* ... and runs it with the lock handed down to the real trainer once it is free */
    snprintf(args, sizeof args, "%s --runs-dir '%s'", sweep, runs);
    assert_int_equal(tu_run_cli(args, err), 0);
    file_in(path, sizeof path, run_dir, "summary.json");
    assert_true(hs_path_exists(path));
    close(fd);
    /* the lock is free again: the directory's run resumes (it is complete) */
    snprintf(args, sizeof args, "train %s --loss cross_entropy --out '%s' --resume", small, run_dir);
    assert_int_equal(tu_run_cli(args, err), 0);
    snprintf(path, sizeof path, "%s.out", err);
    o = tu_slurp(path);
    assert_non_null(o);
    assert_non_null(strstr(o, "was already complete"));
    free(o);
}

/* Smaller command-line promises: a subset larger than the data set is refused, a failed
 * write of the standard output is a failure. */
static void test_cli_limits_and_output(void **state)
{
    (void)state;
    char out[512], err[600], args[1500];
    dir_path(out, sizeof out, "limit_run");
    dir_path(err, sizeof err, "limit.err");
    snprintf(args, sizeof args, "train --out '%s' --train-limit 100000 --width 8 --epochs 1 --threads 1", out);
    assert_int_equal(tu_run_cli(args, err), 2);
    char *e = tu_slurp(err);
    assert_non_null(e);
    assert_non_null(strstr(e, "100000 images was asked for, but the set holds only 60000"));
    free(e);
    snprintf(args, sizeof args, "train --help > /dev/full 2>'%s'", err);
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "'%s' %s", HS_CLI_PATH, args);
    int st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    e = tu_slurp(err);
    assert_non_null(e);
    assert_non_null(strstr(e, "writing to the standard output failed"));
    free(e);
}

/* A CLI run killed (SIGKILL) after its first checkpoint and resumed ends like an
 * uninterrupted CLI run. The killed run is asked for 1000 epochs, so it cannot finish before
 * the kill however slow the machine; it is resumed with the 4 epochs of the uninterrupted run
 * (the epoch count is the one setting a resume may change). */
static void test_cli_kill_and_resume(void **state)
{
    (void)state;
    tu_need_fashion_mnist();
    char full[512], killed[512], err[600], args[1500], ck[600], sum[600];
    dir_path(full, sizeof full, "cli_full");
    dir_path(killed, sizeof killed, "cli_killed");
    dir_path(err, sizeof err, "cli_kill.err");
    const char *common = "--loss hypersimplex --width 8 --hidden 16 --train-limit 1000 --test-limit 100 "
                         "--batch-size 50 --epochs 4 --lr 1e-3 --threads 1 --eval-batch 100 --quiet";
    snprintf(args, sizeof args, "train %s --out '%s'", common, full);
    assert_int_equal(tu_run_cli(args, err), 0);
    char *o = NULL;
    {
        char outp[800];
        snprintf(outp, sizeof outp, "%s.out", err);
        o = tu_slurp(outp);
        assert_non_null(o);
        assert_non_null(strstr(o, "maximum test accuracy over epochs"));
        assert_non_null(strstr(o, "test accuracy at the best-validation epoch"));
        free(o);
    }

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char outdir[600];
        snprintf(outdir, sizeof outdir, "%s", killed);
        execl(HS_CLI_PATH, HS_CLI_PATH, "train", "--loss", "hypersimplex", "--width", "8", "--hidden", "16",
              "--train-limit", "1000", "--test-limit", "100", "--batch-size", "50", "--epochs", "1000", "--lr",
              "1e-3", "--threads", "1", "--eval-batch", "100", "--quiet", "--out", outdir, (char *)NULL);
        _exit(127);
    }
    file_in(ck, sizeof ck, killed, "checkpoint.bin");
    file_in(sum, sizeof sum, killed, "summary.json");
    double t0 = hs_now();
    int status = 0, finished = 0;
    while (!hs_path_exists(ck) && hs_now() - t0 < 300) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            finished = 1;
            break;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    if (finished)
        fail_msg("the run to be killed exited by itself (status %d) before its first checkpoint", status);
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_false(hs_path_exists(sum));
    size_t done = 0;
    assert_int_equal(hs_train_checkpoint_info(&done, NULL, NULL, 0, ck), HS_OK);
    print_message("killed after %zu epochs\n", done);
    assert_true(done >= 1 && done < 4); /* else the resumed run would have nothing left to do */
    snprintf(args, sizeof args, "train %s --out '%s' --resume", common, killed);
    assert_int_equal(tu_run_cli(args, err), 0);
    assert_true(hs_path_exists(sum));
    assert_same_checkpoint(full, killed);
    /* metrics.csv rows agree except the seconds column */
    char pa[600], pb[600];
    file_in(pa, sizeof pa, full, "metrics.csv");
    file_in(pb, sizeof pb, killed, "metrics.csv");
    char *ma = tu_slurp(pa), *mb = tu_slurp(pb);
    assert_non_null(ma);
    assert_non_null(mb);
    char *la = ma, *lb = mb;
    for (int line = 0; line < 5; line++) {
        char *ea = strchr(la, '\n'), *eb = strchr(lb, '\n');
        assert_non_null(ea);
        assert_non_null(eb);
        /* compare all but the fifth field (seconds) */
        char *sa = la, *sb = lb;
        for (int comma = 0; comma < 4; comma++) {
            sa = strchr(sa, ',') + 1;
            sb = strchr(sb, ',') + 1;
        }
        char *ta = strchr(sa, ','), *tb = strchr(sb, ',');
        assert_true(ta && ta < ea && tb && tb < eb);
        assert_int_equal(sa - la, sb - lb);
        assert_memory_equal(la, lb, (size_t)(sa - la));
        assert_int_equal(ea - ta, eb - tb);
        assert_memory_equal(ta, tb, (size_t)(ea - ta));
        if (line > 0) /* the threshold rule was evaluated: a number, not nan */
            assert_null(strstr(ta, ",nan"));
        la = ea + 1;
        lb = eb + 1;
    }
    assert_int_equal(*la, '\0');
    free(ma);
    free(mb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_defaults),
        cmocka_unit_test(test_cli_usage),
        cmocka_unit_test(test_directory_lock),
        cmocka_unit_test(test_cli_limits_and_output),
        cmocka_unit_test(test_bad_data_rejected),
        cmocka_unit_test(test_divergence_keeps_checkpoint),
        cmocka_unit_test(test_resume_identical),
        cmocka_unit_test(test_corrupt_checkpoint_rejected),
        cmocka_unit_test(test_version1_checkpoint),
        cmocka_unit_test(test_cli_kill_and_resume),
        cmocka_unit_test(test_short_real_training),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
