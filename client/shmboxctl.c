/* SPDX-License-Identifier: MIT */
/* shmboxctl.c — the command-line tool for shmboxd mailboxes, built only on <shmbox.h>.
 *
 * The command line: global options (--socket, --help, --version) come before the command; a
 * command's options go anywhere among its arguments, as with every GNU tool (operands and
 * options are sorted apart, in order); "--" ends them, so `send NAME -- -x` sends "-x".
 * "COMMAND --help" prints the command's usage.
 *
 * Messages are bytes. By default one message is one line: recv escapes what would break the
 * line ('\\' -> "\\\\", newline -> "\\n", other bytes below 0x20 and 0x7f -> "\\xHH"), and send
 * takes each line of stdin literally, minus its trailing newline. --null switches both to raw
 * payloads separated by NUL bytes, so any payload round-trips: recv --null | send --null.
 *
 * Errors are one line on stderr, "shmboxctl: NAME: <shmbox_strerror()>", and when the daemon
 * said why it refused, ": <its reason>" (shmbox_last_error()) in place of the library's
 * parenthesized hint, which is only a guess at the cause. Exit status: 0 on
 * success (recv: at least one message received), 1 on a runtime failure or a recv that got no
 * message before its timeout, 2 on a usage error. Nothing is left allocated or attached on any
 * path: owned locals are _cleanup_ variables, and the box is detached before its client goes.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "client/ctl-peek.h"
#include "client/ctl-print.h"
#include "client/ctl-top.h"
#include "client/shmbox.h"
#include "client/ctl-metrics.h"
#include "client/walkthrough.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

#define EXIT_USAGE 2
#define PARSE_HELP 1 /* parse_args(): --help was printed, exit 0 */

/* --socket PATH, or NULL: the library then looks at $SHMBOX_SOCKET and the default. */
static const char *arg_socket;

