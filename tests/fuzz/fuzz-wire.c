/* SPDX-License-Identifier: MIT */
/* fuzz-wire.c — fuzz target for the control protocol's framing and decoder (proto/wire).
 *
 * The daemon decodes whatever a client writes to its socket, and a client whatever comes back,
 * so both directions are fuzzed: wire_frame_size() as a request and as a reply, wire_decode()
 * on the whole input, on the frame its header announces, and on that frame with the reply bit
 * flipped. Every buffer handed to proto/ is an exact-size heap copy, so that a read one byte
 * too far is a sanitizer report. Whatever decodes must come back byte for byte: wire_encode()
 * for every message but a LIST reply with entries, which is walked with wire_list_next() and
 * rebuilt with the list writer (a STATS reply's rows are walked with wire_stats_next() and
 * encoded again as an array). An encode into a buffer one byte short must fail cleanly.
 * Each decode is done for protocol versions 2 and 3, whose replies differ in the info's length.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/wire.h"
#include "tests/fuzz/fuzz.h"

static uint8_t *dup_exact(const uint8_t *p, size_t n) {
        uint8_t *c = malloc(n ? n : 1);

        FUZZ_ASSERT(c);
        if (n)
                memcpy(c, p, n);
        return c;
}

static bool is_list_with_entries(const WireMsg *m) {
        return m->type == (WIRE_LIST | WIRE_REPLY) && m->status == 0 && m->list_count > 0;
}

/* Walk the entries of a decoded LIST reply and rebuild the frame with the list writer. */
static void check_list(const uint8_t *frame, size_t len, const WireMsg *m) {
        const uint8_t *pos = m->list, *end = m->list + m->list_len;
        char name[NAMES_NAME_MAX + 1];
        WireListWriter w;
        WireInfo info;
        uint8_t *buf = malloc(len);
        uint32_t n = 0;
        int r;

        FUZZ_ASSERT(buf);
        FUZZ_ASSERT(m->list >= frame && m->list_len <= len && m->list + m->list_len == frame + len);
        FUZZ_ASSERT(wire_list_begin(&w, buf, len, m->serial, m->proto) == 0);
        while ((r = wire_list_next(&pos, end, m->proto, name, &info)) == 1) {
                FUZZ_ASSERT(strlen(name) <= NAMES_NAME_MAX);
                FUZZ_ASSERT(wire_list_add(&w, name, &info) == 0);
                n++;
        }
        FUZZ_ASSERT(r == 0 && pos == end);
        FUZZ_ASSERT(n == m->list_count);
        FUZZ_ASSERT(wire_list_end(&w) == len);
        FUZZ_ASSERT(memcmp(buf, frame, len) == 0);
        free(buf);
}

/* A decoded STATS reply keeps its rows in the frame (list, list_count); encoding takes them as
 * an array (rows, n_rows): walk them with wire_stats_next() into one, for check_reencode().
 * Returns the array (to free), NULL if there are no rows. */
static WireStatsRow *stats_rows(WireMsg *m) {
        const uint8_t *pos, *end;
        WireStatsRow *rows;
        uint32_t n = 0;
        int r;

        if (m->type != (WIRE_STATS | WIRE_REPLY) || m->status != 0 || m->list_count == 0)
                return NULL;
        pos = m->list;
        end = m->list + m->list_len;
        rows = calloc(m->list_count, sizeof(*rows));
        FUZZ_ASSERT(rows);
        while (n < m->list_count && (r = wire_stats_next(&pos, end, &rows[n])) == 1)
                n++;
        FUZZ_ASSERT(n == m->list_count && pos == end);
        m->rows = rows;
        m->n_rows = n;
        return rows;
}

