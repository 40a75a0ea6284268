/* SPDX-License-Identifier: MIT */
/* audit.h — the daemon checks each mailbox's shared state against its own books, and repairs
 * what names a token no session of that mailbox holds. */
#pragma once

#include <stdbool.h>

typedef struct Manager Manager;
typedef struct Mailbox Mailbox;

/* What one audit found and did (for the log line and the tests' reading of it). */
typedef struct AuditReport {
        unsigned entries;     /* attachment entries restored to what the daemon issued */
        unsigned repaired;    /* tokens of no session repaired as a dead holder's */
        bool lock;            /* the lock's holder among them: released */
        unsigned abandoned;   /* their CLAIMED slots abandoned */
        unsigned redelivered; /* their TAKEN slots put back READY */
        unsigned waiting;     /* repairs left for a later audit: a live process holds the lock */
} AuditReport;

int audit_start(Manager *m);
void audit_schedule(Manager *m, Mailbox *mb);
int audit_mailbox(Manager *m, Mailbox *mb, AuditReport *ret);
