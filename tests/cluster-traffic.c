/* SPDX-License-Identifier: MIT */
/* cluster-traffic.c — the sequence-checked sender and receiver of tests/bridge-cluster.sh, built
 * only on <shmbox.h>.
 *
 *   cluster-traffic send SOCKET MAILBOX RATE LOG
 *       sends "seq N" (N = 1, 2, ...; 64-byte messages) at RATE messages/s until SIGTERM or
 *       SIGINT. A full mailbox (-EAGAIN, -ETIMEDOUT) is retried with the same N, and the pace
 *       does not catch up afterwards. LOG gets "N T" for every send that returned 0, T its
 *       CLOCK_REALTIME in microseconds.
 *   cluster-traffic recv SOCKET MAILBOX LOG STATUS
 *       receives until SIGTERM or SIGINT. LOG gets "N T" per message received (a duplicate
 *       too); STATUS is rewritten every 100 ms (written aside, then renamed) with one line
 *       "LOW RECEIVED DUPLICATES BAD LAST HIGH": every N < LOW has arrived, messages received,
 *       of which duplicates, payloads that were no "seq N", time of the last receipt (us), the
 *       highest N received;
 *       then a line of the first 256 ranges "A-B" of numbers still missing below the highest
 *       received (a message retried or redelivered may arrive after later ones).
 *
 * The logs are flushed every 100 ms and at exit, so a script reads them at most that stale.
 * Exit status 0 on a signal, 1 on a failure (said on stderr), 2 on a usage error.
 */
#include "config.h"

#include "client/shmbox.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAYLOAD 64
#define MAX_SEQ (1u << 24) /* 16 M messages: 4.6 hours at 1,000/s */

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
        (void)sig;
        stop = 1;
}

static int64_t now_us(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_us(int64_t us) {
        struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };

        nanosleep(&ts, NULL); /* a signal ends it early: the loop checks stop */
}

static int attach(const char *socket, const char *mailbox, shmbox_client **ret_client, shmbox **ret_box) {
        int r = shmbox_connect(socket, ret_client);

        if (r < 0) {
                fprintf(stderr, "cluster-traffic: connect %s: %s\n", socket, shmbox_strerror(r));
                return r;
        }
        r = shmbox_attach(*ret_client, mailbox, ret_box);
        if (r < 0) {
                fprintf(stderr, "cluster-traffic: attach %s: %s\n", mailbox, shmbox_strerror(r));
                shmbox_disconnect(*ret_client);
        }
        return r;
}

static int do_send(const char *socket, const char *mailbox, const char *rate_s, const char *log) {
        shmbox_client *c = NULL;
        shmbox *box = NULL;
        char *end;
        unsigned long rate = strtoul(rate_s, &end, 10);
        int64_t period, next, flushed;
        FILE *f;
        int r = 0;

        if (*end || rate == 0 || rate > 1000000) {
                fprintf(stderr, "cluster-traffic: RATE must be 1 to 1000000, not '%s'\n", rate_s);
                return 2;
        }
        f = fopen(log, "we");
        if (!f) {
                fprintf(stderr, "cluster-traffic: %s: %s\n", log, strerror(errno));
                return 1;
        }
        if (attach(socket, mailbox, &c, &box) < 0) {
                fclose(f);
                return 1;
        }
        period = 1000000 / (int64_t)rate;
        next = flushed = now_us(CLOCK_MONOTONIC);
        for (unsigned seq = 1; !stop && seq < MAX_SEQ;) {
                char buf[PAYLOAD];
                int64_t t = now_us(CLOCK_MONOTONIC);

                if (t < next) {
                        sleep_us(next - t);
                        continue;
                }
                next = next + period > t ? next + period : t; /* no burst after a stall */
                memset(buf, 'x', sizeof(buf));
                snprintf(buf, sizeof(buf), "seq %u ", seq);
                do
                        r = shmbox_send(box, buf, sizeof(buf), 100);
                while ((r == -EAGAIN || r == -ETIMEDOUT) && !stop);
                if (r == 0) {
                        fprintf(f, "%u %lld\n", seq, (long long)now_us(CLOCK_REALTIME));
                        seq++;
                } else if (!stop) {
                        fprintf(stderr, "cluster-traffic: send seq %u: %s\n", seq, shmbox_strerror(r));
                        break;
                }
                if (t - flushed >= 100000) {
                        fflush(f);
                        flushed = t;
                }
        }
        shmbox_detach(box);
        shmbox_disconnect(c);
        if (fclose(f) != 0) {
                fprintf(stderr, "cluster-traffic: %s: %s\n", log, strerror(errno));
                return 1;
        }
        return r == 0 || stop ? 0 : 1;
}

