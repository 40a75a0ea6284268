/* SPDX-License-Identifier: MIT */
/* fuzz-segment.c — fuzz target: every reader of a mailbox segment, on arbitrary images that
 * change while the reader runs.
 *
 * Any attached process can write anything into a mailbox it may use, at any moment (doc/design.md,
 * invariant 4). So the segment is input twice over: the image a reader starts on, and the
 * scribbles that land while it runs. This target builds a segment from the input (the
 * immutable part laid out by layout_init(), the mutable part — head, tail, lock, attachment
 * table, sleeper masks, counters, traffic counter blocks, slot words, lengths and meta words
 * (a request header's length, doc/ring.md "Request headers") — from selectors biased toward a
 * plausible ring, see segment_make()), schedules scribbles at chosen steps (fuzz.h), and runs a
 * sequence of readers on it:
 *
 *   ring_repair(); ring_count(); shmbox_stat() (client/introspect.c, on a box built here around
 *   the segment: it needs no daemon, only the mapping and the client's prefix) and after it the
 *   viewer shmbox_peek_at() (client/peek.c, proto/ring-peek.c); the receive and
 *   claim scans: ring_send/send_hdr/recv/send_many/recv_many, ring_claim + commit/abort,
 *   ring_take + request_decode() of each header it declares + consume, ring_poll + ring_fifo_settle + ring_wake_all; and the daemon's adoption — the real
 *   mailbox_adopt() of daemon/mailbox.c on a real segment in /dev/shm (with its semaphores and
 *   FIFO, made and removed around the call under the prefix fzseg<pid>), then what the manager
 *   does with an adopted mailbox (manager.c: adopt_mailboxes(), adopt_attachments(), which
 *   need a whole Manager and are static): the repair of a dead daemon's
 *   lock, the repair of every attachment in the table, mailbox_info(). The semaphores and the
 *   FIFO are made once per process and removed at its exit; an input that crashes the process
 *   leaves them (and possibly the segment) behind, as a crashed daemon would: under make check
 *   tests/run-suite.sh removes and reports them, after a libFuzzer crash remove
 *   /dev/shm/fzseg<pid>* and /dev/shm/sem.fzseg<pid>* by hand.
 *
 * The code under test is compiled with tests/fuzz/segment-hooks.h included first: each of its
 * atomic accesses is a step, a scheduled scribble lands before its step, the semaphores never
 * block and the clock is virtual. Each call has a budget of steps proportional to the slot
 * count (SEGMENT_BUDGET); a call that exceeds it is an unbounded loop, reported with the
 * reader's name. Every call must also return one of its documented values, keep its counts in
 * range and never touch memory outside the segment (the segment is a heap block of exactly its
 * size, so ASan sees any stray access) nor its immutable part. The stronger properties of a
 * call (the lock released, a repaired entry cleared) are checked only when no scribble landed
 * during it: a scribble may legitimately undo them.
 *
 * An image is consistent when the protocol itself can leave it: tail within a ring of head,
 * head below 2^63 (no real ring gets near the wrap of its 64-bit positions),
 * the lock free or held by an attachment of the table or by the daemon, every slot word one the
 * protocol writes for its position (and no "passed" word in [head, tail): today's passers move
 * head first), every length within slot_size, every meta word one a sender writes for its
 * length. On a consistent image, and as long as no
 * scribble landed, no reader may report corruption: -EBADMSG, or a slot counted as bad, is a
 * false alarm and a failure.
 *
 * Timeouts are 0 (never block) for most calls; some get a few ms or 1.5 s of virtual time, so
 * that the sleeper masks and the timed waits run too.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "client/client.h"
#include "daemon/mailbox.h"
#include "proto/layout.h"
#include "proto/names.h"
#include "proto/request.h"
#include "proto/ring.h"
#include "proto/wire.h"
#include "proto/util.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/segment-hooks.h"

/* client/introspect.c reads the library's fork generation; client.c, which defines it, is not
 * linked here (it is the socket side). */
atomic_uint client_fork_generation;

/* The attachments of the table: fuzz_att_idx[]/fuzz_att_token[] (fuzz.h), and one more whose
 * process is dead: the one a repair is usually for. */
#define DEAD_IDX 5u
#define DEAD_TOKEN 0x77u
#define N_ATTS (FUZZ_ATTS + 1)

static unsigned att_idx(unsigned a) {
        return a < FUZZ_ATTS ? fuzz_att_idx[a] : DEAD_IDX;
}

static uint32_t att_token(unsigned a) {
        return a < FUZZ_ATTS ? fuzz_att_token[a] : DEAD_TOKEN;
}

/* A token from a selector: nobody, an attachment, the daemon, or a scribble. */
static uint32_t seg_token(uint8_t sel) {
        switch (sel % 8) {
        case 0: return TOKEN_NONE;
        case 1:
        case 2:
        case 3:
        case 4: return att_token(sel % 8 - 1);
        case 5: return TOKEN_DAEMON;
        case 6: return DEAD_TOKEN;
        default: return 0xdeadbeefu;
        }
}

typedef struct Seg {
        Ring ring;
        /* a broadcast mailbox: each attachment's own subscriber state (what its process keeps
         * in its Ring: position, last take, losses), swapped into `ring` around its calls */
        Ring own[N_ATTS];
        uint8_t *map;
        uint8_t immutable[offsetof(MboxHeader, lock)];
        uint8_t flags;
        bool consistent; /* a state the protocol reaches: -EBADMSG is a false alarm (below) */
        int pipe[2];
} Seg;

static uint32_t slots_of(const Seg *s) {
        return s->ring.geo.slots;
}

/* The position slot @i stands for in the window [head, head + slots). */
static uint64_t window_pos(const Seg *s, uint64_t head, uint32_t i) {
        uint32_t n = slots_of(s);

        return head + ((uint64_t)i + n - head % n) % n;
}

/*
 * A slot word from its selectors. Below 0x80, @state_sel picks a word the protocol writes for
 * the slot's position in the window: inside [head, tail) a claimed, committed, taken or
 * finished one (or one passed already), at or after tail a free one (or finished a lap ago,
 * or still full). From 0x80 on, the state (6 and 7 are no state), the lap (its own, one off,
 * or far) and the token are picked freely.
 */
static uint64_t make_word(const Seg *s, uint64_t pos, bool inside, uint8_t state_sel, uint8_t lap_sel,
                          uint8_t token_sel) {
        uint32_t lap = ring_lap(&s->ring, pos);
        uint32_t token = seg_token(token_sel);

        if (state_sel < 0x80 && inside) {
                switch (state_sel % 8) {
                case 0:
                case 1: return slot_word(SLOT_READY, lap, token_sel & 8 ? token : 0);
                case 2: return slot_word(SLOT_CLAIMED, lap, token);
                case 3: return slot_word(SLOT_TAKEN, lap, token);
                case 4: return slot_word(SLOT_DONE, lap, 0);
                case 5: return slot_word(SLOT_ABANDONED, lap, 0);
                case 6: return slot_word(SLOT_FREE, lap + 1, 0); /* passed, head not moved yet */
                default: return slot_word(SLOT_READY, lap, token);
                }
        }
        if (state_sel < 0x80) {
                switch (state_sel % 4) {
                case 0:
                case 1: return slot_word(SLOT_FREE, lap, 0);
                case 2: return slot_word(state_sel & 4 ? SLOT_DONE : SLOT_ABANDONED, lap - 1, 0);
                default: return slot_word(SLOT_READY, lap - 1, token); /* the ring is full */
                }
        }
        switch (lap_sel % 8) {
        case 0:
        case 1:
        case 2: break;
        case 3: lap -= 1; break;
        case 4: lap += 1; break;
        case 5: lap += 2; break;
        case 6: lap = LAP_MASK; break;
        default: lap = (uint32_t)lap_sel << 16; break;
        }
        return slot_word(state_sel & 7, lap, token);
}

