#!/bin/bash
# SPDX-License-Identifier: MIT
# run.sh — shmboxd under a real systemd: boots the host's systemd as PID 1 of a throw-away
# container (systemd-nspawn, host /usr read-only, tmpfs root, the host's /dev/shm), installs the
# built units with a drop-in (this build's binaries, a unique --prefix, WatchdogSec=3s) and
# checks socket activation, Type=notify readiness, crash and restart keeping every mailbox and
# message, reload, stop, the watchdog and the exposure score. Clients run on the host and reach
# the daemon through /proc/<container PID 1>/root/run/shmbox/shmboxd.sock: the daemon sees them
# in another pid namespace (pid 0), with only their pidfd (SO_PEERPIDFD).
#
# Run by make check through tests/run-suite.sh (SHMBOXD, SHMBOXCTL, SHMBOX_CRASH_CHILD,
# SHMBOX_TEST_PREFIX). Needs root, cgroups and systemd-nspawn: from $PATH, else unpacked by
# .ci/run (tests/deps.sh: shmbox_fetch_nspawn) into $SHMBOX_NSPAWN_DIR, default
# /var/cache/shmbox-test/nspawn — never installed, which would upgrade the host's systemd.
# Where the machine cannot do this, it says why and exits 77 (skipped). The traps it avoids are
# in doc/systemd.md.
set -uo pipefail

SHMBOXD=${SHMBOXD:?SHMBOXD is not set (run through make check)}
SHMBOXCTL=${SHMBOXCTL:?SHMBOXCTL is not set}
CHILD=${SHMBOX_CRASH_CHILD:?SHMBOX_CRASH_CHILD is not set}
builddir=$(cd "$(dirname "$SHMBOXD")" && pwd)
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
prefix=${SHMBOX_TEST_PREFIX:-shmboxtsd$$}
nspawn_dir=${SHMBOX_NSPAWN_DIR:-/var/cache/shmbox-test/nspawn}

T0=$(date +%s.%N)
t() { printf '[%6.2fs] %s\n' "$(echo "$(date +%s.%N) - $T0" | bc)" "$*"; }
skipped=0
skip() { echo "SKIP: tests/systemd/run.sh: $* — shmboxd was NOT tested under systemd"; skipped=1; exit 77; }
passed=0 failed=0 known=0 info_failed=0
ok() { t "PASS: $*"; passed=$((passed + 1)); }
ko() { t "FAIL: $*"; failed=$((failed + 1)); }
chk() { local m=$1; shift; if "$@"; then ok "$m"; else ko "$m"; fi; }
# A check of a known gap (reported, not yet fixed): shown loudly as XFAIL, not counted as a
# failure, and as PASS once it works. The one gap: a peer in another pid namespace (pid 0) has
# no identity that survives a daemon restart — the session journal names processes by pid and
# start time — so its REATTACH is refused (-ESTALE) and its attachments stay pinned by a ghost
# session that cannot watch it. Fix: identify pid-0 peers by their pidfd's pidfs inode.
gap() { local m=$1; shift; if "$@"; then ok "$m"; else t "XFAIL (known gap, pid-0 peers): $m"; known=$((known + 1)); fi; }
q() { "$@" >/dev/null 2>&1; }
has() { grep -q -- "$2" <<<"$1"; }
# `... | finds PATTERN`, not `... | grep -q`: grep -q leaves at the first match and, under
# pipefail, the writer's SIGPIPE (141) fails the pipeline although the line is there (a CI run
# failed so). grep -c reads to the end.
finds() { local n; n=$(grep -c "$@"); [ "${n:-0}" -gt 0 ]; }

# ---- what this machine must offer ------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || skip "needs root (boots a container)"
# A sanitizer build cannot run in the unit's sandbox: LeakSanitizer stops the world with
# ptrace at exit, which SystemCallFilter=@system-service forbids (the daemon then exits 1).
# The plain build's run of this test covers systemd; this one says so instead of failing.
grep -q '^CFLAGS = .*-fsanitize=' "$builddir/Makefile" 2>/dev/null &&
        skip "a sanitizer build (LeakSanitizer needs ptrace, which the unit's SystemCallFilter forbids)"
