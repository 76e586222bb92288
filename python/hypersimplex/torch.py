"""PyTorch layer: the C kernels as autograd Functions on CPU tensors.

    import torch
    from hypersimplex.torch import soft_binary_argmax, HyperSimplexLoss

    p = soft_binary_argmax(z, k=2.0, tau=0.5, dim=-1)     # differentiable in z (and k, tau)
    loss = HyperSimplexLoss(k_policy="count", tau=1.5)(logits, labels)

Tensors must live on the CPU and be float32 or float64; the forward and backward passes run
the C library's kernels (through the NumPy layer, without copying contiguous inputs).
"""

import numpy as np
import torch

import hypersimplex as _hs

__all__ = ["soft_binary_argmax", "SoftBinaryArgmax", "multiclass_loss", "binary_hypersimplex_loss",
           "CLossFunction", "HyperSimplexLoss"]


def _check_tensor(t, name):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"hypersimplex.torch runs the C kernels on CPU tensors only; {name} is on "
                         f"{t.device}. Move it with {name}.cpu() (and the result back with .to()).")
    if t.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be float32 or float64, got {t.dtype}")


def _np(t):
    """A NumPy view of a CPU tensor (no copy)."""
    return t.detach().numpy()


def _row_values(v, name):
    """k or tau: a Python number or a tensor of per-vector values -> what the NumPy layer takes."""
    if isinstance(v, torch.Tensor):
        if v.device.type != "cpu":
            raise ValueError(f"hypersimplex.torch runs on the CPU; {name} is on {v.device}")
        return v.detach().to(torch.float64).numpy()
    return v


def _free_weights(p, regularization):
    """w such that the Jacobian in x = z / tau is diag(w) - w w^T / sum(w) (on each vector):
    L2: the free set 1{0 < p < 1}; KL: p on {p < 1}; entropy: p (1 - p)."""
    if regularization == "l2":
        return ((p > 0) & (p < 1)).to(p.dtype)
    if regularization == "kl":
        return torch.where(p < 1, p, torch.zeros_like(p))
    return p * (1 - p)


class SoftBinaryArgmax(torch.autograd.Function):
    """Autograd Function behind soft_binary_argmax(); use that function."""

    @staticmethod
    def forward(ctx, z, k, tau, dim, regularization, solver, threads):
        _check_tensor(z, "z")
        p = _hs.soft_binary_argmax(_np(z), _row_values(k, "k"), _row_values(tau, "tau"), axis=dim,
                                   regularization=regularization, solver=solver, threads=threads)
        p = torch.from_numpy(p)
        ctx.dim, ctx.regularization, ctx.threads = dim, regularization, threads
        ctx.k_is_tensor = isinstance(k, torch.Tensor)
        ctx.tau_is_tensor = isinstance(tau, torch.Tensor)
        ctx.k_value = None if ctx.k_is_tensor else k
        ctx.tau_value = None if ctx.tau_is_tensor else tau
        saved = [p, k if ctx.k_is_tensor else None, tau if ctx.tau_is_tensor else None]
        saved.append(z if ctx.tau_is_tensor else None)
        ctx.save_for_backward(*saved)
        return p

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_p):
        p, k_t, tau_t, z = ctx.saved_tensors
        k = k_t if ctx.k_is_tensor else ctx.k_value
        tau = tau_t if ctx.tau_is_tensor else ctx.tau_value
        grad_z = grad_k = grad_tau = None
        g = grad_p.to(p.dtype)
        need_z, need_k, need_tau = ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        dz = None
        if need_z or need_tau:
            dz = torch.from_numpy(_hs.soft_binary_argmax_vjp(
                _np(p), _np(g), _row_values(k, "k"), _row_values(tau, "tau"), axis=ctx.dim,
                regularization=ctx.regularization, threads=ctx.threads))
        if need_z:
            grad_z = dz
        if need_tau:
            # p = P(z / tau): d/dtau = J_x (-z / tau^2), so grad_tau = -<dz, z> / tau per vector.
            per_vec = -(dz * z.detach().to(dz.dtype)).sum(dim=ctx.dim)
            grad_tau = _reduce_like(per_vec / tau_t.detach().to(dz.dtype), tau_t)
        if need_k:
            # Raising k moves p along w / sum(w) (the threshold shifts): grad_k = <w, g> / sum(w).
            w = _free_weights(p, ctx.regularization)
            sw = w.sum(dim=ctx.dim)
            per_vec = torch.where(sw > 0, (w * g).sum(dim=ctx.dim) / sw.clamp_min(1e-300),
                                  torch.zeros_like(sw))
            grad_k = _reduce_like(per_vec, k_t)
        return grad_z, grad_k, grad_tau, None, None, None, None


def _reduce_like(per_vec, target):
    """Sums a per-vector gradient (batch shape) down to the shape of a broadcast k or tau."""
    g = per_vec
    while g.dim() > target.dim():
        g = g.sum(dim=0)
    for i, size in enumerate(target.shape):
        if size == 1 and g.shape[i] != 1:
            g = g.sum(dim=i, keepdim=True)
    return g.to(target.dtype)


