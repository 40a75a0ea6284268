/* SPDX-License-Identifier: MIT */
/* walkthrough.c — `shmboxctl walkthrough`: one message from process to process, narrated live.
 *
 * The question shmbox began from: move data from one process to another through the memory
 * hierarchy, and show every step. This file answers it with a real exchange on this machine,
 * built on <shmbox.h> only:
 *
 *   shmboxctl walkthrough                the orchestrator: connects to the daemon (or starts a
 *     |                                  temporary one by exec'ing shmboxd), creates the mailbox,
 *     |                                  narrates, destroys, proves /dev/shm clean
 *     +- shmboxctl walkthrough-peer sender     exec'd, so each process has its own address
 *     +- shmboxctl walkthrough-peer receiver   space: ASLR places the mapping independently
 *
 * Each peer talks to the orchestrator over a socketpair on its stdin/stdout: the orchestrator
 * writes one command per line ("attach NAME", "send BYTES", "recv", "detach", "flood ...",
 * "drain ..."), the peer answers each with one JSON object per line ("event": what happened,
 * and every value it read in its own process: shmbox_stat(), getrusage(), /proc/self/pagemap,
 * sysfs or sysconf, CLOCK_MONOTONIC). The orchestrator never guesses a value: it narrates what
 * the peers report, and the same objects make up the --json record.
 *
 * Order of the exchange: the receiver first tries a recv with timeout 0; if that finds nothing
 * it reports "waiting" and sleeps in a blocking recv; the orchestrator waits until the kernel
 * shows it asleep (/proc/PID/stat), then tells the sender to send. So the read step shows a
 * real wake-up: the commit, the post of the items semaphore, the receiver's voluntary context
 * switch. The slot of the message is derived from the ring positions: with one sender and one
 * receiver, the sender's message is at tail - 1 right after its send, and the receiver's at
 * head right before its receive.
 *
 * --hierarchy runs the same two peers over mailboxes of growing footprint (slots x slot
 * stride: 2 slots, then more slots of the largest message) and measures the bandwidth of the
 * stream at each size: the knees of the curve sit at this machine's cache sizes, read from
 * sysfs (sysconf may report a sum over sockets or dies, sysfs says what one core has), or from
 * sysconf where sysfs has no cache folder (many virtual machines), and every output says which
 * (walk-machine.c). It always starts its own temporary daemon, with the size limits the run
 * needs. The machine facts live in walk-machine.c, the SVG chart in walk-chart.c.
 *
 * Where the machine does not give what a step shows (no cache sizes, pagemap unreadable or
 * frames hidden, the receiver not seen asleep, one CPU, a small /dev/shm), the narration says
 * so and why, and goes on without it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "client/walkthrough.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/walk-chart.h"
#include "client/walk-machine.h"
#include "client/walk-util.h"

#define WALK_SLOTS 4               /* the walkthrough's mailbox: a small ring */
#define PEER_LINE_MAX (256 * 1024) /* one event line of a peer */
#define EVENT_TIMEOUT_MS 30000     /* a peer answers a walkthrough command within this */
#define SLEEP_WAIT_MS 2000         /* how long to wait for the receiver to be seen asleep */
#define DAEMON_START_MS 10000
#define DAEMON_STOP_MS 10000
#define HIER_POINTS_MAX 40
#define HIER_CAP (UINT64_C(1) << 30) /* the largest ring footprint --hierarchy tries */
#define SHM_DIR "/dev/shm"

/*
 * The one global of the walkthrough: the signal (SIGINT, SIGTERM, SIGHUP) that asked the
 * orchestrator to stop. The handler sets it and the waits read it, so that an interrupted run
 * still destroys its mailbox and stops its temporary daemon instead of leaving them behind.
 */
static volatile sig_atomic_t walk_interrupted;

static void on_signal(int sig) {
        walk_interrupted = sig;
}

static uint64_t fnv1a(const uint8_t *p, size_t n) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (size_t i = 0; i < n; i++)
                h = (h ^ p[i]) * UINT64_C(0x100000001b3);
        return h;
}

/* Wait up to @ms until the kernel shows @pid asleep. Return: whether it was seen asleep. */
static bool wait_sleeping(pid_t pid, int ms) {
        int64_t until = now_ns() + (int64_t)ms * 1000000;

        while (now_ns() < until && !walk_interrupted) {
                if (proc_state(pid) == 'S')
                        return true;
                sleep_ms(1);
        }
        return false;
}

/* ---- the peer: one of the two exec'd processes ---------------------------------------------- */

typedef struct PeerState {
        const char *role;
        const char *socket;
        shmbox_client *client;
        shmbox *box;
        Pagemap pagemap;
} PeerState;

/* Write @ev as one line and flush; @ev is consumed. Return: 0; -EIO; -ENOMEM. */
static int emit(json_object *ev) {
        const char *s;
        int r = 0;

        if (!ev)
                return -ENOMEM;
        s = json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s)
                r = -ENOMEM;
        else if (puts(s) < 0 || fflush(stdout) != 0)
                r = -EIO;
        json_object_put(ev);
        return r;
}

static json_object *event_new(const PeerState *s, const char *event) {
        _cleanup_json_ json_object *ev = json_object_new_object();

        if (jput_s(ev, "event", event) < 0 || jput_s(ev, "role", s->role) < 0 || jput_i(ev, "pid", getpid()) < 0)
                return NULL;
        return json_object_get(ev);
}

/* Report a failure to the orchestrator, which prints it. Return: @r. */
static int peer_error(const PeerState *s, const char *what, int r) {
        json_object *ev = event_new(s, "error");
        char msg[256];

        snprintf(msg, sizeof(msg), "%s: %s", what, shmbox_strerror(r));
        if (jput_s(ev, "message", msg) == 0)
                (void)emit(json_object_get(ev));
        json_object_put(ev);
        return r;
}

static json_object *stat_json(const struct shmbox_stat *st) {
        static const char *const roles[SHMBOX_SEM_COUNT] = { "lock", "items", "space" };
        _cleanup_json_ json_object *o = json_object_new_object();
        json_object *sems = json_object_new_object(), *paths;

        if (jput(o, "semaphores", sems) < 0)
                return NULL;
        paths = json_object_new_object();
        if (jput(o, "sem_paths", paths) < 0)
                return NULL;
        for (int i = 0; i < SHMBOX_SEM_COUNT; i++)
                if (jput_i(sems, roles[i], st->sem_value[i]) < 0 || jput_s(paths, roles[i], st->sem_path[i]) < 0)
                        return NULL;
        if (jput_i(o, "map_addr", (int64_t)st->map_addr) < 0 || jput_i(o, "map_size", (int64_t)st->map_size) < 0 ||
            jput_i(o, "generation", (int64_t)st->generation) < 0 || jput_i(o, "epoch", (int64_t)st->epoch) < 0 ||
            jput_i(o, "head", (int64_t)st->head) < 0 || jput_i(o, "tail", (int64_t)st->tail) < 0 ||
            jput_i(o, "slots", st->slots) < 0 || jput_i(o, "slot_size", st->slot_size) < 0 ||
            jput_i(o, "slot_stride", st->slot_stride) < 0 || jput_i(o, "slot_head", st->slot_head) < 0 ||
            jput_i(o, "header_size", st->header_size) < 0 || jput_i(o, "token", st->token) < 0 ||
            jput_i(o, "index", st->index) < 0 || jput_i(o, "rights", st->rights) < 0 ||
            jput_i(o, "flags", st->flags) < 0 || jput_i(o, "ready", st->ready) < 0 ||
            jput_i(o, "claimed", st->claimed) < 0 || jput_i(o, "taken", st->taken) < 0 ||
            jput_i(o, "recv_sleepers", st->recv_sleepers) < 0 || jput_i(o, "send_sleepers", st->send_sleepers) < 0 ||
            jput_i(o, "lock_token", st->lock_token) < 0 || jput_s(o, "segment", st->segment) < 0)
                return NULL;
        return json_object_get(o);
}

static int peer_attach(PeerState *s, const char *name) {
        struct rusage r0, r1;
        struct shmbox_stat st;
        json_object *ev;
        int64_t t0, t1;
        int r;

        if (s->box)
                return peer_error(s, "attach", -EBUSY);
        if (!s->client) {
                r = shmbox_connect(s->socket, &s->client);
                if (r < 0)
                        return peer_error(s, "connect", r);
        }
        getrusage(RUSAGE_SELF, &r0);
        t0 = now_ns();
        r = shmbox_attach(s->client, name, &s->box);
        t1 = now_ns();
        getrusage(RUSAGE_SELF, &r1);
        if (r < 0)
                return peer_error(s, name, r);
        r = shmbox_stat(s->box, &st);
        if (r < 0)
                return peer_error(s, "stat", r);

        ev = event_new(s, "attach");
        if (jput_i(ev, "cpu", sched_getcpu()) < 0 || jput_i(ev, "attach_ns", t1 - t0) < 0 ||
            jput_i(ev, "minor_faults", minflt(&r0, &r1)) < 0 || jput_i(ev, "page_size", s->pagemap.page_size) < 0 ||
            jput(ev, "stat", stat_json(&st)) < 0 ||
            jput(ev, "pages", pages_json(&s->pagemap, st.map_addr, st.map_addr, st.header_size)) < 0) {
                json_object_put(ev);
                return -ENOMEM;
        }
        return emit(ev);
}

/* A message that says where it came from, then letters. */
static void fill_message(uint8_t *buf, size_t size) {
        char head[96];
        int n = snprintf(head, sizeof(head), "hello from pid %d through shared memory; ", (int)getpid());

        for (size_t i = 0; i < size; i++)
                buf[i] = i < (size_t)n ? (uint8_t)head[i] : (uint8_t)('a' + i % 26);
}

