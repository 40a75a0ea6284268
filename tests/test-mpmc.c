/* SPDX-License-Identifier: MIT */
/* test-mpmc.c — many senders and many receivers on one mailbox, each in its own process: nothing
 * lost, nothing duplicated, no byte damaged, one sender's messages in order, and the daemon's
 * counters agree.
 *
 * Each sender sends N messages (up to MPMC_N) that carry (sender id, sequence, checksum over the
 * payload); receivers check every message they take and record it in a shared anonymous mapping (a
 * counter per (sender, sequence)), which the test process inspects once all have exited. The
 * children never call ck_assert: they record the first failure in the shared mapping.
 *
 * Message formats, by length (the variable-size variant uses every length 0..slot_size):
 *   len >= 16      struct MsgHead { sender, seq, len, csum } then payload; csum covers the payload
 *   4 <= len < 16  3 bytes of id (sender << 20 | seq), 1 byte checksum of the rest, payload
 *   1 <= len < 4   'A' + sender, then pattern bytes: only counted per sender
 *   len == 0       only counted
 * The length of message (sender, seq) is a function of both, so the test knows every count.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/shmbox.h"
#include "tests/harness.h"

#define TIMEOUT_S 120
#define SENDERS 4
#define RECEIVERS 4
#define MPMC_N 50000 /* messages per sender, at most */
#define SLOT_SIZE 256

typedef struct MsgHead {
        uint32_t sender, seq, len, csum;
} MsgHead;

/* What the children share with the test process. */
typedef struct Shared {
        _Atomic uint64_t taken; /* messages received, by all receivers */
        _Atomic uint32_t stop;  /* the test gives up waiting: receivers leave */
        _Atomic uint32_t errors;
        char first_error[512]; /* written by whoever counted the first error */
        _Atomic uint64_t per_receiver[RECEIVERS];
        _Atomic uint64_t tiny[SENDERS]; /* 1..3-byte messages, per sender */
        _Atomic uint64_t empty;         /* zero-length messages */
        _Atomic uint8_t seen[SENDERS][MPMC_N];
} Shared;

typedef struct Run {
        const char *socket;
        const char *name;
        bool variable;
        uint32_t n; /* messages per sender */
        Shared *sh;
} Run;

