/* SPDX-License-Identifier: MIT */
/* test-ephemeral.c — end-to-end tests of ephemeral mailboxes (SHMBOX_CONFIG_EPHEMERAL,
 * daemon/ephemeral.c): destroyed when the creating connection ends — a disconnect, a SIGKILL —
 * with nothing left in /dev/shm and -EIDRM for the boxes of other processes; listed with their
 * owner's pid; bounded by the quotas; hostile flags on the wire; and after a daemon restart, tied
 * to the creating process until it is proven gone.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/util.h"
#include "proto/wire.h"
#include "tests/harness.h"

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

static const struct shmbox_config ephemeral = { .slots = 4, .slot_size = 64, .flags = SHMBOX_CONFIG_EPHEMERAL };

/* Objects in /dev/shm of mailbox @name of our daemon: segment, semaphores, FIFO, temporaries. */
static unsigned shm_objects_of(const char *name) {
        char seg[128], sem[128], fifo[128], tmp[128];
        unsigned n = 0;
        struct dirent *e;
        DIR *dir = opendir("/dev/shm");

        ck_assert_ptr_nonnull(dir);
        snprintf(seg, sizeof(seg), "%s.%s", d.prefix, name);
        snprintf(sem, sizeof(sem), "sem.%s.%s.", d.prefix, name);
        snprintf(fifo, sizeof(fifo), "%s..fifo.%s.", d.prefix, name);
        snprintf(tmp, sizeof(tmp), "%s..tmp.%s.", d.prefix, name);
        while ((e = readdir(dir)))
                n += strcmp(e->d_name, seg) == 0 || strncmp(e->d_name, sem, strlen(sem)) == 0 ||
                     strncmp(e->d_name, fifo, strlen(fifo)) == 0 || strncmp(e->d_name, tmp, strlen(tmp)) == 0;
        closedir(dir);
        return n;
}

/* Wait until the daemon no longer knows @name (asked through @c); false after @ms. */
static bool wait_gone(shmbox_client *c, const char *name, int ms) {
        int64_t end = harness_now_us() + (int64_t)harness_ms(ms) * 1000;
        struct shmbox_info info;

        while (harness_now_us() < end) {
                int r = shmbox_info(c, name, &info);

                if (r == -ENOENT)
                        return true;
                ck_assert_int_eq(r, 0);
                usleep(2000);
        }
        return false;
}

/* The entry of @name in the daemon's list, asserting that it is there. */
static struct shmbox_info listed(shmbox_client *c, const char *name) {
        struct shmbox_entry *v = NULL;
        struct shmbox_info info = {};
        size_t n = 0;
        bool found = false;

        ck_assert_int_eq(shmbox_list(c, &v, &n), 0);
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i].name, name) == 0) {
                        info = v[i].info;
                        found = true;
                }
        free(v);
        ck_assert_msg(found, "%s is not listed", name);
        return info;
}

/* ---- the creating connection ends --------------------------------------------------------- */

/* Another process, attached to @arg's mailbox "inbox", blocked in recv: reports the attach
 * (0), then what the recv returned once the mailbox went. */
static void receiver_main(const void *arg, int wfd) {
        const TestDaemon *dd = arg;
        shmbox_client *c;
        shmbox *box;
        char buf[64];
        int r;

        r = shmbox_connect(dd->socket, &c);
        if (r < 0) {
                harness_child_report(wfd, r);
                _exit(1);
        }
        /* forked before the test creates the mailbox: wait for it */
        for (int i = 0; (r = shmbox_attach(c, "inbox", &box)) == -ENOENT && i < 10000; i++)
                usleep(1000);
        harness_child_report(wfd, r);
        if (r < 0)
                _exit(1);
        harness_child_report(wfd, shmbox_recv(box, buf, sizeof(buf), -1));
        harness_child_report(wfd, shmbox_send(box, "x", 1, 0));
        shmbox_detach(box);
        shmbox_disconnect(c);
        _exit(0);
}

