/* SPDX-License-Identifier: MIT */
/* session.c — one client connection's identity and holdings, and the proof of its death.
 *
 * Credentials (SO_PEERCRED, SO_PEERGROUPS) are taken once, at accept, and never again: a
 * process that changes its uid reconnects. Death is seen from the kernel: the peer's pidfd
 * (SO_PEERPIDFD, or pidfd_open() of the peer's pid where the kernel lacks it) becomes readable
 * when the process exits, and only then are its attachments repaired (doc/design.md, invariant 5).
 * A socket hang-up alone makes a session that still holds attachments *orphaned*: no more
 * requests, holdings pinned until the pidfd proves death. A peer in another pid namespace has
 * pid 0 in SO_PEERCRED; pidfd_open(0) is never called — SO_PEERPIDFD names it regardless.
 */
#include "config.h"

#include "daemon/session.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/conn.h"
#include "daemon/journal.h"
#include "daemon/mailbox.h"
#include "daemon/manager.h"
#include "log/log.h"
#include "proto/crash.h"
#include "proto/util.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5; missing from Debian 12's headers */
#endif

static int peer_pidfd(int fd, pid_t pid) {
        int pidfd = -1;
        socklen_t len = sizeof(pidfd);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && pidfd >= 0)
                return pidfd;
        if (pid <= 0)
                return -ESRCH;
        pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        return pidfd >= 0 ? pidfd : -errno;
}

#define PIDFS_MAGIC 0x50494446

/* A pidfd's inode number on pidfs (Linux 6.9+) names its process for the whole boot — also a
 * peer in another pid namespace, for which the daemon has neither pid nor start time. 0 where
 * pidfds are anonymous inodes (older kernels), which all look alike. */
static uint64_t pidfd_inode(int pidfd) {
        struct statfs sfs;
        struct stat st;

        if (fstatfs(pidfd, &sfs) < 0 || sfs.f_type != PIDFS_MAGIC || fstat(pidfd, &st) < 0)
                return 0;
        return (uint64_t)st.st_ino;
}

static void session_link(Manager *m, Session *s) {
        s->linked = true;
        s->id = ++m->next_session_id;
        s->next = m->sessions;
        if (s->next)
                s->next->prev = s;
        m->sessions = s;
        m->n_sessions++;
}

static void session_died(evutil_socket_t fd, short what, void *userdata) {
        Session *s = userdata;
        Manager *m = s->manager;
        unsigned n = s->n_atts;

        log_full(n ? LOG_INFO : LOG_DEBUG, "session %llu (pid %d) ended, releasing %u attachment(s)",
                 (unsigned long long)s->id, (int)s->cred.pid, n);
        while (s->atts) {
                Attachment *a = s->atts;

                s->atts = a->next;
                s->n_atts--;
                manager_release(m, a);
        }
        if (s->conn)
                conn_free(s->conn); /* hangs the session up, which frees it: it holds nothing */
        else
                session_free(s);
}

/*
 * session_new() - a session for the connected socket @fd, with the peer's credentials and pidfd
 * @ret: the session, linked into @m; freed with session_free()
 *
 * Return: 0; -ENOMEM; a negative errno from getsockopt() or the event loop.
 */
int session_new(Manager *m, int fd, Session **ret) {
        Session *s;
        socklen_t len;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->manager = m;
        s->pidfd = -1;
        len = sizeof(s->cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &s->cred, &len) < 0) {
                free(s);
                return -errno;
        }
        len = sizeof(s->groups);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, s->groups, &len) == 0)
                s->n_groups = len / sizeof(gid_t);
        else if (errno == ERANGE)
                log_warning("peer pid %d has more than %d groups; only its primary group counts", (int)s->cred.pid,
                            SESSION_GROUPS_MAX);

        /* Without a pidfd the peer's death could never be proven, and without its start time a
         * restarted daemon could not tell it from a new process under the same pid: a peer the
         * daemon cannot identify fully is refused, never served half-identified. */
        s->pidfd = peer_pidfd(fd, s->cred.pid);
        if ((s->pidfd == -EMFILE || s->pidfd == -ENFILE) && manager_use_reserve(m))
                s->pidfd = peer_pidfd(fd, s->cred.pid);
        if (s->pidfd < 0) {
                int r = s->pidfd;

                log_warning("refused peer pid %d: no pidfd for it (%s)", (int)s->cred.pid, strerror(-r));
                free(s);
                return r == -EMFILE || r == -ENFILE ? r : -ESRCH;
        }
        /* read after the pidfd pins the process: if the pid was reused since connect(), the
         * pidfd has fired already and the session dies at once, whatever the start time says.
         * A peer in another pid namespace (pid 0) has none we can read. */
        if (s->cred.pid > 0) {
                int r = proc_starttime(s->cred.pid, &s->starttime);

                if ((r == -EMFILE || r == -ENFILE) && manager_use_reserve(m))
                        r = proc_starttime(s->cred.pid, &s->starttime);
                if (r < 0) {
                        log_warning("refused peer pid %d: cannot read its start time (%s)", (int)s->cred.pid,
                                    strerror(-r));
                        safe_close(s->pidfd);
                        free(s);
                        return r;
                }
        } else
                s->starttime = pidfd_inode(s->pidfd); /* stands in for the start time of a pid-0 peer */
        {
                s->pidfd_event = event_new(m->base, s->pidfd, EV_READ, session_died, s);
                if (!s->pidfd_event || event_add(s->pidfd_event, NULL) < 0) {
                        session_free(s);
                        return -ENOMEM;
                }
        }
        session_link(m, s);
        *ret = s;
        return 0;
}

