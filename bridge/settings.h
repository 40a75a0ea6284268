/* SPDX-License-Identifier: MIT */
/* settings.h — shmbox-bridge's configuration file: the NATS connection, streams and mailboxes.
 *
 * (Named settings, not config: "config.h" is autoconf's, and a quoted include looks beside the
 * including file first.)
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "client/shmbox.h"

/* $(sysconfdir)/shmbox/bridge.conf: Makefile.am defines it from configure's sysconfdir */
#ifndef SETTINGS_DEFAULT_PATH
#define SETTINGS_DEFAULT_PATH "/etc/shmbox/bridge.conf"
#endif
#define SETTINGS_DEFAULT_STATUS "/run/shmbox-bridge/status"

/* Hard limits on what a config file may ask for. */
#define SETTINGS_URLS_MAX 16
#define SETTINGS_STREAMS_MAX 16
#define SETTINGS_MAILBOXES_MAX 64
#define SETTINGS_SUBJECTS_MAX 16
#define SETTINGS_SUBJECT_MAX 255 /* a NATS subject or URL, without its NUL */
#define SETTINGS_NAME_MAX 64     /* a stream, consumer (durable) or host name */

typedef enum Direction {
        DIRECTION_OUTBOUND, /* mailbox -> stream: the bridge is the mailbox's only receiver */
        DIRECTION_INBOUND,  /* stream -> mailbox: the bridge is a sender into the mailbox */
} Direction;

/* [mailbox] delivery: when bridge A lets a message go (doc/bridge.md, "End-to-end delivery") */
typedef enum Delivery {
        DELIVERY_END_TO_END, /* when bridge B confirms it committed it into B's mailbox (the default) */
        DELIVERY_STREAM_ACK, /* when the stream acknowledged storing it */
} Delivery;

typedef enum Retention {
        RETENTION_WORKQUEUE, /* a message goes once the consumer acked it (the default) */
        RETENTION_LIMITS,    /* kept until max-msgs/max-bytes/max-age */
        RETENTION_INTEREST,
} Retention;

/* [stream NAME]: created with these settings if it does not exist; an existing one is used as is. */
typedef struct StreamSettings {
        char name[SETTINGS_NAME_MAX + 1];
        char subjects[SETTINGS_SUBJECTS_MAX][SETTINGS_SUBJECT_MAX + 1];
        unsigned n_subjects;
        int64_t max_msgs, max_bytes; /* -1: no limit */
        int64_t max_age_ms;          /* 0: no limit */
        int64_t duplicate_window_ms; /* how long JetStream remembers a Nats-Msg-Id */
        int replicas;
        bool memory; /* storage = memory (default file) */
        Retention retention;
} StreamSettings;

/* [mailbox NAME] */
typedef struct MailboxSettings {
        char name[SHMBOX_NAME_MAX + 1];
        Direction direction;
        char subject[SETTINGS_SUBJECT_MAX + 1];
        char stream[SETTINGS_NAME_MAX + 1];
        char durable[SETTINGS_NAME_MAX + 1]; /* inbound: the durable consumer */
        uint32_t max_in_flight;              /* outbound: peeked and unacked at most (0: slots) */
        uint32_t fetch_batch;                /* inbound: messages per fetch at most (0: slots) */
        int64_t ack_wait_ms;                 /* inbound: the consumer's AckWait when created */
        int64_t publish_timeout_ms;          /* outbound: wait for the stream's ack, then retry */
        Delivery delivery;                   /* outbound: when to release; inbound: confirm or not */
        int64_t confirm_timeout_ms;          /* end-to-end: stored, unconfirmed this long: look for it */
} MailboxSettings;

typedef struct Settings {
        /* [bridge] */
        char host[SETTINGS_NAME_MAX + 1]; /* the first part of every message id */
        char socket[108];                 /* shmboxd's socket; "" = the library's default */
        char status_file[256];
        /* [nats] */
        char urls[SETTINGS_URLS_MAX][SETTINGS_SUBJECT_MAX + 1];
        unsigned n_urls;
        char creds[256], user[128], password[128], token[256];
        char name[SETTINGS_NAME_MAX + 1]; /* the connection's name, seen by the server */
        int64_t reconnect_wait_ms;
        int64_t ping_interval_ms; /* 0 (not set): 1000 with more than one URL, else 5000 */
        int64_t connect_timeout_ms;
        StreamSettings streams[SETTINGS_STREAMS_MAX];
        unsigned n_streams;
        MailboxSettings mailboxes[SETTINGS_MAILBOXES_MAX];
        unsigned n_mailboxes;
} Settings;

int settings_load(const char *path, Settings **ret);
Settings *settings_free(Settings *s);
static inline void settings_freep(Settings **s) {
        settings_free(*s);
}

const StreamSettings *settings_stream(const Settings *s, const char *name);
bool settings_nats_equal(const Settings *a, const Settings *b);
bool settings_stream_equal(const StreamSettings *a, const StreamSettings *b);
bool settings_mailbox_equal(const MailboxSettings *a, const MailboxSettings *b);
const char *direction_to_string(Direction d);
const char *delivery_to_string(Delivery d);
