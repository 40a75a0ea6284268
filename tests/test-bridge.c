/* SPDX-License-Identifier: MIT */
/* End-to-end tests of shmbox-bridge: two shmboxd standing for two hosts (their own sockets and
 * prefixes), a real nats-server with JetStream on a free loopback port (started and stopped by
 * each test, its store in a temporary directory), and a bridge per host: a sender attached on
 * host A reaches a receiver attached on host B through NATS. Then faults — kill -9 of either
 * bridge, of either daemon, a restart of nats-server, a cut of a few seconds — after which every
 * message whose shmbox_send() returned 0 on A has arrived on B (lost = 0), the duplicates are
 * counted and printed, and nothing is left in /dev/shm. Back-pressure both ways: a full mailbox
 * on B stops the consumer, a full stream stops A's senders (-EAGAIN). SIGHUP reloads the config:
 * a route added starts, one removed stops without losing what it had in flight, an invalid file
 * or a new host changes nothing, new [nats] settings reconnect. The last test runs shmbox-bench's
 * bridge group short (its figures, through the bridge next to libnats alone, are the benchmark's).
 *
 * Without nats-server or libnats the suite prints why and exits 77 (skipped).
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LIBNATS
#include <nats/nats.h>
#endif

#include "tests/harness.h"

#ifdef HAVE_LIBNATS

#define MAILBOX "orders"
#define SUBJECT "shmbox.orders"
#define MAILBOX2 "audit" /* the route the reload tests add and remove */
#define SUBJECT2 "shmbox.audit"
#define STREAM "BRIDGE"
#define SLOTS 16
#define PAYLOAD 64

typedef struct Nats {
        pid_t pid;
        int port;
        char store[200];
        char log[200];
        char conf[200]; /* a config file for it too (-c), or "" */
} Nats;

typedef struct Bridge {
        pid_t pid;
        const char *host;
        const TestDaemon *daemon;
        const char *direction;
        char config[200];
        char log[200];
        char status[200];
        char metrics[200];    /* --metrics FILE */
        char nats_extra[128]; /* more lines for [nats] */
        char routes[512];     /* more [mailbox] sections (the reload tests) */
        const char *delivery; /* its [mailbox MAILBOX] delivery; NULL: none written (the default) */
} Bridge;

static const char *nats_server_bin;
static char tmpdir[128];
static Nats ns;
static TestDaemon host_a, host_b;
static Bridge bridge_a, bridge_b;
static shmbox_client *client_a, *client_b;
static natsConnection *test_nc;
static jsCtx *test_js;

static void msleep(int ms) {
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        remove(path);
        return 0;
}

static void rm_rf(const char *dir) {
        if (dir[0])
                nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void print_file(const char *what, const char *path) {
        char buf[4096];
        FILE *f = fopen(path, "re");
        size_t n;

        if (!f)
                return;
        fprintf(stderr, "---- %s (%s) ----\n", what, path);
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                fwrite(buf, 1, n, stderr);
        fprintf(stderr, "---- end of %s ----\n", what);
        fclose(f);
}

/* Lines of @path that contain @needle; printed too if @print. */
static unsigned lines_with_print(const char *path, const char *needle, bool print) {
        char line[1024];
        unsigned n = 0;
        FILE *f = fopen(path, "re");

        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f))
                if (strstr(line, needle)) {
                        n++;
                        if (print)
                                printf("  %s", line);
                }
        fclose(f);
        return n;
}

static unsigned lines_with(const char *path, const char *needle) {
        return lines_with_print(path, needle, false);
}

static void print_logs(void) {
        print_file("bridge A log", bridge_a.log);
        print_file("bridge B log", bridge_b.log);
        print_file("bridge A status", bridge_a.status);
        print_file("bridge B status", bridge_b.status);
}

/* Fail the test with the bridges' logs on stderr. */
#define check_or_logs(cond, ...)                                                                                       \
        do {                                                                                                           \
                if (!(cond))                                                                                           \
                        print_logs();                                                                                  \
                ck_assert_msg(cond, __VA_ARGS__);                                                                      \
        } while (0)

/* Fork a child that dies with us (so a failed test leaves no server or bridge behind). */
static pid_t spawn(const char *log, char *const argv[]) {
        pid_t parent = getpid(), pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(126);
                if (fd >= 0) {
                        dup2(fd, STDOUT_FILENO);
                        dup2(fd, STDERR_FILENO);
                }
                execv(argv[0], argv);
                _exit(127);
        }
        return pid;
}

/* Run @argv (NULL-terminated; TMPDIR=@tmp unless NULL) with its output in @out; its wait
 * status, or -1 after @ms (then it was killed). */
static int run_capture(char *const argv[], const char *tmp, char *out, size_t size, int ms) {
        ssize_t n, got = 0;
        int p[2];
        pid_t pid;

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                dup2(p[1], STDOUT_FILENO);
                if (tmp)
                        setenv("TMPDIR", tmp, 1);
                execv(argv[0], argv);
                _exit(127);
        }
        close(p[1]);
        while ((n = read(p[0], out + got, size - 1 - (size_t)got)) > 0)
                got += n;
        close(p[0]);
        out[got] = 0;
        return harness_wait_exit(pid, ms);
}

static int free_port(void) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        close(fd);
        return ntohs(a.sin_port);
}

