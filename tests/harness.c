/* SPDX-License-Identifier: MIT */
/* harness.c — the end-to-end suites' own daemons, deadlines and cleanup (see harness.h). */
#include "config.h"

#include "tests/harness.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double harness_scale(void) {
        const char *e = getenv("SHMBOX_TEST_TIMEOUT_SCALE");
        double s = e ? strtod(e, NULL) : 1.0;

        return s >= 1.0 ? s : 1.0;
}

int harness_ms(int ms) {
        return (int)(ms * harness_scale());
}

int64_t harness_now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

const char *harness_stem(void) {
        static char stem[24];
        const char *e = getenv("SHMBOX_TEST_PREFIX");

        if (!stem[0]) {
                if (e && *e && strlen(e) < 20)
                        snprintf(stem, sizeof(stem), "%s", e);
                else
                        snprintf(stem, sizeof(stem), "shmboxt%d", (int)getpid() % 1000000);
        }
        return stem;
}

static void msleep(int ms) {
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static void print_log(const TestDaemon *d) {
        char buf[4096];
        FILE *f = fopen(d->log, "re");
        size_t n;

        if (!f)
                return;
        fprintf(stderr, "---- shmboxd log (%s) ----\n", d->log);
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                fwrite(buf, 1, n, stderr);
        fprintf(stderr, "---- end of log ----\n");
        fclose(f);
}

static void spawn(TestDaemon *d, bool wait_ready) {
        const char *bin = d->bin;
        const char *argv[16];
        int n = 0, fd;
        pid_t pid;

        argv[n++] = bin;
        argv[n++] = "--socket";
        argv[n++] = d->socket;
        argv[n++] = "--prefix";
        argv[n++] = d->prefix;
        argv[n++] = "--state-dir";
        argv[n++] = d->state_dir;
        argv[n++] = "--config";
        argv[n++] = d->config;
        argv[n++] = "--log-level";
        argv[n++] = "debug";
        for (int i = 0; i < 4; i++)
                if (d->extra[i][0])
                        argv[n++] = d->extra[i];
        argv[n] = NULL;

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        dup2(fd, STDERR_FILENO);
                        dup2(fd, STDOUT_FILENO);
                }
                if (d->crash_at[0])
                        setenv("SHMBOX_CRASH_AT", d->crash_at, 1);
                else
                        unsetenv("SHMBOX_CRASH_AT");
                if (d->fail_at[0])
                        setenv("SHMBOX_FAIL_AT", d->fail_at, 1);
                else
                        unsetenv("SHMBOX_FAIL_AT");
                if (d->user != 0 && (setgroups(0, NULL) < 0 || setgid(d->group) < 0 || setuid(d->user) < 0))
                        _exit(126);
                execv(bin, (char **)argv);
                _exit(127);
        }
        d->pid = pid;
        if (!wait_ready)
                return;

        /* up when a client can connect: the daemon binds its socket last */
        int64_t deadline = harness_now_us() + (int64_t)harness_ms(10000) * 1000;
        for (;;) {
                shmbox_client *c;
                int status;

                if (shmbox_connect(d->socket, &c) == 0) {
                        shmbox_disconnect(c);
                        return;
                }
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        d->pid = 0;
                        print_log(d);
                        ck_abort_msg("shmboxd exited during start-up (status 0x%x)", status);
                }
                if (harness_now_us() > deadline) {
                        print_log(d);
                        ck_abort_msg("shmboxd did not come up within %d ms", harness_ms(10000));
                }
                msleep(5);
        }
}

void harness_daemon_start(TestDaemon *d, const char *const *extra) {
        harness_daemon_start_as(d, extra, 0, 0);
}

/* Whether @dir and every directory above it let others through (o+x): the socket must be
 * reachable by the users the suites switch to, and an unprivileged daemon its own directory. */
static bool path_public(const char *dir) {
        char path[256];
        struct stat st;
        char *slash;

        if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
                return false;
        do {
                if (stat(path, &st) < 0 || !(st.st_mode & S_IXOTH))
                        return false;
                slash = strrchr(path, '/');
                if (slash)
                        *slash = 0;
        } while (slash && path[0]);
        return true;
}

