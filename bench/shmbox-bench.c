/* SPDX-License-Identifier: MIT */
/* shmbox-bench.c — shmbox against a pipe, a Unix stream socket, POSIX mq, a naive shm ring,
 * iceoryx (when built with its C binding), Boost.Interprocess's message_queue and ZeroMQ over
 * ipc:// (when built with them), and a polling SPSC ring that marks the limit, in one run.
 *
 * What it measures (issue 6), each side of every exchange in its own process:
 * - one-way throughput at 64 B, 1 KiB, 64 KiB and 1 MiB: one sender sends for a fixed time,
 *   then an end marker; the rate is the receiver's count over the time from "go" to the
 *   marker. CPU time per message of each side comes from getrusage() in the worker itself,
 *   taken at "go" and at the end, so set-up (connect, attach, map) is not counted;
 * - round-trip latency at 64 B (p50, p99, p99.9): a pinger and a ponger, pinned to two
 *   different CPUs, then both to the same CPU (sched_setaffinity); each round trip is timed;
 * - 4 senders x 4 receivers on one channel, against the 1 x 1 figure of the same run (not
 *   iceoryx: it broadcasts every message to every subscriber);
 * - the CPU time of an idle attached receiver blocked in recv (all transports at once, 10 s).
 * - scale (shmbox only): N mailboxes (--scale-mailboxes, default 1000) with N client processes
 *   attached, one per mailbox: the time to create them, attach latency p50/p99 (timed in each
 *   client), shmboxd's VmRSS/VmHWM before and with all attached, and 64 B one-way msgs/s on
 *   mailbox #0 meanwhile against a fresh single mailbox (measured before and after).
 * - bridge (bench/bridge.c, built with libnats): 64 B msgs/s and latency p50/p99 from a mailbox
 *   on host A through shmbox-bridge, JetStream and shmbox-bridge to a mailbox on host B, next to
 *   libnats alone on the same servers, with the ratio: on one nats-server on loopback, then on a
 *   three-node JetStream cluster on loopback with R3 streams. Needs shmbox-bridge
 *   (--shmbox-bridge) and nats-server (--nats-server); without either it is skipped, saying
 *   why, and that is no failure. Like scale, not part of --quick unless named.
 * - rpc (bench/rpc.c, issue 19): request/reply round trip p50/p99 at 64 B and 4 KiB of
 *   shmbox_request() (the server: shmbox_recv_request() + shmbox_reply()), a D-Bus method call
 *   with sd-bus through a private dbus-daemon that the group starts (--dbus-daemon) and stops,
 *   and ZeroMQ REQ/REP over ipc://. A row whose library or daemon is missing is skipped, saying
 *   why. Not part of --quick unless named.
 * - fanout (bench/fanout.c, issue 19): one publisher, 1, 2 and 4 subscribers, 64 B and 64 KiB:
 *   msgs/s delivered per subscriber, and the latency of paced messages, through a shmbox
 *   broadcast mailbox (when client/shmbox.h has SHMBOX_CONFIG_BROADCAST), iceoryx
 *   publish/subscribe (with the RouDi above) and ZeroMQ PUB/SUB over ipc:// (which drops what
 *   does not fit its HWM: the share delivered is reported). Not part of --quick unless named.
 * Every message is checked on arrival (message.c: sequence number, sender, length, a check word
 * and a word on each 4 KiB page), and every sender's messages must arrive exactly once and in
 * order, so nothing can be optimised away or lost silently: a failed check fails the run.
 *
 * How: the workers are forked for each measurement, open their ends (shmbox: their own
 * connection and attachment), report ready over a pipe and wait on a "go" pipe that the
 * driver closes, so all start together. Results come back through a shared anonymous page.
 * The machine this was written on switches between speed regimes within seconds, so the
 * transports are interleaved (for each figure: rep 1 of every transport, then rep 2, ...),
 * each figure is the median of --reps repetitions, and the table gives shmbox's ratio to each
 * alternative: figures from different runs should not be compared, ratios within one can. As
 * the regime can change within a run too, a row under each figure gives the least and the
 * greatest of the ratios repetition by repetition (rep i of shmbox over rep i of the other).
 *
 * It starts its own shmboxd (--shmboxd) on a temporary socket with a unique prefix and stops it
 * at the end; every object it made in /dev/shm and every queue is removed, also on SIGINT and
 * SIGTERM. As root it raises /proc/sys/fs/mqueue limits for the run and restores them; as
 * another user a queue that does not fit is reported as "(limits)".
 *
 * iceoryx (bench/iceoryx.c) needs its daemon, RouDi, which exists once per machine under fixed
 * names: the benchmark starts its own with mempools for its messages, or skips the row and says
 * why if a RouDi runs already, and stops it and removes its names and the workers' runtime files
 * (/tmp/<prefix>-iox-<pid>) at the end, also on SIGINT and SIGTERM.
 *
 * The peers of issue 17 (bench/boost-mq.cc, bench/zmqipc.c) are the queues a C or C++ team
 * looks at first; each takes part wherever its model allows (ZeroMQ: no 4x4, since PUSH sockets
 * deal round-robin to their PULLs and no queue is shared). The limit row (bench/spsc.c) is a
 * ring that polls and never sleeps: the ceiling of moving messages between two CPUs, so it is
 * in the one-way runs and the other-CPU round trips only (on one CPU a poller spins its time
 * slice away; an idle poller burns a CPU; one producer and one consumer: no 4x4). A row that
 * is not built is skipped, and the table and --json say why.
 *
 * Beside shmbox_send/shmbox_recv, two more columns show shmbox's other calls: zero-copy
 * (reserve/commit, peek/release: the sender fills the whole slot, the receiver checks it and
 * reads all of it in place, so each side still touches every byte once)
 * in the one-way and 4x4 runs, and batches (send_many/recv_many) in the one-way runs.
 *
 * --callgrind-pair N does N send+recv pairs of 64 B in one process, for callgrind's stable
 * instruction count (bench/callgrind.sh, make bench-callgrind).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <mqueue.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bridge.h"
#include "bench/fanout.h"
#include "bench/iceoryx.h"
#include "bench/message.h"
#include "bench/naive.h"
#include "bench/report.h"
#include "bench/rpc.h"
#include "bench/transport.h"
#include "bench/worker.h"
#include "client/shmbox.h"
#include "proto/util.h"

#define DEPTH 64 /* messages a channel holds (shmbox slots, mq maxmsg, naive slots) */
/* ...and at most this many bytes of them (1 MiB messages: 8). A ring that outgrows the
 * last-level cache (32 MiB on this machine type) makes every message a trip to DRAM: measured
 * at 1 MiB with 64 slots, shmbox 16.0 GB/s, zero-copy 20.3 GB/s; with 8 slots 37.3 and 67.2.
 * A user sizes a mailbox of large messages to fit, and so does the benchmark, for every ring
 * alike (shmbox, the naive ring, iceoryx's queue). */
#define DEPTH_BYTES (8u << 20)
#define MPMC_N 4 /* 4 senders x 4 receivers */
#define RTT_SIZE 64
#define REPS_MAX 25
#define MAX_MAILBOX_BYTES "4294967296"
#define NSEC INT64_C(1000000000)
#define DIR_DEPTH 12 /* of the temporary directory: the bridge group's nats-server store nests deep */

/* --- command line ------------------------------------------------------------------------- */

enum {
        GROUP_TPUT = 1 << 0,
        GROUP_RTT = 1 << 1,
        GROUP_MPMC = 1 << 2,
        GROUP_IDLE = 1 << 3,
        GROUP_SCALE = 1 << 4,
        GROUP_BRIDGE = 1 << 5,
        GROUP_RPC = 1 << 6,
        GROUP_FANOUT = 1 << 7,
        GROUP_ALL = 0xff,
};

static const char *const group_names[] = {
        "throughput", "latency", "mpmc", "idle", "scale", "bridge", "rpc", "fanout"
};

static const char *arg_shmboxd;
static bool arg_json;
static bool arg_quick;
static unsigned arg_reps = 5;
static unsigned arg_duration_ms = 300; /* per throughput and 4x4 measurement */
static unsigned arg_rtt_ms = 500;      /* per latency measurement */
static unsigned arg_idle_s = 10;
static unsigned arg_scale_n = 1000; /* mailboxes and attached clients of the scale group */
/* the bridge group: its programs (default: the build tree's bridge; nats-server from PATH), and
 * messages per throughput run */
static const char *arg_bridge, *arg_nats_server;
static unsigned arg_bridge_n = 20000;
static const char *arg_dbus_daemon = DBUS_DAEMON_PATH; /* the rpc group's private bus */
static bool arg_sdbus;                                 /* --only named sdbus (the rpc group's row) */
static char arg_prefix[33];
static int arg_spin_us = -1;
static int arg_cpu[2] = { -1, -1 };
static unsigned long arg_callgrind_pairs;
static bool arg_transport[_TRANSPORT_MAX];
static unsigned arg_groups;
static bool arg_size[REPORT_SIZES] = { true, true, true, true };

/* --- what an interrupted run must undo ----------------------------------------------------- */

/*
 * What the SIGINT/SIGTERM handler must undo when a run is cut short — worker and daemon
 * processes, raised mq limits, the temporary directory, the objects of our prefix. A global
 * because a signal handler can reach nothing else; the handler uses only async-signal-safe
 * calls (kill, waitpid, open, read, write, getdents64, unlink), and each field is complete
 * before it is published. (The other file-scope state is the run's settings and results,
 * below the measurements' heading.)
 */
