/* ring.c — the mailbox ring and its lock: send, receive and repair on a mapped segment.
 *
 * This is the protocol of ../shared/RING.md, with one deliberate change (below). In short:
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
 *
 * The change: semaphores are *only* wake-up channels, not counters. RING.md keeps items/space
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
 *     which every sem_post is a FUTEX_WAKE; since we call sem_post only when a live sleeper's
 *     bit is set, such a damaged semaphore costs nothing on the message path, and it never
 *     needs to be replaced.
 *
 * Everything read from shared memory is untrusted: tail - head is checked against the slot
 * count, the length against slot_size, each slot word against the lap its position implies;
 * a violation is -EBADMSG. Positions are 64-bit and never wrap in practice; laps are 24 bits,
 * so a stale holder would have to sleep through 2^24 laps of the ring to be confused.
 */
#include "config.h"

#include "proto/ring.h"

#include <errno.h>
#include <string.h>

#include "proto/crash.h"
#include "proto/util.h"

/* How long the lock may be waited for when the caller asked not to block (timeout 0): the
 * lock is only ever held for a few instructions, so only a preempted or stopped holder is
 * waited for, and not long. */
#define RING_LOCK_NOWAIT_NS (10 * 1000 * 1000L)
#define RING_SPINS 128

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

/* Sleep on @sem until posted, the deadline, or one slice. 0 on any wake, -ETIMEDOUT past the
 * deadline. A signal does not cut the wait short: it is simply one more wake-up. */
static int sem_sleep(sem_t *sem, const RingDeadline *dl) {
        struct timespec now, until;
        int rc;

        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!dl->forever && !ts_before(&now, &dl->at))
                return -ETIMEDOUT;
        until = now;
        ts_add_ns(&until, RING_SLICE_NS);
        if (!dl->forever && ts_before(&dl->at, &until))
                until = dl->at;
        rc = sem_clockwait(sem, CLOCK_MONOTONIC, &until);
        if (rc < 0 && errno != ETIMEDOUT && errno != EINTR)
                return -errno;
        return 0;
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
static bool slot_word_valid(const Ring *r, uint64_t w, uint64_t p) {
        unsigned st = slot_word_state(w);

        return st != SLOT_FREE && st < _SLOT_STATE_MAX && slot_word_lap(w) == ring_lap(r, p);
}

/*
 * The lock (RING.md): CAS(0 -> me) when free; else set W and sleep on the lock semaphore,
 * re-checking after every wake. A winner after a sleep takes the lock with W set, since other
 * sleepers may remain; that costs at most one spurious post at unlock.
 */
static int ring_lock(Ring *r, uint32_t me, const RingDeadline *dl) {
        _Atomic uint64_t *lock = &r->hdr->lock;
        RingDeadline lock_dl = *dl;
        uint64_t v = 0;

        if (atomic_compare_exchange_strong(lock, &v, me))
                return 0;
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
                if (v == 0) {
                        if (atomic_compare_exchange_strong(lock, &v, me | LOCK_W))
                                return 0;
                        continue;
                }
                if (!(v & LOCK_W) && !atomic_compare_exchange_strong(lock, &v, v | LOCK_W))
                        continue;
                if (destroyed(r)) {
                        sem_post(r->sem[SEM_LOCK]); /* pass the wake-up on */
                        return -EIDRM;
                }
                if (!token_attached(r, LOCK_TOKEN(v)))
                        return -EBADMSG;
                int k = sem_sleep(r->sem[SEM_LOCK], &lock_dl);
                if (k == -ETIMEDOUT)
                        return dl->now ? -EAGAIN : -ETIMEDOUT;
                if (k < 0)
                        return k;
        }
}

static int ring_unlock(Ring *r, uint32_t me) {
        uint64_t old = atomic_exchange(&r->hdr->lock, 0);

        if (old & LOCK_W)
                sem_post(r->sem[SEM_LOCK]);
        return LOCK_TOKEN(old) == me ? 0 : -EBADMSG;
}

