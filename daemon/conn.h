/* SPDX-License-Identifier: MIT */
/* conn.h — one client connection: non-blocking framing over a libevent bufferevent and the
 * dispatch of control requests. */
#pragma once

#include "daemon/session.h"

struct bufferevent;

/* A client that lets this much of our output pile up is not reading its replies: dropped. */
#define CONN_OUTPUT_MAX (1024u * 1024)

typedef struct Conn Conn;

int conn_new(Manager *m, int fd, Conn **ret);
Conn *conn_free(Conn *c);