for p in systemd-analyze nsenter unshare setsid bc; do
        command -v $p >/dev/null || skip "$p is missing"
done
[ -x /usr/lib/systemd/systemd ] || skip "no /usr/lib/systemd/systemd to boot"
NSPAWN=$(command -v systemd-nspawn)
if [ -z "$NSPAWN" ]; then
        [ -x "$nspawn_dir/usr/bin/systemd-nspawn" ] ||
                skip "no systemd-nspawn in \$PATH or $nspawn_dir (run .ci/run, or: . tests/deps.sh && shmbox_fetch_nspawn)"
        NSPAWN="env LD_LIBRARY_PATH=$nspawn_dir/usr/lib/x86_64-linux-gnu/systemd $nspawn_dir/usr/bin/systemd-nspawn"
fi
$NSPAWN --version >/dev/null 2>&1 || skip "systemd-nspawn does not run: $($NSPAWN --version 2>&1 | head -1)"
unit=$builddir/systemd/shmboxd.service
for f in "$unit" "$srcdir/systemd/shmboxd.socket" "$srcdir/systemd/shmbox.sysusers" \
         "$srcdir/systemd/shmbox.tmpfiles" "$builddir/.libs/shmboxctl" "$builddir/.libs/libshmbox.so.0"; do
        [ -e "$f" ] || skip "$f is missing (not built?)"
done
grep -q 'define SHMBOX_CRASH_POINTS 1' "$builddir/config.h" && hooks=1 || hooks=0
# an ASan build: LeakSanitizer's ptrace() is outside the unit's system call filter
sanitizer_env=
ldd "$SHMBOXD" 2>/dev/null | finds libasan && sanitizer_env="Environment=ASAN_OPTIONS=detect_leaks=0"

CG=shmboxt-sd-$$
CGDIRS=$(awk -v cg=$CG '$3=="cgroup2" || ($3=="cgroup" && $4 ~ /name=systemd/) {print $2 "/" cg}' /proc/mounts)
[ -n "$CGDIRS" ] || skip "no cgroup2 or name=systemd hierarchy to give the container a cgroup"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmboxsd.XXXXXX") || exit 1
LPID= L= CC=
run_before=$(ls /run/systemd 2>/dev/null | grep -e nspawn -e units-load)
cleanup() {
        [ -n "$CC" ] && kill -KILL "$CC" 2>/dev/null
        if [ -n "$LPID" ] && kill -0 "$LPID" 2>/dev/null; then
                local s=$(date +%s.%N)
                kill -TERM "$LPID"                                      # nspawn: clean power-off
                for i in $(seq 200); do kill -0 "$LPID" 2>/dev/null || break; sleep 0.1; done
                kill -0 "$LPID" 2>/dev/null && { kill -KILL "$LPID"; [ -n "$L" ] && kill -KILL "$L"; sleep 0.5; }
                t "container powered off in $(echo "$(date +%s.%N) - $s" | bc | cut -c1-4) s"
        fi
        for d in $CGDIRS; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
        for d in $CGDIRS; do [ -d "$d" ] && { ko "cgroup $d is left behind"; }; done
        left=$(ls /run/systemd | grep -e nspawn -e units-load)
        [ "$left" = "$run_before" ] || ko "left in /run/systemd: $left"
        left=$(ls /dev/shm | grep -e "^$prefix\." -e "^sem\.$prefix\.")
        if [ -n "$left" ]; then
                ko "objects left in /dev/shm: $(echo $left)"
                for f in $left; do rm -f "/dev/shm/$f"; done
        fi
        rm -rf "$tmp"
        [ $skipped = 1 ] && exit 77
        t "$passed passed, $failed failed, $known known gap(s) (XFAIL)"
        [ $failed -eq 0 ] && [ $passed -gt 0 ] && exit 0
        exit 1
}
trap cleanup EXIT

