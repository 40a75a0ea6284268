/* SPDX-License-Identifier: MIT */
/* test-lifecycle.c — end to end: create, attach, send, receive, detach, destroy on a private
 * shmboxd; message boundaries and order; timeouts; blocked peers woken by a message or by
 * destroy; the daemon going away and coming back; handles inherited across fork().
 *
 * Peers run in forked children that connect afresh and report through a pipe (int64 values):
 * a child never calls ck_assert, the test process checks what it reports. A child is known to
 * block in a wait only when /proc says it sleeps AND its bit is set in the sleeper mask of the
 * mailbox header, which the test maps read-only.
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
#include <sys/prctl.h>
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

/* A child process running @fn(@arg, write end of its report pipe); the parent reads reports. */
/* The mailbox header, mapped read-only, to watch the sleeper masks and the attachment table. */
static const MboxHeader *header_map(const TestDaemon *d, const char *name) {
        char path[NAMES_OBJECT_MAX];
        void *map;
        int fd;

        ck_assert_int_ge(names_segment(path, sizeof(path), d->prefix, name), 0);
        fd = shm_open(path, O_RDONLY | O_CLOEXEC, 0);
        ck_assert_msg(fd >= 0, "shm_open %s: %s", path, strerror(errno));
        map = mmap(NULL, LAYOUT_HEADER_SIZE, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        ck_assert(map != MAP_FAILED);
        return map;
}

static void header_unmap(const MboxHeader *h) {
        munmap((void *)h, LAYOUT_HEADER_SIZE);
}

static void att_snapshot(const MboxHeader *h, uint32_t out[LAYOUT_ATT_MAX]) {
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++)
                out[i] = atomic_load(&h->att[i]);
}

/* The attachment index that appeared since @before (a child's new attachment). */
static unsigned att_new_index(const MboxHeader *h, const uint32_t before[LAYOUT_ATT_MAX]) {
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++) {
                uint32_t t = atomic_load(&h->att[i]);
                if (t != 0 && t != before[i])
                        return i;
        }
        ck_abort_msg("no new attachment in the header's table");
        return 0;
}

static bool mask_has(const _Atomic uint64_t *mask, unsigned idx) {
        return atomic_load(&mask[idx / 64]) & (UINT64_C(1) << (idx % 64));
}

/* Wait until @pid sleeps with its bit @idx set in @mask (items_ or space_sleepers). */
static void wait_blocked(pid_t pid, const _Atomic uint64_t *mask, unsigned idx, const char *what) {
        int64_t deadline = harness_now_us() + (int64_t)harness_ms(10000) * 1000;

        for (;;) {
                if (mask_has(mask, idx) && harness_wait_sleeping(pid, 0) && mask_has(mask, idx))
                        return;
                ck_assert_msg(harness_now_us() < deadline, "child %d never blocked in %s", (int)pid, what);
                msleep(1);
        }
}

/* Objects of @d's prefix in /dev/shm other than its instance lock: segments, semaphores and
 * temporaries. */
static unsigned mailbox_objects(const TestDaemon *d) {
        char lock[NAMES_OBJECT_MAX];
        unsigned n = harness_count_objects(d->prefix);

        ck_assert_int_ge(names_lockfile(lock, sizeof(lock), d->prefix), 0);
        if (access(lock, F_OK) == 0)
                n--;
        return n;
}

static void fill(uint8_t *buf, size_t len, unsigned seed) {
        for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 8));
}

/* --- the whole lifecycle ------------------------------------------------------------------- */

