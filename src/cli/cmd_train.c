/* hypersimplex train: trains the paper's CNN on an image data set with one loss and Adam,
 * writing config.json, metrics.csv, checkpoint.bin (every epoch) and summary.json into --out. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_dist.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "hypersimplex/train.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hypersimplex train --out DIR [OPTIONS]\n"
            "\n"
            "Trains the paper's CNN (4 conv + BN, 2 max-pool, linear 512, linear C) with Adam and\n"
            "evaluates validation and test accuracy after every epoch. DIR receives config.json,\n"
            "metrics.csv, checkpoint.bin (every epoch) and summary.json (when done).\n"
            "Accuracy is measured by the argmax of the logits and, for the HyperSimplex loss, also\n"
            "by the threshold rule argmax_c (z_c / tau - theta_c) with running class thresholds\n"
            "(the loss ignores a constant added to a logit column; docs/losses.md).\n"
            "\n"
            "options (default in brackets):\n"
            "  --out DIR            output directory (required; created if missing)\n"
            "  --dataset NAME       fashion-mnist | mnist | cifar10 [fashion-mnist]\n"
            "  --data-dir DIR       data directory [/usr/share/datasets/<dataset>]\n"
            "  --loss NAME          cross_entropy | hinge | mse | hypersimplex [hypersimplex]\n"
            "  --tau T              HyperSimplex temperature, > 0 [1.5]\n"
            "  --k-policy P         HyperSimplex k: count | prior | fraction:F [fraction:0.5]\n"
            "  --reg R              HyperSimplex operator: l2 | kl | entropy [l2]\n"
            "  --theta-momentum M   HyperSimplex: momentum of the running class thresholds of\n"
            "                       the threshold rule, in [0, 1] (like batch norm's) [0.1]\n"
            "  --batch-size B       training batch size [1024]\n"
            "  --epochs E           number of epochs [20]\n"
            "  --width W            channels of every convolution [64]\n"
            "  --hidden H           units of the first linear layer [512]\n"
            "  --seed S             initialization, split, shuffles, augmentation [0]\n"
            "  --lr LR              Adam learning rate [1e-4]\n"
            "  --val-fraction F     stratified validation split of the training set, [0, 1) [0.1]\n"
            "  --train-limit N      use a stratified subset of N training images (0 = all) [0]\n"
            "  --test-limit N       use a stratified subset of N test images (0 = all) [0]\n"
            "  --no-augment         no random crop / flip (the paper augments) [augment]\n"
            "  --threads N          threads of oneDNN and OpenMP (0 = all cores) [0]\n"
            "  --eval-batch N       batch size of evaluation [1000]\n"
            "  --resume             continue the run in DIR from its checkpoint (if any; with any\n"
            "                       number of MPI ranks)\n"
            "  --sync-bn            under mpirun: batch norm statistics over the global batch,\n"
            "                       so N ranks compute the steps of one process [per rank]\n"
            "  --loss-scope S       under mpirun, the HyperSimplex loss: global (on the whole\n"
            "                       global batch, as one process) | shard (each rank's own) [global]\n"
            "  --quiet              print only the final summary\n"
            "  --help               this text\n"
            "\n"
            "Data parallelism: `mpirun -np N hypersimplex train ...` trains one run on N ranks\n"
            "with the same global batch size (each rank a 1/N shard of every batch, gradients\n"
            "summed); rank 0 writes DIR and prints (docs/distributed.md). --threads 0 then means\n"
            "the cores divided among the ranks of a machine.\n"
            "\n"
            "DIR is locked while training (flock on DIR/.lock, held by rank 0): a second trainer\n"
            "on the same DIR exits with status 2.\n"
            "\n"
            "Exit status: 0 done, 1 runtime failure (including a diverged run, whose last good\n"
            "checkpoint is kept), 2 bad usage or bad input (options, data files, DIR in use).\n");
}

typedef struct progress_ctx {
    cli_progress bar;
    int started;
    int quiet;
    int warned;
    size_t n_train, start_epoch;
    char label[64];
} progress_ctx;

/* One bar over the whole run (rate and ETA include evaluation); one line per epoch. */
static void on_event(const hs_train_event *ev, void *user)
{
    progress_ctx *p = user;
    if (ev->kind == HS_TRAIN_START) {
        p->started = 1;
        p->n_train = ev->n_train;
        p->start_epoch = ev->start_epoch;
        if (!p->quiet) {
            printf("training on %zu images, validating on %zu, testing on %zu; epochs %zu..%zu of %zu\n",
                   ev->n_train, ev->n_val, ev->n_test, ev->start_epoch + 1, ev->epochs, ev->epochs);
            fflush(stdout);
        }
        snprintf(p->label, sizeof p->label, "epoch %zu/%zu", ev->start_epoch + 1, ev->epochs);
        cli_progress_start(&p->bar, p->label, "img",
                           (double)ev->n_train * (double)(ev->epochs - ev->start_epoch));
        return;
    }
    if (ev->reference_kernels && !p->warned) {
        p->warned = 1;
        cli_progress_end(&p->bar);
        fprintf(stderr, "warning: %zu oneDNN primitives of this network run on oneDNN's reference "
                        "kernels (correct, but 10-1000x slower); --width a multiple of 8 avoids them\n",
                ev->reference_kernels);
    }
    if (p->quiet)
        return;
    double base = (double)p->n_train * (double)(ev->epoch - p->start_epoch);
    if (ev->kind == HS_TRAIN_BATCH) {
        snprintf(p->label, sizeof p->label, "epoch %zu/%zu loss %.4f", ev->epoch + 1, ev->epochs, ev->loss);
        cli_progress_update(&p->bar, base + (double)ev->images_done);
        return;
    }
    const hs_epoch_metrics *m = ev->metrics;
    cli_progress_end(&p->bar); /* clears the bar line on a terminal; the next update redraws it */
    printf("epoch %zu/%zu  train_loss %.6f  val_acc %.4f  test_acc %.4f", m->epoch + 1, ev->epochs,
           m->train_loss, m->val_accuracy, m->test_accuracy);
    if (isfinite(m->test_accuracy_threshold))
        printf("  threshold rule: val_acc %.4f  test_acc %.4f", m->val_accuracy_threshold,
               m->test_accuracy_threshold);
    printf("  %.1f s\n", m->seconds);
    fflush(stdout);
}

