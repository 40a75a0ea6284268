/* SPDX-License-Identifier: MIT */
/* box.c — libshmbox's data plane: attaching a mailbox, and send/receive through its mapping.
 *
 * Attach asks the daemon for an attachment (rights, token, index, generation), then maps the
 * segment by name and opens its semaphores. The reply and the mapping are checked against
 * each other: between the reply and shm_open() the name may have been destroyed and created
 * again, which the generation in the validated header reveals (-ENOENT, as if we had come a
 * moment later). From then on shmbox_send()/shmbox_recv() are ring operations (proto/ring.c)
 * on the mapping, preceded by three loads: the fork generation, the rights, and the mailbox's
 * epoch. A daemon that adopts a mailbox after a restart bumps its epoch; the next call of each
 * box sees it and re-registers (one control call, REATTACH), so the new daemon knows which
 * session holds it. No thread, no timer: the library works only inside the caller's calls.
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "client/client.h"
#include "proto/crash.h"
#include "proto/probes.h"
#include "proto/util.h"

/* How long an attach to a broadcast mailbox waits for the lock to subscribe: held only for a
 * few instructions, unless its holder is stopped. */
#define BOX_SUBSCRIBE_TIMEOUT_MS 5000

/* Mailboxes up to this size are mapped with MAP_POPULATE at attach. */
#define BOX_POPULATE_MAX (UINT64_C(256) << 20)

_Static_assert(SHMBOX_BATCH_MAX == RING_BATCH_MAX, "the public batch limit is the ring's");

/* The two bitmaps of box->held: slots reserved (claimed) and slots peeked (taken). */
typedef enum BoxHold {
        BOX_RESERVED = 0,
        BOX_PEEKED = 1,
} BoxHold;

static void box_unmap(shmbox *box) {
        bool forked = box->fork_gen != atomic_load(&client_fork_generation);

        /* In a child the mapping was not inherited (MADV_DONTFORK): its range may be reused
         * by now, so it must not be unmapped there. The semaphore mappings were inherited. */
        if (box->ring.base && !forked && box->polling)
                ring_poll(&box->ring, box->idx, false); /* no more bytes in the FIFO for us */
        if (box->ring.base && !forked)
                munmap(box->ring.base, box->ring.geo.total_size);
        box->ring.base = NULL;
        box->ring.hdr = NULL;
        box->ring.mine = NULL;
        if (box->ring.has_fifo)
                close(box->ring.fifo_fd);
        box->ring.has_fifo = false;
        bcast_fifo_close(&box->ring);
        free(box->ring.sub_fifo_base);
        box->ring.sub_fifo_base = NULL;
        for (int i = 0; i < _SEM_ROLE_MAX; i++)
                if (box->ring.sem[i]) {
                        sem_close(box->ring.sem[i]);
                        box->ring.sem[i] = NULL;
                }
        box->mapped = false;
}

static void box_unlink(shmbox *box) {
        shmbox_client *c = box->client;

        if (!c)
                return;
        if (box->prev)
                box->prev->next = box->next;
        else
                c->boxes = box->next;
        if (box->next)
                box->next->prev = box->prev;
        box->client = NULL;
        box->next = box->prev = NULL;
}

/* Tell the daemon we let go of the attachment; failures only mean it will find out itself. */
static void box_detach_request(shmbox_client *c, uint32_t token) {
        WireMsg req = { .type = WIRE_DETACH, .token = token }, reply;

        (void)client_call(c, &req, &reply, NULL);
}

