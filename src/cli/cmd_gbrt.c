/* hypersimplex gbrt: gradient-boosted trees with the HyperSimplex loss (or XGBoost's
 * logistic loss) on a libsvm or CSV table, through XGBoost's C API. Several losses can be
 * run on the same splits over several seeds and compared (hs_gbrt_compare: mean +- sd, paired
 * t-test); --report turns runs CSVs into the Markdown tables (hs_gbrt_markdown). This file
 * only parses options, calls the library, prints and maps statuses to exit codes. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "hypersimplex.h"
#include "hypersimplex/gbrt.h"
#include "util/atomic_file.h"
#include "util/error.h"

enum { MAX_CONFIGS = 8, MAX_REPORTS = 64 };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hypersimplex gbrt --train FILE [--valid FILE | --valid-fraction F] [OPTIONS]\n"
            "       hypersimplex gbrt --report RUNS.csv [--report RUNS.csv ...] [--runs-out FILE]\n"
            "                         [--markdown-out FILE] [--train-auc]\n"
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
            "  --table-name NAME      the table's name in the runs CSV (default: the --train\n"
            "                         file's name without directory and .gz/.csv/.svm/.libsvm)\n"
            "  --runs-out FILE        the tidy runs CSV: one line per table x seed x loss with\n"
            "                         every figure (columns: see hypersimplex/gbrt.h)\n"
            "                         (both are checked before training and written together\n"
            "                         at the end: on any failure neither old file is replaced)\n"
            "  --log-every N          print a line every N rounds (default 10, 0 = none)\n"
            "report (no training):\n"
            "  --report FILE          read a runs CSV (repeatable: the tables are merged); writes\n"
            "                         the Markdown tables (mean +- sd AUC, paired t-tests against\n"
            "                         the first loss, accuracy, rounds; one line per table, per\n"
            "                         table and tau when the runs differ in tau) and, with\n"
            "                         --runs-out, the merged runs CSV\n"
            "  --markdown-out FILE    write the Markdown there instead of the standard output\n"
            "  --train-auc            add the mean training AUC of the kept models per loss\n"
            "  --help                 this text\n");
}

/* What the command line asks for. */
typedef struct gbrt_opts {
    hs_gbrt_params prm;
    const char *train_path, *valid_path, *model_out, *runs_out, *markdown_out, *table_name;
    const char *loss_list;
    double valid_fraction, test_fraction;
    int have_fraction, train_auc;
    hs_table_format fmt;
    long repeats, log_every;
    size_t seed, max_features;
    const char *reports[MAX_REPORTS];
    size_t n_reports;
    hs_gbrt_config cfg[MAX_CONFIGS];
    size_t n_cfg;
} gbrt_opts;

/* Parses --loss LIST into o->cfg (hessian --hessian where an entry names none); 0, or -1
 * after printing an error. */
static int parse_losses(gbrt_opts *o)
{
    const char *list = strcmp(o->loss_list, "both") ? o->loss_list : "logistic,hypersimplex";
    o->n_cfg = 0;
    for (const char *s = list;;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        char item[64];
        if (len == 0 || len >= sizeof item) {
            cli_error("--loss: empty or too long entry in '%s'", list);
            return -1;
        }
        if (o->n_cfg == MAX_CONFIGS) {
            cli_error("--loss: at most %d entries", MAX_CONFIGS);
            return -1;
        }
        memcpy(item, s, len);
        item[len] = '\0';
        if (hs_gbrt_config_parse(&o->cfg[o->n_cfg++], NULL, item, o->prm.hessian)) {
            cli_error("--loss: %s", hs_last_error());
            return -1;
        }
        if (!e)
            return 0;
        s = e + 1;
    }
}

/* The table's name in the runs CSV: the file name without directory and known suffixes. */
static void table_stem(char *buf, size_t n, const char *path)
{
    const char *base = strrchr(path, '/');
    snprintf(buf, n, "%s", base ? base + 1 : path);
    static const char *const suffixes[] = {".gz", ".csv", ".svm", ".libsvm"};
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        size_t len = strlen(buf), sl = strlen(suffixes[i]);
        if (len > sl && !strcmp(buf + len - sl, suffixes[i]))
            buf[len - sl] = '\0';
    }
}