# ---- 1. static checks (no running systemd) ---------------------------------------------------
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
exec_reload=$(sed -n 's/^ExecReload=\([^ ]*\).*/\1/p' "$unit")
VR=$tmp/vroot
mkdir -p "$VR/etc/systemd/system" "$VR/usr/lib/systemd" "$VR$(dirname "$exec_start")" "$VR$(dirname "$exec_reload")"
cp -a /usr/lib/systemd/system "$VR/usr/lib/systemd/"     # --root needs sysinit.target & co
cp "$unit" "$srcdir/systemd/shmboxd.socket" "$VR/etc/systemd/system/"
cp "$SHMBOXD" "$VR$exec_start"                           # verify checks that Exec*= exist
cp "$builddir/.libs/shmboxctl" "$VR$exec_reload"
# each in a mount namespace of its own: they leave /run/systemd/systemd-units-load behind
analyze() { unshare --mount --propagation private sh -c 'mount -t tmpfs tmpfs /run/systemd && exec "$@"' _ \
        systemd-analyze "$@"; }
out=$(analyze verify --man=no --root="$VR" shmboxd.socket shmboxd.service 2>&1)
chk "systemd-analyze verify of the units prints nothing${out:+: $out}" [ -z "$out" ]
score=$(analyze security --offline=true "$unit" 2>&1 | tail -1)
t "exposure: $score"
chk "exposure <= 1.0 (--threshold is in tenths)" q analyze security --offline=true --threshold=10 "$unit"

# ---- 2. boot systemd as PID 1 of a container, in a cgroup of its own ----------------------
mkdir -p "$tmp/bin" "$tmp/log"
cp "$SHMBOXD" "$tmp/bin/shmboxd"              # a snapshot: the build may change meanwhile
cp -L "$builddir/.libs/shmboxctl" "$builddir/.libs/libshmbox.so.0" "$tmp/bin/"
for d in $CGDIRS; do mkdir -p "$d" || skip "cannot create cgroup $d"; done
tb=$(date +%s.%N)
# a private mount namespace and a tmpfs on /run/systemd keep nspawn's scratch files off the host
CGDIRS="$CGDIRS" setsid bash -c 'for d in $CGDIRS; do echo $$ > $d/cgroup.procs; done; exec "$@"' _ \
        unshare --mount --propagation private sh -c \
        'mkdir -p /run/systemd && mount -t tmpfs -o mode=755 tmpfs /run/systemd && exec "$@"' _ \
        $NSPAWN -D / --volatile=yes -M "shmboxt$$" --register=no --keep-unit --private-network \
        --console=read-only --bind-ro="$tmp/bin:/opt/shmbox-test" --bind=/dev/shm -b systemd.firstboot=off \
        >"$tmp/log/container.log" 2>&1 </dev/null &
LPID=$!                                         # becomes systemd-nspawn (everything execs)
for i in $(seq 100); do L=$(pgrep -P $LPID | head -1); [ -n "$L" ] && break; sleep 0.1; done
[ -n "$L" ] || skip "the container did not start: $(tail -3 "$tmp/log/container.log" | tr '\n' ' ')"
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
running|degraded) t "booted: container PID 1 is host pid $L, state $st in $(echo "$(date +%s.%N) - $tb" | bc | cut -c1-4) s $(C systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')" ;;
*) skip "systemd did not come up in the container (state '$st'): $(tail -3 "$tmp/log/container.log" | tr '\n' ' ')" ;;
esac

