/* SPDX-License-Identifier: MIT */
/* End-to-end tests of the traffic counters (doc/ring.md, "Counters"): exact counts after known
 * traffic through shmbox_stats() and through `shmboxctl metrics`, whose output promtool
 * validates when it is installed; counts of a detached box kept in the totals; a scribbled
 * counter block that neither crashes nor stalls a reader.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/layout.h"
#include "proto/names.h"
#include "tests/harness.h"

#define SLOTS 1000u
#define SIZE 100u
#define SENDS 1000u
#define RECVS 600u

static TestDaemon d;
static shmbox_client *client;

static void setup(void) {
        unsetenv("SHMBOX_SOCKET");
        harness_daemon_start(&d, NULL);
        client = harness_connect(&d);
}

static void teardown(void) {
        shmbox_disconnect(client);
        client = NULL;
        harness_daemon_done(&d);
}

/* The known traffic: SENDS sends of SIZE bytes through @tx fill the ring; one more send with a
 * 20 ms timeout finds it full, waits and times out; RECVS receives through @rx. */
static void known_traffic(shmbox *tx, shmbox *rx) {
        char msg[SIZE], buf[SIZE];

        memset(msg, 'm', sizeof(msg));
        for (unsigned i = 0; i < SENDS; i++)
                ck_assert_int_eq(shmbox_send(tx, msg, sizeof(msg), 0), 0);
        ck_assert_int_eq(shmbox_send(tx, msg, sizeof(msg), 20), -ETIMEDOUT);
        for (unsigned i = 0; i < RECVS; i++)
                ck_assert_int_eq(shmbox_recv(rx, buf, sizeof(buf), 0), (ssize_t)SIZE);
}

static void assert_known_totals(const struct shmbox_counters *c) {
        ck_assert_uint_eq(c->sent, SENDS);
        ck_assert_uint_eq(c->sent_bytes, (uint64_t)SENDS * SIZE);
        ck_assert_uint_eq(c->received, RECVS);
        ck_assert_uint_eq(c->received_bytes, (uint64_t)RECVS * SIZE);
        ck_assert_uint_eq(c->full, 1);
        ck_assert_uint_eq(c->send_waits, 1);
        ck_assert_uint_ge(c->send_wait_ns, 1000000); /* waited part of its 20 ms at least */
        ck_assert_uint_eq(c->send_timeouts, 1);
        ck_assert_uint_eq(c->recv_waits, 0);
        ck_assert_uint_eq(c->recv_wait_ns, 0);
        ck_assert_uint_eq(c->recv_timeouts, 0);
}

static const struct shmbox_stats_row *row_of(const struct shmbox_stats *st, uint32_t index) {
        for (uint32_t i = 0; i < st->n_rows; i++)
                if (st->rows[i].index == index)
                        return &st->rows[i];
        return NULL;
}

