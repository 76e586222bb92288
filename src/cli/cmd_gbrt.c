/* hypersimplex gbrt: gradient-boosted trees with the HyperSimplex loss (or XGBoost's
 * logistic loss) on a libsvm or CSV table, through XGBoost's C API. Several losses can be
 * run on the same splits over several seeds and compared (mean +- sd, paired t-test). */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "hypersimplex.h"
#include "hypersimplex/gbrt.h"
#include "hypersimplex/study.h"
#include "util/atomic_file.h"
#include "util/error.h"

enum { MAX_CONFIGS = 8 };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hypersimplex gbrt --train FILE [--valid FILE | --valid-fraction F] [OPTIONS]\n"
            "\n"
            "Gradient-boosted trees (XGBoost, hist) with the HyperSimplex loss: each round the\n"
            "margins of the n training rows are projected onto the (n, k)-hypersimplex, k = number\n"
            "of positives, and the gradient of mean (p - y)^2 goes to XGBoost. Reports the exact\n"
            "AUC and the accuracy; early stopping on the validation AUC.\n"
            "\n"
            "data:\n"
            "  --train FILE           training table: libsvm, or CSV with a header and the label\n"
            "                         first (*.csv; empty or NA feature fields are missing);\n"
            "                         gzip-compressed files are read too\n"
            "  --valid FILE           validation table (same format rules)\n"
            "  --valid-fraction F     without --valid: hold out this random fraction of the\n"
            "                         training rows for validation (default 0.2), drawn with --seed\n"
            "  --test-fraction F      first hold out this random fraction of --train as a test\n"
            "                         set, reported at the best validation round (default 0 = none)\n"
            "  --format F             auto|csv|libsvm (default auto: *.csv[.gz] is CSV)\n"
            "  --max-features N       refuse tables with more than N features (libsvm: an index\n"
            "                         >= N) while reading; XGBoost allocates memory for every\n"
            "                         feature up to the largest index (default 65536)\n"
            "model:\n"
            "  --loss LIST            comma-separated runs, each logistic, hypersimplex (or hs), or\n"
            "                         hypersimplex:ones|gn|const (a hessian rule); both =\n"
            "                         logistic,hypersimplex (default hypersimplex). The first is the\n"
            "                         baseline of the comparison\n"
            "  --rounds N             boosting rounds (default 100)\n"
            "  --tau T                HyperSimplex temperature (default 1)\n"
            "  --hessian H            ones|gn|const: hessian passed with the HyperSimplex gradient\n"
            "                         when LIST does not name one (default ones, the authors';\n"
            "                         gn = Gauss-Newton diagonal, const = its scale 2/tau^2)\n"
            "  --max-depth D          tree depth (default 6)\n"
            "  --eta E                learning rate (default 0.3)\n"
            "  --lambda L             L2 on leaf weights (default 1)\n"
            "  --min-child-weight W   (default 1)\n"
            "  --max-bin B            histogram bins (default 256)\n"
            "  --threads T            XGBoost threads, 0 = all cores (default 0)\n"
            "  --seed S               seed of the splits and of XGBoost (default 0)\n"
            "  --early-stopping R     stop after R rounds without a better validation AUC\n"
            "                         (default 0 = off; the best round is kept either way)\n"
            "  --repeats R            run seeds S, S+1, ..., S+R-1 (new splits each with the\n"
            "                         fractions); with two or more losses and R >= 2, prints mean\n"
            "                         +- sd of the AUCs and paired t-tests against the first loss\n"
            "                         (default 1)\n"
            "output:\n"
            "  --model-out FILE       save the model in XGBoost's format (.json, .ubj, or legacy\n"
            "                         binary for .bin/.model); single runs only\n"
            "  --runs-out FILE        write one CSV line per run (AUCs, rounds, timings)\n"
            "                         (both are checked before training and written together\n"
            "                         at the end: on any failure neither old file is replaced)\n"
            "  --log-every N          print a line every N rounds (default 10, 0 = none)\n"
            "  --help                 this text\n");
}

