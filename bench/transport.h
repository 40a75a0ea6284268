/* SPDX-License-Identifier: MIT */
/* transport.h — one interface over the transports the benchmark compares: shmbox, a pipe, a
 * Unix stream socket, a POSIX message queue, the naive ring, iceoryx, Boost.Interprocess's
 * message_queue, ZeroMQ over ipc:// and the polling ring that marks the limit. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "client/shmbox.h"

typedef enum TransportId {
        TRANSPORT_SHMBOX,   /* shmbox_send/shmbox_recv */
        TRANSPORT_ZEROCOPY, /* shmbox_reserve/commit, shmbox_peek/release: one-way runs only */
        TRANSPORT_BATCH,    /* shmbox_send_many/recv_many: 1 x 1 one-way runs only */
        TRANSPORT_PIPE,
        TRANSPORT_UNIX,
        TRANSPORT_MQ,
        TRANSPORT_NAIVE,
        TRANSPORT_ICEORYX, /* iceoryx 2.0, C binding: no 4x4 (a subscriber gets every message) */
        TRANSPORT_BOOST,   /* boost::interprocess::message_queue */
        TRANSPORT_ZMQ,     /* ZeroMQ ipc://: PUSH/PULL, PAIR for round trips; no 4x4 (no shared queue) */
        TRANSPORT_SPSC,    /* the limit: a polling SPSC ring; 1 x 1 one-way and other-CPU round trips only */
        _TRANSPORT_MAX,
} TransportId;

/* What the transports need from the driver. */
typedef struct TransportEnv {
        const char *socket;    /* shmboxd's socket: each worker connects on its own */
        const char *prefix;    /* every named object is "<prefix>-..." (shmboxd: "<prefix>.") */
        const char *dir;       /* the run's private temporary directory (ZeroMQ's socket files) */
        shmbox_client *client; /* the driver's connection, for create and destroy */
        int spin_us;           /* shmbox_set_spin() on every shmbox end; -1: the default */
} TransportEnv;

typedef struct Channel Channel;   /* one direction, made by the driver before workers fork */
typedef struct Endpoint Endpoint; /* one worker's end of a channel */

/* How many messages one batch call of TRANSPORT_BATCH carries: half a channel of DEPTH (64),
 * so that one side fills a half while the other drains the other. Measured against 16: 64 B
 * one-way 8-15% higher in each of 6 alternating runs (5.05 against 4.41 M msgs/s in the slow
 * regime, 14.4-15.0 against 11.8-13.8 M in the fast one). A channel of fewer messages (1 MiB:
 * 8) gets batches of half its depth (transport_batch_n()): 32 messages of 1 MiB are 32 MiB of
 * buffers on each side, the size of the last-level cache, that no single send touches (batches
 * ran at 0.72x single sends with 32, while send_many itself pipelines as ring_send()). */
#define TRANSPORT_BATCH_N 32

const char *transport_name(TransportId t);
const char *transport_title(TransportId t);
int transport_from_name(const char *name);

int channel_new(TransportId t, const TransportEnv *env, unsigned k, size_t msg_size, unsigned depth, Channel **ret);
TransportId channel_transport(const Channel *c);
const char *channel_name(const Channel *c); /* shmbox: the mailbox's name */
unsigned channel_depth(const Channel *c);
/* The messages a batch call carries on @c: half its depth, at least 1, at most TRANSPORT_BATCH_N. */
unsigned transport_batch_n(const Channel *c);
Channel *channel_free(Channel *c);

const char *transport_not_built(TransportId t);
int endpoint_open(const Channel *c, const TransportEnv *env, bool sender, Endpoint **ret);
int endpoint_open_duplex(const Channel *in, const Channel *out, const TransportEnv *env, Endpoint **ret_in,
                         Endpoint **ret_out);
Endpoint *endpoint_free(Endpoint *e);
int endpoint_send(Endpoint *e, const void *buf, size_t len);
ssize_t endpoint_recv(Endpoint *e, void *buf, size_t cap, int timeout_ms);
shmbox *endpoint_box(Endpoint *e);
/* In-place messages (iceoryx): loan, fill, publish; take, check, release. */
int endpoint_loan(Endpoint *e, void **ret);
int endpoint_publish(Endpoint *e, void *msg);
ssize_t endpoint_take(Endpoint *e, int timeout_ms, const void **ret);
void endpoint_release(Endpoint *e, const void *msg);
