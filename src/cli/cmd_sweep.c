/* hypersimplex sweep: the batch-size study as independent `hypersimplex train` runs
 * (losses x batch sizes x seeds x datasets x any varied option), N at a time, resumable,
 * collected into one tidy results CSV. */
#define _GNU_SOURCE /* flock, prctl, realpath */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/parsers.h"
#include "hypersimplex.h"
#include "hypersimplex/data.h"
#include "hypersimplex/loss.h"
#include "hypersimplex/study.h"
#include "util/atomic_file.h"
#include "util/dir_lock.h"
#include "util/fs.h"

#define MAX_ITEMS 64  /* entries of one list option */
#define MAX_SETS 32   /* --set options */
#define MAX_VARY 8    /* --vary axes */
#define MAX_RUNS 100000 /* runs of one sweep (the product of every list and axis) */

/* ------------------------------------------------------------------------- */
/* Options                                                                   */
/* ------------------------------------------------------------------------- */

typedef struct str_list {
    size_t n;
    char *v[MAX_ITEMS];
} str_list;

typedef struct kv {
    char *key;
    char *value;
} kv;

typedef struct axis {
    char *key;
    str_list values;
} axis;

typedef struct sweep_opts {
    char *name, *runs_dir, *results, *train_cmd;
    char *launcher; /* --emit-jobs: shell words put before each job, e.g. "srun -n 4" */
    str_list datasets, losses, batches, seeds;
    long epochs;
    size_t n_sets;
    kv sets[MAX_SETS];
    size_t n_vary;
    axis vary[MAX_VARY];
    str_list hs_policies; /* --vary k-policy=...: the k policies of the HyperSimplex losses */
    int hs_policies_preset; /* ... given by the preset (no error if no loss takes them) */
    long jobs, threads;
    int emit, collect_only, dry_run, retry_failed;
} sweep_opts;

/* Every string the options hold is owned by this pool, freed once at the end. */
typedef struct pool {
    char **s;
    size_t n, cap;
} pool;

static char *pool_dup(pool *p, const char *text)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        char **s = realloc(p->s, cap * sizeof *s);
        if (!s)
            return NULL;
        p->s = s;
        p->cap = cap;
    }
    char *d = strdup(text);
    if (d)
        p->s[p->n++] = d;
    return d;
}

static void pool_free(pool *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->s[i]);
    free(p->s);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* "a, b,c" -> list (replacing its content). */
static int parse_list(pool *p, str_list *out, const char *opt, const char *text)
{
    char *copy = pool_dup(p, text);
    if (!copy)
        return -1;
    out->n = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        tok = trim(tok);
        if (!*tok)
            continue;
        if (out->n == MAX_ITEMS) {
            cli_error("%s: more than %d entries", opt, MAX_ITEMS);
            return -1;
        }
        out->v[out->n++] = tok;
    }
    if (out->n == 0) {
        cli_error("%s: empty list", opt);
        return -1;
    }
    return 0;
}

/* A training option name: lower-case letters, digits, '-' and '_'. */
static int valid_key(const char *k)
{
    if (!*k)
        return 0;
    for (const char *c = k; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            return 0;
    return 1;
}

/* Options the sweep itself sets for every run; --set/--vary must not touch them. */
static int reserved_key(const char *k)
{
    static const char *const r[] = {"dataset", "loss", "batch-size", "seed", "epochs", "out", "resume",
                                    "threads", "help"};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (!strcmp(k, r[i]))
            return 1;
    return 0;
}

enum {
    OPT_PRESET = 256, OPT_CONFIG, OPT_NAME, OPT_RUNS_DIR, OPT_DATASET, OPT_LOSSES, OPT_BATCHES, OPT_SEEDS,
    OPT_EPOCHS, OPT_SET, OPT_VARY, OPT_JOBS, OPT_THREADS, OPT_RESULTS, OPT_EMIT, OPT_COLLECT, OPT_TRAIN_CMD, OPT_LAUNCHER,
    OPT_DRY_RUN, OPT_RETRY_FAILED
};

static const struct option longopts[] = {
    {"preset", required_argument, NULL, OPT_PRESET},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"name", required_argument, NULL, OPT_NAME},
    {"runs-dir", required_argument, NULL, OPT_RUNS_DIR},
    {"dataset", required_argument, NULL, OPT_DATASET},
    {"losses", required_argument, NULL, OPT_LOSSES},
    {"batch-sizes", required_argument, NULL, OPT_BATCHES},
    {"seeds", required_argument, NULL, OPT_SEEDS},
    {"epochs", required_argument, NULL, OPT_EPOCHS},
    {"set", required_argument, NULL, OPT_SET},
    {"vary", required_argument, NULL, OPT_VARY},
    {"jobs", required_argument, NULL, OPT_JOBS},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"results", required_argument, NULL, OPT_RESULTS},
    {"emit-jobs", no_argument, NULL, OPT_EMIT},
    {"collect-only", no_argument, NULL, OPT_COLLECT},
    {"train-cmd", required_argument, NULL, OPT_TRAIN_CMD},
    {"launcher", required_argument, NULL, OPT_LAUNCHER},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"retry-failed", no_argument, NULL, OPT_RETRY_FAILED},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

static int option_id(const char *name)
{
    for (const struct option *o = longopts; o->name; o++)
        if (!strcmp(o->name, name))
            return o->val;
    return -1;
}

/* A --losses entry: a loss name, or hypersimplex@POLICY (count, prior, fraction:F). */
static int check_loss_spec(const char *spec, const char *label)
{
    hs_loss_kind k;
    char name[128];
    const char *at = strchr(spec, '@');
    snprintf(name, sizeof name, "%.*s", at ? (int)(at - spec) : (int)strlen(spec), spec);
    if (hs_loss_kind_parse(&k, name)) {
        cli_error("%s: unknown loss '%s' (cross_entropy, hinge, mse, hypersimplex[@POLICY])", label, spec);
        return -1;
    }
    if (!at)
        return 0;
    hs_k_policy pol;
    double frac;
    if (k != HS_LOSS_HYPERSIMPLEX) {
        cli_error("%s: '%s': only hypersimplex takes a k policy", label, spec);
        return -1;
    }
    if (hs_k_policy_parse(&pol, &frac, at + 1)) {
        cli_error("%s: '%s': '%s' is not count, prior or fraction:F with F in [0, 1]", label, spec, at + 1);
        return -1;
    }
    return 0;
}

/* Checks the entries of a --dataset/--losses/--batch-sizes/--seeds list (label names the
 * option and, for a config file, the file and line). */
