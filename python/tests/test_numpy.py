"""Tests of the ctypes declarations and the NumPy layer (no torch needed)."""

import os
import re

import numpy as np
import pytest

import hypersimplex as hs
from hypersimplex import _lib

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HEADERS = [os.path.join(REPO, "include", "hypersimplex.h"),
           os.path.join(REPO, "include", "hypersimplex", "loss.h")]


# ---------------------------------------------------------------------------------------------
# Independent NumPy oracle: the paper's sort + pool-adjacent-violators, written out here.
# ---------------------------------------------------------------------------------------------

def pav_project(x, k):
    """Projection of the vector x onto {p in [0,1]^n : sum p = k} by sort + PAV."""
    n = x.size
    order = np.argsort(-x, kind="stable")
    s = x[order]
    w = np.clip(k - np.arange(n), 0.0, 1.0)
    y = s - w
    sums, sizes = [], []
    for value in y:
        total, count = value, 1
        while sums and sums[-1] * count < total * sizes[-1]:
            total += sums.pop()
            count += sizes.pop()
        sums.append(total)
        sizes.append(count)
    v = np.repeat(np.array(sums) / np.array(sizes), sizes)
    p = np.empty(n)
    p[order] = s - v
    return p


def ref_project(z, k, tau, axis=-1):
    zm = np.moveaxis(np.asarray(z, dtype=np.float64), axis, -1)
    batch = zm.shape[:-1]
    kb = np.broadcast_to(np.asarray(k, dtype=np.float64), batch)
    tb = np.broadcast_to(np.asarray(tau, dtype=np.float64), batch)
    out = np.empty_like(zm)
    for idx in np.ndindex(*batch):
        out[idx] = pav_project(zm[idx] / tb[idx], kb[idx])
    return np.moveaxis(out, -1, axis)


def ref_loss(logits, labels, tau, k):
    """Multiclass HyperSimplex loss (mean over B*C) from the oracle, per-class k and tau."""
    B, C = logits.shape
    onehot = np.eye(C)[labels]
    P = ref_project(logits, k, tau, axis=0)
    return ((P - onehot) ** 2).sum() / (B * C)


def numeric_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


RNG = np.random.default_rng(20260423)


# ---------------------------------------------------------------------------------------------
# The thin layer
# ---------------------------------------------------------------------------------------------

def test_every_exported_function_is_declared():
    names = []
    for header in HEADERS:
        with open(header) as f:
            text = f.read()
        names += re.findall(r"HS_API[^;(]*?\b(hs_[a-z0-9_]+)\s*\(", text)
    assert len(names) >= 20, names
    assert _lib.missing == [], f"library {hs.library_path} lacks {_lib.missing}"
    for name in names:
        fn = getattr(_lib.lib, name)
        assert fn.argtypes is not None, f"{name} has no declared argument types"
        assert fn.restype is not None, f"{name} has no declared return type"


def test_version_matches_header():
    with open(HEADERS[0]) as f:
        header_version = re.search(r'#define HS_VERSION_STRING "([^"]+)"', f.read()).group(1)
    assert hs.version() == header_version == hs.__version__


def test_status_strings():
    assert hs.status_string(0) == "success"
    assert "tau" in hs.status_string(4)
    assert hs.status_string(999)  # never empty or NULL


def test_proj_make_and_check():
    d = hs.make_proj(3, 5, 2.0, 0.5)
    assert (d.rows, d.n, d.row_stride, d.elem_stride, d.k, d.tau) == (3, 5, 5, 1, 2.0, 0.5)
    assert not d.k_rows and not d.tau_rows
    assert (d.reg, d.solver) == (hs.REGULARIZATIONS["l2"], hs.SOLVERS["fast"])
    assert hs.proj_check(d) is None
    bad = hs.make_proj(0, 5, 2.0, 0.5)
    assert isinstance(hs.proj_check(bad), str) and hs.proj_check(bad)
    bad = hs.make_proj(3, 5, 6.0, 0.5)
    assert hs.proj_check(bad)
    bad = hs.make_proj(3, 5, 2.0, -1.0)
    assert hs.proj_check(bad)


