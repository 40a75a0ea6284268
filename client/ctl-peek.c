/* SPDX-License-Identifier: MIT */
/* ctl-peek.c — `shmboxctl peek NAME [--follow]`: print the messages of a mailbox without
 * taking them, as `nats stream view` and `busctl monitor` show traffic without consuming it.
 *
 * Built on shmbox_peek_at() only (the public header). A snapshot walks from the oldest message
 * until the library says there is nothing more, at most one ring's worth of positions (so a
 * busy mailbox cannot keep it going). --follow then keeps its cursor and asks again every
 * PEEK_POLL_MS: the mailbox's FIFO (shmbox_fd()) stays readable while messages are queued and
 * only a receive settles it, so a viewer that never receives would find it always readable;
 * a short poll costs one look at a slot word per period. What the library counts as missed
 * (positions receivers finished before the cursor got there) and changed (copies dropped
 * because the slot changed meanwhile) is said on stderr as it grows, so stdout stays the
 * messages only. SIGINT and SIGTERM end a follow cleanly (exit 0), after the output is flushed.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "client/ctl-peek.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/ctl-print.h"
#include "client/shmbox.h"

/* How often --follow looks again when there was nothing new (see the head comment). */
#define PEEK_POLL_MS 20

/* Set by SIGINT and SIGTERM while following: the loop ends at its next look. */
static volatile sig_atomic_t peek_stop;

static void peek_on_signal(int sig) {
        (void)sig;
        peek_stop = 1;
}

/* The rule of <shmbox.h> for a mailbox name, so that a bad one is a usage error. */
static bool peek_name_valid(const char *name) {
        size_t len = strlen(name);

        return len > 0 && len <= SHMBOX_NAME_MAX && name[0] != '.' &&
               strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

/* Say on stderr what the cursor could not show since the last report: at most once a second
 * while following (@force: now, at the end), so that a busy mailbox does not flood stderr. */
typedef struct PeekReport {
        uint64_t missed, changed; /* as said so far */
        time_t last;              /* CLOCK_MONOTONIC second of the last report, 0: none yet */
} PeekReport;

static void peek_report(const char *name, const struct shmbox_cursor *c, PeekReport *rep, bool force) {
        struct timespec now;

        if (c->missed == rep->missed && c->changed == rep->changed)
                return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!force && rep->last != 0 && now.tv_sec - rep->last < 1)
                return;
        rep->last = now.tv_sec;
        if (c->missed > rep->missed)
                ctl_log_error("%s: %" PRIu64 " positions passed by receivers before they could be shown", name,
                              c->missed - rep->missed);
        if (c->changed > rep->changed)
                ctl_log_error("%s: %" PRIu64 " message(s) skipped: they changed while being read", name,
                              c->changed - rep->changed);
        rep->missed = c->missed;
        rep->changed = c->changed;
}

static int peek_flush(void) {
        if (fflush(stdout) == 0 && !ferror(stdout))
                return 0;
        ctl_log_error("cannot write to stdout: %s", strerror(errno));
        return -EIO;
}

/*
 * peek_run() - the loop: print what shmbox_peek_at() gives until the end of the snapshot, the
 * count, or (following) a signal
 *
 * Return: the exit status.
 */
static int peek_run(shmbox *box, const char *name, bool follow, bool json, bool null, unsigned long count) {
        struct shmbox_cursor c = { .pos = SHMBOX_CURSOR_START };
        size_t cap = shmbox_slot_size(box);
        unsigned char *buf = malloc(cap > 0 ? cap : 1);
        PeekReport rep = {};
        uint64_t start;
        unsigned long printed = 0;
        struct shmbox_stat st;
        int status = EXIT_SUCCESS, r;

        if (!buf) {
                ctl_log_error("out of memory");
                return EXIT_FAILURE;
        }
        /* where the snapshot starts, so that it ends a ring's worth of positions later */
        r = shmbox_stat(box, &st);
        if (r < 0) {
                ctl_log_error("%s: %s", name, shmbox_strerror(r));
                free(buf);
                return EXIT_FAILURE;
        }
        c.pos = start = st.head;
        while (!peek_stop && (count == 0 || printed < count)) {
                ssize_t len = shmbox_peek_at(box, &c, buf, cap, follow ? SHMBOX_PEEK_FOLLOW : 0);

                if (len == -EAGAIN) {
                        peek_report(name, &c, &rep, !follow);
                        if (peek_flush() < 0) {
                                status = EXIT_FAILURE;
                                break;
                        }
                        if (!follow)
                                break;
                        nanosleep(&(struct timespec){ .tv_nsec = PEEK_POLL_MS * 1000000L }, NULL);
                        continue;
                }
                if (len < 0) {
                        if (len == -EACCES)
                                ctl_log_error("%s: %s: peek needs the right to receive (r)", name,
                                              shmbox_strerror((int)len));
                        else
                                ctl_log_error("%s: %s", name, shmbox_strerror((int)len));
                        status = EXIT_FAILURE;
                        break;
                }
                if (json) {
                        if (ctl_print_message_json(buf, (size_t)len) < 0) {
                                status = EXIT_FAILURE;
                                break;
                        }
                } else if (null) {
                        fwrite(buf, 1, (size_t)len, stdout);
                        fputc('\0', stdout);
                } else {
                        ctl_write_escaped(stdout, buf, (size_t)len);
                        fputc('\n', stdout);
                }
                printed++;
                if (follow) {
                        peek_report(name, &c, &rep, false);
                        if (peek_flush() < 0) {
                                status = EXIT_FAILURE;
                                break;
                        }
                } else if (c.pos - start >= st.slots)
                        break; /* a ring's worth: the snapshot ends even if senders go on */
        }
        if (status == EXIT_SUCCESS) {
                peek_report(name, &c, &rep, true);
                if (peek_flush() < 0)
                        status = EXIT_FAILURE;
        }
        free(buf);
        return status;
}

