/* SPDX-License-Identifier: MIT */
/* test-corrupt.c — shared memory is untrusted input (doc/design.md, invariant 4): a peer scribbles
 * on an attached mailbox — random bytes over one header field at a time (fixed seeds), invalid
 * slot states, wrong laps, lengths past slot_size — or truncates its segment, and then:
 *   - its users get -EBADMSG (or, where the scribble is indistinguishable from a legal state,
 *     what that state means: -EIDRM for the DESTROYED flag, -ESTALE for a foreign token in
 *     their attachment entry); after a truncation they may also die of SIGBUS, nothing more;
 *   - the daemon stays up: info and list on it keep answering, a bystander mailbox on the same
 *     daemon still sends, receives and reports, and the daemon survives the repairs of the
 *     corrupt mailbox's users when they die or detach;
 *   - info says what is corrupt (shmbox_info().corrupt, and `shmboxctl info` prints
 *     "corrupt: <what>" and "corrupt": [...] in --json, without the counters derived from
 *     it), names no process of another mailbox as the lock holder, and says nothing of a
 *     healthy mailbox;
 *   - the corrupt mailbox can still be destroyed, and nothing of it stays in /dev/shm.
 * Each case prints one row: the corruption, what a user's send, receive and blocking receive
 * returned, and what a fresh attach returned.
 *
 * test-errors.c covers the other corruptions (tail exactly past head + slots, the immutable
 * header's checksum, magic and version, a truncated segment nobody is attached to); this suite
 * does not repeat them.
 *
 * The users run in forked children that attached before the corruption and report each result
 * as an int64 through a pipe: a child never calls ck_assert, and its SIGBUS is only its own.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <signal.h>
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
#include "proto/layout.h"
#include "proto/names.h"
#include "tests/harness.h"

#define TIMEOUT_S 60

/* Outcomes beside return values (which are lengths or negative errnos). */
#define OUT_BLOCKS 1000   /* still waiting when the test stopped looking */
#define OUT_SIGBUS 1001   /* the user died of SIGBUS */
#define OUT_DIED 1002     /* the user died otherwise */
#define OUT_CRASH_OK 1003 /* expected: SIGBUS or -EBADMSG, either is allowed */

/* The victim: small, so that every slot is at a known place. Two messages are queued in slots
 * 0 and 1 before the corruption; tail is at slot 2. */
static const struct shmbox_config victim_cfg = { .slots = 4, .slot_size = 64 };
#define FIRST "first"    /* 5 bytes, slot 0 */
#define SECOND "second!" /* 7 bytes, slot 1 */
#define MINE "u"         /* 1 byte, what a user sends */

static TestDaemon d;
static shmbox_client *client;
static shmbox *bystander, *victim;

static void setup(void) {
        harness_daemon_start(&d, NULL);
        client = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(client, "bystander", NULL), 0);
        ck_assert_int_eq(shmbox_attach(client, "bystander", &bystander), 0);
        ck_assert_int_eq(shmbox_create(client, "victim", &victim_cfg), 0);
        ck_assert_int_eq(shmbox_attach(client, "victim", &victim), 0);
        ck_assert_int_eq(shmbox_send(victim, FIRST, strlen(FIRST), 0), 0);
        ck_assert_int_eq(shmbox_send(victim, SECOND, strlen(SECOND), 0), 0);
}

static void teardown(void) {
        shmbox_detach(victim); /* NULL unless the case failed before it let go */
        victim = NULL;
        (void)shmbox_destroy(client, "victim");
        shmbox_detach(bystander);
        bystander = NULL;
        ck_assert_int_eq(shmbox_destroy(client, "bystander"), 0);
        shmbox_disconnect(client);
        client = NULL;
        harness_daemon_done(&d);
}

