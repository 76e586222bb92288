/* Training runs on real Fashion-MNIST (Debian's dataset-fashion-mnist; the tests that need it
 * are skipped, saying so, when it is absent): a short run learns, resume ends bit-identical
 * to an uninterrupted run (library and a killed CLI process), a diverging run stops and keeps
 * its last good checkpoint, bad data and bad options are rejected cleanly. Small networks
 * and subsets, one thread: quick on a busy 2-core machine. */
#define _POSIX_C_SOURCE 200809L
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

#include "hypersimplex.h"
#include "train/checkpoint.h"

static char tmp_root[256];

/* Skips the calling test, with a message, when the real data set is not installed. */
static void need_fashion_mnist(void)
{
    const char *dir = hs_data_default_dir(HS_DATA_FASHION_MNIST);
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        print_message("skipped: %s does not exist (install the Debian package dataset-fashion-mnist)\n",
                      dir);
        skip();
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp_root, sizeof tmp_root, "/tmp/hs_test_train_XXXXXX");
    return mkdtemp(tmp_root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    return system(cmd) == 0 ? 0 : -1;
}

static void dir_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmp_root, name);
}

static void file_in(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
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
    need_fashion_mnist();
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
    char *m = slurp(path);
    assert_non_null(m);
    assert_true(!strncmp(m, "epoch,train_loss,val_accuracy,test_accuracy,seconds\n0,", 54));
    assert_non_null(strstr(m, "\n1,"));
    free(m);
    file_in(path, sizeof path, dir, "config.json");
    char *cj = slurp(path);
    assert_non_null(cj);
    assert_non_null(strstr(cj, "\"loss\": \"cross_entropy\""));
    assert_non_null(strstr(cj, "\"n_train\": 4500"));
    assert_non_null(strstr(cj, "\"n_val\": 500"));
    free(cj);
    file_in(path, sizeof path, dir, "summary.json");
    char *sj = slurp(path);
    assert_non_null(sj);
    assert_non_null(strstr(sj, "\"max_test_accuracy\""));
    assert_non_null(strstr(sj, "\"test_accuracy_at_best_val\""));
    free(sj);
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
    for (uint64_t i = 0; i < a.nrows; i++) {
        assert_memory_equal(&a.rows[i].train_loss, &b.rows[i].train_loss, sizeof(double));
        assert_memory_equal(&a.rows[i].val_accuracy, &b.rows[i].val_accuracy, sizeof(double));
        assert_memory_equal(&a.rows[i].test_accuracy, &b.rows[i].test_accuracy, sizeof(double));
    }
    hs_ckpt_free(&a);
    hs_ckpt_free(&b);
}

static void test_resume_identical(void **state)
{
    (void)state;
    need_fashion_mnist();
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
    assert_true(exists(path));
    cb.epochs = 3;
    cb.resume = 1;
    assert_int_equal(hs_train_run(&rb, &cb, NULL, NULL), HS_OK);
    assert_false(rb.already_complete);
    assert_same_checkpoint(a_dir, b_dir);
    assert_true(ra.max_test_accuracy == rb.max_test_accuracy);
    assert_true(ra.test_at_best_val == rb.test_at_best_val);
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
    need_fashion_mnist();
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
    assert_false(exists(path));
}

static void write_file(const char *path, const void *data, size_t n);

/* A truncated or corrupted checkpoint is rejected on resume (HS_ERR_FORMAT), never loaded. */
static void test_corrupt_checkpoint_rejected(void **state)
{
    (void)state;
    need_fashion_mnist();
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
    write_file(path, buf, n); /* intact again: resumes */
    assert_int_equal(hs_train_run(&r, &c, NULL, NULL), HS_OK);
    assert_int_equal(r.epochs_done, 2);
    free(buf);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static int run_cli(const char *args, const char *err_file)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s.out' 2>'%s'", HS_CLI_PATH, args, err_file, err_file);
    int s = system(cmd);
    return WIFEXITED(s) ? WEXITSTATUS(s) : -1;
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
    assert_false(exists(path));
    /* the command: exit status 2 and an error message naming the file */
    dir_path(err, sizeof err, "baddata.err");
    snprintf(args, sizeof args, "train --data-dir '%s' --out '%s/cli' --epochs 1 --width 8", data, out);
    assert_int_equal(run_cli(args, err), 2);
    char *e = slurp(err);
    assert_non_null(e);
    assert_non_null(strstr(e, "error: "));
    assert_non_null(strstr(e, "baddata"));
    free(e);
    /* a missing data directory */
    snprintf(args, sizeof args, "train --data-dir '%s/missing' --out '%s/cli2' --epochs 1", data, out);
    assert_int_equal(run_cli(args, err), 2);
}

