/* SPDX-License-Identifier: MIT */
/* segment-hooks.h — forced include (-include) of the code fuzz-segment runs: every atomic access
 * to shared memory becomes a counted step, and nothing blocks.
 *
 * fuzz-segment compiles proto/ring.c, daemon/mailbox.c and client/introspect.c (and itself)
 * with this header included first. It replaces:
 *
 * - the <stdatomic.h> operations (both forms, _explicit and not: clang's plain forms do not
 *   expand to the _explicit ones) by the same operation preceded by segment_hook_step(). While
 *   a reader runs (segment_hook_begin() .. segment_hook_end()), each step is counted against
 *   the reader's budget; and a scribble the input scheduled lands before the access it is
 *   aimed at (the n-th access to the field it changes, or the n-th step of the call): a peer
 *   writing while the reader runs. The plain loads and stores of the code (a slot's
 *   length, its stamp) are not steps; every loop of the ring has an atomic load in it.
 * - the semaphore calls the ring makes by stubs that never block: a post does nothing, a value
 *   is 0, and a timed wait "sleeps" until its deadline on a virtual clock and times out.
 * - clock_gettime() by that virtual clock, which only the timed waits move. So a wait with a
 *   deadline ends after a bounded number of sleeps, however long the deadline is in real
 *   time, and the same input always takes the same path.
 *
 * The budget of one call is SEGMENT_BUDGET(slots, sleeps): proportional to the slot count, plus
 * a fixed part for the scans of the 256-entry attachment table and the sleeper masks (3072:
 * ring_count() takes up to 1 + RING_RECHECKS = 9 snapshots while a scribble keeps changing
 * under it, each with one scan of the table, ~270 steps; 1024 was too little, and CI's fuzzing
 * trapped on a ring_count() of 1,089 steps on 1 slot: tests/fuzz/regress), plus as
 * much again for every sleep the call took (a sleep ends at the deadline at the latest, so only
 * a loop that never sleeps can run out of it). Exceeding it prints the reader and the count and
 * traps: under libFuzzer a crash with the input saved.
 */
#pragma once

#include "config.h"

#include <semaphore.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "proto/psem.h" /* declared before the macros below rename its functions */

#define SEGMENT_BUDGET(slots, sleeps) (64 * (uint64_t)(slots) + 3072 * (1 + (uint64_t)(sleeps)))

/* A scheduled scribble, in call @call (0: the next reader to begin, 1: the one after it): just
 * before the @nth access of that call to the scribbled bytes themselves (a peer rewrote the
 * field since the reader last looked at it) or, with @nth 0, before its step @step (1 is the
 * first), the @size (4 or 8) bytes at @offset of the segment become @value; or, if @from is not
 * SEGMENT_FROM_VALUE, the 8-byte word at offset @from plus @value (head := tail + 1). */
typedef struct SegmentMutation {
        uint32_t call, nth, step;
        uint32_t offset, size;
        uint32_t from;
        uint64_t value;
} SegmentMutation;

#define SEGMENT_FROM_VALUE UINT32_MAX
#define SEGMENT_MUTATIONS_MAX 4

void segment_hook_setup(void *base, size_t size, uint32_t slots);
void segment_hook_schedule(const SegmentMutation *mut, unsigned n_mut);
void segment_hook_retarget(void *base, size_t size);
void segment_hook_begin(const char *reader);
unsigned segment_hook_end(void);
uint64_t segment_hook_steps(void);
uint64_t segment_hook_fired(void);
void segment_hook_step(const volatile void *p);

int segment_hook_sem_post(sem_t *sem);
int segment_hook_sem_getvalue(sem_t *sem, int *ret);
int segment_hook_sem_wait(sem_t *sem);
int segment_hook_sem_timedwait(sem_t *sem, const struct timespec *until);
/* proto/psem.h's operations, stubbed the same way in psem's convention of a negative errno. */
int segment_hook_psem_post(sem_t *sem);
int segment_hook_psem_trywait(sem_t *sem);
int segment_hook_psem_clockwait(sem_t *sem, const struct timespec *until);
int segment_hook_psem_getvalue(sem_t *sem, int *ret);
int segment_hook_clock_gettime(clockid_t clock, struct timespec *ret);

/* The operations themselves, in each compiler's own builtins (gcc's <stdatomic.h> is built on
 * the __atomic ones, clang's on the __c11_atomic ones, which take the _Atomic type). */
#ifdef __clang__
#define SEGMENT_LOAD(p, mo) __c11_atomic_load(p, mo)
#define SEGMENT_STORE(p, v, mo) __c11_atomic_store(p, v, mo)
#define SEGMENT_XCHG(p, v, mo) __c11_atomic_exchange(p, v, mo)
#define SEGMENT_CAS(p, e, d, weak, s, f)                                                                               \
        ((weak) ? __c11_atomic_compare_exchange_weak(p, e, d, s, f)                                                    \
                : __c11_atomic_compare_exchange_strong(p, e, d, s, f))
