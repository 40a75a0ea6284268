/* SPDX-License-Identifier: MIT */
/* inbound.c — a durable JetStream consumer carried into a mailbox.
 *
 * The bridge pulls from a durable consumer (created if missing: explicit acks, max-ack-pending
 * = the mailbox's slots, never giving up on a message) and sends each message into the local
 * mailbox; it acks a message to NATS only once shmbox_send() returned 0, the mailbox's COMMIT
 * point. So a message is acked only when it will be delivered locally, and a bridge that dies
 * before the ack gets it redelivered after the consumer's AckWait: at-least-once.
 *
 * Back-pressure: the bridge reads the mailbox's free slots (shmbox_stat: slots - (tail -
 * head)) and never has more messages asked for than that. With the mailbox full it does not
 * pull at all, and the messages wait in the stream. If local senders fill the mailbox between
 * the pull and the send, the bridge waits in shmbox_send() and tells NATS the message is in
 * progress every third of the AckWait, so it is not redelivered meanwhile.
 *
 * Pull requests of its own: libnats (3.4) overruns its own array in natsSubscription_Fetch()
 * when the subscription holds fewer messages than the batch asked for and more keep coming (it
 * waits for "batch - held" messages, counts "held" again, and stores past "batch"): heap
 * corruption, a crash or a hang, when the pull requests a frozen server queued are answered at
 * once. So the bridge does not use libnats' pull subscriptions at all. It speaks the JetStream
 * pull protocol itself on a plain subscription to an inbox of its own, "<inbox>.*": a pull
 * request is a publish to $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer> with the body
 * {"batch":N,"expires":NANOS} and the reply subject "<inbox>.<id>". The server answers with
 * messages (their reply subject $JS.ACK... acks them; their subject is the stream's, so a
 * message does not say which request it answers) and with status messages on "<inbox>.<id>",
 * which do: 404 (no messages), 408 (the request expired), 409 (consumer deleted, too many
 * waiting requests...), 100 (heartbeat); and a 503 "no responders" when no server serves the
 * consumer (an election, or the consumer is gone). The bridge
 *
 * - keeps at most PULLS_MAX requests outstanding, and their batches together never above the
 *   mailbox's free slots; a message is counted against the oldest request that still expects
 *   one (the sum is exact even if the server served them in another order);
 * - takes each message on its own from the subscription, so there is no array to overrun: a
 *   message nobody is counting on any more (its request expired here first; one buffered by
 *   libnats before a reconnect) is still a valid delivery: it is committed if the mailbox has
 *   room, else nak'ed (redelivered at once), never acked without being committed;
 * - forgets a request on its 404/408/409, or PULL_GRACE_MS after its expiry without one; but
 *   a request that expired without a word from the server since it was sent (a frozen server:
 *   a SIGSTOP, a stalled disk) is kept, still counted, and the server is checked with a round
 *   trip (a PING, 250 ms at most) before any other request is sent: a frozen server does not
 *   pile up requests answered all at once when it resumes, and once it answers the PING the
 *   kept requests get one more life to be answered;
 * - forgets its requests on a reconnect (the server that had them may be gone) and pulls again
 *   at once, on the same subscription (libnats subscribes it again); and sends again its newest
 *   acks and confirmations, which may have died with that server (ack-replay.c);
 * - on "no responders", pulls again after 50 ms doubling to 400 ms, logging once per episode;
 *   one that lasts PULL_ENSURE_AFTER_MS looks for the stream and the consumer again, which
 *   creates them if they are gone (a JetStream request that waits LINK_API_WAIT_MS at most).
 *
 * A consumer can bring nothing while messages wait for it (JetStream 2.9 clusters: its leader
 * stuck, its delivered sequence past the work queue's messages, no leader at all):
 * consumer-health.c watches what the inbox gets and says when the consumer was deleted to be
 * made again; the bridge then forgets its pulls and looks for the consumer, which makes it.
 *
 * What the bridge cannot do is drop duplicates: a message committed whose ack was lost (the
 * bridge died between send and ack, the connection dropped) is delivered again, and the
 * mailbox then holds it twice. The Nats-Msg-Id header does not travel into the mailbox (a
 * mailbox message is its payload only); receivers that must drop duplicates put their own id
 * in the payload. Counted as "redelivered" in the status.
 *
 * End-to-end delivery (`delivery = end-to-end`, the default): once a message is committed and
 * acked, its id (the Nats-Msg-Id header bridge A gave it) is confirmed to bridge A on
 * CONFIRM_SUBJECT_PREFIX + the message's subject, ids one per line, in one publish for as many
 * messages as were taken in a row (flushed when nothing more is waiting in the inbox, or the
 * buffer is full): bridge A releases the message from its mailbox only then (outbound.c).
 * Messages without the header (not published by a bridge) are not confirmed. A confirmation is
 * core NATS and may be lost; bridge A finds out by itself (a stored message that the stream no
 * longer has) and publishes it again: a duplicate here, never a loss.
 *
 * A message longer than the mailbox's slots can never be delivered; it is terminated (the
 * stream keeps it under limits retention, a work queue drops it) and counted as "rejected",
 * with an error logged, rather than blocking the consumer forever.
 */
