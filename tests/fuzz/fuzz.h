/* fuzz.h — what the fuzz targets, their replay main and the corpus generator share.
 *
 * A target is one LLVMFuzzerTestOneInput(). Under clang it is linked with libFuzzer (`make
 * fuzz`); under gcc with tests/fuzz/replay-main.c, which runs it on every file of the committed
 * corpus (`make check`). A target reports a broken property by printing it and aborting: under
 * libFuzzer that is a crash with its input saved, under the replay a failed check.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                                                              \
        do {                                                                                                           \
                if (!(cond)) {                                                                                         \
                        fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);                  \
                        abort();                                                                                       \
                }                                                                                                      \
        } while (0)

/* Little-endian reads that yield zeros past the end: any input is a complete one. */
typedef struct FuzzInput {
        const uint8_t *p;
        size_t len, pos;
} FuzzInput;

static inline uint8_t fuzz_u8(FuzzInput *in) {
        return in->pos < in->len ? in->p[in->pos++] : 0;
}

static inline uint64_t fuzz_uint(FuzzInput *in, unsigned bytes) {
        uint64_t v = 0;

        for (unsigned i = 0; i < bytes; i++)
                v |= (uint64_t)fuzz_u8(in) << (8 * i);
        return v;
}

static inline void fuzz_bytes(FuzzInput *in, void *out, size_t n) {
        for (size_t i = 0; i < n; i++)
                ((uint8_t *)out)[i] = fuzz_u8(in);
}

static inline size_t fuzz_left(const FuzzInput *in) {
        return in->len - in->pos;
}

/*
 * The input of fuzz-header, in this order (all little-endian; bytes past the end read as 0):
 *
 *   u8   check_flags    bit 0: recompute the checksum of the fuzzed immutable part, so that the
 *                       geometry checks behind it are reached; bit 1: give the ring a FIFO
 *                       (a pipe), as a client's box that an event loop polls has
 *   u64  map_size       the mapping size given to layout_check()
 *   u8   immutable[64]  the first 64 bytes of a header page (the rest of the page is zero)
 *   u8   slots_sel      the ring: slots = 1 + slots_sel % FUZZ_RING_SLOTS_MAX
 *   u16  size_sel       slot_size = 1 + size_sel % FUZZ_RING_SLOT_SIZE_MAX
 *   u64  lock, abandoned, received, recovered, tail, head, epoch   the mutable header fields
 *   u32  flags
 *   u64  repairs
 *   u64  items_sleepers[LAYOUT_ATT_WORDS], space_sleepers[LAYOUT_ATT_WORDS]
 *   u64  pollers[LAYOUT_ATT_WORDS]
 *   u32  fifo_signaled
 *   u32  att[FUZZ_ATTS]   the entries of the attachment table at fuzz_att_idx[]
 *   per slot: u64 word, u32 len
 *   then up to FUZZ_OPS_MAX operations of 3 bytes: kind, who, arg (see fuzz-header.c)
 */
#define FUZZ_RING_SLOTS_MAX 8u
#define FUZZ_RING_SLOT_SIZE_MAX 512u
#define FUZZ_ATTS 4u
#define FUZZ_OPS_MAX 48u
#define FUZZ_HELD_MAX 8u  /* zero-copy slots the operations may hold at once */
#define FUZZ_BATCH_MAX 5u /* messages in one batch operation */

/* The attachments the operations run as: index and the token the daemon issued to it. Index 63
 * and 64 sit on either side of a sleeper-mask word boundary. */
static const unsigned fuzz_att_idx[FUZZ_ATTS] = { 0, 1, 63, 64 };
static const uint32_t fuzz_att_token[FUZZ_ATTS] = { 2, 3, 0x1000, 0xfffffffeu };

typedef enum FuzzOpKind {
        FUZZ_OP_SEND,
        FUZZ_OP_RECV,
        FUZZ_OP_PEEK,
        FUZZ_OP_REPAIR,
        FUZZ_OP_COUNT,
        FUZZ_OP_SEND_MANY,
        FUZZ_OP_RECV_MANY,
        FUZZ_OP_CLAIM,   /* zero-copy: claim slots and hold them */
        FUZZ_OP_COMMIT,  /* ... commit one held claim */
        FUZZ_OP_ABORT,   /* ... or give it back */
        FUZZ_OP_TAKE,    /* zero-copy: take messages and hold them (or peek a length) */
        FUZZ_OP_CONSUME, /* ... consume one held take */
        FUZZ_OP_POLL,    /* an event loop starts or stops polling; the FIFO settles */
        _FUZZ_OP_MAX,
} FuzzOpKind;
