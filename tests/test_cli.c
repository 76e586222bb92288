/* The command's dispatch: every subcommand is listed by --help; a subcommand whose library
 * layers are built runs (its --help exits 0), one whose layers this build left out exits 2
 * naming the missing layers and their options; unknown commands exit 2. HS_CLI_COMMANDS
 * (from CMake) lists the subcommands built. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static const char *const all_commands[] = {"project", "gbrt", "report", "sweep", "train"};

static char out_path[64];

/* Runs the command with args, stdout and stderr into out_path; returns the exit status. */
static int run(const char *args, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s > '%s' 2>&1", HS_CLI_PATH, args, out_path);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    FILE *f = fopen(out_path, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
    return WEXITSTATUS(st);
}

static int built(const char *name)
{
    char list[256];
    snprintf(list, sizeof list, " %s ", HS_CLI_COMMANDS);
    char word[64];
    snprintf(word, sizeof word, " %s ", name);
    return strstr(list, word) != NULL;
}

static void test_help_lists_every_command(void **state)
{
    (void)state;
    char out[8192];
    assert_int_equal(run("--help", out, sizeof out), 0);
    for (size_t i = 0; i < sizeof all_commands / sizeof *all_commands; i++) {
        char line[64];
        snprintf(line, sizeof line, "  %s ", all_commands[i]);
        const char *at = strstr(out, line);
        assert_non_null(at);
        const char *eol = strchr(at, '\n');
        assert_non_null(eol);
        int marked = strstr(at, "(not in this build)") && strstr(at, "(not in this build)") < eol;
        assert_int_equal(marked, !built(all_commands[i]));
    }
}

static void test_each_command_runs_or_names_its_layers(void **state)
{
    (void)state;
    char out[16384], args[128];
    for (size_t i = 0; i < sizeof all_commands / sizeof *all_commands; i++) {
        const char *name = all_commands[i];
        snprintf(args, sizeof args, "%s --help", name);
        int rc = run(args, out, sizeof out);
        if (built(name)) {
            if (rc != 0)
                fail_msg("'%s --help' exited %d:\n%s", name, rc, out);
            assert_null(strstr(out, "not in this build"));
        } else {
            print_message("%s: %s", name, out);
            assert_int_equal(rc, 2);
            assert_non_null(strstr(out, "error: "));
            assert_non_null(strstr(out, "is not in this build"));
            assert_non_null(strstr(out, "HS_WITH_"));
        }
    }
    assert_true(built("project"));
}

static void test_unknown_command(void **state)
{
    (void)state;
    char out[4096];
    assert_int_equal(run("nope", out, sizeof out), 2);
    assert_non_null(strstr(out, "unknown command 'nope'"));
    assert_int_equal(run("", out, sizeof out), 2);
    assert_int_equal(run("--version", out, sizeof out), 0);
    assert_non_null(strstr(out, "hypersimplex 0."));
}

int main(void)
{
    snprintf(out_path, sizeof out_path, "/tmp/hs_test_cli_%ld.txt", (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_lists_every_command),
        cmocka_unit_test(test_each_command_runs_or_names_its_layers),
        cmocka_unit_test(test_unknown_command),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    remove(out_path);
    return rc;
}
