/* SPDX-License-Identifier: MIT */
/* bridge.c — the benchmark's bridge group: through shmbox-bridge and NATS JetStream on
 * loopback, next to libnats alone on the same servers, measured in the same run (issues 8, 18).
 *
 * The set-up is tests/test-bridge.c's. The benchmark's shmboxd stands for host A; the group
 * starts a second shmboxd for host B (its own socket, prefix "<prefix>-b") and makes two
 * mailboxes of 256 slots on each, one per delivery mode of the bridge (bridge/outbound.c,
 * "End-to-end delivery"): bridgebench-e2e with delivery = end-to-end (bridge A releases a
 * message from A's mailbox when bridge B confirms it committed it into B's) and
 * bridgebench-ack with delivery = stream-ack (A releases it on the stream's ack), written
 * explicitly into both bridges' configs. With 256 slots a bridge keeps up to 256 messages in
 * flight and fetches up to 256 at once, as a deployment would. Then it measures two cases, one
 * after the other, each with servers and bridges of its own:
 * - single: one nats-server with JetStream;
 * - cluster: three nats-server (n1..n3) as a JetStream cluster, every stream at replicas = 3,
 *   every client (both bridges, libnats alone) given the three URLs. Which server a client
 *   connects to is libnats's random choice, and where the streams' and consumers' leaders go
 *   the cluster's: both move the figures, so the report gives them (the placement line). The
 *   two modes share one stream, so at least its leader is the same for both.
 * Each server listens on a loopback port it picks itself (-1: the port is read from the file
 * that ports_file_dir makes, so no other program can take it in between). A cluster's route
 * ports must be written into every server's config before any starts, so they are probed
 * (bound and let go); if one is taken before its server binds it, that server ends at start,
 * and the whole cluster is started again with other ports (START_ATTEMPTS in all). The stores
 * are below the benchmark's temporary directory. The bridges: each of A's mailboxes outbound to
 * its subject (shmbox.bench.e2e, .ack) of a work-queue stream with file storage, and that
 * subject inbound into B's mailbox of the same name. Measuring begins when both bridges run
 * both mailboxes and every stream and consumer has a leader with its replicas current.
 *
 * Each run of a case (--reps of them; within a run the sides take turns, so that a change of
 * the machine's speed hits all alike) measures, with 64 B messages:
 * - through the bridges, end-to-end, then stream-ack: a thread sends N messages into A's
 *   mailbox while the driver receives them from B's; msgs/s is N over the time from the first
 *   send to the last receive;
 * - libnats alone on the same servers, the same way: a thread publishes N messages with
 *   js_PublishAsync, each with a Nats-Msg-Id (as the bridge publishes) and at most 256
 *   unacknowledged, into a stream with the same settings, while the driver pulls them from a
 *   consumer like the bridge's (explicit acks, max-ack-pending 256, fetch 256, ack each);
 * - latency, one message at a time: send on A to receive on B; for libnats, js_Publish (it
 *   waits for the stream's ack), then a fetch of 1 and its ack. p50 and p99 of each run.
 * Every message is checked on arrival (message.c: length, checksum, run, sequence number) and
 * must arrive exactly once: a loss, a duplicate or a corrupt message fails the group. The
 * mailboxes serve both cases, so a case ends only when bridge A has released every message
 * from A's mailboxes (the last ones may be confirmed or acknowledged after B received them).
 *
 * Everything the group starts it stops: after each case its bridges (each must exit 0 on
 * SIGTERM) and servers, whose stores and files go with the case's directory; at the end host
 * B's daemon (it must exit 0) and the mailboxes; host B's objects left in /dev/shm are counted
 * (there must be none). Meanwhile the pids are in env->track, where the benchmark's
 * SIGINT/SIGTERM handler finds them; it sweeps the prefix and the directory.
 *
 * Measured with `b/bench/shmbox-bench --only bridge --reps 3` on the development machine (2
 * vCPU, shared with other jobs: load average 1.9 when it began; nats-server 2.9.10, libnats
 * 3.4.1, a build without the crash points), 33 s for the group:
 *
 *   figure                                bridge   libnats  /libnats
 *   64 B single server, msgs/s
 *     bridge end-to-end                   26.5 k    39.3 k      0.67
 *     bridge stream-ack                   31.4 k    39.3 k      0.80
 *   64 B single server, latency p50
 *     bridge end-to-end                   991 us   1000 us      0.99
 *     bridge stream-ack                   996 us   1000 us      1.00
 *   64 B single server, latency p99
 *     bridge end-to-end                  1555 us   1185 us      1.31
 *     bridge stream-ack                  1907 us   1185 us      1.61
 *   64 B R3 cluster, msgs/s
 *     bridge end-to-end                   12.8 k    19.1 k      0.67
 *     bridge stream-ack                   14.3 k    19.1 k      0.75
 *   64 B R3 cluster, latency p50
 *     bridge end-to-end                  1790 us   2077 us      0.86
 *     bridge stream-ack                  1971 us   2077 us      0.95
 *   64 B R3 cluster, latency p99
 *     bridge end-to-end                  4939 us   6975 us      0.71
 *     bridge stream-ack                  4777 us   6975 us      0.68
 *     R3 cluster: connected: bridge A to n2, bridge B to n3, libnats alone to n2; leaders
 *     (stream/consumer): end-to-end n2/n2, stream-ack n2/n1, libnats alone n1/n1
 *
 * Two more runs the same hour (in one, other jobs took the load average from 2.8 to 8) gave
 * msgs/s ratios of 0.67 and 0.74 (single, end-to-end), 0.83 and 0.79 (single, stream-ack), 0.80
 * and 0.56 (cluster, end-to-end), 0.80 and 0.77 (cluster, stream-ack); doc/bridge.md, "Figures".
 */
#include "config.h"

#include "bench/bridge.h"

#include <arpa/inet.h>
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/message.h"
#include "bench/worker.h"
#include "proto/util.h"

#define STREAM "SHMBOXBENCH" /* both modes' subjects: shmbox.bench.> */
#define NATS_SUBJECT "natsbench.msgs"
#define NATS_STREAM "NATSBENCH"
#define NATS_DURABLE "natsbench"
#define SLOTS 256
#define PAYLOAD 64
#define REPS_MAX 25
#define WARMUP 200
#define NODES_MAX 3
#define START_ATTEMPTS 3 /* of a cluster, each with other route ports */
#define NSEC INT64_C(1000000000)
#define START_TIMEOUT_NS (20 * NSEC)
#define RECV_TIMEOUT_MS 10000 /* for one message, through the bridge or not */
#define API_WAIT_MS 1000      /* for one JetStream API request while waiting for the cluster */

/* The bridges' delivery modes, each with its mailbox (on A and on B) and subject, in the same
 * bridges and stream; the sides of the comparison that go through the bridges. */
