/* A stand-in for `hypersimplex train` that the sweep tests start (`sweep --train-cmd`): it
 * trains nothing, but writes its run directory with the train layer's own writers
 * (train/run_dir.h), so the sweep is tested against the contract the real trainer keeps:
 * config.json first, then per epoch metrics.csv and a checkpoint (here only the number of
 * epochs done, as text: the sweep never reads a checkpoint), summary.json last.
 *
 * Accuracies are a function of the run, so collected results can be checked:
 *   test = 0.6 + 0.02 epoch + off(loss) - 0.00001 batch + 0.001 (seed % 7), val = test - 0.003,
 *   off: hypersimplex 0.02, hinge 0.005, mse 0.01, else 0;
 * the HyperSimplex loss also records the threshold rule's, argmax + 0.1 (+ 0.01 for the k
 * policy prior, + 0.02 for fraction:F).
 *
 * Environment (all optional):
 *   FAKE_TRAIN_LOG=FILE        append "<out-dir-name> resume=<0|1> from=<epoch>" per start
 *   FAKE_TRAIN_SLEEP=SECONDS   sleep after each epoch
 *   FAKE_TRAIN_DIE_AFTER=E     SIGKILL itself right after epoch E (runs started at epoch 0)
 *   FAKE_TRAIN_FAIL_LOSS=LOSS  exit 1 (a runtime failure) for runs of this loss
 * Exit status 2 for arguments it does not understand, as the real trainer. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypersimplex/train.h"
#include "train/run_dir.h"
#include "util/atomic_file.h"
#include "util/fs.h"

static int usage_error(const char *what)
{
    fprintf(stderr, "fake_train: %s\n", what);
    return 2;
}

/* The options the sweep passes; others (--KEY VALUE, or the flags below) are accepted and
 * ignored. Returns 0 or the exit status. */
static int parse(hs_train_config *c, const char **loss_name, int argc, char **argv)
{
    const char *dataset = NULL, *loss = NULL, *policy = NULL;
    long batch = -1, seed = -1, epochs = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--resume")) {
            c->resume = 1;
            continue;
        }
        if (!strcmp(a, "--no-augment") || !strcmp(a, "--quiet"))
            continue;
        if (strncmp(a, "--", 2) || i + 1 == argc)
            return usage_error("unexpected argument");
        const char *v = argv[++i];
        if (!strcmp(a, "--dataset"))
            dataset = v;
        else if (!strcmp(a, "--loss"))
            loss = v;
        else if (!strcmp(a, "--k-policy"))
            policy = v;
        else if (!strcmp(a, "--batch-size"))
            batch = strtol(v, NULL, 10);
        else if (!strcmp(a, "--seed"))
            seed = strtol(v, NULL, 10);
        else if (!strcmp(a, "--epochs"))
            epochs = strtol(v, NULL, 10);
        else if (!strcmp(a, "--out"))
            c->out_dir = v;
    }
    hs_loss_kind kind;
    if (!dataset || !loss || batch < 1 || seed < 0 || epochs < 1 || !c->out_dir)
        return usage_error("missing option");
    if (hs_data_kind_parse(&c->dataset, dataset) || hs_loss_kind_parse(&kind, loss))
        return usage_error("unknown dataset or loss");
    c->loss = hs_train_loss_default(kind);
    if (policy && hs_k_policy_parse(&c->loss.k_policy, &c->loss.k_fraction, policy))
        return usage_error("unknown k policy");
    c->batch_size = (size_t)batch;
    c->seed = (uint64_t)seed;
    c->epochs = (size_t)epochs;
    *loss_name = loss;
    return 0;
}

static hs_epoch_metrics epoch_row(const hs_train_config *c, size_t e)
{
    hs_loss_kind k = c->loss.kind;
    double off = k == HS_LOSS_HYPERSIMPLEX ? 0.02 : k == HS_LOSS_HINGE ? 0.005 : k == HS_LOSS_MSE_SOFTMAX ? 0.01 : 0.0;
    double acc = 0.6 + 0.02 * (double)e + off - 0.00001 * (double)c->batch_size + 0.001 * (double)(c->seed % 7);
    double thr = 0.1 + (c->loss.k_policy == HS_K_PRIOR ? 0.01 : c->loss.k_policy == HS_K_FRACTION ? 0.02 : 0.0);
    int hs = k == HS_LOSS_HYPERSIMPLEX;
    hs_epoch_metrics m = {e, 1.0 / (double)(e + 1), acc - 0.003, acc, 0.01,
                          hs ? acc + thr - 0.003 : NAN, hs ? acc + thr : NAN};
    return m;
}

