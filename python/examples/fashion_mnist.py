"""A small CNN trained on Fashion-MNIST with the HyperSimplex loss; prints the test accuracy
of the plain argmax and of the threshold rule after every epoch.

    python fashion_mnist.py [K_POLICY [EPOCHS [SEED]]]      (defaults: count 10 0)
"""
import gzip
import sys

import numpy as np
import torch

from hypersimplex.torch import HyperSimplexLoss

DATA = "/usr/share/datasets/fashion-mnist"  # Debian package dataset-fashion-mnist


def load(prefix):
    with gzip.open(f"{DATA}/{prefix}-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{DATA}/{prefix}-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.tensor(x, dtype=torch.float32) / 255, torch.tensor(y, dtype=torch.long)


def cnn(width=16, classes=10):
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, width, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(width, 2 * width, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(2 * width * 7 * 7, classes))


def main(k_policy="count", epochs=10, seed=0, n_train=10000, batch=512, lr=1e-3, tau=1.5):
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    x, y = load("train")
    x_test, y_test = load("t10k")
    keep = torch.randperm(len(y))[:n_train]          # a random subset of the 60,000 images
    x, y = x[keep], y[keep]
    mean, std = x.mean(), x.std()
    x, x_test = (x - mean) / std, (x_test - mean) / std

    model = cnn().to(device)
    loss_fn = HyperSimplexLoss(k_policy=k_policy, tau=tau).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(1, epochs + 1):
        model.train()
        loss_fn.train()                                   # records the class thresholds
        for idx in torch.randperm(n_train).split(batch):
            opt.zero_grad()
            loss = loss_fn(model(x[idx].to(device)), y[idx].to(device))
            loss.backward()
            opt.step()
        model.eval()
        loss_fn.eval()
        with torch.no_grad():
            logits = torch.cat([model(b.to(device)) for b in x_test.split(2000)]).cpu()
        argmax = (logits.argmax(dim=1) == y_test).float().mean().item()
        rule = (loss_fn.predict(logits) == y_test).float().mean().item()
        print(f"epoch {epoch:2d}  loss {loss.item():.4f}  test accuracy: argmax {argmax:.4f}, "
              f"threshold rule {rule:.4f}", flush=True)
    # The running thresholds are buffers: saving the loss's state_dict keeps predict() working.
    torch.save({"model": model.state_dict(), "loss": loss_fn.state_dict()}, "fashion_mnist_hs.pt")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0] if args else "count", int(args[1]) if len(args) > 1 else 10,
         int(args[2]) if len(args) > 2 else 0)
