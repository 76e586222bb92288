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

/* 1 if `hypersimplex train --NAME` takes a value, 0 if it is a flag, -1 if there is no such
 * option (the sweep checks its --set and --vary keys with it). */
int cmd_train_option_arity(const char *name);

#endif
