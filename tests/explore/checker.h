/* SPDX-License-Identifier: MIT */
/* checker.h — what every explored schedule must satisfy: the delivery log of one run and its
 * judgement (tests/explore/checker.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A message: its sender (0: the set-up's prefill, n: actor n - 1) and its number there. */
#define MSG_ID(sender, seq) (((uint32_t)(sender) << 16) | (uint32_t)(seq))
#define MSG_SENDER(m) ((m) >> 16)
#define MSG_SEQ(m) ((m)&0xffffu)
#define CHECK_SENDERS 16
#define CHECK_SEQS 64

typedef enum EventKind {
        EV_COMMIT,    /* a slot word went CLAIMED -> READY (the message's commit) */
        EV_TAKE,      /* READY -> TAKEN by @actor */
        EV_CONSUME,   /* TAKEN -> DONE by @actor */
        EV_REDELIVER, /* TAKEN -> READY by a repair */
        EV_ABANDON,   /* CLAIMED -> ABANDONED (no message) */
        EV_RETURN,    /* the receive call returned the message to @actor */
        EV_SENT,      /* the send call returned success for the message to @actor */
        _EV_KIND_MAX,
} EventKind;

typedef struct Event {
        uint8_t kind;
        uint8_t actor; /* scheduler index; CHECK_NOBODY for the set-up and the daemon */
        uint32_t msg;
} Event;

#define CHECK_NOBODY 0xffu
#define CHECK_LOG_MAX 512

typedef struct DeliveryLog {
        Event ev[CHECK_LOG_MAX];
        unsigned n;
        bool overflow;
} DeliveryLog;

/* The state at the end of the run that the log cannot say. */
typedef struct RunFinal {
        uint32_t ready[CHECK_LOG_MAX]; /* messages READY in the ring */
        unsigned n_ready;
        bool killed[32]; /* by actor index */
} RunFinal;

void delivery_log_add(DeliveryLog *log, EventKind kind, unsigned actor, uint32_t msg);
const char *event_kind_str(EventKind k);

/*
 * checker_run() - judge one run: @why gets the first violation
 *
 * Return: true if the run keeps every promise of doc/survival.md.
 */
bool checker_run(const DeliveryLog *log, const RunFinal *f, char *why, size_t len);
