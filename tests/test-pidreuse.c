/* SPDX-License-Identifier: MIT */
/* test-pidreuse.c — attachments belong to daemon-issued tokens, never to pids: a pid reused
 * while the daemon was away is judged by its start time, a socket hang-up of a live process
 * only orphans its session, a fork does not end the parent's session, and a late operation of
 * a repaired attachment is -ESTALE and changes nothing (doc/design.md, invariant 5).
 *
 * Pid reuse is made deterministic inside a pid namespace of our own (with its own /proc): its
 * init runs the daemon and the clients, and after client A died it creates B with clone3()
 * and set_tid = { A's pid }. Needs root and CLONE_NEWPID; otherwise the suite is skipped (77).
 *
 * Peers run in forked children that report through a pipe (int64 values) or their exit code:
 * a child never calls ck_assert, except the namespace's init, which is the test itself moved
 * into the namespace and whose exit status the test process checks.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/shmbox.h"
#include "proto/layout.h"
#include "proto/names.h"
#include "tests/harness.h"

#define TIMEOUT_S 60

/* --- helpers --------------------------------------------------------------------------------- */

static void msleep(int ms) {
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* The start time of @pid in clock ticks since boot (/proc/PID/stat field 22); 0 if gone. */
static uint64_t starttime_of(pid_t pid) {
        char path[64], buf[1024], *p;
        unsigned long long v;
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return 0;
        buf[n] = 0;
        p = strrchr(buf, ')'); /* the command name may hold spaces */
        if (!p)
                return 0;
        p += 2; /* field 3, the state */
        for (int i = 0; i < 19 && p; i++) {
                p = strchr(p, ' ');
                if (p)
                        p++;
        }
        return p && sscanf(p, "%llu", &v) == 1 ? v : 0;
}

/* Now, in the unit of starttime_of(). */
static uint64_t ticks_now(void) {
        long hz = sysconf(_SC_CLK_TCK);
        struct timespec ts;

        clock_gettime(CLOCK_BOOTTIME, &ts);
        return (uint64_t)ts.tv_sec * (uint64_t)hz + (uint64_t)ts.tv_nsec / (1000000000u / (uint64_t)hz);
}

/* Whether the daemon's log holds @needle, waiting up to @ms for it to appear. */
static bool log_has(const TestDaemon *d, const char *needle, int ms) {
        int64_t deadline = harness_now_us() + (int64_t)ms * 1000;

        for (;;) {
                char buf[65536];
                size_t n = 0;
                FILE *f = fopen(d->log, "re");

                if (f) {
                        n = fread(buf, 1, sizeof(buf) - 1, f);
                        fclose(f);
                }
                buf[n] = 0;
                if (strstr(buf, needle))
                        return true;
                if (harness_now_us() > deadline)
                        return false;
                msleep(2);
        }
}

/* Map the whole segment of @name read-write: to look at it, or to play the daemon. */
static MboxHeader *segment_map(const TestDaemon *d, const char *name, size_t *ret_size) {
        char path[NAMES_OBJECT_MAX];
        struct stat st;
        void *map;
        int fd;

        ck_assert_int_ge(names_segment(path, sizeof(path), d->prefix, name), 0);
        fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
        ck_assert_msg(fd >= 0, "shm_open %s: %s", path, strerror(errno));
        ck_assert_int_eq(fstat(fd, &st), 0);
        map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        ck_assert(map != MAP_FAILED);
        *ret_size = (size_t)st.st_size;
        return map;
}

/* The attachment table's non-zero tokens, in index order; returns how many. */
static unsigned att_tokens(const MboxHeader *h, uint32_t *tokens, unsigned max) {
        unsigned n = 0;

        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++) {
                uint32_t t = atomic_load(&h->att[i]);

                if (t != TOKEN_NONE && n < max)
                        tokens[n++] = t;
        }
        return n;
}

/* The one token in the table that is not @mine (0 if there is not exactly one). */
static uint32_t other_token(const MboxHeader *h, uint32_t mine) {
        uint32_t t[LAYOUT_ATT_MAX], other = 0;
        unsigned n = att_tokens(h, t, LAYOUT_ATT_MAX), found = 0;

        for (unsigned i = 0; i < n; i++)
                if (t[i] != mine) {
                        other = t[i];
                        found++;
                }
        return found == 1 ? other : 0;
}

