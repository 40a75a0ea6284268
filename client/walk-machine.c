/* SPDX-License-Identifier: MIT */
/* walk-machine.c — what the walkthrough learns about this machine: its caches (sysfs or sysconf), the
 * physical frames behind a mapping (/proc/self/pagemap), page faults and context switches
 * (rusage), and the state of a process (/proc/PID/stat). Each function reads what the kernel
 * shows this process; nothing here is estimated. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "client/walk-machine.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "client/walk-util.h"

/* ---- caches ---------------------------------------------------------------------------------- */

/* Read a short sysfs attribute into @buf without its newline. Return: 0; -errno. */
static int read_attr(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return 0;
}

/* "32K", "1024K", "32M", "512": bytes, or 0 when it does not parse. */
static uint64_t parse_cache_size(const char *s) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s)
                return 0;
        switch (*end) {
        case 'K': return (uint64_t)v << 10;
        case 'M': return (uint64_t)v << 20;
        case 'G': return (uint64_t)v << 30;
        case '\0': return v;
        default: return 0;
        }
}

/* The folder sysfs describes the caches of @cpu in: $SHMBOX_WALK_SYSFS_CPU/cpuN/cache when the
 * variable is set (for tests: an empty folder plays a host without cache entries), else
 * /sys/devices/system/cpu/cpuN/cache. */
static void caches_dir(int cpu, char *buf, size_t size) {
        const char *root = getenv(CACHES_SYSFS_ENV);

        if (!root || !*root)
                root = CACHES_SYSFS_ROOT;
        snprintf(buf, size, "%s/cpu%d/cache", root, cpu);
}

static void cache_name(Cache *c) {
        snprintf(c->name, sizeof(c->name), "L%u%s", c->level % 10,
                 strcmp(c->type, "Data") == 0          ? "d"
                 : strcmp(c->type, "Instruction") == 0 ? "i"
                                                       : "");
}

/* The caches in @dir/indexK, in sysfs order (by level). Return: how many were added to @c. */
static size_t caches_read_sysfs(const char *dir, Caches *c) {
        size_t n0 = c->n;

        for (int i = 0; i < 32 && c->n < CACHES_MAX; i++) {
                char path[PATH_MAX], v[64];
                Cache e = {};

                snprintf(path, sizeof(path), "%s/index%d/level", dir, i);
                if (read_attr(path, v, sizeof(v)) < 0)
                        break;
                e.level = (unsigned)strtoul(v, NULL, 10);
                snprintf(path, sizeof(path), "%s/index%d/type", dir, i);
                if (read_attr(path, e.type, sizeof(e.type)) < 0)
                        continue;
                snprintf(path, sizeof(path), "%s/index%d/size", dir, i);
                if (read_attr(path, v, sizeof(v)) < 0 || (e.size = parse_cache_size(v)) == 0)
                        continue;
                snprintf(path, sizeof(path), "%s/index%d/coherency_line_size", dir, i);
                if (read_attr(path, v, sizeof(v)) == 0)
                        e.line = (unsigned)strtoul(v, NULL, 10);
                cache_name(&e);
                c->cache[c->n++] = e;
        }
        return c->n - n0;
}

/* sysconf()'s value for @name as a byte count: 0 where glibc does not know it (0 or -1). */
static uint64_t sysconf_bytes(int name) {
        long v = sysconf(name);

        return v > 0 ? (uint64_t)v : 0;
}

/* The caches glibc reports from the CPU's own description (CPUID on x86), in sysfs's order.
 * Return: how many were added to @c (0 with a C library that has no such names). */
static size_t caches_read_sysconf(Caches *c) {
        size_t n0 = c->n;
#ifdef _SC_LEVEL1_DCACHE_SIZE
        static const struct {
                unsigned level;
                const char *type;
                int size, line;
        } names[] = {
                { 1, "Data", _SC_LEVEL1_DCACHE_SIZE, _SC_LEVEL1_DCACHE_LINESIZE },
                { 1, "Instruction", _SC_LEVEL1_ICACHE_SIZE, _SC_LEVEL1_ICACHE_LINESIZE },
                { 2, "Unified", _SC_LEVEL2_CACHE_SIZE, _SC_LEVEL2_CACHE_LINESIZE },
                { 3, "Unified", _SC_LEVEL3_CACHE_SIZE, _SC_LEVEL3_CACHE_LINESIZE },
                { 4, "Unified", _SC_LEVEL4_CACHE_SIZE, _SC_LEVEL4_CACHE_LINESIZE },
        };

        for (size_t i = 0; i < ELEMENTSOF(names) && c->n < CACHES_MAX; i++) {
                Cache e = { .level = names[i].level, .size = sysconf_bytes(names[i].size) };

                if (e.size == 0)
                        continue;
                e.line = (unsigned)sysconf_bytes(names[i].line);
                snprintf(e.type, sizeof(e.type), "%s", names[i].type);
                cache_name(&e);
                c->cache[c->n++] = e;
        }
#endif
        return c->n - n0;
}

