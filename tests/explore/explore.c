/* SPDX-License-Identifier: MIT */
/* explore.c — tests/test-explore: a systematic exploration of the real proto/ring.c (issue 13).
 *
 * proto/ring.c is compiled a second time for this program with tests/explore/hooks.h forced in
 * front of it: each of its accesses to shared memory is a scheduling point of a deterministic
 * scheduler (tests/explore/scheduler.c). Actors — senders, receivers, zero-copy users and the
 * daemon's repair — are coroutines in one thread, working on an ordinary buffer laid out by the
 * real proto/layout.c, as tests/test-ring.c sets a Ring up without a daemon. The explorer runs
 * every schedule of a configuration (a depth-first search over the choice at each point,
 * stateless: each run is replayed from the start, as CHESS does), within a preemption bound
 * where the configuration has one, and checks every run:
 *   - the delivery log against the ring's promises (tests/explore/checker.c: nothing lost or
 *     duplicated, exactly-once consumption, per-sender order, success means committed);
 *   - every call of a live actor succeeds (no -EBADMSG on a mailbox nobody corrupted);
 *   - a payload copy touches only a slot its actor holds (CLAIMED by it to write, TAKEN to read);
 *   - no call makes more than 64 * slots + 512 scheduling points (a livelock; 512 covers the
 *     lock's spin of 128 loads and the waits);
 *   - when no actor can run, none is blocked while the ring holds what it waits for (a message
 *     READY, room, a free lock): that would be a late wake-up, ended only by its safety slice;
 *   - at the end no slot is CLAIMED or TAKEN and the lock is free (every death repaired).
 * A broadcast mailbox (a configuration with .kind) is judged by position instead
 * (bc_final_check()): each subscriber received exactly what was committed from where it
 * subscribed, a gap only where -EOVERFLOW said it (overwrite), and a subscriber copies only out
 * of a slot its last take read (doc/explore.md, "Broadcast mailboxes").
 * A kill ("kill: any") is a choice at every scheduling point of every killable actor: the
 * coroutine is abandoned there (a SIGKILL at that instant), and the daemon actor then does what
 * daemon/manager.c's release_try() does: ring_repair() for the dead token and index, retried
 * while it says -EBUSY (the daemon's retry timer: a yield), then mailbox_att_free()'s store of
 * TOKEN_NONE into the attachment entry.
 *
 * Usage:
 *   tests/test-explore                the self-tests, then every configuration of `make check`
 *   tests/test-explore --deep         the larger configurations and bounds (`make explore-deep`)
 *   tests/test-explore --list         the configurations, numbered
 *   tests/test-explore --config N     only configuration N (add --deep for the deep table)
 *   tests/test-explore --config N --replay TRAIL
 *                                     run one schedule (printed with every failure) and print
 *                                     its whole trace
 *   tests/test-explore --all          count every failing schedule instead of stopping at the
 *                                     first of each configuration
 * Exit status: 0 when every configuration passes and every self-test fails as it must.
 * doc/explore.md says what is and is not explored.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "proto/layout.h"
#include "proto/ring.h"
#include "proto/util.h"
#include "tests/explore/checker.h"
#include "tests/explore/scheduler.h"

/* Under ASan every schedule's fiber switches leave fake stacks behind that are never given back
 * (the full table grew to 23 GB and was OOM-killed in the sanitizer pass; 2,000 a configuration
 * peaked at 4.5 GB).
 * An ASan build therefore runs each configuration for its first EXPLORE_ASAN_CAP schedules only
 * and says so on its line: it checks ring.c's memory accesses under interleavings; the plain
 * build explores every schedule. */
#if defined(__SANITIZE_ADDRESS__)
#define EXPLORE_ASAN_CAP 1000
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EXPLORE_ASAN_CAP 1000
#endif
#endif
#ifndef EXPLORE_ASAN_CAP
#define EXPLORE_ASAN_CAP 0
#endif

/* The one scheduler of this program: ring.c's hooks reach it without an argument, so it is a
 * global (the documented exception of doc/style.md for this test program). */
Scheduler explore_sched;

#define SLOT_SIZE 8u
#define HDR_SLOT_SIZE 24u /* a 16-byte header and a 4-byte message */
#define PREFILL_IDX 60u
#define PREFILL_TOKEN (TOKEN_FIRST + 60u)
#define SCRIBBLE_SLOT 0u

/* What an actor does. */
typedef enum Op {
        OP_NONE,
        OP_SEND,      /* ring_send, @count times */
        OP_SEND_MANY, /* ring_send_many in batches of 2 until @count are sent */
        OP_SEND_HDR,  /* ring_send_hdr (8 B, 16 B header), ring_send, in turn: msg_hdr_len() */
        OP_RESERVE,   /* zero-copy: ring_claim, copy, ring_commit */
        OP_ABORT,     /* zero-copy: ring_claim, copy junk, ring_abort; then claim, copy, commit */
        OP_RECV,      /* ring_recv, @count times */
        OP_RECV_MANY, /* ring_recv_many of up to 2 until @count are received */
        OP_PEEK,      /* zero-copy: ring_take, copy out, ring_consume */
        OP_RECV_HDR,  /* ring_take, header and body copied out, ring_consume (box_recv_hdr) */
        OP_SCRIBBLE,  /* self-test: copies into a slot it does not hold */
} Op;

typedef struct ActorSpec {
        Op op;
        unsigned count;
        bool late; /* broadcast: the receiver subscribes inside the run (else before it starts) */
} ActorSpec;

typedef struct Config {
        const char *name;
        unsigned slots;
        unsigned prefill;   /* messages committed before the actors start */
        uint32_t spin_ns;   /* Ring.spin_ns: 0 sleeps at once */
        uint32_t flush;     /* Ring.batch_flush_bytes: 1 shows a batch's progress per message */
        uint32_t slot_size; /* 0: SLOT_SIZE; the configurations with headers need room for one */
        bool kill;          /* one kill, at any point of any actor */
        int bound;          /* preemption bound; -1 none (exhaustive) */
        uint32_t kind;      /* LAYOUT_KIND_*: a broadcast mailbox's receivers are subscribers */
        /* a known defect that makes some schedules end in a late wake-up (doc/explore.md): they
         * are counted and the exploration goes on; every other failure fails as anywhere, and
         * a configuration where none shows any more fails too (the mark is to be removed) */
        const char *known_late;
        ActorSpec actors[4];
} Config;

#define S(n)                                                                                                           \
        { OP_SEND, n }
#define SM(n)                                                                                                          \
        { OP_SEND_MANY, n }
#define RES(n)                                                                                                         \
        { OP_RESERVE, n }
#define R(n)                                                                                                           \
        { OP_RECV, n }
#define RM(n)                                                                                                          \
        { OP_RECV_MANY, n }
#define PK(n)                                                                                                          \
        { OP_PEEK, n }
#define SH(n)                                                                                                          \
        { OP_SEND_HDR, n }
#define RH(n)                                                                                                          \
        { OP_RECV_HDR, n }

/* make check: about 40 s on two cores once every configuration passes (each line prints its
 * time); a configuration stops at its first failure. */
#define AB(n)                                                                                                          \
        { OP_ABORT, n }
#define LATE(n)                                                                                                        \
        { OP_RECV, n, true }
/* a broadcast subscriber receives until its position reaches every position of the run: its
 * count is not used */
#define SUB R(0)
#define SUBM RM(0)
#define SUBPK PK(0)
#define B LAYOUT_KIND_BROADCAST
#define O LAYOUT_KIND_OVERWRITE

/* make check: about 40 s on two cores once every configuration passes, and about 10 s more for
 * the broadcast ones (each line prints its time); a configuration stops at its first failure. */
