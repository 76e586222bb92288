#include "nn/dgraph.h"

#include <dnnl_debug.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "nn/batchnorm.h"
#include "util/error.h"

hs_status hs_dnnl_fail(const char *file, int line, const char *call, dnnl_status_t s)
{
    return hs_fail(HS_ERR_BACKEND, "%s:%d: oneDNN call %s failed: %s", file, line, call,
                   dnnl_status2str(s));
}

/* ------------------------------------------------------------------------- */
/* Bookkeeping                                                               */
/* ------------------------------------------------------------------------- */

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? 2 * *cap : 16;
    while (c < need)
        c *= 2;
    void *p = realloc(*arr, c * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

#define GROW(arr, n, cap)                                                            \
    (grow((void **)&(arr), &(cap), (n) + 1, sizeof *(arr))                           \
         ? hs_fail(HS_ERR_NOMEM, "out of memory building the oneDNN graph")          \
         : HS_OK)

hs_status hs_dg_init(hs_dg *g, dnnl_engine_t eng, dnnl_stream_t stream, int train, size_t batch,
                     size_t nslots)
{
    memset(g, 0, sizeof *g);
    g->eng = eng;
    g->stream = stream;
    g->train = train;
    g->batch = batch;
    g->nslots = nslots;
    g->slot_bytes = calloc(nslots ? nslots : 1, sizeof *g->slot_bytes);
    if (!g->slot_bytes)
        return hs_fail(HS_ERR_NOMEM, "out of memory building the oneDNN graph");
    return HS_OK;
}

void hs_dg_destroy(hs_dg *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->nprims; i++)
        dnnl_primitive_destroy(g->prims[i]);
    for (size_t i = 0; i < g->nmems; i++)
        dnnl_memory_destroy(g->mems[i]);
    for (size_t i = 0; i < g->nctxs; i++)
        free(g->ctxs[i]);
    free(g->ctxs);
    if (g->wino_ws) {
        hs_wino_ws_free(g->wino_ws);
        free(g->wino_ws);
    }
    free(g->pre);
    free(g->fwd);
    free(g->bwd);
    free(g->bwd_group);
    free(g->post);
    for (size_t i = 0; i < g->npre_copy; i++)
        free(g->pre_copy[i].map);
    for (size_t i = 0; i < g->npost_copy; i++)
        free(g->post_copy[i].map);
    free(g->pre_copy);
    free(g->post_copy);
    free(g->prims);
    free(g->mems);
    free(g->slotmems);
    free(g->slot_bytes);
    free(g->bn_count);
    memset(g, 0, sizeof *g);
}

static hs_status reg_mem(hs_dg *g, dnnl_memory_t m)
{
    hs_status st = GROW(g->mems, g->nmems, g->capmems);
    if (st) {
        dnnl_memory_destroy(m);
        return st;
    }
    g->mems[g->nmems++] = m;
    return HS_OK;
}

/* Memory in a slot (bound later by hs_dg_bind). */
static hs_status slot_mem(hs_dg *g, dnnl_memory_t *out, const dnnl_memory_desc_t *md, int slot)
{
    dnnl_memory_t m = NULL;
    if (slot < 0 || (size_t)slot >= g->nslots)
        return hs_fail(HS_ERR_ARG, "oneDNN graph: slot %d out of range", slot);
    hs_status st = hs_dg_external(g, &m, md, DNNL_MEMORY_NONE);
    if (st)
        return st;
    st = GROW(g->slotmems, g->nslotmems, g->capslotmems);
    if (st)
        return st;
    g->slotmems[g->nslotmems].mem = m;
    g->slotmems[g->nslotmems].slot = slot;
    g->nslotmems++;
    size_t bytes = dnnl_memory_desc_get_size(md);
    if (bytes > g->slot_bytes[slot])
        g->slot_bytes[slot] = bytes;
    g->bound_version = 0;
    *out = m;
    return HS_OK;
}

/* Memory owned by oneDNN (workspaces, reordered weights). */
static hs_status own_mem(hs_dg *g, dnnl_memory_t *out, const dnnl_memory_desc_t *md)
{
    return hs_dg_external(g, out, md, DNNL_MEMORY_ALLOCATE);
}

hs_status hs_dg_external(hs_dg *g, dnnl_memory_t *out, const dnnl_memory_desc_t *md, void *ptr)
{
    hs_status st = HS_OK;
    dnnl_memory_t m = NULL;
    HS_DNNL(dnnl_memory_create(&m, md, g->eng, ptr));
    st = reg_mem(g, m);
    if (st)
        return st;
    *out = m;
    return HS_OK;
fail:
    return st;
}

static int is_reference_impl(const_dnnl_primitive_desc_t pd);

static hs_status make_prim(hs_dg *g, dnnl_primitive_t *out, const_dnnl_primitive_desc_t pd)
{
    hs_status st = HS_OK;
    dnnl_primitive_t p = NULL;
    HS_DNNL(dnnl_primitive_create(&p, pd));
    st = GROW(g->prims, g->nprims, g->capprims);
    if (st) {
        dnnl_primitive_destroy(p);
        return st;
    }
    g->prims[g->nprims++] = p;
    g->nref += is_reference_impl(pd) != 0;
    *out = p;
    return HS_OK;
fail:
    return st;
}

typedef enum { LIST_PRE, LIST_FWD, LIST_BWD, LIST_POST } op_list;

/* Appends an op; args given as (arg, memory) pairs. */
static hs_status push_op(hs_dg *g, op_list which, dnnl_primitive_t p, int nargs,
                         const dnnl_exec_arg_t *args)
{
    hs_dg_op **arr;
    size_t *n, *cap;
    switch (which) {
    case LIST_PRE: arr = &g->pre; n = &g->npre; cap = &g->cappre; break;
    case LIST_FWD: arr = &g->fwd; n = &g->nfwd; cap = &g->capfwd; break;
    case LIST_BWD: arr = &g->bwd; n = &g->nbwd; cap = &g->capbwd; break;
    default: arr = &g->post; n = &g->npost; cap = &g->cappost; break;
    }
    if (nargs > HS_DG_MAX_ARGS)
        return hs_fail(HS_ERR_ARG, "oneDNN graph: too many arguments");
    if (grow((void **)arr, cap, *n + 1, sizeof **arr))
        return hs_fail(HS_ERR_NOMEM, "out of memory building the oneDNN graph");
    hs_dg_op *op = &(*arr)[*n];
    memset(op, 0, sizeof *op);
    op->prim = p;
    op->nargs = nargs;
    if (nargs)
        memcpy(op->args, args, (size_t)nargs * sizeof *args);
    (*n)++;
    return HS_OK;
}

/* Appends a C-function op (ctx owned by the graph, see add_ctx). */
static hs_status push_fn(hs_dg *g, op_list which, hs_status (*fn)(void *), void *ctx)
{
    hs_status st = push_op(g, which, NULL, 0, NULL);
    if (st)
        return st;
    hs_dg_op *op = which == LIST_FWD ? &g->fwd[g->nfwd - 1] : &g->bwd[g->nbwd - 1];
    op->fn = fn;
    op->ctx = ctx;
    return HS_OK;
}

/* Hands a context allocation to the graph (freed by hs_dg_destroy; on failure here). */
static hs_status add_ctx(hs_dg *g, void *ctx)
{
    hs_status st = GROW(g->ctxs, g->nctxs, g->capctxs);
    if (st) {
        free(ctx);
        return st;
    }
    g->ctxs[g->nctxs++] = ctx;
    return HS_OK;
}

static hs_status begin_bwd_group(hs_dg *g)
{
    hs_status st = GROW(g->bwd_group, g->ngroups, g->capgroups);
    if (st)
        return st;
    g->bwd_group[g->ngroups++] = g->nbwd;
    return HS_OK;
}

/* Adds a reorder src -> dst to a list. */
static hs_status add_reorder(hs_dg *g, op_list which, dnnl_memory_t src,
                             const dnnl_memory_desc_t *src_md, dnnl_memory_t dst,
                             const dnnl_memory_desc_t *dst_md)
{
    hs_status st = HS_OK;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t p = NULL;
    HS_DNNL(dnnl_reorder_primitive_desc_create(&pd, src_md, g->eng, dst_md, g->eng, NULL));
    st = make_prim(g, &p, pd);
    if (st)
        goto fail;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    st = push_op(g, which, p, 2, args);
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return st;
}

