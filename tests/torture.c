/* SPDX-License-Identifier: MIT */
/* torture.c — random-kill torture of shmbox: senders and receivers, separate processes that use
 * only <shmbox.h>, on the mailboxes of a private shmboxd; clients and the daemon are SIGKILLed at
 * random and restarted; at the end, a Jepsen-style account of every acknowledged message.
 *
 * Run by tests/test-torture for 40 s; by hand, with bigger numbers:
 *   tests/torture --shmboxd ./shmboxd --seconds 300 --senders 4 --receivers 4 --mailboxes 3
 *
 * The conductor (this process) starts shmboxd itself (--shmboxd PATH, else $SHMBOXD) with its own
 * temporary directory (socket, state, log) and a unique --prefix ("<$SHMBOX_TEST_PREFIX>_<pid>",
 * else "shmboxtor_<pid>"), creates the mailboxes, then forks the clients. A child connects and
 * attaches afresh, retrying while no daemon answers; it never uses the conductor's client. Every
 * --kill-interval-ms (jittered ±50%) one random client is SIGKILLed and a new incarnation takes
 * its place; every --daemon-kill-interval-ms (jittered) the daemon is SIGKILLed and started again
 * after a random pause of up to 100 ms, while the clients carry on through shared memory.
 *
 * Messages. Sender incarnations are numbered globally; incarnation i sends sequences 0, 1, 2, ...
 * one at a time (a send that times out is retried with the same bytes). Everything about message
 * (i, seq) is a function of (i, seq): its mailbox, its length (header .. slot_size) and its bytes.
 * It carries MsgHead {magic, incarnation, seq, len, sender, mailbox, csum}; csum is FNV-1a over the
 * header (csum zero) and the payload, so a torn header or payload shows as a wrong checksum.
 *
 * The logs live in anonymous MAP_SHARED mappings made before the first fork, so they survive every
 * kill and the conductor reads them after the children are gone:
 * - the ack log of incarnation i: `started` is stored before shmbox_send(seq) and `acked` after it
 *   returned 0. Sequences are consecutive, so the log of acknowledged sends is [0, acked); a sender
 *   killed with started == acked + 1 leaves message `acked` indeterminate (it may or may not have
 *   been committed);
 * - the delivery log: one byte per message, at the incarnation's base + seq in its sender slot's
 *   region, incremented by a receiver once shmbox_recv() returned the message and it checked out.
 *
 * Accounting, per mailbox, after the senders stopped, the daemon repaired every dead attachment
 * and the receivers drained the mailbox until shmbox_info() said queued == 0:
 * - consumed = received - recovered from shmbox_info(): received counts every take, and a take
 *   undone by a repair (its receiver died before consuming) is counted again in recovered. A
 *   receiver killed between the increment of received and its take leaves received one ahead with
 *   nothing in recovered (reported as received_drift); since every committed message has been
 *   consumed after the drain, consumed is taken as min(received - recovered, sent), both being
 *   upper bounds of the messages actually consumed;
 * - recorded = delivery-log entries of the mailbox + messages rejected as torn or unexpected;
 * - unrecorded = consumed - recorded: messages that a receiver consumed and was killed before
 *   recording. Each receiver marks itself "in recv" from before shmbox_recv() until its record is
 *   written, so unrecorded must not exceed the receivers killed while so marked;
 * - candidates = acknowledged messages without a delivery record. Any of them may be one that a
 *   killed receiver took with it, so lost = max(0, candidates - min(unrecorded, receivers killed
 *   in recv)): the messages that even the kindest reading cannot explain. (A torn message has no
 *   delivery record either: it counts as torn and, if acknowledged, as lost.)
 * - order: a receiver must see one incarnation's messages in increasing sequence, except a message
 *   redelivered after a repair; violations beyond the mailbox's `recovered` count are reported.
 * Also measured: the longest stall (no delivery on a mailbox that shmbox_info() said had queued
 * messages, sampled every 10 ms; while the daemon is away the last answer stands) and the
 * kill→recovery latency (from a client's death to the next successful send or receive by any
 * other process on the mailbox the victim was working on).
 *
 * The summary is the last line of stdout, key=value pairs. Exit status: 0 when everything holds;
 * 1 when lost, unexpected, torn or duplicated is nonzero, or a health check failed (unexplained
 * reordering, a client error or crash, a daemon that died on its own or did not stop cleanly, a
 * stuck phase, an accounting mismatch, objects left in /dev/shm); 2 on bad usage or when the
 * daemon cannot be started.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/shmbox.h"

#define SENDERS_MAX 64
#define RECEIVERS_MAX 64
#define MAILBOXES_MAX 16
#define PEERS_MAX (SENDERS_MAX + RECEIVERS_MAX)
#define MSG_MAGIC 0x54524f54u /* "TORT" */
#define SEND_TIMEOUT_MS 100
#define RECV_TIMEOUT_MS 100
#define SAMPLE_NS (10 * 1000000LL)
#define DAEMON_PAUSE_MAX_MS 100
#define PHASE_DEADLINE_S 60 /* each end phase must finish within this */
#define SLOT_SIZE_MAX 1024  /* mailbox m has slots of 256 << (m % 3) bytes */
#define NONE UINT32_MAX

/* Children's exit codes. */
enum { EXIT_CHILD_OK = 0, EXIT_CHILD_FAILED = 3, EXIT_CHILD_ORPHAN = 4 };

typedef enum Phase {
        PHASE_RUN,   /* send, receive, be killed */
        PHASE_STOP,  /* senders finish their current send and exit; receivers go on */
        PHASE_DRAIN, /* receivers exit once their mailbox is empty */
} Phase;

typedef enum IncState { INC_RUNNING, INC_EXITED, INC_KILLED, INC_FAILED } IncState;

typedef struct MsgHead {
        uint32_t magic, inc, seq, len;
        uint16_t sender, mailbox;
        uint32_t csum;
} MsgHead;
_Static_assert(sizeof(MsgHead) == 24, "MsgHead is 24 bytes");

/* One sender incarnation: its ack log. Written by the conductor before the fork, then by it. */
typedef struct Incarnation {
        uint32_t slot;            /* sender number */
        _Atomic uint32_t state;   /* IncState, written by the conductor */
        uint64_t base;            /* where its messages start in its slot's delivery log */
        _Atomic uint64_t started; /* sequences handed to shmbox_send() */
        _Atomic uint64_t acked;   /* sequences for which shmbox_send() returned 0 */
} Incarnation;

/* What the clients report per mailbox. */
typedef struct BoxShared {
        uint32_t slot_size;
        char name[16];
        _Atomic int64_t last_op_ns;       /* last successful send or receive, CLOCK_MONOTONIC */
        _Atomic int64_t last_delivery_ns; /* last successful receive */
        _Atomic uint64_t torn, unexpected, disorder;
} BoxShared;

/* One client slot (senders first, then receivers). */
typedef struct Peer {
        _Atomic uint32_t mailbox;  /* of its current operation; NONE before the first */
        _Atomic uint32_t in_recv;  /* from before shmbox_recv() until its delivery is recorded */
        _Atomic uint32_t attached; /* connected and attached */
} Peer;

typedef struct Shared {
        _Atomic uint32_t phase;
        _Atomic uint32_t n_incs; /* incarnations handed out so far */
        _Atomic uint32_t errors; /* client errors */
        char first_error[512];
        _Atomic uint32_t n_details;
        char details[8][160]; /* the first anomalies the receivers saw */
        BoxShared boxes[MAILBOXES_MAX];
        Peer peers[PEERS_MAX];
} Shared;