static const Config check_configs[] = {
        { .name = "2 slots, 1 sender x3, 1 receiver x3", .slots = 2, .bound = 3, .actors = { S(3), R(3) } },
        { .name = "2 slots, 2 senders, 1 receiver", .slots = 2, .bound = 3, .actors = { S(1), S(1), R(2) } },
        { .name = "2 slots, 1 sender x2, 2 receivers", .slots = 2, .bound = 2, .actors = { S(2), R(1), R(1) } },
        { .name = "2 slots, 1 prefilled, 2 senders, 1 receiver",
          .slots = 2,
          .prefill = 1,
          .bound = 2,
          .actors = { S(1), S(1), R(2) } },
        { .name = "3 slots, batches of 2: 1 sender x4, 1 receiver x4",
          .slots = 3,
          .bound = 2,
          .actors = { SM(4), RM(4) } },
        { .name = "3 slots, batches of 2 flushed per message: 1 sender x4, 1 receiver x4",
          .slots = 3,
          .flush = 1,
          .bound = 2,
          .actors = { SM(4), RM(4) } },
        { .name = "2 slots, zero-copy: 1 reserver x2, 1 peeker x2",
          .slots = 2,
          .bound = 3,
          .actors = { RES(2), PK(2) } },
        { .name = "2 slots, 1 sender x2, 1 receiver x2",
          .slots = 2,
          .kill = true,
          .bound = 1,
          .actors = { S(2), R(2) } },
        { .name = "3 slots, batches of 2 flushed per message: 1 sender x4, 1 receiver x4",
          .slots = 3,
          .flush = 1,
          .kill = true,
          .bound = 1,
          .actors = { SM(4), RM(4) } },
        { .name = "2 slots, 2 senders, 1 receiver",
          .slots = 2,
          .kill = true,
          .bound = 1,
          .actors = { S(1), S(1), R(2) } },
        { .name = "2 slots, 1 sender x2, 2 receivers",
          .slots = 2,
          .kill = true,
          .bound = 0,
          .actors = { S(2), R(1), R(1) } },
        { .name = "8 slots, 8 prefilled, spin, 1 sender, 2 receivers",
          .slots = 8,
          .prefill = 8,
          .spin_ns = 1000,
          .bound = 1,
          .actors = { S(1), R(1), R(1) } },
        /* request headers (issue 19): each message's header and body are the ones its sender
         * sent together; a plain receiver gets the body only */
        { .name = "2 slots, headers: 1 sender x3 (8 B header, 16 B header, plain), 1 header receiver x3",
          .slots = 2,
          .slot_size = HDR_SLOT_SIZE,
          .bound = 2,
          .actors = { SH(3), RH(3) } },
        { .name = "2 slots, headers: 1 sender x2 (8 B, 16 B headers), 1 plain sender, 1 header receiver x2, "
                  "1 plain receiver",
          .slots = 2,
          .slot_size = HDR_SLOT_SIZE,
          .bound = 1,
          .actors = { SH(2), S(1), RH(2), R(1) } },
        { .name = "2 slots, headers: 1 sender x3 (8 B header, 16 B header, plain), 1 header receiver x3",
          .slots = 2,
          .slot_size = HDR_SLOT_SIZE,
          .kill = true,
          .bound = 1,
          .actors = { SH(3), RH(3) } },
        /* broadcast mailboxes: block (B) and overwrite (O) */
        { .name = "block, 1 slot, 1 sender x2, 2 subscribers",
          .kind = B,
          .slots = 1,
          .bound = 2,
          .actors = { S(2), SUB, SUB } },
        { .name = "block, 1 slot, 2 senders, 1 subscriber",
          .kind = B,
          .slots = 1,
          .bound = 2,
          .actors = { S(1), S(1), SUB } },
        { .name = "block, 2 slots, batches of 2: 1 sender x3, 1 subscriber",
          .kind = B,
          .slots = 2,
          .bound = 2,
          .actors = { SM(3), SUBM } },
        { .name = "block, 1 slot, zero-copy: 1 aborter x1, 1 peeker",
          .kind = B,
          .slots = 1,
          .bound = 2,
          .actors = { AB(1), SUBPK } },
        { .name = "block, 1 slot, 1 sender x2, 1 subscriber, 1 subscribing",
          .kind = B,
          .slots = 1,
          .bound = 1,
          .actors = { S(2), SUB, LATE(0) } },
        { .name = "block, 1 slot, 1 sender x2, 2 subscribers",
          .kind = B,
          .slots = 1,
          .kill = true,
          .bound = 0,
          .actors = { S(2), SUB, SUB } },
        { .name = "block, 2 slots, 2 senders, 1 peeker",
          .kind = B,
          .slots = 2,
          .kill = true,
          .bound = 1,
          .actors = { S(1), S(1), SUBPK } },
        { .name = "overwrite, 1 slot, 1 sender x3, 2 subscribers",
          .kind = O,
          .slots = 1,
          .bound = 1,
          .actors = { S(3), SUB, SUB } },
        { .name = "overwrite, 2 slots, 2 senders x2, 1 subscriber",
          .kind = O,
          .slots = 2,
          .bound = 2,
          .actors = { S(2), S(2), SUB } },
        { .name = "overwrite, 2 slots, batches of 2: 1 sender x4, 1 subscriber",
          .kind = O,
          .slots = 2,
          .bound = 2,
          .actors = { SM(4), SUBM } },
        { .name = "overwrite, 1 slot, zero-copy: 1 aborter x2, 1 peeker",
          .kind = O,
          .slots = 1,
          .bound = 2,
          .actors = { AB(2), SUBPK } },
        { .name = "overwrite, 1 slot, 1 sender x2, 1 subscriber, 1 subscribing",
          .kind = O,
          .slots = 1,
          .bound = 2,
          .actors = { S(2), SUB, LATE(0) } },
        { .name = "overwrite, 1 slot, 1 sender x2, 1 subscriber, 1 peeker",
          .kind = O,
          .slots = 1,
          .kill = true,
          .bound = 0,
          .actors = { S(2), SUB, SUBPK } },
};

/* make explore-deep: minutes to hours; each line prints its time. */
static const Config deep_configs[] = {
        { .name = "2 slots, 1 sender x2, 2 receivers", .slots = 2, .bound = 3, .actors = { S(2), R(1), R(1) } },
        { .name = "2 slots, 1 prefilled, 2 senders, 1 receiver",
          .slots = 2,
          .prefill = 1,
          .bound = 4,
          .actors = { S(1), S(1), R(2) } },
        { .name = "3 slots, batches of 2: 1 sender x4, 1 receiver x4",
          .slots = 3,
          .bound = 3,
          .actors = { SM(4), RM(4) } },
        { .name = "2 slots, 1 sender x2, 1 receiver x2",
          .slots = 2,
          .kill = true,
          .bound = 2,
          .actors = { S(2), R(2) } },
        { .name = "2 slots, 2 senders, 1 receiver",
          .slots = 2,
          .kill = true,
          .bound = 2,
          .actors = { S(1), S(1), R(2) } },
        { .name = "2 slots, 1 sender x2, 2 receivers",
          .slots = 2,
          .kill = true,
          .bound = 1,
          .actors = { S(2), R(1), R(1) } },
        { .name = "3 slots, batches of 2: 1 sender x4, 1 receiver x4",
          .slots = 3,
          .kill = true,
          .bound = 1,
          .actors = { SM(4), RM(4) } },
        { .name = "3 slots, batches of 2 flushed per message: 1 sender x4, 1 receiver x4",
          .slots = 3,
          .flush = 1,
          .kill = true,
          .bound = 1,
          .actors = { SM(4), RM(4) } },
        { .name = "2 slots, zero-copy: 1 reserver x2, 2 peekers",
          .slots = 2,
          .kill = true,
          .bound = 1,
          .actors = { RES(2), PK(1), PK(1) } },
        { .name = "8 slots, 8 prefilled, spin, 1 sender, 2 receivers",
          .slots = 8,
          .prefill = 8,
          .spin_ns = 1000,
          .kill = true,
          .bound = 2,
          .actors = { S(1), R(1), R(1) } },
        { .name = "3 slots, 2 senders x2, 2 receivers x2",
          .slots = 3,
          .bound = 2,
          .actors = { S(2), S(2), R(2), R(2) } },
        { .name = "2 slots, headers: 1 sender x3 (8 B header, 16 B header, plain), 1 header receiver x3",
          .slots = 2,
          .slot_size = HDR_SLOT_SIZE,
          .bound = 3,
          .actors = { SH(3), RH(3) } },
        { .name = "2 slots, headers: 1 sender x2 (8 B, 16 B headers), 1 plain sender, 1 header receiver x2, "
                  "1 plain receiver",
          .slots = 2,
          .slot_size = HDR_SLOT_SIZE,
          .bound = 2,
          .actors = { SH(2), S(1), RH(2), R(1) } },
        { .name = "2 slots, headers: 1 sender x3 (8 B header, 16 B header, plain), 1 header receiver x3",
          .slots = 2,
          .slot_size = HDR_SLOT_SIZE,
          .kill = true,
          .bound = 2,
          .actors = { SH(3), RH(3) } },
        /* broadcast mailboxes: make check's at deeper bounds, and larger ones */
        { .name = "block, 1 slot, 1 sender x2, 2 subscribers",
          .kind = B,
          .slots = 1,
          .bound = 3,
          .actors = { S(2), SUB, SUB } },
        { .name = "block, 1 slot, 1 sender x2, 1 subscriber, 1 subscribing",
          .kind = B,
          .slots = 1,
          .bound = 2,
          .actors = { S(2), SUB, LATE(0) } },
        { .name = "block, 1 slot, 1 sender x2, 2 subscribers",
          .kind = B,
          .slots = 1,
          .kill = true,
          .bound = 1,
          .actors = { S(2), SUB, SUB } },
        { .name = "block, 2 slots, 2 senders x2, 1 subscriber, 1 peeker",
          .kind = B,
          .slots = 2,
          .bound = 1,
          .actors = { S(2), S(2), SUB, SUBPK } },
        { .name = "block, 1 slot, zero-copy: 1 aborter x2, 1 subscriber",
          .kind = B,
          .slots = 1,
          .kill = true,
          .bound = 1,
          .actors = { AB(2), SUB } },
        { .name = "overwrite, 1 slot, 1 sender x3, 2 subscribers",
          .kind = O,
          .slots = 1,
          .bound = 2,
          .actors = { S(3), SUB, SUB } },
        { .name = "overwrite, 2 slots, 2 senders x2, 2 subscribers",
          .kind = O,
          .slots = 2,
          .bound = 2,
          .actors = { S(2), S(2), SUB, SUB } },
        { .name = "overwrite, 1 slot, 1 sender x2, 1 subscriber, 1 peeker",
          .kind = O,
          .slots = 1,
          .kill = true,
          .bound = 1,
          .actors = { S(2), SUB, SUBPK } },
        { .name = "overwrite, 1 slot, batches of 2: 1 sender x4, 1 subscriber",
          .kind = O,
          .slots = 1,
          .kill = true,
          .bound = 1,
          .actors = { SM(4), SUBM } },
};

/* Self-tests: configurations the explorer must fail. */
static const Config self_configs[] = {
        { .name = "a copy into a slot not held",
          .slots = 2,
          .prefill = 1,
          .bound = 1,
          .actors = { { OP_SCRIBBLE, 1 }, R(1) } },
};

/* --- the world of one run ------------------------------------------------------------------- */

/* A broadcast mailbox's history, by position (the positions of one run are few). */
#define BC_POS_MAX 64u
#define BC_EV_MAX 64u
#define BC_JUNK 0x8000u /* the sequence bit of what an aborting sender writes and aborts */

typedef enum PosState {
        POS_NONE,
        POS_CLAIMED,
        POS_COMMITTED,
        POS_ABANDONED,
} PosState;

/* What a subscriber's call returned: a message, or -EOVERFLOW (with its Ring's view then). */
typedef struct SubEvent {
        bool overflow;
        uint32_t msg;
        uint64_t pos, missed; /* after an -EOVERFLOW: the subscriber's position and r->missed */
        uint64_t claimed;     /* positions claimed when the call returned */
} SubEvent;

typedef struct SubLog {
        bool subscribed;
        bool full;
        uint64_t start; /* its position when ring_subscribe() returned */
        SubEvent ev[BC_EV_MAX];
        unsigned n;
} SubLog;