/* Encode @m again: the same bytes as @frame, and a buffer one byte short is -ENOBUFS. */
static void check_reencode(const uint8_t *frame, size_t len, const WireMsg *m) {
        uint8_t *buf = malloc(len);
        WireMsg again;
        int n;

        FUZZ_ASSERT(buf);
        n = wire_encode(buf, len, m);
        FUZZ_ASSERT(n >= 0 && (size_t)n == len);
        FUZZ_ASSERT(memcmp(buf, frame, len) == 0);
        FUZZ_ASSERT(wire_decode_proto(buf, len, m->proto, &again) == 0);
        FUZZ_ASSERT(again.type == m->type && again.serial == m->serial && again.status == m->status);
        FUZZ_ASSERT(strcmp(again.name, m->name) == 0);
        free(buf);

        buf = malloc(len - 1);
        FUZZ_ASSERT(buf);
        FUZZ_ASSERT(wire_encode(buf, len - 1, m) == -ENOBUFS);
        free(buf);
}

/* Decode an exact-size copy of @p for protocol version @proto; whatever decodes must round-trip. */
static void check_decode_proto(const uint8_t *p, size_t len, uint32_t proto) {
        uint8_t *frame = dup_exact(p, len);
        WireMsg m, untouched;
        size_t size;
        int r;

        memset(&m, 0xa5, sizeof(m));
        memset(&untouched, 0xa5, sizeof(untouched));
        r = wire_decode_proto(frame, len, proto, &m);
        FUZZ_ASSERT(r == 0 || r == -EPROTO || r == -EMSGSIZE || r == -EBADMSG);
        if (r < 0)
                FUZZ_ASSERT(memcmp(&m, &untouched, sizeof(m)) == 0); /* ret: on success only */
        if (r == 0) {
                bool reply = m.type & WIRE_REPLY;

                FUZZ_ASSERT(len >= WIRE_HEADER_SIZE);
                FUZZ_ASSERT(wire_frame_size(frame, len, reply, &size) == 0 && size == len);
                FUZZ_ASSERT((m.type & ~WIRE_REPLY) >= WIRE_HELLO && (m.type & ~WIRE_REPLY) < _WIRE_TYPE_MAX);
                FUZZ_ASSERT(!reply || m.status <= 0);
                FUZZ_ASSERT(m.proto == proto);
                FUZZ_ASSERT(memchr(m.name, 0, sizeof(m.name)) != NULL);
                FUZZ_ASSERT(m.list_count <= WIRE_LIST_MAX);
                if (is_list_with_entries(&m)) {
                        check_list(frame, len, &m);
                } else {
                        WireStatsRow *rows = stats_rows(&m);

                        check_reencode(frame, len, &m);
                        free(rows);
                }
        }
        free(frame);
}

static void check_decode(const uint8_t *p, size_t len) {
        check_decode_proto(p, len, WIRE_HELLO_REASONS);
        check_decode_proto(p, len, WIRE_HELLO_EPHEMERAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        size_t fs_req = 0, fs_rep = 0;
        int r_req, r_rep;
        uint8_t *flipped;

        /* framing, as the daemon (requests) and the library (replies) do it */
        r_req = wire_frame_size(data, size, false, &fs_req);
        r_rep = wire_frame_size(data, size, true, &fs_rep);
        FUZZ_ASSERT(r_req == 0 || r_req == -EAGAIN || r_req == -EPROTO || r_req == -EMSGSIZE);
        FUZZ_ASSERT(r_rep == 0 || r_rep == -EAGAIN || r_rep == -EPROTO || r_rep == -EMSGSIZE);
        if (r_req == 0)
                FUZZ_ASSERT(fs_req >= WIRE_HEADER_SIZE && fs_req <= WIRE_HEADER_SIZE + WIRE_REQUEST_MAX);
        if (r_rep == 0)
                FUZZ_ASSERT(fs_rep >= WIRE_HEADER_SIZE && fs_rep <= WIRE_HEADER_SIZE + WIRE_REPLY_MAX);
        /* a request's limit is the tighter one */
        if (r_req == 0)
                FUZZ_ASSERT(r_rep == 0 && fs_rep == fs_req);

        check_decode(data, size);
        if (r_rep == 0 && fs_rep < size)
                check_decode(data, fs_rep);

        /* the same bytes with the reply bit flipped: a request read as a reply and back */
        if (size >= WIRE_HEADER_SIZE) {
                flipped = dup_exact(data, size);
                flipped[7] ^= WIRE_REPLY >> 8;
                check_decode(flipped, r_rep == 0 && fs_rep < size ? fs_rep : size);
                free(flipped);
        }
        return 0;
}