# ---------------------------------------------------------------------------------------------
# Operator
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("solver", ["fast", "sort_pav"])
@pytest.mark.parametrize("n,k,tau", [(1, 0.5, 1.0), (2, 1.0, 0.3), (7, 3.0, 1.0), (7, 2.5, 0.25),
                                     (50, 10.0, 2.0), (50, 0.0, 1.0), (50, 50.0, 1.0),
                                     (200, 37.3, 0.1)])
def test_forward_matches_sort_pav_oracle(solver, n, k, tau):
    z = RNG.normal(size=(6, n))
    p = hs.soft_binary_argmax(z, k, tau, solver=solver)
    assert p.dtype == np.float64 and p.shape == z.shape
    np.testing.assert_allclose(p, ref_project(z, k, tau), atol=1e-12, rtol=0)
    assert np.all(p >= 0) and np.all(p <= 1)
    np.testing.assert_allclose(p.sum(axis=-1), k, atol=1e-9)


def test_forward_with_ties_and_duplicates():
    z = np.array([[1.0, 1.0, 1.0, 0.0, 0.0], [3.0, 3.0, -1.0, -1.0, -1.0], [0.0] * 5])
    p = hs.soft_binary_argmax(z, 2.0, 1.0)
    np.testing.assert_allclose(p, ref_project(z, 2.0, 1.0), atol=1e-12)


def _exact_cases(max_n=64):
    """Short rows of tests/fixtures/exact_cases.txt (exact references, any magnitude of z/tau)."""
    with open(os.path.join(REPO, "tests", "fixtures", "exact_cases.txt")) as f:
        assert f.readline() == "HSEXACT 1\n"
        count = int(f.readline().split()[1])
        for _ in range(count):
            head = f.readline().split()
            name, reg, n, k, tau, m, expect = head[1], head[2], int(head[3]), \
                float.fromhex(head[4]), float.fromhex(head[5]), int(head[6]), head[7]
            rows = [f.readline().split() for _ in range(m)]
            if n <= max_n:
                z = [float.fromhex(r[0]) for r in rows for _ in range(int(r[1]))]
                p = [float.fromhex(r[2]) for r in rows for _ in range(int(r[1]))]
                yield name, reg, k, tau, expect, np.array(z), np.array(p)


def test_exact_at_every_magnitude():
    """1e308, ties at 2^52 and beyond, huge outliers, tiny tau: p to 2^-40 of the exact answer,
    and an error only where z / tau overflows."""
    checked = 0
    for name, reg, k, tau, expect, z, want in _exact_cases():
        solvers = ["fast", "sort_pav"] if reg == "l2" else ["fast"]
        for solver in solvers:
            if expect == "nonfinite":
                with pytest.raises(ValueError):
                    hs.soft_binary_argmax(z, k, tau, regularization=reg, solver=solver)
                continue
            p = hs.soft_binary_argmax(z, k, tau, regularization=reg, solver=solver)
            np.testing.assert_allclose(p, want, atol=2.0**-40, rtol=0, err_msg=name)
            checked += 1
    assert checked > 300


def test_float32_keeps_dtype():
    z = RNG.normal(size=(5, 30))
    p64 = hs.soft_binary_argmax(z, 4.0, 0.5)
    p32 = hs.soft_binary_argmax(z.astype(np.float32), 4.0, 0.5)
    assert p32.dtype == np.float32
    np.testing.assert_allclose(p32, p64, atol=1e-6)
    # Integer input is converted to float64.
    pi = hs.soft_binary_argmax(np.arange(12).reshape(3, 4), 2.0, 1.0)
    assert pi.dtype == np.float64


@pytest.mark.parametrize("axis", [-3, -2, -1, 0, 1, 2])
def test_any_axis_of_a_3d_batch(axis):
    z = RNG.normal(size=(4, 5, 6))
    n = z.shape[axis]
    k = n / 3
    p = hs.soft_binary_argmax(z, k, 0.7, axis=axis)
    assert p.shape == z.shape
    np.testing.assert_allclose(p, ref_project(z, k, 0.7, axis=axis), atol=1e-12)
    np.testing.assert_allclose(p.sum(axis=axis), k, atol=1e-9)


