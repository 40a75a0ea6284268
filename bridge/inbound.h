/* SPDX-License-Identifier: MIT */
/* inbound.h — a durable JetStream consumer carried into a mailbox: fetch what fits, send, ack once committed. */
#pragma once

typedef struct Worker Worker;

int inbound_new(Worker *w);
