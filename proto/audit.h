/* SPDX-License-Identifier: MIT */
/* audit.h — what the daemon reads of a ring to check it against its own books: whether anyone
 * waits and whether anything moved (a cheap look), and who holds the lock, the attachment entries
 * and the slots (the audit). Read without the lock; nothing here writes. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "proto/layout.h"
#include "proto/ring.h"

/* What one look at a ring found: the words that move when anything happens, and whether a
 * process waits (a sleeper or poller bit, or the lock's W bit). */
typedef struct RingPeek {
        uint64_t head, tail, lock, head_word;
        bool waiters;
} RingPeek;

void ring_peek(const Ring *r, RingPeek *ret);

/* Whether nothing moved between two looks. The lock's W bit is left out: a waiter that comes
 * to a held lock sets it, which is no progress. */
static inline bool ring_peek_same(const RingPeek *a, const RingPeek *b) {
        return a->head == b->head && a->tail == b->tail && LOCK_TOKEN(a->lock) == LOCK_TOKEN(b->lock) &&
               a->head_word == b->head_word;
}

/* Distinct tokens an audit collects from the slots at most; the others wait for the next one. */
#define RING_AUDIT_HOLDERS 16u

/* Who holds what in a ring, as shared memory says. */
typedef struct RingAudit {
        uint32_t lock;                        /* the lock's holder (TOKEN_NONE: free) */
        uint32_t att[LAYOUT_ATT_MAX];         /* the attachment table */
        uint32_t holders[RING_AUDIT_HOLDERS]; /* tokens of CLAIMED and TAKEN words in [head, tail) */
        unsigned n_holders;
        bool more; /* more distinct holders than fit */
        bool bad;  /* tail - head > slots: the slots were not read */
} RingAudit;

void ring_audit_read(const Ring *r, RingAudit *ret);
