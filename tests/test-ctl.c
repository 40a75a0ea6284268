/* SPDX-License-Identifier: MIT */
/* End-to-end tests of shmboxctl: the real binary ($SHMBOXCTL), run as a subprocess against a
 * private shmboxd, checked by its exit status and its exact stdout and stderr.
 *
 * run() starts shmboxctl and waits for it: it feeds stdin, collects stdout and stderr through
 * pipes (poll, so a large output never deadlocks against a large input), and reaps the child
 * before it returns or fails the test. ctl() is run() with "--socket" and this test's daemon
 * prepended; its outputs stay in ctl_out/ctl_err until the next call. spawn_ctl() leaves one
 * running, for what must be watched while it runs (a recv printing as messages arrive). Every
 * child dies with the test process, so a failed test leaves no waiting recv behind.
 *
 * The JSON of `list --json` and `info --json` is checked by a small strict parser below (the
 * suite links no JSON library): it accepts RFC 8259 text only and records every scalar member
 * of every object, so a test can assert the exact set of keys and each value.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness.h"

#define ARGS_MAX 32
#define RUN_DEADLINE_MS 20000

static TestDaemon d;

/* The outputs of the last ctl() call, NUL-terminated (ctl_out may hold NULs: see ctl_out_len). */
static char *ctl_out, *ctl_err;
static size_t ctl_out_len;

/* Forget the outputs of the last call, before a run() that writes ctl_out/ctl_err directly. */
static void reset_output(void) {
        free(ctl_out);
        free(ctl_err);
        ctl_out = ctl_err = NULL;
        ctl_out_len = 0;
}

static void setup(void) {
        /* The environment of whoever runs the suite must not choose the socket for us. */
        unsetenv("SHMBOX_SOCKET");
        harness_daemon_start(&d, NULL);
}

static void teardown(void) {
        reset_output();
        harness_daemon_done(&d);
}

/* Append @n bytes to a growing buffer that is always NUL-terminated. */
static void buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n) {
        if (*len + n + 1 > *cap) {
                *cap = (*len + n + 1) * 2;
                *buf = realloc(*buf, *cap);
                ck_assert_ptr_nonnull(*buf);
        }
        memcpy(*buf + *len, data, n);
        *len += n;
        (*buf)[*len] = '\0';
}

/*
 * child_prepare() - in a forked child, before exec: undo what the test process changed and tie
 * the child's life to it
 *
 * Check ends a failed test by exiting its process, skipping the test's own cleanup: a recv
 * without --timeout left behind would wait forever, so the child dies with its parent.
 */
static void child_prepare(pid_t parent) {
        signal(SIGPIPE, SIG_DFL); /* an ignored signal would stay ignored across exec */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(127);
}

/*
 * run_argv() - run $SHMBOXCTL with @args, feeding @len bytes of @in (NULL: empty stdin)
 * @out, @out_len, @err: NULL, or receive stdout (with its length) and stderr, malloc'ed and
 *                       NUL-terminated; the caller frees them
 *
 * The child is always reaped here; if it runs past the deadline it is killed and the test fails.
 *
 * Return: the exit status, or 128 + the signal that ended the child.
 */