static bool port_open(int port) {
        struct sockaddr_in a = { .sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

        if (fd >= 0)
                close(fd);
        return ok;
}

/* Start nats-server with JetStream on ns.port, its store in ns.store; wait until it listens. */
static void nats_start(void) {
        char port[16];
        char *argv[] = { (char *)nats_server_bin,  "-a",    "127.0.0.1", "-p", port, "-js", "-sd", ns.store,
                         ns.conf[0] ? "-c" : NULL, ns.conf, NULL };

        snprintf(port, sizeof(port), "%d", ns.port);
        ns.pid = spawn(ns.log, argv);
        for (int64_t dl = harness_now_us() + harness_ms(10000) * 1000LL; !port_open(ns.port);) {
                if (harness_now_us() > dl || waitpid(ns.pid, NULL, WNOHANG) == ns.pid) {
                        print_file("nats-server log", ns.log);
                        ck_abort_msg("nats-server did not come up on port %d", ns.port);
                }
                msleep(10);
        }
}

static void nats_signal_and_wait(int sig) {
        if (ns.pid <= 0)
                return;
        kill(ns.pid, SIGCONT); /* a test that failed while it was frozen */
        kill(ns.pid, sig);
        harness_wait_exit(ns.pid, harness_ms(10000));
        ns.pid = 0;
}

/* The test's own client, to look at streams and consumers and to measure NATS alone. */
static void test_client(void) {
        char url[64];
        natsStatus s;

        if (test_js)
                return;
        snprintf(url, sizeof(url), "nats://127.0.0.1:%d", ns.port);
        for (int64_t dl = harness_now_us() + harness_ms(10000) * 1000LL;;) {
                s = natsConnection_ConnectTo(&test_nc, url);
                if (s == NATS_OK)
                        break;
                ck_assert_msg(harness_now_us() < dl, "test client: %s", natsStatus_GetText(s));
                msleep(50);
        }
        ck_assert_int_eq(natsConnection_JetStream(&test_js, test_nc, NULL), NATS_OK);
}

static void test_client_close(void) {
        jsCtx_Destroy(test_js);
        test_js = NULL;
        natsConnection_Destroy(test_nc);
        test_nc = NULL;
}

/* Messages in a stream, retrying while JetStream comes up. */
static uint64_t stream_msgs(const char *stream) {
        jsStreamInfo *si = NULL;
        natsStatus s;
        uint64_t n;

        test_client();
        for (int64_t dl = harness_now_us() + harness_ms(10000) * 1000LL;;) {
                s = js_GetStreamInfo(&si, test_js, stream, NULL, NULL);
                if (s == NATS_OK)
                        break;
                ck_assert_msg(harness_now_us() < dl, "stream info %s: %s", stream, natsStatus_GetText(s));
                msleep(50);
        }
        n = si->State.Msgs;
        jsStreamInfo_Destroy(si);
        return n;
}

/* ---- the bridges ---------------------------------------------------------------------------- */

static void bridge_init(Bridge *b, const char *host, const TestDaemon *d, const char *direction) {
        memset(b, 0, sizeof(*b));
        b->host = host;
        b->daemon = d;
        b->direction = direction;
        snprintf(b->config, sizeof(b->config), "%s/bridge-%s.conf", tmpdir, host);
        snprintf(b->log, sizeof(b->log), "%s/bridge-%s.log", tmpdir, host);
        snprintf(b->status, sizeof(b->status), "%s/bridge-%s.status", tmpdir, host);
        snprintf(b->metrics, sizeof(b->metrics), "%s/bridge-%s.prom", tmpdir, host);
}

/* The config file of @b; @stream_extra: more lines for the [stream] section, or "". */
static void bridge_configure(Bridge *b, const char *stream_extra) {
        FILE *f = fopen(b->config, "we");

        ck_assert_ptr_nonnull(f);
        fprintf(f,
                "# written by tests/test-bridge.c\n"
                "[nats]\nurl = nats://127.0.0.1:%d\nreconnect-wait-ms = 100\nconnect-timeout-ms = 500\n%s\n"
                "[bridge]\nhost = %s\nsocket = %s\nstatus-file = %s\n\n"
                "[stream " STREAM "]\nsubjects = shmbox.>\n%s\n"
                "[mailbox " MAILBOX "]\ndirection = %s\nsubject = " SUBJECT "\nstream = " STREAM "\n"
                "publish-timeout-ms = 1000\nack-wait-ms = 2000\n%s%s%s%s",
                ns.port, b->nats_extra, b->host, b->daemon->socket, b->status, stream_extra, b->direction,
                b->delivery ? "delivery = " : "", b->delivery ? b->delivery : "", b->delivery ? "\n" : "", b->routes);
        ck_assert_int_eq(fclose(f), 0);
}

static void bridge_start(Bridge *b) {
        const char *bin = getenv("SHMBOX_BRIDGE");
        char *argv[] = { (char *)bin, "--config", b->config, "--log-level", "debug", "--metrics", b->metrics, NULL };

        ck_assert_msg(bin && *bin, "SHMBOX_BRIDGE is not set (run the suites through make check)");
        ck_assert_int_eq(b->pid, 0);
        unlink(b->status);
        unlink(b->metrics);
        b->pid = spawn(b->log, argv);
}

static void bridge_kill(Bridge *b) {
        if (b->pid <= 0)
                return;
        kill(b->pid, SIGKILL);
        harness_wait_exit(b->pid, harness_ms(10000));
        b->pid = 0;
}

/* SIGTERM, and a clean exit 0 within 10 s. */
static void bridge_stop(Bridge *b) {
        int status;

        if (b->pid <= 0)
                return;
        kill(b->pid, SIGTERM);
        status = harness_wait_exit(b->pid, harness_ms(10000));
        b->pid = 0;
        check_or_logs(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "bridge %s did not exit cleanly on SIGTERM (status 0x%x)", b->host, status);
}

/* The value of @key in @section of @b's status file; false if not (yet) there. */
static bool status_value(const Bridge *b, const char *section, const char *key, char *buf, size_t size) {
        char line[512], cur[128] = "";
        FILE *f = fopen(b->status, "re");
        bool found = false;

        if (!f)
                return false;
        while (!found && fgets(line, sizeof(line), f)) {
                size_t k = strlen(key);

                line[strcspn(line, "\n")] = 0;
                if (line[0] == '[') {
                        snprintf(cur, sizeof(cur), "%.*s", (int)strcspn(line + 1, "]"), line + 1);
                } else if (strcmp(cur, section) == 0 && strncmp(line, key, k) == 0 &&
                           strncmp(line + k, " = ", 3) == 0) {
                        snprintf(buf, size, "%s", line + k + 3);
                        found = true;
                }
        }
        fclose(f);
        return found;
}

static uint64_t status_u64(const Bridge *b, const char *key) {
        char v[64];

        return status_value(b, "mailbox " MAILBOX, key, v, sizeof(v)) ? strtoull(v, NULL, 10) : 0;
}

static bool status_is(const Bridge *b, const char *section, const char *key, const char *want) {
        char v[256];

        return status_value(b, section, key, v, sizeof(v)) && strcmp(v, want) == 0;
}

#define wait_for(cond, ms, ...)                                                                                        \
        do {                                                                                                           \
                int64_t _dl = harness_now_us() + (int64_t)harness_ms(ms) * 1000;                                       \
                while (!(cond) && harness_now_us() < _dl)                                                              \
                        msleep(10);                                                                                    \
                check_or_logs(cond, __VA_ARGS__);                                                                      \
        } while (0)

static void wait_running(const Bridge *b) {
        wait_for(status_is(b, "bridge", "connected", "yes") && status_is(b, "mailbox " MAILBOX, "state", "running"),
                 10000, "bridge %s did not come up", b->host);
}

/* Write both configs (the same stream settings) and start the bridges named by @which: "AB", "A". */
static void bridges_start(const char *which, const char *stream_extra) {
        bridge_configure(&bridge_a, stream_extra);
        bridge_configure(&bridge_b, stream_extra);
        if (strchr(which, 'A')) {
                bridge_start(&bridge_a);
                wait_running(&bridge_a);
        }
        if (strchr(which, 'B')) {
                bridge_start(&bridge_b);
                wait_running(&bridge_b);
        }
}

/* ---- fixture ---------------------------------------------------------------------------------- */

static void setup(void) {
        struct shmbox_config cfg = { .slots = SLOTS, .slot_size = 256 };
        const char *tmp = getenv("TMPDIR");

        snprintf(tmpdir, sizeof(tmpdir), "%s/shmbox-bridge.XXXXXX", tmp && *tmp && strlen(tmp) < 60 ? tmp : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        ns = (Nats){ .port = free_port() };
        snprintf(ns.store, sizeof(ns.store), "%s/jetstream", tmpdir);
        snprintf(ns.log, sizeof(ns.log), "%s/nats-server.log", tmpdir);
        nats_start();

        harness_daemon_start(&host_a, NULL);
        harness_daemon_start(&host_b, NULL);
        client_a = harness_connect(&host_a);
        client_b = harness_connect(&host_b);
        ck_assert_int_eq(shmbox_create(client_a, MAILBOX, &cfg), 0);
        ck_assert_int_eq(shmbox_create(client_b, MAILBOX, &cfg), 0);
        bridge_init(&bridge_a, "hostA", &host_a, "outbound");
        bridge_init(&bridge_b, "hostB", &host_b, "inbound");
}

static void teardown(void) {
        bridge_stop(&bridge_a);
        bridge_stop(&bridge_b);
        test_client_close();
        ck_assert_int_eq(shmbox_destroy(client_a, MAILBOX), 0);
        ck_assert_int_eq(shmbox_destroy(client_b, MAILBOX), 0);
        (void)shmbox_destroy(client_a, MAILBOX2); /* the reload tests' second mailbox, if made */
        (void)shmbox_destroy(client_b, MAILBOX2);
        shmbox_disconnect(client_a);
        shmbox_disconnect(client_b);
        client_a = client_b = NULL;
        harness_daemon_done(&host_a);
        harness_daemon_done(&host_b);
        nats_signal_and_wait(SIGTERM);
        rm_rf(tmpdir);
}

/* ---- traffic: a sender on A, a receiver on B -------------------------------------------------- */

typedef struct Traffic {
        unsigned first; /* messages "seq N" for N in [first, first + count) */
        unsigned count;
        unsigned pace_us;    /* pause between sends */
        unsigned rx_pace_us; /* pause after each receive */
        int send_timeout_ms; /* per shmbox_send(); -EAGAIN/-ETIMEDOUT are retried */
        bool no_receiver;    /* start only the sender */
        const char *mailbox; /* on both hosts; NULL: MAILBOX */
        atomic_bool stop_tx; /* the sender stops early (the messages sent are [0, acked)) */
        atomic_uint acked;   /* shmbox_send() returned 0 for [0, acked) */
        atomic_uint received;
        atomic_bool tx_done, stop_rx;
        int tx_error, rx_error;
        uint16_t *seen;                         /* [count]: times each was received */
        _Atomic int64_t last_rx_us, max_gap_us; /* the longest time B received nothing, once started */
        pthread_t tx, rx;
        bool tx_started, tx_joined, rx_started;
} Traffic;

static void *sender_main(void *arg) {
        Traffic *t = arg;
        shmbox_client *c = NULL;
        shmbox *box = NULL;
        char buf[PAYLOAD];
        int r;

        r = shmbox_connect(host_a.socket, &c);
        if (r == 0)
                r = shmbox_attach(c, t->mailbox ? t->mailbox : MAILBOX, &box);
        for (unsigned seq = 0; r == 0 && seq < t->count && !atomic_load(&t->stop_tx); seq++) {
                int64_t dl = harness_now_us() + harness_ms(30000) * 1000LL;

                memset(buf, 'x', sizeof(buf));
                snprintf(buf, sizeof(buf), "seq %08u ", t->first + seq);
                do
                        r = shmbox_send(box, buf, sizeof(buf), t->send_timeout_ms);
                while ((r == -EAGAIN || r == -ETIMEDOUT) && harness_now_us() < dl && !atomic_load(&t->stop_tx));
                if (r == 0)
                        atomic_store(&t->acked, seq + 1);
                if (t->pace_us)
                        usleep(t->pace_us);
        }
        t->tx_error = r;
        shmbox_detach(box);
        shmbox_disconnect(c);
        atomic_store(&t->tx_done, true);
        return NULL;
}

static void *receiver_main(void *arg) {
        Traffic *t = arg;
        shmbox_client *c = NULL;
        shmbox *box = NULL;
        char buf[256];
        int r;

        r = shmbox_connect(host_b.socket, &c);
        if (r == 0)
                r = shmbox_attach(c, t->mailbox ? t->mailbox : MAILBOX, &box);
        while (r == 0 && !atomic_load(&t->stop_rx)) {
                ssize_t n = shmbox_recv(box, buf, sizeof(buf) - 1, 100);
                unsigned seq;

                if (n == -ETIMEDOUT || n == -EAGAIN)
                        continue;
                if (n < 0) {
                        r = (int)n;
                        break;
                }
                buf[n] = 0;
                if (sscanf(buf, "seq %u", &seq) == 1 && seq >= t->first && seq - t->first < t->count)
                        t->seen[seq - t->first]++;
                {
                        int64_t now = harness_now_us(), last = atomic_load(&t->last_rx_us);

                        if (last && now - last > atomic_load(&t->max_gap_us))
                                atomic_store(&t->max_gap_us, now - last);
                        atomic_store(&t->last_rx_us, now);
                }
                atomic_fetch_add(&t->received, 1);
                if (t->rx_pace_us)
                        usleep(t->rx_pace_us);
        }
        t->rx_error = r;
        shmbox_detach(box);
        shmbox_disconnect(c);
        return NULL;
}

static void traffic_start_receiver(Traffic *t) {
        ck_assert_int_eq(pthread_create(&t->rx, NULL, receiver_main, t), 0);
        t->rx_started = true;
}

static void traffic_start(Traffic *t) {
        t->seen = calloc(t->count, sizeof(uint16_t));
        ck_assert_ptr_nonnull(t->seen);
        if (!t->send_timeout_ms)
                t->send_timeout_ms = 1000;
        ck_assert_int_eq(pthread_create(&t->tx, NULL, sender_main, t), 0);
        t->tx_started = true;
        if (!t->no_receiver)
                traffic_start_receiver(t);
}

static void traffic_wait_sender(Traffic *t) {
        if (t->tx_started && !t->tx_joined) {
                pthread_join(t->tx, NULL);
                t->tx_joined = true;
        }
}

/* Only a receiver, for @count messages from @first that were sent some other way. */
static void traffic_expect(Traffic *t, unsigned first, unsigned count) {
        *t = (Traffic){ .first = first, .count = count };
        t->seen = calloc(count, sizeof(uint16_t));
        ck_assert_ptr_nonnull(t->seen);
        atomic_store(&t->acked, count);
        traffic_start_receiver(t);
}

/* Wait for the sender, then for every acknowledged message at B; print and check: lost = 0.
 * Returns the duplicates. */
static unsigned traffic_finish(Traffic *t, const char *what, int deadline_ms) {
        unsigned acked, lost = 0, dups = 0, distinct = 0;
        int64_t dl;

        traffic_wait_sender(t);
        acked = atomic_load(&t->acked);
        if (!t->rx_started)
                traffic_start_receiver(t);
        dl = harness_now_us() + (int64_t)harness_ms(deadline_ms) * 1000;
        for (unsigned next = 0; next < acked && harness_now_us() < dl;) {
                if (t->seen[next])
                        next++;
                else
                        msleep(10);
        }
        msleep(200); /* late duplicates, to count them */
        atomic_store(&t->stop_rx, true);
        pthread_join(t->rx, NULL);
        for (unsigned i = 0; i < t->count; i++) {
                if (i < acked && !t->seen[i])
                        lost++;
                if (t->seen[i]) {
                        distinct++;
                        dups += t->seen[i] - 1u;
                }
        }
        printf("bridge %s: sent %u (acknowledged on A), received %u at B, lost %u, duplicates %u\n", what, acked,
               atomic_load(&t->received), lost, dups);
        fflush(stdout);
        check_or_logs(t->tx_error == 0, "sender: %s", shmbox_strerror(t->tx_error));
        check_or_logs(t->rx_error == 0, "receiver: %s", shmbox_strerror(t->rx_error));
        check_or_logs(acked == t->count, "only %u of %u sent", acked, t->count);
        check_or_logs(lost == 0, "%s: %u acknowledged message(s) lost", what, lost);
        free(t->seen);
        t->seen = NULL;
        return dups;
}

/* The whole metrics file of @b into @buf ("" if there is none). */
static void metrics_text(const Bridge *b, char *buf, size_t size) {
        FILE *f = fopen(b->metrics, "re");
        size_t n = 0;

        if (f) {
                n = fread(buf, 1, size - 1, f);
                fclose(f);
        }
        buf[n] = '\0';
}

/* Whether the metrics file of @b has the line @line. */
static bool metrics_has(const Bridge *b, const char *line) {
        char text[8192], want[256];

        metrics_text(b, text, sizeof(text));
        snprintf(want, sizeof(want), "\n%s\n", line);
        return strstr(text, want) != NULL;
}

/* promtool check metrics on @b's metrics file, when promtool is installed (else SKIP, loudly). */
static void metrics_promtool(const Bridge *b) {
        char cmd[400], out[4096] = "";
        int status;

        if (system("command -v promtool >/dev/null 2>&1") != 0) {
                printf("SKIP: promtool check metrics: promtool is not installed (Debian: apt-get install "
                       "prometheus)\n");
                fflush(stdout);
                return;
        }
        snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' 2>&1", b->metrics);
        status = run_capture((char *[]){ "/bin/sh", "-c", cmd, NULL }, NULL, out, sizeof(out), harness_ms(10000));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "promtool check metrics on %s: 0x%x\n%s",
                      b->metrics, status, out);
}

/* ---- tests ------------------------------------------------------------------------------------- */

START_TEST(test_a_sender_on_a_reaches_a_receiver_on_b) {
        Traffic t = { .count = 2000 };
        char out[4096] = "";
        int status;
        pid_t pid;

        bridges_start("AB", "");
        traffic_start(&t);
        ck_assert_uint_eq(traffic_finish(&t, "plain", 20000), 0); /* no fault: no duplicate */
        wait_for(status_u64(&bridge_a, "acked") == 2000 && status_u64(&bridge_b, "acked") == 2000, 5000,
                 "the bridges did not count 2000 acks");
        ck_assert_uint_eq(status_u64(&bridge_a, "published"), 2000);
        ck_assert_uint_eq(status_u64(&bridge_a, "in-flight"), 0);
        ck_assert_uint_eq(status_u64(&bridge_b, "committed"), 2000);
        ck_assert_uint_eq(status_u64(&bridge_b, "redelivered"), 0);

        /* shmbox-bridge --status reads the same file */
        status = run_capture((char *[]){ getenv("SHMBOX_BRIDGE"), "--status", "--config", bridge_a.config, NULL }, NULL,
                             out, sizeof(out), harness_ms(5000));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "--status exited 0x%x:\n%s", status, out);
        ck_assert_msg(strstr(out, "connected    yes") && strstr(out, "mailbox orders") &&
                              strstr(out, "acked        2000"),
                      "--status printed:\n%s", out);

        /* --metrics: the same figures for Prometheus, exact after the known traffic */
        wait_for(metrics_has(&bridge_a,
                             "shmbox_bridge_acked_messages_total{mailbox=\"orders\",direction=\"outbound\"} 2000") &&
                         metrics_has(
                                 &bridge_b,
                                 "shmbox_bridge_acked_messages_total{mailbox=\"orders\",direction=\"inbound\"} 2000"),
                 5000, "the metrics files do not show 2000 acks");
        ck_assert(metrics_has(&bridge_a, "shmbox_bridge_connected 1"));
        ck_assert(metrics_has(&bridge_a, "shmbox_bridge_mailboxes 1"));
        ck_assert(metrics_has(&bridge_a, "# TYPE shmbox_bridge_published_messages_total counter"));
        ck_assert(metrics_has(
                &bridge_a, "shmbox_bridge_published_messages_total{mailbox=\"orders\",direction=\"outbound\"} 2000"));
        ck_assert(metrics_has(&bridge_a,
                              "shmbox_bridge_in_flight_messages{mailbox=\"orders\",direction=\"outbound\"} 0"));
        ck_assert(metrics_has(&bridge_a, "shmbox_bridge_mailbox_ready{mailbox=\"orders\",direction=\"outbound\"} 1"));
        ck_assert(metrics_has(&bridge_b,
                              "shmbox_bridge_committed_messages_total{mailbox=\"orders\",direction=\"inbound\"} 2000"));
        ck_assert(metrics_has(&bridge_b,
                              "shmbox_bridge_redelivered_messages_total{mailbox=\"orders\",direction=\"inbound\"} 0"));
        ck_assert(metrics_has(&bridge_b, "shmbox_bridge_errors_total{mailbox=\"orders\",direction=\"inbound\"} 0"));
        {
                char text[8192];

                /* each direction has only its own figures */
                metrics_text(&bridge_b, text, sizeof(text));
                ck_assert_msg(!strstr(text, "shmbox_bridge_published_messages_total"), "%s", text);
                metrics_text(&bridge_a, text, sizeof(text));
                ck_assert_msg(!strstr(text, "shmbox_bridge_committed_messages_total"), "%s", text);
        }
        metrics_promtool(&bridge_a);
        metrics_promtool(&bridge_b);
        /* a clean stop removes the file: no old figures exported for a bridge that is gone */
        bridge_stop(&bridge_b);
        ck_assert_int_eq(access(bridge_b.metrics, F_OK), -1);

        /* a killed bridge leaves its last figures, and --status says it is gone */
        bridge_kill(&bridge_a);
        pid = fork();
        if (pid == 0) {
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                dup2(fd, STDOUT_FILENO);
                execl(getenv("SHMBOX_BRIDGE"), "shmbox-bridge", "--status", "--status-file", bridge_a.status,
                      (char *)NULL);
                _exit(127);
        }
        status = harness_wait_exit(pid, harness_ms(5000));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "--status of a dead bridge: 0x%x", status);
        /* ... and its metrics file, with the time it was written */
        ck_assert(metrics_has(&bridge_a, "# TYPE shmbox_bridge_last_update_timestamp_seconds gauge"));
}
END_TEST

