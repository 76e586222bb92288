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

/* Strict number parsing of a whole option value; return 0 on success, -1 (after printing
 * "error: --name: ...") on failure. */
int cli_parse_double(const char *opt, const char *text, double *out);
int cli_parse_long(const char *opt, const char *text, long min, long max, long *out);
int cli_parse_size(const char *opt, const char *text, size_t min, size_t max, size_t *out);

/* Progress display for long jobs. On a terminal: a bar with rate and ETA redrawn in place
 * (at most ~10 times per second). Otherwise: nothing until cli_progress_line(), which prints
 * plain lines (so logs stay readable). */
typedef struct cli_progress {
    const char *label;
    const char *unit;     /* e.g. "img" */
    double total;         /* units expected, for the ETA; <= 0 if unknown */
    double done;
    double t_start;
    double t_last_draw;
    int tty;
} cli_progress;

double cli_now(void); /* monotonic seconds */
void cli_progress_start(cli_progress *p, const char *label, const char *unit, double total);
void cli_progress_update(cli_progress *p, double done); /* redraw on a tty */
void cli_progress_end(cli_progress *p);                 /* clears the bar line on a tty */

#endif
