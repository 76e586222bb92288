/* hypersimplex: command-line front end. Dispatches to one file per subcommand. */
#include <stdio.h>
#include <string.h>

#include "hypersimplex.h"
#include "cli/cli_util.h"
#include "cli/commands.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"project", cmd_project, "soft-binary-argmax@k of vectors read from a file or stdin"},
    /* HS_COMMAND_TABLE: helpers add one row per subcommand below. */
    {"gbrt", cmd_gbrt, "gradient-boosted trees with the HyperSimplex loss (XGBoost) on tabular data"},
    {"report", cmd_report, "Table 1 of a batch-size study (paired t-tests) and its plots"},
    {"sweep", cmd_sweep, "run the batch-size study: resumable train runs, N at a time, one results CSV"},
    {"train", cmd_train, "train the paper's CNN (oneDNN) on an image data set with one loss"},
};

static void usage(FILE *f)
{
    fprintf(f, "hypersimplex %s: the HyperSimplex operator and loss\n\n", hs_version());
    fprintf(f, "usage: hypersimplex COMMAND [OPTIONS]   (hypersimplex COMMAND --help for options)\n\n");
    fprintf(f, "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return cli_close_stdout() ? 1 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("hypersimplex %s\n", hs_version());
        return cli_close_stdout() ? 1 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            int rc = commands[i].run(argc - 1, argv + 1);
            /* whatever a command printed must have reached its destination */
            if (cli_close_stdout() && rc == 0)
                rc = 1;
            return rc;
        }
    fprintf(stderr, "error: unknown command '%s' (see hypersimplex --help)\n", argv[1]);
    return 2;
}
