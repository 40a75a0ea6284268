/* SPDX-License-Identifier: MIT */
/* test-bcast.c — end-to-end tests of broadcast mailboxes (SHMBOX_CONFIG_BROADCAST, proto/bcast.c):
 * every subscriber gets every message once in order; a late subscriber starts at the next one;
 * `block` holds senders for the slowest subscriber, `overwrite` never does and says -EOVERFLOW
 * with the count lost; peek/release and batches; a subscriber or a sender killed for real; a
 * daemon killed and restarted; hostile subscriber lines; and processes exchanging thousands of
 * sequence-checked messages (the torture for subscribers).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/client.h"
#include "proto/layout.h"
#include "proto/util.h"
#include "tests/harness.h"

static TestDaemon d;
static shmbox_client *client;

static void setup(void) {
        harness_daemon_start(&d, NULL);
        client = harness_connect(&d);
}

static void teardown(void) {
        struct shmbox_entry *v = NULL;
        size_t n = 0;

        /* the mailboxes of the test go with it */
        if (shmbox_list(client, &v, &n) == 0)
                for (size_t i = 0; i < n; i++)
                        (void)shmbox_destroy(client, v[i].name);
        free(v);
        shmbox_disconnect(client);
        client = NULL;
        harness_daemon_done(&d);
}

#define SLOTS 8

static void create(const char *name, uint32_t flags) {
        struct shmbox_config cfg = { .slots = SLOTS, .slot_size = 64, .flags = SHMBOX_CONFIG_BROADCAST | flags };

        ck_assert_int_eq(shmbox_create(client, name, &cfg), 0);
}

static shmbox *attach(const char *name) {
        shmbox *b = NULL;

        ck_assert_int_eq(shmbox_attach(client, name, &b), 0);
        return b;
}

/* A box that only sends: it does not hold the ring back. */
static shmbox *publisher(const char *name) {
        shmbox *b = attach(name);

        ck_assert_int_eq(shmbox_subscribe(b, 0), 0);
        return b;
}

static void send_seq(shmbox *b, uint64_t i) {
        ck_assert_int_eq(shmbox_send(b, &i, sizeof(i), 0), 0);
}

static uint64_t recv_seq(shmbox *b) {
        uint64_t v = UINT64_MAX;

        ck_assert_int_eq(shmbox_recv(b, &v, sizeof(v), 0), (ssize_t)sizeof(v));
        return v;
}

START_TEST(test_every_subscriber_gets_every_message_in_order) {
        shmbox *pub, *a, *b;
        uint64_t n = 0;

        create("b1", 0);
        pub = publisher("b1");
        a = attach("b1");
        b = attach("b1");
        /* several laps: each subscriber reads all, a and b at different paces */
        for (int lap = 0; lap < 5; lap++) {
                for (int i = 0; i < SLOTS; i++)
                        send_seq(pub, n + (uint64_t)i);
                for (int i = 0; i < SLOTS; i++)
                        ck_assert_uint_eq(recv_seq(a), n + (uint64_t)i);
                for (int i = 0; i < SLOTS; i++)
                        ck_assert_uint_eq(recv_seq(b), n + (uint64_t)i);
                n += SLOTS;
        }
        ck_assert_int_eq(shmbox_recv(a, &n, sizeof(n), 0), -EAGAIN);
        ck_assert_int_eq(shmbox_recv(b, &n, sizeof(n), 0), -EAGAIN);
        /* a box that does not subscribe does not receive */
        ck_assert_int_eq(shmbox_recv(pub, &n, sizeof(n), 0), -EPERM);
        shmbox_detach(a);
        shmbox_detach(b);
        shmbox_detach(pub);
}
END_TEST