@pytest.mark.parametrize("make", [
    lambda z: z[:, ::2],                 # strided slice
    lambda z: z.T,                       # transposed view
    lambda z: np.asfortranarray(z),      # column-major
    lambda z: z[::-1],                   # negative row stride
    lambda z: z[:, ::-1],                # negative element stride
    lambda z: np.broadcast_to(z[:1], z.shape),  # stride 0
])
@pytest.mark.parametrize("axis", [0, 1])
def test_non_contiguous_inputs(make, axis):
    z = make(RNG.normal(size=(8, 10)))
    before = np.array(z, copy=True)
    k = z.shape[axis] / 2
    p = hs.soft_binary_argmax(z, k, 0.5, axis=axis)
    np.testing.assert_array_equal(z, before)  # input untouched
    np.testing.assert_allclose(p, ref_project(z, k, 0.5, axis=axis), atol=1e-12)
    g = make(RNG.normal(size=(8, 10)))   # the gradient in the same kind of layout
    dz = hs.soft_binary_argmax_vjp(p, g, k, 0.5, axis=axis)
    p_f = np.asfortranarray(p)            # and p in another one
    dz_f = hs.soft_binary_argmax_vjp(p_f, g, k, 0.5, axis=axis)
    dz_c = hs.soft_binary_argmax_vjp(np.ascontiguousarray(p), np.ascontiguousarray(g), k, 0.5,
                                     axis=axis)
    np.testing.assert_array_equal(dz, dz_c)
    np.testing.assert_array_equal(dz_f, dz_c)


def test_per_row_k_and_tau_broadcast():
    z = RNG.normal(size=(3, 4, 9))
    k = np.array([1.0, 2.5, 4.0, 8.0])          # broadcasts over the first dimension
    tau = np.array([[0.5], [1.0], [2.0]])       # broadcasts over the second
    p = hs.soft_binary_argmax(z, k, tau)
    np.testing.assert_allclose(p, ref_project(z, k, tau), atol=1e-12)
    with pytest.raises(ValueError, match="broadcast"):
        hs.soft_binary_argmax(z, np.ones(5), 1.0)


def test_return_info_theta_and_free_set():
    z = RNG.normal(size=(20, 15))
    tau = 0.4
    p, theta, n_free = hs.soft_binary_argmax(z, 5.0, tau, return_info=True)
    assert theta.shape == (20,) and n_free.shape == (20,)
    np.testing.assert_array_equal(n_free, ((p > 0) & (p < 1)).sum(axis=1))
    has_free = n_free > 0
    np.testing.assert_allclose(p[has_free], np.clip(z / tau - theta[:, None], 0, 1)[has_free],
                               atol=1e-12)
    for reg in ("kl", "entropy"):
        p, theta, _ = hs.soft_binary_argmax(z, 5.0, tau, regularization=reg, return_info=True)
        u = z / tau - theta[:, None]
        expected = np.minimum(1, np.exp(u)) if reg == "kl" else 1 / (1 + np.exp(-u))
        np.testing.assert_allclose(p, expected, atol=1e-12)
        np.testing.assert_allclose(p.sum(axis=1), 5.0, atol=1e-9)


def test_threads_do_not_change_results():
    z = RNG.normal(size=(64, 33))
    p1 = hs.soft_binary_argmax(z, 7.0, 0.3, threads=1)
    p2 = hs.soft_binary_argmax(z, 7.0, 0.3, threads=2)
    np.testing.assert_array_equal(p1, p2)


@pytest.mark.parametrize("regularization", ["l2", "kl", "entropy"])
@pytest.mark.parametrize("axis", [0, -1])
def test_vjp_matches_finite_differences(regularization, axis):
    z = RNG.normal(size=(4, 6))
    g = RNG.normal(size=(4, 6))
    k, tau = 2.5, 0.8
    p = hs.soft_binary_argmax(z, k, tau, axis=axis, regularization=regularization)
    dz = hs.soft_binary_argmax_vjp(p, g, k, tau, axis=axis, regularization=regularization)
    f = lambda x: float((hs.soft_binary_argmax(x, k, tau, axis=axis, regularization=regularization) * g).sum())
    np.testing.assert_allclose(dz, numeric_grad(f, z), atol=1e-7)
    # J is symmetric: the JVP is the same map.
    dp = hs.soft_binary_argmax_jvp(p, g, k, tau, axis=axis, regularization=regularization)
    np.testing.assert_allclose(dp, dz, atol=1e-15)
    # float32 agrees.
    dz32 = hs.soft_binary_argmax_vjp(p.astype(np.float32), g.astype(np.float32), k, tau, axis=axis,
                                     regularization=regularization)
    assert dz32.dtype == np.float32
    np.testing.assert_allclose(dz32, dz, atol=1e-5)


