#!/bin/sh
# A stand-in for `hypersimplex train` used by test_study to exercise the sweep's
# orchestration (skip, resume, parallel jobs, emitted commands, collection). It follows the
# "Training runs" contract: config.json, metrics.csv and checkpoint.bin rewritten (via a
# temporary file and rename) after every epoch, summary.json last. Accuracies are a
# deterministic function of the run so collected results can be checked. Runs of the
# hypersimplex loss also record the threshold rule's accuracies (argmax + 0.1, + 0.01 for
# --k-policy prior, + 0.02 for fraction:F) and config.json their k policy; the other losses
# write metrics.csv as builds before the threshold rule did (five columns).
# Environment (all optional):
#   FAKE_TRAIN_LOG=FILE         append "<out-dir-name> resume=<0|1> from=<epoch>" per start
#   FAKE_TRAIN_SLEEP=SECONDS    sleep after each epoch
#   FAKE_TRAIN_DIE_AFTER=E      SIGKILL itself right after finishing epoch E (runs started at epoch 0)
#   FAKE_TRAIN_FAIL_LOSS=LOSS   exit 1 (a runtime failure) for runs of this loss
set -eu
args="$*"
dataset= loss= batch= seed= epochs= out= resume=0 kpolicy=count
while [ $# -gt 0 ]; do
    case "$1" in
        --dataset) dataset=$2; shift 2 ;;
        --loss) loss=$2; shift 2 ;;
        --batch-size) batch=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --epochs) epochs=$2; shift 2 ;;
        --k-policy) kpolicy=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --resume) resume=1; shift ;;
        --no-augment|--quiet) shift ;;
        --*) shift 2 ;;
        *) echo "fake_train: unexpected argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$dataset" ] && [ -n "$loss" ] && [ -n "$batch" ] && [ -n "$seed" ] && [ -n "$epochs" ] && [ -n "$out" ] || {
    echo "fake_train: missing option" >&2; exit 2; }
mkdir -p "$out"
echo "$args" > "$out/args.txt"   # for the test: the exact options the sweep passed
start=0
if [ "$resume" = 1 ] && [ -f "$out/checkpoint.bin" ]; then
    start=$(cat "$out/checkpoint.bin")   # like train: --resume without a checkpoint starts afresh
fi
if [ -n "${FAKE_TRAIN_LOG:-}" ]; then
    echo "$(basename "$out") resume=$resume from=$start" >> "$FAKE_TRAIN_LOG"
fi
if [ "${FAKE_TRAIN_FAIL_LOSS:-}" = "$loss" ]; then
    echo "fake_train: diverged (as asked)" >&2
    exit 1
fi
kname=${kpolicy%%:*}
kfrac=0.5
case "$kpolicy" in fraction:*) kfrac=${kpolicy#fraction:} ;; esac
printf '{"dataset": "%s", "loss": "%s", "k_policy": "%s", "k_fraction": %s, "batch_size": %s, "seed": %s, "epochs": %s}\n' \
    "$dataset" "$loss" "$kname" "$kfrac" "$batch" "$seed" "$epochs" > "$out/config.json.tmp"
mv "$out/config.json.tmp" "$out/config.json"
e=$start
while [ "$e" -lt "$epochs" ]; do
    # Rewrite metrics.csv with epochs 0..e, then the checkpoint, as the real trainer does.
    awk -v loss="$loss" -v b="$batch" -v s="$seed" -v last="$e" -v kp="$kname" 'BEGIN {
        off = (loss == "hypersimplex") ? 0.02 : (loss == "hinge") ? 0.005 : (loss == "mse") ? 0.01 : 0;
        thr = 0.1 + ((kp == "prior") ? 0.01 : (kp == "fraction") ? 0.02 : 0);
        hs = loss == "hypersimplex";
        print "epoch,train_loss,val_accuracy,test_accuracy,seconds" (hs ? ",val_accuracy_threshold,test_accuracy_threshold" : "");
        for (k = 0; k <= last; k++) {
            acc = 0.6 + 0.02 * k + off - 0.00001 * b + 0.001 * (s % 7);
            printf "%d,%.6f,%.6f,%.6f,%.3f", k, 1.0 / (k + 1), acc - 0.003, acc, 0.01;
            if (hs)
                printf ",%.6f,%.6f", acc + thr - 0.003, acc + thr;
            printf "\n";
        }
    }' > "$out/metrics.csv.tmp"
    mv "$out/metrics.csv.tmp" "$out/metrics.csv"
    echo $((e + 1)) > "$out/checkpoint.bin.tmp"
    mv "$out/checkpoint.bin.tmp" "$out/checkpoint.bin"
    if [ -n "${FAKE_TRAIN_SLEEP:-}" ]; then sleep "$FAKE_TRAIN_SLEEP"; fi
    if [ "$start" = 0 ] && [ "${FAKE_TRAIN_DIE_AFTER:-x}" = "$e" ]; then kill -KILL $$; fi
    e=$((e + 1))
done
echo '{"done": true}' > "$out/summary.json.tmp"
mv "$out/summary.json.tmp" "$out/summary.json"
