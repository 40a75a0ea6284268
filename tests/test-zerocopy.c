/* SPDX-License-Identifier: MIT */
/* End-to-end tests of zero-copy (reserve/commit/abort, peek/release), batches and the spin
 * setting: the same slot states and repair rules as send and recv — a reservation of a dead
 * writer is abandoned, a peek of a dead reader is delivered again.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/names.h"
#include "tests/harness.h"

static TestDaemon d;
static shmbox_client *client;
static shmbox *box;

static void setup(void) {
        struct shmbox_config cfg = { .slots = 4, .slot_size = 256 };

        harness_daemon_start(&d, NULL);
        client = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(client, "zc", &cfg), 0);
        ck_assert_int_eq(shmbox_attach(client, "zc", &box), 0);
}

static void teardown(void) {
        shmbox_detach(box);
        box = NULL;
        ck_assert_int_eq(shmbox_destroy(client, "zc"), 0);
        shmbox_disconnect(client);
        client = NULL;
        harness_daemon_done(&d);
}

static void expect(const char *what) {
        char buf[256];
        ssize_t n = shmbox_recv(box, buf, sizeof(buf), 1000);

        ck_assert_msg(n == (ssize_t)strlen(what) && memcmp(buf, what, (size_t)n) == 0,
                      "got %zd \"%.*s\", expected \"%s\"", n, (int)(n > 0 ? n : 0), buf, what);
}

static void expect_empty(void) {
        char buf[256];

        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), -EAGAIN);
}

START_TEST(test_a_reserved_slot_is_delivered_once_committed) {
        void *slot;

        ck_assert_int_eq(shmbox_reserve(box, 5, 0, &slot), 0);
        expect_empty(); /* not visible before the commit */
        memcpy(slot, "hello", 5);
        ck_assert_int_eq(shmbox_commit(box, slot, 5), 0);
        expect("hello");
        ck_assert_int_eq(shmbox_reserve(box, 257, 0, &slot), -EMSGSIZE);
        ck_assert_int_eq(shmbox_commit(box, slot, 5), -EINVAL); /* committed already: a caller's bug */
        ck_assert_int_eq(shmbox_commit(box, (char *)slot + 1, 5), -EINVAL);
        ck_assert_int_eq(shmbox_commit(box, &slot, 5), -EINVAL);
}
END_TEST

START_TEST(test_an_aborted_reservation_is_never_delivered_and_frees_its_slot) {
        void *slot;

        /* far more than the 4 slots: each abort must give its slot back */
        for (int i = 0; i < 40; i++) {
                ck_assert_int_eq(shmbox_reserve(box, 4, 0, &slot), 0);
                memcpy(slot, "junk", 4);
                ck_assert_int_eq(shmbox_abort(box, slot), 0);
                ck_assert_int_eq(shmbox_abort(box, slot), -EINVAL); /* a second abort */
        }
        expect_empty();
        ck_assert_int_eq(shmbox_send(box, "real", 4, 0), 0);
        expect("real");
        {
                struct shmbox_info info;
                ck_assert_int_eq(shmbox_info(client, "zc", &info), 0);
                ck_assert_uint_eq(info.sent, 1); /* aborted ones are not sent */
        }
}
END_TEST

START_TEST(test_several_reservations_may_be_held_at_once) {
        void *slot[4], *more;

        for (int i = 0; i < 4; i++)
                ck_assert_int_eq(shmbox_reserve(box, 1, 0, &slot[i]), 0);
        ck_assert_int_eq(shmbox_reserve(box, 1, 0, &more), -EAGAIN); /* every slot is held */
        for (int i = 3; i >= 0; i--) {
                *(char *)slot[i] = (char)('a' + i);
                ck_assert_int_eq(shmbox_commit(box, slot[i], 1), 0);
        }
        /* all committed: delivered in the order reserved */
        expect("a");
        expect("b");
        expect("c");
        expect("d");
}
END_TEST

START_TEST(test_a_peeked_message_counts_once_released) {
        const void *data;
        struct shmbox_info info;

        ck_assert_int_eq(shmbox_send(box, "first", 5, 0), 0);
        ck_assert_int_eq(shmbox_send(box, "second", 6, 0), 0);
        ck_assert_int_eq(shmbox_peek(box, 0, &data), 5);
        ck_assert(memcmp(data, "first", 5) == 0);
        /* held: another receive gets the next message */
        expect("second");
        ck_assert_int_eq(shmbox_release(box, data), 0);
        ck_assert_int_eq(shmbox_release(box, data), -EINVAL); /* a second release */
        expect_empty();
        ck_assert_int_eq(shmbox_info(client, "zc", &info), 0);
        ck_assert_uint_eq(info.received, 2);
        ck_assert_int_eq(shmbox_peek(box, 0, &data), -EAGAIN);
}
END_TEST

