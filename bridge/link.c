/* SPDX-License-Identifier: MIT */
/* link.c — shmbox-bridge's connection to NATS and the JetStream assets it needs.
 *
 * One connection serves every mailbox (libnats is thread-safe; each worker has its own JetStream
 * context). The connection is never given up: the first connect is retried in the background
 * (RetryOnFailedConnect) and reconnects go on forever, so a bridge started before its NATS
 * server, or cut off for an hour, carries on by itself; meanwhile the workers see their calls
 * fail and retry, and the status file says "connected = no". Pings every 5 s, two unanswered
 * ones close the connection: a frozen server is noticed within about 15 s.
 *
 * Streams and consumers are created only if missing, with the settings of the config file; an
 * existing one is used as it is (it may be managed with the nats CLI instead), so the bridge
 * never changes the retention of a stream that holds other people's messages.
 */
#include "config.h"

#include "bridge/link.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bridge/util.h"
#include "log/log.h"

/* Something a libnats thread may still be in after its worker is gone: see link_defer_free(). */
struct LinkDeferred {
        LinkDeferred *next;
        void *p;
        void (*free_fn)(void *p);
};

static void link_set_error(Link *l, const char *fmt, ...) _printf_(2, 3);
static void link_set_error(Link *l, const char *fmt, ...) {
        va_list ap;

        pthread_mutex_lock(&l->lock);
        va_start(ap, fmt);
        vsnprintf(l->last_error, sizeof(l->last_error), fmt, ap);
        va_end(ap);
        pthread_mutex_unlock(&l->lock);
}

static void on_connected(natsConnection *nc, void *closure) {
        Link *l = closure;
        char url[256] = "";

        natsConnection_GetConnectedUrl(nc, url, sizeof(url));
        atomic_store(&l->connected, true);
        log_info("connected to %s", url);
}

static void on_disconnected(natsConnection *nc, void *closure) {
        Link *l = closure;
        const char *text = NULL;
        natsStatus s = natsConnection_GetLastError(nc, &text);

        /* the first connect's failures land here too, once per attempt: say it once */
        if (atomic_exchange(&l->connected, false) && !atomic_load(&l->closing)) {
                log_warning("disconnected from NATS%s%s; reconnecting", s != NATS_OK ? ": " : "",
                            s != NATS_OK && text ? text : "");
                link_set_error(l, "disconnected%s%s", s != NATS_OK ? ": " : "", s != NATS_OK && text ? text : "");
        }
}

static void on_reconnected(natsConnection *nc, void *closure) {
        Link *l = closure;
        char url[256] = "";

        natsConnection_GetConnectedUrl(nc, url, sizeof(url));
        atomic_store(&l->connected, true);
        atomic_fetch_add(&l->reconnects, 1);
        log_info("reconnected to %s", url);
}

static void on_closed(natsConnection *nc, void *closure) {
        Link *l = closure;

        atomic_store(&l->connected, false);
}

static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure) {
        Link *l = closure;

        log_warning("NATS: %s", natsStatus_GetText(err));
        link_set_error(l, "%s", natsStatus_GetText(err));
}

static void nats_options_destroyp(natsOptions **o) {
        natsOptions_Destroy(*o); /* NULL-safe */
}

/*
 * link_new() - create the connection to the NATS servers of @s
 * @s:   the settings ([nats] section)
 * @ret: the link, owned by the caller (link_free())
 *
 * Returns at once if no server answers yet: the connection keeps trying in the background.
 *
 * Return: 0; -EINVAL if libnats refuses an option (a bad URL, an unreadable creds file);
 *         -ENOMEM. The reason is logged. @ret is untouched on failure.
 */
