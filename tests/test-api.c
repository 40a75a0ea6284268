/* SPDX-License-Identifier: MIT */
/* test-api.c — the public API as an application sees it: links only libshmbox (and the harness),
 * uses every symbol of <shmbox.h>, and checks argument validation, defaults and $SHMBOX_SOCKET.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "client/shmbox.h"
#include "tests/harness.h"

#define TIMEOUT_S 30

/* --- the library without a daemon ----------------------------------------------------------- */

START_TEST(test_version_is_major_minor_patch) {
        const char *v = shmbox_version();
        unsigned major, minor, patch;
        char tail;

        ck_assert_ptr_nonnull(v);
        ck_assert_msg(sscanf(v, "%u.%u.%u%c", &major, &minor, &patch, &tail) == 3,
                      "version \"%s\" is not MAJOR.MINOR.PATCH", v);
        ck_assert_str_eq(v, PACKAGE_VERSION);
}
END_TEST

START_TEST(test_strerror_never_returns_null) {
        const int errs[] = { 0,          -ENOENT, -EEXIST,       -EINVAL,       -EACCES,  -EPERM,  -EMSGSIZE, -EAGAIN,
                             -ETIMEDOUT, -EIDRM,  -ECONNREFUSED, -ENOTCONN,     -EBADMSG, -ESTALE, -EPROTO,   -ENOSPC,
                             -ENOMEM,    -EDQUOT, -EMFILE,       -ENAMETOOLONG, -EIO,     -4095,   -123456,   INT_MIN,
                             1,          ENOENT,  987654,        INT_MAX };

        for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
                const char *s = shmbox_strerror(errs[i]);

                ck_assert_msg(s != NULL, "shmbox_strerror(%d) is NULL", errs[i]);
                ck_assert_msg(s[0] != 0, "shmbox_strerror(%d) is empty", errs[i]);
        }
        /* the usual errors have distinct messages */
        ck_assert_str_ne(shmbox_strerror(-ENOENT), shmbox_strerror(-EEXIST));
        ck_assert_str_ne(shmbox_strerror(-EACCES), shmbox_strerror(-EPERM));
}
END_TEST

START_TEST(test_detach_and_disconnect_accept_null) {
        ck_assert_int_eq(shmbox_detach(NULL), 0);
        shmbox_disconnect(NULL);
}
END_TEST

START_TEST(test_connect_without_a_result_pointer_is_einval) {
        ck_assert_int_eq(shmbox_connect("/nonexistent/shmbox.sock", NULL), -EINVAL);
}
END_TEST

START_TEST(test_connect_to_a_path_without_daemon_is_econnrefused) {
        shmbox_client *c = NULL;

        ck_assert_int_eq(shmbox_connect("/nonexistent-dir-of-test-api/shmboxd.sock", &c), -ECONNREFUSED);
        ck_assert_ptr_null(c);
}
END_TEST

/* --- with a daemon ------------------------------------------------------------------------- */

