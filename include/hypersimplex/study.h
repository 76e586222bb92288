/*
 * hypersimplex/study.h: the batch-size study. Tidy results tables (one row per run and
 * epoch), per-run selection of the reported accuracy, paired t-tests against a baseline
 * loss, the Markdown table in the form of the paper's Table 1, and gnuplot plot scripts.
 *
 * Results CSV (the tidy format, ../shared/reference/paper_test_accuracy_curves.csv plus
 * optional columns): a header naming the columns, in any order,
 *   required  dataset, loss, batch_size, seed, epoch, test_accuracy
 *   optional  val_accuracy, train_loss, seconds, variant,
 *             val_accuracy_threshold, test_accuracy_threshold
 * One row per (run, epoch); a run is identified by (dataset, variant, loss, batch_size,
 * seed); its epochs must be exactly 0 .. E-1, each once. Accuracies are fractions in [0, 1].
 * `variant` names a setting of further training options (e.g. "tau=0.5"), empty if none.
 * An empty or "nan" val_accuracy / train_loss / seconds means "not recorded".
 * test_accuracy and val_accuracy are the accuracies of the argmax of the logits (the rule of
 * the paper's figures); the *_threshold columns are those of the threshold rule of the
 * HyperSimplex loss (argmax_c z_c / tau - theta_c, hypersimplex/train.h), empty or "nan" for
 * the losses without thresholds and in files written before them (both columns optional).
 * A loss named "hypersimplex@P" is the HyperSimplex loss with k policy P (count, prior,
 * fraction:F), as `hypersimplex sweep` names runs whose policy it sets.
 * Files ending in ".gz" are read through zlib (plain files are read as well).
 *
 * The library never prints: tables come back as strings, plots as files.
 */
#ifndef HYPERSIMPLEX_STUDY_H
#define HYPERSIMPLEX_STUDY_H

#include "hypersimplex.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One training run: its identity and per-epoch curves (epoch e at index e). */
typedef struct hs_run_curve {
    char *dataset;          /* e.g. "fashion-mnist" */
    char *variant;          /* "" if none */
    char *loss;             /* "cross_entropy", "hinge", "mse", "hypersimplex", ... */
    long batch_size;
    long seed;
    size_t epochs;          /* number of epochs recorded, 0 .. epochs-1 */
    double *test_accuracy;  /* (epochs) */
    double *val_accuracy;   /* (epochs), NaN where not recorded */
    double *train_loss;     /* (epochs), NaN where not recorded */
    double *seconds;        /* (epochs), NaN where not recorded */
    size_t line;            /* CSV line of the run's first row (0 if not read from a file) */
    double *test_accuracy_threshold; /* (epochs) threshold rule, NaN where not recorded; */
    double *val_accuracy_threshold;  /* these two may be NULL (nothing recorded) */
} hs_run_curve;

/* A results table: the runs, sorted by (dataset, variant, loss, batch_size, seed). Start
 * from {0} and fill it with hs_results_read/_parse/_add; free it with hs_results_free. */
typedef struct hs_results {
    size_t n_runs;
    hs_run_curve *runs;     /* (n_runs) */
} hs_results;

/* Largest results or metrics CSV read (after decompression): the whole file is held in
 * memory, and a small .gz could otherwise expand without bound. */
#define HS_RESULTS_MAX_BYTES ((size_t)1 << 30)

/* Reads and validates a results CSV (or .csv.gz). Errors (HS_ERR_FORMAT) name the file,
 * the line and the column: a missing required column, a duplicated column, a malformed or
 * out-of-range number, a wrong field count, a duplicated (run, epoch), missing epochs; and
 * name the file for a truncated or corrupt gzip stream, garbage after it, or a file larger
 * than HS_RESULTS_MAX_BYTES. On failure *out is empty. */
HS_API hs_status hs_results_read(hs_results *out, const char *path);

/* Same from a text buffer; `name` is used in error messages. */
HS_API hs_status hs_results_parse(hs_results *out, const char *text, size_t len, const char *name);

/* Writes the tidy CSV atomically, columns dataset,loss,batch_size,seed,epoch,test_accuracy,
 * val_accuracy,train_loss,seconds,val_accuracy_threshold,test_accuracy_threshold (+ variant if
 * any run has one); accuracies with %.6f, train_loss and seconds with %.17g, unrecorded values
 * empty. */
