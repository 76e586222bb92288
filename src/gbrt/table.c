/* Tabular readers (CSV with a header and the label first; libsvm), strict, with
 * "path:line:column" in every error; row subsets and seeded random splits.
 * CSV feature fields that are empty or "NA" are missing values: they are not stored, and
 * XGBoost treats them as missing (as it does with the pairs absent from a libsvm line). */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hypersimplex/gbrt.h"
#include "io/stream.h"
#include "util/error.h"

/* ------------------------------------------------------------------------- */
/* Growing arrays                                                            */
/* ------------------------------------------------------------------------- */

typedef struct builder {
    hs_table t;
    size_t cap_rows; /* capacity of labels and indptr (minus one) */
    size_t cap_nnz;
} builder;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem)
            return -1;
        c *= 2;
    }
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

static hs_status builder_init(builder *b)
{
    memset(b, 0, sizeof *b);
    b->t.indptr = malloc(sizeof(size_t));
    if (!b->t.indptr)
        return hs_fail(HS_ERR_NOMEM, "out of memory reading a table");
    b->t.indptr[0] = 0;
    return HS_OK;
}

/* Appends one value to the row being built. */
static hs_status builder_value(builder *b, uint32_t col, float v)
{
    size_t need = b->t.nnz + 1;
    if (need > b->cap_nnz) {
        size_t ci = b->cap_nnz, cv = b->cap_nnz;
        if (grow((void **)&b->t.indices, &ci, need, sizeof(uint32_t)) ||
            grow((void **)&b->t.values, &cv, need, sizeof(float)))
            return hs_fail(HS_ERR_NOMEM, "out of memory reading a table (%zu values)", need);
        b->cap_nnz = ci < cv ? ci : cv;
    }
    b->t.indices[b->t.nnz] = col;
    b->t.values[b->t.nnz] = v;
    b->t.nnz++;
    if ((size_t)col + 1 > b->t.cols)
        b->t.cols = (size_t)col + 1;
    return HS_OK;
}

/* Closes the row being built with its label. */
static hs_status builder_row(builder *b, float label)
{
    size_t need = b->t.rows + 1;
    if (need > b->cap_rows) {
        size_t cl = b->cap_rows, cp = b->cap_rows + 1;
        if (grow((void **)&b->t.labels, &cl, need, sizeof(float)) ||
            grow((void **)&b->t.indptr, &cp, need + 1, sizeof(size_t)))
            return hs_fail(HS_ERR_NOMEM, "out of memory reading a table (%zu rows)", need);
        b->cap_rows = cl < cp - 1 ? cl : cp - 1;
    }
    b->t.labels[b->t.rows] = label;
    b->t.rows++;
    b->t.indptr[b->t.rows] = b->t.nnz;
    return HS_OK;
}

