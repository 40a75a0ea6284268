#!/bin/sh
# SPDX-License-Identifier: MIT
# test-bench-smoke.sh — keeps bench/shmbox-bench from rotting: a --quick run of every figure
# must finish with every message checked, valid JSON, and nothing left behind. Run by make
# check through tests/run-suite.sh (which sets SHMBOXD and the object prefix). It asserts no
# figure and no duration: every run moves at least a few dozen messages however late the
# machine schedules it (bench/worker.c), and deadlines are hang guards only. The bench runs with
# TMPDIR in a directory of this test's own, which must be empty after each run (the daemon's
# directory, ZeroMQ's socket files).
set -u
bench=${SHMBOX_BENCH:-$(dirname "${SHMBOXD:?SHMBOXD is not set (run through make check)}")/bench/shmbox-bench}
prefix=${SHMBOX_TEST_PREFIX:-shmboxtbench$$}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmboxbs.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/run" || exit 1
export TMPDIR="$tmp/run"
passed=0 failed=0
# A RouDi (iceoryx's daemon) that runs already is someone else's: the bench then skips its
# iceoryx row, and its names are not ours to check.
roudi_before=$(pgrep -x iox-roudi 2>/dev/null)

check() { # NAME COMMAND...: one check; the command's output is in $tmp/out
        name=$1; shift
        if "$@" >"$tmp/out" 2>"$tmp/err"; then
                echo "PASS: $name"; passed=$((passed + 1))
        else
                echo "FAIL: $name"; failed=$((failed + 1))
                sed 's/^/  | /' "$tmp/out" "$tmp/err" | tail -n 40
        fi
}

nothing_left() {
        left=$(ls /dev/shm | grep -e "^$prefix[.-]" -e "^sem\.$prefix[.-]")
        left="$left$(ls /tmp | grep -e "^$prefix[.-]")" # iceoryx runtimes' files
        left="$left$(ls -A "$tmp/run")"                   # the bench's own temporary directory
        procs=$(pgrep -f -- "--prefix $prefix" 2>/dev/null)
        if [ -z "$roudi_before" ]; then
                procs="$procs$(pgrep -x iox-roudi)"
                left="$left$(ls /dev/shm/iceoryx_mgmt /tmp/roudi /tmp/roudi.lock /tmp/iox-unique-roudi.lock 2>/dev/null)"
        fi
        [ -z "$left" ] && [ -z "$procs" ] || { echo "left: $left $procs"; return 1; }
}

json_ok() {
        grep -q '"ok": true' "$1" || return 1
        grep -q '"id": "throughput_64_msgs_per_s"' "$1" || return 1
        if command -v python3 >/dev/null 2>&1; then
                python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
v = {f["id"]: f["values"] for f in d["figures"]}
for fid in ("throughput_64_msgs_per_s", "throughput_1048576_mb_per_s", "rtt_64_same_cpu_p50_us",
            "mpmc_4x4_64_msgs_per_s", "idle_receiver_cpu_us"):
    for t in ("shmbox", "pipe", "unix", "naive"):
        assert v[fid][t] is not None, (fid, t)
for t in ("zerocopy", "batch"):
    assert v["throughput_64_msgs_per_s"][t] is not None, t
# iceoryx: measured, or missing for a reason that is not a failure (not built, no iox-roudi,
# a RouDi of someone else); never in 4x4
note = d["iceoryx_note"]
if note is None:
    for fid in ("throughput_64_msgs_per_s", "throughput_1048576_mb_per_s", "rtt_64_same_cpu_p50_us",
                "idle_receiver_cpu_us"):
        assert v[fid]["iceoryx"] is not None, (fid, "iceoryx")
else:
    print("iceoryx row missing:", note, file=sys.stderr)
assert v["mpmc_4x4_64_msgs_per_s"]["iceoryx"] is None
# Boost and ZeroMQ: measured, or missing because this build lacks them (then said why)
missing = d["missing"]
for t, fids in (("boost", ("throughput_64_msgs_per_s", "throughput_1048576_mb_per_s", "rtt_64_same_cpu_p50_us",
                            "mpmc_4x4_64_msgs_per_s", "idle_receiver_cpu_us")),
                ("zmq", ("throughput_64_msgs_per_s", "throughput_1048576_mb_per_s", "rtt_64_same_cpu_p50_us",
                          "idle_receiver_cpu_us"))):
    if t in missing:
        assert "not run" in missing[t], (t, missing[t])
        print(t, "row missing:", missing[t], file=sys.stderr)
        continue
    for fid in fids:
        assert v[fid][t] is not None, (fid, t)
assert v["mpmc_4x4_64_msgs_per_s"]["zmq"] is None
# the limit row: one-way and other-CPU round trips, on two CPUs; never same-CPU, 4x4 or idle
if d["pinned_cpus"][1] >= 0:
    for fid in ("throughput_64_msgs_per_s", "throughput_1048576_mb_per_s", "rtt_64_other_cpu_p50_us"):
        assert v[fid]["spsc"] is not None, (fid, "spsc")
for fid in ("rtt_64_same_cpu_p50_us", "mpmc_4x4_64_msgs_per_s", "idle_receiver_cpu_us"):
    assert v[fid]["spsc"] is None, (fid, "spsc")
for t in ("boost", "zmq", "spsc"):
    assert "ratios" in d["figures"][0] and t in d["figures"][0]["ratios"]["shmbox"], t
' "$1" || return 1
        fi
}

