/* SPDX-License-Identifier: MIT */
/* End-to-end tests of looking inside without consuming: shmbox_peek_at(), `shmboxctl peek`
 * (snapshot and --follow) and `shmboxctl top` (batch mode, and interactive through tmux).
 *
 * Each test starts its own daemon (tests/harness.h). shmboxctl ($SHMBOXCTL) runs as a child
 * whose stdout and stderr go to files in the daemon's temporary directory, read once it is
 * done (or, for a follower, while it runs). The interactive top runs in a detached tmux server
 * of its own (-L, a socket named after this process), driven by send-keys and read by
 * capture-pane; the server is killed at the end of the test. Without tmux that test says SKIP
 * on stderr and passes, as tests/check.sh reports.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness.h"

#define ARGS_MAX 24
#define OTHER_UID 2004 /* a uid that is neither the test's nor the mailbox owner's */

static TestDaemon d;

static void setup(void) {
        unsetenv("SHMBOX_SOCKET");
        harness_daemon_start(&d, NULL);
}

/* Destroy every mailbox (they outlive a daemon), then stop it and check nothing is left. */
static void teardown(void) {
        shmbox_client *c = harness_connect(&d);
        struct shmbox_entry *e;
        size_t n;

        ck_assert_int_eq(shmbox_list(c, &e, &n), 0);
        for (size_t i = 0; i < n; i++)
                ck_assert_int_eq(shmbox_destroy(c, e[i].name), 0);
        free(e);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}

/* The contents of @path, NUL-terminated and malloc'ed ("" when it does not exist). */
static char *slurp(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t len = 0, n;
        char chunk[4096];

        buf = calloc(1, 1);
        ck_assert_ptr_nonnull(buf);
        if (!f)
                return buf;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
                buf = realloc(buf, len + n + 1);
                ck_assert_ptr_nonnull(buf);
                memcpy(buf + len, chunk, n);
                len += n;
                buf[len] = '\0';
        }
        fclose(f);
        return buf;
}

/*
 * spawn_ctl() - start $SHMBOXCTL --socket <ours> @args..., stdout to @out and stderr to @err
 * (files), as @uid if it is not 0 (the test must then be root)
 *
 * The child dies with the test process, so a failed test leaves no follower behind.
 */
static pid_t spawn_ctl_as(uid_t uid, const char *out, const char *err, const char *const *args) {
        const char *bin = getenv("SHMBOXCTL");
        const char *argv[ARGS_MAX + 4];
        char copy[PATH_MAX];
        pid_t parent = getpid(), pid;
        int n = 0;

        ck_assert_msg(bin && *bin, "SHMBOXCTL is not set (run the suites through make check)");
        if (uid != 0) { /* the build tree may be out of that user's reach (a private home) */
                harness_ctl_copy(d.dir, copy, sizeof(copy));
                bin = copy;
        }
        argv[n++] = bin;
        argv[n++] = "--socket";
        argv[n++] = d.socket;
        for (int i = 0; args[i]; i++) {
                ck_assert_int_lt(n, ARGS_MAX + 3);
                argv[n++] = args[i];
        }
        argv[n] = NULL;
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fo, fe, fi;

                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(127);
                signal(SIGPIPE, SIG_DFL);
                fo = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                fe = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                fi = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (fo < 0 || fe < 0 || fi < 0 || dup2(fi, STDIN_FILENO) < 0 || dup2(fo, STDOUT_FILENO) < 0 ||
                    dup2(fe, STDERR_FILENO) < 0)
                        _exit(127);
                if (uid != 0 && (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0))
                        _exit(126);
                if (uid != 0)
                        harness_ctl_env(d.dir);
                execv(bin, (char **)argv);
                _exit(127);
        }
        return pid;
}

static char out_path[200], err_path[200];
static char *ctl_out, *ctl_err;

static void paths(void) {
        snprintf(out_path, sizeof(out_path), "%s/ctl.out", d.dir);
        snprintf(err_path, sizeof(err_path), "%s/ctl.err", d.dir);
}

/* Run shmboxctl with the NULL-terminated arguments to its end; its outputs in ctl_out/ctl_err.
 * Return: its exit status. */
