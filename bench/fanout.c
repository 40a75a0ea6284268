/* SPDX-License-Identifier: MIT */
/* fanout.c — the benchmark's fan-out group (issue 19): one publisher and 1, 2 or 4 subscribers,
 * each in its own process, with 64 B and 64 KiB messages, through three publish/subscribe
 * mechanisms in one run:
 *
 * - shmbox: a broadcast mailbox (SHMBOX_CONFIG_BROADCAST: every attached box with the right to
 *   receive gets every message committed after its attach) of 64 slots, made by the driver; the
 *   publisher attaches and calls shmbox_subscribe(box, false) so that it does not hold the ring
 *   back, sends with shmbox_send() (which waits for the slowest subscriber: no loss), and each
 *   subscriber receives with shmbox_recv(). Built only where client/shmbox.h defines
 *   SHMBOX_CONFIG_BROADCAST; else the row says so.
 * - iceoryx: one publisher and a subscriber per process (bench/iceoryx.c: queues of 64, a full
 *   queue blocks the publisher, no loss), with the benchmark's own RouDi. The publisher copies
 *   each message into a loaned chunk, each subscriber copies it out of the taken chunk, so each
 *   row copies a message in once and out once per subscriber, as shmbox_send/shmbox_recv do.
 * - zmq: PUB (binds) and SUB (connects) over ipc:// (bench/zmqipc.c), SNDHWM and RCVHWM 64 like
 *   every other ZeroMQ socket of the benchmark. PUB does not wait for a slow subscriber: it
 *   drops what does not fit its HWM. That is ZeroMQ's design and the row keeps it (no credit
 *   scheme): each subscriber counts what it got, gaps in the sequence numbers are the losses,
 *   and the table gives the delivered msgs/s and the share of the sent messages delivered.
 *
 * Every subscriber must be receiving before the publisher starts: the driver forks the
 * publisher, then the subscribers, each reporting ready once it is open (attached, subscribed,
 * connected); then the publisher sends "hello" messages, one a millisecond, until every
 * subscriber has seen one (a flag in the shared page): a ZeroMQ subscription or an iceoryx
 * connection made after the open is then in place too. Only then does the timed part begin.
 *
 * Throughput: the publisher sends for the duration, then an end marker; each subscriber's rate
 * is what it received over the time from the start to its end marker (a ZeroMQ subscriber
 * whose end marker was dropped stops when the publisher is done and nothing came for 100 ms,
 * and counts to its last message). The figure is the mean of the subscribers' rates.
 * Latency: the publisher sends one message every FANOUT_GAP_US, stamped with CLOCK_MONOTONIC
 * just before the send; each subscriber, blocked in its receive, takes the difference on
 * arrival: p50 and p99 over all subscribers' messages. Nothing is pinned: a publisher and up
 * to four subscribers share the machine's CPUs.
 * Subscribers receive with a deadline of IDLE_MS: a receive that returns a message only when its
 * deadline is up was not woken when the message came, or its process did not run for that long
 * (a loaded machine), and is counted ("late receives", the sum over the runs; seen with broadcast
 * mailboxes while this group was written, each ending 100-101 ms after the receive began, the
 * publisher waiting for room as long).
 * Every message is checked (bench/message.c) and, except ZeroMQ's, must arrive exactly once and
 * in order; the rows interleave run by run and each figure is the median of the runs.
 */
#include "config.h"

#include "bench/fanout.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/iceoryx.h"
#include "bench/message.h"
#include "bench/worker.h"
#include "bench/zmqipc.h"
#include "client/shmbox.h"

#define FANOUT_DEPTH 64
#define FANOUT_GAP_US 200    /* between the latency runs' messages */
#define FANOUT_LAT_MAX 16384 /* latencies a subscriber keeps */
#define FANOUT_MIN_MSGS 100  /* a run sends at least this many, however late it is scheduled */
#define STAMP_OFF 24         /* the send time's place in a message: after message.c's head */
#define HELLO_SENDER 1       /* hello messages; the measured ones are sender 0 */
#define IDLE_MS 100          /* a subscriber whose publisher is done stops after this long without a message */
#define NSEC INT64_C(1000000000)

