/* Internal: sequential reading of a data file that is either raw or gzip-compressed
 * (detected from its first two bytes, 0x1f 0x8b), with strict end-of-file checks. Every
 * failure is recorded with hs_fail naming the file and the byte offset. */
#ifndef HS_DATA_STREAM_H
#define HS_DATA_STREAM_H

#include <stdint.h>
#include <stdio.h>

#include <zlib.h>

#include "hypersimplex.h"

typedef struct hs_instream {
    FILE *f;
    const char *path;       /* borrowed, for messages */
    int gz;                 /* 1: gzip members, decompressed on the fly */
    int z_ready;            /* inflateInit2 done */
    z_stream z;
    unsigned char *in;      /* compressed input buffer (gz only) */
    uint64_t in_base;       /* file offset of in[0] */
    uint64_t pos;           /* decompressed bytes delivered so far */
    int at_end;             /* no more data (after a clean end) */
} hs_instream;

/* Opens path. HS_ERR_IO if it cannot be opened; HS_ERR_FORMAT if it is empty. */
hs_status hs_instream_open(hs_instream *s, const char *path);
void hs_instream_close(hs_instream *s);

/* Reads up to n bytes into buf; *got < n only at the end of the data. Errors: HS_ERR_IO
 * (read error), HS_ERR_FORMAT (corrupt or truncated gzip stream, trailing garbage after it). */
hs_status hs_instream_read(hs_instream *s, void *buf, size_t n, size_t *got);

/* Reads exactly n bytes of `what` or fails with HS_ERR_FORMAT "truncated". */
hs_status hs_instream_read_exact(hs_instream *s, void *buf, size_t n, const char *what);

/* Reads exactly n bytes into a newly malloc'ed buffer, growing it as data arrives, so a
 * header that claims more data than the file holds never allocates the claimed size. */
hs_status hs_instream_read_alloc(hs_instream *s, uint8_t **out, size_t n, const char *what);

/* Fails with HS_ERR_FORMAT "oversized" if any data remains. */
hs_status hs_instream_expect_end(hs_instream *s);



/* Internal: atomic writing, raw or gzip-compressed (used by the writers for tests and small
 * data sets). */
#include "util/atomic_file.h"

typedef struct hs_outstream {
    hs_atomic_file af;
    int gz;
    int z_ready;
    z_stream z;
    unsigned char *buf;
} hs_outstream;

hs_status hs_outstream_open(hs_outstream *s, const char *path, int gz);
hs_status hs_outstream_write(hs_outstream *s, const void *data, size_t n);
/* Finishes the gzip stream and commits the file. */
hs_status hs_outstream_commit(hs_outstream *s);
void hs_outstream_abort(hs_outstream *s);

/* Path join "dir/name" into a malloc'ed string, or NULL (HS_ERR_NOMEM recorded). */
char *hs_path_join(const char *dir, const char *name);
/* 1 if path names an existing regular file (or a link to one). */
int hs_path_is_file(const char *path);
#endif