static int ctl_as(uid_t uid, const char *first, ...) {
        const char *args[ARGS_MAX + 1];
        va_list ap;
        int n = 0, status;
        pid_t pid;

        va_start(ap, first);
        for (const char *a = first; a; a = va_arg(ap, const char *)) {
                ck_assert_int_lt(n, ARGS_MAX);
                args[n++] = a;
        }
        va_end(ap);
        args[n] = NULL;
        paths();
        pid = spawn_ctl_as(uid, out_path, err_path, args);
        status = harness_wait_exit(pid, harness_ms(20000));
        ck_assert_msg(status >= 0, "shmboxctl %s did not end", first);
        free(ctl_out);
        free(ctl_err);
        ctl_out = slurp(out_path);
        ctl_err = slurp(err_path);
        ck_assert_msg(WIFEXITED(status), "shmboxctl %s died of signal %d", first, WTERMSIG(status));
        return WEXITSTATUS(status);
}
#define ctl(...) ctl_as(0, __VA_ARGS__)

static void free_outputs(void) {
        free(ctl_out);
        free(ctl_err);
        ctl_out = ctl_err = NULL;
}

static shmbox *make_box(shmbox_client *c, const char *name, uint32_t slots) {
        struct shmbox_config cfg = { .slots = slots, .slot_size = 64 };
        shmbox *b;

        ck_assert_int_eq(shmbox_create(c, name, &cfg), 0);
        ck_assert_int_eq(shmbox_attach(c, name, &b), 0);
        return b;
}

static void send_str(shmbox *b, const char *s) {
        ck_assert_int_eq(shmbox_send(b, s, strlen(s), 0), 0);
}

/* --- shmbox_peek_at() ---------------------------------------------------------------------- */

START_TEST(test_peek_at_walks_the_queued_messages_and_leaves_them_queued) {
        shmbox_client *c = harness_connect(&d);
        shmbox *b = make_box(c, "walk", 4);
        struct shmbox_cursor cur = { .pos = SHMBOX_CURSOR_START };
        char buf[64];
        ssize_t n;

        ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), 0), -EAGAIN);
        send_str(b, "one");
        send_str(b, "two");
        send_str(b, "three");
        for (int lap = 0; lap < 2; lap++) {
                cur = (struct shmbox_cursor){ .pos = SHMBOX_CURSOR_START };
                ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), 0), 3);
                ck_assert_int_eq(memcmp(buf, "one", 3), 0);
                ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), 0), 3);
                ck_assert_int_eq(memcmp(buf, "two", 3), 0);
                ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, 4, 0), -EMSGSIZE); /* the cursor stays */
                ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), 0), 5);
                ck_assert_int_eq(memcmp(buf, "three", 5), 0);
                ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), 0), -EAGAIN);
                ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), 0), -EAGAIN);
                ck_assert_uint_eq(cur.missed, 0);
                ck_assert_uint_eq(cur.changed, 0);
        }
        /* a later message is shown from where the cursor stopped */
        send_str(b, "four");
        ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), 0), 4);
        /* nothing was taken: a receiver gets all four, in order */
        n = shmbox_recv(b, buf, sizeof(buf), 0);
        ck_assert_int_eq(n, 3);
        ck_assert_int_eq(memcmp(buf, "one", 3), 0);
        ck_assert_int_eq(shmbox_recv(b, buf, sizeof(buf), 0), 3);
        ck_assert_int_eq(shmbox_recv(b, buf, sizeof(buf), 0), 5);
        ck_assert_int_eq(shmbox_recv(b, buf, sizeof(buf), 0), 4);
        ck_assert_int_eq(shmbox_recv(b, buf, sizeof(buf), 0), -EAGAIN);

        cur.reserved[2] = 1;
        ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), 0), -EINVAL);
        cur.reserved[2] = 0;
        ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), 2), -EINVAL);
        ck_assert_int_eq(shmbox_peek_at(NULL, &cur, buf, sizeof(buf), 0), -EINVAL);
        ck_assert_int_eq(shmbox_peek_at(b, NULL, buf, sizeof(buf), 0), -EINVAL);
        shmbox_disconnect(c);
        shmbox_detach(b);
}
END_TEST