static int check_list(int id, const str_list *l, const char *label)
{
    for (size_t i = 0; i < l->n; i++) {
        const char *v = l->v[i];
        hs_data_kind dk;
        long n;
        if (id == OPT_DATASET && hs_data_kind_parse(&dk, v)) {
            cli_error("%s: unknown dataset '%s' (fashion-mnist, mnist, cifar10)", label, v);
            return -1;
        }
        if (id == OPT_LOSSES && check_loss_spec(v, label))
            return -1;
        if ((id == OPT_BATCHES || id == OPT_SEEDS) &&
            cli_parse_long(label, v, id == OPT_BATCHES ? 1 : 0, id == OPT_BATCHES ? 1L << 30 : LONG_MAX, &n))
            return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(v, l->v[j]) ||
                ((id == OPT_BATCHES || id == OPT_SEEDS) && strtol(v, NULL, 10) == strtol(l->v[j], NULL, 10))) {
                cli_error("%s: '%s' appears twice", label, v);
                return -1;
            }
    }
    return 0;
}

static const char *option_name(int id)
{
    for (const struct option *o = longopts; o->name; o++)
        if (o->val == id)
            return o->name;
    return "?";
}

/* Applies one option (from the command line, a config file or a preset). */
static int apply(pool *p, sweep_opts *o, int id, const char *value, const char *where)
{
    const char *opt = where ? where : "";
    char label[160]; /* "[FILE:LINE: ]--option", for every message */
    snprintf(label, sizeof label, "%s--%s", opt, option_name(id));
    str_list *list = id == OPT_DATASET ? &o->datasets
                   : id == OPT_LOSSES  ? &o->losses
                   : id == OPT_BATCHES ? &o->batches
                   : id == OPT_SEEDS   ? &o->seeds
                                       : NULL;
    switch (id) {
    case OPT_NAME:
        if (!*value || strchr(value, '/') || !strcmp(value, ".") || !strcmp(value, "..")) {
            cli_error("%s--name: '%s' must be a plain directory name", opt, value);
            return -1;
        }
        o->name = pool_dup(p, value);
        break;
    case OPT_RUNS_DIR: o->runs_dir = pool_dup(p, value); break;
    case OPT_RESULTS: o->results = pool_dup(p, value); break;
    case OPT_TRAIN_CMD: o->train_cmd = pool_dup(p, value); break;
    case OPT_LAUNCHER:
        if (!*value || strchr(value, '\n')) {
            cli_error("%s: give a command line such as \"srun -n 4\" or \"mpirun -np 4\"", label);
            return -1;
        }
        o->launcher = pool_dup(p, value);
        break;
    case OPT_DATASET:
    case OPT_LOSSES:
    case OPT_BATCHES:
    case OPT_SEEDS: return parse_list(p, list, label, value) || check_list(id, list, label) ? -1 : 0;
    case OPT_EPOCHS: return cli_parse_long(label, value, 1, 1000000, &o->epochs);
    case OPT_JOBS: return cli_parse_long(label, value, 1, 1024, &o->jobs);
    case OPT_THREADS: return cli_parse_long(label, value, 0, 1024, &o->threads);
    case OPT_SET:
    case OPT_VARY: {
        const char *name = id == OPT_SET ? "--set" : "--vary";
        char *copy = pool_dup(p, value);
        if (!copy)
            return -1;
        char *eq = strchr(copy, '=');
        /* --set KEY without a value passes the flag --KEY (e.g. no-augment). */
        if (!eq && id == OPT_VARY) {
            cli_error("%s%s: '%s' is not KEY=V1,V2,...", opt, name, value);
            return -1;
        }
        if (eq)
            *eq = '\0';
        char *key = trim(copy), *val = eq ? trim(eq + 1) : NULL;
        int arity = valid_key(key) ? cmd_train_option_arity(key) : -1;
        if (arity < 0 || reserved_key(key)) {
            cli_error("%s%s: '%s' is not a training option the sweep can %s", opt, name, key,
                      id == OPT_SET ? "set" : "vary");
            return -1;
        }
        /* a value for a flag, or an option without its value, would only fail in every run */
        if (arity == 0 && (val || id == OPT_VARY)) {
            cli_error("%s%s: --%s is a flag of hypersimplex train: write %s %s, without a value", opt,
                      name, key, name, key);
            return -1;
        }
        if (arity == 1 && (!val || !*val)) {
            cli_error("%s%s: --%s needs a value: %s %s=VALUE", opt, name, key, name, key);
            return -1;
        }
        if (val && strchr(val, ' ') && id == OPT_SET) {
            cli_error("%s%s: the value of %s must not contain blanks", opt, name, key);
            return -1;
        }
        /* A later --set or --vary of the same key replaces the earlier one. */
        o->hs_policies.n = !strcmp(key, "k-policy") ? 0 : o->hs_policies.n;
        for (size_t i = 0; i < o->n_sets; i++)
            if (!strcmp(o->sets[i].key, key)) {
                memmove(&o->sets[i], &o->sets[i + 1], (o->n_sets - i - 1) * sizeof o->sets[0]);
                o->n_sets--;
                break;
            }
        for (size_t i = 0; i < o->n_vary; i++)
            if (!strcmp(o->vary[i].key, key)) {
                memmove(&o->vary[i], &o->vary[i + 1], (o->n_vary - i - 1) * sizeof o->vary[0]);
                o->n_vary--;
                break;
            }
        if (id == OPT_VARY && !strcmp(key, "k-policy")) {
            /* k is an option of the HyperSimplex loss only: its values multiply the HS losses
             * (hypersimplex -> hypersimplex@P each), not every run (see expand_losses). */
            if (parse_list(p, &o->hs_policies, "--vary k-policy", val))
                return -1;
            o->hs_policies_preset = where && !strcmp(where, "preset: ");
        } else if (id == OPT_SET) {
            if (o->n_sets == MAX_SETS) {
                cli_error("%sat most %d --set options", opt, MAX_SETS);
                return -1;
            }
            o->sets[o->n_sets].key = key;
            o->sets[o->n_sets].value = val;
            o->n_sets++;
        } else {
            if (o->n_vary == MAX_VARY) {
                cli_error("%sat most %d --vary axes", opt, MAX_VARY);
                return -1;
            }
            axis *a = &o->vary[o->n_vary];
            a->key = key;
            if (parse_list(p, &a->values, label, val))
                return -1;
            for (size_t i = 0; i < a->values.n; i++)
                if (strchr(a->values.v[i], ' ')) {
                    cli_error("%s %s: values must not contain blanks", label, key);
                    return -1;
                }
            o->n_vary++;
        }
        break;
    }
    case OPT_EMIT: o->emit = 1; break;
    case OPT_COLLECT: o->collect_only = 1; break;
    case OPT_DRY_RUN: o->dry_run = 1; break;
    case OPT_RETRY_FAILED: o->retry_failed = 1; break;
    default: cli_error("%sunknown option", opt); return -1;
    }
    return 0;
}

/* The presets. `paper`: the paper's protocol. `small`: the scaled-down protocol chosen by
 * measuring this machine (docs/study.md explains how). */
typedef struct preset_def {
    const char *name;
    const char *const *pairs; /* option, value, option, value, ..., NULL */
} preset_def;

