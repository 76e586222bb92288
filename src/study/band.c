/* Our runs against the band (per-epoch minimum and maximum) of reference runs, e.g. the
 * authors' curves: the per-epoch table, the Markdown report and the gnuplot script. */
#define _POSIX_C_SOURCE 200809L
#include "hypersimplex/study.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/strbuf.h"
#include "study/study_internal.h"
#include "util/error.h"

const char *hs_band_pos_name(hs_band_pos p)
{
    switch (p) {
    case HS_BAND_INSIDE: return "inside";
    case HS_BAND_BELOW: return "below";
    case HS_BAND_ABOVE: return "above";
    case HS_BAND_NO_REF: return "no reference";
    }
    return "unknown";
}

static int same_protocol(const hs_run_curve *a, const hs_run_curve *b)
{
    return a->batch_size == b->batch_size && !strcmp(a->dataset, b->dataset) && !strcmp(a->loss, b->loss);
}

static void band_curve(hs_band_curve *bc, const hs_run_curve *run, const hs_results *ref)
{
    bc->run = run;
    for (size_t i = 0; i < ref->n_runs; i++)
        if (same_protocol(run, &ref->runs[i]))
            bc->n_ref_runs++;
    for (size_t e = 0; e < run->epochs; e++) {
        hs_band_row *row = &bc->rows[e];
        double lo = INFINITY, hi = -INFINITY, sum = 0;
        size_t n = 0;
        for (size_t i = 0; i < ref->n_runs; i++) {
            const hs_run_curve *c = &ref->runs[i];
            if (!same_protocol(run, c) || e >= c->epochs)
                continue;
            double v = c->test_accuracy[e];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            sum += v;
            n++;
        }
        row->epoch = e;
        row->ours = run->test_accuracy[e];
        row->n_ref = n;
        row->lo = n ? lo : NAN;
        row->hi = n ? hi : NAN;
        row->mean = n ? sum / (double)n : NAN;
        if (!n) {
            row->pos = HS_BAND_NO_REF;
            bc->n_no_ref++;
        } else if (row->ours < lo) {
            row->pos = HS_BAND_BELOW;
            bc->n_below++;
        } else if (row->ours > hi) {
            row->pos = HS_BAND_ABOVE;
            bc->n_above++;
        } else {
            row->pos = HS_BAND_INSIDE;
            bc->n_inside++;
        }
    }
}

hs_status hs_band_compute(hs_band *out, const hs_results *ours, const hs_results *ref)
{
    if (!out || !ours || !ref)
        return hs_fail(HS_ERR_NULL, "hs_band_compute: NULL argument");
    memset(out, 0, sizeof *out);
    if (!ours->n_runs)
        return hs_fail(HS_ERR_ARG, "band comparison: no runs of ours");
    out->curves = calloc(ours->n_runs, sizeof *out->curves);
    if (!out->curves)
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    out->n = ours->n_runs;
    size_t with_ref = 0;
    for (size_t i = 0; i < ours->n_runs; i++) {
        const hs_run_curve *run = &ours->runs[i];
        hs_band_curve *bc = &out->curves[i];
        bc->rows = calloc(run->epochs ? run->epochs : 1, sizeof *bc->rows);
        if (!bc->rows) {
            hs_band_free(out);
            return hs_fail(HS_ERR_NOMEM, "out of memory");
        }
        band_curve(bc, run, ref);
        if (bc->n_ref_runs)
            with_ref++;
    }
    if (!with_ref) {
        const hs_run_curve *r0 = &ours->runs[0];
        hs_band_free(out);
        return hs_fail(HS_ERR_ARG, "band comparison: no reference run has the dataset, loss and batch size of "
                                   "any run of ours (e.g. %s, %s, batch %ld)", r0->dataset, r0->loss,
                       r0->batch_size);
    }
    return HS_OK;
}

void hs_band_free(hs_band *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        free(b->curves[i].rows);
    free(b->curves);
    memset(b, 0, sizeof *b);
}