enum { MODES = 2 };
static const struct {
        const char *delivery; /* [mailbox] delivery = (bridge/outbound.c, "End-to-end delivery") */
        const char *mailbox, *subject;
        const char *durable; /* what bridge B names its consumer (bridge/settings.c) */
        unsigned side;
} modes[MODES] = {
        { "end-to-end", "bridgebench-e2e", "shmbox.bench.e2e", "hostB_bridgebench-e2e", BRIDGE_SIDE_END_TO_END },
        { "stream-ack", "bridgebench-ack", "shmbox.bench.ack", "hostB_bridgebench-ack", BRIDGE_SIDE_STREAM_ACK },
};

enum { PROC_NATS, PROC_DAEMON_B = PROC_NATS + NODES_MAX, PROC_BRIDGE_A, PROC_BRIDGE_B };
_Static_assert(PROC_BRIDGE_B + 1 == BRIDGE_BENCH_PROCS, "bridge.h counts every process of the group");

static const char *const proc_names[BRIDGE_BENCH_PROCS] = { "nats-server n1",   "nats-server n2", "nats-server n3",
                                                            "host B's shmboxd", "bridge A",       "bridge B" };

/* The cases, in the order they run. */
static const struct {
        const char *name; /* its directory, and in messages */
        const char *what; /* in the progress line */
        unsigned nodes;   /* nats-server processes, n1..n<nodes>; the streams' replicas */
} cases[_BRIDGE_CASE_MAX] = {
        [BRIDGE_CASE_SINGLE] = { "single", "one nats-server", 1 },
        [BRIDGE_CASE_CLUSTER] = { "cluster", "R3 cluster", NODES_MAX },
};

typedef struct Group {
        const BridgeBenchEnv *env;
        char dir[200]; /* env->dir/bridge: everything of the group's below it */
        char socket_b[224], state_b[224], prefix_b[40];
        shmbox_client *a, *b;              /* the driver's connections to host A's and host B's daemon */
        bool made_a[MODES], made_b[MODES]; /* the mailboxes exist */

        /* the case that runs, from case_run() to case_stop() */
        const char *name; /* cases[].name */
        unsigned nodes;
        char case_dir[216];                /* dir/<name>: everything of the case's below it */
        char log[BRIDGE_BENCH_PROCS][256]; /* the servers' and bridges' in case_dir, host B's daemon's in dir */
        char node_dir[NODES_MAX][224];     /* case_dir/n<i>: the server's config, ports file and store */
        int client_port[NODES_MAX];
        char urls[NODES_MAX * 32]; /* "nats://127.0.0.1:<port>, ...": every client gets them all */
        char config[2][256], status[2][256];
        natsConnection *nc; /* libnats alone */
        jsCtx *js;
        natsSubscription *sub;
} Group;

static void msleep(int ms) {
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

/* nats-server in $PATH, else where Debian puts it (/usr/sbin); NULL if none. */
static const char *find_nats_server(char *buf, size_t size) {
        const char *p = getenv("PATH");
        char dirs[4096];

        snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/usr/local/sbin", p ? p : "/usr/bin:/bin");
        for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save))
                if ((size_t)snprintf(buf, size, "%s/nats-server", d) < size && access(buf, X_OK) == 0)
                        return buf;
        return NULL;
}

/* The last lines of @path on stderr, for a failure. */
static void print_log(const char *what, const char *path) {
        char buf[6144];
        FILE *f = fopen(path, "re");
        size_t n;
        long size;

        if (!f)
                return;
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        fseek(f, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0, SEEK_SET);
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        fprintf(stderr, "---- %s (%s) ----\n%s---- end of %s ----\n", what, path, buf, what);
}

static void print_logs(const Group *g) {
        for (unsigned k = 0; k < BRIDGE_BENCH_PROCS; k++)
                print_log(proc_names[k], g->log[k]);
}

/* Start @argv as process @k of the group, its output into its log. */
static int spawn(Group *g, unsigned k, char *const argv[]) {
        pid_t pid = fork();

        if (pid < 0)
                return -errno;
        if (pid == 0)
                exec_service(argv, g->log[k], SIGKILL);
        g->env->track[k] = pid;
        return 0;
}

/* Whether process @k runs; reaps it if it ended. */
static bool proc_alive(Group *g, unsigned k) {
        pid_t pid = g->env->track[k];
        int status;

        if (pid <= 0)
                return false;
        if (waitpid(pid, &status, WNOHANG) != pid)
                return true;
        g->env->track[k] = 0;
        fprintf(stderr, "shmbox-bench: bridge: %s ended early (status 0x%x)\n", proc_names[k], status);
        return false;
}

/* SIGTERM to process @k, SIGKILL after 10 s. Return: 0 if it exited 0 (or did not run, or
 * !@judge: nats-server exits 1 on SIGTERM), -1 if not. */
static int proc_stop(Group *g, unsigned k, bool judge) {
        pid_t pid = g->env->track[k];
        int status = 0;

        if (pid <= 0)
                return 0;
        kill(pid, SIGTERM);
        for (int64_t deadline = now_ns() + 10 * NSEC; waitpid(pid, &status, WNOHANG) != pid;) {
                if (now_ns() > deadline) {
                        fprintf(stderr, "shmbox-bench: bridge: %s ignored SIGTERM; killing it\n", proc_names[k]);
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        break;
                }
                msleep(5);
        }
        g->env->track[k] = 0;
        if (!judge || (WIFEXITED(status) && WEXITSTATUS(status) == 0))
                return 0;
        fprintf(stderr, "shmbox-bench: bridge: %s did not exit cleanly on SIGTERM (status 0x%x)\n", proc_names[k],
                status);
        print_log(proc_names[k], g->log[k]);
        return -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        remove(path);
        return 0;
}

/* The "nats://..." URL in the ports file that a nats-server writes into @dir once it listens
 * (client, route and monitoring ports alike); false until then. */
static bool read_ports_file(const char *dir_path, char *url, size_t size) {
        char buf[512], path[480];
        struct dirent *d;
        bool found = false;
        DIR *dir = opendir(dir_path);

        if (!dir)
                return false;
        while (!found && (d = readdir(dir))) {
                FILE *f;
                size_t n;
                char *u, *q;

                if (d->d_name[0] == '.' ||
                    (size_t)snprintf(path, sizeof(path), "%s/%s", dir_path, d->d_name) >= sizeof(path))
                        continue;
                f = fopen(path, "re");
                if (!f)
                        continue;
                n = fread(buf, 1, sizeof(buf) - 1, f);
                fclose(f);
                buf[n] = '\0';
                u = strstr(buf, "nats://");
                q = u ? strchr(u, '"') : NULL;
                if (q && (size_t)(q - u) < size) {
                        *q = '\0';
                        strcpy(url, u);
                        found = true;
                }
        }
        closedir(dir);
        return found;
}

