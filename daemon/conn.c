/* SPDX-License-Identifier: MIT */
/* conn.c — one client connection: non-blocking framing over a libevent bufferevent, and the
 * dispatch of each control request to the registry (manager.c) and the session (session.c).
 *
 * Requests are served in order, one at a time; a create that preallocates in steps holds the
 * next requests back until its reply is queued. Every length is capped before anything is
 * buffered for it (WIRE_REQUEST_MAX, the input watermark); a frame that does not decode closes
 * this connection only; a client that lets CONN_OUTPUT_MAX of replies pile up is dropped. So a
 * slow, silent or hostile client never stalls the others.
 *
 * A refusal is logged once, as "refused OP by uid U: REASON", and REASON goes back in the error
 * reply to a client that speaks protocol version 2 (wire.h): the user reads on the terminal
 * what the log says, not a guess from the errno.
 */
#include "config.h"

#include "daemon/conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/ephemeral.h"
#include "daemon/mailbox.h"
#include "daemon/manager.h"
#include "log/log.h"
#include "proto/crash.h"
#include "proto/probes.h"
#include "proto/util.h"
#include "proto/wire.h"

struct Conn {
        Manager *manager;
        struct bufferevent *bev;
        Session *session;
        Build *build; /* a create in progress: requests after it wait */
        uint32_t build_serial;
        uint64_t build_bytes;
        char build_name[NAMES_NAME_MAX + 1];
        uint32_t version;                 /* agreed in HELLO; 0 before it */
        char reason[WIRE_REASON_MAX + 1]; /* why the request being served was refused, or "" */
};

static void conn_process(Conn *c);
static void conn_build_done(void *userdata, int status);

static void conn_reply(Conn *c, const WireMsg *reply) {
        uint8_t buf[WIRE_HEADER_SIZE + 512];
        WireMsg m = *reply;
        int n;

        m.proto = c->version; /* an info ends with flags and owner_pid from version 3 on */
        n = wire_encode(buf, sizeof(buf), &m);

        assert_se(n > 0);
        bufferevent_write(c->bev, buf, (size_t)n);
}

/* Reply with @status alone, and with the reason of a refusal to a client that reads one. */
static void conn_reply_status(Conn *c, const WireMsg *req, int status) {
        WireMsg reply = { .type = req->type | WIRE_REPLY, .serial = req->serial, .status = status };

        if (status < 0 && c->version >= WIRE_HELLO_REASONS)
                strcpy(reply.reason, c->reason);
        c->reason[0] = 0;
        conn_reply(c, &reply);
}