static const char *const paper_pairs[] = {
    "dataset", "fashion-mnist,cifar10",
    "losses", "cross_entropy,hinge,mse,hypersimplex",
    "batch-sizes", "128,256,512,1024,2048,4096,8192",
    "seeds", "0,42,1337,2025,31415",
    "epochs", "600",
    "set", "width=64",
    "set", "lr=1e-4",
    "set", "val-fraction=0", /* the authors train on the whole training set */
    "vary", "k-policy=fraction:0.5", /* the authors' code: k = floor(0.5 B) for every class */
    NULL};

/* `small`: the paper's question at a size a 2-core machine finishes in about an hour (how it
 * was chosen, from measured CPU times: docs/study.md). The batch sizes are close to the
 * paper's ratios batch / training set; the HyperSimplex loss runs under each k policy, since
 * the policy decides how well its argmax predictions do (docs/study.md, "Our own result"). */
static const char *const small_pairs[] = {
    "dataset", "fashion-mnist",
    "losses", "cross_entropy,hinge,mse,hypersimplex",
    "batch-sizes", "32,512",
    "seeds", "0,42,1337",
    "epochs", "20",
    "set", "width=16",
    "set", "lr=1e-3",
    "set", "train-limit=10000",
    "vary", "k-policy=count,prior,fraction:0.5",
    NULL};

static const preset_def presets[] = {{"paper", paper_pairs}, {"small", small_pairs}};

static int apply_preset(pool *p, sweep_opts *o, const char *name)
{
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(presets[i].name, name))
            continue;
        for (const char *const *q = presets[i].pairs; *q; q += 2)
            if (apply(p, o, option_id(q[0]), q[1], "preset: "))
                return -1;
        return 0;
    }
    cli_error("--preset: unknown preset '%s' (paper, small)", name);
    return -1;
}

typedef struct pair {
    int id;
    const char *value;
    char where[64];
} pair;

/* Reads a config file: `option = value` lines (option names as on the command line,
 * without "--"), '#' comments, blank lines. */
static int read_config(pool *p, const char *path, pair *out, size_t *n, size_t max)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_error("--config: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    int rc = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (got > 4096) {
            cli_error("%s:%zu: line too long", path, lineno);
            rc = -1;
            break;
        }
        /* the string functions below would stop at it and read half a line */
        const char *nul = memchr(line, '\0', (size_t)got);
        if (nul) {
            cli_error("%s:%zu:%zu: a NUL byte (binary data, not a text file)", path, lineno,
                      (size_t)(nul - line) + 1);
            rc = -1;
            break;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        line[strcspn(line, "\n")] = '\0';
        char *t = trim(line);
        if (!*t)
            continue;
        char *eq = strchr(t, '=');
        if (!eq) {
            cli_error("%s:%zu: expected 'option = value'", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(t), *val = trim(eq + 1);
        int id = option_id(key);
        if (id < 0 || id == OPT_CONFIG || id == OPT_EMIT || id == OPT_COLLECT || id == OPT_DRY_RUN ||
            id == OPT_RETRY_FAILED || id == 'h') {
            cli_error("%s:%zu: '%s' is not an option a config file can set", path, lineno, key);
            rc = -1;
            break;
        }
        if (*n == max) {
            cli_error("%s: too many lines", path);
            rc = -1;
            break;
        }
        out[*n].id = id;
        out[*n].value = pool_dup(p, val);
        snprintf(out[*n].where, sizeof out[*n].where, "%.40s:%zu: ", path, lineno);
        if (!out[*n].value) {
            rc = -1;
            break;
        }
        (*n)++;
    }
    free(line);
    fclose(f);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hypersimplex sweep [--preset paper|small] [--config FILE] [OPTIONS]\n\n"
            "Runs `hypersimplex train` for every combination of dataset x loss x batch size x seed\n"
            "(x every --vary value), each in its own directory RUNS/NAME/<dataset>_<loss>_b<B>_s<S>,\n"
            "N runs at a time; then collects every finished run into one tidy results CSV for\n"
            "`hypersimplex report`. Killed at any moment, the same command resumes: finished runs\n"
            "(summary.json) are skipped, partial runs continue from their checkpoint.\n\n"
            "protocol (a preset first, then the config file, then the command line):\n"
            "  --preset NAME        paper: the paper's protocol (fashion-mnist,cifar10; 4 losses;\n"
            "                       batch 128..8192; seeds 0,42,1337,2025,31415; 600 epochs;\n"
            "                       width 64; Adam lr 1e-4; no validation split; HyperSimplex\n"
            "                       with the authors' k = floor(0.5 B): k-policy fraction:0.5)\n"
            "                       small: the same question at about 25 CPU-minutes per core\n"
            "                       on 2 cores (docs/study.md)\n"
            "  --config FILE        'option = value' lines, options as below without '--'\n"
            "  --dataset LIST       datasets                          (default fashion-mnist)\n"
            "  --losses LIST        losses       (default cross_entropy,hinge,mse,hypersimplex);\n"
            "                       hypersimplex@P: the HyperSimplex loss with k policy P (count,\n"
            "                       prior, fraction:F), run as <dataset>_hypersimplex_P_b<B>_s<S>\n"
            "  --batch-sizes LIST   batch sizes                       (default 128,8192)\n"
            "  --seeds LIST         seeds                             (default 0,42,1337)\n"
            "  --epochs N           epochs per run                    (default 10)\n"
            "  --set KEY=VALUE      pass --KEY VALUE to every run (repeatable), e.g. width=64;\n"
            "                       --set KEY passes the flag --KEY (e.g. no-augment)\n"
            "  --vary KEY=V1,V2     one more axis: a run per value (repeatable); the results'\n"
            "                       `variant` column names it. Except k-policy, an option of the\n"
            "                       HyperSimplex loss only: --vary k-policy=count,fraction:0.5\n"
            "                       turns the loss hypersimplex into hypersimplex@count and\n"
            "                       hypersimplex@fraction:0.5 (the other losses run once)\n"
            "execution:\n"
            "  --name NAME          sweep name                  (default: the preset or 'sweep')\n"
            "  --runs-dir DIR       where the run directories go              (default runs)\n"
            "  --jobs N             runs at the same time                      (default 1)\n"
            "  --threads T          threads per run; 0 = cores / jobs          (default 0)\n"
            "  --results FILE       results CSV           (default RUNS/NAME/results.csv)\n"
            "  --emit-jobs          print one shell command per unfinished run (for a Slurm job\n"
            "                       array or GNU parallel) and run nothing; each has --resume, so\n"
            "                       a killed job can simply be resubmitted; afterwards collect\n"
            "                       with the same options plus --collect-only\n"
            "  --launcher CMD       with --emit-jobs: put CMD (shell text) before every job, e.g.\n"
            "                       \"srun -n 4\" or \"mpirun -np 4\" for data-parallel runs\n"
            "  --collect-only       train nothing; collect the finished runs into the CSV\n"
            "  --dry-run            list the runs and their state; change nothing\n"
            "  --retry-failed       run again the runs that failed before (failed.txt)\n"
            "  --train-cmd PATH     executable run as `PATH ARGS...` instead of\n"
            "                       `<this hypersimplex> train ARGS...` (for tests)\n"
            "  -h, --help           this help\n\n"
            "exit status: 0 all runs finished and collected, 1 some run failed or is unfinished\n"
            "(the CSV holds the finished ones), 2 bad usage.\n");
}

