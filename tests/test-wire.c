/* SPDX-License-Identifier: MIT */
/* test-wire.c — unit tests for proto/wire: every message's round trip, the decoder's limits. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/wire.h"

/* The encoded size of a WireInfo: 15 u32 and 5 u64 fields. */
#define INFO_SIZE (16 * 4 + 5 * 8)

#define BUF_MAX (WIRE_HEADER_SIZE + WIRE_REPLY_MAX + 4096)

/* --- helpers ------------------------------------------------------------------------------- */

static void put_le16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p) {
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Write a frame header: magic, version, type, body length, serial. */
static void header(uint8_t *p, uint16_t type, uint32_t body, uint32_t serial) {
        put_le32(p, WIRE_MAGIC);
        put_le16(p + 4, WIRE_VERSION);
        put_le16(p + 6, type);
        put_le32(p + 8, body);
        put_le32(p + 12, serial);
}

/* A tiny frame builder for hand-crafted (often invalid) bodies. */
typedef struct Frame {
        uint8_t b[BUF_MAX];
        size_t len;
} Frame;

static void frame_start(Frame *f, uint16_t type, uint32_t serial) {
        header(f->b, type, 0, serial);
        f->len = WIRE_HEADER_SIZE;
}

static void frame_u16(Frame *f, uint16_t v) {
        put_le16(f->b + f->len, v);
        f->len += 2;
}

static void frame_u32(Frame *f, uint32_t v) {
        put_le32(f->b + f->len, v);
        f->len += 4;
}

static void frame_bytes(Frame *f, const void *p, size_t n) {
        memcpy(f->b + f->len, p, n);
        f->len += n;
}

/* Patch the length field to the bytes written so far. */
static void frame_finish(Frame *f) {
        put_le32(f->b + 8, (uint32_t)(f->len - WIRE_HEADER_SIZE));
}

/* wire_decode() on an exact-size heap copy, so any read past the end is a real overread. */
static int decode_copy(const uint8_t *p, size_t len, WireMsg *m) {
        uint8_t *copy = malloc(len ? len : 1);
        int r;

        ck_assert_ptr_nonnull(copy);
        if (len)
                memcpy(copy, p, len);
        r = wire_decode(copy, len, m);
        free(copy);
        return r;
}

static WireInfo make_info(uint32_t seed) {
        return (WireInfo){
                .slots = seed + 1,
                .slot_size = seed + 2,
                .mode = 0640 + seed,
                .queued = seed + 3,
                .attached = seed + 4,
                .uid = 1000 + seed,
                .gid = 2000 + seed,
                .sent = UINT64_C(0x0102030405060708) + seed,
                .received = UINT64_C(0x1112131415161718) + seed,
                .recovered = UINT64_C(0x2122232425262728) + seed,
                .lock_holder_pid = 4000000 + seed,
                .claimed = seed + 5,
                .taken = seed + 6,
                .orphaned = seed + 7,
                .generation = UINT64_C(0xf1f2f3f4f5f6f7f8) - seed,
                .repairs = UINT64_C(0x3132333435363738) + seed,
                .oldest_claimed_pid = 5000000 + seed,
                .oldest_taken_pid = 6000000 + seed,
                .oldest_claimed_age_ms = seed + 8,
                .oldest_taken_age_ms = seed + 9,
                .corrupt = seed + 10,
        };
}

static void assert_info_eq(const WireInfo *a, const WireInfo *b) {
        ck_assert_uint_eq(a->slots, b->slots);
        ck_assert_uint_eq(a->slot_size, b->slot_size);
        ck_assert_uint_eq(a->mode, b->mode);
        ck_assert_uint_eq(a->queued, b->queued);
        ck_assert_uint_eq(a->attached, b->attached);
        ck_assert_uint_eq(a->uid, b->uid);
        ck_assert_uint_eq(a->gid, b->gid);
        ck_assert_uint_eq(a->sent, b->sent);
        ck_assert_uint_eq(a->received, b->received);
        ck_assert_uint_eq(a->recovered, b->recovered);
        ck_assert_uint_eq(a->lock_holder_pid, b->lock_holder_pid);
        ck_assert_uint_eq(a->claimed, b->claimed);
        ck_assert_uint_eq(a->taken, b->taken);
        ck_assert_uint_eq(a->orphaned, b->orphaned);
        ck_assert_uint_eq(a->generation, b->generation);
        ck_assert_uint_eq(a->repairs, b->repairs);
        ck_assert_uint_eq(a->oldest_claimed_pid, b->oldest_claimed_pid);
        ck_assert_uint_eq(a->oldest_taken_pid, b->oldest_taken_pid);
        ck_assert_uint_eq(a->oldest_claimed_age_ms, b->oldest_claimed_age_ms);
        ck_assert_uint_eq(a->oldest_taken_age_ms, b->oldest_taken_age_ms);
        ck_assert_uint_eq(a->corrupt, b->corrupt);
}

/* Every field of a decoded message, including those its type leaves zero. */
static void assert_msg_eq(const WireMsg *a, const WireMsg *b) {
        ck_assert_uint_eq(a->type, b->type);
        ck_assert_uint_eq(a->serial, b->serial);
        ck_assert_int_eq(a->status, b->status);
        ck_assert_str_eq(a->name, b->name);
        ck_assert_uint_eq(a->slots, b->slots);
        ck_assert_uint_eq(a->slot_size, b->slot_size);
        ck_assert_uint_eq(a->mode, b->mode);
        ck_assert_uint_eq(a->flags, b->flags);
        ck_assert_uint_eq(a->gid, b->gid);
        ck_assert_uint_eq(a->token, b->token);
        ck_assert_uint_eq(a->idx, b->idx);
        ck_assert_uint_eq(a->generation, b->generation);
        ck_assert_uint_eq(a->epoch, b->epoch);
        ck_assert_uint_eq(a->size, b->size);
        ck_assert_uint_eq(a->version, b->version);
        assert_info_eq(&a->info, &b->info);
        ck_assert_uint_eq(a->list_count, b->list_count);
        ck_assert_uint_eq(a->list_len, b->list_len);
}

/*
 * The messages of the protocol, each with exactly the fields its type carries (so a decoded
 * copy must equal it field by field): every request, every successful reply, and every reply
 * with an error status (which carries nothing but the status).
 */
static const WireMsg *msg_case(unsigned i) {
        static WireMsg cases[64];
        static unsigned n;
        static const int32_t errors[] = { -ENOENT, -EEXIST, -EPERM, -EINVAL, -ENOSPC, -EBUSY, -EIO };

        if (n == 0) {
                cases[n++] = (WireMsg){ .type = WIRE_HELLO, .serial = 1, .version = WIRE_VERSION };
                cases[n++] = (WireMsg){ .type = WIRE_CREATE,
                                        .serial = 2,
                                        .name = "orders",
                                        .slots = 16,
                                        .slot_size = 4096,
                                        .mode = 0640,
                                        .flags = WIRE_CREATE_GID,
                                        .gid = 2100 };
                cases[n++] =
                        (WireMsg){ .type = WIRE_CHMOD, .serial = 21, .name = "orders", .mode = WIRE_KEEP, .gid = 77 };
                cases[n++] = (WireMsg){ .type = WIRE_RELOAD, .serial = 22 };
                cases[n++] = (WireMsg){ .type = WIRE_POLL, .serial = 23, .name = "ticks", .token = 0x0badf00du };
                cases[n++] = (WireMsg){ .type = WIRE_POLL | WIRE_REPLY, .serial = 24 };
                cases[n++] = (WireMsg){ .type = WIRE_CREATE,
                                        .serial = 0xffffffffu,
                                        .slots = 0xfffffffeu,
                                        .slot_size = 0x80000001u,
                                        .mode = 0xdeadbeefu,
                                        .name = "0123456789012345678901234567890123456789012345678901234567890123" };
                cases[n++] = (WireMsg){ .type = WIRE_DESTROY, .serial = 3, .name = "orders.eu" };
                cases[n++] = (WireMsg){ .type = WIRE_ATTACH, .serial = 4, .name = "a" };
                cases[n++] = (WireMsg){ .type = WIRE_DETACH, .serial = 5, .token = 0xcafebabeu };
                cases[n++] = (WireMsg){ .type = WIRE_LIST, .serial = 6 };
                cases[n++] = (WireMsg){ .type = WIRE_INFO, .serial = 7, .name = "in-fo_1" };
                /* an empty name is framed like any other (the daemon checks the rules) */
                cases[n++] = (WireMsg){ .type = WIRE_INFO, .serial = 8, .name = "" };
                cases[n++] = (WireMsg){ .type = WIRE_REATTACH,
                                        .serial = 9,
                                        .name = "orders",
                                        .token = 0x76543210u,
                                        .idx = 200,
                                        .generation = UINT64_C(0x8877665544332211) };

                cases[n++] = (WireMsg){
                        .type = WIRE_HELLO | WIRE_REPLY, .serial = 11, .version = 7, .name = "shmbox"
                }; /* the daemon's prefix */
                cases[n++] = (WireMsg){ .type = WIRE_CREATE | WIRE_REPLY, .serial = 12 };
                cases[n++] = (WireMsg){ .type = WIRE_DESTROY | WIRE_REPLY, .serial = 13 };
                cases[n++] = (WireMsg){ .type = WIRE_ATTACH | WIRE_REPLY,
                                        .serial = 14,
                                        .mode = WIRE_RIGHT_R | WIRE_RIGHT_W,
                                        .token = 0x89abcdefu,
                                        .idx = 255,
                                        .slots = 65536,
                                        .slot_size = 16u << 20,
                                        .generation = UINT64_C(0x0123456789abcdef),
                                        .epoch = UINT64_C(0xfedcba9876543210),
                                        .size = UINT64_C(0x0000010000401000) };
                cases[n++] = (WireMsg){ .type = WIRE_DETACH | WIRE_REPLY, .serial = 15 };
                cases[n++] = (WireMsg){ .type = WIRE_LIST | WIRE_REPLY, .serial = 16 };
                cases[n++] = (WireMsg){ .type = WIRE_INFO | WIRE_REPLY, .serial = 17, .info = make_info(3) };
                cases[n++] = (WireMsg){ .type = WIRE_REATTACH | WIRE_REPLY,
                                        .serial = 18,
                                        .mode = WIRE_RIGHT_R,
                                        .token = 0x76543210u,
                                        .idx = 200,
                                        .slots = 8,
                                        .slot_size = 512,
                                        .generation = UINT64_C(0x8877665544332211),
                                        .epoch = 3,
                                        .size = 4096 + 8 * 576 };

                for (unsigned t = WIRE_HELLO; t < _WIRE_TYPE_MAX; t++)
                        cases[n++] = (WireMsg){ .type = (uint16_t)(t | WIRE_REPLY),
                                                .serial = 20 + t,
                                                .status = errors[(t - WIRE_HELLO) % 7] };
                cases[n++] = (WireMsg){ .type = WIRE_ATTACH | WIRE_REPLY, .serial = 30, .status = INT32_MIN };
                if (n > sizeof(cases) / sizeof(cases[0]))
                        abort(); /* the table outgrew its array */
        }
        return i < n ? &cases[i] : NULL;
}

static unsigned msg_case_count(void) {
        unsigned n = 0;

        while (msg_case(n))
                n++;
        return n;
}

static size_t encode_case(unsigned i, uint8_t *buf, size_t cap) {
        int n = wire_encode(buf, cap, msg_case(i));

        ck_assert_int_gt(n, 0);
        return (size_t)n;
}

/* --- round trips --------------------------------------------------------------------------- */

START_TEST(test_every_message_survives_encode_and_decode) {
        const WireMsg *want = msg_case(_i);
        static uint8_t buf[BUF_MAX];
        size_t len, size;
        WireMsg got;

        ck_assert_ptr_nonnull(want);
        len = encode_case(_i, buf, sizeof(buf));
        ck_assert_uint_ge(len, WIRE_HEADER_SIZE);
        /* the framing announces exactly the encoded length */
        ck_assert_int_eq(wire_frame_size(buf, len, want->type & WIRE_REPLY, &size), 0);
        ck_assert_uint_eq(size, len);
        ck_assert_uint_eq(get_le32(buf), WIRE_MAGIC);
        ck_assert_uint_eq(get_le32(buf + 12), want->serial);

        memset(&got, 0x5a, sizeof(got));
        ck_assert_int_eq(decode_copy(buf, len, &got), 0);
        assert_msg_eq(&got, want);
}
END_TEST

START_TEST(test_the_encoded_size_of_each_message_is_what_the_format_says) {
        static const struct {
                uint16_t type;
                size_t body;
        } sizes[] = {
                { WIRE_HELLO, 4 },
                { WIRE_CREATE, 2 + 6 + 20 },
                { WIRE_DESTROY, 2 + 9 },
                { WIRE_ATTACH, 2 + 1 },
                { WIRE_DETACH, 4 },
                { WIRE_LIST, 0 },
                { WIRE_HELLO | WIRE_REPLY, 4 + 4 + 2 + 6 },
                { WIRE_CREATE | WIRE_REPLY, 4 },
                { WIRE_ATTACH | WIRE_REPLY, 4 + 5 * 4 + 3 * 8 },
                { WIRE_REATTACH, 2 + 6 + 4 + 4 + 8 },
                { WIRE_REATTACH | WIRE_REPLY, 4 + 5 * 4 + 3 * 8 },
                { WIRE_LIST | WIRE_REPLY, 4 + 4 },
                { WIRE_INFO | WIRE_REPLY, 4 + INFO_SIZE },
                { WIRE_CHMOD, 2 + 6 + 8 },
                { WIRE_RELOAD, 0 },
                { WIRE_POLL, 2 + 5 + 4 },
                { WIRE_POLL | WIRE_REPLY, 4 },
        };
        static uint8_t buf[BUF_MAX];

        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
                bool found = false;

                for (unsigned i = 0; msg_case(i); i++) {
                        const WireMsg *m = msg_case(i);

                        if (m->type != sizes[k].type || m->status != 0 || found)
                                continue;
                        found = true;
                        ck_assert_msg(encode_case(i, buf, sizeof(buf)) == WIRE_HEADER_SIZE + sizes[k].body,
                                      "type 0x%x: %zu bytes", m->type, encode_case(i, buf, sizeof(buf)));
                }
                ck_assert_msg(found, "no case for type 0x%x", sizes[k].type);
        }
}
END_TEST

