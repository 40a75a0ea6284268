/* SPDX-License-Identifier: MIT */
/* ring-peek.h — reading the messages of a ring without taking them (shmbox_peek_at()). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/ring.h"

/* Also show messages being read or consumed whose slot still holds them, and stop at a slot
 * still being written (it is shown once committed): for a viewer that follows the traffic. */
#define RING_PEEK_FOLLOW 1u

/* A cursor position that means "the oldest unfinished position" (head). Real positions stay
 * below 2^63. */
#define RING_PEEK_START UINT64_MAX

/* Where a reader of the ring is, and what it could not show. */
typedef struct RingCursor {
        uint64_t pos;     /* the next position to look at */
        uint64_t missed;  /* positions head passed before the cursor looked at them */
        uint64_t changed; /* messages whose slot changed while they were copied: skipped */
} RingCursor;

ssize_t ring_peek_at(const Ring *r, RingCursor *c, unsigned flags, void *buf, size_t cap);
