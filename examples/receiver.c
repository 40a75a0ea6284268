/* SPDX-License-Identifier: MIT */
/* receiver.c — example: attach to a mailbox and receive COUNT messages, printing each.
 *
 * Usage: receiver [--socket PATH] NAME COUNT [TIMEOUT_MS]
 *
 * TIMEOUT_MS bounds the wait for each message (default: wait forever). Copy it: it includes
 * <shmbox.h> as an installed application does, and builds with
 *         cc app.c $(pkg-config --cflags --libs shmbox)
 */
#include <shmbox.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A whole-string decimal number, at least @min: 0, or -1 if @s is not one. */
static int parse_long(const char *s, long min, long *ret) {
        char *end;
        long v = strtol(s, &end, 10);

        if (end == s || *end != '\0' || v < min || v > 1000000000)
                return -1;
        *ret = v;
        return 0;
}

int main(int argc, char **argv) {
        const char *socket_path = NULL; /* NULL: $SHMBOX_SOCKET, else the default socket */
        shmbox_client *client = NULL;
        shmbox *box = NULL;
        const char *name;
        char *buf = NULL;
        size_t cap;
        long count, timeout_ms = -1; /* -1: wait forever; 0: never wait */
        int r, status = EXIT_FAILURE;

        if (argc > 2 && strcmp(argv[1], "--socket") == 0) {
                socket_path = argv[2];
                argc -= 2;
                argv += 2;
        }
        if (argc != 3 && argc != 4) {
                fprintf(stderr, "usage: receiver [--socket PATH] NAME COUNT [TIMEOUT_MS]\n");
                return 2;
        }
        name = argv[1];
        if (parse_long(argv[2], 0, &count) < 0 || (argc == 4 && parse_long(argv[3], -1, &timeout_ms) < 0)) {
                fprintf(stderr, "receiver: COUNT and TIMEOUT_MS must be numbers\n");
                return 2;
        }

        r = shmbox_connect(socket_path, &client);
        if (r < 0) {
                fprintf(stderr, "receiver: cannot connect to shmboxd: %s\n", shmbox_strerror(r));
                return EXIT_FAILURE;
        }
        r = shmbox_attach(client, name, &box);
        if (r < 0) {
                fprintf(stderr, "receiver: %s: cannot attach: %s\n", name, shmbox_strerror(r));
                goto out;
        }

        /* A slot holds the largest message the mailbox accepts: a buffer of that size never
         * gets -EMSGSIZE. */
        cap = shmbox_slot_size(box);
        buf = malloc(cap);
        if (!buf) {
                fprintf(stderr, "receiver: out of memory\n");
                goto out;
        }

        for (long i = 0; i < count; i++) {
                /* Returns the length of the message, which is now ours alone; or -ETIMEDOUT,
                 * -EIDRM (destroyed), ... A signal does not cut the wait short. */
                ssize_t len = shmbox_recv(box, buf, cap, (int)timeout_ms);
                if (len < 0) {
                        fprintf(stderr, "receiver: %s: %s\n", name, shmbox_strerror((int)len));
                        goto out;
                }
                printf("%.*s\n", (int)len, buf); /* messages are bytes, not strings: no NUL */
        }
        status = EXIT_SUCCESS;

out:
        free(buf);
        shmbox_detach(box); /* NULL-safe, like shmbox_disconnect() */
        shmbox_disconnect(client);
        return status;
}