void hs_table_free(hs_table *t)
{
    if (!t)
        return;
    free(t->indptr);
    free(t->indices);
    free(t->values);
    free(t->labels);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------------- */
/* Lines of a plain or gzip file (io/stream.h: truncation and garbage are refused) */
/* ------------------------------------------------------------------------- */

#define HS_TABLE_MAX_LINE ((size_t)1 << 30)

typedef struct line_reader {
    hs_linereader lr;
    const char *path;
    char *buf;           /* the current line, NUL-terminated, without "\n" / "\r\n" */
    size_t len;
    size_t lineno;       /* 1-based number of the current line */
    size_t max_features; /* columns accepted (feature index + 1) */
} line_reader;

/* 1: a line is in r->buf; 0: end of file; negative: error (message recorded). */
static int lr_next(line_reader *r, hs_status *err)
{
    int got = hs_linereader_next(&r->lr, &r->buf, &r->len, err);
    r->lineno = r->lr.lineno;
    return got;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
}

/* Strict number: the whole [s, e) is one finite number within float range. */
static int parse_number(const char *s, const char *e, double *out)
{
    if (s == e)
        return -1;
    char tmp[128];
    size_t n = (size_t)(e - s);
    if (n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    /* Reject what strtod accepts but a data file should not hold: hex, inf, nan. */
    for (size_t i = 0; i < n; i++) {
        char c = tmp[i];
        if (!(isdigit((unsigned char)c) || c == '.' || c == '-' || c == '+' || c == 'e' ||
              c == 'E'))
            return -1;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(tmp, &end);
    if (end != tmp + n || !isfinite(v) || fabs(v) > FLT_MAX)
        return -1;
    if (errno == ERANGE && fabs(v) > 1)
        return -1;
    *out = v;
    return 0;
}

/* A token quoted for an error message, cut to 40 characters. */
static void show(char *dst, size_t cap, const char *s, const char *e)
{
    size_t n = (size_t)(e - s);
    if (n > 40) {
        snprintf(dst, cap, "%.37s...", s);
    } else {
        snprintf(dst, cap, "%.*s", (int)n, s);
    }
}

static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

/* ------------------------------------------------------------------------- */
/* CSV                                                                       */
/* ------------------------------------------------------------------------- */

static hs_status csv_header(line_reader *r, size_t *nfields, char ***names)
{
    hs_status err = HS_OK;
    int got = lr_next(r, &err);
    if (got < 0)
        return err;
    if (got == 0 || is_blank(r->buf, r->len))
        return hs_fail(HS_ERR_FORMAT, "%s:1:1: expected a header line (label first), found %s",
                       r->path, got == 0 ? "an empty file" : "an empty line");
    size_t nf = 1;
    for (size_t i = 0; i < r->len; i++)
        if (r->buf[i] == ',')
            nf++;
    if (nf < 2)
        return hs_fail(HS_ERR_FORMAT,
                       "%s:1:1: the header has one field; expected the label and at least one "
                       "feature separated by commas",
                       r->path);
    char **nm = calloc(nf, sizeof *nm);
    if (!nm)
        return hs_fail(HS_ERR_NOMEM, "out of memory reading %s", r->path);
    const char *s = r->buf;
    size_t numeric = 0;
    for (size_t f = 0; f < nf; f++) {
        const char *e = strchr(s, ',');
        if (!e)
            e = r->buf + r->len;
        const char *a = s, *b = e;
        trim(&a, &b);
        double v;
        if (a == b || memchr(a, '"', (size_t)(b - a))) {
            for (size_t j = 0; j < f; j++)
                free(nm[j]);
            free(nm);
            return hs_fail(HS_ERR_FORMAT, "%s:1:%zu: header field %zu is %s", r->path,
                           (size_t)(s - r->buf) + 1, f + 1,
                           a == b ? "empty" : "quoted (quotes are not supported)");
        }
        if (parse_number(a, b, &v) == 0)
            numeric++;
        nm[f] = malloc((size_t)(b - a) + 1);
        if (!nm[f]) {
            for (size_t j = 0; j < f; j++)
                free(nm[j]);
            free(nm);
            return hs_fail(HS_ERR_NOMEM, "out of memory reading %s", r->path);
        }
        memcpy(nm[f], a, (size_t)(b - a));
        nm[f][b - a] = '\0';
        s = e + 1;
    }
    if (numeric == nf) {
        for (size_t j = 0; j < nf; j++)
            free(nm[j]);
        free(nm);
        return hs_fail(HS_ERR_FORMAT,
                       "%s:1:1: expected a header line, found only numbers (CSV files need a "
                       "header with the label first)",
                       r->path);
    }
    *nfields = nf;
    *names = nm;
    return HS_OK;
}

static hs_status read_csv(builder *b, line_reader *r)
{
    size_t nf = 0;
    char **names = NULL;
    hs_status st = csv_header(r, &nf, &names);
    if (st)
        return st;
    if (nf - 1 > r->max_features) {
        st = hs_fail(HS_ERR_FORMAT, "%s:1:1: %zu feature columns exceed the limit of %zu features "
                     "(XGBoost allocates memory for every feature)", r->path, nf - 1, r->max_features);
        goto done;
    }
    size_t blank_line = 0;
    for (;;) {
        int got = lr_next(r, &st);
        if (got < 0)
            goto done;
        if (got == 0)
            break;
        if (is_blank(r->buf, r->len)) {
            if (!blank_line)
                blank_line = r->lineno;
            continue;
        }
        if (blank_line) {
            st = hs_fail(HS_ERR_FORMAT, "%s:%zu:1: empty line inside the data", r->path,
                         blank_line);
            goto done;
        }
        const char *s = r->buf;
        const char *end = r->buf + r->len;
        float label = 0;
        size_t f = 0;
        for (;;) {
            const char *e = memchr(s, ',', (size_t)(end - s));
            if (!e)
                e = end;
            if (f >= nf) {
                size_t have = f + 1;
                for (const char *q = e; q < end; q++)
                    if (*q == ',')
                        have++;
                st = hs_fail(HS_ERR_FORMAT, "%s:%zu:%zu: %zu fields, the header has %zu",
                             r->path, r->lineno, (size_t)(s - r->buf) + 1, have, nf);
                goto done;
            }
            const char *a = s, *z = e;
            trim(&a, &z);
            double v;
            if (f > 0 && (a == z || (z - a == 2 && a[0] == 'N' && a[1] == 'A'))) {
                f++; /* a missing feature value: not stored, XGBoost treats it as missing */
                if (e == end)
                    break;
                s = e + 1;
                continue;
            }
            if (parse_number(a, z, &v)) {
                char tok[48];
                show(tok, sizeof tok, a, z);
                st = hs_fail(HS_ERR_FORMAT, "%s:%zu:%zu: field %zu ('%s'): %s%s%s", r->path,
                             r->lineno, (size_t)(a - r->buf) + 1, f + 1, names[f],
                             a == z ? "empty (the label cannot be missing)" : "'",
                             a == z ? "" : tok, a == z ? "" : "' is not a finite number");
                goto done;
            }
            if (f == 0) {
                if (v != 0 && v != 1) {
                    char tok[48];
                    show(tok, sizeof tok, a, z);
                    st = hs_fail(HS_ERR_FORMAT, "%s:%zu:%zu: label '%s' is not 0 or 1", r->path,
                                 r->lineno, (size_t)(a - r->buf) + 1, tok);
                    goto done;
                }
                label = (float)v;
            } else if ((st = builder_value(b, (uint32_t)(f - 1), (float)v))) {
                goto done;
            }
            f++;
            if (e == end)
                break;
            s = e + 1;
        }
        if (f != nf) {
            st = hs_fail(HS_ERR_FORMAT, "%s:%zu:%zu: %zu fields, the header has %zu", r->path,
                         r->lineno, r->len + 1, f, nf);
            goto done;
        }
        if ((st = builder_row(b, label)))
            goto done;
    }
    b->t.cols = nf - 1;
    if (b->t.rows == 0)
        st = hs_fail(HS_ERR_FORMAT, "%s:%zu:1: no data rows after the header", r->path,
                     r->lineno + 1);
done:
    for (size_t j = 0; j < nf; j++)
        free(names[j]);
    free(names);
    return st;
}

/* ------------------------------------------------------------------------- */
/* libsvm                                                                    */
/* ------------------------------------------------------------------------- */

static hs_status read_libsvm(builder *b, line_reader *r)
{
    hs_status st = HS_OK;
    size_t blank_line = 0;
    for (;;) {
        int got = lr_next(r, &st);
        if (got < 0)
            return st;
        if (got == 0)
            break;
        char *hash = memchr(r->buf, '#', r->len);
        size_t len = hash ? (size_t)(hash - r->buf) : r->len;
        if (is_blank(r->buf, len)) {
            if (hash)
                continue; /* a comment line */
            if (!blank_line)
                blank_line = r->lineno;
            continue;
        }
        if (blank_line)
            return hs_fail(HS_ERR_FORMAT, "%s:%zu:1: empty line inside the data", r->path,
                           blank_line);
        const char *s = r->buf;
        const char *end = r->buf + len;
        int first = 1;
        float label = 0;
        long long prev = -1;
        for (;;) {
            while (s < end && (*s == ' ' || *s == '\t'))
                s++;
            if (s == end)
                break;
            const char *e = s;
            while (e < end && *e != ' ' && *e != '\t')
                e++;
            size_t col = (size_t)(s - r->buf) + 1;
            char tok[48];
            show(tok, sizeof tok, s, e);
            if (first) {
                double v;
                if (parse_number(s, e, &v))
                    return hs_fail(HS_ERR_FORMAT, "%s:%zu:%zu: label '%s' is not a number",
                                   r->path, r->lineno, col, tok);
                if (v != 0 && v != 1 && v != -1)
                    return hs_fail(HS_ERR_FORMAT,
                                   "%s:%zu:%zu: label '%s' is not binary (expected 0/1 or -1/+1)",
                                   r->path, r->lineno, col, tok);
                label = v > 0 ? 1.0f : 0.0f;
                first = 0;
            } else {
                const char *colon = memchr(s, ':', (size_t)(e - s));
                if (!colon)
                    return hs_fail(HS_ERR_FORMAT, "%s:%zu:%zu: '%s' is not index:value", r->path,
                                   r->lineno, col, tok);
                if (colon - s == 3 && !memcmp(s, "qid", 3))
                    return hs_fail(HS_ERR_FORMAT,
                                   "%s:%zu:%zu: 'qid:' (ranking groups) is not supported",
                                   r->path, r->lineno, col);
                long long idx = 0;
                if (colon == s)
                    return hs_fail(HS_ERR_FORMAT, "%s:%zu:%zu: '%s' has no feature index",
                                   r->path, r->lineno, col, tok);
                for (const char *q = s; q < colon; q++) {
                    if (!isdigit((unsigned char)*q))
                        return hs_fail(HS_ERR_FORMAT,
                                       "%s:%zu:%zu: feature index in '%s' is not a "
                                       "non-negative integer",
                                       r->path, r->lineno, col, tok);
                    idx = idx * 10 + (*q - '0');
                    if (idx >= (long long)r->max_features)
                        return hs_fail(HS_ERR_FORMAT,
                                       "%s:%zu:%zu: feature index in '%s' exceeds the limit of %zu "
                                       "features (XGBoost allocates memory for every feature up to "
                                       "the largest index)",
                                       r->path, r->lineno, col, tok, r->max_features);
                }
                if (idx <= prev)
                    return hs_fail(HS_ERR_FORMAT,
                                   "%s:%zu:%zu: feature index %lld after %lld (indices must "
                                   "increase within a line)",
                                   r->path, r->lineno, col, idx, prev);
                prev = idx;
                double v;
                if (parse_number(colon + 1, e, &v))
                    return hs_fail(HS_ERR_FORMAT,
                                   "%s:%zu:%zu: value in '%s' is not a finite number", r->path,
                                   r->lineno, (size_t)(colon + 1 - r->buf) + 1, tok);
                if ((st = builder_value(b, (uint32_t)idx, (float)v)))
                    return st;
            }
            s = e;
        }
        if ((st = builder_row(b, label)))
            return st;
    }
    if (b->t.rows == 0)
        return hs_fail(HS_ERR_FORMAT, "%s:%zu:1: no data rows", r->path, r->lineno + 1);
    return HS_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

hs_status hs_table_read_max(hs_table *t, const char *path, hs_table_format format, size_t max_features)
{
    if (!t || !path)
        return hs_fail(HS_ERR_NULL, "hs_table_read: NULL argument");
    memset(t, 0, sizeof *t);
    if (format == HS_TABLE_AUTO)
        format = ends_with(path, ".csv") || ends_with(path, ".csv.gz") ? HS_TABLE_CSV
                                                                         : HS_TABLE_LIBSVM;
    if (format != HS_TABLE_CSV && format != HS_TABLE_LIBSVM)
        return hs_fail(HS_ERR_ARG, "hs_table_read: unknown format %d", (int)format);
    if (max_features < 1 || max_features > UINT32_MAX)
        return hs_fail(HS_ERR_SIZE, "hs_table_read: max_features %zu outside [1, 2^32)", max_features);
    hs_instream in;
    hs_status st = hs_instream_open(&in, path, 1);
    if (st)
        return st;
    line_reader r = {0};
    r.path = path;
    r.max_features = max_features;
    hs_linereader_init(&r.lr, &in, HS_TABLE_MAX_LINE);
    builder b;
    st = builder_init(&b);
    if (!st)
        st = format == HS_TABLE_CSV ? read_csv(&b, &r) : read_libsvm(&b, &r);
    hs_linereader_free(&r.lr);
    hs_instream_close(&in);
    if (st) {
        hs_table_free(&b.t);
        return st;
    }
    *t = b.t;
    return HS_OK;
}

hs_status hs_table_read(hs_table *t, const char *path, hs_table_format format)
{
    return hs_table_read_max(t, path, format, HS_TABLE_MAX_FEATURES);
}

size_t hs_table_positives(const hs_table *t)
{
    size_t k = 0;
    if (!t || !t->labels)
        return 0;
    for (size_t i = 0; i < t->rows; i++)
        k += t->labels[i] == 1.0f;
    return k;
}

/* ------------------------------------------------------------------------- */
/* Subsets and splits                                                        */
/* ------------------------------------------------------------------------- */

hs_status hs_table_subset(hs_table *out, const hs_table *src, const size_t *rows, size_t m)
{
    if (!out || !src || (!rows && m))
        return hs_fail(HS_ERR_NULL, "hs_table_subset: NULL argument");
    memset(out, 0, sizeof *out);
    size_t nnz = 0;
    for (size_t i = 0; i < m; i++) {
        if (rows[i] >= src->rows)
            return hs_fail(HS_ERR_SIZE, "hs_table_subset: row %zu of %zu", rows[i], src->rows);
        nnz += src->indptr[rows[i] + 1] - src->indptr[rows[i]];
    }
    out->indptr = malloc((m + 1) * sizeof(size_t));
    out->indices = malloc((nnz ? nnz : 1) * sizeof(uint32_t));
    out->values = malloc((nnz ? nnz : 1) * sizeof(float));
    out->labels = malloc((m ? m : 1) * sizeof(float));
    if (!out->indptr || !out->indices || !out->values || !out->labels) {
        hs_table_free(out);
        return hs_fail(HS_ERR_NOMEM, "out of memory copying %zu rows", m);
    }
    out->rows = m;
    out->cols = src->cols;
    out->nnz = nnz;
    out->indptr[0] = 0;
    size_t at = 0;
    for (size_t i = 0; i < m; i++) {
        size_t a = src->indptr[rows[i]], z = src->indptr[rows[i] + 1];
        memcpy(out->indices + at, src->indices + a, (z - a) * sizeof(uint32_t));
        memcpy(out->values + at, src->values + a, (z - a) * sizeof(float));
        at += z - a;
        out->indptr[i + 1] = at;
        out->labels[i] = src->labels[rows[i]];
    }
    return HS_OK;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform integer in [0, m) without modulo bias. */
static size_t uniform_below(uint64_t *s, size_t m)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % (uint64_t)m;
    uint64_t x;
    do {
        x = splitmix64(s);
    } while (x >= lim);
    return (size_t)(x % (uint64_t)m);
}

hs_status hs_table_split(hs_table *train, hs_table *valid, const hs_table *src,
                         double valid_fraction, uint64_t seed)
{
    if (!train || !valid || !src)
        return hs_fail(HS_ERR_NULL, "hs_table_split: NULL argument");
    memset(train, 0, sizeof *train);
    memset(valid, 0, sizeof *valid);
    if (!(valid_fraction > 0 && valid_fraction < 1))
        return hs_fail(HS_ERR_ARG, "validation fraction %g is not in (0, 1)", valid_fraction);
    if (src->rows < 2)
        return hs_fail(HS_ERR_SIZE, "cannot split a table of %zu rows", src->rows);
    size_t n = src->rows;
    size_t m = (size_t)llround(valid_fraction * (double)n);
    if (m < 1)
        m = 1;
    if (m > n - 1)
        m = n - 1;
    size_t *perm = malloc(n * sizeof *perm);
    unsigned char *is_valid = calloc(n, 1);
    size_t *tr = malloc((n - m) * sizeof *tr);
    size_t *va = malloc(m * sizeof *va);
    hs_status st = HS_OK;
    if (!perm || !is_valid || !tr || !va) {
        st = hs_fail(HS_ERR_NOMEM, "out of memory splitting %zu rows", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    uint64_t s = seed;
    for (size_t i = 0; i < m; i++) { /* partial Fisher-Yates: perm[0..m) is the sample */
        size_t j = i + uniform_below(&s, n - i);
        size_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
        is_valid[perm[i]] = 1;
    }
    size_t a = 0, z = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_valid[i])
            va[z++] = i;
        else
            tr[a++] = i;
    }
    if ((st = hs_table_subset(train, src, tr, n - m)))
        goto done;
    if ((st = hs_table_subset(valid, src, va, m)))
        hs_table_free(train);
done:
    free(perm);
    free(is_valid);
    free(tr);
    free(va);
    return st;
}
