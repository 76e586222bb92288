/*
 * hypersimplex/gbrt.h: gradient-boosted trees trained with the HyperSimplex loss through
 * XGBoost's C API, plus what such experiments need: strict tabular readers (libsvm, CSV),
 * an exact AUC, and the repeated comparison of losses on the same splits (a tidy runs table,
 * its CSV and its Markdown summary; the paired t-test is hs_paired_ttest from
 * hypersimplex/study.h).
 *
 * The HyperSimplex objective of a binary problem with n training rows, margins m (the
 * boosted model's raw outputs) and labels y in {0,1}:
 *
 *   p = soft-binary-argmax@k(m / tau)   (projection onto the (n,k)-hypersimplex,
 *                                        k = number of positives, the authors' choice)
 *   L(m) = (1/n) sum_i (p_i - y_i)^2
 *
 * XGBoost's objective is a sum over rows, and its regularization (lambda, min_child_weight)
 * is calibrated for per-row gradients of order one. The gradient handed to XGBoost is
 * therefore n * dL/dm = J^T (2 (p - y)) (computed by hs_project_vjp_d on 2 (p - y) / n and
 * scaled by n). See docs/gbrt.md for the hessian options.
 */
#ifndef HYPERSIMPLEX_GBRT_H
#define HYPERSIMPLEX_GBRT_H

#include <stdio.h>

#include "hypersimplex.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------- */
/* Tables                                                                    */
/* ------------------------------------------------------------------------- */

/* A binary-classification table in compressed sparse rows. CSV tables store every
 * value (zeros included) except missing ones (an empty or "NA" feature field); libsvm tables
 * store the pairs present in the file. Entries not stored are missing values for XGBoost
 * (its usual reading of libsvm). */
typedef struct hs_table {
    size_t rows;       /* number of examples */
    size_t cols;       /* number of feature columns (max index + 1 for libsvm) */
    size_t nnz;        /* stored values */
    size_t *indptr;    /* (rows + 1) start of each row in indices/values */
    uint32_t *indices; /* (nnz) column of each stored value */
    float *values;     /* (nnz) */
    float *labels;     /* (rows) 0 or 1 */
} hs_table;

typedef enum hs_table_format {
    HS_TABLE_AUTO = 0,  /* by name: *.csv / *.csv.gz -> CSV, anything else -> libsvm */
    HS_TABLE_CSV = 1,   /* header line, label first, numbers only, comma separated */
    HS_TABLE_LIBSVM = 2 /* "label idx:value idx:value ...", idx increasing, "# ..." comments */
} hs_table_format;

/* Widest table hs_table_read accepts: 65536 features (libsvm: feature index < 65536; CSV:
 * header fields after the label). XGBoost allocates memory and time for every feature up to
 * the largest index whether or not it holds values, so a single stray index (a line
 * "1 100000000:0.5") would otherwise exhaust memory; the limit is checked while reading,
 * before anything per feature is allocated. hs_table_read_max takes another limit for
 * genuinely wide data. */
#define HS_TABLE_MAX_FEATURES ((size_t)1 << 16)

/* Reads a table (plain or gzip-compressed) into *t (which is overwritten; free it with
 * hs_table_free). Labels: CSV 0/1; libsvm 0/1 or -1/+1 (-1 read as 0). Strict: any
 * malformed field fails with HS_ERR_FORMAT and a message "PATH:LINE:COLUMN: ..." (1-based
 * line and character column), as does a table wider than HS_TABLE_MAX_FEATURES, a line
 * longer than 1 GiB, and a truncated or corrupt gzip stream or garbage after it (the
 * message names the file). HS_ERR_IO if the file cannot be read. */
HS_API hs_status hs_table_read(hs_table *t, const char *path, hs_table_format format);
/* The same with a limit of max_features features, in [1, 2^32). */
HS_API hs_status hs_table_read_max(hs_table *t, const char *path, hs_table_format format,
                                   size_t max_features);

/* Releases the arrays of t and zeroes it. Safe on a zeroed table. */
HS_API void hs_table_free(hs_table *t);

/* Copies the rows rows[0..m) of src (in that order) into *out. */
HS_API hs_status hs_table_subset(hs_table *out, const hs_table *src, const size_t *rows,
                                 size_t m);

/* Random split: a fraction valid_fraction in (0, 1) of the rows (rounded, at least one row
 * on each side), chosen by a seeded permutation, goes to *valid, the rest to *train. Both
 * keep the original row order. The same seed gives the same split on every machine. */