typedef struct World {
        const Config *cfg;
        LayoutGeometry geo;
        uint8_t *map;
        Ring ring;
        sem_t sems[_SEM_ROLE_MAX]; /* storage only: the scheduler models them */
        unsigned n_actors;         /* the configuration's, without the daemon */
        Actor *daemon;
        DeliveryLog log;

        /* broadcast mailboxes: every actor has its own Ring (a subscriber's position, its last
         * take and its losses are its process's own), the daemon uses `ring` */
        Ring rings[EXPLORE_ACTORS_MAX];
        uint64_t total;                /* the positions a run claims when nobody dies */
        uint8_t pos_state[BC_POS_MAX]; /* PosState, from the slot words' transitions */
        uint32_t pos_msg[BC_POS_MAX];  /* the payload each position was committed (or abandoned) with */
        uint64_t claimed;              /* positions claimed so far: the tail the words say */
        SubLog sub[EXPLORE_ACTORS_MAX];
} World;

static bool is_sender_op(Op op) {
        return op == OP_SEND || op == OP_SEND_MANY || op == OP_RESERVE || op == OP_ABORT || op == OP_SCRIBBLE;
}

/* The Ring an actor calls with: its own in a broadcast mailbox, the shared one in a queue. */
static Ring *ring_of(World *w, const Actor *a) {
        return w->cfg->kind != LAYOUT_KIND_QUEUE && a->no < w->n_actors ? &w->rings[a->no] : &w->ring;
}

static const RingDeadline forever = { .forever = true };

static unsigned actor_of_token(const World *w, uint32_t token) {
        if (token >= TOKEN_FIRST && token - TOKEN_FIRST < w->n_actors)
                return token - TOKEN_FIRST;
        return CHECK_NOBODY;
}

static uint8_t *slots_start(const World *w) {
        return w->map + w->geo.header_size;
}

/* The slot whose word is at @addr, or -1. */
static int slot_of_word(const World *w, const volatile void *addr) {
        const uint8_t *p = (const uint8_t *)addr, *start = slots_start(w);
        uint64_t off;

        if (p < start || p >= start + (uint64_t)w->geo.slots * w->geo.slot_stride)
                return -1;
        off = (uint64_t)(p - start);
        return off % w->geo.slot_stride == 0 ? (int)(off / w->geo.slot_stride) : -1;
}

/* The slot whose payload holds @addr, or -1. */
static int slot_of_payload(const World *w, const void *addr) {
        const uint8_t *p = addr, *start = slots_start(w);
        uint64_t off;

        if (p < start || p >= start + (uint64_t)w->geo.slots * w->geo.slot_stride)
                return -1;
        off = (uint64_t)(p - start);
        return off % w->geo.slot_stride >= LAYOUT_SLOT_HEAD ? (int)(off / w->geo.slot_stride) : -1;
}

static SlotHead *slot_head(const World *w, unsigned i) {
        return (SlotHead *)(slots_start(w) + (uint64_t)i * w->geo.slot_stride);
}

/* The message id in slot @i: the first 4 bytes of its body, after a request header if its
 * meta word declares one (a meta word no sender writes: the payload's first bytes) */
static uint32_t slot_msg(const World *w, unsigned i) {
        SlotHead *s = slot_head(w, i);
        int h = slot_meta_hdr(s->meta, s->len);
        uint32_t m;

        memcpy(&m, (uint8_t *)s + LAYOUT_SLOT_HEAD + (h > 0 ? h : 0), sizeof(m));
        return m;
}

/* The request header before message @m: a sender of OP_SEND_HDR puts 8 bytes before its 1st,
 * 4th, ... message, 16 before its 2nd, 5th, ..., and none before its 3rd, 6th, ...: on 2 slots
 * its 3rd message, plain, follows its 1st in the same slot, and neither a len nor a meta word
 * of another send fits any message; other senders (and the prefill) put none. */
static size_t msg_hdr_len(const World *w, uint32_t m) {
        uint32_t sender = MSG_SENDER(m);

        if (sender == 0 || sender > w->n_actors || w->cfg->actors[sender - 1].op != OP_SEND_HDR)
                return 0;
        return MSG_SEQ(m) % 3 == 0 ? 8 : MSG_SEQ(m) % 3 == 1 ? 16 : 0;
}

/* Its bytes: words that only @m's header has. */
static void msg_hdr(uint32_t m, uint8_t hdr[16]) {
        for (uint32_t i = 0; i < 4; i++) {
                uint32_t v = m * 0x9e3779b1u + i + 1;

                memcpy(hdr + 4 * i, &v, sizeof(v));
        }
}

/* A broadcast slot word moves only CLAIMED -> READY or ABANDONED (a commit, an abort or a
 * repair, same lap) and finished or FREE -> CLAIMED (a claim, the next position of the ring:
 * claims are serial under the lock). Subscribers never write a slot word. */
static void bc_wrote(World *w, Actor *a, unsigned i, uint64_t old, uint64_t new_value) {
        unsigned from = slot_word_state(old), to = slot_word_state(new_value);
        uint64_t pos = (uint64_t)slot_word_lap(new_value) * w->geo.slots + i;

        if (a && a->no < w->n_actors && !is_sender_op(w->cfg->actors[a->no].op))
                explore_fail("%s, a subscriber, wrote slot %u's word (state %u -> %u): subscribers never write a slot",
                             a->name, i, from, to);
        if (pos >= BC_POS_MAX)
                explore_fail("position %llu: beyond what the explorer records", (unsigned long long)pos);
        if (to == SLOT_CLAIMED && from != SLOT_CLAIMED) {
                if (pos != w->claimed || w->pos_state[pos] != POS_NONE)
                        explore_fail("position %llu claimed, but the next position to claim is %llu",
                                     (unsigned long long)pos, (unsigned long long)w->claimed);
                w->pos_state[pos] = POS_CLAIMED;
                w->claimed = pos + 1;
        } else if (from == SLOT_CLAIMED && (to == SLOT_READY || to == SLOT_ABANDONED) &&
                   slot_word_lap(old) == slot_word_lap(new_value) && w->pos_state[pos] == POS_CLAIMED) {
                w->pos_state[pos] = to == SLOT_READY ? POS_COMMITTED : POS_ABANDONED;
                w->pos_msg[pos] = slot_msg(w, i);
                if (to == SLOT_READY)
                        delivery_log_add(&w->log, EV_COMMIT, actor_of_token(w, slot_word_token(old)), w->pos_msg[pos]);
        } else
                explore_fail("broadcast slot %u's word went from state %u lap %u to state %u lap %u (position %llu "
                             "was %u)",
                             i, from, slot_word_lap(old), to, slot_word_lap(new_value), (unsigned long long)pos,
                             w->pos_state[pos]);
}

/* Observer: slot-word transitions are the delivery log. */
static void on_wrote(void *userdata, Actor *a, const volatile void *addr, uint64_t old, uint64_t new_value) {
        World *w = userdata;
        int i = slot_of_word(w, addr);
        unsigned from, to;

        (void)a;
        if (i < 0)
                return;
        if (w->cfg->kind != LAYOUT_KIND_QUEUE) {
                bc_wrote(w, a, (unsigned)i, old, new_value);
                return;
        }
        from = slot_word_state(old);
        to = slot_word_state(new_value);
        if (from == SLOT_CLAIMED && to == SLOT_READY)
                delivery_log_add(&w->log, EV_COMMIT, actor_of_token(w, slot_word_token(old)), slot_msg(w, (unsigned)i));
        else if (from == SLOT_READY && to == SLOT_TAKEN)
                delivery_log_add(&w->log, EV_TAKE, actor_of_token(w, slot_word_token(new_value)),
                                 slot_msg(w, (unsigned)i));
        else if (from == SLOT_TAKEN && to == SLOT_DONE)
                delivery_log_add(&w->log, EV_CONSUME, actor_of_token(w, slot_word_token(old)),
                                 slot_msg(w, (unsigned)i));
        else if (from == SLOT_TAKEN && to == SLOT_READY)
                delivery_log_add(&w->log, EV_REDELIVER, CHECK_NOBODY, slot_msg(w, (unsigned)i));
        else if (from == SLOT_CLAIMED && to == SLOT_ABANDONED)
                delivery_log_add(&w->log, EV_ABANDON, CHECK_NOBODY, 0);
}

/* A broadcast subscriber copies out of a slot it does not hold: one its last take read, at a
 * READY word it recorded. In a block mailbox no sender may claim that slot before the
 * subscriber has passed its position, so the word must still be the one the take read. In an
 * overwrite mailbox a sender may be writing it: the consume must drop the copy (checked at the
 * end: what a subscriber receives is what was committed at its position). */
static void bc_copy_out(World *w, Actor *a, unsigned s, size_t n) {
        const Ring *r;
        uint64_t word = atomic_load(&slot_head(w, s)->word);

        if (a->no >= w->n_actors || is_sender_op(w->cfg->actors[a->no].op)) {
                explore_fail("%s copies %zu bytes out of broadcast slot %u, and it is no subscriber", a->name, n, s);
                return;
        }
        r = &w->rings[a->no];
        /* a batch whose consume found an overwrite forgets its take (bc_n 0): ring_recv_many()
         * still copies the rest, and their consumes refuse them (-ESTALE), unreturned */
        if (r->overflow_pending && r->bc_n == 0 && w->cfg->kind == LAYOUT_KIND_OVERWRITE)
                return;
        for (uint32_t i = 0; i < r->bc_n && i < RING_BATCH_MAX; i++) {
                if (ring_slot(r, r->bc_pos[i]) != slot_head(w, s))
                        continue;
                if (w->cfg->kind == LAYOUT_KIND_BROADCAST && word != r->bc_word[i])
                        explore_fail("%s copies out of slot %u for position %llu, whose word changed since its take "
                                     "(state %u lap %u, was state %u lap %u): a block mailbox let a sender claim "
                                     "a slot a subscriber has not passed",
                                     a->name, s, (unsigned long long)r->bc_pos[i], slot_word_state(word),
                                     slot_word_lap(word), slot_word_state(r->bc_word[i]), slot_word_lap(r->bc_word[i]));
                return;
        }
        explore_fail("%s copies %zu bytes out of slot %u, which its last take did not read", a->name, n, s);
}