START_TEST(test_peek_at_skips_what_is_taken_or_being_written_and_follow_waits_for_the_writer) {
        shmbox_client *c = harness_connect(&d);
        shmbox *b = make_box(c, "states", 8);
        struct shmbox_cursor cur = { .pos = SHMBOX_CURSOR_START };
        const void *taken;
        void *slot;
        char buf[64];

        /* positions: 0 taken (a zero-copy peek holds it), 1 ready, 2 reserved, 3 ready */
        send_str(b, "held");
        ck_assert_int_eq(shmbox_peek(b, 0, &taken), 4);
        send_str(b, "r1");
        ck_assert_int_eq(shmbox_reserve(b, 2, 0, &slot), 0);
        send_str(b, "r3");

        /* the queued ones only: a taken message is not queued, a reserved one not committed */
        ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), 0), 2);
        ck_assert_int_eq(memcmp(buf, "r1", 2), 0);
        ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), 0), 2);
        ck_assert_int_eq(memcmp(buf, "r3", 2), 0);
        ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), 0), -EAGAIN);

        /* following: the taken one too, and the reserved one holds the cursor until committed */
        cur = (struct shmbox_cursor){ .pos = SHMBOX_CURSOR_START };
        ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), SHMBOX_PEEK_FOLLOW), 4);
        ck_assert_int_eq(memcmp(buf, "held", 4), 0);
        ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), SHMBOX_PEEK_FOLLOW), 2);
        ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), SHMBOX_PEEK_FOLLOW), -EAGAIN);
        ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), SHMBOX_PEEK_FOLLOW), -EAGAIN);
        memcpy(slot, "r2", 2);
        ck_assert_int_eq(shmbox_commit(b, slot, 2), 0);
        ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), SHMBOX_PEEK_FOLLOW), 2);
        ck_assert_int_eq(memcmp(buf, "r2", 2), 0);
        ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), SHMBOX_PEEK_FOLLOW), 2);
        ck_assert_int_eq(memcmp(buf, "r3", 2), 0);
        ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), SHMBOX_PEEK_FOLLOW), -EAGAIN);
        ck_assert_uint_eq(cur.missed, 0);

        /* a consumed message whose slot head passed is missed, and counted */
        cur = (struct shmbox_cursor){ .pos = SHMBOX_CURSOR_START };
        ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), SHMBOX_PEEK_FOLLOW), 4); /* held */
        ck_assert_int_eq(shmbox_release(b, taken), 0);
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(shmbox_recv(b, buf, sizeof(buf), 0), 2);
        ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), SHMBOX_PEEK_FOLLOW), -EAGAIN);
        ck_assert_uint_eq(cur.missed, 3);
        shmbox_disconnect(c);
        shmbox_detach(b);
}
END_TEST

/* --- shmboxctl peek ------------------------------------------------------------------------ */

START_TEST(test_ctl_peek_prints_the_queued_messages_like_recv_and_leaves_them_queued) {
        shmbox_client *c = harness_connect(&d);
        shmbox *b = make_box(c, "orders", 8);
        char buf[64];

        send_str(b, "first");
        send_str(b, "back\\slash\nnewline");
        ck_assert_int_eq(shmbox_send(b, "\x01\xff", 2, 0), 0);
        send_str(b, "four");

        ck_assert_int_eq(ctl("peek", "orders", NULL), 0);
        ck_assert_str_eq(ctl_out, "first\nback\\\\slash\\nnewline\n\\x01\xff\nfour\n");
        ck_assert_str_eq(ctl_err, "");
        ck_assert_int_eq(ctl("peek", "--json", "orders", "-n", "3", NULL), 0);
        ck_assert_str_eq(ctl_out, "{ \"length\": 5, \"text\": \"first\" }\n"
                                  "{ \"length\": 18, \"text\": \"back\\\\slash\\nnewline\" }\n"
                                  "{ \"length\": 2, \"base64\": \"Af8=\" }\n");
        ck_assert_int_eq(ctl("peek", "orders", "--count", "1", NULL), 0);
        ck_assert_str_eq(ctl_out, "first\n");

        /* all four are still there for a receiver */
        ck_assert_int_eq(ctl("recv", "orders", "--count", "4", "--timeout", "0", NULL), 0);
        ck_assert_str_eq(ctl_out, "first\nback\\\\slash\\nnewline\n\\x01\xff\nfour\n");
        ck_assert_int_eq(shmbox_recv(b, buf, sizeof(buf), 0), -EAGAIN);
        ck_assert_int_eq(ctl("peek", "orders", NULL), 0);
        ck_assert_str_eq(ctl_out, "");

        /* usage errors */
        ck_assert_int_eq(ctl("peek", NULL), 2);
        ck_assert_str_eq(ctl_err, "shmboxctl: peek: missing NAME (see 'shmboxctl peek --help')\n");
        ck_assert_int_eq(ctl("peek", "orders", "--count", "0", NULL), 2);
        ck_assert_int_eq(ctl("peek", "orders", "--json", "--null", NULL), 2);
        ck_assert_int_eq(ctl("peek", "nosuch", NULL), 1);
        ck_assert_int_eq(ctl("peek", "--help", NULL), 0);
        ck_assert_ptr_nonnull(strstr(ctl_out, "Usage: shmboxctl [--socket PATH] peek NAME"));
        free_outputs();
        shmbox_detach(b);
        shmbox_disconnect(c);
}
END_TEST

