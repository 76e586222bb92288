/* hypersimplex sweep: the batch-size study (hypersimplex/sweep.h) run as independent
 * `hypersimplex train` processes, N at a time, resumable, collected into one tidy results
 * CSV. The protocol, the runs, their states and the collection are the library's; this file
 * parses options, keeps the process pool and prints. */
#define _GNU_SOURCE /* prctl, realpath, strsignal */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#include "hypersimplex/study.h"
#include "hypersimplex/sweep.h"
#include "util/dir_lock.h"
#include "util/fs.h"

/* How the sweep is carried out (the protocol itself is the library's hs_sweep_spec). */
typedef struct sweep_exec {
    const char *name, *runs_dir, *results, *train_cmd;
    const char *launcher; /* --emit-jobs: shell words put before each job, e.g. "srun -n 4" */
    long jobs, threads;
    int emit, collect_only, dry_run, retry_failed;
} sweep_exec;

enum {
    OPT_PRESET = 256, OPT_CONFIG, OPT_NAME, OPT_RUNS_DIR, OPT_DATASET, OPT_LOSSES, OPT_BATCHES, OPT_SEEDS,
    OPT_EPOCHS, OPT_SET, OPT_VARY, OPT_JOBS, OPT_THREADS, OPT_RESULTS, OPT_EMIT, OPT_COLLECT, OPT_TRAIN_CMD,
    OPT_LAUNCHER, OPT_DRY_RUN, OPT_RETRY_FAILED
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

static int train_option_arity(const char *key, void *user)
{
    (void)user;
    return cmd_train_option_arity(key);
}

/* An execution option (from the command line, where NULL, or a settings file line): 0, or
 * -1 after an error. Keys not taken here are the protocol's. */
static int apply_exec(sweep_exec *x, const char *key, const char *value, const char *where)
{
    char label[160];
    snprintf(label, sizeof label, "%s%s", where ? where : "--", key);
    if (!strcmp(key, "name")) {
        if (!*value || strchr(value, '/') || !strcmp(value, ".") || !strcmp(value, "..")) {
            cli_error("%s: '%s' must be a plain directory name", label, value);
            return -1;
        }
        x->name = value;
    } else if (!strcmp(key, "runs-dir")) {
        x->runs_dir = value;
    } else if (!strcmp(key, "results")) {
        x->results = value;
    } else if (!strcmp(key, "train-cmd")) {
        x->train_cmd = value;
    } else if (!strcmp(key, "launcher")) {
        if (!*value || strchr(value, '\n')) {
            cli_error("%s: give a command line such as \"srun -n 4\" or \"mpirun -np 4\"", label);
            return -1;
        }
        x->launcher = value;
    } else if (!strcmp(key, "jobs")) {
        return cli_parse_long(label, value, 1, 1024, &x->jobs);
    } else if (!strcmp(key, "threads")) {
        return cli_parse_long(label, value, 0, 1024, &x->threads);
    } else {
        cli_error("%s'%s' is not an option a config file can set", where ? where : "", key);
        return -1;
    }
    return 0;
}

/* One command-line option given by its long name. */
typedef struct cli_item {
    const char *key;
    const char *value;
} cli_item;

/* The protocol and execution options: the defaults, then the preset (the command line's,
 * else the config file's), then the config file, then the command line. Returns 0, or the
 * exit status after an error. */
static int resolve(hs_sweep_spec **spec, sweep_exec *x, const char **preset, const char *config,
                   hs_sweep_setting **cfg, size_t *n_cfg, const cli_item *items, size_t n_items)
{
    hs_status st = hs_sweep_spec_new(spec, train_option_arity, NULL);
    if (!st && config && (st = hs_sweep_settings_read(cfg, n_cfg, config)))
        cli_error("--config: %s", hs_last_error());
    if (st)
        return cli_exit_status(st, 0);
    for (size_t i = 0; i < *n_cfg && !*preset; i++)
        if (!strcmp((*cfg)[i].key, "preset"))
            *preset = (*cfg)[i].value;
    if (*preset && (st = hs_sweep_spec_set(*spec, "preset", *preset, "--"))) {
        cli_error("%s", hs_last_error());
        return cli_exit_status(st, 0);
    }
    for (size_t i = 0; i < *n_cfg; i++) {
        const hs_sweep_setting *c = &(*cfg)[i];
        static const char *const not_in_files[] = {"config", "emit-jobs", "collect-only", "dry-run",
                                                   "retry-failed", "help"};
        for (size_t k = 0; k < sizeof not_in_files / sizeof *not_in_files; k++)
            if (!strcmp(c->key, not_in_files[k])) {
                cli_error("%s'%s' is not an option a config file can set", c->where, c->key);
                return 2;
            }
        if (!strcmp(c->key, "preset"))
            continue;
        if (!hs_sweep_spec_has_key(c->key)) {
            if (apply_exec(x, c->key, c->value, c->where))
                return 2;
        } else if ((st = hs_sweep_spec_set(*spec, c->key, c->value, c->where))) {
            cli_error("%s", hs_last_error());
            return cli_exit_status(st, 0);
        }
    }
    for (size_t i = 0; i < n_items; i++) {
        if (!hs_sweep_spec_has_key(items[i].key)) {
            if (apply_exec(x, items[i].key, items[i].value, NULL))
                return 2;
        } else if ((st = hs_sweep_spec_set(*spec, items[i].key, items[i].value, "--"))) {
            cli_error("%s", hs_last_error());
            return cli_exit_status(st, 0);
        }
    }
    return 0;
}

int sweep_config_check(const char *path)
{
    hs_sweep_spec *spec = NULL;
    hs_sweep_setting *cfg = NULL;
    size_t n_cfg = 0;
    sweep_exec x = {0};
    const char *preset = NULL;
    int rc = resolve(&spec, &x, &preset, path, &cfg, &n_cfg, NULL, 0);
    if (!rc) {
        /* what only the whole protocol can tell; nothing is read or written */
        hs_sweep_plan plan;
        hs_status st = hs_sweep_plan_build(&plan, spec, "/nonexistent/sweep");
        if (st) {
            cli_error("%s", hs_last_error());
            rc = cli_exit_status(st, 0);
        }
        hs_sweep_plan_free(&plan);
    }
    hs_sweep_settings_free(cfg, n_cfg);
    hs_sweep_spec_free(spec);
    return rc;
}

/* The argument vector of one run (NULL-terminated, one allocation: free() it; the values
 * are the plan's). --resume is passed for a partial run, or always if always_resume (train's
 * --resume starts afresh when there is no checkpoint, so an emitted job can be resubmitted as
 * it is). */
static char **run_argv(const sweep_exec *x, const hs_sweep_run *r, const char *exe, const char *threads,
                       int always_resume)
{
    size_t slots = 8 + 2 * r->n_options, key_bytes = 0;
    for (size_t i = 0; i < r->n_options; i++)
        key_bytes += strlen(r->options[i].key) + 3;
    char **av = calloc(1, slots * sizeof *av + key_bytes);
    if (!av)
        return NULL;
    char *keys = (char *)(av + slots);
    size_t n = 0;
    av[n++] = (char *)exe;
    if (!x->train_cmd)
        av[n++] = "train";
    for (size_t i = 0; i < r->n_options; i++) {
        size_t len = strlen(r->options[i].key) + 3;
        snprintf(keys, len, "--%s", r->options[i].key);
        av[n++] = keys;
        keys += len;
        if (r->options[i].value)
            av[n++] = (char *)r->options[i].value;
    }
    av[n++] = "--threads";
    av[n++] = (char *)threads;
    av[n++] = "--out";
    av[n++] = (char *)r->dir;
    if (r->state == HS_SWEEP_PARTIAL || always_resume)
        av[n++] = "--resume";
    av[n] = NULL;
    return av;
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

/* ---- the process pool ---- */
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
static pid_t start_run(const hs_sweep_run *r, char **av, const sigset_t *child_mask)
{
    char path[PATH_MAX];
    hs_status st = hs_mkdirs(r->dir);
    if (st) {
        cli_status_error("sweep", st);
        return -1;
    }
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

static void print_log_tail(const hs_sweep_run *r)
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

static void fmt_duration(char *buf, size_t n, double s)
{
    if (s < 90)
        snprintf(buf, n, "%.0f s", s);
    else if (s < 5400)
        snprintf(buf, n, "%.1f min", s / 60);
    else
        snprintf(buf, n, "%.1f h", s / 3600);
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

/* The process pool: the pending runs of the plan, jobs at a time. */
typedef struct run_pool {
    const sweep_exec *x;
    hs_sweep_plan *plan;
    const char *exe;
    char threads[24];
    slot *slots;             /* (jobs) pid 0: free */
    size_t *todo, n_todo;    /* the runs to start, in the plan's order */
    size_t next, running, finished;
    double t_start, busy_time;
    int rc, stop_starting, children_stopped;
    sigset_t old_mask;       /* the mask outside the pool (and the children's) */
    struct sigaction old_int, old_term, old_chld;
} run_pool;

/* The runs to start (clearing the failed marks with --retry-failed). Returns 0, or -1. */
static int pending_runs(run_pool *rp)
{
    size_t done_before = 0;
    for (size_t i = 0; i < rp->plan->n_runs; i++) {
        hs_sweep_run *r = &rp->plan->runs[i];
        hs_status st = HS_OK;
        if (r->state == HS_SWEEP_FAILED && rp->x->retry_failed)
            st = hs_sweep_clear_failed(r);
        if (st) {
            cli_status_error("sweep", st);
            return -1;
        }
        if (r->state == HS_SWEEP_FRESH || r->state == HS_SWEEP_PARTIAL)
            rp->todo[rp->n_todo++] = i;
        else if (r->state == HS_SWEEP_DONE)
            done_before++;
    }
    printf("sweep: %zu runs, %zu already done, %zu to run, %ld at a time, %s thread%s each\n", rp->plan->n_runs,
           done_before, rp->n_todo, rp->x->jobs, rp->threads, strcmp(rp->threads, "1") ? "s" : "");
    fflush(stdout);
    return 0;
}

/* SIGINT, SIGTERM and SIGCHLD stay blocked except inside sigsuspend(), so a signal can never
 * slip in between checking the stop flag and going to sleep. */
static void signals_take(run_pool *rp)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &rp->old_int);
    sigaction(SIGTERM, &sa, &rp->old_term);
    sa.sa_handler = on_child;
    sigaction(SIGCHLD, &sa, &rp->old_chld);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &rp->old_mask);
}

static void signals_give_back(run_pool *rp)
{
    sigprocmask(SIG_SETMASK, &rp->old_mask, NULL);
    sigaction(SIGINT, &rp->old_int, NULL);
    sigaction(SIGTERM, &rp->old_term, NULL);
    sigaction(SIGCHLD, &rp->old_chld, NULL);
}

/* Starts pending runs while a slot is free. */
static void start_runs(run_pool *rp)
{
    while (rp->running < (size_t)rp->x->jobs && rp->next < rp->n_todo && !rp->stop_starting && !stop_signal) {
        hs_sweep_run *r = &rp->plan->runs[rp->todo[rp->next++]];
        hs_status st = hs_sweep_refresh(r);
        if (st) {
            cli_status_error("sweep", st);
            rp->stop_starting = 1, rp->rc = 1;
            return;
        }
        if (r->state == HS_SWEEP_DONE || r->state == HS_SWEEP_FAILED)
            continue;
        char **av = run_argv(rp->x, r, rp->exe, rp->threads, 0);
        pid_t pid = av ? start_run(r, av, &rp->old_mask) : -1;
        free(av);
        if (pid == 0) {
            printf("[skip] %s: running in another process (its directory is locked)\n", r->id);
            r->state = HS_SWEEP_BUSY;
            continue;
        }
        if (pid < 0) {
            if (!av)
                cli_error("out of memory");
            rp->stop_starting = 1, rp->rc = 1;
            return;
        }
        for (long j = 0; j < rp->x->jobs; j++)
            if (rp->slots[j].pid == 0) {
                rp->slots[j] = (slot){pid, (size_t)(r - rp->plan->runs), hs_now()};
                break;
            }
        rp->running++;
        printf("[start] %s%s\n", r->id, r->state == HS_SWEEP_PARTIAL ? " (resuming from its checkpoint)" : "");
        fflush(stdout);
    }
}

/* What the end of the trainer of run r says: done, stopped, or failed. */
static void run_ended(run_pool *rp, hs_sweep_run *r, int status, double took)
{
    char dur[32], eta[32];
    fmt_duration(dur, sizeof dur, took);
    hs_status st = hs_sweep_refresh(r);
    if (st)
        cli_status_error("sweep", st);
    if (!st && WIFEXITED(status) && WEXITSTATUS(status) == 0 && r->state == HS_SWEEP_DONE) {
        rp->finished++;
        rp->busy_time += took;
        size_t left = (rp->n_todo - rp->next) + rp->running;
        fmt_duration(eta, sizeof eta, rp->busy_time / (double)rp->finished * (double)left / (double)rp->x->jobs);
        printf("[done] %s in %s (%zu/%zu this session; about %s left)\n", r->id, dur, rp->finished, rp->n_todo,
               left ? eta : "0 s");
        return;
    }
    if (WIFSIGNALED(status) || stop_signal) {
        printf("[stopped] %s after %s (%s); it resumes from its checkpoint next time\n", r->id, dur,
               WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "interrupted");
        rp->rc = rp->rc ? rp->rc : 1;
        return;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    fprintf(stderr, "[failed] %s: exit status %d after %s; last lines of %s/train.log:\n", r->id, code, dur,
            r->dir);
    print_log_tail(r);
    if (code == 0)
        fprintf(stderr, "    (exit status 0 but no %s: the run did not finish)\n", HS_RUN_SUMMARY_FILE);
    if (code == 2 || code == 126 || code == 127) {
        cli_error("the train command rejected its arguments or could not run: "
                  "stopping the sweep (nothing is marked failed)");
        rp->stop_starting = 1;
        rp->rc = 2;
        return;
    }
    if ((st = hs_sweep_mark_failed(r, code)))
        cli_status_error("sweep: marking the run failed", st);
    rp->rc = rp->rc ? rp->rc : 1;
}

/* Runs every pending run, jobs at a time. Returns 0, or 1 if a run failed / the sweep was
 * interrupted, 2 if a run reported bad usage (then nothing more is started). */
static int execute(const sweep_exec *x, hs_sweep_plan *plan, const char *exe, long threads)
{
    run_pool rp;
    memset(&rp, 0, sizeof rp);
    rp.x = x, rp.plan = plan, rp.exe = exe;
    snprintf(rp.threads, sizeof rp.threads, "%ld", threads);
    rp.todo = malloc(plan->n_runs * sizeof *rp.todo);
    rp.slots = calloc((size_t)x->jobs, sizeof *rp.slots);
    if (!rp.todo || !rp.slots || pending_runs(&rp)) {
        if (!rp.todo || !rp.slots)
            cli_error("out of memory");
        free(rp.todo);
        free(rp.slots);
        return 1;
    }
    signals_take(&rp);
    rp.t_start = hs_now();
    for (;;) {
        start_runs(&rp);
        if (rp.running == 0)
            break;
        if (stop_signal && !rp.children_stopped) {
            /* Stop the trainers; their checkpoints let the next sweep resume. */
            for (long j = 0; j < x->jobs; j++)
                if (rp.slots[j].pid > 0)
                    kill(rp.slots[j].pid, SIGTERM);
            rp.children_stopped = 1;
        }
        int status = 0;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0) {
            cli_error("waitpid: %s", strerror(errno));
            rp.rc = 1;
            break;
        }
        if (pid == 0) {
            sigsuspend(&rp.old_mask); /* until a child exits or a stop signal arrives */
            continue;
        }
        long j = 0;
        while (j < x->jobs && rp.slots[j].pid != pid)
            j++;
        if (j == x->jobs)
            continue;
        rp.slots[j].pid = 0;
        rp.running--;
        run_ended(&rp, &plan->runs[rp.slots[j].run], status, hs_now() - rp.slots[j].t0);
        fflush(stdout);
    }
    signals_give_back(&rp);
    if (stop_signal) {
        fprintf(stderr, "sweep interrupted (%s): run the same command again to resume\n", strsignal(stop_signal));
        rp.rc = rp.rc ? rp.rc : 1;
    }
    char dur[32];
    fmt_duration(dur, sizeof dur, hs_now() - rp.t_start);
    printf("sweep: %zu run%s finished in %s\n", rp.finished, rp.finished == 1 ? "" : "s", dur);
    free(rp.todo);
    free(rp.slots);
    return rp.rc;
}

/* Collects the finished runs into the results CSV (only if every one matches the plan).
 * Returns 0 when every run was collected, 1 if some are unfinished or writing failed, 2 if a
 * finished run does not match the plan. */
static int collect(hs_sweep_plan *plan, const char *results_path)
{
    hs_results res = {0};
    hs_sweep_collected n;
    hs_status st = hs_sweep_collect(&res, &n, plan);
    int rc = st == HS_ERR_FORMAT ? 2 : st ? 1 : 0;
    size_t shown = 0;
    for (size_t i = 0; i < plan->n_runs && st != HS_ERR_NOMEM && st != HS_ERR_IO; i++) {
        const hs_sweep_run *r = &plan->runs[i];
        if (r->problem)
            cli_error("%s", r->problem);
        else if (r->state != HS_SWEEP_DONE && shown++ < 20)
            fprintf(stderr, "collect: %s is %s\n", r->id, hs_sweep_state_name(r->state));
    }
    if (shown > 20)
        fprintf(stderr, "collect: ... and %zu more unfinished runs\n", shown - 20);
    if (rc) {
        cli_status_error("collect", st);
        fprintf(stderr, "collect: results not written (the errors above need fixing first)\n");
    } else if (n.n_done && (st = hs_results_write(&res, results_path))) {
        cli_status_error("writing results", st);
        rc = 1;
    } else {
        if (n.n_done)
            printf("collected %zu of %zu runs into %s\n", n.n_done, plan->n_runs, results_path);
        else
            printf("no finished runs to collect yet (%zu runs)\n", plan->n_runs);
        rc = n.n_unfinished ? 1 : 0;
    }
    hs_results_free(&res);
    return rc;
}

static void list_runs(const hs_sweep_plan *plan, const char *name)
{
    printf("sweep %s: %zu runs in %s\n", name, plan->n_runs, plan->dir);
    for (size_t i = 0; i < plan->n_runs; i++) {
        const hs_sweep_run *r = &plan->runs[i];
        printf("  %-48s %s%s%s\n", r->id, hs_sweep_state_name(r->state), *r->variant ? "  " : "", r->variant);
    }
}

/* --emit-jobs: one shell command per unfinished run. Returns 0 or 1. */
static int emit_jobs(const sweep_exec *x, hs_sweep_plan *plan, const char *exe, long threads)
{
    char threads_text[24];
    snprintf(threads_text, sizeof threads_text, "%ld", threads);
    size_t n = 0;
    for (size_t i = 0; i < plan->n_runs; i++) {
        hs_sweep_run *r = &plan->runs[i];
        hs_status st = HS_OK;
        if (r->state == HS_SWEEP_FAILED && x->retry_failed)
            st = hs_sweep_clear_failed(r);
        if (!st && r->state != HS_SWEEP_FRESH && r->state != HS_SWEEP_PARTIAL)
            continue;
        if (!st)
            st = hs_mkdirs(r->dir);
        if (st) {
            cli_status_error("sweep", st);
            return 1;
        }
        char **av = run_argv(x, r, exe, threads_text, 1);
        if (!av) {
            cli_error("out of memory");
            return 1;
        }
        if (x->launcher) /* shell text of the user's, as given */
            printf("%s ", x->launcher);
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
                    "same options plus --collect-only.\n", n, plan->n_runs);
    return 0;
}

/* The train executable: this very program (found via /proc/self/exe) unless --train-cmd.
 * Returns 0, or the exit status after an error. */
static int find_trainer(char *exe, size_t n, const sweep_exec *x)
{
    if (x->train_cmd) {
        char full[PATH_MAX];
        if (!realpath(x->train_cmd, full)) {
            cli_error("--train-cmd: %s: %s", x->train_cmd, strerror(errno));
            return 2;
        }
        snprintf(exe, n, "%s", full);
        return 0;
    }
    ssize_t got = readlink("/proc/self/exe", exe, n - 1);
    if (got <= 0) {
        cli_error("cannot find this executable via /proc/self/exe: %s", strerror(errno));
        return 1;
    }
    exe[got] = '\0';
    return 0;
}

/* RUNS/NAME as an absolute path (RUNS created) and the results path. Returns 0, or the exit
 * status after an error. */
static int sweep_paths(char *sweep_dir, char *results, const sweep_exec *x)
{
    hs_status st = hs_mkdirs(x->runs_dir);
    if (st) {
        cli_status_error("sweep", st);
        return 1;
    }
    char runs_abs[PATH_MAX];
    if (!realpath(x->runs_dir, runs_abs)) {
        cli_error("%s: %s", x->runs_dir, strerror(errno));
        return 1;
    }
    int len = snprintf(sweep_dir, PATH_MAX, "%s/%s", runs_abs, x->name);
    if (len > 0 && len < PATH_MAX)
        len = x->results ? snprintf(results, PATH_MAX, "%s", x->results)
                         : snprintf(results, PATH_MAX, "%s/results.csv", sweep_dir);
    if (len < 0 || len >= PATH_MAX) {
        cli_error("the path of the sweep directory is too long");
        return 2;
    }
    return 0;
}

/* The command line: protocol and execution options in order, --config and --preset apart.
 * Returns 0, -1 after --help, or the exit status after an error. */
static int parse_args(cli_item *items, size_t *n_items, size_t max, const char **config, const char **preset,
                      int argc, char **argv, sweep_exec *x)
{
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return -1;
        }
        if (c == ':' || c == '?') {
            cli_error(c == ':' ? "%s needs a value (see hypersimplex sweep --help)"
                               : "unknown option '%s' (see hypersimplex sweep --help)",
                      argv[optind - 1]);
            return 2;
        }
        const char *name = NULL;
        for (const struct option *o = longopts; o->name; o++)
            if (o->val == c)
                name = o->name;
        switch (c) {
        case OPT_CONFIG: *config = optarg; break;
        case OPT_PRESET: *preset = optarg; break;
        case OPT_EMIT: x->emit = 1; break;
        case OPT_COLLECT: x->collect_only = 1; break;
        case OPT_DRY_RUN: x->dry_run = 1; break;
        case OPT_RETRY_FAILED: x->retry_failed = 1; break;
        default:
            if (*n_items == max) {
                cli_error("more than %zu options", max);
                return 2;
            }
            items[(*n_items)++] = (cli_item){name, optarg};
        }
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s' (see hypersimplex sweep --help)", argv[optind]);
        return 2;
    }
    return 0;
}

