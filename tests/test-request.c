/* SPDX-License-Identifier: MIT */
/* test-request.c — end-to-end tests of request/reply (client/request.c, proto/request.c): a
 * round trip, many requesters each getting their own replies, replies with a wrong id ignored,
 * a server killed after taking a request (the request goes to a second server), hostile
 * request headers written straight into the segment, and nothing left in /dev/shm.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/layout.h"
#include "proto/util.h"
#include "tests/harness.h"

static TestDaemon d;
static shmbox_client *client;
static shmbox *box;

static bool wait_no_reply_boxes(int ms);

static void setup(void) {
        harness_daemon_start(&d, NULL);
        client = harness_connect(&d);
}

/* Mailboxes outlive a daemon that stops: destroy the test's own. The reply mailboxes must be
 * gone by themselves, which harness_daemon_done() checks (nothing of the prefix left). */
static void teardown(void) {
        struct shmbox_entry *v = NULL;
        size_t n = 0;

        shmbox_client *observer = harness_connect(&d);

        shmbox_detach(box);
        box = NULL;
        ck_assert_int_eq(shmbox_list(client, &v, &n), 0);
        for (size_t i = 0; i < n; i++)
                if (strncmp(v[i].name, "reply.", 6) != 0)
                        ck_assert_int_eq(shmbox_destroy(client, v[i].name), 0);
        free(v);
        shmbox_disconnect(client);
        client = observer;
        ck_assert_msg(wait_no_reply_boxes(5000), "a reply mailbox outlived its connection");
        shmbox_disconnect(client);
        client = NULL;
        harness_daemon_done(&d);
}

static void make_box(const char *name, uint32_t slots, uint32_t slot_size) {
        struct shmbox_config cfg = { .slots = slots, .slot_size = slot_size, .mode = 0666 };

        ck_assert_int_eq(shmbox_create(client, name, &cfg), 0);
        ck_assert_int_eq(shmbox_attach(client, name, &box), 0);
}

/* Mailboxes of the daemon whose name starts with "reply." (the reply mailboxes). */
static unsigned reply_boxes(shmbox_client *c) {
        struct shmbox_entry *v = NULL;
        size_t n = 0;
        unsigned k = 0;

        ck_assert_int_eq(shmbox_list(c, &v, &n), 0);
        for (size_t i = 0; i < n; i++)
                k += strncmp(v[i].name, "reply.", 6) == 0;
        free(v);
        return k;
}

static bool wait_no_reply_boxes(int ms) {
        int64_t end = harness_now_us() + (int64_t)harness_ms(ms) * 1000;

        while (harness_now_us() < end) {
                if (reply_boxes(client) == 0)
                        return true;
                usleep(2000);
        }
        return false;
}

/* A server in a child process: answers @arg's count of requests on "svc" with "echo:" + body. */
typedef struct ServeArg {
        const char *name;
        long count;
        bool wrong_first; /* first send a reply with another id, and one with no header at all */
} ServeArg;

static void serve_child(const void *p, int wfd) {
        const ServeArg *a = p;
        shmbox_client *c;
        shmbox *b;
        char req[512], rep[600];
        struct shmbox_request_info info;

        if (shmbox_connect(d.socket, &c) < 0 || shmbox_attach(c, a->name, &b) < 0)
                _exit(3);
        harness_child_report(wfd, 1);
        for (long i = 0; i < a->count; i++) {
                ssize_t n = shmbox_recv_request(b, req, sizeof(req), &info, harness_ms(30000));
                int r;

                if (n < 0)
                        _exit(4);
                if (a->wrong_first) {
                        struct shmbox_request_info other = info;
                        shmbox *raw;

                        other.id++;
                        if (shmbox_reply(c, &other, "not yours", 9) < 0)
                                _exit(5);
                        /* a plain message in the reply mailbox: no header, so no reply */
                        if (shmbox_attach(c, info.reply_to, &raw) < 0 || shmbox_send(raw, "plain", 5, 0) < 0)
                                _exit(6);
                        shmbox_detach(raw);
                }
                memcpy(rep, "echo:", 5);
                memcpy(rep + 5, req, (size_t)n);
                r = shmbox_reply(c, &info, rep, (size_t)n + 5);
                if (r < 0)
                        _exit(7);
        }
        harness_child_report(wfd, a->count);
        shmbox_disconnect(c);
}

