/* SPDX-License-Identifier: MIT */
/* status.c — the bridge's counters and its status file.
 *
 * The running bridge rewrites its status file twice a second (a temporary file renamed over
 * the old one, so a reader never sees half of it). It is an INI file — the format the bridge
 * reads its configuration in — with a [bridge] section (pid, time written, connected or not,
 * server, reconnects, last error) and one [mailbox NAME] section per bridged mailbox.
 * `shmbox-bridge --status` parses it with inih and prints it; it also says when the file is
 * stale (the pid is gone, or it was not rewritten for 5 seconds), which is how a killed bridge
 * shows. Scripts may read the file directly: keys are stable, values are one line.
 *
 * With --metrics FILE the same figures go, at the same moments and the same way (tmp +
 * rename), to FILE in the Prometheus text exposition format (metrics_write()), for node
 * exporter's textfile collector: names shmbox_bridge_*, HELP and TYPE lines, counters ending
 * in _total, each mailbox labelled mailbox and direction. A clean stop removes it, as it
 * removes the status file; a killed bridge leaves it, and
 * shmbox_bridge_last_update_timestamp_seconds says how old it is.
 */
#include "config.h"

#include "bridge/status.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/util.h"

/* stats_init() - zero counters and an empty last error. */
void stats_init(Stats *st) {
        memset(st, 0, sizeof(*st));
        pthread_mutex_init(&st->lock, NULL);
}

/* stats_done() - undo stats_init(). */
void stats_done(Stats *st) {
        pthread_mutex_destroy(&st->lock);
}

/* stats_error() - record @fmt as the mailbox's last error and count it. Any thread. */
void stats_error(Stats *st, const char *fmt, ...) {
        va_list ap;

        pthread_mutex_lock(&st->lock);
        va_start(ap, fmt);
        vsnprintf(st->last_error, sizeof(st->last_error), fmt, ap);
        va_end(ap);
        pthread_mutex_unlock(&st->lock);
        atomic_fetch_add(&st->errors, 1);
}

/* stats_last_error() - copy the last error ("" if none) into @buf. */
void stats_last_error(Stats *st, char *buf, size_t size) {
        pthread_mutex_lock(&st->lock);
        snprintf(buf, size, "%s", st->last_error);
        pthread_mutex_unlock(&st->lock);
}

static int errno_or_eio(void) {
        return errno > 0 ? errno : EIO;
}

/* A value on one line: newlines would start a new key for the reader. */
static void put_line(FILE *f, const char *key, const char *value) {
        fprintf(f, "%s = ", key);
        for (const char *c = value; *c; c++)
                fputc(*c == '\n' || *c == '\r' ? ' ' : *c, f);
        fputc('\n', f);
}

#define PUT_U64(f, key, v) fprintf(f, "%s = %" PRIu64 "\n", key, (uint64_t)(v))

/* What write_atomically() writes: the file's text, into @f. */
typedef void (*WriteFn)(FILE *f, const StatusBridge *b, const StatusMailbox *m, size_t n);

/*
 * write_atomically() - write @path with @fn: into "@path.tmp", then renamed, so that a reader
 * sees the old or the new file whole
 *
 * Return: 0; a negative errno from creating, writing or renaming the file.
 */
static int write_atomically(const char *path, WriteFn fn, const StatusBridge *b, const StatusMailbox *m, size_t n) {
        char tmp[512];
        FILE *f;
        int fd, r = 0;

        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
                return -ENAMETOOLONG;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "w");
        if (!f) {
                r = -errno;
                close(fd);
                unlink(tmp);
                return r;
        }
        fn(f, b, m, n);
        if (fflush(f) != 0 || ferror(f))
                r = -errno_or_eio();
        if (fclose(f) != 0 && r == 0)
                r = -errno_or_eio();
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

