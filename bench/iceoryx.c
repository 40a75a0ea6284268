/* SPDX-License-Identifier: MIT */
/* iceoryx.c — the benchmark's iceoryx row: iceoryx 2.0's C binding, and the RouDi it needs.
 *
 * A channel is one publisher and one subscriber of the event "shmbox-bench/<prefix>/<channel>",
 * the channel's name being unique within the run (iceoryx keeps a dead process's ports until
 * RouDi notices, so a name is never used twice). Messages go the zero-copy way iceoryx is meant
 * to be used: the sender loans a chunk of the message size, fills it (bench/worker.c: a memset
 * and message.c's words) and publishes it; the receiver takes the chunk, checks it in place and
 * releases it. Round trips and the idle receiver go through endpoint_send/recv, which copy
 * their 64 B into a loaned chunk and out of a taken one. The subscriber queue holds the
 * channel's depth (DEPTH, 64) and a full queue blocks the publisher
 * (QueueFullPolicy_BLOCK_PRODUCER with ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER): nothing may be
 * lost. iceoryx 2.0 waits for room by spinning on sched_yield(); that is its design and counts in
 * the sender's CPU time. The publisher keeps no history (historyCapacity 0): a sender opens its
 * end only once the subscriber is connected, so no message precedes the subscription. A blocked
 * receiver sleeps in a WaitSet that the subscriber's HAS_DATA state triggers.
 *
 * Each worker process registers its own runtime, "<prefix>-iox-<pid>", on its first end. The
 * binding cannot unregister it: a worker ends with _exit(), and RouDi drops the runtime once its
 * keep-alive messages stop (PROCESS_KEEP_ALIVE_TIMEOUT, 1.5 s). The runtime leaves
 * /tmp/<name> and /tmp/<name>.lock behind, which the driver sweeps with the run's prefix.
 *
 * RouDi: iceoryx 2.0 has one RouDi per machine, under fixed names (/dev/shm/iceoryx_mgmt, a
 * segment named after the user's group, /tmp/roudi, /tmp/roudi.lock, /tmp/iox-unique-roudi.lock).
 * The benchmark starts its own with a config file whose mempools fit its message sizes and depth,
 * and only if none runs: a RouDi of someone else is never touched, and the row is skipped. RouDi
 * must not be stopped while it still lists a dead worker (its shutdown sends SIGTERM to each
 * registered process and aborts on ESRCH), so iceoryx_roudi_stop() waits until the last worker
 * has been gone for longer than the keep-alive timeout.
 */
#include "config.h"

#include "bench/iceoryx.h"

#include <errno.h>

#ifdef HAVE_ICEORYX

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iceoryx_binding_c/log.h"
#include "iceoryx_binding_c/publisher.h"
#include "iceoryx_binding_c/runtime.h"
#include "iceoryx_binding_c/subscriber.h"
#include "iceoryx_binding_c/wait_set.h"

#include "bench/worker.h"
#include "proto/util.h"

#ifndef IOX_ROUDI_PATH
#define IOX_ROUDI_PATH "iox-roudi"
#endif

#define NSEC INT64_C(1000000000)
#define SERVICE "shmbox-bench"
#define ROUDI_READY_NS (10 * NSEC)
#define ROUDI_STOP_NS (10 * NSEC)
#define CONNECT_NS (20 * NSEC) /* a sender waits this long for its subscriber */
/* PROCESS_KEEP_ALIVE_TIMEOUT (1.5 s) and two discovery rounds of 100 ms, with a margin */
#define QUIET_NS (2 * NSEC)
#define ROUDI_LOCK "/tmp/iox-unique-roudi.lock"
#define ROUDI_READY "RouDi is ready for clients" /* what iox-roudi 2.0 prints once it serves */

struct IceoryxEnd {
        size_t size;
        iox_pub_storage_t pub_storage;
        iox_sub_storage_t sub_storage;
        iox_ws_storage_t ws_storage;
        iox_pub_t pub;
        iox_sub_t sub;
        iox_ws_t ws;
};

