"""Installs the Python package the way README.md tells users to, offline, and checks that the
installed copy works on its own. Run by CTest as the test python_install:

    /usr/bin/python3 python/tests/install_check.py BUILT_LIBRARY

In a temporary directory: copies python/ (so that pip's in-tree build writes nothing into the
checkout) and the built library, creates a venv with --system-site-packages, runs
`pip install --no-build-isolation --no-deps --no-index` (nothing may come from a package
index), deletes both copies, then imports hypersimplex from another directory with a clean
environment and checks that the library it loaded is the copy bundled into the venv and that
the operator, the loss and the PyTorch backend give the expected numbers.
Prints what it does; exits non-zero on the first failure.
"""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_SRC = os.path.dirname(HERE)  # python/

# Runs inside the venv, from a directory outside the checkout.
PROBE = r"""
import os, sys
import numpy as np
import hypersimplex as hs
venv = os.path.realpath(sys.argv[1])
lib = os.path.realpath(hs.library_path)
print("imported", hs.__file__)
print("library ", lib)
assert lib.startswith(venv + os.sep), f"the library was not the bundled copy: {lib}"
assert os.path.realpath(hs.__file__).startswith(venv + os.sep), hs.__file__
p = hs.soft_binary_argmax(np.array([3.0, 1.0, 0.2, -1.0, 2.5]), k=2.5, tau=1.0)
assert np.array_equal(p, [1.0, 0.5, 0.0, 0.0, 1.0]), p
try:
    import torch
except ImportError:
    print("torch not importable: skipped the PyTorch part")
    sys.exit(0)
from hypersimplex.torch import HyperSimplexLoss, soft_binary_argmax
z = torch.tensor([[3.0, 1.0, 0.2, -1.0, 2.5]], dtype=torch.float64, requires_grad=True)
for backend in ("c", "torch"):
    q = soft_binary_argmax(z, 2.5, 1.0, backend=backend)
    assert q.tolist() == [[1.0, 0.5, 0.0, 0.0, 1.0]], (backend, q)
loss_fn = HyperSimplexLoss()
logits = torch.randn(32, 4, requires_grad=True)
loss_fn(logits, torch.arange(32) % 4).backward()
assert logits.grad.shape == (32, 4) and loss_fn.threshold_batches.tolist() == [1, 1, 1, 1]
print("ok: hypersimplex", hs.version(), "from the venv, torch", torch.__version__)
"""


def run(cmd, **kw):
    print("+", " ".join(a if len(a) < 100 else "<probe script>" for a in cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def main():
    if len(sys.argv) != 2 or not os.path.isfile(sys.argv[1]):
        sys.exit("usage: install_check.py PATH/TO/libhypersimplex.so")
    built = os.path.realpath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="hs-install-") as tmp:
        src = os.path.join(tmp, "src")
        shutil.copytree(PACKAGE_SRC, src, ignore=shutil.ignore_patterns(
            "build", "*.egg-info", "__pycache__", "*.pyc", "libhypersimplex.so*"))
        lib_copy = os.path.join(tmp, "lib", "libhypersimplex.so")
        os.makedirs(os.path.dirname(lib_copy))
        shutil.copyfile(built, lib_copy)
        venv = os.path.join(tmp, "venv")
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "HYPERSIMPLEX_LIBRARY", "PIP_INDEX_URL",
                            "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")}
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        run([sys.executable, "-m", "venv", "--system-site-packages", venv], env=env)
        pip = [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "--no-build-isolation",
               "--no-deps", "--no-index", src]
        run(pip, env=dict(env, HYPERSIMPLEX_LIBRARY=lib_copy), cwd=tmp)
        # The installed package must not need its sources or the library it was built from.
        shutil.rmtree(src)
        shutil.rmtree(os.path.dirname(lib_copy))
        elsewhere = os.path.join(tmp, "elsewhere")
        os.makedirs(elsewhere)
        run([os.path.join(venv, "bin", "python"), "-c", PROBE, venv], env=env, cwd=elsewhere)
    print("python_install: passed")


if __name__ == "__main__":
    main()
