"""The HyperSimplex loss on the global batch of a data-parallel (torch.distributed) job.

The HyperSimplex loss couples a whole batch: each class column is projected across it, and
k_c (the "count" policy: the number of examples of class c) is a property of the batch. With
plain data parallelism every rank would project only its own shard with its own k, which is
another loss. `DistributedHyperSimplexLoss` all-gathers the logits (with autograd) and the
labels over a process group, evaluates the loss on the whole global batch on every rank
(what one process would compute), and gives each rank the gradient of its own rows only:

    import torch.distributed as dist
    from hypersimplex.distributed import DistributedHyperSimplexLoss

    dist.init_process_group("gloo", ...)
    model = torch.nn.parallel.DistributedDataParallel(net)
    loss_fn = DistributedHyperSimplexLoss(k_policy="count", tau=1.5)   # default group
    loss = loss_fn(model(x_shard), y_shard)             # the global batch's loss, every rank
    loss.backward()                                      # DDP averages: full-batch gradient

Gradients. Every rank evaluates the same loss L of the global batch, and the parameter
gradient is the sum over ranks of (dL/dz_r)(dz_r/dtheta). DistributedDataParallel averages
the ranks' gradients (divides the sum by the world size), so by default (`ddp=True`) the
gradient that reaches a rank's logits is its rows of dL/dz times the world size, and DDP's
average is then exactly the single-process full-batch gradient. `ddp=False` gives the rows of
dL/dz as they are (for code that sums the ranks' gradients itself).

Running thresholds (the decision rule of HyperSimplexLoss.predict). With the global scope
the wrapped loss updates its running class thresholds from the global batch, so every rank
makes the same update and keeps the same thresholds as one process would; `predict` and
`decision_scores` use them.

`scope="shard"` projects each rank's own shard instead (k from the shard, the loss the
shards' size-weighted mean), for measuring what the global batch changes. Each rank then
updates its thresholds from its shard and the ranks' running thresholds are averaged after
every step (the batch counts: their maximum), so the ranks still agree.

The shards may differ in size (the last batch of an epoch). Use the gloo backend: the row
counts are exchanged as CPU tensors (NCCL would need them on the GPU); tested on CPU tensors.
"""

import torch
import torch.distributed as dist

from .torch import HyperSimplexLoss

__all__ = ["DistributedHyperSimplexLoss", "gather_rows"]


def _group_info(group):
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("DistributedHyperSimplexLoss needs torch.distributed initialized "
                           "(torch.distributed.init_process_group)")
    return dist.get_rank(group), dist.get_world_size(group)


def _gather(x, group, world):
    """Concatenates every rank's x (the same trailing shape, any number of rows) in rank
    order; returns it with the row counts."""
    n = torch.tensor([x.shape[0]], dtype=torch.int64)
    counts = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(counts, n, group=group)
    counts = [int(c) for c in counts]
    most = max(counts)
    padded = x.new_zeros((most,) + tuple(x.shape[1:]))
    padded[: x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded, group=group)
    return torch.cat([p[:c] for p, c in zip(parts, counts)]), counts


class _GatherRows(torch.autograd.Function):
    """All-gather of rows; backward returns this rank's rows of the gradient, scaled."""

    @staticmethod
    def forward(ctx, x, group, scale):
        rank, world = _group_info(group)
        full, counts = _gather(x.detach(), group, world)
        ctx.first, ctx.n, ctx.scale = sum(counts[:rank]), x.shape[0], scale
        return full

    @staticmethod
    def backward(ctx, grad):
        rows = grad[ctx.first: ctx.first + ctx.n]
        return (rows * ctx.scale if ctx.scale != 1 else rows.clone()), None, None


class _ScaleGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


def gather_rows(x, group=None, grad_scale=1.0):
    """All-gathers x (rows = the first dimension) over `group` (None: the default group) in
    rank order, differentiably: the gradient of the result flows back to this rank's rows
    only, times grad_scale."""
    return _GatherRows.apply(x, group, float(grad_scale))


class DistributedHyperSimplexLoss(torch.nn.Module):
    """HyperSimplexLoss (hypersimplex.torch) over the global batch of a process group.

    group: a torch.distributed process group; None (default) = the default group.
    scope: "global" (default): the loss of the all-gathered global batch, the same value on
        every rank; "shard": each rank's own shard (size-weighted mean over the ranks).
    ddp: True (default) scales this rank's gradient by the world size, for
        DistributedDataParallel's averaging (module docstring); False: the plain rows.
    loss: a HyperSimplexLoss to use (or any loss module of (logits, labels) on one batch);
        otherwise the remaining keyword arguments build a HyperSimplexLoss (k_policy, tau,
        prior, weight, regularization, reduction, momentum, num_classes, backend, threads).
    Inputs: this rank's logits (b, C) and labels (b); returns a scalar.
    """

    def __init__(self, loss=None, group=None, scope="global", ddp=True, **kwargs):
        super().__init__()
        if scope not in ("global", "shard"):
            raise ValueError(f"scope must be 'global' or 'shard', got {scope!r}")
        if loss is not None and kwargs:
            raise ValueError("give either a loss module or the options to build one, not both")
        self.loss = loss if loss is not None else HyperSimplexLoss(**kwargs)
        self.group = group
        self.scope = scope
        self.ddp = bool(ddp)

    def forward(self, logits, labels):
        _, world = _group_info(self.group)
        scale = float(world) if self.ddp else 1.0
        if self.scope == "global":
            all_logits = gather_rows(logits, self.group, scale)
            all_labels, _ = _gather(torch.as_tensor(labels).detach(), self.group, world)
            return self.loss(all_logits, all_labels)
        # shard: the local loss weighted by its share of the global batch; the value reported
        # is the sum over ranks, the gradient that of the local part
        n = torch.tensor([float(logits.shape[0])], dtype=torch.float64)
        total = n.clone()
        dist.all_reduce(total, group=self.group)
        part = self.loss(logits, labels) * float(n / total)
        self._average_thresholds()
        value = part.detach().clone()
        dist.all_reduce(value, group=self.group)
        return _ScaleGrad.apply(part, scale) + (value - part.detach())

    @torch.no_grad()
    def _average_thresholds(self):
        run = getattr(self.loss, "running_threshold", None)
        count = getattr(self.loss, "threshold_batches", None)
        if not self.training or run is None or count is None or run.numel() == 0:
            return
        _, world = _group_info(self.group)
        dist.all_reduce(run, group=self.group)
        run.div_(world)
        dist.all_reduce(count, op=dist.ReduceOp.MAX, group=self.group)

    def decision_scores(self, logits):
        """The wrapped loss's decision_scores (HyperSimplexLoss: z / tau - running thresholds)."""
        return self.loss.decision_scores(logits)

    def predict(self, logits):
        """The wrapped loss's predict: (B) class indices by the running thresholds."""
        return self.loss.predict(logits)

    def extra_repr(self):
        return f"scope={self.scope!r}, ddp={self.ddp}"
