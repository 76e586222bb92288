"""Benchmark: hypersimplex.torch against the authors' PyTorch operator design (torch.sort +
pool-adjacent-violators) and a vectorized plain-PyTorch sort + cumsum, forward and backward
timed separately, on the CPU. Prints a table (and the machine it ran on); never passes or
fails.

    PYTHONPATH=python HYPERSIMPLEX_LIBRARY=build/libhypersimplex.so \
        /usr/bin/python3 python/bench/bench_torch.py > python/bench/results/NAME.txt

Cases:
  10x8192 f32     10 vectors of 8192 float32 scores (contiguous rows) onto the
                  (8192, 819)-hypersimplex, tau 1
  1x1e6 f64       one vector of 10^6 float64 scores onto the (10^6, 10^5)-hypersimplex
  loss 8192x10    the multiclass HyperSimplex loss of (8192, 10) float32 logits (k policy
                  count, tau 1.5): every class column projected across the batch

Methods:
  ours C            hypersimplex.torch on CPU tensors (the C library's sort-free solver)
  ours torch-ops    hypersimplex.torch forced onto its PyTorch-operations backend (what GPU
                    tensors run; exact: sort + searchsorted threshold), here on the CPU
  ours C sort+PAV   the C library's reference solver (solver="sort_pav")
  torch sort+PAV    the authors' design in plain PyTorch: torch.sort, pool-adjacent-violators
                    (a Python loop over the sorted values), autograd through the sort, the
                    block means and the unsort
  torch sort+cumsum plain PyTorch, vectorized: sort + cumulative sums + searchsorted for the
                    threshold, autograd on the fixed free set

forward = the call (inputs require grad, so autograd records); backward = out.backward(w)
with a fixed random w (for the loss: loss.backward()). Medians of --reps runs (--ref-reps for
torch sort+PAV) after one warm-up. The last column is max |grad - grad of ours C|.
"""

import argparse
import datetime
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import hypersimplex  # noqa: E402
from hypersimplex import torch_reference as ref  # noqa: E402
from hypersimplex.torch import HyperSimplexLoss, soft_binary_argmax  # noqa: E402


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def time_fwd_bwd(fn, x, w, reps):
    """Median forward and backward wall times (ms) after one warm-up, and the last gradient."""
    fwd, bwd = [], []
    for i in range(reps + 1):
        xi = x.detach().clone().requires_grad_()
        t0 = time.perf_counter()
        out = fn(xi)
        t1 = time.perf_counter()
        out.backward(w) if w is not None else out.backward()
        t2 = time.perf_counter()
        if i > 0:
            fwd.append((t1 - t0) * 1e3)
            bwd.append((t2 - t1) * 1e3)
    return statistics.median(fwd), statistics.median(bwd), xi.grad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=20, help="timed runs of the fast methods (default 20)")
    ap.add_argument("--ref-reps", type=int, default=3, help="timed runs of torch sort+PAV (default 3)")
    ap.add_argument("--n", type=int, default=1_000_000, help="length of the single vector (default 1e6)")
    args = ap.parse_args()

    torch.manual_seed(0)
    load = os.getloadavg()
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start")
    print(f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads; libhypersimplex "
          f"{hypersimplex.version()} at {hypersimplex.library_path} "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})")
    print(f"CPU tensors; median of {args.reps} runs ({args.ref_reps} for torch sort+PAV); "
          "no GPU was measured\n")

    rows = torch.randn(10, 8192, dtype=torch.float32)
    w_rows = torch.randn(10, 8192, dtype=torch.float32)
    k_rows = 819.0
    n = args.n
    vec = torch.randn(1, n, dtype=torch.float64)
    w_vec = torch.randn(1, n, dtype=torch.float64)
    k_vec = float(n // 10)
    logits = torch.randn(8192, 10, dtype=torch.float32)
    labels = torch.randint(0, 10, (8192,))

    def operator_methods(k):
        return [
            ("ours C", lambda x: soft_binary_argmax(x, k, 1.0), args.reps),
            ("ours torch-ops", lambda x: soft_binary_argmax(x, k, 1.0, backend="torch"), args.reps),
            ("ours C sort+PAV", lambda x: soft_binary_argmax(x, k, 1.0, solver="sort_pav"), args.reps),
            ("torch sort+PAV", lambda x: ref.project_sort_pav(x, k, 1.0), args.ref_reps),
            ("torch sort+cumsum", lambda x: ref.project_sort_threshold(x, k, 1.0), args.reps),
        ]

    loss_c, loss_t = HyperSimplexLoss(tau=1.5), HyperSimplexLoss(tau=1.5, backend="torch")
    cases = [
        ("10x8192 f32", rows, w_rows, operator_methods(k_rows)),
        (f"1x{n:.0e} f64", vec, w_vec, operator_methods(k_vec)),
        ("loss 8192x10", logits, None, [
            ("ours C", lambda x: loss_c(x, labels), args.reps),
            ("ours torch-ops", lambda x: loss_t(x, labels), args.reps),
            ("torch sort+PAV", lambda x: ref.hypersimplex_loss(x, labels, tau=1.5), args.ref_reps),
            ("torch sort+cumsum", lambda x: ref.hypersimplex_loss(
                x, labels, tau=1.5, projector=ref.project_sort_threshold), args.reps),
        ]),
    ]

    print(f"| {'case':<13} | {'method':<17} | {'fwd ms':>9} | {'bwd ms':>9} | {'fwd+bwd ms':>10} "
          f"| {'x ours C':>8} | {'grad diff':>9} |")
    print(f"|{'-' * 15}|{'-' * 19}|{'-' * 10}:|{'-' * 10}:|{'-' * 11}:|{'-' * 9}:|{'-' * 10}:|")
    for case, x, wx, methods in cases:
        ours_total = ours_grad = None
        for name, fn, reps in methods:
            fwd, bwd, grad = time_fwd_bwd(fn, x, wx, reps)
            if ours_total is None:
                ours_total, ours_grad = fwd + bwd, grad
            diff = (grad - ours_grad).abs().max().item()
            print(f"| {case:<13} | {name:<17} | {fwd:9.3f} | {bwd:9.3f} | {fwd + bwd:10.3f} "
                  f"| {(fwd + bwd) / ours_total:8.1f} | {diff:9.1e} |", flush=True)
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")


if __name__ == "__main__":
    main()
