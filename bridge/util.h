/* SPDX-License-Identifier: MIT */
/* util.h — shmbox-bridge's small helpers: cleanup attributes, hand-off, clocks, bounded copies.
 *
 * The bridge is an ordinary client of libshmbox and sees only <shmbox.h>; these few macros are
 * its own copy of what proto/util.h gives the daemon and the library.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Hand ownership out of a _cleanup_ variable: `*ret = TAKE_PTR(p);`. */
#define TAKE_PTR(p)                                                                                                    \
        ({                                                                                                             \
                __typeof__(p) _p = (p);                                                                                \
                (p) = NULL;                                                                                            \
                _p;                                                                                                    \
        })

static inline void freep(void *p) {
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

/* Copy @src into the array @dst; false (and @dst untouched) if it does not fit. */
#define strcpy_bounded(dst, src)                                                                                       \
        ({                                                                                                             \
                const char *_s = (src);                                                                                \
                bool _fits = strlen(_s) < sizeof(dst);                                                                 \
                if (_fits)                                                                                             \
                        memcpy((dst), _s, strlen(_s) + 1);                                                             \
                _fits;                                                                                                 \
        })

static inline int64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
