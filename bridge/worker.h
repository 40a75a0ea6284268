/* SPDX-License-Identifier: MIT */
/* worker.h — one bridged mailbox: a thread with its own shmbox connection, the outbound or
 * inbound loop, and its counters. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "bridge/link.h"
#include "bridge/settings.h"
#include "bridge/status.h"
#include "client/shmbox.h"

/*
 * What one worker runs with: its own copy of its part of the configuration, so that a reload
 * can replace the Settings while the workers of unchanged routes go on running.
 */
typedef struct Route {
        char host[SETTINGS_NAME_MAX + 1]; /* [bridge] host: the first part of every message id */
        char socket[108];                 /* [bridge] socket; "" = the library's default */
        MailboxSettings mailbox;
        StreamSettings stream; /* its [stream] section, if has_stream */
        bool has_stream;       /* else the stream must exist already */
} Route;

void route_init(Route *r, const Settings *s, const MailboxSettings *m);
bool route_equal(const Route *a, const Route *b);

typedef struct Worker Worker;
struct Worker {
        Route route;
        const MailboxSettings *mailbox; /* &route.mailbox */
        const StreamSettings *stream;   /* &route.stream, or NULL: it must exist */
        Link *link;
        atomic_bool stop; /* set by worker_stop(): on SIGTERM, or when a reload removes the route */
        Stats stats;
        void *impl; /* the direction's state (outbound.c, inbound.c) */
        void *(*run)(void *w);
        void (*free_impl)(void *impl);
        pthread_t thread;
        bool started;
};

int worker_new(const Route *route, Link *link, Worker **ret);
int worker_start(Worker *w);
void worker_stop(Worker *w);
void worker_join(Worker *w);
Worker *worker_free(Worker *w);

bool worker_stopping(const Worker *w);
bool worker_sleep(const Worker *w, int ms);
int worker_attach(Worker *w, uint32_t right, shmbox_client **ret_client, shmbox **ret_box,
                  struct shmbox_stat *ret_stat);