START_TEST(test_known_traffic_gives_exact_counts_per_box_and_in_all) {
        struct shmbox_config cfg = { .slots = SLOTS, .slot_size = SIZE };
        struct shmbox_stats *st = NULL;
        struct shmbox_stat tx_stat, rx_stat;
        const struct shmbox_stats_row *row;
        shmbox *tx, *rx;

        if (!harness_shm_has_room((uint64_t)SLOTS * 256 + (1u << 20), "counters"))
                return;
        ck_assert_int_eq(shmbox_create(client, "traffic", &cfg), 0);
        ck_assert_int_eq(shmbox_attach(client, "traffic", &tx), 0);
        ck_assert_int_eq(shmbox_attach(client, "traffic", &rx), 0);
        ck_assert_int_eq(shmbox_stat(tx, &tx_stat), 0);
        ck_assert_int_eq(shmbox_stat(rx, &rx_stat), 0);
        known_traffic(tx, rx);

        ck_assert_int_eq(shmbox_stats(client, "traffic", &st), 0);
        ck_assert_uint_eq(st->size, sizeof(*st));
        ck_assert_uint_eq(st->row_size, sizeof(st->rows[0]));
        ck_assert_uint_eq(st->info.queued, SENDS - RECVS);
        ck_assert_uint_eq(st->info.sent, SENDS);
        ck_assert_uint_eq(st->abandoned, 0);
        assert_known_totals(&st->total);
        ck_assert_uint_eq(st->n_rows, 2);
        row = row_of(st, tx_stat.index);
        ck_assert_ptr_nonnull(row);
        ck_assert_uint_eq(row->pid, (uint32_t)getpid());
        ck_assert_uint_eq(row->uid, (uint32_t)getuid());
        ck_assert_uint_eq(row->rights, SHMBOX_STAT_RECV | SHMBOX_STAT_SEND);
        ck_assert_uint_eq(row->c.sent, SENDS);
        ck_assert_uint_eq(row->c.received, 0);
        ck_assert_uint_eq(row->c.send_timeouts, 1);
        row = row_of(st, rx_stat.index);
        ck_assert_ptr_nonnull(row);
        ck_assert_uint_eq(row->c.sent, 0);
        ck_assert_uint_eq(row->c.received, RECVS);
        ck_assert_uint_eq(row->c.received_bytes, (uint64_t)RECVS * SIZE);
        free(st);

        /* the sender's counts stay in the totals once it is gone; a new box starts at 0 */
        shmbox_detach(tx);
        ck_assert_int_eq(shmbox_attach(client, "traffic", &tx), 0);
        ck_assert_int_eq(shmbox_stats(client, "traffic", &st), 0);
        assert_known_totals(&st->total);
        ck_assert_uint_eq(st->n_rows, 2);
        ck_assert_int_eq(shmbox_stat(tx, &tx_stat), 0);
        row = row_of(st, tx_stat.index);
        ck_assert_ptr_nonnull(row);
        ck_assert_uint_eq(row->c.sent, 0);
        ck_assert_uint_eq(row->c.send_timeouts, 0);
        free(st);

        /* and a daemon restart keeps them too: they live in the segment */
        shmbox_detach(tx);
        shmbox_detach(rx);
        harness_daemon_stop(&d);
        harness_daemon_restart(&d);
        ck_assert_int_eq(shmbox_stats(client, "traffic", &st), 0);
        assert_known_totals(&st->total);
        ck_assert_uint_eq(st->n_rows, 0);
        free(st);
        ck_assert_int_eq(shmbox_destroy(client, "traffic"), 0);
}
END_TEST

START_TEST(test_stats_of_a_missing_mailbox_or_bad_arguments_fail) {
        struct shmbox_stats *st = NULL;

        ck_assert_int_eq(shmbox_stats(client, "nothing", &st), -ENOENT);
        ck_assert_int_eq(shmbox_stats(client, "bad/name", &st), -EINVAL);
        ck_assert_int_eq(shmbox_stats(client, NULL, &st), -EINVAL);
        ck_assert_int_eq(shmbox_stats(NULL, "x", &st), -EINVAL);
        ck_assert_int_eq(shmbox_stats(client, "x", NULL), -EINVAL);
        ck_assert_ptr_null(st);
}
END_TEST

/* Run "$SHMBOXCTL --socket <ours> ARGS" through the shell; its stdout in a malloc'ed string. */
static char *ctl_output(const char *args, int *ret_status) {
        const char *bin = getenv("SHMBOXCTL");
        char cmd[1024], *out = NULL;
        size_t len = 0;
        FILE *f, *mem;
        int c;

        ck_assert_msg(bin && *bin, "SHMBOXCTL is not set (run the suites through make check)");
        snprintf(cmd, sizeof(cmd), "'%s' --socket '%s' %s", bin, d.socket, args);
        f = popen(cmd, "r");
        ck_assert_ptr_nonnull(f);
        mem = open_memstream(&out, &len);
        ck_assert_ptr_nonnull(mem);
        while ((c = fgetc(f)) != EOF)
                fputc(c, mem);
        fclose(mem);
        *ret_status = pclose(f);
        return out;
}

/* Whether @text holds @line as a whole line. */
static bool has_line(const char *text, const char *line) {
        size_t n = strlen(line);

        for (const char *p = text; (p = strstr(p, line)); p++)
                if ((p == text || p[-1] == '\n') && p[n] == '\n')
                        return true;
        return false;
}

