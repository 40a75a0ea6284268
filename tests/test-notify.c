/* SPDX-License-Identifier: MIT */
/* test-notify.c — unit tests for daemon/notify: the socket systemd passes, and what the daemon
 * tells systemd (readiness, reload, stop, watchdog pings, status) on a $NOTIFY_SOCKET of the
 * test's own. tests/systemd/run.sh checks the same under a real systemd. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/manager.h"
#include "daemon/notify.h"

static char dir[] = "/tmp/shmbox-notify.XXXXXX";
static char notify_path[sizeof(dir) + 16], listen_path[sizeof(dir) + 16];
static int notify_fd = -1;
static Manager *m;

/* A datagram socket that stands in for systemd's $NOTIFY_SOCKET, and a manager to report on. */
static void setup(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(notify_path, sizeof(notify_path), "%s/notify", dir);
        snprintf(listen_path, sizeof(listen_path), "%s/listen", dir);
        strcpy(sa.sun_path, notify_path);
        notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(notify_fd, 0);
        ck_assert_int_eq(bind(notify_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(setenv("NOTIFY_SOCKET", notify_path, 1), 0);
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");

        m = calloc(1, sizeof(*m));
        ck_assert_ptr_nonnull(m);
        m->base = event_base_new();
        ck_assert_ptr_nonnull(m->base);
        m->n_mailboxes = 2;
}

static void teardown(void) {
        event_base_free(m->base);
        free(m);
        close(notify_fd);
        unlink(notify_path);
        unlink(listen_path);
        rmdir(dir);
}

/* The next message on the notify socket, or "" if none comes within @ms. */
static const char *next_message(int ms) {
        static char buf[512];
        struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
        ssize_t n;

        ck_assert_int_eq(setsockopt(notify_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
        n = recv(notify_fd, buf, sizeof(buf) - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        return buf;
}

/* Run @m's loop for @ms and count the WATCHDOG=1 pings that arrived meanwhile. */
static int pings_within(int ms) {
        struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
        int pings = 0;
        const char *msg;

        event_base_loopexit(m->base, &tv);
        event_base_dispatch(m->base);
        while (*(msg = next_message(10)))
                if (strstr(msg, "WATCHDOG=1"))
                        pings++;
        return pings;
}

/* --- readiness, reload, stop ------------------------------------------------------------- */

START_TEST(test_ready_carries_the_mailbox_and_session_counts) {
        notify_ready(m);
        ck_assert_str_eq(next_message(1000),
                         "READY=1\nSTATUS=2 mailbox(es), 0 client(s) connected, 0 session(s) without connection");
}
END_TEST

START_TEST(test_reloading_says_reloading_with_a_monotonic_timestamp) {
        const char *msg;

        notify_reloading();
        msg = next_message(1000);
        ck_assert_msg(strncmp(msg, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=", 44) == 0, "got \"%s\"", msg);
}
END_TEST

START_TEST(test_stopping_says_stopping) {
        notify_stopping();
        ck_assert_str_eq(next_message(1000), "STOPPING=1\nSTATUS=stopping");
}
END_TEST

START_TEST(test_without_notify_socket_nothing_is_sent_and_no_timer_is_made) {
        NotifyTimer *t = (NotifyTimer *)&t; /* must be overwritten */

        unsetenv("NOTIFY_SOCKET");
        notify_ready(m);
        notify_stopping();
        ck_assert_str_eq(next_message(100), "");
        ck_assert_int_eq(notify_timer_new(m, &t), 0);
        ck_assert_ptr_null(t);
}
END_TEST

/* --- the watchdog timer -------------------------------------------------------------------- */

START_TEST(test_the_watchdog_is_pinged_at_half_its_interval) {
        NotifyTimer *t = NULL;
        int pings;

        ck_assert_int_eq(setenv("WATCHDOG_USEC", "100000", 1), 0);
        ck_assert_int_eq(notify_timer_new(m, &t), 0);
        ck_assert_ptr_nonnull(t);
        pings = pings_within(320);
        ck_assert_msg(pings >= 3 && pings <= 7, "%d pings in 320 ms at 50 ms", pings);
        notify_timer_free(t);
}
END_TEST

START_TEST(test_the_first_tick_also_sends_the_status) {
        NotifyTimer *t = NULL;
        struct timeval tv = { 0, 70000 };

        ck_assert_int_eq(setenv("WATCHDOG_USEC", "100000", 1), 0);
        ck_assert_int_eq(notify_timer_new(m, &t), 0);
        event_base_loopexit(m->base, &tv);
        event_base_dispatch(m->base);
        ck_assert_str_eq(next_message(100),
                         "WATCHDOG=1\nSTATUS=2 mailbox(es), 0 client(s) connected, 0 session(s) without connection");
        notify_timer_free(t);
}
END_TEST

START_TEST(test_a_watchdog_of_another_pid_is_not_pinged) {
        NotifyTimer *t = NULL;

        ck_assert_int_eq(setenv("WATCHDOG_USEC", "100000", 1), 0);
        ck_assert_int_eq(setenv("WATCHDOG_PID", "1", 1), 0);
        ck_assert_int_eq(notify_timer_new(m, &t), 0);
        ck_assert_int_eq(pings_within(200), 0);
        notify_timer_free(t);
}
END_TEST

START_TEST(test_the_test_hook_stops_the_pings) {
#ifdef SHMBOX_CRASH_POINTS
        NotifyTimer *t = NULL;

        ck_assert_int_eq(setenv("WATCHDOG_USEC", "100000", 1), 0);
        ck_assert_int_eq(setenv("SHMBOX_TEST_WATCHDOG_STOP", "1", 1), 0);
        ck_assert_int_eq(notify_timer_new(m, &t), 0);
        ck_assert_int_eq(pings_within(200), 0);
        notify_timer_free(t);
#endif
}
END_TEST

START_TEST(test_freeing_no_timer_is_fine) {
        ck_assert_ptr_null(notify_timer_free(NULL));
}
END_TEST

/* --- socket activation ------------------------------------------------------------------- */

static void pass_fds(int n) {
        char pid[16], count[16];

        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        snprintf(count, sizeof(count), "%d", n);
        ck_assert_int_eq(setenv("LISTEN_PID", pid, 1), 0);
        ck_assert_int_eq(setenv("LISTEN_FDS", count, 1), 0);
}

/* A listening AF_UNIX stream socket at fd 3, as systemd passes it. */
static void listening_socket_at_fd3(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);

        strcpy(sa.sun_path, listen_path);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(fd, 4), 0);
        ck_assert_int_eq(dup2(fd, 3), 3);
        if (fd != 3)
                close(fd);
}

START_TEST(test_without_listen_fds_the_daemon_binds_itself) {
        int fd = -7;

        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_PID");
        ck_assert_int_eq(notify_listen_fd(&fd), 0);
        ck_assert_int_eq(fd, -7);
}
END_TEST

START_TEST(test_a_passed_listening_unix_socket_is_taken) {
        int fd = -7;

        listening_socket_at_fd3();
        pass_fds(1);
        ck_assert_int_eq(notify_listen_fd(&fd), 1);
        ck_assert_int_eq(fd, 3);
        ck_assert_ptr_null(getenv("LISTEN_FDS"));
}
END_TEST

START_TEST(test_listen_fds_for_another_pid_are_ignored) {
        int fd = -7;

        listening_socket_at_fd3();
        pass_fds(1);
        ck_assert_int_eq(setenv("LISTEN_PID", "1", 1), 0);
        ck_assert_int_eq(notify_listen_fd(&fd), 0);
        ck_assert_int_eq(fd, -7);
}
END_TEST

START_TEST(test_a_passed_pipe_is_einval) {
        int p[2], fd = -7;

        ck_assert_int_eq(pipe(p), 0);
        ck_assert_int_eq(dup2(p[0], 3), 3);
        pass_fds(1);
        ck_assert_int_eq(notify_listen_fd(&fd), -EINVAL);
        ck_assert_int_eq(fd, -7);
}
END_TEST

START_TEST(test_two_passed_sockets_are_einval) {
        int fd = -7;

        listening_socket_at_fd3();
        ck_assert_int_eq(dup2(3, 4), 4);
        pass_fds(2);
        ck_assert_int_eq(notify_listen_fd(&fd), -EINVAL);
        ck_assert_int_eq(fd, -7);
}
END_TEST

static Suite *notify_suite(void) {
        Suite *s = suite_create("notify");
        TCase *tc;

        tc = tcase_create("readiness, reload and stop");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_ready_carries_the_mailbox_and_session_counts);
        tcase_add_test(tc, test_reloading_says_reloading_with_a_monotonic_timestamp);
        tcase_add_test(tc, test_stopping_says_stopping);
        tcase_add_test(tc, test_without_notify_socket_nothing_is_sent_and_no_timer_is_made);
        suite_add_tcase(s, tc);

        tc = tcase_create("watchdog");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_the_watchdog_is_pinged_at_half_its_interval);
        tcase_add_test(tc, test_the_first_tick_also_sends_the_status);
        tcase_add_test(tc, test_a_watchdog_of_another_pid_is_not_pinged);
        tcase_add_test(tc, test_the_test_hook_stops_the_pings);
        tcase_add_test(tc, test_freeing_no_timer_is_fine);
        suite_add_tcase(s, tc);

        tc = tcase_create("socket activation");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_without_listen_fds_the_daemon_binds_itself);
        tcase_add_test(tc, test_a_passed_listening_unix_socket_is_taken);
        tcase_add_test(tc, test_listen_fds_for_another_pid_are_ignored);
        tcase_add_test(tc, test_a_passed_pipe_is_einval);
        tcase_add_test(tc, test_two_passed_sockets_are_einval);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(notify_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
