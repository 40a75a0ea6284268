/* SPDX-License-Identifier: MIT */
/* consumer-health.c — is the inbound bridge's durable consumer bringing what waits for it?
 *
 * The inbound bridge (inbound.c) tells this module what happens on its inbox — a message, a
 * pull request answered empty (404, 408), a pull request sent, the mailbox full, a reconnect —
 * and calls health_check() in its loop. JetStream 2.9 clusters showed three ways for a consumer
 * to bring nothing while messages wait for it (tests/bridge-cluster.sh; doc/bridge.md, "A
 * consumer that brings nothing while messages wait for it"), told apart here from an idle
 * stream with the consumer's info and the stream's count of messages on the route's subject,
 * one JetStream request each (LINK_API_WAIT_MS at most), only once pulls have brought nothing
 * for STALL_AFTER_MS with room in the mailbox:
 *
 * - its leader stuck (HEALTH_SILENT): asked to step down; after STALL_STEPDOWNS_MAX, made again;
 * - its delivered sequence past the work queue's messages (HEALTH_BEHIND): made again;
 * - no leader at all (pulls and its info unanswered for LEADERLESS_AFTER_MS while the stream
 *   answers): made again;
 * - gone (its info says so: deleted by someone, or by a delete of ours whose answer said it
 *   failed — seen in a cluster run, "JetStream system temporarily unavailable", and the
 *   consumer gone all the same): made.
 *
 * "Made again" is: the consumer deleted; health_check() returns true and the inbound bridge
 * forgets its pulls and looks for the consumer, which creates it with the bridge's settings
 * (link_consumer_ensure()): a new consumer of a work queue delivers it from its first message,
 * some perhaps twice. Only for a work queue, at most every RECREATE_EVERY_MS. The requests run
 * on the inbound worker's thread, like its pulls.
 */
#include "config.h"

#include "bridge/consumer-health.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include "bridge/util.h"
#include "log/log.h"

#define STALL_AFTER_MS 2000       /* pulls answered empty this long, with room: ask the consumer why */
#define STALL_IDLE_MAX_MS 30000   /* ... an idle one less and less often, down to this */
#define STEPDOWN_EVERY_MS 8000    /* a stalled consumer's leader is asked to step down at most this often */
#define STALL_STEPDOWNS_MAX 3     /* ... then, a work queue's, it is made again */
#define RECREATE_EVERY_MS 30000   /* a consumer is made again at most this often */
#define LEADERLESS_AFTER_MS 15000 /* pulls unanswered this long: is the consumer leaderless? (2.9 elects in 4-9 s) */

static void consumer_info_destroyp(jsConsumerInfo **ci) {
        jsConsumerInfo_Destroy(*ci);
}

/* Ask the consumer's leader to step down: another replica takes the consumer over. Its answer
 * is JSON, {"success":true} or an error; logged either way. */
static void consumer_stepdown(ConsumerHealth *h, int64_t now) {
        const MailboxSettings *m = h->m;
        char subject[SETTINGS_NAME_MAX * 2 + 64];
        natsMsg *reply = NULL;
        natsStatus s;

        h->last_stepdown = now;
        atomic_fetch_add(&h->stats->stepdowns, 1);
        snprintf(subject, sizeof(subject), "$JS.API.CONSUMER.LEADER.STEPDOWN.%s.%s", m->stream, m->durable);
        s = natsConnection_RequestString(&reply, h->link->nc, subject, "", LINK_API_WAIT_MS);
        if (s != NATS_OK) {
                char err[STATUS_ERROR_MAX];

                link_error_text(s, 0, err, sizeof(err));
                log_warning("mailbox %s: asking consumer %s's leader to step down: %s", m->name, m->durable, err);
        } else {
                const char *d = natsMsg_GetData(reply);
                int n = natsMsg_GetDataLength(reply);
                bool ok = d && n > 0 && memmem(d, (size_t)n, "\"success\":true", 14);

                if (ok)
                        log_notice("mailbox %s: consumer %s's leader stepped down", m->name, m->durable);
                else
                        log_warning("mailbox %s: consumer %s's leader did not step down: %.*s", m->name, m->durable,
                                    MIN(n, 200), d ? d : "");
        }
        natsMsg_Destroy(reply);
}

static void stream_info_destroyp(jsStreamInfo **si) {
        jsStreamInfo_Destroy(*si);
}

