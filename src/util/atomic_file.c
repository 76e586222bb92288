#define _XOPEN_SOURCE 700 /* realpath, open_memstream */
#include "util/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

enum { MAX_LINKS = 40 }; /* as the kernel's limit on a path's symbolic links */

static char *dup_str(const char *s)
{
    char *d = malloc(strlen(s) + 1);
    if (d)
        strcpy(d, s);
    return d;
}

/* Splits path into a malloc'ed directory part ("." if none) and a pointer to its last
 * component. */
static char *dir_of(const char *path, const char **base)
{
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    if (!slash)
        return dup_str(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

/* Reads an unsigned decimal at *s, advancing it; -1 if there is none. */
static long read_number(const char **s)
{
    const char *p = *s;
    long v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9') {
        if (v > (LONG_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*p++ - '0');
    }
    *s = p;
    return v;
}

/* The descriptor named by canonical directory dir and entry base when they are one of this
 * process's descriptors (/proc/PID/fd/N or /proc/PID/task/TID/fd/N), else -1. */
static int own_descriptor(const char *dir, const char *base)
{
    const char *p = dir;
    if (strncmp(p, "/proc/", 6))
        return -1;
    p += 6;
    if (read_number(&p) != (long)getpid())
        return -1;
    if (!strncmp(p, "/task/", 6)) {
        p += 6;
        if (read_number(&p) < 0)
            return -1;
    }
    if (strcmp(p, "/fd"))
        return -1;
    const char *b = base;
    long fd = read_number(&b);
    return fd >= 0 && fd <= INT_MAX && *b == '\0' ? (int)fd : -1;
}

static hs_status check_writable_fd(int fd, const char *name)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return hs_fail(HS_ERR_IO, "cannot write %s: descriptor %d is not open", name, fd);
    if ((fl & O_ACCMODE) == O_RDONLY)
        return hs_fail(HS_ERR_IO, "cannot write %s: descriptor %d is open for reading only", name, fd);
    return HS_OK;
}

/* Where the data for `name` must go. Fills af->path (a regular file, existing or not, to be
 * replaced by rename), or af->fd (one of our descriptors), or af->tmp_path == NULL with
 * *in_place_path set (a device, FIFO or /proc entry opened by name at commit), plus the
 * identity fields. */
static hs_status resolve(hs_atomic_file *af, char **in_place_path)
{
    *in_place_path = NULL;
    char *cur = dup_str(af->name);
    if (!cur)
        return hs_fail(HS_ERR_NOMEM, "out of memory opening %s", af->name);
    hs_status st = HS_OK;
    for (int hop = 0;; hop++) {
        if (hop > MAX_LINKS) {
            st = hs_fail(HS_ERR_IO, "cannot write %s: too many levels of symbolic links", af->name);
            break;
        }
        const char *base;
        char *dir = dir_of(cur, &base);
        char canon_dir[PATH_MAX];
        if (!dir) {
            st = hs_fail(HS_ERR_NOMEM, "out of memory opening %s", af->name);
            break;
        }
        if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
            free(dir);
            st = hs_fail(HS_ERR_ARG, "cannot write %s: it names a directory", af->name);
            break;
        }
        if (!realpath(dir, canon_dir)) {
            st = hs_fail(HS_ERR_IO, "cannot write %s: directory %s: %s", af->name, dir, strerror(errno));
            free(dir);
            break;
        }
        free(dir);
        if (!strcmp(canon_dir, "/proc") || !strncmp(canon_dir, "/proc/", 6)) {
            /* Never rename inside /proc: /proc/self/fd/1 is a link to whatever the standard
             * output is (a file, a pipe), and replacing that file would lose its content. */
            af->fd = own_descriptor(canon_dir, base);
            if (af->fd >= 0) {
                st = check_writable_fd(af->fd, af->name);
                struct stat sb;
                if (!st && fstat(af->fd, &sb) == 0) {
                    af->has_id = 1;
                    af->dev = sb.st_dev;
                    af->ino = sb.st_ino;
                }
                break;
            }
            *in_place_path = cur;
            cur = NULL;
            break;
        }
        struct stat sb;
        if (lstat(cur, &sb) != 0) {
            if (errno != ENOENT) {
                st = hs_fail(HS_ERR_IO, "cannot write %s: %s", af->name, strerror(errno));
                break;
            }
            size_t n = strlen(canon_dir) + strlen(base) + 2;
            af->canon = malloc(n);
            if (!af->canon) {
                st = hs_fail(HS_ERR_NOMEM, "out of memory opening %s", af->name);
                break;
            }
            snprintf(af->canon, n, "%s%s%s", canon_dir, strcmp(canon_dir, "/") ? "/" : "", base);
            af->path = cur;
            cur = NULL;
            break;
        }
        if (S_ISLNK(sb.st_mode)) {
            char link[PATH_MAX];
            ssize_t n = readlink(cur, link, sizeof link - 1);
            if (n < 0) {
                st = hs_fail(HS_ERR_IO, "cannot write %s: reading the link %s: %s", af->name, cur,
                             strerror(errno));
                break;
            }
            link[n] = '\0';
            char *next;
            if (link[0] == '/') {
                next = dup_str(link);
            } else {
                const char *b;
                char *d = dir_of(cur, &b);
                next = d ? malloc(strlen(d) + (size_t)n + 2) : NULL;
                if (next)
                    sprintf(next, "%s/%s", d, link);
                free(d);
            }
            if (!next) {
                st = hs_fail(HS_ERR_NOMEM, "out of memory opening %s", af->name);
                break;
            }
            free(cur);
            cur = next;
            continue;
        }
        if (S_ISDIR(sb.st_mode)) {
            st = hs_fail(HS_ERR_ARG, "cannot write %s: it is a directory", af->name);
            break;
        }
        af->has_id = 1;
        af->dev = sb.st_dev;
        af->ino = sb.st_ino;
        if (S_ISREG(sb.st_mode))
            af->path = cur;
        else
            *in_place_path = cur; /* a device, FIFO or socket */
        cur = NULL;
        break;
    }
    free(cur);
    return st;
}