# ---- 3. install: user, snippets, units, a drop-in for this build ---------------------------
mkdir -p "$R/etc/sysusers.d" "$R/etc/tmpfiles.d" "$R/etc/systemd/system/shmboxd.service.d"
cp "$srcdir/systemd/shmbox.sysusers" "$R/etc/sysusers.d/shmbox.conf"
cp "$srcdir/systemd/shmbox.tmpfiles" "$R/etc/tmpfiles.d/shmbox.conf"
out=$(C systemd-sysusers /etc/sysusers.d/shmbox.conf 2>&1)
chk "sysusers creates the shmbox user and group: $(C getent passwd shmbox)" q C getent passwd shmbox
out=$(C systemd-tmpfiles --create /etc/tmpfiles.d/shmbox.conf 2>&1)
chk "tmpfiles snippet applies cleanly${out:+: $out}" [ -z "$out" ]
cp "$unit" "$srcdir/systemd/shmboxd.socket" "$R/etc/systemd/system/"
cat >"$R/etc/systemd/system/shmboxd.service.d/test.conf" <<EOF
[Service]
ExecStart=
ExecStart=/opt/shmbox-test/shmboxd --state-dir /var/lib/shmbox --config /etc/shmbox/shmboxd.conf --prefix $prefix --log-level debug
ExecReload=
ExecReload=/opt/shmbox-test/shmboxctl reload
Environment=LD_LIBRARY_PATH=/opt/shmbox-test
WatchdogSec=3s
# a test build's localstatedir (/usr/local/var, or distcheck's prefix under a home that
# ProtectHome= hides) has the unit name ReadWritePaths= for it, and its built-in config path
# would be there too: this daemon keeps /var/lib/shmbox and /etc/shmbox, as a distribution's does
ReadWritePaths=
StateDirectory=shmbox
$sanitizer_env
EOF
C systemctl daemon-reload
out=$(C systemd-analyze verify --man=no shmboxd.socket shmboxd.service 2>&1)
chk "verify under the live manager, with the drop-in, prints nothing${out:+: $out}" [ -z "$out" ]

SOCK=$R/run/shmbox/shmboxd.sock
ctl() { "$SHMBOXCTL" --socket "$SOCK" "$@"; }
# A failed `ctl info` says why on stderr (the log), not in the value it is compared by, and is
# tried twice more: a loaded run (1 in 8) saw info fail at once, twice within 0.5 s, right
# after a restart while `ctl list` had just answered, and pass 5 s later. A control call may
# fail while a daemon restarts (the README says so); what these checks are about is what the
# mailboxes hold. The log keeps every failure.
field() {
        local out rc try
        for try in 1 2 3; do
                out=$(ctl info "$1" 2>"$tmp/field.err")
                rc=$?
                [ $rc = 0 ] && break
                info_failed=1
                t "ctl info $1 failed (exit $rc, try $try): $(tr '\n' ' ' <"$tmp/field.err") (service $(state), MainPID $(P shmboxd.service MainPID), NRestarts $(P shmboxd.service NRestarts))" >&2
                sleep 0.3
        done
        sed -n "s/^$2: //p" <<<"$out"
}
journal() { C journalctl -u shmboxd.service -o cat --no-pager 2>/dev/null; }
state() { echo "$(P shmboxd.socket ActiveState)/$(P shmboxd.service ActiveState)"; }
wait_pid_change() { # OLD: until a new MainPID runs
        local n
        for i in $(seq 100); do
                n=$(P shmboxd.service MainPID)
                [ "$n" != "$1" ] && [ "$n" != 0 ] && [ "$(P shmboxd.service SubState)" = running ] && { echo "$n"; return 0; }
                sleep 0.1
        done
        echo "$n"; return 1
}

# ---- 4. socket activation, readiness, clients ----------------------------------------------
C systemctl start shmboxd.socket
chk "the socket listens, the service is not started yet ($(state))" [ "$(state)" = active/inactive ]
chk "the first connection starts the service (socket activation)" q ctl create q1 --slots 16
chk "the service runs: $(state), '$(P shmboxd.service StatusText)'" [ "$(state)" = active/active ]
pid=$(P shmboxd.service MainPID)
chk "the daemon's objects in /dev/shm belong to the shmbox user" \
        [ "$(stat -c %u /dev/shm/$prefix.q1)" = "$(C id -u shmbox)" ]
chk "host clients send through the container's socket" q ctl send q1 m1 m2 m3
q ctl create big --slots 1024 --slot-size 65536
mem=$(P shmboxd.service MemoryCurrent)
case $mem in
[0-9]*) chk "a 64 MiB mailbox is charged to shmboxd.service (MemoryCurrent=$mem)" [ "$mem" -ge $((64 << 20)) ] ;;
*) t "memory is not accounted in this container (MemoryCurrent=$mem): charging not checked" ;;
esac
q ctl destroy big
chk "three messages are queued" [ "$(field q1 queued)" = 3 ]
q ctl create shared --mode 0666
# /proc/<pid>/root is for root only: the unprivileged client runs inside the container
chk "an unprivileged user (nobody) sends to a 0666 mailbox: ACLs, no capability in the daemon" \
        q C setpriv --reuid=65534 --regid=65534 --clear-groups \
        env LD_LIBRARY_PATH=/opt/shmbox-test /opt/shmbox-test/shmboxctl send shared hello