static int run_argv(const char *in, size_t len, char **out, size_t *out_len, char **err, const char *const *args) {
        const char *bin = getenv("SHMBOXCTL");
        const char *argv[ARGS_MAX + 2];
        char *obuf = NULL, *ebuf = NULL;
        size_t olen = 0, ocap = 0, elen = 0, ecap = 0, written = 0;
        int pin[2], pout[2], perr[2], status, n = 0;
        int64_t deadline;
        pid_t pid, parent;

        ck_assert_msg(bin && *bin, "SHMBOXCTL is not set (run the suites through make check)");
        argv[n++] = bin;
        for (int i = 0; args[i]; i++) {
                ck_assert_int_lt(n, ARGS_MAX + 1);
                argv[n++] = args[i];
        }
        argv[n] = NULL;

        /* A child that exits before reading all of stdin must not kill us with SIGPIPE. */
        signal(SIGPIPE, SIG_IGN);
        parent = getpid();
        ck_assert_int_eq(pipe2(pin, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(pout, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(perr, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                child_prepare(parent);
                if (dup2(pin[0], STDIN_FILENO) < 0 || dup2(pout[1], STDOUT_FILENO) < 0 ||
                    dup2(perr[1], STDERR_FILENO) < 0)
                        _exit(127);
                execv(bin, (char **)argv);
                _exit(127);
        }
        close(pin[0]);
        close(pout[1]);
        close(perr[1]);
        ck_assert_int_eq(fcntl(pin[1], F_SETFL, O_NONBLOCK), 0);
        if (!in || len == 0)
                pin[1] = (close(pin[1]), -1);

        buf_append(&obuf, &olen, &ocap, "", 0);
        buf_append(&ebuf, &elen, &ecap, "", 0);
        deadline = harness_now_us() + (int64_t)harness_ms(RUN_DEADLINE_MS) * 1000;
        while (pout[0] >= 0 || perr[0] >= 0) {
                struct pollfd pfd[3] = {
                        { .fd = pout[0], .events = POLLIN },
                        { .fd = perr[0], .events = POLLIN },
                        { .fd = pin[1], .events = POLLOUT },
                };
                int left = (int)((deadline - harness_now_us()) / 1000);
                char chunk[4096];
                ssize_t k;

                if (left <= 0 || poll(pfd, 3, left) == 0) {
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        ck_abort_msg("shmboxctl %s %s ... did not finish within %d ms", argv[1] ? argv[1] : "",
                                     argv[1] && argv[2] ? argv[2] : "", harness_ms(RUN_DEADLINE_MS));
                }
                for (int i = 0; i < 2; i++) {
                        int *fd = i == 0 ? &pout[0] : &perr[0];

                        if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        k = read(*fd, chunk, sizeof(chunk));
                        if (k > 0) {
                                if (i == 0)
                                        buf_append(&obuf, &olen, &ocap, chunk, (size_t)k);
                                else
                                        buf_append(&ebuf, &elen, &ecap, chunk, (size_t)k);
                        } else if (k == 0 || errno != EINTR) {
                                *fd = (close(*fd), -1);
                        }
                }
                if (pfd[2].revents & (POLLOUT | POLLERR | POLLHUP)) {
                        k = write(pin[1], in + written, len - written);
                        if (k > 0)
                                written += (size_t)k;
                        /* EPIPE: the child stopped reading; what it read is what counts. */
                        if (written == len || (k < 0 && errno != EAGAIN && errno != EINTR))
                                pin[1] = (close(pin[1]), -1);
                }
        }
        if (pin[1] >= 0)
                close(pin[1]);

        status = harness_wait_exit(pid, harness_ms(RUN_DEADLINE_MS));
        ck_assert_msg(status != -1, "shmboxctl %s closed its output but did not exit", argv[1] ? argv[1] : "");

        if (out) {
                *out = obuf;
                obuf = NULL;
        }
        if (out_len)
                *out_len = olen;
        if (err) {
                *err = ebuf;
                ebuf = NULL;
        }
        free(obuf);
        free(ebuf);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* run_argv() with the arguments as a NULL-terminated list. */
static int run(const char *in, size_t len, char **out, size_t *out_len, char **err, const char *arg0, ...)
        __attribute__((sentinel));
static int run(const char *in, size_t len, char **out, size_t *out_len, char **err, const char *arg0, ...) {
        const char *args[ARGS_MAX + 1];
        va_list ap;
        int n = 0;

        va_start(ap, arg0);
        for (const char *a = arg0; a; a = va_arg(ap, const char *)) {
                ck_assert_int_lt(n, ARGS_MAX);
                args[n++] = a;
        }
        va_end(ap);
        args[n] = NULL;
        return run_argv(in, len, out, out_len, err, args);
}

/* Run "shmboxctl --socket <our daemon> ARGS..." with @args; outputs into ctl_out/ctl_err. */
static int ctl_argv(const char *in, size_t len, const char *const *args) {
        const char *all[ARGS_MAX + 1] = { "--socket", d.socket };
        int n = 2;

        for (int i = 0; args[i]; i++) {
                ck_assert_int_lt(n, ARGS_MAX);
                all[n++] = args[i];
        }
        all[n] = NULL;
        reset_output();
        return run_argv(in, len, &ctl_out, &ctl_out_len, &ctl_err, all);
}

static int ctl_in(const char *in, size_t len, const char *arg0, ...) __attribute__((sentinel));
static int ctl_in(const char *in, size_t len, const char *arg0, ...) {
        const char *args[ARGS_MAX + 1];
        va_list ap;
        int n = 0;

        va_start(ap, arg0);
        for (const char *a = arg0; a; a = va_arg(ap, const char *)) {
                ck_assert_int_lt(n, ARGS_MAX);
                args[n++] = a;
        }
        va_end(ap);
        args[n] = NULL;
        return ctl_argv(in, len, args);
}

/* A shmboxctl left running in the background: its pid, and the read ends of its stdout (-1 when
 * it writes elsewhere) and stderr. */
typedef struct Child {
        pid_t pid;
        int out, err;
} Child;

/*
 * spawn_ctl() - start "shmboxctl --socket <our daemon> ARGS..." with stdin from /dev/null
 * @stdout_fd: where its stdout goes; -1: a pipe, read through the returned Child's out
 *
 * The caller ends it with child_finish(), which reaps it.
 */
static Child spawn_ctl(int stdout_fd, const char *arg0, ...) __attribute__((sentinel));
static Child spawn_ctl(int stdout_fd, const char *arg0, ...) {
        const char *bin = getenv("SHMBOXCTL");
        const char *argv[ARGS_MAX + 2] = { bin, "--socket", d.socket };
        int pout[2] = { -1, -1 }, perr[2], n = 3, null;
        Child c = { .out = -1 };
        pid_t parent;
        va_list ap;

        ck_assert_msg(bin && *bin, "SHMBOXCTL is not set (run the suites through make check)");
        va_start(ap, arg0);
        for (const char *a = arg0; a; a = va_arg(ap, const char *)) {
                ck_assert_int_lt(n, ARGS_MAX);
                argv[n++] = a;
        }
        va_end(ap);
        argv[n] = NULL;

        if (stdout_fd < 0) {
                ck_assert_int_eq(pipe2(pout, O_CLOEXEC), 0);
                stdout_fd = pout[1];
        }
        ck_assert_int_eq(pipe2(perr, O_CLOEXEC), 0);
        null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(null, 0);
        parent = getpid();
        c.pid = fork();
        ck_assert_int_ge(c.pid, 0);
        if (c.pid == 0) {
                child_prepare(parent);
                if (dup2(null, STDIN_FILENO) < 0 || dup2(stdout_fd, STDOUT_FILENO) < 0 ||
                    dup2(perr[1], STDERR_FILENO) < 0)
                        _exit(127);
                execv(bin, (char **)argv);
                _exit(127);
        }
        close(null);
        close(perr[1]);
        if (pout[1] >= 0)
                close(pout[1]);
        c.out = pout[0];
        c.err = perr[0];
        return c;
}

/*
 * read_until() - append what @fd delivers to *@buf until it contains @until (NULL: until EOF)
 *
 * Return: true if @until was seen (or EOF reached, for NULL); false at EOF or after @ms.
 */
static bool read_until(int fd, char **buf, size_t *len, size_t *cap, const char *until, int ms) {
        int64_t deadline = harness_now_us() + (int64_t)ms * 1000;

        buf_append(buf, len, cap, "", 0);
        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int left = (int)((deadline - harness_now_us()) / 1000);
                char chunk[4096];
                ssize_t k;

                if (until && strstr(*buf, until))
                        return true;
                if (left <= 0 || poll(&pfd, 1, left) <= 0)
                        return false;
                k = read(fd, chunk, sizeof(chunk));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return !until;
                buf_append(buf, len, cap, chunk, (size_t)k);
        }
}

/* Read @c's stderr to its end into *@ret_err (malloc'ed), close its pipes, reap it.
 * Return: as run_argv(). */
static int child_finish(Child *c, char **ret_err) {
        char *err = NULL;
        size_t len = 0, cap = 0;
        int status;

        read_until(c->err, &err, &len, &cap, NULL, harness_ms(RUN_DEADLINE_MS));
        close(c->err);
        if (c->out >= 0)
                close(c->out);
        status = harness_wait_exit(c->pid, harness_ms(RUN_DEADLINE_MS));
        c->pid = 0;
        *ret_err = err;
        ck_assert_msg(status != -1, "shmboxctl did not exit");
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ctl() with an empty stdin; ctl_str() with a C string as stdin. */
#define ctl(...) ctl_in(NULL, 0, __VA_ARGS__, (const char *)NULL)
#define ctl_str(s, ...) ctl_in((s), strlen(s), __VA_ARGS__, (const char *)NULL)

/* Assert the exit status of a ctl()/run() call, showing its stderr when it differs. */
#define assert_exit(call, expected)                                                                                    \
        do {                                                                                                           \
                int status_ = (call);                                                                                  \
                ck_assert_msg(status_ == (expected), "%s: exit %d, expected %d; stderr: %s", #call, status_,           \
                              (expected), ctl_err ? ctl_err : "");                                                     \
        } while (0)

/* The last call succeeded quietly: exit 0 checked by the caller, nothing on either stream. */
static void assert_silent(void) {
        ck_assert_str_eq(ctl_out, "");
        ck_assert_str_eq(ctl_err, "");
}

static void create(const char *name) {
        assert_exit(ctl("create", name), 0);
        assert_silent();
}

static void destroy(const char *name) {
        assert_exit(ctl("destroy", name), 0);
        assert_silent();
}

/* The mailbox is empty: a recv that does not wait gets nothing (exit 1). */
static void assert_empty(const char *name) {
        assert_exit(ctl("recv", name, "--timeout", "0"), 1);
        ck_assert_str_eq(ctl_out, "");
}

/* The line of ctl_out that starts with @word followed by a blank, or NULL. Points into ctl_out. */
static const char *find_line(const char *word) {
        size_t n = strlen(word);

        for (const char *p = ctl_out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, word, n) == 0 && (p[n] == ' ' || p[n] == '\n'))
                        return p;
        return NULL;
}

/* Split the line at @line into blank-separated words, at most @max; returns how many. */
static int split_words(const char *line, char words[][80], int max) {
        int n = 0;

        while (*line && *line != '\n') {
                size_t k;

                line += strspn(line, " ");
                k = strcspn(line, " \n");
                if (k == 0)
                        break;
                ck_assert_int_lt(n, max);
                ck_assert_uint_lt(k, 80);
                memcpy(words[n], line, k);
                words[n][k] = '\0';
                n++;
                line += k;
        }
        return n;
}

/* "user:group" of this process as shmboxctl shows an owner. */
static void own_owner(char *buf, size_t size) {
        struct passwd *pw = getpwuid(geteuid());
        struct group *gr = getgrgid(getegid());
        char u[16], g[16];

        snprintf(u, sizeof(u), "%u", (unsigned)geteuid());
        snprintf(g, sizeof(g), "%u", (unsigned)getegid());
        snprintf(buf, size, "%s:%s", pw ? pw->pw_name : u, gr ? gr->gr_name : g);
}

/* ---- a strict minimal JSON parser ---------------------------------------------------------- */

typedef struct JsonMember {
        int object; /* index of the object, in the order of their opening braces */
        char key[32];
        char value[80]; /* a number, literal or decoded string (\uXXXX kept as '?') */
        bool string;
} JsonMember;

typedef struct Json {
        const char *p, *end;
        int objects;
        int depth;
        char top; /* '{' or '[' or 0 */
        int top_elements;
        JsonMember members[128];
        int n;
} Json;

static bool json_value(Json *j, char *val, size_t size, bool *is_string);

static void json_ws(Json *j) {
        while (j->p < j->end && *j->p && strchr(" \t\r\n", *j->p))
                j->p++;
}

static bool json_string(Json *j, char *buf, size_t size) {
        size_t n = 0;

        if (j->p >= j->end || *j->p != '"')
                return false;
        j->p++;
        while (j->p < j->end && *j->p != '"') {
                unsigned char c = (unsigned char)*j->p++;

                if (c < 0x20)
                        return false;
                if (c == '\\') {
                        if (j->p >= j->end)
                                return false;
                        c = (unsigned char)*j->p++;
                        if (c == 'u') {
                                for (int i = 0; i < 4; i++)
                                        if (j->p >= j->end || !strchr("0123456789abcdefABCDEF", *j->p++))
                                                return false;
                                c = '?';
                        } else if (c && strchr("\"\\/", c)) {
                                ;
                        } else if (c == 'n' || c == 't' || c == 'r' || c == 'b' || c == 'f') {
                                c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'b' ? '\b' : '\f';
                        } else
                                return false;
                }
                if (n + 1 < size)
                        buf[n++] = (char)c;
        }
        if (j->p >= j->end)
                return false;
        j->p++;
        buf[n] = '\0';
        return true;
}

static bool json_digits(Json *j) {
        const char *s = j->p;

        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
                j->p++;
        return j->p > s;
}

static bool json_number(Json *j, char *buf, size_t size) {
        const char *s = j->p;

        if (j->p < j->end && *j->p == '-')
                j->p++;
        if (j->p < j->end && *j->p == '0')
                j->p++;
        else if (!json_digits(j))
                return false;
        if (j->p < j->end && *j->p == '.') {
                j->p++;
                if (!json_digits(j))
                        return false;
        }
        if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
                j->p++;
                if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
                        j->p++;
                if (!json_digits(j))
                        return false;
        }
        snprintf(buf, size, "%.*s", (int)(j->p - s), s);
        return true;
}

static bool json_object(Json *j) {
        int index = j->objects++;

        j->p++; /* '{' */
        json_ws(j);
        if (j->p < j->end && *j->p == '}') {
                j->p++;
                return true;
        }
        for (;;) {
                JsonMember m = { .object = index };

                json_ws(j);
                if (!json_string(j, m.key, sizeof(m.key)))
                        return false;
                json_ws(j);
                if (j->p >= j->end || *j->p++ != ':')
                        return false;
                json_ws(j);
                m.value[0] = '\0';
                if (!json_value(j, m.value, sizeof(m.value), &m.string))
                        return false;
                if (m.value[0] || m.string) {
                        if (j->n >= (int)(sizeof(j->members) / sizeof(j->members[0])))
                                return false;
                        j->members[j->n++] = m;
                }
                json_ws(j);
                if (j->p < j->end && *j->p == ',') {
                        j->p++;
                        continue;
                }
                if (j->p < j->end && *j->p == '}') {
                        j->p++;
                        return true;
                }
                return false;
        }
}

static bool json_array(Json *j, int *ret_elements) {
        int elements = 0;

        j->p++; /* '[' */
        json_ws(j);
        if (j->p < j->end && *j->p == ']') {
                j->p++;
                *ret_elements = 0;
                return true;
        }
        for (;;) {
                char ignored[80];
                bool s;

                json_ws(j);
                if (!json_value(j, ignored, sizeof(ignored), &s))
                        return false;
                elements++;
                json_ws(j);
                if (j->p < j->end && *j->p == ',') {
                        j->p++;
                        continue;
                }
                if (j->p < j->end && *j->p == ']') {
                        j->p++;
                        *ret_elements = elements;
                        return true;
                }
                return false;
        }
}

/* One value; a scalar's text goes to @val (containers leave it empty). */
static bool json_value(Json *j, char *val, size_t size, bool *is_string) {
        static const char *const literals[] = { "true", "false", "null", NULL };
        int elements;
        bool ok;

        *is_string = false;
        val[0] = '\0';
        if (j->p >= j->end || ++j->depth > 16)
                return false;
        switch (*j->p) {
        case '{': ok = json_object(j); break;
        case '[':
                ok = json_array(j, &elements);
                if (ok && j->depth == 1)
                        j->top_elements = elements;
                break;
        case '"':
                ok = json_string(j, val, size);
                *is_string = ok;
                break;
        default:
                ok = false;
                for (const char *const *lit = literals; *lit && !ok; lit++)
                        if ((size_t)(j->end - j->p) >= strlen(*lit) && strncmp(j->p, *lit, strlen(*lit)) == 0) {
                                snprintf(val, size, "%s", *lit);
                                j->p += strlen(*lit);
                                ok = true;
                        }
                if (!ok)
                        ok = json_number(j, val, size);
                break;
        }
        j->depth--;
        return ok;
}

/* Parse @len bytes of @s as one JSON text; fails the test with the text if it is not. */
static void json_parse(const char *s, size_t len, Json *j) {
        char val[80];
        bool is_string;

        memset(j, 0, sizeof(*j));
        j->p = s;
        j->end = s + len;
        json_ws(j);
        j->top = j->p < j->end ? *j->p : 0;
        ck_assert_msg(json_value(j, val, sizeof(val), &is_string), "invalid JSON near offset %td:\n%s", j->p - s, s);
        json_ws(j);
        ck_assert_msg(j->p == j->end, "trailing bytes after the JSON text at offset %td:\n%s", j->p - s, s);
}

static const JsonMember *json_get(const Json *j, int object, const char *key) {
        for (int i = 0; i < j->n; i++)
                if (j->members[i].object == object && strcmp(j->members[i].key, key) == 0)
                        return &j->members[i];
        return NULL;
}

static int json_count(const Json *j, int object) {
        int n = 0;

        for (int i = 0; i < j->n; i++)
                n += j->members[i].object == object;
        return n;
}

/* The keys of struct shmbox_info, as shmboxctl names them, besides "name". */
static const char *const info_keys[] = {
        "slots",
        "slot_size",
        "mode",
        "queued",
        "attached",
        "uid",
        "gid",
        "sent",
        "received",
        "recovered",
        "repairs",
        "lock_holder_pid",
        "orphaned",
        "claimed",
        "taken",
        "oldest_claimed_pid",
        "oldest_taken_pid",
        "oldest_claimed_age_ms",
        "oldest_taken_age_ms",
        "owner_pid",
};

/* The user and group names of this process, or NULL where the system knows none. */
static const char *own_user(void) {
        struct passwd *pw = getpwuid(geteuid());
        return pw ? pw->pw_name : NULL;
}

static const char *own_group(void) {
        struct group *gr = getgrgid(getegid());
        return gr ? gr->gr_name : NULL;
}

/* Object @object of @j is exactly a mailbox: "name" @name, every info key once, a number except
 * "mode" (octal text, as everywhere else), and "user" and "group", the owner's names (null
 * where the system knows none) beside the numeric uid and gid. */
static void assert_json_mailbox(const Json *j, int object, const char *name, unsigned slots, unsigned slot_size,
                                unsigned mode, unsigned queued, unsigned sent, unsigned received) {
        const JsonMember *m = json_get(j, object, "name");
        char want[32];

        ck_assert_ptr_nonnull(m);
        ck_assert(m->string);
        ck_assert_str_eq(m->value, name);
        for (size_t i = 0; i < sizeof(info_keys) / sizeof(info_keys[0]); i++) {
                m = json_get(j, object, info_keys[i]);
                ck_assert_msg(m, "object %d has no key \"%s\"", object, info_keys[i]);
                if (strcmp(info_keys[i], "mode") == 0)
                        continue;
                ck_assert_msg(!m->string && strspn(m->value, "0123456789") == strlen(m->value),
                              "\"%s\" is not an unsigned number: %s", info_keys[i], m->value);
        }
        snprintf(want, sizeof(want), "%04o", mode); /* issue 14: was 432 for 0660 */
        m = json_get(j, object, "mode");
        ck_assert(m->string);
        ck_assert_str_eq(m->value, want);
        m = json_get(j, object, "user");
        ck_assert_ptr_nonnull(m);
        ck_assert_str_eq(m->value, own_user() ? own_user() : "null");
        ck_assert(m->string == (own_user() != NULL));
        m = json_get(j, object, "group");
        ck_assert_ptr_nonnull(m);
        ck_assert_str_eq(m->value, own_group() ? own_group() : "null");
        m = json_get(j, object, "ephemeral");
        ck_assert_ptr_nonnull(m);
        ck_assert(!m->string);
        ck_assert_str_eq(m->value, "false");
        m = json_get(j, object, "kind");
        ck_assert_ptr_nonnull(m);
        ck_assert(m->string);
        ck_assert_str_eq(m->value, "queue");
        ck_assert_int_eq(json_count(j, object), 25); /* nothing else, nothing twice */
#define KEY_IS(key, v)                                                                                                 \
        do {                                                                                                           \
                snprintf(want, sizeof(want), "%u", (unsigned)(v));                                                     \
                ck_assert_str_eq(json_get(j, object, key)->value, want);                                               \
        } while (0)
        KEY_IS("slots", slots);
        KEY_IS("slot_size", slot_size);
        KEY_IS("queued", queued);
        KEY_IS("attached", 0);
        KEY_IS("uid", geteuid());
        KEY_IS("gid", getegid());
        KEY_IS("sent", sent);
        KEY_IS("received", received);
        KEY_IS("recovered", 0);
        KEY_IS("owner_pid", 0);
#undef KEY_IS
}

/* `info NAME` prints exactly these lines (attached and recovered are 0 between our commands);
 * uid and gid with the names `list` shows, where the system knows them. */
static void assert_info_text(const char *name, unsigned slots, unsigned slot_size, unsigned mode, unsigned queued,
                             unsigned sent, unsigned received) {
        char want[512], uid[96], gid[96];

        snprintf(uid, sizeof(uid), own_user() ? "%u (%s)" : "%u", (unsigned)geteuid(), own_user());
        snprintf(gid, sizeof(gid), own_group() ? "%u (%s)" : "%u", (unsigned)getegid(), own_group());
        snprintf(want, sizeof(want),
                 "name: %s\nslots: %u\nslot_size: %u\nmode: %04o\nqueued: %u\nattached: 0\n"
                 "uid: %s\ngid: %s\nsent: %u\nreceived: %u\nrecovered: 0\nrepairs: 0\norphaned: 0\n",
                 name, slots, slot_size, mode, queued, uid, gid, sent, received);
        assert_exit(ctl("info", name), 0);
        ck_assert_str_eq(ctl_err, "");
        ck_assert_str_eq(ctl_out, want);
}

/* The row of @name in the `list` table of ctl_out has exactly these columns. */
static void assert_list_row(const char *name, const char *slots, const char *slot_size, const char *mode,
                            const char *queued, const char *sent, const char *received) {
        const char *want[11] = { name, slots, slot_size, mode, queued, "0", NULL, sent, received, "-", "queue" };
        const char *line = find_line(name);
        char words[12][80], owner[80];

        own_owner(owner, sizeof(owner));
        want[6] = owner;
        ck_assert_msg(line, "no row for %s in:\n%s", name, ctl_out);
        ck_assert_int_eq(split_words(line, words, 12), 11);
        for (int i = 0; i < 11; i++)
                ck_assert_str_eq(words[i], want[i]);
}

static int count_lines(const char *s) {
        int n = 0;

        for (; *s; s++)
                n += *s == '\n';
        return n;
}

/* ---- mailbox lifecycle ------------------------------------------------------------------- */

START_TEST(test_create_info_list_destroy_round_trip) {
        static const char *const header[] = { "NAME",  "SLOTS", "SLOT_SIZE", "MODE",      "QUEUED", "ATTACHED",
                                              "OWNER", "SENT",  "RECEIVED",  "EPHEMERAL", "KIND" };
        char words[12][80];

        assert_exit(ctl("create", "orders", "--slots", "8", "--slot-size", "128", "--mode", "0640"), 0);
        assert_silent();
        assert_info_text("orders", 8, 128, 0640, 0, 0, 0);

        assert_exit(ctl("list"), 0);
        ck_assert_str_eq(ctl_err, "");
        ck_assert_int_eq(count_lines(ctl_out), 2);
        ck_assert_int_eq(split_words(ctl_out, words, 12), 11);
        for (int i = 0; i < 11; i++)
                ck_assert_str_eq(words[i], header[i]);
        assert_list_row("orders", "8", "128", "0640", "0", "0", "0");

        destroy("orders");
        assert_exit(ctl("list"), 0);
        ck_assert_str_eq(ctl_err, "");
        ck_assert_int_eq(count_lines(ctl_out), 1); /* the header alone */
        ck_assert_ptr_null(find_line("orders"));
        assert_exit(ctl("info", "orders"), 1);
        ck_assert_str_eq(ctl_out, "");
        ck_assert_str_eq(ctl_err, "shmboxctl: orders: no such mailbox\n");
}
END_TEST

START_TEST(test_create_takes_defaults_and_options_in_any_position) {
        /* 64 characters: the longest name */
        static const char longest[] = "0123456789012345678901234567890123456789012345678901234567890123";

        create("plain");
        assert_info_text("plain", 64, 4096, 0600, 0, 0, 0);
        assert_exit(ctl("create", "--slots=2", "--slot-size=16", "--mode=0666", "before"), 0);
        assert_silent();
        assert_info_text("before", 2, 16, 0666, 0, 0, 0);
        /* a repeated option: the last one counts */
        assert_exit(ctl("create", "--slots", "9", "repeated", "--slots", "3"), 0);
        assert_silent();
        assert_info_text("repeated", 3, 4096, 0600, 0, 0, 0);
        create(longest);
        assert_info_text(longest, 64, 4096, 0600, 0, 0, 0);
        destroy(longest);
        destroy("repeated");
        destroy("before");
        destroy("plain");
}
END_TEST

START_TEST(test_info_and_counters_follow_the_traffic) {
        Json j;

        assert_exit(ctl("create", "counted", "--slots", "4", "--slot-size", "32", "--mode", "0660"), 0);
        assert_exit(ctl("send", "counted", "one", "two", "three"), 0);
        assert_silent();
        assert_exit(ctl("recv", "counted"), 0);
        ck_assert_str_eq(ctl_out, "one\n");
        assert_info_text("counted", 4, 32, 0660, 2, 3, 1);

        assert_exit(ctl("info", "counted", "--json"), 0);
        ck_assert_str_eq(ctl_err, "");
        json_parse(ctl_out, ctl_out_len, &j);
        ck_assert_int_eq(j.top, '{');
        ck_assert_int_eq(j.objects, 1);
        assert_json_mailbox(&j, 0, "counted", 4, 32, 0660, 2, 3, 1);

        assert_exit(ctl("info", "--json", "counted"), 0); /* the option before NAME: the same */
        json_parse(ctl_out, ctl_out_len, &j);
        assert_json_mailbox(&j, 0, "counted", 4, 32, 0660, 2, 3, 1);

        assert_exit(ctl("recv", "counted", "--count", "2"), 0);
        ck_assert_str_eq(ctl_out, "two\nthree\n");
        destroy("counted");
}
END_TEST

START_TEST(test_list_json_is_an_array_sorted_by_name) {
        Json j;

        assert_exit(ctl("list", "--json"), 0);
        ck_assert_str_eq(ctl_err, "");
        json_parse(ctl_out, ctl_out_len, &j);
        ck_assert_int_eq(j.top, '[');
        ck_assert_int_eq(j.top_elements, 0);

        create("zeta");
        create("alpha");
        assert_exit(ctl("create", "Mid", "--slots", "5", "--slot-size", "100", "--mode", "0644"), 0);
        assert_exit(ctl("send", "zeta", "z"), 0);

        assert_exit(ctl("list", "--json"), 0);
        ck_assert_str_eq(ctl_err, "");
        json_parse(ctl_out, ctl_out_len, &j);
        ck_assert_int_eq(j.top, '[');
        ck_assert_int_eq(j.top_elements, 3);
        ck_assert_int_eq(j.objects, 3);
        /* strcmp order: upper case first */
        assert_json_mailbox(&j, 0, "Mid", 5, 100, 0644, 0, 0, 0);
        assert_json_mailbox(&j, 1, "alpha", 64, 4096, 0600, 0, 0, 0);
        assert_json_mailbox(&j, 2, "zeta", 64, 4096, 0600, 1, 1, 0);

        assert_exit(ctl("list"), 0);
        ck_assert_int_eq(count_lines(ctl_out), 4);
        ck_assert_ptr_eq(find_line("Mid"), strchr(ctl_out, '\n') + 1);
        ck_assert(find_line("Mid") < find_line("alpha"));
        ck_assert(find_line("alpha") < find_line("zeta"));
        assert_list_row("Mid", "5", "100", "0644", "0", "0", "0");
        assert_list_row("zeta", "64", "4096", "0600", "1", "1", "0");

        destroy("Mid");
        destroy("alpha");
        destroy("zeta");
}
END_TEST

START_TEST(test_creating_an_existing_mailbox_fails) {
        create("dup");
        assert_exit(ctl("create", "dup", "--slots", "2"), 1);
        ck_assert_str_eq(ctl_out, "");
        ck_assert_str_eq(ctl_err, "shmboxctl: dup: mailbox already exists\n");
        assert_info_text("dup", 64, 4096, 0600, 0, 0, 0); /* the first one is untouched */
        destroy("dup");
}
END_TEST

START_TEST(test_a_name_starting_with_dash_follows_double_dash) {
        assert_exit(ctl("create", "--", "-dash"), 0);
        assert_silent();
        assert_exit(ctl("send", "--", "-dash", "hi"), 0);
        assert_silent();
        assert_exit(ctl("info", "--", "-dash"), 0);
        ck_assert_ptr_nonnull(strstr(ctl_out, "name: -dash\nslots: 64\n"));
        assert_exit(ctl("recv", "--timeout", "1000", "--", "-dash"), 0);
        ck_assert_str_eq(ctl_out, "hi\n");
        assert_exit(ctl("destroy", "--", "-dash"), 0);
        assert_silent();
}
END_TEST

/* ---- messages ------------------------------------------------------------------------------ */

START_TEST(test_send_arguments_arrive_in_order_one_per_line) {
        create("args");
        assert_exit(ctl("send", "args", "one", "two", "three four", ""), 0);
        assert_silent();
        assert_exit(ctl("recv", "args", "--count", "4"), 0);
        ck_assert_str_eq(ctl_err, "");
        ck_assert_str_eq(ctl_out, "one\ntwo\nthree four\n\n"); /* "" is an empty message */
        assert_empty("args");
        destroy("args");
}
END_TEST

START_TEST(test_recv_count_takes_only_that_many) {
        create("partial");
        assert_exit(ctl("send", "partial", "a", "b", "c"), 0);
        assert_exit(ctl("recv", "--count=2", "partial"), 0);
        ck_assert_str_eq(ctl_out, "a\nb\n");
        assert_info_text("partial", 64, 4096, 0600, 1, 3, 2);
        assert_exit(ctl("recv", "partial", "--count", "1", "--count", "5", "--timeout", "0"), 0);
        ck_assert_str_eq(ctl_out, "c\n");
        assert_empty("partial");
        destroy("partial");
}
END_TEST

START_TEST(test_send_without_messages_sends_each_stdin_line) {
        create("lines");
        /* an empty line is an empty message, a CR stays, the last line needs no newline */
        assert_exit(ctl_str("alpha\n\nbeta\r\ngamma", "send", "lines"), 0);
        assert_silent();
        assert_exit(ctl("recv", "lines", "--count", "4", "--timeout", "0"), 0);
        ck_assert_str_eq(ctl_out, "alpha\n\nbeta\\x0d\ngamma\n");
        assert_empty("lines");

        /* taken literally: an escape in the input is sent as its characters */
        assert_exit(ctl_str("tab\\tx\n", "send", "lines", "--"), 0);
        assert_exit(ctl("recv", "lines"), 0);
        ck_assert_str_eq(ctl_out, "tab\\\\tx\n");

        /* an empty stdin sends nothing and succeeds */
        assert_exit(ctl("send", "lines"), 0);
        assert_silent();
        assert_empty("lines");
        destroy("lines");
}
END_TEST

START_TEST(test_options_go_anywhere_and_double_dash_ends_them) {
        int64_t t0;

        /* issue 14: `send small --timeout 200 f` sent three messages and then blocked forever */
        assert_exit(ctl("create", "small", "--slots", "1"), 0);
        assert_exit(ctl("send", "small", "--timeout", "200", "f"), 0);
        assert_silent();
        assert_info_text("small", 1, 4096, 0600, 1, 1, 0);
        /* after the messages too: the mailbox is full, so the timeout is what ends the wait */
        t0 = harness_now_us();
        assert_exit(ctl("send", "small", "g", "--timeout=200"), 1);
        ck_assert_int_ge(harness_now_us() - t0, 200 * 1000);
        ck_assert_str_eq(ctl_err, "shmboxctl: small: message 1: timed out\n");
        assert_exit(ctl("recv", "small", "--timeout", "0", "--count", "2"), 0);
        ck_assert_str_eq(ctl_out, "f\n");
        destroy("small");

        /* "--" ends the options: every later argument is a message, "--" and "--help" included */
        create("dashes");
        assert_exit(ctl("send", "dashes", "--", "-x", "--count", "5", "-", "--help", "--"), 0);
        assert_silent();
        assert_exit(ctl("recv", "dashes", "--count", "6"), 0);
        ck_assert_str_eq(ctl_out, "-x\n--count\n5\n-\n--help\n--\n");
        assert_exit(ctl("send", "--timeout", "1000", "dashes", "--null", "--", "-y"), 0);
        assert_silent();
        assert_exit(ctl("recv", "dashes"), 0);
        ck_assert_str_eq(ctl_out, "-y\n");
        /* without "--", an argument that starts with '-' is an option */
        assert_exit(ctl("send", "dashes", "-x"), 2);
        ck_assert_str_eq(ctl_err, "shmboxctl: send: unknown option '-x' (see 'shmboxctl send --help')\n");
        assert_empty("dashes");
        destroy("dashes");
}
END_TEST

START_TEST(test_recv_escapes_newline_backslash_and_control_bytes) {
        /* message 1: newline, backslash, control bytes, DEL, tab, CR, then UTF-8 (é) as is;
         * message 2: a backslash followed by 'n' is two characters, not a newline */
        static const char in[] = "a\nb\\c\x01"
                                 "d\x1f\x7f\te\r\xc3\xa9\0x\\ny";

        create("escapes");
        assert_exit(ctl_in(in, sizeof(in) - 1, "send", "--null", "escapes", (const char *)NULL), 0);
        assert_silent();
        assert_exit(ctl("recv", "escapes", "--count", "2"), 0);
        ck_assert_str_eq(ctl_err, "");
        ck_assert_str_eq(ctl_out, "a\\nb\\\\c\\x01d\\x1f\\x7f\\x09e\\x0d\xc3\xa9\n"
                                  "x\\\\ny\n");

        /* a NUL inside a line is part of the message */
        assert_exit(ctl_in("nul\0byte\n", 9, "send", "escapes", (const char *)NULL), 0);
        assert_exit(ctl("recv", "escapes"), 0);
        ck_assert_str_eq(ctl_out, "nul\\x00byte\n");
        assert_empty("escapes");
        destroy("escapes");
}
END_TEST

START_TEST(test_null_round_trips_every_byte_value) {
        char all[255], twice[2 * 256], escaped[1024], arg[256];
        size_t n = 0;
        char *saved;

        for (int i = 0; i < 255; i++)
                all[i] = (char)(i + 1);
        memcpy(twice, all, 255);
        twice[255] = '\0';
        memcpy(twice + 256, all, 255);
        twice[511] = '\0';
        /* the escaping, written out independently of shmboxctl's */
        for (int i = 0; i < 255; i++) {
                unsigned char c = (unsigned char)all[i];

                if (c == '\\')
                        n += (size_t)snprintf(escaped + n, sizeof(escaped) - n, "\\\\");
                else if (c == '\n')
                        n += (size_t)snprintf(escaped + n, sizeof(escaped) - n, "\\n");
                else if (c < 0x20 || c == 0x7f)
                        n += (size_t)snprintf(escaped + n, sizeof(escaped) - n, "\\x%02x", c);
                else
                        escaped[n++] = (char)c;
        }
        escaped[n++] = '\n';
        escaped[n] = '\0';

        create("raw");
        create("copy");

        /* stdin with --null (the last record without its NUL) -> recv --null */
        assert_exit(ctl_in(all, sizeof(all), "send", "--null", "raw", (const char *)NULL), 0);
        assert_silent();
        assert_exit(ctl("recv", "--null", "raw"), 0);
        ck_assert_str_eq(ctl_err, "");
        ck_assert_uint_eq(ctl_out_len, 256);
        ck_assert(memcmp(ctl_out, all, 255) == 0);
        ck_assert_int_eq(ctl_out[255], '\0');

        /* an argument -> recv, escaped on one line */
        memcpy(arg, all, 255);
        arg[255] = '\0';
        assert_exit(ctl("send", "raw", arg), 0);
        assert_exit(ctl("recv", "raw"), 0);
        ck_assert_uint_eq(ctl_out_len, n);
        ck_assert(memcmp(ctl_out, escaped, n) == 0);

        /* recv --null | send --null: the other way, unchanged */
        assert_exit(ctl_in(twice, sizeof(twice), "send", "--null", "raw", (const char *)NULL), 0);
        assert_exit(ctl("recv", "raw", "--null", "--count", "2"), 0);
        ck_assert_uint_eq(ctl_out_len, sizeof(twice));
        ck_assert(memcmp(ctl_out, twice, sizeof(twice)) == 0);
        saved = malloc(ctl_out_len);
        ck_assert_ptr_nonnull(saved);
        memcpy(saved, ctl_out, ctl_out_len);
        assert_exit(ctl_in(saved, sizeof(twice), "send", "--null", "copy", (const char *)NULL), 0);
        free(saved);
        assert_exit(ctl("recv", "copy", "--null", "--count", "2"), 0);
        ck_assert_uint_eq(ctl_out_len, sizeof(twice));
        ck_assert(memcmp(ctl_out, twice, sizeof(twice)) == 0);

        /* empty records are empty messages */
        assert_exit(ctl_in("\0\0", 2, "send", "--null", "copy", (const char *)NULL), 0);
        assert_exit(ctl("recv", "copy", "--null", "--count", "2"), 0);
        ck_assert_uint_eq(ctl_out_len, 2);
        ck_assert(memcmp(ctl_out, "\0\0", 2) == 0);

        assert_empty("raw");
        assert_empty("copy");
        destroy("copy");
        destroy("raw");
}
END_TEST

START_TEST(test_recv_prints_each_message_as_it_arrives) {
        shmbox_client *client = harness_connect(&d);
        struct shmbox_info info;
        char *out = NULL, *err = NULL;
        size_t len = 0, cap = 0;
        int64_t deadline;
        Child c;

        create("live");
        /* no --timeout: it waits as long as it takes */
        c = spawn_ctl(-1, "recv", "live", "--count", "2", (const char *)NULL);
        deadline = harness_now_us() + (int64_t)harness_ms(5000) * 1000;
        do {
                ck_assert_int_eq(shmbox_info(client, "live", &info), 0);
                ck_assert_msg(harness_now_us() < deadline, "recv never attached");
        } while (info.attached != 1);

        assert_exit(ctl("send", "live", "first"), 0);
        /* the first line is out while recv still waits for the second */
        ck_assert_msg(read_until(c.out, &out, &len, &cap, "\n", harness_ms(5000)),
                      "the first message was not printed before the second came: \"%s\"", out);
        ck_assert_str_eq(out, "first\n");
        ck_assert_int_eq(waitpid(c.pid, NULL, WNOHANG), 0);

        assert_exit(ctl("send", "live", "second"), 0);
        ck_assert(read_until(c.out, &out, &len, &cap, NULL, harness_ms(5000)));
        ck_assert_int_eq(child_finish(&c, &err), 0);
        ck_assert_str_eq(out, "first\nsecond\n");
        ck_assert_str_eq(err, "");
        free(out);
        free(err);
        shmbox_disconnect(client);
        destroy("live");
}
END_TEST

/* recv --json: one JSON object per line and message, its length and either its text (valid
 * UTF-8) or its bytes in base64. */
START_TEST(test_recv_json_prints_each_message_as_an_object_with_text_or_base64) {
        static const char in[] = "hello\0caf\xc3\xa9 \"q\"\n\0\xff\x01\x02\0\xc3\0\xed\xa0\x80\0";
        static const struct {
                const char *key, *value;
                unsigned length;
        } want[] = {
                { "text", "hello", 5 },  { "text", "caf\xc3\xa9 \"q\"\n", 10 }, /* decoded by the parser */
                { "base64", "/wEC", 3 },                                        /* not UTF-8 */
                { "base64", "ww==", 1 },                                        /* a truncated sequence */
                { "base64", "7aCA", 3 },                                        /* a surrogate is not UTF-8 */
                { "text", "", 0 },
        };
        const char *line;
        char len[16];
        Json j;

        create("js");
        assert_exit(ctl_in(in, sizeof(in) - 1, "send", "js", "--null", (const char *)NULL), 0);
        assert_exit(ctl("send", "js", ""), 0);
        assert_exit(ctl("recv", "js", "--json", "--count", "6"), 0);
        ck_assert_str_eq(ctl_err, "");
        ck_assert_int_eq(count_lines(ctl_out), 6);
        line = ctl_out;
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                const char *end = strchr(line, '\n');

                json_parse(line, (size_t)(end - line), &j);
                ck_assert_int_eq(j.top, '{');
                ck_assert_int_eq(json_count(&j, 0), 2);
                snprintf(len, sizeof(len), "%u", want[i].length);
                ck_assert_str_eq(json_get(&j, 0, "length")->value, len);
                ck_assert_msg(json_get(&j, 0, want[i].key), "message %zu: no \"%s\" in %.*s", i, want[i].key,
                              (int)(end - line), line);
                ck_assert(json_get(&j, 0, want[i].key)->string);
                ck_assert_str_eq(json_get(&j, 0, want[i].key)->value, want[i].value);
                line = end + 1;
        }
        assert_exit(ctl("recv", "js", "--json", "--null"), 2);
        ck_assert_ptr_nonnull(strstr(ctl_err, "--json and --null exclude each other"));
        destroy("js");
}
END_TEST

/* ---- exit status --------------------------------------------------------------------------- */

START_TEST(test_recv_exits_0_when_at_least_one_message_came) {
        create("some");
        assert_exit(ctl("send", "some", "only"), 0);
        /* fewer than --count before the timeout: what came counts */
        assert_exit(ctl("recv", "some", "--count", "3", "--timeout", "100"), 0);
        ck_assert_str_eq(ctl_out, "only\n");
        ck_assert_str_eq(ctl_err, "");
        destroy("some");
}
END_TEST

START_TEST(test_recv_exits_1_when_nothing_came_before_the_timeout) {
        int64_t t0;

        create("none");
        t0 = harness_now_us();
        assert_exit(ctl("recv", "none", "--timeout", "100"), 1);
        ck_assert_int_ge(harness_now_us() - t0, 100 * 1000);
        ck_assert_str_eq(ctl_out, "");
        ck_assert_str_eq(ctl_err, "shmboxctl: none: no message within 100 ms\n");

        /* an empty mailbox is "no message", not the library's "would block" */
        assert_exit(ctl("recv", "none", "--timeout", "0", "--count", "2"), 1);
        ck_assert_str_eq(ctl_out, "");
        ck_assert_str_eq(ctl_err, "shmboxctl: none: no message\n");
        destroy("none");
}
END_TEST

START_TEST(test_send_to_a_full_mailbox_times_out_with_exit_1) {
        assert_exit(ctl("create", "full", "--slots", "1"), 0);
        assert_exit(ctl("send", "full", "first"), 0);
        assert_exit(ctl("send", "--timeout", "100", "full", "second"), 1);
        ck_assert_str_eq(ctl_out, "");
        ck_assert_str_eq(ctl_err, "shmboxctl: full: message 1: timed out\n");
        assert_exit(ctl("send", "full", "--timeout", "0", "second"), 1);
        ck_assert_str_eq(ctl_err, "shmboxctl: full: message 1: mailbox full\n");
        assert_exit(ctl("recv", "full"), 0);
        ck_assert_str_eq(ctl_out, "first\n");
        assert_empty("full");
        destroy("full");
}
END_TEST

/* issue 14: the daemon's log knew the limit; the terminal got "(size above the daemon's cap, or
 * /dev/shm is full)" */
START_TEST(test_a_refusal_prints_the_daemons_reason) {
        assert_exit(ctl("create", "huge", "--slots", "65536", "--slot-size", "16777216"), 1);
        ck_assert_str_eq(ctl_out, "");
        ck_assert_str_eq(ctl_err,
                         "shmboxctl: huge: no space: 1099515858944 bytes, above max-mailbox-bytes 1073741824\n");
        /* without a reason, the library's message as before */
        assert_exit(ctl("destroy", "huge"), 1);
        ck_assert_str_eq(ctl_err, "shmboxctl: huge: no such mailbox\n");
}
END_TEST

static const struct {
        const char *args[8];
        const char *message; /* part of the one line on stderr */
} usage_errors[] = {
        { { "frobnicate" }, "shmboxctl: unknown command 'frobnicate'" },
        { { NULL }, "shmboxctl: missing COMMAND" },
        { { "--bogus", "list" }, "shmboxctl: unknown option '--bogus'" },
        { { "-x", "list" }, "shmboxctl: unknown option '-x'" },
        { { "--socket" }, "option '--socket' needs a value" },
        { { "--socket=", "list" }, "--socket: empty path" },
        { { "recv", "box", "--bogus" }, "shmboxctl: recv: unknown option '--bogus'" },
        { { "recv", "--bogus=1", "box" }, "shmboxctl: recv: unknown option '--bogus'" },
        { { "recv", "box", "-c", "2" }, "shmboxctl: recv: unknown option '-c'" },
        { { "send", "--bogus", "box", "x" }, "shmboxctl: send: unknown option '--bogus'" },
        { { "list", "--socket", "x" }, "global options go before the command" },
        { { "list", "--json=yes" }, "option '--json' takes no value" },
        { { "create" }, "shmboxctl: create: missing NAME" },
        { { "create", "b", "--overwrite" }, "--overwrite is a policy of broadcast mailboxes: add --broadcast" },
        { { "destroy" }, "shmboxctl: destroy: missing NAME" },
        { { "send", "--null" }, "shmboxctl: send: missing NAME" },
        { { "recv" }, "shmboxctl: recv: missing NAME" },
        { { "recv", "--count", "2" }, "shmboxctl: recv: missing NAME" },
        { { "info" }, "shmboxctl: info: missing NAME" },
        { { "recv", "box", "--count", "0" }, "--count: invalid value '0'" },
        { { "recv", "box", "--count", "-1" }, "--count: invalid value '-1'" },
        { { "recv", "box", "--count", "+1" }, "--count: invalid value '+1'" },
        { { "recv", "box", "--count", " 1" }, "--count: invalid value ' 1'" },
        { { "recv", "box", "--count", "1x" }, "--count: invalid value '1x'" },
        { { "recv", "box", "--count", "4294967296" }, "--count: invalid value '4294967296'" },
        { { "recv", "box", "--count=" }, "--count: invalid value ''" },
        { { "recv", "box", "--count" }, "option '--count' needs a value" },
        { { "recv", "box", "--timeout", "2147483648" }, "--timeout: invalid value '2147483648'" },
        { { "send", "--timeout", "-5", "box", "x" }, "--timeout: invalid value '-5'" },
        { { "recv", "box", "--null=1" }, "option '--null' takes no value" },
        { { "list", "extra" }, "shmboxctl: list: unexpected argument 'extra'" },
        { { "info", "a", "b" }, "shmboxctl: info: unexpected argument 'b'" },
        { { "create", ".hidden" }, "invalid mailbox name '.hidden'" },
        { { "create", "a/b" }, "invalid mailbox name 'a/b'" },
        { { "create", "01234567890123456789012345678901234567890123456789012345678901234" },
          "invalid mailbox name" }, /* 65 characters */
        { { "send", "sp ace", "x" }, "invalid mailbox name 'sp ace'" },
        { { "create", "box", "--slots", "0" }, "--slots: invalid value '0'" },
        { { "create", "box", "--slots", "65537" }, "--slots: invalid value '65537'" },
        { { "create", "box", "--slot-size", "16777217" }, "--slot-size: invalid value '16777217'" },
        { { "create", "box", "--mode", "0777" }, "--mode: invalid mode '0777'" },
        { { "create", "box", "--mode", "0" }, "--mode: invalid mode '0'" },
        { { "create", "box", "--mode", "8" }, "--mode: invalid mode '8'" },
        { { "create", "box", "--ephemeral" },
          "create: --ephemeral: an ephemeral mailbox is destroyed when the "
          "connection that created it ends, and shmboxctl's ends when it exits" },
        { { "create", "--ephemeral=1", "box" }, "option '--ephemeral' takes no value" },
};

START_TEST(test_usage_errors_exit_2_with_one_line_on_stderr) {
        assert_exit(ctl_argv(NULL, 0, usage_errors[_i].args), 2);
        ck_assert_str_eq(ctl_out, "");
        ck_assert_msg(strncmp(ctl_err, "shmboxctl: ", 11) == 0, "stderr: %s", ctl_err);
        ck_assert_msg(strstr(ctl_err, usage_errors[_i].message), "stderr: %s\nexpected: %s", ctl_err,
                      usage_errors[_i].message);
        ck_assert_msg(count_lines(ctl_err) == 1 && strstr(ctl_err, "--help')\n"), "not one line pointing at --help: %s",
                      ctl_err);
        /* nothing reached the daemon: no mailbox was created */
        assert_exit(ctl("list"), 0);
        ck_assert_int_eq(count_lines(ctl_out), 1);
}
END_TEST

static const char *const commands[] = { "create", "destroy", "send", "recv", "list", "info" };

START_TEST(test_every_command_help_exits_0_on_stdout) {
        const char *cmd = commands[_i];
        char want[64], *help;

        snprintf(want, sizeof(want), "Usage: shmboxctl [--socket PATH] %s", cmd);
        /* help needs no daemon */
        reset_output();
        assert_exit(run(NULL, 0, &ctl_out, &ctl_out_len, &ctl_err, "--socket", "/nonexistent/sock", cmd, "--help",
                        (const char *)NULL),
                    0);
        ck_assert_str_eq(ctl_err, "");
        ck_assert_msg(strncmp(ctl_out, want, strlen(want)) == 0, "stdout: %s", ctl_out);
        ck_assert_ptr_nonnull(strstr(ctl_out, "--help"));
        help = strdup(ctl_out);
        ck_assert_ptr_nonnull(help);

        assert_exit(ctl(cmd, "-h"), 0);
        ck_assert_str_eq(ctl_err, "");
        ck_assert_str_eq(ctl_out, help);
        if (strcmp(cmd, "list") != 0) {
                assert_exit(ctl(cmd, "box", "--help"), 0); /* after NAME too */
                ck_assert_str_eq(ctl_err, "");
                ck_assert_str_eq(ctl_out, help);
        }
        free(help);
}
END_TEST

START_TEST(test_global_help_and_version_exit_0) {
        char want[128];

        assert_exit(ctl("--help"), 0);
        ck_assert_str_eq(ctl_err, "");
        ck_assert_msg(strncmp(ctl_out, "Usage: shmboxctl [--socket PATH] COMMAND", 40) == 0, "stdout: %s", ctl_out);
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                ck_assert_ptr_nonnull(strstr(ctl_out, commands[i]));
        reset_output();
        assert_exit(run(NULL, 0, &ctl_out, &ctl_out_len, &ctl_err, "-h", (const char *)NULL), 0);
        ck_assert_str_eq(ctl_err, "");
        ck_assert_msg(strncmp(ctl_out, "Usage: shmboxctl", 16) == 0, "stdout: %s", ctl_out);

        snprintf(want, sizeof(want), "shmboxctl %s (libshmbox %s)\n", PACKAGE_VERSION, shmbox_version());
        reset_output();
        assert_exit(run(NULL, 0, &ctl_out, &ctl_out_len, &ctl_err, "--version", (const char *)NULL), 0);
        ck_assert_str_eq(ctl_err, "");
        ck_assert_str_eq(ctl_out, want);
        assert_exit(ctl("--version"), 0);
        ck_assert_str_eq(ctl_out, want);
}
END_TEST

/* ---- failures ------------------------------------------------------------------------------ */

START_TEST(test_an_overlong_message_names_its_number_and_keeps_the_earlier) {
        char in[256], big[66];

        memset(big, 'b', 65);
        big[65] = '\0';
        /* line 2 is exactly the slot size; line 3 one byte more */
        snprintf(in, sizeof(in), "one\n%.64s\n%s\nfour\n", big, big);
        assert_exit(ctl("create", "short", "--slot-size", "64"), 0);

        assert_exit(ctl_str(in, "send", "short"), 1);
        ck_assert_str_eq(ctl_out, "");
        ck_assert_str_eq(ctl_err, "shmboxctl: short: line 3: "
                                  "message of 65 bytes exceeds the slot size 64\n");
        assert_exit(ctl("recv", "short", "--count", "10", "--timeout", "100"), 0);
        ck_assert_str_eq(ctl_err, "");
        ck_assert_int_eq(strncmp(ctl_out, "one\n", 4), 0);
        ck_assert_int_eq(strspn(ctl_out + 4, "b"), 64);
        ck_assert_str_eq(ctl_out + 4 + 64, "\n");

        /* arguments and --null records are counted as messages */
        assert_exit(ctl("send", "short", "x", big, "y"), 1);
        ck_assert_str_eq(ctl_err, "shmboxctl: short: message 2: "
                                  "message of 65 bytes exceeds the slot size 64\n");
        snprintf(in, sizeof(in), "x%c%s%cy", 0, big, 0);
        assert_exit(ctl_in(in, 1 + 1 + 65 + 1 + 1, "send", "--null", "short", (const char *)NULL), 1);
        ck_assert_str_eq(ctl_err, "shmboxctl: short: message 2: "
                                  "message of 65 bytes exceeds the slot size 64\n");
        assert_exit(ctl("recv", "short", "--count", "10", "--timeout", "100"), 0);
        ck_assert_str_eq(ctl_out, "x\nx\n");
        assert_empty("short");
        destroy("short");
}
END_TEST

START_TEST(test_an_unreachable_socket_cannot_connect) {
        static const char *const cmds[][4] = {
                { "list" },        { "create", "box" },    { "destroy", "box" },
                { "info", "box" }, { "send", "box", "x" }, { "recv", "box", "--timeout", "0" },
        };
        char toolong[200];

        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
                reset_output();
                assert_exit(run(NULL, 0, &ctl_out, &ctl_out_len, &ctl_err, "--socket", "/nonexistent/sock", cmds[i][0],
                                cmds[i][1], cmds[i][2], cmds[i][3], (const char *)NULL),
                            1);
                ck_assert_str_eq(ctl_out, "");
                ck_assert_str_eq(ctl_err, "shmboxctl: cannot connect to /nonexistent/sock: "
                                          "no daemon on the socket\n");
        }

        memset(toolong, 'p', sizeof(toolong) - 1);
        toolong[0] = '/';
        toolong[sizeof(toolong) - 1] = '\0';
        reset_output();
        assert_exit(run(NULL, 0, &ctl_out, &ctl_out_len, &ctl_err, "--socket", toolong, "list", (const char *)NULL), 1);
        ck_assert_ptr_nonnull(strstr(ctl_err, "cannot connect to /ppp"));
        ck_assert_ptr_nonnull(strstr(ctl_err, ": socket path too long\n"));
}
END_TEST

