/* SPDX-License-Identifier: MIT */
/* fuzz-header.c — fuzz target for the code that reads a mailbox from shared memory.
 *
 * Any attached process can write anything into a mailbox it may use (doc/design.md, invariant 4),
 * so everything proto/ reads from the segment is input. Two parts, one input (the format is in
 * fuzz.h):
 *
 * 1. layout_check() on a header page whose first 64 bytes — the immutable part — are fuzzed,
 *    with a fuzzed mapping size. The page is a 4096-byte heap block whatever the size claims,
 *    so a read past the header page is a sanitizer report. A success must describe a geometry
 *    that layout_geometry() agrees with and that fits the claimed size; a failure leaves the
 *    output alone.
 * 2. A ring over a segment laid out by layout_init() (a small geometry taken from the input),
 *    whose mutable header fields — lock, counters, head and tail, flags, sleeper masks, the
 *    attachment entries in use — and slot heads (word and length) are then overwritten with
 *    input. On it a sequence of operations from the input runs as four attachments: send,
 *    receive and peek with timeout 0, their batch forms, the zero-copy steps (claim and take
 *    slots, hold them across other operations, then commit, abort or consume them), polling,
 *    repair, count. Each must return a value of its contract (0, a count or a length within
 *    bounds, or one of its documented negative errnos) and never crash or hang; none may leave
 *    the lock held; none may touch the immutable part; a repair that ran releases the lock and
 *    the entry of the dead; a slot this harness holds stays its own until a repair of its
 *    token: committing, aborting or consuming it then succeeds.
 *
 * The semaphores are unnamed and process-shared, as in tests/test-ring.c; they are made anew
 * for every input, so a post left by one input does not shorten a wait in the next. The FIFO,
 * when the input asks for one, is a non-blocking pipe.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proto/layout.h"
#include "proto/ring.h"
#include "proto/util.h"
#include "tests/fuzz/fuzz.h"

/* --- part 1: the immutable header --------------------------------------------------------- */

static bool geometry_eq(const LayoutGeometry *a, const LayoutGeometry *b) {
        return a->slots == b->slots && a->slot_size == b->slot_size && a->slot_stride == b->slot_stride &&
               a->header_size == b->header_size && a->generation == b->generation && a->total_size == b->total_size;
}

/* Returns the check_flags byte: part 2 reads its bit 1. */
static uint8_t fuzz_layout_check(FuzzInput *in) {
        static const LayoutGeometry sentinel = {
                .slots = 0xdead,
                .slot_size = 0xbeef,
                .slot_stride = 0xf00d,
                .header_size = 0xcafe,
                .generation = 0x5555,
                .total_size = 0xaaaa,
        };
        LayoutGeometry g = sentinel, again;
        uint8_t check_flags = fuzz_u8(in);
        uint64_t map_size = fuzz_uint(in, 8);
        uint8_t *page = calloc(1, LAYOUT_HEADER_SIZE);
        int r;

        FUZZ_ASSERT(page);
        fuzz_bytes(in, page, offsetof(MboxHeader, lock));
        if (check_flags & 1) {
                MboxHeader *h = (MboxHeader *)page;
                h->checksum = layout_checksum(h);
        }

        r = layout_check(page, map_size, &g);
        FUZZ_ASSERT(r == 0 || r == -EPROTO || r == -EBADMSG);
        if (r < 0) {
                FUZZ_ASSERT(geometry_eq(&g, &sentinel));
        } else {
                FUZZ_ASSERT(map_size >= LAYOUT_HEADER_SIZE);
                FUZZ_ASSERT(layout_geometry(g.slots, g.slot_size, g.generation, &again) == 0);
                FUZZ_ASSERT(geometry_eq(&g, &again));
                FUZZ_ASSERT(g.total_size <= map_size);
                FUZZ_ASSERT(g.header_size == LAYOUT_HEADER_SIZE);
                FUZZ_ASSERT(g.slot_stride >= LAYOUT_SLOT_HEAD + g.slot_size);
                FUZZ_ASSERT(g.total_size == g.header_size + (uint64_t)g.slot_stride * g.slots);
        }
        free(page);
        return check_flags;
}

/* --- part 2: a ring over fuzzed mutable state ---------------------------------------------- */