START_TEST(test_block_waits_for_the_slowest_subscriber) {
        shmbox *pub, *fast, *slow;

        create("b2", 0);
        pub = publisher("b2");
        fast = attach("b2");
        slow = attach("b2");
        for (uint64_t i = 0; i < SLOTS; i++)
                send_seq(pub, i);
        for (uint64_t i = 0; i < SLOTS; i++)
                ck_assert_uint_eq(recv_seq(fast), i);
        /* fast has read everything, slow nothing: the ring is full for the sender */
        ck_assert_int_eq(shmbox_send(pub, "x", 1, 0), -EAGAIN);
        ck_assert_uint_eq(recv_seq(slow), 0);
        send_seq(pub, SLOTS); /* one slot free: the one slow passed */
        ck_assert_int_eq(shmbox_send(pub, "x", 1, 0), -EAGAIN);
        /* a subscriber that leaves holds nothing back */
        ck_assert_int_eq(shmbox_subscribe(slow, 0), 0);
        for (uint64_t i = SLOTS + 1; i < 2 * SLOTS; i++)
                send_seq(pub, i);
        ck_assert_int_eq(shmbox_send(pub, "x", 1, 0), -EAGAIN); /* fast is a ring behind now */
        for (uint64_t i = SLOTS; i < 2 * SLOTS; i++)
                ck_assert_uint_eq(recv_seq(fast), i);
        ck_assert_int_eq(shmbox_recv(slow, NULL, 0, 0), -EPERM);
        shmbox_detach(fast);
        shmbox_detach(slow);
        shmbox_detach(pub);
}
END_TEST

START_TEST(test_a_late_subscriber_starts_at_the_next_message) {
        shmbox *pub, *early, *late;

        create("b3", 0);
        pub = publisher("b3");
        early = attach("b3");
        send_seq(pub, 1);
        send_seq(pub, 2);
        late = attach("b3");
        ck_assert_int_eq(shmbox_recv(late, NULL, 0, 0), -EAGAIN);
        send_seq(pub, 3);
        ck_assert_uint_eq(recv_seq(late), 3);
        ck_assert_uint_eq(recv_seq(early), 1);
        ck_assert_uint_eq(recv_seq(early), 2);
        ck_assert_uint_eq(recv_seq(early), 3);
        /* subscribing again starts afresh, at the next message */
        ck_assert_int_eq(shmbox_subscribe(late, 0), 0);
        send_seq(pub, 4);
        ck_assert_int_eq(shmbox_subscribe(late, 1), 0);
        send_seq(pub, 5);
        ck_assert_uint_eq(recv_seq(late), 5);
        shmbox_detach(early);
        shmbox_detach(late);
        shmbox_detach(pub);
}
END_TEST

START_TEST(test_overwrite_never_waits_and_says_what_was_lost) {
        shmbox *pub, *sub;
        uint64_t v;

        create("b4", SHMBOX_CONFIG_OVERWRITE);
        pub = publisher("b4");
        sub = attach("b4");
        for (uint64_t i = 0; i < 3 * SLOTS + 3; i++)
                send_seq(pub, i); /* never -EAGAIN: nobody is waited for */
        /* the subscriber is 2 rings and 3 messages behind: the oldest still there is tail - slots */
        ck_assert_int_eq(shmbox_recv(sub, &v, sizeof(v), 0), -EOVERFLOW);
        ck_assert_uint_eq(shmbox_missed(sub), 2 * SLOTS + 3);
        for (uint64_t i = 2 * SLOTS + 3; i < 3 * SLOTS + 3; i++)
                ck_assert_uint_eq(recv_seq(sub), i);
        ck_assert_int_eq(shmbox_recv(sub, &v, sizeof(v), 0), -EAGAIN);
        /* once: in step again, nothing more is reported */
        send_seq(pub, 100);
        ck_assert_uint_eq(recv_seq(sub), 100);
        shmbox_detach(sub);
        shmbox_detach(pub);
}
END_TEST

