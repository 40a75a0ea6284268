/* log.c — the daemon's logging: "<N>message" lines on stderr, which journald files by priority.
 *
 * Only the daemon logs (the library never does), and only where it decides something: create,
 * destroy, repair, refusal, start and stop. Nothing is logged on the message path, which the
 * daemon is never on anyway.
 */
#include "config.h"

#include "daemon/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int log_max_level = LOG_INFO;

/*
 * log_parse_level() - a level name (err, warning, notice, info, debug) or number 0-7
 *
 * Return: the level; -EINVAL for anything else.
 */
int log_parse_level(const char *s) {
        static const char *const names[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };

        for (int i = 0; i < 8; i++)
                if (strcasecmp(s, names[i]) == 0)
                        return i;
        if (strcasecmp(s, "error") == 0)
                return LOG_ERR;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == 0)
                return s[0] - '0';
        return -EINVAL;
}

static void log_v(int prio, int r, const char *fmt, va_list ap) {
        char buf[1024];

        if (prio > log_max_level)
                return;
        vsnprintf(buf, sizeof(buf), fmt, ap);
        if (r < 0)
                fprintf(stderr, "<%d>%s: %s\n", prio, buf, strerror(-r));
        else
                fprintf(stderr, "<%d>%s\n", prio, buf);
}

void log_full(int prio, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_v(prio, 0, fmt, ap);
        va_end(ap);
}

int log_errno(int prio, int r, const char *fmt, ...) {
        va_list ap;
        int saved = errno;

        va_start(ap, fmt);
        log_v(prio, r, fmt, ap);
        va_end(ap);
        errno = saved;
        return r;
}
