#!/bin/bash
# SPDX-License-Identifier: MIT
# check.sh — the one command that tests shmbox on a fresh Debian 12 machine: installs missing
# build dependencies, builds in build-check/ with warnings as errors and the crash points
# compiled in, runs every suite (make -j2 check), prints each suite's Check summary and a
# closing "N passed, N failed" line. Options add runs, in this order (the closing line sums
# them all):
#   --distcheck   make distcheck
#   --sanitizers  the whole suite again, built with ASan and UBSan in build-asan/
#                 (configure --enable-sanitizers); any sanitizer report fails the run
#   --valgrind    the in-process suites under valgrind memcheck (make check-valgrind)
#   --fuzz        each libFuzzer target for FUZZ_SECONDS (default 60) seconds (make fuzz)
#   --packages    the Debian packages: built, lintian-clean, installed and purged in a booted
#                 Debian 12 container (tests/test-packages.sh; root, slow, installs debhelper)
set -uo pipefail
cd "$(dirname "$0")/.."
. tests/deps.sh
shmbox_install_deps || { echo "cannot install the build dependencies"; exit 1; }

opt_distcheck=no opt_sanitizers=no opt_valgrind=no opt_fuzz=no opt_packages=no
for arg in "$@"; do
        case "$arg" in
        --distcheck) opt_distcheck=yes ;;
        --sanitizers) opt_sanitizers=yes ;;
        --valgrind) opt_valgrind=yes ;;
        --fuzz) opt_fuzz=yes ;;
        --packages) opt_packages=yes ;;
        *) echo "usage: $0 [--distcheck] [--sanitizers] [--valgrind] [--fuzz] [--packages]" >&2; exit 2 ;;
        esac
done

top=$PWD
rc=0
passed=0 failed=0 skipped=0
part_start=0
timings=()

part_begin() {
        part_start=$SECONDS
}

part_end() {
        timings+=("$1: $((SECONDS - part_start)) s")
        echo "-- $1 took $((SECONDS - part_start)) s"
}

