/* SPDX-License-Identifier: MIT */
/* rpc.h — the benchmark's rpc group (issue 19): request/reply round trips of shmbox_request(),
 * D-Bus method calls with sd-bus on a private dbus-daemon, and ZeroMQ REQ/REP over ipc://, at
 * 64 B and 4 KiB, in the same run. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "bench/report.h"

/* What the group runs beside the benchmark's own daemon: a server, a client, dbus-daemon. */
#define RPC_BENCH_PROCS 3

/* What the group needs from the benchmark. */
typedef struct RpcBenchEnv {
        const char *socket;      /* the benchmark's shmboxd */
        const char *dir;         /* the benchmark's temporary directory: the bus and ipc:// sockets */
        const char *dbus_daemon; /* the bus daemon to start for the sd-bus row */
        bool want[_RPC_MAX];     /* the rows asked for */
        unsigned reps;           /* each figure is the median of this many runs */
        unsigned duration_ms;    /* of each run's timed round trips */
        int cpus[2];             /* the server on the first, the client on the second; -1: not pinned */
        bool progress;           /* say on stderr which run is on */
        volatile pid_t *track;   /* [RPC_BENCH_PROCS]: the live processes, for a signal handler */
} RpcBenchEnv;

int rpc_bench_run(const RpcBenchEnv *env, ReportRpc *ret);