START_TEST(test_every_call_rejects_null_arguments) {
        TestDaemon d;
        shmbox_client *c;
        shmbox *box = NULL;
        struct shmbox_info info;
        struct shmbox_entry *entries = NULL;
        size_t n = 0;
        char buf[16];

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);

        ck_assert_int_eq(shmbox_create(NULL, "box", NULL), -EINVAL);
        ck_assert_int_eq(shmbox_create(c, NULL, NULL), -EINVAL);
        ck_assert_int_eq(shmbox_destroy(NULL, "box"), -EINVAL);
        ck_assert_int_eq(shmbox_destroy(c, NULL), -EINVAL);
        ck_assert_int_eq(shmbox_attach(NULL, "box", &box), -EINVAL);
        ck_assert_int_eq(shmbox_attach(c, NULL, &box), -EINVAL);
        ck_assert_int_eq(shmbox_info(NULL, "box", &info), -EINVAL);
        ck_assert_int_eq(shmbox_info(c, NULL, &info), -EINVAL);
        ck_assert_int_eq(shmbox_list(NULL, &entries, &n), -EINVAL);
        ck_assert_int_eq(shmbox_list(c, NULL, &n), -EINVAL);
        ck_assert_int_eq(shmbox_list(c, &entries, NULL), -EINVAL);
        ck_assert_int_eq(shmbox_send(NULL, "x", 1, 0), -EINVAL);
        ck_assert_int_eq(shmbox_recv(NULL, buf, sizeof(buf), 0), -EINVAL);

        /* arguments that need an existing mailbox */
        ck_assert_int_eq(shmbox_create(c, "box", NULL), 0);
        ck_assert_int_eq(shmbox_attach(c, "box", NULL), -EINVAL);
        ck_assert_int_eq(shmbox_info(c, "box", NULL), -EINVAL);
        ck_assert_int_eq(shmbox_attach(c, "box", &box), 0);
        ck_assert_ptr_nonnull(box);
        ck_assert_int_eq(shmbox_send(box, NULL, 1, 0), -EINVAL);
        ck_assert_int_eq(shmbox_recv(box, NULL, 1, 0), -EINVAL);
        /* nothing was sent by the rejected calls */
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), -EAGAIN);
        /* NULL data with length 0 is an empty message */
        ck_assert_int_eq(shmbox_send(box, NULL, 0, 0), 0);
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), 0);

        ck_assert_int_eq(shmbox_detach(box), 0);
        ck_assert_int_eq(shmbox_destroy(c, "box"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_default_config_is_64_slots_of_4096_bytes_mode_0600) {
        const struct shmbox_config zero = { 0 };
        struct shmbox_info info;
        TestDaemon d;
        shmbox_client *c;
        shmbox *box;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);

        /* config NULL */
        ck_assert_int_eq(shmbox_create(c, "dflt-null", NULL), 0);
        ck_assert_int_eq(shmbox_info(c, "dflt-null", &info), 0);
        ck_assert_uint_eq(info.slots, SHMBOX_DEFAULT_SLOTS);
        ck_assert_uint_eq(info.slots, 64);
        ck_assert_uint_eq(info.slot_size, SHMBOX_DEFAULT_SLOT_SIZE);
        ck_assert_uint_eq(info.slot_size, 4096);
        ck_assert_uint_eq(info.mode, SHMBOX_DEFAULT_MODE);
        ck_assert_uint_eq(info.mode, 0600);
        ck_assert_uint_eq(info.uid, getuid());
        ck_assert_uint_eq(info.gid, getgid());
        ck_assert_uint_eq(info.queued, 0);
        ck_assert_uint_eq(info.attached, 0);
        ck_assert_uint_eq(info.sent, 0);
        ck_assert_uint_eq(info.received, 0);
        ck_assert_uint_eq(info.recovered, 0);

        /* an all-zero config means the same */
        ck_assert_int_eq(shmbox_create(c, "dflt-zero", &zero), 0);
        ck_assert_int_eq(shmbox_info(c, "dflt-zero", &info), 0);
        ck_assert_uint_eq(info.slots, 64);
        ck_assert_uint_eq(info.slot_size, 4096);
        ck_assert_uint_eq(info.mode, 0600);

        /* and the mapping agrees with the daemon */
        ck_assert_int_eq(shmbox_attach(c, "dflt-zero", &box), 0);
        ck_assert_uint_eq(shmbox_slots(box), 64);
        ck_assert_uint_eq(shmbox_slot_size(box), 4096);
        ck_assert_int_eq(shmbox_detach(box), 0);

        ck_assert_int_eq(shmbox_destroy(c, "dflt-null"), 0);
        ck_assert_int_eq(shmbox_destroy(c, "dflt-zero"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_every_public_call_works_once) {
        const struct shmbox_config cfg = { .slots = 8, .slot_size = 128, .mode = 0640 };
        struct shmbox_entry *entries = NULL;
        struct shmbox_info info;
        TestDaemon d;
        shmbox_client *c = NULL;
        shmbox *box = NULL;
        char buf[128];
        size_t n = 0;

        harness_daemon_start(&d, NULL);
        ck_assert_int_eq(shmbox_connect(d.socket, &c), 0);
        ck_assert_ptr_nonnull(c);

        ck_assert_int_eq(shmbox_create(c, "api.box_1", &cfg), 0);
        ck_assert_int_eq(shmbox_create(c, "api.box_1", &cfg), -EEXIST);
        ck_assert_str_eq(shmbox_last_error(c), ""); /* the errno says it all: no reason given */

        ck_assert_int_eq(shmbox_attach(c, "api.box_1", &box), 0);
        ck_assert_ptr_nonnull(box);
        ck_assert_uint_eq(shmbox_slots(box), 8);
        ck_assert_uint_eq(shmbox_slot_size(box), 128);

        ck_assert_int_eq(shmbox_send(box, "hello", 5, 0), 0);
        ck_assert_int_eq(shmbox_send(box, "world!", 6, 1000), 0);

        ck_assert_int_eq(shmbox_info(c, "api.box_1", &info), 0);
        ck_assert_uint_eq(info.slots, 8);
        ck_assert_uint_eq(info.slot_size, 128);
        ck_assert_uint_eq(info.mode, 0640);
        ck_assert_uint_eq(info.queued, 2);
        ck_assert_uint_eq(info.attached, 1);
        ck_assert_uint_eq(info.sent, 2);
        ck_assert_uint_eq(info.received, 0);

        ck_assert_int_eq(shmbox_list(c, &entries, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(entries[0].name, "api.box_1");
        ck_assert_uint_eq(entries[0].info.slots, 8);
        ck_assert_uint_eq(entries[0].info.slot_size, 128);
        ck_assert_uint_eq(entries[0].info.mode, 0640);
        ck_assert_uint_eq(entries[0].info.queued, 2);
        free(entries);

        memset(buf, 0, sizeof(buf));
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), 5);
        ck_assert_mem_eq(buf, "hello", 5);
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), -1), 6);
        ck_assert_mem_eq(buf, "world!", 6);
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), -EAGAIN);

        ck_assert_int_eq(shmbox_info(c, "api.box_1", &info), 0);
        ck_assert_uint_eq(info.queued, 0);
        ck_assert_uint_eq(info.sent, 2);
        ck_assert_uint_eq(info.received, 2);

        /* the calls added after the first five: zero-copy, batches, event fd, spin, stat, stats */
        {
                struct iovec iov[2] = { { (void *)"b1", 2 }, { (void *)"b2", 2 } }, out[2];
                char o1[128], o2[128];
                size_t lens[2];
                struct shmbox_stat st;
                struct shmbox_cursor cur = { .pos = SHMBOX_CURSOR_START };
                struct shmbox_stats *stats;
                const void *data;
                void *slot;

                ck_assert_int_eq(shmbox_reserve(box, 3, 0, &slot), 0);
                memcpy(slot, "zc!", 3);
                ck_assert_int_eq(shmbox_commit(box, slot, 3), 0);
                ck_assert_int_eq(shmbox_reserve(box, 3, 0, &slot), 0);
                ck_assert_int_eq(shmbox_abort(box, slot), 0);
                ck_assert_int_eq(shmbox_peek(box, 0, &data), 3);
                ck_assert_mem_eq(data, "zc!", 3);
                ck_assert_int_eq(shmbox_release(box, data), 0);
                ck_assert_int_eq(shmbox_send_many(box, iov, 2, 0), 2);
                /* a look that takes nothing: the receive below still gets both */
                ck_assert_int_eq(shmbox_peek_at(box, &cur, o1, sizeof(o1), 0), 2);
                ck_assert_mem_eq(o1, "b1", 2);
                ck_assert_int_eq(shmbox_peek_at(box, &cur, o1, sizeof(o1), SHMBOX_PEEK_FOLLOW), 2);
                ck_assert_mem_eq(o1, "b2", 2);
                ck_assert_int_eq(shmbox_peek_at(box, &cur, o1, sizeof(o1), 0), -EAGAIN);
                ck_assert_int_ge(shmbox_fd(box), 0);
                out[0] = (struct iovec){ o1, sizeof(o1) };
                out[1] = (struct iovec){ o2, sizeof(o2) };
                ck_assert_int_eq(shmbox_recv_many(box, out, 2, lens, 0), 2);
                ck_assert_mem_eq(o2, "b2", 2);
                ck_assert_int_eq(shmbox_set_spin(box, 0), 0);
                ck_assert_int_eq(shmbox_stat(box, &st), 0);
                ck_assert_uint_eq(st.slots, 8);
                ck_assert_int_eq(shmbox_chmod(c, "api.box_1", 0600, SHMBOX_KEEP), 0);
                ck_assert_int_eq(shmbox_info(c, "api.box_1", &info), 0);
                ck_assert_uint_eq(info.mode, 0600);
                ck_assert_uint_eq(info.sent, 5);
                /* 0.3: the traffic counters; every message above was sent and received once */
                ck_assert_int_eq(shmbox_stats(c, "api.box_1", &stats), 0);
                ck_assert_uint_eq(stats->total.sent, 5);
                ck_assert_uint_eq(stats->total.received, 5);
                ck_assert_uint_eq(stats->n_rows, 1);
                ck_assert_uint_eq(stats->rows[0].pid, (uint32_t)getpid());
                free(stats);
                ck_assert_int_eq(shmbox_reload(c), 0); /* root may; no config file: defaults */
        }

        ck_assert_int_eq(shmbox_detach(box), 0);
        ck_assert_int_eq(shmbox_info(c, "api.box_1", &info), 0);
        ck_assert_uint_eq(info.attached, 0);

        ck_assert_int_eq(shmbox_destroy(c, "api.box_1"), 0);
        ck_assert_int_eq(shmbox_destroy(c, "api.box_1"), -ENOENT);
        ck_assert_int_eq(shmbox_info(c, "api.box_1", &info), -ENOENT);
        ck_assert_int_eq(shmbox_list(c, &entries, &n), 0);
        ck_assert_uint_eq(n, 0);
        free(entries);

        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

