/* SPDX-License-Identifier: MIT */
/* scheduler.c — coroutines, scheduling points, modelled semaphores and the DFS over choices.
 *
 * A run starts every actor on its own ucontext stack and lets exactly one run at a time. Each
 * hook of ring.c's special build (hooks.h) ends in reschedule(): the options at that point
 * are "the same actor goes on" (free), "another ready actor goes" (a preemption, counted
 * against the bound), and, while a kill is left, "the current actor dies here" (SIGKILL at
 * this instant: its coroutine is simply never resumed). Where the current actor cannot go on
 * (it blocked on a semaphore, finished, or yielded to the daemon's retry timer) the switch is
 * free. The choice at each point with more than one option is a Decision; the trail of
 * decisions is the schedule. Exploration is stateless (CHESS): each run replays the trail's
 * prefix and then takes option 0 at every new decision; afterwards scheduler_backtrack()
 * advances the deepest decision that has an untried option, so the runs enumerate every
 * schedule within the preemption bound exactly once, in depth-first order.
 *
 * Semaphores are a count: sem_post adds one and makes every actor blocked on it ready (each
 * re-checks the count, as a woken futex waiter does); a wait that finds 0 blocks. No waiter is
 * ever woken by its timeout: when no actor can run, the run is over, and an actor blocked
 * while the ring holds what it waits for is a late wake-up (it would wait for its slice).
 *
 * With AddressSanitizer every switch is announced (__sanitizer_start/finish_switch_fiber), and
 * the stacks of abandoned coroutines are unpoisoned before they are reused.
 */
#include "config.h"

#include "tests/explore/scheduler.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define EXPLORE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EXPLORE_ASAN 1
#endif
#endif
#ifdef EXPLORE_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#define STACK_SIZE (256u * 1024)
#define DECISION_UNKNOWN 0xffffu /* a decision read from --replay: its option count is not known */

/* Trace entries that are not scheduling points. */
#define TRACE_KILL 100
#define TRACE_CRASH_POINT 101
#define TRACE_BLOCK 102

typedef enum Why {
        WHY_POINT, /* the current actor reached a scheduling point and may go on */
        WHY_YIELD, /* it yields: others first */
        WHY_BLOCK, /* it cannot go on: blocked or killed */
        WHY_DONE,  /* it finished */
} Why;

static void trace_add(Scheduler *s, unsigned kind, const char *func, int line, const volatile void *addr) {
        if (s->trace_len >= EXPLORE_TRACE_MAX)
                return;
        s->trace[s->trace_len++] = (TraceEntry){
                .actor = s->cur ? (uint8_t)s->cur->no : 0xff,
                .kind = (uint8_t)kind,
                .line = (uint16_t)line,
                .func = func,
                .addr = addr,
        };
}

/* Switch stacks from @from to @to (announced to ASan). Returns when someone switches back. */
static void fiber_switch(Scheduler *s, ucontext_t *from, bool from_main, ucontext_t *to, const void *to_bottom,
                         size_t to_size) {
#ifdef EXPLORE_ASAN
        void *fake = NULL;
        const void *old_bottom;
        size_t old_size;

        __sanitizer_start_switch_fiber(&fake, to_bottom, to_size);
        swapcontext(from, to);
        __sanitizer_finish_switch_fiber(fake, &old_bottom, &old_size);
        (void)from_main;
        (void)s;
#else
        (void)s;
        (void)from_main;
        (void)to_bottom;
        (void)to_size;
        swapcontext(from, to);
#endif
}

/* Leave the run for the explorer's loop; the current coroutine is abandoned. */
static _Noreturn void to_main(Scheduler *s) {
        Actor *me = s->cur;

        s->cur = NULL;
        if (!me)
                abort(); /* nothing to leave: a bug in the explorer */
        fiber_switch(s, &me->ctx, false, &s->main_ctx, s->main_stack_bottom, s->main_stack_size);
        abort(); /* an abandoned run is never resumed */
}

void explore_fail(const char *fmt, ...) {
        Scheduler *s = &explore_sched;
        va_list ap;

        if (!s->failed) {
                va_start(ap, fmt);
                vsnprintf(s->why, sizeof(s->why), fmt, ap);
                va_end(ap);
                s->failed = true;
        }
        s->end = RUN_FAILED;
        if (s->cur)
                to_main(s);
}