START_TEST(test_a_request_gets_its_reply_and_a_plain_receive_sees_the_body_only) {
        ServeArg a = { .name = "svc", .count = 2 };
        HarnessChild srv;
        char buf[512];
        struct shmbox_request_info info;
        ssize_t n;

        make_box("svc", 1, 256); /* one slot: a request and a plain message share it in turn */
        srv = harness_child_spawn(serve_child, &a);
        ck_assert_int_eq(harness_child_read(&srv, 10000), 1);
        n = shmbox_request(box, "ping", 4, buf, sizeof(buf), harness_ms(10000));
        ck_assert_int_eq(n, 9);
        ck_assert_mem_eq(buf, "echo:ping", 9);
        n = shmbox_request(box, "", 0, buf, sizeof(buf), harness_ms(10000));
        ck_assert_int_eq(n, 5);
        ck_assert_mem_eq(buf, "echo:", 5);
        ck_assert_int_eq(harness_child_read(&srv, 10000), 2);
        harness_child_reap(&srv);
        ck_assert_uint_eq(shmbox_request_discarded(client), 0);
        ck_assert_uint_eq(reply_boxes(client), 1);

        /* a plain message in the slot a request used: no header, nothing to reply to */
        ck_assert_int_eq(shmbox_send(box, "plain", 5, 0), 0);
        n = shmbox_recv_request(box, buf, sizeof(buf), &info, 0);
        ck_assert_int_eq(n, 5);
        ck_assert_mem_eq(buf, "plain", 5);
        ck_assert_str_eq(info.reply_to, "");
        ck_assert_int_eq(shmbox_reply(client, &info, "x", 1), -EDESTADDRREQ);

        /* a request read by plain receives: the body only, whichever call */
        {
                shmbox_client *c2 = harness_connect(&d);
                shmbox *b2;
                struct shmbox_cursor cur = { .pos = SHMBOX_CURSOR_START };
                const void *data;

                ck_assert_int_eq(shmbox_attach(c2, "svc", &b2), 0);
                /* a request that nobody answers: it times out, and stays queued */
                ck_assert_int_eq(shmbox_request(b2, "body", 4, buf, sizeof(buf), 50), -ETIMEDOUT);
                ck_assert_int_eq(shmbox_recv(box, NULL, 0, 0), 4);
                ck_assert_int_eq(shmbox_peek_at(box, &cur, buf, sizeof(buf), 0), 4);
                ck_assert_mem_eq(buf, "body", 4);
                n = shmbox_peek(box, 0, &data);
                ck_assert_int_eq(n, 4);
                ck_assert_mem_eq(data, "body", 4);
                ck_assert_int_eq(shmbox_release(box, data), 0);
                ck_assert_int_eq(shmbox_request(b2, "body2", 5, buf, sizeof(buf), 50), -ETIMEDOUT);
                ck_assert_int_eq(shmbox_recv(box, buf, 4, 0), -EMSGSIZE); /* the body's length counts */
                ck_assert_int_eq(shmbox_recv(box, buf, 5, 0), 5);
                ck_assert_mem_eq(buf, "body2", 5);
                shmbox_detach(b2);
                shmbox_disconnect(c2);
        }
        /* the requesters' reply mailboxes go with their connections */
        shmbox_detach(box);
        box = NULL;
        shmbox_disconnect(client);
        client = harness_connect(&d);
        ck_assert_msg(wait_no_reply_boxes(5000), "a reply mailbox outlived its connection");
}
END_TEST

/* A requester in a child: @count requests "r<i>.<k>", each reply must be "echo:" + it. */
typedef struct RequesterArg {
        int i;
        int count;
} RequesterArg;

static void requester_child(const void *p, int wfd) {
        const RequesterArg *a = p;
        shmbox_client *c;
        shmbox *b;
        char req[64], rep[128];
        int ok = 0;

        if (shmbox_connect(d.socket, &c) < 0 || shmbox_attach(c, "svc", &b) < 0)
                _exit(3);
        for (int k = 0; k < a->count; k++) {
                int len = snprintf(req, sizeof(req), "r%d.%d", a->i, k);
                ssize_t n = shmbox_request(b, req, (size_t)len, rep, sizeof(rep), harness_ms(30000));

                if (n == len + 5 && memcmp(rep, "echo:", 5) == 0 && memcmp(rep + 5, req, (size_t)len) == 0)
                        ok++;
        }
        harness_child_report(wfd, ok);
        harness_child_report(wfd, (int64_t)shmbox_request_discarded(c));
        shmbox_disconnect(c);
}

START_TEST(test_many_concurrent_requesters_each_get_their_own_replies) {
        enum { REQUESTERS = 6, SERVERS = 2, EACH = 100 };
        RequesterArg ra[REQUESTERS];
        ServeArg sa = { .name = "svc", .count = REQUESTERS * EACH / SERVERS };
        HarnessChild req[REQUESTERS], srv[SERVERS];

        make_box("svc", 8, 256);
        for (int i = 0; i < SERVERS; i++) {
                srv[i] = harness_child_spawn(serve_child, &sa);
                ck_assert_int_eq(harness_child_read(&srv[i], 10000), 1);
        }
        for (int i = 0; i < REQUESTERS; i++) {
                ra[i] = (RequesterArg){ .i = i, .count = EACH };
                req[i] = harness_child_spawn(requester_child, &ra[i]);
        }
        for (int i = 0; i < REQUESTERS; i++) {
                ck_assert_int_eq(harness_child_read(&req[i], 60000), EACH);
                ck_assert_int_eq(harness_child_read(&req[i], 10000), 0);
                harness_child_reap(&req[i]);
        }
        /* the servers answered exactly as many requests as were made: none twice */
        for (int i = 0; i < SERVERS; i++) {
                ck_assert_int_eq(harness_child_read(&srv[i], 60000), sa.count);
                harness_child_reap(&srv[i]);
        }
        ck_assert_msg(wait_no_reply_boxes(5000), "a reply mailbox outlived its connection");
}
END_TEST

