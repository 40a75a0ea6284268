/* SPDX-License-Identifier: MIT */
/* shmbox-bridge.c — carries shmbox mailboxes to NATS JetStream and back, so that services on
 * several hosts exchange messages with the same guarantees as on one (shmbox-bridge(1)).
 *
 * An ordinary client of libshmbox: of shmbox it includes only <shmbox.h> (and the logging it
 * shares with shmboxd, log/log.h, built alone as liblog.la), and shmboxd neither knows nor
 * cares that the receiver of an outbound mailbox, or the sender into an inbound one, forwards
 * to a network. The main thread reads the config file, opens one NATS connection, starts one
 * worker thread per mailbox (outbound.c, inbound.c), then waits for signals while it rewrites
 * the status file (and, with --metrics FILE, the figures for Prometheus) twice a second. On SIGTERM/SIGINT the workers stop taking new messages, let
 * the acks on their way arrive for up to 2 s, and detach; whatever was not acked is given back
 * (to the mailbox by the daemon, to the consumer by NATS) for the next run. On SIGHUP the
 * main thread reads the file again and stops, starts or restarts just the mailboxes that
 * changed, the same way (bridge_reload()).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/link.h"
#include "bridge/settings.h"
#include "bridge/status.h"
#include "bridge/util.h"
#include "bridge/worker.h"
#include "client/shmbox.h"
#include "log/log.h"

static const char *arg_config = SETTINGS_DEFAULT_PATH;
static const char *arg_status_file;  /* --status-file: overrides the config file's */
static const char *arg_metrics_file; /* --metrics: the Prometheus text file, none by default */
static bool arg_status;
static int arg_log_level = -1;

static void help(void) {
        printf("Usage: shmbox-bridge [OPTION...]\n"
               "Carry shmbox mailboxes to NATS JetStream subjects and back (see shmbox-bridge(1)).\n"
               "Runs in the foreground; stop it with SIGTERM or SIGINT, reload the configuration\n"
               "with SIGHUP.\n\n"
               "  --config PATH        the configuration file (default %s)\n"
               "  --status             print the running bridge's status and exit: 0 running and\n"
               "                       connected, 1 not running, 3 running but not connected\n"
               "  --status-file PATH   where the status is written (default: the config file's\n"
               "                       status-file, else %s)\n"
               "  --metrics FILE       also write the figures to FILE in the Prometheus text\n"
               "                       format, twice a second (for node exporter's textfile\n"
               "                       collector: a name ending in .prom)\n"
               "  --log-level LEVEL    err, warning, notice, info (default) or debug\n"
               "  -h, --help           show this help and exit\n"
               "  --version            show the version and exit\n",
               SETTINGS_DEFAULT_PATH, SETTINGS_DEFAULT_STATUS);
}

/* Return: 1 to run; 0 to exit 0 (help, version); -EINVAL after a usage error was printed. */
static int parse_argv(int argc, char **argv) {
        enum { ARG_CONFIG = 0x100, ARG_STATUS, ARG_STATUS_FILE, ARG_METRICS, ARG_LOG_LEVEL, ARG_VERSION };
        static const struct option options[] = { { "config", required_argument, NULL, ARG_CONFIG },
                                                 { "status", no_argument, NULL, ARG_STATUS },
                                                 { "status-file", required_argument, NULL, ARG_STATUS_FILE },
                                                 { "metrics", required_argument, NULL, ARG_METRICS },
                                                 { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                                                 { "help", no_argument, NULL, 'h' },
                                                 { "version", no_argument, NULL, ARG_VERSION },
                                                 {} };
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_CONFIG: arg_config = optarg; break;
                case ARG_STATUS: arg_status = true; break;
                case ARG_STATUS_FILE: arg_status_file = optarg; break;
                case ARG_METRICS:
                        if (!optarg[0] || strlen(optarg) > 400) {
                                fprintf(stderr, "shmbox-bridge: --metrics: invalid path \"%s\"\n", optarg);
                                return -EINVAL;
                        }
                        arg_metrics_file = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        r = log_parse_level(optarg);
                        if (r < 0) {
                                fprintf(stderr, "shmbox-bridge: invalid log level \"%s\"\n", optarg);
                                return -EINVAL;
                        }
                        arg_log_level = r;
                        break;
                case 'h': help(); return 0;
                case ARG_VERSION:
                        printf("shmbox-bridge %s (libshmbox %s, libnats %s)\n", PACKAGE_VERSION, shmbox_version(),
                               nats_GetVersion());
                        return 0;
                default: fprintf(stderr, "Try 'shmbox-bridge --help'.\n"); return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "shmbox-bridge: unexpected argument \"%s\"\nTry 'shmbox-bridge --help'.\n",
                        argv[optind]);
                return -EINVAL;
        }
        return 1;
}

