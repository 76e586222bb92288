/* hypersimplex project: soft-binary-argmax@k of vectors read from a file or stdin.
 * Everything is parsed and computed before anything is written, so bad input never leaves
 * half an output behind; files are written atomically. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/parsers.h"
#include "util/atomic_file.h"

void project_rows_free(project_rows *r)
{
    free(r->len);
    free(r->line);
    free(r->values);
    memset(r, 0, sizeof *r);
}

static char *read_all(FILE *f, size_t *size)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        char *bigger = realloc(buf, 2 * cap + 1);
        if (!bigger) {
            free(buf);
            return NULL;
        }
        buf = bigger;
        cap *= 2;
    }
    if (buf)
        buf[n] = '\0';
    *size = n;
    return buf;
}

static int push(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? 2 * *cap : 64;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

/* Reads all of f and parses it (project_parse_text). */
static int parse_rows(project_rows *out, const char *name, FILE *f, int as_float)
{
    memset(out, 0, sizeof *out);
    size_t size;
    char *text = read_all(f, &size);
    if (!text) {
        cli_error("%s: out of memory reading the input", name);
        return 1;
    }
    if (ferror(f)) {
        cli_error("%s: read error: %s", name, strerror(errno));
        free(text);
        return 1;
    }
    int rc = project_parse_text(out, name, text, size, as_float);
    free(text);
    return rc;
}

int project_parse_text(project_rows *out, const char *name, char *text, size_t size, int as_float)
{
    memset(out, 0, sizeof *out);
    if (memchr(text, '\0', size)) {
        cli_error("%s: binary data (a NUL byte) in a text input", name);
        return 2;
    }
    size_t cap_rows = 0, cap_vals = 0, line_no = 0;
    char *line = text;
    int rc = 0;
    while (*line && rc == 0) {
        line_no++;
        char *eol = strchr(line, '\n');
        char *next = eol ? eol + 1 : line + strlen(line);
        if (eol)
            *eol = '\0';
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        size_t in_row = 0;
        char *c = line;
        int expect_value = 1; /* after a comma a value must follow */
        for (;;) {
            while (*c == ' ' || *c == '\t' || *c == '\r')
                c++;
            if (!*c)
                break;
            if (*c == ',') {
                if (expect_value) {
                    cli_error("%s:%zu:%zu: empty field", name, line_no, (size_t)(c - line) + 1);
                    rc = 2;
                    break;
                }
                expect_value = 1;
                c++;
                continue;
            }
            char *end;
            errno = 0;
            double v = strtod(c, &end);
            size_t col = (size_t)(c - line) + 1;
            size_t toklen = strcspn(c, " \t\r,");
            if (end != c + toklen || end == c) {
                cli_error("%s:%zu:%zu: '%.*s' is not a number", name, line_no, col, (int)toklen, c);
                rc = 2;
                break;
            }
            if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1.0)) {
                cli_error("%s:%zu:%zu: '%.*s' is not a finite number", name, line_no, col,
                          (int)toklen, c);
                rc = 2;
                break;
            }
            if (as_float && fabs(v) > FLT_MAX) {
                cli_error("%s:%zu:%zu: %.*s is outside the float range (use --dtype double)",
                          name, line_no, col, (int)toklen, c);
                rc = 2;
                break;
            }
            if (push((void **)&out->values, &cap_vals, out->total, sizeof(double))) {
                cli_error("out of memory");
                rc = 1;
                break;
            }
            out->values[out->total++] = v;
            in_row++;
            expect_value = 0;
            c = end;
        }
        if (rc == 0 && in_row > 0 && expect_value) {
            cli_error("%s:%zu: the line ends with a comma", name, line_no);
            rc = 2;
        }
        if (rc == 0 && in_row > 0) {
            size_t had = cap_rows;
            if (push((void **)&out->len, &cap_rows, out->count, sizeof(size_t))) {
                cli_error("out of memory");
                rc = 1;
                break;
            }
            if (cap_rows != had) { /* line[] grows with len[], not once per row */
                size_t *grown = realloc(out->line, cap_rows * sizeof(size_t));
                if (!grown) {
                    cli_error("out of memory");
                    rc = 1;
                    break;
                }
                out->line = grown;
            }
            out->len[out->count] = in_row;
            out->line[out->count] = line_no;
            out->count++;
        }
        line = next;
    }
    if (rc == 0 && out->count == 0) {
        cli_error("%s: no vectors in the input (expected one vector per line)", name);
        rc = 2;
    }
    if (rc)
        project_rows_free(out);
    return rc;
}

static int open_and_parse(project_rows *r, const char *path, int as_float)
{
    if (!strcmp(path, "-"))
        return parse_rows(r, "<stdin>", stdin, as_float);
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("%s: %s", path, strerror(errno));
        return 2;
    }
    int rc = parse_rows(r, path, f, as_float);
    fclose(f);
    return rc;
}

