/* SPDX-License-Identifier: MIT */
/* names.c — the rules for prefixes and mailbox names, and the names of their objects in /dev/shm.
 *
 * A daemon's objects all begin with "<prefix>." in /dev/shm (semaphores with "sem.<prefix>."),
 * so one `ls /dev/shm | grep prefix` shows everything an instance owns:
 *
 *   <prefix>.NAME                       the segment (header + slots)
 *   sem.<prefix>.NAME.<role>.<gen>      the named semaphores (role: lock, items, space)
 *   <prefix>..tmp.NAME.<gen>            a segment being built, published with link() when done
 *   <prefix>..lock                      the instance's flock (one daemon per prefix)
 *   <prefix>..fifo.NAME.<gen>           the FIFO that event loops poll (shmbox_fd)
 *   <prefix>..sfifo.NAME.<gen>.<idx>    a broadcast subscriber's own FIFO, per attachment index
 *
 * Mailbox names never start with '.', so "<prefix>.." names can never collide with a mailbox.
 * The semaphores carry the mailbox generation, so a client that raced a destroy + create of the
 * same name can never pair the new semaphores with the old segment. A prefix never contains a
 * '.', and "sem" is refused as a prefix: its segments would live in the semaphores' namespace.
 */
#include "config.h"

#include "proto/names.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool char_ok(char c, bool dots) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
               (dots && c == '.');
}

/*
 * names_prefix_valid() - whether @prefix may name a daemon instance: [A-Za-z0-9_-]{1,32}, not "sem"
 */
bool names_prefix_valid(const char *prefix) {
        size_t n;

        if (!prefix)
                return false;
        n = strnlen(prefix, NAMES_PREFIX_MAX + 1);
        if (n < 1 || n > NAMES_PREFIX_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!char_ok(prefix[i], false))
                        return false;
        return strcmp(prefix, "sem") != 0;
}

/*
 * names_mailbox_valid() - whether @name may name a mailbox: [A-Za-z0-9._-]{1,64}, not starting with '.'
 *
 * Names are case-sensitive: "Orders" and "orders" are two mailboxes.
 */
bool names_mailbox_valid(const char *name) {
        size_t n;

        if (!name)
                return false;
        n = strnlen(name, NAMES_NAME_MAX + 1);
        if (n < 1 || n > NAMES_NAME_MAX || name[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!char_ok(name[i], true))
                        return false;
        return true;
}

static int format(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int format(char *buf, size_t size, const char *fmt, ...) {
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, size, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= size)
                return -ENAMETOOLONG;
        return 0;
}

/*
 * names_segment() - the shm_open() name of mailbox @name of instance @prefix ("/<prefix>.<name>")
 *
 * Return: 0; -EINVAL for an invalid prefix or name; -ENAMETOOLONG if @buf is too small.
 */
int names_segment(char *buf, size_t size, const char *prefix, const char *name) {
        if (!names_prefix_valid(prefix) || !names_mailbox_valid(name))
                return -EINVAL;
        return format(buf, size, "/%s.%s", prefix, name);
}

/*
 * names_segment_tmp() - the shm_open() name under which a segment is built before it is published
 *
 * Return: as names_segment().
 */
int names_segment_tmp(char *buf, size_t size, const char *prefix, const char *name, uint64_t gen) {
        if (!names_prefix_valid(prefix) || !names_mailbox_valid(name))
                return -EINVAL;
        return format(buf, size, "/%s..tmp.%s.%016llx", prefix, name, (unsigned long long)gen);
}

const char *names_role_str(SemRole role) {
        static const char *const table[_SEM_ROLE_MAX] = {
                [SEM_LOCK] = "lock",
                [SEM_ITEMS] = "items",
                [SEM_SPACE] = "space",
        };
        return (unsigned)role < _SEM_ROLE_MAX ? table[role] : NULL;
}

/*
 * names_semaphore() - the sem_open() name of one of a mailbox's semaphores
 *
 * Return: as names_segment(); -EINVAL for an unknown @role.
 */
int names_semaphore(char *buf, size_t size, const char *prefix, const char *name, SemRole role, uint64_t gen) {
        if (!names_prefix_valid(prefix) || !names_mailbox_valid(name) || !names_role_str(role))
                return -EINVAL;
        return format(buf, size, "/%s.%s.%s.%016llx", prefix, name, names_role_str(role), (unsigned long long)gen);
}

/*
 * names_fifo() - the path of a mailbox's FIFO in /dev/shm (a path: mkfifo() and open() take one)
 *
 * Return: as names_segment().
 */
int names_fifo(char *buf, size_t size, const char *prefix, const char *name, uint64_t gen) {
        if (!names_prefix_valid(prefix) || !names_mailbox_valid(name))
                return -EINVAL;
        return format(buf, size, SHM_DIR "/%s..fifo.%s.%016llx", prefix, name, (unsigned long long)gen);
}

/*
 * names_sub_fifo() - the path of the FIFO of attachment index @idx of a broadcast mailbox, which
 * the subscriber there polls (shmbox_fd): made by the daemon on the first request for it, kept
 * until the mailbox is destroyed
 *
 * Return: as names_segment(); -EINVAL for an index of no attachment.
 */
int names_sub_fifo(char *buf, size_t size, const char *prefix, const char *name, uint64_t gen, unsigned idx) {
        if (!names_prefix_valid(prefix) || !names_mailbox_valid(name) || idx >= 256)
                return -EINVAL;
        return format(buf, size, SHM_DIR "/%s..sfifo.%s.%016llx.%u", prefix, name, (unsigned long long)gen, idx);
}

/*
 * names_sub_fifo_base() - names_sub_fifo() without the index: a sender appends the index of
 * each subscriber it signals (proto/bcast.c)
 *
 * Return: as names_segment().
 */
int names_sub_fifo_base(char *buf, size_t size, const char *prefix, const char *name, uint64_t gen) {
        if (!names_prefix_valid(prefix) || !names_mailbox_valid(name))
                return -EINVAL;
        return format(buf, size, SHM_DIR "/%s..sfifo.%s.%016llx.", prefix, name, (unsigned long long)gen);
}

/*
 * names_lockfile() - the path of the instance lock file of @prefix, in /dev/shm
 *
 * It lives beside the objects it protects, so two daemons with the same prefix collide even
 * when they were given different sockets or state directories.
 *
 * Return: as names_segment().
 */
int names_lockfile(char *buf, size_t size, const char *prefix) {
        if (!names_prefix_valid(prefix))
                return -EINVAL;
        return format(buf, size, SHM_DIR "/%s..lock", prefix);
}