HS_API hs_status hs_table_split(hs_table *train, hs_table *valid, const hs_table *src,
                                double valid_fraction, uint64_t seed);

/* Counts positives (labels == 1). */
HS_API size_t hs_table_positives(const hs_table *t);

/* ------------------------------------------------------------------------- */
/* Metrics                                                                   */
/* ------------------------------------------------------------------------- */

/* Exact area under the ROC curve of scores against labels (0/1): the Mann-Whitney
 * statistic with midranks, so tied scores count 1/2. O(n log n). HS_ERR_LABEL if a label is
 * not 0/1 or if one class is absent, HS_ERR_NONFINITE on NaN scores. */
HS_API hs_status hs_auc(double *auc, const float *score /* (n) */, const float *label /* (n) */,
                        size_t n);

/* ------------------------------------------------------------------------- */
/* The HyperSimplex objective                                                */
/* ------------------------------------------------------------------------- */

/* Hessian handed to XGBoost with the HyperSimplex gradient (S = free set of p):
 *   ONES: 1 for every row (the authors' choice).
 *   GN:   n times the diagonal of the Gauss-Newton matrix of L, J^T (2/n) J:
 *         (2 / tau^2) (1 - 1/|S|) on S, 0 elsewhere (rows clamped at 0 or 1 have no gradient
 *         either; they then weigh nothing in a leaf).
 *   CONST: 2 / tau^2 for every row (the Gauss-Newton scale without the free-set mask). */
typedef enum hs_gbrt_hessian {
    HS_GBRT_HESS_ONES = 0,
    HS_GBRT_HESS_GN = 1,
    HS_GBRT_HESS_CONST = 2
} hs_gbrt_hessian;

typedef struct hs_gbrt_objective_info {
    double loss;   /* L = mean (p - y)^2 */
    double k;      /* number of positives used as k */
    double theta;  /* threshold of the projection: p = clip(m / tau - theta, 0, 1) */
    size_t n_free; /* |S| */
} hs_gbrt_objective_info;

/* grad = n * dL/dm (see the top of this header), hess by the chosen rule, for margins m.
 * work: (2 n) doubles of scratch. grad may be NULL (then only the loss is computed; hess is
 * then ignored). HS_ERR_LABEL if a label is not 0/1 or all labels are equal. */
HS_API hs_status hs_gbrt_hs_objective_d(double *grad /* (n) */, double *hess /* (n) */,
                                        hs_gbrt_objective_info *info, const double *margin /* (n) */,
                                        const float *label /* (n) */, size_t n, double tau,
                                        hs_gbrt_hessian hessian, double *work /* (2n) */);

/* The same for XGBoost's float margins and float gradient/hessian (computed in double).
 * work: (2 n) doubles. */
HS_API hs_status hs_gbrt_hs_objective_f(float *grad /* (n) */, float *hess /* (n) */,
                                        hs_gbrt_objective_info *info, const float *margin /* (n) */,
                                        const float *label /* (n) */, size_t n, double tau,
                                        hs_gbrt_hessian hessian, double *work /* (2n) */);

/* ------------------------------------------------------------------------- */
/* Training through XGBoost                                                  */
/* ------------------------------------------------------------------------- */

typedef enum hs_gbrt_loss {
    HS_GBRT_LOGISTIC = 0,    /* XGBoost's own binary:logistic (cross-entropy) */
    HS_GBRT_HYPERSIMPLEX = 1 /* the objective above, via XGBoosterBoostOneIter */
} hs_gbrt_loss;

typedef struct hs_gbrt_params {
    hs_gbrt_loss loss;        /* default HS_GBRT_HYPERSIMPLEX */
    int rounds;               /* boosting rounds, >= 1; default 100 */
    double tau;               /* HyperSimplex temperature, > 0; default 1 */
    hs_gbrt_hessian hessian;  /* HyperSimplex hessian; default HS_GBRT_HESS_ONES */
    int max_depth;            /* default 6 */
    double eta;               /* learning rate, default 0.3 (XGBoost's) */
    double lambda;            /* L2 on leaf weights, default 1 (XGBoost's) */
    double min_child_weight;  /* default 1 (XGBoost's) */
    int max_bin;              /* hist bins, default 256 */
    int threads;              /* XGBoost nthread: 0 = all cores */
    uint64_t seed;            /* XGBoost seed, default 0 */
    int early_stopping;       /* stop after this many rounds without a better validation AUC;
                                 0 = off (train all rounds, keep the best round anyway) */
} hs_gbrt_params;

