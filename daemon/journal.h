/* SPDX-License-Identifier: MIT */
/* journal.h — the daemon's private session journal: which process holds which attachment, so
 * that a restarted daemon can prove the death of sessions it never saw. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/names.h"

typedef struct JournalRecord {
        uint32_t token;
        unsigned idx;
        pid_t pid;
        uint64_t starttime; /* /proc/PID/stat field 22: with the pid, names one process */
        uint64_t generation;
        char name[NAMES_NAME_MAX + 1];
} JournalRecord;

typedef struct Journal {
        char path[4096];
        int fd;
        size_t lines; /* appended since the last compaction */
} Journal;

int journal_open(Journal *j, const char *path, JournalRecord **ret, size_t *ret_count, uint64_t *ret_next);
int journal_add(Journal *j, const JournalRecord *rec);
int journal_remove(Journal *j, uint32_t token);
int journal_compact(Journal *j, uint32_t next, const JournalRecord *live, size_t count);
void journal_close(Journal *j);

int proc_starttime(pid_t pid, uint64_t *ret);
