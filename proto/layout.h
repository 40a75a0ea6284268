/* SPDX-License-Identifier: MIT */
/* layout.h — the mailbox segment in shared memory: header, slot words, and their validation.
 *
 * The segment is `header_size` bytes of header followed by `slots` slots of `slot_stride`
 * bytes. The header is the header page (MboxHeader) and, since layout version 2, the counter
 * area: one AttCounters block per attachment index (doc/ring.md, "Counters"). Each slot is a 64-byte slot head (the slot word on its own cache line, the length)
 * and then the payload. Everything here is read by processes that do not trust each other:
 * layout_check() validates the immutable part once, and the ring (ring.c) validates every
 * mutable field it reads.
 */
#pragma once

#include <semaphore.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LAYOUT_MAGIC UINT64_C(0x31584f424d485300) /* "\0SHMBOX1" little-endian */
#define LAYOUT_VERSION 2u /* 1: no counter area (shmbox 0.2); a v1 segment is refused (NEWS, 0.3.0) */
/* A broadcast mailbox (LAYOUT_KIND_BROADCAST, _OVERWRITE): version 2 plus the kind word and
 * the subscriber area. Its own version, so that a library that knows only queues refuses it
 * (-EPROTO) instead of taking messages from a ring whose slots are never taken (doc/ring.md,
 * "Broadcast mailboxes"). A queue stays version 2, byte for byte. */
#define LAYOUT_VERSION_BCAST 3u

/* The kind of a mailbox, immutable (MboxHeader.kind, version 3 only). */
#define LAYOUT_KIND_QUEUE 0u     /* each message to one receiver */
#define LAYOUT_KIND_BROADCAST 1u /* each message to every subscriber; senders wait for the slowest */
#define LAYOUT_KIND_OVERWRITE 2u /* each message to every subscriber; senders never wait for them */
#define LAYOUT_CACHE_LINE 64u
#define LAYOUT_SLOT_HEAD 64u

/* Attachments per mailbox: each owns one bit of each sleeper mask and one token entry. */
#define LAYOUT_ATT_MAX 256u
#define LAYOUT_ATT_WORDS (LAYOUT_ATT_MAX / 64u)

/* Tokens identify the holder of anything a crash can strand. Issued by the daemon, per
 * attachment; 0 is nobody, 1 is the daemon itself (while it repairs). */
#define TOKEN_NONE 0u
#define TOKEN_DAEMON 1u
#define TOKEN_FIRST 2u

/* The lock word: holder token in the low 32 bits, W set when someone may sleep on it. */
#define LOCK_W (UINT64_C(1) << 32)
#define LOCK_TOKEN(v) ((uint32_t)(v))

/* Header flags. */
#define HDR_DESTROYED 1u

/* Slot states. FREE is 0, so a zero-filled segment is a ring of free slots at lap 0. */
typedef enum SlotState {
        SLOT_FREE = 0,
        SLOT_CLAIMED = 1,   /* a sender holds it (token), payload being written */
        SLOT_READY = 2,     /* committed: complete and visible */
        SLOT_TAKEN = 3,     /* a receiver holds it (token), payload being read */
        SLOT_DONE = 4,      /* consumed; head will pass it */
        SLOT_ABANDONED = 5, /* its sender died before committing; head will pass it */
        _SLOT_STATE_MAX,
} SlotState;

/* Slot word: state:8 | lap:24 | token:32. lap(p) = (p / slots) mod 2^24. */
#define LAP_MASK 0xffffffu
static inline uint64_t slot_word(unsigned state, uint32_t lap, uint32_t token) {
        return ((uint64_t)(state & 0xff) << 56) | ((uint64_t)(lap & LAP_MASK) << 32) | token;
}
static inline unsigned slot_word_state(uint64_t w) {
        return (unsigned)(w >> 56);
}
static inline uint32_t slot_word_lap(uint64_t w) {
        return (uint32_t)(w >> 32) & LAP_MASK;
}
static inline uint32_t slot_word_token(uint64_t w) {
        return (uint32_t)w;
}

typedef struct SlotHead {
        _Atomic uint64_t word;
        uint32_t len; /* written by the sender before the commit CAS; untrusted */
        /* 0: a plain message; SLOT_META_HDR | n: the first n bytes of len are a request header
         * (doc/ring.md, "Request headers"). Written with len; untrusted. It was reserved0, 0 in
         * every segment before it: no layout version change */
        uint32_t meta;
        uint64_t stamp; /* CLOCK_MONOTONIC_COARSE ns of the last claim or take: diagnostics only */
        uint8_t reserved[LAYOUT_SLOT_HEAD - 24];
} SlotHead;

