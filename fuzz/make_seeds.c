/* Writes the seed corpora of the fuzz harnesses: OUTDIR/<harness>/<seed>, small valid (and a
 * few nearly valid) inputs. Binary formats come from the library's own writers, so the seeds
 * follow the formats as written; gzip variants from the io layer's gzip writer.
 *   usage: fuzz_make_seeds OUTDIR        (the committed corpora: fuzz_make_seeds fuzz/corpus) */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hypersimplex/data.h"
#include "io/stream.h"
#include "train/checkpoint.h"
#include "train/run_dir.h"
#include "util/atomic_file.h"

static const char *out_dir;
static char tmp_dir[] = "/tmp/hs_fuzz_seeds_XXXXXX";

static void die(const char *what)
{
    fprintf(stderr, "fuzz_make_seeds: %s: %s\n", what, hs_last_error());
    exit(1);
}

static void path_in(char *buf, size_t n, const char *dir, const char *name)
{
    if ((size_t)snprintf(buf, n, "%s/%s", dir, name) >= n) {
        fprintf(stderr, "fuzz_make_seeds: path too long\n");
        exit(1);
    }
}

/* OUTDIR/harness/name with the given content, raw or gzip. */
static void put(const char *harness, const char *name, const void *data, size_t n, int gz)
{
    char dir[1024], path[1100];
    path_in(dir, sizeof dir, out_dir, harness);
    mkdir(dir, 0777);
    path_in(path, sizeof path, dir, name);
    hs_outstream s;
    if (hs_outstream_open(&s, path, gz) || hs_outstream_write(&s, data, n) || hs_outstream_commit(&s))
        die(path);
}

static void put_text(const char *harness, const char *name, const char *text, int gz)
{
    put(harness, name, text, strlen(text), gz);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path);
    size_t cap = 1 << 16;
    unsigned char *buf = malloc(cap);
    *n = 0;
    size_t got;
    while (buf && (got = fread(buf + *n, 1, cap - *n, f)) > 0) {
        *n += got;
        if (*n == cap && !(buf = realloc(buf, cap *= 2)))
            break;
    }
    fclose(f);
    if (!buf)
        die("out of memory");
    return buf;
}

/* The two-file input of fuzz_util.h's hs_fuzz_split: 2-byte length of a, a, b. */
static void put_pair(const char *harness, const char *name, const char *file_a, const char *file_b)
{
    size_t na, nb;
    unsigned char *a = slurp(file_a, &na), *b = slurp(file_b, &nb);
    if (na > 0xffff)
        die("first file longer than 65535 bytes");
    unsigned char *buf = malloc(2 + na + nb);
    if (!buf)
        die("out of memory");
    buf[0] = (unsigned char)(na & 0xff);
    buf[1] = (unsigned char)(na >> 8);
    memcpy(buf + 2, a, na);
    memcpy(buf + 2 + na, b, nb);
    put(harness, name, buf, 2 + na + nb, 0);
    free(a);
    free(b);
    free(buf);
}

/* config.json and summary.json of a finished run, written by the trainer's own writers. */
static void run_json_seed(void)
{
    hs_train_config c = hs_train_config_default();
    c.loss = hs_train_loss_default(HS_LOSS_HYPERSIMPLEX);
    c.out_dir = tmp_dir;
    hs_run_info info = {900, 100, 1000, 12345, {1, 28, 28, 10, 64, 512}};
    hs_epoch_metrics rows[2] = {{0, 0.9, 0.7, 0.69, 1.5, 0.72, 0.71}, {1, 0.5, 0.8, 0.79, 1.4, 0.82, NAN}};
    hs_train_result r = {0};
    r.epochs_done = 2;
    r.best_val_epoch = 1;
    r.best_val_accuracy = 0.8;
    r.test_at_best_val = r.max_test_accuracy = r.final_test_accuracy = 0.79;
    r.max_test_epoch = 1;
    r.best_val_accuracy_threshold = 0.82;
    r.test_at_best_val_threshold = r.max_test_accuracy_threshold = r.final_test_accuracy_threshold = NAN;
    double theta[3] = {0.5, NAN, -1.25};
    if (hs_run_write_config(tmp_dir, &c, &info) || hs_run_write_summary(tmp_dir, &c, &r, rows, theta, 3))
        die("the run's JSON files");
    char cfg[300], sum[300];
    path_in(cfg, sizeof cfg, tmp_dir, HS_RUN_CONFIG_FILE);
    path_in(sum, sizeof sum, tmp_dir, HS_RUN_SUMMARY_FILE);
    put_pair("run_json", "finished_run", cfg, sum);
}