enum {
    OPT_TRAIN = 1000, OPT_VALID, OPT_VALID_FRACTION, OPT_TEST_FRACTION, OPT_FORMAT, OPT_LOSS,
    OPT_ROUNDS, OPT_TAU, OPT_HESSIAN, OPT_MAX_DEPTH, OPT_ETA, OPT_LAMBDA, OPT_MIN_CHILD,
    OPT_MAX_BIN, OPT_THREADS, OPT_SEED, OPT_EARLY, OPT_REPEATS, OPT_MODEL_OUT, OPT_RUNS_OUT,
    OPT_LOG_EVERY, OPT_MAX_FEATURES, OPT_TABLE_NAME, OPT_REPORT, OPT_MARKDOWN_OUT, OPT_TRAIN_AUC,
    OPT_HELP
};

/* One option into o: 0, or the exit status (2 after an error, 0 after --help). */
static int parse_option(gbrt_opts *o, int c, char **argv)
{
    hs_gbrt_params *prm = &o->prm;
    long lv = 0;
    switch (c) {
    case OPT_TRAIN: o->train_path = optarg; break;
    case OPT_VALID: o->valid_path = optarg; break;
    case OPT_VALID_FRACTION:
    case OPT_TEST_FRACTION: {
        double *dst = c == OPT_TEST_FRACTION ? &o->test_fraction : &o->valid_fraction;
        const char *name = c == OPT_TEST_FRACTION ? "--test-fraction" : "--valid-fraction";
        if (cli_parse_double(name, optarg, dst))
            return 2;
        if (!(*dst > 0 && *dst < 1)) {
            cli_error("%s: %s is not in (0, 1)", name, optarg);
            return 2;
        }
        o->have_fraction |= c == OPT_VALID_FRACTION;
        break;
    }
    case OPT_FORMAT:
        if (!strcmp(optarg, "auto"))
            o->fmt = HS_TABLE_AUTO;
        else if (!strcmp(optarg, "csv"))
            o->fmt = HS_TABLE_CSV;
        else if (!strcmp(optarg, "libsvm"))
            o->fmt = HS_TABLE_LIBSVM;
        else {
            cli_error("--format: '%s' is not auto, csv or libsvm", optarg);
            return 2;
        }
        break;
    case OPT_LOSS: o->loss_list = optarg; break;
    case OPT_ROUNDS:
        if (cli_parse_long("--rounds", optarg, 1, 1000000, &lv))
            return 2;
        prm->rounds = (int)lv;
        break;
    case OPT_TAU:
        if (cli_parse_double("--tau", optarg, &prm->tau))
            return 2;
        if (!(prm->tau > 0)) {
            cli_error("--tau: %s must be > 0", optarg);
            return 2;
        }
        break;
    case OPT_HESSIAN:
        if (hs_gbrt_hessian_parse(&prm->hessian, optarg)) {
            cli_error("--hessian: '%s' is not ones, gn or const", optarg);
            return 2;
        }
        break;
    case OPT_MAX_DEPTH:
        if (cli_parse_long("--max-depth", optarg, 1, 64, &lv))
            return 2;
        prm->max_depth = (int)lv;
        break;
    case OPT_ETA: return cli_parse_double("--eta", optarg, &prm->eta) ? 2 : 0;
    case OPT_LAMBDA: return cli_parse_double("--lambda", optarg, &prm->lambda) ? 2 : 0;
    case OPT_MIN_CHILD:
        return cli_parse_double("--min-child-weight", optarg, &prm->min_child_weight) ? 2 : 0;
    case OPT_MAX_BIN:
        if (cli_parse_long("--max-bin", optarg, 2, 65536, &lv))
            return 2;
        prm->max_bin = (int)lv;
        break;
    case OPT_THREADS:
        if (cli_parse_long("--threads", optarg, 0, 4096, &lv))
            return 2;
        prm->threads = (int)lv;
        break;
    case OPT_SEED: return cli_parse_size("--seed", optarg, 0, 2147483647, &o->seed) ? 2 : 0;
    case OPT_EARLY:
        if (cli_parse_long("--early-stopping", optarg, 0, 1000000, &lv))
            return 2;
        prm->early_stopping = (int)lv;
        break;
    case OPT_REPEATS: return cli_parse_long("--repeats", optarg, 1, 10000, &o->repeats) ? 2 : 0;
    case OPT_MODEL_OUT: o->model_out = optarg; break;
    case OPT_RUNS_OUT: o->runs_out = optarg; break;
    case OPT_MARKDOWN_OUT: o->markdown_out = optarg; break;
    case OPT_TRAIN_AUC: o->train_auc = 1; break;
    case OPT_TABLE_NAME: o->table_name = optarg; break;
    case OPT_REPORT:
        if (o->n_reports == MAX_REPORTS) {
            cli_error("--report: at most %d files", MAX_REPORTS);
            return 2;
        }
        o->reports[o->n_reports++] = optarg;
        break;
    case OPT_LOG_EVERY:
        return cli_parse_long("--log-every", optarg, 0, 1000000, &o->log_every) ? 2 : 0;
    case OPT_MAX_FEATURES:
        return cli_parse_size("--max-features", optarg, 1, UINT32_MAX, &o->max_features) ? 2 : 0;
    case OPT_HELP: usage(stdout); return -1;
    default:
        if (optopt)
            cli_error("option '%s' needs a value or is unknown (see --help)", argv[optind - 1]);
        else
            cli_error("unknown option '%s' (see --help)", argv[optind - 1]);
        return 2;
    }
    return 0;
}

