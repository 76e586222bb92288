#!/usr/bin/python3
"""Our trainer's pieces against the authors' PyTorch protocol, on real Fashion-MNIST.

The authors' script (as read from their released code): the nn.Sequential CNN with PyTorch's
default initialization, RandomCrop(28, padding=3, padding_mode='reflect') ->
RandomHorizontalFlip -> ToTensor -> Normalize(0.2860, 0.3530), Adam(lr=1e-4), F.cross_entropy
or the HyperSimplex loss (per class column, projection of z / 1.5 onto the
(B, floor(0.5 B))-hypersimplex, then F.mse_loss against the one-hot labels), model.train()
for the steps and model.eval() for the test accuracy.

What is compared (through ctypes on build/libhypersimplex.so, the code `hypersimplex train`
runs; Debian's python3-torch on the other side):
  1. augmentation: hs_make_batch against torch reflect padding + crop + flip + normalization
     of the same raw images with the same (top, left, flip) draws; and the draws themselves
     (offsets uniform over the 2 * 3 + 1 values, flip probability 1/2) over the 60,000 images;
  2. initialization: per tensor, max |w| * sqrt(fan_in) and std * sqrt(3 fan_in) (both 1 for
     U(-1/sqrt(fan_in), 1/sqrt(fan_in))) for hs_net_init and for PyTorch's own init;
  3. training steps (batch sizes B, ..., B, then a partial batch, as the last batch of an epoch):
     every step starts both sides from the same state (our parameters, running statistics
     and Adam moments copied into torch), then compares the training-mode logits, the loss,
     every gradient (ours and torch's float32 against torch in float64), the parameters after
     Adam (in units of lr: Adam moves every parameter by about lr per step early on) and the
     running statistics; and the same steps free-running (torch keeps its own state),
     reporting how far the two drift. Tensors whose exact gradient is 0 (the convolutions'
     biases, which batch norm cancels; with HyperSimplex also the last bias) are reported
     apart: their gradients are rounding noise, which Adam turns into steps of about lr;
  4. evaluation mode: logits and accuracy on test images after the steps.

Usage (from the repository root, after building):
    /usr/bin/python3 scripts/check_authors_protocol.py [--loss cross_entropy|hypersimplex]
        [--width 64] [--hidden 512] [--batch 512] [--last 200] [--steps 4] [--seed 0]
    /usr/bin/python3 scripts/check_authors_protocol.py --bn-stats 64,256,1024
        (only the first batch norm's batch mean and variance against float64, on real images)
HYPERSIMPLEX_LIBRARY=/path/libhypersimplex.so checks another build (e.g. an older commit).
Exit status 0 when every per-step comparison is within its tolerance, 1 otherwise.
"""
import argparse
import copy
import ctypes
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "python"))
from hypersimplex import _lib  # noqa: E402  (finds build/libhypersimplex.so)
from hypersimplex.torch_reference import hypersimplex_loss  # noqa: E402

MEAN, STD, PAD = 0.2860, 0.3530, 3

c_float_p = ctypes.POINTER(ctypes.c_float)
c_size_t_p = ctypes.POINTER(ctypes.c_size_t)
c_int32_p = ctypes.POINTER(ctypes.c_int32)


class Shape(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("channels", "height", "width", "classes", "conv_width", "hidden")]


class TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("offset", ctypes.c_size_t), ("count", ctypes.c_size_t),
                ("ndims", ctypes.c_int), ("dims", ctypes.c_size_t * 4)]


class Dataset(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("count", "channels", "height", "width", "classes")] + \
               [("pixels", ctypes.POINTER(ctypes.c_uint8)), ("labels", c_int32_p)]


class Adam(ctypes.Structure):
    _fields_ = [(n, ctypes.c_double) for n in ("lr", "beta1", "beta2", "eps")]