typedef struct run_log {
    int every;
    cli_progress bar;
} run_log;

static int on_round(const hs_gbrt_round *r, void *user)
{
    run_log *lg = user;
    cli_progress_update(&lg->bar, r->round);
    if (lg->every > 0 && r->round % lg->every == 0) {
        cli_progress_end(&lg->bar);
        printf("round %4d  train_loss %.6f  valid_auc %.6f  valid_acc %.6f  objective %.4fs  "
               "boost %.4fs\n",
               r->round, r->train_loss, r->valid_auc, r->valid_acc, r->t_objective, r->t_boost);
        fflush(stdout);
    }
    return 0;
}

static const char *hessian_name(hs_gbrt_hessian h)
{
    switch (h) {
    case HS_GBRT_HESS_ONES: return "ones";
    case HS_GBRT_HESS_GN: return "gn";
    case HS_GBRT_HESS_CONST: return "const";
    }
    return "?";
}

static int parse_hessian(const char *s, hs_gbrt_hessian *h)
{
    if (!strcmp(s, "ones"))
        *h = HS_GBRT_HESS_ONES;
    else if (!strcmp(s, "gn"))
        *h = HS_GBRT_HESS_GN;
    else if (!strcmp(s, "const"))
        *h = HS_GBRT_HESS_CONST;
    else
        return -1;
    return 0;
}

/* One entry of --loss. */
typedef struct loss_config {
    hs_gbrt_loss loss;
    int hessian_given;
    hs_gbrt_hessian hessian;
    char name[32];
} loss_config;

/* Parses --loss LIST into cfg; returns the count, or -1 after printing an error. */
static int parse_losses(const char *list, loss_config *cfg)
{
    if (!strcmp(list, "both"))
        list = "logistic,hypersimplex";
    int n = 0;
    const char *s = list;
    for (;;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        char item[64];
        if (len == 0 || len >= sizeof item) {
            cli_error("--loss: empty or too long entry in '%s'", list);
            return -1;
        }
        if (n == MAX_CONFIGS) {
            cli_error("--loss: at most %d entries", MAX_CONFIGS);
            return -1;
        }
        memcpy(item, s, len);
        item[len] = '\0';
        loss_config *c = &cfg[n];
        memset(c, 0, sizeof *c);
        char *colon = strchr(item, ':');
        if (colon)
            *colon = '\0';
        if (!strcmp(item, "logistic") && !colon) {
            c->loss = HS_GBRT_LOGISTIC;
        } else if (!strcmp(item, "hypersimplex") || !strcmp(item, "hs")) {
            c->loss = HS_GBRT_HYPERSIMPLEX;
            if (colon) {
                if (parse_hessian(colon + 1, &c->hessian)) {
                    cli_error("--loss: hessian '%s' is not ones, gn or const", colon + 1);
                    return -1;
                }
                c->hessian_given = 1;
            }
        } else {
            cli_error("--loss: '%.*s' is not logistic, hypersimplex[:ones|gn|const] or both",
                      (int)len, s);
            return -1;
        }
        n++;
        if (!e)
            break;
        s = e + 1;
    }
    return n;
}

static void mean_sd(const double *x, size_t n, double *mean, double *sd)
{
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++)
        m += x[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++)
        s += (x[i] - m) * (x[i] - m);
    *mean = m;
    *sd = n > 1 ? sqrt(s / (double)(n - 1)) : NAN;
}

/* Test-set AUC and accuracy of a trained model. */
static hs_status evaluate(double *auc, double *acc, const hs_gbrt_model *m, const hs_table *t)
{
    float *buf = malloc(t->rows * sizeof *buf);
    if (!buf)
        return hs_fail(HS_ERR_NOMEM, "out of memory for %zu predictions", t->rows);
    hs_status st = hs_gbrt_predict_margin(buf, m, t);
    if (!st)
        st = hs_auc(auc, buf, t->labels, t->rows);
    if (!st)
        st = hs_gbrt_predict_label(buf, m, t);
    if (!st) {
        size_t ok = 0;
        for (size_t i = 0; i < t->rows; i++)
            ok += buf[i] == t->labels[i];
        *acc = (double)ok / (double)t->rows;
    }
    free(buf);
    return st;
}

