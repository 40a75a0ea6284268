/* SPDX-License-Identifier: MIT */
/* test-log.c — unit tests for log/log: the journal fields of an event, the fixed MESSAGE_IDs, and
 * the line written where stderr is a pipe ("<N>" prefix) or a terminal (none). */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log/log.h"

/* The fields of one entry, joined by '\n', in a static buffer. */
static const char *fields_of(int prio, const LogFields *f, const char *message) {
        static char out[LOG_FIELDS_MAX * sizeof(LogField)];
        LogField fields[LOG_FIELDS_MAX];
        size_t n = log_journal_fields(prio, f, message, fields);

        ck_assert_uint_le(n, LOG_FIELDS_MAX);
        out[0] = 0;
        for (size_t i = 0; i < n; i++) {
                strcat(out, fields[i]);
                strcat(out, "\n");
        }
        return out;
}

START_TEST(test_an_event_carries_message_id_mailbox_uid_pid_and_positive_errno) {
        LogFields f = { .event = LOG_EVENT_REFUSAL, .mailbox = "orders", .uid = 2001, .pid = 4242, .err = -EACCES };

        ck_assert_str_eq(fields_of(LOG_NOTICE, &f, "refused attach of orders by uid 2001: no access"),
                         "MESSAGE=refused attach of orders by uid 2001: no access\n"
                         "PRIORITY=5\n"
                         "SYSLOG_IDENTIFIER=test-log\n"
                         "MESSAGE_ID=c837fbad66ac4eec9fce42e66c956b2a\n"
                         "SHMBOX_MAILBOX=orders\n"
                         "SHMBOX_UID=2001\n"
                         "SHMBOX_PID=4242\n"
                         "SHMBOX_ERRNO=13\n");
}
END_TEST

START_TEST(test_fields_left_at_none_are_not_sent) {
        LogFields f = { .event = LOG_EVENT_REPAIR, .mailbox = NULL, .uid = (uid_t)-1, .pid = 0, .err = 0 };

        ck_assert_str_eq(fields_of(LOG_INFO, &f, "m"), "MESSAGE=m\nPRIORITY=6\nSYSLOG_IDENTIFIER=test-log\n"
                                                       "MESSAGE_ID=9b6d9b4576b0458db92c6197688391f1\n");
        f.uid = 0; /* root is a uid, not "none" */
        ck_assert_ptr_nonnull(strstr(fields_of(LOG_INFO, &f, "m"), "\nSHMBOX_UID=0\n"));
}
END_TEST

START_TEST(test_a_plain_line_has_message_priority_and_identifier_only) {
        ck_assert_str_eq(fields_of(LOG_ERR, NULL, "cannot listen"),
                         "MESSAGE=cannot listen\nPRIORITY=3\nSYSLOG_IDENTIFIER=test-log\n");
}
END_TEST

START_TEST(test_each_event_has_its_own_128_bit_id_in_lowercase_hex) {
        for (int i = 0; i < _LOG_EVENT_MAX; i++) {
                const char *id = log_event_id((LogEvent)i);

                ck_assert_ptr_nonnull(id);
                ck_assert_uint_eq(strlen(id), 32);
                ck_assert_uint_eq(strspn(id, "0123456789abcdef"), 32);
                for (int j = 0; j < i; j++)
                        ck_assert_str_ne(id, log_event_id((LogEvent)j));
        }
        ck_assert_ptr_null(log_event_id(_LOG_EVENT_MAX));
        ck_assert_ptr_null(log_event_id((LogEvent)-1));
}
END_TEST

START_TEST(test_a_long_message_is_cut_not_overflowed) {
        static char big[4 * LOG_LINE_MAX];
        LogField fields[LOG_FIELDS_MAX];
        LogFields f = { .event = LOG_EVENT_CORRUPTION, .mailbox = "m", .uid = 1, .pid = 2, .err = -EBADMSG };
        size_t n;

        memset(big, 'x', sizeof(big) - 1);
        n = log_journal_fields(LOG_WARNING, &f, big, fields);
        ck_assert_uint_eq(n, LOG_FIELDS_MAX);
        ck_assert_uint_eq(strlen(fields[0]), sizeof(LogField) - 1);
        ck_assert_str_eq(fields[7], "SHMBOX_ERRNO=74");
}
END_TEST

/* What a child that logs one refusal event writes to @fd as its stderr; JOURNAL_STREAM unset. */
static void child_logs_to(int fd) {
        pid_t pid = fork();
        int status;

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                unsetenv("JOURNAL_STREAM");
                dup2(fd, STDERR_FILENO);
                log_event(LOG_NOTICE, &(LogFields){ LOG_EVENT_REFUSAL, "orders", 5, 6, -EPERM }, "refused %s", "x");
                log_errno(LOG_ERR, -ENOENT, "gone");
                _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void read_all(int fd, char *out, size_t cap) {
        size_t got = 0;
        ssize_t n;

        while (got + 1 < cap && (n = read(fd, out + got, cap - 1 - got)) > 0)
                got += (size_t)n;
        out[got] = 0;
}

START_TEST(test_on_a_pipe_lines_carry_priority_prefixes) {
        int p[2];
        char out[256];

        ck_assert_int_eq(pipe(p), 0);
        child_logs_to(p[1]);
        close(p[1]);
        read_all(p[0], out, sizeof(out));
        close(p[0]);
        ck_assert_str_eq(out, "<5>refused x\n<3>gone: No such file or directory\n");
}
END_TEST

START_TEST(test_on_a_terminal_lines_are_plain) {
        int master = posix_openpt(O_RDWR | O_NOCTTY), slave;
        char out[256];

        ck_assert_int_ge(master, 0);
        ck_assert_int_eq(grantpt(master), 0);
        ck_assert_int_eq(unlockpt(master), 0);
        slave = open(ptsname(master), O_RDWR | O_NOCTTY);
        ck_assert_int_ge(slave, 0);
        child_logs_to(slave);
        close(slave);
        (void)fcntl(master, F_SETFL, O_NONBLOCK); /* all was written before the child exited */
        read_all(master, out, sizeof(out));
        close(master);
        /* the terminal turns \n into \r\n */
        ck_assert_str_eq(out, "refused x\r\ngone: No such file or directory\r\n");
}
END_TEST

static Suite *log_suite(void) {
        Suite *s = suite_create("log");
        TCase *tc = tcase_create("journal fields");

        tcase_set_timeout(tc, 10);
        tcase_add_test(tc, test_an_event_carries_message_id_mailbox_uid_pid_and_positive_errno);
        tcase_add_test(tc, test_fields_left_at_none_are_not_sent);
        tcase_add_test(tc, test_a_plain_line_has_message_priority_and_identifier_only);
        tcase_add_test(tc, test_each_event_has_its_own_128_bit_id_in_lowercase_hex);
        tcase_add_test(tc, test_a_long_message_is_cut_not_overflowed);
        suite_add_tcase(s, tc);

        tc = tcase_create("lines");
        tcase_set_timeout(tc, 10);
        tcase_add_test(tc, test_on_a_pipe_lines_carry_priority_prefixes);
        tcase_add_test(tc, test_on_a_terminal_lines_are_plain);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(log_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