typedef struct Receipts {
        uint8_t *seen; /* [MAX_SEQ]: times each seq arrived, saturating at 255 */
        unsigned low;  /* every seq below has arrived */
        unsigned high; /* the highest seq that has arrived */
        unsigned long long received, duplicates, bad;
        int64_t last_us;
} Receipts;

static int write_status(const Receipts *rc, const char *status) {
        char tmp[4096];
        FILE *f;

        if (snprintf(tmp, sizeof(tmp), "%s.tmp", status) >= (int)sizeof(tmp))
                return -ENAMETOOLONG;
        f = fopen(tmp, "we");
        if (!f)
                return -errno;
        fprintf(f, "%u %llu %llu %llu %lld %u\n", rc->low, rc->received, rc->duplicates, rc->bad,
                (long long)rc->last_us, rc->high);
        for (unsigned s = rc->low, ranges = 0; s < rc->high && ranges < 256; ranges++) {
                unsigned e = s;

                while (e + 1 < rc->high && !rc->seen[e + 1])
                        e++;
                fprintf(f, "%s%u-%u", ranges ? " " : "", s, e);
                for (s = e + 1; s < rc->high && rc->seen[s];)
                        s++;
        }
        fputc('\n', f);
        if (fclose(f) != 0 || rename(tmp, status) < 0)
                return -errno;
        return 0;
}

static int do_recv(const char *socket, const char *mailbox, const char *log, const char *status) {
        Receipts rc = { .low = 1 };
        shmbox_client *c = NULL;
        shmbox *box = NULL;
        int64_t flushed;
        FILE *f;
        int r = 0;

        rc.seen = calloc(MAX_SEQ, 1);
        if (!rc.seen) {
                fprintf(stderr, "cluster-traffic: out of memory\n");
                return 1;
        }
        f = fopen(log, "we");
        if (!f) {
                fprintf(stderr, "cluster-traffic: %s: %s\n", log, strerror(errno));
                free(rc.seen);
                return 1;
        }
        if (attach(socket, mailbox, &c, &box) < 0) {
                fclose(f);
                free(rc.seen);
                return 1;
        }
        flushed = now_us(CLOCK_MONOTONIC);
        while (!stop) {
                char buf[256];
                ssize_t n = shmbox_recv(box, buf, sizeof(buf) - 1, 100);
                unsigned seq;

                if (n >= 0) {
                        buf[n] = 0;
                        rc.received++;
                        rc.last_us = now_us(CLOCK_REALTIME);
                        if (sscanf(buf, "seq %u", &seq) == 1 && seq > 0 && seq < MAX_SEQ) {
                                if (rc.seen[seq] > 0)
                                        rc.duplicates++;
                                if (rc.seen[seq] < UINT8_MAX)
                                        rc.seen[seq]++;
                                if (seq > rc.high)
                                        rc.high = seq;
                                while (rc.low < MAX_SEQ && rc.seen[rc.low])
                                        rc.low++;
                                fprintf(f, "%u %lld\n", seq, (long long)rc.last_us);
                        } else {
                                rc.bad++;
                        }
                } else if (n != -ETIMEDOUT && n != -EAGAIN && n != -EINTR) {
                        fprintf(stderr, "cluster-traffic: recv: %s\n", shmbox_strerror((int)n));
                        r = (int)n;
                        break;
                }
                if (now_us(CLOCK_MONOTONIC) - flushed >= 100000) {
                        fflush(f);
                        write_status(&rc, status);
                        flushed = now_us(CLOCK_MONOTONIC);
                }
        }
        shmbox_detach(box);
        shmbox_disconnect(c);
        if (fclose(f) != 0) {
                fprintf(stderr, "cluster-traffic: %s: %s\n", log, strerror(errno));
                r = -EIO;
        }
        if (write_status(&rc, status) < 0) {
                fprintf(stderr, "cluster-traffic: %s: cannot write\n", status);
                r = -EIO;
        }
        free(rc.seen);
        return r == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
        struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: a signal ends a wait */

        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        if (argc == 6 && strcmp(argv[1], "send") == 0)
                return do_send(argv[2], argv[3], argv[4], argv[5]);
        if (argc == 6 && strcmp(argv[1], "recv") == 0)
                return do_recv(argv[2], argv[3], argv[4], argv[5]);
        fprintf(stderr, "usage: cluster-traffic send SOCKET MAILBOX RATE LOG\n"
                        "       cluster-traffic recv SOCKET MAILBOX LOG STATUS\n");
        return 2;
}
