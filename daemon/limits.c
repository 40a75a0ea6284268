/* SPDX-License-Identifier: MIT */
/* limits.c — the daemon's limits and quotas: defaults, and the optional config file.
 *
 * The file (default /etc/shmbox/shmboxd.conf, read with inih; missing means defaults):
 *
 *     [limits]
 *     ; one mailbox (4 KiB header + slots x (64 + slot size rounded up to 64))
 *     max-mailbox-bytes = 1073741824
 *     ; all users together
 *     max-mailboxes = 1024
 *     max-total-bytes = 4294967296
 *     ; per owner; root is exempt
 *     max-mailboxes-per-uid = 64
 *     max-bytes-per-uid = 268435456
 *     max-connections = 4096
 *     max-attachments-per-session = 256
 *     [log]
 *     level = info
 *
 * (inih takes comments on lines of their own, starting with ';' or '#'.)
 *
 * Precedence: a command-line option wins over the file, the file over the defaults. A reload
 * (SIGHUP, `shmboxctl reload`) reads the file again; a file that does not parse is refused as a
 * whole and the running limits stay. Limits apply to new requests only: a mailbox above a
 * lowered limit is kept. When several limits refuse a create, the error is that of the first
 * in this order: the mailbox's own size (-ENOSPC), the owner's count and bytes (-EDQUOT), then
 * the global count and bytes (-ENOSPC).
 */
#include "config.h"

#include "daemon/limits.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "proto/layout.h"

void limits_default(Limits *ret) {
        *ret = (Limits){
                .max_mailbox_bytes = UINT64_C(1) << 30,
                .max_mailboxes = 1024,
                .max_total_bytes = UINT64_C(4) << 30,
                .max_mailboxes_per_uid = 64,
                .max_bytes_per_uid = UINT64_C(256) << 20,
                .max_connections = 4096,
                .max_attachments_per_session = 256,
        };
}

typedef struct Parse {
        Limits limits;
        int log_level;
        char *error;
        size_t error_size;
} Parse;

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int handler(void *userdata, const char *section, const char *name, const char *value) {
        Parse *p = userdata;
        uint64_t v;
        struct {
                const char *name;
                uint64_t min, max;
                void *field;
                int width;
        } keys[] = {
                { "max-mailbox-bytes", 4096, UINT64_C(1) << 40, &p->limits.max_mailbox_bytes, 64 },
                { "max-mailboxes", 1, 1024, &p->limits.max_mailboxes, 32 }, /* a list reply holds 1024 */
                { "max-total-bytes", 4096, UINT64_C(1) << 44, &p->limits.max_total_bytes, 64 },
                { "max-mailboxes-per-uid", 0, 65536, &p->limits.max_mailboxes_per_uid, 32 },
                { "max-bytes-per-uid", 0, UINT64_C(1) << 44, &p->limits.max_bytes_per_uid, 64 },
                { "max-connections", 1, 1u << 20, &p->limits.max_connections, 32 },
                { "max-attachments-per-session", 1, 4096, &p->limits.max_attachments_per_session, 32 },
        };

        if (strcmp(section, "log") == 0 && strcmp(name, "level") == 0) {
                int level = log_parse_level(value);
                if (level < 0)
                        goto bad;
                p->log_level = level;
                return 1;
        }
        if (strcmp(section, "limits") != 0)
                goto unknown;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                if (strcmp(name, keys[i].name) != 0)
                        continue;
                if (parse_u64(value, keys[i].min, keys[i].max, &v) < 0)
                        goto bad;
                if (keys[i].width == 64)
                        *(uint64_t *)keys[i].field = v;
                else
                        *(uint32_t *)keys[i].field = (uint32_t)v;
                return 1;
        }
unknown:
        snprintf(p->error, p->error_size, "unknown setting [%s] %s", section, name);
        return 0;
bad:
        snprintf(p->error, p->error_size, "invalid value \"%s\" for %s", value, name);
        return 0;
}

/*
 * config_load() - read the config file @path over @limits and @log_level
 * @error: receives a one-line reason on failure
 *
 * A missing file leaves everything as it is. On any error nothing is changed.
 *
 * Return: 0; -EINVAL (a line that does not parse: @error says which); -errno of fopen().
 */
int config_load(const char *path, Limits *limits, int *log_level, char *error, size_t error_size) {
        Parse p = { .limits = *limits, .log_level = *log_level, .error = error, .error_size = error_size };
        FILE *f;
        int r;

        f = fopen(path, "re");
        if (!f) {
                if (errno == ENOENT)
                        return 0;
                r = -errno;
                snprintf(error, error_size, "%s", strerror(errno));
                return r;
        }
        error[0] = 0;
        r = ini_parse_file(f, handler, &p);
        fclose(f);
        if (r != 0) {
                char what[256];

                snprintf(what, sizeof(what), "%s", error[0] ? error : "does not parse");
                snprintf(error, error_size, "line %d: %s", r, what);
                return -EINVAL;
        }
        *limits = p.limits;
        *log_level = p.log_level;
        return 0;
}