/* Whether @token appears anywhere in the mailbox: lock, attachment table, slot words. */
static bool token_present(const MboxHeader *h, uint32_t token) {
        const uint8_t *base = (const uint8_t *)h;

        if (LOCK_TOKEN(atomic_load(&h->lock)) == token)
                return true;
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++)
                if (atomic_load(&h->att[i]) == token)
                        return true;
        for (uint32_t i = 0; i < h->slots; i++) {
                const SlotHead *s = (const SlotHead *)(base + LAYOUT_HEADER_SIZE + (size_t)i * h->slot_stride);

                if (slot_word_token(atomic_load(&s->word)) == token)
                        return true;
        }
        return false;
}

static void wait_attached(shmbox_client *c, const char *name, uint32_t n) {
        int64_t deadline = harness_now_us() + (int64_t)harness_ms(5000) * 1000;
        struct shmbox_info info;

        for (;;) {
                ck_assert_int_eq(shmbox_info(c, name, &info), 0);
                if (info.attached == n)
                        return;
                ck_assert_msg(harness_now_us() < deadline, "%s: attached stayed %u, expected %u", name, info.attached,
                              n);
                msleep(1);
        }
}

static void expect_message(shmbox *box, const char *want, int timeout_ms) {
        char buf[256];
        ssize_t n = shmbox_recv(box, buf, sizeof(buf), timeout_ms);

        ck_assert_msg(n >= 0, "recv: %s", shmbox_strerror((int)n));
        ck_assert_msg((size_t)n == strlen(want) && memcmp(buf, want, (size_t)n) == 0, "got \"%.*s\", expected \"%s\"",
                      (int)n, buf, want);
}

/* Read one int64 report of a child within @ms; false on EOF or timeout. */
static bool report_read(int fd, int ms, int64_t *ret) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int r;

        do
                r = poll(&pfd, 1, ms);
        while (r < 0 && errno == EINTR);
        return r == 1 && read(fd, ret, sizeof(*ret)) == (ssize_t)sizeof(*ret);
}

static void report(int wfd, int64_t v) {
        if (write(wfd, &v, sizeof(v)) != (ssize_t)sizeof(v))
                _exit(3);
}

/* --- a pid reused while the daemon was away -------------------------------------------------- */

/* What clone3() takes, up to set_tid_size (CLONE_ARGS_SIZE_VER1); spelled out here because
 * Debian 12's glibc does not export it. */
struct clone3_args {
        uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
        uint64_t set_tid, set_tid_size;
};

/* Fork a child with pid @pid in our pid namespace (we are root there); -errno on failure. */
static pid_t fork_with_pid(pid_t pid) {
        pid_t tid = pid;
        struct clone3_args args = { .exit_signal = SIGCHLD, .set_tid = (uintptr_t)&tid, .set_tid_size = 1 };
        long r = syscall(SYS_clone3, &args, sizeof(args));

        return r < 0 ? -errno : (pid_t)r;
}

typedef struct Peer {
        pid_t pid;
        int in;    /* its stdin, -1 if none */
        FILE *out; /* its stdout */
} Peer;

/* Run crash-child SOCKET NAME MODE 1 with @crash_at (NULL: none); wait for "attached". */
static Peer peer_start(const TestDaemon *d, const char *name, const char *mode, const char *crash_at) {
        const char *bin = getenv("SHMBOX_CRASH_CHILD");
        int in[2], out[2];
        char line[64];
        Peer p = { .in = -1 };

        ck_assert_msg(bin && *bin, "SHMBOX_CRASH_CHILD is not set");
        ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
        fflush(NULL);
        p.pid = fork();
        ck_assert_int_ge(p.pid, 0);
        if (p.pid == 0) {
                dup2(in[0], STDIN_FILENO);
                dup2(out[1], STDOUT_FILENO);
                if (crash_at)
                        setenv("SHMBOX_CRASH_AT", crash_at, 1);
                else
                        unsetenv("SHMBOX_CRASH_AT");
                execl(bin, bin, d->socket, name, mode, "1", (char *)NULL);
                _exit(127);
        }
        close(in[0]);
        close(out[1]);
        p.in = in[1];
        p.out = fdopen(out[0], "r");
        ck_assert_ptr_nonnull(p.out);
        ck_assert_msg(fgets(line, sizeof(line), p.out) && strcmp(line, "attached\n") == 0,
                      "crash child %d did not attach", (int)p.pid);
        return p;
}