HS_API hs_status hs_results_write(const hs_results *r, const char *path);

/* Reads the metrics.csv of one `hypersimplex train` run (columns epoch, train_loss,
 * val_accuracy, test_accuracy, seconds; optional val_accuracy_threshold,
 * test_accuracy_threshold, absent in files written before the threshold rule: then NaN) into
 * run's curves. The identity strings are copied. Epochs must be 0 .. E-1 in order. */
HS_API hs_status hs_run_read_metrics(hs_run_curve *run, const char *metrics_path,
                                     const char *dataset, const char *variant,
                                     const char *loss, long batch_size, long seed);

/* Appends a run (taking ownership of its arrays and strings; *run is zeroed) and keeps the
 * table sorted. HS_ERR_ARG if a run with the same identity is already present. */
HS_API hs_status hs_results_add(hs_results *r, hs_run_curve *run);

/* Keeps only the first `epochs` epochs of every run (runs that are shorter are unchanged):
 * the study as it stood after `epochs` epochs. HS_ERR_ARG if epochs == 0. */
HS_API hs_status hs_results_truncate(hs_results *r, size_t epochs);

HS_API void hs_run_curve_free(hs_run_curve *run);
HS_API void hs_results_free(hs_results *r);

/* Which prediction rule the reported accuracies come from. */
typedef enum hs_pred_rule {
    HS_RULE_ARGMAX = 0,     /* argmax of the logits: test_accuracy, val_accuracy */
    HS_RULE_THRESHOLD = 1   /* the HyperSimplex threshold rule: the *_threshold curves for
                               the runs that have them; the others keep argmax (the
                               losses without thresholds have no other rule) */
} hs_pred_rule;

/* "argmax", "threshold". Parsing is strict; on failure HS_ERR_ARG and *out is untouched. */
HS_API hs_status hs_pred_rule_parse(hs_pred_rule *out, const char *name);
HS_API const char *hs_pred_rule_name(hs_pred_rule r);

/* Makes the rule's accuracies the ones every later step reads (test_accuracy, val_accuracy):
 * for HS_RULE_THRESHOLD, every run with a recorded threshold test accuracy gets its threshold
 * curves swapped in (the argmax curves move to the *_threshold fields); HS_RULE_ARGMAX changes
 * nothing. *n_threshold (optional) receives the number of runs that record threshold
 * accuracies (the runs switched, for HS_RULE_THRESHOLD). HS_ERR_ARG (and no run changed) if a
 * run records the threshold test accuracy for some epochs but not all. */
HS_API hs_status hs_results_use_rule(hs_results *r, hs_pred_rule rule, size_t *n_threshold);

/* ------------------------------------------------------------------------- */
/* Selection and statistics                                                  */
/* ------------------------------------------------------------------------- */

typedef enum hs_select_rule {
    HS_SELECT_MAX_TEST = 0, /* maximum test accuracy over epochs (the paper's rule) */
    HS_SELECT_BEST_VAL = 1, /* test accuracy at the epoch of maximum validation accuracy
                               (earliest such epoch) */
    HS_SELECT_LAST = 2      /* test accuracy after the last epoch */
} hs_select_rule;

/* "max-test", "best-val", "last". */
HS_API hs_status hs_select_rule_parse(hs_select_rule *out, const char *name);
HS_API const char *hs_select_rule_name(hs_select_rule r);

/* The accuracy a rule reports for one run, and the epoch it comes from.
 * HS_ERR_ARG if the run has no epochs, or (best-val) no validation accuracy. */
HS_API hs_status hs_run_select(double *accuracy, size_t *epoch, const hs_run_curve *run,
                               hs_select_rule rule);

/* Paired t-test of a against b (n pairs): d = a - b, t = mean(d) / (sd(d) / sqrt(n)),
 * df = n - 1, two-sided p = 2 Q_t(|t|; df) (GSL). Needs n >= 2. If sd(d) == 0 the
 * statistic is undefined: t and p are NaN and HS_ERR_ARG is returned. */
typedef struct hs_ttest {
    size_t n;
    double mean_diff;
    double sd_diff;
    double t;
    double df;
    double p;
} hs_ttest;