static void write_rows(FILE *f, const double *v, const project_rows *r, int as_float)
{
    size_t off = 0;
    for (size_t i = 0; i < r->count; i++) {
        for (size_t j = 0; j < r->len[i]; j++)
            fprintf(f, as_float ? "%s%.9g" : "%s%.17g", j ? "," : "", v[off + j]);
        fputc('\n', f);
        off += r->len[i];
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hypersimplex project --k K [OPTIONS] [FILE]\n"
            "\n"
            "Projects each vector z (one per line of FILE, or stdin when FILE is - or absent;\n"
            "values separated by commas and/or blanks, '#' starts a comment) onto the\n"
            "(n,k)-hypersimplex: p = argmin ||p - z/tau||^2, p in [0,1]^n, sum p = k.\n"
            "Prints p, one line per vector, with full precision (%%.17g; %%.9g for float).\n"
            "\n"
            "options:\n"
            "  --k K            target sum, a real number in [0, n] for every vector (required)\n"
            "  --tau T          temperature, > 0 (default 1)\n"
            "  --vjp FILE       cotangents g, same shape as the input; also computes the\n"
            "                   vector-Jacobian product J^T g (default: none)\n"
            "  --vjp-output F   where the VJP goes (default: stdout, after p and a blank line)\n"
            "  --output F       where p goes (default: stdout). Files are replaced atomically,\n"
            "                   and only when every output is complete; devices, pipes and\n"
            "                   /dev/stdout are written in place; one file for both is refused\n"
            "  --dtype D        float or double arithmetic for the data (default double)\n"
            "  --reg R          l2, kl or entropy (default l2, the paper's operator)\n"
            "  --solver S       fast or pav (sort + isotonic reference) (default fast)\n"
            "  --help           this text\n"
            "\n"
            "exit status: 0 ok, 1 runtime failure, 2 bad usage or bad input\n");
}

/* Runs the operator on every row, in float or double as asked; results come back in double. */
static int compute(double *out, const project_rows *z, const project_rows *g, double k,
                   double tau, int as_float, hs_regularization reg, hs_solver solver,
                   const char *in_name)
{
    size_t off = 0;
    for (size_t i = 0; i < z->count; i++) {
        size_t n = z->len[i];
        if (k > (double)n) {
            cli_error("%s:%zu: k = %g is larger than the vector's length %zu", in_name, z->line[i],
                      k, n);
            return 2;
        }
        hs_proj d = hs_proj_make(1, n, k, tau);
        d.reg = reg;
        d.solver = solver;
        hs_status s;
        if (as_float) {
            float *buf = malloc(3 * n * sizeof *buf);
            if (!buf) {
                cli_error("out of memory");
                return 1;
            }
            for (size_t j = 0; j < n; j++)
                buf[j] = (float)z->values[off + j];
            s = hs_project_f(buf + n, NULL, NULL, buf, &d);
            if (s == HS_OK && g) {
                for (size_t j = 0; j < n; j++)
                    buf[2 * n + j] = (float)g->values[off + j];
                s = hs_project_vjp_f(buf + 2 * n, buf + n, buf + 2 * n, &d);
            }
            for (size_t j = 0; s == HS_OK && j < n; j++) {
                out[off + j] = buf[n + j];
                if (g)
                    out[z->total + off + j] = buf[2 * n + j];
            }
            free(buf);
        } else {
            s = hs_project_d(out + off, NULL, NULL, z->values + off, &d);
            if (s == HS_OK && g)
                s = hs_project_vjp_d(out + z->total + off, out + off, g->values + off, &d);
        }
        if (s != HS_OK) {
            cli_error("%s:%zu: %s", in_name, z->line[i], hs_last_error());
            return 2;
        }
        off += n;
    }
    return 0;
}

static int is_stdout(const char *path)
{
    return !path || !strcmp(path, "-");
}

/* Opens an output: a file (atomically) or, for NULL or "-", the standard output. */
static int open_output(hs_atomic_file *af, const char *path, const char *opt)
{
    hs_status s = is_stdout(path) ? hs_atomic_open_fd(af, STDOUT_FILENO, "the standard output")
                                  : hs_atomic_open(af, path);
    if (s != HS_OK) {
        cli_status_error(opt, s);
        return cli_exit_status(s, 1);
    }
    return 0;
}

