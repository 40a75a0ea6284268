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
 *   400 ms. The stream's duplicate window drops a copy it stored already, so a retry is cheap
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
 * Threads: the worker owns the box and the flights' data; libnats calls on_ack() from its own
 * thread, which only changes a flight's state under the lock and queues its position; the
 * worker then releases or republishes. Flights are indexed by position % slots, one per slot.
 */
#include "config.h"

#include "bridge/outbound.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/util.h"
#include "bridge/worker.h"
#include "log/log.h"

typedef enum FlightState {
        FLIGHT_FREE,      /* no message in this slot is ours */
        FLIGHT_PUBLISHED, /* peeked and published, waiting for the stream's ack */
        FLIGHT_ACKED,     /* stored: to be released */
        FLIGHT_FAILED,    /* refused or timed out: to be published again at retry_at */
} FlightState;

typedef struct Flight {
        uint64_t pos;     /* ring position of the peeked message */
        const void *data; /* the payload in the slot (shared memory) */
        size_t len;
        FlightState state; /* under Outbound.lock: on_ack() changes it */
        bool duplicate;    /* the ack said the stream had the id already */
        unsigned attempts;
        int64_t retry_at; /* monotonic µs */
} Flight;

typedef struct Outbound {
        Worker *w;
        shmbox_client *client;
        shmbox *box;
        jsCtx *js;
        bool stream_ready;
        atomic_bool stream_recheck; /* a publish found no one to answer: is the stream gone? */
        uint32_t slots, max_in_flight;
        unsigned held;   /* flights not FREE; the worker's */
        Flight *flights; /* [slots] */
        uint64_t *retry; /* positions of FAILED flights waiting; the worker's */
        unsigned n_retry;
        uint64_t reconnects;   /* the link's reconnects seen */
        int64_t failing_since; /* monotonic µs: publishes have failed since, with no ack; 0: none */
        unsigned failures;     /* in that episode */

        pthread_mutex_t lock; /* guards the flights' state, done[], id_prefix */
        pthread_cond_t cond;  /* signalled when done[] grows */
        uint64_t *done;       /* positions acked or failed, for the worker: a ring of [slots] */
        unsigned done_head, done_n;
        char id_prefix[SETTINGS_NAME_MAX + SHMBOX_NAME_MAX + 32]; /* "host.mailbox.generation." */
} Outbound;

#define STREAM_RECHECK_AFTER_MS 2000 /* publishes with no responders for this long: is the stream gone? */

/* 50, 100, 200, 400, 400... ms */
static int64_t backoff_usec(unsigned attempts) {
        return MIN((int64_t)25000 << MIN(attempts, 5u), (int64_t)400000);
}