/* The printable beginning of a message, for the narration. */
static void preview(char *out, size_t size, const uint8_t *p, size_t n) {
        size_t k = 0;

        for (size_t i = 0; i < n && k + 1 < size; i++)
                out[k++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.';
        out[k] = '\0';
}

static uint64_t payload_addr(const struct shmbox_stat *st, uint64_t pos) {
        return st->map_addr + st->header_size + (pos % st->slots) * st->slot_stride + st->slot_head;
}

/*
 * The sender's step. It writes the message the way shmbox_send() does, but one part at a
 * time, so each can be timed: reserve (claim the slot at tail: one CAS), copy the bytes into
 * the slot, commit (one CAS makes it READY, then a post if a receiver sleeps). The commit CAS
 * happens after t_commit is read, so a receipt is never timed before its commit, even when
 * the woken receiver preempts the sender before shmbox_commit() returns.
 */
static int peer_send(PeerState *s, size_t size) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_json_ json_object *before = NULL;
        struct shmbox_stat st0, st1;
        struct rusage r0, r1;
        Caches caches;
        uint64_t pos, payload, slot_start, slot_len;
        unsigned line;
        int64_t t0, t1, t2, t3;
        json_object *ev;
        void *slot = NULL;
        char hash[24];
        int cpu, r;

        if (!s->box)
                return peer_error(s, "send", -ENOTCONN);
        buf = malloc(size ? size : 1);
        if (!buf)
                return peer_error(s, "send", -ENOMEM);
        fill_message(buf, size); /* touches our private buffer: its faults are not the slot's */
        snprintf(hash, sizeof(hash), "%016" PRIx64, fnv1a(buf, size));
        r = shmbox_stat(s->box, &st0);
        if (r < 0)
                return peer_error(s, "stat", r);
        /* which of the slot's pages this process has mapped before it touches them */
        payload = payload_addr(&st0, st0.tail);
        before = pages_json(&s->pagemap, st0.map_addr, payload - st0.slot_head, st0.slot_head + size);

        getrusage(RUSAGE_SELF, &r0);
        t0 = now_ns();
        r = shmbox_reserve(s->box, size, -1, &slot);
        t1 = now_ns();
        if (r < 0)
                return peer_error(s, "reserve", r);
        memcpy(slot, buf, size);
        t2 = now_ns();
        r = shmbox_commit(s->box, slot, size);
        t3 = now_ns();
        getrusage(RUSAGE_SELF, &r1);
        if (r < 0)
                return peer_error(s, "commit", r);
        cpu = sched_getcpu();
        r = shmbox_stat(s->box, &st1);
        if (r < 0)
                return peer_error(s, "stat", r);

        /* where the message went: the pointer reserve returned, and, as a check, the ring
         * positions (the only sender: its message is the last position claimed) */
        payload = (uint64_t)(uintptr_t)slot;
        slot_start = payload - st1.slot_head; /* the slot head: the claim and the commit write it */
        slot_len = st1.slot_head + size;
        pos = st1.tail - 1;
        caches_read(cpu >= 0 ? cpu : 0, &caches); /* sched_getcpu() fails only without vDSO/rseq */
        line = caches.line;

        ev = event_new(s, "send");
        if (jput_i(ev, "bytes", (int64_t)size) < 0 || jput_i(ev, "position", (int64_t)pos) < 0 ||
            jput_i(ev, "slot", (int64_t)((payload - st1.map_addr - st1.header_size) / st1.slot_stride)) < 0 ||
            jput_i(ev, "slot_from_tail", (int64_t)(pos % st1.slots)) < 0 ||
            jput_i(ev, "payload_addr", (int64_t)payload) < 0 ||
            jput_i(ev, "payload_offset", (int64_t)(payload - st1.map_addr)) < 0 || jput_i(ev, "cpu", cpu) < 0 ||
            caches_put_json(ev, &caches) < 0 ||
            jput_i(ev, "lines", size ? (int64_t)((payload + size - 1) / line - payload / line + 1) : 0) < 0 ||
            jput_i(ev, "t_start", t0) < 0 || jput_i(ev, "t_commit", t2) < 0 || jput_i(ev, "reserve_ns", t1 - t0) < 0 ||
            jput_i(ev, "copy_ns", t2 - t1) < 0 || jput_i(ev, "commit_ns", t3 - t2) < 0 ||
            jput_i(ev, "send_ns", t3 - t0) < 0 || jput_i(ev, "minor_faults", minflt(&r0, &r1)) < 0 ||
            jput_i(ev, "voluntary_switches", nvcsw(&r0, &r1)) < 0 ||
            jput_i(ev, "involuntary_switches", (int64_t)r1.ru_nivcsw - (int64_t)r0.ru_nivcsw) < 0 ||
            jput_s(ev, "fnv1a", hash) < 0 || jput(ev, "stat_before", stat_json(&st0)) < 0 ||
            jput(ev, "stat", stat_json(&st1)) < 0 || jput(ev, "pages_before", jref(before)) < 0 ||
            jput_i(ev, "slot_pages", page_span(&s->pagemap, slot_start, slot_len)) < 0 ||
            jput(ev, "pages", pages_json(&s->pagemap, st1.map_addr, slot_start, slot_len)) < 0) {
                json_object_put(ev);
                return -ENOMEM;
        }
        return emit(ev);
}

static int peer_recv(PeerState *s) {
        _cleanup_free_ uint8_t *buf = NULL;
        struct shmbox_stat st0, st1;
        struct rusage r0, rw, r1;
        size_t cap;
        uint64_t pos, payload, slot_len;
        int64_t t;
        ssize_t n;
        bool waited = false;
        _cleanup_json_ json_object *before = NULL;
        json_object *ev;
        char hash[24], text[64];
        int r;

        if (!s->box)
                return peer_error(s, "recv", -ENOTCONN);
        cap = shmbox_slot_size(s->box);
        buf = calloc(1, cap ? cap : 1); /* calloc'ed and touched below: not the slot's faults */
        if (!buf)
                return peer_error(s, "recv", -ENOMEM);
        memset(buf, 0, cap);
        r = shmbox_stat(s->box, &st0);
        if (r < 0)
                return peer_error(s, "stat", r);
        pos = st0.head; /* the only receiver: the oldest message is at head */
        payload = payload_addr(&st0, pos);
        before = pages_json(&s->pagemap, st0.map_addr, payload - st0.slot_head, st0.slot_head + cap);

        getrusage(RUSAGE_SELF, &r0);
        rw = r0;
        n = shmbox_recv(s->box, buf, cap, 0); /* does a message wait already? */
        if (n == -EAGAIN) {
                waited = true;
                ev = event_new(s, "waiting");
                if (jput(ev, "stat", stat_json(&st0)) < 0) {
                        json_object_put(ev);
                        return -ENOMEM;
                }
                r = emit(ev);
                if (r < 0)
                        return r;
                getrusage(RUSAGE_SELF, &rw);
                n = shmbox_recv(s->box, buf, cap, -1);
        }
        t = now_ns();
        getrusage(RUSAGE_SELF, &r1);
        if (n < 0)
                return peer_error(s, "recv", (int)n);
        r = shmbox_stat(s->box, &st1);
        if (r < 0)
                return peer_error(s, "stat", r);
        payload = payload_addr(&st1, pos);
        slot_len = st1.slot_head + (uint64_t)n;
        snprintf(hash, sizeof(hash), "%016" PRIx64, fnv1a(buf, (size_t)n));
        preview(text, sizeof(text), buf, (size_t)n);

        ev = event_new(s, "recv");
        if (jput_i(ev, "bytes", n) < 0 || jput_i(ev, "position", (int64_t)pos) < 0 ||
            jput_i(ev, "slot", (int64_t)(pos % st1.slots)) < 0 || jput_i(ev, "payload_addr", (int64_t)payload) < 0 ||
            jput_i(ev, "payload_offset", (int64_t)(payload - st1.map_addr)) < 0 ||
            jput_i(ev, "cpu", sched_getcpu()) < 0 || jput_b(ev, "found_without_waiting", !waited) < 0 ||
            jput_b(ev, "slept", waited && nvcsw(&rw, &r1) > 0) < 0 ||
            jput_i(ev, "voluntary_switches", nvcsw(&rw, &r1)) < 0 || jput_i(ev, "minor_faults", minflt(&rw, &r1)) < 0 ||
            jput_i(ev, "t_received", t) < 0 || jput_s(ev, "fnv1a", hash) < 0 || jput_s(ev, "preview", text) < 0 ||
            jput(ev, "stat_before", stat_json(&st0)) < 0 || jput(ev, "stat", stat_json(&st1)) < 0 ||
            jput(ev, "pages_before", jref(before)) < 0 ||
            jput_i(ev, "slot_pages", page_span(&s->pagemap, payload - st1.slot_head, slot_len)) < 0 ||
            jput(ev, "pages", pages_json(&s->pagemap, st1.map_addr, payload - st1.slot_head, slot_len)) < 0) {
                json_object_put(ev);
                return -ENOMEM;
        }
        return emit(ev);
}

static int peer_detach(PeerState *s) {
        json_object *ev;

        shmbox_detach(s->box);
        s->box = NULL;
        ev = event_new(s, "detach");
        return emit(ev);
}

/* --hierarchy, sender: stream messages of @size until both @min_count and @min_ms are reached,
 * then one empty message that ends the stream. A wait polls up to @spin_us before it sleeps. */
static int peer_flood(PeerState *s, size_t size, uint64_t min_count, int64_t min_ms, unsigned spin_us) {
        _cleanup_free_ uint8_t *buf = NULL;
        uint64_t count = 0;
        int64_t t0, t1, until;
        json_object *ev;
        int r;

        if (!s->box || size == 0)
                return peer_error(s, "flood", s->box ? -EINVAL : -ENOTCONN);
        buf = malloc(size);
        if (!buf)
                return peer_error(s, "flood", -ENOMEM);
        fill_message(buf, size);
        r = shmbox_set_spin(s->box, spin_us);
        if (r < 0)
                return peer_error(s, "spin", r);
        t0 = now_ns();
        until = t0 + min_ms * 1000000;
        while (count < min_count || now_ns() < until) {
                r = shmbox_send(s->box, buf, size, -1);
                if (r < 0)
                        return peer_error(s, "send", r);
                count++;
        }
        t1 = now_ns();
        r = shmbox_send(s->box, buf, 0, -1);
        if (r < 0)
                return peer_error(s, "send", r);
        ev = event_new(s, "flood");
        if (jput_i(ev, "messages", (int64_t)count) < 0 || jput_i(ev, "bytes", (int64_t)(count * size)) < 0 ||
            jput_i(ev, "t_start", t0) < 0 || jput_i(ev, "t_end", t1) < 0) {
                json_object_put(ev);
                return -ENOMEM;
        }
        return emit(ev);
}

/* --hierarchy, receiver: take messages until the empty one; time those after the first
 * @warm (the first laps fault the ring's pages in). A wait polls up to @spin_us first. */
