/* The plan of a sweep: its runs and their training options, the protocol file, the state of
 * each run's directory. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypersimplex/sweep.h"
#include "sweep/sweep_internal.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/fs.h"

#define FAILED_FILE "failed.txt"
#define PROTOCOL_FILE "sweep.conf"

struct hs_sweep_plan_data {
    sweep_pool pool;
    hs_sweep_option *options; /* every run's options, n_runs x per_run */
    char *protocol;           /* the text of sweep.conf */
};

const char *hs_sweep_state_name(hs_sweep_state s)
{
    switch (s) {
    case HS_SWEEP_FRESH: return "not started";
    case HS_SWEEP_PARTIAL: return "partial";
    case HS_SWEEP_DONE: return "done";
    case HS_SWEEP_FAILED: return "failed";
    case HS_SWEEP_BUSY: return "running elsewhere";
    }
    return "unknown";
}

/* Appends text to dst, every character outside [A-Za-z0-9.-] as '_' (a file name). */
static void append_safe(char *dst, size_t n, const char *text)
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

/* The losses of the plan: with vary k-policy=P1,P2, every plain "hypersimplex" becomes
 * hypersimplex@P1, hypersimplex@P2 (the other losses run once; the policy is part of the
 * loss's name in the run's id and in the results). */
static hs_status expand_losses(sweep_list *out, hs_sweep_spec *s)
{
    if (s->hs_policies.n == 0) {
        *out = s->losses;
        return HS_OK;
    }
    out->n = 0;
    int found = 0;
    for (size_t i = 0; i < s->losses.n; i++) {
        int plain_hs = !strcmp(s->losses.v[i], "hypersimplex");
        size_t n_new = plain_hs ? s->hs_policies.n : 1;
        if (out->n + n_new > SWEEP_MAX_ITEMS)
            return hs_fail(HS_ERR_ARG, "losses with vary k-policy: more than %d losses", SWEEP_MAX_ITEMS);
        if (!plain_hs) {
            out->v[out->n++] = s->losses.v[i];
            continue;
        }
        found = 1;
        for (size_t k = 0; k < s->hs_policies.n; k++) {
            char spec[256];
            snprintf(spec, sizeof spec, "hypersimplex@%s", s->hs_policies.v[k]);
            if (!(out->v[out->n++] = sweep_pool_dup(&s->pool, spec)))
                return HS_ERR_NOMEM;
        }
    }
    if (!found && !s->hs_policies_preset)
        return hs_fail(HS_ERR_ARG, "vary k-policy: losses has no plain 'hypersimplex' whose k policy could vary");
    return HS_OK;
}

/* Replaces every string of l by a copy in p. */
static hs_status own_list(sweep_list *l, sweep_pool *p)
{
    for (size_t i = 0; i < l->n; i++)
        if (!(l->v[i] = sweep_pool_dup(p, l->v[i])))
            return HS_ERR_NOMEM;
    return HS_OK;
}

/* Every string of s (a copy of a spec with an empty pool) copied into its own pool. */
static hs_status own_strings(hs_sweep_spec *s)
{
    sweep_pool *p = &s->pool;
    hs_status st = HS_OK;
    sweep_list *lists[5] = {&s->datasets, &s->losses, &s->batches, &s->seeds, &s->hs_policies};
    for (int i = 0; i < 5 && !st; i++)
        st = own_list(lists[i], p);
    for (size_t i = 0; i < s->n_sets && !st; i++)
        if (!(s->sets[i].key = sweep_pool_dup(p, s->sets[i].key)) ||
            (s->sets[i].value && !(s->sets[i].value = sweep_pool_dup(p, s->sets[i].value))))
            st = HS_ERR_NOMEM;
    for (size_t a = 0; a < s->n_vary && !st; a++)
        if (!(s->vary[a].key = sweep_pool_dup(p, s->vary[a].key)) || own_list(&s->vary[a].values, p))
            st = HS_ERR_NOMEM;
    return st;
}

/* What only the whole protocol can tell: a hypersimplex@POLICY loss and set k-policy would
 * both set the policy of one run. */
