/* SPDX-License-Identifier: MIT */
/* ctl-peek.h — `shmboxctl peek`: the messages of a mailbox, shown without taking them. */
#pragma once

#define CTL_PEEK_SYNOPSIS "peek NAME [--follow] [--count N] [--json | --null]"
#define CTL_PEEK_HELP                                                                                                  \
        "Print the messages queued in a mailbox without taking them: receivers still get\n"                            \
        "every one. Printed like recv (escaped, one per line; --json, --null). Needs the\n"                            \
        "right to receive (r), since it reads contents.\n"                                                             \
        "\n"                                                                                                           \
        "Each message is copied, then its slot is read again: one that changed meanwhile\n"                            \
        "(taken by a receiver) is skipped, and the count of those is said on stderr.\n"                                \
        "\n"                                                                                                           \
        "Options (before or after NAME):\n"                                                                            \
        "  -f, --follow     keep printing new messages as they are committed (also those\n"                            \
        "                   received meanwhile, while their slot still holds them), until\n"                           \
        "                   SIGINT or SIGTERM; positions that receivers finished before\n"                             \
        "                   they could be shown are counted on stderr\n"                                               \
        "  -n, --count N    stop after N messages, 1 to 4294967295\n"                                                  \
        "  --json           print each message as a JSON object on one line, as recv --json\n"                         \
        "  --null           print raw messages, each followed by a NUL byte\n"                                         \
        "  -h, --help       show this help\n"                                                                          \
        "\n"                                                                                                           \
        "Exit status 0, also for an empty mailbox and after SIGINT or SIGTERM.\n"

/*
 * ctl_peek() - run `shmboxctl peek` with the arguments after the command word
 * @socket: --socket, or NULL for the library's default
 *
 * Return: the exit status.
 */
int ctl_peek(const char *socket, int argc, char **argv);
