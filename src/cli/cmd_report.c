/* hypersimplex report: Table 1 of the batch-size study (Markdown) and its plots. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "hypersimplex.h"
#include "hypersimplex/study.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/fs.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hypersimplex report RESULTS.csv[.gz] [OPTIONS]\n\n"
            "Reads a tidy results table (columns dataset, loss, batch_size, seed, epoch, test_accuracy;\n"
            "optional val_accuracy, train_loss, seconds, variant, val_accuracy_threshold,\n"
            "test_accuracy_threshold), selects one accuracy per run, and\n"
            "prints a Markdown table like the paper's Table 1: per dataset and batch size the mean\n"
            "accuracy of each loss, the paired difference to the baseline, the paired t statistic and\n"
            "the two-sided p-value over seeds.\n\n"
            "options:\n"
            "  --select RULE     max-test | best-val | last                  (default max-test)\n"
            "                    max-test: maximum test accuracy over epochs (the paper's rule)\n"
            "                    best-val: test accuracy at the best validation epoch\n"
            "                    last:     test accuracy after the last epoch\n"
            "  --rule RULE       argmax | threshold                          (default argmax)\n"
            "                    argmax:    accuracy of the argmax of the logits (the paper's)\n"
            "                    threshold: the HyperSimplex runs' threshold rule argmax_c\n"
            "                    z_c/tau - theta_c (the *_threshold columns); runs without it\n"
            "                    (the other losses) keep argmax. The title says which.\n"
            "  --baseline LOSS   loss the others are compared with          (default cross_entropy)\n"
            "  --compare L[,L]   losses that get difference/t/p columns\n"
            "                    (default hypersimplex and hypersimplex@POLICY if present, else\n"
            "                    all non-baseline losses)\n"
            "  --alpha A         significance level of the '*' mark        (default 0.10)\n"
            "  --sd              print mean ± standard deviation            (default off)\n"
            "  --first-epochs N  use only the first N epochs of every run (the study as it\n"
            "                    stood after N epochs)                      (default: all)\n"
            "  --title TEXT      first heading                              (default \"Batch-size study\")\n"
            "  --out FILE        write the Markdown to FILE                  (default stdout)\n"
            "  --plots DIR       write plot data and DIR/plots.gp, then run gnuplot in DIR to draw\n"
            "                    accuracy_vs_batch_*.png and curves_*_b*.png      (default: no plots)\n"
            "  --no-gnuplot      with --plots: write the script but do not run gnuplot\n"
            "                    (files are replaced atomically, and only when every output is\n"
            "                    complete; on a failure no old file is replaced)\n"
            "  --band REF.csv    instead of the table: each run against the band (per-epoch min..max)\n"
            "                    of the runs in REF.csv with its dataset, loss and batch size (e.g.\n"
            "                    the authors' curves): per-epoch table, inside/below/above; --plots\n"
            "                    draws band_*.png\n"
            "  -h, --help        this help\n\n"
            "exit status: 0 ok, 1 runtime failure (I/O, gnuplot), 2 bad usage or bad input.\n");
}

static int run_gnuplot(const char *dir)
{
    pid_t pid = fork();
    if (pid < 0) {
        cli_error("cannot start gnuplot: fork failed");
        return 1;
    }
    if (pid == 0) {
        if (chdir(dir) != 0)
            _exit(126);
        execlp("gnuplot", "gnuplot", "plots.gp", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) {
        cli_error("waiting for gnuplot failed");
        return 1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        cli_error("gnuplot not found on PATH (install gnuplot-nox); the script is %s/plots.gp", dir);
        return 1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        cli_error("gnuplot failed on %s/plots.gp (status %d)", dir,
                  WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return 1;
    }
    return 0;
}

/* Writes the Markdown (to out, or the standard output) and the plot files together: every
 * file is complete before any replaces an old one. Returns the exit status. */
static int write_outputs(const char *out, const char *md, const char *plots, const hs_text_file *pf, size_t npf)
{
    size_t n = 1 + npf;
    hs_atomic_file *afs = calloc(n, sizeof *afs);
    hs_atomic_file **list = calloc(n, sizeof *list);
    hs_status s = afs && list ? HS_OK : hs_fail(HS_ERR_NOMEM, "out of memory");
    if (!s) {
        list[0] = &afs[0];
        s = out ? hs_atomic_open(&afs[0], out) : hs_atomic_open_fd(&afs[0], STDOUT_FILENO, "the standard output");
    }
    if (!s)
        fputs(md, afs[0].f);
    char *data_dir = plots && !s ? hs_path_join(plots, "plot_data") : NULL;
    if (plots && !s)
        s = data_dir ? hs_mkdirs(data_dir) : HS_ERR_NOMEM; /* hs_path_join said why */
    for (size_t i = 0; !s && i < npf; i++) {
        list[1 + i] = &afs[1 + i];
        s = hs_atomic_open_text(&afs[1 + i], plots, pf[i].name, pf[i].text);
    }
    if (!s)
        s = hs_atomic_commit_all(list, n);
    else if (list)
        hs_atomic_abort_all(list, n);
    if (s)
        cli_status_error(out ? out : "report", s);
    free(data_dir);
    free(list);
    free(afs);
    return cli_exit_status(s, 1);
}

