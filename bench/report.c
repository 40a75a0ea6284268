/* SPDX-License-Identifier: MIT */
/* report.c — collect the benchmark's figures and print them as a table or as JSON.
 *
 * Each figure holds, per transport, the value of every repetition and a note (not run, limits,
 * error, one CPU). report_finish() takes the medians and derives 4x4 / 1x1. The table has one
 * row per figure, one column per transport, and shmbox's ratio to each alternative (pipe, Unix
 * socket, mq, naive ring, iceoryx, Boost's message_queue, ZeroMQ, and the polling SPSC ring that
 * marks the limit); where the zero-copy or batch calls of shmbox have a value, a
 * sub-row gives their ratios too. Ratios within one run are what to compare: the machine's speed
 * changes between runs. Under each figure with repetitions, a row gives the least and the
 * greatest of shmbox's ratios repetition by repetition, as the transports ran interleaved, since
 * the machine can change speed within a run too. The JSON also lists each repetition's value (in
 * ascending order), so a figure that flips between two modes shows as such, and those least and
 * greatest ratios (ratio_min, ratio_max).
 */
#include "config.h"

#include "bench/report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "proto/util.h"

#define REPS_MAX 64
#define MB 1e6        /* MB/s are 10^6 bytes per second */
#define RATIO_WIDTH 8 /* a /X column: "/iceoryx", "1.8-2.6x" */

const size_t report_sizes[REPORT_SIZES] = { 64, 1024, 64 * 1024, 1024 * 1024 };

typedef enum Unit {
        UNIT_MSGS,   /* messages per second */
        UNIT_MBS,    /* 10^6 bytes per second */
        UNIT_US,     /* microseconds */
        UNIT_NS,     /* nanoseconds of CPU per message */
        UNIT_CPU_US, /* microseconds of CPU */
        UNIT_RATIO,
} Unit;

typedef struct Figure {
        char id[40];
        char label[40];
        Unit unit;
        bool higher_better;
        double rep[_TRANSPORT_MAX][REPS_MAX]; /* in the order measured: rep i of each pairs up */
        unsigned nrep[_TRANSPORT_MAX];
        Note note[_TRANSPORT_MAX];
        double value[_TRANSPORT_MAX]; /* the median; NAN if none */
} Figure;

static Figure figs[_FIG_MAX];

/* The table's rows, in order; the JSON has every figure. */
static const unsigned table_rows[] = {
        FIG_TPUT_MSGS + 0, FIG_TPUT_MBS + 0, FIG_TPUT_MSGS + 1, FIG_TPUT_MBS + 1,  FIG_TPUT_MSGS + 2, FIG_TPUT_MBS + 2,
        FIG_TPUT_MSGS + 3, FIG_TPUT_MBS + 3, FIG_RTT_OTHER + 0, FIG_RTT_OTHER + 1, FIG_RTT_OTHER + 2, FIG_RTT_SAME + 0,
        FIG_RTT_SAME + 1,  FIG_RTT_SAME + 2, FIG_MPMC,          FIG_MPMC_RATIO,    FIG_CPU_SEND + 0,  FIG_CPU_RECV + 0,
        FIG_CPU_SEND + 3,  FIG_CPU_RECV + 3, FIG_IDLE,
};

/* The columns shmbox is divided by, and the shmbox calls whose ratios are shown. */
static const TransportId alternatives[] = { TRANSPORT_PIPE,    TRANSPORT_UNIX,  TRANSPORT_MQ,  TRANSPORT_NAIVE,
                                            TRANSPORT_ICEORYX, TRANSPORT_BOOST, TRANSPORT_ZMQ, TRANSPORT_SPSC };
static const TransportId ours[] = { TRANSPORT_SHMBOX, TRANSPORT_ZEROCOPY, TRANSPORT_BATCH };

/* report_size_name() - "64 B", "1 KiB", ... for report_sizes[@i] */
const char *report_size_name(unsigned i) {
        static const char *const names[REPORT_SIZES] = { "64 B", "1 KiB", "64 KiB", "1 MiB" };

        return i < REPORT_SIZES ? names[i] : "?";
}

