/* SPDX-License-Identifier: MIT */
/* spsc.c — a polling single-producer single-consumer ring in shared memory: the benchmark's
 * limit row, this machine's ceiling for moving messages between two processes.
 *
 * Nothing here can be left out: no lock, no semaphore, no system call while both sides run.
 * The producer owns the tail count, the consumer the head count; each is a C11 atomic on a
 * line of its own (128 bytes apart: the adjacent-line prefetcher moves lines in pairs), written
 * only by its owner with a release store and read by the other with an acquire load. Each side
 * keeps its last view of the other's count and reads the shared one again only when that view
 * says full (producer) or empty (consumer), so a message costs the line of its slot and, while
 * the ring neither fills nor empties, little else. Slots hold exactly the channel's message size
 * (64 B: one cache line), copied in by send and out by recv, as shmbox_send/recv copy.
 *
 * It never sleeps: a waiting side spins (with the CPU's pause hint). When the other side does
 * not run at all — both on one CPU, or a loaded machine — a wait longer than SPSC_YIELD_NS
 * gives the CPU away with sched_yield() between spins, so that a run still ends; while both
 * run, a message comes long before that. No crash safety and no MPMC: a limit, not a design.
 *
 * What it is the ceiling of: small messages and round trips. Measured on a loaded 2-CPU machine
 * (load average 11-13; bench/shmbox-bench --reps 3 --only shmbox,spsc,throughput --sizes 64,1024,
 * three runs): 64 B one-way 1.77-1.91 M msgs/s against shmbox's 1.18-1.23 M, but 1 KiB 0.24-0.29 M
 * against 0.99-1.16 M, and no better unpinned (0.30-0.32 M). A consumer that spins right behind
 * the producer takes each slot's 16 lines while they are being written; shmbox's receiver
 * sleeps, the ring fills, and it drains runs of full slots. Not investigated further.
 *
 * The segment is input like any other: the geometry is checked against the segment's size on
 * open and then kept in the process; the other side's count is used only after checking that
 * it stays within one ring of our own.
 */
#include "config.h"

#include "bench/spsc.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proto/util.h"

#define SPSC_HEADER 4096u /* the slots begin on the second page */
#define SPSC_SLOTS_MAX 65536u
#define SPSC_SIZE_MAX (64u << 20)
#define SPSC_YIELD_NS 100000 /* 100 us: far above a message's time when both sides run */
#define SPSC_CLOCK_EVERY 256 /* spins between two looks at the clock (~20 ns each) */

typedef struct SpscHeader {
        uint32_t slots, msg_size;           /* written once by spsc_create() */
        alignas(128) _Atomic uint64_t head; /* messages taken: the consumer's */
        alignas(128) _Atomic uint64_t tail; /* messages put: the producer's */
} SpscHeader;

_Static_assert(sizeof(SpscHeader) <= SPSC_HEADER, "the header fits its page");

struct SpscRing {
        SpscHeader *hdr;
        size_t map_size;
        uint8_t *slots;
        size_t stride, size;
        uint32_t nslots;
        /* the producer's side */
        uint64_t tail, head_seen;
        uint32_t put; /* tail % nslots */
        /* the consumer's side */
        uint64_t head, tail_seen;
        uint32_t take; /* head % nslots */
};

static size_t spsc_stride(size_t msg_size) {
        return ALIGN_TO(msg_size, (size_t)64);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ volatile("yield" ::: "memory");
#endif
}

static int64_t mono_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One round of waiting: @spins counts them; at every SPSC_CLOCK_EVERY-th the clock decides
 * whether to give the CPU away (after SPSC_YIELD_NS) or to stop (@deadline_ns, 0 for never).
 * Returns false once the deadline has passed. */
static bool spsc_wait(unsigned *spins, int64_t *since_ns, int64_t deadline_ns) {
        int64_t now;

        cpu_relax();
        if (++*spins % SPSC_CLOCK_EVERY)
                return true;
        now = mono_ns();
        if (!*since_ns)
                *since_ns = now;
        if (deadline_ns && now >= deadline_ns)
                return false;
        if (now - *since_ns >= SPSC_YIELD_NS)
                sched_yield();
        return true;
}

/*
 * spsc_send() - copy one message of exactly the ring's message size into the next slot and
 * publish it, spinning while the ring is full
 *
 * Only one process sends on a ring.
 *
 * Return: 0; -EINVAL if @len is not the ring's message size; -EBADMSG if the consumer's count
 *         is not within one ring of ours (a corrupt segment).
 */
int spsc_send(SpscRing *r, const void *data, size_t len) {
        unsigned spins = 0;
        int64_t since = 0;
        uint64_t t = r->tail;

        if (len != r->size)
                return -EINVAL;
        while (t - r->head_seen >= r->nslots) {
                r->head_seen = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
                if (t - r->head_seen > r->nslots)
                        return -EBADMSG;
                if (t - r->head_seen == r->nslots)
                        (void)spsc_wait(&spins, &since, 0);
        }
        memcpy(r->slots + (size_t)r->put * r->stride, data, len);
        atomic_store_explicit(&r->hdr->tail, t + 1, memory_order_release);
        r->tail = t + 1;
        if (++r->put == r->nslots)
                r->put = 0;
        return 0;
}

