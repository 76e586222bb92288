#!/usr/bin/python3
"""PyTorch baseline of bench_train: images per second of full training steps (forward,
cross-entropy, backward, Adam) of the paper's CNN on random 28x28 batches.

Run with Debian's python3-torch:  /usr/bin/python3 bench/bench_train_torch.py --threads 2
Prints a table; never passes or fails.
"""
import argparse
import resource
import time

import torch
from torch import nn


def paper_cnn(width, classes=10, channels=1, side=28):
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.MaxPool2d(2, 2), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.MaxPool2d(2, 2), nn.ReLU(),
        nn.Flatten(), nn.Linear(width * (side // 4) ** 2, 512), nn.ReLU(), nn.Linear(512, classes))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--min-seconds", type=float, default=5.0)
    ap.add_argument("--batches", default="128,1024")
    ap.add_argument("--memory-batch", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = paper_cnn(a.width)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    nparams = sum(p.numel() for p in model.parameters())
    print(f"# PyTorch {torch.__version__} training step: forward, cross_entropy loss, backward, Adam")
    print(f"# width {a.width}, 28x28x1 input, 10 classes, {nparams} parameters, {a.threads} threads")
    print(f"{'batch':<8} {'steps':>8} {'images/s':>12} {'ms/step':>12}")

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    def measure(b, steps, min_seconds):
        x = torch.rand(b, 1, 28, 28) * 2 - 1
        y = torch.arange(b) % 10
        step(x, y)  # warm-up
        t0 = time.perf_counter()
        n = 0
        while n < steps or time.perf_counter() - t0 < min_seconds:
            step(x, y)
            n += 1
        el = time.perf_counter() - t0
        return n, n * b / el

    for tok in filter(None, a.batches.split(",")):
        b = int(tok)
        n, ips = measure(b, a.steps, a.min_seconds)
        print(f"{b:<8} {n:>8} {ips:>12.1f} {1000.0 * b / ips:>12.1f}", flush=True)
    if a.memory_batch:
        n, ips = measure(a.memory_batch, 1, 0.0)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print(f"peak resident memory (process, ending with batch {a.memory_batch}): {peak:.0f} MiB "
              f"({ips:.1f} images/s)")


if __name__ == "__main__":
    main()
