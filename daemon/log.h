/* SPDX-License-Identifier: MIT */
/* log.h — the logging of shmboxd and shmbox-bridge (liblog.la): one line per decision, to stderr with
 * <N> priority prefixes. */
#pragma once

#include <syslog.h>

extern int log_max_level; /* command-line global: messages above it are dropped */

int log_parse_level(const char *s);
void log_full(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log with the errno @r (negative) appended, and return @r: `return log_errno(LOG_ERR, r, ...)`. */
int log_errno(int prio, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)
