/* SPDX-License-Identifier: MIT */
/* End-to-end tests of `shmboxctl walkthrough`: the real binary ($SHMBOXCTL) narrates a real
 * exchange between two processes, against this test's shmboxd or a temporary one of its own.
 *
 * The narration is checked by parsing it: every step must be there with numbers that sscanf
 * reads back and that agree with each other (the addresses of the attach step in the summary,
 * the slot the sender claimed in the receiver's step, nothing left in /dev/shm). The --json
 * record is parsed with json-c and checked for every step and key. A temporary daemon gets a
 * prefix that starts with the suite's stem, so tests/run-suite.sh would catch anything it left.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness.h"

#define ARGS_MAX 24
#define RUN_DEADLINE_MS 60000

static TestDaemon d;

/* The outputs of the last run(), NUL-terminated. */
static char *out, *err;

static void reset_output(void) {
        free(out);
        free(err);
        out = err = NULL;
}

static void setup(void) {
        unsetenv("SHMBOX_SOCKET");
        harness_daemon_start(&d, NULL);
}

static void teardown(void) {
        reset_output();
        harness_daemon_done(&d);
}

/* A prefix for a temporary daemon that starts with the suite's stem. */
static const char *temp_prefix(void) {
        static char prefix[33];
        static unsigned counter;

        snprintf(prefix, sizeof(prefix), "%s_w%d_%u", harness_stem(), (int)getpid() % 100000, counter++);
        return prefix;
}

static void buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n) {
        if (*len + n + 1 > *cap) {
                *cap = (*len + n + 1) * 2;
                *buf = realloc(*buf, *cap);
                ck_assert_ptr_nonnull(*buf);
        }
        memcpy(*buf + *len, data, n);
        *len += n;
        (*buf)[*len] = '\0';
}

/*
 * run_argv() - run $SHMBOXCTL with @args, collect stdout and stderr into out/err
 * @signal_after_ms: > 0: send SIGINT to it after that many ms
 *
 * The child dies with the test process (PR_SET_PDEATHSIG) and is always reaped here.
 *
 * Return: the exit status, or 128 + the signal that ended it.
 */
