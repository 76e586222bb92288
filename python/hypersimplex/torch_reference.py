"""Plain-PyTorch implementations of the paper's formulas (no C library involved).

They are the test oracle of hypersimplex.torch and the baseline of python/bench/bench_torch.py,
and they also run on GPUs; they are much slower than the C kernels on the CPU.

  project_sort_pav       the paper's algorithm: the (n, k)-hypersimplex is the permutahedron of
                         w = (1, ..., 1, k - floor(k), 0, ..., 0); sort x = z / tau descending
                         (s), v = non-increasing isotonic regression of s - w by
                         pool-adjacent-violators, p = s - v put back in the original order.
                         The gradient is PyTorch's autograd through sort, the block means of
                         the isotonic regression (its Jacobian) and the unsort.
  project_sort_threshold the same L2 projection without a sequential loop: sort, then find the
                         threshold theta with sum clip(x - theta, 0, 1) = k among the 2n
                         breakpoints with cumulative sums and searchsorted; p = clip(x - theta).
  project_bisection      all three regularizations from their defining formulas
                         (L2 clip(x - theta, 0, 1), KL min(1, exp(x - theta)), entropy
                         sigmoid(x - theta)), theta by bisection, then one Newton step inside
                         autograd, which gives the exact implicit-function gradient.
  hypersimplex_loss      the multiclass HyperSimplex loss of include/hypersimplex/loss.h.
"""

import math

import torch

__all__ = ["project_sort_pav", "project_sort_threshold", "project_bisection", "class_k",
           "hypersimplex_loss", "pav_block_sizes"]


def _as_rows(x, dim):
    """x with `dim` moved last and flattened to (R, n); returns it and the moved shape."""
    xm = x.movedim(dim, -1)
    return xm.reshape(-1, xm.shape[-1]), xm.shape


def _per_row(v, batch_shape, like):
    """k or tau (number or tensor broadcasting to batch_shape) as an (R, 1) tensor."""
    t = torch.as_tensor(v, dtype=like.dtype, device=like.device)
    return t.broadcast_to(batch_shape).reshape(-1, 1)


def pav_block_sizes(y):
    """Pool-adjacent-violators for the non-increasing isotonic regression of the list y:
    the sizes of the consecutive blocks whose means form the solution."""
    sums, sizes = [], []
    for value in y:
        s, c = value, 1
        # Merge while the previous block's mean is below this one's (a violation).
        while sums and sums[-1] * c < s * sizes[-1]:
            s += sums.pop()
            c += sizes.pop()
        sums.append(s)
        sizes.append(c)
    return sizes


def project_sort_pav(z, k, tau=1.0, dim=-1):
    """Projection of z / tau onto the (n, k)-hypersimplex along `dim` by sort + PAV (L2)."""
    zm = z.movedim(dim, -1)
    batch_shape, n = zm.shape[:-1], zm.shape[-1]
    x = (zm / _per_row(tau, batch_shape, z).reshape(*batch_shape, 1)).reshape(-1, n)
    kk = _per_row(k, batch_shape, z)
    s, perm = torch.sort(x, dim=1, descending=True)
    w = (kk - torch.arange(n, dtype=z.dtype, device=z.device)).clamp(0, 1)
    y = s - w
    with torch.no_grad():
        ids, offset = [], 0
        for row in y.tolist():
            sizes = pav_block_sizes(row)
            ids.append(torch.repeat_interleave(torch.arange(offset, offset + len(sizes)),
                                               torch.tensor(sizes)))
            offset += len(sizes)
        ids = torch.stack(ids).to(z.device)
        counts = torch.bincount(ids.reshape(-1), minlength=offset).to(z.dtype)
    sums = torch.zeros(offset, dtype=z.dtype, device=z.device).index_add(0, ids.reshape(-1), y.reshape(-1))
    v = (sums / counts)[ids]
    p = torch.zeros_like(x).scatter(1, perm, s - v)
    return p.reshape(zm.shape).movedim(-1, dim)