/* A data set of `count` images with deterministic pixels and labels. */
static hs_dataset make_images(size_t count, size_t channels, size_t side)
{
    hs_dataset d = {count, channels, side, side, 10, NULL, NULL};
    d.pixels = malloc(count * channels * side * side);
    d.labels = malloc(count * sizeof *d.labels);
    if (!d.pixels || !d.labels)
        die("out of memory");
    for (size_t i = 0; i < count * channels * side * side; i++)
        d.pixels[i] = (uint8_t)(i * 37 % 251);
    for (size_t i = 0; i < count; i++)
        d.labels[i] = (int32_t)(i * 3 % 10);
    return d;
}

static void idx_seeds(void)
{
    char img[300], lab[300];
    path_in(img, sizeof img, tmp_dir, "images");
    path_in(lab, sizeof lab, tmp_dir, "labels");
    hs_dataset d = make_images(3, 1, 4);
    if (hs_idx_write(img, lab, &d, 0))
        die("hs_idx_write");
    put_pair("idx", "raw", img, lab);
    if (hs_idx_write(img, lab, &d, 1))
        die("hs_idx_write");
    put_pair("idx", "gzip", img, lab);
    hs_dataset_free(&d);
}

static void cifar10_seeds(void)
{
    char one[300], three[300];
    path_in(one, sizeof one, tmp_dir, "one.bin");
    path_in(three, sizeof three, tmp_dir, "three.bin");
    hs_dataset d = make_images(1, 3, 32);
    if (hs_cifar10_write(one, &d))
        die("hs_cifar10_write");
    hs_dataset_free(&d);
    d = make_images(3, 3, 32);
    if (hs_cifar10_write(three, &d))
        die("hs_cifar10_write");
    hs_dataset_free(&d);
    put_pair("cifar10", "one_one", one, one);
    put_pair("cifar10", "three_one", three, one); /* three records: above the harness's limit */
    /* gzip-compressed first file */
    size_t n;
    unsigned char *raw = slurp(one, &n);
    char gz[300];
    path_in(gz, sizeof gz, tmp_dir, "one.bin.gz");
    hs_outstream s;
    if (hs_outstream_open(&s, gz, 1) || hs_outstream_write(&s, raw, n) || hs_outstream_commit(&s))
        die(gz);
    free(raw);
    put_pair("cifar10", "gzip_one", gz, one);
}

/* A version-2 checkpoint (the current format) of an HS loss: running class thresholds
 * (ntheta of them, NaN for a class without one yet) and threshold accuracies per epoch. */
static void checkpoint_seed(const char *name, uint64_t nparams, uint64_t nbufs, uint64_t epochs,
                            uint64_t ntheta)
{
    hs_ckpt c;
    memset(&c, 0, sizeof c);
    c.fp.dataset = 0, c.fp.loss_kind = 3, c.fp.classes = 10, c.fp.tau = 1.5, c.fp.lr = 1e-3;
    c.fp.batch_size = 128, c.fp.width = 16, c.fp.hidden = 128, c.fp.augment = 1;
    c.fp.channels = 1, c.fp.height = 28, c.fp.img_width = 28, c.fp.theta_momentum = 0.9;
    c.epochs_done = epochs, c.steps = 7 * epochs, c.nparams = nparams, c.nbufs = nbufs;
    float p[8] = {0.5f, -1.0f, 2.0f, 0.25f, 1e-3f, 3.0f, -0.5f, 1.0f};
    c.params = c.m = c.v = c.buffers = p;
    double theta[10];
    for (size_t i = 0; i < 10; i++)
        theta[i] = i == 3 ? NAN : 0.125 * (double)i - 0.5;
    c.ntheta = ntheta, c.theta = theta;
    hs_epoch_metrics rows[4];
    for (size_t i = 0; i < 4; i++)
        rows[i] = (hs_epoch_metrics){.epoch = i, .train_loss = 1.0 / (double)(i + 1),
                                     .val_accuracy = 0.5, .test_accuracy = 0.6, .seconds = 2.0,
                                     .val_accuracy_threshold = i ? 0.55 : NAN,
                                     .test_accuracy_threshold = i ? 0.625 : NAN};
    c.nrows = epochs, c.rows = rows;
    char path[300];
    path_in(path, sizeof path, tmp_dir, "ckpt");
    if (hs_ckpt_write(path, &c))
        die("hs_ckpt_write");
    size_t n;
    unsigned char *file = slurp(path, &n);
    put("checkpoint", name, file, n - 8, 0); /* the harness appends the checksum */
    free(file);
}