int cmd_project(int argc, char **argv)
{
    double k = NAN, tau = 1.0;
    const char *vjp_path = NULL, *vjp_out = NULL, *out_path = NULL;
    int as_float = 0;
    hs_regularization reg = HS_REG_L2;
    hs_solver solver = HS_SOLVER_FAST;
    static const struct option opts[] = {
        {"k", required_argument, 0, 'k'},          {"tau", required_argument, 0, 't'},
        {"vjp", required_argument, 0, 'v'},        {"vjp-output", required_argument, 0, 'V'},
        {"output", required_argument, 0, 'o'},     {"dtype", required_argument, 0, 'd'},
        {"reg", required_argument, 0, 'r'},        {"solver", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            if (cli_parse_double("--k", optarg, &k))
                return 2;
            break;
        case 't':
            if (cli_parse_double("--tau", optarg, &tau))
                return 2;
            break;
        case 'v': vjp_path = optarg; break;
        case 'V': vjp_out = optarg; break;
        case 'o': out_path = optarg; break;
        case 'd':
            if (!strcmp(optarg, "float"))
                as_float = 1;
            else if (!strcmp(optarg, "double"))
                as_float = 0;
            else {
                cli_error("--dtype: '%s' is not float or double", optarg);
                return 2;
            }
            break;
        case 'r':
            if (hs_regularization_parse(&reg, optarg)) {
                cli_error("--reg: '%s' is not l2, kl or entropy", optarg);
                return 2;
            }
            break;
        case 's':
            if (hs_solver_parse(&solver, optarg)) {
                cli_error("--solver: '%s' is not fast or pav", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        case ':': cli_error("%s needs a value (see --help)", argv[optind - 1]); return 2;
        default: cli_error("unknown option '%s' (see --help)", argv[optind - 1]); return 2;
        }
    }
    if (isnan(k)) {
        cli_error("--k is required (see --help)");
        return 2;
    }
    if (k < 0) {
        cli_error("--k: %g must be >= 0", k);
        return 2;
    }
    if (!(tau > 0)) {
        cli_error("--tau: %g must be > 0", tau);
        return 2;
    }
    if (vjp_out && !vjp_path) {
        cli_error("--vjp-output needs --vjp");
        return 2;
    }
    if (argc - optind > 1) {
        cli_error("only one input file may be given");
        return 2;
    }
    const char *in_path = optind < argc ? argv[optind] : "-";
    if (vjp_path && !strcmp(vjp_path, "-") && !strcmp(in_path, "-")) {
        cli_error("the input and --vjp cannot both be stdin");
        return 2;
    }
    /* The outputs are opened first (an unwritable place is found before any work) and
     * committed together at the end: either all of them are written or none is replaced. The
     * VJP follows p on the standard output (after a blank line) unless one of them has a
     * file of its own. */
    hs_atomic_file p_af, v_af;
    hs_atomic_file *outs[2] = {&p_af, NULL};
    int vjp_own = vjp_path && (!is_stdout(vjp_out) || !is_stdout(out_path));
    int rc = open_output(&p_af, out_path, "--output");
    if (rc)
        return rc;
    if (vjp_own) {
        rc = open_output(&v_af, vjp_out, "--vjp-output");
        if (rc) {
            hs_atomic_abort(&p_af);
            return rc;
        }
        outs[1] = &v_af;
        hs_status s = hs_atomic_check_distinct(outs, 2);
        if (s) {
            cli_status_error("--output and --vjp-output", s);
            hs_atomic_abort_all(outs, 2);
            return 2;
        }
    }
    project_rows z, g;
    rc = open_and_parse(&z, in_path, as_float);
    if (rc) {
        hs_atomic_abort_all(outs, 2);
        return rc;
    }
    if (vjp_path) {
        rc = open_and_parse(&g, vjp_path, as_float);
        if (rc) {
            project_rows_free(&z);
            hs_atomic_abort_all(outs, 2);
            return rc;
        }
        if (g.count != z.count) {
            cli_error("%s has %zu vectors but the input has %zu", vjp_path, g.count, z.count);
            rc = 2;
        }
        for (size_t i = 0; rc == 0 && i < z.count; i++) {
            if (g.len[i] != z.len[i]) {
                cli_error("%s:%zu: %zu values, but the input's vector %zu has %zu", vjp_path,
                          g.line[i], g.len[i], i + 1, z.len[i]);
                rc = 2;
            }
        }
    }
    const char *in_name = strcmp(in_path, "-") ? in_path : "<stdin>";
    double *out = rc ? NULL : malloc((vjp_path ? 2 : 1) * z.total * sizeof *out);
    if (!rc && !out) {
        cli_error("out of memory");
        rc = 1;
    }
    if (!rc)
        rc = compute(out, &z, vjp_path ? &g : NULL, k, tau, as_float, reg, solver, in_name);
    if (!rc) {
        write_rows(p_af.f, out, &z, as_float);
        if (vjp_path) {
            FILE *vf = vjp_own ? v_af.f : p_af.f;
            if (!vjp_own)
                fputc('\n', vf);
            write_rows(vf, out + z.total, &z, as_float);
        }
        hs_status s = hs_atomic_commit_all(outs, 2);
        if (s) {
            cli_status_error("output", s);
            rc = cli_exit_status(s, 1);
        }
    } else {
        hs_atomic_abort_all(outs, 2);
    }
    free(out);
    project_rows_free(&z);
    if (vjp_path)
        project_rows_free(&g);
    return rc;
}
