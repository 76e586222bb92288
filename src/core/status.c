#include "hypersimplex.h"

const char *hs_status_string(hs_status s)
{
    switch (s) {
    case HS_OK: return "success";
    case HS_ERR_NULL: return "a required pointer is NULL";
    case HS_ERR_SIZE: return "invalid size or stride";
    case HS_ERR_K: return "k is outside [0, n] or not finite";
    case HS_ERR_TAU: return "tau must be finite and > 0";
    case HS_ERR_NONFINITE: return "input contains NaN or Inf";
    case HS_ERR_ARG: return "invalid argument";
    case HS_ERR_LABEL: return "label outside [0, C)";
    case HS_ERR_NOMEM: return "out of memory";
    case HS_ERR_IO: return "input/output error";
    case HS_ERR_FORMAT: return "malformed file content";
    case HS_ERR_BACKEND: return "a third-party library reported an error";
    case HS_ERR_DIVERGED: return "the computation diverged (NaN or Inf)";
    case HS_ERR_UNSUPPORTED: return "not supported by this build";
    }
    return "unknown status code";
}

const char *hs_version(void)
{
    return HS_VERSION_STRING;
}