/* The names RouDi made, precomputed so that the signal handler's iceoryx_roudi_kill() needs no
 * allocation; names_ours says they are ours to remove (no other RouDi was running). */
static char segment_path[300] = "/dev/shm/";
static volatile sig_atomic_t names_ours;
static char roudi_log[256];

static const char *const fixed_names[] = { "/dev/shm/iceoryx_mgmt", "/tmp/roudi", "/tmp/roudi.lock", ROUDI_LOCK };

static int64_t mono_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

static void sleep_ns(int64_t ns) {
        struct timespec ts = { ns / NSEC, ns % NSEC };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* iceoryx_not_built() - why the iceoryx row cannot be built, or NULL: it is */
const char *iceoryx_not_built(void) {
        return NULL;
}

/* Is RouDi's unique lock held, i.e. does a RouDi run? A shared flock for a moment tells. */
static bool roudi_running(void) {
        int fd = open(ROUDI_LOCK, O_RDONLY | O_CLOEXEC);
        bool held;

        if (fd < 0)
                return false;
        held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
        close(fd);
        return held;
}

/* Does RouDi's log hold @what? The log is small: RouDi runs with -l warning. */
static bool log_has(const char *what) {
        static char buf[65536];
        FILE *f = fopen(roudi_log, "re");
        size_t n;

        if (!f)
                return false;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        return strstr(buf, what) != NULL;
}

static void print_log(void) {
        char buf[4096];
        FILE *f = fopen(roudi_log, "re");
        size_t n;

        if (!f)
                return;
        fprintf(stderr, "---- iox-roudi log ----\n");
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                fwrite(buf, 1, n, stderr);
        fprintf(stderr, "---- end of log ----\n");
        fclose(f);
}

/* RouDi's config: one segment with a mempool per message size, each with room for a few
 * channels of @depth messages (a full queue, the chunk the receiver holds, the one the sender
 * loans) and for those a failed run leaves until RouDi drops its processes. */
static int write_config(const char *path, const size_t *sizes, unsigned nsizes, unsigned depth) {
        FILE *f = fopen(path, "we");
        int r = 0;

        if (!f)
                return -errno;
        fprintf(f, "[general]\nversion = 1\n\n[[segment]]\n");
        for (unsigned i = 0; i < nsizes; i++)
                fprintf(f, "\n[[segment.mempool]]\nsize = %zu\ncount = %u\n", ALIGN_TO(sizes[i], (size_t)8),
                        (sizes[i] <= 65536 ? 4 : 2) * (depth + 2));
        if (ferror(f))
                r = -EIO;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        return r;
}

/*
 * iceoryx_roudi_start() - start iox-roudi for this run, with mempools for messages of @sizes
 * @dir:   a private directory for RouDi's config file and log (removed by the caller)
 * @depth: messages a channel holds
 * @track: set to RouDi's pid as soon as it is forked, for a signal handler; 0 again on failure
 * @why:   on failure, why, in a few words for the table's legend
 *
 * Return: 0 once RouDi serves clients; -EBUSY if another RouDi runs (it is left alone);
 *         -ENOENT if iox-roudi cannot be run; -ETIMEDOUT or -ECHILD if it did not come up (its
 *         log is printed on stderr); another negative errno.
 */
int iceoryx_roudi_start(const char *dir, const size_t *sizes, unsigned nsizes, unsigned depth, volatile pid_t *track,
                        char *why, size_t why_size) {
        struct group *gr = getgrgid(getegid());
        char config[256];
        int status, r;
        pid_t pid;

        if (roudi_running()) {
                snprintf(why, why_size, "a RouDi is already running (it holds %s); it was left alone", ROUDI_LOCK);
                return -EBUSY;
        }
        /* the segment is named after the writer group, by default the process's */
        if (!gr || strlen(gr->gr_name) > sizeof(segment_path) - 10) {
                snprintf(why, why_size, "cannot name this process's group (gid %u)", (unsigned)getegid());
                return -EINVAL;
        }
        strcpy(segment_path + strlen("/dev/shm/"), gr->gr_name);
        snprintf(config, sizeof(config), "%s/roudi.toml", dir);
        snprintf(roudi_log, sizeof(roudi_log), "%s/roudi.log", dir);
        r = write_config(config, sizes, nsizes, depth);
        if (r < 0) {
                snprintf(why, why_size, "cannot write %s: %s", config, strerror(-r));
                return r;
        }

        names_ours = 1; /* no RouDi ran a moment ago: what appears under its names is ours */
        pid = fork();
        if (pid < 0) {
                names_ours = 0;
                snprintf(why, why_size, "fork: %s", strerror(errno));
                return -errno;
        }
        if (pid == 0) {
                /* -k 2: at shutdown, wait at most 2 s for registered processes (none are left) */
                char *const argv[] = { (char *)IOX_ROUDI_PATH, (char *)"-c", config,      (char *)"-l",
                                       (char *)"warning",      (char *)"-k", (char *)"2", NULL };

                exec_service(argv, roudi_log, SIGTERM);
        }
        *track = pid;

        for (int64_t deadline = mono_ns() + ROUDI_READY_NS;;) {
                if (log_has(ROUDI_READY))
                        return 0;
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        *track = 0;
                        if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
                                names_ours = 0;
                                snprintf(why, why_size, "cannot run %s (Debian: iceoryx)", IOX_ROUDI_PATH);
                                return -ENOENT;
                        }
                        if (log_has("ROUDI_STILL_RUNNING")) {
                                /* another RouDi started at the same moment: its names are its own */
                                names_ours = 0;
                                snprintf(why, why_size, "another RouDi started meanwhile; it was left alone");
                                return -EBUSY;
                        }
                        fprintf(stderr, "shmbox-bench: iox-roudi exited during start-up (status 0x%x)\n", status);
                        print_log();
                        iceoryx_roudi_kill(0);
                        snprintf(why, why_size, "iox-roudi failed to start");
                        return -ECHILD;
                }
                if (mono_ns() > deadline) {
                        fprintf(stderr, "shmbox-bench: iox-roudi did not come up within 10 s\n");
                        print_log();
                        iceoryx_roudi_kill(pid);
                        *track = 0;
                        snprintf(why, why_size, "iox-roudi did not come up");
                        return -ETIMEDOUT;
                }
                sleep_ns(5 * 1000000);
        }
}

