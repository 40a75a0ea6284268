/* SPDX-License-Identifier: MIT */
/* transport.c — the transports behind one interface, each the way a user would set it up.
 *
 * A Channel carries messages of one size in one direction. The driver creates it before it
 * forks the workers (pipes and socket pairs must exist then; named objects are created here so
 * that creation cost stays out of the measurement), and each worker opens its end by itself:
 * shmbox and the POSIX queue and the naive ring by name, through their own connection or
 * mapping, as separate programs would. Stream transports (pipe, Unix socket) carry fixed-size
 * frames of the channel's message size; the others keep message boundaries themselves.
 * iceoryx (bench/iceoryx.c) has nothing to create: a channel is a name, and each worker's end
 * is a publisher or a subscriber of it; its messages are loaned chunks (endpoint_loan() and
 * the rest), and endpoint_send/recv copy into and out of them.
 *
 * The peers of issue 17: Boost's message_queue (bench/boost-mq.cc) and the polling SPSC ring
 * (bench/spsc.c) are named segments like the naive ring, created here and opened by name.
 * ZeroMQ (bench/zmqipc.c) has nothing to create either: a channel is a socket file's path in
 * the run's private directory, bound by the receiving end. A round-trip worker opens its two
 * ends with endpoint_open_duplex(), which for ZeroMQ makes them one PAIR socket that carries
 * both directions, as a ZeroMQ user would; the other transports get two ends as usual.
 */
#include "config.h"

#include "bench/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/boost-mq.h"
#include "bench/iceoryx.h"
#include "bench/naive.h"
#include "bench/spsc.h"
#include "bench/zmqipc.h"
#include "proto/util.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* The shmbox variants share everything but the calls the workers make. */
static bool is_shmbox(TransportId t) {
        return t == TRANSPORT_SHMBOX || t == TRANSPORT_ZEROCOPY || t == TRANSPORT_BATCH;
}

struct Channel {
        TransportId t;
        size_t size;
        unsigned depth;
        char name[128];  /* shmbox: the mailbox; mq: "/<prefix>-mqK"; naive: "/<prefix>-naiveK";
                         * iceoryx: the event, "chK-<size>-<serial>"; boost: "<prefix>-boostK";
                         * spsc: "/<prefix>-spscK"; zmq: the socket file, "<dir>/zmqK-<serial>" */
        unsigned serial; /* zmq: the order of creation (endpoint_open_duplex() binds the first) */
        int fd[2];       /* pipe, unix: [0] is read by the receiver, [1] written by the sender */
        shmbox_client *client;
};

struct Endpoint {
        TransportId t;
        size_t size;
        int fd;
        mqd_t mq;
        NaiveRing *naive;
        IceoryxEnd *iox;
        BoostQueue *boost;
        SpscRing *spsc;
        ZmqEnd *zmq;
        bool zmq_borrowed; /* the other end of a duplex pair owns the socket */
        shmbox_client *client;
        shmbox *box;
};

static const struct {
        const char *name, *title;
} transports[_TRANSPORT_MAX] = {
        [TRANSPORT_SHMBOX] = { "shmbox", "shmbox_send/shmbox_recv: copy in, copy out" },
        [TRANSPORT_ZEROCOPY] = { "zerocopy", "shmbox_reserve/commit, shmbox_peek/release: the sender fills "
                                             "the slot (memset), the receiver reads all of it in place" },
        [TRANSPORT_BATCH] = { "batch", "shmbox_send_many/recv_many, " STRINGIFY(
                                               TRANSPORT_BATCH_N) " messages a call, half the channel at most (1 MiB: "
                                                                  "4), copy in, copy out" },
        [TRANSPORT_PIPE] = { "pipe", "pipe" },
        [TRANSPORT_UNIX] = { "unix", "Unix stream socket" },
        [TRANSPORT_MQ] = { "mq", "POSIX mq" },
        [TRANSPORT_NAIVE] = { "naive", "naive shm ring, 3 named semaphores, copy under lock" },
        [TRANSPORT_ICEORYX] = { "iceoryx", "iceoryx 2.0 C binding, own RouDi: loan a chunk, fill it (memset), "
                                           "publish; take, check and read all of it in place, release" },
        [TRANSPORT_BOOST] = { "boost", "Boost.Interprocess message_queue: process-shared mutex and condition "
                                       "variables, blocking send/receive (copy in, copy out)" },
        [TRANSPORT_ZMQ] = { "zmq", "ZeroMQ (libzmq C API) over ipc://: PUSH/PULL, SNDHWM = RCVHWM = the depth; "
                                   "round trips over one PAIR socket" },
        [TRANSPORT_SPSC] = { "spsc", "the limit: a polling SPSC ring in shm, C11 atomics, head and tail on their "
                                     "own lines, no lock, never sleeps (copy in, copy out)" },
};

