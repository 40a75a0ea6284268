/* SPDX-License-Identifier: MIT */
/* test-psem.c — unit tests for proto/psem: glibc's semaphore protocol, without glibc's aborts. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/psem.h"

#define PATIENCE_MS 5000

/* A process-shared semaphore in a shared anonymous mapping, set up by glibc, as the daemon's
 * (sem_open() is sem_init(pshared 1) on a file mapping). */
static sem_t *sem;

static void setup(void) {
        sem = mmap(NULL, sizeof(*sem), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ck_assert_ptr_ne(sem, MAP_FAILED);
        ck_assert_int_eq(sem_init(sem, 1, 0), 0);
}

static void teardown(void) {
        sem_destroy(sem);
        munmap(sem, sizeof(*sem));
}

static struct timespec in_ms_on(clockid_t clock, long ms) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        return ts;
}

static struct timespec in_ms(long ms) {
        return in_ms_on(CLOCK_MONOTONIC, ms);
}

/* The waiter count glibc keeps in the high half of the data word (psem.h). */
static uint32_t waiters(void) {
        uint64_t d;

        memcpy(&d, sem, sizeof(d));
        return (uint32_t)(d >> 32);
}

/* Wait until a child has registered as a waiter, then give it a moment to enter the futex. */
static void wait_for_sleeper(void) {
        for (int i = 0; i < PATIENCE_MS && waiters() == 0; i++)
                usleep(1000);
        ck_assert_uint_eq(waiters(), 1);
        usleep(20000);
}

static int reap(pid_t pid) {
        int status;

        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        return status;
}

START_TEST(test_a_psem_post_is_counted_by_sem_getvalue) {
        int v;

        ck_assert_int_eq(psem_post(sem), 0);
        ck_assert_int_eq(sem_getvalue(sem, &v), 0);
        ck_assert_int_eq(v, 1);
        ck_assert_int_eq(psem_getvalue(sem, &v), 0);
        ck_assert_int_eq(v, 1);
}
END_TEST

START_TEST(test_a_sem_post_is_taken_by_psem_trywait_once) {
        ck_assert_int_eq(sem_post(sem), 0);
        ck_assert_int_eq(psem_trywait(sem), 0);
        ck_assert_int_eq(psem_trywait(sem), -EAGAIN);
        ck_assert_int_eq(sem_trywait(sem), -1);
        ck_assert_int_eq(errno, EAGAIN);
}
END_TEST

START_TEST(test_a_glibc_sleeper_in_another_process_is_woken_by_psem_post) {
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct timespec until = in_ms(PATIENCE_MS);

                _exit(sem_clockwait(sem, CLOCK_MONOTONIC, &until) == 0 ? 0 : 1);
        }
        wait_for_sleeper();
        ck_assert_int_eq(psem_post(sem), 0);
        ck_assert_int_eq(reap(pid), 0);
        ck_assert_uint_eq(waiters(), 0);
}
END_TEST

START_TEST(test_a_psem_sleeper_in_another_process_is_woken_by_sem_post) {
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct timespec until = in_ms(PATIENCE_MS);

                _exit(psem_clockwait(sem, CLOCK_MONOTONIC, &until) == 0 ? 0 : 1);
        }
        wait_for_sleeper();
        ck_assert_int_eq(sem_post(sem), 0);
        ck_assert_int_eq(reap(pid), 0);
        ck_assert_uint_eq(waiters(), 0);
}
END_TEST

START_TEST(test_a_psem_sleeper_on_the_realtime_clock_is_woken_by_psem_post) {
        int v;
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct timespec until = in_ms_on(CLOCK_REALTIME, PATIENCE_MS);

                _exit(psem_clockwait(sem, CLOCK_REALTIME, &until) == 0 ? 0 : 1);
        }
        wait_for_sleeper();
        ck_assert_int_eq(psem_post(sem), 0);
        ck_assert_int_eq(reap(pid), 0);
        ck_assert_int_eq(psem_getvalue(sem, &v), 0);
        ck_assert_int_eq(v, 0);
        ck_assert_uint_eq(waiters(), 0);
}
END_TEST

