/* SPDX-License-Identifier: MIT */
/* log.c — the logging of shmboxd and shmbox-bridge: "<N>message" lines on stderr, or entries with
 * fields sent to journald when stderr is journald's stream.
 *
 * Only the programs log, never the library, and only where they decide something: the daemon
 * on create, destroy, repair, refusal, start and stop (it is never on the message path); the
 * bridge when it connects or loses the connection, attaches or detaches a mailbox, creates a
 * stream or consumer, reloads, or retries an error, never once per message. The bridge's
 * worker threads log too: each line is one fprintf() (stdio locks) or one sd_journal_sendv()
 * (one datagram), so lines do not interleave.
 *
 * Where a line goes, decided once at the first line (stderr does not change):
 *   - stderr is journald's stream ($JOURNAL_STREAM names its dev:ino): every line is sent with
 *     sd_journal_sendv() — MESSAGE=, PRIORITY=, SYSLOG_IDENTIFIER= and, for the events an
 *     operator searches for (log_event(): refusal, quota, repair, corruption), MESSAGE_ID= and
 *     SHMBOX_MAILBOX=, SHMBOX_UID=, SHMBOX_PID=, SHMBOX_ERRNO= (doc/logging.md), so that
 *     `journalctl SHMBOX_MAILBOX=orders` finds them. All lines take that one path, so their
 *     order stays that of the calls. A send that fails falls back to the stream line.
 *   - a file or pipe (a supervisor reads it): "<N>message" lines, which journald and
 *     syslog-style readers file by priority.
 *   - an interactive terminal: plain "message" lines; the prefixes would be noise.
 *
 * Its own folder and library (liblog.la), because both programs need it and the bridge is an
 * ordinary client of libshmbox that must not link libdaemon.la (doc/design.md, Layout). It uses
 * libc and libsystemd's sd-journal (a dependency of the daemon anyway) and nothing else.
 */
#include "config.h"

#include "log/log.h"

#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

int log_max_level = LOG_INFO;

/* Where lines go, decided by the first line (stderr does not change); the bridge's threads may
 * race to decide, and each computes the same value. */
typedef enum LogTarget {
        LOG_TARGET_UNKNOWN,
        LOG_TARGET_TERMINAL, /* plain lines */
        LOG_TARGET_STREAM,   /* "<N>" lines */
        LOG_TARGET_JOURNAL,  /* sd_journal_sendv() */
} LogTarget;
static LogTarget log_target = LOG_TARGET_UNKNOWN;

/* Fixed ids, one per event kind (doc/logging.md): `journalctl MESSAGE_ID=...` finds them across
 * every version. Made once with a random generator; never change one. */
static const char *const event_ids[_LOG_EVENT_MAX] = {
        [LOG_EVENT_REFUSAL] = "c837fbad66ac4eec9fce42e66c956b2a",
        [LOG_EVENT_QUOTA] = "2c123917506f46d5b0a1a515b248fabc",
        [LOG_EVENT_REPAIR] = "9b6d9b4576b0458db92c6197688391f1",
        [LOG_EVENT_CORRUPTION] = "ae015358f18f45db9a30277ce402b43d",
};

/* Whether stderr is the stream journald gave us: $JOURNAL_STREAM is "DEV:INO" of it. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        int n = 0;

        if (!e || sscanf(e, "%llu:%llu%n", &dev, &ino, &n) != 2 || e[n] != '\0')
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/*
 * log_parse_level() - a level name (err, warning, notice, info, debug) or number 0-7
 *
 * Return: the level; -EINVAL for anything else.
 */
int log_parse_level(const char *s) {
        static const char *const names[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };

        for (int i = 0; i < 8; i++)
                if (strcasecmp(s, names[i]) == 0)
                        return i;
        if (strcasecmp(s, "error") == 0)
                return LOG_ERR;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == 0)
                return s[0] - '0';
        return -EINVAL;
}

const char *log_event_id(LogEvent event) {
        return (unsigned)event < _LOG_EVENT_MAX ? event_ids[event] : NULL;
}

