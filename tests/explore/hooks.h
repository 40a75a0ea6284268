/* SPDX-License-Identifier: MIT */
/* hooks.h — forced in front of proto/ring.c (-include) in tests/test-explore's build of it: every
 * access of ring.c to shared memory becomes a scheduling point of the explorer.
 *
 * ring.c itself is not changed: the system headers it uses are included here first (their
 * include guards keep ring.c's own #includes from undoing anything), then the names ring.c
 * calls are redefined as macros that call into tests/explore/scheduler.c and then do the real
 * operation:
 *   - every C11 atomic operation: a scheduling point before it (the access it is about to do),
 *     and for a write, the old and new value reported to the explorer's observer;
 *   - sem_post/sem_wait/sem_trywait/sem_timedwait/sem_clockwait/sem_getvalue, and proto/psem.h's
 *     psem_post/psem_trywait/psem_clockwait/psem_getvalue: the scheduler's modelled semaphores
 *     (a blocked waiter is not runnable until a post);
 *   - clock_gettime: the virtual clock; sched_yield: a microsecond of it; the x86 pause of
 *     cpu_relax(): nothing (the load of the spin is the point);
 *   - memcpy/memmove: the copy boundary, a point before and after (and the holder check);
 *   - write/read: the FIFO, which no explored Ring has: reaching it fails the run.
 * Atomics run sequentially consistent, one actor at a time: the explorer checks interleavings,
 * not the reorderings a weaker memory model allows.
 */
#pragma once

#include "config.h" /* before any system header, as in every .c file */

#include <errno.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "proto/psem.h" /* declared before the macros below rename its functions */
#include <unistd.h>

#include "tests/explore/scheduler.h"

/* The real operations, on _Atomic objects, for either compiler. */
#ifdef __clang__
#define EXPLORE_RAW_LOAD(p) __c11_atomic_load((p), __ATOMIC_SEQ_CST)
#define EXPLORE_RAW_STORE(p, v) __c11_atomic_store((p), (v), __ATOMIC_SEQ_CST)
#define EXPLORE_RAW_XCHG(p, v) __c11_atomic_exchange((p), (v), __ATOMIC_SEQ_CST)
#define EXPLORE_RAW_CAS(p, e, d) __c11_atomic_compare_exchange_strong((p), (e), (d), __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)
#define EXPLORE_RAW_FETCH(op, p, v) __c11_atomic_fetch_##op((p), (v), __ATOMIC_SEQ_CST)
#else
#define EXPLORE_RAW_LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define EXPLORE_RAW_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define EXPLORE_RAW_XCHG(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define EXPLORE_RAW_CAS(p, e, d) __atomic_compare_exchange_n((p), (e), (d), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)
#define EXPLORE_RAW_FETCH(op, p, v) __atomic_fetch_##op((p), (v), __ATOMIC_SEQ_CST)
#endif

#define EXPLORE_HERE __func__, __LINE__

#undef atomic_load
#undef atomic_load_explicit
#define atomic_load(p) atomic_load_explicit((p), memory_order_seq_cst)
#define atomic_load_explicit(p, mo)                                                                                    \
        __extension__({                                                                                                \
                __auto_type _xl_p = (p);                                                                               \
                (void)(mo);                                                                                            \
                explore_point(EXPLORE_LOAD, _xl_p, EXPLORE_HERE);                                                      \
                EXPLORE_RAW_LOAD(_xl_p);                                                                               \
        })

#undef atomic_store
#undef atomic_store_explicit
#define atomic_store(p, v) atomic_store_explicit((p), (v), memory_order_seq_cst)
#define atomic_store_explicit(p, v, mo)                                                                                \
        __extension__({                                                                                                \
                __auto_type _xs_p = (p);                                                                               \
                __auto_type _xs_v = (v);                                                                               \
                (void)(mo);                                                                                            \
                explore_point(EXPLORE_STORE, _xs_p, EXPLORE_HERE);                                                     \
                uint64_t _xs_old = (uint64_t)EXPLORE_RAW_LOAD(_xs_p);                                                  \
                EXPLORE_RAW_STORE(_xs_p, _xs_v);                                                                       \
                explore_wrote(_xs_p, _xs_old, (uint64_t)EXPLORE_RAW_LOAD(_xs_p), sizeof(*_xs_p));                      \
        })

#undef atomic_exchange
#undef atomic_exchange_explicit
#define atomic_exchange(p, v) atomic_exchange_explicit((p), (v), memory_order_seq_cst)
#define atomic_exchange_explicit(p, v, mo)                                                                             \
        __extension__({                                                                                                \
                __auto_type _xx_p = (p);                                                                               \
                __auto_type _xx_v = (v);                                                                               \
                (void)(mo);                                                                                            \
                explore_point(EXPLORE_RMW, _xx_p, EXPLORE_HERE);                                                       \
                __auto_type _xx_old = EXPLORE_RAW_XCHG(_xx_p, _xx_v);                                                  \
                explore_wrote(_xx_p, (uint64_t)_xx_old, (uint64_t)EXPLORE_RAW_LOAD(_xx_p), sizeof(*_xx_p));            \
                _xx_old;                                                                                               \
        })

/* A CAS: the write is reported only when it succeeded. Weak is strong here (no spurious
 * failure: one actor at a time). */
#undef atomic_compare_exchange_strong
#undef atomic_compare_exchange_strong_explicit
#undef atomic_compare_exchange_weak
#undef atomic_compare_exchange_weak_explicit
#define atomic_compare_exchange_strong(p, e, d)                                                                        \
        atomic_compare_exchange_strong_explicit((p), (e), (d), memory_order_seq_cst, memory_order_seq_cst)
