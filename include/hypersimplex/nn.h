/*
 * hypersimplex/nn.h: the paper's convolutional network, trained on the CPU with oneDNN.
 *
 *   conv3x3(pad 1) -> BN -> ReLU -> conv -> BN -> maxpool 2 -> ReLU
 *   -> conv -> BN -> ReLU -> conv -> BN -> maxpool 2 -> ReLU
 *   -> flatten -> linear(hidden) -> ReLU -> linear(classes)
 *
 * Every convolution has `conv_width` output channels (the paper: 64) and a bias; the first
 * linear layer has `hidden` units (the paper: 512). Batch norm: eps 1e-5, momentum 0.1,
 * running variance updated with the unbiased batch variance (PyTorch's semantics).
 *
 * Parameters, gradients and Adam moments each live in one flat float buffer, split into
 * tensors by a size table in PyTorch's state_dict order and layouts (conv weights OIHW,
 * linear weights (out x in) with the flattened input in C x H x W order). The batch-norm
 * running statistics ("buffers") live in a second flat buffer.
 */
#ifndef HYPERSIMPLEX_NN_H
#define HYPERSIMPLEX_NN_H

#include "hypersimplex.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hs_net_shape {
    size_t channels;    /* input channels (1 for Fashion-MNIST, 3 for CIFAR-10) */
    size_t height;      /* input height, a multiple of 4 */
    size_t width;       /* input width, a multiple of 4 */
    size_t classes;     /* outputs of the last linear layer, >= 2 */
    size_t conv_width;  /* channels of every convolution, >= 1 (the paper: 64) */
    size_t hidden;      /* units of the first linear layer, >= 1 (the paper: 512) */
} hs_net_shape;

/* The paper's network for images of channels x height x width and `classes` classes, with
 * conv_width channels per convolution and 512 hidden units. */
HS_API hs_net_shape hs_net_shape_paper(size_t channels, size_t height, size_t width,
                                       size_t classes, size_t conv_width);
/* NULL if the shape is valid, else a static message. */
HS_API const char *hs_net_shape_check(const hs_net_shape *s);

/* One named tensor of a flat buffer. */
typedef struct hs_tensor_info {
    const char *name;   /* PyTorch state_dict name, e.g. "0.weight" ... as in the paper's nn.Sequential */
    size_t offset;      /* first element in the flat buffer */
    size_t count;       /* number of elements */
    int ndims;
    size_t dims[4];
} hs_tensor_info;

typedef struct hs_net hs_net;

/* Creates the network (parameters zero, running mean 0 and variance 1; call hs_net_init).
 * Primitives are created lazily, once per (batch size, mode), and reused. */
HS_API hs_status hs_net_create(hs_net **out, const hs_net_shape *shape);
HS_API void hs_net_free(hs_net *net);

/* PyTorch's default initialization (kaiming-uniform with a = sqrt(5) for weights, uniform
 * +-1/sqrt(fan_in) for biases, BN weight 1 and bias 0, running mean 0 and variance 1),
 * drawn from a generator seeded by `seed` (deterministic; not PyTorch's generator). */
HS_API hs_status hs_net_init(hs_net *net, uint64_t seed);

/* Parameters (and gradients, same layout): 20 tensors. */
HS_API size_t hs_net_param_count(const hs_net *net);            /* total elements */
HS_API size_t hs_net_param_tensors(const hs_net *net);          /* number of tensors */
HS_API const hs_tensor_info *hs_net_param_info(const hs_net *net, size_t i);
HS_API float *hs_net_params(hs_net *net);                       /* (param_count) */
HS_API float *hs_net_grads(hs_net *net);                        /* (param_count) */
/* Batch-norm running statistics: 8 tensors (running_mean, running_var per BN layer). */
HS_API size_t hs_net_buffer_count(const hs_net *net);
HS_API size_t hs_net_buffer_tensors(const hs_net *net);
HS_API const hs_tensor_info *hs_net_buffer_info(const hs_net *net, size_t i);
HS_API float *hs_net_buffers(hs_net *net);                      /* (buffer_count) */

/* Forward pass of a batch x (B x channels x height x width, NCHW, contiguous) into logits
 * (B x classes, row-major). train != 0: batch statistics, running statistics updated,
 * activations kept for hs_net_backward (x is copied). train == 0: running statistics,
 * nothing kept. Errors: HS_ERR_NULL, HS_ERR_SIZE, HS_ERR_NOMEM, HS_ERR_BACKEND. */
HS_API hs_status hs_net_forward(hs_net *net, float *logits, const float *x, size_t B, int train);

/* Backward pass of the last training forward: dlogits (B x classes) is d loss / d logits.
 * Overwrites every gradient in hs_net_grads(). Errors: HS_ERR_ARG if the last forward was
 * not a training forward, HS_ERR_BACKEND. */
HS_API hs_status hs_net_backward(hs_net *net, const float *dlogits);

/* Synchronized batch normalization for data parallelism: every replica (process) holds the
 * same network and trains on its own part of a batch. sum(buf, n, user) must replace the n
 * doubles of buf by their sums over all replicas, identical on every replica (e.g.
 * MPI_Allreduce with MPI_SUM), and return HS_OK (any other status fails the pass); every
 * replica's training forward and backward call it the same number of times in the same
 * order (once per batch norm layer each way). With it, a training forward normalizes with the
 * mean and variance of the union of the replicas' batches and updates the running statistics
 * with them (unbiased over the union's count), and backward differentiates through those
 * statistics. So if every replica's dlogits are its own rows of the gradient of one loss over
 * the union, the sum of the replicas' hs_net_grads() is the gradient of one network on the
 * union, up to rounding (the batch norm weight and bias gradients are this replica's parts
 * of the sums, like every other gradient). sum NULL: local statistics (the default).
 * Inference is unchanged. Replicas may hold different batch sizes. Errors: HS_ERR_NULL. */
typedef hs_status (*hs_net_sum_fn)(double *buf, size_t n, void *user);
HS_API hs_status hs_net_set_bn_sync(hs_net *net, hs_net_sum_fn sum, void *user);

/* How many of the oneDNN primitives created so far (all batch sizes and modes) are oneDNN's
 * reference implementations: correct, but 10-1000x slower than its optimized kernels. 0 for
 * conv_width a multiple of 8 on x86-64 CPUs with AVX2; other widths may get some. */
HS_API size_t hs_net_reference_kernels(const hs_net *net);

/* Number of threads used by oneDNN and the library's OpenMP loops (omp_set_num_threads);
 * n <= 0 keeps the runtime default. */
HS_API void hs_nn_set_threads(int n);

/* Adam with PyTorch's semantics (torch.optim.Adam, no weight decay, no amsgrad):
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). */
typedef struct hs_adam {
    double lr;      /* default 1e-4 (the paper) */
    double beta1;   /* 0.9 */
    double beta2;   /* 0.999 */
    double eps;     /* 1e-8 */
} hs_adam;

HS_API hs_adam hs_adam_default(void);
/* One step t (1-based: the first step is t = 1) on n elements: p, m, v updated in place.
 * Errors: HS_ERR_NULL, HS_ERR_ARG (t == 0, lr/betas/eps out of range). */
HS_API hs_status hs_adam_step(float *p, float *m, float *v, const float *g, size_t n,
                              const hs_adam *opt, uint64_t t);

#ifdef __cplusplus
}
#endif

#endif /* HYPERSIMPLEX_NN_H */