size_t log_journal_fields(int prio, const LogFields *f, const char *message, LogField ret[LOG_FIELDS_MAX]) {
        size_t n = 0;

        snprintf(ret[n++], sizeof(LogField), "MESSAGE=%s", message);
        snprintf(ret[n++], sizeof(LogField), "PRIORITY=%d", prio & LOG_PRIMASK);
        snprintf(ret[n++], sizeof(LogField), "SYSLOG_IDENTIFIER=%s", program_invocation_short_name);
        if (!f)
                return n;
        if (log_event_id(f->event))
                snprintf(ret[n++], sizeof(LogField), "MESSAGE_ID=%s", log_event_id(f->event));
        if (f->mailbox)
                snprintf(ret[n++], sizeof(LogField), "SHMBOX_MAILBOX=%s", f->mailbox);
        if (f->uid != (uid_t)-1)
                snprintf(ret[n++], sizeof(LogField), "SHMBOX_UID=%u", (unsigned)f->uid);
        if (f->pid > 0)
                snprintf(ret[n++], sizeof(LogField), "SHMBOX_PID=%d", (int)f->pid);
        if (f->err != 0)
                snprintf(ret[n++], sizeof(LogField), "SHMBOX_ERRNO=%d", f->err < 0 ? -f->err : f->err);
        return n;
}

/* Send one entry to journald. Return: 0; a negative errno (the caller writes the line instead). */
static int log_journal(int prio, const LogFields *f, const char *message) {
        LogField fields[LOG_FIELDS_MAX];
        struct iovec iov[LOG_FIELDS_MAX];
        size_t n = log_journal_fields(prio, f, message, fields);

        for (size_t i = 0; i < n; i++)
                iov[i] = (struct iovec){ .iov_base = fields[i], .iov_len = strlen(fields[i]) };
        return sd_journal_sendv(iov, (int)n);
}

static void log_v(int prio, int r, const LogFields *f, const char *fmt, va_list ap)
        __attribute__((format(printf, 4, 0)));
static void log_v(int prio, int r, const LogFields *f, const char *fmt, va_list ap) {
        char buf[LOG_LINE_MAX], line[LOG_LINE_MAX + 256], prefix[8] = "";

        if (prio > log_max_level)
                return;
        if (log_target == LOG_TARGET_UNKNOWN)
                log_target = stderr_is_journal()     ? LOG_TARGET_JOURNAL
                             : isatty(STDERR_FILENO) ? LOG_TARGET_TERMINAL
                                                     : LOG_TARGET_STREAM;
        vsnprintf(buf, sizeof(buf), fmt, ap);
        if (r < 0)
                snprintf(line, sizeof(line), "%s: %s", buf, strerror(-r));
        else
                snprintf(line, sizeof(line), "%s", buf);
        if (log_target == LOG_TARGET_JOURNAL && log_journal(prio, f, line) >= 0)
                return;
        if (log_target != LOG_TARGET_TERMINAL)
                snprintf(prefix, sizeof(prefix), "<%d>", prio);
        fprintf(stderr, "%s%s\n", prefix, line);
}

/* log_full() - log one line at @prio, if the level lets it through. */
void log_full(int prio, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_v(prio, 0, NULL, fmt, ap);
        va_end(ap);
}

/* log_event() - log one line at @prio; in the journal with the fields of @f (log.h). */
void log_event(int prio, const LogFields *f, const char *fmt, ...) {
        va_list ap;
        int saved = errno;

        va_start(ap, fmt);
        log_v(prio, 0, f, fmt, ap);
        va_end(ap);
        errno = saved;
}

/*
 * log_errno() - log one line at @prio with strerror(-@r) appended
 *
 * Return: @r, so that callers can `return log_errno(...)`; errno is kept.
 */
int log_errno(int prio, int r, const char *fmt, ...) {
        va_list ap;
        int saved = errno;

        va_start(ap, fmt);
        log_v(prio, r, NULL, fmt, ap);
        va_end(ap);
        errno = saved;
        return r;
}