START_TEST(test_an_error_reply_carries_only_its_status) {
        static uint8_t buf[BUF_MAX];
        WireMsg m = { .type = WIRE_ATTACH | WIRE_REPLY,
                      .serial = 9,
                      .status = -EACCES,
                      .token = 77,
                      .idx = 3,
                      .slots = 8,
                      .generation = 99,
                      .version = 5,
                      .info = make_info(1),
                      .name = "ignored" };
        WireMsg got;
        int n;

        n = wire_encode(buf, sizeof(buf), &m);
        ck_assert_int_eq(n, WIRE_HEADER_SIZE + 4);
        ck_assert_int_eq(decode_copy(buf, (size_t)n, &got), 0);
        ck_assert_int_eq(got.status, -EACCES);
        ck_assert_uint_eq(got.token, 0);
        ck_assert_uint_eq(got.generation, 0);
        ck_assert_str_eq(got.name, "");
}
END_TEST

/* Protocol version 2 (HELLO): an error reply may say why, after its status. */
START_TEST(test_an_error_reply_may_carry_a_reason_after_its_status) {
        static const char why[] = "1099515826176 bytes, above max-mailbox-bytes 1073741824";
        static uint8_t buf[BUF_MAX];
        WireMsg m = { .type = WIRE_CREATE | WIRE_REPLY, .serial = 4, .status = -ENOSPC }, got;
        int n;

        strcpy(m.reason, why);
        n = wire_encode(buf, sizeof(buf), &m);
        ck_assert_int_eq(n, WIRE_HEADER_SIZE + 4 + 2 + (int)strlen(why));
        ck_assert_int_eq(decode_copy(buf, (size_t)n, &got), 0);
        ck_assert_int_eq(got.status, -ENOSPC);
        ck_assert_str_eq(got.reason, why);

        /* a success carries none, whatever the field holds */
        m.status = 0;
        n = wire_encode(buf, sizeof(buf), &m);
        ck_assert_int_eq(n, WIRE_HEADER_SIZE + 4);
        ck_assert_int_eq(decode_copy(buf, (size_t)n, &got), 0);
        ck_assert_str_eq(got.reason, "");
}
END_TEST

