#!/bin/bash
# SPDX-License-Identifier: MIT
# test-probes.sh — the USDT probes (proto/probes.h, doc/tracing.md): readelf -n finds every
# probe of provider shmbox in libshmbox.so and in shmboxd; and, where the machine allows it
# (root, bpftrace, a kernel with uprobes), bpftrace attached to shmbox:send, shmbox:recv and
# the daemon's shmbox:session_attach counts exactly the calls a known run made. Run by make
# check through tests/run-suite.sh (SHMBOXD, SHMBOXCTL, SHMBOX_TEST_PREFIX, SHMBOX_HAVE_SDT).
# A part the machine cannot do says SKIP and why; a build without <sys/sdt.h> skips it all,
# loudly (configure warned too). bpftrace runs under timeout and is stopped at the end.
set -u
SHMBOXD=${SHMBOXD:?SHMBOXD is not set (run through make check)}
SHMBOXCTL=${SHMBOXCTL:?SHMBOXCTL is not set}
builddir=$(cd "$(dirname "$SHMBOXD")" && pwd)
prefix=${SHMBOX_TEST_PREFIX:-shmboxtprb$$}
scale=${SHMBOX_TEST_TIMEOUT_SCALE:-1}
passed=0 failed=0 skipped=0

skip_all() {
        echo "SKIP: $*"
        echo "SKIP: $*" >&2
        exit 77
}
[ "${SHMBOX_HAVE_SDT:-no}" = yes ] ||
        skip_all "probes: NOT compiled in: configure found no <sys/sdt.h> (Debian: systemtap-sdt-dev)"
command -v readelf >/dev/null || skip_all "probes: readelf is missing (Debian: binutils)"

lib=$(readlink -f "$builddir/.libs/libshmbox.so")
[ -f "$lib" ] || skip_all "probes: no $builddir/.libs/libshmbox.so (a static-only build?)"
tmp=$(mktemp -d /tmp/shmboxprb.XXXXXX) || exit 1
daemon_pid="" bt_pid=""
cleanup() {
        [ -n "$bt_pid" ] && kill -INT "$bt_pid" 2>/dev/null && sleep 1 && kill -KILL "$bt_pid" 2>/dev/null
        if [ -n "$daemon_pid" ]; then
                SHMBOX_SOCKET=$tmp/sock "$SHMBOXCTL" destroy "$box" >/dev/null 2>&1
                kill "$daemon_pid" 2>/dev/null
                wait "$daemon_pid" 2>/dev/null
        fi
        rm -rf "$tmp"
}
trap cleanup EXIT

check() { # NAME COMMAND...: one check; its output is in $tmp/out
        local name=$1
        shift
        if "$@" >"$tmp/out" 2>&1; then
                echo "PASS: $name"
                passed=$((passed + 1))
        else
                echo "FAIL: $name"
                failed=$((failed + 1))
                sed 's/^/  | /' "$tmp/out" | tail -n 40
        fi
}
skip() {
        echo "SKIP: $*"
        skipped=$((skipped + 1))
}

# the "NAME" of every stapsdt note of provider shmbox in $1, sorted, one per line
probes_in() {
        readelf -n "$1" | awk '/stapsdt/ { want = 1; next }
                want && /Provider:/ { prov = $2; next }
                want && /Name:/ { if (prov == "shmbox") print $2; want = 0 }' | sort -u
}
# $1 holds exactly the probes $2... (and no other of provider shmbox)
has_exactly() {
        local file=$1 got want
        shift
        got=$(probes_in "$file")
        want=$(printf '%s\n' "$@" | sort -u)
        [ "$got" = "$want" ] || { echo "probes in $file:"; echo "$got"; echo "expected:"; echo "$want"; return 1; }
}

check "libshmbox.so has the library's and the ring's probes" has_exactly "$lib" \
        attach detach send recv send_many recv_many reserve commit abort peek release corrupt sleep wakeup post
check "shmboxd has the daemon's and the ring's probes" has_exactly "$SHMBOXD" \
        session_attach session_detach repair audit corrupt sleep wakeup post
