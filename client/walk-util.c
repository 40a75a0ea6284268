/* SPDX-License-Identifier: MIT */
/* walk-util.c — the small helpers the walkthrough's files share (see walk-util.h). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "client/walk-util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <time.h>

void log_error(const char *fmt, ...) {
        va_list ap;

        fputs("shmboxctl: walkthrough: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

int64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sleep_ms(int ms) {
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

const char *fmt_bytes(char *buf, size_t size, uint64_t v) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        unsigned u = 0;

        while (u + 1 < ELEMENTSOF(units) && v >= (UINT64_C(1024) << (10 * u)))
                u++;
        if (u == 0)
                snprintf(buf, size, "%" PRIu64 " B", v);
        else if (v % (UINT64_C(1) << (10 * u)) == 0)
                snprintf(buf, size, "%" PRIu64 " %s", v >> (10 * u), units[u]);
        else
                snprintf(buf, size, "%.1f %s", (double)v / (double)(UINT64_C(1) << (10 * u)), units[u]);
        return buf;
}

/* ---- JSON helpers --------------------------------------------------------------------------- */

/* Add @v as @key of @o. Return: 0; -ENOMEM (an allocation failed; @v is freed). */
int jput(json_object *o, const char *key, json_object *v) {
        if (!o || !v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

/* Add a JSON null as @key of @o (json-c represents null as a NULL object). */
int jput_null(json_object *o, const char *key) {
        return o && json_object_object_add(o, key, NULL) == 0 ? 0 : -ENOMEM;
}

int jput_i(json_object *o, const char *key, int64_t v) {
        return jput(o, key, json_object_new_int64(v));
}

int jput_s(json_object *o, const char *key, const char *v) {
        return v ? jput(o, key, json_object_new_string(v)) : jput_null(o, key);
}

int jput_b(json_object *o, const char *key, bool v) {
        return jput(o, key, json_object_new_boolean(v));
}

int jput_d(json_object *o, const char *key, double v) {
        return jput(o, key, json_object_new_double(v));
}

int jappend(json_object *array, json_object *v) {
        if (!array || !v || json_object_array_add(array, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

/* A shared reference to @v, for an object that sits in the record and in a local. */
json_object *jref(json_object *v) {
        return json_object_get(v);
}

/* The member @key of @o (NULL if @o is not an object or has none). */
json_object *jget(json_object *o, const char *key) {
        json_object *v = NULL;

        if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
                return NULL;
        return v;
}

/* An integer member, or 0: events come from our own peers, and a missing value reads 0. */
int64_t jint(json_object *o, const char *key) {
        json_object *v = jget(o, key);

        return v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
}

bool jbool(json_object *o, const char *key) {
        json_object *v = jget(o, key);

        return v && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

const char *jstr(json_object *o, const char *key) {
        json_object *v = jget(o, key);

        return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}
