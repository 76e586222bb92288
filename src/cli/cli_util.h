/* Helpers shared by the subcommands: errors, option parsing, progress display. */
#ifndef HS_CLI_UTIL_H
#define HS_CLI_UTIL_H

#include <stddef.h>
#include <stdio.h>

#include "hypersimplex.h"

/* Prints "error: <formatted message>\n" to stderr (nothing after cli_set_quiet(1)). */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* 1: cli_error prints nothing. For the fuzz harnesses (fuzz/), which call the command's
 * parsers millions of times and only care whether they accept or reject. */
void cli_set_quiet(int quiet);

/* Prints "error: <what>: <hs_last_error() or hs_status_string(s)>\n" to stderr. */
void cli_status_error(const char *what, hs_status s);

/* The exit status of every subcommand for a library failure: 0 for HS_OK; 1 for a runtime
 * failure (out of memory, a third-party library, a diverged computation, and an input/output
 * error once the inputs have been read, i.e. writing outputs); 2 for bad usage or bad input
 * (options, missing, unreadable or malformed input files, a locked output directory). */
int cli_exit_status(hs_status s, int inputs_read);

/* Flushes and closes the standard output; on a failure (a full disk, a closed pipe, a write
 * that failed earlier) prints "error: writing to the standard output failed: ..." and
 * returns -1. main() calls it after every subcommand. */
int cli_close_stdout(void);

/* Strict number parsing of a whole option value; return 0 on success, -1 (after printing
 * "error: --name: ...") on failure. A double that underflows to a subnormal (1e-320) is that
 * value; one that underflows to 0 is refused as too small. */
int cli_parse_double(const char *opt, const char *text, double *out);
int cli_parse_long(const char *opt, const char *text, long min, long max, long *out);
int cli_parse_size(const char *opt, const char *text, size_t min, size_t max, size_t *out);

/* Progress display for long jobs, on stderr. On a terminal: a bar with rate and ETA redrawn in
 * place (at most ~10 times per second). Otherwise (a log file, a pipe): one plain line with the
 * same figures every CLI_PROGRESS_PLAIN_SECONDS, so logs stay readable and a long run is never
 * silent for minutes. */
#define CLI_PROGRESS_PLAIN_SECONDS 30.0
typedef struct cli_progress {
    const char *label;
    const char *unit;     /* e.g. "img" */
    double total;         /* units expected, for the ETA; <= 0 if unknown */
    double done;
    double t_start;
    double t_last_draw;
    int tty;
} cli_progress;

void cli_progress_start(cli_progress *p, const char *label, const char *unit, double total);
void cli_progress_update(cli_progress *p, double done); /* redraw on a tty */
void cli_progress_end(cli_progress *p);                 /* clears the bar line on a tty */

#endif
