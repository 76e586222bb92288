"""hypersimplex: the soft-binary-argmax@k operator and the HyperSimplex loss on NumPy arrays.

A thin Pythonic layer over the C library (see hypersimplex/_lib.py for where the shared
library is looked for). Every function accepts float32 and float64 arrays (other real dtypes
are converted to float64), returns arrays of the input's dtype, and raises `HypersimplexError`
(a ValueError) carrying the C library's message when the C library rejects the input.

The PyTorch layer is in `hypersimplex.torch` (imported separately, so that NumPy users do not
need torch).
"""

import ctypes
import math

import numpy as np

from . import _lib
from ._lib import HsLossOpts, HsProj, library_path

__all__ = [
    "HypersimplexError", "HsProj", "HsLossOpts", "library_path", "version", "status_string", "last_error",
    "REGULARIZATIONS", "SOLVERS", "LOSS_KINDS", "K_POLICIES",
    "make_proj", "proj_check",
    "soft_binary_argmax", "soft_binary_argmax_vjp", "soft_binary_argmax_jvp",
    "parse_loss_kind", "loss_kind_name", "parse_k_policy", "k_policy_name", "loss_opts_default",
    "multiclass_loss", "binary_loss", "class_k", "class_prior_from_labels",
]

__version__ = "0.1.0"

#: hs_regularization values by name.
REGULARIZATIONS = {"l2": 0, "kl": 1, "entropy": 2}
#: hs_solver values by name (the L2 operator only; the variants have one exact solver each).
SOLVERS = {"fast": 0, "sort_pav": 1}
#: hs_loss_kind values by name (the names of the command line and the result CSVs).
LOSS_KINDS = {"cross_entropy": 0, "hinge": 1, "mse": 2, "hypersimplex": 3}
#: hs_k_policy values by name.
K_POLICIES = {"count": 0, "prior": 1, "fraction": 2}

_HS_ERR_NOMEM = 8