chk "and root receives it" [ "$(ctl recv shared --timeout 1000 2>/dev/null)" = hello ]
q ctl create live
mkfifo "$tmp/cc.in"
exec 7<>"$tmp/cc.in"
# made before the child starts: the background job opens it when it gets to run, which under
# load came after the first ping_live read it ("integer expression expected", a failed check)
: >"$tmp/cc.out"
"$CHILD" "$SOCK" live pingpong 1 <&7 >>"$tmp/cc.out" 2>&1 &
CC=$!
ping_live() { # one send+recv of the long-lived client; true once it printed one more "done"
        local before=$(grep -c '^done' "$tmp/cc.out")
        echo go >&7
        for i in $(seq 50); do
                [ "$(grep -c '^done' "$tmp/cc.out")" -gt "$before" ] && return 0
                kill -0 $CC 2>/dev/null || return 1
                sleep 0.1
        done
        return 1
}
chk "a long-lived client attached to 'live' sends and receives" ping_live
chk "the daemon sees the host client as pid 0 and still got its pidfd (SO_PEERPIDFD)" \
        eval 'has "$(journal)" "attach live by pid 0" && ! has "$(journal)" "no pidfd"'
"$CHILD" "$SOCK" q1 idle >"$tmp/idle.out" 2>&1 &
idle=$!
for i in $(seq 50); do grep -q attached "$tmp/idle.out" && break; sleep 0.1; done
kill -KILL $idle; wait $idle 2>/dev/null
for i in $(seq 30); do [ "$(field q1 attached)" = 0 ] && break; sleep 0.1; done
chk "a killed host client (pid 0) is seen dead through its pidfd: its attachment is released" \
        [ "$(field q1 attached)" = 0 ]

# journald's fields (log/log.c, doc/logging.md): a refusal and a repair of mailbox jr, found by
# `journalctl SHMBOX_MAILBOX=jr` with their fixed MESSAGE_IDs
REFUSAL_ID=c837fbad66ac4eec9fce42e66c956b2a REPAIR_ID=9b6d9b4576b0458db92c6197688391f1
q ctl create jr --mode 0600
q C setpriv --reuid=65534 --regid=65534 --clear-groups \
        env LD_LIBRARY_PATH=/opt/shmbox-test /opt/shmbox-test/shmboxctl send jr refused
"$CHILD" "$SOCK" jr reserve >"$tmp/jr.out" 2>&1 &
jr=$!
for i in $(seq 50); do grep -q reserved "$tmp/jr.out" && break; sleep 0.1; done
kill -KILL $jr; wait $jr 2>/dev/null
jf() { C journalctl -o export --no-pager SHMBOX_MAILBOX=jr "MESSAGE_ID=$1" 2>/dev/null | grep -a '^[A-Z_]*='; }
for i in $(seq 50); do [ -n "$(jf $REPAIR_ID)" ] && [ -n "$(jf $REFUSAL_ID)" ] && break; sleep 0.1; done
refusal=$(jf $REFUSAL_ID) repair=$(jf $REPAIR_ID)
chk "journalctl SHMBOX_MAILBOX=jr MESSAGE_ID=<refusal>: nobody's refused attach, SHMBOX_UID=65534, its SHMBOX_PID, SHMBOX_ERRNO=13, PRIORITY=5" \
        eval 'has "$refusal" "^MESSAGE=refused attach of jr by uid 65534: no access" && has "$refusal" "^SHMBOX_UID=65534$" &&
              has "$refusal" "^SHMBOX_PID=[1-9][0-9]*$" && has "$refusal" "^SHMBOX_ERRNO=13$" && has "$refusal" "^PRIORITY=5$"'
