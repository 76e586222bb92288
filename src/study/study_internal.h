/* Internal helpers shared by the study sources. */
#ifndef HS_STUDY_INTERNAL_H
#define HS_STUDY_INTERNAL_H

#include "hypersimplex/study.h"
#include "study/strbuf.h"

/* Orders: the paper's losses first (cross_entropy, hinge, mse, hypersimplex and its
 * "hypersimplex@P" by name), then others by name; datasets fashion-mnist, mnist, cifar10, then others by name. */
int hs_study_loss_cmp(const char *a, const char *b);
/* 1 for "hypersimplex" and "hypersimplex@P" (the HS loss with k policy P). */
int hs_study_is_hs_loss(const char *name);
int hs_study_dataset_cmp(const char *a, const char *b);

/* Plot files (plots.c): a file-name-safe tag dataset[_variant] (other characters become '_');
 * text as a single-quoted gnuplot string; appending a file to a list (its text is taken over,
 * also on failure); writing a list into a plot directory (dir and dir/plot_data created),
 * every file complete before any replaces an old one. */
void hs_study_make_tag(char *buf, size_t n, const char *dataset, const char *variant);
void hs_study_gp_quote(hs_strbuf *b, const char *text);
hs_status hs_study_add_file(hs_text_file **files, size_t *n, size_t *cap, const char *name, hs_strbuf *text);
hs_status hs_study_write_files(const char *dir, const hs_text_file *files, size_t n);

/* The two ends shared by the study's and the band's plots. hs_study_hand_out_files ends a
 * *_plot_files call whose status so far is st: on success (pngs not out of memory either) it
 * hands out the files and, where png_list is not NULL, pngs' text (else frees it); on failure
 * it frees both. hs_study_write_plot_files ends a *_write_plots call: the files a
 * *_plot_files call made with status st are written into dir and freed; on failure
 * *png_list is freed and set to NULL. */
hs_status hs_study_hand_out_files(hs_status st, hs_text_file *files, size_t n, hs_strbuf *pngs,
                                  hs_text_file **files_out, size_t *n_out, char **png_list);
hs_status hs_study_write_plot_files(hs_status st, const char *dir, hs_text_file *files, size_t n, char **png_list);

#endif
