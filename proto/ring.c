/* SPDX-License-Identifier: MIT */
/* ring.c — the mailbox ring and its lock: send, receive and repair on a mapped segment.
 *
 * This is doc/ring.md's protocol, with one deliberate change to its first plan (below). In short:
 *
 * - The lock is a word in shared memory holding its holder's token (plus a W bit meaning
 *   "someone may sleep on the lock semaphore"); it is taken only with CAS, so a holder killed
 *   at any instant leaves its token behind and the daemon can attribute and repair it. The
 *   critical sections are a few word updates, written "slot word first, index second", so a
 *   half-done one is recognisable and is rolled forward by ring_repair().
 * - Payloads are copied outside the lock: a sender claims the slot at tail (FREE -> CLAIMED,
 *   with its token), copies, and commits with one CAS (CLAIMED -> READY). A receiver takes
 *   the oldest READY slot (READY -> TAKEN, with its token), copies out, and consumes it with
 *   one CAS (TAKEN -> DONE). head only passes DONE/ABANDONED slots, turning each FREE for the
 *   next lap. Every transition is a CAS on the whole slot word (state, lap, token), so the
 *   late CAS of a holder whose session was repaired fails: -ESTALE, and nothing changes.
 * - Departures for the message path (doc/protocol.md): head is passed without the lock
 *   (advance_head(): two CASes, head first, and a claim frees a slot whose passer was killed
 *   in between), so a receive takes the lock once, not twice; receivers never read tail
 *   (has_ready(): a scan from head ends at the first word not claimed yet), and senders read
 *   head only when the slot at tail is not free (claimable()): the line each side writes on
 *   every message stays in its own cache.
 *
 * The change: semaphores are *only* wake-up channels, not counters. The first plan has items/space
 * as approximate counts and posts "if someone sleeps"; here a process that is about to sleep
 * sets its attachment's bit in the header's sleeper mask (an atomic RMW, a full barrier), then
 * re-checks the ring, then sleeps on the semaphore for at most RING_SLICE_NS. A poster changes
 * the ring (a CAS, a full barrier) and then posts only if a mask bit is set. One of the two
 * always sees the other (Dekker), so no wake-up is lost; spurious ones are harmless because
 * every waker re-checks the state. What this buys:
 *   - when nobody sleeps, send and recv make no system call and touch no semaphore memory;
 *   - no count can drift: a process killed between a semaphore step and a state change leaves
 *     nothing to fix but its own mask bit, which the daemon clears by attachment index;
 *   - glibc's sem_t keeps a waiter count that a SIGKILLed sleeper never decrements, after
 *     which every post is a FUTEX_WAKE; since we post only when a live sleeper's bit is set,
 *     such a damaged semaphore costs nothing on the message path, and it never needs to be
 *     replaced. The operations are proto/psem.c's, not glibc's: the semaphores' memory is
 *     untrusted too, and glibc aborts the process when a scribbled sem_t makes a futex call
 *     fail (issue 13).
 *
 * Everything read from shared memory is untrusted: tail - head is checked against the slot
 * count, the length against slot_size, each slot word against the lap its position implies.
 * Rules (issue 13):
 *   - every loop is bounded by the slot count or a constant, or a validated local copy —
 *     never by a value read again from shared memory (ring_repair() once walked from a head
 *     read after its check);
 *   - -EBADMSG only for a state that is impossible and stays so when read again: receivers
 *     and repairs change words and head under a reader, and a state read in two loads may
 *     never have existed (claimable(), the lock's holder look-up);
 *   - a waiter's CPU is bounded whatever the semaphores hold (RingWaiter), and a post a
 *     poster skipped is passed on by the woken (ring_claim(), ring_take()).
 *
 * Laps are 24 bits. Every word a process holds carries its token (CLAIMED, TAKEN, and the
 * lock), and tokens are never reused, so a holder stopped for any time fails its late CAS.
 * Only words with token 0 can repeat: a position p and p + k * slots * 2^24 share slot and
 * lap. The one step that CASes such a word after a pause is a passer's second CAS
 * (advance_head(): DONE/ABANDONED -> FREE for the next lap, after head moved). A passer stopped
 * between its two CASes for exactly k * slots * 2^24 positions (k >= 1; 16.7 M messages on a
 * ring of one slot, 1.1 * 10^12 on the maximum 65536), and resumed while that slot is again
 * finished and not yet passed, frees it early: the next claim there then stands a lap ahead
 * of head and readers report -EBADMSG. No message is lost silently that way; widening the lap
 * would change the slot word, i.e. the layout version.
 */
#include "config.h"

#include "proto/ring.h"
#include "proto/ring-internal.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proto/crash.h"
#include "proto/psem.h"
#include "proto/probes.h"
#include "proto/util.h"

/* How long the lock may be waited for when the caller asked not to block (timeout 0): the
 * lock is only ever held for a few instructions, so only a preempted or stopped holder is
 * waited for, and not long. */
#define RING_LOCK_NOWAIT_NS (10 * 1000 * 1000L)
#define RING_SPINS 128
/* How often a judgement of corruption is re-read before it is made (claimable(), ring_lock()):
 * a state changing under the reader is a live peer at work, not corruption. */
#define RING_RECHECKS 8u

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
}

static void ts_add_ns(struct timespec *t, long ns) {
        t->tv_nsec += ns;
        while (t->tv_nsec >= 1000000000L) {
                t->tv_nsec -= 1000000000L;
                t->tv_sec++;
        }
}

static bool ts_before(const struct timespec *a, const struct timespec *b) {
        return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/*
 * ring_deadline_init() - turn a timeout in milliseconds (-1 forever, 0 never block) into a deadline
 */
void ring_deadline_init(RingDeadline *d, int timeout_ms) {
        *d = (RingDeadline){ .forever = timeout_ms < 0, .now = timeout_ms == 0 };
        if (timeout_ms > 0) {
                clock_gettime(CLOCK_MONOTONIC, &d->at);
                ts_add_ns(&d->at, (long)(timeout_ms % 1000) * 1000000L);
                d->at.tv_sec += timeout_ms / 1000;
        }
}

/* Copy a message into or out of a slot in pieces of RING_COPY_CHUNK bytes. glibc's memcpy()
 * changes method at a size tied to the cache (on AMD, glibc 2.36: from rep movsb to another
 * loop at the L2 size, 1 MiB on this EPYC guest), and the other ran 4x slower here: send_many
 * of 1 MiB messages, one memcpy() each, moved 6.3 k msgs/s where ring_send(), two memcpy()s of
 * 512 KiB, moved 24.6 k (the sender's CPU per message 124 against 39 us, memcpy() 76% of it).
 * Pieces keep every copy below the L2 size of current x86 CPUs, whatever the slot size; a
 * piece is large enough that the calls cost nothing (A/B of 3 runs against 512 KiB pieces:
 * single sends +1%, batches +7%, both within the noise). */
#define RING_COPY_CHUNK (256u * 1024u)

static __attribute__((noinline)) void copy_pieces(uint8_t *d, const uint8_t *s, size_t len) {
        for (; len > RING_COPY_CHUNK; d += RING_COPY_CHUNK, s += RING_COPY_CHUNK, len -= RING_COPY_CHUNK)
                memcpy(d, s, RING_COPY_CHUNK);
        memcpy(d, s, len);
}

static inline void copy_msg(void *dst, const void *src, size_t len) {
        if (_likely_(len <= RING_COPY_CHUNK))
                memcpy(dst, src, len);
        else
                copy_pieces(dst, src, len);
}

/* A timestamp for operators (how long has this slot been held?): the vDSO's coarse clock, a
 * few ns and no system call. */
static inline uint64_t stamp_now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool destroyed(const Ring *r) {
        return atomic_load_explicit(&r->hdr->flags, memory_order_acquire) & HDR_DESTROYED;
}

/* The first safety slice of @r's waits, in ns. */
static inline long slice_ns(const Ring *r) {
        return r->slice_ms ? (long)r->slice_ms * 1000000L : RING_SLICE_NS;
}

/* The bytes after which a batch shows its progress (RING_BATCH_FLUSH_BYTES). */
static inline uint64_t flush_bytes(const Ring *r) {
        return r->batch_flush_bytes ? r->batch_flush_bytes : RING_BATCH_FLUSH_BYTES;
}

/* Sleep on @sem until posted, the deadline, or one slice. 0 on a wake-up, 1 when the slice ran
 * out, -ETIMEDOUT past the deadline. A signal does not cut the wait short: it is simply one
 * more wake-up. */
static int sem_sleep(sem_t *sem, const RingDeadline *dl, long slice_ns) {
        struct timespec now, until;
        int rc;

        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!dl->forever && !ts_before(&now, &dl->at))
                return -ETIMEDOUT;
        until = now;
        ts_add_ns(&until, slice_ns);
        if (!dl->forever && ts_before(&dl->at, &until))
                until = dl->at;
        rc = psem_clockwait(sem, CLOCK_MONOTONIC, &until);
        if (rc < 0 && rc != -ETIMEDOUT && rc != -EINTR)
                return rc;
        return rc == -ETIMEDOUT ? 1 : 0;
}

/* Whether @token holds an attachment of this mailbox: a lock holder always does (or is the
 * daemon); any other value can only be a scribble. Scanned only before a sleep. */
static bool token_attached(const Ring *r, uint32_t token) {
        if (token == TOKEN_DAEMON)
                return true;
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++)
                if (atomic_load_explicit(&r->hdr->att[i], memory_order_relaxed) == token)
                        return true;
        return false;
}

/* A slot word that may stand at position @p between head and tail. */
/* A position's slot and lap from one division (ring_slot() and ring_lap() divide each; the
 * message path looks at each position several times, and a 64-bit division takes tens of
 * cycles). The predicates below take the lap; lap_of(p + slots) is lap + 1. */
typedef struct Pos {
        SlotHead *s;
        uint32_t lap;
} Pos;

static inline Pos ring_pos(const Ring *r, uint64_t p) {
        uint64_t n = r->geo.slots, q = p / n;

        return (Pos){ (SlotHead *)(r->base + r->geo.header_size + (p - q * n) * r->geo.slot_stride),
                      (uint32_t)q & LAP_MASK };
}

static inline uint32_t lap_next(uint32_t lap) {
        return (lap + 1) & LAP_MASK;
}

/* The next position: the next slot, or the first one of the next lap after the last. @end:
 * the end of the slots. */
static inline void pos_next(const Ring *r, Pos *x, const uint8_t *end) {
        x->s = (SlotHead *)((uint8_t *)x->s + r->geo.slot_stride);
        if ((const uint8_t *)x->s >= end) {
                x->s = (SlotHead *)(r->base + r->geo.header_size);
                x->lap = lap_next(x->lap);
        }
}

/* The end of the slots, for pos_next(). */
static inline const uint8_t *slots_end(const Ring *r) {
        return r->base + r->geo.header_size + (uint64_t)r->geo.slots * r->geo.slot_stride;
}

