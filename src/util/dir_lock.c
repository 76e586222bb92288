#define _DEFAULT_SOURCE /* flock */
#include "util/dir_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/fs.h"

/* The descriptor handed down by a parent, if it is open on the same file as fd. */
static int inherited(int fd)
{
    const char *v = getenv(HS_DIR_LOCK_FD_ENV);
    if (!v || !*v)
        return -1;
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (*end || n < 0 || n > INT_MAX || n == fd)
        return -1;
    struct stat a, b;
    if (fstat((int)n, &a) != 0 || fstat(fd, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        return -1;
    return (int)n;
}

hs_status hs_dir_lock_take(hs_dir_lock *l, const char *dir, int *busy)
{
    l->fd = -1;
    if (busy)
        *busy = 0;
    char *path = hs_path_join(dir, HS_DIR_LOCK_NAME);
    if (!path)
        return HS_ERR_NOMEM;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        hs_status st = hs_fail(HS_ERR_IO, "cannot create the lock file %s: %s", path, strerror(errno));
        free(path);
        return st;
    }
    int from_parent = inherited(fd);
    if (from_parent >= 0) {
        close(fd);
        fd = from_parent;
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC); /* not handed further down by accident */
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        hs_status st;
        if (e == EWOULDBLOCK) {
            if (busy)
                *busy = 1;
            st = hs_fail(HS_ERR_IO, "%s is in use by another process (%s is locked): wait for it to "
                                    "finish or choose another directory", dir, path);
        } else {
            st = hs_fail(HS_ERR_IO, "cannot lock %s: %s", path, strerror(e));
        }
        close(fd);
        free(path);
        return st;
    }
    free(path);
    l->fd = fd;
    return HS_OK;
}

void hs_dir_lock_release(hs_dir_lock *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}