/* Offset (in elements) of the element at logical position pos in a blocked memory descriptor
 * (oneDNN's blocking: inner blocks innermost, then the outer strides). */
static size_t blocked_offset(const dnnl_memory_desc_t *md, const dnnl_dim_t *pos_in)
{
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    dnnl_dim_t pos[DNNL_MAX_NDIMS];
    for (int d = 0; d < md->ndims; d++)
        pos[d] = pos_in[d] + md->padded_offsets[d];
    dnnl_dim_t off = md->offset0, blk_stride = 1;
    for (int k = b->inner_nblks - 1; k >= 0; k--) {
        int d = (int)b->inner_idxs[k];
        off += (pos[d] % b->inner_blks[k]) * blk_stride;
        pos[d] /= b->inner_blks[k];
        blk_stride *= b->inner_blks[k];
    }
    for (int d = 0; d < md->ndims; d++)
        off += pos[d] * b->strides[d];
    return (size_t)off;
}

/* Host copy between the plain tensor at `plain` (dims of md, row-major) and the oneDNN-owned
 * blocked memory m (descriptor md); the padding of m is zeroed once here. */
static hs_status add_copy(hs_dg *g, int to_blocked, float *plain, dnnl_memory_t m,
                          const dnnl_memory_desc_t *md)
{
    hs_status st = HS_OK;
    void *h = NULL;
    HS_DNNL(dnnl_memory_get_data_handle(m, &h));
    memset(h, 0, dnnl_memory_desc_get_size(md));
    size_t n = 1;
    for (int d = 0; d < md->ndims; d++)
        n *= (size_t)md->dims[d];
    size_t *map = malloc((n ? n : 1) * sizeof *map);
    if (!map)
        return hs_fail(HS_ERR_NOMEM, "out of memory building the oneDNN graph");
    dnnl_dim_t pos[DNNL_MAX_NDIMS] = {0};
    for (size_t i = 0; i < n; i++) {
        map[i] = blocked_offset(md, pos);
        for (int d = md->ndims - 1; d >= 0; d--) { /* row-major increment */
            if (++pos[d] < md->dims[d])
                break;
            pos[d] = 0;
        }
    }
    hs_dg_copy c = {plain, h, map, n};
    if (to_blocked) {
        if ((st = GROW(g->pre_copy, g->npre_copy, g->cappre_copy))) {
            free(map);
            return st;
        }
        g->pre_copy[g->npre_copy++] = c;
    } else {
        if ((st = GROW(g->post_copy, g->npost_copy, g->cappost_copy))) {
            free(map);
            return st;
        }
        g->post_copy[g->npost_copy++] = c;
    }
    return HS_OK;
fail:
    return st;
}

/* Plain blocked descriptors (dnnl_blocked, f32) can be copied by add_copy. */
static int host_copyable(const dnnl_memory_desc_t *md)
{
    return md->format_kind == dnnl_blocked && md->data_type == dnnl_f32 && md->extra.flags == 0;
}

/* Weights (or their gradient) held by the caller in plain layout `plain_md` at ptr, used by a
 * primitive in layout `md`: the caller's memory itself when the layouts agree, else a
 * oneDNN-owned copy, refreshed from ptr before each forward (into_primitive = 1, weights) or
 * copied back to ptr after each backward (into_primitive = 0, gradients). */
static hs_status weights_bind(hs_dg *g, dnnl_memory_t *out, const dnnl_memory_desc_t *plain_md,
                              float *ptr, const dnnl_memory_desc_t *md, int into_primitive)
{
    dnnl_memory_t plain = NULL, m = NULL;
    hs_status st = hs_dg_external(g, &plain, plain_md, ptr);
    if (st)
        return st;
    if (dnnl_memory_desc_equal(plain_md, md)) {
        *out = plain;
        return HS_OK;
    }
    st = own_mem(g, &m, md);
    if (st)
        return st;
    if (host_copyable(md))
        st = add_copy(g, into_primitive, ptr, m, md);
    else if (into_primitive)
        st = add_reorder(g, LIST_PRE, plain, plain_md, m, md);
    else
        st = add_reorder(g, LIST_POST, m, md, plain, plain_md);
    if (st)
        return st;
    *out = m;
    return HS_OK;
}

static hs_status weights_in(hs_dg *g, dnnl_memory_t *out, const dnnl_memory_desc_t *plain_md,
                            float *ptr, const dnnl_memory_desc_t *want)
{
    return weights_bind(g, out, plain_md, ptr, want, 1);
}

static hs_status weights_out(hs_dg *g, dnnl_memory_t *out, const dnnl_memory_desc_t *plain_md,
                             float *ptr, const dnnl_memory_desc_t *have)
{
    return weights_bind(g, out, plain_md, ptr, have, 0);
}

/* ------------------------------------------------------------------------- */
/* Descriptors, binding, execution                                           */
/* ------------------------------------------------------------------------- */

static hs_status md_tag(dnnl_memory_desc_t *md, int ndims, const dnnl_dim_t *dims,
                        dnnl_format_tag_t tag)
{
    hs_status st = HS_OK;
    dnnl_dims_t d = {0};
    for (int i = 0; i < ndims; i++)
        d[i] = dims[i];
    HS_DNNL(dnnl_memory_desc_init_by_tag(md, ndims, d, dnnl_f32, tag));
    return HS_OK;
fail:
    return st;
}

hs_status hs_dg_md_nchw(dnnl_memory_desc_t *md, size_t n, size_t c, size_t h, size_t w)
{
    dnnl_dim_t d[4] = {(dnnl_dim_t)n, (dnnl_dim_t)c, (dnnl_dim_t)h, (dnnl_dim_t)w};
    return md_tag(md, 4, d, dnnl_nchw);
}

hs_status hs_dg_md_nc(dnnl_memory_desc_t *md, size_t n, size_t c)
{
    dnnl_dim_t d[2] = {(dnnl_dim_t)n, (dnnl_dim_t)c};
    return md_tag(md, 2, d, dnnl_nc);
}

static hs_status md_x(dnnl_memory_desc_t *md, size_t n)
{
    dnnl_dim_t d[1] = {(dnnl_dim_t)n};
    return md_tag(md, 1, d, dnnl_x);
}

hs_status hs_dg_bind(hs_dg *g, void *const *slot_ptr, unsigned long version)
{
    hs_status st = HS_OK;
    if (g->bound_version == version && version != 0)
        return HS_OK;
    for (size_t i = 0; i < g->nslotmems; i++)
        HS_DNNL(dnnl_memory_set_data_handle(g->slotmems[i].mem, slot_ptr[g->slotmems[i].slot]));
    g->bound_version = version;
    return HS_OK;
fail:
    return st;
}

static hs_status run_ops(hs_dg *g, const hs_dg_op *ops, size_t n)
{
    hs_status st = HS_OK;
    for (size_t i = 0; i < n; i++) {
        if (!ops[i].prim) {
            if ((st = ops[i].fn(ops[i].ctx)))
                return st;
            continue;
        }
        HS_DNNL(dnnl_primitive_execute(ops[i].prim, g->stream, ops[i].nargs, ops[i].args));
    }
    return HS_OK;
fail:
    return st;
}

static void run_copies(const hs_dg_copy *c, size_t n, int to_blocked)
{
    for (size_t k = 0; k < n; k++) {
        const size_t *map = c[k].map;
        float *pl = c[k].plain, *bl = c[k].blocked;
        if (to_blocked)
            for (size_t i = 0; i < c[k].n; i++)
                bl[map[i]] = pl[i];
        else
            for (size_t i = 0; i < c[k].n; i++)
                pl[i] = bl[map[i]];
    }
}

hs_status hs_dg_forward(hs_dg *g)
{
    run_copies(g->pre_copy, g->npre_copy, 1);
    hs_status st = run_ops(g, g->pre, g->npre);
    if (!st)
        st = run_ops(g, g->fwd, g->nfwd);
    if (!st) {
        HS_DNNL(dnnl_stream_wait(g->stream));
    }
    return st;
fail:
    return st;
}