START_TEST(test_a_reply_with_another_correlation_id_or_without_one_is_discarded) {
        ServeArg a = { .name = "svc", .count = 3, .wrong_first = true };
        HarnessChild srv;
        char buf[64];

        make_box("svc", 4, 256);
        srv = harness_child_spawn(serve_child, &a);
        ck_assert_int_eq(harness_child_read(&srv, 10000), 1);
        for (int i = 0; i < 3; i++) {
                char req[16];
                int len = snprintf(req, sizeof(req), "q%d", i);
                ssize_t n = shmbox_request(box, req, (size_t)len, buf, sizeof(buf), harness_ms(10000));

                ck_assert_int_eq(n, len + 5);
                ck_assert_mem_eq(buf + 5, req, (size_t)len);
                /* the wrong id and the plain message came first, and were discarded */
                ck_assert_uint_eq(shmbox_request_discarded(client), 2u * (unsigned)(i + 1));
        }
        ck_assert_int_eq(harness_child_read(&srv, 10000), 3);
        harness_child_reap(&srv);
}
END_TEST

/* Start tests/crash-child serving @count requests on @name; @crash_at NULL for none. */
static pid_t server_start(const char *name, const char *count, const char *crash_at, FILE **ret_out) {
        const char *bin = getenv("SHMBOX_CRASH_CHILD");
        char line[256];
        int p[2];
        pid_t pid;

        ck_assert_msg(bin, "SHMBOX_CRASH_CHILD is not set");
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                dup2(p[1], STDOUT_FILENO);
                if (crash_at)
                        setenv("SHMBOX_CRASH_AT", crash_at, 1);
                else
                        unsetenv("SHMBOX_CRASH_AT");
                execl(bin, bin, d.socket, name, "serve", count, (char *)NULL);
                _exit(127);
        }
        close(p[1]);
        *ret_out = fdopen(p[0], "r");
        ck_assert_ptr_nonnull(*ret_out);
        ck_assert_msg(fgets(line, sizeof(line), *ret_out) && strcmp(line, "attached\n") == 0,
                      "crash child did not attach");
        return pid;
}

static void requester_once(const void *p, int wfd) {
        const int *timeout = p;
        shmbox_client *c;
        shmbox *b;
        char rep[128];
        ssize_t n;

        if (shmbox_connect(d.socket, &c) < 0 || shmbox_attach(c, "svc", &b) < 0)
                _exit(3);
        n = shmbox_request(b, "work", 4, rep, sizeof(rep), *timeout);
        harness_child_report(wfd, n);
        harness_child_report(wfd, n == 10 && memcmp(rep, "reply:work", 10) == 0);
        harness_child_report(wfd, (int64_t)shmbox_request_discarded(c));
        shmbox_disconnect(c);
}

START_TEST(test_a_server_killed_after_taking_a_request_leaves_it_to_a_second_server) {
#ifdef SHMBOX_CRASH_POINTS
        int timeout = harness_ms(20000);
        struct shmbox_info info;
        HarnessChild rq;
        FILE *out1, *out2;
        pid_t s1, s2;
        int status;
        char line[128];

        make_box("svc", 4, 256);
        s1 = server_start("svc", "1", "recv_taken", &out1);
        rq = harness_child_spawn(requester_once, &timeout);
        /* server 1 takes the request and dies holding it (TAKEN, not consumed) */
        status = harness_wait_exit(s1, harness_ms(10000));
        ck_assert_msg(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "server 1 was not killed at recv_taken (status 0x%x)", status);
        fclose(out1);
        for (int64_t end = harness_now_us() + harness_ms(5000) * 1000LL;;) {
                ck_assert_int_eq(shmbox_info(client, "svc", &info), 0);
                if (info.recovered == 1)
                        break;
                ck_assert_msg(harness_now_us() < end, "the dead server's request was not put back");
                usleep(2000);
        }
        s2 = server_start("svc", "1", NULL, &out2);
        ck_assert_int_eq(harness_child_read(&rq, 20000), 10);
        ck_assert_int_eq(harness_child_read(&rq, 1000), 1);
        ck_assert_int_eq(harness_child_read(&rq, 1000), 0);
        harness_child_reap(&rq);
        ck_assert_msg(fgets(line, sizeof(line), out2) && strncmp(line, "served ", 7) == 0, "server 2 did not serve");
        status = harness_wait_exit(s2, harness_ms(10000));
        ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "server 2: 0x%x", status);
        fclose(out2);

        /* and with no second server, the requester's call ends cleanly at its deadline */
        timeout = 300;
        s1 = server_start("svc", "1", "recv_taken", &out1);
        rq = harness_child_spawn(requester_once, &timeout);
        ck_assert_int_eq(harness_child_read(&rq, 10000), -ETIMEDOUT);
        ck_assert_int_eq(harness_child_read(&rq, 1000), 0);
        ck_assert_int_eq(harness_child_read(&rq, 1000), 0);
        harness_child_reap(&rq);
        status = harness_wait_exit(s1, harness_ms(10000));
        ck_assert(status != -1 && WIFSIGNALED(status));
        fclose(out1);
        ck_assert_msg(wait_no_reply_boxes(5000), "a reply mailbox outlived its connection");