static pid_t child(const char *mode, char *line, size_t size) {
        const char *bin = getenv("SHMBOX_CRASH_CHILD");
        int p[2];
        pid_t pid;
        FILE *f;

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                dup2(p[1], STDOUT_FILENO);
                unsetenv("SHMBOX_CRASH_AT");
                execl(bin, bin, d.socket, "zc", mode, (char *)NULL);
                _exit(127);
        }
        close(p[1]);
        f = fdopen(p[0], "r");
        ck_assert(fgets(line, (int)size, f) && strcmp(line, "attached\n") == 0);
        ck_assert(fgets(line, (int)size, f));
        fclose(f);
        return pid;
}

static void wait_attached(uint32_t n) {
        struct shmbox_info info;

        for (int64_t dl = harness_now_us() + harness_ms(5000) * 1000LL;;) {
                ck_assert_int_eq(shmbox_info(client, "zc", &info), 0);
                if (info.attached == n)
                        return;
                ck_assert(harness_now_us() < dl);
                usleep(500);
        }
}

START_TEST(test_a_dead_writers_reservation_is_abandoned) {
        char line[64];
        pid_t pid = child("reserve", line, sizeof(line));

        ck_assert_str_eq(line, "reserved\n");
        kill(pid, SIGKILL);
        harness_wait_exit(pid, harness_ms(5000));
        wait_attached(1);
        expect_empty();               /* the half-written reservation never appears */
        for (int i = 0; i < 8; i++) { /* and its slot is reused */
                ck_assert_int_eq(shmbox_send(box, "after", 5, 0), 0);
                expect("after");
        }
}
END_TEST

START_TEST(test_a_dead_readers_peek_is_delivered_again) {
        struct shmbox_info info;
        char line[64];
        pid_t pid;

        ck_assert_int_eq(shmbox_send(box, "twice", 5, 0), 0);
        pid = child("peek", line, sizeof(line));
        ck_assert_str_eq(line, "peeked 5\n");
        kill(pid, SIGKILL);
        harness_wait_exit(pid, harness_ms(5000));
        wait_attached(1);
        expect("twice");
        ck_assert_int_eq(shmbox_info(client, "zc", &info), 0);
        ck_assert_uint_eq(info.recovered, 1);
}
END_TEST

START_TEST(test_batches_move_what_fits_in_order) {
        struct iovec msgs[6], bufs[8];
        char store[8][256];
        size_t lens[8];
        const char *text[] = { "m0", "m1", "m2", "m3", "m4", "m5" };

        for (int i = 0; i < 6; i++)
                msgs[i] = (struct iovec){ (void *)text[i], 2 };
        for (int i = 0; i < 8; i++)
                bufs[i] = (struct iovec){ store[i], sizeof(store[i]) };
        /* 4 slots: 4 go now, the caller sends the rest again */
        ck_assert_int_eq(shmbox_send_many(box, msgs, 6, 0), 4);
        ck_assert_int_eq(shmbox_recv_many(box, bufs, 8, lens, 0), 4);
        for (int i = 0; i < 4; i++) {
                ck_assert_uint_eq(lens[i], 2);
                ck_assert(memcmp(store[i], text[i], 2) == 0);
        }
        ck_assert_int_eq(shmbox_send_many(box, msgs + 4, 2, 0), 2);
        ck_assert_int_eq(shmbox_recv_many(box, bufs, 1, lens, 0), 1);
        ck_assert(memcmp(store[0], "m4", 2) == 0);
        ck_assert_int_eq(shmbox_recv_many(box, bufs, 8, lens, 0), 1);
        ck_assert(memcmp(store[0], "m5", 2) == 0);
        ck_assert_int_eq(shmbox_recv_many(box, bufs, 8, lens, 0), -EAGAIN);

        /* a message longer than the smallest buffer ends the batch before it */
        ck_assert_int_eq(shmbox_send(box, "ab", 2, 0), 0);
        ck_assert_int_eq(shmbox_send(box, "abcdef", 6, 0), 0);
        bufs[1].iov_len = 4;
        ck_assert_int_eq(shmbox_recv_many(box, bufs, 2, lens, 0), 1);
        ck_assert_int_eq(shmbox_recv_many(box, bufs + 1, 1, lens, 0), -EMSGSIZE);
        expect("abcdef");
        ck_assert_int_eq(shmbox_send_many(box, msgs, 0, 0), -EINVAL);
}
END_TEST

