/* SPDX-License-Identifier: MIT */
/* status.h — what the running bridge counts, and the status file that `shmbox-bridge --status` reads. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bridge/settings.h"

#define STATUS_ERROR_MAX 256

/*
 * The counters of one bridged mailbox. Written by its worker thread and by libnats' threads
 * (acks), read by the main thread when it writes the status file: atomics, and a lock for the
 * last error's text.
 * - outbound: in_flight peeked and not yet released; published (first publish of a message);
 *   acked (the slot was released: stored, or confirmed in end-to-end delivery); retried (published again after a
 *   failure or a timeout, same id); duplicates (the stream's ack said it already had the id: a
 *   retransmission JetStream dropped); stale (release said the daemon had given the message to
 *   another reader meanwhile, so it will be published again with the same id); confirmed
 *   (end-to-end delivery: released on bridge B's confirmation that B's mailbox committed it);
 *   resent (end-to-end: stored, unconfirmed, and no longer in the stream: published again
 *   under a new id).
 * - inbound: in_flight fetched and not yet committed and acked; fetched; committed (sent into
 *   the mailbox); acked (acked to the stream after the commit); redelivered (the stream
 *   delivered it more than once: a duplicate unless the earlier delivery never committed);
 *   rejected (longer than the mailbox's slots: terminated, see the man page); confirmed
 *   (end-to-end delivery: committed messages confirmed to bridge A); stepdowns (the consumer's
 *   leader was asked to step down: pulls came back empty while messages waited for it);
 *   recreated (the consumer was deleted and made again: it was past messages the work queue
 *   holds, or its leaders brought nothing).
 */
typedef struct Stats {
        atomic_bool attached; /* the mailbox is attached */
        atomic_bool ready;    /* ... and the stream (and consumer) exist: messages move */
        _Atomic uint64_t in_flight, published, acked, retried, duplicates, stale;
        _Atomic uint64_t fetched, committed, redelivered, rejected;
        _Atomic uint64_t confirmed, resent; /* end-to-end delivery */
        _Atomic uint64_t stepdowns;         /* inbound: a stalled consumer's leader asked to step down */
        _Atomic uint64_t recreated;         /* inbound: a stalled consumer deleted and made again */
        _Atomic uint64_t errors;
        pthread_mutex_t lock;
        char last_error[STATUS_ERROR_MAX];
} Stats;

void stats_init(Stats *st);
void stats_done(Stats *st);
void stats_error(Stats *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void stats_last_error(Stats *st, char *buf, size_t size);

/* One mailbox as the status file shows it. */
typedef struct StatusMailbox {
        const MailboxSettings *settings;
        Stats *stats;
} StatusMailbox;

/* The bridge as the status file shows it. */
typedef struct StatusBridge {
        bool connected;
        const char *server; /* the URL connected to, or "" */
        uint64_t reconnects;
        const char *last_error; /* of the connection, or "" */
} StatusBridge;

int status_write(const char *path, const StatusBridge *b, const StatusMailbox *m, size_t n);
int status_print(const char *path, FILE *out);
int metrics_write(const char *path, const StatusBridge *b, const StatusMailbox *m, size_t n);