START_TEST(test_three_mailboxes_go_through_the_whole_lifecycle) {
        static const struct {
                const char *name;
                struct shmbox_config cfg;
        } boxes[3] = {
                /* created out of order: list must sort them */
                { "zeta", { .slots = 2, .slot_size = 16, .mode = 0600 } },
                { "alpha", { .slots = 64, .slot_size = 4096, .mode = 0660 } },
                { "mid.box-1_x", { .slots = 1000, .slot_size = 200, .mode = 0644 } },
        };
        static const unsigned sorted[3] = { 1, 2, 0 };
        struct shmbox_entry *entries;
        struct shmbox_info info;
        shmbox *box[3], *extra;
        shmbox_client *c, *c2;
        uint8_t msg[256], got[4096];
        TestDaemon d;
        size_t n;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        c2 = harness_connect(&d);

        for (unsigned i = 0; i < 3; i++)
                ck_assert_int_eq(shmbox_create(c, boxes[i].name, &boxes[i].cfg), 0);
        for (unsigned i = 0; i < 3; i++) {
                ck_assert_int_eq(shmbox_attach(c, boxes[i].name, &box[i]), 0);
                ck_assert_uint_eq(shmbox_slots(box[i]), boxes[i].cfg.slots);
                ck_assert_uint_eq(shmbox_slot_size(box[i]), boxes[i].cfg.slot_size);
        }
        /* a second attachment through another client */
        ck_assert_int_eq(shmbox_attach(c2, "alpha", &extra), 0);

        /* message k of box i: i + 1 messages per box, each distinct */
        for (unsigned i = 0; i < 3; i++)
                for (unsigned k = 0; k <= i; k++) {
                        size_t len = boxes[i].cfg.slot_size < 16 ? boxes[i].cfg.slot_size : 16 + 10 * k;
                        fill(msg, len, i * 10 + k);
                        ck_assert_int_eq(shmbox_send(box[i], msg, len, 0), 0);
                }
        for (unsigned i = 0; i < 3; i++) {
                ck_assert_int_eq(shmbox_info(c2, boxes[i].name, &info), 0);
                ck_assert_uint_eq(info.slots, boxes[i].cfg.slots);
                ck_assert_uint_eq(info.slot_size, boxes[i].cfg.slot_size);
                ck_assert_uint_eq(info.mode, boxes[i].cfg.mode);
                ck_assert_uint_eq(info.uid, getuid());
                ck_assert_uint_eq(info.gid, getgid());
                ck_assert_uint_eq(info.sent, i + 1);
                ck_assert_uint_eq(info.received, 0);
                ck_assert_uint_eq(info.queued, i + 1);
                ck_assert_uint_eq(info.attached, i == 1 ? 2 : 1);
                ck_assert_uint_eq(info.recovered, 0);
        }

        /* receive one message of each box; the "alpha" one through the other attachment */
        for (unsigned i = 0; i < 3; i++) {
                size_t len = boxes[i].cfg.slot_size < 16 ? boxes[i].cfg.slot_size : 16;
                ssize_t r = shmbox_recv(i == 1 ? extra : box[i], got, sizeof(got), 0);

                ck_assert_int_eq(r, (ssize_t)len);
                fill(msg, len, i * 10);
                ck_assert_mem_eq(got, msg, len);
        }

        ck_assert_int_eq(shmbox_list(c, &entries, &n), 0);
        ck_assert_uint_eq(n, 3);
        for (unsigned j = 0; j < 3; j++) {
                unsigned i = sorted[j];

                ck_assert_str_eq(entries[j].name, boxes[i].name);
                ck_assert_uint_eq(entries[j].info.slots, boxes[i].cfg.slots);
                ck_assert_uint_eq(entries[j].info.slot_size, boxes[i].cfg.slot_size);
                ck_assert_uint_eq(entries[j].info.mode, boxes[i].cfg.mode);
                ck_assert_uint_eq(entries[j].info.sent, i + 1);
                ck_assert_uint_eq(entries[j].info.received, 1);
                ck_assert_uint_eq(entries[j].info.queued, i);
                ck_assert_uint_eq(entries[j].info.attached, i == 1 ? 2 : 1);
        }
        free(entries);

        /* the rest, in order */
        for (unsigned i = 1; i < 3; i++)
                for (unsigned k = 1; k <= i; k++) {
                        size_t len = 16 + 10 * k;
                        ck_assert_int_eq(shmbox_recv(box[i], got, sizeof(got), 0), (ssize_t)len);
                        fill(msg, len, i * 10 + k);
                        ck_assert_mem_eq(got, msg, len);
                }
        for (unsigned i = 0; i < 3; i++) {
                ck_assert_int_eq(shmbox_recv(box[i], got, sizeof(got), 0), -EAGAIN);
                ck_assert_int_eq(shmbox_info(c, boxes[i].name, &info), 0);
                ck_assert_uint_eq(info.sent, i + 1);
                ck_assert_uint_eq(info.received, i + 1);
                ck_assert_uint_eq(info.queued, 0);
        }

        ck_assert_int_eq(shmbox_detach(extra), 0);
        for (unsigned i = 0; i < 3; i++) {
                ck_assert_int_eq(shmbox_detach(box[i]), 0);
                ck_assert_int_eq(shmbox_info(c, boxes[i].name, &info), 0);
                ck_assert_uint_eq(info.attached, 0);
        }
        for (unsigned i = 0; i < 3; i++)
                ck_assert_int_eq(shmbox_destroy(c, boxes[i].name), 0);
        ck_assert_int_eq(shmbox_list(c, &entries, &n), 0);
        ck_assert_uint_eq(n, 0);
        free(entries);
        ck_assert_uint_eq(mailbox_objects(&d), 0);

        shmbox_disconnect(c2);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_list_returns_many_mailboxes_sorted_by_name) {
        enum { COUNT = 150 }; /* each create and destroy fsyncs the daemon's state file */
        const struct shmbox_config cfg = { .slots = 1, .slot_size = 1, .mode = 0644 };
        struct shmbox_entry *entries;
        char name[SHMBOX_NAME_MAX + 1];
        TestDaemon d;
        shmbox_client *c;
        int64_t t0;
        size_t n;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        t0 = harness_now_us();
        /* 64-character names, created in an order that is not sorted */
        for (unsigned i = 0; i < COUNT; i++) {
                unsigned k = (i * 67) % COUNT; /* 67 is prime to COUNT: a permutation */
                snprintf(name, sizeof(name), "%04u%060u", k, k);
                ck_assert_int_eq(shmbox_create(c, name, &cfg), 0);
        }
        printf("lifecycle: %d creates took %lld us\n", COUNT, (long long)(harness_now_us() - t0));
        ck_assert_int_eq(shmbox_list(c, &entries, &n), 0);
        ck_assert_uint_eq(n, COUNT);
        for (unsigned i = 0; i < COUNT; i++) {
                snprintf(name, sizeof(name), "%04u%060u", i, i);
                ck_assert_str_eq(entries[i].name, name);
                ck_assert_uint_eq(entries[i].info.slots, 1);
                ck_assert_uint_eq(entries[i].info.slot_size, 1);
                ck_assert_uint_eq(entries[i].info.mode, 0644);
        }
        free(entries);
        for (unsigned i = 0; i < COUNT; i++) {
                snprintf(name, sizeof(name), "%04u%060u", i, i);
                ck_assert_int_eq(shmbox_destroy(c, name), 0);
        }
        ck_assert_int_eq(shmbox_list(c, &entries, &n), 0);
        ck_assert_uint_eq(n, 0);
        free(entries);
        ck_assert_uint_eq(mailbox_objects(&d), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

/* --- message boundaries and order ---------------------------------------------------------- */

/* One daemon, one client, one mailbox @name with @cfg, for the single-process tests. */
typedef struct Fixture {
        TestDaemon d;
        shmbox_client *c;
        shmbox *box;
        const char *name;
} Fixture;

static void fixture_up(Fixture *f, const char *name, const struct shmbox_config *cfg) {
        harness_daemon_start(&f->d, NULL);
        f->c = harness_connect(&f->d);
        f->name = name;
        ck_assert_int_eq(shmbox_create(f->c, name, cfg), 0);
        ck_assert_int_eq(shmbox_attach(f->c, name, &f->box), 0);
}

static void fixture_down(Fixture *f) {
        ck_assert_int_eq(shmbox_detach(f->box), 0);
        ck_assert_int_eq(shmbox_destroy(f->c, f->name), 0);
        shmbox_disconnect(f->c);
        harness_daemon_done(&f->d);
}

START_TEST(test_a_zero_length_message_arrives_empty) {
        const struct shmbox_config cfg = { .slots = 4, .slot_size = 64 };
        struct shmbox_info info;
        char buf[64] = "untouched";
        Fixture f;

        fixture_up(&f, "empty-msgs", &cfg);
        ck_assert_int_eq(shmbox_send(f.box, "ignored", 0, 0), 0);
        ck_assert_int_eq(shmbox_send(f.box, "x", 1, 0), 0);
        ck_assert_int_eq(shmbox_info(f.c, f.name, &info), 0);
        ck_assert_uint_eq(info.queued, 2);
        /* the peek of an empty message says 0, and it is still there */
        ck_assert_int_eq(shmbox_recv(f.box, NULL, 0, 0), 0);
        ck_assert_int_eq(shmbox_recv(f.box, buf, sizeof(buf), 0), 0);
        ck_assert_str_eq(buf, "untouched");
        /* an empty message fits a zero-capacity buffer */
        ck_assert_int_eq(shmbox_send(f.box, NULL, 0, 0), 0);
        ck_assert_int_eq(shmbox_recv(f.box, buf, sizeof(buf), 0), 1);
        ck_assert_int_eq(buf[0], 'x');
        ck_assert_int_eq(shmbox_recv(f.box, buf, 0, 0), 0);
        ck_assert_int_eq(shmbox_recv(f.box, buf, sizeof(buf), 0), -EAGAIN);
        fixture_down(&f);
}
END_TEST

START_TEST(test_a_message_of_exactly_slot_size_fits_and_one_more_byte_does_not) {
        const struct shmbox_config cfg = { .slots = 2, .slot_size = 1000 };
        uint8_t msg[1001], got[2000];
        Fixture f;

        fixture_up(&f, "exact", &cfg);
        fill(msg, sizeof(msg), 7);
        ck_assert_int_eq(shmbox_send(f.box, msg, 1001, 0), -EMSGSIZE);
        ck_assert_int_eq(shmbox_send(f.box, msg, 1000, 0), 0);
        ck_assert_int_eq(shmbox_recv(f.box, NULL, 0, 0), 1000);
        ck_assert_int_eq(shmbox_recv(f.box, got, 1000, 0), 1000);
        ck_assert_mem_eq(got, msg, 1000);
        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), -EAGAIN);
        fixture_down(&f);
}
END_TEST

