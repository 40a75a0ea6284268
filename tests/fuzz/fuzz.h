/* SPDX-License-Identifier: MIT */
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

/*
 * The input of fuzz-segment (all little-endian; bytes past the end read as 0). The image is
 * built from selectors biased toward a plausible ring, so that the readers get past their
 * first checks; fuzz-segment.c says what each selector value means.
 *
 *   u8   slots_sel      slots = 1 + slots_sel % FUZZ_SEG_SLOTS_MAX
 *   u8   size_sel       slot_size = 1 + size_sel % FUZZ_SEG_SLOT_SIZE_MAX
 *   u8   flags          FUZZ_SEG_F_*
 *   u64  head
 *   u8   tail_sel       tail relative to head: ahead by 0..slots+1, or behind
 *   u8   lock_sel       the lock word: a token (fuzz_seg_token()) and bit 3: the W bit
 *   u8   att_mask       bit a: attachment a (fuzz_att_idx[a]) is in the table; bit 4: the dead one
 *   u8   sleepers       bits 0-3: items sleepers a, 4-7: space sleepers a (also pollers for 4-7)
 *   u8   counters       the counters and the epoch, small; bit 7: the traffic counter blocks
 *                       of the attachments and the retired totals near UINT64_MAX (else small)
 *   per slot: u8 state_sel, lap_sel, token_sel, len_sel   (lap_sel also picks the slot's meta
 *                       word: fuzz-segment.c, make_meta())
 *   then up to FUZZ_SEG_CALLS_MAX calls, each
 *        u8 reader, who, arg   the reader (FuzzSegReader), as whom, and its argument
 *        u8 n_mut              n_mut % 4 scribbles while it runs, each u8 when, kind, target,
 *                              arg, and a u64 for FUZZ_SEG_MUT_RAW and FUZZ_SEG_MUT_COUNTER
 *                              (fuzz-segment.c: seg_schedule())
 */
#define FUZZ_SEG_SLOTS_MAX 16u
#define FUZZ_SEG_SLOT_SIZE_MAX 128u
#define FUZZ_SEG_CALLS_MAX 12u
#define FUZZ_SEG_GENERATION UINT64_C(0x5e6)

enum {
        FUZZ_SEG_F_FIFO = 1 << 0,      /* the ring has a FIFO (a pipe) */
        FUZZ_SEG_F_DESTROYED = 1 << 1, /* HDR_DESTROYED is set */
        FUZZ_SEG_F_OTHER_GEN = 1 << 2, /* adoption: the state file recorded another generation */
        FUZZ_SEG_F_SHORT = 1 << 3,     /* adoption: the segment is a cache line short */
};

/* The kinds of scribble (kind % _FUZZ_SEG_MUT_MAX). */
typedef enum FuzzSegMut {
        FUZZ_SEG_MUT_HEAD_FROM_TAIL, /* head := tail + (int8)arg */
        FUZZ_SEG_MUT_TAIL_FROM_HEAD, /* tail := head + (int8)arg */
        FUZZ_SEG_MUT_HEAD_ADD,       /* head += (int8)arg */
        FUZZ_SEG_MUT_TAIL_ADD,       /* tail += (int8)arg */
        FUZZ_SEG_MUT_SLOT,           /* slot target % slots: a word from arg and target; arg bit 7: its meta word */
        FUZZ_SEG_MUT_LOCK,           /* lock := the token arg selects, bit 3: W */
        FUZZ_SEG_MUT_ATT,            /* an attachment entry (target % 5) := a token */
        FUZZ_SEG_MUT_RAW,            /* 8 bytes at a word of the mutable part := the u64 (not counters) */
        FUZZ_SEG_MUT_COUNTER,        /* a word of a traffic counter block (layout v2) := the u64 */
        _FUZZ_SEG_MUT_MAX,
} FuzzSegMut;

/* The readers (reader % _FUZZ_SEG_MAX). */
typedef enum FuzzSegReader {
        FUZZ_SEG_REPAIR,    /* ring_repair() */
        FUZZ_SEG_COUNT,     /* ring_count() */
        FUZZ_SEG_STAT,      /* shmbox_stat(), then shmbox_peek_at() */
        FUZZ_SEG_SEND,      /* ring_send(); who bit 7: ring_send_hdr() */
        FUZZ_SEG_RECV,      /* ring_recv(), or a peek */
        FUZZ_SEG_SEND_MANY, /* ring_send_many() */
        FUZZ_SEG_RECV_MANY, /* ring_recv_many() */
        FUZZ_SEG_CLAIM,     /* ring_claim(), then ring_commit() or ring_abort() */
        FUZZ_SEG_TAKE,      /* ring_take(), request_decode() of each header, ring_consume() */
        FUZZ_SEG_POLL,      /* ring_poll(), ring_fifo_settle(), ring_wake_all() */
        FUZZ_SEG_ADOPT,     /* the daemon's adoption: mailbox_adopt() and what follows it */
        _FUZZ_SEG_MAX,
} FuzzSegReader;
