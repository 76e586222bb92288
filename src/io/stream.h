/* Internal: the project's one reader of files that may be gzip-compressed, and its gzip
 * writer. Every compressed reader (IDX and CIFAR-10 images, gbrt tables, results and metrics
 * CSV files) goes through hs_instream, so that all of them refuse the same things with the
 * same messages: a truncated gzip stream, corrupt data or CRC, garbage after the last gzip
 * member. Compression is detected from the content (magic 1f 8b), not from the name;
 * concatenated gzip members are read as one stream (as gzip does). Every failure is
 * recorded with hs_fail naming the file and the byte offset.
 *
 * This is the io layer: the only part of the library that needs zlib (the zlib state is
 * private to stream.c, so this header does not include zlib.h). */
#ifndef HS_IO_STREAM_H
#define HS_IO_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hypersimplex.h"
#include "util/atomic_file.h"

struct hs_zin;
struct hs_zout;

typedef struct hs_instream {
    FILE *f;
    const char *path;       /* borrowed, for messages */
    int gz;                 /* 1: gzip members, decompressed on the fly */
    struct hs_zin *z;       /* gzip state (gz only) */
    unsigned char head[2];  /* raw files: the bytes read to look for the gzip magic */
    size_t head_n, head_at; /* how many, how many of them delivered */
    uint64_t pos;           /* (decompressed) bytes delivered so far */
    int at_end;             /* no more data (after a clean end) */
} hs_instream;

/* Opens path (never seeks, so pipes and /dev/stdin work). HS_ERR_IO if it cannot be opened;
 * HS_ERR_FORMAT if it is empty, unless allow_empty. */
hs_status hs_instream_open(hs_instream *s, const char *path, int allow_empty);
void hs_instream_close(hs_instream *s);

/* Reads up to n bytes into buf; *got < n only at the end of the data. Errors: HS_ERR_IO
 * (read error), HS_ERR_FORMAT (corrupt or truncated gzip stream, trailing garbage after it). */
hs_status hs_instream_read(hs_instream *s, void *buf, size_t n, size_t *got);

/* Reads exactly n bytes of `what` or fails with HS_ERR_FORMAT "truncated". */
hs_status hs_instream_read_exact(hs_instream *s, void *buf, size_t n, const char *what);

/* Reads exactly n bytes into a newly malloc'ed buffer, growing it as data arrive, so a
 * header that claims more data than the file holds never allocates the claimed size. */
hs_status hs_instream_read_alloc(hs_instream *s, uint8_t **out, size_t n, const char *what);

/* Reads the rest of the data into a malloc'ed buffer with a NUL after the last byte.
 * HS_ERR_FORMAT if the (decompressed) data exceed max bytes: the buffer grows as data
 * arrive and never beyond max + 1, so a small compressed file cannot claim unbounded memory. */
hs_status hs_instream_read_all(hs_instream *s, char **out, size_t *len, size_t max);

/* Fails with HS_ERR_FORMAT "oversized" if any data remains. */
hs_status hs_instream_expect_end(hs_instream *s);

/* Lines of a text file read through an hs_instream. */
typedef struct hs_linereader {
    hs_instream *s;
    char *buf;
    size_t cap, start, end; /* buf[start, end) holds data not yet returned */
    size_t max_line;        /* longest line accepted, in bytes */
    size_t lineno;          /* 1-based number of the line last returned */
    int eof;
} hs_linereader;

/* Starts reading lines of s (which stays owned by the caller); lines longer than max_line
 * bytes fail with HS_ERR_FORMAT "PATH:LINE: line longer than ...", a line holding a NUL byte
 * with HS_ERR_FORMAT "PATH:LINE:COLUMN: a NUL byte ...". */
void hs_linereader_init(hs_linereader *r, hs_instream *s, size_t max_line);
/* 1: *line holds the next line (terminator "\n" or "\r\n" removed, NUL-terminated, *len its
 * length; valid until the next call), 0: end of the data, -1: error (*err set). */
int hs_linereader_next(hs_linereader *r, char **line, size_t *len, hs_status *err);
void hs_linereader_free(hs_linereader *r);

/* Atomic writing (util/atomic_file.h), raw or gzip-compressed. */
typedef struct hs_outstream {
    hs_atomic_file af;
    int gz;
    struct hs_zout *z;
} hs_outstream;

hs_status hs_outstream_open(hs_outstream *s, const char *path, int gz);
hs_status hs_outstream_write(hs_outstream *s, const void *data, size_t n);
/* Ends the gzip stream; the file is then complete in s->af, to be committed (alone or with
 * the other outputs of the same operation, hs_atomic_commit_all). On failure s is aborted. */
hs_status hs_outstream_finish(hs_outstream *s);
/* hs_outstream_finish, then hs_atomic_commit. */
hs_status hs_outstream_commit(hs_outstream *s);
void hs_outstream_abort(hs_outstream *s);

#endif