/* --status: print the status file of the running bridge. */
static int run_status(void) {
        _cleanup_(settings_freep) Settings *s = NULL;
        const char *path = arg_status_file;

        if (!path) {
                /* only the status-file key is needed; a config that does not parse says why */
                if (settings_load(arg_config, &s) < 0)
                        return 1;
                path = s->status_file;
        }
        return status_print(path, stdout);
}

typedef struct Bridge {
        Settings *settings;
        Link *link;
        Worker **workers; /* [n]: one per [mailbox] of settings, in its order */
        StatusMailbox *status;
        size_t n;
        Link **retired; /* [n_retired]: connections a reload replaced, closed; freed at the end */
        size_t n_retired;
        bool status_failed;  /* logged once */
        bool metrics_failed; /* logged once */
} Bridge;

static void bridge_write_status(Bridge *b) {
        char server[256], err[STATUS_ERROR_MAX];
        StatusBridge sb;
        int r;

        link_status(b->link, &sb, server, sizeof(server), err, sizeof(err));
        r = status_write(b->settings->status_file, &sb, b->status, b->n);
        if (r < 0 && !b->status_failed) {
                log_errno(LOG_WARNING, r, "cannot write the status file %s (shmbox-bridge --status will not work)",
                          b->settings->status_file);
                b->status_failed = true;
        } else if (r >= 0) {
                b->status_failed = false;
        }
        if (!arg_metrics_file)
                return;
        r = metrics_write(arg_metrics_file, &sb, b->status, b->n);
        if (r < 0 && !b->metrics_failed) {
                log_errno(LOG_WARNING, r, "cannot write the metrics file %s", arg_metrics_file);
                b->metrics_failed = true;
        } else if (r >= 0) {
                b->metrics_failed = false;
        }
}

/* Stop and free everything, in the reverse order of bridge_run(). */
static void bridge_done(Bridge *b) {
        for (size_t i = 0; i < b->n; i++) /* all at once: their 2 s for the last acks overlap */
                worker_stop(b->workers[i]);
        for (size_t i = 0; i < b->n; i++)
                worker_join(b->workers[i]);
        log_debug("workers stopped");
        if (b->link)
                bridge_write_status(b); /* the final figures, for a look after the stop */
        link_close(b->link);
        log_debug("NATS connection closed");
        /* libnats' threads may still be in a handler of the link or of a worker (an ack):
         * let them finish before freeing what the handlers use */
        nats_CloseAndWait(5000);
        log_debug("libnats closed");
        for (size_t i = 0; i < b->n; i++)
                worker_free(b->workers[i]); /* before the links: it defers to its link */
        free(b->workers);
        free(b->status);
        b->link = link_free(b->link);
        for (size_t i = 0; i < b->n_retired; i++)
                link_free(b->retired[i]);
        free(b->retired);
        if (b->settings)
                unlink(b->settings->status_file);
        if (arg_metrics_file)
                unlink(arg_metrics_file); /* a stopped bridge exports nothing, rather than old figures */
        b->settings = settings_free(b->settings);
}

static bool has_mailbox(const Settings *s, const char *name) {
        for (unsigned i = 0; i < s->n_mailboxes; i++)
                if (streq(s->mailboxes[i].name, name))
                        return true;
        return false;
}

/* What a reload cannot change in what exists already in JetStream: say so. */
static void reload_notes(const Settings *old, const Settings *s) {
        for (unsigned i = 0; i < s->n_streams; i++) {
                const StreamSettings *was = settings_stream(old, s->streams[i].name);

                if (was && !settings_stream_equal(was, &s->streams[i]))
                        log_notice("%s: [stream %s] changed, which applies only if the bridge has to create the "
                                   "stream: an existing stream is never changed (use the nats CLI)",
                                   arg_config, s->streams[i].name);
        }
        for (unsigned i = 0; i < s->n_mailboxes; i++) {
                const MailboxSettings *m = &s->mailboxes[i];

                for (unsigned j = 0; j < old->n_mailboxes; j++) {
                        const MailboxSettings *was = &old->mailboxes[j];

                        if (streq(was->name, m->name) && m->direction == DIRECTION_INBOUND &&
                            was->direction == DIRECTION_INBOUND && streq(was->durable, m->durable) &&
                            (was->ack_wait_ms != m->ack_wait_ms || !streq(was->subject, m->subject)))
                                log_notice("%s: [mailbox %s] subject or ack-wait-ms changed, which applies only if "
                                           "the bridge has to create the consumer %s: an existing consumer is never "
                                           "changed (use the nats CLI, or a new durable)",
                                           arg_config, m->name, m->durable);
                }
        }
}