# bpftrace on x86_64 reads arg0 to arg5 of a USDT probe and refuses a script naming arg6
at_most_6_args() {
        readelf -n "$1" | awk '/Provider: shmbox/ { p = 1; next }
                p && /Name:/ { name = $2; next }
                p && /Arguments:/ { if (NF - 1 > 6) { print name ": " NF - 1 " arguments"; bad = 1 }; p = 0 }
                END { exit bad }'
}
check "every probe of libshmbox.so has at most 6 arguments (bpftrace's arg0-arg5)" at_most_6_args "$lib"
check "every probe of shmboxd has at most 6 arguments" at_most_6_args "$SHMBOXD"

# ---- bpftrace counts the calls of a known run ------------------------------------------------
bpftrace_why=""
if [ "$(id -u)" -ne 0 ]; then
        bpftrace_why="needs root (bpftrace loads BPF programs)"
elif ! command -v bpftrace >/dev/null; then
        bpftrace_why="bpftrace is missing (Debian: bpftrace; tests/deps.sh installs it)"
elif [ ! -d /sys/bus/event_source/devices/uprobe ]; then
        bpftrace_why="the kernel has no uprobe event source (CONFIG_UPROBE_EVENTS)"
fi

box=prb$$
n=37
start_daemon() {
        "$SHMBOXD" --socket "$tmp/sock" --prefix "$prefix" --state-dir "$tmp/state" \
                --config "$tmp/none.conf" 2>"$tmp/daemon.log" &
        daemon_pid=$!
        for _ in $(seq $((100 * scale))); do
                [ -S "$tmp/sock" ] && return 0
                sleep 0.1
        done
        echo "shmboxd did not listen on $tmp/sock"
        cat "$tmp/daemon.log"
        return 1
}

# bpftrace counts, filtered to this test's mailbox (other suites use the same library):
# sends, successful receives, and the daemon's grants of an attachment
count_run() {
        local prog
        prog="BEGIN { printf(\"ready\\n\"); }
usdt:$lib:shmbox:send /str(arg0) == \"$box\"/ { @sends = count(); }
usdt:$lib:shmbox:recv /str(arg0) == \"$box\" && (int64)arg1 >= 0/ { @recvs = count(); }
usdt:$SHMBOXD:shmbox:session_attach /str(arg0) == \"$box\"/ { @attaches = count(); }"
        start_daemon || return 1
        SHMBOX_SOCKET=$tmp/sock "$SHMBOXCTL" create "$box" --slots 64 || return 1
        timeout -s INT $((60 * scale)) bpftrace -e "$prog" >"$tmp/bt.out" 2>"$tmp/bt.err" &
        bt_pid=$!
        for _ in $(seq $((300 * scale))); do
                grep -q '^ready' "$tmp/bt.out" && break
                kill -0 "$bt_pid" 2>/dev/null || break
                sleep 0.1
        done
        grep -q '^ready' "$tmp/bt.out" || { echo "bpftrace did not attach:"; cat "$tmp/bt.err" "$tmp/bt.out"; return 1; }
        seq 1 $n | SHMBOX_SOCKET=$tmp/sock "$SHMBOXCTL" send "$box" || return 1
        SHMBOX_SOCKET=$tmp/sock "$SHMBOXCTL" recv "$box" --count $n --timeout 5000 >"$tmp/recv.out" || return 1
        [ "$(wc -l <"$tmp/recv.out")" -eq $n ] || { echo "received $(wc -l <"$tmp/recv.out") of $n"; return 1; }
        kill -INT "$bt_pid"
        wait "$bt_pid"
        bt_pid=""
        cat "$tmp/bt.out"
        grep -qx "@sends: $n" "$tmp/bt.out" || { echo "expected @sends: $n"; cat "$tmp/bt.err"; return 1; }
        grep -qx "@recvs: $n" "$tmp/bt.out" || { echo "expected @recvs: $n"; return 1; }
        grep -qx "@attaches: 2" "$tmp/bt.out" || { echo "expected @attaches: 2 (shmboxctl send, recv)"; return 1; }
}

if [ -n "$bpftrace_why" ]; then
        skip "probes: bpftrace counting NOT run: $bpftrace_why"
else
        check "bpftrace counts exactly $n sends, $n receives and 2 attachments" count_run
fi

total=$((passed + failed))
pct=0
[ $total -gt 0 ] && pct=$((100 * passed / total))
# Check's summary format, which tests/check.sh collects, then the plain count
echo "$pct%: Checks: $total, Failures: $failed, Errors: 0"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