static void peer_close(Peer *p) {
        if (p->in >= 0)
                close(p->in);
        if (p->out)
                fclose(p->out);
        *p = (Peer){ .in = -1 };
}

/*
 * The scenario, run by the init of a fresh pid namespace, where the daemon and every client
 * live, so pids are small, predictable and reusable at will. Returns the exit code of init.
 */
static int reuse_scenario(void) {
        const struct shmbox_config cfg = { .slots = 4, .slot_size = 256 };
        char needle[128], b_mode[] = "idle";
        uint64_t start_a, start_b;
        uint32_t mine, token_a, token_b;
        struct shmbox_info info;
        shmbox_client *c;
        shmbox *box;
        MboxHeader *h;
        size_t size;
        TestDaemon d;
        Peer a, b = { .in = -1 };
        pid_t pid_a;
        int go[2], out[2], status;

        /* our own /proc, so that /proc/PID names the pids of this namespace */
        ck_assert_msg(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0, "mount /proc: %s",
                      strerror(errno));
        ck_assert_int_eq(getpid(), 1);
        /* if the test process gives up on us, the namespace goes with us */
        ck_assert_int_eq(prctl(PR_SET_PDEATHSIG, SIGKILL), 0);

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "reuse", &cfg), 0);
        ck_assert_int_eq(shmbox_attach(c, "reuse", &box), 0);
        ck_assert_int_eq(shmbox_send(box, "victim", 6, 0), 0);
        h = segment_map(&d, "reuse", &size);
        mine = other_token(h, 0);
        ck_assert_uint_ge(mine, TOKEN_FIRST);

        /* A attaches, then waits for "go" before it receives */
        a = peer_start(&d, "reuse", "recvwait", "recv_taken");
        pid_a = a.pid;
        start_a = starttime_of(pid_a);
        ck_assert_uint_ne(start_a, 0);
        token_a = other_token(h, mine);
        ck_assert_uint_gt(token_a, mine);

        /* the daemon goes away; A takes the message and dies holding it, unseen */
        harness_daemon_kill(&d);
        ck_assert_int_eq(write(a.in, "go\n", 3), 3);
        status = harness_wait_exit(pid_a, harness_ms(10000));
        ck_assert_msg(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "A did not die at recv_taken (status 0x%x)", status);
        peer_close(&a);
        {
                const SlotHead *s = (const SlotHead *)((uint8_t *)h + LAYOUT_HEADER_SIZE);
                uint64_t w = atomic_load(&s->word);

                ck_assert_uint_eq(slot_word_state(w), SLOT_TAKEN);
                ck_assert_uint_eq(slot_word_token(w), token_a);
        }

        /* B gets A's pid, at least two clock ticks later: same pid, another start time */
        while (ticks_now() < start_a + 3)
                msleep(5);
        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
        {
                const char *bin = getenv("SHMBOX_CRASH_CHILD");
                char *const argv[] = { (char *)bin, d.socket, (char *)"reuse", b_mode, NULL };
                extern char **environ;
                char byte;

                ck_assert_ptr_nonnull(bin);
                fflush(NULL);
                b.pid = fork_with_pid(pid_a);
                if (b.pid == 0) {
                        /* a raw clone3() child: plain system calls only until exec */
                        if (read(go[0], &byte, 1) != 1)
                                _exit(126);
                        dup2(out[1], STDOUT_FILENO);
                        execve(bin, argv, environ);
                        _exit(127);
                }
        }
        ck_assert_msg(b.pid == pid_a, "clone3 with set_tid %d: %s", (int)pid_a,
                      b.pid < 0 ? strerror(-b.pid) : "another pid");
        close(go[0]);
        close(out[1]);
        start_b = starttime_of(b.pid);
        ck_assert_msg(start_b >= start_a + 2, "start times %llu and %llu are not two ticks apart",
                      (unsigned long long)start_a, (unsigned long long)start_b);

        /* the daemon comes back: A is dead (its start time is not B's), its message redelivered */
        harness_daemon_restart(&d);
        snprintf(needle, sizeof(needle), "reuse: attachment %u of pid %d is released", token_a, (int)pid_a);
        ck_assert_msg(log_has(&d, needle, harness_ms(5000)), "the daemon did not log \"%s\"", needle);
        ck_assert_int_eq(shmbox_info(c, "reuse", &info), 0);
        ck_assert_uint_eq(info.recovered, 1);
        ck_assert_uint_eq(info.queued, 1);
        ck_assert_uint_eq(info.attached, 1);
        ck_assert(!token_present(h, token_a));
        expect_message(box, "victim", 0);

        /* B's own attach is an ordinary new one: a fresh token, nothing of A's */
        b.out = fdopen(out[0], "r");
        ck_assert_ptr_nonnull(b.out);
        ck_assert_int_eq(write(go[1], "g", 1), 1);
        close(go[1]);
        {
                char line[64];

                ck_assert_msg(fgets(line, sizeof(line), b.out) && strcmp(line, "attached\n") == 0,
                              "B (pid %d) did not attach", (int)b.pid);
        }
        wait_attached(c, "reuse", 2);
        token_b = other_token(h, mine);
        ck_assert_uint_gt(token_b, token_a);
        ck_assert_int_eq(shmbox_info(c, "reuse", &info), 0);
        ck_assert_uint_eq(info.recovered, 1);
        ck_assert_uint_eq(info.taken, 0);
        ck_assert_uint_eq(info.orphaned, 0);
        ck_assert_int_eq(shmbox_send(box, "for anyone", 10, 0), 0);
        expect_message(box, "for anyone", 0);

        /* B's death releases B's attachment only, and repairs nothing of A's again */
        kill(b.pid, SIGKILL);
        status = harness_wait_exit(b.pid, harness_ms(10000));
        ck_assert(status != -1 && WIFSIGNALED(status));
        peer_close(&b);
        wait_attached(c, "reuse", 1);
        ck_assert_int_eq(shmbox_info(c, "reuse", &info), 0);
        ck_assert_uint_eq(info.recovered, 1);
        ck_assert_uint_eq(info.queued, 0);
        printf("pidreuse: pid %d reused by B (start %llu, A's was %llu): A judged dead, its message "
               "redelivered; B attached with token %u, A had %u\n",
               (int)pid_a, (unsigned long long)start_b, (unsigned long long)start_a, token_b, token_a);

        munmap(h, size);
        ck_assert_int_eq(shmbox_detach(box), 0);
        ck_assert_int_eq(shmbox_destroy(c, "reuse"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
        fflush(NULL);
        return 0;
}

START_TEST(test_a_client_restarted_under_the_same_pid_is_not_the_dead_one) {
        pid_t outer;
        int status;

        fflush(NULL);
        outer = fork();
        ck_assert_int_ge(outer, 0);
        if (outer == 0) {
                pid_t init;

                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                        _exit(4);
                if (unshare(CLONE_NEWPID | CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                        _exit(5);
                init = fork();
                if (init < 0)
                        _exit(6);
                if (init == 0)
                        _exit(reuse_scenario());
                /* killing init kills every process of the namespace */
                if (waitpid(init, &status, 0) != init)
                        _exit(7);
                _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }
        status = harness_wait_exit(outer, harness_ms(50000));
        ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "the scenario in the pid namespace failed (status 0x%x; see above)", status);
}
END_TEST

/* --- a hang-up is not a death ---------------------------------------------------------------- */

static TestDaemon d;
static shmbox_client *client;

static void setup(void) {
        harness_daemon_start(&d, NULL);
        client = harness_connect(&d);
}

static void teardown(void) {
        shmbox_disconnect(client);
        client = NULL;
        harness_daemon_done(&d);
}

/* The socket fds of this process, as a bit set over fds 0..1023. */
static void socket_fds(uint64_t set[16]) {
        DIR *dir = opendir("/proc/self/fd");
        struct dirent *de;

        memset(set, 0, 16 * sizeof(uint64_t));
        if (!dir)
                return;
        while ((de = readdir(dir))) {
                char path[300], target[64];
                int fd = atoi(de->d_name);
                ssize_t n;

                if (de->d_name[0] < '0' || de->d_name[0] > '9' || fd >= 1024 || fd == dirfd(dir))
                        continue;
                snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
                n = readlink(path, target, sizeof(target) - 1);
                if (n > 0 && strncmp(target, "socket:", 7) == 0)
                        set[fd / 64] |= UINT64_C(1) << (fd % 64);
        }
        closedir(dir);
}

/* Child: attach, close its connection's socket behind the library's back, then (on "go") send
 * through the box it still holds. Reports: attach, the fd closed (or -1), send; then waits. */
static void orphan_child(int wfd, int gofd) {
        uint64_t before[16], after[16];
        shmbox_client *c;
        shmbox *box;
        int fd = -1, found = 0;
        char byte;

        socket_fds(before);
        if (shmbox_connect(d.socket, &c) < 0)
                _exit(5);
        report(wfd, shmbox_attach(c, "orphan", &box));
        socket_fds(after);
        for (int i = 0; i < 1024; i++)
                if ((after[i / 64] & ~before[i / 64]) & (UINT64_C(1) << (i % 64))) {
                        fd = i;
                        found++;
                }
        report(wfd, found == 1 && close(fd) == 0 ? fd : -1);
        if (read(gofd, &byte, 1) != 1)
                _exit(6);
        report(wfd, shmbox_send(box, "still here", 10, 0));
        for (;;)
                pause();
}

START_TEST(test_a_hang_up_of_a_live_process_orphans_its_session) {
        struct shmbox_info info;
        char needle[128];
        int rep[2], go[2], status;
        shmbox *box;
        int64_t v;
        pid_t pid;

        ck_assert_int_eq(shmbox_create(client, "orphan", NULL), 0);
        ck_assert_int_eq(pipe2(rep, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
        fflush(NULL);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                        _exit(4);
                orphan_child(rep[1], go[0]);
        }
        close(rep[1]);
        close(go[0]);
        ck_assert(report_read(rep[0], harness_ms(5000), &v));
        ck_assert_int_eq(v, 0);
        ck_assert(report_read(rep[0], harness_ms(5000), &v));
        ck_assert_msg(v >= 0, "the child found no socket of its own to close");

        /* the daemon sees the hang-up of a process that lives: orphaned, holdings pinned */
        snprintf(needle, sizeof(needle), "(pid %d) hung up holding 1 attachment(s): orphaned", (int)pid);
        ck_assert_msg(log_has(&d, needle, harness_ms(5000)), "the daemon did not log \"%s\"", needle);
        msleep(50); /* give a wrong repair the time to happen */
        ck_assert_int_eq(shmbox_info(client, "orphan", &info), 0);
        ck_assert_uint_eq(info.attached, 1);
        ck_assert_uint_eq(info.orphaned, 1);

        /* its box was not repaired: the data plane still takes its token */
        ck_assert_int_eq(write(go[1], "g", 1), 1);
        ck_assert(report_read(rep[0], harness_ms(5000), &v));
        ck_assert_int_eq(v, 0);
        ck_assert_int_eq(shmbox_attach(client, "orphan", &box), 0);
        expect_message(box, "still here", 0);
        ck_assert_int_eq(shmbox_info(client, "orphan", &info), 0);
        ck_assert_uint_eq(info.attached, 2);
        ck_assert_uint_eq(info.orphaned, 1);

        /* only its death releases the attachment */
        kill(pid, SIGKILL);
        status = harness_wait_exit(pid, harness_ms(10000));
        ck_assert(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        wait_attached(client, "orphan", 1);
        ck_assert_int_eq(shmbox_info(client, "orphan", &info), 0);
        ck_assert_uint_eq(info.orphaned, 0);
        snprintf(needle, sizeof(needle), "(pid %d) ended, releasing 1 attachment(s)", (int)pid);
        ck_assert_msg(log_has(&d, needle, harness_ms(1000)), "the daemon did not log \"%s\"", needle);
        ck_assert_int_eq(shmbox_send(box, "after", 5, 0), 0);
        expect_message(box, "after", 0);
        printf("pidreuse: socket closed by a live process: orphaned, its box kept working, released "
               "at its death\n");

        close(rep[0]);
        close(go[1]);
        ck_assert_int_eq(shmbox_detach(box), 0);
        ck_assert_int_eq(shmbox_destroy(client, "orphan"), 0);
}
END_TEST

START_TEST(test_a_forked_child_exiting_does_not_end_its_parents_session) {
        struct shmbox_info info;
        char needle[64], buf[16];
        shmbox *box;
        int status;
        pid_t pid;

        ck_assert_int_eq(shmbox_create(client, "forked", NULL), 0);
        ck_assert_int_eq(shmbox_attach(client, "forked", &box), 0);
        ck_assert_int_eq(shmbox_send(box, "before", 6, 0), 0);
        fflush(NULL);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                /* the inherited handles are stale; letting go of them tells the daemon nothing */
                int bad = 0;

                bad |= (shmbox_send(box, "child", 5, 0) != -ESTALE) << 0;
                bad |= (shmbox_recv(box, buf, sizeof(buf), 0) != -ESTALE) << 1;
                bad |= (shmbox_info(client, "forked", &info) != -ESTALE) << 2;
                bad |= (shmbox_detach(box) != 0) << 3;
                shmbox_disconnect(client);
                _exit(bad);
        }
        status = harness_wait_exit(pid, harness_ms(10000));
        ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "the child saw usable inherited handles (status 0x%x)", status);
        msleep(50); /* give a wrong repair the time to happen */

        ck_assert_int_eq(shmbox_info(client, "forked", &info), 0);
        ck_assert_uint_eq(info.attached, 1);
        ck_assert_uint_eq(info.orphaned, 0);
        ck_assert_uint_eq(info.queued, 1);
        expect_message(box, "before", 0);
        ck_assert_int_eq(shmbox_send(box, "after", 5, 0), 0);
        expect_message(box, "after", 0);
        snprintf(needle, sizeof(needle), "(pid %d) ended", (int)getpid());
        ck_assert(!log_has(&d, needle, 0));
        snprintf(needle, sizeof(needle), "(pid %d) hung up", (int)getpid());
        ck_assert(!log_has(&d, needle, 0));

        ck_assert_int_eq(shmbox_detach(box), 0);
        ck_assert_int_eq(shmbox_destroy(client, "forked"), 0);
}
END_TEST

/* --- a repaired attachment is stale ---------------------------------------------------------- */

/* Take @box's entry away (0, or another token as if the index were reused) and check that
 * every late operation is -ESTALE and leaves every byte of the segment as it was. */
static void expect_stale(shmbox *box, MboxHeader *h, size_t size, unsigned idx, uint32_t entry) {
        uint8_t *before = malloc(size);
        char buf[64];

        ck_assert_ptr_nonnull(before);
        atomic_store(&h->att[idx], entry);
        memcpy(before, h, size);
        ck_assert_int_eq(shmbox_send(box, "late", 4, 0), -ESTALE);
        ck_assert_int_eq(shmbox_send(box, "late", 4, harness_ms(100)), -ESTALE);
        ck_assert_int_eq(shmbox_send(box, "late", 4, -1), -ESTALE);
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), -ESTALE);
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), harness_ms(100)), -ESTALE);
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), -1), -ESTALE);
        ck_assert_int_eq(shmbox_recv(box, NULL, 0, 0), -ESTALE);
        ck_assert_msg(memcmp(before, h, size) == 0, "a late operation changed the segment");
        free(before);
}