/*
 * session_watch() - prove that the process of the ghost @s still runs, and watch its pidfd
 *
 * Only a proof of death is -ESRCH: pidfd_open() says there is no such process, /proc/PID is
 * gone, or its start time differs (the pid names another process now). The start time is read
 * after pidfd_open(), so a pid reused in between is never mistaken for it.
 *
 * Return: 0 (watched: its death will fire the pidfd); -ESRCH if that process is gone; another
 *         negative errno (EMFILE, ENFILE, ENOMEM, a /proc that does not parse) if nothing could be
 *         proven either way: try again later, and repair nothing meanwhile.
 */
int session_watch(Session *s) {
        Manager *m = s->manager;
        pid_t pid = s->cred.pid;
        uint64_t now;
        int fd, r;

        if (s->pidfd >= 0)
                return 0;
        r = FAULT_POINT(pidfd_open);
        fd = r ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
        if (fd < 0)
                return r ? -r : -errno; /* ESRCH: no such process, a proof */
        r = FAULT_POINT(starttime);
        r = r ? -r : proc_starttime(pid, &now);
        if (r >= 0 && now != s->starttime)
                r = -ESRCH; /* the pid was reused: the process of the journal is gone */
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        s->pidfd_event = event_new(m->base, fd, EV_READ, session_died, s);
        if (!s->pidfd_event || event_add(s->pidfd_event, NULL) < 0) {
                if (s->pidfd_event)
                        event_free(s->pidfd_event);
                s->pidfd_event = NULL;
                safe_close(fd);
                return -ENOMEM;
        }
        s->pidfd = fd;
        s->unproven = false;
        return 0;
}

/*
 * session_new_ghost() - a session without connection for the process @pid that held
 * attachments under an earlier daemon (from the journal)
 *
 * If that process could not be checked (session_watch() found nothing either way), the ghost is
 * made all the same, *unproven*: it pins its attachments like a live process's, and the manager
 * calls session_watch() again later. A @pid of 0 (a peer in another pid namespace) cannot be
 * watched: the ghost then pins its attachments until it re-registers.
 *
 * Return: 0; -ESRCH if that process is proven gone; -ENOMEM (nothing proven: nothing made).
 */
int session_new_ghost(Manager *m, pid_t pid, uint64_t starttime, Session **ret) {
        Session *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->manager = m;
        s->pidfd = -1;
        s->cred = (struct ucred){ .pid = pid, .uid = (uid_t)-1, .gid = (gid_t)-1 };
        s->starttime = starttime;
        if (pid > 0) {
                r = session_watch(s);
                if (r == -ESRCH) {
                        free(s);
                        return r;
                }
                if (r < 0) {
                        s->unproven = true;
                        log_errno(LOG_WARNING, r,
                                  "cannot tell whether pid %d of the journal still runs: its attachments "
                                  "are kept, and it is checked again later",
                                  (int)pid);
                }
        } else
                log_warning("an attachment of a process in another pid namespace cannot be watched "
                            "after a restart: pinned until that process re-registers");
        session_link(m, s);
        *ret = s;
        return 0;
}

/*
 * session_end() - the process of @s is proven dead: release every attachment it holds (each is
 * repaired) and free @s
 */
void session_end(Session *s) {
        session_died(-1, 0, s);
}

/*
 * session_hangup() - the socket is gone: free the session if it holds nothing, else keep its
 * holdings pinned (orphaned) until its pidfd proves the process dead
 */
void session_hangup(Session *s) {
        s->conn = NULL;
        if (s->n_atts == 0) {
                session_free(s);
                return;
        }
        log_info("session %llu (pid %d) hung up holding %u attachment(s): orphaned until it exits",
                 (unsigned long long)s->id, (int)s->cred.pid, s->n_atts);
}

