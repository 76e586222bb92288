#define _POSIX_C_SOURCE 200809L
#include "cli/cli_util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fs.h"

static int quiet;

void cli_set_quiet(int q)
{
    quiet = q;
}

void cli_error(const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void cli_status_error(const char *what, hs_status s)
{
    const char *detail = hs_last_error();
    if (!detail || !*detail)
        detail = hs_status_string(s);
    cli_error("%s: %s", what, detail);
}

int cli_exit_status(hs_status s, int inputs_read)
{
    switch (s) {
    case HS_OK: return 0;
    case HS_ERR_NOMEM:
    case HS_ERR_BACKEND:
    case HS_ERR_DIVERGED: return 1;
    case HS_ERR_IO: return inputs_read ? 1 : 2;
    default: return 2;
    }
}

int cli_close_stdout(void)
{
    int bad = ferror(stdout) != 0, e = 0;
    if (fflush(stdout) != 0) {
        bad = 1;
        e = errno;
    }
    if (fclose(stdout) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad)
        cli_error("writing to the standard output failed: %s", e ? strerror(e) : "a write failed");
    return bad ? -1 : 0;
}

int cli_parse_double(const char *opt, const char *text, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || !isfinite(v) || (errno == ERANGE && fabs(v) > 1.0)) {
        cli_error("%s: '%s' is not a finite number", opt, text);
        return -1;
    }
    if (errno == ERANGE && v == 0.0) {
        cli_error("%s: '%s' is too small (it underflows to 0)", opt, text);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_long(const char *opt, const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE) {
        cli_error("%s: '%s' is not an integer", opt, text);
        return -1;
    }
    if (v < min || v > max) {
        cli_error("%s: %ld is outside [%ld, %ld]", opt, v, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_size(const char *opt, const char *text, size_t min, size_t max, size_t *out)
{
    long v;
    long lmax = max > (size_t)LONG_MAX ? LONG_MAX : (long)max;
    if (cli_parse_long(opt, text, (long)min, lmax, &v))
        return -1;
    *out = (size_t)v;
    return 0;
}

void cli_progress_start(cli_progress *p, const char *label, const char *unit, double total)
{
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->done = 0;
    p->t_start = hs_now();
    p->t_last_draw = 0;
    p->tty = isatty(STDERR_FILENO);
}

static void format_eta(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

void cli_progress_update(cli_progress *p, double done)
{
    p->done = done;
    double now = hs_now();
    if (!p->tty) {
        /* the first plain line comes one interval after the start, then one per interval */
        double since = now - (p->t_last_draw > 0 ? p->t_last_draw : p->t_start);
        if (since < CLI_PROGRESS_PLAIN_SECONDS)
            return;
    } else if (now - p->t_last_draw < 0.1 && done < p->total) {
        return;
    }
    p->t_last_draw = now;
    double el = now - p->t_start;
    double rate = el > 0 ? done / el : 0;
    char eta[32];
    format_eta(eta, sizeof eta, rate > 0 && p->total > 0 ? (p->total - done) / rate : NAN);
    double frac = p->total > 0 ? done / p->total : 0;
    if (frac > 1)
        frac = 1;
    enum { W = 30 };
    char bar[W + 1];
    int fill = (int)(frac * W);
    for (int i = 0; i < W; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[W] = '\0';
    if (p->tty)
        fprintf(stderr, "\r%s [%s] %5.1f%% %.0f %s/s ETA %s\033[K", p->label, bar, 100 * frac, rate,
                p->unit, eta);
    else
        fprintf(stderr, "%s: %.1f%% (%.0f of %.0f %s), %.0f %s/s, ETA %s\n", p->label, 100 * frac, done,
                p->total, p->unit, rate, p->unit, eta);
    fflush(stderr);
}

void cli_progress_end(cli_progress *p)
{
    if (p->tty) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}
