#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>

/* One buffer per thread, so concurrent callers never see each other's messages. */
static _Thread_local char last_error[512];

const char *hs_last_error(void)
{
    return last_error;
}

hs_status hs_fail(hs_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}