#include "config.h"

#include "bridge/inbound.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/ack-replay.h"
#include "bridge/consumer-health.h"
#include "bridge/util.h"
#include "bridge/worker.h"
#include "log/log.h"

#define PULL_EXPIRES_MS 500       /* a pull request's life at the server */
#define PULL_GRACE_MS 250         /* then, unanswered, it is counted gone */
#define PULLS_MAX 2               /* pull requests outstanding at most */
#define PULL_BACKOFF_MIN_MS 50    /* after "no responders": the first pause, doubling */
#define PULL_BACKOFF_MAX_MS 400   /* ... to this */
#define PULL_ENSURE_AFTER_MS 2000 /* no responders for this long: look for the consumer */
#define PULL_PING_MS 250          /* the round trip that checks a silent server */
#define CONFIRM_BUF 4096          /* end-to-end: confirmations sent in one publish, in bytes at most */

typedef struct Pull {
        uint64_t id;      /* its reply subject is <inbox>.<id>; 0: this entry is free */
        uint32_t left;    /* messages it may still bring */
        int64_t sent;     /* monotonic µs */
        int64_t deadline; /* monotonic µs: no answer by then, it is counted gone */
        bool extended;    /* its deadline was put off once, the server having said nothing */
} Pull;

typedef struct Inbound {
        Worker *w;
        shmbox_client *client;
        shmbox *box;
        uint32_t slots;
        jsCtx *js;
        natsSubscription *sub; /* plain, to <inbox>.* */
        char *inbox;           /* natsInbox */
        char next_subject[SETTINGS_NAME_MAX * 2 + 64];
        bool ensured;            /* the stream and the consumer were found (or made) */
        uint64_t sub_reconnects; /* the link's reconnects when the pulls were sent */
        Pull pulls[PULLS_MAX];
        uint64_t next_id;
        int64_t heard;         /* monotonic µs: the last message of any kind on the inbox */
        bool suspect;          /* a request expired unanswered: check the server before the next */
        int64_t pause_until;   /* monotonic µs: no request before (no responders) */
        int backoff_ms;        /* the next pause; 0: not in an episode of "no responders" */
        int64_t episode;       /* monotonic µs: when the episode began */
        int ensure_backoff_ms; /* the next pause; 0: the last look succeeded */
        int64_t ensure_since;  /* monotonic µs: the first look that failed */
        /* end-to-end: ids committed and not yet confirmed, to confirm_subject */
        char confirm_subject[sizeof(CONFIRM_SUBJECT_PREFIX) + SETTINGS_SUBJECT_MAX];
        char confirm_buf[CONFIRM_BUF];
        size_t confirm_len;
        unsigned confirm_n;
        ConsumerHealth health; /* does the consumer bring what waits for it? (consumer-health.c) */
        AckReplay replay;      /* the newest acks, sent again after a reconnect (ack-replay.c) */
} Inbound;

static void inbound_detach(Inbound *in) {
        Worker *w = in->w;

        shmbox_detach(in->box);
        in->box = NULL;
        shmbox_disconnect(in->client);
        in->client = NULL;
        atomic_store(&w->stats.attached, false);
        atomic_store(&w->stats.ready, false);
}

static int inbound_attach(Inbound *in) {
        Worker *w = in->w;
        const MailboxSettings *m = w->mailbox;
        struct shmbox_stat st;
        int r;

        r = worker_attach(w, SHMBOX_STAT_SEND, &in->client, &in->box, &st);
        if (r < 0)
                return r;
        in->slots = st.slots;
        atomic_store(&w->stats.attached, true);
        atomic_store(&w->stats.ready, in->sub != NULL && in->ensured);
        log_info("mailbox %s attached (%u slots of %u bytes): inbound from %s, stream %s, consumer %s", m->name,
                 st.slots, st.slot_size, m->subject, m->stream, m->durable);
        return 0;
}