static int peer_drain(PeerState *s, uint64_t warm, unsigned spin_us) {
        _cleanup_free_ uint8_t *buf = NULL;
        uint64_t count = 0, bytes = 0, bytes0 = 0;
        int64_t t0 = 0, t1 = 0;
        size_t cap;
        json_object *ev;

        if (!s->box)
                return peer_error(s, "drain", -ENOTCONN);
        cap = shmbox_slot_size(s->box);
        buf = malloc(cap);
        if (!buf)
                return peer_error(s, "drain", -ENOMEM);
        memset(buf, 0, cap);
        if (shmbox_set_spin(s->box, spin_us) < 0)
                return peer_error(s, "spin", -EINVAL);
        for (;;) {
                ssize_t n = shmbox_recv(s->box, buf, cap, -1);

                if (n < 0)
                        return peer_error(s, "recv", (int)n);
                if (n == 0)
                        break;
                count++;
                bytes += (uint64_t)n;
                t1 = now_ns();
                if (count == warm) {
                        t0 = t1;
                        bytes0 = bytes;
                }
        }
        ev = event_new(s, "drain");
        if (jput_i(ev, "messages", (int64_t)count) < 0 || jput_i(ev, "bytes", (int64_t)bytes) < 0 ||
            jput_i(ev, "warm", (int64_t)warm) < 0 ||
            jput_i(ev, "measured_messages", count > warm ? (int64_t)(count - warm) : 0) < 0 ||
            jput_i(ev, "measured_bytes", (int64_t)(bytes - bytes0)) < 0 || jput_i(ev, "t_first", t0) < 0 ||
            jput_i(ev, "t_last", t1) < 0) {
                json_object_put(ev);
                return -ENOMEM;
        }
        return emit(ev);
}

/*
 * walkthrough_peer() - the hidden command `walkthrough-peer ROLE`: one of the two processes
 * @socket: the daemon's socket, as the orchestrator passed it with --socket
 * @argc, @argv: ROLE ("sender" or "receiver")
 *
 * Reads commands from stdin, one per line, and answers each with one JSON event on stdout
 * (see the essay at the top). Ends at EOF, detaching and disconnecting.
 *
 * Return: the exit status: 0 at EOF; 1 after a failure (reported as an "error" event); 2 for
 *         a bad command line.
 */
int walkthrough_peer(const char *socket, int argc, char **argv) {
        PeerState s = { .socket = socket, .pagemap = { .fd = -1 } };
        char line[512];
        int r = 0;

        if (argc != 1 || (strcmp(argv[0], "sender") != 0 && strcmp(argv[0], "receiver") != 0)) {
                fprintf(stderr, "shmboxctl: %s: expected ROLE, sender or receiver\n", WALKTHROUGH_PEER);
                return 2;
        }
        s.role = argv[0];
        pagemap_init(&s.pagemap);

        while (r >= 0 && fgets(line, sizeof(line), stdin)) {
                unsigned long long a = 0, b = 0, c = 0, d = 0;
                char name[SHMBOX_NAME_MAX + 2];

                line[strcspn(line, "\n")] = '\0';
                if (sscanf(line, "attach %65s", name) == 1)
                        r = peer_attach(&s, name);
                else if (sscanf(line, "send %llu", &a) == 1)
                        r = peer_send(&s, (size_t)a);
                else if (strcmp(line, "recv") == 0)
                        r = peer_recv(&s);
                else if (strcmp(line, "detach") == 0)
                        r = peer_detach(&s);
                else if (sscanf(line, "flood %llu %llu %llu %llu", &a, &b, &c, &d) == 4 && d <= 1000000)
                        r = peer_flood(&s, (size_t)a, b, (int64_t)c, (unsigned)d);
                else if (sscanf(line, "drain %llu %llu", &a, &b) == 2 && b <= 1000000)
                        r = peer_drain(&s, a, (unsigned)b);
                else
                        r = peer_error(&s, line, -EINVAL);
        }
        shmbox_detach(s.box);
        shmbox_disconnect(s.client);
        pagemap_done(&s.pagemap);
        return r < 0 ? 1 : 0;
}

/* ---- the orchestrator: peers, daemon, /dev/shm ---------------------------------------------- */

typedef struct Peer {
        const char *role;
        pid_t pid; /* 0 once reaped */
        int fd;    /* our end of the socketpair: commands out, events in; -1 when closed */
        char *buf; /* PEER_LINE_MAX bytes of unread event text */
        size_t len;
} Peer;

typedef struct Walk {
        const WalkthroughOptions *opt;
        bool text;        /* narrate (neither --json nor --quiet) */
        char socket[108]; /* the socket in use */
        char prefix[40];  /* the daemon's prefix, as its objects show it */
        shmbox_client *client;
        char mailbox[SHMBOX_NAME_MAX + 1];
        bool created;   /* the mailbox exists and is ours to destroy */
        Peer peers[2];  /* sender, receiver */
        bool temporary; /* a daemon we started */
        pid_t daemon_pid;
        char tmpdir[96]; /* the temporary daemon's directory */
        char daemon_log[192];
        char daemon_bin[PATH_MAX];
} Walk;

enum { SENDER, RECEIVER };

static void peer_close(Peer *p) {
        if (p->fd >= 0)
                close(p->fd);
        p->fd = -1;
}

/* Wait up to @ms for @pid; then SIGKILL it. Return: its wait status; -1 if it was killed. */
static int reap(pid_t pid, int ms) {
        int64_t until = now_ns() + (int64_t)ms * 1000000;
        int status;

        for (;;) {
                pid_t r = waitpid(pid, &status, WNOHANG);

                if (r == pid)
                        return status;
                if (r < 0 && errno != EINTR)
                        return -1;
                if (now_ns() > until)
                        break;
                sleep_ms(2);
        }
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        return -1;
}

/* Close the channel (a peer ends at EOF) and reap the process; kill it if it hangs. */
static int peer_finish(Peer *p, int ms) {
        int status = 0;

        peer_close(p);
        if (p->pid > 0)
                status = reap(p->pid, ms);
        p->pid = 0;
        free(p->buf);
        p->buf = NULL;
        return status;
}

/* The running program, for re-exec and for finding shmboxd beside it. */
static int self_exe(char *buf, size_t size) {
        ssize_t n = readlink("/proc/self/exe", buf, size - 1);

        if (n < 0)
                return -errno;
        buf[n] = '\0';
        return 0;
}

/* Start `shmboxctl --socket SOCKET walkthrough-peer ROLE` with a socketpair as stdin and stdout. */
static int peer_spawn(Walk *w, Peer *p, const char *role) {
        const char *argv[] = { "shmboxctl", "--socket", w->socket, WALKTHROUGH_PEER, role, NULL };
        char exe[PATH_MAX];
        pid_t parent = getpid();
        int sv[2], r;

        p->role = role;
        p->fd = -1;
        p->len = 0;
        p->buf = malloc(PEER_LINE_MAX);
        if (!p->buf)
                return -ENOMEM;
        r = self_exe(exe, sizeof(exe));
        if (r < 0)
                return r;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        fflush(stdout);
        p->pid = fork();
        if (p->pid < 0) {
                r = -errno;
                p->pid = 0;
                close(sv[0]);
                close(sv[1]);
                return r;
        }
        if (p->pid == 0) {
                /* Die with the orchestrator: a peer blocked in recv must not outlive it. Its
                 * own process group keeps a Ctrl-C for the orchestrator, which cleans up. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent || setpgid(0, 0) < 0)
                        _exit(127);
                if (dup2(sv[1], STDIN_FILENO) < 0 || dup2(sv[1], STDOUT_FILENO) < 0)
                        _exit(127);
                signal(SIGPIPE, SIG_DFL);
                execv(exe, (char **)argv);
                _exit(127);
        }
        close(sv[1]);
        p->fd = sv[0];
        return 0;
}

static int peer_command(Peer *p, const char *fmt, ...) _printf_(2, 3);
static int peer_command(Peer *p, const char *fmt, ...) {
        char line[256];
        va_list ap;
        size_t n, off = 0;

        va_start(ap, fmt);
        vsnprintf(line, sizeof(line) - 1, fmt, ap);
        va_end(ap);
        strcat(line, "\n");
        n = strlen(line);
        while (off < n) {
                ssize_t k = send(p->fd, line + off, n - off, MSG_NOSIGNAL);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error("%s: cannot send a command: %s", p->role, strerror(errno));
                        return -errno;
                }
                off += (size_t)k;
        }
        return 0;
}

/* Report why a peer stopped answering, from its wait status. */
static void peer_gone(Peer *p) {
        int status = p->pid > 0 ? reap(p->pid, 1000) : 0;

        p->pid = 0;
        if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 127)
                log_error("%s: cannot exec shmboxctl again (/proc/self/exe)", p->role);
        else if (status >= 0 && WIFSIGNALED(status))
                log_error("%s: killed by signal %d", p->role, WTERMSIG(status));
        else
                log_error("%s: exited before it answered", p->role);
}

/*
 * peer_event() - the next event of @p, which must be @want (or @also, if not NULL)
 * @ret: the event object, owned by the caller
 *
 * Return: 0; -EPROTO after an "error" event or an unexpected one (reported); -EPIPE if the
 *         peer is gone (reported); -ETIMEDOUT (reported); -ENOMEM.
 */
static int peer_event(Peer *p, const char *want, const char *also, int timeout_ms, json_object **ret) {
        int64_t until = now_ns() + (int64_t)timeout_ms * 1000000;

        for (;;) {
                char *nl = p->buf ? memchr(p->buf, '\n', p->len) : NULL;

                if (nl) {
                        _cleanup_json_ json_object *ev = NULL;
                        const char *event;

                        *nl = '\0';
                        ev = json_tokener_parse(p->buf);
                        p->len -= (size_t)(nl + 1 - p->buf);
                        memmove(p->buf, nl + 1, p->len);
                        event = jstr(ev, "event");
                        if (strcmp(event, "error") == 0) {
                                log_error("%s (pid %d): %s", p->role, (int)p->pid, jstr(ev, "message"));
                                return -EPROTO;
                        }
                        if (strcmp(event, want) != 0 && (!also || strcmp(event, also) != 0)) {
                                log_error("%s: expected the event \"%s\", got \"%s\"", p->role, want, event);
                                return -EPROTO;
                        }
                        *ret = ev;
                        ev = NULL;
                        return 0;
                }
                if (!p->buf || p->fd < 0)
                        return -EPIPE;
                if (p->len >= PEER_LINE_MAX - 1) {
                        log_error("%s: an event longer than %d bytes", p->role, PEER_LINE_MAX);
                        return -EPROTO;
                }

                struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
                int64_t left = (until - now_ns()) / 1000000;
                int k;

                if (walk_interrupted)
                        return -EINTR;
                if (left <= 0) {
                        log_error("%s: no answer within %d ms", p->role, timeout_ms);
                        return -ETIMEDOUT;
                }
                k = poll(&pfd, 1, (int)(left > INT_MAX ? INT_MAX : left));
                if (k < 0 && errno != EINTR)
                        return -errno;
                if (k <= 0)
                        continue;
                ssize_t n = read(p->fd, p->buf + p->len, PEER_LINE_MAX - 1 - p->len);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0) {
                        peer_close(p);
                        peer_gone(p);
                        return -EPIPE;
                }
                p->len += (size_t)n;
        }
}