hs_status hs_dg_backward(hs_dg *g)
{
    hs_status st = HS_OK;
    if (!g->train)
        return hs_fail(HS_ERR_ARG, "backward on an inference graph");
    for (size_t k = g->ngroups; k-- > 0;) {
        size_t end = k + 1 < g->ngroups ? g->bwd_group[k + 1] : g->nbwd;
        st = run_ops(g, g->bwd + g->bwd_group[k], end - g->bwd_group[k]);
        if (st)
            return st;
    }
    st = run_ops(g, g->post, g->npost);
    if (st)
        return st;
    HS_DNNL(dnnl_stream_wait(g->stream));
    run_copies(g->post_copy, g->npost_copy, 0);
    return HS_OK;
fail:
    return st;
}

/* ------------------------------------------------------------------------- */
/* Layers                                                                    */
/* ------------------------------------------------------------------------- */

/* Whether oneDNN fell back to its slow reference implementation. */
static int is_reference_impl(const_dnnl_primitive_desc_t pd)
{
    const char *info = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info) != dnnl_success || !info)
        return 0;
    return strncmp(info, "ref", 3) == 0;
}

static dnnl_dim_t md_dim(const dnnl_memory_desc_t *md, int i)
{
    return md->dims[i];
}

/* Winograd convolution ops: the context holds the slots' memory objects (pointers fetched
 * when the op runs, since slots are re-bound), the caller's parameter arrays and one buffer
 * for transformed weights (the forward's, or during backward the data gradient's). */
typedef struct wino_conv {
    hs_wino_ws *ws;
    dnnl_memory_t x, y, dy, dx;
    const float *w, *b;
    float *dw, *db;
    size_t N, cin, cout, H, W;
    float *U;
} wino_conv;

static hs_status mem_ptr(dnnl_memory_t m, void **p)
{
    hs_status st = HS_OK;
    HS_DNNL(dnnl_memory_get_data_handle(m, p));
    return HS_OK;
fail:
    return st;
}

static hs_status wino_fwd_op(void *p)
{
    wino_conv *c = p;
    void *x = NULL, *y = NULL;
    hs_status st;
    if ((st = mem_ptr(c->x, &x)) || (st = mem_ptr(c->y, &y)))
        return st;
    hs_wino_weights_fwd(c->U, c->w, c->cin, c->cout);
    return hs_wino_forward(y, x, c->U, c->b, c->N, c->cin, c->cout, c->H, c->W, c->ws);
}

static hs_status wino_bwd_weights_op(void *p)
{
    wino_conv *c = p;
    void *x = NULL, *dy = NULL;
    hs_status st;
    if ((st = mem_ptr(c->x, &x)) || (st = mem_ptr(c->dy, &dy)))
        return st;
    return hs_wino_backward_weights(c->dw, c->db, x, dy, c->N, c->cin, c->cout, c->H, c->W, c->ws);
}

static hs_status wino_bwd_data_op(void *p)
{
    wino_conv *c = p;
    void *dy = NULL, *dx = NULL;
    hs_status st;
    if ((st = mem_ptr(c->dy, &dy)) || (st = mem_ptr(c->dx, &dx)))
        return st;
    hs_wino_weights_bwd_data(c->U, c->w, c->cin, c->cout);
    return hs_wino_backward_data(dx, dy, c->U, c->N, c->cin, c->cout, c->H, c->W, c->ws);
}

/* The graph's scratch for its C convolution ops (allocated with the first). */
static hs_status need_wino_ws(hs_dg *g)
{
    if (!g->wino_ws && !(g->wino_ws = calloc(1, sizeof *g->wino_ws)))
        return hs_fail(HS_ERR_NOMEM, "out of memory building the oneDNN graph");
    return HS_OK;
}

/* HS_CONV=direct keeps every convolution on oneDNN (for comparison and diagnosis). */
static int wino_enabled(void)
{
    const char *env = getenv("HS_CONV");
    return !(env && strcmp(env, "direct") == 0);
}

/* Whether hs_dg_conv3x3 takes the Winograd path (see dgraph.h). */
static int wino_applies(const hs_dg_tensor *x, size_t cout, int y_slot, int dy_slot, int dx_slot,
                        int train)
{
    if (!wino_enabled())
        return 0;
    const dnnl_memory_desc_t *md = &x->md;
    if (md->ndims != 4 || md->data_type != dnnl_f32 || md->dims[1] % 8 || cout % 8 || cout == 0)
        return 0;
    dnnl_memory_desc_t blk;
    if (dnnl_memory_desc_init_by_tag(&blk, 4, md->dims, dnnl_f32, dnnl_aBcd8b) != dnnl_success ||
        !dnnl_memory_desc_equal(&blk, md))
        return 0;
    if (y_slot == x->slot)
        return 0;
    if (train && dx_slot >= 0 && dx_slot == dy_slot)
        return 0;
    return 1;
}

static hs_status conv3x3_wino(hs_dg *g, hs_dg_tensor *y, const hs_dg_tensor *x, size_t cout,
                              float *w, float *b, float *dw, float *db, int y_slot, int dy_slot,
                              int dx_slot)
{
    hs_status st = HS_OK;
    size_t N = (size_t)x->md.dims[0], cin = (size_t)x->md.dims[1], H = (size_t)x->md.dims[2],
           W = (size_t)x->md.dims[3];
    dnnl_dims_t yd = {x->md.dims[0], (dnnl_dim_t)cout, x->md.dims[2], x->md.dims[3]};
    HS_DNNL(dnnl_memory_desc_init_by_tag(&y->md, 4, yd, dnnl_f32, dnnl_aBcd8b));
    y->slot = y_slot;
    if ((st = need_wino_ws(g)))
        return st;
    size_t head = (sizeof(wino_conv) + 63) / 64 * 64;
    size_t bytes = (head + hs_wino_u_size(cin, cout) * sizeof(float) + 63) / 64 * 64;
    wino_conv *c = aligned_alloc(64, bytes);
    if (!c)
        return hs_fail(HS_ERR_NOMEM, "out of memory building the oneDNN graph");
    memset(c, 0, sizeof *c);
    c->U = (float *)(void *)((char *)c + head);
    if ((st = add_ctx(g, c)))
        return st;
    c->ws = g->wino_ws;
    c->w = w;
    c->b = b;
    c->dw = dw;
    c->db = db;
    c->N = N;
    c->cin = cin;
    c->cout = cout;
    c->H = H;
    c->W = W;
    if ((st = slot_mem(g, &c->x, &x->md, x->slot)) || (st = slot_mem(g, &c->y, &y->md, y_slot)) ||
        (st = push_fn(g, LIST_FWD, wino_fwd_op, c)))
        return st;
    if (!g->train)
        return HS_OK;
    if ((st = begin_bwd_group(g)) || (st = slot_mem(g, &c->dy, &y->md, dy_slot)) ||
        (st = push_fn(g, LIST_BWD, wino_bwd_weights_op, c)))
        return st;
    if (dx_slot >= 0) {
        if ((st = slot_mem(g, &c->dx, &x->md, dx_slot)) ||
            (st = push_fn(g, LIST_BWD, wino_bwd_data_op, c)))
            return st;
    }
    return HS_OK;
fail:
    return st;
}

/* The weight gradient of a convolution with one input channel in plain layout (the first
 * layer) and an nChw8c output: oneDNN 2.6 has no fast kernel for it (its fallback pads the
 * input to 8 channels: ~10 ms per step at batch 128) and hs_wino_cin1_backward_weights
 * takes ~1 ms. HS_CONV=direct keeps oneDNN. */
static int cin1_applies(const hs_dg_tensor *x, const dnnl_memory_desc_t *y_md)
{
    if (!wino_enabled())
        return 0;
    dnnl_memory_desc_t plain, blk;
    if (x->md.ndims != 4 || x->md.dims[1] != 1 || y_md->ndims != 4 || y_md->dims[1] % 8 ||
        dnnl_memory_desc_init_by_tag(&plain, 4, x->md.dims, dnnl_f32, dnnl_nchw) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&blk, 4, y_md->dims, dnnl_f32, dnnl_aBcd8b) != dnnl_success)
        return 0;
    return dnnl_memory_desc_equal(&plain, &x->md) && dnnl_memory_desc_equal(&blk, y_md);
}

