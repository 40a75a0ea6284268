/* SPDX-License-Identifier: MIT */
/* outbound.c — a mailbox carried to a JetStream subject.
 *
 * The bridge is the mailbox's only receiver. It takes each message in place (shmbox_peek),
 * publishes it asynchronously to the subject with a Nats-Msg-Id header, and releases the slot
 * (shmbox_release, the mailbox's CONSUME point) only when the stream acked it. Until then the
 * slot stays taken, so a message is never in neither place:
 *
 *   sender --send--> [slot READY] --peek--> [slot TAKEN] --publish--> stream --ack--> release
 *
 * - The bridge dies (kill -9): the daemon puts its taken slots back (TAKEN -> READY, at the
 *   same ring position); the next bridge peeks them again and publishes them with the same id.
 * - NATS does not ack in publish-timeout-ms, or refuses (stream full: max-msgs with
 *   discard=new; no responders while a server restarts or JetStream elects a stream leader):
 *   the same message is published again, same id, after a back-off of 50 ms doubling to
 *   400 ms — one message at a time while the failures last (see outbound_complete()), the
 *   rest once the stream stores again. The stream's duplicate window drops a copy it stored already, so a retry is cheap
 *   and safe, and the bridge retries on short timeouts rather than waiting to learn why. It
 *   looks for the stream again (creating it if the config file says how: it may have been
 *   deleted) only once publishes have found no responders for STREAM_RECHECK_AFTER_MS, with a
 *   JetStream request of LINK_API_WAIT_MS at most; an episode of failures is logged when it
 *   begins and when it ends, not per retry. Meanwhile its slot stays taken; once
 *   max-in-flight slots are, the bridge stops peeking, the mailbox fills and the senders get
 *   -EAGAIN (or wait): back-pressure reaches them without any message dropped.
 * - A retransmission of a message the stream had stored (its ack was lost) carries the id it
 *   had, so JetStream's duplicate window drops it and says so in the ack (counted as
 *   "duplicates").
 *
 * The id is host.mailbox.generation.position. The generation is unique per creation of the
 * mailbox's name (and survives daemon restarts); the position is the message's ring position,
 * a 64-bit counter that never repeats within a generation and that a repair keeps (the slot
 * goes back to READY where it was). Both come from shmbox_stat(): the peeked pointer gives the
 * slot index i, and the position is the one p in [head, head + slots) with p % slots == i —
 * unique, because every position between head and tail is within one lap, and the slot we
 * hold keeps head from passing p. So after any restart of the bridge or of the daemon, a
 * message gets the id it had before, and JetStream can tell a retransmission from a new message
 * as long as it comes within the stream's duplicate window (default 2 minutes).
 *
 * End-to-end delivery (`delivery = end-to-end`, the default; doc/bridge.md says what it masks):
 * the stream's ack is not the point where the bridge lets go. The slot stays taken until bridge
 * B, having committed the message into B's mailbox, confirms it: B publishes the message's id on
 * the confirmation subject "_SHMBOX.CONFIRM.<subject>" (core NATS, batched: ids one per line),
 * to which this bridge subscribes. The stream still carries the message (durability, B away),
 * and the window of unconfirmed messages is A's mailbox. A confirmation is not stored anywhere,
 * so one can be lost (this bridge was disconnected, it restarted); and the broker can lose a
 * message it acknowledged (a cluster that resets a stream's state). Both leave a message stored
 * and unconfirmed, told apart by looking for it in the stream (CONFIRM_CHECK): a message stored
 * and unconfirmed for confirm-timeout-ms is looked up by the sequence its ack gave
 * (js_GetMsg). Still there with its id: B is away or behind, wait and look again later. Not
 * there (twice, CONFIRM_GRACE apart, so that a confirmation on its way can land): in a work
 * queue that means B acked it (its confirmation was lost) or the broker lost it; either way it
 * is published again under a new id (position, then "-r<n>"), since the stream may remember the
 * old id while no longer having the message. The cost of that doubt is a duplicate at B when
 * only the confirmation was lost. The look needs an acked message to be gone, hence a
 * work-queue stream: with another retention the bridge falls back to stream-ack and says so.
 * Only the oldest due message is looked up at a time (one JetStream request, LOOK_WAIT_MS at
 * most, every LOOK_EVERY_MS while messages are there): when B is away, that costs little.
 *
 * Threads: the worker owns the box and the flights' data; libnats calls on_ack() and
 * on_confirm() from its own threads, which only change a flight's state under the lock and
 * queue it; the worker then releases or republishes. Flights are indexed by position % slots,
 * one per slot.
 */
#include "config.h"

#include "bridge/outbound.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/util.h"
#include "bridge/worker.h"
#include "log/log.h"

