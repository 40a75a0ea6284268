/* SPDX-License-Identifier: MIT */
/* End-to-end access control with real users: a root test forks children that drop to other
 * uids and gids and checks every allowed and refused combination — owner, group (primary and
 * supplementary), others; r only, w only, rw, none — on the socket (attach, send, recv) and on
 * the objects in /dev/shm (an allowed process opens them read-write, a refused one gets
 * EACCES). It runs twice: with the daemon as root, and as an unprivileged user of its own, as
 * in production.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness.h"

#define MBOX_GROUP 2100
#define DAEMON_USER 2050

typedef struct Who {
        const char *label;
        uid_t uid;
        gid_t gid;
        gid_t supp[2];
        int n_supp;
        char cls; /* the permission class the mailbox's mode applies to: 'u', 'g' or 'o' */
} Who;

static const Who owner = { "owner", 2001, 2001, { MBOX_GROUP }, 1, 'u' };
static const Who users[] = {
        { "owner", 2001, 2001, { MBOX_GROUP }, 1, 'u' },
        { "group (primary)", 2002, MBOX_GROUP, { 0 }, 0, 'g' },
        { "group (supplementary)", 2003, 2003, { MBOX_GROUP }, 1, 'g' },
        { "other", 2004, 2004, { 0 }, 0, 'o' },
};

/* What a child saw, sent back through a pipe. */
typedef struct Seen {
        int attach, send, recv, open_segment, open_sem, op;
} Seen;

typedef struct Probe {
        const char *name;
        char segment[256], sem[256];
        enum { PROBE_USE, PROBE_CREATE, PROBE_CHMOD, PROBE_DESTROY } what;
        uint32_t mode, gid;
} Probe;

static TestDaemon d;