#else
        fprintf(stderr, "SKIP: test-request: the server killed after its take needs the crash points: "
                        "./configure --enable-crash-points\n");
#endif
}
END_TEST

/* ---- real kills at the crash points, with headers ---------------------------------------- */

#define LATER_REQUESTS 20 /* more than the reply mailbox's 16 slots: they pass a torn one */

typedef struct SeqArg {
        int first_timeout; /* of the first request ("work-0"); 0: no first request */
        int more;          /* requests after it, each waiting up to 20 s */
} SeqArg;

/* Child: a first request with its own timeout, then more; reports the first's length and
 * whether it was its reply, then how many of the others got exactly their reply, then the
 * replies discarded (a torn one would be). */
static void requester_seq(const void *p, int wfd) {
        const SeqArg *a = p;
        shmbox_client *c;
        shmbox *b;
        char req[32], rep[128], want[40];
        int64_t good = 0;
        ssize_t n;

        if (shmbox_connect(d.socket, &c) < 0 || shmbox_attach(c, "svc", &b) < 0)
                _exit(3);
        if (a->first_timeout) {
                n = shmbox_request(b, "work-0", 6, rep, sizeof(rep), a->first_timeout);
                harness_child_report(wfd, n);
                harness_child_report(wfd, n == 12 && memcmp(rep, "reply:work-0", 12) == 0);
        }
        for (int i = 1; i <= a->more; i++) {
                int k = snprintf(req, sizeof(req), "work-%d", i);

                snprintf(want, sizeof(want), "reply:%s", req);
                n = shmbox_request(b, req, (size_t)k, rep, sizeof(rep), 20000);
                good += n == k + 6 && memcmp(rep, want, (size_t)n) == 0;
        }
        harness_child_report(wfd, good);
        harness_child_report(wfd, (int64_t)shmbox_request_discarded(c));
        shmbox_disconnect(c);
}

/* Wait until the daemon has released (and so repaired) every attachment of @name but @n. */
static void wait_attached(const char *name, uint32_t n) {
        struct shmbox_info info;

        for (int64_t end = harness_now_us() + harness_ms(10000) * 1000LL;;) {
                ck_assert_int_eq(shmbox_info(client, name, &info), 0);
                if (info.attached == n)
                        return;
                ck_assert_msg(harness_now_us() < end, "%s: %u attached, not %u", name, info.attached, n);
                usleep(2000);
        }
}

typedef enum Fate {
        FATE_LOST,      /* the message (the request, or the server's reply) is never delivered */
        FATE_DELIVERED, /* it was committed: delivered whole */
        FATE_AGAIN,     /* the request was taken and not consumed: a second server gets it */
} Fate;

typedef enum Dies {
        DIES_REQUESTER, /* the requester, sending its request */
        DIES_SERVER,    /* the server, taking the request or sending its reply */
        DIES_AT_REPLY,  /* the requester, taking its reply out of its reply mailbox */
} Dies;

typedef struct HdrCrash {
        const char *point;
        Dies dies;
        Fate fate;
} HdrCrash;

static const HdrCrash hdr_crashes[] = {
        /* a requester killed while it sends its request */
        { "send_claimed", DIES_REQUESTER, FATE_LOST },
        { "send_half_copied", DIES_REQUESTER, FATE_LOST }, /* half the header written */
        { "send_meta_written", DIES_REQUESTER, FATE_LOST },
        { "send_committed", DIES_REQUESTER, FATE_DELIVERED },
        /* a server killed while it takes a request */
        { "recv_taken", DIES_SERVER, FATE_AGAIN },
        { "recv_half_copied", DIES_SERVER, FATE_AGAIN }, /* the header copied out, the body not */
        { "recv_consumed", DIES_SERVER, FATE_LOST },
        { "recv_head_half", DIES_SERVER, FATE_LOST },
        /* a server killed while it sends its reply (into the requester's reply mailbox) */
        { "send_claimed", DIES_SERVER, FATE_LOST },
        { "send_half_copied", DIES_SERVER, FATE_LOST },
        { "send_meta_written", DIES_SERVER, FATE_LOST },
        { "send_committed", DIES_SERVER, FATE_DELIVERED },
        /* a requester killed while it takes its reply: its reply mailbox goes with it */
        { "recv_taken", DIES_AT_REPLY, FATE_DELIVERED },
        { "recv_half_copied", DIES_AT_REPLY, FATE_DELIVERED },
        { "recv_consumed", DIES_AT_REPLY, FATE_DELIVERED },
};

