/* SPDX-License-Identifier: MIT */
/* ring.h — the mailbox ring and its lock: send, receive and repair on a mapped segment. */
#pragma once

#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "proto/layout.h"
#include "proto/names.h"

/* Every sleep is bounded: a missed wake-up costs latency, never liveness. A waiter sleeps a
 * slice at first; while its slices run out with nothing posted, each is twice the last, up to
 * RING_SLICE_MAX_NS (ring.c: ring_wait). */
#define RING_SLICE_NS (1000 * 1000 * 1000L)
#define RING_SLICE_MAX_NS (8 * RING_SLICE_NS)

#define RING_BATCH_MAX_ 64 /* RING_BATCH_MAX, before Ring needs it */

/* A view of one mapped mailbox. All geometry is the validated private copy. */
typedef struct Ring {
        MboxHeader *hdr;
        uint8_t *base; /* the mapping */
        LayoutGeometry geo;
        sem_t *sem[_SEM_ROLE_MAX];
        uint32_t spin_ns;  /* how long a waiter polls before it sleeps (0: sleep at once) */
        AttCounters *mine; /* this attachment's counter block in the mapping (a client's box; NULL
                            * in the daemon and the explorer: nothing is counted) */
        bool has_fifo;     /* fifo_fd is open (a client's box; never in the daemon) */
        int fifo_fd;       /* the mailbox's FIFO, O_RDWR|O_NONBLOCK */
        /* the safety slice, in ms (0: RING_SLICE_NS, doubling to RING_SLICE_MAX_NS while idle).
         * test-ring lengthens it to tell a wake-up from a slice that ran out by a margin no
         * load or valgrind can close */
        uint32_t slice_ms;
        /* bytes a batch copies before it shows its progress (0: RING_BATCH_FLUSH_BYTES); the
         * explorer makes it 1 so that its small messages take the large ones' path too */
        uint32_t batch_flush_bytes;
        /* for the probes: ns the call waited for room or a message, set by its waits
         * (ring_wait); the caller zeroes it before the call */
        uint64_t wait_ns;

        /* a box of a broadcast mailbox (geo.kind != LAYOUT_KIND_QUEUE), proto/bcast.c: */
        SubLine *sub;                      /* its line in the mapping, where it publishes its position */
        bool subscribed;                   /* it receives (ring_subscribe()) */
        bool overflow_pending;             /* it fell behind inside a batch: the next take says -EOVERFLOW */
        uint64_t sub_pos;                  /* the next position it reads: its own copy, the one it trusts */
        uint64_t missed;                   /* messages lost at its last -EOVERFLOW */
        uint32_t bc_n;                     /* the messages of its last take, for the consumes: */
        uint64_t bc_pos[RING_BATCH_MAX_];  /* their positions */
        uint64_t bc_word[RING_BATCH_MAX_]; /* and their slot words, as the take read them */
        /* a client's box of a broadcast mailbox: the subscribers' FIFOs, for the senders'
         * signals (shmbox_fd, proto/bcast.c): names_sub_fifo_base() (NULL: none), and the
         * ones this box opened (sub_fd[i] is valid where sub_fd_open has bit i) */
        char *sub_fifo_base;
        uint64_t sub_fd_open[LAYOUT_ATT_WORDS];
        int sub_fd[LAYOUT_ATT_MAX];
} Ring;

#define RING_DEFAULT_SPIN_NS 10000u

/* A deadline on CLOCK_MONOTONIC; `forever` ignores `at`, `now` means never block. */
typedef struct RingDeadline {
        bool forever;
        bool now;
        struct timespec at;
} RingDeadline;

void ring_deadline_init(RingDeadline *d, int timeout_ms);

static inline SlotHead *ring_slot(const Ring *r, uint64_t pos) {
        return (SlotHead *)(r->base + r->geo.header_size + (pos % r->geo.slots) * r->geo.slot_stride);
}
static inline uint8_t *ring_payload(const Ring *r, uint64_t pos) {
        return (uint8_t *)ring_slot(r, pos) + LAYOUT_SLOT_HEAD;
}
static inline uint32_t ring_lap(const Ring *r, uint64_t pos) {
        return (uint32_t)(pos / r->geo.slots) & LAP_MASK;
}

/* Messages one batch call moves at most. */
#define RING_BATCH_MAX RING_BATCH_MAX_
/* Bytes a batch copies before it shows the other side what it has done so far: a batch sender
 * wakes the receivers, a batch receiver passes head and wakes the senders. Small messages still
 * get one wake-up a batch; large ones pipeline as single sends do, instead of one side copying
 * the whole batch while the other waits for its end (32 x 1 MiB batches moved 0.4x the rate of
 * single sends that way). */
