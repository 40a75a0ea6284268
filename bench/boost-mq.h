/* SPDX-License-Identifier: MIT */
/* boost-mq.h — the benchmark's Boost.Interprocess message_queue row: a C interface over the C++
 * of bench/boost-mq.cc, or over the stubs of bench/boost-mq-none.c (-EOPNOTSUPP) when configure
 * found no Boost or no C++ compiler. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct BoostQueue BoostQueue;

const char *boost_mq_not_built(void);
int boost_mq_create(const char *name, unsigned depth, size_t msg_size);
int boost_mq_open(const char *name, BoostQueue **ret);
BoostQueue *boost_mq_close(BoostQueue *q);
void boost_mq_unlink(const char *name);
int boost_mq_send(BoostQueue *q, const void *data, size_t len);
ssize_t boost_mq_recv(BoostQueue *q, void *buf, size_t cap, int timeout_ms);

#ifdef __cplusplus
}
#endif