/* Answer the message @msg with @what ("+ACK", "-NAK", "+WPI", "+TERM") on its reply subject. */
static natsStatus reply(Inbound *in, natsMsg *msg, const char *what) {
        const char *to = natsMsg_GetReply(msg);

        if (!to || !*to)
                return NATS_ILLEGAL_STATE;
        return natsConnection_PublishString(in->w->link->nc, to, what);
}

static void pulls_forget(Inbound *in) {
        for (unsigned i = 0; i < PULLS_MAX; i++)
                in->pulls[i].id = 0;
}

/* Make sure the stream and the consumer exist. */
static int inbound_ensure(Inbound *in) {
        Worker *w = in->w;
        const MailboxSettings *m = w->mailbox;
        char err[STATUS_ERROR_MAX];
        int r;

        r = link_stream_ensure(in->js, m->stream, w->stream, err, sizeof(err), NULL);
        if (r < 0) {
                stats_error(&w->stats, "stream %s: %s", m->stream, err);
                return r;
        }
        r = link_consumer_ensure(in->js, m, in->slots, err, sizeof(err));
        if (r < 0) {
                stats_error(&w->stats, "consumer %s: %s", m->durable, err);
                return r;
        }
        in->ensured = true;
        atomic_store(&w->stats.ready, true);
        return 0;
}

/* Subscribe to an inbox of our own, where the answers to our pull requests come. */
static int inbound_subscribe(Inbound *in) {
        Worker *w = in->w;
        const MailboxSettings *m = w->mailbox;
        char err[STATUS_ERROR_MAX], subject[128];
        natsStatus s;

        s = natsInbox_Create(&in->inbox);
        if (s == NATS_OK) {
                snprintf(subject, sizeof(subject), "%s.*", in->inbox);
                s = natsConnection_SubscribeSync(&in->sub, w->link->nc, subject);
        }
        if (s != NATS_OK) {
                link_error_text(s, 0, err, sizeof(err));
                stats_error(&w->stats, "subscribe to an inbox: %s", err);
                natsInbox_Destroy(in->inbox);
                in->inbox = NULL;
                in->sub = NULL;
                return -EAGAIN;
        }
        snprintf(in->next_subject, sizeof(in->next_subject), "$JS.API.CONSUMER.MSG.NEXT.%s.%s", m->stream, m->durable);
        pulls_forget(in);
        in->suspect = false;
        in->sub_reconnects = atomic_load(&w->link->reconnects);
        health_restart(&in->health, now_usec());
        return 0;
}

/* Nak what the subscription still holds (for the next bridge, at once), and drop it. */
static void inbound_unsubscribe(Inbound *in) {
        natsMsg *msg = NULL;

        while (in->sub && natsSubscription_NextMsg(&msg, in->sub, 0) == NATS_OK) {
                if (natsMsg_GetDataLength(msg) > 0)
                        reply(in, msg, "-NAK");
                natsMsg_Destroy(msg);
                msg = NULL;
        }
        natsSubscription_Destroy(in->sub);
        in->sub = NULL;
        natsInbox_Destroy(in->inbox);
        in->inbox = NULL;
        pulls_forget(in);
        atomic_store(&in->w->stats.ready, false);
}

/* End-to-end: publish the confirmations gathered. One that cannot be sent is dropped: bridge A
 * finds the message gone from the stream and publishes it again (a duplicate, not a loss). */
static void confirm_flush(Inbound *in) {
        Worker *w = in->w;
        natsStatus s;

        if (in->confirm_n == 0)
                return;
        s = natsConnection_Publish(w->link->nc, in->confirm_subject, in->confirm_buf, (int)in->confirm_len);
        if (s == NATS_OK) {
                atomic_fetch_add(&w->stats.confirmed, in->confirm_n);
        } else {
                char err[STATUS_ERROR_MAX];

                link_error_text(s, 0, err, sizeof(err));
                stats_error(&w->stats, "confirm %u message(s): %s (bridge A will publish them again)", in->confirm_n,
                            err);
        }
        in->confirm_len = 0;
        in->confirm_n = 0;
}