quick_json() {
        "$bench" --quick --json --prefix "$prefix" >"$tmp/json" || return 1
        json_ok "$tmp/json"
}

table() {
        "$bench" --quick --only shmbox,pipe,throughput --prefix "$prefix" | tee "$tmp/table" &&
                grep -q '^64 B one-way, msgs/s' "$tmp/table" && grep -q '/pipe' "$tmp/table"
}

peers() { # the peers' columns, or the line that says why one is not built
        "$bench" --quick --only shmbox,boost,zmq,spsc,throughput --sizes 64 --prefix "$prefix" >"$tmp/peers" \
                2>"$tmp/peers.err" || { cat "$tmp/peers.err"; return 1; }
        cat "$tmp/peers"
        grep -q '^64 B one-way, msgs/s' "$tmp/peers" || return 1
        for t in boost zmq spsc; do
                grep -q "/$t" "$tmp/peers" || grep -q "^  $t  *not run: " "$tmp/peers" || { echo "no /$t"; return 1; }
        done
        nothing_left
}

interrupted() { # SIGINT in the middle of the peers' rows: exit 130, every object and file removed
        "$bench" --only boost,zmq,spsc,throughput --reps 3 --duration 2000 --prefix "$prefix" \
                >"$tmp/int" 2>&1 &
        pid=$!
        sleep 3
        kill -INT $pid
        wait $pid
        rc=$?
        cat "$tmp/int"
        [ $rc -eq 130 ] || { echo "exit status $rc, not 130"; return 1; }
        grep -q 'interrupted; cleaned up' "$tmp/int" && nothing_left
}

scale() { # the scale group, small: its rows, and its mailboxes all gone again
        start=$(date +%s)
        "$bench" --quick --only scale --scale-mailboxes 50 --prefix "$prefix" | tee "$tmp/scale" || return 1
        for row in '^scale: one shmboxd, 50 mailboxes' '^create N mailboxes' '^attach latency p50' \
                '^attach latency p99' '^shmboxd VmRSS, N attached' '^shmboxd VmHWM, N attached' \
                '^64 B one-way msgs/s, N attached' '^64 B one-way msgs/s, fresh box' '^  N attached / fresh' \
                '^left in /dev/shm after clean-up  *0$'; do
                grep -q -e "$row" "$tmp/scale" || { echo "missing: $row"; return 1; }
        done
        # a hang guard, not a figure: a loaded 2-CPU machine may take many times a quiet one's 1 s
        [ $(($(date +%s) - start)) -lt 120 ] || { echo "took 120 s or more (hung?)"; return 1; }
        nothing_left
}

bridge_skips() { # the bridge group without nats-server (or libnats): skipped, said, no failure
        "$bench" --only bridge --nats-server /nonexistent/nats-server --prefix "$prefix" \
                >"$tmp/bridge" 2>"$tmp/bridge.err" || return 1
        grep -q '^bridge: SKIPPED: ' "$tmp/bridge" && grep -q 'bridge group SKIPPED: ' "$tmp/bridge.err"
}

rpc() { # the rpc group: shmbox's row, sd-bus's and zmq's (or why not), then the same as JSON;
        # its private dbus-daemon (its configuration lies in our TMPDIR) gone after each run
        "$bench" --quick --only rpc --prefix "$prefix" >"$tmp/rpc" 2>"$tmp/rpc.err" || { cat "$tmp/rpc.err"; return 1; }
        cat "$tmp/rpc"
        grep -q '^64 B round trip, p50 ' "$tmp/rpc" && grep -q '^4 KiB round trip, p99 ' "$tmp/rpc" || return 1
        for t in sd-bus zmq; do
                grep -q "/$t" "$tmp/rpc" || grep -q "^  $t  *not run: " "$tmp/rpc" || { echo "no /$t"; return 1; }
        done
        ! pgrep -f -- "--config-file=$tmp/run/" || { echo "a dbus-daemon of the run is left"; return 1; }
        nothing_left || return 1
        "$bench" --quick --json --only rpc --prefix "$prefix" >"$tmp/rpc.json" || return 1
        grep -q '"ok": true' "$tmp/rpc.json" || return 1
        if command -v python3 >/dev/null 2>&1; then
                python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["rpc"]
for row in ("shmbox", "sdbus", "zmq"):
    if "missing" in d[row]:
        assert row != "shmbox" and "not run" in d[row]["missing"], (row, d[row])
        print(row, "row missing:", d[row]["missing"], file=sys.stderr)
        continue
    for size in ("64", "4096"):
        assert d[row][size]["p50_us"] is not None and d[row][size]["p99_us"] is not None, (row, size)
' "$tmp/rpc.json" || return 1
        fi
        ! pgrep -f -- "--config-file=$tmp/run/" || { echo "a dbus-daemon of the run is left"; return 1; }
        nothing_left
}