START_TEST(test_a_reason_is_1_to_wire_reason_max_bytes_without_nul) {
        static Frame f;
        char text[WIRE_REASON_MAX + 1];
        WireMsg m;

        memset(text, 'r', sizeof(text));
        frame_start(&f, WIRE_DESTROY | WIRE_REPLY, 1);
        frame_u32(&f, (uint32_t)-EPERM);
        frame_u16(&f, WIRE_REASON_MAX);
        frame_bytes(&f, text, WIRE_REASON_MAX);
        frame_finish(&f);
        ck_assert_int_eq(decode_copy(f.b, f.len, &m), 0);
        ck_assert_uint_eq(strlen(m.reason), WIRE_REASON_MAX);

        frame_start(&f, WIRE_DESTROY | WIRE_REPLY, 1);
        frame_u32(&f, (uint32_t)-EPERM);
        frame_u16(&f, WIRE_REASON_MAX + 1);
        frame_bytes(&f, text, WIRE_REASON_MAX + 1);
        frame_finish(&f);
        ck_assert_int_eq(decode_copy(f.b, f.len, &m), -EBADMSG);

        frame_start(&f, WIRE_DESTROY | WIRE_REPLY, 1);
        frame_u32(&f, (uint32_t)-EPERM);
        frame_u16(&f, 3);
        frame_bytes(&f, "a\0b", 3);
        frame_finish(&f);
        ck_assert_int_eq(decode_copy(f.b, f.len, &m), -EBADMSG);

        /* no reason is no bytes: an empty string is not a second encoding of it */
        frame_start(&f, WIRE_DESTROY | WIRE_REPLY, 1);
        frame_u32(&f, (uint32_t)-EPERM);
        frame_u16(&f, 0);
        frame_finish(&f);
        ck_assert_int_eq(decode_copy(f.b, f.len, &m), -EBADMSG);

        /* a success reply has no room for one */
        frame_start(&f, WIRE_DESTROY | WIRE_REPLY, 1);
        frame_u32(&f, 0);
        frame_u16(&f, 2);
        frame_bytes(&f, "no", 2);
        frame_finish(&f);
        ck_assert_int_eq(decode_copy(f.b, f.len, &m), -EBADMSG);
}
END_TEST

START_TEST(test_an_empty_list_reply_decodes_to_no_entries) {
        static uint8_t buf[BUF_MAX];
        WireListWriter w;
        const uint8_t *pos;
        char name[NAMES_NAME_MAX + 1];
        WireInfo info;
        WireMsg got;
        size_t len;

        ck_assert_int_eq(wire_list_begin(&w, buf, sizeof(buf), 42, WIRE_HELLO_REASONS), 0);
        len = wire_list_end(&w);
        ck_assert_uint_eq(len, WIRE_HEADER_SIZE + 8);
        ck_assert_int_eq(decode_copy(buf, len, &got), 0);
        ck_assert_uint_eq(got.type, WIRE_LIST | WIRE_REPLY);
        ck_assert_uint_eq(got.serial, 42);
        ck_assert_int_eq(got.status, 0);
        ck_assert_uint_eq(got.list_count, 0);
        ck_assert_uint_eq(got.list_len, 0);
        /* decode from the caller's buffer: the list points into it */
        ck_assert_int_eq(wire_decode(buf, len, &got), 0);
        pos = got.list;
        ck_assert_int_eq(wire_list_next(&pos, got.list + got.list_len, WIRE_HELLO_REASONS, name, &info), 0);
}
END_TEST

START_TEST(test_a_list_reply_built_entry_by_entry_is_walked_back_in_order) {
        static const char *const names[] = { "a", "orders", "x.y-z_0",
                                             "0123456789012345678901234567890123456789012345678901234567890123" };
        static uint8_t buf[BUF_MAX];
        WireListWriter w;
        const uint8_t *pos, *end;
        char name[NAMES_NAME_MAX + 1];
        WireInfo info, want;
        WireMsg got;
        size_t len;
        unsigned n = 0;
        int r;

        ck_assert_int_eq(wire_list_begin(&w, buf, sizeof(buf), 0x01020304, WIRE_HELLO_REASONS), 0);
        for (unsigned i = 0; i < 4; i++) {
                want = make_info(i * 10);
                ck_assert_int_eq(wire_list_add(&w, names[i], &want), 0);
        }
        len = wire_list_end(&w);
        ck_assert_uint_eq(len, WIRE_HEADER_SIZE + 8 + 4 * INFO_SIZE + 2 * 4 + 1 + 6 + 7 + 64);

        ck_assert_int_eq(wire_decode(buf, len, &got), 0);
        ck_assert_uint_eq(got.type, WIRE_LIST | WIRE_REPLY);
        ck_assert_uint_eq(got.serial, 0x01020304);
        ck_assert_uint_eq(got.list_count, 4);
        ck_assert_ptr_eq(got.list, buf + WIRE_HEADER_SIZE + 8);
        ck_assert_uint_eq(got.list_len, len - WIRE_HEADER_SIZE - 8);

        pos = got.list;
        end = got.list + got.list_len;
        while ((r = wire_list_next(&pos, end, WIRE_HELLO_REASONS, name, &info)) == 1) {
                ck_assert_uint_lt(n, 4);
                ck_assert_str_eq(name, names[n]);
                want = make_info(n * 10);
                assert_info_eq(&info, &want);
                n++;
        }
        ck_assert_int_eq(r, 0);
        ck_assert_uint_eq(n, 4);
        ck_assert_ptr_eq(pos, end);
        /* at the end it stays at the end */
        ck_assert_int_eq(wire_list_next(&pos, end, WIRE_HELLO_REASONS, name, &info), 0);
}
END_TEST