/* The whole command line into o: 0, or the exit status (-1: --help was printed). */
static int parse_options(gbrt_opts *o, int argc, char **argv)
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
        {"markdown-out", required_argument, 0, OPT_MARKDOWN_OUT},
        {"train-auc", no_argument, 0, OPT_TRAIN_AUC},
        {"table-name", required_argument, 0, OPT_TABLE_NAME},
        {"report", required_argument, 0, OPT_REPORT},
        {"log-every", required_argument, 0, OPT_LOG_EVERY},
        {"max-features", required_argument, 0, OPT_MAX_FEATURES},
        {"help", no_argument, 0, OPT_HELP},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->prm = hs_gbrt_params_default();
    o->loss_list = "hypersimplex";
    o->valid_fraction = 0.2;
    o->fmt = HS_TABLE_AUTO;
    o->repeats = 1;
    o->log_every = 10;
    o->max_features = HS_TABLE_MAX_FEATURES;
    optind = 1;
    opterr = 0;
    int c, rc;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if ((rc = parse_option(o, c, argv)))
            return rc;
    if (optind < argc) {
        cli_error("unexpected argument '%s' (see --help)", argv[optind]);
        return 2;
    }
    if (o->n_reports) {
        if (o->train_path || o->model_out) {
            cli_error("--report reads runs: it takes no --train or --model-out");
            return 2;
        }
        return 0;
    }
    if (o->markdown_out || o->train_auc) {
        cli_error("%s goes with --report", o->markdown_out ? "--markdown-out" : "--train-auc");
        return 2;
    }
    if (!o->train_path) {
        cli_error("--train FILE is required (see --help)");
        return 2;
    }
    if (o->valid_path && o->have_fraction) {
        cli_error("give either --valid or --valid-fraction, not both");
        return 2;
    }
    if (parse_losses(o))
        return 2;
    const char *bad = hs_gbrt_params_check(&o->prm);
    if (bad) {
        cli_error("%s", bad);
        return 2;
    }
    if (o->model_out && (o->n_cfg > 1 || o->repeats > 1)) {
        cli_error("--model-out needs a single run (one --loss, --repeats 1)");
        return 2;
    }
    return 0;
}

/* The outputs, opened before any work so that an unwritable place is found at once. */
typedef struct gbrt_outputs {
    hs_atomic_file runs, model, md;
    hs_atomic_file *all[3];
} gbrt_outputs;

