#!/bin/sh
# SPDX-License-Identifier: MIT
# test-python.sh — the Python binding's pytest suite (python/tests/) against this build's
# extension, libshmbox and shmboxd, with Debian's python3 (configure's PYTHON). Run by make
# check through tests/run-suite.sh (which sets SHMBOXD and the object prefix); prints pytest's
# summary, then Check's summary line for tests/check.sh and "N passed, N failed".
# Skips (77), saying why, when the binding was not built (no python3-dev) or pytest is missing.
# In a sanitizer build the ASan-built extension needs the runtime loaded first: python3 runs
# with libasan (and libubsan) in LD_PRELOAD and without leak checks (the interpreter's own
# allocations at exit are not ours; tests/test_process.py checks our memory instead).
set -u
py=${PYTHON:-/usr/bin/python3}
skip() {
        echo "SKIP: $*"
        echo "SKIP: $*" >&2
        exit 77
}
[ "${SHMBOX_PYTHON_BUILT:-no}" = yes ] ||
        skip "python binding: NOT built: configure found no Python headers for $py (Debian: python3-dev)"
"$py" -c 'import pytest' 2>/dev/null ||
        skip "python binding: pytest is missing for $py (Debian: python3-pytest)"

PYTHONPATH=${SHMBOX_PYTHON_DIR:?SHMBOX_PYTHON_DIR is not set (run through make check)}
PYTHONDONTWRITEBYTECODE=1 # nothing into the source tree (its tests' __pycache__)
export PYTHONPATH PYTHONDONTWRITEBYTECODE
if [ "${SHMBOX_SANITIZERS:-no}" = yes ]; then
        asan=$(${CC:-cc} -print-file-name=libasan.so)
        ubsan=$(${CC:-cc} -print-file-name=libubsan.so)
        [ -f "$asan" ] || skip "python binding: sanitizer build, but no libasan.so to preload into $py"
        LD_PRELOAD="$asan${ubsan:+ $ubsan}"
        SHMBOX_DAEMON_ASAN_OPTIONS=${ASAN_OPTIONS:-}
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
        export LD_PRELOAD SHMBOX_DAEMON_ASAN_OPTIONS ASAN_OPTIONS
fi

out=$(mktemp "${TMPDIR:-/tmp}/shmboxpy.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT
# -p no:cacheprovider: no .pytest_cache in the source tree; -rs: say why a test skipped; -W error:
# a warning (an unclosed file or pipe, a thread that raised, a deprecation) fails its test
"$py" -m pytest -q -p no:cacheprovider -rs -W error --color=no "$SHMBOX_PYTHON_TESTS" >"$out" 2>&1
rc=$?
cat "$out"

# pytest's last line: "N passed, M failed, K skipped, E errors in T s" (any of them)
last=$(grep -E '^=*.*[0-9]+ (passed|failed|error|errors|skipped)' "$out" | tail -n 1)
count() { printf '%s\n' "$last" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0; }
passed=$(count passed)
failed=$(count failed)
errors=$(($(count error) + $(count errors)))
[ "$rc" -ne 0 ] && [ $((failed + errors)) -eq 0 ] && errors=1 # pytest itself failed
total=$((passed + failed + errors))
pct=0
[ $total -gt 0 ] && pct=$((100 * passed / total))
echo "$pct%: Checks: $total, Failures: $failed, Errors: $errors"
echo "$passed passed, $((failed + errors)) failed"
[ "$rc" -eq 0 ]
