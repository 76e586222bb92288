/* Subcommands of the hypersimplex tool. Each takes argv after the subcommand name
 * (argv[0] is the subcommand) and returns the process exit status:
 * 0 success, 1 runtime failure, 2 bad usage or bad input. */
#ifndef HS_CLI_COMMANDS_H
#define HS_CLI_COMMANDS_H

int cmd_project(int argc, char **argv);
/* In the build when their library layers are (src/cli/CMakeLists.txt). */
int cmd_gbrt(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_train(int argc, char **argv);

#endif
