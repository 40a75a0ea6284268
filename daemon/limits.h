/* SPDX-License-Identifier: MIT */
/* limits.h — the daemon's limits and quotas: defaults, the optional config file, reload. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* $(sysconfdir)/shmbox/shmboxd.conf: Makefile.am defines it from configure's sysconfdir */
#ifndef CONFIG_DEFAULT_PATH
#define CONFIG_DEFAULT_PATH "/etc/shmbox/shmboxd.conf"
#endif

typedef struct Limits {
        uint64_t max_mailbox_bytes;     /* one mailbox's segment */
        uint32_t max_mailboxes;         /* all users together */
        uint64_t max_total_bytes;       /* all users together */
        uint32_t max_mailboxes_per_uid; /* per owner (root is exempt) */
        uint64_t max_bytes_per_uid;     /* per owner (root is exempt) */
        uint32_t max_connections;       /* sessions, all users */
        uint32_t max_attachments_per_session;
} Limits;

void limits_default(Limits *ret);
int config_load(const char *path, Limits *limits, int *log_level, char *error, size_t error_size);