/* The option taken at the next decision among @n: replayed from the trail, or 0 on a new one. */
static unsigned decide(Scheduler *s, unsigned n) {
        Decision *d;

        if (n <= 1)
                return 0;
        if (s->depth >= EXPLORE_TRAIL_MAX) {
                explore_fail("a schedule deeper than %u decisions", EXPLORE_TRAIL_MAX);
                return 0;
        }
        d = &s->trail[s->depth];
        if (s->depth < s->trail_len) {
                if (d->n != DECISION_UNKNOWN && d->n != n) {
                        explore_fail("nondeterminism: decision %u had %u options, now %u", s->depth, d->n, n);
                        return 0;
                }
                d->n = (uint16_t)n;
                if (d->chosen >= n) {
                        explore_fail("the schedule does not fit: decision %u has %u options, not %u", s->depth, n,
                                     d->chosen + 1);
                        return 0;
                }
        } else {
                *d = (Decision){ .n = (uint16_t)n, .chosen = 0 };
                s->trail_len = s->depth + 1;
        }
        s->depth++;
        return d->chosen;
}

/* Run @to next, from the current actor (or from the explorer's loop when there is none). */
static void switch_to(Scheduler *s, Actor *to) {
        Actor *me = s->cur;

        if (to == me)
                return;
        s->cur = to;
        if (me)
                fiber_switch(s, &me->ctx, false, &to->ctx, to->stack, to->stack_size);
        else
                fiber_switch(s, &s->main_ctx, true, &to->ctx, to->stack, to->stack_size);
}

/* No actor can run: the run is over. An actor blocked while the ring holds what it waits for
 * would only be woken by its slice: a late wake-up. */
static void quiescent(Scheduler *s) {
        char why[256];

        for (unsigned i = 0; i < s->n_actors; i++) {
                Actor *a = &s->actors[i];

                if (a->state != ACTOR_BLOCKED || !s->justified)
                        continue;
                why[0] = 0;
                if (!s->justified(s->obs.userdata, a, why, sizeof(why))) {
                        s->late_wakeup = true;
                        explore_fail("late wake-up: %s sleeps in %s although %s; only its safety slice would "
                                     "wake it",
                                     a->name, a->call ? a->call : "?", why);
                }
        }
        s->end = RUN_QUIESCENT;
        if (s->cur)
                to_main(s);
}

static bool ready(const Actor *a) {
        return a->state == ACTOR_READY;
}

/* Decide who runs next, after the current actor reached a point for @why. */
static void reschedule(Scheduler *s, Why why) {
        Actor *me = s->cur;

        if (me && why == WHY_YIELD)
                me->yielded = true;
        for (;;) {
                Actor *opt[EXPLORE_ACTORS_MAX];
                unsigned n = 0, n_eager = 0, c;
                bool cont, kill;

                for (unsigned i = 0; i < s->n_actors; i++)
                        if (ready(&s->actors[i]) && !s->actors[i].yielded)
                                n_eager++;
                /* the current actor goes on for free; anyone else is a preemption */
                cont = me && why == WHY_POINT && ready(me) && !me->yielded;
                if (cont)
                        opt[n++] = me;
                if (!cont || s->preemption_bound < 0 || s->preemptions < (unsigned)s->preemption_bound)
                        for (unsigned i = 0; i < s->n_actors; i++) {
                                Actor *t = &s->actors[i];

                                if (t == me && cont)
                                        continue;
                                if (ready(t) && (!t->yielded || n_eager == 0))
                                        opt[n++] = t;
                        }
                kill = me && why == WHY_POINT && ready(me) && me->killable && s->kills_left > 0;
                if (n == 0) {
                        quiescent(s);
                        return;
                }
                c = decide(s, n + (kill ? 1 : 0));
                if (c == n) { /* the current actor dies at this instant */
                        trace_add(s, TRACE_KILL, "killed", 0, NULL);
                        me->state = ACTOR_KILLED;
                        s->kills_left--;
                        s->killed = me;
                        if (s->daemon)
                                s->daemon->state = ACTOR_READY;
                        why = WHY_BLOCK;
                        continue;
                }
                if (opt[c] != me && cont)
                        s->preemptions++;
                switch_to(s, opt[c]);
                return;
        }
}