START_TEST(test_a_list_reply_holds_wire_list_max_entries_and_refuses_one_more) {
        static uint8_t buf[BUF_MAX];
        WireListWriter w;
        WireInfo info = make_info(5);
        char name[NAMES_NAME_MAX + 1];
        const uint8_t *pos, *end;
        WireMsg got;
        size_t len, before;
        unsigned n = 0;

        ck_assert_int_eq(wire_list_begin(&w, buf, sizeof(buf), 1, WIRE_HELLO_REASONS), 0);
        for (unsigned i = 0; i < WIRE_LIST_MAX; i++) {
                snprintf(name, sizeof(name), "mailbox-%u", i);
                ck_assert_int_eq(wire_list_add(&w, name, &info), 0);
        }
        before = w.len;
        ck_assert_int_eq(wire_list_add(&w, "one-more", &info), -ENOBUFS);
        ck_assert_uint_eq(w.len, before);
        ck_assert_uint_eq(w.count, WIRE_LIST_MAX);
        len = wire_list_end(&w);
        ck_assert_uint_le(len - WIRE_HEADER_SIZE, WIRE_REPLY_MAX);

        ck_assert_int_eq(wire_decode(buf, len, &got), 0);
        ck_assert_uint_eq(got.list_count, WIRE_LIST_MAX);
        pos = got.list;
        end = got.list + got.list_len;
        while (wire_list_next(&pos, end, WIRE_HELLO_REASONS, name, &info) == 1) {
                char want[NAMES_NAME_MAX + 1];

                snprintf(want, sizeof(want), "mailbox-%u", n);
                ck_assert_str_eq(name, want);
                n++;
        }
        ck_assert_uint_eq(n, WIRE_LIST_MAX);
}
END_TEST

START_TEST(test_a_list_entry_that_does_not_fit_is_enobufs_and_leaves_the_reply_intact) {
        static uint8_t buf[BUF_MAX];
        WireListWriter w;
        WireInfo info = make_info(1);
        WireMsg got;
        size_t cap = WIRE_HEADER_SIZE + 8 + 2 + 5 + INFO_SIZE + 30; /* one "first" entry and change */
        size_t len;

        ck_assert_int_eq(wire_list_begin(&w, buf, cap, 3, WIRE_HELLO_REASONS), 0);
        ck_assert_int_eq(wire_list_add(&w, "first", &info), 0);
        ck_assert_int_eq(wire_list_add(&w, "second", &info), -ENOBUFS);
        ck_assert_uint_eq(w.count, 1);
        len = wire_list_end(&w);
        ck_assert_int_eq(wire_decode(buf, len, &got), 0);
        ck_assert_uint_eq(got.list_count, 1);
}
END_TEST

START_TEST(test_a_list_buffer_too_small_for_the_empty_reply_is_enobufs) {
        uint8_t buf[WIRE_HEADER_SIZE + 8];
        WireListWriter w;

        for (size_t cap = 0; cap < sizeof(buf); cap++)
                ck_assert_int_eq(wire_list_begin(&w, buf, cap, 1, WIRE_HELLO_REASONS), -ENOBUFS);
        ck_assert_int_eq(wire_list_begin(&w, buf, sizeof(buf), 1, WIRE_HELLO_REASONS), 0);
}
END_TEST

START_TEST(test_a_list_walk_over_a_truncated_entry_is_ebadmsg_and_does_not_move) {
        static uint8_t buf[BUF_MAX];
        WireListWriter w;
        WireInfo info = make_info(2);
        char name[NAMES_NAME_MAX + 1];
        const uint8_t *start, *pos;
        size_t len;

        ck_assert_int_eq(wire_list_begin(&w, buf, sizeof(buf), 1, WIRE_HELLO_REASONS), 0);
        ck_assert_int_eq(wire_list_add(&w, "entry", &info), 0);
        len = wire_list_end(&w);
        start = buf + WIRE_HEADER_SIZE + 8;
        for (const uint8_t *end = start + 1; end < buf + len; end++) {
                pos = start;
                ck_assert_int_eq(wire_list_next(&pos, end, WIRE_HELLO_REASONS, name, &info), -EBADMSG);
                ck_assert_ptr_eq(pos, start);
        }
}
END_TEST

/* --- encoder limits ------------------------------------------------------------------------ */

START_TEST(test_encoding_into_a_short_buffer_is_enobufs_and_writes_nothing_past_it) {
        static uint8_t buf[BUF_MAX];
        size_t len = encode_case(_i, buf, sizeof(buf));

        for (size_t cap = 0; cap < len; cap++) {
                memset(buf, 0xa5, len + 16);
                ck_assert_int_eq(wire_encode(buf, cap, msg_case(_i)), -ENOBUFS);
                for (size_t k = cap; k < len + 16; k++)
                        ck_assert_uint_eq(buf[k], 0xa5);
        }
        ck_assert_int_eq(wire_encode(buf, len, msg_case(_i)), (int)len);
}
END_TEST

START_TEST(test_encoding_an_overlong_name_is_einval) {
        static uint8_t buf[BUF_MAX];
        static const uint16_t types[] = { WIRE_CREATE, WIRE_DESTROY,  WIRE_ATTACH,
                                          WIRE_INFO,   WIRE_REATTACH, WIRE_HELLO | WIRE_REPLY };

        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                WireMsg m = { .type = types[i] };

                memset(m.name, 'n', sizeof(m.name)); /* 65 bytes, no NUL */
                ck_assert_int_eq(wire_encode(buf, sizeof(buf), &m), -EINVAL);
        }
}
END_TEST

START_TEST(test_encoding_an_unknown_type_is_einval) {
        static uint8_t buf[BUF_MAX];
        static const uint16_t types[] = { 0, _WIRE_TYPE_MAX, 0x7fff, WIRE_REPLY, WIRE_REPLY | _WIRE_TYPE_MAX, 0xffff };

        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                WireMsg m = { .type = types[i] };

                ck_assert_int_eq(wire_encode(buf, sizeof(buf), &m), -EINVAL);
        }
}
END_TEST

/* --- framing ------------------------------------------------------------------------------- */

START_TEST(test_frame_size_needs_a_whole_header_and_is_eagain_before) {
        uint8_t hdr[WIRE_HEADER_SIZE];
        size_t size = 12345;

        header(hdr, WIRE_HELLO, 4, 1);
        for (size_t n = 0; n < WIRE_HEADER_SIZE; n++) {
                ck_assert_int_eq(wire_frame_size(hdr, n, false, &size), -EAGAIN);
                ck_assert_int_eq(wire_frame_size(hdr, n, true, &size), -EAGAIN);
        }
        ck_assert_uint_eq(size, 12345); /* untouched on failure */
        ck_assert_int_eq(wire_frame_size(hdr, WIRE_HEADER_SIZE, false, &size), 0);
        ck_assert_uint_eq(size, WIRE_HEADER_SIZE + 4);
}
END_TEST

START_TEST(test_frame_size_limits_a_request_body_to_wire_request_max) {
        uint8_t hdr[WIRE_HEADER_SIZE];
        size_t size = 0;

        header(hdr, WIRE_CREATE, WIRE_REQUEST_MAX, 1);
        ck_assert_int_eq(wire_frame_size(hdr, sizeof(hdr), false, &size), 0);
        ck_assert_uint_eq(size, WIRE_HEADER_SIZE + WIRE_REQUEST_MAX);
        header(hdr, WIRE_CREATE, WIRE_REQUEST_MAX + 1, 1);
        ck_assert_int_eq(wire_frame_size(hdr, sizeof(hdr), false, &size), -EMSGSIZE);
        header(hdr, WIRE_CREATE, UINT32_MAX, 1);
        ck_assert_int_eq(wire_frame_size(hdr, sizeof(hdr), false, &size), -EMSGSIZE);
        /* a reply may be that long */
        header(hdr, WIRE_LIST | WIRE_REPLY, WIRE_REQUEST_MAX + 1, 1);
        ck_assert_int_eq(wire_frame_size(hdr, sizeof(hdr), true, &size), 0);
        ck_assert_uint_eq(size, WIRE_HEADER_SIZE + WIRE_REQUEST_MAX + 1);
}
END_TEST

