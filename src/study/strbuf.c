#include "study/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

static int reserve(hs_strbuf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->failed = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void hs_sb_printf(hs_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if (reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void hs_sb_puts(hs_strbuf *b, const char *text)
{
    size_t n = strlen(text);
    if (reserve(b, n))
        return;
    memcpy(b->s + b->len, text, n + 1);
    b->len += n;
}

hs_status hs_sb_status(const hs_strbuf *b)
{
    if (b->failed)
        return hs_fail(HS_ERR_NOMEM, "out of memory building text");
    return HS_OK;
}

void hs_sb_free(hs_strbuf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}
