/* Internal: recording the detailed message behind hs_last_error().
 *
 * The rule that keeps hs_last_error() from ever describing an older, unrelated failure:
 * every function that returns a status other than HS_OK has recorded the message of that
 * failure first, with hs_fail() (HS_ERR_NOMEM included). A status passed up unchanged from
 * a callee keeps the callee's message; a status made from anything else (a NULL from malloc,
 * an errno, a row status collected in a worker thread, whose message went to that thread's
 * buffer) goes through hs_fail() in the calling thread. Successful calls leave the message
 * as it is: it is read only after a failure.
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
