#!/bin/sh
# What projecting the HyperSimplex loss per shard changes (docs/distributed.md): the same short
# run (k policy count, batch 512, 6,000 Fashion-MNIST images, width 8, 3 epochs, lr 1e-3,
# synchronized batch norm) with the loss on the global batch and per shard, on 2 and 4 ranks
# (shards of 256 and 128 images), and on one process. Prints each run's metrics.csv.
#
#   nice -n 10 scripts/dist_scope_compare.sh [BUILD_DIR] > docs/results/dist_scope.txt
set -eu
BUILD=${1:-build}
HS="$BUILD/src/cli/hypersimplex"
MPIRUN="mpirun --allow-run-as-root --oversubscribe"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ARGS="--loss hypersimplex --k-policy count --batch-size 512 --train-limit 6000 --width 8 --epochs 3 --lr 1e-3 --threads 1 --quiet"
echo "# $(date -u +%Y-%m-%dT%H:%MZ); train $ARGS"
show() {
    echo "## $1"
    cat "$TMP/$1/metrics.csv"
}
"$HS" train $ARGS --out "$TMP/one_process" > /dev/null
show one_process
for n in 2 4; do
    for scope in global shard; do
        OMP_NUM_THREADS=1 $MPIRUN -np $n "$HS" train $ARGS --sync-bn --loss-scope $scope --out "$TMP/ranks${n}_$scope" > /dev/null
        show "ranks${n}_$scope"
    done
done