/* promtool check metrics on @path; false (and SKIP said) if promtool is not installed. */
static bool promtool_checks(const char *path) {
        char cmd[512];
        int status;

        if (system("command -v promtool >/dev/null 2>&1") != 0) {
                fprintf(stderr, "SKIP: promtool check metrics: promtool is not installed (Debian package "
                                "prometheus, tests/deps.sh); the values are still checked\n");
                return false;
        }
        snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' >&2", path);
        status = system(cmd);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "promtool check metrics failed on %s", path);
        return true;
}

START_TEST(test_metrics_show_the_known_traffic_in_the_prometheus_format) {
        struct shmbox_config cfg = { .slots = SLOTS, .slot_size = SIZE };
        struct passwd *pw = getpwuid(getuid());
        char path[200], line[512], owner[64], *out;
        shmbox *tx, *rx;
        int status;
        FILE *f;

        if (!harness_shm_has_room((uint64_t)SLOTS * 256 + (1u << 20), "counters"))
                return;
        snprintf(owner, sizeof(owner), "%s", pw ? pw->pw_name : "");
        if (!pw)
                snprintf(owner, sizeof(owner), "%u", (unsigned)getuid());
        ck_assert_int_eq(shmbox_create(client, "traffic", &cfg), 0);
        ck_assert_int_eq(shmbox_attach(client, "traffic", &tx), 0);
        ck_assert_int_eq(shmbox_attach(client, "traffic", &rx), 0);
        known_traffic(tx, rx);
        shmbox_detach(tx); /* gone: its counts must stay */

        out = ctl_output("metrics", &status);
        ck_assert_int_eq(status, 0);
        ck_assert(has_line(out, "# TYPE shmbox_mailbox_sent_messages_total counter"));
        ck_assert(has_line(out, "shmbox_up 1"));
        ck_assert(has_line(out, "shmbox_mailboxes 1"));
#define EXPECT(name, value)                                                                                            \
        do {                                                                                                           \
                snprintf(line, sizeof(line), "%s{mailbox=\"traffic\",owner=\"%s\"} %s", name, owner, value);           \
                ck_assert_msg(has_line(out, line), "no line '%s' in:\n%s", line, out);                                 \
        } while (0)
        EXPECT("shmbox_mailbox_sent_messages_total", "1000");
        EXPECT("shmbox_mailbox_sent_bytes_total", "100000");
        EXPECT("shmbox_mailbox_received_messages_total", "600");
        EXPECT("shmbox_mailbox_received_bytes_total", "60000");
        EXPECT("shmbox_mailbox_send_waits_total", "1");
        EXPECT("shmbox_mailbox_send_timeouts_total", "1");
        EXPECT("shmbox_mailbox_receive_waits_total", "0");
        EXPECT("shmbox_mailbox_receive_timeouts_total", "0");
        EXPECT("shmbox_mailbox_full_total", "1");
        EXPECT("shmbox_mailbox_queued_messages", "400");
        EXPECT("shmbox_mailbox_attachments", "1");
        EXPECT("shmbox_mailbox_slots", "1000");
        EXPECT("shmbox_mailbox_repairs_total", "0");
        EXPECT("shmbox_mailbox_corrupt", "0");
#undef EXPECT
        free(out);

        /* --output: the same text, written atomically, and only that file in the directory */
        snprintf(path, sizeof(path), "%s/shmbox.prom", d.dir);
        snprintf(line, sizeof(line), "metrics --output '%s'", path);
        out = ctl_output(line, &status);
        ck_assert_int_eq(status, 0);
        ck_assert_str_eq(out, "");
        free(out);
        f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        fclose(f);
        (void)promtool_checks(path);
        ck_assert_int_eq(unlink(path), 0);

        shmbox_detach(rx);
        ck_assert_int_eq(shmbox_destroy(client, "traffic"), 0);
}
END_TEST

