/* SPDX-License-Identifier: MIT */
/* log.h — the logging of shmboxd and shmbox-bridge (liblog.la): one line per decision, to stderr with
 * <N> priority prefixes, or to journald with fields (log_event(); doc/logging.md). */
#pragma once

#include <stddef.h>
#include <sys/types.h>
#include <syslog.h>

extern int log_max_level; /* command-line global: messages above it are dropped */

int log_parse_level(const char *s);
void log_full(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log with the errno @r (negative) appended, and return @r: `return log_errno(LOG_ERR, r, ...)`. */
int log_errno(int prio, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

/* The events an operator searches the journal for: each has a fixed MESSAGE_ID (doc/logging.md). */
typedef enum LogEvent {
        LOG_EVENT_REFUSAL,    /* a request refused by the access rules (permission denied) */
        LOG_EVENT_QUOTA,      /* a request refused by a limit or quota */
        LOG_EVENT_REPAIR,     /* a dead holder's ring state repaired */
        LOG_EVENT_CORRUPTION, /* shared memory in a state no protocol step leaves */
        _LOG_EVENT_MAX,
} LogEvent;

/* What an event is about; a field left at its "none" value is not sent. */
typedef struct LogFields {
        LogEvent event;
        const char *mailbox; /* SHMBOX_MAILBOX=; NULL: none */
        uid_t uid;           /* SHMBOX_UID=; (uid_t)-1: none */
        pid_t pid;           /* SHMBOX_PID=; 0 or less: none (a peer in another pid namespace is 0) */
        int err;             /* SHMBOX_ERRNO= (positive in the journal); 0: none */
} LogFields;

/* Log one line at @prio as log_full() does; to journald (stderr is its stream) with the fields
 * of @f, MESSAGE_ID= and SYSLOG_IDENTIFIER= besides MESSAGE= and PRIORITY=. */
void log_event(int prio, const LogFields *f, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define LOG_LINE_MAX 1024                 /* a message longer than this is cut */
#define LOG_FIELDS_MAX 8                  /* MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, MESSAGE_ID and the four SHMBOX_ */
typedef char LogField[LOG_LINE_MAX + 32]; /* one "NAME=value" */

/* The journal fields of one entry into @ret; @f NULL: a plain line (MESSAGE=, PRIORITY=,
 * SYSLOG_IDENTIFIER=). Returns how many (at most LOG_FIELDS_MAX). What log_event() sends,
 * apart for the tests. */
size_t log_journal_fields(int prio, const LogFields *f, const char *message, LogField ret[LOG_FIELDS_MAX]);

/* The MESSAGE_ID of @event, 32 hex digits; NULL for none. */
const char *log_event_id(LogEvent event);