/*
 * bridge_reload() - SIGHUP: read the config file again and apply what changed
 *
 * All or nothing. A file that does not load (settings_load() logs the error and its line), or
 * that changes the host — the first part of every message id, which must not change while a
 * message is in flight — changes nothing: the bridge goes on as it was. Otherwise everything
 * that could fail is done first: the new workers are made (not started) and, if [nats]
 * changed, the new connection opened. Then the routes removed or changed stop, all at once and
 * each as on SIGTERM: no new message, up to 2 s for the acks on their way, release what they
 * ack, detach — the daemon puts the slots peeked and not acked back in place, and whoever
 * receives from the mailbox next (the route restarted, or a later bridge) publishes them with
 * the same ids (outbound); what was fetched and not committed is nak'ed (inbound). Nothing is lost: at-least-once holds across a reload as across a restart.
 * Last the new and changed routes start. A route whose [mailbox] and [stream] sections and
 * socket did not change goes on running, with its counters; a new connection restarts every
 * route, since each holds a JetStream context of the old one.
 */
static void bridge_reload(Bridge *b) {
        _cleanup_(settings_freep) Settings *s = NULL;
        Settings *old = b->settings;
        Link *conn = b->link, **retired;
        Worker **workers = NULL;
        StatusMailbox *status = NULL;
        bool *kept = NULL, *fresh = NULL, reconnect;
        unsigned added = 0, restarted = 0, unchanged = 0, removed = 0;
        int r;

        log_notice("SIGHUP: reading %s again", arg_config);
        if (settings_load(arg_config, &s) < 0)
                goto refuse;
        if (arg_status_file)
                strcpy_bounded(s->status_file, arg_status_file); /* it fitted at start */
        if (s->n_mailboxes == 0) {
                log_error("%s: no [mailbox NAME] section: nothing to bridge", arg_config);
                goto refuse;
        }
        if (!streq(s->host, old->host)) {
                log_error("%s: host changed from %s to %s, which cannot change while the bridge runs (it is the "
                          "first part of every message id); restart the bridge to change it",
                          arg_config, old->host, s->host);
                goto refuse;
        }
        reconnect = !settings_nats_equal(old, s);

        retired = realloc(b->retired, (b->n_retired + 1) * sizeof(Link *));
        if (!retired) {
                log_errno(LOG_ERR, -ENOMEM, "reload");
                goto refuse;
        }
        b->retired = retired;
        workers = calloc(s->n_mailboxes, sizeof(Worker *));
        status = calloc(s->n_mailboxes, sizeof(StatusMailbox));
        fresh = calloc(s->n_mailboxes, sizeof(bool));
        kept = calloc(b->n + 1, sizeof(bool));
        if (!workers || !status || !fresh || !kept) {
                log_errno(LOG_ERR, -ENOMEM, "reload");
                goto refuse;
        }
        if (reconnect) {
                log_notice("%s: [nats] changed: connecting again, then restarting every mailbox on the new "
                           "connection",
                           arg_config);
                if (link_new(s, &conn) < 0)
                        goto refuse;
        }
        for (unsigned j = 0; j < s->n_mailboxes; j++) {
                const MailboxSettings *m = &s->mailboxes[j];
                Route route;
                size_t i;

                route_init(&route, s, m);
                for (i = 0; i < b->n && !streq(b->workers[i]->mailbox->name, m->name); i++)
                        ;
                if (i < b->n && !reconnect && b->workers[i]->started && route_equal(&b->workers[i]->route, &route)) {
                        workers[j] = b->workers[i];
                        kept[i] = true;
                        unchanged++;
                        continue;
                }
                r = worker_new(&route, conn, &workers[j]);
                if (r < 0) {
                        log_errno(LOG_ERR, r, "mailbox %s", m->name);
                        goto undo;
                }
                fresh[j] = true;
                if (i < b->n)
                        restarted++;
                else
                        added++;
        }

        /* From here on nothing fails. */
        for (size_t i = 0; i < b->n; i++)
                if (!kept[i])
                        worker_stop(b->workers[i]);
        for (size_t i = 0; i < b->n; i++) {
                const char *name = b->workers[i]->mailbox->name;

                if (kept[i])
                        continue;
                worker_join(b->workers[i]);
                if (has_mailbox(s, name)) {
                        log_info("mailbox %s: stopped, to start again with the new settings", name);
                } else {
                        log_info("mailbox %s: stopped: no longer in the configuration", name);
                        removed++;
                }
                worker_free(b->workers[i]);
        }
        if (reconnect) {
                link_close(b->link);
                b->retired[b->n_retired++] = b->link; /* libnats may still call into it */
                b->link = conn;
        }
        if (!streq(old->status_file, s->status_file))
                unlink(old->status_file);
        free(b->workers);
        free(b->status);
        b->workers = workers;
        b->status = status;
        b->n = s->n_mailboxes;
        for (size_t j = 0; j < b->n; j++) {
                status[j] = (StatusMailbox){ .settings = workers[j]->mailbox, .stats = &workers[j]->stats };
                if (fresh[j]) {
                        r = worker_start(workers[j]);
                        if (r < 0)
                                log_errno(LOG_ERR, r,
                                          "mailbox %s: cannot start its thread; it stays stopped until "
                                          "the next reload",
                                          workers[j]->mailbox->name);
                }
        }
        reload_notes(old, s);
        b->settings = TAKE_PTR(s);
        settings_free(old);
        log_notice("reloaded %s: %u mailbox(es) unchanged and running on, %u added, %u restarted with new settings, "
                   "%u removed%s",
                   arg_config, unchanged, added, restarted, removed, reconnect ? "; new NATS connection" : "");
        free(kept);
        free(fresh);
        return;

undo:
        for (unsigned j = 0; j < s->n_mailboxes; j++)
                if (fresh[j])
                        worker_free(workers[j]);
        if (conn != b->link) { /* opened for nothing: closed, freed at the end with the others */
                link_close(conn);
                b->retired[b->n_retired++] = conn;
        }
refuse:
        log_error("reload of %s refused: nothing changed; running on as before", arg_config);
        free(workers);
        free(status);
        free(kept);
        free(fresh);
}