static int box_map(shmbox *box, const char *prefix, const WireMsg *grant) {
        char path[NAMES_OBJECT_MAX];
        _cleanup_close_ int fd = -1;
        struct stat st;
        void *map;
        int r;

        r = names_segment(path, sizeof(path), prefix, box->name);
        if (r < 0)
                return r;
        r = FAULT_POINT(client_shm_open);
        if (r)
                return -r;
        fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
        if (fd < 0)
                return errno == ENOENT ? -ENOENT : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t)st.st_size < grant->size || grant->size < LAYOUT_HEADER_SIZE)
                return -EBADMSG;
        r = FAULT_POINT(client_mmap);
        if (r)
                return -r;
        /* prefault a mailbox of reasonable size: its first lap then takes no page faults */
        map = mmap(NULL, grant->size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | (grant->size <= BOX_POPULATE_MAX ? MAP_POPULATE : 0), fd, 0);
        if (map == MAP_FAILED)
                return -errno;
        box->ring.base = map;
        box->ring.hdr = map;
        box->mapped = true;
        (void)madvise(map, grant->size, MADV_DONTFORK);

        r = layout_check(map, grant->size, &box->ring.geo);
        if (r < 0)
                return r;
        if (box->ring.geo.generation != grant->generation)
                return -ENOENT; /* destroyed and created again since the daemon replied */
        if (box->ring.geo.slots != grant->slots || box->ring.geo.slot_size != grant->slot_size ||
            box->ring.geo.total_size != grant->size)
                return -EBADMSG;
        /* our counter block (idx < LAYOUT_ATT_MAX, checked by the caller) */
        box->ring.mine = layout_counters(map, box->idx);

        for (int i = 0; i < _SEM_ROLE_MAX; i++) {
                r = names_semaphore(path, sizeof(path), prefix, box->name, (SemRole)i, grant->generation);
                if (r < 0)
                        return r;
                r = FAULT_POINT(client_sem_open);
                if (r)
                        return -r;
                box->ring.sem[i] = sem_open(path, 0);
                if (box->ring.sem[i] == SEM_FAILED) {
                        box->ring.sem[i] = NULL;
                        return errno == ENOENT ? -ENOENT : -errno;
                }
        }
        r = names_fifo(path, sizeof(path), prefix, box->name, grant->generation);
        if (r < 0)
                return r;
        box->ring.fifo_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (box->ring.fifo_fd < 0)
                return errno == ENOENT ? -ENOENT : -errno;
        box->ring.has_fifo = true;
        /* a broadcast mailbox: where the subscribers' own FIFOs are, for our commits to signal
         * the ones that poll (proto/bcast.c) */
        if (box->ring.geo.kind != LAYOUT_KIND_QUEUE) {
                r = names_sub_fifo_base(path, sizeof(path), prefix, box->name, grant->generation);
                if (r < 0)
                        return r;
                box->ring.sub_fifo_base = strdup(path);
                if (!box->ring.sub_fifo_base)
                        return -ENOMEM;
        }
        if (atomic_load(&box->ring.hdr->att[box->idx]) != box->token)
                return -ESTALE;
        return 0;
}

SHMBOX_PUBLIC int shmbox_attach(shmbox_client *client, const char *name, shmbox **ret) {
        WireMsg req = { .type = WIRE_ATTACH }, grant;
        shmbox *box;
        int r;

        if (!client_begin(client) || !ret || !names_mailbox_valid(name))
                return -EINVAL;
        strcpy(req.name, name);
        r = client_call(client, &req, &grant, NULL);
        if (r < 0)
                return r;
        if (grant.status < 0)
                return grant.status;
        CRASH_POINT(attach_half);

        box = calloc(1, sizeof(*box));
        if (!box) {
                box_detach_request(client, grant.token);
                return -ENOMEM;
        }
        strcpy(box->name, name);
        box->token = grant.token;
        box->idx = grant.idx;
        box->rights = grant.mode;
        box->epoch = grant.epoch;
        box->ring.spin_ns = RING_DEFAULT_SPIN_NS;
        box->fork_gen = atomic_load(&client_fork_generation);
        if (box->idx >= LAYOUT_ATT_MAX || box->token < TOKEN_FIRST)
                r = -EPROTO;
        else
                r = box_map(box, client->prefix, &grant);
        /* a broadcast mailbox: a box that may receive subscribes now, so that it gets every
         * message committed from its attach on (proto/bcast.c) */
        if (r == 0 && box->ring.geo.kind != LAYOUT_KIND_QUEUE && (box->rights & WIRE_RIGHT_R)) {
                RingDeadline dl;

                ring_deadline_init(&dl, BOX_SUBSCRIBE_TIMEOUT_MS);
                r = ring_subscribe(&box->ring, box->token, box->idx, true, &dl);
        }
        if (r < 0) {
                box_unmap(box);
                free(box);
                box_detach_request(client, grant.token);
                return r;
        }
        box->client = client;
        box->next = client->boxes;
        if (box->next)
                box->next->prev = box;
        client->boxes = box;
        SHMBOX_PROBE3(attach, box->name, box->token, box->idx);
        *ret = box;
        return 0;
}

