/* fuzz-header.c — fuzz target for the code that reads a mailbox from shared memory.
 *
 * Any attached process can write anything into a mailbox it may use (DESIGN.md, invariant 4),
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
 *    receive and peek with timeout 0, repair, count. Each must return a value of its contract
 *    (0 or a length within bounds, or one of its documented negative errnos) and never crash
 *    or hang; none may leave the lock held; none may touch the immutable part; a repair that
 *    ran releases the lock and the entry of the dead.
 *
 * The semaphores are unnamed and process-shared, as in tests/test-ring.c; they are made anew
 * for every input, so a post left by one input does not shorten a wait in the next.
 */
#include "config.h"

#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/layout.h"
#include "proto/ring.h"
#include "proto/util.h"
#include "tests/fuzz/fuzz.h"

/* --- part 1: the immutable header --------------------------------------------------------- */

static bool geometry_eq(const LayoutGeometry *a, const LayoutGeometry *b) {
        return a->slots == b->slots && a->slot_size == b->slot_size &&
               a->slot_stride == b->slot_stride && a->header_size == b->header_size &&
               a->generation == b->generation && a->total_size == b->total_size;
}

static void fuzz_layout_check(FuzzInput *in) {
        static const LayoutGeometry sentinel = {
                .slots = 0xdead, .slot_size = 0xbeef, .slot_stride = 0xf00d,
                .header_size = 0xcafe, .generation = 0x5555, .total_size = 0xaaaa,
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
}

/* --- part 2: a ring over fuzzed mutable state ---------------------------------------------- */

typedef struct Segment {
        Ring ring;
        uint8_t *map;
        uint8_t immutable[offsetof(MboxHeader, lock)];
        sem_t sem[_SEM_ROLE_MAX];
        bool waited_for_lock;
} Segment;

static void segment_make(Segment *s, FuzzInput *in) {
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
        free(s->map);
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

static void op_repair(Segment *s, uint32_t dead, unsigned idx) {
        MboxHeader *h = s->ring.hdr;
        uint64_t lock_before = atomic_load(&h->lock), lock_after;
        RingRepair rep;
        int r;

        r = ring_repair(&s->ring, dead, idx, &rep);
        FUZZ_ASSERT(r == 0 || r == -EBUSY || r == -EBADMSG || r == -EINVAL);
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
        FUZZ_ASSERT((uint64_t)c.ready + c.claimed + c.taken + c.done + c.abandoned + c.bad ==
                    c.tail - c.head);
}

/*
 * One operation: @kind; @who picks the attachment (bits 0-1), a token not issued to it (bit 2:
 * -ESTALE expected unless the input wrote that token into the table), an index beyond the
 * table (bit 3); @arg sizes a send or receive, or picks whom a repair is for.
 */
static void run_op(Segment *s, uint8_t kind, uint8_t who, uint8_t arg) {
        MboxHeader *h = s->ring.hdr;
        unsigned a = who & 3, idx = fuzz_att_idx[a];
        uint32_t me = fuzz_att_token[a];
        uint64_t lock_before = atomic_load(&h->lock);

        /* With the lock held by someone, a send or receive that gets that far waits
         * RING_LOCK_NOWAIT_NS for it; once per input shows all there is to see, more would
         * only slow the fuzzer down to a crawl. */
        if (lock_before != 0 && kind % _FUZZ_OP_MAX <= FUZZ_OP_PEEK) {
                if (s->waited_for_lock)
                        return;
                s->waited_for_lock = true;
        }
        if (who & 4)
                me ^= 0x5a5a0000u;
        if (who & 8)
                idx = LAYOUT_ATT_MAX + (who >> 4);

        switch (kind % _FUZZ_OP_MAX) {
        case FUZZ_OP_SEND:
                op_send(s, me, idx, arg);
                break;
        case FUZZ_OP_RECV:
                op_recv(s, me, idx, arg, false);
                break;
        case FUZZ_OP_PEEK:
                op_recv(s, me, idx, arg, true);
                break;
        case FUZZ_OP_REPAIR: {
                uint32_t dead;

                switch (arg & 3) {
                case 0: dead = me; break;
                case 1: dead = LOCK_TOKEN(atomic_load(&h->lock)); break;
                case 2:
                        dead = slot_word_token(atomic_load(
                                &ring_slot(&s->ring, (arg >> 2) % s->ring.geo.slots)->word));
                        break;
                default:
                        dead = TOKEN_DAEMON;
                        idx = LAYOUT_ATT_MAX;
                        break;
                }
                op_repair(s, dead, idx);
                return;
        }
        default:
                op_count(s);
                return;
        }
        /* send and receive never leave the lock held, nor take it from its holder */
        if (lock_before == 0)
                FUZZ_ASSERT(atomic_load(&h->lock) == 0);
        else
                FUZZ_ASSERT(LOCK_TOKEN(atomic_load(&h->lock)) == LOCK_TOKEN(lock_before));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        FuzzInput in = { .p = data, .len = size };
        Segment s = {};

        fuzz_layout_check(&in);

        segment_make(&s, &in);
        for (unsigned n = 0; n < FUZZ_OPS_MAX && fuzz_left(&in) > 0; n++) {
                uint8_t kind = fuzz_u8(&in), who = fuzz_u8(&in), arg = fuzz_u8(&in);

                run_op(&s, kind, who, arg);
        }
        op_count(&s);
        segment_done(&s);
        return 0;
}