/*
 * The id of a message is host.mailbox.generation.position and survives a restart: nats-server
 * is frozen (SIGSTOP) so that acks do not come back, the bridge is killed holding published
 * messages, the server resumes and stores them, the daemon gives the slots back, and the next
 * bridge publishes them again — with the same ids, so the stream keeps each message once.
 */
START_TEST(test_a_message_published_again_after_a_bridge_restart_keeps_its_id) {
        Traffic first = { .count = 10, .no_receiver = true }, more = { .first = 10, .count = 5, .no_receiver = true };
        Traffic t;
        struct shmbox_stat st;
        shmbox *box;
        natsMsg *m = NULL;
        const char *id = NULL;
        char want[128];
        uint64_t stored, dups;

        bridges_start("A", "retention = limits\n");
        traffic_start(&first);
        traffic_wait_sender(&first);
        free(first.seen);
        wait_for(status_u64(&bridge_a, "acked") == 10, 10000, "10 messages not acked");

        ck_assert_int_eq(kill(ns.pid, SIGSTOP), 0);
        traffic_start(&more);
        traffic_wait_sender(&more);
        free(more.seen);
        wait_for(status_u64(&bridge_a, "published") == 15, 10000, "5 more messages not published");
        msleep(100);
        bridge_kill(&bridge_a);
        ck_assert_int_eq(kill(ns.pid, SIGCONT), 0);
        /* the server reads what the dead bridge had written to its socket, and stores it */
        for (int64_t dl = harness_now_us() + harness_ms(3000) * 1000LL;
             stream_msgs(STREAM) < 15 && harness_now_us() < dl;)
                msleep(20);
        stored = stream_msgs(STREAM);
        ck_assert_uint_ge(stored, 10);
        ck_assert_uint_le(stored, 15);

        bridge_start(&bridge_a);
        wait_for(status_u64(&bridge_a, "acked") == 5, 10000, "the 5 messages were not published again");
        dups = status_u64(&bridge_a, "duplicates");
        printf("bridge restart: %" PRIu64 " of 5 unacked messages had reached the stream; the stream dropped %" PRIu64
               " retransmission(s) by id; it holds %" PRIu64 "\n",
               stored - 10, dups, stream_msgs(STREAM));
        ck_assert_uint_eq(dups, stored - 10);
        ck_assert_uint_eq(stream_msgs(STREAM), 15); /* each message once */

        /* the first message's id: host.mailbox.generation.position */
        ck_assert_int_eq(shmbox_attach(client_a, MAILBOX, &box), 0);
        ck_assert_int_eq(shmbox_stat(box, &st), 0);
        shmbox_detach(box);
        ck_assert_int_eq(js_GetMsg(&m, test_js, STREAM, 1, NULL, NULL), NATS_OK);
        ck_assert_int_eq(natsMsgHeader_Get(m, "Nats-Msg-Id", &id), NATS_OK);
        snprintf(want, sizeof(want), "hostA." MAILBOX ".%" PRIu64 ".0", st.generation);
        ck_assert_str_eq(id, want);
        natsMsg_Destroy(m);

        /* and B gets all 15, once */
        bridge_start(&bridge_b);
        traffic_expect(&t, 0, 15);
        ck_assert_uint_eq(traffic_finish(&t, "after a restart", 10000), 0);
}
END_TEST

START_TEST(test_killing_the_bridges_mid_stream_loses_nothing) {
        Traffic t = { .count = 3000, .pace_us = 300 };
        unsigned dups;

        bridges_start("AB", "");
        traffic_start(&t);
        wait_for(atomic_load(&t.received) >= 600, 20000, "traffic did not start");
        bridge_kill(&bridge_a);
        msleep(100);
        bridge_start(&bridge_a);
        wait_for(atomic_load(&t.received) >= 1800, 20000, "traffic did not resume after bridge A's restart");
        bridge_kill(&bridge_b);
        msleep(100);
        bridge_start(&bridge_b);
        dups = traffic_finish(&t, "kill -9 of both bridges", 30000);
        wait_running(&bridge_a);
        wait_running(&bridge_b);
        printf("bridge kill -9: duplicates at B %u (a committed message whose ack died with bridge B is delivered "
               "again; B redelivered %" PRIu64 ", A's retransmissions dropped by the stream %" PRIu64 ")\n",
               dups, status_u64(&bridge_b, "redelivered"), status_u64(&bridge_a, "duplicates"));
}
END_TEST

START_TEST(test_killing_a_daemon_mid_stream_loses_nothing) {
        Traffic t = { .count = 3000, .pace_us = 300 };

        bridges_start("AB", "");
        traffic_start(&t);
        wait_for(atomic_load(&t.received) >= 600, 20000, "traffic did not start");
        harness_daemon_kill(&host_a); /* the sender and the bridge keep going through the mailbox */
        msleep(200);
        harness_daemon_restart(&host_a);
        wait_for(atomic_load(&t.received) >= 1800, 20000, "traffic did not resume after daemon A's restart");
        harness_daemon_kill(&host_b);
        msleep(200);
        harness_daemon_restart(&host_b);
        traffic_finish(&t, "kill -9 of both daemons", 30000);
        ck_assert_uint_eq(status_u64(&bridge_a, "stale"), 0);
}
END_TEST

START_TEST(test_restarting_or_cutting_nats_mid_stream_loses_nothing) {
        Traffic t = { .count = 3000, .pace_us = 500 };
        unsigned dups, replays;

        bridges_start("AB", "");
        traffic_start(&t);
        wait_for(atomic_load(&t.received) >= 500, 20000, "traffic did not start");
        nats_signal_and_wait(SIGKILL); /* a crash, then a restart on the same store */
        nats_start();
        wait_for(atomic_load(&t.received) >= 1200, 30000, "traffic did not resume after nats-server's restart");

        nats_signal_and_wait(SIGTERM); /* the connection cut for 2 s */
        wait_for(status_is(&bridge_a, "bridge", "connected", "no") && status_is(&bridge_b, "bridge", "connected", "no"),
                 15000, "the bridges do not show the cut");
        msleep(2000);
        nats_start();
        wait_for(status_is(&bridge_a, "bridge", "connected", "yes") &&
                         status_is(&bridge_b, "bridge", "connected", "yes"),
                 30000, "the bridges did not reconnect");
        dups = traffic_finish(&t, "nats-server restart and cut", 40000);
        /* Duplicates at B beyond B's redeliveries are retransmissions from A of messages the
         * work-queue stream had stored, handed to B and deleted before the crash: the
         * restarted server rebuilt its duplicate window from what it still stores. */
        printf("bridge nats restart: A retried %" PRIu64 " publish(es), the stream dropped %" PRIu64
               " retransmission(s) by id; duplicates at B %u, of which B's redeliveries %" PRIu64 "\n",
               status_u64(&bridge_a, "retried"), status_u64(&bridge_a, "duplicates"), dups,
               status_u64(&bridge_b, "redelivered"));
        /* after each reconnect B sent its newest acks and confirmations again (the server that
         * had them may have died with them) */
        replays = lines_with_print(bridge_b.log, "sent again", true);
        check_or_logs(replays >= 2, "B sent its last acks again after %u of 2 reconnects", replays);
}
END_TEST

