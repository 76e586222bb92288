#define _POSIX_C_SOURCE 200809L
#include "data/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/error.h"

#define HS_STREAM_CHUNK ((size_t)1 << 16)

hs_status hs_instream_open(hs_instream *s, const char *path)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    s->f = fopen(path, "rb");
    if (!s->f)
        return hs_fail(HS_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    unsigned char head[2];
    size_t n = fread(head, 1, 2, s->f);
    if (ferror(s->f)) {
        hs_instream_close(s);
        return hs_fail(HS_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    }
    if (n == 0) {
        hs_instream_close(s);
        return hs_fail(HS_ERR_FORMAT, "'%s' is empty", path);
    }
    if (n == 2 && head[0] == 0x1f && head[1] == 0x8b) {
        s->gz = 1;
        s->in = malloc(HS_STREAM_CHUNK);
        if (!s->in) {
            hs_instream_close(s);
            return hs_fail(HS_ERR_NOMEM, "'%s': out of memory for the gzip buffer", path);
        }
        memcpy(s->in, head, 2);
        s->z.next_in = s->in;
        s->z.avail_in = 2;
        if (inflateInit2(&s->z, 15 + 16) != Z_OK) {
            hs_instream_close(s);
            return hs_fail(HS_ERR_NOMEM, "'%s': zlib inflateInit2 failed", path);
        }
        s->z_ready = 1;
    } else if (fseek(s->f, 0, SEEK_SET) != 0) {
        hs_instream_close(s);
        return hs_fail(HS_ERR_IO, "cannot seek in '%s': %s", path, strerror(errno));
    }
    return HS_OK;
}

void hs_instream_close(hs_instream *s)
{
    if (s->z_ready)
        inflateEnd(&s->z);
    if (s->f)
        fclose(s->f);
    free(s->in);
    s->f = NULL;
    s->in = NULL;
    s->z_ready = 0;
}

/* Moves unread input to the front of the buffer and appends from the file. Returns the
 * number of new bytes (0 at end of file). */
static hs_status refill(hs_instream *s, size_t *added)
{
    size_t keep = s->z.avail_in;
    if (keep && s->z.next_in != s->in)
        memmove(s->in, s->z.next_in, keep);
    s->in_base += (uint64_t)(s->z.next_in - s->in);
    size_t n = fread(s->in + keep, 1, HS_STREAM_CHUNK - keep, s->f);
    if (ferror(s->f))
        return hs_fail(HS_ERR_IO, "cannot read '%s': %s", s->path, strerror(errno));
    s->z.next_in = s->in;
    s->z.avail_in = (uInt)(keep + n);
    *added = n;
    return HS_OK;
}

/* After a gzip member ended: another member (concatenated gzip) or the end of the file. */
static hs_status after_member(hs_instream *s)
{
    size_t added = 1; /* enters the loop */
    while (s->z.avail_in < 2 && added) {
        hs_status st = refill(s, &added);
        if (st)
            return st;
    }
    if (s->z.avail_in == 0) {
        s->at_end = 1;
        return HS_OK;
    }
    uint64_t off = s->in_base + (uint64_t)(s->z.next_in - s->in);
    if (s->z.avail_in >= 2 && s->z.next_in[0] == 0x1f && s->z.next_in[1] == 0x8b) {
        if (inflateReset(&s->z) != Z_OK)
            return hs_fail(HS_ERR_FORMAT, "'%s': zlib cannot restart at byte %llu", s->path,
                           (unsigned long long)off);
        return HS_OK;
    }
    return hs_fail(HS_ERR_FORMAT, "'%s': trailing garbage after the gzip data at compressed byte %llu",
                   s->path, (unsigned long long)off);
}

hs_status hs_instream_read(hs_instream *s, void *buf, size_t n, size_t *got)
{
    *got = 0;
    if (n == 0 || s->at_end)
        return HS_OK;
    if (!s->gz) {
        size_t r = fread(buf, 1, n, s->f);
        if (ferror(s->f))
            return hs_fail(HS_ERR_IO, "cannot read '%s' at byte %llu: %s", s->path,
                           (unsigned long long)s->pos, strerror(errno));
        s->pos += r;
        *got = r;
        if (r < n)
            s->at_end = 1;
        return HS_OK;
    }
    unsigned char *out = buf;
    size_t done = 0;
    while (done < n && !s->at_end) {
        if (s->z.avail_in == 0) {
            size_t added = 0;
            hs_status st = refill(s, &added);
            if (st)
                return st;
            if (added == 0)
                return hs_fail(HS_ERR_FORMAT,
                               "'%s': truncated gzip stream (compressed data ends at byte %llu, "
                               "after %llu decompressed bytes)",
                               s->path, (unsigned long long)s->in_base,
                               (unsigned long long)(s->pos + done));
        }
        size_t want = n - done;
        if (want > UINT32_MAX)
            want = UINT32_MAX;
        s->z.next_out = out + done;
        s->z.avail_out = (uInt)want;
        int zr = inflate(&s->z, Z_NO_FLUSH);
        done += want - s->z.avail_out;
        if (zr == Z_STREAM_END) {
            hs_status st = after_member(s);
            if (st) {
                s->pos += done;
                return st;
            }
        } else if (zr == Z_BUF_ERROR) {
            /* no progress possible: needs more input, handled by the refill above */
            if (s->z.avail_in != 0)
                return hs_fail(HS_ERR_FORMAT, "'%s': zlib made no progress at compressed byte %llu",
                               s->path,
                               (unsigned long long)(s->in_base + (uint64_t)(s->z.next_in - s->in)));
        } else if (zr != Z_OK) {
            uint64_t off = s->in_base + (uint64_t)(s->z.next_in - s->in);
            return hs_fail(HS_ERR_FORMAT, "'%s': corrupt gzip data near compressed byte %llu: %s",
                           s->path, (unsigned long long)off,
                           s->z.msg ? s->z.msg : zError(zr));
        }
    }
    s->pos += done;
    *got = done;
    return HS_OK;
}

hs_status hs_instream_read_exact(hs_instream *s, void *buf, size_t n, const char *what)
{
    size_t got;
    uint64_t start = s->pos;
    hs_status st = hs_instream_read(s, buf, n, &got);
    if (st)
        return st;
    if (got < n)
        return hs_fail(HS_ERR_FORMAT, "'%s': truncated: %s needs bytes %llu..%llu but the %sdata ends at byte %llu",
                       s->path, what, (unsigned long long)start, (unsigned long long)(start + n),
                       s->gz ? "decompressed " : "", (unsigned long long)s->pos);
    return HS_OK;
}

hs_status hs_instream_read_alloc(hs_instream *s, uint8_t **out, size_t n, const char *what)
{
    *out = NULL;
    uint64_t start = s->pos;
    size_t cap = n < ((size_t)1 << 22) ? n : ((size_t)1 << 22);
    if (cap == 0)
        cap = 1;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return hs_fail(HS_ERR_NOMEM, "'%s': out of memory (%zu bytes for %s)", s->path, cap, what);
    size_t have = 0;
    while (have < n) {
        if (have == cap) {
            size_t ncap = cap > n / 2 ? n : 2 * cap;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                return hs_fail(HS_ERR_NOMEM, "'%s': out of memory (%zu bytes for %s)", s->path,
                               ncap, what);
            }
            buf = nb;
            cap = ncap;
        }
        size_t got;
        hs_status st = hs_instream_read(s, buf + have, cap - have, &got);
        if (st) {
            free(buf);
            return st;
        }
        have += got;
        if (got == 0 || s->at_end)
            break;
    }
    if (have < n) {
        free(buf);
        return hs_fail(HS_ERR_FORMAT, "'%s': truncated: %s needs bytes %llu..%llu but the %sdata ends at byte %llu",
                       s->path, what, (unsigned long long)start, (unsigned long long)(start + n),
                       s->gz ? "decompressed " : "", (unsigned long long)s->pos);
    }
    *out = buf;
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

hs_status hs_outstream_open(hs_outstream *s, const char *path, int gz)
{
    memset(s, 0, sizeof *s);
    s->gz = gz;
    hs_status st = hs_atomic_open(&s->af, path);
    if (st)
        return st;
    if (gz) {
        s->buf = malloc(HS_STREAM_CHUNK);
        if (!s->buf) {
            hs_atomic_abort(&s->af);
            return hs_fail(HS_ERR_NOMEM, "'%s': out of memory for the gzip buffer", path);
        }
        if (deflateInit2(&s->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            free(s->buf);
            s->buf = NULL;
            hs_atomic_abort(&s->af);
            return hs_fail(HS_ERR_NOMEM, "'%s': zlib deflateInit2 failed", path);
        }
        s->z_ready = 1;
    }
    return HS_OK;
}

static hs_status deflate_step(hs_outstream *s, int flush)
{
    int zr;
    do {
        s->z.next_out = s->buf;
        s->z.avail_out = (uInt)HS_STREAM_CHUNK;
        zr = deflate(&s->z, flush);
        if (zr == Z_STREAM_ERROR)
            return hs_fail(HS_ERR_IO, "'%s': zlib deflate failed", s->af.path);
        size_t n = HS_STREAM_CHUNK - s->z.avail_out;
        if (n && fwrite(s->buf, 1, n, s->af.f) != n)
            return hs_fail(HS_ERR_IO, "cannot write '%s': %s", s->af.path, strerror(errno));
    } while (s->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
    return HS_OK;
}

hs_status hs_outstream_write(hs_outstream *s, const void *data, size_t n)
{
    if (!s->gz) {
        if (n && fwrite(data, 1, n, s->af.f) != n)
            return hs_fail(HS_ERR_IO, "cannot write '%s': %s", s->af.path, strerror(errno));
        return HS_OK;
    }
    const unsigned char *p = data;
    while (n) {
        size_t part = n > UINT32_MAX ? UINT32_MAX : n;
        s->z.next_in = (unsigned char *)(uintptr_t)p;
        s->z.avail_in = (uInt)part;
        hs_status st = deflate_step(s, Z_NO_FLUSH);
        if (st)
            return st;
        p += part;
        n -= part;
    }
    return HS_OK;
}

hs_status hs_outstream_commit(hs_outstream *s)
{
    if (s->gz) {
        s->z.next_in = NULL;
        s->z.avail_in = 0;
        hs_status st = deflate_step(s, Z_FINISH);
        if (st) {
            hs_outstream_abort(s);
            return st;
        }
        deflateEnd(&s->z);
        s->z_ready = 0;
        free(s->buf);
        s->buf = NULL;
    }
    return hs_atomic_commit(&s->af);
}

void hs_outstream_abort(hs_outstream *s)
{
    if (s->z_ready)
        deflateEnd(&s->z);
    s->z_ready = 0;
    free(s->buf);
    s->buf = NULL;
    hs_atomic_abort(&s->af);
}

char *hs_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) {
        hs_fail(HS_ERR_NOMEM, "out of memory for a path");
        return NULL;
    }
    memcpy(p, dir, a);
    size_t at = a;
    if (a && dir[a - 1] != '/')
        p[at++] = '/';
    memcpy(p + at, name, b + 1);
    return p;
}

int hs_path_is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}
