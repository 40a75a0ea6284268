/* SPDX-License-Identifier: MIT */
/* walkthrough.h — `shmboxctl walkthrough`: a message narrated on its way between two processes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "client/shmbox.h"

/* The hidden command under which shmboxctl runs the sender and the receiver it exec's. */
#define WALKTHROUGH_PEER "walkthrough-peer"

#define WALKTHROUGH_DEFAULT_SIZE 256

typedef struct WalkthroughOptions {
        const char *socket; /* --socket, or NULL: $SHMBOX_SOCKET, else the default */
        size_t size;        /* --size: bytes of the message */
        bool json;          /* --json: one JSON record of every step, nothing else on stdout */
        bool quiet;         /* --quiet: the summary line only */
        bool hierarchy;     /* --hierarchy: messages of growing size, cost per byte */
        bool quick;         /* --quick: a short hierarchy (tests) */
        bool own_daemon;    /* --own-daemon: a temporary daemon even if one answers */
        const char *plot;   /* --plot FILE.svg, or NULL */
        const char *prefix; /* --prefix of the temporary daemon, or NULL: shmboxwt<pid> */
} WalkthroughOptions;

int walkthrough_run(const WalkthroughOptions *opt);
int walkthrough_peer(const char *socket, int argc, char **argv);