START_TEST(test_an_ephemeral_mailbox_goes_when_its_client_disconnects_and_a_blocked_peer_gets_eidrm) {
        shmbox_client *owner;
        struct shmbox_info info;
        HarnessChild ch;

        /* the peer is forked before the owner connects: a child forked later would hold a copy
         * of the owner's socket, and the connection would end only with the child (shmbox(3)) */
        ch = harness_child_spawn(receiver_main, &d);
        owner = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(owner, "inbox", &ephemeral), 0);
        ck_assert_int_eq(shmbox_info(client, "inbox", &info), 0);
        ck_assert_uint_eq(info.flags, SHMBOX_INFO_EPHEMERAL);
        ck_assert_uint_eq(info.owner_pid, (uint32_t)getpid());
        ck_assert_uint_eq(shm_objects_of("inbox"), 5); /* segment, 3 semaphores, FIFO */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 0);
        ck_assert(harness_wait_sleeping(ch.pid, harness_ms(5000)));

        shmbox_disconnect(owner);
        ck_assert_msg(wait_gone(client, "inbox", 5000), "the ephemeral mailbox outlived its connection");
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -EIDRM); /* the blocked recv */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -EIDRM); /* a later send */
        harness_child_reap(&ch);
        ck_assert_uint_eq(shm_objects_of("inbox"), 0);
        /* the name is free again, and an ordinary mailbox under it outlives any connection */
        ck_assert_int_eq(shmbox_create(client, "inbox", NULL), 0);
        ck_assert_int_eq(shmbox_info(client, "inbox", &info), 0);
        ck_assert_uint_eq(info.flags, 0);
        ck_assert_uint_eq(info.owner_pid, 0);
        ck_assert_int_eq(shmbox_destroy(client, "inbox"), 0);
}
END_TEST

/* A process that creates the ephemeral mailbox "req.inbox", sends one message to it, reports its
 * pid and waits to be killed. */
static void owner_main(const void *arg, int wfd) {
        const TestDaemon *dd = arg;
        shmbox_client *c;
        shmbox *box;
        int r;

        r = shmbox_connect(dd->socket, &c);
        if (r >= 0)
                r = shmbox_create(c, "req.inbox", &ephemeral);
        if (r >= 0)
                r = shmbox_attach(c, "req.inbox", &box);
        if (r >= 0)
                r = shmbox_send(box, "pending", 7, 0);
        harness_child_report(wfd, r < 0 ? r : getpid());
        for (;;)
                pause();
}

START_TEST(test_an_ephemeral_mailbox_of_a_process_killed_with_sigkill_goes_and_leaves_nothing_in_dev_shm) {
        struct shmbox_info info;
        HarnessChild ch;
        shmbox *box;
        int64_t pid;

        ch = harness_child_spawn(owner_main, &d);
        pid = harness_child_read(&ch, harness_ms(10000));
        ck_assert_int_eq(pid, ch.pid);

        info = listed(client, "req.inbox");
        ck_assert_uint_eq(info.flags, SHMBOX_INFO_EPHEMERAL);
        ck_assert_uint_eq(info.owner_pid, (uint32_t)pid);
        ck_assert_uint_eq(info.queued, 1);
        ck_assert_uint_gt(shm_objects_of("req.inbox"), 0);
        ck_assert_int_eq(shmbox_attach(client, "req.inbox", &box), 0);

        ck_assert_int_eq(kill(ch.pid, SIGKILL), 0);
        ck_assert_int_ne(harness_wait_exit(ch.pid, harness_ms(10000)), -1);
        ck_assert_msg(wait_gone(client, "req.inbox", 5000), "the ephemeral mailbox outlived its killed owner");
        ck_assert_uint_eq(shm_objects_of("req.inbox"), 0);
        ck_assert_int_eq(shmbox_send(box, "late", 4, 0), -EIDRM);
        ck_assert_int_eq(shmbox_recv(box, NULL, 0, 0), -EIDRM);
        shmbox_detach(box);
        ck_assert_uint_eq(shm_objects_of("req.inbox"), 0);
}
END_TEST

START_TEST(test_an_owner_may_destroy_its_ephemeral_mailbox_and_its_disconnect_spares_a_new_one_of_that_name) {
        shmbox_client *owner = harness_connect(&d);
        struct shmbox_info info;

        ck_assert_int_eq(shmbox_create(owner, "reply", &ephemeral), 0);
        ck_assert_int_eq(shmbox_create(owner, "other", &ephemeral), 0);
        ck_assert_int_eq(shmbox_destroy(owner, "reply"), 0);
        ck_assert_uint_eq(shm_objects_of("reply"), 0);
        ck_assert_int_eq(shmbox_create(client, "reply", NULL), 0); /* another connection's, lasting */
        shmbox_disconnect(owner);
        ck_assert(wait_gone(client, "other", 5000));
        usleep(harness_ms(50) * 1000); /* whatever else the hang-up would do, it has done */
        ck_assert_int_eq(shmbox_info(client, "reply", &info), 0);
        ck_assert_uint_eq(info.flags, 0);
        ck_assert_uint_gt(shm_objects_of("reply"), 0);
        ck_assert_int_eq(shmbox_destroy(client, "reply"), 0);
}
END_TEST

