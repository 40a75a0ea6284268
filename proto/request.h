/* SPDX-License-Identifier: MIT */
/* request.h — the request header a message may carry: a correlation id and a reply-to mailbox.
 *
 * The ring stores it in the slot's payload area before the message's body, and declares its
 * length in the slot's meta word (proto/layout.h, SLOT_META_HDR); the bytes, little-endian:
 *
 *     0   u64   correlation id
 *     8   u8    n, the reply-to name's length: 1..64 for a request, 0 for a reply
 *     9   u8[7] zero
 *     16  n bytes of the name ([A-Za-z0-9._-], not starting with '.'), zero to a multiple of 8
 *
 * so a header is 16 + ALIGN_TO(n, 8) bytes, 16 to 80. Shared memory is untrusted: a header is
 * decoded from a private copy and every byte above is checked (doc/ring.md, "Request headers").
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "proto/names.h"

#define REQUEST_HDR_FIXED 16u
#define REQUEST_HDR_MAX (REQUEST_HDR_FIXED + NAMES_NAME_MAX)

/* A decoded header: reply_to "" for a reply (no reply-to). */
typedef struct Request {
        uint64_t id;
        char reply_to[NAMES_NAME_MAX + 1];
} Request;

size_t request_encode(uint8_t buf[REQUEST_HDR_MAX], uint64_t id, const char *reply_to);
int request_decode(const uint8_t *hdr, size_t len, Request *ret);
