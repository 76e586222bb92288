#!/bin/sh
# The exact commands behind docs/results/study/ (run from the repository root, with the
# `hypersimplex` built from this tree on PATH). See docs/study.md, "Our own result".
set -eu
RUNS=/tmp/hs-study-runs3

# 1. The `small` preset: 24 runs, 2 at a time (2026-11-30, 30.2 min on a mostly idle 2-core machine).
hypersimplex sweep --preset small --jobs 2 --runs-dir "$RUNS"
cp "$RUNS/small/results.csv" docs/results/study/small_results.csv

# 2. The tables and plots.
hypersimplex report docs/results/study/small_results.csv --select best-val --sd \
    --title "Our small study on Fashion-MNIST (best-val)" \
    --out docs/results/study/small_table_best_val.md --plots docs/results/study/plots_best_val
hypersimplex report docs/results/study/small_results.csv --select max-test --sd \
    --title "Our small study on Fashion-MNIST (max-test)" \
    --out docs/results/study/small_table_max_test.md --plots docs/results/study/plots_max_test

# 3. The authors' curves cut to the length of our runs (20 epochs), for comparison.
hypersimplex report tests/data/paper_test_accuracy_curves.csv.gz --select max-test --first-epochs 20 \
    --title "The authors' runs after 20 of their 600 epochs (max-test)" \
    --out docs/results/study/paper_first20_max_test.md