static struct {
        volatile pid_t workers[WORKERS_MAX];
        volatile pid_t daemon;
        volatile pid_t scale_pgid; /* the scale group's clients, one process group */
        volatile pid_t roudi;      /* iceoryx's RouDi, when we started it */
        /* the bridge group's nats-server, host B's shmboxd and two bridges */
        volatile pid_t bridge[BRIDGE_BENCH_PROCS];
        /* the rpc group's server, client and dbus-daemon */
        volatile pid_t rpc[RPC_BENCH_PROCS];
        /* the fan-out group's publisher and subscribers */
        volatile pid_t fanout[FANOUT_BENCH_PROCS];
        char dir[128];
        char prefix[33];
        bool mq_raised[2];
        char mq_saved[2][24], mq_wrote[2][24];
} undo;

static const char *const mq_limit_files[2] = { "/proc/sys/fs/mqueue/msg_max", "/proc/sys/fs/mqueue/msgsize_max" };

/* --- small helpers ------------------------------------------------------------------------- */

static void msleep(int ms) {
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static size_t strlcpy_(char *dst, const char *src, size_t size) {
        size_t n = strlen(src);

        if (size) {
                size_t k = n < size - 1 ? n : size - 1;
                memcpy(dst, src, k);
                dst[k] = '\0';
        }
        return n;
}

/* Async-signal-safe: write a string to stderr. */
static void say(const char *s) {
        (void)!write(STDERR_FILENO, s, strlen(s));
}

/* Is @entry (a name in /dev/shm) one of ours: "<prefix>." or "<prefix>-", also as "sem.*"? */
static bool ours(const char *entry, const char *prefix) {
        size_t n = strlen(prefix);

        if (strncmp(entry, "sem.", 4) == 0)
                entry += 4;
        return strncmp(entry, prefix, n) == 0 && (entry[n] == '.' || entry[n] == '-');
}

/*
 * Remove the entries of @dir that are ours() for @prefix (NULL: all), and with @depth > 0 the
 * contents of subdirectories too; async-signal-safe (getdents64, not readdir). Returns how
 * many entries it removed.
 */
static unsigned sweep(const char *dir, const char *prefix, int depth) {
        char buf[4096];
        unsigned n = 0;
        long got;
        int fd;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        while ((got = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
                for (long off = 0; off < got;) {
                        struct {
                                uint64_t ino;
                                int64_t off;
                                unsigned short reclen;
                                unsigned char type;
                                char name[];
                        } *d = (void *)(buf + off);

                        off += d->reclen;
                        if (!strcmp(d->name, ".") || !strcmp(d->name, ".."))
                                continue;
                        if (prefix && !ours(d->name, prefix))
                                continue;
                        if (d->type == DT_DIR && depth > 0) {
                                char sub[256];
                                size_t k = strlcpy_(sub, dir, sizeof(sub));

                                if (k + 1 + strlen(d->name) < sizeof(sub)) {
                                        sub[k] = '/';
                                        strlcpy_(sub + k + 1, d->name, sizeof(sub) - k - 1);
                                        n += sweep(sub, NULL, depth - 1);
                                }
                                if (unlinkat(fd, d->name, AT_REMOVEDIR) == 0)
                                        n++;
                        } else if (unlinkat(fd, d->name, 0) == 0)
                                n++;
                }
        }
        close(fd);
        return n;
}

static void mq_unlink_ours(const char *prefix) {
        char name[64];

        for (unsigned k = 0; k < 2; k++) {
                snprintf(name, sizeof(name), "/%s-mq%u", prefix, k);
                (void)mq_unlink(name);
        }
}

static int write_file(const char *path, const char *value) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = write(fd, value, strlen(value));
        close(fd);
        return n == (ssize_t)strlen(value) ? 0 : -EIO;
}

/* Put back what mq_limits_prepare() raised, unless someone changed it since (then it is theirs:
 * e.g. a second benchmark running meanwhile). */
static void mq_limits_restore(void) {
        char cur[24];

        for (unsigned i = 0; i < 2; i++) {
                if (!undo.mq_raised[i])
                        continue;
                undo.mq_raised[i] = false;
                int fd = open(mq_limit_files[i], O_RDONLY | O_CLOEXEC);
                ssize_t n = fd >= 0 ? read(fd, cur, sizeof(cur) - 1) : -1;

                if (fd >= 0)
                        close(fd);
                if (n <= 0)
                        continue;
                cur[n] = '\0';
                if (strncmp(cur, undo.mq_wrote[i], strlen(undo.mq_wrote[i])) == 0)
                        (void)write_file(mq_limit_files[i], undo.mq_saved[i]);
        }
}

static void on_signal(int sig) {
        int status;

        for (unsigned i = 0; i < WORKERS_MAX; i++)
                if (undo.workers[i] > 0) {
                        kill(undo.workers[i], SIGKILL);
                        waitpid(undo.workers[i], &status, 0);
                }
        if (undo.scale_pgid > 0)
                kill(-undo.scale_pgid, SIGKILL);
        for (unsigned i = 0; i < BRIDGE_BENCH_PROCS; i++)
                if (undo.bridge[i] > 0) {
                        kill(undo.bridge[i], SIGKILL);
                        waitpid(undo.bridge[i], &status, 0);
                }
        for (unsigned i = 0; i < FANOUT_BENCH_PROCS; i++)
                if (undo.fanout[i] > 0) {
                        kill(undo.fanout[i], SIGKILL);
                        waitpid(undo.fanout[i], &status, 0);
                }
        for (unsigned i = 0; i < RPC_BENCH_PROCS; i++)
                if (undo.rpc[i] > 0) {
                        kill(undo.rpc[i], SIGKILL);
                        waitpid(undo.rpc[i], &status, 0);
                }
        if (undo.daemon > 0) {
                kill(undo.daemon, SIGKILL);
                waitpid(undo.daemon, &status, 0);
        }
        if (undo.roudi > 0)
                iceoryx_roudi_kill(undo.roudi);
        mq_limits_restore();
        if (undo.prefix[0]) {
                sweep("/dev/shm", undo.prefix, 0);
                /* the iceoryx runtimes' sockets and locks, "<prefix>-iox-<pid>[.lock]" */
                char iox[48];
                size_t n = strlcpy_(iox, undo.prefix, sizeof(iox) - sizeof(ICEORYX_RUNTIME_TAG));
                memcpy(iox + n, ICEORYX_RUNTIME_TAG, sizeof(ICEORYX_RUNTIME_TAG));
                sweep("/tmp", iox, 0);
                /* mq_unlink is a plain system call in glibc */
                char name[64] = "/";
                size_t k = strlcpy_(name + 1, undo.prefix, sizeof(name) - 8) + 1;
                for (unsigned q = 0; q < 2; q++) {
                        memcpy(name + k, q ? "-mq1" : "-mq0", 5);
                        (void)mq_unlink(name);
                }
        }
        if (undo.dir[0]) {
                sweep(undo.dir, NULL, DIR_DEPTH);
                rmdir(undo.dir);
        }
        say("shmbox-bench: interrupted; cleaned up\n");
        _exit(128 + sig);
}

/* --- the daemon ---------------------------------------------------------------------------- */

static char daemon_socket[160], daemon_log[160];

static void print_daemon_log(void) {
        char buf[4096];
        FILE *f = fopen(daemon_log, "re");
        size_t n;

        if (!f)
                return;
        fprintf(stderr, "---- shmboxd log ----\n");
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                fwrite(buf, 1, n, stderr);
        fprintf(stderr, "---- end of log ----\n");
        fclose(f);
}

/* Start shmboxd on a temporary socket with our prefix; 0 once a client can connect. */
static int daemon_start(void) {
        const char *tmp = getenv("TMPDIR");
        char state[160], config[160], *argv[20];
        FILE *f;
        int n = 0, status;
        pid_t pid;

        snprintf(undo.dir, sizeof(undo.dir), "%s/shmboxbench.XXXXXX", tmp && *tmp && strlen(tmp) < 60 ? tmp : "/tmp");
        if (!mkdtemp(undo.dir)) {
                fprintf(stderr, "shmbox-bench: mkdtemp %s: %m\n", undo.dir);
                undo.dir[0] = '\0';
                return -errno;
        }
        snprintf(daemon_socket, sizeof(daemon_socket), "%s/sock", undo.dir);
        snprintf(state, sizeof(state), "%s/state", undo.dir);
        snprintf(daemon_log, sizeof(daemon_log), "%s/shmboxd.log", undo.dir);
        /* our own limits, not /etc's: room for the scale group's mailboxes, also for a non-root
         * user's quota */
        snprintf(config, sizeof(config), "%s/shmboxd.conf", undo.dir);
        f = fopen(config, "we");
        if (f) {
                fprintf(f, "[limits]\nmax-mailboxes = 1024\nmax-mailboxes-per-uid = 1024\n"
                           "max-bytes-per-uid = 17179869184\nmax-total-bytes = 17179869184\n");
                fclose(f);
        }

        argv[n++] = (char *)arg_shmboxd;
        argv[n++] = (char *)"--socket";
        argv[n++] = daemon_socket;
        argv[n++] = (char *)"--prefix";
        argv[n++] = arg_prefix;
        argv[n++] = (char *)"--state-dir";
        argv[n++] = state;
        argv[n++] = (char *)"--max-mailbox-bytes";
        argv[n++] = (char *)MAX_MAILBOX_BYTES;
        if (f) {
                argv[n++] = (char *)"--config";
                argv[n++] = config;
        }
        argv[n++] = (char *)"--log-level";
        argv[n++] = (char *)"warning";
        argv[n] = NULL;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                exec_service(argv, daemon_log, SIGTERM);
        undo.daemon = pid;

        for (int64_t deadline = now_ns() + 10 * NSEC;;) {
                shmbox_client *c;

                if (shmbox_connect(daemon_socket, &c) == 0) {
                        shmbox_disconnect(c);
                        return 0;
                }
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        undo.daemon = 0;
                        fprintf(stderr, "shmbox-bench: shmboxd (%s) exited during start-up\n", arg_shmboxd);
                        print_daemon_log();
                        return -ECHILD;
                }
                if (now_ns() > deadline) {
                        fprintf(stderr, "shmbox-bench: shmboxd did not come up within 10 s\n");
                        print_daemon_log();
                        return -ETIMEDOUT;
                }
                msleep(5);
        }
}