/* Conductor-side view of a client slot. */
typedef struct Child {
        bool sender;
        unsigned id;   /* sender or receiver number */
        unsigned peer; /* index in Shared.peers */
        pid_t pid;     /* 0: not running */
        uint32_t inc;  /* a sender's current incarnation */
        bool finished; /* exited for good at the end */
} Child;

typedef struct Pending {
        int64_t t_ns;
        uint32_t mailbox;
} Pending;

static unsigned arg_senders = 3;
static unsigned arg_receivers = 3;
static unsigned arg_mailboxes = 2;
static unsigned arg_seconds = 30;
static unsigned arg_kill_interval_ms = 200;
static unsigned arg_daemon_kill_interval_ms = 5000;
static uint64_t arg_seed;
static const char *arg_shmboxd;
static bool arg_verbose;

/* The conductor's state; the children inherit it read-only, except through the shared maps. */
static struct {
        char dir[80], socket[108], state_dir[160], log[160], prefix[33];
        pid_t daemon;              /* 0: not running */
        bool daemon_ready;         /* answered since its last start */
        int64_t daemon_restart_at; /* when to start it again; 0: not scheduled */
        shmbox_client *ctl;        /* the conductor's own connection; never used in a child */
        Shared *sh;
        Incarnation *incs;
        uint32_t incs_max;
        _Atomic uint8_t *deliv; /* senders x cap bytes */
        uint64_t cap;           /* delivery-log entries per sender */
        uint64_t next_base[SENDERS_MAX];
        Child children[PEERS_MAX];
        unsigned n_children;
        bool created[MAILBOXES_MAX];
        uint64_t rng;
        int64_t t0;
        /* figures */
        uint64_t client_kills, daemon_restarts, daemon_crashes, client_failures, client_crashes;
        uint64_t kills_in_recv[MAILBOXES_MAX];
        uint64_t capped, stuck, spawn_failures;
        int64_t longest_stall_ns;
        uint32_t longest_stall_box;
        int64_t stall_from[MAILBOXES_MAX];
        bool queued_seen[MAILBOXES_MAX];
        Pending *pending;
        size_t n_pending, pending_max;
        double *latencies;
        size_t n_latencies, latencies_max;
        bool daemon_unclean;
        unsigned leftover_objects;
} T;

static volatile sig_atomic_t interrupted;

static int64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void msleep(unsigned ms) {
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !interrupted)
                ;
}

static void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void vlog(const char *fmt, ...) {
        va_list ap;

        if (!arg_verbose)
                return;
        fprintf(stderr, "[%8.3f] ", (double)(now_ns() - T.t0) / 1e9);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

/* xorshift64*: the conductor's choices (victims, intervals); messages do not depend on it. */
static uint64_t rnd(void) {
        T.rng ^= T.rng >> 12;
        T.rng ^= T.rng << 25;
        T.rng ^= T.rng >> 27;
        return T.rng * 0x2545f4914f6cdd1dULL;
}

/* @ms jittered uniformly over [ms/2, 3ms/2], in ns. */
static int64_t jitter_ns(unsigned ms) {
        uint64_t lo = (uint64_t)ms * 500000ULL, span = (uint64_t)ms * 1000000ULL + 1;

        return (int64_t)(lo + rnd() % span);
}

/* ------------------------------------------------------------------------------------------ */
/* Messages: everything is a function of (incarnation, seq).                                   */

static uint32_t mix(uint32_t x) {
        x ^= x >> 16;
        x *= 0x7feb352du;
        x ^= x >> 15;
        x *= 0x846ca68bu;
        x ^= x >> 16;
        return x;
}

static uint32_t msg_mailbox(uint32_t inc, uint32_t seq) {
        return mix(mix(inc * 0x9e3779b1u) ^ seq) % arg_mailboxes;
}

static size_t msg_len(uint32_t inc, uint32_t seq, uint32_t slot_size) {
        uint32_t x = mix(inc ^ mix(seq + 0x51ed27u));

        /* the extremes often, the rest spread over the whole range */
        if (x % 16 == 0)
                return sizeof(MsgHead);
        if (x % 16 == 1)
                return slot_size;
        return sizeof(MsgHead) + (x >> 4) % (slot_size - sizeof(MsgHead) + 1);
}

/* FNV-1a */
static uint32_t fnv(uint32_t x, const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                x ^= p[i];
                x *= 16777619u;
        }
        return x;
}

static uint32_t msg_csum(const uint8_t *buf, size_t len) {
        MsgHead h;

        memcpy(&h, buf, sizeof(h));
        h.csum = 0;
        return fnv(fnv(2166136261u, (const uint8_t *)&h, sizeof(h)), buf + sizeof(h), len - sizeof(h));
}

static size_t msg_build(uint8_t *buf, uint32_t sender, uint32_t inc, uint32_t seq, uint32_t mailbox) {
        size_t len = msg_len(inc, seq, T.sh->boxes[mailbox].slot_size);
        uint32_t x = mix(inc * 0x85ebca6bu ^ seq);
        MsgHead h = { .magic = MSG_MAGIC,
                      .inc = inc,
                      .seq = seq,
                      .len = (uint32_t)len,
                      .sender = (uint16_t)sender,
                      .mailbox = (uint16_t)mailbox };

        for (size_t i = sizeof(h); i < len; i++)
                buf[i] = (uint8_t)((x >> (i % 4 * 8)) + i);
        memcpy(buf, &h, sizeof(h));
        h.csum = msg_csum(buf, len);
        memcpy(buf, &h, sizeof(h));
        return len;
}

/* ------------------------------------------------------------------------------------------ */
/* Clients                                                                                      */

static void child_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void child_error(const char *fmt, ...) {
        va_list ap;

        if (atomic_fetch_add(&T.sh->errors, 1) != 0)
                return;
        va_start(ap, fmt);
        vsnprintf(T.sh->first_error, sizeof(T.sh->first_error), fmt, ap);
        va_end(ap);
}

static void child_detail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void child_detail(const char *fmt, ...) {
        uint32_t k = atomic_fetch_add(&T.sh->n_details, 1);
        va_list ap;

        if (k >= sizeof(T.sh->details) / sizeof(T.sh->details[0]))
                return;
        va_start(ap, fmt);
        vsnprintf(T.sh->details[k], sizeof(T.sh->details[k]), fmt, ap);
        va_end(ap);
}

static Phase phase(void) {
        return (Phase)atomic_load(&T.sh->phase);
}

/* Connect, retrying while no daemon answers (it may be restarting). */
static int child_connect(const char *who, shmbox_client **ret) {
        for (;;) {
                int r = shmbox_connect(T.socket, ret);

                if (r == 0)
                        return 0;
                if (r != -ECONNREFUSED && r != -ENOTCONN) {
                        child_error("%s: connect: %s", who, shmbox_strerror(r));
                        return r;
                }
                msleep(5);
        }
}

/* Attach, retrying while the daemon is away. */
static int child_attach(const char *who, shmbox_client *c, uint32_t m, shmbox **ret) {
        for (;;) {
                int r = shmbox_attach(c, T.sh->boxes[m].name, ret);

                if (r == 0)
                        return 0;
                if (r != -ENOTCONN) {
                        child_error("%s: attach %s: %s", who, T.sh->boxes[m].name, shmbox_strerror(r));
                        return r;
                }
                msleep(5);
        }
}

