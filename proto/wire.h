/* SPDX-License-Identifier: MIT */
/* wire.h — the control protocol between libshmbox and shmboxd: framing, messages, limits.
 *
 * A frame is a 16-byte header (all integers little-endian)
 *     u32 magic "SHBX" | u16 version | u16 type | u32 body length | u32 serial
 * and a body. A reply has the request's type with WIRE_REPLY set and the request's serial;
 * its body starts with an i32 status, 0 or a negative errno. Strings are u16 length + bytes.
 *
 * Versions: the frame header's version is the framing (WIRE_VERSION, unchanged since 1); the
 * HELLO exchange agrees on the protocol spoken over it. A client offers WIRE_HELLO_VERSION, a
 * daemon answers with the lower of that and its own; a daemon of version 1 refuses any other
 * offer with -EPROTO (and keeps the connection), and the client then says hello again with 1.
 * Version 2 adds the reason of an error reply (WIRE_HELLO_REASONS); a daemon never sends one
 * to a version-1 client, whose decoder would refuse the bytes after the status. Version 3
 * (WIRE_HELLO_EPHEMERAL) adds ephemeral mailboxes: CREATE's flag WIRE_CREATE_EPHEMERAL, and two
 * u32 at the end of every info (INFO, LIST, STATS replies), flags (WIRE_INFO_*) and owner_pid.
 * The info's length depends on the version agreed, so replies are encoded and decoded for it
 * (WireMsg.proto, wire_decode_proto()); an older peer gets and sends what it knows.
 * Encoding and decoding are pure functions (no I/O), so they can be unit-tested and fuzzed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/names.h"

#define WIRE_MAGIC 0x58424853u /* "SHBX" */
#define WIRE_VERSION 1u
#define WIRE_HELLO_VERSION 3u   /* the highest protocol version of HELLO */
#define WIRE_HELLO_REASONS 2u   /* from this version on, an error reply may carry a reason */
#define WIRE_HELLO_EPHEMERAL 3u /* from this version on: WIRE_CREATE_EPHEMERAL, info's flags and owner_pid */
#define WIRE_REASON_MAX 200u    /* bytes of a reason */
#define WIRE_HEADER_SIZE 16u
#define WIRE_REQUEST_MAX 1024u       /* largest request body the daemon accepts */
#define WIRE_REPLY_MAX (256u * 1024) /* largest reply body a client accepts */
#define WIRE_LIST_MAX 1024u          /* entries in one list reply */
#define WIRE_STATS_ROWS_MAX 256u     /* rows of one stats reply: LAYOUT_ATT_MAX */
#define WIRE_REPLY 0x8000u

typedef enum WireType {
        WIRE_HELLO = 1,
        WIRE_CREATE = 2,
        WIRE_DESTROY = 3,
        WIRE_ATTACH = 4,
        WIRE_DETACH = 5,
        WIRE_LIST = 6,
        WIRE_INFO = 7,
        WIRE_REATTACH = 8, /* a box of this process, granted by an earlier daemon */
        WIRE_CHMOD = 9,
        WIRE_RELOAD = 10, /* re-read the config file; answered when done */
        WIRE_STATS = 11,  /* a mailbox's traffic counters, per attachment (shmbox 0.3) */
        WIRE_POLL = 12,   /* a broadcast subscriber's own FIFO, for shmbox_fd(): name, token */
        _WIRE_TYPE_MAX,
} WireType;

#define WIRE_CREATE_GID 1u
#define WIRE_CREATE_EPHEMERAL 2u /* destroyed when the creating connection goes (version 3) */
/* a broadcast mailbox (doc/ring.md, "Broadcast mailboxes"); OVERWRITE only with BROADCAST.
 * A daemon before them answers -EINVAL, "unknown flags" */
#define WIRE_CREATE_BROADCAST 4u
#define WIRE_CREATE_OVERWRITE 8u
#define WIRE_CREATE_FLAGS (WIRE_CREATE_GID | WIRE_CREATE_EPHEMERAL | WIRE_CREATE_BROADCAST | WIRE_CREATE_OVERWRITE)
#define WIRE_KEEP UINT32_MAX /* CHMOD: leave mode or gid as it is */

/* Rights of an attachment. */
#define WIRE_RIGHT_R 1u
#define WIRE_RIGHT_W 2u