/* Stop the daemon (SIGTERM, then SIGKILL after 10 s), remove the temporary directory, and
 * sweep /dev/shm. Returns how many objects of ours were left there (an error of ours). */
static unsigned daemon_stop(void) {
        unsigned left;
        int status = 0;

        if (undo.daemon > 0) {
                pid_t pid = undo.daemon;

                kill(pid, SIGTERM);
                for (int64_t deadline = now_ns() + 10 * NSEC;;) {
                        if (waitpid(pid, &status, WNOHANG) == pid)
                                break;
                        if (now_ns() > deadline) {
                                fprintf(stderr, "shmbox-bench: shmboxd ignored SIGTERM; killing it\n");
                                kill(pid, SIGKILL);
                                waitpid(pid, &status, 0);
                                break;
                        }
                        msleep(5);
                }
                undo.daemon = 0;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        fprintf(stderr, "shmbox-bench: shmboxd exited with status 0x%x\n", status);
                        print_daemon_log();
                }
        }
        left = sweep("/dev/shm", arg_prefix, 0);
        if (left)
                fprintf(stderr, "shmbox-bench: removed %u object(s) of prefix %s left in /dev/shm\n", left, arg_prefix);
        mq_unlink_ours(arg_prefix);
        if (undo.dir[0]) {
                sweep(undo.dir, NULL, DIR_DEPTH);
                rmdir(undo.dir);
                undo.dir[0] = '\0';
        }
        return left;
}

/* --- the measurements ------------------------------------------------------------------------ */

static TransportEnv env;
static unsigned mq_depth = DEPTH;            /* asked for: DEPTH, or msg_max if lower */
static unsigned mq_depth_used[REPORT_SIZES]; /* got: fewer where RLIMIT_MSGQUEUE is tight */
static const char *mq_limits = "fs.mqueue sysctls as they are: not root";
static int cpus[2] = { -1, -1 }; /* the CPUs round trips are pinned to */
static unsigned failures;
static bool iceoryx_up;                     /* our RouDi runs: the iceoryx row is measured */
static const char *iceoryx_note;            /* why the iceoryx row is missing, for the legend */
static char iceoryx_why[200];               /* iceoryx_note's text when made at run time */
static const char *missing[_TRANSPORT_MAX]; /* why a row asked for is not built (boost, zmq) */
static int64_t iceoryx_quiet_since;         /* when the last iceoryx worker ended */

static unsigned size_index(size_t size) {
        for (unsigned i = 0; i < REPORT_SIZES; i++)
                if (report_sizes[i] == size)
                        return i;
        return 0;
}

static void progress(const char *what, TransportId t, unsigned rep) {
        if (!arg_json && isatty(STDERR_FILENO))
                fprintf(stderr, "\r\033[K%s: %s, rep %u/%u", what, transport_name(t), rep + 1, arg_reps);
}

static void note_all(const unsigned *fs, unsigned n, TransportId t, Note note) {
        for (unsigned i = 0; i < n; i++)
                report_note(fs[i], t, note);
}

/* The messages of @size a channel holds: DEPTH, or fewer where they exceed DEPTH_BYTES. */
static unsigned depth_for(size_t size) {
        return (unsigned)MAX((size_t)1, MIN((size_t)DEPTH, DEPTH_BYTES / MAX(size, (size_t)1)));
}

/* Create @n channels of @t for messages of @size; if that fails, note it on the figures @fs. */
static int make_channels(TransportId t, unsigned n, size_t size, Channel **ch, const unsigned *fs, unsigned nfs) {
        for (unsigned k = 0; k < n; k++) {
                int r = channel_new(t, &env, k, size, t == TRANSPORT_MQ ? mq_depth : depth_for(size), &ch[k]);

                if (r < 0) {
                        for (unsigned j = 0; j < k; j++)
                                ch[j] = channel_free(ch[j]);
                        note_all(fs, nfs, t, r == -EDQUOT ? NOTE_LIMITS : NOTE_ERROR);
                        if (r != -EDQUOT) {
                                fprintf(stderr, "shmbox-bench: %s, %s: cannot create a channel: %s\n",
                                        transport_name(t), report_size_name(size_index(size)), strerror(-r));
                                failures++;
                        }
                        return r;
                }
                if (t == TRANSPORT_MQ) {
                        unsigned *d = &mq_depth_used[size_index(size)];

                        *d = *d ? MIN(*d, channel_depth(ch[k])) : channel_depth(ch[k]);
                }
        }
        return 0;
}

static int run(Run *r, RunResult *ret) {
        int k;

        r->env = &env;
        k = run_workers(r, undo.workers, ret);
        for (unsigned i = 0; i < r->n; i++)
                if (channel_transport(r->w[i].in ? r->w[i].in : r->w[i].out) == TRANSPORT_ICEORYX)
                        iceoryx_quiet_since = now_ns();
        return k;
}

/* One sender, one receiver, messages of sizes[si] for the duration. */
static void measure_tput(unsigned si, TransportId t) {
        const unsigned fs[] = { FIG_TPUT_MSGS + si, FIG_TPUT_MBS + si, FIG_CPU_SEND + si, FIG_CPU_RECV + si };
        size_t size = report_sizes[si];
        Channel *ch = NULL;
        char what[64];
        RunResult res;
        Run r = { .what = what, .n = 2, .size = size, .senders = 1, .duration_ns = (int64_t)arg_duration_ms * 1000000 };

        /* The limit row polls: it is the ceiling of two CPUs passing lines, so its two sides are
         * pinned to two CPUs (the round trips'), where the scheduler could put two spinners on one
         * and make each wait out the other's time slice. The others block, and are not pinned. */
        bool pin = t == TRANSPORT_SPSC;

        if (pin && cpus[1] < 0) {
                note_all(fs, ELEMENTSOF(fs), t, NOTE_ONE_CPU);
                return;
        }
        if (make_channels(t, 1, size, &ch, fs, ELEMENTSOF(fs)) < 0)
                return;
        r.w[0] = (Worker){ .role = ROLE_RECV, .in = ch, .cpu = pin ? cpus[1] : -1 };
        r.w[1] = (Worker){ .role = ROLE_SEND, .out = ch, .id = 0, .cpu = pin ? cpus[0] : -1 };
        snprintf(what, sizeof(what), "%s, %s one-way", transport_name(t), report_size_name(si));
        if (run(&r, &res) == 0) {
                const WorkerOut *rx = &res.out[0], *tx = &res.out[1];
                double secs = (double)(rx->end_ns - res.go_ns) / 1e9;

                if (tx->msgs == rx->msgs && rx->msgs > 0) {
                        report_add(fs[0], t, (double)rx->msgs / secs);
                        report_add(fs[1], t, (double)rx->msgs * (double)size / secs / 1e6);
                        report_add(fs[2], t, (double)tx->cpu_ns / (double)tx->msgs);
                        report_add(fs[3], t, (double)rx->cpu_ns / (double)rx->msgs);
                        channel_free(ch);
                        return;
                }
                fprintf(stderr, "shmbox-bench: %s: sent %" PRIu64 ", received %" PRIu64 "\n", what, tx->msgs, rx->msgs);
        }
        failures++;
        note_all(fs, ELEMENTSOF(fs), t, NOTE_ERROR);
        channel_free(ch);
}

/* 4 senders and 4 receivers on one channel; every message must arrive exactly once. */
static void measure_mpmc(TransportId t) {
        const unsigned fs[] = { FIG_MPMC };
        Channel *ch = NULL;
        uint64_t total = 0;
        int64_t end = 0;
        char what[64];
        RunResult res;
        Run r = { .what = what,
                  .n = 2 * MPMC_N,
                  .size = 64,
                  .senders = MPMC_N,
                  .duration_ns = (int64_t)arg_duration_ms * 1000000 };

        if (make_channels(t, 1, r.size, &ch, fs, 1) < 0)
                return;
        for (unsigned i = 0; i < MPMC_N; i++) {
                r.w[i] = (Worker){ .role = ROLE_RECV, .in = ch, .cpu = -1 };
                r.w[MPMC_N + i] = (Worker){ .role = ROLE_SEND, .out = ch, .id = i, .cpu = -1 };
        }
        snprintf(what, sizeof(what), "%s, 4x4", transport_name(t));
        if (run(&r, &res) < 0)
                goto fail;
        for (unsigned s = 0; s < MPMC_N; s++) {
                uint64_t n = res.out[MPMC_N + s].msgs, count = 0, sum = 0;

                for (unsigned i = 0; i < MPMC_N; i++) {
                        count += res.out[i].count[s];
                        sum += res.out[i].seqsum[s];
                }
                if (count != n || sum != (n ? n * (n - 1) / 2 : 0)) {
                        fprintf(stderr,
                                "shmbox-bench: %s: sender %u sent %" PRIu64 ", the receivers got %" PRIu64
                                " (or not each one once)\n",
                                what, s, n, count);
                        goto fail;
                }
                total += n;
        }
        for (unsigned i = 0; i < MPMC_N; i++)
                end = MAX(end, res.out[i].end_ns);
        report_add(FIG_MPMC, t, (double)total / ((double)(end - res.go_ns) / 1e9));
        channel_free(ch);
        return;
fail:
        failures++;
        report_note(FIG_MPMC, t, NOTE_ERROR);
        channel_free(ch);
}