SHMBOX_PUBLIC int shmbox_detach(shmbox *box) {
        if (!box)
                return 0;
        SHMBOX_PROBE2(detach, box->name, box->token);
        if (box->client && box->fork_gen == atomic_load(&client_fork_generation)) {
                shmbox_client *c = box->client;

                box_unlink(box);
                box_unmap(box); /* first: the daemon may reuse our index once it replies */
                CRASH_POINT(detach_half);
                box_detach_request(c, box->token);
        } else {
                box_unlink(box);
                box_unmap(box);
        }
        free(box->held);
        free(box);
        return 0;
}

SHMBOX_PUBLIC void shmbox_disconnect(shmbox_client *client) {
        bool forked;

        if (!client)
                return;
        forked = client->fork_gen != atomic_load(&client_fork_generation);
        client_requests_free(client); /* detaches its reply boxes first, which it owns */
        while (client->boxes) {
                shmbox *box = client->boxes;

                box_unlink(box);
                box_unmap(box);
                if (!forked)
                        box_detach_request(client, box->token);
        }
        safe_close(client->fd);
        free(client);
}

/* The checks every data-plane call makes: loads only, no system call. */
static int box_usable(const shmbox *box, uint32_t right) {
        if (_unlikely_(box->fork_gen != atomic_load_explicit(&client_fork_generation, memory_order_relaxed)))
                return -ESTALE;
        if (_unlikely_(!box->mapped))
                return -ENOTCONN;
        if (_unlikely_(!(box->rights & right)))
                return -EACCES;
        return 0;
}

/*
 * A new daemon adopted the mailbox: tell it that this box is ours. If no daemon answers yet, or
 * it no longer knows the mailbox, the box carries on through shared memory as before; only a
 * repaired attachment (-ESTALE) is an error, and the ring reports that by itself.
 */
static void box_reregister(shmbox *box, uint64_t epoch) {
        WireMsg req = { .type = WIRE_REATTACH,
                        .token = box->token,
                        .idx = box->idx,
                        .generation = box->ring.geo.generation },
                reply;

        if (!box->client)
                return;
        strcpy(req.name, box->name);
        if (client_call(box->client, &req, &reply, NULL) < 0)
                return; /* no daemon yet: try again at the next call */
        box->epoch = epoch;
        if (reply.status == 0) {
                box->rights = reply.mode;
                box->epoch = reply.epoch;
        }
}

static inline void box_check_epoch(shmbox *box) {
        uint64_t epoch = atomic_load_explicit(&box->ring.hdr->epoch, memory_order_relaxed);

        if (_unlikely_(epoch != box->epoch))
                box_reregister(box, epoch);
}

/* What every data-plane call that may wait does first: the checks, a re-registration after a
 * daemon restart, the deadline. */
static inline int box_enter(shmbox *box, uint32_t right, int timeout_ms, RingDeadline *ret) {
        int r;

        /* Only -1 waits forever: a deadline computed by the caller that came out negative is a
         * bug to report, not a wait without end. */
        if (timeout_ms < -1)
                return -EINVAL;
        r = box_usable(box, right);
        if (r < 0)
                return r;
        box_check_epoch(box);
        ring_deadline_init(ret, timeout_ms);
        box->ring.wait_ns = 0; /* for the probes: the ring's waits set it (proto/ring.c, ring_wait) */
        return 0;
}