/*
 * The slot's meta word (SlotHead.meta): 0 for a plain message, else the kind in the high byte
 * (SLOT_META_HDR: the payload starts with a request header, proto/request.h) and the header's
 * length in bytes in the low 16 bits, a multiple of 8 from 8 to SLOT_HDR_MAX, at most len.
 * Any other value is corrupt. The ring strips the header for plain receives; what the header
 * says is proto/request.c's business, validated where it is used.
 */
#define SLOT_META_HDR 0x52000000u  /* 'R' in the kind byte */
#define SLOT_META_KIND 0xff000000u /* the kind byte; the bits between it and the length are 0 */
#define SLOT_META_LEN 0x0000ffffu
#define SLOT_HDR_MAX 128u

/* The header length that @meta declares for a message of @len stored bytes: 0 for a plain
 * message, -1 for a meta word no sender writes (the caller reports -EBADMSG). */
static inline int slot_meta_hdr(uint32_t meta, uint32_t len) {
        uint32_t h = meta & SLOT_META_LEN;

        if (__builtin_expect(meta == 0, 1))
                return 0;
        if ((meta & ~SLOT_META_LEN) != SLOT_META_HDR || h == 0 || h % 8 || h > SLOT_HDR_MAX || h > len)
                return -1;
        return (int)h;
}

/*
 * The traffic counters of one attachment index (layout version 2): two cache lines of their
 * own, in the counter area after the header page, written only by the process attached at
 * that index, with relaxed loads and stores (one writer: no read-modify-write, no lock), and
 * read by the daemon, which sums them for info and metrics. A send or receive that does not
 * wait stores only to the first line of its own block; the wait fields change only on the
 * slow path. The daemon zeroes a block when it hands its index out, and when it releases the
 * index it adds the block to `retired` in the header first, so totals survive a detach.
 * Any attached process can write any block: the values are untrusted, summed with saturation
 * and never used for control flow (doc/ring.md, "Counters").
 * The blocks are 128 bytes and 128-aligned so that no two share a cache line or an
 * adjacent-line prefetch pair.
 */
typedef struct AttCounters {
        /* the fast path: every send or receive that completes (ring.c: count_sent, count_received) */
        alignas(2 * LAYOUT_CACHE_LINE) _Atomic uint64_t sent; /* committed messages */
        _Atomic uint64_t sent_bytes;
        _Atomic uint64_t received; /* consumed messages */
        _Atomic uint64_t received_bytes;
        /* the slow path only: calls that had to wait, and for how long (CLOCK_MONOTONIC ns) */
        _Atomic uint64_t send_waits, send_wait_ns;
        _Atomic uint64_t recv_waits, recv_wait_ns;
        /* calls that ended at their deadline (-ETIMEDOUT, or -EAGAIN with timeout 0) */
        alignas(LAYOUT_CACHE_LINE) _Atomic uint64_t send_timeouts;
        _Atomic uint64_t recv_timeouts;
        _Atomic uint64_t full; /* sends (calls) that found the ring full */
        _Atomic uint64_t reserved[5];
} AttCounters;

#define ATT_COUNTERS_N 11u /* the fields above, in order, before `reserved` */
/* X(field) for each counter, in the order of the block (the wire and the public API follow it) */
/* clang-format off */
#define LAYOUT_COUNTER_FIELDS(X)                                                                                       \
        X(sent)                                                                                                        \
        X(sent_bytes) X(received) X(received_bytes) X(send_waits) X(send_wait_ns) X(recv_waits) X(recv_wait_ns)        \
                X(send_timeouts) X(recv_timeouts) X(full)
/* clang-format on */
#define LAYOUT_COUNTERS_OFFSET 4096u /* the counter area: right after the header page */
#define LAYOUT_COUNTERS_SIZE (LAYOUT_ATT_MAX * (uint32_t)sizeof(AttCounters))

_Static_assert(sizeof(AttCounters) == 2 * LAYOUT_CACHE_LINE, "a counter block is two cache lines");
_Static_assert(offsetof(AttCounters, send_timeouts) == LAYOUT_CACHE_LINE, "layout v2: the slow line");
_Static_assert(offsetof(AttCounters, reserved) == ATT_COUNTERS_N * 8, "ATT_COUNTERS_N fields");

/*
 * The header. Groups that different parties write live on separate cache lines: the lock and
 * the statistics changed under it; tail; head; the rarely written control words; the sleeper
 * masks (written by sleepers, read by every poster); the attachment table (daemon-written).
 */