#define atomic_compare_exchange_weak(p, e, d)                                                                          \
        atomic_compare_exchange_strong_explicit((p), (e), (d), memory_order_seq_cst, memory_order_seq_cst)
#define atomic_compare_exchange_weak_explicit(p, e, d, s, f)                                                           \
        atomic_compare_exchange_strong_explicit((p), (e), (d), (s), (f))
#define atomic_compare_exchange_strong_explicit(p, e, d, s, f)                                                         \
        __extension__({                                                                                                \
                __auto_type _xc_p = (p);                                                                               \
                __auto_type _xc_e = (e);                                                                               \
                __auto_type _xc_d = (d);                                                                               \
                (void)(s);                                                                                             \
                (void)(f);                                                                                             \
                explore_point(EXPLORE_RMW, _xc_p, EXPLORE_HERE);                                                       \
                uint64_t _xc_old = (uint64_t)*_xc_e;                                                                   \
                bool _xc_ok = EXPLORE_RAW_CAS(_xc_p, _xc_e, _xc_d);                                                    \
                if (_xc_ok)                                                                                            \
                        explore_wrote(_xc_p, _xc_old, (uint64_t)_xc_d, sizeof(*_xc_p));                                \
                _xc_ok;                                                                                                \
        })

#define EXPLORE_FETCH(op, p, v)                                                                                        \
        __extension__({                                                                                                \
                __auto_type _xf_p = (p);                                                                               \
                __auto_type _xf_v = (v);                                                                               \
                explore_point(EXPLORE_RMW, _xf_p, EXPLORE_HERE);                                                       \
                __auto_type _xf_old = EXPLORE_RAW_FETCH(op, _xf_p, _xf_v);                                             \
                explore_wrote(_xf_p, (uint64_t)_xf_old, (uint64_t)EXPLORE_RAW_LOAD(_xf_p), sizeof(*_xf_p));            \
                _xf_old;                                                                                               \
        })
#undef atomic_fetch_add
#undef atomic_fetch_add_explicit
#undef atomic_fetch_sub
#undef atomic_fetch_sub_explicit
#undef atomic_fetch_and
#undef atomic_fetch_and_explicit
#undef atomic_fetch_or
#undef atomic_fetch_or_explicit
#undef atomic_fetch_xor
#undef atomic_fetch_xor_explicit
#define atomic_fetch_add(p, v) EXPLORE_FETCH(add, p, v)
#define atomic_fetch_add_explicit(p, v, mo) EXPLORE_FETCH(add, p, v)
#define atomic_fetch_sub(p, v) EXPLORE_FETCH(sub, p, v)
#define atomic_fetch_sub_explicit(p, v, mo) EXPLORE_FETCH(sub, p, v)
#define atomic_fetch_and(p, v) EXPLORE_FETCH(and, p, v)
#define atomic_fetch_and_explicit(p, v, mo) EXPLORE_FETCH(and, p, v)
#define atomic_fetch_or(p, v) EXPLORE_FETCH(or, p, v)
#define atomic_fetch_or_explicit(p, v, mo) EXPLORE_FETCH(or, p, v)
#define atomic_fetch_xor(p, v) EXPLORE_FETCH(xor, p, v)
#define atomic_fetch_xor_explicit(p, v, mo) EXPLORE_FETCH(xor, p, v)

/* Semaphores, the clock, spins. */
#define sem_post(s) explore_sem_post(s)
#define sem_wait(s) explore_sem_wait((s), NULL, EXPLORE_HERE)
#define sem_trywait(s) explore_sem_trywait(s)
#define sem_timedwait(s, t) explore_sem_wait((s), (t), EXPLORE_HERE)
#define sem_clockwait(s, c, t) explore_sem_wait((s), (t), EXPLORE_HERE)
#define sem_getvalue(s, v) explore_sem_getvalue((s), (v))
/* proto/psem.c's operations (what ring.c calls): the same models, in psem's convention of a
 * negative errno. psem.c itself is not in this build. */
static inline int explore_psem_result(int rc) {
        return rc < 0 ? -(errno ? errno : EINVAL) : 0;
}
#define psem_post(s) explore_psem_result(explore_sem_post(s))
#define psem_trywait(s) explore_psem_result(explore_sem_trywait(s))
#define psem_clockwait(s, c, t) explore_psem_result(explore_sem_wait((s), (t), EXPLORE_HERE))
#define psem_getvalue(s, v) explore_psem_result(explore_sem_getvalue((s), (v)))
#define clock_gettime(c, t) explore_clock_gettime((c), (t))
#define sched_yield() explore_sched_yield(EXPLORE_HERE)
#define nanosleep(t, r) ((void)(t), (void)(r), explore_sched_yield(EXPLORE_HERE))
/* cpu_relax() on x86 (ring.c's only use of it) */
#define __builtin_ia32_pause() explore_pause(EXPLORE_HERE)

/* The copy boundary. */
#define memcpy(d, s, n) explore_memcpy((d), (s), (n), EXPLORE_HERE)
#define memmove(d, s, n) explore_memmove((d), (s), (n), EXPLORE_HERE)

/* The FIFO: not modelled (has_fifo is false in every explored Ring); reaching it fails. */
#define write(fd, b, n) ((void)(b), (void)(n), (ssize_t)explore_fifo_io((fd), EXPLORE_HERE))
#define read(fd, b, n) ((void)(b), (void)(n), (ssize_t)explore_fifo_io((fd), EXPLORE_HERE))
