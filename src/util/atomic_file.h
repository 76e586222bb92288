/* Internal: the project's one way to write an output file, so that no output ever loses data.
 *
 * A regular file (new or existing) is written to "<path>.tmp.<pid>.<n>" beside it, flushed,
 * fsync'ed and closed ("staged"), then renamed over <path> and the directory fsync'ed: a
 * reader or a killed run sees either the old file or the complete new one. An existing file
 * keeps its permission bits. A symbolic link is followed (its target is replaced, the link
 * stays).
 *
 * Everything else is written in place, never renamed over: a device (/dev/null), a FIFO, a
 * socket, anything reached through /proc, and the descriptors behind /dev/stdout,
 * /dev/stderr, /dev/fd/N and /proc/self/fd/N, which are written through this process's own
 * descriptor N (so `( echo a; cmd --output /dev/stdout; echo b ) > f` leaves a, the output
 * and b in f, as a shell redirection would). The content of an in-place target is kept in
 * memory until it is committed, so that it is written only once every output of the
 * command is complete.
 *
 * Several outputs of one command go through hs_atomic_commit_all: all are staged first, and
 * only when every one is complete are the in-place targets written and the files renamed; if
 * any fails before that point, no target is touched. Outputs naming the same file (also
 * through links or different spellings: device and inode are compared when the target
 * exists) are refused. Every write, flush, fsync, close and rename is checked. */
#ifndef HS_UTIL_ATOMIC_FILE_H
#define HS_UTIL_ATOMIC_FILE_H

#include <stdio.h>
#include <sys/types.h>

#include "hypersimplex.h"

typedef struct hs_atomic_file {
    FILE *f;          /* write here */
    char *name;       /* the path as given (for messages) */
    char *path;       /* regular-file target, renamed over at commit; NULL when in place */
    char *tmp_path;   /* the temporary beside path; NULL when in place */
    char *canon;      /* canonical "dir/base" of a target that does not exist yet, or NULL */
    char *place;      /* in place, opened by this name at commit (a device, FIFO, /proc entry) */
    int fd;           /* in place through this descriptor of ours; -1 otherwise */
    int staged;       /* the temporary (or the in-memory content) is complete */
    char *mem;        /* in place: the buffered content */
    size_t mem_len;
    int has_id;       /* dev/ino identify the existing target */
    dev_t dev;
    ino_t ino;
} hs_atomic_file;

/* Opens an output. Fails (target untouched) with HS_ERR_IO if the temporary cannot be created
 * (an unwritable directory is found here, before any work), HS_ERR_ARG if path is a
 * directory, HS_ERR_NULL/HS_ERR_NOMEM. af->f is then NULL and hs_atomic_abort is safe. */
hs_status hs_atomic_open(hs_atomic_file *af, const char *path);
/* Opens an in-place output on one of this process's descriptors (e.g. 1 for the standard
 * output), named `name` in messages. */
hs_status hs_atomic_open_fd(hs_atomic_file *af, int fd, const char *name);
/* Opens dir/name and writes text into it (a convenience for text outputs). */
hs_status hs_atomic_open_text(hs_atomic_file *af, const char *dir, const char *name, const char *text);

/* 1 if a and b are the same target (same device and inode, or the same canonical path of a
 * file still to be created, or the same descriptor). */
int hs_atomic_same(const hs_atomic_file *a, const hs_atomic_file *b);
/* HS_ERR_ARG ("A and B are the same file") if two of the n outputs are the same target. */
hs_status hs_atomic_check_distinct(hs_atomic_file *const *afs, size_t n);

/* Commits one output (hs_atomic_commit_all of one). */
hs_status hs_atomic_commit(hs_atomic_file *af);
/* Commits n outputs together as described above. On any failure every output not yet
 * committed is aborted (temporaries removed) and the error names the file. NULL entries are
 * skipped. */
hs_status hs_atomic_commit_all(hs_atomic_file *const *afs, size_t n);
/* Gives up: closes and removes the temporary, drops buffered content. Safe after a failed
 * open, after a commit and on a zeroed struct. */
void hs_atomic_abort(hs_atomic_file *af);
/* Aborts n outputs (NULL entries skipped). */
void hs_atomic_abort_all(hs_atomic_file *const *afs, size_t n);

#endif
