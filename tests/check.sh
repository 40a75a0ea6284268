#!/bin/bash
# check.sh — the one command that tests shmbox on a fresh Debian 12 machine: installs missing
# build dependencies, builds in build-check/ with warnings as errors and the crash points
# compiled in, runs every suite (make -j2 check), prints each suite's Check summary and a
# closing "N passed, N failed" line. With --distcheck it also runs make distcheck.
set -uo pipefail
cd "$(dirname "$0")/.."
. tests/deps.sh
shmbox_install_deps || { echo "cannot install the build dependencies"; exit 1; }

set -e
echo "== building"
autoreconf -fi >/dev/null
mkdir -p build-check
cd build-check
[ -f Makefile ] || ../configure -q --enable-crash-points --enable-werror
make -s -j"$(nproc)" >/dev/null
set +e

echo "== running the suites"
make -j2 check >make-check.out 2>&1
rc=$?
grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' make-check.out

echo "== Check summaries"
passed=0 failed=0 skipped=0
for log in tests/test-*.log; do
        suite=$(basename "$log" .log)
        line=$(grep -E '^[0-9]+%: Checks: ' "$log" | tail -n 1)
        if [ -n "$line" ]; then
                echo "$suite: $line"
                n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
                f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
                e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
                passed=$((passed + n - f - e))
                failed=$((failed + f + e))
        elif grep -q '^SKIP' "$log"; then
                echo "$suite: $(grep -m1 '^SKIP' "$log")"
                skipped=$((skipped + 1))
        else
                echo "$suite: no Check summary (crashed?)"
                failed=$((failed + 1))
        fi
done
if [ $rc -ne 0 ]; then
        for log in $(grep -lE '^(FAIL|ERROR)' tests/*.trs 2>/dev/null | sed 's/\.trs$/.log/'); do
                echo "== $log"
                tail -n 60 "$log"
        done
fi

if [ $rc -eq 0 ] && [ "${1:-}" = "--distcheck" ]; then
        echo "== make distcheck"
        make -s distcheck >make-distcheck.out 2>&1 || { rc=$?; tail -n 60 make-distcheck.out; }
        [ $rc -eq 0 ] && echo "distcheck: passed"
fi
[ $rc -ne 0 ] && [ $failed -eq 0 ] && failed=1
echo "$passed passed, $failed failed, $skipped skipped"
exit $rc