class HypersimplexError(ValueError):
    """The C library rejected an input. `status` is the hs_status code, `status_string` its
    fixed description; str(e) is the library's detailed message (hs_last_error())."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.status_string = status_string(status)


def version():
    """Version of the loaded C library, e.g. "0.1.0"."""
    return _lib.lib.hs_version().decode()


def status_string(status):
    """Fixed description of an hs_status code."""
    return _lib.lib.hs_status_string(int(status)).decode()


def last_error():
    """Detailed message of the last failing C call in this thread ("" if none)."""
    return _lib.lib.hs_last_error().decode()


def _check(status):
    if status == 0:
        return
    message = last_error() or status_string(status)
    if status == _HS_ERR_NOMEM:
        raise MemoryError(message)
    raise HypersimplexError(status, message)


def _need(name):
    fn = getattr(_lib.lib, name, None) if name not in _lib.missing else None
    if fn is None:
        raise RuntimeError(f"{library_path} has no {name}: it was built without that layer")
    return fn


def _enum(table, value, what):
    if isinstance(value, str):
        try:
            return table[value.lower()]
        except KeyError:
            raise ValueError(f"unknown {what} {value!r}; expected one of {sorted(table)}") from None
    if isinstance(value, (int, np.integer)) and int(value) in table.values():
        return int(value)
    raise ValueError(f"unknown {what} {value!r}; expected one of {sorted(table)}")


# --------------------------------------------------------------------------------------------
# Array layout: how a NumPy array (moved so that the operator's axis is last) maps onto an
# hs_proj description (rows, n, row_stride, elem_stride) without copying.
# --------------------------------------------------------------------------------------------

def _rows_layout(a):
    """(rows, n, row_stride, elem_stride) in elements if the array a (..., n) can be passed to
    the C library as is: aligned, batch dimensions collapsing onto one stride, no two
    (row, element) pairs on the same memory. None if it has to be copied first."""
    isz = a.itemsize
    n = a.shape[-1]
    rows = math.prod(a.shape[:-1])
    if a.size == 0:  # nothing to address: any valid description (the C library rejects n = 0)
        return rows, n, max(n, 1), 1
    if a.flags.c_contiguous and a.flags.aligned:
        return rows, n, n, 1
    if not a.flags.aligned or any(s % isz for s in a.strides):
        return None
    es = a.strides[-1] // isz if n > 1 else 1
    batch = [(d, s // isz) for d, s in zip(a.shape[:-1], a.strides[:-1]) if d != 1]
    if not batch:
        rs = n * es
    else:
        for (d_out, s_out), (d_in, s_in) in zip(batch[:-1], batch[1:]):
            if s_out != s_in * d_in:
                return None
        rs = batch[-1][1]
    if es == 0 or (rows > 1 and rs == 0):
        return None
    span_elem = (n - 1) * abs(es)
    span_rows = (rows - 1) * abs(rs)
    disjoint_rows = abs(rs) > span_elem or rows == 1
    interleaved = abs(es) > span_rows or n == 1
    if not (disjoint_rows or interleaved):
        return None
    return rows, n, rs, es


def _real_array(x, dtype=None):
    a = np.asarray(x)
    if dtype is not None:
        return a.astype(dtype, copy=False)
    if a.dtype == np.float32 or a.dtype == np.float64:
        return a
    if a.dtype.kind in "biuf":
        return a.astype(np.float64)
    raise TypeError(f"expected a real array, got dtype {a.dtype}")


class _Layout:
    """The operator's axis moved last (`main`), its hs_proj layout, and helpers to bring other
    arrays into the same memory layout and to allocate outputs in it."""

    def __init__(self, main, axis):
        if main.ndim == 0:
            raise ValueError("expected an array with at least one dimension, got a scalar")
        if not isinstance(axis, (int, np.integer)) or not -main.ndim <= axis < main.ndim:
            raise ValueError(f"axis {axis!r} is invalid for an array of {main.ndim} dimensions")
        self.axis = int(axis) % main.ndim
        last = self.axis == main.ndim - 1
        self._perm = None if last else [d for d in range(main.ndim) if d != self.axis] + [self.axis]
        m = self.to_last(main)
        lay = _rows_layout(m)
        if lay is not None and not m.flags.c_contiguous and _rows_layout(np.empty_like(m)) != lay:
            lay = None  # a strided view: outputs could not share its layout
        if lay is None:
            m = np.ascontiguousarray(m)
            lay = _rows_layout(m)
        self.main = m
        self.rows, self.n, self.row_stride, self.elem_stride = lay
        self.batch_shape = m.shape[:-1]

    def to_last(self, a):
        """a with the operator's axis moved last (a view)."""
        return a if self._perm is None else a.transpose(self._perm)

    def back(self, m):
        """An array in main's layout, axis moved back where the caller had it."""
        return m if self._perm is None else np.moveaxis(m, -1, self.axis)

    def same(self, x, name):
        """x (any array of the input's shape) in main's dtype and memory layout."""
        a = np.asarray(x)
        expected = self.back(self.main).shape
        if a.shape != expected:
            raise ValueError(f"{name} has shape {a.shape}, expected {expected}")
        m = self.to_last(a).astype(self.main.dtype, copy=False)
        if _rows_layout(m) != (self.rows, self.n, self.row_stride, self.elem_stride):
            t = np.empty_like(self.main)
            t[...] = m
            m = t
        return m

    def empty(self):
        return np.empty_like(self.main)

    def per_row(self, value, name):
        """(None, scalar) for a scalar, else (contiguous float64 (rows), 0.0) broadcast from
        the batch shape (the input's shape without the axis)."""
        if isinstance(value, (float, int)):
            return None, float(value)
        a = np.asarray(value, dtype=np.float64)
        if a.ndim == 0:
            return None, float(a)
        try:
            b = np.broadcast_to(a, self.batch_shape)
        except ValueError:
            raise ValueError(f"{name} of shape {a.shape} does not broadcast to the batch shape "
                             f"{self.batch_shape} (the input's shape without the axis)") from None
        return np.ascontiguousarray(b).reshape(-1), 0.0


def _ptr(a, ctype):
    return ctypes.cast(a.ctypes.data, ctypes.POINTER(ctype))


def make_proj(rows, n, k, tau):
    """hs_proj_make(): contiguous rows x n, scalar k and tau, L2, fast solver (an HsProj)."""
    return _lib.lib.hs_proj_make(rows, n, k, tau)


def proj_check(d):
    """hs_proj_check(): None if the HsProj d is valid, else the library's message."""
    msg = _lib.lib.hs_proj_check(ctypes.byref(d))
    return None if msg is None else msg.decode()


