/* Shared by the tests that train and run the command (test_train, test_dist): the test
 * program's scratch directory, made by its group setup and removed by its group teardown, and
 * running `hypersimplex` (HS_CLI_PATH, tests/CMakeLists.txt) with its output in files.
 * Header-only like test_util.h; needs _POSIX_C_SOURCE 200809L (mkdtemp). */
#ifndef HS_TEST_CLI_RUN_H
#define HS_TEST_CLI_RUN_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Makes /tmp/hs_test_<name>_XXXXXX into dir (n bytes); 0, or -1 on failure. */
static inline int tu_scratch_make(char *dir, size_t n, const char *name)
{
    snprintf(dir, n, "/tmp/hs_test_%s_XXXXXX", name);
    return mkdtemp(dir) ? 0 : -1;
}

/* Removes dir and everything in it; 0, or -1 on failure. */
static inline int tu_scratch_remove(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#ifdef HS_CLI_PATH
/* `hypersimplex ARGS` (args: a shell fragment), its standard error to err_file and its
 * standard output to err_file.out; the exit status, or -1 if it did not exit. */
static inline int tu_run_cli(const char *args, const char *err_file)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s.out' 2>'%s'", HS_CLI_PATH, args, err_file, err_file);
    int s = system(cmd);
    return WIFEXITED(s) ? WEXITSTATUS(s) : -1;
}
#endif

#endif
