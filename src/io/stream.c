#define _POSIX_C_SOURCE 200809L
#include "io/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "util/error.h"

#define HS_STREAM_CHUNK ((size_t)1 << 16)

struct hs_zin {
    z_stream z;
    unsigned char in[HS_STREAM_CHUNK]; /* compressed input */
    uint64_t in_base;                  /* file offset of in[0] */
};

struct hs_zout {
    z_stream z;
    unsigned char buf[HS_STREAM_CHUNK];
};

hs_status hs_instream_open(hs_instream *s, const char *path, int allow_empty)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    s->f = fopen(path, "rb");
    if (!s->f)
        return hs_fail(HS_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t n = fread(s->head, 1, 2, s->f);
    if (n < 2 && ferror(s->f)) {
        hs_status st = hs_fail(HS_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
        hs_instream_close(s);
        return st;
    }
    if (n == 0 && !allow_empty) {
        hs_instream_close(s);
        return hs_fail(HS_ERR_FORMAT, "'%s' is empty", path);
    }
    if (n == 2 && s->head[0] == 0x1f && s->head[1] == 0x8b) {
        s->gz = 1;
        s->z = calloc(1, sizeof *s->z);
        if (!s->z) {
            hs_instream_close(s);
            return hs_fail(HS_ERR_NOMEM, "'%s': out of memory for the gzip buffer", path);
        }
        memcpy(s->z->in, s->head, 2);
        s->z->z.next_in = s->z->in;
        s->z->z.avail_in = 2;
        if (inflateInit2(&s->z->z, 15 + 16) != Z_OK) {
            free(s->z);
            s->z = NULL;
            hs_instream_close(s);
            return hs_fail(HS_ERR_NOMEM, "'%s': zlib inflateInit2 failed", path);
        }
    } else {
        s->head_n = n; /* raw data: these bytes come first */
    }
    return HS_OK;
}

void hs_instream_close(hs_instream *s)
{
    if (s->z) {
        inflateEnd(&s->z->z);
        free(s->z);
    }
    if (s->f)
        fclose(s->f);
    s->f = NULL;
    s->z = NULL;
}

/* Moves unread input to the front of the buffer and appends from the file. Returns the
 * number of new bytes (0 at end of file). */
static hs_status refill(hs_instream *s, size_t *added)
{
    struct hs_zin *z = s->z;
    size_t keep = z->z.avail_in;
    if (keep && z->z.next_in != z->in)
        memmove(z->in, z->z.next_in, keep);
    z->in_base += (uint64_t)(z->z.next_in - z->in);
    size_t n = fread(z->in + keep, 1, HS_STREAM_CHUNK - keep, s->f);
    if (ferror(s->f))
        return hs_fail(HS_ERR_IO, "cannot read '%s': %s", s->path, strerror(errno));
    z->z.next_in = z->in;
    z->z.avail_in = (uInt)(keep + n);
    *added = n;
    return HS_OK;
}

static uint64_t in_offset(const hs_instream *s)
{
    return s->z->in_base + (uint64_t)(s->z->z.next_in - s->z->in);
}

/* After a gzip member ended: another member (concatenated gzip) or the end of the file. */
static hs_status after_member(hs_instream *s)
{
    struct hs_zin *z = s->z;
    size_t added = 1; /* enters the loop */
    while (z->z.avail_in < 2 && added) {
        hs_status st = refill(s, &added);
        if (st)
            return st;
    }
    if (z->z.avail_in == 0) {
        s->at_end = 1;
        return HS_OK;
    }
    if (z->z.avail_in >= 2 && z->z.next_in[0] == 0x1f && z->z.next_in[1] == 0x8b) {
        if (inflateReset(&z->z) != Z_OK)
            return hs_fail(HS_ERR_FORMAT, "'%s': zlib cannot restart at byte %llu", s->path,
                           (unsigned long long)in_offset(s));
        return HS_OK;
    }
    return hs_fail(HS_ERR_FORMAT, "'%s': trailing garbage after the gzip data at compressed byte %llu",
                   s->path, (unsigned long long)in_offset(s));
}

static hs_status read_raw(hs_instream *s, unsigned char *out, size_t n, size_t *got)
{
    size_t done = 0;
    while (done < n && s->head_at < s->head_n)
        out[done++] = s->head[s->head_at++];
    if (done < n) {
        size_t r = fread(out + done, 1, n - done, s->f);
        if (ferror(s->f))
            return hs_fail(HS_ERR_IO, "cannot read '%s' at byte %llu: %s", s->path,
                           (unsigned long long)(s->pos + done), strerror(errno));
        done += r;
        if (done < n)
            s->at_end = 1;
    }
    s->pos += done;
    *got = done;
    return HS_OK;
}

hs_status hs_instream_read(hs_instream *s, void *buf, size_t n, size_t *got)
{
    *got = 0;
    if (n == 0 || s->at_end)
        return HS_OK;
    if (!s->gz)
        return read_raw(s, buf, n, got);
    struct hs_zin *z = s->z;
    unsigned char *out = buf;
    size_t done = 0;
    while (done < n && !s->at_end) {
        if (z->z.avail_in == 0) {
            size_t added = 0;
            hs_status st = refill(s, &added);
            if (st)
                return st;
            if (added == 0)
                return hs_fail(HS_ERR_FORMAT,
                               "'%s': truncated gzip stream (compressed data ends at byte %llu, "
                               "after %llu decompressed bytes)",
                               s->path, (unsigned long long)z->in_base,
                               (unsigned long long)(s->pos + done));
        }
        size_t want = n - done;
        if (want > UINT32_MAX)
            want = UINT32_MAX;
        z->z.next_out = out + done;
        z->z.avail_out = (uInt)want;
        int zr = inflate(&z->z, Z_NO_FLUSH);
        done += want - z->z.avail_out;
        if (zr == Z_STREAM_END) {
            hs_status st = after_member(s);
            if (st) {
                s->pos += done;
                return st;
            }
        } else if (zr == Z_BUF_ERROR) {
            /* no progress possible: needs more input, handled by the refill above */
            if (z->z.avail_in != 0)
                return hs_fail(HS_ERR_FORMAT, "'%s': zlib made no progress at compressed byte %llu",
                               s->path, (unsigned long long)in_offset(s));
        } else if (zr != Z_OK) {
            return hs_fail(HS_ERR_FORMAT, "'%s': corrupt gzip data near compressed byte %llu: %s",
                           s->path, (unsigned long long)in_offset(s),
                           z->z.msg ? z->z.msg : zError(zr));
        }
    }
    s->pos += done;
    *got = done;
    return HS_OK;
}

static hs_status truncated(const hs_instream *s, const char *what, uint64_t start, size_t n)
{
    return hs_fail(HS_ERR_FORMAT, "'%s': truncated: %s needs bytes %llu..%llu but the %sdata ends at byte %llu",
                   s->path, what, (unsigned long long)start, (unsigned long long)(start + n),
                   s->gz ? "decompressed " : "", (unsigned long long)s->pos);
}

hs_status hs_instream_read_exact(hs_instream *s, void *buf, size_t n, const char *what)
{
    size_t got;
    uint64_t start = s->pos;
    hs_status st = hs_instream_read(s, buf, n, &got);
    if (st)
        return st;
    return got < n ? truncated(s, what, start, n) : HS_OK;
}

/* Reads until n bytes are in *buf (grown as data arrive, never beyond n) or the data end. */
static hs_status read_growing(hs_instream *s, uint8_t **buf_io, size_t *have_io, size_t n, const char *what)
{
    uint8_t *buf = *buf_io;
    size_t have = *have_io, cap = have;
    hs_status st = HS_OK;
    while (have < n && !s->at_end) {
        if (have == cap) {
            size_t ncap = cap < ((size_t)1 << 16) ? ((size_t)1 << 16) : 2 * cap;
            if (ncap > n || ncap < cap)
                ncap = n;
            uint8_t *nb = realloc(buf, ncap + 1);
            if (!nb) {
                st = hs_fail(HS_ERR_NOMEM, "'%s': out of memory (%zu bytes for %s)", s->path, ncap, what);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got;
        st = hs_instream_read(s, buf + have, cap - have, &got);
        if (st)
            break;
        have += got;
    }
    *buf_io = buf;
    *have_io = have;
    return st;
}

hs_status hs_instream_read_alloc(hs_instream *s, uint8_t **out, size_t n, const char *what)
{
    *out = NULL;
    uint64_t start = s->pos;
    uint8_t *buf = NULL;
    size_t have = 0;
    hs_status st = read_growing(s, &buf, &have, n, what);
    if (!st && have < n)
        st = truncated(s, what, start, n);
    if (st) {
        free(buf);
        return st;
    }
    *out = buf ? buf : malloc(1);
    return *out ? HS_OK : hs_fail(HS_ERR_NOMEM, "'%s': out of memory", s->path);
}

hs_status hs_instream_read_all(hs_instream *s, char **out, size_t *len, size_t max)
{
    *out = NULL;
    *len = 0;
    uint8_t *buf = NULL;
    size_t have = 0;
    /* one byte beyond max tells a file of exactly max bytes from a longer one */
    size_t want = max < SIZE_MAX - 1 ? max + 1 : max;
    hs_status st = read_growing(s, &buf, &have, want, "the file");
    if (!st && have > max)
        st = hs_fail(HS_ERR_FORMAT, "'%s': larger than the limit of %zu bytes%s", s->path, max,
                     s->gz ? " (decompressed)" : "");
    if (!st && !buf && !(buf = malloc(1)))
        st = hs_fail(HS_ERR_NOMEM, "'%s': out of memory", s->path);
    if (st) {
        free(buf);
        return st;
    }
    buf[have] = '\0';
    *out = (char *)buf;
    *len = have;
    return HS_OK;
}

hs_status hs_instream_expect_end(hs_instream *s)
{
    unsigned char c;
    size_t got;
    uint64_t end = s->pos;
    hs_status st = hs_instream_read(s, &c, 1, &got);
    if (st)
        return st;
    if (got)
        return hs_fail(HS_ERR_FORMAT, "'%s': oversized: the %sdata continue after byte %llu, where the "
                       "content described by the header ends", s->path, s->gz ? "decompressed " : "",
                       (unsigned long long)end);
    return HS_OK;
}

/* ---- lines ---- */

void hs_linereader_init(hs_linereader *r, hs_instream *s, size_t max_line)
{
    memset(r, 0, sizeof *r);
    r->s = s;
    r->max_line = max_line;
}

void hs_linereader_free(hs_linereader *r)
{
    free(r->buf);
    r->buf = NULL;
}

static int too_long(const hs_linereader *r, hs_status *err)
{
    *err = hs_fail(HS_ERR_FORMAT, "%s:%zu: line longer than %zu bytes", r->s->path, r->lineno + 1, r->max_line);
    return -1;
}

int hs_linereader_next(hs_linereader *r, char **line, size_t *len, hs_status *err)
{
    size_t scanned = 0; /* bytes of the pending line already searched for '\n' */
    for (;;) {
        char *nl = r->end > r->start + scanned
                       ? memchr(r->buf + r->start + scanned, '\n', r->end - r->start - scanned)
                       : NULL;
        if (nl || (r->eof && r->end > r->start)) {
            char *p = r->buf + r->start;
            size_t n = nl ? (size_t)(nl - p) : r->end - r->start;
            if (n > r->max_line)
                return too_long(r, err);
            /* A NUL would end the line early for every string function of its reader. */
            const char *nul = memchr(p, '\0', n);
            if (nul) {
                *err = hs_fail(HS_ERR_FORMAT, "%s:%zu:%zu: a NUL byte (binary data, not a text file)",
                               r->s->path, r->lineno + 1, (size_t)(nul - p) + 1);
                return -1;
            }
            r->start += nl ? n + 1 : n;
            if (n > 0 && p[n - 1] == '\r')
                n--;
            p[n] = '\0'; /* over the '\n', or in the spare byte after the data */
            r->lineno++;
            *line = p;
            *len = n;
            return 1;
        }
        if (r->eof && r->end == r->start)
            return 0;
        scanned = r->end - r->start;
        if (scanned > r->max_line)
            return too_long(r, err);
        if (r->start > 0) { /* keep the pending part at the front */
            memmove(r->buf, r->buf + r->start, scanned);
            r->start = 0;
            r->end = scanned;
        }
        if (r->cap - r->end < 4096 + 1) {
            size_t ncap = r->cap ? 2 * r->cap : ((size_t)1 << 16);
            char *nb = ncap > r->cap ? realloc(r->buf, ncap) : NULL;
            if (!nb) {
                *err = hs_fail(HS_ERR_NOMEM, "out of memory reading %s", r->s->path);
                return -1;
            }
            r->buf = nb;
            r->cap = ncap;
        }
        size_t got;
        hs_status st = hs_instream_read(r->s, r->buf + r->end, r->cap - r->end - 1, &got);
        if (st) {
            *err = st;
            return -1;
        }
        r->end += got;
        if (got == 0 || r->s->at_end)
            r->eof = 1;
    }
}

/* ---- writing ---- */

hs_status hs_outstream_open(hs_outstream *s, const char *path, int gz)
{
    memset(s, 0, sizeof *s);
    s->gz = gz;
    hs_status st = hs_atomic_open(&s->af, path);
    if (st)
        return st;
    if (gz) {
        s->z = calloc(1, sizeof *s->z);
        if (!s->z) {
            hs_atomic_abort(&s->af);
            return hs_fail(HS_ERR_NOMEM, "'%s': out of memory for the gzip buffer", path);
        }
        if (deflateInit2(&s->z->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            free(s->z);
            s->z = NULL;
            hs_atomic_abort(&s->af);
            return hs_fail(HS_ERR_NOMEM, "'%s': zlib deflateInit2 failed", path);
        }
    }
    return HS_OK;
}

static hs_status deflate_step(hs_outstream *s, int flush)
{
    struct hs_zout *z = s->z;
    int zr;
    do {
        z->z.next_out = z->buf;
        z->z.avail_out = (uInt)HS_STREAM_CHUNK;
        zr = deflate(&z->z, flush);
        if (zr == Z_STREAM_ERROR)
            return hs_fail(HS_ERR_IO, "'%s': zlib deflate failed", s->af.name);
        size_t n = HS_STREAM_CHUNK - z->z.avail_out;
        if (n && fwrite(z->buf, 1, n, s->af.f) != n)
            return hs_fail(HS_ERR_IO, "cannot write '%s': %s", s->af.name, strerror(errno));
    } while (z->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
    return HS_OK;
}

hs_status hs_outstream_write(hs_outstream *s, const void *data, size_t n)
{
    if (!s->gz) {
        if (n && fwrite(data, 1, n, s->af.f) != n)
            return hs_fail(HS_ERR_IO, "cannot write '%s': %s", s->af.name, strerror(errno));
        return HS_OK;
    }
    const unsigned char *p = data;
    while (n) {
        size_t part = n > UINT32_MAX ? UINT32_MAX : n;
        s->z->z.next_in = (unsigned char *)(uintptr_t)p;
        s->z->z.avail_in = (uInt)part;
        hs_status st = deflate_step(s, Z_NO_FLUSH);
        if (st)
            return st;
        p += part;
        n -= part;
    }
    return HS_OK;
}

static void end_deflate(hs_outstream *s)
{
    if (s->z) {
        deflateEnd(&s->z->z);
        free(s->z);
        s->z = NULL;
    }
}

hs_status hs_outstream_finish(hs_outstream *s)
{
    if (s->gz && s->z) {
        s->z->z.next_in = NULL;
        s->z->z.avail_in = 0;
        hs_status st = deflate_step(s, Z_FINISH);
        if (st) {
            hs_outstream_abort(s);
            return st;
        }
    }
    end_deflate(s);
    return HS_OK;
}

hs_status hs_outstream_commit(hs_outstream *s)
{
    hs_status st = hs_outstream_finish(s);
    return st ? st : hs_atomic_commit(&s->af);
}

void hs_outstream_abort(hs_outstream *s)
{
    end_deflate(s);
    hs_atomic_abort(&s->af);
}