const size_t fanout_sizes[FANOUT_SIZES] = { 64, 65536 };
const unsigned fanout_ns[FANOUT_NS] = { 1, 2, 4 };

static const char *const row_names[_FAN_MAX] = { "shmbox", "iceoryx", "zmq" };

typedef struct SubOut {
        int failed;
        char err[160];
        uint64_t got, lost; /* measured messages received; missing sequence numbers (ZeroMQ only) */
        uint64_t late;      /* receives that returned a message only at their IDLE_MS deadline */
        int64_t end_ns;     /* its end marker, or its last message */
        uint32_t nlat;
        uint32_t lat_ns[FANOUT_LAT_MAX];
} SubOut;

/* The page the driver, the publisher and the subscribers share. */
typedef struct Shared {
        int go;                     /* the driver: every end is open */
        int hello[FANOUT_SUBS_MAX]; /* a subscriber saw a hello */
        int done;                   /* the publisher sent its end marker */
        uint64_t sent;              /* measured messages sent */
        int64_t start_ns;           /* the publisher's first measured message */
        int pub_failed;
        char pub_err[160];
        SubOut sub[FANOUT_SUBS_MAX];
} Shared;

typedef struct Ctx {
        const FanoutBenchEnv *env;
        unsigned row, nsubs;
        size_t size;
        bool latency;
        char name[64];      /* the shmbox mailbox */
        char event[64];     /* the iceoryx event */
        char zmq_path[160]; /* the ZeroMQ socket file */
        Shared *sh;
} Ctx;

/* One end of a run. */
typedef struct End {
        const Ctx *c;
        shmbox_client *client;
        shmbox *box;
        IceoryxEnd *iox;
        ZmqEnd *zmq;
} End;