L = _lib.lib
for name, res, args in [
        ("hs_net_create", ctypes.c_int, [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(Shape)]),
        ("hs_net_free", None, [ctypes.c_void_p]),
        ("hs_net_init", ctypes.c_int, [ctypes.c_void_p, ctypes.c_uint64]),
        ("hs_net_param_count", ctypes.c_size_t, [ctypes.c_void_p]),
        ("hs_net_param_tensors", ctypes.c_size_t, [ctypes.c_void_p]),
        ("hs_net_param_info", ctypes.POINTER(TensorInfo), [ctypes.c_void_p, ctypes.c_size_t]),
        ("hs_net_params", c_float_p, [ctypes.c_void_p]),
        ("hs_net_grads", c_float_p, [ctypes.c_void_p]),
        ("hs_net_buffer_count", ctypes.c_size_t, [ctypes.c_void_p]),
        ("hs_net_buffer_tensors", ctypes.c_size_t, [ctypes.c_void_p]),
        ("hs_net_buffer_info", ctypes.POINTER(TensorInfo), [ctypes.c_void_p, ctypes.c_size_t]),
        ("hs_net_buffers", c_float_p, [ctypes.c_void_p]),
        ("hs_net_forward", ctypes.c_int, [ctypes.c_void_p, c_float_p, c_float_p, ctypes.c_size_t, ctypes.c_int]),
        ("hs_net_backward", ctypes.c_int, [ctypes.c_void_p, c_float_p]),
        ("hs_nn_set_threads", None, [ctypes.c_int]),
        ("hs_adam_default", Adam, []),
        ("hs_adam_step", ctypes.c_int, [c_float_p, c_float_p, c_float_p, c_float_p, ctypes.c_size_t,
                                        ctypes.POINTER(Adam), ctypes.c_uint64]),
        ("hs_dataset_load", ctypes.c_int, [ctypes.POINTER(Dataset), ctypes.POINTER(Dataset), ctypes.c_int,
                                           ctypes.c_char_p]),
        ("hs_make_batch", ctypes.c_int, [c_float_p, c_int32_p, ctypes.POINTER(Dataset), ctypes.c_int, c_size_t_p,
                                         ctypes.c_size_t, ctypes.c_int, ctypes.c_uint64, ctypes.c_uint64]),
        ("hs_augment_draw", None, [c_size_t_p, c_size_t_p, ctypes.POINTER(ctypes.c_int), ctypes.c_size_t,
                                   ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64]),
        ("hs_last_error", ctypes.c_char_p, [])]:
    f = getattr(L, name)
    f.restype, f.argtypes = res, args


def ok(status, what):
    if status:
        raise RuntimeError(f"{what}: status {status}: {L.hs_last_error().decode()}")


def fptr(a):
    return a.ctypes.data_as(c_float_p)


def view(ptr, n):
    return np.ctypeslib.as_array(ptr, shape=(n,))