/* Whether the bridge @b still runs (it did not crash). */
static bool bridge_alive(const Bridge *b) {
        int status;

        return b->pid > 0 && waitpid(b->pid, &status, WNOHANG) == 0;
}

/*
 * nats-server frozen (SIGSTOP) for 3 s, three times, while both bridges move messages: B's pull
 * requests wait in the frozen server, which answers them all at once when it resumes — what
 * made libnats 3.4's natsSubscription_Fetch() overrun its array (issue 18). B's consumer waits
 * 30 s for an ack here, so that a redelivery cannot hide a message delivered twice: every
 * message arrives exactly once, and neither bridge dies.
 */
START_TEST(test_freezing_nats_with_pull_requests_outstanding_delivers_each_message_once) {
        Traffic t = { .count = 4000, .pace_us = 300 };
        unsigned dups;

        strcpy(bridge_b.routes, "ack-wait-ms = 30000\n"); /* overrides the 2000 above it */
        bridges_start("AB", "");
        traffic_start(&t);
        for (unsigned i = 0; i < 3; i++) {
                wait_for(atomic_load(&t.received) >= 300 + i * 900, 30000, "traffic did not go on before freeze %u", i);
                ck_assert_int_eq(kill(ns.pid, SIGSTOP), 0);
                msleep(3000);
                ck_assert_int_eq(kill(ns.pid, SIGCONT), 0);
                msleep(300);
                check_or_logs(bridge_alive(&bridge_a) && bridge_alive(&bridge_b), "a bridge died in freeze %u", i);
        }
        dups = traffic_finish(&t, "nats-server frozen 3 times 3 s", 40000);
        check_or_logs(bridge_alive(&bridge_a) && bridge_alive(&bridge_b), "a bridge died");
        wait_for(status_u64(&bridge_b, "committed") >= 4000, 5000, "B's status does not count 4000 committed");
        printf("bridge nats frozen: duplicates at B %u, B redelivered %" PRIu64 ", B fetched %" PRIu64 " for %" PRIu64
               " committed; longest stall %.1f s (3 s frozen)\n",
               dups, status_u64(&bridge_b, "redelivered"), status_u64(&bridge_b, "fetched"),
               status_u64(&bridge_b, "committed"), (double)atomic_load(&t.max_gap_us) / 1e6);
        fflush(stdout);
        check_or_logs(dups == 0, "%u message(s) delivered twice", dups);
}
END_TEST

/*
 * The bridge never has more messages out than its mailbox has room for, even when nats-server
 * is frozen while it pulls. B's consumer is made beforehand by "an operator", with a
 * max-ack-pending of 1000 (the bridge never changes an existing consumer), so the server does
 * not bound the bridge; 384 messages wait in the stream. B's mailbox is full; the server is
 * frozen; a slow receiver empties the mailbox, and B pulls into the frozen server. When it
 * resumes, it answers every request it queued: before B issued its own requests (libnats'
 * fetch sent a new one every 500 ms, 6 in 3 s), 6 x 16 messages came at once — more than the
 * mailbox holds, the burst that overran libnats' fetch array. Now B sends no request to a
 * server that does not answer a PING, and at most 16 messages are out to it at any time.
 */
START_TEST(test_a_frozen_nats_does_not_pile_up_pull_requests) {
        Traffic t = { .count = 400, .no_receiver = true, .rx_pace_us = 2000 };
        jsConsumerConfig cc;
        jsConsumerInfo *ci = NULL;
        int64_t max_pending = 0;

        /* stream-ack: B's mailbox fills while A's senders go on; end-to-end would hold them at A */
        bridge_a.delivery = bridge_b.delivery = "stream-ack";
        bridge_configure(&bridge_a, "");
        bridge_configure(&bridge_b, "");
        bridge_start(&bridge_a);
        wait_running(&bridge_a);
        test_client();
        jsConsumerConfig_Init(&cc);
        cc.Durable = "hostB_" MAILBOX;
        cc.FilterSubject = SUBJECT;
        cc.AckPolicy = js_AckExplicit;
        cc.AckWait = 30000LL * 1000000;
        cc.MaxDeliver = -1;
        cc.MaxAckPending = 1000;
        ck_assert_int_eq(js_AddConsumer(&ci, test_js, STREAM, &cc, NULL, NULL), NATS_OK);
        jsConsumerInfo_Destroy(ci);
        bridge_start(&bridge_b);
        wait_running(&bridge_b);

        traffic_start(&t);
        traffic_wait_sender(&t);
        wait_for(status_u64(&bridge_b, "committed") == SLOTS, 10000, "B's mailbox did not fill");
        ck_assert_int_eq(kill(ns.pid, SIGSTOP), 0);
        traffic_start_receiver(&t);
        msleep(3000);
        ck_assert_int_eq(kill(ns.pid, SIGCONT), 0);
        for (int64_t dl = harness_now_us() + 2000000; harness_now_us() < dl; msleep(10)) {
                if (js_GetConsumerInfo(&ci, test_js, STREAM, "hostB_" MAILBOX, NULL, NULL) != NATS_OK)
                        continue;
                if (ci->NumAckPending > max_pending)
                        max_pending = ci->NumAckPending;
                jsConsumerInfo_Destroy(ci);
        }
        printf("bridge frozen while pulling: at most %" PRId64 " message(s) out to B after the server resumed (its "
               "mailbox: %d slots)\n",
               max_pending, SLOTS);
        fflush(stdout);
        check_or_logs(max_pending <= SLOTS, "%" PRId64 " messages out to B, more than its mailbox holds", max_pending);
        check_or_logs(bridge_alive(&bridge_b), "bridge B died");
        ck_assert_uint_eq(traffic_finish(&t, "frozen while pulling", 30000), 0);
}
END_TEST

/*
 * nats-server killed (kill -9) and started again at once on its store, under traffic: lost 0,
 * and traffic resumes. The stall (the longest time B received nothing) and the time from the
 * server listening again to B receiving again are printed, not checked (a noisy machine).
 */
START_TEST(test_a_nats_restart_mid_traffic_loses_nothing_and_resumes) {
        Traffic t = { .count = 3000, .pace_us = 1000 };
        int64_t down, up, resumed;
        unsigned at_up, dups;

        bridges_start("AB", "");
        traffic_start(&t);
        wait_for(atomic_load(&t.received) >= 500, 20000, "traffic did not start");
        down = harness_now_us();
        nats_signal_and_wait(SIGKILL);
        nats_start();
        up = harness_now_us();
        at_up = atomic_load(&t.received);
        wait_for(atomic_load(&t.received) >= at_up + 50, 30000, "traffic did not resume after nats-server's restart");
        resumed = harness_now_us();
        dups = traffic_finish(&t, "nats-server kill -9 and restart", 40000);
        check_or_logs(bridge_alive(&bridge_a) && bridge_alive(&bridge_b), "a bridge died");
        printf("bridge nats restart stall: longest time without a message at B %.2f s; the server was down %.2f s; "
               "B received 50 more %.2f s after it listened again; duplicates %u (B redelivered %" PRIu64
               "); A retried %" PRIu64 "\n",
               (double)atomic_load(&t.max_gap_us) / 1e6, (double)(up - down) / 1e6, (double)(resumed - up) / 1e6, dups,
               status_u64(&bridge_b, "redelivered"), status_u64(&bridge_a, "retried"));
        fflush(stdout);
}
END_TEST

START_TEST(test_a_full_mailbox_on_b_stops_the_consumer) {
        Traffic t = { .count = 100, .no_receiver = true };
        struct shmbox_info info;
        jsConsumerInfo *ci = NULL;

        /* stream-ack: A lets go once stored; end-to-end is the next test */
        bridge_a.delivery = bridge_b.delivery = "stream-ack";
        bridges_start("AB", "");
        traffic_start(&t);
        traffic_wait_sender(&t);
        ck_assert_uint_eq(atomic_load(&t.acked), 100);
        wait_for(status_u64(&bridge_a, "acked") == 100, 10000, "A did not publish 100");
        wait_for(status_u64(&bridge_b, "committed") == SLOTS, 10000, "B's mailbox did not fill");
        msleep(1000); /* and stays so: the consumer stopped pulling */
        ck_assert_int_eq(shmbox_info(client_b, MAILBOX, &info), 0);
        ck_assert_uint_eq(info.queued, SLOTS);
        ck_assert_uint_eq(status_u64(&bridge_b, "fetched"), SLOTS); /* nothing held beyond what fits */
        ck_assert_uint_eq(status_u64(&bridge_b, "in-flight"), 0);
        test_client();
        ck_assert_int_eq(js_GetConsumerInfo(&ci, test_js, STREAM, "hostB_" MAILBOX, NULL, NULL), NATS_OK);
        printf("bridge full mailbox on B: %u queued at B, %" PRIu64 " waiting in the stream, %" PRId64
               " out to the bridge unacked\n",
               info.queued, ci->NumPending, ci->NumAckPending);
        ck_assert_uint_eq(ci->NumPending, 100 - SLOTS);
        ck_assert_int_eq(ci->NumAckPending, 0);
        jsConsumerInfo_Destroy(ci);

        /* a receiver drains B: everything arrives, once */
        ck_assert_uint_eq(traffic_finish(&t, "full mailbox on B", 20000), 0);
}
END_TEST

START_TEST(test_a_full_stream_pushes_back_on_the_senders_of_a) {
        Traffic t;
        shmbox *box;
        char msg[PAYLOAD], err[256];
        unsigned sent = 0;
        int r;

        bridge_a.delivery = bridge_b.delivery = "stream-ack"; /* the stream's refusal alone holds A back */
        bridges_start("A", "max-msgs = 20\n");
        ck_assert_int_eq(shmbox_attach(client_a, MAILBOX, &box), 0);
        /* send without waiting until the mailbox stays full for a second */
        for (int64_t full_since = 0;;) {
                memset(msg, 'x', sizeof(msg));
                snprintf(msg, sizeof(msg), "seq %08u ", sent);
                r = shmbox_send(box, msg, sizeof(msg), 0);
                if (r == 0) {
                        sent++;
                        full_since = 0;
                        continue;
                }
                ck_assert_int_eq(r, -EAGAIN);
                if (!full_since)
                        full_since = harness_now_us();
                else if (harness_now_us() - full_since > 1000000)
                        break;
                ck_assert_uint_lt(sent, 1000);
                msleep(10);
        }
        printf("bridge full stream: %u sent before -EAGAIN: 20 in the stream (max-msgs), %d slots held by the bridge\n",
               sent, SLOTS);
        ck_assert_uint_eq(sent, 20 + SLOTS);
        ck_assert_uint_eq(stream_msgs(STREAM), 20);
        ck_assert_uint_eq(status_u64(&bridge_a, "in-flight"), SLOTS);
        ck_assert(status_value(&bridge_a, "mailbox " MAILBOX, "last-error", err, sizeof(err)));
        ck_assert_msg(strstr(err, "maximum messages exceeded"), "last error: %s", err);

        /* B starts consuming: the stream drains, the bridge releases, A accepts again */
        bridge_start(&bridge_b);
        traffic_expect(&t, 0, sent);
        ck_assert_uint_eq(traffic_finish(&t, "full stream", 20000), 0);
        wait_for(shmbox_send(box, "again", 5, 0) == 0, 5000, "A's mailbox did not drain");
        {
                char buf[64];
                shmbox *rx;

                ck_assert_int_eq(shmbox_attach(client_b, MAILBOX, &rx), 0);
                ck_assert_int_eq(shmbox_recv(rx, buf, sizeof(buf), harness_ms(5000)), 5);
                shmbox_detach(rx);
        }
        shmbox_detach(box);
}
END_TEST