void explore_point(ExploreKind kind, const volatile void *addr, const char *func, int line) {
        Scheduler *s = &explore_sched;
        Actor *me = s->cur;

        if (!me)
                return; /* set-up and final checks: not explored */
        if (kind == EXPLORE_LOAD && s->obs.frozen && s->obs.frozen(s->obs.userdata, addr))
                return; /* nobody writes it: the load commutes with everything */
        /* A spin: the same load at the same site again, nobody else having moved since. It sees
         * the same value, and the states before each repeat differ only in the spin's counter:
         * preempting (or killing) at a repeat reaches nothing that preempting at the first
         * load does not. So the repeats are no points (they still count as steps). */
        if (kind == EXPLORE_LOAD && s->prev_actor == me && s->prev_kind == kind && s->prev_addr == addr &&
            s->prev_line == line && s->prev_func == func) {
                if (++me->steps > s->step_bound)
                        explore_fail("livelock: %s spun more than %u scheduling points in one %s (at %s:%d)", me->name,
                                     s->step_bound, me->call ? me->call : "call", func, line);
                return;
        }
        s->prev_actor = me;
        s->prev_kind = kind;
        s->prev_addr = addr;
        s->prev_func = func;
        s->prev_line = line;
        me->after_copy = false;
        trace_add(s, kind, func, line, addr);
        if (++me->steps > s->step_bound)
                explore_fail("livelock: %s made more than %u scheduling points in one %s (at %s:%d)", me->name,
                             s->step_bound, me->call ? me->call : "call", func, line);
        /* someone else moves: whoever yielded may be chosen again */
        for (unsigned i = 0; i < s->n_actors; i++)
                if (&s->actors[i] != me)
                        s->actors[i].yielded = false;
        reschedule(s, kind == EXPLORE_YIELD ? WHY_YIELD : WHY_POINT);
}

void explore_wrote(const volatile void *addr, uint64_t old, uint64_t new_value, size_t size) {
        Scheduler *s = &explore_sched;

        (void)size;
        if (s->obs.frozen && s->obs.frozen(s->obs.userdata, addr) && old != new_value)
                explore_fail("a location assumed never written while exploring was written (at %p): the frozen "
                             "set of this configuration is wrong",
                             (const void *)addr);
        if (s->obs.wrote)
                s->obs.wrote(s->obs.userdata, s->cur, addr, old, new_value);
}

/* --- semaphores ----------------------------------------------------------------------------- */

unsigned scheduler_sem_index(const Scheduler *s, const sem_t *sem) {
        for (unsigned i = 0; i < s->n_sems; i++)
                if (s->sems[i] == sem)
                        return i;
        return UINT32_MAX;
}

static unsigned sem_slot(const sem_t *sem) {
        unsigned i = scheduler_sem_index(&explore_sched, sem);

        if (i == UINT32_MAX)
                explore_fail("ring.c used a semaphore the explorer does not know (%p)", (const void *)sem);
        return i;
}

int explore_sem_post(sem_t *sem) {
        Scheduler *s = &explore_sched;
        unsigned i;

        explore_point(EXPLORE_SEM, sem, "sem_post", 0);
        i = sem_slot(sem);
        if (i == UINT32_MAX)
                return -1;
        s->sem_value[i]++;
        for (unsigned a = 0; a < s->n_actors; a++)
                if (s->actors[a].state == ACTOR_BLOCKED && s->actors[a].waiting_on == sem) {
                        s->actors[a].state = ACTOR_READY;
                        s->actors[a].waiting_on = NULL;
                }
        return 0;
}

int explore_sem_wait(sem_t *sem, const struct timespec *until, const char *func, int line) {
        Scheduler *s = &explore_sched;
        Actor *me = s->cur;
        unsigned i;

        (void)until; /* never reached: see the essay above */
        explore_point(EXPLORE_SEM, sem, func, line);
        i = sem_slot(sem);
        if (i == UINT32_MAX)
                return -1;
        while (s->sem_value[i] == 0) {
                if (!me) {
                        explore_fail("a wait outside the exploration would block forever");
                        errno = EINVAL;
                        return -1;
                }
                me->state = ACTOR_BLOCKED;
                me->waiting_on = sem;
                trace_add(s, TRACE_BLOCK, func, line, sem);
                reschedule(s, WHY_BLOCK);
        }
        s->sem_value[i]--;
        return 0;
}

int explore_sem_trywait(sem_t *sem) {
        Scheduler *s = &explore_sched;
        unsigned i;

        explore_point(EXPLORE_SEM, sem, "sem_trywait", 0);
        i = sem_slot(sem);
        if (i == UINT32_MAX)
                return -1;
        if (s->sem_value[i] == 0) {
                errno = EAGAIN;
                return -1;
        }
        s->sem_value[i]--;
        return 0;
}