/* ------------------------------------------------------------------------- */
/* Runs                                                                      */
/* ------------------------------------------------------------------------- */

enum run_state { RUN_FRESH, RUN_PARTIAL, RUN_DONE, RUN_FAILED, RUN_BUSY };
static const char *const state_names[] = {"not started", "partial", "done", "failed", "running elsewhere"};

typedef struct run {
    const char *dataset, *loss; /* loss: as listed, e.g. "hinge" or "hypersimplex@prior" */
    const char *kind, *policy;  /* the loss name and its k policy (NULL: train's default) */
    long batch, seed;
    size_t vary_idx[MAX_VARY];
    char *dir;      /* RUNS/NAME/<id> */
    char *id;       /* <dataset>_<loss>_b<B>_s<S>[_<key><value>...] */
    char *variant;  /* "key=value key=value" or "" */
    enum run_state state;
} run;

static int file_exists(const char *dir, const char *name)
{
    char *path = hs_path_join(dir, name);
    int yes = path && hs_path_exists(path);
    free(path);
    return yes;
}

/* hs_mkdirs, saying why it failed. */
static int make_dirs(const char *dir)
{
    hs_status st = hs_mkdirs(dir);
    if (st)
        cli_status_error("sweep", st);
    return st ? -1 : 0;
}

static void safe_append(char *dst, size_t n, const char *text)
{
    size_t len = strlen(dst);
    for (const char *c = text; *c && len + 1 < n; c++) {
        char ch = *c;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '-'))
            ch = '_';
        dst[len++] = ch;
    }
    dst[len] = '\0';
}

static void refresh_state(run *r)
{
    if (file_exists(r->dir, "summary.json"))
        r->state = RUN_DONE;
    else if (file_exists(r->dir, "failed.txt"))
        r->state = RUN_FAILED;
    else if (file_exists(r->dir, "checkpoint.bin"))
        r->state = RUN_PARTIAL;
    else
        r->state = RUN_FRESH;
}

/* Builds the runs: seeds outermost, so that an interrupted sweep has whole seeds done.
 * Returns 0, -1 when out of memory, -2 (after saying so) when there are more than MAX_RUNS. */
static int build_runs(pool *p, const sweep_opts *o, const char *sweep_dir, run **out, size_t *n_out)
{
    size_t n_var = 1, n = 1;
    const size_t factors[4] = {o->seeds.n, o->datasets.n, o->batches.n, o->losses.n};
    for (size_t a = 0; a < o->n_vary && n_var <= MAX_RUNS; a++)
        n_var *= o->vary[a].values.n;
    for (int f = 0; f < 4 && n <= MAX_RUNS; f++)
        n *= factors[f];
    if (n_var > MAX_RUNS || n * n_var > MAX_RUNS) {
        cli_error("the sweep has more than %d runs (seeds x datasets x batch sizes x losses x every "
                  "--vary axis): split it into several sweeps", MAX_RUNS);
        return -2;
    }
    n *= n_var;
    run *runs = calloc(n, sizeof *runs);
    if (!runs)
        return -1;
    size_t k = 0;
    for (size_t s = 0; s < o->seeds.n; s++)
        for (size_t d = 0; d < o->datasets.n; d++)
            for (size_t b = 0; b < o->batches.n; b++)
                for (size_t v = 0; v < n_var; v++)
                    for (size_t l = 0; l < o->losses.n; l++) {
                        run *r = &runs[k++];
                        r->dataset = o->datasets.v[d];
                        r->loss = o->losses.v[l];
                        r->batch = strtol(o->batches.v[b], NULL, 10);
                        r->seed = strtol(o->seeds.v[s], NULL, 10);
                        char id[512], variant[512], loss_id[256];
                        const char *at = strchr(r->loss, '@');
                        r->kind = at ? pool_dup(p, r->loss) : r->loss;
                        if (!r->kind) {
                            free(runs);
                            return -1;
                        }
                        if (at) {
                            ((char *)r->kind)[at - r->loss] = '\0';
                            r->policy = at + 1;
                        }
                        /* hypersimplex@fraction:0.5 -> hypersimplex_fraction_0.5 */
                        loss_id[0] = '\0';
                        safe_append(loss_id, sizeof loss_id, r->loss);
                        snprintf(id, sizeof id, "%s_%s_b%ld_s%ld", r->dataset, loss_id, r->batch, r->seed);
                        variant[0] = '\0';
                        size_t rest = v;
                        for (size_t a = o->n_vary; a-- > 0;) {
                            r->vary_idx[a] = rest % o->vary[a].values.n;
                            rest /= o->vary[a].values.n;
                        }
                        for (size_t a = 0; a < o->n_vary; a++) {
                            const char *val = o->vary[a].values.v[r->vary_idx[a]];
                            size_t len = strlen(variant);
                            snprintf(variant + len, sizeof variant - len, "%s%s=%s", a ? " " : "", o->vary[a].key,
                                     val);
                            safe_append(id, sizeof id, "_");
                            safe_append(id, sizeof id, o->vary[a].key);
                            safe_append(id, sizeof id, val);
                        }
                        char dir[PATH_MAX];
                        if (snprintf(dir, sizeof dir, "%s/%s", sweep_dir, id) >= (int)sizeof dir) {
                            free(runs);
                            return -1;
                        }
                        r->dir = pool_dup(p, dir);
                        r->id = pool_dup(p, id);
                        r->variant = pool_dup(p, variant);
                        if (!r->dir || !r->id || !r->variant) {
                            free(runs);
                            return -1;
                        }
                    }
    *out = runs;
    *n_out = n;
    return 0;
}

/* The argument vector of one run (NULL-terminated), strings owned by the pool. --resume is
 * passed for a partial run, or always if always_resume (train's --resume starts afresh when
 * there is no checkpoint, so an emitted job can be resubmitted as it is). */
