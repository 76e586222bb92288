#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HS_HAVE_OPENMP
#include <omp.h>
#endif

#include "hypersimplex/nn.h"
#include "nn/dgraph.h"
#include "util/error.h"

/* Activation slots (see the slot plan in build_graph). */
enum {
    SLOT_X, SLOT_A1, SLOT_A2, SLOT_A3, SLOT_T, SLOT_Q1, SLOT_Q2, SLOT_Q3, SLOT_Q4,
    SLOT_R1, SLOT_R2, SLOT_F, SLOT_DF, SLOT_H, SLOT_DH, SLOT_L, SLOT_DL, NSLOTS
};

enum { NPARAM_T = 20, NBUF_T = 8, MAX_PLANS = 6, NBN = 4 };

typedef struct plan {
    hs_dg g;
    size_t batch;
    int train;
    int used;
} plan;

struct hs_net {
    hs_net_shape shape;
    size_t nparams, nbufs;
    float *params, *grads, *buffers;
    hs_tensor_info pinfo[NPARAM_T];
    hs_tensor_info binfo[NBUF_T];
    char names[NPARAM_T + NBUF_T][24];
    float *batch_stats; /* NBN x (mean, var) x conv_width */

    dnnl_engine_t eng;
    dnnl_stream_t stream;

    void *slot_ptr[NSLOTS];
    size_t slot_cap[NSLOTS];
    unsigned long arena_version;

    plan plans[MAX_PLANS];
    plan *last_train; /* graph of the last training forward, NULL if invalidated */
    size_t nref;      /* reference kernels in every graph built so far */

    hs_net_sum_fn bn_sum; /* synchronized batch norm (hs_net_set_bn_sync), NULL: local */
    void *bn_sum_user;
};

/* Index of each layer in the paper's nn.Sequential (for state_dict names). */
static const int conv_seq[4] = {0, 3, 7, 10};
static const int bn_seq[4] = {1, 4, 8, 11};
static const int fc_seq[2] = {15, 17};

hs_net_shape hs_net_shape_paper(size_t channels, size_t height, size_t width, size_t classes,
                                size_t conv_width)
{
    hs_net_shape s = {channels, height, width, classes, conv_width, 512};
    return s;
}

const char *hs_net_shape_check(const hs_net_shape *s)
{
    if (!s)
        return "shape is NULL";
    if (s->channels < 1 || s->channels > 64)
        return "channels must be in [1, 64]";
    if (s->height < 4 || s->width < 4 || s->height % 4 || s->width % 4 || s->height > 4096 ||
        s->width > 4096)
        return "height and width must be multiples of 4 in [4, 4096]";
    if (s->classes < 2 || s->classes > 100000)
        return "classes must be in [2, 100000]";
    if (s->conv_width < 1 || s->conv_width > 4096)
        return "conv_width must be in [1, 4096]";
    if (s->hidden < 1 || s->hidden > 65536)
        return "hidden must be in [1, 65536]";
    return NULL;
}

static void set_info(hs_tensor_info *t, char *namebuf, int seq, const char *what, size_t *offset,
                     int ndims, size_t d0, size_t d1, size_t d2, size_t d3)
{
    snprintf(namebuf, 24, "%d.%s", seq, what);
    t->name = namebuf;
    t->offset = *offset;
    t->ndims = ndims;
    t->dims[0] = d0;
    t->dims[1] = d1;
    t->dims[2] = d2;
    t->dims[3] = d3;
    size_t c = 1;
    for (int i = 0; i < ndims; i++)
        c *= t->dims[i];
    t->count = c;
    *offset += c;
}

static void *aligned_calloc(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0)
        bytes = 64;
    if (posix_memalign(&p, 64, bytes))
        return NULL;
    memset(p, 0, bytes);
    return p;
}

