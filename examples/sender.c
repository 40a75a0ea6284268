/* SPDX-License-Identifier: MIT */
/* sender.c — example: create a mailbox if needed, attach to it and send COUNT messages.
 *
 * Usage: sender [--socket PATH] NAME COUNT
 *
 * Copy it: it includes <shmbox.h> as an installed application does, and builds with
 *         cc app.c $(pkg-config --cflags --libs shmbox)
 * (in the source tree, Makefile.am puts client/ on its include path and nothing else).
 *
 * Every shmbox function returns a negative errno on failure (shmbox_strerror() makes it a
 * message); the library never prints or exits: the application decides.
 */
#include <shmbox.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
        const char *socket_path = NULL; /* NULL: $SHMBOX_SOCKET, else the default socket */
        shmbox_client *client = NULL;
        shmbox *box = NULL;
        const char *name;
        unsigned long count;
        char *end;
        int r, status = EXIT_FAILURE;

        if (argc > 2 && strcmp(argv[1], "--socket") == 0) {
                socket_path = argv[2];
                argc -= 2;
                argv += 2;
        }
        if (argc != 3) {
                fprintf(stderr, "usage: sender [--socket PATH] NAME COUNT\n");
                return 2;
        }
        name = argv[1];
        errno = 0;
        count = strtoul(argv[2], &end, 10);
        if (argv[2][0] < '0' || argv[2][0] > '9' || *end != '\0' || errno != 0) {
                fprintf(stderr, "sender: invalid COUNT '%s'\n", argv[2]);
                return 2;
        }

        /* One connection to the daemon: the control plane (create, attach, ...). */
        r = shmbox_connect(socket_path, &client);
        if (r < 0) {
                fprintf(stderr, "sender: cannot connect to shmboxd: %s\n", shmbox_strerror(r));
                return EXIT_FAILURE;
        }

        /* NULL config: the defaults, 64 slots of 4096 bytes, mode 0600. Another sender may have
         * created it already, which is fine. */
        r = shmbox_create(client, name, NULL);
        if (r < 0 && r != -EEXIST) {
                fprintf(stderr, "sender: %s: cannot create: %s\n", name, shmbox_strerror(r));
                goto out;
        }

        /* Attaching maps the mailbox: from here on, sending goes through shared memory. */
        r = shmbox_attach(client, name, &box);
        if (r < 0) {
                fprintf(stderr, "sender: %s: cannot attach: %s\n", name, shmbox_strerror(r));
                goto out;
        }

        for (unsigned long i = 1; i <= count; i++) {
                char msg[64];
                int len = snprintf(msg, sizeof(msg), "message %lu", i);

                /* Timeout -1: wait as long as the mailbox is full. 0 means the message is
                 * committed: it will be delivered even if this process dies right now. */
                r = shmbox_send(box, msg, (size_t)len, -1);
                if (r < 0) {
                        fprintf(stderr, "sender: %s: %s\n", name, shmbox_strerror(r));
                        goto out;
                }
        }
        status = EXIT_SUCCESS;

out:
        shmbox_detach(box); /* both accept NULL, so one exit path serves every error */
        shmbox_disconnect(client);
        return status;
}