/* A zero-copy slot the harness holds: claimed (to commit or abort) or taken (to consume). */
typedef struct Held {
        uint8_t *payload;
        uint32_t me;
        bool taken;
        bool repaired; /* a repair of @me ran since: the slot may be gone */
} Held;

typedef struct Segment {
        Ring ring;
        uint8_t *map;
        uint8_t immutable[offsetof(MboxHeader, lock)];
        sem_t sem[_SEM_ROLE_MAX];
        int pipe[2];
        bool waited_for_lock;
        Held held[FUZZ_HELD_MAX];
        unsigned n_held;
} Segment;

static void segment_make(Segment *s, FuzzInput *in, bool with_fifo) {
        uint32_t slots = 1 + fuzz_u8(in) % FUZZ_RING_SLOTS_MAX;
        uint32_t slot_size = 1 + (uint32_t)fuzz_uint(in, 2) % FUZZ_RING_SLOT_SIZE_MAX;
        LayoutGeometry g;
        MboxHeader *h;

        FUZZ_ASSERT(layout_geometry(slots, slot_size, 0x6765, &g) == 0);
        s->map = aligned_alloc(LAYOUT_CACHE_LINE, g.total_size);
        FUZZ_ASSERT(s->map);
        memset(s->map, 0, g.total_size);
        layout_init(s->map, &g);
        memcpy(s->immutable, s->map, sizeof(s->immutable));
        s->ring = (Ring){ .hdr = (MboxHeader *)s->map, .base = s->map };
        FUZZ_ASSERT(layout_check(s->map, g.total_size, &s->ring.geo) == 0);
        for (unsigned role = 0; role < _SEM_ROLE_MAX; role++) {
                FUZZ_ASSERT(sem_init(&s->sem[role], 1, 0) == 0);
                s->ring.sem[role] = &s->sem[role];
        }
        s->pipe[0] = s->pipe[1] = -1;
        if (with_fifo) {
                FUZZ_ASSERT(pipe2(s->pipe, O_NONBLOCK | O_CLOEXEC) == 0);
                s->ring.has_fifo = true;
                s->ring.fifo_fd = s->pipe[0]; /* reads and writes: a FIFO opened O_RDWR is both */
        }

        /* what any attached process may have written */
        h = s->ring.hdr;
        atomic_store(&h->lock, fuzz_uint(in, 8));
        atomic_store(&h->abandoned, fuzz_uint(in, 8));
        atomic_store(&h->received, fuzz_uint(in, 8));
        atomic_store(&h->recovered, fuzz_uint(in, 8));
        atomic_store(&h->tail, fuzz_uint(in, 8));
        atomic_store(&h->head, fuzz_uint(in, 8));
        atomic_store(&h->epoch, fuzz_uint(in, 8));
        atomic_store(&h->flags, (uint32_t)fuzz_uint(in, 4));
        atomic_store(&h->repairs, fuzz_uint(in, 8));
        for (unsigned i = 0; i < LAYOUT_ATT_WORDS; i++)
                atomic_store(&h->items_sleepers[i], fuzz_uint(in, 8));
        for (unsigned i = 0; i < LAYOUT_ATT_WORDS; i++)
                atomic_store(&h->space_sleepers[i], fuzz_uint(in, 8));
        for (unsigned i = 0; i < LAYOUT_ATT_WORDS; i++)
                atomic_store(&h->pollers[i], fuzz_uint(in, 8));
        atomic_store(&h->fifo_signaled, (uint32_t)fuzz_uint(in, 4));
        for (unsigned a = 0; a < FUZZ_ATTS; a++)
                atomic_store(&h->att[fuzz_att_idx[a]], (uint32_t)fuzz_uint(in, 4));
        for (uint32_t i = 0; i < slots; i++) {
                SlotHead *sh = ring_slot(&s->ring, i);

                atomic_store(&sh->word, fuzz_uint(in, 8));
                sh->len = (uint32_t)fuzz_uint(in, 4);
                memset(ring_payload(&s->ring, i), 'a' + (int)i, slot_size);
        }
}