START_TEST(test_the_spin_is_bounded_and_can_be_turned_off) {
        char buf[8];
        int64_t t0;

        ck_assert_int_eq(shmbox_set_spin(box, 1000001), -EINVAL);
        ck_assert_int_eq(shmbox_set_spin(box, 0), 0);
        t0 = harness_now_us();
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 20), -ETIMEDOUT);
        ck_assert_int_ge(harness_now_us() - t0, 20000);
        ck_assert_int_eq(shmbox_set_spin(box, 50), 0);
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 20), -ETIMEDOUT);
}
END_TEST

static bool readable(int fd, int timeout_ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

START_TEST(test_the_event_fd_is_readable_while_messages_are_queued) {
        int fd = shmbox_fd(box);
        char buf[16];
        pid_t pid;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(shmbox_fd(box), fd);
        ck_assert(!readable(fd, 0));
        ck_assert_int_eq(shmbox_send(box, "a", 1, 0), 0);
        ck_assert_int_eq(shmbox_send(box, "b", 1, 0), 0);
        ck_assert(readable(fd, 0));
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), 1);
        ck_assert(readable(fd, 0)); /* one is still queued */
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), 1);
        ck_assert(!readable(fd, 0));
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), -EAGAIN);

        /* a sender in another process wakes a loop that sleeps in poll() */
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                shmbox_client *c;
                shmbox *b;

                usleep(50 * 1000);
                if (shmbox_connect(d.socket, &c) < 0 || shmbox_attach(c, "zc", &b) < 0 || shmbox_send(b, "z", 1, 0) < 0)
                        _exit(1);
                shmbox_detach(b);
                shmbox_disconnect(c);
                _exit(0);
        }
        ck_assert(readable(fd, harness_ms(5000)));
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), 1);
        ck_assert_int_eq(buf[0], 'z');
        ck_assert(!readable(fd, 0));
        ck_assert_int_eq(harness_wait_exit(pid, harness_ms(5000)), 0);
}
END_TEST

/* The peeker of test_a_poll_based_receiver_*: peek the oldest message, say so, hold it. */
static void peeker_main(const void *arg, int wfd) {
        shmbox_client *c;
        shmbox *b;
        const void *data;
        ssize_t n;

        (void)arg;
        if (shmbox_connect(d.socket, &c) < 0 || shmbox_attach(c, "zc", &b) < 0)
                _exit(1);
        n = shmbox_peek(b, 1000, &data);
        harness_child_report(wfd, n);
        for (;;)
                pause();
}

/* Defect 5b (issue 13): a message a repair put back as READY did not signal the FIFO (the
 * daemon kept none open), so an event loop slept until its own timeout while it was queued. */
START_TEST(test_a_poll_based_receiver_wakes_when_a_dead_peekers_message_is_redelivered) {
        int fd = shmbox_fd(box);
        HarnessChild peeker;
        int64_t t0, delay;
        char buf[16];
        bool woke;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(shmbox_send(box, "held", 4, 0), 0);
        peeker = harness_child_spawn(peeker_main, NULL);
        ck_assert_int_eq(harness_child_read(&peeker, harness_ms(5000)), 4);
        /* the event loop's turn: nothing takeable (the one message is peeked), the FIFO settled */
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), -EAGAIN);
        ck_assert(!readable(fd, 0));

        t0 = harness_now_us();
        ck_assert_int_eq(kill(peeker.pid, SIGKILL), 0);
        woke = readable(fd, harness_ms(2000));
        delay = harness_now_us() - t0;
        printf("fifo: a poll()-based receiver %s %lld us after the peeker's SIGKILL\n", woke ? "woke" : "still asleep",
               (long long)delay);
        fflush(stdout);
        (void)waitpid(peeker.pid, NULL, 0);
        close(peeker.fd);
        ck_assert_msg(woke, "the redelivered message never made the FIFO readable");
        ck_assert_msg(delay < harness_ms(200) * 1000LL, "the FIFO became readable only %lld us after the death",
                      (long long)delay);
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), 4);
        ck_assert(!readable(fd, 0));
}
END_TEST

