"""PyTorch layer: the operator and the HyperSimplex loss as autograd Functions, on any device.

    import torch
    from hypersimplex.torch import soft_binary_argmax, HyperSimplexLoss

    p = soft_binary_argmax(z, k=2.0, tau=0.5, dim=-1)     # differentiable in z (and k, tau)
    loss_fn = HyperSimplexLoss(k_policy="count", tau=1.5)
    loss = loss_fn(logits, labels)                        # training mode tracks thresholds
    predicted = loss_fn.predict(logits)                   # argmax_c (z_c / tau_c - theta_c)

CPU tensors run the C library's kernels (through the NumPy layer, without copying
contiguous inputs); tensors on any other device run the same exact projection written in
PyTorch operations (hypersimplex/torch_device.py). `backend="c"` or `"torch"` forces one
(the tests force the PyTorch one on the CPU). float32 and float64 are computed as they are,
float16 and bfloat16 in float32 with the result returned in the input's dtype. Gradients are
first order only: differentiating a gradient again (create_graph=True) raises a clear error.
TorchScript and tracing are not supported and say so.
"""

import functools
import math

import numpy as np
import torch
from torch._C import _functions as _torch_functions

import hypersimplex as _hs
from . import torch_device as _dev

__all__ = ["soft_binary_argmax", "SoftBinaryArgmax", "hypersimplex_loss", "HyperSimplexLoss",
           "predict_with_thresholds", "multiclass_loss", "binary_hypersimplex_loss",
           "CLossFunction", "BACKENDS", "REDUCTIONS"]

#: backend names: "auto" (C for CPU tensors, PyTorch operations elsewhere), "c", "torch".
BACKENDS = ("auto", "c", "torch")
#: reductions of the HyperSimplex loss, as in torch.nn losses.
REDUCTIONS = ("mean", "sum", "none")

_HALF = (torch.float16, torch.bfloat16)
_HS_ERR_SIZE, _HS_ERR_K, _HS_ERR_TAU, _HS_ERR_NONFINITE = 2, 3, 4, 5

_DOUBLE_BACKWARD_MESSAGE = (
    b"hypersimplex: second derivatives are not supported. The backward pass of the projection "
    b"is first order only (once_differentiable): its Jacobian is piecewise constant, so the "
    b"second derivative is zero almost everywhere and undefined where a coordinate changes "
    b"between 0, free and 1. Compute gradients without create_graph=True through it.")


def _first_order_only(backward):
    """torch.autograd.function.once_differentiable, with a clear message, and also when the
    incoming gradient does not require grad (there once_differentiable returns plain tensors,
    and differentiating them fails with 'element 0 of tensors does not require grad')."""
    inner = torch.autograd.function.once_differentiable(backward)

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        outputs = inner(ctx, *grads)
        if not torch.is_grad_enabled():
            return outputs
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)

        def fake_requires_grad(v):
            if v is None:
                return None
            v = v.detach()
            v.requires_grad = True
            return v

        err = _torch_functions.DelayedError(_DOUBLE_BACKWARD_MESSAGE, len(outputs))
        return err(*[fake_requires_grad(v) for v in outputs])

    return wrapper


def _no_tracing(what):
    if torch.jit.is_tracing():
        raise RuntimeError(
            f"hypersimplex.torch.{what} cannot be traced with torch.jit.trace: on the CPU it calls "
            "the C library through NumPy, and on other devices it is a Python autograd Function, "
            "neither of which a trace can record or export. Trace or script the model without "
            "the loss and apply the loss in Python.")


def _resolve_backend(backend, device):
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "c" if device.type == "cpu" else "torch"
    if backend == "c" and device.type != "cpu":
        raise ValueError(f"backend='c' runs the C library on CPU tensors only; the input is on "
                         f"{device}. Use backend='auto' or 'torch' for other devices.")
    return backend