def test_errors_carry_the_c_message():
    z = RNG.normal(size=(3, 4))
    with pytest.raises(ValueError) as e:
        hs.soft_binary_argmax(z, 5.0, 1.0)
    assert isinstance(e.value, hs.HypersimplexError)
    assert e.value.status == 3 and e.value.status_string == hs.status_string(3)
    assert str(e.value) == hs.last_error() and "k" in str(e.value)
    with pytest.raises(hs.HypersimplexError, match="tau"):
        hs.soft_binary_argmax(z, 2.0, 0.0)
    with pytest.raises(hs.HypersimplexError, match="tau"):
        hs.soft_binary_argmax(z, 2.0, np.array([1.0, 1.0, -1.0]))
    bad = z.copy()
    bad[1, 2] = np.nan
    with pytest.raises(hs.HypersimplexError) as e:
        hs.soft_binary_argmax(bad, 2.0, 1.0)
    assert e.value.status == 5 and "nan" in str(e.value).lower()
    with pytest.raises(hs.HypersimplexError):
        hs.soft_binary_argmax(np.empty((3, 0)), 0.0, 1.0)  # n = 0
    with pytest.raises(ValueError, match="regularization"):
        hs.soft_binary_argmax(z, 2.0, 1.0, regularization="l3")
    with pytest.raises(ValueError, match="axis"):
        hs.soft_binary_argmax(z, 2.0, 1.0, axis=2)
    p = hs.soft_binary_argmax(z, 2.0, 1.0)
    with pytest.raises(ValueError, match="shape"):
        hs.soft_binary_argmax_vjp(p, np.ones((4, 3)), 2.0, 1.0)
    with pytest.raises(TypeError):
        hs.soft_binary_argmax(z.astype(complex), 2.0, 1.0)


def test_empty_batch_returns_empty():
    p = hs.soft_binary_argmax(np.empty((0, 5)), 2.0, 1.0)
    assert p.shape == (0, 5)


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------

def test_loss_names_and_policies():
    for name, code in hs.LOSS_KINDS.items():
        assert hs.parse_loss_kind(name) == code
        assert hs.loss_kind_name(code) == name
    assert hs.parse_k_policy("count")[0] == hs.K_POLICIES["count"]
    assert hs.parse_k_policy("prior")[0] == hs.K_POLICIES["prior"]
    assert hs.parse_k_policy("fraction:0.25") == (hs.K_POLICIES["fraction"], 0.25)
    assert hs.k_policy_name(hs.K_POLICIES["prior"]) == "prior"
    with pytest.raises(hs.HypersimplexError):
        hs.parse_loss_kind("xent")
    with pytest.raises(hs.HypersimplexError):
        hs.parse_k_policy("fraction:2")
    opts = hs.loss_opts_default("hypersimplex")
    assert opts.kind == hs.LOSS_KINDS["hypersimplex"] and opts.tau > 0


def _batch(B=24, C=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(B, C)), rng.integers(0, C, size=B)


