/* SPDX-License-Identifier: MIT */
/* checker.c — the promises every explored schedule must keep, judged from its delivery log.
 *
 * What ring.c promises (doc/survival.md, doc/ring.md), as checked here:
 *   - a message is committed once, by the CLAIMED -> READY CAS of its sender;
 *   - it is taken only while READY (never by two receivers at once), and consumed (TAKEN ->
 *     DONE) only by the receiver holding it: exactly once overall. A receiver killed between
 *     its take and its consume never returned it; the repair turns it READY again and another
 *     receiver consumes it (still exactly once). A receiver killed after consuming received
 *     it (`received` counts it) but never returned it: that is the one case where a consumed
 *     message is not returned, and it is not a loss the ring can prevent;
 *   - a live receiver returns every message it consumed, once, and only those;
 *   - a send that returned success committed its message;
 *   - nothing committed is lost: at the end each committed message was consumed or is READY;
 *   - one sender's messages are taken in the order sent (first takes; a redelivered message
 *     may be taken again later).
 */
#include "config.h"

#include "tests/explore/checker.h"

#include <stdio.h>
#include <string.h>

void delivery_log_add(DeliveryLog *log, EventKind kind, unsigned actor, uint32_t msg) {
        if (log->n >= CHECK_LOG_MAX) {
                log->overflow = true;
                return;
        }
        log->ev[log->n++] = (Event){ .kind = (uint8_t)kind, .actor = (uint8_t)actor, .msg = msg };
}

const char *event_kind_str(EventKind k) {
        static const char *const names[_EV_KIND_MAX] = {
                [EV_COMMIT] = "commit",       [EV_TAKE] = "take",       [EV_CONSUME] = "consume",
                [EV_REDELIVER] = "redeliver", [EV_ABANDON] = "abandon", [EV_RETURN] = "return",
                [EV_SENT] = "sent",
        };
        return k < _EV_KIND_MAX ? names[k] : "?";
}

typedef struct MsgState {
        bool committed, ready, taken_once, sent;
        int holder; /* the receiver holding it TAKEN, or -1 */
        unsigned consumed, returned;
        int consumer;
} MsgState;

typedef struct Judge {
        MsgState m[CHECK_SENDERS][CHECK_SEQS];
        int last_first_take[CHECK_SENDERS];
} Judge;

#define FAIL(...)                                                                                                      \
        do {                                                                                                           \
                snprintf(why, len, __VA_ARGS__);                                                                       \
                return false;                                                                                          \
        } while (0)

bool checker_run(const DeliveryLog *log, const RunFinal *f, char *why, size_t len) {
        static Judge j; /* 48 KiB: kept off the coroutine-sized stacks; one checker at a time */

        memset(&j, 0, sizeof(j));
        for (unsigned s = 0; s < CHECK_SENDERS; s++) {
                j.last_first_take[s] = -1;
                for (unsigned q = 0; q < CHECK_SEQS; q++)
                        j.m[s][q].holder = j.m[s][q].consumer = -1;
        }
        if (log->overflow)
                FAIL("the delivery log overflowed (%u events)", CHECK_LOG_MAX);

        for (unsigned i = 0; i < log->n; i++) {
                const Event *e = &log->ev[i];
                unsigned s = MSG_SENDER(e->msg), q = MSG_SEQ(e->msg);
                MsgState *m;

                if (e->kind == EV_ABANDON)
                        continue;
                if (s >= CHECK_SENDERS || q >= CHECK_SEQS)
                        FAIL("event %u (%s): message %#x was never sent (a payload not written by a sender)", i,
                             event_kind_str(e->kind), e->msg);
                m = &j.m[s][q];
                switch (e->kind) {
                case EV_COMMIT:
                        if (m->committed)
                                FAIL("message %u.%u committed twice", s, q);
                        m->committed = m->ready = true;
                        break;
                case EV_TAKE:
                        if (!m->committed)
                                FAIL("message %u.%u taken by actor %u but never committed", s, q, e->actor);
                        if (!m->ready)
                                FAIL("message %u.%u taken by actor %u while not READY (held by %d, consumed %u "
                                     "time(s))",
                                     s, q, e->actor, m->holder, m->consumed);
                        m->ready = false;
                        m->holder = e->actor;
                        if (!m->taken_once) {
                                if ((int)q < j.last_first_take[s])
                                        FAIL("order: message %u.%u taken after %u.%d of the same sender", s, q, s,
                                             j.last_first_take[s]);
                                j.last_first_take[s] = (int)q;
                                m->taken_once = true;
                        }
                        break;
                case EV_REDELIVER:
                        if (m->holder < 0)
                                FAIL("message %u.%u redelivered but nobody held it", s, q);
                        m->holder = -1;
                        m->ready = true;
                        break;
                case EV_CONSUME:
                        if (m->holder != (int)e->actor)
                                FAIL("message %u.%u consumed by actor %u, which does not hold it (holder %d)", s, q,
                                     e->actor, m->holder);
                        if (++m->consumed > 1)
                                FAIL("message %u.%u consumed twice (duplicate delivery)", s, q);
                        m->holder = -1;
                        m->consumer = e->actor;
                        break;
                case EV_RETURN:
                        if (!m->consumed || m->consumer != (int)e->actor)
                                FAIL("message %u.%u returned to actor %u, which did not consume it (consumer %d)", s, q,
                                     e->actor, m->consumer);
                        if (++m->returned > 1)
                                FAIL("message %u.%u returned twice (duplicate delivery)", s, q);
                        break;
                case EV_SENT:
                        if (!m->committed)
                                FAIL("the send of message %u.%u returned success but it was never committed", s, q);
                        m->sent = true;
                        break;
                default: FAIL("event %u of unknown kind %u", i, e->kind);
                }
        }

        for (unsigned i = 0; i < f->n_ready; i++) {
                unsigned s = MSG_SENDER(f->ready[i]), q = MSG_SEQ(f->ready[i]);

                if (s >= CHECK_SENDERS || q >= CHECK_SEQS || !j.m[s][q].committed)
                        FAIL("the ring ends with message %#x READY, which was never committed", f->ready[i]);
                if (j.m[s][q].consumed)
                        FAIL("message %u.%u was consumed and is READY again at the end (duplicate delivery)", s, q);
                j.m[s][q].ready = true;
        }
        for (unsigned s = 0; s < CHECK_SENDERS; s++)
                for (unsigned q = 0; q < CHECK_SEQS; q++) {
                        const MsgState *m = &j.m[s][q];
                        bool found = false;

                        if (!m->committed)
                                continue;
                        for (unsigned i = 0; i < f->n_ready && !found; i++)
                                found = f->ready[i] == MSG_ID(s, q);
                        if (!m->consumed && !found)
                                FAIL("message %u.%u was committed and is lost: never consumed, not READY at the end "
                                     "(holder %d)",
                                     s, q, m->holder);
                        if (m->consumed && !m->returned && m->consumer >= 0 && m->consumer < 32 &&
                            !f->killed[m->consumer])
                                FAIL("message %u.%u consumed by live actor %d but never returned to it", s, q,
                                     m->consumer);
                }
        return true;
}