static int run_argv(int signal_after_ms, const char *const *args) {
        const char *bin = getenv("SHMBOXCTL");
        const char *argv[ARGS_MAX + 2];
        size_t olen = 0, ocap = 0, elen = 0, ecap = 0;
        int pout[2], perr[2], status, n = 0;
        int64_t deadline, signal_at;
        bool signalled = false;
        pid_t pid, parent = getpid();

        ck_assert_msg(bin && *bin, "SHMBOXCTL is not set (run the suites through make check)");
        reset_output();
        argv[n++] = bin;
        for (int i = 0; args[i]; i++) {
                ck_assert_int_lt(n, ARGS_MAX + 1);
                argv[n++] = args[i];
        }
        argv[n] = NULL;

        ck_assert_int_eq(pipe2(pout, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(perr, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                signal(SIGPIPE, SIG_DFL);
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(127);
                if (dup2(pout[1], STDOUT_FILENO) < 0 || dup2(perr[1], STDERR_FILENO) < 0)
                        _exit(127);
                execv(bin, (char **)argv);
                _exit(127);
        }
        close(pout[1]);
        close(perr[1]);
        buf_append(&out, &olen, &ocap, "", 0);
        buf_append(&err, &elen, &ecap, "", 0);
        deadline = harness_now_us() + (int64_t)harness_ms(RUN_DEADLINE_MS) * 1000;
        signal_at = harness_now_us() + (int64_t)signal_after_ms * 1000;
        while (pout[0] >= 0 || perr[0] >= 0) {
                struct pollfd pfd[2] = { { .fd = pout[0], .events = POLLIN }, { .fd = perr[0], .events = POLLIN } };
                char buf[4096];

                /* not before the program has printed: on a loaded machine 700 ms may pass
                 * before it has even installed its handlers, and SIGINT then just kills it */
                if (signal_after_ms > 0 && !signalled && olen > 0 && harness_now_us() >= signal_at) {
                        kill(pid, SIGINT);
                        signalled = true;
                }
                if (harness_now_us() > deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        ck_abort_msg("shmboxctl %s ran longer than %d ms", args[0], harness_ms(RUN_DEADLINE_MS));
                }
                if (poll(pfd, 2, 20) < 0 && errno != EINTR)
                        ck_abort_msg("poll: %s", strerror(errno));
                for (int i = 0; i < 2; i++) {
                        ssize_t k;

                        if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        k = read(pfd[i].fd, buf, sizeof(buf));
                        if (k > 0) {
                                if (i == 0)
                                        buf_append(&out, &olen, &ocap, buf, (size_t)k);
                                else
                                        buf_append(&err, &elen, &ecap, buf, (size_t)k);
                        } else if (k == 0 || errno != EINTR) {
                                close(pfd[i].fd);
                                if (i == 0)
                                        pout[0] = -1;
                                else
                                        perr[0] = -1;
                        }
                }
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define run(...) run_argv(0, (const char *const[]){ __VA_ARGS__, NULL })

/* The line of `out` that starts with @prefix (after leading blanks), or fail. */
static const char *line_of(const char *prefix) {
        for (const char *p = out; p && *p;) {
                const char *s = p + strspn(p, " ");

                if (strncmp(s, prefix, strlen(prefix)) == 0)
                        return s;
                p = strchr(p, '\n');
                if (p)
                        p++;
        }
        ck_abort_msg("no line starting with \"%s\" in:\n%s", prefix, out);
        return NULL;
}

static unsigned count_lines_with(const char *needle) {
        unsigned n = 0;

        for (const char *p = out; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* The /dev/shm objects of @prefix other than the instance lock file. */
static unsigned mailbox_objects(const char *prefix) {
        char lock[64];
        unsigned n = harness_count_objects(prefix);

        snprintf(lock, sizeof(lock), "/dev/shm/%s..lock", prefix);
        return n - (access(lock, F_OK) == 0 ? 1 : 0);
}

/* Can this process read frame numbers from its pagemap (CAP_SYS_ADMIN)? */
static bool frames_readable(void) {
        static volatile char page[8192];
        uint64_t e = 0;
        int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        long ps = sysconf(_SC_PAGESIZE);
        uintptr_t addr = (uintptr_t)&page[ps];
        bool ok;

        page[ps] = 1;
        if (fd < 0)
                return false;
        ok = pread(fd, &e, sizeof(e), (off_t)(addr / (uintptr_t)ps * sizeof(e))) == sizeof(e);
        close(fd);
        return ok && (e >> 63) && (e & ((UINT64_C(1) << 55) - 1)) != 0;
}

/* ---- what this machine says about its caches, found here independently -------------------- */

#define SYSFS_CPU "/sys/devices/system/cpu"

/* The caches the walkthrough should report for one CPU, and from where. */
typedef struct Expected {
        const char *source; /* "sysfs", "sysconf" or "none" */
        unsigned n;
        unsigned level[16];
        char type[16][16];
        uint64_t size[16];
        unsigned data; /* how many are data or unified caches: the chart's dashed lines */
} Expected;

/* A sysfs attribute as text without its newline; false when it cannot be read. */
static bool read_text(const char *path, char *buf, size_t size) {
        FILE *f = fopen(path, "re");
        bool ok;

        if (!f)
                return false;
        ok = fgets(buf, (int)size, f) != NULL;
        fclose(f);
        buf[strcspn(buf, "\n")] = '\0';
        return ok;
}

static void expect_add(Expected *e, unsigned level, const char *type, uint64_t size) {
        ck_assert_uint_lt(e->n, 16);
        e->level[e->n] = level;
        snprintf(e->type[e->n], sizeof(e->type[e->n]), "%s", type);
        e->size[e->n] = size;
        e->data += strcmp(type, "Instruction") != 0;
        e->n++;
}

/* `getconf NAME` (glibc's sysconf, which asks the CPU) as a byte count; 0 when it says nothing. */
static uint64_t getconf_bytes(const char *name) {
        char cmd[96], buf[64] = "";
        unsigned long long v = 0;
        FILE *p;

        snprintf(cmd, sizeof(cmd), "getconf %s 2>/dev/null", name);
        p = popen(cmd, "r");
        ck_assert_ptr_nonnull(p);
        if (!fgets(buf, sizeof(buf), p))
                buf[0] = '\0';
        ck_assert_int_ne(pclose(p), -1);
        return sscanf(buf, "%llu", &v) == 1 ? v : 0; /* "undefined" or empty: nothing */
}

/* What the walkthrough should find for @cpu with @root in place of /sys/devices/system/cpu:
 * the sizes sysfs lists there (indexK/size, "48K" and the like), else those of getconf. */
static void expect_caches(const char *root, int cpu, Expected *e) {
        static const struct {
                unsigned level;
                const char *type, *name;
        } conf[] = {
                { 1, "Data", "LEVEL1_DCACHE_SIZE" },   { 1, "Instruction", "LEVEL1_ICACHE_SIZE" },
                { 2, "Unified", "LEVEL2_CACHE_SIZE" }, { 3, "Unified", "LEVEL3_CACHE_SIZE" },
                { 4, "Unified", "LEVEL4_CACHE_SIZE" },
        };

        memset(e, 0, sizeof(*e));
        for (int i = 0; i < 32; i++) {
                char path[PATH_MAX], level[16], type[16], size[32];
                unsigned long long v;
                char unit = '\0';

                snprintf(path, sizeof(path), "%s/cpu%d/cache/index%d/level", root, cpu, i);
                if (!read_text(path, level, sizeof(level)))
                        break;
                snprintf(path, sizeof(path), "%s/cpu%d/cache/index%d/type", root, cpu, i);
                if (!read_text(path, type, sizeof(type)))
                        continue;
                snprintf(path, sizeof(path), "%s/cpu%d/cache/index%d/size", root, cpu, i);
                if (!read_text(path, size, sizeof(size)) || sscanf(size, "%llu%c", &v, &unit) < 1 || v == 0)
                        continue;
                v <<= unit == 'K' ? 10 : unit == 'M' ? 20 : unit == 'G' ? 30 : 0;
                expect_add(e, (unsigned)atoi(level), type, v);
        }
        e->source = e->n ? "sysfs" : "none";
        if (e->n)
                return;
        for (size_t i = 0; i < sizeof(conf) / sizeof(conf[0]); i++) {
                uint64_t v = getconf_bytes(conf[i].name);

                if (v > 0)
                        expect_add(e, conf[i].level, conf[i].type, v);
        }
        if (e->n)
                e->source = "sysconf";
}

/* The words the text and the chart use for @e's source. */
static const char *origin_words(const Expected *e) {
        return strcmp(e->source, "sysfs") == 0     ? "(from sysfs, "
               : strcmp(e->source, "sysconf") == 0 ? "(from the CPU via sysconf: "
                                                   : "this machine reveals no cache sizes (";
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st, (void)flag, (void)ftw;
        return remove(path);
}

/* A directory under the test daemon's (which teardown removes in any case); @name is created
 * empty. Return: its path, in a static buffer. */
static const char *test_dir(const char *name) {
        static char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/%s", d.dir, name);
        ck_assert_int_eq(mkdir(path, 0700), 0);
        return path;
}

static void remove_tree(const char *path) {
        ck_assert_int_eq(nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
        ck_assert_int_eq(access(path, F_OK), -1);
}

/* Write @value to @root/cpu@cpu/cache/index@index/@attr, making the folders. */
static void fake_attr(const char *root, int cpu, int index, const char *attr, const char *value) {
        char path[PATH_MAX];
        FILE *f;

        snprintf(path, sizeof(path), "%s/cpu%d", root, cpu);
        ck_assert(mkdir(path, 0700) == 0 || errno == EEXIST);
        snprintf(path, sizeof(path), "%s/cpu%d/cache", root, cpu);
        ck_assert(mkdir(path, 0700) == 0 || errno == EEXIST);
        snprintf(path, sizeof(path), "%s/cpu%d/cache/index%d", root, cpu, index);
        ck_assert(mkdir(path, 0700) == 0 || errno == EEXIST);
        snprintf(path, sizeof(path), "%s/cpu%d/cache/index%d/%s", root, cpu, index, attr);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "%s\n", value);
        ck_assert_int_eq(fclose(f), 0);
}

/* ---- the narration ------------------------------------------------------------------------- */

START_TEST(test_every_step_appears_with_numbers_that_parse) {
        unsigned slots, slot_size, header, stride, head_size, token_s, index_s, token_r, index_r;
        unsigned slot, slot_tail, slot_read, lines, line_size, cpu;
        Expected want;
        unsigned long long addr_s, addr_r, size_s, size_r, offset, tail0, tail1, pfn_s, pfn_r;
        unsigned long long sum_addr_s, sum_addr_r, payload;
        int pid_s, pid_r, sum_pid_s, sum_pid_r, mailbox_pid, lock, items, space;
        long long faults;
        size_t bytes, seg_size;
        double reserve_us, latency_us;
        char name[80];
        const char *l;

        ck_assert_int_eq(run("--socket", d.socket, "walkthrough", "--size", "300"), 0);
        ck_assert_str_eq(err, "");

        ck_assert_int_eq(sscanf(line_of("daemon: shmboxd on "), "daemon: shmboxd on %79s", name), 1);
        ck_assert_str_eq(name, d.socket);

        /* 1. create */
        ck_assert_int_eq(sscanf(line_of("1. create:"),
                                "1. create: the daemon made mailbox walkthrough-%d (%u slots x %u bytes)", &mailbox_pid,
                                &slots, &slot_size),
                         3);
        ck_assert_uint_eq(slot_size, 300);
        ck_assert_uint_ge(slots, 1);
        snprintf(name, sizeof(name), "/dev/shm/%s.walkthrough-%d  size ", d.prefix, mailbox_pid);
        ck_assert_int_eq(sscanf(strstr(out, name) + strlen(name), "%zu", &seg_size), 1);
        snprintf(name, sizeof(name), "/dev/shm/sem.%s.walkthrough-%d.", d.prefix, mailbox_pid);
        ck_assert_uint_eq(count_lines_with(name), 3);
        ck_assert_uint_ge(count_lines_with("  mode 0"), 4); /* segment, semaphores, maybe more */
        ck_assert_uint_eq(count_lines_with("semaphore lock = 0\n"), 1);
        ck_assert_uint_eq(count_lines_with("semaphore items = 0\n"), 1);
        ck_assert_uint_eq(count_lines_with("semaphore space = 0\n"), 1);
        ck_assert_int_eq(sscanf(line_of("header:"), "header: %u bytes", &header), 1);
        ck_assert_int_eq(sscanf(line_of("slots:"), "slots: %u x stride %u bytes = %u-byte slot head", &slots, &stride,
                                &head_size),
                         3);
        ck_assert_uint_ge(stride, head_size + slot_size);
        ck_assert_uint_eq(stride % 64, 0);
        ck_assert_uint_eq(seg_size, header + slots * stride);

        /* 2. attach: two processes, two addresses */
        ck_assert_ptr_nonnull(line_of("2. attach:"));
        ck_assert_int_eq(sscanf(line_of("sender pid "),
                                "sender pid %d: mapped at 0x%llx, %llu bytes; token %u, index %u; %lld minor", &pid_s,
                                &addr_s, &size_s, &token_s, &index_s, &faults),
                         6);
        ck_assert_int_ge(faults, 0);
        ck_assert_int_eq(sscanf(line_of("receiver pid "),
                                "receiver pid %d: mapped at 0x%llx, %llu bytes; token %u, index %u; %lld minor", &pid_r,
                                &addr_r, &size_r, &token_r, &index_r, &faults),
                         6);
        ck_assert_int_ne(pid_s, pid_r);
        ck_assert_int_ne(pid_s, getpid());
        ck_assert_uint_ne(addr_s, 0);
        ck_assert_uint_ne(addr_r, 0);
        ck_assert_uint_eq(size_s, seg_size);
        ck_assert_uint_eq(size_r, seg_size);
        ck_assert_uint_ne(token_s, token_r);
        ck_assert_uint_ne(index_s, index_r);
        l = line_of("header page: frame");
        ck_assert_int_eq(sscanf(l, "header page: frame 0x%llx in the sender, 0x%llx in the receiver", &pfn_s, &pfn_r),
                         2);

        /* 3. write */
        ck_assert_int_eq(
                sscanf(line_of("3. write:"), "3. write: the sender copies %zu bytes into slot %u", &bytes, &slot), 2);
        ck_assert_uint_eq(bytes, 300);
        ck_assert_uint_lt(slot, slots);
        ck_assert_int_eq(sscanf(line_of("slot "),
                                "slot %u: payload at 0x%llx in the sender (offset %llu in the segment), %u cache "
                                "lines of %u bytes",
                                &slot, &payload, &offset, &lines, &line_size),
                         5);
        ck_assert_uint_eq(payload, addr_s + offset);
        ck_assert_uint_eq(offset, header + slot * stride + head_size);
        ck_assert_uint_ge(line_size, 16);
        ck_assert_uint_eq(lines, (300 + line_size - 1) / line_size);
        ck_assert_int_eq(sscanf(line_of("caches of cpu "), "caches of cpu %u", &cpu), 1);
        expect_caches(SYSFS_CPU, (int)cpu, &want);
        ck_assert_ptr_nonnull(strstr(line_of("caches of cpu "), origin_words(&want)));
        ck_assert_int_eq(sscanf(line_of("reserve "), "reserve %lf us (one CAS claims slot %u, tail - 1 = %u",
                                &reserve_us, &slot, &slot_tail),
                         3);
        ck_assert_uint_eq(slot, slot_tail);
        ck_assert_ptr_nonnull(line_of("first touch of the slot by the sender: "));
        ck_assert_int_eq(sscanf(line_of("commit: "), "commit: one CAS made slot %u READY; tail %llu -> %llu", &slot,
                                &tail0, &tail1),
                         3);
        ck_assert_uint_eq(tail1, tail0 + 1);
        ck_assert_int_eq(sscanf(line_of("semaphores after the send:"),
                                "semaphores after the send: lock %d, items %d, space %d", &lock, &items, &space),
                         3);

        /* 4. read */
        ck_assert_int_eq(
                sscanf(line_of("4. read:"), "4. read: the receiver copies the message out of slot %u", &slot_read), 1);
        ck_assert_uint_eq(slot_read, slot);
        ck_assert_int_eq(sscanf(line_of("received "), "received %zu bytes %lf us after the commit; content identical",
                                &bytes, &latency_us),
                         2);
        ck_assert_uint_eq(bytes, 300);
        ck_assert(latency_us >= 0);
        ck_assert_ptr_nonnull(line_of("a recv with timeout 0 found"));
        ck_assert_ptr_nonnull(line_of("first touch of the slot by the receiver: "));
        ck_assert_int_eq(sscanf(line_of("semaphores after the receive:"),
                                "semaphores after the receive: lock %d, items %d, space %d", &lock, &items, &space),
                         3);

        /* 5. detach and destroy */
        ck_assert_ptr_nonnull(line_of("5. detach and destroy:"));
        ck_assert_ptr_nonnull(strstr(line_of("ls /dev/shm, objects of walkthrough-"), ": (none)\n"));
        ck_assert_ptr_nonnull(line_of("objects of the mailbox left: 0\n"));

        /* the summary repeats what the steps said */
        ck_assert_int_eq(sscanf(line_of("summary: "),
                                "summary: %zu bytes from pid %d (mapped at 0x%llx) to pid %d (mapped at 0x%llx)",
                                &bytes, &sum_pid_s, &sum_addr_s, &sum_pid_r, &sum_addr_r),
                         5);
        ck_assert_int_eq(sum_pid_s, pid_s);
        ck_assert_int_eq(sum_pid_r, pid_r);
        ck_assert_uint_eq(sum_addr_s, addr_s);
        ck_assert_uint_eq(sum_addr_r, addr_r);
        ck_assert_ptr_nonnull(strstr(line_of("summary: "), "left in /dev/shm: 0\n"));

        ck_assert_uint_eq(mailbox_objects(d.prefix), 0);
}
END_TEST

START_TEST(test_both_processes_see_the_same_frames_where_pagemap_is_readable) {
        unsigned long long a, b;

        ck_assert_int_eq(run("--socket", d.socket, "walkthrough"), 0);
        if (frames_readable()) {
                ck_assert_int_eq(sscanf(line_of("header page: frame"),
                                        "header page: frame 0x%llx in the sender, 0x%llx in the receiver", &a, &b),
                                 2);
                ck_assert_uint_ne(a, 0);
                ck_assert_uint_eq(a, b);
                ck_assert_int_eq(sscanf(line_of("slot page: frame"),
                                        "slot page: frame 0x%llx in the sender, 0x%llx in the receiver", &a, &b),
                                 2);
                ck_assert_uint_ne(a, 0);
                ck_assert_uint_eq(a, b);
                ck_assert_ptr_nonnull(strstr(line_of("summary: "), "same frames: yes;"));
        } else {
                /* frame numbers read 0 without CAP_SYS_ADMIN: the walkthrough says so, and why */
                ck_assert_ptr_nonnull(strstr(line_of("header page: frames hidden:"), "CAP_SYS_ADMIN"));
                ck_assert_ptr_nonnull(strstr(line_of("summary: "), "same frames: hidden;"));
        }
}
END_TEST

START_TEST(test_quiet_prints_the_summary_line_only) {
        unsigned long long a, b;
        size_t bytes;
        int ps, pr;

        ck_assert_int_eq(run("--socket", d.socket, "walkthrough", "--quiet", "--size", "0"), 0);
        ck_assert_str_eq(err, "");
        ck_assert_int_eq(strncmp(out, "summary: ", 9), 0);
        ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
        ck_assert_int_eq(sscanf(out, "summary: %zu bytes from pid %d (mapped at 0x%llx) to pid %d (mapped at 0x%llx)",
                                &bytes, &ps, &a, &pr, &b),
                         5);
        ck_assert_uint_eq(bytes, 0);
        ck_assert_uint_eq(mailbox_objects(d.prefix), 0);
}
END_TEST

START_TEST(test_a_message_of_many_pages_travels_intact) {
        size_t bytes;
        double us;

        /* 1 MiB: hundreds of pages and first-touch faults; the receiver checks every byte */
        ck_assert_int_eq(run("--socket", d.socket, "walkthrough", "--size", "1048576"), 0);
        ck_assert_int_eq(sscanf(line_of("received "), "received %zu bytes %lf us after the commit; content identical",
                                &bytes, &us),
                         2);
        ck_assert_uint_eq(bytes, 1048576);
        ck_assert_ptr_nonnull(
                strstr(line_of("first touch of the slot by the sender: "), "the message spans 257 pages"));
        ck_assert_uint_eq(mailbox_objects(d.prefix), 0);
}
END_TEST

/* ---- the JSON record ----------------------------------------------------------------------- */

static json_object *get(json_object *o, const char *key) {
        json_object *v = NULL;

        ck_assert_msg(json_object_is_type(o, json_type_object), "not an object where \"%s\" should be", key);
        ck_assert_msg(json_object_object_get_ex(o, key, &v), "no key \"%s\" in %s", key, json_object_to_json_string(o));
        return v;
}

static int64_t get_int(json_object *o, const char *key) {
        json_object *v = get(o, key);

        ck_assert_msg(json_object_is_type(v, json_type_int), "\"%s\" is not an integer", key);
        return json_object_get_int64(v);
}

static bool get_bool(json_object *o, const char *key) {
        json_object *v = get(o, key);

        ck_assert_msg(json_object_is_type(v, json_type_boolean), "\"%s\" is not a boolean", key);
        return json_object_get_boolean(v);
}

static const char *get_str(json_object *o, const char *key) {
        json_object *v = get(o, key);

        ck_assert_msg(json_object_is_type(v, json_type_string), "\"%s\" is not a string", key);
        return json_object_get_string(v);
}

/* Parse all of `out` as one JSON value: nothing else may be on stdout. */
static json_object *parse_out(void) {
        json_tokener *tok = json_tokener_new();
        json_object *o;
        size_t len = strlen(out);

        ck_assert_ptr_nonnull(tok);
        o = json_tokener_parse_ex(tok, out, (int)len);
        ck_assert_msg(o && json_tokener_get_error(tok) == json_tokener_success, "not JSON: %s", out);
        ck_assert_msg(strspn(out + json_tokener_get_parse_end(tok), " \n") == len - json_tokener_get_parse_end(tok),
                      "more than one JSON value on stdout");
        json_tokener_free(tok);
        return o;
}

static void check_stat(json_object *st) {
        static const char *const keys[] = { "map_addr",    "map_size", "generation", "epoch",         "head",
                                            "tail",        "slots",    "slot_size",  "slot_stride",   "slot_head",
                                            "header_size", "token",    "index",      "rights",        "flags",
                                            "ready",       "claimed",  "taken",      "recv_sleepers", "send_sleepers",
                                            "lock_token" };

        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                ck_assert_int_ge(get_int(st, keys[i]), 0);
        ck_assert_int_gt(get_int(st, "map_addr"), 0);
        ck_assert_int_ge(get_int(get(st, "semaphores"), "items"), 0);
        ck_assert_int_eq(strncmp(get_str(st, "segment"), "/dev/shm/", 9), 0);
        ck_assert_int_eq(strncmp(get_str(get(st, "sem_paths"), "space"), "/dev/shm/sem.", 13), 0);
}

/* Check the cache keys of an event or record against what this machine says. */
static void check_caches(json_object *o, const Expected *e) {
        json_object *a = get(o, "caches");

        ck_assert_str_eq(get_str(o, "cache_source"), e->source);
        ck_assert_uint_eq(json_object_array_length(a), e->n);
        for (unsigned i = 0; i < e->n; i++) {
                json_object *c = json_object_array_get_idx(a, i);

                ck_assert_int_eq(get_int(c, "level"), e->level[i]);
                ck_assert_str_eq(get_str(c, "type"), e->type[i]);
                ck_assert_int_eq(get_int(c, "size"), (int64_t)e->size[i]);
        }
        ck_assert_int_ge(get_int(o, "line_size"), 16);
        if (strcmp(e->source, "none") == 0)
                ck_assert_str_eq(get_str(o, "cache_note"),
                                 get_bool(o, "cache_dir_exists")
                                         ? "this machine reveals no cache sizes (the sysfs cache folder lists none, "
                                           "sysconf reports 0)"
                                         : "this machine reveals no cache sizes (no sysfs cache folder, sysconf "
                                           "reports 0)");
        else if (strcmp(e->source, "sysconf") == 0)
                ck_assert_int_eq(strncmp(get_str(o, "cache_note"), "from the CPU via sysconf: ", 26), 0);
        else
                ck_assert_int_eq(strncmp(get_str(o, "cache_note"), "from sysfs, ", 12), 0);
}

START_TEST(test_json_is_one_valid_record_of_every_step) {
        static const char *const names[] = { "create", "attach", "write", "read", "destroy" };
        json_object *rec, *steps, *step, *s, *r, *sum;
        Expected want;

        ck_assert_int_eq(run("--socket", d.socket, "walkthrough", "--json", "--size", "100"), 0);
        ck_assert_str_eq(err, "");
        rec = parse_out();
        ck_assert_str_eq(get_str(rec, "command"), "walkthrough");
        ck_assert_str_eq(get_str(rec, "mode"), "walkthrough");
        ck_assert_str_eq(get_str(rec, "version"), shmbox_version());
        ck_assert(!get_bool(get(rec, "daemon"), "temporary"));
        ck_assert_str_eq(get_str(get(rec, "daemon"), "socket"), d.socket);
        ck_assert_str_eq(get_str(get(rec, "daemon"), "prefix"), d.prefix);

        steps = get(rec, "steps");
        ck_assert(json_object_is_type(steps, json_type_array));
        ck_assert_uint_eq(json_object_array_length(steps), 5);
        for (size_t i = 0; i < 5; i++)
                ck_assert_str_eq(get_str(json_object_array_get_idx(steps, i), "step"), names[i]);

        step = json_object_array_get_idx(steps, 0); /* create */
        ck_assert_uint_ge(json_object_array_length(get(step, "objects")), 4);
        for (size_t i = 0; i < json_object_array_length(get(step, "objects")); i++) {
                json_object *o = json_object_array_get_idx(get(step, "objects"), i);

                ck_assert_int_eq(strncmp(get_str(o, "path"), "/dev/shm/", 9), 0);
                ck_assert_int_ge(get_int(o, "size"), 0); /* a FIFO has none */
                ck_assert_int_eq(get_int(o, "mode") & ~0666, 0);
        }
        ck_assert_int_eq(get_int(get(step, "geometry"), "slot_size"), 100);
        check_stat(get(step, "stat"));

        step = json_object_array_get_idx(steps, 1); /* attach */
        s = get(step, "sender");
        r = get(step, "receiver");
        ck_assert_int_ne(get_int(s, "pid"), get_int(r, "pid"));
        check_stat(get(s, "stat"));
        check_stat(get(r, "stat"));
        ck_assert_int_ge(get_int(s, "minor_faults"), 0);
        ck_assert_uint_ge(json_object_array_length(get(s, "pages")), 1);
        ck_assert_int_eq(get_int(json_object_array_get_idx(get(s, "pages"), 0), "offset"), 0);
        get(get(step, "header_frames"), "same");

        step = json_object_array_get_idx(steps, 2); /* write */
        s = get(step, "sender");
        ck_assert_str_eq(get_str(s, "event"), "send");
        ck_assert_int_eq(get_int(s, "bytes"), 100);
        ck_assert_int_eq(get_int(s, "slot"), get_int(s, "slot_from_tail"));
        ck_assert_int_eq(get_int(s, "lines"), 2);
        expect_caches(SYSFS_CPU, (int)get_int(s, "cache_cpu"), &want);
        check_caches(s, &want); /* what this machine gives: sysfs, else sysconf, else none */
        ck_assert_int_ge(get_int(s, "t_commit"), get_int(s, "t_start"));
        check_stat(get(s, "stat"));
        ck_assert_int_eq(get_int(get(s, "stat"), "tail"), get_int(get(s, "stat_before"), "tail") + 1);

        step = json_object_array_get_idx(steps, 3); /* read */
        r = get(step, "receiver");
        ck_assert_str_eq(get_str(r, "event"), "recv");
        ck_assert_int_eq(get_int(r, "bytes"), 100);
        ck_assert_int_eq(get_int(r, "slot"), get_int(s, "slot"));
        ck_assert_int_ge(get_int(step, "commit_to_receipt_ns"), 0);
        ck_assert(get_bool(step, "same_content"));
        get_bool(step, "slept");
        check_stat(get(r, "stat"));

        step = json_object_array_get_idx(steps, 4); /* destroy */
        ck_assert_int_eq(get_int(step, "left_count"), 0);
        ck_assert_uint_eq(json_object_array_length(get(step, "left")), 0);

        sum = get(rec, "summary");
        ck_assert_int_eq(get_int(sum, "bytes"), 100);
        ck_assert_int_eq(get_int(sum, "sender_map_addr"),
                         get_int(get(get(json_object_array_get_idx(steps, 1), "sender"), "stat"), "map_addr"));
        ck_assert_int_eq(get_int(sum, "left"), 0);
        ck_assert(get_bool(sum, "same_content"));
        if (frames_readable())
                ck_assert(get_bool(sum, "same_frames"));
        else
                ck_assert(get_bool(sum, "frames_hidden"));
        json_object_put(rec);
        ck_assert_uint_eq(mailbox_objects(d.prefix), 0);
}
END_TEST

/* ---- a temporary daemon -------------------------------------------------------------------- */

START_TEST(test_without_a_daemon_it_starts_and_stops_a_temporary_one) {
        const char *prefix = temp_prefix();
        char want[128];
        int pid;

        /* nothing answers on this socket */
        ck_assert_int_eq(run("--socket", "/nonexistent/walkthrough.sock", "walkthrough", "--prefix", prefix), 0);
        ck_assert_str_eq(err, "");
        ck_assert_int_eq(sscanf(line_of("daemon: temporary shmboxd pid "), "daemon: temporary shmboxd pid %d", &pid),
                         1);
        ck_assert_int_eq(kill(pid, 0), -1); /* stopped and reaped */
        snprintf(want, sizeof(want), "temporary shmboxd stopped; objects of prefix %s left: 0\n", prefix);
        ck_assert_ptr_nonnull(line_of(want));
        ck_assert_uint_eq(harness_count_objects(prefix), 0);
}
END_TEST

START_TEST(test_own_daemon_is_temporary_even_when_one_answers) {
        const char *prefix = temp_prefix();
        json_object *rec;

        ck_assert_int_eq(run("--socket", d.socket, "walkthrough", "--own-daemon", "--prefix", prefix, "--json"), 0);
        rec = parse_out();
        ck_assert(get_bool(get(rec, "daemon"), "temporary"));
        ck_assert_str_eq(get_str(get(rec, "daemon"), "prefix"), prefix);
        ck_assert_int_eq(get_int(json_object_array_get_idx(get(rec, "steps"), 4), "prefix_left_count"), 0);
        json_object_put(rec);
        ck_assert_uint_eq(harness_count_objects(prefix), 0);
        ck_assert_uint_eq(mailbox_objects(d.prefix), 0); /* and ours was not used */
}
END_TEST

START_TEST(test_an_interrupted_run_cleans_up) {
        const char *prefix = temp_prefix();

        /* the full hierarchy takes seconds: interrupt it in the middle */
        ck_assert_int_eq(run_argv(harness_ms(700),
                                  (const char *const[]){ "walkthrough", "--hierarchy", "--prefix", prefix, NULL }),
                         1);
        ck_assert_ptr_nonnull(strstr(err, "interrupted by signal 2; cleaned up"));
        ck_assert_uint_eq(harness_count_objects(prefix), 0);
}
END_TEST

/* ---- the hierarchy ------------------------------------------------------------------------- */

/* A small well-formedness check: tags nest and close, attribute quotes pair up. */
static void assert_svg_well_formed(const char *svg) {
        char stack[32][16];
        int depth = 0;

        ck_assert_int_eq(strncmp(svg, "<?xml", 5), 0);
        for (const char *p = strchr(svg, '<'); p; p = strchr(p + 1, '<')) {
                const char *end = strchr(p, '>');
                size_t quotes = 0;

                ck_assert_ptr_nonnull(end);
                for (const char *q = p; q < end; q++)
                        quotes += *q == '"';
                ck_assert_msg(quotes % 2 == 0, "unbalanced quotes in %.60s", p);
                if (p[1] == '?')
                        continue;
                if (p[1] == '/') {
                        size_t n = strcspn(p + 2, " >");

                        ck_assert_int_gt(depth, 0);
                        depth--;
                        ck_assert_msg(strlen(stack[depth]) == n && strncmp(stack[depth], p + 2, n) == 0,
                                      "</%.*s> closes <%s>", (int)n, p + 2, stack[depth]);
                } else if (end[-1] != '/') {
                        ck_assert_int_lt(depth, 32);
                        snprintf(stack[depth], sizeof(stack[depth]), "%.*s", (int)strcspn(p + 1, " >"), p + 1);
                        depth++;
                }
        }
        ck_assert_int_eq(depth, 0);
}

/* The whole of the file @path, NUL-terminated; free() it. */
static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf;
        long n;

        ck_assert_msg(f, "%s: %s", path, strerror(errno));
        ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        rewind(f);
        buf = calloc(1, (size_t)n + 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(fread(buf, 1, (size_t)n, f), n);
        fclose(f);
        return buf;
}

/* The chart draws a dashed line per data cache iff the sizes are known, and its caption says
 * where they came from (or that this machine reveals none). */
static void check_chart_caches(const char *svg, const Expected *want) {
        const char *caption = strstr(svg, "class=\"cache-source\">"), *words;
        unsigned dashed = 0;

        for (const char *p = svg; (p = strstr(p, "stroke-dasharray")); p++)
                dashed++;
        ck_assert_uint_eq(dashed, want->data);
        ck_assert_ptr_nonnull(caption);
        caption = strchr(caption, '>') + 1;
        if (strcmp(want->source, "none") == 0)
                words = "this machine reveals no cache sizes (";
        else if (strcmp(want->source, "sysfs") == 0)
                words = "dashed lines: caches from sysfs, ";
        else
                words = "dashed lines: caches from the CPU via sysconf: ";
        ck_assert_msg(strncmp(caption, words, strlen(words)) == 0, "caption: %.200s", caption);
        if (strcmp(want->source, "none") == 0)
                ck_assert_ptr_nonnull(strstr(caption, ": no cache lines drawn</text>"));
}

START_TEST(test_a_quick_hierarchy_prints_a_table_and_plots_a_valid_svg) {
        const char *prefix = temp_prefix();
        char path[200], *svg;
        unsigned rows = 0, circles = 0;
        int64_t start = harness_now_us();
        Expected want;
        int cpu;

        snprintf(path, sizeof(path), "%s/hierarchy.svg", d.dir);
        ck_assert_int_eq(run("walkthrough", "--hierarchy", "--quick", "--plot", path, "--prefix", prefix), 0);
        ck_assert_str_eq(err, "");
        ck_assert_int_lt(harness_now_us() - start, (int64_t)harness_ms(10000) * 1000);
        ck_assert_int_eq(sscanf(line_of("caches of cpu"), "caches of cpu%d", &cpu), 1);
        expect_caches(SYSFS_CPU, cpu, &want);
        ck_assert_ptr_nonnull(strstr(line_of("caches of cpu"), origin_words(&want)));
        ck_assert_ptr_nonnull(line_of("footprint "));
        for (const char *p = strstr(out, "footprint "); (p = strchr(p, '\n')) && p[1] && p[1] != '\n'; p++) {
                double v1, ns_msg, ns_byte, gbps;
                unsigned slots;
                unsigned long long msgs;
                char u1[8], u2[8], fits[8];

                ck_assert_msg(sscanf(p + 1, "%lf %7s %lf %7s %u %llu %lf %lf %lf %7s", &v1, u1, &v1, u2, &slots, &msgs,
                                     &ns_msg, &ns_byte, &gbps, fits) == 10,
                              "row does not parse: %.100s", p + 1);
                ck_assert_uint_ge(slots, 2);
                ck_assert_uint_gt(msgs, 0);
                ck_assert(ns_msg > 0 && ns_byte > 0 && gbps >= 0); /* a busy machine may show 0.000 */
                rows++;
        }
        ck_assert_uint_ge(rows, 4);
        ck_assert_ptr_nonnull(strstr(line_of("summary: "), path));

        svg = read_file(path);
        assert_svg_well_formed(svg);
        ck_assert_ptr_nonnull(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
        ck_assert_ptr_nonnull(strstr(svg, "<polyline"));
        check_chart_caches(svg, &want); /* dashed cache lines iff this machine gives sizes */
        for (const char *p = svg; (p = strstr(p, "<circle")); p++)
                circles++;
        ck_assert_uint_eq(circles, rows);
        free(svg);
        unlink(path);
        ck_assert_uint_eq(harness_count_objects(prefix), 0);
}
END_TEST

START_TEST(test_a_quick_hierarchy_in_json_has_every_point) {
        const char *prefix = temp_prefix();
        json_object *rec, *points;
        Expected want;

        ck_assert_int_eq(run("walkthrough", "--hierarchy", "--quick", "--json", "--prefix", prefix), 0);
        rec = parse_out();
        ck_assert_str_eq(get_str(rec, "mode"), "hierarchy");
        ck_assert(get_bool(get(rec, "daemon"), "temporary"));
        expect_caches(SYSFS_CPU, (int)get_int(rec, "cache_cpu"), &want);
        check_caches(rec, &want);
        points = get(rec, "points");
        ck_assert_uint_ge(json_object_array_length(points), 4);
        for (size_t i = 0; i < json_object_array_length(points); i++) {
                json_object *p = json_object_array_get_idx(points, i);

                ck_assert_int_gt(get_int(p, "footprint"), get_int(p, "message"));
                ck_assert_int_ge(get_int(p, "slots"), 2);
                ck_assert_int_gt(get_int(p, "messages"), 0);
                ck_assert(json_object_get_double(get(p, "gbps")) > 0);
                ck_assert(json_object_get_double(get(p, "ns_per_byte")) > 0);
                get_str(p, "fits_in");
        }
        json_object_put(rec);
        ck_assert_uint_eq(harness_count_objects(prefix), 0);
}
END_TEST

/* ---- where the cache sizes come from --------------------------------------------------------- */

/* SHMBOX_WALK_SYSFS_CPU at an empty folder: a host without sysfs cache entries (many virtual
 * machines), on any machine. The sizes must then come from sysconf, as getconf shows them,
 * or the walkthrough must say plainly that there are none; and the chart follows. */
START_TEST(test_without_sysfs_cache_entries_the_sizes_come_from_sysconf) {
        const char *prefix = temp_prefix();
        char root[PATH_MAX], svg_path[PATH_MAX], *svg;
        json_object *rec, *s;
        Expected want;

        snprintf(root, sizeof(root), "%s", test_dir("no-sysfs"));
        snprintf(svg_path, sizeof(svg_path), "%s/chart.svg", d.dir);
        ck_assert_int_eq(setenv("SHMBOX_WALK_SYSFS_CPU", root, 1), 0);

        ck_assert_int_eq(run("--socket", d.socket, "walkthrough", "--json", "--size", "100"), 0);
        ck_assert_str_eq(err, "");
        rec = parse_out();
        s = get(json_object_array_get_idx(get(rec, "steps"), 2), "sender");
        expect_caches(root, (int)get_int(s, "cache_cpu"), &want);
        ck_assert_str_ne(want.source, "sysfs");
        check_caches(s, &want);
        ck_assert(!get_bool(s, "cache_dir_exists"));
        ck_assert_int_eq(strncmp(get_str(s, "cache_dir"), root, strlen(root)), 0);
        json_object_put(rec);

        /* the text says the same */
        ck_assert_int_eq(run("--socket", d.socket, "walkthrough"), 0);
        ck_assert_ptr_nonnull(strstr(line_of("caches of cpu "), origin_words(&want)));

        /* and so do the hierarchy's record and chart */
        ck_assert_int_eq(run("walkthrough", "--hierarchy", "--quick", "--json", "--plot", svg_path, "--prefix", prefix),
                         0);
        rec = parse_out();
        check_caches(rec, &want);
        json_object_put(rec);
        svg = read_file(svg_path);
        check_chart_caches(svg, &want);
        free(svg);

        ck_assert_int_eq(unlink(svg_path), 0);
        remove_tree(root);
        ck_assert_uint_eq(harness_count_objects(prefix), 0);
        ck_assert_uint_eq(mailbox_objects(d.prefix), 0);
}
END_TEST

/* A cache folder in sysfs is read before sysconf, with its line size: a made-up one, so the
 * values are known and differ from any real machine's. */
START_TEST(test_a_sysfs_cache_folder_is_read_before_sysconf) {
        static const struct {
                const char *level, *type, *size, *line;
        } fake[] = {
                { "1", "Data", "32K", "128" },
                { "1", "Instruction", "16K", "128" },
                { "2", "Unified", "640K", "128" },
                { "3", "Unified", "24M", "128" },
        };
        long cpus = sysconf(_SC_NPROCESSORS_CONF);
        char root[PATH_MAX], want_line[PATH_MAX + 128];
        json_object *rec, *s;
        Expected want;
        unsigned cpu;

        ck_assert_int_gt(cpus, 0);
        snprintf(root, sizeof(root), "%s", test_dir("fake-sysfs"));
        for (int c = 0; c < cpus && c < 1024; c++) /* the sender may run on any of them */
                for (int i = 0; i < 4; i++) {
                        fake_attr(root, c, i, "level", fake[i].level);
                        fake_attr(root, c, i, "type", fake[i].type);
                        fake_attr(root, c, i, "size", fake[i].size);
                        fake_attr(root, c, i, "coherency_line_size", fake[i].line);
                }
        ck_assert_int_eq(setenv("SHMBOX_WALK_SYSFS_CPU", root, 1), 0);

        ck_assert_int_eq(run("--socket", d.socket, "walkthrough", "--json", "--size", "100"), 0);
        rec = parse_out();
        s = get(json_object_array_get_idx(get(rec, "steps"), 2), "sender");
        expect_caches(root, (int)get_int(s, "cache_cpu"), &want);
        ck_assert_str_eq(want.source, "sysfs");
        ck_assert_uint_eq(want.n, 4);
        ck_assert_uint_eq(want.size[2], 640 * 1024);
        check_caches(s, &want);
        ck_assert_int_eq(get_int(s, "line_size"), 128);
        ck_assert_str_eq(get_str(s, "line_size_source"), "sysfs");
        ck_assert_int_eq(get_int(s, "lines"),
                         (get_int(s, "payload_addr") + 99) / 128 - get_int(s, "payload_addr") / 128 + 1);
        json_object_put(rec);

        ck_assert_int_eq(run("--socket", d.socket, "walkthrough", "--size", "100"), 0);
        ck_assert_int_eq(sscanf(line_of("caches of cpu "), "caches of cpu %u", &cpu), 1);
        snprintf(want_line, sizeof(want_line),
                 "caches of cpu %u (from sysfs, %s/cpu%u/cache): L1d 32 KiB, L1i 16 KiB, L2 640 KiB, L3 24 MiB; "
                 "the message fits in L1d\n",
                 cpu, root, cpu);
        ck_assert_msg(strncmp(line_of("caches of cpu "), want_line, strlen(want_line)) == 0, "want %s, got %.300s",
                      want_line, line_of("caches of cpu "));

        remove_tree(root);
        ck_assert_uint_eq(mailbox_objects(d.prefix), 0);
}
END_TEST

/* Without the variable the walkthrough reads this machine's own sysfs: "sysfs" where it lists
 * caches; elsewhere it names the folder it did not find. */
START_TEST(test_this_machines_sysfs_is_the_first_source) {
        char folder[128];
        json_object *rec, *s;
        Expected want;
        int cpu;

        unsetenv("SHMBOX_WALK_SYSFS_CPU");
        ck_assert_int_eq(run("--socket", d.socket, "walkthrough", "--json"), 0);
        rec = parse_out();
        s = get(json_object_array_get_idx(get(rec, "steps"), 2), "sender");
        cpu = (int)get_int(s, "cache_cpu");
        expect_caches(SYSFS_CPU, cpu, &want);
        check_caches(s, &want);
        snprintf(folder, sizeof(folder), SYSFS_CPU "/cpu%d/cache", cpu);
        ck_assert_str_eq(get_str(s, "cache_dir"), folder);
        if (strcmp(want.source, "sysfs") == 0)
                ck_assert_str_eq(get_str(s, "cache_source"), "sysfs");
        else /* a host without sysfs cache entries: the note names the folder it looked in */
                ck_assert_ptr_nonnull(strstr(get_str(s, "cache_note"), folder));
        json_object_put(rec);
}
END_TEST

/* ---- usage ----------------------------------------------------------------------------------- */

static const struct {
        const char *args[6];
        const char *message;
} usage_errors[] = {
        { { "walkthrough", "--plot", "x.svg" }, "--plot needs --hierarchy" },
        { { "walkthrough", "--quick" }, "--quick needs --hierarchy" },
        { { "walkthrough", "--hierarchy", "--size", "64" }, "--size and --hierarchy exclude each other" },
        { { "walkthrough", "--json", "--quiet" }, "--json and --quiet exclude each other" },
        { { "walkthrough", "--size", "16777217" }, "--size: invalid value '16777217'" },
        { { "walkthrough", "--size", "-1" }, "--size: invalid value '-1'" },
        { { "walkthrough", "--prefix", "a.b" }, "--prefix: invalid prefix 'a.b'" },
        { { "walkthrough", "--prefix", "sem" }, "--prefix: invalid prefix 'sem'" },
        { { "walkthrough", "extra" }, "unexpected argument 'extra'" },
};

START_TEST(test_usage_errors_exit_2) {
        const char *args[8] = { "--socket", d.socket };

        for (int i = 0; usage_errors[_i].args[i]; i++)
                args[2 + i] = usage_errors[_i].args[i];
        ck_assert_int_eq(run_argv(0, args), 2);
        ck_assert_str_eq(out, "");
        ck_assert_msg(strstr(err, usage_errors[_i].message), "stderr: %s", err);
        ck_assert_uint_eq(mailbox_objects(d.prefix), 0);
}
END_TEST

START_TEST(test_help_describes_the_command) {
        ck_assert_int_eq(run("walkthrough", "--help"), 0);
        ck_assert_int_eq(strncmp(out, "Usage: shmboxctl [--socket PATH] walkthrough", 44), 0);
        ck_assert_ptr_nonnull(strstr(out, "--hierarchy"));
        ck_assert_ptr_nonnull(strstr(out, "--plot FILE.svg"));
        /* the peers' command is not for people */
        ck_assert_int_eq(run("--help"), 0);
        ck_assert_ptr_nonnull(strstr(out, "walkthrough"));
        ck_assert_ptr_null(strstr(out, "walkthrough-peer"));
}
END_TEST

static TCase *tcase_e2e(const char *name) {
        return harness_tcase(NULL, name, 90, setup, teardown);
}

static Suite *walkthrough_suite(void) {
        Suite *s = suite_create("walkthrough");
        TCase *tc;

        tc = tcase_e2e("narration");
        tcase_add_test(tc, test_every_step_appears_with_numbers_that_parse);
        tcase_add_test(tc, test_both_processes_see_the_same_frames_where_pagemap_is_readable);
        tcase_add_test(tc, test_quiet_prints_the_summary_line_only);
        tcase_add_test(tc, test_a_message_of_many_pages_travels_intact);
        suite_add_tcase(s, tc);

        tc = tcase_e2e("json");
        tcase_add_test(tc, test_json_is_one_valid_record_of_every_step);
        suite_add_tcase(s, tc);

        tc = tcase_e2e("temporary daemon");
        tcase_add_test(tc, test_without_a_daemon_it_starts_and_stops_a_temporary_one);
        tcase_add_test(tc, test_own_daemon_is_temporary_even_when_one_answers);
        tcase_add_test(tc, test_an_interrupted_run_cleans_up);
        suite_add_tcase(s, tc);

        tc = tcase_e2e("hierarchy");
        tcase_add_test(tc, test_a_quick_hierarchy_prints_a_table_and_plots_a_valid_svg);
        tcase_add_test(tc, test_a_quick_hierarchy_in_json_has_every_point);
        suite_add_tcase(s, tc);

        tc = tcase_e2e("cache sizes");
        tcase_add_test(tc, test_without_sysfs_cache_entries_the_sizes_come_from_sysconf);
        tcase_add_test(tc, test_a_sysfs_cache_folder_is_read_before_sysconf);
        tcase_add_test(tc, test_this_machines_sysfs_is_the_first_source);
        suite_add_tcase(s, tc);

        tc = tcase_e2e("usage");
        tcase_add_loop_test(tc, test_usage_errors_exit_2, 0, (int)(sizeof(usage_errors) / sizeof(usage_errors[0])));
        tcase_add_test(tc, test_help_describes_the_command);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr;
        int failed;

        sr = srunner_create(walkthrough_suite());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