/*
 * session_free() - unlink and free; attachments are dropped from the daemon's books without
 * touching shared memory (used at shutdown, where the clients carry on without the daemon)
 *
 * Return: NULL.
 */
Session *session_free(Session *s) {
        Manager *m;

        if (!s)
                return NULL;
        m = s->manager;
        while (s->atts) {
                Attachment *a = s->atts;

                s->atts = a->next;
                if (a->mailbox->att[a->idx] == a) {
                        a->mailbox->att[a->idx] = NULL;
                        a->mailbox->n_att--;
                }
                free(a);
        }
        if (s->linked) {
                if (s->prev)
                        s->prev->next = s->next;
                else
                        m->sessions = s->next;
                if (s->next)
                        s->next->prev = s->prev;
                m->n_sessions--;
        }
        if (s->pidfd_event)
                event_free(s->pidfd_event);
        safe_close(s->pidfd);
        free(s);
        return NULL;
}

/* Link @a into @s (which takes it over). */
void session_add(Session *s, Attachment *a) {
        a->session = s;
        a->uid = s->cred.uid;
        a->pid = s->cred.pid;
        a->next = s->atts;
        s->atts = a;
        s->n_atts++;
}

/*
 * session_attach() - grant @s a new attachment to @mb with @rights: books, journal, then the
 * token in shared memory
 *
 * Return: 0; -EMFILE at SESSION_ATTACHMENTS_MAX attachments of this session or LAYOUT_ATT_MAX of
 *         the mailbox; -ENOMEM; the journal's errno (nothing is granted then).
 */
int session_attach(Session *s, Mailbox *mb, uint32_t rights, Attachment **ret) {
        Attachment *a;
        int r;

        if (s->n_atts >= s->manager->limits.max_attachments_per_session) {
                log_notice("refused attach by uid %u (pid %d): %u attachments, the limit per session",
                           (unsigned)s->cred.uid, (int)s->cred.pid, s->n_atts);
                return -EMFILE;
        }
        a = FAULT_POINT(malloc_attach) ? NULL : calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->mailbox = mb;
        a->rights = rights;
        a->token = manager_token_new(s->manager);
        r = mailbox_att_alloc(mb, a, &a->idx);
        if (r < 0) {
                free(a);
                return r;
        }
        r = manager_journal_add(s->manager, s, a);
        if (r < 0) {
                mailbox_att_free(mb, a->idx);
                free(a);
                return r;
        }
        mailbox_att_publish(mb, a->idx, a->token);
        session_add(s, a);
        *ret = a;
        return 0;
}

/* Unlink the attachment @token from @s and hand it to the caller; NULL if @s has none. */
Attachment *session_take(Session *s, uint32_t token) {
        for (Attachment **p = &s->atts; *p; p = &(*p)->next) {
                Attachment *a = *p;

                if (a->token != token)
                        continue;
                *p = a->next;
                s->n_atts--;
                a->next = NULL;
                a->session = NULL;
                return a;
        }
        return NULL;
}

/*
 * session_take_own() - like session_take(), but also from the orphaned or ghost sessions of the
 * same process (same pid and start time): a client that connected again takes back what it held
 * through its earlier connection, or under an earlier daemon. An emptied session is freed.
 */
Attachment *session_take_own(Session *s, uint32_t token) {
        Attachment *a = session_take(s, token);

        if (a)
                return a;
        if (s->cred.pid < 0 || (s->cred.pid == 0 && s->starttime == 0))
                return NULL;
        for (Session *o = s->manager->sessions; o; o = o->next) {
                if (o == s || o->conn || o->cred.pid != s->cred.pid || o->starttime != s->starttime)
                        continue;
                a = session_take(o, token);
                if (!a)
                        continue;
                if (o->n_atts == 0)
                        session_free(o);
                return a;
        }
        return NULL;
}

/*
 * session_detach() - the client let go of the attachment @token; its ring state is repaired
 * (normally there is nothing to repair) before its index is reused
 *
 * Return: 0; -ENOENT if this process holds no such attachment.
 */
int session_detach(Session *s, uint32_t token) {
        Attachment *a = session_take_own(s, token);

        if (!a)
                return -ENOENT;
        manager_release(s->manager, a);
        return 0;
}

/*
 * session_token_pid() - the pid of the session holding attachment @token, or 0
 */
pid_t session_token_pid(Manager *m, uint32_t token) {
        for (Session *s = m->sessions; s; s = s->next)
                for (Attachment *a = s->atts; a; a = a->next)
                        if (a->token == token)
                                return s->cred.pid;
        return 0;
}