/* The epochs at position p as ranges: "epochs 1-2, 5", or "none". */
static void epoch_list(hs_strbuf *s, const hs_band_curve *bc, hs_band_pos p)
{
    size_t E = bc->run->epochs, k = 0;
    int any = 0;
    while (k < E) {
        if (bc->rows[k].pos != p) {
            k++;
            continue;
        }
        size_t j = k;
        while (j + 1 < E && bc->rows[j + 1].pos == p)
            j++;
        hs_sb_printf(s, "%s%zu", any ? ", " : "epochs ", k);
        if (j > k)
            hs_sb_printf(s, "-%zu", j);
        any = 1;
        k = j + 1;
    }
    if (!any)
        hs_sb_puts(s, "none");
}

static void run_heading(hs_strbuf *s, const hs_run_curve *r)
{
    hs_sb_printf(s, "%s, %s, batch %ld, seed %ld", r->dataset, r->loss, r->batch_size, r->seed);
    if (*r->variant)
        hs_sb_printf(s, " (%s)", r->variant);
}

hs_status hs_band_markdown(char **md, const hs_band *b, const char *title)
{
    if (!md || !b)
        return hs_fail(HS_ERR_NULL, "hs_band_markdown: NULL argument");
    *md = NULL;
    hs_strbuf s = {0};
    hs_sb_printf(&s, "# %s\n\n", title ? title : "Our runs against the reference band");
    hs_sb_puts(&s, "Band: at each epoch, the minimum and maximum test accuracy of the reference runs with the "
                   "same dataset, loss and batch size (n: how many reach that epoch). *below* / *above*: our "
                   "test accuracy lies outside [min, max]; *outside by*: our accuracy minus the nearer edge.\n");
    for (size_t i = 0; i < b->n; i++) {
        const hs_band_curve *bc = &b->curves[i];
        const hs_run_curve *r = bc->run;
        hs_sb_puts(&s, "\n## ");
        run_heading(&s, r);
        hs_sb_puts(&s, "\n\n");
        if (!bc->n_ref_runs) {
            hs_sb_puts(&s, "No reference run has this dataset, loss and batch size.\n");
            continue;
        }
        hs_sb_printf(&s, "%zu reference runs. Inside the band at %zu of %zu epochs. Below: ", bc->n_ref_runs,
                     bc->n_inside, r->epochs);
        epoch_list(&s, bc, HS_BAND_BELOW);
        hs_sb_puts(&s, ". Above: ");
        epoch_list(&s, bc, HS_BAND_ABOVE);
        if (bc->n_no_ref) {
            hs_sb_puts(&s, ". No reference: ");
            epoch_list(&s, bc, HS_BAND_NO_REF);
        }
        hs_sb_puts(&s, ".\n\n| epoch | ours | ref min | ref max | ref mean | n | position | outside by |\n"
                       "|---:|---:|---:|---:|---:|---:|:---|---:|\n");
        for (size_t e = 0; e < r->epochs; e++) {
            const hs_band_row *row = &bc->rows[e];
            hs_sb_printf(&s, "| %zu | %.4f | ", row->epoch, row->ours);
            if (row->n_ref)
                hs_sb_printf(&s, "%.4f | %.4f | %.4f | %zu | ", row->lo, row->hi, row->mean, row->n_ref);
            else
                hs_sb_puts(&s, "| | | 0 | ");
            switch (row->pos) {
            case HS_BAND_BELOW: hs_sb_printf(&s, "**below** | %+.4f |\n", row->ours - row->lo); break;
            case HS_BAND_ABOVE: hs_sb_printf(&s, "**above** | %+.4f |\n", row->ours - row->hi); break;
            default: hs_sb_printf(&s, "%s | |\n", hs_band_pos_name(row->pos)); break;
            }
        }
    }
    hs_status st = hs_sb_status(&s);
    if (st) {
        hs_sb_free(&s);
        return st;
    }
    *md = s.s;
    return HS_OK;
}

static void dat_num(hs_strbuf *s, double v)
{
    if (isnan(v))
        hs_sb_puts(s, " NaN");
    else
        hs_sb_printf(s, " %.6f", v);
}

