/* The study engine (hypersimplex/sweep.h): the protocol and its checks, the settings file,
 * the plan's runs and training options, the protocol file, run states and the collection of
 * run directories written to the train layer's contract. The command that runs the trainers
 * (`hypersimplex sweep`) is tested in test_study.c with a stand-in trainer. */
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hypersimplex.h"
#include "hypersimplex/sweep.h"
#include "test_util.h"

/* A trainer's options for the spec's set/vary checks: those the tests and presets use, one flag. */
static int arity(const char *key, void *user)
{
    (void)user;
    if (!strcmp(key, "width") || !strcmp(key, "tau") || !strcmp(key, "k-policy") || !strcmp(key, "lr") ||
        !strcmp(key, "epochs") || !strcmp(key, "seed") || !strcmp(key, "val-fraction") || !strcmp(key, "train-limit"))
        return 1;
    if (!strcmp(key, "no-augment"))
        return 0;
    return -1;
}

static hs_sweep_spec *new_spec(void)
{
    hs_sweep_spec *s = NULL;
    assert_int_equal(hs_sweep_spec_new(&s, arity, NULL), HS_OK);
    return s;
}

static void set_ok(hs_sweep_spec *s, const char *key, const char *value)
{
    if (hs_sweep_spec_set(s, key, value, "--"))
        fail_msg("%s = %s: %s", key, value, hs_last_error());
}

/* spec_set fails with status want and a message containing text. */
static void set_fails(hs_sweep_spec *s, const char *key, const char *value, hs_status want, const char *text)
{
    hs_status st = hs_sweep_spec_set(s, key, value, "f.conf:3: ");
    if (st != want)
        fail_msg("%s = %s: status %d, want %d", key, value, (int)st, (int)want);
    if (!strstr(hs_last_error(), text))
        fail_msg("%s = %s: '%s' (want '%s')", key, value, hs_last_error(), text);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* The options of a run as "--key value --flag ..." */
static void options_text(char *buf, size_t n, const hs_sweep_run *r)
{
    buf[0] = '\0';
    for (size_t i = 0; i < r->n_options; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s--%s%s%s", i ? " " : "", r->options[i].key, r->options[i].value ? " " : "",
                 r->options[i].value ? r->options[i].value : "");
    }
}

static void test_defaults_and_order(void **state)
{
    (void)state;
    hs_sweep_spec *s = new_spec();
    hs_sweep_plan p;
    assert_int_equal(hs_sweep_plan_build(&p, s, "/tmp/sw"), HS_OK);
    /* 1 dataset x 4 losses x 2 batch sizes x 3 seeds; seeds outermost, losses innermost */
    assert_int_equal(p.n_runs, 24);
    assert_int_equal(p.epochs, 10);
    assert_string_equal(p.runs[0].id, "fashion-mnist_cross_entropy_b128_s0");
    assert_string_equal(p.runs[3].id, "fashion-mnist_hypersimplex_b128_s0");
    assert_string_equal(p.runs[4].id, "fashion-mnist_cross_entropy_b8192_s0");
    assert_string_equal(p.runs[8].id, "fashion-mnist_cross_entropy_b128_s42");
    assert_string_equal(p.runs[23].dir, "/tmp/sw/fashion-mnist_hypersimplex_b8192_s1337");
    assert_int_equal(p.runs[23].batch_size, 8192);
    assert_int_equal(p.runs[23].seed, 1337);
    assert_null(p.runs[23].k_policy);
    char opts[512];
    options_text(opts, sizeof opts, &p.runs[23]);
    assert_string_equal(opts, "--dataset fashion-mnist --loss hypersimplex --batch-size 8192 --seed 1337 --epochs 10");
    for (size_t i = 0; i < p.n_runs; i++)
        assert_int_equal(p.runs[i].state, HS_SWEEP_FRESH);
    hs_sweep_plan_free(&p);
    hs_sweep_spec_free(s);
}