/* The daemon opens the FIFO by name to signal it; what a peer of the daemon's uid may put at
 * that name instead is neither written to nor waited on. */
START_TEST(test_a_fifo_replaced_by_a_regular_file_is_not_written_and_does_not_stall_the_daemon) {
        char path[NAMES_OBJECT_MAX + 16];
        struct shmbox_stat st;
        struct shmbox_info info;
        HarnessChild peeker;
        struct stat fst;
        int fd;

        ck_assert_int_ge(shmbox_fd(box), 0);
        ck_assert_int_eq(shmbox_stat(box, &st), 0);
        ck_assert_int_ge(names_fifo(path, sizeof(path), d.prefix, "zc", st.generation), 0);
        ck_assert_int_eq(unlink(path), 0);
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(shmbox_send(box, "held", 4, 0), 0);
        peeker = harness_child_spawn(peeker_main, NULL);
        ck_assert_int_eq(harness_child_read(&peeker, harness_ms(5000)), 4);
        ck_assert_int_eq(kill(peeker.pid, SIGKILL), 0);
        (void)waitpid(peeker.pid, NULL, 0);
        close(peeker.fd);
        /* the repair ran (the message is back) and the daemon still answers */
        ck_assert_int_eq(shmbox_recv(box, NULL, 0, harness_ms(2000)), 4);
        ck_assert_int_eq(shmbox_info(client, "zc", &info), 0);
        ck_assert_int_eq(fstat(fd, &fst), 0);
        ck_assert_int_eq(fst.st_size, 0);
        close(fd);
        ck_assert_int_eq(unlink(path), 0);
}
END_TEST

/* The path of the mailbox's FIFO, which any process with access may open. */
static void fifo_path(char *path, size_t size) {
        struct shmbox_stat st;

        ck_assert_int_eq(shmbox_stat(box, &st), 0);
        ck_assert_int_ge(names_fifo(path, size, d.prefix, "zc", st.generation), 0);
}

/* Defect 5c (issue 13): a peer that read the FIFO's byte left it empty while fifo_signaled
 * said "written", so no later send wrote it again: a poll() without timeout slept for good. */
START_TEST(test_a_stolen_wake_up_byte_is_written_again_by_the_next_send) {
        char path[NAMES_OBJECT_MAX + 16], byte, buf[16];
        int fd = shmbox_fd(box), thief;
        bool woke;

        ck_assert_int_ge(fd, 0);
        fifo_path(path, sizeof(path));
        thief = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        ck_assert_int_ge(thief, 0);
        ck_assert_int_eq(shmbox_send(box, "1", 1, 0), 0);
        ck_assert_int_eq(read(thief, &byte, 1), 1); /* the theft */
        ck_assert(!readable(fd, 0));
        usleep(10 * 1000); /* longer than the receivers have to settle a signal */
        ck_assert_int_eq(shmbox_send(box, "2", 1, 0), 0);
        woke = readable(fd, harness_ms(1000));
        printf("fifo: after a stolen byte, the next send %s the FIFO readable\n", woke ? "made" : "did not make");
        fflush(stdout);
        ck_assert(woke);
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), 1);
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), 1);
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), -EAGAIN);
        close(thief);
}
END_TEST

#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define THEFT_MSGS 40
#define THEFT_POLL_MS 50 /* the receiver's poll timeout: the bound shmbox(3) states */

/* A peer that reads every byte the FIFO ever holds. */
static void thief_main(const void *arg, int wfd) {
        const char *path = arg;
        char buf[64];
        int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

        harness_child_report(wfd, fd >= 0 ? 0 : -errno);
        for (;;)
                if (read(fd, buf, sizeof(buf)) <= 0)
                        usleep(20);
}

/* Sends THEFT_MSGS messages, each its send time, 0-20 ms apart. */
static void timed_sender_main(const void *arg, int wfd) {
        shmbox_client *c;
        shmbox *b;
        uint64_t seed = 7;

        (void)arg;
        if (shmbox_connect(d.socket, &c) < 0 || shmbox_attach(c, "zc", &b) < 0)
                _exit(1);
        harness_child_report(wfd, 0);
        for (int i = 0; i < THEFT_MSGS; i++) {
                int64_t t;

                seed = seed * 6364136223846793005u + 1442695040888963407u;
                usleep((useconds_t)((seed >> 33) % 20000));
                t = harness_now_us();
                if (shmbox_send(b, &t, sizeof(t), 1000) < 0)
                        _exit(2);
        }
        harness_child_report(wfd, harness_run_delay_us());
        _exit(0);
}

