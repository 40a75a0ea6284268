/* SPDX-License-Identifier: MIT */
/* mailbox.h — one mailbox as the daemon owns it: its objects in /dev/shm, its policy, its slots
 * of attachment. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/audit.h"
#include "proto/layout.h"
#include "proto/names.h"
#include "proto/ring.h"
#include "proto/wire.h"

typedef struct Attachment Attachment;
struct Conn;
struct event;

typedef struct Mailbox {
        struct Mailbox *next; /* in the manager's registry, or its list of destroyed ones */
        char name[NAMES_NAME_MAX + 1];
        char prefix[NAMES_PREFIX_MAX + 1];
        uid_t uid;
        gid_t gid;
        uint32_t mode;
        LayoutGeometry geo;

        int fd;         /* the segment */
        Ring ring;      /* mapped once published or adopted; semaphores open */
        bool sems_made; /* we created the semaphores: unlink them if never published */
        bool tmp_made;  /* the temporary segment name exists */
        bool fifo_made; /* we created the FIFO: unlink it if never published */
        /* a broadcast mailbox: the indexes whose subscriber FIFO exists (names_sub_fifo()), made
         * on request (mailbox_sub_fifo()), kept until destroyed; found again at adoption */
        uint64_t sub_fifos[LAYOUT_ATT_WORDS];
        bool published; /* under its final name */
        bool destroyed; /* names removed; the object lives on while attachments remain */
        uint64_t preallocated;

        Attachment *att[LAYOUT_ATT_MAX];
        unsigned n_att;
        /* indexes whose attachment adoption has yet to sort out: never given to a new one */
        uint64_t adopt_reserved[LAYOUT_ATT_WORDS];
        bool adopting; /* some are, or adoption is sorting the table out right now */

        /* the audit of its shared state against the daemon's books (daemon/audit.c) */
        int64_t audit_due_us;       /* the next look, CLOCK_MONOTONIC */
        uint32_t audit_interval_ms; /* the last gap between two looks */
        RingPeek audit_seen;        /* what the last look found */
        bool audit_seen_valid;
        int64_t audit_logged_us; /* the last line about its forgeries */
        unsigned audit_unlogged; /* findings since, not logged */

        /* an ephemeral mailbox (daemon/ephemeral.c): destroyed when its creator goes */
        bool ephemeral;
        pid_t owner_pid;           /* the creating process (0: in another pid namespace) */
        uint64_t owner_starttime;  /* with owner_pid, names that process across daemon restarts */
        struct Conn *owner_conn;   /* the creating connection; NULL once adopted after a restart */
        int owner_pidfd;           /* after a restart: the creator's pidfd, watched (-1: none) */
        struct event *owner_event; /* its watch in the event loop, freed by ephemeral_unwatch() */
        bool owner_unproven;       /* after a restart: the creator could not be judged yet, retried */
        bool owner_unwatchable;    /* after a restart: a creator of pid 0, which nothing can watch */
} Mailbox;

int mailbox_prepare(const char *prefix, const char *name, const LayoutGeometry *geo, uid_t uid, gid_t gid,
                    uint32_t mode, Mailbox **ret);
int mailbox_prealloc_step(Mailbox *m, uint64_t chunk);
int mailbox_publish(Mailbox *m);
int mailbox_adopt(const char *prefix, const char *name, uint64_t generation, uid_t uid, gid_t gid, uint32_t mode,
                  Mailbox **ret);
void mailbox_unlink(Mailbox *m);
Mailbox *mailbox_free(Mailbox *m);
static inline void mailbox_freep(Mailbox **m) {
        mailbox_free(*m);
}

int mailbox_check(const Mailbox *m);

/* What mailbox_enforce_size() found and undid. */
typedef struct MailboxSizes {
        uint64_t size, allocated; /* of the segment, in bytes */
} MailboxSizes;
#define SIZE_SEGMENT_GROWN 1
#define SIZE_SEM_RESTORED 2
int mailbox_enforce_size(Mailbox *m, MailboxSizes *ret_found);
int mailbox_set_policy(Mailbox *m, uint32_t mode, gid_t gid);
uint32_t mailbox_rights(const Mailbox *m, uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups);
int mailbox_att_alloc(Mailbox *m, Attachment *a, unsigned *ret_idx);
void mailbox_att_publish(Mailbox *m, unsigned idx, uint32_t token);
void mailbox_att_free(Mailbox *m, unsigned idx);
uint32_t mailbox_att_token(const Mailbox *m, unsigned idx);
uint32_t mailbox_lock_holder(const Mailbox *m);
uint64_t mailbox_epoch(const Mailbox *m);
int mailbox_sub_fifo(Mailbox *m, unsigned idx);
int mailbox_repair(Mailbox *m, uint32_t token, unsigned idx, RingRepair *ret);
void mailbox_info(const Mailbox *m, WireInfo *ret, uint32_t *ret_claimed, uint32_t *ret_taken, uint32_t *ret_holder,
                  uint64_t *ret_abandoned);
int mailbox_counters(Mailbox *m, unsigned idx, WireCounters *ret);
void mailbox_counters_clear(Mailbox *m, unsigned idx);
void mailbox_counters_retire(Mailbox *m, unsigned idx);
void mailbox_counters_add(WireCounters *acc, const WireCounters *k);