/*
 * iceoryx_roudi_kill() - end our RouDi at once (SIGKILL) and remove the names it made; with
 * @pid 0 only remove the names. Async-signal-safe: for the driver's SIGINT handler.
 */
void iceoryx_roudi_kill(pid_t pid) {
        int status;

        if (pid > 0) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
        }
        if (!names_ours)
                return;
        for (size_t i = 0; i < ELEMENTSOF(fixed_names); i++)
                (void)unlink(fixed_names[i]);
        (void)unlink(segment_path);
        names_ours = 0;
}

/*
 * iceoryx_roudi_stop() - stop our RouDi (SIGTERM; SIGKILL after 10 s) and remove what it left
 * @quiet_since_ns: CLOCK_MONOTONIC when the last iceoryx worker ended; RouDi is stopped only
 *                  QUIET_NS after it, once it has dropped every worker
 *
 * Return: 0; -EIO if RouDi did not exit cleanly or left names behind (its log is printed; the
 *         names are removed all the same).
 */
int iceoryx_roudi_stop(volatile pid_t *track, int64_t quiet_since_ns) {
        pid_t pid = *track;
        int status = 0, r = 0;
        unsigned left = 0;
        struct stat st;

        if (pid <= 0)
                return 0;
        if (mono_ns() < quiet_since_ns + QUIET_NS)
                sleep_ns(quiet_since_ns + QUIET_NS - mono_ns());
        kill(pid, SIGTERM);
        for (int64_t deadline = mono_ns() + ROUDI_STOP_NS;;) {
                if (waitpid(pid, &status, WNOHANG) == pid)
                        break;
                if (mono_ns() > deadline) {
                        fprintf(stderr, "shmbox-bench: iox-roudi ignored SIGTERM; killing it\n");
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        break;
                }
                sleep_ns(5 * 1000000);
        }
        *track = 0;
        for (size_t i = 0; i < ELEMENTSOF(fixed_names); i++)
                left += stat(fixed_names[i], &st) == 0;
        left += stat(segment_path, &st) == 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || left) {
                fprintf(stderr, "shmbox-bench: iox-roudi exited with status 0x%x and left %u of its names\n", status,
                        left);
                print_log();
                iceoryx_roudi_kill(0);
                r = -EIO;
        }
        names_ours = 0; /* gone: from now on they would be another RouDi's */
        return r;
}