static void test_cli_usage(void **state)
{
    (void)state;
    char err[600], out[700];
    dir_path(err, sizeof err, "usage.err");
    assert_int_equal(run_cli("train --help", err), 0);
    snprintf(out, sizeof out, "%s.out", err);
    char *h = slurp(out);
    assert_non_null(h);
    const char *opts[] = {"--out", "--dataset", "--data-dir", "--loss", "--tau", "--k-policy", "--batch-size",
                          "--epochs", "--width", "--seed", "--lr", "--val-fraction", "--train-limit",
                          "--threads", "--resume", "--quiet"};
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++)
        assert_non_null(strstr(h, opts[i]));
    free(h);
    assert_int_equal(run_cli("train --epochs 2", err), 2);                 /* no --out */
    assert_int_equal(run_cli("train --out /tmp/x --bogus", err), 2);       /* unknown option */
    assert_int_equal(run_cli("train --out /tmp/x --loss nope", err), 2);   /* unknown loss */
    assert_int_equal(run_cli("train --out /tmp/x --tau -1", err), 2);      /* bad tau */
    assert_int_equal(run_cli("train --out /tmp/x --k-policy fraction:2", err), 2);
    assert_int_equal(run_cli("train --out /tmp/x --batch-size 0", err), 2);
    assert_int_equal(run_cli("train --out /tmp/x --val-fraction 1", err), 2);
    char *e = slurp(err);
    assert_non_null(e);
    assert_non_null(strstr(e, "error: "));
    free(e);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A CLI run killed (SIGKILL) after its first checkpoint and resumed ends like an
 * uninterrupted CLI run. The killed run is asked for 1000 epochs, so it cannot finish before
 * the kill however slow the machine; it is resumed with the 4 epochs of the uninterrupted run
 * (the epoch count is the one setting a resume may change). */
static void test_cli_kill_and_resume(void **state)
{
    (void)state;
    need_fashion_mnist();
    char full[512], killed[512], err[600], args[1500], ck[600], sum[600];
    dir_path(full, sizeof full, "cli_full");
    dir_path(killed, sizeof killed, "cli_killed");
    dir_path(err, sizeof err, "cli_kill.err");
    const char *common = "--loss hypersimplex --width 8 --hidden 16 --train-limit 1000 --test-limit 100 "
                         "--batch-size 50 --epochs 4 --lr 1e-3 --threads 1 --eval-batch 100 --quiet";
    snprintf(args, sizeof args, "train %s --out '%s'", common, full);
    assert_int_equal(run_cli(args, err), 0);
    char *o = NULL;
    {
        char outp[800];
        snprintf(outp, sizeof outp, "%s.out", err);
        o = slurp(outp);
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
    double t0 = now_s();
    int status = 0, finished = 0;
    while (!exists(ck) && now_s() - t0 < 300) {
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
    assert_false(exists(sum));
    size_t done = 0;
    assert_int_equal(hs_train_checkpoint_info(&done, NULL, NULL, 0, ck), HS_OK);
    print_message("killed after %zu epochs\n", done);
    assert_true(done >= 1 && done < 4); /* else the resumed run would have nothing left to do */
    snprintf(args, sizeof args, "train %s --out '%s' --resume", common, killed);
    assert_int_equal(run_cli(args, err), 0);
    assert_true(exists(sum));
    assert_same_checkpoint(full, killed);
    /* metrics.csv rows agree except the seconds column */
    char pa[600], pb[600];
    file_in(pa, sizeof pa, full, "metrics.csv");
    file_in(pb, sizeof pb, killed, "metrics.csv");
    char *ma = slurp(pa), *mb = slurp(pb);
    assert_non_null(ma);
    assert_non_null(mb);
    char *la = ma, *lb = mb;
    for (int line = 0; line < 5; line++) {
        char *ea = strchr(la, '\n'), *eb = strchr(lb, '\n');
        assert_non_null(ea);
        assert_non_null(eb);
        /* compare up to the last comma of the line */
        size_t na = (size_t)(ea - la), nb = (size_t)(eb - lb);
        size_t ka = na, kb = nb;
        while (ka > 0 && la[ka - 1] != ',')
            ka--;
        while (kb > 0 && lb[kb - 1] != ',')
            kb--;
        assert_int_equal(ka, kb);
        assert_memory_equal(la, lb, ka);
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
        cmocka_unit_test(test_cli_usage),
        cmocka_unit_test(test_bad_data_rejected),
        cmocka_unit_test(test_divergence_keeps_checkpoint),
        cmocka_unit_test(test_resume_identical),
        cmocka_unit_test(test_corrupt_checkpoint_rejected),
        cmocka_unit_test(test_cli_kill_and_resume),
        cmocka_unit_test(test_short_real_training),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
