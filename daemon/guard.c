/* SPDX-License-Identifier: MIT */
/* guard.c — survive a peer truncating a mailbox while the daemon reads or writes it.
 *
 * POSIX shm objects cannot be sealed: any process that may open a mailbox can ftruncate() it,
 * and the next access of the daemon to the vanished pages raises SIGBUS. The daemon checks the
 * size with fstat() before it inspects a mailbox (mailbox_check), but a truncation can land
 * between that check and the access, so every access also runs under guard_call(): a SIGBUS
 * handler jumps back to the recovery point of the innermost guarded call, which returns
 * -EBADMSG. The mailbox is then unusable (its users get -EBADMSG or crash, as the threat model
 * allows); the daemon and every other mailbox go on.
 *
 * The recovery point is the daemon's one global besides the command-line options: a signal
 * handler can reach nothing else. The daemon has a single thread, so one pointer suffices.
 */
#include "config.h"

#include "daemon/guard.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>

static sigjmp_buf *volatile guard_point;

static void on_sigbus(int sig, siginfo_t *si, void *ctx) {
        if (guard_point)
                siglongjmp(*guard_point, 1);
        /* not in a guarded access: a bug of ours, die of it as we would have */
        signal(SIGBUS, SIG_DFL);
        raise(SIGBUS);
}

/*
 * guard_install() - install the SIGBUS handler (once, at start-up)
 *
 * Return: 0; -errno from sigaction().
 */
int guard_install(void) {
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        return sigaction(SIGBUS, &sa, NULL) < 0 ? -errno : 0;
}

/*
 * guard_call() - run @fn(@userdata), turning a SIGBUS inside it into -EBADMSG
 *
 * @fn must not allocate or take locks of its own: it may be abandoned at any instruction.
 *
 * Return: what @fn returned; -EBADMSG if it touched a page that is gone.
 */
int guard_call(int (*fn)(void *userdata), void *userdata) {
        sigjmp_buf point;
        sigjmp_buf *volatile outer = guard_point;
        int r;

        if (sigsetjmp(point, 1)) {
                guard_point = outer;
                return -EBADMSG;
        }
        guard_point = &point;
        r = fn(userdata);
        guard_point = outer;
        return r;
}

typedef struct Access {
        void *p;
        uint64_t v;
} Access;

static int load_u64(void *userdata) {
        Access *a = userdata;
        a->v = atomic_load((_Atomic uint64_t *)a->p);
        return 0;
}

static int load_u32(void *userdata) {
        Access *a = userdata;
        a->v = atomic_load((_Atomic uint32_t *)a->p);
        return 0;
}

static int store_u32(void *userdata) {
        Access *a = userdata;
        atomic_store((_Atomic uint32_t *)a->p, (uint32_t)a->v);
        return 0;
}

int guard_load_u64(_Atomic uint64_t *p, uint64_t *ret) {
        Access a = { .p = (void *)p };
        int r = guard_call(load_u64, &a);

        if (r >= 0)
                *ret = a.v;
        return r;
}

int guard_load_u32(_Atomic uint32_t *p, uint32_t *ret) {
        Access a = { .p = (void *)p };
        int r = guard_call(load_u32, &a);

        if (r >= 0)
                *ret = (uint32_t)a.v;
        return r;
}

int guard_store_u32(_Atomic uint32_t *p, uint32_t v) {
        Access a = { .p = (void *)p, .v = v };

        return guard_call(store_u32, &a);
}

static int fetch_and_u64(void *userdata) {
        Access *a = userdata;
        atomic_fetch_and((_Atomic uint64_t *)a->p, a->v);
        return 0;
}

int guard_fetch_and_u64(_Atomic uint64_t *p, uint64_t mask) {
        Access a = { .p = (void *)p, .v = mask };

        return guard_call(fetch_and_u64, &a);
}
