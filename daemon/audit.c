/* SPDX-License-Identifier: MIT */
/* audit.c — the daemon checks each mailbox's shared state against its own books.
 *
 * Any attached process can write every word of its mailbox, and some forgeries look exactly
 * like a live holder to the other users: a lock word, a CLAIMED or a TAKEN slot under a token
 * that the attachment table also names (the forger writes that entry too). The users cannot
 * tell, so they wait. The daemon can: it issued every token (daemon/journal.c, never from
 * shared memory), it writes its books before the token reaches shared memory, and it keeps a
 * token in them until the token's repair is done. So a token that no attachment of this
 * mailbox holds in the books — never issued, or issued to a session the daemon has closed and
 * repaired — has no live holder: that is the proof of death a repair needs. The rules:
 *   1. an attachment entry that differs from what the daemon issued to that index is restored
 *      (a free index to 0);
 *   2. a lock held under a token of no session of this mailbox is taken and released as the
 *      repair of a dead holder does (ring_repair(): a half-done critical section is rolled
 *      forward);
 *   3. slots CLAIMED or TAKEN under such a token are repaired likewise: a claim abandoned, a
 *      taken message put back READY (delivered again: at least once, as after a receiver's
 *      death), and every sleeper woken; an event loop polling the mailbox gets a byte in the
 *      FIFO.
 * Each finding is logged with the pids and uids of the sessions attached to the mailbox: the
 * daemon cannot know which of them wrote it. Tokens of attachments waiting in the release queue
 * are in the books until their repair: that path repairs them, the audit leaves them alone;
 * records of the journal that adoption has not sorted out count as held too, and while an
 * adoption sorts out a mailbox's table the entries are not judged at all.
 *
 * When: before every repair of a released attachment (a forged lock holder in the table would
 * keep it waiting for good), and from the event loop. The loop's audit is cheap because it is
 * rare: each mailbox is looked at (ring_peek(): about twenty loads) and audited in full only
 * when someone waits and nothing moved since the last look — a possible stall. A mailbox that
 * moved is looked at again after AUDIT_MOVING_MS, so a stall is audited at most two such
 * intervals after it began; one whose audit found something after AUDIT_FOUND_MS (a forger
 * writing in a loop is undone that often); one where nobody waits, or whose audits come out
 * clean, half as often each time, down to once a second. A mailbox may be looked at up to half
 * its interval early, so one tick serves every mailbox that is nearly due. A tick reads at most
 * AUDIT_BUDGET words over all mailboxes; the next one starts with the first it left, so many
 * mailboxes delay the loop by a bounded amount and are all served in turn. Cost, measured with
 * 1000 idle mailboxes with a receiver asleep in each: doc/survival.md.
 */
#include "config.h"

#include "daemon/audit.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon/guard.h"
#include "daemon/mailbox.h"
#include "daemon/manager.h"
#include "daemon/session.h"
#include "log/log.h"
#include "proto/audit.h"
#include "proto/probes.h"
#include "proto/util.h"

#define AUDIT_TICK_MS 10     /* the closest two ticks come */
#define AUDIT_FOUND_MS 10    /* after an audit that found something, or left a repair waiting */
#define AUDIT_MOVING_MS 60   /* the ring moved since the last look */
#define AUDIT_MAX_MS 1000    /* nobody waits, or the audits come out clean: doubling up to this */
#define AUDIT_BUDGET 65536   /* words read per tick, over all mailboxes */
#define AUDIT_PEEK_WORDS 32u /* a look, counted in words */
#define AUDIT_LOG_US 1000000 /* one line per mailbox per second at most: a forger writes in a loop */

static int64_t now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool reserved(const Mailbox *mb, unsigned idx) {
        return (mb->adopt_reserved[idx / 64] >> (idx % 64)) & 1;
}

/* Whether the books have @token held by an attachment of @mb (of a live, orphaned or ghost
 * session, or waiting for its release), or by a journal record adoption has not sorted out. */
static bool token_known(const Manager *m, const Mailbox *mb, uint32_t token) {
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++)
                if (mb->att[i] && mb->att[i]->token == token)
                        return true;
        for (size_t i = 0; i < m->n_adopt_recs; i++)
                if (m->adopt_recs[i].token == token && m->adopt_recs[i].generation == mb->geo.generation &&
                    strcmp(m->adopt_recs[i].name, mb->name) == 0)
                        return true;
        return false;
}