/* Creates "<path>.tmp.<pid>.<n>" exclusively, so a stale temporary is never reused. */
static hs_status create_temporary(hs_atomic_file *af)
{
    static unsigned counter;
    size_t n = strlen(af->path) + 48;
    af->tmp_path = malloc(n);
    if (!af->tmp_path)
        return hs_fail(HS_ERR_NOMEM, "out of memory opening %s", af->name);
    int fd = -1;
    for (int attempt = 0; attempt < 1000 && fd < 0; attempt++) {
        snprintf(af->tmp_path, n, "%s.tmp.%ld.%u", af->path, (long)getpid(), counter++);
        fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        hs_status st = hs_fail(HS_ERR_IO, "cannot write %s: cannot create %s: %s", af->name, af->tmp_path,
                               strerror(errno));
        free(af->tmp_path);
        af->tmp_path = NULL;
        return st;
    }
    struct stat sb;
    if (af->has_id && stat(af->path, &sb) == 0)
        (void)fchmod(fd, sb.st_mode & 07777); /* best effort: keep the replaced file's mode */
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        hs_status st = hs_fail(HS_ERR_IO, "cannot write %s: %s", af->name, strerror(errno));
        close(fd);
        return st;
    }
    return HS_OK;
}

static hs_status open_memory(hs_atomic_file *af)
{
    af->f = open_memstream(&af->mem, &af->mem_len);
    if (!af->f)
        return hs_fail(HS_ERR_NOMEM, "out of memory opening %s", af->name);
    return HS_OK;
}

hs_status hs_atomic_open(hs_atomic_file *af, const char *path)
{
    memset(af, 0, sizeof *af);
    af->fd = -1;
    if (!path || !*path)
        return hs_fail(HS_ERR_NULL, "no output path given");
    af->name = dup_str(path);
    if (!af->name)
        return hs_fail(HS_ERR_NOMEM, "out of memory opening %s", path);
    char *in_place = NULL;
    hs_status st = resolve(af, &in_place);
    if (!st && af->path) {
        st = create_temporary(af);
    } else if (!st) {
        if (in_place) {
            /* written by name at commit: check now that it can be, before any work */
            if (access(in_place, W_OK) != 0)
                st = hs_fail(HS_ERR_IO, "cannot write %s: %s", af->name, strerror(errno));
            af->place = in_place;
            in_place = NULL;
        }
        if (!st)
            st = open_memory(af);
    }
    free(in_place);
    if (st)
        hs_atomic_abort(af);
    return st;
}

hs_status hs_atomic_open_fd(hs_atomic_file *af, int fd, const char *name)
{
    memset(af, 0, sizeof *af);
    af->fd = fd;
    af->name = dup_str(name ? name : "?");
    if (!af->name)
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    hs_status st = check_writable_fd(fd, af->name);
    struct stat sb;
    if (!st && fstat(fd, &sb) == 0) {
        af->has_id = 1;
        af->dev = sb.st_dev;
        af->ino = sb.st_ino;
    }
    if (!st)
        st = open_memory(af);
    if (st)
        hs_atomic_abort(af);
    return st;
}

hs_status hs_atomic_open_text(hs_atomic_file *af, const char *dir, const char *name, const char *text)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    if (!path) {
        memset(af, 0, sizeof *af);
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    }
    snprintf(path, n, "%s/%s", dir, name);
    hs_status st = hs_atomic_open(af, path);
    free(path);
    if (!st)
        fputs(text ? text : "", af->f);
    return st;
}