/* Start tests/crash-child making @count requests on "svc", dying at @crash_at. */
static pid_t requester_start(const char *count, const char *crash_at, FILE **ret_out) {
        const char *bin = getenv("SHMBOX_CRASH_CHILD");
        char line[256];
        int p[2];
        pid_t pid;

        ck_assert_msg(bin, "SHMBOX_CRASH_CHILD is not set");
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                dup2(p[1], STDOUT_FILENO);
                setenv("SHMBOX_CRASH_AT", crash_at, 1);
                execl(bin, bin, d.socket, "svc", "request", count, (char *)NULL);
                _exit(127);
        }
        close(p[1]);
        *ret_out = fdopen(p[0], "r");
        ck_assert_ptr_nonnull(*ret_out);
        ck_assert_msg(fgets(line, sizeof(line), *ret_out) && strcmp(line, "attached\n") == 0,
                      "crash child did not attach");
        return pid;
}

static void expect_killed(pid_t pid, const char *who, const char *point) {
        int status = harness_wait_exit(pid, harness_ms(10000));

        ck_assert_msg(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "the %s was not killed at %s (status 0x%x)", who, point, status);
}

/*
 * A requester or a server killed at each crash point of a send or receive of a message with a
 * request header: the mailbox is repaired, the message is delivered whole or not at all (never
 * a torn header: a reader would refuse it or take another id), and every later request and
 * reply works, through the very slots the dead process held ("svc" has 2 slots, the reply
 * mailbox 16, and more than that many messages pass through each).
 */
START_TEST(test_a_process_killed_at_a_crash_point_of_a_request_leaves_no_torn_header) {
#ifdef SHMBOX_CRASH_POINTS
        const HdrCrash *k = &hdr_crashes[_i];
        struct shmbox_request_info ri;
        struct shmbox_info info;
        char buf[128], count[16];
        FILE *out1, *out2;
        pid_t dead, s2;
        int status;

        make_box("svc", 2, 256);
        if (k->dies == DIES_AT_REPLY) {
                dead = requester_start("1", k->point, &out1);
                s2 = server_start("svc", "1", NULL, &out2);
                expect_killed(dead, "requester", k->point);
                fclose(out1);
                /* the server replied before the requester took the reply, and went on */
                status = harness_wait_exit(s2, harness_ms(10000));
                ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "server: 0x%x", status);
                fclose(out2);
                wait_attached("svc", 1);
                /* the dead requester's reply mailbox, with the reply it held, is gone */
                ck_assert_msg(wait_no_reply_boxes(5000), "the dead requester's reply mailbox stays");
        } else if (k->dies == DIES_REQUESTER) {
                dead = requester_start("1", k->point, &out1);
                expect_killed(dead, "requester", k->point);
                fclose(out1);
                wait_attached("svc", 1); /* repaired: only the test's box is left */
                ck_assert_int_eq(shmbox_info(client, "svc", &info), 0);
                ck_assert_uint_eq(info.corrupt, 0);
                ck_assert_uint_eq(info.claimed, 0);
                memset(&ri, 0, sizeof(ri));
                if (k->fate == FATE_DELIVERED) {
                        ck_assert_int_eq(shmbox_recv_request(box, buf, sizeof(buf), &ri, 0), 6);
                        ck_assert_mem_eq(buf, "work-0", 6);
                        ck_assert_msg(strncmp(ri.reply_to, "reply.", 6) == 0, "reply-to \"%s\"", ri.reply_to);
                } else {
                        ck_assert_int_eq(info.queued, 0);
                }
                ck_assert_int_eq(shmbox_recv_request(box, buf, sizeof(buf), &ri, 0), -EAGAIN);
                /* plain messages of three lengths through both slots, twice: each comes out
                 * whole (no stale header of the dead send strips its first bytes) */
                for (int i = 0; i < 6; i++) {
                        size_t len = 24 + 8 * (size_t)(i % 3);

                        memset(buf, 'a' + i, len);
                        ck_assert_int_eq(shmbox_send(box, buf, len, 0), 0);
                        memset(buf, 0, sizeof(buf));
                        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), (ssize_t)len);
                        for (size_t j = 0; j < len; j++)
                                ck_assert_int_eq(buf[j], 'a' + i);
                }
        } else {
                SeqArg a = { .first_timeout = k->fate == FATE_LOST ? 500 : 20000, .more = LATER_REQUESTS };
                HarnessChild rq;

                dead = server_start("svc", "1", k->point, &out1);
                rq = harness_child_spawn(requester_seq, &a);
                expect_killed(dead, "server", k->point);
                fclose(out1);
                /* the requester's box and the test's: the dead server's is repaired */
                wait_attached("svc", 2);
                snprintf(count, sizeof(count), "%d", LATER_REQUESTS + (k->fate == FATE_AGAIN));
                s2 = server_start("svc", count, NULL, &out2);
                if (k->fate == FATE_LOST) {
                        ck_assert_int_eq(harness_child_read(&rq, harness_ms(20000)), -ETIMEDOUT);
                        ck_assert_int_eq(harness_child_read(&rq, 1000), 0);
                } else {
                        ck_assert_int_eq(harness_child_read(&rq, harness_ms(20000)), 12);
                        ck_assert_int_eq(harness_child_read(&rq, 1000), 1);
                }
                ck_assert_int_eq(harness_child_read(&rq, harness_ms(60000)), LATER_REQUESTS);
                ck_assert_int_eq(harness_child_read(&rq, 1000), 0); /* nothing torn was discarded */
                harness_child_reap(&rq);
                status = harness_wait_exit(s2, harness_ms(10000));
                ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                              "server 2 (it exits 1 on a request it refuses): 0x%x", status);
                fclose(out2);
                ck_assert_int_eq(shmbox_info(client, "svc", &info), 0);
                ck_assert_uint_eq(info.recovered, k->fate == FATE_AGAIN);
        }
        /* later requests and replies through the same slots */
        {
                SeqArg a = { .first_timeout = 0, .more = LATER_REQUESTS };
                HarnessChild rq;

                snprintf(count, sizeof(count), "%d", LATER_REQUESTS);
                s2 = server_start("svc", count, NULL, &out2);
                rq = harness_child_spawn(requester_seq, &a);
                ck_assert_int_eq(harness_child_read(&rq, harness_ms(60000)), LATER_REQUESTS);
                ck_assert_int_eq(harness_child_read(&rq, 1000), 0);
                harness_child_reap(&rq);
                status = harness_wait_exit(s2, harness_ms(10000));
                ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "server 3: 0x%x", status);
                fclose(out2);
        }
        ck_assert_int_eq(shmbox_info(client, "svc", &info), 0);
        ck_assert_uint_eq(info.corrupt, 0);
        ck_assert_uint_eq(info.queued, 0);
        printf("request crash: %-9s killed at %-18s %s\n", k->dies == DIES_SERVER ? "server" : "requester", k->point,
               k->dies == DIES_AT_REPLY ? "its reply mailbox removed"
               : k->fate == FATE_LOST   ? "lost, never torn"
               : k->fate == FATE_AGAIN  ? "served again"
                                        : "delivered whole");
        ck_assert_msg(wait_no_reply_boxes(5000), "a reply mailbox outlived its connection");
