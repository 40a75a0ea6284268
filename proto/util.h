/* SPDX-License-Identifier: MIT */
/* util.h — small helpers shared by every part of shmbox: cleanup attributes, hand-off, limits. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_TO(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* An assertion that is never compiled out: for our own invariants, never for input. */
#define assert_se(x)                                                                                                   \
        do {                                                                                                           \
                if (_unlikely_(!(x)))                                                                                  \
                        abort();                                                                                       \
        } while (0)

/* Hand ownership out of a _cleanup_ variable: `*ret = TAKE_PTR(p);`. */
#define TAKE_PTR(p)                                                                                                    \
        ({                                                                                                             \
                __typeof__(p) _p = (p);                                                                                \
                (p) = NULL;                                                                                            \
                _p;                                                                                                    \
        })
#define TAKE_FD(fd)                                                                                                    \
        ({                                                                                                             \
                int _fd = (fd);                                                                                        \
                (fd) = -1;                                                                                             \
                _fd;                                                                                                   \
        })

/* Close @fd if it is open, keeping errno; returns -1 so `fd = safe_close(fd);` reads naturally. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -1;
}

static inline void closep(int *fd) {
        safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void freep(void *p) {
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* The positive errno of a failed libc call, never 0 (some report failure without errno). */
static inline int errno_or(int fallback) {
        return errno > 0 ? errno : fallback;
}
