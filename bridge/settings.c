/* SPDX-License-Identifier: MIT */
/* settings.c — read shmbox-bridge's configuration file (INI, parsed by inih) and check it whole.
 *
 * Sections: [nats] the connection, [bridge] this host, [stream NAME] a stream the bridge may
 * create, [mailbox NAME] one bridged mailbox (doc/shmbox-bridge.1 lists every key). Unknown
 * sections and keys are errors, not ignored: a misspelt key would otherwise silently change
 * what is guaranteed. Everything has a hard limit (SETTINGS_*_MAX). The first error is logged
 * with its line and the whole file is refused.
 */
#include "config.h"

#include "bridge/settings.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/util.h"
#include "log/log.h"

typedef struct Parse {
        Settings *s;
        char error[256]; /* the first error, "" while there is none */
} Parse;

static int parse_fail(Parse *p, const char *fmt, ...) _printf_(2, 3);
static int parse_fail(Parse *p, const char *fmt, ...) {
        va_list ap;

        if (!p->error[0]) {
                va_start(ap, fmt);
                vsnprintf(p->error, sizeof(p->error), fmt, ap);
                va_end(ap);
        }
        return 0; /* inih: this line is an error */
}

static int parse_int64(const char *v, int64_t min, int64_t max, int64_t *ret) {
        char *end;
        long long x;

        errno = 0;
        x = strtoll(v, &end, 10);
        if (errno || end == v || *end || x < min || x > max)
                return -EINVAL;
        *ret = x;
        return 0;
}