#else
        fprintf(stderr, "SKIP: test-request: the kills at crash points need ./configure --enable-crash-points\n");
#endif
}
END_TEST

/* ---- hostile headers -------------------------------------------------------------------- */

/* The slot head of the oldest message of @b (queued by a send just before, nobody receiving). */
static SlotHead *oldest_slot(shmbox *b) {
        struct shmbox_stat st;

        ck_assert_int_eq(shmbox_stat(b, &st), 0);
        return (SlotHead *)(uintptr_t)(st.map_addr + st.header_size + (st.head % st.slots) * st.slot_stride);
}

/* A meta word and header bytes a hostile peer writes over a queued message of 40 bytes. */
typedef struct Hostile {
        const char *what;
        uint32_t meta;
        uint8_t hdr[40];
        bool ring_rejects; /* the ring itself refuses the meta word: -EBADMSG for every reader */
} Hostile;

#define NAME8(a) 8, 0, 0, 0, 0, 0, 0, 0, a

static const Hostile hostile[] = {
        { "a header longer than the message", SLOT_META_HDR | 48, {}, true },
        { "a header longer than SLOT_HDR_MAX", SLOT_META_HDR | 136, {}, true },
        { "a header length not a multiple of 8", SLOT_META_HDR | 20, {}, true },
        { "a header length of 0", SLOT_META_HDR, {}, true },
        { "an unknown kind", 0x41000018u, {}, true },
        { "bits between kind and length", SLOT_META_HDR | 0x10000u | 24, {}, true },
        { "a name longer than the header", SLOT_META_HDR | 24, { 1, 0, 0, 0, 0, 0, 0, 0, 64 }, false },
        { "a name longer than 64", SLOT_META_HDR | 24, { 1, 0, 0, 0, 0, 0, 0, 0, 200 }, false },
        { "a reserved byte set",
          SLOT_META_HDR | 24,
          { 1, 0, 0, 0, 0, 0, 0, 0, NAME8(1), 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h' },
          false },
        { "a name with a slash",
          SLOT_META_HDR | 24,
          { 1, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, '.', '.', '/', 'e', 't', 'c', 'x', 'y' },
          false },
        { "a name starting with a dot",
          SLOT_META_HDR | 24,
          { 1, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, '.', 'h', 'i', 'd', 'd', 'e', 'n', 'x' },
          false },
        { "a NUL inside the name",
          SLOT_META_HDR | 24,
          { 1, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 0, 'd', 'e', 'f', 'g', 'h' },
          false },
        { "padding not zero",
          SLOT_META_HDR | 24,
          { 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c', 'd', 0, 0, 0, 0 },
          false },
        { "a header too short for its fixed part", SLOT_META_HDR | 8, { 1, 0, 0, 0, 0, 0, 0, 0 }, false },
};

START_TEST(test_hostile_request_headers_written_into_the_segment_are_rejected_without_harm) {
        const Hostile *h = &hostile[_i];
        char buf[128], name[32];
        struct shmbox_request_info info = {};
        struct shmbox_cursor cur = { .pos = SHMBOX_CURSOR_START };
        struct shmbox_info mi;
        SlotHead *s;
        ssize_t n;

        snprintf(name, sizeof(name), "h%d", _i);
        make_box(name, 4, 128);
        memset(buf, 'm', 40);
        ck_assert_int_eq(shmbox_send(box, buf, 40, 0), 0);
        s = oldest_slot(box);
        ck_assert_uint_eq(s->meta, 0); /* a plain message stores meta 0 */
        memcpy((uint8_t *)s + LAYOUT_SLOT_HEAD, h->hdr, sizeof(h->hdr));
        s->meta = h->meta;

        if (h->ring_rejects) {
                ck_assert_msg(shmbox_recv_request(box, buf, sizeof(buf), &info, 0) == -EBADMSG, "%s", h->what);
                ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), -EBADMSG);
                ck_assert_int_eq(shmbox_recv(box, NULL, 0, 0), -EBADMSG);
                ck_assert_int_eq(shmbox_peek_at(box, &cur, buf, sizeof(buf), 0), -EBADMSG);
                /* the message stays queued, as one with a length above slot_size: restore it */
                s->meta = 0;
                ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), 40);
        } else {
                /* the ring's part holds, so plain receivers see the body; a request reader
                 * refuses the header and drops the message, and the next one is received */
                uint32_t hl = h->meta & SLOT_META_LEN;

                ck_assert_int_eq(shmbox_peek_at(box, &cur, buf, sizeof(buf), 0), 40 - (ssize_t)hl);
                ck_assert_int_eq(shmbox_send(box, "next", 4, 0), 0);
                n = shmbox_recv_request(box, buf, sizeof(buf), &info, 0);
                ck_assert_msg(n == -EBADMSG, "%s: %zd", h->what, n);
                n = shmbox_recv_request(box, buf, sizeof(buf), &info, 0);
                ck_assert_int_eq(n, 4);
                ck_assert_str_eq(info.reply_to, "");
                /* and as a reply in a requester's own mailbox it is discarded, not returned */
        }
        ck_assert_int_eq(shmbox_recv(box, buf, sizeof(buf), 0), -EAGAIN);
        ck_assert_int_eq(shmbox_info(client, name, &mi), 0); /* the daemon is fine */
}
END_TEST

