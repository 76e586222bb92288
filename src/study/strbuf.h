/* Internal: a growable text buffer for building reports and scripts. */
#ifndef HS_STUDY_STRBUF_H
#define HS_STUDY_STRBUF_H

#include <stddef.h>

#include "hypersimplex.h"

typedef struct hs_strbuf {
    char *s;      /* NUL-terminated text, or NULL before the first append */
    size_t len;
    size_t cap;
    int failed;   /* an allocation failed: later appends are ignored */
} hs_strbuf;

/* printf-style append; on allocation failure sets failed. */
void hs_sb_printf(hs_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hs_sb_puts(hs_strbuf *b, const char *text);
/* HS_OK, or HS_ERR_NOMEM (recorded with hs_fail) if any append failed. */
hs_status hs_sb_status(const hs_strbuf *b);
void hs_sb_free(hs_strbuf *b);

#endif
