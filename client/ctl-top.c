/* SPDX-License-Identifier: MIT */
/* ctl-top.c — `shmboxctl top`: a refreshing view of every mailbox, like systemd-cgtop.
 *
 * Each refresh is one shmbox_list() (the daemon's figures, the public header only), then one
 * shmbox_stats() per mailbox for its traffic counters (bytes, waits); where that fails (no
 * right on the mailbox: -EACCES; a daemon before 0.3) those columns show '-'. Rates are the
 * differences of the counters between two refreshes over the time between them, so the first
 * refresh has none ('-'), and neither has a mailbox created again meanwhile (its counters went
 * back). WAIT/s counts the send and receive calls that had to wait (spinning or asleep) per
 * second. Sleepers (callers asleep now) are not shown: neither shmbox_info nor shmbox_stats
 * exposes them.
 *
 * The columns are one table, top_columns[]: a title, a width, a sort key and name, a cell
 * printer and a sort value. A column for new figures is one more entry and one more field in
 * TopRow. Ten columns and a name of 11 fit 80 columns.
 *
 * Interactive mode speaks plain ANSI (VT100) escapes to whatever terminal is there, so it works
 * over ssh and in tmux without ncurses: the alternate screen, the cursor hidden, each screen
 * written at once from a buffer, every line cut at the terminal's width. The terminal is put
 * in non-canonical mode without echo (signals stay on, so ^C is SIGINT) and restored on every
 * way out: q, SIGINT, SIGTERM, SIGHUP, end of input, an error. SIGWINCH redraws at the new
 * size. In batch mode (-b, or no terminal) each refresh is printed as plain text.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "client/ctl-top.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "client/ctl-print.h"
#include "client/shmbox.h"

#define TOP_FILTER_MAX 64

/* One mailbox as shown. */
typedef struct TopRow {
        char name[SHMBOX_NAME_MAX + 1];
        struct shmbox_info info;
        struct shmbox_counters total; /* from shmbox_stats() when has_stats */
        bool has_stats;
        double in_rate, out_rate;   /* messages per second; negative: not known yet */
        double in_bytes, out_bytes; /* bytes per second; negative: not known */
        double waits;               /* send and receive waits per second; negative: not known */
        bool shown;                 /* passes the filter */
} TopRow;

typedef struct TopColumn {
        const char *title;
        const char *name; /* for --sort */
        char key;         /* sorts by it in the interactive view */
        int width;        /* 0: the name column, which takes what the others leave */
        void (*cell)(const TopRow *row, char *buf, size_t size);
        double (*value)(const TopRow *row); /* the sort value, largest first; NULL: by name */
} TopColumn;

/* "-" for an unknown rate; one decimal below 10 (but 0 for none: a wait in 2 s is 0.5, not
 * 0), else a whole number, or k/M/G with one decimal above 9999: at most 6 characters below
 * 1000G. */
static void format_rate(double v, char *buf, size_t size) {
        if (v < 0)
                snprintf(buf, size, "-");
        else if (v == 0)
                snprintf(buf, size, "0");
        else if (v < 9.95)
                snprintf(buf, size, "%.1f", v);
        else if (v < 9999.5)
                snprintf(buf, size, "%.0f", v);
        else if (v < 999.95e3)
                snprintf(buf, size, "%.1fk", v / 1e3);
        else if (v < 999.95e6)
                snprintf(buf, size, "%.1fM", v / 1e6);
        else
                snprintf(buf, size, "%.1fG", v / 1e9);
}

static uint32_t row_age_ms(const TopRow *r) {
        uint32_t a = r->info.claimed ? r->info.oldest_claimed_age_ms : 0;
        uint32_t b = r->info.taken ? r->info.oldest_taken_age_ms : 0;

        return a > b ? a : b;
}