/* shmboxd for a temporary daemon: $SHMBOXD, the configured path, then beside this program. */
static int find_shmboxd(char *buf, size_t size) {
        const char *e = getenv("SHMBOXD");
        char exe[PATH_MAX], *slash;

        if (e && *e) {
                if (access(e, X_OK) < 0) {
                        log_error("SHMBOXD=%s: %s", e, strerror(errno));
                        return -ENOENT;
                }
                snprintf(buf, size, "%s", e);
                return 0;
        }
#ifdef SHMBOXD_PATH
        if (access(SHMBOXD_PATH, X_OK) == 0) {
                snprintf(buf, size, "%s", SHMBOXD_PATH);
                return 0;
        }
#endif
        /* the build tree: shmboxctl there may be libtool's .libs/lt-shmboxctl (or
         * .libs/shmboxctl) behind a wrapper script, and shmboxd sits one directory up */
        if (self_exe(exe, sizeof(exe)) == 0 && (slash = strrchr(exe, '/'))) {
                *slash = '\0';
                if (strlen(exe) >= 6 && strcmp(exe + strlen(exe) - 6, "/.libs") == 0)
                        exe[strlen(exe) - 6] = '\0';
                if ((size_t)snprintf(buf, size, "%s/shmboxd", exe) < size && access(buf, X_OK) == 0)
                        return 0;
        }
        log_error("no shmboxd to start: set SHMBOXD, install it"
#ifdef SHMBOXD_PATH
                  " (" SHMBOXD_PATH ")"
#endif
                  ", or run shmboxctl from the build tree");
        return -ENOENT;
}

static void print_daemon_log(const Walk *w) {
        _cleanup_(fclosep) FILE *f = fopen(w->daemon_log, "re");
        char line[512];

        if (!f)
                return;
        fprintf(stderr, "---- %s ----\n", w->daemon_log);
        while (fgets(line, sizeof(line), f))
                fputs(line, stderr);
        fprintf(stderr, "---- end of the daemon's log ----\n");
}

/* Remove @dir and what the daemon left in it (a socket, a state directory, files). */
static void rm_tree(int parent_fd, const char *name, int depth) {
        _cleanup_(closedirp) DIR *d = NULL;
        int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        struct dirent *de;

        if (fd < 0) {
                (void)unlinkat(parent_fd, name, 0);
                return;
        }
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return;
        }
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (de->d_type == DT_DIR && depth < 4)
                        rm_tree(dirfd(d), de->d_name, depth + 1);
                else
                        (void)unlinkat(dirfd(d), de->d_name, 0);
        }
        (void)unlinkat(parent_fd, name, AT_REMOVEDIR);
}

/*
 * daemon_start() - exec shmboxd on a temporary socket, state directory and prefix
 * @max_bytes: 0, or the largest mailbox this run creates (raises the daemon's limits)
 *
 * The daemon's config file is one of our own in the temporary directory, so the limits of
 * /etc/shmbox/shmboxd.conf do not apply to it. Its log goes to a file there, printed if it
 * does not come up.
 *
 * Return: 0 once a client can connect; a negative errno (reported).
 */
static int daemon_start(Walk *w, uint64_t max_bytes) {
        char state[160], conf[160], max_arg[32];
        const char *tmp = getenv("TMPDIR");
        const char *argv[16];
        _cleanup_(fclosep) FILE *f = NULL;
        pid_t parent = getpid();
        int64_t until;
        int n = 0, r;

        r = find_shmboxd(w->daemon_bin, sizeof(w->daemon_bin));
        if (r < 0)
                return r;
        if (w->opt->prefix)
                snprintf(w->prefix, sizeof(w->prefix), "%s", w->opt->prefix);
        else
                snprintf(w->prefix, sizeof(w->prefix), "shmboxwt%d", (int)getpid());
        /* sun_path holds 108 bytes: a deep TMPDIR falls back to /tmp */
        snprintf(w->tmpdir, sizeof(w->tmpdir), "%s/shmboxwt.XXXXXX", tmp && *tmp && strlen(tmp) < 60 ? tmp : "/tmp");
        if (!mkdtemp(w->tmpdir)) {
                r = -errno;
                log_error("mkdtemp %s: %s", w->tmpdir, strerror(errno));
                w->tmpdir[0] = '\0';
                return r;
        }
        snprintf(w->socket, sizeof(w->socket), "%s/sock", w->tmpdir);
        snprintf(state, sizeof(state), "%s/state", w->tmpdir);
        snprintf(conf, sizeof(conf), "%s/shmboxd.conf", w->tmpdir);
        snprintf(w->daemon_log, sizeof(w->daemon_log), "%s/shmboxd.log", w->tmpdir);

        f = fopen(conf, "we");
        if (!f) {
                r = -errno;
                log_error("%s: %s", conf, strerror(errno));
                return r;
        }
        fprintf(f, "# written by shmboxctl walkthrough for its temporary daemon\n[limits]\n");
        if (max_bytes > 0)
                fprintf(f, "max-mailbox-bytes = %" PRIu64 "\nmax-bytes-per-uid = %" PRIu64 "\n", max_bytes,
                        2 * max_bytes);
        if (fclose(f) != 0) {
                f = NULL;
                r = -errno;
                log_error("%s: %s", conf, strerror(errno));
                return r;
        }
        f = NULL;

        argv[n++] = w->daemon_bin;
        argv[n++] = "--socket";
        argv[n++] = w->socket;
        argv[n++] = "--prefix";
        argv[n++] = w->prefix;
        argv[n++] = "--state-dir";
        argv[n++] = state;
        argv[n++] = "--config";
        argv[n++] = conf;
        if (max_bytes > 0) {
                snprintf(max_arg, sizeof(max_arg), "%" PRIu64, max_bytes);
                argv[n++] = "--max-mailbox-bytes";
                argv[n++] = max_arg;
        }
        argv[n] = NULL;

        fflush(stdout);
        w->daemon_pid = fork();
        if (w->daemon_pid < 0) {
                r = -errno;
                w->daemon_pid = 0;
                log_error("fork: %s", strerror(-r));
                return r;
        }
        if (w->daemon_pid == 0) {
                int fd;

                /* A temporary daemon stops (cleanly, SIGTERM) when we go; in its own process
                 * group a Ctrl-C does not stop it before we have destroyed our mailbox. */
                if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent || setpgid(0, 0) < 0)
                        _exit(127);
                fd = open(w->daemon_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(127);
                fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (fd >= 0)
                        dup2(fd, STDIN_FILENO);
                signal(SIGPIPE, SIG_DFL);
                execv(w->daemon_bin, (char **)argv);
                _exit(127);
        }
        w->temporary = true;

        /* up when a client can connect: the daemon binds its socket last */
        until = now_ns() + (int64_t)DAEMON_START_MS * 1000000;
        for (;;) {
                int status;

                if (walk_interrupted)
                        return -EINTR;
                if (shmbox_connect(w->socket, &w->client) == 0)
                        return 0;
                if (waitpid(w->daemon_pid, &status, WNOHANG) == w->daemon_pid) {
                        w->daemon_pid = 0;
                        log_error("%s exited during start-up (status 0x%x)", w->daemon_bin, status);
                        print_daemon_log(w);
                        return -ECHILD;
                }
                if (now_ns() > until) {
                        log_error("%s did not come up within %d ms", w->daemon_bin, DAEMON_START_MS);
                        print_daemon_log(w);
                        return -ETIMEDOUT;
                }
                sleep_ms(5);
        }
}

/* SIGTERM the temporary daemon and wait. Return: its wait status; -1 if it had to be killed. */
static int daemon_stop(Walk *w) {
        int status;

        if (w->daemon_pid <= 0)
                return 0;
        kill(w->daemon_pid, SIGTERM);
        status = reap(w->daemon_pid, DAEMON_STOP_MS);
        w->daemon_pid = 0;
        if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                log_error("the temporary shmboxd did not exit cleanly (status 0x%x)", status);
                print_daemon_log(w);
        }
        return status;
}

/* Undo whatever is still set up, on every path: peers, mailbox, client, daemon, directory. */
static void walk_done(Walk *w) {
        for (size_t i = 0; i < ELEMENTSOF(w->peers); i++)
                peer_finish(&w->peers[i], 1000);
        if (w->created && w->client)
                (void)shmbox_destroy(w->client, w->mailbox);
        w->created = false;
        shmbox_disconnect(w->client);
        w->client = NULL;
        daemon_stop(w);
        if (w->tmpdir[0])
                rm_tree(AT_FDCWD, w->tmpdir, 0);
        w->tmpdir[0] = '\0';
}

/*
 * Connect to the daemon, or start a temporary one when none answers (always for
 * --own-daemon and --hierarchy). Return: 0; a negative errno (reported).
 */
static int walk_connect(Walk *w, uint64_t max_bytes, bool own) {
        const char *s = w->opt->socket;
        int r;

        if (!s || !*s)
                s = getenv("SHMBOX_SOCKET");
        if (!s || !*s)
                s = SHMBOX_DEFAULT_SOCKET;
        if (!own) {
                r = shmbox_connect(s, &w->client);
                if (r == 0) {
                        snprintf(w->socket, sizeof(w->socket), "%s", s);
                        return 0;
                }
                if (r != -ECONNREFUSED) {
                        log_error("cannot connect to %s: %s", s, shmbox_strerror(r));
                        return r;
                }
        }
        return daemon_start(w, max_bytes);
}

/* One object in /dev/shm, as ls -l would show it. */
typedef struct ShmObject {
        char name[256];
        uint64_t size;
        unsigned mode;
        unsigned uid, gid;
} ShmObject;

/* Does /dev/shm entry @e belong to the mailbox @base ("<prefix>.<name>") or, with @base NULL,
 * to the whole instance @prefix? */
static bool object_matches(const char *e, const char *prefix, const char *base) {
        char buf[300];

        if (!base) {
                snprintf(buf, sizeof(buf), "%s.", prefix);
                if (startswith(e, buf))
                        return true;
                snprintf(buf, sizeof(buf), "sem.%s.", prefix);
                return startswith(e, buf);
        }
        if (strcmp(e, base) == 0)
                return true;
        snprintf(buf, sizeof(buf), "sem.%s.", base);
        if (startswith(e, buf))
                return true;
        /* the instance's helper objects of the mailbox: <prefix>..<kind>.<name>.<gen> (a segment
         * under construction "tmp", a FIFO for event loops "fifo", and whatever comes next) */
        snprintf(buf, sizeof(buf), "%s..", prefix);
        if (!startswith(e, buf))
                return false;
        e += strlen(buf);
        e += strcspn(e, ".");
        snprintf(buf, sizeof(buf), ".%s.", base + strlen(prefix) + 1);
        return startswith(e, buf);
}

