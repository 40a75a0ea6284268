/* crash.c — named crash points for tests (see crash.h).
 *
 * The environment is read once, at the first pass of any point. The library has no other
 * global state than this and the fork generation; both are documented exceptions. Points
 * compile to nothing without --enable-crash-points, so production builds carry no check.
 */
#include "config.h"

#include "proto/crash.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define NAME_STR(n) #n,
const char *const crash_point_names[] = { CRASH_POINT_LIST(NAME_STR) NULL };

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
#endif