START_TEST(test_ephemeral_mailboxes_count_against_the_limits_until_they_go) {
        shmbox_client *owner;

        harness_daemon_stop(&d);
        {
                FILE *f = fopen(d.config, "we");

                ck_assert_ptr_nonnull(f);
                fputs("[limits]\nmax-mailboxes = 2\n", f);
                ck_assert_int_eq(fclose(f), 0);
        }
        harness_daemon_restart(&d);
        owner = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(owner, "e1", &ephemeral), 0);
        ck_assert_int_eq(shmbox_create(owner, "e2", &ephemeral), 0);
        ck_assert_int_eq(shmbox_create(client, "lasting", NULL), -ENOSPC);
        shmbox_disconnect(owner);
        ck_assert(wait_gone(client, "e1", 5000));
        ck_assert(wait_gone(client, "e2", 5000));
        ck_assert_int_eq(shmbox_create(client, "lasting", NULL), 0);
        ck_assert_int_eq(shmbox_destroy(client, "lasting"), 0);
}
END_TEST

/* ---- hostile and old clients on the wire ------------------------------------------------- */

static int raw_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        strcpy(sa.sun_path, path);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

/* Send @m on @fd and decode its reply for protocol @proto into *@ret. */
static void raw_call(int fd, const WireMsg *m, uint32_t proto, WireMsg *ret) {
        static uint8_t buf[WIRE_HEADER_SIZE + WIRE_REPLY_MAX];
        size_t got = 0, size = WIRE_HEADER_SIZE;
        int n = wire_encode(buf, sizeof(buf), m);

        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(write(fd, buf, (size_t)n), n);
        while (got < size) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                ssize_t k;

                ck_assert_int_eq(poll(&pfd, 1, harness_ms(10000)), 1);
                k = read(fd, buf + got, size - got);
                ck_assert_int_gt(k, 0);
                got += (size_t)k;
                if (got == WIRE_HEADER_SIZE)
                        ck_assert_int_eq(wire_frame_size(buf, got, true, &size), 0);
        }
        ck_assert_int_eq(wire_decode_proto(buf, got, proto, ret), 0);
        ck_assert_uint_eq(ret->serial, m->serial);
}

static int raw_hello(int fd, uint32_t version) {
        WireMsg reply;

        raw_call(fd, &(WireMsg){ .type = WIRE_HELLO, .serial = 1, .version = version }, 0, &reply);
        ck_assert_int_eq(reply.status, 0);
        return (int)reply.version;
}