/* An index no attachment holds in the books, for ring_repair() to clear the sleeper and poller
 * bits of (bits there are a peer's scribble): preferably the one where @att names @token.
 * LAYOUT_ATT_MAX if every index is taken. */
static unsigned free_index(const Mailbox *mb, uint32_t token, const uint32_t *att) {
        unsigned any = LAYOUT_ATT_MAX;

        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++) {
                if (mb->att[i] || reserved(mb, i))
                        continue;
                if (att[i] == token)
                        return i;
                if (any == LAYOUT_ATT_MAX)
                        any = i;
        }
        return any;
}

/* " pid P (uid U), ..." of the sessions attached to @mb: who may have written its memory. */
static void suspects(const Mailbox *mb, char *buf, size_t size) {
        pid_t seen[16];
        unsigned n_seen = 0;
        size_t len = 0;

        buf[0] = 0;
        for (unsigned i = 0; i < LAYOUT_ATT_MAX && len + 40 < size; i++) {
                const Session *s = mb->att[i] ? mb->att[i]->session : NULL;
                bool dup = false;

                if (!s)
                        continue;
                for (unsigned j = 0; j < n_seen && !dup; j++)
                        dup = seen[j] == s->cred.pid;
                if (dup)
                        continue;
                if (n_seen < ELEMENTSOF(seen))
                        seen[n_seen++] = s->cred.pid;
                len += (size_t)snprintf(buf + len, size - len, "%s pid %d (uid %d)", len ? "," : "", (int)s->cred.pid,
                                        (int)s->cred.uid);
        }
        if (len == 0)
                snprintf(buf, size, " none attached");
}

typedef struct ReadCall {
        const Mailbox *mb;
        RingAudit *audit;
} ReadCall;

static int read_cb(void *userdata) {
        ReadCall *c = userdata;

        ring_audit_read(&c->mb->ring, c->audit);
        return 0;
}

/* Repair @token, held by no session of @mb, as a dead holder's. */
static void repair_token(Mailbox *mb, uint32_t token, const RingAudit *a, AuditReport *rep) {
        unsigned idx = token == TOKEN_DAEMON ? LAYOUT_ATT_MAX : free_index(mb, token, a->att);
        RingRepair rr = {};
        int r;

        if (token != TOKEN_DAEMON && idx == LAYOUT_ATT_MAX) {
                /* no index whose bits ring_repair() may clear: every one is a live attachment's,
                 * and none names this token (rule 1 restored them), so its users are told
                 * -EBADMSG by the ring itself */
                log_debug("mailbox %s: token %u of no session left alone: no free index", mb->name, token);
                return;
        }
        r = mailbox_repair(mb, token, idx, &rr);
        if (r == -EBUSY) {
                rep->waiting++;
                return;
        }
        if (r < 0) {
                log_debug("mailbox %s: repair of token %u of no session impossible: %s", mb->name, token, strerror(-r));
                return;
        }
        rep->repaired++;
        rep->lock |= rr.held_lock;
        rep->abandoned += rr.abandoned;
        rep->redelivered += rr.redelivered;
        /* mailbox_repair() signalled the FIFO if it gave a message back */
}

static void audit_log(Mailbox *mb, const AuditReport *rep, const uint32_t first[3], uint32_t first_token) {
        int64_t now = now_us();
        char who[256], what[320] = "";
        size_t len = 0;

        if (mb->audit_logged_us && now - mb->audit_logged_us < AUDIT_LOG_US) {
                mb->audit_unlogged++;
                return;
        }
        if (rep->entries)
                len += (size_t)snprintf(what, sizeof(what),
                                        " %u attachment entr%s restored (index %u held token %u, not %u);",
                                        rep->entries, rep->entries == 1 ? "y" : "ies", first[0], first[1], first[2]);
        if (rep->repaired)
                snprintf(what + len, sizeof(what) - len,
                         " %u token(s) of no session of this mailbox (first %u) repaired as a dead holder's: lock "
                         "%s, %u claim(s) abandoned, %u message(s) redelivered;",
                         rep->repaired, first_token, rep->lock ? "released" : "not held", rep->abandoned,
                         rep->redelivered);
        suspects(mb, who, sizeof(who));
        log_event(LOG_WARNING, &(LogFields){ LOG_EVENT_CORRUPTION, mb->name, mb->uid, 0, 0 },
                  "mailbox %s (owner uid %u): shared memory names tokens the daemon did not issue there:%s written "
                  "by one of:%s%s",
                  mb->name, (unsigned)mb->uid, what, who,
                  mb->audit_unlogged ? " (more findings since the last report were not logged)" : "");
        mb->audit_logged_us = now;
        mb->audit_unlogged = 0;
}