/* The slot head of the newest message of @b (just sent by the caller). */
static SlotHead *newest_slot(shmbox *b) {
        struct shmbox_stat st;

        ck_assert_int_eq(shmbox_stat(b, &st), 0);
        ck_assert_uint_gt(st.tail, st.head);
        return (SlotHead *)(uintptr_t)(st.map_addr + st.header_size + ((st.tail - 1) % st.slots) * st.slot_stride);
}

START_TEST(test_hostile_replies_in_a_requesters_own_mailbox_are_discarded) {
        /* the test plays the server, and writes into the requester's reply mailbox, while the
         * requester is stopped, three messages that are no reply before the real one */
        static const uint8_t request_hdr[24] = { 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c' };
        static const uint8_t bad_name[24] = { 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 'a', '/', 'c' };
        struct shmbox_request_info info;
        char buf[128];
        shmbox *inbox;
        HarnessChild rq;
        SlotHead *s;
        int timeout = harness_ms(10000), st;

        make_box("svc", 4, 128);
        rq = harness_child_spawn(requester_once, &timeout);
        ck_assert_int_eq(shmbox_recv_request(box, buf, sizeof(buf), &info, harness_ms(10000)), 4);
        ck_assert_int_eq(shmbox_attach(client, info.reply_to, &inbox), 0);
        ck_assert(harness_wait_sleeping(rq.pid, harness_ms(5000)));
        ck_assert_int_eq(kill(rq.pid, SIGSTOP), 0);
        ck_assert_int_eq(waitpid(rq.pid, &st, WUNTRACED), rq.pid);
        ck_assert(WIFSTOPPED(st));

        ck_assert_int_eq(shmbox_send(inbox, "plain message", 13, 0), 0); /* no header */
        ck_assert_int_eq(shmbox_send(inbox, buf, 40, 0), 0);             /* a request, not a reply */
        s = newest_slot(inbox);
        memcpy((uint8_t *)s + LAYOUT_SLOT_HEAD, request_hdr, sizeof(request_hdr));
        s->meta = SLOT_META_HDR | 24;
        ck_assert_int_eq(shmbox_send(inbox, buf, 40, 0), 0); /* a name that is no name */
        s = newest_slot(inbox);
        memcpy((uint8_t *)s + LAYOUT_SLOT_HEAD, bad_name, sizeof(bad_name));
        s->meta = SLOT_META_HDR | 24;
        ck_assert_int_eq(shmbox_reply(client, &info, "reply:work", 10), 0);
        ck_assert_int_eq(kill(rq.pid, SIGCONT), 0);

        ck_assert_int_eq(harness_child_read(&rq, 10000), 10);
        ck_assert_int_eq(harness_child_read(&rq, 1000), 1);
        ck_assert_int_eq(harness_child_read(&rq, 1000), 3); /* discarded */
        harness_child_reap(&rq);
        shmbox_detach(inbox);
}
END_TEST

START_TEST(test_bad_arguments_are_einval) {
        struct shmbox_request_info info = { .id = 1 };
        char buf[8];

        make_box("svc", 4, 128);
        ck_assert_int_eq(shmbox_request(NULL, "x", 1, buf, sizeof(buf), 0), -EINVAL);
        ck_assert_int_eq(shmbox_request(box, NULL, 1, buf, sizeof(buf), 0), -EINVAL);
        ck_assert_int_eq(shmbox_request(box, "x", 1, NULL, 8, 0), -EINVAL);
        ck_assert_int_eq(shmbox_request(box, "x", 1, buf, sizeof(buf), -2), -EINVAL);
        ck_assert_int_eq(shmbox_recv_request(box, buf, sizeof(buf), NULL, 0), -EINVAL);
        ck_assert_int_eq(shmbox_recv_request(NULL, buf, sizeof(buf), &info, 0), -EINVAL);
        ck_assert_int_eq(shmbox_reply(NULL, &info, "x", 1), -EINVAL);
        ck_assert_int_eq(shmbox_reply(client, NULL, "x", 1), -EINVAL);
        ck_assert_int_eq(shmbox_reply(client, &info, "x", 1), -EDESTADDRREQ);
        strcpy(info.reply_to, "../x");
        ck_assert_int_eq(shmbox_reply(client, &info, "x", 1), -EINVAL);
        strcpy(info.reply_to, "nobody-here");
        ck_assert_int_eq(shmbox_reply(client, &info, "x", 1), -ENOENT);
        /* a request too long for the slot once its header is added */
        memset(buf, 0, sizeof(buf));
        {
                char big[128] = {};

                ck_assert_int_eq(shmbox_request(box, big, 128, buf, sizeof(buf), 0), -EMSGSIZE);
        }
        ck_assert_uint_eq(shmbox_request_discarded(NULL), 0);
}
END_TEST

START_TEST(test_shmboxctl_serve_answers_shmboxctl_request_through_a_command) {
        const char *ctl = getenv("SHMBOXCTL");
        char cmd[1024], line[256] = "";
        FILE *f;
        pid_t srv;
        int status;

        ck_assert_msg(ctl, "SHMBOXCTL is not set");
        make_box("svc", 4, 256);
        srv = fork();
        ck_assert_int_ge(srv, 0);
        if (srv == 0) {
                execl(ctl, ctl, "--socket", d.socket, "serve", "svc", "--count", "2", "--", "tr", "a-z", "A-Z",
                      (char *)NULL);
                _exit(127);
        }
        snprintf(cmd, sizeof(cmd), "%s --socket %s request svc 'hello world' --timeout %d", ctl, d.socket,
                 harness_ms(10000));
        f = popen(cmd, "r");
        ck_assert_ptr_nonnull(f);
        ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
        ck_assert_int_eq(pclose(f), 0);
        ck_assert_str_eq(line, "HELLO WORLD\n");
        /* a message that is no request: run, not answered, and counted as served */
        ck_assert_int_eq(shmbox_send(box, "plain", 5, 0), 0);
        status = harness_wait_exit(srv, harness_ms(10000));
        ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "serve: 0x%x", status);
        /* no server: a clean timeout, exit status 1 */
        snprintf(cmd, sizeof(cmd), "%s --socket %s request svc x --timeout 100 2>/dev/null", ctl, d.socket);
        f = popen(cmd, "r");
        ck_assert_ptr_nonnull(f);
        status = pclose(f);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
        ck_assert_msg(wait_no_reply_boxes(5000), "shmboxctl request left its reply mailbox");
}
END_TEST