/*
 * caches_read() - the caches of @cpu: sizes, line size, and where they were read
 * @ret: filled in completely (it cannot fail: a machine that says nothing has source "none")
 *
 * sysfs comes first: it says what one core has, where glibc's sysconf(_SC_LEVEL3_CACHE_SIZE)
 * may report the L3 of a whole package or a sum over dies (or whatever a hypervisor's CPUID
 * claims). Many virtual machines have no cache folder in sysfs at all; there the sizes come
 * from sysconf, which asks the CPU. The line size comes from the same source, else from
 * _SC_LEVEL1_DCACHE_LINESIZE, else 64 bytes is assumed and marked so.
 */
void caches_read(int cpu, Caches *ret) {
        Caches c = { .cpu = cpu };
        struct stat st;

        caches_dir(cpu, c.dir, sizeof(c.dir));
        c.dir_exists = stat(c.dir, &st) == 0 && S_ISDIR(st.st_mode);
        if (caches_read_sysfs(c.dir, &c) > 0)
                c.source = CACHE_SOURCE_SYSFS;
        else if (caches_read_sysconf(&c) > 0)
                c.source = CACHE_SOURCE_SYSCONF;
        else
                c.source = CACHE_SOURCE_NONE;

        /* the line of the first data or unified cache */
        for (size_t i = 0; i < c.n && c.line == 0; i++)
                if (strcmp(c.cache[i].type, "Instruction") != 0 && c.cache[i].line > 0) {
                        c.line = c.cache[i].line;
                        c.line_source = c.source;
                }
#ifdef _SC_LEVEL1_DCACHE_LINESIZE
        if (c.line == 0 && (c.line = (unsigned)sysconf_bytes(_SC_LEVEL1_DCACHE_LINESIZE)) > 0)
                c.line_source = CACHE_SOURCE_SYSCONF;
#endif
        if (c.line == 0) {
                c.line = CACHE_LINE_ASSUMED;
                c.line_source = CACHE_SOURCE_NONE;
        }
        *ret = c;
}

const char *cache_source_name(CacheSource s) {
        switch (s) {
        case CACHE_SOURCE_SYSFS: return "sysfs";
        case CACHE_SOURCE_SYSCONF: return "sysconf";
        default: return "none";
        }
}

static CacheSource cache_source_from_name(const char *s) {
        return strcmp(s, "sysfs") == 0     ? CACHE_SOURCE_SYSFS
               : strcmp(s, "sysconf") == 0 ? CACHE_SOURCE_SYSCONF
                                           : CACHE_SOURCE_NONE;
}

void caches_origin(char *buf, size_t size, const Caches *c) {
        switch (c->source) {
        case CACHE_SOURCE_SYSFS: snprintf(buf, size, "from sysfs, %s", c->dir); break;
        case CACHE_SOURCE_SYSCONF:
                snprintf(buf, size, "from the CPU via sysconf: %s %s; an L3 there may be a whole package's",
                         c->dir_exists ? "sysfs lists no sizes in" : "no sysfs cache folder at", c->dir);
                break;
        default:
                snprintf(buf, size, "this machine reveals no cache sizes (%s, sysconf reports 0)",
                         c->dir_exists ? "the sysfs cache folder lists none" : "no sysfs cache folder");
        }
}