/* The objects in /dev/shm of a mailbox or an instance, sorted by name. Return: their number,
 * at most @max, written to @out; a negative errno. */
static int compare_objects(const void *a, const void *b) {
        return strcmp(((const ShmObject *)a)->name, ((const ShmObject *)b)->name);
}

static int shm_objects(const char *prefix, const char *base, ShmObject *out, size_t max) {
        _cleanup_(closedirp) DIR *d = opendir(SHM_DIR);
        struct dirent *de;
        size_t n = 0;

        if (!d)
                return -errno;
        while ((de = readdir(d)) && n < max) {
                struct stat st;

                if (!object_matches(de->d_name, prefix, base))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue; /* gone meanwhile */
                snprintf(out[n].name, sizeof(out[n].name), "%s", de->d_name);
                out[n].size = (uint64_t)st.st_size;
                out[n].mode = st.st_mode & 07777;
                out[n].uid = st.st_uid;
                out[n].gid = st.st_gid;
                n++;
        }
        qsort(out, n, sizeof(*out), compare_objects);
        return (int)n;
}

static json_object *objects_json(const ShmObject *o, int n) {
        _cleanup_json_ json_object *a = json_object_new_array();

        for (int i = 0; i < n; i++) {
                json_object *e = json_object_new_object();
                char path[300];

                snprintf(path, sizeof(path), SHM_DIR "/%s", o[i].name);
                if (jappend(a, e) < 0 || jput_s(e, "path", path) < 0 || jput_i(e, "size", (int64_t)o[i].size) < 0 ||
                    jput_i(e, "mode", o[i].mode) < 0 || jput_i(e, "uid", o[i].uid) < 0 ||
                    jput_i(e, "gid", o[i].gid) < 0)
                        return NULL;
        }
        return json_object_get(a);
}

static void print_frames(const char *what, const Frames *f) {
        if (!f->readable)
                printf("   %s: frames unknown: /proc/self/pagemap could not be read\n", what);
        else if (f->pairs == 0)
                printf("   %s: frames unknown: the page is not mapped in both processes yet\n", what);
        else if (f->hidden)
                printf("   %s: frames hidden: %s\n", what, FRAMES_HIDDEN_WHY);
        else
                printf("   %s: frame 0x%" PRIx64 " in the sender, 0x%" PRIx64 " in the receiver: %s\n", what,
                       (uint64_t)f->first_a, (uint64_t)f->first_b,
                       f->same ? "the same physical page" : "DIFFERENT pages");
}

static void print_sems(const char *label, json_object *stat) {
        json_object *s = jget(stat, "semaphores");

        printf("   %s: lock %" PRId64 ", items %" PRId64 ", space %" PRId64 "\n", label, jint(s, "lock"),
               jint(s, "items"), jint(s, "space"));
}

static const char *plural(int64_t n, const char *one, const char *many) {
        return n == 1 ? one : many;
}

/* How many pages of an event's list were present in its page table. */
static int64_t pages_present(json_object *pages) {
        int64_t n = 0;

        if (!pages || !json_object_is_type(pages, json_type_array))
                return 0;
        for (size_t i = 0; i < json_object_array_length(pages); i++)
                n += jbool(json_object_array_get_idx(pages, i), "present");
        return n;
}

static size_t pages_count(json_object *pages) {
        return pages && json_object_is_type(pages, json_type_array) ? json_object_array_length(pages) : 0;
}

/* "2 minor faults on the first touch of the slot's 1 page" and why there may be none. */
static void print_faults(json_object *ev, const char *action) {
        int64_t faults = jint(ev, "minor_faults"), pages = jint(ev, "slot_pages");
        int64_t listed = (int64_t)pages_count(jget(ev, "pages_before"));
        int64_t mapped = pages_present(jget(ev, "pages_before"));

        if (listed > pages)
                listed = pages;
        printf("   %s: %" PRId64 " minor %s; the message spans %" PRId64 " %s, ", action, faults,
               plural(faults, "fault", "faults"), pages, plural(pages, "page", "pages"));
        if (pages == 1)
                printf("%s", mapped ? "mapped in this process already" : "not mapped in this process yet");
        else if (listed < pages)
                printf("%" PRId64 " of the first %" PRId64 " mapped in this process already", mapped, listed);
        else
                printf("%" PRId64 " of them mapped in this process already", mapped);
        if (faults == 0 && mapped > 0)
                printf(" (the fault at attach mapped the neighbouring pages of the file too: fault-around)");
        printf("\n");
}

/* ---- the walkthrough ------------------------------------------------------------------------ */

/* What the five steps gather: the peers' events, and what the orchestrator makes of them. */
typedef struct Exchange {
        json_object *steps;   /* the record's array of steps (owned by the record) */
        json_object *sa, *ra; /* the attach events of sender and receiver */
        json_object *se, *re; /* the send and the recv event */
        Frames header, slot;  /* the frames both processes see */
        int64_t latency;      /* ns from just before the commit to the copy being out */
        bool asleep;          /* the receiver was seen asleep before the sender sent */
        bool same_content;
        int left, prefix_left; /* objects left in /dev/shm: of the mailbox; of a temporary prefix */
        char base[300];        /* the segment's name: <prefix>.<name> */
} Exchange;

static void exchange_done(Exchange *x) {
        json_object_put(x->sa);
        json_object_put(x->ra);
        json_object_put(x->se);
        json_object_put(x->re);
}

/* A new object appended to @steps with "step": @name; NULL when out of memory. */
static json_object *step_new(json_object *steps, const char *name) {
        json_object *step = json_object_new_object();

        if (jappend(steps, step) < 0 || jput_s(step, "step", name) < 0)
                return NULL;
        return step;
}

static const char *role_name(int role) {
        static const char *const names[SHMBOX_SEM_COUNT] = { "lock", "items", "space" };

        return role >= 0 && role < SHMBOX_SEM_COUNT ? names[role] : "?";
}

static void print_create(const Walk *w, const Exchange *x, const struct shmbox_stat *st, const ShmObject *objs, int n) {
        char b[32];

        printf("1. create: the daemon made mailbox %s (%" PRIu32 " slots x %" PRIu32 " bytes); in " SHM_DIR ":\n",
               w->mailbox, st->slots, st->slot_size);
        for (int i = 0; i < n; i++) {
                int role = -1;

                for (int k = 0; k < SHMBOX_SEM_COUNT; k++)
                        if (strcmp(strrchr(st->sem_path[k], '/') + 1, objs[i].name) == 0)
                                role = k;
                printf("   " SHM_DIR "/%s  size %" PRIu64 "  mode %04o  owner %u:%u  ", objs[i].name, objs[i].size,
                       objs[i].mode, objs[i].uid, objs[i].gid);
                if (role >= 0)
                        printf("semaphore %s = %" PRId32 "\n", role_name(role), st->sem_value[role]);
                else if (strcmp(objs[i].name, x->base) == 0)
                        printf("segment: header + slots\n");
                else if (strstr(objs[i].name, "..fifo."))
                        printf("FIFO: readiness for event loops (poll)\n");
                else
                        printf("object\n");
        }
        printf("   header: %" PRIu32 " bytes (geometry and checksum; lock; tail; head; epoch; sleeper "
               "masks; attachment table), each group on its own cache line\n",
               st->header_size);
        printf("   slots: %" PRIu32 " x stride %" PRIu32 " bytes = %" PRIu32 "-byte slot head (state "
               "word, length) + %" PRIu32 " bytes of payload, rounded up to whole cache lines; slot 0 at "
               "offset %" PRIu32 "; %s mapped in all\n",
               st->slots, st->slot_stride, st->slot_head, st->slot_size, st->header_size,
               fmt_bytes(b, sizeof(b), st->map_size));
        printf("   semaphores: lock %" PRId32 ", items %" PRId32 ", space %" PRId32 " (wake-up channels, "
               "posted only when someone sleeps; the lock is a word in the header)\n\n",
               st->sem_value[SHMBOX_SEM_LOCK], st->sem_value[SHMBOX_SEM_ITEMS], st->sem_value[SHMBOX_SEM_SPACE]);
}

/* Step 1: the daemon creates the mailbox; we look at its objects in /dev/shm and, through a
 * short attachment of our own, at its header. */
static int step_create(Walk *w, Exchange *x, size_t size) {
        struct shmbox_config cfg = { .slots = WALK_SLOTS, .slot_size = (uint32_t)(size ? size : 1), .mode = 0600 };
        ShmObject objs[16];
        struct shmbox_stat st;
        shmbox *observer = NULL;
        json_object *step, *geo;
        const char *base;
        int n, r;

        snprintf(w->mailbox, sizeof(w->mailbox), "walkthrough-%d", (int)getpid());
        r = shmbox_create(w->client, w->mailbox, &cfg);
        if (r < 0) {
                log_error("create %s: %s", w->mailbox, shmbox_strerror(r));
                return r;
        }
        w->created = true;
        r = shmbox_attach(w->client, w->mailbox, &observer);
        if (r < 0) {
                log_error("attach %s: %s", w->mailbox, shmbox_strerror(r));
                return r;
        }
        r = shmbox_stat(observer, &st);
        shmbox_detach(observer);
        if (r < 0) {
                log_error("stat %s: %s", w->mailbox, shmbox_strerror(r));
                return r;
        }
        /* the prefix, as the segment's name shows it: /dev/shm/<prefix>.<name> */
        base = strrchr(st.segment, '/');
        base = base ? base + 1 : st.segment;
        snprintf(x->base, sizeof(x->base), "%s", base);
        snprintf(w->prefix, sizeof(w->prefix), "%.*s", (int)strcspn(base, "."), base);
        n = shm_objects(w->prefix, x->base, objs, ELEMENTSOF(objs));
        if (n < 0) {
                log_error(SHM_DIR ": %s", strerror(-n));
                return n;
        }

        step = step_new(x->steps, "create");
        geo = json_object_new_object();
        if (jput_s(step, "mailbox", w->mailbox) < 0 || jput(step, "objects", objects_json(objs, n)) < 0 ||
            jput(step, "stat", stat_json(&st)) < 0 || jput(step, "geometry", geo) < 0 ||
            jput_i(geo, "slots", st.slots) < 0 || jput_i(geo, "slot_size", st.slot_size) < 0 ||
            jput_i(geo, "slot_stride", st.slot_stride) < 0 || jput_i(geo, "slot_head", st.slot_head) < 0 ||
            jput_i(geo, "header_size", st.header_size) < 0 || jput_i(geo, "map_size", (int64_t)st.map_size) < 0)
                return -ENOMEM;
        if (w->text) {
                print_create(w, x, &st, objs, n);
                fflush(stdout);
        }
        return 0;
}