static hs_status cin1_bwd_weights_op(void *p)
{
    wino_conv *c = p;
    void *x = NULL, *dy = NULL;
    hs_status st;
    if ((st = mem_ptr(c->x, &x)) || (st = mem_ptr(c->dy, &dy)))
        return st;
    return hs_wino_cin1_backward_weights(c->dw, c->db, x, dy, c->N, c->cout, c->H, c->W, c->ws);
}

static hs_status conv_cin1_bwd_weights(hs_dg *g, dnnl_memory_t xm, dnnl_memory_t dym, float *dw,
                                       float *db, const hs_dg_tensor *y)
{
    hs_status st;
    if ((st = need_wino_ws(g)))
        return st;
    wino_conv *c = calloc(1, sizeof *c);
    if (!c)
        return hs_fail(HS_ERR_NOMEM, "out of memory building the oneDNN graph");
    if ((st = add_ctx(g, c)))
        return st;
    c->ws = g->wino_ws;
    c->x = xm;
    c->dy = dym;
    c->dw = dw;
    c->db = db;
    c->N = (size_t)y->md.dims[0];
    c->cin = 1;
    c->cout = (size_t)y->md.dims[1];
    c->H = (size_t)y->md.dims[2];
    c->W = (size_t)y->md.dims[3];
    return push_fn(g, LIST_BWD, cin1_bwd_weights_op, c);
}

/* The forward primitive of a direct 3x3 convolution, with the first destination format for
 * which oneDNN has a non-reference kernel: `prefer` first, then oneDNN's own choice, then
 * the plain channels-last and blocked formats. The destination's format is the next layer's
 * source format, and oneDNN's own choice can leave the next layer without a fast kernel:
 * on AVX-512 it picks nChw16c, which (a) keeps the next layer off the Winograd path (it takes
 * nChw8c) and (b) for channel counts that are not a multiple of 16 pads them, a source
 * format for which oneDNN 2.6 has only its reference kernel (a width-8 network trained at
 * ~50 images/s). */
static hs_status conv_fwd_pd(hs_dg *g, dnnl_primitive_desc_t *out, const hs_dg_tensor *x,
                             const dnnl_memory_desc_t *w_any, const dnnl_memory_desc_t *b_md,
                             const dnnl_dim_t *yd, dnnl_format_tag_t prefer)
{
    hs_status st = HS_OK;
    const dnnl_format_tag_t order[] = {prefer, dnnl_format_tag_any, dnnl_nhwc, dnnl_nChw16c, dnnl_nChw8c};
    dnnl_dims_t strides = {1, 1}, pad = {1, 1};
    dnnl_primitive_desc_t ref = NULL;
    dnnl_status_t any_status = dnnl_unimplemented;
    *out = NULL;
    for (size_t i = prefer == dnnl_format_tag_undef ? 1 : 0; i < sizeof order / sizeof order[0]; i++) {
        dnnl_memory_desc_t y_md;
        dnnl_convolution_desc_t cd;
        dnnl_primitive_desc_t pd = NULL;
        if (i > 0 && order[i] == prefer)
            continue;
        if ((st = md_tag(&y_md, 4, yd, order[i])))
            goto fail;
        HS_DNNL(dnnl_convolution_forward_desc_init(&cd, g->train ? dnnl_forward_training : dnnl_forward_inference,
                                                   dnnl_convolution_direct, &x->md, w_any, b_md, &y_md,
                                                   strides, pad, pad));
        dnnl_status_t ds = dnnl_primitive_desc_create(&pd, &cd, NULL, g->eng, NULL);
        if (ds != dnnl_success) {
            if (order[i] == dnnl_format_tag_any)
                any_status = ds; /* the error to report if no format works */
            continue;
        }
        if (!is_reference_impl(pd)) {
            if (ref)
                dnnl_primitive_desc_destroy(ref);
            *out = pd;
            return HS_OK;
        }
        if (order[i] == dnnl_format_tag_any && !ref)
            ref = pd; /* if nothing better exists: oneDNN's own choice */
        else
            dnnl_primitive_desc_destroy(pd);
    }
    if (ref) {
        *out = ref;
        return HS_OK;
    }
    return hs_dnnl_fail(__FILE__, __LINE__, "dnnl_primitive_desc_create (3x3 convolution)", any_status);
fail:
    if (ref)
        dnnl_primitive_desc_destroy(ref);
    return st;
}

/* The three steps of a layer with weights and bias (convolution, inner product), each from
 * its primitive descriptor. Forward: x from its slot (*xm), the weights from w (plain format
 * w_plain) in the format fpd wants, the bias from b, y in its slot. */
static hs_status push_weighted_fwd(hs_dg *g, const_dnnl_primitive_desc_t fpd, dnnl_memory_t *xm,
                                   const hs_dg_tensor *x, const dnnl_memory_desc_t *w_plain, float *w,
                                   const dnnl_memory_desc_t *b_md, float *b, const hs_dg_tensor *y)
{
    hs_status st;
    dnnl_memory_t wm = NULL, bm = NULL, ym = NULL;
    dnnl_primitive_t p = NULL;
    if ((st = slot_mem(g, xm, &x->md, x->slot)) ||
        (st = weights_in(g, &wm, w_plain, w, dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0))) ||
        (st = hs_dg_external(g, &bm, b_md, b)) || (st = slot_mem(g, &ym, &y->md, y->slot)) ||
        (st = make_prim(g, &p, fpd)))
        return st;
    dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, *xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, ym}};
    return push_op(g, LIST_FWD, p, 4, a);
}

/* Weights gradient: source xm (in bwpd's source format), dy, the weights' gradient into dw
 * (plain format w_plain) from the format bwpd gives, the bias' into db. */
static hs_status push_weights_grad(hs_dg *g, const_dnnl_primitive_desc_t bwpd, dnnl_memory_t xm, dnnl_memory_t dym,
                                   const dnnl_memory_desc_t *w_plain, float *dw, const dnnl_memory_desc_t *b_md,
                                   float *db)
{
    hs_status st;
    dnnl_memory_t dwm = NULL, dbm = NULL;
    dnnl_primitive_t p = NULL;
    if ((st = weights_out(g, &dwm, w_plain, dw, dnnl_primitive_desc_query_md(bwpd, dnnl_query_diff_weights_md, 0))) ||
        (st = hs_dg_external(g, &dbm, b_md, db)) || (st = make_prim(g, &p, bwpd)))
        return st;
    dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_WEIGHTS, dwm},
                            {DNNL_ARG_DIFF_BIAS, dbm}};
    return push_op(g, LIST_BWD, p, 4, a);
}

/* Data gradient: dy, the weights from w (plain format w_plain) in the format bdpd wants, dx
 * (format x_md) in dx_slot. */
static hs_status push_data_grad(hs_dg *g, const_dnnl_primitive_desc_t bdpd, dnnl_memory_t dym,
                                const dnnl_memory_desc_t *w_plain, float *w, const dnnl_memory_desc_t *x_md,
                                int dx_slot)
{
    hs_status st;
    dnnl_memory_t bwm = NULL, dxm = NULL;
    dnnl_primitive_t p = NULL;
    if ((st = weights_in(g, &bwm, w_plain, w, dnnl_primitive_desc_query_md(bdpd, dnnl_query_weights_md, 0))) ||
        (st = slot_mem(g, &dxm, x_md, dx_slot)) || (st = make_prim(g, &p, bdpd)))
        return st;
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_WEIGHTS, bwm}, {DNNL_ARG_DIFF_SRC, dxm}};
    return push_op(g, LIST_BWD, p, 3, a);
}

/* Destroys the primitive descriptors of a layer's graph-building function (NULL: not made). */
static void pds_destroy(dnnl_primitive_desc_t a, dnnl_primitive_desc_t b, dnnl_primitive_desc_t c)
{
    if (a)
        dnnl_primitive_desc_destroy(a);
    if (b)
        dnnl_primitive_desc_destroy(b);
    if (c)
        dnnl_primitive_desc_destroy(c);
}

