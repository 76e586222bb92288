/* Tests of `hypersimplex project`: output values, the VJP, and bad input (exit status 2, an
 * error naming line and column, no output file touched). Runs the built executable. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[256];

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Reads a file of the temp dir into buf ("" if missing). */
static void read_file(const char *name, char *buf, size_t cap)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs the CLI with args (a shell fragment) in the temp dir; stdout -> out.txt, stderr ->
 * err.txt. Returns the exit status. */
static int run(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' project %s > out.txt 2> err.txt", dir, HS_CLI_PATH,
             args);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/hs_cli_project_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void parse_line(const char *line, double *v, size_t *n)
{
    *n = 0;
    const char *c = line;
    while (*c && *c != '\n') {
        char *end;
        v[(*n)++] = strtod(c, &end);
        c = *end == ',' ? end + 1 : end;
    }
}

static void test_values_and_vjp(void **state)
{
    (void)state;
    write_file("z.txt", "# comment line\n1, 2, 3, 4\n\n0.5 0.1 -2\n");
    assert_int_equal(run("--k 2 z.txt"), 0);
    char out[4096];
    read_file("out.txt", out, sizeof out);
    assert_string_equal(out, "0,0,1,1\n1,1,0\n");

    write_file("z1.txt", "1,2,3,4\n");
    write_file("g1.txt", "1,0,0,0\n0,0,1,-1\n"); /* wrong number of vectors */
    assert_int_equal(run("--k 1.5 --tau 2 --vjp g1.txt z1.txt"), 2);
    write_file("g1.txt", "0,0,1,-1\n");
    assert_int_equal(run("--k 1.5 --tau 2 --vjp g1.txt z1.txt"), 0);
    read_file("out.txt", out, sizeof out);
    /* z/tau = (.5, 1, 1.5, 2), theta = 1: p = (0, 0, .5, 1); S = {3}: VJP = (g - g_3)/tau on S */
    assert_string_equal(out, "0,0,0.5,1\n\n0,0,0,0\n");

    /* a case with two free coordinates, checked against the formula */
    write_file("z2.txt", "0.3,0.1,5,-5\n");
    write_file("g2.txt", "1,3,7,9\n");
    assert_int_equal(run("--k 1.6 --vjp g2.txt --vjp-output vjp.txt --output p.txt z2.txt"), 0);
    char pbuf[512], vbuf[512];
    read_file("p.txt", pbuf, sizeof pbuf);
    read_file("vjp.txt", vbuf, sizeof vbuf);
    double p[8], v[8];
    size_t np, nv;
    parse_line(pbuf, p, &np);
    parse_line(vbuf, v, &nv);
    assert_int_equal(np, 4);
    assert_int_equal(nv, 4);
    assert_true(fabs(p[0] + p[1] + p[2] + p[3] - 1.6) < 1e-15);
    assert_true(p[2] == 1 && p[3] == 0);
    assert_true(fabs(v[0] - (1 - 2)) < 1e-15 && fabs(v[1] - (3 - 2)) < 1e-15);
    assert_true(v[2] == 0 && v[3] == 0);

    /* float mode and the reference solver agree with the default */
    assert_int_equal(run("--k 2 --dtype float z.txt"), 0);
    read_file("out.txt", out, sizeof out);
    assert_string_equal(out, "0,0,1,1\n1,1,0\n");
    assert_int_equal(run("--k 2 --solver pav < z.txt"), 0);
    read_file("out.txt", out, sizeof out);
    assert_string_equal(out, "0,0,1,1\n1,1,0\n");

    /* --output to a FIFO writes through it (no rename over it); to a symlink replaces the
     * link's target and keeps the link. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && mkfifo fifo && (timeout 10 cat fifo > from_fifo 2>/dev/null &) && "
             "'%s' project --k 2 --output fifo z.txt && sleep 0.2", dir, HS_CLI_PATH);
    assert_int_equal(system(cmd), 0);
    struct stat st;
    char path[512];
    snprintf(path, sizeof path, "%s/fifo", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    read_file("from_fifo", out, sizeof out);
    assert_string_equal(out, "0,0,1,1\n1,1,0\n");
    write_file("target.txt", "old\n");
    snprintf(cmd, sizeof cmd, "cd '%s' && ln -s target.txt link.txt", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("--k 2 --output link.txt z.txt"), 0);
    snprintf(path, sizeof path, "%s/link.txt", dir);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    read_file("target.txt", out, sizeof out);
    assert_string_equal(out, "0,0,1,1\n1,1,0\n");

    assert_int_equal(run("--help"), 0);
    read_file("out.txt", out, sizeof out);
    assert_non_null(strstr(out, "--tau T"));
    assert_non_null(strstr(out, "(default 1)"));
}

/* Each bad input: exit 2, "error: " with the location, and the output file not replaced. */
static void expect_bad(const char *input, const char *args, const char *message)
{
    write_file("bad.txt", input);
    write_file("keep.txt", "previous content\n");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s --output keep.txt bad.txt", args);
    int rc = run(cmd);
    char err[2048], keep[256];
    read_file("err.txt", err, sizeof err);
    read_file("keep.txt", keep, sizeof keep);
    if (rc != 2 || strncmp(err, "error: ", 7) != 0 || !strstr(err, message))
        fail_msg("input '%s' args '%s': exit %d, stderr '%s' (want '%s')", input, args, rc, err,
                 message);
    assert_string_equal(keep, "previous content\n");
}

static void test_bad_input(void **state)
{
    (void)state;
    expect_bad("1,2,3\n4,x,6\n", "--k 1", "bad.txt:2:3: 'x' is not a number");
    expect_bad("1,2,nan\n", "--k 1", "bad.txt:1:5: 'nan' is not a finite number");
    expect_bad("1,2,inf\n", "--k 1", "not a finite number");
    expect_bad("1,2,1e999\n", "--k 1", "not a finite number");
    expect_bad("1,,2\n", "--k 1", "bad.txt:1:3: empty field");
    expect_bad("1,2,\n", "--k 1", "ends with a comma");
    expect_bad("1,2\n", "--k 3", "bad.txt:1: k = 3 is larger");
    expect_bad("", "--k 1", "no vectors");
    expect_bad("# only a comment\n", "--k 1", "no vectors");
    expect_bad("1,2,1e39\n", "--k 1 --dtype float", "outside the float range");
    expect_bad("1,2\n", "--k 1 --tau 0", "--tau");
    expect_bad("1,2\n", "--k -1", "--k");
    expect_bad("1,2\n", "--k abc", "--k");
    expect_bad("1,2\n", "", "--k is required");
    expect_bad("1,2\n", "--k 1 --dtype half", "--dtype");
    expect_bad("1,2\n", "--k 1 --reg l3", "--reg");
    expect_bad("1,2\n", "--k 1 --bogus", "unknown option");
    expect_bad("1,2\n", "--k 1 --vjp missing.txt", "missing.txt");
    /* a missing input file */
    assert_int_equal(run("--k 1 nowhere.txt"), 2);
    char err[512];
    read_file("err.txt", err, sizeof err);
    assert_non_null(strstr(err, "error: nowhere.txt"));
}

/* Outputs never lose data. */
static void test_outputs(void **state)
{
    (void)state;
    char cmd[1024], out[1024];
    write_file("z.txt", "3 1 0.2\n");
    write_file("g.txt", "1 0 0\n");
    /* /dev/stdout is written in place: the file stdout is redirected to keeps what the shell
     * wrote before and after (renaming over it had left only "1,0,0") */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ( echo before; echo 3 1 0.2 | '%s' project --k 1 --output /dev/stdout; echo after ) > f.txt",
             dir, HS_CLI_PATH);
    assert_int_equal(system(cmd), 0);
    read_file("f.txt", out, sizeof out);
    assert_string_equal(out, "before\n1,0,0\nafter\n");

    /* the same file twice, however spelled, is refused and left alone */
    snprintf(cmd, sizeof cmd, "cd '%s' && ln -s same.txt same_link", dir);
    assert_int_equal(system(cmd), 0);
    const char *twice[] = {"--output same.txt --vjp-output same.txt", "--output same.txt --vjp-output ./same.txt",
                           "--output same.txt --vjp-output same_link", "--output - --vjp-output /dev/stdout",
                           "--output /dev/stdout"};
    for (size_t i = 0; i < sizeof twice / sizeof twice[0]; i++) {
        write_file("same.txt", "keep\n");
        snprintf(cmd, sizeof cmd, "--k 1 --vjp g.txt %s z.txt", twice[i]);
        int rc = run(cmd);
        char err[1024];
        read_file("err.txt", err, sizeof err);
        if (rc != 2 || !strstr(err, "are the same file"))
            fail_msg("'%s': exit %d, '%s'", twice[i], rc, err);
        read_file("same.txt", out, sizeof out);
        assert_string_equal(out, "keep\n");
    }
    /* when the second output cannot be written, the first file is not replaced either */
    const char *second[] = {"--vjp-output /dev/full", "--vjp-output nodir/v.txt"};
    for (size_t i = 0; i < 2; i++) {
        write_file("p.txt", "old p\n");
        snprintf(cmd, sizeof cmd, "--k 1 --vjp g.txt --output p.txt %s z.txt", second[i]);
        assert_int_equal(run(cmd), 1);
        read_file("p.txt", out, sizeof out);
        assert_string_equal(out, "old p\n");
    }
    /* both written */
    assert_int_equal(run("--k 1 --vjp g.txt --output p.txt --vjp-output v.txt z.txt"), 0);
    read_file("p.txt", out, sizeof out);
    assert_string_equal(out, "1,0,0\n");
    /* a failed write of the standard output is a failure (it exited 0) */
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' project --k 1 z.txt > /dev/full 2> err.txt", dir, HS_CLI_PATH);
    int st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    read_file("err.txt", out, sizeof out);
    assert_non_null(strstr(out, "error: "));
    assert_non_null(strstr(out, "No space left on device"));
}

/* A tiny positive --tau is a number (it was "not a finite number"); one that underflows to 0
 * says so. */
static void test_tiny_tau(void **state)
{
    (void)state;
    char err[1024];
    write_file("z.txt", "3 1 0.2\n");
    assert_int_equal(run("--k 1 --tau 1e-320 z.txt"), 2);
    read_file("err.txt", err, sizeof err);
    assert_null(strstr(err, "not a finite number"));
    assert_non_null(strstr(err, "overflows"));
    assert_int_equal(run("--k 1 --tau 1e-300 z.txt"), 0);
    assert_int_equal(run("--k 1 --tau 1e-400 z.txt"), 2);
    read_file("err.txt", err, sizeof err);
    assert_non_null(strstr(err, "--tau: '1e-400' is too small (it underflows to 0)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_vjp),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_outputs),
        cmocka_unit_test(test_tiny_tau),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
