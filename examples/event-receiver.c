/* SPDX-License-Identifier: MIT */
/* event-receiver.c — example: drive a mailbox from a libevent loop with shmbox_fd().
 *
 * Usage: event-receiver [--socket PATH] NAME COUNT
 *
 * The box's file descriptor polls readable while messages are queued: the loop wakes, the
 * callback receives with timeout 0 until -EAGAIN, and the loop sleeps again. The event also
 * has a timeout of 100 ms, after which the callback receives too: the wake-up is a byte in a
 * FIFO that any process with access to the mailbox can read, and the timeout bounds how late
 * a message is found if one does (shmbox(3), shmbox_fd). A timer shows the same loop doing
 * other work meanwhile. Copy it: it includes <shmbox.h> as an installed application does, and
 * builds with `cc app.c $(pkg-config --cflags --libs shmbox libevent_core)`.
 */
#include <shmbox.h>

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct state {
        shmbox *box;
        unsigned long want, got;
        struct event_base *base;
        char buf[4096];
};

/* Readable, or 100 ms without: drain what is queued now, without blocking the loop. */
static void on_readable(evutil_socket_t fd, short what, void *arg) {
        struct state *s = arg;

        for (;;) {
                ssize_t n = shmbox_recv(s->box, s->buf, sizeof(s->buf), 0);

                if (n == -EAGAIN)
                        return; /* nothing left: back to the loop */
                if (n < 0) {
                        fprintf(stderr, "event-receiver: recv: %s\n", shmbox_strerror((int)n));
                        event_base_loopbreak(s->base);
                        return;
                }
                printf("%.*s\n", (int)n, s->buf);
                if (++s->got == s->want) {
                        event_base_loopbreak(s->base);
                        return;
                }
        }
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {
        struct state *s = arg;

        fprintf(stderr, "event-receiver: %lu of %lu received so far\n", s->got, s->want);
}

int main(int argc, char **argv) {
        const char *socket_path = NULL;
        struct state s = { 0 };
        shmbox_client *client = NULL;
        struct event *readable = NULL, *tick = NULL;
        struct timeval second = { 1, 0 }, bound = { 0, 100 * 1000 };
        int r, fd, status = EXIT_FAILURE;

        if (argc > 2 && strcmp(argv[1], "--socket") == 0) {
                socket_path = argv[2];
                argc -= 2;
                argv += 2;
        }
        if (argc != 3 || (s.want = strtoul(argv[2], NULL, 10)) == 0) {
                fprintf(stderr, "usage: event-receiver [--socket PATH] NAME COUNT\n");
                return 2;
        }
        r = shmbox_connect(socket_path, &client);
        if (r == 0)
                r = shmbox_attach(client, argv[1], &s.box);
        if (r < 0) {
                fprintf(stderr, "event-receiver: %s: %s\n", argv[1], shmbox_strerror(r));
                goto out;
        }
        fd = shmbox_fd(s.box);
        if (fd < 0) {
                fprintf(stderr, "event-receiver: %s: %s\n", argv[1], shmbox_strerror(fd));
                goto out;
        }

        s.base = event_base_new();
        readable = event_new(s.base, fd, EV_READ | EV_PERSIST, on_readable, &s);
        tick = event_new(s.base, -1, EV_PERSIST, on_tick, &s);
        if (!s.base || !readable || !tick || event_add(readable, &bound) < 0 || event_add(tick, &second) < 0)
                goto out;
        event_base_dispatch(s.base);
        status = s.got == s.want ? EXIT_SUCCESS : EXIT_FAILURE;
out:
        if (tick)
                event_free(tick);
        if (readable)
                event_free(readable);
        if (s.base)
                event_base_free(s.base);
        shmbox_detach(s.box);
        shmbox_disconnect(client);
        return status;
}