int hs_atomic_same(const hs_atomic_file *a, const hs_atomic_file *b)
{
    if (!a->name || !b->name)
        return 0; /* not open */
    if (a->has_id && b->has_id)
        return a->dev == b->dev && a->ino == b->ino;
    if (a->fd >= 0 && a->fd == b->fd)
        return 1;
    return a->path && b->path && a->canon && b->canon && !strcmp(a->canon, b->canon);
}

hs_status hs_atomic_check_distinct(hs_atomic_file *const *afs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; afs[i] && j < i; j++)
            if (afs[j] && hs_atomic_same(afs[i], afs[j]))
                return hs_fail(HS_ERR_ARG, "%s and %s are the same file: give each output its own file",
                               afs[j]->name, afs[i]->name);
    return HS_OK;
}

/* Completes the content: the temporary flushed, fsync'ed and closed, or the in-memory
 * buffer closed. */
static hs_status stage(hs_atomic_file *af)
{
    if (af->staged)
        return HS_OK;
    if (!af->f)
        return hs_fail(HS_ERR_IO, "writing %s: the file was not open", af->name ? af->name : "?");
    int e = 0;
    if (ferror(af->f))
        e = EIO;
    if (!e && fflush(af->f) != 0)
        e = errno;
    if (!e && af->tmp_path && fsync(fileno(af->f)) != 0)
        e = errno;
    if (fclose(af->f) != 0 && !e)
        e = errno;
    af->f = NULL;
    if (e)
        return hs_fail(HS_ERR_IO, "writing %s failed: %s", af->name, strerror(e));
    af->staged = 1;
    return HS_OK;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes the buffered content of an in-place target. */
static hs_status publish_in_place(hs_atomic_file *af)
{
    int fd = af->fd;
    if (fd < 0) {
        fd = open(af->place, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            return hs_fail(HS_ERR_IO, "cannot write %s: %s", af->name, strerror(errno));
    } else if (fd == fileno(stdout) && fflush(stdout) != 0) {
        return hs_fail(HS_ERR_IO, "writing %s failed: %s", af->name, strerror(errno)); /* keep the order */
    }
    int e = write_all(fd, af->mem, af->mem_len) ? errno : 0;
    if (af->fd < 0 && close(fd) != 0 && !e)
        e = errno;
    if (e)
        return hs_fail(HS_ERR_IO, "writing %s failed: %s", af->name, strerror(e));
    return HS_OK;
}

static void sync_parent_dir(const char *path)
{
    const char *base;
    char *dir = dir_of(path, &base);
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: some file systems refuse fsync on directories */
        close(fd);
    }
    free(dir);
}

hs_status hs_atomic_commit_all(hs_atomic_file *const *afs, size_t n)
{
    hs_status st = hs_atomic_check_distinct(afs, n);
    for (size_t i = 0; !st && i < n; i++)
        if (afs[i])
            st = stage(afs[i]);
    /* in-place targets first: they are the ones that can still fail (a full device, a closed
     * pipe), and until the first rename no file has been replaced */
    for (size_t i = 0; !st && i < n; i++)
        if (afs[i] && !afs[i]->tmp_path) {
            st = publish_in_place(afs[i]);
            if (!st)
                hs_atomic_abort(afs[i]); /* done: release it */
        }
    for (size_t i = 0; !st && i < n; i++) {
        hs_atomic_file *af = afs[i];
        if (!af || !af->tmp_path)
            continue;
        if (rename(af->tmp_path, af->path) != 0) {
            st = hs_fail(HS_ERR_IO, "writing %s failed: renaming %s: %s", af->name, af->tmp_path,
                         strerror(errno));
            break;
        }
        sync_parent_dir(af->path);
        free(af->tmp_path);
        af->tmp_path = NULL; /* nothing left to remove */
        hs_atomic_abort(af);
    }
    hs_atomic_abort_all(afs, n);
    return st;
}

hs_status hs_atomic_commit(hs_atomic_file *af)
{
    return hs_atomic_commit_all(&af, 1);
}

void hs_atomic_abort(hs_atomic_file *af)
{
    if (!af)
        return;
    if (af->f)
        fclose(af->f);
    if (af->tmp_path)
        unlink(af->tmp_path);
    free(af->name);
    free(af->path);
    free(af->tmp_path);
    free(af->canon);
    free(af->place);
    free(af->mem);
    memset(af, 0, sizeof *af);
    af->fd = -1;
}

void hs_atomic_abort_all(hs_atomic_file *const *afs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hs_atomic_abort(afs[i]);
}