static void cell_depth(const TopRow *r, char *buf, size_t size) {
        snprintf(buf, size, "%" PRIu32 "/%" PRIu32, r->info.queued, r->info.slots);
}
static double value_depth(const TopRow *r) {
        return r->info.queued;
}
static void cell_in(const TopRow *r, char *buf, size_t size) {
        format_rate(r->in_rate, buf, size);
}
static double value_in(const TopRow *r) {
        return r->in_rate;
}
static void cell_out(const TopRow *r, char *buf, size_t size) {
        format_rate(r->out_rate, buf, size);
}
static double value_out(const TopRow *r) {
        return r->out_rate;
}
static void cell_in_bytes(const TopRow *r, char *buf, size_t size) {
        format_rate(r->in_bytes, buf, size);
}
static double value_in_bytes(const TopRow *r) {
        return r->in_bytes;
}
static void cell_out_bytes(const TopRow *r, char *buf, size_t size) {
        format_rate(r->out_bytes, buf, size);
}
static double value_out_bytes(const TopRow *r) {
        return r->out_bytes;
}
static void cell_waits(const TopRow *r, char *buf, size_t size) {
        format_rate(r->waits, buf, size);
}
static double value_waits(const TopRow *r) {
        return r->waits;
}
static void cell_attached(const TopRow *r, char *buf, size_t size) {
        snprintf(buf, size, "%" PRIu32, r->info.attached);
}
static double value_attached(const TopRow *r) {
        return r->info.attached;
}
static void cell_age(const TopRow *r, char *buf, size_t size) {
        uint32_t ms = row_age_ms(r);

        if (!r->info.claimed && !r->info.taken)
                snprintf(buf, size, "-");
        else if (ms < 1000)
                snprintf(buf, size, "%" PRIu32 "ms", ms);
        else if (ms < 600000)
                snprintf(buf, size, "%.1fs", ms / 1000.0);
        else
                snprintf(buf, size, "%" PRIu32 "m", ms / 60000);
}
static double value_age(const TopRow *r) {
        return row_age_ms(r);
}
static void cell_repairs(const TopRow *r, char *buf, size_t size) {
        snprintf(buf, size, "%" PRIu64, r->info.repairs);
}
static double value_repairs(const TopRow *r) {
        return (double)r->info.repairs;
}
static void cell_corrupt(const TopRow *r, char *buf, size_t size) {
        snprintf(buf, size, "%s", r->info.corrupt ? "yes" : "-");
}
static double value_corrupt(const TopRow *r) {
        return r->info.corrupt ? 1 : 0;
}
static void cell_name(const TopRow *r, char *buf, size_t size) {
        snprintf(buf, size, "%s", r->name);
}

static const TopColumn top_columns[] = {
        { "NAME", "name", 'n', 0, cell_name, NULL },
        { "DEPTH", "depth", 'd', 11, cell_depth, value_depth },
        { "IN/s", "in", 'i', 6, cell_in, value_in },
        { "OUT/s", "out", 'o', 6, cell_out, value_out },
        { "INB/s", "in-bytes", 'I', 6, cell_in_bytes, value_in_bytes },
        { "OUTB/s", "out-bytes", 'O', 6, cell_out_bytes, value_out_bytes },
        { "WAIT/s", "waits", 'w', 6, cell_waits, value_waits },
        { "ATT", "attached", 'a', 3, cell_attached, value_attached },
        { "OLDEST", "age", 'g', 6, cell_age, value_age },
        { "REP", "repairs", 'p', 4, cell_repairs, value_repairs },
        { "CORR", "corrupt", 'c', 4, cell_corrupt, value_corrupt },
};
#define TOP_N_COLUMNS (sizeof(top_columns) / sizeof(top_columns[0]))

/* What the view shows and how: options, then keys, change it. */
typedef struct Top {
        shmbox_client *client;
        bool batch;
        unsigned long iterations; /* 0: until told to stop */
        double delay;             /* seconds */
        char filter[TOP_FILTER_MAX + 1];
        size_t sort; /* index into top_columns */
        bool reverse;
        /* this refresh and the previous one (sorted by name, for the rates) */
        TopRow *rows, *prev;
        size_t n, n_prev;
        double t, t_prev; /* CLOCK_MONOTONIC seconds of the samples */
        int error;        /* the last shmbox_list() failure, 0 when it worked */
        /* interactive */
        bool editing; /* the filter is being typed */
        char edit[TOP_FILTER_MAX + 1];
        unsigned cols, lines;
} Top;

static volatile sig_atomic_t top_quit, top_resized;

static void top_on_signal(int sig) {
        if (sig == SIGWINCH)
                top_resized = 1;
        else
                top_quit = 1;
}