/* End-to-end: confirm the message @id on @subject, committed, to bridge A (gathered; see
 * confirm_flush()). */
static void confirm_id(Inbound *in, const char *subject, const char *id) {
        size_t n;

        if (in->w->mailbox->delivery != DELIVERY_END_TO_END || !subject || !id || !*id)
                return;
        n = strlen(id);
        if (n >= CONFIRM_BUF || memchr(id, '\n', n)) /* not an id a bridge gave */
                return;
        if (in->confirm_n && (in->confirm_len + n + 1 > CONFIRM_BUF ||
                              strcmp(in->confirm_subject + strlen(CONFIRM_SUBJECT_PREFIX), subject) != 0))
                confirm_flush(in);
        if (in->confirm_n == 0 && snprintf(in->confirm_subject, sizeof(in->confirm_subject),
                                           CONFIRM_SUBJECT_PREFIX "%s", subject) >= (int)sizeof(in->confirm_subject))
                return;
        memcpy(in->confirm_buf + in->confirm_len, id, n);
        in->confirm_len += n;
        in->confirm_buf[in->confirm_len++] = '\n';
        in->confirm_n++;
}

/* End-to-end: confirm @msg, committed, to bridge A. */
static void confirm_add(Inbound *in, natsMsg *msg) {
        const char *id = NULL;

        if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK)
                confirm_id(in, natsMsg_GetSubject(msg), id);
}

static void confirm_again(void *closure, const char *subject, const char *id) {
        confirm_id(closure, subject, id);
}

/* After a reconnect: the newest acks and confirmations again (ack-replay.c says why). */
static void replay_send(Inbound *in, int64_t now) {
        unsigned sent = ack_replay_send(&in->replay, in->w->link->nc, now, confirm_again, in);

        confirm_flush(in);
        if (sent)
                log_info(
                        "mailbox %s: reconnected: the last %u acks%s sent again (the server that had them may be gone)",
                        in->w->mailbox->name, sent,
                        in->w->mailbox->delivery == DELIVERY_END_TO_END ? " and confirmations" : "");
}

/* Slots a send can claim now: neither queued nor being read or written. */
static int free_slots(Inbound *in, uint32_t *ret) {
        struct shmbox_stat st;
        int r = shmbox_stat(in->box, &st);

        if (r < 0)
                return r;
        *ret = st.tail - st.head >= st.slots ? 0 : st.slots - (uint32_t)(st.tail - st.head);
        return 0;
}

/*
 * Send @msg into the mailbox and ack it once committed. 0: done with it (delivered, or
 * terminated as too long); negative: the box broke (the message was nak'ed: redelivered soon).
 */
static int deliver(Inbound *in, natsMsg *msg) {
        Worker *w = in->w;
        const void *data = natsMsg_GetData(msg);
        size_t len = (size_t)natsMsg_GetDataLength(msg);
        int64_t progress_every = w->mailbox->ack_wait_ms * 1000 / 3, last = now_usec();
        jsMsgMetaData *meta = NULL;
        natsStatus s;
        int r;

        if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
                if (meta->NumDelivered > 1)
                        atomic_fetch_add(&w->stats.redelivered, 1);
                jsMsgMetaData_Destroy(meta);
        }
        for (;;) {
                r = shmbox_send(in->box, data, len, 100);
                if (r == 0)
                        break;
                if (r == -EAGAIN || r == -ETIMEDOUT) {
                        /* local senders took the room we saw: wait, keeping NATS patient */
                        if (worker_stopping(w)) {
                                reply(in, msg, "-NAK");
                                return 0;
                        }
                        if (now_usec() - last > progress_every) {
                                reply(in, msg, "+WPI");
                                last = now_usec();
                        }
                        continue;
                }
                if (r == -EMSGSIZE) {
                        reply(in, msg, "+TERM");
                        atomic_fetch_add(&w->stats.rejected, 1);
                        stats_error(&w->stats, "a message of %zu bytes is longer than the mailbox's slots: terminated",
                                    len);
                        log_error("mailbox %s: a message of %zu bytes on %s is longer than the mailbox's slots; "
                                  "terminated (it is not delivered)",
                                  w->mailbox->name, len, natsMsg_GetSubject(msg));
                        return 0;
                }
                reply(in, msg, "-NAK");
                stats_error(&w->stats, "send: %s", shmbox_strerror(r));
                return r;
        }
        atomic_fetch_add(&w->stats.committed, 1);
        s = reply(in, msg, "+ACK");
        if (s == NATS_OK) {
                atomic_fetch_add(&w->stats.acked, 1);
        } else {
                char err[STATUS_ERROR_MAX];

                /* committed but not acked: NATS delivers it again, a duplicate */
                link_error_text(s, 0, err, sizeof(err));
                stats_error(&w->stats, "ack: %s (the message will be delivered again)", err);
        }
        ack_replay_record(&in->replay, msg, now_usec());
        confirm_add(in, msg);
        return 0;
}

