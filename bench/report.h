/* SPDX-License-Identifier: MIT */
/* report.h — the benchmark's figures: the median of the repetitions of each, the table with
 * shmbox's ratio to each alternative and its range over the repetitions, and the same as JSON. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "bench/transport.h"

#define REPORT_SIZES 4
extern const size_t report_sizes[REPORT_SIZES]; /* 64 B, 1 KiB, 64 KiB, 1 MiB */

typedef enum Note {
        NOTE_NONE,
        NOTE_NOT_RUN,
        NOTE_LIMITS,  /* the system's limits do not allow it (POSIX mq) */
        NOTE_ERROR,   /* it failed: the run's exit status is 1 */
        NOTE_ONE_CPU, /* needs two CPUs */
} Note;

/* The figures; those per size are followed by one per size index. */
enum {
        FIG_TPUT_MSGS = 0,
        FIG_TPUT_MBS = FIG_TPUT_MSGS + REPORT_SIZES,
        FIG_CPU_SEND = FIG_TPUT_MBS + REPORT_SIZES,
        FIG_CPU_RECV = FIG_CPU_SEND + REPORT_SIZES,
        FIG_RTT_OTHER = FIG_CPU_RECV + REPORT_SIZES, /* then p99, p99.9 */
        FIG_RTT_SAME = FIG_RTT_OTHER + 3,            /* then p99, p99.9 */
        FIG_MPMC = FIG_RTT_SAME + 3,
        FIG_MPMC_RATIO, /* derived: 4x4 / 1x1 */
        FIG_IDLE,
        _FIG_MAX,
};

/* What the legend and the JSON say about the run. */
typedef struct ReportInfo {
        unsigned reps, duration_ms, rtt_ms, idle_s, depth;
        unsigned depth_bytes; /* ...and no more bytes than this (larger messages: fewer) */
        bool quick;
        int cpus[2];
        int spin_us;                     /* -1: the library's default */
        unsigned mq_depth[REPORT_SIZES]; /* 0: no queue of that size was made */
        const char *mq_limits;           /* how the mq limits were treated, in words */
        bool crash_points;               /* built with --enable-crash-points: they cost */
        unsigned failures;
        const struct ReportScale *scale;     /* NULL: the scale group did not run */
        const struct ReportBridge *bridge;   /* NULL: the bridge group was not asked for */
        const struct ReportRpc *rpc;         /* NULL: the rpc group was not asked for */
        const struct ReportFanout *fanout;   /* NULL: the fan-out group was not asked for */
        const char *iceoryx_note;            /* why the iceoryx row is missing; NULL: it ran or was not asked for */
        const char *missing[_TRANSPORT_MAX]; /* why a row is missing (iceoryx, boost, zmq); NULL: as above */
} ReportInfo;

/* The scale group: one daemon, N mailboxes, N attached client processes. */
typedef struct ReportScale {
        unsigned mailboxes, attached;
        double create_ms;                                            /* creating the N mailboxes */
        double attach_p50_us, attach_p99_us;                         /* shmbox_attach(), timed in each client */
        double all_attached_ms;                                      /* forking the clients until all had attached */
        long rss_before_kb, hwm_before_kb, rss_with_kb, hwm_with_kb; /* shmboxd's /proc status */
        double msgs_loaded, msgs_fresh; /* 64 B one-way msgs/s: mailbox #0 with N attached, fresh */
        unsigned left_in_shm;           /* objects of the prefix left after clean-up */
} ReportScale;

/* The bridge group's cases: where the streams live (one nats-server, or three as a JetStream
 * cluster with every stream at replicas = 3) ... */
enum { BRIDGE_CASE_SINGLE, BRIDGE_CASE_CLUSTER, _BRIDGE_CASE_MAX };
/* ... and the sides compared in each: through the bridges, A releasing a message on B's
 * confirmation (delivery = end-to-end) or on the stream's ack (delivery = stream-ack), and
 * libnats alone. */
