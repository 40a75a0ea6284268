/* SPDX-License-Identifier: MIT */
/* ring-peek.c — reading the messages of a ring without taking them: the lock-free walk behind
 * shmbox_peek_at() and `shmboxctl peek`.
 *
 * A peek is a reader that writes nothing: it never takes the lock, never changes a slot word,
 * head, tail or any counter, and so can neither slow nor disturb senders and receivers (no
 * shared cache line is written). It walks positions from a cursor the caller keeps, and for a
 * position p (doc/ring.md, "The words"):
 *
 *   p below head            receivers passed it before we looked: counted as missed, the
 *                           cursor jumps to head
 *   word of another lap     not claimed yet (one lap behind), or passed meanwhile (head is
 *                           read again to tell): the end for now
 *   FREE at p's lap         not claimed yet: the end for now
 *   CLAIMED                 being written: passed over, or with RING_PEEK_FOLLOW the end for
 *                           now (shown once committed, so a follower misses no message)
 *   ABANDONED               never committed: passed over
 *   READY                   copied
 *   TAKEN, DONE             passed over, or with RING_PEEK_FOLLOW copied: the payload stays
 *                           in the slot until head passes it and a sender claims it a lap on
 *
 * The copy is a snapshot in the manner of a seqlock: the word is loaded, then the length, the
 * payload is copied, and the word is loaded again. Without RING_PEEK_FOLLOW the word must be
 * the same (still READY, same lap and token: nobody took it meanwhile); with it, it must still
 * be at p's lap in READY, TAKEN or DONE (no sender claimed the slot a lap on). Otherwise the
 * copy is dropped and counted as changed. A lap is 24 bits: a reader stopped for 2^24 laps of
 * the ring between its two loads could accept a torn copy, as the ring itself could
 * (doc/ring.md, "Limits").
 *
 * Every shared value is input (doc/design.md, invariant 4): head may be anything, a word any
 * bits, a length any number. The walk is bounded by a count of steps fixed from the validated
 * geometry, a length above slot_size is never used, and positions at or beyond head + slots
 * (which no sender can have claimed) are never looked at, so no lap can alias.
 */
#include "config.h"

#include "proto/ring-peek.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "proto/layout.h"

/* Whether a copy of the message of word @w (at @lap) is still good once the word reads @w2. */
static bool peek_unchanged(uint64_t w, uint64_t w2, uint32_t lap, unsigned flags) {
        unsigned st = slot_word_state(w2);

        if (!(flags & RING_PEEK_FOLLOW))
                return w2 == w;
        return slot_word_lap(w2) == lap && (st == SLOT_READY || st == SLOT_TAKEN || st == SLOT_DONE);
}

/*
 * ring_peek_at() - copy the next message at or after the cursor, without taking it
 * @r:     the ring (its geometry validated)
 * @c:     the cursor: pos is the next position to look at (RING_PEEK_START: head); missed and
 *         changed are added to
 * @flags: 0 or RING_PEEK_FOLLOW
 * @buf, @cap: where the payload goes
 *
 * Reads only: no lock, no store to the segment, no system call, at most 2 * slots + 4 steps.
 * On success the cursor is past the message copied; on -EAGAIN it is at the first position
 * not shown yet (call again later: with RING_PEEK_FOLLOW, every message committed at or past
 * it will be shown, unless receivers pass it first, which is counted as missed). -EAGAIN may
 * also come after the step budget, with the cursor moved on: call again.
 *
 * Return: the message's length; -EAGAIN: nothing more now; -EMSGSIZE: the message at the
 *         cursor is longer than @cap (the cursor stays on it); -EIDRM: destroyed; -EBADMSG: a
 *         slot word in no state, or a length above slot_size (or a meta word no sender
 *         writes) that did not change. A message's request header is not copied: the
 *         length is its body's (doc/ring.md, "Request headers").
 */
ssize_t ring_peek_at(const Ring *r, RingCursor *c, unsigned flags, void *buf, size_t cap) {
        const uint32_t slots = r->geo.slots;
        uint64_t head;

        if (atomic_load_explicit(&r->hdr->flags, memory_order_relaxed) & HDR_DESTROYED)
                return -EIDRM;
        head = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
        if (c->pos == RING_PEEK_START)
                c->pos = head;

        for (uint32_t step = 0; step < 2 * slots + 4; step++) {
                uint64_t p = c->pos, w, w2;
                uint32_t lap = ring_lap(r, p), len;
                SlotHead *s;
                int hl;

                if (p < head) {
                        c->missed += head - p;
                        c->pos = head;
                        continue;
                }
                if (p - head >= slots)
                        return -EAGAIN; /* no sender can have claimed it yet */
                s = ring_slot(r, p);
                w = atomic_load_explicit(&s->word, memory_order_acquire);
                if (slot_word_lap(w) != lap) {
                        uint64_t h = atomic_load_explicit(&r->hdr->head, memory_order_acquire);

                        if (h > p) { /* passed meanwhile: count it as missed, from the new head */
                                head = h;
                                continue;
                        }
                        return -EAGAIN; /* one lap behind: not claimed yet */
                }
                switch (slot_word_state(w)) {
                case SLOT_FREE: return -EAGAIN;
                case SLOT_CLAIMED:
                        if (flags & RING_PEEK_FOLLOW)
                                return -EAGAIN;
                        c->pos = p + 1;
                        continue;
                case SLOT_ABANDONED: c->pos = p + 1; continue;
                case SLOT_READY: break;
                case SLOT_TAKEN:
                case SLOT_DONE:
                        if (flags & RING_PEEK_FOLLOW)
                                break;
                        c->pos = p + 1;
                        continue;
                default: return -EBADMSG;
                }

                len = *(volatile uint32_t *)&s->len;                     /* read once, use the copy */
                hl = slot_meta_hdr(*(volatile uint32_t *)&s->meta, len); /* a request header: not shown */
                if (len > r->geo.slot_size || hl < 0) {
                        /* a sender writes the length before its commit: a stale word? */
                        if (atomic_load_explicit(&s->word, memory_order_acquire) == w)
                                return -EBADMSG;
                        c->changed++;
                        c->pos = p + 1;
                        continue;
                }
                len -= (uint32_t)hl;
                if (len > cap)
                        return -EMSGSIZE;
                if (len > 0)
                        memcpy(buf, ring_payload(r, p) + hl, len);
                atomic_thread_fence(memory_order_acquire); /* the copy before the second look */
                w2 = atomic_load_explicit(&s->word, memory_order_relaxed);
                c->pos = p + 1;
                if (!peek_unchanged(w, w2, lap, flags)) {
                        c->changed++;
                        continue;
                }
                return (ssize_t)len;
        }
        return -EAGAIN;
}