/* Everything after the options: the plan, then a listing, the emitted jobs, or running and
 * collecting. */
static int run_sweep(const sweep_exec *x, const hs_sweep_spec *spec)
{
    char exe[PATH_MAX], sweep_dir[PATH_MAX], results[PATH_MAX];
    int rc = find_trainer(exe, sizeof exe, x);
    if (!rc)
        rc = sweep_paths(sweep_dir, results, x);
    if (rc)
        return rc;
    hs_sweep_plan plan;
    hs_status st = hs_sweep_plan_build(&plan, spec, sweep_dir);
    if (st) {
        cli_error("%s", hs_last_error());
        return cli_exit_status(st, 0);
    }
    if (!x->dry_run && (st = hs_mkdirs(sweep_dir)))
        cli_status_error("sweep", st);
    if (!st && (st = hs_sweep_protocol_check(&plan, !x->dry_run)))
        cli_error("%s", hs_last_error());
    for (size_t i = 0; i < plan.n_runs && !st; i++)
        if ((st = hs_sweep_refresh(&plan.runs[i])))
            cli_status_error("sweep", st);
    if (st) {
        hs_sweep_plan_free(&plan);
        return st == HS_ERR_ARG ? 2 : 1;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long threads = x->threads > 0 ? x->threads : (cores > x->jobs ? cores / x->jobs : 1);
    if (x->dry_run) {
        list_runs(&plan, x->name);
    } else if (x->emit) {
        rc = emit_jobs(x, &plan, exe, threads);
    } else {
        if (!x->collect_only)
            rc = execute(x, &plan, exe, threads);
        if (rc != 2) {
            int crc = collect(&plan, results);
            rc = crc > rc ? crc : rc;
        }
    }
    hs_sweep_plan_free(&plan);
    return rc;
}

int cmd_sweep(int argc, char **argv)
{
    sweep_exec x = {.jobs = 1};
    cli_item items[256];
    size_t n_items = 0, n_cfg = 0;
    const char *config = NULL, *preset = NULL;
    hs_sweep_spec *spec = NULL;
    hs_sweep_setting *cfg = NULL;
    int rc = parse_args(items, &n_items, sizeof items / sizeof items[0], &config, &preset, argc, argv, &x);
    if (rc)
        return rc < 0 ? 0 : rc;
    rc = resolve(&spec, &x, &preset, config, &cfg, &n_cfg, items, n_items);
    if (!rc && x.emit + x.collect_only + x.dry_run > 1) {
        cli_error("--emit-jobs, --collect-only and --dry-run exclude each other");
        rc = 2;
    }
    if (!rc && x.launcher && !x.emit) {
        cli_error("--launcher applies to --emit-jobs only");
        rc = 2;
    }
    if (!rc) {
        x.name = x.name ? x.name : preset ? preset : "sweep";
        x.runs_dir = x.runs_dir ? x.runs_dir : "runs";
        rc = run_sweep(&x, spec);
    }
    hs_sweep_settings_free(cfg, n_cfg);
    hs_sweep_spec_free(spec);
    return rc;
}