static inline uint32_t lap_prev(uint32_t lap) {
        return (lap - 1) & LAP_MASK;
}

/* A word that may stand at a position of @lap between head and tail. */
static inline bool word_valid(uint64_t w, uint32_t lap) {
        unsigned st = slot_word_state(w);

        return st != SLOT_FREE && st < _SLOT_STATE_MAX && slot_word_lap(w) == lap;
}

/* Finished one lap behind: head passed the slot's last position, its passer has not freed it. */
static inline bool word_passed_unfreed(uint64_t w, uint32_t lap) {
        unsigned st = slot_word_state(w);

        return (st == SLOT_DONE || st == SLOT_ABANDONED) && slot_word_lap(w) == lap_prev(lap);
}

/* Not claimed yet at this lap: FREE for it, or passed and not yet freed. */
static inline bool word_unclaimed(uint64_t w, uint32_t lap) {
        return w == slot_word(SLOT_FREE, lap, 0) || word_passed_unfreed(w, lap);
}

/* Passed by head already: FREE for the next lap. */
static inline bool word_passed(uint64_t w, uint32_t lap) {
        return w == slot_word(SLOT_FREE, lap_next(lap), 0);
}

/*
 * What one call's waits have found so far (ring_claim, ring_take, ring_lock).
 *
 * A waiter's CPU must stay bounded whatever the semaphore holds: a peer can post it in a loop
 * or write SEM_VALUE_MAX into it, and every repair leaves a post nobody may take. A wake-up
 * that brings the caller back to wait found nothing, so the next wait first takes up to
 * RING_DRAIN_MAX stale posts (psem_trywait: no system call). Posters post only while fewer
 * wake-ups are pending than sleepers, so a drain that finds posts again and again means
 * someone else is posting: past RING_STALE_FREE such drains in one call, each wait first
 * pauses, 100 us doubling to RING_PAUSE_MAX_NS, without the semaphore. A flood then costs one
 * look at the ring per pause, and a real wake-up is late by at most the pause. Wake-ups that
 * find the semaphore clean (a peer that was quicker, a lock holder that sends in a loop) never
 * pause: measured, pausing on those cut batched throughput to a hundredth.
 */
/* typedef struct RingWaiter: proto/ring-internal.h (proto/bcast.c waits too) */

#define RING_DRAIN_MAX 64
#define RING_STALE_FREE 4u
#define RING_PAUSE_NS (100 * 1000L)
#define RING_PAUSE_MAX_NS (10 * 1000 * 1000L)

/* Before a wait that follows a fruitless wake-up: drain stale posts and, past the free ones,
 * pause. A drained post may be a real one, given after the caller last looked: a caller that
 * drained anything must look at the state again before it sleeps (ring_wait() sets its bit
 * and re-checks after this; ring_lock() goes round again), and a post it took from another
 * sleeper is passed on as a woken caller's is (wt->woken).
 *
 * Return: the number of posts drained; -ETIMEDOUT past the deadline. */
static int waiter_settle(sem_t *sem, RingWaiter *wt, const RingDeadline *dl) {
        struct timespec now, until;
        long ns;
        int n = 0;

        if (wt->wakes == 0)
                return 0;
        while (n < RING_DRAIN_MAX && psem_trywait(sem) == 0)
                n++;
        if (n == 0)
                return 0;
        wt->woken = true;
        if (++wt->stale <= RING_STALE_FREE)
                return n;
        ns = MIN(RING_PAUSE_NS << MIN(wt->stale - RING_STALE_FREE - 1, 16u), RING_PAUSE_MAX_NS);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!dl->forever && !ts_before(&now, &dl->at))
                return -ETIMEDOUT;
        until = now;
        ts_add_ns(&until, ns);
        if (!dl->forever && ts_before(&dl->at, &until))
                until = dl->at;
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
                ;
        return n;
}

/*
 * The lock (doc/ring.md): CAS(0 -> me) when free; else set W and sleep on the lock semaphore,
 * re-checking after every wake. A winner after a sleep takes the lock with W set, since other
 * sleepers may remain; that costs at most one spurious post at unlock.
 */
static __attribute__((noinline)) int ring_lock_wait(Ring *r, uint32_t me, const RingDeadline *dl) {
        _Atomic uint64_t *lock = &r->hdr->lock;
        RingDeadline lock_dl = *dl;
        RingWaiter wt = {};
        uint32_t holder = TOKEN_NONE;
        uint64_t v = 0;
        unsigned rechecks = 0;
        int k;

        for (int i = 0; i < RING_SPINS; i++) {
                cpu_relax();
                v = 0;
                if (atomic_load_explicit(lock, memory_order_relaxed) == 0 &&
                    atomic_compare_exchange_strong(lock, &v, me))
                        return 0;
        }
        if (dl->now) {
                lock_dl.now = false;
                clock_gettime(CLOCK_MONOTONIC, &lock_dl.at);
                ts_add_ns(&lock_dl.at, RING_LOCK_NOWAIT_NS);
        }
        for (;;) {
                v = atomic_load(lock);
                if (LOCK_TOKEN(v) == TOKEN_NONE) { /* free (a lone W bit is a scribble: free too) */
                        if (atomic_compare_exchange_strong(lock, &v, me | LOCK_W))
                                return 0;
                        continue;
                }
                if (!(v & LOCK_W) && !atomic_compare_exchange_strong(lock, &v, v | LOCK_W))
                        continue;
                if (destroyed(r)) {
                        psem_post(r->sem[SEM_LOCK]); /* pass the wake-up on */
                        return -EIDRM;
                }
                CRASH_POINT(lock_holder_read);
                if (!token_attached(r, LOCK_TOKEN(v))) {
                        /* The daemon drops a repaired holder's entry while it holds the lock
                         * itself: a holder that no longer holds the lock after our look-up
                         * was repaired meanwhile. Only one that still does is a forgery. */
                        if (LOCK_TOKEN(atomic_load(lock)) != LOCK_TOKEN(v) && ++rechecks < RING_RECHECKS)
                                continue;
                        return -EBADMSG;
                }
                /* a wake-up that finds the same holder was fruitless: drain and, if posts
                 * keep coming from nowhere, pause as ring_wait() does */
                if (LOCK_TOKEN(v) != holder) {
                        holder = LOCK_TOKEN(v);
                        wt.wakes = 0;
                }
                k = waiter_settle(r->sem[SEM_LOCK], &wt, &lock_dl);
                /* A drain may have taken the post of an unlock that came after our look at
                 * the lock: look again, and sleep only after a look that no drain followed
                 * (the unlock posts after its exchange, so the look sees it). A flood of posts
                 * costs a pause per round (waiter_settle()), not a spin. */
                if (k > 0)
                        continue;
                if (k == 0)
                        k = sem_sleep(r->sem[SEM_LOCK], &lock_dl, slice_ns(r));
                if (k == -ETIMEDOUT)
                        return dl->now ? -EAGAIN : -ETIMEDOUT;
                if (k < 0)
                        return k;
                wt.wakes++;
        }
}

/* The free lock is taken by the one CAS inlined here; the wait is not inlined. */
static inline int ring_lock(Ring *r, uint32_t me, const RingDeadline *dl) {
        uint64_t v = 0;

        if (_likely_(atomic_compare_exchange_strong(&r->hdr->lock, &v, me)))
                return 0;
        return ring_lock_wait(r, me, dl);
}

static int ring_unlock(Ring *r, uint32_t me) {
        uint64_t old = atomic_exchange(&r->hdr->lock, 0);

        if (old & LOCK_W)
                psem_post(r->sem[SEM_LOCK]);
        return LOCK_TOKEN(old) == me ? 0 : -EBADMSG;
}

/* Whether any bit of a mask is set: asked on every send and receive (wake_n(), fifo_signal()),
 * so written out for the layout's four words, not looped (callgrind: 23 instructions a call
 * looped). */
_Static_assert(LAYOUT_ATT_WORDS == 4, "mask_any() reads the masks' four words");
static inline bool mask_any(_Atomic uint64_t *mask) {
        return (atomic_load(&mask[0]) | atomic_load(&mask[1]) | atomic_load(&mask[2]) | atomic_load(&mask[3])) != 0;
}

static unsigned mask_count(_Atomic uint64_t *mask) {
        unsigned n = 0;

        for (unsigned i = 0; i < LAYOUT_ATT_WORDS; i++)
                n += (unsigned)__builtin_popcountll(atomic_load(&mask[i]));
        return n;
}

/* When the FIFO was last signalled, as fifo_signaled holds it: coarse milliseconds, odd, so
 * never 0 (not signalled). */
static uint32_t fifo_stamp(void) {
        return (uint32_t)(stamp_now() / 1000000u) | 1u;
}

/* Put the FIFO's one byte in, if a box polls it and it is not there already: a send pays this
 * system call only when an event loop is watching.
 *
 * Any process with access to the mailbox can open the FIFO and read the byte: fifo_signaled
 * then says "there" while the FIFO is empty, and the pollers sleep. So "there" expires: a
 * signal older than RING_FIFO_RESIGNAL_MS (the receivers had that long to settle it) is
 * written again by the next send. A byte too many costs a poller a spurious wake-up; a
 * scribbled fifo_signaled is at worst a stamp from the future, which has expired too. */
#define RING_FIFO_RESIGNAL_MS 5u

static __attribute__((noinline)) void fifo_write(Ring *r) {
        uint32_t v, now;

        if (r->geo.kind) { /* each polling subscriber has its own FIFO */
                bcast_fifo_signal(r);
                return;
        }
        v = atomic_load(&r->hdr->fifo_signaled);
        now = fifo_stamp();
        if (v != 0 && now - v <= RING_FIFO_RESIGNAL_MS)
                return;
        if (atomic_compare_exchange_strong(&r->hdr->fifo_signaled, &v, now))
                (void)!write(r->fifo_fd, "", 1);
}

static inline void fifo_signal(Ring *r) {
        if (r->has_fifo && _unlikely_(mask_any(r->hdr->pollers)))
                fifo_write(r);
}

/* Wake up to @n sleepers of @role: one per slot freed, no more than there are sleepers. The
 * check for none is inlined in every caller; the posting is not. */
static __attribute__((noinline)) void wake_sleepers(Ring *r, SemRole role, _Atomic uint64_t *mask, unsigned n);

static inline void wake_n(Ring *r, SemRole role, unsigned n) {
        _Atomic uint64_t *mask = role == SEM_ITEMS ? r->hdr->items_sleepers : r->hdr->space_sleepers;

        if (_unlikely_(mask_any(mask)))
                wake_sleepers(r, role, mask, n);
}