START_TEST(test_peek_is_a_shared_view_and_batches_work) {
        shmbox *pub, *a, *b;
        const void *p, *q;
        uint64_t bufs[4][1];
        struct iovec iov[4];
        size_t lens[4];

        create("b5", 0);
        pub = publisher("b5");
        a = attach("b5");
        b = attach("b5");
        for (uint64_t i = 0; i < 6; i++)
                send_seq(pub, i);
        ck_assert_int_eq(shmbox_peek(a, 0, &p), 8);
        ck_assert_uint_eq(*(const uint64_t *)p, 0);
        ck_assert_int_eq(shmbox_peek(a, 0, &q), 8); /* one in view: the same again */
        ck_assert_ptr_eq(p, q);
        ck_assert_uint_eq(recv_seq(b), 0); /* b reads it too, a still has it in view */
        ck_assert_uint_eq(*(const uint64_t *)p, 0);
        ck_assert_int_eq(shmbox_release(a, p), 0);
        ck_assert_int_eq(shmbox_release(a, p), -EINVAL); /* released already */
        for (int i = 0; i < 4; i++)
                iov[i] = (struct iovec){ bufs[i], sizeof(bufs[i]) };
        ck_assert_int_eq(shmbox_recv_many(a, iov, 4, lens, 0), 4);
        for (int i = 0; i < 4; i++) {
                ck_assert_uint_eq(lens[i], 8);
                ck_assert_uint_eq(bufs[i][0], (uint64_t)i + 1);
        }
        ck_assert_int_eq(shmbox_recv_many(a, iov, 4, lens, 0), 1);
        ck_assert_uint_eq(bufs[0][0], 5);
        ck_assert_int_eq(shmbox_recv_many(b, iov, 4, lens, 0), 4);
        ck_assert_uint_eq(bufs[3][0], 4);
        shmbox_detach(a);
        shmbox_detach(b);
        shmbox_detach(pub);
}
END_TEST

START_TEST(test_kind_flags_and_errors) {
        struct shmbox_config bad = { .slots = 4, .slot_size = 64, .flags = SHMBOX_CONFIG_OVERWRITE };
        struct shmbox_info info;
        struct shmbox_entry *v = NULL;
        size_t n = 0;
        shmbox *q, *b;
        bool seen = false;

        ck_assert_int_eq(shmbox_create(client, "bad", &bad), -EINVAL); /* overwrite is a broadcast policy */
        create("bc", 0);
        create("ow", SHMBOX_CONFIG_OVERWRITE);
        ck_assert_int_eq(shmbox_create(client, "queue", NULL), 0);
        ck_assert_int_eq(shmbox_info(client, "bc", &info), 0);
        ck_assert_uint_eq(info.flags, SHMBOX_INFO_BROADCAST);
        ck_assert_int_eq(shmbox_info(client, "ow", &info), 0);
        ck_assert_uint_eq(info.flags, SHMBOX_INFO_BROADCAST | SHMBOX_INFO_OVERWRITE);
        ck_assert_int_eq(shmbox_info(client, "queue", &info), 0);
        ck_assert_uint_eq(info.flags, 0);
        ck_assert_int_eq(shmbox_list(client, &v, &n), 0);
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i].name, "ow") == 0) {
                        ck_assert_uint_eq(v[i].info.flags, SHMBOX_INFO_BROADCAST | SHMBOX_INFO_OVERWRITE);
                        seen = true;
                }
        free(v);
        ck_assert(seen);
        q = attach("queue");
        ck_assert_int_eq(shmbox_subscribe(q, 0), -EOPNOTSUPP);
        b = attach("bc");
        /* queued: what the slowest subscriber has yet to read */
        ck_assert_int_eq(shmbox_send(b, "x", 1, 0), 0);
        ck_assert_int_eq(shmbox_info(client, "bc", &info), 0);
        ck_assert_uint_eq(info.queued, 1);
        ck_assert_uint_eq(info.sent, 1);
        ck_assert_int_eq(shmbox_recv(b, NULL, 0, 0), 1);
        ck_assert_int_eq(shmbox_recv(b, &n, sizeof(n), 0), 1);
        ck_assert_int_eq(shmbox_info(client, "bc", &info), 0);
        ck_assert_uint_eq(info.queued, 0);
        ck_assert_uint_eq(info.corrupt, 0);
        shmbox_detach(q);
        shmbox_detach(b);
}
END_TEST

