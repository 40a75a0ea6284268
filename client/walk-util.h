/* SPDX-License-Identifier: MIT */
/* walk-util.h — the small helpers the walkthrough's files share: cleanup attributes, the error
 * line, the clock, byte counts for people, and building and reading json-c objects. */
#pragma once

#include <dirent.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p) {
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void json_object_putp(json_object **o) {
        json_object_put(*o); /* NULL-safe */
}
#define _cleanup_json_ _cleanup_(json_object_putp)

static inline void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

static inline void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static inline bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* One line on stderr, "shmboxctl: walkthrough: " and @fmt: every failure is reported once,
 * where it happens. */
void log_error(const char *fmt, ...) _printf_(1, 2);

/* CLOCK_MONOTONIC in nanoseconds: the clock both peers and the orchestrator read. */
int64_t now_ns(void);

/* Sleep @ms milliseconds, resuming after a signal. */
void sleep_ms(int ms);

/* @v bytes as "64 B", "4 KiB", "1.5 MiB" into @buf (exact multiples without a fraction).
 * Return: @buf. */
const char *fmt_bytes(char *buf, size_t size, uint64_t v);

/* Building JSON: each adds @v (or a value made of it) as @key of @o, or appends to @array.
 * Return: 0; -ENOMEM (an allocation failed, or @o is NULL; a json_object @v is freed). */
int jput(json_object *o, const char *key, json_object *v);
int jput_null(json_object *o, const char *key);
int jput_i(json_object *o, const char *key, int64_t v);
int jput_s(json_object *o, const char *key, const char *v); /* NULL @v: a JSON null */
int jput_b(json_object *o, const char *key, bool v);
int jput_d(json_object *o, const char *key, double v);
int jappend(json_object *array, json_object *v);

/* A shared reference to @v, for an object that sits in the record and in a local. */
json_object *jref(json_object *v);

/* Reading JSON the peers wrote: the member @key of @o, or NULL / 0 / false / "" when @o is not
 * an object or has no such member of that type (events come from our own peers). */
json_object *jget(json_object *o, const char *key);
int64_t jint(json_object *o, const char *key);
bool jbool(json_object *o, const char *key);
const char *jstr(json_object *o, const char *key);
