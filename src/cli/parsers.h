/* The command's own text parsers as entry points that run nothing else, for the fuzz
 * harnesses (fuzz/). They report problems only through cli_error (silenced by
 * cli_set_quiet) and never exit. */
#ifndef HS_CLI_PARSERS_H
#define HS_CLI_PARSERS_H

#include <stddef.h>

/* The vectors `hypersimplex project` reads, one per line, back to back. */
typedef struct project_rows {
    size_t count;
    size_t *len;     /* (count) values per row */
    size_t *line;    /* (count) line number of each row in its file */
    double *values;  /* (total) all rows back to back */
    size_t total;
} project_rows;

/* Parses text[0..size) (text[size] must be '\0'; the text is modified in place): one vector
 * per line, separators commas and/or blanks, '#' starts a comment, blank lines are skipped.
 * as_float also rejects values outside the float range. Returns 0 (*out filled; free with
 * project_rows_free), or 1 (out of memory) / 2 (bad input) after cli_error
 * "NAME:LINE:COLUMN: ..."; *out is then empty. */
int project_parse_text(project_rows *out, const char *name, char *text, size_t size, int as_float);
void project_rows_free(project_rows *r);

/* Reads a `hypersimplex sweep --config` file as the command does (defaults, then the file's
 * preset, then its lines) and validates the options. Returns 0 if the command would accept
 * it, 1 (out of memory) or 2 (bad file) after cli_error. */
int sweep_config_check(const char *path);

#endif