/* A data-plane call's result, through the corrupt probe when the ring found the mailbox
 * corrupt (-EBADMSG). */
static inline ssize_t box_result(const shmbox *box, const char *call, ssize_t r) {
        if (_unlikely_(r == -EBADMSG))
                SHMBOX_PROBE2(corrupt, box->name, call);
        return r;
}

SHMBOX_PUBLIC int shmbox_send(shmbox *box, const void *data, size_t len, int timeout_ms) {
        RingDeadline dl;
        int r;

        if (!box || (!data && len > 0))
                return -EINVAL;
        r = box_enter(box, WIRE_RIGHT_W, timeout_ms, &dl);
        if (r < 0)
                return r;
        r = ring_send(&box->ring, box->token, box->idx, data, len, &dl);
        SHMBOX_PROBE4(send, box->name, len, r, box->ring.wait_ns);
        return (int)box_result(box, "send", r);
}

/* After a receive on a box an event loop watches: keep the FIFO readable exactly while
 * messages are queued. Costs system calls only for such boxes. */
static inline ssize_t box_settle(shmbox *box, ssize_t r) {
        if (_unlikely_(box->polling))
                ring_fifo_settle(&box->ring);
        return r;
}

SHMBOX_PUBLIC ssize_t shmbox_recv(shmbox *box, void *buf, size_t cap, int timeout_ms) {
        RingDeadline dl;
        ssize_t k;
        int r;

        if (!box || (!buf && cap > 0))
                return -EINVAL;
        r = box_enter(box, WIRE_RIGHT_R, timeout_ms, &dl);
        if (r < 0)
                return r;
        k = box_settle(box, ring_recv(&box->ring, box->token, box->idx, buf, cap, &dl));
        SHMBOX_PROBE4(recv, box->name, k, cap, box->ring.wait_ns);
        return box_result(box, "recv", k);
}

/* A broadcast subscriber's own FIFO, made by the daemon for its index (WIRE_POLL), opened and
 * put in place of the mailbox's FIFO: from now on the senders signal it, and the box settles
 * it (proto/bcast.c). */
static int box_sub_fifo(shmbox *box) {
        WireMsg req = { .type = WIRE_POLL, .token = box->token }, reply;
        char path[NAMES_OBJECT_MAX + 16];
        struct stat st;
        int fd, r;

        if (!box->client)
                return -ENOTCONN;
        strcpy(req.name, box->name);
        r = client_call(box->client, &req, &reply, NULL);
        if (r < 0)
                return r;
        if (reply.status == -EBADMSG) /* a daemon before broadcast mailboxes: an unknown request */
                return -EOPNOTSUPP;
        if (reply.status < 0)
                return reply.status;
        r = names_sub_fifo(path, sizeof(path), box->client->prefix, box->name, box->ring.geo.generation, box->idx);
        if (r < 0)
                return r;
        fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
                close(fd);
                return -EBADMSG;
        }
        close(box->ring.fifo_fd);
        box->ring.fifo_fd = fd;
        return 0;
}

SHMBOX_PUBLIC int shmbox_fd(shmbox *box) {
        int r;

        if (!box)
                return -EINVAL;
        r = box_usable(box, WIRE_RIGHT_R);
        if (r < 0)
                return r;
        if (!box->ring.has_fifo)
                return -ENOTCONN;
        /* one FIFO cannot say to each subscriber whether there is news for it: a subscriber
         * polls a FIFO of its own */
        if (box->ring.geo.kind != LAYOUT_KIND_QUEUE && !box->polling) {
                r = box_sub_fifo(box);
                if (r < 0)
                        return r;
        }
        if (!box->polling) {
                box->polling = true;
                ring_poll(&box->ring, box->idx, true);
        }
        return box->ring.fifo_fd;
}