/*
 * A slot's meta word (SlotHead.meta) from @sel, for a message of @len stored bytes: below 0xc0,
 * 0 (a plain message); else one a sender writes, a request header of 8 to 128 bytes (cut to
 * what @len holds; 0 when that is less than 8), or, for @sel & 0x30 == 0x30, one no sender
 * writes (slot_meta_hdr() says which: the caller judges consistency by it).
 */
static uint32_t make_meta(uint8_t sel, uint32_t len) {
        uint32_t n = 8 * (1 + sel % 16);

        if (sel < 0xc0)
                return 0;
        if ((sel & 0x30) != 0x30) {
                n = MIN(n, len & ~7u);
                return n ? SLOT_META_HDR | n : 0;
        }
        switch (sel % 8) {
        case 0: return UINT32_MAX;
        case 1: return SLOT_META_HDR;                      /* a header of 0 bytes */
        case 2: return SLOT_META_HDR | 12;                 /* not a multiple of 8 */
        case 3: return SLOT_META_HDR | (SLOT_HDR_MAX + 8); /* too long */
        case 4: return SLOT_META_HDR | ((len + 8) & ~7u);  /* longer than the message */
        case 5: return 0x41000000u | 8;                    /* another kind */
        case 6: return SLOT_META_HDR | 0x10000u | 8;       /* bits between kind and length */
        default: return SLOT_META_HDR | n;                 /* fine if @len holds it */
        }
}

/*
 * A slot word of a broadcast mailbox (layout v3) from its selectors. Below 0x80, one the
 * protocol writes for the slot's position in the window: inside [head, tail) a claimed,
 * committed or abandoned one at its lap (nothing is ever taken or passed); at or after tail
 * the word of the position a lap before, finished or still claimed (FREE in the first lap).
 * From 0x80 on, as make_word() picks them.
 */
static uint64_t make_bcast_word(const Seg *s, uint64_t pos, bool inside, uint8_t state_sel, uint8_t lap_sel,
                                uint8_t token_sel) {
        uint32_t lap = ring_lap(&s->ring, pos);
        uint32_t token = seg_token(token_sel);

        if (state_sel >= 0x80)
                return make_word(s, pos, inside, state_sel, lap_sel, token_sel);
        if (inside) {
                switch (state_sel % 4) {
                case 0:
                case 1: return slot_word(SLOT_READY, lap, token_sel & 8 ? token : 0);
                case 2: return slot_word(SLOT_CLAIMED, lap, token);
                default: return slot_word(SLOT_ABANDONED, lap, 0);
                }
        }
        if (pos < slots_of(s))
                return slot_word(SLOT_FREE, lap, 0);
        switch (state_sel % 4) {
        case 0:
        case 1: return slot_word(SLOT_READY, lap - 1, token);
        case 2: return slot_word(SLOT_ABANDONED, lap - 1, 0);
        default: return slot_word(SLOT_CLAIMED, lap - 1, token); /* a sender of the last lap */
        }
}

/*
 * The subscribers of a broadcast mailbox, read after the slots (only for one: a queue's input
 * reads no more than before): u8 subs_sel, bit a: attachment a subscribes (its bit in subs,
 * its line, its own position); bit 5: the bit of an index nobody is attached at, too; then
 * per subscriber u8 pos_sel: its position, from head - 1 to head + slots + 1, or from 0xf0 on
 * a u64. A position outside [head, tail] makes the image inconsistent.
 */
static void seg_make_subs(Seg *s, FuzzInput *in, uint64_t head, uint64_t tail) {
        MboxHeader *h = s->ring.hdr;
        uint8_t subs_sel = fuzz_u8(in);

        for (unsigned a = 0; a < N_ATTS; a++) {
                unsigned idx = att_idx(a);
                uint8_t pos_sel;
                uint64_t p;

                s->own[a] = s->ring;
                if (!(subs_sel & (1u << a)))
                        continue;
                pos_sel = fuzz_u8(in);
                p = pos_sel < 0xf0 ? head - 1 + pos_sel % (slots_of(s) + 3) : fuzz_uint(in, 8);
                s->consistent &= p - head <= tail - head;
                atomic_store(&layout_sub(s->map, idx)->pos, p);
                atomic_fetch_or(&h->subs[idx / 64], UINT64_C(1) << (idx % 64));
                s->own[a].sub = layout_sub(s->map, idx);
                s->own[a].sub_pos = p;
                s->own[a].subscribed = true;
        }
        if (subs_sel & 0x20) {
                atomic_store(&layout_sub(s->map, 7)->pos, head);
                atomic_fetch_or(&h->subs[0], UINT64_C(1) << 7);
        }
}

/* A call of attachment @a on a broadcast mailbox runs with its own subscriber state. */
static void own_swap(Ring *to, const Ring *from) {
        to->sub = from->sub;
        to->subscribed = from->subscribed;
        to->overflow_pending = from->overflow_pending;
        to->sub_pos = from->sub_pos;
        to->missed = from->missed;
        to->bc_n = from->bc_n;
        memcpy(to->bc_pos, from->bc_pos, sizeof(to->bc_pos));
        memcpy(to->bc_word, from->bc_word, sizeof(to->bc_word));
}

static uint64_t offset_in(const Seg *s, const void *p) {
        return (uint64_t)((const uint8_t *)p - s->map);
}

