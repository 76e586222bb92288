/*
 * hypersimplex/sweep.h: the study engine. A sweep is the batch-size study as independent
 * training runs: every combination of dataset x loss x batch size x seed (x every varied
 * training option), each a `hypersimplex train` run in a directory of its own,
 * SWEEP_DIR/<id>, that follows the run-directory contract of hypersimplex/train.h.
 *
 * The library holds the protocol (hs_sweep_spec: what is trained; the presets; the settings
 * file), the plan (hs_sweep_plan: the runs, their ids, their training options, their state),
 * the protocol file that keeps one sweep directory to one protocol, the marking of failed
 * runs, and the collection of finished runs into a results table (hypersimplex/study.h).
 * Starting the training processes is the caller's: `hypersimplex sweep` keeps a process pool,
 * a cluster runs the emitted command lines (docs/study.md).
 *
 * Files of a sweep directory besides the runs':
 *   sweep.conf        the protocol every run shares (hs_sweep_protocol_check)
 *   <id>/failed.txt   a run whose trainer failed (hs_sweep_mark_failed); skipped until cleared
 *   <id>/train.log    the trainer's output (written by the caller)
 *
 * Messages name the setting ("losses", "batch-sizes", ...) after the caller's `where` text:
 * "FILE:LINE: " for a settings file, "--" on a command line (giving "--losses: ...").
 */
#ifndef HYPERSIMPLEX_SWEEP_H
#define HYPERSIMPLEX_SWEEP_H

#include "hypersimplex.h"
#include "hypersimplex/study.h"
#include "hypersimplex/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most runs in one sweep (the product of every list and axis). */
#define HS_SWEEP_MAX_RUNS 100000

/* ------------------------------------------------------------------------- */
/* The protocol                                                              */
/* ------------------------------------------------------------------------- */

/* How many values the training option `key` (a `hypersimplex train` option name without
 * "--") takes: 1 for an option with a value, 0 for a flag, -1 if there is no such option.
 * The caller knows the trainer's options; the spec uses this to check set and vary. */
typedef int (*hs_sweep_option_arity)(const char *key, void *user);

typedef struct hs_sweep_spec hs_sweep_spec;

/* A new protocol with the defaults: dataset fashion-mnist; losses cross_entropy, hinge, mse,
 * hypersimplex; batch sizes 128, 8192; seeds 0, 42, 1337; 10 epochs; nothing set or varied.
 * arity (required) checks the keys of set and vary. Errors: HS_ERR_NULL, HS_ERR_NOMEM. */
HS_API hs_status hs_sweep_spec_new(hs_sweep_spec **out, hs_sweep_option_arity arity, void *user);
HS_API void hs_sweep_spec_free(hs_sweep_spec *s);

/* 1 if key is a setting of the protocol (hs_sweep_spec_set takes it), else 0. */
HS_API int hs_sweep_spec_has_key(const char *key);

/* Applies one setting, replacing the earlier value of the same setting (for set and vary: of
 * the same training option). Settings:
 *   preset       paper | small: applies the preset's settings (below)
 *   dataset      comma-separated list: fashion-mnist, mnist, cifar10
 *   losses       comma-separated list: cross_entropy, hinge, mse, hypersimplex, or
 *                hypersimplex@P, the HyperSimplex loss with k policy P (count, prior,
 *                fraction:F)
 *   batch-sizes  comma-separated list of integers in [1, 2^30]
 *   seeds        comma-separated list of integers >= 0
 *   epochs       an integer in [1, 10^6]
 *   set          KEY=VALUE: the training option --KEY VALUE for every run; KEY alone: the
 *                flag --KEY
 *   vary         KEY=V1,V2,...: one more axis, a run per value; k-policy=P1,P2 instead turns
 *                every plain "hypersimplex" of losses into hypersimplex@P1, hypersimplex@P2
 *                (k is an option of that loss only)
 * The options a sweep sets itself (dataset, loss, batch-size, seed, epochs, out, resume,
 * threads) cannot be set or varied. where (may be NULL) goes before the setting's name in
 * messages. Errors: HS_ERR_ARG (the message names where, the setting and the value),
 * HS_ERR_NOMEM. */
HS_API hs_status hs_sweep_spec_set(hs_sweep_spec *s, const char *key, const char *value,
                                   const char *where);

/* The presets' names, a NULL-terminated list, and one preset's settings as "key", "value"
 * pairs ending with NULL (NULL for an unknown name). */
HS_API const char *const *hs_sweep_preset_names(void);
HS_API const char *const *hs_sweep_preset(const char *name);

/* One line of a settings file. */
typedef struct hs_sweep_setting {
    char *key;
    char *value;
    char *where;    /* "FILE:LINE: " */
} hs_sweep_setting;

/* Reads a settings file: `key = value` lines, '#' comments, blank lines; keys are those of
 * hs_sweep_spec_set and any others the caller accepts (e.g. its own execution options); the
 * caller applies them in order. Errors (HS_ERR_FORMAT naming the file and line, and the
 * column of a NUL byte): a line without '=', a line longer than 4096 bytes, a NUL byte, more
 * than 256 settings; HS_ERR_IO if the file cannot be read. */
HS_API hs_status hs_sweep_settings_read(hs_sweep_setting **out, size_t *n, const char *path);
HS_API void hs_sweep_settings_free(hs_sweep_setting *s, size_t n);