/* The rules, on what @a read of @mb. Returns the number of findings. */
static int judge(Manager *m, Mailbox *mb, const RingAudit *a, AuditReport *ret) {
        AuditReport rep = {};
        uint32_t first[3] = {}, first_token = 0;

        /* 1. the attachment table: what the daemon issued to each index, 0 where it issued
         * nothing; not while adoption still sorts the table out with the journal */
        for (unsigned i = 0; i < LAYOUT_ATT_MAX && !mb->adopting; i++) {
                uint32_t want = mb->att[i] ? mb->att[i]->token : TOKEN_NONE;

                if (a->att[i] == want || reserved(mb, i))
                        continue;
                if (guard_store_u32(&mb->ring.hdr->att[i], want) < 0)
                        break;
                if (rep.entries++ == 0) {
                        first[0] = i;
                        first[1] = a->att[i];
                        first[2] = want;
                }
        }

        /* 2. the lock first: a slot's repair needs it, and waits while a live process holds it */
        if (a->lock != TOKEN_NONE && !token_known(m, mb, a->lock)) {
                first_token = a->lock;
                repair_token(mb, a->lock, a, &rep);
        }

        /* 3. the slots */
        for (unsigned i = 0; i < a->n_holders; i++) {
                uint32_t t = a->holders[i];

                if (t == a->lock || token_known(m, mb, t))
                        continue;
                if (!first_token)
                        first_token = t;
                repair_token(mb, t, a, &rep);
        }
        if (a->more)
                rep.waiting++; /* more holders than one audit reads: look again soon */

        if (rep.entries || rep.repaired) {
                SHMBOX_PROBE6(audit, mb->name, mb->uid, rep.entries, rep.repaired, rep.abandoned, rep.redelivered);
                audit_log(mb, &rep, first, first_token);
        }
        if (ret)
                *ret = rep;
        return (int)(rep.entries + rep.repaired);
}

/*
 * audit_mailbox() - check @mb's attachment table, lock and held slots against the daemon's books,
 * and repair what names a token of no session of @mb (the rules in the essay above); logs what
 * it found
 * @ret: what was found and done (may be NULL)
 *
 * Never blocks: a repair that finds the lock held by a live process is left for a later audit
 * (counted in @ret->waiting).
 *
 * Return: the number of findings (entries restored + tokens repaired), 0 if the books and the
 *         mailbox agree; -EBADMSG if the mapping cannot be read (truncated).
 */
int audit_mailbox(Manager *m, Mailbox *mb, AuditReport *ret) {
        RingAudit a;
        ReadCall c = { .mb = mb, .audit = &a };
        int r;

        if (mb->destroyed || !mb->ring.hdr)
                return 0;
        r = guard_call(read_cb, &c);
        if (r < 0)
                return r;
        return judge(m, mb, &a, ret);
}

/* Arm the audit timer for @due_us unless it fires earlier already. */
static void audit_arm(Manager *m, int64_t due_us, int64_t now) {
        struct timeval tv;
        int64_t delay = MAX(due_us - now, (int64_t)AUDIT_TICK_MS * 1000);

        if (evtimer_pending(m->audit_timer, NULL) && m->audit_due_us <= now + delay)
                return;
        tv = (struct timeval){ .tv_sec = delay / 1000000, .tv_usec = delay % 1000000 };
        if (evtimer_add(m->audit_timer, &tv) == 0)
                m->audit_due_us = now + delay;
}

/* One look at @mb, and its audit if someone waits while nothing moves. Schedules the next look;
 * returns the words it read. */