/* Ping-pong of 64 B between two processes pinned to two CPUs, or both to one. */
static void measure_rtt(bool same_cpu, TransportId t) {
        unsigned base = same_cpu ? FIG_RTT_SAME : FIG_RTT_OTHER;
        const unsigned fs[] = { base, base + 1, base + 2 };
        Channel *ch[2] = {};
        char what[64];
        RunResult res;
        Run r = { .what = what,
                  .n = 2,
                  .size = RTT_SIZE,
                  .senders = 1,
                  .duration_ns = (int64_t)arg_rtt_ms * 1000000,
                  .warmup = arg_quick ? 20 : 200,
                  .min_samples = arg_quick ? 200 : 2000 };

        if (!same_cpu && cpus[1] < 0) {
                note_all(fs, 3, t, NOTE_ONE_CPU);
                return;
        }
        if (same_cpu && t == TRANSPORT_SPSC)
                return; /* a poller on the CPU its peer needs spins its time slice away: not a figure */
        if (make_channels(t, 2, RTT_SIZE, ch, fs, 3) < 0)
                return;
        /* ch[0] carries the pings, ch[1] the echoes */
        r.w[0] = (Worker){ .role = ROLE_PONG, .in = ch[0], .out = ch[1], .cpu = same_cpu ? cpus[0] : cpus[1] };
        r.w[1] = (Worker){ .role = ROLE_PING, .out = ch[0], .in = ch[1], .cpu = cpus[0] };
        snprintf(what, sizeof(what), "%s, round trip, %s CPU", transport_name(t), same_cpu ? "same" : "other");
        if (run(&r, &res) == 0) {
                report_add(fs[0], t, res.out[1].p50_us);
                report_add(fs[1], t, res.out[1].p99_us);
                report_add(fs[2], t, res.out[1].p999_us);
        } else {
                failures++;
                note_all(fs, 3, t, NOTE_ERROR);
        }
        channel_free(ch[0]);
        channel_free(ch[1]);
}

/* Every transport's idle receiver at once: they sleep, so they do not disturb each other. */
static void measure_idle(const bool *which) {
        const unsigned fs[] = { FIG_IDLE };
        Channel *ch[_TRANSPORT_MAX] = {};
        TransportId of[WORKERS_MAX];
        RunResult res;
        Run r = { .what = "idle receivers", .size = 64, .senders = 1, .duration_ns = (int64_t)arg_idle_s * NSEC };

        for (unsigned t = 0; t < _TRANSPORT_MAX && r.n < WORKERS_MAX; t++) {
                if (!which[t] || make_channels(t, 1, r.size, &ch[t], fs, 1) < 0)
                        continue;
                of[r.n] = t;
                r.w[r.n++] = (Worker){ .role = ROLE_IDLE, .in = ch[t], .cpu = -1 };
        }
        if (r.n > 0) {
                if (!arg_json && isatty(STDERR_FILENO))
                        fprintf(stderr, "\r\033[Kidle receivers, %u s", arg_idle_s);
                if (run(&r, &res) == 0)
                        for (unsigned i = 0; i < r.n; i++)
                                report_add(FIG_IDLE, of[i], (double)res.out[i].cpu_ns / 1e3);
                else {
                        failures++;
                        for (unsigned i = 0; i < r.n; i++)
                                report_note(FIG_IDLE, of[i], NOTE_ERROR);
                }
        }
        for (unsigned t = 0; t < _TRANSPORT_MAX; t++)
                channel_free(ch[t]);
}

/* --- the scale group: one daemon, N mailboxes, N attached clients ---------------------------- */

#define SCALE_MAX 1023 /* max-mailboxes is 1024: one more for the fresh mailbox */

typedef struct ScaleSlot {
        int err;
        int64_t attach_ns;
} ScaleSlot;

static ReportScale scale_result;
static bool scale_ran;

/* A "Key:   123 kB" line of /proc/<pid>/status, in KiB; -1 if not there. */
static long proc_status_kb(pid_t pid, const char *key) {
        char path[64], line[256];
        size_t n = strlen(key);
        long v = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, key, n) == 0 && line[n] == ':') {
                        v = strtol(line + n + 1, NULL, 10);
                        break;
                }
        fclose(f);
        return v;
}

/* How many objects of our prefix /dev/shm holds now. */
static unsigned shm_count(void) {
        unsigned n = 0;
        struct dirent *d;
        DIR *dir = opendir("/dev/shm");

        if (!dir)
                return 0;
        while ((d = readdir(dir)))
                if (ours(d->d_name, arg_prefix))
                        n++;
        closedir(dir);
        return n;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* 64 B one-way, one sender and one receiver on @ch: msgs/s, or -1 (a failure, counted). */
static double oneway64(Channel *ch, const char *what) {
        RunResult res;
        Run r = { .what = what, .n = 2, .size = 64, .senders = 1, .duration_ns = (int64_t)arg_duration_ms * 1000000 };

        r.w[0] = (Worker){ .role = ROLE_RECV, .in = ch, .cpu = -1 };
        r.w[1] = (Worker){ .role = ROLE_SEND, .out = ch, .id = 0, .cpu = -1 };
        if (run(&r, &res) == 0 && res.out[1].msgs == res.out[0].msgs && res.out[0].msgs > 0)
                return (double)res.out[0].msgs / ((double)(res.out[0].end_ns - res.go_ns) / 1e9);
        fprintf(stderr, "shmbox-bench: %s: failed\n", what);
        failures++;
        return -1;
}

/* @reps one-way runs, each on a freshly created mailbox (the N+1st name), into @v. */
static void scale_fresh(double *v, unsigned *nv) {
        for (unsigned rep = 0; rep < arg_reps; rep++) {
                Channel *ch = NULL;
                int r = channel_new(TRANSPORT_SHMBOX, &env, arg_scale_n, 64, DEPTH, &ch);
                double x;

                if (r < 0) {
                        fprintf(stderr, "shmbox-bench: scale: cannot create the fresh mailbox: %s\n", strerror(-r));
                        failures++;
                        return;
                }
                x = oneway64(ch, "scale, 64 B one-way, fresh mailbox");
                if (x > 0)
                        v[(*nv)++] = x;
                channel_free(ch);
        }
}

/* One attached client: connect, attach (timed), report, wait for the release pipe's EOF. */
static _Noreturn void scale_client(const char *name, int ready_w, int release_r, ScaleSlot *slot) {
        shmbox_client *c = NULL;
        shmbox *box = NULL;
        char b;
        int r;

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        r = shmbox_connect(daemon_socket, &c);
        if (r == 0) {
                int64_t t0 = now_ns();
                r = shmbox_attach(c, name, &box);
                slot->attach_ns = now_ns() - t0;
        }
        slot->err = r;
        (void)!write(ready_w, "x", 1);
        while (read(release_r, &b, 1) < 0 && errno == EINTR)
                ;
        shmbox_detach(box);
        shmbox_disconnect(c);
        _exit(r < 0);
}

static void measure_scale(void) {
        const unsigned n = arg_scale_n;
        static double fresh[2 * REPS_MAX], loaded[REPS_MAX];
        unsigned nf = 0, nl = 0, made = 0, started = 0, got = 0, ok = 0, shm_before;
        int ready[2] = { -1, -1 }, release[2] = { -1, -1 };
        ReportScale *sc = &scale_result;
        Channel **ch = calloc(n, sizeof(*ch));
        pid_t *pids = calloc(n, sizeof(*pids)), pgid = 0;
        double *lat = calloc(n, sizeof(*lat));
        ScaleSlot *slots;
        struct rlimit nofile;
        int64_t t0;

        *sc = (ReportScale){ .mailboxes = n };
        scale_ran = true;
        slots = mmap(NULL, n * sizeof(*slots), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (!ch || !pids || !lat || slots == MAP_FAILED) {
                fprintf(stderr, "shmbox-bench: scale: out of memory\n");
                failures++;
                slots = NULL;
                goto out;
        }
        /* the clients' fds are their own, but leave room for whatever the library keeps */
        if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
                nofile.rlim_cur = nofile.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &nofile);
        }

        if (!arg_json && isatty(STDERR_FILENO))
                fprintf(stderr, "\r\033[Kscale: fresh mailbox");
        scale_fresh(fresh, &nf);
        shm_before = shm_count();
        sc->rss_before_kb = proc_status_kb(undo.daemon, "VmRSS");
        sc->hwm_before_kb = proc_status_kb(undo.daemon, "VmHWM");

        if (!arg_json && isatty(STDERR_FILENO))
                fprintf(stderr, "\r\033[Kscale: creating %u mailboxes", n);
        t0 = now_ns();
        for (; made < n; made++) {
                int r = channel_new(TRANSPORT_SHMBOX, &env, made, 64, DEPTH, &ch[made]);

                if (r < 0) {
                        fprintf(stderr, "shmbox-bench: scale: creating mailbox %u of %u: %s\n", made + 1, n,
                                strerror(-r));
                        failures++;
                        goto release;
                }
        }
        sc->create_ms = (double)(now_ns() - t0) / 1e6;

        if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(release, O_CLOEXEC) < 0) {
                fprintf(stderr, "shmbox-bench: scale: pipe: %m\n");
                failures++;
                goto release;
        }
        if (!arg_json && isatty(STDERR_FILENO))
                fprintf(stderr, "\r\033[Kscale: attaching %u clients", n);
        t0 = now_ns();
        for (; started < n; started++) {
                pid_t pid = fork();

                if (pid < 0) {
                        fprintf(stderr, "shmbox-bench: scale: fork (client %u): %m\n", started + 1);
                        failures++;
                        break;
                }
                if (pid == 0) {
                        close(ready[0]);
                        close(release[1]);
                        setpgid(0, pgid);
                        scale_client(channel_name(ch[started]), ready[1], release[0], &slots[started]);
                }
                if (!pgid)
                        pgid = pid;
                setpgid(pid, pgid);
                undo.scale_pgid = pgid;
                pids[started] = pid;
        }
        ready[1] = safe_close(ready[1]);
        release[0] = safe_close(release[0]);
        for (int64_t deadline = now_ns() + 60 * NSEC; got < started;) {
                char buf[256];
                struct pollfd p = { ready[0], POLLIN, 0 };
                int64_t left = deadline - now_ns();
                ssize_t k;

                if (left <= 0 || poll(&p, 1, (int)(left / 1000000) + 1) <= 0)
                        break;
                k = read(ready[0], buf, MIN(sizeof(buf), (size_t)(started - got)));
                if (k <= 0)
                        break;
                got += (unsigned)k;
        }
        sc->all_attached_ms = (double)(now_ns() - t0) / 1e6;
        for (unsigned k = 0; k < started; k++)
                if (slots[k].err == 0 && slots[k].attach_ns > 0)
                        lat[ok++] = (double)slots[k].attach_ns / 1e3;
        sc->attached = ok;
        if (got < n || ok < n) {
                fprintf(stderr, "shmbox-bench: scale: %u of %u clients attached", ok, n);
                for (unsigned k = 0; k < started; k++)
                        if (slots[k].err < 0) {
                                fprintf(stderr, " (client %u: %s)", k, shmbox_strerror(slots[k].err));
                                break;
                        }
                fprintf(stderr, "\n");
                failures++;
        }
        if (ok) {
                qsort(lat, ok, sizeof(*lat), cmp_double);
                sc->attach_p50_us = lat[(ok - 1) / 2];
                sc->attach_p99_us = lat[(size_t)ceil(0.99 * ok) - 1];
        }
        sc->rss_with_kb = proc_status_kb(undo.daemon, "VmRSS");
        sc->hwm_with_kb = proc_status_kb(undo.daemon, "VmHWM");

        if (got == n && ok == n)
                for (unsigned rep = 0; rep < arg_reps; rep++) {
                        if (!arg_json && isatty(STDERR_FILENO))
                                fprintf(stderr, "\r\033[Kscale: 64 B one-way with %u attached, rep %u/%u", n, rep + 1,
                                        arg_reps);
                        double x = oneway64(ch[0], "scale, 64 B one-way, mailbox #0 with all attached");
                        if (x > 0)
                                loaded[nl++] = x;
                }

