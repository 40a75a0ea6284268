/* SPDX-License-Identifier: MIT */
/* wire.c — encoding and decoding of control-protocol frames (see wire.h). Pure functions.
 *
 * Every read goes through a bounds-checked cursor; any shortfall, any trailing byte, any length
 * above its limit makes the whole frame invalid (-EBADMSG), and the decoder never allocates.
 * Body of each message (requests / replies after the i32 status):
 *   HELLO    u32 version                       / u32 version, str prefix
 *   CREATE   str name, u32 slots, slot_size, mode, flags, gid / -
 *   DESTROY  str name                          / -
 *   ATTACH   str name                          / u32 rights, token, idx, slots, slot_size,
 *                                                u64 generation, epoch, size
 *   DETACH   u32 token                         / -
 *   LIST     -                                 / u32 count, count x (str name, info)
 *   INFO     str name                          / info
 *   REATTACH str name, u32 token, idx, u64 generation / as ATTACH
 *   CHMOD    str name, u32 mode, gid             / -
 *   RELOAD   -                                   / -
 *   STATS    str name                          / info, u64 abandoned, counters (total),
 *                                                u32 count, count x (u32 pid, uid, rights, idx,
 *                                                counters); counters: 11 x u64 (WireCounters)
 * A reply with a status < 0 has no further body, or (protocol version 2, see wire.h) a reason:
 * a str of 1 to WIRE_REASON_MAX bytes, text for people, never parsed.
 * info: 7 x u32, 3 x u64, 4 x u32, 2 x u64, 5 x u32 (WireInfo's fields in order), and from
 * protocol version 3 on (WIRE_HELLO_EPHEMERAL) u32 flags, owner_pid after them.
 */
#include "config.h"

#include "proto/wire.h"

#include <errno.h>
#include <string.h>

#include "proto/layout.h"

typedef struct Cursor {
        uint8_t *w;       /* writing: NULL when reading */
        const uint8_t *r; /* reading */
        size_t cap, pos;
        bool bad;
} Cursor;

static void put(Cursor *c, const void *p, size_t n) {
        if (c->bad || n > c->cap - c->pos) {
                c->bad = true;
                return;
        }
        memcpy(c->w + c->pos, p, n);
        c->pos += n;
}

static void put_u16(Cursor *c, uint16_t v) {
        uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
        put(c, b, 2);
}

static void put_u32(Cursor *c, uint32_t v) {
        uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
        put(c, b, 4);
}

static void put_u64(Cursor *c, uint64_t v) {
        put_u32(c, (uint32_t)v);
        put_u32(c, (uint32_t)(v >> 32));
}

static void put_text(Cursor *c, const char *s, size_t max) {
        size_t n = strnlen(s, max + 1);

        if (n > max) {
                c->bad = true;
                return;
        }
        put_u16(c, (uint16_t)n);
        put(c, s, n);
}

static void put_str(Cursor *c, const char *s) {
        put_text(c, s, NAMES_NAME_MAX);
}

static const uint8_t *get(Cursor *c, size_t n) {
        const uint8_t *p;

        if (c->bad || n > c->cap - c->pos) {
                c->bad = true;
                return NULL;
        }
        p = c->r + c->pos;
        c->pos += n;
        return p;
}

static uint16_t get_u16(Cursor *c) {
        const uint8_t *b = get(c, 2);
        return b ? (uint16_t)(b[0] | b[1] << 8) : 0;
}

