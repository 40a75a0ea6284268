/* SPDX-License-Identifier: MIT */
/* ctl-top.h — `shmboxctl top`: a live view of every mailbox, like systemd-cgtop. */
#pragma once

#define CTL_TOP_SYNOPSIS "top [-b] [-n N] [-d SECONDS] [-f TEXT] [-s COLUMN] [-r]"
#define CTL_TOP_HELP                                                                                                   \
        "Show every mailbox of the daemon, refreshed: depth (queued/slots), messages per\n"                            \
        "second in and out (from the sent and received counters), attachments, how long\n"                             \
        "the oldest slot has been held by a writer or a reader, repairs, and whether the\n"                            \
        "daemon found the mailbox corrupt; a first line with the totals and the time.\n"                               \
        "Rates need two looks: the first screen shows '-'.\n"                                                          \
        "\n"                                                                                                           \
        "Keys: < and > move the sort column; n d i o a g p c sort by name, depth, in,\n"                               \
        "out, attached, age, repairs, corrupt; r reverses; / edits the name filter\n"                                  \
        "(Enter keeps it, Esc drops it); q quits. Needs a terminal on stdin and stdout;\n"                             \
        "otherwise, or with -b, it prints plain text.\n"                                                               \
        "\n"                                                                                                           \
        "Options:\n"                                                                                                   \
        "  -b, --batch          print plain text, one table per refresh, for scripts\n"                                \
        "  -n, --iterations N   stop after N refreshes (default: until q or a signal)\n"                               \
        "  -d, --delay SECONDS  time between refreshes, 0.1 to 3600 (default 1)\n"                                     \
        "  -f, --filter TEXT    only mailboxes whose name contains TEXT\n"                                             \
        "  -s, --sort COLUMN    name, depth, in, out, attached, age, repairs or corrupt\n"                             \
        "                       (default name; numbers sort largest first)\n"                                          \
        "  -r, --reverse        reverse the order\n"                                                                   \
        "  -h, --help           show this help\n"

/*
 * ctl_top() - run `shmboxctl top` with the arguments after the command word
 * @socket: --socket, or NULL for the library's default
 *
 * Return: the exit status.
 */
int ctl_top(const char *socket, int argc, char **argv);
