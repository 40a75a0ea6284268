/* SPDX-License-Identifier: MIT */
/* test-errors.c — every error of the API table, provoked end to end on a private shmboxd:
 * bad arguments, names that exist or do not, the daemon's caps, permissions (as uid 65534,
 * when run as root), connecting where no daemon is, a daemon that went away, corrupt shared
 * memory, and a second daemon on the same prefix or socket.
 *
 * Peers with other credentials run in forked children that drop privileges before they
 * connect (credentials are taken at connect) and report their results as int64 values
 * through a pipe; only the test process asserts.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/shmbox.h"
#include "proto/layout.h"
#include "proto/names.h"
#include "proto/wire.h"
#include "tests/harness.h"

#define TIMEOUT_S 60
#define NOBODY 65534

/* --- helpers --------------------------------------------------------------------------------- */

/* Map the segment of @name read-write, to corrupt it on purpose. */
static MboxHeader *header_map_rw(const TestDaemon *d, const char *name) {
        char path[NAMES_OBJECT_MAX];
        void *map;
        int fd;

        ck_assert_int_ge(names_segment(path, sizeof(path), d->prefix, name), 0);
        fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
        ck_assert_msg(fd >= 0, "shm_open %s: %s", path, strerror(errno));
        map = mmap(NULL, LAYOUT_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        ck_assert(map != MAP_FAILED);
        return map;
}

/* The daemon still serves: a fresh client can create, use and destroy a mailbox. */
static void assert_daemon_serves(const TestDaemon *d) {
        shmbox_client *c = harness_connect(d);
        shmbox *box;
        char got[16];

        ck_assert_int_eq(shmbox_create(c, "canary", NULL), 0);
        ck_assert_int_eq(shmbox_attach(c, "canary", &box), 0);
        ck_assert_int_eq(shmbox_send(box, "tweet", 5, 0), 0);
        ck_assert_int_eq(shmbox_recv(box, got, sizeof(got), 0), 5);
        ck_assert_mem_eq(got, "tweet", 5);
        ck_assert_int_eq(shmbox_detach(box), 0);
        ck_assert_int_eq(shmbox_destroy(c, "canary"), 0);
        shmbox_disconnect(c);
}

/* Objects of @d's prefix in /dev/shm other than its instance lock. */
static unsigned mailbox_objects(const TestDaemon *d) {
        char lock[NAMES_OBJECT_MAX];
        unsigned n = harness_count_objects(d->prefix);

        ck_assert_int_ge(names_lockfile(lock, sizeof(lock), d->prefix), 0);
        if (access(lock, F_OK) == 0)
                n--;
        return n;
}

static const char *repeat(char ch, size_t n) {
        static char buf[256];

        ck_assert_uint_lt(n, sizeof(buf));
        memset(buf, ch, n);
        buf[n] = 0;
        return buf;
}

/* --- -EINVAL ------------------------------------------------------------------------------- */

START_TEST(test_bad_names_are_einval_for_every_call) {
        static const char *const bad[] = {
                "",          ".hidden",   ".",     "..",         "a/b",         "/abs", "with space", "caf\xc3\xa9",
                "tab\there", "new\nline", "star*", "semi;colon", "back\\slash",
        };
        const char *long65;
        struct shmbox_info info;
        TestDaemon d;
        shmbox_client *c;
        shmbox *box;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_msg(shmbox_create(c, bad[i], NULL) == -EINVAL, "create \"%s\"", bad[i]);
                ck_assert_msg(shmbox_attach(c, bad[i], &box) == -EINVAL, "attach \"%s\"", bad[i]);
                ck_assert_msg(shmbox_destroy(c, bad[i]) == -EINVAL, "destroy \"%s\"", bad[i]);
                ck_assert_msg(shmbox_info(c, bad[i], &info) == -EINVAL, "info \"%s\"", bad[i]);
        }
        long65 = strdup(repeat('n', 65));
        ck_assert_int_eq(shmbox_create(c, long65, NULL), -EINVAL);
        ck_assert_int_eq(shmbox_attach(c, long65, &box), -EINVAL);
        ck_assert_int_eq(shmbox_destroy(c, long65), -EINVAL);
        ck_assert_int_eq(shmbox_info(c, long65, &info), -EINVAL);
        ck_assert_int_eq(shmbox_create(c, repeat('n', 200), NULL), -EINVAL);
        free((char *)long65);

        /* the edges of what is valid: 64 characters; every allowed character; a dot inside */
        ck_assert_int_eq(shmbox_create(c, repeat('n', 64), NULL), 0);
        ck_assert_int_eq(shmbox_info(c, repeat('n', 64), &info), 0);
        ck_assert_int_eq(shmbox_destroy(c, repeat('n', 64)), 0);
        ck_assert_int_eq(shmbox_create(c, "AZaz09._-", NULL), 0);
        ck_assert_int_eq(shmbox_destroy(c, "AZaz09._-"), 0);
        ck_assert_int_eq(shmbox_create(c, "a..b.", NULL), 0);
        ck_assert_int_eq(shmbox_destroy(c, "a..b."), 0);

        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_bad_geometry_mode_and_reserved_words_are_einval) {
        static const uint32_t bad_modes[] = { 0700,        0100,  0010,  0001,  0601,  0610,
                                              0666 | 0111, 04600, 02600, 01600, 07777, 01000000 | 0600 };
        struct shmbox_entry *entries;
        struct shmbox_config cfg;
        TestDaemon d;
        shmbox_client *c;
        size_t n;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);

        cfg = (struct shmbox_config){ .slots = SHMBOX_SLOTS_MAX + 1, .slot_size = 16 };
        ck_assert_int_eq(shmbox_create(c, "geo", &cfg), -EINVAL);
        cfg = (struct shmbox_config){ .slots = UINT32_MAX, .slot_size = 16 };
        ck_assert_int_eq(shmbox_create(c, "geo", &cfg), -EINVAL);
        cfg = (struct shmbox_config){ .slots = 2, .slot_size = SHMBOX_SLOT_SIZE_MAX + 1 };
        ck_assert_int_eq(shmbox_create(c, "geo", &cfg), -EINVAL);
        cfg = (struct shmbox_config){ .slots = 2, .slot_size = UINT32_MAX };
        ck_assert_int_eq(shmbox_create(c, "geo", &cfg), -EINVAL);
        for (size_t i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
                cfg = (struct shmbox_config){ .slots = 2, .slot_size = 16, .mode = bad_modes[i] };
                ck_assert_msg(shmbox_create(c, "mode", &cfg) == -EINVAL, "mode 0%o", bad_modes[i]);
        }
        for (size_t i = 0; i < sizeof(cfg.reserved) / sizeof(cfg.reserved[0]); i++) {
                cfg = (struct shmbox_config){ .slots = 2, .slot_size = 16 };
                cfg.reserved[i] = 1;
                ck_assert_msg(shmbox_create(c, "reserved", &cfg) == -EINVAL, "reserved[%zu] = 1", i);
                cfg.reserved[i] = UINT32_MAX;
                ck_assert_msg(shmbox_create(c, "reserved", &cfg) == -EINVAL, "reserved[%zu] = ~0", i);
        }
        /* nothing was created by any of them */
        ck_assert_int_eq(shmbox_list(c, &entries, &n), 0);
        ck_assert_uint_eq(n, 0);
        free(entries);

        /* the largest valid values of each alone are not EINVAL (the product hits the cap) */
        cfg = (struct shmbox_config){ .slots = SHMBOX_SLOTS_MAX, .slot_size = 1, .mode = 0666 };
        ck_assert_int_eq(shmbox_create(c, "many-slots", &cfg), 0);
        ck_assert_int_eq(shmbox_destroy(c, "many-slots"), 0);
        cfg = (struct shmbox_config){ .slots = 1, .slot_size = SHMBOX_SLOT_SIZE_MAX, .mode = 0400 };
        ck_assert_int_eq(shmbox_create(c, "big-slot", &cfg), 0);
        ck_assert_int_eq(shmbox_destroy(c, "big-slot"), 0);

        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_null_pointers_are_einval) {
        struct shmbox_entry *entries;
        struct shmbox_info info;
        TestDaemon d;
        shmbox_client *c;
        shmbox *box;
        size_t n;
        char buf[8];

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_connect(d.socket, NULL), -EINVAL);
        ck_assert_int_eq(shmbox_create(NULL, "x", NULL), -EINVAL);
        ck_assert_int_eq(shmbox_create(c, NULL, NULL), -EINVAL);
        ck_assert_int_eq(shmbox_destroy(NULL, "x"), -EINVAL);
        ck_assert_int_eq(shmbox_destroy(c, NULL), -EINVAL);
        ck_assert_int_eq(shmbox_attach(NULL, "x", &box), -EINVAL);
        ck_assert_int_eq(shmbox_attach(c, NULL, &box), -EINVAL);
        ck_assert_int_eq(shmbox_info(NULL, "x", &info), -EINVAL);
        ck_assert_int_eq(shmbox_info(c, NULL, &info), -EINVAL);
        ck_assert_int_eq(shmbox_list(NULL, &entries, &n), -EINVAL);
        ck_assert_int_eq(shmbox_list(c, NULL, &n), -EINVAL);
        ck_assert_int_eq(shmbox_list(c, &entries, NULL), -EINVAL);
        ck_assert_int_eq(shmbox_send(NULL, buf, 1, 0), -EINVAL);
        ck_assert_int_eq(shmbox_recv(NULL, buf, sizeof(buf), 0), -EINVAL);
        ck_assert_int_eq(shmbox_create(c, "x", NULL), 0);
        ck_assert_int_eq(shmbox_attach(c, "x", NULL), -EINVAL);
        ck_assert_int_eq(shmbox_info(c, "x", NULL), -EINVAL);
        ck_assert_int_eq(shmbox_attach(c, "x", &box), 0);
        ck_assert_int_eq(shmbox_send(box, NULL, 1, 0), -EINVAL);
        ck_assert_int_eq(shmbox_recv(box, NULL, 1, 0), -EINVAL);
        ck_assert_int_eq(shmbox_detach(box), 0);
        ck_assert_int_eq(shmbox_destroy(c, "x"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

/* --- -EEXIST, -ENOENT ---------------------------------------------------------------------- */

START_TEST(test_create_of_an_existing_name_is_eexist_and_changes_nothing) {
        const struct shmbox_config small = { .slots = 2, .slot_size = 32, .mode = 0600 };
        const struct shmbox_config other = { .slots = 8, .slot_size = 64, .mode = 0666 };
        struct shmbox_info info;
        TestDaemon d;
        shmbox_client *c, *c2;
        shmbox *box;
        char got[32];

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        c2 = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "taken", &small), 0);
        ck_assert_int_eq(shmbox_attach(c, "taken", &box), 0);
        ck_assert_int_eq(shmbox_send(box, "kept", 4, 0), 0);
        ck_assert_int_eq(shmbox_create(c, "taken", &small), -EEXIST);
        ck_assert_int_eq(shmbox_create(c2, "taken", &other), -EEXIST);
        ck_assert_int_eq(shmbox_create(c2, "taken", NULL), -EEXIST);
        ck_assert_int_eq(shmbox_info(c2, "taken", &info), 0);
        ck_assert_uint_eq(info.slots, 2);
        ck_assert_uint_eq(info.slot_size, 32);
        ck_assert_uint_eq(info.mode, 0600);
        ck_assert_uint_eq(info.queued, 1);
        ck_assert_int_eq(shmbox_recv(box, got, sizeof(got), 0), 4);
        ck_assert_mem_eq(got, "kept", 4);
        ck_assert_int_eq(shmbox_detach(box), 0);
        ck_assert_int_eq(shmbox_destroy(c2, "taken"), 0);
        shmbox_disconnect(c);
        shmbox_disconnect(c2);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_destroy_attach_and_info_of_an_unknown_name_are_enoent) {
        struct shmbox_info info;
        TestDaemon d;
        shmbox_client *c;
        shmbox *box = NULL;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_destroy(c, "nobody-made-me"), -ENOENT);
        ck_assert_int_eq(shmbox_attach(c, "nobody-made-me", &box), -ENOENT);
        ck_assert_ptr_null(box);
        ck_assert_int_eq(shmbox_info(c, "nobody-made-me", &info), -ENOENT);
        /* names are exact: no prefix or case folding */
        ck_assert_int_eq(shmbox_create(c, "Exact", NULL), 0);
        ck_assert_int_eq(shmbox_info(c, "exact", &info), -ENOENT);
        ck_assert_int_eq(shmbox_info(c, "Exac", &info), -ENOENT);
        ck_assert_int_eq(shmbox_info(c, "Exact.", &info), -ENOENT);
        ck_assert_int_eq(shmbox_attach(c, "exact", &box), -ENOENT);
        ck_assert_int_eq(shmbox_destroy(c, "EXACT"), -ENOENT);
        ck_assert_int_eq(shmbox_destroy(c, "Exact"), 0);
        ck_assert_int_eq(shmbox_destroy(c, "Exact"), -ENOENT);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