typedef enum FlightState {
        FLIGHT_FREE,      /* no message in this slot is ours */
        FLIGHT_PUBLISHED, /* peeked and published, waiting for the stream's ack */
        FLIGHT_ACKED,     /* stored (stream-ack): to be released */
        FLIGHT_FAILED,    /* refused or timed out: to be published again at retry_at */
        FLIGHT_STORED,    /* end-to-end: stored, waiting for bridge B's confirmation */
        FLIGHT_CONFIRMED, /* end-to-end: B committed it: to be released */
} FlightState;

typedef struct Flight {
        uint64_t pos;     /* ring position of the peeked message */
        const void *data; /* the payload in the slot (shared memory) */
        size_t len;
        FlightState state; /* under Outbound.lock: on_ack() and on_confirm() change it */
        bool duplicate;    /* the ack said the stream had the id already */
        bool queued;       /* in done[] (under the lock) */
        bool in_retry;     /* in retry[] (the worker's) */
        unsigned attempts;
        int64_t retry_at;      /* monotonic µs */
        unsigned epoch;        /* end-to-end: published under a new id this many times */
        uint64_t seq;          /* end-to-end, STORED: the stream sequence its ack gave */
        int64_t check_at;      /* end-to-end, STORED: look for it in the stream then (monotonic µs) */
        int64_t missing_since; /* end-to-end: the stream did not have it then; 0: it had */
} Flight;

typedef struct Outbound {
        Worker *w;
        shmbox_client *client;
        shmbox *box;
        jsCtx *js;
        bool stream_ready;
        bool end_to_end;            /* delivery = end-to-end, on a work-queue stream */
        natsSubscription *confirms; /* end-to-end: to the confirmation subject */
        int64_t next_look;          /* end-to-end: no look in the stream before (monotonic µs) */
        int64_t resending_since;    /* end-to-end: messages were resent since (monotonic µs); 0: none */
        unsigned resent;            /* in that episode */
        bool ever_confirmed;        /* a confirmation came since the attach */
        atomic_bool stream_recheck; /* a publish found no one to answer: is the stream gone? */
        uint32_t slots, max_in_flight;
        unsigned held;   /* flights not FREE; the worker's */
        Flight *flights; /* [slots] */
        uint64_t *retry; /* positions of FAILED flights waiting; the worker's */
        unsigned n_retry;
        uint64_t reconnects;   /* the link's reconnects seen */
        int64_t failing_since; /* monotonic µs: publishes have failed since, with no ack; 0: none */
        unsigned failures;     /* in that episode */
        bool probe_out;        /* in that episode: the one retry allowed out is out */
        uint64_t probe_pos;    /* ... the position it carries */

        pthread_mutex_t lock; /* guards the flights' state, queued, done[], id_prefix, end_to_end */
        pthread_cond_t cond;  /* signalled when done[] grows */
        uint64_t *done;       /* positions acked or failed, for the worker: a ring of [slots] */
        unsigned done_head, done_n;
        char id_prefix[SETTINGS_NAME_MAX + SHMBOX_NAME_MAX + 32]; /* "host.mailbox.generation." */
} Outbound;

#define STREAM_RECHECK_AFTER_MS 2000 /* publishes with no responders for this long: is the stream gone? */
#define CONFIRM_GRACE_MS 500         /* end-to-end: not in the stream twice this far apart: resend */
#define LOOK_WAIT_MS 250             /* end-to-end: a look in the stream waits this long at most */
#define LOOK_EVERY_MS 250            /* end-to-end: while the messages looked for are there (B away), one look per */
#define ID_MAX (sizeof(((Outbound *)0)->id_prefix) + 32)

/* 50, 100, 200, 400, 400... ms */
static int64_t backoff_usec(unsigned attempts) {
        return MIN((int64_t)25000 << MIN(attempts, 5u), (int64_t)400000);
}

/* Under the lock: hand @f to the worker (once, however often its state changed meanwhile). */
static void flight_queue(Outbound *o, Flight *f) {
        if (f->queued)
                return;
        f->queued = true;
        o->done[(o->done_head + o->done_n++) % o->slots] = f->pos;
        pthread_cond_signal(&o->cond);
}

/*
 * Under the lock: whether @id (@len bytes, not NUL-terminated; from the network) is one of our
 * ids, "<id_prefix><position>" or "<id_prefix><position>-r<epoch>", and which.
 */
static bool id_parse(const Outbound *o, const char *id, size_t len, uint64_t *pos, unsigned *epoch) {
        size_t n = strlen(o->id_prefix), i;
        uint64_t p = 0, e = 0;

        if (n == 0 || len <= n || len > ID_MAX || memcmp(id, o->id_prefix, n) != 0)
                return false;
        for (i = n; i < len && id[i] >= '0' && id[i] <= '9'; i++) {
                if (p > (UINT64_MAX - 9) / 10)
                        return false;
                p = p * 10 + (uint64_t)(id[i] - '0');
        }
        if (i == n)
                return false;
        if (i < len) {
                size_t start;

                if (len - i < 3 || id[i] != '-' || id[i + 1] != 'r')
                        return false;
                for (start = i += 2; i < len && id[i] >= '0' && id[i] <= '9' && e <= UINT_MAX / 10; i++)
                        e = e * 10 + (uint64_t)(id[i] - '0');
                if (i == start || i < len || e > UINT_MAX)
                        return false;
        }
        *pos = p;
        *epoch = (unsigned)e;
        return true;
}

