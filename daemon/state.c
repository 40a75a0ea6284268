/* SPDX-License-Identifier: MIT */
/* state.c — the daemon's private policy state file (see state.h).
 *
 * One line per mailbox: "NAME GENERATION UID GID MODE" (generation in hex, mode in octal),
 * after a first line "shmboxd-state 1"; an ephemeral mailbox's line goes on with
 * " ephemeral PID STARTTIME", its creating process (daemon/ephemeral.c). A daemon without
 * ephemeral mailboxes (before protocol version 3) skips such a line as invalid, and so does not
 * adopt that mailbox. It is replaced atomically (write a temporary file,
 * fsync, rename) after every create and destroy, so a daemon killed at any instant leaves
 * either the old or the new state. Adoption at start-up trusts a segment in /dev/shm only if
 * this file names it with the same generation. Lines that do not parse are reported by the
 * caller (their count is returned) and skipped.
 */
#include "config.h"

#include "daemon/state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/util.h"

#define STATE_MAGIC "shmboxd-state 1"
#define STATE_MAX_ENTRIES 65536

static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

/*
 * state_load() - read the state file at @path
 * @ret: malloc'ed array (free() it), written on success only; a missing file is an empty state
 *
 * Return: the number of lines skipped as invalid (>= 0); -EBADMSG if the file is not a state
 *         file; -ENOMEM; another negative errno.
 */
int state_load(const char *path, StateEntry **ret, size_t *ret_count) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_free_ StateEntry *v = NULL;
        _cleanup_free_ char *line = NULL;
        size_t n = 0, cap = 0, linecap = 0;
        int skipped = 0;
        ssize_t len;

        f = fopen(path, "re");
        if (!f) {
                if (errno != ENOENT)
                        return -errno;
                *ret = NULL;
                *ret_count = 0;
                return 0;
        }
        len = getline(&line, &linecap, f);
        if (len < 0 || strncmp(line, STATE_MAGIC "\n", strlen(STATE_MAGIC) + 1) != 0)
                return -EBADMSG;
        while ((len = getline(&line, &linecap, f)) >= 0) {
                StateEntry e = {};
                char name[NAMES_NAME_MAX + 2];
                unsigned long long gen;
                unsigned uid, gid, mode;
                unsigned long long starttime = 0;
                int used = 0, more = 0, pid = 0;

                if (sscanf(line, "%65s %llx %u %u %o%n", name, &gen, &uid, &gid, &mode, &used) != 5 ||
                    !names_mailbox_valid(name) || (mode & ~0666u) || n >= STATE_MAX_ENTRIES) {
                        skipped++;
                        continue;
                }
                if (strncmp(line + used, " ephemeral ", 11) == 0) {
                        if (sscanf(line + used, " ephemeral %d %llu%n", &pid, &starttime, &more) != 2 || pid < 0) {
                                skipped++;
                                continue;
                        }
                        used += more;
                        e.ephemeral = true;
                        e.owner_pid = pid;
                        e.owner_starttime = starttime;
                }
                if (line[used] != '\n') {
                        skipped++;
                        continue;
                }
                if (n == cap) {
                        StateEntry *nv = reallocarray(v, cap ? cap * 2 : 16, sizeof(*v));
                        if (!nv)
                                return -ENOMEM;
                        v = nv;
                        cap = cap ? cap * 2 : 16;
                }
                strcpy(e.name, name);
                e.generation = gen;
                e.uid = uid;
                e.gid = gid;
                e.mode = mode;
                v[n++] = e;
        }
        *ret = TAKE_PTR(v);
        *ret_count = n;
        return skipped;
}

/*
 * state_save() - replace the state file at @path atomically with @entries
 *
 * Return: 0; a negative errno (the old file is then unchanged).
 */
int state_save(const char *path, const StateEntry *entries, size_t count) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        int fd, r = 0;

        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "w");
        if (!f) {
                r = -errno;
                close(fd);
                unlink(tmp);
                return r;
        }
        fprintf(f, STATE_MAGIC "\n");
        for (size_t i = 0; i < count; i++) {
                fprintf(f, "%s %016" PRIx64 " %u %u %03o", entries[i].name, entries[i].generation,
                        (unsigned)entries[i].uid, (unsigned)entries[i].gid, entries[i].mode);
                if (entries[i].ephemeral)
                        fprintf(f, " ephemeral %d %" PRIu64, (int)entries[i].owner_pid, entries[i].owner_starttime);
                fputc('\n', f);
        }
        if (fflush(f) != 0 || fsync(fileno(f)) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}
