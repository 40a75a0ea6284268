/* SPDX-License-Identifier: MIT */
/* manager.h — the daemon as a whole: the event loop, the listening socket, the registry of
 * mailboxes and sessions, start-up adoption and shutdown. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "daemon/limits.h"
#include "daemon/journal.h"
#include "daemon/mailbox.h"
#include "daemon/session.h"
#include "daemon/state.h"
#include "proto/names.h"

struct event_base;
struct evconnlistener;
struct event;

/* $(localstatedir)/lib/shmbox: Makefile.am defines it from configure's localstatedir */
#ifndef MANAGER_DEFAULT_STATE_DIR
#define MANAGER_DEFAULT_STATE_DIR "/var/lib/shmbox"
#endif

typedef struct ManagerConfig {
        const char *socket_path;
        const char *prefix;
        const char *state_dir;
        const char *config_path;    /* limits and quotas; re-read at reload */
        uint64_t max_mailbox_bytes; /* from the command line: wins over the file; 0 = unset */
        int log_level;              /* from the command line: wins over the file; -1 = unset */
} ManagerConfig;

typedef struct Build Build;

typedef struct Manager {
        ManagerConfig config;
        Limits limits; /* in force: defaults < config file < command line */
        char state_path[4096];
        char journal_path[4096];
        Journal journal;
        char lock_path[NAMES_OBJECT_MAX + 16];
        int lock_fd;
        bool socket_bound;

        struct event_base *base;
        struct evconnlistener *listener;
        struct event *sig_term, *sig_int, *sig_hup, *release_timer, *size_timer;

        Mailbox *mailboxes; /* published, by name (a list: counts are capped) */
        Mailbox *destroyed; /* destroyed, kept until their last attachment is released */
        unsigned n_mailboxes;
        Build *builds; /* creates in progress */
        Session *sessions;
        unsigned n_sessions;
        Attachment *releases;                  /* attachments whose repair waits for a live lock holder */
        int64_t release_due_us;                /* when release_timer fires (CLOCK_MONOTONIC), if pending */
        struct event *audit_timer;             /* daemon/audit.c */
        int64_t audit_due_us;                  /* when it fires, if pending */
        char audit_cursor[NAMES_NAME_MAX + 1]; /* where the next tick starts (""): the budget ran out */

        unsigned accepted_this_turn; /* accepts since the listener last yielded */
        int reserve[2];              /* spare fds, given up to identify the last peer accepted */
        unsigned refused;            /* connections refused since the last log line */
        time_t refused_logged;

        uint32_t next_token;       /* from the journal, never from shared memory */
        bool token_wrapped;        /* next_token wrapped: each new token is checked against the books */
        JournalRecord *adopt_recs; /* journal records adoption has not sorted out yet */
        size_t n_adopt_recs;
        StateEntry *pending; /* mailboxes of the state file not adopted yet: retried */
        size_t n_pending;
        struct event *adopt_timer;
        uint32_t adopt_retry_ms;
        uint64_t last_generation;
        uint64_t next_session_id;
        bool stopping; /* manager_free() runs: connections closing now end no ephemeral mailbox */
} Manager;

int manager_new(const ManagerConfig *config, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        manager_free(*m);
}
int manager_run(Manager *m);
int manager_reload(Manager *m, char *why, size_t size);
bool manager_use_reserve(Manager *m);

Mailbox *manager_find(Manager *m, const char *name);
bool manager_name_taken(Manager *m, const char *name);
uint32_t manager_token_new(Manager *m);
uint64_t manager_generation_new(Manager *m);
int manager_save_state(Manager *m);
void manager_add_mailbox(Manager *m, Mailbox *mb);
void manager_destroy_mailbox(Manager *m, Mailbox *mb);
void manager_release(Manager *m, Attachment *a);
void manager_enforce_sizes(Manager *m, Mailbox *only);
int manager_journal_add(Manager *m, const Session *s, const Attachment *a);

/* An asynchronous create: preallocation in steps, then the reply through @done. */
typedef void (*BuildDone)(void *userdata, int status);
int manager_build_start(Manager *m, Mailbox *mb, BuildDone done, void *userdata, Build **ret);
void manager_build_cancel(Manager *m, Build *b);
void manager_builds_usage(Manager *m, uid_t uid, unsigned *uid_count, uint64_t *uid_bytes, unsigned *total_count,
                          uint64_t *total_bytes);