static hs_status validate(const hs_sweep_spec *s, const sweep_list *losses)
{
    int set_policy = 0;
    for (size_t i = 0; i < s->n_sets; i++)
        set_policy |= !strcmp(s->sets[i].key, "k-policy");
    for (size_t i = 0; i < losses->n && set_policy; i++)
        if (strchr(losses->v[i], '@'))
            return hs_fail(HS_ERR_ARG, "losses: '%s' sets the k policy that set k-policy sets too", losses->v[i]);
    return HS_OK;
}

/* The protocol every run of a sweep shares, as sweep.conf holds it. */
static char *protocol_text(sweep_pool *p, const hs_sweep_spec *s)
{
    size_t cap = 4096 + 256 * (s->n_sets + s->n_vary);
    char *t = malloc(cap);
    if (!t) {
        hs_fail(HS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    size_t n = (size_t)snprintf(t, cap,
                                "# hypersimplex sweep: the options every run of this sweep shares.\n"
                                "# A sweep directory holds runs of one protocol only.\n"
                                "epochs = %ld\n", s->epochs);
    for (size_t i = 0; i < s->n_sets && n < cap; i++)
        n += (size_t)snprintf(t + n, cap - n, "set = %s%s%s\n", s->sets[i].key, s->sets[i].value ? "=" : "",
                              s->sets[i].value ? s->sets[i].value : "");
    for (size_t a = 0; a < s->n_vary && n < cap; a++)
        n += (size_t)snprintf(t + n, cap - n, "vary-axis = %s\n", s->vary[a].key);
    char *kept = sweep_pool_dup(p, t);
    free(t);
    return kept;
}

/* Fills run r (variant index v of the varied axes) and its options. */
static hs_status fill_run(hs_sweep_run *r, hs_sweep_option *opt, sweep_pool *p, const hs_sweep_spec *s,
                          size_t v, const char *dir, size_t dir_len)
{
    char loss_id[256], id[512], variant[512], num[64];
    const char *at = strchr(r->loss, '@');
    char *kind = sweep_pool_dup(p, r->loss);
    if (!kind)
        return HS_ERR_NOMEM;
    if (at) {
        kind[at - r->loss] = '\0';
        r->k_policy = at + 1;
    }
    r->loss_kind = kind;
    /* hypersimplex@fraction:0.5 -> hypersimplex_fraction_0.5 */
    loss_id[0] = '\0';
    append_safe(loss_id, sizeof loss_id, r->loss);
    snprintf(id, sizeof id, "%s_%s_b%ld_s%ld", r->dataset, loss_id, r->batch_size, r->seed);

    size_t n = 0;
#define OPT(k, val) (opt[n].key = (k), opt[n].value = (val), n++)
    OPT("dataset", r->dataset);
    OPT("loss", r->loss_kind);
    if (r->k_policy)
        OPT("k-policy", r->k_policy);
    const long nums[3] = {r->batch_size, r->seed, s->epochs};
    static const char *const num_keys[3] = {"batch-size", "seed", "epochs"};
    for (int i = 0; i < 3; i++) {
        snprintf(num, sizeof num, "%ld", nums[i]);
        char *text = sweep_pool_dup(p, num);
        if (!text)
            return HS_ERR_NOMEM;
        OPT(num_keys[i], text);
    }
    for (size_t i = 0; i < s->n_sets; i++)
        OPT(s->sets[i].key, s->sets[i].value);

    /* the variant: axis a's value index is digit a of v in the mixed radix of the axes */
    size_t idx[SWEEP_MAX_VARY], rest = v;
    for (size_t a = s->n_vary; a-- > 0;) {
        idx[a] = rest % s->vary[a].values.n;
        rest /= s->vary[a].values.n;
    }
    variant[0] = '\0';
    for (size_t a = 0; a < s->n_vary; a++) {
        const char *val = s->vary[a].values.v[idx[a]];
        size_t len = strlen(variant);
        snprintf(variant + len, sizeof variant - len, "%s%s=%s", a ? " " : "", s->vary[a].key, val);
        append_safe(id, sizeof id, "_");
        append_safe(id, sizeof id, s->vary[a].key);
        append_safe(id, sizeof id, val);
        OPT(s->vary[a].key, val);
    }
#undef OPT
    if (dir_len + 1 + strlen(id) >= PATH_MAX)
        return hs_fail(HS_ERR_SIZE, "the path of run %s in %s is too long", id, dir);
    r->options = opt;
    r->n_options = n;
    r->id = sweep_pool_dup(p, id);
    r->variant = sweep_pool_dup(p, variant);
    r->dir = r->id ? hs_path_join(dir, r->id) : NULL;
    return r->id && r->variant && r->dir ? HS_OK : HS_ERR_NOMEM;
}

void hs_sweep_plan_free(hs_sweep_plan *plan)
{
    if (!plan)
        return;
    for (size_t i = 0; plan->runs && i < plan->n_runs; i++) {
        free((char *)plan->runs[i].dir);
        free(plan->runs[i].problem);
    }
    free(plan->runs);
    free(plan->dir);
    if (plan->data) {
        sweep_pool_free(&plan->data->pool);
        free(plan->data->options);
        free(plan->data);
    }
    memset(plan, 0, sizeof *plan);
}

hs_status hs_sweep_plan_build(hs_sweep_plan *plan, const hs_sweep_spec *spec, const char *dir)
{
    if (!plan || !spec || !dir)
        return hs_fail(HS_ERR_NULL, "hs_sweep_plan_build: NULL argument");
    memset(plan, 0, sizeof *plan);
    /* the plan's own copy of the spec, every string in the plan's pool (the runs point into
     * them, so the spec may be freed first; expanding the losses adds strings) */
    hs_sweep_spec s = *spec;
    memset(&s.pool, 0, sizeof s.pool);
    plan->data = calloc(1, sizeof *plan->data);
    plan->dir = strdup(dir);
    if (!plan->data || !plan->dir) {
        hs_sweep_plan_free(plan);
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    }
    sweep_list losses;
    hs_status st = own_strings(&s);
    if (!st)
        st = expand_losses(&losses, &s);
    plan->data->pool = s.pool;
    if (!st)
        st = validate(&s, &losses);
    if (st) {
        hs_sweep_plan_free(plan);
        return st;
    }

    size_t n_var = 1, n = 1;
    const size_t factors[4] = {s.seeds.n, s.datasets.n, s.batches.n, losses.n};
    for (size_t a = 0; a < s.n_vary && n_var <= HS_SWEEP_MAX_RUNS; a++)
        n_var *= s.vary[a].values.n;
    for (int f = 0; f < 4 && n <= HS_SWEEP_MAX_RUNS; f++)
        n *= factors[f];
    if (n_var > HS_SWEEP_MAX_RUNS || n * n_var > HS_SWEEP_MAX_RUNS) {
        hs_sweep_plan_free(plan);
        return hs_fail(HS_ERR_SIZE, "the sweep has more than %d runs (seeds x datasets x batch sizes x losses x "
                                    "every varied option): split it into several sweeps", HS_SWEEP_MAX_RUNS);
    }
    n *= n_var;
    size_t per_run = 6 + s.n_sets + s.n_vary;
    plan->runs = calloc(n, sizeof *plan->runs);
    plan->data->options = calloc(n * per_run, sizeof *plan->data->options);
    plan->data->protocol = protocol_text(&plan->data->pool, &s);
    if (!plan->runs || !plan->data->options || !plan->data->protocol) {
        hs_sweep_plan_free(plan);
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    }
    plan->epochs = (size_t)s.epochs;
    size_t dir_len = strlen(dir), k = 0;
    for (size_t si = 0; si < s.seeds.n; si++)
        for (size_t d = 0; d < s.datasets.n; d++)
            for (size_t b = 0; b < s.batches.n; b++)
                for (size_t v = 0; v < n_var; v++)
                    for (size_t l = 0; l < losses.n; l++, k++) {
                        hs_sweep_run *r = &plan->runs[k];
                        plan->n_runs = k + 1;
                        r->dataset = s.datasets.v[d];
                        r->loss = losses.v[l];
                        r->batch_size = strtol(s.batches.v[b], NULL, 10);
                        r->seed = strtol(s.seeds.v[si], NULL, 10);
                        st = fill_run(r, plan->data->options + k * per_run, &plan->data->pool, &s, v, dir, dir_len);
                        if (st) {
                            if (st == HS_ERR_NOMEM)
                                hs_fail(HS_ERR_NOMEM, "out of memory");
                            hs_sweep_plan_free(plan);
                            return st;
                        }
                    }
    return HS_OK;
}

hs_status hs_sweep_protocol_check(const hs_sweep_plan *plan, int write)
{
    if (!plan || !plan->data)
        return hs_fail(HS_ERR_NULL, "hs_sweep_protocol_check: no plan");
    const char *want = plan->data->protocol;
    char *path = hs_path_join(plan->dir, PROTOCOL_FILE);
    if (!path)
        return HS_ERR_NOMEM;
    FILE *f = fopen(path, "r");
    hs_status st = HS_OK;
    if (f) {
        char have[16384];
        size_t got = fread(have, 1, sizeof have - 1, f);
        have[got] = '\0';
        int bad = ferror(f);
        fclose(f);
        if (bad)
            st = hs_fail(HS_ERR_IO, "cannot read %s", path);
        else if (strcmp(have, want))
            st = hs_fail(HS_ERR_ARG, "%s was made with a different protocol:\n--- %s\n%s--- now\n%s"
                                     "use another sweep directory for a different protocol",
                         plan->dir, path, have, want);
    } else if (errno != ENOENT) {
        st = hs_fail(HS_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    } else if (write) {
        hs_atomic_file af;
        st = hs_atomic_open_text(&af, plan->dir, PROTOCOL_FILE, want);
        if (!st)
            st = hs_atomic_commit(&af);
    }
    free(path);
    return st;
}

hs_status hs_sweep_refresh(hs_sweep_run *run)
{
    if (!run || !run->dir)
        return hs_fail(HS_ERR_NULL, "hs_sweep_refresh: NULL run");
    hs_run_progress progress;
    hs_status st = hs_run_dir_progress(&progress, run->dir);
    if (st)
        return st;
    char *failed = hs_path_join(run->dir, FAILED_FILE);
    if (!failed)
        return HS_ERR_NOMEM;
    int is_failed = hs_path_exists(failed);
    free(failed);
    run->state = progress == HS_RUN_DONE    ? HS_SWEEP_DONE
               : is_failed                  ? HS_SWEEP_FAILED
               : progress == HS_RUN_PARTIAL ? HS_SWEEP_PARTIAL
                                            : HS_SWEEP_FRESH;
    return HS_OK;
}

hs_status hs_sweep_mark_failed(hs_sweep_run *run, int exit_status)
{
    if (!run || !run->dir)
        return hs_fail(HS_ERR_NULL, "hs_sweep_mark_failed: NULL run");
    char text[160];
    snprintf(text, sizeof text, "exit status %d; see train.log. Clear this file to try again "
                                "(hypersimplex sweep --retry-failed).\n", exit_status);
    hs_atomic_file af;
    hs_status st = hs_atomic_open_text(&af, run->dir, FAILED_FILE, text);
    if (!st)
        st = hs_atomic_commit(&af);
    if (!st)
        run->state = HS_SWEEP_FAILED;
    return st;
}

hs_status hs_sweep_clear_failed(hs_sweep_run *run)
{
    if (!run || !run->dir)
        return hs_fail(HS_ERR_NULL, "hs_sweep_clear_failed: NULL run");
    char *path = hs_path_join(run->dir, FAILED_FILE);
    if (!path)
        return HS_ERR_NOMEM;
    hs_status st = HS_OK;
    if (remove(path) != 0 && errno != ENOENT)
        st = hs_fail(HS_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    free(path);
    return st ? st : hs_sweep_refresh(run);
}
