/* SPDX-License-Identifier: MIT */
/* manager.c — the daemon as a whole: start-up (instance lock, adoption, socket), the event
 * loop, the registry of mailboxes, creates in progress, repairs waiting for a lock, shutdown.
 *
 * Start-up order matters: the prefix's flock comes before anything touches /dev/shm or the
 * socket (one daemon per prefix); then mailboxes recorded in the private state file are
 * adopted (each validated, its epoch bumped so clients notice the new daemon and re-register),
 * and each attachment found in them is judged with the session journal: its process still
 * runs (same pid, same start time) — a ghost session watches it — or it is proven gone, and the
 * attachment is repaired at once; what cannot be judged or adopted now (no memory, no fd) is
 * kept, in the books and in the state file and journal, and retried from a timer; then only
 * provable garbage is removed (temporaries of an interrupted create, semaphores whose segment
 * is gone) and everything else that is not ours to judge is reported and kept; the socket is
 * bound last, so a client that can connect finds every mailbox already there.
 *
 * The daemon never blocks on anything a client can hold: repairs that find the lock held by a
 * live process wait in a queue retried from a timer, each with its own exponential backoff and
 * a bounded, per-uid fair number of attempts per round; large creates preallocate in steps
 * scheduled as zero-timeouts, so I/O of other clients is polled between two steps.
 */
#include "config.h"

#include "daemon/manager.h"

#include <dirent.h>

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/audit.h"
#include "daemon/conn.h"
#include "daemon/ephemeral.h"
#include "daemon/guard.h"
#include "daemon/notify.h"
#include "daemon/state.h"
#include "log/log.h"
#include "proto/crash.h"
#include "proto/probes.h"
#include "proto/util.h"

/* Preallocation per loop iteration: about 2 ms of fallocate on tmpfs here, so a 256 MiB
 * create (about 70 ms in all) delays other clients by a few ms at most. */
#define BUILD_CHUNK (UINT64_C(8) << 20)
/* A release waiting for a lock that a live process holds is retried after 2 ms, then after
 * twice as long each time, up to 1 s; one round of retries makes at most RELEASE_BUDGET
 * attempts, at most RELEASE_PER_UID of them for one uid's releases. */
#define RELEASE_RETRY_MIN_US 2000
#define RELEASE_RETRY_MAX_US 1000000
#define RELEASE_BUDGET 64
#define RELEASE_PER_UID 16
#define ACCEPT_RETRY_MS 100
#define ADOPT_RETRY_MIN_MS 100   /* what start-up could not adopt: first retry, */
#define ADOPT_RETRY_MAX_MS 30000 /* doubling up to this */
#define SIZE_CHECK_S 1           /* how often every mailbox's file sizes are checked (manager_enforce_sizes) */
#define ACCEPT_BATCH 16

struct Build {
        Build *next;
        Manager *manager;
        Mailbox *mb;
        struct event *ev;
        BuildDone done;
        void *userdata;
};

Mailbox *manager_find(Manager *m, const char *name) {
        for (Mailbox *mb = m->mailboxes; mb; mb = mb->next)
                if (strcmp(mb->name, name) == 0)
                        return mb;
        return NULL;
}

/* A name is taken by a published mailbox, a create in progress or a mailbox not adopted yet. */
bool manager_name_taken(Manager *m, const char *name) {
        if (manager_find(m, name))
                return true;
        for (Build *b = m->builds; b; b = b->next)
                if (strcmp(b->mb->name, name) == 0)
                        return true;
        for (size_t i = 0; i < m->n_pending; i++)
                if (strcmp(m->pending[i].name, name) == 0)
                        return true;
        return false;
}

/* Whether the daemon's own books have @token held: by an attachment of a mailbox (of a live,
 * orphaned or ghost session, or waiting for its release), or by a record of the journal that
 * adoption has not sorted out yet. Shared memory is never asked. */
static bool token_held(Manager *m, uint32_t token) {
        for (Mailbox *list[2] = { m->mailboxes, m->destroyed }, **l = list; l < list + 2; l++)
                for (Mailbox *mb = *l; mb; mb = mb->next)
                        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++)
                                if (mb->att[i] && mb->att[i]->token == token)
                                        return true;
        for (size_t i = 0; i < m->n_adopt_recs; i++)
                if (m->adopt_recs[i].token == token)
                        return true;
        return false;
}

/*
 * manager_token_new() - a fresh attachment token: never 0 or TOKEN_DAEMON, never one held
 *
 * The counter starts above every token the journal recorded (journal_open()), never from what
 * shared memory says, so that no attached process can steer it. Until it wraps, every token it
 * gives is above every token held; once it wrapped (2^32 attaches), each candidate is checked
 * against the daemon's books and skipped while held.
 */
uint32_t manager_token_new(Manager *m) {
        for (;;) {
                uint32_t t = m->next_token;

                if (t < TOKEN_FIRST) {
                        log_warning("attachment tokens wrapped around: skipping those still held from now on");
                        m->token_wrapped = true;
                        t = TOKEN_FIRST;
                }
                m->next_token = t + 1; /* 0 after UINT32_MAX: the next call wraps */
                if (!m->token_wrapped || !token_held(m, t))
                        return t;
        }
}

/* A generation unique per creation, also across daemon restarts (wall clock, strictly rising). */
uint64_t manager_generation_new(Manager *m) {
        struct timespec ts;
        uint64_t g;

        clock_gettime(CLOCK_REALTIME, &ts);
        g = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        if (g <= m->last_generation)
                g = m->last_generation + 1;
        m->last_generation = g;
        return g;
}

int manager_save_state(Manager *m) {
        _cleanup_free_ StateEntry *v = calloc(m->n_mailboxes + m->n_pending + 1, sizeof(*v));
        size_t n = 0;
        int r;

        if (!v)
                return log_errno(LOG_ERR, -ENOMEM, "cannot save state");
        /* mailboxes start-up could not adopt yet stay, exactly as they were recorded */
        for (size_t i = 0; i < m->n_pending; i++)
                v[n++] = m->pending[i];
        for (Mailbox *mb = m->mailboxes; mb; mb = mb->next, n++) {
                v[n] = (StateEntry){ .generation = mb->geo.generation,
                                     .uid = mb->uid,
                                     .gid = mb->gid,
                                     .mode = mb->mode,
                                     .ephemeral = mb->ephemeral,
                                     .owner_pid = mb->owner_pid,
                                     .owner_starttime = mb->owner_starttime };
                strcpy(v[n].name, mb->name);
        }
        r = state_save(m->state_path, v, n);
        if (r < 0)
                return log_errno(LOG_ERR, r, "cannot save state to %s", m->state_path);
        return 0;
}

