/* SPDX-License-Identifier: MIT */
/* ack-replay.h — the inbound bridge's newest acks, kept to be sent again after a reconnect. */
#pragma once

#include <nats/nats.h>
#include <stdint.h>

#define ACK_REPLAY_MAX 1024  /* acks kept: the newest */
#define ACK_REPLAY_ENTRY 256 /* bytes of one: reply subject, subject, id, each NUL-terminated */
#define ACK_REPLAY_MS 20000  /* after a reconnect, those made in the last 20 s go again */

typedef struct AckReplayEntry AckReplayEntry;

typedef struct AckReplay {
        AckReplayEntry *ring; /* [ACK_REPLAY_MAX], allocated at the first ack; NULL: none */
        unsigned next;
} AckReplay;

/* What to do with each ack sent again, besides the ack: the inbound bridge confirms its id
 * again (end-to-end delivery). */
typedef void (*AckReplayConfirm)(void *closure, const char *subject, const char *id);

void ack_replay_record(AckReplay *r, natsMsg *msg, int64_t now);
unsigned ack_replay_send(AckReplay *r, natsConnection *nc, int64_t now, AckReplayConfirm confirm, void *closure);
void ack_replay_free(AckReplay *r);