int link_new(const Settings *s, Link **ret) {
        _cleanup_(link_freep) Link *l = NULL;
        _cleanup_(nats_options_destroyp) natsOptions *o = NULL;
        const char *urls[SETTINGS_URLS_MAX];
        natsStatus ns;

        l = calloc(1, sizeof(*l));
        if (!l)
                return log_errno(LOG_ERR, -ENOMEM, "NATS connection");
        pthread_mutex_init(&l->lock, NULL);
        for (unsigned i = 0; i < s->n_urls; i++)
                urls[i] = s->urls[i];

        ns = natsOptions_Create(&o);
        if (ns == NATS_OK)
                ns = natsOptions_SetServers(o, urls, (int)s->n_urls);
        if (ns == NATS_OK)
                ns = natsOptions_SetName(o, s->name);
        if (ns == NATS_OK)
                ns = natsOptions_SetTimeout(o, s->connect_timeout_ms);
        if (ns == NATS_OK)
                ns = natsOptions_SetMaxReconnect(o, -1);
        if (ns == NATS_OK)
                ns = natsOptions_SetReconnectWait(o, s->reconnect_wait_ms);
        if (ns == NATS_OK)
                ns = natsOptions_SetPingInterval(o, s->ping_interval_ms);
        if (ns == NATS_OK)
                ns = natsOptions_SetMaxPingsOut(o, 2);
        if (ns == NATS_OK)
                ns = natsOptions_SetRetryOnFailedConnect(o, true, on_connected, l);
        if (ns == NATS_OK)
                ns = natsOptions_SetDisconnectedCB(o, on_disconnected, l);
        if (ns == NATS_OK)
                ns = natsOptions_SetReconnectedCB(o, on_reconnected, l);
        if (ns == NATS_OK)
                ns = natsOptions_SetClosedCB(o, on_closed, l);
        if (ns == NATS_OK)
                ns = natsOptions_SetErrorHandler(o, on_async_error, l);
        if (ns == NATS_OK && s->creds[0])
                ns = natsOptions_SetUserCredentialsFromFiles(o, s->creds, NULL);
        if (ns == NATS_OK && s->user[0])
                ns = natsOptions_SetUserInfo(o, s->user, s->password);
        if (ns == NATS_OK && s->token[0])
                ns = natsOptions_SetToken(o, s->token);
        if (ns != NATS_OK) {
                log_error("NATS options: %s", nats_GetLastError(NULL) ?: natsStatus_GetText(ns));
                return ns == NATS_NO_MEMORY ? -ENOMEM : -EINVAL;
        }

        ns = natsConnection_Connect(&l->nc, o);
        if (ns == NATS_OK) {
                /* connected at once: RetryOnFailedConnect calls the handler only when it retried */
                on_connected(l->nc, l);
        } else if (ns == NATS_NOT_YET_CONNECTED) {
                log_notice("no NATS server answers at %s yet; retrying every %lld ms", s->urls[0],
                           (long long)s->reconnect_wait_ms);
                link_set_error(l, "not yet connected");
        } else {
                log_error("NATS connect: %s", nats_GetLastError(NULL) ?: natsStatus_GetText(ns));
                return ns == NATS_NO_MEMORY ? -ENOMEM : -EINVAL;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/*
 * link_close() - close the connection (NULL is fine)
 *
 * libnats still calls the connection's handlers (disconnected, closed) afterwards, from its
 * own threads: free @l only after nats_CloseAndWait() returned.
 */
void link_close(Link *l) {
        if (!l || !l->nc)
                return;
        atomic_store(&l->closing, true);
        natsConnection_Close(l->nc);
        natsConnection_Destroy(l->nc);
        l->nc = NULL;
}

/* link_free() - free @l (NULL is fine) and what was deferred to it, closing its connection if
 * link_close() did not; returns NULL. See link_close() for when it is safe. */
Link *link_free(Link *l) {
        if (!l)
                return NULL;
        link_close(l);
        while (l->deferred) {
                LinkDeferred *d = l->deferred;

                l->deferred = d->next;
                d->free_fn(d->p);
                free(d);
        }
        pthread_mutex_destroy(&l->lock);
        free(l);
        return NULL;
}

/*
 * link_defer_free() - free @p with @free_fn when @l is freed, after nats_CloseAndWait()
 *
 * For the closure of a libnats handler whose owner goes while the connection stays (a reload
 * stops a route): libnats may have entered the handler just before the owner destroyed its
 * JetStream context, and offers no way to wait for it short of nats_CloseAndWait(). The owner
 * frees all else and makes the handler a no-op first; what is deferred is a few hundred bytes,
 * kept until the bridge exits. Without memory, @p is leaked rather than freed too early.
 */
void link_defer_free(Link *l, void *p, void (*free_fn)(void *p)) {
        LinkDeferred *d = malloc(sizeof(*d));

        if (!d)
                return;
        *d = (LinkDeferred){ .p = p, .free_fn = free_fn };
        pthread_mutex_lock(&l->lock);
        d->next = l->deferred;
        l->deferred = d;
        pthread_mutex_unlock(&l->lock);
}

/*
 * link_status() - the connection as the status file shows it
 * @l:      the link
 * @ret:    filled; its strings point into @server and @err
 * @server: receives the URL connected to ("" when not connected)
 * @err:    receives the connection's last error
 */
void link_status(Link *l, StatusBridge *ret, char *server, size_t server_size, char *err, size_t err_size) {
        bool up = l->nc && natsConnection_Status(l->nc) == NATS_CONN_STATUS_CONNECTED;

        server[0] = 0;
        if (up)
                natsConnection_GetConnectedUrl(l->nc, server, server_size);
        pthread_mutex_lock(&l->lock);
        snprintf(err, err_size, "%s", l->last_error);
        pthread_mutex_unlock(&l->lock);
        *ret = (StatusBridge){
                .connected = up, .server = server, .reconnects = atomic_load(&l->reconnects), .last_error = err
        };
}

/* link_connected() - whether the connection is up now (not reconnecting, not closed). Any thread. */
bool link_connected(Link *l) {
        return l->nc && natsConnection_Status(l->nc) == NATS_CONN_STATUS_CONNECTED;
}

/*
 * link_jetstream() - a JetStream context on the connection, for one worker
 * @on_ack, @closure: the handler of asynchronous publish acks (NULL for none); libnats calls it
 *                    from its own thread
 * @max_pending:      asynchronous publishes in flight at most
 *
 * Its JetStream API requests (stream and consumer info, creation) wait LINK_API_WAIT_MS at
 * most, not libnats' 5 s: during an election a request goes unanswered, and the callers retry
 * after a short back-off instead.
 * @ret:              the context, owned by the caller (jsCtx_Destroy())
 *
 * Return: 0; -ENOMEM.
 */
int link_jetstream(Link *l, jsPubAckHandler on_ack, void *closure, int64_t max_pending, jsCtx **ret) {
        jsOptions o;

        jsOptions_Init(&o);
        o.Wait = LINK_API_WAIT_MS;
        o.PublishAsync.AckHandler = on_ack;
        o.PublishAsync.AckHandlerClosure = closure;
        o.PublishAsync.MaxPending = max_pending;
        return natsConnection_JetStream(ret, l->nc, &o) == NATS_OK ? 0 : -ENOMEM;
}

/*
 * link_error_text() - a NATS status and JetStream error code as one line of text
 *
 * The calling thread's last libnats error is the most specific ("stream not found"), so it is
 * preferred to the status' generic text.
 */
void link_error_text(natsStatus s, jsErrCode je, char *buf, size_t size) {
        const char *detail = nats_GetLastError(NULL);

        if (detail && *detail)
                snprintf(buf, size, "%s", detail);
        else
                snprintf(buf, size, "%s", natsStatus_GetText(s));
        if (je)
                snprintf(buf + strlen(buf), size - strlen(buf), " (JetStream error %d)", (int)je);
}

static void stream_info_destroyp(jsStreamInfo **si) {
        jsStreamInfo_Destroy(*si);
}

static void consumer_info_destroyp(jsConsumerInfo **ci) {
        jsConsumerInfo_Destroy(*ci);
}

/*
 * link_stream_ensure() - make sure the stream @name exists
 * @st:  its [stream] settings, or NULL: then it must exist already
 * @err: receives the reason of a failure
 * @workqueue: if not NULL, whether the stream's retention is a work queue (what end-to-end
 *             delivery's look for unconfirmed messages relies on: an acked message is gone)
 *
 * Return: 0 if it exists (or was just created); -ENOENT if it does not and @st is NULL;
 *         -EAGAIN if JetStream did not answer (not connected, no responders: try again).
 */
int link_stream_ensure(jsCtx *js, const char *name, const StreamSettings *st, char *err, size_t err_size,
                       bool *workqueue) {
        _cleanup_(stream_info_destroyp) jsStreamInfo *si = NULL;
        const char *subjects[SETTINGS_SUBJECTS_MAX];
        jsStreamConfig sc;
        jsErrCode je = 0;
        natsStatus s;

        s = js_GetStreamInfo(&si, js, name, NULL, &je);
        if (s == NATS_OK) {
                if (workqueue)
                        *workqueue = si->Config && si->Config->Retention == js_WorkQueuePolicy;
                return 0;
        }
        if (s != NATS_NOT_FOUND && je != JSStreamNotFoundErr) {
                link_error_text(s, je, err, err_size);
                return -EAGAIN;
        }
        if (!st) {
                snprintf(err, err_size, "stream %s does not exist, and the config file has no [stream %s]", name, name);
                return -ENOENT;
        }

        jsStreamConfig_Init(&sc);
        for (unsigned i = 0; i < st->n_subjects; i++)
                subjects[i] = st->subjects[i];
        sc.Name = name;
        sc.Subjects = subjects;
        sc.SubjectsLen = (int)st->n_subjects;
        sc.Retention = st->retention == RETENTION_LIMITS     ? js_LimitsPolicy
                       : st->retention == RETENTION_INTEREST ? js_InterestPolicy
                                                             : js_WorkQueuePolicy;
        /* never drop stored messages to make room: a full stream refuses, the bridge retries,
         * and the senders feel it (back-pressure) */
        sc.Discard = js_DiscardNew;
        sc.MaxMsgs = st->max_msgs;
        sc.MaxBytes = st->max_bytes;
        sc.MaxAge = st->max_age_ms * 1000000;
        sc.Duplicates = st->duplicate_window_ms * 1000000;
        sc.Replicas = st->replicas;
        sc.Storage = st->memory ? js_MemoryStorage : js_FileStorage;
        stream_info_destroyp(&si);
        si = NULL;
        je = 0;
        s = js_AddStream(&si, js, &sc, NULL, &je);
        if (s == NATS_OK) {
                log_notice("created stream %s", name);
                if (workqueue)
                        *workqueue = sc.Retention == js_WorkQueuePolicy;
                return 0;
        }
        if (je == JSStreamNameExistErr) { /* made by another meanwhile: look at it next time */
                snprintf(err, err_size, "stream %s was created meanwhile", name);
                return -EAGAIN;
        }
        link_error_text(s, je, err, err_size);
        return -EAGAIN;
}

/*
 * link_consumer_ensure() - make sure the durable pull consumer of the inbound mailbox @m exists
 * @slots: the mailbox's slots: max-ack-pending of a new consumer, so that the server never has
 *         more messages out to this bridge than the mailbox holds
 *
 * Return: 0; -EAGAIN with the reason in @err (try again).
 */
int link_consumer_ensure(jsCtx *js, const MailboxSettings *m, uint32_t slots, char *err, size_t err_size) {
        _cleanup_(consumer_info_destroyp) jsConsumerInfo *ci = NULL;
        jsConsumerConfig cc;
        jsErrCode je = 0;
        natsStatus s;

        s = js_GetConsumerInfo(&ci, js, m->stream, m->durable, NULL, &je);
        if (s == NATS_OK)
                return 0;
        if (s != NATS_NOT_FOUND && je != JSConsumerNotFoundErr) {
                link_error_text(s, je, err, err_size);
                return -EAGAIN;
        }
        jsConsumerConfig_Init(&cc);
        cc.Durable = m->durable;
        cc.FilterSubject = m->subject;
        cc.AckPolicy = js_AckExplicit;
        cc.AckWait = m->ack_wait_ms * 1000000;
        cc.DeliverPolicy = js_DeliverAll;
        cc.MaxDeliver = -1; /* never give up on a message: at-least-once */
        cc.MaxAckPending = slots;
        consumer_info_destroyp(&ci);
        ci = NULL;
        je = 0;
        s = js_AddConsumer(&ci, js, m->stream, &cc, NULL, &je);
        if (s == NATS_OK || je == JSConsumerNameExistErr) {
                if (s == NATS_OK)
                        log_notice("created durable consumer %s on stream %s for mailbox %s", m->durable, m->stream,
                                   m->name);
                return 0;
        }
        link_error_text(s, je, err, err_size);
        return -EAGAIN;
}