/* Messages our outstanding requests may still bring. */
static uint32_t pulls_credit(const Inbound *in, unsigned *live) {
        uint32_t credit = 0;

        *live = 0;
        for (unsigned i = 0; i < PULLS_MAX; i++)
                if (in->pulls[i].id) {
                        credit += in->pulls[i].left;
                        (*live)++;
                }
        return credit;
}

/* Count a message against the oldest request that expects one; false if none does. */
static bool pulls_count_message(Inbound *in) {
        Pull *oldest = NULL;

        for (unsigned i = 0; i < PULLS_MAX; i++) {
                Pull *p = &in->pulls[i];

                if (p->id && p->left > 0 && (!oldest || p->id < oldest->id))
                        oldest = p;
        }
        if (!oldest)
                return false;
        if (--oldest->left == 0)
                oldest->id = 0; /* served in full: the server is done with it */
        return true;
}

/* Forget the requests past their deadline. One the server said nothing about since it was sent
 * makes the server suspect, and is kept (its messages still counted on) until a PING says
 * whether the server is alive: a frozen server answers it when it resumes. */
static void pulls_expire(Inbound *in, int64_t now) {
        for (unsigned i = 0; i < PULLS_MAX; i++) {
                Pull *p = &in->pulls[i];

                if (p->id && now > p->deadline) {
                        if (in->heard < p->sent && !p->extended)
                                in->suspect = true;
                        else
                                p->id = 0;
                }
        }
}

/* A suspect server: PING it (PULL_PING_MS at most). Alive, it has our requests in hand: they
 * get one more life to be answered. Else wait before the next PING, sending no request. */
static void pulls_check_server(Inbound *in) {
        int64_t now;

        if (natsConnection_FlushTimeout(in->w->link->nc, PULL_PING_MS) != NATS_OK) {
                in->pause_until = now_usec() + PULL_PING_MS * 1000LL;
                return;
        }
        in->suspect = false;
        now = now_usec();
        for (unsigned i = 0; i < PULLS_MAX; i++) {
                Pull *p = &in->pulls[i];

                if (p->id && now > p->deadline) {
                        p->deadline = now + (PULL_EXPIRES_MS + PULL_GRACE_MS) * 1000LL;
                        p->extended = true;
                }
        }
}

/* Send a pull request for @batch messages. */
static int pull_send(Inbound *in, uint32_t batch, int64_t now) {
        char subject[160], body[96];
        Pull *p = NULL;
        natsStatus s;

        for (unsigned i = 0; i < PULLS_MAX && !p; i++)
                if (!in->pulls[i].id)
                        p = &in->pulls[i];
        if (!p)
                return -EBUSY;
        snprintf(subject, sizeof(subject), "%s.%" PRIu64, in->inbox, ++in->next_id);
        snprintf(body, sizeof(body), "{\"batch\":%" PRIu32 ",\"expires\":%" PRId64 "}", batch,
                 (int64_t)PULL_EXPIRES_MS * 1000000);
        s = natsConnection_PublishRequestString(in->w->link->nc, in->next_subject, subject, body);
        if (s != NATS_OK) {
                char err[STATUS_ERROR_MAX];

                link_error_text(s, 0, err, sizeof(err));
                stats_error(&in->w->stats, "pull request: %s", err);
                return -EAGAIN;
        }
        *p = (Pull){ .id = in->next_id,
                     .left = batch,
                     .sent = now,
                     .deadline = now + (PULL_EXPIRES_MS + PULL_GRACE_MS) * 1000LL };
        health_pull_sent(&in->health, now, in->heard);
        return 0;
}

