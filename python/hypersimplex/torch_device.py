"""The L2 projection onto the (n, k)-hypersimplex in PyTorch operations, for tensors on any
device (hypersimplex.torch uses it for every tensor that is not on the CPU; the C kernels
serve CPU tensors).

Exact, not iterative: each row is sorted once and the threshold theta with
f(theta) = sum_i clip(x_i - theta, 0, 1) = k is located among the 2n breakpoints of f (the
x_i, where a coordinate leaves 0, and the x_i - 1, where it reaches 1), all rows at once:

  u = sort(x) ascending; f is evaluated at every u_j and every u_j - 1 with cumulative sums
  and torch.searchsorted; f is non-increasing, so the last breakpoint of each kind with
  f >= k gives the interval [t_lo, t_hi] between two consecutive breakpoints that holds
  the root, and with it the free set S (a contiguous run of u) and the count of ones.
  theta = (sum_S x - (k - #ones)) / |S|, summed directly (not from the cumulative sums) and
  relative to a reference point, so the value does not inherit their rounding.

When the root is flat (integer k with a gap of at least 1 between the k-th and (k+1)-th
largest x: no free coordinate), theta is the middle of the flat interval, as in the C
library, so p is exactly 0/1 there; k = 0 gives theta = max x, k = n gives min x - 1.
Sums run in float64 (float32 on Apple's MPS, which has no float64); p is returned in the
input's dtype. Cost: one sort, four searchsorted and O(n) elementwise work per row; no
Python loop over rows or elements.

The VJP is the exact one of the C library: dz = (1/tau) 1_S (g - mean_S g), +0 outside S.
"""

import torch

__all__ = ["project_rows", "vjp_rows", "accumulation_dtype"]


def accumulation_dtype(device):
    """float64, except on devices without it (MPS)."""
    return torch.float32 if torch.device(device).type == "mps" else torch.float64


def _f_at(u, cu, c, t, first_one, first_above):
    """f(t) = sum clip(u - t, 0, 1) for ascending rows u (R, n): the elements from first_one on
    are 1, those in [first_above, first_one) are free. cu: cumulative sums of u - c."""
    n = u.shape[1]
    free_sum = cu.gather(1, first_one) - cu.gather(1, first_above)
    return (n - first_one) + free_sum - (t - c) * (first_one - first_above)


def _tie_bounds(u, idx):
    """For ascending rows u: the first index of each element's tie group and one past its last
    (searchsorted(u, u) with side left and right, from two cumulative scans)."""
    n = u.shape[1]
    edge = torch.ones_like(u[:, :1], dtype=torch.bool)
    differs = u[:, 1:] != u[:, :-1]
    is_first = torch.cat([edge, differs], dim=1)
    is_last = torch.cat([differs, edge], dim=1)
    first = torch.cummax(torch.where(is_first, idx, torch.zeros_like(idx)), dim=1).values
    last = torch.where(is_last, idx, torch.full_like(idx, n - 1)).flip(1)
    last = torch.cummin(last, dim=1).values.flip(1)
    return first, last + 1


def project_rows(z, k, tau):
    """z: (R, n) float tensor, k: (R,) target sums in [0, n], tau: (R,) temperatures > 0, all
    finite (checked by the caller). Returns p (R, n) in z's dtype and theta (R,) in the
    accumulation dtype, with p = clip(z / tau - theta, 0, 1) and sum p = k on every row."""
    R, n = z.shape
    acc = accumulation_dtype(z.device)
    t = tau.to(device=z.device, dtype=acc).reshape(R, 1)
    kk = k.to(device=z.device, dtype=acc).reshape(R, 1)
    x = z.to(acc) / t
    # z / tau has z's order (tau > 0), so sort in z's (possibly narrower, faster) dtype.
    u = torch.sort(z.contiguous(), dim=1).values.to(acc) / t
    idx = torch.arange(n, device=z.device).reshape(1, n).expand(R, n)
    # Reference point near the root (the k-th largest value) keeps the cumulative sums small
    # around it; the root itself is recomputed below from a direct sum.
    c = u.gather(1, (n - kk.round().to(torch.long)).clamp(0, n - 1))
    zero = torch.zeros(R, 1, dtype=acc, device=z.device)
    cu = torch.cat([zero, torch.cumsum(u - c, dim=1)], dim=1)

    # Breakpoints u_j (element j leaves 0) and u_j - 1 (element j reaches 1). At t = u_j the
    # elements after u_j's tie group are above t; at t = u_j - 1 those from its first are 1.
    tie_first, tie_end = _tie_bounds(u, idx)
    um1 = u - 1
    # First index with u_i >= u_j + 1, and first with u_i > u_j - 1 (= >= its next float).
    cross = torch.searchsorted(u, torch.cat([u + 1, torch.nextafter(um1, u)], dim=1))
    one_u, above_um1 = cross[:, :n], cross[:, n:]
    f_u = _f_at(u, cu, c, u, one_u, tie_end)
    f_um1 = _f_at(u, cu, c, um1, tie_first, above_um1)

    # f is non-increasing in t: the breakpoints with f >= k form a prefix of each sequence.
    # Below the root: elements 0..j_u are at 0, elements 0..j_um1 are below 1.
    j_u = (f_u >= kk).sum(dim=1, keepdim=True) - 1          # in [-1, n - 1]
    j_um1 = (f_um1 >= kk).sum(dim=1, keepdim=True) - 1      # in [0, n - 1] (f(u_0 - 1) = n)
    free = (idx > j_u) & (idx <= j_um1)
    n_free = free.sum(dim=1, keepdim=True).to(acc)
    n_one = (n - 1 - j_um1).to(acc)
    free_sum = torch.where(free, u - c, torch.zeros_like(u)).sum(dim=1, keepdim=True)
    theta = c + (free_sum - (kk - n_one)) / n_free.clamp_min(1)

    # Flat roots (no free coordinate at the root): the middle of the interval between the
    # largest value at 0 and the smallest value at 1 minus 1, as the C library answers;
    # k = 0 gives max x, k = n gives min x - 1.
    k_int = kk.round()
    top = (n - k_int).to(torch.long)                        # index of the smallest one
    hi_zero = u.gather(1, (top - 1).clamp(0, n - 1))        # largest value at 0
    lo_one = u.gather(1, top.clamp(0, n - 1)) - 1           # smallest value at 1, minus 1
    mid = torch.where(kk <= 0, u[:, n - 1:],
                      torch.where(kk >= n, u[:, :1] - 1, 0.5 * (hi_zero + lo_one)))
    flat = ((kk == k_int) & (hi_zero <= lo_one)) | (kk <= 0) | (kk >= n)
    theta = torch.where(flat, mid, theta)

    p = (x - theta).clamp(0, 1)
    p = torch.where(kk >= n, torch.ones_like(p), p)  # x - (min x - 1) may round below 1
    return p.to(z.dtype), theta.reshape(R)


def vjp_rows(p, g, tau):
    """dz = (1/tau) 1_S (g - mean_S g) per row, S = {i : 0 < p_i < 1}; +0 outside S and for
    an empty S. p, g: (R, n); tau: (R, 1)."""
    free = (p > 0) & (p < 1)
    zero = torch.zeros_like(g)
    g_free = torch.where(free, g, zero)
    count = free.sum(dim=1, keepdim=True).clamp_min(1).to(g.dtype)
    mean = g_free.sum(dim=1, keepdim=True) / count
    return torch.where(free, (g - mean) / tau.to(g.dtype), zero)