static char **run_argv(pool *p, const sweep_opts *o, const run *r, const char *exe, long threads,
                       int always_resume)
{
    size_t cap = 32 + 2 * (o->n_sets + o->n_vary);
    char **av = calloc(cap, sizeof *av);
    if (!av)
        return NULL;
    size_t n = 0;
    char num[64];
#define PUSH(s) (av[n++] = pool_dup(p, (s)))
    PUSH(exe);
    if (!o->train_cmd)
        PUSH("train");
    PUSH("--dataset");
    PUSH(r->dataset);
    PUSH("--loss");
    PUSH(r->kind);
    if (r->policy) {
        PUSH("--k-policy");
        PUSH(r->policy);
    }
    PUSH("--batch-size");
    snprintf(num, sizeof num, "%ld", r->batch);
    PUSH(num);
    PUSH("--seed");
    snprintf(num, sizeof num, "%ld", r->seed);
    PUSH(num);
    PUSH("--epochs");
    snprintf(num, sizeof num, "%ld", o->epochs);
    PUSH(num);
    for (size_t i = 0; i < o->n_sets; i++) {
        snprintf(num, sizeof num, "--%s", o->sets[i].key);
        PUSH(num);
        if (o->sets[i].value)
            PUSH(o->sets[i].value);
    }
    for (size_t a = 0; a < o->n_vary; a++) {
        snprintf(num, sizeof num, "--%s", o->vary[a].key);
        PUSH(num);
        PUSH(o->vary[a].values.v[r->vary_idx[a]]);
    }
    PUSH("--threads");
    snprintf(num, sizeof num, "%ld", threads);
    PUSH(num);
    PUSH("--out");
    PUSH(r->dir);
    if (r->state == RUN_PARTIAL || always_resume)
        PUSH("--resume");
#undef PUSH
    for (size_t i = 0; i < n; i++)
        if (!av[i]) {
            free(av);
            return NULL;
        }
    av[n] = NULL;
    return av;
}

static void print_shell_word(FILE *f, const char *w)
{
    int plain = *w != '\0';
    for (const char *c = w; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%", *c))
            plain = 0;
    if (plain) {
        fputs(w, f);
        return;
    }
    fputc('\'', f);
    for (const char *c = w; *c; c++) {
        if (*c == '\'')
            fputs("'\\''", f);
        else
            fputc(*c, f);
    }
    fputc('\'', f);
}

/* The protocol every run of a sweep shares; a sweep directory keeps it in sweep.conf and
 * refuses to mix runs of different protocols. */
static char *protocol_text(const sweep_opts *o)
{
    size_t cap = 4096 + 256 * (o->n_sets + o->n_vary);
    char *t = malloc(cap);
    if (!t)
        return NULL;
    size_t n = (size_t)snprintf(t, cap,
                                "# hypersimplex sweep: the options every run of this sweep shares.\n"
                                "# A sweep directory holds runs of one protocol only.\n"
                                "epochs = %ld\n", o->epochs);
    for (size_t i = 0; i < o->n_sets && n < cap; i++)
        n += (size_t)snprintf(t + n, cap - n, "set = %s%s%s\n", o->sets[i].key, o->sets[i].value ? "=" : "",
                              o->sets[i].value ? o->sets[i].value : "");
    for (size_t a = 0; a < o->n_vary && n < cap; a++)
        n += (size_t)snprintf(t + n, cap - n, "vary-axis = %s\n", o->vary[a].key);
    return t;
}

static int check_protocol(const sweep_opts *o, const char *sweep_dir, int write_it)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/sweep.conf", sweep_dir) >= (int)sizeof path)
        return -1;
    char *want = protocol_text(o);
    if (!want)
        return -1;
    FILE *f = fopen(path, "r");
    if (f) {
        char have[16384];
        size_t got = fread(have, 1, sizeof have - 1, f);
        have[got] = '\0';
        fclose(f);
        if (strcmp(have, want)) {
            cli_error("%s was made with a different protocol:\n--- %s\n%s--- now\n%s"
                      "use another --name (or --runs-dir) for a different protocol",
                      sweep_dir, path, have, want);
            free(want);
            return -1;
        }
    } else if (write_it) {
        hs_atomic_file af;
        hs_status st = hs_atomic_open_text(&af, sweep_dir, "sweep.conf", want);
        if (!st)
            st = hs_atomic_commit(&af);
        if (st) {
            cli_status_error("sweep", st);
            free(want);
            return -1;
        }
    }
    free(want);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Running                                                                   */
/* ------------------------------------------------------------------------- */

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void on_child(int sig)
{
    (void)sig; /* only wakes sigsuspend() */
}

typedef struct slot {
    pid_t pid;
    size_t run;
    double t0;
} slot;

/* Starts one run: output appended to DIR/train.log, the run's lock held by the child for
 * its lifetime, the child killed if the sweep dies. Returns the pid, 0 if the run is
 * locked by another process, -1 on failure. */
static pid_t start_run(run *r, char **av, const sigset_t *child_mask)
{
    char path[PATH_MAX];
    if (make_dirs(r->dir))
        return -1;
    /* The sweep takes the run's lock (so that a busy run is skipped, not failed) and hands
     * it to the trainer, which would otherwise find its directory locked by its parent. */
    hs_dir_lock lock;
    int busy = 0;
    hs_status ls = hs_dir_lock_take(&lock, r->dir, &busy);
    if (ls) {
        if (busy)
            return 0;
        cli_status_error("sweep", ls);
        return -1;
    }
    snprintf(path, sizeof path, "%s/train.log", r->dir);
    int log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (log < 0) {
        cli_error("cannot open %s: %s", path, strerror(errno));
        hs_dir_lock_release(&lock);
        return -1;
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
#endif
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        sigprocmask(SIG_SETMASK, child_mask, NULL);
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd >= 0)
            dup2(null_fd, 0);
        dup2(log, 1);
        dup2(log, 2);
        /* Keep the lock across exec: the run's directory stays locked while it trains. */
        int fl = fcntl(lock.fd, F_GETFD);
        char fd_text[16];
        snprintf(fd_text, sizeof fd_text, "%d", lock.fd);
        if (fl < 0 || fcntl(lock.fd, F_SETFD, fl & ~FD_CLOEXEC) || setenv(HS_DIR_LOCK_FD_ENV, fd_text, 1)) {
            fprintf(stderr, "cannot hand the lock of %s to the trainer: %s\n", r->dir, strerror(errno));
            _exit(127);
        }
        execv(av[0], av);
        fprintf(stderr, "cannot execute %s: %s\n", av[0], strerror(errno));
        _exit(127);
    }
    (void)parent;
    close(log);
    hs_dir_lock_release(&lock);
    if (pid < 0) {
        cli_error("fork failed: %s", strerror(errno));
        return -1;
    }
    return pid;
}

static void print_log_tail(const run *r)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/train.log", r->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char lines[5][512];
    int n = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        memmove(lines[0], lines[1], sizeof lines[0] * 4);
        snprintf(lines[4], sizeof lines[4], "%s", line);
        n++;
    }
    fclose(f);
    int show = n < 5 ? n : 5;
    for (int i = 5 - show; i < 5; i++)
        fprintf(stderr, "    | %s%s", lines[i], strchr(lines[i], '\n') ? "" : "\n");
}

static void write_failed(const run *r, int code)
{
    hs_atomic_file af;
    char text[128];
    snprintf(text, sizeof text, "exit status %d; see train.log. Rerun with --retry-failed to try again.\n", code);
    hs_status st = hs_atomic_open_text(&af, r->dir, "failed.txt", text);
    if (!st)
        st = hs_atomic_commit(&af);
    if (st)
        cli_status_error("sweep: marking the run failed", st);
}

