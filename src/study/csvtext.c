#define _POSIX_C_SOURCE 200809L
#include "study/csvtext.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hypersimplex/study.h"
#include "io/stream.h"
#include "util/error.h"

hs_status hs_read_text_file(char **text, size_t *len, const char *path)
{
    *text = NULL;
    *len = 0;
    hs_instream in;
    hs_status st = hs_instream_open(&in, path, 1);
    if (st)
        return st;
    char *buf;
    size_t n;
    st = hs_instream_read_all(&in, &buf, &n, HS_RESULTS_MAX_BYTES);
    hs_instream_close(&in);
    if (st)
        return st;
    if (memchr(buf, '\0', n)) {
        free(buf);
        return hs_fail(HS_ERR_FORMAT, "%s: contains a NUL byte (not a text file)", path);
    }
    *text = buf;
    *len = n;
    return HS_OK;
}

char *hs_next_line(char **cursor, char *end, size_t *lineno)
{
    char *p = *cursor;
    if (p >= end)
        return NULL;
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *stop = nl ? nl : end;
    *cursor = nl ? nl + 1 : end;
    if (stop > p && stop[-1] == '\r')
        stop--;
    *stop = '\0';
    (*lineno)++;
    return p;
}

size_t hs_split_fields(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        char *c = strchr(p, ',');
        if (n < max)
            fields[n] = p;
        n++;
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

int hs_parse_long_str(const char *text, long *out)
{
    if (!*text)
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (*end != '\0' || errno == ERANGE || end == text)
        return -1;
    *out = v;
    return 0;
}

int hs_parse_double_str(const char *text, double *out)
{
    if (!*text)
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (*end != '\0' || end == text || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int hs_parse_optional_double(const char *text, double *out)
{
    if (!*text || !strcasecmp(text, "nan")) {
        *out = NAN;
        return 0;
    }
    return hs_parse_double_str(text, out);
}

long hs_find_column(char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return (long)i;
    return -1;
}
