/* SPDX-License-Identifier: MIT */
/* walk-chart.h — the chart of `shmboxctl walkthrough --hierarchy --plot`: bandwidth against the
 * ring's footprint as an SVG file, with the cache sizes marked. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "client/walk-machine.h"

/* One measured size of the hierarchy. */
typedef struct Point {
        uint64_t footprint, message, messages;
        uint32_t slots, stride;
        double ns_per_message, ns_per_byte, gbps;
        const char *fits; /* the smallest data cache that holds the ring, or "RAM" */
} Point;

/*
 * chart_write() - the bandwidth of the exchange against the ring's footprint, as an SVG chart
 * @path: the file, created or replaced
 * @pts, @n: the measured sizes, by growing footprint; nothing is written when @n is 0
 * @caches: drawn as dashed vertical lines (instruction caches are left out), with a caption that
 *          says where the sizes came from (caches_origin()); with no sizes, the caption says so
 *
 * Return: 0; a negative errno (reported).
 */
int chart_write(const char *path, const Point *pts, size_t n, const Caches *caches);