static void fmt_duration(char *buf, size_t n, double s)
{
    if (s < 90)
        snprintf(buf, n, "%.0f s", s);
    else if (s < 5400)
        snprintf(buf, n, "%.1f min", s / 60);
    else
        snprintf(buf, n, "%.1f h", s / 3600);
}

/* Runs every pending run, jobs at a time. Returns 0, or 1 if a run failed / the sweep was
 * interrupted, 2 if a run reported bad usage (then nothing more is started). */
static int execute(pool *p, const sweep_opts *o, run *runs, size_t n_runs, const char *exe, long threads)
{
    size_t *todo = malloc(n_runs * sizeof *todo);
    slot *slots = calloc((size_t)o->jobs, sizeof *slots);
    if (!todo || !slots) {
        free(todo);
        free(slots);
        return 1;
    }
    size_t n_todo = 0, n_done_before = 0;
    for (size_t i = 0; i < n_runs; i++) {
        if (runs[i].state == RUN_FAILED && o->retry_failed) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/failed.txt", runs[i].dir);
            remove(path);
            refresh_state(&runs[i]);
        }
        if (runs[i].state == RUN_FRESH || runs[i].state == RUN_PARTIAL)
            todo[n_todo++] = i;
        else if (runs[i].state == RUN_DONE)
            n_done_before++;
    }
    printf("sweep: %zu runs, %zu already done, %zu to run, %ld at a time, %ld thread%s each\n", n_runs,
           n_done_before, n_todo, o->jobs, threads, threads == 1 ? "" : "s");
    fflush(stdout);

    /* SIGINT, SIGTERM and SIGCHLD stay blocked except inside sigsuspend(), so a signal can
     * never slip in between checking the stop flag and going to sleep. */
    struct sigaction sa, old_int, old_term, old_chld;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = on_child;
    sigaction(SIGCHLD, &sa, &old_chld);
    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &old_mask);

    int rc = 0, stop_starting = 0, children_stopped = 0;
    size_t next = 0, running = 0, finished = 0;
    double t_start = hs_now(), busy_time = 0.0;
    char dur[32], eta[32];
    for (;;) {
        while (running < (size_t)o->jobs && next < n_todo && !stop_starting && !stop_signal) {
            run *r = &runs[todo[next++]];
            refresh_state(r);
            if (r->state == RUN_DONE || r->state == RUN_FAILED)
                continue;
            char **av = run_argv(p, o, r, exe, threads, 0);
            if (!av) {
                stop_starting = 1;
                rc = 1;
                break;
            }
            pid_t pid = start_run(r, av, &old_mask);
            int resumed = r->state == RUN_PARTIAL;
            free(av);
            if (pid == 0) {
                printf("[skip] %s: running in another process (its directory is locked)\n", r->id);
                r->state = RUN_BUSY;
                continue;
            }
            if (pid < 0) {
                stop_starting = 1;
                rc = 1;
                break;
            }
            for (long j = 0; j < o->jobs; j++)
                if (slots[j].pid == 0) {
                    slots[j].pid = pid;
                    slots[j].run = (size_t)(r - runs);
                    slots[j].t0 = hs_now();
                    break;
                }
            running++;
            printf("[start] %s%s\n", r->id, resumed ? " (resuming from its checkpoint)" : "");
            fflush(stdout);
        }
        if (running == 0)
            break;
        if (stop_signal && !children_stopped) {
            /* Stop the trainers; their checkpoints let the next sweep resume. */
            for (long j = 0; j < o->jobs; j++)
                if (slots[j].pid > 0)
                    kill(slots[j].pid, SIGTERM);
            children_stopped = 1;
        }
        int status = 0;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0) {
            cli_error("waitpid: %s", strerror(errno));
            rc = 1;
            break;
        }
        if (pid == 0) {
            sigsuspend(&old_mask); /* until a child exits or a stop signal arrives */
            continue;
        }
        long j = 0;
        while (j < o->jobs && slots[j].pid != pid)
            j++;
        if (j == o->jobs)
            continue;
        run *r = &runs[slots[j].run];
        double took = hs_now() - slots[j].t0;
        slots[j].pid = 0;
        running--;
        refresh_state(r);
        fmt_duration(dur, sizeof dur, took);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && r->state == RUN_DONE) {
            finished++;
            busy_time += took;
            size_t left = (n_todo - next) + running;
            double per = busy_time / (double)finished;
            fmt_duration(eta, sizeof eta, per * (double)left / (double)o->jobs);
            printf("[done] %s in %s (%zu/%zu this session; about %s left)\n", r->id, dur, finished, n_todo,
                   left ? eta : "0 s");
        } else if (WIFSIGNALED(status) || stop_signal) {
            printf("[stopped] %s after %s (%s); it resumes from its checkpoint next time\n", r->id, dur,
                   WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "interrupted");
            rc = 1;
        } else {
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            fprintf(stderr, "[failed] %s: exit status %d after %s; last lines of %s/train.log:\n", r->id, code,
                    dur, r->dir);
            print_log_tail(r);
            if (code == 0)
                fprintf(stderr, "    (exit status 0 but no summary.json: the run did not finish)\n");
            if (code == 2 || code == 126 || code == 127) {
                cli_error("the train command rejected its arguments or could not run: "
                          "stopping the sweep (nothing is marked failed)");
                stop_starting = 1;
                rc = 2;
            } else {
                write_failed(r, code);
                r->state = RUN_FAILED;
                if (rc == 0)
                    rc = 1;
            }
        }
        fflush(stdout);
    }
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGCHLD, &old_chld, NULL);
    if (stop_signal) {
        fprintf(stderr, "sweep interrupted (%s): run the same command again to resume\n", strsignal(stop_signal));
        rc = rc ? rc : 1;
    }
    fmt_duration(dur, sizeof dur, hs_now() - t_start);
    printf("sweep: %zu run%s finished in %s\n", finished, finished == 1 ? "" : "s", dur);
    free(todo);
    free(slots);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Collecting                                                                */
/* ------------------------------------------------------------------------- */

/* The value of "key" in a flat JSON object, as text (strings unquoted); 0 if found. */
static int json_value(const char *json, const char *key, char *out, size_t n)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = json;
    while ((p = strstr(p, pat))) {
        const char *q = p + strlen(pat);
        while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
            q++;
        if (*q != ':') {
            p = q;
            continue;
        }
        q++;
        while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
            q++;
        size_t k = 0;
        if (*q == '"') {
            q++;
            while (*q && *q != '"' && k + 1 < n)
                out[k++] = *q++;
        } else {
            while (*q && !strchr(",}\n\r \t", *q) && k + 1 < n)
                out[k++] = *q++;
        }
        out[k] = '\0';
        return 0;
    }
    return -1;
}

