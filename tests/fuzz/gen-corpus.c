/* SPDX-License-Identifier: MIT */
/* gen-corpus.c — writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/).
 *
 * Usage: gen-corpus DIR   (`make fuzz-corpus` runs it on $(srcdir)/tests/fuzz/corpus)
 *
 * The seeds are valid frames and real ring states, made with proto/ itself, plus the classic
 * near misses of each check, so that fuzzing starts past the checksums and magic numbers and
 * the replay in `make check` covers every branch of the decoder's contract. Output is
 * deterministic; files it does not name (inputs a fuzzing run found and someone kept) are left
 * alone.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/layout.h"
#include "proto/ring.h"
#include "proto/wire.h"
#include "tests/fuzz/fuzz.h"

static const char *out_dir;

static void die(const char *what) {
        fprintf(stderr, "gen-corpus: %s: %s\n", what, strerror(errno));
        exit(EXIT_FAILURE);
}

static void write_seed(const char *target, const char *name, const void *p, size_t n) {
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", out_dir, target);
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                die(path);
        snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
        f = fopen(path, "we");
        if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
                die(path);
}

/* --- fuzz-wire ----------------------------------------------------------------------------- */

static uint8_t frame[WIRE_HEADER_SIZE + 4096];

static size_t encode(const WireMsg *m) {
        int n = wire_encode(frame, sizeof(frame), m);

        if (n < 0) {
                errno = -n;
                die("wire_encode");
        }
        return (size_t)n;
}

static void wire_seed(const char *name, const WireMsg *m) {
        write_seed("fuzz-wire", name, frame, encode(m));
}

