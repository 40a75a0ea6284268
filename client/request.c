/* SPDX-License-Identifier: MIT */
/* request.c — libshmbox's request/reply: a correlation id and a reply-to mailbox per message.
 *
 * A request is an ordinary message with a request header (proto/request.h) in its slot; the
 * ring strips the header for plain receives. A requester's replies come to a reply mailbox of
 * its own, made at its client's first request with SHMBOX_CONFIG_EPHEMERAL, so the daemon
 * removes it when the connection ends however the process ends: nothing leaks when a
 * requester dies. A reply is a message with a header that carries the request's id and no
 * reply-to; the requester takes replies until one carries the id it waits for, and discards
 * (and counts) the others: late replies to requests that timed out, and whatever a peer with
 * the right to send wrote there. Ids start at a random value per reply mailbox, so a process
 * that gets the pid and the name of a dead one cannot be handed the dead one's replies.
 *
 * Costs: the reply mailbox is made once per client (two control calls); a server keeps the
 * reply mailboxes it replied to last attached (REQUEST_CACHE), so a steady requester costs it
 * no control call. Per message there is no allocation and no system call beyond a send's and a
 * receive's own, and the clock read of the deadline (the vDSO).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "proto/request.h"
#include "proto/util.h"

/* Reply mailboxes a server keeps attached (the ones it replied to last). */
#define REQUEST_CACHE 8
/* The reply mailbox's slots: a requester awaits one reply at a time, the rest are late ones. */
#define REQUEST_REPLY_SLOTS 16u
/* Its mode: the owner receives, anyone may send a reply (the ids tell replies apart). */
#define REQUEST_REPLY_MODE 0622u
/* How many names a client tries for its reply mailbox before it gives up (-EEXIST). */
#define REQUEST_NAME_TRIES 4

typedef struct ReplyTo {
        shmbox *box; /* NULL: unused */
        char name[NAMES_NAME_MAX + 1];
        uint64_t used; /* ClientRequests.clock when last replied to */
} ReplyTo;

typedef struct ClientRequests {
        /* the requester's side */
        shmbox *inbox; /* the reply mailbox, attached; NULL until the first request */
        char inbox_name[NAMES_NAME_MAX + 1];
        uint64_t next_id;
        uint64_t discarded;
        /* the server's side */
        ReplyTo cache[REQUEST_CACHE];
        uint64_t clock;
} ClientRequests;

static uint64_t random_u64(void) {
        uint64_t v = 0;
        struct timespec ts;

        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
                return v;
        /* no entropy yet (early boot): unique enough for a name; ids need only be fresh */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 40);
}

static void reply_to_done(ReplyTo *t) {
        shmbox_detach(t->box);
        *t = (ReplyTo){};
}

void client_requests_free(shmbox_client *c) {
        ClientRequests *q = c->requests;

        if (!q)
                return;
        shmbox_detach(q->inbox); /* the daemon destroys the mailbox when the connection ends */
        for (unsigned i = 0; i < REQUEST_CACHE; i++)
                reply_to_done(&q->cache[i]);
        free(q);
        c->requests = NULL;
}

static int requests_get(shmbox_client *c, ClientRequests **ret) {
        if (!c->requests) {
                c->requests = calloc(1, sizeof(ClientRequests));
                if (!c->requests)
                        return -ENOMEM;
        }
        *ret = c->requests;
        return 0;
}

/* Make and attach the client's reply mailbox, for replies up to @slot_size bytes. */
static int inbox_open(shmbox_client *c, ClientRequests *q, uint32_t slot_size) {
        struct shmbox_config cfg = {
                .slots = REQUEST_REPLY_SLOTS,
                .slot_size = MAX(slot_size, (uint32_t)SHMBOX_DEFAULT_SLOT_SIZE),
                .mode = REQUEST_REPLY_MODE,
                .flags = SHMBOX_CONFIG_EPHEMERAL,
        };
        char name[NAMES_NAME_MAX + 1];
        shmbox *box;
        int r = -EEXIST;

        for (int i = 0; i < REQUEST_NAME_TRIES && r == -EEXIST; i++) {
                snprintf(name, sizeof(name), "reply.%u.%016llx", (unsigned)getpid(), (unsigned long long)random_u64());
                r = shmbox_create(c, name, &cfg);
        }
        if (r < 0)
                return r;
        r = shmbox_attach(c, name, &box);
        if (r < 0) {
                shmbox_destroy(c, name);
                return r;
        }
        q->inbox = box;
        strcpy(q->inbox_name, name);
        q->next_id = random_u64();
        return 0;
}

/* Milliseconds left until @deadline (CLOCK_MONOTONIC), rounded up; 0 once it passed. */
static int ms_left(const struct timespec *deadline) {
        struct timespec now;
        int64_t ns;

        clock_gettime(CLOCK_MONOTONIC, &now);
        ns = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000000000 + (deadline->tv_nsec - now.tv_nsec);
        if (ns <= 0)
                return 0;
        return (int)MIN((ns + 999999) / 1000000, (int64_t)INT32_MAX);
}