/* Opens the given paths (NULL: not asked for); 0 or the exit status after an error. */
static int open_outputs(gbrt_outputs *out, const char *runs, const char *model, const char *md)
{
    memset(out, 0, sizeof *out);
    const char *const paths[3] = {runs, model, md};
    static const char *const names[3] = {"--runs-out", "--model-out", "--markdown-out"};
    hs_atomic_file *const afs[3] = {&out->runs, &out->model, &out->md};
    hs_status st = HS_OK;
    const char *what = "output";
    for (size_t i = 0; i < 3 && !st; i++)
        if (paths[i] && !(st = hs_atomic_open(afs[i], paths[i])))
            out->all[i] = afs[i];
        else if (st)
            what = names[i];
    if (!st && (st = hs_atomic_check_distinct(out->all, 3)))
        what = "--runs-out, --model-out and --markdown-out";
    if (!st)
        return 0;
    cli_status_error(what, st);
    hs_atomic_abort_all(out->all, 3);
    return cli_exit_status(st, 1);
}

/* Writes the runs (and the Markdown) into the open outputs and commits them all. */
static int commit_outputs(gbrt_outputs *out, const hs_gbrt_runs *runs, const char *runs_path,
                          const char *md)
{
    hs_status st = HS_OK;
    if (out->all[0] && (st = hs_gbrt_runs_write(runs, out->runs.f, runs_path)))
        cli_status_error("--runs-out", st);
    if (!st && md && out->all[2] && fputs(md, out->md.f) == EOF)
        cli_status_error("--markdown-out", st = hs_fail(HS_ERR_IO, "cannot write"));
    if (!st && (st = hs_atomic_commit_all(out->all, 3)))
        cli_status_error("output", st);
    if (st) {
        hs_atomic_abort_all(out->all, 3);
        return 1;
    }
    return 0;
}

/* --report: reads runs CSVs, prints or writes the Markdown, writes the merged runs. */
static int report(const gbrt_opts *o)
{
    gbrt_outputs out;
    int rc = open_outputs(&out, o->runs_out, NULL, o->markdown_out);
    if (rc)
        return rc;
    hs_gbrt_runs runs = {0};
    char *md = NULL;
    hs_status st = HS_OK;
    for (size_t i = 0; i < o->n_reports && !st; i++)
        if ((st = hs_gbrt_runs_read(&runs, o->reports[i])))
            cli_status_error("--report", st);
    hs_gbrt_report_options ro = {o->train_auc};
    if (!st && (st = hs_gbrt_markdown_opts(&md, &runs, &ro)))
        cli_status_error("the report", st);
    if (st) {
        hs_atomic_abort_all(out.all, 3);
        rc = cli_exit_status(st, 0);
    } else {
        rc = commit_outputs(&out, &runs, o->runs_out, md);
        if (!rc && !o->markdown_out)
            fputs(md, stdout);
    }
    free(md);
    hs_gbrt_runs_free(&runs);
    return rc;
}