enum { BRIDGE_SIDE_END_TO_END, BRIDGE_SIDE_STREAM_ACK, BRIDGE_SIDE_NATS, _BRIDGE_SIDE_MAX };

/* One case of the bridge group, every figure the median of the runs. */
typedef struct ReportBridgeCase {
        bool ran;                      /* measured (else: not asked for, or the group failed first) */
        unsigned nodes;                /* nats-server processes; every stream's replicas */
        char placement[240];           /* the cluster: which server each client is on, the leaders */
        double msgs[_BRIDGE_SIDE_MAX]; /* msgs/s */
        double p50_us[_BRIDGE_SIDE_MAX], p99_us[_BRIDGE_SIDE_MAX]; /* one message at a time */
} ReportBridgeCase;

/* The bridge group: 64 B messages from a mailbox on host A through shmbox-bridge, JetStream and
 * shmbox-bridge to a mailbox on host B, next to libnats alone on the same nats-server or cluster. */
typedef struct ReportBridge {
        char skipped[240]; /* why it did not run ("": it ran); not a failure */
        unsigned messages, pings, slots, payload;
        ReportBridgeCase cases[_BRIDGE_CASE_MAX];
        unsigned left_in_shm; /* host B's objects left after clean-up */
} ReportBridge;

/* The rpc group (bench/rpc.c): request/reply round trips, client and server in their own
 * processes. */
enum { RPC_SHMBOX, RPC_SDBUS, RPC_ZMQ, _RPC_MAX };
#define RPC_SIZES 2 /* 64 B, 4 KiB */
extern const size_t rpc_sizes[RPC_SIZES];

typedef struct ReportRpc {
        bool asked[_RPC_MAX];                                            /* the rows asked for */
        char missing[_RPC_MAX][300];                                     /* why an asked row did not run; "": it ran */
        unsigned reps, duration_ms;                                      /* per run */
        int cpus[2];                                                     /* server, client; -1: not pinned */
        double p50_us[_RPC_MAX][RPC_SIZES], p99_us[_RPC_MAX][RPC_SIZES]; /* medians of the runs */
        double trips[_RPC_MAX][RPC_SIZES];                               /* timed round trips per run, median */
} ReportRpc;

/* The fan-out group (bench/fanout.c): one publisher, 1, 2 and 4 subscribers. */
enum { FAN_SHMBOX, FAN_ICEORYX, FAN_ZMQ, _FAN_MAX };
#define FANOUT_SIZES 2 /* 64 B, 64 KiB */
#define FANOUT_NS 3    /* 1, 2, 4 subscribers */
#define FANOUT_SUBS_MAX 4
extern const size_t fanout_sizes[FANOUT_SIZES];
extern const unsigned fanout_ns[FANOUT_NS];

typedef struct ReportFanout {
        bool asked[_FAN_MAX];        /* the rows asked for */
        char missing[_FAN_MAX][300]; /* why an asked row did not run; "": it ran */
        unsigned reps, duration_ms, latency_ms, gap_us, depth;
        /* medians of the runs, [row][size][subscribers] */
        double msgs[_FAN_MAX][FANOUT_SIZES][FANOUT_NS];      /* msgs/s delivered, per subscriber (mean) */
        double delivered[_FAN_MAX][FANOUT_SIZES][FANOUT_NS]; /* delivered / sent to each subscriber */
        double p50_us[_FAN_MAX][FANOUT_SIZES][FANOUT_NS], p99_us[_FAN_MAX][FANOUT_SIZES][FANOUT_NS];
        unsigned late[_FAN_MAX][FANOUT_SIZES][FANOUT_NS]; /* receives woken only by their deadline, sum of the runs */
        unsigned late_ms;                                 /* that deadline */
} ReportFanout;

const char *report_size_name(unsigned size_index);
void report_init(unsigned idle_s);
void report_add(unsigned fig, TransportId t, double value);
void report_note(unsigned fig, TransportId t, Note note);
double report_median(double *v, unsigned n);
void report_finish(void);
void report_print_table(const ReportInfo *info);
void report_print_json(const ReportInfo *info);