/* Set the reason of the refusal being made, for the reply; text beyond WIRE_REASON_MAX is cut. */
static void conn_reason(Conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_reason(Conn *c, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
        va_end(ap);
}

/*
 * conn_refuse() - refuse the request being served: log "refused @what by uid U: REASON" at
 * notice and keep REASON (@fmt) for the reply
 * @mailbox: the mailbox it is about (NULL: none), for the journal's SHMBOX_MAILBOX=
 *
 * In the journal the line is a refusal event, or a quota event for a limit (-EDQUOT, -ENOSPC),
 * with the requester's uid and pid (log/log.h).
 *
 * Return: @err, so that callers can `return conn_refuse(...)`.
 */
static int conn_refuse(Conn *c, int err, const char *mailbox, const char *what, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
static int conn_refuse(Conn *c, int err, const char *mailbox, const char *what, const char *fmt, ...) {
        const Session *s = c->session;
        LogFields f = { .event = err == -EDQUOT || err == -ENOSPC ? LOG_EVENT_QUOTA : LOG_EVENT_REFUSAL,
                        .mailbox = mailbox,
                        .uid = s->cred.uid,
                        .pid = s->cred.pid,
                        .err = err };
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
        va_end(ap);
        log_event(LOG_NOTICE, &f, "refused %s by uid %u: %s", what, (unsigned)s->cred.uid, c->reason);
        return err;
}

/* Whether the session's process belongs to group @gid (primary or supplementary). */
static bool session_in_group(const Session *s, gid_t gid) {
        if (s->cred.gid == gid)
                return true;
        for (size_t i = 0; i < s->n_groups; i++)
                if (s->groups[i] == gid)
                        return true;
        return false;
}

/*
 * Check a new mailbox of @bytes for @uid against the limits, in the documented order: the
 * mailbox's own size, the owner's quota (root is exempt), the global limits. The refusal names
 * the limit, in the log and to the client.
 */
static int check_limits(Conn *c, const char *name, uid_t uid, uint64_t bytes) {
        Manager *m = c->manager;
        const Limits *l = &m->limits;
        uint64_t uid_bytes = 0, total_bytes = 0;
        unsigned uid_count = 0, total_count = 0;
        char what[16 + NAMES_NAME_MAX];

        /* the books count each mailbox at its layout's size: make that the truth first */
        manager_enforce_sizes(m, NULL);
        for (Mailbox *mb = m->mailboxes; mb; mb = mb->next) {
                total_count++;
                total_bytes += mb->geo.total_size;
                if (mb->uid == uid) {
                        uid_count++;
                        uid_bytes += mb->geo.total_size;
                }
        }
        manager_builds_usage(m, uid, &uid_count, &uid_bytes, &total_count, &total_bytes);

        snprintf(what, sizeof(what), "create of %s", name);
        if (bytes > l->max_mailbox_bytes)
                return conn_refuse(c, -ENOSPC, name, what, "%llu bytes, above max-mailbox-bytes %llu",
                                   (unsigned long long)bytes, (unsigned long long)l->max_mailbox_bytes);
        if (uid != 0 && uid_count + 1 > l->max_mailboxes_per_uid)
                return conn_refuse(c, -EDQUOT, name, what, "it has %u mailboxes, max-mailboxes-per-uid is %u",
                                   uid_count, l->max_mailboxes_per_uid);
        if (uid != 0 && uid_bytes + bytes > l->max_bytes_per_uid)
                return conn_refuse(c, -EDQUOT, name, what, "%llu + %llu bytes, above max-bytes-per-uid %llu",
                                   (unsigned long long)uid_bytes, (unsigned long long)bytes,
                                   (unsigned long long)l->max_bytes_per_uid);
        if (total_count + 1 > l->max_mailboxes)
                return conn_refuse(c, -ENOSPC, name, what, "%u mailboxes exist, max-mailboxes is %u", total_count,
                                   l->max_mailboxes);
        if (total_bytes + bytes > l->max_total_bytes)
                return conn_refuse(c, -ENOSPC, name, what, "%llu + %llu bytes, above max-total-bytes %llu",
                                   (unsigned long long)total_bytes, (unsigned long long)bytes,
                                   (unsigned long long)l->max_total_bytes);
        return 0;
}

static int do_create(Conn *c, const WireMsg *req) {
        Manager *m = c->manager;
        Session *s = c->session;
        uint32_t slots = req->slots ? req->slots : 64, slot_size = req->slot_size ? req->slot_size : 4096;
        uint32_t mode = req->mode ? req->mode : 0600;
        gid_t gid = s->cred.gid;
        LayoutGeometry geo;
        Mailbox *mb = NULL;
        int r;

        if (!names_mailbox_valid(req->name)) {
                conn_reason(c, "invalid name");
                return -EINVAL;
        }
        if (req->mode & ~0666u) {
                conn_reason(c, "mode %04o has bits other than rw (0666)", req->mode);
                return -EINVAL;
        }
        if (req->flags & ~WIRE_CREATE_FLAGS) {
                conn_reason(c, "unknown flags 0x%x", req->flags & ~WIRE_CREATE_FLAGS);
                return -EINVAL;
        }
        if ((req->flags & WIRE_CREATE_EPHEMERAL) && c->version < WIRE_HELLO_EPHEMERAL) {
                conn_reason(c, "ephemeral mailboxes need protocol version %u (this connection speaks %u)",
                            WIRE_HELLO_EPHEMERAL, c->version);
                return -EINVAL;
        }
        if (req->flags & WIRE_CREATE_GID) {
                gid = req->gid;
                if (s->cred.uid != 0 && !session_in_group(s, gid)) {
                        char what[16 + NAMES_NAME_MAX];

                        snprintf(what, sizeof(what), "create of %s", req->name);
                        return conn_refuse(c, -EPERM, req->name, what, "not a member of group %u", (unsigned)gid);
                }
        }
        if ((req->flags & WIRE_CREATE_OVERWRITE) && !(req->flags & WIRE_CREATE_BROADCAST)) {
                conn_reason(c, "overwrite is a policy of broadcast mailboxes: it needs the broadcast flag");
                return -EINVAL;
        }
        r = layout_geometry_kind(slots, slot_size,
                                 !(req->flags & WIRE_CREATE_BROADCAST) ? LAYOUT_KIND_QUEUE
                                 : req->flags & WIRE_CREATE_OVERWRITE  ? LAYOUT_KIND_OVERWRITE
                                                                       : LAYOUT_KIND_BROADCAST,
                                 0, &geo);
        if (r < 0) {
                conn_reason(c, "%u slots of %u bytes: not a valid geometry", slots, slot_size);
                return r;
        }
        if (manager_name_taken(m, req->name))
                return -EEXIST;
        r = check_limits(c, req->name, s->cred.uid, geo.total_size);
        if (r < 0)
                return r;
        geo.generation = manager_generation_new(m);
        r = mailbox_prepare(m->config.prefix, req->name, &geo, s->cred.uid, gid, mode, &mb);
        if (r < 0) {
                conn_reason(c, "the daemon could not create its objects in /dev/shm (%s)", strerror(-r));
                return log_errno(LOG_ERR, r, "create of %s failed", req->name);
        }
        if (req->flags & WIRE_CREATE_EPHEMERAL) {
                /* tied to this connection (daemon/ephemeral.c); a cancelled build takes it along */
                mb->ephemeral = true;
                mb->owner_pid = s->cred.pid;
                mb->owner_starttime = s->starttime;
                mb->owner_conn = c;
        }
        r = manager_build_start(m, mb, conn_build_done, c, &c->build);
        if (r < 0)
                return r;
        c->build_serial = req->serial;
        c->build_bytes = geo.total_size;
        strcpy(c->build_name, req->name);
        return 1; /* the reply comes when the build is done */
}

/* Owner or root: change the mode and/or the group (the owner only to a group it belongs to). */
static int do_chmod(Conn *c, const WireMsg *req) {
        Session *s = c->session;
        char what[16 + NAMES_NAME_MAX];
        uint32_t mode;
        gid_t gid;
        Mailbox *mb;
        int r;

        if (!names_mailbox_valid(req->name) || (req->mode != WIRE_KEEP && (req->mode & ~0666u))) {
                conn_reason(c, "mode %04o has bits other than rw (0666)", req->mode);
                return -EINVAL;
        }
        mb = manager_find(c->manager, req->name);
        if (!mb)
                return -ENOENT;
        snprintf(what, sizeof(what), "chmod of %s", req->name);
        if (s->cred.uid != 0 && s->cred.uid != mb->uid)
                return conn_refuse(c, -EPERM, req->name, what, "not the owner (uid %u) or root", (unsigned)mb->uid);
        mode = req->mode == WIRE_KEEP ? mb->mode : req->mode;
        gid = req->gid == WIRE_KEEP ? mb->gid : (gid_t)req->gid;
        if (gid != mb->gid && s->cred.uid != 0 && !session_in_group(s, gid)) {
                snprintf(what, sizeof(what), "chgrp of %s", req->name);
                return conn_refuse(c, -EPERM, req->name, what, "not a member of group %u", (unsigned)gid);
        }
        r = mailbox_set_policy(mb, mode, gid);
        if (r < 0)
                return log_errno(LOG_ERR, r, "chmod of %s failed", req->name);
        (void)manager_save_state(c->manager);
        log_info("chmod %s by uid %u: mode %04o group %u", req->name, (unsigned)s->cred.uid, mode, (unsigned)gid);
        return 0;
}

/* Root or the daemon's own user: re-read the config file, answered when done. */
static int do_reload(Conn *c) {
        Session *s = c->session;

        if (s->cred.uid != 0 && s->cred.uid != geteuid())
                return conn_refuse(c, -EPERM, NULL, "reload", "only root or the daemon's user (uid %u) may reload",
                                   (unsigned)geteuid());
        return manager_reload(c->manager, c->reason, sizeof(c->reason));
}

static int do_destroy(Conn *c, const WireMsg *req) {
        Session *s = c->session;
        Mailbox *mb;

        if (!names_mailbox_valid(req->name))
                return -EINVAL;
        mb = manager_find(c->manager, req->name);
        if (!mb)
                return -ENOENT;
        if (s->cred.uid != 0 && s->cred.uid != mb->uid) {
                char what[16 + NAMES_NAME_MAX];

                snprintf(what, sizeof(what), "destroy of %s", req->name);
                return conn_refuse(c, -EPERM, req->name, what, "not the owner (uid %u) or root", (unsigned)mb->uid);
        }
        log_info("destroy %s by uid %u (pid %d), %u attached", req->name, (unsigned)s->cred.uid, (int)s->cred.pid,
                 mb->n_att);
        manager_destroy_mailbox(c->manager, mb);
        return 0;
}

static int do_attach(Conn *c, const WireMsg *req, WireMsg *reply) {
        Session *s = c->session;
        Attachment *a;
        Mailbox *mb;
        uint32_t rights;
        int r;

        if (!names_mailbox_valid(req->name))
                return -EINVAL;
        mb = manager_find(c->manager, req->name);
        if (!mb)
                return -ENOENT;
        rights = mailbox_rights(mb, s->cred.uid, s->cred.gid, s->groups, s->n_groups);
        if (!rights) {
                char what[16 + NAMES_NAME_MAX];

                snprintf(what, sizeof(what), "attach of %s", req->name);
                return conn_refuse(c, -EACCES, req->name, what, "no access: mode %04o, owner uid %u, group %u",
                                   mb->mode, (unsigned)mb->uid, (unsigned)mb->gid);
        }
        manager_enforce_sizes(c->manager, mb);
        r = mailbox_check(mb);
        if (r < 0) {
                conn_reason(c, "the mailbox is damaged (%s): see the daemon's log", strerror(-r));
                SHMBOX_PROBE2(corrupt, req->name, "attach");
                log_event(LOG_WARNING, &(LogFields){ LOG_EVENT_CORRUPTION, req->name, s->cred.uid, s->cred.pid, r },
                          "attach of %s refused: mailbox damaged: %s", req->name, strerror(-r));
                return r;
        }
        r = session_attach(s, mb, rights, &a);
        if (r == -EMFILE)
                conn_reason(c, "at most %u attachments per mailbox, max-attachments-per-session %u per connection",
                            LAYOUT_ATT_MAX, c->manager->limits.max_attachments_per_session);
        if (r < 0)
                return r;
        log_debug("attach %s by pid %d: token %u index %u", req->name, (int)s->cred.pid, a->token, a->idx);
        SHMBOX_PROBE5(session_attach, req->name, a->token, a->idx, s->cred.pid, s->cred.uid);
        reply->mode = rights;
        reply->token = a->token;
        reply->idx = a->idx;
        reply->slots = mb->geo.slots;
        reply->slot_size = mb->geo.slot_size;
        reply->generation = mb->geo.generation;
        reply->epoch = mailbox_epoch(mb);
        reply->size = mb->geo.total_size;
        return 0;
}

/* A box of this process granted earlier (under an earlier daemon, or through an earlier
 * connection) comes back to this session: same token, same index, rights as the policy says now. */
static int do_reattach(Conn *c, const WireMsg *req, WireMsg *reply) {
        Session *s = c->session;
        Attachment *a;
        Mailbox *mb;

        if (!names_mailbox_valid(req->name) || req->idx >= LAYOUT_ATT_MAX)
                return -EINVAL;
        mb = manager_find(c->manager, req->name);
        if (!mb || mb->geo.generation != req->generation)
                return -ENOENT;
        a = mb->att[req->idx];
        if (!a || a->token != req->token || !a->session)
                return -ESTALE;
        if (a->session != s) {
                a = session_take_own(s, req->token);
                if (!a)
                        return -ESTALE; /* another process's, or already released */
                session_add(s, a);
        }
        a->rights = mailbox_rights(mb, s->cred.uid, s->cred.gid, s->groups, s->n_groups);
        log_debug("re-attach %s by pid %d: token %u index %u", req->name, (int)s->cred.pid, a->token, a->idx);
        reply->mode = a->rights;
        reply->token = a->token;
        reply->idx = a->idx;
        reply->slots = mb->geo.slots;
        reply->slot_size = mb->geo.slot_size;
        reply->generation = mb->geo.generation;
        reply->epoch = mailbox_epoch(mb);
        reply->size = mb->geo.total_size;
        return 0;
}

/* A broadcast subscriber's own FIFO, for shmbox_fd(): made for the index of this session's
 * attachment @token if it is not there yet (daemon/mailbox.c, mailbox_sub_fifo()). */
static int do_poll(Conn *c, const WireMsg *req) {
        Mailbox *mb;
        Attachment *a = NULL;
        int r;

        if (!names_mailbox_valid(req->name))
                return -EINVAL;
        mb = manager_find(c->manager, req->name);
        if (!mb)
                return -ENOENT;
        if (mb->geo.kind == LAYOUT_KIND_QUEUE) {
                conn_reason(c, "%s is a queue: its receivers poll the mailbox's FIFO", req->name);
                return -EOPNOTSUPP;
        }
        for (unsigned i = 0; i < LAYOUT_ATT_MAX && !a; i++)
                if (mb->att[i] && mb->att[i]->token == req->token)
                        a = mb->att[i];
        if (!a || a->session != c->session)
                return -ESTALE; /* not an attachment of this connection's process */
        if (!(a->rights & WIRE_RIGHT_R))
                return -EACCES;
        r = mailbox_sub_fifo(mb, a->idx);
        if (r < 0)
                return log_errno(LOG_WARNING, r, "%s: the FIFO of subscriber index %u could not be made", mb->name,
                                 a->idx);
        return 0;
}

/* The pid behind @token if it is an attachment of @mb, else 0. Tokens come from shared memory,
 * which any attached process writes: one of another mailbox's attachments must not name that
 * process as this mailbox's culprit. */
static uint32_t attachment_pid(Manager *m, const Mailbox *mb, uint32_t token) {
        if (token < TOKEN_FIRST)
                return 0;
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++)
                if (mb->att[i] && mb->att[i]->token == token)
                        return (uint32_t)session_token_pid(m, token);
        return 0;
}

static void fill_info(Manager *m, Mailbox *mb, WireInfo *info, uint64_t *ret_abandoned) {
        uint32_t holder, claimed, taken;

        mailbox_info(mb, info, &claimed, &taken, &holder, ret_abandoned);
        if (mb->geo.kind != LAYOUT_KIND_QUEUE)
                info->flags |= WIRE_INFO_BROADCAST;
        if (mb->geo.kind == LAYOUT_KIND_OVERWRITE)
                info->flags |= WIRE_INFO_OVERWRITE;
        if (mb->ephemeral) {
                info->flags |= WIRE_INFO_EPHEMERAL;
                info->owner_pid = (uint32_t)MAX(mb->owner_pid, 0);
        }
        info->lock_holder_pid = attachment_pid(m, mb, holder);
        info->oldest_claimed_pid = attachment_pid(m, mb, claimed);
        info->oldest_taken_pid = attachment_pid(m, mb, taken);
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++) {
                Attachment *a = mb->att[i];
                if (a && a->session && !a->session->conn)
                        info->orphaned++;
        }
}