static double now_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int compare_names(const void *a, const void *b) {
        return strcmp(((const TopRow *)a)->name, ((const TopRow *)b)->name);
}

/* The order of the view (qsort_r(), @top the view): the sort column (numbers largest first),
 * then the name. */
static int compare_rows(const void *a, const void *b, void *userdata) {
        const Top *top = userdata;
        const TopRow *x = a, *y = b;
        const TopColumn *col = &top_columns[top->sort];
        int c = 0;

        if (col->value) {
                double u = col->value(x), v = col->value(y);

                c = u > v ? -1 : u < v ? 1 : 0;
        }
        if (c == 0)
                c = strcmp(x->name, y->name);
        return top->reverse ? -c : c;
}

/* Mark the rows that pass the filter and sort them. Return: how many pass. */
static size_t top_arrange(Top *top) {
        size_t shown = 0;

        for (size_t i = 0; i < top->n; i++) {
                top->rows[i].shown = !top->filter[0] || strstr(top->rows[i].name, top->filter);
                shown += top->rows[i].shown;
        }
        if (top->n > 1)
                qsort_r(top->rows, top->n, sizeof(top->rows[0]), compare_rows, top);
        return shown;
}

/* The counters of @old and @row went forward (not a mailbox made again, not saturated back). */
static bool counters_forward(const struct shmbox_counters *now, const struct shmbox_counters *old) {
        return now->sent_bytes >= old->sent_bytes && now->received_bytes >= old->received_bytes &&
               now->send_waits >= old->send_waits && now->recv_waits >= old->recv_waits;
}

/*
 * top_sample() - one refresh: list the mailboxes, read each one's counters, and compute the
 * rates against the last refresh
 *
 * Return: 0; a negative errno (kept in top->error too; the last rows stay shown).
 */
static int top_sample(Top *top) {
        const uint32_t unknown =
                SHMBOX_INFO_CORRUPT_POSITIONS | SHMBOX_INFO_CORRUPT_SEGMENT | SHMBOX_INFO_CORRUPT_COUNTERS;
        struct shmbox_entry *entries = NULL;
        TopRow *rows;
        size_t count;
        double t;
        int r;

        r = shmbox_list(top->client, &entries, &count);
        if (r < 0)
                return top->error = r;
        top->error = 0;
        rows = calloc(count ? count : 1, sizeof(*rows));
        if (!rows) {
                free(entries);
                return top->error = -ENOMEM;
        }
        for (size_t i = 0; i < count; i++) {
                TopRow *row = &rows[i];
                struct shmbox_stats *st = NULL;

                snprintf(row->name, sizeof(row->name), "%s", entries[i].name);
                row->info = entries[i].info;
                /* the library that filled it is ours: size checked all the same */
                if (shmbox_stats(top->client, row->name, &st) == 0 && st->size >= sizeof(*st)) {
                        row->info = st->info; /* the same moment as the counters */
                        row->total = st->total;
                        row->has_stats = true;
                }
                free(st);
        }
        t = now_s(); /* after the last look: the interval covers every mailbox's counters */
        for (size_t i = 0; i < count; i++) {
                TopRow *row = &rows[i], *old;

                row->in_rate = row->out_rate = row->in_bytes = row->out_bytes = row->waits = -1;
                old = top->prev ? bsearch(row, top->prev, top->n_prev, sizeof(*row), compare_names) : NULL;
                if (!old || !(t > top->t_prev))
                        continue;
                if (!(row->info.corrupt & unknown) && !(old->info.corrupt & unknown) &&
                    row->info.sent >= old->info.sent && row->info.received >= old->info.received) {
                        row->in_rate = (double)(row->info.sent - old->info.sent) / (t - top->t_prev);
                        row->out_rate = (double)(row->info.received - old->info.received) / (t - top->t_prev);
                }
                if (row->has_stats && old->has_stats && counters_forward(&row->total, &old->total)) {
                        const struct shmbox_counters *a = &row->total, *b = &old->total;

                        row->in_bytes = (double)(a->sent_bytes - b->sent_bytes) / (t - top->t_prev);
                        row->out_bytes = (double)(a->received_bytes - b->received_bytes) / (t - top->t_prev);
                        row->waits =
                                ((double)(a->send_waits - b->send_waits) + (double)(a->recv_waits - b->recv_waits)) /
                                (t - top->t_prev);
                }
        }
        free(entries);
        if (count > 1)
                qsort(rows, count, sizeof(*rows), compare_names);
        free(top->prev);
        top->prev = rows;
        top->n_prev = count;
        top->t_prev = t;
        /* the shown copy is sorted the view's way; prev stays sorted by name */
        free(top->rows);
        top->rows = malloc((count ? count : 1) * sizeof(*rows));
        if (!top->rows) {
                top->n = 0;
                return top->error = -ENOMEM;
        }
        memcpy(top->rows, rows, count * sizeof(*rows));
        top->n = count;
        top->t = t;
        return 0;
}

