/* Internal helpers shared by the study sources. */
#ifndef HS_STUDY_INTERNAL_H
#define HS_STUDY_INTERNAL_H

#include "hypersimplex/study.h"

/* Orders: the paper's losses first (cross_entropy, hinge, mse, hypersimplex), then others
 * by name; datasets fashion-mnist, mnist, cifar10, then others by name. */
int hs_study_loss_cmp(const char *a, const char *b);
int hs_study_dataset_cmp(const char *a, const char *b);

#endif