static void record_error(Shared *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void record_error(Shared *sh, const char *fmt, ...) {
        va_list ap;

        if (atomic_fetch_add(&sh->errors, 1) != 0)
                return;
        va_start(ap, fmt);
        vsnprintf(sh->first_error, sizeof(sh->first_error), fmt, ap);
        va_end(ap);
}

static uint32_t mix(uint32_t x) {
        x ^= x >> 16;
        x *= 0x7feb352du;
        x ^= x >> 15;
        x *= 0x846ca68bu;
        x ^= x >> 16;
        return x;
}

static size_t msg_len(bool variable, uint32_t sender, uint32_t seq) {
        if (!variable)
                return SLOT_SIZE;
        /* the first two messages of each sender are the extremes, the rest spread over 0..SLOT_SIZE */
        if (seq == 0)
                return 0;
        if (seq == 1)
                return SLOT_SIZE;
        return mix(sender * 1000003u + seq) % (SLOT_SIZE + 1);
}

static uint8_t pattern(uint32_t sender, uint32_t seq, size_t i) {
        return (uint8_t)(mix(sender << 24 ^ seq) + i * 13u);
}

/* FNV-1a */
static uint32_t checksum(const uint8_t *p, size_t n) {
        uint32_t x = 2166136261u;

        for (size_t i = 0; i < n; i++) {
                x ^= p[i];
                x *= 16777619u;
        }
        return x;
}

static size_t msg_build(uint8_t *buf, bool variable, uint32_t sender, uint32_t seq) {
        size_t len = msg_len(variable, sender, seq);

        if (len >= sizeof(MsgHead)) {
                MsgHead h = { .sender = sender, .seq = seq, .len = (uint32_t)len };

                for (size_t i = sizeof(h); i < len; i++)
                        buf[i] = pattern(sender, seq, i);
                h.csum = checksum(buf + sizeof(h), len - sizeof(h));
                memcpy(buf, &h, sizeof(h));
        } else if (len >= 4) {
                uint32_t id = sender << 20 | seq;

                buf[0] = (uint8_t)id;
                buf[1] = (uint8_t)(id >> 8);
                buf[2] = (uint8_t)(id >> 16);
                for (size_t i = 4; i < len; i++)
                        buf[i] = pattern(sender, seq, i);
                buf[3] = (uint8_t)checksum(buf + 4, len - 4);
        } else if (len >= 1) {
                buf[0] = (uint8_t)('A' + sender);
                for (size_t i = 1; i < len; i++)
                        buf[i] = (uint8_t)('a' + i);
        }
        return len;
}

/* Check one received message; record it. @last: the last sequence seen per sender. */
static void msg_check(const Run *run, unsigned rx, const uint8_t *buf, size_t len, int64_t last[SENDERS]) {
        Shared *sh = run->sh;
        uint32_t sender, seq;

        if (len >= sizeof(MsgHead)) {
                MsgHead h;

                memcpy(&h, buf, sizeof(h));
                if (h.sender >= SENDERS || h.seq >= run->n || h.len != len) {
                        record_error(sh, "receiver %u: bad head: sender %u seq %u len %u, got %zu bytes", rx, h.sender,
                                     h.seq, h.len, len);
                        return;
                }
                if (checksum(buf + sizeof(h), len - sizeof(h)) != h.csum) {
                        record_error(sh, "receiver %u: checksum of sender %u seq %u (%zu bytes)", rx, h.sender, h.seq,
                                     len);
                        return;
                }
                sender = h.sender;
                seq = h.seq;
        } else if (len >= 4) {
                uint32_t id = buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16;

                sender = id >> 20;
                seq = id & 0xfffff;
                if (sender >= SENDERS || seq >= run->n) {
                        record_error(sh, "receiver %u: bad short id 0x%06x (%zu bytes)", rx, id, len);
                        return;
                }
                if (buf[3] != (uint8_t)checksum(buf + 4, len - 4)) {
                        record_error(sh, "receiver %u: checksum of short sender %u seq %u (%zu bytes)", rx, sender, seq,
                                     len);
                        return;
                }
        } else {
                if (len == 0) {
                        atomic_fetch_add(&sh->empty, 1);
                        return;
                }
                sender = (uint32_t)(buf[0] - 'A');
                if (sender >= SENDERS) {
                        record_error(sh, "receiver %u: tiny message of %zu bytes from no sender", rx, len);
                        return;
                }
                for (size_t i = 1; i < len; i++)
                        if (buf[i] != (uint8_t)('a' + i)) {
                                record_error(sh, "receiver %u: tiny message of %zu bytes damaged", rx, len);
                                return;
                        }
                atomic_fetch_add(&sh->tiny[sender], 1);
                return;
        }
        if (msg_len(run->variable, sender, seq) != len) {
                record_error(sh, "receiver %u: sender %u seq %u has %zu bytes, sent %zu", rx, sender, seq, len,
                             msg_len(run->variable, sender, seq));
                return;
        }
        if ((int64_t)seq <= last[sender])
                record_error(sh, "receiver %u: sender %u seq %u after seq %lld: out of order", rx, sender, seq,
                             (long long)last[sender]);
        last[sender] = seq;
        atomic_fetch_add(&sh->seen[sender][seq], 1);
}

static int child_open(const Run *run, shmbox_client **ret_c, shmbox **ret_box) {
        int r = shmbox_connect(run->socket, ret_c);

        if (r < 0)
                return r;
        r = shmbox_attach(*ret_c, run->name, ret_box);
        if (r < 0)
                shmbox_disconnect(*ret_c);
        return r;
}

static void sender_main(const Run *run, uint32_t id) {
        uint8_t buf[SLOT_SIZE];
        shmbox_client *c;
        shmbox *box;
        int r;

        r = child_open(run, &c, &box);
        if (r < 0) {
                record_error(run->sh, "sender %u: attach: %s", id, shmbox_strerror(r));
                _exit(1);
        }
        for (uint32_t seq = 0; seq < run->n; seq++) {
                size_t len = msg_build(buf, run->variable, id, seq);

                r = shmbox_send(box, buf, len, -1);
                if (r < 0) {
                        record_error(run->sh, "sender %u: send of seq %u: %s", id, seq, shmbox_strerror(r));
                        _exit(1);
                }
        }
        shmbox_detach(box);
        shmbox_disconnect(c);
        _exit(0);
}

static void receiver_main(const Run *run, uint32_t id) {
        const uint64_t total = (uint64_t)SENDERS * run->n;
        int64_t last[SENDERS];
        uint8_t buf[SLOT_SIZE + 64];
        shmbox_client *c;
        shmbox *box;
        int r;

        for (unsigned s = 0; s < SENDERS; s++)
                last[s] = -1;
        r = child_open(run, &c, &box);
        if (r < 0) {
                record_error(run->sh, "receiver %u: attach: %s", id, shmbox_strerror(r));
                _exit(1);
        }
        /* until every message is taken by someone, or the test gives up */
        while (atomic_load(&run->sh->taken) < total && !atomic_load(&run->sh->stop)) {
                ssize_t n = shmbox_recv(box, buf, sizeof(buf), 50);

                if (n == -ETIMEDOUT)
                        continue;
                if (n < 0) {
                        record_error(run->sh, "receiver %u: recv: %s", id, shmbox_strerror((int)n));
                        _exit(1);
                }
                msg_check(run, id, buf, (size_t)n, last);
                atomic_fetch_add(&run->sh->per_receiver[id], 1);
                atomic_fetch_add(&run->sh->taken, 1);
        }
        shmbox_detach(box);
        shmbox_disconnect(c);
        _exit(0);
}

static pid_t spawn(void (*fn)(const Run *, uint32_t), const Run *run, uint32_t id) {
        pid_t parent = getpid(), pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                /* a failed test must not leave its peers behind */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(4);
                fn(run, id);
        }
        return pid;
}

