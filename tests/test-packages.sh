#!/bin/bash
# SPDX-License-Identifier: MIT
# test-packages.sh — the Debian packages, tested as an operator gets them: builds `make dist`'s
# tarball, builds the packages from it with `dpkg-buildpackage -us -uc -b` (a clean tree: only
# what the tarball carries), runs lintian on them, boots a Debian 12 container with systemd as
# PID 1 (systemd-nspawn, the recipe of tests/systemd/run.sh) on a minimal root made by
# debootstrap, installs the .debs there with `apt-get install ./*.deb` (apt fetches their
# dependencies from the archive) and checks what the packages promise: the socket listens with
# no manual step; users of one group share a mailbox made with --group; a restart keeps queued
# messages; a program built with pkg-config against libshmbox-dev runs; the bash completion
# works; the Python module (python3-shmbox) sends and receives through the installed library and
# daemon; `apt-get purge` leaves no unit, user, config, state or /dev/shm object behind.
#
# Run by tests/check.sh --packages (so by .ci/run), or alone as root. Needs root, the network
# to Debian's archive (build dependencies, debootstrap, the container's apt) and
# systemd-nspawn (from $PATH, else unpacked by tests/deps.sh's shmbox_fetch_nspawn into
# $SHMBOX_NSPAWN_DIR). The container root is made once and kept in
# $SHMBOX_PKGTEST_ROOT (default /var/cache/shmbox-test/pkgtest-bookworm); the container
# writes to a tmpfs above it (--volatile=overlay), so every run starts from the same root.
# Where a prerequisite cannot be had it says why and exits 77 (skipped), never passing quietly.
# Prints PASS/FAIL lines, a Check-like summary and "N passed, N failed".
set -uo pipefail
# `... | finds PATTERN`, not `... | grep -q`: grep -q leaves at the first match and, under
# pipefail, the writer's SIGPIPE (141) fails the pipeline although the line is there (a CI run
# failed so). grep -c reads to the end.
finds() { local n; n=$(grep -c "$@"); [ "${n:-0}" -gt 0 ]; }

srcdir=$(cd "$(dirname "$0")/.." && pwd)
cache=/var/cache/shmbox-test
nspawn_dir=${SHMBOX_NSPAWN_DIR:-$cache/nspawn}
root=${SHMBOX_PKGTEST_ROOT:-$cache/pkgtest-bookworm}
# what the container root holds besides minbase: systemd to boot, a compiler and pkg-config
# for the libshmbox-dev check; bump root_recipe when this changes (the cached root is remade)
root_include=systemd,systemd-sysv,gcc,libc6-dev,pkgconf
root_recipe="bookworm minbase $root_include v1"
packages=(shmboxd shmbox-tools libshmbox0 libshmbox-dev shmbox-bridge python3-shmbox)

T0=$(date +%s.%N)
t() { printf '[%6.1fs] %s\n' "$(echo "$(date +%s.%N) - $T0" | bc)" "$*"; }
passed=0 failed=0 skipped=0
ok() { t "PASS: $*"; passed=$((passed + 1)); }
ko() { t "FAIL: $*"; failed=$((failed + 1)); }
chk() { local m=$1; shift; if "$@"; then ok "$m"; else ko "$m"; fi; }
q() { "$@" >/dev/null 2>&1; }
skip() {
        echo "SKIP: tests/test-packages.sh: $* — the Debian packages were NOT tested"
        skipped=1
        exit 77
}

# ---- what this machine must offer ------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || skip "needs root (builds packages, installs build dependencies, boots a container)"
[ -r /etc/debian_version ] && command -v apt-get >/dev/null || skip "not a Debian system"
. "$srcdir/tests/deps.sh"
shmbox_install_deps >/dev/null || skip "cannot install the build dependencies (tests/deps.sh)"
shmbox_install_package_deps || skip "cannot install debhelper, dpkg-dev, lintian, debootstrap, bc"
for p in bc nsenter unshare setsid debootstrap dpkg-buildpackage lintian; do
        command -v $p >/dev/null || skip "$p is missing"