/* Append to a growing screen buffer; on failure the buffer is dropped and stays NULL. */
typedef struct Screen {
        char *buf;
        size_t len, cap;
        bool failed;
} Screen;

static void screen_add(Screen *s, const char *text, size_t n) {
        if (s->failed)
                return;
        if (s->len + n + 1 > s->cap) {
                size_t cap = (s->len + n + 1) * 2;
                char *b = realloc(s->buf, cap);

                if (!b) {
                        s->failed = true;
                        return;
                }
                s->buf = b;
                s->cap = cap;
        }
        memcpy(s->buf + s->len, text, n);
        s->len += n;
        s->buf[s->len] = '\0';
}

static void screen_puts(Screen *s, const char *text) {
        screen_add(s, text, strlen(text));
}

/* A line cut at @width columns (every byte we print is one column: names are ASCII). */
static void screen_line(Screen *s, const char *line, unsigned width, bool interactive) {
        size_t n = strlen(line);

        screen_add(s, line, n < width ? n : width);
        screen_puts(s, interactive ? "\033[K\n" : "\n");
}

/* The first line: the time, the totals over the rows shown, the filter. */
static void top_header(const Top *top, size_t shown, char *line, size_t size) {
        uint64_t queued = 0, repairs = 0;
        double in = 0, out = 0;
        unsigned corrupt = 0;
        bool rates = false;
        char clock[16] = "", in_s[16], out_s[16];
        time_t now = time(NULL);
        struct tm tm;

        for (size_t i = 0; i < top->n; i++) {
                const TopRow *r = &top->rows[i];

                if (!r->shown)
                        continue;
                queued += r->info.queued;
                repairs += r->info.repairs;
                corrupt += r->info.corrupt != 0;
                if (r->in_rate >= 0) {
                        rates = true;
                        in += r->in_rate;
                        out += r->out_rate;
                }
        }
        if (localtime_r(&now, &tm))
                strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
        format_rate(rates ? in : -1, in_s, sizeof(in_s));
        format_rate(rates ? out : -1, out_s, sizeof(out_s));
        /* under 80 columns with small numbers; the filter is on the help line when interactive */
        snprintf(line, size,
                 "%s  mailboxes %zu  queued %" PRIu64 "  in/out %s/%s/s  repairs %" PRIu64 "  corrupt %u%s%s", clock,
                 shown, queued, in_s, out_s, repairs, corrupt, top->filter[0] && top->batch ? "  filter: " : "",
                 top->batch ? top->filter : "");
}

/*
 * top_render() - the whole view into @s: header, help line (interactive), titles, rows
 * @width, @height: the terminal's size (batch: width only; every row is printed)
 */
