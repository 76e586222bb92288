/* The shared helpers every layer writes and reads files with: the atomic writer (regular
 * files replaced by rename, everything else written in place, several outputs all-or-none,
 * the same target twice refused), the directory lock (and its hand-down to a child), the
 * file-system helpers, and the one gzip reader (truncation and trailing garbage refused, pipes
 * read without seeking, bounded whole-file reads, lines). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "io/stream.h"
#include "util/atomic_file.h"
#include "util/dir_lock.h"
#include "util/fs.h"

static char dir[64];

static char *at(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void put(const char *name, const char *text)
{
    FILE *f = fopen(at(name), "wb");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* The content of a file of the temp dir ("<missing>" if absent), in a static buffer. */
static const char *get(const char *name)
{
    static char buf[4096];
    FILE *f = fopen(at(name), "rb");
    if (!f)
        return "<missing>";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Number of entries of the temp dir whose name contains ".tmp." (leftover temporaries). */
static int temporaries(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/hs_test_util_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_one(const char *path, const char *text)
{
    hs_atomic_file af;
    assert_int_equal(hs_atomic_open(&af, path), HS_OK);
    fputs(text, af.f);
    assert_int_equal(hs_atomic_commit(&af), HS_OK);
}

static void test_atomic_regular_files(void **state)
{
    (void)state;
    /* a new file, then a replacement that keeps the old permission bits */
    write_one(at("a.txt"), "one\n");
    assert_string_equal(get("a.txt"), "one\n");
    assert_int_equal(chmod(at("a.txt"), 0640), 0);
    write_one(at("a.txt"), "two\n");
    assert_string_equal(get("a.txt"), "two\n");
    struct stat sb;
    assert_int_equal(stat(at("a.txt"), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    assert_int_equal(temporaries(), 0);

    /* a link: the target is replaced, the link stays; a dangling link gets its target */
    assert_int_equal(symlink("a.txt", at("link")), 0);
    write_one(at("link"), "three\n");
    assert_int_equal(lstat(at("link"), &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    assert_string_equal(get("a.txt"), "three\n");
    assert_int_equal(symlink("new.txt", at("dangling")), 0);
    write_one(at("dangling"), "four\n");
    assert_int_equal(lstat(at("dangling"), &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    assert_string_equal(get("new.txt"), "four\n");

    /* abort: the old file stays, no temporary is left */
    hs_atomic_file af;
    assert_int_equal(hs_atomic_open(&af, at("a.txt")), HS_OK);
    fputs("lost\n", af.f);
    hs_atomic_abort(&af);
    assert_string_equal(get("a.txt"), "three\n");
    assert_int_equal(temporaries(), 0);

    /* a directory, a missing directory: refused at open, nothing created */
    assert_int_equal(hs_atomic_open(&af, dir), HS_ERR_ARG);
    assert_int_equal(hs_atomic_open(&af, at("nodir/x.txt")), HS_ERR_IO);
    assert_non_null(strstr(hs_last_error(), "nodir"));
    assert_null(af.f);
    hs_atomic_abort(&af); /* safe after a failed open */
}

/* /dev/stdout, /dev/fd/N and /proc/self/fd/N are written through our own descriptor, in
 * place: a file behind it keeps what was written before and after (the shell's semantics),
 * and is never replaced by another file. */
static void test_atomic_in_place(void **state)
{
    (void)state;
    int fd = open(at("stream.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    struct stat before, after;
    assert_int_equal(fstat(fd, &before), 0);
    assert_int_equal(write(fd, "before\n", 7), 7);
    char path[64];
    const char *forms[2] = {"/proc/self/fd/%d", "/dev/fd/%d"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, forms[i], fd);
        hs_atomic_file af;
        assert_int_equal(hs_atomic_open(&af, path), HS_OK);
        assert_null(af.tmp_path);
        fprintf(af.f, "middle %d\n", i);
        assert_int_equal(hs_atomic_commit(&af), HS_OK);
    }
    assert_int_equal(write(fd, "after\n", 6), 6);
    assert_int_equal(fstat(fd, &after), 0);
    close(fd);
    assert_string_equal(get("stream.txt"), "before\nmiddle 0\nmiddle 1\nafter\n");
    assert_int_equal(stat(at("stream.txt"), &after), 0);
    assert_true(before.st_ino == after.st_ino);

    /* a device: written in place, a failed write is an error */
    hs_atomic_file af;
    assert_int_equal(hs_atomic_open(&af, "/dev/null"), HS_OK);
    fputs("x", af.f);
    assert_int_equal(hs_atomic_commit(&af), HS_OK);
    assert_int_equal(hs_atomic_open(&af, "/dev/full"), HS_OK);
    fputs("x", af.f);
    assert_int_equal(hs_atomic_commit(&af), HS_ERR_IO);
    assert_non_null(strstr(hs_last_error(), "/dev/full"));

    /* a descriptor that is not open */
    assert_int_equal(hs_atomic_open(&af, "/proc/self/fd/987"), HS_ERR_IO);
}

/* Several outputs: none replaced unless all are complete; the same target twice refused. */
static void test_atomic_all_or_none(void **state)
{
    (void)state;
    put("p.txt", "old p\n");
    put("v.txt", "old v\n");
    hs_atomic_file a, b;
    hs_atomic_file *both[2] = {&a, &b};
    /* the second output fails (a full device): the first file keeps its old content */
    assert_int_equal(hs_atomic_open(&a, at("p.txt")), HS_OK);
    assert_int_equal(hs_atomic_open(&b, "/dev/full"), HS_OK);
    fputs("new p\n", a.f);
    fputs("new v\n", b.f);
    assert_int_equal(hs_atomic_commit_all(both, 2), HS_ERR_IO);
    assert_string_equal(get("p.txt"), "old p\n");
    assert_int_equal(temporaries(), 0);
    /* a write error on the first: the second is not replaced either */
    assert_int_equal(hs_atomic_open(&a, at("p.txt")), HS_OK);
    assert_int_equal(hs_atomic_open(&b, at("v.txt")), HS_OK);
    fputs("new v\n", b.f);
    fclose(a.f); /* the first output's stream now fails (as on a full disk) */
    a.f = fopen("/dev/full", "w");
    assert_non_null(a.f);
    fputs("new p\n", a.f);
    assert_int_equal(hs_atomic_commit_all(both, 2), HS_ERR_IO);
    assert_string_equal(get("v.txt"), "old v\n");
    assert_string_equal(get("p.txt"), "old p\n");
    /* both fine: both replaced */
    assert_int_equal(hs_atomic_open(&a, at("p.txt")), HS_OK);
    assert_int_equal(hs_atomic_open(&b, at("v.txt")), HS_OK);
    fputs("new p\n", a.f);
    fputs("new v\n", b.f);
    assert_int_equal(hs_atomic_commit_all(both, 2), HS_OK);
    assert_string_equal(get("p.txt"), "new p\n");
    assert_string_equal(get("v.txt"), "new v\n");
    assert_int_equal(temporaries(), 0);

    /* the same target under different names */
    assert_int_equal(symlink("p.txt", at("p_link")), 0);
    char dotted[300];
    snprintf(dotted, sizeof dotted, "%s/./p.txt", dir);
    const char *same_as_p[3] = {dotted, at("p_link"), at("p.txt")};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hs_atomic_open(&a, at("p.txt")), HS_OK);
        assert_int_equal(hs_atomic_open(&b, same_as_p[i]), HS_OK);
        assert_int_equal(hs_atomic_check_distinct(both, 2), HS_ERR_ARG);
        assert_non_null(strstr(hs_last_error(), "same file"));
        fputs("lost\n", a.f);
        assert_int_equal(hs_atomic_commit_all(both, 2), HS_ERR_ARG); /* also refused there */
    }
    assert_string_equal(get("p.txt"), "new p\n");
    /* files still to be created, spelled two ways */
    snprintf(dotted, sizeof dotted, "%s/./q.txt", dir);
    assert_int_equal(hs_atomic_open(&a, at("q.txt")), HS_OK);
    assert_int_equal(hs_atomic_open(&b, dotted), HS_OK);
    assert_int_equal(hs_atomic_check_distinct(both, 2), HS_ERR_ARG);
    hs_atomic_abort_all(both, 2);
    assert_string_equal(get("q.txt"), "<missing>");
    /* /dev/stdout and descriptor 1 */
    assert_int_equal(hs_atomic_open(&a, "/dev/stdout"), HS_OK);
    assert_int_equal(hs_atomic_open_fd(&b, 1, "the standard output"), HS_OK);
    assert_int_equal(hs_atomic_check_distinct(both, 2), HS_ERR_ARG);
    hs_atomic_abort_all(both, 2);
    /* different files are fine */
    assert_int_equal(hs_atomic_open(&a, at("p.txt")), HS_OK);
    assert_int_equal(hs_atomic_open(&b, at("v.txt")), HS_OK);
    assert_int_equal(hs_atomic_check_distinct(both, 2), HS_OK);
    hs_atomic_abort_all(both, 2);
    assert_int_equal(temporaries(), 0);
}

static void test_fs(void **state)
{
    (void)state;
    char *p = hs_path_join("a/", "b");
    assert_string_equal(p, "a/b");
    free(p);
    p = hs_path_join("a", "b");
    assert_string_equal(p, "a/b");
    free(p);
    assert_int_equal(hs_mkdirs(at("x/y//z")), HS_OK);
    assert_int_equal(hs_mkdirs(at("x/y/z")), HS_OK); /* existing: fine */
    assert_true(hs_path_exists(at("x/y/z")));
    assert_false(hs_path_is_file(at("x/y/z")));
    put("plain", "");
    assert_true(hs_path_is_file(at("plain")));
    assert_int_equal(hs_mkdirs(at("plain/sub")), HS_ERR_IO);
    assert_non_null(strstr(hs_last_error(), "plain"));
    assert_false(hs_path_exists(at("nothing")));
    double t0 = hs_now(), t1 = hs_now();
    assert_true(t1 >= t0);
}

static void test_dir_lock(void **state)
{
    (void)state;
    assert_int_equal(hs_mkdirs(at("run")), HS_OK);
    hs_dir_lock a, b;
    int busy = 0;
    assert_int_equal(hs_dir_lock_take(&a, at("run"), &busy), HS_OK);
    /* a second taker (another open file description, as another process has) is refused */
    assert_int_equal(hs_dir_lock_take(&b, at("run"), &busy), HS_ERR_IO);
    assert_int_equal(busy, 1);
    assert_non_null(strstr(hs_last_error(), "in use by another process"));
    assert_int_equal(b.fd, -1);
    /* ... unless the holder handed its descriptor down */
    char fd_text[16];
    snprintf(fd_text, sizeof fd_text, "%d", a.fd);
    assert_int_equal(setenv(HS_DIR_LOCK_FD_ENV, fd_text, 1), 0);
    assert_int_equal(hs_dir_lock_take(&b, at("run"), &busy), HS_OK);
    assert_int_equal(b.fd, a.fd);
    assert_int_equal(unsetenv(HS_DIR_LOCK_FD_ENV), 0);
    /* a handed-down descriptor of another file is ignored */
    assert_int_equal(hs_mkdirs(at("other")), HS_OK);
    assert_int_equal(setenv(HS_DIR_LOCK_FD_ENV, fd_text, 1), 0);
    hs_dir_lock c;
    assert_int_equal(hs_dir_lock_take(&c, at("other"), &busy), HS_OK);
    assert_true(c.fd != a.fd);
    assert_int_equal(unsetenv(HS_DIR_LOCK_FD_ENV), 0);
    hs_dir_lock_release(&c);
    hs_dir_lock_release(&a); /* b shares a's descriptor */
    assert_int_equal(hs_dir_lock_take(&b, at("run"), &busy), HS_OK);
    hs_dir_lock_release(&b);
    hs_dir_lock_release(&b); /* twice is safe */
    /* a directory that cannot hold the lock file */
    assert_int_equal(hs_dir_lock_take(&b, at("missing"), &busy), HS_ERR_IO);
    assert_int_equal(busy, 0);
}

/* ---- the gzip reader ---- */

static void put_gz(const char *name, const char *text)
{
    gzFile g = gzopen(at(name), "wb");
    assert_non_null(g);
    assert_true(gzputs(g, text) > 0);
    assert_int_equal(gzclose(g), Z_OK);
}

/* Reads a whole file; returns the status, *text the content (freed here on error). */
static hs_status read_whole(const char *name, char **text, size_t max)
{
    hs_instream s;
    hs_status st = hs_instream_open(&s, at(name), 1);
    if (st)
        return st;
    size_t len;
    st = hs_instream_read_all(&s, text, &len, max);
    hs_instream_close(&s);
    return st;
}

static void cut(const char *from, const char *to, long drop)
{
    FILE *f = fopen(at(from), "rb");
    assert_non_null(f);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    FILE *g = fopen(at(to), "wb");
    assert_non_null(g);
    assert_int_equal(fwrite(buf, 1, n - (size_t)drop, g), n - (size_t)drop);
    assert_int_equal(fclose(g), 0);
}

static void test_gzip_reader(void **state)
{
    (void)state;
    char text[4000];
    size_t n = 0;
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "line %d\n", i);
    put_gz("t.gz", text);
    char *got = NULL;
    assert_int_equal(read_whole("t.gz", &got, 1 << 20), HS_OK);
    assert_string_equal(got, text);
    free(got);

    /* truncated: any cut, even one that only loses the CRC and length trailer */
    for (long drop = 1; drop <= 40; drop += 3) {
        cut("t.gz", "cut.gz", drop);
        got = NULL;
        hs_status st = read_whole("cut.gz", &got, 1 << 20);
        if (st != HS_ERR_FORMAT)
            fail_msg("dropping %ld bytes: status %d", drop, (int)st);
        assert_non_null(strstr(hs_last_error(), "cut.gz"));
        assert_non_null(strstr(hs_last_error(), "truncated"));
    }
    /* garbage after the stream; a second gzip member is fine */
    FILE *f = fopen(at("t.gz"), "ab");
    assert_non_null(f);
    fputs("junk", f);
    fclose(f);
    assert_int_equal(read_whole("t.gz", &got, 1 << 20), HS_ERR_FORMAT);
    assert_non_null(strstr(hs_last_error(), "trailing garbage"));
    assert_non_null(strstr(hs_last_error(), "t.gz"));
    put_gz("m1.gz", "first\n");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cd '%s' && printf 'second\\n' | gzip -c >> m1.gz", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(read_whole("m1.gz", &got, 100), HS_OK);
    assert_string_equal(got, "first\nsecond\n");
    free(got);

    /* the size limit: exactly max is fine, one byte more is refused (compressed or not) */
    put("plain.txt", "12345");
    assert_int_equal(read_whole("plain.txt", &got, 5), HS_OK);
    assert_string_equal(got, "12345");
    free(got);
    assert_int_equal(read_whole("plain.txt", &got, 4), HS_ERR_FORMAT);
    assert_non_null(strstr(hs_last_error(), "limit of 4 bytes"));
    assert_int_equal(read_whole("t.gz", &got, 100), HS_ERR_FORMAT);
    assert_non_null(strstr(hs_last_error(), "decompressed"));
    /* empty files: allowed or refused as asked */
    put("empty", "");
    assert_int_equal(read_whole("empty", &got, 10), HS_OK);
    assert_string_equal(got, "");
    free(got);
    hs_instream s;
    assert_int_equal(hs_instream_open(&s, at("empty"), 0), HS_ERR_FORMAT);
    assert_int_equal(hs_instream_open(&s, at("absent"), 1), HS_ERR_IO);
}

/* A pipe is read without seeking (the raw bytes read to look for the gzip magic are
 * delivered first). */
static void test_reader_pipe(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        const char *msg = "ab\r\ncd\nlast";
        _exit(write(p[1], msg, strlen(msg)) == (ssize_t)strlen(msg) ? 0 : 1);
    }
    close(p[1]);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    hs_instream s;
    assert_int_equal(hs_instream_open(&s, path, 0), HS_OK);
    hs_linereader r;
    hs_linereader_init(&r, &s, 100);
    char *line;
    size_t len;
    hs_status err = HS_OK;
    const char *want[3] = {"ab", "cd", "last"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hs_linereader_next(&r, &line, &len, &err), 1);
        assert_string_equal(line, want[i]);
        assert_int_equal(len, strlen(want[i]));
        assert_int_equal(r.lineno, (size_t)i + 1);
    }
    assert_int_equal(hs_linereader_next(&r, &line, &len, &err), 0);
    hs_linereader_free(&r);
    hs_instream_close(&s);
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);

    /* a line longer than the limit */
    char long_line[300];
    memset(long_line, 'x', sizeof long_line - 2);
    long_line[sizeof long_line - 2] = '\n';
    long_line[sizeof long_line - 1] = '\0';
    put("long.txt", long_line);
    assert_int_equal(hs_instream_open(&s, at("long.txt"), 0), HS_OK);
    hs_linereader_init(&r, &s, 100);
    assert_int_equal(hs_linereader_next(&r, &line, &len, &err), -1);
    assert_int_equal(err, HS_ERR_FORMAT);
    assert_non_null(strstr(hs_last_error(), "long.txt:1: line longer than 100 bytes"));
    hs_linereader_free(&r);
    hs_instream_close(&s);

    /* a NUL byte: refused where it is, not read as the end of the line */
    FILE *f = fopen(at("nul.txt"), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite("ok\nx\0y\n", 1, 7, f), 7);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(hs_instream_open(&s, at("nul.txt"), 0), HS_OK);
    hs_linereader_init(&r, &s, 100);
    assert_int_equal(hs_linereader_next(&r, &line, &len, &err), 1);
    assert_string_equal(line, "ok");
    assert_int_equal(hs_linereader_next(&r, &line, &len, &err), -1);
    assert_int_equal(err, HS_ERR_FORMAT);
    assert_non_null(strstr(hs_last_error(), "nul.txt:2:2: a NUL byte"));
    hs_linereader_free(&r);
    hs_instream_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_atomic_regular_files),
        cmocka_unit_test(test_atomic_in_place),
        cmocka_unit_test(test_atomic_all_or_none),
        cmocka_unit_test(test_fs),
        cmocka_unit_test(test_dir_lock),
        cmocka_unit_test(test_gzip_reader),
        cmocka_unit_test(test_reader_pipe),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