static void test_set_vary_policies(void **state)
{
    (void)state;
    hs_sweep_spec *s = new_spec();
    set_ok(s, "losses", "cross_entropy, hypersimplex");
    set_ok(s, "batch-sizes", "64");
    set_ok(s, "seeds", "7");
    set_ok(s, "epochs", "3");
    set_ok(s, "set", "width=8");
    set_ok(s, "set", "no-augment");
    set_ok(s, "set", "width=16"); /* replaces width=8 */
    set_ok(s, "vary", "tau=0.5,2");
    set_ok(s, "vary", "k-policy=count,fraction:0.5");
    hs_sweep_plan p;
    assert_int_equal(hs_sweep_plan_build(&p, s, "/r"), HS_OK);
    /* the policies multiply the HyperSimplex loss only: (1 + 2) losses x 2 taus */
    assert_int_equal(p.n_runs, 6);
    const char *ids[6] = {"fashion-mnist_cross_entropy_b64_s7_tau0.5",
                          "fashion-mnist_hypersimplex_count_b64_s7_tau0.5",
                          "fashion-mnist_hypersimplex_fraction_0.5_b64_s7_tau0.5",
                          "fashion-mnist_cross_entropy_b64_s7_tau2",
                          "fashion-mnist_hypersimplex_count_b64_s7_tau2",
                          "fashion-mnist_hypersimplex_fraction_0.5_b64_s7_tau2"};
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(p.runs[i].id, ids[i]);
    assert_string_equal(p.runs[2].loss, "hypersimplex@fraction:0.5");
    assert_string_equal(p.runs[2].loss_kind, "hypersimplex");
    assert_string_equal(p.runs[2].k_policy, "fraction:0.5");
    assert_string_equal(p.runs[2].variant, "tau=0.5");
    char opts[512];
    options_text(opts, sizeof opts, &p.runs[5]);
    assert_string_equal(opts, "--dataset fashion-mnist --loss hypersimplex --k-policy fraction:0.5 --batch-size 64 "
                              "--seed 7 --epochs 3 --no-augment --width 16 --tau 2");
    hs_sweep_plan_free(&p);

    /* a hypersimplex@P loss and set k-policy would both set the policy */
    set_ok(s, "losses", "hypersimplex@prior");
    set_ok(s, "set", "k-policy=count");
    assert_int_equal(hs_sweep_plan_build(&p, s, "/r"), HS_ERR_ARG);
    assert_non_null(strstr(hs_last_error(), "'hypersimplex@prior' sets the k policy"));
    assert_null(p.runs);
    /* vary k-policy without a plain hypersimplex to vary */
    set_ok(s, "losses", "mse");
    set_ok(s, "vary", "k-policy=count");
    assert_int_equal(hs_sweep_plan_build(&p, s, "/r"), HS_ERR_ARG);
    assert_non_null(strstr(hs_last_error(), "no plain 'hypersimplex'"));
    hs_sweep_spec_free(s);

    /* ... unless a preset asked for it: the paper's protocol, its HS runs at fraction:0.5 */
    s = new_spec();
    set_ok(s, "preset", "paper");
    assert_int_equal(hs_sweep_plan_build(&p, s, "/r"), HS_OK);
    assert_int_equal(p.n_runs, 280);
    assert_int_equal(p.epochs, 600);
    size_t hs = 0;
    for (size_t i = 0; i < p.n_runs; i++)
        if (p.runs[i].k_policy) {
            assert_string_equal(p.runs[i].k_policy, "fraction:0.5");
            hs++;
        }
    assert_int_equal(hs, 70);
    hs_sweep_plan_free(&p);
    set_ok(s, "losses", "mse");
    assert_int_equal(hs_sweep_plan_build(&p, s, "/r"), HS_OK);
    hs_sweep_plan_free(&p);
    hs_sweep_spec_free(s);
    assert_null(hs_sweep_preset("nope"));
    assert_string_equal(hs_sweep_preset_names()[1], "small");
}