static void segment_done(Segment *s) {
        LayoutGeometry g;

        /* the ring never writes the immutable part */
        FUZZ_ASSERT(memcmp(s->map, s->immutable, sizeof(s->immutable)) == 0);
        FUZZ_ASSERT(layout_check(s->map, s->ring.geo.total_size, &g) == 0);
        FUZZ_ASSERT(geometry_eq(&g, &s->ring.geo));
        for (unsigned role = 0; role < _SEM_ROLE_MAX; role++)
                sem_destroy(&s->sem[role]);
        for (unsigned i = 0; i < 2; i++)
                if (s->pipe[i] >= 0)
                        close(s->pipe[i]);
        free(s->map);
}

/* Whether @p is the payload of one of the ring's slots. */
static bool is_payload(const Segment *s, const void *p) {
        const uint8_t *first = s->map + s->ring.geo.header_size + LAYOUT_SLOT_HEAD;
        const uint8_t *q = p;

        return q >= first && q < first + (uint64_t)s->ring.geo.slots * s->ring.geo.slot_stride &&
               (uint64_t)(q - first) % s->ring.geo.slot_stride == 0;
}

static void held_remove(Segment *s, unsigned i) {
        s->held[i] = s->held[--s->n_held];
}

/* A slot claimed or taken again was let go by a repair before: only the new hold is real. */
static void held_add(Segment *s, uint8_t *payload, uint32_t me, bool taken) {
        FUZZ_ASSERT(is_payload(s, payload));
        for (unsigned i = 0; i < s->n_held; i++)
                if (s->held[i].payload == payload) {
                        FUZZ_ASSERT(s->held[i].repaired);
                        held_remove(s, i);
                        break;
                }
        FUZZ_ASSERT(s->n_held < FUZZ_HELD_MAX);
        s->held[s->n_held++] = (Held){ .payload = payload, .me = me, .taken = taken };
}

static bool is_one_of(long r, const int *errs, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (r == -errs[i])
                        return true;
        return false;
}

/* The errnos send and receive may return with timeout 0 (ring.h). */
static const int io_errnos[] = { EMSGSIZE, EAGAIN, EIDRM, ESTALE, EBADMSG };

/* A length or capacity from @arg: 0, slot_size, slot_size + 1, or spread in between. */
static size_t size_from(uint8_t arg, uint32_t slot_size) {
        switch (arg) {
        case 255: return 0;
        case 254: return (size_t)slot_size + 1;
        case 253: return slot_size;
        default: return (size_t)arg * slot_size / 253;
        }
}

static void op_send(Segment *s, uint32_t me, unsigned idx, uint8_t arg) {
        static uint8_t data[FUZZ_RING_SLOT_SIZE_MAX + 1];
        size_t len = size_from(arg, s->ring.geo.slot_size);
        RingDeadline dl;
        int r;

        memset(data, 'S', sizeof(data));
        ring_deadline_init(&dl, 0);
        r = ring_send(&s->ring, me, idx, data, len, &dl);
        FUZZ_ASSERT(r == 0 || is_one_of(r, io_errnos, ELEMENTSOF(io_errnos)));
        if (len > s->ring.geo.slot_size)
                FUZZ_ASSERT(r == -EMSGSIZE);
}

static void op_recv(Segment *s, uint32_t me, unsigned idx, uint8_t arg, bool peek) {
        size_t cap = peek ? 0 : size_from(arg, s->ring.geo.slot_size);
        uint8_t *buf = peek ? NULL : malloc(cap ? cap : 1); /* exact size: overflows are reports */
        RingDeadline dl;
        ssize_t r;

        FUZZ_ASSERT(peek || buf);
        ring_deadline_init(&dl, 0);
        r = ring_recv(&s->ring, me, idx, buf, cap, &dl);
        if (r >= 0) {
                FUZZ_ASSERT((size_t)r <= s->ring.geo.slot_size);
                FUZZ_ASSERT(peek || (size_t)r <= cap);
        } else {
                FUZZ_ASSERT(is_one_of(r, io_errnos, ELEMENTSOF(io_errnos)));
        }
        free(buf);
}