START_TEST(test_frame_size_limits_a_reply_body_to_wire_reply_max) {
        uint8_t hdr[WIRE_HEADER_SIZE];
        size_t size = 0;

        header(hdr, WIRE_LIST | WIRE_REPLY, WIRE_REPLY_MAX, 1);
        ck_assert_int_eq(wire_frame_size(hdr, sizeof(hdr), true, &size), 0);
        ck_assert_uint_eq(size, WIRE_HEADER_SIZE + WIRE_REPLY_MAX);
        header(hdr, WIRE_LIST | WIRE_REPLY, WIRE_REPLY_MAX + 1, 1);
        ck_assert_int_eq(wire_frame_size(hdr, sizeof(hdr), true, &size), -EMSGSIZE);
        header(hdr, WIRE_LIST | WIRE_REPLY, UINT32_MAX, 1);
        ck_assert_int_eq(wire_frame_size(hdr, sizeof(hdr), true, &size), -EMSGSIZE);
}
END_TEST

START_TEST(test_frame_size_refuses_a_wrong_magic_or_version_with_eproto) {
        uint8_t hdr[WIRE_HEADER_SIZE];
        size_t size;

        header(hdr, WIRE_HELLO, 4, 1);
        hdr[0] ^= 0x20;
        ck_assert_int_eq(wire_frame_size(hdr, sizeof(hdr), false, &size), -EPROTO);
        header(hdr, WIRE_HELLO, 4, 1);
        hdr[3] = 0;
        ck_assert_int_eq(wire_frame_size(hdr, sizeof(hdr), true, &size), -EPROTO);
        header(hdr, WIRE_HELLO, 4, 1);
        put_le16(hdr + 4, WIRE_VERSION + 1);
        ck_assert_int_eq(wire_frame_size(hdr, sizeof(hdr), false, &size), -EPROTO);
        put_le16(hdr + 4, 0);
        ck_assert_int_eq(wire_frame_size(hdr, sizeof(hdr), false, &size), -EPROTO);
        /* the wrong byte order is a wrong magic */
        hdr[0] = 'X';
        hdr[1] = 'B';
        hdr[2] = 'H';
        hdr[3] = 'S';
        put_le16(hdr + 4, WIRE_VERSION);
        ck_assert_int_eq(wire_frame_size(hdr, sizeof(hdr), false, &size), -EPROTO);
}
END_TEST

/* --- malformed input ----------------------------------------------------------------------- */

START_TEST(test_a_frame_truncated_at_any_length_is_ebadmsg) {
        static uint8_t buf[BUF_MAX];
        size_t len = encode_case(_i, buf, sizeof(buf));
        WireMsg m;

        /* cut short: the length field disagrees with the bytes there */
        for (size_t n = 0; n < len; n++)
                ck_assert_int_eq(decode_copy(buf, n, &m), -EBADMSG);
        /* cut short with the length field patched to match: the body itself is short */
        for (size_t n = WIRE_HEADER_SIZE; n < len; n++) {
                static uint8_t copy[BUF_MAX];

                memcpy(copy, buf, n);
                put_le32(copy + 8, (uint32_t)(n - WIRE_HEADER_SIZE));
                ck_assert_int_eq(decode_copy(copy, n, &m), -EBADMSG);
        }
}
END_TEST

START_TEST(test_a_frame_with_trailing_garbage_is_ebadmsg) {
        static uint8_t buf[BUF_MAX];
        size_t len = encode_case(_i, buf, sizeof(buf));
        WireMsg m;

        /* counted in the length field */
        for (size_t extra = 1; extra <= 8; extra++) {
                memset(buf + len, 0, extra);
                put_le32(buf + 8, (uint32_t)(len + extra - WIRE_HEADER_SIZE));
                ck_assert_int_eq(decode_copy(buf, len + extra, &m), -EBADMSG);
        }
        /* beyond the length field */
        put_le32(buf + 8, (uint32_t)(len - WIRE_HEADER_SIZE));
        ck_assert_int_eq(decode_copy(buf, len + 1, &m), -EBADMSG);
        ck_assert_int_eq(decode_copy(buf, len, &m), 0);
}
END_TEST

START_TEST(test_a_request_body_above_wire_request_max_is_emsgsize) {
        static Frame f;
        WireMsg m;

        /* announced (and present) */
        frame_start(&f, WIRE_CREATE, 1);
        memset(f.b + f.len, 'x', WIRE_REQUEST_MAX + 1);
        f.len += WIRE_REQUEST_MAX + 1;
        frame_finish(&f);
        ck_assert_int_eq(decode_copy(f.b, f.len, &m), -EMSGSIZE);
        /* announced only: the limit is judged before the body is there */
        ck_assert_int_eq(decode_copy(f.b, WIRE_HEADER_SIZE, &m), -EMSGSIZE);
        put_le32(f.b + 8, UINT32_MAX);
        ck_assert_int_eq(decode_copy(f.b, WIRE_HEADER_SIZE, &m), -EMSGSIZE);
}
END_TEST

START_TEST(test_a_reply_body_above_wire_reply_max_is_emsgsize) {
        static Frame f;
        WireMsg m;

        frame_start(&f, WIRE_LIST | WIRE_REPLY, 1);
        memset(f.b + f.len, 0, WIRE_REPLY_MAX + 1);
        f.len += WIRE_REPLY_MAX + 1;
        frame_finish(&f);
        ck_assert_int_eq(decode_copy(f.b, f.len, &m), -EMSGSIZE);
        ck_assert_int_eq(decode_copy(f.b, WIRE_HEADER_SIZE, &m), -EMSGSIZE);
        /* a reply body above the request limit is still just a reply */
        frame_start(&f, WIRE_INFO | WIRE_REPLY, 1);
        frame_u32(&f, (uint32_t)-ENOENT);
        memset(f.b + f.len, 0, WIRE_REQUEST_MAX);
        f.len += WIRE_REQUEST_MAX;
        frame_finish(&f);
        ck_assert_int_eq(decode_copy(f.b, f.len, &m), -EBADMSG); /* trailing bytes, not size */
}
END_TEST

START_TEST(test_a_wrong_magic_or_version_is_eproto) {
        static uint8_t buf[BUF_MAX];
        size_t len = encode_case(_i, buf, sizeof(buf));
        WireMsg m;

        for (int byte = 0; byte < 4; byte++) {
                buf[byte] ^= 0x01;
                ck_assert_int_eq(decode_copy(buf, len, &m), -EPROTO);
                buf[byte] ^= 0x01;
        }
        put_le16(buf + 4, WIRE_VERSION + 1);
        ck_assert_int_eq(decode_copy(buf, len, &m), -EPROTO);
        put_le16(buf + 4, 0xffff);
        ck_assert_int_eq(decode_copy(buf, len, &m), -EPROTO);
        put_le16(buf + 4, WIRE_VERSION);
        ck_assert_int_eq(decode_copy(buf, len, &m), 0);
}
END_TEST

START_TEST(test_an_unknown_type_is_ebadmsg) {
        static const uint16_t types[] = { 0,
                                          _WIRE_TYPE_MAX,
                                          0x00ff,
                                          0x4001,
                                          0x7fff,
                                          WIRE_REPLY,
                                          WIRE_REPLY | _WIRE_TYPE_MAX,
                                          WIRE_REPLY | 0x4001,
                                          0xffff };
        static Frame f;
        WireMsg m;

        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                /* empty body */
                frame_start(&f, types[i], 1);
                frame_finish(&f);
                ck_assert_int_eq(decode_copy(f.b, f.len, &m), -EBADMSG);
                /* a body that would be a valid status (replies) */
                frame_start(&f, types[i], 1);
                frame_u32(&f, 0);
                frame_finish(&f);
                ck_assert_int_eq(decode_copy(f.b, f.len, &m), -EBADMSG);
        }
}
END_TEST