SHMBOX_PUBLIC int shmbox_subscribe(shmbox *box, int on) {
        RingDeadline dl;
        int r;

        if (!box)
                return -EINVAL;
        r = box_enter(box, WIRE_RIGHT_R, BOX_SUBSCRIBE_TIMEOUT_MS, &dl);
        if (r < 0)
                return r;
        return (int)box_result(box, "subscribe", ring_subscribe(&box->ring, box->token, box->idx, on != 0, &dl));
}

SHMBOX_PUBLIC uint64_t shmbox_missed(const shmbox *box) {
        return box ? box->ring.missed : 0;
}

SHMBOX_PUBLIC int shmbox_send_many(shmbox *box, const struct iovec *msgs, size_t n, int timeout_ms) {
        RingDeadline dl;
        int r;

        if (!box || !msgs || n == 0)
                return -EINVAL;
        r = box_enter(box, WIRE_RIGHT_W, timeout_ms, &dl);
        if (r < 0)
                return r;
        r = ring_send_many(&box->ring, box->token, box->idx, msgs, n, &dl);
        SHMBOX_PROBE4(send_many, box->name, n, r, box->ring.wait_ns);
        return (int)box_result(box, "send_many", r);
}

SHMBOX_PUBLIC ssize_t shmbox_recv_many(shmbox *box, const struct iovec *bufs, size_t n, size_t *ret_lens,
                                       int timeout_ms) {
        RingDeadline dl;
        ssize_t k;
        int r;

        if (!box || !bufs || !ret_lens || n == 0)
                return -EINVAL;
        r = box_enter(box, WIRE_RIGHT_R, timeout_ms, &dl);
        if (r < 0)
                return r;
        k = box_settle(box, ring_recv_many(&box->ring, box->token, box->idx, bufs, n, ret_lens, &dl));
        SHMBOX_PROBE4(recv_many, box->name, n, k, box->ring.wait_ns);
        return box_result(box, "recv_many", k);
}

static size_t box_held_words(const shmbox *box) {
        return (box->ring.geo.slots + 63) / 64;
}

/* Allocate the bitmaps of held slots, before the first reservation or peek. */
static int box_held_init(shmbox *box) {
        if (!box->held) {
                box->held = calloc(2 * box_held_words(box), sizeof(uint64_t));
                if (!box->held)
                        return -ENOMEM;
        }
        return 0;
}

/* The index of the slot whose payload starts at @payload, or, with @hdr, whose message body
 * may start there (behind a request header: up to SLOT_HDR_MAX bytes, a multiple of 8, in).
 * Return: 0; -EINVAL if none does. */
static int box_slot_index(const shmbox *box, const void *payload, bool hdr, uint32_t *ret) {
        const uint8_t *p = payload, *first = box->ring.base + box->ring.geo.header_size + LAYOUT_SLOT_HEAD;
        uint64_t off, in;

        if (p < first || p >= first + (uint64_t)box->ring.geo.slots * box->ring.geo.slot_stride)
                return -EINVAL;
        off = (uint64_t)(p - first);
        in = off % box->ring.geo.slot_stride;
        if (in && (!hdr || in % 8 || in > SLOT_HDR_MAX))
                return -EINVAL;
        *ret = (uint32_t)(off / box->ring.geo.slot_stride);
        return 0;
}

static uint64_t *box_held_word(const shmbox *box, BoxHold kind, uint32_t idx) {
        return &box->held[kind * box_held_words(box) + idx / 64];
}

static void box_hold(shmbox *box, BoxHold kind, uint32_t idx, bool on) {
        uint64_t bit = UINT64_C(1) << (idx % 64);

        if (on)
                *box_held_word(box, kind, idx) |= bit;
        else
                *box_held_word(box, kind, idx) &= ~bit;
}

/*
 * box_held() - the index of the slot at @payload, which this box holds as @kind
 *
 * Return: 0 and *@ret; -EINVAL if @payload is not a slot of this box, or one it does not
 *         hold: never reserved (or peeked), or committed, aborted or released already.
 */
