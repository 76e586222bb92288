#define _POSIX_C_SOURCE 200809L
#include "util/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util/error.h"

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

int hs_path_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

int hs_path_is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* mkdir that accepts an existing directory (and only a directory). */
static int make_one(const char *path)
{
    if (mkdir(path, 0777) == 0)
        return 0;
    int e = errno;
    struct stat sb;
    if (e == EEXIST && stat(path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode))
            return 0;
        e = ENOTDIR;
    }
    errno = e;
    return -1;
}

hs_status hs_mkdirs(const char *dir)
{
    if (!dir || !*dir)
        return hs_fail(HS_ERR_NULL, "no directory given");
    char *p = malloc(strlen(dir) + 1);
    if (!p)
        return hs_fail(HS_ERR_NOMEM, "out of memory creating %s", dir);
    strcpy(p, dir);
    hs_status st = HS_OK;
    for (char *c = p + 1; *c && !st; c++) {
        if (*c != '/' || c[-1] == '/')
            continue;
        *c = '\0';
        if (make_one(p))
            st = hs_fail(HS_ERR_IO, "cannot create directory %s: %s", p, strerror(errno));
        *c = '/';
    }
    if (!st && make_one(p))
        st = hs_fail(HS_ERR_IO, "cannot create directory %s: %s", p, strerror(errno));
    free(p);
    return st;
}

double hs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