def project_sort_threshold(z, k, tau=1.0, dim=-1):
    """The same L2 projection as project_sort_pav, vectorized: sort + cumulative sums."""
    zm = z.movedim(dim, -1)
    batch_shape, n = zm.shape[:-1], zm.shape[-1]
    x = (zm / _per_row(tau, batch_shape, z).reshape(*batch_shape, 1)).reshape(-1, n)
    kk = _per_row(k, batch_shape, z)
    with torch.no_grad():
        u = torch.sort(x, dim=1).values.contiguous()     # ascending
        zero = torch.zeros_like(u[:, :1])
        cu = torch.cat([zero, torch.cumsum(u, dim=1)], dim=1)
        t = torch.sort(torch.cat([u, u - 1], dim=1), dim=1).values.contiguous()
        hi = torch.searchsorted(u, t + 1, side="left")   # first index with u >= t + 1
        lo = torch.searchsorted(u, t, side="right")      # first index with u > t
        f = (n - hi) + (cu.gather(1, hi) - cu.gather(1, lo)) - t * (hi - lo)
        # f(t) = sum clip(u - t, 0, 1) is non-increasing: the last breakpoint with f >= k.
        j = ((f >= kk).sum(dim=1, keepdim=True) - 1).clamp(0, 2 * n - 2)
        t0, t1 = t.gather(1, j), t.gather(1, j + 1)
        f0, f1 = f.gather(1, j), f.gather(1, j + 1)
        slope = torch.where(f0 > f1, (t1 - t0) / (f0 - f1), torch.zeros_like(f0))
        theta0 = t0 + (f0 - kk) * slope
        p0 = (x - theta0).clamp(0, 1)
        free = (p0 > 0) & (p0 < 1)
        n_free = free.sum(dim=1, keepdim=True)
        n_one = (p0 >= 1).sum(dim=1, keepdim=True)
    # theta as a differentiable function of x on the fixed free set.
    theta = ((x * free).sum(dim=1, keepdim=True) - (kk - n_one)) / n_free.clamp_min(1)
    p = torch.where(free, x - theta, p0)
    return p.reshape(zm.shape).movedim(-1, dim)


def _phi(u, regularization):
    if regularization == "l2":
        return u.clamp(0, 1)
    if regularization == "kl":
        return torch.exp(u.clamp(max=0))
    if regularization == "entropy":
        return torch.sigmoid(u)
    raise ValueError(f"unknown regularization {regularization!r}")


def _dphi(u, regularization):
    if regularization == "l2":
        return ((u > 0) & (u < 1)).to(u.dtype)
    if regularization == "kl":
        return torch.where(u < 0, torch.exp(u.clamp(max=0)), torch.zeros_like(u))
    s = torch.sigmoid(u)
    return s * (1 - s)


def project_bisection(z, k, tau=1.0, dim=-1, regularization="l2", iterations=200):
    """p = phi(z / tau - theta) with sum p = k along `dim`, phi by regularization; theta by
    bisection, then one Newton step inside autograd (exact implicit gradient)."""
    zm = z.movedim(dim, -1)
    batch_shape, n = zm.shape[:-1], zm.shape[-1]
    x = (zm / _per_row(tau, batch_shape, z).reshape(*batch_shape, 1)).reshape(-1, n)
    kk = _per_row(k, batch_shape, z)
    with torch.no_grad():
        xd, kd = x.double(), kk.double()
        frac = (kd / n).clamp(1e-300, 1 - 1e-16)
        spread = 2.0 + torch.log(frac / (1 - frac)).abs() + math.log(n + 1)
        lo = xd.min(dim=1, keepdim=True).values - spread
        hi = xd.max(dim=1, keepdim=True).values + spread
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            above = _phi(xd - mid, regularization).sum(dim=1, keepdim=True) > kd
            lo = torch.where(above, mid, lo)
            hi = torch.where(above, hi, mid)
        theta0 = (0.5 * (lo + hi)).to(x.dtype)
        slope = _dphi(x - theta0, regularization).sum(dim=1, keepdim=True)
    residual = _phi(x - theta0, regularization).sum(dim=1, keepdim=True) - kk
    theta = theta0 + torch.where(slope > 0, residual / slope.clamp_min(1e-300), torch.zeros_like(slope))
    p = _phi(x - theta, regularization)
    return p.reshape(zm.shape).movedim(-1, dim)


def class_k(labels, C, k_policy="count", class_prior=None, dtype=torch.float64):
    """k_c per class (C,) under a k policy, as include/hypersimplex/loss.h defines them."""
    B = labels.shape[0]
    if k_policy == "count":
        return torch.bincount(labels, minlength=C).to(dtype)
    if k_policy == "prior":
        return B * torch.as_tensor(class_prior, dtype=dtype)
    if k_policy.startswith("fraction"):
        fraction = float(k_policy.split(":", 1)[1]) if ":" in k_policy else 0.5
        return torch.full((C,), float(math.floor(fraction * B)), dtype=dtype)
    raise ValueError(f"unknown k policy {k_policy!r}")


def hypersimplex_loss(logits, labels, tau=1.5, k_policy="count", class_prior=None,
                      reduction="mean", projector=None, **projector_args):
    """The multiclass HyperSimplex loss: P[:, c] = projection of logits[:, c] / tau_c onto the
    (B, k_c)-hypersimplex, loss = sum (P - onehot)^2 / (B C) (or the sum)."""
    B, C = logits.shape
    projector = projector or project_sort_pav
    onehot = torch.nn.functional.one_hot(labels.long(), C).to(logits.dtype)
    k = class_k(labels.long(), C, k_policy, class_prior, dtype=logits.dtype)
    tau_c = torch.as_tensor(tau, dtype=logits.dtype).broadcast_to((C,))
    P = projector(logits, k, tau_c, dim=0, **projector_args)
    total = ((P - onehot) ** 2).sum()
    return total / (B * C) if reduction == "mean" else total
