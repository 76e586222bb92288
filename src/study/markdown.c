/* The Markdown report in the form of the paper's Table 1. */
#define _POSIX_C_SOURCE 200809L
#include "hypersimplex/study.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/strbuf.h"
#include "study/study_internal.h"
#include "util/error.h"

hs_markdown_opts hs_markdown_opts_default(void)
{
    hs_markdown_opts o = {.alpha = 0.10, .compare = NULL, .n_compare = 0, .show_sd = 0, .title = NULL};
    return o;
}

static const char *rule_text(hs_select_rule r)
{
    switch (r) {
    case HS_SELECT_MAX_TEST:
        return "per run, the maximum test accuracy over all epochs (the paper's rule; note that it "
               "selects the epoch on the test set)";
    case HS_SELECT_BEST_VAL:
        return "per run, the test accuracy at the epoch of highest validation accuracy (earliest such "
               "epoch)";
    case HS_SELECT_LAST:
        return "per run, the test accuracy after the last epoch";
    }
    return "?";
}

/* p as printed: two significant digits, trailing zeros kept (0.084, 0.0037, 0.00020), as
 * the paper prints p = 0.084. */
static void format_p(char *buf, size_t n, double p)
{
    snprintf(buf, n, "%#.2g", p);
}

typedef struct notes {
    hs_strbuf text;
    int count;
} notes;

/* Adds a note and returns its number. */
static int add_note(notes *nt, const char *fmt, const char *a, const char *b)
{
    nt->count++;
    hs_sb_printf(&nt->text, "[%d] ", nt->count);
    hs_sb_printf(&nt->text, fmt, a, b);
    hs_sb_puts(&nt->text, "\n");
    return nt->count;
}

static void seeds_text(char *buf, size_t n, const hs_study_cell *c)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < c->n && used + 24 < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%ld", i ? ", " : "", c->seeds[i]);
}

static long loss_index(const hs_study *s, const char *name)
{
    for (size_t l = 0; l < s->n_losses; l++)
        if (!strcmp(s->losses[l], name))
            return (long)l;
    return -1;
}

