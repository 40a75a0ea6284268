/* SPDX-License-Identifier: MIT */
/* client.c — libshmbox's control plane: the connection to shmboxd and the requests over it.
 *
 * A control call is a blocking request/reply exchange on the client's Unix socket, bounded by
 * CLIENT_CALL_TIMEOUT_MS. If the daemon goes away the connection is closed; the next control
 * call tries once to connect again (no thread, no timer: only when the caller asks for
 * something) and returns -ENOTCONN while no daemon answers. Attached boxes keep working
 * through shared memory all along (box.c), since the daemon is never on the message path.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "client/client.h"
#include "proto/ring.h"
#include "proto/util.h"

atomic_uint client_fork_generation;

static void atfork_child(void) {
        atomic_fetch_add(&client_fork_generation, 1);
}

__attribute__((constructor)) static void client_init(void) {
        pthread_atfork(NULL, NULL, atfork_child);
}

static bool client_forked(const shmbox_client *c) {
        return c->fork_gen != atomic_load_explicit(&client_fork_generation, memory_order_relaxed);
}

static void client_broken(shmbox_client *c) {
        c->fd = safe_close(c->fd);
}

static int64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

/* Read exactly @n bytes before @deadline (monotonic ms). EOF is -ENOTCONN. */
static int read_all(int fd, uint8_t *p, size_t n, int64_t deadline) {
        while (n > 0) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int64_t left = deadline - now_ms();
                int k;

                if (left <= 0)
                        return -ETIMEDOUT;
                k = poll(&pfd, 1, (int)MIN(left, INT32_MAX));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        continue;
                ssize_t got = recv(fd, p, n, 0);
                if (got < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (got == 0)
                        return -ENOTCONN;
                p += got;
                n -= (size_t)got;
        }
        return 0;
}

/* One request/reply exchange on the open socket. After -ENOTCONN, -ETIMEDOUT or -EPROTO the
 * connection is closed. */
static int client_exchange(shmbox_client *c, const WireMsg *req, WireMsg *ret, uint8_t **ret_frame) {
        _cleanup_free_ uint8_t *frame = NULL;
        uint8_t out[WIRE_HEADER_SIZE + WIRE_REQUEST_MAX];
        uint8_t hdr[WIRE_HEADER_SIZE];
        WireMsg m = *req, reply;
        size_t size;
        int64_t deadline = now_ms() + CLIENT_CALL_TIMEOUT_MS;
        int r;

        m.serial = ++c->serial;
        r = wire_encode(out, sizeof(out), &m);
        if (r < 0)
                return r;
        r = write_all(c->fd, out, (size_t)r);
        if (r == -EPIPE || r == -ECONNRESET) {
                client_broken(c);
                return -EPIPE; /* not delivered: client_call() may connect again and retry */
        }
        if (r >= 0)
                r = read_all(c->fd, hdr, sizeof(hdr), deadline);
        if (r >= 0)
                r = wire_frame_size(hdr, sizeof(hdr), true, &size);
        if (r >= 0) {
                frame = malloc(size);
                if (!frame)
                        return -ENOMEM;
                memcpy(frame, hdr, sizeof(hdr));
                r = read_all(c->fd, frame + sizeof(hdr), size - sizeof(hdr), deadline);
        }
        if (r >= 0)
                r = wire_decode_proto(frame, size, c->version, &reply);
        if (r >= 0 && (reply.serial != m.serial || reply.type != (m.type | WIRE_REPLY)))
                r = -EPROTO;
        if (r < 0) {
                client_broken(c);
                if (r == -ECONNRESET)
                        return -ENOTCONN;
                if (r == -EBADMSG || r == -EMSGSIZE)
                        return -EPROTO;
                return r;
        }
        *ret = reply;
        if (ret_frame)
                *ret_frame = TAKE_PTR(frame);
        return 0;
}

/* Open the socket and say hello; on success c->fd and c->prefix are set. We offer protocol
 * version WIRE_HELLO_VERSION; a daemon of version 1 refuses it with -EPROTO and is greeted
 * again with version 1 on the same connection (wire.h), so old daemons keep serving us. */
