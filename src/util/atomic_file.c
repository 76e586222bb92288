#define _XOPEN_SOURCE 700 /* realpath */
#include "util/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

static char *dup_printf_path(const char *path, const char *suffix, long pid)
{
    size_t n = strlen(path) + strlen(suffix) + 32;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%ld", path, suffix, pid);
    return s;
}

hs_status hs_atomic_open(hs_atomic_file *af, const char *path)
{
    memset(af, 0, sizeof *af);
    if (!path || !*path)
        return hs_fail(HS_ERR_NULL, "no output path given");
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (exists && !S_ISREG(st.st_mode)) {
        /* A device or FIFO: no temporary file, no rename. */
        af->f = fopen(path, "wb");
        if (!af->f)
            return hs_fail(HS_ERR_IO, "cannot open %s for writing: %s", path, strerror(errno));
        return HS_OK;
    }
    char resolved[PATH_MAX];
    struct stat lst;
    if (exists && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) && realpath(path, resolved))
        path = resolved; /* replace the link's target, keep the link */
    af->path = malloc(strlen(path) + 1);
    af->tmp_path = dup_printf_path(path, ".tmp.", (long)getpid());
    if (!af->path || !af->tmp_path) {
        hs_atomic_abort(af);
        return hs_fail(HS_ERR_NOMEM, "out of memory opening %s", path);
    }
    strcpy(af->path, path);
    af->f = fopen(af->tmp_path, "wb");
    if (!af->f) {
        int e = errno;
        hs_fail(HS_ERR_IO, "cannot create %s: %s", af->tmp_path, strerror(e));
        hs_atomic_abort(af);
        return HS_ERR_IO;
    }
    return HS_OK;
}

static void sync_parent_dir(const char *path)
{
    char *dir = malloc(strlen(path) + 2);
    if (!dir)
        return;
    strcpy(dir, path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd); /* best effort: some file systems refuse fsync on directories */
        close(fd);
    }
    free(dir);
}

hs_status hs_atomic_commit(hs_atomic_file *af)
{
    if (!af->f)
        return hs_fail(HS_ERR_IO, "file %s was not open", af->path ? af->path : "?");
    if (!af->tmp_path) {
        /* direct write to a device or FIFO */
        int bad = ferror(af->f) != 0;
        bad |= fclose(af->f) != 0;
        af->f = NULL;
        return bad ? hs_fail(HS_ERR_IO, "writing to a device or pipe failed") : HS_OK;
    }
    int bad = ferror(af->f) != 0;
    int e = bad ? EIO : 0;
    if (!bad && fflush(af->f) != 0) {
        bad = 1;
        e = errno;
    }
    if (!bad && fsync(fileno(af->f)) != 0) {
        bad = 1;
        e = errno;
    }
    if (fclose(af->f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    af->f = NULL;
    if (!bad && rename(af->tmp_path, af->path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        hs_status s = hs_fail(HS_ERR_IO, "writing %s failed: %s", af->path, strerror(e));
        hs_atomic_abort(af);
        return s;
    }
    sync_parent_dir(af->path);
    free(af->path);
    free(af->tmp_path);
    af->path = af->tmp_path = NULL;
    return HS_OK;
}

void hs_atomic_abort(hs_atomic_file *af)
{
    if (af->f)
        fclose(af->f);
    if (af->tmp_path)
        unlink(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}