HS_API hs_status hs_paired_ttest(hs_ttest *out, const double *a /* (n) */,
                                 const double *b /* (n) */, size_t n);

/* ------------------------------------------------------------------------- */
/* The study: per (dataset, variant, batch size) and loss, the selected accuracies    */
/* ------------------------------------------------------------------------- */

/* Why a comparison has no t statistic. */
typedef enum hs_cmp_state {
    HS_CMP_OK = 0,          /* t and p are valid */
    HS_CMP_BASELINE = 1,    /* this loss is the baseline */
    HS_CMP_MISSING = 2,     /* no runs of this loss or of the baseline in this group */
    HS_CMP_UNPAIRED = 3,    /* the seeds of this loss and of the baseline differ */
    HS_CMP_TOO_FEW = 4,     /* fewer than 2 paired seeds */
    HS_CMP_ZERO_VAR = 5     /* all paired differences are equal: t undefined */
} hs_cmp_state;

typedef struct hs_study_cell {
    size_t n;               /* number of runs (seeds) */
    long *seeds;            /* (n), ascending */
    double *values;         /* (n) selected accuracy per seed */
    double mean;            /* NaN if n == 0 */
    double sd;              /* sample standard deviation; NaN if n < 2 */
    size_t min_epochs, max_epochs; /* run lengths (differ: runs of unequal length) */
    hs_cmp_state cmp;       /* comparison with the baseline in the same group */
    hs_ttest test;          /* valid if cmp == HS_CMP_OK; mean_diff also for ZERO_VAR */
} hs_study_cell;

typedef struct hs_study_group {
    char *dataset;
    char *variant;
    long batch_size;
} hs_study_group;

typedef struct hs_study {
    hs_select_rule rule;
    char *baseline;
    size_t n_losses;
    char **losses;          /* (n_losses) the four losses of the paper first, then others */
    size_t n_groups;
    hs_study_group *groups; /* (n_groups) sorted by dataset, variant, batch_size */
    hs_study_cell *cells;   /* (n_groups x n_losses) row-major */
} hs_study;

/* Selects one accuracy per run with `rule` and compares every loss with `baseline` by a
 * paired t-test over the seeds present for both. Fails (HS_ERR_ARG) if a run cannot be
 * selected (e.g. best-val without validation accuracies) or if the baseline loss occurs
 * nowhere; the other problems are recorded per cell (hs_cmp_state). */
HS_API hs_status hs_study_compute(hs_study *s, const hs_results *r, hs_select_rule rule,
                                  const char *baseline);
HS_API void hs_study_free(hs_study *s);

/* The cell of group g and loss index l. */
HS_API const hs_study_cell *hs_study_at(const hs_study *s, size_t g, size_t l);

typedef struct hs_markdown_opts {
    double alpha;                /* significance level for the mark, e.g. 0.10 */
    const char *const *compare;  /* losses that get difference / t / p columns; NULL:
                                    "hypersimplex" and every "hypersimplex@P" if present,
                                    else every non-baseline loss */
    size_t n_compare;
    int show_sd;                 /* print "mean ± sd" instead of the mean */
    const char *title;           /* first heading, NULL for a default */
} hs_markdown_opts;

HS_API hs_markdown_opts hs_markdown_opts_default(void);

/* The Markdown report: per dataset (and variant) a table with one row per batch size,
 * the mean selected accuracy of each loss (best in bold), and for each compared loss the
 * mean paired difference to the baseline, t and the two-sided p (a '*' where p < alpha).
 * Cells that cannot be computed say why in a footnote. *md is malloc'ed; free() it. */
HS_API hs_status hs_study_markdown(char **md, const hs_study *s, const hs_markdown_opts *o);

/* Writes the plot data and one gnuplot script into dir (created if missing):
 *   <dir>/plots.gp, <dir>/plot_data/ (one .dat file per plot)
 * Running `gnuplot plots.gp` inside dir draws (pngcairo):
 *   accuracy_vs_batch_<dataset>[_<variant>].png  mean selected accuracy per loss against
 *        batch size (log2 axis) with +-1 standard deviation bars;
 *   curves_<dataset>[_<variant>]_b<batch>.png   mean test accuracy over seeds per epoch,
 *        one line per loss.
 * The names of the PNG files are appended, one per line, to *png_list (malloc'ed) if
 * png_list is non-NULL. Every file is complete before any replaces an old one: on failure
 * no file of dir has been replaced. */