static void op_send_many(Segment *s, uint32_t me, unsigned idx, uint8_t arg) {
        static uint8_t data[FUZZ_RING_SLOT_SIZE_MAX + 1];
        struct iovec iov[FUZZ_BATCH_MAX];
        size_t n = 1 + arg % FUZZ_BATCH_MAX;
        RingDeadline dl;
        int r;

        memset(data, 'B', sizeof(data));
        for (size_t i = 0; i < n; i++)
                iov[i] = (struct iovec){ .iov_base = data,
                                         .iov_len = size_from((uint8_t)(arg * (i + 3) * 37), s->ring.geo.slot_size) };
        ring_deadline_init(&dl, 0);
        r = ring_send_many(&s->ring, me, idx, iov, n, &dl);
        FUZZ_ASSERT((r >= 1 && (size_t)r <= n) || is_one_of(r, io_errnos, ELEMENTSOF(io_errnos)));
        if (iov[0].iov_len > s->ring.geo.slot_size)
                FUZZ_ASSERT(r == -EMSGSIZE);
}

static void op_recv_many(Segment *s, uint32_t me, unsigned idx, uint8_t arg) {
        struct iovec iov[FUZZ_BATCH_MAX];
        size_t lens[FUZZ_BATCH_MAX];
        size_t n = 1 + arg % FUZZ_BATCH_MAX;
        RingDeadline dl;
        ssize_t r;

        for (size_t i = 0; i < n; i++) {
                size_t cap = size_from((uint8_t)(arg * (i + 5) * 29), s->ring.geo.slot_size);

                iov[i] = (struct iovec){ .iov_base = malloc(cap ? cap : 1), .iov_len = cap };
                FUZZ_ASSERT(iov[i].iov_base);
        }
        ring_deadline_init(&dl, 0);
        r = ring_recv_many(&s->ring, me, idx, iov, n, lens, &dl);
        if (r >= 0) {
                FUZZ_ASSERT(r >= 1 && (size_t)r <= n);
                for (ssize_t i = 0; i < r; i++)
                        FUZZ_ASSERT(lens[i] <= iov[i].iov_len && lens[i] <= s->ring.geo.slot_size);
        } else {
                FUZZ_ASSERT(is_one_of(r, io_errnos, ELEMENTSOF(io_errnos)));
        }
        for (size_t i = 0; i < n; i++)
                free(iov[i].iov_base);
}

static void op_claim(Segment *s, uint32_t me, unsigned idx, uint8_t arg) {
        uint32_t want = 1 + arg % 3;
        RingDeadline dl;
        uint64_t pos;
        int r;

        if (want > FUZZ_HELD_MAX - s->n_held)
                return;
        ring_deadline_init(&dl, 0);
        r = ring_claim(&s->ring, me, idx, want, &dl, &pos);
        FUZZ_ASSERT((r >= 1 && (uint32_t)r <= want) || is_one_of(r, io_errnos, ELEMENTSOF(io_errnos)));
        for (int i = 0; i < r; i++)
                held_add(s, ring_payload(&s->ring, pos + (uint64_t)i), me, false);
}

static void op_take(Segment *s, uint32_t me, unsigned idx, uint8_t arg) {
        uint32_t want = arg % 4, len[4];
        size_t cap = arg & 0x80 ? SIZE_MAX : size_from((uint8_t)(arg * 11), s->ring.geo.slot_size);
        void *payload[4];
        RingDeadline dl;
        ssize_t r;

        if (want > FUZZ_HELD_MAX - s->n_held)
                return;
        ring_deadline_init(&dl, 0);
        r = ring_take(&s->ring, me, idx, want, cap, &dl, payload, len, NULL);
        if (r < 0) {
                FUZZ_ASSERT(is_one_of(r, io_errnos, ELEMENTSOF(io_errnos)));
                return;
        }
        if (want == 0) { /* the length of the oldest message */
                FUZZ_ASSERT((size_t)r <= s->ring.geo.slot_size);
                return;
        }
        FUZZ_ASSERT(r >= 1 && (uint32_t)r <= want);
        FUZZ_ASSERT(len[0] <= cap);
        for (ssize_t i = 0; i < r; i++) {
                FUZZ_ASSERT(len[i] <= s->ring.geo.slot_size);
                held_add(s, payload[i], me, true);
        }
}

/*
 * Finish a held slot: commit (with a length from @arg), abort, or consume, as @kind says. With
 * @bogus, the pointer is not a payload: -EINVAL and nothing changes; with @foreign, the token
 * is not the holder's: -ESTALE and nothing changes. A slot no repair can have touched must
 * succeed; once the call succeeded or said the slot is gone, it is let go.
 *
 * An abort, and a consume that finishes, pass head under the lock and wait for it as long as it
 * takes: they run only while nobody holds it, or this single thread would wait for itself.
 */
