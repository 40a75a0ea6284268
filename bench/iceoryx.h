/* SPDX-License-Identifier: MIT */
/* iceoryx.h — the benchmark's iceoryx transport (iceoryx 2.0's C binding) and the RouDi daemon it
 * needs. Built as stubs that return -EOPNOTSUPP when configure found no C binding. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A worker's runtime is "<prefix>" ICEORYX_RUNTIME_TAG "-<pid>"; iceoryx leaves /tmp/<name> and
 * /tmp/<name>.lock behind it, which the driver sweeps. */
#define ICEORYX_RUNTIME_TAG "-iox"

typedef struct IceoryxEnd IceoryxEnd;

const char *iceoryx_not_built(void);

int iceoryx_roudi_start(const char *dir, const size_t *sizes, unsigned nsizes, unsigned depth, volatile pid_t *track,
                        char *why, size_t why_size);
int iceoryx_roudi_stop(volatile pid_t *track, int64_t quiet_since_ns);
void iceoryx_roudi_kill(pid_t pid);

int iceoryx_end_open(const char *prefix, const char *event, size_t size, unsigned depth, bool sender, IceoryxEnd **ret);
IceoryxEnd *iceoryx_end_free(IceoryxEnd *e);
int iceoryx_loan(IceoryxEnd *e, void **ret);
int iceoryx_publish(IceoryxEnd *e, void *chunk);
ssize_t iceoryx_take(IceoryxEnd *e, int timeout_ms, const void **ret);
void iceoryx_release(IceoryxEnd *e, const void *chunk);