static const struct {
        const char *args[5];
        const char *in;
} missing[] = {
        { { "info", "ghost" }, NULL },           { { "info", "--json", "ghost" }, NULL },
        { { "destroy", "ghost" }, NULL },        { { "send", "ghost", "x" }, NULL },
        { { "send", "ghost" }, "from stdin\n" }, { { "send", "--null", "ghost" }, "raw" },
        { { "recv", "ghost" }, NULL },           { { "recv", "ghost", "--timeout", "0" }, NULL },
};

START_TEST(test_a_missing_mailbox_is_named_in_the_error) {
        const char *in = missing[_i].in;

        create("ghost-not"); /* another mailbox exists; it is not confused with the missing one */
        assert_exit(ctl_argv(in, in ? strlen(in) : 0, missing[_i].args), 1);
        ck_assert_str_eq(ctl_out, "");
        ck_assert_str_eq(ctl_err, "shmboxctl: ghost: no such mailbox\n");
        destroy("ghost-not");
}
END_TEST

START_TEST(test_shmbox_socket_is_honoured_without_socket_option) {
        ck_assert_int_eq(setenv("SHMBOX_SOCKET", d.socket, 1), 0);
        reset_output();
        assert_exit(run(NULL, 0, &ctl_out, &ctl_out_len, &ctl_err, "create", "envbox", (const char *)NULL), 0);
        ck_assert_str_eq(ctl_err, "");
        reset_output();
        assert_exit(run(NULL, 0, &ctl_out, &ctl_out_len, &ctl_err, "list", (const char *)NULL), 0);
        ck_assert_ptr_nonnull(find_line("envbox"));

        /* --socket wins over the environment */
        ck_assert_int_eq(setenv("SHMBOX_SOCKET", "/nonexistent/env.sock", 1), 0);
        assert_exit(ctl("info", "envbox"), 0);
        ck_assert_ptr_nonnull(strstr(ctl_out, "name: envbox\n"));
        /* and the error names the socket actually used */
        reset_output();
        assert_exit(run(NULL, 0, &ctl_out, &ctl_out_len, &ctl_err, "list", (const char *)NULL), 1);
        ck_assert_str_eq(ctl_err, "shmboxctl: cannot connect to /nonexistent/env.sock: "
                                  "no daemon on the socket\n");
        ck_assert_int_eq(unsetenv("SHMBOX_SOCKET"), 0);
        destroy("envbox");
}
END_TEST