/* Checks that the run's config.json describes the run the sweep expects. */
static int check_config(const run *r, long epochs)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/config.json", r->dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_error("%s: missing config.json", r->dir);
        return -1;
    }
    char json[65536];
    size_t got = fread(json, 1, sizeof json - 1, f);
    json[got] = '\0';
    fclose(f);
    char v[256], want[64];
    struct {
        const char *key;
        const char *want;
    } checks[5] = {{"dataset", r->dataset}, {"loss", r->kind}, {"batch_size", NULL}, {"seed", NULL}, {"epochs", NULL}};
    long nums[3] = {r->batch, r->seed, epochs};
    for (int i = 0; i < 5; i++) {
        if (json_value(json, checks[i].key, v, sizeof v))
            continue; /* not recorded: nothing to compare */
        if (i < 2) {
            if (strcmp(v, checks[i].want)) {
                cli_error("%s: config.json has %s = %s, the sweep expects %s", r->dir, checks[i].key, v,
                          checks[i].want);
                return -1;
            }
        } else {
            snprintf(want, sizeof want, "%ld", nums[i - 2]);
            if (strcmp(v, want)) {
                cli_error("%s: config.json has %s = %s, the sweep expects %s", r->dir, checks[i].key, v, want);
                return -1;
            }
        }
    }
    /* The k policy of a hypersimplex@P run (runs by other trainers may not record it). */
    hs_k_policy pol;
    double frac = 0;
    if (r->policy && !hs_k_policy_parse(&pol, &frac, r->policy) && !json_value(json, "k_policy", v, sizeof v)) {
        int same = !strcmp(v, hs_k_policy_name(pol));
        if (same && pol == HS_K_FRACTION && !json_value(json, "k_fraction", v, sizeof v))
            same = strtod(v, NULL) == frac;
        if (!same) {
            cli_error("%s: config.json records another k policy than %s", r->dir, r->policy);
            return -1;
        }
    }
    return 0;
}

static int collect(const sweep_opts *o, run *runs, size_t n_runs, const char *results_path)
{
    hs_results res = {0};
    size_t n_ok = 0, n_missing = 0;
    int rc = 0;
    for (size_t i = 0; i < n_runs; i++) {
        run *r = &runs[i];
        refresh_state(r);
        if (r->state != RUN_DONE) {
            if (n_missing < 20)
                fprintf(stderr, "collect: %s is %s\n", r->id, state_names[r->state]);
            n_missing++;
            continue;
        }
        if (check_config(r, o->epochs)) {
            rc = 2;
            continue;
        }
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/metrics.csv", r->dir);
        hs_run_curve c;
        hs_status s = hs_run_read_metrics(&c, path, r->dataset, r->variant, r->loss, r->batch, r->seed);
        if (s) {
            cli_status_error("collect", s);
            rc = 2;
            continue;
        }
        if (c.epochs != (size_t)o->epochs) {
            cli_error("%s: %zu epochs recorded, the sweep asks for %ld", path, c.epochs, o->epochs);
            hs_run_curve_free(&c);
            rc = 2;
            continue;
        }
        s = hs_results_add(&res, &c);
        if (s) {
            cli_status_error("collect", s);
            hs_run_curve_free(&c);
            rc = 1;
            continue;
        }
        n_ok++;
    }
    if (n_missing > 20)
        fprintf(stderr, "collect: ... and %zu more unfinished runs\n", n_missing - 20);
    if (rc == 0 && n_ok > 0) {
        hs_status s = hs_results_write(&res, results_path);
        if (s) {
            cli_status_error("writing results", s);
            rc = 1;
        }
    }
    if (rc == 0) {
        if (n_ok)
            printf("collected %zu of %zu runs into %s\n", n_ok, n_runs, results_path);
        else
            printf("no finished runs to collect yet (%zu runs)\n", n_runs);
        if (n_missing)
            rc = 1;
    } else {
        fprintf(stderr, "collect: results not written (the errors above need fixing first)\n");
    }
    hs_results_free(&res);
    return rc;
}

/* ------------------------------------------------------------------------- */

/* --vary k-policy=P1,P2: every plain "hypersimplex" of --losses becomes hypersimplex@P1,
 * hypersimplex@P2 (k is an option of that loss alone, so the other losses run once; the
 * policy is part of the loss's name in the run directory and in the results). */
static int expand_losses(pool *p, sweep_opts *o)
{
    if (o->hs_policies.n == 0)
        return 0;
    str_list out = {0};
    int found = 0;
    for (size_t i = 0; i < o->losses.n; i++) {
        int plain_hs = !strcmp(o->losses.v[i], "hypersimplex");
        size_t n_new = plain_hs ? o->hs_policies.n : 1;
        if (out.n + n_new > MAX_ITEMS) {
            cli_error("--losses with --vary k-policy: more than %d losses", MAX_ITEMS);
            return -1;
        }
        if (!plain_hs) {
            out.v[out.n++] = o->losses.v[i];
            continue;
        }
        found = 1;
        for (size_t k = 0; k < o->hs_policies.n; k++) {
            char spec[256];
            snprintf(spec, sizeof spec, "hypersimplex@%s", o->hs_policies.v[k]);
            if (!(out.v[out.n++] = pool_dup(p, spec)))
                return -1;
        }
    }
    if (!found && !o->hs_policies_preset) {
        cli_error("--vary k-policy: --losses has no plain 'hypersimplex' whose k policy could vary");
        return -1;
    }
    o->losses = out;
    return 0;
}

/* What only the whole protocol can tell: a hypersimplex@POLICY loss and --set k-policy would
 * both set the policy of one run. */
static int validate(const sweep_opts *o)
{
    int set_policy = 0;
    for (size_t i = 0; i < o->n_sets; i++)
        set_policy |= !strcmp(o->sets[i].key, "k-policy");
    for (size_t i = 0; i < o->losses.n && set_policy; i++)
        if (strchr(o->losses.v[i], '@')) {
            cli_error("--losses: '%s' sets the k policy that --set k-policy sets too", o->losses.v[i]);
            return -1;
        }
    return 0;
}

/* Defaults, then the preset (*preset, else the config file's), then the config file, then
 * the command line; validated. Returns 0, or the exit status after cli_error. */
static int resolve_options(pool *p, sweep_opts *o, const char **preset, const char *config,
                           const pair *cli, size_t n_cli)
{
    pair cfg[256];
    size_t n_cfg = 0;
    o->epochs = 10;
    o->jobs = 1;
    if (apply(p, o, OPT_DATASET, "fashion-mnist", NULL) ||
        apply(p, o, OPT_LOSSES, "cross_entropy,hinge,mse,hypersimplex", NULL) ||
        apply(p, o, OPT_BATCHES, "128,8192", NULL) || apply(p, o, OPT_SEEDS, "0,42,1337", NULL))
        return 1;
    if (config && read_config(p, config, cfg, &n_cfg, sizeof cfg / sizeof cfg[0]))
        return 2;
    if (!*preset)
        for (size_t i = 0; i < n_cfg; i++)
            if (cfg[i].id == OPT_PRESET)
                *preset = cfg[i].value;
    if (*preset && apply_preset(p, o, *preset))
        return 2;
    for (size_t i = 0; i < n_cfg; i++)
        if (cfg[i].id != OPT_PRESET && apply(p, o, cfg[i].id, cfg[i].value, cfg[i].where))
            return 2;
    for (size_t i = 0; i < n_cli; i++)
        if (apply(p, o, cli[i].id, cli[i].value, NULL))
            return 2;
    return expand_losses(p, o) || validate(o) ? 2 : 0;
}

