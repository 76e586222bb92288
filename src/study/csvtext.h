/* Internal: reading small text tables (CSV without quoting) strictly, with line numbers. */
#ifndef HS_STUDY_CSVTEXT_H
#define HS_STUDY_CSVTEXT_H

#include <stddef.h>

#include "hypersimplex.h"

/* Reads a whole file, plain or gzip-compressed (io/stream.h: truncation and trailing garbage
 * are refused), of at most HS_RESULTS_MAX_BYTES into a NUL-terminated buffer. */
hs_status hs_read_text_file(char **text, size_t *len, const char *path);

/* Iterates over lines: returns the next line (terminator removed, "\r\n" accepted, the
 * buffer is modified in place) or NULL at the end. *lineno counts from 1. */
char *hs_next_line(char **cursor, char *end, size_t *lineno);

/* Splits line at commas in place into at most max fields; returns the number of fields
 * found (which may exceed max: then only max are stored). */
size_t hs_split_fields(char *line, char **fields, size_t max);

/* Strict whole-string number parsing: 0 on success, -1 if text is not one number. */
int hs_parse_long_str(const char *text, long *out);
int hs_parse_double_str(const char *text, double *out); /* finite values only */
/* "" or "nan" (any case) give NaN and 0; otherwise as hs_parse_double_str. */
int hs_parse_optional_double(const char *text, double *out);

/* Index of name in names (n), or -1. */
long hs_find_column(char *const *names, size_t n, const char *name);

#endif
