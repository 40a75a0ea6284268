/* End-to-end tests of shmbox-bridge: two shmboxd standing for two hosts (their own sockets and
 * prefixes), a real nats-server with JetStream on a free loopback port (started and stopped by
 * each test, its store in a temporary directory), and a bridge per host: a sender attached on
 * host A reaches a receiver attached on host B through NATS. Then faults — kill -9 of either
 * bridge, of either daemon, a restart of nats-server, a cut of a few seconds — after which every
 * message whose shmbox_send() returned 0 on A has arrived on B (lost = 0), the duplicates are
 * counted and printed, and nothing is left in /dev/shm. Back-pressure both ways: a full mailbox
 * on B stops the consumer, a full stream stops A's senders (-EAGAIN). The last test prints the
 * throughput and latency through the bridge next to NATS's own, measured in the same run.
 *
 * Without nats-server or libnats the suite prints why and exits 77 (skipped).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
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
#define STREAM "BRIDGE"
#define SLOTS 16
#define PAYLOAD 64

typedef struct Nats {
        pid_t pid;
        int port;
        char store[200];
        char log[200];
} Nats;

typedef struct Bridge {
        pid_t pid;
        const char *host;
        const TestDaemon *daemon;
        const char *direction;
        char config[200];
        char log[200];
        char status[200];
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
        char *argv[] = { (char *)nats_server_bin, "-a", "127.0.0.1", "-p", port, "-js", "-sd", ns.store, NULL };

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
}

/* The config file of @b; @stream_extra: more lines for the [stream] section, or "". */
static void bridge_configure(Bridge *b, const char *stream_extra) {
        FILE *f = fopen(b->config, "we");

        ck_assert_ptr_nonnull(f);
        fprintf(f,
                "# written by tests/test-bridge.c\n"
                "[nats]\nurl = nats://127.0.0.1:%d\nreconnect-wait-ms = 100\nconnect-timeout-ms = 500\n\n"
                "[bridge]\nhost = %s\nsocket = %s\nstatus-file = %s\n\n"
                "[stream " STREAM "]\nsubjects = shmbox.>\n%s\n"
                "[mailbox " MAILBOX "]\ndirection = %s\nsubject = " SUBJECT "\nstream = " STREAM "\n"
                "publish-timeout-ms = 1000\nack-wait-ms = 2000\n",
                ns.port, b->host, b->daemon->socket, b->status, stream_extra, b->direction);
        ck_assert_int_eq(fclose(f), 0);
}

