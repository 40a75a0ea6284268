/* SPDX-License-Identifier: MIT */
/* psem.h — process-shared semaphore operations that never abort on scribbled memory.
 *
 * Every mailbox semaphore is a file in /dev/shm that every attached process maps writable, so
 * its bytes are untrusted input (issue 13). glibc's sem_post() and sem_clockwait() read the
 * sem_t's `private` field from that memory and build the futex operation from it; a scribbled
 * value makes the futex call fail with an errno glibc does not expect (ENOSYS, EINVAL), and
 * glibc then calls __libc_fatal(): SIGABRT in the daemon and in every client.
 *
 * These functions do the same operations on the same memory, but choose the futex operation
 * themselves (shared: no FUTEX_PRIVATE_FLAG; FUTEX_WAKE and FUTEX_WAIT_BITSET with
 * FUTEX_BITSET_MATCH_ANY), return every errno instead of aborting, and bound every CAS loop (a
 * scribbler can make a CAS fail forever).
 *
 * Why this depends on glibc's layout, and what it keeps: the objects are still created by the
 * daemon with sem_open() (and sem_init() for a repair), opened with sem_open() and closed with
 * sem_close(); only the operations change. They work on glibc's sem_t for 64-bit atomics
 * (sysdeps/nptl/internaltypes.h, struct new_sem with __HAVE_64B_ATOMICS: x86_64, aarch64): a
 * uint64_t `data` at offset 0 with the value in its low 32 bits and the waiter count in its high
 * 32 bits, on a little-endian machine the futex word is the first 4 bytes. `private` is never
 * read. Because the layout and the protocol are glibc's, a glibc sem_clockwait() sleeper is
 * woken by psem_post() and a psem_clockwait() sleeper by sem_post() (tests/test-psem.c checks
 * both against the glibc this is built with). Only for process-shared semaphores: a private
 * (pshared 0) glibc waiter sleeps on a private futex these shared wake-ups do not reach.
 */
#pragma once

#include <semaphore.h>
#include <time.h>

/*
 * psem_post() - add one to @sem's value (at most SEM_VALUE_MAX) and wake one sleeper
 * @sem: a process-shared semaphore; its memory may hold anything
 *
 * A value already at or above SEM_VALUE_MAX (only a scribble gets it there: the ring keeps its
 * semaphores near zero) is left as it is and a sleeper is woken anyway, as is one when the value
 * kept changing under every bounded CAS.
 *
 * Return: 0 when the value was incremented; -EOVERFLOW when it was at or above SEM_VALUE_MAX,
 *         -EAGAIN when the CAS kept failing (a wake-up was issued in both cases); or the negative
 *         errno of the futex wake-up.
 */
int psem_post(sem_t *sem);

/*
 * psem_trywait() - take one from @sem's value if it is positive, without sleeping
 * @sem: a process-shared semaphore; its memory may hold anything
 *
 * Return: 0 when one was taken; -EAGAIN when the value was zero or kept changing under every
 *         bounded CAS.
 */
int psem_trywait(sem_t *sem);

/*
 * psem_clockwait() - take one from @sem's value, sleeping until it is positive or @until
 * @sem:   a process-shared semaphore; its memory may hold anything
 * @clock: CLOCK_MONOTONIC or CLOCK_REALTIME, the clock of @until
 * @until: the absolute deadline
 *
 * Not a cancellation point (unlike sem_clockwait()). A scribbler that keeps the value changing
 * cannot keep the caller spinning: after a bounded number of attempts the call returns -EINTR,
 * a spurious wake-up, and the caller re-checks its own state.
 *
 * Return: 0 when one was taken; -ETIMEDOUT past @until; -EINTR on a signal or a spurious
 *         wake-up; -EINVAL for another @clock or an @until with tv_nsec out of range; or another
 *         negative errno of the futex wait.
 */
int psem_clockwait(sem_t *sem, clockid_t clock, const struct timespec *until);

/*
 * psem_getvalue() - read @sem's value
 * @sem: a process-shared semaphore; its memory may hold anything
 * @ret: the value, clamped to 0..SEM_VALUE_MAX (a scribbled one may be anything)
 *
 * Return: 0 (a plain load: it cannot fail).
 */
int psem_getvalue(sem_t *sem, int *ret);