HS_API hs_gbrt_params hs_gbrt_params_default(void);

/* Checks parameters: NULL if valid, else a static message. */
HS_API const char *hs_gbrt_params_check(const hs_gbrt_params *p);

/* One evaluated round, handed to the callback after each boosting round. */
typedef struct hs_gbrt_round {
    int round;            /* 1-based: the model has this many trees */
    double train_loss;    /* HyperSimplex L or mean log-loss on the training set */
    double valid_auc;     /* NAN without a validation set */
    double valid_acc;     /* NAN without a validation set */
    size_t n_free;        /* HyperSimplex: free-set size |S| of the training projection */
    double t_objective;   /* seconds computing the gradient/hessian (0 for logistic: inside
                             XGBoost's update) */
    double t_boost;       /* seconds in XGBoosterBoostOneIter / XGBoosterUpdateOneIter */
    double t_predict;     /* seconds predicting training margins (for the objective/loss) */
    double t_eval;        /* seconds predicting the validation set and computing AUC */
} hs_gbrt_round;

/* Return nonzero to stop training early (the best round so far is kept). */
typedef int (*hs_gbrt_callback)(const hs_gbrt_round *r, void *user);

typedef struct hs_gbrt_result {
    int rounds_done;        /* boosting rounds run */
    int best_round;         /* round of the best validation AUC (= rounds_done without one) */
    double valid_auc;       /* our exact AUC at best_round (NAN without a validation set) */
    double valid_acc;       /* accuracy at best_round */
    double valid_auc_xgb;   /* XGBoost's own "auc" metric for the kept model */
    double train_auc;       /* training AUC of the kept model */
    double theta;           /* HyperSimplex decision threshold of the kept model */
    double t_objective;     /* total seconds in the objective */
    double t_boost;         /* total seconds in XGBoost's boosting calls */
    double t_total;         /* total seconds of the training loop */
} hs_gbrt_result;

typedef struct hs_gbrt_model hs_gbrt_model;

/* Trains on train, evaluates on valid (may be NULL) after every round, keeps the model of
 * the best validation AUC (sliced to best_round trees). Every XGBoost call is checked;
 * failures return HS_ERR_BACKEND with XGBoost's message. callback may be NULL. */
HS_API hs_status hs_gbrt_train(hs_gbrt_model **model, hs_gbrt_result *result,
                               const hs_table *train, const hs_table *valid,
                               const hs_gbrt_params *params, hs_gbrt_callback callback,
                               void *user);

/* Margins (raw scores) of the kept model on t. */
HS_API hs_status hs_gbrt_predict_margin(float *margin /* (t->rows) */, const hs_gbrt_model *m,
                                        const hs_table *t);

/* 0/1 decisions: logistic margin >= 0; HyperSimplex p = clip(m / tau - theta) >= 1/2 with
 * the training set's theta. */
HS_API hs_status hs_gbrt_predict_label(float *label /* (t->rows) */, const hs_gbrt_model *m,
                                       const hs_table *t);

/* XGBoost's own "auc" metric (XGBoosterEvalOneIter) of the kept model on t. */
HS_API hs_status hs_gbrt_xgb_auc(double *auc, const hs_gbrt_model *m, const hs_table *t);

/* XGBoost's own "auc" metric of arbitrary scores: a booster without trees whose margins are
 * the given scores (set as base_margin). Used to check hs_auc against XGBoost. */
HS_API hs_status hs_gbrt_xgb_auc_of_scores(double *auc, const float *score /* (n) */,
                                           const float *label /* (n) */, size_t n);

/* Saves the kept model in XGBoost's format, written atomically: UBJSON if path ends in
 * ".ubj", XGBoost's legacy binary if it ends in ".bin" or ".model", JSON otherwise. The
 * attributes hs_loss, hs_tau and hs_theta (the decision rule) are stored in the model. */
HS_API hs_status hs_gbrt_save(const hs_gbrt_model *m, const char *path);
/* Writes the model as hs_gbrt_save would, in the format that `name` (a file name) selects, to
 * the open stream f (for a caller that writes several outputs together). f stays open; a
 * short write is HS_ERR_IO. */
HS_API hs_status hs_gbrt_write(const hs_gbrt_model *m, FILE *f, const char *name);

HS_API void hs_gbrt_free(hs_gbrt_model *m);