/* Keep the registry sorted by name, so list output is stable. */
void manager_add_mailbox(Manager *m, Mailbox *mb) {
        Mailbox **p = &m->mailboxes;

        while (*p && strcmp((*p)->name, mb->name) < 0)
                p = &(*p)->next;
        mb->next = *p;
        *p = mb;
        m->n_mailboxes++;
        audit_schedule(m, mb);
}

static void unlink_from(Mailbox **list, Mailbox *mb) {
        for (Mailbox **p = list; *p; p = &(*p)->next)
                if (*p == mb) {
                        *p = mb->next;
                        mb->next = NULL;
                        return;
                }
}

/*
 * manager_destroy_mailbox() - remove @mb's names and policy; the object lives on until its
 * last attachment is released, so repairs still find it
 */
void manager_destroy_mailbox(Manager *m, Mailbox *mb) {
        ephemeral_unwatch(mb); /* gone: nothing left for its creator's end to destroy */
        mb->owner_conn = NULL;
        unlink_from(&m->mailboxes, mb);
        m->n_mailboxes--;
        mailbox_unlink(mb);
        (void)manager_save_state(m);
        if (mb->n_att == 0) {
                mailbox_free(mb);
                return;
        }
        mb->next = m->destroyed;
        m->destroyed = mb;
}

/* Repair and free one released attachment. Returns false while a live process holds the lock. */
static bool release_try(Manager *m, Attachment *a) {
        Mailbox *mb = a->mailbox;
        RingRepair rep = {};
        int r;

        /* a destroyed mailbox needs no repair: nobody can use it any more. Else the audit
         * first: a lock forged under a token of no session, also written into the attachment
         * table, would keep this repair waiting for good (daemon/audit.c) */
        if (!mb->destroyed)
                (void)audit_mailbox(m, mb, NULL);
        r = mb->destroyed ? 0 : mailbox_repair(mb, a->token, a->idx, &rep);
        if (r == -EBUSY)
                return false;
        SHMBOX_PROBE6(repair, mb->name, a->token, a->pid, r < 0 ? r : rep.held_lock, rep.abandoned, rep.redelivered);
        if (r < 0)
                log_event(LOG_WARNING,
                          &(LogFields){ r == -EBADMSG ? LOG_EVENT_CORRUPTION : LOG_EVENT_REPAIR, mb->name, a->uid,
                                        a->pid, r },
                          "repair of %s for token %u impossible: %s", mb->name, a->token, strerror(-r));
        else if (rep.held_lock || rep.rolled || rep.abandoned || rep.redelivered)
                log_event(LOG_INFO, &(LogFields){ LOG_EVENT_REPAIR, mb->name, a->uid, a->pid, 0 },
                          "repaired %s after token %u (pid %d): lock %s, %u step(s) rolled forward, %u claim(s) "
                          "abandoned, %u message(s) redelivered, head passed %u slot(s)",
                          mb->name, a->token, (int)a->pid, rep.held_lock ? "released" : "free", rep.rolled,
                          rep.abandoned, rep.redelivered, rep.head_advanced);
        (void)journal_remove(&m->journal, a->token);
        mailbox_att_free(mb, a->idx);
        free(a);
        if (mb->destroyed && mb->n_att == 0) {
                unlink_from(&m->destroyed, mb);
                mailbox_free(mb);
        }
        return true;
}

/* Rewrite the journal from the live attachments once it has grown well past them. */
static void journal_maybe_compact(Manager *m) {
        _cleanup_free_ JournalRecord *v = NULL;
        size_t n = 0, live = 0;

        for (Session *s = m->sessions; s; s = s->next)
                live += s->n_atts;
        for (Attachment *a = m->releases; a; a = a->next)
                live++;
        live += m->n_adopt_recs;
        if (m->journal.lines < 2 * live + 4096)
                return;
        v = calloc(live + 1, sizeof(*v));
        if (!v)
                return;
        for (Session *s = m->sessions; s; s = s->next)
                for (Attachment *a = s->atts; a; a = a->next, n++) {
                        v[n] = (JournalRecord){ .token = a->token,
                                                .idx = a->idx,
                                                .pid = s->cred.pid,
                                                .starttime = s->starttime,
                                                .generation = a->mailbox->geo.generation };
                        strcpy(v[n].name, a->mailbox->name);
                }
        /* attachments waiting for their repair: their process is dead, pid 0 says "gone" */
        for (Attachment *a = m->releases; a; a = a->next, n++) {
                v[n] = (JournalRecord){ .token = a->token, .idx = a->idx, .generation = a->mailbox->geo.generation };
                strcpy(v[n].name, a->mailbox->name);
        }
        /* records adoption could not sort out yet: kept as they were */
        for (size_t i = 0; i < m->n_adopt_recs; i++)
                v[n++] = m->adopt_recs[i];
        if (journal_compact(&m->journal, m->next_token, v, n) < 0)
                log_warning("cannot compact the session journal %s", m->journal_path);
}

/*
 * manager_journal_add() - record that the process of @s holds @a, before @a's token is published
 *
 * Return: 0; a negative errno (logged): the attachment must then not be granted.
 */
int manager_journal_add(Manager *m, const Session *s, const Attachment *a) {
        JournalRecord rec = { .token = a->token,
                              .idx = a->idx,
                              .pid = s->cred.pid,
                              .starttime = s->starttime,
                              .generation = a->mailbox->geo.generation };
        int r;

        journal_maybe_compact(m);
        strcpy(rec.name, a->mailbox->name);
        r = journal_add(&m->journal, &rec);
        if (r < 0)
                return log_errno(LOG_ERR, r, "cannot write the session journal %s", m->journal_path);
        return 0;
}

static int64_t now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Arm the release timer for @due_us unless it fires earlier already. */
static void release_arm(Manager *m, int64_t due_us, int64_t now) {
        struct timeval tv;
        int64_t delay = MAX(due_us - now, 0);

        if (evtimer_pending(m->release_timer, NULL) && m->release_due_us <= due_us)
                return;
        tv = (struct timeval){ .tv_sec = delay / 1000000, .tv_usec = delay % 1000000 };
        if (evtimer_add(m->release_timer, &tv) == 0)
                m->release_due_us = due_us;
}

/* How many attempts @uid had in this round; *@n_seen grows with each new uid. */
static unsigned *uid_attempts(uid_t *uids, unsigned *counts, unsigned *n_seen, uid_t uid) {
        for (unsigned i = 0; i < *n_seen; i++)
                if (uids[i] == uid)
                        return &counts[i];
        uids[*n_seen] = uid;
        counts[*n_seen] = 0;
        return &counts[(*n_seen)++];
}

