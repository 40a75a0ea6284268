/* SPDX-License-Identifier: MIT */
/* worker.c — run the worker processes of one measurement.
 *
 * run_workers() forks one process per Worker. Each resets the driver's signal handling, pins
 * itself if asked, opens its ends of the channels (shmbox: its own connection and
 * attachment), touches its buffer, writes one byte to the "ready" pipe and blocks reading the
 * "go" pipe. Once all are ready the driver notes the time and closes "go": every worker
 * starts at once, and set-up is neither timed nor counted as CPU time. A worker reports
 * through a shared anonymous page (mapped once, before any fork) and exits; one that fails
 * writes why and exits 1, and the others are then killed, since they may wait forever for it.
 *
 * Checking: every message is checked on arrival (message.c). One sender to one receiver must
 * arrive in order without a gap; with several senders each receiver sees each sender's
 * messages in increasing order, and the driver checks that the receivers together got each
 * sender's 0..n-1 exactly once (count and sum). An echo must carry the number of its ping.
 */
#include "config.h"

#include "bench/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/message.h"
#include "proto/util.h"

#define NSEC INT64_C(1000000000)
#define READY_TIMEOUT_NS (30 * NSEC)
#define RUN_GRACE_NS (60 * NSEC) /* past the duration, before a run counts as hung */
#define PING_MAX_SAMPLES 200000

/* The page the workers report through: mapped MAP_SHARED before the first fork, reused. */
static RunResult *shared;

/* now_ns() - CLOCK_MONOTONIC in nanoseconds (the vDSO: no system call) */
int64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

/*
 * exec_service() - in a child just forked, run @argv[0] as a service of the benchmark (a daemon,
 * a server, a bridge)
 * @log:      its stdout and stderr are appended to this file
 * @deathsig: what it gets if the driver dies without stopping it
 *
 * Its own process group, so that a Ctrl-C reaches the driver only, which stops it after
 * cleaning up; the default signal mask (the driver blocks SIGCHLD) and handlers. Never returns.
 */
_Noreturn void exec_service(char *const argv[], const char *log, int deathsig) {
        sigset_t none;
        int fd;

        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, deathsig);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
        }
        execv(argv[0], argv);
        fprintf(stderr, "cannot execute %s: %m\n", argv[0]);
        _exit(127);
}

