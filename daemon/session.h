/* session.h — one client connection's identity and holdings: credentials and pidfd taken at
 * accept, its attachments, and what happens when it hangs up or dies. */
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
#define SESSION_ATTACHMENTS_MAX 256

typedef struct Attachment {
        struct Attachment *next; /* in its session, or in the manager's release queue */
        struct Session *session; /* NULL once queued for release */
        Mailbox *mailbox;
        uint32_t token;
        uint32_t rights;
        unsigned idx;
} Attachment;

typedef struct Session {
        struct Session *next, *prev;
        Manager *manager;
        uint64_t id;
        struct ucred cred;
        gid_t groups[SESSION_GROUPS_MAX];
        size_t n_groups;
        int pidfd;
        struct event *pidfd_event;
        Conn *conn;         /* NULL once the socket hung up: orphaned while it holds something */
        Attachment *atts;
        unsigned n_atts;
} Session;

int session_new(Manager *m, int fd, Session **ret);
void session_hangup(Session *s);
Session *session_free(Session *s);

int session_attach(Session *s, Mailbox *mb, uint32_t rights, Attachment **ret);
int session_detach(Session *s, uint32_t token);
pid_t session_token_pid(Manager *m, uint32_t token);
