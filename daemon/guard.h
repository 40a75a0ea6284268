/* SPDX-License-Identifier: MIT */
/* guard.h — the daemon survives a peer truncating a mailbox under it: accesses to a mapping go
 * through guard_call(), which turns a SIGBUS into -EBADMSG. */
#pragma once

#include <stdatomic.h>
#include <stdint.h>

int guard_install(void);
int guard_call(int (*fn)(void *userdata), void *userdata);

int guard_load_u64(_Atomic uint64_t *p, uint64_t *ret);
int guard_load_u32(_Atomic uint32_t *p, uint32_t *ret);
int guard_store_u32(_Atomic uint32_t *p, uint32_t v);
int guard_fetch_and_u64(_Atomic uint64_t *p, uint64_t mask);
