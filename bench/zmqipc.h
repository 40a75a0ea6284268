/* SPDX-License-Identifier: MIT */
/* zmqipc.h — the benchmark's ZeroMQ row: libzmq's C API over ipc://, PUSH/PULL one way and PAIR
 * for round trips; REQ/REP for the rpc group, PUB/SUB for the fan-out group. Built as stubs that return -EOPNOTSUPP when configure found no libzmq. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

typedef struct ZmqEnd ZmqEnd;

typedef enum ZmqRole {
        ZMQIPC_PUSH,         /* connects; sends */
        ZMQIPC_PULL,         /* binds; receives */
        ZMQIPC_PAIR_BIND,    /* both ways, the side that binds */
        ZMQIPC_PAIR_CONNECT, /* both ways, the side that connects */
        ZMQIPC_REP,          /* answers requests; binds */
        ZMQIPC_REQ,          /* sends requests, receives replies; connects */
        ZMQIPC_PUB,          /* publishes to every subscriber; binds */
        ZMQIPC_SUB,          /* subscribes to everything; connects */
} ZmqRole;

const char *zmqipc_not_built(void);
int zmqipc_open(const char *path, ZmqRole role, unsigned hwm, ZmqEnd **ret);
ZmqEnd *zmqipc_free(ZmqEnd *e);
int zmqipc_send(ZmqEnd *e, const void *data, size_t len);
ssize_t zmqipc_recv(ZmqEnd *e, void *buf, size_t cap, int timeout_ms);
