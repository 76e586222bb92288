/* Internal helpers shared by the study sources. */
#ifndef HS_STUDY_INTERNAL_H
#define HS_STUDY_INTERNAL_H

#include "hypersimplex/study.h"

/* Orders: the paper's losses first (cross_entropy, hinge, mse, hypersimplex and its
 * "hypersimplex@P" by name), then others by name; datasets fashion-mnist, mnist, cifar10, then others by name. */
int hs_study_loss_cmp(const char *a, const char *b);
/* 1 for "hypersimplex" and "hypersimplex@P" (the HS loss with k policy P). */
int hs_study_is_hs_loss(const char *name);
int hs_study_dataset_cmp(const char *a, const char *b);

#endif