static void do_list(Conn *c, const WireMsg *req) {
        static uint8_t buf[WIRE_HEADER_SIZE + WIRE_REPLY_MAX];
        WireListWriter w;

        assert_se(wire_list_begin(&w, buf, sizeof(buf), req->serial, c->version) == 0);
        for (Mailbox *mb = c->manager->mailboxes; mb; mb = mb->next) {
                WireInfo info;

                fill_info(c->manager, mb, &info, NULL);
                if (wire_list_add(&w, mb->name, &info) < 0)
                        break; /* capped: max-mailboxes is at most WIRE_LIST_MAX */
        }
        bufferevent_write(c->bev, buf, wire_list_end(&w));
}

/*
 * STATS: a mailbox's traffic counters (doc/ring.md, "Counters"): the totals (the attachments
 * gone, folded into the header's `retired` at their release, plus the present ones) and a row
 * per present attachment with its process. Rows name processes and their traffic, so only
 * those who could use the mailbox see them: root, the daemon's user, the owner, or a caller
 * with r or w (else -EACCES; metrics skip such a mailbox).
 */
static int stats_fill(Conn *c, Mailbox *mb, WireMsg *reply, WireStatsRow *rows) {
        const Session *s = c->session;
        WireCounters k;
        int r;

        if (s->cred.uid != 0 && s->cred.uid != geteuid() && s->cred.uid != mb->uid &&
            mailbox_rights(mb, s->cred.uid, s->cred.gid, s->groups, s->n_groups) == 0)
                return -EACCES;
        fill_info(c->manager, mb, &reply->stats.info, &reply->stats.abandoned);
        if (reply->stats.info.corrupt & RING_CORRUPT_SEGMENT)
                return 0; /* unreadable: no counts, the info says why */
        r = mailbox_counters(mb, LAYOUT_ATT_MAX, &k);
        if (r < 0)
                return 0;
        reply->stats.total = k;
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++) {
                const Attachment *a = mb->att[i];
                WireStatsRow *row = &rows[reply->n_rows];

                if (!a || mailbox_counters(mb, i, &k) < 0)
                        continue;
                *row = (WireStatsRow){
                        .pid = a->session ? (uint32_t)a->session->cred.pid : 0,
                        .uid = (uint32_t)a->uid,
                        .rights = a->rights,
                        .idx = i,
                        .c = k,
                };
                mailbox_counters_add(&reply->stats.total, &k);
                reply->n_rows++;
        }
        return 0;
}