/* The epochs done according to the checkpoint (0 without one). */
static size_t checkpoint_epochs(const char *dir)
{
    char *path = hs_path_join(dir, HS_RUN_CHECKPOINT_FILE);
    FILE *f = path ? fopen(path, "r") : NULL;
    free(path);
    unsigned long done = 0;
    if (f) {
        if (fscanf(f, "%lu", &done) != 1)
            done = 0;
        fclose(f);
    }
    return (size_t)done;
}

static hs_status write_checkpoint(const char *dir, size_t epochs_done)
{
    char text[32];
    snprintf(text, sizeof text, "%zu\n", epochs_done);
    hs_atomic_file af;
    hs_status st = hs_atomic_open_text(&af, dir, HS_RUN_CHECKPOINT_FILE, text);
    return st ? st : hs_atomic_commit(&af);
}

/* The exact options the sweep passed, for the tests: DIR/args.txt. */
static hs_status write_args(const char *dir, int argc, char **argv)
{
    size_t len = 2;
    for (int i = 1; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *text = calloc(1, len);
    if (!text)
        return HS_ERR_NOMEM;
    for (int i = 1; i < argc; i++) {
        strcat(text, argv[i]);
        strcat(text, i + 1 < argc ? " " : "\n");
    }
    hs_atomic_file af;
    hs_status st = hs_atomic_open_text(&af, dir, "args.txt", text);
    free(text);
    return st ? st : hs_atomic_commit(&af);
}

static void pause_seconds(const char *text)
{
    double s = text ? strtod(text, NULL) : 0;
    if (s > 0) {
        struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

int main(int argc, char **argv)
{
    hs_train_config c = hs_train_config_default();
    const char *loss = NULL;
    int rc = parse(&c, &loss, argc, argv);
    if (rc)
        return rc;
    hs_status st = hs_mkdirs(c.out_dir);
    if (!st)
        st = write_args(c.out_dir, argc, argv);
    size_t start = c.resume ? checkpoint_epochs(c.out_dir) : 0;
    const char *log = getenv("FAKE_TRAIN_LOG");
    FILE *lf = log ? fopen(log, "a") : NULL;
    if (lf) {
        const char *base = strrchr(c.out_dir, '/');
        fprintf(lf, "%s resume=%d from=%zu\n", base ? base + 1 : c.out_dir, c.resume, start);
        fclose(lf);
    }
    const char *fail = getenv("FAKE_TRAIN_FAIL_LOSS");
    if (fail && !strcmp(fail, loss)) {
        fprintf(stderr, "fake_train: diverged (as asked)\n");
        return 1;
    }
    const char *die = getenv("FAKE_TRAIN_DIE_AFTER");
    hs_run_info info = {0};
    hs_epoch_metrics *rows = calloc(c.epochs, sizeof *rows);
    if (!st && !rows)
        st = HS_ERR_NOMEM;
    if (!st)
        st = hs_run_write_config(c.out_dir, &c, &info);
    for (size_t e = 0; e < c.epochs && !st; e++) {
        rows[e] = epoch_row(&c, e);
        if (e < start)
            continue;
        if ((st = hs_run_write_metrics(c.out_dir, rows, e + 1)) || (st = write_checkpoint(c.out_dir, e + 1)))
            break;
        pause_seconds(getenv("FAKE_TRAIN_SLEEP"));
        if (start == 0 && die && strtol(die, NULL, 10) == (long)e)
            raise(SIGKILL);
    }
    hs_train_result r = {0};
    r.epochs_done = c.epochs;
    r.best_val_epoch = r.max_test_epoch = c.epochs - 1; /* the accuracies grow with the epoch */
    r.best_val_accuracy = rows ? rows[c.epochs - 1].val_accuracy : NAN;
    r.test_at_best_val = r.max_test_accuracy = r.final_test_accuracy = rows ? rows[c.epochs - 1].test_accuracy : NAN;
    double theta[1] = {NAN};
    if (!st)
        st = hs_run_write_summary(c.out_dir, &c, &r, rows, theta, 1);
    free(rows);
    if (st) {
        fprintf(stderr, "fake_train: %s\n", hs_last_error());
        return 1;
    }
    return 0;
}