static void msleep_(int ms) {
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static void child_setup(void) {
        sigset_t none;

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
}

static int end_open(End *e, bool publisher) {
        const Ctx *c = e->c;
        int r = -EOPNOTSUPP;

        switch (c->row) {
        case FAN_SHMBOX:
#ifdef SHMBOX_CONFIG_BROADCAST
                r = shmbox_connect(c->env->socket, &e->client);
                if (r == 0)
                        r = shmbox_attach(e->client, c->name, &e->box);
                if (r == 0 && publisher)
                        r = shmbox_subscribe(e->box, false);
#endif
                break;
        case FAN_ICEORYX:
                r = iceoryx_end_open(c->env->prefix, c->event, c->size, FANOUT_DEPTH, publisher, &e->iox);
                break;
        case FAN_ZMQ: r = zmqipc_open(c->zmq_path, publisher ? ZMQIPC_PUB : ZMQIPC_SUB, FANOUT_DEPTH, &e->zmq); break;
        }
        return r;
}

static void end_close(End *e) {
        if (e->box)
                shmbox_detach(e->box);
        shmbox_disconnect(e->client);
        iceoryx_end_free(e->iox);
        zmqipc_free(e->zmq);
}

/* Send @buf (a message of the run's size): copied in, as every row does. */
static int end_send(End *e, const void *buf) {
        size_t len = e->c->size;
        void *chunk;
        int r;

        switch (e->c->row) {
        case FAN_SHMBOX: return shmbox_send(e->box, buf, len, 10000);
        case FAN_ICEORYX:
                for (int64_t deadline = now_ns() + 10 * NSEC; (r = iceoryx_loan(e->iox, &chunk)) == -ENOBUFS;) {
                        if (now_ns() > deadline)
                                return r;
                        sched_yield();
                }
                if (r < 0)
                        return r;
                memcpy(chunk, buf, len);
                return iceoryx_publish(e->iox, chunk);
        case FAN_ZMQ: return zmqipc_send(e->zmq, buf, len);
        }
        return -EOPNOTSUPP;
}

/* Receive into @buf (copied out, as every row does): its length, -ETIMEDOUT, or an error. */
static ssize_t end_recv(End *e, void *buf, int timeout_ms) {
        size_t cap = e->c->size;
        const void *chunk;
        ssize_t n;

        switch (e->c->row) {
        case FAN_SHMBOX: return shmbox_recv(e->box, buf, cap, timeout_ms);
        case FAN_ICEORYX:
                n = iceoryx_take(e->iox, timeout_ms, &chunk);
                if (n < 0)
                        return n;
                memcpy(buf, chunk, (size_t)n);
                iceoryx_release(e->iox, chunk);
                return n;
        case FAN_ZMQ: return zmqipc_recv(e->zmq, buf, cap, timeout_ms);
        }
        return -EOPNOTSUPP;
}

static void put_stamp(uint8_t *buf) {
        int64_t t = now_ns();

        memcpy(buf + STAMP_OFF, &t, sizeof(t));
}

/* --- the publisher --------------------------------------------------------------------------- */

static int publisher(const Ctx *c, int ready) {
        Shared *sh = c->sh;
        End e = { .c = c };
        uint8_t *buf = calloc(1, c->size);
        uint64_t seq = 0;
        int r;

        if (!buf)
                return -ENOMEM;
        r = end_open(&e, true);
        if (r < 0)
                snprintf(sh->pub_err, sizeof(sh->pub_err), "open");
        if (r == 0 && write(ready, "R", 1) != 1)
                r = -EPIPE;
        close(ready);
        while (r == 0 && !__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE))
                msleep_(1);
        /* hellos until every subscriber has seen one (hang guard: 30 s) */
        for (int64_t deadline = now_ns() + 30 * NSEC; r == 0;) {
                unsigned seen = 0;

                for (unsigned i = 0; i < c->nsubs; i++)
                        seen += __atomic_load_n(&sh->hello[i], __ATOMIC_ACQUIRE) != 0;
                if (seen == c->nsubs)
                        break;
                if (__atomic_load_n(&sh->pub_failed, __ATOMIC_ACQUIRE)) { /* the driver gave up */
                        r = -ECANCELED;
                        snprintf(sh->pub_err, sizeof(sh->pub_err), "a subscriber did not start");
                        break;
                }
                if (now_ns() > deadline) {
                        r = -ETIMEDOUT;
                        snprintf(sh->pub_err, sizeof(sh->pub_err), "%u of %u subscribers saw a hello", seen, c->nsubs);
                        break;
                }
                msg_fill(buf, c->size, HELLO_SENDER, seq++);
                r = end_send(&e, buf);
                if (r < 0)
                        snprintf(sh->pub_err, sizeof(sh->pub_err), "hello");
                msleep_(1);
        }
        seq = 0;
        int64_t start = now_ns(), duration = (int64_t)(c->latency ? c->env->latency_ms : c->env->duration_ms) * 1000000;
        sh->start_ns = start;
        for (; r == 0 && (now_ns() - start < duration || seq < FANOUT_MIN_MSGS); seq++) {
                if (c->latency) { /* one message every FANOUT_GAP_US, on a fixed schedule */
                        int64_t at = start + (int64_t)seq * FANOUT_GAP_US * 1000;
                        struct timespec ts = { at / NSEC, at % NSEC };

                        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                                ;
                }
                msg_fill(buf, c->size, 0, seq);
                put_stamp(buf);
                r = end_send(&e, buf);
                if (r < 0)
                        snprintf(sh->pub_err, sizeof(sh->pub_err), "send %" PRIu64, seq);
        }
        sh->sent = seq;
        if (r == 0) {
                msg_fill(buf, c->size, 0, MSG_END);
                r = end_send(&e, buf);
                if (r < 0)
                        snprintf(sh->pub_err, sizeof(sh->pub_err), "end marker");
        }
        __atomic_store_n(&sh->done, 1, __ATOMIC_RELEASE);
        /* a ZeroMQ or iceoryx publisher that closed at once could take undelivered messages
         * with it: wait until every subscriber is done (the driver's hang guard bounds this) */
        for (unsigned i = 0; i < c->nsubs; i++)
                while (r == 0 && !__atomic_load_n(&sh->sub[i].end_ns, __ATOMIC_ACQUIRE) &&
                       !__atomic_load_n(&sh->sub[i].failed, __ATOMIC_ACQUIRE))
                        msleep_(1);
        end_close(&e);
        free(buf);
        if (r < 0)
                sh->pub_failed = r;
        return r;
}

