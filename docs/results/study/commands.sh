#!/bin/sh
# The exact commands behind docs/results/study/ (run from the repository root, with the
# `hypersimplex` built from this tree on PATH). See docs/study.md, "Our own result".
set -eu
RUNS=/tmp/hs-study-runs

# 1. The `small` preset: 24 runs, 2 at a time. It was run in two steps, cross-entropy and
#    HyperSimplex first (so the headline comparison would be complete first), then the whole
#    preset, which skipped the 12 finished runs and added hinge and MSE. The first attempt
#    was stopped with SIGTERM after 75 s and resumed from its checkpoints by step 1a.
hypersimplex sweep --preset small --jobs 2 --runs-dir "$RUNS" --losses cross_entropy,hypersimplex  # 1a
hypersimplex sweep --preset small --jobs 2 --runs-dir "$RUNS"                                      # 1b
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