START_TEST(test_peek_without_the_receive_right_fails_with_a_clear_error) {
        shmbox_client *c = harness_connect(&d);
        struct shmbox_config cfg = { .slots = 4, .slot_size = 64 };
        struct shmbox_cursor cur = { .pos = SHMBOX_CURSOR_START };
        bool root = geteuid() == 0;
        shmbox *b;
        char buf[64];

        /* as root the peeker is another uid, with w through "others"; else the owner has w only */
        cfg.mode = root ? 0602 : 0200;
        ck_assert_int_eq(shmbox_create(c, "wonly", &cfg), 0);
        if (!root) {
                ck_assert_int_eq(shmbox_attach(c, "wonly", &b), 0);
                send_str(b, "secret");
                ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), 0), -EACCES);
                ck_assert_int_eq(shmbox_peek_at(b, &cur, buf, sizeof(buf), SHMBOX_PEEK_FOLLOW), -EACCES);
                shmbox_detach(b);
        } else {
                ck_assert_int_eq(shmbox_attach(c, "wonly", &b), 0);
                send_str(b, "secret");
                shmbox_detach(b);
        }
        ck_assert_int_eq(ctl_as(root ? OTHER_UID : 0, "peek", "wonly", NULL), 1);
        ck_assert_str_eq(ctl_out, "");
        ck_assert_msg(strstr(ctl_err, "shmboxctl: wonly: permission denied") &&
                              strstr(ctl_err, "peek needs the right to receive (r)"),
                      "stderr: %s", ctl_err);
        ck_assert_int_eq(ctl_as(root ? OTHER_UID : 0, "peek", "--follow", "wonly", NULL), 1);
        ck_assert_ptr_nonnull(strstr(ctl_err, "peek needs the right to receive (r)"));
        free_outputs();
        shmbox_disconnect(c);
}
END_TEST

#define FOLLOW_PER_SENDER 300

static void sender_child(const void *arg, int wfd) {
        const char *tag = arg;
        const char *sock = getenv("TOPEEK_SOCKET");
        shmbox_client *c;
        shmbox *b;
        char msg[32];

        if (shmbox_connect(sock, &c) < 0 || shmbox_attach(c, "stream", &b) < 0)
                _exit(2);
        for (int i = 0; i < FOLLOW_PER_SENDER; i++) {
                int n = snprintf(msg, sizeof(msg), "%s%04d", tag, i);

                if (shmbox_send(b, msg, (size_t)n, -1) < 0)
                        _exit(3);
        }
        harness_child_report(wfd, FOLLOW_PER_SENDER);
        shmbox_detach(b);
        shmbox_disconnect(c);
        _exit(0);
}

/* Count the complete lines of @s. */
static unsigned lines_of(const char *s) {
        unsigned n = 0;

        for (; *s; s++)
                n += *s == '\n';
        return n;
}