/* The stream's messages on the route's subject (@n), and whether it is a work queue. */
static int stream_count(ConsumerHealth *h, uint64_t *n, bool *workqueue) {
        const MailboxSettings *m = h->m;
        _cleanup_(stream_info_destroyp) jsStreamInfo *si = NULL;
        jsOptions o;
        jsErrCode je = 0;

        jsOptions_Init(&o);
        o.Wait = LINK_API_WAIT_MS;
        o.Stream.Info.SubjectsFilter = m->subject;
        if (js_GetStreamInfo(&si, h->js, m->stream, &o, &je) != NATS_OK || !si)
                return -EAGAIN;
        *workqueue = si->Config && si->Config->Retention == js_WorkQueuePolicy;
        *n = 0;
        /* the list is libnats' own array of Count entries */
        for (int i = 0; si->State.Subjects && i < si->State.Subjects->Count; i++)
                *n += si->State.Subjects->List[i].Msgs;
        return 0;
}

/* The consumer's info says it does not exist (deleted by someone, or by a delete this bridge
 * asked for whose answer said otherwise): it is to be made again. */
static bool consumer_gone(ConsumerHealth *h) {
        log_warning("mailbox %s: consumer %s does not exist; making it again", h->m->name, h->m->durable);
        h->stall = HEALTH_OK;
        h->stall_stepdowns = 0;
        h->unanswered = 0;
        return true;
}

/* Delete the durable consumer; the next look for it (the inbound bridge's look for it) makes it again, with
 * the bridge's settings, delivering every message the work queue holds from its first. */
static bool consumer_recreate(ConsumerHealth *h, int64_t now, const char *why) {
        const MailboxSettings *m = h->m;
        jsErrCode je = 0;
        natsStatus s;

        h->last_recreate = now;
        atomic_fetch_add(&h->stats->recreated, 1);
        s = js_DeleteConsumer(h->js, m->stream, m->durable, NULL, &je);
        if (s != NATS_OK && s != NATS_NOT_FOUND && je != JSConsumerNotFoundErr) {
                char err[STATUS_ERROR_MAX];

                link_error_text(s, je, err, sizeof(err));
                log_warning("mailbox %s: deleting consumer %s to make it again (%s): %s", m->name, m->durable, why,
                            err);
                return false;
        }
        log_warning("mailbox %s: consumer %s deleted, to be made again (%s): the work queue's messages come from "
                    "its first, some perhaps twice",
                    m->name, m->durable, why);
        h->stall = HEALTH_OK; /* the stall goes on (stall_since) until a message comes */
        h->stall_stepdowns = 0;
        h->check_at = now + STALL_AFTER_MS * 1000LL;
        return true;
}

/*
 * Pulls have been answered empty for STALL_AFTER_MS while the mailbox had room: ask the consumer
 * (its info, LINK_API_WAIT_MS at most) whether messages wait for it. Two stalls of JetStream 2.9
 * clusters are told apart from an idle stream (doc/bridge.md, "A consumer that brings nothing"):
 *
 * - HEALTH_SILENT: messages pending, the consumer below its max-ack-pending (so nothing holds it
 *   back), and none comes: its leader is stuck. It is asked to step down, at most every
 *   STEPDOWN_EVERY_MS; after STALL_STEPDOWNS_MAX of them the consumer is made again.
 * - HEALTH_BEHIND: the consumer says nothing is pending, but the work queue holds more messages
 *   on its subject than the consumer has pending or out: its delivered sequence is past them (a
 *   stream leader came back with a shorter log, a stream state reset) and it will never
 *   deliver them — until new messages' sequences pass its own, which in end-to-end delivery
 *   never come, bridge A's window being full of these very messages. Seen again on the next
 *   look (STALL_AFTER_MS later, nothing having come meanwhile, the count not lower: acked
 *   messages leave a clustered queue seconds late after a leader change), the consumer is made again:
 *   a new one delivers the work queue from its first message. Only for a work queue, where a
 *   message acked is gone (with other retentions acked messages stay, and the count says
 *   nothing); at most every RECREATE_EVERY_MS.
 *
 * Nothing waits: the stream is idle; ask again later, less often.
 */
