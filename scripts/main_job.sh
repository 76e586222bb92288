#!/bin/sh
# Main job: cross-entropy and HyperSimplex on real Fashion-MNIST at one large batch size,
# trained side by side (one run per core, one thread each), then both test accuracies printed
# next to each other. Fits in 15 minutes on a 2-core machine with the defaults below.
#
# usage: scripts/main_job.sh [BUILD_DIR] [OUT_DIR]
# environment (defaults): BATCH=1024 WIDTH=32 EPOCHS=7 SEED=0 TRAIN_LIMIT=0 (all 60000 training
#                         images: 54000 train + 6000 validation) TAU=1.5 K_POLICY=count
# Runs are resumable: re-running the script continues unfinished runs and reuses finished ones.
set -eu
BUILD=${1:-build}
OUT=${2:-runs/main_job}
BATCH=${BATCH:-1024}
WIDTH=${WIDTH:-32}
EPOCHS=${EPOCHS:-7}
SEED=${SEED:-0}
TRAIN_LIMIT=${TRAIN_LIMIT:-0}
TAU=${TAU:-1.5}
K_POLICY=${K_POLICY:-count}
HS="$BUILD/src/cli/hypersimplex"
if [ ! -x "$HS" ]; then
    echo "error: $HS not found: build first (cmake -S . -B $BUILD && cmake --build $BUILD -j2)" >&2
    exit 2
fi
mkdir -p "$OUT"
start=$(date +%s)
common="--dataset fashion-mnist --batch-size $BATCH --width $WIDTH --epochs $EPOCHS --seed $SEED \
--train-limit $TRAIN_LIMIT --threads 1 --resume"
echo "main job: fashion-mnist, batch $BATCH, width $WIDTH, $EPOCHS epochs, seed $SEED; CE and HS in parallel"
echo "HyperSimplex: tau $TAU, k policy $K_POLICY; progress of both runs below (a line per run every 30 s"
echo "and one per epoch), full logs in $OUT/*.log"
# run NAME ARGS...: one training run in the background; its output goes to OUT/NAME.log and, with
# the run's name in front of every line, to this terminal; its exit status to OUT/NAME.status.
run() {
    name=$1
    shift
    { "$HS" train "$@" 2>&1; echo $? > "$OUT/$name.status"; } | tee "$OUT/$name.log" | sed -u "s/^/[$name] /" &
}
rm -f "$OUT/cross_entropy.status" "$OUT/hypersimplex.status"
# shellcheck disable=SC2086
run cross_entropy $common --loss cross_entropy --out "$OUT/cross_entropy"
# shellcheck disable=SC2086
run hypersimplex $common --loss hypersimplex --tau "$TAU" --k-policy "$K_POLICY" --out "$OUT/hypersimplex"
wait
end=$(date +%s)
status=0
for name in cross_entropy hypersimplex; do
    [ "$(cat "$OUT/$name.status" 2>/dev/null)" = 0 ] || status=1
done
if [ $status -ne 0 ]; then
    echo "error: a run failed (logs: $OUT/cross_entropy.log, $OUT/hypersimplex.log)" >&2
    exit 1
fi
# summary.json fields: test accuracy at the best-validation epoch, and the paper's measure
field() { sed -n "s/^ *\"$2\": *\([^,]*\),*$/\1/p" "$OUT/$1/summary.json"; }
printf '\n%-46s %14s %14s\n' "fashion-mnist, batch $BATCH" "cross_entropy" "hypersimplex"
printf '%-46s %14s %14s\n' "HS: k policy $K_POLICY, tau $TAU" "" ""
printf '%-46s %14.4f %14.4f\n' "test acc. at best-val epoch, argmax of logits" \
    "$(field cross_entropy test_accuracy_at_best_val)" "$(field hypersimplex test_accuracy_at_best_val)"
printf '%-46s %14.4f %14.4f\n' "max test acc. over epochs, argmax (paper)" \
    "$(field cross_entropy max_test_accuracy)" "$(field hypersimplex max_test_accuracy)"
printf '%-46s %14s %14.4f\n' "test acc. at best-val epoch, threshold rule" \
    "-" "$(field hypersimplex test_accuracy_at_best_val_threshold)"
printf '%-46s %14s %14.4f\n' "max test acc. over epochs, threshold rule" \
    "-" "$(field hypersimplex max_test_accuracy_threshold)"
printf '%-46s %14.4f %14.4f\n' "final train loss" \
    "$(field cross_entropy final_train_loss)" "$(field hypersimplex final_train_loss)"
echo "(argmax of logits: the authors' measure; threshold rule: argmax_c z_c/tau - theta_c with the"
echo " running class thresholds, the rule that matches the HS loss: docs/losses.md)"
echo "wall time: $((end - start)) s (per-epoch metrics: $OUT/*/metrics.csv)"
