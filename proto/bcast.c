/* SPDX-License-Identifier: MIT */
/* bcast.c — broadcast mailboxes: every subscriber reads every message, each at its own position.
 *
 * A broadcast mailbox (layout version 3, LAYOUT_KIND_BROADCAST or _OVERWRITE) is the queue's
 * ring with another reading side (doc/ring.md, "Broadcast mailboxes"):
 *
 * - Senders are the queue's: claim under the lock, copy, commit with one CAS (ring.c). Only the
 *   judgement of a slot at tail differs (bcast_claimable()): a slot is never taken, consumed or
 *   freed; its word stays READY (or ABANDONED) at its lap until a claim a lap later turns it
 *   CLAIMED for the next. That claim is allowed when every subscriber has read the position it
 *   overwrites (BROADCAST: `block`, the senders wait for the slowest subscriber), or always
 *   (OVERWRITE: the senders never wait for subscribers; only for a sender of the last lap still
 *   writing the slot).
 * - A subscriber reads in position order from its own position, without the lock and without
 *   writing any slot word: READY at the position's lap is a message, ABANDONED is skipped,
 *   CLAIMED or the last lap's word means "not yet" (so a sender stopped mid-copy holds the
 *   subscribers back until it resumes or dies, when the repair abandons its slot). Its copy is
 *   validated as a seqlock read: the word read again after the copy must be the word the take
 *   read, else a sender overwrote the slot meanwhile and the copy is dropped. A word of a later
 *   lap is a message lost to overwriting: the subscriber jumps to the oldest message still in
 *   the ring (tail - slots), counts what it missed, and the call says -EOVERFLOW once.
 * - Each subscriber publishes its position in its SubLine (proto/layout.h) after each message,
 *   and its attachment index's bit in `subs`. A claim of position q in `block` needs every
 *   subscriber past q - slots. `head` is the lower bound the claims keep: the lowest position a
 *   subscriber may still read (block) or the oldest still in the ring (overwrite); a claim
 *   looks at the subscribers' lines only when head says the slot may still be wanted, once
 *   a lap per subscriber that keeps up. tail - head <= slots holds as in a queue, so the
 *   repair's roll-forward and ring_count()'s checks are the queue's.
 * - Subscribing takes the lock: the new position (tail) and the bit are published while no
 *   claim runs, so no claim judged without it can overwrite what it is about to read.
 *   Unsubscribing clears the bit; the daemon clears it when it hands an index out and in the
 *   repair of a dead or detached attachment: a dead subscriber holds back nothing.
 * - Everything read from shared memory is untrusted: a subscriber's line outside [head, tail]
 *   holds nothing back, a bit of an index with no attachment counts for nothing, a word in no
 *   state a step writes is -EBADMSG once a second look agrees, and every loop is bounded by
 *   the attachment count or the private slot count.
 */
#include "config.h"

#include "proto/ring-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/crash.h"
#include "proto/psem.h"
#include "proto/util.h"

#define BCAST_RECHECKS 8u

static inline uint32_t lap_prev(uint32_t lap) {
        return (lap - 1) & LAP_MASK;
}

static inline bool finished(unsigned st) {
        return st == SLOT_READY || st == SLOT_ABANDONED;
}

/* A distance between two positions that no healthy ring can have: tail past a position by
 * more than this is a scribble, not a subscriber that fell behind. */
#define BCAST_FAR (UINT64_C(1) << 62)

/*
 * The lowest position a subscriber still has to read, from @head to @q (@q if none). A line
 * outside [head, q] holds nothing back (a scribble, or a subscriber whose bit the daemon is
 * clearing); an index with no attachment counts for nothing. At most LAYOUT_ATT_MAX lines.
 */