/* Defect 5c: with a peer reading the FIFO all the time, no wake-up byte can be relied on. A
 * receiver that follows shmbox(3) — poll with a timeout, and receive with timeout 0 after every
 * return of poll — gets every message within that timeout. */
START_TEST(test_a_poll_based_receiver_gets_every_message_within_its_poll_timeout_despite_a_thief) {
        char path[NAMES_OBJECT_MAX + 16];
        HarnessChild thief, sender;
        int fd = shmbox_fd(box), got = 0;
        int64_t worst = 0, until, delay0, delay1, sender_delay, allowed;

        ck_assert_int_ge(fd, 0);
        fifo_path(path, sizeof(path));
        thief = harness_child_spawn(thief_main, path);
        ck_assert_int_eq(harness_child_read(&thief, harness_ms(5000)), 0);
        sender = harness_child_spawn(timed_sender_main, NULL);
        ck_assert_int_eq(harness_child_read(&sender, harness_ms(5000)), 0);
        until = harness_now_us() + harness_ms(10000) * 1000LL;
        delay0 = harness_run_delay_us();
        while (got < THEFT_MSGS && harness_now_us() < until) {
                int64_t t;
                ssize_t n;

                (void)readable(fd, THEFT_POLL_MS);
                while ((n = shmbox_recv(box, &t, sizeof(t), 0)) == (ssize_t)sizeof(t)) {
                        worst = MAX(worst, harness_now_us() - t);
                        got++;
                }
                ck_assert_int_eq(n, -EAGAIN);
        }
        delay1 = harness_run_delay_us();
        kill(thief.pid, SIGKILL);
        (void)waitpid(thief.pid, NULL, 0);
        close(thief.fd);
        sender_delay = harness_child_read(&sender, harness_ms(5000));
        ck_assert_int_eq(harness_wait_exit(sender.pid, harness_ms(5000)), 0);
        close(sender.fd);
        /* the poll timeout, some slack, and whatever the scheduler held either side for (both
         * are -1 where the kernel does not say: then none) */
        allowed = (THEFT_POLL_MS + harness_ms(30)) * 1000LL + MAX(delay1 - delay0, 0) + MAX(sender_delay, 0);
        printf("fifo: a thief reading the FIFO; %d of %d messages, the latest %lld us after its send "
               "(poll timeout %d ms; the receiver waited %lld us for a CPU, the sender %lld us)\n",
               got, THEFT_MSGS, (long long)worst, THEFT_POLL_MS, (long long)(delay1 - delay0), (long long)sender_delay);
        fflush(stdout);
        ck_assert_int_eq(got, THEFT_MSGS);
        ck_assert_int_le(worst, allowed);
}
END_TEST

static Suite *zerocopy_suite(void) {
        Suite *s = suite_create("zerocopy");
        TCase *tc = tcase_create("in place and in batches");

        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30 * harness_scale());
        tcase_add_test(tc, test_a_reserved_slot_is_delivered_once_committed);
        tcase_add_test(tc, test_an_aborted_reservation_is_never_delivered_and_frees_its_slot);
        tcase_add_test(tc, test_several_reservations_may_be_held_at_once);
        tcase_add_test(tc, test_a_peeked_message_counts_once_released);
        tcase_add_test(tc, test_a_dead_writers_reservation_is_abandoned);
        tcase_add_test(tc, test_a_dead_readers_peek_is_delivered_again);
        tcase_add_test(tc, test_batches_move_what_fits_in_order);
        tcase_add_test(tc, test_the_spin_is_bounded_and_can_be_turned_off);
        tcase_add_test(tc, test_the_event_fd_is_readable_while_messages_are_queued);
        tcase_add_test(tc, test_a_poll_based_receiver_wakes_when_a_dead_peekers_message_is_redelivered);
        tcase_add_test(tc, test_a_fifo_replaced_by_a_regular_file_is_not_written_and_does_not_stall_the_daemon);
        tcase_add_test(tc, test_a_stolen_wake_up_byte_is_written_again_by_the_next_send);
        tcase_add_test(tc, test_a_poll_based_receiver_gets_every_message_within_its_poll_timeout_despite_a_thief);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(zerocopy_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