/* write_outputs, then, with plots, gnuplot run in that directory (listing the PNG files
 * pngs names) or, without gnuplot, where the script is. Returns the exit status. */
static int write_report(const char *out, const char *md, const char *plots, const hs_text_file *pf, size_t npf,
                        const char *pngs, int gnuplot)
{
    int rc = write_outputs(out, md, plots, pf, npf);
    if (!rc && plots) {
        if (gnuplot) {
            rc = run_gnuplot(plots);
            if (!rc)
                fprintf(stderr, "plots written to %s/:\n%s", plots, pngs ? pngs : "");
        } else {
            fprintf(stderr, "plot script written: run `gnuplot plots.gp` in %s\n", plots);
        }
    }
    return rc;
}

/* --band: the runs of `res` against the band of the runs in ref_path. */
static int report_band(const hs_results *res, const char *ref_path, const char *title, const char *out,
                       const char *plots, int gnuplot)
{
    hs_results ref;
    hs_band b;
    char *md = NULL, *pngs = NULL;
    hs_text_file *pf = NULL;
    size_t npf = 0;
    hs_status s = hs_results_read(&ref, ref_path);
    if (s) {
        cli_status_error("reading the reference", s);
        return cli_exit_status(s, 0);
    }
    int rc = 0;
    if ((s = hs_band_compute(&b, res, &ref))) {
        cli_status_error("band", s);
        hs_results_free(&ref);
        return cli_exit_status(s, 1);
    }
    if ((s = hs_band_markdown(&md, &b, title)) || (plots && (s = hs_band_plot_files(&pf, &npf, &pngs, &b)))) {
        cli_status_error("band report", s);
        rc = cli_exit_status(s, 1);
    } else {
        rc = write_report(out, md, plots, pf, npf, pngs, gnuplot);
    }
    hs_text_files_free(pf, npf);
    free(pngs);
    free(md);
    hs_band_free(&b);
    hs_results_free(&ref);
    return rc;
}