hs_status hs_dg_conv3x3(hs_dg *g, hs_dg_tensor *y, const hs_dg_tensor *x, size_t cout, float *w,
                        float *b, float *dw, float *db, int y_slot, int dy_slot, int dx_slot)
{
    if (wino_applies(x, cout, y_slot, dy_slot, dx_slot, g->train))
        return conv3x3_wino(g, y, x, cout, w, b, dw, db, y_slot, dy_slot, dx_slot);
    hs_status st = HS_OK;
    dnnl_primitive_desc_t fpd = NULL, bwpd = NULL, bdpd = NULL;
    dnnl_convolution_desc_t cd;
    dnnl_memory_desc_t w_plain, w_any, b_md;
    dnnl_dim_t N = md_dim(&x->md, 0), cin = md_dim(&x->md, 1), H = md_dim(&x->md, 2),
               W = md_dim(&x->md, 3), co = (dnnl_dim_t)cout;
    dnnl_dim_t wd[4] = {co, cin, 3, 3}, yd[4] = {N, co, H, W};
    dnnl_dims_t strides = {1, 1}, pad = {1, 1};
    if ((st = md_tag(&w_plain, 4, wd, dnnl_oihw)) || (st = md_tag(&w_any, 4, wd, dnnl_format_tag_any)) ||
        (st = md_x(&b_md, cout)))
        goto fail;

    /* nChw8c feeds the Winograd path and, for 8k channels that are not 16k, avoids padding */
    dnnl_format_tag_t prefer = cout % 8 == 0 && (wino_enabled() || cout % 16) ? dnnl_nChw8c
                                                                            : dnnl_format_tag_undef;
    if ((st = conv_fwd_pd(g, &fpd, x, &w_any, &b_md, yd, prefer)))
        goto fail;
    const dnnl_memory_desc_t *fy_md = dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0);
    const dnnl_memory_desc_t *fx_md = dnnl_primitive_desc_query_md(fpd, dnnl_query_src_md, 0);
    if (!dnnl_memory_desc_equal(fx_md, &x->md)) {
        st = hs_fail(HS_ERR_BACKEND, "oneDNN convolution changed its source format");
        goto fail;
    }
    y->md = *fy_md;
    y->slot = y_slot;
    dnnl_memory_t xm = NULL;
    if ((st = push_weighted_fwd(g, fpd, &xm, x, &w_plain, w, &b_md, b, y)))
        goto fail;
    if (!g->train)
        goto done;

    if ((st = begin_bwd_group(g)))
        goto fail;
    dnnl_memory_t dym = NULL;
    if ((st = slot_mem(g, &dym, &y->md, dy_slot)))
        goto fail;
    if (cin1_applies(x, &y->md)) {
        if ((st = conv_cin1_bwd_weights(g, xm, dym, dw, db, y)))
            goto fail;
        goto data_gradient;
    }
    /* weights gradient: with the activations' formats if oneDNN has a fast kernel for them;
     * else (the first layer's plain input) let it choose the source format and reorder the
     * input once per step into a oneDNN-owned buffer. */
    HS_DNNL(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &x->md, &w_any,
                                                        &b_md, &y->md, strides, pad, pad));
    HS_DNNL(dnnl_primitive_desc_create(&bwpd, &cd, NULL, g->eng, fpd));
    if (is_reference_impl(bwpd)) {
        dnnl_memory_desc_t x_any;
        dnnl_dim_t xd[4] = {N, cin, H, W};
        if ((st = md_tag(&x_any, 4, xd, dnnl_format_tag_any)))
            goto fail;
        dnnl_primitive_desc_destroy(bwpd);
        bwpd = NULL;
        HS_DNNL(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &x_any, &w_any,
                                                            &b_md, &y->md, strides, pad, pad));
        HS_DNNL(dnnl_primitive_desc_create(&bwpd, &cd, NULL, g->eng, fpd));
    }
    {
        const dnnl_memory_desc_t *bx_md = dnnl_primitive_desc_query_md(bwpd, dnnl_query_src_md, 0);
        const dnnl_memory_desc_t *bdy_md = dnnl_primitive_desc_query_md(bwpd, dnnl_query_diff_dst_md, 0);
        if (!dnnl_memory_desc_equal(bdy_md, &y->md)) {
            st = hs_fail(HS_ERR_BACKEND, "oneDNN convolution (weights gradient) changed a format");
            goto fail;
        }
        dnnl_memory_t bxm = xm;
        if (!dnnl_memory_desc_equal(bx_md, &x->md)) {
            if ((st = own_mem(g, &bxm, bx_md)) || (st = add_reorder(g, LIST_BWD, xm, &x->md, bxm, bx_md)))
                goto fail;
        }
        if ((st = push_weights_grad(g, bwpd, bxm, dym, &w_plain, dw, &b_md, db)))
            goto fail;
    }
data_gradient:
    if (dx_slot >= 0) {
        HS_DNNL(dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &x->md, &w_any,
                                                         &y->md, strides, pad, pad));
        HS_DNNL(dnnl_primitive_desc_create(&bdpd, &cd, NULL, g->eng, fpd));
        const dnnl_memory_desc_t *bdx_md = dnnl_primitive_desc_query_md(bdpd, dnnl_query_diff_src_md, 0);
        const dnnl_memory_desc_t *bdy_md = dnnl_primitive_desc_query_md(bdpd, dnnl_query_diff_dst_md, 0);
        if (!dnnl_memory_desc_equal(bdx_md, &x->md) || !dnnl_memory_desc_equal(bdy_md, &y->md)) {
            st = hs_fail(HS_ERR_BACKEND, "oneDNN convolution (data gradient) changed a format");
            goto fail;
        }
        if ((st = push_data_grad(g, bdpd, dym, &w_plain, w, &x->md, dx_slot)))
            goto fail;
    }
done:
fail:
    pds_destroy(fpd, bwpd, bdpd);
    return st;
}

/* Training batch norm by nn/batchnorm.c (sums in double; see there why not oneDNN's). */
typedef struct bn_train {
    dnnl_memory_t x, y, dy, dx;
    hs_bn_layout l;
    const float *gamma, *beta;
    float *dgamma, *dbeta, *mean_var;
    double eps;
    int relu;
    hs_bn_state st;
} bn_train;

/* The layout of md for nn/batchnorm.c: 4-D f32, channels plain or in one inner block. */
static int bn_layout(hs_bn_layout *l, const dnnl_memory_desc_t *md)
{
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    if (md->ndims != 4 || md->data_type != dnnl_f32 || md->format_kind != dnnl_blocked || md->offset0 != 0)
        return 0;
    for (int d = 0; d < 4; d++)
        if (md->padded_offsets[d] != 0 || (d != 1 && md->padded_dims[d] != md->dims[d]))
            return 0;
    size_t cb = 1;
    if (b->inner_nblks == 1 && b->inner_idxs[0] == 1)
        cb = (size_t)b->inner_blks[0];
    else if (b->inner_nblks != 0)
        return 0;
    if (cb > 64 || (size_t)md->padded_dims[1] != ((size_t)md->dims[1] + cb - 1) / cb * cb)
        return 0;
    l->N = (size_t)md->dims[0];
    l->C = (size_t)md->dims[1];
    l->H = (size_t)md->dims[2];
    l->W = (size_t)md->dims[3];
    l->cb = cb;
    l->sn = (size_t)b->strides[0];
    l->sc = (size_t)b->strides[1];
    l->sh = (size_t)b->strides[2];
    l->sw = (size_t)b->strides[3];
    return 1;
}

static hs_status bn_train_fwd_op(void *p)
{
    bn_train *c = p;
    void *x = NULL, *y = NULL;
    hs_status st;
    if ((st = mem_ptr(c->x, &x)) || (st = mem_ptr(c->y, &y)))
        return st;
    return hs_bn_train_forward(y, x, &c->l, c->gamma, c->beta, c->eps, c->relu, c->mean_var, &c->st);
}

static hs_status bn_train_bwd_op(void *p)
{
    bn_train *c = p;
    void *x = NULL, *dy = NULL, *dx = NULL;
    hs_status st;
    if ((st = mem_ptr(c->x, &x)) || (st = mem_ptr(c->dy, &dy)) || (c->dx && (st = mem_ptr(c->dx, &dx))))
        return st;
    return hs_bn_train_backward(dx, c->dgamma, c->dbeta, dy, x, &c->l, c->gamma, c->beta, c->relu, &c->st);
}