static uint64_t min_pos(const Ring *r, uint64_t head, uint64_t q) {
        uint64_t m = q;

        for (unsigned wi = 0; wi < LAYOUT_ATT_WORDS; wi++) {
                uint64_t bits = atomic_load(&r->hdr->subs[wi]);

                while (bits) {
                        unsigned i = wi * 64 + (unsigned)__builtin_ctzll(bits);
                        uint64_t p;

                        bits &= bits - 1;
                        if (atomic_load_explicit(&r->hdr->att[i], memory_order_relaxed) == TOKEN_NONE)
                                continue;
                        p = atomic_load_explicit(&layout_sub(r->base, i)->pos, memory_order_acquire);
                        if (p - head > q - head)
                                continue;
                        if (p - head < m - head)
                                m = p;
                }
        }
        return m;
}

/*
 * bcast_has_space() - a hint, without the lock: whether a claim at tail may succeed now
 */
bool bcast_has_space(const Ring *r) {
        uint64_t tail = atomic_load(&r->hdr->tail), head;
        SlotHead *s = ring_slot(r, tail);
        uint32_t lap = ring_lap(r, tail);
        uint64_t w = atomic_load(&s->word);

        if (w == slot_word(SLOT_FREE, lap, 0))
                return true;
        if (slot_word_lap(w) != lap_prev(lap))
                return true; /* moving, or corrupt: the locked path judges */
        if (slot_word_state(w) == SLOT_CLAIMED)
                return false; /* a sender of the last lap still writes it */
        if (!finished(slot_word_state(w)) || r->geo.kind == LAYOUT_KIND_OVERWRITE)
                return true;
        head = atomic_load(&r->hdr->head);
        if (tail - head < r->geo.slots)
                return true;
        return tail - min_pos(r, head, tail) < r->geo.slots;
}

/*
 * bcast_claimable() - under the lock: whether position @q (tail) can be claimed now
 * @s, @lap: its slot and lap; @ret_word: the word the claim's CAS must find there
 *
 * Return: 1 yes; 0 the ring is full (a subscriber has not read the slot's last message, or a
 *         sender of the last lap still writes it); -EBADMSG.
 */
int bcast_claimable(Ring *r, uint64_t q, SlotHead *s, uint32_t lap, uint64_t *ret_word) {
        uint64_t w, head, m;

        for (unsigned i = 0; i < BCAST_RECHECKS; i++) {
                w = atomic_load(&s->word);
                *ret_word = w;
                if (w == slot_word(SLOT_FREE, lap, 0) && q < r->geo.slots)
                        return 1; /* the first lap */
                if (slot_word_lap(w) == lap_prev(lap) && q >= r->geo.slots) {
                        if (slot_word_state(w) == SLOT_CLAIMED)
                                return 0;
                        if (finished(slot_word_state(w))) {
                                head = atomic_load(&r->hdr->head);
                                /* head is a hint any attached process can write: one that
                                 * does not stand within a ring below q is replaced by the
                                 * lowest value it can have (the subscribers' lines decide) */
                                if (q - head > r->geo.slots)
                                        head = q - r->geo.slots;
                                if (r->geo.kind == LAYOUT_KIND_OVERWRITE) {
                                        if (q - head >= r->geo.slots)
                                                atomic_store(&r->hdr->head, q - r->geo.slots + 1);
                                        return 1;
                                }
                                if (q - head < r->geo.slots)
                                        return 1;
                                m = min_pos(r, head, q);
                                if (m != head)
                                        atomic_store(&r->hdr->head, m);
                                return q - m < r->geo.slots ? 1 : 0;
                        }
                }
                /* under the lock a word at tail changes only from CLAIMED to finished (a late
                 * commit or abort of the last lap): one read twice the same is corrupt */
                if (atomic_load(&s->word) == w)
                        return -EBADMSG;
        }
        return 0;
}

/* What a subscriber finds at its position. */
typedef enum BcastAt {
        AT_WAIT, /* not committed yet at this lap */
        AT_MSG,  /* a message */
        AT_SKIP, /* abandoned: no message there */
        AT_LOST, /* a later lap: overwritten */
        AT_BAD,  /* a word no step writes there */
} BcastAt;