void harness_copy_binary(const char *from, const char *to) {
        char buf[65536];
        int in, out;
        ssize_t n;

        in = open(from, O_RDONLY | O_CLOEXEC);
        ck_assert_msg(in >= 0, "open %s: %s", from, strerror(errno));
        out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
        ck_assert_msg(out >= 0, "create %s: %s", to, strerror(errno));
        while ((n = read(in, buf, sizeof(buf))) > 0)
                ck_assert_msg(write(out, buf, (size_t)n) == n, "write %s: %s", to, strerror(errno));
        ck_assert_msg(n == 0, "read %s: %s", from, strerror(errno));
        close(in);
        ck_assert_int_eq(close(out), 0);
        ck_assert_int_eq(chmod(to, 0755), 0);
}

void harness_ctl_copy(const char *dir, char *bin, size_t size) {
        const char *ctl = getenv("SHMBOXCTL");
        char real[PATH_MAX - 64], lib[PATH_MAX], to[PATH_MAX], *slash;

        ck_assert_msg(ctl && *ctl, "SHMBOXCTL is not set (run the suites through make check)");
        snprintf(real, sizeof(real), "%s", ctl);
        slash = strrchr(real, '/');
        ck_assert_msg(slash, "SHMBOXCTL is not a path: %s", ctl);
        *slash = 0;
        snprintf(lib, sizeof(lib), "%s/.libs/libshmbox.so.0", real);
        snprintf(to, sizeof(to), "%s/.libs/shmboxctl", real);
        snprintf(bin, size, "%s/shmboxctl", dir);
        if (access(bin, X_OK) == 0)
                return; /* copied for an earlier call */
        if (access(to, X_OK) == 0) {
                harness_copy_binary(to, bin);
                if (access(lib, R_OK) == 0) {
                        snprintf(to, sizeof(to), "%s/libshmbox.so.0", dir);
                        harness_copy_binary(lib, to);
                }
        } else
                harness_copy_binary(ctl, bin);
}

void harness_ctl_env(const char *dir) {
        if (setenv("LD_LIBRARY_PATH", dir, 1) < 0)
                _exit(127);
}

bool harness_shm_has_room(uint64_t need, const char *what) {
        struct statvfs sv;
        uint64_t avail;

        if (statvfs("/dev/shm", &sv) < 0) {
                fprintf(stderr, "SKIP: %s: cannot statvfs /dev/shm: %s\n", what, strerror(errno));
                return false;
        }
        avail = (uint64_t)sv.f_bavail * sv.f_frsize;
        if (avail >= need)
                return true;
        fprintf(stderr,
                "SKIP: %s: /dev/shm has %llu MiB free, this case needs %llu MiB (a container's default "
                "is 64 MiB: run it with --shm-size=1g)\n",
                what, (unsigned long long)(avail >> 20), (unsigned long long)((need + (1u << 20) - 1) >> 20));
        return false;
}

void harness_daemon_start_as(TestDaemon *d, const char *const *extra, uid_t user, gid_t group) {
        static unsigned counter;
        const char *tmp = getenv("TMPDIR");
        const char *bin = getenv("SHMBOXD");

        memset(d, 0, sizeof(*d));
        d->user = user;
        d->group = group;
        snprintf(d->prefix, sizeof(d->prefix), "%s_%d_%u", harness_stem(), (int)getpid() % 100000, counter++);
        /* sun_path holds 108 bytes: distcheck's deep TMPDIRs fall back to /tmp */
        /* other users reach the socket: a TMPDIR under a private directory falls back to /tmp too */
        if (!(tmp && *tmp && strlen(tmp) < 60 && path_public(tmp) && access(tmp, W_OK) == 0))
                tmp = "/tmp";
        snprintf(d->dir, sizeof(d->dir), "%s/shmboxtest.XXXXXX", tmp);
        ck_assert_msg(mkdtemp(d->dir), "mkdtemp %s: %s", d->dir, strerror(errno));
        ck_assert_int_lt(strlen(d->dir) + 6, sizeof(d->socket));
        memcpy(d->socket, d->dir, strlen(d->dir));
        strcpy(d->socket + strlen(d->dir), "/sock");
        snprintf(d->state_dir, sizeof(d->state_dir), "%s/state", d->dir);
        snprintf(d->log, sizeof(d->log), "%s/shmboxd.log", d->dir);
        snprintf(d->config, sizeof(d->config), "%s/shmboxd.conf", d->dir);
        for (int i = 0; extra && extra[i] && i < 4; i++)
                snprintf(d->extra[i], sizeof(d->extra[i]), "%s", extra[i]);
        /* other users must reach the socket inside; an unprivileged daemon owns its directory */
        ck_assert_int_eq(chmod(d->dir, 0755), 0);
        ck_assert_msg(bin && *bin, "SHMBOXD is not set (run the suites through make check)");
        snprintf(d->bin, sizeof(d->bin), "%s", bin);
        if (user != 0) {
                snprintf(d->bin, sizeof(d->bin), "%s/shmboxd", d->dir);
                harness_copy_binary(bin, d->bin);
                ck_assert_int_eq(chown(d->dir, user, group), 0);
        }
        spawn(d, true);
}

