/* SPDX-License-Identifier: MIT */
/* log.c — the logging of shmboxd and shmbox-bridge: "<N>message" lines on stderr, which journald
 * files by priority. The "<N>" prefixes are for journald and for files and pipes that a
 * supervisor reads; on an interactive terminal they are noise, so they are left out when stderr
 * is a TTY that is not journald's stream (JOURNAL_STREAM names the dev:ino of that stream).
 *
 * Only the programs log, never the library, and only where they decide something: the daemon
 * on create, destroy, repair, refusal, start and stop (it is never on the message path); the
 * bridge when it connects or loses the connection, attaches or detaches a mailbox, creates a
 * stream or consumer, reloads, or retries an error, never once per message. The bridge's
 * worker threads log too: each line is one fprintf(), which stdio locks, so lines do not
 * interleave.
 *
 * Why it lives in daemon/ and is its own library (liblog.la): both programs need the same
 * ~40 lines, but the bridge is an ordinary client of libshmbox and must not link libdaemon.la
 * (the daemon's registry, sessions and event loop). doc/design.md's Layout has no place for a
 * helper shared by programs that is not part of the contract between processes — proto/ is
 * the wire and segment format, and a new top-level folder is not in the Layout — so the file
 * stays with its first user, the daemon, and Makefile.am builds it alone into the noinst
 * convenience library liblog.la, which libdaemon.la and shmbox-bridge both link. It uses
 * nothing but libc and must stay that way.
 */
#include "config.h"

#include "daemon/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int log_max_level = LOG_INFO;

/* Whether lines get "<N>" prefixes: -1 until the first line decides (stderr does not change). */
static int log_prefixes = -1;

/* Whether stderr is the stream journald gave us: $JOURNAL_STREAM is "DEV:INO" of it. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        int n = 0;

        if (!e || sscanf(e, "%llu:%llu%n", &dev, &ino, &n) != 2 || e[n] != '\0')
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

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

static void log_v(int prio, int r, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
static void log_v(int prio, int r, const char *fmt, va_list ap) {
        char buf[1024], prefix[8] = "";

        if (prio > log_max_level)
                return;
        /* threads of the bridge may race here: each computes the same value */
        if (log_prefixes < 0)
                log_prefixes = stderr_is_journal() || !isatty(STDERR_FILENO);
        if (log_prefixes)
                snprintf(prefix, sizeof(prefix), "<%d>", prio);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        if (r < 0)
                fprintf(stderr, "%s%s: %s\n", prefix, buf, strerror(-r));
        else
                fprintf(stderr, "%s%s\n", prefix, buf);
}

/* log_full() - log one line at @prio, if the level lets it through. */
void log_full(int prio, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_v(prio, 0, fmt, ap);
        va_end(ap);
}

/*
 * log_errno() - log one line at @prio with strerror(-@r) appended
 *
 * Return: @r, so that callers can `return log_errno(...)`; errno is kept.
 */
int log_errno(int prio, int r, const char *fmt, ...) {
        va_list ap;
        int saved = errno;

        va_start(ap, fmt);
        log_v(prio, r, fmt, ap);
        va_end(ap);
        errno = saved;
        return r;
}