/*
 * End-to-end delivery: a full mailbox on B holds A's messages at A. B's mailbox fills, B stops
 * pulling, the rest waits in the stream; A lets none go before B commits it, so A's mailbox
 * fills too and A's senders get -EAGAIN: the window of unconfirmed messages is A's mailbox.
 */
START_TEST(test_end_to_end_a_full_mailbox_on_b_holds_the_messages_at_a) {
        Traffic t = { .count = 100, .no_receiver = true, .send_timeout_ms = 100 };

        bridges_start("AB", "");
        ck_assert(status_is(&bridge_a, "mailbox " MAILBOX, "delivery", "end-to-end"));
        traffic_start(&t);
        wait_for(status_u64(&bridge_b, "committed") == SLOTS, 10000, "B's mailbox did not fill");
        wait_for(status_u64(&bridge_a, "in-flight") == SLOTS, 10000, "A does not hold its mailbox's worth");
        msleep(1000); /* and it stays so: nothing confirmed beyond what B committed */
        printf("bridge end-to-end, full mailbox on B: %u sent on A, B committed %" PRIu64 ", confirmed %" PRIu64
               ", A holds %" PRIu64 " unconfirmed, released %" PRIu64 "\n",
               atomic_load(&t.acked), status_u64(&bridge_b, "committed"), status_u64(&bridge_b, "confirmed"),
               status_u64(&bridge_a, "in-flight"), status_u64(&bridge_a, "acked"));
        fflush(stdout);
        ck_assert_uint_eq(status_u64(&bridge_a, "acked"), status_u64(&bridge_a, "confirmed"));
        ck_assert_uint_le(status_u64(&bridge_a, "confirmed"), status_u64(&bridge_b, "committed"));
        ck_assert_uint_le(atomic_load(&t.acked), 2 * SLOTS + 1);

        /* a receiver drains B: the sender goes on, everything arrives, once, and A lets go of all */
        traffic_start_receiver(&t);
        ck_assert_uint_eq(traffic_finish(&t, "end-to-end, full mailbox on B", 30000), 0);
        wait_for(status_u64(&bridge_a, "confirmed") == 100 && status_u64(&bridge_a, "in-flight") == 0, 10000,
                 "A was not confirmed all 100");
        wait_for(status_u64(&bridge_b, "confirmed") == 100, 5000, "B did not confirm all 100");
}
END_TEST

/*
 * Bridge B away; 10 messages sent on A and stored by the stream; the stream then loses three of
 * them (deleted by sequence: what a cluster that resets a stream's state does to messages it had
 * acknowledged, issue 18); B comes back. Returns how many of the 10 never reached B's mailbox.
 */
static unsigned the_stream_loses_three(const char *delivery) {
        static const uint64_t lost_seqs[] = { 3, 5, 8 };
        uint16_t seen[10] = { 0 };
        unsigned lost = 0, distinct = 0;
        shmbox *box, *rx;
        char buf[PAYLOAD + 1];

        bridge_a.delivery = bridge_b.delivery = delivery;
        bridges_start("A", "");
        ck_assert_int_eq(shmbox_attach(client_a, MAILBOX, &box), 0);
        for (unsigned seq = 0; seq < 10; seq++) {
                memset(buf, 'x', PAYLOAD);
                snprintf(buf, sizeof(buf), "seq %08u ", seq);
                ck_assert_int_eq(shmbox_send(box, buf, PAYLOAD, harness_ms(5000)), 0);
        }
        shmbox_detach(box);
        wait_for(stream_msgs(STREAM) == 10, 10000, "the stream did not store 10");
        if (strcmp(delivery, "end-to-end") == 0) {
                wait_for(status_u64(&bridge_a, "in-flight") == 10, 10000, "end-to-end: A does not hold the 10");
                msleep(1000); /* two more writes of the status file */
                check_or_logs(status_u64(&bridge_a, "in-flight") == 10 && status_u64(&bridge_a, "acked") == 0,
                              "end-to-end: A let go of a message nobody confirmed");
        } else
                wait_for(status_u64(&bridge_a, "acked") == 10, 10000, "stream-ack: A did not let go of 10");
        test_client();
        for (size_t i = 0; i < sizeof(lost_seqs) / sizeof(lost_seqs[0]); i++)
                ck_assert_int_eq(js_DeleteMsg(test_js, STREAM, lost_seqs[i], NULL, NULL), NATS_OK);

        bridge_start(&bridge_b);
        ck_assert_int_eq(shmbox_attach(client_b, MAILBOX, &rx), 0);
        for (int64_t dl = harness_now_us() + harness_ms(15000) * 1000LL; distinct < 10 && harness_now_us() < dl;) {
                ssize_t n = shmbox_recv(rx, buf, sizeof(buf) - 1, 100);
                unsigned seq;

                if (n < 0)
                        continue;
                buf[n] = 0;
                if (sscanf(buf, "seq %u", &seq) == 1 && seq < 10 && seen[seq]++ == 0)
                        distinct++;
        }
        shmbox_detach(rx);
        for (unsigned i = 0; i < 10; i++)
                lost += seen[i] == 0;
        if (strcmp(delivery, "end-to-end") == 0)
                wait_for(status_u64(&bridge_a, "in-flight") == 0 && status_u64(&bridge_a, "confirmed") == 10, 10000,
                         "A still holds messages B committed");
        printf("bridge %s, the stream lost 3 stored messages: %u of 10 at B, lost %u; A resent %" PRIu64
               ", confirmed %" PRIu64 "\n",
               delivery, distinct, lost, status_u64(&bridge_a, "resent"), status_u64(&bridge_a, "confirmed"));
        fflush(stdout);
        return lost;
}

/* What end-to-end delivery is for: the broker lost what it acknowledged, and nothing is lost. */
START_TEST(test_end_to_end_delivers_what_the_stream_lost) {
        unsigned lost = the_stream_loses_three("end-to-end");

        check_or_logs(lost == 0, "end-to-end: %u message(s) lost", lost);
        ck_assert_uint_eq(status_u64(&bridge_a, "resent"), 3);
}
END_TEST

/* ... and what stream-ack cannot do: the same fault loses the three (the test above can fail). */
START_TEST(test_stream_ack_loses_what_the_stream_lost) {
        ck_assert_uint_eq(the_stream_loses_three("stream-ack"), 3);
        ck_assert_uint_eq(status_u64(&bridge_a, "resent"), 0);
}
END_TEST

/*
 * The confirmation subject is network input: garbage on it (empty lines, another generation's
 * ids, positions it does not hold, overflowing numbers, malformed suffixes, an overlong line,
 * binary) releases nothing and breaks nothing; B's real confirmations then release all.
 */
START_TEST(test_end_to_end_ignores_confirmations_it_cannot_use) {
        struct shmbox_stat st;
        char prefix[128], junk[6000];
        const char *plain[] = { "",
                                "\n\n\n",
                                "hostA.orders.999999.0\nhostA.orders.999999.1",
                                "orders.1",
                                "hostA",
                                "hostA.orders.",
                                "\xff\xfe\x00\x01" };
        shmbox *box;

        bridges_start("A", "");
        ck_assert_int_eq(shmbox_attach(client_a, MAILBOX, &box), 0);
        ck_assert_int_eq(shmbox_stat(box, &st), 0);
        for (unsigned seq = 0; seq < 5; seq++) {
                char buf[PAYLOAD];

                memset(buf, 'x', sizeof(buf));
                snprintf(buf, sizeof(buf), "seq %08u ", seq);
                ck_assert_int_eq(shmbox_send(box, buf, sizeof(buf), harness_ms(5000)), 0);
        }
        shmbox_detach(box);
        wait_for(stream_msgs(STREAM) == 5 && status_u64(&bridge_a, "in-flight") == 5, 10000, "A did not publish 5");
        test_client();
        snprintf(prefix, sizeof(prefix), "hostA." MAILBOX ".%" PRIu64 ".", st.generation);
        for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
                ck_assert_int_eq(
                        natsConnection_Publish(test_nc, "_SHMBOX.CONFIRM." SUBJECT, plain[i],
                                               i == sizeof(plain) / sizeof(plain[0]) - 1 ? 4 : (int)strlen(plain[i])),
                        NATS_OK);
        {
                const char *suffixes[] = { "99",
                                           "1000000",
                                           "99999999999999999999999",
                                           "18446744073709551616",
                                           "0-r",
                                           "0-rx",
                                           "0-r99999999999",
                                           "0x",
                                           "-1",
                                           "0 ",
                                           " 0",
                                           "0-r1-r2" };

                for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
                        snprintf(junk, sizeof(junk), "%s%s", prefix, suffixes[i]);
                        ck_assert_int_eq(natsConnection_PublishString(test_nc, "_SHMBOX.CONFIRM." SUBJECT, junk),
                                         NATS_OK);
                }
        }
        memset(junk, '7', sizeof(junk) - 1);
        junk[sizeof(junk) - 1] = 0;
        memcpy(junk, prefix, strlen(prefix));
        ck_assert_int_eq(natsConnection_PublishString(test_nc, "_SHMBOX.CONFIRM." SUBJECT, junk), NATS_OK);
        ck_assert_int_eq(natsConnection_Flush(test_nc), NATS_OK);
        msleep(500);
        check_or_logs(bridge_alive(&bridge_a), "bridge A died");
        ck_assert_uint_eq(status_u64(&bridge_a, "in-flight"), 5);
        ck_assert_uint_eq(status_u64(&bridge_a, "confirmed"), 0);

        bridge_start(&bridge_b);
        wait_for(status_u64(&bridge_a, "confirmed") == 5 && status_u64(&bridge_a, "in-flight") == 0, 10000,
                 "B's confirmations did not release the 5");
        ck_assert_uint_eq(status_u64(&bridge_a, "resent"), 0);
}
END_TEST

/* ---- reload on SIGHUP ------------------------------------------------------------------------- */

/* The second mailbox on both hosts, for the reload tests (teardown destroys it). */
static void second_mailbox(void) {
        struct shmbox_config cfg = { .slots = SLOTS, .slot_size = 256 };

        ck_assert_int_eq(shmbox_create(client_a, MAILBOX2, &cfg), 0);
        ck_assert_int_eq(shmbox_create(client_b, MAILBOX2, &cfg), 0);
}

