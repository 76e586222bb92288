"""Tests of hypersimplex.torch: autograd (gradcheck), agreement with the plain-PyTorch
implementation of the paper's formulas, and a tiny model trained with both."""

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (Debian: python3-torch)")

from torch.autograd import gradcheck  # noqa: E402

import hypersimplex as hs  # noqa: E402
from hypersimplex import torch_reference as ref  # noqa: E402
from hypersimplex.torch import (HyperSimplexLoss, binary_hypersimplex_loss,  # noqa: E402
                                multiclass_loss, soft_binary_argmax)

REGS = ["l2", "kl", "entropy"]


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------
# gradcheck in float64
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("regularization", REGS)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gradcheck_operator_in_z_k_tau(regularization, dim):
    g = _gen(1)
    z = torch.randn(6, 5, 4, dtype=torch.float64, generator=g, requires_grad=True)
    batch = list(z.shape)
    del batch[dim]
    n = z.shape[dim]
    k = (torch.rand(batch, dtype=torch.float64, generator=g) * (n - 1) + 0.5).requires_grad_()
    tau = (torch.rand(batch[-1], dtype=torch.float64, generator=g) + 0.5).requires_grad_()
    fn = lambda z_, k_, t_: soft_binary_argmax(z_, k_, t_, dim=dim, regularization=regularization)
    assert gradcheck(fn, (z, k, tau), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("solver", ["fast", "sort_pav"])
def test_gradcheck_operator_scalar_k_tau_and_solvers(solver):
    z = torch.randn(3, 11, dtype=torch.float64, generator=_gen(2), requires_grad=True)
    assert gradcheck(lambda z_: soft_binary_argmax(z_, 4.0, 0.6, solver=solver), (z,),
                     eps=1e-6, atol=1e-6)
    # A non-contiguous input (a transposed view).
    zt = torch.randn(11, 3, dtype=torch.float64, generator=_gen(3)).t().requires_grad_()
    assert gradcheck(lambda z_: soft_binary_argmax(z_, 4.0, 0.6, dim=1, solver=solver), (zt,),
                     eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("policy", ["count", "prior", "fraction:0.5"])
@pytest.mark.parametrize("regularization", REGS)
def test_gradcheck_hypersimplex_loss(policy, regularization):
    g = _gen(4)
    logits = torch.randn(16, 4, dtype=torch.float64, generator=g, requires_grad=True)
    labels = torch.randint(0, 4, (16,), generator=g)
    loss = HyperSimplexLoss(k_policy=policy, tau=[0.5, 1.0, 1.5, 2.0],
                            prior=[0.1, 0.2, 0.3, 0.4], regularization=regularization)
    assert gradcheck(lambda x: loss(x, labels), (logits,), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["cross_entropy", "hinge", "mse", "hypersimplex"])
def test_gradcheck_multiclass_losses(kind):
    g = _gen(5)
    logits = torch.randn(12, 5, dtype=torch.float64, generator=g, requires_grad=True)
    labels = torch.randint(0, 5, (12,), generator=g)
    assert gradcheck(lambda x: multiclass_loss(x, labels, kind=kind), (logits,), eps=1e-6, atol=1e-7)
    # The reduction and grad_output scaling reach the gradient.
    assert gradcheck(lambda x: 3.0 * multiclass_loss(x, labels, kind=kind, reduction="sum"),
                     (logits,), eps=1e-6, atol=1e-6)


def test_gradcheck_binary_loss():
    g = _gen(6)
    z = torch.randn(30, dtype=torch.float64, generator=g, requires_grad=True)
    y = (torch.rand(30, generator=g) < 0.4).double()
    assert gradcheck(lambda x: binary_hypersimplex_loss(x, y, tau=0.8), (z,), eps=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# Agreement with the plain-PyTorch implementations of the paper's formulas
# ---------------------------------------------------------------------------------------------

def _value_and_grad(fn, z, w):
    z = z.detach().clone().requires_grad_()
    p = fn(z)
    (p * w).sum().backward()
    return p.detach(), z.grad


@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
@pytest.mark.parametrize("k", [1.0, 3.5, 7.0])
def test_operator_agrees_with_sort_pav_reference(dtype, atol, k):
    g = _gen(7)
    z = torch.randn(9, 20, 3, dtype=dtype, generator=g)
    w = torch.randn(9, 20, 3, dtype=dtype, generator=g)
    ours = _value_and_grad(lambda x: soft_binary_argmax(x, k, 0.5, dim=1), z, w)
    for reference in (ref.project_sort_pav, ref.project_sort_threshold):
        theirs = _value_and_grad(lambda x: reference(x, k, 0.5, dim=1), z, w)
        assert ours[0].dtype == dtype
        torch.testing.assert_close(ours[0], theirs[0], atol=atol, rtol=0)
        torch.testing.assert_close(ours[1], theirs[1], atol=atol * 10, rtol=0)


@pytest.mark.parametrize("regularization", REGS)
def test_operator_agrees_with_bisection_reference_incl_k_tau_grads(regularization):
    g = _gen(8)
    z = torch.randn(7, 12, dtype=torch.float64, generator=g)
    w = torch.randn(7, 12, dtype=torch.float64, generator=g)
    k0 = torch.rand(7, dtype=torch.float64, generator=g) * 10 + 1
    t0 = torch.rand(7, dtype=torch.float64, generator=g) + 0.3
    results = []
    for fn in (soft_binary_argmax, ref.project_bisection):
        x = z.clone().requires_grad_()
        k = k0.clone().requires_grad_()
        tau = t0.clone().requires_grad_()
        p = fn(x, k, tau, dim=-1, regularization=regularization)
        (p * w).sum().backward()
        results.append((p.detach(), x.grad, k.grad, tau.grad))
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs, atol=1e-10, rtol=0)


@pytest.mark.parametrize("policy", ["count", "prior", "fraction:0.5"])
@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_loss_agrees_with_plain_pytorch_loss(policy, dtype, atol):
    g = _gen(9)
    B, C = 64, 10
    logits = torch.randn(B, C, dtype=dtype, generator=g) * 2
    labels = torch.randint(0, C, (B,), generator=g)
    prior = torch.full((C,), 1.0 / C, dtype=torch.float64)
    tau = torch.linspace(0.5, 2.0, C, dtype=torch.float64)
    values, grads = [], []
    for fn in (HyperSimplexLoss(k_policy=policy, tau=tau, prior=prior),
               lambda x, y: ref.hypersimplex_loss(x, y, tau=tau.to(dtype), k_policy=policy,
                                                  class_prior=prior)):
        x = logits.clone().requires_grad_()
        loss = fn(x, labels)
        loss.backward()
        values.append(loss.detach())
        grads.append(x.grad)
    assert values[0].dtype == dtype and values[0].dim() == 0
    torch.testing.assert_close(values[0], values[1], atol=atol, rtol=0)
    torch.testing.assert_close(grads[0], grads[1], atol=atol, rtol=0)


def test_tiny_model_trains_like_the_plain_pytorch_formula():
    """The same MLP from the same initialization, trained 8 Adam steps on the same batches with
    our loss and with the plain-PyTorch sort + PAV loss, ends at the same weights."""
    torch.manual_seed(0)
    B, D, C = 96, 12, 4
    data = torch.randn(8, B, D, dtype=torch.float64)
    labels = torch.randint(0, C, (8, B))
    init = torch.nn.Sequential(torch.nn.Linear(D, 16), torch.nn.ReLU(), torch.nn.Linear(16, C)).double()

    def train(loss_fn):
        model = torch.nn.Sequential(torch.nn.Linear(D, 16), torch.nn.ReLU(),
                                    torch.nn.Linear(16, C)).double()
        model.load_state_dict(init.state_dict())
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        losses = []
        for step in range(8):
            opt.zero_grad()
            loss = loss_fn(model(data[step]), labels[step])
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses, torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    ours_losses, ours_params = train(HyperSimplexLoss(k_policy="count", tau=1.5))
    ref_losses, ref_params = train(lambda x, y: ref.hypersimplex_loss(x, y, tau=1.5))
    assert ours_losses == pytest.approx(ref_losses, abs=1e-12)
    assert ours_losses[-1] < ours_losses[0]  # it does learn
    torch.testing.assert_close(ours_params, ref_params, atol=1e-10, rtol=0)
    changed = (ours_params - torch.cat([p.reshape(-1) for p in init.parameters()])).abs().max()
    assert changed > 1e-3


# ---------------------------------------------------------------------------------------------
# Errors and module behavior
# ---------------------------------------------------------------------------------------------

def test_backend_c_rejects_other_devices_clearly():
    z = torch.empty(3, 4, device="meta")
    with pytest.raises(ValueError, match="CPU tensors only"):
        soft_binary_argmax(z, 1.0, 1.0, backend="c")
    with pytest.raises(ValueError, match="CPU tensors only"):
        HyperSimplexLoss(backend="c")(z, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="CPU tensors only"):
        multiclass_loss(z, torch.zeros(3, dtype=torch.long), kind="cross_entropy")
    with pytest.raises(ValueError, match="backend"):
        soft_binary_argmax(torch.randn(3), 1.0, backend="cuda")


def test_bad_inputs_raise():
    with pytest.raises(TypeError, match="float32, float64, float16 or bfloat16"):
        soft_binary_argmax(torch.arange(6).reshape(2, 3), 1.0, 1.0)
    with pytest.raises(ValueError) as e:
        soft_binary_argmax(torch.randn(2, 3), 4.0, 1.0)
    assert isinstance(e.value, hs.HypersimplexError) and str(e.value) == hs.last_error()
    with pytest.raises(hs.HypersimplexError):
        HyperSimplexLoss()(torch.randn(4, 3), torch.tensor([0, 1, 2, 3]))
    with pytest.raises(TypeError):
        HyperSimplexLoss()(torch.randn(4, 3), torch.tensor([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(hs.HypersimplexError):
        HyperSimplexLoss(k_policy="fraction:1.5")
    with pytest.raises(ValueError, match="regularization"):
        HyperSimplexLoss(regularization="l1")


def test_loss_module_details():
    loss = HyperSimplexLoss(k_policy="prior", tau=2.0, prior=[0.5, 0.5])
    assert "prior" in repr(loss) and loss.prior.dtype == torch.float64
    assert "prior" in dict(loss.named_buffers())
    logits = torch.randn(8, 2, requires_grad=True)
    labels = torch.tensor([0, 1] * 4)
    with torch.no_grad():
        value = loss(logits, labels)
    assert value.dtype == torch.float32 and not value.requires_grad
    out = loss(logits, labels)
    out.backward()
    assert logits.grad is not None and logits.grad.shape == logits.shape
    expected, _ = hs.multiclass_loss(logits.detach().numpy(), labels.numpy(), tau=2.0,
                                     k_policy="prior", class_prior=[0.5, 0.5])
    assert out.item() == pytest.approx(expected, rel=1e-6)
