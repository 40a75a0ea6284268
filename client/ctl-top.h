/* SPDX-License-Identifier: MIT */
/* ctl-top.h — `shmboxctl top`: a live view of every mailbox, like systemd-cgtop. */
#pragma once

#define CTL_TOP_SYNOPSIS "top [-b] [-n N] [-d SECONDS] [-f TEXT] [-s COLUMN] [-r]"
#define CTL_TOP_HELP                                                                                                   \
        "Show every mailbox of the daemon, refreshed: depth (queued/slots), messages per\n"                            \
        "second in and out (IN/s, OUT/s, from the sent and received counters), bytes per\n"                            \
        "second in and out (INB/s, OUTB/s) and sends and receives that had to wait per\n"                              \
        "second (WAIT/s), from the traffic counters ('-' without a right on the mailbox),\n"                           \
        "attachments, how long the oldest slot has been held by a writer or a reader,\n"                               \
        "repairs, and whether the daemon found the mailbox corrupt; a first line with the\n"                           \
        "totals and the time. Rates need two looks: the first screen shows '-'.\n"                                     \
        "\n"                                                                                                           \
        "Keys: < and > move the sort column; n d i o I O w a g p c sort by name, depth,\n"                             \
        "in, out, in-bytes, out-bytes, waits, attached, age, repairs, corrupt; r reverses;\n"                          \
        "/ edits the name filter (Enter keeps it, Esc drops it); q quits. Needs a\n"                                   \
        "terminal on stdin and stdout; otherwise, or with -b, it prints plain text.\n"                                 \
        "\n"                                                                                                           \
        "Options:\n"                                                                                                   \
        "  -b, --batch          print plain text, one table per refresh, for scripts\n"                                \
        "  -n, --iterations N   stop after N refreshes (default: until q or a signal)\n"                               \
        "  -d, --delay SECONDS  time between refreshes, 0.1 to 3600 (default 1)\n"                                     \
        "  -f, --filter TEXT    only mailboxes whose name contains TEXT\n"                                             \
        "  -s, --sort COLUMN    name, depth, in, out, in-bytes, out-bytes, waits, attached,\n"                         \
        "                       age, repairs or corrupt (default name; numbers sort\n"                                 \
        "                       largest first)\n"                                                                      \
        "  -r, --reverse        reverse the order\n"                                                                   \
        "  -h, --help           show this help\n"

/*
 * ctl_top() - run `shmboxctl top` with the arguments after the command word
 * @socket: --socket, or NULL for the library's default
 *
 * Return: the exit status.
 */
int ctl_top(const char *socket, int argc, char **argv);