int cmd_report(int argc, char **argv)
{
    enum { OPT_SELECT = 256, OPT_BASELINE, OPT_COMPARE, OPT_ALPHA, OPT_SD, OPT_TITLE, OPT_OUT, OPT_PLOTS,
           OPT_NO_GNUPLOT, OPT_FIRST, OPT_RULE, OPT_BAND };
    static const struct option longopts[] = {
        {"select", required_argument, NULL, OPT_SELECT},   {"baseline", required_argument, NULL, OPT_BASELINE},
        {"compare", required_argument, NULL, OPT_COMPARE}, {"alpha", required_argument, NULL, OPT_ALPHA},
        {"sd", no_argument, NULL, OPT_SD},                 {"title", required_argument, NULL, OPT_TITLE},
        {"out", required_argument, NULL, OPT_OUT},         {"plots", required_argument, NULL, OPT_PLOTS},
        {"no-gnuplot", no_argument, NULL, OPT_NO_GNUPLOT}, {"first-epochs", required_argument, NULL, OPT_FIRST},
        {"rule", required_argument, NULL, OPT_RULE},         {"band", required_argument, NULL, OPT_BAND},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    hs_select_rule rule = HS_SELECT_MAX_TEST;
    hs_pred_rule pred_rule = HS_RULE_ARGMAX;
    const char *baseline = "cross_entropy", *out = NULL, *plots = NULL, *compare = NULL, *band = NULL;
    hs_markdown_opts mo = hs_markdown_opts_default();
    int gnuplot = 1;
    size_t first_epochs = 0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_SELECT: {
            hs_status s = hs_select_rule_parse(&rule, optarg);
            if (s) {
                cli_error("--select: '%s' is not one of max-test, best-val, last", optarg);
                return 2;
            }
            break;
        }
        case OPT_RULE:
            if (hs_pred_rule_parse(&pred_rule, optarg)) {
                cli_error("--rule: '%s' is not one of argmax, threshold", optarg);
                return 2;
            }
            break;
        case OPT_BASELINE: baseline = optarg; break;
        case OPT_COMPARE: compare = optarg; break;
        case OPT_ALPHA:
            if (cli_parse_double("--alpha", optarg, &mo.alpha))
                return 2;
            if (!(mo.alpha > 0.0 && mo.alpha < 1.0)) {
                cli_error("--alpha: %g is not in (0, 1)", mo.alpha);
                return 2;
            }
            break;
        case OPT_SD: mo.show_sd = 1; break;
        case OPT_TITLE: mo.title = optarg; break;
        case OPT_OUT: out = optarg; break;
        case OPT_PLOTS: plots = optarg; break;
        case OPT_NO_GNUPLOT: gnuplot = 0; break;
        case OPT_BAND: band = optarg; break;
        case OPT_FIRST:
            if (cli_parse_size("--first-epochs", optarg, 1, (size_t)1 << 30, &first_epochs))
                return 2;
            break;
        case 'h': usage(stdout); return 0;
        case ':': cli_error("%s needs a value (see hypersimplex report --help)", argv[optind - 1]); return 2;
        default: cli_error("unknown option '%s' (see hypersimplex report --help)", argv[optind - 1]); return 2;
        }
    }
    if (optind != argc - 1) {
        cli_error(optind == argc ? "no results file given" : "exactly one results file expected");
        usage(stderr);
        return 2;
    }
    const char *input = argv[optind];

    /* --compare a,b,c */
    char *cmp_copy = NULL;
    const char *cmp_list[64];
    if (compare) {
        cmp_copy = malloc(strlen(compare) + 1);
        if (!cmp_copy)
            return 1;
        strcpy(cmp_copy, compare);
        size_t n = 0;
        for (char *tok = strtok(cmp_copy, ","); tok; tok = strtok(NULL, ",")) {
            if (n == 64) {
                cli_error("--compare: at most 64 losses");
                free(cmp_copy);
                return 2;
            }
            cmp_list[n++] = tok;
        }
        if (n == 0) {
            cli_error("--compare: empty list");
            free(cmp_copy);
            return 2;
        }
        mo.compare = cmp_list;
        mo.n_compare = n;
    }

    int rc = 0;
    hs_results res;
    hs_study st;
    char *md = NULL;
    hs_status s = hs_results_read(&res, input);
    if (s) {
        cli_status_error("reading results", s);
        free(cmp_copy);
        return cli_exit_status(s, 0);
    }
    if (first_epochs)
        hs_results_truncate(&res, first_epochs);
    size_t n_threshold = 0;
    s = hs_results_use_rule(&res, pred_rule, &n_threshold);
    if (s) {
        cli_status_error(input, s);
        hs_results_free(&res);
        free(cmp_copy);
        return cli_exit_status(s, 1);
    }
    if (pred_rule == HS_RULE_THRESHOLD && n_threshold == 0)
        fprintf(stderr, "warning: --rule threshold: no run of %s records threshold accuracies; every "
                        "figure is the argmax rule's\n", input);
    if (band) { /* our curves (under --rule) against the reference band */
        rc = report_band(&res, band, mo.title, out, plots, gnuplot);
        hs_results_free(&res);
        free(cmp_copy);
        return rc;
    }
    /* The title says which prediction rule the accuracies come from whenever the table records
     * both (a table without threshold accuracies has only the argmax rule). */
    char title[512];
    if (pred_rule == HS_RULE_THRESHOLD || n_threshold > 0) {
        snprintf(title, sizeof title, "%s (prediction: %s)", mo.title ? mo.title : "Batch-size study",
                 pred_rule == HS_RULE_ARGMAX ? "argmax of the logits"
                                             : "threshold rule argmax_c z_c/tau - theta_c for the "
                                               "HyperSimplex runs, argmax of the logits for the others");
        mo.title = title;
    }
    s = hs_study_compute(&st, &res, rule, baseline);
    if (s) {
        cli_status_error(input, s);
        hs_results_free(&res);
        free(cmp_copy);
        return cli_exit_status(s, 0);
    }
    s = hs_study_markdown(&md, &st, &mo);
    if (s) {
        cli_status_error("report", s);
        rc = cli_exit_status(s, 1);
        goto done;
    }
    /* Cells without a test are explained in the notes under the tables ("[k] ..." lines);
     * say so on stderr as well. */
    size_t n_notes = 0;
    for (const char *q = md; (q = strstr(q, "\n[")); q++)
        if (q[2] >= '0' && q[2] <= '9')
            n_notes++;
    if (n_notes)
        fprintf(stderr, "warning: %zu note(s) under the table mark cells without a valid comparison\n", n_notes);
    hs_text_file *pf = NULL;
    size_t npf = 0;
    char *pngs = NULL;
    if (plots && (s = hs_study_plot_files(&pf, &npf, &pngs, &st, &res))) {
        cli_status_error("plots", s);
        rc = cli_exit_status(s, 1);
        goto done;
    }
    rc = write_report(out, md, plots, pf, npf, pngs, gnuplot);
    hs_text_files_free(pf, npf);
    free(pngs);
done:
    free(md);
    hs_study_free(&st);
    hs_results_free(&res);
    free(cmp_copy);
    return rc;
}