static void top_render(const Top *top, Screen *s, unsigned width, unsigned height, bool interactive) {
        char line[512], cell[128];
        size_t shown = 0, printed = 0;
        int name_w = (int)width;

        for (size_t i = 0; i < top->n; i++)
                shown += top->rows[i].shown;
        if (interactive) {
                /* what the other columns leave, and the last column of the screen free */
                for (size_t c = 1; c < TOP_N_COLUMNS; c++)
                        name_w -= top_columns[c].width + 1;
                name_w--;
                if (name_w < 8)
                        name_w = 8;
                if (name_w > SHMBOX_NAME_MAX)
                        name_w = SHMBOX_NAME_MAX;
        } else {
                /* plain text: as wide as the longest name shown */
                name_w = (int)strlen(top_columns[0].title);
                for (size_t i = 0; i < top->n; i++)
                        if (top->rows[i].shown && (int)strlen(top->rows[i].name) > name_w)
                                name_w = (int)strlen(top->rows[i].name);
        }

        top_header(top, shown, line, sizeof(line));
        screen_line(s, line, width, interactive);
        if (interactive) {
                if (top->editing)
                        snprintf(line, sizeof(line), "filter: %s_   (Enter: keep, Esc: drop)", top->edit);
                else if (top->error)
                        snprintf(line, sizeof(line), "error: %s (retrying)   q: quit", shmbox_strerror(top->error));
                else
                        snprintf(line, sizeof(line),
                                 "%s%s%ssort: < > n d i o I O w a g p c  r: reverse  /: filter  q: quit",
                                 top->filter[0] ? "filter: " : "", top->filter, top->filter[0] ? "  " : "");
                screen_line(s, line, width, interactive);
        }

        /* the titles; the sort column's title in reverse video */
        {
                size_t off = 0;

                for (size_t c = 0; c < TOP_N_COLUMNS; c++) {
                        const TopColumn *col = &top_columns[c];
                        bool mark = interactive && c == top->sort;
                        int w = col->width ? col->width : name_w;

                        if (off + (size_t)w + 1 > width)
                                break;
                        off += (size_t)w + 1;
                        if (mark)
                                screen_puts(s, "\033[7m");
                        snprintf(line, sizeof(line), col->width ? "%*s" : "%-*s", w, col->title);
                        screen_puts(s, line);
                        if (mark)
                                screen_puts(s, "\033[m");
                        if (c + 1 < TOP_N_COLUMNS && off + (size_t)top_columns[c + 1].width + 1 <= width)
                                screen_puts(s, " ");
                }
                screen_puts(s, interactive ? "\033[K\n" : "\n");
        }

        for (size_t i = 0; i < top->n; i++) {
                const TopRow *r = &top->rows[i];
                size_t off = 0;

                if (!r->shown)
                        continue;
                if (interactive && printed + 4 >= height)
                        break; /* the last line stays empty: a newline there would scroll */
                line[0] = '\0';
                for (size_t c = 0; c < TOP_N_COLUMNS; c++) {
                        const TopColumn *col = &top_columns[c];
                        int w = col->width ? col->width : name_w;

                        col->cell(r, cell, sizeof(cell));
                        if (!col->width && (int)strlen(cell) > w) {
                                cell[w - 1] = '~'; /* a long name, cut */
                                cell[w] = '\0';
                        }
                        off += (size_t)snprintf(line + off, sizeof(line) - off, col->width ? "%s%*s" : "%s%-*s",
                                                c ? " " : "", w, cell);
                        if (off >= sizeof(line))
                                break;
                }
                screen_line(s, line, width, interactive);
                printed++;
        }
}

/* --- the terminal -------------------------------------------------------------------------- */

typedef struct Term {
        bool active;
        struct termios saved;
} Term;

static void term_size(unsigned *cols, unsigned *lines) {
        struct winsize ws;

        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
                *cols = ws.ws_col;
                *lines = ws.ws_row;
        } else {
                *cols = 80;
                *lines = 24;
        }
}

static void write_all(const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(STDOUT_FILENO, p, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return;
                p += k;
                n -= (size_t)k;
        }
}

static int term_enter(Term *t) {
        struct termios raw;

        if (tcgetattr(STDIN_FILENO, &t->saved) < 0)
                return -errno;
        raw = t->saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO); /* keys at once, not echoed; ISIG stays: ^C */
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
                return -errno;
        t->active = true;
        write_all("\033[?1049h\033[?25l", 14); /* the alternate screen, the cursor hidden */
        return 0;
}

static void term_leave(Term *t) {
        if (!t->active)
                return;
        write_all("\033[?25h\033[?1049l", 14);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &t->saved);
        t->active = false;
}

static void top_draw(Top *top) {
        Screen s = {};

        top_arrange(top);
        screen_puts(&s, "\033[H");
        top_render(top, &s, top->cols, top->lines, true);
        screen_puts(&s, "\033[J");
        if (!s.failed)
                write_all(s.buf, s.len);
        free(s.buf);
}

