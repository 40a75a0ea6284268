/* SPDX-License-Identifier: MIT */
/* End-to-end fault injection: the daemon's and the library's resource acquisitions fail on
 * purpose (SHMBOX_FAIL_AT, see proto/crash.h) with ENOSPC, EMFILE or ENOMEM. Every failure gives
 * the caller a clear error, no half-made mailbox becomes visible, nothing leaks in /dev/shm or in
 * the daemon's books, and the next attempt works.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/harness.h"

static TestDaemon d;

/* Failures in the daemon while it creates a mailbox. */
static const struct {
        const char *fail_at;
        int expect;
} create_faults[] = {
        { "shm_open:ENOSPC", -ENOSPC },       { "ftruncate:ENOSPC", -ENOSPC }, { "fallocate:ENOSPC", -ENOSPC },
        { "mmap:ENOMEM", -ENOMEM },           { "sem_open:EMFILE", -EMFILE },  { "sem_open:ENOSPC:3", -ENOSPC },
        { "malloc_mailbox:ENOMEM", -ENOMEM },
};

START_TEST(test_a_create_that_fails_leaves_nothing_and_the_next_one_works) {
        struct shmbox_config cfg = { .slots = 4, .slot_size = 128 };
        struct shmbox_info info;
        shmbox_client *c;
        int r;

        harness_daemon_start(&d, NULL);
        harness_daemon_stop(&d);
        snprintf(d.fail_at, sizeof(d.fail_at), "%s", create_faults[_i].fail_at);
        harness_daemon_restart(&d);
        c = harness_connect(&d);
        r = shmbox_create(c, "faulty", &cfg);
        printf("fault %-24s create -> %s\n", create_faults[_i].fail_at, shmbox_strerror(r));
        ck_assert_int_eq(r, create_faults[_i].expect);
        /* nothing visible, nothing left but the daemon's lock file */
        ck_assert_int_eq(shmbox_info(c, "faulty", &info), -ENOENT);
        ck_assert_uint_eq(harness_count_objects(d.prefix), 1);
        /* the fault fires once: the same create works now, and the mailbox is whole */
        ck_assert_int_eq(shmbox_create(c, "faulty", &cfg), 0);
        {
                shmbox *box;
                char buf[128];
                ck_assert_int_eq(shmbox_attach(c, "faulty", &box), 0);
                ck_assert_int_eq(shmbox_send(box, "ok", 2, 0), 0);
                ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), 2);
                shmbox_detach(box);
        }
        ck_assert_int_eq(shmbox_destroy(c, "faulty"), 0);
        shmbox_disconnect(c);
        d.fail_at[0] = 0;
        harness_daemon_done(&d);
}
END_TEST

/* Failures while a client attaches: in the daemon (its books) or in the library (mapping). */
static const struct {
        const char *fail_at;
        bool in_client;
        int expect;
} attach_faults[] = {
        { "malloc_attach:ENOMEM", false, -ENOMEM },
        { "client_shm_open:EMFILE", true, -EMFILE },
        { "client_mmap:ENOMEM", true, -ENOMEM },
        { "client_sem_open:EMFILE:2", true, -EMFILE },
};

START_TEST(test_an_attach_that_fails_is_released_by_the_daemon) {
        struct shmbox_info info;
        shmbox_client *c;
        shmbox *box;
        int r;

        harness_daemon_start(&d, NULL);
        if (!attach_faults[_i].in_client) {
                harness_daemon_stop(&d);
                snprintf(d.fail_at, sizeof(d.fail_at), "%s", attach_faults[_i].fail_at);
                harness_daemon_restart(&d);
        }
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "att", NULL), 0);
        if (attach_faults[_i].in_client)
                setenv("SHMBOX_FAIL_AT", attach_faults[_i].fail_at, 1); /* read at the first point */
        r = shmbox_attach(c, "att", &box);
        printf("fault %-24s attach -> %s\n", attach_faults[_i].fail_at, shmbox_strerror(r));
        ck_assert_int_eq(r, attach_faults[_i].expect);
        /* the daemon's books: nothing attached (a failed client attach detaches at once) */
        ck_assert_int_eq(shmbox_info(c, "att", &info), 0);
        ck_assert_uint_eq(info.attached, 0);
        ck_assert_int_eq(shmbox_attach(c, "att", &box), 0);
        shmbox_detach(box);
        ck_assert_int_eq(shmbox_destroy(c, "att"), 0);
        shmbox_disconnect(c);
        d.fail_at[0] = 0;
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_a_failing_accept_refuses_that_client_and_serves_the_next) {
        shmbox_client *c = NULL;
        int r, refused = 0;
        int64_t deadline;

        harness_daemon_start(&d, NULL);
        harness_daemon_stop(&d);
        /* the harness's own readiness probe is the first connection: fail the second */
        snprintf(d.fail_at, sizeof(d.fail_at), "accept:EMFILE:2");
        harness_daemon_restart(&d);
        deadline = harness_now_us() + harness_ms(5000) * 1000LL;
        while ((r = shmbox_connect(d.socket, &c)) < 0) {
                ck_assert_int_eq(r, -ECONNREFUSED);
                refused++;
                ck_assert(harness_now_us() < deadline);
                usleep(10 * 1000);
        }
        printf("fault accept:EMFILE            %d connect(s) refused, then served\n", refused);
        ck_assert_int_eq(refused, 1);
        ck_assert_int_eq(shmbox_create(c, "after", NULL), 0);
        ck_assert_int_eq(shmbox_destroy(c, "after"), 0);
        shmbox_disconnect(c);
        d.fail_at[0] = 0;
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_a_connection_the_daemon_has_no_memory_for_is_refused) {
        shmbox_client *c;

        harness_daemon_start(&d, NULL);
        harness_daemon_stop(&d);
        snprintf(d.fail_at, sizeof(d.fail_at), "malloc_conn:ENOMEM:2");
        harness_daemon_restart(&d);
        ck_assert_int_eq(shmbox_connect(d.socket, &c), -ECONNREFUSED);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "after", NULL), 0);
        ck_assert_int_eq(shmbox_destroy(c, "after"), 0);
        shmbox_disconnect(c);
        d.fail_at[0] = 0;
        harness_daemon_done(&d);
}
END_TEST

static Suite *faults_suite(void) {
        Suite *s = suite_create("faults");
        TCase *tc = tcase_create("resources that fail");

        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_set_timeout(tc, 30 * harness_scale());
        tcase_add_loop_test(tc, test_a_create_that_fails_leaves_nothing_and_the_next_one_works, 0,
                            (int)(sizeof(create_faults) / sizeof(create_faults[0])));
        tcase_add_loop_test(tc, test_an_attach_that_fails_is_released_by_the_daemon, 0,
                            (int)(sizeof(attach_faults) / sizeof(attach_faults[0])));
        tcase_add_test(tc, test_a_failing_accept_refuses_that_client_and_serves_the_next);
        tcase_add_test(tc, test_a_connection_the_daemon_has_no_memory_for_is_refused);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr;
        int failed;

#ifndef SHMBOX_CRASH_POINTS
        fprintf(stderr, "SKIP: test-faults needs the fault points: ./configure --enable-crash-points\n");
        return 77;
#endif
        sr = srunner_create(faults_suite());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