static void op_finish_held(Segment *s, FuzzOpKind kind, uint8_t arg, bool bogus, bool foreign, bool wake) {
        bool lock_free = atomic_load(&s->ring.hdr->lock) == 0;
        Held *h;
        int r;

        if (s->n_held == 0 || (kind == FUZZ_OP_ABORT && !lock_free))
                return;
        h = &s->held[arg % s->n_held];
        uint8_t *p = bogus ? h->payload + 1 : h->payload;
        uint32_t me = foreign ? h->me ^ 0x5a5a0000u : h->me;
        size_t len = size_from((uint8_t)(arg * 13), s->ring.geo.slot_size);

        switch (kind) {
        case FUZZ_OP_COMMIT: r = ring_commit(&s->ring, me, p, len, wake); break;
        case FUZZ_OP_ABORT: r = ring_abort(&s->ring, me, p); break;
        default: r = ring_consume(&s->ring, me, p, wake && lock_free); break;
        }
        FUZZ_ASSERT(r == 0 || r == -EINVAL || r == -ESTALE || r == -EMSGSIZE);
        if (kind == FUZZ_OP_COMMIT && len > s->ring.geo.slot_size) {
                FUZZ_ASSERT(r == -EMSGSIZE);
                return;
        }
        if (bogus) {
                FUZZ_ASSERT(r == -EINVAL);
                return;
        }
        if (foreign) { /* (once repaired, the slot may since be someone else's) */
                FUZZ_ASSERT(r == -ESTALE || h->repaired);
                return;
        }
        if (h->repaired) { /* gone, or someone's since: let it go */
                FUZZ_ASSERT(r == 0 || r == -ESTALE);
                held_remove(s, (unsigned)(h - s->held));
                return;
        }
        /* a claim commits or aborts, a take consumes: the wrong step is -ESTALE */
        if (h->taken != (kind == FUZZ_OP_CONSUME)) {
                FUZZ_ASSERT(r == -ESTALE);
                return;
        }
        FUZZ_ASSERT(r == 0);
        held_remove(s, (unsigned)(h - s->held));
}

static void op_poll(Segment *s, unsigned idx, uint8_t arg) {
        ring_poll(&s->ring, idx, arg & 1);
        if (s->ring.has_fifo)
                ring_fifo_settle(&s->ring);
}

static void op_repair(Segment *s, uint32_t dead, unsigned idx) {
        MboxHeader *h = s->ring.hdr;
        uint64_t lock_before = atomic_load(&h->lock), lock_after;
        RingRepair rep;
        int r;

        r = ring_repair(&s->ring, dead, idx, &rep);
        FUZZ_ASSERT(r == 0 || r == -EBUSY || r == -EBADMSG || r == -EINVAL);
        if (r == 0 || r == -EBADMSG)
                for (unsigned i = 0; i < s->n_held; i++)
                        if (s->held[i].me == dead)
                                s->held[i].repaired = true;
        /* whatever it took it released: a success leaves the lock free, a failure as it was
         * or free (when it found the corruption holding the lock) */
        lock_after = atomic_load(&h->lock);
        if (r == 0)
                FUZZ_ASSERT(lock_after == 0);
        else
                FUZZ_ASSERT(lock_after == lock_before || lock_after == 0);
        if (r == 0 && idx < LAYOUT_ATT_MAX) {
                uint64_t bit = UINT64_C(1) << (idx % 64);

                FUZZ_ASSERT(atomic_load(&h->att[idx]) != dead);
                FUZZ_ASSERT(!(atomic_load(&h->items_sleepers[idx / 64]) & bit));
                FUZZ_ASSERT(!(atomic_load(&h->space_sleepers[idx / 64]) & bit));
        }
        if (r == 0)
                FUZZ_ASSERT(rep.rolled <= 2 && rep.abandoned + rep.redelivered <= s->ring.geo.slots &&
                            rep.head_advanced <= s->ring.geo.slots);
}

static void op_count(Segment *s) {
        RingCounts c;

        ring_count(&s->ring, &c);
        if (c.tail - c.head > s->ring.geo.slots) {
                FUZZ_ASSERT(c.bad == 1);
                return;
        }
        FUZZ_ASSERT((uint64_t)c.ready + c.claimed + c.taken + c.done + c.abandoned + c.bad == c.tail - c.head);
}