/* --- limits: -ENOSPC, -EMSGSIZE, -EMFILE --------------------------------------------------- */

START_TEST(test_a_mailbox_above_the_daemon_cap_is_enospc) {
        static const char *const extra[] = { "--max-mailbox-bytes", "1048576", NULL };
        const struct shmbox_config big = { .slots = 64, .slot_size = 65536 };
        const struct shmbox_config fits = { .slots = 8, .slot_size = 65536 };
        struct shmbox_entry *entries;
        struct shmbox_info info;
        TestDaemon d;
        shmbox_client *c;
        size_t n;

        harness_daemon_start(&d, extra);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "too-big", &big), -ENOSPC);
        ck_assert_int_eq(shmbox_info(c, "too-big", &info), -ENOENT);
        ck_assert_int_eq(shmbox_create(c, "fits", &fits), 0);
        ck_assert_int_eq(shmbox_list(c, &entries, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(entries[0].name, "fits");
        free(entries);
        ck_assert_int_eq(shmbox_destroy(c, "fits"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

/* The daemon's reason comes back with the errno: what its log says, not a guess. */
START_TEST(test_a_refusal_carries_the_daemons_reason_and_a_success_clears_it) {
        const struct shmbox_config huge = { .slots = SHMBOX_SLOTS_MAX, .slot_size = SHMBOX_SLOT_SIZE_MAX };
        const struct shmbox_config bad_mode = { .mode = 0600 };
        struct shmbox_info info;
        TestDaemon d;
        shmbox_client *c;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_str_eq(shmbox_last_error(c), "");
        ck_assert_str_eq(shmbox_last_error(NULL), "");
        ck_assert_int_eq(shmbox_create(c, "huge", &huge), -ENOSPC);
        ck_assert_str_eq(shmbox_last_error(c), "1099515858944 bytes, above max-mailbox-bytes 1073741824");
        /* the next call, refused for no stated reason (a plain -ENOENT), says none */
        ck_assert_int_eq(shmbox_info(c, "huge", &info), -ENOENT);
        ck_assert_str_eq(shmbox_last_error(c), "");
        ck_assert_int_eq(shmbox_create(c, "huge", &huge), -ENOSPC);
        ck_assert_int_eq(shmbox_create(c, "fine", &bad_mode), 0);
        ck_assert_str_eq(shmbox_last_error(c), "");
        ck_assert_int_eq(shmbox_create(c, "huge", &huge), -ENOSPC);
        ck_assert_int_eq(shmbox_destroy(c, ".bad"), -EINVAL); /* refused here, not by the daemon */
        ck_assert_str_eq(shmbox_last_error(c), "");
        ck_assert_int_eq(shmbox_destroy(c, "fine"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_the_largest_geometry_is_enospc_under_the_default_cap) {
        const struct shmbox_config huge = { .slots = SHMBOX_SLOTS_MAX, .slot_size = SHMBOX_SLOT_SIZE_MAX };
        TestDaemon d;
        shmbox_client *c;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "huge", &huge), -ENOSPC);
        ck_assert_uint_eq(mailbox_objects(&d), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_send_longer_than_slot_size_is_emsgsize) {
        const struct shmbox_config cfg = { .slots = 2, .slot_size = 100 };
        struct shmbox_info info;
        static char buf[200000];
        TestDaemon d;
        shmbox_client *c;
        shmbox *box;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "small", &cfg), 0);
        ck_assert_int_eq(shmbox_attach(c, "small", &box), 0);
        ck_assert_int_eq(shmbox_send(box, buf, 101, 0), -EMSGSIZE);
        ck_assert_int_eq(shmbox_send(box, buf, 101, -1), -EMSGSIZE);
        ck_assert_int_eq(shmbox_send(box, buf, sizeof(buf), 0), -EMSGSIZE);
        ck_assert_int_eq(shmbox_send(box, buf, (size_t)UINT32_MAX + 1, 0), -EMSGSIZE);
        ck_assert_int_eq(shmbox_send(box, buf, SIZE_MAX, 0), -EMSGSIZE);
        ck_assert_int_eq(shmbox_info(c, "small", &info), 0);
        ck_assert_uint_eq(info.sent, 0);
        ck_assert_uint_eq(info.queued, 0);
        /* even on a full mailbox the size is the error, at once */
        ck_assert_int_eq(shmbox_send(box, buf, 100, 0), 0);
        ck_assert_int_eq(shmbox_send(box, buf, 100, 0), 0);
        ck_assert_int_eq(shmbox_send(box, buf, 101, -1), -EMSGSIZE);
        ck_assert_int_eq(shmbox_detach(box), 0);
        ck_assert_int_eq(shmbox_destroy(c, "small"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_the_257th_attachment_to_one_mailbox_is_emfile) {
        enum { CLIENTS = 4, PER_CLIENT = LAYOUT_ATT_MAX / CLIENTS };
        static shmbox *boxes[LAYOUT_ATT_MAX];
        shmbox_client *c[CLIENTS + 1];
        struct shmbox_info info;
        TestDaemon d;
        shmbox *more = NULL;
        char got[16];

        harness_daemon_start(&d, NULL);
        for (int i = 0; i <= CLIENTS; i++)
                c[i] = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c[0], "crowded", NULL), 0);
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++) {
                int r = shmbox_attach(c[i / PER_CLIENT], "crowded", &boxes[i]);
                ck_assert_msg(r == 0, "attachment %u: %s", i + 1, shmbox_strerror(r));
        }
        ck_assert_int_eq(shmbox_info(c[CLIENTS], "crowded", &info), 0);
        ck_assert_uint_eq(info.attached, LAYOUT_ATT_MAX);
        ck_assert_int_eq(shmbox_attach(c[CLIENTS], "crowded", &more), -EMFILE);
        ck_assert_ptr_null(more);
        ck_assert_int_eq(shmbox_attach(c[0], "crowded", &more), -EMFILE);
        /* all of them work: the first sends, the last receives */
        ck_assert_int_eq(shmbox_send(boxes[0], "first", 5, 0), 0);
        ck_assert_int_eq(shmbox_recv(boxes[LAYOUT_ATT_MAX - 1], got, sizeof(got), 0), 5);
        ck_assert_mem_eq(got, "first", 5);
        /* one detach makes room for one more */
        ck_assert_int_eq(shmbox_detach(boxes[100]), 0);
        ck_assert_int_eq(shmbox_attach(c[CLIENTS], "crowded", &boxes[100]), 0);
        ck_assert_int_eq(shmbox_attach(c[CLIENTS], "crowded", &more), -EMFILE);
        ck_assert_int_eq(shmbox_send(boxes[100], "late", 4, 0), 0);
        ck_assert_int_eq(shmbox_recv(boxes[7], got, sizeof(got), 0), 4);

        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++)
                ck_assert_int_eq(shmbox_detach(boxes[i]), 0);
        ck_assert_int_eq(shmbox_info(c[CLIENTS], "crowded", &info), 0);
        ck_assert_uint_eq(info.attached, 0);
        ck_assert_int_eq(shmbox_destroy(c[0], "crowded"), 0);
        for (int i = 0; i <= CLIENTS; i++)
                shmbox_disconnect(c[i]);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_the_257th_attachment_of_one_client_is_emfile) {
        static shmbox *boxes[LAYOUT_ATT_MAX];
        shmbox_client *c, *c2;
        TestDaemon d;
        shmbox *more = NULL;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        c2 = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "half-a", NULL), 0);
        ck_assert_int_eq(shmbox_create(c, "half-b", NULL), 0);
        ck_assert_int_eq(shmbox_create(c, "third", NULL), 0);
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++) {
                int r = shmbox_attach(c, i % 2 ? "half-b" : "half-a", &boxes[i]);
                ck_assert_msg(r == 0, "attachment %u: %s", i + 1, shmbox_strerror(r));
        }
        ck_assert_int_eq(shmbox_attach(c, "third", &more), -EMFILE);
        ck_assert_ptr_null(more);
        /* the limit is the client's, not the mailboxes' */
        ck_assert_int_eq(shmbox_attach(c2, "third", &more), 0);
        ck_assert_int_eq(shmbox_detach(more), 0);
        /* one detach makes room for one more */
        ck_assert_int_eq(shmbox_detach(boxes[0]), 0);
        ck_assert_int_eq(shmbox_attach(c, "third", &boxes[0]), 0);
        ck_assert_int_eq(shmbox_attach(c, "third", &more), -EMFILE);
        shmbox_disconnect(c); /* detaches all 256 */
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++)
                ck_assert_int_eq(shmbox_detach(boxes[i]), 0);
        ck_assert_int_eq(shmbox_destroy(c2, "half-a"), 0);
        ck_assert_int_eq(shmbox_destroy(c2, "half-b"), 0);
        ck_assert_int_eq(shmbox_destroy(c2, "third"), 0);
        shmbox_disconnect(c2);
        harness_daemon_done(&d);
}
END_TEST

