/* SPDX-License-Identifier: MIT */
/* rpc.c — the benchmark's rpc group (issue 19): the round trip of one request and its reply,
 * p50 and p99, through three request/reply mechanisms, at 64 B and 4 KiB, in one run:
 *
 * - shmbox: shmbox_request() on a mailbox of the benchmark's shmboxd (an ephemeral one made by
 *   the server: 64 slots of 8 KiB, room for a 4 KiB body and its request header), the server
 *   answering with shmbox_recv_request() and shmbox_reply(); the reply comes back through the
 *   client's own reply mailbox, which the library makes on the first request (in the warm-up);
 * - sd-bus: a D-Bus method call (sd_bus_call(), the body one "ay" argument) to a server that
 *   owns a well-known name and answers with a method return carrying the same bytes, both
 *   connected to a private dbus-daemon that this group starts with a configuration file of its
 *   own in the benchmark's temporary directory (listening on <dir>/rpc-bus, never the session
 *   or system bus) and stops at the end; each message goes client -> dbus-daemon -> server and
 *   back through it, as D-Bus method calls do;
 * - zmq: ZeroMQ REQ/REP over ipc:// (<dir>/rpc-zmq) (bench/zmqipc.c).
 *
 * Each run forks a server and then, once the server reports ready, a client; the server is
 * pinned to the first of the benchmark's two CPUs and the client to the second (dbus-daemon is
 * not pinned: it shares them). The client makes RPC_WARMUP untimed round trips, then times
 * round trips for the duration (at least RPC_MIN_TRIPS), then sends an end request that the
 * server answers before it exits. Every request is a bench/message.c message (sequence number
 * and check words), checked by the server; the server echoes it and the client checks that the
 * reply is its own request, byte for byte. The rows interleave run by run (rep 1 of every row
 * and size, then rep 2, ...) and each figure is the median of the runs' p50 (p99).
 */
#include "config.h"

#include "bench/rpc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_SD_BUS
#include <systemd/sd-bus.h>
#endif

#include "bench/message.h"
#include "bench/worker.h"
#include "bench/zmqipc.h"
#include "client/shmbox.h"

#define RPC_WARMUP 200
#define RPC_MIN_TRIPS 50
#define RPC_MAX_TRIPS (1u << 20) /* latencies a client keeps */
#define RPC_SLOT 8192            /* the shmbox mailbox's slots: 4 KiB and the request header */
#define RPC_TIMEOUT_MS 10000     /* a hang guard for one round trip, not a figure */
#define RPC_BUS_NAME "org.shmbox.Bench"
#define RPC_BUS_PATH "/org/shmbox/Bench"
#define NSEC INT64_C(1000000000)

const size_t rpc_sizes[RPC_SIZES] = { 64, 4096 };

static const char *const row_names[_RPC_MAX] = { "shmbox", "sd-bus", "zmq" };

/* What a client leaves for the driver, in a shared anonymous mapping. */
typedef struct ClientOut {
        int failed;
        char err[200];
        uint32_t n;                     /* timed round trips kept */
        uint32_t lat_ns[RPC_MAX_TRIPS]; /* each one's time, ns (saturated) */
} ClientOut;

typedef struct Ctx {
        const RpcBenchEnv *env;
        unsigned row;
        size_t size;
        char name[64];      /* the shmbox mailbox */
        char zmq_path[160]; /* the ZeroMQ socket file */
        char bus_addr[200]; /* the private bus */
} Ctx;

static void pin(int cpu) {
        cpu_set_t set;

        if (cpu < 0)
                return;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        (void)sched_setaffinity(0, sizeof(set), &set);
}