static void do_stats(Conn *c, const WireMsg *req) {
        static uint8_t buf[WIRE_HEADER_SIZE + WIRE_REPLY_MAX];
        static WireStatsRow rows[LAYOUT_ATT_MAX];
        WireMsg reply = { .type = req->type | WIRE_REPLY, .serial = req->serial, .rows = rows, .proto = c->version };
        Mailbox *mb;
        int r;

        if (!names_mailbox_valid(req->name)) {
                conn_reply_status(c, req, -EINVAL);
                return;
        }
        mb = manager_find(c->manager, req->name);
        if (!mb) {
                conn_reply_status(c, req, -ENOENT);
                return;
        }
        r = stats_fill(c, mb, &reply, rows);
        if (r < 0) {
                conn_reply_status(c, req, r);
                return;
        }
        r = wire_encode(buf, sizeof(buf), &reply);
        assert_se(r > 0); /* 256 rows of 104 bytes fit WIRE_REPLY_MAX */
        bufferevent_write(c->bev, buf, (size_t)r);
}

/* Serve one decoded request. Returns 1 if the reply is deferred. */
static int conn_dispatch(Conn *c, const WireMsg *req) {
        WireMsg reply = { .type = req->type | WIRE_REPLY, .serial = req->serial };
        Mailbox *mb;
        int r = 0;

        c->reason[0] = 0;
        switch (req->type) {
        case WIRE_HELLO:
                /* the lower of both versions: an older client gets what it knows */
                if (req->version < 1) {
                        r = -EPROTO;
                        break;
                }
                c->version = MIN(req->version, WIRE_HELLO_VERSION);
                reply.version = c->version;
                strcpy(reply.name, c->manager->config.prefix);
                break;
        case WIRE_CREATE:
                r = do_create(c, req);
                if (r > 0)
                        return 1;
                break;
        case WIRE_DESTROY: r = do_destroy(c, req); break;
        case WIRE_ATTACH: r = do_attach(c, req, &reply); break;
        case WIRE_REATTACH: r = do_reattach(c, req, &reply); break;
        case WIRE_CHMOD: r = do_chmod(c, req); break;
        case WIRE_RELOAD: r = do_reload(c); break;
        case WIRE_DETACH: r = session_detach(c->session, req->token); break;
        case WIRE_POLL: r = do_poll(c, req); break;
        case WIRE_LIST: do_list(c, req); return 0;
        case WIRE_INFO:
                if (!names_mailbox_valid(req->name)) {
                        r = -EINVAL;
                        break;
                }
                mb = manager_find(c->manager, req->name);
                if (!mb) {
                        r = -ENOENT;
                        break;
                }
                fill_info(c->manager, mb, &reply.info, NULL);
                break;
        case WIRE_STATS: do_stats(c, req); return 0;
        default: r = -EBADMSG; break;
        }
        if (r < 0) {
                conn_reply_status(c, req, r);
                return 0;
        }
        conn_reply(c, &reply);
        return 0;
}

