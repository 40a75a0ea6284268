/* SPDX-License-Identifier: MIT */
/* notify.h — shmboxd and systemd: the socket passed by socket activation, readiness, status,
 * reload, stop and the watchdog ping (sd_notify). Without systemd every call does nothing. */
#pragma once

typedef struct Manager Manager;
typedef struct NotifyTimer NotifyTimer;

int notify_listen_fd(int *ret_fd);

void notify_ready(const Manager *m);
void notify_reloading(void);
void notify_stopping(void);

int notify_timer_new(Manager *m, NotifyTimer **ret);
NotifyTimer *notify_timer_free(NotifyTimer *t);
static inline void notify_timer_freep(NotifyTimer **t) {
        notify_timer_free(*t);
}
