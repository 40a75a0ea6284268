/* SPDX-License-Identifier: MIT */
/* scheduler.h — the deterministic scheduler of tests/test-explore: actors as coroutines, every
 * shared-memory access of proto/ring.c a scheduling point, DFS over the choices (see explore.c).
 *
 * The hooks (hooks.h) call explore_point() before each access of ring.c to the segment; the
 * scheduler then decides, from the choice sequence it is exploring, which actor performs its
 * next access. Everything runs in one OS thread, so the order of the accesses is exactly the
 * order of the choices: a run is reproducible from its choice sequence alone.
 */
#pragma once

#include <semaphore.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <ucontext.h>

/* What an actor is about to do at a scheduling point. */
typedef enum ExploreKind {
        EXPLORE_LOAD,  /* an atomic load */
        EXPLORE_STORE, /* an atomic store */
        EXPLORE_RMW,   /* CAS, exchange, fetch-op */
        EXPLORE_SEM,   /* a semaphore operation */
        EXPLORE_COPY,  /* the copy boundary: before or after a payload memcpy */
        EXPLORE_PAUSE, /* a spin's pause or sched_yield */
        EXPLORE_YIELD, /* the daemon's retry timer: others go first */
        _EXPLORE_KIND_MAX,
} ExploreKind;

typedef enum ActorState {
        ACTOR_DORMANT, /* not started (the daemon until a kill) */
        ACTOR_READY,
        ACTOR_BLOCKED, /* on a modelled semaphore */
        ACTOR_DONE,
        ACTOR_KILLED,
} ActorState;

typedef struct Actor Actor;
typedef void (*ActorFn)(Actor *a);

struct Actor {
        char name[8];
        ActorFn fn;
        unsigned no; /* index in the scheduler's table */
        uint32_t token;
        unsigned idx;
        bool killable;
        void *userdata;

        ActorState state;
        bool yielded;    /* after EXPLORE_YIELD: not chosen while another actor can run */
        bool after_copy; /* the last point was the end of a copy (the next copy start is the same point) */
        const sem_t *waiting_on;
        unsigned steps;   /* scheduling points in the current call */
        const char *call; /* the current call, for messages */

        ucontext_t ctx;
        void *stack;
        size_t stack_size;
};

/* One entry of the trace: who reached which point. */
typedef struct TraceEntry {
        uint8_t actor;
        uint8_t kind;
        uint16_t line;
        const char *func;
        const volatile void *addr;
} TraceEntry;

#define EXPLORE_ACTORS_MAX 8
#define EXPLORE_TRAIL_MAX 8192
#define EXPLORE_TRACE_MAX 65536

typedef struct Decision {
        uint16_t n, chosen;
} Decision;

/* Why a run ended. */
typedef enum RunEnd {
        RUN_QUIESCENT, /* no actor can run: all done or blocked */
        RUN_FAILED,    /* a check failed during the run (message in the scheduler) */
} RunEnd;

/* Hooks from ring.c's special build (hooks.h). */
void explore_point(ExploreKind kind, const volatile void *addr, const char *func, int line);
void explore_wrote(const volatile void *addr, uint64_t old, uint64_t new_value, size_t size);
int explore_sem_post(sem_t *s);
int explore_sem_wait(sem_t *s, const struct timespec *until, const char *func, int line);
int explore_sem_trywait(sem_t *s);
int explore_sem_getvalue(sem_t *s, int *ret);
int explore_clock_gettime(clockid_t clk, struct timespec *ts);
int explore_sched_yield(const char *func, int line);
void explore_pause(const char *func, int line);
void *explore_memcpy(void *dst, const void *src, size_t n, const char *func, int line);
void *explore_memmove(void *dst, const void *src, size_t n, const char *func, int line);
long explore_fifo_io(int fd, const char *func, int line);

/* For the actors' own code (explore.c): the daemon's retry timer, a call's start. */
void explore_yield(void);
void explore_call_begin(Actor *a, const char *call);
void explore_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Observers the exploration installs (explore.c): slot-word transitions, copies. */
typedef struct ExploreObserver {
        void (*wrote)(void *userdata, Actor *a, const volatile void *addr, uint64_t old, uint64_t new_value);
        void (*copy)(void *userdata, Actor *a, void *dst, const void *src, size_t n);
        /* whether a location is never written while exploring: its loads are no scheduling point */
        bool (*frozen)(void *userdata, const volatile void *addr);
        void *userdata;
} ExploreObserver;

/* The scheduler: one per process (the hooks reach it without an argument: the one global of
 * this test program, documented in explore.c). */
typedef struct Scheduler {
        Actor actors[EXPLORE_ACTORS_MAX];
        unsigned n_actors;
        Actor *cur;
        ucontext_t main_ctx;

        /* the semaphores ring.c uses, modelled: a count and who waits */
        sem_t *sems[4 + EXPLORE_ACTORS_MAX]; /* the mailbox's, and each subscriber's own */
        int sem_value[4 + EXPLORE_ACTORS_MAX];
        unsigned n_sems;

        /* the exploration */
        Decision trail[EXPLORE_TRAIL_MAX];
        unsigned trail_len, depth;
        int preemption_bound; /* -1: unbounded */
        unsigned preemptions;
        unsigned kills_left;
        Actor *daemon; /* activated by a kill; its target is killed_actor */
        Actor *killed;
        unsigned step_bound; /* scheduling points per call before it is a livelock */
        uint64_t now_ns;     /* the virtual clock */

        ExploreObserver obs;

        /* the last scheduling point of the run (a repeat of it is a spin) */
        Actor *prev_actor;
        ExploreKind prev_kind;
        const volatile void *prev_addr;
        const char *prev_func;
        int prev_line;

        /* the result of a run */
        RunEnd end;
        bool failed;
        char why[1024];
        bool late_wakeup;

        /* the trace of the current run */
        TraceEntry trace[EXPLORE_TRACE_MAX];
        unsigned trace_len;
        const char *last_crash_point;

        /* when the last run ended in quiescence: may this blocked actor wait on? (explore.c) */
        bool (*justified)(void *userdata, Actor *a, char *why, size_t len);

        /* stack bookkeeping for the sanitizer's fiber switches */
        const void *main_stack_bottom;
        size_t main_stack_size;
} Scheduler;

extern Scheduler explore_sched;

Actor *scheduler_add(Scheduler *s, const char *name, ActorFn fn, uint32_t token, unsigned idx, bool killable);
void scheduler_reset_run(Scheduler *s);
RunEnd scheduler_run(Scheduler *s);
bool scheduler_backtrack(Scheduler *s);
unsigned scheduler_sem_index(const Scheduler *s, const sem_t *sem);
void scheduler_format_trail(const Scheduler *s, char *buf, size_t len);
int scheduler_parse_trail(Scheduler *s, const char *text);
void scheduler_free(Scheduler *s);