static void conn_build_done(void *userdata, int status) {
        Conn *c = userdata;
        WireMsg req = { .type = WIRE_CREATE, .serial = c->build_serial };

        c->build = NULL;
        if (status >= 0)
                log_info("create %s by uid %u", c->build_name, (unsigned)c->session->cred.uid);
        else if (status == -ENOSPC)
                conn_reason(c, "/dev/shm cannot hold %llu bytes", (unsigned long long)c->build_bytes);
        conn_reply_status(c, &req, status);
        conn_process(c); /* requests that arrived meanwhile */
}

/* Decode and serve every complete frame in the input buffer. */
static void conn_process(Conn *c) {
        struct evbuffer *in = bufferevent_get_input(c->bev);

        while (!c->build) {
                uint8_t hdr[WIRE_HEADER_SIZE], frame[WIRE_HEADER_SIZE + WIRE_REQUEST_MAX];
                size_t avail = evbuffer_get_length(in), size;
                WireMsg req;
                int r;

                if (avail < WIRE_HEADER_SIZE)
                        return;
                evbuffer_copyout(in, hdr, sizeof(hdr));
                r = wire_frame_size(hdr, sizeof(hdr), false, &size);
                if (r < 0) {
                        log_notice("pid %d sent a bad frame header (%s): closing its connection",
                                   (int)c->session->cred.pid, strerror(-r));
                        conn_free(c);
                        return;
                }
                if (avail < size)
                        return;
                evbuffer_remove(in, frame, size);
                r = wire_decode(frame, size, &req);
                if (r < 0 || (req.type & WIRE_REPLY)) {
                        log_notice("pid %d sent a malformed request: closing its connection",
                                   (int)c->session->cred.pid);
                        conn_free(c);
                        return;
                }
                if (conn_dispatch(c, &req) > 0)
                        return; /* conn_build_done() carries on */
                if (evbuffer_get_length(bufferevent_get_output(c->bev)) > CONN_OUTPUT_MAX) {
                        log_notice("pid %d does not read its replies: dropping it", (int)c->session->cred.pid);
                        conn_free(c);
                        return;
                }
        }
}