START_TEST(test_one_sender_is_received_in_fifo_order_across_many_laps) {
        const struct shmbox_config cfg = { .slots = 5, .slot_size = 64 };
        struct shmbox_info info;
        unsigned sent = 0, received = 0;
        char msg[64], got[64];
        Fixture f;

        fixture_up(&f, "fifo", &cfg);
        /* keep 0..5 messages in flight so the ring wraps many times at every fill level */
        while (received < 5000) {
                unsigned burst = 1 + (sent * 7) % 5;

                for (unsigned k = 0; k < burst && sent - received < 5; k++) {
                        int len = snprintf(msg, sizeof(msg), "message %u", sent);
                        ck_assert_int_eq(shmbox_send(f.box, msg, (size_t)len, 0), 0);
                        sent++;
                }
                if (sent - received == 5)
                        ck_assert_int_eq(shmbox_send(f.box, "full", 4, 0), -EAGAIN);
                for (unsigned k = 0; k < (burst + 1) / 2 && received < sent; k++) {
                        int len = snprintf(msg, sizeof(msg), "message %u", received);
                        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), len);
                        ck_assert_mem_eq(got, msg, (size_t)len);
                        received++;
                }
        }
        while (received < sent) {
                int len = snprintf(msg, sizeof(msg), "message %u", received);
                ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), len);
                ck_assert_mem_eq(got, msg, (size_t)len);
                received++;
        }
        ck_assert_int_eq(shmbox_info(f.c, f.name, &info), 0);
        ck_assert_uint_eq(info.sent, sent);
        ck_assert_uint_eq(info.received, sent);
        ck_assert_uint_eq(info.queued, 0);
        fixture_down(&f);
}
END_TEST

START_TEST(test_recv_with_a_null_buffer_returns_the_oldest_length_without_taking_it) {
        const struct shmbox_config cfg = { .slots = 4, .slot_size = 128 };
        struct shmbox_info info;
        char got[128];
        Fixture f;

        fixture_up(&f, "peek", &cfg);
        ck_assert_int_eq(shmbox_send(f.box, "first message", 13, 0), 0);
        ck_assert_int_eq(shmbox_send(f.box, "second", 6, 0), 0);
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(shmbox_recv(f.box, NULL, 0, 0), 13);
        ck_assert_int_eq(shmbox_info(f.c, f.name, &info), 0);
        ck_assert_uint_eq(info.queued, 2);
        ck_assert_uint_eq(info.received, 0);
        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), 13);
        ck_assert_mem_eq(got, "first message", 13);
        ck_assert_int_eq(shmbox_recv(f.box, NULL, 0, 0), 6);
        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), 6);
        ck_assert_mem_eq(got, "second", 6);
        /* on an empty mailbox the peek waits like a receive */
        ck_assert_int_eq(shmbox_recv(f.box, NULL, 0, 0), -EAGAIN);
        ck_assert_int_eq(shmbox_recv(f.box, NULL, 0, 20), -ETIMEDOUT);
        fixture_down(&f);
}
END_TEST

START_TEST(test_recv_into_a_short_buffer_is_emsgsize_and_the_message_stays_queued) {
        const struct shmbox_config cfg = { .slots = 4, .slot_size = 128 };
        struct shmbox_info info;
        char got[128] = "";
        Fixture f;

        fixture_up(&f, "short", &cfg);
        ck_assert_int_eq(shmbox_send(f.box, "0123456789", 10, 0), 0);
        ck_assert_int_eq(shmbox_recv(f.box, got, 9, 0), -EMSGSIZE);
        ck_assert_int_eq(shmbox_recv(f.box, got, 1, -1), -EMSGSIZE);
        ck_assert_int_eq(got[0], 0); /* nothing was copied */
        ck_assert_int_eq(shmbox_info(f.c, f.name, &info), 0);
        ck_assert_uint_eq(info.queued, 1);
        ck_assert_uint_eq(info.received, 0);
        ck_assert_int_eq(shmbox_recv(f.box, got, 10, 0), 10);
        ck_assert_mem_eq(got, "0123456789", 10);
        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), -EAGAIN);
        fixture_down(&f);
}
END_TEST

/* --- timeouts ------------------------------------------------------------------------------ */