START_TEST(test_unknown_create_flags_and_an_ephemeral_flag_below_version_3_are_einval) {
        /* 4 and 8 are broadcast mailboxes' (tests/test-bcast.c) */
        static const uint32_t bad[] = { 16, 32, 0x80000000u, UINT32_MAX, WIRE_CREATE_EPHEMERAL | 16 };
        struct shmbox_config cfg = ephemeral;
        WireMsg m = { .type = WIRE_CREATE, .serial = 2, .slots = 4, .slot_size = 64 }, reply;
        int fd3 = raw_connect(d.socket), fd2 = raw_connect(d.socket);

        /* the library refuses flags it does not know before anything is sent */
        cfg.flags = SHMBOX_CONFIG_EPHEMERAL | 16;
        ck_assert_int_eq(shmbox_create(client, "bad", &cfg), -EINVAL);

        ck_assert_int_eq(raw_hello(fd3, WIRE_HELLO_VERSION), 3);
        strcpy(m.name, "hostile");
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                m.flags = bad[i];
                m.serial++;
                raw_call(fd3, &m, 3, &reply);
                ck_assert_msg(reply.status == -EINVAL, "flags 0x%x: %d", bad[i], reply.status);
                ck_assert(strstr(reply.reason, "unknown flags"));
        }
        /* overwrite without broadcast: a policy of nothing */
        m.flags = WIRE_CREATE_OVERWRITE;
        m.serial++;
        raw_call(fd3, &m, 3, &reply);
        ck_assert_int_eq(reply.status, -EINVAL);
        ck_assert(strstr(reply.reason, "broadcast"));
        /* a connection of version 2 cannot know the flag: refused, the connection kept */
        ck_assert_int_eq(raw_hello(fd2, 2), 2);
        m.flags = WIRE_CREATE_EPHEMERAL;
        raw_call(fd2, &m, 2, &reply);
        ck_assert_int_eq(reply.status, -EINVAL);
        ck_assert(strstr(reply.reason, "protocol version 3"));
        ck_assert_int_eq(shm_objects_of("hostile"), 0);

        /* an ephemeral mailbox made at version 3: a version-2 peer reads the info of version 2 */
        m.flags = WIRE_CREATE_EPHEMERAL;
        m.serial++;
        raw_call(fd3, &m, 3, &reply);
        ck_assert_int_eq(reply.status, 0);
        memset(&m, 0, sizeof(m));
        m.type = WIRE_INFO;
        m.serial = 50;
        strcpy(m.name, "hostile");
        raw_call(fd2, &m, 2, &reply);
        ck_assert_int_eq(reply.status, 0);
        ck_assert_uint_eq(reply.info.flags, 0);
        ck_assert_uint_eq(reply.info.owner_pid, 0);
        raw_call(fd3, &m, 3, &reply);
        ck_assert_int_eq(reply.status, 0);
        ck_assert_uint_eq(reply.info.flags, WIRE_INFO_EPHEMERAL);
        ck_assert_uint_eq(reply.info.owner_pid, (uint32_t)getpid());
        close(fd2);
        usleep(harness_ms(50) * 1000);
        ck_assert_uint_gt(shm_objects_of("hostile"), 0); /* not the creating connection */
        close(fd3);
        ck_assert(wait_gone(client, "hostile", 5000));
        ck_assert_uint_eq(shm_objects_of("hostile"), 0);
}
END_TEST

/* A daemon of protocol version 2, played by a child: it answers HELLO with the lower version,
 * refuses CREATE's unknown flags with -EINVAL and its reason (as those daemons do), and answers
 * INFO with an info of version 2. */
static void v2_daemon_main(const void *arg, int wfd) {
        const char *path = arg;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), fd;
        uint8_t buf[WIRE_HEADER_SIZE + WIRE_REQUEST_MAX], out[WIRE_HEADER_SIZE + 512];

        strcpy(sa.sun_path, path);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0)
                return;
        harness_child_report(wfd, 0);
        fd = accept(lfd, NULL, NULL);
        for (;;) {
                WireMsg req, reply;
                size_t size;
                int n;

                if (recv(fd, buf, WIRE_HEADER_SIZE, MSG_WAITALL) != WIRE_HEADER_SIZE ||
                    wire_frame_size(buf, WIRE_HEADER_SIZE, false, &size) < 0)
                        return;
                if (size > WIRE_HEADER_SIZE && recv(fd, buf + WIRE_HEADER_SIZE, size - WIRE_HEADER_SIZE, MSG_WAITALL) !=
                                                       (ssize_t)(size - WIRE_HEADER_SIZE))
                        return;
                if (wire_decode(buf, size, &req) < 0)
                        return;
                reply = (WireMsg){ .type = req.type | WIRE_REPLY, .serial = req.serial, .proto = 2 };
                if (req.type == WIRE_HELLO) {
                        harness_child_report(wfd, req.version);
                        reply.version = req.version < 2 ? req.version : 2;
                        strcpy(reply.name, "old");
                } else if (req.type == WIRE_CREATE && (req.flags & ~WIRE_CREATE_GID)) {
                        reply.status = -EINVAL;
                        snprintf(reply.reason, sizeof(reply.reason), "unknown flags 0x%x",
                                 req.flags & ~WIRE_CREATE_GID);
                } else if (req.type == WIRE_INFO)
                        reply.info = (WireInfo){ .slots = 4, .slot_size = 64, .mode = 0600 };
                else
                        reply.status = -EPERM;
                n = wire_encode(out, sizeof(out), &reply);
                if (n < 0 || write(fd, out, (size_t)n) != n)
                        return;
        }
}

