#!/bin/sh
# Runs every libFuzzer harness of fuzz/ for SECONDS each, one after the other, and prints a
# Markdown table of what each did (executions, rate, corpus, coverage, crashes).
#
# usage: scripts/fuzz.sh [SECONDS] [HARNESS...]        (default 60 s, every harness)
#   e.g. nice -n 10 scripts/fuzz.sh 300 | tee docs/results/fuzz_run.md
# environment: BUILD (default build-sanitize): the clang tree with HS_FUZZ=ON, configured and
#              its harnesses built here if needed (the same tree .ci/run tests).
# Each harness starts from the committed seeds (fuzz/corpus/NAME, read only) and its own
# growing corpus BUILD/fuzz/corpus/NAME, kept between runs; libFuzzer's log goes to
# BUILD/fuzz/logs/NAME.log, a crashing input to BUILD/fuzz/artifacts/NAME/.
# Exit status: 0, or 1 if a harness found a crash or could not run.
set -eu
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
[ $# -gt 0 ] && shift
BUILD=${BUILD:-build-sanitize}
case $SECONDS_EACH in
    '' | *[!0-9]*) echo "error: SECONDS must be a whole number, not '$SECONDS_EACH'" >&2; exit 2 ;;
esac
if [ ! -f "$BUILD/fuzz/harnesses.txt" ]; then
    command -v clang > /dev/null || { echo "error: clang not found (scripts/install_deps.sh installs it)" >&2; exit 2; }
    CC=clang cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHS_FUZZ=ON > /dev/null
fi
if [ $# -gt 0 ]; then
    HARNESSES=$*
else
    HARNESSES=$(cat "$BUILD/fuzz/harnesses.txt")
fi
targets=""
for h in $HARNESSES; do
    grep -qx "$h" "$BUILD/fuzz/harnesses.txt" || { echo "error: no harness '$h' (see fuzz/)" >&2; exit 2; }
    targets="$targets fuzz_$h"
done
# shellcheck disable=SC2086
cmake --build "$BUILD" -j2 --target $targets > /dev/null

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "Fuzzing run of $(date -u +%Y-%m-%d), $SECONDS_EACH s per harness, on $(nproc) cores of $cpu"
echo "(\`scripts/fuzz.sh $SECONDS_EACH\`, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))."
echo
echo "| harness | executions | seconds | executions/s | corpus entries | coverage (edges) | result |"
echo "|---|---:|---:|---:|---:|---:|---|"
failed=0
for h in $HARNESSES; do
    corpus="$BUILD/fuzz/corpus/$h"
    artifacts="$BUILD/fuzz/artifacts/$h"
    log="$BUILD/fuzz/logs/$h.log"
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    dict=""
    [ -f "fuzz/dict/$h.dict" ] && dict="-dict=fuzz/dict/$h.dict"
    start=$(date +%s)
    rc=0
    # shellcheck disable=SC2086
    "$BUILD/fuzz/fuzz_$h" -max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=20 \
        -artifact_prefix="$artifacts/" $dict "$corpus" "fuzz/corpus/$h" > "$log" 2>&1 || rc=$?
    took=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    entries=$(find "$corpus" -type f | wc -l)
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        result="**failed** (exit $rc; $log)"
        failed=1
    fi
    echo "| $h | ${execs:-?} | $took | ${rate:-?} | $entries | ${cov:-?} | $result |"
done
exit $failed
