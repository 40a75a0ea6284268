/* SPDX-License-Identifier: MIT */
/* ephemeral.h — mailboxes tied to their creator (SHMBOX_CONFIG_EPHEMERAL): destroyed when the
 * creating connection goes, or, after a daemon restart, once the creating process is proven gone. */
#pragma once

#include <stdbool.h>

typedef struct Manager Manager;
typedef struct Mailbox Mailbox;
typedef struct Conn Conn;

void ephemeral_conn_gone(Manager *m, Conn *c);
void ephemeral_adopt(Manager *m);
bool ephemeral_unfinished(Manager *m);
void ephemeral_unwatch(Mailbox *mb);