static int box_held(const shmbox *box, BoxHold kind, const void *payload, uint32_t *ret) {
        uint32_t idx;
        int r;

        r = box_slot_index(box, payload, kind == BOX_PEEKED, &idx);
        if (r < 0)
                return r;
        if (!box->held || !(*box_held_word(box, kind, idx) & (UINT64_C(1) << (idx % 64))))
                return -EINVAL;
        *ret = idx;
        return 0;
}

SHMBOX_PUBLIC int shmbox_reserve(shmbox *box, size_t len, int timeout_ms, void **ret_slot) {
        RingDeadline dl;
        uint64_t pos;
        int r;

        if (!box || !ret_slot)
                return -EINVAL;
        r = box_enter(box, WIRE_RIGHT_W, timeout_ms, &dl);
        if (r < 0)
                return r;
        if (len > box->ring.geo.slot_size)
                return -EMSGSIZE;
        r = box_held_init(box);
        if (r < 0)
                return r;
        r = ring_claim(&box->ring, box->token, box->idx, 1, &dl, &pos);
        SHMBOX_PROBE4(reserve, box->name, len, r < 0 ? r : 0, box->ring.wait_ns);
        if (r < 0)
                return (int)box_result(box, "reserve", r);
        box_hold(box, BOX_RESERVED, (uint32_t)(pos % box->ring.geo.slots), true);
        *ret_slot = ring_payload(&box->ring, pos);
        return 0;
}

SHMBOX_PUBLIC int shmbox_commit(shmbox *box, void *slot, size_t len) {
        uint32_t idx;
        int r;

        if (!box || !slot)
                return -EINVAL;
        r = box_usable(box, WIRE_RIGHT_W);
        if (r < 0)
                return r;
        r = box_held(box, BOX_RESERVED, slot, &idx);
        if (r < 0)
                return r;
        r = ring_commit(&box->ring, box->token, slot, len, true);
        SHMBOX_PROBE3(commit, box->name, len, r);
        if (r == 0 || r == -ESTALE)
                box_hold(box, BOX_RESERVED, idx, false); /* committed, or abandoned by a repair */
        return r;
}

SHMBOX_PUBLIC int shmbox_abort(shmbox *box, void *slot) {
        uint32_t idx;
        int r;

        if (!box || !slot)
                return -EINVAL;
        r = box_usable(box, WIRE_RIGHT_W);
        if (r < 0)
                return r;
        r = box_held(box, BOX_RESERVED, slot, &idx);
        if (r < 0)
                return r;
        r = ring_abort(&box->ring, box->token, slot);
        SHMBOX_PROBE2(abort, box->name, r);
        if (r == 0 || r == -ESTALE)
                box_hold(box, BOX_RESERVED, idx, false);
        return r;
}

SHMBOX_PUBLIC ssize_t shmbox_peek(shmbox *box, int timeout_ms, const void **ret_data) {
        RingDeadline dl;
        void *payload;
        uint32_t len, hdr, idx;
        ssize_t k;
        int r;

        if (!box || !ret_data)
                return -EINVAL;
        r = box_enter(box, WIRE_RIGHT_R, timeout_ms, &dl);
        if (r < 0)
                return r;
        r = box_held_init(box);
        if (r < 0)
                return r;
        k = box_settle(box, ring_take(&box->ring, box->token, box->idx, 1, SIZE_MAX, &dl, &payload, &len, &hdr));
        SHMBOX_PROBE3(peek, box->name, k < 0 ? k : (ssize_t)(len - hdr), box->ring.wait_ns);
        if (k < 0)
                return box_result(box, "peek", k);
        assert_se(box_slot_index(box, payload, false, &idx) == 0);
        box_hold(box, BOX_PEEKED, idx, true);
        *ret_data = (const uint8_t *)payload + hdr; /* the body: a request header is not shown */
        return len - hdr;
}