done
NSPAWN=$(command -v systemd-nspawn)
if [ -z "$NSPAWN" ]; then
        [ -x "$nspawn_dir/usr/bin/systemd-nspawn" ] || shmbox_fetch_nspawn >/dev/null 2>&1
        [ -x "$nspawn_dir/usr/bin/systemd-nspawn" ] ||
                skip "no systemd-nspawn in \$PATH or $nspawn_dir (. tests/deps.sh && shmbox_fetch_nspawn)"
        NSPAWN="env LD_LIBRARY_PATH=$nspawn_dir/usr/lib/x86_64-linux-gnu/systemd $nspawn_dir/usr/bin/systemd-nspawn"
fi
$NSPAWN --version >/dev/null 2>&1 || skip "systemd-nspawn does not run: $($NSPAWN --version 2>&1 | head -1)"
CG=shmboxt-pkg-$$
CGDIRS=$(awk -v cg=$CG '$3=="cgroup2" || ($3=="cgroup" && $4 ~ /name=systemd/) {print $2 "/" cg}' /proc/mounts)
[ -n "$CGDIRS" ] || skip "no cgroup2 or name=systemd hierarchy to give the container a cgroup"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmboxpkg.XXXXXX") || exit 1
LPID= L=
run_before=$(ls /run/systemd 2>/dev/null | grep -e nspawn -e units-load)
cleanup() {
        if [ -n "$LPID" ] && kill -0 "$LPID" 2>/dev/null; then
                local s=$(date +%s.%N)
                kill -TERM "$LPID"                                      # nspawn: clean power-off
                for i in $(seq 300); do kill -0 "$LPID" 2>/dev/null || break; sleep 0.1; done
                kill -0 "$LPID" 2>/dev/null && { kill -KILL "$LPID"; [ -n "$L" ] && kill -KILL "$L"; sleep 0.5; }
                t "container powered off in $(echo "$(date +%s.%N) - $s" | bc | cut -c1-4) s"
        fi
        for d in $CGDIRS; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
        for d in $CGDIRS; do [ -d "$d" ] && ko "cgroup $d is left behind"; done
        local left=$(ls /run/systemd 2>/dev/null | grep -e nspawn -e units-load)
        [ "$left" = "$run_before" ] || ko "left in /run/systemd: $left"
        grep -q " $tmp" /proc/mounts && ko "mounts left below $tmp: $(grep " $tmp" /proc/mounts | cut -d' ' -f2)"
        rm -rf "$tmp"
        [ $skipped = 1 ] && exit 77
        local total=$((passed + failed)) pct=0
        [ $total -gt 0 ] && pct=$((100 * passed / total))
        t "took $(echo "$(date +%s.%N) - $T0" | bc | cut -d. -f1) s"
        echo "$pct%: Checks: $total, Failures: $failed, Errors: 0"
        echo "$passed passed, $failed failed"
        [ $failed -eq 0 ] && [ $passed -gt 0 ] && exit 0
        exit 1
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- 1. the tarball: make dist in a build directory of our own -------------------------------
if [ ! -x "$srcdir/configure" ]; then
        (cd "$srcdir" && autoreconf -fi >/dev/null 2>&1) || skip "autoreconf failed in $srcdir"
fi
mkdir -p "$tmp/dist" && cd "$tmp/dist" || exit 1
if ! { "$srcdir/configure" -q >configure.out 2>&1 && make -s dist >dist.out 2>&1; }; then
        tail -n 20 configure.out dist.out 2>/dev/null
        ko "make dist"
        exit 1
fi
tarball=$(ls shmbox-*.tar.xz)
version=${tarball#shmbox-}
version=${version%.tar.xz}
ok "make dist: $tarball"
tar -tf "$tarball" | sed "s|^shmbox-$version/||" | sort >tarball.list
missing=
for f in $(grep -oE '\]\([^)#: ]+' "$srcdir/README.md" | sed 's/^](//' | sort -u); do
        grep -qx -- "$f" tarball.list || missing="$missing $f"
done
chk "the tarball carries every file README.md links${missing:+ (missing:$missing)}" [ -z "$missing" ]
missing=
if command -v git >/dev/null && git -C "$srcdir" rev-parse >/dev/null 2>&1; then
        for f in $(git -C "$srcdir" ls-files debian completion etc systemd); do
                grep -qx -- "$f" tarball.list || missing="$missing $f"
        done
fi
chk "the tarball carries debian/ and the installed data files${missing:+ (missing:$missing)}" [ -z "$missing" ]
# make install with the default prefix (/usr/local) must stay below it: every installation
# directory, and the paths the generated units name
printf 'print-%%:\n\t@echo $($*)\n' >print.mk
outside=
for v in bindir sbindir libdir includedir mandir systemdsystemunitdir sysusersdir tmpfilesdir \
         bashcompletiondir shmboxconfdir shmboxstatedir; do
        d=$(make -s -f Makefile -f print.mk "print-$v" 2>/dev/null)
        case $d in /usr/local/*) ;; *) outside="$outside $v=$d" ;; esac
done
chk "configure --prefix=/usr/local: every installation directory is below the prefix${outside:+ (not:$outside)}" \
        [ -z "$outside" ]
make -s systemd/shmboxd.service >/dev/null 2>&1
chk "and shmboxd.service names /usr/local/sbin/shmboxd, /usr/local/etc/shmbox, /usr/local/var/lib/shmbox" \
        grep -qx 'ExecStart=/usr/local/sbin/shmboxd --state-dir /usr/local/var/lib/shmbox --config /usr/local/etc/shmbox/shmboxd.conf' \
        systemd/shmboxd.service

# ---- 2. the packages: dpkg-buildpackage in the unpacked tarball ------------------------------
mkdir -p "$tmp/build" && tar -xf "$tarball" -C "$tmp/build" || exit 1
src=$tmp/build/shmbox-$version
cd "$src" || exit 1
chk "debian/changelog's version is configure's ($version)" \
        [ "$(dpkg-parsechangelog -S Version 2>/dev/null)" = "$version" ]
t "installing the Build-Depends (apt-get build-dep ./)"
DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq ./ >"$tmp/build-dep.out" 2>&1 ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq ./ >"$tmp/build-dep.out" 2>&1; } ||
        { tail -n 20 "$tmp/build-dep.out"; skip "cannot install the Build-Depends of debian/control"; }
t "dpkg-buildpackage -us -uc -b"
tb=$(date +%s)
if DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b >"$tmp/build.out" 2>&1; then
        ok "dpkg-buildpackage -us -uc -b builds in $(($(date +%s) - tb)) s"
else
        tail -n 40 "$tmp/build.out"
        ko "dpkg-buildpackage -us -uc -b"
        exit 1
fi
grep -E 'dpkg-gensymbols: warning|^dh_[a-z]+: warning' "$tmp/build.out" | sed 's/^/  | /'
mkdir -p "$tmp/debs"
for p in "${packages[@]}"; do
        deb=$tmp/build/${p}_${version}_$(dpkg --print-architecture).deb
        chk "package $p is built" [ -f "$deb" ]
        [ -f "$deb" ] && cp "$deb" "$tmp/debs/"
done

# ---- 3. lintian: no error, no warning (overrides are in debian/*.lintian-overrides) ----------
t "lintian"
lintian --display-info --show-overrides "$tmp/build/shmbox_${version}_$(dpkg --print-architecture).changes" \
        >"$tmp/lintian.out" 2>&1
sed 's/^/  | /' "$tmp/lintian.out" | grep -v '^  | N:' | grep -v '^  | running with root privileges'
n=$(grep -cE '^[EW]: ' "$tmp/lintian.out")
chk "lintian: $n error(s) or warning(s)" [ "$n" -eq 0 ]

# ---- 4. the container root: debootstrap once, kept in $root -------------------------------------
mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\/*\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
if [ "$(cat "$root/.shmbox-recipe" 2>/dev/null)" != "$root_recipe" ]; then
        t "making the container root with debootstrap from $mirror (once; kept in $root)"
        tb=$(date +%s)
        rm -rf "$root" "$root.tmp"
        mkdir -p "$(dirname "$root")"
        if ! debootstrap --variant=minbase --include="$root_include" bookworm "$root.tmp" "$mirror" \
                >"$tmp/debootstrap.out" 2>&1; then
                tail -n 15 "$tmp/debootstrap.out"
                rm -rf "$root.tmp"
                skip "debootstrap of bookworm from $mirror failed"
        fi
        # the host's Debian sources (with updates and security), so that the packages' dependencies,
        # built against the host's libraries, resolve; apt's lists come with each run's update
        if [ -f /etc/apt/sources.list.d/debian.sources ]; then
                cp /etc/apt/sources.list.d/debian.sources "$root.tmp/etc/apt/sources.list.d/"
                rm -f "$root.tmp/etc/apt/sources.list"
        fi
        rm -rf "$root.tmp"/var/lib/apt/lists/* "$root.tmp"/var/cache/apt/archives/*.deb
        echo shmboxpkg >"$root.tmp/etc/hostname"
        : >"$root.tmp/etc/machine-id"
        echo "$root_recipe" >"$root.tmp/.shmbox-recipe"
        mv "$root.tmp" "$root"
        t "container root made in $(($(date +%s) - tb)) s"
fi

# ---- 5. boot it: systemd as PID 1, the root read-only below a tmpfs --------------------------
for d in $CGDIRS; do mkdir -p "$d" || skip "cannot create cgroup $d"; done
tb=$(date +%s.%N)
# The host's network (apt fetches the dependencies), a private mount namespace with a tmpfs
# on /run/systemd (nspawn's scratch files stay off the host), its own /dev/shm.
CGDIRS="$CGDIRS" setsid bash -c 'for d in $CGDIRS; do echo $$ > $d/cgroup.procs; done; exec "$@"' _ \
        unshare --mount --propagation private sh -c \
        'mkdir -p /run/systemd && mount -t tmpfs -o mode=755 tmpfs /run/systemd && exec "$@"' _ \
        $NSPAWN -D "$root" --volatile=overlay -M "shmboxpk$$" --register=no --keep-unit \
        --resolv-conf=copy-host --timezone=off --console=read-only \
        --bind-ro="$tmp/debs:/srv/shmbox-debs" -b systemd.firstboot=off \
        >"$tmp/container.log" 2>&1 </dev/null &
LPID=$!
# the container's PID 1: the child of nspawn that runs systemd (nspawn's short-lived outer
# child comes first)
for i in $(seq 100); do
        for L in $(pgrep -P $LPID); do [ "$(cat /proc/$L/comm 2>/dev/null)" = systemd ] && break 2; done
        L=
        sleep 0.1
done
[ -n "$L" ] || skip "the container did not start: $(tail -3 "$tmp/container.log" | tr '\n' ' ')"
C() { nsenter -t "$L" -a -- "$@"; }
P() { C systemctl show -P "$2" "$1"; }
R=/proc/$L/root
st=
for i in $(seq 300); do
        st=$(C systemctl is-system-running 2>/dev/null)
        case $st in running|degraded) break ;; esac
        sleep 0.1
done
case $st in
running|degraded) t "booted: $(C cat /etc/debian_version 2>/dev/null), state $st in $(echo "$(date +%s.%N) - $tb" | bc | cut -c1-4) s $(C systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')" ;;
*) skip "systemd did not come up in the container (state '$st'): $(tail -3 "$tmp/container.log" | tr '\n' ' ')" ;;
esac
failed_before=$(C systemctl --failed --no-legend --plain | awk '{print $1}' | sort)

# ---- 6. apt-get install ./*.deb ------------------------------------------------------------------
t "apt-get update; apt-get install ./*.deb in the container"
ta=$(date +%s)
C apt-get update -qq >"$tmp/apt.out" 2>&1
if C sh -c 'cd /srv/shmbox-debs && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ./*.deb' \
        >>"$tmp/apt.out" 2>&1; then
        ok "apt-get install ./*.deb resolves and installs the dependencies ($(grep -oE '[0-9]+ newly installed' "$tmp/apt.out"), $(($(date +%s) - ta)) s)"
else
        tail -n 30 "$tmp/apt.out"
        ko "apt-get install ./*.deb"
        exit 1
fi
grep -iE '^(W|E):|warning|error' "$tmp/apt.out" | grep -v 'unsandboxed as root' | sed 's/^/  | /'
for p in "${packages[@]}"; do
        chk "$p $version is installed" [ "$(C dpkg-query -W -f='${Status} ${Version}' "$p" 2>/dev/null)" = "install ok installed $version" ]
done

# ---- 7. the daemon: socket-activated, no manual step -------------------------------------------
chk "shmboxd.socket is enabled ($(P shmboxd.socket UnitFileState)) and listening ($(P shmboxd.socket ActiveState))" \
        [ "$(P shmboxd.socket UnitFileState)/$(P shmboxd.socket ActiveState)" = enabled/active ]
chk "/run/shmbox/shmboxd.sock is a socket" test -S "$R/run/shmbox/shmboxd.sock"
chk "the service waits for its first client ($(P shmboxd.service ActiveState))" [ "$(P shmboxd.service ActiveState)" = inactive ]
chk "the shmbox system user and group exist: $(C getent passwd shmbox)" eval 'q C getent passwd shmbox && q C getent group shmbox'
chk "the state directory /var/lib/shmbox is the shmbox user's, mode 700 ($(C stat -c '%U %a' /var/lib/shmbox 2>&1))" \
        [ "$(C stat -c '%U %a' /var/lib/shmbox 2>/dev/null)" = "shmbox 700" ]
chk "/etc/shmbox/shmboxd.conf is a conffile" eval 'C dpkg-query -W -f="\${Conffiles}" shmboxd | finds /etc/shmbox/shmboxd.conf'
chk "the first connection starts the daemon: shmboxctl list" q C shmboxctl list
chk "shmboxd.service runs as user shmbox ($(P shmboxd.service ActiveState), '$(P shmboxd.service StatusText)')" \
        eval '[ "$(P shmboxd.service SubState)" = running ] && [ "$(C stat -c %U "/proc/$(P shmboxd.service MainPID)")" = shmbox ]'
chk "it read the packaged config file without complaint" \
        eval '! C journalctl -u shmboxd.service -o cat --no-pager | finds -i "refused"'

# ---- 8. users of one group share a mailbox -----------------------------------------------------
U() { local u=$1; shift; C runuser -u "$u" -- "$@"; }
C groupadd team && for u in alice bob carol; do C useradd -M -G team "$u"; done && C useradd -M dave
chk "alice (group team) creates a mailbox with --group team --mode 0660" \
        q U alice shmboxctl create teambox --group team --mode 0660
chk "it belongs to alice and group team: $(C shmboxctl info teambox 2>&1 | grep -E '^(uid|gid|mode):' | tr '\n' ' ')" \
        eval '[ "$(C shmboxctl info teambox | sed -n "s/^gid: //p")" = "$(C getent group team | cut -d: -f3) (team)" ]'
chk "bob (group team) sends to it" q U bob shmboxctl send teambox "hello from bob"
chk "carol (group team) receives bob's message" \
        [ "$(U carol shmboxctl recv teambox --timeout 5000 2>&1)" = "hello from bob" ]
chk "dave (not in team) may not send" eval '! q U dave shmboxctl send --timeout 0 teambox intruder'
chk "dave may not receive" eval '! q U dave shmboxctl recv teambox --timeout 0'

# ---- 9. systemctl restart shmboxd keeps queued messages; reload works -------------------------
q U bob shmboxctl send teambox m1 m2 m3
pid=$(P shmboxd.service MainPID)
C systemctl restart shmboxd
new=$(P shmboxd.service MainPID)
chk "systemctl restart shmboxd: MainPID $pid -> $new" [ "$new" != "$pid" ] && [ "$new" != 0 ]
chk "the three messages are still queued after the restart" \
        [ "$(C shmboxctl info teambox 2>/dev/null | sed -n 's/^queued: //p')" = 3 ]
chk "carol receives them in order" \
        [ "$(U carol shmboxctl recv teambox --count 3 --timeout 5000 2>&1 | tr '\n' ' ')" = "m1 m2 m3 " ]
chk "systemctl reload shmboxd (ExecReload=shmboxctl reload) succeeds" q C systemctl reload shmboxd

# ---- 10. a program built against libshmbox-dev with pkg-config ----------------------------------
cat >"$R/root/pkgconfig-test.c" <<'EOF'
#include <shmbox.h>
#include <stdio.h>
#include <string.h>

int main(void) {
        static const char msg[] = "built with pkg-config";
        struct shmbox_config config = { 0 };
        shmbox_client *client;
        shmbox *box;
        char buf[64];
        ssize_t n;
        int r;

        r = shmbox_connect(NULL, &client);
        if (r < 0) {
                fprintf(stderr, "connect: %s\n", shmbox_strerror(r));
                return 1;
        }
        r = shmbox_create(client, "pkgconfig", &config);
        if (r >= 0)
                r = shmbox_attach(client, "pkgconfig", &box);
        if (r < 0) {
                fprintf(stderr, "create/attach: %s\n", shmbox_strerror(r));
                return 1;
        }
        r = shmbox_send(box, msg, sizeof(msg) - 1, 1000);
        n = r < 0 ? r : shmbox_recv(box, buf, sizeof(buf), 1000);
        if (n < 0) {
                fprintf(stderr, "send/recv: %s\n", shmbox_strerror((int)n));
                return 1;
        }
        printf("libshmbox %s: %.*s\n", shmbox_version(), (int)n, buf);
        shmbox_detach(box);
        shmbox_destroy(client, "pkgconfig");
        shmbox_disconnect(client);
        return 0;
}
EOF
chk "pkg-config --modversion shmbox is $version" [ "$(C pkg-config --modversion shmbox 2>&1)" = "$version" ]
chk "gcc \$(pkg-config --cflags --libs shmbox) builds a client" \
        q C sh -c 'gcc -Wall -Werror -o /root/pkgconfig-test /root/pkgconfig-test.c $(pkg-config --cflags --libs shmbox)'
out=$(C /root/pkgconfig-test 2>&1)
chk "it runs against the packaged library and daemon: '$out'" [ "$out" = "libshmbox $version: built with pkg-config" ]

# ---- 10b. the Python module of python3-shmbox, with Debian's python3 --------------------------
cat >"$R/root/python-test.py" <<'EOF'
import shmbox

with shmbox.connect() as client:
    client.create("pytest", slots=4, slot_size=64)
    try:
        with client.attach("pytest") as box:
            box.send(b"sent from Python")
            with box.reserve(9) as buf:
                buf[:] = b"zero-copy"
            first = box.recv(timeout=1.0)
            with box.peek(timeout=1.0) as view:
                second = bytes(view)
        try:
            client.create("pytest")
        except FileExistsError as e:
            exists = e.errno == 17
    finally:
        client.destroy("pytest")
print("shmbox %s, libshmbox %s: %s, %s, %s" % (shmbox.__version__, shmbox.library_version(),
      first.decode(), second.decode(), exists))
EOF
chk "python3-shmbox installs the module for Debian's python3: $(C python3 -c 'import shmbox._shmbox as m; print(m.__file__)' 2>&1)" \
        eval '[ "$(C python3 -c "import shmbox._shmbox as m; print(m.__file__)" 2>&1)" = "$(C dpkg -L python3-shmbox | grep "/_shmbox\.cpython-.*\.so$")" ]'
out=$(C python3 /root/python-test.py 2>&1)
chk "a Python send/recv through the packaged library and daemon: '$out'" \
        [ "$out" = "shmbox $version, libshmbox $version: sent from Python, zero-copy, True" ]

# ---- 11. the bash completion -----------------------------------------------------------------
comp=/usr/share/bash-completion/completions/shmboxctl
chk "the completion is installed where bash-completion looks ($comp)" test -f "$R$comp"
chk "sourced in bash: $(C bash -c ". $comp && complete -p shmboxctl" 2>&1)" \
        [ "$(C bash -c ". $comp && complete -p shmboxctl" 2>&1)" = "complete -F _shmboxctl shmboxctl" ]
complete_words() { # WORDS...: what the completion offers for the last word
        C bash -c '. '"$comp"' && COMP_WORDS=("$@") && COMP_CWORD=$(($# - 1)) && _shmboxctl && echo "${COMPREPLY[*]}"' _ "$@"
}
chk "shmboxctl wal<TAB> completes to walkthrough" [ "$(complete_words shmboxctl wal)" = walkthrough ]
chk "shmboxctl recv --c<TAB> completes to --count" [ "$(complete_words shmboxctl recv --c)" = --count ]
q U bob shmboxctl send teambox x
chk "shmboxctl recv te<TAB> completes the mailbox name" [ "$(complete_words shmboxctl recv te)" = teambox ]
q C shmboxctl recv teambox --timeout 0
cmds=$(C shmboxctl --help | sed -n '/^Commands:/,/^$/p' | awk 'NF {print $1}' | grep -v Commands:)
offered=$(complete_words shmboxctl '')
missing=
for c in $cmds; do grep -qw -- "$c" <<<"$offered" || missing="$missing $c"; done
chk "every command of shmboxctl --help is completed ($(echo $cmds))${missing:+, not:$missing}" \
        [ -n "$cmds" ] && [ -z "$missing" ]

# ---- 12. the bridge: installed, its user made, not started without a config file -------------
chk "shmbox-bridge --version runs: $(C shmbox-bridge --version 2>&1 | head -1)" q C shmbox-bridge --version
chk "the shmbox-bridge user exists" q C getent passwd shmbox-bridge
chk "shmbox-bridge.service waits for /etc/shmbox/bridge.conf (not failed: $(P shmbox-bridge.service ActiveState))" \
        [ "$(P shmbox-bridge.service ActiveState)" = inactive ]
chk "no unit failed in the container (before: $(echo $failed_before), now: $(C systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' '))" \
        [ "$(C systemctl --failed --no-legend --plain | awk '{print $1}' | sort)" = "$failed_before" ]

# ---- 13. an upgrade (the same packages again): the socket stays, the daemon is restarted ------
q U bob shmboxctl send teambox "kept across the upgrade"
pid=$(P shmboxd.service MainPID)
if C sh -c 'cd /srv/shmbox-debs && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall ./*.deb' \
        >"$tmp/reinstall.out" 2>&1; then
        ok "apt-get install --reinstall ./*.deb (the upgrade path of the maintainer scripts)"
else
        tail -n 20 "$tmp/reinstall.out"
        ko "apt-get install --reinstall ./*.deb"
fi
new=$(P shmboxd.service MainPID)
chk "the running daemon was restarted (MainPID $pid -> $new), the socket listens ($(P shmboxd.socket ActiveState))" \
        eval '[ "$new" != "$pid" ] && [ "$new" != 0 ] && [ "$(P shmboxd.socket ActiveState)" = active ]'
chk "the queued message is still there" \
        [ "$(U carol shmboxctl recv teambox --timeout 5000 2>&1)" = "kept across the upgrade" ]

# ---- 14. apt-get purge: nothing left ------------------------------------------------------------
q U bob shmboxctl send teambox "left queued at purge"
chk "before the purge, the mailbox is in the container's /dev/shm: $(C ls /dev/shm | tr '\n' ' ')" \
        eval 'C ls /dev/shm | finds "^shmbox\.teambox"'
tp=$(date +%s)
if C env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "${packages[@]}" >"$tmp/purge.out" 2>&1; then
        ok "apt-get purge ${packages[*]} ($(($(date +%s) - tp)) s)"
else
        tail -n 20 "$tmp/purge.out"
        ko "apt-get purge"
fi
grep -iE 'warning|error' "$tmp/purge.out" | sed 's/^/  | /'
chk "no package left: $(C dpkg -l 'shmbox*' 'libshmbox*' 2>/dev/null | awk '/^[a-z][a-z] /{print $1, $2}' | tr '\n' ' ')" \
        eval '! C dpkg -l "shmbox*" "libshmbox*" 2>/dev/null | finds -E "^(ii|rc|iU|iF)"'
chk "no shmbox unit known to systemd: $(C systemctl list-unit-files --no-legend 'shmbox*' | tr '\n' ' ')" \
        [ -z "$(C systemctl list-unit-files --no-legend 'shmbox*')" ]
chk "no shmbox unit file or enablement link left" \
        [ -z "$(C find /etc/systemd /lib/systemd /usr/lib/systemd -name 'shmbox*' 2>/dev/null)" ]
chk "no shmboxd process" eval '! C sh -c "cat /proc/[0-9]*/comm 2>/dev/null" | finds -x shmboxd'
chk "the socket and /run/shmbox are gone" test ! -e "$R/run/shmbox"
chk "users shmbox and shmbox-bridge are gone" eval '! q C getent passwd shmbox && ! q C getent passwd shmbox-bridge'
chk "groups shmbox and shmbox-bridge are gone" eval '! q C getent group shmbox && ! q C getent group shmbox-bridge'
chk "/etc/shmbox is gone" test ! -e "$R/etc/shmbox"
chk "the Python module is gone (shmbox in dist-packages: $(C ls /usr/lib/python3/dist-packages 2>/dev/null | grep -i shmbox | tr '\n' ' '))" \
        eval '! C ls /usr/lib/python3/dist-packages 2>/dev/null | finds -i shmbox && ! C python3 -c "import shmbox" 2>/dev/null'

chk "/var/lib/shmbox is gone" test ! -e "$R/var/lib/shmbox"
chk "no sysusers.d or tmpfiles.d snippet left" \
        [ -z "$(C find /usr/lib/sysusers.d /usr/lib/tmpfiles.d /etc/sysusers.d /etc/tmpfiles.d -name 'shmbox*' 2>/dev/null)" ]
left=$(C ls -A /dev/shm)
chk "nothing left in the container's /dev/shm${left:+: $(echo $left)}" [ -z "$left" ]
exit 0