# Print each suite's Check summary from the .log files under tests/ of the current build
# directory that are newer than the marker file (the suites of the run that just ended), and
# add them up. A suite whose harness result is FAIL although Check counted no
# failure (valgrind's errors outside a test, a leak at exit, objects left behind) counts once.
summarize() {
        local marker=$1 log suite line n f e trs

        for log in $(find tests -name '*.log' -newer "$marker" -not -path 'tests/fuzz/*' | sort); do
                suite=${log#tests/}
                suite=${suite%.log}
                trs=${log%.log}.trs
                line=$(grep -E '^[0-9]+%: Checks: ' "$log" | tail -n 1)
                if [ -n "$line" ]; then
                        echo "$suite: $line"
                        # a case that skipped itself says why on a SKIP line: show it here
                        grep -E '^(\*+ )?SKIP' "$log" | sort -u | sed "s|^|$suite: |"
                        n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
                        f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
                        e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
                        passed=$((passed + n - f - e))
                        failed=$((failed + f + e))
                        if [ $((f + e)) -eq 0 ] && grep -qE '^:test-result: (FAIL|ERROR)' "$trs" 2>/dev/null; then
                                echo "$suite: failed outside its Check tests (see $log)"
                                failed=$((failed + 1))
                        fi
                elif grep -q '^SKIP' "$log" || grep -qE '^:test-result: SKIP' "$trs" 2>/dev/null; then
                        echo "$suite: $(grep -m1 '^SKIP' "$log" || echo skipped)"
                        skipped=$((skipped + 1))
                elif grep -qE '^:test-result: PASS' "$trs" 2>/dev/null; then
                        echo "$suite: passed (no Check summary: a script)"
                        passed=$((passed + 1))
                else
                        echo "$suite: no Check summary (crashed?)"
                        failed=$((failed + 1))
                fi
        done
}

# Show the end of the log of every suite of the run that failed (.trs newer than the marker).
show_failures() {
        local marker=$1 log
        for log in $(find tests -name '*.trs' -newer "$marker" -exec grep -lE '^:test-result: (FAIL|ERROR)' {} + |
                     sed 's/\.trs$/.log/'); do
                echo "== $log: its failures, then its end"
                grep -nE '(^|[] ])FAIL: |:[EF]:' "$log" | head -n 40
                tail -n 60 "$log"
        done
}

# Run COMMAND (a make that runs suites) in the current build directory with its output in OUT,
# then print and add up the Check summaries of the suites it ran. Returns its status.
run_suites() {
        local out=$1 marker status
        shift
        marker=$(mktemp)
        "$@" >"$out" 2>&1
        status=$?
        grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' "$out"
        echo "== Check summaries"
        summarize "$marker"
        if [ $status -ne 0 ]; then
                show_failures "$marker"
                grep -qE '^(PASS|FAIL|ERROR|SKIP):' "$out" || tail -n 40 "$out"
        fi
        rm -f "$marker"
        return $status
}

set -e
echo "== building"
part_begin
autoreconf -fi >/dev/null
mkdir -p build-check
cd build-check
[ -f Makefile ] || ../configure -q --enable-crash-points --enable-werror
make -s -j"$(nproc)" >/dev/null
set +e
part_end "build"

# A part that failed without a counted failure (a build error, a crash) counts one.
part_failed() {
        [ $failed -eq "$1" ] && failed=$((failed + 1))
        rc=1
}

echo "== running the suites"
part_begin
before=$failed
run_suites make-check.out make -j2 check || part_failed $before
part_end "make check"

if [ $rc -eq 0 ] && [ $opt_distcheck = yes ]; then
        echo "== make distcheck"
        part_begin
        if make -s distcheck >make-distcheck.out 2>&1; then
                echo "distcheck: passed"
        else
                rc=1
                failed=$((failed + 1))
                tail -n 60 make-distcheck.out
                # a failed distcheck leaves its tree: show the log of each suite that failed
                for log in $(find shmbox-*/_build -name '*.trs' \
                             -exec grep -lE '^:test-result: (FAIL|ERROR)' {} + 2>/dev/null |
                             sed 's/\.trs$/.log/'); do
                        echo "== $log: its failures, then its end"
                        grep -nE '(^|[] ])FAIL: |:[EF]:' "$log" | head -n 40
                        tail -n 100 "$log"
                done
                echo "distcheck: failed"
        fi
        part_end "make distcheck"
fi

if [ $opt_sanitizers = yes ]; then
        echo "== the whole suite with ASan and UBSan (build-asan/)"
        part_begin
        cd "$top"
        mkdir -p build-asan
        cd build-asan
        rm -rf sanitizer-reports
        # no -Werror here: the sanitizers change what gcc can prove, and warnings are the
        # main build's job
        if { [ -f Makefile ] || ../configure -q --enable-crash-points --enable-sanitizers; } &&
           make -s -j"$(nproc)" >make-build.out 2>&1; then
                before=$failed
                # the sanitized daemons and suites are slower: give their deadlines room
                run_suites make-check.out env \
                        SHMBOX_CLUSTER_SKIP="not in the ASan pass (the plain and distcheck passes run it; tests/test-bridge runs the bridges under ASan)" \
                        SHMBOX_TEST_TIMEOUT_SCALE="${SHMBOX_TEST_TIMEOUT_SCALE:-2}" \
                        CK_TIMEOUT_MULTIPLIER="${CK_TIMEOUT_MULTIPLIER:-2}" make -j2 check ||
                        part_failed $before
                # ASan warns once per process that uses swapcontext, whatever it finds:
                # test-explore's fibers do, and announce every switch to it
                # (tests/explore/scheduler.c); a file that holds that warning alone is no finding
                for r in $(ls sanitizer-reports 2>/dev/null); do
                        if ! grep -qv "WARNING: ASan doesn't fully support makecontext/swapcontext" "sanitizer-reports/$r"; then
                                echo "== not a finding: build-asan/sanitizer-reports/$r holds only ASan's swapcontext warning"
                                rm -f "sanitizer-reports/$r"
                        fi
                done
                reports=$(ls sanitizer-reports 2>/dev/null)
                for r in $reports; do
                        echo "== sanitizer report build-asan/sanitizer-reports/$r"
                        head -n 60 "sanitizer-reports/$r"
                        failed=$((failed + 1))
                        rc=1
                done
                echo "sanitizer reports: $(wc -w <<<"$reports")"
        else
                tail -n 40 make-build.out 2>/dev/null
                echo "sanitizer build: failed"
                failed=$((failed + 1))
                rc=1
        fi
        part_end "sanitizers (build and make check)"
        cd "$top/build-check"
fi

if [ $opt_valgrind = yes ]; then
        echo "== the in-process suites under valgrind memcheck"
        part_begin
        before=$failed
        run_suites make-valgrind.out make -j2 check-valgrind || part_failed $before
        part_end "valgrind"
fi

if [ $opt_fuzz = yes ]; then
        echo "== fuzzing, ${FUZZ_SECONDS:-60} s per target"
        part_begin
        make -j2 fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-60}" >make-fuzz.out 2>&1
        status=$?
        grep -vE '^(make|  GEN)' make-fuzz.out
        n=$(grep -cE '^fuzz-[a-z]+: PASS' make-fuzz.out)
        f=$(grep -cE '^fuzz-[a-z]+: FAIL' make-fuzz.out)
        passed=$((passed + n))
        failed=$((failed + f))
        if [ $status -ne 0 ]; then
                rc=1
                [ "$f" -eq 0 ] && failed=$((failed + 1))
        fi
        part_end "fuzzing"
fi

if [ $opt_packages = yes ]; then
        echo "== the Debian packages (tests/test-packages.sh)"
        part_begin
        cd "$top"
        tests/test-packages.sh 2>&1 | tee build-check/test-packages.out
        status=${PIPESTATUS[0]}
        line=$(grep -E '^[0-9]+%: Checks: ' build-check/test-packages.out | tail -n 1)
        if [ $status -eq 77 ]; then
                echo "packages: $(grep -m1 '^SKIP' build-check/test-packages.out)"
                skipped=$((skipped + 1))
        elif [ -n "$line" ]; then
                echo "packages: $line"
                n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
                f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
                passed=$((passed + n - f))
                failed=$((failed + f))
                [ $status -ne 0 ] && { rc=1; [ "$f" -eq 0 ] && failed=$((failed + 1)); }
        else
                echo "packages: no summary (exit status $status)"
                failed=$((failed + 1))
                rc=1
        fi
        cd "$top/build-check"
        part_end "packages"
fi

echo "== time per part"
printf '%s\n' "${timings[@]}"
[ $rc -ne 0 ] && [ $failed -eq 0 ] && failed=1
echo "$passed passed, $failed failed, $skipped skipped"
exit $rc