START_TEST(test_recv_on_an_empty_mailbox_is_eagain_at_0_and_etimedout_at_50_ms) {
        const struct shmbox_config cfg = { .slots = 2, .slot_size = 32 };
        char got[32];
        int64_t t0, us;
        Fixture f;

        fixture_up(&f, "empty", &cfg);
        t0 = harness_now_us();
        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), -EAGAIN);
        printf("lifecycle: recv timeout 0 on empty returned after %lld us\n", (long long)(harness_now_us() - t0));

        t0 = harness_now_us();
        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 50), -ETIMEDOUT);
        us = harness_now_us() - t0;
        printf("lifecycle: recv timeout 50 ms on empty returned after %lld us\n", (long long)us);
        ck_assert_int_ge(us, 50000);
        fixture_down(&f);
}
END_TEST

START_TEST(test_send_on_a_full_mailbox_is_eagain_at_0_and_etimedout_at_50_ms) {
        const struct shmbox_config cfg = { .slots = 2, .slot_size = 32 };
        struct shmbox_info info;
        char got[32];
        int64_t t0, us;
        Fixture f;

        fixture_up(&f, "full", &cfg);
        ck_assert_int_eq(shmbox_send(f.box, "a", 1, 0), 0);
        ck_assert_int_eq(shmbox_send(f.box, "b", 1, 0), 0);
        ck_assert_int_eq(shmbox_send(f.box, "c", 1, 0), -EAGAIN);
        t0 = harness_now_us();
        ck_assert_int_eq(shmbox_send(f.box, "c", 1, 50), -ETIMEDOUT);
        us = harness_now_us() - t0;
        printf("lifecycle: send timeout 50 ms on full returned after %lld us\n", (long long)us);
        ck_assert_int_ge(us, 50000);
        ck_assert_int_eq(shmbox_info(f.c, f.name, &info), 0);
        ck_assert_uint_eq(info.sent, 2);
        ck_assert_uint_eq(info.queued, 2);
        /* a freed slot takes the next message */
        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), 1);
        ck_assert_int_eq(got[0], 'a');
        ck_assert_int_eq(shmbox_send(f.box, "c", 1, 0), 0);
        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), 1);
        ck_assert_int_eq(got[0], 'b');
        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), 1);
        ck_assert_int_eq(got[0], 'c');
        fixture_down(&f);
}
END_TEST

static void on_signal(int sig) {
        (void)sig;
}

/* HarnessChild: a timed receive on an empty mailbox while the parent signals it; reports 1 once
 * attached, then the result and how long it took. */
static void signalled_main(const void *varg, int wfd) {
        const struct { const char *socket, *name; } *a = varg;
        struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART */
        shmbox_client *c;
        shmbox *box;
        char buf[64];
        int64_t t0, r;

        sigaction(SIGUSR1, &sa, NULL);
        if (shmbox_connect(a->socket, &c) < 0 || shmbox_attach(c, a->name, &box) < 0) {
                harness_child_report(wfd, -1);
                return;
        }
        harness_child_report(wfd, 1);
        t0 = harness_now_us();
        r = shmbox_recv(box, buf, sizeof(buf), 400);
        harness_child_report(wfd, r);
        harness_child_report(wfd, harness_now_us() - t0);
        shmbox_detach(box);
        shmbox_disconnect(c);
}

START_TEST(test_signals_do_not_cut_a_timed_wait_short) {
        const struct shmbox_config cfg = { .slots = 2, .slot_size = 64 };
        struct {
                const char *socket, *name;
        } a;
        int64_t r, us;
        Fixture f;
        HarnessChild ch;

        fixture_up(&f, "signalled", &cfg);
        a.socket = f.d.socket;
        a.name = f.name;
        ch = harness_child_spawn(signalled_main, &a);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 1);
        /* signal it every 10 ms until it reports */
        for (;;) {
                struct pollfd pfd = { .fd = ch.fd, .events = POLLIN };

                if (poll(&pfd, 1, 10) == 1)
                        break;
                kill(ch.pid, SIGUSR1);
        }
        r = harness_child_read(&ch, 0);
        us = harness_child_read(&ch, harness_ms(10000));
        printf("lifecycle: a 400 ms recv, signalled every 10 ms, returned %lld after %lld us\n", (long long)r,
               (long long)us);
        ck_assert_int_eq(r, -ETIMEDOUT);
        ck_assert_int_ge(us, 400000);
        harness_child_reap(&ch);
        fixture_down(&f);
}
END_TEST

/* --- blocked peers ------------------------------------------------------------------------- */

typedef struct PeerArg {
        const char *socket;
        const char *name;
        int op;     /* 'r': recv forever, 's': send forever */
        size_t len; /* for 's' */
} PeerArg;

/* HarnessChild: connect, attach, report 1, then one blocking operation; reports its result, the
 * monotonic time it returned, and (recv) the payload's first 8 bytes. */
static void peer_main(const void *varg, int wfd) {
        const PeerArg *a = varg;
        shmbox_client *c;
        shmbox *box;
        char buf[4096] = "";
        int64_t r;

        r = shmbox_connect(a->socket, &c);
        if (r < 0) {
                harness_child_report(wfd, r);
                return;
        }
        r = shmbox_attach(c, a->name, &box);
        if (r < 0) {
                harness_child_report(wfd, r);
                return;
        }
        harness_child_report(wfd, 1);
        if (a->op == 'r')
                r = shmbox_recv(box, buf, sizeof(buf), -1);
        else {
                memset(buf, 's', sizeof(buf));
                r = shmbox_send(box, buf, a->len, -1);
        }
        harness_child_report(wfd, r);
        harness_child_report(wfd, harness_now_us());
        if (a->op == 'r') {
                int64_t head;
                memcpy(&head, buf, sizeof(head));
                harness_child_report(wfd, head);
        }
        shmbox_detach(box);
        shmbox_disconnect(c);
}

/* Start a peer on @name and wait until it attached; *ret_idx: its attachment index. */
static HarnessChild peer_start(const TestDaemon *d, const MboxHeader *h, const PeerArg *a, unsigned *ret_idx) {
        uint32_t before[LAYOUT_ATT_MAX];
        HarnessChild ch;
        int64_t v;

        att_snapshot(h, before);
        ch = harness_child_spawn(peer_main, a);
        v = harness_child_read(&ch, harness_ms(10000));
        ck_assert_msg(v == 1, "peer could not attach: %s", shmbox_strerror((int)v));
        *ret_idx = att_new_index(h, before);
        return ch;
}