static void msleep_(int ms) {
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* In a child just forked: the default signal handling, and SIGKILL if the driver dies. */
static void child_setup(void) {
        sigset_t none;

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
}

/* --- the servers: echo each request until the end request ------------------------------- */

/* Check a request; 1: the end request, 0: another, -EBADMSG: corrupt. */
static int check_request(const void *buf, ssize_t n, size_t size) {
        uint32_t sender;
        uint64_t seq;

        if (n != (ssize_t)size || msg_check(buf, (size_t)n, &sender, &seq) < 0)
                return -EBADMSG;
        return seq == MSG_END;
}

static int serve_shmbox(Ctx *c, int ready) {
        struct shmbox_config cfg = {
                .slots = 64, .slot_size = RPC_SLOT, .mode = 0600, .flags = SHMBOX_CONFIG_EPHEMERAL
        };
        shmbox_client *client = NULL;
        shmbox *box = NULL;
        uint8_t *buf = malloc(RPC_SLOT);
        int r;

        if (!buf)
                return -ENOMEM;
        r = shmbox_connect(c->env->socket, &client);
        if (r == 0)
                r = shmbox_create(client, c->name, &cfg);
        if (r == 0)
                r = shmbox_attach(client, c->name, &box);
        if (r == 0 && write(ready, "R", 1) != 1)
                r = -EPIPE;
        while (r == 0) {
                struct shmbox_request_info info;
                ssize_t n = shmbox_recv_request(box, buf, RPC_SLOT, &info, RPC_TIMEOUT_MS * 3);
                int end;

                if (n < 0) {
                        r = (int)n;
                        break;
                }
                end = check_request(buf, n, c->size);
                if (end < 0) {
                        r = end;
                        break;
                }
                r = shmbox_reply(client, &info, buf, (size_t)n);
                if (end)
                        break;
        }
        if (box)
                shmbox_detach(box);
        shmbox_disconnect(client); /* the ephemeral mailbox goes with the connection */
        free(buf);
        return r;
}

static int serve_zmq(Ctx *c, int ready) {
        uint8_t *buf = malloc(RPC_SLOT);
        ZmqEnd *e = NULL;
        int r;

        if (!buf)
                return -ENOMEM;
        r = zmqipc_open(c->zmq_path, ZMQIPC_REP, 64, &e);
        if (r == 0 && write(ready, "R", 1) != 1)
                r = -EPIPE;
        while (r == 0) {
                ssize_t n = zmqipc_recv(e, buf, RPC_SLOT, RPC_TIMEOUT_MS * 3);
                int end;

                if (n < 0) {
                        r = (int)n;
                        break;
                }
                end = check_request(buf, n, c->size);
                if (end < 0) {
                        r = end;
                        break;
                }
                r = zmqipc_send(e, buf, (size_t)n);
                if (end)
                        break;
        }
        zmqipc_free(e);
        unlink(c->zmq_path);
        free(buf);
        return r;
}

#ifdef HAVE_SD_BUS
typedef struct BusServer {
        size_t size;
        int r;    /* the first error */
        bool end; /* the end request was answered */
} BusServer;

static int bus_echo(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusServer *s = userdata;
        sd_bus_message *reply = NULL;
        const void *p;
        size_t n;
        int r, end;

        (void)error;
        if (!sd_bus_message_is_method_call(m, RPC_BUS_NAME, "Echo"))
                return 0;
        r = sd_bus_message_read_array(m, 'y', &p, &n);
        if (r < 0)
                goto fail;
        end = check_request(p, (ssize_t)n, s->size);
        if (end < 0) {
                r = end;
                goto fail;
        }
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_append_array(reply, 'y', p, n);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        if (r < 0)
                goto fail;
        s->end = end;
        return 1;
fail:
        if (!s->r)
                s->r = r;
        return 1;
}

static int bus_open(const char *addr, sd_bus **ret) {
        sd_bus *bus = NULL;
        int r = sd_bus_new(&bus);

        if (r >= 0)
                r = sd_bus_set_address(bus, addr);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

static int serve_sdbus(Ctx *c, int ready) {
        BusServer s = { .size = c->size };
        sd_bus *bus = NULL;
        int r = bus_open(c->bus_addr, &bus);

        if (r >= 0)
                r = sd_bus_request_name(bus, RPC_BUS_NAME, 0);
        if (r >= 0)
                r = sd_bus_add_object(bus, NULL, RPC_BUS_PATH, bus_echo, &s);
        if (r >= 0 && write(ready, "R", 1) != 1)
                r = -EPIPE;
        while (r >= 0 && !s.end && !s.r) {
                r = sd_bus_process(bus, NULL);
                if (r > 0)
                        continue;
                if (r == 0)
                        r = sd_bus_wait(bus, (uint64_t)RPC_TIMEOUT_MS * 3 * 1000);
                if (r == 0)
                        r = -ETIMEDOUT;
        }
        if (r >= 0)
                r = s.r;
        if (bus) {
                (void)sd_bus_flush(bus);
                sd_bus_flush_close_unref(bus);
        }
        return r < 0 ? r : 0;
}
#endif

/* --- the clients: time round trips ------------------------------------------------------- */

typedef struct Caller {
        Ctx *c;
        shmbox_client *client;
        shmbox *box;
        ZmqEnd *zmq;
#ifdef HAVE_SD_BUS
        sd_bus *bus;
#endif
        uint8_t *rep;
} Caller;

static int caller_open(Caller *k) {
        int r = -EOPNOTSUPP;

        k->rep = malloc(RPC_SLOT);
        if (!k->rep)
                return -ENOMEM;
        switch (k->c->row) {
        case RPC_SHMBOX:
                r = shmbox_connect(k->c->env->socket, &k->client);
                if (r == 0)
                        r = shmbox_attach(k->client, k->c->name, &k->box);
                break;
        case RPC_ZMQ: r = zmqipc_open(k->c->zmq_path, ZMQIPC_REQ, 64, &k->zmq); break;
#ifdef HAVE_SD_BUS
        case RPC_SDBUS: r = bus_open(k->c->bus_addr, &k->bus); break;
#endif
        }
        return r;
}

static void caller_close(Caller *k) {
        if (k->box)
                shmbox_detach(k->box);
        shmbox_disconnect(k->client);
        zmqipc_free(k->zmq);
#ifdef HAVE_SD_BUS
        if (k->bus)
                sd_bus_flush_close_unref(k->bus);
#endif
        free(k->rep);
}

/* One round trip of @req: 0 once the reply is @req again, or a negative errno. */
static int caller_call(Caller *k, const void *req, size_t len) {
        ssize_t n = -EOPNOTSUPP;
        const void *got = k->rep;

        switch (k->c->row) {
        case RPC_SHMBOX: n = shmbox_request(k->box, req, len, k->rep, RPC_SLOT, RPC_TIMEOUT_MS); break;
        case RPC_ZMQ:
                n = zmqipc_send(k->zmq, req, len);
                if (n == 0)
                        n = zmqipc_recv(k->zmq, k->rep, RPC_SLOT, RPC_TIMEOUT_MS);
                break;
#ifdef HAVE_SD_BUS
        case RPC_SDBUS: {
                sd_bus_message *m = NULL, *reply = NULL;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                size_t size = 0;
                int r;

                r = sd_bus_message_new_method_call(k->bus, &m, RPC_BUS_NAME, RPC_BUS_PATH, RPC_BUS_NAME, "Echo");
                if (r >= 0)
                        r = sd_bus_message_append_array(m, 'y', req, len);
                if (r >= 0)
                        r = sd_bus_call(k->bus, m, (uint64_t)RPC_TIMEOUT_MS * 1000, &error, &reply);
                if (r >= 0)
                        r = sd_bus_message_read_array(reply, 'y', &got, &size);
                n = r < 0 ? r : (ssize_t)size;
                if (n == (ssize_t)len && memcmp(got, req, len) != 0)
                        n = -EBADMSG;
                sd_bus_error_free(&error);
                sd_bus_message_unref(m);
                sd_bus_message_unref(reply); /* got is checked above, before this */
                return n < 0 ? (int)n : n == (ssize_t)len ? 0 : -EBADMSG;
        }
#endif
        }
        if (n < 0)
                return (int)n;
        return n == (ssize_t)len && memcmp(got, req, len) == 0 ? 0 : -EBADMSG;
}

static int client_main(Ctx *c, ClientOut *o, int64_t duration_ns) {
        Caller k = { .c = c };
        uint8_t *req = malloc(c->size);
        uint64_t seq = 0;
        int r;

        if (!req)
                return -ENOMEM;
        r = caller_open(&k);
        for (unsigned i = 0; r == 0 && i < RPC_WARMUP; i++) {
                msg_fill(req, c->size, 0, seq++);
                r = caller_call(&k, req, c->size);
        }
        if (r < 0)
                snprintf(o->err, sizeof(o->err), "%s", seq ? "warm-up round trip" : "open");
        int64_t start = now_ns();
        while (r == 0 && o->n < RPC_MAX_TRIPS && (now_ns() - start < duration_ns || o->n < RPC_MIN_TRIPS)) {
                int64_t t0, t1;

                msg_fill(req, c->size, 0, seq++);
                t0 = now_ns();
                r = caller_call(&k, req, c->size);
                t1 = now_ns();
                if (r < 0) {
                        snprintf(o->err, sizeof(o->err), "round trip %" PRIu64, seq - 1);
                        break;
                }
                o->lat_ns[o->n++] = t1 - t0 > UINT32_MAX ? UINT32_MAX : (uint32_t)(t1 - t0);
        }
        if (r == 0) { /* the end request, which the server answers before it exits */
                msg_fill(req, c->size, 0, MSG_END);
                r = caller_call(&k, req, c->size);
                if (r < 0)
                        snprintf(o->err, sizeof(o->err), "end request");
        }
        caller_close(&k);
        free(req);
        return r;
}

/* --- the driver ----------------------------------------------------------------------------- */

/* Wait for @pid at most @ms; its exit status, or -1 after killing it. */
static int reap(pid_t pid, int ms, volatile pid_t *slot) {
        int status;

        for (int64_t deadline = now_ns() + (int64_t)ms * 1000000;;) {
                if (waitpid(pid, &status, WNOHANG) == pid)
                        break;
                if (now_ns() > deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        status = -1;
                        break;
                }
                msleep_(1);
        }
        *slot = 0;
        return status;
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

        return (x > y) - (x < y);
}

/* One run of @c: a server, then a client; its p50 and p99 in @p50, @p99, or a negative errno
 * with the reason in @why. */
static int run_one(Ctx *c, ClientOut *o, double *p50, double *p99, double *trips, char *why, size_t why_size) {
        const RpcBenchEnv *env = c->env;
        int pipefd[2], status, r = 0;
        pid_t server, client;
        char byte;

        memset(o, 0, offsetof(ClientOut, lat_ns));
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        server = fork();
        if (server < 0) {
                r = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                return r;
        }
        if (server == 0) {
                child_setup();
                close(pipefd[0]);
                pin(env->cpus[0]);
                r = c->row == RPC_SHMBOX ? serve_shmbox(c, pipefd[1])
                    : c->row == RPC_ZMQ  ? serve_zmq(c, pipefd[1])
#ifdef HAVE_SD_BUS
                                        : serve_sdbus(c, pipefd[1]);
#else
                                        : -EOPNOTSUPP;
#endif
                if (r < 0)
                        fprintf(stderr, "shmbox-bench: rpc %s server: %s\n", row_names[c->row], strerror(-r));
                _exit(r < 0 ? 1 : 0);
        }
        env->track[0] = server;
        close(pipefd[1]);
        /* the server is ready when it writes; a server that failed closes the pipe unwritten */
        ssize_t got;
        do
                got = read(pipefd[0], &byte, 1);
        while (got < 0 && errno == EINTR);
        close(pipefd[0]);
        if (got != 1) {
                reap(server, 1000, &env->track[0]);
                snprintf(why, why_size, "the %s server failed to start", row_names[c->row]);
                return -EIO;
        }
        client = fork();
        if (client < 0) {
                r = -errno;
                kill(server, SIGKILL);
                reap(server, 1000, &env->track[0]);
                return r;
        }
        if (client == 0) {
                child_setup();
                pin(env->cpus[1]);
                r = client_main(c, o, (int64_t)env->duration_ms * 1000000);
                if (r < 0) {
                        o->failed = r;
                        fprintf(stderr, "shmbox-bench: rpc %s client: %s: %s\n", row_names[c->row], o->err,
                                strerror(-r));
                }
                _exit(r < 0 ? 1 : 0);
        }
        env->track[1] = client;
        /* hang guards, not figures */
        status = reap(client, (int)env->duration_ms + 120000, &env->track[1]);
        if (status != 0) {
                snprintf(why, why_size, "the %s client failed (%s)", row_names[c->row],
                         o->failed ? o->err : "killed or crashed");
                kill(server, SIGKILL);
        }
        int sstatus = reap(server, 30000, &env->track[0]);
        if (status != 0)
                return -EIO;
        if (sstatus != 0) {
                snprintf(why, why_size, "the %s server failed", row_names[c->row]);
                return -EIO;
        }
        qsort(o->lat_ns, o->n, sizeof(o->lat_ns[0]), cmp_u32);
        *p50 = o->lat_ns[(size_t)((o->n - 1) * 0.50)] / 1e3;
        *p99 = o->lat_ns[(size_t)((o->n - 1) * 0.99)] / 1e3;
        *trips = o->n;
        return 0;
}

/* Start dbus-daemon on <dir>/rpc-bus with a configuration of our own; 0 once it accepts. */
static int bus_start(const RpcBenchEnv *env, char *addr, size_t addr_size, char *why, size_t why_size) {
        char conf[150], path[150], log[150];
        FILE *f;
        pid_t pid;

        if (access(env->dbus_daemon, X_OK) < 0) {
                snprintf(why, why_size, "not run: no dbus-daemon at %s (Debian: dbus-daemon)", env->dbus_daemon);
                return -ENOENT;
        }
        snprintf(conf, sizeof(conf), "%s/rpc-bus.conf", env->dir);
        snprintf(path, sizeof(path), "%s/rpc-bus", env->dir);
        snprintf(log, sizeof(log), "%s/rpc-bus.log", env->dir);
        snprintf(addr, addr_size, "unix:path=%s", path);
        f = fopen(conf, "we");
        if (!f) {
                snprintf(why, why_size, "not run: cannot write %s: %s", conf, strerror(errno));
                return -errno;
        }
        /* a bus of its own: no service activation, every connection of this user may own and call */
        fprintf(f,
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n"
                " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                "<busconfig>\n"
                "  <type>session</type>\n"
                "  <listen>unix:path=%s</listen>\n"
                "  <auth>EXTERNAL</auth>\n"
                "  <policy context=\"default\">\n"
                "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
                "    <allow eavesdrop=\"true\"/>\n"
                "    <allow own=\"*\"/>\n"
                "  </policy>\n"
                "</busconfig>\n",
                path);
        fclose(f);

        char *argv[] = { (char *)env->dbus_daemon, (char *)"--nofork", (char *)"--nopidfile", NULL, NULL };
        char opt[220];
        snprintf(opt, sizeof(opt), "--config-file=%s", conf);
        argv[3] = opt;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                exec_service(argv, log, SIGTERM);
        env->track[2] = pid;
        for (int64_t deadline = now_ns() + 10 * NSEC;;) {
                int status;
#ifdef HAVE_SD_BUS
                sd_bus *bus;

                if (bus_open(addr, &bus) == 0) {
                        sd_bus_flush_close_unref(bus);
                        return 0;
                }
#endif
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        env->track[2] = 0;
                        snprintf(why, why_size, "not run: dbus-daemon exited during start-up (see %s)", log);
                        return -ECHILD;
                }
                if (now_ns() > deadline) {
                        snprintf(why, why_size, "not run: dbus-daemon did not accept within 10 s");
                        return -ETIMEDOUT;
                }
                msleep_(5);
        }
}

static void bus_stop(const RpcBenchEnv *env) {
        pid_t pid = env->track[2];

        if (pid <= 0)
                return;
        kill(pid, SIGTERM);
        if (reap(pid, 10000, &env->track[2]) != 0)
                fprintf(stderr, "shmbox-bench: dbus-daemon did not exit cleanly on SIGTERM\n");
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

static double median(double *v, unsigned n) {
        if (!n)
                return NAN;
        qsort(v, n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * rpc_bench_run() - measure every row asked for in @env, interleaved, into @ret
 *
 * A row that cannot run here (sd-bus not built, no dbus-daemon) has its reason in ret->missing
 * and is no failure. Return: 0; -EIO if a run failed (the reason is printed, the row's figures
 * are NAN).
 */
int rpc_bench_run(const RpcBenchEnv *env, ReportRpc *ret) {
        double p50[_RPC_MAX][RPC_SIZES][25], p99[_RPC_MAX][RPC_SIZES][25], trips[_RPC_MAX][RPC_SIZES][25];
        unsigned got[_RPC_MAX][RPC_SIZES] = { { 0 } };
        bool on[_RPC_MAX];
        ClientOut *o;
        Ctx c = { .env = env };
        int result = 0;
        unsigned reps = env->reps < 25 ? env->reps : 25;

        memset(ret, 0, sizeof(*ret));
        ret->reps = reps;
        ret->duration_ms = env->duration_ms;
        ret->cpus[0] = env->cpus[0];
        ret->cpus[1] = env->cpus[1];
        for (unsigned w = 0; w < _RPC_MAX; w++) {
                ret->asked[w] = on[w] = env->want[w];
                for (unsigned s = 0; s < RPC_SIZES; s++)
                        ret->p50_us[w][s] = ret->p99_us[w][s] = ret->trips[w][s] = NAN;
        }
        if (on[RPC_ZMQ] && zmqipc_not_built()) {
                snprintf(ret->missing[RPC_ZMQ], sizeof(ret->missing[RPC_ZMQ]), "%s", zmqipc_not_built());
                on[RPC_ZMQ] = false;
        }
#ifndef HAVE_SD_BUS
        if (on[RPC_SDBUS]) {
                snprintf(ret->missing[RPC_SDBUS], sizeof(ret->missing[RPC_SDBUS]),
                         "not run: this shmbox-bench was built without sd-bus (Debian: libsystemd-dev, then configure "
                         "again)");
                on[RPC_SDBUS] = false;
        }
#endif
        if (on[RPC_SDBUS] && bus_start(env, c.bus_addr, sizeof(c.bus_addr), ret->missing[RPC_SDBUS],
                                       sizeof(ret->missing[RPC_SDBUS])) < 0) {
                on[RPC_SDBUS] = false;
                bus_stop(env);
        }
        for (unsigned w = 0; w < _RPC_MAX; w++)
                if (ret->missing[w][0])
                        fprintf(stderr, "shmbox-bench: rpc %s row SKIPPED: %s\n", row_names[w], ret->missing[w]);

        o = mmap(NULL, sizeof(*o), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (o == MAP_FAILED) {
                bus_stop(env);
                return -errno;
        }
        snprintf(c.name, sizeof(c.name), "rpcbench.%d", (int)getpid());
        snprintf(c.zmq_path, sizeof(c.zmq_path), "%s/rpc-zmq", env->dir);
        for (unsigned rep = 0; rep < reps; rep++)
                for (unsigned s = 0; s < RPC_SIZES; s++)
                        for (unsigned w = 0; w < _RPC_MAX; w++) {
                                char why[240] = "";
                                unsigned k = got[w][s];

                                if (!on[w])
                                        continue;
                                if (env->progress)
                                        fprintf(stderr, "\r\033[Krpc: %s %zu B, rep %u/%u", row_names[w], rpc_sizes[s],
                                                rep + 1, reps);
                                c.row = w;
                                c.size = rpc_sizes[s];
                                if (run_one(&c, o, &p50[w][s][k], &p99[w][s][k], &trips[w][s][k], why, sizeof(why)) <
                                    0) {
                                        fprintf(stderr, "shmbox-bench: rpc %s %zu B FAILED: %s\n", row_names[w],
                                                rpc_sizes[s], why[0] ? why : "see above");
                                        result = -EIO;
                                        continue;
                                }
                                got[w][s]++;
                        }
        munmap(o, sizeof(*o));
        bus_stop(env);
        for (unsigned w = 0; w < _RPC_MAX; w++)
                for (unsigned s = 0; s < RPC_SIZES; s++)
                        if (got[w][s]) {
                                ret->p50_us[w][s] = median(p50[w][s], got[w][s]);
                                ret->p99_us[w][s] = median(p99[w][s], got[w][s]);
                                ret->trips[w][s] = median(trips[w][s], got[w][s]);
                        }
        return result;
}