static void seg_make(Seg *s, FuzzInput *in) {
        uint8_t slots_sel = fuzz_u8(in);
        uint32_t slots = 1 + slots_sel % FUZZ_SEG_SLOTS_MAX;
        uint32_t kind = (uint32_t)(slots_sel / FUZZ_SEG_SLOTS_MAX) % 3; /* LAYOUT_KIND_*: 0 in every older input */
        uint32_t slot_size = 1 + fuzz_u8(in) % FUZZ_SEG_SLOT_SIZE_MAX;
        uint8_t tail_sel, lock_sel, att_mask, sleepers, counters;
        uint64_t head, tail;
        LayoutGeometry g;
        MboxHeader *h;

        if (kind != LAYOUT_KIND_QUEUE)
                FUZZ_ASSERT(layout_geometry_kind(slots, slot_size, kind, FUZZ_SEG_GENERATION, &g) == 0);
        else
                FUZZ_ASSERT(layout_geometry(slots, slot_size, FUZZ_SEG_GENERATION, &g) == 0);
        s->map = aligned_alloc(LAYOUT_CACHE_LINE, g.total_size); /* exact: ASan sees a stray access */
        FUZZ_ASSERT(s->map);
        memset(s->map, 0, g.total_size);
        layout_init(s->map, &g);
        memcpy(s->immutable, s->map, sizeof(s->immutable));
        s->ring = (Ring){ .hdr = (MboxHeader *)s->map, .base = s->map, .fifo_fd = -1 };
        FUZZ_ASSERT(layout_check(s->map, g.total_size, &s->ring.geo) == 0);
        s->flags = fuzz_u8(in);
        s->pipe[0] = s->pipe[1] = -1;
        if (s->flags & FUZZ_SEG_F_FIFO) {
                FUZZ_ASSERT(pipe2(s->pipe, O_NONBLOCK | O_CLOEXEC) == 0);
                s->ring.has_fifo = true;
                s->ring.fifo_fd = s->pipe[1]; /* writes; settle's reads fail on it, harmlessly */
        }

        h = s->ring.hdr;
        head = fuzz_uint(in, 8);
        tail_sel = fuzz_u8(in);
        if (tail_sel < 0xf0)
                tail = head + tail_sel % (slots + 2); /* slots + 1: one too many */
        else
                tail = head - (tail_sel - 0xef); /* behind head */
        lock_sel = fuzz_u8(in);
        att_mask = fuzz_u8(in);
        sleepers = fuzz_u8(in);
        counters = fuzz_u8(in);
        atomic_store(&h->head, head);
        atomic_store(&h->tail, tail);
        atomic_store(&h->lock, seg_token(lock_sel) | (lock_sel & 8 ? LOCK_W : 0));
        /* positions never wrap: a real ring's stay far below 2^63 (292 years at a billion
         * messages a second), and past 2^64 pos % slots would jump for most slot counts */
        s->consistent = tail - head <= slots && tail_sel < 0xf0 && head < UINT64_C(1) << 63;
        switch (lock_sel % 8) {
        case 0:
        case 5: break; /* free, or the daemon's */
        case 1:
        case 2:
        case 3:
        case 4: /* an attachment's, if it is in the table */
                s->consistent &= (att_mask >> (lock_sel % 8 - 1)) & 1;
                break;
        case 6: s->consistent &= (att_mask >> FUZZ_ATTS) & 1; break;
        default: s->consistent = false; break;
        }
        for (unsigned a = 0; a < N_ATTS; a++)
                if (att_mask & (1u << a))
                        atomic_store(&h->att[att_idx(a)], att_token(a));
        for (unsigned a = 0; a < FUZZ_ATTS; a++) {
                uint64_t bit = UINT64_C(1) << (att_idx(a) % 64);

                if (sleepers & (1u << a))
                        atomic_fetch_or(&h->items_sleepers[att_idx(a) / 64], bit);
                if (sleepers & (16u << a)) {
                        atomic_fetch_or(&h->space_sleepers[att_idx(a) / 64], bit);
                        atomic_fetch_or(&h->pollers[att_idx(a) / 64], bit);
                }
        }
        atomic_store(&h->abandoned, counters & 3);
        atomic_store(&h->received, (counters >> 2) & 3);
        atomic_store(&h->recovered, (counters >> 4) & 3);
        atomic_store(&h->repairs, counters >> 6);
        atomic_store(&h->epoch, counters);
        /* the traffic counters (layout v2): each attachment's block and the retired totals,
         * small or close to the wrap, which the readers must sum with saturation */
        for (unsigned a = 0; a <= N_ATTS; a++) {
                AttCounters *b = a < N_ATTS ? layout_counters(s->map, att_idx(a)) : &h->retired;
                uint64_t base = counters & 0x80 ? UINT64_MAX - (counters & 0x3f) : counters & 0x3f;

#define SEED(f) atomic_store(&b->f, base - a);
                LAYOUT_COUNTER_FIELDS(SEED)
#undef SEED
        }
        if (s->flags & FUZZ_SEG_F_DESTROYED)
                atomic_store(&h->flags, HDR_DESTROYED);

        for (uint32_t i = 0; i < slots; i++) {
                uint64_t pos = window_pos(s, head, i);
                uint8_t state_sel = fuzz_u8(in), lap_sel = fuzz_u8(in), token_sel = fuzz_u8(in), len_sel = fuzz_u8(in);
                SlotHead *sh = ring_slot(&s->ring, pos);
                bool inside = pos - head < tail - head && tail - head <= slots;

                if (kind != LAYOUT_KIND_QUEUE) {
                        atomic_store(&sh->word, make_bcast_word(s, pos, inside, state_sel, lap_sel, token_sel));
                        s->consistent &= state_sel < 0x80 && len_sel <= 250;
                } else {
                        atomic_store(&sh->word, make_word(s, pos, inside, state_sel, lap_sel, token_sel));
                        s->consistent &= state_sel < 0x80 && len_sel <= 250 &&
                                         (inside ? state_sel % 8 != 6 : state_sel % 4 != 3);
                }
                sh->len = len_sel <= 250 ? len_sel * slot_size / 250 : slot_size + (len_sel - 250) * 0x1000000u;
                /* the meta word from the lap selector (which a consistent word does not use):
                 * mostly 0, else a request header's length, or a word no sender writes */
                sh->meta = make_meta(lap_sel, sh->len);
                s->consistent &= slot_meta_hdr(sh->meta, sh->len) >= 0;
                memset(ring_payload(&s->ring, i), 'a' + (int)i, slot_size);
        }
        if (kind != LAYOUT_KIND_QUEUE)
                seg_make_subs(s, in, head, tail);
}

/* A scribble that writes the word at @from plus @delta into @field. */
static void mut_relative(const Seg *s, SegmentMutation *m, const void *field, const void *from, uint64_t delta) {
        m->offset = (uint32_t)offset_in(s, field);
        m->from = (uint32_t)offset_in(s, from);
        m->value = delta;
}

/*
 * The scribbles of one call, read from the input before it: up to three, each aimed at a field
 * and landing in the mutable part. Each is u8 when, kind, target, arg (and a u64 for a raw
 * one). @when below 0x80: before the (1 + when % 4)-th access to that field by the call's
 * first reader, or with bit 4 by its (2 + when / 4 % 4)-th (a call may run several: a claim,
 * then its commits); from 0x80 on: before step 1 + (when & 0x3f) of its first or second
 * reader (bit 6; steps from 49 on are spread up to ~1000).
 */