#define SEGMENT_FETCH(op, p, v, mo) __c11_atomic_fetch_##op(p, v, mo)
#else
#define SEGMENT_LOAD(p, mo) __atomic_load_n(p, mo)
#define SEGMENT_STORE(p, v, mo) __atomic_store_n(p, v, mo)
#define SEGMENT_XCHG(p, v, mo) __atomic_exchange_n(p, v, mo)
#define SEGMENT_CAS(p, e, d, weak, s, f) __atomic_compare_exchange_n(p, e, d, weak, s, f)
#define SEGMENT_FETCH(op, p, v, mo) __atomic_fetch_##op(p, v, mo)
#endif

#undef atomic_load_explicit
#undef atomic_load
#undef atomic_store_explicit
#undef atomic_store
#undef atomic_exchange_explicit
#undef atomic_exchange
#undef atomic_compare_exchange_strong_explicit
#undef atomic_compare_exchange_strong
#undef atomic_compare_exchange_weak_explicit
#undef atomic_compare_exchange_weak
#undef atomic_fetch_add_explicit
#undef atomic_fetch_add
#undef atomic_fetch_sub_explicit
#undef atomic_fetch_sub
#undef atomic_fetch_or_explicit
#undef atomic_fetch_or
#undef atomic_fetch_and_explicit
#undef atomic_fetch_and
#undef atomic_fetch_xor_explicit
#undef atomic_fetch_xor

#define atomic_load_explicit(p, mo) (segment_hook_step(p), SEGMENT_LOAD(p, mo))
#define atomic_load(p) atomic_load_explicit(p, __ATOMIC_SEQ_CST)
#define atomic_store_explicit(p, v, mo) (segment_hook_step(p), SEGMENT_STORE(p, v, mo))
#define atomic_store(p, v) atomic_store_explicit(p, v, __ATOMIC_SEQ_CST)
#define atomic_exchange_explicit(p, v, mo) (segment_hook_step(p), SEGMENT_XCHG(p, v, mo))
#define atomic_exchange(p, v) atomic_exchange_explicit(p, v, __ATOMIC_SEQ_CST)
#define atomic_compare_exchange_strong_explicit(p, e, d, s, f) (segment_hook_step(p), SEGMENT_CAS(p, e, d, 0, s, f))
#define atomic_compare_exchange_strong(p, e, d)                                                                        \
        atomic_compare_exchange_strong_explicit(p, e, d, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)
#define atomic_compare_exchange_weak_explicit(p, e, d, s, f) (segment_hook_step(p), SEGMENT_CAS(p, e, d, 1, s, f))
#define atomic_compare_exchange_weak(p, e, d)                                                                          \
        atomic_compare_exchange_weak_explicit(p, e, d, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)
#define atomic_fetch_add_explicit(p, v, mo) (segment_hook_step(p), SEGMENT_FETCH(add, p, v, mo))
#define atomic_fetch_add(p, v) atomic_fetch_add_explicit(p, v, __ATOMIC_SEQ_CST)
#define atomic_fetch_sub_explicit(p, v, mo) (segment_hook_step(p), SEGMENT_FETCH(sub, p, v, mo))
#define atomic_fetch_sub(p, v) atomic_fetch_sub_explicit(p, v, __ATOMIC_SEQ_CST)
#define atomic_fetch_or_explicit(p, v, mo) (segment_hook_step(p), SEGMENT_FETCH(or, p, v, mo))
#define atomic_fetch_or(p, v) atomic_fetch_or_explicit(p, v, __ATOMIC_SEQ_CST)
#define atomic_fetch_and_explicit(p, v, mo) (segment_hook_step(p), SEGMENT_FETCH(and, p, v, mo))
#define atomic_fetch_and(p, v) atomic_fetch_and_explicit(p, v, __ATOMIC_SEQ_CST)
#define atomic_fetch_xor_explicit(p, v, mo) (segment_hook_step(p), SEGMENT_FETCH(xor, p, v, mo))
#define atomic_fetch_xor(p, v) atomic_fetch_xor_explicit(p, v, __ATOMIC_SEQ_CST)

/* Function-like, so that a declaration or a pointer to the real function is left alone. */
#define sem_post(s) segment_hook_sem_post(s)
#define sem_getvalue(s, v) segment_hook_sem_getvalue(s, v)
#define sem_wait(s) segment_hook_sem_wait(s)
#define sem_trywait(s) segment_hook_sem_wait(s)
#define sem_timedwait(s, t) segment_hook_sem_timedwait(s, t)
#define sem_clockwait(s, c, t) segment_hook_sem_timedwait(s, t)
#define psem_post(s) segment_hook_psem_post(s)
#define psem_trywait(s) segment_hook_psem_trywait(s)
#define psem_clockwait(s, c, t) segment_hook_psem_clockwait(s, t)
#define psem_getvalue(s, v) segment_hook_psem_getvalue(s, v)
#define clock_gettime(c, t) segment_hook_clock_gettime(c, t)