static void test_bad_settings(void **state)
{
    (void)state;
    hs_sweep_spec *s = new_spec();
    set_fails(s, "losses", "cross_entropy,softmax", HS_ERR_ARG, "f.conf:3: losses: unknown loss 'softmax'");
    set_fails(s, "losses", "hinge@count", HS_ERR_ARG, "only hypersimplex takes a k policy");
    set_fails(s, "losses", "hypersimplex@top", HS_ERR_ARG, "'top' is not count, prior or fraction:F");
    set_fails(s, "dataset", "mnist, foo", HS_ERR_ARG, "f.conf:3: dataset: unknown dataset 'foo'");
    set_fails(s, "seeds", "1, 01", HS_ERR_ARG, "seeds: '01' appears twice");
    set_fails(s, "batch-sizes", "0", HS_ERR_ARG, "batch-sizes: 0 is outside [1, 1073741824]");
    set_fails(s, "epochs", "abc", HS_ERR_ARG, "f.conf:3: epochs: 'abc' is not an integer");
    set_fails(s, "seeds", " , ", HS_ERR_ARG, "seeds: empty list");
    set_fails(s, "set", "width", HS_ERR_ARG, "set: 'width' needs a value");
    set_fails(s, "set", "no-augment=1", HS_ERR_ARG, "'no-augment' is a flag");
    set_fails(s, "vary", "no-augment=1,2", HS_ERR_ARG, "'no-augment' is a flag");
    set_fails(s, "set", "widht=8", HS_ERR_ARG, "'widht' is not a training option the sweep can set");
    set_fails(s, "set", "epochs=3", HS_ERR_ARG, "'epochs' is not a training option");
    set_fails(s, "vary", "seed=1,2", HS_ERR_ARG, "'seed' is not a training option the sweep can vary");
    set_fails(s, "vary", "tau", HS_ERR_ARG, "'tau' is not KEY=V1,V2,...");
    set_fails(s, "set", "lr=1 2", HS_ERR_ARG, "must not contain blanks");
    set_fails(s, "preset", "huge", HS_ERR_ARG, "unknown preset 'huge'");
    set_fails(s, "jobs", "2", HS_ERR_ARG, "'jobs' is not a setting");
    assert_int_equal(hs_sweep_spec_has_key("jobs"), 0);
    assert_int_equal(hs_sweep_spec_has_key("vary"), 1);
    /* the failed settings changed nothing: still the defaults */
    hs_sweep_plan p;
    assert_int_equal(hs_sweep_plan_build(&p, s, "/r"), HS_OK);
    assert_int_equal(p.n_runs, 24);
    hs_sweep_plan_free(&p);

    /* more runs than a sweep may have */
    set_ok(s, "seeds", "0,1,2,3,4,5,6,7,8,9");
    set_ok(s, "batch-sizes", "1,2,3,4,5,6,7,8,9,10");
    set_ok(s, "vary", "lr=1,2,3,4,5,6,7,8,9,10");
    set_ok(s, "vary", "width=1,2,3,4,5,6,7,8,9,10");
    set_ok(s, "vary", "tau=1,2,3,4,5,6,7,8,9,10");
    assert_int_equal(hs_sweep_plan_build(&p, s, "/r"), HS_ERR_SIZE);
    assert_non_null(strstr(hs_last_error(), "more than 100000 runs"));
    hs_sweep_spec_free(s);
}

static void test_settings_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/hs_sweep_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[96];
    snprintf(path, sizeof path, "%s/study.conf", dir);
    write_text(path, "# a study\n\nlosses = cross_entropy, hinge   # two\n  jobs=2\nset = width=8\n");
    hs_sweep_setting *items = NULL;
    size_t n = 0;
    assert_int_equal(hs_sweep_settings_read(&items, &n, path), HS_OK);
    assert_int_equal(n, 3);
    assert_string_equal(items[0].key, "losses");
    assert_string_equal(items[0].value, "cross_entropy, hinge");
    assert_non_null(strstr(items[0].where, "study.conf:3: "));
    assert_string_equal(items[1].key, "jobs");
    assert_string_equal(items[2].value, "width=8");
    hs_sweep_settings_free(items, n);

    write_text(path, "losses = hinge\nno equals sign\n");
    assert_int_equal(hs_sweep_settings_read(&items, &n, path), HS_ERR_FORMAT);
    assert_non_null(strstr(hs_last_error(), "study.conf:2: expected 'setting = value'"));
    static const char nul[] = "losses = cross_entropy\nepochs = 3\0junk\n";
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(nul, 1, sizeof nul - 1, f), sizeof nul - 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(hs_sweep_settings_read(&items, &n, path), HS_ERR_FORMAT);
    assert_non_null(strstr(hs_last_error(), "study.conf:2:11: a NUL byte"));
    char *long_line = malloc(5000);
    assert_non_null(long_line);
    memset(long_line, 'a', 4999);
    long_line[4999] = '\0';
    write_text(path, long_line);
    free(long_line);
    assert_int_equal(hs_sweep_settings_read(&items, &n, path), HS_ERR_FORMAT);
    assert_non_null(strstr(hs_last_error(), "study.conf:1: line too long"));
    assert_int_equal(remove(path), 0);
    assert_int_equal(hs_sweep_settings_read(&items, &n, path), HS_ERR_IO);
    assert_int_equal(rmdir(dir), 0);
}