hs_status hs_net_create(hs_net **out, const hs_net_shape *shape)
{
    hs_status st = HS_OK;
    if (!out || !shape)
        return hs_fail(HS_ERR_NULL, "hs_net_create: NULL argument");
    *out = NULL;
    const char *msg = hs_net_shape_check(shape);
    if (msg)
        return hs_fail(HS_ERR_SIZE, "network shape: %s", msg);
    hs_net *net = calloc(1, sizeof *net);
    if (!net)
        return hs_fail(HS_ERR_NOMEM, "out of memory creating the network");
    net->shape = *shape;
    size_t K = shape->conv_width, Cin = shape->channels;
    size_t flat_h = shape->height / 4, flat_w = shape->width / 4;
    size_t off = 0;
    int ti = 0;
    for (int l = 0; l < 4; l++) {
        size_t ci = l == 0 ? Cin : K;
        set_info(&net->pinfo[ti], net->names[ti], conv_seq[l], "weight", &off, 4, K, ci, 3, 3);
        ti++;
        set_info(&net->pinfo[ti], net->names[ti], conv_seq[l], "bias", &off, 1, K, 0, 0, 0);
        ti++;
        set_info(&net->pinfo[ti], net->names[ti], bn_seq[l], "weight", &off, 1, K, 0, 0, 0);
        ti++;
        set_info(&net->pinfo[ti], net->names[ti], bn_seq[l], "bias", &off, 1, K, 0, 0, 0);
        ti++;
    }
    set_info(&net->pinfo[ti], net->names[ti], fc_seq[0], "weight", &off, 2, shape->hidden,
             K * flat_h * flat_w, 0, 0);
    ti++;
    set_info(&net->pinfo[ti], net->names[ti], fc_seq[0], "bias", &off, 1, shape->hidden, 0, 0, 0);
    ti++;
    set_info(&net->pinfo[ti], net->names[ti], fc_seq[1], "weight", &off, 2, shape->classes,
             shape->hidden, 0, 0);
    ti++;
    set_info(&net->pinfo[ti], net->names[ti], fc_seq[1], "bias", &off, 1, shape->classes, 0, 0, 0);
    ti++;
    net->nparams = off;
    off = 0;
    for (int l = 0; l < 4; l++) {
        set_info(&net->binfo[2 * l], net->names[NPARAM_T + 2 * l], bn_seq[l], "running_mean", &off, 1,
                 K, 0, 0, 0);
        set_info(&net->binfo[2 * l + 1], net->names[NPARAM_T + 2 * l + 1], bn_seq[l], "running_var",
                 &off, 1, K, 0, 0, 0);
    }
    net->nbufs = off;
    net->params = aligned_calloc(net->nparams * sizeof(float));
    net->grads = aligned_calloc(net->nparams * sizeof(float));
    net->buffers = aligned_calloc(net->nbufs * sizeof(float));
    net->batch_stats = aligned_calloc(NBN * 2 * K * sizeof(float));
    if (!net->params || !net->grads || !net->buffers || !net->batch_stats) {
        hs_net_free(net);
        return hs_fail(HS_ERR_NOMEM, "out of memory creating the network (%zu parameters)",
                       (size_t)off);
    }
    for (int l = 0; l < 4; l++) {
        const hs_tensor_info *v = &net->binfo[2 * l + 1];
        for (size_t i = 0; i < v->count; i++)
            net->buffers[v->offset + i] = 1.0f;
    }
    HS_DNNL(dnnl_engine_create(&net->eng, dnnl_cpu, 0));
    HS_DNNL(dnnl_stream_create(&net->stream, net->eng, dnnl_stream_default_flags));
    *out = net;
    return HS_OK;
fail:
    hs_net_free(net);
    return st;
}

static void drop_plans(hs_net *net)
{
    for (int i = 0; i < MAX_PLANS; i++)
        if (net->plans[i].used) {
            hs_dg_destroy(&net->plans[i].g);
            net->plans[i].used = 0;
        }
    net->last_train = NULL;
}