/*
 * Retry the releases that are due. A live process holding the lock keeps a release waiting as
 * long as it likes, so each waiting release backs off (RELEASE_RETRY_MIN_US doubling up to
 * RELEASE_RETRY_MAX_US), and one round makes at most RELEASE_BUDGET attempts, at most
 * RELEASE_PER_UID of them for the releases of one uid: the others' repairs are not starved, and
 * the event loop serves the sockets between two rounds.
 */
static void release_timer_cb(evutil_socket_t fd, short what, void *userdata) {
        Manager *m = userdata;
        Attachment **p = &m->releases;
        uid_t uids[RELEASE_BUDGET];
        unsigned counts[RELEASE_BUDGET], n_seen = 0, attempts = 0;
        int64_t now = now_us(), next = INT64_MAX;

        m->release_due_us = INT64_MAX;
        while (*p) {
                Attachment *a = *p;
                unsigned *mine;

                if (a->due_us > now) {
                        next = MIN(next, a->due_us);
                        p = &a->next;
                        continue;
                }
                mine = attempts < RELEASE_BUDGET ? uid_attempts(uids, counts, &n_seen, a->uid) : NULL;
                if (!mine || *mine >= RELEASE_PER_UID) {
                        next = now; /* due, left for the next round */
                        p = &a->next;
                        continue;
                }
                (*mine)++;
                attempts++;
                *p = a->next;
                if (release_try(m, a))
                        continue;
                a->retry_us = MIN(a->retry_us * 2, RELEASE_RETRY_MAX_US);
                a->due_us = now + a->retry_us;
                next = MIN(next, a->due_us);
                a->next = *p;
                *p = a;
                p = &a->next;
        }
        if (next != INT64_MAX)
                release_arm(m, next, now);
}

/*
 * manager_release() - repair the ring state of a finished attachment and free its index; the
 * caller has unlinked @a from its session, and the daemon owns it from here
 */
void manager_release(Manager *m, Attachment *a) {
        int64_t now;

        SHMBOX_PROBE4(session_detach, a->mailbox->name, a->token, a->pid, a->uid);
        a->session = NULL;
        if (release_try(m, a))
                return;
        now = now_us();
        a->retry_us = RELEASE_RETRY_MIN_US;
        a->due_us = now + a->retry_us;
        a->next = m->releases;
        m->releases = a;
        release_arm(m, a->due_us, now);
}

/* Undo what a peer did to the sizes of @mb's files, and say so once, with who was attached. */
static void enforce_size(Manager *m, Mailbox *mb) {
        MailboxSizes found = {};
        char pids[128] = "";
        size_t len = 0;
        int r;

        r = mailbox_enforce_size(mb, &found);
        if (r == 0)
                return;
        if (r < 0) {
                log_errno(LOG_WARNING, r, "mailbox %s: cannot check or restore the sizes of its files", mb->name);
                return;
        }
        for (unsigned i = 0; i < LAYOUT_ATT_MAX && len + 16 < sizeof(pids); i++) {
                const Attachment *a = mb->att[i];

                if (a && a->session)
                        len += (size_t)snprintf(pids + len, sizeof(pids) - len, " %d", (int)a->session->cred.pid);
        }
        if (r & SIZE_SEGMENT_GROWN)
                log_event(LOG_WARNING, &(LogFields){ LOG_EVENT_CORRUPTION, mb->name, mb->uid, 0, 0 },
                          "mailbox %s (owner uid %u): segment grown to %llu bytes (%llu allocated) by a process "
                          "with access, cut back to its %llu bytes; attached pids:%s",
                          mb->name, (unsigned)mb->uid, (unsigned long long)found.size,
                          (unsigned long long)found.allocated, (unsigned long long)mb->geo.total_size,
                          pids[0] ? pids : " none");
        if (r & SIZE_SEM_RESTORED)
                log_event(LOG_WARNING, &(LogFields){ LOG_EVENT_CORRUPTION, mb->name, mb->uid, 0, 0 },
                          "mailbox %s (owner uid %u): a semaphore file truncated or grown by a process with "
                          "access, restored; attached pids:%s",
                          mb->name, (unsigned)mb->uid, pids[0] ? pids : " none");
}

/*
 * manager_enforce_sizes() - cut back segments that peers grew past their layout and restore
 * semaphore files they resized: of @only, or of every mailbox (NULL), destroyed ones included
 * (their files live on while attached). Called before every quota is charged, and each second.
 */
void manager_enforce_sizes(Manager *m, Mailbox *only) {
        if (only) {
                enforce_size(m, only);
                return;
        }
        for (Mailbox *mb = m->mailboxes; mb; mb = mb->next)
                enforce_size(m, mb);
        for (Mailbox *mb = m->destroyed; mb; mb = mb->next)
                enforce_size(m, mb);
}

static void size_timer_cb(evutil_socket_t fd, short what, void *userdata) {
        manager_enforce_sizes(userdata, NULL);
}

static void build_free(Manager *m, Build *b) {
        for (Build **p = &m->builds; *p; p = &(*p)->next)
                if (*p == b) {
                        *p = b->next;
                        break;
                }
        if (b->ev)
                event_free(b->ev);
        mailbox_free(b->mb); /* NULL once published */
        free(b);
}

/* A create found its name taken in /dev/shm by something that is not ours: say whose it is. */
static void log_squatter(Manager *m, const char *name) {
        char path[NAMES_OBJECT_MAX + 16];
        struct stat st;

        snprintf(path, sizeof(path), SHM_DIR "/%s.%s", m->config.prefix, name);
        if (lstat(path, &st) == 0)
                log_warning("create of %s refused: %s exists and belongs to uid %u, not to this daemon", name, path,
                            (unsigned)st.st_uid);
}

static void build_step(evutil_socket_t fd, short what, void *userdata) {
        Build *b = userdata;
        Manager *m = b->manager;
        BuildDone done = b->done;
        void *ud = b->userdata;
        int r;

        r = mailbox_prealloc_step(b->mb, BUILD_CHUNK);
        if (r > 0) {
                struct timeval zero = { 0, 0 };
                evtimer_add(b->ev, &zero);
                return;
        }
        if (r == 0)
                r = mailbox_publish(b->mb);
        if (r >= 0) {
                manager_add_mailbox(m, TAKE_PTR(b->mb));
                (void)manager_save_state(m);
        } else if (r == -EEXIST)
                log_squatter(m, b->mb->name);
        else
                log_errno(LOG_ERR, r, "create of %s failed", b->mb->name);
        build_free(m, b);
        done(ud, r);
}

/*
 * manager_build_start() - preallocate and publish @mb in steps; @done gets 0 or a negative errno
 * @mb: owned by the build from here on, also on failure
 *
 * Return: 0 and *@ret (to cancel with manager_build_cancel() before @done is called); -ENOMEM.
 */