/* @n messages from each sender through @slots slots; @variable: every size 0..SLOT_SIZE. */
static void run_mpmc(bool variable, uint32_t slots, uint32_t n) {
        const struct shmbox_config cfg = { .slots = slots, .slot_size = SLOT_SIZE };
        const uint64_t total = (uint64_t)SENDERS * n;
        pid_t senders[SENDERS], receivers[RECEIVERS];
        uint64_t want_tiny[SENDERS] = { 0 }, want_empty = 0, identified = 0;
        struct shmbox_info info;
        int64_t t0, t_sent, t_done;
        TestDaemon d;
        shmbox_client *c;
        Shared *sh;
        Run run;

        sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ck_assert(sh != MAP_FAILED);

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "mpmc", &cfg), 0);
        ck_assert_uint_le(n, MPMC_N);
        run = (Run){ .socket = d.socket, .name = "mpmc", .variable = variable, .n = n, .sh = sh };

        t0 = harness_now_us();
        for (unsigned i = 0; i < RECEIVERS; i++)
                receivers[i] = spawn(receiver_main, &run, i);
        for (unsigned i = 0; i < SENDERS; i++)
                senders[i] = spawn(sender_main, &run, i);

        for (unsigned i = 0; i < SENDERS; i++) {
                int status = harness_wait_exit(senders[i], harness_ms(100000));

                ck_assert_msg(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                              "sender %u: status 0x%x; first error: %s", i, status, sh->first_error);
        }
        t_sent = harness_now_us();
        /* the senders are done: what is not received within a few seconds is lost */
        for (unsigned i = 0; i < RECEIVERS; i++) {
                int status = harness_wait_exit(receivers[i], harness_ms(5000));

                if (status == -1) {
                        atomic_store(&sh->stop, 1);
                        fprintf(stderr, "mpmc: receiver %u did not finish: %llu of %llu taken\n", i,
                                (unsigned long long)atomic_load(&sh->taken), (unsigned long long)total);
                        continue;
                }
                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                              "receiver %u: status 0x%x; first error: %s", i, status, sh->first_error);
        }
        t_done = harness_now_us();

        printf("mpmc (%s sizes): %d senders x %d receivers, %llu messages of %s%d bytes through %d "
               "slots in %.3f s: %.0f messages/s (senders done after %.3f s)\n",
               variable ? "variable" : "fixed", SENDERS, RECEIVERS, (unsigned long long)total, variable ? "0.." : "",
               SLOT_SIZE, slots, (t_done - t0) / 1e6, total * 1e6 / (double)(t_done - t0), (t_sent - t0) / 1e6);
        printf("mpmc (%s sizes): per receiver:", variable ? "variable" : "fixed");
        for (unsigned i = 0; i < RECEIVERS; i++)
                printf(" %llu", (unsigned long long)atomic_load(&sh->per_receiver[i]));
        printf("\n");

        ck_assert_msg(atomic_load(&sh->errors) == 0, "%u error(s), the first: %s", atomic_load(&sh->errors),
                      sh->first_error);

        /* every identified message exactly once; the anonymous ones by count */
        for (uint32_t s = 0; s < SENDERS; s++)
                for (uint32_t q = 0; q < n; q++) {
                        size_t len = msg_len(variable, s, q);
                        unsigned seen = atomic_load(&sh->seen[s][q]);

                        if (len == 0)
                                want_empty++;
                        else if (len < 4)
                                want_tiny[s]++;
                        else {
                                identified++;
                                ck_assert_msg(seen == 1, "sender %u seq %u (%zu bytes) taken %u time(s)", s, q, len,
                                              seen);
                        }
                }
        for (unsigned s = 0; s < SENDERS; s++)
                ck_assert_uint_eq(atomic_load(&sh->tiny[s]), want_tiny[s]);
        ck_assert_uint_eq(atomic_load(&sh->empty), want_empty);
        ck_assert_uint_eq(atomic_load(&sh->taken), total);
        if (variable)
                printf("mpmc (variable sizes): %llu identified, %llu empty, %llu of 1..3 bytes\n",
                       (unsigned long long)identified, (unsigned long long)want_empty,
                       (unsigned long long)(want_tiny[0] + want_tiny[1] + want_tiny[2] + want_tiny[3]));

        ck_assert_int_eq(shmbox_info(c, "mpmc", &info), 0);
        ck_assert_uint_eq(info.sent, total);
        ck_assert_uint_eq(info.received, total);
        ck_assert_uint_eq(info.queued, 0);
        ck_assert_uint_eq(info.recovered, 0);
        ck_assert_uint_eq(info.attached, 0);

        ck_assert_int_eq(shmbox_destroy(c, "mpmc"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
        munmap(sh, sizeof(*sh));
}

START_TEST(test_four_senders_and_four_receivers_lose_and_duplicate_nothing) {
        run_mpmc(false, 16, MPMC_N);
}
END_TEST

START_TEST(test_messages_of_every_size_from_zero_to_slot_size_arrive_intact) {
        run_mpmc(true, 16, MPMC_N);
}
END_TEST

/* Every send and every receive meets a full or an empty ring: the sleep and wake-up paths. */
START_TEST(test_a_two_slot_ring_loses_and_duplicates_nothing_under_contention) {
        run_mpmc(true, 2, MPMC_N / 5);
}
END_TEST

static Suite *mpmc_suite(void) {
        Suite *s = suite_create("mpmc");
        TCase *tc = tcase_create("many senders many receivers");

        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_set_timeout(tc, TIMEOUT_S * harness_scale());
        tcase_add_test(tc, test_four_senders_and_four_receivers_lose_and_duplicate_nothing);
        tcase_add_test(tc, test_messages_of_every_size_from_zero_to_slot_size_arrive_intact);
        tcase_add_test(tc, test_a_two_slot_ring_loses_and_duplicates_nothing_under_contention);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(mpmc_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