START_TEST(test_peek_follow_prints_every_message_of_two_concurrent_senders_in_their_order) {
        shmbox_client *c = harness_connect(&d);
        shmbox *b = make_box(c, "stream", 2 * FOLLOW_PER_SENDER + 8);
        const char *const args[] = { "peek", "stream", "--follow", NULL };
        HarnessChild s1, s2;
        int next[2] = { 0, 0 }, status;
        int64_t deadline;
        char *out = NULL, *line, *save;
        pid_t pid;

        send_str(b, "before");
        paths();
        pid = spawn_ctl_as(0, out_path, err_path, args);
        setenv("TOPEEK_SOCKET", d.socket, 1);
        s1 = harness_child_spawn(sender_child, "A");
        s2 = harness_child_spawn(sender_child, "B");
        ck_assert_int_eq(harness_child_read(&s1, harness_ms(20000)), FOLLOW_PER_SENDER);
        ck_assert_int_eq(harness_child_read(&s2, harness_ms(20000)), FOLLOW_PER_SENDER);
        harness_child_reap(&s1);
        harness_child_reap(&s2);

        /* wait for the follower to print them all, then stop it as a service manager would */
        deadline = harness_now_us() + (int64_t)harness_ms(20000) * 1000;
        for (;;) {
                free(out);
                out = slurp(out_path);
                if (lines_of(out) >= 1 + 2 * FOLLOW_PER_SENDER || harness_now_us() > deadline)
                        break;
                usleep(20000);
        }
        ck_assert_int_eq(kill(pid, SIGTERM), 0);
        status = harness_wait_exit(pid, harness_ms(5000));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
        free(out);
        out = slurp(out_path);
        ck_assert_uint_eq(lines_of(out), 1 + 2 * FOLLOW_PER_SENDER);
        line = strtok_r(out, "\n", &save);
        ck_assert_str_eq(line, "before");
        while ((line = strtok_r(NULL, "\n", &save))) {
                int who = line[0] == 'A' ? 0 : 1;
                char want[32];

                ck_assert_msg(line[0] == 'A' || line[0] == 'B', "line %s", line);
                snprintf(want, sizeof(want), "%c%04d", line[0], next[who]++);
                ck_assert_str_eq(line, want); /* each sender's messages, in its order, none lost */
        }
        ck_assert_int_eq(next[0], FOLLOW_PER_SENDER);
        ck_assert_int_eq(next[1], FOLLOW_PER_SENDER);
        free(out);
        out = slurp(err_path);
        ck_assert_str_eq(out, ""); /* no receiver: nothing missed, nothing changed */
        free(out);

        /* -n N: a follower that stops by itself, here at once since the mailbox holds more */
        ck_assert_int_eq(ctl("peek", "stream", "--follow", "-n", "2", NULL), 0);
        ck_assert_uint_eq(lines_of(ctl_out), 2);
        ck_assert_int_eq(strncmp(ctl_out, "before\n", 7), 0);
        free_outputs();
        shmbox_detach(b);
        shmbox_disconnect(c);
}
END_TEST

START_TEST(test_peek_follow_with_a_count_waits_for_new_messages_then_exits) {
        shmbox_client *c = harness_connect(&d);
        shmbox *b = make_box(c, "later", 8);
        const char *const args[] = { "peek", "later", "-f", "-n", "2", NULL };
        int status;
        char *out;
        pid_t pid;

        paths();
        pid = spawn_ctl_as(0, out_path, err_path, args);
        send_str(b, "x1");
        send_str(b, "x2");
        send_str(b, "x3");
        status = harness_wait_exit(pid, harness_ms(10000));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
        out = slurp(out_path);
        ck_assert_str_eq(out, "x1\nx2\n");
        free(out);
        shmbox_detach(b);
        shmbox_disconnect(c);
}
END_TEST

/* --- shmboxctl top ------------------------------------------------------------------------- */

/* The line of @table (one refresh) that starts with @name and a blank; NULL if none. */
static const char *row_of(const char *table, const char *name, char *line, size_t size) {
        size_t len = strlen(name);

        for (const char *p = table; p && *p;) {
                const char *end = strchr(p, '\n');
                size_t n = end ? (size_t)(end - p) : strlen(p);

                if (n > len && strncmp(p, name, len) == 0 && p[len] == ' ') {
                        snprintf(line, size, "%.*s", (int)n, p);
                        return line;
                }
                p = end ? end + 1 : NULL;
        }
        return NULL;
}

/* The whitespace-separated fields of @line into @f (at most @max). Return: how many. */
static int fields(char *line, char **f, int max) {
        int n = 0;
        char *save;

        for (char *t = strtok_r(line, " ", &save); t && n < max; t = strtok_r(NULL, " ", &save))
                f[n++] = t;
        return n;
}

/* Assert that the row of @first comes before the row of @second in @text. */
static void assert_before(const char *text, const char *first, const char *second) {
        char a[80], b[80];
        const char *pa, *pb;

        snprintf(a, sizeof(a), "\n%s ", first);
        snprintf(b, sizeof(b), "\n%s ", second);
        pa = strstr(text, a);
        pb = strstr(text, b);
        ck_assert_msg(pa && pb && pa < pb, "%s is not before %s in:\n%s", first, second, text);
}