/* Observer: a payload copy must stay inside a slot its actor holds. */
static void on_copy(void *userdata, Actor *a, void *dst, const void *src, size_t n) {
        World *w = userdata;
        int d = slot_of_payload(w, dst), s = slot_of_payload(w, src);
        uint64_t word;

        if (!a)
                return; /* the set-up's prefill */
        if (d >= 0) {
                word = atomic_load(&slot_head(w, (unsigned)d)->word);
                if (slot_word_state(word) != SLOT_CLAIMED || slot_word_token(word) != a->token)
                        explore_fail("%s copies %zu bytes into slot %d, which it does not hold (state %u, token %#x)",
                                     a->name, n, d, slot_word_state(word), slot_word_token(word));
        }
        if (s >= 0 && w->cfg->kind != LAYOUT_KIND_QUEUE) {
                bc_copy_out(w, a, (unsigned)s, n);
                return;
        }
        if (s >= 0) {
                word = atomic_load(&slot_head(w, (unsigned)s)->word);
                if (slot_word_state(word) != SLOT_TAKEN || slot_word_token(word) != a->token)
                        explore_fail("%s copies %zu bytes out of slot %d, which it does not hold (state %u, token %#x)",
                                     a->name, n, s, slot_word_state(word), slot_word_token(word));
        }
}

static bool in_words(const volatile void *addr, const _Atomic uint64_t *first, size_t n) {
        const volatile uint8_t *p = addr;

        return p >= (const volatile uint8_t *)first && p < (const volatile uint8_t *)(first + n);
}

/* Locations nobody writes while exploring (a write to one fails the run): the flags (no
 * destroy), the sleeper words of indexes 64 and up, the pollers and the FIFO flag (no event
 * loop), the attachment table but for the actors' own entries in a configuration with a kill
 * (the daemon clears the dead one's). */
static bool is_frozen(void *userdata, const volatile void *addr) {
        World *w = userdata;
        MboxHeader *h = w->ring.hdr;
        const volatile uint8_t *p = addr;

        if (p < w->map || p >= w->map + w->geo.header_size)
                return false;
        if (p == (const volatile uint8_t *)&h->flags || p == (const volatile uint8_t *)&h->fifo_signaled)
                return true;
        if (in_words(addr, &h->items_sleepers[1], LAYOUT_ATT_WORDS - 1) ||
            in_words(addr, &h->space_sleepers[1], LAYOUT_ATT_WORDS - 1) ||
            in_words(addr, &h->pollers[0], LAYOUT_ATT_WORDS) || in_words(addr, &h->subs[1], LAYOUT_ATT_WORDS - 1))
                return true;
        if (p >= (const volatile uint8_t *)&h->att[0] && p < (const volatile uint8_t *)&h->att[LAYOUT_ATT_MAX]) {
                size_t i = (size_t)(p - (const volatile uint8_t *)&h->att[0]) / sizeof(h->att[0]);

                return !(w->cfg->kill && i < w->n_actors);
        }
        return false;
}

/* The same for a broadcast mailbox: a subscriber waits while its position holds nothing yet
 * (the word of the last lap, or CLAIMED); a sender while the slot at tail is CLAIMED by a
 * sender of the last lap or, in a block mailbox, a live subscriber has not passed the
 * position it would overwrite. */
static bool bc_wait_justified(World *w, Actor *a, unsigned role, char *why, size_t len) {
        MboxHeader *h = w->ring.hdr;
        uint64_t tail = atomic_load(&h->tail), lock = atomic_load(&h->lock), word, bits;
        uint32_t lap, wl;
        unsigned st;

        switch (role) {
        case SEM_ITEMS: {
                const Ring *r = ring_of(w, a);
                uint64_t c = r->sub_pos;

                word = atomic_load(&ring_slot(r, c)->word);
                lap = ring_lap(r, c);
                wl = slot_word_lap(word);
                st = slot_word_state(word);
                if (r->overflow_pending) {
                        snprintf(why, len, "it has a loss to report");
                        return false;
                }
                if (wl == lap && (st == SLOT_READY || st == SLOT_ABANDONED)) {
                        snprintf(why, len, "its position %llu is %s", (unsigned long long)c,
                                 st == SLOT_READY ? "READY" : "ABANDONED");
                        return false;
                }
                if (wl != lap && wl != ((lap - 1) & LAP_MASK)) {
                        snprintf(why, len, "its position %llu was overwritten (lap %u): a loss to report",
                                 (unsigned long long)c, wl);
                        return false;
                }
                return true;
        }
        case SEM_SPACE:
                lap = ring_lap(&w->ring, tail);
                word = atomic_load(&ring_slot(&w->ring, tail)->word);
                st = slot_word_state(word);
                if (tail < w->geo.slots && word == slot_word(SLOT_FREE, lap, 0)) {
                        snprintf(why, len, "the slot at tail %llu is FREE", (unsigned long long)tail);
                        return false;
                }
                if (tail < w->geo.slots || slot_word_lap(word) != ((lap - 1) & LAP_MASK) ||
                    (st != SLOT_READY && st != SLOT_ABANDONED))
                        return true; /* CLAIMED by a sender of the last lap (or a state the final check judges) */
                if (w->cfg->kind == LAYOUT_KIND_OVERWRITE) {
                        snprintf(why, len, "the slot at tail %llu is finished and an overwrite mailbox never waits",
                                 (unsigned long long)tail);
                        return false;
                }
                bits = atomic_load(&h->subs[0]);
                for (unsigned i = 0; i < 64; i++) {
                        uint64_t p;

                        if (!(bits >> i & 1) || atomic_load(&h->att[i]) == TOKEN_NONE)
                                continue;
                        p = atomic_load(&layout_sub(w->map, i)->pos);
                        if (tail - p >= w->geo.slots)
                                return true; /* subscriber i has not passed position tail - slots */
                }
                snprintf(why, len, "every subscriber has passed position %llu, which the slot at tail %llu holds",
                         (unsigned long long)(tail - w->geo.slots), (unsigned long long)tail);
                return false;
        case SEM_LOCK:
                if (LOCK_TOKEN(lock) == TOKEN_NONE) {
                        snprintf(why, len, "the lock is free");
                        return false;
                }
                return true;
        default: snprintf(why, len, "it waits on an unknown semaphore"); return false;
        }
}

/* Whether the blocked actor @a may wait on: the ring holds nothing it waits for. */
static bool wait_justified(void *userdata, Actor *a, char *why, size_t len) {
        World *w = userdata;
        MboxHeader *h = w->ring.hdr;
        uint64_t head = atomic_load(&h->head), tail = atomic_load(&h->tail), lock = atomic_load(&h->lock);
        unsigned role = scheduler_sem_index(&explore_sched, a->waiting_on);

        /* a broadcast subscriber's own semaphore (SubLine.wake): it waits for items */
        if (role != UINT32_MAX && role >= _SEM_ROLE_MAX)
                role = SEM_ITEMS;

        if (w->cfg->kind != LAYOUT_KIND_QUEUE)
                return bc_wait_justified(w, a, role, why, len);
        switch (role) {
        case SEM_ITEMS:
                for (uint64_t p = head; p != tail && p - head < w->geo.slots; p++) {
                        uint64_t word = atomic_load(&ring_slot(&w->ring, p)->word);

                        if (slot_word_state(word) == SLOT_READY && slot_word_lap(word) == ring_lap(&w->ring, p)) {
                                uint32_t m = slot_msg(w, (unsigned)(p % w->geo.slots));

                                snprintf(why, len, "message %u.%u is READY at position %llu", MSG_SENDER(m), MSG_SEQ(m),
                                         (unsigned long long)p);
                                return false;
                        }
                }
                return true;
        case SEM_SPACE:
                if (tail - head < w->geo.slots) {
                        snprintf(why, len, "the ring has room (head %llu, tail %llu)", (unsigned long long)head,
                                 (unsigned long long)tail);
                        return false;
                }
                if (tail - head == w->geo.slots) {
                        uint64_t word = atomic_load(&ring_slot(&w->ring, head)->word);
                        unsigned st = slot_word_state(word);

                        if ((st == SLOT_DONE || st == SLOT_ABANDONED) &&
                            slot_word_lap(word) == ring_lap(&w->ring, head)) {
                                snprintf(why, len, "the slot at head %llu is finished: head can pass it",
                                         (unsigned long long)head);
                                return false;
                        }
                }
                return true;
        case SEM_LOCK:
                if (LOCK_TOKEN(lock) == TOKEN_NONE) {
                        snprintf(why, len, "the lock is free");
                        return false;
                }
                return true;
        default: snprintf(why, len, "it waits on an unknown semaphore"); return false;
        }
}

/* --- actors ----------------------------------------------------------------------------------- */

static void must(Actor *a, long k, const char *call) {
        if (k < 0)
                explore_fail("%s: %s returned %ld (%s) on a healthy ring", a->name, call, k, strerror((int)-k));
}