/* Move the sort column by @d, or to the column of key @key. Return: whether it was a sort key. */
static bool top_sort_key(Top *top, int key) {
        for (size_t c = 0; c < TOP_N_COLUMNS; c++)
                if (top_columns[c].key == key) {
                        top->sort = c;
                        return true;
                }
        return false;
}

/* One byte of input. Return: whether to quit. */
static bool top_key(Top *top, unsigned char k) {
        if (top->editing) {
                size_t n = strlen(top->edit);

                if (k == '\r' || k == '\n') {
                        memcpy(top->filter, top->edit, sizeof(top->filter));
                        top->editing = false;
                } else if (k == 27) { /* Esc: no filter */
                        top->filter[0] = '\0';
                        top->editing = false;
                } else if ((k == 127 || k == 8) && n > 0)
                        top->edit[n - 1] = '\0';
                else if (k > 32 && k < 127 && n < TOP_FILTER_MAX) {
                        top->edit[n] = (char)k;
                        top->edit[n + 1] = '\0';
                }
                return false;
        }
        switch (k) {
        case 'q':
        case 'Q': return true;
        case '<': top->sort = (top->sort + TOP_N_COLUMNS - 1) % TOP_N_COLUMNS; break;
        case '>': top->sort = (top->sort + 1) % TOP_N_COLUMNS; break;
        case 'r': top->reverse = !top->reverse; break;
        case '/':
                top->editing = true;
                memcpy(top->edit, top->filter, sizeof(top->edit));
                break;
        default: top_sort_key(top, k); break;
        }
        return false;
}

/*
 * top_interactive() - the live view until q, a signal, or the end of input
 *
 * Return: the exit status.
 */
static int top_interactive(Top *top) {
        Term term = {};
        unsigned long done = 0;
        int r;

        r = term_enter(&term);
        if (r < 0) {
                ctl_log_error("top: cannot set up the terminal: %s", strerror(-r));
                return EXIT_FAILURE;
        }
        term_size(&top->cols, &top->lines);
        while (!top_quit) {
                double deadline;

                top_sample(top);
                top_draw(top);
                done++;
                if (top->iterations && done >= top->iterations)
                        break;
                deadline = now_s() + top->delay;
                while (!top_quit) {
                        double left = deadline - now_s();
                        struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
                        unsigned char keys[64];
                        ssize_t k;
                        int n;

                        if (left <= 0)
                                break;
                        n = poll(&p, 1, (int)(left * 1000) + 1);
                        if (top_resized) {
                                top_resized = 0;
                                term_size(&top->cols, &top->lines);
                                top_draw(top);
                        }
                        if (n <= 0)
                                continue; /* a signal, or the time is up */
                        k = read(STDIN_FILENO, keys, sizeof(keys));
                        if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN)) {
                                top_quit = 1; /* the terminal went away */
                                break;
                        }
                        for (ssize_t i = 0; i < k && !top_quit; i++)
                                if (top_key(top, keys[i]))
                                        top_quit = 1;
                        if (!top_quit)
                                top_draw(top);
                }
        }
        term_leave(&term);
        return EXIT_SUCCESS;
}

/*
 * top_batch() - print one plain table per refresh, separated by an empty line
 *
 * Return: the exit status.
 */
static int top_batch(Top *top) {
        for (unsigned long done = 0; !top_quit;) {
                Screen s = {};
                int r = top_sample(top);

                if (r < 0) {
                        ctl_log_error("top: cannot list mailboxes: %s", shmbox_strerror(r));
                        return EXIT_FAILURE;
                }
                top_arrange(top);
                if (done > 0)
                        screen_puts(&s, "\n");
                top_render(top, &s, 512, 0, false);
                if (s.failed) {
                        free(s.buf);
                        ctl_log_error("out of memory");
                        return EXIT_FAILURE;
                }
                fputs(s.buf, stdout);
                free(s.buf);
                if (fflush(stdout) != 0 || ferror(stdout)) {
                        ctl_log_error("cannot write to stdout: %s", strerror(errno));
                        return EXIT_FAILURE;
                }
                if (top->iterations && ++done >= top->iterations)
                        break;
                {
                        double left = top->delay;
                        struct timespec ts = { .tv_sec = (time_t)left,
                                               .tv_nsec = (long)((left - (double)(time_t)left) * 1e9) };

                        /* a signal ends the sleep early; the loop then looks at top_quit */
                        nanosleep(&ts, NULL);
                }
        }
        return EXIT_SUCCESS;
}

