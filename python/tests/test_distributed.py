"""hypersimplex.distributed with two CPU processes on the gloo backend: the distributed loss's
value and gradient equal the single-process full-batch ones (logit rows, and a model's
parameters through DistributedDataParallel), with shards of unequal size; the per-shard scope
is a different loss."""

import copy
import os
import tempfile

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (Debian: python3-torch)")
dist = pytest.importorskip("torch.distributed")
mp = pytest.importorskip("torch.multiprocessing")

if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("this PyTorch has no torch.distributed with the gloo backend", allow_module_level=True)

from hypersimplex.distributed import DistributedHyperSimplexLoss  # noqa: E402
from hypersimplex.torch import HyperSimplexLoss  # noqa: E402

WORLD = 2
B, C, D = 37, 5, 6  # 37 rows: shards of 18 and 19


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, D, generator=g, dtype=torch.float64)
    y = torch.randint(0, C, (B,), generator=g)
    torch.manual_seed(1)
    model = torch.nn.Linear(D, C).double()
    return x, y, model


def _check_ddp(model, ref_model, ref, x, y, opts):
    # its own function: the DDP wrapper and its gradient hooks are freed on return, while the
    # process group still exists (freed after destroy_process_group, it hung now and then)
    ddp = torch.nn.parallel.DistributedDataParallel(copy.deepcopy(model))
    loss = DistributedHyperSimplexLoss(**opts)(ddp(x), y)
    loss.backward()
    assert torch.allclose(loss.detach(), ref.detach(), rtol=0, atol=1e-15)
    for p, q in zip(ddp.module.parameters(), ref_model.parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=1e-12, atol=1e-14), (p.grad - q.grad).abs().max()


def _worker(rank, init_file, k_policy):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        x, y, model = _data()
        lo, hi = B * rank // WORLD, B * (rank + 1) // WORLD
        opts = dict(k_policy=k_policy, tau=1.5)

        # the single-process full-batch loss and gradients
        ref_model = copy.deepcopy(model)
        z_full = ref_model(x)
        ref_fn = HyperSimplexLoss(**opts)
        ref = ref_fn(z_full, y)
        ref.backward()
        zf = z_full.detach().clone().requires_grad_()
        HyperSimplexLoss(**opts)(zf, y).backward()

        # 1. logits: this rank's rows of the full-batch gradient, the full-batch value
        z = z_full.detach()[lo:hi].clone().requires_grad_()
        loss_fn = DistributedHyperSimplexLoss(ddp=False, **opts)
        loss = loss_fn(z, y[lo:hi])
        loss.backward()
        assert torch.equal(loss.detach(), ref.detach()), (float(loss), float(ref))
        assert torch.equal(z.grad, zf.grad[lo:hi])
        # the running thresholds: the full batch's update, on every rank; the same predictions
        assert torch.equal(loss_fn.loss.running_threshold, ref_fn.running_threshold)
        assert torch.equal(loss_fn.predict(z_full.detach()), ref_fn.predict(z_full.detach()))

        # 2. a model under DistributedDataParallel: the averaged parameter gradients are the
        #    full-batch ones (up to the order of the sum over ranks)
        _check_ddp(model, ref_model, ref, x[lo:hi], y[lo:hi], opts)

        # 3. per shard: another loss (k from the shard), the same value on every rank
        zs = z_full.detach()[lo:hi].clone().requires_grad_()
        shard_fn = DistributedHyperSimplexLoss(scope="shard", ddp=False, **opts)
        shard = shard_fn(zs, y[lo:hi])
        shard.backward()
        # every rank keeps the same (averaged) running thresholds
        runs = [torch.zeros_like(shard_fn.loss.running_threshold) for _ in range(WORLD)]
        dist.all_gather(runs, shard_fn.loss.running_threshold)
        assert torch.equal(runs[0], runs[1])
        own = HyperSimplexLoss(**opts)(z_full.detach()[lo:hi], y[lo:hi])
        values = [torch.zeros(1, dtype=torch.float64) for _ in range(WORLD)]
        dist.all_gather(values, shard.detach().reshape(1))
        assert torch.equal(values[0], values[1])
        if k_policy == "count":
            assert abs(float(shard) - float(ref)) > 1e-6
        # its gradient: the shard's own loss gradient times the shard's share of the batch
        zo = z_full.detach()[lo:hi].clone().requires_grad_()
        HyperSimplexLoss(**opts)(zo, y[lo:hi]).backward()
        assert torch.allclose(zs.grad, zo.grad * ((hi - lo) / B), rtol=1e-12, atol=0)
        assert own.numel() == 1
        dist.barrier()  # both ranks are done with every collective before the group goes
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("k_policy", ["count", "fraction:0.5"])
def test_two_processes_match_full_batch(k_policy):
    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.join(tmp, "rendezvous")
        # spawn, not fork: the earlier torch tests of this process have started threads, and a
        # forked child can inherit one of their locks held (it hung there, now and then)
        mp.start_processes(_worker, args=(init_file, k_policy), nprocs=WORLD, join=True, start_method="spawn")


def test_needs_an_initialized_group():
    if dist.is_initialized():
        pytest.skip("a process group is already initialized in this process")
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedHyperSimplexLoss()(torch.zeros(4, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 0]))


def test_bad_options():
    with pytest.raises(ValueError, match="scope"):
        DistributedHyperSimplexLoss(scope="everything")
    with pytest.raises(ValueError, match="either"):
        DistributedHyperSimplexLoss(loss=HyperSimplexLoss(), tau=2.0)