def _check_float(t, name):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point() or t.is_complex():
        raise TypeError(f"{name} must be float32, float64, float16 or bfloat16, got {t.dtype}")


def _compute_dtype(dtype):
    """float16/bfloat16 are computed in float32."""
    return torch.float32 if dtype in _HALF else dtype


def _np(t):
    """A NumPy view of a CPU tensor (no copy)."""
    return t.detach().numpy()


def _row_values(v):
    """k or tau: a Python number or a tensor of per-vector values -> what the NumPy layer takes."""
    if isinstance(v, torch.Tensor):
        return v.detach().to(device="cpu", dtype=torch.float64).numpy()
    return v


def _free_weights(p, regularization):
    """w such that the Jacobian in x = z / tau is diag(w) - w w^T / sum(w) (on each vector):
    L2: the free set 1{0 < p < 1}; KL: p on {p < 1}; entropy: p (1 - p)."""
    if regularization == "l2":
        return ((p > 0) & (p < 1)).to(p.dtype)
    if regularization == "kl":
        return torch.where(p < 1, p, torch.zeros_like(p))
    return p * (1 - p)


def _centered_flat_thresholds(p, x, theta, flat):
    """The C library may answer any point of a flat root's interval (no free coordinate: the
    rows where `flat`); this puts such thresholds at the middle of [largest x at 0, smallest
    x at 1 minus 1], as the PyTorch backend does, so both backends report the same theta.
    p, x: (R, n) rows; theta, flat: (R,)."""
    hi_zero = torch.where(p == 0, x, torch.full_like(x, -np.inf)).amax(dim=1)
    lo_one = torch.where(p == 1, x, torch.full_like(x, np.inf)).amin(dim=1) - 1
    mid = torch.where(torch.isinf(hi_zero), lo_one,
                      torch.where(torch.isinf(lo_one), hi_zero, 0.5 * (hi_zero + lo_one)))
    return torch.where(flat, mid, theta)


class _Rows:
    """The operator's dim moved last (`moved`, a view) and flattened to (R, n) rows, with k
    and tau as (R,) per-row tensors."""

    def __init__(self, z, dim):
        self.dim = dim
        self.shape = z.movedim(dim, -1).shape
        self.n = self.shape[-1]
        self.batch = self.shape[:-1]

    def moved(self, t):
        return t.movedim(self.dim, -1)

    def rows(self, t):
        return self.moved(t).reshape(-1, self.n)

    def back(self, m):
        """A tensor in the moved shape (or rows), dim put back where the caller had it."""
        return m.reshape(self.shape).movedim(-1, self.dim)

    def per_row(self, v, device, name):
        v = v.detach() if isinstance(v, torch.Tensor) else v
        t = torch.as_tensor(v, dtype=_dev.accumulation_dtype(device), device=device)
        try:
            return t.broadcast_to(self.batch).reshape(-1)
        except RuntimeError:
            raise ValueError(f"{name} of shape {tuple(t.shape)} does not broadcast to the batch "
                             f"shape {tuple(self.batch)} (the input's shape without dim)") from None


def _check_device_inputs(z, k, tau, n):
    """The checks the C library makes, for the PyTorch backend (one device sync). z: (R, n)."""
    x_max = z.abs().amax(dim=1).to(tau.dtype) / tau
    bad = torch.stack([~torch.isfinite(k).all() | (k < 0).any() | (k > n).any(),
                       ~torch.isfinite(tau).all() | (tau <= 0).any(),
                       ~torch.isfinite(x_max).all()]).tolist()
    if bad[0]:
        raise _hs.HypersimplexError(_HS_ERR_K, f"k must be finite and in [0, n = {n}]; got values "
                                               f"in [{k.min().item()}, {k.max().item()}]")
    if bad[1]:
        raise _hs.HypersimplexError(_HS_ERR_TAU, "tau must be finite and > 0; got minimum "
                                                 f"{tau.min().item()}")
    if bad[2]:
        raise _hs.HypersimplexError(_HS_ERR_NONFINITE, "z has NaN or infinite values, or z / tau "
                                                       "overflows")


