"""HyperSimplexLoss and hypersimplex_loss follow torch.nn conventions: reductions (incl.
"none"), class weights, float16/bfloat16, first-order-only gradients with a clear error,
clear tracing/scripting errors, extra_repr; and the decision rule of issue 12: the loss is
invariant to per-column logit shifts, the running class thresholds (a buffer in state_dict)
and predict()."""

import io

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (Debian: python3-torch)")

from torch.autograd import gradcheck  # noqa: E402

from hypersimplex import torch_reference as ref  # noqa: E402
from hypersimplex.torch import (HyperSimplexLoss, hypersimplex_loss,  # noqa: E402
                                multiclass_loss, predict_with_thresholds, soft_binary_argmax)

BACKENDS = ["c", "torch"]


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _batch(seed, B=48, C=5, dtype=torch.float64):
    g = _gen(seed)
    return torch.randn(B, C, dtype=dtype, generator=g) * 2, torch.randint(0, C, (B,), generator=g)


def _reference_per_example(logits, labels, tau, weight=None, k_policy="count"):
    """w_{y_i} * sum_c (P[i, c] - onehot[i, c])^2 with the plain-PyTorch sort + PAV projection."""
    B, C = logits.shape
    k = ref.class_k(labels, C, k_policy, dtype=logits.dtype)
    tau_c = torch.as_tensor(tau, dtype=logits.dtype).broadcast_to((C,))
    P = ref.project_sort_pav(logits, k, tau_c, dim=0)
    onehot = torch.nn.functional.one_hot(labels, C).to(logits.dtype)
    per = ((P - onehot) ** 2).sum(dim=1)
    w = torch.ones(B, dtype=logits.dtype) if weight is None else weight.to(logits.dtype)[labels]
    return per * w, w


# ---------------------------------------------------------------------------------------------
# Reductions and class weights
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_reductions_and_weights_match_the_formula(backend, weighted):
    logits, labels = _batch(1)
    B, C = logits.shape
    weight = torch.tensor([0.5, 1.0, 2.0, 0.25, 3.0], dtype=torch.float64) if weighted else None
    grad_out = torch.randn(B, dtype=torch.float64, generator=_gen(2))
    for reduction in ("none", "sum", "mean"):
        results = []
        for fn in ("ours", "ref"):
            x = logits.clone().requires_grad_()
            if fn == "ours":
                out = HyperSimplexLoss(tau=[0.5, 1.0, 1.5, 2.0, 1.2], weight=weight,
                                       reduction=reduction, backend=backend)(x, labels)
            else:
                per, w = _reference_per_example(x, labels, [0.5, 1.0, 1.5, 2.0, 1.2], weight)
                out = {"none": per, "sum": per.sum(), "mean": per.sum() / (C * w.sum())}[reduction]
            (out * grad_out).sum().backward() if reduction == "none" else out.backward()
            results.append((out.detach(), x.grad))
        assert results[0][0].shape == ((B,) if reduction == "none" else ())
        for a, b in zip(*results):
            torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_reduction_identities_and_unit_weights():
    logits, labels = _batch(3)
    C = logits.shape[1]
    none = hypersimplex_loss(logits, labels, reduction="none")
    assert torch.allclose(none.sum(), hypersimplex_loss(logits, labels, reduction="sum"))
    assert torch.allclose(none.mean() / C, hypersimplex_loss(logits, labels))
    # The mean equals the C library's one-call loss (the mean over the B x C entries).
    assert torch.allclose(hypersimplex_loss(logits, labels), multiclass_loss(logits, labels, tau=1.5),
                          atol=1e-14, rtol=0)
    ones = torch.ones(C)
    for reduction in ("mean", "sum", "none"):
        torch.testing.assert_close(hypersimplex_loss(logits, labels, weight=ones, reduction=reduction),
                                   hypersimplex_loss(logits, labels, reduction=reduction))


def test_gradcheck_none_and_weights():
    logits, labels = _batch(4, B=12, C=4)
    logits.requires_grad_()
    w = torch.tensor([1.0, 2.0, 0.5, 1.5], dtype=torch.float64)
    for reduction in ("none", "mean"):
        loss = HyperSimplexLoss(weight=w, reduction=reduction)
        assert gradcheck(lambda x: loss(x, labels), (logits,), eps=1e-6, atol=1e-7)


def test_bad_options_raise():
    logits, labels = _batch(5)
    with pytest.raises(ValueError, match="reduction"):
        HyperSimplexLoss(reduction="batchmean")
    with pytest.raises(ValueError, match="weight must have shape"):
        hypersimplex_loss(logits, labels, weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="disagree on the number of classes"):
        HyperSimplexLoss(tau=[1.0, 2.0], weight=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="momentum"):
        HyperSimplexLoss(momentum=0.0)
    with pytest.raises(TypeError, match="integer"):
        hypersimplex_loss(logits, labels.double())
    with pytest.raises(ValueError, match=r"shape \(48,\)"):
        hypersimplex_loss(logits, labels[:5])


