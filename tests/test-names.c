/* SPDX-License-Identifier: MIT */
/* test-names.c — unit tests for proto/names: the rules for prefixes and names, object names. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/names.h"

/* A string of @n copies of @c in a static buffer (n <= 255). */
static const char *repeat(char c, size_t n) {
        static char buf[256];

        ck_assert_uint_lt(n, sizeof(buf));
        memset(buf, c, n);
        buf[n] = 0;
        return buf;
}

/* --- prefix rules -------------------------------------------------------------------------- */

START_TEST(test_a_prefix_of_letters_digits_dash_and_underscore_is_valid) {
        ck_assert(names_prefix_valid("shmbox"));
        ck_assert(names_prefix_valid("a"));
        ck_assert(names_prefix_valid("Z"));
        ck_assert(names_prefix_valid("0"));
        ck_assert(names_prefix_valid("_"));
        ck_assert(names_prefix_valid("-"));
        ck_assert(names_prefix_valid("test_Prefix-09"));
        ck_assert(names_prefix_valid("abcdefghijklmnopqrstuvwxyz"));
        ck_assert(names_prefix_valid("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
        ck_assert(names_prefix_valid("0123456789_-"));
}
END_TEST

START_TEST(test_a_prefix_of_32_characters_is_valid_and_of_33_is_not) {
        ck_assert(names_prefix_valid(repeat('p', NAMES_PREFIX_MAX)));
        ck_assert(!names_prefix_valid(repeat('p', NAMES_PREFIX_MAX + 1)));
        ck_assert(!names_prefix_valid(repeat('p', 200)));
}
END_TEST

START_TEST(test_an_empty_or_null_prefix_is_invalid) {
        ck_assert(!names_prefix_valid(""));
        ck_assert(!names_prefix_valid(NULL));
}
END_TEST

START_TEST(test_a_prefix_with_a_dot_is_invalid) {
        ck_assert(!names_prefix_valid("."));
        ck_assert(!names_prefix_valid(".."));
        ck_assert(!names_prefix_valid("a.b"));
        ck_assert(!names_prefix_valid(".shmbox"));
        ck_assert(!names_prefix_valid("shmbox."));
}
END_TEST

START_TEST(test_the_prefix_sem_is_refused_but_lookalikes_are_not) {
        ck_assert(!names_prefix_valid("sem"));
        /* only the exact name collides with "sem.<...>" in /dev/shm */
        ck_assert(names_prefix_valid("Sem"));
        ck_assert(names_prefix_valid("SEM"));
        ck_assert(names_prefix_valid("sems"));
        ck_assert(names_prefix_valid("se"));
        ck_assert(names_prefix_valid("sem_"));
        ck_assert(names_prefix_valid("xsem"));
}
END_TEST

START_TEST(test_a_prefix_with_a_slash_space_or_control_byte_is_invalid) {
        ck_assert(!names_prefix_valid("/"));
        ck_assert(!names_prefix_valid("a/b"));
        ck_assert(!names_prefix_valid("/shmbox"));
        ck_assert(!names_prefix_valid(" "));
        ck_assert(!names_prefix_valid("a b"));
        ck_assert(!names_prefix_valid("ab "));
        ck_assert(!names_prefix_valid("a\tb"));
        ck_assert(!names_prefix_valid("a\nb"));
        ck_assert(!names_prefix_valid("a\x7f"));
        ck_assert(!names_prefix_valid("a:b"));
        ck_assert(!names_prefix_valid("a*"));
}
END_TEST

START_TEST(test_a_prefix_with_a_non_ascii_byte_is_invalid) {
        ck_assert(!names_prefix_valid("caf\xc3\xa9"));
        ck_assert(!names_prefix_valid("\x80"));
        ck_assert(!names_prefix_valid("a\xff"));
        ck_assert(!names_prefix_valid("\xe2\x80\x8b"
                                      "a")); /* zero-width space */
}
END_TEST

START_TEST(test_every_byte_outside_the_prefix_alphabet_is_refused) {
        for (int c = 1; c < 256; c++) {
                char s[4] = { 'a', (char)c, 'b', 0 };
                bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                               c == '-';

                ck_assert_msg(names_prefix_valid(s) == allowed, "byte 0x%02x", c);
        }
}
END_TEST

/* --- mailbox name rules -------------------------------------------------------------------- */

START_TEST(test_a_mailbox_name_of_letters_digits_dot_dash_and_underscore_is_valid) {
        ck_assert(names_mailbox_valid("orders"));
        ck_assert(names_mailbox_valid("a"));
        ck_assert(names_mailbox_valid("0"));
        ck_assert(names_mailbox_valid("_"));
        ck_assert(names_mailbox_valid("-"));
        ck_assert(names_mailbox_valid("a.b"));
        ck_assert(names_mailbox_valid("a."));
        ck_assert(names_mailbox_valid("a.."));
        ck_assert(names_mailbox_valid("orders.eu-west_1.v2"));
}
END_TEST

START_TEST(test_a_mailbox_name_of_64_characters_is_valid_and_of_65_is_not) {
        ck_assert(names_mailbox_valid(repeat('n', NAMES_NAME_MAX)));
        ck_assert(!names_mailbox_valid(repeat('n', NAMES_NAME_MAX + 1)));
        ck_assert(!names_mailbox_valid(repeat('n', 200)));
}
END_TEST

START_TEST(test_an_empty_or_null_mailbox_name_is_invalid) {
        ck_assert(!names_mailbox_valid(""));
        ck_assert(!names_mailbox_valid(NULL));
}
END_TEST

START_TEST(test_a_mailbox_name_starting_with_a_dot_is_invalid) {
        ck_assert(!names_mailbox_valid("."));
        ck_assert(!names_mailbox_valid(".."));
        ck_assert(!names_mailbox_valid(".hidden"));
        ck_assert(!names_mailbox_valid(".tmp.x"));
        ck_assert(!names_mailbox_valid(".lock"));
}
END_TEST

START_TEST(test_a_mailbox_name_with_a_slash_is_invalid) {
        ck_assert(!names_mailbox_valid("/"));
        ck_assert(!names_mailbox_valid("/orders"));
        ck_assert(!names_mailbox_valid("a/b"));
        ck_assert(!names_mailbox_valid("../x"));
        ck_assert(!names_mailbox_valid("a/"));
}
END_TEST

START_TEST(test_a_mailbox_name_with_a_space_is_invalid) {
        ck_assert(!names_mailbox_valid(" "));
        ck_assert(!names_mailbox_valid(" a"));
        ck_assert(!names_mailbox_valid("a "));
        ck_assert(!names_mailbox_valid("a b"));
        ck_assert(!names_mailbox_valid("a\tb"));
        ck_assert(!names_mailbox_valid("a\nb"));
}
END_TEST

START_TEST(test_a_mailbox_name_with_a_non_ascii_byte_is_invalid) {
        ck_assert(!names_mailbox_valid("caf\xc3\xa9"));
        ck_assert(!names_mailbox_valid("\x80"));
        ck_assert(!names_mailbox_valid("a\xff"));
        ck_assert(!names_mailbox_valid("\xc2\xa0")); /* no-break space */
        ck_assert(!names_mailbox_valid("a\xe2\x80\x8b"));
}
END_TEST

START_TEST(test_every_byte_outside_the_mailbox_alphabet_is_refused) {
        for (int c = 1; c < 256; c++) {
                char s[4] = { 'a', (char)c, 'b', 0 };
                bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                               c == '-' || c == '.';

                ck_assert_msg(names_mailbox_valid(s) == allowed, "byte 0x%02x", c);
        }
}
END_TEST

START_TEST(test_mailbox_names_are_case_sensitive) {
        char lower[NAMES_OBJECT_MAX], upper[NAMES_OBJECT_MAX];

        ck_assert(names_mailbox_valid("Orders"));
        ck_assert(names_mailbox_valid("orders"));
        ck_assert_int_eq(names_segment(lower, sizeof(lower), "shmbox", "orders"), 0);
        ck_assert_int_eq(names_segment(upper, sizeof(upper), "shmbox", "Orders"), 0);
        ck_assert_str_ne(lower, upper);
        ck_assert_str_eq(upper, "/shmbox.Orders");
}
END_TEST

/* --- object names -------------------------------------------------------------------------- */

START_TEST(test_the_segment_name_is_slash_prefix_dot_name) {
        char buf[NAMES_OBJECT_MAX];

        ck_assert_int_eq(names_segment(buf, sizeof(buf), "shmbox", "orders"), 0);
        ck_assert_str_eq(buf, "/shmbox.orders");
        ck_assert_int_eq(names_segment(buf, sizeof(buf), "t-1", "a.b"), 0);
        ck_assert_str_eq(buf, "/t-1.a.b");
}
END_TEST

START_TEST(test_the_temporary_segment_name_carries_a_double_dot_and_the_generation_in_hex) {
        char buf[NAMES_OBJECT_MAX];

        ck_assert_int_eq(names_segment_tmp(buf, sizeof(buf), "shmbox", "orders", 0x1234), 0);
        ck_assert_str_eq(buf, "/shmbox..tmp.orders.0000000000001234");
        ck_assert_int_eq(names_segment_tmp(buf, sizeof(buf), "p", "n", UINT64_MAX), 0);
        ck_assert_str_eq(buf, "/p..tmp.n.ffffffffffffffff");
        ck_assert_int_eq(names_segment_tmp(buf, sizeof(buf), "p", "n", 0), 0);
        ck_assert_str_eq(buf, "/p..tmp.n.0000000000000000");
}
END_TEST

START_TEST(test_the_semaphore_names_carry_role_and_generation) {
        char buf[NAMES_OBJECT_MAX];

        ck_assert_int_eq(names_semaphore(buf, sizeof(buf), "shmbox", "orders", SEM_LOCK, 1), 0);
        ck_assert_str_eq(buf, "/shmbox.orders.lock.0000000000000001");
        ck_assert_int_eq(names_semaphore(buf, sizeof(buf), "shmbox", "orders", SEM_ITEMS, 0xabcdef), 0);
        ck_assert_str_eq(buf, "/shmbox.orders.items.0000000000abcdef");
        ck_assert_int_eq(names_semaphore(buf, sizeof(buf), "shmbox", "orders", SEM_SPACE, UINT64_C(0xfedcba9876543210)),
                         0);
        ck_assert_str_eq(buf, "/shmbox.orders.space.fedcba9876543210");
}
END_TEST

START_TEST(test_the_lock_file_lives_in_dev_shm_beside_the_objects) {
        char buf[NAMES_OBJECT_MAX];

        ck_assert_int_eq(names_lockfile(buf, sizeof(buf), "shmbox"), 0);
        ck_assert_str_eq(buf, "/dev/shm/shmbox..lock");
        ck_assert_int_eq(names_lockfile(buf, sizeof(buf), "x"), 0);
        ck_assert_str_eq(buf, SHM_DIR "/x..lock");
}
END_TEST

START_TEST(test_the_role_strings_are_lock_items_and_space) {
        ck_assert_str_eq(names_role_str(SEM_LOCK), "lock");
        ck_assert_str_eq(names_role_str(SEM_ITEMS), "items");
        ck_assert_str_eq(names_role_str(SEM_SPACE), "space");
        ck_assert_ptr_null(names_role_str(_SEM_ROLE_MAX));
        ck_assert_ptr_null(names_role_str((SemRole)-1));
        ck_assert_ptr_null(names_role_str((SemRole)1000));
}
END_TEST

START_TEST(test_an_unknown_semaphore_role_is_einval) {
        char buf[NAMES_OBJECT_MAX];

        ck_assert_int_eq(names_semaphore(buf, sizeof(buf), "p", "n", _SEM_ROLE_MAX, 1), -EINVAL);
        ck_assert_int_eq(names_semaphore(buf, sizeof(buf), "p", "n", (SemRole)-1, 1), -EINVAL);
}
END_TEST

START_TEST(test_an_invalid_prefix_or_name_is_einval_for_every_object) {
        static const char *const bad_prefixes[] = { "", "sem", "a.b", "a/b", "a b", "caf\xc3\xa9", NULL };
        static const char *const bad_names[] = { "", ".", "..", ".x", "/", "a/b", "a b", "\xff", NULL };
        char buf[NAMES_OBJECT_MAX];

        for (size_t i = 0; i < sizeof(bad_prefixes) / sizeof(bad_prefixes[0]); i++) {
                const char *p = bad_prefixes[i];

                ck_assert_int_eq(names_segment(buf, sizeof(buf), p, "n"), -EINVAL);
                ck_assert_int_eq(names_segment_tmp(buf, sizeof(buf), p, "n", 1), -EINVAL);
                ck_assert_int_eq(names_semaphore(buf, sizeof(buf), p, "n", SEM_LOCK, 1), -EINVAL);
                ck_assert_int_eq(names_lockfile(buf, sizeof(buf), p), -EINVAL);
        }
        ck_assert_int_eq(names_segment(buf, sizeof(buf), repeat('p', 33), "n"), -EINVAL);
        for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
                const char *n = bad_names[i];

                ck_assert_int_eq(names_segment(buf, sizeof(buf), "p", n), -EINVAL);
                ck_assert_int_eq(names_segment_tmp(buf, sizeof(buf), "p", n, 1), -EINVAL);
                ck_assert_int_eq(names_semaphore(buf, sizeof(buf), "p", n, SEM_ITEMS, 1), -EINVAL);
        }
        ck_assert_int_eq(names_segment(buf, sizeof(buf), "p", repeat('n', 65)), -EINVAL);
}
END_TEST

START_TEST(test_the_longest_names_fit_in_names_object_max) {
        char prefix[NAMES_PREFIX_MAX + 1], name[NAMES_NAME_MAX + 1], buf[NAMES_OBJECT_MAX];

        strcpy(prefix, repeat('P', NAMES_PREFIX_MAX));
        strcpy(name, repeat('N', NAMES_NAME_MAX));
        ck_assert_int_eq(names_segment(buf, sizeof(buf), prefix, name), 0);
        ck_assert_uint_eq(strlen(buf), 1 + 32 + 1 + 64);
        ck_assert_int_eq(names_segment_tmp(buf, sizeof(buf), prefix, name, UINT64_MAX), 0);
        ck_assert_int_eq(names_lockfile(buf, sizeof(buf), prefix), 0);
        for (SemRole role = 0; role < _SEM_ROLE_MAX; role++)
                ck_assert_int_eq(names_semaphore(buf, sizeof(buf), prefix, name, role, UINT64_MAX), 0);
}
END_TEST

/* --- short buffers -------------------------------------------------------------------------- */

enum {
        OBJ_SEGMENT,
        OBJ_SEGMENT_TMP,
        OBJ_SEM_LOCK,
        OBJ_SEM_ITEMS,
        OBJ_SEM_SPACE,
        OBJ_LOCKFILE,
        _OBJ_MAX,
};

static int make_object(int which, char *buf, size_t size) {
        switch (which) {
        case OBJ_SEGMENT: return names_segment(buf, size, "shmbox", "orders");
        case OBJ_SEGMENT_TMP: return names_segment_tmp(buf, size, "shmbox", "orders", 42);
        case OBJ_SEM_LOCK: return names_semaphore(buf, size, "shmbox", "orders", SEM_LOCK, 42);
        case OBJ_SEM_ITEMS: return names_semaphore(buf, size, "shmbox", "orders", SEM_ITEMS, 42);
        case OBJ_SEM_SPACE: return names_semaphore(buf, size, "shmbox", "orders", SEM_SPACE, 42);
        case OBJ_LOCKFILE: return names_lockfile(buf, size, "shmbox");
        }
        ck_abort();
        return 0;
}

/* Loop test over the object kinds: every buffer shorter than the name plus its NUL. */
START_TEST(test_a_buffer_one_byte_short_or_shorter_is_enametoolong) {
        char full[NAMES_OBJECT_MAX], buf[NAMES_OBJECT_MAX + 16];
        size_t n;

        ck_assert_int_eq(make_object(_i, full, sizeof(full)), 0);
        n = strlen(full);
        ck_assert_uint_gt(n, 0);
        for (size_t size = 0; size <= n; size++) {
                memset(buf, 'X', sizeof(buf));
                ck_assert_int_eq(make_object(_i, buf, size), -ENAMETOOLONG);
                /* nothing is written past the given size */
                for (size_t k = size; k < sizeof(buf); k++)
                        ck_assert_int_eq(buf[k], 'X');
        }
        ck_assert_int_eq(make_object(_i, buf, n + 1), 0);
        ck_assert_str_eq(buf, full);
}
END_TEST

static Suite *names_suite(void) {
        Suite *s = suite_create("names");
        TCase *tc;

        tc = tcase_create("prefix rules");
        tcase_set_timeout(tc, 10);
        tcase_add_test(tc, test_a_prefix_of_letters_digits_dash_and_underscore_is_valid);
        tcase_add_test(tc, test_a_prefix_of_32_characters_is_valid_and_of_33_is_not);
        tcase_add_test(tc, test_an_empty_or_null_prefix_is_invalid);
        tcase_add_test(tc, test_a_prefix_with_a_dot_is_invalid);
        tcase_add_test(tc, test_the_prefix_sem_is_refused_but_lookalikes_are_not);
        tcase_add_test(tc, test_a_prefix_with_a_slash_space_or_control_byte_is_invalid);
        tcase_add_test(tc, test_a_prefix_with_a_non_ascii_byte_is_invalid);
        tcase_add_test(tc, test_every_byte_outside_the_prefix_alphabet_is_refused);
        suite_add_tcase(s, tc);

        tc = tcase_create("mailbox name rules");
        tcase_set_timeout(tc, 10);
        tcase_add_test(tc, test_a_mailbox_name_of_letters_digits_dot_dash_and_underscore_is_valid);
        tcase_add_test(tc, test_a_mailbox_name_of_64_characters_is_valid_and_of_65_is_not);
        tcase_add_test(tc, test_an_empty_or_null_mailbox_name_is_invalid);
        tcase_add_test(tc, test_a_mailbox_name_starting_with_a_dot_is_invalid);
        tcase_add_test(tc, test_a_mailbox_name_with_a_slash_is_invalid);
        tcase_add_test(tc, test_a_mailbox_name_with_a_space_is_invalid);
        tcase_add_test(tc, test_a_mailbox_name_with_a_non_ascii_byte_is_invalid);
        tcase_add_test(tc, test_every_byte_outside_the_mailbox_alphabet_is_refused);
        tcase_add_test(tc, test_mailbox_names_are_case_sensitive);
        suite_add_tcase(s, tc);

        tc = tcase_create("object names");
        tcase_set_timeout(tc, 10);
        tcase_add_test(tc, test_the_segment_name_is_slash_prefix_dot_name);
        tcase_add_test(tc, test_the_temporary_segment_name_carries_a_double_dot_and_the_generation_in_hex);
        tcase_add_test(tc, test_the_semaphore_names_carry_role_and_generation);
        tcase_add_test(tc, test_the_lock_file_lives_in_dev_shm_beside_the_objects);
        tcase_add_test(tc, test_the_role_strings_are_lock_items_and_space);
        tcase_add_test(tc, test_an_unknown_semaphore_role_is_einval);
        tcase_add_test(tc, test_an_invalid_prefix_or_name_is_einval_for_every_object);
        tcase_add_test(tc, test_the_longest_names_fit_in_names_object_max);
        suite_add_tcase(s, tc);

        tc = tcase_create("short buffers");
        tcase_set_timeout(tc, 10);
        tcase_add_loop_test(tc, test_a_buffer_one_byte_short_or_shorter_is_enametoolong, 0, _OBJ_MAX);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(names_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
