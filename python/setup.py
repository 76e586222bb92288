"""Packaging hook: bundles the CMake-built libhypersimplex into the package.

The metadata is in pyproject.toml. At build time the shared library is looked for in
$HYPERSIMPLEX_LIBRARY, then in the CMake build trees of this checkout (../build/, then
../build*/ newest first), and copied into the package as hypersimplex/libhypersimplex.so.0,
where hypersimplex/_lib.py finds it. Without a built library the package is still built and
then finds the library at import time ($HYPERSIMPLEX_LIBRARY or the system loader).
"""

import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def find_built_library():
    env = os.environ.get("HYPERSIMPLEX_LIBRARY")
    if env:
        if not os.path.isfile(env):
            raise SystemExit(f"HYPERSIMPLEX_LIBRARY={env!r} is not a file")
        return env
    first = os.path.join(REPO, "build", "libhypersimplex.so")
    if os.path.isfile(first):
        return first
    others = [p for p in glob.glob(os.path.join(REPO, "build*", "libhypersimplex.so")) if os.path.isfile(p)]
    others.sort(key=os.path.getmtime, reverse=True)
    return others[0] if others else None


class BuildPyWithLibrary(build_py):
    def run(self):
        super().run()
        lib = find_built_library()
        if lib is None:
            print("hypersimplex: no CMake-built libhypersimplex.so found (build it first, or set "
                  "HYPERSIMPLEX_LIBRARY); the package will look for it at import time")
            return
        target = os.path.join(self.build_lib, "hypersimplex", "libhypersimplex.so.0")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.realpath(lib), target)
        print(f"hypersimplex: bundled {os.path.realpath(lib)} as {target}")


class BinaryDistribution(Distribution):
    """The package carries a compiled library: wheels get a platform tag."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildPyWithLibrary}, distclass=BinaryDistribution)
