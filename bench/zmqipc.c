/* SPDX-License-Identifier: MIT */
/* zmqipc.c — the benchmark's ZeroMQ row: libzmq's C API over ipc://, the way a C team would use
 * it for a local queue.
 *
 * One-way runs use PUSH (the sender) and PULL (the receiver), round trips one PAIR connection
 * that carries the pings and the echoes. Every socket has SNDHWM and RCVHWM equal to the
 * channel's depth, so that a sender blocks in zmq_send() once that many messages wait at each
 * end (plus what the kernel's socket buffer holds between them). zmq_send() and zmq_recv() copy
 * the message in and out, as shmbox_send/recv do.
 *
 * The receiving side (PULL; for PAIR the side that receives on the first channel) binds the
 * ipc:// path, which lies in the driver's private temporary directory; the other connects. The
 * connecting side waits, before it reports ready, until the connection's handshake is done
 * (a socket monitor's ZMQ_EVENT_HANDSHAKE_SUCCEEDED), so that no measurement includes
 * connecting or a reconnect interval. Each end has its own context (libzmq's I/O thread counts
 * in the worker's CPU time), created in the worker after the fork.
 *
 * Closing: libzmq 4.3.4 loses the last messages of a PUSH that disconnects while its PULL is at
 * RCVHWM, although the sender's linger delivered them to the socket (a PUSH of 100,000 messages
 * of 64 B, HWM 64, closed right after its last send: the PULL got 99,466 to 99,917 of them in 5
 * of 6 runs; the benchmark's receivers hung waiting for the end marker). So the connecting side
 * keeps its monitor, which then reports the disconnection only (no cost per message), and on
 * closing first waits, at most LINGER_MS, until the other side has closed: a receiver closes
 * once it has the end marker, and a round trip's binder once it has the pinger's. Then the
 * socket closes with a linger of LINGER_MS for anything still queued. libzmq
 * removes the socket file when the binding socket closes; the driver removes the path too
 * (channel_free()) and sweeps the temporary directory at the end, also on SIGINT and SIGTERM.
 */
#include "config.h"

#include "bench/zmqipc.h"

#include <errno.h>

#ifdef HAVE_ZMQ

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define LINGER_MS 30000     /* within the driver's grace for a run (bench/worker.c) */
#define CONNECT_MS 20000    /* a connecting side waits this long for its handshake */
#define RECONNECT_IVL_MS 10 /* a connect before the bind is tried again this soon */

struct ZmqEnd {
        void *ctx, *sock;
        void *mon; /* the connecting side: the monitor of its socket, for the disconnection */
};

static int64_t mono_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* zmqipc_not_built() - NULL: the ZeroMQ row is built */
const char *zmqipc_not_built(void) {
        return NULL;
}

/* Wait on @mon (a socket monitor's PAIR) for @want, skipping other events, at most @ms; 0,
 * -ETIMEDOUT or a negative errno. */