/* --- permissions: -EACCES, -EPERM ---------------------------------------------------------- */

static bool running_as_root(void) {
        if (geteuid() == 0)
                return true;
        fprintf(stderr, "\n*** SKIPPED %s: permission tests need root (running as uid %u) ***\n\n", "test-errors",
                (unsigned)geteuid());
        return false;
}

/* Let uid 65534 reach the daemon's socket in the private directory. */
static void open_socket_dir(const TestDaemon *d) {
        ck_assert_int_eq(chmod(d->dir, 0711), 0);
}

typedef struct NobodyArg {
        const char *socket;
        const char *name;
        char op; /* 'a' attach only; 'r' attach + send + recv; 'd' destroy + attach + create own;
                            'p' reload, create in group 0, chmod, each with whether its reason
                            contains want[i] */
        const char *want[3];
        int group;       /* a group to be in, or -1 for none but 65534 */
        bool as_primary; /* @group as the primary gid instead of a supplementary one */
} NobodyArg;

/* HarnessChild: become uid/gid 65534 with no groups, then connect (credentials are taken there). */
static void nobody_main(const void *varg, int wfd) {
        const NobodyArg *a = varg;
        shmbox_client *c;
        shmbox *box;
        char buf[64];
        int64_t r;

        gid_t group = (gid_t)a->group;
        bool supplementary = a->group >= 0 && !a->as_primary;

        if (setgroups(supplementary ? 1 : 0, &group) < 0 ||
            setgid(a->group >= 0 && a->as_primary ? group : NOBODY) < 0 || setuid(NOBODY) < 0) {
                harness_child_report(wfd, -errno - 1000);
                return;
        }
        r = shmbox_connect(a->socket, &c);
        harness_child_report(wfd, r);
        if (r < 0)
                return;
        switch (a->op) {
        case 'a':
                r = shmbox_attach(c, a->name, &box);
                harness_child_report(wfd, r);
                if (r == 0)
                        shmbox_detach(box);
                break;
        case 'r':
                r = shmbox_attach(c, a->name, &box);
                harness_child_report(wfd, r);
                if (r < 0)
                        break;
                harness_child_report(wfd, shmbox_send(box, "from nobody", 11, 0));
                memset(buf, 0, sizeof(buf));
                r = shmbox_recv(box, buf, sizeof(buf), 0);
                harness_child_report(wfd, r);
                if (r > 0) {
                        int64_t head;
                        memcpy(&head, buf, sizeof(head));
                        harness_child_report(wfd, head);
                }
                shmbox_detach(box);
                break;
        case 'p': {
                const struct shmbox_config in_root = { .flags = SHMBOX_CONFIG_GID, .gid = 0 };

                for (int i = 0; i < 3; i++) {
                        r = i == 0   ? shmbox_reload(c)
                            : i == 1 ? shmbox_create(c, "in-root", &in_root)
                                     : shmbox_chmod(c, a->name, 0666, SHMBOX_KEEP);
                        harness_child_report(wfd, r);
                        harness_child_report(wfd, strstr(shmbox_last_error(c), a->want[i]) != NULL);
                }
                break;
        }
        case 'd': {
                struct shmbox_info info;

                harness_child_report(wfd, shmbox_destroy(c, a->name));
                r = shmbox_attach(c, a->name, &box);
                harness_child_report(wfd, r);
                if (r == 0) {
                        harness_child_report(wfd, shmbox_send(box, "hi root", 7, 0));
                        shmbox_detach(box);
                }
                harness_child_report(wfd, shmbox_create(c, "nobodys", NULL));
                r = shmbox_info(c, "nobodys", &info);
                harness_child_report(wfd, r);
                harness_child_report(wfd, r == 0 ? (int64_t)info.uid : -1);
                break;
        }
        }
        shmbox_disconnect(c);
}

