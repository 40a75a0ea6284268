/* SPDX-License-Identifier: MIT */
/* psem.c — process-shared semaphore operations that never abort on scribbled memory.
 *
 * The protocol is glibc's for 64-bit atomics (nptl/sem_post.c, nptl/sem_waitcommon.c), so that
 * our processes and anything still calling glibc on the same semaphore agree:
 *   - post: CAS value + 1 on the 64-bit word; if the waiter count (high half) was not zero,
 *     FUTEX_WAKE one on the value (low half);
 *   - wait: a CAS value - 1 while the value is positive; otherwise add one to the waiter count,
 *     then loop: value zero -> FUTEX_WAIT_BITSET for value 0; value positive -> CAS value - 1
 *     and waiter count - 1 in one step; leaving without a unit takes the waiter back out.
 * What differs is what may be trusted. The futex operation is ours, never built from the
 * `private` field; a failed system call is an errno for the caller, never __libc_fatal(); every
 * CAS and wake-up loop is bounded by PSEM_TRIES, after which the operation reports what it
 * could not do (see psem.h). A waiter count that a scribble (or a SIGKILLed glibc sleeper) left
 * wrong costs posters a spare FUTEX_WAKE, nothing else; a huge value makes waits return at once,
 * which the ring's waiters already bound (RingWaiter).
 */
#include "config.h"

#include "proto/psem.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The layout psem.h describes: refuse to build where it is not glibc's (a 32-bit or big-endian
 * glibc uses another one, and another libc another still). */
#if !defined(__GLIBC__) || __WORDSIZE != 64 || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "proto/psem.c knows only glibc's 64-bit little-endian sem_t (x86_64, aarch64): see psem.h"
#endif
_Static_assert(sizeof(sem_t) >= 16, "glibc's sem_t: a 64-bit data word and the private field");
_Static_assert(_Alignof(sem_t) >= 8, "the data word is a 64-bit atomic");
_Static_assert(SEM_VALUE_MAX == INT_MAX, "glibc's SEM_VALUE_MAX");

#define PSEM_WAITER ((uint64_t)1 << 32)
#define PSEM_VALUE(d) ((uint32_t)(d))
#define PSEM_WAITERS(d) ((uint32_t)((d) >> 32))
/* How many CAS failures (or futex returns that found the value changed) an operation accepts
 * before it gives up: honest contention settles in a few, only a scribbler needs more. */
#define PSEM_TRIES 64

static _Atomic uint64_t *psem_data(sem_t *sem) {
        return (_Atomic uint64_t *)(void *)sem;
}

/* The futex word: the value, the low half of the data word (little-endian: its first bytes). */
static uint32_t *psem_futex(sem_t *sem) {
        return (uint32_t *)(void *)sem;
}

static int futex_wake_one(sem_t *sem) {
        if (syscall(SYS_futex, psem_futex(sem), FUTEX_WAKE, 1, NULL, NULL, 0) < 0)
                return -errno;
        return 0;
}

/* Sleep while the value is 0, until @until on @clock: 0 on a wake-up or a changed value. */
static int futex_wait_zero(sem_t *sem, clockid_t clock, const struct timespec *until) {
        int op = FUTEX_WAIT_BITSET | (clock == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME : 0);

        if (syscall(SYS_futex, psem_futex(sem), op, 0, until, NULL, FUTEX_BITSET_MATCH_ANY) < 0)
                return errno == EAGAIN ? 0 : -errno;
        return 0;
}

/* The definitions' names are parenthesized so that a function-like macro of the same name
 * (tests/fuzz/segment-hooks.h, forced into every file of the fuzz-segment build) leaves them
 * alone. */
int(psem_post)(sem_t *sem) {
        _Atomic uint64_t *data = psem_data(sem);
        uint64_t d = atomic_load_explicit(data, memory_order_relaxed);
        int r = -EAGAIN, k;

        for (unsigned i = 0; i < PSEM_TRIES; i++) {
                if (PSEM_VALUE(d) >= SEM_VALUE_MAX) {
                        r = -EOVERFLOW;
                        break;
                }
                if (atomic_compare_exchange_weak_explicit(data, &d, d + 1, memory_order_release,
                                                          memory_order_relaxed)) {
                        r = 0;
                        break;
                }
        }
        /* Not incremented: wake one anyway, so that a sleeper re-checks whatever it waits for. */
        if (r < 0 || PSEM_WAITERS(d) > 0) {
                k = futex_wake_one(sem);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

int(psem_trywait)(sem_t *sem) {
        _Atomic uint64_t *data = psem_data(sem);
        uint64_t d = atomic_load_explicit(data, memory_order_relaxed);

        for (unsigned i = 0; i < PSEM_TRIES; i++) {
                if (PSEM_VALUE(d) == 0)
                        return -EAGAIN;
                if (atomic_compare_exchange_weak_explicit(data, &d, d - 1, memory_order_acquire, memory_order_relaxed))
                        return 0;
        }
        return -EAGAIN;
}

int(psem_clockwait)(sem_t *sem, clockid_t clock, const struct timespec *until) {
        _Atomic uint64_t *data = psem_data(sem);
        uint64_t d;
        int r = -EINTR;

        if (clock != CLOCK_MONOTONIC && clock != CLOCK_REALTIME)
                return -EINVAL;
        if (until->tv_nsec < 0 || until->tv_nsec >= 1000000000L)
                return -EINVAL;
        if ((psem_trywait)(sem) == 0)
                return 0;

        d = atomic_fetch_add_explicit(data, PSEM_WAITER, memory_order_relaxed) + PSEM_WAITER;
        for (unsigned i = 0; i < PSEM_TRIES; i++) {
                if (PSEM_VALUE(d) == 0) {
                        r = futex_wait_zero(sem, clock, until);
                        if (r < 0)
                                break;
                        r = -EINTR;
                        d = atomic_load_explicit(data, memory_order_relaxed);
                        continue;
                }
                /* A unit and our place among the waiters, taken in one step. */
                if (atomic_compare_exchange_weak_explicit(data, &d, d - 1 - PSEM_WAITER, memory_order_acquire,
                                                          memory_order_relaxed))
                        return 0;
        }
        /* Leaving without a unit: take our place back out. A scribbled count may wrap; that
         * only costs posters a spare wake-up, and the value (low half) is not touched. */
        atomic_fetch_sub_explicit(data, PSEM_WAITER, memory_order_relaxed);
        return r;
}

int(psem_getvalue)(sem_t *sem, int *ret) {
        uint32_t v = PSEM_VALUE(atomic_load_explicit(psem_data(sem), memory_order_relaxed));

        *ret = v > SEM_VALUE_MAX ? SEM_VALUE_MAX : (int)v;
        return 0;
}