/* The id of @f as published now. */
static void flight_id(const Outbound *o, const Flight *f, char *buf, size_t size) {
        if (f->epoch)
                snprintf(buf, size, "%s%" PRIu64 "-r%u", o->id_prefix, f->pos, f->epoch);
        else
                snprintf(buf, size, "%s%" PRIu64, o->id_prefix, f->pos);
}

/* libnats' thread: the stream acked (@pa) or refused / timed out (@pae) the message @msg.
 * Everything happens under the lock: once outbound_free() has taken the flights away (under
 * the lock), a late call touches nothing but the lock, which outlives it (link_defer_free()). */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure) {
        Outbound *o = closure;
        const char *id = NULL;
        unsigned epoch;
        uint64_t pos;

        (void)js;
        if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK || !id)
                goto out;

        pthread_mutex_lock(&o->lock);
        /* an ack for another generation of the mailbox (we re-attached since) is not ours */
        if (o->flights && id_parse(o, id, strlen(id), &pos, &epoch)) {
                Flight *f = &o->flights[pos % o->slots];

                /* a late ack of an attempt we already gave up on finds the flight published
                 * again, or released: either way nothing is lost by taking or ignoring it; an
                 * ack of a copy published under an older id is not taken (its sequence is not
                 * the one to look for) */
                if (f->state == FLIGHT_PUBLISHED && f->pos == pos && f->epoch == epoch) {
                        if (pa && o->end_to_end) {
                                f->state = FLIGHT_STORED;
                                f->seq = pa->Sequence;
                                f->duplicate = pa->Duplicate;
                                f->check_at = now_usec() + o->w->mailbox->confirm_timeout_ms * 1000;
                                f->missing_since = 0;
                                f->attempts = 0;
                        } else if (pa) {
                                f->state = FLIGHT_ACKED;
                                f->duplicate = pa->Duplicate;
                        } else {
                                f->state = FLIGHT_FAILED;
                                f->attempts++;
                                f->retry_at = now_usec() + backoff_usec(f->attempts);
                        }
                        flight_queue(o, f);
                        /* no responders: a server is restarting, a leader is being elected,
                         * or the stream was deleted: the worker looks for it again (which
                         * creates it if the config file says how) if this goes on */
                        if (pae && pae->Err == NATS_NO_RESPONDERS)
                                atomic_store(&o->stream_recheck, true);
                        if (pae)
                                stats_error(&o->w->stats, "publish %s: %s%s (will retry)", id,
                                            pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err),
                                            pae->ErrCode == 10077 ? " — the stream is full" : "");
                }
        }
        pthread_mutex_unlock(&o->lock);
out:
        natsMsg_Destroy(msg);
}

/* libnats' thread: bridge B confirms that B's mailbox committed the messages whose ids @msg
 * lists, one per line. The text comes from the network: every id is parsed within its line and
 * only an id of a message we hold, under its current position, changes anything. */
static void on_confirm(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
        Outbound *o = closure;
        const char *p = natsMsg_GetData(msg);
        int len = natsMsg_GetDataLength(msg);

        (void)nc;
        (void)sub;
        pthread_mutex_lock(&o->lock);
        for (const char *end = p ? p + MAX(len, 0) : p; o->flights && p && p < end;) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t n = (size_t)((nl ? nl : end) - p);
                unsigned epoch;
                uint64_t pos;

                if (id_parse(o, p, n, &pos, &epoch)) {
                        Flight *f = &o->flights[pos % o->slots];

                        /* any copy of the message, whatever its id's epoch, is the message */
                        if (f->pos == pos &&
                            (f->state == FLIGHT_PUBLISHED || f->state == FLIGHT_STORED || f->state == FLIGHT_FAILED)) {
                                f->state = FLIGHT_CONFIRMED;
                                o->ever_confirmed = true;
                                flight_queue(o, f);
                        }
                }
                p = nl ? nl + 1 : end;
        }
        pthread_mutex_unlock(&o->lock);
        natsMsg_Destroy(msg);
}

/* Publish the message of @f (again), with its id. A failure to hand it to libnats is treated
 * like a refusal: retried after the back-off. */