START_TEST(test_metrics_of_an_unreachable_daemon_write_shmbox_up_0) {
        char path[200], args[512], *out, text[256] = "";
        int status;
        FILE *f;

        snprintf(path, sizeof(path), "%s/down.prom", d.dir);
        harness_daemon_stop(&d);
        snprintf(args, sizeof(args), "metrics --output '%s' 2>/dev/null", path);
        out = ctl_output(args, &status);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
        free(out);
        f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_gt(fread(text, 1, sizeof(text) - 1, f), 0);
        fclose(f);
        ck_assert(has_line(text, "shmbox_up 0"));
        (void)promtool_checks(path);
        ck_assert_int_eq(unlink(path), 0);
        harness_daemon_restart(&d);
}
END_TEST

/* Any attached process may write any counter block: a reader sums with saturation, and
 * nothing else changes (the counters steer nothing). */
START_TEST(test_a_scribbled_counter_block_saturates_the_sums_and_harms_nothing) {
        struct shmbox_config cfg = { .slots = 4, .slot_size = 64 };
        struct shmbox_stats *st = NULL;
        struct shmbox_stat rx_stat;
        char seg[NAMES_OBJECT_MAX], buf[64], *out;
        MboxHeader *h;
        AttCounters *blocks;
        shmbox *tx, *rx;
        int fd, status;

        ck_assert_int_eq(shmbox_create(client, "scribbled", &cfg), 0);
        ck_assert_int_eq(shmbox_attach(client, "scribbled", &tx), 0);
        ck_assert_int_eq(shmbox_attach(client, "scribbled", &rx), 0);
        ck_assert_int_eq(shmbox_stat(rx, &rx_stat), 0);
        ck_assert_int_eq(shmbox_send(tx, "x", 1, 0), 0);

        ck_assert_int_ge(names_segment(seg, sizeof(seg), d.prefix, "scribbled"), 0);
        fd = shm_open(seg, O_RDWR, 0);
        ck_assert_int_ge(fd, 0);
        h = mmap(NULL, LAYOUT_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ck_assert_ptr_ne(h, MAP_FAILED);
        close(fd);
        blocks = layout_counters(h, 0);
        /* every byte of the receiver's block, of a free index's, and of the retired totals */
        memset(&blocks[rx_stat.index], 0xff, sizeof(AttCounters));
        memset(&blocks[LAYOUT_ATT_MAX - 1], 0xa5, sizeof(AttCounters));
        memset(&h->retired, 0xff, sizeof(h->retired));

        ck_assert_int_eq(shmbox_stats(client, "scribbled", &st), 0);
        ck_assert_uint_eq(st->total.sent, UINT64_MAX);
        ck_assert_uint_eq(st->total.recv_wait_ns, UINT64_MAX);
        ck_assert_uint_eq(st->n_rows, 2);
        ck_assert_uint_eq(st->info.queued, 1);
        ck_assert_uint_eq(st->info.corrupt, 0); /* the ring itself is whole */
        free(st);
        out = ctl_output("metrics", &status);
        ck_assert_int_eq(status, 0);
        ck_assert_ptr_nonnull(strstr(out, "shmbox_mailbox_sent_messages_total{mailbox=\"scribbled\""));
        ck_assert_ptr_nonnull(strstr(out, "} 18446744073709551615\n"));
        free(out);

        /* the ring carries on, counting on from the scribble (wrapping: one writer, no check) */
        ck_assert_int_eq(shmbox_recv(rx, buf, sizeof(buf), 0), 1);
        ck_assert_uint_eq(atomic_load(&blocks[rx_stat.index].received), 0);
        ck_assert_int_eq(shmbox_send(tx, "y", 1, 0), 0);
        ck_assert_int_eq(shmbox_recv(rx, buf, sizeof(buf), 0), 1);

        /* a released index hands its next holder a block of zeros, whatever was written there */
        shmbox_detach(rx);
        ck_assert_int_eq(shmbox_attach(client, "scribbled", &rx), 0);
        ck_assert_int_eq(shmbox_stat(rx, &rx_stat), 0);
        ck_assert_uint_eq(atomic_load(&blocks[rx_stat.index].sent), 0);
        ck_assert_uint_eq(atomic_load(&blocks[rx_stat.index].recv_wait_ns), 0);
        ck_assert_int_eq(shmbox_stats(client, "scribbled", &st), 0);
        ck_assert_uint_eq(st->total.sent, UINT64_MAX); /* folded into the saturated retired totals */
        free(st);

        munmap(h, LAYOUT_HEADER_SIZE);
        shmbox_detach(tx);
        shmbox_detach(rx);
        ck_assert_int_eq(shmbox_destroy(client, "scribbled"), 0);
}
END_TEST

/* As uid 2001 in a child: shmbox_stats() of "hidden" (0600, root's) and of "open" (0666), and
 * how many mailboxes `shmboxctl metrics` shows; each reported through a pipe. */
START_TEST(test_a_mailbox_without_rights_is_refused_and_left_out_of_the_metrics) {
        struct shmbox_config hidden = { .slots = 4, .slot_size = 64, .mode = 0600 };
        struct shmbox_config open_cfg = { .slots = 4, .slot_size = 64, .mode = 0666 };
        const char *bin = getenv("SHMBOXCTL");
        char copy[PATH_MAX];
        int fds[2], got[3], status;
        pid_t pid;

        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: counters: stats of another user's mailbox: needs root (setuid to 2001)\n");
                return;
        }
        ck_assert_msg(bin && *bin, "SHMBOXCTL is not set (run the suites through make check)");
        harness_ctl_copy(d.dir, copy, sizeof(copy)); /* the build tree may be out of 2001's reach */
        bin = copy;
        ck_assert_int_eq(shmbox_create(client, "hidden", &hidden), 0);
        ck_assert_int_eq(shmbox_create(client, "open", &open_cfg), 0);
        ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct shmbox_stats *st = NULL;
                shmbox_client *c;
                char cmd[PATH_MAX + 256];
                FILE *f;

                if (setgroups(0, NULL) < 0 || setgid(2001) < 0 || setuid(2001) < 0)
                        _exit(126);
                harness_ctl_env(d.dir);
                if (shmbox_connect(d.socket, &c) < 0)
                        _exit(125);
                got[0] = shmbox_stats(c, "hidden", &st);
                got[1] = shmbox_stats(c, "open", &st);
                free(st);
                shmbox_disconnect(c);
                snprintf(cmd, sizeof(cmd), "'%s' --socket '%s' metrics | grep -c '^shmbox_mailbox_slots{'", bin,
                         d.socket);
                f = popen(cmd, "r");
                got[2] = -1;
                if (!f || fscanf(f, "%d", &got[2]) != 1)
                        got[2] = -1;
                if (f)
                        pclose(f);
                if (write(fds[1], got, sizeof(got)) != sizeof(got))
                        _exit(124);
                _exit(0);
        }
        close(fds[1]);
        status = harness_wait_exit(pid, harness_ms(10000));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
        ck_assert_int_eq(read(fds[0], got, sizeof(got)), sizeof(got));
        close(fds[0]);
        ck_assert_int_eq(got[0], -EACCES);
        ck_assert_int_eq(got[1], 0);
        ck_assert_int_eq(got[2], 1); /* only "open" */
        ck_assert_int_eq(shmbox_destroy(client, "hidden"), 0);
        ck_assert_int_eq(shmbox_destroy(client, "open"), 0);
}
END_TEST

static Suite *counters_suite(void) {
        Suite *s = suite_create("counters");
        TCase *tc = tcase_create("counters");

        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60 * harness_scale());
        tcase_add_test(tc, test_known_traffic_gives_exact_counts_per_box_and_in_all);
        tcase_add_test(tc, test_stats_of_a_missing_mailbox_or_bad_arguments_fail);
        tcase_add_test(tc, test_metrics_show_the_known_traffic_in_the_prometheus_format);
        tcase_add_test(tc, test_metrics_of_an_unreachable_daemon_write_shmbox_up_0);
        tcase_add_test(tc, test_a_scribbled_counter_block_saturates_the_sums_and_harms_nothing);
        tcase_add_test(tc, test_a_mailbox_without_rights_is_refused_and_left_out_of_the_metrics);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(counters_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
