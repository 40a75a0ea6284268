#!/bin/sh
# SPDX-License-Identifier: MIT
# run-suite.sh — automake LOG_COMPILER for the Check suites: gives each suite a unique object
# prefix stem, runs it, then fails it if it left objects in /dev/shm or processes behind.
# (tests/check.sh prints every suite's Check summary from the .log files at the end.)
suite=$(basename "$1")
stem="shmboxt$(printf '%s' "$suite" | tr -cd 'a-z' | cut -c5-8)$$"
SHMBOX_TEST_PREFIX=$stem
export SHMBOX_TEST_PREFIX
"$@"
rc=$?
left=$(ls /dev/shm 2>/dev/null | grep -e "^$stem" -e "^sem\.$stem")
if [ -n "$left" ]; then
        echo "FAIL: $suite left objects in /dev/shm:" $left
        for f in $left; do rm -f "/dev/shm/$f"; done
        [ $rc -eq 0 ] && rc=1
fi
procs=$(pgrep -f -- "--prefix $stem" 2>/dev/null)
if [ -n "$procs" ]; then
        echo "FAIL: $suite left processes running:" $procs
        kill -9 $procs 2>/dev/null
        [ $rc -eq 0 ] && rc=1
fi
exit $rc
