#define _POSIX_C_SOURCE 200809L
#include "study/csvtext.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "util/error.h"

hs_status hs_read_text_file(char **text, size_t *len, const char *path)
{
    *text = NULL;
    *len = 0;
    gzFile g = gzopen(path, "rb");
    if (!g)
        return hs_fail(HS_ERR_IO, "cannot open %s: %s", path, errno ? strerror(errno) : "zlib error");
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        gzclose(g);
        return hs_fail(HS_ERR_NOMEM, "out of memory reading %s", path);
    }
    for (;;) {
        if (cap - n < (1 << 15)) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                gzclose(g);
                return hs_fail(HS_ERR_NOMEM, "out of memory reading %s", path);
            }
            buf = nb;
            cap *= 2;
        }
        int got = gzread(g, buf + n, (unsigned)(cap - n - 1));
        if (got < 0) {
            int zerr = 0;
            const char *msg = gzerror(g, &zerr);
            hs_status s = hs_fail(HS_ERR_IO, "cannot read %s: %s", path, msg ? msg : "zlib error");
            free(buf);
            gzclose(g);
            return s;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    gzclose(g);
    buf[n] = '\0';
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
