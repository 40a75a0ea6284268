/* SPDX-License-Identifier: MIT */
/* inbound.c — a durable JetStream consumer carried into a mailbox.
 *
 * The bridge pulls from a durable consumer (created if missing: explicit acks, max-ack-pending
 * = the mailbox's slots, never giving up on a message) and sends each message into the local
 * mailbox; it acks a message to NATS only once shmbox_send() returned 0, the mailbox's COMMIT
 * point. So a message is acked only when it will be delivered locally, and a bridge that dies
 * before the ack gets it redelivered after the consumer's AckWait: at-least-once.
 *
 * Back-pressure: before each fetch the bridge reads the mailbox's free slots (shmbox_stat:
 * slots - (tail - head)) and asks for no more than that. Its only blocking call is that fetch,
 * bounded by 500 ms, and it never holds more messages than fit: with the mailbox full it does
 * not pull at all, and the messages wait in the stream. If local senders fill the mailbox
 * between the fetch and the send, the bridge waits in shmbox_send() and tells NATS the message
 * is in progress every third of the AckWait, so it is not redelivered meanwhile.
 *
 * Stale pull requests: libnats (3.4) overruns its own array in natsSubscription_Fetch() when
 * the subscription already holds fewer messages than the batch asked for and more keep coming
 * (it waits for "batch - held" messages, counts "held" again, and stores past "batch"): heap
 * corruption, a crash or a hang. Messages nobody asked for come from pull requests of earlier
 * fetches — above all those libnats buffered while disconnected and sent all at once on the
 * reconnect. So the bridge never fetches while disconnected, binds a new subscription (a new
 * inbox) after each reconnect, and when the subscription still holds messages it fetches only
 * those, which libnats takes without sending a request. The messages left behind on the old
 * inbox are redelivered after the consumer's AckWait.
 *
 * What the bridge cannot do is drop duplicates: a message committed whose ack was lost (the
 * bridge died between send and ack, the connection dropped) is delivered again, and the
 * mailbox then holds it twice. The Nats-Msg-Id header does not travel into the mailbox (a
 * mailbox message is its payload only); receivers that must drop duplicates put their own id
 * in the payload. Counted as "redelivered" in the status.
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

#include "bridge/util.h"
#include "bridge/worker.h"
#include "log/log.h"

#define FETCH_TIMEOUT_MS 500

typedef struct Inbound {
        Worker *w;
        shmbox_client *client;
        shmbox *box;
        uint32_t slots;
        jsCtx *js;
        natsSubscription *sub;
        uint64_t sub_reconnects; /* the link's reconnects when sub was bound */
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
        atomic_store(&w->stats.ready, in->sub != NULL);
        log_info("mailbox %s attached (%u slots of %u bytes): inbound from %s, stream %s, consumer %s", m->name,
                 st.slots, st.slot_size, m->subject, m->stream, m->durable);
        return 0;
}

/* Create the stream and consumer if missing, and bind a pull subscription to the consumer. */
static int inbound_subscribe(Inbound *in) {
        Worker *w = in->w;
        const MailboxSettings *m = w->mailbox;
        char err[STATUS_ERROR_MAX];
        jsSubOptions so;
        jsErrCode je = 0;
        natsStatus s;
        int r;

        r = link_stream_ensure(in->js, m->stream, w->stream, err, sizeof(err));
        if (r < 0) {
                stats_error(&w->stats, "stream %s: %s", m->stream, err);
                return r;
        }
        r = link_consumer_ensure(in->js, m, in->slots, err, sizeof(err));
        if (r < 0) {
                stats_error(&w->stats, "consumer %s: %s", m->durable, err);
                return r;
        }
        /* bound to the consumer we made: destroying the subscription never deletes it */
        jsSubOptions_Init(&so);
        so.Stream = m->stream;
        so.Consumer = m->durable;
        in->sub_reconnects = atomic_load(&w->link->reconnects);
        s = js_PullSubscribe(&in->sub, in->js, m->subject, m->durable, NULL, &so, &je);
        if (s != NATS_OK) {
                link_error_text(s, je, err, sizeof(err));
                stats_error(&w->stats, "subscribe to consumer %s: %s", m->durable, err);
                in->sub = NULL;
                return -EAGAIN;
        }
        atomic_store(&w->stats.ready, true);
        return 0;
}