START_TEST(test_a_receiver_blocked_forever_wakes_when_a_message_is_sent) {
        const struct shmbox_config cfg = { .slots = 4, .slot_size = 64 };
        const MboxHeader *h;
        int64_t t_sent, t_woke, head;
        unsigned idx;
        Fixture f;
        HarnessChild ch;

        fixture_up(&f, "wake", &cfg);
        h = header_map(&f.d, f.name);
        PeerArg a = { .socket = f.d.socket, .name = f.name, .op = 'r' };
        ch = peer_start(&f.d, h, &a, &idx);
        wait_blocked(ch.pid, h->items_sleepers, idx, "recv");

        t_sent = harness_now_us();
        ck_assert_int_eq(shmbox_send(f.box, "wake up!", 8, 0), 0);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 8);
        t_woke = harness_child_read(&ch, harness_ms(10000));
        head = harness_child_read(&ch, harness_ms(10000));
        ck_assert_mem_eq(&head, "wake up!", 8);
        printf("lifecycle: blocked receiver woke %lld us after the send\n", (long long)(t_woke - t_sent));
        harness_child_reap(&ch);
        header_unmap(h);
        fixture_down(&f);
}
END_TEST

START_TEST(test_a_sender_blocked_on_a_full_mailbox_wakes_when_a_slot_frees) {
        const struct shmbox_config cfg = { .slots = 2, .slot_size = 64 };
        const MboxHeader *h;
        char got[64];
        unsigned idx;
        Fixture f;
        HarnessChild ch;

        fixture_up(&f, "space", &cfg);
        ck_assert_int_eq(shmbox_send(f.box, "1", 1, 0), 0);
        ck_assert_int_eq(shmbox_send(f.box, "2", 1, 0), 0);
        h = header_map(&f.d, f.name);
        PeerArg a = { .socket = f.d.socket, .name = f.name, .op = 's', .len = 3 };
        ch = peer_start(&f.d, h, &a, &idx);
        wait_blocked(ch.pid, h->space_sleepers, idx, "send");

        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), 1);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 0);
        (void)harness_child_read(&ch, harness_ms(10000));
        harness_child_reap(&ch);
        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), 1);
        ck_assert_int_eq(got[0], '2');
        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), 3);
        ck_assert_mem_eq(got, "sss", 3);
        header_unmap(h);
        fixture_down(&f);
}
END_TEST

/* --- destroy ------------------------------------------------------------------------------- */

START_TEST(test_destroy_wakes_blocked_peers_with_eidrm_and_frees_the_name) {
        const struct shmbox_config cfg = { .slots = 2, .slot_size = 64 };
        const MboxHeader *hr, *hs;
        struct shmbox_info info;
        shmbox *rx, *tx, *fresh;
        shmbox_client *c;
        unsigned ir, is;
        int64_t t0, t1;
        HarnessChild cr, cs;
        TestDaemon d;
        char got[64];

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "rx", &cfg), 0);
        ck_assert_int_eq(shmbox_create(c, "tx", &cfg), 0);
        ck_assert_int_eq(shmbox_attach(c, "rx", &rx), 0);
        ck_assert_int_eq(shmbox_attach(c, "tx", &tx), 0);
        ck_assert_int_eq(shmbox_send(tx, "old1", 4, 0), 0);
        ck_assert_int_eq(shmbox_send(tx, "old2", 4, 0), 0);

        hr = header_map(&d, "rx");
        hs = header_map(&d, "tx");
        PeerArg ar = { .socket = d.socket, .name = "rx", .op = 'r' };
        PeerArg as = { .socket = d.socket, .name = "tx", .op = 's', .len = 8 };
        cr = peer_start(&d, hr, &ar, &ir);
        cs = peer_start(&d, hs, &as, &is);
        wait_blocked(cr.pid, hr->items_sleepers, ir, "recv");
        wait_blocked(cs.pid, hs->space_sleepers, is, "send");

        /* destroy while both are blocked and the parent is attached too */
        t0 = harness_now_us();
        ck_assert_int_eq(shmbox_destroy(c, "rx"), 0);
        t1 = harness_now_us();
        ck_assert_int_eq(shmbox_destroy(c, "tx"), 0);
        ck_assert_int_eq(harness_child_read(&cr, harness_ms(5000)), -EIDRM);
        printf("lifecycle: blocked receiver saw -EIDRM %lld us after destroy\n",
               (long long)(harness_child_read(&cr, harness_ms(5000)) - t0));
        (void)harness_child_read(&cr, harness_ms(5000));
        ck_assert_int_eq(harness_child_read(&cs, harness_ms(5000)), -EIDRM);
        printf("lifecycle: blocked sender saw -EIDRM %lld us after destroy\n",
               (long long)(harness_child_read(&cs, harness_ms(5000)) - t1));
        harness_child_reap(&cr);
        harness_child_reap(&cs);
        /* the header of a destroyed mailbox says so */
        ck_assert(atomic_load(&hr->flags) & HDR_DESTROYED);
        ck_assert(atomic_load(&hs->flags) & HDR_DESTROYED);
        header_unmap(hr);
        header_unmap(hs);

        /* the parent's boxes are dead too, for both directions */
        ck_assert_int_eq(shmbox_send(rx, "x", 1, 0), -EIDRM);
        ck_assert_int_eq(shmbox_recv(rx, got, sizeof(got), 0), -EIDRM);
        ck_assert_int_eq(shmbox_recv(rx, got, sizeof(got), -1), -EIDRM);
        ck_assert_int_eq(shmbox_send(tx, "x", 1, -1), -EIDRM);
        ck_assert_int_eq(shmbox_recv(tx, got, sizeof(got), 0), -EIDRM);
        ck_assert_int_eq(shmbox_recv(tx, NULL, 0, 0), -EIDRM);

        /* the names are gone */
        ck_assert_int_eq(shmbox_attach(c, "tx", &fresh), -ENOENT);
        ck_assert_int_eq(shmbox_info(c, "tx", &info), -ENOENT);
        ck_assert_int_eq(shmbox_destroy(c, "tx"), -ENOENT);
        ck_assert_int_eq(shmbox_destroy(c, "rx"), -ENOENT);

        /* and can be created afresh: empty, independent of the old box */
        ck_assert_int_eq(shmbox_create(c, "tx", &cfg), 0);
        ck_assert_int_eq(shmbox_info(c, "tx", &info), 0);
        ck_assert_uint_eq(info.queued, 0);
        ck_assert_uint_eq(info.sent, 0);
        ck_assert_uint_eq(info.attached, 0);
        ck_assert_int_eq(shmbox_attach(c, "tx", &fresh), 0);
        ck_assert_int_eq(shmbox_recv(fresh, got, sizeof(got), 0), -EAGAIN);
        ck_assert_int_eq(shmbox_send(fresh, "new", 3, 0), 0);
        ck_assert_int_eq(shmbox_send(tx, "x", 1, 0), -EIDRM);
        ck_assert_int_eq(shmbox_recv(tx, got, sizeof(got), 0), -EIDRM);
        ck_assert_int_eq(shmbox_recv(fresh, got, sizeof(got), 0), 3);
        ck_assert_mem_eq(got, "new", 3);

        ck_assert_int_eq(shmbox_detach(rx), 0);
        ck_assert_int_eq(shmbox_detach(tx), 0);
        ck_assert_int_eq(shmbox_detach(fresh), 0);
        ck_assert_int_eq(shmbox_destroy(c, "tx"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

/* --- the daemon goes away and comes back --------------------------------------------------- */

START_TEST(test_an_attached_box_keeps_working_while_the_daemon_is_stopped) {
        const struct shmbox_config cfg = { .slots = 4, .slot_size = 64 };
        struct shmbox_entry *entries = NULL;
        struct shmbox_info info;
        shmbox_client *c2 = NULL;
        shmbox *other;
        char got[64];
        size_t n = 0;
        Fixture f;

        fixture_up(&f, "survivor", &cfg);
        ck_assert_int_eq(shmbox_send(f.box, "before", 6, 0), 0);
        harness_daemon_stop(&f.d);

        /* the data plane needs no daemon */
        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), 6);
        ck_assert_mem_eq(got, "before", 6);
        for (int i = 0; i < 20; i++) {
                ck_assert_int_eq(shmbox_send(f.box, "during", 6, 0), 0);
                ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), 6);
                ck_assert_mem_eq(got, "during", 6);
        }
        ck_assert_int_eq(shmbox_send(f.box, "while away", 10, 0), 0);

        /* the control plane does */
        ck_assert_int_eq(shmbox_info(f.c, f.name, &info), -ENOTCONN);
        ck_assert_int_eq(shmbox_create(f.c, "another", NULL), -ENOTCONN);
        ck_assert_int_eq(shmbox_attach(f.c, f.name, &other), -ENOTCONN);
        ck_assert_int_eq(shmbox_list(f.c, &entries, &n), -ENOTCONN);
        ck_assert_int_eq(shmbox_destroy(f.c, f.name), -ENOTCONN);
        ck_assert_int_eq(shmbox_info(f.c, f.name, &info), -ENOTCONN);
        ck_assert_int_eq(shmbox_connect(f.d.socket, &c2), -ECONNREFUSED);
        ck_assert_ptr_null(c2);
        /* still working after the failed control calls */
        ck_assert_int_eq(shmbox_send(f.box, "after", 5, 0), 0);
        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), 10);
        ck_assert_mem_eq(got, "while away", 10);

        /* a new daemon on the same prefix takes over; clean up through a new client */
        harness_daemon_restart(&f.d);
        c2 = harness_connect(&f.d);
        ck_assert_int_eq(shmbox_info(c2, f.name, &info), 0);
        ck_assert_uint_eq(info.queued, 1);
        ck_assert_int_eq(shmbox_detach(f.box), 0);
        ck_assert_int_eq(shmbox_destroy(c2, f.name), 0);
        shmbox_disconnect(f.c);
        shmbox_disconnect(c2);
        harness_daemon_done(&f.d);
}
END_TEST