static _Noreturn void sender_main(const Child *ch) {
        Incarnation *inc = &T.incs[ch->inc];
        Peer *peer = &T.sh->peers[ch->peer];
        shmbox *box[MAILBOXES_MAX] = { NULL };
        uint8_t buf[SLOT_SIZE_MAX];
        shmbox_client *c;
        char who[64];

        snprintf(who, sizeof(who), "sender %u (incarnation %u)", ch->id, ch->inc);
        if (child_connect(who, &c) < 0)
                _exit(EXIT_CHILD_FAILED);
        for (uint32_t m = 0; m < arg_mailboxes; m++)
                if (child_attach(who, c, m, &box[m]) < 0)
                        _exit(EXIT_CHILD_FAILED);
        atomic_store(&peer->attached, 1);

        for (uint32_t seq = 0; phase() == PHASE_RUN; seq++) {
                uint32_t m = msg_mailbox(ch->inc, seq);
                size_t len;
                int r;

                if (inc->base + seq >= T.cap || seq == UINT32_MAX) {
                        /* the delivery log is full: idle until the end */
                        while (phase() == PHASE_RUN)
                                msleep(10);
                        break;
                }
                len = msg_build(buf, ch->id, ch->inc, seq, m);
                atomic_store(&peer->mailbox, m);
                atomic_store(&inc->started, (uint64_t)seq + 1);
                for (;;) {
                        r = shmbox_send(box[m], buf, len, SEND_TIMEOUT_MS);
                        if (r == 0)
                                break;
                        if (r != -ETIMEDOUT && r != -EAGAIN) {
                                child_error("%s: send of seq %u to %s: %s", who, seq, T.sh->boxes[m].name,
                                            shmbox_strerror(r));
                                _exit(EXIT_CHILD_FAILED);
                        }
                        if (phase() != PHASE_RUN)
                                goto out; /* never committed: not acknowledged */
                }
                atomic_store(&inc->acked, (uint64_t)seq + 1);
                atomic_store(&T.sh->boxes[m].last_op_ns, now_ns());
        }
out:
        for (uint32_t m = 0; m < arg_mailboxes; m++)
                shmbox_detach(box[m]);
        shmbox_disconnect(c);
        _exit(EXIT_CHILD_OK);
}

/*
 * Check one received message and write its delivery record. @next: per incarnation, the last
 * sequence this receiver saw + 1 (0: none).
 */
static void receiver_record(uint32_t m, const uint8_t *buf, size_t n, uint32_t *next) {
        BoxShared *b = &T.sh->boxes[m];
        const Incarnation *inc;
        uint32_t n_incs;
        MsgHead h;

        if (n < sizeof(h)) {
                atomic_fetch_add(&b->torn, 1);
                child_detail("torn: %zu-byte message on %s", n, b->name);
                return;
        }
        memcpy(&h, buf, sizeof(h));
        if (h.magic != MSG_MAGIC || h.len != n || msg_csum(buf, n) != h.csum) {
                atomic_fetch_add(&b->torn, 1);
                child_detail("torn: %zu bytes on %s: magic %08x len %u inc %u seq %u csum %08x", n, b->name, h.magic,
                             h.len, h.inc, h.seq, h.csum);
                return;
        }
        n_incs = atomic_load(&T.sh->n_incs);
        inc = h.inc < n_incs ? &T.incs[h.inc] : NULL;
        if (!inc || inc->slot != h.sender || h.mailbox != m || msg_mailbox(h.inc, h.seq) != m ||
            h.seq >= atomic_load(&inc->started) || inc->base + h.seq >= T.cap ||
            msg_len(h.inc, h.seq, b->slot_size) != n) {
                atomic_fetch_add(&b->unexpected, 1);
                child_detail("unexpected: sender %u incarnation %u seq %u (%zu bytes) on %s", h.sender, h.inc, h.seq, n,
                             b->name);
                return;
        }
        if (next[h.inc] > h.seq) {
                atomic_fetch_add(&b->disorder, 1);
                if (arg_verbose)
                        child_detail("reordered: incarnation %u seq %u after seq %u on %s", h.inc, h.seq,
                                     next[h.inc] - 1, b->name);
        } else
                next[h.inc] = h.seq + 1;
        atomic_fetch_add(&T.deliv[(uint64_t)inc->slot * T.cap + inc->base + h.seq], 1);
}

static _Noreturn void receiver_main(const Child *ch) {
        uint32_t m = ch->id % arg_mailboxes;
        Peer *peer = &T.sh->peers[ch->peer];
        BoxShared *b = &T.sh->boxes[m];
        size_t cap = b->slot_size;
        uint32_t *next;
        uint8_t *buf;
        shmbox_client *c;
        shmbox *box;
        char who[64];

        snprintf(who, sizeof(who), "receiver %u on %s", ch->id, b->name);
        next = calloc(T.incs_max, sizeof(*next));
        buf = malloc(cap);
        if (!next || !buf) {
                child_error("%s: out of memory", who);
                _exit(EXIT_CHILD_FAILED);
        }
        atomic_store(&peer->mailbox, m);
        if (child_connect(who, &c) < 0 || child_attach(who, c, m, &box) < 0)
                _exit(EXIT_CHILD_FAILED);
        atomic_store(&peer->attached, 1);

        for (;;) {
                struct shmbox_info info;
                ssize_t n;

                atomic_store(&peer->in_recv, 1);
                n = shmbox_recv(box, buf, cap, RECV_TIMEOUT_MS);
                if (n >= 0) {
                        int64_t t;

                        receiver_record(m, buf, (size_t)n, next);
                        t = now_ns();
                        atomic_store(&b->last_delivery_ns, t);
                        atomic_store(&b->last_op_ns, t);
                        atomic_store(&peer->in_recv, 0);
                        continue;
                }
                atomic_store(&peer->in_recv, 0);
                if (n != -ETIMEDOUT && n != -EAGAIN) {
                        child_error("%s: recv: %s", who, shmbox_strerror((int)n));
                        _exit(EXIT_CHILD_FAILED);
                }
                /* Drained: a receive timed out and the daemon says nothing is queued. In this phase
                 * nothing can become queued any more: the senders are gone and every repair is done
                 * (a message another receiver holds is that receiver's to consume). */
                if (phase() == PHASE_DRAIN && shmbox_info(c, b->name, &info) == 0 && info.queued == 0)
                        break;
        }
        shmbox_detach(box);
        shmbox_disconnect(c);
        _exit(EXIT_CHILD_OK);
}

/* ------------------------------------------------------------------------------------------ */
/* The daemon                                                                                   */

static int daemon_spawn(void) {
        const char *argv[] = { arg_shmboxd, "--socket",    T.socket,
                               "--prefix",  T.prefix,      "--state-dir",
                               T.state_dir, "--log-level", arg_verbose ? "debug" : "info",
                               NULL };
        pid_t parent = getpid(), pid;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int fd = open(T.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

                /* its own process group, so a ^C reaches only us: we stop it with SIGTERM */
                (void)setpgid(0, 0);
                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(EXIT_CHILD_ORPHAN);
                if (fd >= 0) {
                        dup2(fd, STDOUT_FILENO);
                        dup2(fd, STDERR_FILENO);
                }
                signal(SIGINT, SIG_DFL);
                signal(SIGTERM, SIG_DFL);
                execv(arg_shmboxd, (char **)argv);
                fprintf(stderr, "torture: cannot execute %s: %s\n", arg_shmboxd, strerror(errno));
                _exit(127);
        }
        T.daemon = pid;
        T.daemon_ready = false;
        T.daemon_restart_at = 0;
        return 0;
}

