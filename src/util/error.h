/* Internal: recording the detailed message behind hs_last_error().
 *
 * Part of the base library and exported from it for the other layers' shared libraries;
 * not part of the public contract (this header is not installed). */
#ifndef HS_UTIL_ERROR_H
#define HS_UTIL_ERROR_H

#include "hypersimplex.h"

/* Formats a message into the calling thread's last-error buffer and returns s, so that
 * failures read: return hs_fail(HS_ERR_K, "row %zu: k = %g is outside [0, %zu]", ...). */
hs_status hs_fail(hs_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