static void nobody_start(HarnessChild *ch, const NobodyArg *a) {
        int64_t r;

        *ch = harness_child_spawn(nobody_main, a);
        r = harness_child_read(ch, harness_ms(10000));
        ck_assert_msg(r > -1000, "could not become uid %d: %s", NOBODY, strerror((int)(-r - 1000)));
        ck_assert_msg(r == 0, "uid %d could not connect: %s", NOBODY, shmbox_strerror((int)r));
}

START_TEST(test_attach_with_neither_r_nor_w_is_eacces) {
        const struct shmbox_config cfg = { .slots = 2, .slot_size = 64, .mode = 0600 };
        NobodyArg a;
        TestDaemon d;
        shmbox_client *c;
        HarnessChild ch;

        if (!running_as_root())
                return;
        harness_daemon_start(&d, NULL);
        open_socket_dir(&d);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "private", &cfg), 0);
        a = (NobodyArg){ .socket = d.socket, .name = "private", .op = 'a', .group = -1 };
        nobody_start(&ch, &a);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -EACCES);
        harness_child_reap(&ch);
        /* mode 0660 with a group uid 65534 is not in: still nothing */
        ck_assert_int_eq(shmbox_destroy(c, "private"), 0);
        const struct shmbox_config grp = { .slots = 2, .slot_size = 64, .mode = 0660 };
        ck_assert_int_eq(shmbox_create(c, "private", &grp), 0);
        nobody_start(&ch, &a);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -EACCES);
        harness_child_reap(&ch);
        ck_assert_int_eq(shmbox_destroy(c, "private"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_a_read_only_attachment_cannot_send) {
        const struct shmbox_config cfg = { .slots = 2, .slot_size = 64, .mode = 0604 };
        struct shmbox_info info;
        NobodyArg a;
        TestDaemon d;
        shmbox_client *c;
        shmbox *box;
        int64_t head;
        HarnessChild ch;

        if (!running_as_root())
                return;
        harness_daemon_start(&d, NULL);
        open_socket_dir(&d);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "readable", &cfg), 0);
        ck_assert_int_eq(shmbox_attach(c, "readable", &box), 0);
        ck_assert_int_eq(shmbox_send(box, "for nobody", 10, 0), 0);
        a = (NobodyArg){ .socket = d.socket, .name = "readable", .op = 'r', .group = -1 };
        nobody_start(&ch, &a);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 0);       /* attach */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -EACCES); /* send */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 10);      /* recv */
        head = harness_child_read(&ch, harness_ms(10000));
        ck_assert_mem_eq(&head, "for nobo", 8);
        harness_child_reap(&ch);
        ck_assert_int_eq(shmbox_info(c, "readable", &info), 0);
        ck_assert_uint_eq(info.sent, 1);
        ck_assert_uint_eq(info.received, 1);
        ck_assert_uint_eq(info.queued, 0);
        ck_assert_int_eq(shmbox_detach(box), 0);
        ck_assert_int_eq(shmbox_destroy(c, "readable"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_a_write_only_attachment_cannot_receive) {
        const struct shmbox_config cfg = { .slots = 2, .slot_size = 64, .mode = 0602 };
        NobodyArg a;
        TestDaemon d;
        shmbox_client *c;
        shmbox *box;
        char got[64];
        HarnessChild ch;

        if (!running_as_root())
                return;
        harness_daemon_start(&d, NULL);
        open_socket_dir(&d);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "writable", &cfg), 0);
        ck_assert_int_eq(shmbox_attach(c, "writable", &box), 0);
        a = (NobodyArg){ .socket = d.socket, .name = "writable", .op = 'r', .group = -1 };
        nobody_start(&ch, &a);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 0);       /* attach */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 0);       /* send */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -EACCES); /* recv */
        harness_child_reap(&ch);
        ck_assert_int_eq(shmbox_recv(box, got, sizeof(got), 0), 11);
        ck_assert_mem_eq(got, "from nobody", 11);
        ck_assert_int_eq(shmbox_detach(box), 0);
        ck_assert_int_eq(shmbox_destroy(c, "writable"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_a_member_of_the_mailbox_group_gets_the_group_bits) {
        /* owner rw, group r, others w: only the group class can receive */
        const struct shmbox_config cfg = { .slots = 2, .slot_size = 64, .mode = 0642 };
        NobodyArg a;
        TestDaemon d;
        shmbox_client *c;
        shmbox *box;
        int64_t head;
        HarnessChild ch;

        if (!running_as_root())
                return;
        harness_daemon_start(&d, NULL);
        open_socket_dir(&d);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "grouped", &cfg), 0); /* group: our gid */
        ck_assert_int_eq(shmbox_attach(c, "grouped", &box), 0);

        /* in the group through a supplementary group (SO_PEERGROUPS) */
        ck_assert_int_eq(shmbox_send(box, "for group", 9, 0), 0);
        a = (NobodyArg){ .socket = d.socket, .name = "grouped", .op = 'r', .group = (int)getgid() };
        nobody_start(&ch, &a);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 0);       /* attach */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -EACCES); /* send: group has no w */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 9);       /* recv */
        head = harness_child_read(&ch, harness_ms(10000));
        ck_assert_mem_eq(&head, "for grou", 8);
        harness_child_reap(&ch);

        /* in the group through its primary gid */
        ck_assert_int_eq(shmbox_send(box, "primary", 7, 0), 0);
        a = (NobodyArg){ .socket = d.socket, .name = "grouped", .op = 'r', .group = (int)getgid(), .as_primary = true };
        nobody_start(&ch, &a);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 0);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -EACCES);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 7);
        (void)harness_child_read(&ch, harness_ms(10000));
        harness_child_reap(&ch);

        /* not in the group: the others bits (w only) */
        a = (NobodyArg){ .socket = d.socket, .name = "grouped", .op = 'r', .group = -1 };
        nobody_start(&ch, &a);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 0);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 0);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -EACCES);
        harness_child_reap(&ch);

        ck_assert_int_eq(shmbox_detach(box), 0);
        ck_assert_int_eq(shmbox_destroy(c, "grouped"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_destroy_by_another_uid_is_eperm) {
        const struct shmbox_config cfg = { .slots = 2, .slot_size = 64, .mode = 0666 };
        struct shmbox_info info;
        NobodyArg a;
        TestDaemon d;
        shmbox_client *c;
        shmbox *box;
        char got[64];
        HarnessChild ch;

        if (!running_as_root())
                return;
        harness_daemon_start(&d, NULL);
        open_socket_dir(&d);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "everyones", &cfg), 0);
        a = (NobodyArg){ .socket = d.socket, .name = "everyones", .op = 'd', .group = -1 };
        nobody_start(&ch, &a);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -EPERM); /* destroy */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 0);      /* attach (rw) */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 0);      /* send */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 0);      /* create its own */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 0);      /* info of it */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), NOBODY); /* owned by it */
        harness_child_reap(&ch);

        /* the mailbox is still there with the message */
        ck_assert_int_eq(shmbox_info(c, "everyones", &info), 0);
        ck_assert_uint_eq(info.queued, 1);
        ck_assert_int_eq(shmbox_attach(c, "everyones", &box), 0);
        ck_assert_int_eq(shmbox_recv(box, got, sizeof(got), 0), 7);
        ck_assert_mem_eq(got, "hi root", 7);
        ck_assert_int_eq(shmbox_detach(box), 0);
        /* root may destroy what uid 65534 owns */
        ck_assert_int_eq(shmbox_info(c, "nobodys", &info), 0);
        ck_assert_uint_eq(info.uid, NOBODY);
        ck_assert_uint_eq(info.gid, NOBODY);
        ck_assert_int_eq(shmbox_destroy(c, "nobodys"), 0);
        ck_assert_int_eq(shmbox_destroy(c, "everyones"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

/* issue 14: "operation not permitted (not the owner)" was the library's guess for every -EPERM */
START_TEST(test_reload_group_and_owner_refusals_each_say_their_own_reason) {
        NobodyArg a;
        TestDaemon d;
        shmbox_client *c;
        HarnessChild ch;

        if (!running_as_root())
                return;
        harness_daemon_start(&d, NULL);
        open_socket_dir(&d);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "roots", NULL), 0);
        a = (NobodyArg){ .socket = d.socket,
                         .name = "roots",
                         .op = 'p',
                         .group = -1,
                         .want = { "only root or the daemon's user (uid 0) may reload", "not a member of group 0",
                                   "not the owner (uid 0) or root" } };
        nobody_start(&ch, &a);
        for (int i = 0; i < 3; i++) {
                ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), -EPERM);
                ck_assert_msg(harness_child_read(&ch, harness_ms(10000)) == 1, "reason %d is not \"%s\"", i, a.want[i]);
        }
        harness_child_reap(&ch);
        ck_assert_str_eq(shmbox_strerror(-EPERM), "operation not permitted"); /* no guess at a cause */
        ck_assert_int_eq(shmbox_destroy(c, "roots"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

/* --- protocol versions: reasons only for clients that read them ---------------------------- */

static bool wait_readable(int fd, int ms) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };

        return poll(&pfd, 1, ms) == 1;
}