static unsigned seg_schedule(Seg *s, FuzzInput *in, uint8_t n_sel, SegmentMutation mut[static 3]) {
        MboxHeader *h = s->ring.hdr;
        unsigned n = n_sel % 4;
        uint64_t head = atomic_load(&h->head);

        for (unsigned i = 0; i < n; i++) {
                SegmentMutation *m = &mut[i];
                uint8_t when = fuzz_u8(in), kind = fuzz_u8(in), target = fuzz_u8(in), arg = fuzz_u8(in);
                uint64_t delta = (uint64_t)(int64_t)(int8_t)arg;
                unsigned st = when & 0x3f;

                *m = (SegmentMutation){ .size = 8, .from = SEGMENT_FROM_VALUE };
                if (when < 0x80) {
                        m->nth = 1 + when % 4;
                        m->call = when & 0x10 ? 1 + when / 4 % 4 : 0;
                } else {
                        m->step = st < 48 ? 1 + st : 49 + (st - 48) * 64;
                        m->call = (when >> 6) & 1;
                }
                switch (kind % _FUZZ_SEG_MUT_MAX) {
                case FUZZ_SEG_MUT_HEAD_FROM_TAIL: mut_relative(s, m, &h->head, &h->tail, delta); break;
                case FUZZ_SEG_MUT_TAIL_FROM_HEAD: mut_relative(s, m, &h->tail, &h->head, delta); break;
                case FUZZ_SEG_MUT_HEAD_ADD: mut_relative(s, m, &h->head, &h->head, delta); break;
                case FUZZ_SEG_MUT_TAIL_ADD: mut_relative(s, m, &h->tail, &h->tail, delta); break;
                case FUZZ_SEG_MUT_SLOT: {
                        uint64_t pos = window_pos(s, head, target % slots_of(s));

                        if (arg & 0x80) {
                                /* its meta word (arg & 0x3f | 0xc0, as make_meta() reads it), at a
                                 * step: it is no atomic, so no access to it counts */
                                SlotHead *sh = ring_slot(&s->ring, pos);

                                m->offset = (uint32_t)offset_in(s, &sh->meta);
                                m->size = 4;
                                m->value = make_meta(0xc0 | (arg & 0x3f), sh->len);
                                if (m->nth) {
                                        m->nth = 0;
                                        m->step = 1 + when % 48;
                                }
                                break;
                        }
                        /* the state and lap in arg, as make_word() reads them from 0x80 on */
                        m->offset = (uint32_t)offset_in(s, &ring_slot(&s->ring, pos)->word);
                        m->value = make_word(s, pos + (arg & 0x40 ? slots_of(s) : 0), true, 0x80 | (arg & 7),
                                             (uint8_t)(arg >> 3), target >> 4);
                        break;
                }
                case FUZZ_SEG_MUT_LOCK:
                        m->offset = (uint32_t)offset_in(s, &h->lock);
                        m->value = seg_token(arg) | (arg & 8 ? LOCK_W : 0);
                        break;
                case FUZZ_SEG_MUT_ATT:
                        m->offset = (uint32_t)offset_in(s, &h->att[att_idx(target % N_ATTS)]);
                        m->size = 4;
                        m->value = seg_token(arg);
                        break;
                case FUZZ_SEG_MUT_COUNTER: {
                        /* a word of the counter block of an attachment of the table, or of the
                         * retired totals (target bit 7); in a broadcast mailbox with target bit
                         * 6, a subscriber's line: its position or its missed count */
                        if (s->ring.geo.kind != LAYOUT_KIND_QUEUE && (target & 0x40)) {
                                SubLine *l = layout_sub(s->map, att_idx(target % N_ATTS));

                                m->offset = (uint32_t)offset_in(s, arg & 1 ? (void *)&l->missed : (void *)&l->pos);
                                m->value =
                                        arg & 2 ? fuzz_uint(in, 8) : head + (uint64_t)(int64_t)(int8_t)(arg & 0xfc) / 4;
                                break;
                        }
                        AttCounters *b =
                                target & 0x80 ? &h->retired : layout_counters(s->map, att_idx(target % N_ATTS));

                        m->offset = (uint32_t)(offset_in(s, b) + (uint64_t)(arg % (sizeof(AttCounters) / 8)) * 8);
                        m->value = fuzz_uint(in, 8);
                        break;
                }
                default: {
                        /* a word of the mutable part, in the header page or in a slot head (not in
                         * the counter area between them, which would take most scribbles:
                         * FUZZ_SEG_MUT_COUNTER aims there) */
                        uint64_t head_words = (LAYOUT_HEADER_PAGE - offsetof(MboxHeader, lock)) / 8;
                        uint64_t words = head_words + (s->ring.geo.total_size - s->ring.geo.header_size) / 8;
                        uint64_t w = ((uint64_t)arg << 8 | target) % words;

                        m->offset = (uint32_t)(w < head_words ? offsetof(MboxHeader, lock) + w * 8
                                                              : s->ring.geo.header_size + (w - head_words) * 8);
                        m->value = fuzz_uint(in, 8);
                        break;
                }
                }
        }
        return n;
}

static void seg_done(Seg *s) {
        LayoutGeometry g;

        /* nothing writes the immutable part: not the code under test, not the scribbles */
        FUZZ_ASSERT(memcmp(s->map, s->immutable, sizeof(s->immutable)) == 0);
        FUZZ_ASSERT(layout_check(s->map, s->ring.geo.total_size, &g) == 0);
        for (unsigned i = 0; i < 2; i++)
                if (s->pipe[i] >= 0)
                        close(s->pipe[i]);
        free(s->map);
}

static bool is_one_of(long r, const int *errs, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (r == -errs[i])
                        return true;
        return false;
}

/* Whether a reader that says the ring is corrupt may be right: the image was not consistent,
 * or a scribble landed since. */
static bool may_be_corrupt(const Seg *s) {
        return !s->consistent || segment_hook_fired() > 0;
}

#define FUZZ_ASSERT_NOT_CORRUPT(s, r) FUZZ_ASSERT((r) != -EBADMSG || may_be_corrupt(s))

/* What send, receive, claim and take may return besides success (ring.h). */
static const int io_errnos[] = { EMSGSIZE, EAGAIN, ETIMEDOUT, EIDRM, ESTALE, EBADMSG };
#define IS_IO_ERRNO(r) is_one_of(r, io_errnos, ELEMENTSOF(io_errnos))
/* ... and a broadcast subscriber's receive: it lost messages, or it does not subscribe */
#define IS_RECV_ERRNO(s, r)                                                                                            \
        (IS_IO_ERRNO(r) || ((s)->ring.geo.kind != LAYOUT_KIND_QUEUE && ((r) == -EOVERFLOW || (r) == -EPERM)))

/* A length from @arg: 0, slot_size, slot_size + 1, or in between. */
static size_t size_from(uint8_t arg, uint32_t slot_size) {
        switch (arg) {
        case 255: return 0;
        case 254: return (size_t)slot_size + 1;
        case 253: return slot_size;
        default: return (size_t)arg * slot_size / 253;
        }
}

/* The deadline a call gets: mostly "never block", sometimes a few ms or 1.5 s (virtual). */
static void deadline_from(RingDeadline *dl, uint8_t who) {
        static const int timeout_ms[4] = { 0, 0, 5, 1500 };

        ring_deadline_init(dl, timeout_ms[(who >> 5) & 3]);
}

/* Each call runs between these two: counted, budgeted, and told whether a scribble landed. */
#define CALL(reader, expr) (segment_hook_begin(reader), (expr))
#define CALL_END() (segment_hook_end())

/* --- the readers of the ring --------------------------------------------------------------- */