static void conn_read_cb(struct bufferevent *bev, void *userdata) {
        conn_process(userdata);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *userdata) {
        Conn *c = userdata;

        if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
                conn_free(c);
}

/*
 * conn_new() - serve the accepted socket @fd (ownership passes to the connection, also on failure)
 *
 * Return: 0; -ENOMEM; a negative errno from session_new().
 */
int conn_new(Manager *m, int fd, Conn **ret) {
        Conn *c;
        int r;

        c = FAULT_POINT(malloc_conn) ? NULL : calloc(1, sizeof(*c));
        if (!c) {
                close(fd);
                return -ENOMEM;
        }
        c->manager = m;
        c->bev = bufferevent_socket_new(m->base, fd, BEV_OPT_CLOSE_ON_FREE);
        if (!c->bev) {
                close(fd);
                free(c);
                return -ENOMEM;
        }
        r = session_new(m, fd, &c->session);
        if (r < 0) {
                bufferevent_free(c->bev);
                free(c);
                return r;
        }
        c->session->conn = c;
        /* stop reading while a whole maximal request is buffered and unserved */
        bufferevent_setwatermark(c->bev, EV_READ, 0, WIRE_HEADER_SIZE + WIRE_REQUEST_MAX);
        bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
        *ret = c;
        return 0;
}

/*
 * conn_free() - close the connection; the session is hung up (freed, or orphaned while it holds
 * attachments), and the ephemeral mailboxes it created are destroyed, unless the daemon is
 * stopping (manager_free(): they outlive it, daemon/ephemeral.c)
 *
 * Return: NULL.
 */
Conn *conn_free(Conn *c) {
        if (!c)
                return NULL;
        if (c->build)
                manager_build_cancel(c->manager, c->build);
        if (!c->manager->stopping)
                ephemeral_conn_gone(c->manager, c);
        bufferevent_free(c->bev);
        if (c->session)
                session_hangup(c->session);
        free(c);
        return NULL;
}