/* The request whose status message came on @subject, or NULL. */
static Pull *pull_of_status(Inbound *in, const char *subject) {
        size_t n = strlen(in->inbox);
        uint64_t id;
        char *end;

        if (!subject || strncmp(subject, in->inbox, n) != 0 || subject[n] != '.')
                return NULL;
        id = strtoull(subject + n + 1, &end, 10);
        if (*end || id == 0)
                return NULL;
        for (unsigned i = 0; i < PULLS_MAX; i++)
                if (in->pulls[i].id == id)
                        return &in->pulls[i];
        return NULL;
}

/* The server is done with @p, and says in @msg (a 408 does) how many messages it did not
 * bring. Messages are counted against the oldest request, which the server need not have served
 * first: what @p brought more (or less) than was counted against it was counted against the
 * others, whose counts are put right, so that their sum stays exact. */
static void pull_end(Inbound *in, Pull *p, natsMsg *msg, const char *status) {
        const char *v = NULL;
        int64_t pending = p->left, diff;

        if (natsMsgHeader_Get(msg, "Nats-Pending-Messages", &v) == NATS_OK && v) {
                char *end;
                long long x = strtoll(v, &end, 10);

                if (end != v && !*end && x >= 0 && x <= UINT32_MAX)
                        pending = x;
        }
        log_debug("mailbox %s: pull request %" PRIu64 " ends: %s, %" PRId64 " not brought (counted %" PRIu32 ")",
                  in->w->mailbox->name, p->id, status, pending, p->left);
        diff = (int64_t)p->left - pending; /* > 0: the others were counted too many */
        p->id = 0;
        for (unsigned i = 0; i < PULLS_MAX && diff != 0; i++) {
                Pull *o = &in->pulls[i];

                if (!o->id)
                        continue;
                if (diff > 0) {
                        o->left += (uint32_t)diff;
                        diff = 0;
                } else {
                        int64_t take = MIN((int64_t)o->left, -diff);

                        o->left -= (uint32_t)take;
                        diff += take;
                }
        }
}

static void episode_end(Inbound *in) {
        if (in->backoff_ms) {
                log_info("mailbox %s: consumer %s answers again after %.1f s", in->w->mailbox->name,
                         in->w->mailbox->durable, (double)(now_usec() - in->episode) / 1e6);
                in->backoff_ms = 0;
        }
        in->pause_until = 0;
}

/* No server serves the consumer: pull again after a pause that grows; log once per episode. */
static void episode_no_responders(Inbound *in, int64_t now) {
        Worker *w = in->w;

        pulls_forget(in);
        if (!in->backoff_ms) {
                in->episode = now;
                in->backoff_ms = PULL_BACKOFF_MIN_MS;
                log_warning("mailbox %s: no server serves consumer %s (an election, or it is gone); pulling again "
                            "every %d-%d ms",
                            w->mailbox->name, w->mailbox->durable, PULL_BACKOFF_MIN_MS, PULL_BACKOFF_MAX_MS);
        } else {
                in->backoff_ms = MIN(in->backoff_ms * 2, PULL_BACKOFF_MAX_MS);
        }
        stats_error(&w->stats, "pull request: no responders (will retry)");
        in->pause_until = now + in->backoff_ms * 1000LL;
        if (now - in->episode > PULL_ENSURE_AFTER_MS * 1000LL)
                in->ensured = false; /* look for the stream and the consumer again */
}

/* One message from the inbox: a status, or a message to deliver. Negative: the box broke. */
static int inbound_handle(Inbound *in, natsMsg *msg) {
        Worker *w = in->w;
        const char *status = NULL;
        uint32_t room = 0;
        int r;

        in->heard = now_usec();
        in->suspect = false;
        if (natsMsg_GetDataLength(msg) == 0 && natsMsgHeader_Get(msg, "Status", &status) == NATS_OK && status) {
                Pull *p = pull_of_status(in, natsMsg_GetSubject(msg));
                const char *desc = NULL;

                if (strncmp(status, "100", 3) == 0)
                        return 0;
                episode_end(in);
                if (p)
                        pull_end(in, p, msg, status); /* 404, 408, 409: the server is done with it */
                if (strncmp(status, "404", 3) == 0 || strncmp(status, "408", 3) == 0)
                        health_empty_answer(&in->health);
                if (strncmp(status, "409", 3) == 0) {
                        natsMsgHeader_Get(msg, "Description", &desc);
                        stats_error(&w->stats, "pull request: %s %s", status, desc ? desc : "");
                        log_debug("mailbox %s: pull request refused: %s %s", w->mailbox->name, status,
                                  desc ? desc : "");
                        if (desc && strstr(desc, "Deleted"))
                                in->ensured = false;
                }
                return 0;
        }
        episode_end(in);
        health_message(&in->health, in->heard);
        atomic_fetch_add(&w->stats.fetched, 1);
        if (!pulls_count_message(in)) {
                /* nobody counts on it (its request expired here first, or it was sent before a
                 * reconnect): commit it if it fits, else let NATS give it to a later request */
                r = free_slots(in, &room);
                if (r < 0 || room == 0) {
                        log_debug("mailbox %s: a message no request counts on, and no room for it: nak'ed",
                                  w->mailbox->name);
                        reply(in, msg, "-NAK");
                        if (r < 0) {
                                stats_error(&w->stats, "stat: %s", shmbox_strerror(r));
                                return r;
                        }
                        return 0;
                }
        }
        atomic_store(&w->stats.in_flight, 1);
        r = deliver(in, msg);
        atomic_store(&w->stats.in_flight, 0);
        return r;
}