#define RING_BATCH_FLUSH_BYTES (32u * 1024u)

struct iovec;

int ring_send(Ring *r, uint32_t me, unsigned idx, const void *data, size_t len, const RingDeadline *dl);
ssize_t ring_recv(Ring *r, uint32_t me, unsigned idx, void *buf, size_t cap, const RingDeadline *dl);
int ring_send_hdr(Ring *r, uint32_t me, unsigned idx, const void *hdr, size_t hlen, const void *data, size_t len,
                  const RingDeadline *dl);
int ring_send_many(Ring *r, uint32_t me, unsigned idx, const struct iovec *msgs, size_t n, const RingDeadline *dl);
ssize_t ring_recv_many(Ring *r, uint32_t me, unsigned idx, const struct iovec *bufs, size_t n, size_t *ret_lens,
                       const RingDeadline *dl);

/* The steps, for zero-copy: claim/commit/abort for writers, take/consume for readers. */
int ring_claim(Ring *r, uint32_t me, unsigned idx, uint32_t want, const RingDeadline *dl, uint64_t *ret_pos);
int ring_commit(Ring *r, uint32_t me, void *payload, size_t len, bool wake_now);
int ring_abort(Ring *r, uint32_t me, void *payload);
ssize_t ring_take(Ring *r, uint32_t me, unsigned idx, uint32_t want, size_t cap, const RingDeadline *dl,
                  void **ret_payload, uint32_t *ret_len, uint32_t *ret_hdr);
int ring_consume(Ring *r, uint32_t me, const void *payload, bool finish);
int ring_held(const Ring *r, uint32_t me, const void *payload, unsigned state, uint64_t *ret_word);

/* What a repair found and did (for the daemon's log line and the crash tests). */
typedef struct RingRepair {
        bool held_lock;         /* the dead session held the lock */
        unsigned rolled;        /* half-done critical-section steps rolled forward */
        unsigned abandoned;     /* CLAIMED slots abandoned */
        unsigned redelivered;   /* TAKEN slots turned back to READY */
        unsigned head_advanced; /* slots head passed */
} RingRepair;

int ring_repair(Ring *r, uint32_t dead, unsigned idx, RingRepair *ret);

/* Broadcast mailboxes (proto/bcast.c): start or stop receiving every message; close the
 * subscribers' FIFOs a box opened to signal them. */
int ring_subscribe(Ring *r, uint32_t me, unsigned idx, bool on, const RingDeadline *dl);
void bcast_fifo_close(Ring *r);
void ring_wake_all(Ring *r);
void ring_fifo_settle(Ring *r);
bool ring_fifo_due(Ring *r);
void ring_poll(Ring *r, unsigned idx, bool on);
void ring_mark_destroyed(Ring *r);

/* What ring_count() found impossible, confirmed by a second snapshot (the same values as
 * SHMBOX_INFO_CORRUPT_* of client/shmbox.h, which the library checks). */
#define RING_CORRUPT_POSITIONS 1u /* tail - head > slots, or tail past a slot not claimed */
#define RING_CORRUPT_SLOT 2u      /* a slot word in a state or lap impossible at its position */
#define RING_CORRUPT_LENGTH 4u    /* a READY or TAKEN slot's length above slot_size */
#define RING_CORRUPT_LOCK 8u      /* the lock held by a token in no attachment entry */
#define RING_CORRUPT_COUNTERS 16u /* received beyond what sent, recovered and repairs allow */
#define RING_CORRUPT_SEGMENT 32u  /* the segment is shorter than its layout (the daemon's check) */
#define RING_CORRUPT_META 64u     /* a READY or TAKEN slot's meta word no sender writes */

/* A consistent-enough snapshot for info: counts of slots per state in [head, tail). */
typedef struct RingCounts {
        uint64_t head, tail;
        uint64_t abandoned_total, sent; /* sent is derived: tail - abandoned - claimed */
        uint64_t repairs;
        uint32_t oldest_claimed_token, oldest_taken_token; /* the first from head */
        uint64_t oldest_claimed_stamp, oldest_taken_stamp; /* CLOCK_MONOTONIC_COARSE ns */
        uint32_t ready, claimed, taken, done, abandoned, bad;
        uint32_t lock_holder;
        bool lock_waiters;
        uint64_t received, recovered; /* the header's counters, as read */
        uint32_t corrupt;             /* RING_CORRUPT_* */
} RingCounts;

void ring_count(const Ring *r, RingCounts *ret);