static bool readable(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* shmbox_fd() of a subscriber: its own FIFO, readable exactly while it has news of its own. */
START_TEST(test_each_polling_subscriber_has_its_own_fd) {
        shmbox *pub, *a, *b;
        int fa, fb;

        create("poll", 0);
        pub = publisher("poll");
        a = attach("poll");
        b = attach("poll");
        fa = shmbox_fd(a);
        fb = shmbox_fd(b);
        ck_assert_int_ge(fa, 0);
        ck_assert_int_ge(fb, 0);
        ck_assert_int_ne(fa, fb);
        ck_assert_int_eq(shmbox_fd(a), fa); /* the same one again */
        ck_assert(!readable(fa));
        ck_assert(!readable(fb));
        send_seq(pub, 1);
        send_seq(pub, 2);
        ck_assert(readable(fa));
        ck_assert(readable(fb));
        /* a reads both: its fd goes quiet, b's stays readable: b has not read */
        ck_assert_uint_eq(recv_seq(a), 1);
        ck_assert(readable(fa));
        ck_assert_uint_eq(recv_seq(a), 2);
        ck_assert(!readable(fa));
        ck_assert(readable(fb));
        ck_assert_int_eq(shmbox_recv(a, NULL, 0, 0), -EAGAIN);
        ck_assert(!readable(fa));
        ck_assert_uint_eq(recv_seq(b), 1);
        ck_assert_uint_eq(recv_seq(b), 2);
        ck_assert(!readable(fb));
        /* the next message: both again */
        send_seq(pub, 3);
        ck_assert(readable(fa));
        ck_assert(readable(fb));
        ck_assert_uint_eq(recv_seq(b), 3);
        ck_assert(!readable(fb));
        ck_assert(readable(fa));
        /* a box that cannot receive has no fd: the publisher does not subscribe */
        ck_assert_int_eq(shmbox_recv(pub, NULL, 0, 0), -EPERM);
        shmbox_detach(a);
        shmbox_detach(b);
        shmbox_detach(pub);
}
END_TEST

/* A subscriber in another process that attaches, reports, and then reads nothing. */
static void idle_subscriber(const void *arg, int wfd) {
        const TestDaemon *td = arg;
        shmbox_client *c = NULL;
        shmbox *b = NULL;
        int r = shmbox_connect(td->socket, &c);

        if (r == 0)
                r = shmbox_attach(c, "kill", &b);
        harness_child_report(wfd, r);
        pause();
}

START_TEST(test_a_killed_subscriber_holds_nothing_back) {
        HarnessChild ch;
        shmbox *pub, *sub;
        int st;

        create("kill", 0);
        pub = publisher("kill");
        sub = attach("kill");
        ch = harness_child_spawn(idle_subscriber, &d);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 0);
        for (uint64_t i = 0; i < SLOTS; i++)
                send_seq(pub, i);
        for (uint64_t i = 0; i < SLOTS; i++)
                ck_assert_uint_eq(recv_seq(sub), i);
        ck_assert_int_eq(shmbox_send(pub, "x", 1, 0), -EAGAIN); /* the child holds the ring */
        kill(ch.pid, SIGKILL);
        ck_assert_int_eq(waitpid(ch.pid, &st, 0), ch.pid);
        close(ch.fd);
        /* the daemon proves it dead and repairs: the sender blocked on it goes on */
        {
                uint64_t v = SLOTS;

                ck_assert_int_eq(shmbox_send(pub, &v, sizeof(v), harness_ms(10000)), 0);
        }
        ck_assert_uint_eq(recv_seq(sub), SLOTS);
        shmbox_detach(sub);
        shmbox_detach(pub);
}
END_TEST

/* tests/crash-child killed at a crash point of a send into mailbox @name */
static void crash_send(const char *name, const char *point, int count) {
        const char *bin = getenv("SHMBOX_CRASH_CHILD");
        char cnt[16];
        pid_t pid;
        int st;

        ck_assert_msg(bin, "SHMBOX_CRASH_CHILD is not set");
        snprintf(cnt, sizeof(cnt), "%d", count);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY);

                dup2(null, 1);
                setenv("SHMBOX_CRASH_AT", point, 1);
                execl(bin, bin, d.socket, name, "send", cnt, "16", (char *)NULL);
                _exit(127);
        }
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "crash-child was not killed at %s (status %d)", point,
                      st);
}

static const char *const send_points[] = { "send_locked", "send_claimed", "send_half_copied", "send_committed" };