/* A finished run directory as the train layer's contract has it (what a trainer writes);
 * metrics of `epochs` epochs. */
static void write_run(const char *dir, const char *loss, const char *policy, double fraction, long batch,
                      long seed, size_t epochs, int done)
{
    assert_int_equal(mkdir(dir, 0777), 0);
    char path[512], text[1024];
    snprintf(path, sizeof path, "%s/%s", dir, HS_RUN_CONFIG_FILE);
    snprintf(text, sizeof text,
             "{\"dataset\": \"fashion-mnist\", \"loss\": \"%s\", \"k_policy\": \"%s\", \"k_fraction\": %g, "
             "\"batch_size\": %ld, \"seed\": %ld, \"epochs\": %zu, \"width\": 8}\n",
             loss, policy, fraction, batch, seed, epochs);
    write_text(path, text);
    snprintf(path, sizeof path, "%s/%s", dir, HS_RUN_METRICS_FILE);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "epoch,train_loss,val_accuracy,test_accuracy,seconds,val_accuracy_threshold,test_accuracy_threshold\n");
    for (size_t e = 0; e < epochs; e++)
        fprintf(f, "%zu,0.5,0.%zu00000,0.%zu50000,1.0,nan,nan\n", e, e + 1, e + 1);
    assert_int_equal(fclose(f), 0);
    snprintf(path, sizeof path, "%s/%s", dir, HS_RUN_CHECKPOINT_FILE);
    write_text(path, "a checkpoint\n");
    if (done) {
        snprintf(path, sizeof path, "%s/%s", dir, HS_RUN_SUMMARY_FILE);
        write_text(path, "{}\n");
    }
}