static int client_open(shmbox_client *c) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        WireMsg hello = { .type = WIRE_HELLO, .version = WIRE_HELLO_VERSION }, reply;
        int r;

        c->version = 0; /* HELLO decodes the same in every version */
        strcpy(sa.sun_path, c->socket_path);
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return -errno;
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                r = errno;
                c->fd = safe_close(c->fd);
                /* whatever connect() said, for the caller there is no daemon there */
                return r == EMFILE || r == ENFILE || r == ENOMEM ? -r : -ECONNREFUSED;
        }
        r = client_exchange(c, &hello, &reply, NULL);
        if (r >= 0 && reply.status == -EPROTO) {
                hello.version = WIRE_VERSION;
                r = client_exchange(c, &hello, &reply, NULL);
        }
        if (r == -ENOTCONN || r == -EPIPE)
                r = -ECONNREFUSED; /* accepted, then closed: not a daemon that serves us */
        if (r >= 0 && reply.status < 0)
                r = reply.status;
        if (r >= 0 &&
            (reply.version < WIRE_VERSION || reply.version > hello.version || !names_prefix_valid(reply.name)))
                r = -EPROTO;
        if (r < 0) {
                c->fd = safe_close(c->fd);
                return r;
        }
        strcpy(c->prefix, reply.name);
        c->version = reply.version;
        return 0;
}

/*
 * client_call() - send @req and wait for its reply, connecting again first if the daemon had
 * gone away
 * @ret:       the decoded reply (status included), written on success only
 * @ret_frame: NULL, or receives the reply frame (malloc'ed; LIST entries point into it)
 *
 * The reason of a refusal is kept for shmbox_last_error(); any other outcome clears it.
 *
 * Return: 0 when a reply arrived (its own status is in ret->status); -ENOTCONN if no daemon
 *         answers; -ESTALE in a child after fork(); -ETIMEDOUT; -EPROTO; -ENOMEM.
 */
int client_call(shmbox_client *c, const WireMsg *req, WireMsg *ret, uint8_t **ret_frame) {
        bool fresh = false;
        int r;

        c->last_error[0] = 0;
        if (client_forked(c))
                return -ESTALE;
        if (c->fd < 0) {
                if (client_open(c) < 0)
                        return -ENOTCONN;
                fresh = true;
        }
        r = client_exchange(c, req, ret, ret_frame);
        /* The connection was to a daemon that has gone since our last call, and the request
         * never left: connect to whoever serves the socket now, and send it there. */
        if (r == -EPIPE && !fresh) {
                if (client_open(c) < 0)
                        return -ENOTCONN;
                r = client_exchange(c, req, ret, ret_frame);
        }
        if (r >= 0 && ret->status < 0)
                strcpy(c->last_error, ret->reason);
        return r == -EPIPE ? -ENOTCONN : r;
}

static bool name_arg_ok(const char *name) {
        return names_mailbox_valid(name);
}

/* What a control call does first: a reason left by an earlier call no longer applies. */
bool client_begin(shmbox_client *c) {
        if (!c)
                return false;
        c->last_error[0] = 0;
        return true;
}