/* 0.3: request/reply, in one process: a request that times out stays queued; its server
 * replies to the requester's reply mailbox, where the next request finds a stale reply and
 * discards it. */
START_TEST(test_request_reply_calls_work_once) {
        TestDaemon d;
        shmbox_client *c, *c2;
        shmbox *box, *box2;
        struct shmbox_request_info ri;
        char buf[64];

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        c2 = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "rr", NULL), 0);
        ck_assert_int_eq(shmbox_attach(c, "rr", &box), 0);
        ck_assert_int_eq(shmbox_attach(c2, "rr", &box2), 0);
        ck_assert_int_eq(shmbox_request(box2, "q", 1, buf, sizeof(buf), 10), -ETIMEDOUT);
        ck_assert_int_eq(shmbox_recv_request(box, buf, sizeof(buf), &ri, 0), 1);
        ck_assert_mem_eq(buf, "q", 1);
        ck_assert_int_eq(strncmp(ri.reply_to, "reply.", 6), 0);
        ck_assert_int_eq(shmbox_reply(c, &ri, "late", 4), 0);
        ck_assert_int_eq(shmbox_request(box2, "q", 1, buf, sizeof(buf), 10), -ETIMEDOUT);
        ck_assert_uint_eq(shmbox_request_discarded(c2), 1);
        ck_assert_uint_eq(shmbox_request_discarded(c), 0);
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), 1); /* the second request, plainly */
        shmbox_detach(box2);
        shmbox_disconnect(c2); /* its reply mailbox goes with the connection */
        for (int i = 0;; i++) {
                struct shmbox_entry *v = NULL;
                size_t n = 0;

                ck_assert_int_eq(shmbox_list(c, &v, &n), 0);
                free(v);
                if (n == 1)
                        break;
                ck_assert_msg(i < harness_ms(5000), "the reply mailbox outlived its connection");
                usleep(1000);
        }
        shmbox_detach(box);
        ck_assert_int_eq(shmbox_destroy(c, "rr"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_disconnect_leaves_boxes_that_detach_only_frees) {
        TestDaemon d;
        shmbox_client *c, *c2;
        shmbox *box;
        struct shmbox_info info;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        c2 = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "shell", NULL), 0);
        ck_assert_int_eq(shmbox_attach(c, "shell", &box), 0);
        ck_assert_int_eq(shmbox_info(c2, "shell", &info), 0);
        ck_assert_uint_eq(info.attached, 1);

        shmbox_disconnect(c);
        /* the disconnect detached the box: the daemon no longer counts it */
        ck_assert_int_eq(shmbox_info(c2, "shell", &info), 0);
        ck_assert_uint_eq(info.attached, 0);
        ck_assert_int_eq(shmbox_detach(box), 0);

        ck_assert_int_eq(shmbox_destroy(c2, "shell"), 0);
        shmbox_disconnect(c2);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_connect_with_null_path_uses_shmbox_socket) {
        TestDaemon d;
        shmbox_client *c = NULL;
        struct shmbox_info info;

        harness_daemon_start(&d, NULL);

        /* this test runs in its own process (fork mode): the environment is ours to change */
        ck_assert_int_eq(setenv("SHMBOX_SOCKET", d.socket, 1), 0);
        ck_assert_int_eq(shmbox_connect(NULL, &c), 0);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(shmbox_create(c, "via-env", NULL), 0);
        ck_assert_int_eq(shmbox_info(c, "via-env", &info), 0);
        ck_assert_uint_eq(info.slots, 64);
        ck_assert_int_eq(shmbox_destroy(c, "via-env"), 0);
        shmbox_disconnect(c);

        /* and it really is the variable that decides: a path with no daemon is refused */
        c = NULL;
        ck_assert_int_eq(setenv("SHMBOX_SOCKET", "/nonexistent-dir-of-test-api/sock", 1), 0);
        ck_assert_int_eq(shmbox_connect(NULL, &c), -ECONNREFUSED);
        ck_assert_ptr_null(c);
        /* an explicit path wins over the variable */
        ck_assert_int_eq(shmbox_connect(d.socket, &c), 0);
        shmbox_disconnect(c);

        unsetenv("SHMBOX_SOCKET");
        harness_daemon_done(&d);
}
END_TEST

