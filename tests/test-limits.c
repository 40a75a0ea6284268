/* SPDX-License-Identifier: MIT */
/* End-to-end limits and quotas: per-uid quotas (-EDQUOT) that keep one user from starving
 * another, global limits (-ENOSPC, -EMFILE, refused connections), the config file, and reload
 * by request and by SIGHUP — which keeps every existing mailbox, even one over a lowered limit.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness.h"

static TestDaemon d;

static void write_config(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
}

/* Start a daemon whose config file says @text (written before the start). */
static void start_with(const char *text) {
        harness_daemon_start(&d, NULL);
        harness_daemon_stop(&d);
        write_config(d.config, text);
        harness_daemon_restart(&d);
}

static bool log_has(const char *needle) {
        char buf[65536];
        FILE *f = fopen(d.log, "re");
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

        if (f)
                fclose(f);
        buf[n] = 0;
        return strstr(buf, needle) != NULL;
}

/* Run @op as uid @uid (gid the same) in a child; returns what it returned. */
typedef enum { OP_CREATE, OP_DESTROY, OP_RELOAD } Op;

static int as_user(uid_t uid, Op op, const char *name) {
        struct shmbox_config cfg = { .slots = 4, .slot_size = 64 };
        int fds[2], r = 0, status;
        pid_t pid;

        ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                shmbox_client *c;

                if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)
                        _exit(126);
                r = shmbox_connect(d.socket, &c);
                if (r == 0) {
                        r = op == OP_CREATE    ? shmbox_create(c, name, &cfg)
                            : op == OP_DESTROY ? shmbox_destroy(c, name)
                                               : shmbox_reload(c);
                        shmbox_disconnect(c);
                }
                if (write(fds[1], &r, sizeof(r)) != sizeof(r))
                        _exit(124);
                _exit(0);
        }
        close(fds[1]);
        status = harness_wait_exit(pid, harness_ms(10000));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
        ck_assert_int_eq(read(fds[0], &r, sizeof(r)), sizeof(r));
        close(fds[0]);
        return r;
}

static shmbox_client *root_client(void) {
        return harness_connect(&d);
}