/* A [mailbox MAILBOX2] section in @b's config, like the first one's (bridge_configure() writes it). */
static void bridge_add_second_route(Bridge *b) {
        snprintf(b->routes, sizeof(b->routes),
                 "\n[mailbox " MAILBOX2 "]\ndirection = %s\nsubject = " SUBJECT2 "\nstream = " STREAM "\n"
                 "publish-timeout-ms = 1000\nack-wait-ms = 2000\n",
                 b->direction);
}

/* SIGHUP @b and wait until its log has one more line with @outcome ("reloaded " or "refused"). */
static void bridge_hup(Bridge *b, const char *outcome) {
        unsigned before = lines_with(b->log, outcome);

        ck_assert_int_eq(kill(b->pid, SIGHUP), 0);
        wait_for(lines_with(b->log, outcome) > before, 15000, "bridge %s: no \"%s\" in the log after SIGHUP", b->host,
                 outcome);
}

static uint64_t status_of(const Bridge *b, const char *mailbox, const char *key) {
        char section[128], v[64];

        snprintf(section, sizeof(section), "mailbox %s", mailbox);
        return status_value(b, section, key, v, sizeof(v)) ? strtoull(v, NULL, 10) : 0;
}

static bool route_running(const Bridge *b, const char *mailbox) {
        char section[128];

        snprintf(section, sizeof(section), "mailbox %s", mailbox);
        return status_is(b, section, "state", "running");
}

/* Both bridges with both routes, running. */
static void two_routes_start(void) {
        second_mailbox();
        bridge_add_second_route(&bridge_a);
        bridge_add_second_route(&bridge_b);
        bridges_start("AB", "");
        wait_for(route_running(&bridge_a, MAILBOX2) && route_running(&bridge_b, MAILBOX2), 10000,
                 "the second route does not run");
}

START_TEST(test_sighup_starts_an_added_route_and_keeps_the_running_one) {
        Traffic before = { .count = 500 }, first = { .first = 500, .count = 500 };
        Traffic second = { .count = 500, .mailbox = MAILBOX2 };

        second_mailbox();
        bridges_start("AB", "");
        traffic_start(&before);
        ck_assert_uint_eq(traffic_finish(&before, "reload: one route", 20000), 0);
        wait_for(status_u64(&bridge_a, "acked") == 500, 5000, "A did not count 500 acks");

        bridge_add_second_route(&bridge_a);
        bridge_add_second_route(&bridge_b);
        bridge_configure(&bridge_a, "");
        bridge_configure(&bridge_b, "");
        bridge_hup(&bridge_a, "reloaded ");
        bridge_hup(&bridge_b, "reloaded ");
        check_or_logs(
                lines_with(bridge_a.log, "1 mailbox(es) unchanged and running on, 1 added, 0 restarted") == 1 &&
                        lines_with(bridge_b.log, "1 mailbox(es) unchanged and running on, 1 added, 0 restarted") == 1,
                "the reload did not add exactly one route");
        wait_for(route_running(&bridge_a, MAILBOX2) && route_running(&bridge_b, MAILBOX2), 10000,
                 "the added route does not run");

        /* messages flow on both routes at once */
        traffic_start(&first);
        traffic_start(&second);
        ck_assert_uint_eq(traffic_finish(&first, "reload: the route that was there", 20000), 0);
        ck_assert_uint_eq(traffic_finish(&second, "reload: the route added", 20000), 0);
        /* the first route ran on through the reload: its counters go on, not from 0 */
        wait_for(status_u64(&bridge_a, "acked") == 1000 && status_of(&bridge_a, MAILBOX2, "acked") == 500 &&
                         status_u64(&bridge_b, "acked") == 1000 && status_of(&bridge_b, MAILBOX2, "acked") == 500,
                 5000, "the counters do not show 1000 + 500 messages");
}
END_TEST

START_TEST(test_sighup_with_an_invalid_file_changes_nothing) {
        Traffic first = { .count = 300 }, second = { .count = 300, .mailbox = MAILBOX2 };
        FILE *f;

        two_routes_start();

        /* a section that does not parse */
        f = fopen(bridge_a.config, "ae");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "\n[mailbox broken]\ndirection = sideways\n");
        ck_assert_int_eq(fclose(f), 0);
        bridge_hup(&bridge_a, "refused: nothing changed");
        check_or_logs(lines_with(bridge_a.log, "direction: outbound or inbound") == 1,
                      "the log does not say what is wrong with the file");
        printf("bridge reload of an invalid file: A's log says \"direction: outbound or inbound\", with its line\n");

        /* a host that changes: the ids would, so it needs a restart */
        strcpy(bridge_a.routes, "");
        bridge_a.host = "hostX";
        bridge_configure(&bridge_a, "");
        bridge_a.host = "hostA";
        bridge_hup(&bridge_a, "refused: nothing changed");
        check_or_logs(lines_with(bridge_a.log, "host changed from hostA to hostX") == 1,
                      "the log does not say that the host cannot change");
        check_or_logs(lines_with(bridge_a.log, "reloaded ") == 0 && lines_with(bridge_a.log, "stopped") == 0,
                      "a refused reload changed something");

        /* both routes go on as before */
        ck_assert(route_running(&bridge_a, MAILBOX) && route_running(&bridge_a, MAILBOX2));
        traffic_start(&first);
        traffic_start(&second);
        ck_assert_uint_eq(traffic_finish(&first, "after refused reloads: first route", 20000), 0);
        ck_assert_uint_eq(traffic_finish(&second, "after refused reloads: second route", 20000), 0);
}
END_TEST

/*
 * A's bridge forgets the second route while messages are in flight on it: nats-server is
 * frozen (SIGSTOP) so that the route holds published messages whose acks cannot come; it waits
 * 2 s for them, gives up and detaches, and the daemon puts those slots back in A's mailbox.
 * The server resumes and stores them too. Every message sent on A is then at B, or still in
 * A's mailbox, or both: none is lost.
 */
START_TEST(test_sighup_stops_a_removed_route_without_losing_a_message) {
        Traffic t = { .count = 100000, .pace_us = 1000, .send_timeout_ms = 100, .mailbox = MAILBOX2 };
        Traffic after = { .count = 300 };
        unsigned sent, at_b = 0, queued = 0, both = 0, lost = 0;
        uint8_t *left;
        jsConsumerInfo *ci = NULL;
        shmbox *box;
        char buf[256];
        ssize_t n;

        two_routes_start();
        traffic_start(&t);
        wait_for(atomic_load(&t.received) >= 300, 20000, "traffic on the second route did not start");
        ck_assert_int_eq(kill(ns.pid, SIGSTOP), 0);
        wait_for(status_of(&bridge_a, MAILBOX2, "in-flight") == SLOTS, 5000, "A's route does not hold %d messages",
                 SLOTS);

        strcpy(bridge_a.routes, "");
        bridge_configure(&bridge_a, "");
        bridge_hup(&bridge_a, "reloaded ");
        ck_assert_int_eq(kill(ns.pid, SIGCONT), 0);
        check_or_logs(lines_with(bridge_a.log, "mailbox " MAILBOX2 ": stopped: no longer in the configuration") == 1 &&
                              lines_with(bridge_a.log, "1 mailbox(es) unchanged and running on, 0 added, 0 restarted "
                                                       "with new settings, 1 removed") == 1,
                      "the reload did not remove the route");
        wait_for(!status_value(&bridge_a, "mailbox " MAILBOX2, "state", buf, sizeof(buf)), 5000,
                 "the status file still shows the removed route");
        msleep(300); /* the sender goes on into A's mailbox, which nobody empties now */
        atomic_store(&t.stop_tx, true);
        traffic_wait_sender(&t);
        sent = atomic_load(&t.acked);
        check_or_logs(t.tx_error == 0 || t.tx_error == -EAGAIN || t.tx_error == -ETIMEDOUT, "sender: %s",
                      shmbox_strerror(t.tx_error));

        /* what the stream holds reaches B: wait until B's consumer and mailbox are empty */
        test_client();
        for (int64_t dl = harness_now_us() + harness_ms(20000) * 1000LL;; msleep(50)) {
                struct shmbox_info info;
                bool empty;

                ck_assert_int_eq(js_GetConsumerInfo(&ci, test_js, STREAM, "hostB_" MAILBOX2, NULL, NULL), NATS_OK);
                empty = ci->NumPending == 0 && ci->NumAckPending == 0;
                jsConsumerInfo_Destroy(ci);
                ck_assert_int_eq(shmbox_info(client_b, MAILBOX2, &info), 0);
                if (empty && info.queued == 0)
                        break;
                check_or_logs(harness_now_us() < dl, "B did not drain the stream");
        }
        msleep(200);
        atomic_store(&t.stop_rx, true);
        pthread_join(t.rx, NULL);
        check_or_logs(t.rx_error == 0, "receiver: %s", shmbox_strerror(t.rx_error));

        /* what is still in A's mailbox */
        left = calloc(sent ? sent : 1, 1);
        ck_assert_ptr_nonnull(left);
        ck_assert_int_eq(shmbox_attach(client_a, MAILBOX2, &box), 0);
        while ((n = shmbox_recv(box, buf, sizeof(buf) - 1, 0)) >= 0) {
                unsigned seq;

                buf[n] = 0;
                if (sscanf(buf, "seq %u", &seq) == 1 && seq < sent)
                        left[seq] = 1;
                queued++;
        }
        ck_assert_int_eq(n, -EAGAIN);
        shmbox_detach(box);
        for (unsigned i = 0; i < sent; i++) {
                at_b += t.seen[i] > 0;
                both += t.seen[i] > 0 && left[i];
                lost += !t.seen[i] && !left[i];
        }
        printf("bridge reload removed a route in flight: sent %u on A, %u at B, %u still queued at A (%u of them also "
               "at B), lost %u\n",
               sent, at_b, queued, both, lost);
        fflush(stdout);
        check_or_logs(lost == 0, "%u message(s) lost when the route was removed", lost);
        /* the route did stop and gave back what it held: the SLOTS messages it had published
         * without an ack fill A's mailbox again (and nothing could be sent after them) */
        ck_assert_uint_eq(queued, SLOTS);
        free(left);
        free(t.seen);
        t.seen = NULL;

        /* the route that stayed carries on */
        traffic_start(&after);
        ck_assert_uint_eq(traffic_finish(&after, "the route that stayed", 20000), 0);
}
END_TEST

START_TEST(test_sighup_with_new_nats_settings_reconnects_and_loses_nothing) {
        Traffic first = { .count = 3000, .pace_us = 300 },
                second = { .count = 3000, .pace_us = 300, .mailbox = MAILBOX2 };
        unsigned dups;

        /* both routes in mid-stream: a new connection restarts every route */
        two_routes_start();
        traffic_start(&first);
        traffic_start(&second);
        wait_for(atomic_load(&first.received) >= 600 && atomic_load(&second.received) >= 600, 20000,
                 "traffic did not start on both routes");
        strcpy(bridge_a.nats_extra, "name = renamed-on-reload\n");
        bridge_configure(&bridge_a, "");
        bridge_hup(&bridge_a, "reloaded ");
        check_or_logs(lines_with(bridge_a.log, "[nats] changed: connecting again") == 1 &&
                              lines_with(bridge_a.log, "0 mailbox(es) unchanged and running on, 0 added, 2 restarted "
                                                       "with new settings, 0 removed; new NATS connection") == 1,
                      "the reload did not reconnect");
        dups = traffic_finish(&first, "new NATS connection on reload, first route", 30000);
        dups += traffic_finish(&second, "new NATS connection on reload, second route", 30000);
        wait_running(&bridge_a);
        printf("bridge reload with new [nats] settings: duplicates at B %u (A's retransmissions dropped by the stream "
               "%" PRIu64 ")\n",
               dups, status_u64(&bridge_a, "duplicates") + status_of(&bridge_a, MAILBOX2, "duplicates"));
}
END_TEST