def _proj(lay, k, tau, regularization, solver, threads, keep):
    k_rows, k_scalar = lay.per_row(k, "k")
    tau_rows, tau_scalar = lay.per_row(tau, "tau")
    d = _lib.lib.hs_proj_make(lay.rows, lay.n, k_scalar, tau_scalar)
    d.row_stride = lay.row_stride
    d.elem_stride = lay.elem_stride
    if k_rows is not None:
        d.k_rows = _ptr(k_rows, ctypes.c_double)
    if tau_rows is not None:
        d.tau_rows = _ptr(tau_rows, ctypes.c_double)
    d.reg = _enum(REGULARIZATIONS, regularization, "regularization")
    d.solver = _enum(SOLVERS, solver, "solver")
    d.threads = int(threads)
    keep.extend([k_rows, tau_rows])  # the C call reads them: keep them alive until it returns
    return d


def soft_binary_argmax(z, k, tau=1.0, axis=-1, regularization="l2", solver="fast", threads=0,
                       return_info=False):
    """Soft-binary-argmax@k of z / tau along `axis`: the projection of each vector onto the
    (n, k)-hypersimplex {p in [0,1]^n : sum p = k} (L2), or its KL / binary-entropy variants.

    z: array (..., n, ...), float32 or float64 (others are converted to float64).
    k, tau: scalars, or arrays broadcasting to the batch shape (z's shape without `axis`),
        one value per vector. 0 <= k <= n, tau > 0.
    regularization: "l2" (the paper's operator), "kl" or "entropy".
    solver: "fast" (default) or "sort_pav" (the paper's sort + isotonic regression), L2 only.
    threads: OpenMP threads over vectors, 0 = the runtime's default.
    Returns p of z's shape and dtype; with return_info=True also theta (float64, batch shape),
    the per-vector threshold, and n_free (uint64, batch shape), the size of the free set.
    """
    z = _real_array(z)
    lay = _Layout(z, axis)
    p = lay.empty()
    theta = np.empty(lay.batch_shape, dtype=np.float64) if return_info else None
    n_free = np.empty(lay.batch_shape, dtype=np.uintp) if return_info else None
    if lay.rows > 0:
        keep = []
        d = _proj(lay, k, tau, regularization, solver, threads, keep)
        if z.dtype == np.float32:
            fn, ct = _lib.lib.hs_project_f, ctypes.c_float
        else:
            fn, ct = _lib.lib.hs_project_d, ctypes.c_double
        _check(fn(_ptr(p, ct), _ptr(theta, ctypes.c_double) if return_info else None,
                  _ptr(n_free, ctypes.c_size_t) if return_info else None,
                  _ptr(lay.main, ct), ctypes.byref(d)))
    p = lay.back(p)
    if return_info:
        return p, theta, n_free.astype(np.uint64, copy=False)
    return p


def _vector_product(fname, p, v, vname, k, tau, axis, regularization, threads):
    p = _real_array(p)
    v = _real_array(v)
    dtype = np.float32 if (p.dtype == np.float32 and v.dtype == np.float32) else np.float64
    p = p.astype(dtype, copy=False)
    lay = _Layout(p, axis)
    vm = lay.same(v, vname)
    out = lay.empty()
    if lay.rows > 0:
        keep = []
        d = _proj(lay, k, tau, regularization, "fast", threads, keep)
        suffix, ct = ("_f", ctypes.c_float) if dtype == np.float32 else ("_d", ctypes.c_double)
        fn = getattr(_lib.lib, fname + suffix)
        _check(fn(_ptr(out, ct), _ptr(lay.main, ct), _ptr(vm, ct), ctypes.byref(d)))
    return lay.back(out)


def soft_binary_argmax_vjp(p, g, k, tau=1.0, axis=-1, regularization="l2", threads=0):
    """Vector-Jacobian product of soft_binary_argmax: dz = J(z)^T g, from the forward output p
    (same k, tau, axis, regularization). p and g: arrays of one shape; float32 if both are
    float32, else float64."""
    return _vector_product("hs_project_vjp", p, g, "g", k, tau, axis, regularization, threads)


