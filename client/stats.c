/* SPDX-License-Identifier: MIT */
/* stats.c — libshmbox's shmbox_stats(): a mailbox's traffic counters, in all and per attached box.
 *
 * The daemon reads the counter blocks of the segment (doc/ring.md, "Counters") and sends them
 * with the processes it knows behind each attachment (proto/wire.h, WIRE_STATS); this file
 * turns the reply into the public struct.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "proto/util.h"

_Static_assert(sizeof(struct shmbox_counters) == sizeof(AttCounters), "public counters: one block, reserved included");
_Static_assert(sizeof(struct shmbox_stats) % 8 == 0 && sizeof(struct shmbox_stats_row) % 8 == 0,
               "no tail padding in the public structs");
_Static_assert(WIRE_STATS_ROWS_MAX == LAYOUT_ATT_MAX, "a row per attachment index");

static void counters_from_wire(struct shmbox_counters *out, const WireCounters *in) {
        *out = (struct shmbox_counters){ 0 };
#define COPY(f) out->f = in->f;
        LAYOUT_COUNTER_FIELDS(COPY)
#undef COPY
}

/*
 * shmbox_stats() - a mailbox's traffic counters, per attached box and in all
 * @ret: a malloc'ed struct shmbox_stats with its rows, for free(); written on success only
 *
 * Return: 0; -EINVAL; -ENOENT; -EACCES (no right on the mailbox); -ENOTCONN; -ENOMEM;
 *         -EPROTO for a reply that does not decode.
 */
SHMBOX_PUBLIC int shmbox_stats(shmbox_client *client, const char *name, struct shmbox_stats **ret) {
        _cleanup_free_ uint8_t *frame = NULL;
        _cleanup_free_ struct shmbox_stats *st = NULL;
        WireMsg req = { .type = WIRE_STATS }, reply;
        const uint8_t *pos;
        WireStatsRow row;
        uint32_t n = 0;
        int r;

        if (!client_begin(client) || !name || !names_mailbox_valid(name) || !ret)
                return -EINVAL;
        strcpy(req.name, name);
        r = client_call(client, &req, &reply, &frame);
        if (r < 0)
                return r;
        if (reply.status < 0)
                return reply.status;
        st = calloc(1, sizeof(*st) + (size_t)reply.list_count * sizeof(st->rows[0]));
        if (!st)
                return -ENOMEM;
        st->size = sizeof(*st);
        st->row_size = sizeof(st->rows[0]);
        client_info_from_wire(&st->info, &reply.stats.info);
        st->abandoned = reply.stats.abandoned;
        counters_from_wire(&st->total, &reply.stats.total);
        pos = reply.list;
        while (n < reply.list_count && (r = wire_stats_next(&pos, reply.list + reply.list_len, &row)) > 0) {
                st->rows[n] = (struct shmbox_stats_row){
                        .pid = row.pid,
                        .uid = row.uid,
                        .rights = ((row.rights & WIRE_RIGHT_R) ? SHMBOX_STAT_RECV : 0) |
                                  ((row.rights & WIRE_RIGHT_W) ? SHMBOX_STAT_SEND : 0),
                        .index = row.idx,
                };
                counters_from_wire(&st->rows[n].c, &row.c);
                n++;
        }
        if (r < 0)
                return -EPROTO;
        st->n_rows = n;
        *ret = TAKE_PTR(st);
        return 0;
}
