/* SPDX-License-Identifier: MIT */
/* ephemeral.c — mailboxes tied to their creator (shmbox_create() with SHMBOX_CONFIG_EPHEMERAL),
 * as D-Bus ties a unique name to its connection and NATS an inbox to its client.
 *
 * While the daemon that created it runs, an ephemeral mailbox belongs to the creating
 * connection: when that connection goes — the client disconnects, hangs up, is dropped for a
 * bad frame, or its process dies, which closes the socket too — the mailbox is destroyed as by
 * shmbox_destroy(): its names leave /dev/shm at once and attached boxes get -EIDRM. A destroy
 * is not a repair: the attachments of a process that still runs stay pinned until its death is
 * proven (doc/design.md, invariant 5), so ending the tie at a hang-up takes nothing from anyone.
 *
 * A daemon restart breaks every connection, and the library connects again only at its next
 * control call, so after a restart the tie is to the creating *process*, named by the pid and
 * start time recorded in the state file (daemon/state.c): a process proven gone (pidfd_open()
 * says ESRCH, or the pid has another start time) has its mailbox destroyed at adoption; a
 * process that runs has its pidfd watched, and its exit destroys the mailbox; a process that
 * cannot be judged now (no fd, no memory) keeps its mailbox and is judged again from the
 * adoption's retry timer — a failure to prove death is no proof of it. A creator in another
 * pid namespace (pid 0) cannot be watched after a restart: its mailbox is kept, logged, until
 * someone destroys it (doc/protocol.md, "Ephemeral mailboxes").
 */
#include "config.h"

#include "daemon/ephemeral.h"

#include <errno.h>
#include <event2/event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/journal.h"
#include "daemon/mailbox.h"
#include "daemon/manager.h"
#include "log/log.h"
#include "proto/crash.h"
#include "proto/util.h"

/*
 * ephemeral_unwatch() - stop watching the creator of @mb (after a restart); a no-op otherwise.
 * Called before @mb is destroyed or freed.
 */
void ephemeral_unwatch(Mailbox *mb) {
        if (mb->owner_event)
                event_free(mb->owner_event);
        mb->owner_event = NULL;
        mb->owner_pidfd = safe_close(mb->owner_pidfd);
}

static void ephemeral_destroy(Manager *m, Mailbox *mb, const char *why) {
        log_info("ephemeral mailbox %s (owner pid %d) destroyed: %s, %u attached", mb->name, (int)mb->owner_pid, why,
                 mb->n_att);
        manager_destroy_mailbox(m, mb);
}

/*
 * ephemeral_conn_gone() - the connection @c is closing: destroy the ephemeral mailboxes it
 * created. Not called when the daemon itself stops (the mailboxes then outlive it).
 */
void ephemeral_conn_gone(Manager *m, Conn *c) {
        for (Mailbox *mb = m->mailboxes, *next; mb; mb = next) {
                next = mb->next;
                if (mb->ephemeral && mb->owner_conn == c)
                        ephemeral_destroy(m, mb, "its connection closed");
        }
}

/* The pidfd of a creator watched after a restart fired: that process has exited. */
static void owner_died(evutil_socket_t fd, short what, void *userdata) {
        Manager *m = userdata;

        for (Mailbox *mb = m->mailboxes; mb; mb = mb->next)
                if (mb->owner_event && mb->owner_pidfd == fd) {
                        ephemeral_destroy(m, mb, "its process exited");
                        return;
                }
}

/*
 * Judge the creator of @mb, adopted after a restart: 0 and its pidfd watched; -ESRCH if that
 * process is proven gone; another negative errno if nothing could be proven either way. The
 * start time is read after pidfd_open(), so a pid reused in between is never taken for it.
 */
static int owner_watch(Manager *m, Mailbox *mb) {
        uint64_t now;
        int fd, r;

        r = FAULT_POINT(pidfd_open);
        fd = r ? -1 : (int)syscall(SYS_pidfd_open, mb->owner_pid, 0);
        if (fd < 0)
                return r ? -r : -errno; /* ESRCH: no such process, a proof */
        r = FAULT_POINT(starttime);
        r = r ? -r : proc_starttime(mb->owner_pid, &now);
        if (r >= 0 && now != mb->owner_starttime)
                r = -ESRCH; /* the pid names another process now */
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        mb->owner_event = event_new(m->base, fd, EV_READ, owner_died, m);
        if (!mb->owner_event || event_add(mb->owner_event, NULL) < 0) {
                if (mb->owner_event)
                        event_free(mb->owner_event);
                mb->owner_event = NULL;
                safe_close(fd);
                return -ENOMEM;
        }
        mb->owner_pidfd = fd;
        return 0;
}

/*
 * ephemeral_adopt() - judge the creators of the ephemeral mailboxes adopted after a restart
 * (those without a connection or a watch yet): destroy the mailbox of a process proven gone,
 * watch a live one's pidfd, and leave the others unproven, for the next call (the adoption's
 * retry timer). A mailbox whose attachments adoption has not sorted out yet waits for that.
 */
void ephemeral_adopt(Manager *m) {
        for (Mailbox *mb = m->mailboxes, *next; mb; mb = next) {
                int r;

                next = mb->next;
                if (!mb->ephemeral || mb->owner_conn || mb->owner_event || mb->owner_unwatchable)
                        continue;
                if (mb->adopting) {
                        mb->owner_unproven = true;
                        continue;
                }
                if (mb->owner_pid <= 0) {
                        mb->owner_unwatchable = true;
                        mb->owner_unproven = false;
                        log_warning("ephemeral mailbox %s: its creator is in another pid namespace and cannot be "
                                    "watched after a restart: kept until someone destroys it",
                                    mb->name);
                        continue;
                }
                r = owner_watch(m, mb);
                if (r == 0) {
                        mb->owner_unproven = false;
                        log_info("ephemeral mailbox %s: its owner pid %d still runs: kept until it exits", mb->name,
                                 (int)mb->owner_pid);
                } else if (r == -ESRCH)
                        ephemeral_destroy(m, mb, "its process is gone");
                else {
                        if (!mb->owner_unproven)
                                log_errno(LOG_WARNING, r,
                                          "ephemeral mailbox %s: cannot tell whether its owner pid %d still runs: "
                                          "kept, checked again later",
                                          mb->name, (int)mb->owner_pid);
                        mb->owner_unproven = true;
                }
        }
}

/* Whether some ephemeral mailbox's creator is still to be judged (ephemeral_adopt() again). */
bool ephemeral_unfinished(Manager *m) {
        for (Mailbox *mb = m->mailboxes; mb; mb = mb->next)
                if (mb->ephemeral && mb->owner_unproven)
                        return true;
        return false;
}
