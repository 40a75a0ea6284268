/* SPDX-License-Identifier: MIT */
/* test-model.c — model-based test of proto/ring: random operation sequences against a model.
 *
 * The model is what a mailbox promises, written the simplest way: a FIFO of byte strings with
 * a capacity of `slots`. Each step picks an operation at random (fixed seeds, so a failure
 * replays exactly) and runs it both on the model and on a real ring — an in-process Ring over
 * an anonymous shared mapping with unnamed process-shared semaphores, as in test-ring.c — with
 * several attachments (tokens and indexes, as the daemon issues them) taking turns:
 *   - send of a random size, including 0, slot_size and slot_size + 1; with timeout 0, so a
 *     full ring is -EAGAIN;
 *   - receive with a capacity that is too small, just right, or roomy; peek (NULL, 0); with
 *     timeout 0 on an empty ring;
 *   - an operation with a token that repair has retired (-ESTALE, nothing changes);
 *   - deaths: an attachment stops in the middle of an operation, leaving the ring exactly as a
 *     SIGKILL at that point of ring.c would (the same steps, done here by hand): a claimed slot
 *     with half a payload, a claim made under the lock before tail moved, the lock held, a
 *     taken slot, a consumed slot head has not passed, head half advanced under the lock, a
 *     sleeper bit. Later — other attachments going on meanwhile — the daemon's ring_repair()
 *     cleans up and the index gets a fresh token. A daemon may itself die in a repair, holding
 *     the lock, and the next repair takes over.
 * The model follows the ring's documented rules for what a death leaves: a claim never becomes
 * a message and its position is a hole until head passes it; a taken message comes back, in
 * place; a consumed one is gone. Holes and in-flight slots still count against capacity,
 * exactly as positions between head and tail do. After every step the result must be the
 * model's (value, errno and the bytes received), and while the lock is free ring_count() must
 * match the model slot for slot; at the end both are drained and compared.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "proto/layout.h"
#include "proto/ring.h"

#define SLOT_SIZE_MAX 256u
#define SLOTS_MAX 8u
#define N_ATT 4u

/* --- a deterministic random source ---------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void) {
        uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static uint32_t rng_below(uint32_t n) {
        return (uint32_t)(rng_next() % n);
}

static bool rng_percent(unsigned p) {
        return rng_below(100) < p;
}

/* --- the model ------------------------------------------------------------------------------ */

typedef enum EntryKind {
        ENTRY_MSG,     /* committed, not taken */
        ENTRY_HOLE,    /* consumed or abandoned: only waits for head to pass it */
        ENTRY_CLAIMED, /* a (dead) sender's claim */
        ENTRY_TAKEN,   /* a (dead) receiver holds it */
} EntryKind;

typedef struct Entry {
        EntryKind kind;
        uint32_t token; /* CLAIMED, TAKEN */
        uint32_t len;
        uint8_t data[SLOT_SIZE_MAX];
} Entry;

/* The positions from head to tail, oldest first. */
typedef struct Model {
        Entry e[SLOTS_MAX];
        unsigned n, cap;
        uint32_t slot_size;
        uint32_t lock_holder;   /* a dead attachment (or a dead daemon) holding the lock, or 0 */
        uint32_t pending_claim; /* token of a claim made under the lock, tail not yet moved */
        uint64_t committed;     /* sends that returned 0 */
        uint64_t taken;         /* takes, by anyone (the ring counts them before consuming) */
        uint64_t recovered;     /* taken messages given back by repair */
        uint64_t abandoned;     /* claims given up by repair */
} Model;

static Model model;

static unsigned model_count(EntryKind kind) {
        unsigned n = 0;

        for (unsigned i = 0; i < model.n; i++)
                n += model.e[i].kind == kind;
        return n;
}

static int model_first(EntryKind kind) {
        for (unsigned i = 0; i < model.n; i++)
                if (model.e[i].kind == kind)
                        return (int)i;
        return -1;
}