def paper_cnn(width, hidden, classes):
    """The authors' nn.Sequential (hidden_size = width)."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.MaxPool2d(2, 2), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.MaxPool2d(2, 2), nn.ReLU(),
        nn.Flatten(), nn.Linear(width * 7 * 7, hidden), nn.ReLU(), nn.Linear(hidden, classes))


class Ours:
    """Our network, its flat buffers and the Adam moments, as numpy views."""

    def __init__(self, width, hidden, seed):
        self.net = ctypes.c_void_p()
        shape = Shape(1, 28, 28, 10, width, hidden)
        ok(L.hs_net_create(ctypes.byref(self.net), ctypes.byref(shape)), "hs_net_create")
        ok(L.hs_net_init(self.net, seed), "hs_net_init")
        self.np = L.hs_net_param_count(self.net)
        self.nb = L.hs_net_buffer_count(self.net)
        self.P = view(L.hs_net_params(self.net), self.np)
        self.G = view(L.hs_net_grads(self.net), self.np)
        self.B = view(L.hs_net_buffers(self.net), self.nb)
        self.m = np.zeros(self.np, np.float32)
        self.v = np.zeros(self.np, np.float32)
        self.pinfo = [self._info(L.hs_net_param_info, i) for i in range(L.hs_net_param_tensors(self.net))]
        self.binfo = [self._info(L.hs_net_buffer_info, i) for i in range(L.hs_net_buffer_tensors(self.net))]
        self.adam = L.hs_adam_default()
        self.t = 0

    def _info(self, fn, i):
        ti = fn(self.net, i).contents
        return ti.name.decode(), ti.offset, ti.count, tuple(ti.dims[:ti.ndims])

    def tensors(self, flat, infos):
        return {n: flat[o:o + c].reshape(d) for n, o, c, d in infos}

    def forward(self, x, train):
        out = np.empty((x.shape[0], 10), np.float32)
        ok(L.hs_net_forward(self.net, fptr(out), fptr(x), x.shape[0], 1 if train else 0), "hs_net_forward")
        return out

    def step(self, x, y, loss_opts):
        logits = self.forward(x, True)
        loss = ctypes.c_double()
        d = np.empty_like(logits)
        ok(L.hs_loss_multiclass_f(ctypes.byref(loss), fptr(d), fptr(logits), y.ctypes.data_as(c_int32_p),
                                  x.shape[0], 10, ctypes.byref(loss_opts)), "hs_loss_multiclass_f")
        ok(L.hs_net_backward(self.net, fptr(d)), "hs_net_backward")
        grads = self.G.copy()
        self.t += 1
        ok(L.hs_adam_step(fptr(self.P), fptr(self.m), fptr(self.v), fptr(self.G), self.np, ctypes.byref(self.adam),
                          self.t), "hs_adam_step")
        return logits, loss.value, grads


def torch_load(model, opt, ours, with_adam):
    """Copies our parameters, running statistics (and Adam state) into the torch model."""
    sd = model.state_dict()
    for n, arr in {**ours.tensors(ours.P, ours.pinfo), **ours.tensors(ours.B, ours.binfo)}.items():
        sd[n].copy_(torch.from_numpy(arr.copy()))
    if with_adam:
        ms, vs = ours.tensors(ours.m, ours.pinfo), ours.tensors(ours.v, ours.pinfo)
        for n, p in model.named_parameters():
            opt.state[p] = {"step": torch.tensor(float(ours.t)), "exp_avg": torch.from_numpy(ms[n].copy()),
                            "exp_avg_sq": torch.from_numpy(vs[n].copy())}


def torch_grads64(model, x, y, loss_name):
    """Gradients of the same step in float64 (a copy of model): the reference for both sides."""
    m64 = copy.deepcopy(model).double()
    _, _, g = torch_step(m64, None, x.astype(np.float64), y, loss_name)
    return g


def torch_step(model, opt, x, y, loss_name):
    model.train()
    if opt:
        opt.zero_grad()
    logits = model(torch.from_numpy(x))
    yt = torch.from_numpy(y).long()
    if loss_name == "cross_entropy":
        loss = F.cross_entropy(logits, yt)
    else:
        loss = hypersimplex_loss(logits, yt, tau=1.5, k_policy="fraction:0.5")
    loss.backward()
    grads = {n: p.grad.detach().numpy().copy() for n, p in model.named_parameters()}
    if opt:
        opt.step()
    return logits.detach().numpy(), float(loss), grads


def rel(a, b):
    """max |a - b| / max |b| (0 when both are 0)."""
    scale = float(np.max(np.abs(b)))
    return float(np.max(np.abs(a - b))) / scale if scale > 0 else float(np.max(np.abs(a - b)))


def check_augmentation(train, idx, seed, epoch):
    B = len(idx)
    x = np.empty((B, 1, 28, 28), np.float32)
    y = np.empty(B, np.int32)
    ia = np.asarray(idx, np.uintp)
    ok(L.hs_make_batch(fptr(x), y.ctypes.data_as(c_int32_p), ctypes.byref(train), 0, ia.ctypes.data_as(c_size_t_p),
                       B, 1, seed, epoch), "hs_make_batch")
    pix = np.ctypeslib.as_array(train.pixels, shape=(train.count, 28, 28))
    worst = 0.0
    for i, j in enumerate(idx):
        top, left, flip = ctypes.c_size_t(), ctypes.c_size_t(), ctypes.c_int()
        L.hs_augment_draw(ctypes.byref(top), ctypes.byref(left), ctypes.byref(flip), PAD, seed, epoch, j)
        img = torch.from_numpy(pix[j].astype(np.float32))[None, None]
        padded = F.pad(img, (PAD, PAD, PAD, PAD), mode="reflect")[0, 0]
        crop = padded[top.value:top.value + 28, left.value:left.value + 28]
        if flip.value:
            crop = torch.flip(crop, dims=[1])
        ref = ((crop / 255.0) - MEAN) / STD
        worst = max(worst, float(np.max(np.abs(ref.numpy() - x[i, 0]))))
    return worst


def draw_stats(n, seed, epoch):
    tops, lefts, flips = np.zeros(2 * PAD + 1), np.zeros(2 * PAD + 1), 0
    top, left, flip = ctypes.c_size_t(), ctypes.c_size_t(), ctypes.c_int()
    for j in range(n):
        L.hs_augment_draw(ctypes.byref(top), ctypes.byref(left), ctypes.byref(flip), PAD, seed, epoch, j)
        tops[top.value] += 1
        lefts[left.value] += 1
        flips += flip.value
    return tops / n, lefts / n, flips / n


def init_table(ours):
    """Per weight and bias tensor of ours (BN affine excluded): name, count, fan_in,
    max |w| sqrt(fan_in), std sqrt(3 fan_in)."""
    rows = []
    dims = {n: (c, d) for n, o, c, d in ours.pinfo}
    for n, o, c, d in ours.pinfo:
        wc, wd = dims[n.replace("bias", "weight")]
        if len(wd) == 1:
            continue  # batch norm weight (ones) and bias (zeros)
        fan_in = wc // wd[0]
        w = ours.P[o:o + c]
        rows.append((n, c, fan_in, np.max(np.abs(w)) * math.sqrt(fan_in), np.std(w) * math.sqrt(3 * fan_in)))
    return rows


def bn_stats(train, batches, width, seed):
    """The first batch norm's batch mean and variance after one training forward, read back
    from the running statistics (running = 0.9 init + 0.1 batch), against float64."""
    for B in batches:
        ours = Ours(width, 512, seed)
        idx = np.arange(B, dtype=np.uintp)
        x = np.empty((B, 1, 28, 28), np.float32)
        y = np.empty(B, np.int32)
        ok(L.hs_make_batch(fptr(x), y.ctypes.data_as(c_int32_p), ctypes.byref(train), 0,
                           idx.ctypes.data_as(c_size_t_p), B, 1, seed, 0), "hs_make_batch")
        ours.forward(x, True)
        p = ours.tensors(ours.P, ours.pinfo)
        b = ours.tensors(ours.B, ours.binfo)
        w = torch.from_numpy(p["0.weight"].astype(np.float64))
        bias = torch.from_numpy(p["0.bias"].astype(np.float64))
        conv = [F.conv2d(torch.from_numpy(x[i:i + 256].astype(np.float64)), w, bias, padding=1)
                for i in range(0, B, 256)]
        n = B * 28 * 28
        mean = sum(o.sum((0, 2, 3)) for o in conv) / n
        var = sum(((o - mean[None, :, None, None]) ** 2).sum((0, 2, 3)) for o in conv) / (n - 1)
        got_mean = b["1.running_mean"].astype(np.float64) / 0.1
        got_var = (b["1.running_var"].astype(np.float64) - 0.9) / 0.1
        print(f"first batch norm, batch {B} ({n} values per channel): batch mean max |error| "
              f"{np.max(np.abs(got_mean - mean.numpy())):.2e}, variance max relative error "
              f"{np.max(np.abs(got_var - var.numpy()) / var.numpy()):.2e}")
        L.hs_net_free(ours.net)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loss", default="cross_entropy", choices=["cross_entropy", "hypersimplex"])
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--last", type=int, default=200)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-tensor", action="store_true", help="print every gradient's error")
    ap.add_argument("--bn-stats", metavar="B1,B2,...",
                    help="only: the first batch norm's batch statistics at these batch sizes against float64")
    ap.add_argument("--test", type=int, default=1000, help="test images for the evaluation-mode check")
    args = ap.parse_args()
    torch.set_num_threads(1)
    L.hs_nn_set_threads(1)
    torch.manual_seed(args.seed)

    train, test = Dataset(), Dataset()
    ok(L.hs_dataset_load(ctypes.byref(train), ctypes.byref(test), 0, None), "hs_dataset_load")
    if args.bn_stats:
        bn_stats(train, [int(v) for v in args.bn_stats.split(",")], args.width, args.seed)
        return 0
    rng = np.random.default_rng(args.seed)
    perm = rng.permutation(train.count)
    failures = []

    # 1. augmentation
    worst = check_augmentation(train, perm[:2000], args.seed, 0)
    tops, lefts, flip = draw_stats(train.count, args.seed, 0)
    print(f"augmentation: hs_make_batch vs torch reflect-pad/crop/flip/normalize, 2000 images: max |diff| {worst:.2e}")
    print(f"  draws over {train.count} images: top offsets {np.round(tops, 4).tolist()}, "
          f"left {np.round(lefts, 4).tolist()}, flip rate {flip:.4f} (uniform: {1 / 7:.4f} each, 0.5)")
    if worst > 1e-5:
        failures.append("augmentation")

    # 2. initialization
    ours = Ours(args.width, args.hidden, args.seed)
    model = paper_cnn(args.width, args.hidden, 10)
    tsd = model.state_dict()
    print("initialization, per tensor: max|w| sqrt(fan_in) and std sqrt(3 fan_in), both 1 for "
          "U(+-1/sqrt(fan_in)) (PyTorch's kaiming_uniform(a = sqrt(5)) and bias init); ours | torch")
    for n, count, fan, om, osd in init_table(ours):
        t = tsd[n].numpy().ravel()
        tm, tsdv = np.max(np.abs(t)) * math.sqrt(fan), np.std(t) * math.sqrt(3 * fan)
        print(f"  {n:10s} {count:8d} values, fan_in {fan:5d}  ours {om:.4f} {osd:.4f} | torch {tm:.4f} {tsdv:.4f}")
        # the sample std of U(-1, 1) * sqrt(3) has a relative spread of about 0.45 / sqrt(count)
        if om > 1 + 1e-6 or abs(osd - 1) > 2.5 / math.sqrt(count):
            failures.append(f"init {n}")
    bufs = ours.tensors(ours.B, ours.binfo)
    print("  running stats at init: mean all 0:", all(np.all(v == 0) for k, v in bufs.items() if "mean" in k),
          " var all 1:", all(np.all(v == 1) for k, v in bufs.items() if "var" in k))

    # 3. training steps
    opts = _lib.HsLossOpts(kind=0 if args.loss == "cross_entropy" else 3, tau=1.5, k_policy=2, k_fraction=0.5,
                           reg=0, sum_reduction=0, threads=1)
    free = paper_cnn(args.width, args.hidden, 10)
    free_opt = torch.optim.Adam(free.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    torch_load(free, free_opt, ours, with_adam=False)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    sizes = [args.batch] * (args.steps - 1) + [args.last]
    start = 0
    print(f"training steps ({args.loss}, width {args.width}, batch sizes {sizes}): from the same state each step")
    for s, b in enumerate(sizes):
        idx = np.asarray(perm[start:start + b], np.uintp)
        start += b
        x = np.empty((b, 1, 28, 28), np.float32)
        y = np.empty(b, np.int32)
        ok(L.hs_make_batch(fptr(x), y.ctypes.data_as(c_int32_p), ctypes.byref(train), 0,
                           idx.ctypes.data_as(c_size_t_p), b, 1, args.seed, 0), "hs_make_batch")
        torch_load(model, opt, ours, with_adam=True)
        g64 = torch_grads64(model, x, y, args.loss)
        tl, tloss, tg = torch_step(model, opt, x, y, args.loss)
        fl, floss, _ = torch_step(free, free_opt, x, y, args.loss)
        ol, oloss, og = ours.step(x, y, opts)
        go = ours.tensors(og, ours.pinfo)
        # Tensors whose exact gradient is 0: every convolution's bias (a batch norm follows and
        # removes it) and, for HyperSimplex with a fixed k, the last layer's bias (the
        # projection of a column does not change when the column is shifted). Their float
        # gradients are rounding noise on both sides: compared with the largest gradient, and
        # their Adam steps (noise / sqrt(noise^2), about +-lr) reported apart.
        gmax = max(float(np.max(np.abs(g))) for g in g64.values())
        zero_grad = {n for n, g in g64.items() if float(np.max(np.abs(g))) < 1e-7 * gmax}
        # gradients against the float64 computation, ours and torch's float32 alike
        kept = [n for n in tg if n not in zero_grad]
        grad_rel = max(rel(go[n], g64[n]) for n in kept)
        worst_grad = max(kept, key=lambda n: rel(go[n], g64[n]))
        grad_rel32 = max(rel(tg[n], g64[n]) for n in kept)
        if args.per_tensor:
            for n in tg:
                print(f"    grad {n:10s} max|g64| {np.max(np.abs(g64[n])):.2e}  ours rel {rel(go[n], g64[n]):.1e}  "
                      f"torch32 rel {rel(tg[n], g64[n]):.1e}")
        bias_grad = max(float(np.max(np.abs(go[n] - g64[n]))) for n in zero_grad) / gmax
        tsd = model.state_dict()
        po = ours.tensors(ours.P, ours.pinfo)
        dp = np.concatenate([(po[n] - tsd[n].numpy()).ravel() for n, _ in model.named_parameters()
                             if n not in zero_grad]) / 1e-4
        dpb = np.concatenate([(po[n] - tsd[n].numpy()).ravel() for n in zero_grad]) / 1e-4
        bo = ours.tensors(ours.B, ours.binfo)
        buf_rel = max(rel(bo[n], tsd[n].numpy()) for n in bo if "running_var" in n)
        mean_abs = max(float(np.max(np.abs(bo[n] - tsd[n].numpy()))) for n in bo if "running_mean" in n)
        fsd = free.state_dict()
        drift = np.concatenate([(po[n] - fsd[n].numpy()).ravel() for n, _ in free.named_parameters()
                                if n not in zero_grad]) / 1e-4
        print(f"  step {s + 1} (B {b}): loss ours {oloss:.7f} torch {tloss:.7f}; logits rel {rel(ol, tl):.1e}; "
              f"grads vs float64: ours {grad_rel:.1e} ({worst_grad}), torch float32 {grad_rel32:.1e}; params after Adam |diff|/lr: max "
              f"{np.max(np.abs(dp)):.1e}, 99.9% {np.quantile(np.abs(dp), 0.999):.1e}; running var rel "
              f"{buf_rel:.1e}, running mean |diff| {mean_abs:.1e}")
        print(f"      exact gradient 0 ({', '.join(sorted(zero_grad, key=lambda n: int(n.split('.')[0])))}): "
              f"max |grad| / largest gradient {bias_grad:.1e}, Adam step |diff|/lr max {np.max(np.abs(dpb)):.2f}")
        print(f"      free-running torch: loss {floss:.7f}; params |diff|/lr median {np.median(np.abs(drift)):.1e} "
              f"99% {np.quantile(np.abs(drift), 0.99):.1e} max {np.max(np.abs(drift)):.1e}")
        # Adam divides by sqrt(v) ~ |g| early on, so a gradient near 0 whose float rounding
        # differs can move a parameter by up to ~lr differently: bound the bulk, not the max.
        if (abs(oloss - tloss) > 1e-4 * max(1.0, abs(tloss)) or rel(ol, tl) > 1e-3 or grad_rel > max(1e-2, 3 * grad_rel32)
                or bias_grad > 1e-3 or np.quantile(np.abs(dp), 0.999) > 0.1 or buf_rel > 1e-3 or mean_abs > 1e-3):
            failures.append(f"step {s + 1}")

    # 4. evaluation mode
    n = min(args.test, test.count)
    xt = np.empty((n, 1, 28, 28), np.float32)
    yt = np.empty(n, np.int32)
    it = np.arange(n, dtype=np.uintp)
    ok(L.hs_make_batch(fptr(xt), yt.ctypes.data_as(c_int32_p), ctypes.byref(test), 0, it.ctypes.data_as(c_size_t_p),
                       n, 0, 0, 0), "hs_make_batch")
    torch_load(model, opt, ours, with_adam=False)
    model.eval()
    free.eval()
    with torch.no_grad():
        te = model(torch.from_numpy(xt)).numpy()
        fe = free(torch.from_numpy(xt)).numpy()
    oe = ours.forward(xt, False)
    acc = [float(np.mean(np.argmax(v, 1) == yt)) for v in (oe, te, fe)]
    print(f"evaluation mode, {n} test images: logits rel {rel(oe, te):.1e}; accuracy ours {acc[0]:.4f}, "
          f"torch (our state) {acc[1]:.4f}, torch free-running {acc[2]:.4f}")
    if rel(oe, te) > 1e-3:
        failures.append("eval")
    L.hs_net_free(ours.net)
    print("FAILED: " + ", ".join(failures) if failures else "all comparisons within tolerance")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
