"""The PyTorch-operations backend (what tensors on GPUs and other devices run), forced on the
CPU with backend="torch" and checked against the C backend: values, thresholds, gradients
(in z, k and tau), ties, k = 0 and k = n, flat roots, float32 and float64, gradcheck, the
loss, and the errors."""

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (Debian: python3-torch)")

from torch.autograd import gradcheck  # noqa: E402

import hypersimplex as hs  # noqa: E402
from hypersimplex.torch import (HyperSimplexLoss, hypersimplex_loss,  # noqa: E402
                                soft_binary_argmax)
from hypersimplex import torch_device  # noqa: E402


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _both(z, k, tau, dim, w, **kw):
    """(p, theta, dz, dk, dtau) of both backends for the backward of sum(p * w)."""
    out = []
    for backend in ("c", "torch"):
        x = z.detach().clone().requires_grad_()
        kk = k.detach().clone().requires_grad_() if isinstance(k, torch.Tensor) else k
        tt = tau.detach().clone().requires_grad_() if isinstance(tau, torch.Tensor) else tau
        p, theta = soft_binary_argmax(x, kk, tt, dim=dim, backend=backend, return_threshold=True,
                                      **kw)
        (p * w).sum().backward()
        out.append((p.detach(), theta, x.grad,
                    kk.grad if isinstance(kk, torch.Tensor) else None,
                    tt.grad if isinstance(tt, torch.Tensor) else None))
    return out


def _assert_same(c, t, atol):
    for a, b in zip(c, t):
        if a is None:
            assert b is None
            continue
        assert a.dtype == b.dtype and a.shape == b.shape
        torch.testing.assert_close(a, b, atol=atol, rtol=0)


@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("k", [0.0, 1.0, 3.5, 12.25])
def test_agrees_with_c_backend(dtype, atol, dim, k):
    g = _gen(11)
    z = torch.randn(7, 13, 5, dtype=dtype, generator=g) * 3
    w = torch.randn(7, 13, 5, dtype=dtype, generator=g)
    k = min(k, float(z.shape[dim]))
    c, t = _both(z, k, 0.7, dim, w)
    assert c[0].dtype == dtype
    _assert_same(c, t, atol)