START_TEST(test_top_in_batch_mode_shows_depth_and_rates_filters_and_sorts) {
        shmbox_client *c = harness_connect(&d);
        shmbox *a = make_box(c, "alpha", 16), *b = make_box(c, "beta", 32);
        const char *const args[] = { "top", "-b", "-n", "2", "-d", "2", NULL };
        char line[256], *f[16], *out, *second;
        int64_t deadline;
        int status;
        pid_t pid;

        for (int i = 0; i < 5; i++)
                send_str(a, "a");
        paths();
        pid = spawn_ctl_as(0, out_path, err_path, args);
        /* the first refresh is out: traffic now shows in the second */
        deadline = harness_now_us() + (int64_t)harness_ms(10000) * 1000;
        for (;;) {
                out = slurp(out_path);
                if (strstr(out, "beta ") || harness_now_us() > deadline)
                        break;
                free(out);
                usleep(10000);
        }
        ck_assert_ptr_nonnull(strstr(out, "beta "));
        free(out);
        /* between the two refreshes: 3 receives that wait on empty beta and time out, then
         * 10 messages of 5 bytes into beta */
        for (int i = 0; i < 3; i++) {
                char buf[64];

                ck_assert_int_eq(shmbox_recv(b, buf, sizeof(buf), 20), -ETIMEDOUT);
        }
        for (int i = 0; i < 10; i++)
                send_str(b, "bbbbb");
        status = harness_wait_exit(pid, harness_ms(10000));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
        out = slurp(out_path);

        /* the titles */
        ck_assert_ptr_nonnull(
                strstr(out, "\nNAME        DEPTH   IN/s  OUT/s  INB/s OUTB/s WAIT/s ATT OLDEST  REP CORR\n"));
        /* the first refresh: depth, no rates yet */
        ck_assert_ptr_nonnull(row_of(out, "alpha", line, sizeof(line)));
        ck_assert_int_eq(fields(line, f, 16), 11);
        ck_assert_str_eq(f[1], "5/16");
        for (int i = 2; i <= 6; i++)
                ck_assert_msg(strcmp(f[i], "-") == 0, "column %d of alpha's first row: %s", i, f[i]);
        ck_assert_str_eq(f[7], "1"); /* attached: this test's box */
        ck_assert_str_eq(f[10], "-");
        /* the second: beta got 10 messages, 50 bytes and 3 waits between the two, 2 s apart
         * (or more, on a loaded machine: rates above 0, at most what a second would give) */
        second = strstr(out, "\n\n");
        ck_assert_ptr_nonnull(second);
        ck_assert_ptr_nonnull(strstr(second, "mailboxes 2  queued 15  in/out "));
        ck_assert_ptr_nonnull(row_of(second, "beta", line, sizeof(line)));
        ck_assert_int_eq(fields(line, f, 16), 11);
        ck_assert_str_eq(f[1], "10/32");
        ck_assert_msg(strcmp(f[2], "0") != 0 && strcmp(f[2], "-") != 0, "IN/s of beta: %s", f[2]);
        ck_assert_str_eq(f[3], "0");
        ck_assert_msg(atof(f[4]) > 0 && atof(f[4]) <= 50, "INB/s of beta: %s", f[4]);
        ck_assert_msg(atof(f[4]) >= atof(f[2]) * 4, "INB/s %s against IN/s %s of beta", f[4], f[2]);
        ck_assert_str_eq(f[5], "0");
        ck_assert_msg(strcmp(f[6], "0") != 0 && strcmp(f[6], "-") != 0, "WAIT/s of beta: %s", f[6]);
        ck_assert_ptr_nonnull(row_of(second, "alpha", line, sizeof(line)));
        fields(line, f, 16);
        ck_assert_str_eq(f[2], "0");
        ck_assert_str_eq(f[4], "0");
        ck_assert_str_eq(f[6], "0");
        free(out);

        /* sorted by name by default; by depth, largest first; reversed */
        ck_assert_int_eq(ctl("top", "-b", "-n", "1", NULL), 0);
        ck_assert_ptr_nonnull(strstr(ctl_out, "\nNAME "));
        assert_before(ctl_out, "alpha", "beta");
        ck_assert_int_eq(ctl("top", "-b", "-n", "1", "--sort", "depth", NULL), 0);
        assert_before(ctl_out, "beta", "alpha");
        ck_assert_int_eq(ctl("top", "-b", "-n", "1", "-s", "depth", "-r", NULL), 0);
        assert_before(ctl_out, "alpha", "beta");
        ck_assert_int_eq(ctl("top", "-b", "-n", "1", "-s", "in-bytes", NULL), 0);
        assert_before(ctl_out, "alpha", "beta"); /* no rates in one refresh: by name */
        /* the filter */
        ck_assert_int_eq(ctl("top", "-b", "-n", "1", "-f", "alp", NULL), 0);
        ck_assert_ptr_nonnull(strstr(ctl_out, "\nalpha "));
        ck_assert_ptr_null(strstr(ctl_out, "\nbeta "));
        ck_assert_ptr_nonnull(strstr(ctl_out, "mailboxes 1  queued 5  in/out "));
        ck_assert_ptr_nonnull(strstr(ctl_out, "filter: alp"));
        /* usage errors */
        ck_assert_int_eq(ctl("top", "-b", "--sort", "size", NULL), 2);
        ck_assert_str_eq(ctl_err, "shmboxctl: top: --sort: unknown column 'size' (name, depth, in, out, in-bytes, "
                                  "out-bytes, waits, attached, age, repairs, corrupt) (see 'shmboxctl top "
                                  "--help')\n");
        ck_assert_int_eq(ctl("top", "-b", "-d", "0", NULL), 2);
        ck_assert_int_eq(ctl("top", "extra", NULL), 2);
        free_outputs();
        shmbox_detach(a);
        shmbox_detach(b);
        shmbox_disconnect(c);
}
END_TEST

