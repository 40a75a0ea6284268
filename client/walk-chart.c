/* SPDX-License-Identifier: MIT */
/* walk-chart.c — the chart of `shmboxctl walkthrough --hierarchy --plot`: an SVG file written
 * by hand (no library), bandwidth against the ring's footprint on a log scale, the cache sizes
 * as dashed lines. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "client/walk-chart.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "client/walk-util.h"

static void svg_escape(FILE *f, const char *s) {
        for (; *s; s++)
                switch (*s) {
                case '<': fputs("&lt;", f); break;
                case '>': fputs("&gt;", f); break;
                case '&': fputs("&amp;", f); break;
                case '"': fputs("&quot;", f); break;
                default: fputc(*s, f);
                }
}

static double log2_u64(uint64_t v) {
        double l = 0, x = (double)v;

        /* no libm: the integer part by halving, the fraction by a few square-root-free steps */
        while (x >= 2) {
                x /= 2;
                l += 1;
        }
        for (double bit = 0.5; bit > 1e-4; bit /= 2) {
                x *= x;
                if (x >= 2) {
                        x /= 2;
                        l += bit;
                }
        }
        return l;
}

/* Log-scale x (bytes), linear y (GB/s), one point per size, dashed vertical lines at the
 * cache sizes, and a caption at the bottom that says where the sizes came from. */
int chart_write(const char *path, const Point *pts, size_t n, const Caches *caches) {
        const double W = 960, H = 540, L = 90, R = 40, T = 60, B = 80;
        _cleanup_(fclosep) FILE *f = NULL;
        const Cache *c = caches->cache;
        size_t nc = caches->n;
        double xmin, xmax, ymax = 0, step, raw, mag;
        char b[32], origin[PATH_MAX];
        int r;

        if (n == 0)
                return 0;
        f = fopen(path, "we");
        if (!f) {
                r = -errno;
                log_error("%s: %s", path, strerror(errno));
                return r;
        }
        xmin = (double)(int)log2_u64(pts[0].footprint);
        xmax = (double)(int)log2_u64(pts[n - 1].footprint) + 1;
        for (size_t i = 0; i < nc; i++)
                if (strcmp(c[i].type, "Instruction") != 0 && log2_u64(c[i].size) + 0.5 > xmax)
                        xmax = (double)(int)log2_u64(c[i].size) + 1;
        for (size_t i = 0; i < n; i++)
                if (pts[i].gbps > ymax)
                        ymax = pts[i].gbps;
        /* a round step, 1, 2 or 5 times a power of ten: five of them above the highest point */
        raw = ymax * 1.05 / 5;
        for (mag = 1e-6; mag * 10 <= raw;)
                mag *= 10;
        step = raw <= mag ? mag : raw <= 2 * mag ? 2 * mag : raw <= 5 * mag ? 5 * mag : 10 * mag;
        ymax = step * 5;
#define X(l) (L + ((l)-xmin) / (xmax - xmin) * (W - L - R))
#define Y(v) (H - B - (v) / ymax * (H - T - B))
        fprintf(f,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
                "<title>shmbox: bandwidth of a process-to-process exchange against the ring "
                "footprint</title>\n"
                "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
                "<text x=\"%.0f\" y=\"30\" font-size=\"16\" text-anchor=\"middle\">shmbox walkthrough "
                "--hierarchy: bandwidth between two processes, by ring footprint</text>\n",
                W, H, W, H, W / 2);
        /* y grid and labels */
        for (int i = 0; i <= 5; i++) {
                double v = step * i;

                fprintf(f,
                        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
                        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                        L, Y(v), W - R, Y(v), L - 8, Y(v) + 4, v);
        }
        /* x ticks: every power of two, labelled every other one */
        for (int e = (int)xmin; e <= (int)xmax; e++) {
                fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n", X(e), H - B,
                        X(e), H - B + 5);
                if ((e - (int)xmin) % 2 == 0)
                        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", X(e), H - B + 20,
                                fmt_bytes(b, sizeof(b), UINT64_C(1) << e));
        }
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n"
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">ring footprint (slots x slot stride), "
                "log scale</text>\n"
                "<text x=\"20\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 20 %.1f)\">"
                "bandwidth (GB/s)</text>\n",
                L, H - B, W - R, H - B, L, T, L, H - B, (L + W - R) / 2, H - B + 45, (T + H - B) / 2, (T + H - B) / 2);
        /* the caches */
        for (size_t i = 0; i < nc; i++) {
                double x;

                if (strcmp(c[i].type, "Instruction") == 0)
                        continue;
                x = X(log2_u64(c[i].size));
                fprintf(f,
                        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#c33\" "
                        "stroke-dasharray=\"6,4\"/>\n<text x=\"%.1f\" y=\"%.1f\" fill=\"#c33\" "
                        "text-anchor=\"middle\">",
                        x, T, x, H - B, x, T - 6);
                svg_escape(f, c[i].name);
                fprintf(f, " %s</text>\n", fmt_bytes(b, sizeof(b), c[i].size));
        }
        /* where the cache lines come from, or why there are none */
        caches_origin(origin, sizeof(origin), caches);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#c33\" class=\"cache-source\">%s", L, H - 10,
                nc ? "dashed lines: caches " : "");
        svg_escape(f, origin);
        fprintf(f, "%s</text>\n", nc ? "" : ": no cache lines drawn");
        /* the curve */
        fprintf(f, "<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"");
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s%.1f,%.1f", i ? " " : "", X(log2_u64(pts[i].footprint)), Y(pts[i].gbps));
        fprintf(f, "\"/>\n");
        for (size_t i = 0; i < n; i++)
                fprintf(f,
                        "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#1f5fbf\"><title>%s ring, "
                        "%" PRIu64 "-byte messages: %.2f GB/s, %.3f ns/byte</title></circle>\n",
                        X(log2_u64(pts[i].footprint)), Y(pts[i].gbps), fmt_bytes(b, sizeof(b), pts[i].footprint),
                        pts[i].message, pts[i].gbps, pts[i].ns_per_byte);
        fprintf(f, "</svg>\n");
#undef X
#undef Y
        r = fflush(f) == 0 && !ferror(f) ? 0 : -errno;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        f = NULL;
        if (r < 0)
                log_error("%s: %s", path, strerror(-r));
        return r;
}
