/* SPDX-License-Identifier: MIT */
/* walk-machine.h — what the walkthrough learns about this machine: its caches, the physical
 * frames behind a mapping (/proc/self/pagemap), page faults and context switches (rusage), and
 * the state of a process (/proc/PID/stat). */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#define CACHES_MAX 16
#define PEER_PAGES_MAX 64 /* pages listed per range in an event */

/* ---- caches ---------------------------------------------------------------------------------- */

typedef struct Cache {
        unsigned level;
        char type[16]; /* Data, Instruction, Unified */
        char name[8];  /* L1d, L1i, L2, L3 */
        uint64_t size;
        unsigned line; /* bytes, 0: not said */
} Cache;

/* Where the cache sizes came from. */
typedef enum CacheSource {
        CACHE_SOURCE_NONE,    /* nowhere: this machine does not say */
        CACHE_SOURCE_SYSFS,   /* /sys/devices/system/cpu/cpuN/cache/indexK */
        CACHE_SOURCE_SYSCONF, /* glibc's sysconf(_SC_LEVEL*_CACHE_*), which asks the CPU (CPUID) */
} CacheSource;

/*
 * The environment variable that replaces /sys/devices/system/cpu as the root of the cache
 * folders, for tests: pointed at an empty directory it plays a host without sysfs cache
 * entries, so the sysconf fallback runs on any machine. Documented in shmboxctl(1).
 */
#define CACHES_SYSFS_ENV "SHMBOX_WALK_SYSFS_CPU"
#define CACHES_SYSFS_ROOT "/sys/devices/system/cpu"
#define CACHE_LINE_ASSUMED 64 /* the line size when nothing says it: labelled "assumed" */

/* The caches of one CPU and where they were read. */
typedef struct Caches {
        Cache cache[CACHES_MAX];
        size_t n;
        CacheSource source;
        int cpu;                 /* the CPU whose sysfs folder was read */
        char dir[256];           /* that folder */
        bool dir_exists;         /* it exists (it may still list no sizes) */
        unsigned line;           /* bytes of a cache line, never 0 */
        CacheSource line_source; /* NONE: CACHE_LINE_ASSUMED, nothing said it */
} Caches;

/* The caches of @cpu: from sysfs, else from sysconf, else none (see walk-machine.c). */
void caches_read(int cpu, Caches *ret);

/* "sysfs", "sysconf" or "none". */
const char *cache_source_name(CacheSource s);

/* Where the sizes came from, for people: "from sysfs, DIR", "from the CPU via sysconf: no
 * sysfs cache folder at DIR; ...", or the plain statement that this machine reveals none. */
void caches_origin(char *buf, size_t size, const Caches *c);

/* Add to @o: caches (an array), cache_source, cache_cpu, cache_dir, cache_dir_exists,
 * cache_note (caches_origin()), line_size and line_size_source ("sysfs", "sysconf" or
 * "assumed"). Return: 0; -ENOMEM. */
int caches_put_json(json_object *o, const Caches *c);

/* Read back what caches_put_json() added to @o (an event of a peer). */
void caches_from_json(json_object *o, Caches *ret);

/* "L1d 32 KiB, L1i 32 KiB, L2 1 MiB, L3 32 MiB" into @buf ("" with no caches). */
void caches_format(char *buf, size_t size, const Caches *c);

/* The name of the smallest data or unified cache that holds @footprint bytes, "RAM" when none
 * does, "unknown" when no sizes are known. */
const char *fits_in(uint64_t footprint, const Caches *c);

/* The size of the largest data or unified cache, 0 when none is known. */
uint64_t caches_largest(const Caches *c);

/* ---- CPUs and /dev/shm ----------------------------------------------------------------------- */

/* The CPUs this process may run on (its affinity mask: a cpuset may allow fewer than the
 * machine has). Return: their number, 0 if the mask cannot be read; @ret_first (may be NULL):
 * the lowest of them, written only when the number is not 0. */
unsigned machine_cpus(int *ret_first);

/* The bytes an unprivileged user may still write to the file system of @dir (a tmpfs' size
 * limit, for /dev/shm). Return: 0; a negative errno of statvfs(). */
int machine_shm_free(const char *dir, uint64_t *ret);

/* ---- processes ------------------------------------------------------------------------------- */

/* The state letter of @pid from /proc/PID/stat ('S': asleep), or 0 when it cannot be read. */
char proc_state(pid_t pid);

/* Minor page faults and voluntary context switches between two getrusage() snapshots. */
int64_t minflt(const struct rusage *a, const struct rusage *b);
int64_t nvcsw(const struct rusage *a, const struct rusage *b);

/* ---- physical frames ------------------------------------------------------------------------- */

/* This process's page table, as /proc/self/pagemap shows it. */
typedef struct Pagemap {
        int fd; /* /proc/self/pagemap, or -1 when it cannot be opened */
        long page_size;
} Pagemap;

/* Open /proc/self/pagemap into @pm; a failure leaves fd -1 and every page reads unreadable. */
void pagemap_init(Pagemap *pm);
void pagemap_done(Pagemap *pm);

json_object *pages_json(const Pagemap *pm, uint64_t map_addr, uint64_t addr, uint64_t len);

/* How many pages [@addr, @addr + @len) touches (at least one). */
int64_t page_span(const Pagemap *pm, uint64_t addr, uint64_t len);

/* What two processes' page lists say about the frames they share. */
typedef struct Frames {
        bool readable;            /* pagemap could be read at all */
        bool hidden;              /* present pages with frame 0: no CAP_SYS_ADMIN */
        bool same;                /* every page both list as present has the same frame in both */
        unsigned pairs;           /* pages present in both lists */
        int64_t first_a, first_b; /* the frames of the first such page */
        int64_t first_offset;
} Frames;

Frames frames_compare(json_object *a, json_object *b);
json_object *frames_json(const Frames *f);

#define FRAMES_HIDDEN_WHY                                                                                              \
        "/proc/self/pagemap shows frame 0 to a process without CAP_SYS_ADMIN (Linux 4.0+: "                            \
        "physical addresses help Rowhammer attacks); run as root to see them"