static Suite *request_suite(void) {
        Suite *s = suite_create("request");
        TCase *tc;

        tc = harness_tcase(s, "round trips", 120, setup, teardown);
        tcase_add_test(tc, test_a_request_gets_its_reply_and_a_plain_receive_sees_the_body_only);
        tcase_add_test(tc, test_many_concurrent_requesters_each_get_their_own_replies);
        tcase_add_test(tc, test_a_reply_with_another_correlation_id_or_without_one_is_discarded);
        tcase_add_test(tc, test_bad_arguments_are_einval);
        tcase_add_test(tc, test_shmboxctl_serve_answers_shmboxctl_request_through_a_command);

        tc = harness_tcase(s, "a server dies", 120, setup, teardown);
        tcase_add_test(tc, test_a_server_killed_after_taking_a_request_leaves_it_to_a_second_server);

        tc = harness_tcase(s, "kills at crash points", 120, setup, teardown);
        tcase_add_loop_test(tc, test_a_process_killed_at_a_crash_point_of_a_request_leaves_no_torn_header, 0,
                            (int)ELEMENTSOF(hdr_crashes));

        tc = harness_tcase(s, "hostile headers", 60, setup, teardown);
        tcase_add_loop_test(tc, test_hostile_request_headers_written_into_the_segment_are_rejected_without_harm, 0,
                            (int)ELEMENTSOF(hostile));
        tcase_add_test(tc, test_hostile_replies_in_a_requesters_own_mailbox_are_discarded);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(request_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
