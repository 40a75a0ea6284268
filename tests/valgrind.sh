#!/bin/sh
# SPDX-License-Identifier: MIT
# valgrind.sh — runs one test program under valgrind memcheck: any memory error or leak fails it.
# Usage (from a build directory): tests/valgrind.sh tests/test-ring [ARGS...]
# `make check-valgrind` uses it as the LOG_COMPILER of the in-process suites. Check's fork mode
# is kept: valgrind follows each forked test, and a child with an error exits with status 99,
# which Check reports as a failed test. Check's timeouts are stretched for valgrind's pace.
prog=$1
shift
if ! command -v valgrind >/dev/null 2>&1; then
        echo "valgrind.sh: valgrind is not installed (Debian: valgrind; tests/deps.sh installs it)" >&2
        exit 99
fi
# a libtool wrapper script is run as libtool would, so valgrind sees the real program
libtool=${LIBTOOL:-}
if [ -z "$libtool" ] && [ -x ./libtool ]; then
        libtool="./libtool"
fi
run=""
if [ -n "$libtool" ]; then
        run="$libtool --mode=execute"
fi
CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-10}
SHMBOX_TEST_TIMEOUT_SCALE=${SHMBOX_TEST_TIMEOUT_SCALE:-10}
export CK_TIMEOUT_MULTIPLIER SHMBOX_TEST_TIMEOUT_SCALE
$run valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
        --errors-for-leak-kinds=definite,indirect,possible --track-fds=no \
        "$prog" "$@"
rc=$?
if [ $rc -eq 0 ]; then
        echo "valgrind: $(basename "$prog"): no errors, no leaks"
else
        echo "valgrind: $(basename "$prog"): exit status $rc (99: valgrind found errors or leaks above)"
fi
exit $rc
