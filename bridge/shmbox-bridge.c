/* shmbox-bridge.c — carries shmbox mailboxes to NATS JetStream and back, so that services on
 * several hosts exchange messages with the same guarantees as on one (shmbox-bridge(1)).
 *
 * An ordinary client of libshmbox: it includes only <shmbox.h>, and shmboxd neither knows nor
 * cares that the receiver of an outbound mailbox, or the sender into an inbound one, forwards
 * to a network. The main thread reads the config file, opens one NATS connection, starts one
 * worker thread per mailbox (outbound.c, inbound.c), then waits for SIGTERM/SIGINT while it
 * rewrites the status file twice a second. On a signal the workers stop taking new messages,
 * let the acks on their way arrive for up to 2 s, and detach; whatever was not acked is given
 * back (to the mailbox by the daemon, to the consumer by NATS) for the next run.
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
#include "bridge/log.h"
#include "bridge/settings.h"
#include "bridge/status.h"
#include "bridge/util.h"
#include "bridge/worker.h"
#include "client/shmbox.h"

static const char *arg_config = SETTINGS_DEFAULT_PATH;
static const char *arg_status_file; /* --status-file: overrides the config file's */
static bool arg_status;
static int arg_log_level = -1;

static void help(void) {
        printf("Usage: shmbox-bridge [OPTION...]\n"
               "Carry shmbox mailboxes to NATS JetStream subjects and back (see shmbox-bridge(1)).\n"
               "Runs in the foreground; stop it with SIGTERM or SIGINT.\n\n"
               "  --config PATH        the configuration file (default %s)\n"
               "  --status             print the running bridge's status and exit: 0 running and\n"
               "                       connected, 1 not running, 3 running but not connected\n"
               "  --status-file PATH   where the status is written (default: the config file's\n"
               "                       status-file, else %s)\n"
               "  --log-level LEVEL    err, warning, notice, info (default) or debug\n"
               "  -h, --help           show this help and exit\n"
               "  --version            show the version and exit\n",
               SETTINGS_DEFAULT_PATH, SETTINGS_DEFAULT_STATUS);
}

/* Return: 1 to run; 0 to exit 0 (help, version); -EINVAL after a usage error was printed. */
static int parse_argv(int argc, char **argv) {
        enum { ARG_CONFIG = 0x100, ARG_STATUS, ARG_STATUS_FILE, ARG_LOG_LEVEL, ARG_VERSION };
        static const struct option options[] = { { "config", required_argument, NULL, ARG_CONFIG },
                                                 { "status", no_argument, NULL, ARG_STATUS },
                                                 { "status-file", required_argument, NULL, ARG_STATUS_FILE },
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
        Worker **workers;
        StatusMailbox *status;
        size_t n;
        atomic_bool stop;
        bool status_failed; /* logged once */
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
}

/* Stop and free everything, in the reverse order of bridge_run(). */
static void bridge_done(Bridge *b) {
        atomic_store(&b->stop, true);
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
        b->link = link_free(b->link);
        for (size_t i = 0; i < b->n; i++)
                worker_free(b->workers[i]);
        free(b->workers);
        free(b->status);
        if (b->settings)
                unlink(b->settings->status_file);
        b->settings = settings_free(b->settings);
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
                r = worker_new(s, &s->mailboxes[i], b->link, &b->stop, &b->workers[i]);
                if (r < 0)
                        return log_errno(LOG_ERR, r, "mailbox %s", s->mailboxes[i].name);
                b->status[i] = (StatusMailbox){ .settings = &s->mailboxes[i], .stats = &b->workers[i]->stats };
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
                        log_notice("SIGHUP: the configuration is read at start only; restart to change it");
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
