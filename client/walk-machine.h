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
        unsigned line;
} Cache;

size_t caches_read(int cpu, Cache *out, size_t max);
unsigned caches_line(const Cache *c, size_t n);
json_object *caches_json(const Cache *c, size_t n);
void caches_format(char *buf, size_t size, const Cache *c, size_t n);
const char *fits_in(uint64_t footprint, const Cache *c, size_t n);
size_t caches_from_json(json_object *a, Cache *out, size_t max);

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
