#!/bin/sh
# SPDX-License-Identifier: MIT
# ab.sh — an A/B run of shmbox-bench: two builds (say main and a branch) measured alternately,
# ROUNDS times each, with the medians of the 64 B figures side by side. Alternating spreads a
# shared machine's changing load over both; the load average is printed with each round.
#
# Usage: bench/ab.sh BUILD_A BUILD_B [ROUNDS] [BENCH OPTIONS...]
#   BUILD_A, BUILD_B: build trees holding bench/shmbox-bench and shmboxd (each run starts its
#   own daemon); ROUNDS: default 10; default options: --reps 3 --only
#   throughput,shmbox,batch,pipe,mq --sizes 64. Needs python3 for the medians.
set -eu
a=${1:?usage: ab.sh BUILD_A BUILD_B [ROUNDS] [BENCH OPTIONS...]}
b=${2:?usage: ab.sh BUILD_A BUILD_B [ROUNDS] [BENCH OPTIONS...]}
rounds=${3:-10}
shift 2
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- --reps 3 --only throughput,shmbox,batch,pipe,mq --sizes 64
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmboxab.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

for i in $(seq 1 "$rounds"); do
        for side in a b; do
                if [ $side = a ]; then dir=$a; else dir=$b; fi
                echo "round $i $side: load $(cut -d' ' -f1-3 /proc/loadavg)"
                (cd "$dir" && ./bench/shmbox-bench --json --shmboxd ./shmboxd "$@") >"$tmp/$side.$i.json"
        done
done
python3 - "$tmp" "$rounds" <<'PY'
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
vals = {}
for side in "ab":
    for i in range(1, rounds + 1):
        for fig in json.load(open(f"{tmp}/{side}.{i}.json"))["figures"]:
            for tr, v in fig["values"].items():
                if v is not None:
                    vals.setdefault((fig["label"], tr), {}).setdefault(side, []).append(v)
            for tr, alts in fig.get("ratios", {}).items():
                for alt, v in alts.items():
                    if v is not None:
                        vals.setdefault((fig["label"], f"{tr}/{alt}"), {}).setdefault(side, []).append(v)
print(f"{'figure':32} {'what':12} {'A median':>12} {'B median':>12} {'B/A':>6}   A range / B range")
for (label, what), sides in vals.items():
    if len(sides) < 2:
        continue
    ma, mb = statistics.median(sides["a"]), statistics.median(sides["b"])
    rng = lambda s: f"{min(s):.4g}-{max(s):.4g}"
    print(f"{label:32} {what:12} {ma:12.4g} {mb:12.4g} {mb / ma if ma else float('nan'):6.3f}   "
          f"{rng(sides['a'])} / {rng(sides['b'])}")
PY