/* Commands whose output cannot be written: stdout is /dev/full. */
static const char *const unwritable[][5] = {
        { "recv", "full" }, { "recv", "--null", "full" }, { "info", "full" }, { "info", "--json", "full" },
        { "list" },         { "list", "--help" },         { "--version" },
};

START_TEST(test_an_unwritable_stdout_fails_with_one_error_line) {
        const char *const *a = unwritable[_i];
        char want[128], *err = NULL;
        Child c;
        int full;

        snprintf(want, sizeof(want), "shmboxctl: cannot write to stdout: %s\n", strerror(ENOSPC));
        create("full");
        assert_exit(ctl("send", "full", "message"), 0);
        full = open("/dev/full", O_WRONLY | O_CLOEXEC);
        ck_assert_int_ge(full, 0);
        c = spawn_ctl(full, a[0], a[1], a[2], a[3], a[4], (const char *)NULL);
        close(full);
        ck_assert_int_eq(child_finish(&c, &err), 1);
        ck_assert_str_eq(err, want);
        free(err);
        destroy("full");
}
END_TEST

/* A broadcast mailbox made with shmboxctl: KIND in list, "kind:" in info (not for a queue,
 * whose lines stay as they were), "kind" in JSON; a subscriber receives what send sends. */
START_TEST(test_create_broadcast_and_overwrite_show_their_kind) {
        char words[12][80];
        const char *line;
        shmbox_client *client;
        shmbox *sub = NULL;
        char buf[16];
        Json j;

        assert_exit(ctl("create", "news", "--broadcast"), 0);
        assert_silent();
        assert_exit(ctl("create", "--overwrite", "ticks", "--broadcast", "--slots", "4"), 0);
        assert_silent();
        assert_exit(ctl("list"), 0);
        line = find_line("news");
        ck_assert_msg(line, "no row for news in:\n%s", ctl_out);
        ck_assert_int_eq(split_words(line, words, 12), 11);
        ck_assert_str_eq(words[10], "broadcast");
        line = find_line("ticks");
        ck_assert_msg(line, "no row for ticks in:\n%s", ctl_out);
        ck_assert_int_eq(split_words(line, words, 12), 11);
        ck_assert_str_eq(words[10], "overwrite");
        assert_exit(ctl("info", "ticks"), 0);
        ck_assert_msg(strstr(ctl_out, "\nkind: overwrite\n"), "no kind line in:\n%s", ctl_out);
        assert_exit(ctl("info", "news", "--json"), 0);
        json_parse(ctl_out, ctl_out_len, &j);
        ck_assert_str_eq(json_get(&j, 0, "kind")->value, "broadcast");
        /* a subscriber gets what shmboxctl sends */
        client = harness_connect(&d);
        ck_assert_int_eq(shmbox_attach(client, "news", &sub), 0);
        assert_exit(ctl("send", "news", "hello"), 0);
        ck_assert_int_eq(shmbox_recv(sub, buf, sizeof(buf), 0), 5);
        ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
        shmbox_detach(sub);
        shmbox_disconnect(client);
        destroy("news");
        destroy("ticks");
}
END_TEST