def _project_c(z_moved, k, tau, lay, regularization, solver, threads):
    """C backend on rows made contiguous (the C kernels run much faster on contiguous rows
    than on strided columns, more than the copy costs). Returns p (moved shape), theta (R,)."""
    zc = z_moved.contiguous()
    p, theta, n_free = _hs.soft_binary_argmax(
        _np(zc), _row_values(k), _row_values(tau), axis=-1, regularization=regularization,
        solver=solver, threads=threads, return_info=True)
    p, theta = torch.from_numpy(p), torch.from_numpy(theta).reshape(-1)
    flat = torch.from_numpy(n_free == 0).reshape(-1)
    if regularization == "l2" and bool(flat.any()):
        x = zc.reshape(-1, lay.n).to(torch.float64) / lay.per_row(tau, zc.device, "tau").reshape(-1, 1)
        theta = _centered_flat_thresholds(p.reshape(-1, lay.n), x, theta, flat)
    return p, theta


def _project_torch(z_moved, k, tau, lay, regularization, solver):
    """PyTorch backend: exact projection in torch operations (hypersimplex/torch_device.py)."""
    if regularization != "l2":
        raise ValueError(f"regularization {regularization!r} runs on the C backend (CPU tensors) "
                         "only; the PyTorch backend implements 'l2'")
    if solver != "fast":
        raise ValueError("solver='sort_pav' is the C library's reference solver (CPU tensors only)")
    device = z_moved.device
    if lay.n == 0 and math.prod(lay.batch) > 0:
        raise _hs.HypersimplexError(_HS_ERR_SIZE, "n must be >= 1 (the hypersimplex of an empty "
                                                  "vector is empty)")
    if z_moved.numel() == 0:
        return torch.empty_like(z_moved), torch.empty(math.prod(lay.batch), dtype=torch.float64,
                                                       device=device)
    rows = z_moved.reshape(-1, lay.n)
    k_r = lay.per_row(k, device, "k")
    t_r = lay.per_row(tau, device, "tau")
    _check_device_inputs(rows, k_r, t_r, lay.n)
    p_r, theta = _dev.project_rows(rows, k_r, t_r)
    return p_r.reshape(lay.shape), theta