static void op_repair(Seg *s, unsigned a, uint8_t arg) {
        MboxHeader *h = s->ring.hdr;
        uint32_t dead;
        unsigned idx = att_idx(a);
        RingRepair rep;
        bool quiet;
        int r;

        switch (arg & 3) {
        case 0: dead = att_token(a); break;
        case 1: dead = LOCK_TOKEN(atomic_load(&h->lock)); break;
        case 2: dead = slot_word_token(atomic_load(&ring_slot(&s->ring, (arg >> 2) % slots_of(s))->word)); break;
        default:
                dead = TOKEN_DAEMON;
                idx = LAYOUT_ATT_MAX;
                break;
        }
        r = CALL("ring_repair", ring_repair(&s->ring, dead, idx, &rep));
        quiet = CALL_END() == 0;
        FUZZ_ASSERT(r == 0 || r == -EBUSY || r == -EBADMSG || r == -EINVAL);
        FUZZ_ASSERT_NOT_CORRUPT(s, r);
        if (r == -EINVAL)
                FUZZ_ASSERT(dead == TOKEN_NONE || (dead == TOKEN_DAEMON) != (idx == LAYOUT_ATT_MAX));
        if (r == 0) {
                FUZZ_ASSERT(rep.abandoned + rep.redelivered <= slots_of(s));
                FUZZ_ASSERT(rep.head_advanced <= slots_of(s));
        }
        if (quiet && (r == 0 || r == -EBADMSG)) /* it released the lock it took */
                FUZZ_ASSERT(LOCK_TOKEN(atomic_load(&h->lock)) != TOKEN_DAEMON);
        if (quiet && r == 0 && idx < LAYOUT_ATT_MAX)
                FUZZ_ASSERT(atomic_load(&h->att[idx]) != dead);
}

static void op_count(Seg *s) {
        RingCounts c;
        uint64_t sum;

        CALL("ring_count", ring_count(&s->ring, &c));
        CALL_END();
        sum = (uint64_t)c.ready + c.claimed + c.taken + c.done + c.abandoned + c.bad;
        FUZZ_ASSERT(c.bad == 0 || may_be_corrupt(s));
        /* every meta word of a consistent image is one a sender writes for its length */
        FUZZ_ASSERT(!(c.corrupt & (RING_CORRUPT_META | RING_CORRUPT_LENGTH)) || may_be_corrupt(s));
        if (c.tail - c.head > slots_of(s)) {
                FUZZ_ASSERT(c.bad == 1 && sum == 1);
                return;
        }
        /* each position between its head and tail counted once, in one state */
        FUZZ_ASSERT(sum == c.tail - c.head);
}

/* The viewer: shmbox_peek_at() (client/peek.c, proto/ring-peek.c) walks from a cursor that
 * @arg places (the start, or a position near head or tail), with or without FOLLOW, into a
 * buffer of exactly @arg's size; it writes nothing, so the segment is compared before and
 * after when no scribble landed. A walk is at most slots + 2 calls that return a message. */
static void op_peek_at(Seg *s, shmbox *box, uint8_t arg) {
        size_t cap = size_from(arg, s->ring.geo.slot_size);
        uint8_t *buf = malloc(cap ? cap : 1), *before = malloc(s->ring.geo.total_size);
        unsigned flags = arg & 1 ? SHMBOX_PEEK_FOLLOW : 0;
        struct shmbox_cursor cur = { .pos = SHMBOX_CURSOR_START };
        uint64_t head = atomic_load_explicit(&s->ring.hdr->head, memory_order_relaxed);
        bool quiet = true;

        FUZZ_ASSERT(buf && before);
        memcpy(before, s->map, s->ring.geo.total_size);
        switch ((arg >> 1) & 3) {
        case 1: cur.pos = head - 1; break;
        case 2: cur.pos = head + (arg >> 3); break;
        case 3: cur.pos = (uint64_t)arg << 56; break;
        default: break;
        }
        box->rights = WIRE_RIGHT_R;
        for (uint32_t i = 0; i < s->ring.geo.slots + 2; i++) {
                uint64_t pos = cur.pos;
                ssize_t r = CALL("shmbox_peek_at", shmbox_peek_at(box, &cur, buf, cap, flags));

                quiet &= CALL_END() == 0;
                FUZZ_ASSERT(r >= 0 || r == -EAGAIN || r == -EMSGSIZE || r == -EIDRM || r == -EBADMSG);
                FUZZ_ASSERT_NOT_CORRUPT(s, r);
                if (r >= 0)
                        FUZZ_ASSERT((size_t)r <= cap && (size_t)r <= s->ring.geo.slot_size);
                if (r == -EMSGSIZE && pos != SHMBOX_CURSOR_START)
                        FUZZ_ASSERT(cur.pos >= pos); /* never backwards */
                if (r < 0)
                        break;
        }
        if (quiet && segment_hook_fired() == 0) /* a reader only: not one byte changed */
                FUZZ_ASSERT(memcmp(before, s->map, s->ring.geo.total_size) == 0);
        box->rights = 0;
        free(before);
        free(buf);
}

static void op_stat(Seg *s, unsigned a, uint8_t arg) {
        shmbox_client client = { .fd = -1, .prefix = "fuzz" };
        shmbox box = {
                .client = &client,
                .fork_gen = atomic_load(&client_fork_generation),
                .mapped = true,
                .ring = s->ring,
                .token = att_token(a),
                .idx = att_idx(a),
                .name = "segment",
        };
        struct shmbox_stat st;
        int r;

        r = CALL("shmbox_stat", shmbox_stat(&box, &st));
        CALL_END();
        FUZZ_ASSERT(r == 0 || r == -EBADMSG);
        FUZZ_ASSERT_NOT_CORRUPT(s, r);
        op_peek_at(s, &box, arg);
        if (r < 0)
                return;
        FUZZ_ASSERT(st.tail - st.head <= slots_of(s));
        FUZZ_ASSERT((uint64_t)st.ready + st.claimed + st.taken <= st.tail - st.head);
        FUZZ_ASSERT(st.recv_sleepers <= LAYOUT_ATT_MAX && st.send_sleepers <= LAYOUT_ATT_MAX);
        FUZZ_ASSERT(st.slots == slots_of(s) && st.map_size == s->ring.geo.total_size);
        FUZZ_ASSERT(memchr(st.segment, 0, sizeof(st.segment)));
}

static void op_send(Seg *s, uint32_t me, unsigned idx, uint8_t who, uint8_t arg) {
        static uint8_t data[FUZZ_SEG_SLOT_SIZE_MAX + 1];
        size_t len = size_from(arg, s->ring.geo.slot_size);
        RingDeadline dl;
        int r;

        memset(data, 'S', sizeof(data));
        deadline_from(&dl, who);
        if (who & 0x80) {
                /* with a request header: a real one (16 + a name of arg % 8 * 8 bytes) or, for
                 * an odd arg, arg % 16 * 8 + 8 bytes of anything */
                uint8_t hdr[SLOT_HDR_MAX];
                char name[NAMES_NAME_MAX + 1];
                size_t hlen;

                memset(name, 'n', sizeof(name));
                name[arg % 8 * 8] = '\0';
                memset(hdr, 'H', sizeof(hdr));
                hlen = arg & 1 ? (size_t)(8 + arg % 16 * 8) : request_encode(hdr, arg, name);
                r = CALL("ring_send_hdr", ring_send_hdr(&s->ring, me, idx, hdr, hlen, data, len, &dl));
                CALL_END();
                FUZZ_ASSERT(r == 0 || IS_IO_ERRNO(r));
                FUZZ_ASSERT_NOT_CORRUPT(s, r);
                if (hlen + len > s->ring.geo.slot_size)
                        FUZZ_ASSERT(r == -EMSGSIZE);
                return;
        }
        r = CALL("ring_send", ring_send(&s->ring, me, idx, data, len, &dl));
        CALL_END();
        FUZZ_ASSERT(r == 0 || IS_IO_ERRNO(r));
        FUZZ_ASSERT_NOT_CORRUPT(s, r);
        if (len > s->ring.geo.slot_size)
                FUZZ_ASSERT(r == -EMSGSIZE);
}