void harness_daemon_restart(TestDaemon *d) {
        ck_assert_int_eq(d->pid, 0);
        spawn(d, true);
}

void harness_daemon_restart_crashing(TestDaemon *d) {
        ck_assert_int_eq(d->pid, 0);
        spawn(d, false);
        harness_daemon_expect_killed(d);
}

void harness_daemon_expect_killed(TestDaemon *d) {
        int status = harness_wait_exit(d->pid, harness_ms(10000));

        d->pid = 0;
        d->crash_at[0] = 0;
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
                print_log(d);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "shmboxd did not die at its crash point (status 0x%x)", status);
}

void harness_daemon_stop(TestDaemon *d) {
        int status;

        if (d->pid <= 0)
                return;
        kill(d->pid, SIGTERM);
        status = harness_wait_exit(d->pid, harness_ms(10000));
        d->pid = 0;
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
                print_log(d);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "shmboxd did not exit cleanly on SIGTERM (status 0x%x)", status);
}

void harness_daemon_kill(TestDaemon *d) {
        if (d->pid <= 0)
                return;
        kill(d->pid, SIGKILL);
        harness_wait_exit(d->pid, harness_ms(10000));
        d->pid = 0;
}

static void rm_rf_dir(const char *dir) {
        DIR *dd = opendir(dir);
        struct dirent *de;
        char path[512];

        if (!dd)
                return;
        while ((de = readdir(dd))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                if (de->d_type == DT_DIR)
                        rm_rf_dir(path);
                else
                        unlink(path);
        }
        closedir(dd);
        rmdir(dir);
}

void harness_daemon_done(TestDaemon *d) {
        unsigned left;

        harness_daemon_stop(d);
        left = harness_count_objects(d->prefix);
        if (left) {
                print_log(d);
                harness_sweep(d->prefix);
        }
        rm_rf_dir(d->dir);
        ck_assert_msg(left == 0, "%u object(s) of prefix %s left in /dev/shm", left, d->prefix);
}

shmbox_client *harness_connect(const TestDaemon *d) {
        shmbox_client *c = NULL;
        int r = shmbox_connect(d->socket, &c);

        ck_assert_msg(r == 0, "connect to %s: %s", d->socket, shmbox_strerror(r));
        return c;
}

static bool object_of(const char *entry, const char *prefix) {
        size_t n = strlen(prefix);

        if (strncmp(entry, "sem.", 4) == 0)
                entry += 4;
        return strncmp(entry, prefix, n) == 0;
}

unsigned harness_count_objects(const char *prefix) {
        DIR *d = opendir("/dev/shm");
        struct dirent *de;
        unsigned n = 0;

        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (object_of(de->d_name, prefix))
                        n++;
        closedir(d);
        return n;
}

/* SIGKILL processes whose command line has "--prefix" followed by an argument starting with @prefix. */
static void kill_daemons(const char *prefix) {
        DIR *d = opendir("/proc");
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                char path[300], buf[4096];
                ssize_t n;
                int fd;

                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                n = read(fd, buf, sizeof(buf) - 1);
                close(fd);
                if (n <= 0)
                        continue;
                buf[n] = 0;
                for (char *p = buf; p < buf + n; p += strlen(p) + 1)
                        if (strcmp(p, "--prefix") == 0 && p + strlen(p) + 1 < buf + n &&
                            strncmp(p + strlen(p) + 1, prefix, strlen(prefix)) == 0) {
                                pid_t pid = (pid_t)atoi(de->d_name);
                                kill(pid, SIGKILL);
                                waitpid(pid, NULL, 0);
                                break;
                        }
        }
        closedir(d);
}