static int64_t cpu_ns(void) {
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * NSEC +
               ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

static _Noreturn void fail(WorkerOut *o, const char *what, int r) {
        snprintf(o->err, sizeof(o->err), "%s: %s", what, r ? strerror(-r) : "check failed");
        o->failed = 1;
        _exit(1);
}

/* Check one received message and account it; true for the end marker. */
static bool accept(const Run *run, WorkerOut *o, uint64_t *next, const void *buf, ssize_t n) {
        uint32_t sender;
        uint64_t seq;

        if (n < 0)
                fail(o, "recv", (int)n);
        if ((size_t)n != run->size || msg_check(buf, (size_t)n, &sender, &seq) < 0)
                fail(o, "message check (length or checksum)", 0);
        if (seq == MSG_END)
                return true;
        if (sender >= run->senders || sender >= SENDERS_MAX) {
                snprintf(o->err, sizeof(o->err), "a message from sender %u, of %u", sender, run->senders);
                o->failed = 1;
                _exit(1);
        }
        if (run->senders == 1 ? seq != next[sender] : seq < next[sender]) {
                snprintf(o->err, sizeof(o->err),
                         "message order: after %" PRIu64 " messages, sender %u's message %" PRIu64 " came where "
                         "%s%" PRIu64 " was due (lost, repeated or reordered)",
                         o->msgs, sender, seq, run->senders == 1 ? "" : "at least ", next[sender]);
                o->failed = 1;
                _exit(1);
        }
        next[sender] = seq + 1;
        o->count[sender]++;
        o->seqsum[sender] += seq;
        o->msgs++;
        return false;
}

/* Every run moves at least this many messages, however late a loaded machine schedules the
 * sender: a run that moved nothing measures nothing, and a sender that started after its
 * deadline would otherwise send none (a smoke run on a busy 2-CPU machine did). */
#define RUN_MIN_MSGS 64

/* The clock costs ~20 ns: read it every 16th small message. */
static inline bool time_up(const Run *run, uint64_t seq, int64_t deadline) {
        return seq >= RUN_MIN_MSGS && seq % (run->size >= 4096 ? 1 : 16) == 0 && now_ns() >= deadline;
}

static void do_send(const Run *run, const Worker *w, Endpoint *e, uint8_t *buf, WorkerOut *o) {
        int64_t deadline = shared->go_ns + run->duration_ns;
        uint64_t seq;
        int r;

        for (seq = 0; !time_up(run, seq, deadline); seq++) {
                msg_fill(buf, run->size, w->id, seq);
                r = endpoint_send(e, buf, run->size);
                if (r < 0)
                        fail(o, "send", r);
        }
        o->msgs = seq;
        msg_fill(buf, run->size, w->id, MSG_END);
        r = endpoint_send(e, buf, run->size);
        if (r < 0)
                fail(o, "send end marker", r);
}

static void do_recv(const Run *run, Endpoint *e, uint8_t *buf, WorkerOut *o) {
        uint64_t next[SENDERS_MAX] = {};

        while (!accept(run, o, next, buf, endpoint_recv(e, buf, run->size, -1)))
                ;
}

/* Read every byte of a message in place, as an application that consumes it would: 64 bytes a
 * step in four independent 16-byte lanes, so that it runs at the speed of memory. */
static uint64_t touch(const void *data, size_t len) {
        typedef uint64_t v2 __attribute__((vector_size(16)));
        const uint8_t *p = data;
        v2 a = {}, b = {}, c = {}, d = {}, t;
        uint64_t x = 0;
        size_t i = 0;

        for (; i + 64 <= len; i += 64) {
                memcpy(&t, p + i, 16);
                a ^= t;
                memcpy(&t, p + i + 16, 16);
                b ^= t;
                memcpy(&t, p + i + 32, 16);
                c ^= t;
                memcpy(&t, p + i + 48, 16);
                d ^= t;
        }
        for (; i < len; i++)
                x ^= p[i];
        a ^= b ^ c ^ d;
        return x ^ a[0] ^ a[1];
}

/* Zero-copy: the sender produces the whole message in its slot (a memset: writes only, where
 * the copy path reads a ready buffer and writes the slot), the receiver reads all of it in
 * place and checks it (where the copy path reads the slot and writes a buffer). */
static void do_send_zerocopy(const Run *run, const Worker *w, Endpoint *e, WorkerOut *o) {
        int64_t deadline = shared->go_ns + run->duration_ns;
        shmbox *box = endpoint_box(e);
        uint64_t seq = 0;
        void *slot;
        int r;

        for (;; seq++) {
                bool end = time_up(run, seq, deadline);

                r = shmbox_reserve(box, run->size, -1, &slot);
                if (r < 0)
                        fail(o, "reserve", r);
                memset(slot, (int)(seq & 0xff), run->size);
                msg_fill(slot, run->size, w->id, end ? MSG_END : seq);
                r = shmbox_commit(box, slot, run->size);
                if (r < 0)
                        fail(o, "commit", r);
                if (end)
                        break;
        }
        o->msgs = seq;
}

static void do_recv_zerocopy(const Run *run, Endpoint *e, WorkerOut *o) {
        uint64_t next[SENDERS_MAX] = {};
        shmbox *box = endpoint_box(e);
        const void *data;
        bool end;
        int r;

        do {
                ssize_t n = shmbox_peek(box, -1, &data);

                /* read all of it first, then check it: in the order of the copy path (memcpy,
                 * then msg_check on the copy). Checking first made the receiver fetch a word of
                 * each 4 KiB page from the sender's cache out of order before streaming through
                 * the whole, and zero-copy at 64 KiB read 0.8x the copy path's rate for that
                 * alone (A/B, same build: 296-309 k against 389-403 k msgs/s after) */
                if (n > 0)
                        o->sink ^= touch(data, (size_t)n);
                end = accept(run, o, next, data, n);
                r = shmbox_release(box, data);
                if (r < 0)
                        fail(o, "release", r);
        } while (!end);
}

/* Loaned messages (iceoryx): the sender produces the whole message in a chunk it loaned (a
 * memset, as the zero-copy sender above) and publishes it; the receiver reads all of it in
 * place, checks it (msg_check: the head, a word on each 4 KiB page, the tail), as
 * do_recv_zerocopy() does, and gives it back. Nothing is copied. */
static void do_send_loaned(const Run *run, const Worker *w, Endpoint *e, WorkerOut *o) {
        int64_t deadline = shared->go_ns + run->duration_ns;
        uint64_t seq = 0;
        void *msg;
        int r;

        for (;; seq++) {
                bool end = time_up(run, seq, deadline);

                r = endpoint_loan(e, &msg);
                if (r < 0)
                        fail(o, "loan", r);
                memset(msg, (int)(seq & 0xff), run->size);
                msg_fill(msg, run->size, w->id, end ? MSG_END : seq);
                r = endpoint_publish(e, msg);
                if (r < 0)
                        fail(o, "publish", r);
                if (end)
                        break;
        }
        o->msgs = seq;
}

static void do_recv_loaned(const Run *run, Endpoint *e, WorkerOut *o) {
        uint64_t next[SENDERS_MAX] = {};
        const void *msg = NULL;
        bool end;

        do {
                ssize_t n = endpoint_take(e, -1, &msg);

                if (n > 0) /* all of it, then the check: as do_recv_zerocopy() */
                        o->sink ^= touch(msg, (size_t)n);
                end = accept(run, o, next, msg, n);
                endpoint_release(e, msg);
        } while (!end);
}

/* Batches: @n messages a call (transport_batch_n()), each a copy in and a copy out. */
static void do_send_batch(const Run *run, const Worker *w, Endpoint *e, unsigned n, uint8_t *bufs, WorkerOut *o) {
        int64_t deadline = shared->go_ns + run->duration_ns;
        struct iovec iov[TRANSPORT_BATCH_N];
        shmbox *box = endpoint_box(e);
        uint64_t seq = 0;
        int r;

        for (unsigned i = 0; i < n; i++)
                iov[i] = (struct iovec){ bufs + i * run->size, run->size };
        while (seq < RUN_MIN_MSGS || now_ns() < deadline) {
                for (unsigned i = 0; i < n; i++)
                        msg_fill(iov[i].iov_base, run->size, w->id, seq + i);
                /* send_many commits as many as there is room for: send the rest again */
                for (size_t done = 0; done < n; done += (size_t)r) {
                        r = shmbox_send_many(box, iov + done, n - done, -1);
                        if (r < 0)
                                fail(o, "send_many", r);
                        if (r == 0)
                                fail(o, "send_many committed nothing", -EPROTO);
                }
                seq += n;
        }
        o->msgs = seq;
        msg_fill(bufs, run->size, w->id, MSG_END);
        r = shmbox_send(box, bufs, run->size, -1);
        if (r < 0)
                fail(o, "send end marker", r);
}

static void do_recv_batch(const Run *run, Endpoint *e, unsigned n, uint8_t *bufs, WorkerOut *o) {
        struct iovec iov[TRANSPORT_BATCH_N];
        size_t lens[TRANSPORT_BATCH_N];
        uint64_t next[SENDERS_MAX] = {};
        shmbox *box = endpoint_box(e);
        bool end = false;

        for (unsigned i = 0; i < n; i++)
                iov[i] = (struct iovec){ bufs + i * run->size, run->size };
        while (!end) {
                ssize_t k = shmbox_recv_many(box, iov, n, lens, -1);

                if (k <= 0)
                        fail(o, "recv_many", k < 0 ? (int)k : -EPROTO);
                /* one sender: its end marker is its last message, so none follow it */
                for (ssize_t i = 0; i < k; i++) {
                        if (end)
                                fail(o, "a message after the end marker", 0);
                        end = accept(run, o, next, iov[i].iov_base, (ssize_t)lens[i]);
                }
        }
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return (x > y) - (x < y);
}

/* nearest-rank percentile of the sorted @v */
static double percentile(const int64_t *v, size_t n, double p) {
        size_t k = (size_t)ceil(p * (double)n);

        return n ? (double)v[k ? k - 1 : 0] : NAN;
}

static void do_ping(const Run *run, Endpoint *out, Endpoint *in, uint8_t *buf, WorkerOut *o) {
        int64_t deadline = shared->go_ns + run->duration_ns, t0, t1;
        int64_t *samples;
        uint32_t sender;
        size_t n = 0;
        uint64_t seq;
        ssize_t k;
        int r;

        samples = malloc(PING_MAX_SAMPLES * sizeof(*samples));
        if (!samples)
                fail(o, "malloc", -ENOMEM);
        for (uint64_t i = 0;; i++) {
                t0 = now_ns();
                /* at least min_samples, so that a slow moment still yields percentiles */
                if (i >= run->warmup && ((t0 >= deadline && n >= run->min_samples) || n == PING_MAX_SAMPLES))
                        break;
                msg_fill(buf, run->size, 0, i);
                r = endpoint_send(out, buf, run->size);
                if (r < 0)
                        fail(o, "send", r);
                k = endpoint_recv(in, buf, run->size, -1);
                t1 = now_ns();
                if (k < 0)
                        fail(o, "recv", (int)k);
                if ((size_t)k != run->size || msg_check(buf, (size_t)k, &sender, &seq) < 0 || seq != i)
                        fail(o, "echo check", 0);
                if (i >= run->warmup)
                        samples[n++] = t1 - t0;
        }
        msg_fill(buf, run->size, 0, MSG_END);
        r = endpoint_send(out, buf, run->size);
        if (r < 0)
                fail(o, "send end marker", r);
        qsort(samples, n, sizeof(*samples), cmp_i64);
        o->msgs = n;
        o->p50_us = percentile(samples, n, 0.50) / 1e3;
        o->p99_us = percentile(samples, n, 0.99) / 1e3;
        o->p999_us = percentile(samples, n, 0.999) / 1e3;
        free(samples);
}

static void do_pong(const Run *run, Endpoint *in, Endpoint *out, uint8_t *buf, WorkerOut *o) {
        uint64_t next[SENDERS_MAX] = {};
        int r;

        while (!accept(run, o, next, buf, endpoint_recv(in, buf, run->size, -1))) {
                r = endpoint_send(out, buf, run->size);
                if (r < 0)
                        fail(o, "send", r);
        }
}

static void do_idle(const Run *run, Endpoint *in, uint8_t *buf, WorkerOut *o) {
        ssize_t k = endpoint_recv(in, buf, run->size, (int)(run->duration_ns / 1000000));

        if (k != -ETIMEDOUT)
                fail(o, "the idle receive did not time out", k < 0 ? (int)k : 0);
}

static _Noreturn void worker_main(const Run *run, unsigned idx, int ready_fd, int go_fd) {
        const Worker *w = &run->w[idx];
        WorkerOut *o = &shared->out[idx];
        Endpoint *in = NULL, *out = NULL;
        TransportId t = channel_transport(w->in ? w->in : w->out);
        size_t bufsize = run->size * (t == TRANSPORT_BATCH ? TRANSPORT_BATCH_N : 1);
        sigset_t none;
        uint8_t *buf;
        char c;
        int r;

        /* the driver's handlers clean up for the driver; a worker just dies, with it too */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);

        if (w->cpu >= 0) {
                cpu_set_t set;

                CPU_ZERO(&set);
                CPU_SET(w->cpu, &set);
                if (sched_setaffinity(0, sizeof(set), &set) < 0)
                        fail(o, "sched_setaffinity", -errno);
        }
        if (w->in && w->out) {
                /* a round trip's two ends: one socket for ZeroMQ's PAIR */
                r = endpoint_open_duplex(w->in, w->out, run->env, &in, &out);
                if (r < 0)
                        fail(o, "open the ends", r);
        } else if (w->in) {
                r = endpoint_open(w->in, run->env, false, &in);
                if (r < 0)
                        fail(o, "open the receiving end", r);
        } else if (w->out) {
                r = endpoint_open(w->out, run->env, true, &out);
                if (r < 0)
                        fail(o, "open the sending end", r);
        }
        /* touched before "go", so its page faults are not measured */
        buf = aligned_alloc(64, ALIGN_TO(bufsize, (size_t)64));
        if (!buf)
                fail(o, "malloc", -ENOMEM);
        memset(buf, 0x5a, bufsize);

        if (write(ready_fd, "r", 1) != 1)
                fail(o, "ready", -errno);
        while (read(go_fd, &c, 1) < 0 && errno == EINTR)
                ;

        int64_t cpu0 = cpu_ns();
        switch (w->role) {
        case ROLE_SEND:
                if (t == TRANSPORT_ZEROCOPY)
                        do_send_zerocopy(run, w, out, o);
                else if (t == TRANSPORT_ICEORYX)
                        do_send_loaned(run, w, out, o);
                else if (t == TRANSPORT_BATCH)
                        do_send_batch(run, w, out, transport_batch_n(w->out), buf, o);
                else
                        do_send(run, w, out, buf, o);
                break;
        case ROLE_RECV:
                if (t == TRANSPORT_ZEROCOPY)
                        do_recv_zerocopy(run, in, o);
                else if (t == TRANSPORT_ICEORYX)
                        do_recv_loaned(run, in, o);
                else if (t == TRANSPORT_BATCH)
                        do_recv_batch(run, in, transport_batch_n(w->in), buf, o);
                else
                        do_recv(run, in, buf, o);
                break;
        case ROLE_PING: do_ping(run, out, in, buf, o); break;
        case ROLE_PONG: do_pong(run, in, out, buf, o); break;
        case ROLE_IDLE: do_idle(run, in, buf, o); break;
        }
        o->end_ns = now_ns();
        o->cpu_ns = cpu_ns() - cpu0;

        endpoint_free(in);
        endpoint_free(out);
        _exit(0);
}