static hs_status bn_train_c(hs_dg *g, hs_dg_tensor *y, const hs_dg_tensor *x, const hs_bn_layout *l,
                            float *gamma, float *beta, float *dgamma, float *dbeta, float *mean_var,
                            double eps, int relu, int y_slot, int dy_slot, int dx_slot)
{
    hs_status st;
    size_t C = l->C;
    bn_train *c = calloc(1, sizeof *c + C * (2 * sizeof(double) + 2 * sizeof(float)));
    if (!c)
        return hs_fail(HS_ERR_NOMEM, "out of memory building the oneDNN graph");
    if ((st = add_ctx(g, c)))
        return st;
    c->l = *l;
    c->gamma = gamma;
    c->beta = beta;
    c->dgamma = dgamma;
    c->dbeta = dbeta;
    c->mean_var = mean_var;
    c->eps = eps;
    c->relu = relu;
    c->st.mean = (double *)(void *)(c + 1);
    c->st.inv = c->st.mean + C;
    c->st.mean_f = (float *)(void *)(c->st.inv + C);
    c->st.scale_f = c->st.mean_f + C;
    y->md = x->md;
    y->slot = y_slot;
    if ((st = slot_mem(g, &c->x, &x->md, x->slot)) || (st = slot_mem(g, &c->y, &y->md, y_slot)) ||
        (st = push_fn(g, LIST_FWD, bn_train_fwd_op, c)) || (st = begin_bwd_group(g)) ||
        (st = slot_mem(g, &c->dy, &y->md, dy_slot)) ||
        (dx_slot >= 0 && (st = slot_mem(g, &c->dx, &x->md, dx_slot))))
        return st;
    return push_fn(g, LIST_BWD, bn_train_bwd_op, c);
}

/* Synchronized batch norm. The forward sums x and x^2 per channel (in double) over the local
 * batch, sums those over the replicas (g->bn_sum) and hands the union's mean and biased
 * variance to oneDNN's batch norm as given statistics (dnnl_use_global_stats), whose backward
 * then treats them as constants: dx = gamma inv_std dy (dy after the fused ReLU's mask). The
 * exact gradient through the union's statistics is
 *     dx = gamma inv_std (dy - S1 / M - xhat S2 / M),
 * S1 = sum dy and S2 = sum dy xhat over the union (M values per channel): oneDNN's dbeta and
 * dgamma are this replica's parts of S1 and S2, so the backward op sums copies of them over
 * the replicas and subtracts the two terms. */

/* Element (n, c, h, w) of a plain or channel-blocked 4-D activation sits at
 * off0 + n sn + (c / cb) sc + h sh + w sw + c % cb. */
typedef struct chan_layout {
    size_t N, C, H, W, cb;
    size_t off0, sn, sc, sh, sw;
} chan_layout;

static int chan_layout_of(chan_layout *l, const dnnl_memory_desc_t *md)
{
    if (md->ndims != 4 || md->format_kind != dnnl_blocked || md->data_type != dnnl_f32)
        return -1;
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    if (b->inner_nblks == 0)
        l->cb = 1;
    else if (b->inner_nblks == 1 && b->inner_idxs[0] == 1 && b->inner_blks[0] <= 64)
        l->cb = (size_t)b->inner_blks[0];
    else
        return -1;
    for (int d = 0; d < 4; d++)
        if (md->padded_offsets[d] != 0 || b->strides[d] < 0)
            return -1;
    l->N = (size_t)md->dims[0], l->C = (size_t)md->dims[1];
    l->H = (size_t)md->dims[2], l->W = (size_t)md->dims[3];
    l->off0 = (size_t)md->offset0;
    l->sn = (size_t)b->strides[0], l->sc = (size_t)b->strides[1];
    l->sh = (size_t)b->strides[2], l->sw = (size_t)b->strides[3];
    return 0;
}

typedef struct bn_sync {
    hs_dg *g;
    size_t idx;             /* into g->bn_count */
    dnnl_memory_t x, dx;    /* slot memories (pointers fetched when the op runs) */
    chan_layout lay;
    float *mean_var, *gamma, *dgamma, *dbeta;
    double eps;
    double buf[];           /* 2 C + 1 */
} bn_sync;

static hs_status bn_sync_fwd_op(void *p)
{
    bn_sync *c = p;
    const chan_layout *l = &c->lay;
    void *xv = NULL;
    hs_status st = mem_ptr(c->x, &xv);
    if (st)
        return st;
    const float *x = xv;
    size_t C = l->C, cb = l->cb, nblk = (C + cb - 1) / cb;
    double *sum = c->buf, *sq = c->buf + C;
    /* one channel block per iteration: each thread owns whole channels, so the sums do not
     * depend on the number of threads */
#ifdef HS_HAVE_OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (ptrdiff_t kb = 0; kb < (ptrdiff_t)nblk; kb++) {
        double s[64] = {0}, q[64] = {0};
        size_t c0 = (size_t)kb * cb, nc = C - c0 < cb ? C - c0 : cb;
        for (size_t n = 0; n < l->N; n++)
            for (size_t h = 0; h < l->H; h++)
                for (size_t w = 0; w < l->W; w++) {
                    const float *e = x + l->off0 + n * l->sn + (size_t)kb * l->sc + h * l->sh + w * l->sw;
                    for (size_t j = 0; j < nc; j++) {
                        double v = e[j];
                        s[j] += v;
                        q[j] += v * v;
                    }
                }
        for (size_t j = 0; j < nc; j++) {
            sum[c0 + j] = s[j];
            sq[c0 + j] = q[j];
        }
    }
    c->buf[2 * C] = (double)(l->N * l->H * l->W);
    if ((st = c->g->bn_sum(c->buf, 2 * C + 1, c->g->bn_sum_user)))
        return st;
    double M = c->buf[2 * C];
    if (!(M >= 1))
        return hs_fail(HS_ERR_SIZE, "synchronized batch norm: %g values per channel over all replicas", M);
    for (size_t k = 0; k < C; k++) {
        double mean = sum[k] / M, var = sq[k] / M - mean * mean;
        c->mean_var[k] = (float)mean;
        c->mean_var[C + k] = (float)(var > 0 ? var : 0);
    }
    c->g->bn_count[c->idx] = M;
    return HS_OK;
}

static hs_status bn_sync_bwd_op(void *p)
{
    bn_sync *c = p;
    const chan_layout *l = &c->lay;
    void *xv = NULL, *dxv = NULL;
    hs_status st;
    if ((st = mem_ptr(c->x, &xv)) || (st = mem_ptr(c->dx, &dxv)))
        return st;
    size_t C = l->C, cb = l->cb, nblk = (C + cb - 1) / cb;
    double *s1 = c->buf, *s2 = c->buf + C;
    for (size_t k = 0; k < C; k++) {
        s1[k] = c->dbeta[k];
        s2[k] = c->dgamma[k];
    }
    if ((st = c->g->bn_sum(c->buf, 2 * C, c->g->bn_sum_user)))
        return st;
    double M = c->g->bn_count[c->idx];
    /* dx -= a + xhat b per channel, xhat = (x - mean) inv_std (the float statistics oneDNN used) */
    const float *x = xv;
    float *dx = dxv;
#ifdef HS_HAVE_OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (ptrdiff_t kb = 0; kb < (ptrdiff_t)nblk; kb++) {
        float mu[64], is[64], ca[64], cbeta[64];
        size_t c0 = (size_t)kb * cb, nc = C - c0 < cb ? C - c0 : cb;
        for (size_t j = 0; j < nc; j++) {
            size_t k = c0 + j;
            double inv_std = 1.0 / sqrt((double)c->mean_var[C + k] + c->eps);
            double gi = (double)c->gamma[k] * inv_std / M;
            mu[j] = c->mean_var[k];
            is[j] = (float)inv_std;
            ca[j] = (float)(gi * s1[k]);
            cbeta[j] = (float)(gi * s2[k]);
        }
        for (size_t n = 0; n < l->N; n++)
            for (size_t h = 0; h < l->H; h++)
                for (size_t w = 0; w < l->W; w++) {
                    size_t o = l->off0 + n * l->sn + (size_t)kb * l->sc + h * l->sh + w * l->sw;
                    for (size_t j = 0; j < nc; j++)
                        dx[o + j] -= ca[j] + (x[o + j] - mu[j]) * is[j] * cbeta[j];
                }
    }
    return HS_OK;
}