static bool takes_lock(unsigned kind) {
        switch (kind) {
        case FUZZ_OP_SEND:
        case FUZZ_OP_RECV:
        case FUZZ_OP_PEEK:
        case FUZZ_OP_SEND_MANY:
        case FUZZ_OP_RECV_MANY:
        case FUZZ_OP_CLAIM:
        case FUZZ_OP_TAKE: return true;
        default: return false;
        }
}

/*
 * One operation: @kind; @who picks the attachment (bits 0-1), a token not issued to it (bit 2:
 * -ESTALE expected unless the input wrote that token into the table), an index beyond the
 * table (bit 3; for a held slot: a pointer that is not a payload), a wake-up or head pass at
 * once (bit 4, zero-copy); @arg sizes a send or receive, picks whom a repair is for, or which
 * held slot.
 */
static void run_op(Segment *s, uint8_t kind, uint8_t who, uint8_t arg) {
        MboxHeader *h = s->ring.hdr;
        unsigned a = who & 3, idx = fuzz_att_idx[a];
        uint32_t me = fuzz_att_token[a];
        uint64_t lock_before = atomic_load(&h->lock);

        /* With the lock held by someone, an operation that gets that far waits
         * RING_LOCK_NOWAIT_NS for it; once per input shows all there is to see, more would
         * only slow the fuzzer down to a crawl. */
        if (lock_before != 0 && takes_lock(kind % _FUZZ_OP_MAX)) {
                if (s->waited_for_lock)
                        return;
                s->waited_for_lock = true;
        }
        if (who & 4)
                me ^= 0x5a5a0000u;
        if (who & 8)
                idx = LAYOUT_ATT_MAX + (who >> 4);

        switch (kind % _FUZZ_OP_MAX) {
        case FUZZ_OP_SEND: op_send(s, me, idx, arg); break;
        case FUZZ_OP_RECV: op_recv(s, me, idx, arg, false); break;
        case FUZZ_OP_PEEK: op_recv(s, me, idx, arg, true); break;
        case FUZZ_OP_SEND_MANY: op_send_many(s, me, idx, arg); break;
        case FUZZ_OP_RECV_MANY: op_recv_many(s, me, idx, arg); break;
        case FUZZ_OP_CLAIM: op_claim(s, me, idx, arg); break;
        case FUZZ_OP_TAKE: op_take(s, me, idx, arg); break;
        case FUZZ_OP_COMMIT:
        case FUZZ_OP_ABORT:
        case FUZZ_OP_CONSUME: op_finish_held(s, kind % _FUZZ_OP_MAX, arg, who & 8, who & 4, who & 0x10); break;
        case FUZZ_OP_POLL: op_poll(s, idx, arg); return;
        case FUZZ_OP_REPAIR: {
                uint32_t dead;

                switch (arg & 3) {
                case 0: dead = me; break;
                case 1: dead = LOCK_TOKEN(atomic_load(&h->lock)); break;
                case 2:
                        dead = slot_word_token(atomic_load(&ring_slot(&s->ring, (arg >> 2) % s->ring.geo.slots)->word));
                        break;
                default:
                        dead = TOKEN_DAEMON;
                        idx = LAYOUT_ATT_MAX;
                        break;
                }
                op_repair(s, dead, idx);
                return;
        }
        default: op_count(s); return;
        }
        /* nothing but a repair leaves the lock held or takes it from its holder */
        if (lock_before == 0)
                FUZZ_ASSERT(atomic_load(&h->lock) == 0);
        else
                FUZZ_ASSERT(LOCK_TOKEN(atomic_load(&h->lock)) == LOCK_TOKEN(lock_before));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        FuzzInput in = { .p = data, .len = size };
        Segment s = {};

        uint8_t check_flags = fuzz_layout_check(&in);

        segment_make(&s, &in, check_flags & 2);
        for (unsigned n = 0; n < FUZZ_OPS_MAX && fuzz_left(&in) > 0; n++) {
                uint8_t kind = fuzz_u8(&in), who = fuzz_u8(&in), arg = fuzz_u8(&in);

                run_op(&s, kind, who, arg);
        }
        op_count(&s);
        segment_done(&s);
        return 0;
}