def soft_binary_argmax_jvp(p, dz, k, tau=1.0, axis=-1, regularization="l2", threads=0):
    """Jacobian-vector product of soft_binary_argmax: dp = J(z) dz (J is symmetric)."""
    return _vector_product("hs_project_jvp", p, dz, "dz", k, tau, axis, regularization, threads)


# --------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------

def parse_loss_kind(name):
    """hs_loss_kind_parse(): the hs_loss_kind code of "cross_entropy", "hinge", "mse",
    "hypersimplex"."""
    out = ctypes.c_int(0)
    _check(_need("hs_loss_kind_parse")(ctypes.byref(out), str(name).encode()))
    return out.value


def loss_kind_name(kind):
    """hs_loss_kind_name(): the name of an hs_loss_kind code."""
    return _need("hs_loss_kind_name")(int(kind)).decode()


def parse_k_policy(text):
    """hs_k_policy_parse(): (hs_k_policy code, fraction) of "count", "prior" or "fraction:P"."""
    policy = ctypes.c_int(0)
    fraction = ctypes.c_double(0.0)
    _check(_need("hs_k_policy_parse")(ctypes.byref(policy), ctypes.byref(fraction),
                                      str(text).encode()))
    return policy.value, fraction.value


def loss_opts_default(kind="hypersimplex"):
    """hs_loss_opts_default(): the default HsLossOpts of a loss kind (name or code)."""
    code = parse_loss_kind(kind) if isinstance(kind, str) else int(kind)
    return _need("hs_loss_opts_default")(code)


def k_policy_name(policy):
    """hs_k_policy_name(): "count", "prior" or "fraction" for an hs_k_policy code."""
    return _need("hs_k_policy_name")(int(policy)).decode()


