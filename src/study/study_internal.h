/* Internal helpers shared by the study sources. */
#ifndef HS_STUDY_INTERNAL_H
#define HS_STUDY_INTERNAL_H

#include "hypersimplex/study.h"
#include "study/strbuf.h"

/* Orders: the paper's losses first (cross_entropy, hinge, mse, hypersimplex), then others
 * by name; datasets fashion-mnist, mnist, cifar10, then others by name. */
int hs_study_loss_cmp(const char *a, const char *b);
int hs_study_dataset_cmp(const char *a, const char *b);

/* Plot files (plots.c): mkdir -p; a file-name-safe tag dataset[_variant] (other characters
 * become '_'); text as a single-quoted gnuplot string; a whole text file written atomically. */
hs_status hs_study_make_dir(const char *path);
void hs_study_make_tag(char *buf, size_t n, const char *dataset, const char *variant);
void hs_study_gp_quote(hs_strbuf *b, const char *text);
hs_status hs_study_write_text(const char *path, const char *text);

#endif