static int wait_event(void *mon, uint16_t want, int ms) {
        int64_t deadline = mono_ms() + ms;

        for (;;) {
                zmq_pollitem_t item = { .socket = mon, .events = ZMQ_POLLIN };
                int64_t left = deadline - mono_ms();
                uint16_t event;
                uint8_t frame[6];
                int more = 0, n;
                size_t len = sizeof(more);

                if (left <= 0)
                        return -ETIMEDOUT;
                n = zmq_poll(&item, 1, (long)left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -ETIMEDOUT;
                /* an event is two frames: 16 bits of event and 32 of value, then the address */
                n = zmq_recv(mon, frame, sizeof(frame), 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                memcpy(&event, frame, sizeof(event));
                while (zmq_getsockopt(mon, ZMQ_RCVMORE, &more, &len) == 0 && more) {
                        char addr[256];

                        if (zmq_recv(mon, addr, sizeof(addr), 0) < 0 && errno != EINTR)
                                return -errno;
                        len = sizeof(more);
                }
                if (n >= (int)sizeof(event) && event == want)
                        return 0;
        }
}

/* Connect @e->sock to @endpoint and wait until the handshake is done; @e->mon then reports the
 * disconnection (zmqipc_free()). */
static int connect_and_wait(ZmqEnd *e, const char *endpoint) {
        char monitor[64];
        int linger = 0;

        snprintf(monitor, sizeof(monitor), "inproc://shmbox-bench-monitor-%p", e->sock);
        if (zmq_socket_monitor(e->sock, monitor, ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) < 0)
                return -errno;
        e->mon = zmq_socket(e->ctx, ZMQ_PAIR);
        if (!e->mon)
                return -errno;
        (void)zmq_setsockopt(e->mon, ZMQ_LINGER, &linger, sizeof(linger));
        /* the monitor listens before the connect starts, so the event cannot be missed */
        if (zmq_connect(e->mon, monitor) < 0 || zmq_connect(e->sock, endpoint) < 0)
                return -errno;
        return wait_event(e->mon, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, CONNECT_MS);
}

/*
 * zmqipc_open() - open one end at the socket file @path in this (worker) process
 * @role: PULL, PAIR_BIND, REP and PUB bind @path; PUSH, PAIR_CONNECT, REQ and SUB (subscribed
 *        to every message) connect to it and return once the connection is up (at most
 *        CONNECT_MS after the other side has bound)
 * @hwm:  SNDHWM and RCVHWM, in messages
 *
 * Return: 0 and @ret, freed with zmqipc_free(); -ENAMETOOLONG; -ETIMEDOUT if no peer bound in
 *         time; another negative errno.
 */
int zmqipc_open(const char *path, ZmqRole role, unsigned hwm, ZmqEnd **ret) {
        static const int types[] = {
                [ZMQIPC_PUSH] = ZMQ_PUSH,         [ZMQIPC_PULL] = ZMQ_PULL, [ZMQIPC_PAIR_BIND] = ZMQ_PAIR,
                [ZMQIPC_PAIR_CONNECT] = ZMQ_PAIR, [ZMQIPC_REP] = ZMQ_REP,   [ZMQIPC_REQ] = ZMQ_REQ,
                [ZMQIPC_PUB] = ZMQ_PUB,           [ZMQIPC_SUB] = ZMQ_SUB,
        };
        int h = (int)hwm, linger = LINGER_MS, ivl = RECONNECT_IVL_MS, r = 0;
        char endpoint[160];
        ZmqEnd *e;

        if ((unsigned)role >= sizeof(types) / sizeof(types[0]) || hwm == 0 || hwm > INT32_MAX)
                return -EINVAL;
        if ((size_t)snprintf(endpoint, sizeof(endpoint), "ipc://%s", path) >= sizeof(endpoint))
                return -ENAMETOOLONG;
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->ctx = zmq_ctx_new();
        if (!e->ctx) {
                r = -errno;
                free(e);
                return r;
        }
        e->sock = zmq_socket(e->ctx, types[role]);
        if (!e->sock)
                r = -errno;
        else if (zmq_setsockopt(e->sock, ZMQ_SNDHWM, &h, sizeof(h)) < 0 ||
                 zmq_setsockopt(e->sock, ZMQ_RCVHWM, &h, sizeof(h)) < 0 ||
                 zmq_setsockopt(e->sock, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
                 zmq_setsockopt(e->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl)) < 0 ||
                 (role == ZMQIPC_SUB && zmq_setsockopt(e->sock, ZMQ_SUBSCRIBE, "", 0) < 0))
                r = -errno;
        else if (role == ZMQIPC_PULL || role == ZMQIPC_PAIR_BIND || role == ZMQIPC_REP || role == ZMQIPC_PUB)
                r = zmq_bind(e->sock, endpoint) < 0 ? -errno : 0;
        else
                r = connect_and_wait(e, endpoint);
        if (r == 0 && role == ZMQIPC_SUB) {
                /* a subscriber sends nothing that its close could lose: no wait for the other
                 * side's close (the fan-out group saw a SUB's DISCONNECTED never come) */
                (void)zmq_socket_monitor(e->sock, NULL, 0);
                zmq_close(e->mon);
                e->mon = NULL;
        }
        if (r < 0) {
                zmqipc_free(e);
                return r;
        }
        *ret = e;
        return 0;
}

/* zmqipc_free() - close the socket and the context; the connecting side first waits until the
 * other side has closed (at most LINGER_MS: see above), and any side waits at most LINGER_MS for
 * what it still has to send. NULL is accepted. Returns NULL. */
ZmqEnd *zmqipc_free(ZmqEnd *e) {
        if (!e)
                return NULL;
        if (e->mon) {
                (void)wait_event(e->mon, ZMQ_EVENT_DISCONNECTED, LINGER_MS);
                (void)zmq_socket_monitor(e->sock, NULL, 0);
                zmq_close(e->mon);
        }
        if (e->sock)
                zmq_close(e->sock);
        if (e->ctx)
                while (zmq_ctx_term(e->ctx) < 0 && errno == EINTR)
                        ;
        free(e);
        return NULL;
}

/*
 * zmqipc_send() - send one message of @len bytes (copied), blocking while the high-water mark
 * is reached
 *
 * Return: 0; a negative errno.
 */
int zmqipc_send(ZmqEnd *e, const void *data, size_t len) {
        while (zmq_send(e->sock, data, len, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

/*
 * zmqipc_recv() - receive one message into @buf
 * @timeout_ms: -1 blocks until a message comes; >= 0 at most that long
 *
 * Return: its length; -ETIMEDOUT; -EMSGSIZE if it was longer than @cap (then it is lost);
 *         another negative errno.
 */
ssize_t zmqipc_recv(ZmqEnd *e, void *buf, size_t cap, int timeout_ms) {
        int n;

        if (timeout_ms >= 0) {
                int64_t deadline = mono_ms() + timeout_ms;

                for (;;) {
                        zmq_pollitem_t item = { .socket = e->sock, .events = ZMQ_POLLIN };
                        int64_t left = deadline - mono_ms();

                        n = zmq_poll(&item, 1, left > 0 ? (long)left : 0);
                        if (n > 0)
                                break;
                        if (n == 0)
                                return -ETIMEDOUT;
                        if (errno != EINTR)
                                return -errno;
                }
        }
        while ((n = zmq_recv(e->sock, buf, cap, 0)) < 0)
                if (errno != EINTR)
                        return -errno;
        return (size_t)n > cap ? -EMSGSIZE : n;
}

#else /* !HAVE_ZMQ: the row's stubs */

const char *zmqipc_not_built(void) {
        return "not run: this shmbox-bench was built without libzmq (Debian: libzmq3-dev, then configure again)";
}

int zmqipc_open(const char *path, ZmqRole role, unsigned hwm, ZmqEnd **ret) {
        return -EOPNOTSUPP;
}

ZmqEnd *zmqipc_free(ZmqEnd *e) {
        return NULL;
}

int zmqipc_send(ZmqEnd *e, const void *data, size_t len) {
        return -EOPNOTSUPP;
}

ssize_t zmqipc_recv(ZmqEnd *e, void *buf, size_t cap, int timeout_ms) {
        return -EOPNOTSUPP;
}

#endif