typedef struct WireInfo {
        uint32_t slots, slot_size, mode, queued, attached, uid, gid;
        uint64_t sent, received, recovered;
        /* for operators: who holds what right now */
        uint32_t lock_holder_pid, claimed, taken, orphaned;
        uint64_t generation, repairs;
        uint32_t oldest_claimed_pid, oldest_taken_pid;
        uint32_t oldest_claimed_age_ms, oldest_taken_age_ms;
        uint32_t corrupt; /* RING_CORRUPT_* */
        /* version 3 on; 0 on a connection below it */
        uint32_t flags;     /* WIRE_INFO_* */
        uint32_t owner_pid; /* of an ephemeral mailbox's creator (0: in another pid namespace) */
} WireInfo;

#define WIRE_INFO_EPHEMERAL 1u
#define WIRE_INFO_BROADCAST 2u /* each message to every subscriber */
#define WIRE_INFO_OVERWRITE 4u /* ... and senders never wait for them */

/* Traffic counters (proto/layout.h, AttCounters: the same fields in the same order). */
typedef struct WireCounters {
        uint64_t sent, sent_bytes, received, received_bytes;
        uint64_t send_waits, send_wait_ns, recv_waits, recv_wait_ns;
        uint64_t send_timeouts, recv_timeouts, full;
} WireCounters;

/* A STATS reply: the mailbox's info, its totals (attachments gone and present), and a row per
 * attachment. */
typedef struct WireStats {
        WireInfo info;
        uint64_t abandoned;
        WireCounters total;
} WireStats;

typedef struct WireStatsRow {
        uint32_t pid, uid, rights, idx;
        WireCounters c;
} WireStatsRow;

/* One decoded message; which fields are meaningful depends on type (see wire.c). */
typedef struct WireMsg {
        uint16_t type;  /* with WIRE_REPLY for replies */
        uint32_t proto; /* the version agreed in HELLO, for encoding a reply's info (< 3: without
                           flags and owner_pid); wire_decode_proto() sets it from its argument */
        uint32_t serial;
        int32_t status; /* replies */

        char name[NAMES_NAME_MAX + 1];    /* CREATE DESTROY ATTACH INFO requests; HELLO reply: prefix */
        uint32_t slots, slot_size, mode;  /* CREATE request; ATTACH reply (mode = rights); CHMOD */
        uint32_t flags, gid;              /* CREATE (WIRE_CREATE_GID: gid is set); CHMOD */
        uint32_t token, idx;              /* ATTACH and REATTACH replies and REATTACH requests;
                                            DETACH request (token) */
        uint64_t generation, epoch, size; /* ATTACH and REATTACH replies; REATTACH request (generation) */
        uint32_t version;                 /* HELLO both ways */
        char reason[WIRE_REASON_MAX + 1]; /* replies with a status < 0: why, or "" */
        WireInfo info;                    /* INFO reply */
        WireStats stats;                  /* STATS reply */
        const WireStatsRow *rows;         /* STATS reply to encode: n_rows rows */
        uint32_t n_rows;

        /* LIST reply: entries stay in the decoded buffer; walk them with wire_list_next();
         * STATS reply: its rows, the same way, with wire_stats_next() */
        uint32_t list_count;
        const uint8_t *list;
        size_t list_len;
} WireMsg;

int wire_frame_size(const uint8_t *hdr, size_t avail, bool reply, size_t *ret);
int wire_decode(const uint8_t *frame, size_t len, WireMsg *ret);
int wire_decode_proto(const uint8_t *frame, size_t len, uint32_t proto, WireMsg *ret);
int wire_encode(uint8_t *buf, size_t cap, const WireMsg *m);

/* Building a LIST reply entry by entry. */
typedef struct WireListWriter {
        uint8_t *buf;
        size_t cap, len;
        uint32_t count;
        uint32_t proto; /* as WireMsg.proto */
} WireListWriter;

int wire_list_begin(WireListWriter *w, uint8_t *buf, size_t cap, uint32_t serial, uint32_t proto);
int wire_list_add(WireListWriter *w, const char *name, const WireInfo *info);
size_t wire_list_end(WireListWriter *w);
int wire_list_next(const uint8_t **pos, const uint8_t *end, uint32_t proto, char name[NAMES_NAME_MAX + 1],
                   WireInfo *ret);
int wire_stats_next(const uint8_t **pos, const uint8_t *end, WireStatsRow *ret);