static bool stall_check(ConsumerHealth *h, int64_t now) {
        const MailboxSettings *m = h->m;
        _cleanup_(consumer_info_destroyp) jsConsumerInfo *ci = NULL;
        jsErrCode je = 0;
        natsStatus s;
        int64_t max_ack;
        uint64_t in_stream = 0, out;
        bool workqueue = false, may_recreate, deleted = false;
        HealthStall kind = HEALTH_OK;

        s = js_GetConsumerInfo(&ci, h->js, m->stream, m->durable, NULL, &je);
        now = now_usec();
        if (s == NATS_NOT_FOUND || je == JSConsumerNotFoundErr)
                return consumer_gone(h);
        if (s != NATS_OK || !ci) {
                char err[STATUS_ERROR_MAX];

                link_error_text(s, je, err, sizeof(err));
                log_debug("mailbox %s: consumer %s's info: %s", m->name, m->durable, err);
                h->check_at = now + STALL_AFTER_MS * 1000LL;
                return false;
        }
        max_ack = ci->Config ? ci->Config->MaxAckPending : 0;
        out = ci->NumAckPending > 0 ? (uint64_t)ci->NumAckPending : 0;
        if (ci->NumPending > 0 && !(max_ack > 0 && ci->NumAckPending >= max_ack))
                kind = HEALTH_SILENT;
        else if (stream_count(h, &in_stream, &workqueue) == 0 && workqueue && in_stream > ci->NumPending + out)
                kind = HEALTH_BEHIND;
        now = now_usec();
        if (kind == HEALTH_OK) {
                /* nothing waits, or all that may be out is out (redelivered after the AckWait) */
                if (h->stall_since)
                        log_info("mailbox %s: consumer %s: %" PRIu64 " messages wait, %" PRId64 " await their ack",
                                 m->name, m->durable, ci->NumPending, ci->NumAckPending);
                h->stall_since = 0;
                h->stall = HEALTH_OK;
                h->stall_stepdowns = 0;
                h->idle_backoff_ms = MIN(MAX(h->idle_backoff_ms * 2, STALL_AFTER_MS), STALL_IDLE_MAX_MS);
                h->check_at = now + h->idle_backoff_ms * 1000LL;
                return false;
        }
        may_recreate = !h->last_recreate || now - h->last_recreate >= RECREATE_EVERY_MS * 1000LL;
        if (!h->stall_since)
                h->stall_since = now;
        if (kind == HEALTH_BEHIND) {
                /* Seen first, or the count went down since (acked messages whose removal from
                 * the queue lagged, as it does for seconds after a leader change): look again.
                 * The same count or more on the next look, nothing delivered in between: the
                 * consumer is past them. */
                if (h->stall != HEALTH_BEHIND || in_stream < h->behind_count) {
                        log_debug("mailbox %s: the work queue holds %" PRIu64 " messages on %s, consumer %s %" PRIu64
                                  " pending and %" PRId64 " awaiting their ack: looking again",
                                  m->name, in_stream, m->subject, m->durable, ci->NumPending, ci->NumAckPending);
                        h->stall = HEALTH_BEHIND;
                        h->behind_count = in_stream;
                        h->check_at = now + STALL_AFTER_MS * 1000LL;
                        return false;
                }
                h->behind_count = in_stream;
                stats_error(h->stats, "consumer %s is past %" PRIu64 " messages of the work queue", m->durable,
                            in_stream - ci->NumPending - out);
                if (may_recreate) {
                        log_warning("mailbox %s: the work queue holds %" PRIu64 " messages on %s, and consumer %s has "
                                    "%" PRIu64 " pending and %" PRId64 " awaiting their ack (delivered up to stream "
                                    "sequence %" PRIu64 ", leader %s): it is past the others",
                                    m->name, in_stream, m->subject, m->durable, ci->NumPending, ci->NumAckPending,
                                    ci->Delivered.Stream,
                                    ci->Cluster && ci->Cluster->Leader ? ci->Cluster->Leader : "unknown");
                        deleted = consumer_recreate(h, now, "it is past messages the work queue holds");
                }
                h->check_at = now + STALL_AFTER_MS * 1000LL;
                return deleted;
        }
        if (h->stall != HEALTH_SILENT) {
                h->stall = HEALTH_SILENT;
                h->stall_stepdowns = 0;
                log_warning("mailbox %s: consumer %s brought nothing for %.1f s while %" PRIu64
                            " messages wait for it (delivered up to stream sequence %" PRIu64 ", ack floor %" PRIu64
                            ", %" PRId64 " awaiting their ack, leader %s)",
                            m->name, m->durable, (double)(now - h->last_msg) / 1e6, ci->NumPending,
                            ci->Delivered.Stream, ci->AckFloor.Stream, ci->NumAckPending,
                            ci->Cluster && ci->Cluster->Leader ? ci->Cluster->Leader : "unknown");
        }
        stats_error(h->stats, "consumer %s stalled: %" PRIu64 " messages wait, none comes", m->durable, ci->NumPending);
        if (h->stall_stepdowns >= STALL_STEPDOWNS_MAX && may_recreate && stream_count(h, &in_stream, &workqueue) == 0 &&
            workqueue) {
                deleted = consumer_recreate(h, now, "its leaders brought nothing");
        } else if (!h->last_stepdown || now - h->last_stepdown >= STEPDOWN_EVERY_MS * 1000LL) {
                consumer_stepdown(h, now);
                h->stall_stepdowns++;
        }
        h->check_at = now + STALL_AFTER_MS * 1000LL;
        return deleted;
}

