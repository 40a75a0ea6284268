#!/bin/sh
# callgrind.sh — instructions per shmbox send+recv pair, counted by valgrind's callgrind: a
# figure that does not move with the machine's speed. Also the naive ring's, for scale.
#
# Usage: bench/callgrind.sh BENCH SHMBOXD [PAIRS]     (make bench-callgrind runs it)
# Only the instructions inside shmbox_send/shmbox_recv (naive_send/naive_recv) and what they
# call are collected; user space only: a system call's kernel work is not counted (the
# pair makes none when nobody waits).
set -u
bench=${1:?usage: callgrind.sh BENCH SHMBOXD [PAIRS]}
shmboxd=${2:?usage: callgrind.sh BENCH SHMBOXD [PAIRS]}
pairs=${3:-100000}
valgrind=${VALGRIND:-valgrind}

command -v "$valgrind" >/dev/null 2>&1 || { echo "callgrind.sh: valgrind not found (apt-get install valgrind)"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmboxcg.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# run NAME FUNCTION... : callgrind over the bench in --callgrind-pair mode, collecting only
# inside the given functions; prints "total send recv" instruction counts.
run() {
        name=$1; shift
        out="$tmp/$name.out"
        toggles=""
        for f in "$@"; do toggles="$toggles --toggle-collect=$f"; done
        only=""
        [ "$name" = naive ] && only="--only naive"
        # shellcheck disable=SC2086
        if ! "$valgrind" --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no $toggles \
                "$bench" --shmboxd "$shmboxd" --callgrind-pair "$pairs" $only >"$tmp/$name.log" 2>&1; then
                echo "callgrind.sh: valgrind run of $name failed:"; cat "$tmp/$name.log"; exit 1
        fi
        total=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$out")
        [ -n "$total" ] || total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out")
        callgrind_annotate --inclusive=yes "$out" >"$tmp/$name.txt" 2>/dev/null
        echo "$total"
}

per() { awk -v a="$1" -v n="$pairs" 'BEGIN { printf "%.0f", a / n }'; }

# the inclusive count of one function, from callgrind_annotate's table
incl() { grep -E "[:(]$1[ (\[]|[:(]$1\$" "$2" | head -n 1 | awk '{ gsub(",", "", $1); print $1 }'; }

s=$(run shmbox shmbox_send shmbox_recv) || { echo "$s"; exit 1; }
n=$(run naive naive_send naive_recv) || { echo "$n"; exit 1; }
ss=$(incl shmbox_send "$tmp/shmbox.txt"); sr=$(incl shmbox_recv "$tmp/shmbox.txt")

echo "callgrind, $pairs pairs of 64 B in one process (user-space instructions, no waiting):"
printf '  shmbox      send+recv pair: %6s instructions' "$(per "$s")"
[ -n "$ss" ] && [ -n "$sr" ] && printf ' (send %s, recv %s)' "$(per "$ss")" "$(per "$sr")"
printf '\n  naive ring  send+recv pair: %6s instructions\n' "$(per "$n")"
echo "  shmbox, the functions with the most instructions per pair (inclusive):"
grep -E '^ *[0-9,]+ ' "$tmp/shmbox.txt" |
        grep -v -e 'PROGRAM TOTALS' -e 'libc-start' -e 'libc_start' -e '(below main)' -e ':main$' \
                -e ':main ' -e 'pairs_shmbox' -e '???:0x' | head -n 12 | while read -r count rest; do
        c=$(echo "$count" | tr -d ,)
        printf '    %8s  %s\n' "$(per "$c")" "$(echo "$rest" | sed -e 's/^([^)]*) *//' -e 's/ \[.*//')"
done