START_TEST(test_a_string_of_64_bytes_is_accepted_and_of_65_is_ebadmsg) {
        static Frame f;
        char name[NAMES_NAME_MAX + 2];
        WireMsg m;

        memset(name, 'n', sizeof(name));
        frame_start(&f, WIRE_DESTROY, 1);
        frame_u16(&f, NAMES_NAME_MAX);
        frame_bytes(&f, name, NAMES_NAME_MAX);
        frame_finish(&f);
        ck_assert_int_eq(decode_copy(f.b, f.len, &m), 0);
        ck_assert_uint_eq(strlen(m.name), NAMES_NAME_MAX);

        frame_start(&f, WIRE_DESTROY, 1);
        frame_u16(&f, NAMES_NAME_MAX + 1);
        frame_bytes(&f, name, NAMES_NAME_MAX + 1);
        frame_finish(&f);
        ck_assert_int_eq(decode_copy(f.b, f.len, &m), -EBADMSG);

        /* the largest length a u16 can say, with the bytes present */
        frame_start(&f, WIRE_ATTACH, 1);
        frame_u16(&f, 0xffff);
        memset(f.b + f.len, 'n', 1000);
        f.len += 1000;
        frame_finish(&f);
        ck_assert_int_eq(decode_copy(f.b, f.len, &m), -EBADMSG);
}
END_TEST

START_TEST(test_a_string_over_64_in_a_list_entry_is_ebadmsg) {
        static Frame f;
        char name[NAMES_NAME_MAX + 1];
        WireMsg m;

        memset(name, 'n', sizeof(name));
        frame_start(&f, WIRE_LIST | WIRE_REPLY, 1);
        frame_u32(&f, 0);
        frame_u32(&f, 1);
        frame_u16(&f, NAMES_NAME_MAX + 1);
        frame_bytes(&f, name, NAMES_NAME_MAX + 1);
        memset(f.b + f.len, 0, INFO_SIZE);
        f.len += INFO_SIZE;
        frame_finish(&f);
        ck_assert_int_eq(decode_copy(f.b, f.len, &m), -EBADMSG);
}
END_TEST

START_TEST(test_a_string_with_an_embedded_nul_is_ebadmsg) {
        static const uint16_t types[] = { WIRE_CREATE, WIRE_DESTROY, WIRE_ATTACH, WIRE_INFO, WIRE_REATTACH };
        static Frame f;
        WireMsg m;

        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                /* the last one, without a NUL, shows the frames are otherwise valid */
                static const char *const bodies[] = { "a\0b", "\0ab", "ab\0", "abc" };

                for (size_t k = 0; k < 4; k++) {
                        frame_start(&f, types[i], 1);
                        frame_u16(&f, 3);
                        frame_bytes(&f, bodies[k], 3);
                        /* the rest of the body, so that the string is the only fault */
                        if (types[i] == WIRE_CREATE) {
                                frame_u32(&f, 4);    /* slots */
                                frame_u32(&f, 64);   /* slot_size */
                                frame_u32(&f, 0600); /* mode */
                                frame_u32(&f, 0);    /* flags */
                                frame_u32(&f, 0);    /* gid */
                        } else if (types[i] == WIRE_REATTACH) {
                                frame_u32(&f, 7); /* token */
                                frame_u32(&f, 3); /* idx */
                                frame_u32(&f, 1); /* generation, low */
                                frame_u32(&f, 0); /* generation, high */
                        }
                        frame_finish(&f);
                        ck_assert_int_eq(decode_copy(f.b, f.len, &m), k < 3 ? -EBADMSG : 0);
                }
        }
        /* in the prefix of a HELLO reply */
        frame_start(&f, WIRE_HELLO | WIRE_REPLY, 1);
        frame_u32(&f, 0);
        frame_u32(&f, WIRE_VERSION);
        frame_u16(&f, 3);
        frame_bytes(&f, "s\0x", 3);
        frame_finish(&f);
        ck_assert_int_eq(decode_copy(f.b, f.len, &m), -EBADMSG);
        /* and inside a list entry */
        frame_start(&f, WIRE_LIST | WIRE_REPLY, 1);
        frame_u32(&f, 0);
        frame_u32(&f, 1);
        frame_u16(&f, 3);
        frame_bytes(&f, "x\0y", 3);
        memset(f.b + f.len, 0, INFO_SIZE);
        f.len += INFO_SIZE;
        frame_finish(&f);
        ck_assert_int_eq(decode_copy(f.b, f.len, &m), -EBADMSG);
}
END_TEST

START_TEST(test_a_positive_status_in_a_reply_is_ebadmsg) {
        static const int32_t statuses[] = { 1, 2, EINVAL, INT32_MAX };
        static Frame f;
        WireMsg m;

        for (unsigned t = WIRE_HELLO; t < _WIRE_TYPE_MAX; t++)
                for (size_t k = 0; k < sizeof(statuses) / sizeof(statuses[0]); k++) {
                        frame_start(&f, (uint16_t)(t | WIRE_REPLY), 1);
                        frame_u32(&f, (uint32_t)statuses[k]);
                        frame_finish(&f);
                        ck_assert_int_eq(decode_copy(f.b, f.len, &m), -EBADMSG);
                }
}
END_TEST

START_TEST(test_an_error_reply_with_a_body_after_the_status_is_ebadmsg) {
        static Frame f;
        WireMsg m;

        for (unsigned t = WIRE_HELLO; t < _WIRE_TYPE_MAX; t++) {
                frame_start(&f, (uint16_t)(t | WIRE_REPLY), 1);
                frame_u32(&f, (uint32_t)-ENOENT);
                frame_u32(&f, 1);
                frame_finish(&f);
                ck_assert_int_eq(decode_copy(f.b, f.len, &m), -EBADMSG);
        }
}
END_TEST

START_TEST(test_a_list_count_above_wire_list_max_is_ebadmsg) {
        static uint8_t buf[BUF_MAX];
        WireListWriter w;
        WireInfo info = make_info(9);
        uint8_t *p;
        WireMsg m;
        size_t len;

        /* WIRE_LIST_MAX well-formed entries, then one more appended by hand */
        ck_assert_int_eq(wire_list_begin(&w, buf, sizeof(buf), 1, WIRE_HELLO_REASONS), 0);
        for (unsigned i = 0; i < WIRE_LIST_MAX; i++)
                ck_assert_int_eq(wire_list_add(&w, "m", &info), 0);
        len = wire_list_end(&w);
        ck_assert_int_eq(decode_copy(buf, len, &m), 0);
        p = buf + len;
        memcpy(p, buf + WIRE_HEADER_SIZE + 8, 2 + 1 + INFO_SIZE);
        len += 2 + 1 + INFO_SIZE;
        put_le32(buf + 8, (uint32_t)(len - WIRE_HEADER_SIZE));
        put_le32(buf + WIRE_HEADER_SIZE + 4, WIRE_LIST_MAX + 1);
        ck_assert_int_eq(decode_copy(buf, len, &m), -EBADMSG);

        /* a huge count with no entries behind it */
        put_le32(buf + WIRE_HEADER_SIZE + 4, UINT32_MAX);
        ck_assert_int_eq(decode_copy(buf, len, &m), -EBADMSG);
}
END_TEST