static void status_text(FILE *f, const StatusBridge *b, const StatusMailbox *m, size_t n) {
        fprintf(f, "# shmbox-bridge status, rewritten twice a second; see shmbox-bridge(1)\n[bridge]\n");
        PUT_U64(f, "pid", getpid());
        PUT_U64(f, "written", time(NULL));
        put_line(f, "connected", b->connected ? "yes" : "no");
        put_line(f, "server", b->server ? b->server : "");
        PUT_U64(f, "reconnects", b->reconnects);
        put_line(f, "last-error", b->last_error ? b->last_error : "");
        for (size_t i = 0; i < n; i++) {
                const MailboxSettings *ms = m[i].settings;
                Stats *st = m[i].stats;
                char err[STATUS_ERROR_MAX];

                fprintf(f, "\n[mailbox %s]\n", ms->name);
                put_line(f, "direction", direction_to_string(ms->direction));
                put_line(f, "subject", ms->subject);
                put_line(f, "stream", ms->stream);
                put_line(f, "delivery", delivery_to_string(ms->delivery));
                put_line(f, "state",
                         atomic_load(&st->ready)      ? "running"
                         : atomic_load(&st->attached) ? "waiting for the stream"
                                                      : "waiting for the mailbox");
                PUT_U64(f, "in-flight", atomic_load(&st->in_flight));
                if (ms->direction == DIRECTION_OUTBOUND) {
                        PUT_U64(f, "published", atomic_load(&st->published));
                        PUT_U64(f, "acked", atomic_load(&st->acked));
                        PUT_U64(f, "retried", atomic_load(&st->retried));
                        PUT_U64(f, "duplicates", atomic_load(&st->duplicates));
                        PUT_U64(f, "stale", atomic_load(&st->stale));
                        PUT_U64(f, "confirmed", atomic_load(&st->confirmed));
                        PUT_U64(f, "resent", atomic_load(&st->resent));
                } else {
                        put_line(f, "durable", ms->durable);
                        PUT_U64(f, "fetched", atomic_load(&st->fetched));
                        PUT_U64(f, "committed", atomic_load(&st->committed));
                        PUT_U64(f, "acked", atomic_load(&st->acked));
                        PUT_U64(f, "redelivered", atomic_load(&st->redelivered));
                        PUT_U64(f, "rejected", atomic_load(&st->rejected));
                        PUT_U64(f, "confirmed", atomic_load(&st->confirmed));
                        PUT_U64(f, "stepdowns", atomic_load(&st->stepdowns));
                        PUT_U64(f, "recreated", atomic_load(&st->recreated));
                }
                PUT_U64(f, "errors", atomic_load(&st->errors));
                stats_last_error(st, err, sizeof(err));
                put_line(f, "last-error", err);
        }
}

/* status_write() - write the status file @path for the bridge @b and its mailboxes @m[0..n).
 * Return: 0; a negative errno. */
int status_write(const char *path, const StatusBridge *b, const StatusMailbox *m, size_t n) {
        return write_atomically(path, status_text, b, m, n);
}

/* ---- the same figures for Prometheus: --metrics FILE -------------------------------------- */

/* A per-mailbox family: its name, help, type, which direction has it (-1: both), the value. */
typedef struct MetricFamily {
        const char *name, *help, *type;
        int direction;
        uint64_t (*value)(Stats *st);
} MetricFamily;

#define STATS_VALUE(field)                                                                                             \
        static uint64_t value_##field(Stats *st) {                                                                     \
                return atomic_load(&st->field);                                                                        \
        }
STATS_VALUE(in_flight)
STATS_VALUE(published)
STATS_VALUE(acked)
STATS_VALUE(retried)
STATS_VALUE(duplicates)
STATS_VALUE(stale)
STATS_VALUE(fetched)
STATS_VALUE(committed)
STATS_VALUE(redelivered)
STATS_VALUE(rejected)
STATS_VALUE(errors)
STATS_VALUE(confirmed)
STATS_VALUE(resent)
STATS_VALUE(stepdowns)
STATS_VALUE(recreated)
static uint64_t value_attached(Stats *st) {
        return atomic_load(&st->attached);
}
static uint64_t value_ready(Stats *st) {
        return atomic_load(&st->ready);
}