START_TEST(test_the_flag_sent_to_a_daemon_of_version_2_is_eopnotsupp_and_its_infos_say_not_ephemeral) {
        char dir[] = "/tmp/shmbox-v2.XXXXXX", path[64];
        struct shmbox_info info;
        shmbox_client *c = NULL;
        HarnessChild ch;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/sock", dir);
        ch = harness_child_spawn(v2_daemon_main, path);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 0);
        ck_assert_int_eq(shmbox_connect(path, &c), 0);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), WIRE_HELLO_VERSION); /* offered */
        ck_assert_int_eq(shmbox_create(c, "inbox", &ephemeral), -EOPNOTSUPP);
        ck_assert_str_eq(shmbox_last_error(c), "unknown flags 0x2");
        ck_assert_str_eq(shmbox_strerror(-EOPNOTSUPP), "not supported by this daemon (an older protocol version)");
        ck_assert_int_eq(shmbox_info(c, "inbox", &info), 0); /* an info of version 2 decodes */
        ck_assert_uint_eq(info.slots, 4);
        ck_assert_uint_eq(info.flags, 0);
        ck_assert_uint_eq(info.owner_pid, 0);
        shmbox_disconnect(c);
        harness_child_reap(&ch);
        unlink(path);
        rmdir(dir);
}
END_TEST

/* ---- the daemon restarted ------------------------------------------------------------------ */

/* 0: the daemon killed (SIGKILL), 1: stopped (SIGTERM). Neither ends the owner's mailbox. */
START_TEST(test_after_a_daemon_restart_an_ephemeral_mailbox_lives_until_its_owner_process_is_gone) {
        struct shmbox_info info;
        HarnessChild ch;
        int64_t pid;

        ch = harness_child_spawn(owner_main, &d);
        pid = harness_child_read(&ch, harness_ms(10000));
        ck_assert_int_eq(pid, ch.pid);
        if (_i == 0)
                harness_daemon_kill(&d);
        else
                harness_daemon_stop(&d);
        harness_daemon_restart(&d);

        /* the owner still runs (its connection is gone with the old daemon): kept, and listed */
        info = listed(client, "req.inbox");
        ck_assert_uint_eq(info.flags, SHMBOX_INFO_EPHEMERAL);
        ck_assert_uint_eq(info.owner_pid, (uint32_t)pid);
        ck_assert_uint_eq(info.queued, 1);
        usleep(harness_ms(100) * 1000);
        ck_assert_int_eq(shmbox_info(client, "req.inbox", &info), 0);

        ck_assert_int_eq(kill(ch.pid, SIGKILL), 0);
        ck_assert_int_ne(harness_wait_exit(ch.pid, harness_ms(10000)), -1);
        ck_assert_msg(wait_gone(client, "req.inbox", 5000), "the restarted daemon missed the owner's death");
        ck_assert_uint_eq(shm_objects_of("req.inbox"), 0);
}
END_TEST

/* A process that creates the ephemeral mailbox "bare" (nothing attached: its creator is the
 * only process the restarted daemon has to judge), reports its pid and waits to be killed. */
static void creator_main(const void *arg, int wfd) {
        const TestDaemon *dd = arg;
        shmbox_client *c;
        int r;

        r = shmbox_connect(dd->socket, &c);
        if (r >= 0)
                r = shmbox_create(c, "bare", &ephemeral);
        harness_child_report(wfd, r < 0 ? r : getpid());
        for (;;)
                pause();
}

/* A restarted daemon that cannot judge the creator (no fd for its pidfd, its start time not
 * readable) keeps the mailbox, judges it again from its retry timer, and only the creator's
 * death then ends it: a failure to prove a death is no proof of it. */
static const char *const judge_faults[] = { "pidfd_open:EMFILE", "starttime:EMFILE" };