START_TEST(test_a_list_count_above_the_entries_present_is_ebadmsg) {
        static uint8_t buf[BUF_MAX];
        WireListWriter w;
        WireInfo info = make_info(9);
        WireMsg m;
        size_t len;

        ck_assert_int_eq(wire_list_begin(&w, buf, sizeof(buf), 1, WIRE_HELLO_REASONS), 0);
        ck_assert_int_eq(wire_list_add(&w, "one", &info), 0);
        ck_assert_int_eq(wire_list_add(&w, "two", &info), 0);
        len = wire_list_end(&w);
        put_le32(buf + WIRE_HEADER_SIZE + 4, 3);
        ck_assert_int_eq(decode_copy(buf, len, &m), -EBADMSG);
        put_le32(buf + WIRE_HEADER_SIZE + 4, 1); /* fewer: the second entry is trailing garbage */
        ck_assert_int_eq(decode_copy(buf, len, &m), -EBADMSG);
        put_le32(buf + WIRE_HEADER_SIZE + 4, 2);
        ck_assert_int_eq(decode_copy(buf, len, &m), 0);
}
END_TEST

START_TEST(test_a_failed_decode_leaves_the_output_untouched) {
        static uint8_t buf[BUF_MAX];
        size_t len = encode_case(1, buf, sizeof(buf));
        WireMsg m, before;

        memset(&m, 0x77, sizeof(m));
        before = m;
        ck_assert_int_eq(decode_copy(buf, len - 1, &m), -EBADMSG);
        ck_assert_int_eq(memcmp(&m, &before, sizeof(m)), 0);
        buf[0] ^= 1;
        ck_assert_int_eq(decode_copy(buf, len, &m), -EPROTO);
        ck_assert_int_eq(memcmp(&m, &before, sizeof(m)), 0);
}
END_TEST

/* --- random input -------------------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void) {
        /* xorshift64*: deterministic for a fixed seed, good enough to shake a parser */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * UINT64_C(2685821657736338717);
}

static uint32_t rnd_below(uint32_t n) {
        return (uint32_t)(rnd() % n);
}

/* Fill a plausible-looking body: small string lengths, small numbers, the odd NUL. */
static size_t random_body(uint8_t *p, size_t max) {
        size_t n = 0, want = rnd_below(4) == 0 ? rnd_below((uint32_t)max + 1) : rnd_below(160);

        while (n < want && n < max) {
                switch (rnd_below(4)) {
                case 0: /* a string */
                        if (n + 2 <= max) {
                                uint16_t sl = (uint16_t)(rnd_below(8) == 0 ? rnd() : rnd_below(70));

                                put_le16(p + n, sl);
                                n += 2;
                                for (uint16_t k = 0; k < sl && n < max && k < 80; k++)
                                        p[n++] = rnd_below(50) == 0 ? 0 : (uint8_t)('a' + rnd_below(26));
                        }
                        break;
                case 1: /* a small u32 */
                        if (n + 4 <= max) {
                                put_le32(p + n, rnd_below(3) == 0 ? (uint32_t)-rnd_below(200) : rnd_below(5));
                                n += 4;
                        }
                        break;
                default: p[n++] = (uint8_t)rnd(); break;
                }
        }
        return n;
}

START_TEST(test_random_frames_never_crash_the_decoder_and_are_rejected_cleanly) {
        static uint8_t buf[BUF_MAX], again[BUF_MAX], list[1024];
        unsigned accepted = 0, list_walked = 0;
        unsigned n_cases = msg_case_count();
        WireInfo list_info = make_info(4);
        WireListWriter w;
        size_t list_len;

        /* a list reply with entries joins the messages to mutate */
        ck_assert_int_eq(wire_list_begin(&w, list, sizeof(list), 77, WIRE_HELLO_REASONS), 0);
        ck_assert_int_eq(wire_list_add(&w, "first", &list_info), 0);
        ck_assert_int_eq(wire_list_add(&w, "second", &list_info), 0);
        list_len = wire_list_end(&w);

        rng_state = UINT64_C(0x9e3779b97f4a7c15);
        for (unsigned iter = 0; iter < 100000; iter++) {
                size_t len, size;
                uint16_t type;
                WireMsg m;
                int r, f;

                if (rnd_below(2) == 0) {
                        /* a valid message with a few random bytes changed after the magic */
                        if (rnd_below(4) == 0) {
                                memcpy(buf, list, list_len);
                                len = list_len;
                        } else
                                len = encode_case(rnd_below(n_cases), buf, sizeof(buf));
                        for (unsigned k = rnd_below(4) + 1; k > 0; k--)
                                buf[4 + rnd_below((uint32_t)len - 4)] = (uint8_t)rnd();
                        if (rnd_below(8) == 0)
                                len = rnd_below((uint32_t)len + 8); /* and cut or extended */
                } else {
                        /* a valid header prefix with a random type and body */
                        type = (uint16_t)(rnd_below(8) == 0 ? rnd() : rnd_below(9));
                        if (rnd_below(2))
                                type |= WIRE_REPLY;
                        len = WIRE_HEADER_SIZE + random_body(buf + WIRE_HEADER_SIZE, 2048);
                        header(buf, type, (uint32_t)(len - WIRE_HEADER_SIZE), (uint32_t)rnd());
                        if (rnd_below(16) == 0)
                                put_le32(buf + 8, (uint32_t)rnd_below(4096));
                }

                f = wire_frame_size(buf, len, rnd_below(2), &size);
                ck_assert_msg(f == 0 || f == -EAGAIN || f == -EPROTO || f == -EMSGSIZE,
                              "iteration %u: wire_frame_size() = %d", iter, f);

                r = decode_copy(buf, len, &m);
                ck_assert_msg(r == 0 || r == -EBADMSG || r == -EPROTO || r == -EMSGSIZE,
                              "iteration %u: wire_decode() = %d", iter, r);
                if (r < 0)
                        continue;

                /* what is accepted is sane ... */
                accepted++;
                ck_assert_uint_le(strlen(m.name), NAMES_NAME_MAX);
                ck_assert_int_le(m.status, 0);
                ck_assert_uint_ge(len, WIRE_HEADER_SIZE);
                ck_assert_uint_le(m.list_count, WIRE_LIST_MAX);
                if (m.type == (WIRE_LIST | WIRE_REPLY) && m.status == 0) {
                        /* ... a list can be walked to its end, entry by entry ... */
                        const uint8_t *pos = m.list, *end = m.list + m.list_len;
                        char name[NAMES_NAME_MAX + 1];
                        WireInfo info;
                        unsigned n = 0;

                        ck_assert_int_eq(wire_decode(buf, len, &m), 0);
                        pos = m.list;
                        end = m.list + m.list_len;
                        ck_assert(pos >= buf + WIRE_HEADER_SIZE && end <= buf + len);
                        while ((f = wire_list_next(&pos, end, WIRE_HELLO_REASONS, name, &info)) == 1)
                                n++;
                        ck_assert_int_eq(f, 0);
                        ck_assert_uint_eq(n, m.list_count);
                        if (n > 0) {
                                list_walked++;
                                continue;
                        }
                }
                /* ... and everything else re-encodes to the very same bytes (one encoding) */
                f = wire_encode(again, sizeof(again), &m);
                ck_assert_int_eq(f, (int)len);
                ck_assert_int_eq(memcmp(again, buf, len), 0);
        }
        /* the loop must have reached the accepting paths, not only the early rejections */
        ck_assert_uint_gt(accepted, 1000);
        ck_assert_uint_gt(list_walked, 100);
}
END_TEST

/* Version 3: an info ends with flags and owner_pid; a peer of version 2 neither sends nor
 * expects them, and each decoder refuses the other's length (trailing or missing bytes). */