@pytest.mark.parametrize("policy", ["count", "prior", "fraction:0.5", "fraction:0.3"])
def test_multiclass_hypersimplex_loss_matches_oracle(policy):
    logits, labels = _batch()
    B, C = logits.shape
    prior = np.array([0.1, 0.3, 0.2, 0.25, 0.15])
    tau = np.array([0.5, 1.0, 1.5, 2.0, 0.8])
    loss, d = hs.multiclass_loss(logits, labels, tau=tau, k_policy=policy, class_prior=prior)
    k = hs.class_k(labels, C, k_policy=policy, class_prior=prior)
    if policy == "count":
        np.testing.assert_array_equal(k, np.bincount(labels, minlength=C))
    elif policy == "prior":
        np.testing.assert_allclose(k, B * prior)
    else:
        np.testing.assert_array_equal(k, np.floor(float(policy.split(":")[1]) * B))
    assert loss == pytest.approx(ref_loss(logits, labels, tau, k), abs=1e-12)
    np.testing.assert_allclose(d, numeric_grad(lambda x: ref_loss(x, labels, tau, k), logits),
                               atol=1e-7)
    loss_sum, d_sum = hs.multiclass_loss(logits, labels, tau=tau, k_policy=policy,
                                         class_prior=prior, reduction="sum")
    assert loss_sum == pytest.approx(loss * B * C, rel=1e-12)
    np.testing.assert_allclose(d_sum, d * B * C, rtol=1e-10, atol=1e-14)
    loss_nograd, none = hs.multiclass_loss(logits, labels, tau=tau, k_policy=policy,
                                           class_prior=prior, grad=False)
    assert none is None and loss_nograd == pytest.approx(loss, rel=1e-13)
    loss32, d32 = hs.multiclass_loss(logits.astype(np.float32), labels, tau=tau, k_policy=policy,
                                     class_prior=prior)
    assert d32.dtype == np.float32
    assert loss32 == pytest.approx(loss, abs=1e-6)
    np.testing.assert_allclose(d32, d, atol=1e-6)


def test_multiclass_baselines_match_formulas():
    logits, labels = _batch(B=10, C=4, seed=3)
    B, C = logits.shape
    onehot = np.eye(C)[labels]

    def ce(x):
        m = x.max(axis=1, keepdims=True)
        lse = (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]
        return float(np.mean(lse - x[np.arange(B), labels]))

    def hinge(x):
        margins = 1 + x - x[np.arange(B), labels][:, None]
        margins[np.arange(B), labels] = 0
        return float(np.maximum(0, margins).sum(axis=1).mean())

    def mse(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        sm = e / e.sum(axis=1, keepdims=True)
        return float(((sm - onehot) ** 2).sum() / (B * C))

    for kind, f in [("cross_entropy", ce), ("hinge", hinge), ("mse", mse)]:
        loss, d = hs.multiclass_loss(logits, labels, kind=kind)
        assert loss == pytest.approx(f(logits), abs=1e-12), kind
        np.testing.assert_allclose(d, numeric_grad(f, logits), atol=1e-7, err_msg=kind)


def test_multiclass_loss_errors():
    logits, labels = _batch(B=6, C=3)
    bad = labels.copy()
    bad[4] = 3
    with pytest.raises(hs.HypersimplexError) as e:
        hs.multiclass_loss(logits, bad)
    assert e.value.status == 7 and str(e.value) == hs.last_error()
    with pytest.raises(hs.HypersimplexError):
        hs.multiclass_loss(logits, labels, tau=-1.0)
    with pytest.raises(hs.HypersimplexError):
        hs.multiclass_loss(logits, labels, k_policy="prior")  # no class_prior
    with pytest.raises(ValueError, match="shape"):
        hs.multiclass_loss(logits, labels[:4])
    with pytest.raises(ValueError):
        hs.multiclass_loss(logits[0], labels)
    with pytest.raises(TypeError):
        hs.multiclass_loss(logits, labels.astype(float))


def test_binary_loss_matches_oracle():
    rng = np.random.default_rng(7)
    z = rng.normal(size=40)
    y = (rng.random(40) < 0.3).astype(float)
    tau = 0.7

    def f(x):
        p = pav_project(x / tau, y.sum())
        return float(((p - y) ** 2).mean())

    loss, dz = hs.binary_loss(z, y, tau=tau)
    assert loss == pytest.approx(f(z), abs=1e-12)
    np.testing.assert_allclose(dz, numeric_grad(f, z), atol=1e-7)
    with pytest.raises(hs.HypersimplexError):
        hs.binary_loss(z, np.full(40, 0.5), tau=tau)


def test_class_prior_from_labels():
    prior = hs.class_prior_from_labels(np.array([0, 2, 2, 1, 2]), 4)
    np.testing.assert_allclose(prior, [0.2, 0.2, 0.6, 0.0])
    with pytest.raises(hs.HypersimplexError):
        hs.class_prior_from_labels(np.array([0, 4]), 4)
