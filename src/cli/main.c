/* hypersimplex: command-line front end. Dispatches to one file per subcommand. */
#include <stdio.h>
#include <string.h>

#include "hypersimplex.h"
#include "cli/cli_util.h"
#include "cli/commands.h"

/* A subcommand whose library layers this build left out has no function; `missing` names
 * those layers and their options (src/cli/CMakeLists.txt defines HS_CLI_MISSING_<COMMAND>). */
typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *missing;
    const char *summary;
} command;

#ifdef HS_CLI_MISSING_GBRT
#define GBRT_RUN NULL, HS_CLI_MISSING_GBRT
#else
#define GBRT_RUN cmd_gbrt, NULL
#endif
#ifdef HS_CLI_MISSING_REPORT
#define REPORT_RUN NULL, HS_CLI_MISSING_REPORT
#else
#define REPORT_RUN cmd_report, NULL
#endif
#ifdef HS_CLI_MISSING_SWEEP
#define SWEEP_RUN NULL, HS_CLI_MISSING_SWEEP
#else
#define SWEEP_RUN cmd_sweep, NULL
#endif
#ifdef HS_CLI_MISSING_TRAIN
#define TRAIN_RUN NULL, HS_CLI_MISSING_TRAIN
#else
#define TRAIN_RUN cmd_train, NULL
#endif

static const command commands[] = {
    {"project", cmd_project, NULL, "soft-binary-argmax@k of vectors read from a file or stdin"},
    {"gbrt", GBRT_RUN, "gradient-boosted trees with the HyperSimplex loss (XGBoost) on tabular data"},
    {"report", REPORT_RUN, "Table 1 of a batch-size study (paired t-tests) and its plots"},
    {"sweep", SWEEP_RUN, "run the batch-size study: resumable train runs, N at a time, one results CSV"},
    {"train", TRAIN_RUN, "train the paper's CNN (oneDNN) on an image data set with one loss"},
};

static void usage(FILE *f)
{
    fprintf(f, "hypersimplex %s: the HyperSimplex operator and loss\n\n", hs_version());
    fprintf(f, "usage: hypersimplex COMMAND [OPTIONS]   (hypersimplex COMMAND --help for options)\n\n");
    fprintf(f, "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s%s\n", commands[i].name, commands[i].summary,
                commands[i].run ? "" : " (not in this build)");
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
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const command *c = &commands[i];
        if (strcmp(argv[1], c->name))
            continue;
        if (!c->run) {
            fprintf(stderr,
                    "error: '%s' is not in this build of hypersimplex: it was configured "
                    "without the library layers the command needs: %s; see docs/build.md\n",
                    c->name, c->missing);
            return 2;
        }
        int rc = c->run(argc - 1, argv + 1);
        /* whatever a command printed must have reached its destination */
        if (cli_close_stdout() && rc == 0)
            rc = 1;
        return rc;
    }
    fprintf(stderr, "error: unknown command '%s' (see hypersimplex --help)\n", argv[1]);
    return 2;
}