START_TEST(test_a_receiver_blocked_across_a_daemon_stop_wakes_on_a_send) {
        const struct shmbox_config cfg = { .slots = 4, .slot_size = 64 };
        const MboxHeader *h;
        shmbox_client *c2;
        int64_t head;
        unsigned idx;
        Fixture f;
        HarnessChild ch;

        fixture_up(&f, "no-daemon-wake", &cfg);
        h = header_map(&f.d, f.name);
        PeerArg a = { .socket = f.d.socket, .name = f.name, .op = 'r' };
        ch = peer_start(&f.d, h, &a, &idx);
        wait_blocked(ch.pid, h->items_sleepers, idx, "recv");
        harness_daemon_stop(&f.d);

        /* still blocked: the daemon going away wakes nobody into an error */
        wait_blocked(ch.pid, h->items_sleepers, idx, "recv");
        ck_assert_int_eq(shmbox_send(f.box, "no daemon", 9, 0), 0);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 9);
        (void)harness_child_read(&ch, harness_ms(10000));
        head = harness_child_read(&ch, harness_ms(10000));
        ck_assert_mem_eq(&head, "no daemo", 8);
        harness_child_reap(&ch);
        header_unmap(h);

        harness_daemon_restart(&f.d);
        c2 = harness_connect(&f.d);
        ck_assert_int_eq(shmbox_detach(f.box), 0);
        ck_assert_int_eq(shmbox_destroy(c2, f.name), 0);
        shmbox_disconnect(f.c);
        shmbox_disconnect(c2);
        harness_daemon_done(&f.d);
}
END_TEST

