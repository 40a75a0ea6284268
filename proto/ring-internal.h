/* SPDX-License-Identifier: MIT */
/* ring-internal.h — what proto/ring.c lends proto/bcast.c: the lock, the waits and the wake-ups.
 *
 * Only the two files of the ring include this. The queue's message path keeps its inlined
 * versions in ring.c; a broadcast mailbox calls these out-of-line ones (doc/ring.md,
 * "Broadcast mailboxes").
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "proto/ring.h"

/* What one call's waits have found so far (ring.c explains each field, above waiter_settle()). */
typedef struct RingWaiter {
        unsigned quiet; /* waits in a row whose slice ran out, nothing posted */
        unsigned wakes; /* waits that returned to the caller, who found nothing and came back */
        unsigned stale; /* drains that found posts nobody gave for us */
        bool woken;     /* a post was taken: the caller passes it on if more work is left */
        bool blocked;   /* the call found nothing to do (full, or empty): its slow path */
        bool waited;    /* ... and waited (spun or slept), since `since` */
        struct timespec since;
} RingWaiter;

int ring_i_lock(Ring *r, uint32_t me, const RingDeadline *dl);
int ring_i_unlock(Ring *r, uint32_t me);
int ring_i_enter(Ring *r, uint32_t me, unsigned idx, SemRole role);
int ring_i_wait(Ring *r, SemRole role, unsigned idx, bool (*ready)(const Ring *), const RingDeadline *dl,
                RingWaiter *wt);
void ring_i_wake(Ring *r, SemRole role, unsigned n);
void ring_i_count_header(const Ring *r, RingCounts *ret);

/* bcast.c, for ring.c: the broadcast side of the claim, the take, the consume and the count */
bool bcast_has_space(const Ring *r);
int bcast_claimable(Ring *r, uint64_t q, SlotHead *s, uint32_t lap, uint64_t *ret_word);
ssize_t bcast_take(Ring *r, uint32_t me, unsigned idx, uint32_t want, size_t cap, const RingDeadline *dl,
                   void **ret_payload, uint32_t *ret_len, uint32_t *ret_hdr, RingWaiter *wt);
int bcast_consume(Ring *r, const SlotHead *s);
void bcast_count(const Ring *r, RingCounts *ret);
void bcast_fifo_signal(Ring *r);
void bcast_wake_subs(Ring *r);
void bcast_fifo_settle(Ring *r);
void bcast_poll(Ring *r, unsigned idx, bool on);