SHMBOX_PUBLIC int shmbox_release(shmbox *box, const void *data) {
        uint32_t idx;
        int r;

        if (!box || !data)
                return -EINVAL;
        r = box_usable(box, WIRE_RIGHT_R);
        if (r < 0)
                return r;
        r = box_held(box, BOX_PEEKED, data, &idx);
        if (r < 0)
                return r;
        /* the slot's payload: @data may be the body behind a request header (shmbox_peek()) */
        r = ring_consume(&box->ring, box->token,
                         box->ring.base + box->ring.geo.header_size + (uint64_t)idx * box->ring.geo.slot_stride +
                                 LAYOUT_SLOT_HEAD,
                         true);
        SHMBOX_PROBE2(release, box->name, r);
        if (r == 0 || r == -ESTALE)
                box_hold(box, BOX_PEEKED, idx, false); /* consumed, or given to another reader */
        return r;
}

SHMBOX_PUBLIC int shmbox_set_spin(shmbox *box, unsigned spin_us) {
        if (!box || spin_us > 1000000)
                return -EINVAL;
        box->ring.spin_ns = spin_us * 1000u;
        return 0;
}

SHMBOX_PUBLIC size_t shmbox_slot_size(const shmbox *box) {
        return box && box->mapped ? box->ring.geo.slot_size : 0;
}

SHMBOX_PUBLIC uint32_t shmbox_slots(const shmbox *box) {
        return box && box->mapped ? box->ring.geo.slots : 0;
}

/*
 * box_send_hdr() - send @data behind the request header @hdr (@hlen bytes), as shmbox_send()
 *
 * For client/request.c. Return: as shmbox_send(); -EINVAL for a bad @hlen.
 */
int box_send_hdr(shmbox *box, const void *hdr, size_t hlen, const void *data, size_t len, int timeout_ms) {
        RingDeadline dl;
        int r;

        if (!box || (!data && len > 0))
                return -EINVAL;
        r = box_enter(box, WIRE_RIGHT_W, timeout_ms, &dl);
        if (r < 0)
                return r;
        r = ring_send_hdr(&box->ring, box->token, box->idx, hdr, hlen, data, len, &dl);
        SHMBOX_PROBE4(send, box->name, len, r, box->ring.wait_ns);
        return (int)box_result(box, "send", r);
}

/*
 * box_recv_hdr() - receive the oldest message with its request header, if it has one
 * @hdr: SLOT_HDR_MAX bytes for a private copy of the header; *@ret_hlen its length (0: none)
 * @buf, @cap: where the body goes; at most @cap bytes of it are copied
 * @take_cap: a body longer than this stays queued (-EMSGSIZE), as for shmbox_recv()
 *
 * For client/request.c. The header's length is validated by the ring (slot_meta_hdr()); its
 * bytes are the caller's to validate (request_decode()).
 *
 * Return: the body's length, which may exceed @cap (then only @cap bytes were copied); the
 *         errors of shmbox_recv().
 */
ssize_t box_recv_hdr(shmbox *box, uint8_t *hdr, uint32_t *ret_hlen, void *buf, size_t cap, size_t take_cap,
                     int timeout_ms) {
        RingDeadline dl;
        void *payload;
        uint32_t len, h;
        ssize_t k;
        int r;

        if (!box || (!buf && cap > 0))
                return -EINVAL;
        r = box_enter(box, WIRE_RIGHT_R, timeout_ms, &dl);
        if (r < 0)
                return r;
        k = ring_take(&box->ring, box->token, box->idx, 1, take_cap, &dl, &payload, &len, &h);
        if (k >= 0) {
                memcpy(hdr, payload, h);
                CRASH_POINT(recv_half_copied); /* here: the header copied, the body not */
                if (cap > 0)
                        memcpy(buf, (const uint8_t *)payload + h, MIN((size_t)(len - h), cap));
                k = ring_consume(&box->ring, box->token, payload, true);
                if (k == 0)
                        k = (ssize_t)(len - h);
        }
        k = box_settle(box, k);
        SHMBOX_PROBE4(recv, box->name, k, cap, box->ring.wait_ns);
        if (k >= 0)
                *ret_hlen = h;
        return box_result(box, "recv", k);
}
