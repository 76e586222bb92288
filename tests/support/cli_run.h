/* Shared by the tests that run the command (test_train, test_dist, test_study, test_sweep): the test
 * program's scratch directory, made by its group setup and removed by its group teardown, and
 * running `hypersimplex` (HS_CLI_PATH, tests/CMakeLists.txt) with its output in files.
 * Header-only like test_util.h; needs _POSIX_C_SOURCE 200809L (mkdtemp). */
#ifndef HS_TEST_CLI_RUN_H
#define HS_TEST_CLI_RUN_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Runs argv (argv[0] a path) with extra environment (NAME=VALUE strings, NULL-terminated),
 * standard output to out_path (or /dev/null), standard error to err_path (or /dev/null).
 * Returns the exit status, 128 + the signal that ended it, or -1 if it could not start. */
static inline int tu_run_argv(char *const argv[], char *const env[], const char *out_path, const char *err_path)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        for (size_t i = 0; env && env[i]; i++) {
            char name[256];
            const char *eq = strchr(env[i], '=');
            snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - env[i]) : 0, env[i]);
            if (eq && setenv(name, eq + 1, 1))
                _exit(126);
        }
        int o = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
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