static int bridge_run(Bridge *b) {
        Settings *s = b->settings;
        sigset_t mask;
        int r;

        if (s->n_mailboxes == 0) {
                log_error("%s: no [mailbox NAME] section: nothing to bridge", arg_config);
                return -EINVAL;
        }
        /* Every thread (libnats' too, created from here on) inherits this mask: the signals
         * are taken only by sigtimedwait() below. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        if (nats_Open(-1) != NATS_OK) {
                log_error("cannot initialise libnats");
                return -ENOMEM;
        }
        r = link_new(s, &b->link);
        if (r < 0)
                return r;
        b->workers = calloc(s->n_mailboxes, sizeof(Worker *));
        b->status = calloc(s->n_mailboxes, sizeof(StatusMailbox));
        if (!b->workers || !b->status)
                return log_errno(LOG_ERR, -ENOMEM, "start");
        for (unsigned i = 0; i < s->n_mailboxes; i++) {
                Route route;

                route_init(&route, s, &s->mailboxes[i]);
                r = worker_new(&route, b->link, &b->workers[i]);
                if (r < 0)
                        return log_errno(LOG_ERR, r, "mailbox %s", s->mailboxes[i].name);
                b->status[i] = (StatusMailbox){ .settings = b->workers[i]->mailbox, .stats = &b->workers[i]->stats };
                b->n++;
                r = worker_start(b->workers[i]);
                if (r < 0)
                        return log_errno(LOG_ERR, r, "mailbox %s: thread", s->mailboxes[i].name);
        }
        log_info("started: %zu mailbox(es), host %s, status in %s", b->n, s->host, s->status_file);

        for (;;) {
                struct timespec half = { 0, 500 * 1000000L };
                int sig;

                bridge_write_status(b);
                sig = sigtimedwait(&mask, NULL, &half);
                if (sig == SIGTERM || sig == SIGINT) {
                        log_info("stopping on %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
                        break;
                }
                if (sig == SIGHUP)
                        bridge_reload(b);
        }
        return 0;
}

int main(int argc, char **argv) {
        Bridge b = {};
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (arg_log_level >= 0)
                log_max_level = arg_log_level;
        if (arg_status)
                return run_status();

        r = settings_load(arg_config, &b.settings);
        if (r < 0)
                return r == -EINVAL ? 2 : 1;
        if (arg_status_file && !strcpy_bounded(b.settings->status_file, arg_status_file)) {
                log_error("--status-file: path too long");
                settings_free(b.settings);
                return 2;
        }
        r = bridge_run(&b);
        bridge_done(&b);
        log_info("stopped");
        return r < 0 ? 1 : 0;
}