static BcastAt look(const Ring *r, uint64_t c, uint64_t w) {
        uint32_t lap = ring_lap(r, c);
        unsigned st = slot_word_state(w);

        if (slot_word_lap(w) == lap) {
                switch (st) {
                case SLOT_READY: return AT_MSG;
                case SLOT_ABANDONED: return AT_SKIP;
                case SLOT_CLAIMED: return AT_WAIT;
                case SLOT_FREE: return c < r->geo.slots ? AT_WAIT : AT_BAD;
                default: return AT_BAD;
                }
        }
        if (slot_word_lap(w) == lap_prev(lap))
                return st == SLOT_CLAIMED || finished(st) ? AT_WAIT : AT_BAD;
        return AT_LOST;
}

/* Whether the subscriber has something to do at its position: a message, a slot to skip,
 * or a loss to report (ring_wait()'s predicate). */
static bool bcast_has_item(const Ring *r) {
        uint64_t w = atomic_load_explicit(&ring_slot(r, r->sub_pos)->word, memory_order_acquire);

        return r->overflow_pending || look(r, r->sub_pos, w) != AT_WAIT;
}

/* Publish the subscriber's position: senders read it under the lock (release: the copies of
 * everything below it are done). */
static void publish(Ring *r) {
        if (r->sub)
                atomic_store_explicit(&r->sub->pos, r->sub_pos, memory_order_release);
}

/*
 * The subscriber at @c fell behind: tail @t is more than a ring past it. It goes on from the
 * oldest position still in the ring, and the messages in between are counted as missed.
 */
static int overflow(Ring *r, uint64_t c, uint64_t t) {
        uint64_t n = t - r->geo.slots;

        r->missed = n - c;
        r->sub_pos = n;
        r->bc_n = 0;
        r->overflow_pending = true;
        publish(r);
        if (r->sub)
                atomic_store_explicit(&r->sub->missed,
                                      atomic_load_explicit(&r->sub->missed, memory_order_relaxed) + (n - c),
                                      memory_order_relaxed);
        return -EOVERFLOW;
}

/*
 * Tail as a subscriber that found @w, a word of a later lap, at its position @c must judge it.
 * A claim turns the slot word first and stores tail second, both under the lock: between the
 * two the word of position c + slots is there while tail is still c + slots. The message at
 * @c is overwritten all the same (the claimer copies into the slot next), so that word counts
 * as the claim it is. Without this, a subscriber found "a lap on, yet tail does not agree":
 * bcast_take() looked again and again (a spin on a sender that may be stopped or dead
 * there, until the repair rolls tail forward), and bcast_consume() called it a scribble
 * (-EBADMSG on a healthy ring). The explorer found both (doc/explore.md).
 */
static uint64_t tail_for(const Ring *r, uint64_t c, uint64_t w) {
        uint64_t t = atomic_load(&r->hdr->tail);

        if (t - c == r->geo.slots && slot_word_lap(w) == ((ring_lap(r, c) + 1) & LAP_MASK))
                t++;
        return t;
}

/* A word @w of a later lap at @c: overwritten if tail agrees (more than a ring past @c);
 * -EBADMSG if it does not and a second look at the word finds it the same (no claim writes
 * a word a lap on with tail behind it, tail_for() allowing for the one in flight: a scribble,
 * which bcast_has_item() would otherwise take for something to do again and again — an
 * endless loop fuzz-segment found); else 0 (look again: the caller bounds how often). */
static int lost(Ring *r, uint64_t c, uint64_t w) {
        uint64_t t = tail_for(r, c, w);

        if (t - c > r->geo.slots && t - c < BCAST_FAR)
                return overflow(r, c, t);
        if (atomic_load(&ring_slot(r, c)->word) == w)
                return -EBADMSG;
        return 0;
}

/*
 * bcast_wake_subs() - wake every subscriber recorded as sleeping, each on its own semaphore
 * (SubLine.wake), with at most one post pending for each: a post is never taken by a
 * subscriber it was not given to, so none sleeps beside a message it has not read
 * (doc/explore.md, D1). At most LAYOUT_ATT_MAX posts; the bits of indexes with no attachment
 * are passed over.
 */