rpc_skips() { # without dbus-daemon the sd-bus row is skipped, saying why, and that is no failure
        "$bench" --quick --only rpc --dbus-daemon /nonexistent/dbus-daemon --prefix "$prefix" >"$tmp/rpc" \
                2>"$tmp/rpc.err" || { cat "$tmp/rpc" "$tmp/rpc.err"; return 1; }
        grep -q '^  sd-bus  *not run: no dbus-daemon at /nonexistent/dbus-daemon' "$tmp/rpc" &&
                grep -q 'rpc sd-bus row SKIPPED: ' "$tmp/rpc.err" && grep -q '^64 B round trip, p50 ' "$tmp/rpc" &&
                nothing_left
}

fanout() { # the fan-out group without iceoryx (RouDi's start costs seconds): shmbox's broadcast row
        # and zmq's, or why not, every figure of a row that ran, nothing left
        "$bench" --quick --only shmbox,zmq,fanout --prefix "$prefix" >"$tmp/fanout" 2>"$tmp/fanout.err" ||
                { cat "$tmp/fanout.err"; return 1; }
        cat "$tmp/fanout"
        grep -q '^fanout: one publisher' "$tmp/fanout" || return 1
        for t in shmbox zmq; do
                grep -q "^  $t  *not run: " "$tmp/fanout" && continue
                for row in '64 B x 1, msgs/s per subscriber' '64 KiB x 4, msgs/s per subscriber' \
                        '64 B x 4, delivered' '64 B x 2, latency p50' '64 KiB x 4, latency p99'; do
                        grep -q "^$row " "$tmp/fanout" || { echo "missing: $row"; return 1; }
                done
        done
        # a lossless row delivers everything: shmbox's delivered column, when it ran, is all 1
        if ! grep -q '^  shmbox  *not run: ' "$tmp/fanout"; then
                awk '/^64 (B|KiB) x [0-9], delivered /{ if ($6 != "1.0000") bad = 1 } END { exit bad }' "$tmp/fanout" ||
                        { echo "shmbox lost messages"; return 1; }
        fi
        ! grep -q -- '-nan\|(error)' "$tmp/fanout" || return 1
        nothing_left
}

usage_error() {
        "$bench" --no-such-option
        [ $? -eq 2 ]
}

check "--help exits 0 and documents the modes" sh -c "'$bench' --help | grep -q -- --callgrind-pair"
check "an unknown option is a usage error (2)" usage_error
check "--quick --json measures every transport, checks every message" quick_json
check "the quick run leaves nothing in /dev/shm and no daemon" nothing_left
check "--only selects transports and groups; the table has ratios" table
check "--only boost,zmq,spsc: their /X columns (or why not built), nothing left" peers
for t in boost zmq; do # a row this build lacks is no failure, but says so where check.sh shows it
        why=$(sed -n "s/^  $t  *\(not run: .*\)/\1/p" "$tmp/peers" 2>/dev/null)
        [ -z "$why" ] || echo "SKIP: the bench's $t row: $why"
done
check "SIGINT during the peers' rows removes their objects and socket files" interrupted
check "--only scale: 50 mailboxes, 50 attached clients, rows, nothing left" scale
check "--only bridge without nats-server: skipped, saying why, exit 0" bridge_skips
check "--only rpc: shmbox_request, sd-bus (private bus), ZeroMQ REQ/REP rows or why not, nothing left" rpc
check "--only rpc without dbus-daemon: the sd-bus row skipped, saying why, exit 0" rpc_skips
check "--only shmbox,zmq,fanout: broadcast mailbox and PUB/SUB rows or why not, nothing left" fanout
check "--callgrind-pair runs send+recv pairs in one process" "$bench" --callgrind-pair 2000 --prefix "$prefix"
check "--callgrind-pair runs zero-copy and batch pairs too" sh -c \
        "'$bench' --callgrind-pair 2000 --only zerocopy --prefix '$prefix' &&
         '$bench' --callgrind-pair 2000 --only batch --prefix '$prefix'"
check "nothing left after all runs" nothing_left

total=$((passed + failed))
pct=0
[ $total -gt 0 ] && pct=$((100 * passed / total))
# Check's summary format, which tests/check.sh collects, then the plain count
echo "$pct%: Checks: $total, Failures: $failed, Errors: 0"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