int manager_build_start(Manager *m, Mailbox *mb, BuildDone done, void *userdata, Build **ret) {
        struct timeval zero = { 0, 0 };
        Build *b = calloc(1, sizeof(*b));

        if (!b) {
                mailbox_free(mb);
                return -ENOMEM;
        }
        *b = (Build){ .manager = m, .mb = mb, .done = done, .userdata = userdata };
        b->next = m->builds;
        m->builds = b;
        b->ev = evtimer_new(m->base, build_step, b);
        if (!b->ev || evtimer_add(b->ev, &zero) < 0) {
                build_free(m, b);
                return -ENOMEM;
        }
        *ret = b;
        return 0;
}

/* Add the creates in progress to the usage counts of check_limits() (conn.c). */
void manager_builds_usage(Manager *m, uid_t uid, unsigned *uid_count, uint64_t *uid_bytes, unsigned *total_count,
                          uint64_t *total_bytes) {
        for (Build *b = m->builds; b; b = b->next) {
                (*total_count)++;
                *total_bytes += b->mb->geo.total_size;
                if (b->mb->uid == uid) {
                        (*uid_count)++;
                        *uid_bytes += b->mb->geo.total_size;
                }
        }
}

/* Cancel a create in progress (its client went away): everything it made is removed. */
void manager_build_cancel(Manager *m, Build *b) {
        build_free(m, b);
}

static void accept_error_cb(struct evconnlistener *l, void *userdata);
static void accept_resume_cb(evutil_socket_t fd, short what, void *userdata);
static bool reserve_take(Manager *m);

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *userdata) {
        Manager *m = userdata;
        Conn *c;
        int r;

        r = FAULT_POINT(accept);
        if (r) { /* as if accept() had failed: the connection is dropped, the listener paused */
                close(fd);
                EVUTIL_SET_SOCKET_ERROR(r);
                accept_error_cb(l, m);
                return;
        }
        if (m->n_sessions >= m->limits.max_connections) {
                /* one line per second at most: a local client must not flood the journal */
                time_t now = time(NULL);

                m->refused++;
                if (now != m->refused_logged) {
                        log_warning("refused a connection: %u sessions exist (%u refused since the last report)",
                                    m->n_sessions, m->refused);
                        m->refused = 0;
                        m->refused_logged = now;
                }
                close(fd);
        } else {
                r = conn_new(m, fd, &c);
                if (r < 0)
                        log_errno(LOG_WARNING, r, "cannot serve a new connection");
                if (!reserve_take(m)) {
                        /* the spares went to this peer: accept no more until they are back */
                        struct timeval tv = { 0, ACCEPT_RETRY_MS * 1000 };

                        log_warning("out of file descriptors: pausing new connections");
                        evconnlistener_disable(l);
                        event_base_once(m->base, -1, EV_TIMEOUT, accept_resume_cb, m, &tv);
                        return;
                }
        }
        /* libevent accepts in a loop until the backlog is empty; hang-ups of the peers just
         * accepted are only seen after it. Yield after a batch, so that a connect/close storm
         * cannot fill the session table with peers that are already gone. */
        if (++m->accepted_this_turn >= ACCEPT_BATCH) {
                struct timeval zero = { 0, 0 };

                evconnlistener_disable(l);
                event_base_once(m->base, -1, EV_TIMEOUT, accept_resume_cb, m, &zero);
        }
}

/*
 * The spare descriptors. A connection needs three fds to be served: its socket, the peer's
 * pidfd and, briefly, /proc/PID/stat for its start time. When accept() took the last one, the
 * daemon gives up its two spares to identify that peer fully, then pauses the listener until it
 * can hold its spares again: connections wait in the backlog rather than being refused, and a
 * peer is never served half-identified.
 */