static void flight_publish(Outbound *o, Flight *f) {
        const MailboxSettings *m = o->w->mailbox;
        char id[ID_MAX];
        natsMsg *msg = NULL;
        jsPubOptions po;
        natsStatus s;

        pthread_mutex_lock(&o->lock);
        if (f->state == FLIGHT_CONFIRMED) { /* B has it: nothing to publish */
                pthread_mutex_unlock(&o->lock);
                return;
        }
        flight_id(o, f, id, sizeof(id));
        pthread_mutex_unlock(&o->lock);
        s = natsMsg_Create(&msg, m->subject, NULL, f->data, (int)f->len);
        if (s == NATS_OK) {
                jsPubOptions_Init(&po);
                po.MsgId = id;
                po.MaxWait = m->publish_timeout_ms;
                po.ExpectStream = m->stream; /* an ack from another stream on that subject is an error */
                pthread_mutex_lock(&o->lock);
                if (f->state == FLIGHT_CONFIRMED)
                        s = NATS_ILLEGAL_STATE; /* confirmed meanwhile */
                else
                        f->state = FLIGHT_PUBLISHED; /* before the call: the ack may come before it returns */
                pthread_mutex_unlock(&o->lock);
                if (s != NATS_OK) {
                        natsMsg_Destroy(msg);
                        return;
                }
                s = js_PublishMsgAsync(o->js, &msg, &po);
        }
        natsMsg_Destroy(msg); /* no-op if libnats took it */
        if (s == NATS_OK)
                return;

        char err[STATUS_ERROR_MAX];
        link_error_text(s, 0, err, sizeof(err));
        stats_error(&o->w->stats, "publish %s: %s (will retry)", id, err);
        pthread_mutex_lock(&o->lock);
        if (f->state == FLIGHT_PUBLISHED) { /* not confirmed meanwhile */
                f->state = FLIGHT_FAILED;
                f->attempts++;
                f->retry_at = now_usec() + backoff_usec(f->attempts);
                flight_queue(o, f);
        }
        pthread_mutex_unlock(&o->lock);
}

/* The ring position of the message we peeked at @data (see the essay at the top). */
static int peek_position(Outbound *o, const void *data, uint64_t *ret) {
        struct shmbox_stat st;
        uint64_t base, off, idx;
        int r;

        r = shmbox_stat(o->box, &st);
        if (r < 0)
                return r;
        base = st.map_addr + st.header_size + st.slot_head;
        off = (uint64_t)(uintptr_t)data - base;
        if ((uint64_t)(uintptr_t)data < base || off % st.slot_stride != 0 || off / st.slot_stride >= st.slots)
                return -EBADMSG;
        idx = off / st.slot_stride;
        *ret = st.head + (idx + st.slots - st.head % st.slots) % st.slots;
        return 0;
}

static void outbound_detach(Outbound *o) {
        Worker *w = o->w;

        pthread_mutex_lock(&o->lock);
        o->id_prefix[0] = 0; /* acks and confirmations still on their way are no longer ours */
        if (o->flights)
                for (uint32_t i = 0; i < o->slots; i++)
                        o->flights[i].state = FLIGHT_FREE;
        o->done_n = 0;
        pthread_mutex_unlock(&o->lock);
        o->held = 0;
        o->n_retry = 0;
        o->failing_since = 0;
        o->failures = 0;
        o->probe_out = false;
        o->resending_since = 0;
        o->resent = 0;
        atomic_store(&w->stats.in_flight, 0);
        /* the slots still taken go back to the mailbox: the next attach peeks them again */
        shmbox_detach(o->box);
        o->box = NULL;
        shmbox_disconnect(o->client);
        o->client = NULL;
        atomic_store(&w->stats.attached, false);
        atomic_store(&w->stats.ready, false);
}

static int outbound_attach(Outbound *o) {
        Worker *w = o->w;
        const MailboxSettings *m = w->mailbox;
        struct shmbox_stat st;
        int r;

        r = worker_attach(w, SHMBOX_STAT_RECV, &o->client, &o->box, &st);
        if (r < 0)
                return r;
        if (st.slots != o->slots) {
                Flight *f = calloc(st.slots, sizeof(Flight));
                uint64_t *retry = calloc(st.slots, sizeof(uint64_t));
                uint64_t *done = calloc(st.slots, sizeof(uint64_t));

                if (!f || !retry || !done) {
                        free(f);
                        free(retry);
                        free(done);
                        stats_error(&w->stats, "out of memory");
                        outbound_detach(o);
                        return -ENOMEM;
                }
                pthread_mutex_lock(&o->lock);
                free(o->flights);
                free(o->done);
                o->flights = f;
                o->done = done;
                o->slots = st.slots;
                pthread_mutex_unlock(&o->lock);
                free(o->retry);
                o->retry = retry;
        }
        o->max_in_flight = m->max_in_flight ? MIN(m->max_in_flight, st.slots) : st.slots;
        o->reconnects = atomic_load(&w->link->reconnects);
        pthread_mutex_lock(&o->lock);
        snprintf(o->id_prefix, sizeof(o->id_prefix), "%s.%s.%" PRIu64 ".", w->route.host, m->name, st.generation);
        for (uint32_t i = 0; i < o->slots; i++)
                o->flights[i] = (Flight){ .state = FLIGHT_FREE };
        o->ever_confirmed = false;
        pthread_mutex_unlock(&o->lock);
        atomic_store(&w->stats.attached, true);
        log_info("mailbox %s attached (generation %" PRIu64 ", %u slots of %u bytes): outbound to %s, stream %s, "
                 "delivery %s",
                 m->name, st.generation, st.slots, st.slot_size, m->subject, m->stream,
                 delivery_to_string(m->delivery));
        if (natsConnection_Status(w->link->nc) == NATS_CONN_STATUS_CONNECTED &&
            (int64_t)st.slot_size > natsConnection_GetMaxPayload(w->link->nc))
                log_warning("mailbox %s: its slots (%u bytes) are larger than the server's max_payload (%" PRId64
                            "): longer messages cannot be published and block the mailbox",
                            m->name, st.slot_size, natsConnection_GetMaxPayload(w->link->nc));
        return 0;
}