static int raw_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

static void raw_send(int fd, const WireMsg *m) {
        uint8_t buf[WIRE_HEADER_SIZE + WIRE_REQUEST_MAX];
        int n = wire_encode(buf, sizeof(buf), m);

        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(write(fd, buf, (size_t)n), n);
}

/* Read one whole frame (a request or a reply) into @buf; returns its length. */
static size_t raw_read(int fd, uint8_t *buf, size_t cap, bool reply) {
        size_t got = 0, size = WIRE_HEADER_SIZE;

        while (got < size) {
                ssize_t k;

                ck_assert_msg(wait_readable(fd, harness_ms(10000)), "no frame within 10 s");
                k = read(fd, buf + got, size - got);
                ck_assert_int_gt(k, 0);
                got += (size_t)k;
                if (got == WIRE_HEADER_SIZE)
                        ck_assert_int_eq(wire_frame_size(buf, got, reply, &size), 0);
                ck_assert_uint_le(size, cap);
        }
        return got;
}

START_TEST(test_a_version_1_client_gets_error_replies_with_the_status_alone) {
        const struct shmbox_config huge = { .slots = SHMBOX_SLOTS_MAX, .slot_size = SHMBOX_SLOT_SIZE_MAX };
        uint8_t buf[WIRE_HEADER_SIZE + 512];
        WireMsg m, reply;
        TestDaemon d;
        size_t n;
        int fd;

        harness_daemon_start(&d, NULL);
        for (uint32_t version = 1; version <= 3; version++) {
                fd = raw_connect(d.socket);
                raw_send(fd, &(WireMsg){ .type = WIRE_HELLO, .serial = 1, .version = version });
                n = raw_read(fd, buf, sizeof(buf), true);
                ck_assert_int_eq(wire_decode(buf, n, &reply), 0);
                ck_assert_int_eq(reply.status, 0);
                /* the lower of the two versions: a newer client hears 2 */
                ck_assert_uint_eq(reply.version, version < WIRE_HELLO_VERSION ? version : WIRE_HELLO_VERSION);

                m = (WireMsg){ .type = WIRE_CREATE, .serial = 2, .slots = huge.slots, .slot_size = huge.slot_size };
                strcpy(m.name, "huge");
                raw_send(fd, &m);
                n = raw_read(fd, buf, sizeof(buf), true);
                ck_assert_int_eq(wire_decode(buf, n, &reply), 0);
                ck_assert_int_eq(reply.status, -ENOSPC);
                if (version == 1) {
                        /* what a version-1 decoder accepts: the status, nothing after it */
                        ck_assert_uint_eq(n, WIRE_HEADER_SIZE + 4);
                        ck_assert_str_eq(reply.reason, "");
                } else
                        ck_assert_str_eq(reply.reason, "1099515858944 bytes, above max-mailbox-bytes 1073741824");
                close(fd);
        }
        harness_daemon_done(&d);
}
END_TEST

/* A daemon of protocol version 1, played by a child: it refuses a HELLO of another version
 * with -EPROTO (as those daemons do) and answers every other request -EPERM, reason-less. */
static void old_daemon_main(const void *arg, int wfd) {
        const char *path = arg;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), fd;
        uint8_t buf[WIRE_HEADER_SIZE + WIRE_REQUEST_MAX], out[WIRE_HEADER_SIZE + 512];

        strcpy(sa.sun_path, path);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0)
                return;
        harness_child_report(wfd, 0);
        fd = accept(lfd, NULL, NULL);
        for (;;) {
                WireMsg req, reply;
                size_t size;
                ssize_t k;
                int n;

                k = recv(fd, buf, WIRE_HEADER_SIZE, MSG_WAITALL);
                if (k != WIRE_HEADER_SIZE || wire_frame_size(buf, WIRE_HEADER_SIZE, false, &size) < 0)
                        return;
                if (size > WIRE_HEADER_SIZE && recv(fd, buf + WIRE_HEADER_SIZE, size - WIRE_HEADER_SIZE, MSG_WAITALL) !=
                                                       (ssize_t)(size - WIRE_HEADER_SIZE))
                        return;
                if (wire_decode(buf, size, &req) < 0)
                        return;
                reply = (WireMsg){ .type = req.type | WIRE_REPLY, .serial = req.serial };
                if (req.type == WIRE_HELLO) {
                        harness_child_report(wfd, req.version);
                        if (req.version != 1)
                                reply.status = -EPROTO;
                        reply.version = 1;
                        strcpy(reply.name, "old");
                } else
                        reply.status = -EPERM;
                n = wire_encode(out, sizeof(out), &reply);
                if (n < 0 || write(fd, out, (size_t)n) != n)
                        return;
        }
}

