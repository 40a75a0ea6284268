/* SPDX-License-Identifier: MIT */
/* introspect.c — libshmbox's introspection: what an attached box and its mapping hold right now.
 *
 * shmbox_stat() is for tools that explain shmbox (shmboxctl walkthrough) and for people who
 * debug it: the address and size of the mapping in this process, the validated geometry, the
 * ring's positions, how many slots are in which state, the semaphore values, this box's
 * attachment, and the names of the mailbox's objects in /dev/shm. It is a snapshot taken
 * without the lock, so it never blocks and never disturbs the ring; concurrent senders and
 * receivers may change the ring while it is read, so the counts are consistent with each
 * other only when nobody else is at work.
 *
 * Shared memory is input (doc/design.md, invariant 4): each shared field is loaded once into a
 * local and only the copy is used; the geometry is the private copy validated at attach.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "client/client.h"
#include "proto/psem.h"
#include "proto/util.h"

_Static_assert((int)SHMBOX_SEM_LOCK == (int)SEM_LOCK && (int)SHMBOX_SEM_ITEMS == (int)SEM_ITEMS &&
                       (int)SHMBOX_SEM_SPACE == (int)SEM_SPACE && (int)SHMBOX_SEM_COUNT == (int)_SEM_ROLE_MAX,
               "public semaphore order is the roles' order");
_Static_assert(SHMBOX_PATH_MAX >= sizeof(SHM_DIR "/sem.") + NAMES_OBJECT_MAX, "an object path fits");
_Static_assert(sizeof(struct shmbox_stat) % 8 == 0, "no tail padding in the public struct");

/* /dev/shm/<prefix>.<name> and /dev/shm/sem.<prefix>.<name>.<role>.<gen>, as box.c opens them. */
static int stat_paths(const shmbox *box, struct shmbox_stat *st) {
        char name[NAMES_OBJECT_MAX];
        int r;

        r = names_segment(name, sizeof(name), box->client->prefix, box->name);
        if (r < 0)
                return r;
        snprintf(st->segment, sizeof(st->segment), SHM_DIR "%s", name);
        for (int i = 0; i < _SEM_ROLE_MAX; i++) {
                r = names_semaphore(name, sizeof(name), box->client->prefix, box->name, (SemRole)i,
                                    box->ring.geo.generation);
                if (r < 0)
                        return r;
                /* glibc keeps the semaphore "/x" as the file /dev/shm/sem.x */
                snprintf(st->sem_path[i], sizeof(st->sem_path[i]), SHM_DIR "/sem.%s", name + 1);
        }
        return 0;
}

static uint32_t mask_count(_Atomic uint64_t *mask) {
        uint32_t n = 0;

        for (unsigned i = 0; i < LAYOUT_ATT_WORDS; i++)
                n += (uint32_t)__builtin_popcountll(atomic_load_explicit(&mask[i], memory_order_relaxed));
        return n;
}

/*
 * shmbox_stat() - a snapshot of an attached box: its mapping, geometry, ring and semaphores
 * @box: an attached box
 * @ret: receives the snapshot
 *
 * Reads the mapping and psem_getvalue() three times: no system call, no request to the daemon,
 * no lock.
 * The payload of the message at ring position p starts at
 * map_addr + header_size + (p % slots) * slot_stride + slot_head in this process.
 *
 * Return: 0; -EINVAL for a NULL argument; -ESTALE after fork(); -ENOTCONN once the box's
 *         client was disconnected; -EBADMSG if the ring's positions are corrupt. @ret is
 *         untouched on failure.
 */
SHMBOX_PUBLIC int shmbox_stat(const shmbox *box, struct shmbox_stat *ret) {
        const LayoutGeometry *geo;
        MboxHeader *hdr;
        struct shmbox_stat st = {};
        uint64_t lock;
        int r;

        if (!box || !ret)
                return -EINVAL;
        if (box->fork_gen != atomic_load_explicit(&client_fork_generation, memory_order_relaxed))
                return -ESTALE; /* the mapping was not inherited: nothing to read */
        if (!box->mapped || !box->client)
                return -ENOTCONN;
        geo = &box->ring.geo;
        hdr = box->ring.hdr;

        st.map_addr = (uint64_t)(uintptr_t)box->ring.base;
        st.map_size = geo->total_size;
        st.slots = geo->slots;
        st.slot_size = geo->slot_size;
        st.slot_stride = geo->slot_stride;
        st.slot_head = LAYOUT_SLOT_HEAD;
        st.header_size = geo->header_size;
        st.generation = geo->generation;
        st.token = box->token;
        st.index = box->idx;
        st.rights = ((box->rights & WIRE_RIGHT_R) ? SHMBOX_STAT_RECV : 0) |
                    ((box->rights & WIRE_RIGHT_W) ? SHMBOX_STAT_SEND : 0);

        /* each shared word once, into a local */
        st.epoch = atomic_load(&hdr->epoch);
        if (atomic_load(&hdr->flags) & HDR_DESTROYED)
                st.flags |= SHMBOX_STAT_DESTROYED;
        lock = atomic_load(&hdr->lock);
        st.lock_token = LOCK_TOKEN(lock);
        st.head = atomic_load(&hdr->head);
        st.tail = atomic_load(&hdr->tail);
        if (st.tail - st.head > geo->slots)
                return -EBADMSG;
        /* a walk of the validated local count, never to a value read from shared memory */
        for (uint32_t i = 0, n = (uint32_t)(st.tail - st.head); i < n; i++) {
                uint64_t p = st.head + i;
                SlotHead *s = (SlotHead *)(box->ring.base + geo->header_size + (p % geo->slots) * geo->slot_stride);
                uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);

                switch (slot_word_state(w)) {
                case SLOT_READY: st.ready++; break;
                case SLOT_CLAIMED: st.claimed++; break;
                case SLOT_TAKEN: st.taken++; break;
                default: break; /* done, abandoned, or a scribble the ring will report */
                }
        }
        st.recv_sleepers = mask_count(hdr->items_sleepers);
        st.send_sleepers = mask_count(hdr->space_sleepers);

        for (int i = 0; i < _SEM_ROLE_MAX; i++) {
                int v;

                r = psem_getvalue(box->ring.sem[i], &v);
                if (r < 0)
                        return r;
                st.sem_value[i] = v;
        }
        r = stat_paths(box, &st);
        if (r < 0)
                return r;

        *ret = st;
        return 0;
}