/* End-to-end: subscribe to the confirmation subject, before anything is published (a
 * confirmation that comes before the subscription is not lost for good: the look in the stream
 * finds the message gone and publishes it again). libnats subscribes again after a reconnect. */
static int outbound_subscribe(Outbound *o) {
        Worker *w = o->w;
        char subject[sizeof(CONFIRM_SUBJECT_PREFIX) + SETTINGS_SUBJECT_MAX];
        natsStatus s;

        snprintf(subject, sizeof(subject), CONFIRM_SUBJECT_PREFIX "%s", w->mailbox->subject);
        s = natsConnection_Subscribe(&o->confirms, w->link->nc, subject, on_confirm, o);
        if (s != NATS_OK) {
                char err[STATUS_ERROR_MAX];

                link_error_text(s, 0, err, sizeof(err));
                stats_error(&w->stats, "subscribe to %s: %s", subject, err);
                o->confirms = NULL;
                return -EAGAIN;
        }
        /* a slow worker must not make libnats drop confirmations: no limit on what waits */
        natsSubscription_SetPendingLimits(o->confirms, -1, -1);
        return 0;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

static void failing_end(Outbound *o, int64_t now) {
        if (o->failing_since) {
                log_info("mailbox %s: the stream acks again after %.1f s (%u failed publish(es) retried)",
                         o->w->mailbox->name, (double)(now - o->failing_since) / 1e6, o->failures);
                o->failing_since = 0;
                o->failures = 0;
                o->probe_out = false;
        }
}

/* Release what was acked (stream-ack) or confirmed (end-to-end), queue what failed, and if
 * @republish, publish again what is due. Negative: the box broke. */
static int outbound_complete(Outbound *o, bool republish) {
        Worker *w = o->w;
        int64_t now = now_usec();
        int r = 0;

        for (;;) {
                Flight *f = NULL;
                FlightState state = FLIGHT_FREE;

                pthread_mutex_lock(&o->lock);
                if (o->done_n > 0) {
                        f = &o->flights[o->done[o->done_head] % o->slots];
                        o->done_head = (o->done_head + 1) % o->slots;
                        o->done_n--;
                        f->queued = false;
                        state = f->state;
                }
                pthread_mutex_unlock(&o->lock);
                if (!f)
                        break;
                if (o->probe_out && f->pos == o->probe_pos)
                        o->probe_out = false; /* the probe has its answer */
                if (state == FLIGHT_FAILED) {
                        if (!f->in_retry) {
                                f->in_retry = true;
                                o->retry[o->n_retry++] = f->pos;
                        }
                        if (!o->failing_since) {
                                char err[STATUS_ERROR_MAX];

                                o->failing_since = now;
                                stats_last_error(&w->stats, err, sizeof(err));
                                log_warning("mailbox %s: a publish failed (%s); retrying with the same ids, one at a "
                                            "time every 50-400 ms until the stream stores again",
                                            w->mailbox->name, err);
                        }
                        o->failures++;
                        continue;
                }
                if (state == FLIGHT_STORED)
                        failing_end(o, now);
                if (state != FLIGHT_ACKED && state != FLIGHT_CONFIRMED)
                        continue;
                failing_end(o, now);
                r = shmbox_release(o->box, f->data);
                if (r == 0) {
                        atomic_fetch_add(&w->stats.acked, 1);
                        if (state == FLIGHT_CONFIRMED)
                                atomic_fetch_add(&w->stats.confirmed, 1);
                        if (f->duplicate)
                                atomic_fetch_add(&w->stats.duplicates, 1);
                } else if (r == -ESTALE) {
                        /* the daemon gave it to a reader again (our session was repaired): it
                         * comes back to us or another reader, and to the stream with its id */
                        atomic_fetch_add(&w->stats.stale, 1);
                        stats_error(&w->stats, "release: %s (it is delivered again)", shmbox_strerror(r));
                } else {
                        stats_error(&w->stats, "release: %s", shmbox_strerror(r));
                        return r;
                }
                pthread_mutex_lock(&o->lock);
                f->state = FLIGHT_FREE;
                pthread_mutex_unlock(&o->lock);
                o->held--;
        }

        /* republish what is due, oldest position first; an entry whose flight was confirmed
         * (or released and reused) meanwhile is dropped. While publishes fail (an episode),
         * one retry at a time probes the stream, and the rest follow once it stores again:
         * JetStream 2.9's duplicate window catches a copy of an id it has applied, not one
         * still in its pipeline, so a slow stream leader (an election, a replica catching up)
         * stored every copy of a mailbox's worth of retries sent every 50-400 ms (up to 8,898
         * duplicates in one fault of tests/bridge-cluster.sh before this). */
        if (o->n_retry > 1)
                qsort(o->retry, o->n_retry, sizeof(uint64_t), cmp_u64);
        for (unsigned i = 0; i < o->n_retry;) {
                Flight *f = &o->flights[o->retry[i] % o->slots];
                FlightState state;

                pthread_mutex_lock(&o->lock);
                state = f->state;
                pthread_mutex_unlock(&o->lock);
                if (f->pos != o->retry[i] || state != FLIGHT_FAILED) {
                        if (f->pos == o->retry[i])
                                f->in_retry = false;
                        o->retry[i] = o->retry[--o->n_retry];
                        continue;
                }
                if (!republish || f->retry_at > now || (o->failing_since && o->probe_out)) {
                        i++;
                        continue;
                }
                o->retry[i] = o->retry[--o->n_retry];
                f->in_retry = false;
                atomic_fetch_add(&w->stats.retried, 1);
                if (o->failing_since) {
                        o->probe_out = true;
                        o->probe_pos = f->pos;
                }
                flight_publish(o, f);
        }
        atomic_store(&w->stats.in_flight, o->held);
        return 0;
}

/*
 * End-to-end: look in the stream for the oldest message stored and unconfirmed for
 * confirm-timeout-ms (see the essay at the top), and publish it again under a new id if the
 * stream no longer has it. One JetStream request at most per call.
 */
static void outbound_look(Outbound *o) {
        Worker *w = o->w;
        const MailboxSettings *m = w->mailbox;
        int64_t now = now_usec();
        char id[ID_MAX];
        const char *got = NULL;
        Flight *f = NULL;
        natsMsg *msg = NULL;
        jsErrCode je = 0;
        jsOptions jo;
        uint64_t pos = 0, seq = 0;
        unsigned epoch = 0;
        bool present;
        natsStatus s;

        if (now < o->next_look)
                return;
        pthread_mutex_lock(&o->lock);
        for (uint32_t i = 0; i < o->slots; i++) {
                Flight *x = &o->flights[i];

                if (x->state == FLIGHT_STORED && x->check_at <= now && (!f || x->pos < f->pos))
                        f = x;
        }
        if (f) {
                pos = f->pos;
                seq = f->seq;
                epoch = f->epoch;
                flight_id(o, f, id, sizeof(id));
        }
        pthread_mutex_unlock(&o->lock);
        if (!f) {
                o->next_look = now + 100000;
                return;
        }

        jsOptions_Init(&jo);
        jo.Wait = LOOK_WAIT_MS;
        s = js_GetMsg(&msg, o->js, m->stream, seq, &jo, &je);
        if (s == NATS_OK)
                present = natsMsgHeader_Get(msg, "Nats-Msg-Id", &got) == NATS_OK && got && strcmp(got, id) == 0;
        else if (s == NATS_NOT_FOUND || je == JSNoMessageFoundErr)
                present = false;
        else { /* no answer (an election): look again later */
                natsMsg_Destroy(msg);
                o->next_look = now_usec() + LOOK_EVERY_MS * 1000LL;
                return;
        }
        natsMsg_Destroy(msg);
        now = now_usec();

        pthread_mutex_lock(&o->lock);
        if (f->state != FLIGHT_STORED || f->pos != pos || f->epoch != epoch) { /* confirmed meanwhile */
                pthread_mutex_unlock(&o->lock);
                return;
        }
        if (present) {
                /* B is away or behind: the stream keeps it for B; look again later */
                f->missing_since = 0;
                f->check_at = now + m->confirm_timeout_ms * 1000;
                o->next_look = now + LOOK_EVERY_MS * 1000LL;
                pthread_mutex_unlock(&o->lock);
                return;
        }
        if (!f->missing_since || now - f->missing_since < CONFIRM_GRACE_MS * 1000LL) {
                /* gone: B took it (its confirmation may be on its way) or the broker lost it */
                if (!f->missing_since)
                        f->missing_since = now;
                f->check_at = f->missing_since + CONFIRM_GRACE_MS * 1000LL;
                pthread_mutex_unlock(&o->lock);
                return;
        }
        f->epoch++;
        f->missing_since = 0;
        f->attempts = 0;
        f->state = FLIGHT_FAILED; /* flight_publish() makes it PUBLISHED */
        pthread_mutex_unlock(&o->lock);

        atomic_fetch_add(&w->stats.resent, 1);
        if (!o->resending_since) {
                o->resending_since = now;
                log_warning("mailbox %s: message %s was stored, never confirmed, and the stream no longer has it: "
                            "publishing it again under a new id%s",
                            m->name, id,
                            o->ever_confirmed ? ""
                                              : " (no confirmation came since the mailbox was attached: is the "
                                                "receiving bridge's delivery end-to-end?)");
        }
        o->resent++;
        stats_error(&w->stats, "message %s stored, unconfirmed, no longer in the stream: resent", id);
        flight_publish(o, f);
}

/* End of a run of resends: a confirmation or a stored message whose look found it there. */
static void resending_end(Outbound *o) {
        if (o->resending_since && now_usec() - o->resending_since > 5000000) {
                log_info("mailbox %s: %u message(s) published again under new ids in %.1f s", o->w->mailbox->name,
                         o->resent, (double)(now_usec() - o->resending_since) / 1e6);
                o->resending_since = 0;
                o->resent = 0;
        }
}

/* Peek one message (waiting up to @timeout_ms) and publish it. Negative: the box broke. */
static int outbound_peek(Outbound *o, int timeout_ms) {
        Worker *w = o->w;
        const void *data;
        uint64_t pos;
        ssize_t n;
        Flight *f;
        int r;

        n = shmbox_peek(o->box, timeout_ms, &data);
        if (n == -EAGAIN || n == -ETIMEDOUT)
                return 0;
        if (n < 0) {
                stats_error(&w->stats, "peek: %s", shmbox_strerror((int)n));
                return (int)n;
        }
        r = peek_position(o, data, &pos);
        if (r < 0) {
                stats_error(&w->stats, "the position of a peeked message: %s", shmbox_strerror(r));
                return r;
        }
        f = &o->flights[pos % o->slots];
        pthread_mutex_lock(&o->lock);
        if (f->state != FLIGHT_FREE || f->queued) { /* two messages in one slot: the ring lies */
                pthread_mutex_unlock(&o->lock);
                stats_error(&w->stats, "peeked position %" PRIu64 " whose slot is still ours", pos);
                return -EBADMSG;
        }
        *f = (Flight){ .pos = pos, .data = data, .len = (size_t)n };
        pthread_mutex_unlock(&o->lock);
        o->held++;
        atomic_store(&w->stats.in_flight, o->held);
        atomic_fetch_add(&w->stats.published, 1);
        flight_publish(o, f);
        return 0;
}

/* After a reconnect: what was published and not acked is published again now, same ids, rather
 * than after publish-timeout-ms. The server that had those publishes may have died with them,
 * or may have received them before JetStream was ready to store them; the copies it did store
 * are dropped by their id. A late ack of the first attempt finds the flight published again and
 * is taken as well as the second's. */
static void outbound_republish_all(Outbound *o) {
        int64_t now = now_usec();
        unsigned n = 0;

        pthread_mutex_lock(&o->lock);
        for (uint32_t i = 0; o->flights && i < o->slots; i++) {
                Flight *f = &o->flights[i];

                if (f->state == FLIGHT_PUBLISHED) {
                        f->state = FLIGHT_FAILED;
                        f->retry_at = now;
                        flight_queue(o, f);
                        n++;
                }
        }
        pthread_mutex_unlock(&o->lock);
        if (n)
                log_debug("mailbox %s: reconnected; publishing %u unacked message(s) again", o->w->mailbox->name, n);
}

/* Whether messages are on their way: published and not acked, or (end-to-end) not confirmed. */
static bool any_unfinished(Outbound *o) {
        bool any = false;

        pthread_mutex_lock(&o->lock);
        for (uint32_t i = 0; o->flights && i < o->slots && !any; i++)
                any = o->flights[i].state == FLIGHT_PUBLISHED || o->flights[i].state == FLIGHT_STORED;
        pthread_mutex_unlock(&o->lock);
        return any;
}

/* Wait up to @ms for an ack, a confirmation or a failure. */
static void outbound_wait(Outbound *o, int ms) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)ms * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&o->lock);
        if (o->done_n == 0)
                pthread_cond_timedwait(&o->cond, &o->lock, &ts);
        pthread_mutex_unlock(&o->lock);
}

