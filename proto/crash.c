/* SPDX-License-Identifier: MIT */
/* crash.c — named crash points for tests (see crash.h).
 *
 * The environment is read once, at the first pass of any point. The library has no other
 * global state than this and the fork generation; both are documented exceptions. Points
 * compile to nothing without --enable-crash-points, so production builds carry no check.
 */
#include "config.h"

#include "proto/crash.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define NAME_STR(n) #n,
const char *const crash_point_names[] = { CRASH_POINT_LIST(NAME_STR) NULL };
const char *const fault_point_names[] = { FAULT_POINT_LIST(NAME_STR) NULL };

#ifdef SHMBOX_CRASH_POINTS
static struct {
        atomic_int parsed; /* 0 not yet, 1 parsed */
        char name[64];
        unsigned long target;
        int sig;
        atomic_ulong passes;
} crash;

static void crash_parse(void) {
        const char *e = getenv("SHMBOX_CRASH_AT");
        const char *colon;
        size_t n;

        crash.target = 0;
        if (!e || !*e)
                return;
        colon = strchr(e, ':');
        n = colon ? (size_t)(colon - e) : strlen(e);
        if (n >= sizeof(crash.name))
                return;
        memcpy(crash.name, e, n);
        crash.name[n] = 0;
        crash.target = colon ? strtoul(colon + 1, NULL, 10) : 1;
        crash.sig = colon && strstr(colon + 1, ":stop") ? SIGSTOP : SIGKILL;
}

void crash_point(const char *name) {
        if (!atomic_load_explicit(&crash.parsed, memory_order_acquire)) {
                crash_parse();
                atomic_store_explicit(&crash.parsed, 1, memory_order_release);
        }
        if (crash.target == 0 || strcmp(name, crash.name) != 0)
                return;
        if (atomic_fetch_add(&crash.passes, 1) + 1 == crash.target)
                raise(crash.sig);
}

static struct {
        atomic_int parsed;
        char name[64];
        int err;
        unsigned long target;
        atomic_ulong passes;
} fault;

static int errno_by_name(const char *s) {
        static const struct {
                const char *name;
                int value;
        } table[] = {
                { "ENOSPC", ENOSPC }, { "EMFILE", EMFILE }, { "ENFILE", ENFILE }, { "ENOMEM", ENOMEM },
                { "EACCES", EACCES }, { "EIO", EIO },       { "EFBIG", EFBIG },   { "EAGAIN", EAGAIN },
        };

        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
                if (strcmp(s, table[i].name) == 0)
                        return table[i].value;
        return atoi(s);
}

static void fault_parse(void) {
        const char *e = getenv("SHMBOX_FAIL_AT");
        const char *c1, *c2;
        char err[32];
        size_t n;

        fault.target = 0;
        if (!e || !(c1 = strchr(e, ':')))
                return;
        n = (size_t)(c1 - e);
        if (n >= sizeof(fault.name))
                return;
        memcpy(fault.name, e, n);
        fault.name[n] = 0;
        c2 = strchr(c1 + 1, ':');
        n = c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1);
        if (n >= sizeof(err))
                return;
        memcpy(err, c1 + 1, n);
        err[n] = 0;
        fault.err = errno_by_name(err);
        fault.target = c2 ? strtoul(c2 + 1, NULL, 10) : 1;
}

int fault_point(const char *name) {
        if (!atomic_load_explicit(&fault.parsed, memory_order_acquire)) {
                fault_parse();
                atomic_store_explicit(&fault.parsed, 1, memory_order_release);
        }
        if (fault.target == 0 || fault.err <= 0 || strcmp(name, fault.name) != 0)
                return 0;
        return atomic_fetch_add(&fault.passes, 1) + 1 == fault.target ? fault.err : 0;
}
#endif