void bcast_wake_subs(Ring *r) {
        for (unsigned wi = 0; wi < LAYOUT_ATT_WORDS; wi++) {
                uint64_t bits = atomic_load(&r->hdr->items_sleepers[wi]);

                while (bits) {
                        unsigned i = wi * 64 + (unsigned)__builtin_ctzll(bits);
                        sem_t *sem = &layout_sub(r->base, i)->wake;
                        int pending;

                        bits &= bits - 1;
                        if (atomic_load_explicit(&r->hdr->att[i], memory_order_relaxed) == TOKEN_NONE)
                                continue;
                        if (psem_getvalue(sem, &pending) < 0)
                                pending = 0;
                        if (pending < 1)
                                psem_post(sem);
                }
        }
}

/*
 * bcast_take() - the subscriber's side of ring_take(): up to @want messages from its position,
 * without the lock and without writing the ring
 *
 * The messages stay where they are; ring_consume() validates each copy (the slot word must be
 * the one read here) and moves the position past it. A take starts again from the position:
 * taking again before consuming shows the same messages.
 *
 * Return: as ring_take(); -EOVERFLOW once after the subscriber fell behind (r->missed says
 *         how many messages it lost); -EPERM if the box does not subscribe.
 */
ssize_t bcast_take(Ring *r, uint32_t me, unsigned idx, uint32_t want, size_t cap, const RingDeadline *dl,
                   void **ret_payload, uint32_t *ret_len, uint32_t *ret_hdr, RingWaiter *wt) {
        uint32_t got, len, meta, budget;
        uint64_t c, w;
        SlotHead *s;
        int h, k;

        for (;;) {
                k = ring_i_enter(r, me, idx, SEM_ITEMS);
                if (k < 0)
                        return k;
                if (!r->subscribed)
                        return -EPERM;
                if (r->overflow_pending) {
                        r->overflow_pending = false;
                        return -EOVERFLOW;
                }
                got = 0;
                c = r->sub_pos;
                r->bc_n = 0;
                /* each step moves c on, or looks again at a word that changed: bounded */
                for (budget = 2 * r->geo.slots + BCAST_RECHECKS; budget > 0 && (got < want || (want == 0 && got == 0));
                     budget--) {
                        s = ring_slot(r, c);
                        w = atomic_load_explicit(&s->word, memory_order_acquire);
                        switch (look(r, c, w)) {
                        case AT_WAIT: budget = 1; continue;
                        case AT_SKIP:
                                c++;
                                if (got == 0) {
                                        r->sub_pos = c;
                                        publish(r);
                                        /* passing an abandoned position frees its slot as a
                                         * consume does: a block sender may sleep on it (the
                                         * explorer: a sender that aborted, then slept with
                                         * room, woken by nobody) */
                                        if (r->geo.kind == LAYOUT_KIND_BROADCAST)
                                                ring_i_wake(r, SEM_SPACE, 1);
                                }
                                continue;
                        case AT_LOST:
                                if (got > 0) {
                                        budget = 1;
                                        continue;
                                }
                                k = lost(r, c, w);
                                if (k == -EOVERFLOW)
                                        r->overflow_pending = false;
                                if (k < 0)
                                        return k;
                                continue;
                        case AT_BAD:
                                if (atomic_load(&s->word) != w)
                                        continue;
                                if (got > 0) {
                                        budget = 1;
                                        continue;
                                }
                                return -EBADMSG;
                        case AT_MSG: break;
                        }
                        len = *(volatile uint32_t *)&s->len; /* read once, use the copy */
                        meta = *(volatile uint32_t *)&s->meta;
                        h = slot_meta_hdr(meta, len);
                        /* a sender a lap on may be writing them: judge only what the word
                         * still vouches for */
                        if (atomic_load_explicit(&s->word, memory_order_acquire) != w)
                                continue;
                        if (len > r->geo.slot_size || h < 0) {
                                if (got > 0) {
                                        budget = 1;
                                        continue;
                                }
                                return -EBADMSG;
                        }
                        if (want == 0)
                                return len - (uint32_t)h;
                        if (len - (uint32_t)h > cap) {
                                if (got == 0)
                                        return -EMSGSIZE;
                                budget = 1;
                                continue;
                        }
                        ret_payload[got] = (uint8_t *)s + LAYOUT_SLOT_HEAD;
                        ret_len[got] = len;
                        if (ret_hdr)
                                ret_hdr[got] = (uint32_t)h;
                        r->bc_pos[got] = c;
                        r->bc_word[got] = w;
                        got++;
                        c++;
                }
                if (got > 0) {
                        r->bc_n = got;
                        CRASH_POINT(recv_taken);
                        return got;
                }
                k = ring_i_wait(r, SEM_ITEMS, idx, bcast_has_item, dl, wt);
                if (k < 0)
                        return k;
        }
}