release:
        /* every client detaches, disconnects and exits on the release pipe's EOF */
        release[1] = safe_close(release[1]);
        release[0] = safe_close(release[0]);
        ready[0] = safe_close(ready[0]);
        ready[1] = safe_close(ready[1]);
        for (unsigned k = 0; k < started; k++) {
                int status;

                if (waitpid(pids[k], &status, 0) == pids[k] && !(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
                    slots[k].err == 0) {
                        fprintf(stderr, "shmbox-bench: scale: client %u ended with status 0x%x\n", k, status);
                        failures++;
                }
        }
        undo.scale_pgid = 0;
        for (unsigned k = 0; k < made; k++)
                ch[k] = channel_free(ch[k]);
        if (made == n) {
                if (!arg_json && isatty(STDERR_FILENO))
                        fprintf(stderr, "\r\033[Kscale: fresh mailbox again");
                scale_fresh(fresh, &nf); /* before and after: the machine's speed drifts */
                sc->left_in_shm = shm_count();
                sc->left_in_shm = sc->left_in_shm > shm_before ? sc->left_in_shm - shm_before : 0;
                if (sc->left_in_shm) {
                        fprintf(stderr, "shmbox-bench: scale: %u object(s) left in /dev/shm after clean-up\n",
                                sc->left_in_shm);
                        failures++;
                }
        }
        sc->msgs_fresh = report_median(fresh, nf);
        sc->msgs_loaded = report_median(loaded, nl);
out:
        if (slots)
                munmap(slots, n * sizeof(*slots));
        free(lat);
        free(pids);
        free(ch);
}

/* --- the bridge group: through shmbox-bridge and JetStream, next to libnats (bench/bridge.c) --- */

static ReportBridge bridge_result;
static bool bridge_ran;

static void measure_bridge(void) {
        bridge_ran = true;
#ifdef HAVE_LIBNATS
        BridgeBenchEnv e = {
                .bridge = arg_bridge,
                .nats_server = arg_nats_server,
                .shmboxd = arg_shmboxd,
                .socket_a = daemon_socket,
                .prefix = arg_prefix,
                .dir = undo.dir,
                .reps = arg_reps,
                .messages = arg_bridge_n,
                .pings = MIN(400u, MAX(50u, arg_bridge_n / 50)),
                .progress = !arg_json && isatty(STDERR_FILENO),
                .track = undo.bridge,
        };

        if (e.progress)
                fprintf(stderr, "\r\033[Kbridge: starting a second shmboxd");
        if (bridge_bench_run(&e, &bridge_result) < 0)
                failures++;
#else
        snprintf(bridge_result.skipped, sizeof(bridge_result.skipped),
                 "this shmbox-bench was built without libnats (Debian: libnats-dev, then configure again)");
        fprintf(stderr, "shmbox-bench: bridge group SKIPPED: %s\n", bridge_result.skipped);
#endif
}

/* --- the rpc group: request/reply round trips (bench/rpc.c) ---------------------------------- */

static ReportRpc rpc_result;
static bool rpc_ran;

static void measure_rpc(void) {
        RpcBenchEnv e = {
                .socket = daemon_socket,
                .dir = undo.dir,
                .dbus_daemon = arg_dbus_daemon,
                .want = { [RPC_SHMBOX] = arg_transport[TRANSPORT_SHMBOX],
                          [RPC_SDBUS] = arg_sdbus,
                          [RPC_ZMQ] = arg_transport[TRANSPORT_ZMQ] },
                .reps = arg_reps,
                .duration_ms = arg_rtt_ms,
                .cpus = { cpus[0], cpus[1] },
                .progress = !arg_json && isatty(STDERR_FILENO),
                .track = undo.rpc,
        };

        rpc_ran = true;
        if (rpc_bench_run(&e, &rpc_result) < 0)
                failures++;
}

/* --- the fan-out group: one publisher, 1, 2 and 4 subscribers (bench/fanout.c) ------------- */

static ReportFanout fanout_result;
static bool fanout_ran;

static void measure_fanout(void) {
        FanoutBenchEnv e = {
                .socket = daemon_socket,
                .prefix = arg_prefix,
                .dir = undo.dir,
                .want = { [FAN_SHMBOX] = arg_transport[TRANSPORT_SHMBOX],
                          [FAN_ICEORYX] = arg_transport[TRANSPORT_ICEORYX],
                          [FAN_ZMQ] = arg_transport[TRANSPORT_ZMQ] },
                .iceoryx_no = iceoryx_up     ? NULL
                              : iceoryx_note ? iceoryx_note
                                             : "not run: no RouDi of this run",
                .reps = arg_reps,
                .duration_ms = arg_duration_ms,
                .latency_ms = arg_rtt_ms,
                .progress = !arg_json && isatty(STDERR_FILENO),
                .track = undo.fanout,
        };

        fanout_ran = true;
        if (fanout_bench_run(&e, &fanout_result) < 0)
                failures++;
        if (iceoryx_up)
                iceoryx_quiet_since = now_ns();
}

/* Which transports take part in @group: the zero-copy calls in the one-way runs and 4x4, the
 * batch calls in the one-way runs only (a batch may hold another sender's end marker); iceoryx
 * where its RouDi runs, and not in 4x4 (each subscriber would get all 4 senders' messages). */
static bool takes_part(TransportId t, unsigned group) {
        if (!arg_transport[t])
                return false;
        if (t == TRANSPORT_ZEROCOPY)
                return group == GROUP_TPUT || group == GROUP_MPMC;
        if (t == TRANSPORT_BATCH)
                return group == GROUP_TPUT;
        if (t == TRANSPORT_ICEORYX)
                return iceoryx_up && group != GROUP_MPMC && group != GROUP_SCALE;
        if (missing[t])
                return false;
        if (t == TRANSPORT_ZMQ)
                return group != GROUP_MPMC;
        if (t == TRANSPORT_SPSC)
                return group == GROUP_TPUT || group == GROUP_RTT;
        return true;
}

/* The peers that may not be built (Boost, ZeroMQ): if one is asked for a group it would take
 * part in, say loudly that its row is skipped and why (no failure: the build lacks it). */
static void peers_check(void) {
        static const TransportId peers[] = { TRANSPORT_BOOST, TRANSPORT_ZMQ };

        for (unsigned i = 0; i < ELEMENTSOF(peers); i++) {
                TransportId t = peers[i];
                unsigned groups = GROUP_TPUT | GROUP_RTT | GROUP_IDLE | (t == TRANSPORT_ZMQ ? 0 : GROUP_MPMC);

                if (!arg_transport[t] || !(arg_groups & groups))
                        continue;
                missing[t] = transport_not_built(t);
                if (missing[t])
                        fprintf(stderr, "shmbox-bench: %s row SKIPPED: %s\n", transport_name(t), missing[t]);
        }
}

