/* The protocol of a sweep: its settings, checked as they are applied, the presets, and the
 * settings file. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypersimplex/data.h"
#include "hypersimplex/loss.h"
#include "hypersimplex/sweep.h"
#include "sweep/sweep_internal.h"
#include "util/error.h"

char *sweep_pool_dup(sweep_pool *p, const char *text)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        char **s = realloc(p->s, cap * sizeof *s);
        if (!s) {
            hs_fail(HS_ERR_NOMEM, "out of memory");
            return NULL;
        }
        p->s = s;
        p->cap = cap;
    }
    char *d = strdup(text);
    if (!d) {
        hs_fail(HS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    p->s[p->n++] = d;
    return d;
}

void sweep_pool_free(sweep_pool *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->s[i]);
    free(p->s);
    memset(p, 0, sizeof *p);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* A whole-text integer in [min, max]; the message starts with label. */
static hs_status parse_long(long *out, const char *label, const char *text, long min, long max)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE)
        return hs_fail(HS_ERR_ARG, "%s: '%s' is not an integer", label, text);
    if (v < min || v > max)
        return hs_fail(HS_ERR_ARG, "%s: %ld is outside [%ld, %ld]", label, v, min, max);
    *out = v;
    return HS_OK;
}

/* "a, b,c" -> list (replacing its content). */
static hs_status parse_list(sweep_pool *p, sweep_list *out, const char *label, const char *text)
{
    char *copy = sweep_pool_dup(p, text);
    if (!copy)
        return HS_ERR_NOMEM;
    out->n = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        tok = trim(tok);
        if (!*tok)
            continue;
        if (out->n == SWEEP_MAX_ITEMS)
            return hs_fail(HS_ERR_ARG, "%s: more than %d entries", label, SWEEP_MAX_ITEMS);
        out->v[out->n++] = tok;
    }
    if (out->n == 0)
        return hs_fail(HS_ERR_ARG, "%s: empty list", label);
    return HS_OK;
}