START_TEST(test_a_wait_past_its_deadline_is_etimedout_and_leaves_no_waiter) {
        struct timespec until = in_ms(10);

        ck_assert_int_eq(psem_clockwait(sem, CLOCK_MONOTONIC, &until), -ETIMEDOUT);
        ck_assert_uint_eq(waiters(), 0);
}
END_TEST

START_TEST(test_a_bad_clock_or_deadline_is_einval) {
        struct timespec until = in_ms(10);

        ck_assert_int_eq(psem_clockwait(sem, CLOCK_PROCESS_CPUTIME_ID, &until), -EINVAL);
        until.tv_nsec = 1000000000L;
        ck_assert_int_eq(psem_clockwait(sem, CLOCK_MONOTONIC, &until), -EINVAL);
}
END_TEST

/* --- scribbled memory ----------------------------------------------------------------------- */

/* Random bytes over the whole sem_t, the `private` field included, as the attacker writes them.
 * Loop index: the seed. */
START_TEST(test_random_bytes_over_the_semaphore_never_abort_a_post_or_a_wait) {
        unsigned char junk[sizeof(sem_t)];
        struct timespec until;
        int v;

        srandom((unsigned)_i + 1);
        for (size_t k = 0; k < sizeof(junk); k++)
                junk[k] = (unsigned char)random();
        memcpy(sem, junk, sizeof(junk));

        (void)psem_post(sem);
        ck_assert_int_eq(psem_getvalue(sem, &v), 0);
        ck_assert_int_ge(v, 0);
        (void)psem_trywait(sem);
        until = in_ms(5);
        (void)psem_clockwait(sem, CLOCK_MONOTONIC, &until);
        /* Reaching here without SIGABRT is the test (fork mode reports a signal as an error). */
}
END_TEST

START_TEST(test_a_scribbled_private_field_does_not_stop_a_wake_up) {
        pid_t pid;

        memset((char *)sem + 8, 0x5a, sizeof(sem_t) - 8); /* `private` and the padding */
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct timespec until = in_ms(PATIENCE_MS);

                _exit(psem_clockwait(sem, CLOCK_MONOTONIC, &until) == 0 ? 0 : 1);
        }
        wait_for_sleeper();
        ck_assert_int_eq(psem_post(sem), 0);
        ck_assert_int_eq(reap(pid), 0);
}
END_TEST

START_TEST(test_a_value_above_sem_value_max_is_not_incremented_but_reads_as_the_max) {
        uint64_t d = (uint64_t)0xfffffff0u;
        int v;

        memcpy(sem, &d, sizeof(d));
        ck_assert_int_eq(psem_post(sem), -EOVERFLOW);
        memcpy(&d, sem, sizeof(d));
        ck_assert_uint_eq(d, 0xfffffff0u);
        ck_assert_int_eq(psem_getvalue(sem, &v), 0);
        ck_assert_int_eq(v, SEM_VALUE_MAX);
        ck_assert_int_eq(psem_trywait(sem), 0); /* positive: taken */
}
END_TEST

static Suite *psem_suite(void) {
        Suite *s = suite_create("psem");
        TCase *tc;

        tc = tcase_create("glibc agrees");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 20);
        tcase_add_test(tc, test_a_psem_post_is_counted_by_sem_getvalue);
        tcase_add_test(tc, test_a_sem_post_is_taken_by_psem_trywait_once);
        tcase_add_test(tc, test_a_glibc_sleeper_in_another_process_is_woken_by_psem_post);
        tcase_add_test(tc, test_a_psem_sleeper_in_another_process_is_woken_by_sem_post);
        tcase_add_test(tc, test_a_psem_sleeper_on_the_realtime_clock_is_woken_by_psem_post);
        tcase_add_test(tc, test_a_wait_past_its_deadline_is_etimedout_and_leaves_no_waiter);
        tcase_add_test(tc, test_a_bad_clock_or_deadline_is_einval);
        suite_add_tcase(s, tc);

        tc = tcase_create("scribbled memory");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 20);
        tcase_add_loop_test(tc, test_random_bytes_over_the_semaphore_never_abort_a_post_or_a_wait, 0, 32);
        tcase_add_test(tc, test_a_scribbled_private_field_does_not_stop_a_wake_up);
        tcase_add_test(tc, test_a_value_above_sem_value_max_is_not_incremented_but_reads_as_the_max);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(psem_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