static void put_le32(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static WireInfo some_info(unsigned i) {
        return (WireInfo){
                .slots = 16,
                .slot_size = 4096,
                .mode = 0640,
                .queued = i,
                .attached = 2,
                .uid = 1000,
                .gid = 100,
                .sent = 10 + i,
                .received = 7,
                .recovered = 1,
                .lock_holder_pid = 0,
                .claimed = 1,
                .taken = 0,
                .orphaned = 0,
                .generation = 0x1122334455667788u,
                .repairs = 3,
                .oldest_claimed_pid = 4242,
                .oldest_taken_pid = 0,
                .oldest_claimed_age_ms = 1500,
                .oldest_taken_age_ms = 0,
        };
}

/* A successful LIST reply of @entries entries in frame[]; returns its length. */
static size_t list_frame(unsigned entries) {
        static const char *names[] = { "jobs", "a", "events.high-prio_1" };
        WireListWriter w;
        WireInfo info;

        if (wire_list_begin(&w, frame, sizeof(frame), 77, WIRE_HELLO_REASONS) < 0)
                die("wire_list_begin");
        for (unsigned i = 0; i < entries; i++) {
                info = some_info(i);
                if (wire_list_add(&w, names[i % 3], &info) < 0)
                        die("wire_list_add");
        }
        return wire_list_end(&w);
}

static void list_seed(const char *name, unsigned entries) {
        write_seed("fuzz-wire", name, frame, list_frame(entries));
}

static void gen_wire(void) {
        WireMsg m;
        size_t n;

        /* every request */
        m = (WireMsg){ .type = WIRE_HELLO, .serial = 1, .version = WIRE_VERSION };
        wire_seed("hello-request", &m);
        m = (WireMsg){ .type = WIRE_CREATE, .serial = 2, .name = "jobs", .slots = 16, .slot_size = 4096, .mode = 0660 };
        wire_seed("create-request", &m);
        m = (WireMsg){ .type = WIRE_DESTROY, .serial = 3, .name = "jobs" };
        wire_seed("destroy-request", &m);
        m = (WireMsg){ .type = WIRE_ATTACH, .serial = 4, .name = "jobs" };
        wire_seed("attach-request", &m);
        m = (WireMsg){ .type = WIRE_DETACH, .serial = 5, .token = 17 };
        wire_seed("detach-request", &m);
        m = (WireMsg){ .type = WIRE_LIST, .serial = 6 };
        wire_seed("list-request", &m);
        m = (WireMsg){ .type = WIRE_INFO, .serial = 7, .name = "jobs" };
        wire_seed("info-request", &m);
        m = (WireMsg){ .type = WIRE_REATTACH,
                       .serial = 8,
                       .name = "jobs",
                       .token = 17,
                       .idx = 3,
                       .generation = 0x1122334455667788u };
        wire_seed("reattach-request", &m);
        m = (WireMsg){ .type = WIRE_CREATE,
                       .serial = 9,
                       .name = "a234567890123456789012345678901234567890123456789012345678901234",
                       .slots = 65536,
                       .slot_size = 16u << 20,
                       .mode = 0666 };
        wire_seed("create-request-longest-name", &m);

        /* every successful reply */
        m = (WireMsg){ .type = WIRE_HELLO | WIRE_REPLY, .serial = 1, .version = WIRE_VERSION, .name = "shmbox" };
        wire_seed("hello-reply", &m);
        m = (WireMsg){ .type = WIRE_CREATE | WIRE_REPLY, .serial = 2 };
        wire_seed("create-reply", &m);
        m = (WireMsg){ .type = WIRE_DESTROY | WIRE_REPLY, .serial = 3 };
        wire_seed("destroy-reply", &m);
        m = (WireMsg){ .type = WIRE_ATTACH | WIRE_REPLY,
                       .serial = 4,
                       .mode = WIRE_RIGHT_R | WIRE_RIGHT_W,
                       .token = 17,
                       .idx = 3,
                       .slots = 16,
                       .slot_size = 4096,
                       .generation = 0x1122334455667788u,
                       .epoch = 2,
                       .size = 4096 + 16 * 4160 };
        wire_seed("attach-reply", &m);
        m.type = WIRE_REATTACH | WIRE_REPLY;
        wire_seed("reattach-reply", &m);
        m = (WireMsg){ .type = WIRE_DETACH | WIRE_REPLY, .serial = 5 };
        wire_seed("detach-reply", &m);
        m = (WireMsg){ .type = WIRE_INFO | WIRE_REPLY, .serial = 7, .info = some_info(5) };
        wire_seed("info-reply", &m);
        list_seed("list-reply-empty", 0);
        list_seed("list-reply-one", 1);
        list_seed("list-reply-three", 3);

        /* failed replies: the status and nothing else */
        m = (WireMsg){ .type = WIRE_ATTACH | WIRE_REPLY, .serial = 4, .status = -ENOENT };
        wire_seed("attach-reply-enoent", &m);
        m = (WireMsg){ .type = WIRE_INFO | WIRE_REPLY, .serial = 7, .status = -EACCES };
        wire_seed("info-reply-eacces", &m);
        m = (WireMsg){ .type = WIRE_HELLO | WIRE_REPLY, .serial = 1, .status = -EPROTO };
        wire_seed("hello-reply-eproto", &m);
        m = (WireMsg){ .type = WIRE_LIST | WIRE_REPLY, .serial = 6, .status = -EDQUOT };
        wire_seed("list-reply-edquot", &m);

        /* near misses, one check each */
        m = (WireMsg){ .type = WIRE_ATTACH, .serial = 4, .name = "jobs" };
        n = encode(&m);
        frame[0] ^= 1;
        write_seed("fuzz-wire", "bad-magic", frame, n);
        n = encode(&m);
        frame[4] = 2;
        write_seed("fuzz-wire", "bad-version", frame, n);
        write_seed("fuzz-wire", "short-header", frame, 10);
        n = encode(&m);
        write_seed("fuzz-wire", "truncated-body", frame, n - 1);
        frame[n] = 0;
        put_le32(frame + 8, (uint32_t)(n + 1 - WIRE_HEADER_SIZE));
        write_seed("fuzz-wire", "trailing-byte", frame, n + 1);
        n = encode(&m);
        put_le32(frame + 8, WIRE_REQUEST_MAX + 1);
        write_seed("fuzz-wire", "request-over-limit", frame, n);
        m = (WireMsg){ .type = WIRE_INFO | WIRE_REPLY, .serial = 7, .info = some_info(1) };
        n = encode(&m);
        put_le32(frame + 8, WIRE_REPLY_MAX + 1);
        write_seed("fuzz-wire", "reply-over-limit", frame, n);
        m = (WireMsg){ .type = WIRE_DESTROY, .serial = 3, .name = "jo_s" };
        n = encode(&m);
        frame[n - 2] = 0;
        write_seed("fuzz-wire", "name-with-nul", frame, n);
        n = encode(&m);
        frame[WIRE_HEADER_SIZE] = NAMES_NAME_MAX + 1;
        write_seed("fuzz-wire", "name-length-over-limit", frame, n);
        m = (WireMsg){ .type = WIRE_LIST, .serial = 6 };
        n = encode(&m);
        frame[6] = _WIRE_TYPE_MAX;
        write_seed("fuzz-wire", "unknown-type", frame, n);
        frame[6] = 0;
        write_seed("fuzz-wire", "type-zero", frame, n);
        m = (WireMsg){ .type = WIRE_CREATE | WIRE_REPLY, .serial = 2 };
        n = encode(&m);
        put_le32(frame + WIRE_HEADER_SIZE, 1);
        write_seed("fuzz-wire", "positive-status", frame, n);
        n = list_frame(1);
        put_le32(frame + WIRE_HEADER_SIZE + 4, WIRE_LIST_MAX + 1);
        write_seed("fuzz-wire", "list-count-over-limit", frame, n);
        n = list_frame(2);
        put_le32(frame + WIRE_HEADER_SIZE + 4, 3);
        write_seed("fuzz-wire", "list-count-above-entries", frame, n);
        n = list_frame(2);
        put_le32(frame + WIRE_HEADER_SIZE + 4, 1);
        write_seed("fuzz-wire", "list-count-below-entries", frame, n);

        /* two frames back to back, as a stream delivers them */
        m = (WireMsg){ .type = WIRE_HELLO, .serial = 1, .version = WIRE_VERSION };
        n = encode(&m);
        memcpy(frame + n, frame, n);
        write_seed("fuzz-wire", "two-frames", frame, 2 * n);
}

/* --- fuzz-header --------------------------------------------------------------------------- */

/* A growing input in the format of fuzz.h. */
typedef struct Seed {
        uint8_t b[4096];
        size_t n;
} Seed;

static void seed_uint(Seed *s, uint64_t v, unsigned bytes) {
        for (unsigned i = 0; i < bytes; i++)
                s->b[s->n++] = (uint8_t)(v >> (8 * i));
}

static void seed_bytes(Seed *s, const void *p, size_t n) {
        memcpy(s->b + s->n, p, n);
        s->n += n;
}

/* How the layout_check() part of a seed differs from the ring's own valid header. */
typedef enum CheckVariant {
        CHECK_VALID,      /* the ring's header, map_size = total_size */
        CHECK_SIZE_SHORT, /* map_size one byte short of total_size */
        CHECK_SIZE_HUGE,  /* map_size far above */
        CHECK_SIZE_PAGE,  /* map_size below one page */
        CHECK_MAGIC,      /* another magic */
        CHECK_VERSION,    /* another layout version */
        CHECK_CHECKSUM,   /* generation changed, checksum left */
        CHECK_ZERO_SLOTS, /* slots 0, checksum recomputed */
        CHECK_BIG_SLOTS,  /* slot_size above the limit, checksum recomputed */
        CHECK_STRIDE,     /* stride one line short, checksum recomputed */
        CHECK_TOTAL,      /* total_size off by one line, checksum recomputed */
} CheckVariant;

typedef struct Gen {
        Ring ring;
        uint8_t *map;
        sem_t sem[_SEM_ROLE_MAX];
} Gen;

static void gen_make(Gen *g, uint32_t slots, uint32_t slot_size) {
        LayoutGeometry geo;

        if (layout_geometry(slots, slot_size, 0x6765, &geo) < 0)
                die("layout_geometry");
        g->map = aligned_alloc(LAYOUT_CACHE_LINE, geo.total_size);
        if (!g->map)
                die("aligned_alloc");
        memset(g->map, 0, geo.total_size);
        layout_init(g->map, &geo);
        g->ring = (Ring){ .hdr = (MboxHeader *)g->map, .base = g->map, .geo = geo };
        for (unsigned role = 0; role < _SEM_ROLE_MAX; role++) {
                if (sem_init(&g->sem[role], 1, 0) < 0)
                        die("sem_init");
                g->ring.sem[role] = &g->sem[role];
        }
        for (unsigned a = 0; a < FUZZ_ATTS; a++)
                atomic_store(&g->ring.hdr->att[fuzz_att_idx[a]], fuzz_att_token[a]);
}

static void gen_free(Gen *g) {
        for (unsigned role = 0; role < _SEM_ROLE_MAX; role++)
                sem_destroy(&g->sem[role]);
        free(g->map);
}

static void gen_send(Gen *g, unsigned a, size_t len) {
        static uint8_t data[FUZZ_RING_SLOT_SIZE_MAX];
        RingDeadline dl;

        memset(data, 'm', sizeof(data));
        ring_deadline_init(&dl, 0);
        if (ring_send(&g->ring, fuzz_att_token[a], fuzz_att_idx[a], data, len, &dl) < 0)
                die("ring_send");
}

static void gen_recv(Gen *g, unsigned a) {
        static uint8_t data[FUZZ_RING_SLOT_SIZE_MAX];
        RingDeadline dl;

        ring_deadline_init(&dl, 0);
        if (ring_recv(&g->ring, fuzz_att_token[a], fuzz_att_idx[a], data, sizeof(data), &dl) < 0)
                die("ring_recv");
}

/* What a process killed in the middle of ring_send()/ring_recv() leaves behind. */
static void gen_claim(Gen *g, uint32_t token, bool advance_tail) {
        uint64_t t = atomic_load(&g->ring.hdr->tail);

        atomic_store(&ring_slot(&g->ring, t)->word, slot_word(SLOT_CLAIMED, ring_lap(&g->ring, t), token));
        if (advance_tail)
                atomic_store(&g->ring.hdr->tail, t + 1);
}

static void gen_take(Gen *g, uint32_t token) {
        uint64_t h = atomic_load(&g->ring.hdr->head);

        atomic_store(&ring_slot(&g->ring, h)->word, slot_word(SLOT_TAKEN, ring_lap(&g->ring, h), token));
}

static void gen_seed(const char *name, Gen *g, CheckVariant cv, bool fifo, const uint8_t *ops, size_t n_ops) {
        const MboxHeader *h = g->ring.hdr;
        MboxHeader copy = {}, *ih = &copy; /* only its immutable part is used */
        uint64_t map_size = g->ring.geo.total_size;
        uint8_t flags = 0;
        Seed s = {};

        memcpy(ih, g->map, offsetof(MboxHeader, lock));
        switch (cv) {
        case CHECK_VALID: break;
        case CHECK_SIZE_SHORT: map_size--; break;
        case CHECK_SIZE_HUGE: map_size = UINT64_MAX; break;
        case CHECK_SIZE_PAGE: map_size = LAYOUT_HEADER_SIZE - 1; break;
        case CHECK_MAGIC: ih->magic ^= 0x100; break;
        case CHECK_VERSION: ih->version++; break;
        case CHECK_CHECKSUM: ih->generation++; break;
        case CHECK_ZERO_SLOTS:
                ih->slots = 0;
                flags = 1;
                break;
        case CHECK_BIG_SLOTS:
                ih->slot_size = LAYOUT_SLOT_SIZE_MAX + 1;
                flags = 1;
                break;
        case CHECK_STRIDE:
                ih->slot_stride -= LAYOUT_CACHE_LINE;
                flags = 1;
                break;
        case CHECK_TOTAL:
                ih->total_size += LAYOUT_CACHE_LINE;
                flags = 1;
                break;
        }
        if (fifo)
                flags |= 2;

        seed_uint(&s, flags, 1);
        seed_uint(&s, map_size, 8);
        seed_bytes(&s, ih, offsetof(MboxHeader, lock));
        seed_uint(&s, g->ring.geo.slots - 1, 1);
        seed_uint(&s, g->ring.geo.slot_size - 1, 2);
        seed_uint(&s, atomic_load(&h->lock), 8);
        seed_uint(&s, atomic_load(&h->abandoned), 8);
        seed_uint(&s, atomic_load(&h->received), 8);
        seed_uint(&s, atomic_load(&h->recovered), 8);
        seed_uint(&s, atomic_load(&h->tail), 8);
        seed_uint(&s, atomic_load(&h->head), 8);
        seed_uint(&s, atomic_load(&h->epoch), 8);
        seed_uint(&s, atomic_load(&h->flags), 4);
        seed_uint(&s, atomic_load(&h->repairs), 8);
        for (unsigned i = 0; i < LAYOUT_ATT_WORDS; i++)
                seed_uint(&s, atomic_load(&h->items_sleepers[i]), 8);
        for (unsigned i = 0; i < LAYOUT_ATT_WORDS; i++)
                seed_uint(&s, atomic_load(&h->space_sleepers[i]), 8);
        for (unsigned i = 0; i < LAYOUT_ATT_WORDS; i++)
                seed_uint(&s, atomic_load(&h->pollers[i]), 8);
        seed_uint(&s, atomic_load(&h->fifo_signaled), 4);
        for (unsigned a = 0; a < FUZZ_ATTS; a++)
                seed_uint(&s, atomic_load(&h->att[fuzz_att_idx[a]]), 4);
        for (uint32_t i = 0; i < g->ring.geo.slots; i++) {
                seed_uint(&s, atomic_load(&ring_slot(&g->ring, i)->word), 8);
                seed_uint(&s, ring_slot(&g->ring, i)->len, 4);
        }
        seed_bytes(&s, ops, n_ops);
        write_seed("fuzz-header", name, s.b, s.n);
        gen_free(g);
}

/* Operations: kind, who (attachment 0-3, +4 foreign token, +8 index beyond the table), arg. */
#define SEND(a, arg) FUZZ_OP_SEND, (a), (arg)
#define RECV(a, arg) FUZZ_OP_RECV, (a), (arg)
#define PEEK(a) FUZZ_OP_PEEK, (a), 0
#define REPAIR_ATT(a) FUZZ_OP_REPAIR, (a), 0
#define REPAIR_LOCK_HOLDER FUZZ_OP_REPAIR, 0, 1
#define REPAIR_SLOT(i) FUZZ_OP_REPAIR, 0, (uint8_t)(2 | (i) << 2)
#define REPAIR_DAEMON FUZZ_OP_REPAIR, 0, 3
#define COUNT FUZZ_OP_COUNT, 0, 0
#define SEND_MANY(a, arg) FUZZ_OP_SEND_MANY, (a), (arg)
#define RECV_MANY(a, arg) FUZZ_OP_RECV_MANY, (a), (arg)
#define CLAIM(a, want) FUZZ_OP_CLAIM, (a), (uint8_t)((want)-1)
#define COMMIT(i) FUZZ_OP_COMMIT, 0x10, (i)
#define COMMIT_BOGUS(i) FUZZ_OP_COMMIT, 8, (i)
#define COMMIT_FOREIGN(i) FUZZ_OP_COMMIT, 4, (i)
#define ABORT(i) FUZZ_OP_ABORT, 0, (i)
#define TAKE(a, want) FUZZ_OP_TAKE, (a), (uint8_t)(0x80 | (want))
#define CONSUME(i) FUZZ_OP_CONSUME, 0x10, (i)
#define CONSUME_NOW(i) FUZZ_OP_CONSUME, 0, (i)
#define POLL(a, on) FUZZ_OP_POLL, (a), (on)
#define SEED_FIFO(name, g, cv, ...)                                                                                    \
        do {                                                                                                           \
                static const uint8_t ops_[] = { __VA_ARGS__ };                                                         \
                gen_seed(name, g, cv, true, ops_, sizeof(ops_));                                                       \
        } while (0)
#define SEED(name, g, cv, ...)                                                                                         \
        do {                                                                                                           \
                static const uint8_t ops_[] = { __VA_ARGS__ };                                                         \
                gen_seed(name, g, cv, false, ops_, sizeof(ops_));                                                      \
        } while (0)

/* A dead attachment: its token is not in the table the operations use. */
#define TOK_DEAD 0xdeadu

static void gen_header(void) {
        Gen g;

        gen_make(&g, 4, 100);
        SEED("empty-traffic", &g, CHECK_VALID, SEND(0, 50), PEEK(1), RECV(1, 253), SEND(1, 255), SEND(2, 253),
             RECV(3, 10), RECV(3, 253), RECV(0, 253), COUNT);

        gen_make(&g, 4, 100);
        gen_send(&g, 0, 30);
        gen_send(&g, 1, 100);
        SEED("two-queued", &g, CHECK_VALID, RECV(2, 1), PEEK(2), RECV(2, 253), RECV(3, 255), RECV(3, 254), SEND(0, 254),
             COUNT);

        gen_make(&g, 4, 64);
        for (int i = 0; i < 4; i++)
                gen_send(&g, 0, 10);
        SEED("full", &g, CHECK_VALID, SEND(1, 100), RECV(2, 253), SEND(1, 253), SEND(1, 0), COUNT);

        gen_make(&g, 1, 1);
        SEED("one-slot", &g, CHECK_VALID, SEND(0, 253), SEND(0, 253), RECV(1, 253), RECV(1, 253), SEND(3, 255), PEEK(0),
             RECV(0, 255));

        gen_make(&g, 8, 512);
        gen_send(&g, 0, 0);
        gen_send(&g, 1, 512);
        gen_recv(&g, 2);
        SEED("largest-geometry", &g, CHECK_VALID, SEND(0, 253), SEND(0, 255), RECV(1, 200), RECV(1, 253), RECV(1, 253),
             COUNT);

        gen_make(&g, 4, 100);
        gen_send(&g, 0, 20);
        gen_claim(&g, TOK_DEAD, true);
        gen_send(&g, 0, 20);
        SEED("claimed-by-dead", &g, CHECK_VALID, RECV(1, 253), RECV(1, 253), REPAIR_SLOT(1), COUNT, RECV(1, 253),
             SEND(0, 10), SEND(0, 10));

        gen_make(&g, 4, 100);
        gen_send(&g, 0, 20);
        gen_send(&g, 0, 21);
        gen_take(&g, fuzz_att_token[3]);
        SEED("taken-by-attachment", &g, CHECK_VALID, RECV(1, 253), PEEK(1), REPAIR_ATT(3), COUNT, RECV(1, 253),
             RECV(1, 253));

        gen_make(&g, 4, 100);
        gen_send(&g, 0, 20);
        atomic_store(&g.ring.hdr->lock, TOK_DEAD | LOCK_W);
        SEED("lock-held-by-dead", &g, CHECK_VALID, SEND(0, 5), RECV(1, 253), REPAIR_ATT(0), REPAIR_LOCK_HOLDER,
             RECV(1, 253), SEND(0, 5));

        gen_make(&g, 4, 100);
        gen_send(&g, 0, 20);
        gen_claim(&g, TOK_DEAD, false);
        atomic_store(&g.ring.hdr->lock, TOK_DEAD);
        SEED("claim-half-done-under-lock", &g, CHECK_VALID, REPAIR_LOCK_HOLDER, COUNT, SEND(0, 9), RECV(1, 253),
             RECV(1, 253));

        gen_make(&g, 4, 100);
        gen_send(&g, 0, 20);
        gen_send(&g, 0, 20);
        atomic_store(&ring_slot(&g.ring, 0)->word, slot_word(SLOT_FREE, ring_lap(&g.ring, 4), 0));
        atomic_store(&g.ring.hdr->lock, TOK_DEAD);
        SEED("head-half-advanced-under-lock", &g, CHECK_VALID, REPAIR_LOCK_HOLDER, COUNT, RECV(1, 253), SEND(0, 1));

        gen_make(&g, 4, 100);
        gen_send(&g, 0, 20);
        atomic_store(&g.ring.hdr->lock, TOKEN_DAEMON);
        gen_claim(&g, TOK_DEAD, true);
        SEED("daemon-died-repairing", &g, CHECK_VALID, SEND(1, 5), REPAIR_DAEMON, REPAIR_SLOT(1), RECV(2, 253), COUNT);

        gen_make(&g, 4, 100);
        atomic_store(&g.ring.hdr->lock, LOCK_W);
        SEED("lock-wait-bit-only", &g, CHECK_VALID, SEND(0, 5), REPAIR_LOCK_HOLDER, COUNT);

        gen_make(&g, 4, 100);
        gen_send(&g, 0, 20);
        atomic_fetch_or(&g.ring.hdr->flags, HDR_DESTROYED);
        SEED("destroyed", &g, CHECK_VALID, SEND(0, 5), RECV(1, 253), PEEK(1), REPAIR_ATT(1), COUNT);

        gen_make(&g, 4, 100);
        atomic_store(&g.ring.hdr->tail, 5);
        SEED("tail-beyond-slots", &g, CHECK_VALID, SEND(0, 5), RECV(1, 253), REPAIR_ATT(1), COUNT);

        gen_make(&g, 4, 100);
        atomic_store(&g.ring.hdr->head, 7);
        atomic_store(&g.ring.hdr->tail, 3);
        SEED("head-beyond-tail", &g, CHECK_VALID, SEND(0, 5), RECV(1, 253), COUNT);

        gen_make(&g, 4, 100);
        gen_send(&g, 0, 20);
        ring_slot(&g.ring, 0)->len = 101;
        SEED("length-above-slot-size", &g, CHECK_VALID, PEEK(1), RECV(1, 253), COUNT);

        gen_make(&g, 4, 100);
        gen_send(&g, 0, 20);
        atomic_store(&ring_slot(&g.ring, 0)->word, slot_word(SLOT_READY, 1, fuzz_att_token[0]));
        SEED("ready-of-another-lap", &g, CHECK_VALID, RECV(1, 253), SEND(0, 1), COUNT);

        gen_make(&g, 4, 100);
        atomic_store(&ring_slot(&g.ring, 0)->word, slot_word(SLOT_DONE, 0, 0));
        SEED("free-slot-not-free", &g, CHECK_VALID, SEND(0, 1), REPAIR_ATT(2), COUNT);

        gen_make(&g, 4, 100);
        atomic_store(&ring_slot(&g.ring, 2)->word, slot_word(_SLOT_STATE_MAX + 3, 0, 0));
        atomic_store(&g.ring.hdr->tail, 4);
        SEED("unknown-slot-state", &g, CHECK_VALID, COUNT, RECV(1, 253), REPAIR_ATT(1), COUNT);

        /* just before the 24-bit lap wraps to zero */
        gen_make(&g, 2, 16);
        {
                uint64_t p = (uint64_t)(LAP_MASK + 1) * 2 - 1;

                atomic_store(&g.ring.hdr->head, p);
                atomic_store(&g.ring.hdr->tail, p);
                atomic_store(&ring_slot(&g.ring, p)->word, slot_word(SLOT_FREE, ring_lap(&g.ring, p), 0));
                atomic_store(&ring_slot(&g.ring, p + 1)->word, slot_word(SLOT_FREE, ring_lap(&g.ring, p + 1), 0));
                gen_send(&g, 0, 3);
        }
        SEED("lap-wrap", &g, CHECK_VALID, SEND(0, 253), RECV(1, 253), SEND(0, 253), RECV(1, 253), RECV(1, 253),
             SEND(1, 1), COUNT);

        gen_make(&g, 4, 100);
        for (unsigned i = 0; i < LAYOUT_ATT_WORDS; i++) {
                atomic_store(&g.ring.hdr->items_sleepers[i], UINT64_MAX);
                atomic_store(&g.ring.hdr->space_sleepers[i], UINT64_C(1) << 63);
        }
        gen_send(&g, 0, 7);
        SEED("sleepers-recorded", &g, CHECK_VALID, SEND(0, 5), RECV(1, 253), REPAIR_ATT(3), REPAIR_ATT(2), COUNT);

        gen_make(&g, 4, 100);
        gen_send(&g, 0, 7);
        atomic_store(&g.ring.hdr->att[1], 0);
        SEED("stale-attachments", &g, CHECK_VALID, SEND(4, 5), RECV(5, 253), SEND(8, 5), RECV(1, 253), REPAIR_ATT(1),
             COUNT);

        /* batches, zero-copy holds across other operations, polling */
        gen_make(&g, 8, 64);
        gen_send(&g, 0, 10);
        SEED("batches", &g, CHECK_VALID, SEND_MANY(0, 3), SEND_MANY(1, 4), RECV_MANY(2, 2), RECV_MANY(3, 4),
             SEND_MANY(0, 9), RECV_MANY(2, 4), COUNT);

        gen_make(&g, 4, 100);
        SEED("zero-copy-claims", &g, CHECK_VALID, CLAIM(0, 2), SEND(1, 20), COMMIT(1), PEEK(2), COMMIT_BOGUS(0),
             COMMIT_FOREIGN(0), ABORT(0), RECV(2, 253), RECV(2, 253), COUNT);

        gen_make(&g, 4, 100);
        gen_send(&g, 0, 20);
        gen_send(&g, 1, 30);
        gen_send(&g, 2, 40);
        SEED("zero-copy-takes", &g, CHECK_VALID, TAKE(1, 2), PEEK(2), RECV(2, 253), CONSUME_NOW(0), TAKE(3, 0),
             CONSUME(0), SEND(0, 1), COUNT);

        gen_make(&g, 4, 100);
        SEED("zero-copy-repaired-meanwhile", &g, CHECK_VALID, CLAIM(0, 1), SEND(2, 5), TAKE(1, 1), REPAIR_ATT(0),
             REPAIR_ATT(1), COMMIT(0), CONSUME(0), COUNT, RECV(2, 253), SEND(3, 3));

        gen_make(&g, 2, 32);
        atomic_store(&g.ring.hdr->pollers[0], 1);
        SEED_FIFO("polled", &g, CHECK_VALID, POLL(0, 1), SEND(1, 5), POLL(1, 1), RECV(0, 253), CLAIM(2, 1), COMMIT(0),
                  POLL(0, 0), RECV(3, 253), POLL(1, 0));

        gen_make(&g, 2, 32);
        for (unsigned i = 0; i < LAYOUT_ATT_WORDS; i++)
                atomic_store(&g.ring.hdr->pollers[i], UINT64_MAX);
        atomic_store(&g.ring.hdr->fifo_signaled, 1);
        gen_send(&g, 0, 1);
        SEED_FIFO("fifo-signaled", &g, CHECK_VALID, RECV(1, 253), POLL(2, 1), SEND(0, 1), POLL(2, 0), COUNT);

        /* the layout_check() part, one near miss each */
        gen_make(&g, 4, 100);
        SEED("check-size-short", &g, CHECK_SIZE_SHORT, COUNT);
        gen_make(&g, 4, 100);
        SEED("check-size-huge", &g, CHECK_SIZE_HUGE, COUNT);
        gen_make(&g, 4, 100);
        SEED("check-size-below-a-page", &g, CHECK_SIZE_PAGE, COUNT);
        gen_make(&g, 4, 100);
        SEED("check-magic", &g, CHECK_MAGIC, COUNT);
        gen_make(&g, 4, 100);
        SEED("check-version", &g, CHECK_VERSION, COUNT);
        gen_make(&g, 4, 100);
        SEED("check-checksum", &g, CHECK_CHECKSUM, COUNT);
        gen_make(&g, 4, 100);
        SEED("check-zero-slots", &g, CHECK_ZERO_SLOTS, COUNT);
        gen_make(&g, 4, 100);
        SEED("check-slot-size-over-limit", &g, CHECK_BIG_SLOTS, COUNT);
        gen_make(&g, 4, 100);
        SEED("check-stride", &g, CHECK_STRIDE, COUNT);
        gen_make(&g, 4, 100);
        SEED("check-total-size", &g, CHECK_TOTAL, COUNT);
}

/* --- fuzz-segment -------------------------------------------------------------------------- */

/* A fuzz-segment input (fuzz.h): an image from its selectors, then calls, some with a scribble.
 * The images are the states a ring is found in — empty, with messages, full, left by a killed
 * sender, receiver or passer, locked, at the wrap of its 24-bit laps, destroyed, corrupt — and
 * every reader runs on some of them. None of the seeds may fail: the reproducers of known
 * defects live in tests/fuzz/regress/, not here. */
typedef struct SegSeed {
        uint8_t b[512];
        size_t n;
} SegSeed;

typedef struct SegImage {
        uint8_t slots, size, flags;
        uint64_t head;
        uint8_t tail_sel, lock_sel, att_mask, sleepers, counters;
        uint8_t slot[FUZZ_SEG_SLOTS_MAX][4]; /* state_sel, lap_sel, token_sel, len_sel */
        /* a broadcast mailbox (fuzz-segment.c: seg_make_subs()): its kind, which attachments
         * subscribe (bit a), and each one's position selector */
        uint8_t kind, subs_sel, sub_pos[FUZZ_ATTS + 1];
} SegImage;

static void seg_u8(SegSeed *s, uint8_t v) {
        if (s->n >= sizeof(s->b)) {
                errno = ENOBUFS;
                die("fuzz-segment seed");
        }
        s->b[s->n++] = v;
}

static void seg_u64(SegSeed *s, uint64_t v) {
        for (int i = 0; i < 8; i++)
                seg_u8(s, (uint8_t)(v >> (8 * i)));
}

static SegSeed seg_start(const SegImage *im) {
        SegSeed s = { .n = 0 };

        seg_u8(&s, (uint8_t)(im->slots - 1 + FUZZ_SEG_SLOTS_MAX * im->kind));
        seg_u8(&s, (uint8_t)(im->size - 1));
        seg_u8(&s, im->flags);
        seg_u64(&s, im->head);
        seg_u8(&s, im->tail_sel);
        seg_u8(&s, im->lock_sel);
        seg_u8(&s, im->att_mask);
        seg_u8(&s, im->sleepers);
        seg_u8(&s, im->counters);
        for (unsigned i = 0; i < im->slots; i++)
                for (unsigned k = 0; k < 4; k++)
                        seg_u8(&s, im->slot[i][k]);
        if (im->kind) {
                seg_u8(&s, im->subs_sel);
                for (unsigned a = 0; a <= FUZZ_ATTS; a++)
                        if (im->subs_sel & (1u << a))
                                seg_u8(&s, im->sub_pos[a]);
        }
        return s;
}

static void seg_call(SegSeed *s, FuzzSegReader reader, uint8_t who, uint8_t arg) {
        seg_u8(s, (uint8_t)reader);
        seg_u8(s, who);
        seg_u8(s, arg);
        seg_u8(s, 0); /* no scribble */
}

/* A call with one scribble: when, kind, target, arg (fuzz-segment.c: seg_schedule()). */
static void seg_call_mut(SegSeed *s, FuzzSegReader reader, uint8_t who, uint8_t arg, uint8_t when, FuzzSegMut kind,
                         uint8_t target, uint8_t marg, uint64_t raw) {
        seg_u8(s, (uint8_t)reader);
        seg_u8(s, who);
        seg_u8(s, arg);
        seg_u8(s, 1);
        seg_u8(s, when);
        seg_u8(s, (uint8_t)kind);
        seg_u8(s, target);
        seg_u8(s, marg);
        if (kind == FUZZ_SEG_MUT_RAW)
                seg_u64(s, raw);
}

static void seg_write(const char *name, const SegSeed *s) {
        write_seed("fuzz-segment", name, s->b, s->n);
}

/* who: the attachment (0-3 live, 4 the dead one); bits 5-6: the timeout (fuzz-segment.c) */
#define WHO_DEAD 4
#define WHO_5MS 0x40
#define WHO_1500MS 0x60
/* slot selectors in the window (fuzz-segment.c: make_word()): state, lap, token, length */
#define S_FREE                                                                                                         \
        { 0, 0, 0, 100 }
#define S_READY                                                                                                        \
        { 0, 0, 0, 100 }
#define S_READY_FROM(t)                                                                                                \
        { 7, 0, (t), 200 }
#define S_CLAIMED_BY(t)                                                                                                \
        { 2, 0, (t), 50 }
#define S_TAKEN_BY(t)                                                                                                  \
        { 3, 0, (t), 250 }
#define S_DONE                                                                                                         \
        { 4, 0, 0, 10 }
#define S_PASSED                                                                                                       \
        { 6, 0, 0, 0 }
#define S_BAD_STATE                                                                                                    \
        { 0x86, 0, 0, 0 }
#define S_BAD_LEN                                                                                                      \
        { 0, 0, 0, 255 }
#define T_ATT0 1
#define T_DAEMON 5
#define T_DEAD 6

static void gen_segment(void) {
        const SegImage empty = { .slots = 4, .size = 32, .head = 8, .att_mask = 0x0f };
        const SegImage two = { .slots = 4,
                               .size = 32,
                               .head = 8,
                               .tail_sel = 2,
                               .att_mask = 0x0f,
                               .slot = { S_READY, S_READY_FROM(T_ATT0) } };
        const SegImage dead = { .slots = 4,
                                .size = 32,
                                .head = 8,
                                .tail_sel = 3,
                                .att_mask = 0x1f,
                                .slot = { S_CLAIMED_BY(T_DEAD), S_TAKEN_BY(T_DEAD), S_READY } };
        const SegImage passed = {
                .slots = 4, .size = 32, .head = 8, .tail_sel = 2, .att_mask = 0x1f, .slot = { S_PASSED, S_READY }
        };
        const SegImage full = { .slots = 4,
                                .size = 32,
                                .head = 8,
                                .tail_sel = 4,
                                .att_mask = 0x0f,
                                .slot = { S_READY, S_READY, S_READY, S_READY } };
        const SegImage full_done = { .slots = 4,
                                     .size = 32,
                                     .head = 8,
                                     .tail_sel = 4,
                                     .att_mask = 0x0f,
                                     .slot = { S_DONE, S_READY, S_READY, S_READY } };
        const SegImage lock_dead = { .slots = 4,
                                     .size = 32,
                                     .head = 8,
                                     .tail_sel = 1,
                                     .lock_sel = T_DEAD | 8,
                                     .att_mask = 0x1f,
                                     .slot = { S_READY } };
        const SegImage lock_live = { .slots = 4,
                                     .size = 32,
                                     .head = 8,
                                     .tail_sel = 1,
                                     .lock_sel = T_ATT0 | 8,
                                     .att_mask = 0x0f,
                                     .slot = { S_READY } };
        const SegImage lock_daemon = { .slots = 4,
                                       .size = 32,
                                       .head = 8,
                                       .tail_sel = 3,
                                       .lock_sel = T_DAEMON,
                                       .att_mask = 0x1f,
                                       .slot = { S_CLAIMED_BY(T_DEAD), S_READY, S_DONE } };
        const SegImage wrap = { .slots = 4,
                                .size = 32,
                                .head = UINT64_C(4) * LAP_MASK + 2,
                                .tail_sel = 3,
                                .att_mask = 0x0f,
                                .slot = { S_FREE, S_FREE, S_READY, S_READY } };
        const SegImage destroyed = { .slots = 4,
                                     .size = 32,
                                     .flags = FUZZ_SEG_F_DESTROYED,
                                     .head = 8,
                                     .tail_sel = 1,
                                     .att_mask = 0x0f,
                                     .slot = { S_READY } };
        const SegImage corrupt = {
                .slots = 4, .size = 32, .head = 8, .tail_sel = 2, .att_mask = 0x0f, .slot = { S_BAD_LEN, S_BAD_STATE }
        };
        const SegImage beyond = { .slots = 4, .size = 32, .head = 8, .tail_sel = 5, .att_mask = 0x0f };
        const SegImage behind = { .slots = 4, .size = 32, .head = 8, .tail_sel = 0xf0, .att_mask = 0x0f };
        const SegImage polled = { .slots = 4,
                                  .size = 32,
                                  .flags = FUZZ_SEG_F_FIFO,
                                  .head = 8,
                                  .tail_sel = 1,
                                  .att_mask = 0x0f,
                                  .sleepers = 0xff,
                                  .slot = { S_READY } };
        const SegImage one = { .slots = 1, .size = 1, .head = 5, .att_mask = 0x0f };
        const SegImage big = { .slots = 16,
                               .size = 128,
                               .head = 33,
                               .tail_sel = 9,
                               .att_mask = 0x1f,
                               .counters = 0x5a,
                               .slot = { S_READY, S_DONE, S_READY, S_CLAIMED_BY(T_ATT0), S_READY, S_TAKEN_BY(2),
                                         S_READY_FROM(T_ATT0), S_READY, S_READY } };
        /* broadcast: slot selectors as make_bcast_word() reads them (inside: 0 READY, 2 CLAIMED,
         * 3 ABANDONED; at or after tail: 0 READY a lap ago, 3 CLAIMED a lap ago); a subscriber's
         * position selector p stands for head - 1 + p */
        const SegImage bcast = { .slots = 4,
                                 .size = 32,
                                 .head = 8,
                                 .tail_sel = 3,
                                 .att_mask = 0x1f,
                                 .kind = 1,
                                 .slot = { S_READY, { 3, 0, 0, 0 }, S_READY, S_READY },
                                 .subs_sel = 0x13,
                                 .sub_pos = { 1, 3, 0, 0, 2 } };
        const SegImage overwrite = { .slots = 2,
                                     .size = 16,
                                     .head = 7,
                                     .tail_sel = 2,
                                     .att_mask = 0x0f,
                                     .kind = 2,
                                     .slot = { S_READY, S_CLAIMED_BY(T_ATT0) },
                                     .subs_sel = 0x23,
                                     .sub_pos = { 1, 2 } };
        SegSeed s;

        s = seg_start(&bcast);
        seg_call(&s, FUZZ_SEG_RECV, 0, 200);
        seg_call(&s, FUZZ_SEG_TAKE, 1, 2);
        seg_call(&s, FUZZ_SEG_SEND, 2, 100);
        seg_call(&s, FUZZ_SEG_REPAIR, WHO_DEAD, 0);
        seg_call(&s, FUZZ_SEG_SEND_MANY, 2, 3);
        seg_call(&s, FUZZ_SEG_COUNT, 0, 0);
        seg_write("bcast-recv-send-repair", &s);

        s = seg_start(&bcast);
        seg_call(&s, FUZZ_SEG_POLL, 2, 2); /* subscribes */
        seg_call(&s, FUZZ_SEG_CLAIM, 3, 1 | 0x10);
        seg_call(&s, FUZZ_SEG_RECV_MANY, 0, 3);
        seg_call(&s, FUZZ_SEG_STAT, 1, 0);
        seg_write("bcast-subscribe-claim", &s);

        s = seg_start(&overwrite);
        seg_call(&s, FUZZ_SEG_TAKE, 0, 1);
        seg_call(&s, FUZZ_SEG_SEND, 2, 10);
        seg_call(&s, FUZZ_SEG_RECV, 1, 200);
        seg_call(&s, FUZZ_SEG_REPAIR, 0, 2);
        seg_call(&s, FUZZ_SEG_COUNT, 0, 0);
        seg_write("overwrite-take-send", &s);

        s = seg_start(&empty);
        seg_call(&s, FUZZ_SEG_SEND, 0, 100);
        seg_call(&s, FUZZ_SEG_RECV, 1, 253 - 1);
        seg_call(&s, FUZZ_SEG_COUNT, 0, 0);
        seg_write("empty-send-recv", &s);

        s = seg_start(&empty);
        seg_call(&s, FUZZ_SEG_SEND_MANY, 0, 3);
        seg_call(&s, FUZZ_SEG_RECV_MANY, 1, 3);
        seg_call(&s, FUZZ_SEG_STAT, 1, 0);
        seg_call(&s, FUZZ_SEG_RECV, 1, 100);
        seg_write("empty-batches", &s);

        s = seg_start(&two);
        seg_call(&s, FUZZ_SEG_RECV, 1, 1); /* peek */
        seg_call(&s, FUZZ_SEG_TAKE, 1, 2);
        seg_call(&s, FUZZ_SEG_COUNT, 0, 0);
        seg_call(&s, FUZZ_SEG_STAT, 0, 0);
        seg_write("two-take", &s);

        s = seg_start(&two);
        seg_call(&s, FUZZ_SEG_CLAIM, 0, 1 | 0x10);
        seg_call(&s, FUZZ_SEG_CLAIM, 2, 2);
        seg_call(&s, FUZZ_SEG_RECV_MANY, 1, 4);
        seg_write("two-claim-commit-abort", &s);

        s = seg_start(&dead);
        seg_call(&s, FUZZ_SEG_REPAIR, WHO_DEAD, 0);
        seg_call(&s, FUZZ_SEG_COUNT, 0, 0);
        seg_call(&s, FUZZ_SEG_RECV, 1, 200);
        seg_write("dead-repair", &s);

        s = seg_start(&dead);
        seg_call(&s, FUZZ_SEG_RECV, 0, 200);
        seg_call(&s, FUZZ_SEG_REPAIR, 0, 2 | (1 << 2)); /* for the token of slot 1 */
        seg_call(&s, FUZZ_SEG_STAT, 0, 0);
        seg_write("dead-repair-by-slot", &s);

        s = seg_start(&dead);
        seg_call(&s, FUZZ_SEG_ADOPT, 0, 0);
        seg_call(&s, FUZZ_SEG_COUNT, 0, 0);
        seg_write("dead-adopt", &s);

        s = seg_start(&passed);
        seg_call(&s, FUZZ_SEG_RECV, 1, 200);
        seg_call(&s, FUZZ_SEG_COUNT, 0, 0);
        seg_write("passed-recv", &s);

        s = seg_start(&passed);
        seg_call(&s, FUZZ_SEG_REPAIR, WHO_DEAD, 0);
        seg_call(&s, FUZZ_SEG_STAT, 0, 0);
        seg_write("passed-repair", &s);

        s = seg_start(&full);
        seg_call(&s, FUZZ_SEG_SEND, 0, 10);
        seg_call(&s, FUZZ_SEG_SEND, 0 | WHO_5MS, 10);
        seg_call(&s, FUZZ_SEG_CLAIM, 2 | WHO_1500MS, 0);
        seg_call(&s, FUZZ_SEG_RECV, 1, 253);
        seg_call(&s, FUZZ_SEG_SEND, 0, 10);
        seg_write("full-send", &s);

        s = seg_start(&full_done);
        seg_call(&s, FUZZ_SEG_SEND, 0, 10);
        seg_call(&s, FUZZ_SEG_COUNT, 0, 0);
        seg_write("full-done-send", &s);

        s = seg_start(&lock_dead);
        seg_call(&s, FUZZ_SEG_SEND, 0, 10);
        seg_call(&s, FUZZ_SEG_REPAIR, WHO_DEAD, 1);
        seg_call(&s, FUZZ_SEG_RECV, 1, 253);
        seg_write("lock-dead-repair", &s);

        s = seg_start(&lock_live);
        seg_call(&s, FUZZ_SEG_RECV, 1, 253);
        seg_call(&s, FUZZ_SEG_RECV, 1 | WHO_1500MS, 253);
        seg_call(&s, FUZZ_SEG_REPAIR, 1, 1);
        seg_write("lock-live-wait", &s);

        s = seg_start(&lock_daemon);
        seg_call(&s, FUZZ_SEG_ADOPT, 0, 0);
        seg_call(&s, FUZZ_SEG_RECV, 1, 253);
        seg_write("lock-daemon-adopt", &s);

        s = seg_start(&lock_daemon);
        seg_call(&s, FUZZ_SEG_REPAIR, 0, 3);
        seg_call(&s, FUZZ_SEG_COUNT, 0, 0);
        seg_write("lock-daemon-repair", &s);

        s = seg_start(&wrap);
        seg_call(&s, FUZZ_SEG_SEND, 0, 10);
        seg_call(&s, FUZZ_SEG_SEND, 0, 20);
        seg_call(&s, FUZZ_SEG_RECV, 1, 253);
        seg_call(&s, FUZZ_SEG_RECV_MANY, 1, 4);
        seg_call(&s, FUZZ_SEG_COUNT, 0, 0);
        seg_write("lap-wrap", &s);

        s = seg_start(&destroyed);
        seg_call(&s, FUZZ_SEG_SEND, 0, 10);
        seg_call(&s, FUZZ_SEG_RECV, 1, 253);
        seg_call(&s, FUZZ_SEG_STAT, 0, 0);
        seg_write("destroyed", &s);

        s = seg_start(&corrupt);
        seg_call(&s, FUZZ_SEG_COUNT, 0, 0);
        seg_call(&s, FUZZ_SEG_RECV, 1, 253);
        seg_call(&s, FUZZ_SEG_TAKE, 1, 0);
        seg_call(&s, FUZZ_SEG_REPAIR, WHO_DEAD, 0);
        seg_write("corrupt-slots", &s);

        s = seg_start(&beyond);
        seg_call(&s, FUZZ_SEG_STAT, 0, 0);
        seg_call(&s, FUZZ_SEG_COUNT, 0, 0);
        seg_call(&s, FUZZ_SEG_SEND, 0, 10);
        seg_call(&s, FUZZ_SEG_REPAIR, 0, 0);
        seg_write("tail-beyond", &s);

        s = seg_start(&behind);
        seg_call(&s, FUZZ_SEG_STAT, 0, 0);
        seg_call(&s, FUZZ_SEG_RECV, 1, 253);
        seg_call(&s, FUZZ_SEG_ADOPT, 0, 0);
        seg_write("tail-behind", &s);

        s = seg_start(&polled);
        seg_call(&s, FUZZ_SEG_POLL, 1, 1);
        seg_call(&s, FUZZ_SEG_SEND, 0, 10);
        seg_call(&s, FUZZ_SEG_RECV, 1, 253);
        seg_call(&s, FUZZ_SEG_POLL, 1, 0);
        seg_write("polled", &s);

        s = seg_start(&one);
        seg_call(&s, FUZZ_SEG_SEND, 0, 253);
        seg_call(&s, FUZZ_SEG_SEND, 0, 253);
        seg_call(&s, FUZZ_SEG_TAKE, 1, 1);
        seg_call(&s, FUZZ_SEG_CLAIM, 0, 0);
        seg_write("one-slot", &s);

        s = seg_start(&big);
        seg_call(&s, FUZZ_SEG_RECV_MANY, 1, 4);
        seg_call(&s, FUZZ_SEG_SEND_MANY, 0, 4);
        seg_call(&s, FUZZ_SEG_REPAIR, 0, 0);
        seg_call(&s, FUZZ_SEG_ADOPT, 0, 0);
        seg_write("sixteen-slots", &s);

        s = seg_start(&(SegImage){ .slots = 4, .size = 32, .flags = FUZZ_SEG_F_OTHER_GEN, .head = 8 });
        seg_call(&s, FUZZ_SEG_ADOPT, 0, 0);
        seg_write("adopt-other-generation", &s);

        s = seg_start(&(SegImage){ .slots = 4, .size = 32, .flags = FUZZ_SEG_F_SHORT, .head = 8 });
        seg_call(&s, FUZZ_SEG_ADOPT, 0, 0);
        seg_write("adopt-short", &s);

        /* scribbles while a reader runs: the n-th access to a field (when < 0x80) or a step */
        s = seg_start(&two);
        seg_call_mut(&s, FUZZ_SEG_RECV, 1, 253, 0, FUZZ_SEG_MUT_SLOT, 0, 0x80 | 3, 0);
        seg_call(&s, FUZZ_SEG_COUNT, 0, 0);
        seg_write("scribble-recv-slot", &s);

        s = seg_start(&two);
        seg_call_mut(&s, FUZZ_SEG_COUNT, 0, 0, 0, FUZZ_SEG_MUT_TAIL_FROM_HEAD, 0, 9, 0);
        seg_write("scribble-count-tail", &s);

        s = seg_start(&two);
        seg_call_mut(&s, FUZZ_SEG_STAT, 0, 0, 0, FUZZ_SEG_MUT_HEAD_ADD, 0, (uint8_t)-3, 0);
        seg_write("scribble-stat-head", &s);

        s = seg_start(&empty);
        seg_call_mut(&s, FUZZ_SEG_CLAIM, 0, 1, 0, FUZZ_SEG_MUT_LOCK, 0, T_ATT0 + 1, 0);
        seg_write("scribble-claim-lock", &s);

        s = seg_start(&dead);
        seg_call_mut(&s, FUZZ_SEG_REPAIR, WHO_DEAD, 0, 1, FUZZ_SEG_MUT_ATT, 4, T_ATT0, 0);
        seg_write("scribble-repair-att", &s);

        s = seg_start(&two);
        seg_call_mut(&s, FUZZ_SEG_TAKE, 1, 2, 0x80 | 5, FUZZ_SEG_MUT_RAW, 0x84, 0, UINT64_C(0xffffffff00000000));
        seg_write("scribble-take-raw", &s);

        s = seg_start(&empty);
        seg_call_mut(&s, FUZZ_SEG_SEND, 0, 10, 0x80 | 6, FUZZ_SEG_MUT_TAIL_ADD, 0, 1, 0);
        seg_write("scribble-send-tail", &s);

        s = seg_start(&dead);
        seg_call_mut(&s, FUZZ_SEG_ADOPT, 0, 0, 0x80 | 3, FUZZ_SEG_MUT_SLOT, 2, 0x80 | 2, 0);
        seg_write("scribble-adopt-slot", &s);
}

int main(int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "usage: %s DIR\n", argv[0]);
                return 2;
        }
        out_dir = argv[1];
        if (mkdir(out_dir, 0755) < 0 && errno != EEXIST)
                die(out_dir);
        gen_wire();
        gen_header();
        gen_segment();
        return 0;
}
