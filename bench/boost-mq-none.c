/* SPDX-License-Identifier: MIT */
/* boost-mq-none.c — the Boost row's stubs, built when configure found no Boost.Interprocess or no
 * C++ compiler: every call fails with -EOPNOTSUPP, and boost_mq_not_built() says why. */
#include "config.h"

#include "bench/boost-mq.h"

#include <errno.h>

/* boost_mq_not_built() - why there is no Boost row, for the table's legend */
const char *boost_mq_not_built(void) {
        return "not run: this shmbox-bench was built without Boost.Interprocess (Debian: libboost-dev "
               "and g++, then configure again)";
}

int boost_mq_create(const char *name, unsigned depth, size_t msg_size) {
        return -EOPNOTSUPP;
}

int boost_mq_open(const char *name, BoostQueue **ret) {
        return -EOPNOTSUPP;
}

BoostQueue *boost_mq_close(BoostQueue *q) {
        return NULL;
}

void boost_mq_unlink(const char *name) {
}

int boost_mq_send(BoostQueue *q, const void *data, size_t len) {
        return -EOPNOTSUPP;
}

ssize_t boost_mq_recv(BoostQueue *q, void *buf, size_t cap, int timeout_ms) {
        return -EOPNOTSUPP;
}