chk "journalctl SHMBOX_MAILBOX=jr MESSAGE_ID=<repair>: the killed client's claim abandoned, SHMBOX_UID=0 (pid 0: no SHMBOX_PID)" \
        eval 'has "$repair" "^MESSAGE=repaired jr after token [0-9]* (pid 0): lock free, 0 step(s) rolled forward, 1 claim(s) abandoned" &&
              has "$repair" "^SHMBOX_UID=0$" && ! has "$repair" "^SHMBOX_PID="'
# waited for too, as the fields above: journald stores a line shortly after it is sent. (Runs
# that failed here, 1 in 14 under load and once in CI at 4.4 s, were `| grep -q` under pipefail
# killing journalctl with SIGPIPE: see finds().)
created() { C journalctl -o export --no-pager SYSLOG_IDENTIFIER=shmboxd PRIORITY=6 | finds -a "^MESSAGE=create jr by uid 0$"; }
for i in $(seq 50); do created && break; sleep 0.1; done
chk "the daemon's other lines go to the journal as entries too (SYSLOG_IDENTIFIER=shmboxd, PRIORITY=6)" created
[ -n "$refusal$repair" ] || t "journal of shmboxd: $(journal | tail -n 5)"
# what an operator sees (the README's "Operating" shows this output)
t "journalctl SHMBOX_MAILBOX=jr:"
C journalctl --no-pager --no-hostname SHMBOX_MAILBOX=jr 2>&1 | sed 's/^/    /'
t "journalctl -o verbose --output-fields=MESSAGE,MESSAGE_ID,SHMBOX_UID,SHMBOX_PID,SHMBOX_ERRNO SHMBOX_MAILBOX=jr:"
C journalctl --no-pager -o verbose --output-fields=MESSAGE,MESSAGE_ID,SHMBOX_UID,SHMBOX_PID,SHMBOX_ERRNO \
        SHMBOX_MAILBOX=jr 2>&1 | sed 's/^/    /'
q ctl destroy jr


# ---- 5. kill -9: restarted, everything kept -----------------------------------------------
survives() { # WHAT: the mailboxes, the queued messages, the live client and its registration
        chk "$1: mailboxes q1, shared, live are all there" \
                [ "$(ctl list 2>/dev/null | awk 'NR>1 {print $1}' | sort | tr '\n' ' ')" = "live q1 shared " ]
        chk "$1: the three messages of q1 are still queued" [ "$(field q1 queued)" = 3 ]
        chk "$1: the attached client carries on" ping_live
        gap "$1: and has re-registered (orphaned: $(field live orphaned))" [ "$(field live orphaned)" = 0 ]
}
# never `kill 0`: a service that is not running has MainPID 0, and kill(0) in the container
# reaches this script's whole process group on the host (make, check.sh, .ci/run)
case $pid in ''|0|*[!0-9]*) ko "no daemon to kill -9 (MainPID '$pid')" ;; *) C kill -KILL "$pid" ;; esac
new=$(wait_pid_change "$pid")
chk "kill -9: systemd restarted the daemon (MainPID $pid -> $new, NRestarts=$(P shmboxd.service NRestarts))" \
        [ "$(P shmboxd.service NRestarts)" = 1 ]
survives "after kill -9"

# ---- 6. restart, reload ----------------------------------------------------------------------
pid=$(P shmboxd.service MainPID)
C systemctl restart shmboxd.service
new=$(P shmboxd.service MainPID)
chk "systemctl restart: MainPID $pid -> $new, running" [ "$new" != "$pid" -a "$(P shmboxd.service SubState)" = running ]
survives "after restart"
C systemd-analyze log-level debug                # PID 1 logs each notification it gets
if C systemctl reload shmboxd.service 2>"$tmp/err"; then
        ok "systemctl reload returns success (ExecReload=shmboxctl reload)"
else
        ko "systemctl reload: $(cat "$tmp/err")"
fi
C systemd-analyze log-level info
chk "the daemon framed the reload with RELOADING=1 ... READY=1 (sd_notify)" \
        eval 'journal | grep "Got notification message" | grep -A5 RELOADING=1 | finds READY=1'
chk "the daemon reloaded (journal) and still runs as $new" \
        eval '[ "$(P shmboxd.service MainPID)" = "$new" ] && has "$(journal)" "^reloaded"'
survives "after reload"

