#!/bin/sh
# SPDX-License-Identifier: MIT
# test-manpages.sh — every public function of libshmbox (client/libshmbox.sym) is named and
# declared in shmbox(3) and has its alias page doc/so/NAME.3 (`.so man3/shmbox.3`) in
# Makefile.am's man list, so `man 3 NAME` works once installed; shmbox(3) has RETURN VALUE and
# ERRORS, shmbox-bridge(1) EXIT STATUS. With man(1) at hand, `man 3 NAME` is tried for real
# on a temporary man tree.
src=${SHMBOX_SRCDIR:-$(dirname "$0")/..}
fail=0
bad() { echo "FAIL: $*"; fail=1; }

syms=$(sed -n 's/^ *\(shmbox_[a-z_]*\);$/\1/p' "$src/client/libshmbox.sym")
[ -n "$syms" ] || bad "no symbols in client/libshmbox.sym"
name=$(sed -n '/^\.SH NAME/,/^\.SH/p' "$src/doc/shmbox.3")
synopsis=$(sed -n '/^\.SH SYNOPSIS/,/^\.SH/p' "$src/doc/shmbox.3")
description=$(sed -n '/^\.SH DESCRIPTION/,/^\.SH RETURN VALUE/p' "$src/doc/shmbox.3")
for s in $syms; do
        printf '%s\n' "$name" | grep -qw "$s" || bad "shmbox(3) NAME does not list $s"
        printf '%s\n' "$synopsis" | grep -q "$s(" || bad "shmbox(3) SYNOPSIS does not declare $s"
        printf '%s\n' "$description" | grep -Eq "^\.BR (.*[\" ])?$s \"?\(\)" ||
                bad "shmbox(3) DESCRIPTION has no entry for $s"
        grep -qx '\.so man3/shmbox\.3' "$src/doc/so/$s.3" 2>/dev/null || bad "doc/so/$s.3 is not '.so man3/shmbox.3'"
        grep -q "doc/so/$s\.3" "$src/Makefile.am" || bad "Makefile.am does not install doc/so/$s.3"
done
for sec in "RETURN VALUE" ERRORS; do
        grep -q "^\.SH $sec\$" "$src/doc/shmbox.3" || bad "shmbox(3) has no $sec"
done
grep -q '^\.SH EXIT STATUS$' "$src/doc/shmbox-bridge.1" || bad "shmbox-bridge(1) has no EXIT STATUS"

if command -v man >/dev/null 2>&1; then
        tmp=$(mktemp -d) || exit 1
        mkdir -p "$tmp/man3"
        cp "$src/doc/shmbox.3" "$src"/doc/so/*.3 "$tmp/man3/"
        for s in shmbox_send shmbox_last_error shmbox_recv_many; do
                MANWIDTH=100 man -M "$tmp" 3 "$s" 2>/dev/null | grep -q "RETURN VALUE" ||
                        bad "man 3 $s does not show shmbox(3)"
        done
        rm -rf "$tmp"
fi
[ $fail -eq 0 ] && echo "PASS: man pages of $(echo $syms | wc -w) functions"
exit $fail
