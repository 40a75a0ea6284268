/* SPDX-License-Identifier: MIT */
/* worker.h — the benchmark's worker processes: one run of senders, receivers, pingers or idle
 * receivers, each in its own process, started together, results checked and returned. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench/transport.h"

#define WORKERS_MAX 8
#define SENDERS_MAX 4 /* senders a receiver tells apart (4 x 4) */

typedef enum Role {
        ROLE_SEND, /* send for the duration, then one end marker */
        ROLE_RECV, /* receive and check until an end marker */
        ROLE_PING, /* time round trips: send on out, wait for the echo on in */
        ROLE_PONG, /* echo from in to out until an end marker */
        ROLE_IDLE, /* block in one receive for the duration; it must time out */
} Role;

typedef struct Worker {
        Role role;
        Channel *in, *out;
        uint32_t id; /* a sender's number, carried in its messages */
        int cpu;     /* pinned to this CPU; -1: not pinned */
} Worker;

typedef struct Run {
        const char *what; /* for messages: "pipe, 64 B one-way" */
        const TransportEnv *env;
        Worker w[WORKERS_MAX];
        unsigned n;
        size_t size;          /* every message has this size */
        unsigned senders;     /* ROLE_RECV: senders on the channel (1: strictly in order) */
        int64_t duration_ns;  /* sending, pinging, or idling */
        unsigned warmup;      /* ROLE_PING: round trips not timed */
        unsigned min_samples; /* ROLE_PING: timed round trips even past the duration */
} Run;

typedef struct WorkerOut {
        int failed;
        char err[200];
        uint64_t msgs;  /* sent (SEND, PING) or received (RECV), end markers not counted */
        int64_t end_ns; /* CLOCK_MONOTONIC when it was done */
        int64_t cpu_ns; /* user + system time from "go" to the end */
        uint64_t count[SENDERS_MAX], seqsum[SENDERS_MAX]; /* RECV: per sender, for exactly-once */
        double p50_us, p99_us, p999_us;                   /* PING */
        uint64_t sink;                                    /* what zero-copy reads, kept */
} WorkerOut;

typedef struct RunResult {
        int64_t go_ns;
        WorkerOut out[WORKERS_MAX];
} RunResult;

int64_t now_ns(void);
int run_workers(const Run *run, volatile pid_t *track, RunResult *ret);
_Noreturn void exec_service(char *const argv[], const char *log, int deathsig);