static void op_recv(Seg *s, uint32_t me, unsigned idx, uint8_t who, uint8_t arg) {
        bool peek = arg & 1;
        size_t cap = peek ? 0 : size_from(arg, s->ring.geo.slot_size);
        uint8_t *buf = peek ? NULL : malloc(cap ? cap : 1); /* exact size: an overflow is a report */
        RingDeadline dl;
        ssize_t r;

        FUZZ_ASSERT(peek || buf);
        deadline_from(&dl, who);
        r = CALL("ring_recv", ring_recv(&s->ring, me, idx, buf, cap, &dl));
        CALL_END();
        if (r >= 0) {
                FUZZ_ASSERT((size_t)r <= s->ring.geo.slot_size);
                FUZZ_ASSERT(peek || (size_t)r <= cap);
        } else {
                FUZZ_ASSERT(IS_RECV_ERRNO(s, r));
                FUZZ_ASSERT_NOT_CORRUPT(s, r);
        }
        free(buf);
}

#define BATCH_MAX 5u

static void op_send_many(Seg *s, uint32_t me, unsigned idx, uint8_t who, uint8_t arg) {
        static uint8_t data[FUZZ_SEG_SLOT_SIZE_MAX + 1];
        struct iovec iov[BATCH_MAX];
        size_t n = 1 + arg % BATCH_MAX;
        RingDeadline dl;
        int r;

        memset(data, 'B', sizeof(data));
        for (size_t i = 0; i < n; i++)
                iov[i] = (struct iovec){ .iov_base = data,
                                         .iov_len = size_from((uint8_t)(arg * (i + 3) * 37), s->ring.geo.slot_size) };
        deadline_from(&dl, who);
        r = CALL("ring_send_many", ring_send_many(&s->ring, me, idx, iov, n, &dl));
        CALL_END();
        FUZZ_ASSERT((r >= 1 && (size_t)r <= n) || IS_IO_ERRNO(r));
        FUZZ_ASSERT_NOT_CORRUPT(s, r);
}

static void op_recv_many(Seg *s, uint32_t me, unsigned idx, uint8_t who, uint8_t arg) {
        struct iovec iov[BATCH_MAX];
        size_t lens[BATCH_MAX];
        size_t n = 1 + arg % BATCH_MAX;
        RingDeadline dl;
        ssize_t r;

        for (size_t i = 0; i < n; i++) {
                size_t cap = size_from((uint8_t)(arg * (i + 5) * 29), s->ring.geo.slot_size);

                iov[i] = (struct iovec){ .iov_base = malloc(cap ? cap : 1), .iov_len = cap };
                FUZZ_ASSERT(iov[i].iov_base);
        }
        deadline_from(&dl, who);
        r = CALL("ring_recv_many", ring_recv_many(&s->ring, me, idx, iov, n, lens, &dl));
        CALL_END();
        if (r >= 0) {
                FUZZ_ASSERT(r >= 1 && (size_t)r <= n);
                for (ssize_t i = 0; i < r; i++)
                        FUZZ_ASSERT(lens[i] <= iov[i].iov_len && lens[i] <= s->ring.geo.slot_size);
        } else {
                FUZZ_ASSERT(IS_RECV_ERRNO(s, r));
                FUZZ_ASSERT_NOT_CORRUPT(s, r);
        }
        for (size_t i = 0; i < n; i++)
                free(iov[i].iov_base);
}

static bool is_payload(const Seg *s, const void *p) {
        const uint8_t *first = s->map + s->ring.geo.header_size + LAYOUT_SLOT_HEAD;
        const uint8_t *q = p;

        return q >= first && q < first + (uint64_t)slots_of(s) * s->ring.geo.slot_stride &&
               (uint64_t)(q - first) % s->ring.geo.slot_stride == 0;
}

/* Claim up to three slots, then commit or abort each: the claim scan, and the checks of the
 * slot a commit and an abort re-read. */
static void op_claim(Seg *s, uint32_t me, unsigned idx, uint8_t who, uint8_t arg) {
        uint32_t want = 1 + arg % 3;
        RingDeadline dl;
        uint64_t pos;
        int r;

        deadline_from(&dl, who);
        r = CALL("ring_claim", ring_claim(&s->ring, me, idx, want, &dl, &pos));
        CALL_END();
        FUZZ_ASSERT((r >= 1 && (uint32_t)r <= want) || IS_IO_ERRNO(r));
        FUZZ_ASSERT_NOT_CORRUPT(s, r);
        for (int i = 0; i < r; i++) {
                uint8_t *payload = ring_payload(&s->ring, pos + (uint64_t)i);
                int k;

                FUZZ_ASSERT(is_payload(s, payload));
                if (arg & (8 << i)) {
                        k = CALL("ring_abort", ring_abort(&s->ring, me, payload));
                } else {
                        size_t len = size_from((uint8_t)(arg * 7 + (unsigned)i), s->ring.geo.slot_size);

                        k = CALL("ring_commit", ring_commit(&s->ring, me, payload, len, arg & 0x80));
                        if (len > s->ring.geo.slot_size)
                                FUZZ_ASSERT(k == -EMSGSIZE);
                }
                CALL_END();
                FUZZ_ASSERT(k == 0 || k == -ESTALE || k == -EMSGSIZE);
        }
}

/* Take up to three messages (or peek a length), then consume each; the request header of
 * each, copied out as box_recv_hdr() does, goes through request_decode(). */
static void op_take(Seg *s, uint32_t me, unsigned idx, uint8_t who, uint8_t arg) {
        uint32_t want = arg % 4, len[3], hl[3];
        size_t cap = arg & 0x80 ? SIZE_MAX : size_from((uint8_t)(arg * 11), s->ring.geo.slot_size);
        void *payload[3];
        RingDeadline dl;
        ssize_t r;

        deadline_from(&dl, who);
        r = CALL("ring_take", ring_take(&s->ring, me, idx, want, cap, &dl, payload, len, hl));
        CALL_END();
        if (r < 0) {
                FUZZ_ASSERT(IS_RECV_ERRNO(s, r));
                FUZZ_ASSERT_NOT_CORRUPT(s, r);
                return;
        }
        if (want == 0) {
                FUZZ_ASSERT((size_t)r <= s->ring.geo.slot_size);
                return;
        }
        FUZZ_ASSERT(r >= 1 && (uint32_t)r <= want);
        FUZZ_ASSERT(hl[0] <= len[0] && len[0] - hl[0] <= cap); /* cap is the body's */
        for (ssize_t i = 0; i < r; i++) {
                uint8_t hdr[SLOT_HDR_MAX];
                Request q;
                int k;

                FUZZ_ASSERT(len[i] <= s->ring.geo.slot_size);
                FUZZ_ASSERT(is_payload(s, payload[i]));
                /* the ring validated the header's length against the length it read */
                FUZZ_ASSERT(hl[i] <= len[i] && hl[i] <= SLOT_HDR_MAX && hl[i] % 8 == 0);
                memcpy(hdr, payload[i], hl[i]);
                k = request_decode(hdr, hl[i], &q);
                FUZZ_ASSERT(k == 0 || k == -EBADMSG);
                if (k == 0)
                        FUZZ_ASSERT(strlen(q.reply_to) <= NAMES_NAME_MAX);
                k = CALL("ring_consume", ring_consume(&s->ring, me, payload[i], i == r - 1 || (arg & 0x40)));
                CALL_END();
                /* a broadcast copy a sender overwrote (-EOVERFLOW), or a word that changed
                 * without tail moving on (a scribble: -EBADMSG) */
                FUZZ_ASSERT(k == 0 || k == -ESTALE ||
                            (s->ring.geo.kind != LAYOUT_KIND_QUEUE && (k == -EOVERFLOW || k == -EBADMSG)));
                FUZZ_ASSERT_NOT_CORRUPT(s, k);
        }
}