enum {
    OPT_TRAIN = 1000, OPT_VALID, OPT_VALID_FRACTION, OPT_TEST_FRACTION, OPT_FORMAT, OPT_LOSS,
    OPT_ROUNDS, OPT_TAU, OPT_HESSIAN, OPT_MAX_DEPTH, OPT_ETA, OPT_LAMBDA, OPT_MIN_CHILD,
    OPT_MAX_BIN, OPT_THREADS, OPT_SEED, OPT_EARLY, OPT_REPEATS, OPT_MODEL_OUT, OPT_RUNS_OUT,
    OPT_LOG_EVERY, OPT_MAX_FEATURES, OPT_HELP
};

int cmd_gbrt(int argc, char **argv)
{
    static const struct option opts[] = {
        {"train", required_argument, 0, OPT_TRAIN},
        {"valid", required_argument, 0, OPT_VALID},
        {"valid-fraction", required_argument, 0, OPT_VALID_FRACTION},
        {"test-fraction", required_argument, 0, OPT_TEST_FRACTION},
        {"format", required_argument, 0, OPT_FORMAT},
        {"loss", required_argument, 0, OPT_LOSS},
        {"rounds", required_argument, 0, OPT_ROUNDS},
        {"tau", required_argument, 0, OPT_TAU},
        {"hessian", required_argument, 0, OPT_HESSIAN},
        {"max-depth", required_argument, 0, OPT_MAX_DEPTH},
        {"eta", required_argument, 0, OPT_ETA},
        {"lambda", required_argument, 0, OPT_LAMBDA},
        {"min-child-weight", required_argument, 0, OPT_MIN_CHILD},
        {"max-bin", required_argument, 0, OPT_MAX_BIN},
        {"threads", required_argument, 0, OPT_THREADS},
        {"seed", required_argument, 0, OPT_SEED},
        {"early-stopping", required_argument, 0, OPT_EARLY},
        {"repeats", required_argument, 0, OPT_REPEATS},
        {"model-out", required_argument, 0, OPT_MODEL_OUT},
        {"runs-out", required_argument, 0, OPT_RUNS_OUT},
        {"log-every", required_argument, 0, OPT_LOG_EVERY},
        {"max-features", required_argument, 0, OPT_MAX_FEATURES},
        {"help", no_argument, 0, OPT_HELP},
        {0, 0, 0, 0}};
    hs_gbrt_params prm = hs_gbrt_params_default();
    const char *train_path = NULL, *valid_path = NULL, *model_out = NULL, *runs_out = NULL;
    const char *loss_list = "hypersimplex";
    double valid_fraction = 0.2, test_fraction = 0;
    int have_fraction = 0;
    hs_table_format fmt = HS_TABLE_AUTO;
    long lv = 0, repeats = 1, log_every = 10;
    size_t seed = 0, max_features = HS_TABLE_MAX_FEATURES;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_TRAIN: train_path = optarg; break;
        case OPT_VALID: valid_path = optarg; break;
        case OPT_VALID_FRACTION:
        case OPT_TEST_FRACTION: {
            double *dst = c == OPT_TEST_FRACTION ? &test_fraction : &valid_fraction;
            const char *name = c == OPT_TEST_FRACTION ? "--test-fraction" : "--valid-fraction";
            if (cli_parse_double(name, optarg, dst))
                return 2;
            if (!(*dst > 0 && *dst < 1)) {
                cli_error("%s: %s is not in (0, 1)", name, optarg);
                return 2;
            }
            have_fraction |= c == OPT_VALID_FRACTION;
            break;
        }
        case OPT_FORMAT:
            if (!strcmp(optarg, "auto"))
                fmt = HS_TABLE_AUTO;
            else if (!strcmp(optarg, "csv"))
                fmt = HS_TABLE_CSV;
            else if (!strcmp(optarg, "libsvm"))
                fmt = HS_TABLE_LIBSVM;
            else {
                cli_error("--format: '%s' is not auto, csv or libsvm", optarg);
                return 2;
            }
            break;
        case OPT_LOSS: loss_list = optarg; break;
        case OPT_ROUNDS:
            if (cli_parse_long("--rounds", optarg, 1, 1000000, &lv))
                return 2;
            prm.rounds = (int)lv;
            break;
        case OPT_TAU:
            if (cli_parse_double("--tau", optarg, &prm.tau))
                return 2;
            if (!(prm.tau > 0)) {
                cli_error("--tau: %s must be > 0", optarg);
                return 2;
            }
            break;
        case OPT_HESSIAN:
            if (parse_hessian(optarg, &prm.hessian)) {
                cli_error("--hessian: '%s' is not ones, gn or const", optarg);
                return 2;
            }
            break;
        case OPT_MAX_DEPTH:
            if (cli_parse_long("--max-depth", optarg, 1, 64, &lv))
                return 2;
            prm.max_depth = (int)lv;
            break;
        case OPT_ETA:
            if (cli_parse_double("--eta", optarg, &prm.eta))
                return 2;
            break;
        case OPT_LAMBDA:
            if (cli_parse_double("--lambda", optarg, &prm.lambda))
                return 2;
            break;
        case OPT_MIN_CHILD:
            if (cli_parse_double("--min-child-weight", optarg, &prm.min_child_weight))
                return 2;
            break;
        case OPT_MAX_BIN:
            if (cli_parse_long("--max-bin", optarg, 2, 65536, &lv))
                return 2;
            prm.max_bin = (int)lv;
            break;
        case OPT_THREADS:
            if (cli_parse_long("--threads", optarg, 0, 4096, &lv))
                return 2;
            prm.threads = (int)lv;
            break;
        case OPT_SEED:
            if (cli_parse_size("--seed", optarg, 0, 2147483647, &seed))
                return 2;
            break;
        case OPT_EARLY:
            if (cli_parse_long("--early-stopping", optarg, 0, 1000000, &lv))
                return 2;
            prm.early_stopping = (int)lv;
            break;
        case OPT_REPEATS:
            if (cli_parse_long("--repeats", optarg, 1, 10000, &repeats))
                return 2;
            break;
        case OPT_MODEL_OUT: model_out = optarg; break;
        case OPT_RUNS_OUT: runs_out = optarg; break;
        case OPT_LOG_EVERY:
            if (cli_parse_long("--log-every", optarg, 0, 1000000, &log_every))
                return 2;
            break;
        case OPT_MAX_FEATURES:
            if (cli_parse_size("--max-features", optarg, 1, UINT32_MAX, &max_features))
                return 2;
            break;
        case OPT_HELP: usage(stdout); return 0;
        default:
            if (optopt)
                cli_error("option '%s' needs a value or is unknown (see --help)",
                          argv[optind - 1]);
            else
                cli_error("unknown option '%s' (see --help)", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s' (see --help)", argv[optind]);
        return 2;
    }
    if (!train_path) {
        cli_error("--train FILE is required (see --help)");
        return 2;
    }
    if (valid_path && have_fraction) {
        cli_error("give either --valid or --valid-fraction, not both");
        return 2;
    }
    loss_config cfg[MAX_CONFIGS];
    int ncfg = parse_losses(loss_list, cfg);
    if (ncfg < 0)
        return 2;
    for (int i = 0; i < ncfg; i++) {
        if (cfg[i].loss == HS_GBRT_HYPERSIMPLEX && !cfg[i].hessian_given)
            cfg[i].hessian = prm.hessian;
        snprintf(cfg[i].name, sizeof cfg[i].name, "%s%s%s",
                 cfg[i].loss == HS_GBRT_LOGISTIC ? "logistic" : "hypersimplex",
                 cfg[i].loss == HS_GBRT_LOGISTIC ? "" : ":",
                 cfg[i].loss == HS_GBRT_LOGISTIC ? "" : hessian_name(cfg[i].hessian));
    }
    const char *bad = hs_gbrt_params_check(&prm);
    if (bad) {
        cli_error("%s", bad);
        return 2;
    }
    if (model_out && (ncfg > 1 || repeats > 1)) {
        cli_error("--model-out needs a single run (one --loss, --repeats 1)");
        return 2;
    }

    /* The outputs first: an unwritable place is found before any training. */
    hs_atomic_file run_af = {0}, model_af = {0};
    hs_atomic_file *outs[2] = {NULL, NULL};
    hs_status st = HS_OK;
    const char *opt = "--runs-out";
    if (runs_out && !(st = hs_atomic_open(&run_af, runs_out)))
        outs[0] = &run_af;
    if (!st && model_out && !(st = hs_atomic_open(&model_af, (opt = "--model-out", model_out))))
        outs[1] = &model_af;
    if (!st && (st = hs_atomic_check_distinct(outs, 2)))
        opt = "--runs-out and --model-out";
    if (st) {
        cli_status_error(opt, st);
        hs_atomic_abort_all(outs, 2);
        return cli_exit_status(st, 1);
    }
    hs_table all = {0}, fixed_valid = {0};
    st = hs_table_read_max(&all, train_path, fmt, max_features);
    if (st) {
        cli_status_error("reading the training table", st);
        hs_atomic_abort_all(outs, 2);
        return cli_exit_status(st, 0);
    }
    if (valid_path && (st = hs_table_read_max(&fixed_valid, valid_path, fmt, max_features))) {
        cli_status_error("reading the validation table", st);
        hs_table_free(&all);
        hs_atomic_abort_all(outs, 2);
        return cli_exit_status(st, 0);
    }
    size_t pos = hs_table_positives(&all);
    printf("train %s: %zu rows, %zu features, %zu positives (%.2f%%)\n", train_path, all.rows,
           all.cols, pos, 100.0 * (double)pos / (double)all.rows);
    if (test_fraction > 0)
        printf("test: random %.3g of the rows (seed %zu%s)\n", test_fraction, seed,
               repeats > 1 ? " + repeat" : "");
    if (valid_path)
        printf("valid %s: %zu rows, %zu features, %zu positives\n", valid_path, fixed_valid.rows,
               fixed_valid.cols, hs_table_positives(&fixed_valid));
    else
        printf("validation: random %.3g of the %srows (seed %zu%s)\n", valid_fraction,
               test_fraction > 0 ? "remaining " : "", seed, repeats > 1 ? " + repeat" : "");

    FILE *runs = outs[0] ? run_af.f : NULL;
    int rc = 0;
    /* auc[config][repeat]: the reported AUC (test if there is a test set, else validation) */
    double *auc = calloc((size_t)ncfg * (size_t)repeats, sizeof *auc);
    if (!auc) {
        cli_error("out of memory");
        rc = 1;
        goto done;
    }
    if (runs) {
        fprintf(runs, "loss,tau,seed,rounds,best_round,valid_auc,valid_acc,valid_auc_xgb,"
                      "test_auc,test_acc,train_auc,theta,t_objective,t_boost,t_total\n");
    }
    for (long r = 0; r < repeats && !rc; r++) {
        hs_table rest = {0}, test = {0}, tr = {0}, va = {0};
        const hs_table *pool = &all, *train = &all, *valid = &fixed_valid;
        uint64_t s = (uint64_t)seed + (uint64_t)r;
        if (test_fraction > 0) {
            /* the test split uses its own stream so that it does not mirror the valid split */
            if ((st = hs_table_split(&rest, &test, &all, test_fraction,
                                     s ^ 0x7e57c0de5eedull))) {
                cli_status_error("splitting off the test set", st);
                rc = cli_exit_status(st, 1);
                break;
            }
            pool = train = &rest;
        }
        if (!valid_path) {
            if ((st = hs_table_split(&tr, &va, pool, valid_fraction, s))) {
                cli_status_error("splitting the table", st);
                rc = cli_exit_status(st, 1);
                hs_table_free(&rest);
                hs_table_free(&test);
                break;
            }
            train = &tr;
            valid = &va;
        }
        for (int li = 0; li < ncfg && !rc; li++) {
            hs_gbrt_params p = prm;
            p.loss = cfg[li].loss;
            p.hessian = cfg[li].hessian;
            p.seed = s;
            run_log lg;
            lg.every = (int)log_every;
            cli_progress_start(&lg.bar, cfg[li].name, "round", p.rounds);
            printf("run seed %llu loss %s\n", (unsigned long long)s, cfg[li].name);
            hs_gbrt_model *model = NULL;
            hs_gbrt_result res;
            st = hs_gbrt_train(&model, &res, train, valid, &p, on_round, &lg);
            cli_progress_end(&lg.bar);
            if (st) {
                cli_status_error("training", st);
                rc = cli_exit_status(st, 1);
                break;
            }
            double test_auc = NAN, test_acc = NAN;
            if (test.rows && (st = evaluate(&test_auc, &test_acc, model, &test))) {
                cli_status_error("evaluating the test set", st);
                rc = 1;
            }
            printf("result loss=%s tau=%g seed=%llu rounds=%d best_round=%d valid_auc=%.6f "
                   "valid_acc=%.6f valid_auc_xgb=%.6f test_auc=%.6f test_acc=%.6f "
                   "train_auc=%.6f t_objective=%.3fs t_boost=%.3fs t_total=%.3fs\n",
                   cfg[li].name, p.tau, (unsigned long long)s, res.rounds_done, res.best_round,
                   res.valid_auc, res.valid_acc, res.valid_auc_xgb, test_auc, test_acc,
                   res.train_auc, res.t_objective, res.t_boost, res.t_total);
            fflush(stdout);
            auc[(size_t)li * (size_t)repeats + (size_t)r] = test.rows ? test_auc : res.valid_auc;
            if (runs)
                fprintf(runs, "%s,%.17g,%llu,%d,%d,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,"
                              "%.17g,%.17g,%.17g\n",
                        cfg[li].name, p.tau, (unsigned long long)s, res.rounds_done,
                        res.best_round, res.valid_auc, res.valid_acc, res.valid_auc_xgb,
                        test_auc, test_acc, res.train_auc, res.theta, res.t_objective,
                        res.t_boost, res.t_total);
            if (!rc && model_out && (st = hs_gbrt_write(model, model_af.f, model_out))) {
                cli_status_error("--model-out", st);
                rc = 1;
            }
            hs_gbrt_free(model);
        }
        hs_table_free(&tr);
        hs_table_free(&va);
        hs_table_free(&rest);
        hs_table_free(&test);
    }
    if (!rc && (ncfg > 1 || repeats > 1)) {
        const char *what = test_fraction > 0 ? "test_auc" : "valid_auc";
        const double *base = auc;
        for (int li = 0; li < ncfg; li++) {
            const double *x = auc + (size_t)li * (size_t)repeats;
            double m, sd;
            mean_sd(x, (size_t)repeats, &m, &sd);
            printf("summary %-20s %s %.4f +- %.4f (%ld runs)\n", cfg[li].name, what, m, sd,
                   repeats);
            if (li == 0 || repeats < 2)
                continue;
            hs_ttest tt;
            if ((st = hs_paired_ttest(&tt, x, base, (size_t)repeats)))
                printf("paired_t %s - %s: undefined (%s)\n", cfg[li].name, cfg[0].name,
                       hs_last_error());
            else
                printf("paired_t %s - %s: mean %+.4f sd %.4f t %.3f df %.0f p %.4g\n",
                       cfg[li].name, cfg[0].name, tt.mean_diff, tt.sd_diff, tt.t, tt.df, tt.p);
        }
    }
done:
    if (rc) {
        hs_atomic_abort_all(outs, 2);
    } else if ((st = hs_atomic_commit_all(outs, 2))) {
        cli_status_error("output", st);
        rc = 1;
    } else if (model_out) {
        printf("model saved to %s\n", model_out);
    }
    free(auc);
    hs_table_free(&all);
    hs_table_free(&fixed_valid);
    return rc;
}
