#!/bin/sh
# Data-parallel training speed on this machine (docs/distributed.md): one process with 2
# threads against 2 MPI ranks with 1 thread each (with and without synchronized batch norm),
# run in alternation ROUNDS times so that a shared machine's load falls on all three alike;
# then the step's collective operations timed on their own (bench_dist), with Open MPI's
# default all-reduce and with recursive doubling.
#
#   scripts/bench_dist.sh [BUILD_DIR] [ROUNDS] > docs/results/bench_dist.txt
#
# Each training run: the paper's network (width 64), HS loss, batch 512, 5,120 Fashion-MNIST
# images (10 steps), 1 epoch; the figure is train's "training throughput" (steps only).
set -eu
BUILD=${1:-build}
ROUNDS=${2:-3}
HS="$BUILD/src/cli/hypersimplex"
MPIRUN="mpirun --allow-run-as-root --oversubscribe"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ARGS="--loss hypersimplex --width 64 --batch-size 512 --train-limit 5120 --val-fraction 0 --test-limit 500 --epochs 1 --quiet"

run() { # name, command...: prints "name,images_per_s,comm_percent"
    name=$1
    shift
    out=$("$@" --out "$TMP/$name.$r" 2>&1) || { echo "$out" >&2; exit 1; }
    ips=$(echo "$out" | sed -n 's/^training throughput: \([0-9.]*\) images.*/\1/p')
    comm=$(echo "$out" | sed -n 's/.*(\([0-9.]*\)%) of rank 0.*/\1/p')
    echo "$name,$r,$ips,${comm:-0}"
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "config,round,images_per_s,comm_percent_of_steps"
for r in $(seq 1 "$ROUNDS"); do
    run p1t2 "$HS" train $ARGS --threads 2
    run r2t1_syncbn env OMP_NUM_THREADS=1 $MPIRUN -np 2 "$HS" train $ARGS --threads 1 --sync-bn
    run r2t1 env OMP_NUM_THREADS=1 $MPIRUN -np 2 "$HS" train $ARGS --threads 1
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# collectives of one step alone (bench_dist, 2 ranks, 30 repetitions, median):"
echo "# Open MPI's default all-reduce:"
OMP_NUM_THREADS=1 $MPIRUN -np 2 "$BUILD/bench/bench_dist" --width 64 --batch 512 --reps 30 | sed 's/^/# /'
echo "# all-reduce by recursive doubling (--mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm 3):"
OMP_NUM_THREADS=1 $MPIRUN -np 2 --mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm 3 \
    "$BUILD/bench/bench_dist" --width 64 --batch 512 --reps 30 | sed 's/^/# /'