/* libnats' thread: the stream acked (@pa) or refused / timed out (@pae) the message @msg.
 * Everything happens under the lock: once outbound_free() has taken the flights away (under
 * the lock), a late call touches nothing but the lock, which outlives it (link_defer_free()). */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure) {
        Outbound *o = closure;
        const char *id = NULL, *dot;
        uint64_t pos;

        if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK || !id || !(dot = strrchr(id, '.')))
                goto out;
        pos = strtoull(dot + 1, NULL, 10);

        pthread_mutex_lock(&o->lock);
        /* an ack for another generation of the mailbox (we re-attached since) is not ours */
        if (o->flights && o->id_prefix[0] && strlen(o->id_prefix) == (size_t)(dot + 1 - id) &&
            strncmp(o->id_prefix, id, (size_t)(dot + 1 - id)) == 0) {
                Flight *f = &o->flights[pos % o->slots];

                /* a late ack of an attempt we already gave up on finds the flight published
                 * again, or released: either way nothing is lost by taking or ignoring it */
                if (f->state == FLIGHT_PUBLISHED && f->pos == pos) {
                        if (pa) {
                                f->state = FLIGHT_ACKED;
                                f->duplicate = pa->Duplicate;
                        } else {
                                f->state = FLIGHT_FAILED;
                                f->attempts++;
                                f->retry_at = now_usec() + backoff_usec(f->attempts);
                        }
                        o->done[(o->done_head + o->done_n++) % o->slots] = pos;
                        pthread_cond_signal(&o->cond);
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

/* Publish the message of @f (again), with its id. A failure to hand it to libnats is treated
 * like a refusal: retried after the back-off. */
static void flight_publish(Outbound *o, Flight *f) {
        const MailboxSettings *m = o->w->mailbox;
        char id[sizeof(o->id_prefix) + 24];
        natsMsg *msg = NULL;
        jsPubOptions po;
        natsStatus s;

        snprintf(id, sizeof(id), "%s%" PRIu64, o->id_prefix, f->pos);
        s = natsMsg_Create(&msg, m->subject, NULL, f->data, (int)f->len);
        if (s == NATS_OK) {
                jsPubOptions_Init(&po);
                po.MsgId = id;
                po.MaxWait = m->publish_timeout_ms;
                po.ExpectStream = m->stream; /* an ack from another stream on that subject is an error */
                pthread_mutex_lock(&o->lock);
                f->state = FLIGHT_PUBLISHED; /* before the call: the ack may come before it returns */
                pthread_mutex_unlock(&o->lock);
                s = js_PublishMsgAsync(o->js, &msg, &po);
        }
        natsMsg_Destroy(msg); /* no-op if libnats took it */
        if (s == NATS_OK)
                return;

        char err[STATUS_ERROR_MAX];
        link_error_text(s, 0, err, sizeof(err));
        stats_error(&o->w->stats, "publish %s: %s (will retry)", id, err);
        pthread_mutex_lock(&o->lock);
        f->state = FLIGHT_FAILED;
        f->attempts++;
        f->retry_at = now_usec() + backoff_usec(f->attempts);
        o->done[(o->done_head + o->done_n++) % o->slots] = f->pos;
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
        o->id_prefix[0] = 0; /* acks still on their way are no longer ours */
        if (o->flights)
                for (uint32_t i = 0; i < o->slots; i++)
                        o->flights[i].state = FLIGHT_FREE;
        o->done_n = 0;
        pthread_mutex_unlock(&o->lock);
        o->held = 0;
        o->n_retry = 0;
        o->failing_since = 0;
        o->failures = 0;
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
        pthread_mutex_unlock(&o->lock);
        atomic_store(&w->stats.attached, true);
        log_info("mailbox %s attached (generation %" PRIu64 ", %u slots of %u bytes): outbound to %s, stream %s",
                 m->name, st.generation, st.slots, st.slot_size, m->subject, m->stream);
        if (natsConnection_Status(w->link->nc) == NATS_CONN_STATUS_CONNECTED &&
            (int64_t)st.slot_size > natsConnection_GetMaxPayload(w->link->nc))
                log_warning("mailbox %s: its slots (%u bytes) are larger than the server's max_payload (%" PRId64
                            "): longer messages cannot be published and block the mailbox",
                            m->name, st.slot_size, natsConnection_GetMaxPayload(w->link->nc));
        return 0;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

/* Release what was acked, queue what failed, and if @republish, publish again what is due.
 * Negative: the box broke. */
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
                        state = f->state;
                }
                pthread_mutex_unlock(&o->lock);
                if (!f)
                        break;
                if (state == FLIGHT_FAILED) {
                        o->retry[o->n_retry++] = f->pos;
                        if (!o->failing_since) {
                                char err[STATUS_ERROR_MAX];

                                o->failing_since = now;
                                stats_last_error(&w->stats, err, sizeof(err));
                                log_warning("mailbox %s: a publish failed (%s); retrying with the same ids every "
                                            "50-400 ms",
                                            w->mailbox->name, err);
                        }
                        o->failures++;
                        continue;
                }
                if (state != FLIGHT_ACKED)
                        continue;
                if (o->failing_since) {
                        log_info("mailbox %s: the stream acks again after %.1f s (%u failed publish(es) retried)",
                                 w->mailbox->name, (double)(now - o->failing_since) / 1e6, o->failures);
                        o->failing_since = 0;
                        o->failures = 0;
                }
                r = shmbox_release(o->box, f->data);
                if (r == 0) {
                        atomic_fetch_add(&w->stats.acked, 1);
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

        /* republish what is due, oldest position first */
        if (!republish)
                o->n_retry = 0;
        if (o->n_retry > 1)
                qsort(o->retry, o->n_retry, sizeof(uint64_t), cmp_u64);
        for (unsigned i = 0; i < o->n_retry;) {
                Flight *f = &o->flights[o->retry[i] % o->slots];

                if (f->retry_at > now) {
                        i++;
                        continue;
                }
                o->retry[i] = o->retry[--o->n_retry];
                atomic_fetch_add(&w->stats.retried, 1);
                flight_publish(o, f);
        }
        atomic_store(&w->stats.in_flight, o->held);
        return 0;
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
        if (f->state != FLIGHT_FREE) { /* two messages in one slot: the ring lies */
                stats_error(&w->stats, "peeked position %" PRIu64 " whose slot is still ours", pos);
                return -EBADMSG;
        }
        *f = (Flight){ .pos = pos, .data = data, .len = (size_t)n };
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
                        o->done[(o->done_head + o->done_n++) % o->slots] = f->pos;
                        n++;
                }
        }
        pthread_mutex_unlock(&o->lock);
        if (n)
                log_debug("mailbox %s: reconnected; publishing %u unacked message(s) again", o->w->mailbox->name, n);
}

static bool any_published(Outbound *o) {
        bool any = false;

        pthread_mutex_lock(&o->lock);
        for (uint32_t i = 0; o->flights && i < o->slots && !any; i++)
                any = o->flights[i].state == FLIGHT_PUBLISHED;
        pthread_mutex_unlock(&o->lock);
        return any;
}

/* Wait up to @ms for an ack or a failure. */
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

static void *outbound_run(void *arg) {
        Worker *w = arg;
        Outbound *o = w->impl;
        const MailboxSettings *m = w->mailbox;
        char err[STATUS_ERROR_MAX];
        unsigned ensure_attempts = 0;
        int r;

        while (!worker_stopping(w)) {
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
                        r = link_stream_ensure(o->js, m->stream, w->stream, err, sizeof(err));
                        if (r < 0) {
                                stats_error(&w->stats, "stream %s: %s", m->stream, err);
                                /* not whole seconds: JetStream may be electing a leader */
                                worker_sleep(w, (int)(backoff_usec(ensure_attempts++) / 1000));
                                continue;
                        }
                        ensure_attempts = 0;
                        o->stream_ready = true;
                        atomic_store(&w->stats.ready, true);
                }
                if (atomic_load(&w->link->reconnects) != o->reconnects) {
                        o->reconnects = atomic_load(&w->link->reconnects);
                        outbound_republish_all(o);
                }
                r = outbound_complete(o, true);
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

        /* stopping: let the acks on their way arrive (2 s at most), release what they ack;
         * the rest goes back to the mailbox with the detach, for the next bridge */
        for (int64_t until = now_usec() + 2000000; o->box && any_published(o) && now_usec() < until;) {
                outbound_wait(o, 50);
                if (outbound_complete(o, false) < 0)
                        break;
        }
        if (o->box) {
                outbound_complete(o, false);
                outbound_detach(o);
        }
        /* no more acks after this (one being handled may finish: o outlives the connection) */
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
        jsCtx_Destroy(o->js);
        o->js = NULL;
        /* libnats may be entering on_ack() right now; without flights it changes nothing */
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
