/* SPDX-License-Identifier: MIT */
/* worker.c — what both directions share: the thread, sleeping until stopped, and attaching.
 *
 * Each bridged mailbox has its own thread and its own shmbox_client (the library wants one per
 * thread), so a slow or stuck mailbox never holds up another. A worker never gives up: a
 * daemon that is not there yet, a mailbox that does not exist yet, a stream that is missing —
 * each is recorded as the mailbox's last error and tried again a second later.
 */
#include "config.h"

#include "bridge/worker.h"

#include <errno.h>
#include <string.h>

#include "bridge/inbound.h"
#include "bridge/outbound.h"
#include "bridge/util.h"
#include "log/log.h"

/*
 * route_init() - the Route of mailbox @m of the settings @s: a copy, independent of @s
 */
void route_init(Route *r, const Settings *s, const MailboxSettings *m) {
        const StreamSettings *st = settings_stream(s, m->stream);

        memset(r, 0, sizeof(*r));
        strcpy_bounded(r->host, s->host);
        strcpy_bounded(r->socket, s->socket);
        r->mailbox = *m;
        if (st) {
                r->stream = *st;
                r->has_stream = true;
        }
}

/* route_equal() - whether a worker of @a may go on running where @b is asked for. */
bool route_equal(const Route *a, const Route *b) {
        return streq(a->host, b->host) && streq(a->socket, b->socket) &&
               settings_mailbox_equal(&a->mailbox, &b->mailbox) &&
               settings_stream_equal(a->has_stream ? &a->stream : NULL, b->has_stream ? &b->stream : NULL);
}

/*
 * worker_new() - the worker of @route, not started
 * @route: copied; the worker keeps no pointer into it
 * @link:  the NATS connection, shared by every worker; must outlive the worker
 * @ret:   the worker, owned by the caller (worker_free())
 *
 * Return: 0; -ENOMEM. @ret is untouched on failure.
 */
int worker_new(const Route *route, Link *link, Worker **ret) {
        Worker *w;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->route = *route;
        w->mailbox = &w->route.mailbox;
        w->stream = w->route.has_stream ? &w->route.stream : NULL;
        w->link = link;
        atomic_init(&w->stop, false);
        stats_init(&w->stats);
        r = w->mailbox->direction == DIRECTION_OUTBOUND ? outbound_new(w) : inbound_new(w);
        if (r < 0) {
                worker_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

/* worker_start() - start the worker's thread. Return: 0; the negative errno of pthread_create. */
int worker_start(Worker *w) {
        int r = pthread_create(&w->thread, NULL, w->run, w);

        if (r != 0)
                return -r;
        w->started = true;
        return 0;
}

/*
 * worker_stop() - ask the worker to stop, without waiting (worker_join() waits)
 *
 * It takes no new message, gives the acks on their way up to 2 s, releases what they ack,
 * and detaches; what was not acked goes back to the mailbox (outbound: the daemon repairs the
 * taken slots in place) or to the consumer (inbound: nak'ed, or redelivered after AckWait).
 */
void worker_stop(Worker *w) {
        atomic_store(&w->stop, true);
}

/* worker_join() - wait for the thread to end (after worker_stop()); no-op if never started. */
void worker_join(Worker *w) {
        if (w && w->started) {
                pthread_join(w->thread, NULL);
                w->started = false;
        }
}

/*
 * worker_free() - stop and free @w (NULL is fine); returns NULL
 *
 * Safe while the NATS connection is open (a reload frees the workers of removed routes): a
 * publish ack may still be on its way into a libnats thread, so the little that its handler
 * touches is handed to the link, which frees it once libnats is closed (link_defer_free()).
 */
Worker *worker_free(Worker *w) {
        if (!w)
                return NULL;
        worker_stop(w);
        worker_join(w);
        if (w->free_impl)
                w->free_impl(w->impl);
        stats_done(&w->stats);
        free(w);
        return NULL;
}

/* worker_stopping() - whether the worker was asked to stop. */
bool worker_stopping(const Worker *w) {
        return atomic_load(&w->stop);
}

/* worker_sleep() - sleep @ms in steps of 50 ms; false if the worker is stopping. */
bool worker_sleep(const Worker *w, int ms) {
        while (ms > 0 && !worker_stopping(w)) {
                int step = MIN(ms, 50);
                struct timespec ts = { 0, step * 1000000L };

                nanosleep(&ts, NULL);
                ms -= step;
        }
        return !worker_stopping(w);
}

/*
 * worker_attach() - connect to shmboxd and attach the worker's mailbox
 * @right:      SHMBOX_STAT_RECV (outbound) or SHMBOX_STAT_SEND (inbound): the box must have it
 * @ret_client: the connection, owned by the caller
 * @ret_box:    the box, owned by the caller (detach it before disconnecting the client)
 * @ret_stat:   the box's geometry and generation
 *
 * A failure is recorded as the mailbox's last error; it is logged only when it changes, so a
 * daemon that stays away for an hour is not logged every second.
 *
 * Return: 0; the negative errno of the first call that failed (-EACCES for a missing right).
 */
int worker_attach(Worker *w, uint32_t right, shmbox_client **ret_client, shmbox **ret_box,
                  struct shmbox_stat *ret_stat) {
        const char *name = w->mailbox->name;
        const char *socket = w->route.socket[0] ? w->route.socket : NULL;
        shmbox_client *client = NULL;
        shmbox *box = NULL;
        struct shmbox_stat st;
        char prev[STATUS_ERROR_MAX];
        const char *what;
        int r;

        what = "connect to shmboxd";
        r = shmbox_connect(socket, &client);
        if (r < 0)
                goto fail;
        what = "attach";
        r = shmbox_attach(client, name, &box);
        if (r < 0)
                goto fail;
        what = "stat";
        r = shmbox_stat(box, &st);
        if (r < 0)
                goto fail;
        if (!(st.rights & right)) {
                what = right == SHMBOX_STAT_RECV ? "attach (outbound needs the r right)"
                                                 : "attach (inbound needs the w right)";
                r = -EACCES;
                goto fail;
        }
        /* A broadcast mailbox (SHMBOX_CONFIG_BROADCAST): an inbound route only sends into it,
         * and must not hold its senders back as a subscriber that never reads; an outbound
         * route keeps a window of peeked messages, which a subscriber cannot (one in view) */
        {
                struct shmbox_info info;

                what = "info";
                r = shmbox_info(client, name, &info);
                if (r < 0)
                        goto fail;
                if ((info.flags & SHMBOX_INFO_BROADCAST) && right == SHMBOX_STAT_RECV) {
                        what = "attach (an outbound route cannot read a broadcast mailbox)";
                        r = -EOPNOTSUPP;
                        goto fail;
                }
                if ((info.flags & SHMBOX_INFO_BROADCAST) && (st.rights & SHMBOX_STAT_RECV)) {
                        what = "unsubscribe";
                        r = shmbox_subscribe(box, 0);
                        if (r < 0)
                                goto fail;
                }
        }
        *ret_client = client;
        *ret_box = box;
        *ret_stat = st;
        return 0;

fail:
        shmbox_detach(box);
        shmbox_disconnect(client);
        stats_last_error(&w->stats, prev, sizeof(prev));
        stats_error(&w->stats, "%s: %s", what, shmbox_strerror(r));
        {
                char now[STATUS_ERROR_MAX];

                stats_last_error(&w->stats, now, sizeof(now));
                if (!streq(prev, now))
                        log_warning("mailbox %s: %s; retrying every second", name, now);
        }
        return r;
}
