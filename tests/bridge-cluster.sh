#!/bin/bash
# SPDX-License-Identifier: MIT
# bridge-cluster.sh — shmbox-bridge against a three-node JetStream cluster under faults (issue 18).
#
# Starts three nats-server on loopback as a JetStream cluster (n1..n3: own store directories,
# random free client, cluster and monitoring ports, routes to each other), two shmboxd standing
# for hosts A and B (own sockets and prefixes), an outbound bridge on A and an inbound bridge on
# B (both given the three URLs; the bridge creates the R3 stream), a sequence-checked sender on
# A's mailbox (1,000 msgs/s) and a receiver on B's. Then, under that load, one fault after the
# other: kill -9 the stream leader; SIGSTOP it for longer than an election, then SIGCONT; kill -9
# a follower; kill -9 the server each bridge is connected to; a rolling restart (SIGTERM, start
# again, one node at a time); two servers down at once (no quorum), then back. After each: the
# killed nodes come back, the cluster is whole again, traffic drains.
#
# Per fault: lost (send() returned 0 on A, never received on B, counted when the run ends),
# duplicates delivered to B, the longest stall (longest gap between first receipts from the fault to
# the drain), resume (from the end of the fault — the stream has a leader again once the fault's
# action is over — to B receiving the first message sent after it), and how long A's sender was
# blocked (its mailbox full). A fault passes with lost 0, no bridge crash, and traffic drained;
# the times are measured, not judged. The last line: "N passed, N failed".
#
# A measurement of today's bridge, run by hand (not by make check):
#   tests/bridge-cluster.sh [--build DIR] [--rate N] [--logs DIR]
#     --build DIR  the build tree with shmboxd, shmboxctl, shmbox-bridge, tests/cluster-traffic
#                  (default: $SHMBOX_BUILD, else ./b, else .); make tests/cluster-traffic first
#     --rate N     messages per second (default 1000)
#     --logs DIR   copy every log (servers, bridges, daemons, traffic) to DIR before cleaning up
# Environment: NATS_SERVER (default: nats-server from PATH, else /usr/sbin/nats-server),
# ACK_WAIT_MS (the inbound consumer's ack wait, default 5000: redeliveries within a run).
# Exit status: 0 all passed, 1 a fault failed, 2 a usage or set-up failure, 77 skipped.
# Everything it starts is stopped and everything it made is removed on exit, interrupted or not.
set -u

build=${SHMBOX_BUILD:-}
rate=1000
logs_to=
while [ $# -gt 0 ]; do
        case "$1" in
        --build) build=${2:?--build needs a directory}; shift 2 ;;
        --rate) rate=${2:?--rate needs a number}; shift 2 ;;
        --logs) logs_to=${2:?--logs needs a directory}; shift 2 ;;
        -h | --help) sed -n '3,/^set -u/p' "$0" | sed -e '/^set -u/d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [--build DIR] [--rate N] [--logs DIR]" >&2; exit 2 ;;
        esac
done
if [ -z "$build" ]; then
        if [ -x b/shmboxd ]; then build=b; else build=.; fi
fi
build=$(cd "$build" && pwd) || exit 2
case "$rate" in '' | *[!0-9]*) echo "--rate: not a number: $rate" >&2; exit 2 ;; esac
ack_wait_ms=${ACK_WAIT_MS:-5000}

skip() {
        echo "SKIP: bridge-cluster: $*"
        exit 77
}

nats_server=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
[ -x "$nats_server" ] || skip "no nats-server (Debian: apt-get install nats-server)"
for tool in curl jq; do
        command -v "$tool" >/dev/null || skip "no $tool (Debian: apt-get install $tool)"
