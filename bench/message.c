/* SPDX-License-Identifier: MIT */
/* message.c — fill and check the benchmark's test messages.
 *
 * A message of len bytes carries a head (sequence number, sender, length, a check word mixed
 * from the three), a tail word in its last 8 bytes, and one more word at the start of each
 * further 4 KiB page. Every such word is derived from the check word, so a torn, reordered,
 * duplicated or stale message fails the check. The cost is O(len / 4096) stores and loads: the
 * checksum is cheap, yet it touches every page a transport copied.
 */
#include "config.h"

#include "bench/message.h"

#include <errno.h>
#include <string.h>

typedef struct MsgHead {
        uint64_t seq;
        uint32_t sender;
        uint32_t len;
        uint64_t check;
} MsgHead;

_Static_assert(sizeof(MsgHead) + 8 <= MSG_MIN_SIZE, "head and tail fit the smallest message");

#define MSG_PAGE 4096u

/* splitmix64's finaliser: every input bit changes about half the output bits. */
static inline uint64_t mix(uint64_t x) {
        x ^= x >> 30;
        x *= UINT64_C(0xbf58476d1ce4e5b9);
        x ^= x >> 27;
        x *= UINT64_C(0x94d049bb133111eb);
        return x ^ (x >> 31);
}

static inline uint64_t head_check(uint64_t seq, uint32_t sender, uint32_t len) {
        return mix(seq ^ mix(((uint64_t)sender << 32) | len));
}

static inline void put64(uint8_t *p, uint64_t v) {
        memcpy(p, &v, sizeof(v));
}

static inline uint64_t get64(const uint8_t *p) {
        uint64_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

/*
 * msg_fill() - write the head, the tail word and the page words of message @seq of @sender
 * @len: at least MSG_MIN_SIZE; the bytes between the checked words are left as they were
 */
void msg_fill(void *buf, size_t len, uint32_t sender, uint64_t seq) {
        uint8_t *p = buf;
        MsgHead h = {
                .seq = seq, .sender = sender, .len = (uint32_t)len, .check = head_check(seq, sender, (uint32_t)len)
        };

        memcpy(p, &h, sizeof(h));
        for (size_t o = MSG_PAGE; o + 16 <= len; o += MSG_PAGE)
                put64(p + o, h.check + o);
        put64(p + len - 8, ~h.check);
}

/*
 * msg_check() - verify a received message of @len bytes
 *
 * Return: 0 and the sender and sequence number; -EBADMSG if any checked word is wrong or the
 *         length differs from the one the sender wrote. Nothing is written on failure.
 */
int msg_check(const void *buf, size_t len, uint32_t *ret_sender, uint64_t *ret_seq) {
        const uint8_t *p = buf;
        MsgHead h;

        if (len < MSG_MIN_SIZE)
                return -EBADMSG;
        memcpy(&h, p, sizeof(h));
        if (h.len != len || h.check != head_check(h.seq, h.sender, h.len))
                return -EBADMSG;
        for (size_t o = MSG_PAGE; o + 16 <= len; o += MSG_PAGE)
                if (get64(p + o) != h.check + o)
                        return -EBADMSG;
        if (get64(p + len - 8) != ~h.check)
                return -EBADMSG;
        *ret_sender = h.sender;
        *ret_seq = h.seq;
        return 0;
}