int ctl_top(const char *socket, int argc, char **argv) {
        static const struct option options[] = {
                { "batch", no_argument, NULL, 'b' },       { "iterations", required_argument, NULL, 'n' },
                { "delay", required_argument, NULL, 'd' }, { "filter", required_argument, NULL, 'f' },
                { "sort", required_argument, NULL, 's' },  { "reverse", no_argument, NULL, 'r' },
                { "help", no_argument, NULL, 'h' },        {},
        };
        Top top = { .delay = 1.0 };
        bool sorted = false;
        int opt, r, status;
        char *end;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc + 1, argv - 1, ":bn:d:f:s:rh", options, NULL)) != -1) {
                switch (opt) {
                case 'b': top.batch = true; break;
                case 'r': top.reverse = true; break;
                case 'n':
                        errno = 0;
                        top.iterations = optarg[0] >= '0' && optarg[0] <= '9' ? strtoul(optarg, &end, 10) : 0;
                        if (top.iterations < 1 || top.iterations > 1000000000UL || errno || *end)
                                return ctl_usage_error(
                                        "top", "--iterations: invalid value '%s' (expected 1 to 1000000000)", optarg);
                        break;
                case 'd':
                        errno = 0;
                        top.delay = optarg[0] >= '0' && optarg[0] <= '9' ? strtod(optarg, &end) : -1;
                        if (errno || *end || !(top.delay >= 0.1 && top.delay <= 3600))
                                return ctl_usage_error(
                                        "top", "--delay: invalid value '%s' (expected 0.1 to 3600 seconds)", optarg);
                        break;
                case 'f':
                        if (strlen(optarg) > TOP_FILTER_MAX)
                                return ctl_usage_error("top", "--filter: '%s' is longer than a mailbox name", optarg);
                        snprintf(top.filter, sizeof(top.filter), "%s", optarg);
                        break;
                case 's':
                        sorted = false;
                        for (size_t c = 0; c < TOP_N_COLUMNS; c++)
                                if (strcmp(optarg, top_columns[c].name) == 0) {
                                        top.sort = c;
                                        sorted = true;
                                }
                        if (!sorted)
                                return ctl_usage_error("top",
                                                       "--sort: unknown column '%s' (name, depth, in, out, "
                                                       "in-bytes, out-bytes, waits, attached, age, repairs, "
                                                       "corrupt)",
                                                       optarg);
                        break;
                case 'h':
                        printf("Usage: shmboxctl [--socket PATH] %s\n\n%s", CTL_TOP_SYNOPSIS, CTL_TOP_HELP);
                        return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
                case ':': return ctl_usage_error("top", "option '%s' needs a value", argv[optind - 2]);
                default: return ctl_usage_error("top", "unknown option '%s'", argv[optind - 2]);
                }
        }
        if (optind <= argc)
                return ctl_usage_error("top", "unexpected argument '%s'", argv[optind - 1]);
        if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
                top.batch = true;

        r = shmbox_connect(socket, &top.client);
        if (r < 0) {
                ctl_log_error("cannot connect to %s: %s",
                              socket                                                  ? socket
                              : getenv("SHMBOX_SOCKET") && getenv("SHMBOX_SOCKET")[0] ? getenv("SHMBOX_SOCKET")
                                                                                      : SHMBOX_DEFAULT_SOCKET,
                              shmbox_strerror(r));
                return EXIT_FAILURE;
        }

        {
                struct sigaction sa = { .sa_handler = top_on_signal }; /* no SA_RESTART: poll returns */

                sigemptyset(&sa.sa_mask);
                sigaction(SIGINT, &sa, NULL);
                sigaction(SIGTERM, &sa, NULL);
                sigaction(SIGHUP, &sa, NULL);
                if (!top.batch)
                        sigaction(SIGWINCH, &sa, NULL);
        }
        status = top.batch ? top_batch(&top) : top_interactive(&top);
        shmbox_disconnect(top.client);
        free(top.rows);
        free(top.prev);
        return status;
}