/* Start our RouDi if the iceoryx row is asked for; else say in iceoryx_note why it is missing. A
 * RouDi that runs already is not ours to use or stop: the row is skipped, loudly. */
static void iceoryx_start(void) {
        char why[sizeof(iceoryx_why) - 16];
        int r;

        if (!arg_transport[TRANSPORT_ICEORYX])
                return;
        if (!(arg_groups & (GROUP_TPUT | GROUP_RTT | GROUP_IDLE | GROUP_FANOUT))) {
                if (arg_groups & GROUP_MPMC)
                        iceoryx_note = "not run: no 4x4 for iceoryx (it broadcasts every message to every "
                                       "subscriber)";
                return;
        }
        iceoryx_note = iceoryx_not_built();
        if (iceoryx_note)
                return;
        r = iceoryx_roudi_start(undo.dir, report_sizes, REPORT_SIZES, DEPTH, &undo.roudi, why, sizeof(why));
        if (r == 0) {
                iceoryx_up = true;
                return;
        }
        snprintf(iceoryx_why, sizeof(iceoryx_why), "not run: %s", why);
        iceoryx_note = iceoryx_why;
        fprintf(stderr, "shmbox-bench: iceoryx row %s\n", iceoryx_why);
        if (r != -EBUSY && r != -ENOENT)
                failures++;
}

/* Stop our RouDi and remove what the iceoryx runtimes left in /tmp. */
static void iceoryx_stop(void) {
        char iox[48];

        if (!iceoryx_up)
                return;
        if (iceoryx_roudi_stop(&undo.roudi, iceoryx_quiet_since) < 0)
                failures++;
        snprintf(iox, sizeof(iox), "%s" ICEORYX_RUNTIME_TAG, arg_prefix);
        sweep("/tmp", iox, 0);
        iceoryx_up = false;
}

/* Each figure's repetitions interleave the transports, so a change of the machine's speed
 * regime hits them all alike. */
static void measure_all(void) {
        bool idle[_TRANSPORT_MAX];
        char what[64];

        if (arg_groups & GROUP_TPUT)
                for (unsigned si = 0; si < REPORT_SIZES; si++)
                        for (unsigned rep = 0; rep < arg_reps && arg_size[si]; rep++)
                                for (unsigned t = 0; t < _TRANSPORT_MAX; t++)
                                        if (takes_part(t, GROUP_TPUT)) {
                                                snprintf(what, sizeof(what), "%s one-way", report_size_name(si));
                                                progress(what, t, rep);
                                                measure_tput(si, t);
                                        }
        if (arg_groups & GROUP_MPMC)
                for (unsigned rep = 0; rep < arg_reps; rep++)
                        for (unsigned t = 0; t < _TRANSPORT_MAX; t++)
                                if (takes_part(t, GROUP_MPMC)) {
                                        progress("4x4", t, rep);
                                        measure_mpmc(t);
                                }
        if (arg_groups & GROUP_RTT)
                for (int same = 0; same < 2; same++)
                        for (unsigned rep = 0; rep < arg_reps; rep++)
                                for (unsigned t = 0; t < _TRANSPORT_MAX; t++)
                                        if (takes_part(t, GROUP_RTT)) {
                                                progress(same ? "round trip, same CPU" : "round trip, other CPU", t,
                                                         rep);
                                                measure_rtt(same, t);
                                        }
        if (arg_groups & GROUP_IDLE) {
                for (unsigned t = 0; t < _TRANSPORT_MAX; t++)
                        idle[t] = takes_part(t, GROUP_IDLE);
                measure_idle(idle);
        }
        if (arg_groups & GROUP_SCALE)
                measure_scale();
        if (arg_groups & GROUP_BRIDGE)
                measure_bridge();
        if (arg_groups & GROUP_RPC)
                measure_rpc();
        if (arg_groups & GROUP_FANOUT)
                measure_fanout();
        if (!arg_json && isatty(STDERR_FILENO))
                fprintf(stderr, "\r\033[K");
}

/* --- callgrind mode -------------------------------------------------------------------------- */

/* N send+recv pairs in this process; kept out of line so that a profile shows it as one frame. */
static __attribute__((noinline)) int pairs_shmbox(shmbox *box, uint8_t *buf, unsigned long n) {
        uint64_t seq;
        uint32_t sender;

        for (unsigned long i = 0; i < n; i++) {
                msg_fill(buf, 64, 0, i);
                int r = shmbox_send(box, buf, 64, -1);
                if (r < 0)
                        return r;
                ssize_t k = shmbox_recv(box, buf, 64, -1);
                if (k < 0)
                        return (int)k;
                if (k != 64 || msg_check(buf, 64, &sender, &seq) < 0 || seq != i)
                        return -EBADMSG;
        }
        return 0;
}