done
shmboxd=$build/shmboxd
shmboxctl=$build/shmboxctl
bridge=$build/shmbox-bridge
traffic=$build/tests/cluster-traffic
[ -x "$bridge" ] || skip "no $bridge (configure found no libnats?)"
for f in "$shmboxd" "$shmboxctl" "$traffic"; do
        [ -x "$f" ] || { echo "bridge-cluster: $f is missing (make -C $build all tests/cluster-traffic)" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bridge-cluster.XXXXXX") || exit 2
chmod 755 "$tmp"
prefix_a=shmclu_a_$$
prefix_b=shmclu_b_$$
declare -A pid=()        # what runs: n1..n3, shmboxd_a, shmboxd_b, bridge_a, bridge_b, sender, receiver
declare -A client_port=() cluster_port=() http_port=()
used_ports=" "
interrupted=no

say() {
        printf '%s [%6.1f s] %s\n' "$(date -u +%H:%M:%S)" "$(elapsed)" "$*"
}

now_us() {
        date +%s%6N
}

t_start=$(now_us)
elapsed() {
        local t
        t=$(now_us)
        echo "$(((t - t_start) / 1000)) / 1000" | awk -F/ '{ printf "%.1f", $1 / $2 }'
}

alive() {
        [ -n "${pid[$1]:-}" ] && kill -0 "${pid[$1]}" 2>/dev/null
}

# Stop process $1 with signal $2 and wait for it (SIGKILL after 10 s); forget its pid.
stop_proc() {
        local name=$1 sig=$2 p=${pid[$1]:-} i
        [ -n "$p" ] || return 0
        kill -CONT "$p" 2>/dev/null
        kill "-$sig" "$p" 2>/dev/null
        for ((i = 0; i < 100; i++)); do
                kill -0 "$p" 2>/dev/null || break
                sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
        pid[$name]=
}

cleanup() {
        local rc=$? name
        trap '' INT TERM HUP
        for name in sampler sender receiver bridge_a bridge_b; do
                stop_proc "$name" TERM
        done
        for name in n1 n2 n3; do
                stop_proc "$name" KILL
        done
        if alive shmboxd_a; then "$shmboxctl" --socket "$tmp/a.sock" destroy orders >/dev/null 2>&1; fi
        if alive shmboxd_b; then "$shmboxctl" --socket "$tmp/b.sock" destroy orders >/dev/null 2>&1; fi
        stop_proc shmboxd_a TERM
        stop_proc shmboxd_b TERM
        rm -f /dev/shm/"$prefix_a".* /dev/shm/sem."$prefix_a".* /dev/shm/"$prefix_b".* /dev/shm/sem."$prefix_b".*
        if [ -n "$logs_to" ]; then
                mkdir -p "$logs_to" && cp "$tmp"/*.log "$tmp"/*.txt "$logs_to"/ 2>/dev/null
                echo "logs copied to $logs_to"
        fi
        rm -rf "$tmp"
        [ "$interrupted" = yes ] && echo "bridge-cluster: interrupted; cleaned up" >&2
        exit "$rc"
}
trap cleanup EXIT
trap 'interrupted=yes; exit 130' INT TERM HUP

die() {
        say "SET-UP FAILED: $*"
        for f in "$tmp"/*.log; do
                echo "---- $f (last 30 lines)"
                tail -n 30 "$f"
        done
        exit 2
}

# A free loopback port chosen at random (not one this run already took), into variable $1.
free_port() {
        local p
        while :; do
                p=$((20000 + RANDOM % 40000))
                case "$used_ports" in *" $p "*) continue ;; esac
                if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
                        used_ports+="$p "
                        printf -v "$1" '%s' "$p"
                        return
                fi
        done
}

# ---- the cluster ------------------------------------------------------------------------------

for n in n1 n2 n3; do
        free_port "client_port[$n]"
        free_port "cluster_port[$n]"
        free_port "http_port[$n]"
done
routes="nats://127.0.0.1:${cluster_port[n1]}, nats://127.0.0.1:${cluster_port[n2]}, nats://127.0.0.1:${cluster_port[n3]}"
urls="nats://127.0.0.1:${client_port[n1]}, nats://127.0.0.1:${client_port[n2]}, nats://127.0.0.1:${client_port[n3]}"
for n in n1 n2 n3; do
        cat >"$tmp/$n.conf" <<EOF
# written by tests/bridge-cluster.sh
server_name: $n
listen: 127.0.0.1:${client_port[$n]}
http: 127.0.0.1:${http_port[$n]}
jetstream { store_dir: "$tmp/$n" }
cluster { name: shmbox, listen: 127.0.0.1:${cluster_port[$n]}, routes: [ $routes ] }
EOF
done

node_start() {
        "$nats_server" -c "$tmp/$1.conf" >>"$tmp/nats-$1.log" 2>&1 &
        pid[$1]=$!
        disown "$!" # no "Killed" from bash for the kill -9 faults; stop_proc polls for its end
        echo "$(now_us) start $1 pid ${pid[$1]}" >>"$tmp/events.txt"
}

# jsz of node $1 with the stream's details ("" if it does not answer within 1 s).
jsz() {
        curl -s -m 1 "http://127.0.0.1:${http_port[$1]}/jsz?accounts=true&streams=true" 2>/dev/null
}

# The meta leader as node $1 sees it ("" if none).
meta_leader() {
        jsz "$1" | jq -r '.meta_cluster.leader // empty' 2>/dev/null
}

# The leader of stream CLUSTER as node $1 sees it ("" if none or unknown).
stream_leader_at() {
        jsz "$1" | jq -r '[.account_details[]?.stream_detail[]? | select(.name == "CLUSTER") | .cluster.leader // empty][0] // empty' 2>/dev/null
}

# The stream's leader if two running nodes agree on it and it runs (not stopped), else "".
stopped=
stream_leader() {
        local n l all=" "
        for n in n1 n2 n3; do
                [ "$n" = "$stopped" ] && continue
                alive "$n" || continue
                l=$(stream_leader_at "$n")
                [ -n "$l" ] && all+="$l "
        done
        for l in n1 n2 n3; do
                [ "$l" = "$stopped" ] && continue
                alive "$l" || continue
                if [ "$(echo "$all" | tr ' ' '\n' | grep -c "^$l\$")" -ge 2 ]; then
                        echo "$l"
                        return
                fi
        done
}

# Whether the cluster is whole: the three nodes agree on the stream's leader, which sees both
# other replicas current and heard from within 2 s; and node $1 (if given, and not the leader)
# says it is healthy (/healthz: JetStream current, what an operator waits for between two
# restarts; the stream's leader itself reports "not current" now and then under load).
stream_whole() {
        local n l c
        l=$(stream_leader_at n1)
        [ -n "$l" ] || return 1
        for n in n2 n3; do [ "$(stream_leader_at "$n")" = "$l" ] || return 1; done
        if [ -n "${1:-}" ] && [ "$1" != "$l" ]; then
                [ "$(curl -s -m 1 "http://127.0.0.1:${http_port[$1]}/healthz" 2>/dev/null | jq -r '.status // empty' 2>/dev/null)" = ok ] ||
                        return 1
        fi
        c=$(jsz "$l" | jq -r '[.account_details[]?.stream_detail[]? | select(.name == "CLUSTER") | .cluster.replicas[]? | select(.current == true and (.offline // false) == false and .active < 2000000000)] | length' 2>/dev/null)
        [ "${c:-0}" -ge 2 ]
}

# Wait up to $1 s until the cluster is whole (stream_whole, node $2 healthy) with all three running.
wait_whole() {
        local deadline=$((SECONDS + $1))
        while [ $SECONDS -lt $deadline ]; do
                if alive n1 && alive n2 && alive n3 && stream_whole "${2:-}"; then
                        return 0
                fi
                sleep 0.2
        done
        return 1
}

say "starting nats-server n1..n3 (client ports ${client_port[n1]} ${client_port[n2]} ${client_port[n3]}) in $tmp"
for n in n1 n2 n3; do node_start "$n"; done
deadline=$((SECONDS + 30))
until [ -n "$(meta_leader n1)" ] && [ "$(meta_leader n1)" = "$(meta_leader n2)" ] &&
        [ "$(meta_leader n2)" = "$(meta_leader n3)" ]; do
        [ $SECONDS -lt $deadline ] || die "the cluster elected no meta leader within 30 s"
        sleep 0.2
done
say "cluster up, meta leader $(meta_leader n1)"

# ---- two hosts, their bridges, the traffic ------------------------------------------------------

for h in a b; do
        prefix_var=prefix_$h
        "$shmboxd" --socket "$tmp/$h.sock" --prefix "${!prefix_var}" --state-dir "$tmp/state-$h" \
                --config "$tmp/shmboxd-$h.conf" --log-level info >>"$tmp/shmboxd-$h.log" 2>&1 &
        pid[shmboxd_$h]=$!
done
for h in a b; do
        deadline=$((SECONDS + 10))
        until "$shmboxctl" --socket "$tmp/$h.sock" list >/dev/null 2>&1; do
                [ $SECONDS -lt $deadline ] || die "shmboxd $h did not come up"
                sleep 0.1
        done
        "$shmboxctl" --socket "$tmp/$h.sock" create orders --slots 1024 --slot-size 256 ||
                die "cannot create mailbox orders on host $h"
done

for h in a b; do
        if [ $h = a ]; then direction=outbound; else direction=inbound; fi
        cat >"$tmp/bridge-$h.conf" <<EOF
# written by tests/bridge-cluster.sh
[nats]
url = $urls
reconnect-wait-ms = 250

[bridge]
host = host${h^^}
socket = $tmp/$h.sock
status-file = $tmp/bridge-$h.status

[stream CLUSTER]
subjects = shmbox.>
retention = workqueue
replicas = 3

[mailbox orders]
direction = $direction
subject = shmbox.orders
stream = CLUSTER
ack-wait-ms = $ack_wait_ms
EOF
done

# Lines of stdin with the time of day in front (ms), for the bridges' logs, which have none.
stamp() {
        local line t
        while IFS= read -r line; do
                t=$EPOCHREALTIME
                printf '%(%H:%M:%S)T.%.3s %s\n' "${t%.*}" "${t#*.}" "$line"
        done
}

bridge_start() {
        "$bridge" --config "$tmp/bridge-$1.conf" --log-level debug > >(stamp >>"$tmp/bridge-$1.log") 2>&1 &
        pid[bridge_$1]=$!
        echo "$(now_us) start bridge $1 pid ${pid[bridge_$1]}" >>"$tmp/events.txt"
}

# The value of key $2 in bridge $1's status file.
bridge_status() {
        awk -v k="$2" '$1 == k && $2 == "=" { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }' \
                "$tmp/bridge-$1.status" 2>/dev/null
}

# The node bridge $1 is connected to ("" if none).
bridge_node() {
        local url n
        url=$(bridge_status "$1" server)
        for n in n1 n2 n3; do
                case "$url" in *":${client_port[$n]}") echo "$n"; return ;; esac
        done
}

bridge_start a
bridge_start b
deadline=$((SECONDS + 30))
until [ "$(bridge_status a state)" = running ] && [ "$(bridge_status b state)" = running ]; do
        [ $SECONDS -lt $deadline ] || die "the bridges did not come up within 30 s"
        sleep 0.2
done
wait_whole 30 || die "stream CLUSTER has no leader with two current replicas within 30 s"
say "bridges running (A on $(bridge_node a), B on $(bridge_node b)); stream leader $(stream_leader)"

# A line per bridge twice a second: its status (counters, server, last error), for the record.
(
        while :; do
                for h in a b; do
                        [ -f "$tmp/bridge-$h.status" ] || continue
                        t=$EPOCHREALTIME
                        printf '%(%H:%M:%S)T.%.3s %s: ' "${t%.*}" "${t#*.}" "${h^^}"
                        grep -E '^(connected|server|in-flight|published|acked|retried|duplicates|fetched|committed|redelivered|last-error) = ' \
                                "$tmp/bridge-$h.status" | sed -e 's/ = /=/' | tr '\n' ' '
                        echo
                done >>"$tmp/status.txt"
                sleep 0.5
        done
) &
pid[sampler]=$!

"$traffic" recv "$tmp/b.sock" orders "$tmp/received.txt" "$tmp/receiver.status" 2>>"$tmp/traffic.log" &
pid[receiver]=$!
"$traffic" send "$tmp/a.sock" orders "$rate" "$tmp/sent.txt" 2>>"$tmp/traffic.log" &
pid[sender]=$!

# The last sequence number whose send() returned 0 (0 before the first).
last_sent() {
        local l
        l=$(tail -n 1 "$tmp/sent.txt" 2>/dev/null)
        echo "${l%% *}" | grep -E '^[0-9]+$' || echo 0
}

# Every sequence number below this one has been received.
recv_low() {
        local l
        l=$(cat "$tmp/receiver.status" 2>/dev/null)
        echo "${l%% *}" | grep -E '^[0-9]+$' || echo 1
}

# The messages up to $1 that B misses, as ranges "A-B" (clipped to $1), less those an earlier
# drain gave up on; "more" if B has not yet received $1 or later. Empty: nothing missing.
given_up=
missing_upto() {
        awk -v t="$1" -v g="$given_up" '
                BEGIN { ng = split(g, G, " ") }
                NR == 1 { if ($6 + 0 < t + 0) more = 1; next }
                NR == 2 {
                        for (i = 1; i <= NF; i++) {
                                split($i, r, "-"); a = r[1] + 0; b = r[2] + 0
                                if (a > t) continue
                                if (b > t) b = t
                                for (s = a; s <= b; s++) {
                                        for (j = 1; j <= ng; j++) {
                                                split(G[j], q, "-")
                                                if (s >= q[1] + 0 && s <= q[2] + 0) break
                                        }
                                        if (j > ng) {
                                                if (s == e + 1 && n) e = s
                                                else { if (n) out = out " " a0 "-" e; a0 = e = s; n = 1 }
                                        }
                                }
                        }
                }
                END {
                        if (n) out = out " " a0 "-" e
                        if (NR == 0) more = 1
                        print (more ? "more" : "") out
                }' "$tmp/receiver.status" 2>/dev/null
}

# Wait up to $1 s until B has every message sent so far but those given up on; 0 if it has.
# If not, what is still missing is given up on, so that the next faults are measured.
drain() {
        local target deadline=$((SECONDS + $1)) m
        target=$(last_sent)
        while [ $SECONDS -lt $deadline ]; do
                m=$(missing_upto "$target")
                [ -z "$m" ] && return 0
                sleep 0.1
        done
        m=$(missing_upto "$target")
        given_up+=" ${m#more}"
        return 1
}

# ---- the faults ---------------------------------------------------------------------------------

nphases=0
declare -a ph_name=() ph_t0=() ph_fs=() ph_fe=() ph_t1=() ph_note=()
bridge_crashes=

# Begin a phase named $1: its window starts now, its fault at once.
phase_begin() {
        nphases=$((nphases + 1))
        ph_name[nphases]=$1
        ph_t0[nphases]=$(now_us)
        ph_fs[nphases]=${ph_t0[nphases]}
        ph_note[nphases]=
        say "fault $nphases: $1"
        echo "${ph_fs[nphases]} fault $nphases begins: $1" >>"$tmp/events.txt"
}

# The fault's action is over: its end is when the stream has a leader again (other than $1 if
# given), waited for up to 30 s.
fault_over() {
        local deadline=$((SECONDS + 30)) l
        while [ $SECONDS -lt $deadline ]; do
                l=$(stream_leader)
                if [ -n "$l" ] && [ "$l" != "${1:-}" ]; then
                        ph_fe[nphases]=$(now_us)
                        say "  stream leader $l"
                        echo "${ph_fe[nphases]} fault $nphases over: stream leader $l" >>"$tmp/events.txt"
                        return
                fi
                sleep 0.1
        done
        ph_fe[nphases]=$(now_us)
        ph_note[nphases]+=" no-leader-within-30s"
        say "  no stream leader within 30 s"
}

# Restart what is down, wait for the cluster to be whole and the traffic to drain, check the
# bridges; the phase's window ends then.
phase_end() {
        local n b st
        for n in n1 n2 n3; do alive "$n" || node_start "$n"; done
        wait_whole 30 || ph_note[nphases]+=" cluster-not-whole-after-30s"
        drain 30 || ph_note[nphases]+=" not-drained-after-30s"
        for b in a b; do
                if ! alive "bridge_$b"; then
                        wait "${pid[bridge_$b]}"
                        st=$?
                        ph_note[nphases]+=" bridge-$b-died(status-$st)"
                        bridge_crashes+=" fault$nphases:$b:$st"
                        say "  bridge $b died (wait status $st); starting it again"
                        bridge_start "$b"
                fi
        done
        ph_t1[nphases]=$(now_us)
        echo "${ph_t1[nphases]} fault $nphases drained${ph_note[nphases]}" >>"$tmp/events.txt"
        say "  drained${ph_note[nphases]:+ (${ph_note[nphases]# })}; A on $(bridge_node a), B on $(bridge_node b)"
}

# ", bridge A's server" or the like if a bridge is connected to node $1, for the fault's name.
on_node() {
        local who=
        [ "$(bridge_node a)" = "$1" ] && who=A
        [ "$(bridge_node b)" = "$1" ] && who="${who:+$who and }B"
        [ -n "$who" ] && printf ", bridge %s's server" "$who"
}

# sleep $1 s, interruptible: a signal's trap runs at once, not when a foreground sleep ends.
nap() {
        sleep "$1" &
        wait "$!"
}

kill9() {
        kill -KILL "${pid[$1]}" 2>/dev/null
        wait "${pid[$1]}" 2>/dev/null
        pid[$1]=
        echo "$(now_us) kill -9 $1" >>"$tmp/events.txt"
}

nap 3 # a baseline under load
[ "$(last_sent)" -gt 0 ] || die "the sender sent nothing"
[ "$(recv_low)" -gt 1 ] || die "the receiver received nothing in 3 s"

# 1. kill -9 the stream leader; it comes back 2 s after a new leader is elected
leader=$(stream_leader)
[ -n "$leader" ] || die "no stream leader"
phase_begin "kill -9 the stream leader ($leader$(on_node "$leader"))"
kill9 "$leader"
fault_over "$leader"
nap 2
phase_end

# 2. SIGSTOP the leader for 10 s (longer than an election: 4-9 s in 2.9), then SIGCONT
wait_whole 30 || die "the cluster is not whole"
leader=$(stream_leader)
phase_begin "SIGSTOP the stream leader ($leader$(on_node "$leader")) 10 s, then SIGCONT"
kill -STOP "${pid[$leader]}"
stopped=$leader
echo "$(now_us) SIGSTOP $leader" >>"$tmp/events.txt"
nap 10
kill -CONT "${pid[$leader]}"
stopped=
echo "$(now_us) SIGCONT $leader" >>"$tmp/events.txt"
fault_over
phase_end

# 3. kill -9 a follower, one no bridge is connected to if there is one; back after 3 s
wait_whole 30 || die "the cluster is not whole"
leader=$(stream_leader)
follower=
for n in n1 n2 n3; do
        [ "$n" != "$leader" ] && [ "$n" != "$(bridge_node a)" ] && [ "$n" != "$(bridge_node b)" ] && follower=$n
done
[ -n "$follower" ] || for n in n1 n2 n3; do [ "$n" != "$leader" ] && follower=$n && break; done
phase_begin "kill -9 a follower ($follower$(on_node "$follower"))"
kill9 "$follower"
fault_over
nap 3
phase_end

# 4. kill -9 the server each bridge is connected to (one fault per server); back after 2 s
na=$(bridge_node a)
nb=$(bridge_node b)
for n in $(printf '%s\n' "$na" "$nb" | sort -u); do
        [ -n "$n" ] || continue
        who=
        [ "$n" = "$na" ] && who="A"
        [ "$n" = "$nb" ] && who="${who:+$who and }B"
        phase_begin "kill -9 the server of bridge $who ($n)"
        kill9 "$n"
        fault_over "$n"
        nap 2
        phase_end
done

# 5. rolling restart: each node in turn SIGTERM, start again, wait until the cluster is whole
phase_begin "rolling restart n1, n2, n3"
for n in n1 n2 n3; do
        stop_proc "$n" TERM
        echo "$(now_us) stopped $n (SIGTERM)" >>"$tmp/events.txt"
        node_start "$n"
        wait_whole 30 "$n" || ph_note[nphases]+=" $n-not-whole-after-30s"
done
fault_over
phase_end

# 6. two servers down at once (the leader and a follower): no quorum for 5 s, then both back
wait_whole 30 || die "the cluster is not whole"
leader=$(stream_leader)
for n in n1 n2 n3; do [ "$n" != "$leader" ] && follower=$n && break; done
phase_begin "kill -9 two servers ($leader$(on_node "$leader"), $follower$(on_node "$follower")): no quorum 5 s"
kill9 "$leader"
kill9 "$follower"
nap 5
node_start "$leader"
node_start "$follower"
fault_over
phase_end

# ---- the verdict --------------------------------------------------------------------------------

nap 1
stop_proc sender TERM
drain 30 || say "final drain: B still misses messages after 30 s"
stop_proc receiver TERM
echo "$(now_us) traffic stopped" >>"$tmp/events.txt"

phases=$tmp/phases.txt
: >"$phases"
for ((i = 1; i <= nphases; i++)); do
        echo "$i ${ph_t0[i]} ${ph_fs[i]} ${ph_fe[i]} ${ph_t1[i]}" >>"$phases"
done

# Per phase i (window [t0_i, t0_{i+1}), the last one open; messages before phase 1 belong to a
# phase 0): lost = sent in the window, never received; dups = receipts in the window of a message
# received before; stall = longest gap between first receipts (a duplicate is no progress) within [fault start, drained]; resume =
# first receipt of a message sent after the fault's end, minus that end; blocked = longest gap
# between two sends within [fault start, drained].
report=$(awk -v np="$nphases" '
        FILENAME == ARGV[1] { t0[$1] = $2; fs[$1] = $3; fe[$1] = $4; t1[$1] = $5; next }
        FILENAME == ARGV[2] { sent_t[$1] = $2; sent_n++; sends[sent_n] = $2; next }
        { recv_n++; rseq[recv_n] = $1; rt[recv_n] = $2 }
        function phase_of(t,   i) { for (i = np; i >= 1; i--) if (t >= t0[i]) return i; return 0 }
        function longest_gap(times, n, a, b,   i, prev, g, best, lo, hi) {
                best = 0; prev = a
                for (i = 1; i <= n; i++) {
                        if (times[i] < a) continue
                        if (times[i] > b) break
                        g = times[i] - prev; if (g > best) best = g; prev = times[i]
                }
                if (b - prev > best) best = b - prev
                return best
        }
        END {
                for (i = 1; i <= recv_n; i++) {
                        s = rseq[i]
                        if (s in seen) dups[phase_of(rt[i])]++
                        else first[i] = 1
                        seen[s] = 1
                        recvd[s] = 1
                }
                for (s in sent_t) if (!(s in recvd)) lost[phase_of(sent_t[s])]++
                for (i = 1; i <= recv_n; i++) if (first[i]) rtimes[++rtimes_n] = rt[i]
                for (p = 1; p <= np; p++) {
                        resume = -1
                        for (i = 1; i <= recv_n; i++) {
                                s = rseq[i]
                                if ((s in sent_t) && sent_t[s] >= fe[p]) { resume = rt[i] - fe[p]; break }
                        }
                        printf "%d %d %d %.2f %s %.2f %.2f\n", p, lost[p] + 0, dups[p] + 0,
                               longest_gap(rtimes, rtimes_n, fs[p], t1[p]) / 1e6,
                               resume < 0 ? "never" : sprintf("%.2f", resume / 1e6),
                               longest_gap(sends, sent_n, fs[p], t1[p]) / 1e6, (fe[p] - fs[p]) / 1e6
                }
                printf "0 %d %d\n", lost[0] + 0, dups[0] + 0
                printf "total %d %d %d\n", sent_n, recv_n, length(recvd)
        }' "$phases" "$tmp/sent.txt" "$tmp/received.txt")

read -r _ sent_total recv_total recv_distinct <<<"$(echo "$report" | grep '^total ')"
echo
echo "sent (send() returned 0) $sent_total, received $recv_total ($recv_distinct distinct) at $rate msgs/s"
passed=0 failed=0
while read -r p lost dups stall resume blocked dur; do
        [ "$p" = total ] && continue
        if [ "$p" = 0 ]; then
                [ "$lost" = 0 ] && [ "$dups" = 0 ] && continue
                echo "before the first fault: lost $lost, duplicates $dups"
                continue
        fi
        verdict=PASS
        if [ "$lost" != 0 ] || [ -n "${ph_note[p]}" ]; then verdict=FAIL; fi
        printf 'fault %d %s: lost %d, duplicates %d, longest stall %s s, resume %s s after the fault (fault %s s), sender blocked %s s%s: %s\n' \
                "$p" "${ph_name[p]}" "$lost" "$dups" "$stall" "$resume" "$dur" "$blocked" \
                "${ph_note[p]:+ [${ph_note[p]# }]}" "$verdict"
        if [ "$verdict" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done <<<"$report"
for b in a b; do
        echo "bridge ${b^^} status: $(bridge_status "$b" published)$(bridge_status "$b" fetched) published/fetched," \
                "retried $(bridge_status "$b" retried), duplicates $(bridge_status "$b" duplicates)," \
                "redelivered $(bridge_status "$b" redelivered), reconnects $(bridge_status "$b" reconnects)"
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