static void sender(Actor *a, World *w, const ActorSpec *sp) {
        Ring *r = ring_of(w, a);
        uint32_t sender_no = a->no + 1;
        unsigned seq = 0;

        while (seq < sp->count) {
                uint32_t m[2] = { MSG_ID(sender_no, seq), MSG_ID(sender_no, seq + 1) };
                long k;

                switch (sp->op) {
                case OP_SEND:
                        explore_call_begin(a, "ring_send");
                        k = ring_send(r, a->token, a->idx, &m[0], sizeof(m[0]), &forever);
                        must(a, k, "ring_send");
                        delivery_log_add(&w->log, EV_SENT, a->no, m[0]);
                        seq++;
                        break;
                case OP_SEND_MANY: {
                        struct iovec v[2] = { { &m[0], sizeof(m[0]) }, { &m[1], sizeof(m[1]) } };
                        size_t n = sp->count - seq >= 2 ? 2 : 1;

                        explore_call_begin(a, "ring_send_many");
                        k = ring_send_many(r, a->token, a->idx, v, n, &forever);
                        must(a, k, "ring_send_many");
                        for (long i = 0; i < k; i++)
                                delivery_log_add(&w->log, EV_SENT, a->no, m[i]);
                        seq += (unsigned)k;
                        break;
                }
                case OP_SEND_HDR: {
                        uint8_t hdr[16];
                        size_t hl = msg_hdr_len(w, m[0]);

                        msg_hdr(m[0], hdr);
                        if (hl > 0) {
                                explore_call_begin(a, "ring_send_hdr");
                                k = ring_send_hdr(&w->ring, a->token, a->idx, hdr, hl, &m[0], sizeof(m[0]), &forever);
                                must(a, k, "ring_send_hdr");
                        } else {
                                explore_call_begin(a, "ring_send");
                                k = ring_send(&w->ring, a->token, a->idx, &m[0], sizeof(m[0]), &forever);
                                must(a, k, "ring_send");
                        }
                        delivery_log_add(&w->log, EV_SENT, a->no, m[0]);
                        seq++;
                        break;
                }
                case OP_ABORT: /* a claim given back first: an ABANDONED position */
                case OP_RESERVE: {
                        uint64_t p;

                        if (sp->op == OP_ABORT) {
                                uint32_t junk = MSG_ID(sender_no, BC_JUNK | seq);

                                explore_call_begin(a, "ring_claim");
                                k = ring_claim(r, a->token, a->idx, 1, &forever, &p);
                                must(a, k, "ring_claim");
                                explore_memcpy(ring_payload(r, p), &junk, sizeof(junk), "app", __LINE__);
                                explore_call_begin(a, "ring_abort");
                                k = ring_abort(r, a->token, ring_payload(r, p));
                                must(a, k, "ring_abort");
                        }

                        explore_call_begin(a, "ring_claim");
                        k = ring_claim(r, a->token, a->idx, 1, &forever, &p);
                        must(a, k, "ring_claim");
                        explore_memcpy(ring_payload(r, p), &m[0], sizeof(m[0]), "app", __LINE__);
                        explore_call_begin(a, "ring_commit");
                        k = ring_commit(r, a->token, ring_payload(r, p), sizeof(m[0]), true);
                        must(a, k, "ring_commit");
                        delivery_log_add(&w->log, EV_SENT, a->no, m[0]);
                        seq++;
                        break;
                }
                default: abort();
                }
        }
}

static void receiver(Actor *a, World *w, const ActorSpec *sp) {
        unsigned got = 0;

        while (got < sp->count) {
                uint32_t m[2] = { 0, 0 };
                long k;

                switch (sp->op) {
                case OP_RECV:
                        explore_call_begin(a, "ring_recv");
                        k = ring_recv(&w->ring, a->token, a->idx, &m[0], sizeof(m[0]), &forever);
                        must(a, k, "ring_recv");
                        if (k != sizeof(m[0])) /* every message is 4 bytes; a header is not part of it */
                                explore_fail("%s: ring_recv returned %ld bytes, not a 4-byte message", a->name, k);
                        delivery_log_add(&w->log, EV_RETURN, a->no, m[0]);
                        got++;
                        break;
                case OP_RECV_MANY: {
                        struct iovec v[2] = { { &m[0], sizeof(m[0]) }, { &m[1], sizeof(m[1]) } };
                        size_t lens[2], n = sp->count - got >= 2 ? 2 : 1;

                        explore_call_begin(a, "ring_recv_many");
                        k = ring_recv_many(&w->ring, a->token, a->idx, v, n, lens, &forever);
                        must(a, k, "ring_recv_many");
                        for (long i = 0; i < k; i++)
                                delivery_log_add(&w->log, EV_RETURN, a->no, m[i]);
                        got += (unsigned)k;
                        break;
                }
                case OP_PEEK: {
                        void *payload;
                        uint32_t len;

                        explore_call_begin(a, "ring_take");
                        k = ring_take(&w->ring, a->token, a->idx, 1, SIZE_MAX, &forever, &payload, &len, NULL);
                        must(a, k, "ring_take");
                        explore_memcpy(&m[0], payload, sizeof(m[0]), "app", __LINE__);
                        explore_call_begin(a, "ring_consume");
                        k = ring_consume(&w->ring, a->token, payload, true);
                        must(a, k, "ring_consume");
                        delivery_log_add(&w->log, EV_RETURN, a->no, m[0]);
                        got++;
                        break;
                }
                case OP_RECV_HDR: {
                        uint8_t hdr[16], want[16];
                        void *payload;
                        uint32_t len, h;

                        explore_call_begin(a, "ring_take");
                        k = ring_take(&w->ring, a->token, a->idx, 1, SIZE_MAX, &forever, &payload, &len, &h);
                        must(a, k, "ring_take");
                        /* what box_recv_hdr() does: the header, then the body, then the consume */
                        if (h > sizeof(hdr) || len - h != sizeof(m[0]))
                                explore_fail("%s: ring_take gave a header of %u and a body of %u bytes", a->name, h,
                                             len - h);
                        if (h > 0)
                                explore_memcpy(hdr, payload, h, "app", __LINE__);
                        explore_memcpy(&m[0], (uint8_t *)payload + h, sizeof(m[0]), "app", __LINE__);
                        explore_call_begin(a, "ring_consume");
                        k = ring_consume(&w->ring, a->token, payload, true);
                        must(a, k, "ring_consume");
                        /* the header is the one sent with this body, whole */
                        msg_hdr(m[0], want);
                        if (h != msg_hdr_len(w, m[0]) || (h > 0 && memcmp(hdr, want, h) != 0))
                                explore_fail("%s: message %u.%u came with a header of %u bytes%s, sent with %zu",
                                             a->name, MSG_SENDER(m[0]), MSG_SEQ(m[0]), h,
                                             h == msg_hdr_len(w, m[0]) ? " that is not its own" : "",
                                             msg_hdr_len(w, m[0]));
                        delivery_log_add(&w->log, EV_RETURN, a->no, m[0]);
                        got++;
                        break;
                }
                default: abort();
                }
        }
}

/* What a subscriber's call returned, for the final check. */
static void bc_log(World *w, Actor *a, bool overflow, uint32_t msg) {
        SubLog *l = &w->sub[a->no];
        const Ring *r = ring_of(w, a);

        if (l->n >= BC_EV_MAX) {
                l->full = true;
                return;
        }
        l->ev[l->n++] = (SubEvent){
                .overflow = overflow, .msg = msg, .pos = r->sub_pos, .missed = r->missed, .claimed = w->claimed
        };
}

/* -EOVERFLOW is an answer only in an overwrite mailbox (must() fails it anywhere else). */
static bool said_overflow(World *w, Actor *a, long k) {
        if (k != -EOVERFLOW || w->cfg->kind != LAYOUT_KIND_OVERWRITE)
                return false;
        bc_log(w, a, true, 0);
        return true;
}

/* A broadcast subscriber: receives until its position has passed every position the run
 * claims (it waits on for more if a sender died: the final check judges that wait). */
static void subscriber(Actor *a, World *w, const ActorSpec *sp) {
        Ring *r = ring_of(w, a);
        long k;

        if (sp->late) {
                explore_call_begin(a, "ring_subscribe");
                k = ring_subscribe(r, a->token, a->idx, true, &forever);
                must(a, k, "ring_subscribe");
                w->sub[a->no].subscribed = true;
                w->sub[a->no].start = r->sub_pos;
        }
        while (r->sub_pos < w->total) {
                uint32_t m[2] = { 0, 0 };

                switch (sp->op) {
                case OP_RECV:
                        explore_call_begin(a, "ring_recv");
                        k = ring_recv(r, a->token, a->idx, &m[0], sizeof(m[0]), &forever);
                        if (said_overflow(w, a, k))
                                break;
                        must(a, k, "ring_recv");
                        bc_log(w, a, false, m[0]);
                        break;
                case OP_RECV_MANY: {
                        struct iovec v[2] = { { &m[0], sizeof(m[0]) }, { &m[1], sizeof(m[1]) } };
                        size_t lens[2];

                        explore_call_begin(a, "ring_recv_many");
                        k = ring_recv_many(r, a->token, a->idx, v, 2, lens, &forever);
                        if (said_overflow(w, a, k))
                                break;
                        must(a, k, "ring_recv_many");
                        for (long i = 0; i < k; i++)
                                bc_log(w, a, false, m[i]);
                        break;
                }
                case OP_PEEK: {
                        void *payload;
                        uint32_t len;

                        explore_call_begin(a, "ring_take");
                        k = ring_take(r, a->token, a->idx, 1, SIZE_MAX, &forever, &payload, &len, NULL);
                        if (said_overflow(w, a, k))
                                break;
                        must(a, k, "ring_take");
                        explore_memcpy(&m[0], payload, sizeof(m[0]), "app", __LINE__);
                        explore_call_begin(a, "ring_consume");
                        k = ring_consume(r, a->token, payload, true);
                        if (said_overflow(w, a, k))
                                break;
                        must(a, k, "ring_consume");
                        bc_log(w, a, false, m[0]);
                        break;
                }
                default: abort();
                }
        }
}

static void actor_main(Actor *a) {
        World *w = a->userdata;
        const ActorSpec *sp = &w->cfg->actors[a->no];

        switch (sp->op) {
        case OP_SEND:
        case OP_SEND_MANY:
        case OP_SEND_HDR:
        case OP_ABORT:
        case OP_RESERVE: sender(a, w, sp); break;
        case OP_RECV:
        case OP_RECV_MANY:
        case OP_PEEK:
        case OP_RECV_HDR:
                if (w->cfg->kind != LAYOUT_KIND_QUEUE)
                        subscriber(a, w, sp);
                else
                        receiver(a, w, sp);
                break;
        case OP_SCRIBBLE: {
                uint32_t junk = 0xbadu;

                explore_call_begin(a, "scribble");
                explore_memcpy((uint8_t *)slot_head(w, SCRIBBLE_SLOT) + LAYOUT_SLOT_HEAD, &junk, sizeof(junk),
                               "scribble", __LINE__);
                break;
        }
        default: abort();
        }
}