/* Print the end of the daemon's log: the evidence of a failure. */
static void daemon_log_tail(unsigned lines) {
        FILE *f = fopen(T.log, "re");
        char **ring, buf[1024];
        unsigned n = 0;

        if (!f)
                return;
        ring = calloc(lines, sizeof(*ring));
        if (!ring) {
                fclose(f);
                return;
        }
        while (fgets(buf, sizeof(buf), f)) {
                free(ring[n % lines]);
                ring[n % lines] = strdup(buf);
                n++;
        }
        fclose(f);
        fprintf(stderr, "---- last %u line(s) of the shmboxd log (%s) ----\n", n < lines ? n : lines, T.log);
        for (unsigned i = n < lines ? 0 : n - lines; i < n; i++)
                if (ring[i % lines])
                        fputs(ring[i % lines], stderr);
        fprintf(stderr, "---- end of log ----\n");
        for (unsigned i = 0; i < lines; i++)
                free(ring[i]);
        free(ring);
}

static int waitpid_eintr(pid_t pid, int *status, int flags) {
        pid_t r;

        while ((r = waitpid(pid, status, flags)) < 0 && errno == EINTR)
                ;
        return r < 0 ? -errno : r;
}

/* Wait up to @ms for a daemon that answers; the conductor's connection is made then. The caller
 * shows the daemon's log if it does not. */
static int daemon_wait_ready(unsigned ms) {
        int64_t deadline = now_ns() + (int64_t)ms * 1000000LL;
        int status;

        for (;;) {
                int r;

                if (!T.ctl)
                        r = shmbox_connect(T.socket, &T.ctl);
                else {
                        struct shmbox_info info;

                        r = shmbox_info(T.ctl, T.sh->boxes[0].name, &info);
                        if (r == -ENOENT)
                                r = 0; /* answered: not created yet */
                }
                if (r == 0) {
                        T.daemon_ready = true;
                        return 0;
                }
                if (waitpid_eintr(T.daemon, &status, WNOHANG) == T.daemon) {
                        T.daemon = 0;
                        fprintf(stderr, "torture: shmboxd exited during start-up (status 0x%x)\n", status);
                        return -ECHILD;
                }
                if (now_ns() > deadline || interrupted) {
                        fprintf(stderr, "torture: shmboxd did not answer within %u ms\n", ms);
                        return -ETIMEDOUT;
                }
                msleep(2);
        }
}

static void daemon_kill(void) {
        int status;

        if (T.daemon <= 0)
                return;
        kill(T.daemon, SIGKILL);
        (void)waitpid_eintr(T.daemon, &status, 0);
        T.daemon = 0;
        T.daemon_ready = false;
}

/* SIGTERM and wait for a clean exit; false if it did not exit 0 within 10 s. */
static bool daemon_stop(void) {
        int64_t deadline = now_ns() + 10 * 1000000000LL;
        int status;

        if (T.daemon <= 0)
                return true;
        kill(T.daemon, SIGTERM);
        for (;;) {
                if (waitpid_eintr(T.daemon, &status, WNOHANG) == T.daemon)
                        break;
                if (now_ns() > deadline) {
                        fprintf(stderr, "torture: shmboxd did not stop within 10 s of SIGTERM\n");
                        daemon_kill();
                        return false;
                }
                msleep(2);
        }
        T.daemon = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "torture: shmboxd did not exit cleanly on SIGTERM (status 0x%x)\n", status);
                return false;
        }
        return true;
}

/* ------------------------------------------------------------------------------------------ */
/* The conductor                                                                                */

static Child *child_by_pid(pid_t pid) {
        for (unsigned i = 0; i < T.n_children; i++)
                if (T.children[i].pid == pid)
                        return &T.children[i];
        return NULL;
}

/* Start (again) the client of slot @ch: a sender gets a new incarnation. */
static int client_spawn(Child *ch) {
        Peer *peer = &T.sh->peers[ch->peer];
        pid_t parent = getpid(), pid;

        if (ch->sender) {
                uint32_t id = atomic_load(&T.sh->n_incs);

                if (id >= T.incs_max)
                        return -ENOSPC;
                T.incs[id] = (Incarnation){ .slot = ch->id, .base = T.next_base[ch->id] };
                atomic_store(&T.sh->n_incs, id + 1);
                ch->inc = id;
        }
        atomic_store(&peer->mailbox, NONE);
        atomic_store(&peer->in_recv, 0);
        atomic_store(&peer->attached, 0);

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                /* a conductor that dies must not leave its clients behind */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(EXIT_CHILD_ORPHAN);
                signal(SIGINT, SIG_DFL);
                signal(SIGTERM, SIG_DFL);
                /* inherited: this only closes the descriptor and frees the memory */
                shmbox_disconnect(T.ctl);
                T.ctl = NULL;
                if (ch->sender)
                        sender_main(ch);
                receiver_main(ch);
        }
        ch->pid = pid;
        return 0;
}

/* The client of @ch is gone (reaped): close its books. */
static void client_gone(Child *ch, IncState how) {
        if (ch->sender) {
                Incarnation *inc = &T.incs[ch->inc];

                atomic_store(&inc->state, how);
                T.next_base[ch->id] = inc->base + atomic_load(&inc->started);
        }
        ch->pid = 0;
}

static void pending_add(int64_t t, uint32_t mailbox) {
        if (T.n_pending == T.pending_max) {
                size_t n = T.pending_max ? T.pending_max * 2 : 64;
                Pending *p = realloc(T.pending, n * sizeof(*p));

                if (!p)
                        return;
                T.pending = p;
                T.pending_max = n;
        }
        T.pending[T.n_pending++] = (Pending){ .t_ns = t, .mailbox = mailbox };
}

static void latency_add(double ms) {
        if (T.n_latencies == T.latencies_max) {
                size_t n = T.latencies_max ? T.latencies_max * 2 : 256;
                double *p = realloc(T.latencies, n * sizeof(*p));

                if (!p)
                        return;
                T.latencies = p;
                T.latencies_max = n;
        }
        T.latencies[T.n_latencies++] = ms;
}

/* A kill is recovered from by the next successful operation on the victim's mailbox. */
static void pending_check(void) {
        size_t k = 0;

        for (size_t i = 0; i < T.n_pending; i++) {
                Pending *p = &T.pending[i];
                int64_t t = atomic_load(&T.sh->boxes[p->mailbox].last_op_ns);

                if (t > p->t_ns)
                        latency_add((double)(t - p->t_ns) / 1e6);
                else
                        T.pending[k++] = *p;
        }
        T.n_pending = k;
}

static void client_kill(Child *ch) {
        Peer *peer = &T.sh->peers[ch->peer];
        uint32_t m;
        int status;

        kill(ch->pid, SIGKILL);
        (void)waitpid_eintr(ch->pid, &status, 0);
        T.client_kills++;
        m = atomic_load(&peer->mailbox);
        if (!ch->sender && m < arg_mailboxes && atomic_load(&peer->in_recv))
                T.kills_in_recv[m]++;
        vlog("killed %s %u (pid %d%s) on %s", ch->sender ? "sender" : "receiver", ch->id, (int)ch->pid,
             atomic_load(&peer->in_recv) ? ", in recv" : "", m < arg_mailboxes ? T.sh->boxes[m].name : "-");
        client_gone(ch, INC_KILLED);
        if (m < arg_mailboxes)
                pending_add(now_ns(), m);
}