def test_k_equal_to_n_and_zero_per_row():
    z = torch.randn(6, 9, dtype=torch.float64, generator=_gen(12))
    k = torch.tensor([0.0, 9.0, 4.0, 0.0, 9.0, 8.5], dtype=torch.float64)
    c, t = _both(z, k, 1.3, -1, torch.randn(6, 9, dtype=torch.float64, generator=_gen(13)))
    _assert_same(c, t, 1e-12)
    p = t[0]
    assert torch.equal(p[0], torch.zeros(9, dtype=torch.float64))
    assert torch.equal(p[1], torch.ones(9, dtype=torch.float64))
    # k = 0 and k = n: theta = max x and min x - 1; nothing is free, so dz = 0 (+0).
    x = z / 1.3
    assert t[1][0] == x[0].max() and t[1][1] == x[1].min() - 1
    assert torch.equal(t[2][0], torch.zeros(9, dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ties_and_flat_roots(dtype):
    g = _gen(14)
    # Integer scores with many ties; integer and half-integer k hit flat roots (theta in the
    # middle of its interval on both backends) and ties straddling the threshold.
    z = torch.randint(-3, 4, (40, 12), generator=g).to(dtype)
    k = (torch.randint(0, 25, (40,), generator=g).to(torch.float64) / 2)
    w = torch.randn(40, 12, dtype=dtype, generator=g)
    c, t = _both(z, k, 1.0, -1, w)
    _assert_same(c, t, 1e-6 if dtype == torch.float32 else 1e-12)
    p = t[0].double()
    torch.testing.assert_close(p.sum(dim=1), k, atol=1e-5, rtol=0)
    # Tied scores get tied outputs.
    same = z.unsqueeze(2) == z.unsqueeze(1)
    assert torch.equal(same & (p.unsqueeze(2) != p.unsqueeze(1)), torch.zeros_like(same))
    # Hard top-k on a wide gap: exact zeros and ones, theta in the middle of the gap.
    zz = torch.tensor([[5.0, 0.0, 5.0, 1.0, 0.5]], dtype=dtype)
    for backend in ("c", "torch"):
        p, theta = soft_binary_argmax(zz, 2.0, 1.0, backend=backend, return_threshold=True)
        assert p.tolist() == [[1.0, 0.0, 1.0, 0.0, 0.0]]
        assert theta.tolist() == [2.5]  # middle of [1, 5 - 1]


def test_per_row_k_and_tau_gradients():
    g = _gen(15)
    z = torch.randn(5, 4, 10, dtype=torch.float64, generator=g)
    k = torch.rand(5, 4, dtype=torch.float64, generator=g) * 8 + 1
    tau = torch.rand(4, dtype=torch.float64, generator=g) + 0.5  # broadcast over the batch
    w = torch.randn(5, 4, 10, dtype=torch.float64, generator=g)
    c, t = _both(z, k, tau, -1, w)
    _assert_same(c, t, 1e-12)


def test_long_rows_and_large_magnitudes():
    g = _gen(16)
    z = torch.randn(3, 20000, dtype=torch.float32, generator=g)
    z[1] = z[1] * 1e4 + 1e6  # |z| / tau around 1e6
    w = torch.randn(3, 20000, dtype=torch.float32, generator=g)
    c, t = _both(z, torch.tensor([2000.0, 7.5, 19999.0]), 1.0, -1, w)
    torch.testing.assert_close(c[0], t[0], atol=2e-6, rtol=0)
    torch.testing.assert_close(c[2], t[2], atol=2e-6, rtol=0)
    torch.testing.assert_close(c[1], t[1], atol=1e-9, rtol=1e-12)


def test_gradcheck_torch_backend():
    g = _gen(17)
    z = torch.randn(4, 6, 5, dtype=torch.float64, generator=g, requires_grad=True)
    k = (torch.rand(4, 5, dtype=torch.float64, generator=g) * 4 + 0.5).requires_grad_()
    tau = (torch.rand(5, dtype=torch.float64, generator=g) + 0.5).requires_grad_()
    fn = lambda z_, k_, t_: soft_binary_argmax(z_, k_, t_, dim=1, backend="torch")
    assert gradcheck(fn, (z, k, tau), eps=1e-6, atol=1e-6)
    logits = torch.randn(12, 5, dtype=torch.float64, generator=g, requires_grad=True)
    labels = torch.randint(0, 5, (12,), generator=g)
    weight = torch.rand(5, dtype=torch.float64, generator=g) + 0.1
    for reduction in ("mean", "sum", "none"):
        loss = HyperSimplexLoss(tau=[0.5, 1.0, 1.5, 2.0, 2.5], weight=weight, reduction=reduction,
                                backend="torch")
        assert gradcheck(lambda x: loss(x, labels), (logits,), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("policy", ["count", "prior", "fraction:0.5"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_loss_and_thresholds_agree_with_c_backend(policy, reduction, dtype, atol):
    g = _gen(18)
    B, C = 256, 10
    logits = torch.randn(B, C, dtype=dtype, generator=g) * 2
    labels = torch.randint(0, C, (B,), generator=g)
    prior = torch.full((C,), 0.1, dtype=torch.float64)
    weight = torch.linspace(0.5, 2.0, C)
    res = []
    for backend in ("c", "torch"):
        x = logits.clone().requires_grad_()
        loss, theta, k = hypersimplex_loss(x, labels, tau=torch.linspace(0.5, 2.0, C),
                                           k_policy=policy, prior=prior, weight=weight,
                                           reduction=reduction, backend=backend,
                                           return_thresholds=True)
        loss.sum().backward()
        res.append((loss.detach(), x.grad, theta))
    for a, b in zip(*res):  # float32 losses are sums of B * C float32 terms
        torch.testing.assert_close(a, b, atol=atol, rtol=0 if dtype == torch.float64 else 1e-6)


def test_errors_on_the_torch_backend():
    z = torch.randn(2, 5)
    with pytest.raises(hs.HypersimplexError, match="k must be") as e:
        soft_binary_argmax(z, 6.0, backend="torch")
    assert e.value.status == 3
    with pytest.raises(hs.HypersimplexError, match="tau must be"):
        soft_binary_argmax(z, 1.0, tau=torch.tensor([1.0, 0.0]), backend="torch")
    bad = z.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(hs.HypersimplexError, match="NaN") as e:
        soft_binary_argmax(bad, 1.0, backend="torch")
    assert e.value.status == 5
    with pytest.raises(hs.HypersimplexError, match="n must be >= 1"):
        soft_binary_argmax(torch.randn(3, 0), 0.0, backend="torch")
    p, theta = soft_binary_argmax(torch.randn(0, 4), 1.0, backend="torch", return_threshold=True)
    assert p.shape == (0, 4) and theta.shape == (0,)
    with pytest.raises(ValueError, match="'l2'"):
        soft_binary_argmax(z, 1.0, regularization="kl", backend="torch")
    with pytest.raises(ValueError, match="sort_pav"):
        soft_binary_argmax(z, 1.0, solver="sort_pav", backend="torch")


def test_rows_function_directly():
    """torch_device.project_rows on its own: sum p = k, p = clip(z / tau - theta, 0, 1)."""
    g = _gen(19)
    z = torch.randn(50, 33, dtype=torch.float64, generator=g)
    k = torch.rand(50, dtype=torch.float64, generator=g) * 33
    tau = torch.rand(50, dtype=torch.float64, generator=g) + 0.2
    p, theta = torch_device.project_rows(z, k, tau)
    torch.testing.assert_close(p.sum(dim=1), k, atol=1e-12, rtol=0)
    torch.testing.assert_close(p, (z / tau[:, None] - theta[:, None]).clamp(0, 1), atol=0, rtol=0)