START_TEST(test_a_restarted_daemon_that_cannot_judge_the_creator_keeps_the_mailbox_and_judges_it_later) {
        struct shmbox_info info;
        HarnessChild ch;
        char log[65536];
        size_t n;
        FILE *f;

        ch = harness_child_spawn(creator_main, &d);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), ch.pid);
        harness_daemon_kill(&d);
        snprintf(d.fail_at, sizeof(d.fail_at), "%s", judge_faults[_i]);
        harness_daemon_restart(&d);
        d.fail_at[0] = 0;

        info = listed(client, "bare");
        ck_assert_uint_eq(info.flags, SHMBOX_INFO_EPHEMERAL);
        usleep(harness_ms(400) * 1000); /* the retry (100 ms) has judged it: alive, watched */
        ck_assert_int_eq(shmbox_info(client, "bare", &info), 0);
        f = fopen(d.log, "re");
        ck_assert_ptr_nonnull(f);
        n = fread(log, 1, sizeof(log) - 1, f);
        fclose(f);
        log[n] = 0;
        ck_assert_msg(strstr(log, "cannot tell whether its owner pid"), "fault %s was not met", judge_faults[_i]);
        ck_assert_msg(strstr(log, "still runs: kept until it exits"), "not judged again after %s", judge_faults[_i]);

        ck_assert_int_eq(kill(ch.pid, SIGKILL), 0);
        ck_assert_int_ne(harness_wait_exit(ch.pid, harness_ms(10000)), -1);
        ck_assert_msg(wait_gone(client, "bare", 5000), "the creator's death was missed after %s", judge_faults[_i]);
        ck_assert_uint_eq(shm_objects_of("bare"), 0);
}
END_TEST

START_TEST(test_an_ephemeral_mailbox_whose_owner_died_while_the_daemon_was_away_goes_at_restart) {
        struct shmbox_info info;
        HarnessChild ch;

        ch = harness_child_spawn(owner_main, &d);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), ch.pid);
        ck_assert_int_eq(shmbox_create(client, "lasting", NULL), 0);
        harness_daemon_kill(&d);
        ck_assert_int_eq(kill(ch.pid, SIGKILL), 0);
        ck_assert_int_ne(harness_wait_exit(ch.pid, harness_ms(10000)), -1);
        ck_assert_uint_gt(shm_objects_of("req.inbox"), 0); /* nobody to destroy it meanwhile */
        harness_daemon_restart(&d);

        /* adoption judged it before the daemon answered anyone */
        ck_assert_int_eq(shmbox_info(client, "req.inbox", &info), -ENOENT);
        ck_assert_uint_eq(shm_objects_of("req.inbox"), 0);
        ck_assert_int_eq(shmbox_info(client, "lasting", &info), 0);
        ck_assert_uint_eq(info.flags, 0);
        ck_assert_int_eq(shmbox_destroy(client, "lasting"), 0);
}
END_TEST

static Suite *ephemeral_suite(void) {
        Suite *s = suite_create("ephemeral");
        TCase *tc;

        tc = harness_tcase(s, "the creating connection ends", 60, setup, teardown);
        tcase_add_test(tc, test_an_ephemeral_mailbox_goes_when_its_client_disconnects_and_a_blocked_peer_gets_eidrm);
        tcase_add_test(tc,
                       test_an_ephemeral_mailbox_of_a_process_killed_with_sigkill_goes_and_leaves_nothing_in_dev_shm);
        tcase_add_test(
                tc, test_an_owner_may_destroy_its_ephemeral_mailbox_and_its_disconnect_spares_a_new_one_of_that_name);
        tcase_add_test(tc, test_ephemeral_mailboxes_count_against_the_limits_until_they_go);

        tc = harness_tcase(s, "hostile input", 60, setup, teardown);
        tcase_add_test(tc, test_unknown_create_flags_and_an_ephemeral_flag_below_version_3_are_einval);
        tcase_add_test(tc, test_the_flag_sent_to_a_daemon_of_version_2_is_eopnotsupp_and_its_infos_say_not_ephemeral);

        tc = harness_tcase(s, "the daemon restarted", 60, setup, teardown);
        tcase_add_loop_test(tc, test_after_a_daemon_restart_an_ephemeral_mailbox_lives_until_its_owner_process_is_gone,
                            0, 2);
        tcase_add_test(tc, test_an_ephemeral_mailbox_whose_owner_died_while_the_daemon_was_away_goes_at_restart);
#ifdef SHMBOX_CRASH_POINTS
        tcase_add_loop_test(tc,
                            test_a_restarted_daemon_that_cannot_judge_the_creator_keeps_the_mailbox_and_judges_it_later,
                            0, (int)ELEMENTSOF(judge_faults));
#else
        fprintf(stderr, "SKIP: test-ephemeral: the daemon that cannot judge a creator needs the fault points: "
                        "./configure --enable-crash-points\n");
#endif
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(ephemeral_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