static TCase *tcase_e2e(const char *name) {
        return harness_tcase(NULL, name, 60, setup, teardown);
}

/* An ephemeral mailbox made through the library: list shows pid:N in EPHEMERAL, info a line
 * "ephemeral: owner pid N", JSON "ephemeral": true and "owner_pid"; gone with its connection. */
START_TEST(test_list_and_info_show_an_ephemeral_mailbox_with_its_owner_pid) {
        const struct shmbox_config cfg = { .flags = SHMBOX_CONFIG_EPHEMERAL };
        shmbox_client *owner = harness_connect(&d);
        char want[64], words[12][80];
        const JsonMember *m;
        const char *line;
        Json j;

        ck_assert_int_eq(shmbox_create(owner, "inbox", &cfg), 0);
        assert_exit(ctl("list"), 0);
        line = find_line("inbox");
        ck_assert_msg(line, "no row for inbox in:\n%s", ctl_out);
        ck_assert_int_eq(split_words(line, words, 12), 11);
        snprintf(want, sizeof(want), "pid:%d", (int)getpid());
        ck_assert_str_eq(words[9], want);

        assert_exit(ctl("info", "inbox"), 0);
        snprintf(want, sizeof(want), "\nephemeral: owner pid %d\n", (int)getpid());
        ck_assert_msg(strstr(ctl_out, want), "no \"%s\" in:\n%s", want + 1, ctl_out);

        assert_exit(ctl("info", "inbox", "--json"), 0);
        json_parse(ctl_out, ctl_out_len, &j);
        m = json_get(&j, 0, "ephemeral");
        ck_assert_ptr_nonnull(m);
        ck_assert_str_eq(m->value, "true");
        snprintf(want, sizeof(want), "%d", (int)getpid());
        ck_assert_str_eq(json_get(&j, 0, "owner_pid")->value, want);

        shmbox_disconnect(owner);
        for (int i = 0; i < 500; i++) {
                assert_exit(ctl("list"), 0);
                if (!find_line("inbox"))
                        break;
                usleep(10000);
        }
        ck_assert_ptr_null(find_line("inbox"));
}
END_TEST

