/* SPDX-License-Identifier: MIT */
/* rpc.c — example: a tiny request/reply service over a mailbox, and its client.
 *
 * Usage: rpc [--socket PATH] serve NAME [COUNT]    answer COUNT requests (default: forever)
 *        rpc [--socket PATH] call NAME TEXT        send TEXT as a request, print the reply
 *
 * The service answers each request with its text reversed. Run several servers on one mailbox
 * to share the work: each request goes to one of them, and if a server dies before it has taken
 * a request whole, another gets it. The caller's replies come to a reply mailbox of its own,
 * made by the library on its first request and destroyed by the daemon when the caller's
 * connection ends, so a caller that dies leaves nothing behind. The server creates NAME
 * (mode 0666: anyone may call) if it does not exist, and destroys it when it created it and
 * has answered COUNT requests. Copy it: it includes <shmbox.h> as an installed application
 * does, and builds with
 *         cc app.c $(pkg-config --cflags --libs shmbox)
 */
#include <shmbox.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int serve(shmbox_client *client, shmbox *box, long count) {
        char req[4096], rep[4096];

        for (long i = 0; count == 0 || i < count; i++) {
                struct shmbox_request_info info;
                ssize_t n = shmbox_recv_request(box, req, sizeof(req), &info, -1);
                int r;

                if (n == -EBADMSG) { /* a request whose header does not validate: dropped */
                        fprintf(stderr, "rpc: a malformed request, dropped\n");
                        continue;
                }
                if (n < 0) {
                        fprintf(stderr, "rpc: receive: %s\n", shmbox_strerror((int)n));
                        return 1;
                }
                for (ssize_t k = 0; k < n; k++)
                        rep[k] = req[n - 1 - k];
                r = shmbox_reply(client, &info, rep, (size_t)n);
                /* a caller that is gone (-ENOENT, -EIDRM) or not asking (-EDESTADDRREQ) is no
                 * reason for a server to stop */
                if (r < 0)
                        fprintf(stderr, "rpc: reply to %s: %s\n", info.reply_to[0] ? info.reply_to : "nobody",
                                shmbox_strerror(r));
        }
        return 0;
}

static int call(shmbox *box, const char *text) {
        char rep[4096];
        ssize_t n = shmbox_request(box, text, strlen(text), rep, sizeof(rep), 5000);

        if (n < 0) {
                fprintf(stderr, "rpc: request: %s\n", shmbox_strerror((int)n));
                return 1;
        }
        printf("%.*s\n", (int)n, rep);
        return 0;
}

int main(int argc, char **argv) {
        const char *socket_path = NULL; /* NULL: $SHMBOX_SOCKET, else the default socket */
        struct shmbox_config cfg = { .mode = 0666 };
        shmbox_client *client = NULL;
        shmbox *box = NULL;
        bool created = false;
        long count = 0;
        int r, status;

        if (argc > 2 && strcmp(argv[1], "--socket") == 0) {
                socket_path = argv[2];
                argc -= 2;
                argv += 2;
        }
        if (argc < 3 || argc > 4 || (strcmp(argv[1], "serve") != 0 && strcmp(argv[1], "call") != 0) ||
            (strcmp(argv[1], "call") == 0 && argc != 4)) {
                fprintf(stderr, "usage: rpc [--socket PATH] serve NAME [COUNT] | call NAME TEXT\n");
                return 2;
        }
        if (strcmp(argv[1], "serve") == 0 && argc == 4)
                count = strtol(argv[3], NULL, 10);

        r = shmbox_connect(socket_path, &client);
        if (r < 0) {
                fprintf(stderr, "rpc: connect: %s\n", shmbox_strerror(r));
                return 1;
        }
        if (strcmp(argv[1], "serve") == 0) {
                r = shmbox_create(client, argv[2], &cfg);
                created = r == 0;
                if (r < 0 && r != -EEXIST) {
                        fprintf(stderr, "rpc: create %s: %s\n", argv[2], shmbox_strerror(r));
                        shmbox_disconnect(client);
                        return 1;
                }
        }
        r = shmbox_attach(client, argv[2], &box);
        if (r < 0) {
                fprintf(stderr, "rpc: attach %s: %s\n", argv[2], shmbox_strerror(r));
                shmbox_disconnect(client);
                return 1;
        }
        status = strcmp(argv[1], "serve") == 0 ? serve(client, box, count) : call(box, argv[3]);
        shmbox_detach(box);
        if (created)
                shmbox_destroy(client, argv[2]);
        shmbox_disconnect(client); /* also removes the caller's reply mailbox */
        return status;
}
