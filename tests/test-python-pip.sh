#!/bin/sh
# SPDX-License-Identifier: MIT
# test-python-pip.sh — `pip install ./python` as a user does it, offline: this build's library,
# header and shmbox.pc installed into a temporary DESTDIR (make install-libLTLIBRARIES
# install-includeHEADERS install-pkgconfigDATA), PKG_CONFIG_PATH and PKG_CONFIG_SYSROOT_DIR
# pointing there, a venv of Debian's python3 (configure's PYTHON) with its system site (for
# setuptools and wheel: no network), `pip install --no-build-isolation --no-index` of a copy of
# python/ (pip builds in the tree it is given: nothing is written into the source tree), then
# the installed module, loading the installed libshmbox through its run path, sends and
# receives through a private daemon. Run by make check; skips (77), saying why, when the venv,
# pip, setuptools or wheel are missing (Debian: python3-venv python3-pip python3-wheel), and
# in a sanitizer build (the pip-built extension is not instrumented; the plain build runs it).
# Prints PASS/FAIL lines, Check's summary line for tests/check.sh and "N passed, N failed".
set -u
py=${PYTHON:-/usr/bin/python3}
skip() {
        echo "SKIP: $*"
        echo "SKIP: $*" >&2
        exit 77
}
[ "${SHMBOX_PYTHON_BUILT:-no}" = yes ] ||
        skip "pip install ./python: NOT tested: configure found no Python headers for $py (Debian: python3-dev)"
[ "${SHMBOX_SANITIZERS:-no}" = yes ] &&
        skip "pip install ./python: NOT tested in a sanitizer build (its libshmbox needs libasan preloaded; the plain build tests it)"
"$py" -c 'import venv, setuptools, wheel, pip' 2>/dev/null ||
        skip "pip install ./python: NOT tested: $py lacks venv, pip, setuptools or wheel (Debian: python3-venv python3-pip python3-setuptools python3-wheel)"
top=$(cd "${SHMBOX_PYTHON_DIR:?run through make check}/../.." && pwd)
src=$(cd "${SHMBOX_PYTHON_TESTS:?run through make check}/../.." && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmboxpip.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
chk() {
        m=$1
        shift
        if "$@" >"$tmp/out" 2>&1; then
                echo "PASS: $m"
                passed=$((passed + 1))
        else
                sed 's/^/  | /' "$tmp/out" | tail -n 25
                echo "FAIL: $m"
                failed=$((failed + 1))
        fi
}
summary() {
        total=$((passed + failed))
        pct=0
        [ $total -gt 0 ] && pct=$((100 * passed / total))
        echo "$pct%: Checks: $total, Failures: $failed, Errors: 0"
        echo "$passed passed, $failed failed"
        [ $failed -eq 0 ]
        exit $?
}

chk "make install of libshmbox, shmbox.h and shmbox.pc into a DESTDIR" \
        ${MAKE:-make} -C "$top" install-libLTLIBRARIES install-includeHEADERS install-pkgconfigDATA \
        DESTDIR="$tmp/root"
pc=$(find "$tmp/root" -name shmbox.pc | head -n 1)
[ -n "$pc" ] || summary
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR=$tmp/root
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
unset PYTHONPATH # the module must come from the venv, not from the build tree
chk "$py -m venv --system-site-packages --without-pip" "$py" -m venv --system-site-packages --without-pip "$tmp/venv"
cp -R "$src/python" "$tmp/python"
chk "pip install --no-build-isolation --no-index ./python (in the venv)" \
        "$tmp/venv/bin/python" -m pip install -q --no-build-isolation --no-index --no-cache-dir "$tmp/python"
cat >"$tmp/try.py" <<'EOF'
import os, sys, threading
sys.path.append(sys.argv[1])  # python/tests, for helpers.Daemon (after the venv's shmbox)
import shmbox
from helpers import Daemon

venv, root = sys.argv[2], sys.argv[3]
assert shmbox.__file__.startswith(venv), "the module is not the venv's: %s" % shmbox.__file__
d = Daemon("pip").start()
try:
    with shmbox.connect(d.socket) as client:
        client.create("pip", slots=4, slot_size=64)
        with client.attach("pip") as box:
            box.send(b"installed by pip")
            got = box.recv(timeout=5)
            # request/reply and an ephemeral mailbox (shmbox 0.3), a server thread with a client
            # of its own
            with shmbox.connect(d.socket) as sc, sc.attach("pip") as sbox:
                def serve():
                    body, info = sbox.recv_request(timeout=5)
                    sc.reply(info, body.upper())
                t = threading.Thread(target=serve)
                t.start()
                reply = box.request(b"request", timeout=5)
                t.join()
                flags = sc.info("pip").flags
        client.destroy("pip")
        client.create("pip-eph", ephemeral=True)
        eph = client.info("pip-eph")
finally:
    left = d.done()
with open("/proc/self/maps") as f:
    libs = sorted({l.split()[-1] for l in f if "libshmbox" in l})
assert got == b"installed by pip", got
assert reply == b"REQUEST", reply
assert flags == 0 and eph.flags == shmbox.INFO_EPHEMERAL and eph.owner_pid == os.getpid(), (flags, eph)
assert not left, "left in /dev/shm: %s" % left
assert libs and all(l.startswith(root) for l in libs), "libshmbox from %s, not %s" % (libs, root)
print("shmbox %s from %s, %s" % (shmbox.__version__, shmbox.__file__, libs[0]))
EOF
chk "the installed module sends and receives through the installed libshmbox" \
        "$tmp/venv/bin/python" "$tmp/try.py" "$src/python/tests" "$tmp/venv" "$tmp/root"
grep -q '^shmbox ' "$tmp/out" && sed 's/^/  /' "$tmp/out"
summary