static void bridge_start(Bridge *b) {
        const char *bin = getenv("SHMBOX_BRIDGE");
        char *argv[] = { (char *)bin, "--config", b->config, "--log-level", "debug", NULL };

        ck_assert_msg(bin && *bin, "SHMBOX_BRIDGE is not set (run the suites through make check)");
        ck_assert_int_eq(b->pid, 0);
        unlink(b->status);
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
        int send_timeout_ms; /* per shmbox_send(); -EAGAIN/-ETIMEDOUT are retried */
        bool no_receiver;    /* start only the sender */
        atomic_uint acked;   /* shmbox_send() returned 0 for [0, acked) */
        atomic_uint received;
        atomic_bool tx_done, stop_rx;
        int tx_error, rx_error;
        uint16_t *seen; /* [count]: times each was received */
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
                r = shmbox_attach(c, MAILBOX, &box);
        for (unsigned seq = 0; r == 0 && seq < t->count; seq++) {
                int64_t dl = harness_now_us() + harness_ms(30000) * 1000LL;

                memset(buf, 'x', sizeof(buf));
                snprintf(buf, sizeof(buf), "seq %08u ", t->first + seq);
                do
                        r = shmbox_send(box, buf, sizeof(buf), t->send_timeout_ms);
                while ((r == -EAGAIN || r == -ETIMEDOUT) && harness_now_us() < dl);
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
                r = shmbox_attach(c, MAILBOX, &box);
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
                atomic_fetch_add(&t->received, 1);
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

/* ---- tests ------------------------------------------------------------------------------------- */

START_TEST(test_a_sender_on_a_reaches_a_receiver_on_b) {
        Traffic t = { .count = 2000 };
        char out[4096] = "";
        int p[2], status;
        ssize_t n, got = 0;
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
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                dup2(p[1], STDOUT_FILENO);
                execl(getenv("SHMBOX_BRIDGE"), "shmbox-bridge", "--status", "--config", bridge_a.config, (char *)NULL);
                _exit(127);
        }
        close(p[1]);
        while ((n = read(p[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
                got += n;
        close(p[0]);
        status = harness_wait_exit(pid, harness_ms(5000));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "--status exited 0x%x:\n%s", status, out);
        ck_assert_msg(strstr(out, "connected    yes") && strstr(out, "mailbox orders") &&
                              strstr(out, "acked        2000"),
                      "--status printed:\n%s", out);

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
        unsigned dups;

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
}
END_TEST

START_TEST(test_a_full_mailbox_on_b_stops_the_consumer) {
        Traffic t = { .count = 100, .no_receiver = true };
        struct shmbox_info info;
        jsConsumerInfo *ci = NULL;

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

/* ---- bench: through the bridge, and NATS alone, in the same run ----------------------------- */

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return x < y ? -1 : x > y;
}

#define BENCH_N 20000
#define BENCH_PINGS 300
#define BENCH_SLOTS 256

/* One-way latency of single messages through the bridge: send, wait for it at B. */
static void bridge_latency(int64_t *lat) {
        shmbox *tx, *rx;
        char buf[256];

        ck_assert_int_eq(shmbox_attach(client_a, MAILBOX, &tx), 0);
        ck_assert_int_eq(shmbox_attach(client_b, MAILBOX, &rx), 0);
        for (int i = 0; i < BENCH_PINGS; i++) {
                int64_t t0 = harness_now_us();

                memset(buf, 'x', PAYLOAD);
                ck_assert_int_eq(shmbox_send(tx, buf, PAYLOAD, 1000), 0);
                ck_assert_int_eq(shmbox_recv(rx, buf, sizeof(buf), harness_ms(5000)), PAYLOAD);
                lat[i] = harness_now_us() - t0;
        }
        shmbox_detach(tx);
        shmbox_detach(rx);
        qsort(lat, BENCH_PINGS, sizeof(int64_t), cmp_i64);
}

typedef struct NatsBench {
        jsCtx *js;
        natsSubscription *sub;
        unsigned got;
} NatsBench;

static void *nats_bench_consumer(void *arg) {
        NatsBench *b = arg;

        while (b->got < BENCH_N) {
                natsMsgList l;

                /* the batch the bridge would use for a mailbox of BENCH_SLOTS */
                if (natsSubscription_Fetch(&l, b->sub, BENCH_SLOTS, 1000, NULL) != NATS_OK)
                        continue;
                for (int i = 0; i < l.Count; i++)
                        natsMsg_Ack(l.Msgs[i], NULL);
                b->got += (unsigned)l.Count;
                natsMsgList_Destroy(&l);
        }
        return NULL;
}

START_TEST(test_bench_prints_the_bridge_next_to_nats_alone) {
        Traffic t = { .count = BENCH_N };
        int64_t lat_bridge[BENCH_PINGS], lat_nats[BENCH_PINGS], t0, t_bridge, t_nats;
        const char *subjects[] = { "bench.>" };
        jsStreamConfig sc;
        jsConsumerConfig cc;
        jsSubOptions so;
        jsStreamInfo *si = NULL;
        jsConsumerInfo *ci = NULL;
        NatsBench nb = {};
        pthread_t cons;
        char payload[PAYLOAD];

        /* mailboxes of 256 slots, as a deployment would have: the bridge keeps that many
         * publishes in flight and fetches that many at once */
        struct shmbox_config big = { .slots = BENCH_SLOTS, .slot_size = 256 };

        ck_assert_int_eq(shmbox_destroy(client_a, MAILBOX), 0);
        ck_assert_int_eq(shmbox_destroy(client_b, MAILBOX), 0);
        ck_assert_int_eq(shmbox_create(client_a, MAILBOX, &big), 0);
        ck_assert_int_eq(shmbox_create(client_b, MAILBOX, &big), 0);
        bridges_start("AB", "");
        t0 = harness_now_us();
        traffic_start(&t);
        traffic_wait_sender(&t);
        while (atomic_load(&t.received) < BENCH_N && harness_now_us() - t0 < harness_ms(60000) * 1000LL)
                msleep(1);
        t_bridge = harness_now_us() - t0;
        traffic_finish(&t, "bench", 5000);
        bridge_latency(lat_bridge);

        /* NATS alone: the same kind of stream (file, work queue), a publisher and a pull consumer */
        test_client();
        jsStreamConfig_Init(&sc);
        sc.Name = "BENCH";
        sc.Subjects = subjects;
        sc.SubjectsLen = 1;
        sc.Retention = js_WorkQueuePolicy;
        ck_assert_int_eq(js_AddStream(&si, test_js, &sc, NULL, NULL), NATS_OK);
        jsStreamInfo_Destroy(si);
        jsConsumerConfig_Init(&cc);
        cc.Durable = "bench";
        cc.AckPolicy = js_AckExplicit;
        ck_assert_int_eq(js_AddConsumer(&ci, test_js, "BENCH", &cc, NULL, NULL), NATS_OK);
        jsConsumerInfo_Destroy(ci);
        jsSubOptions_Init(&so);
        so.Stream = "BENCH";
        so.Consumer = "bench";
        ck_assert_int_eq(js_PullSubscribe(&nb.sub, test_js, "bench.x", "bench", NULL, &so, NULL), NATS_OK);
        memset(payload, 'x', sizeof(payload));

        nb.js = test_js;
        t0 = harness_now_us();
        ck_assert_int_eq(pthread_create(&cons, NULL, nats_bench_consumer, &nb), 0);
        for (int i = 0; i < BENCH_N; i++)
                ck_assert_int_eq(js_PublishAsync(test_js, "bench.x", payload, PAYLOAD, NULL), NATS_OK);
        pthread_join(cons, NULL);
        t_nats = harness_now_us() - t0;
        for (int i = 0; i < BENCH_PINGS; i++) {
                natsMsgList l;
                int64_t t1 = harness_now_us();

                ck_assert_int_eq(js_Publish(NULL, test_js, "bench.x", payload, PAYLOAD, NULL, NULL), NATS_OK);
                ck_assert_int_eq(natsSubscription_Fetch(&l, nb.sub, 1, 5000, NULL), NATS_OK);
                natsMsg_Ack(l.Msgs[0], NULL);
                natsMsgList_Destroy(&l);
                lat_nats[i] = harness_now_us() - t1;
        }
        qsort(lat_nats, BENCH_PINGS, sizeof(int64_t), cmp_i64);
        natsSubscription_Destroy(nb.sub);

        printf("bench: %d messages of %d B, one nats-server on loopback, file store, work-queue stream; "
               "mailboxes of %d slots\n",
               BENCH_N, PAYLOAD, BENCH_SLOTS);
        printf("bench:   %-58s %9.0f msg/s   latency p50 %6" PRId64 " us  p99 %6" PRId64 " us\n",
               "shmbox A -> bridge -> JetStream -> bridge -> shmbox B", BENCH_N / (t_bridge / 1e6),
               lat_bridge[BENCH_PINGS / 2], lat_bridge[BENCH_PINGS * 99 / 100]);
        printf("bench:   %-58s %9.0f msg/s   latency p50 %6" PRId64 " us  p99 %6" PRId64 " us\n",
               "libnats alone: js_PublishAsync -> pull Fetch(256) + Ack", BENCH_N / (t_nats / 1e6),
               lat_nats[BENCH_PINGS / 2], lat_nats[BENCH_PINGS * 99 / 100]);
        printf("bench:   (latency: one message at a time, send to receive; for NATS alone js_Publish waits for the "
               "stream's ack, then Fetch)\n");
        fflush(stdout);
}
END_TEST

static Suite *bridge_suite(void) {
        Suite *s = suite_create("bridge");
        TCase *tc;

        tc = tcase_create("two hosts through NATS");
        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60 * harness_scale());
        tcase_add_test(tc, test_a_sender_on_a_reaches_a_receiver_on_b);
        tcase_add_test(tc, test_a_message_published_again_after_a_bridge_restart_keeps_its_id);
        suite_add_tcase(s, tc);

        tc = tcase_create("faults lose nothing");
        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60 * harness_scale());
        tcase_add_test(tc, test_killing_the_bridges_mid_stream_loses_nothing);
        tcase_add_test(tc, test_killing_a_daemon_mid_stream_loses_nothing);
        tcase_add_test(tc, test_restarting_or_cutting_nats_mid_stream_loses_nothing);
        suite_add_tcase(s, tc);

        tc = tcase_create("back-pressure");
        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60 * harness_scale());
        tcase_add_test(tc, test_a_full_mailbox_on_b_stops_the_consumer);
        tcase_add_test(tc, test_a_full_stream_pushes_back_on_the_senders_of_a);
        suite_add_tcase(s, tc);

        tc = tcase_create("bench");
        tcase_add_unchecked_fixture(tc, harness_unchecked_setup, harness_unchecked_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 90 * harness_scale());
        tcase_add_test(tc, test_bench_prints_the_bridge_next_to_nats_alone);
        suite_add_tcase(s, tc);
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