/*
 * Pull requests unanswered for LEADERLESS_AFTER_MS — not a message, not a 408 — while the
 * server answers PINGs: a consumer without a leader, which in JetStream 2.9 clusters lasted 30 s
 * and more after a server was killed (tests/bridge-cluster.sh: 36 s). If the consumer does not
 * answer for its info either while the stream does, and the stream is a work queue, the
 * consumer is made again: a new one gets a leader of its own at once. At most every
 * RECREATE_EVERY_MS; looked at every STALL_AFTER_MS.
 */
static bool leaderless_check(ConsumerHealth *h, int64_t now) {
        const MailboxSettings *m = h->m;
        _cleanup_(consumer_info_destroyp) jsConsumerInfo *ci = NULL;
        jsErrCode je = 0;
        uint64_t in_stream = 0;
        bool workqueue = false;
        natsStatus s;

        h->leaderless_at = now + STALL_AFTER_MS * 1000LL;
        s = js_GetConsumerInfo(&ci, h->js, m->stream, m->durable, NULL, &je);
        if (s == NATS_NOT_FOUND || je == JSConsumerNotFoundErr)
                return consumer_gone(h);
        if (s == NATS_OK)
                return false; /* it answers: not leaderless */
        if (h->last_recreate && now - h->last_recreate < RECREATE_EVERY_MS * 1000LL)
                return false;
        if (stream_count(h, &in_stream, &workqueue) < 0 || !workqueue)
                return false; /* the stream does not answer either: an election, wait */
        log_warning("mailbox %s: consumer %s answered no pull request for %.1f s, nor a request for its info, while "
                    "the stream answers: it has no leader",
                    m->name, m->durable, (double)(now_usec() - h->unanswered) / 1e6);
        if (!consumer_recreate(h, now_usec(), "it has no leader"))
                return false; /* looked at again in STALL_AFTER_MS: a delete refused may be done all the same */
        h->unanswered = 0;
        return true;
}

/* health_message() - a message came at @now: the consumer is not stalled (any more) */
void health_message(ConsumerHealth *h, int64_t now) {
        if (h->stall_since)
                log_info("mailbox %s: consumer %s brings messages again after %.1f s", h->m->name, h->m->durable,
                         (double)(now - h->stall_since) / 1e6);
        h->stall_since = 0;
        h->stall = HEALTH_OK;
        h->stall_stepdowns = 0;
        h->last_msg = now;
        h->answered_empty = false;
        h->idle_backoff_ms = 0;
        h->check_at = 0;
}

void health_init(ConsumerHealth *h, jsCtx *js, Link *link, const MailboxSettings *m, Stats *stats) {
        *h = (ConsumerHealth){ .js = js, .link = link, .m = m, .stats = stats };
}

/* health_restart() - the pulls begin again (subscribed, reconnected): as if a message came */
void health_restart(ConsumerHealth *h, int64_t now) {
        health_message(h, now);
        h->unanswered = 0;
}

/* health_empty_answer() - a pull request ended with 404 or 408: the consumer has a leader */
void health_empty_answer(ConsumerHealth *h) {
        h->answered_empty = true;
}

/* health_pull_sent() - a pull request went out at @now; the inbox last heard anything at @heard */
void health_pull_sent(ConsumerHealth *h, int64_t now, int64_t heard) {
        if (h->unanswered <= heard)
                h->unanswered = now;
}

/* health_full() - the mailbox has no room: nothing is asked for, so nothing coming is no stall */
void health_full(ConsumerHealth *h, int64_t now) {
        h->last_msg = now;
        h->answered_empty = false;
        h->unanswered = 0;
}

/*
 * health_check() - look at the consumer if it is due (the mailbox has room)
 * @heard:         when the inbox last heard anything (a message, a status)
 * @suspect:       the server left a pull unanswered and is being checked with a PING
 * @no_responders: nobody serves the consumer's pulls right now (an election)
 *
 * Return: true if the consumer was deleted, to be made again: forget the pulls and look for it.
 */
bool health_check(ConsumerHealth *h, int64_t now, int64_t heard, bool suspect, bool no_responders) {
        if (no_responders)
                return false;
        if (h->unanswered > heard && now - h->unanswered >= LEADERLESS_AFTER_MS * 1000LL && now >= h->leaderless_at &&
            leaderless_check(h, now))
                return true;
        if (h->answered_empty && !suspect && now - h->last_msg >= STALL_AFTER_MS * 1000LL && now >= h->check_at)
                return stall_check(h, now_usec());
        return false;
}