/* One section: the groups [g0, g1) share dataset and variant. */
static void section(hs_strbuf *b, const hs_study *s, size_t g0, size_t g1, const long *cmp, size_t n_cmp,
                    const hs_markdown_opts *o)
{
    const hs_study_group *head = &s->groups[g0];
    if (*head->variant)
        hs_sb_printf(b, "## %s — %s\n\n", head->dataset, head->variant);
    else
        hs_sb_printf(b, "## %s\n\n", head->dataset);

    /* The losses that have runs in this section, and the usual number of seeds per cell. */
    int *present = calloc(s->n_losses, sizeof *present);
    if (!present) {
        b->failed = 1;
        return;
    }
    size_t n_max = 0;
    for (size_t g = g0; g < g1; g++)
        for (size_t l = 0; l < s->n_losses; l++) {
            const hs_study_cell *c = hs_study_at(s, g, l);
            if (c->n)
                present[l] = 1;
            if (c->n > n_max)
                n_max = c->n;
        }

    hs_sb_puts(b, "| batch size |");
    for (size_t l = 0; l < s->n_losses; l++)
        if (present[l])
            hs_sb_printf(b, " %s |", s->losses[l]);
    for (size_t k = 0; k < n_cmp; k++) {
        if (n_cmp == 1)
            hs_sb_printf(b, " Δ %s | t | p |", s->losses[cmp[k]]);
        else
            hs_sb_printf(b, " Δ %s | t (%s) | p (%s) |", s->losses[cmp[k]], s->losses[cmp[k]], s->losses[cmp[k]]);
    }
    hs_sb_puts(b, "\n|---:|");
    for (size_t l = 0; l < s->n_losses; l++)
        if (present[l])
            hs_sb_puts(b, "---:|");
    for (size_t k = 0; k < n_cmp; k++)
        hs_sb_puts(b, "---:|---:|---:|");
    hs_sb_puts(b, "\n");

    notes nt = {0};
    char buf[160], pbuf[32], sa[96], sb[96];
    for (size_t g = g0; g < g1; g++) {
        /* Runs of unequal length in one row make the selections incomparable: say so. */
        size_t lo = 0, hi = 0;
        int first = 1;
        for (size_t l = 0; l < s->n_losses; l++) {
            const hs_study_cell *c = hs_study_at(s, g, l);
            if (!c->n)
                continue;
            if (first || c->min_epochs < lo)
                lo = c->min_epochs;
            if (first || c->max_epochs > hi)
                hi = c->max_epochs;
            first = 0;
        }
        hs_sb_printf(b, "| %ld", s->groups[g].batch_size);
        if (lo != hi) {
            snprintf(sa, sizeof sa, "%zu", lo);
            snprintf(sb, sizeof sb, "%zu", hi);
            hs_sb_printf(b, " [%d]", add_note(&nt, "runs of unequal length in this row (%s to %s epochs): "
                                                   "their selected accuracies are not comparable", sa, sb));
        }
        hs_sb_puts(b, " |");
        /* Best mean as printed, for the bold mark. */
        char best[32] = "";
        double best_v = -1.0;
        for (size_t l = 0; l < s->n_losses; l++) {
            const hs_study_cell *c = hs_study_at(s, g, l);
            if (c->n && c->mean > best_v)
                best_v = c->mean;
        }
        if (best_v >= 0.0)
            snprintf(best, sizeof best, "%.4f", best_v);
        for (size_t l = 0; l < s->n_losses; l++) {
            if (!present[l])
                continue;
            const hs_study_cell *c = hs_study_at(s, g, l);
            if (!c->n) {
                hs_sb_puts(b, " — |");
                continue;
            }
            snprintf(buf, sizeof buf, "%.4f", c->mean);
            int bold = !strcmp(buf, best);
            hs_sb_printf(b, " %s%s", bold ? "**" : "", buf);
            if (o->show_sd) {
                if (c->n >= 2)
                    hs_sb_printf(b, " ± %.4f", c->sd);
                else
                    hs_sb_puts(b, " ± n/a");
            }
            hs_sb_printf(b, "%s", bold ? "**" : "");
            if (c->n != n_max)
                hs_sb_printf(b, " (n=%zu)", c->n);
            hs_sb_puts(b, " |");
        }
        for (size_t k = 0; k < n_cmp; k++) {
            const hs_study_cell *c = hs_study_at(s, g, (size_t)cmp[k]);
            const hs_study_cell *base = hs_study_at(s, g, (size_t)loss_index(s, s->baseline));
            switch (c->cmp) {
            case HS_CMP_OK:
                format_p(pbuf, sizeof pbuf, c->test.p);
                hs_sb_printf(b, " %+.4f | %.2f | %s%s |", c->test.mean_diff, c->test.t, pbuf,
                             c->test.p < o->alpha ? " *" : "");
                break;
            case HS_CMP_BASELINE:
                hs_sb_puts(b, " (baseline) | | |");
                break;
            case HS_CMP_MISSING:
                hs_sb_printf(b, " — | — [%d] | — |",
                             add_note(&nt, "no runs of %s%s in this row: nothing to compare",
                                      c->n ? s->baseline : s->losses[cmp[k]], c->n ? " (the baseline)" : ""));
                break;
            case HS_CMP_UNPAIRED: {
                seeds_text(sa, sizeof sa, c);
                seeds_text(sb, sizeof sb, base);
                char who[256];
                snprintf(who, sizeof who, "%s has seeds {%s}, %s has seeds {%s}", s->losses[cmp[k]], sa,
                         s->baseline, sb);
                hs_sb_printf(b, " — | n/a [%d] | n/a |",
                             add_note(&nt, "unpaired seeds: %s%s; no paired test", who, ""));
                break;
            }
            case HS_CMP_TOO_FEW:
                hs_sb_printf(b, " %+.4f | n/a [%d] | n/a |", c->test.mean_diff,
                             add_note(&nt, "only one seed%s%s: no t-test", "", ""));
                break;
            case HS_CMP_ZERO_VAR:
                snprintf(sa, sizeof sa, "%+.6f", c->test.mean_diff);
                hs_sb_printf(b, " %+.4f | n/a [%d] | n/a |", c->test.mean_diff,
                             add_note(&nt, "all paired differences equal %s%s: t is undefined", sa, ""));
                break;
            }
        }
        hs_sb_puts(b, "\n");
    }
    hs_sb_puts(b, "\n");

    /* Seeds: the same set in every cell is the normal case; otherwise counts are marked. */
    const hs_study_cell *ref = NULL;
    int same = 1;
    for (size_t g = g0; g < g1; g++)
        for (size_t l = 0; l < s->n_losses; l++) {
            const hs_study_cell *c = hs_study_at(s, g, l);
            if (!c->n)
                continue;
            if (!ref)
                ref = c;
            else if (c->n != ref->n || memcmp(c->seeds, ref->seeds, c->n * sizeof *c->seeds))
                same = 0;
        }
    if (ref && same) {
        seeds_text(sa, sizeof sa, ref);
        hs_sb_printf(b, "Seeds per cell: %zu (%s).\n", ref->n, sa);
    } else if (ref) {
        hs_sb_printf(b, "Seeds differ between cells; cells with fewer than %zu seeds show (n=...).\n", n_max);
    }
    if (nt.count) {
        hs_sb_puts(b, "\nNotes:\n\n");
        if (nt.text.s)
            hs_sb_puts(b, nt.text.s);
        if (nt.text.failed)
            b->failed = 1;
    }
    hs_sb_puts(b, "\n");
    hs_sb_free(&nt.text);
    free(present);
}