static __attribute__((noinline)) int pairs_zerocopy(shmbox *box, unsigned long n) {
        const void *data;
        uint64_t seq;
        uint32_t sender;
        void *slot;

        for (unsigned long i = 0; i < n; i++) {
                int r = shmbox_reserve(box, 64, -1, &slot);
                if (r < 0)
                        return r;
                msg_fill(slot, 64, 0, i);
                r = shmbox_commit(box, slot, 64);
                if (r < 0)
                        return r;
                ssize_t k = shmbox_peek(box, -1, &data);
                if (k < 0)
                        return (int)k;
                if (k != 64 || msg_check(data, 64, &sender, &seq) < 0 || seq != i)
                        return -EBADMSG;
                r = shmbox_release(box, data);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* @n messages in batches of TRANSPORT_BATCH_N (n is rounded up to whole batches) */
static __attribute__((noinline)) int pairs_batch(shmbox *box, uint8_t *bufs, unsigned long n) {
        struct iovec iov[TRANSPORT_BATCH_N];
        size_t lens[TRANSPORT_BATCH_N];
        uint64_t seq;
        uint32_t sender;

        for (unsigned i = 0; i < TRANSPORT_BATCH_N; i++)
                iov[i] = (struct iovec){ bufs + 64 * i, 64 };
        for (unsigned long i = 0; i < n; i += TRANSPORT_BATCH_N) {
                for (unsigned j = 0; j < TRANSPORT_BATCH_N; j++)
                        msg_fill(iov[j].iov_base, 64, 0, i + j);
                int r = shmbox_send_many(box, iov, TRANSPORT_BATCH_N, -1);
                if (r != TRANSPORT_BATCH_N)
                        return r < 0 ? r : -EPROTO;
                ssize_t k = shmbox_recv_many(box, iov, TRANSPORT_BATCH_N, lens, -1);
                if (k != TRANSPORT_BATCH_N)
                        return k < 0 ? (int)k : -EPROTO;
                for (unsigned j = 0; j < TRANSPORT_BATCH_N; j++)
                        if (lens[j] != 64 || msg_check(iov[j].iov_base, 64, &sender, &seq) < 0 || seq != i + j)
                                return -EBADMSG;
        }
        return 0;
}

static __attribute__((noinline)) int pairs_naive(NaiveRing *ring, uint8_t *buf, unsigned long n) {
        uint64_t seq;
        uint32_t sender;

        for (unsigned long i = 0; i < n; i++) {
                msg_fill(buf, 64, 0, i);
                int r = naive_send(ring, buf, 64);
                if (r < 0)
                        return r;
                ssize_t k = naive_recv(ring, buf, 64, -1);
                if (k < 0)
                        return (int)k;
                if (k != 64 || msg_check(buf, 64, &sender, &seq) < 0 || seq != i)
                        return -EBADMSG;
        }
        return 0;
}

/* --callgrind-pair N: N send+recv pairs of 64 B in this process, through shmbox (or, with
 * --only, its zero-copy or batch calls, or the naive ring). */
static int callgrind_main(void) {
        static uint8_t buf[64 * TRANSPORT_BATCH_N];
        TransportId t = TRANSPORT_SHMBOX;
        unsigned long n = arg_callgrind_pairs;
        int64_t t0, t1;
        int r;

        for (int i = _TRANSPORT_MAX - 1; i >= 0; i--)
                if (arg_transport[i])
                        t = i;
        if (t != TRANSPORT_SHMBOX && t != TRANSPORT_ZEROCOPY && t != TRANSPORT_BATCH && t != TRANSPORT_NAIVE) {
                fprintf(stderr, "shmbox-bench: --callgrind-pair: shmbox, zerocopy, batch or naive\n");
                return 2;
        }
        if (t == TRANSPORT_BATCH)
                n = (n + TRANSPORT_BATCH_N - 1) / TRANSPORT_BATCH_N * TRANSPORT_BATCH_N;
        if (t == TRANSPORT_NAIVE) {
                NaiveRing *ring = NULL;
                char name[64];

                snprintf(name, sizeof(name), "/%s-naive0", arg_prefix);
                r = naive_create(name, DEPTH, 64);
                if (r == 0)
                        r = naive_open(name, &ring);
                t0 = now_ns();
                if (r == 0)
                        r = pairs_naive(ring, buf, n);
                t1 = now_ns();
                naive_close(ring);
                naive_unlink(name);
        } else {
                struct shmbox_config cfg = { .slots = DEPTH, .slot_size = 64, .mode = 0600 };
                shmbox_client *c = NULL;
                shmbox *box = NULL;

                r = daemon_start();
                if (r < 0)
                        return EXIT_FAILURE;
                r = shmbox_connect(daemon_socket, &c);
                if (r == 0)
                        r = shmbox_create(c, "pairs", &cfg);
                if (r == 0)
                        r = shmbox_attach(c, "pairs", &box);
                if (r == 0 && arg_spin_us >= 0)
                        r = shmbox_set_spin(box, (unsigned)arg_spin_us);
                t0 = now_ns();
                if (r == 0)
                        r = t == TRANSPORT_ZEROCOPY ? pairs_zerocopy(box, n)
                            : t == TRANSPORT_BATCH  ? pairs_batch(box, buf, n)
                                                    : pairs_shmbox(box, buf, n);
                t1 = now_ns();
                shmbox_detach(box);
                if (c)
                        (void)shmbox_destroy(c, "pairs");
                shmbox_disconnect(c);
                if (daemon_stop() > 0 && r == 0)
                        r = -EBADMSG;
        }
        if (r < 0) {
                fprintf(stderr, "shmbox-bench: callgrind pairs: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        printf("pairs: %lu send+recv pairs of 64 B through %s in one process, %.0f ns per pair "
               "(wall clock; meaningless under valgrind)\n",
               n, transport_name(t), n ? (double)(t1 - t0) / (double)n : 0.0);
        return EXIT_SUCCESS;
}

/* --- main ------------------------------------------------------------------------------------- */

static void help(void) {
        printf("Usage: shmbox-bench [OPTION...]\n"
               "Measure shmbox against a pipe, a Unix stream socket, POSIX mq, a naive shared-memory\n"
               "ring, iceoryx, Boost.Interprocess message_queue, ZeroMQ over ipc:// and a polling SPSC\n"
               "ring (the limit: this machine's ceiling) in one run, each side in its own process, and\n"
               "print each figure with shmbox's ratio to each alternative. Starts its own shmboxd (and\n"
               "iox-roudi for iceoryx, unless one runs already: then that row is skipped) and removes\n"
               "everything it made. A row whose library this build lacks is skipped, saying why.\n\n"
               "  --shmboxd PATH         the daemon to run (default: the build tree's shmboxd)\n"
               "  --json                 machine-readable output\n"
               "  --quick                a short run (1 repetition, short measurements, 1 s idle)\n"
               "  --only LIST            comma-separated transports (shmbox, zerocopy, batch, pipe,\n"
               "                         unix, mq, naive, iceoryx, boost, zmq, spsc, sdbus) and/or\n"
               "                         groups (throughput, latency, mpmc, idle, scale, bridge, rpc,\n"
               "                         fanout; --quick leaves scale, bridge, rpc and fanout out\n"
               "                         unless named here)\n"
               "  --dbus-daemon PATH     the rpc group's private bus (default: " DBUS_DAEMON_PATH ")\n"
               "  --shmbox-bridge PATH   the bridge group's bridge (default: the build tree's)\n"
               "  --nats-server PATH     the bridge group's server (default: from PATH, else /usr/sbin)\n"
               "  --bridge-messages N    messages per throughput run of the bridge group (default\n"
               "                         20000, --quick 2000; latency: N/50 single messages, 50 to 400)\n"
               "  --scale-mailboxes N    the scale group: N mailboxes, N attached client processes\n"
               "                         (default 1000, at most 1023)\n"
               "  --sizes LIST           one-way message sizes, of 64,1024,65536,1048576 (default all)\n"
               "  --reps N               repetitions, the median is shown, and the ratios' least and\n"
               "                         greatest over them (default 5)\n"
               "  --duration MS          per throughput and 4x4 measurement (default 300)\n"
               "  --rtt-duration MS      per latency measurement (default 500)\n"
               "  --idle-seconds S       how long the idle receivers wait (default 10)\n"
               "  --cpus A,B             the CPUs round trips are pinned to (default: the first two)\n"
               "  --spin US              shmbox_set_spin() on every shmbox end (default: the library's)\n"
               "  --prefix NAME          object prefix (default shmboxbench<pid>)\n"
               "  --callgrind-pair N     do N send+recv pairs of 64 B in one process and exit (with\n"
               "                         --only zerocopy, batch or naive: through those calls); for\n"
               "                         valgrind --tool=callgrind, see bench/callgrind.sh\n"
               "  -h, --help             show this help and exit\n\n"
               "Exit status: 0 when every message was checked and every measurement ran; 1 otherwise;\n"
               "2 for a usage error.\n");
}

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (s[0] < '0' || s[0] > '9' || *end || errno || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_only(const char *list) {
        char buf[256], *save = NULL;
        bool any_t = false;

        if (strlen(list) >= sizeof(buf))
                return -EINVAL;
        strcpy(buf, list);
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                int t = transport_from_name(tok);
                bool found = false;

                if (strcmp(tok, "sdbus") == 0) { /* the rpc group's D-Bus row: no transport of the others */
                        arg_sdbus = true;
                        any_t = true;
                        continue;
                }
                if (t >= 0) {
                        arg_transport[t] = true;
                        any_t = true;
                        continue;
                }
                for (unsigned g = 0; g < ELEMENTSOF(group_names); g++)
                        if (strcmp(tok, group_names[g]) == 0) {
                                arg_groups |= 1u << g;
                                found = true;
                        }
                if (!found)
                        return -EINVAL;
        }
        if (!any_t) {
                for (unsigned t = 0; t < _TRANSPORT_MAX; t++)
                        arg_transport[t] = true;
                arg_sdbus = true;
        }
        return 0;
}

static int parse_sizes(const char *list) {
        char buf[64], *save = NULL;

        if (strlen(list) >= sizeof(buf))
                return -EINVAL;
        strcpy(buf, list);
        memset(arg_size, 0, sizeof(arg_size));
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                unsigned long v;
                bool found = false;

                if (parse_uint(tok, 1, ULONG_MAX, &v) < 0)
                        return -EINVAL;
                for (unsigned i = 0; i < REPORT_SIZES; i++)
                        if (report_sizes[i] == v)
                                arg_size[i] = found = true;
                if (!found)
                        return -EINVAL;
        }
        return 0;
}

static int parse_argv(int argc, char **argv) {
        enum {
                ARG_SHMBOXD = 0x100,
                ARG_JSON,
                ARG_QUICK,
                ARG_ONLY,
                ARG_REPS,
                ARG_DURATION,
                ARG_RTT,
                ARG_IDLE,
                ARG_CPUS,
                ARG_SPIN,
                ARG_PREFIX,
                ARG_CALLGRIND,
                ARG_SIZES,
                ARG_SCALE_N,
                ARG_BRIDGE,
                ARG_NATS_SERVER,
                ARG_BRIDGE_N,
                ARG_DBUS_DAEMON,
        };
        static const struct option options[] = { { "shmboxd", required_argument, NULL, ARG_SHMBOXD },
                                                 { "json", no_argument, NULL, ARG_JSON },
                                                 { "quick", no_argument, NULL, ARG_QUICK },
                                                 { "only", required_argument, NULL, ARG_ONLY },
                                                 { "reps", required_argument, NULL, ARG_REPS },
                                                 { "duration", required_argument, NULL, ARG_DURATION },
                                                 { "rtt-duration", required_argument, NULL, ARG_RTT },
                                                 { "idle-seconds", required_argument, NULL, ARG_IDLE },
                                                 { "cpus", required_argument, NULL, ARG_CPUS },
                                                 { "spin", required_argument, NULL, ARG_SPIN },
                                                 { "prefix", required_argument, NULL, ARG_PREFIX },
                                                 { "callgrind-pair", required_argument, NULL, ARG_CALLGRIND },
                                                 { "sizes", required_argument, NULL, ARG_SIZES },
                                                 { "scale-mailboxes", required_argument, NULL, ARG_SCALE_N },
                                                 { "shmbox-bridge", required_argument, NULL, ARG_BRIDGE },
                                                 { "nats-server", required_argument, NULL, ARG_NATS_SERVER },
                                                 { "bridge-messages", required_argument, NULL, ARG_BRIDGE_N },
                                                 { "dbus-daemon", required_argument, NULL, ARG_DBUS_DAEMON },
                                                 { "help", no_argument, NULL, 'h' },
                                                 {} };
        bool reps_set = false, dur_set = false, rtt_set = false, idle_set = false, only_set = false;
        bool bridge_n_set = false;
        unsigned long v;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h': help(); return 0;
                case ARG_SHMBOXD: arg_shmboxd = optarg; break;
                case ARG_JSON: arg_json = true; break;
                case ARG_QUICK: arg_quick = true; break;
                case ARG_ONLY:
                        if (parse_only(optarg) < 0) {
                                fprintf(stderr, "shmbox-bench: --only: unknown name in \"%s\"\n", optarg);
                                return -EINVAL;
                        }
                        only_set = true;
                        break;
                case ARG_REPS:
                        if (parse_uint(optarg, 1, REPS_MAX, &v) < 0)
                                goto bad;
                        arg_reps = (unsigned)v;
                        reps_set = true;
                        break;
                case ARG_DURATION:
                        if (parse_uint(optarg, 1, 600000, &v) < 0)
                                goto bad;
                        arg_duration_ms = (unsigned)v;
                        dur_set = true;
                        break;
                case ARG_RTT:
                        if (parse_uint(optarg, 1, 600000, &v) < 0)
                                goto bad;
                        arg_rtt_ms = (unsigned)v;
                        rtt_set = true;
                        break;
                case ARG_IDLE:
                        if (parse_uint(optarg, 1, 3600, &v) < 0)
                                goto bad;
                        arg_idle_s = (unsigned)v;
                        idle_set = true;
                        break;
                case ARG_CPUS:
                        if (sscanf(optarg, "%d,%d", &arg_cpu[0], &arg_cpu[1]) != 2 || arg_cpu[0] < 0 ||
                            arg_cpu[1] < 0 || arg_cpu[0] >= CPU_SETSIZE || arg_cpu[1] >= CPU_SETSIZE)
                                goto bad;
                        break;
                case ARG_SIZES:
                        if (parse_sizes(optarg) < 0)
                                goto bad;
                        break;
                case ARG_SPIN:
                        if (parse_uint(optarg, 0, 1000000, &v) < 0)
                                goto bad;
                        arg_spin_us = (int)v;
                        break;
                case ARG_PREFIX:
                        if (strlen(optarg) < 1 || strlen(optarg) > 24 ||
                            strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
                                    strlen(optarg)) {
                                fprintf(stderr, "shmbox-bench: --prefix: 1 to 24 of [A-Za-z0-9_]\n");
                                return -EINVAL;
                        }
                        strcpy(arg_prefix, optarg);
                        break;
                case ARG_SCALE_N:
                        if (parse_uint(optarg, 1, SCALE_MAX, &v) < 0)
                                goto bad;
                        arg_scale_n = (unsigned)v;
                        break;
                case ARG_BRIDGE: arg_bridge = optarg; break;
                case ARG_NATS_SERVER: arg_nats_server = optarg; break;
                case ARG_DBUS_DAEMON: arg_dbus_daemon = optarg; break;
                case ARG_BRIDGE_N:
                        if (parse_uint(optarg, 100, 10000000, &v) < 0)
                                goto bad;
                        arg_bridge_n = (unsigned)v;
                        bridge_n_set = true;
                        break;
                case ARG_CALLGRIND:
                        if (parse_uint(optarg, 1, ULONG_MAX, &v) < 0)
                                goto bad;
                        arg_callgrind_pairs = v;
                        break;
                default: return -EINVAL;
                }
                continue;
        bad:
                fprintf(stderr, "shmbox-bench: invalid value \"%s\"; see --help\n", optarg);
                return -EINVAL;
        }
        if (optind < argc) {
                fprintf(stderr, "shmbox-bench: unexpected argument \"%s\"; see --help\n", argv[optind]);
                return -EINVAL;
        }
        if (!only_set) {
                for (unsigned t = 0; t < _TRANSPORT_MAX; t++)
                        arg_transport[t] = true;
                arg_sdbus = true;
        }
        if (!arg_groups)
                /* scale, bridge, rpc and fanout are part of a full run; --quick skips them unless --only
                 * names them */
                arg_groups =
                        arg_quick ? GROUP_ALL & ~(GROUP_SCALE | GROUP_BRIDGE | GROUP_RPC | GROUP_FANOUT) : GROUP_ALL;
        if (arg_quick) {
                if (!reps_set)
                        arg_reps = 1;
                if (!dur_set)
                        arg_duration_ms = 40;
                if (!rtt_set)
                        arg_rtt_ms = 40;
                if (!idle_set)
                        arg_idle_s = 1;
                if (!bridge_n_set)
                        arg_bridge_n = 2000;
        }
        return 1;
}