START_TEST(test_a_version_1_daemon_is_greeted_again_with_version_1_and_gives_no_reason) {
        char dir[] = "/tmp/shmbox-old.XXXXXX", path[64];
        shmbox_client *c = NULL;
        HarnessChild ch;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/sock", dir);
        ch = harness_child_spawn(old_daemon_main, path);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 0);
        ck_assert_int_eq(shmbox_connect(path, &c), 0);
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), WIRE_HELLO_VERSION); /* offered */
        ck_assert_int_eq(harness_child_read(&ch, harness_ms(10000)), 1);                  /* then 1 */
        ck_assert_int_eq(shmbox_destroy(c, "anything"), -EPERM);
        ck_assert_str_eq(shmbox_last_error(c), "");
        shmbox_disconnect(c); /* the old daemon ends at the end of its one connection */
        harness_child_reap(&ch);
        unlink(path);
        rmdir(dir);
}
END_TEST

/* --- connecting: -ECONNREFUSED, -ENAMETOOLONG ---------------------------------------------- */

START_TEST(test_connect_where_no_daemon_listens_is_econnrefused) {
        char dir[] = "/tmp/shmbox-errors.XXXXXX", path[100];
        shmbox_client *c = NULL;
        int fd, s;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        /* nothing there */
        snprintf(path, sizeof(path), "%s/none.sock", dir);
        ck_assert_int_eq(shmbox_connect(path, &c), -ECONNREFUSED);
        /* a regular file */
        snprintf(path, sizeof(path), "%s/file", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "not a socket\n", 13), 13);
        close(fd);
        ck_assert_int_eq(shmbox_connect(path, &c), -ECONNREFUSED);
        unlink(path);
        /* a directory that does not exist */
        snprintf(path, sizeof(path), "%s/no/such/dir/sock", dir);
        ck_assert_int_eq(shmbox_connect(path, &c), -ECONNREFUSED);
        /* a directory */
        ck_assert_int_eq(shmbox_connect(dir, &c), -ECONNREFUSED);
        /* a socket left behind by a dead daemon: bound, nobody listening */
        snprintf(path, sizeof(path), "%s/stale.sock", dir);
        s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(s, 0);
        {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                memcpy(sa.sun_path, path, strlen(path) + 1);
                ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
        }
        close(s);
        ck_assert_int_eq(shmbox_connect(path, &c), -ECONNREFUSED);
        unlink(path);
        rmdir(dir);
        ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_a_socket_path_over_107_bytes_is_enametoolong) {
        char path[300];
        shmbox_client *c = NULL;

        /* 108 bytes do not fit sun_path with its NUL */
        snprintf(path, sizeof(path), "/tmp/%s", repeat('s', 103));
        ck_assert_uint_eq(strlen(path), 108);
        ck_assert_int_eq(shmbox_connect(path, &c), -ENAMETOOLONG);
        snprintf(path, sizeof(path), "/tmp/%s", repeat('s', 250));
        ck_assert_int_eq(shmbox_connect(path, &c), -ENAMETOOLONG);
        /* 107 bytes fit: there is just no daemon */
        snprintf(path, sizeof(path), "/tmp/%s", repeat('s', 102));
        ck_assert_uint_eq(strlen(path), 107);
        ck_assert_int_eq(shmbox_connect(path, &c), -ECONNREFUSED);
        ck_assert_ptr_null(c);
}
END_TEST

/* --- the daemon went away: -ENOTCONN ------------------------------------------------------- */

START_TEST(test_control_calls_after_the_daemon_was_killed_are_enotconn) {
        struct shmbox_entry *entries = NULL;
        struct shmbox_info info;
        TestDaemon d;
        shmbox_client *c, *c2 = NULL;
        shmbox *box, *other = NULL;
        char got[16];
        size_t n = 0;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "orphan", NULL), 0);
        ck_assert_int_eq(shmbox_attach(c, "orphan", &box), 0);
        harness_daemon_kill(&d);

        ck_assert_int_eq(shmbox_info(c, "orphan", &info), -ENOTCONN);
        ck_assert_int_eq(shmbox_create(c, "new", NULL), -ENOTCONN);
        ck_assert_int_eq(shmbox_destroy(c, "orphan"), -ENOTCONN);
        ck_assert_int_eq(shmbox_attach(c, "orphan", &other), -ENOTCONN);
        ck_assert_ptr_null(other);
        ck_assert_int_eq(shmbox_list(c, &entries, &n), -ENOTCONN);
        ck_assert_ptr_null(entries);
        ck_assert_int_eq(shmbox_info(c, "orphan", &info), -ENOTCONN); /* and stays so */
        ck_assert_int_eq(shmbox_connect(d.socket, &c2), -ECONNREFUSED);
        /* the data plane goes on */
        ck_assert_int_eq(shmbox_send(box, "still", 5, 0), 0);
        ck_assert_int_eq(shmbox_recv(box, got, sizeof(got), 0), 5);
        ck_assert_int_eq(shmbox_detach(box), 0); /* -ENOTCONN is not reported */
        shmbox_disconnect(c);

        /* clean up through a new daemon */
        harness_daemon_restart(&d);
        c2 = harness_connect(&d);
        ck_assert_int_eq(shmbox_destroy(c2, "orphan"), 0);
        shmbox_disconnect(c2);
        harness_daemon_done(&d);
}
END_TEST

/* --- corrupt shared memory: -EBADMSG, -EPROTO ---------------------------------------------- */

/* A scribbled tail: senders are told (EBADMSG), receivers go by the slot words and deliver what
 * was committed (they never read tail), then report a scribbled head. */
