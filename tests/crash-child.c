/* SPDX-License-Identifier: MIT */
/* crash-child.c — a peer process for the crash tests: attaches to a mailbox and sends, receives
 * or idles, reporting on stdout; run with SHMBOX_CRASH_AT=point to die at a crash point.
 *
 *   crash-child SOCKET NAME send COUNT SIZE   send COUNT messages of SIZE bytes "<i>:<pattern>"
 *   crash-child SOCKET NAME recv COUNT        receive COUNT messages, print "got LEN PAYLOAD"
 *   crash-child SOCKET NAME idle              attach and wait to be killed
 *   crash-child SOCKET NAME recvwait COUNT    like recv, after a line on stdin ("go")
 *   crash-child SOCKET NAME reserve           reserve a slot, write half of it, print "reserved",
 *                                             wait to be killed
 *   crash-child SOCKET NAME peek              peek a message, print "peeked LEN", wait to be killed
 *   crash-child SOCKET NAME peekwait          peek a message, print "peeked LEN"; after a line on
 *                                             stdin send "late", print "sent STATUS", wait to be
 *                                             killed (still holding the peeked message)
 *   crash-child SOCKET NAME pingpong COUNT    for each line on stdin: COUNT x (send, then receive
 *                                             it, never waiting), then print "done"
 *   crash-child SOCKET NAME serve COUNT       answer COUNT requests (shmbox_recv_request), each
 *                                             with "reply:" and the request's body, printing
 *                                             "served ID"
 *   crash-child SOCKET NAME request COUNT     make COUNT requests (shmbox_request, 20 s each) of
 *                                             "work-<i>", printing "reply LEN BODY" or
 *                                             "error ERRNO"
 * Every mode first prints "attached" once the box is usable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/shmbox.h"

static int fail(const char *what, int r) {
        fprintf(stderr, "crash-child: %s: %s\n", what, shmbox_strerror(r));
        return 1;
}

int main(int argc, char **argv) {
        shmbox_client *c;
        shmbox *box;
        long count = argc > 4 ? atol(argv[4]) : 1;
        int r;

        if (argc < 4) {
                fprintf(stderr, "usage: crash-child SOCKET NAME send|recv|idle [COUNT [SIZE]]\n");
                return 2;
        }
        setvbuf(stdout, NULL, _IONBF, 0);
        r = shmbox_connect(argv[1], &c);
        if (r < 0)
                return fail("connect", r);
        r = shmbox_attach(c, argv[2], &box);
        if (r < 0)
                return fail("attach", r);
        printf("attached\n");

        if (strcmp(argv[3], "send") == 0) {
                size_t size = argc > 5 ? (size_t)atol(argv[5]) : 16;
                char *buf = malloc(size + 32);

                for (long i = 0; i < count; i++) {
                        int n = snprintf(buf, size + 32, "%ld:", i);
                        for (size_t k = (size_t)n; k < size; k++)
                                buf[k] = (char)('a' + k % 26);
                        r = shmbox_send(box, buf, size > (size_t)n ? size : (size_t)n, -1);
                        if (r < 0)
                                return fail("send", r);
                }
                printf("sent %ld\n", count);
                free(buf);
        } else if (strcmp(argv[3], "recv") == 0 || strcmp(argv[3], "recvwait") == 0) {
                size_t cap = shmbox_slot_size(box);
                char *buf = malloc(cap + 1);

                if (strcmp(argv[3], "recvwait") == 0 && !fgets(buf, (int)cap, stdin))
                        return 1;
                for (long i = 0; i < count; i++) {
                        ssize_t n = shmbox_recv(box, buf, cap, -1);
                        if (n < 0)
                                return fail("recv", (int)n);
                        printf("got %zd %.*s\n", n, (int)(n > 40 ? 40 : n), buf);
                }
                free(buf);
        } else if (strcmp(argv[3], "pingpong") == 0) {
                char buf[64];

                while (fgets(buf, sizeof(buf), stdin)) {
                        for (long i = 0; i < count; i++) {
                                r = shmbox_send(box, "ping", 4, 0);
                                if (r < 0)
                                        return fail("send", r);
                                r = (int)shmbox_recv(box, buf, sizeof(buf), 0);
                                if (r < 0)
                                        return fail("recv", r);
                        }
                        printf("done\n");
                }
        } else if (strcmp(argv[3], "reserve") == 0) {
                void *slot;

                r = shmbox_reserve(box, 8, -1, &slot);
                if (r < 0)
                        return fail("reserve", r);
                memcpy(slot, "torn", 4);
                printf("reserved\n");
                for (;;)
                        pause();
        } else if (strcmp(argv[3], "peek") == 0) {
                const void *data;
                ssize_t n = shmbox_peek(box, -1, &data);

                if (n < 0)
                        return fail("peek", (int)n);
                printf("peeked %zd\n", n);
                for (;;)
                        pause();
        } else if (strcmp(argv[3], "peekwait") == 0) {
                const void *data;
                char line[64];
                ssize_t n = shmbox_peek(box, -1, &data);

                if (n < 0)
                        return fail("peek", (int)n);
                printf("peeked %zd\n", n);
                if (!fgets(line, sizeof(line), stdin))
                        return 1;
                printf("sent %d\n", shmbox_send(box, "late", 4, 0));
                for (;;)
                        pause();
        } else if (strcmp(argv[3], "serve") == 0) {
                char req[4096], rep[4096 + 8];
                struct shmbox_request_info info;

                for (long i = 0; i < count; i++) {
                        ssize_t n = shmbox_recv_request(box, req, sizeof(req), &info, -1);

                        if (n < 0)
                                return fail("recv_request", (int)n);
                        memcpy(rep, "reply:", 6);
                        memcpy(rep + 6, req, (size_t)n);
                        r = shmbox_reply(c, &info, rep, (size_t)n + 6);
                        if (r < 0)
                                return fail("reply", r);
                        printf("served %llu\n", (unsigned long long)info.id);
                }
        } else if (strcmp(argv[3], "request") == 0) {
                char req[32], rep[4096];

                for (long i = 0; i < count; i++) {
                        int n = snprintf(req, sizeof(req), "work-%ld", i);
                        ssize_t k = shmbox_request(box, req, (size_t)n, rep, sizeof(rep), 20000);

                        if (k < 0)
                                printf("error %d\n", (int)-k);
                        else
                                printf("reply %zd %.*s\n", k, (int)k, rep);
                }
        } else if (strcmp(argv[3], "idle") == 0) {
                for (;;)
                        pause();
        } else
                return 2;
        shmbox_detach(box);
        shmbox_disconnect(c);
        return 0;
}