static void *inbound_run(void *arg) {
        Worker *w = arg;
        Inbound *in = w->impl;
        const MailboxSettings *m = w->mailbox;
        long full_wait_us = 50;
        int r;

        while (!worker_stopping(w)) {
                uint32_t room, credit, cap;
                unsigned live;
                natsMsg *msg = NULL;
                int64_t now, wait_ms;
                natsStatus s;

                if (!in->box) {
                        if (inbound_attach(in) < 0)
                                worker_sleep(w, 1000);
                        continue;
                }
                if (!link_connected(w->link)) {
                        /* a request now would only wait in libnats' reconnect buffer */
                        worker_sleep(w, 100);
                        continue;
                }
                if (!in->sub) {
                        if (inbound_subscribe(in) < 0)
                                worker_sleep(w, 200);
                        continue;
                }
                if (!in->ensured) {
                        if (inbound_ensure(in) < 0) {
                                /* not whole seconds: JetStream may be electing a leader */
                                if (!in->ensure_backoff_ms) {
                                        char err[STATUS_ERROR_MAX];

                                        in->ensure_since = now_usec();
                                        stats_last_error(&w->stats, err, sizeof(err));
                                        log_warning("mailbox %s: %s; trying again every %d-%d ms", m->name, err,
                                                    PULL_BACKOFF_MIN_MS, PULL_BACKOFF_MAX_MS);
                                }
                                in->ensure_backoff_ms = MAX(in->ensure_backoff_ms, PULL_BACKOFF_MIN_MS);
                                worker_sleep(w, in->ensure_backoff_ms);
                                in->ensure_backoff_ms = MIN(in->ensure_backoff_ms * 2, PULL_BACKOFF_MAX_MS);
                        } else if (in->ensure_backoff_ms) {
                                log_info("mailbox %s: stream %s and consumer %s found after %.1f s", m->name, m->stream,
                                         m->durable, (double)(now_usec() - in->ensure_since) / 1e6);
                                in->ensure_backoff_ms = 0;
                        }
                        continue;
                }
                now = now_usec();
                if (atomic_load(&w->link->reconnects) != in->sub_reconnects) {
                        /* the server that had our requests may be gone: pull again now; what
                         * the old requests still bring is taken as it comes */
                        log_debug("mailbox %s: reconnected; pulling again", m->name);
                        in->sub_reconnects = atomic_load(&w->link->reconnects);
                        pulls_forget(in);
                        in->suspect = false;
                        episode_end(in);
                        health_restart(&in->health, now);
                        replay_send(in, now);
                }
                pulls_expire(in, now);
                r = free_slots(in, &room);
                if (r < 0) {
                        stats_error(&w->stats, "stat: %s", shmbox_strerror(r));
                        inbound_detach(in);
                        continue;
                }
                credit = pulls_credit(in, &live);
                cap = m->fetch_batch ? MIN(m->fetch_batch, in->slots) : in->slots;
                if (in->suspect && now >= in->pause_until) {
                        pulls_check_server(in);
                        now = now_usec();
                        credit = pulls_credit(in, &live);
                }
                /* ask for what fits beyond what is asked for already: a first request for any
                 * room, a second one (pipelining) for at least half a batch */
                if (!in->suspect && room > credit && live < PULLS_MAX && now >= in->pause_until &&
                    (live == 0 || room - credit >= (cap + 1) / 2)) {
                        if (pull_send(in, MIN(room - credit, cap), now) == 0)
                                credit = pulls_credit(in, &live);
                }
                if (room == 0) {
                        health_full(&in->health, now);
                } else {
                        bool deleted = health_check(&in->health, now, in->heard, in->suspect, in->backoff_ms != 0);

                        now = now_usec(); /* a check waits for JetStream's answers */
                        if (deleted) {
                                pulls_forget(in); /* the consumer was deleted: look for it (which makes it) */
                                in->ensured = false;
                                continue;
                        }
                }
                if (room == 0 && live == 0) {
                        int held = 0;

                        if (natsSubscription_GetPending(in->sub, &held, NULL) != NATS_OK || held == 0) {
                                /* full: pull nothing, the messages wait in the stream. The
                                 * library has no wait for room without a message in hand, so
                                 * look again after 50 µs, doubling to 5 ms while it stays full:
                                 * a receiver that keeps up is followed closely, an absent one
                                 * costs 200 wake-ups a second. */
                                struct timespec ts = { 0, full_wait_us * 1000L };

                                confirm_flush(in);
                                nanosleep(&ts, NULL);
                                full_wait_us = MIN(full_wait_us * 2, 5000);
                                continue;
                        }
                        wait_ms = 0;
                } else {
                        full_wait_us = 50;
                        /* wake up for the next message, or to look at the room again (a second
                         * request), a deadline, the end of a pause, a stop */
                        wait_ms = live < PULLS_MAX ? 20 : 100;
                        if (in->pause_until > now)
                                wait_ms = MIN(wait_ms, MAX(1, (in->pause_until - now) / 1000));
                }
                s = natsSubscription_NextMsg(&msg, in->sub, wait_ms);
                if (s == NATS_TIMEOUT) {
                        confirm_flush(in); /* nothing came: what was gathered goes now */
                        continue;
                }
                if (s == NATS_NO_RESPONDERS) {
                        episode_no_responders(in, now_usec());
                        continue;
                }
                if (s != NATS_OK) {
                        char err[STATUS_ERROR_MAX];

                        link_error_text(s, 0, err, sizeof(err));
                        stats_error(&w->stats, "inbox: %s", err);
                        if (s == NATS_INVALID_SUBSCRIPTION || s == NATS_CONNECTION_CLOSED)
                                inbound_unsubscribe(in);
                        else if (s == NATS_SLOW_CONSUMER)
                                pulls_forget(in); /* messages were dropped: redelivered later */
                        worker_sleep(w, 50);
                        continue;
                }
                r = inbound_handle(in, msg);
                natsMsg_Destroy(msg);
                if (in->confirm_n) {
                        int held = 0;

                        /* confirm once nothing more waits: one publish for a run of messages */
                        if (natsSubscription_GetPending(in->sub, &held, NULL) != NATS_OK || held == 0)
                                confirm_flush(in);
                }
                if (r < 0) {
                        log_errno(LOG_WARNING, r, "mailbox %s: detached, attaching again", m->name);
                        inbound_detach(in);
                        worker_sleep(w, 1000);
                }
        }
        /* the consumer stays (it is durable): only our subscription to it goes */
        confirm_flush(in);
        inbound_unsubscribe(in);
        if (in->box)
                inbound_detach(in);
        jsCtx_Destroy(in->js);
        in->js = NULL;
        return NULL;
}

static void inbound_free(void *impl) {
        Inbound *in = impl;

        if (!in)
                return;
        natsSubscription_Destroy(in->sub);
        natsInbox_Destroy(in->inbox);
        if (in->box)
                inbound_detach(in);
        jsCtx_Destroy(in->js);
        ack_replay_free(&in->replay);
        free(in);
}

/*
 * inbound_new() - set up @w as an inbound worker (its state, its JetStream context)
 *
 * Return: 0; -ENOMEM.
 */
int inbound_new(Worker *w) {
        Inbound *in = calloc(1, sizeof(*in));

        if (!in)
                return -ENOMEM;
        in->w = w;
        w->impl = in;
        w->run = inbound_run;
        w->free_impl = inbound_free;
        if (link_jetstream(w->link, NULL, NULL, 0, &in->js) < 0)
                return -ENOMEM;
        health_init(&in->health, in->js, w->link, w->mailbox, &w->stats);
        return 0;
}