SHMBOX_PUBLIC ssize_t shmbox_request(shmbox *box, const void *req, size_t len, void *reply_buf, size_t cap,
                                     int timeout_ms) {
        uint8_t hdr[SLOT_HDR_MAX];
        struct timespec deadline;
        ClientRequests *q;
        uint32_t hlen;
        uint64_t id;
        Request got;
        ssize_t k;
        int r;

        if (!box || (!req && len > 0) || (!reply_buf && cap > 0) || timeout_ms < -1)
                return -EINVAL;
        if (box->fork_gen != atomic_load(&client_fork_generation))
                return -ESTALE;
        if (!box->client || !box->mapped)
                return -ENOTCONN;
        if (timeout_ms > 0) {
                clock_gettime(CLOCK_MONOTONIC, &deadline);
                deadline.tv_sec += timeout_ms / 1000;
                deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
                if (deadline.tv_nsec >= 1000000000) {
                        deadline.tv_sec++;
                        deadline.tv_nsec -= 1000000000;
                }
        }
        r = requests_get(box->client, &q);
        if (r < 0)
                return r;
        if (!q->inbox) {
                r = inbox_open(box->client, q, box->ring.geo.slot_size);
                if (r < 0)
                        return r;
        }
        id = q->next_id++;
        hlen = (uint32_t)request_encode(hdr, id, q->inbox_name);
        r = box_send_hdr(box, hdr, hlen, req, len, timeout_ms > 0 ? ms_left(&deadline) : timeout_ms);
        if (r < 0)
                return r;
        /* Each turn consumes one message of our own mailbox, so the loop ends: with the reply,
         * an error, or the deadline. */
        for (;;) {
                int t = timeout_ms > 0 ? ms_left(&deadline) : timeout_ms;

                k = box_recv_hdr(q->inbox, hdr, &hlen, reply_buf, cap, SIZE_MAX, t);
                if (k == -EAGAIN && timeout_ms > 0)
                        k = -ETIMEDOUT; /* the deadline came while late replies were taken */
                if (k == -EIDRM) {      /* destroyed under us (by its owner): made again next time */
                        shmbox_detach(TAKE_PTR(q->inbox));
                        return k;
                }
                if (k < 0)
                        return k;
                if (hlen > 0 && request_decode(hdr, hlen, &got) == 0 && got.id == id && !got.reply_to[0])
                        return (size_t)k > cap ? -EMSGSIZE : k;
                q->discarded++; /* a late reply to an earlier request, or not a reply at all */
        }
}

SHMBOX_PUBLIC ssize_t shmbox_recv_request(shmbox *box, void *buf, size_t cap, struct shmbox_request_info *ret_info,
                                          int timeout_ms) {
        uint8_t hdr[SLOT_HDR_MAX];
        uint32_t hlen;
        Request got = {};
        ssize_t k;

        if (!box || !ret_info)
                return -EINVAL;
        k = box_recv_hdr(box, hdr, &hlen, buf, cap, cap, timeout_ms);
        if (k < 0)
                return k;
        if (hlen > 0 && request_decode(hdr, hlen, &got) < 0)
                return -EBADMSG; /* consumed: the next call goes on with the next message */
        *ret_info = (struct shmbox_request_info){ .id = got.id };
        strcpy(ret_info->reply_to, got.reply_to);
        return k;
}

/* The reply box for @name, attached through @c: from the cache, else attached now in place
 * of the one used longest ago. */
static int reply_to_get(shmbox_client *c, ClientRequests *q, const char *name, ReplyTo **ret) {
        ReplyTo *victim = &q->cache[0];
        shmbox *box;
        int r;

        for (unsigned i = 0; i < REQUEST_CACHE; i++) {
                ReplyTo *t = &q->cache[i];

                if (t->box && strcmp(t->name, name) == 0) {
                        *ret = t;
                        return 0;
                }
                if (!t->box || (victim->box && t->used < victim->used))
                        victim = t;
        }
        r = shmbox_attach(c, name, &box);
        if (r < 0)
                return r;
        reply_to_done(victim);
        victim->box = box;
        strcpy(victim->name, name);
        *ret = victim;
        return 0;
}

SHMBOX_PUBLIC int shmbox_reply(shmbox_client *client, const struct shmbox_request_info *info, const void *data,
                               size_t len) {
        uint8_t hdr[REQUEST_HDR_MAX];
        ClientRequests *q;
        ReplyTo *t;
        size_t hlen;
        int r;

        if (!client || !info || (!data && len > 0))
                return -EINVAL;
        if (!info->reply_to[0])
                return -EDESTADDRREQ;
        if (!names_mailbox_valid(info->reply_to) || strnlen(info->reply_to, sizeof(info->reply_to)) > NAMES_NAME_MAX)
                return -EINVAL;
        if (client->fork_gen != atomic_load(&client_fork_generation))
                return -ESTALE;
        r = requests_get(client, &q);
        if (r < 0)
                return r;
        r = reply_to_get(client, q, info->reply_to, &t);
        if (r < 0)
                return r;
        t->used = ++q->clock;
        hlen = request_encode(hdr, info->id, NULL);
        r = box_send_hdr(t->box, hdr, hlen, data, len, 0);
        if (r == -EIDRM || r == -ESTALE || r == -ENOTCONN)
                reply_to_done(t); /* the requester is gone: attach afresh if the name comes back */
        return r;
}

SHMBOX_PUBLIC uint64_t shmbox_request_discarded(const shmbox_client *client) {
        return client && client->requests ? client->requests->discarded : 0;
}