START_TEST(test_a_sender_killed_mid_send_leaves_nothing_torn) {
        char buf[64];
        shmbox *pub, *sub;
        ssize_t k;

        create("torn", 0);
        pub = publisher("torn");
        sub = attach("torn");
        send_seq(pub, 1);
        /* the child sends 2 messages and dies in its second */
        {
                char at[64];

                snprintf(at, sizeof(at), "%s:2", send_points[_i]);
                crash_send("torn", at, 2);
        }
        send_seq(pub, 2);
        ck_assert_uint_eq(recv_seq(sub), 1);
        /* its first message, whole; its second only if it was committed; then ours */
        k = shmbox_recv(sub, buf, sizeof(buf), harness_ms(10000));
        ck_assert_int_eq(k, 16);
        ck_assert_int_eq(memcmp(buf, "0:", 2), 0);
        k = shmbox_recv(sub, buf, sizeof(buf), harness_ms(10000));
        if (strcmp(send_points[_i], "send_committed") == 0) {
                ck_assert_int_eq(k, 16);
                ck_assert_int_eq(memcmp(buf, "1:", 2), 0);
                k = shmbox_recv(sub, buf, sizeof(buf), harness_ms(10000));
        }
        ck_assert_int_eq(k, 8);
        ck_assert_uint_eq(*(uint64_t *)buf, 2);
        ck_assert_int_eq(shmbox_recv(sub, buf, sizeof(buf), 0), -EAGAIN);
        shmbox_detach(sub);
        shmbox_detach(pub);
}
END_TEST

static const char *const recv_points[] = { "recv_taken", "recv_half_copied", "recv_consumed" };

/* A subscriber (tests/crash-child recvwait) killed at a crash point of its receive, with the
 * ring full of what it has not read: once the daemon repaired it, it holds nothing back. */
START_TEST(test_a_subscriber_killed_mid_receive_holds_nothing_back) {
        const char *bin = getenv("SHMBOX_CRASH_CHILD");
        shmbox *pub, *sub;
        char line[64], at[64];
        FILE *out;
        int in[2], outp[2], st;
        uint64_t v = SLOTS;
        pid_t pid;

        ck_assert_msg(bin, "SHMBOX_CRASH_CHILD is not set");
        create("subkill", 0);
        pub = publisher("subkill");
        sub = attach("subkill");
        ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(outp, O_CLOEXEC), 0);
        snprintf(at, sizeof(at), "%s", recv_points[_i]);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                dup2(in[0], STDIN_FILENO);
                dup2(outp[1], STDOUT_FILENO);
                setenv("SHMBOX_CRASH_AT", at, 1);
                execl(bin, bin, d.socket, "subkill", "recvwait", "1", (char *)NULL);
                _exit(127);
        }
        close(in[0]);
        close(outp[1]);
        out = fdopen(outp[0], "r");
        ck_assert_ptr_nonnull(out);
        ck_assert_msg(fgets(line, sizeof(line), out) && strcmp(line, "attached\n") == 0, "crash child did not attach");
        for (uint64_t i = 0; i < SLOTS; i++)
                send_seq(pub, i);
        for (uint64_t i = 0; i < SLOTS; i++)
                ck_assert_uint_eq(recv_seq(sub), i);
        ck_assert_int_eq(shmbox_send(pub, &v, sizeof(v), 0), -EAGAIN); /* the child holds the ring */
        ck_assert_int_eq(write(in[1], "go\n", 3), 3);
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "crash child not killed at %s (status 0x%x)", at, st);
        close(in[1]);
        fclose(out);
        /* repaired: the sender goes on, the other subscriber gets the rest in order */
        ck_assert_int_eq(shmbox_send(pub, &v, sizeof(v), harness_ms(10000)), 0);
        ck_assert_uint_eq(recv_seq(sub), SLOTS);
        shmbox_detach(sub);
        shmbox_detach(pub);
}
END_TEST

START_TEST(test_a_daemon_restart_keeps_the_positions) {
        shmbox *pub, *a, *b;

        create("rs", 0);
        pub = publisher("rs");
        a = attach("rs");
        b = attach("rs");
        for (uint64_t i = 0; i < 6; i++)
                send_seq(pub, i);
        for (uint64_t i = 0; i < 4; i++)
                ck_assert_uint_eq(recv_seq(a), i);
        ck_assert_uint_eq(recv_seq(b), 0);
        harness_daemon_kill(&d);
        harness_daemon_restart(&d);
        /* each goes on where it was; the senders still wait for the slowest */
        ck_assert_uint_eq(recv_seq(a), 4);
        ck_assert_uint_eq(recv_seq(b), 1);
        for (uint64_t i = 6; i < 10; i++)
                send_seq(pub, i); /* b is at 2: 2..9 fill the ring */
        ck_assert_int_eq(shmbox_send(pub, "x", 1, 0), -EAGAIN);
        for (uint64_t i = 5; i < 10; i++)
                ck_assert_uint_eq(recv_seq(a), i);
        for (uint64_t i = 2; i < 10; i++)
                ck_assert_uint_eq(recv_seq(b), i);
        shmbox_detach(a);
        shmbox_detach(b);
        shmbox_detach(pub);
}
END_TEST

