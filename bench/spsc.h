/* SPDX-License-Identifier: MIT */
/* spsc.h — the benchmark's limit row: a polling single-producer single-consumer ring in shared
 * memory, which shows how fast this machine moves cache lines between two CPUs. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

typedef struct SpscRing SpscRing;

int spsc_create(const char *name, unsigned slots, size_t msg_size);
int spsc_open(const char *name, SpscRing **ret);
SpscRing *spsc_close(SpscRing *ring);
void spsc_unlink(const char *name);
int spsc_send(SpscRing *ring, const void *data, size_t len);
ssize_t spsc_recv(SpscRing *ring, void *buf, size_t cap, int timeout_ms);
