/* Internal: a fixed sequence of oneDNN primitives for one batch size and mode (training or
 * inference), built layer by layer and then executed many times.
 *
 * Activations live in "slots": buffers owned by the caller (an arena), referred to by index,
 * so that plans for several batch sizes share one set of big buffers. Parameters and their
 * gradients are plain float arrays of the caller (PyTorch layouts); weights are reordered into
 * the formats oneDNN chose at the start of each forward/backward, gradients back after it.
 * Activation tensors stay in oneDNN's blocked formats between layers (format_tag any), with
 * reorders only where the caller asks (network boundary, tests).
 *
 * Backward: every layer appends one group of backward ops; hs_dg_backward runs the groups in
 * reverse order. Gradients are overwritten. */
#ifndef HS_NN_DGRAPH_H
#define HS_NN_DGRAPH_H

#include <dnnl.h>
#include <stddef.h>

#include "hypersimplex.h"
#include "nn/winograd.h"

/* Checking macro around every dnnl_* call: on failure records file, line, the call and
 * oneDNN's status, sets `st` to HS_ERR_BACKEND and jumps to `fail`. */
#define HS_DNNL(call)                                                                   \
    do {                                                                                \
        dnnl_status_t dnnl_s_ = (call);                                                 \
        if (dnnl_s_ != dnnl_success) {                                                  \
            st = hs_dnnl_fail(__FILE__, __LINE__, #call, dnnl_s_);                      \
            goto fail;                                                                  \
        }                                                                               \
    } while (0)

hs_status hs_dnnl_fail(const char *file, int line, const char *call, dnnl_status_t s);

enum { HS_DG_MAX_ARGS = 10 };

/* One step of a list: a oneDNN primitive with its arguments, or (prim == NULL) a C function
 * of a context owned by the graph (e.g. the Winograd convolution), which fetches its
 * activation pointers from its slots' memory objects when it runs. The CPU stream executes
 * synchronously, so both kinds interleave in order. */
typedef struct hs_dg_op {
    dnnl_primitive_t prim;
    int nargs;
    dnnl_exec_arg_t args[HS_DG_MAX_ARGS];
    hs_status (*fn)(void *ctx);
    void *ctx;
} hs_dg_op;

/* A weight tensor copied between the caller's plain layout and a oneDNN blocked layout by a
 * plain loop (map[i] = element offset in the blocked buffer of plain element i): no OpenMP
 * region per small tensor and step. */
typedef struct hs_dg_copy {
    float *plain;
    float *blocked;
    size_t *map;
    size_t n;
} hs_dg_copy;

typedef struct hs_dg_slotmem {
    dnnl_memory_t mem;
    int slot;
} hs_dg_slotmem;

/* An activation: its memory descriptor and the slot holding it. */
typedef struct hs_dg_tensor {
    dnnl_memory_desc_t md;
    int slot;
} hs_dg_tensor;

typedef struct hs_dg {
    dnnl_engine_t eng;      /* borrowed */
    dnnl_stream_t stream;   /* borrowed */
    int train;
    size_t batch;

    hs_dg_op *pre;          /* weight reorders before forward */
    size_t npre, cappre;
    hs_dg_op *fwd;
    size_t nfwd, capfwd;
    hs_dg_op *bwd;
    size_t nbwd, capbwd;
    size_t *bwd_group;      /* start index of each backward group */
    size_t ngroups, capgroups;
    hs_dg_op *post;         /* gradient reorders after backward */
    size_t npost, cappost;
    hs_dg_copy *pre_copy;   /* plain -> blocked weights before forward */
    size_t npre_copy, cappre_copy;
    hs_dg_copy *post_copy;  /* blocked -> plain gradients after backward */
    size_t npost_copy, cappost_copy;

    dnnl_primitive_t *prims;
    size_t nprims, capprims;
    size_t nref;            /* how many of them are oneDNN's reference ("ref:") kernels */
    dnnl_memory_t *mems;    /* every memory object, destroyed with the graph */
    size_t nmems, capmems;
    hs_dg_slotmem *slotmems;
    size_t nslotmems, capslotmems;

    void **ctxs;            /* contexts of the C-function ops (one allocation each) */
    size_t nctxs, capctxs;
    hs_wino_ws *wino_ws;    /* scratch shared by the graph's Winograd convolutions */

    size_t nslots;
    size_t *slot_bytes;     /* (nslots) bytes each slot must hold for this graph */
    unsigned long bound_version;

    /* Synchronized batch norm (set before the layers are added; NULL: local statistics): sums
     * n doubles in place over every replica of the network (see hs_net_set_bn_sync). */
    hs_status (*bn_sum)(double *buf, size_t n, void *user);
    void *bn_sum_user;
    double *bn_count;       /* per batch norm, in the order added: the number of values per
                               channel its last training statistics were taken over */
    size_t nbn, capbn;
} hs_dg;

hs_status hs_dg_init(hs_dg *g, dnnl_engine_t eng, dnnl_stream_t stream, int train, size_t batch,
                     size_t nslots);
void hs_dg_destroy(hs_dg *g);

/* Plain-format descriptors. */
hs_status hs_dg_md_nchw(dnnl_memory_desc_t *md, size_t n, size_t c, size_t h, size_t w);
hs_status hs_dg_md_nc(dnnl_memory_desc_t *md, size_t n, size_t c);

/* Binds the slots to buffers slot_ptr[i] (which must hold slot_bytes[i] bytes). */
hs_status hs_dg_bind(hs_dg *g, void *const *slot_ptr, unsigned long version);
/* Memory object for an external (caller-owned, fixed) pointer; used for inputs set per call. */
hs_status hs_dg_external(hs_dg *g, dnnl_memory_t *out, const dnnl_memory_desc_t *md, void *ptr);

hs_status hs_dg_forward(hs_dg *g);     /* weight reorders + forward ops */
hs_status hs_dg_backward(hs_dg *g);    /* backward groups in reverse + gradient reorders */

/* Layers. x is the input activation; *y receives the output (in slot y_slot). dy_slot holds
 * d loss / d y during backward; dx_slot receives d loss / d x (< 0: not computed). Parameter
 * pointers are plain arrays (PyTorch layouts); gradient pointers receive the gradients.
 *
 * hs_dg_conv3x3 computes with Winograd F(4x4, 3x3) (nn/winograd.h) when x is nChw8c with a
 * multiple of 8 channels, cout is a multiple of 8 and the slots do not alias (y is then
 * nChw8c); otherwise, or when the environment variable HS_CONV=direct is set at graph build,
 * with oneDNN's direct convolution. */
hs_status hs_dg_conv3x3(hs_dg *g, hs_dg_tensor *y, const hs_dg_tensor *x, size_t cout,
                        float *w, float *b, float *dw, float *db, int y_slot, int dy_slot,
                        int dx_slot);
/* mean_var: training: receives the batch mean and biased variance (2 x C floats: mean then
 * var); inference: the running mean and variance used. With g->bn_sum set, a training batch
 * norm normalizes with the statistics of all replicas' batches together and its backward
 * differentiates through them (x must be plain or blocked by channels only, e.g. nChw8c, and
 * dx_slot must differ from x's slot); dgamma and dbeta stay this replica's own sums. In training the output may be written
 * in place (y_slot == x->slot is not allowed: x is needed for backward), dx_slot may equal
 * dy_slot. fuse_relu != 0 applies ReLU to the output (oneDNN's fused norm+relu). */
hs_status hs_dg_batchnorm(hs_dg *g, hs_dg_tensor *y, const hs_dg_tensor *x, float *gamma,
                          float *beta, float *dgamma, float *dbeta, float *mean_var, double eps,
                          int fuse_relu, int y_slot, int dy_slot, int dx_slot);
/* In place on x's slot; backward in place on dslot (uses the output). */
hs_status hs_dg_relu(hs_dg *g, const hs_dg_tensor *x, int dslot);
hs_status hs_dg_maxpool2(hs_dg *g, hs_dg_tensor *y, const hs_dg_tensor *x, int y_slot,
                         int dy_slot, int dx_slot);
/* x may be 4-D (flattened in C x H x W order, like torch.flatten) or 2-D; w (out x in).
 * y is plain 2-D (N x out). */
hs_status hs_dg_linear(hs_dg *g, hs_dg_tensor *y, const hs_dg_tensor *x, size_t out, float *w,
                       float *b, float *dw, float *db, int y_slot, int dy_slot, int dx_slot);
/* Reorder of x into the descriptor *md_out (e.g. plain); backward reorders dy back. */
hs_status hs_dg_reorder(hs_dg *g, hs_dg_tensor *y, const hs_dg_tensor *x,
                        const dnnl_memory_desc_t *y_md, int y_slot, int dy_slot, int dx_slot);

#endif
