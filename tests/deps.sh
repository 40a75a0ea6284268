#!/bin/bash
# SPDX-License-Identifier: MIT
# deps.sh — install the Debian packages shmbox needs, if any is missing. Sourced by
# tests/check.sh and .ci/run (everything) and examples/demo.sh (the build set only); needs root
# (or sudo) only when installing.

# shmbox_install_deps [build|all] — build: what configure and make need (the demo uses nothing
# else); all (the default): also what the test suites, fuzzing, the bridge and the benchmark's
# iceoryx, Boost (header-only, with a C++ compiler) and ZeroMQ rows and its rpc group's private
# D-Bus (dbus-daemon) use.
shmbox_install_deps() {
        local build=(autoconf automake libtool pkg-config make gcc libevent-dev check libjson-c-dev
                     libacl1-dev libinih-dev libsystemd-dev systemtap-sdt-dev)
        local tests=(procps strace tmux bpftrace binutils
                     valgrind clang-14 libclang-rt-14-dev
                     libnats-dev nats-server
                     iceoryx libiceoryx-binding-c-dev
                     g++ libboost-dev libzmq3-dev dbus-daemon
                     python3-dev python3-pytest python3-setuptools python3-zmq
                     python3-pip python3-venv python3-wheel
                     prometheus)
        local pkgs=("${build[@]}") missing=() p
        [ "${1:-all}" = build ] || pkgs+=("${tests[@]}")
        for p in "${pkgs[@]}"; do
                [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
        done
        [ ${#missing[@]} -eq 0 ] && return 0
        echo "== installing missing packages: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# shmbox_fetch_nspawn — systemd-nspawn for tests/systemd/run.sh, without installing it:
# `apt-get install systemd-container` would upgrade the host's systemd packages, so the two
# .debs of the installed systemd version are downloaded and unpacked (dpkg-deb -x) into
# $SHMBOX_NSPAWN_DIR (default /var/cache/shmbox-test/nspawn), where the test finds them.
# Needs root; does nothing if systemd-nspawn is installed or unpacked already.
shmbox_fetch_nspawn() {
        local dir=${SHMBOX_NSPAWN_DIR:-/var/cache/shmbox-test/nspawn} ver deb
        command -v systemd-nspawn >/dev/null && return 0
        [ -x "$dir/usr/bin/systemd-nspawn" ] && return 0
        [ "$(id -u)" -eq 0 ] || return 1
        ver=$(dpkg-query -W -f='${Version}' systemd 2>/dev/null) || return 1
        echo "== fetching systemd-nspawn $ver into $dir (not installed)"
        mkdir -p "$dir/debs" || return 1
        (
                cd "$dir/debs" || exit 1
                apt-get download -qq "systemd-container=$ver" "libsystemd-shared=$ver" >/dev/null 2>&1 ||
                        { apt-get update -qq && apt-get download -qq "systemd-container=$ver" "libsystemd-shared=$ver" >/dev/null; }
        ) || return 1
        for deb in "$dir"/debs/*.deb; do
                dpkg-deb -x "$deb" "$dir" || return 1
        done
        rm -rf "$dir/debs"
        [ -x "$dir/usr/bin/systemd-nspawn" ]
}

# shmbox_install_package_deps — what tests/test-packages.sh (tests/check.sh --packages) needs
# besides the build dependencies: the Debian packaging tools (dh-python and python3-all-dev for
# python3-shmbox), lintian, debootstrap (and bc). Only that
# part installs them, so the plain test command does not. debian/control's Build-Depends are
# installed by the test itself (apt-get build-dep on the unpacked tarball).
shmbox_install_package_deps() {
        local pkgs=(build-essential debhelper dpkg-dev dh-python python3-all-dev lintian debootstrap xz-utils bc)
        local missing=() p
        for p in "${pkgs[@]}"; do
                [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
        done
        [ ${#missing[@]} -eq 0 ] && return 0
        echo "== installing missing packages: ${missing[*]}"
        [ "$(id -u)" -eq 0 ] || return 1
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}