static void fig_init(unsigned f, const char *id, Unit unit, bool higher, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
static void fig_init(unsigned f, const char *id, Unit unit, bool higher, const char *fmt, ...) {
        Figure *fg = &figs[f];
        va_list ap;

        snprintf(fg->id, sizeof(fg->id), "%s", id);
        va_start(ap, fmt);
        vsnprintf(fg->label, sizeof(fg->label), fmt, ap);
        va_end(ap);
        fg->unit = unit;
        fg->higher_better = higher;
        for (unsigned t = 0; t < _TRANSPORT_MAX; t++) {
                fg->note[t] = NOTE_NOT_RUN;
                fg->value[t] = NAN;
        }
}

/* report_init() - name every figure; @idle_s goes into the idle row's label */
void report_init(unsigned idle_s) {
        static const char *const pname[3] = { "p50", "p99", "p99.9" }, *const pid[3] = { "p50", "p99", "p999" };
        char id[40];

        memset(figs, 0, sizeof(figs));
        for (unsigned i = 0; i < REPORT_SIZES; i++) {
                const char *sz = report_size_name(i);
                size_t s = report_sizes[i];

                snprintf(id, sizeof(id), "throughput_%zu_msgs_per_s", s);
                fig_init(FIG_TPUT_MSGS + i, id, UNIT_MSGS, true, "%s one-way, msgs/s", sz);
                snprintf(id, sizeof(id), "throughput_%zu_mb_per_s", s);
                fig_init(FIG_TPUT_MBS + i, id, UNIT_MBS, true, "%s one-way, MB/s", sz);
                snprintf(id, sizeof(id), "cpu_send_%zu_ns_per_msg", s);
                fig_init(FIG_CPU_SEND + i, id, UNIT_NS, false, "%s CPU per msg, sender", sz);
                snprintf(id, sizeof(id), "cpu_recv_%zu_ns_per_msg", s);
                fig_init(FIG_CPU_RECV + i, id, UNIT_NS, false, "%s CPU per msg, receiver", sz);
        }
        for (unsigned p = 0; p < 3; p++) {
                snprintf(id, sizeof(id), "rtt_64_other_cpu_%s_us", pid[p]);
                fig_init(FIG_RTT_OTHER + p, id, UNIT_US, false, "64 B round trip, other CPU, %s", pname[p]);
                snprintf(id, sizeof(id), "rtt_64_same_cpu_%s_us", pid[p]);
                fig_init(FIG_RTT_SAME + p, id, UNIT_US, false, "64 B round trip, same CPU, %s", pname[p]);
        }
        fig_init(FIG_MPMC, "mpmc_4x4_64_msgs_per_s", UNIT_MSGS, true, "64 B 4x4 on one channel, msgs/s");
        fig_init(FIG_MPMC_RATIO, "mpmc_4x4_vs_1x1", UNIT_RATIO, true, "64 B 4x4 / 1x1");
        fig_init(FIG_IDLE, "idle_receiver_cpu_us", UNIT_CPU_US, false, "idle receiver, CPU in %u s", idle_s);
}

/* report_add() - one repetition's @value of figure @fig for @t */
void report_add(unsigned fig, TransportId t, double value) {
        Figure *fg = &figs[fig];

        if (fg->nrep[t] < REPS_MAX)
                fg->rep[t][fg->nrep[t]++] = value;
        if (fg->note[t] == NOTE_NOT_RUN)
                fg->note[t] = NOTE_NONE;
}

/* report_note() - figure @fig of @t could not be measured; an error outranks the others */
void report_note(unsigned fig, TransportId t, Note note) {
        if (note == NOTE_ERROR || figs[fig].note[t] == NOTE_NOT_RUN)
                figs[fig].note[t] = note;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

/* report_median() - the median of @v[0..n), which it sorts; the mean of the middle two for an
 * even @n, NAN for none. Every figure of the benchmark is a median of its repetitions. */
double report_median(double *v, unsigned n) {
        if (n == 0)
                return NAN;
        qsort(v, n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* sorted_reps() - @t's repetitions of @fg, ascending, into @v; their number. A copy, because
 * fg->rep keeps the order they were measured in: repetition i of every transport ran in the
 * same stretch of time, which is what pairs them up for the spread of the ratios. */
static unsigned sorted_reps(const Figure *fg, TransportId t, double v[REPS_MAX]) {
        unsigned n = fg->nrep[t];

        memcpy(v, fg->rep[t], n * sizeof(*v));
        qsort(v, n, sizeof(*v), cmp_double);
        return n;
}

/* report_finish() - the medians, and 4x4 / 1x1 from them */
void report_finish(void) {
        double v[REPS_MAX];

        for (unsigned f = 0; f < _FIG_MAX; f++)
                for (unsigned t = 0; t < _TRANSPORT_MAX; t++) {
                        Figure *fg = &figs[f];
                        unsigned n = fg->nrep[t];

                        if (n == 0 || fg->note[t] != NOTE_NONE)
                                continue;
                        fg->value[t] = report_median(v, sorted_reps(fg, t, v));
                }
        for (unsigned t = 0; t < _TRANSPORT_MAX; t++) {
                double a = figs[FIG_MPMC].value[t], b = figs[FIG_TPUT_MSGS].value[t];

                if (!isnan(a) && !isnan(b) && b > 0) {
                        figs[FIG_MPMC_RATIO].value[t] = a / b;
                        figs[FIG_MPMC_RATIO].note[t] = NOTE_NONE;
                } else if (figs[FIG_MPMC].note[t] != NOTE_NONE)
                        figs[FIG_MPMC_RATIO].note[t] = figs[FIG_MPMC].note[t];
        }
}

/* ratio_of() - @x / @y for figure @fg, if that says something */
static bool ratio_of(const Figure *fg, double x, double y, double *ret) {
        /* below a microsecond of idle CPU a ratio says nothing */
        if (isnan(x) || isnan(y) || y <= 0 || (fg->unit == UNIT_CPU_US && (x < 1 || y < 1)))
                return false;
        *ret = x / y;
        return true;
}

/* ratio() - @a's median divided by @b's: the /X cells */
static bool ratio(const Figure *fg, TransportId a, TransportId b, double *ret) {
        return ratio_of(fg, fg->value[a], fg->value[b], ret);
}

/* ratio_spread() - the least and the greatest of @a's repetition i divided by @b's repetition i.
 * The transports ran interleaved, so the i-th of each saw the same speed regime of the machine:
 * these are the ratios a goal like "2x Boost" is about, and their range shows how far one run's
 * ratio can be trusted. False if either side has a note (a repetition failed), their counts
 * differ, or any pair has no ratio. */
static bool ratio_spread(const Figure *fg, TransportId a, TransportId b, double *lo, double *hi) {
        unsigned n = fg->nrep[a];
        double r;

        if (n == 0 || n != fg->nrep[b] || fg->note[a] != NOTE_NONE || fg->note[b] != NOTE_NONE)
                return false;
        *lo = INFINITY;
        *hi = -INFINITY;
        for (unsigned i = 0; i < n; i++) {
                if (!ratio_of(fg, fg->rep[a][i], fg->rep[b][i], &r))
                        return false;
                *lo = MIN(*lo, r);
                *hi = MAX(*hi, r);
        }
        return true;
}

static const char *note_text(Note n) {
        switch (n) {
        case NOTE_LIMITS: return "(limits)";
        case NOTE_ERROR: return "(error)";
        case NOTE_ONE_CPU: return "(1 CPU)";
        default: return "-";
        }
}

static void fmt_thousands(char *buf, size_t size, double v) {
        char tmp[32];
        size_t n, o = 0;

        snprintf(tmp, sizeof(tmp), "%.0f", v);
        n = strlen(tmp);
        for (size_t i = 0; i < n && o + 2 < size; i++) {
                if (i > 0 && (n - i) % 3 == 0)
                        buf[o++] = ',';
                buf[o++] = tmp[i];
        }
        buf[o] = '\0';
}

static void fmt_value(char *buf, size_t size, Unit u, double v) {
        switch (u) {
        case UNIT_MSGS:
                if (v >= 1e6)
                        snprintf(buf, size, "%.2f M", v / 1e6);
                else
                        snprintf(buf, size, "%.1f k", v / 1e3);
                break;
        case UNIT_MBS: fmt_thousands(buf, size, v); break;
        case UNIT_US: snprintf(buf, size, v < 10 ? "%.2f us" : v < 100 ? "%.1f us" : "%.0f us", v); break;
        case UNIT_NS:
                if (v >= 10000)
                        snprintf(buf, size, "%.1f us", v / 1e3);
                else
                        snprintf(buf, size, "%.0f ns", v);
                break;
        case UNIT_CPU_US:
                if (v >= 10000)
                        snprintf(buf, size, "%.1f ms", v / 1e3);
                else
                        snprintf(buf, size, "%.0f us", v);
                break;
        case UNIT_RATIO: snprintf(buf, size, "%.2fx", v); break;
        }
}

static bool has_value(const Figure *fg, TransportId t) {
        return !isnan(fg->value[t]);
}

/* A transport gets a column if any of its figures was tried. */
static bool shown(TransportId t) {
        for (unsigned f = 0; f < _FIG_MAX; f++)
                if (figs[f].note[t] != NOTE_NOT_RUN)
                        return true;
        return false;
}

/* The ratio columns of the row of @mine. */
static void print_ratios(const Figure *fg, TransportId mine) {
        char buf[16];
        double r;

        for (unsigned a = 0; a < ELEMENTSOF(alternatives); a++) {
                if (!shown(alternatives[a]))
                        continue;
                if (ratio(fg, mine, alternatives[a], &r))
                        snprintf(buf, sizeof(buf), r >= 100 ? "%.0fx" : "%.2fx", r);
                else
                        snprintf(buf, sizeof(buf), "-");
                printf(" %*s", RATIO_WIDTH, buf);
        }
        printf("\n");
}

/* fmt_bound() - one end of a spread: hundredths below 1, tenths below 10, whole numbers above,
 * rounded down for the low end and up for the high end, so that the range printed holds every
 * repetition's ratio and a goal like "at least 2x" never looks met by rounding alone. */
static void fmt_bound(char *buf, size_t size, double v, bool up) {
        static const double scale[] = { 1, 10, 100 };
        unsigned d = v < 1 ? 2 : v < 10 ? 1 : 0;

        /* the nudge keeps 0.29 (0.28999...) from going down to 0.28, 0.3 (0.30...04) up to 0.31 */
        v = up ? ceil(v * scale[d] - 1e-9) / scale[d] : floor(v * scale[d] + 1e-9) / scale[d];
        snprintf(buf, size, "%.*f", (int)d, v);
}

/* fmt_spread() - "1.8-2.6x", ".45-.52x": ends below 1 go without their leading zero, always, so
 * that a column reads alike and "0.45-0.52x" fits a ratio column. */
static void fmt_spread(char *buf, size_t size, double lo, double hi) {
        char a[16], b[16];

        fmt_bound(a, sizeof(a), lo, false);
        fmt_bound(b, sizeof(b), hi, true);
        snprintf(buf, size, "%s-%sx", a + (a[0] == '0' && a[1] == '.'), b + (b[0] == '0' && b[1] == '.'));
}

/* print_spread() - the row "  /X, min-max of the reps" under @fg's: blank value columns, the
 * spread of shmbox's ratio to each alternative in the /X columns. Nothing where no cell has two
 * repetitions or more: the spread of one is its ratio, already in the row above. */
static void print_spread(const Figure *fg, int columns) {
        char buf[40];
        bool any = false;
        double lo, hi;

        for (unsigned a = 0; a < ELEMENTSOF(alternatives); a++)
                any |= shown(alternatives[a]) && fg->nrep[TRANSPORT_SHMBOX] > 1 &&
                       ratio_spread(fg, TRANSPORT_SHMBOX, alternatives[a], &lo, &hi);
        if (!any)
                return;
        printf("%-*s", 34 + 10 * columns, "  /X, min-max of the reps");
        for (unsigned a = 0; a < ELEMENTSOF(alternatives); a++) {
                if (!shown(alternatives[a]))
                        continue;
                if (ratio_spread(fg, TRANSPORT_SHMBOX, alternatives[a], &lo, &hi))
                        fmt_spread(buf, sizeof(buf), lo, hi);
                else
                        snprintf(buf, sizeof(buf), "-");
                printf(" %*s", RATIO_WIDTH, buf);
        }
        printf("\n");
}

/* report_print_table() - the table, its legend and the run's settings, on stdout */
static void print_scale(const ReportScale *sc, unsigned depth);
static void print_bridge(const ReportBridge *br);
static void print_rpc(const ReportRpc *rp);
static void print_fanout(const ReportFanout *fo);

void report_print_table(const ReportInfo *info) {
        struct utsname u;
        int columns = 0;
        char buf[32];

        uname(&u);
        printf("shmbox-bench %s: %ld CPUs, Linux %s; median of %u; each side in its own process\n\n", shmbox_version(),
               sysconf(_SC_NPROCESSORS_ONLN), u.release, info->reps);
        bool rows = false;

        for (unsigned i = 0; i < ELEMENTSOF(table_rows); i++)
                for (unsigned t = 0; t < _TRANSPORT_MAX; t++)
                        rows |= figs[table_rows[i]].note[t] != NOTE_NOT_RUN;
        if (!rows) { /* only the scale, bridge or rpc group ran */
                if (info->scale)
                        print_scale(info->scale, info->depth);
                if (info->bridge)
                        print_bridge(info->bridge);
                if (info->rpc)
                        print_rpc(info->rpc);
                if (info->fanout)
                        print_fanout(info->fanout);
                for (unsigned t = 0; t < _TRANSPORT_MAX; t++)
                        if (info->missing[t])
                                printf("%s: %s\n", transport_name(t), info->missing[t]);
                if (info->crash_points)
                        printf("This build has the crash points compiled in (--enable-crash-points): shmbox's "
                               "figures include their cost.\n");
                printf("Compare figures only within one run: this machine's speed changes between runs.\n");
                return;
        }
        printf("%-34s", "figure");
        for (unsigned t = 0; t < _TRANSPORT_MAX; t++)
                if (shown(t)) {
                        printf(" %9s", transport_name(t));
                        columns++;
                }
        for (unsigned a = 0; a < ELEMENTSOF(alternatives); a++)
                if (shown(alternatives[a])) {
                        snprintf(buf, sizeof(buf), "/%s", transport_name(alternatives[a]));
                        printf(" %*s", RATIO_WIDTH, buf);
                }
        printf("\n");
        for (unsigned i = 0; i < ELEMENTSOF(table_rows); i++) {
                const Figure *fg = &figs[table_rows[i]];
                bool any = false;

                for (unsigned t = 0; t < _TRANSPORT_MAX; t++)
                        any |= fg->note[t] != NOTE_NOT_RUN;
                if (!any)
                        continue;
                printf("%-34s", fg->label);
                for (unsigned t = 0; t < _TRANSPORT_MAX; t++) {
                        if (!shown(t))
                                continue;
                        if (has_value(fg, t))
                                fmt_value(buf, sizeof(buf), fg->unit, fg->value[t]);
                        else
                                snprintf(buf, sizeof(buf), "%s", note_text(fg->note[t]));
                        printf(" %9s", buf);
                }
                print_ratios(fg, TRANSPORT_SHMBOX);
                /* MB/s repeats the msgs/s ratios; 4x4 / 1x1 is a ratio already */
                if (fg->unit == UNIT_MBS || fg->unit == UNIT_RATIO)
                        continue;
                print_spread(fg, columns);
                for (unsigned k = 1; k < ELEMENTSOF(ours); k++)
                        if (has_value(fg, ours[k])) {
                                snprintf(buf, sizeof(buf), "  %s/X", transport_name(ours[k]));
                                printf("%-*s", 34 + 10 * columns, buf);
                                print_ratios(fg, ours[k]);
                        }
        }

        printf("\n/X: shmbox's figure divided by X's; throughput above 1 and latency and CPU below 1 favour "
               "shmbox.\n");
        printf("/X, min-max of the reps: the least and the greatest of shmbox's figure divided by X's from the same "
               "repetition\n(the transports run interleaved), rounded outward (\".45\" is 0.45); none for MB/s (as "
               "msgs/s) or for a figure\nmeasured once (--quick, idle).\n");
        for (unsigned t = 0; t < _TRANSPORT_MAX; t++)
                if (shown(t))
                        printf("  %-9s %s\n", transport_name(t), transport_title(t));
        if (shown(TRANSPORT_ICEORYX))
                printf("  %-9s round trips copy 64 B into and out of the chunk; a full queue makes the "
                       "publisher spin on\n"
                       "  %-9s sched_yield() (iceoryx 2.0's WAIT_FOR_CONSUMER), which counts in the sender's "
                       "CPU time;\n"
                       "  %-9s no 4x4 row: iceoryx broadcasts, every subscriber gets every message, so 4 "
                       "receivers cannot share one stream.\n",
                       "iceoryx", "", "");
        if (shown(TRANSPORT_ZMQ))
                printf("  %-9s no 4x4 row: a PUSH socket deals its messages round-robin to the PULL sockets it "
                       "is connected to; no queue is\n"
                       "  %-9s shared by 4 receivers.\n",
                       "zmq", "");
        if (shown(TRANSPORT_SPSC))
                printf("  %-9s it polls: its one-way sides are pinned to the round trips' two CPUs; no same-CPU "
                       "round trip (a poller\n"
                       "  %-9s spins away the time slice its peer needs), no idle row (it would burn a CPU), no "
                       "4x4 (one producer, one\n"
                       "  %-9s consumer). Its /spsc column is shmbox's distance to this machine's ceiling for "
                       "small messages and round trips.\n",
                       "spsc", "", "");
        for (unsigned t = 0; t < _TRANSPORT_MAX; t++)
                if (info->missing[t])
                        printf("  %-9s %s\n", transport_name(t), info->missing[t]);
        printf("Channels hold %u messages, at most %u MiB of them (1 MiB: %u)%s; pipes and sockets their default "
               "buffers",
               info->depth, info->depth_bytes >> 20, MIN(info->depth, info->depth_bytes >> 20),
               shown(TRANSPORT_ICEORYX) ? " (iceoryx: the subscriber queue)" : "");
        if (shown(TRANSPORT_ZMQ))
                printf("; ZeroMQ: SNDHWM and RCVHWM of that many");
        if (shown(TRANSPORT_MQ)) {
                printf("; POSIX mq");
                for (unsigned i = 0; i < REPORT_SIZES; i++)
                        if (info->mq_depth[i])
                                printf(" %u at %s,", info->mq_depth[i], report_size_name(i));
                printf(" as many as fit (%s)", info->mq_limits);
        }
        printf(".\n");
        printf("%u ms per throughput and 4x4 run, %u ms per latency run; round trips pinned to CPUs %d "
               "and %d; shmbox spin: ",
               info->duration_ms, info->rtt_ms, info->cpus[0], info->cpus[1]);
        if (info->spin_us < 0)
                printf("the library's default.\n");
        else
                printf("%d us (--spin).\n", info->spin_us);
        if (info->crash_points)
                printf("This build has the crash points compiled in (--enable-crash-points): shmbox's figures "
                       "include their cost.\n");
        if (info->scale) {
                printf("\n");
                print_scale(info->scale, info->depth);
        }
        if (info->bridge) {
                printf("\n");
                print_bridge(info->bridge);
        }
        if (info->rpc) {
                printf("\n");
                print_rpc(info->rpc);
        }
        if (info->fanout) {
                printf("\n");
                print_fanout(info->fanout);
        }
        printf("Compare figures only within one run: this machine's speed changes between runs.\n");
}

static void print_scale(const ReportScale *sc, unsigned depth) {
        char a[32], b[32];

        printf("scale: one shmboxd, %u mailboxes (%u slots of 64 B), %u client processes attached, one per "
               "mailbox\n",
               sc->mailboxes, depth, sc->attached);
        printf("%-34s %9.1f ms (%.1f us each)\n", "create N mailboxes", sc->create_ms,
               sc->mailboxes ? sc->create_ms * 1e3 / sc->mailboxes : 0.0);
        printf("%-34s %9.1f us\n", "attach latency p50", sc->attach_p50_us);
        printf("%-34s %9.1f us\n", "attach latency p99", sc->attach_p99_us);
        printf("%-34s %9.1f ms\n", "fork + attach all N clients", sc->all_attached_ms);
        printf("%-34s %9ld KiB\n", "shmboxd VmRSS before", sc->rss_before_kb);
        printf("%-34s %9ld KiB (+%.1f KiB per mailbox+client)\n", "shmboxd VmRSS, N attached", sc->rss_with_kb,
               sc->mailboxes ? (double)(sc->rss_with_kb - sc->rss_before_kb) / sc->mailboxes : 0.0);
        printf("%-34s %9ld KiB\n", "shmboxd VmHWM before", sc->hwm_before_kb);
        printf("%-34s %9ld KiB\n", "shmboxd VmHWM, N attached", sc->hwm_with_kb);
        fmt_value(a, sizeof(a), UNIT_MSGS, sc->msgs_loaded);
        fmt_value(b, sizeof(b), UNIT_MSGS, sc->msgs_fresh);
        printf("%-34s %9s\n", "64 B one-way msgs/s, N attached", a);
        printf("%-34s %9s\n", "64 B one-way msgs/s, fresh box", b);
        printf("%-34s %9.2f\n", "  N attached / fresh", sc->msgs_fresh > 0 ? sc->msgs_loaded / sc->msgs_fresh : NAN);
        printf("%-34s %9u\n", "left in /dev/shm after clean-up", sc->left_in_shm);
}

static double bridge_ratio(double a, double b) {
        return a > 0 && b > 0 ? a / b : NAN;
}

/* The bridge group's cases, as the rows and --json name them (bench/bridge.c runs them). */
static const char *const bridge_case_titles[_BRIDGE_CASE_MAX] = { "single server", "R3 cluster" };
static const char *const bridge_case_keys[_BRIDGE_CASE_MAX] = { "single", "cluster_r3" };

/* The sides through the bridges, as the rows and --json name them. */
static const char *const bridge_side_titles[] = { "bridge end-to-end", "bridge stream-ack" };
static const char *const bridge_side_keys[] = { "end_to_end", "stream_ack" };
_Static_assert(BRIDGE_SIDE_END_TO_END == 0 && BRIDGE_SIDE_STREAM_ACK == 1 && BRIDGE_SIDE_NATS == 2,
               "two sides through the bridges, then libnats alone");

/* The heading "64 B <case>, <figure>", then a row per delivery mode: its figure, libnats
 * alone's, the ratio. */
static void print_bridge_rows(const char *title, const char *figure, Unit u, const double *v) {
        char a[32], b[32];

        printf("64 B %s, %s\n", title, figure);
        fmt_value(b, sizeof(b), u, v[BRIDGE_SIDE_NATS]);
        for (unsigned k = 0; k < BRIDGE_SIDE_NATS; k++) {
                fmt_value(a, sizeof(a), u, v[k]);
                printf("  %-32s %9s %9s %9.2f\n", bridge_side_titles[k], a, b, bridge_ratio(v[k], v[BRIDGE_SIDE_NATS]));
        }
}

static void print_bridge(const ReportBridge *br) {
        if (br->skipped[0]) {
                printf("bridge: SKIPPED: %s\n", br->skipped);
                return;
        }
        printf("bridge: %u B messages from a mailbox on host A through shmbox-bridge, JetStream and shmbox-bridge "
               "to a\nmailbox on host B (two shmboxd), next to libnats alone; file store, work-queue streams; "
               "mailboxes of\n%u slots; %u messages a run, latency over %u single messages. On one nats-server on "
               "loopback,\nthen on a JetStream cluster of three on loopback, every stream at replicas = 3 (R3)\n",
               br->payload, br->slots, br->messages, br->pings);
        printf("%-34s %9s %9s %9s\n", "figure", "bridge", "libnats", "/libnats");
        for (unsigned c = 0; c < _BRIDGE_CASE_MAX; c++) {
                const ReportBridgeCase *bc = &br->cases[c];

                if (!bc->ran) {
                        printf("64 B %s: not measured\n", bridge_case_titles[c]);
                        continue;
                }
                print_bridge_rows(bridge_case_titles[c], "msgs/s", UNIT_MSGS, bc->msgs);
                print_bridge_rows(bridge_case_titles[c], "latency p50", UNIT_US, bc->p50_us);
                print_bridge_rows(bridge_case_titles[c], "latency p99", UNIT_US, bc->p99_us);
        }
        printf("%-34s %9u\n", "left in /dev/shm after clean-up", br->left_in_shm);
        for (unsigned c = 0; c < _BRIDGE_CASE_MAX; c++)
                if (br->cases[c].ran && br->cases[c].placement[0])
                        printf("  %s: %s\n", bridge_case_titles[c], br->cases[c].placement);
        printf("  bridge   shmbox_send on A -> bridge A (peek, publish with an id) -> bridge B (fetch what fits,\n"
               "           send, ack) -> shmbox_recv on B; bridge A releases the message from A's mailbox when\n"
               "           B confirms it committed it (end-to-end) or on the stream's ack (stream-ack)\n"
               "  libnats  js_PublishAsync with ids, %u unacked at most -> pull Fetch(%u) + Ack, same stream and\n"
               "           consumer settings; latency: js_Publish (waits for the stream's ack), then Fetch(1)\n"
               "/libnats: the bridge's figure divided by libnats alone's; msgs/s above 1 and latency below 1 "
               "favour the bridge.\n",
               br->slots, br->slots);
}

/* The rpc group's rows (bench/rpc.c), as the table and --json name them. */
static const char *const rpc_titles[_RPC_MAX] = { "shmbox", "sd-bus", "zmq" };
static const char *const rpc_keys[_RPC_MAX] = { "shmbox", "sdbus", "zmq" };

static void print_rpc(const ReportRpc *rp) {
        char a[32];

        printf("rpc: request/reply round trip, one request at a time, client and server in their own processes "
               "(server\non CPU %d, client on CPU %d; -1: not pinned); median of %u runs of %u ms each\n",
               rp->cpus[0], rp->cpus[1], rp->reps, rp->duration_ms);
        printf("%-34s", "figure");
        for (unsigned w = 0; w < _RPC_MAX; w++)
                if (rp->asked[w] && !rp->missing[w][0])
                        printf(" %9s", rpc_titles[w]);
        for (unsigned w = 1; w < _RPC_MAX; w++)
                if (rp->asked[RPC_SHMBOX] && rp->asked[w] && !rp->missing[w][0])
                        printf(" %9s", w == RPC_SDBUS ? "/sd-bus" : "/zmq");
        printf("\n");
        for (unsigned s = 0; s < RPC_SIZES; s++)
                for (unsigned p = 0; p < 3; p++) {
                        const double(*v)[RPC_SIZES] = p == 0 ? rp->p50_us : p == 1 ? rp->p99_us : rp->trips;
                        char title[64];

                        snprintf(title, sizeof(title), "%s round trip, %s", s == 0 ? "64 B" : "4 KiB",
                                 p == 0   ? "p50"
                                 : p == 1 ? "p99"
                                          : "round trips a run");
                        printf("%-34s", title);
                        for (unsigned w = 0; w < _RPC_MAX; w++)
                                if (rp->asked[w] && !rp->missing[w][0]) {
                                        if (p < 2)
                                                fmt_value(a, sizeof(a), UNIT_US, v[w][s]);
                                        else
                                                snprintf(a, sizeof(a), "%.0f", v[w][s]);
                                        printf(" %9s", a);
                                }
                        for (unsigned w = 1; w < _RPC_MAX; w++)
                                if (rp->asked[RPC_SHMBOX] && rp->asked[w] && !rp->missing[w][0]) {
                                        if (p < 2 && v[RPC_SHMBOX][s] > 0 && v[w][s] > 0)
                                                printf(" %9.3f", v[RPC_SHMBOX][s] / v[w][s]);
                                        else
                                                printf(" %9s", "-");
                                }
                        printf("\n");
                }
        for (unsigned w = 0; w < _RPC_MAX; w++)
                if (rp->asked[w] && rp->missing[w][0])
                        printf("  %-7s %s\n", rpc_titles[w], rp->missing[w]);
        if (rp->asked[RPC_SHMBOX] && !rp->missing[RPC_SHMBOX][0])
                printf("  shmbox  shmbox_request() -> shmbox_recv_request() + shmbox_reply() (the client's reply "
                       "mailbox)\n");
        if (rp->asked[RPC_SDBUS] && !rp->missing[RPC_SDBUS][0])
                printf("  sd-bus  sd_bus_call() of a method with one \"ay\" argument -> a method return with the same "
                       "bytes,\n          client -> dbus-daemon -> server and back; a private dbus-daemon this run "
                       "started\n");
        if (rp->asked[RPC_ZMQ] && !rp->missing[RPC_ZMQ][0])
                printf("  zmq     ZeroMQ REQ -> REP over ipc://\n");
        printf("/X: shmbox's latency divided by X's; below 1 favours shmbox.\n");
}

/* The fan-out group's rows (bench/fanout.c), as the table and --json name them. */
static const char *const fanout_titles[_FAN_MAX] = { "shmbox", "iceoryx", "zmq" };

static const char *fanout_size_name(unsigned s) {
        return s == 0 ? "64 B" : "64 KiB";
}

static void print_fanout(const ReportFanout *fo) {
        static const char *const what[] = { "msgs/s per subscriber", "delivered", "latency p50", "latency p99",
                                            "late receives" };
        bool shown[_FAN_MAX];
        char a[32];

        printf("fanout: one publisher, N subscribers, each in its own process (not pinned); mailboxes and queues "
               "of %u;\nmsgs/s: %u ms of sending, delivered msgs/s of each subscriber (mean over them); latency: "
               "one message\nevery %u us for %u ms, send to arrival at each subscriber; median of %u runs\n",
               fo->depth, fo->duration_ms, fo->gap_us, fo->latency_ms, fo->reps);
        printf("%-40s", "figure");
        for (unsigned w = 0; w < _FAN_MAX; w++) {
                shown[w] = fo->asked[w] && !fo->missing[w][0];
                if (shown[w])
                        printf(" %9s", fanout_titles[w]);
        }
        for (unsigned w = 1; w < _FAN_MAX; w++)
                if (shown[FAN_SHMBOX] && shown[w])
                        printf(" %9s", w == FAN_ICEORYX ? "/iceoryx" : "/zmq");
        printf("\n");
        for (unsigned f = 0; f < ELEMENTSOF(what); f++)
                for (unsigned s = 0; s < FANOUT_SIZES; s++)
                        for (unsigned k = 0; k < FANOUT_NS; k++) {
                                const double(*v)[FANOUT_SIZES][FANOUT_NS] = f == 0   ? fo->msgs
                                                                            : f == 1 ? fo->delivered
                                                                            : f == 2 ? fo->p50_us
                                                                                     : fo->p99_us;
                                bool late = f == 4;
                                char title[64];

                                snprintf(title, sizeof(title), "%s x %u, %s", fanout_size_name(s), fanout_ns[k],
                                         what[f]);
                                printf("%-40s", title);
                                for (unsigned w = 0; w < _FAN_MAX; w++) {
                                        if (!shown[w])
                                                continue;
                                        if (late)
                                                snprintf(a, sizeof(a), "%u", fo->late[w][s][k]);
                                        else if (f == 1)
                                                snprintf(a, sizeof(a), isnan(v[w][s][k]) ? "-" : "%.4f", v[w][s][k]);
                                        else
                                                fmt_value(a, sizeof(a), f == 0 ? UNIT_MSGS : UNIT_US, v[w][s][k]);
                                        printf(" %9s", a);
                                }
                                for (unsigned w = 1; w < _FAN_MAX; w++)
                                        if (shown[FAN_SHMBOX] && shown[w]) {
                                                if (f != 1 && !late && v[FAN_SHMBOX][s][k] > 0 && v[w][s][k] > 0)
                                                        printf(" %9.2f", v[FAN_SHMBOX][s][k] / v[w][s][k]);
                                                else
                                                        printf(" %9s", "-");
                                        }
                                printf("\n");
                        }
        for (unsigned w = 0; w < _FAN_MAX; w++)
                if (fo->asked[w] && fo->missing[w][0])
                        printf("  %-7s %s\n", fanout_titles[w], fo->missing[w]);
        if (shown[FAN_SHMBOX])
                printf("  shmbox   a broadcast mailbox: shmbox_send (waits for the slowest subscriber) -> shmbox_recv "
                       "in "
                       "each\n");
        if (shown[FAN_ICEORYX])
                printf("  iceoryx  loan, copy in, publish (a full queue blocks the publisher) -> take, copy out, "
                       "release\n");
        if (shown[FAN_ZMQ])
                printf("  zmq      PUB -> SUB over ipc://, HWM %u: PUB drops what a subscriber's pipe cannot hold\n",
                       fo->depth);
        printf("delivered: the share of the sent messages a subscriber got (1: none lost)\n"
               "late receives: receives (with a deadline of %u ms) that returned a message only when the deadline "
               "was up:\n  not woken when it came, or not run for that long (a loaded machine); the sum over all "
               "runs\n"
               "/X: shmbox's figure divided by X's; msgs/s above 1 and latency below 1 favour shmbox.\n",
               fo->late_ms);
}

/* @v as a JSON string: quotes and backslashes escaped, control characters as '?' (it may name
 * a path). */
static void json_string(const char *v) {
        putchar('"');
        for (const char *c = v; *c; c++) {
                if (*c == '"' || *c == '\\')
                        putchar('\\');
                putchar((unsigned char)*c < 0x20 ? '?' : *c);
        }
        putchar('"');
}

static void json_number(double v) {
        if (isnan(v) || isinf(v))
                printf("null");
        else
                printf("%.6g", v);
}

enum { RATIO_MEDIAN, RATIO_MIN, RATIO_MAX };

/* json_ratios() - "@key": {"shmbox": {"pipe": r, ...}, "zerocopy": {...}, "batch": {...}}, each
 * r the ratio of the medians, or the least or greatest of the repetitions' (ratio_spread(); with
 * one repetition both are its ratio), null where there is none */
static void json_ratios(const Figure *fg, const char *key, int which) {
        printf("\"%s\": {", key);
        for (unsigned k = 0; k < ELEMENTSOF(ours); k++) {
                printf("%s\"%s\": {", k ? ", " : "", transport_name(ours[k]));
                for (unsigned a = 0; a < ELEMENTSOF(alternatives); a++) {
                        double r, lo, hi;
                        bool ok;

                        if (which == RATIO_MEDIAN) {
                                ok = ratio(fg, ours[k], alternatives[a], &r);
                        } else {
                                ok = ratio_spread(fg, ours[k], alternatives[a], &lo, &hi);
                                r = which == RATIO_MIN ? lo : hi;
                        }
                        printf("%s\"%s\": ", a ? ", " : "", transport_name(alternatives[a]));
                        if (ok)
                                json_number(r);
                        else
                                printf("null");
                }
                printf("}");
        }
        printf("}");
}

/* report_print_json() - every figure, the notes and the ratios, as one JSON object on stdout */
void report_print_json(const ReportInfo *info) {
        static const char *const units[] = { "msgs/s", "MB/s", "us", "ns/msg", "us", "ratio" };
        static const char *const notes[] = { "", "not run", "limits", "error", "one CPU" };
        struct utsname u;

        uname(&u);
        printf("{\n  \"tool\": \"shmbox-bench\",\n  \"version\": \"%s\",\n", shmbox_version());
        printf("  \"cpus\": %ld,\n  \"kernel\": \"%s\",\n", sysconf(_SC_NPROCESSORS_ONLN), u.release);
        printf("  \"reps\": %u,\n  \"quick\": %s,\n  \"duration_ms\": %u,\n  \"rtt_duration_ms\": %u,\n"
               "  \"idle_s\": %u,\n  \"depth\": %u,\n  \"depth_bytes\": %u,\n  \"pinned_cpus\": [%d, %d],\n  "
               "\"spin_us\": %d,\n",
               info->reps, info->quick ? "true" : "false", info->duration_ms, info->rtt_ms, info->idle_s, info->depth,
               info->depth_bytes, info->cpus[0], info->cpus[1], info->spin_us);
        printf("  \"crash_points\": %s,\n", info->crash_points ? "true" : "false");
        printf("  \"iceoryx_note\": ");
        if (info->iceoryx_note)
                printf("\"%s\",\n", info->iceoryx_note); /* our own text: nothing to escape */
        else
                printf("null,\n");
        printf("  \"missing\": {");
        for (unsigned t = 0, n = 0; t < _TRANSPORT_MAX; t++)
                if (info->missing[t]) /* our own texts: nothing to escape */
                        printf("%s\"%s\": \"%s\"", n++ ? ", " : "", transport_name(t), info->missing[t]);
        printf("},\n");
        printf("  \"mq_depth\": {");
        for (unsigned i = 0; i < REPORT_SIZES; i++)
                printf("%s\"%zu\": %u", i ? ", " : "", report_sizes[i], info->mq_depth[i]);
        printf("},\n  \"transports\": [");
        for (unsigned t = 0; t < _TRANSPORT_MAX; t++)
                printf("%s\"%s\"", t ? ", " : "", transport_name(t));
        printf("],\n  \"figures\": [");
        for (unsigned f = 0; f < _FIG_MAX; f++) {
                const Figure *fg = &figs[f];
                bool first = true;

                printf("%s\n    {\"id\": \"%s\", \"label\": \"%s\", \"unit\": \"%s\", \"better\": \"%s\",\n",
                       f ? "," : "", fg->id, fg->label, units[fg->unit], fg->higher_better ? "higher" : "lower");
                printf("     \"values\": {");
                for (unsigned t = 0; t < _TRANSPORT_MAX; t++) {
                        printf("%s\"%s\": ", t ? ", " : "", transport_name(t));
                        json_number(fg->value[t]);
                }
                printf("},\n     \"reps\": {");
                for (unsigned t = 0; t < _TRANSPORT_MAX; t++) {
                        double v[REPS_MAX];
                        unsigned n = sorted_reps(fg, t, v);

                        printf("%s\"%s\": [", t ? ", " : "", transport_name(t));
                        for (unsigned i = 0; i < n; i++) {
                                printf("%s", i ? ", " : "");
                                json_number(v[i]);
                        }
                        printf("]");
                }
                printf("},\n     \"notes\": {");
                for (unsigned t = 0; t < _TRANSPORT_MAX; t++)
                        if (fg->note[t] != NOTE_NONE) {
                                printf("%s\"%s\": \"%s\"", first ? "" : ", ", transport_name(t), notes[fg->note[t]]);
                                first = false;
                        }
                printf("},\n     ");
                json_ratios(fg, "ratios", RATIO_MEDIAN);
                printf(",\n     ");
                json_ratios(fg, "ratio_min", RATIO_MIN);
                printf(",\n     ");
                json_ratios(fg, "ratio_max", RATIO_MAX);
                printf("}");
        }
        printf("\n  ],\n");
        if (info->scale) {
                const ReportScale *sc = info->scale;

                printf("  \"scale\": {\"mailboxes\": %u, \"attached\": %u, \"create_ms\": ", sc->mailboxes,
                       sc->attached);
                json_number(sc->create_ms);
                printf(", \"attach_p50_us\": ");
                json_number(sc->attach_p50_us);
                printf(", \"attach_p99_us\": ");
                json_number(sc->attach_p99_us);
                printf(", \"all_attached_ms\": ");
                json_number(sc->all_attached_ms);
                printf(",\n            \"daemon_vmrss_kb_before\": %ld, \"daemon_vmrss_kb_attached\": %ld, "
                       "\"daemon_vmhwm_kb_before\": %ld, \"daemon_vmhwm_kb_attached\": %ld,\n",
                       sc->rss_before_kb, sc->rss_with_kb, sc->hwm_before_kb, sc->hwm_with_kb);
                printf("            \"msgs_per_s_64_attached\": ");
                json_number(sc->msgs_loaded);
                printf(", \"msgs_per_s_64_fresh\": ");
                json_number(sc->msgs_fresh);
                printf(", \"attached_to_fresh_ratio\": ");
                json_number(sc->msgs_fresh > 0 ? sc->msgs_loaded / sc->msgs_fresh : NAN);
                printf(", \"left_in_dev_shm\": %u},\n", sc->left_in_shm);
        }
        if (info->bridge) {
                const ReportBridge *br = info->bridge;

                printf("  \"bridge\": {\"skipped\": ");
                if (br->skipped[0]) {
                        json_string(br->skipped);
                        printf("},\n");
                } else {
                        printf("null, \"payload_bytes\": %u, \"slots\": %u, \"messages\": %u, "
                               "\"latency_messages\": %u,",
                               br->payload, br->slots, br->messages, br->pings);
                        for (unsigned c = 0; c < _BRIDGE_CASE_MAX; c++) {
                                const ReportBridgeCase *bc = &br->cases[c];
                                printf("\n    \"%s\": ", bridge_case_keys[c]);
                                if (!bc->ran) {
                                        printf("null,");
                                        continue;
                                }
                                printf("{\"nodes\": %u, \"replicas\": %u,", bc->nodes, bc->nodes);
                                for (unsigned k = 0; k < _BRIDGE_SIDE_MAX; k++) {
                                        const char *side = k < BRIDGE_SIDE_NATS ? bridge_side_keys[k] : "nats";

                                        printf("\n      \"%s_msgs_per_s\": ", side);
                                        json_number(bc->msgs[k]);
                                        printf(", \"%s_p50_us\": ", side);
                                        json_number(bc->p50_us[k]);
                                        printf(", \"%s_p99_us\": ", side);
                                        json_number(bc->p99_us[k]);
                                        putchar(',');
                                        if (k == BRIDGE_SIDE_NATS)
                                                continue;
                                        /* the ratios to libnats alone, as in the table */
                                        printf(" \"%s_msgs_ratio\": ", side);
                                        json_number(bridge_ratio(bc->msgs[k], bc->msgs[BRIDGE_SIDE_NATS]));
                                        printf(", \"%s_p50_ratio\": ", side);
                                        json_number(bridge_ratio(bc->p50_us[k], bc->p50_us[BRIDGE_SIDE_NATS]));
                                        printf(", \"%s_p99_ratio\": ", side);
                                        json_number(bridge_ratio(bc->p99_us[k], bc->p99_us[BRIDGE_SIDE_NATS]));
                                        putchar(',');
                                }
                                printf("\n      \"placement\": ");
                                json_string(bc->placement);
                                printf("},");
                        }
                        printf("\n    \"left_in_dev_shm\": %u},\n", br->left_in_shm);
                }
        }
        if (info->rpc) {
                const ReportRpc *rp = info->rpc;

                printf("  \"rpc\": {\"reps\": %u, \"duration_ms\": %u, \"cpus\": [%d, %d]", rp->reps, rp->duration_ms,
                       rp->cpus[0], rp->cpus[1]);
                for (unsigned w = 0; w < _RPC_MAX; w++) {
                        if (!rp->asked[w])
                                continue;
                        printf(",\n    \"%s\": ", rpc_keys[w]);
                        if (rp->missing[w][0]) {
                                printf("{\"missing\": ");
                                json_string(rp->missing[w]);
                                printf("}");
                                continue;
                        }
                        printf("{");
                        for (unsigned s = 0; s < RPC_SIZES; s++) {
                                printf("%s\"%zu\": {\"p50_us\": ", s ? ", " : "", rpc_sizes[s]);
                                json_number(rp->p50_us[w][s]);
                                printf(", \"p99_us\": ");
                                json_number(rp->p99_us[w][s]);
                                printf(", \"round_trips\": ");
                                json_number(rp->trips[w][s]);
                                printf("}");
                        }
                        printf("}");
                }
                printf("},\n");
        }
        if (info->fanout) {
                const ReportFanout *fo = info->fanout;

                printf("  \"fanout\": {\"reps\": %u, \"duration_ms\": %u, \"latency_ms\": %u, \"gap_us\": %u, "
                       "\"depth\": %u",
                       fo->reps, fo->duration_ms, fo->latency_ms, fo->gap_us, fo->depth);
                for (unsigned w = 0; w < _FAN_MAX; w++) {
                        if (!fo->asked[w])
                                continue;
                        printf(",\n    \"%s\": ", fanout_titles[w]);
                        if (fo->missing[w][0]) {
                                printf("{\"missing\": ");
                                json_string(fo->missing[w]);
                                printf("}");
                                continue;
                        }
                        printf("{");
                        for (unsigned s = 0; s < FANOUT_SIZES; s++)
                                for (unsigned k = 0; k < FANOUT_NS; k++) {
                                        printf("%s\"%zu_x%u\": {\"msgs_per_s_per_subscriber\": ",
                                               s || k ? ",\n      " : "", fanout_sizes[s], fanout_ns[k]);
                                        json_number(fo->msgs[w][s][k]);
                                        printf(", \"delivered\": ");
                                        json_number(fo->delivered[w][s][k]);
                                        printf(", \"p50_us\": ");
                                        json_number(fo->p50_us[w][s][k]);
                                        printf(", \"p99_us\": ");
                                        json_number(fo->p99_us[w][s][k]);
                                        printf(", \"late_receives\": %u}", fo->late[w][s][k]);
                                }
                        printf("}");
                }
                printf("},\n");
        }
        printf("  \"failures\": %u,\n  \"ok\": %s\n}\n", info->failures, info->failures ? "false" : "true");
}