static bool mask_any(_Atomic uint64_t *mask) {
        uint64_t any = 0;

        for (unsigned i = 0; i < LAYOUT_ATT_WORDS; i++)
                any |= atomic_load(&mask[i]);
        return any != 0;
}

static unsigned mask_count(_Atomic uint64_t *mask) {
        unsigned n = 0;

        for (unsigned i = 0; i < LAYOUT_ATT_WORDS; i++)
                n += (unsigned)__builtin_popcountll(atomic_load(&mask[i]));
        return n;
}

/* Post @role's semaphore if anyone is recorded as sleeping on it (see the essay above). */
static void wake(Ring *r, SemRole role) {
        _Atomic uint64_t *mask = role == SEM_ITEMS ? r->hdr->items_sleepers : r->hdr->space_sleepers;

        if (mask_any(mask))
                sem_post(r->sem[role]);
}

/* Wake up to @n sleepers of @role: one per slot freed, no more than there are sleepers. */
static void wake_n(Ring *r, SemRole role, unsigned n) {
        _Atomic uint64_t *mask = role == SEM_ITEMS ? r->hdr->items_sleepers : r->hdr->space_sleepers;

        if (!mask_any(mask))
                return;
        n = MIN(n, mask_count(mask));
        while (n--)
                sem_post(r->sem[role]);
}

/* Ring predicates, read without the lock: hints that decide whether to sleep. */
static bool has_space(const Ring *r) {
        uint64_t head = atomic_load(&r->hdr->head), tail = atomic_load(&r->hdr->tail);

        /* corrupt (tail - head > slots): "yes", so that the locked path reports it */
        return tail - head != r->geo.slots;
}

static bool has_ready(const Ring *r) {
        uint64_t head = atomic_load(&r->hdr->head), tail = atomic_load(&r->hdr->tail);

        if (tail - head > r->geo.slots)
                return true; /* corrupt: let the locked path report it */
        for (uint64_t p = head; p != tail; p++) {
                uint64_t w = atomic_load_explicit(&ring_slot(r, p)->word, memory_order_relaxed);
                /* READY, or corrupt: the locked path reports that */
                if (slot_word_state(w) == SLOT_READY || !slot_word_valid(r, w, p))
                        return true;
        }
        return false;
}

/* Wait until @ready holds or a slice passes, recorded in the sleeper mask of @role. */
static int ring_wait(Ring *r, SemRole role, unsigned idx, bool (*ready)(const Ring *),
                     const RingDeadline *dl) {
        _Atomic uint64_t *mask = role == SEM_ITEMS ? r->hdr->items_sleepers : r->hdr->space_sleepers;
        uint64_t bit = UINT64_C(1) << (idx % 64);
        int k;

        if (dl->now)
                return -EAGAIN;
        atomic_fetch_or(&mask[idx / 64], bit);
        if (ready(r) || destroyed(r)) {
                atomic_fetch_and(&mask[idx / 64], ~bit);
                return 0;
        }
        if (role == SEM_ITEMS)
                CRASH_POINT(recv_before_sleep);
        else
                CRASH_POINT(send_before_sleep);
        k = sem_sleep(r->sem[role], dl);
        atomic_fetch_and(&mask[idx / 64], ~bit);
        return k;
}

/* Common entry checks: destroyed (pass the wake-up on), our attachment still ours. */
static int ring_enter(Ring *r, uint32_t me, unsigned idx, SemRole role) {
        if (destroyed(r)) {
                sem_post(r->sem[role]);
                return -EIDRM;
        }
        if (idx >= LAYOUT_ATT_MAX || atomic_load_explicit(&r->hdr->att[idx], memory_order_relaxed) != me)
                return -ESTALE;
        return 0;
}

/* Under the lock: pass head over finished slots, making each FREE for its next lap. Returns
 * how many it passed, or -EBADMSG. */
