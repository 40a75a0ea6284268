/* SPDX-License-Identifier: MIT */
/* names.h — the rules for prefixes and mailbox names, and the names of their objects in /dev/shm. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_DIR "/dev/shm"
#define NAMES_PREFIX_MAX 32
#define NAMES_NAME_MAX 64
#define NAMES_DEFAULT_PREFIX "shmbox"

/* Large enough for any object name below, including the leading '/' and the NUL. */
#define NAMES_OBJECT_MAX 192

/* Semaphore roles. The lock semaphore is only where lock losers sleep, never the lock. */
typedef enum SemRole {
        SEM_LOCK,
        SEM_ITEMS,
        SEM_SPACE,
        _SEM_ROLE_MAX,
} SemRole;

bool names_prefix_valid(const char *prefix);
bool names_mailbox_valid(const char *name);

int names_segment(char *buf, size_t size, const char *prefix, const char *name);
int names_segment_tmp(char *buf, size_t size, const char *prefix, const char *name, uint64_t gen);
int names_semaphore(char *buf, size_t size, const char *prefix, const char *name, SemRole role, uint64_t gen);
int names_lockfile(char *buf, size_t size, const char *prefix);
int names_fifo(char *buf, size_t size, const char *prefix, const char *name, uint64_t gen);
int names_sub_fifo(char *buf, size_t size, const char *prefix, const char *name, uint64_t gen, unsigned idx);
int names_sub_fifo_base(char *buf, size_t size, const char *prefix, const char *name, uint64_t gen);
const char *names_role_str(SemRole role);