START_TEST(test_an_info_carries_flags_and_owner_pid_from_version_3_on_only) {
        uint8_t b3[512], b2[512], lb[4096];
        WireMsg m = { .type = WIRE_INFO | WIRE_REPLY, .serial = 9, .info = make_info(3) }, got;
        const uint8_t *pos, *end;
        char name[NAMES_NAME_MAX + 1];
        WireListWriter w;
        WireInfo info;
        int n3, n2;
        size_t n;

        m.info.flags = WIRE_INFO_EPHEMERAL;
        m.info.owner_pid = 4242;
        m.proto = 3;
        n3 = wire_encode(b3, sizeof(b3), &m);
        m.proto = 2;
        n2 = wire_encode(b2, sizeof(b2), &m);
        ck_assert_int_gt(n2, 0);
        ck_assert_int_eq(n3, n2 + 8);
        ck_assert_int_eq(wire_decode_proto(b3, (size_t)n3, 3, &got), 0);
        ck_assert_uint_eq(got.proto, 3);
        assert_info_eq(&got.info, &m.info);
        ck_assert_uint_eq(got.info.flags, WIRE_INFO_EPHEMERAL);
        ck_assert_uint_eq(got.info.owner_pid, 4242);
        ck_assert_int_eq(wire_decode_proto(b2, (size_t)n2, 2, &got), 0);
        ck_assert_uint_eq(got.info.flags, 0);
        ck_assert_uint_eq(got.info.owner_pid, 0);
        ck_assert_int_eq(wire_decode(b2, (size_t)n2, &got), 0); /* wire_decode() is version 2 */
        ck_assert_int_eq(wire_decode_proto(b3, (size_t)n3, 2, &got), -EBADMSG);
        ck_assert_int_eq(wire_decode(b3, (size_t)n3, &got), -EBADMSG);
        ck_assert_int_eq(wire_decode_proto(b2, (size_t)n2, 3, &got), -EBADMSG);

        /* a LIST reply the same way */
        ck_assert_int_eq(wire_list_begin(&w, lb, sizeof(lb), 5, 3), 0);
        ck_assert_int_eq(wire_list_add(&w, "inbox", &m.info), 0);
        n = wire_list_end(&w);
        ck_assert_int_eq(wire_decode_proto(lb, n, 2, &got), -EBADMSG);
        ck_assert_int_eq(wire_decode_proto(lb, n, 3, &got), 0);
        pos = got.list;
        end = got.list + got.list_len;
        ck_assert_int_eq(wire_list_next(&pos, end, got.proto, name, &info), 1);
        ck_assert_str_eq(name, "inbox");
        ck_assert_uint_eq(info.flags, WIRE_INFO_EPHEMERAL);
        ck_assert_uint_eq(info.owner_pid, 4242);
        ck_assert_int_eq(wire_list_next(&pos, end, got.proto, name, &info), 0);

        /* CREATE's flags are a request field of every version: passed as they are, even unknown */
        m = (WireMsg){ .type = WIRE_CREATE, .serial = 1, .flags = WIRE_CREATE_EPHEMERAL | 0x80 };
        strcpy(m.name, "inbox");
        n3 = wire_encode(b3, sizeof(b3), &m);
        ck_assert_int_gt(n3, 0);
        ck_assert_int_eq(wire_decode(b3, (size_t)n3, &got), 0);
        ck_assert_uint_eq(got.flags, WIRE_CREATE_EPHEMERAL | 0x80);
}
END_TEST

static Suite *wire_suite(void) {
        Suite *s = suite_create("wire");
        TCase *tc;

        tc = tcase_create("round trips");
        tcase_set_timeout(tc, 30);
        tcase_add_loop_test(tc, test_every_message_survives_encode_and_decode, 0, (int)msg_case_count());
        tcase_add_test(tc, test_the_encoded_size_of_each_message_is_what_the_format_says);
        tcase_add_test(tc, test_an_error_reply_carries_only_its_status);
        tcase_add_test(tc, test_an_error_reply_may_carry_a_reason_after_its_status);
        suite_add_tcase(s, tc);

        tc = tcase_create("protocol version 3");
        tcase_add_test(tc, test_an_info_carries_flags_and_owner_pid_from_version_3_on_only);
        suite_add_tcase(s, tc);

        tc = tcase_create("list replies");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_an_empty_list_reply_decodes_to_no_entries);
        tcase_add_test(tc, test_a_list_reply_built_entry_by_entry_is_walked_back_in_order);
        tcase_add_test(tc, test_a_list_reply_holds_wire_list_max_entries_and_refuses_one_more);
        tcase_add_test(tc, test_a_list_entry_that_does_not_fit_is_enobufs_and_leaves_the_reply_intact);
        tcase_add_test(tc, test_a_list_buffer_too_small_for_the_empty_reply_is_enobufs);
        tcase_add_test(tc, test_a_list_walk_over_a_truncated_entry_is_ebadmsg_and_does_not_move);
        suite_add_tcase(s, tc);

        tc = tcase_create("encoder limits");
        tcase_set_timeout(tc, 30);
        tcase_add_loop_test(tc, test_encoding_into_a_short_buffer_is_enobufs_and_writes_nothing_past_it, 0,
                            (int)msg_case_count());
        tcase_add_test(tc, test_encoding_an_overlong_name_is_einval);
        tcase_add_test(tc, test_encoding_an_unknown_type_is_einval);
        suite_add_tcase(s, tc);

        tc = tcase_create("framing");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_frame_size_needs_a_whole_header_and_is_eagain_before);
        tcase_add_test(tc, test_frame_size_limits_a_request_body_to_wire_request_max);
        tcase_add_test(tc, test_frame_size_limits_a_reply_body_to_wire_reply_max);
        tcase_add_test(tc, test_frame_size_refuses_a_wrong_magic_or_version_with_eproto);
        suite_add_tcase(s, tc);

        tc = tcase_create("malformed input");
        tcase_set_timeout(tc, 30);
        tcase_add_loop_test(tc, test_a_frame_truncated_at_any_length_is_ebadmsg, 0, (int)msg_case_count());
        tcase_add_loop_test(tc, test_a_frame_with_trailing_garbage_is_ebadmsg, 0, (int)msg_case_count());
        tcase_add_loop_test(tc, test_a_wrong_magic_or_version_is_eproto, 0, (int)msg_case_count());
        tcase_add_test(tc, test_a_request_body_above_wire_request_max_is_emsgsize);
        tcase_add_test(tc, test_a_reply_body_above_wire_reply_max_is_emsgsize);
        tcase_add_test(tc, test_an_unknown_type_is_ebadmsg);
        tcase_add_test(tc, test_a_string_of_64_bytes_is_accepted_and_of_65_is_ebadmsg);
        tcase_add_test(tc, test_a_string_over_64_in_a_list_entry_is_ebadmsg);
        tcase_add_test(tc, test_a_string_with_an_embedded_nul_is_ebadmsg);
        tcase_add_test(tc, test_a_positive_status_in_a_reply_is_ebadmsg);
        tcase_add_test(tc, test_an_error_reply_with_a_body_after_the_status_is_ebadmsg);
        tcase_add_test(tc, test_a_reason_is_1_to_wire_reason_max_bytes_without_nul);
        tcase_add_test(tc, test_a_list_count_above_wire_list_max_is_ebadmsg);
        tcase_add_test(tc, test_a_list_count_above_the_entries_present_is_ebadmsg);
        tcase_add_test(tc, test_a_failed_decode_leaves_the_output_untouched);
        suite_add_tcase(s, tc);

        tc = tcase_create("random input");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_random_frames_never_crash_the_decoder_and_are_rejected_cleanly);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(wire_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
