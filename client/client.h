/* SPDX-License-Identifier: MIT */
/* client.h — libshmbox internals: the connection, the attached box, and the control call. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/shmbox.h"
#include "proto/ring.h"
#include "proto/wire.h"

#define SHMBOX_PUBLIC __attribute__((visibility("default")))

/* How long a control call waits for the daemon's reply. */
#define CLIENT_CALL_TIMEOUT_MS 30000

struct shmbox_client {
        int fd; /* -1 once the daemon is gone */
        uint32_t serial;
        unsigned fork_gen;     /* client_fork_generation when connected */
        char socket_path[108]; /* to connect again, lazily, once a daemon is back */
        char prefix[NAMES_PREFIX_MAX + 1];
        struct shmbox *boxes;                 /* attached through this client */
        char last_error[WIRE_REASON_MAX + 1]; /* the daemon's reason for refusing the last request */
        uint32_t version;                     /* the protocol version agreed in HELLO (0: not connected) */
        struct ClientRequests *requests;      /* request/reply (request.c); NULL until first used */
};

struct shmbox {
        shmbox_client *client; /* NULL once the client disconnected */
        struct shmbox *next, *prev;
        unsigned fork_gen;
        bool mapped;  /* false after disconnect: the box is only a shell to free */
        bool polling; /* shmbox_fd() was called: settle the FIFO after receiving */
        Ring ring;
        uint32_t token, idx, rights;
        uint64_t epoch;
        char name[NAMES_NAME_MAX + 1];
        /* The slots this box holds through the zero-copy calls, one bit per slot index: the
         * reserved ones, then (held + box_held_words()) the peeked ones. NULL until the first
         * reserve or peek. A commit or release of a slot without its bit is the caller's bug
         * (-EINVAL); with it, the ring's -ESTALE really means taken away by a repair. */
        uint64_t *held;
};

/*
 * The one global of the library: bumped in the child by a pthread_atfork() handler, so that
 * each call can see, with one load, that its handle was inherited across fork().
 */
extern atomic_uint client_fork_generation;

int client_call(shmbox_client *c, const WireMsg *req, WireMsg *ret, uint8_t **ret_frame);
/* struct shmbox_info from the wire's (client.c; also for shmbox_stats(), stats.c) */
void client_info_from_wire(struct shmbox_info *out, const WireInfo *in);
bool client_begin(shmbox_client *c);

/* request/reply (request.c): the data-plane steps it needs (box.c), and its state's destructor
 * (shmbox_disconnect() calls it first: it detaches the boxes it holds) */
int box_send_hdr(shmbox *box, const void *hdr, size_t hlen, const void *data, size_t len, int timeout_ms);
ssize_t box_recv_hdr(shmbox *box, uint8_t *hdr, uint32_t *ret_hlen, void *buf, size_t cap, size_t take_cap,
                     int timeout_ms);
void client_requests_free(shmbox_client *c);