/* The build tree's program @name (shmboxd, shmbox-bridge): in the parent of this program's
 * directory (else ./@name). @path has PATH_MAX bytes. */
static const char *build_tree_program(const char *name, char *path) {
        ssize_t n = readlink("/proc/self/exe", path, PATH_MAX - 32);
        char *slash;

        if (n > 0) {
                path[n] = '\0';
                slash = strrchr(path, '/');
                if (slash && (size_t)snprintf(slash, PATH_MAX - (size_t)(slash - path), "/../%s", name) <
                                     PATH_MAX - (size_t)(slash - path))
                        return path;
        }
        snprintf(path, PATH_MAX, "./%s", name);
        return path;
}

static int read_small_file(const char *path, char *buf, size_t size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        close(fd);
        if (n <= 0)
                return -EIO;
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return 0;
}

/* As root, raise the mq sysctls for the run (restored at exit); else use what fits. */
static void mq_limits_prepare(void) {
        const unsigned long need[2] = { DEPTH, report_sizes[REPORT_SIZES - 1] };
        char cur[2][24];

        if (read_small_file(mq_limit_files[0], cur[0], sizeof(cur[0])) < 0 ||
            read_small_file(mq_limit_files[1], cur[1], sizeof(cur[1])) < 0)
                return;
        mq_depth = (unsigned)MAX(1ul, MIN((unsigned long)DEPTH, strtoul(cur[0], NULL, 10)));
        if (geteuid() != 0)
                return;
        mq_limits = "fs.mqueue sysctls high enough";
        /* needs CAP_SYS_RESOURCE, which a container may lack: then queues get what fits */
        struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
        (void)setrlimit(RLIMIT_MSGQUEUE, &rl);
        for (unsigned i = 0; i < 2; i++) {
                if (strtoul(cur[i], NULL, 10) >= need[i])
                        continue;
                memcpy(undo.mq_saved[i], cur[i], sizeof(cur[i]));
                snprintf(undo.mq_wrote[i], sizeof(undo.mq_wrote[i]), "%lu", need[i]);
                if (write_file(mq_limit_files[i], undo.mq_wrote[i]) < 0)
                        continue;
                undo.mq_raised[i] = true;
                mq_limits = "fs.mqueue sysctls raised for this run, restored after it";
                if (i == 0)
                        mq_depth = DEPTH;
        }
}

static void pick_cpus(void) {
        cpu_set_t set;
        int n = 0;

        if (arg_cpu[0] >= 0) {
                cpus[0] = arg_cpu[0];
                cpus[1] = arg_cpu[1] != arg_cpu[0] ? arg_cpu[1] : -1;
                return;
        }
        if (sched_getaffinity(0, sizeof(set), &set) < 0)
                return;
        for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
                if (CPU_ISSET(c, &set))
                        cpus[n++] = c;
        if (n == 1)
                cpus[1] = -1;
}

int main(int argc, char **argv) {
        struct sigaction sa = { .sa_handler = on_signal };
        shmbox_client *client = NULL;
        sigset_t chld;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        static char shmboxd_path[PATH_MAX], bridge_path[PATH_MAX];

        if (!arg_shmboxd)
                arg_shmboxd = build_tree_program("shmboxd", shmboxd_path);
        if (!arg_bridge)
                arg_bridge = build_tree_program("shmbox-bridge", bridge_path);
        if (!arg_prefix[0])
                snprintf(arg_prefix, sizeof(arg_prefix), "shmboxbench%d", (int)getpid());
        strcpy(undo.prefix, arg_prefix);

        /* SIGCHLD stays blocked: run_workers() waits for it with sigtimedwait() */
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigprocmask(SIG_BLOCK, &chld, NULL);
        sigemptyset(&sa.sa_mask);
        sigaddset(&sa.sa_mask, SIGINT); /* one clean-up at a time */
        sigaddset(&sa.sa_mask, SIGTERM);
        sigaddset(&sa.sa_mask, SIGHUP);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        if (arg_callgrind_pairs)
                return callgrind_main();

        report_init(arg_idle_s);
        pick_cpus();
        if (arg_transport[TRANSPORT_MQ])
                mq_limits_prepare();

        r = daemon_start();
        if (r < 0) {
                daemon_stop();
                mq_limits_restore();
                return EXIT_FAILURE;
        }
        r = shmbox_connect(daemon_socket, &client);
        if (r < 0) {
                fprintf(stderr, "shmbox-bench: connect: %s\n", shmbox_strerror(r));
                failures++;
        } else {
                env = (TransportEnv){ .socket = daemon_socket,
                                      .prefix = arg_prefix,
                                      .dir = undo.dir,
                                      .client = client,
                                      .spin_us = arg_spin_us };
                peers_check();
                iceoryx_start();
                measure_all();
                iceoryx_stop();
        }
        shmbox_disconnect(client);
        if (daemon_stop() > 0)
                failures++;
        mq_limits_restore();

        struct rlimit rl = {};
        char limits[160];
        getrlimit(RLIMIT_MSGQUEUE, &rl);
        if (rl.rlim_cur == RLIM_INFINITY)
                snprintf(limits, sizeof(limits), "%s; RLIMIT_MSGQUEUE unlimited", mq_limits);
        else
                snprintf(limits, sizeof(limits), "%s; RLIMIT_MSGQUEUE %llu bytes", mq_limits,
                         (unsigned long long)rl.rlim_cur);
        ReportInfo info = {
                .reps = arg_reps,
                .duration_ms = arg_duration_ms,
                .rtt_ms = arg_rtt_ms,
                .idle_s = arg_idle_s,
                .depth = DEPTH,
                .depth_bytes = DEPTH_BYTES,
                .quick = arg_quick,
                .cpus = { cpus[0], cpus[1] },
                .spin_us = arg_spin_us,
                .mq_limits = limits,
                .failures = failures,
                .scale = scale_ran ? &scale_result : NULL,
                .bridge = bridge_ran ? &bridge_result : NULL,
                .rpc = rpc_ran ? &rpc_result : NULL,
                .fanout = fanout_ran ? &fanout_result : NULL,
                .iceoryx_note = iceoryx_note,
                .missing = { [TRANSPORT_ICEORYX] = iceoryx_note,
                             [TRANSPORT_BOOST] = missing[TRANSPORT_BOOST],
                             [TRANSPORT_ZMQ] = missing[TRANSPORT_ZMQ] },
#ifdef SHMBOX_CRASH_POINTS
                .crash_points = true,
#endif
        };
        memcpy(info.mq_depth, mq_depth_used, sizeof(info.mq_depth));
        report_finish();
        if (arg_json)
                report_print_json(&info);
        else
                report_print_table(&info);
        fflush(stdout); /* the table first, then the verdict */
        if (failures)
                fprintf(stderr, "shmbox-bench: %u measurement(s) failed; see the messages above\n", failures);
        return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