static Suite *ctl_suite(void) {
        Suite *s = suite_create("ctl");
        TCase *tc;

        tc = tcase_e2e("mailbox lifecycle");
        tcase_add_test(tc, test_create_info_list_destroy_round_trip);
        tcase_add_test(tc, test_create_takes_defaults_and_options_in_any_position);
        tcase_add_test(tc, test_info_and_counters_follow_the_traffic);
        tcase_add_test(tc, test_list_json_is_an_array_sorted_by_name);
        tcase_add_test(tc, test_list_and_info_show_an_ephemeral_mailbox_with_its_owner_pid);
        tcase_add_test(tc, test_create_broadcast_and_overwrite_show_their_kind);
        tcase_add_test(tc, test_creating_an_existing_mailbox_fails);
        tcase_add_test(tc, test_a_name_starting_with_dash_follows_double_dash);
        suite_add_tcase(s, tc);

        tc = tcase_e2e("messages");
        tcase_add_test(tc, test_send_arguments_arrive_in_order_one_per_line);
        tcase_add_test(tc, test_recv_count_takes_only_that_many);
        tcase_add_test(tc, test_send_without_messages_sends_each_stdin_line);
        tcase_add_test(tc, test_options_go_anywhere_and_double_dash_ends_them);
        tcase_add_test(tc, test_recv_escapes_newline_backslash_and_control_bytes);
        tcase_add_test(tc, test_null_round_trips_every_byte_value);
        tcase_add_test(tc, test_recv_prints_each_message_as_it_arrives);
        tcase_add_test(tc, test_recv_json_prints_each_message_as_an_object_with_text_or_base64);
        suite_add_tcase(s, tc);

        tc = tcase_e2e("exit status");
        tcase_add_test(tc, test_recv_exits_0_when_at_least_one_message_came);
        tcase_add_test(tc, test_recv_exits_1_when_nothing_came_before_the_timeout);
        tcase_add_test(tc, test_send_to_a_full_mailbox_times_out_with_exit_1);
        tcase_add_test(tc, test_a_refusal_prints_the_daemons_reason);
        tcase_add_loop_test(tc, test_usage_errors_exit_2_with_one_line_on_stderr, 0,
                            (int)(sizeof(usage_errors) / sizeof(usage_errors[0])));
        tcase_add_loop_test(tc, test_every_command_help_exits_0_on_stdout, 0,
                            (int)(sizeof(commands) / sizeof(commands[0])));
        tcase_add_test(tc, test_global_help_and_version_exit_0);
        suite_add_tcase(s, tc);

        tc = tcase_e2e("failures");
        tcase_add_test(tc, test_an_overlong_message_names_its_number_and_keeps_the_earlier);
        tcase_add_test(tc, test_an_unreachable_socket_cannot_connect);
        tcase_add_loop_test(tc, test_a_missing_mailbox_is_named_in_the_error, 0,
                            (int)(sizeof(missing) / sizeof(missing[0])));
        tcase_add_test(tc, test_shmbox_socket_is_honoured_without_socket_option);
        tcase_add_loop_test(tc, test_an_unwritable_stdout_fails_with_one_error_line, 0,
                            (int)(sizeof(unwritable) / sizeof(unwritable[0])));
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr;
        int failed;

        sr = srunner_create(ctl_suite());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