static int advance_head(Ring *r, uint64_t head, uint64_t tail) {
        int passed = 0;

        while (head != tail) {
                SlotHead *s = ring_slot(r, head);
                uint64_t w = atomic_load(&s->word);
                unsigned st = slot_word_state(w);

                if (st != SLOT_DONE && st != SLOT_ABANDONED)
                        break;
                if (slot_word_lap(w) != ring_lap(r, head))
                        return -EBADMSG;
                if (!atomic_compare_exchange_strong(&s->word, &w,
                                                    slot_word(SLOT_FREE, ring_lap(r, head + r->geo.slots), 0)))
                        return -EBADMSG;
                head++;
                atomic_store(&r->hdr->head, head); /* slot word first, index second */
                passed++;
        }
        return passed;
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
        uint64_t p, head, expect;
        SlotHead *s;
        uint32_t lap;
        int k;

        if (len > r->geo.slot_size)
                return -EMSGSIZE;
        for (;;) {
                k = ring_enter(r, me, idx, SEM_SPACE);
                if (k < 0)
                        return k;
                if (!has_space(r)) {
                        k = ring_wait(r, SEM_SPACE, idx, has_space, dl);
                        if (k < 0)
                                return k;
                        continue;
                }
                CRASH_POINT(send_before_lock);
                k = ring_lock(r, me, dl);
                if (k < 0)
                        return k;
                CRASH_POINT(send_locked);
                head = atomic_load(&r->hdr->head);
                p = atomic_load(&r->hdr->tail);
                if (p - head > r->geo.slots) {
                        ring_unlock(r, me);
                        return -EBADMSG;
                }
                if (p - head == r->geo.slots) { /* filled since we looked: wait again */
                        ring_unlock(r, me);
                        continue;
                }
                s = ring_slot(r, p);
                lap = ring_lap(r, p);
                expect = slot_word(SLOT_FREE, lap, 0);
                if (!atomic_compare_exchange_strong(&s->word, &expect, slot_word(SLOT_CLAIMED, lap, me))) {
                        ring_unlock(r, me);
                        return -EBADMSG;
                }
                atomic_store(&r->hdr->tail, p + 1);
                k = ring_unlock(r, me);
                if (k < 0)
                        return k;
                break;
        }

        s->stamp = stamp_now();
        CRASH_POINT(send_claimed);
        memcpy(ring_payload(r, p), data, len / 2);
        CRASH_POINT(send_half_copied);
        memcpy(ring_payload(r, p) + len / 2, (const uint8_t *)data + len / 2, len - len / 2);
        s->len = (uint32_t)len;

        expect = slot_word(SLOT_CLAIMED, lap, me);
        if (!atomic_compare_exchange_strong(&s->word, &expect, slot_word(SLOT_READY, lap, me)))
                return -ESTALE; /* repaired meanwhile: our slot was abandoned */
        CRASH_POINT(send_committed);
        /* no counter here: sent is derived (ring_count), so no kill can make it drift */
        wake(r, SEM_ITEMS);
        return 0;
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
        uint64_t p, head, tail, w = 0, expect;
        SlotHead *s = NULL;
        uint32_t lap, len;
        int k;

        for (;;) {
                k = ring_enter(r, me, idx, SEM_ITEMS);
                if (k < 0)
                        return k;
                if (!has_ready(r)) {
                        k = ring_wait(r, SEM_ITEMS, idx, has_ready, dl);
                        if (k < 0)
                                return k;
                        continue;
                }
                CRASH_POINT(recv_before_lock);
                k = ring_lock(r, me, dl);
                if (k < 0)
                        return k;
                CRASH_POINT(recv_locked);
                head = atomic_load(&r->hdr->head);
                tail = atomic_load(&r->hdr->tail);
                if (tail - head > r->geo.slots) {
                        ring_unlock(r, me);
                        return -EBADMSG;
                }
                for (p = head; p != tail; p++) {
                        s = ring_slot(r, p);
                        w = atomic_load(&s->word);
                        if (!slot_word_valid(r, w, p)) {
                                ring_unlock(r, me);
                                return -EBADMSG;
                        }
                        if (slot_word_state(w) == SLOT_READY)
                                break;
                }
                if (p == tail) { /* taken by another receiver since we looked */
                        ring_unlock(r, me);
                        continue;
                }
                lap = ring_lap(r, p);
                len = *(volatile uint32_t *)&s->len; /* read once, use the copy */
                if (slot_word_lap(w) != lap || len > r->geo.slot_size) {
                        ring_unlock(r, me);
                        return -EBADMSG;
                }
                if (!buf && cap == 0) {
                        ring_unlock(r, me);
                        return len;
                }
                if (len > cap) {
                        ring_unlock(r, me);
                        return -EMSGSIZE;
                }
                atomic_fetch_add_explicit(&r->hdr->received, 1, memory_order_relaxed);
                if (!atomic_compare_exchange_strong(&s->word, &w, slot_word(SLOT_TAKEN, lap, me))) {
                        ring_unlock(r, me);
                        return -EBADMSG;
                }
                k = ring_unlock(r, me);
                if (k < 0)
                        return k;
                break;
        }

        s->stamp = stamp_now();
        CRASH_POINT(recv_taken);
        memcpy(buf, ring_payload(r, p), len / 2);
        CRASH_POINT(recv_half_copied);
        memcpy((uint8_t *)buf + len / 2, ring_payload(r, p) + len / 2, len - len / 2);

        expect = slot_word(SLOT_TAKEN, lap, me);
        if (!atomic_compare_exchange_strong(&s->word, &expect, slot_word(SLOT_DONE, lap, 0)))
                return -ESTALE; /* repaired meanwhile: it was redelivered, drop our copy */
        CRASH_POINT(recv_consumed);

        /* The message is ours; now let head pass it so senders get the slot back. */
        RingDeadline forever = { .forever = true };
        if (ring_lock(r, me, &forever) < 0)
                return len; /* destroyed meanwhile: nobody needs the slot */
        CRASH_POINT(recv_head_locked);
        head = atomic_load(&r->hdr->head);
        tail = atomic_load(&r->hdr->tail);
        k = tail - head <= r->geo.slots ? advance_head(r, head, tail) : -EBADMSG;
        ring_unlock(r, me);
        if (k > 0)
                wake_n(r, SEM_SPACE, (unsigned)k);
        return len;
}

