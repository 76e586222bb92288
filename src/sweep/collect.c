/* Collecting a sweep: every finished run whose directory records the run the plan expects,
 * into one results table. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypersimplex/data.h"
#include "hypersimplex/loss.h"
#include "hypersimplex/sweep.h"
#include "util/error.h"
#include "util/fs.h"

/* Records why the run is left out (the first reason only). */
static void problem(hs_sweep_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(hs_sweep_run *r, const char *fmt, ...)
{
    if (r->problem)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    r->problem = strdup(buf);
}

/* 1 if the run's config.json records the run the plan expects, else 0 with run->problem. */
static int matches_plan(hs_sweep_run *r, size_t epochs)
{
    hs_run_record rec;
    if (hs_run_record_read(&rec, r->dir)) {
        problem(r, "%s", hs_last_error());
        return 0;
    }
    const hs_train_config *c = &rec.config;
    hs_data_kind dk;
    hs_loss_kind lk;
    const char *field = NULL;
    char have[64] = "", want[64] = "";
    if (hs_data_kind_parse(&dk, r->dataset) || dk != c->dataset) {
        field = "dataset";
        snprintf(have, sizeof have, "%s", hs_data_kind_name(c->dataset));
        snprintf(want, sizeof want, "%s", r->dataset);
    } else if (hs_loss_kind_parse(&lk, r->loss_kind) || lk != c->loss.kind) {
        field = "loss";
        snprintf(have, sizeof have, "%s", hs_loss_kind_name(c->loss.kind));
        snprintf(want, sizeof want, "%s", r->loss_kind);
    } else if ((long)c->batch_size != r->batch_size) {
        field = "batch_size";
        snprintf(have, sizeof have, "%zu", c->batch_size);
        snprintf(want, sizeof want, "%ld", r->batch_size);
    } else if (c->seed != (uint64_t)r->seed) {
        field = "seed";
        snprintf(have, sizeof have, "%llu", (unsigned long long)c->seed);
        snprintf(want, sizeof want, "%ld", r->seed);
    } else if (c->epochs != epochs) {
        field = "epochs";
        snprintf(have, sizeof have, "%zu", c->epochs);
        snprintf(want, sizeof want, "%zu", epochs);
    }
    hs_k_policy pol;
    double frac = 0;
    if (!field && r->k_policy && !hs_k_policy_parse(&pol, &frac, r->k_policy) &&
        (pol != c->loss.k_policy || (pol == HS_K_FRACTION && frac != c->loss.k_fraction))) {
        field = "k policy";
        snprintf(have, sizeof have, "%s", hs_k_policy_name(c->loss.k_policy));
        if (c->loss.k_policy == HS_K_FRACTION)
            snprintf(have + strlen(have), sizeof have - strlen(have), ":%g", c->loss.k_fraction);
        snprintf(want, sizeof want, "%s", r->k_policy);
    }
    hs_run_record_free(&rec);
    if (field)
        problem(r, "%s/%s records %s %s, the sweep expects %s", r->dir, HS_RUN_CONFIG_FILE, field, have, want);
    return field == NULL;
}

/* Adds the finished run r to out; 0, or -1 with r->problem. */
static int collect_run(hs_results *out, hs_sweep_run *r, size_t epochs)
{
    if (!matches_plan(r, epochs))
        return -1;
    char *path = hs_path_join(r->dir, HS_RUN_METRICS_FILE);
    if (!path) {
        problem(r, "out of memory");
        return -1;
    }
    hs_run_curve c;
    hs_status st = hs_run_read_metrics(&c, path, r->dataset, r->variant, r->loss, r->batch_size, r->seed);
    if (st) {
        problem(r, "%s", hs_last_error());
        free(path);
        return -1;
    }
    if (c.epochs != epochs) {
        problem(r, "%s: %zu epochs recorded, the sweep asks for %zu", path, c.epochs, epochs);
        st = HS_ERR_FORMAT;
    } else if ((st = hs_results_add(out, &c))) {
        problem(r, "%s", hs_last_error());
    }
    if (st)
        hs_run_curve_free(&c);
    free(path);
    return st ? -1 : 0;
}

hs_status hs_sweep_collect(hs_results *out, hs_sweep_collected *counts, hs_sweep_plan *plan)
{
    if (!out || !counts || !plan)
        return hs_fail(HS_ERR_NULL, "hs_sweep_collect: NULL argument");
    memset(counts, 0, sizeof *counts);
    for (size_t i = 0; i < plan->n_runs; i++) {
        hs_sweep_run *r = &plan->runs[i];
        free(r->problem);
        r->problem = NULL;
        hs_status st = hs_sweep_refresh(r);
        if (st)
            return st;
        if (r->state != HS_SWEEP_DONE)
            counts->n_unfinished++;
        else if (!collect_run(out, r, plan->epochs))
            counts->n_done++;
        else if (!r->problem)
            return hs_fail(HS_ERR_NOMEM, "out of memory");
        else
            counts->n_bad++;
    }
    if (counts->n_bad)
        return hs_fail(HS_ERR_FORMAT, "%zu finished run%s of %s do%s not match the sweep", counts->n_bad,
                       counts->n_bad == 1 ? "" : "s", plan->dir, counts->n_bad == 1 ? "es" : "");
    return HS_OK;
}