/*
 * spsc_recv() - copy the next message into @buf (@cap at least the ring's message size) and
 * give its slot back, spinning while the ring is empty
 * @timeout_ms: -1 spins until a message comes; >= 0 at most that long
 *
 * Only one process receives on a ring.
 *
 * Return: the message size; -ETIMEDOUT; -EINVAL if @cap is too small; -EBADMSG if the
 *         producer's count is not within one ring of ours (a corrupt segment).
 */
ssize_t spsc_recv(SpscRing *r, void *buf, size_t cap, int timeout_ms) {
        int64_t deadline = 0, since = 0;
        unsigned spins = 0;
        uint64_t h = r->head;

        if (cap < r->size)
                return -EINVAL;
        if (timeout_ms >= 0)
                deadline = mono_ns() + (int64_t)timeout_ms * 1000000;
        while (r->tail_seen == h) {
                r->tail_seen = atomic_load_explicit(&r->hdr->tail, memory_order_acquire);
                if (r->tail_seen - h > r->nslots)
                        return -EBADMSG;
                if (r->tail_seen == h && !spsc_wait(&spins, &since, deadline))
                        return -ETIMEDOUT;
        }
        memcpy(buf, r->slots + (size_t)r->take * r->stride, r->size);
        atomic_store_explicit(&r->hdr->head, h + 1, memory_order_release);
        r->head = h + 1;
        if (++r->take == r->nslots)
                r->take = 0;
        return (ssize_t)r->size;
}

/*
 * spsc_create() - create the ring @name ("/..." for shm_open) of @slots messages of @msg_size
 * bytes, empty; nothing stays mapped or open in the caller
 *
 * Return: 0; -EEXIST; -EINVAL for a geometry out of range; another negative errno.
 */
int spsc_create(const char *name, unsigned slots, size_t msg_size) {
        _cleanup_close_ int fd = -1;
        SpscHeader *h;
        size_t size;
        int r;

        if (slots == 0 || slots > SPSC_SLOTS_MAX || msg_size == 0 || msg_size > SPSC_SIZE_MAX)
                return -EINVAL;
        size = SPSC_HEADER + (size_t)slots * spsc_stride(msg_size);
        fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        r = posix_fallocate(fd, 0, (off_t)size);
        if (r != 0) {
                shm_unlink(name);
                return -r;
        }
        h = mmap(NULL, SPSC_HEADER, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (h == MAP_FAILED) {
                r = -errno;
                shm_unlink(name);
                return r;
        }
        h->slots = slots;
        h->msg_size = (uint32_t)msg_size;
        atomic_store_explicit(&h->head, 0, memory_order_relaxed);
        atomic_store_explicit(&h->tail, 0, memory_order_relaxed);
        munmap(h, SPSC_HEADER);
        return 0;
}

/*
 * spsc_open() - map the ring @name; the process then sends or receives on it, not both
 *
 * Return: 0 and @ret, freed with spsc_close(); -ENOENT; -EBADMSG if the geometry is out of
 *         range or does not fit the segment; another negative errno.
 */
int spsc_open(const char *name, SpscRing **ret) {
        _cleanup_close_ int fd = -1;
        SpscHeader geo;
        SpscRing *ring;
        struct stat st;

        fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((size_t)st.st_size < SPSC_HEADER ||
            pread(fd, &geo, offsetof(SpscHeader, head), 0) != (ssize_t)offsetof(SpscHeader, head))
                return -EBADMSG;
        if (geo.slots == 0 || geo.slots > SPSC_SLOTS_MAX || geo.msg_size == 0 || geo.msg_size > SPSC_SIZE_MAX ||
            (size_t)st.st_size < SPSC_HEADER + (size_t)geo.slots * spsc_stride(geo.msg_size))
                return -EBADMSG;

        ring = calloc(1, sizeof(*ring));
        if (!ring)
                return -ENOMEM;
        ring->nslots = geo.slots;
        ring->size = geo.msg_size;
        ring->stride = spsc_stride(geo.msg_size);
        ring->map_size = SPSC_HEADER + (size_t)geo.slots * ring->stride;
        ring->hdr = mmap(NULL, ring->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (ring->hdr == MAP_FAILED) {
                int r = -errno;

                free(ring);
                return r;
        }
        ring->slots = (uint8_t *)ring->hdr + SPSC_HEADER;
        /* where the ring is now: a fresh one is at 0, but a process may open it late */
        ring->tail = atomic_load_explicit(&ring->hdr->tail, memory_order_acquire);
        ring->head = atomic_load_explicit(&ring->hdr->head, memory_order_acquire);
        ring->head_seen = ring->tail_seen = ring->head; /* both look again before they rely on it */
        ring->put = (uint32_t)(ring->tail % ring->nslots);
        ring->take = (uint32_t)(ring->head % ring->nslots);
        *ret = ring;
        return 0;
}

/* spsc_close() - unmap; NULL is accepted. Returns NULL. */
SpscRing *spsc_close(SpscRing *ring) {
        if (!ring)
                return NULL;
        if (ring->hdr)
                munmap(ring->hdr, ring->map_size);
        free(ring);
        return NULL;
}

/* spsc_unlink() - remove the ring @name; a missing one is fine */
void spsc_unlink(const char *name) {
        shm_unlink(name);
}