START_TEST(test_a_ring_with_tail_past_head_plus_slots_refuses_sends_and_still_delivers) {
        const struct shmbox_config cfg = { .slots = 4, .slot_size = 64 };
        struct shmbox_entry *entries;
        struct shmbox_info info;
        MboxHeader *h;
        TestDaemon d;
        shmbox_client *c;
        shmbox *box;
        char got[64];
        size_t n;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "scribbled", &cfg), 0);
        ck_assert_int_eq(shmbox_attach(c, "scribbled", &box), 0);
        ck_assert_int_eq(shmbox_send(box, "m", 1, 0), 0);
        h = header_map_rw(&d, "scribbled");
        atomic_store(&h->tail, atomic_load(&h->head) + cfg.slots + 1);

        ck_assert_int_eq(shmbox_send(box, "n", 1, 0), -EBADMSG);
        ck_assert_int_eq(shmbox_send(box, "n", 1, -1), -EBADMSG);
        ck_assert_int_eq(shmbox_recv(box, got, sizeof(got), 0), 1);
        ck_assert_int_eq(got[0], 'm');
        ck_assert_int_eq(shmbox_recv(box, got, sizeof(got), 0), -EAGAIN);
        atomic_store(&h->head, atomic_load(&h->head) + cfg.slots + 2); /* among words of another lap */
        ck_assert_int_eq(shmbox_recv(box, got, sizeof(got), 0), -EBADMSG);
        ck_assert_int_eq(shmbox_recv(box, got, sizeof(got), -1), -EBADMSG);
        ck_assert_int_eq(shmbox_recv(box, NULL, 0, 100), -EBADMSG);

        /* the daemon reads the same header: it stays up, and other mailboxes work */
        ck_assert_int_eq(shmbox_info(c, "scribbled", &info), 0);
        ck_assert_int_eq(shmbox_list(c, &entries, &n), 0);
        ck_assert_uint_eq(n, 1);
        free(entries);
        assert_daemon_serves(&d);

        /* destroying the corrupt one works and takes all its objects */
        ck_assert_int_eq(shmbox_destroy(c, "scribbled"), 0);
        ck_assert_int_eq(shmbox_recv(box, got, sizeof(got), 0), -EIDRM);
        munmap(h, LAYOUT_HEADER_SIZE);
        ck_assert_int_eq(shmbox_detach(box), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_send_on_a_ring_with_tail_past_head_plus_slots_is_ebadmsg) {
        const struct shmbox_config cfg = { .slots = 4, .slot_size = 64 };
        MboxHeader *h;
        TestDaemon d;
        shmbox_client *c;
        shmbox *box;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "scribbled", &cfg), 0);
        ck_assert_int_eq(shmbox_attach(c, "scribbled", &box), 0);
        h = header_map_rw(&d, "scribbled");
        atomic_store(&h->tail, atomic_load(&h->head) + cfg.slots + 1);

        /* a corrupt ring is not a full one: no -EAGAIN, no waiting for space that never comes */
        ck_assert_int_eq(shmbox_send(box, "m", 1, 0), -EBADMSG);
        ck_assert_int_eq(shmbox_send(box, "m", 1, harness_ms(2000)), -EBADMSG);

        ck_assert_int_eq(shmbox_destroy(c, "scribbled"), 0);
        munmap(h, LAYOUT_HEADER_SIZE);
        ck_assert_int_eq(shmbox_detach(box), 0);
        assert_daemon_serves(&d);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_attach_to_a_header_with_a_wrong_checksum_is_ebadmsg) {
        MboxHeader *h;
        TestDaemon d;
        shmbox_client *c;
        shmbox *box = NULL;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "bad-sum", NULL), 0);
        h = header_map_rw(&d, "bad-sum");
        h->slots = 2; /* an immutable field, without fixing the checksum */
        ck_assert_int_eq(shmbox_attach(c, "bad-sum", &box), -EBADMSG);
        ck_assert_ptr_null(box);
        h->slots = 64;
        h->checksum ^= 1;
        ck_assert_int_eq(shmbox_attach(c, "bad-sum", &box), -EBADMSG);
        munmap(h, LAYOUT_HEADER_SIZE);
        assert_daemon_serves(&d);
        ck_assert_int_eq(shmbox_destroy(c, "bad-sum"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_attach_to_another_layout_version_or_magic_is_eproto) {
        MboxHeader *h;
        TestDaemon d;
        shmbox_client *c;
        shmbox *box = NULL;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "future", NULL), 0);
        h = header_map_rw(&d, "future");
        h->version = LAYOUT_VERSION_BCAST + 1;
        h->checksum = layout_checksum(h); /* a consistent header of another version */
        ck_assert_int_eq(shmbox_attach(c, "future", &box), -EPROTO);
        ck_assert_ptr_null(box);
        h->version = LAYOUT_VERSION;
        h->magic = ~LAYOUT_MAGIC;
        h->checksum = layout_checksum(h);
        ck_assert_int_eq(shmbox_attach(c, "future", &box), -EPROTO);
        munmap(h, LAYOUT_HEADER_SIZE);
        assert_daemon_serves(&d);
        ck_assert_int_eq(shmbox_destroy(c, "future"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_a_truncated_segment_is_ebadmsg_and_the_daemon_survives_it) {
        const struct shmbox_config cfg = { .slots = 4, .slot_size = 4096 };
        char path[NAMES_OBJECT_MAX];
        struct shmbox_entry *entries;
        struct shmbox_info info;
        TestDaemon d;
        shmbox_client *c;
        shmbox *box = NULL;
        size_t n;
        int fd;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "cut", &cfg), 0);
        ck_assert_int_ge(names_segment(path, sizeof(path), d.prefix, "cut"), 0);
        fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);

        /* the slots are gone, the header is still there */
        ck_assert_int_eq(ftruncate(fd, LAYOUT_HEADER_SIZE), 0);
        ck_assert_int_eq(shmbox_attach(c, "cut", &box), -EBADMSG);
        ck_assert_ptr_null(box);
        ck_assert_int_eq(shmbox_info(c, "cut", &info), 0);
        /* nothing is left at all */
        ck_assert_int_eq(ftruncate(fd, 0), 0);
        close(fd);
        ck_assert_int_eq(shmbox_attach(c, "cut", &box), -EBADMSG);
        ck_assert_int_eq(shmbox_info(c, "cut", &info), 0);
        ck_assert_int_eq(shmbox_list(c, &entries, &n), 0);
        ck_assert_uint_eq(n, 1);
        free(entries);
        assert_daemon_serves(&d);
        /* destroy touches the header (DESTROYED): it must not take the daemon down */
        ck_assert_int_eq(shmbox_destroy(c, "cut"), 0);
        assert_daemon_serves(&d);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

/* --- one daemon per prefix and per socket -------------------------------------------------- */

/* Run shmboxd with @argv[1..] and capture its stderr; returns its wait status (-1: it did not
 * exit within the deadline and was killed). */
static int run_daemon(const char *const *args, char *out, size_t size) {
        const char *bin = getenv("SHMBOXD");
        const char *argv[16];
        size_t len = 0;
        int p[2], n = 0;
        int64_t deadline;
        pid_t pid;

        ck_assert_msg(bin && *bin, "SHMBOXD is not set");
        argv[n++] = bin;
        for (int i = 0; args[i] && n < 15; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                dup2(p[1], STDERR_FILENO);
                dup2(p[1], STDOUT_FILENO);
                execv(bin, (char **)argv);
                _exit(127);
        }
        close(p[1]);
        deadline = harness_now_us() + (int64_t)harness_ms(10000) * 1000;
        for (;;) {
                struct pollfd pfd = { .fd = p[0], .events = POLLIN };
                int64_t left = (deadline - harness_now_us()) / 1000;
                ssize_t k;

                if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
                        break;
                k = read(p[0], out + len, size - 1 - len);
                if (k <= 0)
                        break;
                len += (size_t)k;
                if (len == size - 1)
                        break;
        }
        out[len] = 0;
        close(p[0]);
        return harness_wait_exit(pid, harness_ms(5000));
}

