/* SPDX-License-Identifier: MIT */
/* bridge.h — the benchmark's bridge group: 64 B messages from a mailbox on one "host" through
 * shmbox-bridge, NATS JetStream and a second shmbox-bridge into a mailbox on another, next to
 * libnats alone on the same nats-server, then on the same three-node cluster, in the same run.
 * Built only with libnats. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "bench/report.h"
#include "client/shmbox.h"

/* What the group runs beside the benchmark's own daemon: up to three nats-server, host B's
 * shmboxd and the two bridges. */
#define BRIDGE_BENCH_PROCS 6

/* What the group needs from the benchmark. */
typedef struct BridgeBenchEnv {
        const char *bridge;      /* shmbox-bridge to run */
        const char *nats_server; /* nats-server to run */
        const char *shmboxd;     /* host B's daemon (host A is the benchmark's own) */
        const char *socket_a;    /* host A's socket */
        const char *prefix;      /* the benchmark's object prefix: host B's daemon uses "<prefix>-b" */
        const char *dir;         /* the benchmark's temporary directory: the group works below it */
        unsigned reps;           /* each figure is the median of this many runs */
        unsigned messages;       /* per throughput run */
        unsigned pings;          /* single messages timed per latency run */
        bool progress;           /* say on stderr which run is on (a terminal, no --json) */
        volatile pid_t *track;   /* [BRIDGE_BENCH_PROCS]: the live processes, for a signal handler */
} BridgeBenchEnv;

int bridge_bench_run(const BridgeBenchEnv *env, ReportBridge *ret);