/* @n loopback ports that were free a moment ago: each bound to port 0 (the kernel's choice), all
 * at once so that they differ, then let go. Another program may take one before its server
 * binds it: nodes_start() starts again then. Return: 0; a negative errno (@ret untouched). */
static int probe_ports(unsigned n, int *ret) {
        int fd[NODES_MAX], port[NODES_MAX], r = 0;
        unsigned k;

        assert(n <= NODES_MAX);
        for (k = 0; r == 0 && k < n; k++) {
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                socklen_t len = sizeof(sa);

                fd[k] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd[k] < 0 || bind(fd[k], (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
                    getsockname(fd[k], (struct sockaddr *)&sa, &len) < 0)
                        r = -errno;
                port[k] = ntohs(sa.sin_port);
        }
        while (k > 0)
                if (fd[--k] >= 0)
                        close(fd[k]);
        if (r == 0)
                memcpy(ret, port, n * sizeof(*port));
        return r;
}

/* Server n<@k+1>: its directory, its config (a cluster's with @route[]: every server's route
 * port), then the process. */
static int node_start(Group *g, unsigned k, const int *route) {
        char conf[256], ports[256], store[256];
        char *argv[] = { (char *)g->env->nats_server, "-c", conf, NULL };
        FILE *f;

        snprintf(conf, sizeof(conf), "%s/nats.conf", g->node_dir[k]);
        snprintf(ports, sizeof(ports), "%s/ports", g->node_dir[k]);
        snprintf(store, sizeof(store), "%s/store", g->node_dir[k]);
        if (mkdir(g->node_dir[k], 0700) < 0 || mkdir(ports, 0700) < 0)
                return -errno;
        f = fopen(conf, "we");
        if (!f)
                return -errno;
        fprintf(f,
                "# written by shmbox-bench (bench/bridge.c)\n"
                "server_name: n%u\nhost: 127.0.0.1\nport: -1\nports_file_dir: \"%s\"\n"
                "jetstream { store_dir: \"%s\" }\n",
                k + 1, ports, store);
        if (g->nodes > 1) {
                fprintf(f, "cluster {\n  name: shmboxbench\n  listen: \"127.0.0.1:%d\"\n  routes: [", route[k]);
                for (unsigned i = 0; i < g->nodes; i++)
                        fprintf(f, "%s \"nats://127.0.0.1:%d\"", i ? "," : "", route[i]);
                fprintf(f, " ]\n}\n");
        }
        if (fclose(f) != 0)
                return -EIO;
        return spawn(g, PROC_NATS + k, argv);
}

static void nodes_stop(Group *g) {
        for (unsigned k = 0; k < g->nodes; k++)
                proc_stop(g, PROC_NATS + k, false);
}

/* Wait until every server listens, each client port into g->client_port[] and all URLs into
 * g->urls. Return: 0; -EAGAIN if a server ended (said); -ETIMEDOUT. */
static int nodes_wait(Group *g) {
        size_t len = 0;

        for (unsigned k = 0; k < g->nodes; k++) {
                char ports[256], url[64];

                snprintf(ports, sizeof(ports), "%s/ports", g->node_dir[k]);
                for (int64_t deadline = now_ns() + START_TIMEOUT_NS; !read_ports_file(ports, url, sizeof(url));
                     msleep(10)) {
                        if (!proc_alive(g, PROC_NATS + k))
                                return -EAGAIN;
                        if (now_ns() > deadline) {
                                fprintf(stderr, "shmbox-bench: bridge: %s did not come up\n",
                                        proc_names[PROC_NATS + k]);
                                return -ETIMEDOUT;
                        }
                }
                g->client_port[k] = atoi(strrchr(url, ':') + 1);
                len += (size_t)snprintf(g->urls + len, sizeof(g->urls) - len, "%s%s", k ? ", " : "", url);
        }
        return 0;
}

/* The case's servers: one, or a cluster, started again with other route ports if one of its
 * servers ends at start (its port was taken after probe_ports()). Return: 0; -EIO (said, with
 * the logs); another negative errno. */
static int nodes_start(Group *g) {
        int route[NODES_MAX] = {}, r;

        for (unsigned attempt = 1;; attempt++) {
                r = g->nodes > 1 ? probe_ports(g->nodes, route) : 0;
                for (unsigned k = 0; r == 0 && k < g->nodes; k++)
                        r = node_start(g, k, route);
                if (r == 0)
                        r = nodes_wait(g);
                if (r == 0)
                        return 0;
                if (r != -EAGAIN || attempt == START_ATTEMPTS || g->nodes == 1)
                        break;
                fprintf(stderr,
                        "shmbox-bench: bridge: starting the cluster again with other ports (attempt %u of %u)\n",
                        attempt + 1, START_ATTEMPTS);
                nodes_stop(g);
                for (unsigned k = 0; k < g->nodes; k++)
                        nftw(g->node_dir[k], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
        for (unsigned k = 0; k < g->nodes; k++)
                print_log(proc_names[PROC_NATS + k], g->log[PROC_NATS + k]);
        return r == -EAGAIN || r == -ETIMEDOUT ? -EIO : r;
}

/* Host B's daemon; g->b is connected to it on success. */
static int daemon_b_start(Group *g) {
        char *argv[] = { (char *)g->env->shmboxd, "--socket", g->socket_b,   "--prefix", g->prefix_b,
                         "--state-dir",           g->state_b, "--log-level", "warning",  NULL };
        int r;

        r = spawn(g, PROC_DAEMON_B, argv);
        if (r < 0)
                return r;
        for (int64_t deadline = now_ns() + START_TIMEOUT_NS; shmbox_connect(g->socket_b, &g->b) < 0; msleep(5))
                if (!proc_alive(g, PROC_DAEMON_B) || now_ns() > deadline) {
                        fprintf(stderr, "shmbox-bench: bridge: host B's shmboxd did not come up\n");
                        print_log(proc_names[PROC_DAEMON_B], g->log[PROC_DAEMON_B]);
                        return -ETIMEDOUT;
                }
        return 0;
}

/* Bridge @k (0: A, outbound; 1: B, inbound): its config file, then the process. Both carry
 * a mailbox per delivery mode, written out explicitly in both (B confirms or not by it). */
static int bridge_start(Group *g, unsigned k) {
        char *argv[] = { (char *)g->env->bridge, "--config", g->config[k], "--log-level", "notice", NULL };
        FILE *f = fopen(g->config[k], "we");

        if (!f)
                return -errno;
        fprintf(f,
                "# written by shmbox-bench (bench/bridge.c)\n"
                "[nats]\nurl = %s\nreconnect-wait-ms = 100\nconnect-timeout-ms = 1000\n\n"
                "[bridge]\nhost = host%c\nsocket = %s\nstatus-file = %s\n\n"
                "[stream " STREAM "]\nsubjects = shmbox.bench.>\nstorage = file\nretention = workqueue\n"
                "replicas = %u\n",
                g->urls, k ? 'B' : 'A', k ? g->socket_b : g->env->socket_a, g->status[k], g->nodes);
        for (unsigned m = 0; m < MODES; m++) {
                fprintf(f, "\n[mailbox %s]\ndirection = %s\nsubject = %s\nstream = " STREAM "\ndelivery = %s\n",
                        modes[m].mailbox, k ? "inbound" : "outbound", modes[m].subject, modes[m].delivery);
        }
        if (fclose(f) != 0)
                return -EIO;
        return spawn(g, PROC_BRIDGE_A + k, argv);
}

/* How many lines of the file @path are @line. */
static unsigned file_count_line(const char *path, const char *line) {
        char buf[512];
        unsigned n = 0;
        FILE *f = fopen(path, "re");

        if (!f)
                return 0;
        while (fgets(buf, sizeof(buf), f)) {
                buf[strcspn(buf, "\n")] = '\0';
                n += strcmp(buf, line) == 0;
        }
        fclose(f);
        return n;
}

/* The value of "@key = " in the status file @path, into @buf; false if there is none. */
static bool status_value(const char *path, const char *key, char *buf, size_t size) {
        char line[512];
        size_t n = strlen(key);
        bool found = false;
        FILE *f = fopen(path, "re");

        if (!f)
                return false;
        while (!found && fgets(line, sizeof(line), f))
                if (strncmp(line, key, n) == 0 && strncmp(line + n, " = ", 3) == 0) {
                        size_t len = strcspn(line + n + 3, "\n");

                        len = MIN(len, size - 1);
                        memcpy(buf, line + n + 3, len);
                        buf[len] = '\0';
                        found = true;
                }
        fclose(f);
        return found;
}

/* Wait until both bridges are connected and each of their mailboxes runs (stream and
 * consumer made). Return: 0; -EIO (said, with the logs). */
static int bridges_wait(Group *g) {
        for (unsigned k = 0; k < 2; k++)
                for (int64_t deadline = now_ns() + START_TIMEOUT_NS;
                     file_count_line(g->status[k], "connected = yes") != 1 ||
                     file_count_line(g->status[k], "state = running") != MODES;
                     msleep(10))
                        if (!proc_alive(g, PROC_BRIDGE_A + k) || now_ns() > deadline) {
                                fprintf(stderr, "shmbox-bench: bridge: %s did not come up\n",
                                        proc_names[PROC_BRIDGE_A + k]);
                                print_logs(g);
                                return -EIO;
                        }
        return 0;
}

/* Wait until the JetStream API answers (a cluster: once it has elected its meta leader). */
static natsStatus jetstream_wait(Group *g) {
        jsAccountInfo *ai = NULL;
        jsOptions o;
        natsStatus s;

        jsOptions_Init(&o);
        o.Wait = API_WAIT_MS;
        for (int64_t deadline = now_ns() + START_TIMEOUT_NS;
             (s = js_GetAccountInfo(&ai, g->js, &o, NULL)) != NATS_OK && now_ns() < deadline;)
                msleep(100);
        jsAccountInfo_Destroy(ai);
        return s;
}

/* Whether the cluster info @ci has a leader and its @replicas - 1 followers current. */
static bool cluster_whole(const jsClusterInfo *ci, unsigned replicas) {
        unsigned current = 0;

        if (replicas == 1)
                return true;
        if (!ci || !ci->Leader || !ci->Leader[0])
                return false;
        for (int i = 0; i < ci->ReplicasLen; i++)
                current += ci->Replicas[i]->Current && !ci->Replicas[i]->Offline;
        return current + 1 >= replicas;
}

/*
 * Wait until stream @stream and its consumer @durable exist and each has a leader with its
 * replicas current; the leaders' names (of a cluster) into @ret ("<stream's>/<consumer's>").
 * Return: 0; -ETIMEDOUT (said).
 */
static int stream_wait(Group *g, const char *stream, const char *durable, char *ret, size_t size) {
        jsStreamInfo *si = NULL;
        jsConsumerInfo *ci = NULL;
        jsOptions o;
        bool ok = false;

        jsOptions_Init(&o);
        o.Wait = API_WAIT_MS;
        for (int64_t deadline = now_ns() + START_TIMEOUT_NS;;) {
                ok = js_GetStreamInfo(&si, g->js, stream, &o, NULL) == NATS_OK &&
                     cluster_whole(si->Cluster, g->nodes) &&
                     js_GetConsumerInfo(&ci, g->js, stream, durable, &o, NULL) == NATS_OK &&
                     cluster_whole(ci->Cluster, g->nodes);
                if (ok)
                        break;
                if (now_ns() > deadline) {
                        fprintf(stderr,
                                "shmbox-bench: bridge: stream %s or its consumer %s has no leader with "
                                "its replicas current after %lld s\n",
                                stream, durable, (long long)(START_TIMEOUT_NS / NSEC));
                        break;
                }
                jsStreamInfo_Destroy(si);
                si = NULL;
                jsConsumerInfo_Destroy(ci);
                ci = NULL;
                msleep(100);
        }
        if (ok && g->nodes > 1)
                snprintf(ret, size, "%s/%s", si->Cluster->Leader, ci->Cluster->Leader);
        jsStreamInfo_Destroy(si);
        jsConsumerInfo_Destroy(ci);
        return ok ? 0 : -ETIMEDOUT;
}

/* libnats alone: a connection given every server's URL (as the bridges are), a stream and a
 * durable pull consumer like the bridges'. Return: 0; -EIO (said, with the logs). */
static int nats_alone_start(Group *g) {
        const char *subjects[] = { NATS_SUBJECT };
        char urls[sizeof(g->urls)], *list[NODES_MAX], *save = NULL;
        jsStreamInfo *si = NULL;
        jsConsumerInfo *ci = NULL;
        natsOptions *no = NULL;
        jsStreamConfig sc;
        jsConsumerConfig cc;
        jsSubOptions so;
        jsOptions jo;
        natsStatus s;
        int n = 0;

        strcpy(urls, g->urls);
        for (char *u = strtok_r(urls, ", ", &save); u && n < NODES_MAX; u = strtok_r(NULL, ", ", &save))
                list[n++] = u;
        s = natsOptions_Create(&no);
        if (s == NATS_OK)
                s = natsOptions_SetServers(no, (const char **)list, n);
        if (s == NATS_OK)
                s = natsConnection_Connect(&g->nc, no);
        natsOptions_Destroy(no);
        if (s == NATS_OK) {
                jsOptions_Init(&jo);
                jo.PublishAsync.MaxPending = SLOTS; /* the bridge's max-in-flight: the mailbox's slots */
                s = natsConnection_JetStream(&g->js, g->nc, &jo);
        }
        if (s == NATS_OK)
                s = jetstream_wait(g);
        if (s == NATS_OK) {
                /* what the bridge creates from its [stream] section (bridge/link.c) */
                jsStreamConfig_Init(&sc);
                sc.Name = NATS_STREAM;
                sc.Subjects = subjects;
                sc.SubjectsLen = 1;
                sc.Retention = js_WorkQueuePolicy;
                sc.Discard = js_DiscardNew;
                sc.Storage = js_FileStorage;
                sc.Replicas = (int64_t)g->nodes;
                sc.Duplicates = INT64_C(120000) * 1000000;
                s = js_AddStream(&si, g->js, &sc, NULL, NULL);
                jsStreamInfo_Destroy(si);
        }
        if (s == NATS_OK) {
                /* what the inbound bridge creates for a mailbox of SLOTS slots */
                jsConsumerConfig_Init(&cc);
                cc.Durable = NATS_DURABLE;
                cc.FilterSubject = NATS_SUBJECT;
                cc.AckPolicy = js_AckExplicit;
                cc.AckWait = INT64_C(30000) * 1000000;
                cc.DeliverPolicy = js_DeliverAll;
                cc.MaxDeliver = -1;
                cc.MaxAckPending = SLOTS;
                s = js_AddConsumer(&ci, g->js, NATS_STREAM, &cc, NULL, NULL);
                jsConsumerInfo_Destroy(ci);
        }
        if (s == NATS_OK) {
                jsSubOptions_Init(&so);
                so.Stream = NATS_STREAM;
                so.Consumer = NATS_DURABLE;
                s = js_PullSubscribe(&g->sub, g->js, NATS_SUBJECT, NATS_DURABLE, NULL, &so, NULL);
        }
        if (s != NATS_OK) {
                fprintf(stderr, "shmbox-bench: bridge: libnats alone: %s\n",
                        nats_GetLastError(NULL) ?: natsStatus_GetText(s));
                print_logs(g);
                return -EIO;
        }
        return 0;
}

static void nats_alone_stop(Group *g) {
        natsSubscription_Destroy(g->sub);
        g->sub = NULL;
        jsCtx_Destroy(g->js);
        g->js = NULL;
        natsConnection_Destroy(g->nc);
        g->nc = NULL;
}

/* The server (n1..n3) that @url ("nats://127.0.0.1:<port>") is, "?" if none. */
static const char *node_of(const Group *g, const char *url) {
        static const char *const names[NODES_MAX] = { "n1", "n2", "n3" };
        const char *c = strrchr(url, ':');
        int port = c ? atoi(c + 1) : 0;

        for (unsigned k = 0; k < g->nodes; k++)
                if (g->client_port[k] == port)
                        return names[k];
        return "?";
}

/* Wait until the bridges' stream and libnats alone's, and their consumers, have a leader with
 * their replicas current; a cluster's placement in words into @buf: the server each client is
 * on, and the leaders. Return: 0; -EIO (said, with the logs). */
static int streams_wait(Group *g, char *buf, size_t size) {
        char leaders[MODES + 1][16], server[2][128] = {}, nc[128] = "";
        int r = 0;

        for (unsigned m = 0; r == 0 && m < MODES; m++)
                r = stream_wait(g, STREAM, modes[m].durable, leaders[m], sizeof(leaders[m]));
        if (r == 0)
                r = stream_wait(g, NATS_STREAM, NATS_DURABLE, leaders[MODES], sizeof(leaders[MODES]));
        if (r < 0) {
                print_logs(g);
                return -EIO;
        }
        if (g->nodes == 1)
                return 0;
        for (unsigned k = 0; k < 2; k++)
                status_value(g->status[k], "server", server[k], sizeof(server[k]));
        natsConnection_GetConnectedUrl(g->nc, nc, sizeof(nc));
        _Static_assert(MODES == 2, "the placement names both modes");
        snprintf(buf, size,
                 "connected: bridge A to %s, bridge B to %s, libnats alone to %s; leaders (stream/consumer): "
                 "%s %s, %s %s, libnats alone %s",
                 node_of(g, server[0]), node_of(g, server[1]), node_of(g, nc), modes[0].delivery, leaders[0],
                 modes[1].delivery, leaders[1], leaders[MODES]);
        return 0;
}

/* ---- checking what arrives -------------------------------------------------------------- */

/* What one measurement expects: messages 0..n-1 of run @run, each once. */
typedef struct Expect {
        unsigned run, n, got;
        uint8_t *seen; /* [n] */
        char err[200]; /* the first failure, "" while there is none */
} Expect;

static int expect_init(Expect *e, unsigned run, unsigned n) {
        *e = (Expect){ .run = run, .n = n, .seen = calloc(n, 1) };
        return e->seen ? 0 : -ENOMEM;
}

/* Check one arrival. Return: 0; -EBADMSG (and e->err says why). */
static int expect_check(Expect *e, const void *data, size_t len) {
        uint32_t sender;
        uint64_t seq;

        if (len != PAYLOAD || msg_check(data, len, &sender, &seq) < 0)
                snprintf(e->err, sizeof(e->err), "message %u: length %zu or checksum wrong", e->got, len);
        else if (sender != e->run || seq >= e->n)
                snprintf(e->err, sizeof(e->err), "message %u is #%llu of run %u, not of run %u", e->got,
                         (unsigned long long)seq, sender, e->run);
        else if (e->seen[seq])
                snprintf(e->err, sizeof(e->err), "message #%llu arrived twice", (unsigned long long)seq);
        else {
                e->seen[seq] = 1;
                e->got++;
                return 0;
        }
        return -EBADMSG;
}

/* Free what @e holds and say what failed. Return: 0; -EIO if anything did (@r < 0 or e->err). */
static int expect_done(Expect *e, const char *what, int r) {
        if (e->err[0] || r < 0)
                fprintf(stderr, "shmbox-bench: bridge: %s: %s\n", what, e->err[0] ? e->err : strerror(-r));
        free(e->seen);
        return r < 0 || e->err[0] ? -EIO : 0;
}

/* ---- the two sides: through the bridge, and libnats alone ------------------------------------ */

/* One side of the comparison, and how its messages travel. */
typedef struct Side {
        const char *what;
        /* send message @i of run @run (@wait: for the stream's ack, where there is one); a
         * failure is said in @err */
        int (*send)(void *ctx, unsigned run, unsigned i, bool wait, char *err, size_t err_size);
        /* receive and check until @e holds @want messages */
        int (*receive)(void *ctx, Expect *e, unsigned want);
        void *ctx;
} Side;

/* Through the bridge: the sender's box on A, the receiver's on B (each used by one thread). */
typedef struct Boxes {
        shmbox *tx, *rx;
} Boxes;

static int bridge_send(void *ctx, unsigned run, unsigned i, bool wait, char *err, size_t err_size) {
        Boxes *b = ctx;
        uint8_t buf[PAYLOAD];
        int r;

        msg_fill(buf, PAYLOAD, run, i);
        r = shmbox_send(b->tx, buf, PAYLOAD, RECV_TIMEOUT_MS);
        if (r < 0)
                snprintf(err, err_size, "send on A: %s", shmbox_strerror(r));
        return r;
}

static int bridge_receive(void *ctx, Expect *e, unsigned want) {
        Boxes *b = ctx;
        uint8_t buf[PAYLOAD];

        while (e->got < want) {
                ssize_t n = shmbox_recv(b->rx, buf, sizeof(buf), RECV_TIMEOUT_MS);

                if (n < 0) {
                        snprintf(e->err, sizeof(e->err), "receive on B after %u of %u: %s", e->got, want,
                                 shmbox_strerror((int)n));
                        return (int)n;
                }
                if (expect_check(e, buf, (size_t)n) < 0)
                        return -EBADMSG;
        }
        return 0;
}

/* libnats alone: publish with an id, as the bridge does; asynchronously unless @wait. */
static int nats_send(void *ctx, unsigned run, unsigned i, bool wait, char *err, size_t err_size) {
        Group *g = ctx;
        uint8_t buf[PAYLOAD];
        char id[48];
        jsPubOptions po;
        natsStatus s;

        msg_fill(buf, PAYLOAD, run, i);
        snprintf(id, sizeof(id), "natsbench.%u.%u", run, i);
        jsPubOptions_Init(&po);
        po.MsgId = id;
        if (wait)
                s = js_Publish(NULL, g->js, NATS_SUBJECT, buf, PAYLOAD, &po, NULL);
        else
                /* at most SLOTS unacked: past that libnats has us wait (NATS_TIMEOUT after 200 ms) */
                for (int64_t deadline = now_ns() + (int64_t)RECV_TIMEOUT_MS * 1000000;;) {
                        s = js_PublishAsync(g->js, NATS_SUBJECT, buf, PAYLOAD, &po);
                        if (s != NATS_TIMEOUT || now_ns() > deadline)
                                break;
                }
        if (s == NATS_OK)
                return 0;
        snprintf(err, err_size, "%s: %s", wait ? "js_Publish" : "js_PublishAsync", natsStatus_GetText(s));
        return -EIO;
}

/* Fetch what fits the consumer's max-ack-pending, check and ack each, as the bridge does. */
static int nats_receive(void *ctx, Expect *e, unsigned want) {
        Group *g = ctx;
        int64_t deadline = now_ns() + (int64_t)RECV_TIMEOUT_MS * 1000000;

        while (e->got < want && !e->err[0]) {
                natsMsgList l;
                natsStatus s = natsSubscription_Fetch(&l, g->sub, (int)MIN(want - e->got, (unsigned)SLOTS), 1000, NULL);

                if (s == NATS_TIMEOUT && now_ns() < deadline)
                        continue;
                if (s != NATS_OK) {
                        snprintf(e->err, sizeof(e->err), "fetch after %u of %u: %s", e->got, want,
                                 natsStatus_GetText(s));
                        break;
                }
                for (int i = 0; i < l.Count; i++) {
                        if (!e->err[0])
                                expect_check(e, natsMsg_GetData(l.Msgs[i]), (size_t)natsMsg_GetDataLength(l.Msgs[i]));
                        natsMsg_Ack(l.Msgs[i], NULL);
                }
                natsMsgList_Destroy(&l);
                deadline = now_ns() + (int64_t)RECV_TIMEOUT_MS * 1000000;
        }
        return e->err[0] ? -EIO : 0;
}

/* ---- the measurements, the same for both sides ---------------------------------------------- */

typedef struct Sender {
        const Side *side;
        unsigned run, n;
        int r;
        char err[200];
} Sender;

static void *sender_main(void *arg) {
        Sender *s = arg;

        for (unsigned i = 0; s->r == 0 && i < s->n; i++)
                s->r = s->side->send(s->side->ctx, s->run, i, false, s->err, sizeof(s->err));
        return NULL;
}

/* Throughput: @n messages of run @run sent by a thread, received and checked here; msgs/s in @ret. */
static int measure_tput(const Side *side, unsigned run, unsigned n, double *ret) {
        Sender s = { .side = side, .run = run, .n = n };
        Expect e = {};
        int64_t t0 = now_ns();
        pthread_t t;
        int r;

        r = expect_init(&e, run, n);
        if (r == 0)
                r = -pthread_create(&t, NULL, sender_main, &s);
        if (r == 0) {
                r = side->receive(side->ctx, &e, n);
                *ret = (double)n / ((double)(now_ns() - t0) / 1e9);
                pthread_join(t, NULL);
                if (s.r < 0) /* the receiver only timed out: the sender knows why */
                        snprintf(e.err, sizeof(e.err), "%s", s.err);
        }
        return expect_done(&e, side->what, r);
}

static double percentile(double *v, unsigned n, double p) {
        qsort(v, n, sizeof(*v), cmp_double);
        return v[(size_t)ceil(p * n) - 1];
}

/* Latency: @pings single messages, each sent (and acked, for libnats) and received before the
 * next; p50 and p99 in µs. */
static int measure_latency(const Side *side, unsigned run, unsigned pings, double *ret_p50, double *ret_p99) {
        double *lat = calloc(pings, sizeof(double));
        Expect e = {};
        int r = lat ? expect_init(&e, run, pings) : -ENOMEM;

        for (unsigned i = 0; r == 0 && i < pings; i++) {
                int64_t t0 = now_ns();

                r = side->send(side->ctx, run, i, true, e.err, sizeof(e.err));
                if (r == 0)
                        r = side->receive(side->ctx, &e, i + 1);
                lat[i] = (double)(now_ns() - t0) / 1e3;
        }
        if (r == 0) {
                *ret_p50 = percentile(lat, pings, 0.50);
                *ret_p99 = percentile(lat, pings, 0.99);
        }
        free(lat);
        return expect_done(&e, side->what, r);
}

/* ---- the group ---------------------------------------------------------------------------- */

/* Objects of host B's prefix in /dev/shm ("<prefix>." and "sem.<prefix>."); removed if @remove. */
static unsigned shm_objects_b(const Group *g, bool remove) {
        size_t n = strlen(g->prefix_b);
        unsigned count = 0;
        struct dirent *d;
        DIR *dir = opendir("/dev/shm");

        if (!dir)
                return 0;
        while ((d = readdir(dir))) {
                const char *e = strncmp(d->d_name, "sem.", 4) == 0 ? d->d_name + 4 : d->d_name;

                if (strncmp(e, g->prefix_b, n) != 0 || e[n] != '.')
                        continue;
                count++;
                if (remove)
                        unlinkat(dirfd(dir), d->d_name, 0);
        }
        closedir(dir);
        return count;
}

/* Measure the case that runs: warm-up, then @reps runs, each side in turn. Return: 0; -EIO
 * after a failure (said). */
static int measure(Group *g, ReportBridgeCase *rep) {
        const BridgeBenchEnv *env = g->env;
        double tput[_BRIDGE_SIDE_MAX][REPS_MAX], p50[_BRIDGE_SIDE_MAX][REPS_MAX], p99[_BRIDGE_SIDE_MAX][REPS_MAX];
        shmbox_client *txc = NULL;
        unsigned runs = MIN(env->reps, (unsigned)REPS_MAX), done = 0;
        Boxes boxes[MODES] = {};
        const Side sides[_BRIDGE_SIDE_MAX] = {
                [BRIDGE_SIDE_END_TO_END] = { "bridge end-to-end", bridge_send, bridge_receive, &boxes[0] },
                [BRIDGE_SIDE_STREAM_ACK] = { "bridge stream-ack", bridge_send, bridge_receive, &boxes[1] },
                [BRIDGE_SIDE_NATS] = { "libnats alone", nats_send, nats_receive, g },
        };
        double x;
        int r;

        _Static_assert(MODES == 2 && BRIDGE_SIDE_END_TO_END == 0 && BRIDGE_SIDE_STREAM_ACK == 1,
                       "the sides through the bridges are the modes, in order");
        /* the sender's own connection (one thread at a time uses it: the sender thread, or
         * the driver between runs) */
        r = shmbox_connect(env->socket_a, &txc);
        for (unsigned m = 0; r == 0 && m < MODES; m++) {
                r = shmbox_attach(txc, modes[m].mailbox, &boxes[m].tx);
                if (r == 0)
                        r = shmbox_attach(g->b, modes[m].mailbox, &boxes[m].rx);
        }
        if (r < 0) {
                fprintf(stderr, "shmbox-bench: bridge: attach: %s\n", shmbox_strerror(r));
                goto out;
        }
        /* warm-up, not timed: connections, the streams' first blocks, the consumers */
        for (unsigned k = 0; r == 0 && k < _BRIDGE_SIDE_MAX; k++)
                r = measure_tput(&sides[k], 2 * REPS_MAX, WARMUP, &x);
        for (unsigned i = 0; r == 0 && i < runs; i++) {
                if (env->progress)
                        fprintf(stderr, "\r\033[Kbridge: %s, run %u/%u", g->name, i + 1, runs);
                for (unsigned k = 0; r == 0 && k < _BRIDGE_SIDE_MAX; k++)
                        r = measure_tput(&sides[k], i, env->messages, &tput[k][i]);
                for (unsigned k = 0; r == 0 && k < _BRIDGE_SIDE_MAX; k++)
                        r = measure_latency(&sides[k], REPS_MAX + i, env->pings, &p50[k][i], &p99[k][i]);
                if (r == 0)
                        done++;
        }
        if (env->progress)
                fprintf(stderr, "\r\033[K");
        rep->ran = r == 0;
        rep->nodes = g->nodes;
        for (unsigned k = 0; k < _BRIDGE_SIDE_MAX; k++) {
                rep->msgs[k] = report_median(tput[k], done);
                rep->p50_us[k] = report_median(p50[k], done);
                rep->p99_us[k] = report_median(p99[k], done);
        }
out:
        for (unsigned m = 0; m < MODES; m++) {
                shmbox_detach(boxes[m].rx);
                shmbox_detach(boxes[m].tx);
        }
        shmbox_disconnect(txc);
        if (r < 0)
                print_logs(g);
        return r < 0 ? -EIO : 0;
}

/* Wait until bridge A has released every message from A's mailboxes. It releases a message
 * once B confirmed it or the stream acknowledged it, which may come after B received it; a
 * message still held when the case stops would stay in the mailbox and be published again in
 * the next case. Return: 0; -EIO (said). */
static int mailbox_a_drained(Group *g) {
        struct shmbox_info info = {};
        int64_t deadline = now_ns() + (int64_t)RECV_TIMEOUT_MS * 1000000;
        int r;

        for (unsigned m = 0; m < MODES;) {
                r = shmbox_info(g->a, modes[m].mailbox, &info);
                if (r < 0) {
                        fprintf(stderr, "shmbox-bench: bridge: A's mailbox %s: %s\n", modes[m].mailbox,
                                shmbox_strerror(r));
                        return -EIO;
                }
                if (info.queued == 0) {
                        m++;
                        continue;
                }
                if (now_ns() > deadline) {
                        fprintf(stderr,
                                "shmbox-bench: bridge: %s: A's mailbox %s still holds %u message(s) %d ms after B "
                                "received the last\n",
                                g->name, modes[m].mailbox, info.queued, RECV_TIMEOUT_MS);
                        print_logs(g);
                        return -EIO;
                }
                msleep(10);
        }
        return 0;
}

/* Stop what the case that runs started and remove its directory. Return: the failures. */
static unsigned case_stop(Group *g) {
        unsigned failures = 0;

        /* the bridges first: they give back what they hold to mailboxes and stream that still exist */
        if (proc_stop(g, PROC_BRIDGE_A, true) < 0)
                failures++;
        if (proc_stop(g, PROC_BRIDGE_B, true) < 0)
                failures++;
        nats_alone_stop(g);
        nodes_stop(g);
        nftw(g->case_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        return failures;
}

/* Case @c: its servers, libnats alone, its bridges, the measurement, then case_stop(). The
 * mailboxes exist. A step that returns -EIO has said why and shown the logs. Return: 0; -EIO
 * after a failure (said). */
static int case_run(Group *g, unsigned c, ReportBridgeCase *rep) {
        unsigned failures;
        int r;

        g->name = cases[c].name;
        g->nodes = cases[c].nodes;
        snprintf(g->case_dir, sizeof(g->case_dir), "%s/%s", g->dir, g->name);
        for (unsigned k = 0; k < NODES_MAX; k++) {
                snprintf(g->node_dir[k], sizeof(g->node_dir[0]), "%s/n%u", g->case_dir, k + 1);
                snprintf(g->log[PROC_NATS + k], sizeof(g->log[0]), "%s/nats-n%u.log", g->case_dir, k + 1);
        }
        for (unsigned k = 0; k < 2; k++) {
                snprintf(g->log[PROC_BRIDGE_A + k], sizeof(g->log[0]), "%s/bridge-%c.log", g->case_dir, 'a' + k);
                snprintf(g->config[k], sizeof(g->config[0]), "%s/bridge-%c.conf", g->case_dir, 'a' + k);
                snprintf(g->status[k], sizeof(g->status[0]), "%s/bridge-%c.status", g->case_dir, 'a' + k);
        }
        if (g->env->progress)
                fprintf(stderr, "\r\033[Kbridge: starting %s and two bridges", cases[c].what);
        r = mkdir(g->case_dir, 0700) < 0 ? -errno : 0;
        if (r == 0)
                r = nodes_start(g);
        if (r == 0)
                r = nats_alone_start(g);
        if (r == 0)
                r = bridge_start(g, 0);
        if (r == 0)
                r = bridge_start(g, 1);
        if (r == 0)
                r = bridges_wait(g);
        if (r == 0)
                r = streams_wait(g, rep->placement, sizeof(rep->placement));
        if (r == 0) {
                r = measure(g, rep);
                if (r == 0)
                        r = mailbox_a_drained(g);
        } else {
                /* -EIO: said, with the logs; anything else happened here */
                fprintf(stderr, "shmbox-bench: bridge: %s: set-up failed%s%s\n", g->name, r == -EIO ? "" : ": ",
                        r == -EIO ? "" : strerror(-r));
                if (r != -EIO)
                        print_logs(g);
        }
        failures = case_stop(g);
        return r < 0 || failures ? -EIO : 0;
}

/* Stop and remove everything the group made, whatever got made. Return: the failures. */
static unsigned group_done(Group *g, ReportBridge *rep) {
        unsigned failures = 0;
        int r;

        for (unsigned m = 0; m < MODES; m++) {
                if (g->made_a[m] && (r = shmbox_destroy(g->a, modes[m].mailbox)) < 0) {
                        fprintf(stderr, "shmbox-bench: bridge: destroy A's mailbox %s: %s\n", modes[m].mailbox,
                                shmbox_strerror(r));
                        failures++;
                }
                if (g->made_b[m] && (r = shmbox_destroy(g->b, modes[m].mailbox)) < 0) {
                        fprintf(stderr, "shmbox-bench: bridge: destroy B's mailbox %s: %s\n", modes[m].mailbox,
                                shmbox_strerror(r));
                        failures++;
                }
        }
        shmbox_disconnect(g->a);
        g->a = NULL;
        shmbox_disconnect(g->b);
        g->b = NULL;
        if (proc_stop(g, PROC_DAEMON_B, true) < 0)
                failures++;
        rep->left_in_shm = shm_objects_b(g, true);
        if (rep->left_in_shm) {
                fprintf(stderr, "shmbox-bench: bridge: removed %u object(s) of host B's prefix %s left in /dev/shm\n",
                        rep->left_in_shm, g->prefix_b);
                failures++;
        }
        nftw(g->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        return failures;
}

/*
 * bridge_bench_run() - run the bridge group: one nats-server, then a three-node cluster
 * @env: what it needs; env->track must have BRIDGE_BENCH_PROCS entries, all 0
 * @ret: the figures; ret->skipped says why the group did not run, if it did not
 *
 * Without shmbox-bridge or nats-server it skips, saying why in one line on stderr (and in
 * ret->skipped). After a failure the cases left are not run. Whatever it started is stopped and
 * removed before it returns.
 *
 * Return: 0 (measured, or skipped); -EIO after a failure, said on stderr with the logs.
 */
int bridge_bench_run(const BridgeBenchEnv *env, ReportBridge *ret) {
        Group g = { .env = env };
        char nats_path[512];
        unsigned failures;
        int r;

        *ret = (ReportBridge){ .messages = env->messages, .pings = env->pings, .slots = SLOTS, .payload = PAYLOAD };
        if (access(env->bridge, X_OK) < 0)
                snprintf(ret->skipped, sizeof(ret->skipped),
                         "no shmbox-bridge at %s (configure builds it with libnats-dev; or --shmbox-bridge PATH)",
                         env->bridge);
        else if (env->nats_server && access(env->nats_server, X_OK) < 0)
                snprintf(ret->skipped, sizeof(ret->skipped), "no nats-server at %s", env->nats_server);
        else if (!env->nats_server && !find_nats_server(nats_path, sizeof(nats_path)))
                snprintf(ret->skipped, sizeof(ret->skipped),
                         "no nats-server in PATH or /usr/sbin (Debian: apt-get install nats-server; or "
                         "--nats-server PATH)");
        if (ret->skipped[0]) {
                fprintf(stderr, "shmbox-bench: bridge group SKIPPED: %s\n", ret->skipped);
                return 0;
        }
        BridgeBenchEnv e = *env;
        if (!e.nats_server)
                e.nats_server = nats_path;
        g.env = &e;

        snprintf(g.dir, sizeof(g.dir), "%s/bridge", env->dir);
        snprintf(g.socket_b, sizeof(g.socket_b), "%s/b.sock", g.dir);
        snprintf(g.state_b, sizeof(g.state_b), "%s/b-state", g.dir);
        snprintf(g.prefix_b, sizeof(g.prefix_b), "%s-b", env->prefix);
        snprintf(g.log[PROC_DAEMON_B], sizeof(g.log[0]), "%s/shmboxd-b.log", g.dir);
        if (mkdir(g.dir, 0700) < 0) {
                fprintf(stderr, "shmbox-bench: bridge: mkdir %s: %m\n", g.dir);
                return -EIO;
        }
        if (nats_Open(-1) != NATS_OK) {
                fprintf(stderr, "shmbox-bench: bridge: cannot initialise libnats\n");
                rmdir(g.dir);
                return -EIO;
        }

        r = daemon_b_start(&g);
        if (r == 0) {
                struct shmbox_config cfg = { .slots = SLOTS, .slot_size = PAYLOAD };

                r = shmbox_connect(env->socket_a, &g.a);
                for (unsigned m = 0; r == 0 && m < MODES; m++) {
                        r = shmbox_create(g.a, modes[m].mailbox, &cfg);
                        g.made_a[m] = r == 0;
                        if (r == 0)
                                r = shmbox_create(g.b, modes[m].mailbox, &cfg);
                        g.made_b[m] = r == 0;
                }
                if (r < 0)
                        fprintf(stderr, "shmbox-bench: bridge: the mailboxes: %s\n", shmbox_strerror(r));
        }
        /* each case leaves the mailboxes empty: every message sent was received */
        for (unsigned c = 0; r == 0 && c < _BRIDGE_CASE_MAX; c++)
                r = case_run(&g, c, &ret->cases[c]);
        failures = group_done(&g, ret);
        nats_CloseAndWait(5000);
        return r < 0 || failures ? -EIO : 0;
}