/* --- a subscriber ---------------------------------------------------------------------------- */

static int subscriber(const Ctx *c, unsigned k, int ready) {
        Shared *sh = c->sh;
        SubOut *o = &sh->sub[k];
        End e = { .c = c };
        uint8_t *buf = malloc(c->size);
        uint64_t expect = 0;
        int64_t last = 0;
        int r;

        if (!buf)
                return -ENOMEM;
        r = end_open(&e, false);
        if (r < 0)
                snprintf(o->err, sizeof(o->err), "open");
        if (r == 0 && write(ready, "R", 1) != 1)
                r = -EPIPE;
        close(ready);
        while (r == 0) {
                uint32_t sender;
                uint64_t seq;
                int64_t t0 = now_ns(), t;
                ssize_t n = end_recv(&e, buf, IDLE_MS);

                if (n == -ETIMEDOUT) {
                        if (__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE) && c->row == FAN_ZMQ) {
                                o->lost += sh->sent - expect; /* the end marker with them */
                                break;
                        }
                        if (__atomic_load_n(&sh->pub_failed, __ATOMIC_RELAXED)) {
                                r = -ECANCELED;
                                snprintf(o->err, sizeof(o->err), "the publisher failed");
                        }
                        continue;
                }
                if (n < 0) {
                        r = (int)n;
                        snprintf(o->err, sizeof(o->err), "receive");
                        break;
                }
                t = now_ns();
                if (msg_check(buf, (size_t)n, &sender, &seq) < 0 || (size_t)n != c->size) {
                        r = -EBADMSG;
                        snprintf(o->err, sizeof(o->err), "message %" PRIu64 " failed its check", o->got);
                        break;
                }
                if (sender == HELLO_SENDER) {
                        if (!o->got) /* hellos may come until the publisher has seen every flag */
                                __atomic_store_n(&sh->hello[k], 1, __ATOMIC_RELEASE);
                        continue;
                }
                /* a message that was there before the deadline woke nobody: a lost wake-up, or this
                 * process did not run for IDLE_MS */
                if (t - t0 >= (int64_t)(IDLE_MS - 1) * 1000000)
                        o->late++;
                if (seq == MSG_END) {
                        if (expect != sh->sent && c->row != FAN_ZMQ) {
                                r = -EBADMSG;
                                snprintf(o->err, sizeof(o->err), "end marker after %" PRIu64 " of %" PRIu64, expect,
                                         sh->sent);
                        } else
                                o->lost += sh->sent - expect;
                        last = t;
                        break;
                }
                if (seq != expect && (c->row != FAN_ZMQ || seq < expect)) {
                        r = -EBADMSG;
                        snprintf(o->err, sizeof(o->err), "message %" PRIu64 " where %" PRIu64 " was due", seq, expect);
                        break;
                }
                o->lost += seq - expect;
                expect = seq + 1;
                o->got++;
                last = t;
                if (c->latency && o->nlat < FANOUT_LAT_MAX) {
                        int64_t stamp;

                        memcpy(&stamp, buf + STAMP_OFF, sizeof(stamp));
                        o->lat_ns[o->nlat++] = t - stamp > UINT32_MAX ? UINT32_MAX : (uint32_t)(t - stamp);
                }
        }
        /* done before closing: the publisher waits for it, and a ZeroMQ subscriber's close waits
         * for the publisher's */
        if (r < 0)
                __atomic_store_n(&o->failed, r, __ATOMIC_RELEASE);
        else
                __atomic_store_n(&o->end_ns, last ? last : now_ns(), __ATOMIC_RELEASE);
        end_close(&e);
        free(buf);
        return r;
}

/* --- the driver ------------------------------------------------------------------------------ */