static Entry *model_push(EntryKind kind, uint32_t token, const uint8_t *data, uint32_t len) {
        Entry *e;

        ck_assert_uint_lt(model.n, model.cap);
        e = &model.e[model.n++];
        *e = (Entry){ .kind = kind, .token = token, .len = len };
        if (len)
                memcpy(e->data, data, len);
        return e;
}

/* What head does: pass the finished positions at the front. */
static void model_pass_holes(void) {
        unsigned k = 0;

        while (k < model.n && model.e[k].kind == ENTRY_HOLE)
                k++;
        memmove(model.e, model.e + k, (model.n - k) * sizeof(Entry));
        model.n -= k;
}

/* --- the ring under test --------------------------------------------------------------------- */

typedef struct Shared {
        sem_t sem[_SEM_ROLE_MAX];
} Shared;

static Ring ring;
static Shared *shared;

/* Attachments: a fixed index each (both sides of a sleeper-mask word boundary), the token the
 * "daemon" issued last, the one repair retired before it, and whether it is dead and waits
 * for its repair. */
typedef struct Att {
        unsigned idx;
        uint32_t token, retired;
        bool dead;
} Att;

static const unsigned att_idx[N_ATT] = { 0, 1, 63, 200 };
static Att att[N_ATT];
static uint32_t next_token;

/* Statistics of a run, printed at the end so a reader can see what was covered. */
typedef struct Stats {
        unsigned sends, sends_ok, recvs, recvs_ok, peeks, emsgsize, eagain, estale, deaths, repairs, redelivered,
                abandoned;
} Stats;

static Stats stats;