static void inbound_unsubscribe(Inbound *in) {
        /* the durable consumer stays: only our inbox goes, and what was on its way to it is
         * redelivered after the consumer's AckWait */
        natsSubscription_Destroy(in->sub);
        in->sub = NULL;
        atomic_store(&in->w->stats.ready, false);
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
                                natsMsg_Nak(msg, NULL);
                                return 0;
                        }
                        if (now_usec() - last > progress_every) {
                                natsMsg_InProgress(msg, NULL);
                                last = now_usec();
                        }
                        continue;
                }
                if (r == -EMSGSIZE) {
                        natsMsg_Term(msg, NULL);
                        atomic_fetch_add(&w->stats.rejected, 1);
                        stats_error(&w->stats, "a message of %zu bytes is longer than the mailbox's slots: terminated",
                                    len);
                        log_error("mailbox %s: a message of %zu bytes on %s is longer than the mailbox's slots; "
                                  "terminated (it is not delivered)",
                                  w->mailbox->name, len, natsMsg_GetSubject(msg));
                        return 0;
                }
                natsMsg_Nak(msg, NULL);
                stats_error(&w->stats, "send: %s", shmbox_strerror(r));
                return r;
        }
        atomic_fetch_add(&w->stats.committed, 1);
        s = natsMsg_Ack(msg, NULL);
        if (s == NATS_OK) {
                atomic_fetch_add(&w->stats.acked, 1);
        } else {
                char err[STATUS_ERROR_MAX];

                /* committed but not acked: NATS delivers it again, a duplicate */
                link_error_text(s, 0, err, sizeof(err));
                stats_error(&w->stats, "ack: %s (the message will be delivered again)", err);
        }
        return 0;
}

static void *inbound_run(void *arg) {
        Worker *w = arg;
        Inbound *in = w->impl;
        const MailboxSettings *m = w->mailbox;
        long full_wait_us = 50;
        int r;

        while (!worker_stopping(w)) {
                natsMsgList list = {};
                uint32_t room, batch;
                int held = 0;
                jsErrCode je = 0;
                natsStatus s;
                int64_t t0;

                if (!in->box) {
                        if (inbound_attach(in) < 0)
                                worker_sleep(w, 1000);
                        continue;
                }
                if (!link_connected(w->link)) {
                        /* a fetch now would only leave a pull request in libnats' reconnect
                         * buffer, answered after the reconnect into a fetch that did not ask
                         * for it (see the top of the file) */
                        worker_sleep(w, 100);
                        continue;
                }
                if (in->sub && atomic_load(&w->link->reconnects) != in->sub_reconnects) {
                        log_debug("mailbox %s: reconnected; binding the consumer %s again", m->name, m->durable);
                        inbound_unsubscribe(in);
                }
                if (!in->sub) {
                        if (inbound_subscribe(in) < 0)
                                worker_sleep(w, 1000);
                        continue;
                }
                r = free_slots(in, &room);
                if (r < 0) {
                        stats_error(&w->stats, "stat: %s", shmbox_strerror(r));
                        inbound_detach(in);
                        continue;
                }
                if (room == 0) {
                        /* full: pull nothing, the messages wait in the stream. The library
                         * has no wait for room without a message in hand, so look again after
                         * 50 µs, doubling to 5 ms while it stays full: a receiver that keeps
                         * up is followed closely, an absent one costs 200 wake-ups a second. */
                        struct timespec ts = { 0, full_wait_us * 1000L };

                        nanosleep(&ts, NULL);
                        full_wait_us = MIN(full_wait_us * 2, 5000);
                        continue;
                }
                full_wait_us = 50;
                batch = MIN(room, m->fetch_batch ? m->fetch_batch : in->slots);
                if (natsSubscription_GetPending(in->sub, &held, NULL) == NATS_OK && held > 0) {
                        /* late answers to an earlier pull request: take just those, so that
                         * libnats sends no request and cannot overrun the batch */
                        batch = MIN(batch, (uint32_t)held);
                }
                t0 = now_usec();
                s = natsSubscription_Fetch(&list, in->sub, (int)batch, FETCH_TIMEOUT_MS, &je);
                if (s == NATS_TIMEOUT)
                        continue;
                if (s != NATS_OK) {
                        char err[STATUS_ERROR_MAX];

                        link_error_text(s, je, err, sizeof(err));
                        stats_error(&w->stats, "fetch: %s", err);
                        if (s == NATS_INVALID_SUBSCRIPTION || s == NATS_CONNECTION_CLOSED ||
                            je == JSConsumerNotFoundErr)
                                inbound_unsubscribe(in);
                        /* failing fast (disconnected): do not spin */
                        if (now_usec() - t0 < 200000)
                                worker_sleep(w, 200);
                        continue;
                }
                atomic_fetch_add(&w->stats.fetched, (uint64_t)list.Count);
                atomic_store(&w->stats.in_flight, (uint64_t)list.Count);
                r = 0;
                for (int i = 0; i < list.Count; i++) {
                        if (r < 0 || worker_stopping(w)) {
                                natsMsg_Nak(list.Msgs[i], NULL); /* for the next bridge, at once */
                        } else {
                                r = deliver(in, list.Msgs[i]);
                        }
                        atomic_fetch_sub(&w->stats.in_flight, 1);
                }
                natsMsgList_Destroy(&list);
                if (r < 0) {
                        log_errno(LOG_WARNING, r, "mailbox %s: detached, attaching again", m->name);
                        inbound_detach(in);
                        worker_sleep(w, 1000);
                }
        }
        /* the consumer stays (it is durable): only our subscription to it goes */
        natsSubscription_Destroy(in->sub);
        in->sub = NULL;
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
        if (in->box)
                inbound_detach(in);
        jsCtx_Destroy(in->js);
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
        return link_jetstream(w->link, NULL, NULL, 0, &in->js);
}
