#!/bin/sh
# SPDX-License-Identifier: MIT
# callgrind.sh — instructions per shmbox send+recv pair, counted by valgrind's callgrind: a
# figure that does not move with the machine's speed. Also per message with the zero-copy and
# batch calls, and the naive ring's, for scale.
#
# Usage: bench/callgrind.sh BENCH SHMBOXD [PAIRS]     (make bench-callgrind runs it)
# Only the instructions inside the named calls and what they call are counted, user space only
# (a system call's kernel work is not; a pair in one process never waits, so it makes none).
set -u
bench=${1:?usage: callgrind.sh BENCH SHMBOXD [PAIRS]}
shmboxd=${2:?usage: callgrind.sh BENCH SHMBOXD [PAIRS]}
pairs=${3:-100000}
valgrind=${VALGRIND:-valgrind}

command -v "$valgrind" >/dev/null 2>&1 || { echo "callgrind.sh: valgrind not found (apt-get install valgrind)"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmboxcg.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# run NAME FUNCTION...: the bench's --callgrind-pair mode through NAME under callgrind,
# collecting only inside FUNCTION...; prints "instructions messages".
run() {
        name=$1; shift
        toggles=""
        for f in "$@"; do toggles="$toggles --toggle-collect=$f"; done
        # shellcheck disable=SC2086
        if ! "$valgrind" --tool=callgrind --callgrind-out-file="$tmp/$name.out" --collect-atstart=no $toggles \
                "$bench" --shmboxd "$shmboxd" --callgrind-pair "$pairs" --only "$name" >"$tmp/$name.log" 2>&1; then
                echo "callgrind.sh: the valgrind run through $name failed:" >&2
                cat "$tmp/$name.log" >&2
                return 1
        fi
        total=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$tmp/$name.out")
        [ -n "$total" ] || total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$tmp/$name.out")
        n=$(sed -n 's/^pairs: \([0-9]*\) .*/\1/p' "$tmp/$name.log")
        callgrind_annotate --inclusive=yes "$tmp/$name.out" >"$tmp/$name.txt" 2>/dev/null
        callgrind_annotate "$tmp/$name.out" >"$tmp/$name.self.txt" 2>/dev/null
        echo "$total $n"
}

per() { awk -v a="$1" -v n="$2" 'BEGIN { printf "%.0f", a / n }'; }

# the inclusive count of one function, from callgrind_annotate's table
incl() { grep -E "[:(]$1( |\$)" "$2" | head -n 1 | awk '{ gsub(",", "", $1); print $1 }'; }

set -- $(run shmbox shmbox_send shmbox_recv) || exit 1; s_total=$1 s_n=$2
set -- $(run zerocopy shmbox_reserve shmbox_commit shmbox_peek shmbox_release) || exit 1; z_total=$1 z_n=$2
set -- $(run batch shmbox_send_many shmbox_recv_many) || exit 1; b_total=$1 b_n=$2
set -- $(run naive naive_send naive_recv) || exit 1; n_total=$1 n_n=$2

echo "callgrind: user-space instructions per 64 B message sent and received, in one process"
printf '  shmbox   send + recv                        %6s  (send %s, recv %s)\n' "$(per "$s_total" "$s_n")" \
        "$(per "$(incl shmbox_send "$tmp/shmbox.txt")" "$s_n")" "$(per "$(incl shmbox_recv "$tmp/shmbox.txt")" "$s_n")"
printf '  shmbox   reserve + commit + peek + release  %6s\n' "$(per "$z_total" "$z_n")"
printf '  shmbox   send_many + recv_many, per message %6s  (batches of 32)\n' "$(per "$b_total" "$b_n")"
printf '  naive    send + recv                        %6s  (3 semaphores, uncontended)\n' "$(per "$n_total" "$n_n")"
# top FILE COUNT: the heaviest functions of a callgrind_annotate table, per pair
top() {
        grep -E '^ *[0-9,]+ ' "$1" |
                grep -v -e 'PROGRAM TOTALS' -e 'libc-start' -e 'libc_start' -e '(below main)' -e ':main$' \
                        -e ':main ' -e 'pairs_shmbox' -e '???:0x' | awk '!seen[$0]++' | head -n "$2" |
                while read -r count rest; do
                printf '    %8s  %s\n' "$(per "$(echo "$count" | tr -d ,)" "$s_n")" \
                        "$(echo "$rest" | sed -e 's/^([^)]*) *//' -e 's/ \[.*//' -e 's|^.*/\([^/]*:\)|\1|')"
        done
}
echo "  shmbox send + recv per pair, inclusive (the call tree):"
top "$tmp/shmbox.txt" 14
echo "  shmbox send + recv per pair, self (where the instructions are):"
top "$tmp/shmbox.self.txt" 12