/* This process's runtime, registered once: iox_runtime_init() does not return on failure (it
 * waits up to 60 s for RouDi, then aborts the process). */
static void runtime_init(const char *prefix) {
        static pid_t done;
        char name[100];

        if (done == getpid())
                return;
        iox_set_loglevel(Iceoryx_LogLevel_Warn);
        snprintf(name, sizeof(name), "%s" ICEORYX_RUNTIME_TAG "-%d", prefix, (int)getpid());
        iox_runtime_init(name);
        done = getpid();
}

/*
 * iceoryx_end_open() - open one end of the channel @event in this (worker) process
 * @prefix: the run's prefix: the runtime's name and the service's instance
 * @size:   every message's size; @depth: the subscriber queue's capacity
 *
 * A sender's end returns only once a subscriber is connected, so that no message is published
 * into the void. Registers this process's runtime on the first call.
 *
 * Return: 0 and @ret, freed with iceoryx_end_free(); -ETIMEDOUT if no subscriber came within
 *         20 s; -ENOMEM; -EINVAL for a size beyond 4 GiB.
 */
int iceoryx_end_open(const char *prefix, const char *event, size_t size, unsigned depth, bool sender,
                     IceoryxEnd **ret) {
        IceoryxEnd *e;

        if (size > UINT32_MAX)
                return -EINVAL;
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->size = size;
        runtime_init(prefix);
        if (sender) {
                iox_pub_options_t opt;

                iox_pub_options_init(&opt);
                opt.historyCapacity = 0;
                opt.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
                e->pub = iox_pub_init(&e->pub_storage, SERVICE, prefix, event, &opt);
                /* the subscription is made by RouDi's discovery loop, every 100 ms */
                for (int64_t deadline = mono_ns() + CONNECT_NS; !iox_pub_has_subscribers(e->pub);) {
                        if (mono_ns() > deadline) {
                                iceoryx_end_free(e);
                                return -ETIMEDOUT;
                        }
                        sleep_ns(1000000);
                }
        } else {
                iox_sub_options_t opt;

                iox_sub_options_init(&opt);
                opt.queueCapacity = depth;
                opt.historyRequest = 0;
                opt.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
                e->sub = iox_sub_init(&e->sub_storage, SERVICE, prefix, event, &opt);
                e->ws = iox_ws_init(&e->ws_storage);
                if (iox_ws_attach_subscriber_state(e->ws, e->sub, SubscriberState_HAS_DATA, 0, NULL) !=
                    WaitSetResult_SUCCESS) {
                        iceoryx_end_free(e);
                        return -ENOMEM;
                }
        }
        *ret = e;
        return 0;
}

/* iceoryx_end_free() - close this end (its ports go back to RouDi); NULL is accepted. Returns NULL. */
IceoryxEnd *iceoryx_end_free(IceoryxEnd *e) {
        if (!e)
                return NULL;
        if (e->ws) {
                if (e->sub)
                        iox_ws_detach_subscriber_state(e->ws, e->sub, SubscriberState_HAS_DATA);
                iox_ws_deinit(e->ws);
        }
        if (e->sub)
                iox_sub_deinit(e->sub);
        if (e->pub)
                iox_pub_deinit(e->pub);
        free(e);
        return NULL;
}

/*
 * iceoryx_loan() - loan a chunk of the channel's message size, to be filled in place
 *
 * Return: 0 and @ret, owned by the caller until iceoryx_publish(); -ENOBUFS if the mempool or
 *         this publisher's loans are exhausted; -EMSGSIZE if no mempool has chunks this large;
 *         -EIO for another failure.
 */
