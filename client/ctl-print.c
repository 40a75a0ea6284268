/* SPDX-License-Identifier: MIT */
/* ctl-print.c — printing messages for shmboxctl recv and peek: escaped text and JSON.
 *
 * Moved out of shmboxctl.c so that recv and peek print a message the same way, byte for byte.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "client/ctl-print.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static void freep(void *p) {
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static void json_object_putp(json_object **obj) {
        json_object_put(*obj); /* NULL-safe */
}

void ctl_log_error(const char *fmt, ...) {
        va_list ap;

        fputs("shmboxctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

int ctl_usage_error(const char *cmd, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "shmboxctl: %s: ", cmd);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " (see 'shmboxctl %s --help')\n", cmd);
        return CTL_EXIT_USAGE;
}

/*
 * ctl_write_escaped() - write a message as one line's worth of text, without the newline
 *
 * '\\' becomes "\\\\", '\n' becomes "\\n", every other byte below 0x20 and 0x7f becomes
 * "\\xHH" (lower-case hex); everything else, bytes of 0x80 and above (UTF-8) included, is
 * written as it is. Nothing is escaped that the rules do not name, so the output is stable.
 */
void ctl_write_escaped(FILE *f, const unsigned char *data, size_t len) {
        for (size_t i = 0; i < len; i++) {
                unsigned char c = data[i];

                if (c == '\\')
                        fputs("\\\\", f);
                else if (c == '\n')
                        fputs("\\n", f);
                else if (c < 0x20 || c == 0x7f)
                        fprintf(f, "\\x%02x", c);
                else
                        fputc(c, f);
        }
}

/*
 * utf8_valid() - whether @len bytes at @s are well-formed UTF-8 (RFC 3629): no overlong form,
 * no surrogate, nothing above U+10FFFF, no truncated sequence
 */
static bool utf8_valid(const unsigned char *s, size_t len) {
        for (size_t i = 0; i < len;) {
                unsigned char c = s[i];
                uint32_t cp, min;
                size_t n;

                if (c < 0x80) {
                        i++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf)
                        n = 1, cp = c & 0x1f, min = 0x80;
                else if (c >= 0xe0 && c <= 0xef)
                        n = 2, cp = c & 0x0f, min = 0x800;
                else if (c >= 0xf0 && c <= 0xf4)
                        n = 3, cp = c & 0x07, min = 0x10000;
                else
                        return false;
                if (len - i - 1 < n)
                        return false;
                for (size_t k = 1; k <= n; k++) {
                        if ((s[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = cp << 6 | (s[i + k] & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                i += n + 1;
        }
        return true;
}

/* @len bytes at @s in base64 (RFC 4648, padded) into @out, which holds 4 * ((len + 2) / 3) + 1. */
static void base64_encode(const unsigned char *s, size_t len, char *out) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

        for (size_t i = 0; i < len; i += 3) {
                uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0) |
                             (i + 2 < len ? s[i + 2] : 0);

                *out++ = alphabet[v >> 18];
                *out++ = alphabet[(v >> 12) & 63];
                *out++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
                *out++ = i + 2 < len ? alphabet[v & 63] : '=';
        }
        *out = '\0';
}

/*
 * ctl_print_message_json() - print one message as a JSON object on one line: {"length": N, "text":
 * "..."} when it is valid UTF-8, else {"length": N, "base64": "..."}
 *
 * Return: 0; -ENOMEM after reporting it.
 */
int ctl_print_message_json(const unsigned char *data, size_t len) {
        _cleanup_(json_object_putp) json_object *obj = json_object_new_object();
        _cleanup_free_ char *b64 = NULL;
        json_object *v;
        const char *s;

        if (!obj)
                goto oom;
        v = json_object_new_uint64(len);
        if (!v || json_object_object_add(obj, "length", v) < 0)
                goto oom_v;
        if (utf8_valid(data, len)) {
                v = json_object_new_string_len((const char *)data, (int)len);
                if (!v || json_object_object_add(obj, "text", v) < 0)
                        goto oom_v;
        } else {
                b64 = malloc(4 * ((len + 2) / 3) + 1);
                if (!b64)
                        goto oom;
                base64_encode(data, len, b64);
                v = json_object_new_string(b64);
                if (!v || json_object_object_add(obj, "base64", v) < 0)
                        goto oom_v;
        }
        s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s)
                goto oom;
        puts(s);
        return 0;
oom_v:
        json_object_put(v);
oom:
        ctl_log_error("out of memory");
        return -ENOMEM;
}