/* Reap whatever ended by itself: clients that exited or crashed, a daemon that died. */
static void reap(void) {
        for (;;) {
                int status;
                pid_t pid = waitpid_eintr(-1, &status, WNOHANG);
                Child *ch;

                if (pid <= 0)
                        return;
                if (pid == T.daemon) {
                        T.daemon = 0;
                        T.daemon_ready = false;
                        T.daemon_crashes++;
                        fprintf(stderr, "torture: shmboxd died on its own (status 0x%x)\n", status);
                        daemon_log_tail(60);
                        T.daemon_restart_at = now_ns();
                        continue;
                }
                ch = child_by_pid(pid);
                if (!ch)
                        continue;
                if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_CHILD_OK) {
                        client_gone(ch, INC_EXITED);
                        ch->finished = phase() != PHASE_RUN;
                        if (phase() == PHASE_RUN) /* a client never ends by itself in this phase */
                                T.client_failures++;
                        continue;
                }
                if (WIFSIGNALED(status)) {
                        T.client_crashes++;
                        fprintf(stderr, "torture: %s %u (pid %d) died of signal %d\n",
                                ch->sender ? "sender" : "receiver", ch->id, (int)pid, WTERMSIG(status));
                } else {
                        T.client_failures++;
                        vlog("%s %u (pid %d) failed with status %d", ch->sender ? "sender" : "receiver", ch->id,
                             (int)pid, WEXITSTATUS(status));
                }
                client_gone(ch, INC_FAILED);
        }
}

/* Start the clients that should be running and are not. */
static void respawn(void) {
        Phase ph = phase();

        for (unsigned i = 0; i < T.n_children; i++) {
                Child *ch = &T.children[i];
                int r;

                if (ch->pid > 0 || ch->finished)
                        continue;
                if (ch->sender && ph != PHASE_RUN) {
                        ch->finished = true;
                        continue;
                }
                r = client_spawn(ch);
                if (r == -ENOSPC) {
                        fprintf(stderr, "torture: no incarnation left for sender %u: it stays down\n", ch->id);
                        ch->finished = true;
                } else if (r < 0) {
                        T.spawn_failures++;
                        fprintf(stderr, "torture: fork: %s\n", strerror(-r));
                }
        }
}

/*
 * Every SAMPLE_NS: ask the daemon what is queued and keep the longest stall. While the daemon is
 * away its last answer stands, so a stall across a restart is counted whole.
 */
static void sample(int64_t now) {
        for (uint32_t m = 0; m < arg_mailboxes; m++) {
                BoxShared *b = &T.sh->boxes[m];
                struct shmbox_info info;
                int64_t last;

                if (T.daemon > 0 && shmbox_info(T.ctl, b->name, &info) == 0) {
                        if (!T.daemon_ready)
                                vlog("shmboxd answers again");
                        T.daemon_ready = true;
                        T.queued_seen[m] = info.queued > 0;
                }
                if (!T.queued_seen[m]) {
                        T.stall_from[m] = 0;
                        continue;
                }
                last = atomic_load(&b->last_delivery_ns);
                if (T.stall_from[m] == 0)
                        T.stall_from[m] = now; /* first seen with messages queued */
                else if (last > T.stall_from[m])
                        T.stall_from[m] = last; /* a delivery since: the stall starts again */
                if (now - T.stall_from[m] > T.longest_stall_ns) {
                        T.longest_stall_ns = now - T.stall_from[m];
                        T.longest_stall_box = m;
                }
        }
}

static unsigned live_clients(bool senders, bool receivers) {
        unsigned n = 0;

        for (unsigned i = 0; i < T.n_children; i++)
                if (T.children[i].pid > 0 && (T.children[i].sender ? senders : receivers))
                        n++;
        return n;
}

/* Every dead attachment released (so every repair done): attached == the live receivers. */
static bool settled(void) {
        for (uint32_t m = 0; m < arg_mailboxes; m++) {
                struct shmbox_info info;
                unsigned live = 0;

                for (unsigned i = 0; i < T.n_children; i++) {
                        const Child *ch = &T.children[i];

                        if (ch->sender || ch->pid <= 0 || ch->id % arg_mailboxes != m)
                                continue;
                        if (!atomic_load(&T.sh->peers[ch->peer].attached))
                                return false;
                        live++;
                }
                if (shmbox_info(T.ctl, T.sh->boxes[m].name, &info) < 0 || info.attached != live)
                        return false;
        }
        return true;
}

static void kill_all_clients(void) {
        for (unsigned i = 0; i < T.n_children; i++) {
                Child *ch = &T.children[i];
                int status;

                if (ch->pid <= 0)
                        continue;
                kill(ch->pid, SIGKILL);
                (void)waitpid_eintr(ch->pid, &status, 0);
                client_gone(ch, INC_KILLED);
                ch->finished = true;
        }
}

/*
 * The run: RUN for --seconds with kills, then STOP (senders end, the daemon is brought back if it
 * is away), settle (every dead attachment repaired), DRAIN (receivers empty every mailbox).
 * Returns false if a phase got stuck or we were interrupted.
 */