START_TEST(test_a_second_daemon_on_the_same_prefix_refuses_to_start) {
        char sock[160], state[160], out[8192];
        struct shmbox_info info;
        TestDaemon d;
        shmbox_client *c;
        int status;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "first", NULL), 0);

        snprintf(sock, sizeof(sock), "%s/second.sock", d.dir);
        snprintf(state, sizeof(state), "%s/second-state", d.dir);
        const char *const args[] = { "--socket", sock, "--prefix", d.prefix, "--state-dir", state, NULL };
        status = run_daemon(args, out, sizeof(out));
        ck_assert_msg(status != -1, "a second daemon on prefix %s kept running", d.prefix);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0,
                      "a second daemon on prefix %s ended with status 0x%x", d.prefix, status);
        ck_assert_msg(strstr(out, d.prefix), "its message does not name the prefix: %s", out);
        printf("errors: second daemon on the same prefix: exit %d: %s", WEXITSTATUS(status), out);
        ck_assert_int_ne(access(sock, F_OK), 0);

        /* the first one is untouched */
        ck_assert_int_eq(shmbox_info(c, "first", &info), 0);
        assert_daemon_serves(&d);
        ck_assert_int_eq(shmbox_destroy(c, "first"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

START_TEST(test_a_second_daemon_on_the_same_socket_refuses_to_start) {
        char prefix[40], state[160], out[8192];
        struct shmbox_info info;
        TestDaemon d;
        shmbox_client *c;
        int status;

        harness_daemon_start(&d, NULL);
        c = harness_connect(&d);
        ck_assert_int_eq(shmbox_create(c, "first", NULL), 0);

        /* starts with the suite's stem, so that a failed run is swept */
        snprintf(prefix, sizeof(prefix), "%s_%d_sock", harness_stem(), (int)getpid() % 100000);
        ck_assert(names_prefix_valid(prefix));
        snprintf(state, sizeof(state), "%s/second-state", d.dir);
        const char *const args[] = { "--socket", d.socket, "--prefix", prefix, "--state-dir", state, NULL };
        status = run_daemon(args, out, sizeof(out));
        ck_assert_msg(status != -1, "a second daemon on socket %s kept running", d.socket);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0,
                      "a second daemon on socket %s ended with status 0x%x", d.socket, status);
        ck_assert_msg(strstr(out, d.socket), "its message does not name the socket: %s", out);
        printf("errors: second daemon on the same socket: exit %d: %s", WEXITSTATUS(status), out);
        ck_assert_msg(harness_count_objects(prefix) == 0, "the refused daemon left objects of %s", prefix);

        /* the socket still leads to the first daemon */
        ck_assert_int_eq(shmbox_info(c, "first", &info), 0);
        assert_daemon_serves(&d);
        ck_assert_int_eq(shmbox_destroy(c, "first"), 0);
        shmbox_disconnect(c);
        harness_daemon_done(&d);
}
END_TEST

/* --- the daemon's log on a terminal ---------------------------------------------------------- */

/*
 * Run shmboxd with a config file that does not parse, so that it logs one error and exits, with
 * stderr on a terminal (@tty) or a pipe; return what it wrote to stderr.
 */
static void daemon_error_line(bool tty, char *out, size_t size) {
        char dir[] = "/tmp/shmbox-log.XXXXXX", conf[64], sock[64];
        const char *bin = getenv("SHMBOXD");
        size_t len = 0;
        int master = -1, p[2] = { -1, -1 }, rfd, wfd, status;
        pid_t pid;
        FILE *f;

        ck_assert_ptr_nonnull(bin);
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(conf, sizeof(conf), "%s/bad.conf", dir);
        snprintf(sock, sizeof(sock), "%s/sock", dir);
        f = fopen(conf, "w");
        ck_assert_ptr_nonnull(f);
        fputs("[limits]\nno-such-key = 1\n", f);
        ck_assert_int_eq(fclose(f), 0);
        if (tty) {
                master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
                ck_assert_int_ge(master, 0);
                ck_assert_int_eq(grantpt(master), 0);
                ck_assert_int_eq(unlockpt(master), 0);
                wfd = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
                rfd = master;
        } else {
                ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
                rfd = p[0];
                wfd = p[1];
        }
        ck_assert_int_ge(wfd, 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                unsetenv("JOURNAL_STREAM");
                if (dup2(wfd, STDERR_FILENO) < 0)
                        _exit(125);
                execl(bin, bin, "--socket", sock, "--state-dir", dir, "--prefix", "shmboxlogtty", "--config", conf,
                      (char *)NULL);
                _exit(127);
        }
        close(wfd);
        while (len + 1 < size && wait_readable(rfd, harness_ms(10000))) {
                ssize_t k = read(rfd, out + len, size - 1 - len);

                if (k <= 0) /* EOF, or EIO on a terminal whose other side closed */
                        break;
                len += (size_t)k;
        }
        out[len] = '\0';
        status = harness_wait_exit(pid, harness_ms(10000));
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "shmboxd status 0x%x", status);
        close(rfd);
        unlink(conf);
        rmdir(dir);
}

/* issue 14: "<3>" prefixes are for journald and files, not for people at a terminal */
START_TEST(test_the_daemon_logs_priority_prefixes_only_when_stderr_is_not_a_terminal) {
        char out[2048];

        daemon_error_line(false, out, sizeof(out));
        ck_assert_msg(strncmp(out, "<3>config file ", 15) == 0, "on a pipe: %s", out);
        daemon_error_line(true, out, sizeof(out));
        ck_assert_msg(strncmp(out, "config file ", 12) == 0, "on a terminal: %s", out);
        ck_assert_ptr_null(strstr(out, "<3>"));
}
END_TEST

static TCase *tcase_e2e(Suite *s, const char *name) {
        return harness_tcase(s, name, TIMEOUT_S, NULL, NULL);
}

static Suite *errors_suite(void) {
        Suite *s = suite_create("errors");
        TCase *tc;

        tc = tcase_e2e(s, "invalid arguments");
        tcase_add_test(tc, test_bad_names_are_einval_for_every_call);
        tcase_add_test(tc, test_bad_geometry_mode_and_reserved_words_are_einval);
        tcase_add_test(tc, test_null_pointers_are_einval);

        tc = tcase_e2e(s, "names that exist or do not");
        tcase_add_test(tc, test_create_of_an_existing_name_is_eexist_and_changes_nothing);
        tcase_add_test(tc, test_destroy_attach_and_info_of_an_unknown_name_are_enoent);

        tc = tcase_e2e(s, "limits");
        tcase_add_test(tc, test_a_mailbox_above_the_daemon_cap_is_enospc);
        tcase_add_test(tc, test_the_largest_geometry_is_enospc_under_the_default_cap);
        tcase_add_test(tc, test_a_refusal_carries_the_daemons_reason_and_a_success_clears_it);
        tcase_add_test(tc, test_send_longer_than_slot_size_is_emsgsize);
        tcase_add_test(tc, test_the_257th_attachment_to_one_mailbox_is_emfile);
        tcase_add_test(tc, test_the_257th_attachment_of_one_client_is_emfile);

        tc = tcase_e2e(s, "permissions");
        tcase_add_test(tc, test_attach_with_neither_r_nor_w_is_eacces);
        tcase_add_test(tc, test_a_read_only_attachment_cannot_send);
        tcase_add_test(tc, test_a_write_only_attachment_cannot_receive);
        tcase_add_test(tc, test_a_member_of_the_mailbox_group_gets_the_group_bits);
        tcase_add_test(tc, test_destroy_by_another_uid_is_eperm);
        tcase_add_test(tc, test_reload_group_and_owner_refusals_each_say_their_own_reason);

        tc = tcase_e2e(s, "protocol versions");
        tcase_add_test(tc, test_a_version_1_client_gets_error_replies_with_the_status_alone);
        tcase_add_test(tc, test_a_version_1_daemon_is_greeted_again_with_version_1_and_gives_no_reason);

        tc = tcase_e2e(s, "connecting");
        tcase_add_test(tc, test_connect_where_no_daemon_listens_is_econnrefused);
        tcase_add_test(tc, test_a_socket_path_over_107_bytes_is_enametoolong);

        tc = tcase_e2e(s, "daemon gone");
        tcase_add_test(tc, test_control_calls_after_the_daemon_was_killed_are_enotconn);

        tc = tcase_e2e(s, "corrupt shared memory");
        tcase_add_test(tc, test_a_ring_with_tail_past_head_plus_slots_refuses_sends_and_still_delivers);
        tcase_add_test(tc, test_send_on_a_ring_with_tail_past_head_plus_slots_is_ebadmsg);
        tcase_add_test(tc, test_attach_to_a_header_with_a_wrong_checksum_is_ebadmsg);
        tcase_add_test(tc, test_attach_to_another_layout_version_or_magic_is_eproto);
        tcase_add_test(tc, test_a_truncated_segment_is_ebadmsg_and_the_daemon_survives_it);

        tc = tcase_e2e(s, "the daemon's log");
        tcase_add_test(tc, test_the_daemon_logs_priority_prefixes_only_when_stderr_is_not_a_terminal);

        tc = tcase_e2e(s, "one daemon per prefix and socket");
        tcase_add_test(tc, test_a_second_daemon_on_the_same_prefix_refuses_to_start);
        tcase_add_test(tc, test_a_second_daemon_on_the_same_socket_refuses_to_start);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(errors_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed != 0;
}