static int open_rw(const char *path) {
        int fd = open(path, O_RDWR | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        close(fd);
        return 0;
}

static void probe_child(const Who *w, const Probe *p, int out) {
        Seen s = { 1, 1, 1, 1, 1, 1 };
        shmbox_client *c;
        shmbox *box;

        if (setgroups((size_t)w->n_supp, w->supp) < 0 || setgid(w->gid) < 0 || setuid(w->uid) < 0)
                _exit(126);
        /* credentials are taken at connect: the process is already the user */
        if (shmbox_connect(d.socket, &c) < 0)
                _exit(125);
        switch (p->what) {
        case PROBE_CREATE: {
                struct shmbox_config cfg = {
                        .slots = 64, .slot_size = 64, .mode = 0600, .flags = SHMBOX_CONFIG_GID, .gid = p->gid
                };
                s.op = shmbox_create(c, p->name, &cfg);
                break;
        }
        case PROBE_CHMOD: s.op = shmbox_chmod(c, p->name, p->mode, p->gid); break;
        case PROBE_DESTROY: s.op = shmbox_destroy(c, p->name); break;
        case PROBE_USE: {
                char buf[64];

                s.attach = shmbox_attach(c, p->name, &box);
                if (s.attach == 0) {
                        s.send = shmbox_send(box, "x", 1, 0);
                        s.recv = (int)shmbox_recv(box, buf, sizeof(buf), 0);
                        if (s.recv > 0)
                                s.recv = 0;
                        shmbox_detach(box);
                }
                s.open_segment = open_rw(p->segment);
                s.open_sem = open_rw(p->sem);
                break;
        }
        }
        shmbox_disconnect(c);
        if (write(out, &s, sizeof(s)) != sizeof(s))
                _exit(124);
        _exit(0);
}

static Seen as(const Who *w, const Probe *p) {
        Seen s;
        int fds[2], status;
        pid_t pid;

        ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                probe_child(w, p, fds[1]);
        close(fds[1]);
        status = harness_wait_exit(pid, harness_ms(10000));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: child status 0x%x", w->label, status);
        ck_assert_int_eq(read(fds[0], &s, sizeof(s)), sizeof(s));
        close(fds[0]);
        return s;
}

/* The path of the mailbox's items semaphore (its name carries the generation). */
static void find_sem(const char *name, char *out, size_t size) {
        char want[128];
        DIR *dd = opendir("/dev/shm");
        struct dirent *de;

        snprintf(want, sizeof(want), "sem.%s.%s.items.", d.prefix, name);
        out[0] = 0;
        while (dd && (de = readdir(dd)))
                if (strncmp(de->d_name, want, strlen(want)) == 0)
                        snprintf(out, size, "/dev/shm/%.200s", de->d_name);
        if (dd)
                closedir(dd);
        ck_assert_msg(out[0], "no semaphore %s*", want);
}

static unsigned bits_for(const Who *w, uint32_t mode) {
        return w->cls == 'u' ? (mode >> 6) & 7 : w->cls == 'g' ? (mode >> 3) & 7 : mode & 7;
}

static void run_matrix(void) {
        Probe p = { .name = "acl", .what = PROBE_CREATE, .gid = MBOX_GROUP };
        Seen s;
        int checked = 0;

        s = as(&owner, &p);
        ck_assert_int_eq(s.op, 0);
        snprintf(p.segment, sizeof(p.segment), "/dev/shm/%s.acl", d.prefix);
        find_sem("acl", p.sem, sizeof(p.sem));

        for (int cls = 0; cls < 3; cls++)
                for (unsigned bits = 0; bits <= 6; bits += 2) {
                        uint32_t mode = bits << (cls == 0 ? 6 : cls == 1 ? 3 : 0);

                        p.what = PROBE_CHMOD;
                        p.mode = mode;
                        p.gid = SHMBOX_KEEP;
                        ck_assert_int_eq(as(&owner, &p).op, 0);
                        p.what = PROBE_USE;
                        for (size_t u = 0; u < sizeof(users) / sizeof(users[0]); u++) {
                                unsigned b = bits_for(&users[u], mode);
                                int access = (b & 6) ? 0 : -EACCES;

                                s = as(&users[u], &p);
                                ck_assert_msg(s.attach == access, "mode %04o, %s: attach %d", mode, users[u].label,
                                              s.attach);
                                if (access == 0) {
                                        ck_assert_msg(s.send == ((b & 2) ? 0 : -EACCES), "mode %04o, %s: send %d", mode,
                                                      users[u].label, s.send);
                                        ck_assert_msg((b & 4) ? (s.recv == 0 || s.recv == -EAGAIN) : s.recv == -EACCES,
                                                      "mode %04o, %s: recv %d", mode, users[u].label, s.recv);
                                }
                                ck_assert_msg(s.open_segment == access, "mode %04o, %s: open segment %d", mode,
                                              users[u].label, s.open_segment);
                                ck_assert_msg(s.open_sem == access, "mode %04o, %s: open semaphore %d", mode,
                                              users[u].label, s.open_sem);
                                checked++;
                        }
                }
        printf("access: %d combinations of mode and user checked on the socket and in /dev/shm (daemon uid %u)\n",
               checked, (unsigned)d.user);

        /* who may change and destroy */
        p.what = PROBE_CHMOD;
        p.mode = 0666;
        p.gid = SHMBOX_KEEP;
        ck_assert_int_eq(as(&users[1], &p).op, -EPERM);
        p.mode = SHMBOX_KEEP;
        p.gid = 2200; /* a group the owner is not in */
        ck_assert_int_eq(as(&owner, &p).op, -EPERM);
        p.gid = owner.gid;
        ck_assert_int_eq(as(&owner, &p).op, 0);
        p.what = PROBE_DESTROY;
        ck_assert_int_eq(as(&users[3], &p).op, -EPERM);
        ck_assert_int_eq(as(&users[2], &p).op, -EPERM);
        ck_assert_int_eq(as(&owner, &p).op, 0);

        /* a create for a group one is not in */
        p.what = PROBE_CREATE;
        p.name = "notmine";
        p.gid = 2200;
        ck_assert_int_eq(as(&owner, &p).op, -EPERM);
}

START_TEST(test_every_class_and_right_is_enforced_with_the_daemon_as_root) {
        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: test-access switches users and needs root\n");
                return;
        }
        harness_daemon_start(&d, NULL);
        run_matrix();
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_every_class_and_right_is_enforced_with_an_unprivileged_daemon) {
        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: test-access switches users and needs root\n");
                return;
        }
        harness_daemon_start_as(&d, NULL, DAEMON_USER, DAEMON_USER);
        run_matrix();
        harness_daemon_done(&d);
}
END_TEST