/* Ranks other than 0 print nothing; they only note the start (for the exit status). */
static void on_event_silent(const hs_train_event *ev, void *user)
{
    if (ev->kind == HS_TRAIN_START)
        ((progress_ctx *)user)->started = 1;
}

enum {
    O_OUT = 256, O_DATASET, O_DATADIR, O_LOSS, O_TAU, O_KPOL, O_REG, O_BATCH, O_EPOCHS, O_WIDTH,
    O_HIDDEN, O_SEED, O_LR, O_VALF, O_TRAINLIM, O_TESTLIM, O_NOAUG, O_THREADS, O_EVALB, O_RESUME,
    O_QUIET, O_THETA_MOM, O_SYNC_BN, O_SCOPE, O_HELP
};
static const struct option opts[] = {
    {"out", required_argument, NULL, O_OUT},
    {"dataset", required_argument, NULL, O_DATASET},
    {"data-dir", required_argument, NULL, O_DATADIR},
    {"loss", required_argument, NULL, O_LOSS},
    {"tau", required_argument, NULL, O_TAU},
    {"k-policy", required_argument, NULL, O_KPOL},
    {"reg", required_argument, NULL, O_REG},
    {"theta-momentum", required_argument, NULL, O_THETA_MOM},
    {"batch-size", required_argument, NULL, O_BATCH},
    {"epochs", required_argument, NULL, O_EPOCHS},
    {"width", required_argument, NULL, O_WIDTH},
    {"hidden", required_argument, NULL, O_HIDDEN},
    {"seed", required_argument, NULL, O_SEED},
    {"lr", required_argument, NULL, O_LR},
    {"val-fraction", required_argument, NULL, O_VALF},
    {"train-limit", required_argument, NULL, O_TRAINLIM},
    {"test-limit", required_argument, NULL, O_TESTLIM},
    {"no-augment", no_argument, NULL, O_NOAUG},
    {"threads", required_argument, NULL, O_THREADS},
    {"eval-batch", required_argument, NULL, O_EVALB},
    {"resume", no_argument, NULL, O_RESUME},
    {"quiet", no_argument, NULL, O_QUIET},
    {"sync-bn", no_argument, NULL, O_SYNC_BN},
    {"loss-scope", required_argument, NULL, O_SCOPE},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

int cmd_train_option_arity(const char *name)
{
    for (const struct option *o = opts; o->name; o++)
        if (!strcmp(o->name, name))
            return o->has_arg == no_argument ? 0 : 1;
    return -1;
}

int cmd_train(int argc, char **argv)
{
    hs_train_config cfg = hs_train_config_default();
    const char *loss_name = "hypersimplex", *kpol = NULL, *reg = NULL;
    double tau = NAN;
    int quiet = 0;
    long lv;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_OUT: cfg.out_dir = optarg; break;
        case O_DATASET:
            if (hs_data_kind_parse(&cfg.dataset, optarg)) {
                cli_error("--dataset: unknown data set '%s' (fashion-mnist, mnist, cifar10)", optarg);
                return 2;
            }
            break;
        case O_DATADIR: cfg.data_dir = optarg; break;
        case O_LOSS: loss_name = optarg; break;
        case O_TAU:
            if (cli_parse_double("--tau", optarg, &tau))
                return 2;
            break;
        case O_KPOL: kpol = optarg; break;
        case O_REG: reg = optarg; break;
        case O_THETA_MOM:
            if (cli_parse_double("--theta-momentum", optarg, &cfg.theta_momentum))
                return 2;
            if (!(cfg.theta_momentum >= 0 && cfg.theta_momentum <= 1)) {
                cli_error("--theta-momentum: %g is outside [0, 1]", cfg.theta_momentum);
                return 2;
            }
            break;
        case O_BATCH:
            if (cli_parse_size("--batch-size", optarg, 1, (size_t)1 << 20, &cfg.batch_size))
                return 2;
            break;
        case O_EPOCHS:
            if (cli_parse_size("--epochs", optarg, 1, 1000000, &cfg.epochs))
                return 2;
            break;
        case O_WIDTH:
            if (cli_parse_size("--width", optarg, 1, 4096, &cfg.width))
                return 2;
            break;
        case O_HIDDEN:
            if (cli_parse_size("--hidden", optarg, 1, 65536, &cfg.hidden))
                return 2;
            break;
        case O_SEED:
            if (cli_parse_long("--seed", optarg, 0, 2147483647L, &lv))
                return 2;
            cfg.seed = (uint64_t)lv;
            break;
        case O_LR:
            if (cli_parse_double("--lr", optarg, &cfg.lr))
                return 2;
            break;
        case O_VALF:
            if (cli_parse_double("--val-fraction", optarg, &cfg.val_fraction))
                return 2;
            break;
        case O_TRAINLIM:
            if (cli_parse_size("--train-limit", optarg, 0, (size_t)1 << 40, &cfg.train_limit))
                return 2;
            break;
        case O_TESTLIM:
            if (cli_parse_size("--test-limit", optarg, 0, (size_t)1 << 40, &cfg.test_limit))
                return 2;
            break;
        case O_NOAUG: cfg.augment = 0; break;
        case O_THREADS:
            if (cli_parse_long("--threads", optarg, 0, 1024, &lv))
                return 2;
            cfg.threads = (int)lv;
            break;
        case O_EVALB:
            if (cli_parse_size("--eval-batch", optarg, 1, (size_t)1 << 20, &cfg.eval_batch))
                return 2;
            break;
        case O_RESUME: cfg.resume = 1; break;
        case O_QUIET: quiet = 1; break;
        case O_SYNC_BN: cfg.sync_bn = 1; break;
        case O_SCOPE:
            if (hs_loss_scope_parse(&cfg.loss_scope, optarg)) {
                cli_error("--loss-scope: '%s' is not global or shard", optarg);
                return 2;
            }
            break;
        case O_HELP: usage(stdout); return 0;
        default:
            cli_error("train: unknown or incomplete option '%s' (see hypersimplex train --help)",
                      argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        cli_error("train: unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (!cfg.out_dir) {
        cli_error("train: --out DIR is required (see hypersimplex train --help)");
        return 2;
    }
    hs_loss_kind kind;
    if (hs_loss_kind_parse(&kind, loss_name)) {
        cli_error("--loss: unknown loss '%s' (cross_entropy, hinge, mse, hypersimplex)", loss_name);
        return 2;
    }
    cfg.loss = hs_train_loss_default(kind);
    if (!isnan(tau)) {
        if (!(tau > 0) || !isfinite(tau)) {
            cli_error("--tau: %g must be finite and > 0", tau);
            return 2;
        }
        cfg.loss.tau = tau;
    }
    if (kpol) {
        hs_status s = hs_k_policy_parse(&cfg.loss.k_policy, &cfg.loss.k_fraction, kpol);
        if (s) {
            cli_error("--k-policy: '%s' is not count, prior or fraction:F with F in [0, 1]", kpol);
            return 2;
        }
    }
    if (reg && hs_regularization_parse(&cfg.loss.reg, reg)) {
        cli_error("--reg: unknown regularization '%s' (l2, kl, entropy)", reg);
        return 2;
    }
    if (!(cfg.lr > 0) || !isfinite(cfg.lr)) {
        cli_error("--lr: %g must be finite and > 0", cfg.lr);
        return 2;
    }
    if (!(cfg.val_fraction >= 0 && cfg.val_fraction < 1)) {
        cli_error("--val-fraction: %g is outside [0, 1)", cfg.val_fraction);
        return 2;
    }

    hs_comm *comm = NULL;
    int drc = cli_dist_begin(&comm, &cfg.threads);
    if (drc)
        return drc;
    cfg.comm = comm;
    int rank = hs_comm_rank(comm), nranks = hs_comm_size(comm);
    progress_ctx p;
    memset(&p, 0, sizeof p);
    p.quiet = quiet || rank != 0;
    hs_train_result r;
    hs_status s = hs_train_run(&r, &cfg, rank == 0 ? on_event : on_event_silent, &p);
    if (p.started && !p.quiet)
        cli_progress_end(&p.bar);
    if (s)
        return cli_dist_fail(comm, "train", s, cli_exit_status(s, p.started));
    hs_comm_finalize(comm);
    if (rank != 0)
        return 0;
    const char *loss_label = hs_loss_kind_name(cfg.loss.kind);
    if (r.already_complete)
        printf("run in %s was already complete\n", cfg.out_dir);
    printf("%s, loss %s, batch %zu, width %zu, seed %llu: %zu epochs\n", hs_data_kind_name(cfg.dataset),
           loss_label, cfg.batch_size, cfg.width, (unsigned long long)cfg.seed, r.epochs_done);
    if (isfinite(r.best_val_accuracy))
        printf("test accuracy at the best-validation epoch %zu: %.4f (validation %.4f)\n", r.best_val_epoch,
               r.test_at_best_val, r.best_val_accuracy);
    else
        printf("test accuracy after the last epoch (no validation set): %.4f\n", r.test_at_best_val);
    printf("maximum test accuracy over epochs (the paper's measure), epoch %zu: %.4f\n", r.max_test_epoch,
           r.max_test_accuracy);
    if (isfinite(r.max_test_accuracy_threshold)) {
        printf("threshold rule: test accuracy at its best-validation epoch %zu: %.4f; maximum over epochs, "
               "epoch %zu: %.4f\n", r.best_val_epoch_threshold, r.test_at_best_val_threshold,
               r.max_test_epoch_threshold, r.max_test_accuracy_threshold);
    }
    if (r.train_seconds > 0)
        printf("training throughput: %.1f images/s (%.1f s of training steps)\n", r.train_images_per_second,
               r.train_seconds);
    if (nranks > 1 && r.train_seconds > 0)
        printf("%d ranks: %.1f s (%.1f%%) of rank 0's training steps in communication\n", nranks,
               r.train_comm_seconds, 100 * r.train_comm_seconds / r.train_seconds);
    return 0;
}