static void text_seeds(void)
{
    /* results: two losses, two seeds, two epochs, so the t-tests and the table are reached */
    char results[2048] = "dataset,loss,batch_size,seed,epoch,test_accuracy,val_accuracy,train_loss,"
                         "seconds,variant\n";
    static const char *const losses[2] = {"cross_entropy", "hypersimplex"};
    for (int l = 0; l < 2; l++)
        for (int s = 0; s < 2; s++)
            for (int e = 0; e < 2; e++) {
                char row[160];
                snprintf(row, sizeof row, "fashion-mnist,%s,128,%d,%d,0.%d%d,0.%d,%.3f,%d,tau=0.5\n",
                         losses[l], s, e, 6 + e, l + s + l * s, 5 + e, 1.0 / (e + 1), 3 * (e + 1));
                strcat(results, row);
            }
    put_text("results", "study", results, 0);
    put_text("results", "study_gz", results, 1);
    /* as written since the threshold rule: the threshold accuracies, empty for cross_entropy */
    char with_thr[2048] = "dataset,loss,batch_size,seed,epoch,test_accuracy,val_accuracy,train_loss,"
                          "seconds,val_accuracy_threshold,test_accuracy_threshold\n";
    for (int l = 0; l < 2; l++)
        for (int s = 0; s < 2; s++)
            for (int e = 0; e < 2; e++) {
                char row[160], thr[32] = ",";
                if (l)
                    snprintf(thr, sizeof thr, "0.%d,0.%d", 6 + e, 7 - s);
                snprintf(row, sizeof row, "fashion-mnist,%s,128,%d,%d,0.%d%d,0.%d,%.3f,%d,%s\n",
                         losses[l], s, e, 6 + e, l + s, 5 + e, 1.0 / (e + 1), 3 * (e + 1), thr);
                strcat(with_thr, row);
            }
    put_text("results", "study_threshold", with_thr, 0);
    put_text("results", "required_only",
             "\xEF\xBB\xBF" "epoch,seed,batch_size,loss,dataset,test_accuracy\n0,0,8,mse,mnist,0.1\n"
             "1,0,8,mse,mnist,0.2\n", 0);

    put_text("metrics", "run",
             "epoch,train_loss,val_accuracy,test_accuracy,seconds\n0,2.3,0.5,0.51,1.5\n"
             "1,1.25,,0.6,3\n2,nan,0.7,0.71,4.5\n", 0);
    /* as written since the threshold rule: two more columns, empty for non-HS losses */
    put_text("metrics", "run_threshold",
             "epoch,train_loss,val_accuracy,test_accuracy,seconds,val_accuracy_threshold,"
             "test_accuracy_threshold\n0,2.3,0.5,0.51,1.5,,\n1,1.25,0.6,0.62,3,0.61,0.63\n"
             "2,1.1,,0.7,4.5,,0.72\n", 0);

    put_text("table_csv", "letter",
             "label,x.box,y.box,width,high\n1,2,8,3,5\n0,2,2,NA,4\n1,3,,4,3\n0,-1.5e2,6,4,4\n", 0);
    put_text("table_csv", "letter_gz", "label,a,b\r\n1,0.5,1e-3\r\n0,2,3\r\n", 1);
    put_text("table_libsvm", "small",
             "# a comment\n1 1:0.5 3:2\n-1 2:1e-3\n+1 1:-2 4:7 # trailing\n0\n", 0);
    put_text("table_libsvm", "small_gz", "1 0:1 7:-3.25\n0 2:0\n", 1);

    put_text("sweep_config", "small",
             "# the small study, changed\npreset = small\nepochs = 3\nset = width=8\n"
             "vary = tau=0.5,1.5\nseeds = 0, 1\njobs = 2\n", 0);
    put_text("sweep_config", "plain",
             "dataset = fashion-mnist,cifar10\nlosses = cross_entropy,hypersimplex\n"
             "batch-sizes = 128,8192\nname = study_a\nruns-dir = runs\nresults = r.csv\n"
             "set = no-augment\nthreads = 1\n", 0);

    put_text("project_text", "vectors", "3, 1, 0.2, -1, 2.5\n1 2 3 # comment\n\n1e-3,\t4\r\n", 0);
    put_text("project_text", "one", "-0.5 0x1p-3 7\n", 0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    mkdir(out_dir, 0777);
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    idx_seeds();
    cifar10_seeds();
    checkpoint_seed("two_epochs", 3, 2, 2, 10);
    checkpoint_seed("empty", 0, 0, 0, 0);
    run_json_seed();
    text_seeds();
    static const char *const tmp_files[] = {"images", "labels", "one.bin", "three.bin",
                                            "one.bin.gz", "ckpt", HS_RUN_CONFIG_FILE,
                                            HS_RUN_SUMMARY_FILE};
    for (size_t i = 0; i < sizeof tmp_files / sizeof tmp_files[0]; i++) {
        char p[300];
        path_in(p, sizeof p, tmp_dir, tmp_files[i]);
        unlink(p);
    }
    rmdir(tmp_dir);
    return 0;
}