void hs_net_free(hs_net *net)
{
    if (!net)
        return;
    drop_plans(net);
    for (int i = 0; i < NSLOTS; i++)
        free(net->slot_ptr[i]);
    if (net->stream)
        dnnl_stream_destroy(net->stream);
    if (net->eng)
        dnnl_engine_destroy(net->eng);
    free(net->params);
    free(net->grads);
    free(net->buffers);
    free(net->batch_stats);
    free(net);
}

size_t hs_net_param_count(const hs_net *net) { return net ? net->nparams : 0; }
size_t hs_net_param_tensors(const hs_net *net) { return net ? NPARAM_T : 0; }
float *hs_net_params(hs_net *net) { return net ? net->params : NULL; }
float *hs_net_grads(hs_net *net) { return net ? net->grads : NULL; }
size_t hs_net_buffer_count(const hs_net *net) { return net ? net->nbufs : 0; }
size_t hs_net_buffer_tensors(const hs_net *net) { return net ? NBUF_T : 0; }
float *hs_net_buffers(hs_net *net) { return net ? net->buffers : NULL; }

const hs_tensor_info *hs_net_param_info(const hs_net *net, size_t i)
{
    return net && i < NPARAM_T ? &net->pinfo[i] : NULL;
}

const hs_tensor_info *hs_net_buffer_info(const hs_net *net, size_t i)
{
    return net && i < NBUF_T ? &net->binfo[i] : NULL;
}

/* ------------------------------------------------------------------------- */
/* Initialization                                                            */
/* ------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fill_uniform(float *p, size_t n, double bound, uint64_t *s)
{
    for (size_t i = 0; i < n; i++) {
        double u = (double)(splitmix64(s) >> 11) * 0x1.0p-53;
        p[i] = (float)((2.0 * u - 1.0) * bound);
    }
}

hs_status hs_net_init(hs_net *net, uint64_t seed)
{
    if (!net)
        return hs_fail(HS_ERR_NULL, "hs_net_init: NULL network");
    uint64_t s = seed ^ 0x6E6E2D696E6974ull; /* "nn-init" */
    for (int t = 0; t < NPARAM_T; t++) {
        const hs_tensor_info *ti = &net->pinfo[t];
        float *p = net->params + ti->offset;
        int is_bn = t < 16 && (t % 4 == 2 || t % 4 == 3);
        if (is_bn) {
            float v = t % 4 == 2 ? 1.0f : 0.0f;
            for (size_t i = 0; i < ti->count; i++)
                p[i] = v;
            continue;
        }
        /* fan_in of the layer: from its weight tensor (the bias follows its weight). */
        const hs_tensor_info *w = ti->ndims == 1 ? &net->pinfo[t - 1] : ti;
        size_t fan_in = w->count / w->dims[0];
        /* kaiming_uniform_(a = sqrt(5)) gives bound 1/sqrt(fan_in), as does the bias init. */
        fill_uniform(p, ti->count, 1.0 / sqrt((double)fan_in), &s);
    }
    for (int l = 0; l < 4; l++) {
        const hs_tensor_info *m = &net->binfo[2 * l], *v = &net->binfo[2 * l + 1];
        for (size_t i = 0; i < m->count; i++) {
            net->buffers[m->offset + i] = 0.0f;
            net->buffers[v->offset + i] = 1.0f;
        }
    }
    memset(net->grads, 0, net->nparams * sizeof(float));
    return HS_OK;
}

/* ------------------------------------------------------------------------- */
/* Graphs                                                                    */
/* ------------------------------------------------------------------------- */

/* Slot plan (training). Forward:
 *   X -conv1-> A1 -bn1+relu-> A2 -conv2-> A3 -bn2+relu-> T -pool-> Q1
 *   -conv3-> Q2 -bn3+relu-> Q3 -conv4-> Q4 -bn4+relu-> T -pool-> R1 -plain-> F -fc1-> H (relu)
 *   -fc2-> L
 * Backward (reverse), each gradient overwriting an activation that is no longer needed:
 *   DL -> DH -> DF -> R2 -> T -> T -> Q4 -> Q4 -> Q2 -> T -> T -> A3 -> A3 -> (conv1 weights). */
