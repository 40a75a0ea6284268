/* SPDX-License-Identifier: MIT */
/* crash.h — named crash points: with --enable-crash-points, SHMBOX_CRASH_AT=name[:n[:stop]]
 * makes the process SIGKILL itself at the n-th pass (default 1) of that point — or, with
 * ":stop", SIGSTOP itself there (a peer frozen mid-operation, for the diagnostics tests).
 * The one list of points. */
#pragma once

/*
 * Every point a test can kill a process at. Tests refer to them by these names; `shmboxd
 * --list-crash-points` prints them. Add a point here and at its place, nowhere else.
 */
/* clang-format off */
#define CRASH_POINT_LIST(X)                                                                        \
        X(send_before_lock)   /* send: nothing taken yet */                                        \
        X(send_locked)        /* send: holding the lock, slot not claimed */                       \
        X(send_claimed)       /* send: slot CLAIMED, lock released, nothing copied */              \
        X(send_half_copied)   /* send: half of the payload copied (a request: half its header) */  \
        X(send_meta_written)  /* send: len and meta stored, the commit not yet made */             \
        X(send_committed)     /* send: READY, items not yet announced */                           \
        X(send_before_sleep)  /* send: counted as a sleeper, about to sleep for space */           \
        X(send_slot_judged)   /* send: under the lock, a slot to claim not free, head not read */  \
        X(lock_holder_read)   /* lock: a waiter read the holder, not yet looked it up */           \
        X(recv_before_lock)   /* recv: nothing taken yet */                                        \
        X(recv_locked)        /* recv: holding the lock, slot not taken */                         \
        X(recv_taken)         /* recv: slot TAKEN, lock released, nothing copied */                \
        X(recv_half_copied)   /* recv: half of the payload copied out */                           \
        X(recv_consumed)      /* recv: DONE, head not yet advanced */                              \
        X(recv_head_half)     /* recv: head half passed: head moved, slot not yet FREE */          \
        X(recv_before_sleep)  /* recv: counted as a sleeper, about to sleep for items */           \
        X(attach_half)        /* client attach: daemon replied, mailbox not yet mapped */          \
        X(detach_half)        /* client detach: request sent, reply not read */                    \
        X(daemon_create_half) /* daemon create: semaphores made, segment not published */          \
        X(daemon_destroy_half) /* daemon destroy: segment unlinked, semaphores not */              \
        X(daemon_repair_half) /* daemon repair: holding the mailbox lock, half repaired */         \
        X(daemon_repair_rolled) /* daemon repair: head rolled over a freed slot, slots not scanned */ \
        X(daemon_adopt_half)  /* daemon start-up: half of the mailboxes adopted */
/* clang-format on */

/*
 * Fault points: with --enable-crash-points, SHMBOX_FAIL_AT=name:ERRNO[:n] makes the n-th pass
 * (default 1) of that point fail as if the call had failed with ERRNO (a name like ENOSPC, or
 * a number). The daemon's and the library's resource acquisitions, one list.
 */
/* clang-format off */
#define FAULT_POINT_LIST(X)                                                                        \
        X(shm_open)           /* daemon: creating a segment */                                     \
        X(ftruncate)          /* daemon: sizing it */                                              \
        X(fallocate)          /* daemon: preallocating it */                                       \
        X(mmap)               /* daemon: mapping it */                                             \
        X(sem_open)           /* daemon: creating a semaphore */                                   \
        X(accept)             /* daemon: accepting a connection */                                 \
        X(malloc_conn)        /* daemon: memory for a connection */                                \
        X(malloc_attach)      /* daemon: memory for an attachment */                               \
        X(malloc_mailbox)     /* daemon: memory for a mailbox (also adopting one at start-up) */   \
        X(malloc_adopt)       /* daemon start-up: memory for an attachment found in a mailbox */   \
        X(pidfd_open)         /* daemon start-up: watching a process of the journal, or the creator of an ephemeral mailbox */ \
        X(starttime)          /* daemon start-up: reading that process's start time */             \
        X(client_shm_open)    /* library: opening a segment at attach */                           \
        X(client_mmap)        /* library: mapping it */                                            \
        X(client_sem_open)    /* library: opening a semaphore */
/* clang-format on */

#ifdef SHMBOX_CRASH_POINTS
void crash_point(const char *name);
int fault_point(const char *name);
#define FAULT_POINT(name) fault_point(#name)
#define CRASH_POINT(name) crash_point(#name)
#else
#define CRASH_POINT(name)                                                                                              \
        do {                                                                                                           \
        } while (0)
#define FAULT_POINT(name) 0
#endif

/* The names of all points, NULL-terminated (also without --enable-crash-points). */
extern const char *const crash_point_names[];
extern const char *const fault_point_names[];