static void op_poll(Seg *s, uint32_t me, unsigned idx, uint8_t who, uint8_t arg) {
        if (s->ring.geo.kind != LAYOUT_KIND_QUEUE && (arg & 2)) {
                /* a broadcast mailbox: subscribe (the lock, tail, the line and the bit) or stop */
                RingDeadline dl;
                int k;

                deadline_from(&dl, who);
                k = CALL("ring_subscribe", ring_subscribe(&s->ring, me, idx, !(arg & 4), &dl));
                CALL_END();
                FUZZ_ASSERT(k == 0 || k == -EAGAIN || k == -ETIMEDOUT || k == -EIDRM || k == -ESTALE || k == -EBADMSG);
                FUZZ_ASSERT_NOT_CORRUPT(s, k);
                if (k == 0 && !(arg & 4))
                        FUZZ_ASSERT(s->ring.subscribed && s->ring.sub == layout_sub(s->map, idx));
        }
        CALL("ring_poll", ring_poll(&s->ring, idx, arg & 1));
        CALL_END();
        CALL("ring_fifo_settle", ring_fifo_settle(&s->ring));
        CALL_END();
        CALL("ring_wake_all", ring_wake_all(&s->ring));
        CALL_END();
}

/* --- the daemon's adoption ----------------------------------------------------------------- */

/* The objects of the adopted mailbox in /dev/shm. The semaphores and the FIFO hold no state
 * the readers see: they are made once per process (at the first adoption) and removed at its
 * exit; the segment is made for each adoption and removed after it. */
static struct {
        char prefix[NAMES_PREFIX_MAX + 1];
        char segment[NAMES_OBJECT_MAX];
        char sem[_SEM_ROLE_MAX][NAMES_OBJECT_MAX];
        char fifo[NAMES_OBJECT_MAX + 16];
        bool made;
} objects;

#define ADOPT_NAME "m"

static void objects_remove(void) {
        (void)shm_unlink(objects.segment);
        for (int i = 0; i < _SEM_ROLE_MAX; i++)
                (void)sem_unlink(objects.sem[i]);
        (void)unlink(objects.fifo);
}

static void objects_make(void) {
        const char *stem = getenv("SHMBOX_TEST_PREFIX"); /* make check's, which it checks for leftovers */

        if (objects.made)
                return;
        if (stem && names_prefix_valid(stem))
                snprintf(objects.prefix, sizeof(objects.prefix), "%s", stem);
        else
                snprintf(objects.prefix, sizeof(objects.prefix), "fzseg%ld", (long)getpid());
        FUZZ_ASSERT(names_segment(objects.segment, sizeof(objects.segment), objects.prefix, ADOPT_NAME) == 0);
        for (int i = 0; i < _SEM_ROLE_MAX; i++)
                FUZZ_ASSERT(names_semaphore(objects.sem[i], sizeof(objects.sem[i]), objects.prefix, ADOPT_NAME,
                                            (SemRole)i, FUZZ_SEG_GENERATION) == 0);
        FUZZ_ASSERT(names_fifo(objects.fifo, sizeof(objects.fifo), objects.prefix, ADOPT_NAME, FUZZ_SEG_GENERATION) ==
                    0);
        objects_remove(); /* what a crashed run of the same pid (or test) left */
        for (int i = 0; i < _SEM_ROLE_MAX; i++) {
                sem_t *sem = sem_open(objects.sem[i], O_CREAT | O_EXCL, 0600, 0);

                FUZZ_ASSERT(sem != SEM_FAILED);
                sem_close(sem);
        }
        FUZZ_ASSERT(mkfifo(objects.fifo, 0600) == 0);
        FUZZ_ASSERT(atexit(objects_remove) == 0);
        objects.made = true;
}