static bool conduct(void) {
        int64_t t_end = T.t0 + (int64_t)arg_seconds * 1000000000LL;
        int64_t next_kill = arg_kill_interval_ms ? T.t0 + jitter_ns(arg_kill_interval_ms) : INT64_MAX;
        int64_t next_daemon_kill =
                arg_daemon_kill_interval_ms ? T.t0 + jitter_ns(arg_daemon_kill_interval_ms) : INT64_MAX;
        int64_t next_sample = T.t0, next_progress = T.t0 + 1000000000LL, deadline = 0;
        bool was_ready = true, settle_done = false;

        for (;;) {
                int64_t now = now_ns();
                Phase ph = phase();

                if (interrupted)
                        return false;
                reap();

                /* the daemon: start it again when due; in the end phases it must be there */
                if (T.daemon <= 0 && T.daemon_restart_at && (now >= T.daemon_restart_at || ph != PHASE_RUN)) {
                        if (daemon_spawn() < 0)
                                return false;
                        T.daemon_restarts++;
                        vlog("shmboxd started again (pid %d)", (int)T.daemon);
                }
                if (T.daemon_crashes > 10) {
                        fprintf(stderr, "torture: shmboxd keeps dying on its own: giving up\n");
                        return false;
                }
                respawn();

                if (now >= next_sample) {
                        sample(now);
                        next_sample = now + SAMPLE_NS;
                        if (T.daemon_ready && !was_ready && arg_daemon_kill_interval_ms)
                                next_daemon_kill = now + jitter_ns(arg_daemon_kill_interval_ms);
                        was_ready = T.daemon_ready;
                }
                pending_check();

                switch (ph) {
                case PHASE_RUN:
                        if (now >= t_end) {
                                vlog("time is up: senders stop");
                                atomic_store(&T.sh->phase, PHASE_STOP);
                                deadline = now + PHASE_DEADLINE_S * 1000000000LL;
                                break;
                        }
                        if (now >= next_kill) {
                                unsigned live = live_clients(true, true), k;

                                if (live > 0) {
                                        k = (unsigned)(rnd() % live);
                                        for (unsigned i = 0; i < T.n_children; i++)
                                                if (T.children[i].pid > 0 && k-- == 0) {
                                                        client_kill(&T.children[i]);
                                                        break;
                                                }
                                }
                                next_kill = now + jitter_ns(arg_kill_interval_ms);
                        }
                        if (now >= next_daemon_kill && T.daemon_ready) {
                                daemon_kill();
                                T.daemon_restart_at = now + (int64_t)(rnd() % (DAEMON_PAUSE_MAX_MS + 1)) * 1000000LL;
                                vlog("killed shmboxd; it comes back in %.0f ms",
                                     (double)(T.daemon_restart_at - now) / 1e6);
                                next_daemon_kill = INT64_MAX; /* rescheduled once it answers again */
                                was_ready = false;
                        }
                        if (arg_verbose && now >= next_progress) {
                                uint64_t acked = 0;

                                for (uint32_t i = 0; i < atomic_load(&T.sh->n_incs); i++)
                                        acked += atomic_load(&T.incs[i].acked);
                                vlog("progress: %" PRIu64 " acknowledged, %" PRIu64 " client kills, %" PRIu64
                                     " daemon restarts",
                                     acked, T.client_kills, T.daemon_restarts);
                                next_progress = now + 1000000000LL;
                        }
                        break;
                case PHASE_STOP:
                        if (live_clients(true, false) == 0 && T.daemon_ready) {
                                if (!settle_done && !settled()) {
                                        msleep(5);
                                        break;
                                }
                                settle_done = true;
                                vlog("senders done, repairs done: receivers drain");
                                atomic_store(&T.sh->phase, PHASE_DRAIN);
                                deadline = now + PHASE_DEADLINE_S * 1000000000LL;
                        }
                        break;
                case PHASE_DRAIN:
                        if (live_clients(true, true) == 0) {
                                sample(now_ns());
                                pending_check();
                                return true;
                        }
                        break;
                }
                if (deadline && now > deadline) {
                        T.stuck++;
                        fprintf(stderr,
                                "torture: stuck: %s did not finish within %d s (%u sender(s), %u "
                                "receiver(s) running)\n",
                                ph == PHASE_STOP ? "stopping the senders" : "draining", PHASE_DEADLINE_S,
                                live_clients(true, false), live_clients(false, true));
                        return false;
                }
                msleep(1);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Setup, accounting and cleanup                                                                */

static bool object_of_prefix(const char *entry) {
        size_t n = strlen(T.prefix);

        if (strncmp(entry, "sem.", 4) == 0)
                entry += 4;
        return strncmp(entry, T.prefix, n) == 0 && entry[n] == '.';
}

/* Remove every /dev/shm object of our prefix; returns how many there were. */
static unsigned sweep_shm(void) {
        DIR *d = opendir("/dev/shm");
        struct dirent *de;
        unsigned n = 0;

        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (object_of_prefix(de->d_name)) {
                        fprintf(stderr, "torture: left in /dev/shm: %s\n", de->d_name);
                        (void)unlinkat(dirfd(d), de->d_name, 0);
                        n++;
                }
        closedir(d);
        return n;
}

static void rm_rf(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        char path[512];

        if (!d)
                return;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                if (de->d_type == DT_DIR)
                        rm_rf(path);
                else
                        (void)unlink(path);
        }
        closedir(d);
        (void)rmdir(dir);
}

/* Everything back as it was: clients reaped, mailboxes destroyed, daemon stopped, /dev/shm and
 * the temporary directory clean. Safe to call from any point after the directory exists. */
static void cleanup(bool print_log) {
        kill_all_clients();
        if (T.daemon <= 0 && (T.created[0] || T.daemon_restart_at)) {
                if (daemon_spawn() == 0 && daemon_wait_ready(10000) < 0)
                        daemon_kill();
        }
        for (uint32_t m = 0; m < arg_mailboxes; m++) {
                int r = -ENOTCONN;

                if (!T.created[m])
                        continue;
                for (int tries = 0; T.ctl && T.daemon > 0 && tries < 100; tries++) {
                        r = shmbox_destroy(T.ctl, T.sh->boxes[m].name);
                        if (r != -ENOTCONN)
                                break;
                        msleep(10);
                }
                if (r < 0 && r != -ENOENT)
                        fprintf(stderr, "torture: destroy %s: %s\n", T.sh->boxes[m].name, shmbox_strerror(r));
                T.created[m] = false;
        }
        shmbox_disconnect(T.ctl);
        T.ctl = NULL;
        if (!daemon_stop())
                T.daemon_unclean = true;
        T.leftover_objects += sweep_shm();
        if (print_log || T.daemon_unclean || T.leftover_objects)
                daemon_log_tail(60);
        if (T.dir[0])
                rm_rf(T.dir);
        T.dir[0] = 0;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

static double percentile(double p) {
        size_t k;

        if (T.n_latencies == 0)
                return 0;
        k = (size_t)(p / 100.0 * (double)T.n_latencies + 0.999999);
        return T.latencies[k ? k - 1 : 0];
}

typedef struct Account {
        uint64_t acknowledged, deliveries, lost, unexpected, indeterminate, torn, duplicated;
        uint64_t candidates, unrecorded, order_violations, disorder_unexplained, recovered;
        uint64_t accounting_errors, received_drift;
        bool final_info;
} Account;

/* Jepsen-style: compare the ack logs, the delivery logs and the daemon's counters. */
static void account(Account *a) {
        uint64_t ack_m[MAILBOXES_MAX] = { 0 }, cand_m[MAILBOXES_MAX] = { 0 }, rec_m[MAILBOXES_MAX] = { 0 };
        uint32_t n_incs = atomic_load(&T.sh->n_incs);
        unsigned shown = 0;

        *a = (Account){ .final_info = true };
        for (uint32_t i = 0; i < n_incs; i++) {
                const Incarnation *inc = &T.incs[i];
                uint64_t started = atomic_load(&inc->started), acked = atomic_load(&inc->acked);
                bool killed = atomic_load(&inc->state) == INC_KILLED;
                const _Atomic uint8_t *log = T.deliv + (uint64_t)inc->slot * T.cap + inc->base;

                for (uint64_t seq = 0; seq < started; seq++) {
                        uint8_t d = atomic_load(&log[seq]);
                        uint32_t m = msg_mailbox(i, (uint32_t)seq);

                        if (seq < acked) {
                                a->acknowledged++;
                                ack_m[m]++;
                                if (d == 0) {
                                        cand_m[m]++;
                                        if (arg_verbose && shown++ < 10)
                                                fprintf(stderr,
                                                        "torture: no delivery record: sender %u "
                                                        "incarnation %u seq %" PRIu64 " on %s (%s)\n",
                                                        inc->slot, i, seq, T.sh->boxes[m].name,
                                                        killed ? "sender killed" : "sender ended");
                                }
                        } else if (d > 0) {
                                /* the one in flight: indeterminate only if its sender was killed */
                                if (killed && seq == acked)
                                        a->indeterminate++;
                                else {
                                        a->unexpected++;
                                        fprintf(stderr,
                                                "torture: delivered but never acknowledged: sender %u "
                                                "incarnation %u seq %" PRIu64 " (acked %" PRIu64 ", state %u)\n",
                                                inc->slot, i, seq, acked, atomic_load(&inc->state));
                                }
                        }
                        a->deliveries += d;
                        rec_m[m] += d;
                        if (d > 1) {
                                a->duplicated += d - 1u;
                                fprintf(stderr,
                                        "torture: delivered %u times: sender %u incarnation %u seq %" PRIu64 "\n", d,
                                        inc->slot, i, seq);
                        }
                }
        }

        for (uint32_t m = 0; m < arg_mailboxes; m++) {
                BoxShared *b = &T.sh->boxes[m];
                uint64_t torn = atomic_load(&b->torn), unexp = atomic_load(&b->unexpected);
                uint64_t disorder = atomic_load(&b->disorder), recorded, consumed = 0;
                int64_t gap = 0;
                struct shmbox_info info;
                int r = T.ctl ? shmbox_info(T.ctl, b->name, &info) : -ENOTCONN;

                a->torn += torn;
                a->unexpected += unexp;
                a->order_violations += disorder;
                a->candidates += cand_m[m];
                recorded = rec_m[m] + torn + unexp;
                if (r < 0) {
                        fprintf(stderr, "torture: final info of %s: %s\n", b->name, shmbox_strerror(r));
                        a->final_info = false;
                        a->accounting_errors++;
                        a->lost += cand_m[m];
                        continue;
                }
                consumed = info.received - info.recovered;
                if (consumed > info.sent) {
                        a->received_drift += consumed - info.sent;
                        consumed = info.sent;
                } else if (consumed < info.sent) {
                        /* committed, yet never taken although the mailbox is empty */
                        fprintf(stderr, "torture: %s: sent %" PRIu64 " but only %" PRIu64 " consumed\n", b->name,
                                (uint64_t)info.sent, consumed);
                        a->accounting_errors++;
                }
                gap = (int64_t)(consumed - recorded);
                a->recovered += info.recovered;
                if (disorder > info.recovered)
                        a->disorder_unexplained += disorder - info.recovered;
                if (gap < 0 || (uint64_t)gap > T.kills_in_recv[m]) {
                        fprintf(stderr,
                                "torture: %s: %" PRIu64 " consumed (received %" PRIu64 " - recovered %" PRIu64
                                ") but %" PRIu64 " recorded, with %" PRIu64 " receiver(s) killed in recv\n",
                                b->name, consumed, (uint64_t)info.received, (uint64_t)info.recovered, recorded,
                                T.kills_in_recv[m]);
                        a->accounting_errors++;
                }
                /* only as many as there were receivers killed in recv can be excused */
                if (gap < 0)
                        gap = 0;
                if ((uint64_t)gap > T.kills_in_recv[m])
                        gap = (int64_t)T.kills_in_recv[m];
                a->unrecorded += (uint64_t)gap;
                a->lost += cand_m[m] > (uint64_t)gap ? cand_m[m] - (uint64_t)gap : 0;
                if (info.queued || info.attached) {
                        fprintf(stderr, "torture: %s after the drain: %u queued, %u attached\n", b->name, info.queued,
                                info.attached);
                        a->accounting_errors++;
                }
                vlog("%s: %" PRIu64 " acknowledged, sent %" PRIu64 ", received %" PRIu64 ", recovered %" PRIu64
                     ", recorded %" PRIu64 ", without record %" PRIu64 ", unrecorded %" PRId64
                     ", receivers killed in recv %" PRIu64 ", reordered %" PRIu64,
                     b->name, ack_m[m], (uint64_t)info.sent, (uint64_t)info.received, (uint64_t)info.recovered,
                     recorded, cand_m[m], gap, T.kills_in_recv[m], disorder);
        }
}

static void help(void) {
        printf("Usage: torture [OPTION...]\n"
               "Random-kill torture of shmbox: senders and receivers (processes) on the mailboxes of a private\n"
               "shmboxd, SIGKILLed at random, the daemon too; then an account of every acknowledged message.\n"
               "The last line of output is the summary (key=value); exit 1 if anything was lost, unexpected,\n"
               "torn or duplicated, or a health check failed; 2 on bad usage or if shmboxd cannot start.\n\n"
               "  --senders W                   sender processes (default 3, at most %d)\n"
               "  --receivers R                 receiver processes, receiver r serves mailbox r %% M\n"
               "                                (default 3, at most %d, at least M)\n"
               "  --mailboxes M                 mailboxes (default 2, at most %d)\n"
               "  --seconds S                   how long to run before draining (default 30)\n"
               "  --kill-interval-ms K          SIGKILL a random client every K ms, +-50%% (default 200; 0: never)\n"
               "  --daemon-kill-interval-ms D   SIGKILL shmboxd every D ms, +-50%% (default 5000; 0: never)\n"
               "  --seed N                      seed of the random choices (default: from the clock)\n"
               "  --shmboxd PATH                the daemon to run (default: $SHMBOXD)\n"
               "  --verbose                     report every kill and restart, and the anomalies, on stderr\n"
               "  --help                        show this help\n",
               SENDERS_MAX, RECEIVERS_MAX, MAILBOXES_MAX);
}

static int parse_uint(const char *opt, const char *s, unsigned max, unsigned *ret) {
        unsigned long v;
        char *end;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || *s == '-' || v > max) {
                fprintf(stderr, "torture: invalid %s \"%s\" (0..%u)\n", opt, s, max);
                return -EINVAL;
        }
        *ret = (unsigned)v;
        return 0;
}

static int parse_argv(int argc, char **argv) {
        enum {
                ARG_SENDERS = 0x100,
                ARG_RECEIVERS,
                ARG_MAILBOXES,
                ARG_SECONDS,
                ARG_KILL,
                ARG_DKILL,
                ARG_SEED,
                ARG_SHMBOXD,
                ARG_VERBOSE,
                ARG_HELP
        };
        static const struct option options[] = { { "senders", required_argument, NULL, ARG_SENDERS },
                                                 { "receivers", required_argument, NULL, ARG_RECEIVERS },
                                                 { "mailboxes", required_argument, NULL, ARG_MAILBOXES },
                                                 { "seconds", required_argument, NULL, ARG_SECONDS },
                                                 { "kill-interval-ms", required_argument, NULL, ARG_KILL },
                                                 { "daemon-kill-interval-ms", required_argument, NULL, ARG_DKILL },
                                                 { "seed", required_argument, NULL, ARG_SEED },
                                                 { "shmboxd", required_argument, NULL, ARG_SHMBOXD },
                                                 { "verbose", no_argument, NULL, ARG_VERBOSE },
                                                 { "help", no_argument, NULL, ARG_HELP },
                                                 {} };
        bool seeded = false;
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                int r = 0;

                switch (c) {
                case ARG_SENDERS: r = parse_uint("--senders", optarg, SENDERS_MAX, &arg_senders); break;
                case ARG_RECEIVERS: r = parse_uint("--receivers", optarg, RECEIVERS_MAX, &arg_receivers); break;
                case ARG_MAILBOXES: r = parse_uint("--mailboxes", optarg, MAILBOXES_MAX, &arg_mailboxes); break;
                case ARG_SECONDS: r = parse_uint("--seconds", optarg, 7 * 24 * 3600, &arg_seconds); break;
                case ARG_KILL: r = parse_uint("--kill-interval-ms", optarg, 3600 * 1000, &arg_kill_interval_ms); break;
                case ARG_DKILL:
                        r = parse_uint("--daemon-kill-interval-ms", optarg, 3600 * 1000, &arg_daemon_kill_interval_ms);
                        break;
                case ARG_SEED: {
                        char *end;

                        errno = 0;
                        arg_seed = strtoull(optarg, &end, 0);
                        if (errno || end == optarg || *end) {
                                fprintf(stderr, "torture: invalid --seed \"%s\"\n", optarg);
                                return -EINVAL;
                        }
                        seeded = true;
                        break;
                }
                case ARG_SHMBOXD: arg_shmboxd = optarg; break;
                case ARG_VERBOSE: arg_verbose = true; break;
                case ARG_HELP: help(); return 0;
                default: fprintf(stderr, "Try 'torture --help'.\n"); return -EINVAL;
                }
                if (r < 0)
                        return r;
        }
        if (optind < argc) {
                fprintf(stderr, "torture: unexpected argument \"%s\"\n", argv[optind]);
                return -EINVAL;
        }
        if (arg_senders == 0 || arg_mailboxes == 0 || arg_receivers < arg_mailboxes) {
                fprintf(stderr, "torture: need at least one sender, one mailbox, and a receiver per mailbox\n");
                return -EINVAL;
        }
        if (!arg_shmboxd)
                arg_shmboxd = getenv("SHMBOXD");
        if (!arg_shmboxd || !*arg_shmboxd) {
                fprintf(stderr, "torture: no daemon: pass --shmboxd PATH or set $SHMBOXD\n");
                return -EINVAL;
        }
        if (!seeded)
                arg_seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
        return 1;
}

