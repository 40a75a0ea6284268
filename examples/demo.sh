#!/bin/bash
# SPDX-License-Identifier: MIT
# demo.sh — the one command that shows shmbox on a fresh Debian 12 machine: installs missing
# build dependencies (only those: tests/deps.sh's build set), builds in build-demo/ (or in the
# source tree itself when someone configured it there, as README's "Building by hand" does:
# a VPATH build next to an in-tree one is refused by configure), starts a private shmboxd in a temporary directory,
# walks one message from a sender process to a receiver process step by step (shmboxctl
# walkthrough), measures the memory hierarchy (walkthrough --hierarchy, with its own temporary
# daemon, chart in build-demo/hierarchy.svg), has two separate processes exchange messages
# through a mailbox, and cleans everything up.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/deps.sh
shmbox_install_deps build

if [ -f config.status ]; then
        echo "== building in the source tree (configured there already)"
        make -s -j"$(nproc)" >/dev/null
else
        echo "== building (build-demo/)"
        autoreconf -fi >/dev/null
        mkdir -p build-demo
        cd build-demo
        [ -f Makefile ] || ../configure -q
        make -s -j"$(nproc)" >/dev/null
fi

tmp=$(mktemp -d)
prefix="shmboxdemo$$"
sock="$tmp/shmboxd.sock"
ctl() { ./shmboxctl --socket "$sock" "$@"; }
cleanup() {
        [ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT

echo "== starting shmboxd: socket $sock, prefix $prefix"
./shmboxd --socket "$sock" --prefix "$prefix" --state-dir "$tmp/state" 2>"$tmp/shmboxd.log" &
daemon=$!
for _ in $(seq 100); do ctl list >/dev/null 2>&1 && break; sleep 0.05; done

echo "== the walkthrough: one message from a sender process to a receiver process, step by step"
ctl walkthrough

echo "== the memory hierarchy: messages through rings of growing size, next to this machine's caches"
# its own temporary daemon (it raises the size limits), this build's shmboxd, our prefix
SHMBOXD="$PWD/shmboxd" ./shmboxctl walkthrough --hierarchy --prefix "${prefix}h" --plot hierarchy.svg
echo "chart: $PWD/hierarchy.svg"

echo "== control plane: create a mailbox of 8 slots x 256 bytes"
ctl create orders --slots 8 --slot-size 256
echo "\$ ls -l /dev/shm | grep $prefix"
ls -l /dev/shm | grep "$prefix" || true

echo "== data plane: a receiver process waits, a sender process sends 5 messages"
./examples/receiver --socket "$sock" orders 5 5000 > "$tmp/received" &
receiver=$!
./examples/sender --socket "$sock" orders 5
wait $receiver
sed 's/^/receiver got: /' "$tmp/received"

echo "== the daemon's view"
ctl info orders

echo "== shmboxctl moves messages too (one per line of stdin)"
printf 'hello\nworld\n' | ctl send orders
ctl recv orders --count 2

echo "== destroy; nothing of the mailbox is left in /dev/shm"
ctl destroy orders
kill "$daemon"; wait "$daemon" || true; daemon=""
left=$(ls /dev/shm | grep -c "$prefix" || true)
echo "objects of $prefix left in /dev/shm: $left"
echo "== daemon log"
cat "$tmp/shmboxd.log"
[ "$left" -eq 0 ]
