/* Internal: the lock of an output directory, so that two processes never write the same
 * training run. The lock is flock(2) on DIR/.lock (released by the kernel when the holder
 * exits, even when killed). A parent that already holds the lock can hand it to a child:
 * it keeps its descriptor open across exec and names it in the environment variable
 * HS_DIR_LOCK_FD_ENV; the child's hs_dir_lock then uses that descriptor (the same open file
 * description, so flock grants it) instead of competing with its parent. */
#ifndef HS_UTIL_DIR_LOCK_H
#define HS_UTIL_DIR_LOCK_H

#include "hypersimplex.h"

#define HS_DIR_LOCK_FD_ENV "HYPERSIMPLEX_DIR_LOCK_FD"
#define HS_DIR_LOCK_NAME ".lock"

typedef struct hs_dir_lock {
    int fd; /* -1 when not held */
} hs_dir_lock;

/* Takes the lock of dir (which must exist) without waiting. *busy is set to 1 (and
 * HS_ERR_IO returned with a message naming dir) when another process holds it; other
 * failures (the lock file cannot be created) leave *busy 0. */
hs_status hs_dir_lock_take(hs_dir_lock *l, const char *dir, int *busy);
/* Releases the lock (closes the descriptor). Safe on a lock not held. */
void hs_dir_lock_release(hs_dir_lock *l);

#endif
