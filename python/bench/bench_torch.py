"""Benchmark: hypersimplex.torch (C kernels) against plain-PyTorch implementations of the
paper's algorithm, forward + backward, on the CPU. Prints a table; never passes or fails.

    PYTHONPATH=python HYPERSIMPLEX_LIBRARY=build/libhypersimplex.so \
        /usr/bin/python3 python/bench/bench_torch.py

Cases:
  8192x10 columns   logits (B=8192, C=10); every class column projected onto the
                    (8192, 819)-hypersimplex (dim=0), then sum(p * w).backward()
  8192x10 loss      the whole multiclass HyperSimplex loss (k policy count, tau 1.5),
                    forward + backward
  n=1e6             one vector of 10^6 scores onto the (10^6, 10^5)-hypersimplex

Methods:
  ours              hypersimplex.torch (C library, sort-free threshold search)
  ours sort+PAV     hypersimplex.torch with solver="sort_pav" (the C reference solver)
  torch sort+PAV    plain PyTorch: torch.sort + pool-adjacent-violators (a Python loop over
                    the sorted values), autograd through sort, block means, unsort
  torch sort+cumsum plain PyTorch, vectorized: torch.sort + cumulative sums + searchsorted
                    for the threshold, autograd on the fixed free set
"""

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import hypersimplex  # noqa: E402
from hypersimplex import torch_reference as ref  # noqa: E402
from hypersimplex.torch import HyperSimplexLoss, soft_binary_argmax  # noqa: E402


def time_fwd_bwd(fn, x, w, reps):
    """Median wall time (ms) of fn(x) forward + backward of sum(out * w), after one warm-up."""
    times = []
    for i in range(reps + 1):
        xi = x.detach().clone().requires_grad_()
        t0 = time.perf_counter()
        out = fn(xi)
        (out * w).sum().backward() if w is not None else out.backward()
        t1 = time.perf_counter()
        if i > 0:
            times.append((t1 - t0) * 1e3)
    return statistics.median(times), xi.grad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=20, help="timed repetitions of the C-backed methods (default 20)")
    ap.add_argument("--ref-reps", type=int, default=3,
                    help="timed repetitions of the plain-PyTorch methods (default 3)")
    ap.add_argument("--n", type=int, default=1_000_000, help="length of the single vector (default 1e6)")
    ap.add_argument("--skip-pav-1e6", action="store_true",
                    help="skip the slow plain-PyTorch sort+PAV at n=1e6")
    args = ap.parse_args()

    torch.manual_seed(0)
    dtype = torch.float32
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads; "
          f"libhypersimplex {hypersimplex.version()} at {hypersimplex.library_path} "
          f"(OpenMP default threads, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"{os.cpu_count()} CPUs)")
    print(f"float32, CPU, forward+backward, median of {args.reps} (ours) / {args.ref_reps} (plain torch) runs\n")

    B, C = 8192, 10
    logits = torch.randn(B, C, dtype=dtype)
    w = torch.randn(B, C, dtype=dtype)
    labels = torch.randint(0, C, (B,))
    k_col = float(B // C)
    n = args.n
    z = torch.randn(1, n, dtype=dtype)
    wz = torch.randn(1, n, dtype=dtype)
    k_vec = float(n // 10)

    cases = [
        ("8192x10 columns", logits, w, [
            ("ours", lambda x: soft_binary_argmax(x, k_col, 1.0, dim=0), args.reps),
            ("ours sort+PAV", lambda x: soft_binary_argmax(x, k_col, 1.0, dim=0, solver="sort_pav"), args.reps),
            ("torch sort+PAV", lambda x: ref.project_sort_pav(x, k_col, 1.0, dim=0), args.ref_reps),
            ("torch sort+cumsum", lambda x: ref.project_sort_threshold(x, k_col, 1.0, dim=0), args.reps),
        ]),
        ("8192x10 loss", logits, None, [
            ("ours", lambda x: HyperSimplexLoss(tau=1.5)(x, labels), args.reps),
            ("torch sort+PAV", lambda x: ref.hypersimplex_loss(x, labels, tau=1.5), args.ref_reps),
            ("torch sort+cumsum", lambda x: ref.hypersimplex_loss(
                x, labels, tau=1.5, projector=ref.project_sort_threshold), args.reps),
        ]),
        (f"n={n:.0e}", z, wz, [
            ("ours", lambda x: soft_binary_argmax(x, k_vec, 1.0), args.reps),
            ("ours sort+PAV", lambda x: soft_binary_argmax(x, k_vec, 1.0, solver="sort_pav"), args.reps),
            ("torch sort+PAV", lambda x: ref.project_sort_pav(x, k_vec, 1.0), args.ref_reps),
            ("torch sort+cumsum", lambda x: ref.project_sort_threshold(x, k_vec, 1.0), args.reps),
        ]),
    ]

    print(f"{'case':<17} {'method':<18} {'ms fwd+bwd':>12} {'x ours':>9}   max |grad - ours grad|")
    for case, x, wx, methods in cases:
        ours_ms = ours_grad = None
        for name, fn, reps in methods:
            if args.skip_pav_1e6 and case.startswith("n=") and name == "torch sort+PAV":
                continue
            ms, grad = time_fwd_bwd(fn, x, wx, reps)
            if ours_ms is None:
                ours_ms, ours_grad = ms, grad
            diff = (grad - ours_grad).abs().max().item()
            print(f"{case:<17} {name:<18} {ms:12.2f} {ms / ours_ms:9.1f}   {diff:.1e}")
        print()


if __name__ == "__main__":
    main()