int sweep_config_check(const char *path)
{
    pool p = {0};
    sweep_opts o;
    memset(&o, 0, sizeof o);
    const char *preset = NULL;
    int rc = resolve_options(&p, &o, &preset, path, NULL, 0);
    pool_free(&p);
    return rc;
}

int cmd_sweep(int argc, char **argv)
{
    pool p = {0};
    sweep_opts o;
    memset(&o, 0, sizeof o);
    pair cli[256];
    size_t n_cli = 0;
    const char *config = NULL, *preset = NULL;
    int rc = 0;
    run *runs = NULL;

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            pool_free(&p);
            return 0;
        }
        if (c == ':' || c == '?') {
            cli_error(c == ':' ? "%s needs a value (see hypersimplex sweep --help)"
                               : "unknown option '%s' (see hypersimplex sweep --help)",
                      argv[optind - 1]);
            pool_free(&p);
            return 2;
        }
        if (c == OPT_CONFIG)
            config = optarg;
        else if (c == OPT_PRESET)
            preset = optarg;
        else if (n_cli == sizeof cli / sizeof cli[0]) {
            cli_error("more than %zu options", sizeof cli / sizeof cli[0]);
            pool_free(&p);
            return 2;
        } else {
            cli[n_cli].id = c;
            cli[n_cli].value = optarg ? optarg : "";
            cli[n_cli].where[0] = '\0';
            n_cli++;
        }
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s' (see hypersimplex sweep --help)", argv[optind]);
        pool_free(&p);
        return 2;
    }

    rc = resolve_options(&p, &o, &preset, config, cli, n_cli);
    if (rc) {
        pool_free(&p);
        return rc;
    }
    if (o.emit + o.collect_only + o.dry_run > 1) {
        cli_error("--emit-jobs, --collect-only and --dry-run exclude each other");
        pool_free(&p);
        return 2;
    }
    if (o.launcher && !o.emit) {
        cli_error("--launcher applies to --emit-jobs only");
        pool_free(&p);
        return 2;
    }
    if (!o.name)
        o.name = pool_dup(&p, preset ? preset : "sweep");
    if (!o.runs_dir)
        o.runs_dir = pool_dup(&p, "runs");

    /* The train executable: this very program (found via /proc/self/exe) unless --train-cmd. */
    char exe[PATH_MAX];
    if (o.train_cmd) {
        if (!realpath(o.train_cmd, exe)) {
            cli_error("--train-cmd: %s: %s", o.train_cmd, strerror(errno));
            pool_free(&p);
            return 2;
        }
    } else {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) {
            cli_error("cannot find this executable via /proc/self/exe: %s", strerror(errno));
            pool_free(&p);
            return 1;
        }
        exe[n] = '\0';
    }
    if (make_dirs(o.runs_dir)) {
        pool_free(&p);
        return 1;
    }
    char runs_abs[PATH_MAX], sweep_dir[PATH_MAX], results_path[PATH_MAX];
    if (!realpath(o.runs_dir, runs_abs)) {
        cli_error("%s: %s", o.runs_dir, strerror(errno));
        pool_free(&p);
        return 1;
    }
    int len = snprintf(sweep_dir, sizeof sweep_dir, "%s/%s", runs_abs, o.name);
    if (len > 0 && (size_t)len < sizeof sweep_dir)
        len = o.results ? snprintf(results_path, sizeof results_path, "%s", o.results)
                        : snprintf(results_path, sizeof results_path, "%s/results.csv", sweep_dir);
    if (len < 0 || (size_t)len >= sizeof results_path || strlen(sweep_dir) + 600 >= PATH_MAX) {
        cli_error("the path of the sweep directory is too long");
        pool_free(&p);
        return 2;
    }
    if (!o.dry_run && make_dirs(sweep_dir)) {
        pool_free(&p);
        return 1;
    }
    if (check_protocol(&o, sweep_dir, !o.dry_run)) {
        pool_free(&p);
        return 2;
    }
    size_t n_runs = 0;
    int built = build_runs(&p, &o, sweep_dir, &runs, &n_runs);
    if (built) {
        if (built == -1)
            cli_error("out of memory");
        pool_free(&p);
        return built == -2 ? 2 : 1;
    }
    for (size_t i = 0; i < n_runs; i++)
        refresh_state(&runs[i]);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long threads = o.threads > 0 ? o.threads : (cores > o.jobs ? cores / o.jobs : 1);

    if (o.dry_run) {
        printf("sweep %s: %zu runs in %s\n", o.name, n_runs, sweep_dir);
        for (size_t i = 0; i < n_runs; i++)
            printf("  %-48s %s%s%s\n", runs[i].id, state_names[runs[i].state], *runs[i].variant ? "  " : "",
                   runs[i].variant);
    } else if (o.emit) {
        size_t n = 0;
        for (size_t i = 0; i < n_runs; i++) {
            run *r = &runs[i];
            if (r->state != RUN_FRESH && r->state != RUN_PARTIAL && !(r->state == RUN_FAILED && o.retry_failed))
                continue;
            if (r->state == RUN_FAILED)
                r->state = file_exists(r->dir, "checkpoint.bin") ? RUN_PARTIAL : RUN_FRESH;
            if (make_dirs(r->dir)) {
                rc = 1;
                break;
            }
            char **av = run_argv(&p, &o, r, exe, threads, 1);
            if (!av) {
                rc = 1;
                break;
            }
            if (o.launcher) /* shell text of the user's, as given */
                printf("%s ", o.launcher);
            for (size_t k = 0; av[k]; k++) {
                if (k)
                    fputc(' ', stdout);
                print_shell_word(stdout, av[k]);
            }
            char log[PATH_MAX];
            snprintf(log, sizeof log, "%s/train.log", r->dir);
            fputs(" >> ", stdout);
            print_shell_word(stdout, log);
            fputs(" 2>&1\n", stdout);
            free(av);
            n++;
        }
        fprintf(stderr, "%zu job(s) printed (%zu runs in total). When they have finished, collect with the "
                        "same options plus --collect-only.\n", n, n_runs);
    } else {
        if (!o.collect_only)
            rc = execute(&p, &o, runs, n_runs, exe, threads);
        if (rc != 2) {
            int crc = collect(&o, runs, n_runs, results_path);
            if (crc > rc)
                rc = crc;
        }
    }
    free(runs);
    pool_free(&p);
    return rc;
}