/*
 * bcast_consume() - the subscriber's side of ring_consume(): the copy of the message in @s,
 * taken by the last take, is good if its slot word is still the one the take read; the
 * position moves past it
 *
 * Return: 0; -ESTALE if @s is not a message of the last take still ahead of the position;
 *         -EOVERFLOW if a sender overwrote it meanwhile (the copy is to be dropped, r->missed
 *         says how many messages were lost); -EBADMSG.
 */
int bcast_consume(Ring *r, const SlotHead *s) {
        uint64_t c, w, t;
        uint32_t i;

        for (i = 0; i < r->bc_n && i < RING_BATCH_MAX; i++)
                if ((const SlotHead *)ring_slot(r, r->bc_pos[i]) == s)
                        break;
        if (i == r->bc_n || i == RING_BATCH_MAX)
                return -ESTALE;
        c = r->bc_pos[i];
        if (c - r->sub_pos >= BCAST_FAR) /* behind the position: passed already */
                return -ESTALE;
        /* the copy's loads before the word's: a seqlock read */
        atomic_thread_fence(memory_order_acquire);
        w = atomic_load(&((SlotHead *)s)->word);
        if (w != r->bc_word[i]) {
                t = tail_for(r, c, w);
                if (t - c <= r->geo.slots || t - c >= BCAST_FAR)
                        return -EBADMSG; /* changed, yet not overwritten: a scribble */
                return overflow(r, c, t);
        }
        r->sub_pos = c + 1;
        publish(r);
        CRASH_POINT(recv_consumed);
        if (r->geo.kind == LAYOUT_KIND_BROADCAST)
                ring_i_wake(r, SEM_SPACE, 1);
        return 0;
}

/*
 * ring_subscribe() - start (@on) or stop receiving every message of a broadcast mailbox
 *
 * A box starts at the next message claimed after it subscribed. Stopping lets the senders
 * overwrite what it has not read; a box subscribed again starts afresh.
 *
 * Return: 0; -EOPNOTSUPP for a queue; the lock's errors (-EAGAIN, -ETIMEDOUT, -EIDRM,
 *         -EBADMSG); -ESTALE.
 */
int ring_subscribe(Ring *r, uint32_t me, unsigned idx, bool on, const RingDeadline *dl) {
        uint64_t bit = UINT64_C(1) << (idx % 64), t;
        int k;

        if (r->geo.kind == LAYOUT_KIND_QUEUE)
                return -EOPNOTSUPP;
        k = ring_i_enter(r, me, idx, SEM_ITEMS);
        if (k < 0)
                return k;
        if (!on) {
                atomic_fetch_and(&r->hdr->subs[idx / 64], ~bit);
                r->subscribed = false;
                r->bc_n = 0;
                ring_i_wake(r, SEM_SPACE, LAYOUT_ATT_MAX);
                return 0;
        }
        if (r->subscribed)
                return 0;
        k = ring_i_lock(r, me, dl);
        if (k < 0)
                return k;
        /* no claim runs now: the position and the bit are in place before the next one */
        t = atomic_load(&r->hdr->tail);
        atomic_store(&layout_sub(r->base, idx)->pos, t);
        atomic_fetch_or(&r->hdr->subs[idx / 64], bit);
        k = ring_i_unlock(r, me);
        r->sub = layout_sub(r->base, idx);
        r->sub_pos = t;
        r->subscribed = true;
        r->overflow_pending = false;
        r->bc_n = 0;
        return k;
}