int iceoryx_loan(IceoryxEnd *e, void **ret) {
        switch (iox_pub_loan_chunk(e->pub, ret, (uint32_t)e->size)) {
        case AllocationResult_SUCCESS: return 0;
        case AllocationResult_RUNNING_OUT_OF_CHUNKS:
        case AllocationResult_TOO_MANY_CHUNKS_ALLOCATED_IN_PARALLEL: return -ENOBUFS;
        case AllocationResult_NO_MEMPOOLS_AVAILABLE: return -EMSGSIZE;
        default: return -EIO;
        }
}

/* iceoryx_publish() - publish a loaned @chunk; blocks while the subscriber's queue is full.
 * The chunk is iceoryx's again. Return: 0. */
int iceoryx_publish(IceoryxEnd *e, void *chunk) {
        iox_pub_publish_chunk(e->pub, chunk);
        return 0;
}

/*
 * iceoryx_take() - take the next chunk, waiting in the WaitSet while there is none
 * @timeout_ms: -1 waits for ever; >= 0 at most that long
 *
 * Return: the chunk's size (the channel's message size) and @ret, to be checked in place and
 *         given back with iceoryx_release(); -ETIMEDOUT; -ENOBUFS if too many chunks are held;
 *         -EIO for another failure.
 */
ssize_t iceoryx_take(IceoryxEnd *e, int timeout_ms, const void **ret) {
        int64_t deadline = timeout_ms >= 0 ? mono_ns() + (int64_t)timeout_ms * 1000000 : 0;

        for (;;) {
                iox_notification_info_t info[1];
                uint64_t missed;

                switch (iox_sub_take_chunk(e->sub, ret)) {
                case ChunkReceiveResult_SUCCESS: return (ssize_t)e->size;
                case ChunkReceiveResult_NO_CHUNK_AVAILABLE: break;
                case ChunkReceiveResult_TOO_MANY_CHUNKS_HELD_IN_PARALLEL: return -ENOBUFS;
                default: return -EIO;
                }
                if (timeout_ms < 0)
                        (void)iox_ws_wait(e->ws, info, ELEMENTSOF(info), &missed);
                else {
                        int64_t left = deadline - mono_ns();

                        if (left <= 0)
                                return -ETIMEDOUT;
                        (void)iox_ws_timed_wait(e->ws, (struct timespec){ left / NSEC, left % NSEC }, info,
                                                ELEMENTSOF(info), &missed);
                }
        }
}

/* iceoryx_release() - give a taken @chunk back */
void iceoryx_release(IceoryxEnd *e, const void *chunk) {
        iox_sub_release_chunk(e->sub, chunk);
}

#else /* !HAVE_ICEORYX: stubs, so that the benchmark builds and says why the row is missing */

const char *iceoryx_not_built(void) {
        return "not built (libiceoryx-binding-c-dev missing when configure ran)";
}

int iceoryx_roudi_start(const char *dir, const size_t *sizes, unsigned nsizes, unsigned depth, volatile pid_t *track,
                        char *why, size_t why_size) {
        return -EOPNOTSUPP;
}

int iceoryx_roudi_stop(volatile pid_t *track, int64_t quiet_since_ns) {
        return 0;
}

void iceoryx_roudi_kill(pid_t pid) {
}

int iceoryx_end_open(const char *prefix, const char *event, size_t size, unsigned depth, bool sender,
                     IceoryxEnd **ret) {
        return -EOPNOTSUPP;
}

IceoryxEnd *iceoryx_end_free(IceoryxEnd *e) {
        return NULL;
}

int iceoryx_loan(IceoryxEnd *e, void **ret) {
        return -EOPNOTSUPP;
}

int iceoryx_publish(IceoryxEnd *e, void *chunk) {
        return -EOPNOTSUPP;
}

ssize_t iceoryx_take(IceoryxEnd *e, int timeout_ms, const void **ret) {
        return -EOPNOTSUPP;
}

void iceoryx_release(IceoryxEnd *e, const void *chunk) {
}

#endif