# ---------------------------------------------------------------------------------------------
# Half precision
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_are_computed_in_float32(backend, dtype):
    logits32, labels = _batch(6, dtype=torch.float32)
    logits = logits32.to(dtype)
    x = logits.clone().requires_grad_()
    loss = HyperSimplexLoss(backend=backend)(x, labels)
    loss.backward()
    assert loss.dtype == dtype and x.grad.dtype == dtype
    x32 = logits.float().requires_grad_()  # the same (rounded) values in float32
    loss32 = HyperSimplexLoss(backend=backend)(x32, labels)
    loss32.backward()
    assert loss.item() == loss32.to(dtype).item()
    torch.testing.assert_close(x.grad, x32.grad.to(dtype), atol=0, rtol=0)
    p = soft_binary_argmax(logits, 3.0, 1.0, dim=0, backend=backend)
    assert p.dtype == dtype
    torch.testing.assert_close(p, soft_binary_argmax(logits.float(), 3.0, 1.0, dim=0).to(dtype))


# ---------------------------------------------------------------------------------------------
# First order only, tracing, scripting, repr
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", ["loss", "operator", "c_loss"])
def test_double_backward_raises_a_clear_error(make):
    logits, labels = _batch(7)
    x = logits.clone().requires_grad_()
    if make == "loss":
        out = HyperSimplexLoss()(x, labels)
    elif make == "operator":
        out = (soft_binary_argmax(x, 3.0, 1.0, dim=0) ** 2).sum()
    else:
        out = multiclass_loss(x, labels, kind="cross_entropy")
    (g,) = torch.autograd.grad(out, x, create_graph=True)
    with pytest.raises(RuntimeError, match="second derivatives are not supported"):
        g.pow(2).sum().backward()
    # First-order gradients are unaffected by create_graph=True.
    (g1,) = torch.autograd.grad(out if make != "loss" else HyperSimplexLoss()(x, labels), x)
    torch.testing.assert_close(g.detach(), g1)


def test_tracing_and_scripting_raise_clear_errors():
    logits, labels = _batch(8)
    with pytest.raises(RuntimeError, match="cannot be traced"):
        torch.jit.trace(lambda x: HyperSimplexLoss()(x, labels), (logits,), check_trace=False)
    with pytest.raises(RuntimeError, match="cannot be traced"):
        torch.jit.trace(lambda x: soft_binary_argmax(x, 2.0), (logits,), check_trace=False)
    with pytest.raises(RuntimeError, match="TorchScript"):
        torch.jit.script(HyperSimplexLoss())

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 5)
            self.loss = HyperSimplexLoss()

        def forward(self, x):
            return self.linear(x)

    with pytest.raises(RuntimeError, match="TorchScript"):
        torch.jit.script(Model())


def test_extra_repr():
    text = repr(HyperSimplexLoss(k_policy="fraction:0.5", tau=2.0, weight=[1.0, 2.0],
                                 reduction="none", momentum=None))
    for part in ("k_policy='fraction:0.5'", "tau=2.0", "reduction='none'", "momentum=None",
                 "weight=[1.0, 2.0]", "num_classes=2", "backend='auto'"):
        assert part in text, (part, text)


# ---------------------------------------------------------------------------------------------
# Decision rule (issue 12): invariance, running thresholds, predict, state_dict
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("policy", ["count", "fraction:0.5"])
def test_loss_and_gradient_are_invariant_to_per_column_shifts(backend, policy):
    logits, labels = _batch(9, B=64)
    tau = torch.tensor([0.5, 1.0, 1.5, 2.0, 0.8], dtype=torch.float64)
    shift = torch.tensor([3.0, -7.0, 0.25, 11.0, -1.5], dtype=torch.float64)
    out = []
    for x0 in (logits, logits + shift):
        x = x0.clone().requires_grad_()
        loss, theta, _ = hypersimplex_loss(x, labels, tau=tau, k_policy=policy, backend=backend,
                                           return_thresholds=True)
        loss.backward()
        out.append((loss.detach(), x.grad, theta))
    torch.testing.assert_close(out[0][0], out[1][0], atol=1e-13, rtol=0)
    torch.testing.assert_close(out[0][1], out[1][1], atol=1e-13, rtol=0)
    # theta_c absorbs b_c / tau_c, so the threshold rule predicts the same classes.
    torch.testing.assert_close(out[1][2] - out[0][2], shift / tau, atol=1e-12, rtol=0)
    test = torch.randn(20, 5, dtype=torch.float64, generator=_gen(10))
    assert torch.equal(predict_with_thresholds(test, out[0][2], tau),
                       predict_with_thresholds(test + shift, out[1][2], tau))


