/* SPDX-License-Identifier: MIT */
/* session.h — one client process's identity and holdings: credentials and pidfd taken at accept,
 * its attachments, and what happens when it hangs up or dies. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef struct Manager Manager;
typedef struct Mailbox Mailbox;
typedef struct Conn Conn;
struct event;

#define SESSION_GROUPS_MAX 256

typedef struct Attachment {
        struct Attachment *next; /* in its session, or in the manager's release queue */
        struct Session *session; /* NULL once queued for release */
        Mailbox *mailbox;
        uint32_t token;
        uint32_t rights;
        unsigned idx;
        uid_t uid;         /* of the process that held it (-1: unknown): whose repairs wait */
        pid_t pid;         /* of that process (0: unknown), for the log and the probes */
        uint32_t retry_us; /* in the release queue: the current backoff */
        int64_t due_us;    /* in the release queue: next attempt, CLOCK_MONOTONIC */
} Attachment;

/*
 * A session is a client process as the daemon knows it: normally one connection. Without a
 * connection it is *orphaned* (the socket hung up, the process lives: its holdings stay pinned)
 * or a *ghost* (attachments of a live process found in the journal by a restarted daemon, until
 * that process re-registers them or dies).
 */
typedef struct Session {
        struct Session *next, *prev;
        Manager *manager;
        uint64_t id;
        struct ucred cred;
        uint64_t starttime; /* with cred.pid, names the process across daemon restarts */
        gid_t groups[SESSION_GROUPS_MAX];
        size_t n_groups;
        int pidfd;
        struct event *pidfd_event;
        Conn *conn;
        Attachment *atts;
        unsigned n_atts;
        bool linked;   /* in the manager's list */
        bool unproven; /* a ghost whose process could not be checked yet (no pidfd): retried */
} Session;

int session_new(Manager *m, int fd, Session **ret);
int session_new_ghost(Manager *m, pid_t pid, uint64_t starttime, Session **ret);
int session_watch(Session *s);
void session_end(Session *s);
void session_hangup(Session *s);
Session *session_free(Session *s);

int session_attach(Session *s, Mailbox *mb, uint32_t rights, Attachment **ret);
void session_add(Session *s, Attachment *a);
Attachment *session_take(Session *s, uint32_t token);
Attachment *session_take_own(Session *s, uint32_t token);
int session_detach(Session *s, uint32_t token);
pid_t session_token_pid(Manager *m, uint32_t token);
