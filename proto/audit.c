/* SPDX-License-Identifier: MIT */
/* audit.c — the reads of the daemon's audit of a ring (daemon/audit.c says what it does with
 * them). Like ring_count(), a walk of the validated local count of positions, never of a value
 * read again from shared memory; a word is a holding only at the lap of its position, so a slot
 * claimed again meanwhile for a later lap is not mistaken for one. */
#include "config.h"

#include "proto/audit.h"

#include <stdatomic.h>

/*
 * ring_peek() - the head, tail, lock and the word at head, and whether anyone waits
 *
 * About twenty loads, no system call: cheap enough to look at every mailbox often.
 */
void ring_peek(const Ring *r, RingPeek *ret) {
        MboxHeader *h = r->hdr;
        RingPeek p = {};
        uint64_t any = 0;

        p.lock = atomic_load(&h->lock);
        p.head = atomic_load(&h->head);
        p.tail = atomic_load(&h->tail);
        p.head_word = atomic_load(&ring_slot(r, p.head)->word);
        for (unsigned i = 0; i < LAYOUT_ATT_WORDS; i++)
                any |= atomic_load(&h->items_sleepers[i]) | atomic_load(&h->space_sleepers[i]) |
                       atomic_load(&h->pollers[i]);
        p.waiters = any != 0 || (p.lock & LOCK_W);
        *ret = p;
}

static void holder_add(RingAudit *a, uint32_t token) {
        for (unsigned i = 0; i < a->n_holders; i++)
                if (a->holders[i] == token)
                        return;
        if (a->n_holders < RING_AUDIT_HOLDERS)
                a->holders[a->n_holders++] = token;
        else
                a->more = true;
}

/*
 * ring_audit_read() - the lock's holder, the attachment table, and the distinct tokens that hold
 * CLAIMED or TAKEN slots between head and tail
 *
 * At most LAYOUT_ATT_MAX + slots + a few loads.
 */
void ring_audit_read(const Ring *r, RingAudit *ret) {
        MboxHeader *h = r->hdr;
        RingAudit a = {};
        uint64_t head, tail;

        a.lock = LOCK_TOKEN(atomic_load(&h->lock));
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++)
                a.att[i] = atomic_load_explicit(&h->att[i], memory_order_relaxed);
        head = atomic_load(&h->head);
        tail = atomic_load(&h->tail);
        if (tail - head > r->geo.slots) {
                a.bad = true;
                *ret = a;
                return;
        }
        for (uint32_t i = 0, n = (uint32_t)(tail - head); i < n; i++) {
                uint64_t p = head + i;
                uint64_t w = atomic_load_explicit(&ring_slot(r, p)->word, memory_order_relaxed);
                unsigned st = slot_word_state(w);

                if ((st == SLOT_CLAIMED || st == SLOT_TAKEN) && slot_word_lap(w) == ring_lap(r, p) &&
                    slot_word_token(w) != TOKEN_NONE)
                        holder_add(&a, slot_word_token(w));
        }
        *ret = a;
}