static void ring_make(uint32_t slots, uint32_t slot_size) {
        LayoutGeometry g;
        void *map;

        ck_assert_int_eq(layout_geometry(slots, slot_size, 7, &g), 0);
        map = mmap(NULL, g.total_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ck_assert_ptr_ne(map, MAP_FAILED);
        layout_init(map, &g);
        ring = (Ring){ .hdr = map, .base = map };
        ck_assert_int_eq(layout_check(map, g.total_size, &ring.geo), 0);

        shared = mmap(NULL, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ck_assert_ptr_ne(shared, MAP_FAILED);
        for (unsigned role = 0; role < _SEM_ROLE_MAX; role++) {
                ck_assert_int_eq(sem_init(&shared->sem[role], 1, 0), 0);
                ring.sem[role] = &shared->sem[role];
        }

        model = (Model){ .cap = slots, .slot_size = slot_size };
        next_token = TOKEN_FIRST;
        for (unsigned a = 0; a < N_ATT; a++) {
                att[a] = (Att){ .idx = att_idx[a], .token = next_token++ };
                atomic_store(&ring.hdr->att[att[a].idx], att[a].token);
        }
        stats = (Stats){};
}

static void teardown(void) {
        if (shared) {
                for (unsigned role = 0; role < _SEM_ROLE_MAX; role++)
                        sem_destroy(&shared->sem[role]);
                munmap(shared, sizeof(Shared));
                shared = NULL;
        }
        if (ring.hdr)
                munmap(ring.base, ring.geo.total_size);
        ring = (Ring){};
}

static uint64_t ring_head(void) {
        return atomic_load(&ring.hdr->head);
}

static uint64_t ring_tail(void) {
        return atomic_load(&ring.hdr->tail);
}

/* --- the context of a failure ------------------------------------------------------------- */

static uint64_t run_seed;
static unsigned run_step;

#define CHECK_EQ(got, want, what)                                                                                      \
        ck_assert_msg((long long)(got) == (long long)(want), "seed %llu step %u: %s: ring %lld, model %lld",           \
                      (unsigned long long)run_seed, run_step, what, (long long)(got), (long long)(want))

/* ring_count() against the model, position by position kind. Meaningful only while the lock
 * is free: a holder killed in its critical section may have moved a slot word but not yet the
 * index, which the next repair rolls forward. */
static void compare_counts(void) {
        RingCounts c;

        ring_count(&ring, &c);
        CHECK_EQ(c.bad, 0, "slots in a state no model position has");
        CHECK_EQ(c.tail - c.head, model.n, "positions between head and tail");
        CHECK_EQ(c.ready, model_count(ENTRY_MSG), "READY slots");
        CHECK_EQ(c.claimed, model_count(ENTRY_CLAIMED), "CLAIMED slots");
        CHECK_EQ(c.taken, model_count(ENTRY_TAKEN), "TAKEN slots");
        CHECK_EQ(c.done + c.abandoned, model_count(ENTRY_HOLE), "DONE and ABANDONED slots");
        CHECK_EQ(c.sent, model.committed, "sent (derived)");
        CHECK_EQ(c.abandoned_total, model.abandoned, "abandoned (counter)");
        CHECK_EQ(atomic_load(&ring.hdr->received), model.taken, "received (counter)");
        CHECK_EQ(atomic_load(&ring.hdr->recovered), model.recovered, "recovered (counter)");
        CHECK_EQ(c.lock_holder, 0, "lock holder");
}

/* --- operations of live attachments ------------------------------------------------------ */

static RingDeadline now(void) {
        RingDeadline d;

        ring_deadline_init(&d, 0);
        return d;
}

/* A length for a send: 0, slot_size, one too many, or anything in between. */
static uint32_t random_len(void) {
        switch (rng_below(6)) {
        case 0: return 0;
        case 1: return model.slot_size;
        case 2: return model.slot_size + 1;
        default: return 1 + rng_below(model.slot_size);
        }
}

/* The model's answer for a send or a receive that needs the lock while a dead holds it. */
static bool lock_held(void) {
        return model.lock_holder != 0;
}

/* The slot at tail holds a finished word one lap behind (ring.c: is_passed_unfreed()). */
static bool passed_unfreed_at_tail(void) {
        uint64_t t = ring_tail(), w = atomic_load(&ring_slot(&ring, t)->word);

        return (slot_word_state(w) == SLOT_DONE || slot_word_state(w) == SLOT_ABANDONED) &&
               slot_word_lap(w) == ((ring_lap(&ring, t) - 1) & LAP_MASK);
}

static void step_send(Att *a, uint32_t token) {
        uint8_t data[SLOT_SIZE_MAX + 1];
        uint32_t len = random_len();
        bool null_data = len == 0 && rng_percent(50); /* the API allows (NULL, 0) */
        RingDeadline d = now();
        int want, got;

        for (uint32_t i = 0; i < len; i++)
                data[i] = (uint8_t)rng_next();
        /* a claim that finds the slot at tail finished one lap behind (a full ring up to a
         * finished slot, or a slot head passed and its passer died before freeing it) passes
         * head over the finished slots at the front first */
        if (len <= model.slot_size && token == atomic_load(&ring.hdr->att[a->idx]) && !lock_held() &&
            passed_unfreed_at_tail())
                model_pass_holes();
        if (len > model.slot_size)
                want = -EMSGSIZE;
        else if (token != atomic_load(&ring.hdr->att[a->idx]))
                want = -ESTALE;
        else if (model.n == model.cap)
                want = -EAGAIN;
        else if (lock_held())
                want = -EAGAIN; /* waited RING_LOCK_NOWAIT_NS for a lock nobody releases */
        else
                want = 0;

        got = ring_send(&ring, token, a->idx, null_data ? NULL : data, len, &d);
        CHECK_EQ(got, want, "send");
        stats.sends++;
        if (want == 0) {
                model_push(ENTRY_MSG, 0, data, len);
                model.committed++;
                stats.sends_ok++;
        }
}

/* A capacity for a receive, relative to the message it will meet: one short, exact, roomy. */
static size_t random_cap(int front) {
        uint32_t len = front >= 0 ? model.e[front].len : rng_below(model.slot_size + 1);

        switch (rng_below(5)) {
        case 0: return len > 0 ? len - 1 : 0;
        case 1: return len;
        case 2: return model.slot_size;
        case 3: return 0;
        default: return len + rng_below(model.slot_size + 1);
        }
}

static void step_recv(Att *a, uint32_t token, bool peek) {
        uint8_t buf[2 * SLOT_SIZE_MAX + 1];
        int front = model_first(ENTRY_MSG);
        size_t cap = peek ? 0 : random_cap(front);
        RingDeadline d = now();
        ssize_t want, got;

        memset(buf, 0xee, sizeof(buf));
        if (token != atomic_load(&ring.hdr->att[a->idx]))
                want = -ESTALE;
        else if (front < 0)
                want = -EAGAIN;
        else if (lock_held())
                want = -EAGAIN;
        else if (peek)
                want = model.e[front].len;
        else if (model.e[front].len > cap)
                want = -EMSGSIZE;
        else
                want = model.e[front].len;

        got = ring_recv(&ring, token, a->idx, peek ? NULL : buf, cap, &d);
        CHECK_EQ(got, want, peek ? "peek" : "recv");
        if (peek) {
                stats.peeks++;
                return;
        }
        stats.recvs++;
        if (got == -EMSGSIZE)
                stats.emsgsize++;
        if (got < 0)
                return;
        ck_assert_msg(memcmp(buf, model.e[front].data, (size_t)got) == 0, "seed %llu step %u: received bytes differ",
                      (unsigned long long)run_seed, run_step);
        ck_assert_msg(got == (ssize_t)cap || buf[got] == 0xee, "seed %llu step %u: recv wrote past the message",
                      (unsigned long long)run_seed, run_step);
        model.e[front].kind = ENTRY_HOLE;
        model.taken++;
        model_pass_holes();
        stats.recvs_ok++;
}

/* --- deaths: the ring as a kill at a point of ring.c leaves it ------------------------------ */

static void sim_lock(uint32_t token) {
        uint64_t v = 0;

        ck_assert(atomic_compare_exchange_strong(&ring.hdr->lock, &v, token));
}

static void sim_unlock(void) {
        atomic_store(&ring.hdr->lock, 0);
}

/* send_claimed / send_half_copied (or, with @under_lock, a kill between the claiming CAS and
 * the store of tail). */
static void die_claiming(Att *a, bool under_lock) {
        uint64_t p = ring_tail();
        uint32_t lap = ring_lap(&ring, p);
        uint64_t expect = slot_word(SLOT_FREE, lap, 0);
        uint32_t len = rng_below(model.slot_size + 1);

        sim_lock(a->token);
        if (passed_unfreed_at_tail()) { /* what a claim does first (ring.c: claimable()) */
                uint64_t w = atomic_load(&ring_slot(&ring, p)->word);

                ck_assert_uint_lt(p - ring_head(), ring.geo.slots);
                ck_assert(atomic_compare_exchange_strong(&ring_slot(&ring, p)->word, &w, expect));
        }
        ck_assert(atomic_compare_exchange_strong(&ring_slot(&ring, p)->word, &expect,
                                                 slot_word(SLOT_CLAIMED, lap, a->token)));
        if (under_lock) {
                model.lock_holder = a->token;
                model.pending_claim = a->token;
                return;
        }
        atomic_store(&ring.hdr->tail, p + 1);
        sim_unlock();
        memset(ring_payload(&ring, p), 'h', len / 2);
        model_push(ENTRY_CLAIMED, a->token, NULL, 0);
}

/* recv_taken / recv_half_copied: the oldest message is TAKEN by @a. Returns its position. */
static uint64_t take_oldest(Att *a) {
        uint64_t p, w;

        sim_lock(a->token);
        for (p = ring_head(); p != ring_tail(); p++) {
                w = atomic_load(&ring_slot(&ring, p)->word);
                if (slot_word_state(w) == SLOT_READY)
                        break;
        }
        ck_assert_uint_ne(p, ring_tail());
        atomic_fetch_add(&ring.hdr->received, 1);
        ck_assert(atomic_compare_exchange_strong(&ring_slot(&ring, p)->word, &w,
                                                 slot_word(SLOT_TAKEN, ring_lap(&ring, p), a->token)));
        sim_unlock();
        model.taken++;
        return p;
}

static void die_taking(Att *a) {
        int front = model_first(ENTRY_MSG);

        take_oldest(a);
        model.e[front].kind = ENTRY_TAKEN;
        model.e[front].token = a->token;
}

/* recv_consumed (the message is the dead's: delivered), or recv_head_half: head moved past the
 * first finished slot, the slot not yet made FREE for its next lap (no lock is held for that:
 * the claim that reaches the slot frees it). */
static void die_consuming(Att *a, bool in_head_advance) {
        int front = model_first(ENTRY_MSG);
        uint64_t p = take_oldest(a);
        uint32_t lap = ring_lap(&ring, p);
        uint64_t expect = slot_word(SLOT_TAKEN, lap, a->token);

        ck_assert(atomic_compare_exchange_strong(&ring_slot(&ring, p)->word, &expect, slot_word(SLOT_DONE, lap, 0)));
        model.e[front].kind = ENTRY_HOLE;
        if (!in_head_advance)
                return;
        if (model.e[0].kind == ENTRY_HOLE) {
                uint64_t h = ring_head();

                ck_assert(atomic_compare_exchange_strong(&ring.hdr->head, &h, h + 1));
                memmove(model.e, model.e + 1, (model.n - 1) * sizeof(Entry));
                model.n--;
        }
}

/* send_locked / recv_locked: the lock, nothing else. */
static void die_locked(Att *a) {
        sim_lock(a->token);
        model.lock_holder = a->token;
}

/* send_before_sleep / recv_before_sleep: its bit in a sleeper mask. */
static void die_asleep(Att *a) {
        _Atomic uint64_t *mask = rng_percent(50) ? ring.hdr->items_sleepers : ring.hdr->space_sleepers;

        atomic_fetch_or(&mask[a->idx / 64], UINT64_C(1) << (a->idx % 64));
}

static void step_die(Att *a) {
        bool can_claim = model.n < model.cap && !lock_held();
        bool can_take = model_first(ENTRY_MSG) >= 0 && !lock_held();

        a->dead = true;
        stats.deaths++;
        switch (rng_below(8)) {
        case 0:
        case 1:
                if (can_claim)
                        die_claiming(a, false);
                break;
        case 2:
                if (can_claim)
                        die_claiming(a, true);
                break;
        case 3:
                if (can_take)
                        die_taking(a);
                break;
        case 4:
                if (can_take)
                        die_consuming(a, false);
                break;
        case 5:
                if (can_take)
                        die_consuming(a, true);
                break;
        case 6:
                if (!lock_held())
                        die_locked(a);
                break;
        default: die_asleep(a); break;
        }
}

/* --- repair ---------------------------------------------------------------------------------- */

/* What ring_repair() does to the model once it holds the lock. */
static void model_repair(uint32_t dead) {
        model.lock_holder = 0;
        if (model.pending_claim) { /* rolled forward: tail passes the claim */
                model_push(ENTRY_CLAIMED, model.pending_claim, NULL, 0);
                model.pending_claim = 0;
        }
        for (unsigned i = 0; i < model.n; i++) {
                Entry *e = &model.e[i];

                if (e->kind == ENTRY_CLAIMED && e->token == dead) {
                        e->kind = ENTRY_HOLE;
                        model.abandoned++;
                        stats.abandoned++;
                } else if (e->kind == ENTRY_TAKEN && e->token == dead) {
                        e->kind = ENTRY_MSG;
                        model.recovered++;
                        stats.redelivered++;
                }
        }
        model_pass_holes();
}

/* The daemon, once @a's death is proven: repair, then the index gets a fresh token. */
static void step_repair(Att *a) {
        RingRepair rep;
        int want = lock_held() && model.lock_holder != a->token ? -EBUSY : 0;

        CHECK_EQ(ring_repair(&ring, a->token, a->idx, &rep), want, "repair");
        if (want < 0)
                return;
        model_repair(a->token);
        stats.repairs++;
        CHECK_EQ(atomic_load(&ring.hdr->att[a->idx]), 0, "attachment entry after repair");
        CHECK_EQ(atomic_load(&ring.hdr->items_sleepers[a->idx / 64]) & (UINT64_C(1) << (a->idx % 64)), 0,
                 "items sleeper bit after repair");
        CHECK_EQ(atomic_load(&ring.hdr->space_sleepers[a->idx / 64]) & (UINT64_C(1) << (a->idx % 64)), 0,
                 "space sleeper bit after repair");
        a->retired = a->token;
        a->token = next_token++;
        a->dead = false;
        atomic_store(&ring.hdr->att[a->idx], a->token);
}

/* daemon_repair_half: the daemon took the lock to repair @a (from it, or free) and died. The
 * next daemon repairs with TOKEN_DAEMON first, which rolls forward what is half done; @a's
 * own repair follows later. */
static void step_daemon_dies_repairing(Att *a) {
        uint64_t v = atomic_load(&ring.hdr->lock);

        ck_assert(LOCK_TOKEN(v) == 0 || LOCK_TOKEN(v) == a->token);
        atomic_store(&ring.hdr->lock, TOKEN_DAEMON | LOCK_W);
        model.lock_holder = TOKEN_DAEMON; /* a half-done claim of @a stays @a's */
}

static void step_daemon_takeover(void) {
        RingRepair rep;

        CHECK_EQ(ring_repair(&ring, TOKEN_DAEMON, LAYOUT_ATT_MAX, &rep), 0, "repair as the daemon");
        model_repair(TOKEN_DAEMON);
}

/* --- the run ------------------------------------------------------------------------------ */

static Att *pick(bool dead) {
        unsigned start = rng_below(N_ATT);

        for (unsigned i = 0; i < N_ATT; i++) {
                Att *a = &att[(start + i) % N_ATT];
                if (a->dead == dead)
                        return a;
        }
        return NULL;
}

static unsigned dead_count(void) {
        unsigned n = 0;

        for (unsigned i = 0; i < N_ATT; i++)
                n += att[i].dead;
        return n;
}

typedef struct RunCase {
        uint32_t slots, slot_size;
        uint64_t seed;
        unsigned steps;
        bool deaths;
} RunCase;

/* clang-format off */
static const RunCase cases[] = {
        /* slots, slot_size, seed, steps, deaths */
        { 1, 1, 1, 4000, false },
        { 4, 100, 2, 6000, false },
        { 8, 256, 3, 6000, false },
        { 1, 64, 11, 3000, true },
        { 2, 1, 12, 3000, true },
        { 3, 64, 13, 3000, true },
        { 4, 100, 14, 3000, true },
        { 4, 100, 15, 3000, true },
        { 7, 200, 16, 3000, true },
        { 8, 256, 17, 3000, true },
        { 8, 1, 18, 3000, true },
        { 5, 128, 19, 3000, true },
};
/* clang-format on */

/* Drain ring and model together; both must run out at the same message. */
static void drain_and_compare(void) {
        uint8_t buf[SLOT_SIZE_MAX];
        RingDeadline d = now();
        Att *a = pick(false);
        ssize_t got;
        int front;

        while ((front = model_first(ENTRY_MSG)) >= 0) {
                got = ring_recv(&ring, a->token, a->idx, buf, sizeof(buf), &d);
                CHECK_EQ(got, model.e[front].len, "draining recv");
                ck_assert(memcmp(buf, model.e[front].data, (size_t)got) == 0);
                model.e[front].kind = ENTRY_HOLE;
                model.taken++;
                model_pass_holes();
        }
        CHECK_EQ(ring_recv(&ring, a->token, a->idx, buf, sizeof(buf), &d), -EAGAIN, "recv from the drained ring");
        CHECK_EQ(model.n, 0, "model positions after draining");
        compare_counts();
}

static void run(const RunCase *rc) {
        unsigned lock_steps = 0;

        ring_make(rc->slots, rc->slot_size);
        rng_state = run_seed = rc->seed;
        for (run_step = 0; run_step < rc->steps; run_step++) {
                unsigned r = rng_below(100);
                Att *a;

                /* a lock held by the dead stalls everyone until the daemon repairs: keep that
                 * short, each stalled operation waits RING_LOCK_NOWAIT_NS */
                if (lock_held() && lock_steps++ >= 1 + rng_below(2)) {
                        lock_steps = 0;
                        if (model.lock_holder == TOKEN_DAEMON)
                                step_daemon_takeover();
                        else
                                for (unsigned i = 0; i < N_ATT; i++)
                                        if (att[i].dead && att[i].token == model.lock_holder)
                                                step_repair(&att[i]);
                        continue;
                }

                if (rc->deaths && r < 4 && dead_count() < N_ATT - 1) {
                        step_die(pick(false));
                } else if (rc->deaths && r < 12 && (a = pick(true))) {
                        if (rng_percent(10) && !(lock_held() && model.lock_holder != a->token))
                                step_daemon_dies_repairing(a);
                        else
                                step_repair(a);
                } else if (r < 14 && (a = pick(false)) && a->retired) {
                        if (rng_percent(50))
                                step_send(a, a->retired);
                        else
                                step_recv(a, a->retired, rng_percent(30));
                        stats.estale++;
                } else if (r < 55) {
                        a = pick(false);
                        step_send(a, a->token);
                } else if (r < 90) {
                        a = pick(false);
                        step_recv(a, a->token, false);
                } else if (r < 97) {
                        a = pick(false);
                        step_recv(a, a->token, true);
                } else {
                        if (!lock_held())
                                compare_counts();
                }
                if (!lock_held())
                        compare_counts();
        }

        /* the daemon repairs whoever is still dead, then both are drained */
        if (model.lock_holder == TOKEN_DAEMON)
                step_daemon_takeover();
        for (unsigned i = 0; i < N_ATT; i++)
                if (att[i].dead && att[i].token == model.lock_holder)
                        step_repair(&att[i]);
        for (unsigned i = 0; i < N_ATT; i++)
                if (att[i].dead)
                        step_repair(&att[i]);
        compare_counts();
        drain_and_compare();
        CHECK_EQ(atomic_load(&ring.hdr->lock), 0, "lock word at the end");
        for (unsigned i = 0; i < LAYOUT_ATT_WORDS; i++) {
                CHECK_EQ(atomic_load(&ring.hdr->items_sleepers[i]), 0, "items sleepers at the end");
                CHECK_EQ(atomic_load(&ring.hdr->space_sleepers[i]), 0, "space sleepers at the end");
        }
        printf("seed %llu, %u slots of %u: %u sends (%u ok), %u recvs (%u ok, %u too small), "
               "%u peeks, %u stale, %u deaths, %u repairs (%u redelivered, %u abandoned)\n",
               (unsigned long long)rc->seed, rc->slots, rc->slot_size, stats.sends, stats.sends_ok, stats.recvs,
               stats.recvs_ok, stats.emsgsize, stats.peeks, stats.estale, stats.deaths, stats.repairs,
               stats.redelivered, stats.abandoned);
}

START_TEST(test_random_sends_and_receives_of_live_attachments_behave_like_a_bounded_fifo) {
        ck_assert(!cases[_i].deaths);
        run(&cases[_i]);
}
END_TEST

START_TEST(test_random_operations_with_deaths_and_repairs_lose_and_duplicate_nothing) {
        ck_assert(cases[_i].deaths);
        run(&cases[_i]);
        ck_assert_uint_gt(stats.deaths, 0);
        ck_assert_uint_gt(stats.repairs, 0);
}
END_TEST

static Suite *model_suite(void) {
        Suite *s = suite_create("model");
        TCase *tc;
        int first_death_case = 0;

        while (!cases[first_death_case].deaths)
                first_death_case++;

        tc = tcase_create("live attachments");
        tcase_set_timeout(tc, 120);
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_add_loop_test(tc, test_random_sends_and_receives_of_live_attachments_behave_like_a_bounded_fifo, 0,
                            first_death_case);
        suite_add_tcase(s, tc);

        tc = tcase_create("deaths and repairs");
        tcase_set_timeout(tc, 300);
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_add_loop_test(tc, test_random_operations_with_deaths_and_repairs_lose_and_duplicate_nothing,
                            first_death_case, (int)(sizeof(cases) / sizeof(cases[0])));
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr;
        int failed;

        sr = srunner_create(model_suite());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