START_TEST(test_a_user_over_its_mailbox_quota_gets_edquot_and_others_are_not_starved) {
        shmbox_client *c;

        start_with("[limits]\nmax-mailboxes-per-uid = 2\n");
        ck_assert_int_eq(as_user(2001, OP_CREATE, "u1a"), 0);
        ck_assert_int_eq(as_user(2001, OP_CREATE, "u1b"), 0);
        ck_assert_int_eq(as_user(2001, OP_CREATE, "u1c"), -EDQUOT);
        ck_assert(log_has("refused create of u1c by uid 2001: it has 2 mailboxes, max-mailboxes-per-uid is 2"));
        ck_assert_int_eq(as_user(2002, OP_CREATE, "u2a"), 0);
        /* root is not under per-uid quotas */
        c = root_client();
        ck_assert_int_eq(shmbox_create(c, "r1", NULL), 0);
        ck_assert_int_eq(shmbox_create(c, "r2", NULL), 0);
        ck_assert_int_eq(shmbox_create(c, "r3", NULL), 0);
        for (const char *const *n = (const char *const[]){ "u1a", "u1b", "u2a", "r1", "r2", "r3", NULL }; *n; n++)
                ck_assert_int_eq(shmbox_destroy(c, *n), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_a_user_over_its_byte_quota_gets_edquot) {
        /* each test mailbox is 36 KiB of header (layout 2: the page and the counter area) + 4 x 128
         * bytes = 37376 bytes: two fit in 80000, three do not */
        start_with("[limits]\nmax-bytes-per-uid = 80000\n");
        ck_assert_int_eq(as_user(2001, OP_CREATE, "b1"), 0);
        ck_assert_int_eq(as_user(2001, OP_CREATE, "b2"), 0);
        ck_assert_int_eq(as_user(2001, OP_CREATE, "b3"), -EDQUOT);
        ck_assert(log_has("above max-bytes-per-uid 80000"));
        ck_assert_int_eq(as_user(2001, OP_DESTROY, "b1"), 0);
        ck_assert_int_eq(as_user(2001, OP_CREATE, "b3"), 0); /* freed bytes count again */
        ck_assert_int_eq(as_user(2001, OP_DESTROY, "b2"), 0);
        ck_assert_int_eq(as_user(2001, OP_DESTROY, "b3"), 0);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_global_limits_refuse_everyone_with_enospc) {
        struct shmbox_config big = { .slots = 64, .slot_size = 65536 };
        shmbox_client *c;

        start_with("[limits]\nmax-mailboxes = 2\nmax-mailbox-bytes = 1048576\n");
        c = root_client();
        ck_assert_int_eq(shmbox_create(c, "g1", NULL), 0);
        ck_assert_int_eq(shmbox_create(c, "big", &big), -ENOSPC);
        ck_assert(log_has("above max-mailbox-bytes 1048576"));
        ck_assert_int_eq(as_user(2001, OP_CREATE, "g2"), 0);
        ck_assert_int_eq(shmbox_create(c, "g3", NULL), -ENOSPC);
        ck_assert(log_has("max-mailboxes is 2"));
        ck_assert_int_eq(shmbox_destroy(c, "g1"), 0);
        ck_assert_int_eq(shmbox_destroy(c, "g2"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_attachments_and_connections_are_capped) {
        shmbox_client *c, *more[3];
        shmbox *boxes[3];

        start_with("[limits]\nmax-attachments-per-session = 2\nmax-connections = 3\n");
        c = root_client();
        ck_assert_int_eq(shmbox_create(c, "att", NULL), 0);
        ck_assert_int_eq(shmbox_attach(c, "att", &boxes[0]), 0);
        ck_assert_int_eq(shmbox_attach(c, "att", &boxes[1]), 0);
        ck_assert_int_eq(shmbox_attach(c, "att", &boxes[2]), -EMFILE);
        ck_assert(log_has("2 attachments, the limit per session"));
        shmbox_detach(boxes[0]);
        shmbox_detach(boxes[1]);
        /* c is one session; two more fit, the fourth is refused */
        ck_assert_int_eq(shmbox_connect(d.socket, &more[0]), 0);
        ck_assert_int_eq(shmbox_connect(d.socket, &more[1]), 0);
        ck_assert_int_eq(shmbox_connect(d.socket, &more[2]), -ECONNREFUSED);
        ck_assert(log_has("refused a connection: 3 sessions exist"));
        shmbox_disconnect(more[0]);
        shmbox_disconnect(more[1]);
        ck_assert_int_eq(shmbox_destroy(c, "att"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

/* Run @fn(@arg) as uid @uid (gid the same) in a child; returns what it returned. */
static int as_user_run(uid_t uid, int (*fn)(const char *arg), const char *arg) {
        int fds[2], r = 0, status;
        pid_t pid;

        ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)
                        _exit(126);
                r = fn(arg);
                if (write(fds[1], &r, sizeof(r)) != sizeof(r))
                        _exit(124);
                _exit(0);
        }
        close(fds[1]);
        status = harness_wait_exit(pid, harness_ms(10000));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
        ck_assert_int_eq(read(fds[0], &r, sizeof(r)), sizeof(r));
        close(fds[0]);
        return r;
}

#define GROWN_SIZE (UINT64_C(524) << 20)
#define GROWN_ALLOCATED (UINT64_C(16) << 20)

/* The attack of issue 13: the owner of @path (any process with access would do) grows the
 * segment to 524 MiB and allocates 16 MiB of it. Returns 0 or -errno. */
static int grow_segment(const char *path) {
        int fd = open(path, O_RDWR | O_CLOEXEC), r = 0;

        if (fd < 0)
                return -errno;
        if (ftruncate(fd, (off_t)GROWN_SIZE) < 0)
                r = -errno;
        else
                r = -posix_fallocate(fd, (off_t)(GROWN_SIZE - GROWN_ALLOCATED), (off_t)GROWN_ALLOCATED);
        close(fd);
        return r;
}

/* Resize the file @path to the size in its first character's place: "0 path" or "big path". */
static int resize_file(const char *arg) {
        bool big = strncmp(arg, "big ", 4) == 0;
        const char *path = strchr(arg, ' ') + 1;
        int fd = open(path, O_RDWR | O_CLOEXEC), r = 0;

        if (fd < 0)
                return -errno;
        if (ftruncate(fd, big ? (off_t)(1 << 20) : 0) < 0)
                r = -errno;
        close(fd);
        return r;
}

static int create_more(const char *name) {
        struct shmbox_config cfg = { .slots = 4, .slot_size = 64 };
        shmbox_client *c;
        int r = shmbox_connect(d.socket, &c);

        if (r == 0) {
                r = shmbox_create(c, name, &cfg);
                shmbox_disconnect(c);
        }
        return r;
}

static void file_size(const char *path, uint64_t *ret_size, uint64_t *ret_allocated) {
        struct stat st;

        ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
        *ret_size = (uint64_t)st.st_size;
        *ret_allocated = (uint64_t)st.st_blocks * 512;
}

/* Wait up to @ms for @path to be @size bytes again, with nothing allocated past it. */
static bool wait_size(const char *path, uint64_t size, int ms) {
        int64_t deadline = harness_now_us() + (int64_t)harness_ms(ms) * 1000;
        uint64_t now, allocated;

        for (;;) {
                file_size(path, &now, &allocated);
                if (now == size && allocated <= ((size + 4095) & ~UINT64_C(4095)))
                        return true;
                if (harness_now_us() > deadline)
                        return false;
                usleep(10 * 1000);
        }
}

/* Issue 13: any process with access to a mailbox could grow its segment (ftruncate, fallocate)
 * far past the owner's byte quota and still create more mailboxes within it: the daemon checked
 * sizes only at create and attach. It now cuts a grown segment back to its layout (the tail is
 * never used) at every create and attach, and once a second from the event loop; it restores the
 * size of a semaphore file a peer truncated or grew. */
START_TEST(test_a_segment_grown_past_its_layout_is_cut_back_and_the_quota_holds) {
        char seg[256], sems[3][512], arg[600];
        unsigned n_sems = 0;
        uint64_t size0, alloc0, size, alloc, sem_size;
        shmbox_client *c;
        shmbox *box;
        char buf[64];
        DIR *dir;
        struct dirent *de;

        start_with("[limits]\nmax-bytes-per-uid = 80000\n");
        ck_assert_int_eq(as_user(2001, OP_CREATE, "grow"), 0);
        snprintf(seg, sizeof(seg), "/dev/shm/%s.grow", d.prefix);
        file_size(seg, &size0, &alloc0);

        /* grown, then a create within the quota as the daemon counts it */
        ck_assert_int_eq(as_user_run(2001, grow_segment, seg), 0);
        file_size(seg, &size, &alloc);
        ck_assert_uint_eq(size, GROWN_SIZE);
        ck_assert_int_eq(as_user_run(2001, create_more, "more"), 0);
        file_size(seg, &size, &alloc);
        printf("limits: a segment of %llu bytes grown to %llu (%llu MiB allocated); after the next create: %llu bytes, "
               "%llu allocated\n",
               (unsigned long long)size0, (unsigned long long)GROWN_SIZE, (unsigned long long)(GROWN_ALLOCATED >> 20),
               (unsigned long long)size, (unsigned long long)alloc);
        ck_assert_msg(size == size0 && alloc <= alloc0, "the grown segment is still %llu bytes (%llu allocated)",
                      (unsigned long long)size, (unsigned long long)alloc);
        ck_assert(log_has("mailbox grow (owner uid 2001): segment grown to 549453824 bytes"));

        /* grown again, and no control call at all: the event loop cuts it back */
        ck_assert_int_eq(as_user_run(2001, grow_segment, seg), 0);
        ck_assert_msg(wait_size(seg, size0, 3000), "a grown segment was not cut back within 3 s");

        /* its semaphore files, truncated or grown: their size is restored */
        dir = opendir("/dev/shm");
        ck_assert_ptr_nonnull(dir);
        snprintf(arg, sizeof(arg), "sem.%s.grow.", d.prefix);
        while ((de = readdir(dir)) && n_sems < 3)
                if (strncmp(de->d_name, arg, strlen(arg)) == 0)
                        snprintf(sems[n_sems++], sizeof(sems[0]), "/dev/shm/%s", de->d_name);
        closedir(dir);
        ck_assert_uint_gt(n_sems, 0);
        file_size(sems[0], &sem_size, &alloc);
        for (unsigned i = 0; i < n_sems; i++) {
                snprintf(arg, sizeof(arg), "%s %s", i % 2 ? "big" : "0", sems[i]);
                ck_assert_int_eq(as_user_run(2001, resize_file, arg), 0);
        }
        for (unsigned i = 0; i < n_sems; i++)
                ck_assert_msg(wait_size(sems[i], sem_size, 3000), "%s was not restored to %llu bytes within 3 s",
                              sems[i], (unsigned long long)sem_size);

        /* the mailbox works: the restored semaphores are semaphores again */
        c = root_client();
        ck_assert_int_eq(shmbox_attach(c, "grow", &box), 0);
        ck_assert_int_eq(shmbox_send(box, "ok", 2, 0), 0);
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), harness_ms(1000)), 2);
        shmbox_detach(box);
        ck_assert_int_eq(shmbox_destroy(c, "grow"), 0);
        ck_assert_int_eq(shmbox_destroy(c, "more"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_a_reload_applies_new_limits_and_keeps_every_mailbox) {
        struct shmbox_info info;
        shmbox_client *c;

        start_with("[limits]\nmax-mailboxes-per-uid = 3\n");
        ck_assert_int_eq(as_user(2001, OP_CREATE, "k1"), 0);
        ck_assert_int_eq(as_user(2001, OP_CREATE, "k2"), 0);
        write_config(d.config, "[limits]\nmax-mailboxes-per-uid = 1\n");
        /* only root or the daemon's user may ask */
        ck_assert_int_eq(as_user(2001, OP_RELOAD, NULL), -EPERM);
        c = root_client();
        ck_assert_int_eq(shmbox_reload(c), 0);
        /* over the lowered limit: both kept, a new one refused */
        ck_assert_int_eq(shmbox_info(c, "k1", &info), 0);
        ck_assert_int_eq(shmbox_info(c, "k2", &info), 0);
        ck_assert_int_eq(as_user(2001, OP_CREATE, "k3"), -EDQUOT);

        /* a file that does not parse is refused whole; the running limits stay */
        write_config(d.config, "[limits]\nmax-mailboxes-per-uid = lots\n");
        ck_assert_int_eq(shmbox_reload(c), -EINVAL);
        ck_assert(log_has("line 2: invalid value \"lots\" for max-mailboxes-per-uid"));
        ck_assert_int_eq(as_user(2001, OP_CREATE, "k3"), -EDQUOT);

        /* SIGHUP reloads too */
        write_config(d.config, "[limits]\nmax-mailboxes-per-uid = 5\n");
        kill(d.pid, SIGHUP);
        for (int64_t dl = harness_now_us() + harness_ms(5000) * 1000LL; as_user(2001, OP_CREATE, "k3") != 0;)
                ck_assert_msg(harness_now_us() < dl, "SIGHUP did not reload");
        for (const char *const *n = (const char *const[]){ "k1", "k2", "k3", NULL }; *n; n++)
                ck_assert_int_eq(shmbox_destroy(c, *n), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_a_daemon_refuses_to_start_with_a_config_file_that_does_not_parse) {
        const char *bin = getenv("SHMBOXD");
        char out[8192] = "";
        int p[2], status;
        ssize_t n;
        pid_t pid;

        harness_daemon_start(&d, NULL);
        harness_daemon_stop(&d);
        write_config(d.config, "[limits]\nmax-connections = 10\nno-such-setting = 1\n");
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                dup2(p[1], STDERR_FILENO);
                execl(bin, bin, "--socket", d.socket, "--prefix", d.prefix, "--state-dir", d.state_dir, "--config",
                      d.config, (char *)NULL);
                _exit(127);
        }
        close(p[1]);
        n = read(p[0], out, sizeof(out) - 1);
        close(p[0]);
        out[n > 0 ? n : 0] = 0;
        status = harness_wait_exit(pid, harness_ms(10000));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x", status);
        ck_assert_msg(strstr(out, "line 3: unknown setting [limits] no-such-setting"), "stderr: %s", out);
        harness_daemon_done(&d);
}
END_TEST

static Suite *limits_suite(void) {
        Suite *s = suite_create("limits");
        TCase *tc = tcase_create("quotas and limits");

        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_set_timeout(tc, 60 * harness_scale());
        tcase_add_test(tc, test_a_user_over_its_mailbox_quota_gets_edquot_and_others_are_not_starved);
        tcase_add_test(tc, test_a_user_over_its_byte_quota_gets_edquot);
        tcase_add_test(tc, test_a_segment_grown_past_its_layout_is_cut_back_and_the_quota_holds);
        tcase_add_test(tc, test_global_limits_refuse_everyone_with_enospc);
        tcase_add_test(tc, test_attachments_and_connections_are_capped);
        tcase_add_test(tc, test_a_reload_applies_new_limits_and_keeps_every_mailbox);
        tcase_add_test(tc, test_a_daemon_refuses_to_start_with_a_config_file_that_does_not_parse);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr;
        int failed;

        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: test-limits switches users and needs root\n");
                return 77;
        }
        sr = srunner_create(limits_suite());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