START_TEST(test_a_restarted_daemon_adopts_the_mailbox_with_its_queued_messages) {
        const struct shmbox_config cfg = { .slots = 8, .slot_size = 100, .mode = 0640 };
        struct shmbox_entry *entries = NULL;
        struct shmbox_info info;
        shmbox_client *c2;
        shmbox *box2;
        char msg[100], got[100];
        size_t n = 0;
        Fixture f;

        fixture_up(&f, "adopted", &cfg);
        for (int i = 0; i < 3; i++) {
                int len = snprintf(msg, sizeof(msg), "queued before stop %d", i);
                ck_assert_int_eq(shmbox_send(f.box, msg, (size_t)len, 0), 0);
        }
        harness_daemon_stop(&f.d);
        for (int i = 3; i < 5; i++) {
                int len = snprintf(msg, sizeof(msg), "queued while away %d", i);
                ck_assert_int_eq(shmbox_send(f.box, msg, (size_t)len, 0), 0);
        }
        harness_daemon_restart(&f.d);

        c2 = harness_connect(&f.d);
        ck_assert_int_eq(shmbox_list(c2, &entries, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(entries[0].name, "adopted");
        ck_assert_uint_eq(entries[0].info.slots, 8);
        ck_assert_uint_eq(entries[0].info.slot_size, 100);
        ck_assert_uint_eq(entries[0].info.mode, 0640);
        ck_assert_uint_eq(entries[0].info.uid, getuid());
        ck_assert_uint_eq(entries[0].info.queued, 5);
        ck_assert_uint_eq(entries[0].info.sent, 5);
        free(entries);
        /* it is not created afresh over the old one */
        ck_assert_int_eq(shmbox_create(c2, "adopted", &cfg), -EEXIST);

        ck_assert_int_eq(shmbox_attach(c2, "adopted", &box2), 0);
        for (int i = 0; i < 5; i++) {
                int len = i < 3 ? snprintf(msg, sizeof(msg), "queued before stop %d", i)
                                : snprintf(msg, sizeof(msg), "queued while away %d", i);
                ck_assert_int_eq(shmbox_recv(box2, got, sizeof(got), 0), len);
                ck_assert_mem_eq(got, msg, (size_t)len);
        }
        ck_assert_int_eq(shmbox_recv(box2, got, sizeof(got), 0), -EAGAIN);
        ck_assert_int_eq(shmbox_info(c2, "adopted", &info), 0);
        ck_assert_uint_eq(info.queued, 0);
        ck_assert_uint_eq(info.received, 5);

        ck_assert_int_eq(shmbox_detach(box2), 0);
        ck_assert_int_eq(shmbox_detach(f.box), 0);
        shmbox_disconnect(f.c);
        ck_assert_int_eq(shmbox_destroy(c2, "adopted"), 0);
        shmbox_disconnect(c2);
        harness_daemon_done(&f.d);
}
END_TEST

/* shmbox.h: "control calls return -ENOTCONN until a daemon is back"; doc/design.md, "Daemon restart": the library
 * sees the new epoch on its next call and re-registers before that call goes on. */
START_TEST(test_control_calls_of_a_client_work_again_once_a_daemon_is_back) {
        const struct shmbox_config cfg = { .slots = 4, .slot_size = 64 };
        struct shmbox_info info;
        Fixture f;

        shmbox_client *quiet;

        fixture_up(&f, "comeback", &cfg);
        quiet = harness_connect(&f.d);
        harness_daemon_stop(&f.d);
        /* one client is told while the daemon is away, the other makes no call then */
        ck_assert_int_eq(shmbox_info(f.c, f.name, &info), -ENOTCONN);
        harness_daemon_restart(&f.d);

        ck_assert_int_eq(shmbox_info(f.c, f.name, &info), 0);
        ck_assert_uint_eq(info.slots, 4);
        ck_assert_int_eq(shmbox_create(f.c, "after-comeback", NULL), 0);
        ck_assert_int_eq(shmbox_destroy(f.c, "after-comeback"), 0);
        ck_assert_int_eq(shmbox_info(quiet, f.name, &info), 0);
        ck_assert_uint_eq(info.slots, 4);
        shmbox_disconnect(quiet);
        fixture_down(&f);
}
END_TEST

START_TEST(test_a_box_attached_before_a_restart_detaches_from_the_new_daemon) {
        const struct shmbox_config cfg = { .slots = 4, .slot_size = 64 };
        struct shmbox_info info;
        shmbox_client *c2;
        char got[64];
        Fixture f;

        fixture_up(&f, "re-registered", &cfg);
        harness_daemon_stop(&f.d);
        harness_daemon_restart(&f.d);

        /* the box carries on across the restart */
        ck_assert_int_eq(shmbox_send(f.box, "across", 6, 0), 0);
        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), 6);
        ck_assert_mem_eq(got, "across", 6);
        c2 = harness_connect(&f.d);
        ck_assert_int_eq(shmbox_info(c2, f.name, &info), 0);
        ck_assert_uint_eq(info.attached, 1);
        ck_assert_uint_eq(info.sent, 1);
        ck_assert_uint_eq(info.received, 1);
        /* and its detach reaches the daemon that is there now */
        ck_assert_int_eq(shmbox_detach(f.box), 0);
        ck_assert_int_eq(shmbox_info(c2, f.name, &info), 0);
        ck_assert_uint_eq(info.attached, 0);
        ck_assert_int_eq(shmbox_destroy(c2, f.name), 0);
        shmbox_disconnect(f.c);
        shmbox_disconnect(c2);
        harness_daemon_done(&f.d);
}
END_TEST

/* --- fork ---------------------------------------------------------------------------------- */

typedef struct ForkArg {
        shmbox_client *c;
        shmbox *box;
        const char *name;
} ForkArg;

static void inherited_main(const void *varg, int wfd) {
        const ForkArg *a = varg;
        struct shmbox_info info;
        shmbox *other;
        char buf[64];

        harness_child_report(wfd, shmbox_send(a->box, "child", 5, 0));
        harness_child_report(wfd, shmbox_send(a->box, "child", 5, -1));
        harness_child_report(wfd, shmbox_recv(a->box, buf, sizeof(buf), 0));
        harness_child_report(wfd, shmbox_recv(a->box, buf, sizeof(buf), -1));
        harness_child_report(wfd, shmbox_recv(a->box, NULL, 0, 0));
        harness_child_report(wfd, shmbox_info(a->c, a->name, &info));
        harness_child_report(wfd, shmbox_attach(a->c, a->name, &other));
        harness_child_report(wfd, shmbox_detach(a->box));
        shmbox_disconnect(a->c);
        harness_child_report(wfd, 42); /* survived the frees */
}