/*
 * ring_repair() - release everything the dead attachment @dead (index @idx) holds in the ring
 *
 * Called by the daemon only once the holder's death is proven (DESIGN.md invariant 5); @dead
 * may be TOKEN_DAEMON with @idx LAYOUT_ATT_MAX to take over the lock of a daemon that died in a
 * repair. Never
 * blocks: if a live process holds the lock, it returns -EBUSY and the caller retries later.
 * Steps (RING.md): take the lock (from the dead holder, or free); roll forward the dead
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
        int k;

        if (dead == TOKEN_NONE || (dead == TOKEN_DAEMON) != (idx == LAYOUT_ATT_MAX) || idx > LAYOUT_ATT_MAX)
                return -EINVAL;

        /* 1. take the lock: from the dead holder, or free (W set, so unlock wakes a sleeper) */
        v = atomic_load(lock);
        if (LOCK_TOKEN(v) == dead) {
                if (!atomic_compare_exchange_strong(lock, &v, TOKEN_DAEMON | (v & LOCK_W)))
                        return -EBUSY;
                rep.held_lock = true;
        } else if (v == 0) {
                if (!atomic_compare_exchange_strong(lock, &v, TOKEN_DAEMON | LOCK_W))
                        return -EBUSY;
        } else if (!token_attached(r, LOCK_TOKEN(v)))
                return -EBADMSG; /* held by no attachment: a scribble, no one to wait for */
        else
                return -EBUSY;
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
        if (tail - head < r->geo.slots && slot_word_state(w) == SLOT_CLAIMED &&
            slot_word_lap(w) == ring_lap(r, tail)) {
                atomic_store(&r->hdr->tail, ++tail);
                rep.rolled++;
        }
        w = atomic_load(&ring_slot(r, head)->word);
        if (head != tail && w == slot_word(SLOT_FREE, ring_lap(r, head + r->geo.slots), 0)) {
                atomic_store(&r->hdr->head, ++head);
                rep.rolled++;
        }

        /* 3. abandon its claims, redeliver what it was reading */
        for (uint64_t p = head; p != tail; p++) {
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
        k = advance_head(r, head, tail);
        if (k > 0)
                rep.head_advanced = (unsigned)k;

        if (rep.held_lock || rep.rolled || rep.abandoned || rep.redelivered)
                atomic_fetch_add(&r->hdr->repairs, 1);

        /* 5. the dead attachment's bits and entry */
        if (idx < LAYOUT_ATT_MAX) {
                uint32_t att = dead;

                atomic_fetch_and(&r->hdr->items_sleepers[idx / 64], ~(UINT64_C(1) << (idx % 64)));
                atomic_fetch_and(&r->hdr->space_sleepers[idx / 64], ~(UINT64_C(1) << (idx % 64)));
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
 * ring_wake_all() - post every semaphore once per recorded sleeper (and once more)
 *
 * Each woken process re-checks the ring; extra posts cost at most a spurious wake-up.
 */
void ring_wake_all(Ring *r) {
        unsigned n;

        n = mask_count(r->hdr->items_sleepers) + 1;
        while (n--)
                sem_post(r->sem[SEM_ITEMS]);
        n = mask_count(r->hdr->space_sleepers) + 1;
        while (n--)
                sem_post(r->sem[SEM_SPACE]);
        if (atomic_load(&r->hdr->lock) & LOCK_W)
                sem_post(r->sem[SEM_LOCK]);
}

/*
 * ring_mark_destroyed() - set DESTROYED and wake every sleeper; each returns -EIDRM and passes
 * the wake-up on
 */
void ring_mark_destroyed(Ring *r) {
        atomic_fetch_or(&r->hdr->flags, HDR_DESTROYED);
        ring_wake_all(r);
        sem_post(r->sem[SEM_LOCK]);
}

/*
 * ring_count() - count slots per state between head and tail, without the lock (for info)
 */
void ring_count(const Ring *r, RingCounts *ret) {
        RingCounts c = {};
        uint64_t v = atomic_load(&r->hdr->lock);

        c.head = atomic_load(&r->hdr->head);
        c.tail = atomic_load(&r->hdr->tail);
        c.lock_holder = LOCK_TOKEN(v);
        c.lock_waiters = v & LOCK_W;
        if (c.tail - c.head > r->geo.slots) {
                c.bad = 1;
                *ret = c;
                return;
        }
        c.abandoned_total = atomic_load(&r->hdr->abandoned);
        c.repairs = atomic_load(&r->hdr->repairs);
        for (uint64_t p = c.head; p != c.tail; p++) {
                uint64_t w = atomic_load_explicit(&ring_slot(r, p)->word, memory_order_relaxed);

                switch (slot_word_state(w)) {
                case SLOT_READY: c.ready++; break;
                case SLOT_CLAIMED:
                        if (c.claimed++ == 0) {
                                c.oldest_claimed_token = slot_word_token(w);
                                c.oldest_claimed_stamp = ring_slot(r, p)->stamp;
                        }
                        break;
                case SLOT_TAKEN:
                        if (c.taken++ == 0) {
                                c.oldest_taken_token = slot_word_token(w);
                                c.oldest_taken_stamp = ring_slot(r, p)->stamp;
                        }
                        break;
                case SLOT_DONE: c.done++; break;
                case SLOT_ABANDONED: c.abandoned++; break;
                default: c.bad++; break;
                }
        }
        /* every position below tail was claimed once: committed, abandoned, or still claimed */
        c.sent = c.tail - c.abandoned_total - c.claimed;
        *ret = c;
}