static bool reserve_take(Manager *m) {
        for (int i = 0; i < 2; i++)
                if (m->reserve[i] < 0) {
                        m->reserve[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
                        if (m->reserve[i] < 0)
                                return false;
                }
        return true;
}

/* Give up the spares (session.c calls this when a peer's pidfd or start time hit EMFILE). */
bool manager_use_reserve(Manager *m) {
        bool had = false;

        for (int i = 0; i < 2; i++)
                if (m->reserve[i] >= 0) {
                        m->reserve[i] = safe_close(m->reserve[i]);
                        had = true;
                }
        return had;
}

static void accept_resume_cb(evutil_socket_t fd, short what, void *userdata) {
        Manager *m = userdata;
        struct timeval tv = { 0, ACCEPT_RETRY_MS * 1000 };

        m->accepted_this_turn = 0;
        if (!reserve_take(m)) { /* still out of descriptors: wait on */
                event_base_once(m->base, -1, EV_TIMEOUT, accept_resume_cb, m, &tv);
                return;
        }
        evconnlistener_enable(m->listener);
}

static void accept_error_cb(struct evconnlistener *l, void *userdata) {
        Manager *m = userdata;
        int e = EVUTIL_SOCKET_ERROR();
        struct timeval tv = { 0, ACCEPT_RETRY_MS * 1000 };

        /* Out of file descriptors: the pending connection stays pending, so libevent would
         * report it again at once. Pause the listener and retry from a timer. */
        log_errno(LOG_WARNING, -e, "accept failed, pausing for %d ms", ACCEPT_RETRY_MS);
        evconnlistener_disable(l);
        event_base_once(m->base, -1, EV_TIMEOUT, accept_resume_cb, m, &tv);
}

/* Read the config file again (or for the first time) over the defaults; the command line wins.
 * A file that does not parse is logged, and said in @why (@size bytes; NULL: not wanted). */
static int load_config(Manager *m, char *why, size_t size) {
        Limits limits;
        int level = log_max_level, r;
        char error[512];

        limits_default(&limits);
        r = config_load(m->config.config_path, &limits, &level, error, sizeof(error));
        if (r < 0) {
                if (why)
                        snprintf(why, size, "config file %s refused, %s", m->config.config_path, error);
                return log_errno(LOG_ERR, r, "config file %s refused, %s", m->config.config_path, error);
        }
        if (m->config.max_mailbox_bytes)
                limits.max_mailbox_bytes = m->config.max_mailbox_bytes;
        if (m->config.log_level >= 0)
                level = m->config.log_level;
        m->limits = limits;
        log_max_level = level;
        return 0;
}

/*
 * manager_reload() - apply the config file again; existing mailboxes and sessions are kept, a
 * mailbox above a lowered limit too (new requests only are refused)
 * @why: NULL, or @size bytes that receive, on -EINVAL, what is wrong with the file
 *
 * Return: 0; -EINVAL if the file does not parse (the running limits stay; logged).
 */
int manager_reload(Manager *m, char *why, size_t size) {
        int r;

        notify_reloading();
        r = load_config(m, why, size);
        notify_ready(m);
        if (r >= 0)
                log_info("reloaded %s: max %u mailboxes (%u per uid), %llu bytes per mailbox", m->config.config_path,
                         m->limits.max_mailboxes, m->limits.max_mailboxes_per_uid,
                         (unsigned long long)m->limits.max_mailbox_bytes);
        return r;
}

static void signal_cb(evutil_socket_t sig, short what, void *userdata) {
        Manager *m = userdata;

        if (sig == SIGHUP) {
                (void)manager_reload(m, NULL, 0);
                return;
        }
        log_info("received %s, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        notify_stopping();
        if (m->listener)
                evconnlistener_disable(m->listener);
        event_base_loopbreak(m->base);
}

static int take_instance_lock(Manager *m) {
        int r;

        r = names_lockfile(m->lock_path, sizeof(m->lock_path), m->config.prefix);
        if (r < 0)
                return r;
        for (int tries = 0; tries < 5; tries++) {
                struct stat a, b;
                int fd = open(m->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

                if (fd < 0)
                        return log_errno(LOG_ERR, -errno, "cannot open %s", m->lock_path);
                if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                        r = -errno;
                        close(fd);
                        if (r == -EWOULDBLOCK)
                                return log_errno(LOG_ERR, -EADDRINUSE,
                                                 "another shmboxd already serves prefix \"%s\" (%s is locked)",
                                                 m->config.prefix, m->lock_path);
                        return log_errno(LOG_ERR, r, "cannot lock %s", m->lock_path);
                }
                /* the previous holder may have unlinked it between our open and our lock */
                if (fstat(fd, &a) == 0 && stat(m->lock_path, &b) == 0 && a.st_ino == b.st_ino) {
                        m->lock_fd = fd;
                        return 0;
                }
                close(fd);
        }
        return log_errno(LOG_ERR, -EAGAIN, "cannot lock %s", m->lock_path);
}

static int mkdir_parents(const char *path, mode_t mode) {
        char buf[4096];
        size_t n = strlen(path);

        if (n >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, path, n + 1);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(buf, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static void adopt_retry_cb(evutil_socket_t fd, short what, void *userdata);

static const JournalRecord *journal_find(const JournalRecord *v, size_t n, const Mailbox *mb, uint32_t token,
                                         unsigned idx) {
        for (size_t i = 0; i < n; i++)
                if (v[i].token == token && v[i].idx == idx && v[i].generation == mb->geo.generation &&
                    strcmp(v[i].name, mb->name) == 0)
                        return &v[i];
        return NULL;
}

static Session *ghost_find(Manager *m, pid_t pid, uint64_t starttime) {
        for (Session *s = m->sessions; s; s = s->next)
                if (!s->conn && s->cred.pid == pid && s->starttime == starttime)
                        return s;
        return NULL;
}

static bool reserved(const Mailbox *mb, unsigned idx) {
        return (mb->adopt_reserved[idx / 64] >> (idx % 64)) & 1;
}

static void reserve(Mailbox *mb, unsigned idx, bool on) {
        if (on)
                mb->adopt_reserved[idx / 64] |= UINT64_C(1) << (idx % 64);
        else
                mb->adopt_reserved[idx / 64] &= ~(UINT64_C(1) << (idx % 64));
}

/*
 * Sort out the attachments an earlier daemon left in @mb's header, each by its journal record:
 * a process that still runs keeps its attachment (in a ghost session that watches its pidfd); a
 * process proven gone has it repaired; a token no record names is cleared, never repaired.
 * What cannot be sorted out now — no memory, no fd to prove anything with — keeps its index
 * reserved and its record, and adopt_retry_cb() comes back to it: a failure to prove death is no
 * proof of it. Returns whether everything was sorted out.
 */
static bool adopt_attachments(Manager *m, Mailbox *mb) {
        bool done = true;
        RingRepair rep;

        mb->adopting = true; /* the table is being sorted out: the audit leaves it alone */

        /* an earlier daemon died inside a repair: take its lock over and finish the job */
        if (mailbox_lock_holder(mb) == TOKEN_DAEMON && mailbox_repair(mb, TOKEN_DAEMON, LAYOUT_ATT_MAX, &rep) == 0)
                log_event(LOG_NOTICE, &(LogFields){ LOG_EVENT_REPAIR, mb->name, (uid_t)-1, 0, 0 },
                          "%s: took over the lock of a daemon that died in a repair (%u step(s) rolled forward)",
                          mb->name, rep.rolled);

        for (unsigned idx = 0; idx < LAYOUT_ATT_MAX; idx++) {
                uint32_t token = mailbox_att_token(mb, idx);
                const JournalRecord *found;
                JournalRecord rec;
                Session *ghost = NULL;
                Attachment *a;
                int r = 0;

                if (mb->att[idx] || token == TOKEN_NONE) {
                        reserve(mb, idx, false);
                        continue;
                }
                found = journal_find(m->adopt_recs, m->n_adopt_recs, mb, token, idx);
                if (!found) {
                        /* The journal records every token before it is published and drops it
                         * only after its repair: this one was repaired already (its entry's
                         * clearing cut short), or a peer wrote it. Nothing to repair, nothing to
                         * write in the journal, whatever token it claims to be. */
                        log_notice("%s: token %u at index %u is in no journal record: cleared, nothing repaired",
                                   mb->name, token, idx);
                        mailbox_att_publish(mb, idx, TOKEN_NONE);
                        reserve(mb, idx, false);
                        continue;
                }
                rec = *found;
                a = FAULT_POINT(malloc_adopt) ? NULL : calloc(1, sizeof(*a));
                if (!a) {
                        log_warning("%s: out of memory adopting attachment %u of pid %d: kept, tried again later",
                                    mb->name, token, (int)rec.pid);
                        reserve(mb, idx, true);
                        done = false;
                        continue;
                }
                *a = (Attachment){ .mailbox = mb, .token = token, .idx = idx, .rights = 0, .uid = (uid_t)-1 };
                if (rec.pid == 0 && rec.starttime == 0)
                        r = -ESRCH; /* an earlier daemon proved it dead; its repair was waiting */
                else {
                        ghost = ghost_find(m, rec.pid, rec.starttime);
                        if (!ghost)
                                r = session_new_ghost(m, rec.pid, rec.starttime, &ghost);
                }
                if (r < 0 && r != -ESRCH) {
                        log_errno(LOG_WARNING, r, "%s: cannot judge attachment %u of pid %d: kept, tried again later",
                                  mb->name, token, (int)rec.pid);
                        free(a);
                        reserve(mb, idx, true);
                        done = false;
                        continue;
                }
                mb->att[idx] = a;
                mb->n_att++;
                reserve(mb, idx, false);
                m->adopt_recs[found - m->adopt_recs] = m->adopt_recs[--m->n_adopt_recs]; /* now in the books */
                if (r == 0) {
                        session_add(ghost, a);
                        log_info("%s: attachment %u of pid %d kept: the process %s", mb->name, token, (int)rec.pid,
                                 ghost->unproven ? "could not be checked yet" : "still runs");
                        continue;
                }
                log_info("%s: attachment %u of pid %d is released: the process is gone", mb->name, token, (int)rec.pid);
                manager_release(m, a);
        }
        mb->adopting = !done;
        return done;
}

/* Keep only the journal records adoption still has to sort out: of a mailbox not adopted yet,
 * or of an index kept reserved. The others are in the books now, or stale. */
static void adopt_recs_prune(Manager *m) {
        size_t k = 0;

        for (size_t i = 0; i < m->n_adopt_recs; i++) {
                const JournalRecord *r = &m->adopt_recs[i];
                Mailbox *mb = manager_find(m, r->name);
                bool keep =
                        mb && mb->geo.generation == r->generation && r->idx < LAYOUT_ATT_MAX && reserved(mb, r->idx);

                for (size_t j = 0; j < m->n_pending && !keep; j++)
                        keep = strcmp(m->pending[j].name, r->name) == 0 && m->pending[j].generation == r->generation;
                if (keep)
                        m->adopt_recs[k++] = *r;
        }
        m->n_adopt_recs = k;
        if (k == 0) {
                free(m->adopt_recs);
                m->adopt_recs = NULL;
        }
}

static bool adopt_unfinished(Manager *m) {
        if (m->n_pending > 0)
                return true;
        for (Mailbox *mb = m->mailboxes; mb; mb = mb->next)
                if (mb->adopting)
                        return true;
        for (Session *s = m->sessions; s; s = s->next)
                if (s->unproven)
                        return true;
        return ephemeral_unfinished(m);
}

/* Adopt the state file's mailbox @e. Returns 0, or the errno of mailbox_adopt() (logged). */
static int adopt_one(Manager *m, const StateEntry *e, bool retry) {
        Mailbox *mb;
        int r;

        r = mailbox_adopt(m->config.prefix, e->name, e->generation, e->uid, e->gid, e->mode, &mb);
        if (r < 0) {
                if (r == -ENOENT)
                        log_errno(LOG_WARNING, r, "not adopting mailbox %s: its segment is gone", e->name);
                else if (r == -EPROTO) /* NEWS, 0.3.0: a mailbox of shmbox 0.2 (layout 1) */
                        log_full(retry ? LOG_DEBUG : LOG_WARNING,
                                 "not adopting mailbox %s: made by a shmbox of another segment layout (not "
                                 "version %u); kept as it is, for its own daemon: see NEWS, 0.3.0",
                                 e->name, LAYOUT_VERSION);
                else
                        log_errno(retry ? LOG_DEBUG : LOG_WARNING, r,
                                  "not adopting mailbox %s (kept as it is), nor dropping it: tried again later",
                                  e->name);
                return r;
        }
        m->last_generation = MAX(m->last_generation, mb->geo.generation);
        mb->ephemeral = e->ephemeral;
        mb->owner_pid = e->owner_pid;
        mb->owner_starttime = e->owner_starttime;
        manager_add_mailbox(m, mb);
        log_info("adopted mailbox %s (%u x %u bytes)%s", mb->name, mb->geo.slots, mb->geo.slot_size,
                 retry ? " on a retry" : "");
        return 0;
}

/* Rewrite the journal now: the live attachments and the records adoption still keeps. */
static void journal_compact_now(Manager *m) {
        m->journal.lines = SIZE_MAX / 2;
        journal_maybe_compact(m);
}

static void adopt_arm(Manager *m) {
        struct timeval tv = { m->adopt_retry_ms / 1000, (m->adopt_retry_ms % 1000) * 1000 };

        (void)evtimer_add(m->adopt_timer, &tv);
}

/*
 * What start-up could not finish, tried again with a backoff (ADOPT_RETRY_MIN_MS doubling to
 * ADOPT_RETRY_MAX_MS): mailboxes of the state file not adopted yet (kept in the state file and
 * their records in the journal meanwhile), attachments not sorted out yet (their indexes
 * reserved), ghosts whose process could not be checked (their attachments pinned).
 */
static void adopt_retry_cb(evutil_socket_t fd, short what, void *userdata) {
        Manager *m = userdata;
        size_t n_pending = m->n_pending;

        for (size_t i = 0; i < m->n_pending;) {
                int r = adopt_one(m, &m->pending[i], true);

                if (r < 0 && r != -ENOENT) {
                        i++;
                        continue;
                }
                if (r == 0)
                        (void)adopt_attachments(m, manager_find(m, m->pending[i].name));
                m->pending[i] = m->pending[--m->n_pending];
        }
        for (Mailbox *mb = m->mailboxes; mb; mb = mb->next)
                if (mb->adopting)
                        (void)adopt_attachments(m, mb);
        ephemeral_adopt(m);
        for (Session *s = m->sessions, *next; s; s = next) {
                int r;

                next = s->next;
                if (!s->unproven)
                        continue;
                r = session_watch(s);
                if (r == 0)
                        log_info("pid %d of the journal still runs: watched from now on", (int)s->cred.pid);
                else if (r == -ESRCH) {
                        log_info("pid %d of the journal is gone: releasing its attachments", (int)s->cred.pid);
                        session_end(s);
                }
        }
        adopt_recs_prune(m);
        if (m->n_pending != n_pending)
                (void)manager_save_state(m);
        journal_compact_now(m);
        if (adopt_unfinished(m)) {
                m->adopt_retry_ms = MIN(m->adopt_retry_ms * 2, ADOPT_RETRY_MAX_MS);
                adopt_arm(m);
        } else
                log_info("adoption finished");
}

static int adopt_mailboxes(Manager *m) {
        _cleanup_free_ StateEntry *v = NULL;
        size_t n = 0, k = 0;
        uint64_t next = 0;
        int r;

        r = journal_open(&m->journal, m->journal_path, &m->adopt_recs, &m->n_adopt_recs, &next);
        if (r < 0)
                return log_errno(LOG_ERR, r, "cannot open the session journal %s", m->journal_path);
        if (next > UINT32_MAX)
                m->next_token = 0; /* the first token issued wraps, and skips those held */
        else
                m->next_token = MAX(m->next_token, (uint32_t)next);

        r = state_load(m->state_path, &v, &n);
        if (r < 0)
                return log_errno(LOG_ERR, r, "cannot read state file %s", m->state_path);
        if (r > 0)
                log_warning("state file %s: skipped %d invalid line(s)", m->state_path, r);
        for (size_t i = 0; i < n; i++) {
                if (i == n / 2 && n > 1)
                        CRASH_POINT(daemon_adopt_half);
                if (manager_find(m, v[i].name))
                        continue;
                r = adopt_one(m, &v[i], false);
                if (r < 0 && r != -ENOENT)
                        v[k++] = v[i]; /* not adopted now, kept for a retry */
        }
        m->pending = TAKE_PTR(v);
        m->n_pending = k;
        for (Mailbox *mb = m->mailboxes; mb; mb = mb->next)
                (void)adopt_attachments(m, mb);
        ephemeral_adopt(m); /* after the attachments: a destroy finds them in the books */
        adopt_recs_prune(m);
        (void)manager_save_state(m);
        journal_compact_now(m);
        if (adopt_unfinished(m)) {
                m->adopt_retry_ms = ADOPT_RETRY_MIN_MS;
                adopt_arm(m);
        }
        return 0;
}

/* Parse "sem.<prefix>.NAME.<role>.<16 hex>" into NAME and generation. */
static bool parse_sem_entry(const char *prefix, const char *entry, char name[NAMES_NAME_MAX + 1], uint64_t *gen) {
        size_t pl = strlen(prefix), n = strlen(entry);
        const char *rest, *dot;

        if (strncmp(entry, "sem.", 4) != 0 || strncmp(entry + 4, prefix, pl) != 0 || entry[4 + pl] != '.')
                return false;
        rest = entry + 5 + pl;
        if (n < (size_t)(rest - entry) + 18 || entry[n - 17] != '.')
                return false;
        *gen = strtoull(entry + n - 16, NULL, 16);
        dot = entry + n - 17;
        while (dot > rest && dot[-1] != '.')
                dot--;
        if (dot <= rest + 1 || (size_t)(dot - 1 - rest) > NAMES_NAME_MAX)
                return false;
        memcpy(name, rest, (size_t)(dot - 1 - rest));
        name[dot - 1 - rest] = 0;
        return names_mailbox_valid(name);
}

/* Remove what can only be garbage of an earlier daemon of this prefix; report the rest. */
static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static void sweep_shm(Manager *m) {
        _cleanup_(closedirp) DIR *d = opendir(SHM_DIR);
        const char *prefix = m->config.prefix;
        size_t pl = strlen(prefix);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                const char *e = de->d_name;
                char name[NAMES_NAME_MAX + 1], path[sizeof(SHM_DIR) + 256 + 8];
                uint64_t gen;
                Mailbox *mb;

                if (strncmp(e, prefix, pl) == 0 && strncmp(e + pl, "..fifo.", 7) == 0) {
                        size_t n = strlen(e), nl;

                        /* <prefix>..fifo.NAME.<16 hex>: garbage only if its segment is gone */
                        if (n < pl + 7 + 18 || e[n - 17] != '.')
                                continue;
                        nl = n - 17 - (pl + 7);
                        if (nl > NAMES_NAME_MAX)
                                continue;
                        memcpy(name, e + pl + 7, nl);
                        name[nl] = 0;
                        gen = strtoull(e + n - 16, NULL, 16);
                        mb = manager_find(m, name);
                        if (mb && mb->geo.generation == gen)
                                continue;
                        snprintf(path, sizeof(path), SHM_DIR "/%s.%s", prefix, name);
                        if (!mb && access(path, F_OK) == 0)
                                continue;
                        if (unlinkat(dirfd(d), e, 0) == 0)
                                log_notice("removed " SHM_DIR "/%s: a FIFO without its segment", e);
                        continue;
                }
                if (strncmp(e, prefix, pl) == 0 && e[pl] == '.') {
                        if (strncmp(e + pl, "..tmp.", 6) == 0) {
                                snprintf(path, sizeof(path), SHM_DIR "/%s", e);
                                if (unlinkat(dirfd(d), e, 0) == 0)
                                        log_notice("removed %s, left by an interrupted create", path);
                        } else if (e[pl + 1] != '.' && !manager_find(m, e + pl + 1))
                                log_warning("keeping " SHM_DIR "/%s: not a mailbox of this daemon's state", e);
                        continue;
                }
                if (!parse_sem_entry(prefix, e, name, &gen))
                        continue;
                mb = manager_find(m, name);
                if (mb && mb->geo.generation == gen)
                        continue;
                snprintf(path, sizeof(path), SHM_DIR "/%s.%s", prefix, name);
                if (!mb && access(path, F_OK) == 0) {
                        log_warning("keeping " SHM_DIR "/%s: its segment exists but is not adopted", e);
                        continue;
                }
                if (unlinkat(dirfd(d), e, 0) == 0)
                        log_notice("removed " SHM_DIR "/%s: a semaphore without its segment", e);
        }
}

static int bind_socket(Manager *m) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *path = m->config.socket_path;
        _cleanup_free_ char *dir = NULL;
        struct stat st;
        char *slash;
        int lfd, r;

        r = notify_listen_fd(&lfd);
        if (r < 0)
                return log_errno(LOG_ERR, r,
                                 "systemd passed no usable socket (one listening AF_UNIX "
                                 "stream socket expected)");
        if (r > 0) {
                /* Socket activation: systemd owns the socket file and keeps the listening socket
                 * while the daemon restarts. No probe for another daemon (the prefix lock is
                 * taken already, and connecting would only queue on our own socket) and no
                 * unlink at exit: socket_bound stays false. */
                if (evutil_make_socket_nonblocking(lfd) == 0)
                        m->listener = evconnlistener_new(m->base, accept_cb, m,
                                                         LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, lfd);
                if (!m->listener) {
                        r = -errno_or(ENOMEM);
                        safe_close(lfd);
                        return log_errno(LOG_ERR, r, "cannot serve the socket passed by systemd");
                }
                evconnlistener_set_error_cb(m->listener, accept_error_cb);
                if (getsockname(lfd, (struct sockaddr *)&sa, &(socklen_t){ sizeof(sa) }) < 0)
                        strcpy(sa.sun_path, "?");
                if (strcmp(sa.sun_path, path) != 0)
                        log_notice("systemd passed a socket on %s, not %s: serving it", sa.sun_path, path);
                return 0;
        }

        if (strlen(path) >= sizeof(sa.sun_path))
                return log_errno(LOG_ERR, -ENAMETOOLONG, "socket path %s", path);
        strcpy(sa.sun_path, path);

        dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                r = mkdir_parents(dir, 0755);
                if (r < 0)
                        return log_errno(LOG_ERR, r, "cannot create %s", dir);
        }
        if (lstat(path, &st) == 0) {
                _cleanup_close_ int fd = -1;

                if (!S_ISSOCK(st.st_mode))
                        return log_errno(LOG_ERR, -EEXIST, "%s exists and is not a socket", path);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd >= 0 && (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN))
                        return log_errno(LOG_ERR, -EADDRINUSE, "%s is served by another daemon", path);
                if (unlink(path) < 0)
                        return log_errno(LOG_ERR, -errno, "cannot remove stale socket %s", path);
                log_info("removed stale socket %s", path);
        }
        m->listener = evconnlistener_new_bind(m->base, accept_cb, m, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128,
                                              (struct sockaddr *)&sa, sizeof(sa));
        if (!m->listener)
                return log_errno(LOG_ERR, -errno, "cannot listen on %s", path);
        m->socket_bound = true;
        evconnlistener_set_error_cb(m->listener, accept_error_cb);
        /* every user may connect: access is decided per request */
        if (chmod(path, 0666) < 0)
                return log_errno(LOG_ERR, -errno, "cannot chmod %s", path);
        return 0;
}