/* ------------------------------------------------------------------------- */
/* Comparing losses over repeated splits                                     */
/* ------------------------------------------------------------------------- */

/* One configuration of a comparison: a loss and, for the HyperSimplex loss, its hessian. */
typedef struct hs_gbrt_config {
    hs_gbrt_loss loss;
    hs_gbrt_hessian hessian; /* ignored for HS_GBRT_LOGISTIC */
} hs_gbrt_config;

/* Longest configuration name plus its NUL ("hypersimplex:const"). */
#define HS_GBRT_CONFIG_NAME_MAX 32

/* "ones", "gn", "const" (strict; HS_ERR_ARG and *out untouched otherwise). */
HS_API hs_status hs_gbrt_hessian_parse(hs_gbrt_hessian *out, const char *name);
HS_API const char *hs_gbrt_hessian_name(hs_gbrt_hessian h);

/* A configuration's name: "logistic" or "hypersimplex:H" (H its hessian). Parsing also takes
 * "hypersimplex" and "hs" (hessian default_hessian) and "hs:H"; *hessian_given (optional) says
 * whether the name named a hessian. HS_ERR_ARG (message naming the text) otherwise. */
HS_API hs_status hs_gbrt_config_parse(hs_gbrt_config *out, int *hessian_given, const char *name,
                                      hs_gbrt_hessian default_hessian);
HS_API void hs_gbrt_config_name(char name[HS_GBRT_CONFIG_NAME_MAX], const hs_gbrt_config *c);

/* The protocol of a comparison. For each seed s = seed, seed + 1, ..., seed + repeats - 1:
 *   1. with test_fraction > 0, a random test_fraction of the data goes to a test set (drawn
 *      with a stream of its own, so that it does not mirror the validation split);
 *   2. without a fixed validation table, a random valid_fraction of the remaining rows is the
 *      validation set (seed s), the rest the training set;
 *   3. every configuration is trained on these same sets (params with the configuration's
 *      loss and hessian, XGBoost seed s), keeping the round of the best validation AUC;
 *   4. the kept model's exact AUC and accuracy on the test set are evaluated.
 * Rows come out seed-major: row r * n_configs + c is seed r's run of configs[c]. */
typedef struct hs_gbrt_protocol {
    hs_gbrt_params params;          /* shared parameters; loss, hessian, seed set per run */
    const hs_gbrt_config *configs;  /* (n_configs) the first is the baseline of the tests */
    size_t n_configs;               /* >= 1 */
    uint64_t seed;                  /* first seed, < 2^63 */
    size_t repeats;                 /* number of seeds, >= 1 */
    double test_fraction;           /* in (0, 1), or 0 for no test set */
    double valid_fraction;          /* in (0, 1); unused with a fixed validation table */
    const char *table;              /* name recorded in every row (e.g. the file's stem) */
} hs_gbrt_protocol;

/* One run: its identity and every figure, as one line of the runs CSV. */
typedef struct hs_gbrt_run {
    char *table;        /* the protocol's table name (malloc'ed) */
    size_t rows;        /* rows of the whole data table */
    char config[HS_GBRT_CONFIG_NAME_MAX];
    double tau;
    uint64_t seed;
    hs_gbrt_result result; /* training (validation figures at the best round) */
    double test_auc;    /* exact AUC of the kept model on the test set; NAN without one */
    double test_acc;    /* its accuracy; NAN without a test set */
} hs_gbrt_run;

/* A tidy runs table: one row per table x seed x configuration. Start from {0}; free with
 * hs_gbrt_runs_free. */
typedef struct hs_gbrt_runs {
    size_t n;
    hs_gbrt_run *rows;  /* (n) */
} hs_gbrt_runs;

/* Hooks of a protocol run (every member may be NULL): start before each training, round after
 * each boosting round (as hs_gbrt_train's callback), done after each evaluated run with its
 * kept model (borrowed, freed after the call; a non-OK status stops the protocol and is
 * returned). */
typedef struct hs_gbrt_hooks {
    void (*start)(const hs_gbrt_run *run, int rounds, void *user);
    hs_gbrt_callback round;
    hs_status (*done)(const hs_gbrt_run *run, const hs_gbrt_model *model, void *user);
    void *user;
} hs_gbrt_hooks;

/* Runs the protocol on data (and the fixed validation table valid, or NULL) and appends its
 * rows to *out. HS_ERR_ARG for an invalid protocol (message says what). On failure the rows of
 * the runs completed so far stay in *out. */
