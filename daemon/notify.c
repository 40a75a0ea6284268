/* SPDX-License-Identifier: MIT */
/* notify.c — shmboxd and systemd: socket activation, readiness, status, reload, stop, watchdog.
 *
 * The unit is Type=notify: systemd considers the daemon started when it sends READY=1, which
 * manager_run() does only once the mailboxes are adopted and the socket is served, so a
 * `systemctl start` that returns means clients can work. A reload is framed by RELOADING=1 and
 * READY=1 (systemd 252 has no Type=notify-reload; ExecReload= is a synchronous control
 * request, and these two messages keep the unit's state right meanwhile). STOPPING=1 goes out
 * as soon as SIGTERM is seen.
 *
 * The watchdog is pinged from a timer of the event loop itself, at half the interval systemd
 * asks for: a loop that hangs stops pinging and systemd kills and restarts the daemon. The
 * same timer refreshes STATUS= (mailboxes and sessions) when the counts changed, so
 * `systemctl status` shows them without a message per request.
 *
 * libsystemd's calls do nothing when $NOTIFY_SOCKET or $LISTEN_FDS are not set, so the daemon
 * started by hand behaves as before: it binds its socket itself and notifies nobody.
 */
#include "config.h"

#include "daemon/notify.h"

#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "daemon/manager.h"
#include "log/log.h"
#include "proto/util.h"

/* STATUS= is refreshed at least this often when no watchdog asks for a faster tick. */
#define STATUS_REFRESH_USEC (UINT64_C(5) * 1000000)
#define STATUS_MAX 160

struct NotifyTimer {
        Manager *manager;
        struct event *ev;
        bool ping;   /* the watchdog is on, and pinged */
        bool warned; /* a failed notification was logged once already */
        char status[STATUS_MAX];
};

static void status_text(const Manager *m, char buf[STATUS_MAX]) {
        unsigned connected = 0;

        for (const Session *s = m->sessions; s; s = s->next)
                if (s->conn)
                        connected++;
        snprintf(buf, STATUS_MAX, "%u mailbox(es), %u client(s) connected, %u session(s) without connection",
                 m->n_mailboxes, connected, m->n_sessions - connected);
}

/*
 * notify_listen_fd() - the listening socket systemd passed (socket activation), if any
 * @ret_fd: the socket, owned by the caller, close-on-exec
 *
 * $LISTEN_FDS and $LISTEN_PID are removed from the environment either way.
 *
 * Return: 1 and @ret_fd; 0 if the daemon was not socket activated; -EINVAL if systemd passed
 *         anything but one listening AF_UNIX stream socket (the unit is wrong); another
 *         negative errno. @ret_fd is untouched unless 1 is returned.
 */
int notify_listen_fd(int *ret_fd) {
        int n, r;

        n = sd_listen_fds(1);
        if (n <= 0)
                return n;
        if (n > 1)
                return -EINVAL;
        r = sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0);
        if (r < 0)
                return r;
        if (r == 0)
                return -EINVAL;
        *ret_fd = SD_LISTEN_FDS_START;
        return 1;
}

static void notify_send(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notify_send(const char *what, const char *fmt, ...) {
        char msg[STATUS_MAX + 64];
        va_list ap;
        int r;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        r = sd_notify(0, msg);
        if (r < 0)
                log_errno(LOG_WARNING, r, "cannot tell systemd %s", what);
}

/*
 * notify_ready() - tell systemd that the daemon serves (READY=1), after start-up or a reload,
 * with the current counts in STATUS=
 */
void notify_ready(const Manager *m) {
        char status[STATUS_MAX];

        status_text(m, status);
        notify_send("that the daemon is ready", "READY=1\nSTATUS=%s", status);
}

/*
 * notify_reloading() - tell systemd that a reload has begun (RELOADING=1); notify_ready() ends it
 */
void notify_reloading(void) {
        struct timespec ts;

        /* MONOTONIC_USEC= is what systemd 253's Type=notify-reload wants beside RELOADING=1 */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        notify_send("that a reload begins", "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
                    (unsigned long long)ts.tv_sec * 1000000u + (unsigned long long)ts.tv_nsec / 1000u);
}

/*
 * notify_stopping() - tell systemd that the daemon is shutting down (STOPPING=1)
 */
void notify_stopping(void) {
        notify_send("that the daemon stops", "STOPPING=1\nSTATUS=stopping");
}

static void timer_cb(evutil_socket_t fd, short what, void *userdata) {
        NotifyTimer *t = userdata;
        char status[STATUS_MAX];
        bool changed;
        int r;

        status_text(t->manager, status);
        changed = strcmp(status, t->status) != 0;
        if (!t->ping && !changed)
                return;
        if (t->ping && changed)
                r = sd_notifyf(0, "WATCHDOG=1\nSTATUS=%s", status);
        else if (t->ping)
                r = sd_notify(0, "WATCHDOG=1");
        else
                r = sd_notifyf(0, "STATUS=%s", status);
        if (r < 0 && !t->warned) {
                log_errno(LOG_WARNING, r, "cannot ping systemd's watchdog or update the status");
                t->warned = true;
        }
        if (r > 0)
                memcpy(t->status, status, sizeof(status));
}

/* A test hook (crash-point builds only): start, get ready, then never ping the watchdog. */
static bool test_watchdog_stopped(void) {
#ifdef SHMBOX_CRASH_POINTS
        const char *e = getenv("SHMBOX_TEST_WATCHDOG_STOP");

        return e && strcmp(e, "1") == 0;
#else
        return false;
#endif
}

/*
 * notify_timer_new() - the timer of @m's event loop that pings systemd's watchdog (when the unit
 * has WatchdogSec=) and refreshes STATUS=; none when the daemon runs without systemd
 * @ret: the timer, to free with notify_timer_free() before @m's event base; NULL if none is needed
 *
 * Return: 0; -ENOMEM; a negative errno of sd_watchdog_enabled() ($WATCHDOG_USEC unparsable).
 */
int notify_timer_new(Manager *m, NotifyTimer **ret) {
        _cleanup_(notify_timer_freep) NotifyTimer *t = NULL;
        uint64_t usec = 0, interval = STATUS_REFRESH_USEC;
        const char *e = getenv("NOTIFY_SOCKET");
        struct timeval tv;
        int r;

        if (!e || !*e) {
                *ret = NULL;
                return 0;
        }
        r = sd_watchdog_enabled(0, &usec);
        if (r < 0)
                return r;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->manager = m;
        if (r > 0) {
                interval = MIN(MAX(usec / 2, UINT64_C(1000)), interval);
                t->ping = !test_watchdog_stopped();
                if (t->ping)
                        log_info("pinging systemd's watchdog every %llu ms", (unsigned long long)(interval / 1000));
                else
                        log_warning("SHMBOX_TEST_WATCHDOG_STOP=1: not pinging the watchdog (a test)");
        }
        t->ev = event_new(m->base, -1, EV_PERSIST, timer_cb, t);
        if (!t->ev)
                return -ENOMEM;
        tv = (struct timeval){ .tv_sec = (time_t)(interval / 1000000), .tv_usec = (suseconds_t)(interval % 1000000) };
        if (event_add(t->ev, &tv) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(t);
        return 0;
}

/*
 * notify_timer_free() - stop and free the timer; takes NULL
 *
 * Return: NULL.
 */
NotifyTimer *notify_timer_free(NotifyTimer *t) {
        if (!t)
                return NULL;
        if (t->ev)
                event_free(t->ev);
        free(t);
        return NULL;
}
