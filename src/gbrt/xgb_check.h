/* Internal: checking every call into XGBoost's C API. */
#ifndef HS_GBRT_XGB_CHECK_H
#define HS_GBRT_XGB_CHECK_H

#include <xgboost/c_api.h>

#include "hypersimplex.h"

/* Records "FILE:LINE: XGBoostFunction: <XGBGetLastError()>" and returns HS_ERR_BACKEND. */
hs_status hs_xgb_fail(const char *file, int line, const char *call);

/* Runs an XGBoost call; on a nonzero return stores the failure in `st` and jumps to `label`. */
#define HS_XGB_CHECK(st, label, call)                          \
    do {                                                       \
        if ((call) != 0) {                                     \
            (st) = hs_xgb_fail(__FILE__, __LINE__, #call);     \
            goto label;                                        \
        }                                                      \
    } while (0)

/* A release call (XGBoosterFree, XGDMatrixFree) on a cleanup path: its failure becomes the
 * result unless an earlier failure is already being returned. */
#define HS_XGB_RELEASE(st, call)                               \
    do {                                                       \
        if ((call) != 0 && (st) == HS_OK)                      \
            (st) = hs_xgb_fail(__FILE__, __LINE__, #call);     \
    } while (0)

#endif
