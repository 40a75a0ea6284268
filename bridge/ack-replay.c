/* SPDX-License-Identifier: MIT */
/* ack-replay.c — the inbound bridge's newest acks, kept to be sent again after a reconnect.
 *
 * An ack (a publish of "+ACK" to the message's $JS.ACK... reply subject) and the end-to-end
 * confirmation after it are fire-and-forget: those still in the socket, or in a server that
 * died before passing them on, are lost with it. A lost ack brings the message again after the
 * consumer's ack wait (a duplicate); a lost confirmation leaves the message held in bridge A's
 * mailbox until A finds out by itself, and A's ring cannot move past its oldest held message:
 * in a cluster run, one such message held A's senders for 16 s after a rolling restart (the
 * consumer's redelivery came during the next fault). So the inbound bridge keeps its
 * ACK_REPLAY_MAX newest acks and, after a reconnect, sends again those of the last
 * ACK_REPLAY_MS, acks and confirmations both: an ack of a message acked already changes
 * nothing, and bridge A ignores the confirmation of a message it does not hold.
 *
 * 264 KB per inbound route (ACK_REPLAY_MAX entries of ACK_REPLAY_ENTRY bytes and a time),
 * allocated at the first ack; an ack whose strings do not fit an entry is not kept (the
 * consumer and bridge A find out by themselves, as without this).
 */
#include "config.h"

#include "bridge/ack-replay.h"

#include <stdlib.h>
#include <string.h>

/* An ack sent (and the confirmation that followed): its time, then "reply\0subject\0id\0". */
struct AckReplayEntry {
        int64_t at; /* monotonic µs; 0: free */
        char buf[ACK_REPLAY_ENTRY];
};

/* ack_replay_record() - keep the ack of @msg (its reply subject, subject and Nats-Msg-Id),
 * sent at @now (monotonic µs), in place of the oldest. */
void ack_replay_record(AckReplay *r, natsMsg *msg, int64_t now) {
        const char *reply = natsMsg_GetReply(msg), *subject = natsMsg_GetSubject(msg), *id = NULL;
        AckReplayEntry *e;
        size_t a, b, c;

        if (!r->ring && !(r->ring = calloc(ACK_REPLAY_MAX, sizeof(AckReplayEntry))))
                return; /* no memory: nothing is sent again */
        if (!reply || !subject)
                return;
        if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK || !id)
                id = "";
        a = strlen(reply);
        b = strlen(subject);
        c = strlen(id);
        if (a + b + c + 3 > ACK_REPLAY_ENTRY)
                return;
        e = &r->ring[r->next++ % ACK_REPLAY_MAX];
        e->at = now;
        memcpy(e->buf, reply, a + 1);
        memcpy(e->buf + a + 1, subject, b + 1);
        memcpy(e->buf + a + b + 2, id, c + 1);
}

/*
 * ack_replay_send() - send again, oldest first, the acks kept of the last ACK_REPLAY_MS
 * @confirm: called for each with its subject and id ("" if it had none), after its ack
 *
 * Return: how many were sent (it stops at the first publish libnats refuses).
 */
unsigned ack_replay_send(AckReplay *r, natsConnection *nc, int64_t now, AckReplayConfirm confirm, void *closure) {
        unsigned sent = 0;

        for (unsigned i = 0; r->ring && i < ACK_REPLAY_MAX; i++) {
                const AckReplayEntry *e = &r->ring[(r->next + i) % ACK_REPLAY_MAX];
                const char *reply = e->buf, *subject, *id;

                if (!e->at || now - e->at > ACK_REPLAY_MS * 1000LL)
                        continue;
                subject = reply + strlen(reply) + 1;
                id = subject + strlen(subject) + 1;
                if (natsConnection_PublishString(nc, reply, "+ACK") != NATS_OK)
                        break;
                if (confirm)
                        confirm(closure, subject, id);
                sent++;
        }
        return sent;
}

void ack_replay_free(AckReplay *r) {
        free(r->ring);
        r->ring = NULL;
}