static unsigned look(Manager *m, Mailbox *mb, int64_t now) {
        AuditReport rep = {};
        RingPeek p;
        unsigned cost = AUDIT_PEEK_WORDS;
        uint32_t next = MIN(MAX(mb->audit_interval_ms, AUDIT_FOUND_MS) * 2, AUDIT_MAX_MS);
        bool moved;

        /* read directly: audit_tick() holds the SIGBUS guard for the whole tick */
        ring_peek(&mb->ring, &p);
        moved = !mb->audit_seen_valid || !ring_peek_same(&p, &mb->audit_seen);
        mb->audit_seen = p;
        mb->audit_seen_valid = true;
        if (moved)
                next = AUDIT_MOVING_MS;
        else if (p.waiters) {
                RingAudit a;

                cost += LAYOUT_ATT_MAX + mb->geo.slots;
                ring_audit_read(&mb->ring, &a);
                if (judge(m, mb, &a, &rep) > 0 || rep.waiting)
                        next = AUDIT_FOUND_MS;
        }
        mb->audit_interval_ms = next;
        mb->audit_due_us = now + (int64_t)next * 1000;
        return cost;
}

/* The mailbox named @name, or the next one in the registry (sorted by name), else the first. */
static Mailbox *resume_at(Manager *m, const char *name) {
        for (Mailbox *mb = m->mailboxes; mb; mb = mb->next)
                if (strcmp(mb->name, name) >= 0)
                        return mb;
        return m->mailboxes;
}

typedef struct Tick {
        Manager *m;
        Mailbox *start, *at; /* where the tick began; the mailbox being looked at */
        int64_t now, next;
        long budget;
} Tick;

static int tick_cb(void *userdata) {
        Tick *t = userdata;
        Manager *m = t->m;

        for (Mailbox *mb = t->at;;) {
                t->at = mb;
                if (mb->destroyed || mb->audit_due_us - (int64_t)mb->audit_interval_ms * 500 > t->now)
                        t->next = MIN(t->next, mb->audit_due_us);
                else if (t->budget <= 0) {
                        if (!m->audit_cursor[0]) /* the first left over: where the next tick starts */
                                snprintf(m->audit_cursor, sizeof(m->audit_cursor), "%s", mb->name);
                        t->next = t->now;
                } else {
                        t->budget -= (long)look(m, mb, t->now);
                        t->next = MIN(t->next, mb->audit_due_us);
                }
                mb = mb->next ? mb->next : m->mailboxes;
                if (mb == t->start)
                        return 0;
        }
}

/*
 * Look at every mailbox that is due until the budget is spent; the rest are looked at first at
 * the next tick. A mailbox may be looked at up to half its interval early: the timer fires for
 * the most urgent one and takes every other one that is nearly due along, so a thousand idle
 * mailboxes cost a few ticks a second, not one each. One SIGBUS guard for the whole tick (the
 * guard's sigsetjmp() is a system call, the look a few loads): a truncated mailbox ends it with
 * -EBADMSG, is set aside for a second, and the tick goes on after it.
 */
static void audit_tick(evutil_socket_t fd, short what, void *userdata) {
        Manager *m = userdata;
        Tick t = { .m = m, .now = now_us(), .next = INT64_MAX, .budget = AUDIT_BUDGET };

        t.start = m->audit_cursor[0] ? resume_at(m, m->audit_cursor) : m->mailboxes;
        m->audit_cursor[0] = 0;
        if (!t.start)
                return;
        t.at = t.start;
        while (guard_call(tick_cb, &t) < 0) {
                Mailbox *bad = t.at;

                /* truncated: its users are told; the size timer says so once a second */
                bad->audit_seen_valid = false;
                bad->audit_interval_ms = AUDIT_MAX_MS;
                bad->audit_due_us = t.now + (int64_t)AUDIT_MAX_MS * 1000;
                t.next = MIN(t.next, bad->audit_due_us);
                t.at = bad->next ? bad->next : m->mailboxes;
                if (t.at == t.start)
                        break;
        }
        if (t.next != INT64_MAX)
                audit_arm(m, t.next, t.now);
}

/*
 * audit_start() - set up the event loop's audits (manager_new() calls it once)
 *
 * Return: 0; -ENOMEM.
 */
int audit_start(Manager *m) {
        m->audit_timer = evtimer_new(m->base, audit_tick, m);
        return m->audit_timer ? 0 : -ENOMEM;
}

/*
 * audit_schedule() - a mailbox joined the registry (created or adopted): look at it soon
 */
void audit_schedule(Manager *m, Mailbox *mb) {
        int64_t now = now_us();

        mb->audit_interval_ms = AUDIT_MOVING_MS;
        mb->audit_due_us = now + (int64_t)AUDIT_MOVING_MS * 1000;
        mb->audit_seen_valid = false;
        if (m->audit_timer)
                audit_arm(m, mb->audit_due_us, now);
}