static void kill_all(pid_t *pids, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                if (pids[i] > 0)
                        kill(pids[i], SIGKILL);
}

/* Wait until all are ready; false if one failed first or they take too long. */
static bool wait_ready(int fd, unsigned n) {
        int64_t deadline = now_ns() + READY_TIMEOUT_NS;
        unsigned got = 0;

        while (got < n) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                char buf[WORKERS_MAX];
                ssize_t k;

                for (unsigned i = 0; i < n; i++)
                        if (shared->out[i].failed)
                                return false;
                if (now_ns() > deadline)
                        return false;
                if (poll(&p, 1, 10) == 0)
                        continue;
                k = read(fd, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return false; /* every worker is gone */
                got += (unsigned)k;
        }
        return true;
}

/*
 * run_workers() - fork the workers of @run, start them together, wait for all of them
 * @track: WORKERS_MAX entries that hold the live workers' pids while they run (for a signal
 *         handler that must kill them); 0 once reaped
 *
 * The caller keeps SIGCHLD blocked (this waits for it with sigtimedwait()).
 *
 * Return: 0 and @ret; -1 if a worker failed, died or hung (the reason is printed on stderr;
 *         the others are killed).
 */
int run_workers(const Run *run, volatile pid_t *track, RunResult *ret) {
        _cleanup_close_ int ready_r = -1, go_w = -1;
        pid_t pids[WORKERS_MAX] = {};
        unsigned started = 0, alive;
        int ready[2], go[2], r = 0;
        int64_t deadline;
        sigset_t chld;

        assert_se(run->n <= WORKERS_MAX);
        if (!shared) {
                shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
                if (shared == MAP_FAILED) {
                        shared = NULL;
                        fprintf(stderr, "shmbox-bench: mmap: %m\n");
                        return -1;
                }
        }
        memset(shared, 0, sizeof(*shared));
        if (pipe2(ready, O_CLOEXEC) < 0)
                return -1;
        if (pipe2(go, O_CLOEXEC) < 0) {
                close(ready[0]);
                close(ready[1]);
                return -1;
        }
        ready_r = ready[0];
        go_w = go[1];
        for (unsigned i = 0; i < run->n; i++) {
                pid_t pid = fork();

                if (pid < 0) {
                        fprintf(stderr, "shmbox-bench: %s: fork: %m\n", run->what);
                        r = -1;
                        break;
                }
                if (pid == 0) {
                        close(ready_r);
                        close(go_w);
                        worker_main(run, i, ready[1], go[0]);
                }
                pids[i] = track[i] = pid;
                started++;
        }
        close(ready[1]);
        close(go[0]);

        if (r == 0 && !wait_ready(ready_r, started)) {
                fprintf(stderr, "shmbox-bench: %s: workers not ready\n", run->what);
                r = -1;
        }
        if (r < 0)
                kill_all(pids, started);
        shared->go_ns = now_ns();
        go_w = safe_close(go_w); /* go */

        deadline = now_ns() + run->duration_ns + RUN_GRACE_NS;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        for (alive = started; alive > 0;) {
                for (unsigned i = 0; i < started; i++) {
                        int status;

                        if (pids[i] <= 0 || waitpid(pids[i], &status, WNOHANG) != pids[i])
                                continue;
                        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                                if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && r < 0)
                                        ; /* killed by us, after the first failure */
                                else if (WIFSIGNALED(status))
                                        fprintf(stderr, "shmbox-bench: %s: worker %u killed by signal %d\n", run->what,
                                                i, WTERMSIG(status));
                                else
                                        fprintf(stderr, "shmbox-bench: %s: worker %u: %s\n", run->what, i,
                                                shared->out[i].failed ? shared->out[i].err : "exited with an error");
                                if (r == 0)
                                        kill_all(pids, started); /* the others may wait for it forever */
                                r = -1;
                        }
                        pids[i] = track[i] = 0;
                        alive--;
                }
                if (alive == 0)
                        break;

                int64_t left = deadline - now_ns();
                if (left <= 0) {
                        fprintf(stderr, "shmbox-bench: %s: hung; killing the workers\n", run->what);
                        kill_all(pids, started);
                        r = -1;
                        deadline = INT64_MAX;
                        continue;
                }
                struct timespec ts = { .tv_sec = MIN(left / NSEC, (int64_t)1), .tv_nsec = left < NSEC ? left : 0 };
                (void)sigtimedwait(&chld, NULL, &ts);
        }
        if (r == 0)
                *ret = *shared;
        return r;
}