/*
 * bcast_count() - one snapshot of a broadcast mailbox for ring_count(): the slots from the
 * slowest subscriber's position (tail if none subscribes) to tail, per state
 */
void bcast_count(const Ring *r, RingCounts *ret) {
        RingCounts c;
        uint64_t hint;
        uint32_t n;

        ring_i_count_header(r, &c);
        hint = c.head; /* the claims' lower bound; the subscribers' lines say the rest */
        if (c.tail - hint > r->geo.slots) {
                c.head = hint;
                c.bad = 1;
                c.corrupt |= RING_CORRUPT_POSITIONS;
                *ret = c;
                return;
        }
        c.head = min_pos(r, hint, c.tail);
        n = (uint32_t)(c.tail - c.head);
        for (uint32_t i = 0; i < n; i++) {
                uint64_t p = c.head + i;
                SlotHead *s = ring_slot(r, p);
                uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);
                unsigned st = slot_word_state(w);

                if (slot_word_lap(w) != ring_lap(r, p)) {
                        /* a later lap: overwritten under us (overwrite: gone, as a consumed
                         * message is), or a scribble (a block ring, or the last lap's word at a
                         * claimed position). Counted all the same: each position
                         * between head and tail in one state (ring.h; fuzz-segment found one
                         * counted in none) */
                        if (r->geo.kind != LAYOUT_KIND_OVERWRITE || slot_word_lap(w) == lap_prev(ring_lap(r, p))) {
                                c.bad++;
                                c.corrupt |= RING_CORRUPT_SLOT;
                        } else
                                c.done++;
                        continue;
                }
                switch (st) {
                case SLOT_READY: {
                        /* each read once, as a take reads them (count_once() says why) */
                        uint32_t len = *(volatile uint32_t *)&s->len;
                        uint32_t meta = *(volatile uint32_t *)&s->meta;

                        c.ready++;
                        if (len > r->geo.slot_size)
                                c.corrupt |= RING_CORRUPT_LENGTH;
                        else if (slot_meta_hdr(meta, len) < 0)
                                c.corrupt |= RING_CORRUPT_META;
                        break;
                }
                case SLOT_CLAIMED:
                        if (c.claimed++ == 0) {
                                c.oldest_claimed_token = slot_word_token(w);
                                c.oldest_claimed_stamp = s->stamp;
                        }
                        break;
                case SLOT_ABANDONED: c.abandoned++; break;
                default:
                        c.bad++;
                        c.corrupt |= RING_CORRUPT_SLOT;
                        break;
                }
        }
        if (c.abandoned_total > c.tail) {
                c.corrupt |= RING_CORRUPT_COUNTERS;
                *ret = c;
                return;
        }
        /* every position below tail was claimed once; those below head are committed or
         * abandoned (a claim a lap later needed it), so the claimed ones are all counted */
        c.sent = c.tail - c.abandoned_total - MIN((uint64_t)c.claimed, c.tail - c.abandoned_total);
        *ret = c;
}

/* ---- shmbox_fd() of a subscriber: its own FIFO, signalled by the senders -----------------
 *
 * The mailbox's one FIFO says "messages are queued" to every poller of a queue; in a broadcast
 * mailbox each subscriber has news of its own, so each polling subscriber has a FIFO of its own
 * (names_sub_fifo(): made by the daemon on the box's first shmbox_fd(), kept until the mailbox
 * is destroyed) and its line's fifo_signaled says whether it holds its byte. A commit (or an
 * abort) signals every polling subscriber whose FIFO does not hold its byte: the sender opens
 * that FIFO once (O_NONBLOCK) and keeps it open. The subscriber settles its FIFO after each
 * receive, as a queue's poller does: emptied once nothing is left for it, signalled again if a
 * message came meanwhile. Any process with access can read or write these FIFOs: a byte too
 * many costs a spurious wake-up, one taken away is written again by the next commit after
 * BCAST_FIFO_RESIGNAL_MS.
 */