static void freep(void *p) {
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static void shmbox_disconnectp(shmbox_client **client) {
        shmbox_disconnect(*client);
}

static void shmbox_detachp(shmbox **box) {
        shmbox_detach(*box);
}

static void json_object_putp(json_object **obj) {
        json_object_put(*obj); /* NULL-safe */
}

static bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

/* One option of a command: either it takes a value (@value) or it is a flag (@flag). */
typedef struct Option {
        const char *name; /* without the leading "--" */
        const char **value;
        bool *flag;
} Option;

typedef struct Command Command;
struct Command {
        const char *name;
        const char *synopsis; /* what follows "shmboxctl [--socket PATH] " */
        const char *help;     /* description and options */
        int (*run)(const Command *cmd, int argc, char **argv);
};

static void log_error(const char *fmt, ...) _printf_(1, 2);
static void log_error(const char *fmt, ...) {
        va_list ap;

        fputs("shmboxctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

/*
 * usage_error() - report a usage error of @cmd (NULL: of the global command line) in one line
 *
 * Return: -EINVAL, so that callers can `return usage_error(...)`.
 */
static int usage_error(const Command *cmd, const char *fmt, ...) _printf_(2, 3);
static int usage_error(const Command *cmd, const char *fmt, ...) {
        va_list ap;

        fputs("shmboxctl: ", stderr);
        if (cmd)
                fprintf(stderr, "%s: ", cmd->name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " (see 'shmboxctl %s%s--help')\n", cmd ? cmd->name : "", cmd ? " " : "");
        return -EINVAL;
}

/* The exit status for a negative errno of our own helpers: a usage error or a failure. */
static int exit_status(int r) {
        return r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE;
}

/*
 * parse_args() - sort a command's arguments into options and operands
 * @cmd:        the command, for messages and --help
 * @argc, @argv: the arguments after the command word
 * @options:    the command's options, ended by an entry whose name is NULL
 * @ret_operands: the operands in order, a malloc'ed array of pointers into @argv
 * @ret_n:      their number
 *
 * Options are long options, "--name VALUE" or "--name=VALUE"; "-h" is "--help". They may come
 * anywhere, before, between or after the operands (GNU getopt_long's permutation; its own
 * messages and abbreviations are not wanted here, so the few lines are written out). "--"
 * ends the options; "-" alone is an operand. A repeated option: the last one counts.
 *
 * Return: 0; PARSE_HELP if the help was printed; -EINVAL after reporting a usage error;
 *         -ENOMEM after reporting it. The outputs are written only on 0.
 */
static int parse_args(const Command *cmd, int argc, char **argv, const Option *options, char ***ret_operands,
                      size_t *ret_n) {
        _cleanup_free_ char **operands = NULL;
        bool options_done = false;
        size_t n = 0;

        operands = calloc((size_t)argc + 1, sizeof(char *));
        if (!operands) {
                log_error("out of memory");
                return -ENOMEM;
        }

        for (int i = 0; i < argc; i++) {
                const char *a = argv[i];
                const Option *o;
                size_t len;

                if (options_done || a[0] != '-' || a[1] == '\0') {
                        operands[n++] = argv[i];
                        continue;
                }
                if (streq(a, "--")) {
                        options_done = true;
                        continue;
                }
                if (streq(a, "--help") || streq(a, "-h")) {
                        printf("Usage: shmboxctl [--socket PATH] %s\n\n%s", cmd->synopsis, cmd->help);
                        return PARSE_HELP;
                }
                if (a[1] != '-')
                        return usage_error(cmd, "unknown option '%s'", a);

                len = strcspn(a + 2, "=");
                for (o = options; o->name; o++)
                        if (strlen(o->name) == len && strncmp(o->name, a + 2, len) == 0)
                                break;
                if (!o->name) {
                        if ((len == 6 && strncmp(a + 2, "socket", 6) == 0) ||
                            (len == 7 && strncmp(a + 2, "version", 7) == 0))
                                return usage_error(cmd,
                                                   "unknown option '%.*s'; global options go "
                                                   "before the command",
                                                   (int)len + 2, a);
                        return usage_error(cmd, "unknown option '%.*s'", (int)len + 2, a);
                }

                if (!o->value) {
                        if (a[2 + len] == '=')
                                return usage_error(cmd, "option '--%s' takes no value", o->name);
                        *o->flag = true;
                } else if (a[2 + len] == '=') {
                        *o->value = a + 3 + len;
                } else {
                        if (i + 1 >= argc)
                                return usage_error(cmd, "option '--%s' needs a value", o->name);
                        *o->value = argv[++i];
                }
        }

        *ret_operands = operands;
        operands = NULL;
        *ret_n = n;
        return 0;
}

/*
 * parse_ulong() - parse @s strictly: digits only in @base, the whole string, @min to @max
 *
 * strtoul() alone would accept blanks, a sign (negating "-1" to ULONG_MAX) and trailing junk.
 *
 * Return: 0 and *@ret; -EINVAL.
 */
static int parse_ulong(const char *s, int base, unsigned long min, unsigned long max, unsigned long *ret) {
        unsigned long v;
        char *end;

        if (!isdigit((unsigned char)s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, base);
        if (errno != 0 || *end != '\0' || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* A decimal option value, @min to @max. Return: 0 and *@ret; -EINVAL after reporting it. */
static int parse_number(const Command *cmd, const char *option, const char *s, unsigned long min, unsigned long max,
                        unsigned long *ret) {
        if (parse_ulong(s, 10, min, max, ret) < 0)
                return usage_error(cmd, "--%s: invalid value '%s' (expected %lu to %lu)", option, s, min, max);
        return 0;
}

/* --timeout MS: 0 never waits, otherwise milliseconds; without it, -1 (wait forever). */
static int parse_timeout(const Command *cmd, const char *s, int *ret) {
        unsigned long v;
        int r;

        if (!s) {
                *ret = -1;
                return 0;
        }
        r = parse_number(cmd, "timeout", s, 0, INT_MAX, &v);
        if (r < 0)
                return r;
        *ret = (int)v;
        return 0;
}

/*
 * name_operand() - the single NAME operand of a command that takes exactly one
 *
 * The name rule is the one of <shmbox.h>: [A-Za-z0-9._-]{1,SHMBOX_NAME_MAX}, not starting with
 * '.'. Checking it here makes a bad name a usage error (2), not a failure of the daemon (1).
 *
 * Return: 0 and *@ret; -EINVAL after reporting the usage error.
 */
static int name_operand(const Command *cmd, char **operands, size_t n, size_t max, const char **ret) {
        const char *name;
        size_t len;

        if (n == 0)
                return usage_error(cmd, "missing NAME");
        if (n > max)
                return usage_error(cmd, "unexpected argument '%s'", operands[max]);

        name = operands[0];
        len = strlen(name);
        if (len == 0 || len > SHMBOX_NAME_MAX || name[0] == '.' ||
            strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != len)
                return usage_error(cmd,
                                   "invalid mailbox name '%s' (1 to %d of A-Z a-z 0-9 . _ -, not "
                                   "starting with '.')",
                                   name, SHMBOX_NAME_MAX);
        *ret = name;
        return 0;
}

/*
 * command_args() - what every command does first: its options (and --help), then its operands:
 * with @ret_name NULL none are allowed; else NAME comes first, and at most @max operands in all.
 *
 * Return: -1 to go on; else the exit status the command returns at once.
 */
static int command_args(const Command *cmd, int argc, char **argv, const Option *options, size_t max,
                        char ***ret_operands, size_t *ret_n, const char **ret_name) {
        int r = parse_args(cmd, argc, argv, options, ret_operands, ret_n);

        if (r != 0)
                return r == PARSE_HELP ? EXIT_SUCCESS : exit_status(r);
        if (!ret_name) {
                if (*ret_n > 0)
                        return exit_status(usage_error(cmd, "unexpected argument '%s'", (*ret_operands)[0]));
                return -1;
        }
        r = name_operand(cmd, *ret_operands, *ret_n, max, ret_name);
        return r < 0 ? exit_status(r) : -1;
}

/*
 * log_refusal() - report the failed control call of @client on @what: "WHAT: MESSAGE", where
 * MESSAGE is the daemon's reason after shmbox_strerror()'s text without its "(hint)", or that
 * text whole when the daemon gave no reason
 */
static void log_refusal(const shmbox_client *client, const char *what, int r) {
        const char *text = shmbox_strerror(r), *why = shmbox_last_error(client), *hint;

        if (!why[0]) {
                log_error("%s: %s", what, text);
                return;
        }
        hint = strstr(text, " (");
        log_error("%s: %.*s: %s", what, hint ? (int)(hint - text) : (int)strlen(text), text, why);
}

/* The socket the library will use, for messages only: it repeats shmbox_connect()'s lookup. */
static const char *socket_path(void) {
        const char *e;

        if (arg_socket)
                return arg_socket;
        e = getenv("SHMBOX_SOCKET");
        if (e && e[0])
                return e;
        return SHMBOX_DEFAULT_SOCKET;
}

/* Connect, or report "cannot connect to PATH: ..." and return the negative errno. */
static int connect_client(shmbox_client **ret) {
        int r;

        r = shmbox_connect(arg_socket, ret);
        if (r < 0)
                log_error("cannot connect to %s: %s", socket_path(), shmbox_strerror(r));
        return r;
}

/* Connect and attach @name, reporting failures; the caller owns both outputs on success. */
static int connect_and_attach(const char *name, shmbox_client **ret_client, shmbox **ret_box) {
        _cleanup_(shmbox_disconnectp) shmbox_client *client = NULL;
        shmbox *box = NULL;
        int r;

        r = connect_client(&client);
        if (r < 0)
                return r;
        r = shmbox_attach(client, name, &box);
        if (r < 0) {
                log_refusal(client, name, r);
                return r;
        }
        *ret_box = box;
        *ret_client = client;
        client = NULL;
        return 0;
}

/* Flush stdout and report a write error (a full disk, a closed pipe with SIGPIPE ignored). */
static int flush_stdout(void) {
        if (fflush(stdout) == 0 && !ferror(stdout))
                return 0;
        log_error("cannot write to stdout: %s", strerror(errno));
        return -EIO;
}

/* --group: a group name, or a number. */
static int parse_group(const Command *cmd, const char *s, uint32_t *ret) {
        struct group *g = getgrnam(s);
        unsigned long v;

        if (g) {
                *ret = (uint32_t)g->gr_gid;
                return 0;
        }
        if (parse_ulong(s, 10, 0, UINT32_MAX - 1, &v) < 0)
                return usage_error(cmd, "--group: no such group '%s'", s);
        *ret = (uint32_t)v;
        return 0;
}

/* A mailbox's kind, as list and info show it: queue, broadcast (senders wait for the slowest
 * subscriber) or overwrite (a broadcast whose senders never wait). */
static const char *kind_name(uint32_t flags) {
        if (flags & SHMBOX_INFO_OVERWRITE)
                return "overwrite";
        return flags & SHMBOX_INFO_BROADCAST ? "broadcast" : "queue";
}

static int cmd_create(const Command *cmd, int argc, char **argv) {
        const char *slots_s = NULL, *slot_size_s = NULL, *mode_s = NULL, *group_s = NULL, *name;
        bool ephemeral = false, broadcast = false, overwrite = false;
        const Option options[] = {
                { "slots", &slots_s, NULL },       { "slot-size", &slot_size_s, NULL },
                { "mode", &mode_s, NULL },         { "group", &group_s, NULL },
                { "ephemeral", NULL, &ephemeral }, { "broadcast", NULL, &broadcast },
                { "overwrite", NULL, &overwrite }, {},
        };
        _cleanup_(shmbox_disconnectp) shmbox_client *client = NULL;
        _cleanup_free_ char **operands = NULL;
        struct shmbox_config config = {};
        unsigned long v;
        size_t n;
        int r;

        r = command_args(cmd, argc, argv, options, 1, &operands, &n, &name);
        if (r >= 0)
                return r;
        /* An ephemeral mailbox lives as long as the connection that created it, and ours ends
         * when this command returns: it would be destroyed before anyone could use it. Refused
         * rather than done uselessly; programs create them with shmbox_create(). */
        if (ephemeral)
                return exit_status(usage_error(cmd,
                                               "--ephemeral: an ephemeral mailbox is destroyed when the connection "
                                               "that created it ends, and shmboxctl's ends when it exits; create it "
                                               "from the program that uses it (shmbox_create() with "
                                               "SHMBOX_CONFIG_EPHEMERAL)"));

        if (overwrite && !broadcast)
                return exit_status(usage_error(cmd, "--overwrite is a policy of broadcast mailboxes: add --broadcast"));
        if (broadcast)
                config.flags |= SHMBOX_CONFIG_BROADCAST;
        if (overwrite)
                config.flags |= SHMBOX_CONFIG_OVERWRITE;

        /* 0 in the config means "the default", so 0 is refused here rather than reinterpreted. */
        if (slots_s) {
                r = parse_number(cmd, "slots", slots_s, 1, SHMBOX_SLOTS_MAX, &v);
                if (r < 0)
                        return exit_status(r);
                config.slots = (uint32_t)v;
        }
        if (slot_size_s) {
                r = parse_number(cmd, "slot-size", slot_size_s, 1, SHMBOX_SLOT_SIZE_MAX, &v);
                if (r < 0)
                        return exit_status(r);
                config.slot_size = (uint32_t)v;
        }
        if (mode_s) {
                /* Octal, rw bits only: x and special bits mean nothing for a mailbox. */
                if (parse_ulong(mode_s, 8, 1, 0666, &v) < 0 || (v & ~0666UL))
                        return exit_status(usage_error(cmd,
                                                       "--mode: invalid mode '%s' (octal, read "
                                                       "and write bits only, 1 to 0666, e.g. 0660)",
                                                       mode_s));
                config.mode = (uint32_t)v;
        }
        if (group_s) {
                r = parse_group(cmd, group_s, &config.gid);
                if (r < 0)
                        return exit_status(r);
                config.flags |= SHMBOX_CONFIG_GID;
        }

        r = connect_client(&client);
        if (r < 0)
                return EXIT_FAILURE;
        r = shmbox_create(client, name, &config);
        if (r < 0) {
                log_refusal(client, name, r);
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

static int cmd_chmod(const Command *cmd, int argc, char **argv) {
        const char *group_s = NULL, *name;
        const Option options[] = { { "group", &group_s, NULL }, {} };
        _cleanup_(shmbox_disconnectp) shmbox_client *client = NULL;
        _cleanup_free_ char **operands = NULL;
        uint32_t mode = SHMBOX_KEEP, gid = SHMBOX_KEEP;
        unsigned long v;
        size_t n;
        int r;

        r = command_args(cmd, argc, argv, options, 2, &operands, &n, &name);
        if (r >= 0)
                return r;
        if (n == 2) {
                if (parse_ulong(operands[1], 8, 0, 0666, &v) < 0 || (v & ~0666UL))
                        return exit_status(usage_error(cmd,
                                                       "invalid mode '%s' (octal, read and write bits only, "
                                                       "0 to 0666)",
                                                       operands[1]));
                mode = (uint32_t)v;
        }
        if (group_s) {
                r = parse_group(cmd, group_s, &gid);
                if (r < 0)
                        return exit_status(r);
        }
        if (mode == SHMBOX_KEEP && gid == SHMBOX_KEEP)
                return exit_status(usage_error(cmd, "missing MODE or --group"));

        r = connect_client(&client);
        if (r < 0)
                return EXIT_FAILURE;
        r = shmbox_chmod(client, name, mode, gid);
        if (r < 0) {
                log_refusal(client, name, r);
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

static int cmd_reload(const Command *cmd, int argc, char **argv) {
        const Option options[] = { {} };
        _cleanup_(shmbox_disconnectp) shmbox_client *client = NULL;
        _cleanup_free_ char **operands = NULL;
        size_t n;
        int r;

        r = command_args(cmd, argc, argv, options, 0, &operands, &n, NULL);
        if (r >= 0)
                return r;
        r = connect_client(&client);
        if (r < 0)
                return EXIT_FAILURE;
        r = shmbox_reload(client);
        if (r == -EINVAL && !shmbox_last_error(client)[0]) {
                /* a daemon that gives no reason */
                log_error("reload: %s (the config file does not parse: see the daemon's log)", shmbox_strerror(r));
                return EXIT_FAILURE;
        }
        if (r < 0) {
                log_refusal(client, "reload", r);
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

static int cmd_destroy(const Command *cmd, int argc, char **argv) {
        const Option options[] = { {} };
        _cleanup_(shmbox_disconnectp) shmbox_client *client = NULL;
        _cleanup_free_ char **operands = NULL;
        const char *name;
        size_t n;
        int r;

        r = command_args(cmd, argc, argv, options, 1, &operands, &n, &name);
        if (r >= 0)
                return r;

        r = connect_client(&client);
        if (r < 0)
                return EXIT_FAILURE;
        r = shmbox_destroy(client, name);
        if (r < 0) {
                log_refusal(client, name, r);
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

/*
 * send_one() - send message number @index of @len bytes, reporting failures
 * @what: how the user counts the messages, "line" (stdin by lines) or "message"
 *
 * A message longer than the slot size is refused here with its size, clearer than -EMSGSIZE.
 *
 * Return: 0; a negative errno after reporting it.
 */
static int send_one(shmbox *box, const char *name, const char *what, unsigned long index, const void *data, size_t len,
                    int timeout) {
        size_t slot_size = shmbox_slot_size(box);
        int r;

        if (len > slot_size) {
                log_error("%s: %s %lu: message of %zu bytes exceeds the slot size %zu", name, what, index, len,
                          slot_size);
                return -EMSGSIZE;
        }
        r = shmbox_send(box, data, len, timeout);
        if (r == -EAGAIN)
                log_error("%s: %s %lu: mailbox full", name, what, index);
        else if (r < 0)
                log_error("%s: %s %lu: %s", name, what, index, shmbox_strerror(r));
        return r;
}

/*
 * send_stdin() - send each record of stdin as one message, in order, stopping at the first error
 * @delim: '\n' (lines) or '\0' (--null); one trailing @delim is not part of the message
 *
 * The last record needs no delimiter; an empty record ("\n\n") is an empty message.
 *
 * Return: 0; a negative errno after reporting it (the messages before it were sent).
 */
static int send_stdin(shmbox *box, const char *name, int delim, int timeout) {
        const char *what = delim == '\n' ? "line" : "message";
        _cleanup_free_ char *line = NULL;
        unsigned long index = 0;
        size_t cap = 0;
        ssize_t len;
        int r;

        while ((len = getdelim(&line, &cap, delim, stdin)) >= 0) {
                index++;
                if (len > 0 && line[len - 1] == (char)delim)
                        len--;
                r = send_one(box, name, what, index, line, (size_t)len, timeout);
                if (r < 0)
                        return r;
        }
        if (ferror(stdin)) {
                log_error("cannot read stdin: %s", strerror(errno));
                return -EIO;
        }
        return 0;
}

static int cmd_send(const Command *cmd, int argc, char **argv) {
        const char *timeout_s = NULL, *name;
        bool null = false;
        const Option options[] = {
                { "timeout", &timeout_s, NULL },
                { "null", NULL, &null },
                {},
        };
        _cleanup_(shmbox_disconnectp) shmbox_client *client = NULL;
        _cleanup_(shmbox_detachp) shmbox *box = NULL;
        _cleanup_free_ char **operands = NULL;
        size_t n;
        int r, timeout;

        r = command_args(cmd, argc, argv, options, SIZE_MAX, &operands, &n, &name);
        if (r >= 0)
                return r;
        r = parse_timeout(cmd, timeout_s, &timeout);
        if (r < 0)
                return exit_status(r);

        r = connect_and_attach(name, &client, &box);
        if (r < 0)
                return EXIT_FAILURE;

        if (n == 1)
                return send_stdin(box, name, null ? '\0' : '\n', timeout) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        for (size_t i = 1; i < n; i++) {
                r = send_one(box, name, "message", (unsigned long)i, operands[i], strlen(operands[i]), timeout);
                if (r < 0)
                        return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

static int cmd_recv(const Command *cmd, int argc, char **argv) {
        const char *count_s = NULL, *timeout_s = NULL, *name;
        bool null = false, json = false;
        const Option options[] = {
                { "count", &count_s, NULL },
                { "timeout", &timeout_s, NULL },
                { "null", NULL, &null },
                { "json", NULL, &json },
                {},
        };
        _cleanup_(shmbox_disconnectp) shmbox_client *client = NULL;
        _cleanup_(shmbox_detachp) shmbox *box = NULL;
        _cleanup_free_ char **operands = NULL;
        _cleanup_free_ unsigned char *buf = NULL;
        unsigned long count = 1;
        size_t n, cap;
        int r, timeout;

        r = command_args(cmd, argc, argv, options, 1, &operands, &n, &name);
        if (r >= 0)
                return r;
        if (count_s) {
                r = parse_number(cmd, "count", count_s, 1, UINT_MAX, &count);
                if (r < 0)
                        return exit_status(r);
        }
        r = parse_timeout(cmd, timeout_s, &timeout);
        if (r < 0)
                return exit_status(r);
        if (json && null)
                return exit_status(usage_error(cmd, "--json and --null exclude each other"));

        r = connect_and_attach(name, &client, &box);
        if (r < 0)
                return EXIT_FAILURE;

        /* A slot holds the largest message, so a receive never fails with -EMSGSIZE. */
        cap = shmbox_slot_size(box);
        buf = malloc(cap > 0 ? cap : 1);
        if (!buf) {
                log_error("out of memory");
                return EXIT_FAILURE;
        }

        for (unsigned long i = 0; i < count; i++) {
                ssize_t len = shmbox_recv(box, buf, cap, timeout);

                if (len < 0) {
                        /* Some messages, then a timeout: what there was has been delivered. */
                        if (i > 0 && (len == -ETIMEDOUT || len == -EAGAIN))
                                break;
                        if (len == -EAGAIN)
                                log_error("%s: no message", name);
                        else if (len == -ETIMEDOUT)
                                log_error("%s: no message within %d ms", name, timeout);
                        else
                                log_error("%s: %s", name, shmbox_strerror((int)len));
                        return EXIT_FAILURE;
                }

                if (json) {
                        if (ctl_print_message_json(buf, (size_t)len) < 0)
                                return EXIT_FAILURE;
                } else if (null) {
                        fwrite(buf, 1, (size_t)len, stdout);
                        fputc('\0', stdout);
                } else {
                        ctl_write_escaped(stdout, buf, (size_t)len);
                        fputc('\n', stdout);
                }
                /* Each message is out before the next wait: a reader of a pipe sees it now. */
                if (flush_stdout() < 0)
                        return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

/* The largest reply shmbox_request() can receive from @box: its reply mailbox's slot size
 * (<shmbox.h>: the larger of 4096 and the slot size of the first mailbox it requested on). */
static size_t reply_cap(const shmbox *box) {
        size_t n = shmbox_slot_size(box);

        return n > 4096 ? n : 4096;
}

static int cmd_request(const Command *cmd, int argc, char **argv) {
        const char *timeout_s = NULL, *name;
        bool null = false;
        const Option options[] = {
                { "timeout", &timeout_s, NULL },
                { "null", NULL, &null },
                {},
        };
        _cleanup_(shmbox_disconnectp) shmbox_client *client = NULL;
        _cleanup_(shmbox_detachp) shmbox *box = NULL;
        _cleanup_free_ char **operands = NULL;
        _cleanup_free_ unsigned char *buf = NULL;
        size_t n, cap;
        ssize_t len;
        int r, timeout;

        r = command_args(cmd, argc, argv, options, 2, &operands, &n, &name);
        if (r >= 0)
                return r;
        if (n < 2)
                return exit_status(usage_error(cmd, "missing MESSAGE"));
        r = parse_timeout(cmd, timeout_s, &timeout);
        if (r < 0)
                return exit_status(r);

        r = connect_and_attach(name, &client, &box);
        if (r < 0)
                return EXIT_FAILURE;
        cap = reply_cap(box);
        buf = malloc(cap);
        if (!buf) {
                log_error("out of memory");
                return EXIT_FAILURE;
        }
        len = shmbox_request(box, operands[1], strlen(operands[1]), buf, cap, timeout);
        if (len == -ETIMEDOUT) {
                log_error("%s: no reply within %d ms", name, timeout);
                return EXIT_FAILURE;
        }
        if (len == -EAGAIN) {
                log_error("%s: no reply", name);
                return EXIT_FAILURE;
        }
        if (len < 0) {
                log_refusal(client, name, (int)len);
                return EXIT_FAILURE;
        }
        if (null) {
                fwrite(buf, 1, (size_t)len, stdout);
                fputc('\0', stdout);
        } else {
                ctl_write_escaped(stdout, buf, (size_t)len);
                fputc('\n', stdout);
        }
        return EXIT_SUCCESS;
}

/*
 * run_filter() - run @argv with @in on its stdin and collect its stdout
 * @out, @cap: where stdout goes; *@ret_len its length, which may exceed @cap (the rest was read
 *             and dropped)
 *
 * stdin and stdout are served together (poll), so a command that writes before it has read
 * everything does not deadlock with us. stderr is ours.
 *
 * Return: the wait status; a negative errno if the command could not be run.
 */
static int run_filter(char **argv, const void *in, size_t in_len, unsigned char *out, size_t cap, size_t *ret_len) {
        int to[2], from[2], status;
        size_t done = 0, got = 0;
        pid_t pid;

        if (pipe2(to, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(from, O_CLOEXEC) < 0) {
                int e = -errno;
                close(to[0]);
                close(to[1]);
                return e;
        }
        pid = fork();
        if (pid < 0) {
                int e = -errno;
                close(to[0]);
                close(to[1]);
                close(from[0]);
                close(from[1]);
                return e;
        }
        if (pid == 0) {
                signal(SIGPIPE, SIG_DFL); /* ignored by serve, and an ignored signal stays so */
                if (dup2(to[0], STDIN_FILENO) < 0 || dup2(from[1], STDOUT_FILENO) < 0)
                        _exit(127);
                execvp(argv[0], argv);
                fprintf(stderr, "shmboxctl: serve: cannot run %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        close(to[0]);
        close(from[1]);
        if (in_len == 0)
                to[1] = (close(to[1]), -1);
        for (;;) {
                struct pollfd p[2] = { { .fd = from[0], .events = POLLIN }, { .fd = to[1], .events = POLLOUT } };
                unsigned char sink[4096];
                ssize_t k;

                if (poll(p, to[1] >= 0 ? 2 : 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (to[1] >= 0 && p[1].revents) {
                        k = write(to[1], (const unsigned char *)in + done, in_len - done);
                        if (k > 0)
                                done += (size_t)k;
                        if ((k < 0 && errno != EINTR && errno != EAGAIN) || done == in_len)
                                to[1] = (close(to[1]), -1); /* all written, or it stopped reading */
                }
                if (p[0].revents) {
                        if (got < cap)
                                k = read(from[0], out + got, cap - got);
                        else
                                k = read(from[0], sink, sizeof(sink));
                        if (k == 0 || (k < 0 && errno != EINTR))
                                break;
                        if (k > 0)
                                got += (size_t)k;
                }
        }
        if (to[1] >= 0)
                close(to[1]);
        close(from[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        *ret_len = got;
        return status;
}

static int cmd_serve(const Command *cmd, int argc, char **argv) {
        const char *count_s = NULL, *name;
        const Option options[] = {
                { "count", &count_s, NULL },
                {},
        };
        _cleanup_(shmbox_disconnectp) shmbox_client *client = NULL;
        _cleanup_(shmbox_detachp) shmbox *box = NULL;
        _cleanup_free_ char **operands = NULL;
        _cleanup_free_ unsigned char *req = NULL, *rep = NULL;
        unsigned long count = 0, served = 0;
        unsigned bad = 0;
        size_t n, cap, rep_cap = 16u * 1024 * 1024;
        int r;

        r = command_args(cmd, argc, argv, options, SIZE_MAX, &operands, &n, &name);
        if (r >= 0)
                return r;
        if (n < 2)
                return exit_status(usage_error(cmd, "missing COMMAND"));
        if (count_s) {
                r = parse_number(cmd, "count", count_s, 1, UINT_MAX, &count);
                if (r < 0)
                        return exit_status(r);
        }

        r = connect_and_attach(name, &client, &box);
        if (r < 0)
                return EXIT_FAILURE;
        cap = shmbox_slot_size(box);
        req = malloc(cap > 0 ? cap : 1);
        rep = malloc(rep_cap); /* the largest slot: a reply mailbox's slots can be that large */
        if (!req || !rep) {
                log_error("out of memory");
                return EXIT_FAILURE;
        }
        /* a command that does not read its stdin must not kill us with SIGPIPE */
        signal(SIGPIPE, SIG_IGN);
        while (count == 0 || served < count) {
                struct shmbox_request_info info;
                ssize_t len = shmbox_recv_request(box, req, cap, &info, -1);
                size_t out_len = 0;
                int status;

                if (len == -EBADMSG && ++bad < 8) {
                        log_error("%s: a request with a malformed header: dropped", name);
                        continue;
                }
                if (len < 0) {
                        log_error("%s: %s", name, shmbox_strerror((int)len));
                        return EXIT_FAILURE;
                }
                bad = 0;
                served++;
                status = run_filter(operands + 1, req, (size_t)len, rep, rep_cap, &out_len);
                if (status < 0) {
                        log_error("%s: cannot run %s: %s", name, operands[1], strerror(-status));
                        return EXIT_FAILURE;
                }
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        log_error("%s: %s ended with %s %d; its output is the reply", name, operands[1],
                                  WIFEXITED(status) ? "status" : "signal",
                                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
                if (!info.reply_to[0]) {
                        log_error("%s: a message without reply-to: no reply sent", name);
                        continue;
                }
                if (out_len > rep_cap) {
                        log_error("%s: a reply of more than %zu bytes: not sent", name, rep_cap);
                        continue;
                }
                r = shmbox_reply(client, &info, rep, out_len);
                /* a requester that is gone, or full, or with slots too small: its loss, not ours */
                if (r < 0)
                        log_error("%s: reply to %s: %s", name, info.reply_to, shmbox_strerror(r));
        }
        return EXIT_SUCCESS;
}

/* "user:group" of @uid and @gid, by name where the system knows one, else by number. */
static void format_owner(char *buf, size_t size, uid_t uid, gid_t gid) {
        struct passwd *pw = getpwuid(uid);
        struct group *gr = getgrgid(gid);
        char u[32], g[32];

        snprintf(u, sizeof(u), "%" PRIu32, (uint32_t)uid);
        snprintf(g, sizeof(g), "%" PRIu32, (uint32_t)gid);
        snprintf(buf, size, "%s:%s", pw ? pw->pw_name : u, gr ? gr->gr_name : g);
}

/* What each SHMBOX_INFO_CORRUPT_* bit means: its name in JSON, its sentence in text. */
static const struct {
        uint32_t bit;
        const char *key, *text;
} corruptions[] = {
        { SHMBOX_INFO_CORRUPT_POSITIONS, "positions", "head and tail out of range (tail past slots never claimed)" },
        { SHMBOX_INFO_CORRUPT_SLOT, "slot", "a slot word in a state or lap impossible at its position" },
        { SHMBOX_INFO_CORRUPT_LENGTH, "length", "a message length above slot_size" },
        { SHMBOX_INFO_CORRUPT_LOCK, "lock", "the lock held by a token of no attachment" },
        { SHMBOX_INFO_CORRUPT_COUNTERS, "counters", "sent, received and recovered contradict each other" },
        { SHMBOX_INFO_CORRUPT_SEGMENT, "segment", "the segment is shorter than its layout" },
        { SHMBOX_INFO_CORRUPT_META, "meta", "a message's meta word (its request header's length) impossible" },
};

/*
 * info_to_json() - a JSON object of @name and every field of @info by its C name: numbers,
 * except "mode", octal text ("0660"); "user" and "group" add the owner's names (null where the
 * system knows none) to the numeric uid and gid; "corrupt": the names of the corruption bits
 * (an empty array for a mailbox that validates)
 *
 * Return: a new object owned by the caller; NULL when out of memory.
 */
static json_object *info_to_json(const char *name, const struct shmbox_info *info) {
        _cleanup_(json_object_putp) json_object *obj = json_object_new_object();
        const struct {
                const char *key;
                uint64_t value;
        } fields[] = {
                { "slots", info->slots },
                { "slot_size", info->slot_size },
                { "queued", info->queued },
                { "attached", info->attached },
                { "uid", info->uid },
                { "gid", info->gid },
                { "sent", info->sent },
                { "received", info->received },
                { "recovered", info->recovered },
                { "repairs", info->repairs },
                { "lock_holder_pid", info->lock_holder_pid },
                { "orphaned", info->orphaned },
                { "claimed", info->claimed },
                { "taken", info->taken },
                { "oldest_claimed_pid", info->oldest_claimed_pid },
                { "oldest_taken_pid", info->oldest_taken_pid },
                { "oldest_claimed_age_ms", info->oldest_claimed_age_ms },
                { "oldest_taken_age_ms", info->oldest_taken_age_ms },
                { "owner_pid", info->owner_pid },
        };
        struct passwd *pw = getpwuid(info->uid);
        struct group *gr = getgrgid(info->gid);
        char mode[16];
        json_object *v;

        if (!obj)
                return NULL;
        v = json_object_new_string(name);
        if (!v || json_object_object_add(obj, "name", v) < 0) {
                json_object_put(v);
                return NULL;
        }
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
                v = json_object_new_uint64(fields[i].value);
                if (!v || json_object_object_add(obj, fields[i].key, v) < 0) {
                        json_object_put(v);
                        return NULL;
                }
        }
        /* the mode as people and chmod write it, the owner by name too (null: none known) */
        snprintf(mode, sizeof(mode), "%04" PRIo32, info->mode);
        v = json_object_new_string(mode);
        if (!v || json_object_object_add(obj, "mode", v) < 0) {
                json_object_put(v);
                return NULL;
        }
        v = pw ? json_object_new_string(pw->pw_name) : NULL;
        if ((pw && !v) || json_object_object_add(obj, "user", v) < 0) {
                json_object_put(v);
                return NULL;
        }
        v = gr ? json_object_new_string(gr->gr_name) : NULL;
        if ((gr && !v) || json_object_object_add(obj, "group", v) < 0) {
                json_object_put(v);
                return NULL;
        }
        v = json_object_new_boolean(!!(info->flags & SHMBOX_INFO_EPHEMERAL));
        if (!v || json_object_object_add(obj, "ephemeral", v) < 0) {
                json_object_put(v);
                return NULL;
        }
        v = json_object_new_string(kind_name(info->flags));
        if (!v || json_object_object_add(obj, "kind", v) < 0) {
                json_object_put(v);
                return NULL;
        }
        v = json_object_new_array();
        if (!v || json_object_object_add(obj, "corrupt", v) < 0) {
                json_object_put(v);
                return NULL;
        }
        for (size_t i = 0; i < sizeof(corruptions) / sizeof(corruptions[0]); i++) {
                json_object *s;

                if (!(info->corrupt & corruptions[i].bit))
                        continue;
                s = json_object_new_string(corruptions[i].key);
                if (!s || json_object_array_add(v, s) < 0) {
                        json_object_put(s);
                        return NULL;
                }
        }
        v = obj;
        obj = NULL;
        return v;
}

/* Print @obj as pretty JSON and a newline. Return: 0; -ENOMEM after reporting it. */
static int print_json(json_object *obj) {
        const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                    JSON_C_TO_STRING_NOSLASHESCAPE);

        if (!s) {
                log_error("out of memory");
                return -ENOMEM;
        }
        puts(s);
        return 0;
}

static int compare_entries(const void *a, const void *b) {
        const struct shmbox_entry *x = a, *y = b;

        return strcmp(x->name, y->name);
}

#define LIST_COLUMNS 11
#define LIST_CELL 80 /* a name (64), or an owner of two short names, or a number */

/* The list as a table: a header line, then one line per mailbox, columns as wide as needed. */
static int print_table(const struct shmbox_entry *entries, size_t n) {
        static const char *const header[LIST_COLUMNS] = {
                "NAME",  "SLOTS", "SLOT_SIZE", "MODE",      "QUEUED", "ATTACHED",
                "OWNER", "SENT",  "RECEIVED",  "EPHEMERAL", "KIND",
        };
        _cleanup_free_ char(*cells)[LIST_COLUMNS][LIST_CELL] = NULL;
        size_t width[LIST_COLUMNS] = {};

        cells = calloc(n + 1, sizeof(*cells));
        if (!cells) {
                log_error("out of memory");
                return -ENOMEM;
        }
        for (size_t c = 0; c < LIST_COLUMNS; c++)
                snprintf(cells[0][c], LIST_CELL, "%s", header[c]);
        for (size_t i = 0; i < n; i++) {
                const struct shmbox_info *info = &entries[i].info;
                char(*row)[LIST_CELL] = cells[i + 1];

                snprintf(row[0], LIST_CELL, "%s", entries[i].name);
                snprintf(row[1], LIST_CELL, "%" PRIu32, info->slots);
                snprintf(row[2], LIST_CELL, "%" PRIu32, info->slot_size);
                snprintf(row[3], LIST_CELL, "%04" PRIo32, info->mode);
                snprintf(row[4], LIST_CELL, "%" PRIu32, info->queued);
                snprintf(row[5], LIST_CELL, "%" PRIu32, info->attached);
                format_owner(row[6], LIST_CELL, info->uid, info->gid);
                snprintf(row[7], LIST_CELL, "%" PRIu64, info->sent);
                snprintf(row[8], LIST_CELL, "%" PRIu64, info->received);
                /* an ephemeral mailbox: the pid of its creator, whose end destroys it */
                if (info->flags & SHMBOX_INFO_EPHEMERAL)
                        snprintf(row[9], LIST_CELL, "pid:%" PRIu32, info->owner_pid);
                else
                        snprintf(row[9], LIST_CELL, "-");
                snprintf(row[10], LIST_CELL, "%s", kind_name(info->flags));
        }

        for (size_t i = 0; i <= n; i++)
                for (size_t c = 0; c < LIST_COLUMNS; c++) {
                        size_t w = strlen(cells[i][c]);
                        if (w > width[c])
                                width[c] = w;
                }
        for (size_t i = 0; i <= n; i++)
                for (size_t c = 0; c < LIST_COLUMNS; c++)
                        if (c + 1 < LIST_COLUMNS)
                                printf("%-*s  ", (int)width[c], cells[i][c]);
                        else
                                printf("%s\n", cells[i][c]);
        return 0;
}

static int cmd_list(const Command *cmd, int argc, char **argv) {
        bool json = false;
        const Option options[] = {
                { "json", NULL, &json },
                {},
        };
        _cleanup_(shmbox_disconnectp) shmbox_client *client = NULL;
        _cleanup_free_ struct shmbox_entry *entries = NULL;
        _cleanup_free_ char **operands = NULL;
        size_t n, count;
        int r;

        r = command_args(cmd, argc, argv, options, 0, &operands, &n, NULL);
        if (r >= 0)
                return r;

        r = connect_client(&client);
        if (r < 0)
                return EXIT_FAILURE;
        r = shmbox_list(client, &entries, &count);
        if (r < 0) {
                log_refusal(client, "cannot list mailboxes", r);
                return EXIT_FAILURE;
        }
        if (count > 1)
                qsort(entries, count, sizeof(entries[0]), compare_entries);

        if (json) {
                _cleanup_(json_object_putp) json_object *array = json_object_new_array();

                if (!array) {
                        log_error("out of memory");
                        return EXIT_FAILURE;
                }
                for (size_t i = 0; i < count; i++) {
                        json_object *obj = info_to_json(entries[i].name, &entries[i].info);

                        if (!obj || json_object_array_add(array, obj) < 0) {
                                json_object_put(obj);
                                log_error("out of memory");
                                return EXIT_FAILURE;
                        }
                }
                r = print_json(array);
        } else
                r = print_table(entries, count);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* "KEY: ID (NAME)", or "KEY: ID" where the system knows no name. */
static void print_id(const char *key, uint32_t id, const char *name) {
        if (name)
                printf("%s: %" PRIu32 " (%s)\n", key, id, name);
        else
                printf("%s: %" PRIu32 "\n", key, id);
}

static int cmd_info(const Command *cmd, int argc, char **argv) {
        bool json = false;
        const Option options[] = {
                { "json", NULL, &json },
                {},
        };
        _cleanup_(shmbox_disconnectp) shmbox_client *client = NULL;
        _cleanup_free_ char **operands = NULL;
        struct shmbox_info info;
        bool unknown_ring, unknown_counters;
        const char *name;
        size_t n;
        int r;

        r = command_args(cmd, argc, argv, options, 1, &operands, &n, &name);
        if (r >= 0)
                return r;

        r = connect_client(&client);
        if (r < 0)
                return EXIT_FAILURE;
        r = shmbox_info(client, name, &info);
        if (r < 0) {
                log_refusal(client, name, r);
                return EXIT_FAILURE;
        }

        if (json) {
                _cleanup_(json_object_putp) json_object *obj = info_to_json(name, &info);

                if (!obj) {
                        log_error("out of memory");
                        return EXIT_FAILURE;
                }
                return print_json(obj) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        /* what the daemon could not validate comes first; the counters derived from it are
         * not known, and are not printed (0 or a scribble would read as a fact) */
        unknown_ring = info.corrupt & (SHMBOX_INFO_CORRUPT_POSITIONS | SHMBOX_INFO_CORRUPT_SEGMENT);
        unknown_counters = unknown_ring || (info.corrupt & SHMBOX_INFO_CORRUPT_COUNTERS);
        printf("name: %s\n", name);
        for (size_t i = 0; i < sizeof(corruptions) / sizeof(corruptions[0]); i++)
                if (info.corrupt & corruptions[i].bit)
                        printf("corrupt: %s\n", corruptions[i].text);
        printf("slots: %" PRIu32 "\n", info.slots);
        printf("slot_size: %" PRIu32 "\n", info.slot_size);
        printf("mode: %04" PRIo32 "\n", info.mode);
        if (!unknown_ring)
                printf("queued: %" PRIu32 "\n", info.queued);
        printf("attached: %" PRIu32 "\n", info.attached);
        print_id("uid", info.uid, getpwuid(info.uid) ? getpwuid(info.uid)->pw_name : NULL);
        print_id("gid", info.gid, getgrgid(info.gid) ? getgrgid(info.gid)->gr_name : NULL);
        if (!unknown_counters) {
                printf("sent: %" PRIu64 "\n", info.sent);
                printf("received: %" PRIu64 "\n", info.received);
                printf("recovered: %" PRIu64 "\n", info.recovered);
        }
        printf("repairs: %" PRIu64 "\n", info.repairs);
        printf("orphaned: %" PRIu32 "\n", info.orphaned);
        if (info.flags & SHMBOX_INFO_EPHEMERAL)
                printf("ephemeral: owner pid %" PRIu32 "\n", info.owner_pid);
        if (info.flags & SHMBOX_INFO_BROADCAST) /* a queue's lines are what they always were */
                printf("kind: %s\n", kind_name(info.flags));
        /* what an operator needs when a mailbox seems stuck */
        if (info.lock_holder_pid)
                printf("lock_holder_pid: %" PRIu32 "\n", info.lock_holder_pid);
        if (info.claimed)
                printf("claimed: %" PRIu32 " (oldest by pid %" PRIu32 " for %" PRIu32 " ms)\n", info.claimed,
                       info.oldest_claimed_pid, info.oldest_claimed_age_ms);
        if (info.taken)
                printf("taken: %" PRIu32 " (oldest by pid %" PRIu32 " for %" PRIu32 " ms)\n", info.taken,
                       info.oldest_taken_pid, info.oldest_taken_age_ms);
        return EXIT_SUCCESS;
}

/* The prefix of walkthrough's temporary daemon: the rule of shmboxd --prefix. */
static bool prefix_valid(const char *s) {
        size_t len = strlen(s);

        return len >= 1 && len <= 32 && !streq(s, "sem") &&
               strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == len;
}

static int cmd_walkthrough(const Command *cmd, int argc, char **argv) {
        const char *size_s = NULL;
        WalkthroughOptions o = { .socket = arg_socket, .size = WALKTHROUGH_DEFAULT_SIZE };
        const Option options[] = {
                { "size", &size_s, NULL },
                { "json", NULL, &o.json },
                { "quiet", NULL, &o.quiet },
                { "hierarchy", NULL, &o.hierarchy },
                { "quick", NULL, &o.quick },
                { "plot", &o.plot, NULL },
                { "own-daemon", NULL, &o.own_daemon },
                { "prefix", &o.prefix, NULL },
                {},
        };
        _cleanup_free_ char **operands = NULL;
        unsigned long v;
        size_t n;
        int r;

        r = command_args(cmd, argc, argv, options, 0, &operands, &n, NULL);
        if (r >= 0)
                return r;
        if (size_s) {
                r = parse_number(cmd, "size", size_s, 0, SHMBOX_SLOT_SIZE_MAX, &v);
                if (r < 0)
                        return exit_status(r);
                o.size = v;
        }
        if (o.hierarchy && size_s)
                return exit_status(usage_error(cmd, "--size and --hierarchy exclude each other"));
        if (!o.hierarchy && (o.plot || o.quick))
                return exit_status(usage_error(cmd, "--%s needs --hierarchy", o.plot ? "plot" : "quick"));
        if (o.json && o.quiet)
                return exit_status(usage_error(cmd, "--json and --quiet exclude each other"));
        if (o.plot && !o.plot[0])
                return exit_status(usage_error(cmd, "--plot: empty file name"));
        if (o.prefix && !prefix_valid(o.prefix))
                return exit_status(usage_error(cmd,
                                               "--prefix: invalid prefix '%s' (1 to 32 of A-Z a-z 0-9 _ -, "
                                               "not 'sem')",
                                               o.prefix));
        return walkthrough_run(&o);
}

/* peek and top parse their own arguments (short options too): client/ctl-peek.c, ctl-top.c */
static int cmd_peek(const Command *cmd, int argc, char **argv) {
        return ctl_peek(arg_socket, argc, argv);
}

static int cmd_top(const Command *cmd, int argc, char **argv) {
        return ctl_top(arg_socket, argc, argv);
}

static int cmd_metrics(const Command *cmd, int argc, char **argv) {
        const char *output = NULL;
        const Option options[] = {
                { "output", &output, NULL },
                {},
        };
        _cleanup_free_ char **operands = NULL;
        size_t n;
        int r;

        r = command_args(cmd, argc, argv, options, 0, &operands, &n, NULL);
        if (r >= 0)
                return r;
        if (output && !output[0])
                return exit_status(usage_error(cmd, "--output: empty file name"));
        return ctl_metrics_run(arg_socket, output);
}

static const Command commands[] = {
        {
                "create",
                "create NAME [--slots N] [--slot-size BYTES] [--mode OCTAL] [--group GROUP]",
                "Create a mailbox owned by the caller: N slots of BYTES each, so it holds N\n"
                "messages of at most BYTES bytes.\n"
                "\n"
                "Options (before or after NAME):\n"
                "  --slots N          number of slots, 1 to 65536 (default 64)\n"
                "  --slot-size BYTES  largest message, 1 to 16777216 (default 4096)\n"
                "  --mode OCTAL       who may use it, rw bits only: r receives, w sends\n"
                "                     (default 0600; e.g. 0660 for the owner's group)\n"
                "  --group GROUP      the mailbox's group, a name or a number (default: the\n"
                "                     caller's primary group; the caller must belong to it)\n"
                "  --broadcast        every receiver gets every message (each box attached\n"
                "                     with the right to receive subscribes), instead of one\n"
                "                     receiver each; senders wait for the slowest subscriber\n"
                "  --overwrite        with --broadcast: senders never wait; a subscriber that\n"
                "                     fell a ring behind gets -EOVERFLOW once, with the count\n"
                "                     it missed, and goes on from the oldest message left\n"
                "  --ephemeral        refused, with an error: an ephemeral mailbox dies with\n"
                "                     the connection that made it, and shmboxctl's ends when\n"
                "                     it exits (programs use SHMBOX_CONFIG_EPHEMERAL)\n"
                "  -h, --help         show this help\n",
                cmd_create,
        },
        {
                "chmod",
                "chmod NAME [MODE] [--group GROUP]",
                "Change who may use a mailbox (owner or root only): MODE in octal, rw bits\n"
                "only, and/or its group (the owner only to a group it belongs to). Processes\n"
                "attached before keep the rights they had, like open files.\n"
                "\n"
                "Options (before or after NAME):\n"
                "  --group GROUP  a group name or number\n"
                "  -h, --help     show this help\n",
                cmd_chmod,
        },
        {
                "reload",
                "reload",
                "Make the daemon read its config file again (limits and quotas); returns once\n"
                "it is done. Root or the daemon's user only. Mailboxes are all kept.\n"
                "\n"
                "Options:\n"
                "  -h, --help  show this help\n",
                cmd_reload,
        },
        {
                "destroy",
                "destroy NAME",
                "Destroy a mailbox and the messages in it (owner or root only). Attached\n"
                "processes get an error on their next send or receive.\n"
                "\n"
                "Options:\n"
                "  -h, --help  show this help\n",
                cmd_destroy,
        },
        {
                "send",
                "send NAME [--timeout MS] [--null] [--] [MESSAGE...]",
                "Send each MESSAGE argument as one message. Without MESSAGE, send each line of\n"
                "stdin as one message, taken literally (no unescaping) without its newline; a\n"
                "line longer than the slot size stops the command with an error naming the\n"
                "line (the lines before it were sent).\n"
                "\n"
                "Options may come anywhere; '--' ends them, so a message that starts with '-'\n"
                "follows it: send NAME -- -5.\n"
                "\n"
                "Options (anywhere):\n"
                "  --timeout MS  wait at most MS milliseconds for a free slot (0: do not\n"
                "                wait); default: wait as long as it takes\n"
                "  --null        stdin holds raw messages separated by NUL bytes\n"
                "  -h, --help    show this help\n",
                cmd_send,
        },
        {
                "recv",
                "recv NAME [--count N] [--timeout MS] [--null | --json]",
                "Receive messages and print one per line on stdout. Backslash is printed as\n"
                "'\\\\', newline as '\\n', other bytes below 0x20 and 0x7f as '\\xHH'.\n"
                "\n"
                "Options (before or after NAME):\n"
                "  --count N     receive N messages, 1 to 4294967295 (default 1)\n"
                "  --timeout MS  wait at most MS milliseconds for each message (0: do not\n"
                "                wait); default: wait as long as it takes\n"
                "  --null        print raw messages, each followed by a NUL byte\n"
                "  --json        print each message as a JSON object on one line: \"length\",\n"
                "                and \"text\" (valid UTF-8) or \"base64\"\n"
                "  -h, --help    show this help\n"
                "\n"
                "Exit status 0 if at least one message was received; 1 if none came before\n"
                "the timeout.\n",
                cmd_recv,
        },
        {
                "request",
                "request NAME MESSAGE [--timeout MS] [--null]",
                "Send MESSAGE as a request and print the reply, as recv prints a message. The\n"
                "reply comes to a reply mailbox of this process's own, made for it and gone\n"
                "when the command ends (an ephemeral mailbox); a server answers with\n"
                "shmbox_reply(), or 'shmboxctl serve'.\n"
                "\n"
                "Options (anywhere):\n"
                "  --timeout MS  wait at most MS milliseconds for a free slot and the reply\n"
                "                together (0: do not wait); default: as long as it takes\n"
                "  --null        print the raw reply followed by a NUL byte\n"
                "  -h, --help    show this help\n"
                "\n"
                "Exit status 0 if a reply came; 1 if none came before the timeout.\n",
                cmd_request,
        },
        {
                "serve",
                "serve NAME [--count N] -- COMMAND [ARG...]",
                "Answer the requests of a mailbox: run COMMAND (searched in PATH) for each\n"
                "one, with the request on its stdin, and send its stdout as the reply (also\n"
                "when it fails, which is said on stderr). Requests are taken one at a time;\n"
                "run several serve commands for more. A message without a reply-to is given\n"
                "to COMMAND too, and its output dropped. If serve dies before it has taken a\n"
                "request whole, the request goes to another server.\n"
                "\n"
                "Options (before '--'):\n"
                "  --count N   stop after N requests, 1 to 4294967295 (default: never)\n"
                "  -h, --help  show this help\n",
                cmd_serve,
        },
        { "peek", CTL_PEEK_SYNOPSIS, CTL_PEEK_HELP, cmd_peek },
        {
                "list",
                "list [--json]",
                "List the mailboxes of the daemon, sorted by name: a table with a header line,\n"
                "or a JSON array. EPHEMERAL is pid:N for an ephemeral mailbox, destroyed when\n"
                "the connection of its creator, process N, ends; - for the others. KIND is\n"
                "queue, broadcast (every subscriber gets every message; senders wait for the\n"
                "slowest) or overwrite (a broadcast whose senders never wait).\n"
                "\n"
                "Options:\n"
                "  --json      print a JSON array of objects: name and every field of struct\n"
                "              shmbox_info by its C name (slots, slot_size, queued, attached,\n"
                "              uid, gid, sent, received, recovered, repairs, lock_holder_pid,\n"
                "              orphaned, claimed, taken, oldest_claimed_pid, oldest_taken_pid,\n"
                "              oldest_claimed_age_ms, oldest_taken_age_ms, owner_pid), numbers;\n"
                "              mode in octal text (\"0660\"); user and group, the owner's names;\n"
                "              ephemeral, true or false; kind, \"queue\", \"broadcast\" or\n"
                "              \"overwrite\"\n"
                "  -h, --help  show this help\n",
                cmd_list,
        },
        {
                "info",
                "info NAME [--json]",
                "Show what the daemon knows of one mailbox, as 'key: value' lines.\n"
                "\n"
                "Options (before or after NAME):\n"
                "  --json      print one JSON object with the same keys\n"
                "  -h, --help  show this help\n",
                cmd_info,
        },
        { "top", CTL_TOP_SYNOPSIS, CTL_TOP_HELP, cmd_top },
        {
                "metrics",
                "metrics [--output FILE]",
                "Print the daemon's and every mailbox's figures in the Prometheus text\n"
                "exposition format: sizes, queued messages, attachments, and the traffic\n"
                "counters (messages and bytes sent and received, waits and time waited,\n"
                "timeouts, full mailbox, repairs, redelivered and abandoned messages), labelled\n"
                "mailbox and owner. A mailbox the caller has no right on is left out.\n"
                "\n"
                "Options:\n"
                "  --output FILE  write FILE atomically (a temporary file, then rename), for\n"
                "                 node exporter's textfile collector; if the daemon does not\n"
                "                 answer, FILE says shmbox_up 0 (and the exit status is 1)\n"
                "  -h, --help     show this help\n",
                cmd_metrics,
        },
        {
                "walkthrough",
                "walkthrough [--size BYTES | --hierarchy [--quick] [--plot FILE.svg]] [--json | --quiet]",
                "Run a real exchange between two processes, a sender and a receiver (both\n"
                "shmboxctl, exec'd), and narrate each step with the values read from them:\n"
                "create (the objects in /dev/shm, semaphores, header geometry), attach (each\n"
                "process's virtual address, the physical frames behind it, page faults), write\n"
                "(slot, cache lines, this core's caches, the commit), read (time from commit\n"
                "to receipt, whether the receiver slept), detach and destroy (nothing left in\n"
                "/dev/shm). Uses the daemon on the socket, or starts a temporary shmboxd\n"
                "($SHMBOXD, the installed one, or the one beside shmboxctl) if none answers.\n"
                "\n"
                "Options:\n"
                "  --size BYTES      the message, 0 to 16777216 bytes (default 256)\n"
                "  --json            print one JSON record of every step instead\n"
                "  --quiet           print the summary line only\n"
                "  --own-daemon      start a temporary daemon even if one answers\n"
                "  --prefix PREFIX   the temporary daemon's prefix (default shmboxwt<pid>)\n"
                "  --hierarchy       stream messages through rings from 128 B to past the\n"
                "                    last cache level (always a temporary daemon): cost per\n"
                "                    byte and bandwidth next to this machine's cache sizes\n"
                "  --quick           with --hierarchy: a few small sizes, in about a second\n"
                "  --plot FILE.svg   with --hierarchy: also draw the curve as an SVG chart\n"
                "  -h, --help        show this help\n",
                cmd_walkthrough,
        },
};

static void print_usage(FILE *f) {
        fputs("Usage: shmboxctl [--socket PATH] COMMAND [OPTIONS] [ARGS]\n"
              "\n"
              "Create, use and inspect the shared-memory mailboxes of shmboxd.\n"
              "\n"
              "Commands:\n",
              f);
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                fprintf(f, "  %s\n", commands[i].synopsis);
        fputs("\n"
              "Global options (before COMMAND):\n"
              "  --socket PATH  the daemon's socket (default: $SHMBOX_SOCKET, else\n"
              "                 " SHMBOX_DEFAULT_SOCKET ")\n"
              "  -h, --help     show this help\n"
              "  --version      show the version\n"
              "\n"
              "Command options may come anywhere after COMMAND; '--' ends them (send NAME --\n"
              "-x sends \"-x\").\n"
              "Messages are printed one per line, escaped; --null: raw and NUL-separated.\n"
              "'shmboxctl COMMAND --help' describes a command.\n"
              "\n"
              "Exit status: 0 success; 1 failure, or recv received nothing; 2 usage error.\n",
              f);
}

int main(int argc, char **argv) {
        const Command *cmd = NULL;
        int i, status;

        for (i = 1; i < argc; i++) {
                const char *a = argv[i];

                if (streq(a, "--help") || streq(a, "-h")) {
                        print_usage(stdout);
                        return flush_stdout() < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
                }
                if (streq(a, "--version")) {
#ifdef PACKAGE_VERSION
                        printf("shmboxctl %s (libshmbox %s)\n", PACKAGE_VERSION, shmbox_version());
#else
                        printf("shmboxctl (libshmbox %s)\n", shmbox_version());
#endif
                        return flush_stdout() < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
                }
                if (streq(a, "--socket")) {
                        if (i + 1 >= argc)
                                return exit_status(usage_error(NULL, "option '--socket' needs a value"));
                        arg_socket = argv[++i];
                } else if (strncmp(a, "--socket=", 9) == 0)
                        arg_socket = a + 9;
                else if (a[0] == '-')
                        return exit_status(usage_error(NULL, "unknown option '%s'", a));
                else
                        break;
                if (arg_socket[0] == '\0')
                        return exit_status(usage_error(NULL, "--socket: empty path"));
        }
        if (i >= argc)
                return exit_status(usage_error(NULL, "missing COMMAND"));

        /* the walkthrough's sender and receiver: a hidden command, not for people */
        if (streq(argv[i], WALKTHROUGH_PEER))
                return walkthrough_peer(arg_socket, argc - i - 1, argv + i + 1);

        for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
                if (streq(argv[i], commands[c].name))
                        cmd = &commands[c];
        if (!cmd)
                return exit_status(usage_error(NULL, "unknown command '%s'", argv[i]));

        status = cmd->run(cmd, argc - i - 1, argv + i + 1);
        /* a command that failed has said why; a write error it did not see is reported here */
        if (status == EXIT_SUCCESS && flush_stdout() < 0)
                status = EXIT_FAILURE;
        return status;
}