/* The daemon after a death: daemon/manager.c release_try() -> mailbox_repair() -> ring_repair(),
 * retried from a timer while it says -EBUSY; then mailbox_att_free() clears the entry. */
static void daemon_main(Actor *a) {
        World *w = a->userdata;
        Actor *dead = explore_sched.killed;
        _Atomic uint32_t *entry;
        RingRepair rep;
        uint32_t old;
        int k;

        for (;;) {
                explore_call_begin(a, "ring_repair");
                k = ring_repair(&w->ring, dead->token, dead->idx, &rep);
                if (k != -EBUSY)
                        break;
                explore_yield();
        }
        if (k < 0)
                explore_fail("daemon: ring_repair() after the death of %s returned %d (%s)", dead->name, k,
                             strerror(-k));
        entry = &w->ring.hdr->att[dead->idx];
        explore_point(EXPLORE_STORE, entry, "mailbox_att_free", __LINE__);
        old = atomic_exchange(entry, TOKEN_NONE);
        explore_wrote(entry, old, TOKEN_NONE, sizeof(*entry));
}

/* --- runs --------------------------------------------------------------------------------------- */

static int world_init(World *w, const Config *cfg) {
        Scheduler *s = &explore_sched;
        int k;

        *w = (World){ .cfg = cfg };
        if (cfg->kind != LAYOUT_KIND_QUEUE)
                k = layout_geometry_kind(cfg->slots, cfg->slot_size ? cfg->slot_size : SLOT_SIZE, cfg->kind, 1,
                                         &w->geo);
        else
                k = layout_geometry(cfg->slots, cfg->slot_size ? cfg->slot_size : SLOT_SIZE, 1, &w->geo);
        if (k < 0)
                return k;
        w->map = aligned_alloc(4096, ALIGN_TO(w->geo.total_size, (uint64_t)4096)); /* a size of whole pages */
        if (!w->map)
                return -ENOMEM;

        scheduler_free(s);
        memset(s, 0, sizeof(*s));
        for (unsigned i = 0; i < _SEM_ROLE_MAX; i++)
                s->sems[i] = &w->sems[i];
        s->n_sems = _SEM_ROLE_MAX;
        /* a broadcast mailbox: each subscriber sleeps on its own (SubLine.wake), at the index
         * of its actor */
        for (unsigned i = 0; cfg->kind != LAYOUT_KIND_QUEUE && i < ELEMENTSOF(cfg->actors) &&
                             cfg->actors[i].op != OP_NONE && s->n_sems < ELEMENTSOF(s->sems);
             i++)
                s->sems[s->n_sems++] = &layout_sub(w->map, i)->wake;
        for (unsigned i = 0; i < ELEMENTSOF(cfg->actors) && cfg->actors[i].op != OP_NONE; i++) {
                char name[8];
                bool snd = is_sender_op(cfg->actors[i].op);

                snprintf(name, sizeof(name), "%c%u", snd ? 'S' : 'R', i);
                if (!scheduler_add(s, name, actor_main, TOKEN_FIRST + i, i, cfg->kill))
                        return -ENOMEM;
                s->actors[i].userdata = w;
                w->n_actors++;
                if (snd)
                        w->total += cfg->actors[i].count * (cfg->actors[i].op == OP_ABORT ? 2u : 1u);
        }
        w->total += cfg->prefill;
        if (cfg->kind != LAYOUT_KIND_QUEUE && w->total > BC_POS_MAX)
                return -E2BIG;
        if (cfg->kill) {
                w->daemon = scheduler_add(s, "D", daemon_main, TOKEN_DAEMON, LAYOUT_ATT_MAX, false);
                if (!w->daemon)
                        return -ENOMEM;
                w->daemon->userdata = w;
                s->daemon = w->daemon;
        }
        s->preemption_bound = cfg->bound;
        s->step_bound = 64 * cfg->slots + 512;
        s->obs = (ExploreObserver){ .wrote = on_wrote, .copy = on_copy, .frozen = is_frozen, .userdata = w };
        s->justified = wait_justified;
        return 0;
}

static void world_done(World *w) {
        scheduler_free(&explore_sched);
        free(w->map);
        w->map = NULL;
}

/* A fresh ring for the next run: zeroed, laid out, the actors attached, the prefill sent. */
static void world_reset(World *w) {
        memset(w->map, 0, w->geo.total_size);
        layout_init(w->map, &w->geo);
        w->ring = (Ring){ .hdr = (MboxHeader *)w->map,
                          .base = w->map,
                          .geo = w->geo,
                          .spin_ns = w->cfg->spin_ns,
                          .batch_flush_bytes = w->cfg->flush,
                          .has_fifo = false,
                          .fifo_fd = -1 };
        for (unsigned i = 0; i < _SEM_ROLE_MAX; i++)
                w->ring.sem[i] = &w->sems[i];
        w->log = (DeliveryLog){ .n = 0 };
        scheduler_reset_run(&explore_sched);
        explore_sched.kills_left = w->cfg->kill ? 1 : 0;
        for (unsigned i = 0; i < w->n_actors; i++)
                atomic_store(&w->ring.hdr->att[i], TOKEN_FIRST + i);
        memset(w->pos_state, 0, sizeof(w->pos_state));
        memset(w->sub, 0, sizeof(w->sub));
        w->claimed = 0;
        for (unsigned i = 0; i < w->n_actors && w->cfg->kind != LAYOUT_KIND_QUEUE; i++) {
                const ActorSpec *sp = &w->cfg->actors[i];

                w->rings[i] = w->ring;
                if (is_sender_op(sp->op) || sp->late)
                        continue;
                /* subscribed before the run (and the prefill): it receives every position */
                if (ring_subscribe(&w->rings[i], TOKEN_FIRST + i, i, true, &forever) < 0)
                        abort();
                w->sub[i].subscribed = true;
                w->sub[i].start = w->rings[i].sub_pos;
        }
        atomic_store(&w->ring.hdr->att[PREFILL_IDX], PREFILL_TOKEN);
        for (unsigned i = 0; i < w->cfg->prefill; i++) {
                uint32_t m = MSG_ID(0, i);

                (void)ring_send(&w->ring, PREFILL_TOKEN, PREFILL_IDX, &m, sizeof(m), &forever);
        }
        atomic_store(&w->ring.hdr->att[PREFILL_IDX], TOKEN_NONE);
}

#define BC_FAIL(...)                                                                                                   \
        do {                                                                                                           \
                snprintf(why, len, __VA_ARGS__);                                                                       \
                return false;                                                                                          \
        } while (0)

/* The next position at or after @c that is not ABANDONED. */
static uint64_t bc_skip(const World *w, uint64_t c) {
        while (c < w->claimed && c < BC_POS_MAX && w->pos_state[c] == POS_ABANDONED)
                c++;
        return c;
}

/*
 * The end of a run on a broadcast mailbox. Each subscriber received exactly the committed
 * sequence from the position it subscribed at: position by position, the message committed
 * there (so no loss, no duplicate, no reordering, no torn or stale copy), ABANDONED positions
 * skipped; in an overwrite mailbox a gap only where -EOVERFLOW said it, r->missed being the
 * gap and every missed position overwritten by then. Each sender's messages hold positions
 * in the order sent; a send that succeeded committed; no slot is left CLAIMED; the lock is
 * free; every actor finished, but for a subscriber waiting for what a dead sender will never
 * send (the late wake-up check judged that wait); a dead subscriber's bit is cleared.
 */
