/* SPDX-License-Identifier: MIT */
/* consumer-health.h — is the inbound bridge's durable consumer bringing what waits for it? The
 * stalls of JetStream 2.9 clusters told apart from an idle stream, and what is done about each
 * (doc/bridge.md, "A consumer that brings nothing while messages wait for it"). */
#pragma once

#include <nats/nats.h>
#include <stdbool.h>
#include <stdint.h>

#include "bridge/link.h"
#include "bridge/settings.h"
#include "bridge/status.h"

typedef enum HealthStall {
        HEALTH_OK,
        HEALTH_SILENT, /* messages pending, none comes */
        HEALTH_BEHIND, /* nothing pending, yet the work queue holds messages for it */
} HealthStall;

typedef struct ConsumerHealth {
        jsCtx *js;
        Link *link;
        const MailboxSettings *m;
        Stats *stats;
        int64_t last_msg;      /* monotonic µs: the last message, or when the pulls began */
        bool answered_empty;   /* since then, a pull ended with a 404 or 408: a leader is there */
        int64_t unanswered;    /* monotonic µs: the first pull sent since the inbox last heard */
        int64_t check_at;      /* monotonic µs: ask the consumer no earlier */
        int64_t leaderless_at; /* monotonic µs: look for a leaderless consumer no earlier */
        int idle_backoff_ms;   /* the next wait between two questions to an idle consumer */
        int64_t last_stepdown; /* monotonic µs: the last stepdown asked for; 0: none */
        int64_t last_recreate; /* monotonic µs: the consumer last made again; 0: never */
        int64_t stall_since;   /* monotonic µs: the stall found (0: none now) */
        HealthStall stall;
        uint64_t behind_count;    /* HEALTH_BEHIND: the work queue's count at the last look */
        unsigned stall_stepdowns; /* stepdowns asked in this stall */
} ConsumerHealth;

void health_init(ConsumerHealth *h, jsCtx *js, Link *link, const MailboxSettings *m, Stats *stats);
void health_message(ConsumerHealth *h, int64_t now);
void health_restart(ConsumerHealth *h, int64_t now);
void health_empty_answer(ConsumerHealth *h);
void health_pull_sent(ConsumerHealth *h, int64_t now, int64_t heard);
void health_full(ConsumerHealth *h, int64_t now);
bool health_check(ConsumerHealth *h, int64_t now, int64_t heard, bool suspect, bool no_responders);
