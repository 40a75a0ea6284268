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

typedef struct Worker Worker;
struct Worker {
        const Settings *settings;
        const MailboxSettings *mailbox;
        const StreamSettings *stream; /* the [stream] section, or NULL: it must exist */
        Link *link;
        const atomic_bool *stop; /* set by the main thread on SIGTERM */
        Stats stats;
        void *impl; /* the direction's state (outbound.c, inbound.c) */
        void *(*run)(void *w);
        void (*free_impl)(void *impl);
        pthread_t thread;
        bool started;
};

int worker_new(const Settings *s, const MailboxSettings *m, Link *link, const atomic_bool *stop, Worker **ret);
int worker_start(Worker *w);
void worker_join(Worker *w);
Worker *worker_free(Worker *w);

bool worker_stopping(const Worker *w);
bool worker_sleep(const Worker *w, int ms);
int worker_attach(Worker *w, uint32_t right, shmbox_client **ret_client, shmbox **ret_box,
                  struct shmbox_stat *ret_stat);