hs_status hs_study_markdown(char **md, const hs_study *s, const hs_markdown_opts *opts)
{
    if (!md || !s)
        return hs_fail(HS_ERR_NULL, "hs_study_markdown: NULL argument");
    *md = NULL;
    hs_markdown_opts o = opts ? *opts : hs_markdown_opts_default();
    if (!(o.alpha > 0.0 && o.alpha < 1.0))
        return hs_fail(HS_ERR_ARG, "alpha = %g is not in (0, 1)", o.alpha);
    long base = loss_index(s, s->baseline);
    if (base < 0)
        return hs_fail(HS_ERR_ARG, "the baseline '%s' is not among the losses", s->baseline);

    /* Losses that get difference / t / p columns. */
    long *cmp = malloc((s->n_losses + 1) * sizeof *cmp);
    if (!cmp)
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    size_t n_cmp = 0;
    if (o.compare && o.n_compare) {
        for (size_t k = 0; k < o.n_compare; k++) {
            long l = loss_index(s, o.compare[k]);
            if (l < 0) {
                free(cmp);
                return hs_fail(HS_ERR_ARG, "compare: loss '%s' does not occur in the results", o.compare[k]);
            }
            if (l == base) {
                free(cmp);
                return hs_fail(HS_ERR_ARG, "compare: '%s' is the baseline", o.compare[k]);
            }
            int dup = 0;
            for (size_t j = 0; j < n_cmp; j++)
                dup |= cmp[j] == l;
            if (!dup)
                cmp[n_cmp++] = l;
        }
    } else {
        /* the HyperSimplex losses (any k policy), else every other loss */
        for (size_t l = 0; l < s->n_losses; l++)
            if ((long)l != base && hs_study_is_hs_loss(s->losses[l]))
                cmp[n_cmp++] = (long)l;
        if (n_cmp == 0)
            for (size_t l = 0; l < s->n_losses; l++)
                if ((long)l != base)
                    cmp[n_cmp++] = (long)l;
    }

    hs_strbuf b = {0};
    char pa[32];
    snprintf(pa, sizeof pa, "%g", o.alpha);
    hs_sb_printf(&b, "# %s\n\n", o.title ? o.title : "Batch-size study");
    hs_sb_printf(&b, "Selection `%s`: %s. Baseline `%s`; Δ = mean of the paired differences (loss − "
                     "baseline) over seeds; t and p from a paired t-test over seeds (two-sided, df = n − 1, "
                     "Student t distribution from GSL); `*` marks p < %s. Bold: the best mean of the row.\n\n",
                 hs_select_rule_name(s->rule), rule_text(s->rule), s->baseline, pa);
    size_t g0 = 0;
    while (g0 < s->n_groups) {
        size_t g1 = g0 + 1;
        while (g1 < s->n_groups && !strcmp(s->groups[g1].dataset, s->groups[g0].dataset) &&
               !strcmp(s->groups[g1].variant, s->groups[g0].variant))
            g1++;
        section(&b, s, g0, g1, cmp, n_cmp, &o);
        g0 = g1;
    }
    free(cmp);
    hs_status st = hs_sb_status(&b);
    if (st) {
        hs_sb_free(&b);
        return st;
    }
    *md = b.s;
    return HS_OK;
}