static void test_protocol_states_collect(void **state)
{
    (void)state;
    char dir[] = "/tmp/hs_sweep_XXXXXX";
    assert_non_null(mkdtemp(dir));
    hs_sweep_spec *s = new_spec();
    set_ok(s, "losses", "cross_entropy,hypersimplex@fraction:0.5");
    set_ok(s, "batch-sizes", "32,64");
    set_ok(s, "seeds", "1");
    set_ok(s, "epochs", "2");
    hs_sweep_plan p;
    assert_int_equal(hs_sweep_plan_build(&p, s, dir), HS_OK);
    assert_int_equal(p.n_runs, 4);

    /* the protocol file: written once, then the same protocol passes and another is refused */
    assert_int_equal(hs_sweep_protocol_check(&p, 0), HS_OK); /* not written */
    char conf[96];
    snprintf(conf, sizeof conf, "%s/sweep.conf", dir);
    assert_int_not_equal(access(conf, F_OK), 0);
    assert_int_equal(hs_sweep_protocol_check(&p, 1), HS_OK);
    assert_int_equal(access(conf, F_OK), 0);
    assert_int_equal(hs_sweep_protocol_check(&p, 1), HS_OK);
    set_ok(s, "epochs", "3");
    hs_sweep_plan other;
    assert_int_equal(hs_sweep_plan_build(&other, s, dir), HS_OK);
    assert_int_equal(hs_sweep_protocol_check(&other, 1), HS_ERR_ARG);
    assert_non_null(strstr(hs_last_error(), "different protocol"));
    assert_non_null(strstr(hs_last_error(), "epochs = 3"));
    hs_sweep_plan_free(&other);

    /* run 0 done and right; run 1 done but another policy; run 2 partial; run 3 failed */
    write_run(p.runs[0].dir, "cross_entropy", "count", 0.5, 32, 1, 2, 1);
    write_run(p.runs[1].dir, "hypersimplex", "fraction", 0.25, 32, 1, 2, 1);
    write_run(p.runs[2].dir, "cross_entropy", "count", 0.5, 64, 1, 1, 0);
    assert_int_equal(mkdir(p.runs[3].dir, 0777), 0);
    assert_int_equal(hs_sweep_mark_failed(&p.runs[3], 3), HS_OK);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(hs_sweep_refresh(&p.runs[i]), HS_OK);
    assert_int_equal(p.runs[0].state, HS_SWEEP_DONE);
    assert_int_equal(p.runs[1].state, HS_SWEEP_DONE);
    assert_int_equal(p.runs[2].state, HS_SWEEP_PARTIAL);
    assert_int_equal(p.runs[3].state, HS_SWEEP_FAILED);
    assert_string_equal(hs_sweep_state_name(p.runs[3].state), "failed");

    hs_results res = {0};
    hs_sweep_collected n;
    assert_int_equal(hs_sweep_collect(&res, &n, &p), HS_ERR_FORMAT);
    assert_int_equal(n.n_done, 1);
    assert_int_equal(n.n_bad, 1);
    assert_int_equal(n.n_unfinished, 2);
    assert_null(p.runs[0].problem);
    assert_non_null(p.runs[1].problem);
    assert_non_null(strstr(p.runs[1].problem, "records k policy fraction:0.25, the sweep expects fraction:0.5"));
    assert_int_equal(res.n_runs, 1);
    assert_string_equal(res.runs[0].loss, "cross_entropy");
    assert_int_equal(res.runs[0].epochs, 2);
    assert_true(res.runs[0].test_accuracy[1] == 0.25);
    hs_results_free(&res);

    /* the right policy, but an epoch missing from the metrics */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -r '%s'", p.runs[1].dir);
    assert_int_equal(system(cmd), 0);
    write_run(p.runs[1].dir, "hypersimplex", "fraction", 0.5, 32, 1, 1, 1);
    assert_int_equal(hs_sweep_collect(&res, &n, &p), HS_ERR_FORMAT);
    assert_non_null(strstr(p.runs[1].problem, "epochs 1, the sweep expects 2"));
    hs_results_free(&res);
    assert_int_equal(system(cmd), 0);
    write_run(p.runs[1].dir, "hypersimplex", "fraction", 0.5, 32, 1, 2, 1);
    assert_int_equal(hs_sweep_collect(&res, &n, &p), HS_OK);
    assert_int_equal(n.n_done, 2);
    assert_int_equal(n.n_bad, 0);
    assert_string_equal(res.runs[1].loss, "hypersimplex@fraction:0.5");
    hs_results_free(&res);

    /* a metrics.csv of a build before the threshold rule (five columns) is collected too */
    char metrics[512];
    snprintf(metrics, sizeof metrics, "%s/%s", p.runs[0].dir, HS_RUN_METRICS_FILE);
    write_text(metrics, "epoch,train_loss,val_accuracy,test_accuracy,seconds\n0,0.5,0.1,0.15,1\n1,0.4,0.2,0.25,1\n");
    assert_int_equal(hs_sweep_collect(&res, &n, &p), HS_OK);
    assert_int_equal(n.n_done, 2);
    assert_true(res.runs[0].test_accuracy[1] == 0.25);
    assert_true(!res.runs[0].test_accuracy_threshold || isnan(res.runs[0].test_accuracy_threshold[1]));
    hs_results_free(&res);

    /* a retry clears the failed mark */
    assert_int_equal(hs_sweep_clear_failed(&p.runs[3]), HS_OK);
    assert_int_equal(p.runs[3].state, HS_SWEEP_FRESH);

    hs_sweep_plan_free(&p);
    hs_sweep_spec_free(s);
    snprintf(cmd, sizeof cmd, "rm -r '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_order),
        cmocka_unit_test(test_set_vary_policies),
        cmocka_unit_test(test_bad_settings),
        cmocka_unit_test(test_settings_file),
        cmocka_unit_test(test_protocol_states_collect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