# ---- 7. stop: SIGTERM, success, the socket stays; start waits for READY=1 ------------------
pid=$(P shmboxd.service MainPID)
C systemctl stop shmboxd.service 2>/dev/null  # warns: the socket can start it again
chk "systemctl stop: Result=$(P shmboxd.service Result), exit status $(P shmboxd.service ExecMainStatus), socket still listening ($(state))" \
        [ "$(P shmboxd.service Result)" = success -a "$(P shmboxd.service ExecMainStatus)" = 0 -a "$(state)" = active/inactive ]
chk "the daemon saw SIGTERM and stopped cleanly (journal)" \
        eval 'journal | grep -A3 "received SIGTERM" | finds "^stopped"'
chk "the next connection starts it again" q ctl list
chk "running again: $(state)" [ "$(state)" = active/active ]
C systemctl stop shmboxd.service 2>/dev/null
C systemctl start shmboxd.service
status=$(P shmboxd.service StatusText)
chk "systemctl start returned after READY=1 (StatusText '$status')" \
        [ "$(P shmboxd.service SubState)" = running ] && [[ $status == *"mailbox(es)"* ]]
survives "after stop and start"

# ---- 8. the watchdog ----------------------------------------------------------------------------
pid=$(P shmboxd.service MainPID)
sleep 5
chk "WatchdogSec=3s: the daemon pings, still $pid after 5 s" [ "$(P shmboxd.service MainPID)" = "$pid" ]
if [ $hooks = 1 ]; then
        n0=$(P shmboxd.service NRestarts)
        printf '[Service]\nEnvironment=SHMBOX_TEST_WATCHDOG_STOP=1\n' \
                >"$R/etc/systemd/system/shmboxd.service.d/watchdog-stop.conf"
        C systemctl daemon-reload
        C systemctl restart shmboxd.service
        pid=$(P shmboxd.service MainPID)
        new=$(wait_pid_change "$pid")
        chk "a daemon that stops pinging is killed and restarted (MainPID $pid -> $new, NRestarts $n0 -> $(P shmboxd.service NRestarts))" \
                eval 'has "$(journal)" "Watchdog timeout"'
        rm -f "$R/etc/systemd/system/shmboxd.service.d/watchdog-stop.conf"
        C systemctl daemon-reload
        C systemctl reset-failed shmboxd.service 2>/dev/null
        C systemctl restart shmboxd.service
        chk "without the hook it runs again" [ "$(P shmboxd.service SubState)" = running ]
        survives "after the watchdog"
else
        t "SKIP: the watchdog kill (the test hook needs --enable-crash-points)"
fi

# ---- 9. the end: a client dies, everything is destroyed, both units stop -------------------
kill -KILL $CC; wait $CC 2>/dev/null; CC=
for i in $(seq 20); do [ "$(field live attached)" = 0 ] && break; sleep 0.1; done
gap "the long-lived client, killed after the restarts, is released (attached: $(field live attached))" \
        [ "$(field live attached)" = 0 ]
for b in q1 shared live; do q ctl destroy $b; done
C systemctl stop shmboxd.socket shmboxd.service
chk "stopping both units stops it: $(state), no daemon answers" \
        eval '[ "$(state)" = inactive/inactive ] && ! q ctl list'
chk "no sanitizer report in the daemon's journal" eval '! journal | finds -e "Sanitizer" -e "runtime error:"'
t "$(journal | grep -c .) journal lines of shmboxd; what systemd said of its processes:"
C journalctl -u shmboxd.service --no-pager -o short-monotonic _PID=1 2>/dev/null |
        grep -e 'Main process exited' -e 'atchdog' -e 'Failed' -e 'Scheduled restart' | sed 's/^/    /'
if [ $failed -gt 0 ] || [ $info_failed = 1 ]; then
        t "a check or a 'shmboxctl info' failed: the daemon's journal (the last 150 lines), and the long-lived client's output:"
        C journalctl -u shmboxd.service --no-pager -o short-monotonic 2>/dev/null | tail -n 150 | sed 's/^/    /'
        sed 's/^/    cc: /' "$tmp/cc.out" | tail -n 20
fi

exit 0
