/* SPDX-License-Identifier: MIT */
/* state.h — the daemon's private policy state: which mailboxes exist, their generation, owner,
 * group and mode. Kept in a file of the state directory, never in shared memory. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/names.h"

typedef struct StateEntry {
        char name[NAMES_NAME_MAX + 1];
        uint64_t generation;
        uid_t uid;
        gid_t gid;
        uint32_t mode;
        /* an ephemeral mailbox (daemon/ephemeral.c): its creating process */
        bool ephemeral;
        pid_t owner_pid;
        uint64_t owner_starttime;
} StateEntry;

int state_load(const char *path, StateEntry **ret, size_t *ret_count);
int state_save(const char *path, const StateEntry *entries, size_t count);
