/* SPDX-License-Identifier: MIT */
/* boost-mq.cc — the benchmark's Boost.Interprocess row: boost::interprocess::message_queue behind
 * the C interface of bench/boost-mq.h.
 *
 * message_queue is the closest peer of shmbox a C++ team finds: a named shared-memory segment
 * (/dev/shm/<name>) holding a ring of fixed-size messages, a process-shared pthread mutex and two
 * process-shared condition variables, so that a send or a receive makes no system call unless
 * one side has to wait. Both sides copy: send() copies in and receive() copies out, each under
 * the queue's mutex. The queue is created (create_only, 0600) by the driver with the channel's
 * depth and message size, opened by name in each worker, and removed with remove() (shm_unlink)
 * by channel_free(); an interrupted run's segment carries the run's prefix, which the driver
 * sweeps from /dev/shm. Boost reports failures with exceptions; none crosses into C: each is
 * turned into a negative errno here.
 */
#include "config.h"

#include "bench/boost-mq.h"

#include <cerrno>
#include <new>

#include <boost/date_time/posix_time/posix_time_types.hpp>
#include <boost/interprocess/ipc/message_queue.hpp>

namespace bip = boost::interprocess;

struct BoostQueue {
        explicit BoostQueue(const char *name) : mq(bip::open_only, name) {
        }
        bip::message_queue mq;
};

/* A Boost.Interprocess exception as a negative errno. */
static int errno_of(const bip::interprocess_exception &e) {
        switch (e.get_error_code()) {
        case bip::already_exists_error: return -EEXIST;
        case bip::not_found_error: return -ENOENT;
        case bip::size_error: return -EMSGSIZE;
        case bip::out_of_memory_error: return -ENOMEM;
        case bip::security_error: return -EACCES;
        default: return e.get_native_error() > 0 ? -e.get_native_error() : -EIO;
        }
}

/* boost_mq_not_built() - NULL: the Boost row is built */
const char *boost_mq_not_built(void) {
        return nullptr;
}

/*
 * boost_mq_create() - create the queue @name (no leading slash: Boost adds it) of @depth
 * messages of at most @msg_size bytes, 0600; nothing stays open in the caller
 *
 * Return: 0; -EEXIST; -EINVAL for a zero @depth or @msg_size; another negative errno.
 */
int boost_mq_create(const char *name, unsigned depth, size_t msg_size) {
        if (depth == 0 || msg_size == 0)
                return -EINVAL;
        try {
                bip::message_queue mq(bip::create_only, name, depth, msg_size, bip::permissions(0600));
        } catch (const bip::interprocess_exception &e) {
                return errno_of(e);
        } catch (const std::bad_alloc &) {
                return -ENOMEM;
        } catch (...) {
                return -EIO;
        }
        return 0;
}

/*
 * boost_mq_open() - open the queue @name in this process
 *
 * Return: 0 and @ret, freed with boost_mq_close(); -ENOENT; another negative errno.
 */
int boost_mq_open(const char *name, BoostQueue **ret) {
        try {
                *ret = new BoostQueue(name);
        } catch (const bip::interprocess_exception &e) {
                return errno_of(e);
        } catch (const std::bad_alloc &) {
                return -ENOMEM;
        } catch (...) {
                return -EIO;
        }
        return 0;
}

/* boost_mq_close() - unmap the queue (it stays until boost_mq_unlink()); NULL is accepted.
 * Returns NULL. */
BoostQueue *boost_mq_close(BoostQueue *q) {
        delete q;
        return nullptr;
}

/* boost_mq_unlink() - remove the queue @name; a missing one is fine */
void boost_mq_unlink(const char *name) {
        try {
                (void)bip::message_queue::remove(name);
        } catch (...) {
        }
}

/*
 * boost_mq_send() - copy @len bytes into the queue, blocking while it is full
 *
 * Return: 0; -EMSGSIZE if @len exceeds the queue's message size; another negative errno.
 */
int boost_mq_send(BoostQueue *q, const void *data, size_t len) {
        try {
                q->mq.send(data, len, 0);
        } catch (const bip::interprocess_exception &e) {
                return errno_of(e);
        } catch (...) {
                return -EIO;
        }
        return 0;
}

/*
 * boost_mq_recv() - copy the next message into @buf (@cap at least the queue's message size)
 * @timeout_ms: -1 blocks until a message comes; >= 0 at most that long
 *
 * Return: its length; -ETIMEDOUT; -EMSGSIZE if @cap is below the queue's message size; another
 *         negative errno.
 */
ssize_t boost_mq_recv(BoostQueue *q, void *buf, size_t cap, int timeout_ms) {
        bip::message_queue::size_type got = 0;
        unsigned priority = 0;

        try {
                if (timeout_ms < 0)
                        q->mq.receive(buf, cap, got, priority);
                else if (!q->mq.timed_receive(buf, cap, got, priority,
                                              boost::posix_time::microsec_clock::universal_time() +
                                                      boost::posix_time::milliseconds(timeout_ms)))
                        return -ETIMEDOUT;
        } catch (const bip::interprocess_exception &e) {
                return errno_of(e);
        } catch (...) {
                return -EIO;
        }
        return (ssize_t)got;
}