int caches_put_json(json_object *o, const Caches *c) {
        json_object *a = json_object_new_array();
        char note[PATH_MAX + 96];

        if (jput(o, "caches", a) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < c->n; i++) {
                const Cache *e = &c->cache[i];
                json_object *x = json_object_new_object();

                if (jappend(a, x) < 0 || jput_s(x, "name", e->name) < 0 || jput_i(x, "level", e->level) < 0 ||
                    jput_s(x, "type", e->type) < 0 || jput_i(x, "size", (int64_t)e->size) < 0 ||
                    jput_i(x, "line", e->line) < 0)
                        return -ENOMEM;
        }
        caches_origin(note, sizeof(note), c);
        if (jput_s(o, "cache_source", cache_source_name(c->source)) < 0 || jput_i(o, "cache_cpu", c->cpu) < 0 ||
            jput_s(o, "cache_dir", c->dir) < 0 || jput_b(o, "cache_dir_exists", c->dir_exists) < 0 ||
            jput_s(o, "cache_note", note) < 0 || jput_i(o, "line_size", c->line) < 0 ||
            jput_s(o, "line_size_source",
                   c->line_source == CACHE_SOURCE_NONE ? "assumed" : cache_source_name(c->line_source)) < 0)
                return -ENOMEM;
        return 0;
}

void caches_from_json(json_object *o, Caches *ret) {
        json_object *a = jget(o, "caches");
        Caches c = { .cpu = (int)jint(o, "cache_cpu"),
                     .dir_exists = jbool(o, "cache_dir_exists"),
                     .source = cache_source_from_name(jstr(o, "cache_source")),
                     .line = (unsigned)jint(o, "line_size"),
                     .line_source = cache_source_from_name(jstr(o, "line_size_source")) };
        size_t len = a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;

        snprintf(c.dir, sizeof(c.dir), "%s", jstr(o, "cache_dir"));
        for (size_t i = 0; i < len && c.n < CACHES_MAX; i++) {
                json_object *x = json_object_array_get_idx(a, i);
                Cache *e = &c.cache[c.n++];

                *e = (Cache){ .level = (unsigned)jint(x, "level"),
                              .size = (uint64_t)jint(x, "size"),
                              .line = (unsigned)jint(x, "line") };
                snprintf(e->type, sizeof(e->type), "%s", jstr(x, "type"));
                snprintf(e->name, sizeof(e->name), "%s", jstr(x, "name"));
        }
        *ret = c;
}

/* "L1d 32 KiB, L1i 32 KiB, L2 1 MiB, L3 32 MiB" */
void caches_format(char *buf, size_t size, const Caches *c) {
        size_t len = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < c->n && len < size; i++) {
                char b[32];

                len += (size_t)snprintf(buf + len, size - len, "%s%s %s", i ? ", " : "", c->cache[i].name,
                                        fmt_bytes(b, sizeof(b), c->cache[i].size));
        }
}

const char *fits_in(uint64_t footprint, const Caches *c) {
        if (c->n == 0)
                return "unknown";
        for (size_t i = 0; i < c->n; i++)
                if (strcmp(c->cache[i].type, "Instruction") != 0 && footprint <= c->cache[i].size)
                        return c->cache[i].name;
        return "RAM";
}

uint64_t caches_largest(const Caches *c) {
        uint64_t largest = 0;

        for (size_t i = 0; i < c->n; i++)
                if (strcmp(c->cache[i].type, "Instruction") != 0 && c->cache[i].size > largest)
                        largest = c->cache[i].size;
        return largest;
}

/* ---- processes ------------------------------------------------------------------------------- */

/* The state letter of @pid from /proc/PID/stat ('S': asleep), or 0. */
char proc_state(pid_t pid) {
        char path[64], buf[512], *p;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        if (read_attr(path, buf, sizeof(buf)) < 0)
                return 0;
        p = strrchr(buf, ')'); /* the command name may hold anything but ends at the last ')' */
        return p && p[1] == ' ' ? p[2] : 0;
}

/* ---- physical frames ------------------------------------------------------------------------- */

void pagemap_init(Pagemap *pm) {
        pm->page_size = sysconf(_SC_PAGESIZE);
        pm->fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
}

void pagemap_done(Pagemap *pm) {
        if (pm->fd >= 0)
                close(pm->fd);
        pm->fd = -1;
}

/*
 * The physical frames behind [@addr, @addr + @len) of this process, from /proc/self/pagemap:
 * one 64-bit entry per virtual page, bit 63 "present", bits 0-54 the frame number. Since
 * Linux 4.0 the frame number reads 0 without CAP_SYS_ADMIN (physical addresses help
 * Rowhammer attacks); "present" is still true. Each entry names its offset in the mapping,
 * so the two processes' lists line up although their addresses differ.
 */