static void wake_sleepers(Ring *r, SemRole role, _Atomic uint64_t *mask, unsigned n) {
        int pending;

        /* A sleeper clears its bit only once it runs again, so every poster until then sees it.
         * Post only while fewer wake-ups are pending than asked for (psem_getvalue reads the
         * semaphore's memory, no system call): the count stays near zero instead of piling up,
         * which would turn every later wait into a spin. A woken waker that finds more work
         * does it before sleeping again, so one pending wake-up serves a burst. */
        n = MIN(n, mask_count(mask));
        if (psem_getvalue(r->sem[role], &pending) < 0)
                pending = 0;
        SHMBOX_PROBE3(post, role, n, pending);
        while (pending < (int)n) {
                psem_post(r->sem[role]);
                pending++;
        }
}

/* Wake the receivers for @n new messages: @n in a queue, every sleeper in a broadcast mailbox
 * (each subscriber reads every message). The kind is looked at only when someone sleeps. */
static inline void wake_items(Ring *r, unsigned n) {
        if (_unlikely_(mask_any(r->hdr->items_sleepers))) {
                if (r->geo.kind)
                        bcast_wake_subs(r);
                else
                        wake_sleepers(r, SEM_ITEMS, r->hdr->items_sleepers, n);
        }
}

/* Post @role's semaphore if anyone is recorded as sleeping on it (see the essay above). */
static inline void wake(Ring *r, SemRole role) {
        wake_n(r, role, 1);
}

/* The word at position @p of a slot whose last position (p - slots) head has passed, but
 * which its passer has not made FREE yet (advance_head(): head moves first): finished, DONE or
 * ABANDONED, one lap behind. Position @p is not claimed yet. */
static inline bool is_passed_unfreed(const Ring *r, uint64_t w, uint64_t p) {
        return word_passed_unfreed(w, ring_lap(r, p));
}

/* Ring predicates, read without the lock: hints that decide whether to sleep. */
static bool has_space(const Ring *r) {
        uint64_t tail = atomic_load(&r->hdr->tail);
        Pos x = ring_pos(r, tail);
        uint64_t w = atomic_load(&x.s->word);

        /* the slot at tail says it, without head (a line the receivers write): free for this
         * lap, or passed by head and not yet freed (a claim frees it) */
        if (word_unclaimed(w, x.lap))
                return true;
        /* full: the slot still holds its message of the last lap (claimed once, so not
         * FREE), and head says so; anything else is corrupt, and "yes" lets the locked path
         * report it (a FREE word of the last lap under a tail of head + slots was a wait
         * without end) */
        return slot_word_lap(w) != lap_prev(x.lap) || slot_word_state(w) == SLOT_FREE ||
               tail - atomic_load(&r->hdr->head) != r->geo.slots;
}

/*
 * The order rule: readers take the oldest READY slot, except one whose writer still holds an
 * older slot CLAIMED (a batch or several reservations of one box): one writer's messages are
 * delivered in the order of their slots. The writers of the CLAIMED slots passed are
 * remembered (a few; past that the scan stops, which only delays).
 */
typedef struct OrderScan {
        uint32_t blocked[8];
        unsigned n;
        bool full;
} OrderScan;

/* Whether the READY word @w may be taken now; records CLAIMED writers as the scan passes them. */
static bool order_admits(OrderScan *o, uint64_t w) {
        uint32_t t = slot_word_token(w);

        if (slot_word_state(w) == SLOT_CLAIMED) {
                for (unsigned i = 0; i < o->n; i++)
                        if (o->blocked[i] == t)
                                return false;
                if (o->n < ELEMENTSOF(o->blocked))
                        o->blocked[o->n++] = t;
                else
                        o->full = true;
                return false;
        }
        if (slot_word_state(w) != SLOT_READY || o->full)
                return false;
        if (t == TOKEN_NONE) /* redelivered by a repair: its writer is long done */
                return true;
        for (unsigned i = 0; i < o->n; i++)
                if (o->blocked[i] == t)
                        return false;
        return true;
}

/*
 * The sender's spin on a full ring: room an eighth of the ring ahead of tail, not at tail. The
 * slot at tail is the one the receiver is taking, consuming and passing right now; a sender
 * that polls it takes its cache line away between each of those steps, and the two then
 * trade every slot one by one. Polling a slot further on leaves the receiver alone, and the
 * sender then claims a run of slots the receiver left long ago. Measured (64 B one-way, A/B of
 * 10 alternating runs): +28-33% at the median; 1 KiB unchanged. It only delays a sender whose
 * ring is full, and only for the spin (r->spin_ns): after it, has_space() decides.
 */
static bool has_space_ahead(const Ring *r) {
        Pos x = ring_pos(r, atomic_load(&r->hdr->tail) + r->geo.slots / 8);
        uint64_t w = atomic_load(&x.s->word);

        /* FREE for its lap proves that head passed the slot's last position, so every slot
         * up to it is free. A word finished one lap behind proves nothing: head may be stuck
         * before it (an older slot still held), and counting it as room made a sender on a
         * full ring spin without end (issue 13). */
        if (w == slot_word(SLOT_FREE, x.lap, 0))
                return true;
        /* still its message of the last lap: wait; anything else: as has_space() says */
        return slot_word_lap(w) != lap_prev(x.lap) && has_space(r);
}

/* Receivers never read tail, which the senders write with every claim: the scan from head
 * ends at the first position not claimed yet (its word FREE for its own lap, or one lap behind
 * and finished: passed, not yet freed). Every position below tail holds a claimed word or a
 * passed one, and one at or above it cannot be READY (word_unclaimed()). */
static bool has_ready(const Ring *r) {
        uint64_t head = atomic_load(&r->hdr->head);
        OrderScan o = { .n = 0 };

        Pos x = ring_pos(r, head);
        const uint8_t *end = slots_end(r);

        for (uint32_t i = 0; i < r->geo.slots && !o.full; i++, pos_next(r, &x, end)) {
                /* acquire: a READY word found makes its payload and length visible, whatever
                 * the caller's next load is (the take re-reads under the lock anyway) */
                uint64_t w = atomic_load_explicit(&x.s->word, memory_order_acquire);

                if (word_unclaimed(w, x.lap))
                        break;
                if (word_passed(w, x.lap))
                        continue; /* passed by head already */
                /* takeable, or corrupt: the locked path reports that */
                if (!word_valid(w, x.lap) || order_admits(&o, w))
                        return true;
        }
        return false;
}

/*
 * Before a receiver sleeps: whether tail says that a message lies beyond the slot words the
 * receivers go by. They never read tail on the message path; a tail written ahead of the first
 * position not claimed yet (tail + 1, or head + slots over a ring not full) would hide every
 * message claimed after it, and the receivers would sleep for good. A claim writes the slot
 * word first and tail second, so once tail is past a position, that position's word is claimed
 * (or further on): one read again after tail that still is not claimed at its lap is corrupt.
 * Costs a scan to the first unclaimed word and one load of tail, only on the way to a sleep.
 *
 * Return: 0, or -EBADMSG.
 */
static int ring_gap(const Ring *r) {
        uint64_t head = atomic_load_explicit(&r->hdr->head, memory_order_acquire), tail, p, w;
        const uint8_t *end = slots_end(r);
        Pos x = ring_pos(r, head);
        uint32_t i;

        for (i = 0; i < r->geo.slots; i++, pos_next(r, &x, end))
                if (word_unclaimed(atomic_load_explicit(&x.s->word, memory_order_acquire), x.lap))
                        break;
        if (i == r->geo.slots)
                return 0;
        p = head + i;
        tail = atomic_load(&r->hdr->tail);
        /* only a tail past p by at most a ring: our head may be stale, and a random tail is
         * the senders' to report */
        if (tail - p - 1 >= r->geo.slots)
                return 0;
        w = atomic_load(&x.s->word);
        return word_unclaimed(w, x.lap) ? -EBADMSG : 0;
}

/* Poll @ready for up to r->spin_ns: a peer that is running answers within a microsecond or
 * two, far below the cost of a sleep and a wake-up (a futex round trip, ~46 us here across
 * CPUs). Bounded, so an idle waiter soon sleeps and costs nothing.
 *
 * Every 16 polls it yields the CPU to a peer that shares it, since spinning cannot help that
 * one. Measured on an Intel VM (bench/shmbox-bench --only latency,shmbox): yielding every 128
 * polls gave a same-CPU round trip of 10 us (the PAUSEs between take ~5 us), every 16 gives
 * 4-5 us with the other-CPU round trip unchanged at 0.6 us, every 8 or fewer made that one
 * bimodal (0.3 or 1.3 us); 64 B one-way throughput rose too, the peers sharing a CPU now and
 * then on a loaded machine.
 *
 * But a yield is a system call, and where those are dear (an AMD guest: sched_yield() 1.3 us,
 * getppid() 1.05 us, 16 PAUSEs 0.3 us) a poller that yields every 16 polls spends 80% of its
 * spin in the kernel and sees the answer late: other-CPU round trip 2.5-2.8 us; yielding every
 * 256 polls, 1.45 us, but the same-CPU one 11 -> 21 us. So each thread learns what a bare
 * system call costs it (the fastest of 3 getppid(), once), and a yield that returns within
 * twice that and 1 us (nobody else ran) doubles the polls before the next one, up to 256; one
 * that let another task run (same CPU: 10 us and more) brings them back to 16. The count
 * carries over from one wait to the next: a round trip's wait is a yield or two long. */
#define SPIN_YIELD_POLLS_MIN 16u
#define SPIN_YIELD_POLLS_MAX 256u

static inline long ts_diff_ns(const struct timespec *a, const struct timespec *b) {
        return (b->tv_sec - a->tv_sec) * 1000000000L + (b->tv_nsec - a->tv_nsec);
}

/* The fastest of 3 bare system calls, in ns: what a yield costs when nobody else runs. */
static long syscall_cost_ns(void) {
        long best = LONG_MAX;

        for (int i = 0; i < 3; i++) {
                struct timespec a, b;

                clock_gettime(CLOCK_MONOTONIC, &a);
                (void)getppid();
                clock_gettime(CLOCK_MONOTONIC, &b);
                best = MIN(best, ts_diff_ns(&a, &b));
        }
        return best;
}

static bool spin_until(const Ring *r, bool (*ready)(const Ring *)) {
        static _Thread_local long bare_ns = -1;                     /* a yield that ran nobody */
        static _Thread_local unsigned polls = SPIN_YIELD_POLLS_MIN; /* between two yields */
        struct timespec start, before, now;
        unsigned n = 0;

        if (r->spin_ns == 0)
                return false;
        if (bare_ns < 0)
                bare_ns = 2 * syscall_cost_ns() + 1000;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                if (ready(r) || destroyed(r))
                        return true;
                cpu_relax();
                if (++n < polls)
                        continue;
                n = 0;
                clock_gettime(CLOCK_MONOTONIC, &before);
                sched_yield(); /* a peer on our CPU runs now; else it returns at once */
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (ts_diff_ns(&before, &now) < bare_ns)
                        polls = MIN(polls * 2, SPIN_YIELD_POLLS_MAX); /* nobody else ran */
                else
                        polls = SPIN_YIELD_POLLS_MIN;
                if (ts_diff_ns(&start, &now) >= (long)r->spin_ns)
                        return false;
        }
}