def _labels32(labels, B):
    labels = np.asarray(labels)
    if labels.shape != (B,):
        raise ValueError(f"labels must have shape ({B},), got {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    if B and (labels.min() < np.iinfo(np.int32).min or labels.max() > np.iinfo(np.int32).max):
        raise ValueError("labels do not fit in int32")
    return np.ascontiguousarray(labels, dtype=np.int32)


def _loss_opts(kind, C, tau, k_policy, class_prior, regularization, reduction, threads, keep):
    """An HsLossOpts from the library's defaults for `kind` and the given overrides (None keeps
    the default). C: the length per-class arrays must have (tau_class, class_prior)."""
    opts = loss_opts_default(kind)
    if tau is not None:
        tau_arr = np.asarray(tau, dtype=np.float64)
        if tau_arr.ndim == 0:
            opts.tau = float(tau_arr)
        else:
            if tau_arr.shape != (C,):
                raise ValueError(f"tau must be a scalar or have shape ({C},), got {tau_arr.shape}")
            tau_arr = np.ascontiguousarray(tau_arr)
            keep.append(tau_arr)
            opts.tau_class = _ptr(tau_arr, ctypes.c_double)
    if k_policy is not None:
        opts.k_policy, opts.k_fraction = parse_k_policy(k_policy)
    if class_prior is not None:
        prior = np.ascontiguousarray(class_prior, dtype=np.float64)
        if prior.shape != (C,):
            raise ValueError(f"class_prior must have shape ({C},), got {prior.shape}")
        keep.append(prior)
        opts.class_prior = _ptr(prior, ctypes.c_double)
    if regularization is not None:
        opts.reg = _enum(REGULARIZATIONS, regularization, "regularization")
    if reduction is not None:
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        opts.sum_reduction = 1 if reduction == "sum" else 0
    if threads is not None:
        opts.threads = int(threads)
    return opts


def multiclass_loss(logits, labels, kind="hypersimplex", tau=None, k_policy=None,
                    class_prior=None, regularization=None, reduction=None, threads=None, grad=True):
    """A multiclass loss over a batch and its gradient, computed by the C library in one call.

    logits: (B, C) float32 or float64; labels: (B) integers in [0, C).
    kind: "hypersimplex" (default), "cross_entropy", "hinge" or "mse".
    HyperSimplex only: tau (scalar, or (C) one per class; library default 1.5); k_policy
    "count" (default: k_c = number of labels c in the batch), "prior" (k_c = B * class_prior[c],
    class_prior the (C) class frequencies of the training labels) or "fraction:P"
    (k_c = floor(P * B)); regularization "l2" (default) | "kl" | "entropy"; threads of the
    column projections (library default 1).
    reduction: "mean" (default: over the B*C entries) or "sum" (HyperSimplex and MSE).
    None keeps the library's default (hs_loss_opts_default). See include/hypersimplex/loss.h.
    Returns (loss as a Python float, dlogits of logits' shape and dtype, or None if not grad).
    """
    logits = _real_array(logits)
    if logits.ndim != 2:
        raise ValueError(f"logits must be (B, C), got shape {logits.shape}")
    B, C = logits.shape
    logits = np.ascontiguousarray(logits)
    labels = _labels32(labels, B)
    keep = []
    opts = _loss_opts(kind, C, tau, k_policy, class_prior, regularization, reduction, threads, keep)
    if logits.dtype == np.float32:
        fn, ct = _need("hs_loss_multiclass_f"), ctypes.c_float
    else:
        fn, ct = _need("hs_loss_multiclass_d"), ctypes.c_double
    dlogits = np.empty_like(logits) if grad else None
    loss = ctypes.c_double(0.0)
    _check(fn(ctypes.byref(loss), _ptr(dlogits, ct) if grad else None, _ptr(logits, ct),
              _ptr(labels, ctypes.c_int32), B, C, ctypes.byref(opts)))
    return loss.value, dlogits


def binary_loss(z, y, tau=None, k_policy=None, class_prior=None, regularization=None,
                reduction=None, threads=None, grad=True):
    """The binary HyperSimplex loss: p = soft-binary-argmax@k(z / tau) over the n scores,
    loss = mean (or sum) of (p - y)^2. z: (n) float32/float64; y: (n) targets, 0 or 1.
    k_policy: "count" (default: k = sum y), "prior" (k = n * class_prior[1], class_prior =
    (pi_0, pi_1)) or "fraction:P". Other options as in multiclass_loss.
    Returns (loss, dz of z's shape and dtype, or None if not grad)."""
    z = _real_array(z)
    if z.ndim != 1:
        raise ValueError(f"z must be one-dimensional (n), got shape {z.shape}")
    z = np.ascontiguousarray(z)
    y = np.asarray(y)
    if y.shape != z.shape:
        raise ValueError(f"y must have shape {z.shape}, got {y.shape}")
    y = np.ascontiguousarray(y, dtype=z.dtype)
    keep = []
    opts = _loss_opts("hypersimplex", 2, tau, k_policy, class_prior, regularization, reduction,
                      threads, keep)
    if opts.tau_class:
        raise ValueError("the binary loss takes a scalar tau")
    if z.dtype == np.float32:
        fn, ct = _need("hs_loss_binary_hs_f"), ctypes.c_float
    else:
        fn, ct = _need("hs_loss_binary_hs_d"), ctypes.c_double
    dz = np.empty_like(z) if grad else None
    loss = ctypes.c_double(0.0)
    _check(fn(ctypes.byref(loss), _ptr(dz, ct) if grad else None, _ptr(z, ct), _ptr(y, ct),
              z.shape[0], ctypes.byref(opts)))
    return loss.value, dz


def class_k(labels, C, k_policy=None, class_prior=None):
    """hs_loss_class_k(): the k_c (C,) the multiclass HyperSimplex loss uses for these labels."""
    labels = np.asarray(labels)
    labels = _labels32(labels, labels.shape[0] if labels.ndim == 1 else -1)
    keep = []
    opts = _loss_opts("hypersimplex", C, None, k_policy, class_prior, None, None, None, keep)
    k = np.empty(C, dtype=np.float64)
    _check(_need("hs_loss_class_k")(_ptr(k, ctypes.c_double), _ptr(labels, ctypes.c_int32),
                                    labels.shape[0], C, ctypes.byref(opts)))
    return k


def class_prior_from_labels(labels, C):
    """hs_class_prior_from_labels(): class frequencies (C,) of integer labels in [0, C)."""
    labels = np.asarray(labels).reshape(-1)
    labels = _labels32(labels, labels.shape[0])
    prior = np.empty(C, dtype=np.float64)
    _check(_need("hs_class_prior_from_labels")(_ptr(prior, ctypes.c_double),
                                               _ptr(labels, ctypes.c_int32), labels.shape[0], C))
    return prior