static bool bc_final_check(World *w, char *why, size_t len) {
        MboxHeader *h = w->ring.hdr;
        uint64_t tail = atomic_load(&h->tail), lock = atomic_load(&h->lock), subs = atomic_load(&h->subs[0]);
        int last[CHECK_SENDERS];

        if (LOCK_TOKEN(lock) != TOKEN_NONE)
                BC_FAIL("the run ends with the lock held by token %#x", LOCK_TOKEN(lock));
        if (tail != w->claimed)
                BC_FAIL("the run ends with tail %llu, but %llu positions were claimed", (unsigned long long)tail,
                        (unsigned long long)w->claimed);
        for (unsigned i = 0; i < w->geo.slots; i++) {
                uint64_t word = atomic_load(&slot_head(w, i)->word);
                unsigned st = slot_word_state(word);

                if (st != SLOT_FREE && st != SLOT_READY && st != SLOT_ABANDONED)
                        BC_FAIL("the run ends with slot %u in state %u (lap %u, token %#x)", i, st, slot_word_lap(word),
                                slot_word_token(word));
        }
        for (uint64_t p = 0; p < w->claimed; p++)
                if (w->pos_state[p] == POS_CLAIMED)
                        BC_FAIL("position %llu was claimed and never committed or abandoned", (unsigned long long)p);
        for (unsigned i = 0; i < CHECK_SENDERS; i++)
                last[i] = -1;
        for (uint64_t p = 0; p < w->claimed; p++) {
                uint32_t m = w->pos_msg[p];

                if (w->pos_state[p] != POS_COMMITTED)
                        continue;
                if (MSG_SEQ(m) & BC_JUNK || MSG_SENDER(m) >= CHECK_SENDERS)
                        BC_FAIL("position %llu was committed with %#x, which no sender sent", (unsigned long long)p, m);
                if ((int)MSG_SEQ(m) <= last[MSG_SENDER(m)])
                        BC_FAIL("order: %u.%u is at position %llu, after %u.%d", MSG_SENDER(m), MSG_SEQ(m),
                                (unsigned long long)p, MSG_SENDER(m), last[MSG_SENDER(m)]);
                last[MSG_SENDER(m)] = (int)MSG_SEQ(m);
        }
        for (unsigned i = 0; i < w->log.n; i++) {
                const Event *e = &w->log.ev[i];
                bool found = false;

                if (e->kind != EV_SENT)
                        continue;
                for (uint64_t p = 0; p < w->claimed && !found; p++)
                        found = w->pos_state[p] == POS_COMMITTED && w->pos_msg[p] == e->msg;
                if (!found)
                        BC_FAIL("the send of %u.%u returned success but it was never committed", MSG_SENDER(e->msg),
                                MSG_SEQ(e->msg));
        }
        for (unsigned i = 0; i < w->n_actors; i++) {
                const Actor *a = &explore_sched.actors[i];
                const SubLog *l = &w->sub[i];
                const Ring *r = &w->rings[i];
                bool killed = a->state == ACTOR_KILLED, snd = is_sender_op(w->cfg->actors[i].op);
                uint64_t c;

                if (!killed && a->state != ACTOR_DONE && (snd || !w->cfg->kill))
                        BC_FAIL("%s never finishes (it is %s in %s): a deadlock", a->name,
                                a->state == ACTOR_BLOCKED ? "blocked" : "stopped", a->call ? a->call : "?");
                if (snd)
                        continue;
                if (killed && (subs >> i & 1))
                        BC_FAIL("%s died and was repaired, and its bit in subs is still set", a->name);
                if (!killed && l->subscribed && !(subs >> i & 1))
                        BC_FAIL("%s subscribes, and its bit in subs is clear", a->name);
                if (!l->subscribed)
                        continue; /* killed in its ring_subscribe() */
                if (l->full)
                        BC_FAIL("%s: more than %u calls to record", a->name, BC_EV_MAX);
                c = l->start;
                for (unsigned j = 0; j < l->n; j++) {
                        const SubEvent *e = &l->ev[j];

                        if (!e->overflow) {
                                c = bc_skip(w, c);
                                if (c >= w->claimed || w->pos_state[c] != POS_COMMITTED)
                                        BC_FAIL("%s received %u.%u as its call %u, but its next position %llu holds no "
                                                "message",
                                                a->name, MSG_SENDER(e->msg), MSG_SEQ(e->msg), j, (unsigned long long)c);
                                if (w->pos_msg[c] != e->msg)
                                        BC_FAIL("%s received %u.%u (%#x) as its call %u, but its next position %llu "
                                                "holds %u.%u: a torn or stale copy, a loss, a duplicate or a "
                                                "reordering",
                                                a->name, MSG_SENDER(e->msg), MSG_SEQ(e->msg), e->msg, j,
                                                (unsigned long long)c, MSG_SENDER(w->pos_msg[c]),
                                                MSG_SEQ(w->pos_msg[c]));
                                c++;
                                continue;
                        }
                        if (e->missed == 0 || e->pos - e->missed < c || e->pos - e->missed > bc_skip(w, c))
                                BC_FAIL("%s: -EOVERFLOW (call %u) says %llu missed and moves it to position %llu, "
                                        "but it had received everything below %llu: the gap reported is not the gap",
                                        a->name, j, (unsigned long long)e->missed, (unsigned long long)e->pos,
                                        (unsigned long long)c);
                        if (e->pos + w->geo.slots > e->claimed)
                                BC_FAIL("%s: -EOVERFLOW (call %u) skips to position %llu, but only %llu positions "
                                        "were claimed: position %llu was not overwritten",
                                        a->name, j, (unsigned long long)e->pos, (unsigned long long)e->claimed,
                                        (unsigned long long)(e->pos - 1));
                        c = e->pos;
                }
                if (a->state == ACTOR_DONE && (bc_skip(w, c) != w->claimed || r->sub_pos != w->claimed))
                        BC_FAIL("%s finished at position %llu (its own: %llu), but %llu positions were claimed",
                                a->name, (unsigned long long)bc_skip(w, c), (unsigned long long)r->sub_pos,
                                (unsigned long long)w->claimed);
        }
        return true;
}

/* The checks at the end of a run that ended with no actor able to run. */
static bool final_check(World *w, char *why, size_t len) {
        MboxHeader *h = w->ring.hdr;
        uint64_t head = atomic_load(&h->head), tail = atomic_load(&h->tail), lock = atomic_load(&h->lock);
        static RunFinal f;

        if (w->cfg->kind != LAYOUT_KIND_QUEUE)
                return bc_final_check(w, why, len);
        memset(&f, 0, sizeof(f));
        if (LOCK_TOKEN(lock) != TOKEN_NONE) {
                snprintf(why, len, "the run ends with the lock held by token %#x", LOCK_TOKEN(lock));
                return false;
        }
        if (tail - head > w->geo.slots) {
                snprintf(why, len, "the run ends with head %llu, tail %llu", (unsigned long long)head,
                         (unsigned long long)tail);
                return false;
        }
        for (uint64_t p = head; p != tail; p++) {
                uint64_t word = atomic_load(&ring_slot(&w->ring, p)->word);
                unsigned st = slot_word_state(word);

                if (st == SLOT_CLAIMED || st == SLOT_TAKEN) {
                        snprintf(why, len, "the run ends with position %llu %s by token %#x", (unsigned long long)p,
                                 st == SLOT_CLAIMED ? "CLAIMED" : "TAKEN", slot_word_token(word));
                        return false;
                }
                if (st == SLOT_READY)
                        f.ready[f.n_ready++] = slot_msg(w, (unsigned)(p % w->geo.slots));
        }
        for (unsigned i = 0; i < w->n_actors; i++)
                f.killed[i] = explore_sched.actors[i].state == ACTOR_KILLED;
        return checker_run(&w->log, &f, why, len);
}

/* One run of the current trail. */
static bool run_once(World *w) {
        RunEnd end;

        world_reset(w);
        end = scheduler_run(&explore_sched);
        if (end == RUN_FAILED)
                return false;
        if (!final_check(w, explore_sched.why, sizeof(explore_sched.why))) {
                explore_sched.failed = true;
                return false;
        }
        return true;
}

static const char *kind_str(unsigned k) {
        static const char *const names[] = { "load", "store", "rmw", "sem", "copy", "pause", "yield" };

        if (k < ELEMENTSOF(names))
                return names[k];
        return k == 100 ? "KILLED" : k == 101 ? "crash point" : k == 102 ? "blocks" : "?";
}