static void print_attach(const char *role, json_object *ev) {
        json_object *st = jget(ev, "stat");
        int64_t faults = jint(ev, "minor_faults");

        printf("   %s pid %" PRId64 ": mapped at 0x%" PRIx64 ", %" PRId64 " bytes; token %" PRId64 ", index %" PRId64
               "; %" PRId64 " minor %s in attach (first touch of the header)\n",
               role, jint(ev, "pid"), (uint64_t)jint(st, "map_addr"), jint(st, "map_size"), jint(st, "token"),
               jint(st, "index"), faults, plural(faults, "fault", "faults"));
}

/* Step 2: both peers attach; their addresses, faults, and the frame behind the header. */
static int step_attach(Walk *w, Exchange *x) {
        Peer *s = &w->peers[SENDER], *rcv = &w->peers[RECEIVER];
        int64_t addr_s, addr_r;
        json_object *step;
        int r;

        if ((r = peer_command(s, "attach %s", w->mailbox)) < 0 ||
            (r = peer_event(s, "attach", NULL, EVENT_TIMEOUT_MS, &x->sa)) < 0 ||
            (r = peer_command(rcv, "attach %s", w->mailbox)) < 0 ||
            (r = peer_event(rcv, "attach", NULL, EVENT_TIMEOUT_MS, &x->ra)) < 0)
                return r;
        x->header = frames_compare(jget(x->sa, "pages"), jget(x->ra, "pages"));
        addr_s = jint(jget(x->sa, "stat"), "map_addr");
        addr_r = jint(jget(x->ra, "stat"), "map_addr");

        step = step_new(x->steps, "attach");
        if (jput(step, "sender", jref(x->sa)) < 0 || jput(step, "receiver", jref(x->ra)) < 0 ||
            jput(step, "header_frames", frames_json(&x->header)) < 0 ||
            jput_b(step, "same_address", addr_s == addr_r) < 0)
                return -ENOMEM;
        if (w->text) {
                printf("2. attach: two separate programs (exec'd, so ASLR places each mapping on its own) "
                       "map the segment\n");
                print_attach("sender", x->sa);
                print_attach("receiver", x->ra);
                if (addr_s == addr_r)
                        printf("   the same virtual address in both: address-space randomisation is off "
                               "here\n");
                print_frames("header page", &x->header);
                printf("\n");
                fflush(stdout);
        }
        return 0;
}

static void print_write(const Exchange *x) {
        json_object *se = x->se, *s1 = jget(se, "stat"), *s0 = jget(se, "stat_before");
        int64_t lines = jint(se, "lines");
        Caches caches;
        char cbuf[256], origin[PATH_MAX];

        caches_from_json(se, &caches);
        caches_format(cbuf, sizeof(cbuf), &caches);
        caches_origin(origin, sizeof(origin), &caches);
        printf("3. write: the sender copies %" PRId64 " bytes into slot %" PRId64 " and commits\n", jint(se, "bytes"),
               jint(se, "slot"));
        printf("   slot %" PRId64 ": payload at 0x%" PRIx64 " in the sender (offset %" PRId64
               " in the segment), %" PRId64 " cache %s of %" PRId64 " bytes%s, plus the slot head's line "
               "the claim and the commit write\n",
               jint(se, "slot"), (uint64_t)jint(se, "payload_addr"), jint(se, "payload_offset"), lines,
               plural(lines, "line", "lines"), jint(se, "line_size"),
               caches.line_source == CACHE_SOURCE_NONE ? " (assumed: neither sysfs nor sysconf gives the line size)"
                                                       : "");
        if (jint(se, "cpu") < 0)
                printf("   the sender's CPU is unknown (sched_getcpu() failed): the caches are cpu %d's\n", caches.cpu);
        if (caches.n > 0)
                printf("   caches of cpu %d (%s): %s; the message fits in %s\n", caches.cpu, origin, cbuf,
                       fits_in((uint64_t)jint(se, "bytes"), &caches));
        else
                printf("   caches of cpu %d: %s\n", caches.cpu, origin);
        if (!jbool(x->re, "found_without_waiting") && !x->asleep)
                printf("   the receiver was not seen asleep within %d ms (/proc/%" PRId64 "/stat never showed "
                       "'S': a busy machine, or /proc hidden): the sender went ahead, so step 4 may not show a "
                       "wake-up\n",
                       SLEEP_WAIT_MS, jint(x->re, "pid"));
        printf("   reserve %.1f us (one CAS claims slot %" PRId64 ", tail - 1 = %" PRId64 " says the same), "
               "copy %.1f us, commit %.1f us: what shmbox_send() does in one call\n",
               (double)jint(se, "reserve_ns") / 1e3, jint(se, "slot"), jint(se, "slot_from_tail"),
               (double)jint(se, "copy_ns") / 1e3, (double)jint(se, "commit_ns") / 1e3);
        if (jint(se, "involuntary_switches") > 0)
                printf("   the sender was preempted %" PRId64 " time(s) meanwhile (the receiver it woke "
                       "may have taken its CPU)\n",
                       jint(se, "involuntary_switches"));
        print_faults(se, "first touch of the slot by the sender");
        printf("   commit: one CAS made slot %" PRId64 " READY; tail %" PRId64 " -> %" PRId64 "; ready %" PRId64
               ", claimed %" PRId64 ", taken %" PRId64 "\n",
               jint(se, "slot"), jint(s0, "tail"), jint(s1, "tail"), jint(s1, "ready"), jint(s1, "claimed"),
               jint(s1, "taken"));
        if (jint(s0, "recv_sleepers") > 0)
                printf("   wake-up: %" PRId64 " receiver(s) recorded asleep in the header, so the sender "
                       "posted the items semaphore\n",
                       jint(s0, "recv_sleepers"));
        else
                printf("   wake-up: no receiver recorded asleep, so no post: the send made no system "
                       "call\n");
        print_sems("semaphores after the send", s1);
        printf("\n");
}

static void print_read(const Exchange *x) {
        json_object *re = x->re, *s1 = jget(re, "stat");
        int64_t cs = jint(re, "voluntary_switches");
        bool slept = jbool(re, "slept");

        printf("4. read: the receiver copies the message out of slot %" PRId64 "\n", jint(re, "slot"));
        if (jbool(re, "found_without_waiting"))
                printf("   a recv with timeout 0 found it already there: no sleep\n");
        else
                printf("   a recv with timeout 0 found nothing, so it waited on the items semaphore: %s "
                       "(%" PRId64 " voluntary context %s)\n",
                       slept ? "slept" : "did not sleep", cs, plural(cs, "switch", "switches"));
        printf("   received %" PRId64 " bytes %.1f us after the commit; content %s: \"%s\"\n", jint(re, "bytes"),
               (double)x->latency / 1e3, x->same_content ? "identical" : "DIFFERENT", jstr(re, "preview"));
        printf("   payload at 0x%" PRIx64 " in the receiver\n", (uint64_t)jint(re, "payload_addr"));
        print_faults(re, "first touch of the slot by the receiver");
        print_frames("slot page", &x->slot);
        printf("   ring after: head %" PRId64 ", tail %" PRId64 "; ready %" PRId64 ", claimed %" PRId64
               ", taken %" PRId64 "\n",
               jint(s1, "head"), jint(s1, "tail"), jint(s1, "ready"), jint(s1, "claimed"), jint(s1, "taken"));
        print_sems("semaphores after the receive", s1);
        printf("\n");
}

/* Steps 3 and 4: the receiver waits, the sender writes and commits, the receiver wakes. */
static int step_transfer(Walk *w, Exchange *x, size_t size) {
        _cleanup_json_ json_object *first = NULL;
        Peer *s = &w->peers[SENDER], *rcv = &w->peers[RECEIVER];
        json_object *step;
        int r;

        if ((r = peer_command(rcv, "recv")) < 0 ||
            (r = peer_event(rcv, "waiting", "recv", EVENT_TIMEOUT_MS, &first)) < 0)
                return r;
        if (strcmp(jstr(first, "event"), "waiting") == 0)
                x->asleep = wait_sleeping(rcv->pid, SLEEP_WAIT_MS);
        else {
                x->re = first; /* a message was there already: nothing to wait for */
                first = NULL;
        }
        if ((r = peer_command(s, "send %zu", size)) < 0 ||
            (r = peer_event(s, "send", NULL, EVENT_TIMEOUT_MS, &x->se)) < 0)
                return r;
        if (!x->re && (r = peer_event(rcv, "recv", NULL, EVENT_TIMEOUT_MS, &x->re)) < 0)
                return r;

        x->slot = frames_compare(jget(x->se, "pages"), jget(x->re, "pages"));
        x->latency = jint(x->re, "t_received") - jint(x->se, "t_commit");
        x->same_content =
                strcmp(jstr(x->se, "fnv1a"), jstr(x->re, "fnv1a")) == 0 && jint(x->se, "bytes") == jint(x->re, "bytes");

        step = step_new(x->steps, "write");
        if (jput(step, "sender", jref(x->se)) < 0 || jput_b(step, "receiver_seen_asleep", x->asleep) < 0)
                return -ENOMEM;
        step = step_new(x->steps, "read");
        if (jput(step, "receiver", jref(x->re)) < 0 || jput_i(step, "commit_to_receipt_ns", x->latency) < 0 ||
            jput_b(step, "slept", jbool(x->re, "slept")) < 0 || jput_b(step, "same_content", x->same_content) < 0 ||
            jput(step, "slot_frames", frames_json(&x->slot)) < 0)
                return -ENOMEM;
        if (w->text) {
                print_write(x);
                print_read(x);
                fflush(stdout);
        }
        return 0;
}