int explore_sem_getvalue(sem_t *sem, int *ret) {
        Scheduler *s = &explore_sched;
        unsigned i;

        explore_point(EXPLORE_SEM, sem, "sem_getvalue", 0);
        i = sem_slot(sem);
        if (i == UINT32_MAX)
                return -1;
        *ret = s->sem_value[i];
        return 0;
}

/* --- time, spins, copies, the FIFO ---------------------------------------------------------- */

int explore_clock_gettime(clockid_t clk, struct timespec *ts) {
        uint64_t now = explore_sched.now_ns;

        (void)clk;
        ts->tv_sec = (time_t)(now / 1000000000u);
        ts->tv_nsec = (long)(now % 1000000000u);
        return 0;
}

/* A spin's sched_yield: a microsecond of virtual time passes (a spin of spin_ns ends). */
int explore_sched_yield(const char *func, int line) {
        (void)func;
        (void)line;
        explore_sched.now_ns += 1000;
        return 0;
}

/* A spin's pause: no shared access, so no scheduling point (the load after it is one). */
void explore_pause(const char *func, int line) {
        (void)func;
        (void)line;
}

static void *copy(void *dst, const void *src, size_t n, const char *func, int line, bool move) {
        Scheduler *s = &explore_sched;
        Actor *me = s->cur;

        /* the point before a copy; right after another copy it is that copy's end point */
        if (me && !me->after_copy)
                explore_point(EXPLORE_COPY, dst, func, line);
        if (s->obs.copy)
                s->obs.copy(s->obs.userdata, me, dst, src, n);
        if (move)
                memmove(dst, src, n);
        else
                memcpy(dst, src, n);
        if (me) {
                explore_point(EXPLORE_COPY, dst, func, line);
                me->after_copy = true;
        }
        return dst;
}

void *explore_memcpy(void *dst, const void *src, size_t n, const char *func, int line) {
        return copy(dst, src, n, func, line, false);
}

void *explore_memmove(void *dst, const void *src, size_t n, const char *func, int line) {
        return copy(dst, src, n, func, line, true);
}

/* The FIFO (shmbox_fd): every explored Ring has has_fifo false, so ring.c must never get here. */
long explore_fifo_io(int fd, const char *func, int line) {
        explore_fail("ring.c touched the FIFO (fd %d) at %s:%d although has_fifo is false", fd, func, line);
        errno = EBADF;
        return -1;
}

/* Named crash points of ring.c: markers in the trace (the explorer kills at every point). */
void crash_point(const char *name);
void crash_point(const char *name) {
        Scheduler *s = &explore_sched;

        if (s->cur)
                trace_add(s, TRACE_CRASH_POINT, name, 0, NULL);
}

void explore_yield(void) {
        explore_point(EXPLORE_YIELD, NULL, "retry", 0);
}

void explore_call_begin(Actor *a, const char *call) {
        a->steps = 0;
        a->call = call;
}

/* --- actors and runs ------------------------------------------------------------------------- */

static void actor_entry(void) {
        Scheduler *s = &explore_sched;
        Actor *a = s->cur;

#ifdef EXPLORE_ASAN
        const void *old_bottom;
        size_t old_size;

        __sanitizer_finish_switch_fiber(NULL, &old_bottom, &old_size);
        if (!s->main_stack_bottom) { /* the first switch of all comes from the explorer's loop */
                s->main_stack_bottom = old_bottom;
                s->main_stack_size = old_size;
        }
#endif
        a->fn(a);
        a->state = ACTOR_DONE;
        reschedule(s, WHY_DONE);
        abort(); /* a finished actor is never resumed */
}

Actor *scheduler_add(Scheduler *s, const char *name, ActorFn fn, uint32_t token, unsigned idx, bool killable) {
        Actor *a;

        if (s->n_actors >= EXPLORE_ACTORS_MAX)
                return NULL;
        a = &s->actors[s->n_actors];
        *a = (Actor){ .fn = fn, .no = s->n_actors, .token = token, .idx = idx, .killable = killable };
        snprintf(a->name, sizeof(a->name), "%s", name);
        a->stack_size = STACK_SIZE;
        a->stack = malloc(a->stack_size);
        if (!a->stack)
                return NULL;
        s->n_actors++;
        return a;
}

/*
 * scheduler_reset_run() - make every actor start from its beginning, with fresh semaphores,
 * clock and trace; the trail is kept (the next run replays its prefix)
 */
