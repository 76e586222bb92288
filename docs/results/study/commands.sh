#!/bin/sh
# The exact commands behind docs/results/study/ (run from the repository root, with the
# `hypersimplex` built from this tree on PATH). See docs/study.md, "Our own result".
#
# The 36 runs were made on 2026-11-30 on a 2-core AMD EPYC VM (Zen 4) that other jobs shared
# (load average 7-13): cross-entropy, hinge and MSE by the trainer of commit 1f39c4b, the
# HyperSimplex runs by that of commit f014182 (the same trainer plus the running class
# thresholds); both before the batch-norm change of commit 98b0166 (double sums). The runs of
# the three baselines are bit-identical to those of the earlier `small` study.
set -eu
RUNS=/work/runs

# 1. The baselines, then HyperSimplex under each k policy, into one sweep directory (the
#    `small` preset now holds the k-policy axis, so `hypersimplex sweep --preset small` alone
#    runs the same 36 runs).
hypersimplex sweep --preset small --losses cross_entropy,hinge,mse --jobs 2 --runs-dir "$RUNS" --name small_k
hypersimplex sweep --preset small --losses hypersimplex --vary k-policy=count,prior,fraction:0.5 \
    --jobs 2 --runs-dir "$RUNS" --name small_k
# 2. All 36 runs in one results CSV.
hypersimplex sweep --preset small --vary k-policy=count,prior,fraction:0.5 --runs-dir "$RUNS" \
    --name small_k --collect-only
cp "$RUNS/small_k/results.csv" docs/results/study/small_k_results.csv

# 3. Tables under both decision rules and both selections; plots for best-val.
for rule in argmax threshold; do
    for sel in best-val max-test; do
        s=$(echo "$sel" | tr - _)
        if [ "$sel" = best-val ]; then plots="--plots docs/results/study/plots_${s}_${rule}"; else plots=""; fi
        # shellcheck disable=SC2086
        hypersimplex report docs/results/study/small_k_results.csv --select "$sel" --rule "$rule" --sd \
            --title "k-policy study on Fashion-MNIST ($sel)" \
            --out "docs/results/study/table_${s}_${rule}.md" $plots
    done
done

# 4. The authors' curves cut to the length of our runs (20 epochs), for comparison.
hypersimplex report tests/data/paper_test_accuracy_curves.csv.gz --select max-test --first-epochs 20 \
    --title "The authors' runs after 20 of their 600 epochs (max-test)" \
    --out docs/results/study/paper_first20_max_test.md