/* ------------------------------------------------------------------------- */
/* The plan                                                                  */
/* ------------------------------------------------------------------------- */

typedef enum hs_sweep_state {
    HS_SWEEP_FRESH = 0,     /* nothing trained yet */
    HS_SWEEP_PARTIAL = 1,   /* a checkpoint: the run continues with --resume */
    HS_SWEEP_DONE = 2,      /* every epoch done (summary.json) */
    HS_SWEEP_FAILED = 3,    /* its trainer failed (failed.txt) */
    HS_SWEEP_BUSY = 4       /* set by the caller: trained by another process now */
} hs_sweep_state;

/* "not started", "partial", "done", "failed", "running elsewhere". */
HS_API const char *hs_sweep_state_name(hs_sweep_state s);

/* A training option of a run: --key value, or the flag --key when value is NULL. */
typedef struct hs_sweep_option {
    const char *key;
    const char *value;
} hs_sweep_option;

typedef struct hs_sweep_run {
    const char *id;         /* <dataset>_<loss>_b<B>_s<S>[_<key><value>...], a file name */
    const char *dir;        /* SWEEP_DIR/<id> */
    const char *variant;    /* the varied options, "key=value key=value", or "" */
    const char *dataset;
    const char *loss;       /* as listed, e.g. "hinge" or "hypersimplex@prior" */
    const char *loss_kind;  /* the loss's name without the policy */
    const char *k_policy;   /* the policy of hypersimplex@P, NULL if none (train's default) */
    long batch_size;
    long seed;
    size_t n_options;
    const hs_sweep_option *options; /* what the trainer is given, in order: dataset, loss,
                                       k-policy (if any), batch-size, seed, epochs, the set
                                       options, the varied options (the caller adds its own:
                                       threads, out, resume) */
    hs_sweep_state state;   /* as of the last hs_sweep_refresh */
    char *problem;          /* why hs_sweep_collect could not take this run, or NULL */
} hs_sweep_run;

typedef struct hs_sweep_plan {
    char *dir;              /* the sweep directory */
    size_t epochs;
    size_t n_runs;
    hs_sweep_run *runs;     /* seeds outermost, so an interrupted sweep has whole seeds done;
                               then datasets, batch sizes, variants, losses */
    struct hs_sweep_plan_data *data; /* what the runs point into */
} hs_sweep_plan;

/* The runs of the protocol in dir (nothing is read or written; states are FRESH until
 * hs_sweep_refresh). The plan holds copies of what it uses: s may be changed or freed
 * afterwards. Checks what only the whole protocol can tell (vary k-policy with no
 * plain "hypersimplex" loss, unless a preset asked for it; a hypersimplex@P loss together
 * with set k-policy). Errors: HS_ERR_ARG (those), HS_ERR_SIZE (more than
 * HS_SWEEP_MAX_RUNS runs, or a path too long), HS_ERR_NOMEM. On failure *plan is empty. */
HS_API hs_status hs_sweep_plan_build(hs_sweep_plan *plan, const hs_sweep_spec *s, const char *dir);
HS_API void hs_sweep_plan_free(hs_sweep_plan *plan);

/* The protocol file: the options every run shares (epochs, set, the varied keys), so that
 * one sweep directory never mixes protocols. If dir/sweep.conf exists it must be the plan's
 * (else HS_ERR_ARG, the message showing both); if not, it is written (atomically) when
 * write is 1. Errors: HS_ERR_ARG, HS_ERR_IO, HS_ERR_NOMEM. */
HS_API hs_status hs_sweep_protocol_check(const hs_sweep_plan *plan, int write);

/* run->state from its directory (hypersimplex/train.h: hs_run_dir_progress, and failed.txt).
 * Errors: HS_ERR_IO. */
HS_API hs_status hs_sweep_refresh(hs_sweep_run *run);

/* Marks the run failed: run->dir/failed.txt (atomically) says the trainer's exit status.
 * Errors: HS_ERR_IO, HS_ERR_NOMEM. */
HS_API hs_status hs_sweep_mark_failed(hs_sweep_run *run, int exit_status);

/* Removes the failed mark (for a retry) and refreshes the state. Errors: HS_ERR_IO. */
HS_API hs_status hs_sweep_clear_failed(hs_sweep_run *run);

/* ------------------------------------------------------------------------- */
/* Collecting                                                                */
/* ------------------------------------------------------------------------- */

typedef struct hs_sweep_collected {
    size_t n_done;          /* finished runs collected into the results */
    size_t n_unfinished;    /* runs not done (their state says why) */
    size_t n_bad;           /* finished runs that do not match the plan (run->problem) */
} hs_sweep_collected;

/* Refreshes every run and adds each finished one to *out (start from {0}): its config.json
 * must record the plan's dataset, loss, batch size, seed and epochs (and the k policy of a
 * hypersimplex@P run), and its metrics.csv exactly the plan's epochs; the results' variant is
 * the run's. A run that does not match gets run->problem and is left out. Returns HS_OK when
 * every finished run matched (unfinished runs are only counted), HS_ERR_FORMAT if some did
 * not (the message counts them; *out holds the others), HS_ERR_IO/HS_ERR_NOMEM. */
HS_API hs_status hs_sweep_collect(hs_results *out, hs_sweep_collected *counts, hs_sweep_plan *plan);

#ifdef __cplusplus
}
#endif

#endif /* HYPERSIMPLEX_SWEEP_H */