/* The stream is there: end-to-end needs it to be a work queue (see the essay at the top). */
static void outbound_stream_found(Outbound *o, bool workqueue) {
        const MailboxSettings *m = o->w->mailbox;
        bool e2e = m->delivery == DELIVERY_END_TO_END && workqueue;

        if (m->delivery == DELIVERY_END_TO_END && !workqueue && o->end_to_end != e2e)
                log_warning("mailbox %s: stream %s is not a work queue, which end-to-end delivery needs (it tells a "
                            "lost confirmation by the message being gone): delivery is stream-ack",
                            m->name, m->stream);
        /* only between messages: a flight stored under one mode is finished under it */
        if (o->held == 0 || e2e) {
                pthread_mutex_lock(&o->lock);
                o->end_to_end = e2e;
                pthread_mutex_unlock(&o->lock);
        }
}

static void *outbound_run(void *arg) {
        Worker *w = arg;
        Outbound *o = w->impl;
        const MailboxSettings *m = w->mailbox;
        char err[STATUS_ERROR_MAX];
        unsigned ensure_attempts = 0;
        int r;

        while (!worker_stopping(w)) {
                if (m->delivery == DELIVERY_END_TO_END && !o->confirms) {
                        if (outbound_subscribe(o) < 0)
                                worker_sleep(w, 200);
                        continue;
                }
                if (!o->box) {
                        if (outbound_attach(o) < 0)
                                worker_sleep(w, 1000);
                        continue;
                }
                if (atomic_exchange(&o->stream_recheck, false) && o->failing_since &&
                    now_usec() - o->failing_since > STREAM_RECHECK_AFTER_MS * 1000LL) {
                        o->stream_ready = false;
                        atomic_store(&w->stats.ready, false);
                }
                if (!o->stream_ready) {
                        bool workqueue = false;

                        r = link_stream_ensure(o->js, m->stream, w->stream, err, sizeof(err), &workqueue);
                        if (r < 0) {
                                stats_error(&w->stats, "stream %s: %s", m->stream, err);
                                /* not whole seconds: JetStream may be electing a leader */
                                worker_sleep(w, (int)(backoff_usec(ensure_attempts++) / 1000));
                                continue;
                        }
                        ensure_attempts = 0;
                        outbound_stream_found(o, workqueue);
                        o->stream_ready = true;
                        atomic_store(&w->stats.ready, true);
                }
                if (atomic_load(&w->link->reconnects) != o->reconnects) {
                        o->reconnects = atomic_load(&w->link->reconnects);
                        outbound_republish_all(o);
                }
                r = outbound_complete(o, true);
                if (r >= 0 && o->end_to_end) {
                        outbound_look(o);
                        resending_end(o);
                }
                if (r >= 0) {
                        if (o->held < o->max_in_flight)
                                /* idle: wait for a message; else look between acks */
                                r = outbound_peek(o, o->held ? 1 : 100);
                        else
                                outbound_wait(o, 100);
                }
                if (r < 0) {
                        log_errno(LOG_WARNING, r, "mailbox %s: detached, attaching again", m->name);
                        outbound_detach(o);
                        worker_sleep(w, 1000);
                }
        }

        /* stopping: let the acks (end-to-end: the confirmations) on their way arrive (2 s at
         * most), release what they say is done; the rest goes back to the mailbox with the
         * detach, for the next bridge */
        for (int64_t until = now_usec() + 2000000; o->box && any_unfinished(o) && now_usec() < until;) {
                outbound_wait(o, 50);
                if (outbound_complete(o, false) < 0)
                        break;
        }
        if (o->box) {
                outbound_complete(o, false);
                outbound_detach(o);
        }
        /* no more confirmations and acks after this (one being handled may finish: o outlives
         * the connection) */
        if (o->confirms) {
                natsSubscription_Unsubscribe(o->confirms);
                natsSubscription_Destroy(o->confirms);
                o->confirms = NULL;
        }
        jsCtx_Destroy(o->js);
        o->js = NULL;
        return NULL;
}