/* Step 5: both detach and exit, the daemon destroys the mailbox, /dev/shm shows it gone. */
static int step_destroy(Walk *w, Exchange *x) {
        _cleanup_json_ json_object *sd = NULL, *rd = NULL;
        ShmObject objs[16];
        json_object *step;
        int n, r;

        if ((r = peer_command(&w->peers[SENDER], "detach")) < 0 ||
            (r = peer_event(&w->peers[SENDER], "detach", NULL, EVENT_TIMEOUT_MS, &sd)) < 0 ||
            (r = peer_command(&w->peers[RECEIVER], "detach")) < 0 ||
            (r = peer_event(&w->peers[RECEIVER], "detach", NULL, EVENT_TIMEOUT_MS, &rd)) < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(w->peers); i++)
                peer_finish(&w->peers[i], EVENT_TIMEOUT_MS);
        r = shmbox_destroy(w->client, w->mailbox);
        if (r < 0) {
                log_error("destroy %s: %s", w->mailbox, shmbox_strerror(r));
                return r;
        }
        w->created = false;
        x->left = shm_objects(w->prefix, x->base, objs, ELEMENTSOF(objs));
        if (x->left < 0) {
                log_error(SHM_DIR ": %s", strerror(-x->left));
                return x->left;
        }
        step = step_new(x->steps, "destroy");
        if (jput(step, "sender", jref(sd)) < 0 || jput(step, "receiver", jref(rd)) < 0 ||
            jput(step, "left", objects_json(objs, x->left)) < 0 || jput_i(step, "left_count", x->left) < 0)
                return -ENOMEM;
        if (w->text) {
                printf("5. detach and destroy: both processes detached and exited; the daemon destroyed %s\n",
                       w->mailbox);
                printf("   ls " SHM_DIR ", objects of %s: %s\n", w->mailbox, x->left ? "" : "(none)");
                for (int i = 0; i < x->left; i++)
                        printf("   " SHM_DIR "/%s\n", objs[i].name);
                printf("   objects of the mailbox left: %d\n", x->left);
        }
        if (w->temporary) {
                /* the whole instance goes: its lock file, and anything else of its prefix */
                shmbox_disconnect(w->client);
                w->client = NULL;
                r = daemon_stop(w);
                x->prefix_left = shm_objects(w->prefix, NULL, objs, ELEMENTSOF(objs));
                n = x->prefix_left > 0 ? x->prefix_left : 0;
                if (jput_b(step, "daemon_stopped", r >= 0 && WIFEXITED(r) && WEXITSTATUS(r) == 0) < 0 ||
                    jput(step, "prefix_left", objects_json(objs, n)) < 0 ||
                    jput_i(step, "prefix_left_count", x->prefix_left) < 0)
                        return -ENOMEM;
                if (w->text)
                        printf("   temporary shmboxd stopped; objects of prefix %s left: %d\n", w->prefix,
                               x->prefix_left);
        }
        if (w->text)
                printf("\n");
        return 0;
}

static int summarize(Walk *w, Exchange *x, json_object *record, size_t size) {
        json_object *summary = json_object_new_object();
        bool hidden = x->header.hidden || x->slot.hidden;
        bool known = x->header.pairs && x->slot.pairs && !hidden;
        bool same = x->header.same && x->slot.same;
        bool slept = jbool(x->re, "slept");
        int left = x->left + (x->prefix_left > 0 ? x->prefix_left : 0);
        char b[32];

        if (jput(record, "summary", summary) < 0 || jput_i(summary, "bytes", (int64_t)size) < 0 ||
            jput_i(summary, "slot", jint(x->se, "slot")) < 0 || jput_i(summary, "sender_pid", jint(x->sa, "pid")) < 0 ||
            jput_i(summary, "receiver_pid", jint(x->ra, "pid")) < 0 ||
            jput_i(summary, "sender_map_addr", jint(jget(x->sa, "stat"), "map_addr")) < 0 ||
            jput_i(summary, "receiver_map_addr", jint(jget(x->ra, "stat"), "map_addr")) < 0 ||
            jput_i(summary, "commit_to_receipt_ns", x->latency) < 0 || jput_b(summary, "slept", slept) < 0 ||
            jput_b(summary, "same_content", x->same_content) < 0 ||
            (known ? jput_b(summary, "same_frames", same) : jput_null(summary, "same_frames")) < 0 ||
            jput_b(summary, "frames_hidden", hidden) < 0 || jput_i(summary, "left", left) < 0)
                return -ENOMEM;
        if (!w->opt->json)
                printf("summary: %zu bytes from pid %" PRId64 " (mapped at 0x%" PRIx64 ") to pid %" PRId64
                       " (mapped at 0x%" PRIx64 ") through slot %" PRId64 " (%s); commit to receipt %.1f us; "
                       "receiver slept: %s; same frames: %s; left in " SHM_DIR ": %d\n",
                       size, jint(x->sa, "pid"), (uint64_t)jint(jget(x->sa, "stat"), "map_addr"), jint(x->ra, "pid"),
                       (uint64_t)jint(jget(x->ra, "stat"), "map_addr"), jint(x->se, "slot"),
                       fmt_bytes(b, sizeof(b), (uint64_t)size), (double)x->latency / 1e3, slept ? "yes" : "no",
                       hidden   ? "hidden"
                       : !known ? "unknown"
                       : same   ? "yes"
                                : "no",
                       left);
        if (!x->same_content) {
                log_error("the receiver got other bytes than the sender sent");
                return -EBADMSG;
        }
        if (left > 0) {
                log_error("objects were left in " SHM_DIR);
                return -EEXIST;
        }
        return 0;
}

/* The five steps, narrated as they happen (or recorded for --json), and the summary. */
static int walkthrough_exchange(Walk *w, json_object *record) {
        _cleanup_(exchange_done) Exchange x = { .prefix_left = -1 };
        size_t size = w->opt->size;
        int r;

        x.steps = json_object_new_array();
        if (jput(record, "steps", x.steps) < 0)
                return -ENOMEM;
        if (w->text) {
                printf("shmboxctl walkthrough: %zu bytes from one process to another through shared memory\n", size);
                if (w->temporary)
                        printf("daemon: temporary shmboxd pid %d (%s), socket %s, prefix %s\n\n", (int)w->daemon_pid,
                               w->daemon_bin, w->socket, w->prefix);
                else
                        printf("daemon: shmboxd on %s\n\n", w->socket);
                fflush(stdout);
        }
        r = step_create(w, &x, size);
        if (r >= 0) {
                r = peer_spawn(w, &w->peers[SENDER], "sender");
                if (r >= 0)
                        r = peer_spawn(w, &w->peers[RECEIVER], "receiver");
                if (r < 0)
                        log_error("cannot start the peers: %s", strerror(-r));
        }
        if (r >= 0)
                r = step_attach(w, &x);
        if (r >= 0)
                r = step_transfer(w, &x, size);
        if (r >= 0)
                r = step_destroy(w, &x);
        if (r >= 0)
                r = summarize(w, &x, record, size);
        return r;
}

/* ---- the hierarchy -------------------------------------------------------------------------- */

/* One stream through the attached mailbox: the receiver drains, the sender floods. Fills
 * @p's counts and rates. Return: 0; a negative errno (reported). */
static int hierarchy_stream(Walk *w, uint64_t message, uint32_t slots, int64_t min_ms, unsigned spin_us, Point *p) {
        _cleanup_json_ json_object *fe = NULL, *de = NULL;
        uint64_t warm = 2 * (uint64_t)slots, min_count = 4 * (uint64_t)slots + 16;
        int64_t ns, bytes;
        int r;

        if ((r = peer_command(&w->peers[RECEIVER], "drain %" PRIu64 " %u", warm, spin_us)) < 0 ||
            (r = peer_command(&w->peers[SENDER], "flood %" PRIu64 " %" PRIu64 " %" PRId64 " %u", message, min_count,
                              min_ms, spin_us)) < 0 ||
            (r = peer_event(&w->peers[SENDER], "flood", NULL, (int)min_ms + 120000, &fe)) < 0 ||
            (r = peer_event(&w->peers[RECEIVER], "drain", NULL, EVENT_TIMEOUT_MS, &de)) < 0)
                return r;
        p->messages = (uint64_t)jint(de, "measured_messages");
        ns = jint(de, "t_last") - jint(de, "t_first");
        bytes = jint(de, "measured_bytes");
        if (p->messages == 0 || ns <= 0 || bytes <= 0) {
                log_error("%s: nothing measured (%" PRIu64 " messages)", w->mailbox, p->messages);
                return -EPROTO;
        }
        p->ns_per_message = (double)ns / (double)p->messages;
        p->ns_per_byte = (double)ns / (double)bytes;
        p->gbps = (double)bytes / (double)ns; /* bytes per ns = GB/s */
        return 0;
}

/*
 * One size of the hierarchy: a mailbox of @slots x @message, attached by both peers, streamed
 * through @reps times, destroyed. The best of the streams counts: what a quiet machine does,
 * without the interference (other processes, frequency changes) a single run may catch.
 */
static int hierarchy_point(Walk *w, unsigned i, uint64_t message, uint32_t slots, int64_t min_ms, unsigned spin_us,
                           unsigned reps, Point *ret) {
        _cleanup_json_ json_object *sa = NULL, *ra = NULL, *sd = NULL, *rd = NULL;
        struct shmbox_config cfg = { .slots = slots, .slot_size = (uint32_t)message, .mode = 0600 };
        Point best = {};
        int r;

        snprintf(w->mailbox, sizeof(w->mailbox), "hierarchy-%d-%u", (int)getpid(), i);
        r = shmbox_create(w->client, w->mailbox, &cfg);
        if (r < 0) {
                log_error("create %s (%" PRIu32 " x %" PRIu64 " bytes): %s", w->mailbox, slots, message,
                          shmbox_strerror(r));
                return r;
        }
        w->created = true;
        if ((r = peer_command(&w->peers[SENDER], "attach %s", w->mailbox)) < 0 ||
            (r = peer_event(&w->peers[SENDER], "attach", NULL, EVENT_TIMEOUT_MS, &sa)) < 0 ||
            (r = peer_command(&w->peers[RECEIVER], "attach %s", w->mailbox)) < 0 ||
            (r = peer_event(&w->peers[RECEIVER], "attach", NULL, EVENT_TIMEOUT_MS, &ra)) < 0)
                return r;
        for (unsigned k = 0; k < reps; k++) {
                Point p = {};

                r = hierarchy_stream(w, message, slots, min_ms, spin_us, &p);
                if (r < 0)
                        return r;
                if (p.gbps > best.gbps)
                        best = p;
        }
        if ((r = peer_command(&w->peers[SENDER], "detach")) < 0 ||
            (r = peer_event(&w->peers[SENDER], "detach", NULL, EVENT_TIMEOUT_MS, &sd)) < 0 ||
            (r = peer_command(&w->peers[RECEIVER], "detach")) < 0 ||
            (r = peer_event(&w->peers[RECEIVER], "detach", NULL, EVENT_TIMEOUT_MS, &rd)) < 0)
                return r;
        r = shmbox_destroy(w->client, w->mailbox);
        if (r < 0) {
                log_error("destroy %s: %s", w->mailbox, shmbox_strerror(r));
                return r;
        }
        w->created = false;

        best.message = message;
        best.slots = slots;
        best.stride = (uint32_t)jint(jget(sa, "stat"), "slot_stride");
        best.footprint = (uint64_t)slots * best.stride;
        *ret = best;
        return 0;
}