def soft_binary_argmax(z, k, tau=1.0, dim=-1, regularization="l2", solver="fast", threads=0):
    """Soft-binary-argmax@k of z / tau along `dim` (projection onto the (n, k)-hypersimplex),
    differentiable. z: CPU float32/float64 tensor of any shape. k, tau: numbers, or tensors
    broadcasting to z's shape without `dim` (one value per vector; gradients flow to them
    too if they require grad). regularization: "l2" | "kl" | "entropy"."""
    if regularization not in _hs.REGULARIZATIONS:
        raise ValueError(f"unknown regularization {regularization!r}; expected one of "
                         f"{sorted(_hs.REGULARIZATIONS)}")
    return SoftBinaryArgmax.apply(z, k, tau, dim, regularization, solver, threads)


class CLossFunction(torch.autograd.Function):
    """Autograd Function for the losses: `compute(x, grad)` (a NumPy array and a flag) calls
    the C library, which returns the loss value and, if grad, d loss / d x in one call;
    backward scales the saved gradient by grad_output."""

    @staticmethod
    def forward(ctx, x, compute):
        need = ctx.needs_input_grad[0]
        loss, dx = compute(_np(x), need)
        if need:
            ctx.save_for_backward(torch.from_numpy(dx))
        return torch.tensor(loss, dtype=x.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss):
        (dx,) = ctx.saved_tensors
        return grad_loss.to(dx.dtype) * dx, None


def _cpu_array(v):
    if isinstance(v, torch.Tensor):
        if v.device.type != "cpu":
            raise ValueError(f"hypersimplex.torch runs on the CPU; got a tensor on {v.device}")
        return v.detach().to(torch.float64).numpy()
    return v


def _labels_array(labels, name):
    if not isinstance(labels, torch.Tensor):
        return np.asarray(labels)
    if labels.device.type != "cpu":
        raise ValueError(f"hypersimplex.torch runs on the CPU; {name} is on {labels.device}")
    return labels.detach().numpy()


def multiclass_loss(logits, labels, kind="hypersimplex", tau=None, k_policy=None,
                    class_prior=None, regularization=None, reduction=None, threads=None):
    """A multiclass loss of (B, C) logits and (B) integer labels -> scalar tensor,
    differentiable in logits. kind: "hypersimplex" | "cross_entropy" | "hinge" | "mse".
    Options as in hypersimplex.multiclass_loss (None keeps the C library's default)."""
    _check_tensor(logits, "logits")
    lab = _labels_array(labels, "labels")
    if lab.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers, got {labels.dtype}")
    tau, class_prior = _cpu_array(tau), _cpu_array(class_prior)

    def compute(x, grad):
        return _hs.multiclass_loss(x, lab, kind=kind, tau=tau, k_policy=k_policy,
                                   class_prior=class_prior, regularization=regularization,
                                   reduction=reduction, threads=threads, grad=grad)

    return CLossFunction.apply(logits, compute)


def binary_hypersimplex_loss(z, y, tau=None, k_policy=None, class_prior=None, regularization=None,
                             reduction=None, threads=None):
    """The binary HyperSimplex loss of (n) scores and (n) 0/1 targets -> scalar tensor,
    differentiable in z. Options as in hypersimplex.binary_loss."""
    _check_tensor(z, "z")
    target = _labels_array(y, "y")
    class_prior = _cpu_array(class_prior)

    def compute(x, grad):
        return _hs.binary_loss(x, target, tau=tau, k_policy=k_policy, class_prior=class_prior,
                               regularization=regularization, reduction=reduction,
                               threads=threads, grad=grad)

    return CLossFunction.apply(z, compute)


class HyperSimplexLoss(torch.nn.Module):
    """The HyperSimplex loss (multiclass): for each class c, the column logits[:, c] / tau_c of
    the batch is projected onto the (B, k_c)-hypersimplex and compared with the one-hot labels
    by squared error, averaged over the B x C entries (reduction="mean") or summed ("sum").

    k_policy: "count" (k_c = number of labels c in the batch, the default), "prior"
        (k_c = B * prior[c], prior the class frequencies of the training labels, length C; see
        hypersimplex.class_prior_from_labels), or "fraction:P" (k_c = floor(P * B); the
        authors' released code corresponds to "fraction:0.5").
    tau: temperature, a number or a sequence of C per-class values (default 1.5, the C
        library's default).
    regularization: "l2" (the paper's operator), "kl" or "entropy".
    threads: OpenMP threads over the C columns (default: the C library's, 1).
    Inputs: logits (B, C) float32/float64 CPU tensor, labels (B) integer tensor.
    """

    def __init__(self, k_policy="count", tau=1.5, prior=None, regularization="l2",
                 reduction="mean", threads=None):
        super().__init__()
        _hs.parse_k_policy(k_policy)  # fail early, with the C library's message
        if regularization not in _hs.REGULARIZATIONS:
            raise ValueError(f"unknown regularization {regularization!r}; expected one of "
                             f"{sorted(_hs.REGULARIZATIONS)}")
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.k_policy = k_policy
        self.regularization = regularization
        self.reduction = reduction
        self.threads = threads
        self.tau = float(tau) if np.ndim(tau) == 0 else tuple(float(t) for t in np.ravel(tau))
        if prior is not None:
            self.register_buffer("prior", torch.as_tensor(prior, dtype=torch.float64).clone())
        else:
            self.prior = None

    def forward(self, logits, labels):
        return multiclass_loss(logits, labels, kind="hypersimplex", tau=self.tau,
                               k_policy=self.k_policy, class_prior=self.prior,
                               regularization=self.regularization, reduction=self.reduction,
                               threads=self.threads)

    def extra_repr(self):
        return (f"k_policy={self.k_policy!r}, tau={self.tau}, "
                f"regularization={self.regularization!r}, reduction={self.reduction!r}")
