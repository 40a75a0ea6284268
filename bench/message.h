/* SPDX-License-Identifier: MIT */
/* message.h — the benchmark's test message: a sequence number and a cheap checksum that the
 * receiver verifies on every arrival, so no transport can win by skipping work. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The smallest message: the head and the tail word. */
#define MSG_MIN_SIZE 32u

/* The sequence number of the end marker that closes a stream. */
#define MSG_END UINT64_MAX

void msg_fill(void *buf, size_t len, uint32_t sender, uint64_t seq);
int msg_check(const void *buf, size_t len, uint32_t *ret_sender, uint64_t *ret_seq);
