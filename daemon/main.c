/* SPDX-License-Identifier: MIT */
/* main.c — shmboxd's command line: parse options, start the manager, run until SIGTERM/SIGINT. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/manager.h"
#include "log/log.h"
#include "proto/crash.h"
#include "proto/util.h"

static const char *arg_socket;
static const char *arg_prefix = NAMES_DEFAULT_PREFIX;
static const char *arg_state_dir = MANAGER_DEFAULT_STATE_DIR;
static const char *arg_config = CONFIG_DEFAULT_PATH;
static uint64_t arg_max_mailbox_bytes; /* 0: as the config file says */
static int arg_log_level = -1;         /* -1: as the config file says */

static void help(void) {
        printf("Usage: shmboxd [OPTION...]\n"
               "The shmbox broker: owns named shared-memory mailboxes and repairs them when a peer dies.\n"
               "Runs in the foreground; stop it with SIGTERM or SIGINT (mailboxes and messages stay).\n\n"
               "  --socket PATH            listen on PATH (default: $SHMBOX_SOCKET, else %s)\n"
               "  --prefix NAME            name objects in /dev/shm NAME.* ([A-Za-z0-9_-]{1,32}, default %s)\n"
               "  --state-dir DIR          keep the private policy state in DIR (default %s)\n"
               "  --config PATH            limits and quotas (default %s; missing: defaults)\n"
               "  --max-mailbox-bytes N    refuse mailboxes larger than N bytes (default %llu)\n"
               "  --log-level LEVEL        err, warning, notice, info (default) or debug\n"
               "  -v, --verbose            same as --log-level debug\n"
               "  --list-crash-points      print the names SHMBOX_CRASH_AT accepts and exit\n"
               "  -h, --help               show this help and exit\n"
               "  --version                show the version and exit\n",
               "/run/shmbox/shmboxd.sock", NAMES_DEFAULT_PREFIX, MANAGER_DEFAULT_STATE_DIR, CONFIG_DEFAULT_PATH,
               (unsigned long long)(UINT64_C(1) << 30));
}

static int parse_argv(int argc, char **argv) {
        enum {
                ARG_SOCKET = 0x100,
                ARG_PREFIX,
                ARG_STATE_DIR,
                ARG_CONFIG,
                ARG_MAX_BYTES,
                ARG_LOG_LEVEL,
                ARG_CRASH,
                ARG_VERSION
        };
        static const struct option options[] = { { "socket", required_argument, NULL, ARG_SOCKET },
                                                 { "prefix", required_argument, NULL, ARG_PREFIX },
                                                 { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                                                 { "config", required_argument, NULL, ARG_CONFIG },
                                                 { "max-mailbox-bytes", required_argument, NULL, ARG_MAX_BYTES },
                                                 { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                                                 { "verbose", no_argument, NULL, 'v' },
                                                 { "list-crash-points", no_argument, NULL, ARG_CRASH },
                                                 { "help", no_argument, NULL, 'h' },
                                                 { "version", no_argument, NULL, ARG_VERSION },
                                                 {} };
        int c, r;

        while ((c = getopt_long(argc, argv, "hv", options, NULL)) >= 0) {
                switch (c) {
                case ARG_SOCKET: arg_socket = optarg; break;
                case ARG_PREFIX:
                        if (!names_prefix_valid(optarg)) {
                                fprintf(stderr, "shmboxd: invalid prefix \"%s\": [A-Za-z0-9_-]{1,32}, not \"sem\"\n",
                                        optarg);
                                return -EINVAL;
                        }
                        arg_prefix = optarg;
                        break;
                case ARG_STATE_DIR: arg_state_dir = optarg; break;
                case ARG_CONFIG: arg_config = optarg; break;
                case ARG_MAX_BYTES: {
                        char *end;
                        errno = 0;
                        unsigned long long v = strtoull(optarg, &end, 10);
                        if (errno || end == optarg || *end || v < 4096) {
                                fprintf(stderr, "shmboxd: invalid --max-mailbox-bytes \"%s\"\n", optarg);
                                return -EINVAL;
                        }
                        arg_max_mailbox_bytes = v;
                        break;
                }
                case ARG_LOG_LEVEL:
                        r = log_parse_level(optarg);
                        if (r < 0) {
                                fprintf(stderr, "shmboxd: invalid log level \"%s\"\n", optarg);
                                return -EINVAL;
                        }
                        arg_log_level = r;
                        break;
                case 'v': arg_log_level = LOG_DEBUG; break;
                case ARG_CRASH:
                        for (const char *const *n = crash_point_names; *n; n++)
                                printf("crash %s\n", *n);
                        for (const char *const *n = fault_point_names; *n; n++)
                                printf("fault %s\n", *n);
                        return 0;
                case 'h': help(); return 0;
                case ARG_VERSION: puts("shmboxd " PACKAGE_VERSION); return 0;
                default: fprintf(stderr, "Try 'shmboxd --help'.\n"); return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "shmboxd: unexpected argument \"%s\"\nTry 'shmboxd --help'.\n", argv[optind]);
                return -EINVAL;
        }
        if (!arg_socket) {
                arg_socket = getenv("SHMBOX_SOCKET");
                if (!arg_socket || !*arg_socket)
                        arg_socket = "/run/shmbox/shmboxd.sock";
        }
        return 1;
}

int main(int argc, char **argv) {
        _cleanup_(manager_freep) Manager *m = NULL;
        ManagerConfig config;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        config = (ManagerConfig){
                .socket_path = arg_socket,
                .prefix = arg_prefix,
                .state_dir = arg_state_dir,
                .config_path = arg_config,
                .max_mailbox_bytes = arg_max_mailbox_bytes,
                .log_level = arg_log_level,
        };
        if (arg_log_level >= 0)
                log_max_level = arg_log_level;
        r = manager_new(&config, &m);
        if (r < 0)
                return 1;
        r = manager_run(m);
        log_info("stopped");
        return r < 0 ? 1 : 0;
}
