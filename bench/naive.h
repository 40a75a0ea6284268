/* SPDX-License-Identifier: MIT */
/* naive.h — the baseline: a shared-memory ring guarded by three named semaphores, copying under
 * its lock. What a user writes first; the row shmbox is compared against. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

typedef struct NaiveRing NaiveRing;

int naive_create(const char *name, unsigned slots, size_t slot_size);
int naive_open(const char *name, NaiveRing **ret);
NaiveRing *naive_close(NaiveRing *ring);
void naive_unlink(const char *name);
int naive_send(NaiveRing *ring, const void *data, size_t len);
ssize_t naive_recv(NaiveRing *ring, void *buf, size_t cap, int timeout_ms);
