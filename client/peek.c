/* SPDX-License-Identifier: MIT */
/* peek.c — libshmbox's shmbox_peek_at(): the queued messages of an attached box, read in place
 * without taking them (proto/ring-peek.c does the walk).
 *
 * It reads message contents, so it needs the right to receive, checked here from the rights
 * the daemon granted at attach, like shmbox_recv(). Nothing is written to the segment and no
 * system call is made, so a viewer costs the senders and receivers nothing.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "client/client.h"
#include "proto/ring-peek.h"

_Static_assert(SHMBOX_CURSOR_START == RING_PEEK_START, "the public start is the ring's");
_Static_assert(SHMBOX_PEEK_FOLLOW == RING_PEEK_FOLLOW, "the public flag is the ring's");

/*
 * shmbox_peek_at() - copy the next message at or after @cursor without taking it
 * @box:    an attached box with the right to receive
 * @cursor: the caller's cursor; pos SHMBOX_CURSOR_START starts at the oldest message
 * @buf, @cap: the payload goes here (slot_size bytes always suffice)
 * @flags:  0 or SHMBOX_PEEK_FOLLOW
 *
 * Return: the length copied (the cursor moved past it); -EAGAIN: nothing more now; -EMSGSIZE
 *         (the cursor stays); -EINVAL; -EACCES (no r); -ESTALE (after fork); -ENOTCONN (the
 *         client was disconnected); -EIDRM; -EBADMSG.
 */
SHMBOX_PUBLIC ssize_t shmbox_peek_at(shmbox *box, struct shmbox_cursor *cursor, void *buf, size_t cap, unsigned flags) {
        RingCursor c;
        ssize_t r;

        if (!box || !cursor || (!buf && cap > 0) || (flags & ~SHMBOX_PEEK_FOLLOW))
                return -EINVAL;
        for (size_t i = 0; i < sizeof(cursor->reserved) / sizeof(cursor->reserved[0]); i++)
                if (cursor->reserved[i])
                        return -EINVAL;
        if (box->fork_gen != atomic_load_explicit(&client_fork_generation, memory_order_relaxed))
                return -ESTALE;
        if (!box->mapped)
                return -ENOTCONN;
        if (!(box->rights & WIRE_RIGHT_R))
                return -EACCES;

        c = (RingCursor){ .pos = cursor->pos, .missed = cursor->missed, .changed = cursor->changed };
        r = ring_peek_at(&box->ring, &c, flags, buf, cap);
        cursor->pos = c.pos;
        cursor->missed = c.missed;
        cursor->changed = c.changed;
        return r;
}
