/* SPDX-License-Identifier: MIT */
/* harness.h — what the end-to-end suites share: their own shmboxd per test (temporary socket,
 * unique prefix, private state directory), scaled deadlines, and cleanup of /dev/shm.
 *
 * Uses only libc, Check and <shmbox.h>, so test-api can link the shared library alone.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <check.h>

#include "client/shmbox.h"

typedef struct TestDaemon {
        pid_t pid;
        char dir[128]; /* temporary directory under $TMPDIR: socket, state, log */
        char socket[108];
        char prefix[33];
        char state_dir[160];
        char log[160];
        char config[160];  /* --config: absent unless a test writes it, never /etc's */
        char bin[176];     /* the shmboxd exec'd: $SHMBOXD, or a copy in dir for another user */
        char extra[4][64]; /* extra command-line arguments, "" when unused */
        char crash_at[64]; /* SHMBOX_CRASH_AT for the next (re)start, "" for none */
        char fail_at[64];  /* SHMBOX_FAIL_AT likewise */
        uid_t user;        /* run the daemon as this uid/gid (0: as we are), as in production */
        gid_t group;
} TestDaemon;

/* Like harness_daemon_start(), with the daemon running as @user:@group (needs root). */
void harness_daemon_start_as(TestDaemon *d, const char *const *extra, uid_t user, gid_t group);

/* SHMBOX_TEST_TIMEOUT_SCALE (default 1): multiply every deadline by it under valgrind/sanitizers. */
double harness_scale(void);
int harness_ms(int ms);
int64_t harness_now_us(void);

/* The prefix stem of this suite ($SHMBOX_TEST_PREFIX from tests/run-suite.sh, else derived). */
const char *harness_stem(void);

/* Start a daemon with a fresh prefix and socket; fails the test (ck_assert) if it does not come
 * up. @extra: NULL-terminated extra arguments, or NULL. */
void harness_daemon_start(TestDaemon *d, const char *const *extra);

/* Copy the program @from to @to (mode 0755), asserting success. An unprivileged daemon is
 * exec'd from such a copy in its own directory (harness_daemon_start_as): the build tree may sit
 * under a private home (root's is 0700 on Debian) that the daemon's user cannot traverse, and
 * exec would fail with EACCES (exit 127). */
void harness_copy_binary(const char *from, const char *to);

/* shmboxctl for another user: $SHMBOXCTL is libtool's wrapper in a build tree that may sit
 * under a private home, so the program itself (.libs/shmboxctl) and libshmbox.so.0 are copied
 * into @dir (which that user can reach); the path of the copy is written to @bin. The child
 * that execs it must set LD_LIBRARY_PATH to @dir (harness_ctl_env()). Where $SHMBOXCTL is no
 * wrapper (an installed program), it is copied alone. */
void harness_ctl_copy(const char *dir, char *bin, size_t size);
/* In the child, before exec of harness_ctl_copy()'s copy: LD_LIBRARY_PATH=@dir. */
void harness_ctl_env(const char *dir);

/* Whether /dev/shm has @need bytes free. When it has not (a container's 64 MiB /dev/shm), says
 * so on stderr as "SKIP: @what: ..." — tests/check.sh shows every such line in its summary —
 * and returns false: the caller skips that case. */
bool harness_shm_has_room(uint64_t need, const char *what);
/* Start again with the same socket, prefix and state (after a stop or a kill). */
void harness_daemon_restart(TestDaemon *d);
/* Start again with d->crash_at set, expecting the daemon to kill itself during start-up. */
void harness_daemon_restart_crashing(TestDaemon *d);
/* Wait until the daemon killed itself at its crash point (assert SIGKILL). */
void harness_daemon_expect_killed(TestDaemon *d);
/* SIGTERM, wait, and assert a clean exit 0. */
void harness_daemon_stop(TestDaemon *d);
/* SIGKILL and reap. */
void harness_daemon_kill(TestDaemon *d);
/* Stop if running, remove the temporary directory; assert nothing of the prefix is left. */
void harness_daemon_done(TestDaemon *d);

/* Connect to @d, asserting success. */
shmbox_client *harness_connect(const TestDaemon *d);

/* Objects in /dev/shm whose name starts with @prefix (segments, semaphores as sem.<prefix>...). */
unsigned harness_count_objects(const char *prefix);
/* Remove every object of @prefix (for unchecked teardowns) and SIGKILL any daemon started with
 * it; returns how many objects were removed. */
unsigned harness_sweep(const char *prefix);

/* Wait until @pid sleeps (state S in /proc/PID/stat) or @ms passes; false on timeout. */
bool harness_wait_sleeping(pid_t pid, int ms);
/* Wait for @pid to end; returns its wait status, or -1 after @ms (the process is then killed). */
int harness_wait_exit(pid_t pid, int ms);

/* A child process that reports int64 values to the test through a pipe; it dies with the test
 * (PR_SET_PDEATHSIG), so a failed test leaves no peer behind. */
typedef struct HarnessChild {
        pid_t pid;
        int fd;
} HarnessChild;

HarnessChild harness_child_spawn(void (*fn)(const void *arg, int wfd), const void *arg);
/* In the child: send @v to the test (exits 3 if the pipe is gone). */
void harness_child_report(int wfd, int64_t v);
/* In the test: the child's next value, within @ms (fails the test otherwise). */
int64_t harness_child_read(const HarnessChild *ch, int ms);
/* In the test: wait for the child and assert it exited 0. */
void harness_child_reap(HarnessChild *ch);

/* How long the calling thread has waited for a CPU on a run queue, in us (the second field of
 * /proc/thread-self/schedstat); -1 where the kernel does not say. What a latency bound allows
 * on top of the protocol's own delay: on two cores shared with other suites, the scheduler
 * alone can hold a process for tens of ms. */
int64_t harness_run_delay_us(void);

/* An end-to-end TCase: the sweeping unchecked fixture below, @setup/@teardown as a checked
 * fixture (both NULL: none), a timeout of @timeout_s scaled by harness_scale(); added to @s
 * unless @s is NULL. */
TCase *harness_tcase(Suite *s, const char *name, int timeout_s, void (*setup)(void), void (*teardown)(void));

/* An unchecked fixture pair that sweeps the suite's stem: add to every end-to-end TCase. */
void harness_unchecked_setup(void);
void harness_unchecked_teardown(void);