/* [A-Za-z0-9._-]{1,64}, not starting with '.': what shmboxd accepts as a mailbox name. */
static bool mailbox_name_valid(const char *n) {
        size_t len = strlen(n);

        if (len == 0 || len > SHMBOX_NAME_MAX || n[0] == '.')
                return false;
        return strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

/* A stream or durable name: JetStream refuses whitespace, '.', '*', '>' and path separators. */
static bool nats_name_valid(const char *n) {
        size_t len = strlen(n);

        if (len == 0 || len > SETTINGS_NAME_MAX)
                return false;
        return strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == len;
}

/* A subject: tokens separated by '.', none empty, no whitespace; wildcards only if @wild. */
static bool subject_valid(const char *subj, bool wild) {
        size_t len = strlen(subj);
        bool token_start = true;

        if (len == 0 || len > SETTINGS_SUBJECT_MAX)
                return false;
        for (const char *c = subj; *c; c++) {
                if (*c == ' ' || *c == '\t' || *c == '\r' || *c == '\n')
                        return false;
                if (*c == '.') {
                        if (token_start)
                                return false;
                        token_start = true;
                        continue;
                }
                if ((*c == '*' || *c == '>') && !wild)
                        return false;
                token_start = false;
        }
        return !token_start;
}

/* Split @v at commas and whitespace into @dst (@n entries at most); false if one is too long
 * or there are too many. */
static bool split_list(const char *v, char (*dst)[SETTINGS_SUBJECT_MAX + 1], unsigned max, unsigned *ret_n) {
        unsigned n = 0;

        while (*v) {
                size_t k;

                v += strspn(v, ", \t");
                k = strcspn(v, ", \t");
                if (k == 0)
                        break;
                if (n >= max || k > SETTINGS_SUBJECT_MAX)
                        return false;
                memcpy(dst[n], v, k);
                dst[n][k] = 0;
                n++;
                v += k;
        }
        *ret_n = n;
        return true;
}

static StreamSettings *stream_get(Parse *p, const char *name) {
        Settings *s = p->s;

        for (unsigned i = 0; i < s->n_streams; i++)
                if (streq(s->streams[i].name, name))
                        return &s->streams[i];
        if (!nats_name_valid(name)) {
                parse_fail(p, "invalid stream name \"%s\" ([A-Za-z0-9_-]{1,%d})", name, SETTINGS_NAME_MAX);
                return NULL;
        }
        if (s->n_streams >= SETTINGS_STREAMS_MAX) {
                parse_fail(p, "more than %d streams", SETTINGS_STREAMS_MAX);
                return NULL;
        }
        StreamSettings *st = &s->streams[s->n_streams++];
        *st = (StreamSettings){ .max_msgs = -1, .max_bytes = -1, .duplicate_window_ms = 120000, .replicas = 1 };
        strcpy_bounded(st->name, name);
        return st;
}

static MailboxSettings *mailbox_get(Parse *p, const char *name) {
        Settings *s = p->s;

        for (unsigned i = 0; i < s->n_mailboxes; i++)
                if (streq(s->mailboxes[i].name, name))
                        return &s->mailboxes[i];
        if (!mailbox_name_valid(name)) {
                parse_fail(p, "invalid mailbox name \"%s\"", name);
                return NULL;
        }
        if (s->n_mailboxes >= SETTINGS_MAILBOXES_MAX) {
                parse_fail(p, "more than %d mailboxes", SETTINGS_MAILBOXES_MAX);
                return NULL;
        }
        MailboxSettings *m = &s->mailboxes[s->n_mailboxes++];
        *m = (MailboxSettings){ .direction = (Direction)-1,
                                .ack_wait_ms = 30000,
                                .publish_timeout_ms = 1000,
                                .delivery = DELIVERY_END_TO_END,
                                .confirm_timeout_ms = 2000 };
        strcpy_bounded(m->name, name);
        return m;
}

#define COPY_STRING(p, dst, value, key)                                                                                \
        (strcpy_bounded(dst, value) ? 1 : parse_fail(p, "%s: too long (at most %zu bytes)", key, sizeof(dst) - 1))

static int key_nats(Parse *p, const char *key, const char *v) {
        Settings *s = p->s;
        int64_t x;

        if (streq(key, "url")) {
                if (!split_list(v, s->urls, SETTINGS_URLS_MAX, &s->n_urls) || s->n_urls == 0)
                        return parse_fail(p, "url: 1 to %d URLs of at most %d bytes", SETTINGS_URLS_MAX,
                                          SETTINGS_SUBJECT_MAX);
                return 1;
        }
        if (streq(key, "creds"))
                return COPY_STRING(p, s->creds, v, key);
        if (streq(key, "user"))
                return COPY_STRING(p, s->user, v, key);
        if (streq(key, "password"))
                return COPY_STRING(p, s->password, v, key);
        if (streq(key, "token"))
                return COPY_STRING(p, s->token, v, key);
        if (streq(key, "name"))
                return COPY_STRING(p, s->name, v, key);
        if (streq(key, "reconnect-wait-ms")) {
                if (parse_int64(v, 10, 60000, &x) < 0)
                        return parse_fail(p, "reconnect-wait-ms: 10 to 60000");
                s->reconnect_wait_ms = x;
                return 1;
        }
        if (streq(key, "ping-interval-ms")) {
                if (parse_int64(v, 100, 600000, &x) < 0)
                        return parse_fail(p, "ping-interval-ms: 100 to 600000");
                s->ping_interval_ms = x;
                return 1;
        }
        if (streq(key, "connect-timeout-ms")) {
                if (parse_int64(v, 100, 60000, &x) < 0)
                        return parse_fail(p, "connect-timeout-ms: 100 to 60000");
                s->connect_timeout_ms = x;
                return 1;
        }
        return parse_fail(p, "unknown key \"%s\" in [nats]", key);
}

static int key_bridge(Parse *p, const char *key, const char *v) {
        Settings *s = p->s;

        if (streq(key, "host")) {
                if (!nats_name_valid(v) && !subject_valid(v, false))
                        return parse_fail(p, "host: a name without whitespace or wildcards");
                return COPY_STRING(p, s->host, v, key);
        }
        if (streq(key, "socket"))
                return COPY_STRING(p, s->socket, v, key);
        if (streq(key, "status-file"))
                return COPY_STRING(p, s->status_file, v, key);
        return parse_fail(p, "unknown key \"%s\" in [bridge]", key);
}

static int key_stream(Parse *p, StreamSettings *st, const char *key, const char *v) {
        int64_t x;

        if (streq(key, "subjects")) {
                if (!split_list(v, st->subjects, SETTINGS_SUBJECTS_MAX, &st->n_subjects) || st->n_subjects == 0)
                        return parse_fail(p, "subjects: 1 to %d subjects", SETTINGS_SUBJECTS_MAX);
                for (unsigned i = 0; i < st->n_subjects; i++)
                        if (!subject_valid(st->subjects[i], true))
                                return parse_fail(p, "subjects: invalid subject \"%s\"", st->subjects[i]);
                return 1;
        }
        if (streq(key, "max-msgs") || streq(key, "max-bytes")) {
                if (parse_int64(v, -1, INT64_MAX, &x) < 0 || x == 0)
                        return parse_fail(p, "%s: -1 (no limit) or a positive number", key);
                *(streq(key, "max-msgs") ? &st->max_msgs : &st->max_bytes) = x;
                return 1;
        }
        if (streq(key, "max-age-ms")) {
                if (parse_int64(v, 0, INT64_MAX / 1000000, &x) < 0)
                        return parse_fail(p, "max-age-ms: 0 (no limit) or a positive number");
                st->max_age_ms = x;
                return 1;
        }
        if (streq(key, "duplicate-window-ms")) {
                if (parse_int64(v, 100, INT64_MAX / 1000000, &x) < 0)
                        return parse_fail(p, "duplicate-window-ms: at least 100");
                st->duplicate_window_ms = x;
                return 1;
        }
        if (streq(key, "replicas")) {
                if (parse_int64(v, 1, 5, &x) < 0)
                        return parse_fail(p, "replicas: 1 to 5");
                st->replicas = (int)x;
                return 1;
        }
        if (streq(key, "storage")) {
                if (!streq(v, "file") && !streq(v, "memory"))
                        return parse_fail(p, "storage: file or memory");
                st->memory = streq(v, "memory");
                return 1;
        }
        if (streq(key, "retention")) {
                if (streq(v, "workqueue"))
                        st->retention = RETENTION_WORKQUEUE;
                else if (streq(v, "limits"))
                        st->retention = RETENTION_LIMITS;
                else if (streq(v, "interest"))
                        st->retention = RETENTION_INTEREST;
                else
                        return parse_fail(p, "retention: workqueue, limits or interest");
                return 1;
        }
        return parse_fail(p, "unknown key \"%s\" in [stream %s]", key, st->name);
}

static int key_mailbox(Parse *p, MailboxSettings *m, const char *key, const char *v) {
        int64_t x;

        if (streq(key, "direction")) {
                if (streq(v, "outbound"))
                        m->direction = DIRECTION_OUTBOUND;
                else if (streq(v, "inbound"))
                        m->direction = DIRECTION_INBOUND;
                else
                        return parse_fail(p, "direction: outbound or inbound");
                return 1;
        }
        if (streq(key, "subject"))
                return COPY_STRING(p, m->subject, v, key);
        if (streq(key, "stream")) {
                if (!nats_name_valid(v))
                        return parse_fail(p, "stream: invalid name \"%s\"", v);
                return COPY_STRING(p, m->stream, v, key);
        }
        if (streq(key, "durable")) {
                if (!nats_name_valid(v))
                        return parse_fail(p, "durable: invalid name \"%s\" ([A-Za-z0-9_-]{1,%d})", v,
                                          SETTINGS_NAME_MAX);
                return COPY_STRING(p, m->durable, v, key);
        }
        if (streq(key, "max-in-flight") || streq(key, "fetch-batch")) {
                if (parse_int64(v, 0, SHMBOX_SLOTS_MAX, &x) < 0)
                        return parse_fail(p, "%s: 0 (the mailbox's slots) to %d", key, SHMBOX_SLOTS_MAX);
                *(streq(key, "max-in-flight") ? &m->max_in_flight : &m->fetch_batch) = (uint32_t)x;
                return 1;
        }
        if (streq(key, "ack-wait-ms")) {
                if (parse_int64(v, 500, 3600000, &x) < 0)
                        return parse_fail(p, "ack-wait-ms: 500 to 3600000");
                m->ack_wait_ms = x;
                return 1;
        }
        if (streq(key, "publish-timeout-ms")) {
                if (parse_int64(v, 100, 600000, &x) < 0)
                        return parse_fail(p, "publish-timeout-ms: 100 to 600000");
                m->publish_timeout_ms = x;
                return 1;
        }
        if (streq(key, "delivery")) {
                if (streq(v, "end-to-end"))
                        m->delivery = DELIVERY_END_TO_END;
                else if (streq(v, "stream-ack"))
                        m->delivery = DELIVERY_STREAM_ACK;
                else
                        return parse_fail(p, "delivery: end-to-end or stream-ack");
                return 1;
        }
        if (streq(key, "confirm-timeout-ms")) {
                if (parse_int64(v, 100, 3600000, &x) < 0)
                        return parse_fail(p, "confirm-timeout-ms: 100 to 3600000");
                m->confirm_timeout_ms = x;
                return 1;
        }
        return parse_fail(p, "unknown key \"%s\" in [mailbox %s]", key, m->name);
}

static int on_key(void *user, const char *section, const char *key, const char *value) {
        Parse *p = user;

        if (streq(section, "nats"))
                return key_nats(p, key, value);
        if (streq(section, "bridge"))
                return key_bridge(p, key, value);
        if (strncmp(section, "stream ", 7) == 0) {
                StreamSettings *st = stream_get(p, section + 7);
                return st ? key_stream(p, st, key, value) : 0;
        }
        if (strncmp(section, "mailbox ", 8) == 0) {
                MailboxSettings *m = mailbox_get(p, section + 8);
                return m ? key_mailbox(p, m, key, value) : 0;
        }
        return parse_fail(p, "unknown section [%s] (nats, bridge, stream NAME, mailbox NAME)", section);
}

/* Defaults that depend on other keys, and the checks that need the whole file. */
static int settings_finish(Settings *s, char *err, size_t errsz) {
        if (s->n_urls == 0) {
                strcpy(s->urls[0], "nats://127.0.0.1:4222");
                s->n_urls = 1;
        }
        if (!s->host[0]) {
                char h[256] = "";

                if (gethostname(h, sizeof(h) - 1) < 0 || !h[0])
                        strcpy(h, "localhost");
                h[strcspn(h, ".")] = 0; /* the short name: dots separate the id's parts */
                h[SETTINGS_NAME_MAX] = 0;
                strcpy(s->host, h);
        }
        if (!s->status_file[0])
                strcpy(s->status_file, SETTINGS_DEFAULT_STATUS);
        if (!s->name[0])
                snprintf(s->name, sizeof(s->name), "shmbox-bridge@%.40s", s->host);
        if (s->reconnect_wait_ms == 0)
                s->reconnect_wait_ms = 1000;
        if (s->connect_timeout_ms == 0)
                s->connect_timeout_ms = 2000;
        /* a server that stops answering (frozen, its host stalled) is left once two PINGs go
         * unanswered: with a cluster, soon (another server serves the stream once it has a new
         * leader: tests/bridge-cluster.sh, a frozen leader); with one server there is nowhere
         * else to go, and leaving only loses what was in flight */
        if (s->ping_interval_ms == 0)
                s->ping_interval_ms = s->n_urls > 1 ? 1000 : 5000;

        for (unsigned i = 0; i < s->n_streams; i++)
                if (s->streams[i].n_subjects == 0) {
                        snprintf(err, errsz, "[stream %s]: no subjects", s->streams[i].name);
                        return -EINVAL;
                }
        for (unsigned i = 0; i < s->n_mailboxes; i++) {
                MailboxSettings *m = &s->mailboxes[i];

                if ((int)m->direction < 0) {
                        snprintf(err, errsz, "[mailbox %s]: no direction (outbound or inbound)", m->name);
                        return -EINVAL;
                }
                if (!subject_valid(m->subject, m->direction == DIRECTION_INBOUND)) {
                        snprintf(err, errsz, "[mailbox %s]: %s subject \"%s\"", m->name,
                                 m->subject[0] ? "invalid" : "no", m->subject);
                        return -EINVAL;
                }
                if (!m->stream[0]) {
                        snprintf(err, errsz, "[mailbox %s]: no stream", m->name);
                        return -EINVAL;
                }
                if (m->direction == DIRECTION_INBOUND && !m->durable[0]) {
                        /* one durable consumer per host and mailbox, stable across restarts */
                        char d[2 * (SETTINGS_NAME_MAX + 1)];

                        snprintf(d, sizeof(d), "%s_%s", s->host, m->name);
                        for (char *c = d; *c; c++)
                                if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", *c))
                                        *c = '_';
                        d[SETTINGS_NAME_MAX] = 0;
                        strcpy(m->durable, d);
                }
                for (unsigned j = 0; j < i; j++)
                        if (m->direction == DIRECTION_INBOUND && s->mailboxes[j].direction == DIRECTION_INBOUND &&
                            streq(m->stream, s->mailboxes[j].stream) && streq(m->durable, s->mailboxes[j].durable)) {
                                snprintf(err, errsz, "[mailbox %s]: durable \"%s\" already used by [mailbox %s]",
                                         m->name, m->durable, s->mailboxes[j].name);
                                return -EINVAL;
                        }
        }
        return 0;
}

/*
 * settings_load() - read and check the configuration file @path
 * @path: the file
 * @ret:  the settings, owned by the caller (settings_free())
 *
 * Logs the first error with its line number.
 *
 * Return: 0; -ENOENT if @path does not exist; -EINVAL if it does not parse or fails a check;
 *         -ENOMEM; another negative errno from opening it. @ret is untouched on failure.
 */
int settings_load(const char *path, Settings **ret) {
        _cleanup_(settings_freep) Settings *s = NULL;
        Parse p = {};
        FILE *f;
        int line, r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return log_errno(LOG_ERR, -ENOMEM, "%s", path);
        p.s = s;
        f = fopen(path, "re");
        if (!f)
                return log_errno(LOG_ERR, -errno, "cannot read %s", path);
        line = ini_parse_file(f, on_key, &p);
        fclose(f);
        if (line != 0) {
                if (line < 0)
                        return log_errno(LOG_ERR, -ENOMEM, "%s", path);
                log_error("%s:%d: %s", path, line, p.error[0] ? p.error : "syntax error");
                return -EINVAL;
        }
        r = settings_finish(s, p.error, sizeof(p.error));
        if (r < 0) {
                log_error("%s: %s", path, p.error);
                return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/* settings_free() - free @s (NULL is fine); returns NULL. */
Settings *settings_free(Settings *s) {
        free(s);
        return NULL;
}

/* settings_stream() - the [stream NAME] section called @name, or NULL if the file has none. */
const StreamSettings *settings_stream(const Settings *s, const char *name) {
        for (unsigned i = 0; i < s->n_streams; i++)
                if (streq(s->streams[i].name, name))
                        return &s->streams[i];
        return NULL;
}

/*
 * settings_nats_equal() - whether @a and @b ask for the same NATS connection: every key of
 * [nats] (URLs in the same order, credentials, name, timeouts). A reload that changes any of
 * them connects again.
 */
bool settings_nats_equal(const Settings *a, const Settings *b) {
        if (a->n_urls != b->n_urls)
                return false;
        for (unsigned i = 0; i < a->n_urls; i++)
                if (!streq(a->urls[i], b->urls[i]))
                        return false;
        return streq(a->creds, b->creds) && streq(a->user, b->user) && streq(a->password, b->password) &&
               streq(a->token, b->token) && streq(a->name, b->name) && a->reconnect_wait_ms == b->reconnect_wait_ms &&
               a->connect_timeout_ms == b->connect_timeout_ms && a->ping_interval_ms == b->ping_interval_ms;
}

/* settings_stream_equal() - whether two [stream] sections say the same; NULL (no section) equals
 * only NULL. Compared key by key: the bytes after a string's NUL are not part of it. */
bool settings_stream_equal(const StreamSettings *a, const StreamSettings *b) {
        if (!a || !b)
                return a == b;
        if (!streq(a->name, b->name) || a->n_subjects != b->n_subjects)
                return false;
        for (unsigned i = 0; i < a->n_subjects; i++)
                if (!streq(a->subjects[i], b->subjects[i]))
                        return false;
        return a->max_msgs == b->max_msgs && a->max_bytes == b->max_bytes && a->max_age_ms == b->max_age_ms &&
               a->duplicate_window_ms == b->duplicate_window_ms && a->replicas == b->replicas &&
               a->memory == b->memory && a->retention == b->retention;
}

/* settings_mailbox_equal() - whether two [mailbox] sections say the same, key by key. */
bool settings_mailbox_equal(const MailboxSettings *a, const MailboxSettings *b) {
        return streq(a->name, b->name) && a->direction == b->direction && streq(a->subject, b->subject) &&
               streq(a->stream, b->stream) && streq(a->durable, b->durable) && a->max_in_flight == b->max_in_flight &&
               a->fetch_batch == b->fetch_batch && a->ack_wait_ms == b->ack_wait_ms &&
               a->publish_timeout_ms == b->publish_timeout_ms && a->delivery == b->delivery &&
               a->confirm_timeout_ms == b->confirm_timeout_ms;
}

/* direction_to_string() - "outbound" or "inbound". */
const char *direction_to_string(Direction d) {
        return d == DIRECTION_INBOUND ? "inbound" : "outbound";
}

/* delivery_to_string() - "end-to-end" or "stream-ack". */
const char *delivery_to_string(Delivery d) {
        return d == DELIVERY_STREAM_ACK ? "stream-ack" : "end-to-end";
}