/* tmux on a server of our own, named after the suite's stem so that the runner's unchecked
 * teardown can kill it after a failed test; the command line is built with @fmt.
 * Return: its exit status. */
static char tmux_socket[64];

static void tmux_name(void) {
        snprintf(tmux_socket, sizeof(tmux_socket), "%s-tmux", harness_stem());
}

static int tmux(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int tmux(const char *fmt, ...) {
        char cmd[1024];
        int n, status;
        va_list ap;

        n = snprintf(cmd, sizeof(cmd), "tmux -L %s ", tmux_socket);
        va_start(ap, fmt);
        vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
        va_end(ap);
        status = system(cmd);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The screen of the pane, as text (malloc'ed). */
static char *capture(void) {
        char path[200];

        snprintf(path, sizeof(path), "%s/screen.txt", d.dir);
        tmux("capture-pane -p -t top > %s 2>/dev/null", path);
        return slurp(path);
}

/* Wait until the screen holds @text (and, if @gone, no longer holds @gone). Return: the screen. */
static char *wait_screen(const char *text, const char *gone) {
        int64_t deadline = harness_now_us() + (int64_t)harness_ms(10000) * 1000;
        char *s;

        for (;;) {
                s = capture();
                if (strstr(s, text) && (!gone || !strstr(s, gone)))
                        return s;
                ck_assert_msg(harness_now_us() < deadline, "the screen never showed '%s'%s%s:\n%s", text,
                              gone ? " without " : "", gone ? gone : "", s);
                free(s);
                usleep(50000);
        }
}

/* The row (line) of the screen where @name starts a line, or -1. */
static int screen_row(const char *screen, const char *name) {
        int row = 0;
        size_t len = strlen(name);

        for (const char *p = screen; *p; row++) {
                if (strncmp(p, name, len) == 0 && p[len] == ' ')
                        return row;
                p = strchr(p, '\n');
                if (!p)
                        break;
                p++;
        }
        return -1;
}

START_TEST(test_top_through_tmux_sorts_filters_and_quits_restoring_the_terminal) {
        shmbox_client *c;
        shmbox *a, *b;
        const char *bin = getenv("SHMBOXCTL");
        char *s;

        if (system("command -v tmux >/dev/null 2>&1") != 0) {
                fprintf(stderr, "SKIP: top through tmux: tmux is not installed (Debian: apt-get install tmux)\n");
                return;
        }
        tmux_name();
        c = harness_connect(&d);
        a = make_box(c, "alpha", 16);
        b = make_box(c, "beta", 32);
        for (int i = 0; i < 3; i++)
                send_str(a, "a");
        for (int i = 0; i < 7; i++)
                send_str(b, "b");

        /* top in an 80x24 terminal; after it, the terminal's mode and a marker */
        ck_assert_int_eq(tmux("new-session -d -s top -x 80 -y 24 \"%s --socket %s top -d 0.5; "
                              "stty -a | tr ' ' '\\\\n' | grep -x -- '-*icanon'; echo TOP-EXITED; read x; "
                              "%s --socket %s top -d 0.5; "
                              "stty -a | tr ' ' '\\\\n' | grep -x -- '-*icanon'; echo TOP-AGAIN-EXITED; sleep 60\"",
                              bin, d.socket, bin, d.socket),
                         0);
        s = wait_screen("NAME", NULL);
        ck_assert_ptr_nonnull(strstr(s, "  mailboxes 2  queued 10  in/out "));
        ck_assert_ptr_nonnull(strstr(s, "q: quit"));
        ck_assert_int_lt(screen_row(s, "alpha"), screen_row(s, "beta")); /* by name */
        for (const char *p = s; *p;) {                                   /* nothing past 80 columns */
                const char *end = strchr(p, '\n');

                ck_assert_int_le(end ? end - p : (long)strlen(p), 80);
                if (!end)
                        break;
                p = end + 1;
        }
        free(s);

        /* d: by depth, largest first (beta 7 before alpha 3); r reverses */
        ck_assert_int_eq(tmux("send-keys -t top d"), 0);
        s = wait_screen("7/32", NULL);
        for (int tries = 0; screen_row(s, "beta") > screen_row(s, "alpha"); tries++) {
                ck_assert_int_lt(tries, 200);
                free(s);
                usleep(50000);
                s = capture();
        }
        free(s);
        ck_assert_int_eq(tmux("send-keys -t top r"), 0);
        for (int tries = 0;; tries++) {
                s = capture();
                if (screen_row(s, "alpha") >= 0 && screen_row(s, "alpha") < screen_row(s, "beta"))
                        break;
                ck_assert_int_lt(tries, 200);
                free(s);
                usleep(50000);
        }
        free(s);

        /* /: the filter, typed and kept with Enter */
        ck_assert_int_eq(tmux("send-keys -t top / b e t Enter"), 0);
        s = wait_screen("filter: bet", "\nalpha ");
        ck_assert_int_ge(screen_row(s, "beta"), 0);
        ck_assert_ptr_nonnull(strstr(s, "mailboxes 1"));
        free(s);

        /* q: quits, and the terminal is back in canonical mode with echo */
        ck_assert_int_eq(tmux("send-keys -t top q"), 0);
        s = wait_screen("TOP-EXITED", NULL);
        ck_assert_msg(strstr(s, "\nicanon\n") || strncmp(s, "icanon\n", 7) == 0, "screen:\n%s", s);
        ck_assert_ptr_null(strstr(s, "-icanon"));
        free(s);

        /* again, ended by ^C (SIGINT) this time: the terminal is restored too */
        ck_assert_int_eq(tmux("send-keys -t top Enter"), 0);
        s = wait_screen("NAME", "TOP-EXITED");
        free(s);
        ck_assert_int_eq(tmux("send-keys -t top C-c"), 0);
        s = wait_screen("TOP-AGAIN-EXITED", NULL);
        ck_assert_msg(strstr(s, "\nicanon\nTOP-AGAIN-EXITED"), "screen:\n%s", s);
        ck_assert_ptr_null(strstr(s, "-icanon"));
        free(s);

        tmux("kill-server 2>/dev/null");
        shmbox_detach(a);
        shmbox_detach(b);
        shmbox_disconnect(c);
}
END_TEST

/* After each top test, in the runner: no tmux server of ours is left, even after a failure. */
static void tmux_sweep(void) {
        tmux_name();
        tmux("kill-server >/dev/null 2>&1");
}

static Suite *topeek_suite(void) {
        Suite *s = suite_create("topeek");
        TCase *tc;

        tc = harness_tcase(s, "peek_at", 30, setup, teardown);
        tcase_add_test(tc, test_peek_at_walks_the_queued_messages_and_leaves_them_queued);
        tcase_add_test(tc, test_peek_at_skips_what_is_taken_or_being_written_and_follow_waits_for_the_writer);

        tc = harness_tcase(s, "peek", 60, setup, teardown);
        tcase_add_test(tc, test_ctl_peek_prints_the_queued_messages_like_recv_and_leaves_them_queued);
        tcase_add_test(tc, test_peek_without_the_receive_right_fails_with_a_clear_error);
        tcase_add_test(tc, test_peek_follow_prints_every_message_of_two_concurrent_senders_in_their_order);
        tcase_add_test(tc, test_peek_follow_with_a_count_waits_for_new_messages_then_exits);

        tc = harness_tcase(s, "top", 60, setup, teardown);
        tcase_add_unchecked_fixture(tc, NULL, tmux_sweep);
        tcase_add_test(tc, test_top_in_batch_mode_shows_depth_and_rates_filters_and_sorts);
        tcase_add_test(tc, test_top_through_tmux_sorts_filters_and_quits_restoring_the_terminal);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(topeek_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