hs_status hs_band_plot_files(hs_text_file **files_out, size_t *n_out, char **png_list, const hs_band *b)
{
    if (!files_out || !n_out || !b)
        return hs_fail(HS_ERR_NULL, "hs_band_plot_files: NULL argument");
    *files_out = NULL;
    *n_out = 0;
    if (png_list)
        *png_list = NULL;
    hs_text_file *files = NULL;
    size_t n_files = 0, cap_files = 0;
    char name[640], tag[512], rest[384];
    hs_status st = HS_OK;
    hs_strbuf gp = {0}, pngs = {0};
    hs_sb_puts(&gp, "# Generated by hypersimplex report --band: run `gnuplot plots.gp` in this directory.\n");
    for (size_t i = 0; !st && i < b->n; i++) {
        const hs_band_curve *bc = &b->curves[i];
        const hs_run_curve *r = bc->run;
        snprintf(rest, sizeof rest, "%s%s%s_b%ld_s%ld", r->variant, *r->variant ? "_" : "", r->loss, r->batch_size,
                 r->seed);
        hs_study_make_tag(tag, sizeof tag, r->dataset, rest);
        hs_strbuf dat = {0};
        hs_sb_puts(&dat, "# epoch ref_min ref_max ref_mean ours n_ref\n");
        for (size_t e = 0; e < r->epochs; e++) {
            const hs_band_row *row = &bc->rows[e];
            hs_sb_printf(&dat, "%zu", row->epoch);
            dat_num(&dat, row->lo);
            dat_num(&dat, row->hi);
            dat_num(&dat, row->mean);
            dat_num(&dat, row->ours);
            hs_sb_printf(&dat, " %zu\n", row->n_ref);
        }
        snprintf(name, sizeof name, "plot_data/band_%s.dat", tag);
        st = hs_study_add_file(&files, &n_files, &cap_files, name, &dat);
        hs_sb_printf(&pngs, "band_%s.png\n", tag);
        hs_sb_printf(&gp, "\nreset\nset terminal pngcairo size 960,640 enhanced font ',11'\nset grid\n"
                          "set key bottom right\nset output 'band_%s.png'\nset xlabel 'epoch'\n"
                          "set ylabel 'test accuracy'\nset xrange [-0.5:%zu.5]\nset xtics %zu\nset title ",
                     tag, r->epochs ? r->epochs - 1 : 0, r->epochs / 16 + 1);
        hs_strbuf t = {0};
        run_heading(&t, r);
        hs_sb_printf(&t, ": ours against %zu reference runs", bc->n_ref_runs);
        hs_study_gp_quote(&gp, t.s ? t.s : "");
        hs_sb_free(&t);
        hs_sb_printf(&gp, " noenhanced\n"
                          "plot 'plot_data/band_%s.dat' using 1:2:3 with filledcurves fc rgb '#9ec5e8' "
                          "fs transparent solid 0.6 noborder title 'reference min..max', \\\n"
                          "     '' using 1:4 with lines dt 2 lw 2 lc rgb '#2a5d9f' title 'reference mean', \\\n"
                          "     '' using 1:5 with linespoints lw 2 pt 7 ps 0.8 lc rgb '#c0392b' title 'ours'\n"
                          "unset output\n",
                     tag);
    }
    if (!st)
        st = hs_study_add_file(&files, &n_files, &cap_files, "plots.gp", &gp);
    else
        hs_sb_free(&gp);
    return hs_study_hand_out_files(st, files, n_files, &pngs, files_out, n_out, png_list);
}

hs_status hs_band_write_plots(const hs_band *b, const char *dir, char **png_list)
{
    if (!b || !dir)
        return hs_fail(HS_ERR_NULL, "hs_band_write_plots: NULL argument");
    hs_text_file *files = NULL;
    size_t n = 0;
    hs_status st = hs_band_plot_files(&files, &n, png_list, b);
    return hs_study_write_plot_files(st, dir, files, n, png_list);
}
