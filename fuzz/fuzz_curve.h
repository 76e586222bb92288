/* The checks the results and metrics harnesses make on every run curve they read. */
#ifndef HS_FUZZ_CURVE_H
#define HS_FUZZ_CURVE_H

#include "hypersimplex/study.h"

/* Names set, at least one epoch, test accuracies in [0, 1], validation and threshold-rule
 * accuracies in [0, 1] or NaN (the threshold arrays may be NULL: nothing recorded). */
void hs_fuzz_check_curve(const hs_run_curve *run);

#endif