START_TEST(test_a_box_inherited_across_fork_is_stale_in_the_child) {
        const struct shmbox_config cfg = { .slots = 4, .slot_size = 64 };
        struct shmbox_info info;
        char got[64];
        Fixture f;
        HarnessChild ch;

        fixture_up(&f, "forked", &cfg);
        ck_assert_int_eq(shmbox_send(f.box, "parent", 6, 0), 0);

        ForkArg a = { .c = f.c, .box = f.box, .name = f.name };
        ch = harness_child_spawn(inherited_main, &a);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -ESTALE); /* send, timeout 0 */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -ESTALE); /* send, forever */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -ESTALE); /* recv, timeout 0 */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -ESTALE); /* recv, forever */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -ESTALE); /* peek */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -ESTALE); /* info on the client */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -ESTALE); /* attach on the client */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 0);       /* detach just frees */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 42);
        harness_child_reap(&ch);

        /* the parent's handles are untouched by what the child did */
        ck_assert_int_eq(shmbox_info(f.c, f.name, &info), 0);
        ck_assert_uint_eq(info.attached, 1);
        ck_assert_uint_eq(info.queued, 1);
        ck_assert_uint_eq(info.sent, 1);
        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), 6);
        ck_assert_mem_eq(got, "parent", 6);
        ck_assert_int_eq(shmbox_send(f.box, "again", 5, 0), 0);
        ck_assert_int_eq(shmbox_recv(f.box, got, sizeof(got), 0), 5);
        ck_assert_mem_eq(got, "again", 5);
        fixture_down(&f);
}
END_TEST

/* Preallocating a large mailbox runs in steps of the event loop: another client keeps getting
 * answers meanwhile. The worst delay it saw is reported, not asserted (machines are noisy). */
START_TEST(test_a_large_create_does_not_stall_other_clients) {
        /* 65536 slots x 4032 bytes: 4096 + 65536 x 4096 bytes, 256 MiB and a page */
        struct shmbox_config cfg = { .slots = 65536, .slot_size = 4032 };
        TestDaemon d;
        shmbox_client *c;
        int64_t t0, t1, worst = 0, answers = 0;
        int fds[2], r = 0;
        pid_t pid;

        if (!harness_shm_has_room((uint64_t)300 << 20, "a 256 MiB create"))
                return;
        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                shmbox_client *c2;
                int64_t t;

                if (shmbox_connect(d.socket, &c2) < 0)
                        _exit(1);
                t = harness_now_us();
                r = shmbox_create(c2, "big", &cfg);
                t = harness_now_us() - t;
                if (write(fds[1], &r, sizeof(r)) != sizeof(r) || write(fds[1], &t, sizeof(t)) != sizeof(t))
                        _exit(1);
                shmbox_disconnect(c2);
                _exit(0);
        }
        close(fds[1]);
        /* ping until the create is answered */
        for (;;) {
                struct pollfd p = { .fd = fds[0], .events = POLLIN };
                struct shmbox_info info;

                if (poll(&p, 1, 0) == 1)
                        break;
                t0 = harness_now_us();
                ck_assert_int_eq(shmbox_info(c, "nonexistent", &info), -ENOENT);
                t1 = harness_now_us();
                worst = t1 - t0 > worst ? t1 - t0 : worst;
                answers++;
        }
        ck_assert_int_eq(read(fds[0], &r, sizeof(r)), sizeof(r));
        ck_assert_int_eq(read(fds[0], &t0, sizeof(t0)), sizeof(t0));
        close(fds[0]);
        ck_assert_int_eq(harness_wait_exit(pid, harness_ms(10000)), 0);
        ck_assert_int_eq(r, 0);
        printf("lifecycle: a 256 MiB create took %.1f ms; meanwhile %lld info calls were answered, the slowest in "
               "%.2f ms\n",
               (double)t0 / 1000, (long long)answers, (double)worst / 1000);
        /* a daemon that preallocated in one go would answer once or twice, after the create */
        ck_assert_int_ge(answers, 3);
        ck_assert_int_eq(shmbox_destroy(c, "big"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

static TCase *tcase_e2e(Suite *s, const char *name) {
        return harness_tcase(s, name, TIMEOUT_S, NULL, NULL);
}

static Suite *lifecycle_suite(void) {
        Suite *s = suite_create("lifecycle");
        TCase *tc;

        tc = tcase_e2e(s, "whole lifecycle");
        tcase_add_test(tc, test_three_mailboxes_go_through_the_whole_lifecycle);
        tcase_add_test(tc, test_list_returns_many_mailboxes_sorted_by_name);
        tcase_add_test(tc, test_a_large_create_does_not_stall_other_clients);

        tc = tcase_e2e(s, "message boundaries and order");
        tcase_add_test(tc, test_a_zero_length_message_arrives_empty);
        tcase_add_test(tc, test_a_message_of_exactly_slot_size_fits_and_one_more_byte_does_not);
        tcase_add_test(tc, test_one_sender_is_received_in_fifo_order_across_many_laps);
        tcase_add_test(tc, test_recv_with_a_null_buffer_returns_the_oldest_length_without_taking_it);
        tcase_add_test(tc, test_recv_into_a_short_buffer_is_emsgsize_and_the_message_stays_queued);

        tc = tcase_e2e(s, "timeouts");
        tcase_add_test(tc, test_recv_on_an_empty_mailbox_is_eagain_at_0_and_etimedout_at_50_ms);
        tcase_add_test(tc, test_send_on_a_full_mailbox_is_eagain_at_0_and_etimedout_at_50_ms);
        tcase_add_test(tc, test_signals_do_not_cut_a_timed_wait_short);

        tc = tcase_e2e(s, "blocked peers wake");
        tcase_add_test(tc, test_a_receiver_blocked_forever_wakes_when_a_message_is_sent);
        tcase_add_test(tc, test_a_sender_blocked_on_a_full_mailbox_wakes_when_a_slot_frees);

        tc = tcase_e2e(s, "destroy");
        tcase_add_test(tc, test_destroy_wakes_blocked_peers_with_eidrm_and_frees_the_name);

        tc = tcase_e2e(s, "daemon away");
        tcase_add_test(tc, test_an_attached_box_keeps_working_while_the_daemon_is_stopped);
        tcase_add_test(tc, test_a_receiver_blocked_across_a_daemon_stop_wakes_on_a_send);
        tcase_add_test(tc, test_a_restarted_daemon_adopts_the_mailbox_with_its_queued_messages);
        tcase_add_test(tc, test_control_calls_of_a_client_work_again_once_a_daemon_is_back);
        tcase_add_test(tc, test_a_box_attached_before_a_restart_detaches_from_the_new_daemon);

        tc = tcase_e2e(s, "fork");
        tcase_add_test(tc, test_a_box_inherited_across_fork_is_stale_in_the_child);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(lifecycle_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
