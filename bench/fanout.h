/* SPDX-License-Identifier: MIT */
/* fanout.h — the benchmark's fan-out group (issue 19): one publisher, 1, 2 and 4 subscribers,
 * 64 B and 64 KiB messages, through a shmbox broadcast mailbox (when this shmbox has them),
 * iceoryx publish/subscribe and ZeroMQ PUB/SUB over ipc://, in the same run. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "bench/report.h"

/* What the group runs at once: a publisher and its subscribers. */
#define FANOUT_BENCH_PROCS (1 + FANOUT_SUBS_MAX)

/* What the group needs from the benchmark. */
typedef struct FanoutBenchEnv {
        const char *socket;     /* the benchmark's shmboxd */
        const char *prefix;     /* the benchmark's object prefix (iceoryx's runtimes and service) */
        const char *dir;        /* the benchmark's temporary directory: ipc:// sockets */
        bool want[_FAN_MAX];    /* the rows asked for */
        const char *iceoryx_no; /* why the iceoryx row cannot run (no RouDi of ours); NULL: it can */
        unsigned reps;          /* each figure is the median of this many runs */
        unsigned duration_ms;   /* of each throughput run's sending */
        unsigned latency_ms;    /* of each latency run's paced sending */
        bool progress;          /* say on stderr which run is on */
        volatile pid_t *track;  /* [FANOUT_BENCH_PROCS]: the live processes, for a signal handler */
} FanoutBenchEnv;

int fanout_bench_run(const FanoutBenchEnv *env, ReportFanout *ret);