int ctl_peek(const char *socket, int argc, char **argv) {
        static const struct option options[] = {
                { "follow", no_argument, NULL, 'f' }, { "count", required_argument, NULL, 'n' },
                { "json", no_argument, NULL, 'j' },   { "null", no_argument, NULL, '0' },
                { "help", no_argument, NULL, 'h' },   {},
        };
        bool follow = false, json = false, null = false;
        unsigned long count = 0;
        shmbox_client *client = NULL;
        shmbox *box = NULL;
        const char *name;
        int r, opt, status;

        /* getopt_long() from the command word on; its own messages are replaced by ours */
        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc + 1, argv - 1, ":fn:h", options, NULL)) != -1) {
                char *end;

                switch (opt) {
                case 'f': follow = true; break;
                case 'j': json = true; break;
                case '0': null = true; break;
                case 'n':
                        errno = 0;
                        count = isdigit((unsigned char)optarg[0]) ? strtoul(optarg, &end, 10) : 0;
                        if (count < 1 || count > UINT_MAX || errno || *end)
                                return ctl_usage_error("peek", "--count: invalid value '%s' (expected 1 to 4294967295)",
                                                       optarg);
                        break;
                case 'h':
                        printf("Usage: shmboxctl [--socket PATH] %s\n\n%s", CTL_PEEK_SYNOPSIS, CTL_PEEK_HELP);
                        return peek_flush() < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
                case ':': return ctl_usage_error("peek", "option '%s' needs a value", argv[optind - 2]);
                default: return ctl_usage_error("peek", "unknown option '%s'", argv[optind - 2]);
                }
        }
        optind--; /* back to indexes of argv */
        if (optind >= argc)
                return ctl_usage_error("peek", "missing NAME");
        if (optind + 1 < argc)
                return ctl_usage_error("peek", "unexpected argument '%s'", argv[optind + 1]);
        name = argv[optind];
        if (!peek_name_valid(name))
                return ctl_usage_error("peek",
                                       "invalid mailbox name '%s' (1 to 64 of A-Z a-z 0-9 . _ -, not starting "
                                       "with '.')",
                                       name);
        if (json && null)
                return ctl_usage_error("peek", "--json and --null exclude each other");

        r = shmbox_connect(socket, &client);
        if (r < 0) {
                ctl_log_error("cannot connect to %s: %s",
                              socket                                                  ? socket
                              : getenv("SHMBOX_SOCKET") && getenv("SHMBOX_SOCKET")[0] ? getenv("SHMBOX_SOCKET")
                                                                                      : SHMBOX_DEFAULT_SOCKET,
                              shmbox_strerror(r));
                return EXIT_FAILURE;
        }
        r = shmbox_attach(client, name, &box);
        if (r < 0) {
                const char *why = shmbox_last_error(client);

                if (why[0])
                        ctl_log_error("%s: %s: %s", name, shmbox_strerror(r), why);
                else
                        ctl_log_error("%s: %s", name, shmbox_strerror(r));
                shmbox_disconnect(client);
                return EXIT_FAILURE;
        }

        if (follow) {
                struct sigaction sa = { .sa_handler = peek_on_signal }; /* no SA_RESTART */

                sigemptyset(&sa.sa_mask);
                sigaction(SIGINT, &sa, NULL);
                sigaction(SIGTERM, &sa, NULL);
        }
        status = peek_run(box, name, follow, json, null, count);
        shmbox_detach(box);
        shmbox_disconnect(client);
        return status;
}
