/* SPDX-License-Identifier: MIT */
/* ctl-metrics.c — `shmboxctl metrics`: the daemon's and every mailbox's figures for Prometheus.
 *
 * Written against <shmbox.h> alone. shmbox_list() gives every mailbox's info, shmbox_stats()
 * its traffic counters (doc/ring.md, "Counters"); a mailbox the caller may not see
 * (-EACCES) or one destroyed meanwhile (-ENOENT) is left out. The text exposition format
 * (https://prometheus.io/docs/instrumenting/exposition_formats/) wants each metric family in
 * one block, HELP and TYPE first, so the figures are gathered first and printed metric by
 * metric. Names are shmbox_*, with the unit in the name and _total on counters; labels are
 * mailbox and owner (the owner's user name, or its uid).
 *
 * --output FILE writes a temporary file in FILE's directory and rename()s it over FILE, so
 * node exporter's textfile collector never reads half a file; a daemon that does not answer
 * then still gets a file, with shmbox_up 0, so that an alert can fire instead of the last
 * figures staying up forever.
 */
#include "config.h"

#include "client/ctl-metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/shmbox.h"

typedef struct Box {
        const struct shmbox_entry *e;
        struct shmbox_stats *st;
        char owner[64]; /* escaped for a label value */
} Box;

typedef enum Kind { GAUGE, COUNTER } Kind;

/* One metric of a mailbox: its name, help, type, and how to read it (seconds: ns / 1e9). */
typedef struct Metric {
        const char *name, *help;
        Kind kind;
        uint64_t (*get)(const Box *b);
        bool seconds;
} Metric;

#define INFO(f)                                                                                                        \
        static uint64_t get_##f(const Box *b) {                                                                        \
                return b->e->info.f;                                                                                   \
        }
#define TOTAL(f)                                                                                                       \
        static uint64_t get_##f(const Box *b) {                                                                        \
                return b->st->total.f;                                                                                 \
        }
INFO(slots)
INFO(slot_size)
INFO(queued)
INFO(attached)
INFO(orphaned)
INFO(repairs)
INFO(recovered)
INFO(corrupt)
TOTAL(sent)
TOTAL(sent_bytes)
TOTAL(received)
TOTAL(received_bytes)
TOTAL(send_waits)
TOTAL(send_wait_ns)
TOTAL(recv_waits)
TOTAL(recv_wait_ns)
TOTAL(send_timeouts)
TOTAL(recv_timeouts)
TOTAL(full)
#undef INFO
#undef TOTAL

static uint64_t get_abandoned(const Box *b) {
        return b->st->abandoned;
}

static uint64_t get_corrupt_flag(const Box *b) {
        return b->e->info.corrupt ? 1 : 0;
}

static const Metric metrics[] = {
        { "shmbox_mailbox_slots", "Slots of the mailbox: how many messages it holds.", GAUGE, get_slots, false },
        { "shmbox_mailbox_slot_size_bytes", "Largest message of the mailbox.", GAUGE, get_slot_size, false },
        { "shmbox_mailbox_queued_messages", "Committed messages not taken yet.", GAUGE, get_queued, false },
        { "shmbox_mailbox_attachments", "Boxes attached to the mailbox, over all processes.", GAUGE, get_attached,
          false },
        { "shmbox_mailbox_orphaned_attachments", "Attachments of processes that hung up but still run.", GAUGE,
          get_orphaned, false },
        { "shmbox_mailbox_corrupt", "1 if the daemon found the mailbox's shared memory impossible (see info).", GAUGE,
          get_corrupt_flag, false },
        { "shmbox_mailbox_corrupt_flags", "SHMBOX_INFO_CORRUPT_* bits the daemon found (0: it validates).", GAUGE,
          get_corrupt, false },
        { "shmbox_mailbox_sent_messages_total", "Messages committed, as the senders counted them.", COUNTER, get_sent,
          false },
        { "shmbox_mailbox_sent_bytes_total", "Bytes of the messages committed.", COUNTER, get_sent_bytes, false },
        { "shmbox_mailbox_received_messages_total", "Messages consumed, as the receivers counted them.", COUNTER,
          get_received, false },
        { "shmbox_mailbox_received_bytes_total", "Bytes of the messages consumed.", COUNTER, get_received_bytes,
          false },
        { "shmbox_mailbox_send_waits_total", "Sends that found the mailbox full and waited for room.", COUNTER,
          get_send_waits, false },
        { "shmbox_mailbox_send_wait_seconds_total", "Time sends spent waiting for room.", COUNTER, get_send_wait_ns,
          true },
        { "shmbox_mailbox_receive_waits_total", "Receives that found the mailbox empty and waited.", COUNTER,
          get_recv_waits, false },
        { "shmbox_mailbox_receive_wait_seconds_total", "Time receives spent waiting for a message.", COUNTER,
          get_recv_wait_ns, true },
        { "shmbox_mailbox_send_timeouts_total", "Sends that ended at their deadline (mailbox full).", COUNTER,
          get_send_timeouts, false },
        { "shmbox_mailbox_receive_timeouts_total", "Receives that ended at their deadline (no message).", COUNTER,
          get_recv_timeouts, false },
        { "shmbox_mailbox_full_total", "Sends that found the mailbox full, whether they waited or not.", COUNTER,
          get_full, false },
        { "shmbox_mailbox_repairs_total", "Repairs after dead processes that found something to do.", COUNTER,
          get_repairs, false },
        { "shmbox_mailbox_redelivered_messages_total",
          "Messages whose receiver died before consuming them, put back for another.", COUNTER, get_recovered, false },
        { "shmbox_mailbox_abandoned_messages_total",
          "Claims never committed: aborted reservations and writers that died.", COUNTER, get_abandoned, false },
};