/* ---- bench: shmbox-bench's bridge group, short -------------------------------------------------- */

/* The value of "@key": in the JSON @json, or NAN. */
static double json_value(const char *json, const char *key) {
        char k[64];
        const char *p;

        snprintf(k, sizeof(k), "\"%s\": ", key);
        p = strstr(json, k);
        return p && p[strlen(k)] != 'n' ? strtod(p + strlen(k), NULL) : NAN;
}

/* Whether a running process has @needle in its command line. */
static bool process_with(const char *needle) {
        char path[sizeof(((struct dirent *)0)->d_name) + 16], cmd[4096];
        struct dirent *d;
        bool found = false;
        DIR *proc = opendir("/proc");

        while (proc && !found && (d = readdir(proc))) {
                FILE *f;
                size_t n;

                if (d->d_name[0] < '1' || d->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/cmdline", d->d_name);
                f = fopen(path, "re");
                if (!f)
                        continue;
                n = fread(cmd, 1, sizeof(cmd) - 1, f);
                fclose(f);
                for (size_t i = 0; i < n; i++)
                        cmd[i] = cmd[i] ? cmd[i] : ' ';
                cmd[n] = 0;
                found = strstr(cmd, needle) != NULL;
        }
        if (proc)
                closedir(proc);
        return found;
}

/* The object @key ("\"cluster_r3\": {...}") of the JSON @json, as a string of its own in @buf
 * (to its first '}': it holds no object); "" if it is not there or not an object. */
static const char *json_object(const char *json, const char *key, char *buf, size_t size) {
        char k[64];
        const char *p, *end;

        snprintf(k, sizeof(k), "\"%s\": {", key);
        p = strstr(json, k);
        end = p ? strchr(p, '}') : NULL;
        snprintf(buf, size, "%.*s", end ? (int)(end - p) : 0, p ? p : "");
        return buf;
}

/*
 * The figures through the bridge next to libnats alone are shmbox-bench's bridge group
 * (bench/bridge.c: `shmbox-bench --only bridge`, part of `make bench`). Here it runs short, to
 * keep it from rotting: it must exit 0 with every message checked and every figure given, and
 * leave no process, no object in /dev/shm and nothing in its temporary directory. Both cases run
 * (one nats-server, then a three-node cluster with R3 streams), each with both delivery modes:
 * the cluster's start (an election, R3 streams and consumers) makes the run 7 to 9 s instead of
 * about 3 s on the development machine (2 CPUs, shared and loaded), which is worth keeping the
 * cluster's set-up (probed route ports, leaders) tested.
 */
START_TEST(test_the_benchmark_bridge_group_runs_short_and_leaves_nothing) {
        const char *shmboxd = getenv("SHMBOXD"), *bridge = getenv("SHMBOX_BRIDGE"), *env_bench = getenv("SHMBOX_BENCH");
        static const char *const cases[] = { "single", "cluster_r3" };
        static const char *const sides[] = { "end_to_end", "stream_ack", "nats" };
        char bench[512], prefix[40], tmp[128], out[65536], c[4096];
        int status;

        ck_assert_msg(shmboxd && bridge, "SHMBOXD and SHMBOX_BRIDGE must be set (run the suites through make check)");
        if (env_bench && *env_bench)
                snprintf(bench, sizeof(bench), "%s", env_bench);
        else
                snprintf(bench, sizeof(bench), "%.*s/bench/shmbox-bench", (int)(strrchr(shmboxd, '/') - shmboxd),
                         shmboxd);
        snprintf(prefix, sizeof(prefix), "%sbb", harness_stem());
        snprintf(tmp, sizeof(tmp), "/tmp/shmbox-bridge-bench.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmp));

        status = run_capture((char *[]){ bench, "--only", "bridge", "--quick", "--json", "--bridge-messages", "1000",
                                         "--prefix", prefix, "--shmboxd", (char *)shmboxd, "--shmbox-bridge",
                                         (char *)bridge, "--nats-server", (char *)nats_server_bin, NULL },
                             tmp, out, sizeof(out), harness_ms(120000));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "shmbox-bench exited 0x%x:\n%s", status, out);
        ck_assert_msg(strstr(out, "\"bridge\": {\"skipped\": null") && strstr(out, "\"ok\": true"), "%s", out);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                ck_assert_msg(json_object(out, cases[i], c, sizeof(c))[0], "no figures of case %s:\n%s", cases[i], out);
                printf("bench %s (short: 1000 messages, 1 run): msg/s bridge end-to-end %.0f, stream-ack %.0f, "
                       "libnats alone %.0f; latency p50 %.0f / %.0f / %.0f us, p99 %.0f / %.0f / %.0f us; "
                       "`make bench` for the real figures\n",
                       cases[i], json_value(c, "end_to_end_msgs_per_s"), json_value(c, "stream_ack_msgs_per_s"),
                       json_value(c, "nats_msgs_per_s"), json_value(c, "end_to_end_p50_us"),
                       json_value(c, "stream_ack_p50_us"), json_value(c, "nats_p50_us"),
                       json_value(c, "end_to_end_p99_us"), json_value(c, "stream_ack_p99_us"),
                       json_value(c, "nats_p99_us"));
                fflush(stdout);
                for (size_t k = 0; k < sizeof(sides) / sizeof(sides[0]); k++) {
                        char key[64];

                        snprintf(key, sizeof(key), "%s_msgs_per_s", sides[k]);
                        ck_assert_msg(json_value(c, key) > 0, "%s: %s", cases[i], key);
                        snprintf(key, sizeof(key), "%s_p99_us", sides[k]);
                        ck_assert_msg(json_value(c, key) > 0, "%s: %s", cases[i], key);
                }
        }
        ck_assert(json_value(out, "left_in_dev_shm") == 0);

        /* nothing left: its temporary directory is empty, no object, no process */
        ck_assert_msg(rmdir(tmp) == 0, "shmbox-bench left files in %s", tmp);
        ck_assert_uint_eq(harness_count_objects(prefix), 0);
        ck_assert_msg(!process_with(tmp), "a process of shmbox-bench's bridge group still runs");
}
END_TEST

/* Restart nats-server on its store with @mappings as its config's subject mappings (lines of
 * "from": "to"), or without a config if NULL; the test's client connects again. */
static void nats_restart_mapped(const char *mappings) {
        FILE *f;

        test_client_close();
        ns.conf[0] = 0;
        if (mappings) {
                snprintf(ns.conf, sizeof(ns.conf), "%s/nats-server.conf", tmpdir);
                f = fopen(ns.conf, "we");
                ck_assert_ptr_nonnull(f);
                fprintf(f, "mappings = {\n%s}\n", mappings);
                ck_assert_int_eq(fclose(f), 0);
        }
        nats_signal_and_wait(SIGTERM);
        nats_start();
        test_client();
}

/*
 * A consumer that answers every pull with nothing while messages wait for it (seen in JetStream
 * 2.9 clusters after its leader changed, for minutes): bridge B asks it why, and asks its leader
 * to step down. Made here with a subject mapping in nats-server: B's pull requests for its
 * consumer go to a decoy consumer that has nothing, while B's own consumer holds every message
 * sent. One server has no leader to change (it says so): the test checks that B finds out, asks
 * at most every 8 s, logs it, counts it, and delivers nothing it did not get.
 */
START_TEST(test_a_consumer_that_brings_nothing_while_messages_wait_is_asked_to_step_down) {
        Traffic t = { .count = SLOTS, .no_receiver = true, .send_timeout_ms = 100 };
        jsConsumerConfig cc;
        jsConsumerInfo *ci = NULL;
        int64_t t0;
        uint64_t n;

        nats_restart_mapped("  \"$JS.API.CONSUMER.MSG.NEXT." STREAM ".hostB_" MAILBOX
                            "\": \"$JS.API.CONSUMER.MSG.NEXT." STREAM ".decoy\"\n");
        bridges_start("A", "");
        jsConsumerConfig_Init(&cc);
        cc.Durable = "decoy";
        cc.FilterSubject = "shmbox.nobody";
        cc.AckPolicy = js_AckExplicit;
        {
                jsErrCode je = 0;
                natsStatus st = js_AddConsumer(&ci, test_js, STREAM, &cc, NULL, &je);

                ck_assert_msg(st == NATS_OK, "consumer: %s (%d)", nats_GetLastError(NULL), (int)je);
        }
        jsConsumerInfo_Destroy(ci);
        bridge_configure(&bridge_b, "");
        bridge_start(&bridge_b);
        wait_running(&bridge_b);
        traffic_start(&t);
        traffic_wait_sender(&t);
        t0 = harness_now_us();
        wait_for(status_u64(&bridge_b, "stepdowns") >= 1, 15000,
                 "B did not ask the stalled consumer's leader to step down");
        wait_for(lines_with(bridge_b.log, "messages wait for it") >= 1, 5000, "B did not log the stall");
        msleep(9000);
        n = status_u64(&bridge_b, "stepdowns");
        printf("bridge stalled consumer: %d waiting, B asked %" PRIu64 " stepdowns in %.1f s, committed %" PRIu64 "\n",
               SLOTS, n, (double)(harness_now_us() - t0) / 1e6, status_u64(&bridge_b, "committed"));
        lines_with_print(bridge_b.log, "step down", true);
        fflush(stdout);
        check_or_logs(n >= 2 && n <= 3, "stepdowns asked: %" PRIu64 " in about 12 s (one every 8 s)", n);
        ck_assert_uint_eq(status_u64(&bridge_b, "committed"), 0);
        ck_assert_uint_eq(lines_with(bridge_b.log, "messages wait for it"), 1); /* once per stall */
        ck_assert_uint_eq(status_u64(&bridge_b, "recreated"), 0);
        /* three stepdowns that brought nothing: the consumer (of a work queue) is made again */
        wait_for(status_u64(&bridge_b, "recreated") == 1, 20000, "B did not make the consumer again");
        lines_with_print(bridge_b.log, "to be made again", true);
        ck_assert_uint_ge(status_u64(&bridge_b, "stepdowns"), 3);

        /* the mapping gone (nats-server restarted on its store without it), every message arrives */
        nats_restart_mapped(NULL);
        traffic_finish(&t, "stalled consumer, then healed", 30000);
        wait_for(lines_with(bridge_b.log, "brings messages again") >= 1, 5000, "B did not log the stall's end");
        lines_with_print(bridge_b.log, "brings messages again", true);
}
END_TEST

/*
 * A consumer whose delivered sequence is past the messages the work queue holds: it says
 * nothing is pending and will never deliver them. In a cluster, a stream leader came back with a
 * shorter log while the consumer's state came from a replica that had more (tests/bridge-cluster
 * .sh, a kill -9 of bridge A's server: 1,024 messages held at A for the rest of the run). Made
 * here on one server the same way: the stream's store is put back, with the server stopped, to
 * what it was before 100 messages went through, and the consumer's state is left as it is.
 * Bridge B sees the work queue hold more on its subject than the consumer has pending or out,
 * twice 2 s apart, and makes the consumer again: every message arrives.
 */