/* What the hooks of a comparison need. */
typedef struct run_log {
    int every;
    cli_progress bar;
    hs_atomic_file *model; /* --model-out, or NULL */
    const char *model_out;
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

static void on_start(const hs_gbrt_run *run, int rounds, void *user)
{
    run_log *lg = user;
    cli_progress_start(&lg->bar, run->config, "round", rounds);
    printf("run seed %" PRIu64 " loss %s\n", run->seed, run->config);
}

static hs_status on_done(const hs_gbrt_run *run, const hs_gbrt_model *model, void *user)
{
    run_log *lg = user;
    const hs_gbrt_result *r = &run->result;
    cli_progress_end(&lg->bar);
    printf("result loss=%s tau=%g seed=%" PRIu64 " rounds=%d best_round=%d valid_auc=%.6f "
           "valid_acc=%.6f valid_auc_xgb=%.6f test_auc=%.6f test_acc=%.6f "
           "train_auc=%.6f t_objective=%.3fs t_boost=%.3fs t_total=%.3fs\n",
           run->config, run->tau, run->seed, r->rounds_done, r->best_round, r->valid_auc,
           r->valid_acc, r->valid_auc_xgb, run->test_auc, run->test_acc, r->train_auc,
           r->t_objective, r->t_boost, r->t_total);
    fflush(stdout);
    return lg->model ? hs_gbrt_write(model, lg->model->f, lg->model_out) : HS_OK;
}

static void print_data(const gbrt_opts *o, const hs_table *all, const hs_table *valid)
{
    size_t pos = hs_table_positives(all);
    printf("train %s: %zu rows, %zu features, %zu positives (%.2f%%)\n", o->train_path, all->rows,
           all->cols, pos, 100.0 * (double)pos / (double)all->rows);
    if (o->test_fraction > 0)
        printf("test: random %.3g of the rows (seed %zu%s)\n", o->test_fraction, o->seed,
               o->repeats > 1 ? " + repeat" : "");
    if (o->valid_path)
        printf("valid %s: %zu rows, %zu features, %zu positives\n", o->valid_path, valid->rows,
               valid->cols, hs_table_positives(valid));
    else
        printf("validation: random %.3g of the %srows (seed %zu%s)\n", o->valid_fraction,
               o->test_fraction > 0 ? "remaining " : "", o->seed, o->repeats > 1 ? " + repeat" : "");
}

/* Mean +- sd per loss and the paired t-tests against the first. */
static int print_summary(const gbrt_opts *o, const hs_gbrt_runs *runs)
{
    hs_gbrt_summary *sum;
    size_t n;
    hs_status st = hs_gbrt_summarize(&sum, &n, runs);
    if (st) {
        cli_status_error("summary", st);
        return cli_exit_status(st, 1);
    }
    for (size_t i = 0; i < n; i++) {
        const hs_gbrt_summary *s = &sum[i];
        printf("summary %-20s %s %.4f +- %.4f (%zu runs)\n", s->config,
               o->test_fraction > 0 ? "test_auc" : "valid_auc", s->auc_mean, s->auc_sd, s->n);
        if (s->is_baseline || s->n < 2)
            continue;
        if (s->t_status)
            printf("paired_t %s - %s: undefined (%s)\n", s->config, sum[0].config, s->t_message);
        else
            printf("paired_t %s - %s: mean %+.4f sd %.4f t %.3f df %.0f p %.4g\n", s->config,
                   sum[0].config, s->mean_diff, s->sd_diff, s->t, s->df, s->p);
    }
    free(sum);
    return 0;
}

/* Training: reads the tables, runs the comparison, prints, writes the outputs. */
static int compare(const gbrt_opts *o)
{
    gbrt_outputs out;
    int rc = open_outputs(&out, o->runs_out, o->model_out, NULL);
    if (rc)
        return rc;
    hs_table all = {0}, valid = {0};
    hs_status st = hs_table_read_max(&all, o->train_path, o->fmt, o->max_features);
    if (st)
        cli_status_error("reading the training table", st);
    else if (o->valid_path &&
             (st = hs_table_read_max(&valid, o->valid_path, o->fmt, o->max_features)))
        cli_status_error("reading the validation table", st);
    if (st) {
        hs_table_free(&all);
        hs_atomic_abort_all(out.all, 3);
        return cli_exit_status(st, 0);
    }
    print_data(o, &all, &valid);
    char stem[256];
    table_stem(stem, sizeof stem, o->train_path);
    hs_gbrt_protocol p = {o->prm, o->cfg, o->n_cfg, o->seed, (size_t)o->repeats,
                          o->test_fraction, o->valid_fraction,
                          o->table_name ? o->table_name : stem};
    run_log lg = {(int)o->log_every, {0}, out.all[1], o->model_out};
    hs_gbrt_hooks hooks = {on_start, on_round, on_done, &lg};
    hs_gbrt_runs runs = {0};
    st = hs_gbrt_compare(&runs, &all, o->valid_path ? &valid : NULL, &p, &hooks);
    cli_progress_end(&lg.bar);
    if (st) {
        cli_status_error("gbrt", st);
        rc = cli_exit_status(st, 1);
    }
    if (!rc && (o->n_cfg > 1 || o->repeats > 1))
        rc = print_summary(o, &runs);
    if (rc)
        hs_atomic_abort_all(out.all, 3);
    else if (!(rc = commit_outputs(&out, &runs, o->runs_out, NULL)) && o->model_out)
        printf("model saved to %s\n", o->model_out);
    hs_gbrt_runs_free(&runs);
    hs_table_free(&all);
    hs_table_free(&valid);
    return rc;
}

int cmd_gbrt(int argc, char **argv)
{
    gbrt_opts o;
    int rc = parse_options(&o, argc, argv);
    if (rc)
        return rc < 0 ? 0 : rc;
    return o.n_reports ? report(&o) : compare(&o);
}