/* A training option name: lower-case letters, digits, '-' and '_'. */
static int valid_key(const char *k)
{
    if (!*k)
        return 0;
    for (const char *c = k; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            return 0;
    return 1;
}

/* Options the sweep gives every run itself (hs_sweep_run.options, and the caller's). */
static int reserved_key(const char *k)
{
    static const char *const r[] = {"dataset", "loss", "batch-size", "seed", "epochs", "out",
                                    "resume", "threads", "help"};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (!strcmp(k, r[i]))
            return 1;
    return 0;
}

/* A losses entry: a loss name, or hypersimplex@POLICY (count, prior, fraction:F). */
static hs_status check_loss(const char *spec, const char *label)
{
    hs_loss_kind k;
    char name[128];
    const char *at = strchr(spec, '@');
    snprintf(name, sizeof name, "%.*s", at ? (int)(at - spec) : (int)strlen(spec), spec);
    if (hs_loss_kind_parse(&k, name))
        return hs_fail(HS_ERR_ARG, "%s: unknown loss '%s' (cross_entropy, hinge, mse, hypersimplex[@POLICY])",
                       label, spec);
    if (!at)
        return HS_OK;
    hs_k_policy pol;
    double frac;
    if (k != HS_LOSS_HYPERSIMPLEX)
        return hs_fail(HS_ERR_ARG, "%s: '%s': only hypersimplex takes a k policy", label, spec);
    if (hs_k_policy_parse(&pol, &frac, at + 1))
        return hs_fail(HS_ERR_ARG, "%s: '%s': '%s' is not count, prior or fraction:F with F in [0, 1]", label,
                       spec, at + 1);
    return HS_OK;
}

enum list_kind { LIST_DATASETS, LIST_LOSSES, LIST_BATCHES, LIST_SEEDS };

static hs_status check_list(enum list_kind kind, const sweep_list *l, const char *label)
{
    int numeric = kind == LIST_BATCHES || kind == LIST_SEEDS;
    long num[SWEEP_MAX_ITEMS];
    for (size_t i = 0; i < l->n; i++) {
        const char *v = l->v[i];
        hs_data_kind dk;
        hs_status st = HS_OK;
        if (kind == LIST_DATASETS && hs_data_kind_parse(&dk, v))
            return hs_fail(HS_ERR_ARG, "%s: unknown dataset '%s' (fashion-mnist, mnist, cifar10)", label, v);
        if (kind == LIST_LOSSES)
            st = check_loss(v, label);
        if (numeric)
            st = parse_long(&num[i], label, v, kind == LIST_BATCHES ? 1 : 0,
                            kind == LIST_BATCHES ? 1L << 30 : LONG_MAX);
        if (st)
            return st;
        for (size_t j = 0; j < i; j++)
            if (numeric ? num[i] == num[j] : !strcmp(v, l->v[j]))
                return hs_fail(HS_ERR_ARG, "%s: '%s' appears twice", label, v);
    }
    return HS_OK;
}

static const char *const setting_keys[] = {"preset", "dataset", "losses", "batch-sizes", "seeds",
                                           "epochs", "set",    "vary",   NULL};

int hs_sweep_spec_has_key(const char *key)
{
    for (const char *const *k = setting_keys; key && *k; k++)
        if (!strcmp(*k, key))
            return 1;
    return 0;
}

/* Removes the set option or vary axis of key (a later one replaces it). */
static void forget_option(hs_sweep_spec *s, const char *key)
{
    if (!strcmp(key, "k-policy"))
        s->hs_policies.n = 0;
    for (size_t i = 0; i < s->n_sets; i++)
        if (!strcmp(s->sets[i].key, key)) {
            memmove(&s->sets[i], &s->sets[i + 1], (s->n_sets - i - 1) * sizeof s->sets[0]);
            s->n_sets--;
            break;
        }
    for (size_t i = 0; i < s->n_vary; i++)
        if (!strcmp(s->vary[i].key, key)) {
            memmove(&s->vary[i], &s->vary[i + 1], (s->n_vary - i - 1) * sizeof s->vary[0]);
            s->n_vary--;
            break;
        }
}

/* set KEY[=VALUE] or vary KEY=V1,V2,... */
static hs_status set_option(hs_sweep_spec *s, int vary, const char *value, const char *label,
                            int from_preset)
{
    const char *name = vary ? "vary" : "set";
    char *copy = sweep_pool_dup(&s->pool, value);
    if (!copy)
        return HS_ERR_NOMEM;
    char *eq = strchr(copy, '=');
    if (!eq && vary)
        return hs_fail(HS_ERR_ARG, "%s: '%s' is not KEY=V1,V2,...", label, value);
    if (eq)
        *eq = '\0';
    char *key = trim(copy), *val = eq ? trim(eq + 1) : NULL;
    int arity = valid_key(key) ? s->arity(key, s->arity_user) : -1;
    if (arity < 0 || reserved_key(key))
        return hs_fail(HS_ERR_ARG, "%s: '%s' is not a training option the sweep can %s", label, key, name);
    /* a value for a flag, or an option without its value, would only fail in every run */
    if (arity == 0 && (val || vary))
        return hs_fail(HS_ERR_ARG, "%s: '%s' is a flag of the trainer: %s %s, without a value", label, key, name,
                       key);
    if (arity == 1 && (!val || !*val))
        return hs_fail(HS_ERR_ARG, "%s: '%s' needs a value: %s %s=VALUE", label, key, name, key);
    if (val && strchr(val, ' ') && !vary)
        return hs_fail(HS_ERR_ARG, "%s: the value of %s must not contain blanks", label, key);
    sweep_list values = {0};
    if (vary) { /* checked before anything changes */
        hs_status st = parse_list(&s->pool, &values, label, val);
        if (st)
            return st;
        for (size_t i = 0; i < values.n; i++)
            if (strchr(values.v[i], ' '))
                return hs_fail(HS_ERR_ARG, "%s %s: values must not contain blanks", label, key);
    }
    forget_option(s, key); /* the checks above passed: this setting replaces it */
    if (!vary && s->n_sets == SWEEP_MAX_SETS)
        return hs_fail(HS_ERR_ARG, "%s: at most %d options", label, SWEEP_MAX_SETS);
    if (vary && strcmp(key, "k-policy") && s->n_vary == SWEEP_MAX_VARY)
        return hs_fail(HS_ERR_ARG, "%s: at most %d axes", label, SWEEP_MAX_VARY);
    if (vary && !strcmp(key, "k-policy")) {
        /* k is an option of the HyperSimplex loss only: its values multiply the HS losses
         * (hypersimplex -> hypersimplex@P each), not every run (plan.c). */
        s->hs_policies = values;
        s->hs_policies_preset = from_preset;
    } else if (vary) {
        s->vary[s->n_vary].key = key;
        s->vary[s->n_vary].values = values;
        s->n_vary++;
    } else {
        s->sets[s->n_sets].key = key;
        s->sets[s->n_sets].value = val;
        s->n_sets++;
    }
    return HS_OK;
}

/* The presets. `paper`: the paper's protocol. `small`: the paper's question at a size a
 * 2-core machine finishes in about an hour (how it was chosen, from measured CPU times:
 * docs/study.md); its batch sizes are close to the paper's ratios batch / training set, and
 * the HyperSimplex loss runs under each k policy, since the policy decides how well its
 * argmax predictions do (docs/study.md, "Our own result"). */
static const char *const paper_settings[] = {
    "dataset", "fashion-mnist,cifar10",
    "losses", "cross_entropy,hinge,mse,hypersimplex",
    "batch-sizes", "128,256,512,1024,2048,4096,8192",
    "seeds", "0,42,1337,2025,31415",
    "epochs", "600",
    "set", "width=64",
    "set", "lr=1e-4",
    "set", "val-fraction=0", /* the authors train on the whole training set */
    "vary", "k-policy=fraction:0.5", /* the authors' code: k = floor(0.5 B) for every class */
    NULL};

static const char *const small_settings[] = {
    "dataset", "fashion-mnist",
    "losses", "cross_entropy,hinge,mse,hypersimplex",
    "batch-sizes", "32,512",
    "seeds", "0,42,1337",
    "epochs", "20",
    "set", "width=16",
    "set", "lr=1e-3",
    "set", "train-limit=10000",
    "vary", "k-policy=count,prior,fraction:0.5",
    NULL};

static const char *const preset_names[] = {"paper", "small", NULL};

const char *const *hs_sweep_preset_names(void)
{
    return preset_names;
}

const char *const *hs_sweep_preset(const char *name)
{
    if (!name)
        return NULL;
    if (!strcmp(name, "paper"))
        return paper_settings;
    if (!strcmp(name, "small"))
        return small_settings;
    return NULL;
}

static hs_status apply(hs_sweep_spec *s, const char *key, const char *value, const char *where, int from_preset)
{
    char label[192];
    snprintf(label, sizeof label, "%s%s", where ? where : "", key);
    if (!strcmp(key, "preset")) {
        const char *const *pairs = hs_sweep_preset(value);
        if (!pairs)
            return hs_fail(HS_ERR_ARG, "%s: unknown preset '%s' (paper, small)", label, value);
        for (const char *const *q = pairs; *q; q += 2) {
            hs_status st = apply(s, q[0], q[1], "preset: ", 1);
            if (st)
                return st;
        }
        return HS_OK;
    }
    if (!strcmp(key, "epochs"))
        return parse_long(&s->epochs, label, value, 1, 1000000);
    if (!strcmp(key, "set") || !strcmp(key, "vary"))
        return set_option(s, key[0] == 'v', value, label, from_preset);
    enum list_kind kind;
    sweep_list *list;
    if (!strcmp(key, "dataset"))
        kind = LIST_DATASETS, list = &s->datasets;
    else if (!strcmp(key, "losses"))
        kind = LIST_LOSSES, list = &s->losses;
    else if (!strcmp(key, "batch-sizes"))
        kind = LIST_BATCHES, list = &s->batches;
    else if (!strcmp(key, "seeds"))
        kind = LIST_SEEDS, list = &s->seeds;
    else
        return hs_fail(HS_ERR_ARG, "%s'%s' is not a setting of the sweep's protocol", where ? where : "", key);
    sweep_list parsed; /* a failed setting changes nothing */
    hs_status st = parse_list(&s->pool, &parsed, label, value);
    if (!st)
        st = check_list(kind, &parsed, label);
    if (!st)
        *list = parsed;
    return st;
}

hs_status hs_sweep_spec_set(hs_sweep_spec *s, const char *key, const char *value, const char *where)
{
    if (!s || !key || !value)
        return hs_fail(HS_ERR_NULL, "hs_sweep_spec_set: NULL argument");
    return apply(s, key, value, where, 0);
}

hs_status hs_sweep_spec_new(hs_sweep_spec **out, hs_sweep_option_arity arity, void *user)
{
    if (!out || !arity)
        return hs_fail(HS_ERR_NULL, "hs_sweep_spec_new: NULL argument");
    *out = NULL;
    hs_sweep_spec *s = calloc(1, sizeof *s);
    if (!s)
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    s->arity = arity;
    s->arity_user = user;
    s->epochs = 10;
    hs_status st;
    if ((st = apply(s, "dataset", "fashion-mnist", NULL, 0)) ||
        (st = apply(s, "losses", "cross_entropy,hinge,mse,hypersimplex", NULL, 0)) ||
        (st = apply(s, "batch-sizes", "128,8192", NULL, 0)) || (st = apply(s, "seeds", "0,42,1337", NULL, 0))) {
        hs_sweep_spec_free(s);
        return st;
    }
    *out = s;
    return HS_OK;
}

void hs_sweep_spec_free(hs_sweep_spec *s)
{
    if (!s)
        return;
    sweep_pool_free(&s->pool);
    free(s);
}

/* ---- the settings file ---- */

#define SETTINGS_MAX 256
#define SETTINGS_LINE_MAX 4096

void hs_sweep_settings_free(hs_sweep_setting *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        free(s[i].key);
        free(s[i].value);
        free(s[i].where);
    }
    free(s);
}

