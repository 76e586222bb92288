/* Internal: files written atomically. Data goes to "<path>.tmp.<pid>", is flushed and
 * fsync'ed, then renamed over <path> (and the directory fsync'ed), so a reader or a killed
 * run sees either the old file or the complete new one, never a half-written file.
 * A symbolic link is followed (its target is replaced, the link stays). A path that exists and
 * is not a regular file (a device such as /dev/null or /dev/stdout, a FIFO) is written
 * directly: renaming over it would replace the device itself. */
#ifndef HS_UTIL_ATOMIC_FILE_H
#define HS_UTIL_ATOMIC_FILE_H

#include <stdio.h>

#include "hypersimplex.h"

typedef struct hs_atomic_file {
    FILE *f;            /* write here */
    char *path;         /* final name */
    char *tmp_path;     /* temporary name; NULL when writing directly (not a regular file) */
} hs_atomic_file;

/* Opens the temporary file ("wb"). On failure sets hs_last_error and returns HS_ERR_IO. */
hs_status hs_atomic_open(hs_atomic_file *af, const char *path);
/* Checks ferror, flushes, fsyncs, closes and renames. On any failure the temporary file is
 * removed, the old <path> is untouched, and HS_ERR_IO is returned. */
hs_status hs_atomic_commit(hs_atomic_file *af);
/* Gives up: closes and removes the temporary file. Safe to call after a failed open. */
void hs_atomic_abort(hs_atomic_file *af);

#endif