typedef struct MboxHeader {
        /* immutable after publication, covered by `checksum` (detects accidents, not attacks) */
        alignas(LAYOUT_CACHE_LINE) uint64_t magic;
        uint32_t version;
        uint32_t header_size; /* offset of slot 0 */
        uint32_t slots;
        uint32_t slot_size;   /* largest payload */
        uint32_t slot_stride; /* LAYOUT_SLOT_HEAD + slot_size rounded up to a cache line */
        uint32_t checksum;
        uint64_t generation; /* unique per creation of a name: the client checks it at attach */
        uint64_t total_size;
        uint32_t kind; /* LAYOUT_KIND_*: 0 in version 2; covered by the checksum in version 3 */
        uint32_t reserved_imm;

        alignas(LAYOUT_CACHE_LINE) _Atomic uint64_t lock;
        _Atomic uint64_t abandoned; /* claims abandoned by repair: sent = tail - abandoned - CLAIMED */
        _Atomic uint64_t received;  /* taken messages, counted before the consuming CAS */
        _Atomic uint64_t recovered; /* TAKEN slots of dead receivers turned back to READY */

        alignas(LAYOUT_CACHE_LINE) _Atomic uint64_t tail; /* next position to claim */
        alignas(LAYOUT_CACHE_LINE) _Atomic uint64_t head; /* oldest unfinished position */

        alignas(LAYOUT_CACHE_LINE) _Atomic uint64_t epoch; /* bumped by a daemon that adopts it */
        _Atomic uint32_t flags;                            /* HDR_DESTROYED */
        uint32_t reserved0;
        _Atomic uint64_t repairs; /* repairs that found something to do (daemon-written) */

        alignas(LAYOUT_CACHE_LINE) _Atomic uint64_t items_sleepers[LAYOUT_ATT_WORDS];
        alignas(LAYOUT_CACHE_LINE) _Atomic uint64_t space_sleepers[LAYOUT_ATT_WORDS];

        /* event loops: boxes that poll the mailbox's FIFO (shmbox_fd), and whether the FIFO
         * holds its one byte (it is readable while messages are queued): 0, or when it was
         * written (CLOCK_MONOTONIC_COARSE ms, odd: never 0), for writing it again when a peer
         * may have read it (ring.c: fifo_signal) */
        alignas(LAYOUT_CACHE_LINE) _Atomic uint64_t pollers[LAYOUT_ATT_WORDS];
        _Atomic uint32_t fifo_signaled;

        /* the token of each attachment index, 0 when free: written by the daemon only */
        alignas(LAYOUT_CACHE_LINE) _Atomic uint32_t att[LAYOUT_ATT_MAX];

        /* the counts of attachments gone: the daemon folds an attachment's block in here when
         * it releases its index (written by the daemon only; untrusted like the rest) */
        alignas(2 * LAYOUT_CACHE_LINE) AttCounters retired;

        /* broadcast mailboxes: one bit per attachment index that subscribes. Set by the
         * subscriber under the lock (with its SubLine.pos), cleared by the subscriber at any
         * time, and by the daemon when it hands an index out and when it repairs or releases
         * it. 0 in a queue. Untrusted: a bit of an index with no attachment counts for nothing */
        alignas(LAYOUT_CACHE_LINE) _Atomic uint64_t subs[LAYOUT_ATT_WORDS];
} MboxHeader;

_Static_assert(sizeof(_Atomic uint64_t) == 8, "64-bit atomics");
_Static_assert(sizeof(SlotHead) == LAYOUT_SLOT_HEAD, "slot head is one cache line");
_Static_assert(offsetof(MboxHeader, lock) == 64, "layout v1: lock line");
_Static_assert(offsetof(MboxHeader, tail) == 128, "layout v1: tail line");
_Static_assert(offsetof(MboxHeader, head) == 192, "layout v1: head line");
_Static_assert(offsetof(MboxHeader, epoch) == 256, "layout v1: control line");
_Static_assert(offsetof(MboxHeader, items_sleepers) == 320, "layout v1: items sleepers");
_Static_assert(offsetof(MboxHeader, space_sleepers) == 384, "layout v1: space sleepers");
_Static_assert(offsetof(MboxHeader, pollers) == 448, "layout v1: pollers");
_Static_assert(offsetof(MboxHeader, att) == 512, "layout v1: attachment table");
_Static_assert(offsetof(MboxHeader, retired) == 512 + 4 * LAYOUT_ATT_MAX, "layout v2: retired counters");
_Static_assert(offsetof(MboxHeader, kind) == 48, "layout v3: the kind, in the immutable line");
_Static_assert(offsetof(MboxHeader, subs) == 512 + 4 * LAYOUT_ATT_MAX + sizeof(AttCounters), "layout v3: subscribers");
_Static_assert(sizeof(MboxHeader) == 512 + 4 * LAYOUT_ATT_MAX + 2 * sizeof(AttCounters),
               "layout v3: header size (subs, padded to the counters' alignment)");