/* transport_name() - the short name (--only, JSON) of @t */
const char *transport_name(TransportId t) {
        return transports[t].name;
}

/* transport_title() - what @t is, for the table's legend */
const char *transport_title(TransportId t) {
        return transports[t].title;
}

/* transport_from_name() - Return: the TransportId named @name, or -ENOENT */
int transport_from_name(const char *name) {
        for (int t = 0; t < _TRANSPORT_MAX; t++)
                if (strcmp(name, transports[t].name) == 0)
                        return t;
        return -ENOENT;
}

/* transport_not_built() - why @t is not in this build (for the legend), or NULL if it is */
const char *transport_not_built(TransportId t) {
        switch (t) {
        case TRANSPORT_ICEORYX: return iceoryx_not_built();
        case TRANSPORT_BOOST: return boost_mq_not_built();
        case TRANSPORT_ZMQ: return zmqipc_not_built();
        default: return NULL;
        }
}

/*
 * channel_new() - create channel number @k of transport @t for messages of @msg_size bytes
 * @depth: messages the channel holds (shmbox slots, mq maxmsg, naive, boost and spsc slots,
 *         ZeroMQ's high-water marks); pipes and sockets keep their default buffers, as an
 *         application would
 *
 * Return: 0 and @ret, freed (and its named objects removed) with channel_free(); -EDQUOT if the
 *         system's limits do not allow the channel (POSIX mq: msgsize_max, or not even one
 *         message within RLIMIT_MSGQUEUE); -EOPNOTSUPP if @t is not in this build
 *         (transport_not_built()); another negative errno.
 */