/* --- traps of the API (issue 14) ------------------------------------------------------------ */

/* A timeout computed as deadline - now can come out negative: only -1 means forever. */
START_TEST(test_a_negative_timeout_other_than_minus_1_is_einval) {
        static const int bad[] = { -2, -1000, INT_MIN };
        struct iovec msg = { (void *)"m", 1 }, out;
        TestDaemon d;
        shmbox_client *c;
        shmbox *box;
        const void *data;
        void *slot;
        char buf[64];
        size_t len;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "deadline", NULL), 0);
        ck_assert_int_eq(shmbox_attach(c, "deadline", &box), 0);
        out = (struct iovec){ buf, sizeof(buf) };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_int_eq(shmbox_send(box, "m", 1, bad[i]), -EINVAL);
                ck_assert_int_eq(shmbox_send_many(box, &msg, 1, bad[i]), -EINVAL);
                ck_assert_int_eq(shmbox_reserve(box, 1, bad[i], &slot), -EINVAL);
                /* the mailbox is empty: before, each of these waited forever */
                ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), bad[i]), -EINVAL);
                ck_assert_int_eq(shmbox_recv_many(box, &out, 1, &len, bad[i]), -EINVAL);
                ck_assert_int_eq(shmbox_peek(box, bad[i], &data), -EINVAL);
        }
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), -EAGAIN); /* nothing was sent */
        ck_assert_int_eq(shmbox_send(box, "m", 1, -1), 0);
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), -1), 1);
        ck_assert_int_eq(shmbox_detach(box), 0);
        ck_assert_int_eq(shmbox_destroy(c, "deadline"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

/* Committing, aborting or releasing a slot twice is the caller's bug, not a repaired session. */
START_TEST(test_a_second_commit_abort_or_release_of_a_slot_is_einval) {
        TestDaemon d;
        shmbox_client *c;
        shmbox *box;
        const void *data;
        void *slot, *other;
        char buf[64];

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "twice", NULL), 0);
        ck_assert_int_eq(shmbox_attach(c, "twice", &box), 0);

        ck_assert_int_eq(shmbox_reserve(box, 2, 0, &slot), 0);
        memcpy(slot, "ok", 2);
        ck_assert_int_eq(shmbox_commit(box, slot, 2), 0);
        ck_assert_int_eq(shmbox_commit(box, slot, 2), -EINVAL);
        ck_assert_int_eq(shmbox_abort(box, slot), -EINVAL);

        ck_assert_int_eq(shmbox_reserve(box, 2, 0, &other), 0);
        ck_assert_int_eq(shmbox_abort(box, other), 0);
        ck_assert_int_eq(shmbox_abort(box, other), -EINVAL);
        ck_assert_int_eq(shmbox_commit(box, other, 2), -EINVAL);

        ck_assert_int_eq(shmbox_peek(box, 0, &data), 2);
        ck_assert_int_eq(shmbox_release(box, data), 0);
        ck_assert_int_eq(shmbox_release(box, data), -EINVAL);
        /* a slot never peeked or reserved by this box */
        ck_assert_int_eq(shmbox_release(box, slot), -EINVAL);
        ck_assert_int_eq(shmbox_commit(box, slot, 0), -EINVAL);

        /* nothing was delivered twice, nothing is left held */
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), -EAGAIN);
        ck_assert_int_eq(shmbox_send(box, "next", 4, 0), 0);
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), 4);
        ck_assert_int_eq(shmbox_detach(box), 0);
        ck_assert_int_eq(shmbox_destroy(c, "twice"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

/* A batch moves at most SHMBOX_BATCH_MAX messages, whatever n (documented, not refused). */
START_TEST(test_recv_many_returns_at_most_shmbox_batch_max) {
        const struct shmbox_config cfg = { .slots = 128, .slot_size = 16 };
        struct iovec bufs[100];
        size_t lens[100];
        char store[100][16];
        TestDaemon d;
        shmbox_client *c;
        shmbox *box;

        ck_assert_int_eq(SHMBOX_BATCH_MAX, 64);
        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "batch", &cfg), 0);
        ck_assert_int_eq(shmbox_attach(c, "batch", &box), 0);
        for (int i = 0; i < 100; i++) {
                ck_assert_int_eq(shmbox_send(box, &i, sizeof(i), 0), 0);
                bufs[i] = (struct iovec){ store[i], sizeof(store[i]) };
        }
        ck_assert_int_eq(shmbox_recv_many(box, bufs, 100, lens, 0), SHMBOX_BATCH_MAX);
        ck_assert_int_eq(shmbox_recv_many(box, bufs, 100, lens, 0), 100 - SHMBOX_BATCH_MAX);
        ck_assert_uint_eq(lens[0], sizeof(int));
        ck_assert_int_eq(shmbox_detach(box), 0);
        ck_assert_int_eq(shmbox_destroy(c, "batch"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

static Suite *api_suite(void) {
        Suite *s = suite_create("api");
        TCase *tc;

        tc = tcase_create("library alone");
        tcase_set_timeout(tc, TIMEOUT_S * harness_scale());
        tcase_add_test(tc, test_version_is_major_minor_patch);
        tcase_add_test(tc, test_strerror_never_returns_null);
        tcase_add_test(tc, test_detach_and_disconnect_accept_null);
        tcase_add_test(tc, test_connect_without_a_result_pointer_is_einval);
        tcase_add_test(tc, test_connect_to_a_path_without_daemon_is_econnrefused);
        suite_add_tcase(s, tc);

        tc = tcase_create("arguments");
        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_set_timeout(tc, TIMEOUT_S * harness_scale());
        tcase_add_test(tc, test_every_call_rejects_null_arguments);
        suite_add_tcase(s, tc);

        tc = tcase_create("defaults");
        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_set_timeout(tc, TIMEOUT_S * harness_scale());
        tcase_add_test(tc, test_default_config_is_64_slots_of_4096_bytes_mode_0600);
        tcase_add_test(tc, test_connect_with_null_path_uses_shmbox_socket);
        suite_add_tcase(s, tc);

        tc = tcase_create("every symbol");
        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_set_timeout(tc, TIMEOUT_S * harness_scale());
        tcase_add_test(tc, test_every_public_call_works_once);
        tcase_add_test(tc, test_disconnect_leaves_boxes_that_detach_only_frees);
        tcase_add_test(tc, test_request_reply_calls_work_once);
        suite_add_tcase(s, tc);

        tc = tcase_create("traps");
        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_set_timeout(tc, TIMEOUT_S * harness_scale());
        tcase_add_test(tc, test_a_negative_timeout_other_than_minus_1_is_einval);
        tcase_add_test(tc, test_a_second_commit_abort_or_release_of_a_slot_is_einval);
        tcase_add_test(tc, test_recv_many_returns_at_most_shmbox_batch_max);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(api_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
