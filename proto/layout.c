/* SPDX-License-Identifier: MIT */
/* layout.c — computing, initialising and validating the mailbox segment's header. */
#include "config.h"

#include "proto/layout.h"

#include <errno.h>
#include <string.h>

/*
 * layout_geometry() - compute the geometry of a mailbox of @slots slots of @slot_size bytes
 * @ret: written on success only
 *
 * Return: 0; -EINVAL if @slots or @slot_size is 0 or above LAYOUT_SLOTS_MAX / LAYOUT_SLOT_SIZE_MAX.
 */
int layout_geometry(uint32_t slots, uint32_t slot_size, uint64_t generation, LayoutGeometry *ret) {
        return layout_geometry_kind(slots, slot_size, LAYOUT_KIND_QUEUE, generation, ret);
}

/*
 * layout_geometry_kind() - layout_geometry() for a mailbox of @kind (LAYOUT_KIND_*): a
 * broadcast mailbox has the subscriber area after the counter area
 *
 * Return: 0; -EINVAL as layout_geometry(), or for an unknown @kind.
 */
int layout_geometry_kind(uint32_t slots, uint32_t slot_size, uint32_t kind, uint64_t generation, LayoutGeometry *ret) {
        uint32_t header = kind == LAYOUT_KIND_QUEUE ? LAYOUT_HEADER_SIZE : LAYOUT_HEADER_SIZE_BCAST;
        uint64_t stride;

        if (slots < 1 || slots > LAYOUT_SLOTS_MAX || slot_size < 1 || slot_size > LAYOUT_SLOT_SIZE_MAX ||
            kind > LAYOUT_KIND_OVERWRITE)
                return -EINVAL;
        stride =
                LAYOUT_SLOT_HEAD + (((uint64_t)slot_size + LAYOUT_CACHE_LINE - 1) & ~(uint64_t)(LAYOUT_CACHE_LINE - 1));
        *ret = (LayoutGeometry){
                .slots = slots,
                .slot_size = slot_size,
                .slot_stride = (uint32_t)stride,
                .header_size = header,
                .generation = generation,
                .total_size = header + stride * slots,
                .kind = kind,
        };
        return 0;
}

/* FNV-1a over the immutable fields; detects accidents (a stray write), not attacks. The kind
 * counts from version 3 on, so that a version 2 header keeps the checksum it always had. */
uint32_t layout_checksum(const MboxHeader *h) {
        const uint64_t words[] = {
                h->magic,       h->version,    h->header_size, h->slots, h->slot_size,
                h->slot_stride, h->generation, h->total_size,  h->kind,
        };
        const unsigned char *p = (const unsigned char *)words;
        size_t n = h->version == LAYOUT_VERSION_BCAST ? sizeof(words) : sizeof(words) - sizeof(words[0]);
        uint32_t x = 2166136261u;

        for (size_t i = 0; i < n; i++) {
                x ^= p[i];
                x *= 16777619u;
        }
        return x;
}

/*
 * layout_init() - write a fresh header into @map, which must be zero-filled and g->total_size long
 *
 * Zero is a valid empty ring: every slot FREE at lap 0, head = tail = 0, nobody attached.
 */
void layout_init(void *map, const LayoutGeometry *g) {
        MboxHeader *h = map;

        h->magic = LAYOUT_MAGIC;
        h->version = g->kind == LAYOUT_KIND_QUEUE ? LAYOUT_VERSION : LAYOUT_VERSION_BCAST;
        h->kind = g->kind;
        h->header_size = g->header_size;
        h->slots = g->slots;
        h->slot_size = g->slot_size;
        h->slot_stride = g->slot_stride;
        h->generation = g->generation;
        h->total_size = g->total_size;
        h->checksum = layout_checksum(h);
}

/*
 * layout_check() - validate the immutable header of an untrusted mapping of @map_size bytes
 * @ret: the validated geometry, a private copy; written on success only
 *
 * Each field is read once (through a volatile copy) and only the copy is used afterwards.
 *
 * Return: 0; -EPROTO for another magic or layout version; -EBADMSG if the checksum, the
 *         geometry or the size does not hold.
 */
int layout_check(const void *map, uint64_t map_size, LayoutGeometry *ret) {
        MboxHeader copy;
        LayoutGeometry g;

        /* the header page alone: a segment of another layout version is then -EPROTO */
        if (map_size < LAYOUT_HEADER_PAGE)
                return -EBADMSG;
        /* one snapshot of the immutable part; a peer writing meanwhile only makes it fail */
        memcpy(&copy, (const void *)map, offsetof(MboxHeader, lock));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);

        if (copy.magic != LAYOUT_MAGIC)
                return -EPROTO;
        if (copy.version != LAYOUT_VERSION && copy.version != LAYOUT_VERSION_BCAST)
                return -EPROTO;
        if (copy.checksum != layout_checksum(&copy))
                return -EBADMSG;
        /* a queue is version 2 whatever its kind word holds; a version 3 segment says its kind */
        if (copy.version == LAYOUT_VERSION)
                copy.kind = LAYOUT_KIND_QUEUE;
        else if (copy.kind == LAYOUT_KIND_QUEUE)
                return -EBADMSG;
        if (layout_geometry_kind(copy.slots, copy.slot_size, copy.kind, copy.generation, &g) < 0)
                return -EBADMSG;
        if (g.slot_stride != copy.slot_stride || g.header_size != copy.header_size || g.total_size != copy.total_size ||
            g.total_size > map_size)
                return -EBADMSG;
        *ret = g;
        return 0;
}