/* A label value: backslash, double quote and newline escaped (the format's three). */
static void label_escape(char *out, size_t size, const char *s) {
        size_t n = 0;

        for (; *s && n + 3 < size; s++) {
                if (*s == '\\' || *s == '"') {
                        out[n++] = '\\';
                        out[n++] = *s;
                } else if (*s == '\n') {
                        out[n++] = '\\';
                        out[n++] = 'n';
                } else
                        out[n++] = *s;
        }
        out[n] = 0;
}

static void owner_of(uint32_t uid, char *out, size_t size) {
        struct passwd *pw = getpwuid(uid);
        char num[16];

        snprintf(num, sizeof(num), "%" PRIu32, uid);
        label_escape(out, size, pw ? pw->pw_name : num);
}

static void print_value(FILE *f, uint64_t v, bool seconds) {
        if (seconds)
                fprintf(f, "%" PRIu64 ".%09" PRIu64 "\n", v / 1000000000u, v % 1000000000u);
        else
                fprintf(f, "%" PRIu64 "\n", v);
}

static void print_family(FILE *f, const char *name, const char *help, Kind kind) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind == COUNTER ? "counter" : "gauge");
}

static void print_all(FILE *f, bool up, const Box *boxes, size_t n) {
        print_family(f, "shmbox_up", "1 if shmboxctl reached the daemon and read its mailboxes, else 0.", GAUGE);
        fprintf(f, "shmbox_up %d\n", up ? 1 : 0);
        if (!up)
                return;
        print_family(f, "shmbox_mailboxes", "Mailboxes of the daemon that this caller may see.", GAUGE);
        fprintf(f, "shmbox_mailboxes %zu\n", n);
        for (size_t m = 0; m < sizeof(metrics) / sizeof(metrics[0]); m++) {
                print_family(f, metrics[m].name, metrics[m].help, metrics[m].kind);
                for (size_t i = 0; i < n; i++) {
                        fprintf(f, "%s{mailbox=\"%s\",owner=\"%s\"} ", metrics[m].name, boxes[i].e->name,
                                boxes[i].owner);
                        print_value(f, metrics[m].get(&boxes[i]), metrics[m].seconds);
                }
        }
}

/* Write into a temporary file beside @path, then rename it over @path. */
static int write_atomically(const char *path, bool up, const Box *boxes, size_t n) {
        char tmp[PATH_MAX];
        FILE *f;
        int fd, r = 0;

        if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp))
                return -ENAMETOOLONG;
        fd = mkstemp(tmp);
        if (fd < 0)
                return -errno;
        /* readable by node exporter, which runs as another user */
        if (fchmod(fd, 0644) < 0 || !(f = fdopen(fd, "w"))) {
                r = -errno;
                close(fd);
                unlink(tmp);
                return r;
        }
        print_all(f, up, boxes, n);
        if (fflush(f) != 0 || fsync(fileno(f)) < 0)
                r = -errno;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

static void free_boxes(Box *boxes, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(boxes[i].st);
        free(boxes);
}

int ctl_metrics_run(const char *socket, const char *output) {
        shmbox_client *client = NULL;
        struct shmbox_entry *entries = NULL;
        Box *boxes = NULL;
        size_t count = 0, n = 0;
        int r, status = EXIT_SUCCESS;

        r = shmbox_connect(socket, &client);
        if (r < 0) {
                fprintf(stderr, "shmboxctl: metrics: cannot connect to the daemon: %s\n", shmbox_strerror(r));
                goto out;
        }
        r = shmbox_list(client, &entries, &count);
        if (r < 0) {
                fprintf(stderr, "shmboxctl: metrics: list: %s\n", shmbox_strerror(r));
                goto out;
        }
        boxes = calloc(count ? count : 1, sizeof(*boxes));
        if (!boxes) {
                r = -ENOMEM;
                fprintf(stderr, "shmboxctl: metrics: out of memory\n");
                goto out;
        }
        for (size_t i = 0; i < count; i++) {
                struct shmbox_stats *st;

                r = shmbox_stats(client, entries[i].name, &st);
                if (r == -EACCES || r == -ENOENT)
                        continue; /* not ours to see, or destroyed since the list */
                if (r < 0) {
                        fprintf(stderr, "shmboxctl: metrics: %s: %s\n", entries[i].name, shmbox_strerror(r));
                        goto out;
                }
                boxes[n] = (Box){ .e = &entries[i], .st = st };
                owner_of(entries[i].info.uid, boxes[n].owner, sizeof(boxes[n].owner));
                n++;
        }
        r = 0;
out:
        if (r < 0)
                status = EXIT_FAILURE;
        if (output) {
                int k = write_atomically(output, r == 0, boxes, r == 0 ? n : 0);

                if (k < 0) {
                        fprintf(stderr, "shmboxctl: metrics: %s: %s\n", output, strerror(-k));
                        status = EXIT_FAILURE;
                }
        } else if (r == 0)
                print_all(stdout, true, boxes, n);
        free_boxes(boxes, n);
        free(entries);
        shmbox_disconnect(client);
        return status;
}