/* The segment as a daemon left it: a copy of the image, @size bytes. Returns its descriptor. */
static int segment_publish(const Seg *s, uint64_t size) {
        size_t n = MIN(size, s->ring.geo.total_size);
        int fd;

        objects_make();
        fd = shm_open(objects.segment, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        FUZZ_ASSERT(fd >= 0);
        FUZZ_ASSERT(ftruncate(fd, (off_t)size) == 0);
        FUZZ_ASSERT(pwrite(fd, s->map, n, 0) == (ssize_t)n);
        return fd;
}

/* The repairs a daemon makes right after adopting (manager.c, adopt_attachments()): the lock
 * of a daemon that died in a repair, then every attachment of the table. */
static void adopt_repairs(const Seg *s, Mailbox *mb) {
        uint32_t tokens[LAYOUT_ATT_MAX];
        RingRepair rep;
        uint32_t holder;
        int r;

        holder = CALL("mailbox_lock_holder", mailbox_lock_holder(mb));
        CALL_END();
        if (holder == TOKEN_DAEMON) {
                r = CALL("mailbox_repair", mailbox_repair(mb, TOKEN_DAEMON, LAYOUT_ATT_MAX, &rep));
                CALL_END();
                FUZZ_ASSERT(r == 0 || r == -EBUSY || r == -EBADMSG);
                FUZZ_ASSERT_NOT_CORRUPT(s, r);
        }
        /* the table as mailbox_att_token() reads it, without its SIGBUS guard per entry: a
         * guarded call saves the signal mask, a system call, and 256 of them per input would
         * halve the rate of the fuzzer */
        segment_hook_begin("mailbox_att_token");
        for (unsigned idx = 0; idx < LAYOUT_ATT_MAX; idx++)
                tokens[idx] = atomic_load(&mb->ring.hdr->att[idx]);
        CALL_END();
        for (unsigned idx = 0; idx < LAYOUT_ATT_MAX; idx++) {
                if (tokens[idx] == TOKEN_NONE)
                        continue;
                r = CALL("mailbox_repair", mailbox_repair(mb, tokens[idx], idx, &rep));
                CALL_END();
                /* a token of 1 at an index is a scribble the repair refuses */
                FUZZ_ASSERT(r == 0 || r == -EBUSY || r == -EBADMSG || (r == -EINVAL && tokens[idx] == TOKEN_DAEMON));
                FUZZ_ASSERT_NOT_CORRUPT(s, r);
        }
}

/* What the daemon does with the counter blocks (daemon/mailbox.c): read each attachment's and
 * the retired totals for stats, sum them with saturation, fold one into the totals at its
 * release and zero it. Whatever the blocks hold, each read succeeds and nothing loops. */
static void adopt_counters(Mailbox *mb) {
        WireCounters total = {}, k;
        uint64_t fired = segment_hook_fired();
        int r;

        for (unsigned a = 0; a <= N_ATTS; a++) {
                unsigned idx = a < N_ATTS ? att_idx(a) : LAYOUT_ATT_MAX;

                r = CALL("mailbox_counters", mailbox_counters(mb, idx, &k));
                CALL_END();
                FUZZ_ASSERT(r == 0);
                mailbox_counters_add(&total, &k);
                FUZZ_ASSERT(total.sent >= k.sent && total.recv_wait_ns >= k.recv_wait_ns);
        }
        segment_hook_begin("mailbox_counters_retire");
        mailbox_counters_retire(mb, att_idx(0));
        CALL_END();
        r = CALL("mailbox_counters", mailbox_counters(mb, att_idx(0), &k));
        CALL_END();
        FUZZ_ASSERT(r == 0);
        if (segment_hook_fired() == fired)
                FUZZ_ASSERT(k.sent == 0 && k.full == 0 && k.recv_wait_ns == 0);
        segment_hook_begin("mailbox_counters_clear");
        mailbox_counters_clear(mb, att_idx(1));
        CALL_END();
}

static void op_adopt(Seg *s) {
        uint64_t size = s->ring.geo.total_size - (s->flags & FUZZ_SEG_F_SHORT ? LAYOUT_CACHE_LINE : 0);
        uint64_t generation = FUZZ_SEG_GENERATION + (s->flags & FUZZ_SEG_F_OTHER_GEN ? 1 : 0);
        uint32_t claimed, taken, holder;
        Mailbox *mb = NULL;
        WireInfo info;
        uint8_t *map;
        int fd, r;

        fd = segment_publish(s, size);
        map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        FUZZ_ASSERT(map != MAP_FAILED);
        segment_hook_retarget(map, size); /* the scribbles land in the daemon's segment now */

        r = CALL("mailbox_adopt", mailbox_adopt(objects.prefix, ADOPT_NAME, generation, getuid(), getgid(), 0600, &mb));
        CALL_END();
        FUZZ_ASSERT(r == 0 || r == -EBADMSG);
        if (r == 0) {
                FUZZ_ASSERT(size == s->ring.geo.total_size && generation == FUZZ_SEG_GENERATION);
                adopt_repairs(s, mb);
                CALL("mailbox_info", mailbox_info(mb, &info, &claimed, &taken, &holder, NULL));
                CALL_END();
                adopt_counters(mb);
                FUZZ_ASSERT(info.slots == slots_of(s));
                FUZZ_ASSERT((uint64_t)info.queued + info.claimed + info.taken <= slots_of(s));
                mailbox_free(mb);
        } else
                FUZZ_ASSERT(size != s->ring.geo.total_size || generation != FUZZ_SEG_GENERATION);

        /* what the daemon did is the ring the next readers see */
        memcpy(s->map, map, MIN(size, s->ring.geo.total_size));
        segment_hook_retarget(s->map, s->ring.geo.total_size);
        munmap(map, size);
        close(fd);
        (void)shm_unlink(objects.segment);
}

/* --- the input ----------------------------------------------------------------------------- */

static void run_reader(Seg *s, unsigned a, uint32_t me, unsigned idx, uint8_t reader, uint8_t who, uint8_t arg);

/* The readers that send or receive (the others repair, count, look or adopt). */
static bool is_ring_call(uint8_t reader) {
        switch (reader % _FUZZ_SEG_MAX) {
        case FUZZ_SEG_SEND:
        case FUZZ_SEG_RECV:
        case FUZZ_SEG_SEND_MANY:
        case FUZZ_SEG_RECV_MANY:
        case FUZZ_SEG_CLAIM:
        case FUZZ_SEG_TAKE: return true;
        default: return false;
        }
}

static void run_call(Seg *s, uint8_t reader, uint8_t who, uint8_t arg) {
        unsigned a = who % N_ATTS;
        unsigned idx = att_idx(a);
        uint32_t me = att_token(a);
        uint64_t lock_before = atomic_load(&s->ring.hdr->lock), lock_after;
        uint64_t fired_before = segment_hook_fired();

        if (who & 8)
                me ^= 0x5a5a0000u; /* not the token of that index: -ESTALE */
        if (who & 16)
                idx = LAYOUT_ATT_MAX + (who >> 6);
        /* the caller's counter block, as a box has it (client/box.c): the ring counts there */
        s->ring.mine = idx < LAYOUT_ATT_MAX ? layout_counters(s->map, idx) : NULL;

        if (s->ring.geo.kind != LAYOUT_KIND_QUEUE)
                own_swap(&s->ring, &s->own[a]);
        run_reader(s, a, me, idx, reader, who, arg);
        if (s->ring.geo.kind != LAYOUT_KIND_QUEUE)
                own_swap(&s->own[a], &s->ring);
        /* a send or receive that nobody disturbed leaves the lock as it found it (it may add
         * the W bit to a lock it waited for) */
        if (!is_ring_call(reader))
                return;
        lock_after = atomic_load(&s->ring.hdr->lock);
        if (segment_hook_fired() == fired_before)
                FUZZ_ASSERT(LOCK_TOKEN(lock_after) == LOCK_TOKEN(lock_before) &&
                            (LOCK_TOKEN(lock_before) != TOKEN_NONE || lock_after == 0 || lock_after == lock_before));
}

static void run_reader(Seg *s, unsigned a, uint32_t me, unsigned idx, uint8_t reader, uint8_t who, uint8_t arg) {
        switch (reader % _FUZZ_SEG_MAX) {
        case FUZZ_SEG_REPAIR: op_repair(s, a, arg); return;
        case FUZZ_SEG_COUNT: op_count(s); return;
        case FUZZ_SEG_STAT: op_stat(s, a, arg); return;
        case FUZZ_SEG_SEND: op_send(s, me, idx, who, arg); break;
        case FUZZ_SEG_RECV: op_recv(s, me, idx, who, arg); break;
        case FUZZ_SEG_SEND_MANY: op_send_many(s, me, idx, who, arg); break;
        case FUZZ_SEG_RECV_MANY: op_recv_many(s, me, idx, who, arg); break;
        case FUZZ_SEG_CLAIM: op_claim(s, me, idx, who, arg); break;
        case FUZZ_SEG_TAKE: op_take(s, me, idx, who, arg); break;
        case FUZZ_SEG_POLL: op_poll(s, me, idx, who, arg); return;
        default: op_adopt(s); return;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        FuzzInput in = { .p = data, .len = size };
        Seg s = {};

        seg_make(&s, &in);
        segment_hook_setup(s.map, s.ring.geo.total_size, slots_of(&s));
        for (unsigned n = 0; n < FUZZ_SEG_CALLS_MAX && fuzz_left(&in) > 0; n++) {
                uint8_t reader = fuzz_u8(&in), who = fuzz_u8(&in), arg = fuzz_u8(&in), n_mut = fuzz_u8(&in);
                SegmentMutation mut[3];

                segment_hook_schedule(mut, seg_schedule(&s, &in, n_mut, mut));
                run_call(&s, reader, who, arg);
        }
        segment_hook_schedule(NULL, 0);
        op_count(&s);
        seg_done(&s);
        return 0;
}