/* splitmix64: the fixed-seed source of every random byte here. */
static uint64_t random_next(uint64_t *state) {
        uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

/* The bystander on the same daemon: send, receive and info all work. */
static void assert_bystander_works(void) {
        struct shmbox_info info;
        char got[16];

        ck_assert_int_eq(shmbox_send(bystander, "alive", 5, 0), 0);
        ck_assert_int_eq(shmbox_info(client, "bystander", &info), 0);
        ck_assert_uint_eq(info.queued, 1);
        ck_assert_uint_eq(info.corrupt, 0); /* a healthy mailbox validates */
        ck_assert_int_eq(shmbox_recv(bystander, got, sizeof(got), 0), 5);
        ck_assert_mem_eq(got, "alive", 5);
}

static void assert_list_count(size_t want) {
        struct shmbox_entry *entries;
        size_t n;

        ck_assert_int_eq(shmbox_list(client, &entries, &n), 0);
        ck_assert_uint_eq(n, want);
        free(entries);
}

/* --- the user of the corrupt mailbox --------------------------------------------------------- */

typedef struct User {
        pid_t pid;
        int rfd, gofd;
        bool reaped;
        int status;
} User;

static void report(int wfd, int64_t v) {
        if (write(wfd, &v, sizeof(v)) != (ssize_t)sizeof(v))
                _exit(3);
}

/* Child: attach, report, wait for "go", then send, receive, and receive blocking; on "G",
 * receive blocking once more (where the third receive finds a message, and the fourth must
 * find the corruption, not sleep for good). */
static void user_main(int wfd, int gofd) {
        shmbox_client *c;
        shmbox *box;
        char buf[64], byte;
        int r;

        r = shmbox_connect(d.socket, &c);
        if (r >= 0)
                r = shmbox_attach(c, "victim", &box);
        report(wfd, r);
        if (r < 0)
                _exit(5);
        if (read(gofd, &byte, 1) != 1)
                _exit(6);
        report(wfd, shmbox_send(box, MINE, strlen(MINE), 0));
        report(wfd, shmbox_recv(box, buf, sizeof(buf), 0));
        report(wfd, shmbox_recv(box, buf, sizeof(buf), -1));
        if (byte == 'G')
                report(wfd, shmbox_recv(box, buf, sizeof(buf), -1));
        for (;;)
                pause();
}

static User user_start(void) {
        pid_t parent = getpid();
        int rep[2], go[2];
        User u = {};
        int64_t v = -1;
        struct pollfd pfd;

        ck_assert_int_eq(pipe2(rep, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
        fflush(NULL);
        u.pid = fork();
        ck_assert_int_ge(u.pid, 0);
        if (u.pid == 0) {
                /* a failed test must not leave its peers behind */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(4);
                user_main(rep[1], go[0]);
        }
        close(rep[1]);
        close(go[0]);
        u.rfd = rep[0];
        u.gofd = go[1];
        pfd = (struct pollfd){ .fd = u.rfd, .events = POLLIN };
        ck_assert_msg(poll(&pfd, 1, harness_ms(5000)) == 1 && read(u.rfd, &v, sizeof(v)) == (ssize_t)sizeof(v) &&
                              v == 0,
                      "the user did not attach (%lld)", (long long)v);
        return u;
}

/* The user's next result within @ms, or how it failed to give one. */
static int64_t user_result(User *u, int ms) {
        struct pollfd pfd = { .fd = u->rfd, .events = POLLIN };
        int64_t v;
        int r;

        do
                r = poll(&pfd, 1, ms);
        while (r < 0 && errno == EINTR);
        if (r == 1 && read(u->rfd, &v, sizeof(v)) == (ssize_t)sizeof(v))
                return v;
        if (!u->reaped && waitpid(u->pid, &u->status, r == 1 ? 0 : WNOHANG) == u->pid)
                u->reaped = true;
        if (!u->reaped)
                return OUT_BLOCKS;
        return WIFSIGNALED(u->status) && WTERMSIG(u->status) == SIGBUS ? OUT_SIGBUS : OUT_DIED;
}

/* Let the user go; its results: send, recv (timeout 0), recv (forever), and with @again recv
 * (forever) once more. */
static void user_run(User *u, bool again, int64_t ret[4]) {
        ck_assert_int_eq(write(u->gofd, again ? "G" : "g", 1), 1);
        ret[0] = user_result(u, harness_ms(2000));
        ret[1] = ret[0] == OUT_SIGBUS || ret[0] == OUT_DIED ? ret[0] : user_result(u, harness_ms(2000));
        ret[2] = ret[1] == OUT_SIGBUS || ret[1] == OUT_DIED ? ret[1] : user_result(u, harness_ms(500));
        if (again)
                ret[3] = ret[2] == OUT_SIGBUS || ret[2] == OUT_DIED ? ret[2] : user_result(u, harness_ms(2000));
}

/* Kill and reap the user: its death makes the daemon repair its attachment on the corrupt ring. */
static void user_stop(User *u) {
        if (!u->reaped) {
                kill(u->pid, SIGKILL);
                ck_assert_int_ne(harness_wait_exit(u->pid, harness_ms(10000)), -1);
        }
        close(u->rfd);
        close(u->gofd);
}

/* --- corruptions ----------------------------------------------------------------------------- */

typedef enum Kind {
        HEAD,
        TAIL,
        LOCK,
        LOCK_FOREIGN, /* the lock: the token of an attachment of another mailox (the bystander) */
        TAIL_PLUS,    /* tail := tail + arg */
        TAIL_FULL,    /* tail := head + slots */
        RECEIVED,     /* the received counter: random */
        FLAGS_DESTROYED,
        FLAGS_UNKNOWN,
        ATT_TABLE,
        EPOCH,
        SLEEPERS,
        SLOT_STATE, /* slot 0 (a queued message): state := arg, lap and token kept */
        SLOT_LAP,   /* slot 0: READY with the next lap */
        SLOT_LEN,   /* slot 0: len := arg */
        SLOT_META,  /* slot 0: meta := arg (its message is "first", 5 bytes) */
        TAIL_STATE, /* slot 2 (the next to claim): state := arg at its lap */
        TAIL_LAP,   /* slot 2: FREE with the next lap */
        TRUNCATE,   /* the segment: size := total * arg / 2 */
} Kind;

typedef struct Case {
        const char *what;
        Kind kind;
        uint64_t arg;                             /* the seed of random scribbles; the value for the others */
        int64_t send, recv, recv_forever, attach; /* what must come out */
        uint32_t corrupt;                         /* what shmbox_info() must report (SHMBOX_INFO_CORRUPT_*) */
        bool again;                               /* a second recv(-1), which must return again_ret */
        int64_t again_ret;
} Case;

#define C_POS SHMBOX_INFO_CORRUPT_POSITIONS
#define C_SLOT SHMBOX_INFO_CORRUPT_SLOT
#define C_LEN SHMBOX_INFO_CORRUPT_LENGTH
#define C_LOCK SHMBOX_INFO_CORRUPT_LOCK
#define C_CNT SHMBOX_INFO_CORRUPT_COUNTERS
#define C_SEG SHMBOX_INFO_CORRUPT_SEGMENT
#define C_META SHMBOX_INFO_CORRUPT_META

static const Case header_cases[] = {
        /* senders never read head while the slot at tail is free: they go by the slot words */
        { "head: random (seed 1)", HEAD, 1, 0, -EBADMSG, -EBADMSG, 0, C_POS, false, 0 },
        { "head: random (seed 2)", HEAD, 2, 0, -EBADMSG, -EBADMSG, 0, C_POS, false, 0 },
        /* receivers never read tail: they go by the slot words */
        { "tail: random (seed 3)", TAIL, 3, -EBADMSG, 5, 7, 0, C_POS, false, 0 },
        { "tail: random (seed 4)", TAIL, 4, -EBADMSG, 5, 7, 0, C_POS, false, 0 },
        /* issue 7: the tail forgeries that were waits without end; the receiver that would
         * sleep finds the gap below tail */
        { "tail: + 1", TAIL_PLUS, 1, 0, 5, 7, 0, C_POS, true, -EBADMSG },
        { "tail: head + slots", TAIL_FULL, 0, -EAGAIN, 5, 7, 0, C_POS, true, -EBADMSG },
        { "lock: random (seed 5)", LOCK, 5, -EBADMSG, -EBADMSG, -EBADMSG, 0, C_LOCK, false, 0 },
        { "lock: random (seed 6)", LOCK, 6, -EBADMSG, -EBADMSG, -EBADMSG, 0, C_LOCK, false, 0 },
        /* info named the process attached to the other mailbox as the holder */
        { "lock: the bystander's token", LOCK_FOREIGN, 0, -EBADMSG, -EBADMSG, -EBADMSG, 0, C_LOCK, false, 0 },
        /* issue 7: info printed this number and nothing else */
        { "received: random (seed 12)", RECEIVED, 12, 0, 5, 7, 0, C_CNT, false, 0 },
        /* a peer can write what destroy writes: the users see a destroyed mailbox */
        { "flags: random with DESTROYED (seed 7)", FLAGS_DESTROYED, 7, -EIDRM, -EIDRM, -EIDRM, 0, 0, false, 0 },
        { "flags: random, DESTROYED clear (seed 8)", FLAGS_UNKNOWN, 8, 0, 5, 7, 0, 0, false, 0 },
        /* a foreign token in one's entry is what a repaired attachment sees */
        { "att table: random (seed 9)", ATT_TABLE, 9, -ESTALE, -ESTALE, -ESTALE, 0, 0, false, 0 },
        /* an epoch change only makes each box re-register with the daemon */
        { "epoch: random (seed 10)", EPOCH, 10, 0, 5, 7, 0, 0, false, 0 },
        /* sleeper bits are hints: at most spurious posts */
        { "sleeper masks: random (seed 11)", SLEEPERS, 11, 0, 5, 7, 0, 0, false, 0 },
};

static const Case slot_cases[] = {
        { "slot 0: state 0x7f", SLOT_STATE, 0x7f, 0, -EBADMSG, -EBADMSG, 0, C_SLOT, false, 0 },
        { "slot 0: state 6 (one past the last)", SLOT_STATE, _SLOT_STATE_MAX, 0, -EBADMSG, -EBADMSG, 0, C_SLOT, false,
          0 },
        { "slot 0: READY at the next lap", SLOT_LAP, 0, 0, -EBADMSG, -EBADMSG, 0, C_SLOT, false, 0 },
        { "slot 0: len = slot_size + 1", SLOT_LEN, 64 + 1, 0, -EBADMSG, -EBADMSG, 0, C_LEN, false, 0 },
        { "slot 0: len = 0xffffffff", SLOT_LEN, UINT32_MAX, 0, -EBADMSG, -EBADMSG, 0, C_LEN, false, 0 },
        /* the meta word (doc/ring.md, "Request headers"): no sender writes these */
        { "slot 0: meta 0xffffffff", SLOT_META, UINT32_MAX, 0, -EBADMSG, -EBADMSG, 0, C_META, false, 0 },
        { "slot 0: meta another kind, n = 0", SLOT_META, 0x01000000, 0, -EBADMSG, -EBADMSG, 0, C_META, false, 0 },
        { "slot 0: meta HDR | 0", SLOT_META, SLOT_META_HDR, 0, -EBADMSG, -EBADMSG, 0, C_META, false, 0 },
        { "slot 0: meta HDR | 4 (not a multiple of 8)", SLOT_META, SLOT_META_HDR | 4, 0, -EBADMSG, -EBADMSG, 0, C_META,
          false, 0 },
        { "slot 0: meta HDR | 8 (above len 5)", SLOT_META, SLOT_META_HDR | 8, 0, -EBADMSG, -EBADMSG, 0, C_META, false,
          0 },
        { "slot 0: meta HDR | 0x10000 (a bit between)", SLOT_META, SLOT_META_HDR | 0x10000, 0, -EBADMSG, -EBADMSG, 0,
          C_META, false, 0 },
        { "slot 2 (tail): READY", TAIL_STATE, SLOT_READY, -EBADMSG, 5, 7, 0, C_SLOT, false, 0 },
        { "slot 2 (tail): state 0xff", TAIL_STATE, 0xff, -EBADMSG, 5, 7, 0, C_SLOT, false, 0 },
        { "slot 2 (tail): FREE at the next lap", TAIL_LAP, 0, -EBADMSG, 5, 7, 0, C_SLOT, false, 0 },
};

static const Case truncation_cases[] = {
        { "segment: ftruncate to 0", TRUNCATE, 0, OUT_CRASH_OK, OUT_CRASH_OK, OUT_CRASH_OK, -EBADMSG, C_SEG, false, 0 },
        { "segment: ftruncate to half", TRUNCATE, 1, OUT_CRASH_OK, OUT_CRASH_OK, OUT_CRASH_OK, -EBADMSG, C_SEG, false,
          0 },
};

static int segment_open(void) {
        char path[NAMES_OBJECT_MAX];
        int fd;

        ck_assert_int_ge(names_segment(path, sizeof(path), d.prefix, "victim"), 0);
        fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
        ck_assert_msg(fd >= 0, "shm_open %s: %s", path, strerror(errno));
        return fd;
}

static _Atomic uint64_t *slot_word_at(MboxHeader *h, unsigned i) {
        return &((SlotHead *)((uint8_t *)h + LAYOUT_HEADER_SIZE + (size_t)i * h->slot_stride))->word;
}

/* Apply @k to the victim; describes the value written in @what. */
static void corrupt(const Case *k, char *what, size_t size) {
        uint64_t seed = k->arg, v = 0;
        _Atomic uint64_t *w;
        MboxHeader *h;
        struct stat st;
        int fd = segment_open();

        ck_assert_int_eq(fstat(fd, &st), 0);
        if (k->kind == TRUNCATE) {
                off_t to = (off_t)((uint64_t)st.st_size * k->arg / 2);

                ck_assert_int_eq(ftruncate(fd, to), 0);
                snprintf(what, size, "%lld of %lld bytes", (long long)to, (long long)st.st_size);
                close(fd);
                return;
        }
        h = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        ck_assert(h != MAP_FAILED);

        switch (k->kind) {
        case HEAD: atomic_store(&h->head, v = random_next(&seed)); break;
        case TAIL: atomic_store(&h->tail, v = random_next(&seed)); break;
        case LOCK: atomic_store(&h->lock, v = random_next(&seed)); break;
        case LOCK_FOREIGN: {
                struct shmbox_stat st_by;

                ck_assert_int_eq(shmbox_stat(bystander, &st_by), 0);
                atomic_store(&h->lock, v = st_by.token);
                break;
        }
        case TAIL_PLUS: atomic_store(&h->tail, v = atomic_load(&h->tail) + k->arg); break;
        case TAIL_FULL: atomic_store(&h->tail, v = atomic_load(&h->head) + h->slots); break;
        case RECEIVED: atomic_store(&h->received, v = random_next(&seed)); break;
        case FLAGS_DESTROYED:
                atomic_store(&h->flags, (uint32_t)(v = (uint32_t)random_next(&seed) | HDR_DESTROYED));
                break;
        case FLAGS_UNKNOWN:
                atomic_store(&h->flags, (uint32_t)(v = (uint32_t)random_next(&seed) & ~HDR_DESTROYED));
                break;
        case ATT_TABLE:
                for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++)
                        atomic_store(&h->att[i], (uint32_t)(v = random_next(&seed)));
                break;
        case EPOCH: atomic_store(&h->epoch, v = random_next(&seed)); break;
        case SLEEPERS:
                for (unsigned i = 0; i < LAYOUT_ATT_WORDS; i++) {
                        atomic_store(&h->items_sleepers[i], random_next(&seed));
                        atomic_store(&h->space_sleepers[i], v = random_next(&seed));
                }
                break;
        case SLOT_STATE:
                w = slot_word_at(h, 0);
                v = atomic_load(w);
                atomic_store(w, v = slot_word((unsigned)k->arg, slot_word_lap(v), slot_word_token(v)));
                break;
        case SLOT_LAP:
                w = slot_word_at(h, 0);
                v = atomic_load(w);
                atomic_store(w, v = slot_word(SLOT_READY, slot_word_lap(v) + 1, slot_word_token(v)));
                break;
        case SLOT_LEN: ((SlotHead *)((uint8_t *)h + LAYOUT_HEADER_SIZE))->len = (uint32_t)(v = k->arg); break;
        case SLOT_META: ((SlotHead *)((uint8_t *)h + LAYOUT_HEADER_SIZE))->meta = (uint32_t)(v = k->arg); break;
        case TAIL_STATE:
                w = slot_word_at(h, 2);
                atomic_store(w, v = slot_word((unsigned)k->arg, 0, 0));
                break;
        case TAIL_LAP:
                w = slot_word_at(h, 2);
                atomic_store(w, v = slot_word(SLOT_FREE, 1, 0));
                break;
        case TRUNCATE: break;
        }
        snprintf(what, size, "0x%llx", (unsigned long long)v);
        munmap(h, (size_t)st.st_size);
}

/* --- the cases ------------------------------------------------------------------------------- */

static const char *outcome(int64_t v, char buf[24]) {
        switch (v) {
        case OUT_BLOCKS: return "blocks";
        case OUT_SIGBUS: return "SIGBUS";
        case OUT_DIED: return "died";
        case OUT_CRASH_OK: return "SIGBUS|EBADMSG";
        case -EBADMSG: return "EBADMSG";
        case -EIDRM: return "EIDRM";
        case -ESTALE: return "ESTALE";
        case -EAGAIN: return "EAGAIN";
        case -ETIMEDOUT: return "ETIMEDOUT";
        case -ENOENT: return "ENOENT";
        case -EPROTO: return "EPROTO";
        default:
                if (v >= 0)
                        snprintf(buf, 24, "ok %lld", (long long)v);
                else
                        snprintf(buf, 24, "%s", strerrorname_np((int)-v) ?: "?");
                return buf;
        }
}

static bool matches(int64_t want, int64_t got) {
        if (want == OUT_CRASH_OK)
                return got == OUT_SIGBUS || got == -EBADMSG;
        return want == got;
}

/* The text and JSON of `shmboxctl info victim`, as one string (stdout of both runs). */
static void ctl_info(char *out, size_t size) {
        const char *ctl = getenv("SHMBOXCTL");
        char cmd[512];
        size_t n = 0;
        FILE *f;

        ck_assert_msg(ctl, "SHMBOXCTL is not set");
        snprintf(cmd, sizeof(cmd), "'%s' --socket '%s' info victim && '%s' --socket '%s' info --json victim", ctl,
                 d.socket, ctl, d.socket);
        f = popen(cmd, "re");
        ck_assert_ptr_nonnull(f);
        while (n + 1 < size && !feof(f) && !ferror(f))
                n += fread(out + n, 1, size - 1 - n, f);
        out[n] = '\0';
        ck_assert_int_eq(pclose(f), 0);
}

/* The first character of the "corrupt" array of the JSON in @out: '"' a name, ']' empty; 0 if
 * there is no such array. */
static char json_corrupt_first(const char *out) {
        const char *p = strstr(out, "\"corrupt\": [");

        if (!p)
                return 0;
        p += strlen("\"corrupt\": [");
        p += strspn(p, " \n\t");
        return *p;
}

/* What info says of the victim now: the corruption bits @want, named by shmboxctl. */
static void assert_info_corrupt(uint32_t want, const char *what) {
        struct shmbox_info info;
        char out[8192];

        ck_assert_int_eq(shmbox_info(client, "victim", &info), 0);
        ck_assert_msg(info.corrupt == want, "%s: info.corrupt 0x%x, expected 0x%x", what, info.corrupt, want);
        if (want & SHMBOX_INFO_CORRUPT_LOCK)
                ck_assert_msg(info.lock_holder_pid == 0, "%s: info names pid %u as the lock holder", what,
                              info.lock_holder_pid);
        if (want & (SHMBOX_INFO_CORRUPT_POSITIONS | SHMBOX_INFO_CORRUPT_SEGMENT))
                ck_assert(info.sent == 0 && info.queued == 0 && info.claimed == 0 && info.taken == 0);
        ctl_info(out, sizeof(out));
        for (const char *l = strstr(out, "\ncorrupt: "); l; l = strstr(l + 1, "\ncorrupt: "))
                printf("  %s: shmboxctl info: %.*s\n", what, (int)strcspn(l + 1, "\n"), l + 1);
        /* a lock under a token no session holds is released by the daemon's audit within
         * ~100 ms (daemon/audit.c): shmboxctl, a second look, may come after that */
        ck_assert_int_eq(shmbox_info(client, "victim", &info), 0);
        if (want && info.corrupt != want && (want & SHMBOX_INFO_CORRUPT_LOCK)) {
                printf("  %s: repaired by the daemon's audit before shmboxctl looked\n", what);
                return;
        }
        if (want) {
                ck_assert_msg(strstr(out, "\ncorrupt: "), "%s: shmboxctl info says no \"corrupt:\":\n%s", what, out);
                ck_assert_msg(json_corrupt_first(out) == '"', "%s: no \"corrupt\" in the JSON:\n%s", what, out);
        } else {
                ck_assert_msg(!strstr(out, "corrupt: "), "%s: shmboxctl info says corrupt:\n%s", what, out);
                ck_assert_msg(json_corrupt_first(out) == ']', "%s: the JSON has no empty \"corrupt\":\n%s", what, out);
        }
        if (want & SHMBOX_INFO_CORRUPT_COUNTERS)
                ck_assert_msg(!strstr(out, "\nreceived: "), "%s: shmboxctl prints a counter it knows is wrong:\n%s",
                              what, out);
}

/* Corrupt the victim under an attached user; check that only the victim's users are hurt. */
static void run_case(const Case *k) {
        static const char *const ops[] = { "send", "recv", "recv(-1)", "attach", "recv(-1) again" };
        char obj[NAMES_OBJECT_MAX], what[64], b[5][24], e[24];
        struct shmbox_info info;
        shmbox *fresh = NULL;
        int64_t got[5], want[5] = { k->send, k->recv, k->recv_forever, k->attach, k->again_ret };
        int n = k->again ? 5 : 4;
        User u;

        assert_bystander_works();
        assert_info_corrupt(0, "before the corruption");
        u = user_start();
        corrupt(k, what, sizeof(what));
        user_run(&u, k->again, got);
        if (k->again)
                got[4] = got[3];
        got[3] = shmbox_attach(client, "victim", &fresh);

        /* the daemon still answers for the corrupt mailbox, says so, and serves the bystander */
        assert_info_corrupt(k->corrupt, k->what);
        assert_list_count(2);
        assert_bystander_works();

        /* its users die or let go: the daemon repairs (or gives up on) the corrupt ring */
        user_stop(&u);
        shmbox_detach(fresh);
        shmbox_detach(victim);
        victim = NULL;
        ck_assert_int_eq(shmbox_info(client, "victim", &info), 0);
        assert_bystander_works();

        /* destroy still works and takes every object of the victim */
        ck_assert_int_eq(shmbox_destroy(client, "victim"), 0);
        ck_assert_int_eq(shmbox_info(client, "victim", &info), -ENOENT);
        snprintf(obj, sizeof(obj), "%s.victim", d.prefix);
        ck_assert_msg(harness_count_objects(obj) == 0, "objects of the destroyed victim stay in /dev/shm");
        assert_list_count(1);
        assert_bystander_works();

        printf("corrupt: %-40s %-20s send %-9s recv %-9s recv(-1) %-9s attach %-8s%s%s info: 0x%x daemon: serves\n",
               k->what, what, outcome(got[0], b[0]), outcome(got[1], b[1]), outcome(got[2], b[2]),
               outcome(got[3], b[3]), k->again ? " recv(-1) again " : "", k->again ? outcome(got[4], b[4]) : "",
               k->corrupt);
        fflush(stdout);
        for (int i = 0; i < n; i++)
                ck_assert_msg(matches(want[i], got[i]), "%s: %s gave %s, expected %s", k->what, ops[i],
                              outcome(got[i], b[i]), outcome(want[i], e));
}

START_TEST(test_a_scribbled_header_field_hurts_only_the_users_of_its_mailbox) {
        run_case(&header_cases[_i]);
}
END_TEST

START_TEST(test_a_scribbled_slot_hurts_only_the_users_of_its_mailbox) {
        run_case(&slot_cases[_i]);
}
END_TEST

START_TEST(test_a_truncated_segment_can_crash_only_the_users_of_its_mailbox) {
        run_case(&truncation_cases[_i]);
}
END_TEST

/* --- forgeries the daemon's books disprove (daemon/audit.c) ------------------------------------
 *
 * A token the daemon never issued to the victim, or issued to a session it has closed, has no
 * live holder: the daemon's audit restores the attachment table, and repairs a lock or a slot
 * held under such a token as a dead holder's. It audits a mailbox where someone waits and
 * nothing moves at least once a second, and before every repair. */

#define FORGED_TOKEN UINT32_C(0x7eadbeef)
#define BOGUS_TOKEN UINT32_C(0x0bad0bad)
#define AUDIT_WAIT_MS 3000 /* three times the longest gap between two audits of a stalled mailbox */

static MboxHeader *victim_header(struct shmbox_stat *st) {
        ck_assert_int_eq(shmbox_stat(victim, st), 0);
        return (MboxHeader *)(uintptr_t)st->map_addr;
}

/* Child: attach the victim, report 0, then (arg non-NULL) report every message's length, each
 * received with recv(-1): a sleeper, the waiter that makes the daemon look. */
static void waiter_main(const void *arg, int wfd) {
        shmbox_client *c;
        shmbox *box;
        char buf[64];
        int r;

        r = shmbox_connect(d.socket, &c);
        if (r >= 0)
                r = shmbox_attach(c, "victim", &box);
        harness_child_report(wfd, r);
        if (r < 0)
                _exit(5);
        while (arg) {
                ssize_t n = shmbox_recv(box, buf, sizeof(buf), -1);

                harness_child_report(wfd, n);
                if (n < 0)
                        _exit(6);
        }
        for (;;)
                pause();
}

static HarnessChild waiter_start(bool receives) {
        HarnessChild ch = harness_child_spawn(waiter_main, receives ? "" : NULL);

        ck_assert_int_eq(harness_child_read(&ch, harness_ms(5000)), 0);
        return ch;
}

static void waiter_stop(HarnessChild *ch) {
        kill(ch->pid, SIGKILL);
        ck_assert_int_ne(harness_wait_exit(ch->pid, harness_ms(5000)), -1);
        close(ch->fd);
}

/* The victim's two queued messages, received by the test's own box. */
static void drain_victim(void) {
        char buf[64];

        ck_assert_int_eq(shmbox_recv(victim, buf, sizeof(buf), 0), (ssize_t)strlen(FIRST));
        ck_assert_int_eq(shmbox_recv(victim, buf, sizeof(buf), 0), (ssize_t)strlen(SECOND));
}

/* Whether the daemon's log holds @what, waiting up to 5 s (scaled) for it: the daemon logs
 * what an audit found after the repair, which already let the test's calls through. */
static bool log_has(const char *what) {
        static char buf[1 << 20];
        int64_t deadline = harness_now_us() + (int64_t)harness_ms(5000) * 1000;

        for (;;) {
                FILE *f = fopen(d.log, "re");
                size_t n = 0;

                if (f) {
                        n = fread(buf, 1, sizeof(buf) - 1, f);
                        fclose(f);
                }
                buf[n] = 0;
                if (strstr(buf, what))
                        return true;
                if (harness_now_us() > deadline)
                        break;
                usleep(10000);
        }
        /* every use asserts the line is there: show what is there instead */
        fprintf(stderr, "corrupt: the daemon's log has no \"%s\"; it holds:\n%s\n", what, buf);
        return false;
}

static void sleep_ms(int ms) {
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

START_TEST(test_an_attachment_entry_the_daemon_did_not_issue_is_restored_and_logged) {
        struct shmbox_stat st;
        MboxHeader *h = victim_header(&st);
        HarnessChild w;
        int64_t t0, waited = -1;

        drain_victim();
        w = waiter_start(true);
        ck_assert(harness_wait_sleeping(w.pid, harness_ms(5000)));
        t0 = harness_now_us();
        atomic_store(&h->att[LAYOUT_ATT_MAX - 1], FORGED_TOKEN); /* a free entry */
        atomic_store(&h->att[st.index], 0);                      /* the test's own */
        while (harness_now_us() - t0 < (int64_t)harness_ms(AUDIT_WAIT_MS) * 1000) {
                if (atomic_load(&h->att[LAYOUT_ATT_MAX - 1]) == 0 && atomic_load(&h->att[st.index]) == st.token) {
                        waited = (harness_now_us() - t0) / 1000;
                        break;
                }
                sleep_ms(5);
        }
        printf("corrupt: forged attachment entries restored by the daemon after %lld ms\n", (long long)waited);
        ck_assert_msg(waited >= 0, "the forged entries are still there after %d ms", harness_ms(AUDIT_WAIT_MS));
        ck_assert(log_has("2 attachment entries restored"));
        ck_assert(log_has("written by one of: pid"));

        /* the restored box works */
        ck_assert_int_eq(shmbox_send(victim, MINE, strlen(MINE), 0), 0);
        ck_assert_int_eq(harness_child_read(&w, harness_ms(2000)), (int64_t)strlen(MINE));
        waiter_stop(&w);
}
END_TEST

START_TEST(test_a_lock_held_under_a_token_of_no_session_is_released_and_logged) {
        struct shmbox_stat st;
        MboxHeader *h = victim_header(&st);
        HarnessChild w;
        uint64_t free_lock = 0;
        int64_t t0;
        int r;

        drain_victim();
        w = waiter_start(true);
        ck_assert(harness_wait_sleeping(w.pid, harness_ms(5000)));
        /* the forger writes its token into the table too: the users take it for a live holder.
         * The lock first: an audit between the two writes then logs the lock's release first
         * (the log holds one line per mailbox per second; an entry restored first would take it) */
        ck_assert(atomic_compare_exchange_strong(&h->lock, &free_lock, FORGED_TOKEN));
        atomic_store(&h->att[LAYOUT_ATT_MAX - 1], FORGED_TOKEN);
        t0 = harness_now_us();
        r = shmbox_send(victim, MINE, strlen(MINE), harness_ms(AUDIT_WAIT_MS));
        printf("corrupt: a send behind a lock of no session went through after %lld ms\n",
               (long long)((harness_now_us() - t0) / 1000));
        ck_assert_int_eq(r, 0);
        ck_assert_int_eq(harness_child_read(&w, harness_ms(2000)), (int64_t)strlen(MINE));
        ck_assert_uint_eq(LOCK_TOKEN(atomic_load(&h->lock)), TOKEN_NONE);
        ck_assert_uint_eq(atomic_load(&h->att[LAYOUT_ATT_MAX - 1]), 0);
        ck_assert(log_has("repaired as a dead holder's: lock released"));
        waiter_stop(&w);
}
END_TEST

START_TEST(test_a_slot_claimed_under_a_token_of_no_session_is_abandoned_and_logged) {
        struct shmbox_stat st;
        MboxHeader *h = victim_header(&st);
        HarnessChild w;
        int64_t t0, waited = -1;

        drain_victim();
        w = waiter_start(true);
        ck_assert(harness_wait_sleeping(w.pid, harness_ms(5000)));
        /* slot 2, at tail: claimed as a sender does (word first, tail second) by nobody */
        atomic_store(slot_word_at(h, 2), slot_word(SLOT_CLAIMED, 0, BOGUS_TOKEN));
        atomic_store(&h->tail, 3);
        t0 = harness_now_us();
        while (harness_now_us() - t0 < (int64_t)harness_ms(AUDIT_WAIT_MS) * 1000) {
                if (atomic_load(&h->head) == 3) {
                        waited = (harness_now_us() - t0) / 1000;
                        break;
                }
                sleep_ms(5);
        }
        printf("corrupt: a slot claimed by no session abandoned after %lld ms\n", (long long)waited);
        ck_assert_msg(waited >= 0, "head still stops at the forged claim after %d ms", harness_ms(AUDIT_WAIT_MS));
        ck_assert_uint_eq(atomic_load(&h->abandoned), 1);
        ck_assert(log_has("1 claim(s) abandoned"));

        ck_assert_int_eq(shmbox_send(victim, MINE, strlen(MINE), 0), 0);
        ck_assert_int_eq(harness_child_read(&w, harness_ms(2000)), (int64_t)strlen(MINE));
        waiter_stop(&w);
}
END_TEST

START_TEST(test_a_message_taken_under_a_token_of_no_session_is_delivered_again_and_logged) {
        struct shmbox_stat st;
        MboxHeader *h = victim_header(&st);
        _Atomic uint64_t *w0 = slot_word_at(h, 0);
        uint64_t v = atomic_load(w0);
        HarnessChild w;
        int64_t t0, got;

        /* FIRST (slot 0) taken by nobody: the receiver gets SECOND, then waits */
        ck_assert_uint_eq(slot_word_state(v), SLOT_READY);
        ck_assert(atomic_compare_exchange_strong(w0, &v, slot_word(SLOT_TAKEN, 0, BOGUS_TOKEN)));
        w = waiter_start(true);
        ck_assert_int_eq(harness_child_read(&w, harness_ms(2000)), (int64_t)strlen(SECOND));
        t0 = harness_now_us();
        got = harness_child_read(&w, harness_ms(AUDIT_WAIT_MS));
        printf("corrupt: a message taken by no session delivered again after %lld ms\n",
               (long long)((harness_now_us() - t0) / 1000));
        ck_assert_int_eq(got, (int64_t)strlen(FIRST));
        ck_assert_uint_eq(atomic_load(&h->recovered), 1);
        ck_assert(log_has("1 message(s) redelivered"));
        waiter_stop(&w);
}
END_TEST

/* Nobody waits, so only the audit before the repair can see the forged lock: without it, the
 * release of the dead attachment waits for that lock for good. */
START_TEST(test_a_release_behind_a_lock_of_no_session_is_not_kept_waiting) {
        struct shmbox_stat st;
        MboxHeader *h = victim_header(&st);
        struct shmbox_info info;
        HarnessChild w = waiter_start(false);
        uint64_t free_lock = 0;
        int64_t t0, waited = -1;

        ck_assert_int_eq(shmbox_info(client, "victim", &info), 0);
        ck_assert_uint_eq(info.attached, 2);
        atomic_store(&h->att[LAYOUT_ATT_MAX - 1], FORGED_TOKEN);
        ck_assert(atomic_compare_exchange_strong(&h->lock, &free_lock, FORGED_TOKEN));
        t0 = harness_now_us();
        waiter_stop(&w);
        while (harness_now_us() - t0 < (int64_t)harness_ms(AUDIT_WAIT_MS) * 1000) {
                ck_assert_int_eq(shmbox_info(client, "victim", &info), 0);
                if (info.attached == 1) {
                        waited = (harness_now_us() - t0) / 1000;
                        break;
                }
                sleep_ms(5);
        }
        printf("corrupt: a release behind a lock of no session done after %lld ms\n", (long long)waited);
        ck_assert_msg(waited >= 0, "the dead attachment is still not released after %d ms", harness_ms(AUDIT_WAIT_MS));
        ck_assert_uint_eq(LOCK_TOKEN(atomic_load(&h->lock)), TOKEN_NONE);
        ck_assert(log_has("lock released"));
}
END_TEST

/* An event loop on shmbox_fd() learns of a message a repair put back: the daemon signals the
 * FIFO, as a sender does for a new one. _i 0: the taker is a token of no session (the audit's
 * repair); 1: a client that dies (the release's repair). */
START_TEST(test_a_message_put_back_by_a_repair_wakes_an_event_loop) {
        struct shmbox_stat st;
        MboxHeader *h = victim_header(&st);
        _Atomic uint64_t *w0 = slot_word_at(h, 0);
        uint64_t v = atomic_load(w0);
        HarnessChild w = waiter_start(false);
        uint32_t taker = BOGUS_TOKEN;
        struct pollfd pfd = { .fd = shmbox_fd(victim), .events = POLLIN };
        char buf[64];
        int64_t t0;
        int n;

        ck_assert_int_ge(pfd.fd, 0);
        for (unsigned i = 0; i < LAYOUT_ATT_MAX && _i == 1; i++)
                if (i != st.index && atomic_load(&h->att[i]) != 0)
                        taker = atomic_load(&h->att[i]); /* the child's */
        ck_assert(atomic_compare_exchange_strong(w0, &v, slot_word(SLOT_TAKEN, 0, taker)));
        ck_assert_int_eq(shmbox_recv(victim, buf, sizeof(buf), 0), (ssize_t)strlen(SECOND));
        ck_assert_int_eq(shmbox_recv(victim, buf, sizeof(buf), 0), -EAGAIN); /* the FIFO is settled empty */
        ck_assert_int_eq(poll(&pfd, 1, 0), 0);
        t0 = harness_now_us();
        if (_i == 1)
                waiter_stop(&w);
        n = poll(&pfd, 1, harness_ms(AUDIT_WAIT_MS));
        printf("corrupt: an event loop woken %lld ms after a message taken by %s was put back\n",
               (long long)((harness_now_us() - t0) / 1000), _i ? "a client that died" : "no session");
        ck_assert_int_eq(n, 1);
        ck_assert_int_eq(shmbox_recv(victim, buf, sizeof(buf), 0), (ssize_t)strlen(FIRST));
        if (_i == 0)
                waiter_stop(&w);
}
END_TEST

/* Random bytes (seed: the loop index) over the items semaphore's file, every byte of the sem_t:
 * its value, its waiter count and glibc's `private` field, from which glibc's sem_post() and
 * sem_clockwait() build their futex call and abort the process when it fails (issue 13). */
static void scribble_items_semaphore(const struct shmbox_stat *st, uint64_t seed) {
        int fd = open(st->sem_path[SHMBOX_SEM_ITEMS], O_RDWR | O_CLOEXEC);
        uint8_t *m;

        ck_assert_int_ge(fd, 0);
        m = mmap(NULL, sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ck_assert_ptr_ne(m, MAP_FAILED);
        for (size_t j = 0; j < sizeof(sem_t); j += 8)
                atomic_store((_Atomic uint64_t *)(void *)(m + j), random_next(&seed));
        munmap(m, sizeof(sem_t));
        close(fd);
}

START_TEST(test_a_scribbled_semaphore_kills_neither_the_daemon_nor_a_sleeping_receiver) {
        struct shmbox_stat st;
        HarnessChild w;
        shmbox *sender;
        int status;

        drain_victim();
        ck_assert_int_eq(shmbox_stat(victim, &st), 0);
        w = waiter_start(true); /* asleep in recv(-1) on the items semaphore */
        ck_assert(harness_wait_sleeping(w.pid, harness_ms(5000)));
        scribble_items_semaphore(&st, (uint64_t)_i + 1);
        /* The sender leaves: the daemon repairs, and a repair posts every semaphore. */
        shmbox_detach(victim);
        victim = NULL;
        sleep_ms(200);

        /* The daemon answers, its other mailboxes untouched. */
        assert_list_count(2);
        assert_bystander_works();
        /* The receiver did not die: it still receives what a new sender sends. */
        ck_assert_int_eq(waitpid(w.pid, &status, WNOHANG), 0);
        ck_assert_int_eq(shmbox_attach(client, "victim", &sender), 0);
        ck_assert_int_eq(shmbox_send(sender, MINE, strlen(MINE), 0), 0);
        ck_assert_int_eq(harness_child_read(&w, harness_ms(5000)), (int64_t)strlen(MINE));
        ck_assert_int_eq(waitpid(w.pid, &status, WNOHANG), 0);
        shmbox_detach(sender);
        assert_list_count(2);
        waiter_stop(&w);
}
END_TEST

/* --- a healthy mailbox with requests --------------------------------------------------------- */

#define BUSY_ROUNDS 3000

/* Child: serve every message of the victim (the two queued plain ones, then a plain one and a
 * request per round), replying to the requests; report the number served. */
static void busy_server_main(const void *arg, int wfd) {
        struct shmbox_request_info info;
        shmbox_client *c;
        shmbox *box;
        char buf[64], rep[64];

        (void)arg;
        if (shmbox_connect(d.socket, &c) < 0 || shmbox_attach(c, "victim", &box) < 0)
                _exit(3);
        harness_child_report(wfd, 0);
        for (long i = 0; i < 2 + 2L * BUSY_ROUNDS; i++) {
                ssize_t n = shmbox_recv_request(box, buf, sizeof(buf), &info, harness_ms(30000));

                if (n < 0 || n > 32)
                        _exit(4);
                if (!info.reply_to[0])
                        continue; /* a plain message */
                rep[0] = 'r';
                memcpy(rep + 1, buf, (size_t)n);
                if (shmbox_reply(c, &info, rep, (size_t)n + 1) < 0)
                        _exit(5);
        }
        harness_child_report(wfd, 2 + 2L * BUSY_ROUNDS);
        shmbox_disconnect(c);
}

/* Child: per round a plain message, then a request, each of a length of its own, into the
 * victim's 4 slots of 64 bytes: each slot holds a header (48 bytes) one time and none the
 * next. Reports the rounds whose reply was right. */
static void busy_requester_main(const void *arg, int wfd) {
        shmbox_client *c;
        shmbox *box;
        char msg[32], rep[64];
        int64_t good = 0;

        (void)arg;
        if (shmbox_connect(d.socket, &c) < 0 || shmbox_attach(c, "victim", &box) < 0)
                _exit(3);
        harness_child_report(wfd, 0);
        for (int i = 0; i < BUSY_ROUNDS; i++) {
                int n = snprintf(msg, sizeof(msg), "%d%.*s", i, i % 9, "xxxxxxxxx");
                ssize_t k;

                if (shmbox_send(box, msg, (size_t)n, harness_ms(30000)) < 0)
                        _exit(4);
                k = shmbox_request(box, msg, (size_t)n, rep, sizeof(rep), harness_ms(30000));
                good += k == n + 1 && rep[0] == 'r' && memcmp(rep + 1, msg, (size_t)n) == 0;
        }
        harness_child_report(wfd, good);
        harness_child_report(wfd, (int64_t)shmbox_request_discarded(c));
        shmbox_disconnect(c);
}

/* A mailbox busy with requests and plain messages in the same slots never reports a bad meta
 * word (nor anything else): len and meta change only while a slot is CLAIMED, and info looks at
 * them only in READY and TAKEN slots, and confirms what it finds with a second snapshot. */
START_TEST(test_a_busy_mailbox_with_requests_never_reports_corruption) {
        HarnessChild srv = harness_child_spawn(busy_server_main, NULL);
        HarnessChild rq;
        struct shmbox_info info;
        struct pollfd pfd;
        unsigned looks = 0;
        int64_t end;

        ck_assert_int_eq(harness_child_read(&srv, harness_ms(5000)), 0);
        rq = harness_child_spawn(busy_requester_main, NULL);
        ck_assert_int_eq(harness_child_read(&rq, harness_ms(5000)), 0);
        pfd = (struct pollfd){ .fd = rq.fd, .events = POLLIN };
        end = harness_now_us() + harness_ms(60000) * 1000LL;
        while (poll(&pfd, 1, 0) == 0) {
                ck_assert_int_eq(shmbox_info(client, "victim", &info), 0);
                ck_assert_msg(info.corrupt == 0, "a healthy busy mailbox reported corrupt 0x%x after %u looks",
                              info.corrupt, looks);
                looks++;
                ck_assert_msg(harness_now_us() < end, "the requester did not finish");
        }
        ck_assert_int_eq(harness_child_read(&rq, harness_ms(1000)), BUSY_ROUNDS);
        ck_assert_int_eq(harness_child_read(&rq, harness_ms(1000)), 0);
        harness_child_reap(&rq);
        ck_assert_int_eq(harness_child_read(&srv, harness_ms(30000)), 2 + 2 * BUSY_ROUNDS);
        harness_child_reap(&srv);
        ck_assert_int_eq(shmbox_info(client, "victim", &info), 0);
        ck_assert_uint_eq(info.corrupt, 0);
        ck_assert_uint_eq(info.queued, 0);
        printf("busy: %u looks of info during %d rounds of a plain message and a request: never corrupt\n", looks,
               BUSY_ROUNDS);
}
END_TEST

static TCase *tcase_e2e(Suite *s, const char *name) {
        return harness_tcase(s, name, TIMEOUT_S, setup, teardown);
}

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *corrupt_suite(void) {
        Suite *s = suite_create("corrupt");
        TCase *tc;

        tc = tcase_e2e(s, "scribbled header");
        tcase_add_loop_test(tc, test_a_scribbled_header_field_hurts_only_the_users_of_its_mailbox, 0, N(header_cases));
        tc = tcase_e2e(s, "scribbled slots");
        tcase_add_loop_test(tc, test_a_scribbled_slot_hurts_only_the_users_of_its_mailbox, 0, N(slot_cases));
        tc = tcase_e2e(s, "truncated segment");
        tcase_add_loop_test(tc, test_a_truncated_segment_can_crash_only_the_users_of_its_mailbox, 0,
                            N(truncation_cases));
        tc = tcase_e2e(s, "forgeries the daemon's books disprove");
        tcase_add_test(tc, test_an_attachment_entry_the_daemon_did_not_issue_is_restored_and_logged);
        tcase_add_test(tc, test_a_lock_held_under_a_token_of_no_session_is_released_and_logged);
        tcase_add_test(tc, test_a_slot_claimed_under_a_token_of_no_session_is_abandoned_and_logged);
        tcase_add_test(tc, test_a_message_taken_under_a_token_of_no_session_is_delivered_again_and_logged);
        tcase_add_test(tc, test_a_release_behind_a_lock_of_no_session_is_not_kept_waiting);
        tcase_add_loop_test(tc, test_a_message_put_back_by_a_repair_wakes_an_event_loop, 0, 2);

        tc = tcase_e2e(s, "scribbled semaphores");
        tcase_add_loop_test(tc, test_a_scribbled_semaphore_kills_neither_the_daemon_nor_a_sleeping_receiver, 0, 4);

        tc = tcase_e2e(s, "healthy with requests");
        tcase_add_test(tc, test_a_busy_mailbox_with_requests_never_reports_corruption);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(corrupt_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
