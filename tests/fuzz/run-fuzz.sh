#!/bin/sh
# SPDX-License-Identifier: MIT
# run-fuzz.sh — runs one libFuzzer target for a while (make fuzz calls it once per target).
# Usage: run-fuzz.sh BINARY SEED_DIR SECONDS
# New inputs go to tests/fuzz/<target>-corpus/ in the build tree (the committed seeds in
# SEED_DIR are only read); a crash is saved as tests/fuzz/<target>-crash-<hash> and can be
# replayed without clang: tests/<target>-replay FILE. The full output is in
# tests/fuzz/<target>.log; the closing line is "<target>: PASS (...)" or "<target>: FAIL (...)".
set -u
bin=$1 seeds=$2 seconds=$3
target=$(basename "$bin")
dir=$(dirname "$bin")
log=$dir/$target.log
work=$dir/$target-corpus
mkdir -p "$work"

"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$dir/$target-" "$work" "$seeds" >"$log" 2>&1
rc=$?

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
found=$(ls "$work" | wc -l)
if [ $rc -eq 0 ]; then
        echo "$target: PASS (${seconds} s, ${runs:-?} runs, ${speed:-?}/s, ${cov:-?} edges," \
             "$found inputs in $work)"
        exit 0
fi
echo "---- the end of $log ----"
tail -n 60 "$log"
for f in "$dir/$target"-crash-* "$dir/$target"-leak-* "$dir/$target"-timeout-* \
         "$dir/$target"-oom-*; do
        [ -f "$f" ] && echo "saved input: $f (replay: tests/$target-replay $f)"
done
echo "$target: FAIL (exit status $rc after ${runs:-?} runs; see $log)"
exit 1
