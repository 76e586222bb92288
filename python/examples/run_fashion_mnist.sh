#!/bin/sh
# Runs python/examples/fashion_mnist.py (the example of docs/python.md), 20 epochs, for each
# k policy in POLICIES (default "count fraction:0.5") and seed in SEEDS (default "0 1"), and
# keeps each run's printout in OUT (default python/examples/results/). After the CMake build
# (the library is found in build/):
#   sh python/examples/run_fashion_mnist.sh [OUT]
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$repo/python/examples/results}
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for policy in ${POLICIES:-count fraction:0.5}; do
  for seed in ${SEEDS:-0 1}; do
    name=$(echo "$policy" | tr : _)_seed$seed.txt
    (cd "$tmp" && PYTHONPATH="$repo/python" /usr/bin/python3 "$repo/python/examples/fashion_mnist.py" \
      "$policy" 20 "$seed") > "$out/$name.part"
    mv "$out/$name.part" "$out/$name"
    echo "$out/$name: $(tail -n 1 "$out/$name")"
  done
done