static void on_signal(int sig) {
        interrupted = sig;
}

static void *map_shared(size_t size) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

        return p == MAP_FAILED ? NULL : p;
}

/* Directory, prefix, shared logs, daemon, mailboxes. Returns 0, or -errno after saying why. */
static int setup(void) {
        const char *tmp = getenv("TMPDIR"), *stem = getenv("SHMBOX_TEST_PREFIX");
        uint64_t kills_max;
        int r;

        /* sun_path holds 108 bytes: a deep $TMPDIR falls back to /tmp */
        snprintf(T.dir, sizeof(T.dir), "%s/shmboxtor.XXXXXX", tmp && *tmp && strlen(tmp) < 60 ? tmp : "/tmp");
        if (!mkdtemp(T.dir)) {
                r = -errno;
                fprintf(stderr, "torture: mkdtemp %s: %s\n", T.dir, strerror(-r));
                T.dir[0] = 0;
                return r;
        }
        snprintf(T.socket, sizeof(T.socket), "%s/sock", T.dir);
        snprintf(T.state_dir, sizeof(T.state_dir), "%s/state", T.dir);
        snprintf(T.log, sizeof(T.log), "%s/shmboxd.log", T.dir);
        if (!stem || !*stem || strlen(stem) > 20 ||
            strspn(stem, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(stem))
                stem = "shmboxtor";
        snprintf(T.prefix, sizeof(T.prefix), "%s_%d", stem, (int)getpid());

        /* incarnations: at most one per kill (intervals are >= K/2), plus failures, plus slack */
        kills_max = arg_kill_interval_ms ? (uint64_t)arg_seconds * 2000 / arg_kill_interval_ms + 1 : 0;
        kills_max += arg_senders + 4096;
        T.incs_max = (uint32_t)(kills_max > UINT32_MAX / 2 ? UINT32_MAX / 2 : kills_max);
        /* delivery log entries per sender: more than a sender can send, reserved, not committed */
        T.cap = (uint64_t)arg_seconds << 21;
        T.cap = T.cap < (1u << 20) ? (1u << 20) : T.cap > (1ULL << 32) ? (1ULL << 32) : T.cap;

        T.sh = map_shared(sizeof(*T.sh));
        T.incs = map_shared((size_t)T.incs_max * sizeof(*T.incs));
        T.deliv = map_shared(arg_senders * T.cap);
        if (!T.sh || !T.incs || !T.deliv) {
                fprintf(stderr, "torture: cannot map the shared logs: %s\n", strerror(errno));
                return -ENOMEM;
        }
        for (uint32_t m = 0; m < arg_mailboxes; m++) {
                BoxShared *b = &T.sh->boxes[m];

                snprintf(b->name, sizeof(b->name), "tort%u", m);
                /* small rings and varied geometry: full and empty waits all the time */
                b->slot_size = 256u << (m % 3);
        }

        r = daemon_spawn();
        if (r < 0) {
                fprintf(stderr, "torture: fork: %s\n", strerror(-r));
                return r;
        }
        r = daemon_wait_ready(10000);
        if (r < 0)
                return r;
        for (uint32_t m = 0; m < arg_mailboxes; m++) {
                const struct shmbox_config cfg = { .slots = 4u << (m % 3), .slot_size = T.sh->boxes[m].slot_size };

                r = shmbox_create(T.ctl, T.sh->boxes[m].name, &cfg);
                if (r < 0) {
                        fprintf(stderr, "torture: create %s: %s\n", T.sh->boxes[m].name, shmbox_strerror(r));
                        return r;
                }
                T.created[m] = true;
        }
        for (unsigned i = 0; i < arg_senders + arg_receivers; i++)
                T.children[T.n_children++] = (Child){
                        .sender = i < arg_senders,
                        .id = i < arg_senders ? i : i - arg_senders,
                        .peer = i,
                };
        return 0;
}

int main(int argc, char **argv) {
        struct sigaction sa = { .sa_handler = on_signal };
        Account a = { 0 };
        bool ok, failed;
        int r;

        setvbuf(stdout, NULL, _IOLBF, 0);
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        T.rng = arg_seed ? arg_seed : 1;
        T.t0 = now_ns();
        unsetenv("SHMBOX_CRASH_AT"); /* the crash points are for other tests */
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = setup();
        if (r < 0) {
                cleanup(true);
                return 2;
        }
        printf("torture: prefix %s, %u sender(s), %u receiver(s), %u mailbox(es), %u s, client kill every "
               "%u ms, daemon kill every %u ms, seed %" PRIu64 "\n",
               T.prefix, arg_senders, arg_receivers, arg_mailboxes, arg_seconds, arg_kill_interval_ms,
               arg_daemon_kill_interval_ms, arg_seed);

        T.t0 = now_ns();
        ok = conduct();
        if (ok)
                account(&a);
        else
                kill_all_clients();
        cleanup(!ok);

        for (uint32_t n = atomic_load(&T.sh->n_details), i = 0; i < n && i < 8; i++)
                fprintf(stderr, "torture: %s\n", T.sh->details[i]);
        if (atomic_load(&T.sh->errors))
                fprintf(stderr, "torture: %u client error(s), the first: %s\n", atomic_load(&T.sh->errors),
                        T.sh->first_error);
        qsort(T.latencies, T.n_latencies, sizeof(*T.latencies), cmp_double);
        for (unsigned i = 0; i < arg_senders; i++)
                if (T.next_base[i] >= T.cap)
                        T.capped++;

        failed = !ok || a.lost || a.unexpected || a.torn || a.duplicated || a.disorder_unexplained ||
                 a.accounting_errors || atomic_load(&T.sh->errors) || T.client_crashes || T.client_failures ||
                 T.daemon_crashes || T.daemon_unclean || T.leftover_objects || T.stuck;
        fflush(stderr);
        printf("result=%s seed=%" PRIu64 " senders=%u receivers=%u mailboxes=%u seconds=%u acknowledged=%" PRIu64
               " deliveries=%" PRIu64 " lost=%" PRIu64 " unexpected=%" PRIu64 " indeterminate=%" PRIu64 " torn=%" PRIu64
               " duplicated=%" PRIu64 " unrecorded=%" PRIu64 " order_violations=%" PRIu64 " order_unexplained=%" PRIu64
               " redelivered=%" PRIu64 " client_kills=%" PRIu64 " daemon_restarts=%" PRIu64
               " longest_stall_ms=%.1f recovery_p50_ms=%.2f recovery_p99_ms=%.2f"
               " recovery_max_ms=%.2f unrecovered=%zu client_errors=%u client_crashes=%" PRIu64
               " daemon_crashes=%" PRIu64 " accounting_errors=%" PRIu64 " received_drift=%" PRIu64
               " leftover_objects=%u%s%s\n",
               interrupted ? "INTERRUPTED"
               : failed    ? "FAIL"
                           : "PASS",
               arg_seed, arg_senders, arg_receivers, arg_mailboxes, arg_seconds, a.acknowledged, a.deliveries, a.lost,
               a.unexpected, a.indeterminate, a.torn, a.duplicated, a.unrecorded, a.order_violations,
               a.disorder_unexplained, a.recovered, T.client_kills, T.daemon_restarts, (double)T.longest_stall_ns / 1e6,
               percentile(50), percentile(99), T.n_latencies ? T.latencies[T.n_latencies - 1] : 0.0, T.n_pending,
               atomic_load(&T.sh->errors), T.client_crashes, T.daemon_crashes, a.accounting_errors, a.received_drift,
               T.leftover_objects, T.stuck ? " stuck=1" : "", T.capped ? " capped=1" : "");
        return failed || interrupted ? 1 : 0;
}