static const MetricFamily metric_families[] = {
        { "shmbox_bridge_mailbox_attached", "Whether the bridged mailbox is attached (1) or not (0).", "gauge", -1,
          value_attached },
        { "shmbox_bridge_mailbox_ready",
          "Whether messages move: the mailbox is attached and its stream (and consumer) exist.", "gauge", -1,
          value_ready },
        { "shmbox_bridge_in_flight_messages",
          "Messages taken and not yet done: peeked and not released (outbound), fetched and not committed and acked "
          "(inbound).",
          "gauge", -1, value_in_flight },
        { "shmbox_bridge_published_messages_total", "Messages published to the stream the first time (outbound).",
          "counter", DIRECTION_OUTBOUND, value_published },
        { "shmbox_bridge_retried_messages_total",
          "Messages published again after a failure or a timeout, with the same id (outbound).", "counter",
          DIRECTION_OUTBOUND, value_retried },
        { "shmbox_bridge_duplicate_messages_total",
          "Publishes the stream acked as a duplicate of an id it already had (outbound).", "counter",
          DIRECTION_OUTBOUND, value_duplicates },
        { "shmbox_bridge_stale_messages_total",
          "Releases the daemon refused because it gave the message to another reader meanwhile (outbound).", "counter",
          DIRECTION_OUTBOUND, value_stale },
        { "shmbox_bridge_fetched_messages_total", "Messages fetched from the stream's consumer (inbound).", "counter",
          DIRECTION_INBOUND, value_fetched },
        { "shmbox_bridge_committed_messages_total", "Messages sent into the mailbox (inbound).", "counter",
          DIRECTION_INBOUND, value_committed },
        { "shmbox_bridge_redelivered_messages_total", "Messages the stream delivered more than once (inbound).",
          "counter", DIRECTION_INBOUND, value_redelivered },
        { "shmbox_bridge_rejected_messages_total",
          "Messages longer than the mailbox's slots, terminated on the stream (inbound).", "counter", DIRECTION_INBOUND,
          value_rejected },
        { "shmbox_bridge_acked_messages_total",
          "Messages done: released from the mailbox once stored (stream-ack) or confirmed (end-to-end) (outbound), "
          "committed to the mailbox "
          "and acked to the stream (inbound).",
          "counter", -1, value_acked },
        { "shmbox_bridge_confirmed_messages_total",
          "End-to-end delivery: messages released on the receiving bridge's confirmation (outbound), committed "
          "messages confirmed to the sending bridge (inbound).",
          "counter", -1, value_confirmed },
        { "shmbox_bridge_resent_messages_total",
          "End-to-end delivery: messages stored, never confirmed and no longer in the stream, published again under a "
          "new id (outbound).",
          "counter", DIRECTION_OUTBOUND, value_resent },
        { "shmbox_bridge_consumer_stepdowns_total",
          "Times the consumer's leader was asked to step down: pulls came back empty while messages waited for it "
          "(inbound).",
          "counter", DIRECTION_INBOUND, value_stepdowns },
        { "shmbox_bridge_consumer_recreations_total",
          "Times the consumer was deleted and made again: it was past messages the work queue holds, or its leaders "
          "brought nothing (inbound).",
          "counter", DIRECTION_INBOUND, value_recreated },
        { "shmbox_bridge_errors_total", "Errors met on the mailbox (its last one is in shmbox-bridge --status).",
          "counter", -1, value_errors },
};

/* A label value, escaped as the exposition format wants: backslash, double quote, newline. */
static void put_label(FILE *f, const char *v) {
        for (; *v; v++) {
                if (*v == '\\' || *v == '"')
                        fprintf(f, "\\%c", *v);
                else if (*v == '\n')
                        fputs("\\n", f);
                else
                        fputc(*v, f);
        }
}