HS_API hs_status hs_gbrt_compare(hs_gbrt_runs *out, const hs_table *data, const hs_table *valid,
                                 const hs_gbrt_protocol *protocol, const hs_gbrt_hooks *hooks);

/* The AUC a run reports: test_auc with a test set, else the validation AUC. */
HS_API double hs_gbrt_run_auc(const hs_gbrt_run *run);

/* Summary of one configuration of one group over its seeds. A group is a table at one
 * temperature: the runs of a table that differ in tau (a tau sweep) form one group per tau. */
typedef struct hs_gbrt_summary {
    const char *table;  /* borrowed from the runs */
    size_t rows;
    double tau;         /* the group's temperature */
    const char *config; /* borrowed */
    size_t n;           /* seeds */
    double auc_mean, auc_sd;   /* of hs_gbrt_run_auc; sd NAN for n < 2 */
    double acc_mean;           /* test accuracy (validation accuracy without a test set) */
    double best_round_mean;
    double train_auc_mean;     /* training AUC of the kept models */
    int is_baseline;    /* the group's first configuration */
    /* paired t-test of the AUCs against the baseline over the same seeds (hs_paired_ttest):
     * t_status HS_OK when t and p are valid, else why not (t_message); mean_diff is set
     * whenever the seeds pair up */
    hs_status t_status;
    char t_message[160];
    double mean_diff, sd_diff, t, df, p;
} hs_gbrt_summary;

/* Summaries of every (table, tau, configuration) of runs: tables in the order of their first
 * row, within a table its taus in the order of their first row, within a group (table, tau)
 * its configurations in the order of their first row; the first configuration of a group is
 * its baseline. (With one tau per table the groups are the tables.) *sum (n of them) is
 * malloc'ed; it borrows strings from runs. HS_ERR_ARG if runs is empty or a configuration does
 * not have the baseline's seeds (a t-test that cannot pair up is an error, not a blank). */
HS_API hs_status hs_gbrt_summarize(hs_gbrt_summary **sum, size_t *n, const hs_gbrt_runs *runs);

/* The runs CSV: a header, then one line per run, columns
 *   table,rows,loss,tau,seed,rounds,best_round,valid_auc,valid_acc,valid_auc_xgb,test_auc,
 *   test_acc,train_auc,theta,t_objective,t_boost,t_total
 * (loss = the configuration's name, rounds = rounds run), every real number %.17g ("nan"
 * where there is none). Writing to the open stream f is for a caller that writes several
 * outputs together (util's atomic writer); a short write is HS_ERR_IO. */
HS_API hs_status hs_gbrt_runs_write(const hs_gbrt_runs *runs, FILE *f, const char *name);
/* Reads a runs CSV (plain or .gz; columns by name, in any order, the ones above required):
 * appends its rows to *out. HS_ERR_FORMAT with "PATH:LINE: ..." on a malformed file. */
HS_API hs_status hs_gbrt_runs_read(hs_gbrt_runs *out, const char *path);
HS_API void hs_gbrt_runs_free(hs_gbrt_runs *runs);

/* The Markdown report of runs (the tables of docs/results/gbrt_tabular.md): per group (table,
 * tau; see hs_gbrt_summarize) the mean +- sd AUC of every configuration with the paired
 * difference, t and p against the baseline, then the mean accuracy and best round. The column
 * of a configuration is headed by its name ("HS, hessian H" for hypersimplex:H, marked
 * "(authors)" for ones). When the runs hold more than one tau, both tables have a column tau
 * (after table and rows; one line per group); with a single tau the layout has no such column.
 * *md is malloc'ed. Fails as hs_gbrt_summarize, and (HS_ERR_ARG) if the groups do not have the
 * same configurations in the same order or the same number of seeds. */
HS_API hs_status hs_gbrt_markdown(char **md, const hs_gbrt_runs *runs);

/* What a report shows beyond hs_gbrt_markdown's tables (start from {0}: nothing more). */
typedef struct hs_gbrt_report_options {
    int train_auc; /* nonzero: the second table also has the mean training AUC of the kept
                      models per configuration (a diverging or underfitting loss shows there) */
} hs_gbrt_report_options;

/* hs_gbrt_markdown with options (NULL: as hs_gbrt_markdown). */
HS_API hs_status hs_gbrt_markdown_opts(char **md, const hs_gbrt_runs *runs,
                                       const hs_gbrt_report_options *options);

#ifdef __cplusplus
}
#endif

#endif /* HYPERSIMPLEX_GBRT_H */