SHMBOX_PUBLIC int shmbox_connect(const char *socket_path, shmbox_client **ret) {
        _cleanup_free_ shmbox_client *c = NULL;
        int r;

        if (!ret)
                return -EINVAL;
        if (!socket_path)
                socket_path = getenv("SHMBOX_SOCKET");
        if (!socket_path || !*socket_path)
                socket_path = SHMBOX_DEFAULT_SOCKET;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        if (strlen(socket_path) >= sizeof(c->socket_path))
                return -ENAMETOOLONG;
        strcpy(c->socket_path, socket_path);
        c->fork_gen = atomic_load(&client_fork_generation);
        r = client_open(c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

SHMBOX_PUBLIC int shmbox_create(shmbox_client *client, const char *name, const struct shmbox_config *config) {
        WireMsg req = { .type = WIRE_CREATE }, reply;
        int r;

        if (!client_begin(client) || !name_arg_ok(name))
                return -EINVAL;
        if (config) {
                for (size_t i = 0; i < ELEMENTSOF(config->reserved); i++)
                        if (config->reserved[i] != 0)
                                return -EINVAL;
                if ((config->mode & ~0666u) || (config->flags & ~(SHMBOX_CONFIG_GID | SHMBOX_CONFIG_EPHEMERAL |
                                                                  SHMBOX_CONFIG_BROADCAST | SHMBOX_CONFIG_OVERWRITE)))
                        return -EINVAL;
                if ((config->flags & SHMBOX_CONFIG_OVERWRITE) && !(config->flags & SHMBOX_CONFIG_BROADCAST))
                        return -EINVAL;
                if (config->slots > SHMBOX_SLOTS_MAX || config->slot_size > SHMBOX_SLOT_SIZE_MAX)
                        return -EINVAL;
                req.slots = config->slots;
                req.slot_size = config->slot_size;
                req.mode = config->mode;
                req.flags = config->flags & SHMBOX_CONFIG_GID ? WIRE_CREATE_GID : 0;
                if (config->flags & SHMBOX_CONFIG_EPHEMERAL)
                        req.flags |= WIRE_CREATE_EPHEMERAL;
                if (config->flags & SHMBOX_CONFIG_BROADCAST)
                        req.flags |= WIRE_CREATE_BROADCAST;
                if (config->flags & SHMBOX_CONFIG_OVERWRITE)
                        req.flags |= WIRE_CREATE_OVERWRITE;
                req.gid = config->gid;
        }
        strcpy(req.name, name);
        r = client_call(client, &req, &reply, NULL);
        if (r < 0)
                return r;
        /* a daemon before protocol version 3 refuses the flag it does not know as -EINVAL */
        if (reply.status == -EINVAL && (req.flags & WIRE_CREATE_EPHEMERAL) && client->version < WIRE_HELLO_EPHEMERAL)
                return -EOPNOTSUPP;
        return reply.status;
}

SHMBOX_PUBLIC int shmbox_destroy(shmbox_client *client, const char *name) {
        WireMsg req = { .type = WIRE_DESTROY }, reply;
        int r;

        if (!client_begin(client) || !name_arg_ok(name))
                return -EINVAL;
        strcpy(req.name, name);
        r = client_call(client, &req, &reply, NULL);
        return r < 0 ? r : reply.status;
}

SHMBOX_PUBLIC int shmbox_chmod(shmbox_client *client, const char *name, uint32_t mode, uint32_t gid) {
        WireMsg req = { .type = WIRE_CHMOD, .mode = mode, .gid = gid }, reply;
        int r;

        if (!client_begin(client) || !name_arg_ok(name) || (mode != SHMBOX_KEEP && (mode & ~0666u)))
                return -EINVAL;
        strcpy(req.name, name);
        r = client_call(client, &req, &reply, NULL);
        return r < 0 ? r : reply.status;
}

SHMBOX_PUBLIC int shmbox_reload(shmbox_client *client) {
        WireMsg req = { .type = WIRE_RELOAD }, reply;
        int r;

        if (!client_begin(client))
                return -EINVAL;
        r = client_call(client, &req, &reply, NULL);
        return r < 0 ? r : reply.status;
}

void client_info_from_wire(struct shmbox_info *out, const WireInfo *in) {
        *out = (struct shmbox_info){
                .slots = in->slots,
                .slot_size = in->slot_size,
                .mode = in->mode,
                .queued = in->queued,
                .attached = in->attached,
                .uid = in->uid,
                .gid = in->gid,
                .sent = in->sent,
                .received = in->received,
                .recovered = in->recovered,
                .repairs = in->repairs,
                .lock_holder_pid = in->lock_holder_pid,
                .orphaned = in->orphaned,
                .claimed = in->claimed,
                .taken = in->taken,
                .oldest_claimed_pid = in->oldest_claimed_pid,
                .oldest_taken_pid = in->oldest_taken_pid,
                .oldest_claimed_age_ms = in->oldest_claimed_age_ms,
                .oldest_taken_age_ms = in->oldest_taken_age_ms,
                .corrupt = in->corrupt,
                .owner_pid = in->owner_pid,
                .flags = (in->flags & WIRE_INFO_EPHEMERAL ? SHMBOX_INFO_EPHEMERAL : 0) |
                         (in->flags & WIRE_INFO_BROADCAST ? SHMBOX_INFO_BROADCAST : 0) |
                         (in->flags & WIRE_INFO_OVERWRITE ? SHMBOX_INFO_OVERWRITE : 0),
        };
}

_Static_assert(SHMBOX_INFO_CORRUPT_POSITIONS == RING_CORRUPT_POSITIONS &&
                       SHMBOX_INFO_CORRUPT_SLOT == RING_CORRUPT_SLOT &&
                       SHMBOX_INFO_CORRUPT_LENGTH == RING_CORRUPT_LENGTH &&
                       SHMBOX_INFO_CORRUPT_LOCK == RING_CORRUPT_LOCK &&
                       SHMBOX_INFO_CORRUPT_COUNTERS == RING_CORRUPT_COUNTERS &&
                       SHMBOX_INFO_CORRUPT_SEGMENT == RING_CORRUPT_SEGMENT &&
                       SHMBOX_INFO_CORRUPT_META == RING_CORRUPT_META,
               "the corruption bits pass from the daemon to the caller unchanged");
_Static_assert(sizeof(struct shmbox_info) == 120, "struct shmbox_info keeps its size (fields from reserved words)");
_Static_assert(offsetof(struct shmbox_info, owner_pid) == 100 && offsetof(struct shmbox_info, flags) == 104 &&
                       offsetof(struct shmbox_info, reserved) == 112,
               "owner_pid and flags sit where reserved32 and reserved[0] were (shmbox 0.3)");

SHMBOX_PUBLIC int shmbox_info(shmbox_client *client, const char *name, struct shmbox_info *ret) {
        WireMsg req = { .type = WIRE_INFO }, reply;
        int r;

        if (!client_begin(client) || !name_arg_ok(name) || !ret)
                return -EINVAL;
        strcpy(req.name, name);
        r = client_call(client, &req, &reply, NULL);
        if (r < 0)
                return r;
        if (reply.status < 0)
                return reply.status;
        client_info_from_wire(ret, &reply.info);
        return 0;
}

SHMBOX_PUBLIC int shmbox_list(shmbox_client *client, struct shmbox_entry **ret, size_t *ret_count) {
        _cleanup_free_ uint8_t *frame = NULL;
        _cleanup_free_ struct shmbox_entry *entries = NULL;
        WireMsg req = { .type = WIRE_LIST }, reply;
        const uint8_t *pos;
        size_t n = 0;
        int r;

        if (!client_begin(client) || !ret || !ret_count)
                return -EINVAL;
        r = client_call(client, &req, &reply, &frame);
        if (r < 0)
                return r;
        if (reply.status < 0)
                return reply.status;
        entries = calloc(reply.list_count ? reply.list_count : 1, sizeof(*entries));
        if (!entries)
                return -ENOMEM;
        pos = reply.list;
        for (;;) {
                WireInfo info;

                r = wire_list_next(&pos, reply.list + reply.list_len, reply.proto, entries[n].name, &info);
                if (r < 0)
                        return -EPROTO;
                if (r == 0)
                        break;
                client_info_from_wire(&entries[n].info, &info);
                n++;
        }
        *ret = TAKE_PTR(entries);
        *ret_count = n;
        return 0;
}

SHMBOX_PUBLIC const char *shmbox_last_error(const shmbox_client *client) {
        return client ? client->last_error : "";
}

SHMBOX_PUBLIC const char *shmbox_strerror(int err) {
        switch (err) {
        case 0: return "success";
        case -ENOENT: return "no such mailbox";
        case -EEXIST: return "mailbox already exists";
        case -EINVAL: return "invalid argument";
        case -EACCES: return "permission denied";
        case -EPERM: return "operation not permitted";
        case -EMSGSIZE: return "message too long";
        case -EAGAIN: return "would block (mailbox empty, or full)";
        case -ETIMEDOUT: return "timed out";
        case -EIDRM: return "mailbox was destroyed";
        case -ECONNREFUSED: return "no daemon on the socket";
        case -ENOTCONN: return "daemon went away";
        case -EBADMSG: return "mailbox memory is corrupt";
        case -ESTALE: return "stale handle (session repaired, or inherited across fork)";
        case -EPROTO: return "protocol or layout version mismatch";
        case -ENOSPC: return "no space (a limit of the daemon, or /dev/shm is full)";
        case -ENOMEM: return "out of memory";
        case -EDQUOT: return "quota exceeded";
        case -EMFILE: return "too many open files or attachments";
        case -ENAMETOOLONG: return "socket path too long";
        case -EOPNOTSUPP: return "not supported by this daemon (an older protocol version)";
        default:
                if (err < 0 && err > -4096) {
                        const char *s = strerrordesc_np(-err);
                        if (s)
                                return s;
                }
                return "unknown error";
        }
}

SHMBOX_PUBLIC const char *shmbox_version(void) {
        return PACKAGE_VERSION;
}
