#!/bin/bash
# deps.sh — install the Debian packages shmbox needs to build and test, if any is missing.
# Sourced by tests/check.sh and examples/demo.sh; needs root (or sudo) only when installing.
shmbox_install_deps() {
        local pkgs=(autoconf automake libtool pkg-config make gcc libevent-dev check libjson-c-dev
                    libacl1-dev libinih-dev procps strace)
        local missing=() p
        for p in "${pkgs[@]}"; do
                dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
        done
        [ ${#missing[@]} -eq 0 ] && return 0
        echo "== installing missing packages: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}