/* What is left of an Outbound once its worker is gone: its lock, which on_ack() may still take. */
static void outbound_shell_free(void *impl) {
        Outbound *o = impl;

        pthread_cond_destroy(&o->cond);
        pthread_mutex_destroy(&o->lock);
        free(o);
}

static void outbound_free(void *impl) {
        Outbound *o = impl;

        if (!o)
                return;
        if (o->box)
                outbound_detach(o);
        if (o->confirms) {
                natsSubscription_Unsubscribe(o->confirms);
                natsSubscription_Destroy(o->confirms);
                o->confirms = NULL;
        }
        jsCtx_Destroy(o->js);
        o->js = NULL;
        /* libnats may be entering on_ack() or on_confirm() right now; without flights it changes nothing */
        pthread_mutex_lock(&o->lock);
        free(o->flights);
        o->flights = NULL;
        free(o->done);
        o->done = NULL;
        pthread_mutex_unlock(&o->lock);
        free(o->retry);
        o->retry = NULL;
        link_defer_free(o->w->link, o, outbound_shell_free);
}

/*
 * outbound_new() - set up @w as an outbound worker (its state, its JetStream context)
 *
 * Return: 0; -ENOMEM.
 */
int outbound_new(Worker *w) {
        Outbound *o = calloc(1, sizeof(*o));

        if (!o)
                return -ENOMEM;
        o->w = w;
        pthread_mutex_init(&o->lock, NULL);
        pthread_cond_init(&o->cond, NULL);
        w->impl = o;
        w->run = outbound_run;
        w->free_impl = outbound_free;
        return link_jetstream(w->link, on_ack, o, SHMBOX_SLOTS_MAX, &o->js);
}