HS_API hs_status hs_study_write_plots(const hs_study *s, const hs_results *r, const char *dir,
                                      char **png_list);

/* A file's name (relative to a directory) and text. */
typedef struct hs_text_file {
    char *name;
    char *text;
} hs_text_file;

/* The files hs_study_write_plots writes, not yet written: *files (n of them; names relative to
 * the plot directory, e.g. "plots.gp", "plot_data/acc_fashion-mnist.dat") for a caller that
 * writes them together with other outputs. Free with hs_text_files_free. */
HS_API hs_status hs_study_plot_files(hs_text_file **files, size_t *n, char **png_list, const hs_study *s,
                                     const hs_results *r);
HS_API void hs_text_files_free(hs_text_file *files, size_t n);

/* ------------------------------------------------------------------------- */
/* Band comparison: our runs against the spread of reference curves          */
/* ------------------------------------------------------------------------- */

/* Where a run's test accuracy falls at one epoch relative to the reference band (the minimum
 * and maximum over the reference runs of the same dataset, loss and batch size at that
 * epoch, e.g. the authors' 5 seeds). */
typedef enum hs_band_pos {
    HS_BAND_INSIDE = 0,     /* lo <= ours <= hi */
    HS_BAND_BELOW = 1,      /* ours < lo */
    HS_BAND_ABOVE = 2,      /* ours > hi */
    HS_BAND_NO_REF = 3      /* no reference run reaches this epoch */
} hs_band_pos;

typedef struct hs_band_row {
    size_t epoch;
    double ours;            /* our test accuracy */
    double lo, hi, mean;    /* reference min, max, mean over n_ref runs (NaN if n_ref == 0) */
    size_t n_ref;
    hs_band_pos pos;
} hs_band_row;

/* One of our runs with the band of its reference runs at each of its epochs. */
typedef struct hs_band_curve {
    const hs_run_curve *run;    /* borrowed from the `ours` table */
    size_t n_ref_runs;          /* reference runs of the same dataset, loss and batch size */
    hs_band_row *rows;          /* (run->epochs) */
    size_t n_inside, n_below, n_above, n_no_ref;
} hs_band_curve;

typedef struct hs_band {
    size_t n;
    hs_band_curve *curves;      /* (n) in the order of ours->runs */
} hs_band;

/* For every run of `ours`, the band of the runs of `ref` with the same dataset, loss and
 * batch size (ref's variants and ours' variant are ignored: the reference is one protocol).
 * `ours` must outlive the result. HS_ERR_ARG if no run of ours has any reference run (a run
 * without one is kept, all its epochs HS_BAND_NO_REF). */
HS_API hs_status hs_band_compute(hs_band *out, const hs_results *ours, const hs_results *ref);
HS_API void hs_band_free(hs_band *b);

/* "inside", "below", "above", "no reference". */
HS_API const char *hs_band_pos_name(hs_band_pos p);

/* The Markdown report: per run a summary line (how many epochs inside, below, above; which
 * epochs are outside) and the per-epoch table (ours, reference min, max, mean, n, position).
 * title NULL gives a default. *md is malloc'ed; free() it. */
HS_API hs_status hs_band_markdown(char **md, const hs_band *b, const char *title);

/* The plot files of the band, not yet written: plots.gp and plot_data/band_<tag>.dat (names
 * relative to the plot directory), for a caller that writes them together with other outputs;
 * `gnuplot plots.gp` inside that directory draws
 * band_<dataset>[_<variant>]_<loss>_b<batch>_s<seed>.png per run: the reference band (shaded
 * min..max), the reference mean (dashed) and our curve, over our epochs. The PNG names, one
 * per line, go to *png_list (malloc'ed) if non-NULL. Free with hs_text_files_free. */
HS_API hs_status hs_band_plot_files(hs_text_file **files, size_t *n, char **png_list, const hs_band *b);
/* The same files written into dir (created if missing), every file complete before any
 * replaces an old one. */
HS_API hs_status hs_band_write_plots(const hs_band *b, const char *dir, char **png_list);

#ifdef __cplusplus
}
#endif

#endif /* HYPERSIMPLEX_STUDY_H */
