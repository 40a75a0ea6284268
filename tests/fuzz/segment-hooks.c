/* SPDX-License-Identifier: MIT */
/* segment-hooks.c — the step counter, the scheduled scribbles, the virtual clock and the
 * semaphore stubs that segment-hooks.h puts into the code fuzz-segment runs. */
#include "tests/fuzz/segment-hooks.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* One process runs one input at a time, single-threaded: plain globals do. */
static struct {
        uint8_t *base; /* the segment the scribbles land in */
        size_t size;
        uint32_t slots;
        SegmentMutation mut[SEGMENT_MUTATIONS_MAX];
        unsigned n_mut;
        unsigned fired;                       /* scribbles applied during the current call */
        uint64_t fired_total;                 /* ... and since setup */
        uint64_t steps;                       /* since setup, across calls */
        uint32_t calls;                       /* readers begun since setup; the current one is calls - 1 */
        uint32_t seen[SEGMENT_MUTATIONS_MAX]; /* accesses of the current call to each target */
        const char *reader;                   /* NULL: no reader runs, nothing is counted */
        uint64_t call_steps, call_sleeps;
        struct timespec now; /* the virtual CLOCK_MONOTONIC */
} hook;

/*
 * segment_hook_setup() - start an input: the segment at @base (@size bytes, @slots slots), a
 * step count and a virtual clock from zero, no scribbles scheduled
 */
void segment_hook_setup(void *base, size_t size, uint32_t slots) {
        memset(&hook, 0, sizeof(hook));
        hook.base = base;
        hook.size = size;
        hook.slots = slots;
        hook.now.tv_sec = 1000; /* far from zero, so that no deadline computation underflows */
}

/* segment_hook_schedule() - the scribbles of the next calls (SegmentMutation), replacing those
 * scheduled before */
void segment_hook_schedule(const SegmentMutation *mut, unsigned n_mut) {
        hook.n_mut = n_mut < SEGMENT_MUTATIONS_MAX ? n_mut : SEGMENT_MUTATIONS_MAX;
        if (hook.n_mut > 0)
                memcpy(hook.mut, mut, hook.n_mut * sizeof(*mut));
        for (unsigned i = 0; i < hook.n_mut; i++)
                hook.mut[i].call += hook.calls;
}

/* segment_hook_retarget() - the scribbles land in another copy of the segment from now on */
void segment_hook_retarget(void *base, size_t size) {
        hook.base = base;
        hook.size = size;
}

/* segment_hook_begin() - @reader starts: count its steps against its budget */
void segment_hook_begin(const char *reader) {
        hook.reader = reader;
        hook.calls++;
        hook.call_steps = 0;
        hook.call_sleeps = 0;
        hook.fired = 0;
        memset(hook.seen, 0, sizeof(hook.seen));
}

/* segment_hook_end() - the reader returned. Returns how many scribbles fired during the call. */
unsigned segment_hook_end(void) {
        hook.reader = NULL;
        return hook.fired;
}

uint64_t segment_hook_steps(void) {
        return hook.steps;
}

uint64_t segment_hook_fired(void) {
        return hook.fired_total;
}

static void apply(const SegmentMutation *m) {
        uint64_t v = m->value;

        if (m->offset > hook.size || hook.size - m->offset < m->size)
                return;
        if (m->from != SEGMENT_FROM_VALUE) {
                if (m->from > hook.size || hook.size - m->from < 8 || m->from % 8)
                        return;
                v += __atomic_load_n((uint64_t *)(hook.base + m->from), __ATOMIC_RELAXED);
        }
        if (m->size == 8 && m->offset % 8 == 0)
                __atomic_store_n((uint64_t *)(hook.base + m->offset), v, __ATOMIC_RELAXED);
        else if (m->size == 4 && m->offset % 4 == 0)
                __atomic_store_n((uint32_t *)(hook.base + m->offset), (uint32_t)v, __ATOMIC_RELAXED);
        else
                return;
        hook.fired++;
        hook.fired_total++;
}

/* Every atomic access of the hooked code: counted, and scribbled before if scheduled. */
void segment_hook_step(const volatile void *p) {
        uint64_t off = (uint64_t)((uintptr_t)p - (uintptr_t)hook.base); /* huge if outside */

        if (!hook.reader)
                return;
        hook.steps++;
        hook.call_steps++;
        for (unsigned i = 0; i < hook.n_mut; i++) {
                const SegmentMutation *m = &hook.mut[i];

                if (m->call + 1 != hook.calls)
                        continue;
                if (m->nth == 0 ? m->step == hook.call_steps
                                : off < hook.size && off >= m->offset && off < m->offset + m->size &&
                                          ++hook.seen[i] == m->nth)
                        apply(m);
        }
        if (hook.call_steps > SEGMENT_BUDGET(hook.slots, hook.call_sleeps)) {
                fprintf(stderr,
                        "fuzz-segment: %s made %llu shared-memory accesses, over its budget of %llu "
                        "(%u slots, %llu sleeps): an unbounded loop\n",
                        hook.reader, (unsigned long long)hook.call_steps,
                        (unsigned long long)SEGMENT_BUDGET(hook.slots, hook.call_sleeps), hook.slots,
                        (unsigned long long)hook.call_sleeps);
                __builtin_trap();
        }
}

int segment_hook_sem_post(sem_t *sem) {
        (void)sem;
        return 0;
}

int segment_hook_sem_getvalue(sem_t *sem, int *ret) {
        (void)sem;
        *ret = 0;
        return 0;
}

/* sem_wait() and sem_trywait(): interrupted at once. */
int segment_hook_sem_wait(sem_t *sem) {
        (void)sem;
        errno = EINTR;
        return -1;
}

/* A timed wait nobody posts: the virtual clock jumps to its deadline. */
int segment_hook_sem_timedwait(sem_t *sem, const struct timespec *until) {
        (void)sem;
        if (until->tv_sec > hook.now.tv_sec || (until->tv_sec == hook.now.tv_sec && until->tv_nsec > hook.now.tv_nsec))
                hook.now = *until;
        hook.call_sleeps++;
        errno = ETIMEDOUT;
        return -1;
}

int segment_hook_psem_post(sem_t *sem) {
        return segment_hook_sem_post(sem);
}

int segment_hook_psem_getvalue(sem_t *sem, int *ret) {
        return segment_hook_sem_getvalue(sem, ret);
}

/* psem_trywait(): nothing to take, as for sem_trywait(). */
int segment_hook_psem_trywait(sem_t *sem) {
        (void)sem;
        return -EAGAIN;
}

/* A timed wait nobody posts, as segment_hook_sem_timedwait(). */
int segment_hook_psem_clockwait(sem_t *sem, const struct timespec *until) {
        segment_hook_sem_timedwait(sem, until);
        return -ETIMEDOUT;
}

/* Every clock the hooked code reads (the monotonic one for deadlines, the coarse one for
 * stamps) is the virtual one. */
int segment_hook_clock_gettime(clockid_t clock, struct timespec *ret) {
        (void)clock;
        *ret = hook.now;
        return 0;
}