START_TEST(test_a_late_operation_of_a_repaired_attachment_is_estale_and_changes_nothing) {
        const struct shmbox_config cfg = { .slots = 4, .slot_size = 64 };
        struct shmbox_info info;
        MboxHeader *h;
        shmbox *box;
        size_t size;
        uint32_t token = 0;
        unsigned idx = LAYOUT_ATT_MAX;

        ck_assert_int_eq(shmbox_create(client, "late", &cfg), 0);
        ck_assert_int_eq(shmbox_attach(client, "late", &box), 0);
        ck_assert_int_eq(shmbox_send(box, "queued", 6, 0), 0);
        h = segment_map(&d, "late", &size);
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++)
                if (atomic_load(&h->att[i]) != TOKEN_NONE) {
                        ck_assert_uint_eq(idx, LAYOUT_ATT_MAX);
                        idx = i;
                        token = atomic_load(&h->att[i]);
                }
        ck_assert_uint_lt(idx, LAYOUT_ATT_MAX);

        /* what ring_repair() leaves of a repaired attachment: its entry cleared */
        expect_stale(box, h, size, idx, TOKEN_NONE);
        /* ... and later reused by another attachment */
        expect_stale(box, h, size, idx, token + 1000);

        ck_assert_int_eq(shmbox_info(client, "late", &info), 0);
        ck_assert_uint_eq(info.queued, 1);
        ck_assert_uint_eq(info.sent, 1);
        ck_assert_uint_eq(info.received, 0);

        /* the entry alone decided: given back, the same box works and gets the message */
        atomic_store(&h->att[idx], token);
        expect_message(box, "queued", 0);
        ck_assert_int_eq(shmbox_send(box, "again", 5, 0), 0);
        expect_message(box, "again", 0);

        /* a detach of a cleared entry is harmless to the daemon */
        atomic_store(&h->att[idx], TOKEN_NONE);
        ck_assert_int_eq(shmbox_detach(box), 0);
        wait_attached(client, "late", 0);
        munmap(h, size);
        ck_assert_int_eq(shmbox_destroy(client, "late"), 0);
        printf("pidreuse: late send/recv/peek of a repaired attachment: -ESTALE, segment unchanged\n");
}
END_TEST