static void raise_fd_limit(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
}

/*
 * manager_new() - start a daemon instance: lock, adopt, sweep, listen
 * @ret: the manager, freed with manager_free()
 *
 * Return: 0; -EADDRINUSE if another daemon holds the prefix or serves the socket; another
 *         negative errno (already logged).
 */
int manager_new(const ManagerConfig *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->journal.fd = -1;
        m->reserve[0] = m->reserve[1] = -1;
        m->config = *config;
        m->lock_fd = -1;
        m->next_token = TOKEN_FIRST;
        if (!names_prefix_valid(config->prefix))
                return log_errno(LOG_ERR, -EINVAL, "invalid prefix \"%s\"", config->prefix);
        if (snprintf(m->state_path, sizeof(m->state_path), "%s/%s.mailboxes", config->state_dir, config->prefix) >=
                    (int)sizeof(m->state_path) ||
            snprintf(m->journal_path, sizeof(m->journal_path), "%s/%s.sessions", config->state_dir, config->prefix) >=
                    (int)sizeof(m->journal_path))
                return -ENAMETOOLONG;
        m->journal.fd = -1;

        r = load_config(m, NULL, 0);
        if (r < 0)
                return r;
        raise_fd_limit();
        signal(SIGPIPE, SIG_IGN);
        r = guard_install();
        if (r < 0)
                return log_errno(LOG_ERR, r, "cannot install the SIGBUS guard");
        if (!reserve_take(m))
                return log_errno(LOG_ERR, -errno, "cannot open /dev/null");
        m->base = event_base_new();
        if (!m->base)
                return -ENOMEM;

        r = take_instance_lock(m);
        if (r < 0)
                return r;
        r = mkdir_parents(config->state_dir, 0700);
        if (r < 0)
                return log_errno(LOG_ERR, r, "cannot create state directory %s", config->state_dir);
        m->release_timer = evtimer_new(m->base, release_timer_cb, m);
        if (!m->release_timer)
                return -ENOMEM;
        m->size_timer = event_new(m->base, -1, EV_PERSIST, size_timer_cb, m);
        if (!m->size_timer || event_add(m->size_timer, &(struct timeval){ .tv_sec = SIZE_CHECK_S }) < 0)
                return -ENOMEM;
        m->adopt_timer = evtimer_new(m->base, adopt_retry_cb, m);
        if (!m->adopt_timer || audit_start(m) < 0)
                return -ENOMEM;
        r = adopt_mailboxes(m);
        if (r < 0)
                return r;
        sweep_shm(m);

        m->sig_term = evsignal_new(m->base, SIGTERM, signal_cb, m);
        m->sig_int = evsignal_new(m->base, SIGINT, signal_cb, m);
        m->sig_hup = evsignal_new(m->base, SIGHUP, signal_cb, m);
        if (!m->sig_term || !m->sig_int || !m->sig_hup || evsignal_add(m->sig_term, NULL) < 0 ||
            evsignal_add(m->sig_int, NULL) < 0 || evsignal_add(m->sig_hup, NULL) < 0)
                return -ENOMEM;

        r = bind_socket(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

/*
 * manager_run() - serve until SIGTERM or SIGINT; tells systemd READY=1 first (manager_new() has
 * adopted the mailboxes and listens by now) and keeps its watchdog and STATUS= fed meanwhile
 *
 * Return: 0; -EIO if the event loop failed; a negative errno if the watchdog timer cannot be
 *         set up (logged).
 */
int manager_run(Manager *m) {
        _cleanup_(notify_timer_freep) NotifyTimer *timer = NULL;
        int r;

        r = notify_timer_new(m, &timer);
        if (r < 0)
                return log_errno(LOG_ERR, r, "cannot set up the watchdog timer");
        log_info("shmboxd %s serving %s, prefix \"%s\", %u mailbox(es)", PACKAGE_VERSION,
                 m->socket_bound ? m->config.socket_path : "the socket passed by systemd", m->config.prefix,
                 m->n_mailboxes);
        notify_ready(m);
        if (event_base_dispatch(m->base) < 0)
                return log_errno(LOG_ERR, -EIO, "event loop failed");
        return 0;
}

/*
 * manager_free() - stop: close every session without repairing anything (the clients carry
 * on through shared memory), unmap the mailboxes without removing them, remove the socket and
 * the instance lock
 *
 * Return: NULL.
 */
Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        m->stopping = true;
        while (m->sessions) {
                Session *s = m->sessions;

                /* drop the books first, so the hang-up frees the session instead of orphaning it */
                while (s->atts) {
                        Attachment *a = s->atts;
                        s->atts = a->next;
                        free(a);
                }
                s->n_atts = 0;
                if (s->conn)
                        conn_free(s->conn);
                else
                        session_free(s);
        }
        while (m->builds)
                build_free(m, m->builds);
        while (m->releases) {
                Attachment *a = m->releases;
                m->releases = a->next;
                free(a);
        }
        while (m->mailboxes) {
                Mailbox *mb = m->mailboxes;
                m->mailboxes = mb->next;
                ephemeral_unwatch(mb);
                mailbox_free(mb);
        }
        while (m->destroyed) {
                Mailbox *mb = m->destroyed;
                m->destroyed = mb->next;
                mailbox_free(mb);
        }
        if (m->listener)
                evconnlistener_free(m->listener);
        if (m->socket_bound)
                (void)unlink(m->config.socket_path);
        if (m->release_timer)
                event_free(m->release_timer);
        if (m->size_timer)
                event_free(m->size_timer);
        if (m->adopt_timer)
                event_free(m->adopt_timer);
        if (m->audit_timer)
                event_free(m->audit_timer);
        free(m->pending);
        free(m->adopt_recs);
        if (m->sig_term)
                event_free(m->sig_term);
        if (m->sig_int)
                event_free(m->sig_int);
        if (m->sig_hup)
                event_free(m->sig_hup);
        if (m->base)
                event_base_free(m->base);
        journal_close(&m->journal);
        manager_use_reserve(m);
        if (m->lock_fd >= 0) {
                (void)unlink(m->lock_path); /* while still holding it: see take_instance_lock() */
                close(m->lock_fd);
        }
        free(m);
        return NULL;
}
