/* SPDX-License-Identifier: MIT */
/* request.c — encoding and validating the request header (proto/request.h). */
#include "config.h"

#include "proto/request.h"

#include <errno.h>
#include <string.h>

#include "proto/util.h"

/*
 * request_encode() - write the header for @id and @reply_to into @buf
 * @reply_to: a valid mailbox name (the caller checked it), or NULL or "" for a reply
 *
 * Return: the header's length (a multiple of 8, REQUEST_HDR_FIXED to REQUEST_HDR_MAX).
 */
size_t request_encode(uint8_t buf[REQUEST_HDR_MAX], uint64_t id, const char *reply_to) {
        size_t n = reply_to ? strnlen(reply_to, NAMES_NAME_MAX) : 0;
        size_t len = REQUEST_HDR_FIXED + ALIGN_TO(n, (size_t)8);

        memset(buf, 0, len);
        for (unsigned i = 0; i < 8; i++)
                buf[i] = (uint8_t)(id >> (8 * i));
        buf[8] = (uint8_t)n;
        if (n > 0)
                memcpy(buf + REQUEST_HDR_FIXED, reply_to, n);
        return len;
}

/*
 * request_decode() - validate and decode the @len header bytes at @hdr
 * @hdr: a private copy (never shared memory: every byte is looked at once, then trusted)
 *
 * Return: 0 and *@ret; -EBADMSG for a header no sender writes: a length that is not
 *         16 + the name's padded length, a reserved or padding byte not 0, a name that is no
 *         mailbox name. @ret is untouched on failure.
 */
int request_decode(const uint8_t *hdr, size_t len, Request *ret) {
        Request q = {};
        size_t n;

        if (len < REQUEST_HDR_FIXED || len > REQUEST_HDR_MAX)
                return -EBADMSG;
        n = hdr[8];
        if (n > NAMES_NAME_MAX || len != REQUEST_HDR_FIXED + ALIGN_TO(n, (size_t)8))
                return -EBADMSG;
        for (size_t i = 9; i < REQUEST_HDR_FIXED; i++)
                if (hdr[i] != 0)
                        return -EBADMSG;
        for (size_t i = REQUEST_HDR_FIXED + n; i < len; i++)
                if (hdr[i] != 0)
                        return -EBADMSG;
        for (unsigned i = 0; i < 8; i++)
                q.id |= (uint64_t)hdr[i] << (8 * i);
        memcpy(q.reply_to, hdr + REQUEST_HDR_FIXED, n); /* q.reply_to[n] stays 0 */
        if (n > 0 && (strlen(q.reply_to) != n || !names_mailbox_valid(q.reply_to)))
                return -EBADMSG;
        *ret = q;
        return 0;
}