static Suite *pidreuse_suite(void) {
        Suite *s = suite_create("pidreuse");
        TCase *tc;

        tc = tcase_create("a pid reused while the daemon was away");
        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_set_timeout(tc, TIMEOUT_S * harness_scale());
        tcase_add_test(tc, test_a_client_restarted_under_the_same_pid_is_not_the_dead_one);
        suite_add_tcase(s, tc);

        tc = tcase_create("a hang-up or a fork is not a death");
        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, TIMEOUT_S * harness_scale());
        tcase_add_test(tc, test_a_hang_up_of_a_live_process_orphans_its_session);
        tcase_add_test(tc, test_a_forked_child_exiting_does_not_end_its_parents_session);
        suite_add_tcase(s, tc);

        tc = tcase_create("a repaired attachment is stale");
        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, TIMEOUT_S * harness_scale());
        tcase_add_test(tc, test_a_late_operation_of_a_repaired_attachment_is_estale_and_changes_nothing);
        suite_add_tcase(s, tc);
        return s;
}

/* Whether this machine lets us run the namespace scenario: root, CLONE_NEWPID with a /proc of
 * its own, and clone3() with set_tid. Returns NULL, or why not. */
static const char *namespaces_missing(void) {
        int status;
        pid_t pid;

        if (geteuid() != 0)
                return "not root";
        pid = fork();
        if (pid < 0)
                return "fork failed";
        if (pid == 0) {
                pid_t init;

                if (unshare(CLONE_NEWPID | CLONE_NEWNS) < 0)
                        _exit(10);
                if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                        _exit(11);
                init = fork();
                if (init < 0)
                        _exit(12);
                if (init == 0) {
                        pid_t k;

                        if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                                _exit(13);
                        k = fork_with_pid(42);
                        if (k == 0)
                                _exit(0);
                        if (k != 42 || waitpid(k, NULL, 0) != k)
                                _exit(14);
                        _exit(0);
                }
                if (waitpid(init, &status, 0) != init || !WIFEXITED(status))
                        _exit(15);
                _exit(WEXITSTATUS(status));
        }
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
                return "the probe crashed";
        switch (WEXITSTATUS(status)) {
        case 0: return NULL;
        case 10: return "unshare(CLONE_NEWPID | CLONE_NEWNS) failed";
        case 11: return "cannot make / a private mount";
        case 13: return "cannot mount /proc in a new pid namespace";
        case 14: return "clone3() with set_tid failed";
        default: return "the probe failed";
        }
}

int main(void) {
        const char *why;
        SRunner *sr;
        int failed;

#ifndef SHMBOX_CRASH_POINTS
        fprintf(stderr, "SKIP: test-pidreuse needs the crash points: ./configure --enable-crash-points\n");
        return 77;
#endif
        why = namespaces_missing();
        if (why) {
                fprintf(stderr, "SKIP: test-pidreuse needs root and pid namespaces: %s\n", why);
                return 77;
        }
        sr = srunner_create(pidreuse_suite());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