static uint32_t get_u32(Cursor *c) {
        const uint8_t *b = get(c, 4);
        return b ? (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24 : 0;
}

static uint64_t get_u64(Cursor *c) {
        uint64_t lo = get_u32(c);
        return lo | (uint64_t)get_u32(c) << 32;
}

/* A string of at most @max bytes, no NUL inside, into @out of @max + 1 bytes. */
static void get_text(Cursor *c, char *out, size_t max) {
        uint16_t n = get_u16(c);
        const uint8_t *p;

        if (n > max) {
                c->bad = true;
                return;
        }
        p = get(c, n);
        if (!p || memchr(p, 0, n)) {
                c->bad = true;
                return;
        }
        memcpy(out, p, n);
        out[n] = 0;
}

/* A name: at most NAMES_NAME_MAX bytes, no NUL inside. Its rules are checked by the daemon. */
static void get_str(Cursor *c, char out[NAMES_NAME_MAX + 1]) {
        get_text(c, out, NAMES_NAME_MAX);
}

static void put_info(Cursor *c, const WireInfo *i, uint32_t proto) {
        put_u32(c, i->slots);
        put_u32(c, i->slot_size);
        put_u32(c, i->mode);
        put_u32(c, i->queued);
        put_u32(c, i->attached);
        put_u32(c, i->uid);
        put_u32(c, i->gid);
        put_u64(c, i->sent);
        put_u64(c, i->received);
        put_u64(c, i->recovered);
        put_u32(c, i->lock_holder_pid);
        put_u32(c, i->claimed);
        put_u32(c, i->taken);
        put_u32(c, i->orphaned);
        put_u64(c, i->generation);
        put_u64(c, i->repairs);
        put_u32(c, i->oldest_claimed_pid);
        put_u32(c, i->oldest_taken_pid);
        put_u32(c, i->oldest_claimed_age_ms);
        put_u32(c, i->oldest_taken_age_ms);
        put_u32(c, i->corrupt);
        if (proto >= WIRE_HELLO_EPHEMERAL) {
                put_u32(c, i->flags);
                put_u32(c, i->owner_pid);
        }
}

static void get_info(Cursor *c, WireInfo *i, uint32_t proto) {
        i->slots = get_u32(c);
        i->slot_size = get_u32(c);
        i->mode = get_u32(c);
        i->queued = get_u32(c);
        i->attached = get_u32(c);
        i->uid = get_u32(c);
        i->gid = get_u32(c);
        i->sent = get_u64(c);
        i->received = get_u64(c);
        i->recovered = get_u64(c);
        i->lock_holder_pid = get_u32(c);
        i->claimed = get_u32(c);
        i->taken = get_u32(c);
        i->orphaned = get_u32(c);
        i->generation = get_u64(c);
        i->repairs = get_u64(c);
        i->oldest_claimed_pid = get_u32(c);
        i->oldest_taken_pid = get_u32(c);
        i->oldest_claimed_age_ms = get_u32(c);
        i->oldest_taken_age_ms = get_u32(c);
        i->corrupt = get_u32(c);
        i->flags = i->owner_pid = 0;
        if (proto >= WIRE_HELLO_EPHEMERAL) {
                i->flags = get_u32(c);
                i->owner_pid = get_u32(c);
        }
}

static void put_counters(Cursor *c, const WireCounters *k) {
#define PUT(f) put_u64(c, k->f);
        LAYOUT_COUNTER_FIELDS(PUT)
#undef PUT
}

static void get_counters(Cursor *c, WireCounters *k) {
#define GET(f) k->f = get_u64(c);
        LAYOUT_COUNTER_FIELDS(GET)
#undef GET
}

static void put_row(Cursor *c, const WireStatsRow *r) {
        put_u32(c, r->pid);
        put_u32(c, r->uid);
        put_u32(c, r->rights);
        put_u32(c, r->idx);
        put_counters(c, &r->c);
}

static void get_row(Cursor *c, WireStatsRow *r) {
        r->pid = get_u32(c);
        r->uid = get_u32(c);
        r->rights = get_u32(c);
        r->idx = get_u32(c);
        get_counters(c, &r->c);
}

/*
 * wire_frame_size() - the total size of the frame whose header starts at @hdr
 * @avail: bytes available at @hdr; at least WIRE_HEADER_SIZE are needed
 * @reply: whether a reply is expected (its limit is WIRE_REPLY_MAX, a request's WIRE_REQUEST_MAX)
 *
 * Return: 0 and *@ret; -EAGAIN if fewer than WIRE_HEADER_SIZE bytes are there; -EPROTO for a
 *         wrong magic or version; -EMSGSIZE if the body is above its limit.
 */
int wire_frame_size(const uint8_t *hdr, size_t avail, bool reply, size_t *ret) {
        Cursor c = { .r = hdr, .cap = avail };
        uint32_t magic, len;
        uint16_t version;

        if (avail < WIRE_HEADER_SIZE)
                return -EAGAIN;
        magic = get_u32(&c);
        version = get_u16(&c);
        (void)get_u16(&c);
        len = get_u32(&c);
        if (magic != WIRE_MAGIC || version != WIRE_VERSION)
                return -EPROTO;
        if (len > (reply ? WIRE_REPLY_MAX : WIRE_REQUEST_MAX))
                return -EMSGSIZE;
        *ret = WIRE_HEADER_SIZE + len;
        return 0;
}

/*
 * wire_decode_proto() - decode the complete frame @frame of @len bytes, received on a
 * connection that agreed on protocol version @proto (0 before HELLO)
 * @ret: written on success only; ret->proto is @proto
 *
 * Only replies that carry an info (INFO, LIST, STATS) depend on @proto: from version 3 on
 * each info ends with flags and owner_pid. Requests decode the same in every version.
 *
 * Return: 0; -EPROTO (magic, version), -EMSGSIZE (length above limits), -EBADMSG (an unknown
 *         type, a body that does not parse exactly, a length field that disagrees with @len).
 */
int wire_decode_proto(const uint8_t *frame, size_t len, uint32_t proto, WireMsg *ret) {
        Cursor c = { .r = frame, .cap = len };
        WireMsg m = { .proto = proto };
        size_t size;
        bool reply;
        int r;

        if (len < WIRE_HEADER_SIZE)
                return -EBADMSG;
        (void)get_u32(&c);
        (void)get_u16(&c);
        m.type = get_u16(&c);
        reply = m.type & WIRE_REPLY;
        r = wire_frame_size(frame, len, reply, &size);
        if (r < 0)
                return r;
        if (size != len)
                return -EBADMSG;
        (void)get_u32(&c);
        m.serial = get_u32(&c);

        if (reply) {
                m.status = (int32_t)get_u32(&c);
                if (m.status > 0)
                        return -EBADMSG;
        }
        switch (m.type & ~WIRE_REPLY) {
        case WIRE_HELLO:
                if (!reply || m.status == 0)
                        m.version = get_u32(&c);
                if (reply && m.status == 0)
                        get_str(&c, m.name);
                break;
        case WIRE_CREATE:
                if (!reply) {
                        get_str(&c, m.name);
                        m.slots = get_u32(&c);
                        m.slot_size = get_u32(&c);
                        m.mode = get_u32(&c);
                        m.flags = get_u32(&c);
                        m.gid = get_u32(&c);
                }
                break;
        case WIRE_CHMOD:
                if (!reply) {
                        get_str(&c, m.name);
                        m.mode = get_u32(&c);
                        m.gid = get_u32(&c);
                }
                break;
        case WIRE_RELOAD: break;
        case WIRE_DESTROY:
                if (!reply)
                        get_str(&c, m.name);
                break;
        case WIRE_ATTACH:
        case WIRE_REATTACH:
                if (!reply) {
                        get_str(&c, m.name);
                        if ((m.type & ~WIRE_REPLY) == WIRE_REATTACH) {
                                m.token = get_u32(&c);
                                m.idx = get_u32(&c);
                                m.generation = get_u64(&c);
                        }
                } else if (m.status == 0) {
                        m.mode = get_u32(&c);
                        m.token = get_u32(&c);
                        m.idx = get_u32(&c);
                        m.slots = get_u32(&c);
                        m.slot_size = get_u32(&c);
                        m.generation = get_u64(&c);
                        m.epoch = get_u64(&c);
                        m.size = get_u64(&c);
                }
                break;
        case WIRE_DETACH:
                if (!reply)
                        m.token = get_u32(&c);
                break;
        case WIRE_POLL:
                if (!reply) {
                        get_str(&c, m.name);
                        m.token = get_u32(&c);
                }
                break;
        case WIRE_LIST:
                if (reply && m.status == 0) {
                        const uint8_t *start;
                        char name[NAMES_NAME_MAX + 1];
                        WireInfo info;

                        m.list_count = get_u32(&c);
                        if (m.list_count > WIRE_LIST_MAX)
                                return -EBADMSG;
                        start = c.r + c.pos;
                        for (uint32_t i = 0; i < m.list_count && !c.bad; i++) {
                                get_str(&c, name);
                                get_info(&c, &info, proto);
                        }
                        m.list = start;
                        m.list_len = (size_t)(c.r + c.pos - start);
                }
                break;
        case WIRE_INFO:
                if (!reply)
                        get_str(&c, m.name);
                else if (m.status == 0)
                        get_info(&c, &m.info, proto);
                break;
        case WIRE_STATS:
                if (!reply)
                        get_str(&c, m.name);
                else if (m.status == 0) {
                        const uint8_t *start;
                        WireStatsRow row;

                        get_info(&c, &m.stats.info, proto);
                        m.stats.abandoned = get_u64(&c);
                        get_counters(&c, &m.stats.total);
                        m.list_count = get_u32(&c);
                        if (m.list_count > WIRE_STATS_ROWS_MAX)
                                return -EBADMSG;
                        start = c.r + c.pos;
                        for (uint32_t i = 0; i < m.list_count && !c.bad; i++)
                                get_row(&c, &row);
                        m.list = start;
                        m.list_len = (size_t)(c.r + c.pos - start);
                }
                break;
        default: return -EBADMSG;
        }
        if (reply && m.status < 0 && !c.bad && c.pos < len) {
                get_text(&c, m.reason, WIRE_REASON_MAX);
                if (!m.reason[0])
                        c.bad = true; /* one encoding only: no reason is no bytes, not an empty string */
        }
        if (c.bad || c.pos != len)
                return -EBADMSG;
        *ret = m;
        return 0;
}

/*
 * wire_decode() - wire_decode_proto() for a connection below protocol version 3, where no
 * frame depends on the version (the daemon decoding requests, tests speaking version 1 or 2)
 */
int wire_decode(const uint8_t *frame, size_t len, WireMsg *ret) {
        return wire_decode_proto(frame, len, WIRE_HELLO_REASONS, ret);
}

static void put_header(Cursor *c, uint16_t type, uint32_t serial) {
        put_u32(c, WIRE_MAGIC);
        put_u16(c, WIRE_VERSION);
        put_u16(c, type);
        put_u32(c, 0); /* length, patched at the end */
        put_u32(c, serial);
}

static size_t finish(Cursor *c) {
        uint32_t body = (uint32_t)(c->pos - WIRE_HEADER_SIZE);

        c->w[8] = (uint8_t)body;
        c->w[9] = (uint8_t)(body >> 8);
        c->w[10] = (uint8_t)(body >> 16);
        c->w[11] = (uint8_t)(body >> 24);
        return c->pos;
}

/*
 * wire_encode() - encode @m (any type except a LIST reply with entries) into @buf
 *
 * Return: the frame's length; -ENOBUFS if @buf is too small; -EINVAL for an unknown type or
 *         an overlong name.
 */
int wire_encode(uint8_t *buf, size_t cap, const WireMsg *m) {
        Cursor c = { .w = buf, .cap = cap };
        bool reply = m->type & WIRE_REPLY;

        put_header(&c, m->type, m->serial);
        if (reply)
                put_u32(&c, (uint32_t)m->status);
        switch (m->type & ~WIRE_REPLY) {
        case WIRE_HELLO:
                if (!reply || m->status == 0)
                        put_u32(&c, m->version);
                if (reply && m->status == 0)
                        put_str(&c, m->name);
                break;
        case WIRE_CREATE:
                if (!reply) {
                        put_str(&c, m->name);
                        put_u32(&c, m->slots);
                        put_u32(&c, m->slot_size);
                        put_u32(&c, m->mode);
                        put_u32(&c, m->flags);
                        put_u32(&c, m->gid);
                }
                break;
        case WIRE_CHMOD:
                if (!reply) {
                        put_str(&c, m->name);
                        put_u32(&c, m->mode);
                        put_u32(&c, m->gid);
                }
                break;
        case WIRE_RELOAD: break;
        case WIRE_DESTROY:
        case WIRE_INFO:
                if (!reply)
                        put_str(&c, m->name);
                else if (m->status == 0 && (m->type & ~WIRE_REPLY) == WIRE_INFO)
                        put_info(&c, &m->info, m->proto);
                break;
        case WIRE_ATTACH:
        case WIRE_REATTACH:
                if (!reply) {
                        put_str(&c, m->name);
                        if ((m->type & ~WIRE_REPLY) == WIRE_REATTACH) {
                                put_u32(&c, m->token);
                                put_u32(&c, m->idx);
                                put_u64(&c, m->generation);
                        }
                } else if (m->status == 0) {
                        put_u32(&c, m->mode);
                        put_u32(&c, m->token);
                        put_u32(&c, m->idx);
                        put_u32(&c, m->slots);
                        put_u32(&c, m->slot_size);
                        put_u64(&c, m->generation);
                        put_u64(&c, m->epoch);
                        put_u64(&c, m->size);
                }
                break;
        case WIRE_DETACH:
                if (!reply)
                        put_u32(&c, m->token);
                break;
        case WIRE_POLL:
                if (!reply) {
                        put_str(&c, m->name);
                        put_u32(&c, m->token);
                }
                break;
        case WIRE_LIST:
                if (reply && m->status == 0)
                        put_u32(&c, 0);
                break;
        case WIRE_STATS:
                if (!reply)
                        put_str(&c, m->name);
                else if (m->status == 0) {
                        if (m->n_rows > WIRE_STATS_ROWS_MAX)
                                return -EINVAL;
                        put_info(&c, &m->stats.info, m->proto);
                        put_u64(&c, m->stats.abandoned);
                        put_counters(&c, &m->stats.total);
                        put_u32(&c, m->n_rows);
                        for (uint32_t i = 0; i < m->n_rows; i++)
                                put_row(&c, &m->rows[i]);
                }
                break;
        default: return -EINVAL;
        }
        if (reply && m->status < 0 && m->reason[0])
                put_text(&c, m->reason, WIRE_REASON_MAX);
        if (c.bad)
                return strnlen(m->name, NAMES_NAME_MAX + 1) > NAMES_NAME_MAX ? -EINVAL : -ENOBUFS;
        return (int)finish(&c);
}

/*
 * wire_list_begin() - start a successful LIST reply in @buf, for a connection that agreed on
 * protocol version @proto
 *
 * Return: 0; -ENOBUFS if @buf cannot hold even an empty reply.
 */
int wire_list_begin(WireListWriter *w, uint8_t *buf, size_t cap, uint32_t serial, uint32_t proto) {
        Cursor c = { .w = buf, .cap = cap };

        put_header(&c, WIRE_LIST | WIRE_REPLY, serial);
        put_u32(&c, 0); /* status */
        put_u32(&c, 0); /* count, patched at the end */
        if (c.bad)
                return -ENOBUFS;
        *w = (WireListWriter){ .buf = buf, .cap = cap, .len = c.pos, .proto = proto };
        return 0;
}

/*
 * wire_list_add() - append one entry
 *
 * Return: 0; -ENOBUFS if it does not fit (or WIRE_LIST_MAX entries are there); nothing is
 *         appended then.
 */
int wire_list_add(WireListWriter *w, const char *name, const WireInfo *info) {
        Cursor c = { .w = w->buf, .cap = w->cap, .pos = w->len };

        if (w->count >= WIRE_LIST_MAX)
                return -ENOBUFS;
        put_str(&c, name);
        put_info(&c, info, w->proto);
        if (c.bad)
                return -ENOBUFS;
        w->len = c.pos;
        w->count++;
        return 0;
}

/*
 * wire_list_end() - patch length and count; returns the frame's length
 */
size_t wire_list_end(WireListWriter *w) {
        Cursor c = { .w = w->buf, .cap = w->cap, .pos = w->len };
        uint8_t *n = w->buf + WIRE_HEADER_SIZE + 4;

        n[0] = (uint8_t)w->count;
        n[1] = (uint8_t)(w->count >> 8);
        n[2] = (uint8_t)(w->count >> 16);
        n[3] = (uint8_t)(w->count >> 24);
        return finish(&c);
}

/*
 * wire_list_next() - read the entry at *@pos of a decoded LIST reply and move past it
 * @proto: the version the reply was decoded for (its WireMsg.proto)
 *
 * Return: 1 and the entry; 0 at @end; -EBADMSG (cannot happen on a list wire_decode() accepted).
 */
int wire_list_next(const uint8_t **pos, const uint8_t *end, uint32_t proto, char name[NAMES_NAME_MAX + 1],
                   WireInfo *ret) {
        Cursor c = { .r = *pos, .cap = (size_t)(end - *pos) };

        if (*pos >= end)
                return 0;
        get_str(&c, name);
        get_info(&c, ret, proto);
        if (c.bad)
                return -EBADMSG;
        *pos += c.pos;
        return 1;
}

/*
 * wire_stats_next() - read the row at *@pos of a decoded STATS reply and move past it
 *
 * Return: 1 and the row; 0 at @end; -EBADMSG (cannot happen on a reply wire_decode() accepted).
 */
int wire_stats_next(const uint8_t **pos, const uint8_t *end, WireStatsRow *ret) {
        Cursor c = { .r = *pos, .cap = (size_t)(end - *pos) };
        WireStatsRow row;

        if (*pos >= end)
                return 0;
        get_row(&c, &row);
        if (c.bad)
                return -EBADMSG;
        *pos += c.pos;
        *ret = row;
        return 1;
}
