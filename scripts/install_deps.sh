#!/bin/sh
# Installs every Debian 12 package the project builds, tests and runs with (as root).
# The project's own files are the only place these are named, so CI and users get the same.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update
# clang with its sanitizer/libFuzzer runtimes and OpenMP: the sanitizer and fuzz tree
# (.ci/run, docs/fuzzing.md).
apt-get install -y --no-install-recommends \
  build-essential cmake pkg-config \
  libcmocka-dev zlib1g-dev libgsl-dev libdnnl-dev libxgboost-dev libjansson-dev \
  gnuplot-nox dataset-fashion-mnist \
  python3 python3-numpy python3-torch python3-pytest \
  python3-venv python3-pip python3-setuptools python3-wheel \
  libopenmpi-dev openmpi-bin \
  clang libclang-rt-14-dev libomp-14-dev