static hs_status build_graph(hs_net *net, hs_dg *g, size_t B, int train)
{
    const hs_net_shape *s = &net->shape;
    size_t K = s->conv_width;
    float *P = net->params, *G = net->grads;
    const hs_tensor_info *pi = net->pinfo;
    hs_status st = hs_dg_init(g, net->eng, net->stream, train, B, NSLOTS);
    if (st)
        return st;
    g->bn_sum = net->bn_sum;
    g->bn_sum_user = net->bn_sum_user;
    hs_dg_tensor x, c1, b1, c2, t2, p2, c3, b3, c4, t4, p4, f, h, lg;
    dnnl_memory_desc_t f_md;
    x.slot = SLOT_X;
    if ((st = hs_dg_md_nchw(&x.md, B, s->channels, s->height, s->width)))
        return st;
    /* mean/var per BN: batch statistics in training, running statistics in inference */
    float *mv[NBN];
    for (int l = 0; l < NBN; l++)
        mv[l] = train ? net->batch_stats + (size_t)l * 2 * K : net->buffers + net->binfo[2 * l].offset;
#define PW(t) (P + pi[t].offset)
#define GW(t) (G + pi[t].offset)
    const double eps = 1e-5;
    /* BN -> maxpool -> ReLU equals BN -> ReLU -> maxpool (max commutes with the monotone ReLU,
     * and both route the gradient to the same element), so every ReLU after a batch norm runs
     * fused into it (oneDNN's norm+relu). */
    if ((st = hs_dg_conv3x3(g, &c1, &x, K, PW(0), PW(1), GW(0), GW(1), SLOT_A1, SLOT_A3, -1)) ||
        (st = hs_dg_batchnorm(g, &b1, &c1, PW(2), PW(3), GW(2), GW(3), mv[0], eps, 1, SLOT_A2, SLOT_A3,
                              SLOT_A3)) ||
        (st = hs_dg_conv3x3(g, &c2, &b1, K, PW(4), PW(5), GW(4), GW(5), SLOT_A3, SLOT_T, SLOT_A3)) ||
        (st = hs_dg_batchnorm(g, &t2, &c2, PW(6), PW(7), GW(6), GW(7), mv[1], eps, 1, SLOT_T, SLOT_T,
                              SLOT_T)) ||
        (st = hs_dg_maxpool2(g, &p2, &t2, SLOT_Q1, SLOT_Q2, SLOT_T)) ||
        (st = hs_dg_conv3x3(g, &c3, &p2, K, PW(8), PW(9), GW(8), GW(9), SLOT_Q2, SLOT_Q4, SLOT_Q2)) ||
        (st = hs_dg_batchnorm(g, &b3, &c3, PW(10), PW(11), GW(10), GW(11), mv[2], eps, 1, SLOT_Q3,
                              SLOT_Q4, SLOT_Q4)) ||
        (st = hs_dg_conv3x3(g, &c4, &b3, K, PW(12), PW(13), GW(12), GW(13), SLOT_Q4, SLOT_T, SLOT_Q4)) ||
        (st = hs_dg_batchnorm(g, &t4, &c4, PW(14), PW(15), GW(14), GW(15), mv[3], eps, 1, SLOT_T, SLOT_T,
                              SLOT_T)) ||
        (st = hs_dg_maxpool2(g, &p4, &t4, SLOT_R1, SLOT_R2, SLOT_T)) ||
        /* the flatten in plain NCHW order: fc1 then runs on plain weights (no reorders of its
         * large weight matrix and gradient every step) */
        (st = hs_dg_md_nchw(&f_md, B, K, s->height / 4, s->width / 4)) ||
        (st = hs_dg_reorder(g, &f, &p4, &f_md, SLOT_F, SLOT_DF, SLOT_R2)) ||
        (st = hs_dg_linear(g, &h, &f, s->hidden, PW(16), PW(17), GW(16), GW(17), SLOT_H, SLOT_DH,
                           SLOT_DF)) ||
        (st = hs_dg_relu(g, &h, SLOT_DH)) ||
        (st = hs_dg_linear(g, &lg, &h, s->classes, PW(18), PW(19), GW(18), GW(19), SLOT_L, SLOT_DL,
                           SLOT_DH)))
        return st;
#undef PW
#undef GW
    if (train) {
        /* dlogits enter through SLOT_DL in plain (B x classes) layout, like the logits */
        dnnl_memory_desc_t nc;
        if ((st = hs_dg_md_nc(&nc, B, s->classes)))
            return st;
        if (!dnnl_memory_desc_equal(&nc, &lg.md))
            return hs_fail(HS_ERR_BACKEND, "unexpected logits format");
    }
    return HS_OK;
}