/* The README's test command run from a clone under a private home (root's is 0700 on Debian):
 * the unprivileged daemon cannot reach the build tree, so the harness runs it from a copy in
 * its own directory. This case puts $SHMBOXD itself behind a 0700 directory, wherever the suite
 * runs, so that the old failure (exec refused, status 0x7f00) would show on any machine. */
START_TEST(test_an_unprivileged_daemon_starts_from_a_build_tree_under_a_private_directory) {
        char dir[] = "/tmp/shmboxprivate.XXXXXX", bin[64], buf[8];
        const char *orig = getenv("SHMBOXD");
        shmbox_client *c;
        shmbox *box;
        struct stat st;

        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: test-access switches users and needs root\n");
                return;
        }
        ck_assert_ptr_nonnull(orig);
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_eq(stat(dir, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0700);
        snprintf(bin, sizeof(bin), "%s/shmboxd", dir);
        harness_copy_binary(orig, bin);
        ck_assert_int_eq(setenv("SHMBOXD", bin, 1), 0);
        harness_daemon_start_as(&d, NULL, DAEMON_USER, DAEMON_USER);
        ck_assert_int_eq(setenv("SHMBOXD", orig, 1), 0);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "private", NULL), 0);
        ck_assert_int_eq(shmbox_attach(c, "private", &box), 0);
        ck_assert_int_eq(shmbox_send(box, "hi", 2, 0), 0);
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), 2);
        shmbox_detach(box);
        ck_assert_int_eq(shmbox_destroy(c, "private"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
        ck_assert_int_eq(unlink(bin), 0);
        ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* Anyone may create a file in /dev/shm named like a mailbox: the create fails, the log names
 * the squatter, and the daemon neither adopts nor deletes the file. */
START_TEST(test_a_squatted_name_fails_the_create_and_names_the_squatter) {
        char path[256], log[65536];
        shmbox_client *c;
        FILE *f;
        size_t n;
        pid_t pid;

        harness_daemon_start(&d, NULL);
        snprintf(path, sizeof(path), "/dev/shm/%s.squat", d.prefix);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fd;
                if (setgroups(0, NULL) < 0 || setgid(2004) < 0 || setuid(2004) < 0)
                        _exit(126);
                fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
                _exit(fd < 0 ? 1 : 0);
        }
        ck_assert_int_eq(harness_wait_exit(pid, harness_ms(5000)), 0);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "squat", NULL), -EEXIST);
        ck_assert_int_eq(access(path, F_OK), 0); /* not ours: left alone */
        f = fopen(d.log, "re");
        ck_assert_ptr_nonnull(f);
        n = fread(log, 1, sizeof(log) - 1, f);
        fclose(f);
        log[n] = 0;
        ck_assert_msg(strstr(log, "belongs to uid 2004"), "log: %s", log);
        ck_assert_int_eq(unlink(path), 0);
        ck_assert_int_eq(shmbox_create(c, "squat", NULL), 0);
        ck_assert_int_eq(shmbox_destroy(c, "squat"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

static Suite *access_suite(void) {
        Suite *s = suite_create("access");
        TCase *tc = tcase_create("users and rights");

        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_set_timeout(tc, 60 * harness_scale());
        tcase_add_test(tc, test_every_class_and_right_is_enforced_with_the_daemon_as_root);
        tcase_add_test(tc, test_every_class_and_right_is_enforced_with_an_unprivileged_daemon);
        tcase_add_test(tc, test_an_unprivileged_daemon_starts_from_a_build_tree_under_a_private_directory);
        tcase_add_test(tc, test_a_squatted_name_fails_the_create_and_names_the_squatter);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr;
        int failed;

        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: test-access switches users and needs root\n");
                return 77;
        }
        sr = srunner_create(access_suite());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