#define BCAST_FIFO_RESIGNAL_MS 5u

static uint32_t fifo_stamp(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u) | 1u;
}

/* The FIFO of subscriber @i, opened once by this box for writing; -1 if it cannot be (not made,
 * or nobody holds it open). */
static int sub_fd(Ring *r, unsigned i) {
        char path[NAMES_OBJECT_MAX + 16];
        int fd;

        if ((r->sub_fd_open[i / 64] >> (i % 64)) & 1)
                return r->sub_fd[i];
        if (!r->sub_fifo_base || snprintf(path, sizeof(path), "%s%u", r->sub_fifo_base, i) >= (int)sizeof(path))
                return -1;
        fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return -1;
        r->sub_fd[i] = fd;
        r->sub_fd_open[i / 64] |= UINT64_C(1) << (i % 64);
        return fd;
}

/*
 * bcast_fifo_signal() - after a commit or an abort, when some box polls: put its byte into the
 * FIFO of every polling subscriber that does not have it (at most LAYOUT_ATT_MAX)
 */
void bcast_fifo_signal(Ring *r) {
        uint32_t now = fifo_stamp();

        for (unsigned wi = 0; wi < LAYOUT_ATT_WORDS; wi++) {
                uint64_t bits = atomic_load(&r->hdr->pollers[wi]);

                while (bits) {
                        unsigned i = wi * 64 + (unsigned)__builtin_ctzll(bits);
                        SubLine *l = layout_sub(r->base, i);
                        uint32_t v;
                        int fd;

                        bits &= bits - 1;
                        if (atomic_load_explicit(&r->hdr->att[i], memory_order_relaxed) == TOKEN_NONE)
                                continue;
                        v = atomic_load(&l->fifo_signaled);
                        if (v != 0 && now - v <= BCAST_FIFO_RESIGNAL_MS)
                                continue;
                        if (!atomic_compare_exchange_strong(&l->fifo_signaled, &v, now))
                                continue;
                        fd = sub_fd(r, i);
                        if (fd >= 0)
                                (void)!write(fd, "", 1);
                }
        }
}

/* The subscriber's own FIFO (r->fifo_fd, which shmbox_fd() made its own): its byte, now. */
static void self_signal(Ring *r) {
        if (!r->sub || !r->has_fifo)
                return;
        atomic_store(&r->sub->fifo_signaled, fifo_stamp());
        (void)!write(r->fifo_fd, "", 1);
}

/*
 * bcast_fifo_settle() - after a polling subscriber received (or found nothing): empty its FIFO
 * once nothing is left for it, and signal it again if a message came meanwhile
 */
void bcast_fifo_settle(Ring *r) {
        char buf[256];

        if (!r->sub || !r->has_fifo || bcast_has_item(r))
                return;
        atomic_store(&r->sub->fifo_signaled, 0);
        /* bounded: anyone with access can write into it as fast as we read */
        for (int i = 0; i < 16; i++)
                if (read(r->fifo_fd, buf, sizeof(buf)) <= 0)
                        break;
        if (bcast_has_item(r))
                self_signal(r);
}

/*
 * bcast_poll() - start (or stop) signalling the FIFO of subscriber @idx
 */
void bcast_poll(Ring *r, unsigned idx, bool on) {
        uint64_t bit = UINT64_C(1) << (idx % 64);

        if (on) {
                atomic_fetch_or(&r->hdr->pollers[idx / 64], bit);
                if (r->subscribed && bcast_has_item(r))
                        self_signal(r);
        } else
                atomic_fetch_and(&r->hdr->pollers[idx / 64], ~bit);
}

/*
 * bcast_fifo_close() - close the subscribers' FIFOs this box opened to signal them
 */
void bcast_fifo_close(Ring *r) {
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++)
                if ((r->sub_fd_open[i / 64] >> (i % 64)) & 1)
                        close(r->sub_fd[i]);
        memset(r->sub_fd_open, 0, sizeof(r->sub_fd_open));
}