/* The segment mapped by the test itself, as a hostile attached process maps it. */
static void *map_segment(const char *name, size_t *ret_size) {
        struct shmbox_stat st;
        shmbox *b = attach(name);
        char path[256];
        void *m;
        int fd;

        ck_assert_int_eq(shmbox_stat(b, &st), 0);
        snprintf(path, sizeof(path), "%s", st.segment);
        shmbox_detach(b);
        fd = open(path, O_RDWR);
        ck_assert_int_ge(fd, 0);
        m = mmap(NULL, st.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        ck_assert_ptr_ne(m, MAP_FAILED);
        *ret_size = st.map_size;
        return m;
}

START_TEST(test_hostile_subscriber_lines_hold_nothing_back) {
        shmbox *pub, *sub;
        size_t size;
        uint8_t *m;
        MboxHeader *h;

        create("hostile", 0);
        pub = publisher("hostile");
        sub = attach("hostile");
        m = map_segment("hostile", &size);
        h = (MboxHeader *)m;
        /* bits of indexes nobody holds, and lines that claim to be far behind or ahead */
        for (unsigned i = 0; i < LAYOUT_ATT_WORDS; i++)
                atomic_fetch_or(&h->subs[i], UINT64_C(0x5555555555555550));
        for (unsigned i = 4; i < LAYOUT_ATT_MAX; i++)
                atomic_store(&layout_sub(m, i)->pos, i % 2 ? 0 : UINT64_MAX - i);
        for (uint64_t lap = 0; lap < 3; lap++) {
                for (uint64_t i = 0; i < SLOTS; i++)
                        send_seq(pub, lap * SLOTS + i);
                for (uint64_t i = 0; i < SLOTS; i++)
                        ck_assert_uint_eq(recv_seq(sub), lap * SLOTS + i);
        }
        /* a forged head is a hint the senders replace */
        atomic_store(&h->head, UINT64_MAX / 3);
        send_seq(pub, 99);
        ck_assert_uint_eq(recv_seq(sub), 99);
        /* a word no step writes at the subscriber's position: -EBADMSG, not a wait */
        send_seq(pub, 100);
        {
                struct shmbox_stat st;
                SlotHead *s;
                uint64_t v;

                ck_assert_int_eq(shmbox_stat(sub, &st), 0);
                s = (SlotHead *)(m + st.header_size + (st.tail - 1) % st.slots * st.slot_stride);
                atomic_store(&s->word, slot_word(SLOT_DONE, (uint32_t)((st.tail - 1) / st.slots), 0));
                ck_assert_int_eq(shmbox_recv(sub, &v, sizeof(v), 0), -EBADMSG);
        }
        munmap(m, size);
        shmbox_detach(sub);
        shmbox_detach(pub);
}
END_TEST

/* ---- the torture for subscribers: processes, thousands of messages, sequences checked ---- */

#define TORTURE_N 20000

typedef struct Torture {
        const TestDaemon *d;
        const char *name;
} Torture;

/* Receive until TORTURE_N - 1 is seen: report received, missed by -EOVERFLOW, and the first
 * fault (a number not above the last, or a gap -EOVERFLOW did not announce) as -1. */
static void torture_subscriber(const void *arg, int wfd) {
        const Torture *t = arg;
        shmbox_client *c = NULL;
        shmbox *b = NULL;
        uint64_t v, next = 0, got = 0, missed = 0;
        int64_t fault = 0;
        int r = shmbox_connect(t->d->socket, &c);

        if (r == 0)
                r = shmbox_attach(c, t->name, &b);
        harness_child_report(wfd, r);
        if (r < 0)
                _exit(1);
        while (next < TORTURE_N) {
                ssize_t k = shmbox_recv(b, &v, sizeof(v), 30000);

                if (k == -EOVERFLOW) {
                        missed += shmbox_missed(b);
                        next += shmbox_missed(b); /* the announced gap */
                        continue;
                }
                if (k != (ssize_t)sizeof(v)) {
                        fault = k < 0 ? k : -1000;
                        break;
                }
                if (v != next && !fault)
                        fault = -(int64_t)(v + 1000000); /* a loss, duplicate or reordering */
                next = v + 1;
                got++;
        }
        harness_child_report(wfd, (int64_t)got);
        harness_child_report(wfd, (int64_t)missed);
        harness_child_report(wfd, fault);
        shmbox_disconnect(c);
        _exit(0);
}

static void torture(const char *name, uint32_t flags, unsigned subs) {
        Torture t = { &d, name };
        HarnessChild ch[4];
        shmbox *pub;

        create(name, flags);
        for (unsigned i = 0; i < subs; i++) {
                ch[i] = harness_child_spawn(torture_subscriber, &t);
                ck_assert_int_eq(harness_child_read(&ch[i], harness_ms(10000)), 0);
        }
        pub = publisher(name);
        for (uint64_t i = 0; i < TORTURE_N; i++)
                ck_assert_int_eq(shmbox_send(pub, &i, sizeof(i), harness_ms(30000)), 0);
        for (unsigned i = 0; i < subs; i++) {
                int64_t got = harness_child_read(&ch[i], harness_ms(60000));
                int64_t missed = harness_child_read(&ch[i], harness_ms(10000));
                int64_t fault = harness_child_read(&ch[i], harness_ms(10000));

                printf("bcast torture %s: subscriber %u got %lld, missed %lld (announced by -EOVERFLOW)\n", name, i,
                       (long long)got, (long long)missed);
                ck_assert_int_eq(fault, 0);
                ck_assert_int_eq(got + missed, TORTURE_N);
                if (!(flags & SHMBOX_CONFIG_OVERWRITE))
                        ck_assert_int_eq(missed, 0);
                harness_child_reap(&ch[i]);
        }
        shmbox_detach(pub);
}

START_TEST(test_torture_block_every_subscriber_gets_the_committed_sequence) {
        torture("tb", 0, 3);
}
END_TEST

START_TEST(test_torture_overwrite_gaps_only_where_announced) {
        torture("to", SHMBOX_CONFIG_OVERWRITE, 3);
}
END_TEST

static Suite *bcast_suite(void) {
        Suite *s = suite_create("bcast");
        TCase *tc;

        tc = harness_tcase(s, "api", 30, setup, teardown);
        tcase_add_test(tc, test_every_subscriber_gets_every_message_in_order);
        tcase_add_test(tc, test_block_waits_for_the_slowest_subscriber);
        tcase_add_test(tc, test_a_late_subscriber_starts_at_the_next_message);
        tcase_add_test(tc, test_overwrite_never_waits_and_says_what_was_lost);
        tcase_add_test(tc, test_peek_is_a_shared_view_and_batches_work);
        tcase_add_test(tc, test_kind_flags_and_errors);
        tcase_add_test(tc, test_each_polling_subscriber_has_its_own_fd);
        tc = harness_tcase(s, "crash", 60, setup, teardown);
        tcase_add_test(tc, test_a_killed_subscriber_holds_nothing_back);
#ifdef SHMBOX_CRASH_POINTS
        tcase_add_loop_test(tc, test_a_sender_killed_mid_send_leaves_nothing_torn, 0, (int)ELEMENTSOF(send_points));
        tcase_add_loop_test(tc, test_a_subscriber_killed_mid_receive_holds_nothing_back, 0,
                            (int)ELEMENTSOF(recv_points));
#endif
        tcase_add_test(tc, test_a_daemon_restart_keeps_the_positions);
        tc = harness_tcase(s, "hostile", 30, setup, teardown);
        tcase_add_test(tc, test_hostile_subscriber_lines_hold_nothing_back);
        tc = harness_tcase(s, "torture", 240, setup, teardown);
        tcase_add_test(tc, test_torture_block_every_subscriber_gets_the_committed_sequence);
        tcase_add_test(tc, test_torture_overwrite_gaps_only_where_announced);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(bcast_suite());
        int failed;

#ifndef SHMBOX_CRASH_POINTS
        printf("test-bcast: SKIPPED the sender crash-point tests: built without --enable-crash-points\n");
#endif
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