/* Wait until @ready holds or a slice passes, recorded in the sleeper mask of @role. While
 * waits in a row end with a slice that ran out, nothing posted (wt->quiet), nobody is running
 * to spin for, and the slice doubles, up to RING_SLICE_MAX_NS: the slice is only the safety
 * net for a wake-up that a crash swallowed (the daemon's repair posts anyway), and each
 * wake-up of an idle waiter costs ~65 us of CPU on this VM type (schedstat), so an idle
 * receiver wakes 3 times in 10 s instead of 10. */
static int ring_wait_once(Ring *r, SemRole role, unsigned idx, bool (*ready)(const Ring *), const RingDeadline *dl,
                          RingWaiter *wt) {
        _Atomic uint64_t *mask = role == SEM_ITEMS ? r->hdr->items_sleepers : r->hdr->space_sleepers;
        uint64_t bit = UINT64_C(1) << (idx % 64);
        /* a broadcast subscriber sleeps on a semaphore of its own (SubLine.wake) */
        sem_t *sem = role == SEM_ITEMS && r->sub ? &r->sub->wake : r->sem[role];
        long slice;
        int k;

        /* drained posts are accounted for by the re-check below, after our bit is set */
        k = waiter_settle(sem, wt, dl);
        if (k < 0)
                return k;
        wt->wakes++; /* counted now: a return of 0 below is a wake-up */
        if (wt->quiet == 0 && spin_until(r, role == SEM_SPACE && !r->geo.kind ? has_space_ahead : ready))
                return 0;
        if (role == SEM_ITEMS && !r->geo.kind) { /* a broadcast subscriber never reads head */
                k = ring_gap(r);
                if (k < 0)
                        return k;
        }
        atomic_fetch_or(&mask[idx / 64], bit);
        if (ready(r) || destroyed(r)) {
                atomic_fetch_and(&mask[idx / 64], ~bit);
                return 0;
        }
        if (role == SEM_ITEMS)
                CRASH_POINT(recv_before_sleep);
        else
                CRASH_POINT(send_before_sleep);
        slice = MAX(MIN(slice_ns(r) << MIN(wt->quiet, 8u), RING_SLICE_MAX_NS), slice_ns(r));
        SHMBOX_PROBE3(sleep, role, idx, slice);
        k = sem_sleep(sem, dl, slice);
        SHMBOX_PROBE3(wakeup, role, idx, k);
        atomic_fetch_and(&mask[idx / 64], ~bit);
        wt->quiet = k == 1 ? wt->quiet + 1 : 0;
        if (k == 0)
                wt->woken = true;
        return k == 1 ? 0 : k;
}

/* ns from @since to now (0 if the clock went back) */
static uint64_t ns_since(const struct timespec *since) {
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!ts_before(since, &now))
                return 0;
        return (uint64_t)(now.tv_sec - since->tv_sec) * 1000000000u + (uint64_t)(now.tv_nsec - since->tv_nsec);
}

/* ring_wait_once(), on the slow path only: the call found the ring full or empty (@wt->blocked,
 * for the counters), gives up at once without a deadline, and otherwise reads the clock once
 * when it first waits and after each wait: the wait time of the counters and the probes
 * (Ring.wait_ns). A call that finds room or a message at once never comes here. */
static int ring_wait(Ring *r, SemRole role, unsigned idx, bool (*ready)(const Ring *), const RingDeadline *dl,
                     RingWaiter *wt) {
        int k;

        wt->blocked = true;
        if (dl->now)
                return -EAGAIN;
        if (!wt->waited) {
                wt->waited = true;
                clock_gettime(CLOCK_MONOTONIC, &wt->since);
        }
        k = ring_wait_once(r, role, idx, ready, dl, wt);
        r->wait_ns = ns_since(&wt->since);
        return k;
}

/* The counters of the caller's own block (doc/ring.md, "Counters"): one writer, so a relaxed
 * load and store, no read-modify-write and no line anybody else writes. */