class SoftBinaryArgmax(torch.autograd.Function):
    """Autograd Function behind soft_binary_argmax(); use that function. Returns (p, theta);
    theta (the per-vector threshold, float64 in the batch shape) is not differentiable."""

    @staticmethod
    def forward(ctx, z, k, tau, dim, regularization, solver, threads, backend):
        ctx.backend = _resolve_backend(backend, z.device)
        ctx.regularization, ctx.threads = regularization, threads
        lay = ctx.lay = _Rows(z, dim)
        if ctx.backend == "c":
            if z.dtype not in (torch.float32, torch.float64):
                raise TypeError(f"z must be float32 or float64 for the C backend, got {z.dtype}")
            p_m, theta = _project_c(lay.moved(z.detach()), k, tau, lay, regularization, solver,
                                    threads)
        else:
            p_m, theta = _project_torch(lay.moved(z.detach()), k, tau, lay, regularization, solver)
        ctx.k_is_tensor = isinstance(k, torch.Tensor)
        ctx.tau_is_tensor = isinstance(tau, torch.Tensor)
        ctx.k_value = None if ctx.k_is_tensor else k
        ctx.tau_value = None if ctx.tau_is_tensor else tau
        saved = [p_m, k if ctx.k_is_tensor else None, tau if ctx.tau_is_tensor else None]
        saved.append(z if ctx.tau_is_tensor else None)
        ctx.save_for_backward(*saved)
        theta = theta.reshape(lay.batch)
        ctx.mark_non_differentiable(theta)
        return lay.back(p_m), theta

    @staticmethod
    @_first_order_only
    def backward(ctx, grad_p, grad_theta):
        p_m, k_t, tau_t, z = ctx.saved_tensors
        lay = ctx.lay
        k = k_t if ctx.k_is_tensor else ctx.k_value
        tau = tau_t if ctx.tau_is_tensor else ctx.tau_value
        grad_z = grad_k = grad_tau = None
        g_m = lay.moved(grad_p.to(p_m.dtype))
        need_z, need_k, need_tau = ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        dz_m = None
        if need_z or need_tau:
            if ctx.backend == "c":
                dz_m = torch.from_numpy(_hs.soft_binary_argmax_vjp(
                    _np(p_m), _np(g_m.contiguous()), _row_values(k), _row_values(tau), axis=-1,
                    regularization=ctx.regularization, threads=ctx.threads))
            else:
                t_r = lay.per_row(tau, p_m.device, "tau").reshape(-1, 1)
                dz_m = _dev.vjp_rows(p_m.reshape(-1, lay.n), g_m.reshape(-1, lay.n),
                                     t_r).reshape(lay.shape)
        if need_z:
            grad_z = lay.back(dz_m)
        if need_tau:
            # p = P(z / tau): d/dtau = J_x (-z / tau^2), so grad_tau = -<dz, z> / tau per vector.
            per_vec = -(dz_m * lay.moved(z.detach()).to(dz_m.dtype)).sum(dim=-1)
            grad_tau = _reduce_like(per_vec / tau_t.detach().to(dz_m.dtype), tau_t)
        if need_k:
            # Raising k moves p along w / sum(w) (the threshold shifts): grad_k = <w, g> / sum(w).
            w = _free_weights(p_m, ctx.regularization)
            sw = w.sum(dim=-1)
            per_vec = torch.where(sw > 0, (w * g_m).sum(dim=-1) / sw.clamp_min(1e-300),
                                  torch.zeros_like(sw))
            grad_k = _reduce_like(per_vec, k_t)
        return grad_z, grad_k, grad_tau, None, None, None, None, None


def _reduce_like(per_vec, target):
    """Sums a per-vector gradient (batch shape) down to the shape of a broadcast k or tau."""
    g = per_vec
    while g.dim() > target.dim():
        g = g.sum(dim=0)
    for i, size in enumerate(target.shape):
        if size == 1 and g.shape[i] != 1:
            g = g.sum(dim=i, keepdim=True)
    return g.to(target.dtype)


def soft_binary_argmax(z, k, tau=1.0, dim=-1, regularization="l2", solver="fast", threads=0,
                       backend="auto", return_threshold=False):
    """Soft-binary-argmax@k of z / tau along `dim` (projection onto the (n, k)-hypersimplex),
    differentiable. z: a float tensor of any shape on any device (float16/bfloat16 are
    computed in float32 and returned in their dtype). k, tau: numbers, or tensors broadcasting
    to z's shape without `dim` (one value per vector; gradients flow to them too if they
    require grad). regularization: "l2" | "kl" | "entropy" (kl and entropy: C backend only).
    backend: "auto" (C for CPU tensors, PyTorch operations elsewhere), "c" or "torch".
    return_threshold: also return theta (float64, z's shape without dim), with
    p = clip(z / tau - theta, 0, 1) for L2 (the middle of the interval when it is flat)."""
    _no_tracing("soft_binary_argmax")
    _check_float(z, "z")
    if regularization not in _hs.REGULARIZATIONS:
        raise ValueError(f"unknown regularization {regularization!r}; expected one of "
                         f"{sorted(_hs.REGULARIZATIONS)}")
    if z.dim() == 0:
        raise ValueError("z must have at least one dimension, got a scalar")
    dim = _check_dim(dim, z.dim())
    work = z.to(_compute_dtype(z.dtype))
    p, theta = SoftBinaryArgmax.apply(work, k, tau, dim, regularization, solver, threads, backend)
    p = p.to(z.dtype)
    return (p, theta) if return_threshold else p