static void addr_label(const World *w, const volatile void *addr, char *buf, size_t len) {
        const MboxHeader *h = w->ring.hdr;
        const volatile uint8_t *p = addr;
        int i;

        buf[0] = 0;
        if (!addr)
                return;
        for (unsigned r = 0; r < _SEM_ROLE_MAX; r++)
                if (addr == &w->sems[r]) {
                        snprintf(buf, len, " sem %s", r == SEM_LOCK ? "lock" : r == SEM_ITEMS ? "items" : "space");
                        return;
                }
#define FIELD(f)                                                                                                       \
        if (p == (const volatile uint8_t *)&h->f) {                                                                    \
                snprintf(buf, len, " " #f);                                                                            \
                return;                                                                                                \
        }
        FIELD(lock)
        FIELD(head)
        FIELD(tail)
        FIELD(received)
        FIELD(abandoned)
        FIELD(recovered)
        FIELD(repairs)
        FIELD(items_sleepers[0])
        FIELD(space_sleepers[0])
        FIELD(pollers[0])
        FIELD(subs[0])
#undef FIELD
        if (w->cfg->kind != LAYOUT_KIND_QUEUE && p >= w->map + LAYOUT_SUBS_OFFSET &&
            p < w->map + LAYOUT_SUBS_OFFSET + LAYOUT_SUBS_SIZE) {
                size_t off = (size_t)(p - (w->map + LAYOUT_SUBS_OFFSET));

                size_t f = off % sizeof(SubLine);

                snprintf(buf, len, " sub[%zu].%s", off / sizeof(SubLine),
                         f >= offsetof(SubLine, wake)            ? "wake"
                         : f >= offsetof(SubLine, fifo_signaled) ? "fifo_signaled"
                         : f >= offsetof(SubLine, missed)        ? "missed"
                                                                 : "pos");
                return;
        }
        if (p >= (const volatile uint8_t *)&h->att[0] && p < (const volatile uint8_t *)&h->att[LAYOUT_ATT_MAX]) {
                snprintf(buf, len, " att[%zu]", (size_t)(p - (const volatile uint8_t *)&h->att[0]) / 4);
                return;
        }
        i = slot_of_word(w, addr);
        if (i >= 0) {
                snprintf(buf, len, " slot%d.word", i);
                return;
        }
        i = slot_of_payload(w, (const void *)addr);
        if (i >= 0) {
                snprintf(buf, len, " slot%d.payload", i);
                return;
        }
        snprintf(buf, len, " %p", (const void *)addr);
}

static void print_trace(const World *w, unsigned from) {
        const Scheduler *s = &explore_sched;

        for (unsigned i = from; i < s->trace_len; i++) {
                const TraceEntry *t = &s->trace[i];
                char where[48];

                addr_label(w, t->addr, where, sizeof(where));
                printf("    %4u %-3s %-11s %s:%u%s\n", i, t->actor < s->n_actors ? s->actors[t->actor].name : "-",
                       kind_str(t->kind), t->func ? t->func : "?", t->line, where);
        }
}

static void print_failure(const World *w, unsigned cfg_no, bool deep, bool whole_trace) {
        const Scheduler *s = &explore_sched;
        static char trail[8 * EXPLORE_TRAIL_MAX];

        scheduler_format_trail(s, trail, sizeof(trail));
        printf("  FAIL: %s\n", s->why);
        printf("  replay: tests/test-explore%s --config %u --replay %s\n", deep ? " --deep" : "", cfg_no,
               trail[0] ? trail : "0");
        printf("  log:");
        for (unsigned i = 0; i < w->log.n; i++) {
                const Event *e = &w->log.ev[i];

                printf(" %s(%s%s%u.%u)", event_kind_str(e->kind),
                       e->actor < s->n_actors ? s->actors[e->actor].name : "", e->actor < s->n_actors ? " " : "",
                       MSG_SENDER(e->msg), MSG_SEQ(e->msg));
        }
        printf("\n  trace (%u points%s):\n", s->trace_len, whole_trace || s->trace_len <= 60 ? "" : ", the last 60");
        print_trace(w, whole_trace || s->trace_len <= 60 ? 0 : s->trace_len - 60);
}

typedef struct Outcome {
        unsigned long schedules, failures, late_wakeups;
        unsigned long known;            /* late wake-ups of the configuration's known defect */
        unsigned long first_failure_at; /* schedules run until the first failure, 0: none */
        bool capped;                    /* stopped at EXPLORE_ASAN_CAP */
} Outcome;

static double seconds_since(const struct timespec *t0) {
        struct timespec t1;

        clock_gettime(CLOCK_MONOTONIC, &t1);
        return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Explore every schedule of @cfg; print its line and the first failure. */
static int explore_config(const Config *cfg, unsigned cfg_no, bool deep, bool all, bool quiet, Outcome *ret) {
        static World w;
        Outcome o = {};
        struct timespec t0;
        char bound[32];
        int k;

        k = world_init(&w, cfg);
        if (k < 0)
                return k;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        explore_sched.trail_len = 0;
        do {
                o.schedules++;
                if (!run_once(&w) && cfg->known_late && explore_sched.late_wakeup) {
                        if (o.known++ == 0 && !quiet) {
                                printf("explore: %s: schedule %lu: known defect %s:\n", cfg->name, o.schedules,
                                       cfg->known_late);
                                print_failure(&w, cfg_no, deep, false);
                        }
                } else if (explore_sched.failed) {
                        o.failures++;
                        o.late_wakeups += explore_sched.late_wakeup;
                        if (o.failures == 1) {
                                o.first_failure_at = o.schedules;
                                if (!quiet) {
                                        printf("explore: %s: schedule %lu fails\n", cfg->name, o.schedules);
                                        print_failure(&w, cfg_no, deep, false);
                                }
                        }
                        if (!all)
                                break;
                }
#if EXPLORE_ASAN_CAP
                if (o.schedules >= EXPLORE_ASAN_CAP) {
                        o.capped = true;
                        break;
                }
#endif
        } while (scheduler_backtrack(&explore_sched));
        if (cfg->bound < 0)
                snprintf(bound, sizeof(bound), "none (exhaustive)");
        else
                snprintf(bound, sizeof(bound), "%d preemption%s", cfg->bound, cfg->bound == 1 ? "" : "s");
        printf("explore: %s, kill: %s, bound: %s: %lu schedules, %lu failure%s", cfg->name, cfg->kill ? "any" : "none",
               bound, o.schedules, o.failures, o.failures == 1 ? "" : "s");
        if (o.late_wakeups)
                printf(" (%lu late wake-up%s)", o.late_wakeups, o.late_wakeups == 1 ? "" : "s");
        if (cfg->known_late && o.known)
                printf(" (%lu late wake-up%s of known defect %s)", o.known, o.known == 1 ? "" : "s", cfg->known_late);
        if (cfg->known_late && !o.known && !o.capped && !o.failures) {
                printf(" (FAILS: known defect %s shows no more: remove its mark)", cfg->known_late);
                o.failures++;
        }
        if (o.failures && !all)
                printf(" (stopped at the first)");
        if (o.capped)
                printf(" (CAPPED: an ASan build stops each configuration after %d schedules)", EXPLORE_ASAN_CAP);
        printf(" [%.1f s]\n", seconds_since(&t0));
        fflush(stdout);
        world_done(&w);
        *ret = o;
        return 0;
}

static int replay(const Config *cfg, unsigned cfg_no, bool deep, const char *trail) {
        static World w;
        bool ok;
        int k;

        k = world_init(&w, cfg);
        if (k < 0)
                return k;
        if (scheduler_parse_trail(&explore_sched, trail) < 0) {
                fprintf(stderr, "test-explore: not a schedule: %s\n", trail);
                world_done(&w);
                return -EINVAL;
        }
        ok = run_once(&w);
        printf("explore: %s: replayed schedule: %s\n", cfg->name, ok ? "passes" : "FAILS");
        if (ok)
                print_trace(&w, 0);
        else
                print_failure(&w, cfg_no, deep, true);
        world_done(&w);
        return ok ? 0 : 1;
}

/* --- self-tests: the checks are live ------------------------------------------------------------- */

/* Fabricated delivery logs the checker must reject, and one it must accept. */
static bool checker_self_test(void) {
        static DeliveryLog log;
        static RunFinal f;
        char why[256];
        bool ok = true;
        struct {
                const char *what;
                Event ev[8];
                unsigned n;
                bool good;
        } cases[] = {
                { "a clean delivery",
                  { { EV_COMMIT, 0, MSG_ID(1, 0) },
                    { EV_TAKE, 1, MSG_ID(1, 0) },
                    { EV_CONSUME, 1, MSG_ID(1, 0) },
                    { EV_RETURN, 1, MSG_ID(1, 0) },
                    { EV_SENT, 0, MSG_ID(1, 0) } },
                  5,
                  true },
                { "a duplicate delivery",
                  { { EV_COMMIT, 0, MSG_ID(1, 0) },
                    { EV_TAKE, 1, MSG_ID(1, 0) },
                    { EV_CONSUME, 1, MSG_ID(1, 0) },
                    { EV_RETURN, 1, MSG_ID(1, 0) },
                    { EV_RETURN, 1, MSG_ID(1, 0) } },
                  5,
                  false },
                { "a lost message", { { EV_COMMIT, 0, MSG_ID(1, 0) }, { EV_SENT, 0, MSG_ID(1, 0) } }, 2, false },
                { "messages out of order",
                  { { EV_COMMIT, 0, MSG_ID(1, 0) },
                    { EV_COMMIT, 0, MSG_ID(1, 1) },
                    { EV_TAKE, 2, MSG_ID(1, 1) },
                    { EV_TAKE, 2, MSG_ID(1, 0) } },
                  4,
                  false },
                { "a take by two receivers",
                  { { EV_COMMIT, 0, MSG_ID(1, 0) }, { EV_TAKE, 1, MSG_ID(1, 0) }, { EV_TAKE, 2, MSG_ID(1, 0) } },
                  3,
                  false },
                { "a consume by a receiver not holding it",
                  { { EV_COMMIT, 0, MSG_ID(1, 0) }, { EV_TAKE, 1, MSG_ID(1, 0) }, { EV_CONSUME, 2, MSG_ID(1, 0) } },
                  3,
                  false },
                { "a success without a commit", { { EV_SENT, 0, MSG_ID(1, 0) } }, 1, false },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                bool got;

                memset(&log, 0, sizeof(log));
                memset(&f, 0, sizeof(f));
                for (unsigned j = 0; j < cases[i].n; j++)
                        delivery_log_add(&log, cases[i].ev[j].kind, cases[i].ev[j].actor, cases[i].ev[j].msg);
                why[0] = 0;
                got = checker_run(&log, &f, why, sizeof(why));
                if (got != cases[i].good) {
                        printf("explore: self-test: the checker %s %s%s%s\n", got ? "accepts" : "rejects",
                               cases[i].what, got ? "" : ": ", why);
                        ok = false;
                } else
                        printf("explore: self-test: the checker %s %s%s%s\n", got ? "accepts" : "rejects",
                               cases[i].what, got ? "" : ": ", why);
        }
        return ok;
}

static bool explorer_self_test(void) {
        bool ok = true;

        for (size_t i = 0; i < ELEMENTSOF(self_configs); i++) {
                Outcome o;

                if (explore_config(&self_configs[i], (unsigned)i, false, false, true, &o) < 0 || o.failures == 0) {
                        printf("explore: self-test: %s: NOT detected\n", self_configs[i].name);
                        ok = false;
                } else
                        printf("explore: self-test: %s: detected at schedule %lu, as it must be\n",
                               self_configs[i].name, o.first_failure_at);
        }
        return ok;
}

/* --- main --------------------------------------------------------------------------------------- */

static void list(const Config *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                printf("%zu: %s, kill: %s, bound %d\n", i, v[i].name, v[i].kill ? "any" : "none", v[i].bound);
}

int main(int argc, char **argv) {
        bool deep = false, all = false, do_list = false;
        long bound = -2;
        const char *replay_trail = NULL;
        long only = -1;
        const Config *v;
        size_t n;
        unsigned long failures = 0;
        struct timespec t0;
        bool ok = true;

        setvbuf(stdout, NULL, _IOLBF, 0);
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--deep") == 0)
                        deep = true;
                else if (strcmp(argv[i], "--all") == 0)
                        all = true;
                else if (strcmp(argv[i], "--list") == 0)
                        do_list = true;
                else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
                        only = strtol(argv[++i], NULL, 10);
                else if (strcmp(argv[i], "--bound") == 0 && i + 1 < argc)
                        bound = strtol(argv[++i], NULL, 10);
                else if (strcmp(argv[i], "--replay") == 0 && i + 1 < argc)
                        replay_trail = argv[++i];
                else {
                        fprintf(stderr,
                                "usage: %s [--deep] [--all] [--list] [--bound N] [--config N [--replay TRAIL]]\n",
                                argv[0]);
                        return 2;
                }
        }
        v = deep ? deep_configs : check_configs;
        n = deep ? ELEMENTSOF(deep_configs) : ELEMENTSOF(check_configs);
        if (do_list) {
                list(v, n);
                return 0;
        }
        if (only >= (long)n || (replay_trail && only < 0)) {
                fprintf(stderr, "test-explore: --replay needs --config N with N below %zu\n", n);
                return 2;
        }
        if (replay_trail)
                return replay(&v[only], (unsigned)only, deep, replay_trail) == 0 ? 0 : 1;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (only < 0) {
                ok = checker_self_test() && ok;
                ok = explorer_self_test() && ok;
        }
        for (size_t i = 0; i < n; i++) {
                Config c = v[i];
                Outcome o;

                if (only >= 0 && (size_t)only != i)
                        continue;
                if (bound >= -1)
                        c.bound = (int)bound;
                if (explore_config(&c, (unsigned)i, deep, all, false, &o) < 0) {
                        printf("explore: %s: cannot set up\n", v[i].name);
                        ok = false;
                        continue;
                }
                failures += o.failures;
        }
        printf("explore: %s; %lu failure%s [%.1f s]\n", ok ? "self-tests pass" : "SELF-TESTS FAIL", failures,
               failures == 1 ? "" : "s", seconds_since(&t0));
        return ok && failures == 0 ? 0 : 1;
}