static inline void counter_add(_Atomic uint64_t *c, uint64_t n) {
        atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

/* @n messages of @bytes in all, once per call (a batch counts once) */
static inline void count_sent(Ring *r, uint64_t n, uint64_t bytes) {
        AttCounters *c = r->mine;

        if (c) {
                counter_add(&c->sent, n);
                counter_add(&c->sent_bytes, bytes);
        }
}

static inline void count_received(Ring *r, uint64_t n, uint64_t bytes) {
        AttCounters *c = r->mine;

        if (c) {
                counter_add(&c->received, n);
                counter_add(&c->received_bytes, bytes);
        }
}

/* The slow path of a claim (SEM_SPACE) or take (SEM_ITEMS) that ended with @k: whether it found
 * the ring full, waited and for how long, or gave up at its deadline. Never called by a call
 * that found what it wanted at once. */
static void count_slow(Ring *r, SemRole role, const RingWaiter *wt, long k) {
        AttCounters *c = r->mine;
        uint64_t ns = 0;

        if (!c)
                return;
        if (wt->waited)
                ns = ns_since(&wt->since);
        if (role == SEM_SPACE) {
                if (wt->blocked)
                        counter_add(&c->full, 1);
                if (wt->waited) {
                        counter_add(&c->send_waits, 1);
                        counter_add(&c->send_wait_ns, ns);
                }
                if (k == -ETIMEDOUT || k == -EAGAIN)
                        counter_add(&c->send_timeouts, 1);
        } else {
                if (wt->waited) {
                        counter_add(&c->recv_waits, 1);
                        counter_add(&c->recv_wait_ns, ns);
                }
                if (k == -ETIMEDOUT || k == -EAGAIN)
                        counter_add(&c->recv_timeouts, 1);
        }
}

/* Common entry checks: destroyed (pass the wake-up on), our attachment still ours. */
static int ring_enter(Ring *r, uint32_t me, unsigned idx, SemRole role) {
        if (destroyed(r)) {
                psem_post(r->sem[role]);
                return -EIDRM;
        }
        if (idx >= LAYOUT_ATT_MAX || atomic_load_explicit(&r->hdr->att[idx], memory_order_relaxed) != me)
                return -ESTALE;
        return 0;
}

/* The word a finished slot at position @p gets when head passes it: FREE for its next lap. */
static inline uint64_t passed_word(const Ring *r, uint64_t p) {
        return slot_word(SLOT_FREE, ring_lap(r, p + r->geo.slots), 0);
}

/*
 * Pass head over finished slots, making each FREE for its next lap — without the lock. Each
 * step is two CASes, head first, slot word second: head p -> p+1 while the slot is DONE or
 * ABANDONED, then that word -> FREE(next lap). Head first, so that a FREE word at tail proves
 * that head has passed the slot's last position: a claim needs no look at head (a line the
 * receivers write on every message; reading it cost the receiver up to a fifth of its rate).
 * A passer killed between the two leaves a finished word one lap behind (is_passed_unfreed()),
 * which the claim that reaches it frees itself. Two passers never pass one slot twice: the
 * head CAS decides. Claims and takes read head under the lock and can see it behind only: a
 * take then skips the words passed meanwhile (is_passed()).
 * @recv: a receive path (where the crash point is).
 *
 * Returns how many slots this call passed, or -EBADMSG (a word no protocol step writes).
 */
static int advance_head(Ring *r, bool recv) {
        int passed = 0;

        if (r->geo.kind) /* a broadcast slot is never passed: a claim a lap later takes it over */
                return 0;

        for (unsigned i = 0; i < r->geo.slots; i++) {
                uint64_t head = atomic_load(&r->hdr->head);
                Pos x = ring_pos(r, head);
                uint64_t w = atomic_load(&x.s->word);
                unsigned st = slot_word_state(w);

                /* at tail the word is FREE for its own lap (or passed, unfreed: one lap behind),
                 * not finished at this lap, so the loop ends there without reading tail */
                if (st != SLOT_DONE && st != SLOT_ABANDONED)
                        break;
                if (slot_word_lap(w) != x.lap) {
                        if (word_passed_unfreed(w, x.lap))
                                break;
                        return passed ? passed : -EBADMSG;
                }
                if (!atomic_compare_exchange_strong(&r->hdr->head, &head, head + 1))
                        continue; /* another passer was first: look again */
                passed++;
                if (recv && passed == 1)
                        CRASH_POINT(recv_head_half);
                /* fails only if a claim freed it first */
                (void)atomic_compare_exchange_strong(&x.s->word, &w, slot_word(SLOT_FREE, lap_next(x.lap), 0));
        }
        return passed;
}

/* Whether the word @w at position @p was passed by head already (head is being moved on). */
static inline bool is_passed(const Ring *r, uint64_t w, uint64_t p) {
        return w == passed_word(r, p);
}

/*
 * Under the lock: whether position @q (tail, or after it in a batch) can be claimed now. Its
 * word FREE for this lap says yes without a look at head. A finished word one lap behind is
 * a slot head has passed, or is to pass (the ring is full up to a finished slot): pass head
 * on, and free it ourselves if its passer has not yet. @passed: plus the slots head passed.
 *
 * Return: 1 yes (the word is FREE for this lap now); 0 the ring is full; -EBADMSG.
 */
static int claimable(Ring *r, uint64_t q, Pos x, int *passed) {
        uint64_t w = atomic_load(&x.s->word), w2, head;
        int k;

        if (w == slot_word(SLOT_FREE, x.lap, 0))
                return 1;
        CRASH_POINT(send_slot_judged);
        /* Receivers change the word and head under us (two CASes, head first, no lock): a
         * word read before head may be a state long gone (TAKEN, then head passed it, then
         * DONE). So judge only a pair read consistently, head between two equal loads of the
         * word (under the lock no word value comes back), and call corrupt only an impossible
         * pair that head read once more confirms. A pair never stable is "full": the caller
         * waits and looks again. */
        for (unsigned i = 0; i < RING_RECHECKS; i++) {
                if (word_passed_unfreed(w, x.lap)) {
                        k = advance_head(r, false);
                        if (k < 0)
                                return k;
                        *passed += k;
                }
                head = atomic_load(&r->hdr->head);
                w2 = atomic_load(&x.s->word);
                if (w2 == w) {
                        /* head has not passed the slot's last position: full, if the word is
                         * one of that position's (claimed once, so not FREE) */
                        if (q - head == r->geo.slots && slot_word_lap(w) == lap_prev(x.lap) &&
                            slot_word_state(w) != SLOT_FREE)
                                return 0;
                        if (q - head < r->geo.slots && word_passed_unfreed(w, x.lap))
                                (void)atomic_compare_exchange_strong(&x.s->word, &w2, slot_word(SLOT_FREE, x.lap, 0));
                        w2 = atomic_load(&x.s->word); /* freed by us or by its passer */
                        if (w2 == w && atomic_load(&r->hdr->head) == head)
                                return -EBADMSG; /* impossible, and stable */
                }
                if (w2 == slot_word(SLOT_FREE, x.lap, 0))
                        return 1;
                w = w2;
        }
        return 0;
}

/*
 * ring_claim() - claim up to @want consecutive slots at tail for writing (CLAIMED, our token)
 * @ret_pos: the position of the first; the others follow it
 *
 * One lock for the whole batch: a batch costs the lock traffic of one message.
 *
 * Return: the number claimed (1 to @want); -EAGAIN (never block) or -ETIMEDOUT while the ring
 *         stays full; -EIDRM; -ESTALE; -EBADMSG.
 */
/* claim() for a queue (@bcast false) or a broadcast mailbox: inlined twice with a constant, so
 * that the queue's copy is the queue's code alone. */
static inline __attribute__((always_inline)) int claim_kind(Ring *r, uint32_t me, unsigned idx, uint32_t want,
                                                            const RingDeadline *dl, uint64_t *ret_pos, RingWaiter *wt,
                                                            const bool bcast) {
        const uint8_t *end = slots_end(r);
        uint64_t p, stamp;
        Pos x;
        uint32_t n;
        int k;
        int passed = 0;
        bool (*space)(const Ring *) = bcast ? bcast_has_space : has_space;

        for (;;) {
                k = ring_enter(r, me, idx, SEM_SPACE);
                if (k < 0)
                        return k;
                if (!(bcast ? bcast_has_space(r) : has_space(r))) {
                        k = ring_wait(r, SEM_SPACE, idx, space, dl, wt);
                        if (k < 0)
                                return k;
                        continue;
                }
                CRASH_POINT(send_before_lock);
                k = ring_lock(r, me, dl);
                if (k < 0)
                        return k;
                CRASH_POINT(send_locked);
                p = atomic_load(&r->hdr->tail);
                x = ring_pos(r, p);
                passed = 0;
                for (n = 0, k = 0; n < want; n++, pos_next(r, &x, end)) {
                        uint64_t expect = slot_word(SLOT_FREE, x.lap, 0);

                        if (bcast)
                                k = bcast_claimable(r, p + n, x.s, x.lap, &expect);
                        else
                                k = claimable(r, p + n, x, &passed);
                        if (k <= 0)
                                break;
                        if (!atomic_compare_exchange_strong(&x.s->word, &expect, slot_word(SLOT_CLAIMED, x.lap, me))) {
                                k = -EBADMSG;
                                break;
                        }
                        atomic_store(&r->hdr->tail, p + n + 1); /* slot word first, index second */
                }
                if (n == 0) {
                        ring_unlock(r, me);
                        if (k < 0)
                                return k;
                        if (passed > 0)
                                wake_n(r, SEM_SPACE, (unsigned)passed);
                        /* filled since we looked: wait again — through ring_wait() even if the
                         * hint says room, so that a hint that keeps disagreeing costs pauses,
                         * not a spin on the lock */
                        k = ring_wait(r, SEM_SPACE, idx, space, dl, wt);
                        if (k < 0)
                                return k;
                        continue;
                }
                k = ring_unlock(r, me);
                if (k < 0)
                        return k;
                if (passed > 0 && (uint32_t)passed > n) /* more room than we took: for sleepers */
                        wake_n(r, SEM_SPACE, (unsigned)passed - n);
                /* A post that woke us is the one a poster gave while another was pending (it
                 * posts only while fewer are pending than sleepers it wakes): pass it on if
                 * room is left, or a second sleeper waits for its slice (issue 13). Only a
                 * call that slept pays this look. */
                if (wt->woken && space(r))
                        wake(r, SEM_SPACE);
                stamp = stamp_now();
                for (uint32_t i = 0; i < n; i++)
                        ring_slot(r, p + i)->stamp = stamp;
                *ret_pos = p;
                return (int)n;
        }
}

static int claim(Ring *r, uint32_t me, unsigned idx, uint32_t want, const RingDeadline *dl, uint64_t *ret_pos,
                 RingWaiter *wt) {
        if (_unlikely_(r->geo.kind))
                return claim_kind(r, me, idx, want, dl, ret_pos, wt, true);
        return claim_kind(r, me, idx, want, dl, ret_pos, wt, false);
}

int ring_claim(Ring *r, uint32_t me, unsigned idx, uint32_t want, const RingDeadline *dl, uint64_t *ret_pos) {
        RingWaiter wt = {};
        int k = claim(r, me, idx, want, dl, ret_pos, &wt);

        /* a claim that found room at once adds nothing here: its counts are the commit's */
        if (_unlikely_(wt.blocked))
                count_slow(r, SEM_SPACE, &wt, k);
        return k;
}

/*
 * ring_held() - the position of the slot at @payload if it is held by @me in @state
 *
 * For the zero-copy calls, which hand out payload pointers: the position's lap is read from
 * the slot word, which only @me (or a repair) can change while @me holds it.
 *
 * Return: 0 and the current slot word; -EINVAL if @payload is not a slot's payload; -ESTALE
 *         if the slot is not (or no longer) held by @me in @state.
 */
int ring_held(const Ring *r, uint32_t me, const void *payload, unsigned state, uint64_t *ret_word) {
        const uint8_t *p = payload;
        const uint8_t *first = r->base + r->geo.header_size + LAYOUT_SLOT_HEAD;
        uint64_t off, w;

        if (p < first || p >= first + (uint64_t)r->geo.slots * r->geo.slot_stride)
                return -EINVAL;
        off = (uint64_t)(p - first);
        if (off % r->geo.slot_stride)
                return -EINVAL;
        w = atomic_load(&((SlotHead *)(p - LAYOUT_SLOT_HEAD))->word);
        if (slot_word_state(w) != state || slot_word_token(w) != me)
                return -ESTALE;
        *ret_word = w;
        return 0;
}

/*
 * ring_commit() - publish the claimed slot at @payload with @len bytes: the COMMIT point
 *
 * @wake: post to a sleeping receiver (false inside a batch, which wakes once at its end).
 *
 * Return: 0 (the message will be delivered); -EMSGSIZE; -EINVAL; -ESTALE if the slot was
 *         abandoned by a repair meanwhile.
 */
/* ring_commit() for a slot we know is a slot (our own send paths): no pointer check. */
static int commit_slot(Ring *r, uint32_t me, SlotHead *s, size_t len, uint32_t meta, bool wake_now) {
        uint64_t w = atomic_load(&s->word);

        if (slot_word_state(w) != SLOT_CLAIMED || slot_word_token(w) != me)
                return -ESTALE;
        /* meta beside len, on the line the commit writes anyway: a plain message stores its 0
         * over whatever an earlier message of this slot left (doc/ring.md, "Request headers") */
        s->len = (uint32_t)len;
        s->meta = meta;
        CRASH_POINT(send_meta_written);
        if (!atomic_compare_exchange_strong(&s->word, &w, slot_word(SLOT_READY, slot_word_lap(w), me)))
                return -ESTALE; /* repaired meanwhile: our slot was abandoned */
        CRASH_POINT(send_committed);
        /* a broadcast sender may sleep on this slot: bcast_claimable() says full while a sender
         * of the last lap still writes it, and no consume frees it (overwrite; block with no
         * subscriber): the commit is what frees it (the explorer: a second sender asleep
         * beside a finished slot at tail, woken by nobody) */
        if (_unlikely_(r->geo.kind))
                wake_n(r, SEM_SPACE, 1);
        /* the header keeps no sent counter: it is derived (ring_count), so no kill can make it
         * drift; the callers count it in the attachment's own block, for metrics */
        if (wake_now) {
                wake_items(r, 1);
                fifo_signal(r);
        }
        return 0;
}

int ring_commit(Ring *r, uint32_t me, void *payload, size_t len, bool wake_now) {
        uint64_t w;
        int k;

        if (len > r->geo.slot_size)
                return -EMSGSIZE;
        k = ring_held(r, me, payload, SLOT_CLAIMED, &w);
        if (k < 0)
                return k;
        k = commit_slot(r, me, (SlotHead *)((uint8_t *)payload - LAYOUT_SLOT_HEAD), len, 0, wake_now);
        if (k == 0)
                count_sent(r, 1, len);
        return k;
}

/* Pass head over what is finished (no lock: advance_head()) and wake senders for the slots
 * freed. */
static void ring_finish(Ring *r) {
        int k = advance_head(r, true);

        if (k > 0)
                wake_n(r, SEM_SPACE, (unsigned)k);
}

/*
 * ring_abort() - give back the claimed slot at @payload unwritten: it becomes ABANDONED and
 * is never delivered
 *
 * Return: 0; -EINVAL; -ESTALE (already abandoned by a repair).
 */
int ring_abort(Ring *r, uint32_t me, void *payload) {
        SlotHead *s = (SlotHead *)((uint8_t *)payload - LAYOUT_SLOT_HEAD);
        uint64_t w;
        int k;

        k = ring_held(r, me, payload, SLOT_CLAIMED, &w);
        if (k < 0)
                return k;
        if (!atomic_compare_exchange_strong(&s->word, &w, slot_word(SLOT_ABANDONED, slot_word_lap(w), 0)))
                return -ESTALE;
        atomic_fetch_add(&r->hdr->abandoned, 1);
        ring_finish(r);
        if (_unlikely_(r->geo.kind)) /* as a commit does (commit_slot()) */
                wake_n(r, SEM_SPACE, 1);
        /* our later messages waited behind this claim (the order rule): they are takeable
         * now, and a receiver asleep (or polling the FIFO) would otherwise wait a slice */
        wake_items(r, 1);
        fifo_signal(r);
        return 0;
}

/*
 * ring_send() - copy @len bytes into the next slot and commit them
 * @me, @idx: this attachment's token and index (issued by the daemon)
 *
 * Return: 0 once committed (the message will be delivered); -EMSGSIZE if @len > slot_size;
 *         -EAGAIN (never block) or -ETIMEDOUT when the ring stays full; -EIDRM if destroyed;
 *         -ESTALE if this attachment was repaired; -EBADMSG if the mailbox is corrupt.
 */
int ring_send(Ring *r, uint32_t me, unsigned idx, const void *data, size_t len, const RingDeadline *dl) {
        uint8_t *payload;
        uint64_t p;
        int k;

        if (len > r->geo.slot_size)
                return -EMSGSIZE;
        k = ring_claim(r, me, idx, 1, dl, &p);
        if (k < 0)
                return k;
        payload = ring_payload(r, p);
        CRASH_POINT(send_claimed);
        if (len > 0) /* data may be NULL for an empty message */
                copy_msg(payload, data, len / 2);
        CRASH_POINT(send_half_copied);
        if (len > 0)
                copy_msg(payload + len / 2, (const uint8_t *)data + len / 2, len - len / 2);
        k = commit_slot(r, me, ring_slot(r, p), len, 0, true);
        if (k == 0)
                count_sent(r, 1, len);
        return k;
}

/*
 * ring_send_hdr() - send @len bytes of @data behind a header of @hlen bytes, in one slot
 * @hdr, @hlen: the header (a multiple of 8, at most SLOT_HDR_MAX; its meaning is the
 *              caller's: proto/request.h), stored first and declared in the slot's meta word
 *
 * A plain receive gets @data only; ring_take() tells a zero-copy reader where it starts.
 *
 * Return: as ring_send(); -EMSGSIZE if @hlen + @len > slot_size; -EINVAL for a bad @hlen.
 */
int ring_send_hdr(Ring *r, uint32_t me, unsigned idx, const void *hdr, size_t hlen, const void *data, size_t len,
                  const RingDeadline *dl) {
        uint8_t *payload;
        uint64_t p;
        int k;

        if (hlen == 0 || hlen % 8 || hlen > SLOT_HDR_MAX)
                return -EINVAL;
        if (len > r->geo.slot_size || hlen + len > r->geo.slot_size)
                return -EMSGSIZE;
        k = ring_claim(r, me, idx, 1, dl, &p);
        if (k < 0)
                return k;
        payload = ring_payload(r, p);
        CRASH_POINT(send_claimed);
        memcpy(payload, hdr, hlen / 2);
        CRASH_POINT(send_half_copied); /* here: half a header */
        memcpy(payload + hlen / 2, (const uint8_t *)hdr + hlen / 2, hlen - hlen / 2);
        if (len > 0)
                copy_msg(payload + hlen, data, len);
        k = commit_slot(r, me, ring_slot(r, p), hlen + len, SLOT_META_HDR | (uint32_t)hlen, true);
        if (k == 0)
                count_sent(r, 1, len);
        return k;
}

/*
 * ring_send_many() - send @n messages with one lock and one wake-up for the whole batch
 *
 * Return: the number of messages committed from the start of @msgs (at least 1: what fits in
 *         the ring now, after waiting as for one send); a negative errno as ring_send() if
 *         none was.
 */
int ring_send_many(Ring *r, uint32_t me, unsigned idx, const struct iovec *msgs, size_t n, const RingDeadline *dl) {
        uint64_t p, bytes = 0, unshown = 0; /* bytes committed since the last wake-up */
        int k, done = 0, woken = 0;         /* messages committed when it was made */
        const uint8_t *end = slots_end(r);
        Pos x;

        for (size_t i = 0; i < n; i++)
                if (msgs[i].iov_len > r->geo.slot_size)
                        return i == 0 ? -EMSGSIZE : (int)MIN(i, (size_t)INT32_MAX);
        k = ring_claim(r, me, idx, (uint32_t)MIN(n, (size_t)UINT32_MAX), dl, &p);
        if (k < 0)
                return k;
        /* the claimed run's slots, walked without a division per message (ring_pos()); copied
         * 32 KiB at a time, then committed: a commit's CAS waits for the copy's stores to
         * drain, so once per run, not per message (doc/ring.md, "Batches") */
        x = ring_pos(r, p);
        for (int i = 0; i < k;) {
                Pos y = x;
                int j = i;

                for (; j < k && (j == i || unshown < flush_bytes(r)); j++, pos_next(r, &x, end)) {
                        copy_msg((uint8_t *)x.s + LAYOUT_SLOT_HEAD, msgs[j].iov_base, msgs[j].iov_len);
                        unshown += msgs[j].iov_len;
                }
                for (; i < j; i++, pos_next(r, &y, end)) {
                        int c = commit_slot(r, me, y.s, msgs[i].iov_len, 0, false);

                        if (c < 0) {
                                count_sent(r, (uint64_t)done, bytes);
                                return done ? done : c;
                        }
                        done++;
                        bytes += msgs[i].iov_len;
                }
                if (done < k) { /* let a receiver start */
                        wake_items(r, (unsigned)(done - woken));
                        fifo_signal(r);
                        woken = done;
                        unshown = 0;
                }
        }
        count_sent(r, (uint64_t)done, bytes);
        wake_items(r, (unsigned)(done - woken));
        fifo_signal(r);
        return done;
}

/*
 * ring_take() - take up to @want of the oldest committed messages (READY -> TAKEN, our token)
 * @ret_payload, @ret_len: arrays of @want entries; filled for the messages taken: the slot's
 *                        payload and the bytes stored there (a header included)
 * @ret_hdr: NULL, or an array of @want entries: the length of the request header each message
 *           starts with (0: a plain message), validated against its length (slot_meta_hdr())
 * @cap: the caller's buffer size for the first message's body, the bytes after its header
 *       (SIZE_MAX: any size is fine)
 *
 * With @want 0, waits like a take and returns the length of the oldest message's body without
 * taking it. A meta word no sender writes is -EBADMSG, as a length above slot_size.
 *
 * Return: the number taken (>= 1), or the length for @want 0; -EMSGSIZE if the oldest
 *         message is longer than @cap (it stays queued); -EAGAIN, -ETIMEDOUT, -EIDRM,
 *         -ESTALE, -EBADMSG.
 */
static ssize_t take(Ring *r, uint32_t me, unsigned idx, uint32_t want, size_t cap, const RingDeadline *dl,
                    void **ret_payload, uint32_t *ret_len, uint32_t *ret_hdr, RingWaiter *wt) {
        const uint8_t *end = slots_end(r);
        uint64_t head, w = 0, stamp;
        Pos x;
        SlotHead *s;
        uint32_t got = 0, len, meta;
        OrderScan o;
        int h;
        int k;

        for (;;) {
                o = (OrderScan){ .n = 0 };
                k = ring_enter(r, me, idx, SEM_ITEMS);
                if (k < 0)
                        return k;
                if (!has_ready(r)) {
                        k = ring_wait(r, SEM_ITEMS, idx, has_ready, dl, wt);
                        if (k < 0)
                                return k;
                        continue;
                }
                CRASH_POINT(recv_before_lock);
                k = ring_lock(r, me, dl);
                if (k < 0)
                        return k;
                CRASH_POINT(recv_locked);
                /* No claim runs while we hold the lock, and every claim made before checked
                 * head above the position it reused: so [head, head + slots) holds words of
                 * their own positions, claimed, passed or not claimed yet (has_ready()). */
                head = atomic_load(&r->hdr->head);
                x = ring_pos(r, head);
                for (uint32_t i = 0; i < r->geo.slots && (got < want || (want == 0 && got == 0));
                     i++, pos_next(r, &x, end)) {
                        s = x.s;
                        w = atomic_load(&s->word);
                        if (word_unclaimed(w, x.lap))
                                break;
                        if (word_passed(w, x.lap))
                                continue; /* finished, and head is being passed over it */
                        if (!word_valid(w, x.lap)) {
                                ring_unlock(r, me);
                                return got ? (ssize_t)got : -EBADMSG;
                        }
                        if (!order_admits(&o, w)) {
                                if (o.full)
                                        break;
                                continue;
                        }
                        len = *(volatile uint32_t *)&s->len;   /* read once, use the copy */
                        meta = *(volatile uint32_t *)&s->meta; /* the same line, also once */
                        h = slot_meta_hdr(meta, len);
                        if (len > r->geo.slot_size || h < 0) {
                                ring_unlock(r, me);
                                return got ? (ssize_t)got : -EBADMSG;
                        }
                        if (want == 0) {
                                ring_unlock(r, me);
                                return len - (uint32_t)h;
                        }
                        if (got == 0 && len - (uint32_t)h > cap) {
                                ring_unlock(r, me);
                                return -EMSGSIZE;
                        }
                        if (got > 0 && len - (uint32_t)h > cap)
                                break; /* the batch ends before a message its buffer cannot hold */
                        /* counted before the take, so it never falls behind what was taken */
                        atomic_fetch_add_explicit(&r->hdr->received, 1, memory_order_relaxed);
                        if (!atomic_compare_exchange_strong(&s->word, &w,
                                                            slot_word(SLOT_TAKEN, slot_word_lap(w), me))) {
                                ring_unlock(r, me);
                                return got ? (ssize_t)got : -EBADMSG;
                        }
                        ret_payload[got] = (uint8_t *)s + LAYOUT_SLOT_HEAD;
                        ret_len[got] = len;
                        if (ret_hdr)
                                ret_hdr[got] = (uint32_t)h;
                        got++;
                }
                if (got == 0) { /* taken by another receiver since we looked: wait again */
                        ring_unlock(r, me);
                        k = ring_wait(r, SEM_ITEMS, idx, has_ready, dl, wt);
                        if (k < 0)
                                return k;
                        continue;
                }
                k = ring_unlock(r, me);
                if (k < 0)
                        return k;
                if (wt->woken && has_ready(r)) /* pass the wake-up on, as in ring_claim() */
                        wake(r, SEM_ITEMS);
                stamp = stamp_now();
                for (uint32_t i = 0; i < got; i++)
                        ((SlotHead *)((uint8_t *)ret_payload[i] - LAYOUT_SLOT_HEAD))->stamp = stamp;
                CRASH_POINT(recv_taken);
                return got;
        }
}

ssize_t ring_take(Ring *r, uint32_t me, unsigned idx, uint32_t want, size_t cap, const RingDeadline *dl,
                  void **ret_payload, uint32_t *ret_len, uint32_t *ret_hdr) {
        RingWaiter wt = {};
        ssize_t k = _unlikely_(r->geo.kind) ? bcast_take(r, me, idx, want, cap, dl, ret_payload, ret_len, ret_hdr, &wt)
                                            : take(r, me, idx, want, cap, dl, ret_payload, ret_len, ret_hdr, &wt);

        if (_unlikely_(wt.blocked))
                count_slow(r, SEM_ITEMS, &wt, (long)k);
        return k;
}

/*
 * ring_consume() - finish the taken slot at @payload: the CONSUME point. With @finish, also
 * pass head over it (a batch finishes once at its end).
 *
 * Return: 0; -EINVAL; -ESTALE if a repair gave the message to another receiver meanwhile
 *         (the caller must drop its copy).
 */
/* ring_consume() for a slot we know is a slot (our own receive paths): no pointer check. */
static inline int consume_slot(Ring *r, uint32_t me, SlotHead *s, bool finish) {
        uint64_t w = atomic_load(&s->word);

        if (slot_word_state(w) != SLOT_TAKEN || slot_word_token(w) != me)
                return -ESTALE;
        if (!atomic_compare_exchange_strong(&s->word, &w, slot_word(SLOT_DONE, slot_word_lap(w), 0)))
                return -ESTALE; /* repaired meanwhile: it was redelivered, drop our copy */
        CRASH_POINT(recv_consumed);
        if (finish)
                ring_finish(r);
        return 0;
}

int ring_consume(Ring *r, uint32_t me, const void *payload, bool finish) {
        uint64_t w;
        int k;

        SlotHead *s = (SlotHead *)((uint8_t *)payload - LAYOUT_SLOT_HEAD);
        uint32_t len;

        if (r->geo.kind) { /* a subscriber holds no slot: the take's record says what it read */
                len = *(volatile uint32_t *)&s->len;
                k = bcast_consume(r, s);
                if (k == -EOVERFLOW)
                        r->overflow_pending = false; /* said now */
                if (k == 0)
                        count_received(r, 1, MIN(len, r->geo.slot_size));
                return k;
        }
        k = ring_held(r, me, payload, SLOT_TAKEN, &w);
        if (k < 0)
                return k;
        len = *(volatile uint32_t *)&s->len; /* for the counters only: read once, bounded */
        k = consume_slot(r, me, s, finish);
        if (k == 0)
                count_received(r, 1, MIN(len, r->geo.slot_size));
        return k;
}

/*
 * ring_recv() - take the oldest committed message, copy it into @buf and consume it
 *
 * With @buf NULL and @cap 0, waits like a receive and returns the length of the oldest
 * message without taking it.
 *
 * Return: the length; -EMSGSIZE if it is longer than @cap (it stays queued); -EAGAIN,
 *         -ETIMEDOUT, -EIDRM, -ESTALE (the copy is discarded: the message went back to the
 *         ring for another receiver), -EBADMSG as for ring_send().
 */
ssize_t ring_recv(Ring *r, uint32_t me, unsigned idx, void *buf, size_t cap, const RingDeadline *dl) {
        const uint8_t *data;
        void *payload;
        uint32_t len, h;
        ssize_t k;

        k = ring_take(r, me, idx, buf || cap ? 1 : 0, cap, dl, &payload, &len, &h);
        if (k < 0 || (!buf && cap == 0))
                return k;
        data = (const uint8_t *)payload + h; /* a request header is not part of the message */
        len -= h;
        copy_msg(buf, data, len / 2);
        CRASH_POINT(recv_half_copied);
        copy_msg((uint8_t *)buf + len / 2, data + len / 2, len - len / 2);
        if (_unlikely_(r->geo.kind)) /* a subscriber's copy, validated (proto/bcast.c) */
                k = bcast_consume(r, (SlotHead *)((uint8_t *)payload - LAYOUT_SLOT_HEAD));
        else
                k = consume_slot(r, me, (SlotHead *)((uint8_t *)payload - LAYOUT_SLOT_HEAD), true);
        if (k < 0) {
                if (k == -EOVERFLOW)
                        r->overflow_pending = false; /* said now */
                return k;
        }
        count_received(r, 1, len);
        return len;
}

/*
 * ring_recv_many() - receive up to @n messages with one lock for the takes and one for head
 * @bufs: @n buffers; @ret_lens: their messages' lengths
 *
 * Return: the number received (>= 1); a negative errno as ring_recv() if none was. A message
 *         a repair took back meanwhile is dropped from the batch (it is redelivered).
 */
ssize_t ring_recv_many(Ring *r, uint32_t me, unsigned idx, const struct iovec *bufs, size_t n, size_t *ret_lens,
                       const RingDeadline *dl) {
        void *payload[RING_BATCH_MAX];
        uint32_t len[RING_BATCH_MAX], hdr[RING_BATCH_MAX];
        size_t cap = SIZE_MAX;
        ssize_t k;
        size_t out = 0;
        uint64_t bytes = 0, unfinished = 0; /* bytes consumed since head was last passed */

        n = MIN(n, (size_t)RING_BATCH_MAX);
        /* a batch holds messages while each fits its buffer: the smallest buffer bounds them */
        for (size_t i = 0; i < n; i++)
                cap = MIN(cap, bufs[i].iov_len);
        k = ring_take(r, me, idx, (uint32_t)n, cap, dl, payload, len, hdr);
        if (k < 0)
                return k;
        for (ssize_t i = 0; i < k; i++) {
                len[i] -= hdr[i]; /* a request header is not part of the message */
                copy_msg(bufs[out].iov_base, (uint8_t *)payload[i] + hdr[i], len[i]);
                SlotHead *s = (SlotHead *)((uint8_t *)payload[i] - LAYOUT_SLOT_HEAD);

                if ((_unlikely_(r->geo.kind) ? bcast_consume(r, s) : consume_slot(r, me, s, false)) == 0) {
                        ret_lens[out++] = len[i];
                        bytes += len[i];
                }
                unfinished += len[i];
                if (unfinished >= flush_bytes(r) && i + 1 < k) { /* let a sender reuse it */
                        ring_finish(r);
                        unfinished = 0;
                }
        }
        ring_finish(r);
        count_received(r, out, bytes);
        if (out == 0 && r->overflow_pending) { /* a broadcast subscriber lost them all */
                r->overflow_pending = false;
                return -EOVERFLOW;
        }
        return out ? (ssize_t)out : -ESTALE;
}

/*
 * ring_repair() - release everything the dead attachment @dead (index @idx) holds in the ring
 *
 * Called by the daemon only once the holder's death is proven (doc/design.md, invariant 5); @dead
 * may be TOKEN_DAEMON with @idx LAYOUT_ATT_MAX to take over the lock of a daemon that died in a
 * repair. Never
 * blocks: if a live process holds the lock, it returns -EBUSY and the caller retries later.
 * Steps (doc/ring.md): take the lock (from the dead holder, or free); roll forward the dead
 * holder's half-done critical section; abandon its CLAIMED slots and turn its TAKEN slots
 * back to READY; pass head over finished slots; release its attachment entry and sleeper
 * bits; unlock; wake every sleeper, who will re-check.
 *
 * Return: 0 and @ret filled; -EBUSY if the lock is held by another; -EBADMSG if the ring is
 *         corrupt (the lock is released again if it was taken).
 */
int ring_repair(Ring *r, uint32_t dead, unsigned idx, RingRepair *ret) {
        _Atomic uint64_t *lock = &r->hdr->lock;
        RingRepair rep = {};
        uint64_t v, head, tail, w, expect;
        uint32_t n;
        int k;

        if (dead == TOKEN_NONE || (dead == TOKEN_DAEMON) != (idx == LAYOUT_ATT_MAX) || idx > LAYOUT_ATT_MAX)
                return -EINVAL;

        /* 1. take the lock: from the dead holder, or free (W set, so unlock wakes a sleeper). A
         * waiter may set W on the dead holder's word between our load and CAS: that is no
         * reason to give up (a repair left waiting is logged apart from what it found with
         * it), so the CAS is tried again while the token is still the dead one, a bounded
         * number of times (a waiter sets W once per sleep) */
        v = atomic_load(lock);
        for (k = 0; LOCK_TOKEN(v) == dead; k++) {
                if (atomic_compare_exchange_strong(lock, &v, TOKEN_DAEMON | (v & LOCK_W))) {
                        rep.held_lock = true;
                        break;
                }
                if (k == 3)
                        return -EBUSY;
        }
        if (!rep.held_lock) {
                if (LOCK_TOKEN(v) == TOKEN_NONE) {
                        if (!atomic_compare_exchange_strong(lock, &v, TOKEN_DAEMON | LOCK_W))
                                return -EBUSY;
                } else if (!token_attached(r, LOCK_TOKEN(v)))
                        return -EBADMSG; /* held by no attachment: a scribble, no one to wait for */
                else
                        return -EBUSY;
        }
        CRASH_POINT(daemon_repair_half);

        head = atomic_load(&r->hdr->head);
        tail = atomic_load(&r->hdr->tail);
        if (tail - head > r->geo.slots) {
                ring_unlock(r, TOKEN_DAEMON);
                return -EBADMSG;
        }

        /* 2. roll forward a half-done critical section. We hold the lock, so no live process
         * is inside one: whatever is half done was left by a dead holder — this one, or one
         * whose lock an earlier daemon took over and then died itself. */
        w = atomic_load(&ring_slot(r, tail)->word);
        if (tail - head < r->geo.slots && slot_word_state(w) == SLOT_CLAIMED && slot_word_lap(w) == ring_lap(r, tail)) {
                atomic_store(&r->hdr->tail, ++tail);
                rep.rolled++;
        }
        w = atomic_load(&ring_slot(r, head)->word);
        /* a slot FREE for its next lap at head: what a passer of the first protocol (slot word
         * first, then head) left when killed between the two; today's passers move head first,
         * and the claim that reaches a slot they left frees it */
        if (head != tail && is_passed(r, w, head)) {
                uint64_t h = head;

                if (atomic_compare_exchange_strong(&r->hdr->head, &h, head + 1))
                        rep.rolled++;
                CRASH_POINT(daemon_repair_rolled);
                head = atomic_load(&r->hdr->head);
                /* a value read again is validated again: any attached process can write head */
                if (tail - head > r->geo.slots) {
                        ring_unlock(r, TOKEN_DAEMON);
                        return -EBADMSG;
                }
        }

        /* 3. abandon its claims, redeliver what it was reading: a walk of the validated local
         * count, never to a position read from shared memory */
        n = (uint32_t)(tail - head);
        for (uint32_t i = 0; i < n; i++) {
                uint64_t p = head + i;
                SlotHead *s = ring_slot(r, p);
                uint32_t lap = ring_lap(r, p);

                expect = slot_word(SLOT_CLAIMED, lap, dead);
                if (atomic_compare_exchange_strong(&s->word, &expect, slot_word(SLOT_ABANDONED, lap, 0))) {
                        atomic_fetch_add(&r->hdr->abandoned, 1);
                        rep.abandoned++;
                        continue;
                }
                expect = slot_word(SLOT_TAKEN, lap, dead);
                if (atomic_compare_exchange_strong(&s->word, &expect, slot_word(SLOT_READY, lap, 0))) {
                        atomic_fetch_add(&r->hdr->recovered, 1);
                        rep.redelivered++;
                }
        }

        /* 4. pass head over what is finished now */
        k = advance_head(r, false);
        if (k > 0)
                rep.head_advanced = (unsigned)k;

        if (rep.held_lock || rep.rolled || rep.abandoned || rep.redelivered)
                atomic_fetch_add(&r->hdr->repairs, 1);

        /* 5. the dead attachment's bits and entry */
        if (idx < LAYOUT_ATT_MAX) {
                uint32_t att = dead;

                atomic_fetch_and(&r->hdr->items_sleepers[idx / 64], ~(UINT64_C(1) << (idx % 64)));
                atomic_fetch_and(&r->hdr->space_sleepers[idx / 64], ~(UINT64_C(1) << (idx % 64)));
                atomic_fetch_and(&r->hdr->pollers[idx / 64], ~(UINT64_C(1) << (idx % 64)));
                /* a broadcast subscriber: it holds nothing back any more */
                atomic_fetch_and(&r->hdr->subs[idx / 64], ~(UINT64_C(1) << (idx % 64)));
                atomic_compare_exchange_strong(&r->hdr->att[idx], &att, 0);
        }

        /* 6. unlock and wake everyone who may have waited on the dead */
        ring_unlock(r, TOKEN_DAEMON);
        ring_wake_all(r);
        if (k < 0)
                return k;
        if (ret)
                *ret = rep;
        return 0;
}

/*
 * ring_fifo_settle() - after a polling box received (or found nothing): empty the FIFO when no
 * message is left, and signal it again if one arrived meanwhile, so that it stays readable
 * exactly while messages are queued (give or take a spurious wake-up)
 */
void ring_fifo_settle(Ring *r) {
        char buf[256];

        if (r->geo.kind) {
                bcast_fifo_settle(r);
                return;
        }
        if (!r->has_fifo || has_ready(r))
                return;
        atomic_store(&r->hdr->fifo_signaled, 0);
        /* Bounded: any attached process can write into the FIFO as fast as we read. What is
         * left costs the poller a spurious wake-up, not a loop. */
        for (int i = 0; i < 16; i++)
                if (read(r->fifo_fd, buf, sizeof(buf)) <= 0)
                        break;
        if (has_ready(r))
                fifo_signal(r);
}

/*
 * ring_fifo_due() - for a process that keeps no FIFO open (the daemon, after a repair): whether
 * a box polls and a message is takeable; if so, fifo_signaled is set and the caller writes the
 * byte. It writes even if fifo_signaled was set already: a byte too many costs a poller one
 * spurious wake-up (ring_fifo_settle() reads it), a byte too few a sleep to its timeout.
 */
bool ring_fifo_due(Ring *r) {
        if (r->geo.kind) /* a subscriber's news is its own: the daemon pokes each, it costs a look */
                return mask_any(r->hdr->pollers);
        if (!mask_any(r->hdr->pollers) || !has_ready(r))
                return false;
        atomic_store(&r->hdr->fifo_signaled, fifo_stamp());
        return true;
}

/*
 * ring_poll() - start (or stop) watching the FIFO for attachment @idx
 */
void ring_poll(Ring *r, unsigned idx, bool on) {
        uint64_t bit = UINT64_C(1) << (idx % 64);

        if (idx >= LAYOUT_ATT_MAX)
                return;
        if (r->geo.kind) {
                bcast_poll(r, idx, on);
                return;
        }
        if (on) {
                atomic_fetch_or(&r->hdr->pollers[idx / 64], bit);
                if (has_ready(r))
                        fifo_signal(r);
        } else
                atomic_fetch_and(&r->hdr->pollers[idx / 64], ~bit);
}

/*
 * ring_wake_all() - post every semaphore once per recorded sleeper (and once more)
 *
 * Each woken process re-checks the ring; extra posts cost at most a spurious wake-up.
 */
void ring_wake_all(Ring *r) {
        unsigned n;

        if (r->geo.kind) /* the subscribers, each on its own */
                bcast_wake_subs(r);
        n = mask_count(r->hdr->items_sleepers) + 1;
        while (n--)
                psem_post(r->sem[SEM_ITEMS]);
        n = mask_count(r->hdr->space_sleepers) + 1;
        while (n--)
                psem_post(r->sem[SEM_SPACE]);
        if (atomic_load(&r->hdr->lock) & LOCK_W)
                psem_post(r->sem[SEM_LOCK]);
}

/*
 * ring_mark_destroyed() - set DESTROYED and wake every sleeper; each returns -EIDRM and passes
 * the wake-up on
 */
void ring_mark_destroyed(Ring *r) {
        atomic_fetch_or(&r->hdr->flags, HDR_DESTROYED);
        ring_wake_all(r);
        psem_post(r->sem[SEM_LOCK]);
}

/*
 * ring_i_count_header() - the header's part of a snapshot for ring_count() (queues and
 * broadcast mailboxes): head, tail, the lock word, the counters, and a lock held by a token of
 * no attachment (RING_CORRUPT_LOCK); everything else of @ret 0
 */
void ring_i_count_header(const Ring *r, RingCounts *ret) {
        RingCounts c = {};
        uint64_t v = atomic_load(&r->hdr->lock);

        c.head = atomic_load(&r->hdr->head);
        c.tail = atomic_load(&r->hdr->tail);
        c.lock_holder = LOCK_TOKEN(v);
        c.lock_waiters = v & LOCK_W;
        c.received = atomic_load(&r->hdr->received);
        c.recovered = atomic_load(&r->hdr->recovered);
        c.abandoned_total = atomic_load(&r->hdr->abandoned);
        c.repairs = atomic_load(&r->hdr->repairs);
        /* a holder always has an attachment entry (or is the daemon), and keeps it while it
         * holds the lock: the daemon drops a repaired holder's entry under the lock itself */
        if (c.lock_holder != TOKEN_NONE && !token_attached(r, c.lock_holder) &&
            LOCK_TOKEN(atomic_load(&r->hdr->lock)) == c.lock_holder)
                c.corrupt |= RING_CORRUPT_LOCK;
        *ret = c;
}

/* One snapshot for ring_count(), with what it finds impossible. */
static void count_once(const Ring *r, RingCounts *ret) {
        const uint8_t *end = slots_end(r);
        RingCounts c;
        uint64_t allowed;
        uint32_t n;
        Pos x;

        ring_i_count_header(r, &c);
        if (c.recovered > c.received) /* each redelivered message was taken, and counted, first */
                c.corrupt |= RING_CORRUPT_COUNTERS;
        if (c.tail - c.head > r->geo.slots) {
                c.bad = 1;
                c.corrupt |= RING_CORRUPT_POSITIONS;
                *ret = c;
                return;
        }
        /* the whole ring, a walk of the private slot count: [head, tail) is counted, and every
         * position there holds a word of its own lap (or one passed by head); [tail, head +
         * slots) is not claimed yet */
        n = (uint32_t)(c.tail - c.head);
        x = ring_pos(r, c.head);
        for (uint32_t i = 0; i < r->geo.slots; i++, pos_next(r, &x, end)) {
                uint64_t p = c.head + i;
                /* acquire: a READY word's len and meta, stored before its commit, are seen */
                uint64_t w = atomic_load_explicit(&x.s->word, memory_order_acquire);
                unsigned st = slot_word_state(w);

                if (i >= n) {
                        /* a claim killed between its word and tail leaves its word CLAIMED at
                         * tail, for the repair to roll forward: a state, not a scribble */
                        if (!word_unclaimed(w, x.lap) && !(i == n && st == SLOT_CLAIMED && slot_word_lap(w) == x.lap))
                                c.corrupt |= RING_CORRUPT_SLOT;
                        continue;
                }
                if (is_passed(r, w, p)) { /* finished; head is being passed over it */
                        c.done++;
                        continue;
                }
                if (word_unclaimed(w, x.lap)) /* claims write the word first, tail second */
                        c.corrupt |= RING_CORRUPT_POSITIONS;
                else if (!word_valid(w, x.lap))
                        c.corrupt |= RING_CORRUPT_SLOT;
                else if (st == SLOT_READY || st == SLOT_TAKEN) {
                        /* each read once, as ring_take() reads them: a committed word was
                         * written after its len and meta, which stay until a claim a lap on */
                        uint32_t len = *(volatile uint32_t *)&x.s->len;
                        uint32_t meta = *(volatile uint32_t *)&x.s->meta;

                        if (len > r->geo.slot_size)
                                c.corrupt |= RING_CORRUPT_LENGTH;
                        else if (slot_meta_hdr(meta, len) < 0)
                                c.corrupt |= RING_CORRUPT_META;
                }
                switch (st) {
                case SLOT_READY: c.ready++; break;
                case SLOT_CLAIMED:
                        if (c.claimed++ == 0) {
                                c.oldest_claimed_token = slot_word_token(w);
                                c.oldest_claimed_stamp = x.s->stamp;
                        }
                        break;
                case SLOT_TAKEN:
                        if (c.taken++ == 0) {
                                c.oldest_taken_token = slot_word_token(w);
                                c.oldest_taken_stamp = x.s->stamp;
                        }
                        break;
                case SLOT_DONE: c.done++; break;
                case SLOT_ABANDONED: c.abandoned++; break;
                default: c.bad++; break;
                }
        }
        /* every position below tail was claimed once: committed, abandoned, or still claimed */
        if (c.abandoned_total > c.tail - c.claimed) {
                c.corrupt |= RING_CORRUPT_COUNTERS; /* sent would be a number below zero */
                *ret = c;
                return;
        }
        c.sent = c.tail - c.abandoned_total - c.claimed;
        /* Each take is counted once, just before its CAS: takes of messages sent, takes of
         * messages recovered, at most one count ahead of its CAS (under the lock), and one
         * more per receiver killed between the two, whose repair took its lock and counted. */
        if (!__builtin_add_overflow(c.sent, c.recovered, &allowed) &&
            !__builtin_add_overflow(allowed, c.repairs + 1, &allowed) && c.received > allowed)
                c.corrupt |= RING_CORRUPT_COUNTERS;
        *ret = c;
}

/*
 * ring_count() - count slots per state between head and tail, and validate the ring, without
 * the lock (for info)
 *
 * Receivers, senders and repairs change the ring under the count, so one snapshot may combine
 * values that never coexisted (a head read before tail, both moved since). A corruption is
 * reported only when a second snapshot agrees: same head, tail and lock word and the same
 * findings. Positions only grow on a healthy ring, so a head and tail read equal twice did not
 * move in between, and a pair read while they stood still is a pair that coexisted; slot words
 * change under a still head and tail only by steps that keep them valid. A ring that keeps
 * moving for RING_RECHECKS snapshots is alive: its findings are dropped (a peer that scribbles
 * and repairs in a loop can hide; it can also stop, and be seen).
 * @ret: filled; ret->corrupt holds RING_CORRUPT_* (never SEGMENT, which is the daemon's).
 */
void ring_count(const Ring *r, RingCounts *ret) {
        void (*once)(const Ring *, RingCounts *) = r->geo.kind ? bcast_count : count_once;
        RingCounts a, b;

        once(r, &a);
        for (unsigned i = 0; a.corrupt && i < RING_RECHECKS; i++) {
                once(r, &b);
                if (b.head == a.head && b.tail == a.tail && b.lock_holder == a.lock_holder && b.corrupt == a.corrupt) {
                        *ret = b;
                        return;
                }
                a = b;
        }
        a.corrupt = 0; /* clean, or never the same twice: a ring at work */
        *ret = a;
}

/* ---- for proto/bcast.c (proto/ring-internal.h): the queue's own steps, out of line --------- */

int ring_i_lock(Ring *r, uint32_t me, const RingDeadline *dl) {
        return ring_lock(r, me, dl);
}

int ring_i_unlock(Ring *r, uint32_t me) {
        return ring_unlock(r, me);
}

int ring_i_enter(Ring *r, uint32_t me, unsigned idx, SemRole role) {
        return ring_enter(r, me, idx, role);
}

int ring_i_wait(Ring *r, SemRole role, unsigned idx, bool (*ready)(const Ring *), const RingDeadline *dl,
                RingWaiter *wt) {
        return ring_wait(r, role, idx, ready, dl, wt);
}

void ring_i_wake(Ring *r, SemRole role, unsigned n) {
        wake_n(r, role, n);
}