/* One `key = value` line (comment and newline removed) into *out; HS_OK for a blank line
 * too (then out->key stays NULL). */
static hs_status settings_line(hs_sweep_setting *out, char *line, const char *path, size_t lineno)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *t = trim(line);
    if (!*t)
        return HS_OK;
    char *eq = strchr(t, '=');
    if (!eq)
        return hs_fail(HS_ERR_FORMAT, "%s:%zu: expected 'setting = value'", path, lineno);
    *eq = '\0';
    char where[96];
    snprintf(where, sizeof where, "%.40s:%zu: ", path, lineno);
    out->key = strdup(trim(t));
    out->value = strdup(trim(eq + 1));
    out->where = strdup(where);
    if (!out->key || !out->value || !out->where)
        return hs_fail(HS_ERR_NOMEM, "out of memory");
    return HS_OK;
}

hs_status hs_sweep_settings_read(hs_sweep_setting **out, size_t *n, const char *path)
{
    if (!out || !n || !path)
        return hs_fail(HS_ERR_NULL, "hs_sweep_settings_read: NULL argument");
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return hs_fail(HS_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    hs_sweep_setting *items = calloc(SETTINGS_MAX, sizeof *items);
    char *line = NULL;
    size_t cap = 0, lineno = 0, count = 0;
    ssize_t got;
    hs_status st = items ? HS_OK : hs_fail(HS_ERR_NOMEM, "out of memory");
    while (!st && (got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (got > SETTINGS_LINE_MAX) {
            st = hs_fail(HS_ERR_FORMAT, "%s:%zu: line too long", path, lineno);
            break;
        }
        /* the string functions below would stop at it and read half a line */
        const char *nul = memchr(line, '\0', (size_t)got);
        if (nul) {
            st = hs_fail(HS_ERR_FORMAT, "%s:%zu:%zu: a NUL byte (binary data, not a text file)", path, lineno,
                         (size_t)(nul - line) + 1);
            break;
        }
        line[strcspn(line, "\n")] = '\0';
        if (count == SETTINGS_MAX) {
            st = hs_fail(HS_ERR_FORMAT, "%s: more than %d settings", path, SETTINGS_MAX);
            break;
        }
        st = settings_line(&items[count], line, path, lineno);
        if (items[count].key)
            count++;
    }
    if (!st && ferror(f))
        st = hs_fail(HS_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    free(line);
    fclose(f);
    if (st) {
        hs_sweep_settings_free(items, SETTINGS_MAX);
        return st;
    }
    *out = items;
    *n = count;
    return HS_OK;
}