def _check_dim(dim, ndim):
    if not isinstance(dim, int) or not -ndim <= dim < ndim:
        raise ValueError(f"dim {dim!r} is invalid for a tensor of {ndim} dimensions")
    return dim % ndim


# ---------------------------------------------------------------------------------------------
# The multiclass HyperSimplex loss
# ---------------------------------------------------------------------------------------------

def _labels_cpu(labels, B):
    if not isinstance(labels, torch.Tensor):
        labels = torch.as_tensor(np.asarray(labels))
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer tensor, got {labels.dtype}")
    if labels.shape != (B,):
        raise ValueError(f"labels must have shape ({B},), got {tuple(labels.shape)}")
    return labels


def _class_tau(tau, C):
    t = np.asarray(tau.detach().cpu() if isinstance(tau, torch.Tensor) else tau, dtype=np.float64)
    if t.ndim == 0:
        return float(t)
    if t.shape != (C,):
        raise ValueError(f"tau must be a number or have shape ({C},), got {t.shape}")
    return t


def _class_vector(v, C, name):
    if v is None:
        return None
    t = torch.as_tensor(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=torch.float64)
    if t.shape != (C,):
        raise ValueError(f"{name} must have shape ({C},), got {tuple(t.shape)}")
    return t


def hypersimplex_loss(logits, labels, tau=1.5, k_policy="count", prior=None, weight=None,
                      regularization="l2", reduction="mean", backend="auto", threads=None,
                      return_thresholds=False):
    """The multiclass HyperSimplex loss, functional form of HyperSimplexLoss.

    logits: (B, C) float tensor on any device; labels: (B) integer tensor.
    For every class c, P[:, c] = projection of logits[:, c] / tau_c onto the
    (B, k_c)-hypersimplex (k_c from k_policy: "count", "prior" with prior=, "fraction:P"), and
    example i's loss is l_i = sum_c (P[i, c] - onehot(y_i)[c])^2.
    weight: optional (C) class weights; example i counts with weight[y_i].
    reduction: "mean" = sum_i w_i l_i / (C sum_i w_i) (the mean over the B x C entries, as the
    paper and the C library define it; w_i = 1 without weights), "sum" = sum_i w_i l_i, or
    "none": the (B) per-example losses w_i l_i (they depend on the whole batch through P).
    Returns the loss in logits' dtype; with return_thresholds=True also theta (C,) float64,
    the batch's threshold per class (p = clip(z / tau - theta, 0, 1)), and k (C,) float64.
    """
    _no_tracing("hypersimplex_loss")
    _check_float(logits, "logits")
    if logits.dim() != 2:
        raise ValueError(f"logits must be (B, C), got shape {tuple(logits.shape)}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    B, C = logits.shape
    labels = _labels_cpu(labels, B)
    tau_c = _class_tau(tau, C)
    prior_c = _class_vector(prior, C, "prior")
    weight_c = _class_vector(weight, C, "weight")
    # k_c by the C library's definition (it also validates the labels and the policy).
    k = _hs.class_k(labels.detach().cpu().numpy(), C, k_policy,
                    None if prior_c is None else prior_c.numpy())
    work = logits.to(_compute_dtype(logits.dtype))
    p, theta = SoftBinaryArgmax.apply(work, k, tau_c, 0, regularization, "fast",
                                      0 if threads is None else threads, backend)
    lab = labels.to(logits.device, torch.long)
    onehot = torch.nn.functional.one_hot(lab, C).to(p.dtype)
    per_example = ((p - onehot) ** 2).sum(dim=1)
    if weight_c is not None:
        w = weight_c.to(device=logits.device, dtype=p.dtype)[lab]
        per_example = per_example * w
        total_weight = w.sum()
    else:
        total_weight = B
    if reduction == "none":
        loss = per_example
    elif reduction == "sum":
        loss = per_example.sum()
    else:
        loss = per_example.sum() / (C * total_weight)
    loss = loss.to(logits.dtype)
    return (loss, theta, torch.from_numpy(k)) if return_thresholds else loss


def predict_with_thresholds(logits, thresholds, tau=1.5):
    """The decision rule that matches the HyperSimplex loss: argmax_c (z_c / tau_c - theta_c).
    logits (B, C), thresholds (C) (e.g. HyperSimplexLoss.running_threshold), tau a number or
    (C). The loss is unchanged when a constant b_c is added to logit column c (theta_c absorbs
    b_c / tau_c), so the plain argmax over logits is partly arbitrary; this rule is not."""
    _check_float(logits, "logits")
    if logits.dim() != 2:
        raise ValueError(f"logits must be (B, C), got shape {tuple(logits.shape)}")
    C = logits.shape[1]
    dtype = _compute_dtype(logits.dtype)
    theta = torch.as_tensor(thresholds).to(device=logits.device, dtype=dtype)
    if theta.shape != (C,):
        raise ValueError(f"thresholds must have shape ({C},), got {tuple(theta.shape)}")
    t = torch.as_tensor(_class_tau(tau, C)).to(device=logits.device, dtype=dtype)
    return (logits.to(dtype) / t - theta).argmax(dim=1)


class HyperSimplexLoss(torch.nn.Module):
    """The multiclass HyperSimplex loss: for each class c, the column logits[:, c] / tau_c of
    the batch is projected onto the (B, k_c)-hypersimplex and compared with the one-hot
    labels by squared error (see hypersimplex_loss for the exact reductions).

    k_policy: "count" (k_c = number of labels c in the batch, the default), "prior"
        (k_c = B * prior[c], prior the class frequencies of the training labels, length C; see
        hypersimplex.class_prior_from_labels), or "fraction:P" (k_c = floor(P * B); the
        authors' released code corresponds to "fraction:0.5").
    tau: temperature, a number or a sequence of C per-class values (default 1.5).
    weight: optional class weights (C), as in torch.nn.CrossEntropyLoss.
    reduction: "mean" (default) | "sum" | "none".
    momentum: of the running thresholds (default 0.1, as batch norm); None = cumulative mean.
    num_classes: C, if known (else taken from tau, prior, weight, or the first batch).
    backend: "auto" (C for CPU tensors, PyTorch operations elsewhere), "c" or "torch".
    threads: OpenMP threads over the C columns (C backend; default: the runtime's).

    Decision rule: in training mode each forward also records the batch's threshold theta_c of
    every class (p = clip(z_c / tau_c - theta_c, 0, 1)) in the buffer running_threshold (C):
    a class's first recorded batch sets it, later ones move it by
    running += momentum * (theta - running). Classes with k_c = 0 or k_c = B in a batch (their
    threshold is not determined) are not updated; threshold_batches (C) counts the updates.
    Both are buffers, so they are in state_dict(). predict(logits) returns
    argmax_c (z_c / tau_c - running_threshold_c), the rule the loss trains for.
    """

    def __init__(self, k_policy="count", tau=1.5, prior=None, regularization="l2",
                 reduction="mean", threads=None, weight=None, momentum=0.1, num_classes=None,
                 backend="auto"):
        super().__init__()
        _hs.parse_k_policy(k_policy)  # fail early, with the C library's message
        if regularization not in _hs.REGULARIZATIONS:
            raise ValueError(f"unknown regularization {regularization!r}; expected one of "
                             f"{sorted(_hs.REGULARIZATIONS)}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if momentum is not None and not 0.0 < float(momentum) <= 1.0:
            raise ValueError(f"momentum must be in (0, 1] or None, got {momentum!r}")
        self.k_policy = k_policy
        self.regularization = regularization
        self.reduction = reduction
        self.threads = threads
        self.backend = backend
        self.momentum = None if momentum is None else float(momentum)
        self.tau = float(tau) if np.ndim(tau) == 0 else tuple(float(t) for t in np.ravel(tau))
        sizes = {len(v) for v in (self.tau if isinstance(self.tau, tuple) else None, prior, weight)
                 if v is not None}
        if num_classes is not None:
            sizes.add(int(num_classes))
        if len(sizes) > 1:
            raise ValueError(f"tau, prior, weight and num_classes disagree on the number of "
                             f"classes: {sorted(sizes)}")
        C = sizes.pop() if sizes else 0
        for name, v in (("prior", prior), ("weight", weight)):
            if v is None:
                setattr(self, name, None)
            else:
                self.register_buffer(name, _class_vector(v, C, name).clone())
        # C unknown until the first batch: zero-length buffers, sized by the first update or
        # by load_state_dict.
        self.register_buffer("running_threshold", torch.zeros(C, dtype=torch.float32))
        self.register_buffer("threshold_batches", torch.zeros(C, dtype=torch.long))

    def forward(self, logits, labels):
        loss, theta, k = hypersimplex_loss(
            logits, labels, tau=self.tau, k_policy=self.k_policy, prior=self.prior,
            weight=self.weight, regularization=self.regularization, reduction=self.reduction,
            backend=self.backend, threads=self.threads, return_thresholds=True)
        if self.training:
            self._update_thresholds(theta, k, logits.shape[0])
        return loss

    @torch.no_grad()
    def _update_thresholds(self, theta, k, B):
        C = theta.shape[0]
        if self.running_threshold.numel() == 0:
            dev = self.running_threshold.device
            self.running_threshold = torch.zeros(C, dtype=self.running_threshold.dtype, device=dev)
            self.threshold_batches = torch.zeros(C, dtype=torch.long, device=dev)
        if self.running_threshold.shape != (C,):
            raise ValueError(f"this loss tracks thresholds for {self.running_threshold.shape[0]} "
                             f"classes, the logits have {C}")
        run, count = self.running_threshold, self.threshold_batches
        valid = ((k > 0) & (k < B)).to(run.device)
        t = theta.to(device=run.device, dtype=run.dtype)
        if self.momentum is None:
            factor = 1.0 / (count + 1).to(run.dtype)
        else:
            factor = torch.full_like(run, self.momentum)
        factor = torch.where(count == 0, torch.ones_like(run), factor)
        run.copy_(torch.where(valid, run + factor * (t - run), run))
        count.add_(valid.to(count.dtype))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # A loss built without knowing C has zero-length buffers: take the saved size.
        for name in ("running_threshold", "threshold_batches"):
            key = prefix + name
            mine = getattr(self, name)
            if key in state_dict and mine.numel() == 0 and state_dict[key].dim() == 1:
                setattr(self, name, torch.zeros_like(state_dict[key], dtype=mine.dtype,
                                                     device=mine.device))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def decision_scores(self, logits):
        """z_c / tau_c - running_threshold_c (B, C): what predict() takes the argmax of."""
        untracked = (self.threshold_batches == 0).nonzero().reshape(-1).tolist()
        if self.running_threshold.numel() == 0 or untracked:
            raise RuntimeError(
                "HyperSimplexLoss.predict needs the running thresholds of every class, recorded "
                "by forward() in training mode; "
                + ("none were recorded yet" if self.running_threshold.numel() == 0 else
                   f"classes {untracked} had no batch with 0 < k_c < B yet"))
        _check_float(logits, "logits")
        dtype = _compute_dtype(logits.dtype)
        theta = self.running_threshold.to(device=logits.device, dtype=dtype)
        C = theta.shape[0]
        if logits.dim() != 2 or logits.shape[1] != C:
            raise ValueError(f"logits must be (B, {C}), got shape {tuple(logits.shape)}")
        tau = torch.as_tensor(_class_tau(self.tau, C)).to(device=logits.device, dtype=dtype)
        return logits.to(dtype) / tau - theta

    def predict(self, logits):
        """argmax_c (z_c / tau_c - theta_c) with the running thresholds: (B) class indices."""
        return self.decision_scores(logits).argmax(dim=1)

    def __prepare_scriptable__(self):
        raise RuntimeError(
            "HyperSimplexLoss cannot be compiled by TorchScript (torch.jit.script): it calls the "
            "C library through NumPy and a Python autograd Function. Script the model alone and "
            "apply the loss in Python; predict() is z / tau - running_threshold, then argmax, "
            "which a scripted model can compute from the saved buffer.")

    def extra_repr(self):
        parts = [f"k_policy={self.k_policy!r}", f"tau={self.tau}",
                 f"regularization={self.regularization!r}", f"reduction={self.reduction!r}",
                 f"momentum={self.momentum}", f"backend={self.backend!r}"]
        if self.weight is not None:
            parts.append(f"weight={self.weight.tolist()}")
        if self.running_threshold.numel():
            parts.append(f"num_classes={self.running_threshold.numel()}")
        return ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# The C library's one-call losses (CPU): the baselines and the binary loss
# ---------------------------------------------------------------------------------------------

class CLossFunction(torch.autograd.Function):
    """Autograd Function for the C losses: `compute(x, grad)` (a NumPy array and a flag) calls
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
    @_first_order_only
    def backward(ctx, grad_loss):
        (dx,) = ctx.saved_tensors
        return grad_loss.to(dx.dtype) * dx, None


def _check_cpu(t, name, what):
    if isinstance(t, torch.Tensor) and t.device.type != "cpu":
        raise ValueError(f"{what} runs the C library on CPU tensors only; {name} is on {t.device}. "
                         "For the HyperSimplex loss on other devices use hypersimplex_loss or "
                         "HyperSimplexLoss.")


def _cpu_array(v):
    if isinstance(v, torch.Tensor):
        _check_cpu(v, "an option tensor", "this loss")
        return v.detach().to(torch.float64).numpy()
    return v


def _labels_array(labels, name, what):
    if not isinstance(labels, torch.Tensor):
        return np.asarray(labels)
    _check_cpu(labels, name, what)
    return labels.detach().numpy()


def _c_input(x, name, what):
    _no_tracing(what)
    _check_float(x, name)
    _check_cpu(x, name, what)
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{what} takes float32 or float64 {name}, got {x.dtype}; "
                        "hypersimplex_loss computes float16/bfloat16 in float32")


def multiclass_loss(logits, labels, kind="hypersimplex", tau=None, k_policy=None,
                    class_prior=None, regularization=None, reduction=None, threads=None):
    """The C library's multiclass losses of (B, C) CPU logits and (B) integer labels in one
    call -> scalar tensor, differentiable in logits. kind: "hypersimplex" | "cross_entropy" |
    "hinge" | "mse". Options as in hypersimplex.multiclass_loss (None keeps the C library's
    default; reduction "mean" or "sum"). For devices, reduction="none" and class weights use
    hypersimplex_loss / HyperSimplexLoss."""
    _c_input(logits, "logits", "multiclass_loss")
    lab = _labels_array(labels, "labels", "multiclass_loss")
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
    """The binary HyperSimplex loss of (n) CPU scores and (n) 0/1 targets -> scalar tensor,
    differentiable in z. Options as in hypersimplex.binary_loss."""
    _c_input(z, "z", "binary_hypersimplex_loss")
    target = _labels_array(y, "y", "binary_hypersimplex_loss")
    class_prior = _cpu_array(class_prior)

    def compute(x, grad):
        return _hs.binary_loss(x, target, tau=tau, k_policy=k_policy, class_prior=class_prior,
                               regularization=regularization, reduction=reduction,
                               threads=threads, grad=grad)

    return CLossFunction.apply(z, compute)
