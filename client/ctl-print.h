/* SPDX-License-Identifier: MIT */
/* ctl-print.h — what the shmboxctl commands share: error lines, and printing a message the
 * way recv prints it (escaped on one line, or one JSON object). */
#pragma once

#include <stddef.h>
#include <stdio.h>

#define CTL_EXIT_USAGE 2

/* "shmboxctl: " and the formatted text and a newline on stderr. */
void ctl_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A usage error of the command @cmd: "shmboxctl: @cmd: " and the formatted text and a hint at
 * its --help on stderr. Return: CTL_EXIT_USAGE. */
int ctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A message as text without its newline: '\\' -> "\\\\", newline -> "\\n", other bytes below
 * 0x20 and 0x7f -> "\\xHH" (shmboxctl(1), recv). */
void ctl_write_escaped(FILE *f, const unsigned char *data, size_t len);

/* A message as one JSON object on one line on stdout: "length", and "text" (valid UTF-8) or
 * "base64". Return: 0; -ENOMEM after reporting it. */
int ctl_print_message_json(const unsigned char *data, size_t len);