unsigned harness_sweep(const char *prefix) {
        DIR *d;
        struct dirent *de;
        unsigned n = 0;

        kill_daemons(prefix);
        d = opendir("/dev/shm");
        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (object_of(de->d_name, prefix) && unlinkat(dirfd(d), de->d_name, 0) == 0)
                        n++;
        closedir(d);
        return n;
}

bool harness_wait_sleeping(pid_t pid, int ms) {
        int64_t deadline = harness_now_us() + (int64_t)ms * 1000;

        for (;;) {
                char path[64], buf[512], *p;
                ssize_t n;
                int fd;

                snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return false;
                n = read(fd, buf, sizeof(buf) - 1);
                close(fd);
                if (n > 0) {
                        buf[n] = 0;
                        p = strrchr(buf, ')');
                        if (p && p[1] == ' ' && p[2] == 'S')
                                return true;
                }
                if (harness_now_us() > deadline)
                        return false;
                msleep(1);
        }
}

int harness_wait_exit(pid_t pid, int ms) {
        int64_t deadline = harness_now_us() + (int64_t)ms * 1000;
        int status;

        for (;;) {
                pid_t r = waitpid(pid, &status, WNOHANG);

                if (r == pid)
                        return status;
                if (r < 0)
                        return -1;
                if (harness_now_us() > deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        return -1;
                }
                msleep(1);
        }
}

HarnessChild harness_child_spawn(void (*fn)(const void *arg, int wfd), const void *arg) {
        pid_t parent = getpid();
        HarnessChild ch;
        int p[2];

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        ch.pid = fork();
        ck_assert_int_ge(ch.pid, 0);
        if (ch.pid == 0) {
                /* a failed test must not leave its peers behind */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(4);
                close(p[0]);
                fn(arg, p[1]);
                _exit(0);
        }
        close(p[1]);
        ch.fd = p[0];
        return ch;
}

int64_t harness_run_delay_us(void) {
        unsigned long long on_cpu, waited;
        char buf[128];
        ssize_t n;
        int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return -1;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return -1;
        buf[n] = 0;
        if (sscanf(buf, "%llu %llu", &on_cpu, &waited) != 2)
                return -1;
        return (int64_t)(waited / 1000);
}

void harness_child_report(int wfd, int64_t v) {
        if (write(wfd, &v, sizeof(v)) != (ssize_t)sizeof(v))
                _exit(3);
}

int64_t harness_child_read(const HarnessChild *ch, int ms) {
        struct pollfd pfd = { .fd = ch->fd, .events = POLLIN };
        int64_t v;
        int r;

        do
                r = poll(&pfd, 1, ms);
        while (r < 0 && errno == EINTR);
        ck_assert_msg(r == 1, "child %d reported nothing within %d ms", (int)ch->pid, ms);
        ck_assert_msg(read(ch->fd, &v, sizeof(v)) == (ssize_t)sizeof(v), "child %d ended early", (int)ch->pid);
        return v;
}

void harness_child_reap(HarnessChild *ch) {
        int status = harness_wait_exit(ch->pid, harness_ms(10000));

        close(ch->fd);
        ck_assert_msg(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d ended with status 0x%x",
                      (int)ch->pid, status);
}

TCase *harness_tcase(Suite *s, const char *name, int timeout_s, void (*setup)(void), void (*teardown)(void)) {
        TCase *tc = tcase_create(name);

        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        if (setup || teardown)
                tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, timeout_s * harness_scale());
        if (s)
                suite_add_tcase(s, tc);
        return tc;
}

void harness_unchecked_setup(void) {
        harness_sweep(harness_stem());
}

void harness_unchecked_teardown(void) {
        unsigned n = harness_sweep(harness_stem());

        if (n)
                fprintf(stderr, "harness: swept %u object(s) of %s left by a failed test\n", n, harness_stem());
}