json_object *pages_json(const Pagemap *pm, uint64_t map_addr, uint64_t addr, uint64_t len) {
        _cleanup_json_ json_object *a = json_object_new_array();
        uint64_t first = addr / (uint64_t)pm->page_size;
        uint64_t last = (addr + (len ? len : 1) - 1) / (uint64_t)pm->page_size;

        for (uint64_t p = first; p <= last && p - first < PEER_PAGES_MAX; p++) {
                json_object *o = json_object_new_object();
                uint64_t e = 0;
                bool readable = pm->fd >= 0 && pread(pm->fd, &e, sizeof(e), (off_t)(p * sizeof(e))) == sizeof(e);

                if (jappend(a, o) < 0 || jput_i(o, "offset", (int64_t)(p * (uint64_t)pm->page_size - map_addr)) < 0 ||
                    jput_i(o, "addr", (int64_t)(p * (uint64_t)pm->page_size)) < 0 ||
                    jput_b(o, "readable", readable) < 0 || jput_b(o, "present", readable && ((e >> 63) & 1)) < 0 ||
                    jput_i(o, "pfn", readable ? (int64_t)(e & ((UINT64_C(1) << 55) - 1)) : 0) < 0)
                        return NULL;
        }
        return json_object_get(a);
}

/* How many pages [@addr, @addr + @len) touches (at least one). */
int64_t page_span(const Pagemap *pm, uint64_t addr, uint64_t len) {
        uint64_t ps = (uint64_t)pm->page_size;

        return (int64_t)((addr + (len ? len : 1) - 1) / ps - addr / ps + 1);
}

int64_t minflt(const struct rusage *a, const struct rusage *b) {
        return (int64_t)b->ru_minflt - (int64_t)a->ru_minflt;
}

int64_t nvcsw(const struct rusage *a, const struct rusage *b) {
        return (int64_t)b->ru_nvcsw - (int64_t)a->ru_nvcsw;
}

Frames frames_compare(json_object *a, json_object *b) {
        Frames f = { .same = true };

        if (!a || !b || !json_object_is_type(a, json_type_array) || !json_object_is_type(b, json_type_array))
                return (Frames){};
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *pa = json_object_array_get_idx(a, i);

                if (jbool(pa, "readable"))
                        f.readable = true;
                if (!jbool(pa, "present"))
                        continue;
                for (size_t j = 0; j < json_object_array_length(b); j++) {
                        json_object *pb = json_object_array_get_idx(b, j);

                        if (!jbool(pb, "present") || jint(pb, "offset") != jint(pa, "offset"))
                                continue;
                        if (jint(pa, "pfn") == 0 || jint(pb, "pfn") == 0)
                                f.hidden = true;
                        else if (jint(pa, "pfn") != jint(pb, "pfn"))
                                f.same = false;
                        if (f.pairs++ == 0) {
                                f.first_a = jint(pa, "pfn");
                                f.first_b = jint(pb, "pfn");
                                f.first_offset = jint(pa, "offset");
                        }
                }
        }
        if (f.pairs == 0 || f.hidden)
                f.same = false;
        return f;
}

json_object *frames_json(const Frames *f) {
        _cleanup_json_ json_object *o = json_object_new_object();

        if (jput_b(o, "readable", f->readable) < 0 || jput_b(o, "hidden", f->hidden) < 0 ||
            jput_i(o, "pages_compared", f->pairs) < 0 ||
            (f->pairs && !f->hidden ? jput_b(o, "same", f->same) : jput_null(o, "same")) < 0)
                return NULL;
        return json_object_get(o);
}

/* ---- CPUs and /dev/shm ----------------------------------------------------------------------- */

unsigned machine_cpus(int *ret_first) {
        cpu_set_t set;
        int first = 0;
        unsigned n;

        if (sched_getaffinity(0, sizeof(set), &set) < 0)
                return 0;
        n = (unsigned)CPU_COUNT(&set);
        while (first < CPU_SETSIZE && !CPU_ISSET(first, &set))
                first++;
        if (ret_first)
                *ret_first = first < CPU_SETSIZE ? first : 0;
        return n;
}

int machine_shm_free(const char *dir, uint64_t *ret) {
        struct statvfs st;

        if (statvfs(dir, &st) < 0)
                return -errno;
        *ret = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
        return 0;
}
