/* SPDX-License-Identifier: MIT */
/* naive.c — a shared-memory ring with three named semaphores (lock, items, space) that copies
 * under its lock, as a row to compare shmbox against.
 *
 * This is deliberately the textbook design: no crash safety (a process killed while it holds
 * the lock semaphore stops everyone), sender and receiver take turns at the copy. Only the
 * setup and teardown around the core (naive_send/naive_recv, ~40 lines) are more than the
 * textbook, so that the benchmark can name, open and remove it like the other transports.
 */
#include "config.h"

#include "bench/naive.h"

#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proto/util.h"

typedef struct NaiveHeader {
        uint64_t head, tail;
        uint32_t slots, slot_size;
} NaiveHeader;

/* A slot: its length on a line of its own, then the payload. */
#define NAIVE_SLOT_HEAD 64u

struct NaiveRing {
        NaiveHeader *hdr;
        size_t map_size;
        uint8_t *slots;
        size_t stride;
        sem_t *lock, *items, *space;
};

static size_t naive_stride(size_t slot_size) {
        return ALIGN_TO(NAIVE_SLOT_HEAD + slot_size, (size_t)64);
}

static int sem_name(char *buf, size_t size, const char *name, const char *role) {
        int n = snprintf(buf, size, "%s.%s", name, role);

        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* --- the core: what the row measures ------------------------------------------------------ */

static int wait_sem(sem_t *sem, const struct timespec *until) {
        int rc;

        do
                rc = until ? sem_clockwait(sem, CLOCK_MONOTONIC, until) : sem_wait(sem);
        while (rc < 0 && errno == EINTR);
        return rc < 0 ? -errno : 0;
}

/*
 * naive_send() - wait for space, copy @len bytes into the tail slot under the lock, post items
 *
 * Return: 0; -EMSGSIZE if @len exceeds the slot size; another negative errno of sem_wait.
 */
int naive_send(NaiveRing *ring, const void *data, size_t len) {
        NaiveHeader *h = ring->hdr;
        uint8_t *slot;
        int r;

        if (len > h->slot_size)
                return -EMSGSIZE;
        r = wait_sem(ring->space, NULL);
        if (r < 0)
                return r;
        r = wait_sem(ring->lock, NULL);
        if (r < 0)
                return r;
        slot = ring->slots + (h->tail % h->slots) * ring->stride;
        memcpy(slot + NAIVE_SLOT_HEAD, data, len);
        *(uint32_t *)slot = (uint32_t)len;
        h->tail++;
        sem_post(ring->lock);
        sem_post(ring->items);
        return 0;
}

/*
 * naive_recv() - wait for an item, copy the head slot out under the lock, post space
 * @timeout_ms: -1 waits forever, else at most that long
 *
 * Return: the length; -ETIMEDOUT; -EMSGSIZE if it is longer than @cap (then it is dropped:
 *         the baseline does not bother); another negative errno of sem_wait.
 */
ssize_t naive_recv(NaiveRing *ring, void *buf, size_t cap, int timeout_ms) {
        NaiveHeader *h = ring->hdr;
        struct timespec until;
        uint8_t *slot;
        uint32_t len;
        int r;

        if (timeout_ms >= 0) {
                clock_gettime(CLOCK_MONOTONIC, &until);
                until.tv_sec += timeout_ms / 1000;
                until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
        }
        r = wait_sem(ring->items, timeout_ms >= 0 ? &until : NULL);
        if (r < 0)
                return r;
        r = wait_sem(ring->lock, NULL);
        if (r < 0)
                return r;
        slot = ring->slots + (h->head % h->slots) * ring->stride;
        len = *(uint32_t *)slot;
        if (len <= cap)
                memcpy(buf, slot + NAIVE_SLOT_HEAD, len);
        h->head++;
        sem_post(ring->lock);
        sem_post(ring->space);
        return len <= cap ? (ssize_t)len : -EMSGSIZE;
}

/* --- setup and teardown --------------------------------------------------------------------- */

/*
 * naive_create() - create the segment @name ("/..." for shm_open) and its three semaphores
 *
 * The objects are created exclusively and stay until naive_unlink(); nothing stays mapped or
 * open in the caller.
 *
 * Return: 0; -EEXIST; -ENAMETOOLONG; another negative errno.
 */
int naive_create(const char *name, unsigned slots, size_t slot_size) {
        static const char *const roles[] = { "lock", "items", "space" };
        const unsigned values[] = { 1, 0, slots };
        _cleanup_close_ int fd = -1;
        size_t size = sizeof(NaiveHeader) + 4096 + (size_t)slots * naive_stride(slot_size);
        char sname[256];
        NaiveHeader *h;
        int r;

        if (slots == 0 || slot_size == 0 || slot_size > UINT32_MAX)
                return -EINVAL;
        fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        r = posix_fallocate(fd, 0, (off_t)size);
        if (r != 0) {
                naive_unlink(name);
                return -r;
        }
        h = mmap(NULL, sizeof(*h), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (h == MAP_FAILED) {
                r = -errno;
                naive_unlink(name);
                return r;
        }
        *h = (NaiveHeader){ .slots = slots, .slot_size = (uint32_t)slot_size };
        munmap(h, sizeof(*h));

        for (unsigned i = 0; i < ELEMENTSOF(roles); i++) {
                sem_t *s;

                r = sem_name(sname, sizeof(sname), name, roles[i]);
                if (r < 0) {
                        naive_unlink(name);
                        return r;
                }
                s = sem_open(sname, O_CREAT | O_EXCL, 0600, values[i]);
                if (s == SEM_FAILED) {
                        r = -errno;
                        naive_unlink(name);
                        return r;
                }
                sem_close(s);
        }
        return 0;
}

/*
 * naive_open() - map the ring @name and open its semaphores
 *
 * Return: 0 and @ret, freed with naive_close(); -ENOENT; -EBADMSG if the geometry does not
 *         match the segment's size; another negative errno.
 */
int naive_open(const char *name, NaiveRing **ret) {
        _cleanup_close_ int fd = -1;
        NaiveRing *ring;
        char sname[256];
        struct stat st;
        NaiveHeader h;
        int r = 0;

        fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((size_t)st.st_size < sizeof(h) || pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
                return -EBADMSG;
        if (h.slots == 0 || (size_t)st.st_size < sizeof(h) + 4096 + (size_t)h.slots * naive_stride(h.slot_size))
                return -EBADMSG;

        ring = calloc(1, sizeof(*ring));
        if (!ring)
                return -ENOMEM;
        ring->map_size = (size_t)st.st_size;
        ring->stride = naive_stride(h.slot_size);
        ring->hdr = mmap(NULL, ring->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (ring->hdr == MAP_FAILED) {
                r = -errno;
                ring->hdr = NULL;
                naive_close(ring);
                return r;
        }
        ring->slots = (uint8_t *)ring->hdr + 4096;

        sem_t **sems[] = { &ring->lock, &ring->items, &ring->space };
        static const char *const roles[] = { "lock", "items", "space" };
        for (unsigned i = 0; i < ELEMENTSOF(roles) && r == 0; i++) {
                r = sem_name(sname, sizeof(sname), name, roles[i]);
                if (r < 0)
                        break;
                *sems[i] = sem_open(sname, 0);
                if (*sems[i] == SEM_FAILED) {
                        *sems[i] = NULL;
                        r = -errno;
                }
        }
        if (r < 0) {
                naive_close(ring);
                return r;
        }
        *ret = ring;
        return 0;
}

/* naive_close() - unmap and close; NULL is accepted. Returns NULL. */
NaiveRing *naive_close(NaiveRing *ring) {
        if (!ring)
                return NULL;
        if (ring->hdr)
                munmap(ring->hdr, ring->map_size);
        if (ring->lock)
                sem_close(ring->lock);
        if (ring->items)
                sem_close(ring->items);
        if (ring->space)
                sem_close(ring->space);
        free(ring);
        return NULL;
}

/* naive_unlink() - remove the segment and the semaphores of @name; missing ones are fine */
void naive_unlink(const char *name) {
        static const char *const roles[] = { "lock", "items", "space" };
        char sname[256];

        shm_unlink(name);
        for (unsigned i = 0; i < ELEMENTSOF(roles); i++)
                if (sem_name(sname, sizeof(sname), name, roles[i]) == 0)
                        sem_unlink(sname);
}