int channel_new(TransportId t, const TransportEnv *env, unsigned k, size_t msg_size, unsigned depth, Channel **ret) {
        Channel *c;
        int r = 0;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        *c = (Channel){ .t = t, .size = msg_size, .depth = depth, .fd = { -1, -1 } };

        switch (t) {
        case TRANSPORT_SHMBOX:
        case TRANSPORT_ZEROCOPY:
        case TRANSPORT_BATCH: {
                struct shmbox_config cfg = { .slots = depth, .slot_size = (uint32_t)msg_size, .mode = 0600 };

                snprintf(c->name, sizeof(c->name), "bench%u", k);
                r = shmbox_create(env->client, c->name, &cfg);
                if (r == 0)
                        c->client = env->client;
                break;
        }
        case TRANSPORT_PIPE:
                if (pipe2(c->fd, O_CLOEXEC) < 0)
                        r = -errno;
                break;
        case TRANSPORT_UNIX: {
                int sv[2];

                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                        r = -errno;
                else {
                        c->fd[0] = sv[0];
                        c->fd[1] = sv[1];
                }
                break;
        }
        case TRANSPORT_MQ: {
                struct mq_attr attr = { .mq_maxmsg = depth, .mq_msgsize = (long)msg_size };
                mqd_t q;

                /* RLIMIT_MSGQUEUE caps the bytes of all of a user's queues (EMFILE), and only
                 * CAP_SYS_RESOURCE raises it: a queue gets as many messages as fit, as an
                 * application would have to do. */
                snprintf(c->name, sizeof(c->name), "/%s-mq%u", env->prefix, k);
                for (;;) {
                        q = mq_open(c->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
                        if (q != (mqd_t)-1 || errno != EMFILE || attr.mq_maxmsg <= 1)
                                break;
                        attr.mq_maxmsg--;
                }
                if (q == (mqd_t)-1) {
                        r = errno == EINVAL || errno == EMFILE || errno == ENOMEM ? -EDQUOT : -errno;
                        c->name[0] = '\0';
                } else {
                        mq_close(q);
                        c->depth = (unsigned)attr.mq_maxmsg;
                }
                break;
        }
        case TRANSPORT_NAIVE:
                snprintf(c->name, sizeof(c->name), "/%s-naive%u", env->prefix, k);
                r = naive_create(c->name, depth, msg_size);
                if (r < 0)
                        c->name[0] = '\0';
                break;
        case TRANSPORT_ICEORYX: {
                /* a new name each time: RouDi keeps a dead worker's ports for a while */
                static unsigned serial;

                if (iceoryx_not_built())
                        r = -EOPNOTSUPP;
                else
                        snprintf(c->name, sizeof(c->name), "ch%u-%zu-%u", k, msg_size, serial++);
                break;
        }
        case TRANSPORT_BOOST:
                snprintf(c->name, sizeof(c->name), "%s-boost%u", env->prefix, k);
                r = boost_mq_create(c->name, depth, msg_size);
                break;
        case TRANSPORT_SPSC:
                snprintf(c->name, sizeof(c->name), "/%s-spsc%u", env->prefix, k);
                r = spsc_create(c->name, depth, msg_size);
                break;
        case TRANSPORT_ZMQ: {
                /* a new path each time: a worker killed in a failed run may leave its file */
                static unsigned serial;

                if (zmqipc_not_built())
                        r = -EOPNOTSUPP;
                else if (!env->dir)
                        r = -EINVAL;
                /* sun_path holds 108 bytes */
                else if ((size_t)snprintf(c->name, sizeof(c->name), "%s/zmq%u-%u", env->dir, k, serial) >= 100)
                        r = -ENAMETOOLONG;
                else
                        c->serial = serial++;
                break;
        }
        default: r = -EINVAL;
        }
        if (r < 0) {
                c->name[0] = '\0';
                channel_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

/* channel_transport() - the transport of @c */
const char *channel_name(const Channel *c) {
        return c->name;
}

TransportId channel_transport(const Channel *c) {
        return c->t;
}

/* channel_depth() - how many messages @c holds: the requested depth, or fewer for a POSIX
 * queue that had to fit RLIMIT_MSGQUEUE; 0 for pipes and sockets (their kernel buffers) */
unsigned channel_depth(const Channel *c) {
        return c->t == TRANSPORT_PIPE || c->t == TRANSPORT_UNIX ? 0 : c->depth;
}

unsigned transport_batch_n(const Channel *c) {
        return MAX(1u, MIN((unsigned)TRANSPORT_BATCH_N, channel_depth(c) / 2));
}

/* channel_free() - close the channel and remove its named objects; NULL is accepted.
 * Returns NULL. */
Channel *channel_free(Channel *c) {
        if (!c)
                return NULL;
        safe_close(c->fd[0]);
        safe_close(c->fd[1]);
        if (c->name[0]) {
                if (is_shmbox(c->t) && c->client)
                        (void)shmbox_destroy(c->client, c->name);
                else if (c->t == TRANSPORT_MQ)
                        (void)mq_unlink(c->name);
                else if (c->t == TRANSPORT_NAIVE)
                        naive_unlink(c->name);
                else if (c->t == TRANSPORT_BOOST)
                        boost_mq_unlink(c->name);
                else if (c->t == TRANSPORT_SPSC)
                        spsc_unlink(c->name);
                else if (c->t == TRANSPORT_ZMQ)
                        (void)unlink(c->name); /* normally gone with its binding socket */
        }
        free(c);
        return NULL;
}

/*
 * endpoint_open() - open the sending or the receiving end of @c in this (worker) process
 *
 * shmbox: a connection of its own to the daemon and an attachment; mq, naive, boost and spsc:
 * by name; zmq: a PULL socket that binds the channel's path, or a PUSH socket that connects to
 * it (once connected: it may wait up to 20 s for the receiver to bind).
 *
 * Return: 0 and @ret, freed with endpoint_free(); a negative errno.
 */
int endpoint_open(const Channel *c, const TransportEnv *env, bool sender, Endpoint **ret) {
        Endpoint *e;
        int r = 0;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        *e = (Endpoint){ .t = c->t, .size = c->size, .fd = -1, .mq = (mqd_t)-1 };

        switch (c->t) {
        case TRANSPORT_SHMBOX:
        case TRANSPORT_ZEROCOPY:
        case TRANSPORT_BATCH:
                r = shmbox_connect(env->socket, &e->client);
                if (r == 0)
                        r = shmbox_attach(e->client, c->name, &e->box);
                if (r == 0 && env->spin_us >= 0)
                        r = shmbox_set_spin(e->box, (unsigned)env->spin_us);
                break;
        case TRANSPORT_PIPE:
        case TRANSPORT_UNIX:
                e->fd = fcntl(c->fd[sender ? 1 : 0], F_DUPFD_CLOEXEC, 3);
                if (e->fd < 0)
                        r = -errno;
                break;
        case TRANSPORT_MQ:
                e->mq = mq_open(c->name, (sender ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
                if (e->mq == (mqd_t)-1)
                        r = -errno;
                break;
        case TRANSPORT_NAIVE: r = naive_open(c->name, &e->naive); break;
        case TRANSPORT_ICEORYX: r = iceoryx_end_open(env->prefix, c->name, c->size, c->depth, sender, &e->iox); break;
        case TRANSPORT_BOOST: r = boost_mq_open(c->name, &e->boost); break;
        case TRANSPORT_SPSC: r = spsc_open(c->name, &e->spsc); break;
        case TRANSPORT_ZMQ: r = zmqipc_open(c->name, sender ? ZMQIPC_PUSH : ZMQIPC_PULL, c->depth, &e->zmq); break;
        default: r = -EINVAL;
        }
        if (r < 0) {
                endpoint_free(e);
                return r;
        }
        *ret = e;
        return 0;
}

/*
 * endpoint_open_duplex() - open the ends of a worker that receives on @in and sends on @out (a
 * round trip's pinger or ponger)
 *
 * ZeroMQ: one PAIR socket carries both directions; the worker that receives on the channel made
 * first binds its path, the other connects to it. The others: endpoint_open() on each.
 *
 * Return: 0, @ret_in and @ret_out, each freed with endpoint_free() (in any order); a negative
 *         errno, and then neither is set.
 */
int endpoint_open_duplex(const Channel *in, const Channel *out, const TransportEnv *env, Endpoint **ret_in,
                         Endpoint **ret_out) {
        Endpoint *a = NULL, *b = NULL;
        int r;

        if (in->t != TRANSPORT_ZMQ || out->t != TRANSPORT_ZMQ) {
                r = endpoint_open(in, env, false, &a);
                if (r == 0)
                        r = endpoint_open(out, env, true, &b);
                if (r < 0) {
                        endpoint_free(a);
                        return r;
                }
                *ret_in = a;
                *ret_out = b;
                return 0;
        }
        a = calloc(1, sizeof(*a));
        b = calloc(1, sizeof(*b));
        if (!a || !b) {
                free(a);
                free(b);
                return -ENOMEM;
        }
        *a = (Endpoint){ .t = in->t, .size = in->size, .fd = -1, .mq = (mqd_t)-1 };
        *b = (Endpoint){ .t = out->t, .size = out->size, .fd = -1, .mq = (mqd_t)-1, .zmq_borrowed = true };
        r = in->serial < out->serial ? zmqipc_open(in->name, ZMQIPC_PAIR_BIND, MIN(in->depth, out->depth), &a->zmq)
                                     : zmqipc_open(out->name, ZMQIPC_PAIR_CONNECT, MIN(in->depth, out->depth), &a->zmq);
        if (r < 0) {
                free(a);
                free(b);
                return r;
        }
        b->zmq = a->zmq;
        *ret_in = a;
        *ret_out = b;
        return 0;
}

/* endpoint_free() - close this end (shmbox: detach and disconnect); NULL is accepted.
 * Returns NULL. */
Endpoint *endpoint_free(Endpoint *e) {
        if (!e)
                return NULL;
        shmbox_detach(e->box);
        shmbox_disconnect(e->client);
        safe_close(e->fd);
        if (e->mq != (mqd_t)-1)
                mq_close(e->mq);
        naive_close(e->naive);
        iceoryx_end_free(e->iox);
        boost_mq_close(e->boost);
        spsc_close(e->spsc);
        if (!e->zmq_borrowed)
                zmqipc_free(e->zmq);
        free(e);
        return NULL;
}

static int write_all(int fd, const uint8_t *p, size_t len, bool socket) {
        while (len > 0) {
                ssize_t n = socket ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/* One frame of exactly @len bytes; -EPIPE at end of stream. */
static ssize_t read_frame(int fd, uint8_t *p, size_t len) {
        size_t got = 0;

        while (got < len) {
                ssize_t n = read(fd, p + got, len - got);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EPIPE;
                got += (size_t)n;
        }
        return (ssize_t)len;
}

/*
 * endpoint_send() - send one message of @len bytes (stream transports: exactly the channel's
 * message size), blocking while the channel is full
 *
 * The shmbox variants take the copy path here; the workers make their own calls through
 * endpoint_box().
 *
 * Return: 0; a negative errno.
 */
int endpoint_send(Endpoint *e, const void *buf, size_t len) {
        switch (e->t) {
        case TRANSPORT_SHMBOX:
        case TRANSPORT_ZEROCOPY:
        case TRANSPORT_BATCH: return shmbox_send(e->box, buf, len, -1);
        case TRANSPORT_PIPE:
        case TRANSPORT_UNIX:
                if (len != e->size)
                        return -EINVAL;
                return write_all(e->fd, buf, len, e->t == TRANSPORT_UNIX);
        case TRANSPORT_MQ:
                while (mq_send(e->mq, buf, len, 0) < 0)
                        if (errno != EINTR)
                                return -errno;
                return 0;
        case TRANSPORT_NAIVE: return naive_send(e->naive, buf, len);
        case TRANSPORT_ICEORYX: {
                void *chunk;
                int r;

                if (len != e->size)
                        return -EINVAL;
                r = iceoryx_loan(e->iox, &chunk);
                if (r < 0)
                        return r;
                memcpy(chunk, buf, len);
                return iceoryx_publish(e->iox, chunk);
        }
        case TRANSPORT_BOOST: return boost_mq_send(e->boost, buf, len);
        case TRANSPORT_SPSC: return spsc_send(e->spsc, buf, len);
        case TRANSPORT_ZMQ: return zmqipc_send(e->zmq, buf, len);
        default: return -EINVAL;
        }
}

/*
 * endpoint_recv() - receive one message into @buf (@cap at least the channel's message size)
 * @timeout_ms: -1 blocks until a message comes; > 0 at most that long
 *
 * Return: its length; -ETIMEDOUT; -EPIPE if a stream ended; another negative errno.
 */
ssize_t endpoint_recv(Endpoint *e, void *buf, size_t cap, int timeout_ms) {
        struct timespec until;
        ssize_t n;

        if (cap < e->size)
                return -EINVAL;
        switch (e->t) {
        case TRANSPORT_SHMBOX:
        case TRANSPORT_ZEROCOPY:
        case TRANSPORT_BATCH: return shmbox_recv(e->box, buf, cap, timeout_ms);
        case TRANSPORT_PIPE:
        case TRANSPORT_UNIX:
                if (timeout_ms >= 0) {
                        struct pollfd p = { .fd = e->fd, .events = POLLIN };
                        int k;

                        do
                                k = poll(&p, 1, timeout_ms);
                        while (k < 0 && errno == EINTR);
                        if (k < 0)
                                return -errno;
                        if (k == 0)
                                return -ETIMEDOUT;
                }
                return read_frame(e->fd, buf, e->size);
        case TRANSPORT_MQ:
                if (timeout_ms >= 0) {
                        clock_gettime(CLOCK_REALTIME, &until);
                        until.tv_sec += timeout_ms / 1000;
                        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
                        if (until.tv_nsec >= 1000000000L) {
                                until.tv_sec++;
                                until.tv_nsec -= 1000000000L;
                        }
                }
                do
                        n = timeout_ms >= 0 ? mq_timedreceive(e->mq, buf, cap, NULL, &until)
                                            : mq_receive(e->mq, buf, cap, NULL);
                while (n < 0 && errno == EINTR);
                return n < 0 ? -errno : n;
        case TRANSPORT_NAIVE: return naive_recv(e->naive, buf, cap, timeout_ms);
        case TRANSPORT_ICEORYX: {
                const void *chunk;

                n = iceoryx_take(e->iox, timeout_ms, &chunk);
                if (n < 0)
                        return n;
                memcpy(buf, chunk, (size_t)n);
                iceoryx_release(e->iox, chunk);
                return n;
        }
        case TRANSPORT_BOOST: return boost_mq_recv(e->boost, buf, cap, timeout_ms);
        case TRANSPORT_SPSC: return spsc_recv(e->spsc, buf, cap, timeout_ms);
        case TRANSPORT_ZMQ: return zmqipc_recv(e->zmq, buf, cap, timeout_ms);
        default: return -EINVAL;
        }
}

/* endpoint_box() - the attached box of a shmbox end (for the variants' own calls), else NULL */
shmbox *endpoint_box(Endpoint *e) {
        return e->box;
}

/*
 * endpoint_loan() - a message of the channel's size to fill in place, then endpoint_publish()
 *
 * Return: 0 and @ret; -EOPNOTSUPP but for iceoryx; another negative errno (iceoryx_loan()).
 */
int endpoint_loan(Endpoint *e, void **ret) {
        return e->t == TRANSPORT_ICEORYX ? iceoryx_loan(e->iox, ret) : -EOPNOTSUPP;
}

/* endpoint_publish() - send a message from endpoint_loan(). Return: 0; a negative errno. */
int endpoint_publish(Endpoint *e, void *msg) {
        return e->t == TRANSPORT_ICEORYX ? iceoryx_publish(e->iox, msg) : -EOPNOTSUPP;
}

/*
 * endpoint_take() - the next message, in place, to give back with endpoint_release()
 * @timeout_ms: -1 blocks until a message comes; >= 0 at most that long
 *
 * Return: its length and @ret; -ETIMEDOUT; -EOPNOTSUPP but for iceoryx; another negative errno.
 */
ssize_t endpoint_take(Endpoint *e, int timeout_ms, const void **ret) {
        return e->t == TRANSPORT_ICEORYX ? iceoryx_take(e->iox, timeout_ms, ret) : -EOPNOTSUPP;
}

/* endpoint_release() - give back a message from endpoint_take() */
void endpoint_release(Endpoint *e, const void *msg) {
        if (e->t == TRANSPORT_ICEORYX)
                iceoryx_release(e->iox, msg);
}
