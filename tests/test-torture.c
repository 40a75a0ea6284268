/* SPDX-License-Identifier: MIT */
/* End-to-end torture: runs tests/torture ($SHMBOX_TORTURE) for 40 s — 3 senders and 3 receivers on
 * 2 mailboxes, a random client SIGKILLed every 200 ms, the daemon every 8 s — and asserts on its
 * summary line: nothing lost, unexpected, torn or duplicated, and enough traffic, kills and
 * restarts for that to mean something. The torture program starts its own daemon with a prefix
 * under this suite's stem, so the unchecked fixture sweeps whatever a failure leaves.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness.h"

#define TORTURE_SECONDS 40
#define TIMEOUT_S 180

/* The value of " key=" in @line; fails the test if the key is missing. */
static uint64_t summary_value(const char *line, const char *key) {
        char pat[64];
        const char *p;

        snprintf(pat, sizeof(pat), " %s=", key);
        p = strstr(line, pat);
        ck_assert_msg(p, "no %s in the summary: %s", key, line);
        return strtoull(p + strlen(pat), NULL, 10);
}

/* Run the torture program with @argv; returns its wait status, its last line in @last. */
static int run_torture(const char *const *argv, char *last, size_t size) {
        const char *bin = getenv("SHMBOX_TORTURE");
        pid_t parent = getpid(), pid;
        char line[4096];
        FILE *out;
        int p[2], status;

        ck_assert_msg(bin && *bin, "SHMBOX_TORTURE is not set (run the suites through make check)");
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                /* a test killed at its timeout takes the torture with it; SIGTERM lets it clean up */
                if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                        _exit(4);
                dup2(p[1], STDOUT_FILENO);
                execv(bin, (char **)argv);
                _exit(127);
        }
        close(p[1]);
        out = fdopen(p[0], "r");
        ck_assert_ptr_nonnull(out);
        last[0] = 0;
        while (fgets(line, sizeof(line), out)) {
                fputs(line, stdout); /* the figures belong in the suite's log */
                fflush(stdout);
                snprintf(last, size, "%s", line);
        }
        fclose(out);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        last[strcspn(last, "\n")] = 0;
        return status;
}

START_TEST(test_random_kills_of_clients_and_daemon_lose_tear_and_duplicate_nothing) {
        char seconds[16], summary[4096];
        const char *argv[] = {
                "torture", "--senders", "3",     "--receivers",        "3",   "--mailboxes",
                "2",       "--seconds", seconds, "--kill-interval-ms", "200", "--daemon-kill-interval-ms",
                "8000",    NULL
        };
        int status;

        snprintf(seconds, sizeof(seconds), "%d", TORTURE_SECONDS);
        argv[0] = getenv("SHMBOX_TORTURE");
        status = run_torture(argv, summary, sizeof(summary));
        printf("torture summary: %s\n", summary);
        ck_assert_msg(strncmp(summary, "result=", 7) == 0, "no summary line (status 0x%x): \"%s\"", status, summary);

        ck_assert_uint_eq(summary_value(summary, "lost"), 0);
        ck_assert_uint_eq(summary_value(summary, "unexpected"), 0);
        ck_assert_uint_eq(summary_value(summary, "torn"), 0);
        ck_assert_uint_eq(summary_value(summary, "duplicated"), 0);
        /* progress: enough traffic, kills and restarts for the zeros to mean something */
        ck_assert_uint_gt(summary_value(summary, "acknowledged"), 10000);
        ck_assert_uint_ge(summary_value(summary, "client_kills"), 50);
        ck_assert_uint_ge(summary_value(summary, "daemon_restarts"), 2);
        /* and the health checks: ordering, client errors, clean daemon stop, nothing left behind */
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "torture failed (status 0x%x): %s", status,
                      summary);
}
END_TEST

static Suite *torture_suite(void) {
        Suite *s = suite_create("torture");
        TCase *tc = tcase_create("random kills of clients and of the daemon");

        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_set_timeout(tc, TIMEOUT_S * harness_scale());
        tcase_add_test(tc, test_random_kills_of_clients_and_daemon_lose_tear_and_duplicate_nothing);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(torture_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
