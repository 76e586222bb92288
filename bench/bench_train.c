/* Training throughput of the paper's CNN: images per second of full training steps
 * (forward, loss, backward, Adam) on random 28x28 Fashion-MNIST-shaped batches, and the peak
 * resident memory. Prints a table; never passes or fails.
 *
 * usage: bench_train [--width W] [--threads N] [--steps S] [--loss NAME] [--batches B1,B2,...]
 *                    [--memory-batch B] [--torch SCRIPT [--torch-memory]]
 * --torch runs the PyTorch baseline (bench/bench_train_torch.py with Debian's /usr/bin/python3)
 * on the same network, batches and threads right after, and prints both side by side.
 * The memory batch runs last, with a fresh network: the peak resident set size after it is
 * reported (for PyTorch too, in its own process, with --torch-memory). */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "hypersimplex.h"
#include "hypersimplex/nn.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

typedef struct step_ctx {
    hs_net *net;
    float *x, *logits, *dlogits, *m, *v;
    int32_t *y;
    hs_loss_opts lo;
    hs_adam adam;
    uint64_t t;
} step_ctx;

static int step(step_ctx *c, size_t B)
{
    double loss;
    size_t np = hs_net_param_count(c->net);
    hs_status st = hs_net_forward(c->net, c->logits, c->x, B, 1);
    if (!st)
        st = hs_loss_multiclass_f(&loss, c->dlogits, c->logits, c->y, B, 10, &c->lo);
    if (!st)
        st = hs_net_backward(c->net, c->dlogits);
    if (!st)
        st = hs_adam_step(hs_net_params(c->net), c->m, c->v, hs_net_grads(c->net), np, &c->adam, ++c->t);
    if (st) {
        fprintf(stderr, "bench_train: %s: %s\n", hs_status_string(st), hs_last_error());
        return -1;
    }
    return 0;
}

