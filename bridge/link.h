/* SPDX-License-Identifier: MIT */
/* link.h — shmbox-bridge's connection to NATS: connect, reconnect forever, and the JetStream
 * assets (streams, durable consumers) the mailboxes need. */
#pragma once

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bridge/settings.h"
#include "bridge/status.h"

/* End-to-end delivery: bridge B confirms the messages its mailbox committed by publishing their
 * ids (Nats-Msg-Id), one per line, to this prefix followed by the message's subject; bridge A
 * subscribes there (outbound.c). No stream may capture these subjects. */
#define CONFIRM_SUBJECT_PREFIX "_SHMBOX.CONFIRM."

/* how long a JetStream API request (stream info, consumer info, creation) waits for its answer */
#define LINK_API_WAIT_MS 1000

typedef struct LinkDeferred LinkDeferred;

typedef struct Link {
        natsConnection *nc;
        atomic_bool connected;
        atomic_bool closing; /* link_free() closes it: a disconnect is expected */
        _Atomic uint64_t reconnects;
        pthread_mutex_t lock; /* guards last_error, deferred */
        char last_error[STATUS_ERROR_MAX];
        LinkDeferred *deferred; /* freed by link_free() */
} Link;

int link_new(const Settings *s, Link **ret);
void link_close(Link *l);
Link *link_free(Link *l);
static inline void link_freep(Link **l) {
        link_free(*l);
}

void link_defer_free(Link *l, void *p, void (*free_fn)(void *p));

bool link_connected(Link *l);
void link_status(Link *l, StatusBridge *ret, char *server, size_t server_size, char *err, size_t err_size);

int link_jetstream(Link *l, jsPubAckHandler on_ack, void *closure, int64_t max_pending, jsCtx **ret);
int link_stream_ensure(jsCtx *js, const char *name, const StreamSettings *st, char *err, size_t err_size,
                       bool *workqueue);
int link_consumer_ensure(jsCtx *js, const MailboxSettings *m, uint32_t slots, char *err, size_t err_size);
void link_error_text(natsStatus s, jsErrCode je, char *buf, size_t size);