static int reap(pid_t pid, int ms, volatile pid_t *slot) {
        int status;

        for (int64_t deadline = now_ns() + (int64_t)ms * 1000000;;) {
                if (waitpid(pid, &status, WNOHANG) == pid)
                        break;
                if (now_ns() > deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        status = -1;
                        break;
                }
                msleep_(1);
        }
        *slot = 0;
        return status;
}

/* Fork one end (@k < 0: the publisher) and wait until it is open; its pid, or -1. */
static pid_t start_end(const Ctx *c, int k) {
        volatile pid_t *slot = &c->env->track[k < 0 ? 0 : 1 + k];
        int pipefd[2], r;
        ssize_t got;
        char byte;
        pid_t pid;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -1;
        pid = fork();
        if (pid == 0) {
                child_setup();
                close(pipefd[0]);
                r = k < 0 ? publisher(c, pipefd[1]) : subscriber(c, (unsigned)k, pipefd[1]);
                _exit(r < 0 ? 1 : 0);
        }
        close(pipefd[1]);
        if (pid < 0) {
                close(pipefd[0]);
                return -1;
        }
        *slot = pid;
        do
                got = read(pipefd[0], &byte, 1);
        while (got < 0 && errno == EINTR);
        close(pipefd[0]);
        if (got != 1) {
                reap(pid, 5000, slot);
                if (k < 0)
                        fprintf(stderr, "shmbox-bench: fan-out %s publisher: %s\n", row_names[c->row], c->sh->pub_err);
                else
                        fprintf(stderr, "shmbox-bench: fan-out %s subscriber %d: %s: %s\n", row_names[c->row], k,
                                c->sh->sub[k].err, strerror(-c->sh->sub[k].failed));
                return -1;
        }
        return pid;
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

        return (x > y) - (x < y);
}

/* One run; its figures in @msgs, @delivered (throughput) or @p50, @p99 (latency); its late
 * receives added to @late. */