hs_status hs_dg_batchnorm(hs_dg *g, hs_dg_tensor *y, const hs_dg_tensor *x, float *gamma,
                          float *beta, float *dgamma, float *dbeta, float *mean_var, double eps,
                          int fuse_relu, int y_slot, int dy_slot, int dx_slot)
{
    hs_status st = HS_OK;
    dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
    dnnl_batch_normalization_desc_t bd;
    dnnl_memory_desc_t c_md;
    size_t C = (size_t)md_dim(&x->md, 1);
    unsigned flags = dnnl_use_scale | dnnl_use_shift;
    int sync = g->train && g->bn_sum;
    bn_sync *sy = NULL;
    if (fuse_relu)
        flags |= dnnl_fuse_norm_relu;
    if (!g->train || sync)
        flags |= dnnl_use_global_stats;
    if (g->train && y_slot == x->slot)
        return hs_fail(HS_ERR_ARG, "batch norm: training output must not overwrite its input");
    if ((st = GROW(g->bn_count, g->nbn, g->capbn)))
        return st;
    size_t bn_idx = g->nbn++;
    g->bn_count[bn_idx] = (double)md_dim(&x->md, 0) * (double)md_dim(&x->md, 2) * (double)md_dim(&x->md, 3);
    /* training without synchronization: our batch norm with double sums (nn/batchnorm.c);
     * synchronized: oneDNN's with the union's statistics (below) */
    hs_bn_layout bl;
    if (g->train && !sync && bn_layout(&bl, &x->md))
        return bn_train_c(g, y, x, &bl, gamma, beta, dgamma, dbeta, mean_var, eps, fuse_relu, y_slot, dy_slot,
                          dx_slot);
    if (sync) {
        if (dx_slot == x->slot)
            return hs_fail(HS_ERR_ARG, "synchronized batch norm: the input gradient must not overwrite the input");
        sy = calloc(1, sizeof *sy + (2 * C + 1) * sizeof(double));
        if (!sy || (st = add_ctx(g, sy)))
            return sy ? st : hs_fail(HS_ERR_NOMEM, "out of memory building the oneDNN graph");
        if (chan_layout_of(&sy->lay, &x->md))
            return hs_fail(HS_ERR_BACKEND, "synchronized batch norm: unsupported activation layout");
        sy->g = g, sy->idx = bn_idx, sy->mean_var = mean_var, sy->gamma = gamma;
        sy->dgamma = dgamma, sy->dbeta = dbeta, sy->eps = eps;
    }
    if ((st = md_x(&c_md, C)))
        goto fail;
    HS_DNNL(dnnl_batch_normalization_forward_desc_init(
        &bd, g->train ? dnnl_forward_training : dnnl_forward_inference, &x->md, (float)eps, flags));
    HS_DNNL(dnnl_primitive_desc_create(&fpd, &bd, NULL, g->eng, NULL));
    y->md = *dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0);
    y->slot = y_slot;
    dnnl_memory_t xm = NULL, ym = NULL, gm = NULL, bm = NULL, mm = NULL, vm = NULL, wsm = NULL;
    dnnl_primitive_t fp = NULL;
    if ((st = slot_mem(g, &xm, &x->md, x->slot)) || (st = slot_mem(g, &ym, &y->md, y_slot)) ||
        (st = hs_dg_external(g, &gm, &c_md, gamma)) || (st = hs_dg_external(g, &bm, &c_md, beta)) ||
        (st = hs_dg_external(g, &mm, &c_md, mean_var)) ||
        (st = hs_dg_external(g, &vm, &c_md, mean_var + C)) || (st = make_prim(g, &fp, fpd)))
        goto fail;
    int nargs = 6;
    dnnl_exec_arg_t a[7] = {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DST, ym}, {DNNL_ARG_SCALE, gm},
                            {DNNL_ARG_SHIFT, bm}, {DNNL_ARG_MEAN, mm}, {DNNL_ARG_VARIANCE, vm}};
    if (fuse_relu && g->train) {
        if ((st = own_mem(g, &wsm, dnnl_primitive_desc_query_md(fpd, dnnl_query_workspace_md, 0))))
            goto fail;
        a[nargs].arg = DNNL_ARG_WORKSPACE;
        a[nargs].memory = wsm;
        nargs++;
    }
    if (sy) {
        sy->x = xm;
        if ((st = push_fn(g, LIST_FWD, bn_sync_fwd_op, sy)))
            goto fail;
    }
    if ((st = push_op(g, LIST_FWD, fp, nargs, a)))
        goto fail;
    if (!g->train)
        goto done;

    if ((st = begin_bwd_group(g)))
        goto fail;
    HS_DNNL(dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, &y->md, &x->md, (float)eps,
                                                        flags));
    HS_DNNL(dnnl_primitive_desc_create(&bpd, &bd, NULL, g->eng, fpd));
    {
        dnnl_memory_t dym = NULL, dxm = NULL, dgm = NULL, dbm = NULL;
        dnnl_primitive_t p = NULL;
        if ((st = slot_mem(g, &dym, &y->md, dy_slot)) || (st = slot_mem(g, &dxm, &x->md, dx_slot)) ||
            (st = hs_dg_external(g, &dgm, &c_md, dgamma)) || (st = hs_dg_external(g, &dbm, &c_md, dbeta)) ||
            (st = make_prim(g, &p, bpd)))
            goto fail;
        int nb = 9;
        dnnl_exec_arg_t b[10] = {{DNNL_ARG_SRC, xm},         {DNNL_ARG_MEAN, mm},
                                 {DNNL_ARG_VARIANCE, vm},    {DNNL_ARG_DIFF_DST, dym},
                                 {DNNL_ARG_SCALE, gm},       {DNNL_ARG_SHIFT, bm},
                                 {DNNL_ARG_DIFF_SRC, dxm},   {DNNL_ARG_DIFF_SCALE, dgm},
                                 {DNNL_ARG_DIFF_SHIFT, dbm}};
        if (wsm) {
            b[nb].arg = DNNL_ARG_WORKSPACE;
            b[nb].memory = wsm;
            nb++;
        }
        if ((st = push_op(g, LIST_BWD, p, nb, b)))
            goto fail;
        if (sy) {
            sy->dx = dxm;
            if ((st = push_fn(g, LIST_BWD, bn_sync_bwd_op, sy)))
                goto fail;
        }
    }
done:
fail:
    pds_destroy(fpd, bpd, NULL);
    return st;
}

hs_status hs_dg_relu(hs_dg *g, const hs_dg_tensor *x, int dslot)
{
    hs_status st = HS_OK;
    dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
    dnnl_eltwise_desc_t ed;
    HS_DNNL(dnnl_eltwise_forward_desc_init(&ed, g->train ? dnnl_forward_training : dnnl_forward_inference,
                                           dnnl_eltwise_relu_use_dst_for_bwd, &x->md, 0.f, 0.f));
    HS_DNNL(dnnl_primitive_desc_create(&fpd, &ed, NULL, g->eng, NULL));
    dnnl_memory_t xm = NULL;
    dnnl_primitive_t fp = NULL;
    if ((st = slot_mem(g, &xm, &x->md, x->slot)) || (st = make_prim(g, &fp, fpd)))
        goto fail;
    {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DST, xm}};
        if ((st = push_op(g, LIST_FWD, fp, 2, a)))
            goto fail;
    }
    if (!g->train)
        goto done;
    if ((st = begin_bwd_group(g)))
        goto fail;
    HS_DNNL(dnnl_eltwise_backward_desc_init(&ed, dnnl_eltwise_relu_use_dst_for_bwd, &x->md, &x->md, 0.f, 0.f));
    HS_DNNL(dnnl_primitive_desc_create(&bpd, &ed, NULL, g->eng, fpd));
    {
        dnnl_memory_t dm = NULL;
        dnnl_primitive_t p = NULL;
        if ((st = slot_mem(g, &dm, &x->md, dslot)) || (st = make_prim(g, &p, bpd)))
            goto fail;
        dnnl_exec_arg_t a[3] = {{DNNL_ARG_DST, xm}, {DNNL_ARG_DIFF_DST, dm}, {DNNL_ARG_DIFF_SRC, dm}};
        if ((st = push_op(g, LIST_BWD, p, 3, a)))
            goto fail;
    }