/* A fresh context at actor_entry(). Its own function: getcontext() returns twice, and no
 * caller's locals should live across it. */
static __attribute__((noinline)) void actor_prepare(Actor *a) {
#ifdef EXPLORE_ASAN
        ASAN_UNPOISON_MEMORY_REGION(a->stack, a->stack_size); /* frames an abandoned run left */
#endif
        getcontext(&a->ctx);
        a->ctx.uc_stack.ss_sp = a->stack;
        a->ctx.uc_stack.ss_size = a->stack_size;
        a->ctx.uc_link = NULL;
        makecontext(&a->ctx, actor_entry, 0);
}

void scheduler_reset_run(Scheduler *s) {
        for (unsigned i = 0; i < s->n_actors; i++) {
                Actor *a = &s->actors[i];

                a->state = a == s->daemon ? ACTOR_DORMANT : ACTOR_READY;
                a->yielded = false;
                a->after_copy = false;
                a->waiting_on = NULL;
                a->steps = 0;
                a->call = NULL;
                actor_prepare(a);
        }
        for (unsigned i = 0; i < s->n_sems; i++)
                s->sem_value[i] = 0;
        s->cur = NULL;
        s->depth = 0;
        s->preemptions = 0;
        s->killed = NULL;
        s->now_ns = UINT64_C(1000000000);
        s->failed = false;
        s->late_wakeup = false;
        s->why[0] = 0;
        s->trace_len = 0;
        s->prev_actor = NULL;
}

/*
 * scheduler_run() - run the actors (after scheduler_reset_run() and the ring's set-up) until
 * none can run or a check fails
 */
RunEnd scheduler_run(Scheduler *s) {
        s->end = RUN_QUIESCENT;
        s->cur = NULL;
        reschedule(s, WHY_BLOCK); /* from the explorer's loop; returns when the run is over */
        s->cur = NULL;
        return s->failed ? RUN_FAILED : s->end;
}

/*
 * scheduler_backtrack() - advance the trail to the next schedule, depth first
 *
 * Return: false when every schedule (within the bound) has been run.
 */
bool scheduler_backtrack(Scheduler *s) {
        unsigned len = s->depth;

        while (len > 0 && s->trail[len - 1].chosen + 1u >= s->trail[len - 1].n)
                len--;
        if (len == 0)
                return false;
        s->trail[len - 1].chosen++;
        s->trail_len = len;
        return true;
}

/* The trail of the last run as text: choices joined by '.', a run of k zeros as "0*k". */
void scheduler_format_trail(const Scheduler *s, char *buf, size_t len) {
        size_t at = 0;

        buf[0] = 0;
        for (unsigned i = 0; i < s->depth && at + 16 < len;) {
                unsigned c = s->trail[i].chosen, k = 1;

                while (i + k < s->depth && s->trail[i + k].chosen == c)
                        k++;
                if (k > 2)
                        at += (size_t)snprintf(buf + at, len - at, "%s%u*%u", at ? "." : "", c, k);
                else
                        for (unsigned j = 0; j < k; j++)
                                at += (size_t)snprintf(buf + at, len - at, "%s%u", at ? "." : "", c);
                i += k;
        }
}

/*
 * scheduler_parse_trail() - load a trail written by scheduler_format_trail() for a replay
 *
 * Return: 0; -EINVAL if @text is not one.
 */
int scheduler_parse_trail(Scheduler *s, const char *text) {
        unsigned len = 0;
        const char *p = text;

        while (*p) {
                char *end;
                unsigned long c = strtoul(p, &end, 10), k = 1;

                if (end == p || c >= DECISION_UNKNOWN)
                        return -EINVAL;
                p = end;
                if (*p == '*') {
                        k = strtoul(p + 1, &end, 10);
                        if (end == p + 1 || k == 0)
                                return -EINVAL;
                        p = end;
                }
                if (*p == '.')
                        p++;
                else if (*p)
                        return -EINVAL;
                if (len + k > EXPLORE_TRAIL_MAX)
                        return -EINVAL;
                while (k--)
                        s->trail[len++] = (Decision){ .n = DECISION_UNKNOWN, .chosen = (uint16_t)c };
        }
        s->trail_len = len;
        return 0;
}

void scheduler_free(Scheduler *s) {
        for (unsigned i = 0; i < s->n_actors; i++)
                free(s->actors[i].stack);
        s->n_actors = 0;
}
