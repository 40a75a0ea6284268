/* walk-machine.c — what the walkthrough learns about this machine: its caches (sysfs), the
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/*
 * caches_read() - the caches of @cpu as sysfs describes them
 * (/sys/devices/system/cpu/cpuN/cache/indexK), in sysfs order (by level).
 *
 * sysconf(_SC_LEVEL3_CACHE_SIZE) is not used: glibc may report the L3 of a whole package, or
 * a sum over dies, where sysfs says what this core actually shares.
 *
 * Return: the number of caches written to @out (0 if sysfs has none).
 */
size_t caches_read(int cpu, Cache *out, size_t max) {
        size_t n = 0;

        for (int i = 0; i < 32 && n < max; i++) {
                char dir[128], path[192], v[64];
                Cache c = {};

                snprintf(dir, sizeof(dir), "/sys/devices/system/cpu/cpu%d/cache/index%d", cpu, i);
                snprintf(path, sizeof(path), "%s/level", dir);
                if (read_attr(path, v, sizeof(v)) < 0)
                        break;
                c.level = (unsigned)strtoul(v, NULL, 10);
                snprintf(path, sizeof(path), "%s/type", dir);
                if (read_attr(path, c.type, sizeof(c.type)) < 0)
                        continue;
                snprintf(path, sizeof(path), "%s/size", dir);
                if (read_attr(path, v, sizeof(v)) < 0 || (c.size = parse_cache_size(v)) == 0)
                        continue;
                snprintf(path, sizeof(path), "%s/coherency_line_size", dir);
                if (read_attr(path, v, sizeof(v)) == 0)
                        c.line = (unsigned)strtoul(v, NULL, 10);
                snprintf(c.name, sizeof(c.name), "L%u%s", c.level % 10,
                         strcmp(c.type, "Data") == 0          ? "d"
                         : strcmp(c.type, "Instruction") == 0 ? "i"
                                                              : "");
                out[n++] = c;
        }
        return n;
}

/* The line size of the first data or unified cache; 64 when sysfs does not say. */
unsigned caches_line(const Cache *c, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(c[i].type, "Instruction") != 0 && c[i].line > 0)
                        return c[i].line;
        return 64;
}

json_object *caches_json(const Cache *c, size_t n) {
        _cleanup_json_ json_object *a = json_object_new_array();

        for (size_t i = 0; i < n; i++) {
                json_object *o = json_object_new_object();

                if (jappend(a, o) < 0 || jput_s(o, "name", c[i].name) < 0 || jput_i(o, "level", c[i].level) < 0 ||
                    jput_s(o, "type", c[i].type) < 0 || jput_i(o, "size", (int64_t)c[i].size) < 0 ||
                    jput_i(o, "line", c[i].line) < 0)
                        return NULL;
        }
        return json_object_get(a);
}

/* "L1d 32 KiB, L1i 32 KiB, L2 1 MiB, L3 32 MiB" */
void caches_format(char *buf, size_t size, const Cache *c, size_t n) {
        size_t len = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < n && len < size; i++) {
                char b[32];

                len += (size_t)snprintf(buf + len, size - len, "%s%s %s", i ? ", " : "", c[i].name,
                                        fmt_bytes(b, sizeof(b), c[i].size));
        }
}

const char *fits_in(uint64_t footprint, const Cache *c, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(c[i].type, "Instruction") != 0 && footprint <= c[i].size)
                        return c[i].name;
        return "RAM";
}

/* Read the caches back from an event's "caches" array. */
size_t caches_from_json(json_object *a, Cache *out, size_t max) {
        size_t n = 0;

        if (!a || !json_object_is_type(a, json_type_array))
                return 0;
        for (size_t i = 0; i < json_object_array_length(a) && n < max; i++) {
                json_object *o = json_object_array_get_idx(a, i);
                Cache c = { .level = (unsigned)jint(o, "level"),
                            .size = (uint64_t)jint(o, "size"),
                            .line = (unsigned)jint(o, "line") };

                snprintf(c.type, sizeof(c.type), "%s", jstr(o, "type"));
                snprintf(c.name, sizeof(c.name), "%s", jstr(o, "name"));
                out[n++] = c;
        }
        return n;
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