static int walkthrough_hierarchy(Walk *w, json_object *record) {
        Caches caches;
        size_t np = 0;
        Point pts[HIER_POINTS_MAX];
        uint64_t largest, fmax, first, factor, shm_free = 0;
        int64_t min_ms;
        unsigned spin_us, reps, ncpus;
        json_object *points = json_object_new_array(), *o;
        char cbuf[256], origin[PATH_MAX], b1[32], b2[32];
        bool shm_limited = false;
        int cpu = 0;
        size_t best = 0;
        int r;

        /* the caches of the first CPU this process may use (cpu0, unless a cpuset excludes it) */
        ncpus = machine_cpus(&cpu);
        caches_read(cpu, &caches);
        largest = caches_largest(&caches);
        if (w->opt->quick) {
                first = 256;
                factor = 4;
                fmax = UINT64_C(1) << 20;
                min_ms = 10;
                reps = 1;
        } else {
                /* past the largest cache, to a size only RAM holds */
                first = 128;
                factor = 2;
                fmax = UINT64_C(64) << 20;
                while (fmax < 4 * largest && fmax < HIER_CAP)
                        fmax *= 2;
                /* one ring at a time lives in /dev/shm, a tmpfs with a size limit (a container's
                 * may be 64 MiB): keep the largest to half of what is free there */
                if (machine_shm_free(SHM_DIR, &shm_free) == 0)
                        while (fmax > (UINT64_C(1) << 20) && fmax + fmax / 8 > shm_free / 2) {
                                fmax /= 2;
                                shm_limited = true;
                        }
                min_ms = 50;
                reps = 3;
        }
        /* With a CPU each, sender and receiver poll instead of sleeping, so that the table shows
         * the cost of moving bytes, not of waking up (tens of microseconds a message). On one
         * CPU polling would only steal the peer's time: the library's default stays. */
        spin_us = ncpus >= 2 ? 200 : 10;
        caches_format(cbuf, sizeof(cbuf), &caches);
        caches_origin(origin, sizeof(origin), &caches);
        if (jput(record, "points", points) < 0 || caches_put_json(record, &caches) < 0 ||
            jput_i(record, "cpus", ncpus) < 0 || jput_i(record, "spin_us", spin_us) < 0 ||
            jput_i(record, "repetitions", reps) < 0 || jput_i(record, "largest_footprint", (int64_t)fmax) < 0 ||
            jput_b(record, "limited_by_shm", shm_limited) < 0)
                return -ENOMEM;

        /* the biggest mailbox: slots of the largest message; limits with room for the header */
        r = walk_connect(w, fmax + fmax / 8 + (UINT64_C(1) << 20), true);
        if (r < 0)
                return r;
        r = peer_spawn(w, &w->peers[SENDER], "sender");
        if (r >= 0)
                r = peer_spawn(w, &w->peers[RECEIVER], "receiver");
        if (r < 0) {
                log_error("cannot start the peers: %s", strerror(-r));
                return r;
        }
        if (w->text) {
                printf("shmboxctl walkthrough --hierarchy: a stream of messages between two processes "
                       "through rings of %s to %s (2 slots, then more slots of the largest message)\n",
                       fmt_bytes(b1, sizeof(b1), first), fmt_bytes(b2, sizeof(b2), fmax));
                printf("daemon: temporary shmboxd pid %d, socket %s\n", (int)w->daemon_pid, w->socket);
                if (caches.n > 0)
                        printf("caches of cpu%d (%s): %s\n", caches.cpu, origin, cbuf);
                else
                        printf("caches of cpu%d: %s; the table cannot say what fits where\n", caches.cpu, origin);
                if (shm_limited)
                        printf("the largest ring is %s: " SHM_DIR " has %s free, and a ring may take half\n",
                               fmt_bytes(b1, sizeof(b1), fmax), fmt_bytes(b2, sizeof(b2), shm_free));
                printf("a waiting process polls up to %u us before it sleeps (shmbox_set_spin)%s\n\n", spin_us,
                       spin_us > 10 ? ": the table shows copies, not wake-ups"
                       : ncpus == 0 ? ": the CPUs this process may use are unknown (sched_getaffinity failed), "
                                      "so they sleep and wake"
                                    : ": one CPU, so they sleep and wake");
                printf("%10s  %10s  %6s  %9s  %10s  %9s  %8s  %s\n", "footprint", "message", "slots", "messages",
                       "ns/msg", "ns/byte", "GB/s", "fits in");
                fflush(stdout);
        }
        for (uint64_t f = first; f <= fmax && np < HIER_POINTS_MAX; f *= factor) {
                uint64_t message = f / 2 < SHMBOX_SLOT_SIZE_MAX ? f / 2 : SHMBOX_SLOT_SIZE_MAX;
                uint32_t slots = (uint32_t)(f / message);
                Point *p = &pts[np];

                r = hierarchy_point(w, (unsigned)np, message, slots, min_ms, spin_us, reps, p);
                if (r < 0)
                        return r;
                p->fits = fits_in(p->footprint, &caches);
                np++;
                o = json_object_new_object();
                if (jappend(points, o) < 0 || jput_i(o, "footprint", (int64_t)p->footprint) < 0 ||
                    jput_i(o, "message", (int64_t)p->message) < 0 || jput_i(o, "slots", p->slots) < 0 ||
                    jput_i(o, "slot_stride", p->stride) < 0 || jput_i(o, "messages", (int64_t)p->messages) < 0 ||
                    jput_d(o, "ns_per_message", p->ns_per_message) < 0 ||
                    jput_d(o, "ns_per_byte", p->ns_per_byte) < 0 || jput_d(o, "gbps", p->gbps) < 0 ||
                    jput_s(o, "fits_in", p->fits) < 0)
                        return -ENOMEM;
                if (w->text) {
                        printf("%10s  %10s  %6" PRIu32 "  %9" PRIu64 "  %10.1f  %9.4f  %8.3f  %s\n",
                               fmt_bytes(b1, sizeof(b1), p->footprint), fmt_bytes(b2, sizeof(b2), p->message), p->slots,
                               p->messages, p->ns_per_message, p->ns_per_byte, p->gbps, p->fits);
                        fflush(stdout);
                }
                if (p->gbps > pts[best].gbps)
                        best = np - 1;
        }
        for (size_t i = 0; i < ELEMENTSOF(w->peers); i++)
                peer_finish(&w->peers[i], EVENT_TIMEOUT_MS);
        shmbox_disconnect(w->client);
        w->client = NULL;
        daemon_stop(w);

        if (w->opt->plot) {
                r = chart_write(w->opt->plot, pts, np, &caches);
                if (r < 0)
                        return r;
        }
        if (jput_s(record, "plot", w->opt->plot) < 0)
                return -ENOMEM;
        if (!w->opt->json && np > 0) {
                printf("%ssummary: %zu sizes; peak %.3f GB/s with a %s ring (%s messages); %.3f GB/s "
                       "with the largest, %s (%s)%s%s\n",
                       w->text ? "\n" : "", np, pts[best].gbps, fmt_bytes(b1, sizeof(b1), pts[best].footprint),
                       fmt_bytes(b2, sizeof(b2), pts[best].message), pts[np - 1].gbps,
                       fmt_bytes(cbuf, sizeof(cbuf), pts[np - 1].footprint), pts[np - 1].fits,
                       w->opt->plot ? "; chart: " : "", w->opt->plot ? w->opt->plot : "");
        }
        return 0;
}

/*
 * walkthrough_run() - the command `shmboxctl walkthrough`
 * @opt: the parsed options (the caller checked their combinations)
 *
 * Everything it starts — peers, a temporary daemon, the mailbox — is gone when it returns, on
 * every path. Errors are reported on stderr, once, where they happen.
 *
 * Return: the exit status: 0; 1 on a failure.
 */
int walkthrough_run(const WalkthroughOptions *opt) {
        _cleanup_json_ json_object *record = json_object_new_object();
        Walk w = { .opt = opt, .text = !opt->json && !opt->quiet, .peers = { { .fd = -1 }, { .fd = -1 } } };
        struct sigaction sa = { .sa_handler = on_signal }, old[3], old_pipe;
        static const int stop_signals[3] = { SIGINT, SIGTERM, SIGHUP };
        int r;

        if (jput_s(record, "command", "walkthrough") < 0 ||
            jput_s(record, "mode", opt->hierarchy ? "hierarchy" : "walkthrough") < 0 ||
            jput_s(record, "version", shmbox_version()) < 0) {
                log_error("out of memory");
                return EXIT_FAILURE;
        }
        /* No SA_RESTART: a signal interrupts the waits, which then clean up. A closed stdout
         * must not kill us mid-run either: main() reports the failed write at the end. */
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < ELEMENTSOF(stop_signals); i++)
                sigaction(stop_signals[i], &sa, &old[i]);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, &old_pipe);
        if (opt->hierarchy)
                r = walkthrough_hierarchy(&w, record);
        else {
                r = walk_connect(&w, 0, opt->own_daemon);
                if (r >= 0)
                        r = walkthrough_exchange(&w, record);
        }
        if (r >= 0 || w.socket[0]) {
                json_object *d = json_object_new_object();

                if (jput(record, "daemon", d) < 0 || jput_b(d, "temporary", w.temporary) < 0 ||
                    jput_s(d, "socket", w.socket) < 0 || jput_s(d, "prefix", w.prefix[0] ? w.prefix : NULL) < 0 ||
                    jput_s(d, "binary", w.temporary ? w.daemon_bin : NULL) < 0)
                        r = r < 0 ? r : -ENOMEM;
        }
        walk_done(&w);
        for (size_t i = 0; i < ELEMENTSOF(stop_signals); i++)
                sigaction(stop_signals[i], &old[i], NULL);
        sigaction(SIGPIPE, &old_pipe, NULL);
        if (r == -ENOMEM)
                log_error("out of memory");
        if (walk_interrupted) {
                log_error("interrupted by signal %d; cleaned up", (int)walk_interrupted);
                return EXIT_FAILURE;
        }
        if (r < 0)
                return EXIT_FAILURE;
        if (opt->json) {
                int flags = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE;
                const char *s = json_object_to_json_string_ext(record, flags);

                if (!s) {
                        log_error("out of memory");
                        return EXIT_FAILURE;
                }
                puts(s);
        }
        return EXIT_SUCCESS;
}