START_TEST(test_a_consumer_past_the_work_queues_messages_is_made_again) {
        Traffic before = { .count = 100 }, after = { .first = 100, .count = SLOTS };
        char msgs[512], saved[512], out[256];

        bridges_start("AB", "");
        snprintf(msgs, sizeof(msgs), "%s/jetstream/$G/streams/" STREAM "/msgs", ns.store);
        snprintf(saved, sizeof(saved), "%s/msgs-before", tmpdir);
        nats_signal_and_wait(SIGTERM);
        ck_assert_int_eq(run_capture((char *[]){ "/bin/cp", "-a", msgs, saved, NULL }, NULL, out, sizeof(out), 10000),
                         0);
        nats_start();
        traffic_start(&before);
        traffic_finish(&before, "consumer past the work queue: the first 100", 30000);
        /* the consumer has them all acked (its state says delivered 100, ack floor 100) */
        test_client();
        for (int64_t dl = harness_now_us() + harness_ms(10000) * 1000LL;; msleep(50)) {
                jsConsumerInfo *ci = NULL;
                bool done = js_GetConsumerInfo(&ci, test_js, STREAM, "hostB_" MAILBOX, NULL, NULL) == NATS_OK &&
                            ci->AckFloor.Stream == 100 && ci->NumAckPending == 0;

                jsConsumerInfo_Destroy(ci);
                if (done)
                        break;
                ck_assert_msg(harness_now_us() < dl, "the consumer's ack floor did not reach 100");
        }
        test_client_close();
        nats_signal_and_wait(SIGTERM);
        rm_rf(msgs);
        ck_assert_int_eq(run_capture((char *[]){ "/bin/cp", "-a", saved, msgs, NULL }, NULL, out, sizeof(out), 10000),
                         0);
        nats_start();

        traffic_start(&after);
        traffic_finish(&after, "consumer past the work queue: 16 more", 30000);
        lines_with_print(bridge_b.log, "it is past the others", true);
        lines_with_print(bridge_b.log, "to be made again", true);
        wait_for(status_u64(&bridge_b, "recreated") >= 1, 5000, "B's status does not count the consumer made again");
        check_or_logs(status_u64(&bridge_b, "recreated") == 1, "B made the consumer again more than once");
        ck_assert_uint_eq(status_u64(&bridge_b, "stepdowns"), 0);
}
END_TEST

/*
 * A consumer without a leader (in a cluster: 30 s and more after a server was killed): B's pull
 * requests and its requests for the consumer's info go unanswered while the stream answers.
 * Made here with subject mappings that send both into a subject the test listens on and never
 * answers. After 15 s of that, B deletes the consumer to make it again (a new one gets a leader
 * at once); with the mappings gone, every message arrives.
 */
START_TEST(test_a_consumer_without_a_leader_is_made_again) {
        Traffic t = { .count = SLOTS, .no_receiver = true, .send_timeout_ms = 100 };
        natsSubscription *hole = NULL;

        bridges_start("AB", "");
        nats_restart_mapped("  \"$JS.API.CONSUMER.MSG.NEXT." STREAM ".hostB_" MAILBOX "\": \"blackhole.next\"\n"
                            "  \"$JS.API.CONSUMER.INFO." STREAM ".hostB_" MAILBOX "\": \"blackhole.info\"\n");
        ck_assert_int_eq(natsConnection_SubscribeSync(&hole, test_nc, "blackhole.>"), NATS_OK);
        ck_assert_int_eq(natsConnection_FlushTimeout(test_nc, 5000), NATS_OK);
        traffic_start(&t);
        wait_for(status_u64(&bridge_b, "recreated") >= 1, 30000, "B did not make the leaderless consumer again");
        lines_with_print(bridge_b.log, "it has no leader", true);
        ck_assert_uint_eq(status_u64(&bridge_b, "committed"), 0);
        natsSubscription_Destroy(hole);

        nats_restart_mapped(NULL);
        traffic_start_receiver(&t);
        traffic_finish(&t, "leaderless consumer, then healed", 30000);
}
END_TEST

/*
 * The consumer deleted behind B's back while B's pull requests go unanswered (no 409 comes to
 * say so: in a cluster run, B's own delete was answered "JetStream system temporarily
 * unavailable" and done all the same). B's pulls go into a subject nobody answers (a mapping);
 * its look at the consumer finds it gone, and makes it; with the mapping gone, all arrive.
 */
START_TEST(test_a_consumer_deleted_while_pulls_go_unanswered_is_made_again) {
        Traffic t = { .count = SLOTS, .no_receiver = true, .send_timeout_ms = 100 };
        natsSubscription *hole = NULL;

        bridges_start("AB", "");
        nats_restart_mapped("  \"$JS.API.CONSUMER.MSG.NEXT." STREAM ".hostB_" MAILBOX "\": \"blackhole.next\"\n");
        ck_assert_int_eq(natsConnection_SubscribeSync(&hole, test_nc, "blackhole.>"), NATS_OK);
        ck_assert_int_eq(natsConnection_FlushTimeout(test_nc, 5000), NATS_OK);
        ck_assert_int_eq(js_DeleteConsumer(test_js, STREAM, "hostB_" MAILBOX, NULL, NULL), NATS_OK);
        traffic_start(&t);
        wait_for(lines_with(bridge_b.log, "does not exist; making it again") >= 1, 30000,
                 "B did not find its consumer gone");
        wait_for(lines_with(bridge_b.log, "created durable consumer") >= 2, 10000, "B did not make its consumer");
        lines_with_print(bridge_b.log, "does not exist", true);
        natsSubscription_Destroy(hole);

        nats_restart_mapped(NULL);
        traffic_start_receiver(&t);
        traffic_finish(&t, "consumer deleted, pulls unanswered, then healed", 30000);
}
END_TEST

/* An idle consumer (nothing sent for 5 s), and a full mailbox on B (for 5 s): no stall. */
START_TEST(test_an_idle_consumer_or_a_full_mailbox_is_no_stall) {
        Traffic t = { .count = SLOTS + 8, .no_receiver = true, .send_timeout_ms = 100 };

        bridges_start("AB", "");
        msleep(5000);
        traffic_start(&t);
        wait_for(status_u64(&bridge_b, "committed") == SLOTS, 10000, "B's mailbox did not fill");
        msleep(5000);
        traffic_start_receiver(&t);
        ck_assert_uint_eq(traffic_finish(&t, "idle, then full", 30000), 0);
        ck_assert_uint_eq(status_u64(&bridge_b, "stepdowns"), 0);
        ck_assert_uint_eq(status_u64(&bridge_b, "recreated"), 0);
        ck_assert_uint_eq(lines_with(bridge_b.log, "messages wait for it"), 0);
        ck_assert_uint_eq(lines_with(bridge_b.log, "it is past the others"), 0);
}
END_TEST

static Suite *bridge_suite(void) {
        Suite *s = suite_create("bridge");
        TCase *tc;

        tc = harness_tcase(s, "two hosts through NATS", 60, setup, teardown);
        tcase_add_test(tc, test_a_sender_on_a_reaches_a_receiver_on_b);
        tcase_add_test(tc, test_a_message_published_again_after_a_bridge_restart_keeps_its_id);

        tc = harness_tcase(s, "faults lose nothing", 60, setup, teardown);
        tcase_add_test(tc, test_killing_the_bridges_mid_stream_loses_nothing);
        tcase_add_test(tc, test_killing_a_daemon_mid_stream_loses_nothing);
        tcase_add_test(tc, test_restarting_or_cutting_nats_mid_stream_loses_nothing);

        tc = harness_tcase(s, "freezes", 90, setup, teardown);
        tcase_add_test(tc, test_freezing_nats_with_pull_requests_outstanding_delivers_each_message_once);
        tcase_add_test(tc, test_a_frozen_nats_does_not_pile_up_pull_requests);

        tc = harness_tcase(s, "restart stall", 60, setup, teardown);
        tcase_add_test(tc, test_a_nats_restart_mid_traffic_loses_nothing_and_resumes);

        tc = harness_tcase(s, "back-pressure", 60, setup, teardown);
        tcase_add_test(tc, test_a_full_mailbox_on_b_stops_the_consumer);
        tcase_add_test(tc, test_a_full_stream_pushes_back_on_the_senders_of_a);

        tc = harness_tcase(s, "end-to-end delivery", 60, setup, teardown);
        tcase_add_test(tc, test_end_to_end_a_full_mailbox_on_b_holds_the_messages_at_a);
        tcase_add_test(tc, test_end_to_end_delivers_what_the_stream_lost);
        tcase_add_test(tc, test_stream_ack_loses_what_the_stream_lost);
        tc = harness_tcase(s, "end-to-end confirmations", 60, setup, teardown);
        tcase_add_test(tc, test_end_to_end_ignores_confirmations_it_cannot_use);

        tc = harness_tcase(s, "stalled consumer", 60, setup, teardown);
        tcase_add_test(tc, test_a_consumer_that_brings_nothing_while_messages_wait_is_asked_to_step_down);
        tcase_add_test(tc, test_a_consumer_past_the_work_queues_messages_is_made_again);
        tcase_add_test(tc, test_a_consumer_without_a_leader_is_made_again);
        tcase_add_test(tc, test_a_consumer_deleted_while_pulls_go_unanswered_is_made_again);
        tcase_add_test(tc, test_an_idle_consumer_or_a_full_mailbox_is_no_stall);

        tc = harness_tcase(s, "reload on SIGHUP", 60, setup, teardown);
        tcase_add_test(tc, test_sighup_starts_an_added_route_and_keeps_the_running_one);
        tcase_add_test(tc, test_sighup_with_an_invalid_file_changes_nothing);
        tcase_add_test(tc, test_sighup_stops_a_removed_route_without_losing_a_message);
        tcase_add_test(tc, test_sighup_with_new_nats_settings_reconnects_and_loses_nothing);

        tc = harness_tcase(s, "bench", 150, NULL, NULL);
        tcase_add_test(tc, test_the_benchmark_bridge_group_runs_short_and_leaves_nothing);
        return s;
}

/* nats-server: $NATS_SERVER, else in $PATH or the sbin directories Debian uses. */
static const char *find_nats_server(void) {
        static char path[512];
        const char *e = getenv("NATS_SERVER");
        const char *p = getenv("PATH");
        char dirs[2048];

        if (e && *e)
                return access(e, X_OK) == 0 ? e : NULL;
        snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/usr/local/sbin:/usr/local/bin:/usr/bin", p ? p : "");
        for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                snprintf(path, sizeof(path), "%s/nats-server", d);
                if (access(path, X_OK) == 0)
                        return path;
        }
        return NULL;
}

int main(void) {
        SRunner *sr;
        int failed;

        nats_server_bin = find_nats_server();
        if (!nats_server_bin) {
                printf("SKIP: test-bridge: nats-server not found (Debian: apt-get install nats-server; "
                       "or set NATS_SERVER=/path/to/nats-server)\n");
                fprintf(stderr, "\n**** SKIPPED: the bridge tests need nats-server, which is not installed ****\n\n");
                return 77;
        }
        sr = srunner_create(bridge_suite());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}

#else /* !HAVE_LIBNATS */

int main(void) {
        printf("SKIP: test-bridge: shmbox-bridge was not built: configure found no libnats "
               "(Debian: apt-get install libnats-dev, then run configure again)\n");
        fprintf(stderr, "\n**** SKIPPED: the bridge tests need libnats (libnats-dev) ****\n\n");
        return 77;
}

#endif