/* Runs warm-up steps, then steps until `steps` are done and at least min_seconds passed. */
static int measure(step_ctx *c, size_t B, size_t steps, double min_seconds, double *ips, size_t *done)
{
    size_t np = hs_net_param_count(c->net);
    c->x = realloc(c->x, B * 784 * sizeof(float));
    c->y = realloc(c->y, B * sizeof(int32_t));
    c->logits = realloc(c->logits, B * 10 * sizeof(float));
    c->dlogits = realloc(c->dlogits, B * 10 * sizeof(float));
    if (!c->x || !c->y || !c->logits || !c->dlogits)
        return -1;
    uint64_t s = 12345;
    for (size_t i = 0; i < B * 784; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        c->x[i] = (float)((double)(s >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
    }
    for (size_t i = 0; i < B; i++)
        c->y[i] = (int32_t)(i % 10);
    (void)np;
    if (step(c, B)) /* warm-up: primitive creation, first touch */
        return -1;
    double t0 = now_s();
    size_t n = 0;
    while (n < steps || now_s() - t0 < min_seconds) {
        if (step(c, B))
            return -1;
        n++;
    }
    double el = now_s() - t0;
    *ips = (double)(n * B) / el;
    *done = n;
    return 0;
}

int main(int argc, char **argv)
{
    size_t width = 64, steps = 3, mem_batch = 0;
    int threads = 2, torch_memory = 0;
    const char *loss = "cross_entropy", *batches = "128,1024", *torch = NULL;
    static const struct option opts[] = {
        {"width", required_argument, NULL, 'w'}, {"threads", required_argument, NULL, 't'},
        {"steps", required_argument, NULL, 's'}, {"loss", required_argument, NULL, 'l'},
        {"batches", required_argument, NULL, 'b'}, {"memory-batch", required_argument, NULL, 'm'},
        {"torch", required_argument, NULL, 'p'}, {"torch-memory", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'w': width = (size_t)strtoul(optarg, NULL, 10); break;
        case 't': threads = atoi(optarg); break;
        case 's': steps = (size_t)strtoul(optarg, NULL, 10); break;
        case 'l': loss = optarg; break;
        case 'b': batches = optarg; break;
        case 'm': mem_batch = (size_t)strtoul(optarg, NULL, 10); break;
        case 'p': torch = optarg; break;
        case 'q': torch_memory = 1; break;
        default:
            fprintf(stderr, "usage: bench_train [--width W] [--threads N] [--steps S] [--loss NAME] "
                            "[--batches B1,B2] [--memory-batch B] [--torch SCRIPT]\n");
            return 2;
        }
    }
    hs_nn_set_threads(threads);
    hs_loss_kind kind;
    if (hs_loss_kind_parse(&kind, loss)) {
        fprintf(stderr, "bench_train: unknown loss %s\n", loss);
        return 2;
    }
    hs_net_shape shape = hs_net_shape_paper(1, 28, 28, 10, width);
    step_ctx c;
    memset(&c, 0, sizeof c);
    c.lo = hs_loss_opts_default(kind);
    c.adam = hs_adam_default();
    if (hs_net_create(&c.net, &shape) || hs_net_init(c.net, 0)) {
        fprintf(stderr, "bench_train: %s\n", hs_last_error());
        return 1;
    }
    size_t np = hs_net_param_count(c.net);
    c.m = calloc(np, sizeof(float));
    c.v = calloc(np, sizeof(float));
    printf("# hypersimplex (oneDNN %s) training step: forward, %s loss, backward, Adam\n", "2.x", loss);
    printf("# width %zu, 28x28x1 input, 10 classes, %zu parameters, %d threads\n", width, np, threads);
    printf("%-8s %8s %12s %12s\n", "batch", "steps", "images/s", "ms/step");
    enum { MAXB = 16 };
    size_t bs[MAXB];
    double ours[MAXB];
    size_t nb = 0;
    char *list = strdup(batches);
    for (char *tok = strtok(list, ","); tok && nb < MAXB; tok = strtok(NULL, ",")) {
        size_t B = (size_t)strtoul(tok, NULL, 10);
        double ips;
        size_t n;
        if (!B || measure(&c, B, steps, 5.0, &ips, &n))
            return 1;
        printf("%-8zu %8zu %12.1f %12.1f\n", B, n, ips, 1000.0 * (double)B / ips);
        fflush(stdout);
        bs[nb] = B;
        ours[nb++] = ips;
    }
    free(list);
    double our_peak = 0, our_mem_ips = 0;
    if (mem_batch) {
        /* a fresh network, so that only this batch size's buffers exist */
        hs_net_free(c.net);
        c.net = NULL;
        if (hs_net_create(&c.net, &shape) || hs_net_init(c.net, 0))
            return 1;
        size_t n;
        if (measure(&c, mem_batch, 1, 0.0, &our_mem_ips, &n))
            return 1;
        our_peak = peak_rss_mib();
        printf("peak resident memory (process, ending with batch %zu): %.0f MiB (%.1f images/s)\n", mem_batch,
               our_peak, our_mem_ips);
    }
    if (torch) {
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' --width %zu --threads %d --steps %zu --batches '%s' "
                 "--memory-batch %zu", torch, width, threads, steps, batches, torch_memory ? mem_batch : 0);
        printf("\n$ %s\n", cmd);
        fflush(stdout);
        FILE *p = popen(cmd, "r");
        if (!p) {
            fprintf(stderr, "bench_train: cannot run %s\n", cmd);
            return 1;
        }
        double theirs[MAXB] = {0}, their_peak = 0;
        char line[512];
        while (fgets(line, sizeof line, p)) {
            fputs(line, stdout);
            size_t B, n;
            double ips, ms, mib;
            if (sscanf(line, "%zu %zu %lf %lf", &B, &n, &ips, &ms) == 4) {
                for (size_t i = 0; i < nb; i++)
                    if (bs[i] == B)
                        theirs[i] = ips;
            } else if (sscanf(line, "peak resident memory (process, ending with batch %zu): %lf", &B, &mib) == 2) {
                their_peak = mib;
            }
        }
        if (pclose(p) != 0)
            fprintf(stderr, "bench_train: the PyTorch script failed\n");
        printf("\n%-8s %16s %16s %8s\n", "batch", "hypersimplex i/s", "pytorch i/s", "ratio");
        for (size_t i = 0; i < nb; i++)
            printf("%-8zu %16.1f %16.1f %8.2f\n", bs[i], ours[i], theirs[i], theirs[i] > 0 ? ours[i] / theirs[i] : NAN);
        if (mem_batch && torch_memory)
            printf("%-8s %16.0f %16.0f   (peak MiB at batch %zu)\n", "memory", our_peak, their_peak, mem_batch);
    }
    hs_net_free(c.net);
    free(c.m), free(c.v), free(c.x), free(c.y), free(c.logits), free(c.dlogits);
    return 0;
}
