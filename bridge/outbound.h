/* SPDX-License-Identifier: MIT */
/* outbound.h — a mailbox carried to a JetStream subject: peek, publish with an id, release on the ack. */
#pragma once

typedef struct Worker Worker;

int outbound_new(Worker *w);