def test_running_thresholds_by_hand():
    # Columns of B = 4 with count k: class 0 has 1 positive, class 1 has 3, class 2 none.
    logits = torch.tensor([[3.0, 0.0, 0.0],
                           [1.0, 2.0, 0.0],
                           [0.2, 1.0, 0.0],
                           [-1.0, 0.5, 0.0]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 1, 1])
    loss_fn = HyperSimplexLoss(tau=1.0, momentum=0.1)
    assert loss_fn.running_threshold.numel() == 0
    loss_fn(logits, labels)
    # Class 0, k = 1 over (3, 1, 0.2, -1): p = (1, 0, 0, 0) for every theta in [1, 3 - 1], a
    # flat root: theta is the middle, 1.5.
    # Class 1, k = 3 over (0, 2, 1, 0.5): 2 and 1 at 1, 0.5 - theta and 0 - theta free:
    # 2 + 0.5 - 2 theta = 3 -> theta = -0.25, p = (0.25, 1, 1, 0.75).
    # Class 2, k = 0: not determined, not recorded.
    assert loss_fn.running_threshold.tolist()[:2] == [1.5, -0.25]
    assert loss_fn.threshold_batches.tolist() == [1, 1, 0]
    with pytest.raises(RuntimeError, match=r"classes \[2\]"):
        loss_fn.predict(logits)
    # A second batch moves the running values by momentum 0.1; class 2 is initialized.
    logits2 = torch.tensor([[0.0, 4.0, 1.0],
                            [1.0, 0.0, 3.0],
                            [0.0, 1.0, 2.0],
                            [2.0, 0.0, 0.0]], dtype=torch.float64)
    labels2 = torch.tensor([1, 2, 2, 0])
    _, theta2, _ = hypersimplex_loss(logits2, labels2, tau=1.0, return_thresholds=True)
    loss_fn(logits2, labels2)
    expected = [0.9 * 1.5 + 0.1 * theta2[0].item(), 0.9 * -0.25 + 0.1 * theta2[1].item(),
                theta2[2].item()]
    assert loss_fn.running_threshold.tolist() == pytest.approx(expected, abs=1e-6)
    assert loss_fn.threshold_batches.tolist() == [2, 2, 1]
    # Eval mode does not update.
    loss_fn.eval()
    before = loss_fn.running_threshold.clone()
    loss_fn(logits, labels)
    assert torch.equal(before, loss_fn.running_threshold)


def test_predict_on_hand_cases():
    loss_fn = HyperSimplexLoss(tau=[1.0, 2.0, 1.0], num_classes=3)
    state = {"running_threshold": torch.tensor([2.0, -1.0, 0.0]),
             "threshold_batches": torch.tensor([5, 5, 5])}
    loss_fn.load_state_dict(state)
    logits = torch.tensor([[2.5, 0.5, 0.8],     # z / tau - theta = (0.5, 1.25, 0.8) -> 1
                           [4.0, -4.0, 1.0],    # (2.0, -1.0, 1.0) -> 0
                           [1.0, -2.0, 0.9]])   # (-1.0, 0.0, 0.9) -> 2
    assert loss_fn.predict(logits).tolist() == [1, 0, 2]
    assert logits.argmax(dim=1).tolist() == [0, 0, 0]  # the plain argmax disagrees
    assert predict_with_thresholds(logits, state["running_threshold"], [1.0, 2.0, 1.0]).tolist() == [1, 0, 2]
    scores = loss_fn.decision_scores(logits)
    torch.testing.assert_close(scores[0], torch.tensor([0.5, 1.25, 0.8]))


def test_cumulative_average_without_momentum():
    loss_fn = HyperSimplexLoss(momentum=None)
    thetas = []
    for seed in range(4):
        logits, labels = _batch(20 + seed, B=64, C=3)
        _, theta, _ = hypersimplex_loss(logits, labels, return_thresholds=True)
        thetas.append(theta)
        loss_fn(logits, labels)
    torch.testing.assert_close(loss_fn.running_threshold.double(), torch.stack(thetas).mean(dim=0),
                               atol=1e-6, rtol=0)


def test_thresholds_in_state_dict_round_trip():
    loss_fn = HyperSimplexLoss(tau=1.5)
    for seed in range(3):
        loss_fn(*_batch(30 + seed))
    state = loss_fn.state_dict()
    assert set(state) == {"running_threshold", "threshold_batches"}
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    fresh = HyperSimplexLoss(tau=1.5)  # does not know C yet: takes it from the state
    fresh.load_state_dict(torch.load(buf))
    assert torch.equal(fresh.running_threshold, loss_fn.running_threshold)
    assert torch.equal(fresh.threshold_batches, loss_fn.threshold_batches)
    test = torch.randn(30, 5, dtype=torch.float64, generator=_gen(40))
    assert torch.equal(fresh.predict(test), loss_fn.predict(test))
    with pytest.raises(RuntimeError, match="size mismatch"):
        HyperSimplexLoss(num_classes=4).load_state_dict(state)
    with pytest.raises(ValueError, match="tracks thresholds for 5 classes"):
        loss_fn(*_batch(41, C=4))


def test_thresholds_of_both_backends_agree():
    modules = [HyperSimplexLoss(backend=b) for b in BACKENDS]
    for seed in range(3):
        batch = _batch(50 + seed, B=32, C=6)
        for m in modules:
            m(*batch)
    torch.testing.assert_close(modules[0].running_threshold, modules[1].running_threshold,
                               atol=1e-6, rtol=0)
    assert torch.equal(modules[0].threshold_batches, modules[1].threshold_batches)