static void metrics_text(FILE *f, const StatusBridge *b, const StatusMailbox *m, size_t n) {
        fprintf(f,
                "# HELP shmbox_bridge_connected Whether the bridge is connected to NATS (1) or not (0).\n"
                "# TYPE shmbox_bridge_connected gauge\n"
                "shmbox_bridge_connected %d\n"
                "# HELP shmbox_bridge_reconnects_total Times the NATS connection was lost and made again.\n"
                "# TYPE shmbox_bridge_reconnects_total counter\n"
                "shmbox_bridge_reconnects_total %" PRIu64 "\n"
                "# HELP shmbox_bridge_mailboxes Mailboxes the bridge carries.\n"
                "# TYPE shmbox_bridge_mailboxes gauge\n"
                "shmbox_bridge_mailboxes %zu\n"
                "# HELP shmbox_bridge_last_update_timestamp_seconds When the bridge last wrote these figures "
                "(twice a second while it runs).\n"
                "# TYPE shmbox_bridge_last_update_timestamp_seconds gauge\n"
                "shmbox_bridge_last_update_timestamp_seconds %lld\n",
                b->connected ? 1 : 0, b->reconnects, n, (long long)time(NULL));
        for (size_t k = 0; k < sizeof(metric_families) / sizeof(metric_families[0]); k++) {
                const MetricFamily *mf = &metric_families[k];
                bool head = false;

                for (size_t i = 0; i < n; i++) {
                        const MailboxSettings *ms = m[i].settings;

                        if (mf->direction >= 0 && (int)ms->direction != mf->direction)
                                continue;
                        if (!head) {
                                fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", mf->name, mf->help, mf->name, mf->type);
                                head = true;
                        }
                        fprintf(f, "%s{mailbox=\"", mf->name);
                        put_label(f, ms->name);
                        fprintf(f, "\",direction=\"%s\"} %" PRIu64 "\n", direction_to_string(ms->direction),
                                mf->value(m[i].stats));
                }
        }
}

/* metrics_write() - write @path in the Prometheus text format for the bridge @b and its
 * mailboxes @m[0..n), atomically. Return: 0; a negative errno. */
int metrics_write(const char *path, const StatusBridge *b, const StatusMailbox *m, size_t n) {
        return write_atomically(path, metrics_text, b, m, n);
}

/* ---- reading it back: shmbox-bridge --status -------------------------------------------- */

typedef struct Reader {
        FILE *out;
        char section[128];
        pid_t pid;
        time_t written;
        bool connected;
} Reader;

static int on_status_key(void *user, const char *section, const char *key, const char *value) {
        Reader *r = user;

        if (!streq(r->section, section)) {
                snprintf(r->section, sizeof(r->section), "%s", section);
                fprintf(r->out, "%s\n", section);
        }
        if (streq(section, "bridge")) {
                if (streq(key, "pid"))
                        r->pid = (pid_t)strtol(value, NULL, 10);
                else if (streq(key, "written"))
                        r->written = (time_t)strtoll(value, NULL, 10);
                else if (streq(key, "connected"))
                        r->connected = streq(value, "yes");
        }
        fprintf(r->out, "  %-12s %s\n", key, value[0] ? value : "-");
        return 1;
}

/*
 * status_print() - print the status file @path to @out, and judge whether it is current
 *
 * Return: 0 if the bridge runs and is connected; 1 if it does not run (no file, a dead pid, or
 *         a file not rewritten for 5 seconds); 3 if it runs but is not connected to NATS. These
 *         are the exit statuses of `shmbox-bridge --status`.
 */
int status_print(const char *path, FILE *out) {
        Reader r = { .out = out };
        FILE *f = fopen(path, "re");
        int line;

        if (!f) {
                fprintf(out, "shmbox-bridge is not running (no status file %s: %s)\n", path, strerror(errno));
                return 1;
        }
        line = ini_parse_file(f, on_status_key, &r);
        fclose(f);
        if (line != 0 || r.pid <= 0) {
                fprintf(out, "shmbox-bridge: %s is not a status file (line %d)\n", path, line);
                return 1;
        }
        if (kill(r.pid, 0) < 0 && errno == ESRCH) {
                fprintf(out, "shmbox-bridge is not running (pid %d is gone; the figures above are its last)\n",
                        (int)r.pid);
                return 1;
        }
        if (time(NULL) - r.written > 5) {
                fprintf(out, "shmbox-bridge (pid %d) has not updated its status for %lld s: hung?\n", (int)r.pid,
                        (long long)(time(NULL) - r.written));
                return 1;
        }
        return r.connected ? 0 : 3;
}