/* The header page, then the counter area; the slots start on a page of their own. */
#define LAYOUT_HEADER_PAGE 4096u
#define LAYOUT_HEADER_SIZE (LAYOUT_COUNTERS_OFFSET + LAYOUT_COUNTERS_SIZE) /* 36864: slot 0 */
_Static_assert(sizeof(MboxHeader) <= LAYOUT_HEADER_PAGE, "header fits its page");
_Static_assert(LAYOUT_COUNTERS_OFFSET == LAYOUT_HEADER_PAGE, "counters follow the header page");
_Static_assert(LAYOUT_HEADER_SIZE % 4096u == 0, "slots start on a page");

/* The counter block of attachment index @idx (< LAYOUT_ATT_MAX) in the mapping @map. */
static inline AttCounters *layout_counters(void *map, unsigned idx) {
        return (AttCounters *)((uint8_t *)map + LAYOUT_COUNTERS_OFFSET) + idx;
}

/*
 * A subscriber's line in a broadcast mailbox (layout version 3): one cache line per attachment
 * index, after the counter area. `pos` is the next position the subscriber at that index reads:
 * it stores it (release) after it has copied everything below, and senders read it under the
 * lock to know which slots every subscriber has passed (doc/ring.md, "Broadcast mailboxes").
 * The subscriber keeps its own copy and never reads this one back; anyone else validates it
 * (a value outside [head, tail] holds nothing back).
 */
typedef struct SubLine {
        alignas(LAYOUT_CACHE_LINE) _Atomic uint64_t pos;
        _Atomic uint64_t missed; /* messages it lost to overwriting (statistics) */
        /* whether its FIFO holds its byte (shmbox_fd): 0, or when it was written, as the
         * queue's MboxHeader.fifo_signaled (ring.c: fifo_signal) */
        _Atomic uint32_t fifo_signaled;
        uint32_t reserved32;
        /* where this subscriber sleeps for messages: a wake-up channel of its own, never a
         * count (proto/psem.h's operations on glibc's process-shared sem_t, zero-filled = 0).
         * One semaphore shared by every subscriber let a subscriber with nothing to read take
         * the post meant for another, who then slept beside a message (doc/explore.md, D1) */
        sem_t wake;
} SubLine;
_Static_assert(sizeof(sem_t) == 32, "glibc's sem_t on a 64-bit machine (proto/psem.h)");
_Static_assert(sizeof(SubLine) == LAYOUT_CACHE_LINE, "a subscriber line is one cache line");
#define LAYOUT_SUBS_OFFSET LAYOUT_HEADER_SIZE
#define LAYOUT_SUBS_SIZE (LAYOUT_ATT_MAX * (uint32_t)sizeof(SubLine))
#define LAYOUT_HEADER_SIZE_BCAST (LAYOUT_SUBS_OFFSET + LAYOUT_SUBS_SIZE) /* 53248 */
_Static_assert(LAYOUT_HEADER_SIZE_BCAST % 4096u == 0, "slots start on a page");

/* The subscriber line of index @idx (< LAYOUT_ATT_MAX) in a broadcast mailbox's mapping. */
static inline SubLine *layout_sub(void *map, unsigned idx) {
        return (SubLine *)((uint8_t *)map + LAYOUT_SUBS_OFFSET) + idx;
}

/* Geometry limits (the daemon may set a lower cap on the product). */
#define LAYOUT_SLOTS_MAX 65536u
#define LAYOUT_SLOT_SIZE_MAX (16u * 1024 * 1024)

/* A validated private copy of the immutable header fields. */
typedef struct LayoutGeometry {
        uint32_t slots, slot_size, slot_stride, header_size;
        uint64_t generation, total_size;
        uint32_t kind; /* LAYOUT_KIND_* */
} LayoutGeometry;

int layout_geometry(uint32_t slots, uint32_t slot_size, uint64_t generation, LayoutGeometry *ret);
int layout_geometry_kind(uint32_t slots, uint32_t slot_size, uint32_t kind, uint64_t generation, LayoutGeometry *ret);
void layout_init(void *map, const LayoutGeometry *g);
int layout_check(const void *map, uint64_t map_size, LayoutGeometry *ret);
uint32_t layout_checksum(const MboxHeader *h);