/* Makes sure every slot holds what graph g needs (growing the arena invalidates bindings). */
static hs_status ensure_arena(hs_net *net, const hs_dg *g)
{
    for (int i = 0; i < NSLOTS; i++) {
        if (g->slot_bytes[i] <= net->slot_cap[i])
            continue;
        free(net->slot_ptr[i]);
        net->slot_ptr[i] = aligned_calloc(g->slot_bytes[i]);
        if (!net->slot_ptr[i]) {
            net->slot_cap[i] = 0;
            net->arena_version++;
            return hs_fail(HS_ERR_NOMEM, "out of memory for activations (%zu bytes)", g->slot_bytes[i]);
        }
        net->slot_cap[i] = g->slot_bytes[i];
        net->arena_version++;
    }
    if (net->arena_version == 0)
        net->arena_version = 1;
    return HS_OK;
}

static hs_status get_plan(hs_net *net, plan **out, size_t B, int train)
{
    for (int i = 0; i < MAX_PLANS; i++)
        if (net->plans[i].used && net->plans[i].batch == B && net->plans[i].train == train) {
            *out = &net->plans[i];
            return HS_OK;
        }
    int k = -1;
    for (int i = 0; i < MAX_PLANS && k < 0; i++)
        if (!net->plans[i].used)
            k = i;
    if (k < 0) {
        drop_plans(net);
        k = 0;
    }
    plan *p = &net->plans[k];
    hs_status st = build_graph(net, &p->g, B, train);
    if (st) {
        hs_dg_destroy(&p->g);
        return st;
    }
    p->batch = B;
    p->train = train;
    p->used = 1;
    net->nref += p->g.nref;
    *out = p;
    return HS_OK;
}

hs_status hs_net_forward(hs_net *net, float *logits, const float *x, size_t B, int train)
{
    if (!net || !logits || !x)
        return hs_fail(HS_ERR_NULL, "hs_net_forward: NULL argument");
    if (B == 0 || B > ((size_t)1 << 24))
        return hs_fail(HS_ERR_SIZE, "hs_net_forward: batch size %zu out of range", B);
    const hs_net_shape *s = &net->shape;
    plan *p;
    hs_status st = get_plan(net, &p, B, train);
    if (st)
        return st;
    net->last_train = NULL;
    if ((st = ensure_arena(net, &p->g)) || (st = hs_dg_bind(&p->g, net->slot_ptr, net->arena_version)))
        return st;
    size_t in_count = B * s->channels * s->height * s->width;
    memcpy(net->slot_ptr[SLOT_X], x, in_count * sizeof(float));
    if ((st = hs_dg_forward(&p->g)))
        return st;
    memcpy(logits, net->slot_ptr[SLOT_L], B * s->classes * sizeof(float));
    if (train) {
        /* PyTorch: running = (1 - m) running + m batch, variance unbiased (n / (n - 1)). */
        const float m = 0.1f;
        size_t K = s->conv_width;
        for (int l = 0; l < NBN; l++) {
            const float *bm = net->batch_stats + (size_t)l * 2 * K, *bv = bm + K;
            float *rm = net->buffers + net->binfo[2 * l].offset;
            float *rv = net->buffers + net->binfo[2 * l + 1].offset;
            double n = p->g.bn_count[l]; /* B H W, or over all replicas when synchronized */
            float unbias = n > 1 ? (float)(n / (n - 1)) : 1.0f;
            for (size_t c = 0; c < K; c++) {
                rm[c] = m * bm[c] + (1 - m) * rm[c];
                rv[c] = m * bv[c] * unbias + (1 - m) * rv[c];
            }
        }
        net->last_train = p;
    }
    return HS_OK;
}