static int run_one(Ctx *c, shmbox_client *client, double *msgs, double *delivered, double *p50, double *p99,
                   unsigned *late) {
        const FanoutBenchEnv *env = c->env;
        Shared *sh = c->sh;
        pid_t pids[1 + FANOUT_SUBS_MAX] = { 0 };
        int result = 0;

        memset(sh, 0, offsetof(Shared, sub));
        for (unsigned i = 0; i < c->nsubs; i++)
                memset(&sh->sub[i], 0, offsetof(SubOut, lat_ns));
#ifdef SHMBOX_CONFIG_BROADCAST
        if (c->row == FAN_SHMBOX) {
                struct shmbox_config cfg = { .slots = FANOUT_DEPTH,
                                             .slot_size = (uint32_t)c->size,
                                             .mode = 0600,
                                             .flags = SHMBOX_CONFIG_BROADCAST };
                int r = shmbox_create(client, c->name, &cfg);

                if (r < 0) {
                        fprintf(stderr, "shmbox-bench: fan-out: create a broadcast mailbox: %s\n", shmbox_strerror(r));
                        return r;
                }
        }
#else
        (void)client;
#endif
        /* ZeroMQ's subscribers connect to the publisher's socket: it comes first. iceoryx's
         * publisher opens once it has a subscriber: they come first. */
        bool subs_first = c->row == FAN_ICEORYX;
        bool ok = true;

        if (!subs_first)
                ok = (pids[0] = start_end(c, -1)) > 0;
        for (unsigned i = 0; ok && i < c->nsubs; i++)
                ok = (pids[1 + i] = start_end(c, (int)i)) > 0;
        if (ok && subs_first)
                ok = (pids[0] = start_end(c, -1)) > 0;
        if (!ok)
                __atomic_store_n(&sh->pub_failed, -EIO, __ATOMIC_RELEASE); /* the others give up */
        __atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
        /* hang guards, not figures */
        int guard = (int)(c->latency ? env->latency_ms : env->duration_ms) + 120000;
        for (unsigned i = 0; i <= c->nsubs; i++)
                if (pids[i] > 0 && reap(pids[i], guard, &env->track[i]) != 0)
                        result = -EIO;
        if (!ok)
                result = -EIO;
#ifdef SHMBOX_CONFIG_BROADCAST
        if (c->row == FAN_SHMBOX)
                (void)shmbox_destroy(client, c->name);
#endif
        unlink(c->zmq_path);
        if (result < 0) {
                fprintf(stderr, "shmbox-bench: fan-out %s, %zu B, %u subscriber(s) FAILED:", row_names[c->row], c->size,
                        c->nsubs);
                if (sh->pub_failed)
                        fprintf(stderr, " publisher: %s: %s;", sh->pub_err, strerror(-sh->pub_failed));
                for (unsigned i = 0; i < c->nsubs; i++)
                        if (sh->sub[i].failed)
                                fprintf(stderr, " subscriber %u: %s: %s;", i, sh->sub[i].err,
                                        strerror(-sh->sub[i].failed));
                fprintf(stderr, "\n");
                return result;
        }
        for (unsigned i = 0; i < c->nsubs; i++)
                *late += (unsigned)sh->sub[i].late;
        if (!c->latency) {
                double sum = 0, got = 0;

                for (unsigned i = 0; i < c->nsubs; i++) {
                        int64_t dt = sh->sub[i].end_ns - sh->start_ns;

                        sum += dt > 0 ? sh->sub[i].got * 1e9 / dt : 0;
                        got += sh->sub[i].got;
                }
                *msgs = sum / c->nsubs;
                *delivered = sh->sent ? got / ((double)sh->sent * c->nsubs) : NAN;
        } else {
                uint32_t *all = malloc(sizeof(uint32_t) * FANOUT_LAT_MAX * FANOUT_SUBS_MAX);
                size_t n = 0;

                if (!all)
                        return -ENOMEM;
                for (unsigned i = 0; i < c->nsubs; i++) {
                        memcpy(all + n, sh->sub[i].lat_ns, sh->sub[i].nlat * sizeof(uint32_t));
                        n += sh->sub[i].nlat;
                }
                if (n) {
                        qsort(all, n, sizeof(*all), cmp_u32);
                        *p50 = all[(size_t)((n - 1) * 0.50)] / 1e3;
                        *p99 = all[(size_t)((n - 1) * 0.99)] / 1e3;
                }
                free(all);
        }
        return 0;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

static double median(double *v, unsigned n) {
        if (!n)
                return NAN;
        qsort(v, n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define REPS_MAX 25

/*
 * fanout_bench_run() - measure every row asked for in @env, interleaved, into @ret
 *
 * A row that cannot run here (no broadcast mailboxes in this shmbox, iceoryx or ZeroMQ not
 * built, no RouDi) has its reason in ret->missing and is no failure. Return: 0; -EIO if a run
 * failed (the reason is printed, its figure is left out).
 */
int fanout_bench_run(const FanoutBenchEnv *env, ReportFanout *ret) {
        static double v[4][_FAN_MAX][FANOUT_SIZES][FANOUT_NS][REPS_MAX];
        unsigned got[2][_FAN_MAX][FANOUT_SIZES][FANOUT_NS] = { { { { 0 } } } };
        unsigned reps = env->reps < REPS_MAX ? env->reps : REPS_MAX;
        shmbox_client *client = NULL;
        Ctx c = { .env = env };
        bool on[_FAN_MAX];
        int result = 0, r;

        memset(ret, 0, sizeof(*ret));
        ret->reps = reps;
        ret->duration_ms = env->duration_ms;
        ret->latency_ms = env->latency_ms;
        ret->gap_us = FANOUT_GAP_US;
        ret->depth = FANOUT_DEPTH;
        ret->late_ms = IDLE_MS;
        for (unsigned w = 0; w < _FAN_MAX; w++) {
                ret->asked[w] = on[w] = env->want[w];
                for (unsigned s = 0; s < FANOUT_SIZES; s++)
                        for (unsigned k = 0; k < FANOUT_NS; k++)
                                ret->msgs[w][s][k] = ret->delivered[w][s][k] = ret->p50_us[w][s][k] =
                                        ret->p99_us[w][s][k] = NAN;
        }
#ifndef SHMBOX_CONFIG_BROADCAST
        if (on[FAN_SHMBOX]) {
                snprintf(ret->missing[FAN_SHMBOX], sizeof(ret->missing[FAN_SHMBOX]),
                         "not run: this shmbox has no broadcast mailboxes (client/shmbox.h defines no "
                         "SHMBOX_CONFIG_BROADCAST)");
                on[FAN_SHMBOX] = false;
        }
#endif
        if (on[FAN_ICEORYX] && env->iceoryx_no) {
                snprintf(ret->missing[FAN_ICEORYX], sizeof(ret->missing[FAN_ICEORYX]), "%s", env->iceoryx_no);
                on[FAN_ICEORYX] = false;
        }
        if (on[FAN_ZMQ] && zmqipc_not_built()) {
                snprintf(ret->missing[FAN_ZMQ], sizeof(ret->missing[FAN_ZMQ]), "%s", zmqipc_not_built());
                on[FAN_ZMQ] = false;
        }
        for (unsigned w = 0; w < _FAN_MAX; w++)
                if (ret->missing[w][0])
                        fprintf(stderr, "shmbox-bench: fan-out %s row SKIPPED: %s\n", row_names[w], ret->missing[w]);
        r = shmbox_connect(env->socket, &client);
        if (r < 0) {
                fprintf(stderr, "shmbox-bench: fan-out: connect: %s\n", shmbox_strerror(r));
                return -EIO;
        }
        c.sh = mmap(NULL, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (c.sh == MAP_FAILED) {
                shmbox_disconnect(client);
                return -errno;
        }
        snprintf(c.name, sizeof(c.name), "fanout.%d", (int)getpid());
        snprintf(c.zmq_path, sizeof(c.zmq_path), "%s/fanout-zmq", env->dir);
        for (unsigned lat = 0; lat < 2; lat++)
                for (unsigned rep = 0; rep < reps; rep++)
                        for (unsigned s = 0; s < FANOUT_SIZES; s++)
                                for (unsigned k = 0; k < FANOUT_NS; k++)
                                        for (unsigned w = 0; w < _FAN_MAX; w++) {
                                                unsigned i = got[lat][w][s][k];

                                                if (!on[w])
                                                        continue;
                                                if (env->progress)
                                                        fprintf(stderr, "\r\033[Kfan-out %s: %s %zu B x %u, rep %u/%u",
                                                                lat ? "latency" : "msgs/s", row_names[w],
                                                                fanout_sizes[s], fanout_ns[k], rep + 1, reps);
                                                c.row = w;
                                                c.size = fanout_sizes[s];
                                                c.nsubs = fanout_ns[k];
                                                c.latency = lat;
                                                snprintf(c.event, sizeof(c.event), "fanout%u%u%u", lat, s, k);
                                                if (run_one(&c, client, &v[0][w][s][k][i], &v[1][w][s][k][i],
                                                            &v[2][w][s][k][i], &v[3][w][s][k][i],
                                                            &ret->late[w][s][k]) < 0) {
                                                        result = -EIO;
                                                        continue;
                                                }
                                                got[lat][w][s][k]++;
                                        }
        munmap(c.sh, sizeof(Shared));
        shmbox_disconnect(client);
        for (unsigned w = 0; w < _FAN_MAX; w++)
                for (unsigned s = 0; s < FANOUT_SIZES; s++)
                        for (unsigned k = 0; k < FANOUT_NS; k++) {
                                unsigned n = got[0][w][s][k], m = got[1][w][s][k];

                                ret->msgs[w][s][k] = median(v[0][w][s][k], n);
                                ret->delivered[w][s][k] = median(v[1][w][s][k], n);
                                ret->p50_us[w][s][k] = median(v[2][w][s][k], m);
                                ret->p99_us[w][s][k] = median(v[3][w][s][k], m);
                        }
        return result;
}