done:
fail:
    pds_destroy(fpd, bpd, NULL);
    return st;
}

hs_status hs_dg_maxpool2(hs_dg *g, hs_dg_tensor *y, const hs_dg_tensor *x, int y_slot, int dy_slot,
                         int dx_slot)
{
    hs_status st = HS_OK;
    dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
    dnnl_pooling_desc_t pdsc;
    dnnl_memory_desc_t y_any;
    dnnl_dim_t yd[4] = {md_dim(&x->md, 0), md_dim(&x->md, 1), md_dim(&x->md, 2) / 2, md_dim(&x->md, 3) / 2};
    dnnl_dims_t two = {2, 2}, zero = {0, 0};
    if ((st = md_tag(&y_any, 4, yd, dnnl_format_tag_any)))
        goto fail;
    HS_DNNL(dnnl_pooling_forward_desc_init(&pdsc, g->train ? dnnl_forward_training : dnnl_forward_inference,
                                           dnnl_pooling_max, &x->md, &y_any, two, two, zero, zero));
    HS_DNNL(dnnl_primitive_desc_create(&fpd, &pdsc, NULL, g->eng, NULL));
    y->md = *dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0);
    y->slot = y_slot;
    dnnl_memory_t xm = NULL, ym = NULL, wsm = NULL;
    dnnl_primitive_t fp = NULL;
    if ((st = slot_mem(g, &xm, &x->md, x->slot)) || (st = slot_mem(g, &ym, &y->md, y_slot)) ||
        (st = make_prim(g, &fp, fpd)))
        goto fail;
    int nargs = 2;
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DST, ym}};
    if (g->train) {
        if ((st = own_mem(g, &wsm, dnnl_primitive_desc_query_md(fpd, dnnl_query_workspace_md, 0))))
            goto fail;
        a[2].arg = DNNL_ARG_WORKSPACE;
        a[2].memory = wsm;
        nargs = 3;
    }
    if ((st = push_op(g, LIST_FWD, fp, nargs, a)))
        goto fail;
    if (!g->train)
        goto done;
    if ((st = begin_bwd_group(g)))
        goto fail;
    HS_DNNL(dnnl_pooling_backward_desc_init(&pdsc, dnnl_pooling_max, &x->md, &y->md, two, two, zero, zero));
    HS_DNNL(dnnl_primitive_desc_create(&bpd, &pdsc, NULL, g->eng, fpd));
    {
        dnnl_memory_t dym = NULL, dxm = NULL;
        dnnl_primitive_t p = NULL;
        if ((st = slot_mem(g, &dym, &y->md, dy_slot)) || (st = slot_mem(g, &dxm, &x->md, dx_slot)) ||
            (st = make_prim(g, &p, bpd)))
            goto fail;
        dnnl_exec_arg_t b[3] = {{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_SRC, dxm}, {DNNL_ARG_WORKSPACE, wsm}};
        if ((st = push_op(g, LIST_BWD, p, 3, b)))
            goto fail;
    }
done:
fail:
    pds_destroy(fpd, bpd, NULL);
    return st;
}

hs_status hs_dg_linear(hs_dg *g, hs_dg_tensor *y, const hs_dg_tensor *x, size_t out, float *w,
                       float *b, float *dw, float *db, int y_slot, int dy_slot, int dx_slot)
{
    hs_status st = HS_OK;
    dnnl_primitive_desc_t fpd = NULL, bwpd = NULL, bdpd = NULL;
    dnnl_inner_product_desc_t ipd;
    dnnl_memory_desc_t w_plain, w_any, b_md, y_md;
    int nd = x->md.ndims;
    dnnl_dim_t N = md_dim(&x->md, 0), o = (dnnl_dim_t)out;
    if (nd == 4) {
        dnnl_dim_t wd[4] = {o, md_dim(&x->md, 1), md_dim(&x->md, 2), md_dim(&x->md, 3)};
        if ((st = md_tag(&w_plain, 4, wd, dnnl_oihw)) || (st = md_tag(&w_any, 4, wd, dnnl_format_tag_any)))
            goto fail;
    } else if (nd == 2) {
        dnnl_dim_t wd[2] = {o, md_dim(&x->md, 1)};
        if ((st = md_tag(&w_plain, 2, wd, dnnl_oi)) || (st = md_tag(&w_any, 2, wd, dnnl_format_tag_any)))
            goto fail;
    } else {
        return hs_fail(HS_ERR_ARG, "linear layer: input must be 2-D or 4-D");
    }
    if ((st = md_x(&b_md, out)) || (st = hs_dg_md_nc(&y_md, (size_t)N, out)))
        goto fail;
    HS_DNNL(dnnl_inner_product_forward_desc_init(&ipd, g->train ? dnnl_forward_training : dnnl_forward_inference,
                                                 &x->md, &w_any, &b_md, &y_md));
    HS_DNNL(dnnl_primitive_desc_create(&fpd, &ipd, NULL, g->eng, NULL));
    if (!dnnl_memory_desc_equal(dnnl_primitive_desc_query_md(fpd, dnnl_query_src_md, 0), &x->md)) {
        st = hs_fail(HS_ERR_BACKEND, "oneDNN inner product changed its source format");
        goto fail;
    }
    y->md = y_md;
    y->slot = y_slot;
    dnnl_memory_t xm = NULL;
    if ((st = push_weighted_fwd(g, fpd, &xm, x, &w_plain, w, &b_md, b, y)))
        goto fail;
    if (!g->train)
        goto done;
    if ((st = begin_bwd_group(g)))
        goto fail;
    dnnl_memory_t dym = NULL;
    if ((st = slot_mem(g, &dym, &y_md, dy_slot)))
        goto fail;
    HS_DNNL(dnnl_inner_product_backward_weights_desc_init(&ipd, &x->md, &w_any, &b_md, &y_md));
    HS_DNNL(dnnl_primitive_desc_create(&bwpd, &ipd, NULL, g->eng, fpd));
    if (!dnnl_memory_desc_equal(dnnl_primitive_desc_query_md(bwpd, dnnl_query_src_md, 0), &x->md)) {
        st = hs_fail(HS_ERR_BACKEND, "oneDNN inner product (weights gradient) changed a format");
        goto fail;
    }
    if ((st = push_weights_grad(g, bwpd, xm, dym, &w_plain, dw, &b_md, db)))
        goto fail;
    if (dx_slot >= 0) {
        HS_DNNL(dnnl_inner_product_backward_data_desc_init(&ipd, &x->md, &w_any, &y_md));
        HS_DNNL(dnnl_primitive_desc_create(&bdpd, &ipd, NULL, g->eng, fpd));
        if (!dnnl_memory_desc_equal(dnnl_primitive_desc_query_md(bdpd, dnnl_query_diff_src_md, 0), &x->md)) {
            st = hs_fail(HS_ERR_BACKEND, "oneDNN inner product (data gradient) changed a format");
            goto fail;
        }
        if ((st = push_data_grad(g, bdpd, dym, &w_plain, w, &x->md, dx_slot)))
            goto fail;
    }
done:
fail:
    pds_destroy(fpd, bwpd, bdpd);
    return st;
}

hs_status hs_dg_reorder(hs_dg *g, hs_dg_tensor *y, const hs_dg_tensor *x, const dnnl_memory_desc_t *y_md,
                        int y_slot, int dy_slot, int dx_slot)
{
    hs_status st = HS_OK;
    dnnl_memory_t xm = NULL, ym = NULL;
    y->md = *y_md;
    y->slot = y_slot;
    if ((st = slot_mem(g, &xm, &x->md, x->slot)) || (st = slot_mem(g, &ym, y_md, y_slot)) ||
        (st = add_reorder(g, LIST_FWD, xm, &x->md, ym, y_md)))
        return st;
    if (!g->train || dx_slot < 0)
        return HS_OK;
    if ((st = begin_bwd_group(g)))
        return st;
    dnnl_memory_t dym = NULL, dxm = NULL;
    if ((st = slot_mem(g, &dym, y_md, dy_slot)) || (st = slot_mem(g, &dxm, &x->md, dx_slot)) ||
        (st = add_reorder(g, LIST_BWD, dym, y_md, dxm, &x->md)))
        return st;
    return HS_OK;
}