hs_status hs_net_backward(hs_net *net, const float *dlogits)
{
    if (!net || !dlogits)
        return hs_fail(HS_ERR_NULL, "hs_net_backward: NULL argument");
    plan *p = net->last_train;
    if (!p)
        return hs_fail(HS_ERR_ARG, "hs_net_backward: no training forward to differentiate");
    hs_status st = hs_dg_bind(&p->g, net->slot_ptr, net->arena_version);
    if (st)
        return st;
    memcpy(net->slot_ptr[SLOT_DL], dlogits, p->batch * net->shape.classes * sizeof(float));
    return hs_dg_backward(&p->g);
}

hs_status hs_net_set_bn_sync(hs_net *net, hs_net_sum_fn sum, void *user)
{
    if (!net)
        return hs_fail(HS_ERR_NULL, "hs_net_set_bn_sync: NULL network");
    if (net->bn_sum != sum || net->bn_sum_user != user)
        drop_plans(net); /* the training graphs change */
    net->bn_sum = sum;
    net->bn_sum_user = sum ? user : NULL;
    return HS_OK;
}

size_t hs_net_reference_kernels(const hs_net *net)
{
    return net ? net->nref : 0;
}

void hs_nn_set_threads(int n)
{
#ifdef HS_HAVE_OPENMP
    if (n > 0)
        omp_set_num_threads(n);
#else
    (void)n;
#endif
}

/* ------------------------------------------------------------------------- */
/* Adam                                                                      */
/* ------------------------------------------------------------------------- */

hs_adam hs_adam_default(void)
{
    hs_adam a = {1e-4, 0.9, 0.999, 1e-8};
    return a;
}

hs_status hs_adam_step(float *p, float *m, float *v, const float *g, size_t n, const hs_adam *o,
                       uint64_t t)
{
    if (!p || !m || !v || !g || !o)
        return hs_fail(HS_ERR_NULL, "hs_adam_step: NULL argument");
    if (t == 0)
        return hs_fail(HS_ERR_ARG, "hs_adam_step: step t must be >= 1");
    if (!(o->lr >= 0) || !(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1) ||
        !(o->eps >= 0) || !isfinite(o->lr) || !isfinite(o->eps))
        return hs_fail(HS_ERR_ARG, "hs_adam_step: lr %g, betas (%g, %g), eps %g out of range", o->lr,
                       o->beta1, o->beta2, o->eps);
    /* PyTorch's single-tensor Adam: scalar factors in double, tensor math in float. */
    double bc1 = 1.0 - pow(o->beta1, (double)t);
    double bc2 = 1.0 - pow(o->beta2, (double)t);
    const float b1 = (float)o->beta1, a1 = (float)(1.0 - o->beta1);
    const float b2 = (float)o->beta2, a2 = (float)(1.0 - o->beta2);
    const float bc2s = (float)sqrt(bc2), eps = (float)o->eps;
    const float neg_step = (float)(-(o->lr / bc1));
    const ptrdiff_t nn = (ptrdiff_t)n;
#ifdef HS_HAVE_OPENMP
#pragma omp parallel for schedule(static) if (n > 65536)
#endif
    for (ptrdiff_t i = 0; i < nn; i++) {
        float mi = m[i] * b1 + a1 * g[i];
        float vi = v[i] * b2 + a2 * (g[i] * g[i]);
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2s + eps;
        p[i] = p[i] + neg_step * (mi / denom);
    }
    return HS_OK;
}
