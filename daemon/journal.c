/* SPDX-License-Identifier: MIT */
/* journal.c — the daemon's private session journal (see journal.h).
 *
 * An append-only text file: "+ TOKEN IDX PID STARTTIME GENERATION NAME" when an attachment is
 * granted (written before the token appears in shared memory), "- TOKEN" once it is released
 * (after its repair), and "= NEXT", the next token to issue, first in a compacted journal. The
 * journal is where a restarted daemon takes its token counter from: above every token it ever
 * recorded, never from shared memory (which any attached process can write). Replaying it gives the live attachments; a torn last line (a daemon killed
 * while writing) is ignored. The file only has to survive the daemon, not the machine — a reboot
 * empties /dev/shm too — so it is never fsync'ed. It is compacted at start-up and whenever it
 * grows well past the live set.
 */
#include "config.h"

#include "daemon/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/layout.h"
#include "proto/util.h"

#define JOURNAL_MAX_RECORDS (1u << 20)

/*
 * proc_starttime() - the start time of process @pid in clock ticks since boot
 *
 * Return: 0; -ESRCH if there is no such process; -EBADMSG if /proc/PID/stat does not parse.
 */
int proc_starttime(pid_t pid, uint64_t *ret) {
        char path[64], buf[1024], *p;
        unsigned long long v;
        ssize_t n;
        int fd;

        if (pid <= 0)
                return -ESRCH;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : -errno;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return -ESRCH;
        buf[n] = 0;
        /* the command name may hold spaces and parentheses: fields start after the last ')' */
        p = strrchr(buf, ')');
        if (!p)
                return -EBADMSG;
        /* field 3 is the state; starttime is field 22, so skip 19 more fields */
        p += 2;
        for (int i = 0; i < 19; i++) {
                p = strchr(p, ' ');
                if (!p)
                        return -EBADMSG;
                p++;
        }
        if (sscanf(p, "%llu", &v) != 1)
                return -EBADMSG;
        *ret = v;
        return 0;
}

static int write_line(int fd, const char *s, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, s, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                s += k;
                n -= (size_t)k;
        }
        return 0;
}

static int format_add(char *buf, size_t size, const JournalRecord *r) {
        return snprintf(buf, size, "+ %u %u %d %" PRIu64 " %016" PRIx64 " %s\n", r->token, r->idx, (int)r->pid,
                        r->starttime, r->generation, r->name);
}

/*
 * journal_open() - replay the journal at @path, then compact it to its live records
 * @ret: the live records, malloc'ed (free() it); written on success only
 * @ret_next: above every token the journal ever recorded (2^32 after the last token: the
 *            counter wrapped), at least its "= NEXT"
 *
 * Return: 0; -ENOMEM; a negative errno of the file system.
 */
int journal_open(Journal *j, const char *path, JournalRecord **ret, size_t *ret_count, uint64_t *ret_next) {
        _cleanup_free_ JournalRecord *v = NULL;
        _cleanup_free_ char *line = NULL;
        size_t n = 0, cap = 0, linecap = 0;
        uint64_t next = 0;
        FILE *f;
        int r;

        *j = (Journal){ .fd = -1 };
        if (strlen(path) >= sizeof(j->path))
                return -ENAMETOOLONG;
        strcpy(j->path, path);

        f = fopen(path, "re");
        if (!f && errno != ENOENT)
                return -errno;
        while (f && getline(&line, &linecap, f) >= 0) {
                JournalRecord rec = {};
                unsigned long long start, gen;
                unsigned token, idx;
                char name[NAMES_NAME_MAX + 2];
                int pid, used = 0;

                if (sscanf(line, "+ %u %u %d %llu %llx %65s%n", &token, &idx, &pid, &start, &gen, name, &used) == 6 &&
                    line[used] == '\n')
                        next = MAX(next, (uint64_t)token + 1); /* issued, whatever else the line says */
                if (sscanf(line, "+ %u %u %d %llu %llx %65s%n", &token, &idx, &pid, &start, &gen, name, &used) == 6 &&
                    line[used] == '\n' && names_mailbox_valid(name) && n < JOURNAL_MAX_RECORDS) {
                        if (n == cap) {
                                JournalRecord *nv = reallocarray(v, cap ? cap * 2 : 64, sizeof(*v));
                                if (!nv) {
                                        fclose(f);
                                        return -ENOMEM;
                                }
                                v = nv;
                                cap = cap ? cap * 2 : 64;
                        }
                        rec = (JournalRecord){
                                .token = token, .idx = idx, .pid = pid, .starttime = start, .generation = gen
                        };
                        strcpy(rec.name, name);
                        v[n++] = rec;
                } else if (sscanf(line, "= %u%n", &token, &used) == 1 && line[used] == '\n') {
                        next = MAX(next, (uint64_t)token);
                } else if (sscanf(line, "- %u%n", &token, &used) == 1 && line[used] == '\n') {
                        for (size_t i = 0; i < n; i++)
                                if (v[i].token == token) {
                                        v[i] = v[--n];
                                        break;
                                }
                }
        }
        if (f)
                fclose(f);

        r = journal_compact(j, next > UINT32_MAX ? TOKEN_FIRST : (uint32_t)next, v, n);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        *ret_count = n;
        *ret_next = next;
        return 0;
}

/*
 * journal_compact() - replace the journal with @next (the next token to issue) and exactly
 * @live, and append from there on
 *
 * Return: 0; a negative errno (the journal stays as it was).
 */
int journal_compact(Journal *j, uint32_t next, const JournalRecord *live, size_t count) {
        _cleanup_close_ int fd = -1;
        char tmp[4096 + 8], buf[256];
        int r;

        if (snprintf(tmp, sizeof(tmp), "%s.tmp", j->path) >= (int)sizeof(tmp))
                return -ENAMETOOLONG;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0600);
        if (fd < 0)
                return -errno;
        r = write_line(fd, buf, (size_t)snprintf(buf, sizeof(buf), "= %u\n", next));
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        for (size_t i = 0; i < count; i++) {
                int len = format_add(buf, sizeof(buf), &live[i]);
                r = write_line(fd, buf, (size_t)len);
                if (r < 0) {
                        unlink(tmp);
                        return r;
                }
        }
        if (rename(tmp, j->path) < 0) {
                r = -errno;
                unlink(tmp);
                return r;
        }
        safe_close(j->fd);
        j->fd = TAKE_FD(fd);
        j->lines = count;
        return 0;
}

int journal_add(Journal *j, const JournalRecord *rec) {
        char buf[256];
        int len = format_add(buf, sizeof(buf), rec);

        if (j->fd < 0)
                return -EBADF;
        j->lines++;
        return write_line(j->fd, buf, (size_t)len);
}

int journal_remove(Journal *j, uint32_t token) {
        char buf[32];
        int len = snprintf(buf, sizeof(buf), "- %u\n", token);

        if (j->fd < 0)
                return -EBADF;
        j->lines++;
        return write_line(j->fd, buf, (size_t)len);
}

void journal_close(Journal *j) {
        j->fd = safe_close(j->fd);
}
