/* SPDX-License-Identifier: MIT */
/* test-layout.c — unit tests for proto/layout: geometry limits, header init and validation. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/layout.h"

/* --- fixture: a freshly initialised segment of 4 slots of 100 bytes in a calloc'd buffer ---- */

static LayoutGeometry geo;
static uint8_t *map;
static MboxHeader *hdr;

static void setup(void) {
        ck_assert_int_eq(layout_geometry(4, 100, UINT64_C(0x1122334455667788), &geo), 0);
        map = calloc(1, geo.total_size);
        ck_assert_ptr_nonnull(map);
        layout_init(map, &geo);
        hdr = (MboxHeader *)map;
}

static void teardown(void) {
        free(map);
        map = NULL;
        hdr = NULL;
}

/* A sentinel geometry, to show that a failing call leaves its output alone. */
static const LayoutGeometry sentinel = {
        .slots = 0xdead,
        .slot_size = 0xbeef,
        .slot_stride = 0xf00d,
        .header_size = 0xcafe,
        .generation = 0x5555,
        .total_size = 0xaaaa,
};

static void assert_geometry_eq(const LayoutGeometry *a, const LayoutGeometry *b) {
        ck_assert_uint_eq(a->slots, b->slots);
        ck_assert_uint_eq(a->slot_size, b->slot_size);
        ck_assert_uint_eq(a->slot_stride, b->slot_stride);
        ck_assert_uint_eq(a->header_size, b->header_size);
        ck_assert_uint_eq(a->generation, b->generation);
        ck_assert_uint_eq(a->total_size, b->total_size);
}

static int check_fails(uint64_t size) {
        LayoutGeometry g = sentinel;
        int r = layout_check(map, size, &g);

        if (r < 0)
                assert_geometry_eq(&g, &sentinel);
        return r;
}

/* --- geometry ------------------------------------------------------------------------------ */

START_TEST(test_zero_slots_or_a_zero_slot_size_is_einval) {
        LayoutGeometry g = sentinel;

        ck_assert_int_eq(layout_geometry(0, 64, 1, &g), -EINVAL);
        ck_assert_int_eq(layout_geometry(1, 0, 1, &g), -EINVAL);
        ck_assert_int_eq(layout_geometry(0, 0, 1, &g), -EINVAL);
        assert_geometry_eq(&g, &sentinel);
}
END_TEST

START_TEST(test_more_than_the_maximum_slots_or_slot_size_is_einval) {
        LayoutGeometry g = sentinel;

        ck_assert_int_eq(layout_geometry(LAYOUT_SLOTS_MAX + 1, 64, 1, &g), -EINVAL);
        ck_assert_int_eq(layout_geometry(UINT32_MAX, 64, 1, &g), -EINVAL);
        ck_assert_int_eq(layout_geometry(1, LAYOUT_SLOT_SIZE_MAX + 1, 1, &g), -EINVAL);
        ck_assert_int_eq(layout_geometry(1, UINT32_MAX, 1, &g), -EINVAL);
        assert_geometry_eq(&g, &sentinel);
}
END_TEST

START_TEST(test_the_maximum_slots_and_slot_size_are_accepted_without_overflow) {
        LayoutGeometry g;
        uint64_t stride = LAYOUT_SLOT_HEAD + LAYOUT_SLOT_SIZE_MAX;

        ck_assert_int_eq(layout_geometry(LAYOUT_SLOTS_MAX, LAYOUT_SLOT_SIZE_MAX, 1, &g), 0);
        ck_assert_uint_eq(g.slots, LAYOUT_SLOTS_MAX);
        ck_assert_uint_eq(g.slot_size, LAYOUT_SLOT_SIZE_MAX);
        ck_assert_uint_eq(g.slot_stride, stride);
        ck_assert_uint_eq(g.total_size, LAYOUT_HEADER_SIZE + stride * LAYOUT_SLOTS_MAX);
        ck_assert_uint_gt(g.total_size, UINT32_MAX); /* computed in 64 bits */

        ck_assert_int_eq(layout_geometry(1, 1, 0, &g), 0);
        ck_assert_uint_eq(g.slots, 1);
        ck_assert_uint_eq(g.slot_size, 1);
}
END_TEST

START_TEST(test_the_stride_is_a_cache_line_slot_head_plus_the_slot_size_rounded_up_to_64) {
        static const struct {
                uint32_t slot_size, stride;
        } cases[] = {
                { 1, 128 },     { 2, 128 },     { 63, 128 },    { 64, 128 },
                { 65, 192 },    { 127, 192 },   { 128, 192 },   { 129, 256 },
                { 4095, 4160 }, { 4096, 4160 }, { 4097, 4224 }, { LAYOUT_SLOT_SIZE_MAX, LAYOUT_SLOT_SIZE_MAX + 64 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                LayoutGeometry g;

                ck_assert_int_eq(layout_geometry(3, cases[i].slot_size, 1, &g), 0);
                ck_assert_uint_eq(g.slot_stride, cases[i].stride);
                ck_assert_uint_eq(g.slot_stride % LAYOUT_CACHE_LINE, 0);
                ck_assert_uint_ge(g.slot_stride, LAYOUT_SLOT_HEAD + cases[i].slot_size);
        }
}
END_TEST

START_TEST(test_the_total_size_is_a_header_page_plus_slots_times_stride) {
        LayoutGeometry g;

        ck_assert_int_eq(layout_geometry(16, 4096, 42, &g), 0);
        ck_assert_uint_eq(g.header_size, LAYOUT_HEADER_SIZE);
        /* layout v2: the header page, then 256 counter blocks of 128 bytes */
        ck_assert_uint_eq(g.header_size, 4096 + 256 * 128);
        ck_assert_uint_eq(g.total_size, 4096 + 256 * 128 + 16 * 4160);
        ck_assert_uint_eq(g.generation, 42);

        ck_assert_int_eq(layout_geometry(1, 1, UINT64_MAX, &g), 0);
        ck_assert_uint_eq(g.total_size, 36864 + 128);
        ck_assert_uint_eq(g.generation, UINT64_MAX);
}
END_TEST

START_TEST(test_the_header_fits_its_page_and_slot_heads_are_one_cache_line) {
        ck_assert_uint_le(sizeof(MboxHeader), LAYOUT_HEADER_PAGE);
        ck_assert_uint_eq(sizeof(SlotHead), LAYOUT_CACHE_LINE);
        ck_assert_uint_eq(offsetof(MboxHeader, lock) % LAYOUT_CACHE_LINE, 0);
        ck_assert_uint_eq(offsetof(MboxHeader, tail) % LAYOUT_CACHE_LINE, 0);
        ck_assert_uint_eq(offsetof(MboxHeader, head) % LAYOUT_CACHE_LINE, 0);
        ck_assert_uint_ne(offsetof(MboxHeader, head) / 64, offsetof(MboxHeader, tail) / 64);
}
END_TEST

START_TEST(test_slot_words_pack_state_lap_and_token) {
        uint64_t w = slot_word(SLOT_TAKEN, 0xabcdef, 0x12345678);

        ck_assert_uint_eq(slot_word_state(w), SLOT_TAKEN);
        ck_assert_uint_eq(slot_word_lap(w), 0xabcdef);
        ck_assert_uint_eq(slot_word_token(w), 0x12345678);
        /* the lap is 24 bits: higher bits never reach the state */
        w = slot_word(SLOT_READY, 0xff000001u, 7);
        ck_assert_uint_eq(slot_word_state(w), SLOT_READY);
        ck_assert_uint_eq(slot_word_lap(w), 1);
        ck_assert_uint_eq(slot_word(SLOT_FREE, 0, 0), 0);
}
END_TEST

/* --- init and check ------------------------------------------------------------------------ */

START_TEST(test_an_initialised_header_passes_its_check_with_the_same_geometry) {
        LayoutGeometry g = sentinel;

        ck_assert_int_eq(layout_check(map, geo.total_size, &g), 0);
        assert_geometry_eq(&g, &geo);
        /* a larger mapping (page rounding) is fine too */
        ck_assert_int_eq(layout_check(map, geo.total_size + 4096, &g), 0);
        assert_geometry_eq(&g, &geo);
}
END_TEST

START_TEST(test_an_initialised_header_records_the_geometry_and_its_checksum) {
        ck_assert_uint_eq(hdr->magic, LAYOUT_MAGIC);
        ck_assert_uint_eq(hdr->version, LAYOUT_VERSION);
        ck_assert_uint_eq(hdr->header_size, LAYOUT_HEADER_SIZE);
        ck_assert_uint_eq(hdr->slots, 4);
        ck_assert_uint_eq(hdr->slot_size, 100);
        ck_assert_uint_eq(hdr->slot_stride, 64 + 128);
        ck_assert_uint_eq(hdr->generation, UINT64_C(0x1122334455667788));
        ck_assert_uint_eq(hdr->total_size, 36864 + 4 * 192);
        ck_assert_uint_eq(hdr->checksum, layout_checksum(hdr));
        ck_assert_mem_eq(map, "\0SHMBOX1", 8);
}
END_TEST

START_TEST(test_an_initialised_segment_is_an_empty_ring_of_free_slots) {
        ck_assert_uint_eq(atomic_load(&hdr->lock), 0);
        ck_assert_uint_eq(atomic_load(&hdr->head), 0);
        ck_assert_uint_eq(atomic_load(&hdr->tail), 0);
        ck_assert_uint_eq(atomic_load(&hdr->flags), 0);
        ck_assert_uint_eq(atomic_load(&hdr->abandoned), 0);
        ck_assert_uint_eq(atomic_load(&hdr->received), 0);
        ck_assert_uint_eq(atomic_load(&hdr->recovered), 0);
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++)
                ck_assert_uint_eq(atomic_load(&hdr->att[i]), TOKEN_NONE);
        for (unsigned i = 0; i < geo.slots; i++) {
                SlotHead *s = (SlotHead *)(map + geo.header_size + (size_t)i * geo.slot_stride);

                ck_assert_uint_eq(atomic_load(&s->word), slot_word(SLOT_FREE, 0, 0));
        }
}
END_TEST

START_TEST(test_the_checksum_depends_on_every_immutable_field) {
        MboxHeader h;
        uint32_t base;

        memcpy(&h, map, sizeof(h));
        base = layout_checksum(&h);
        h.generation ^= UINT64_C(1) << 63;
        ck_assert_uint_ne(layout_checksum(&h), base);
        memcpy(&h, map, sizeof(h));
        h.total_size += 1;
        ck_assert_uint_ne(layout_checksum(&h), base);
        memcpy(&h, map, sizeof(h));
        h.header_size += 64;
        ck_assert_uint_ne(layout_checksum(&h), base);
        /* and not on the mutable part, nor on itself */
        memcpy(&h, map, sizeof(h));
        h.checksum ^= 1;
        atomic_store(&h.tail, 12);
        ck_assert_uint_eq(layout_checksum(&h), base);
}
END_TEST

/* --- check failures ------------------------------------------------------------------------ */

START_TEST(test_a_wrong_magic_is_eproto) {
        hdr->magic ^= 1;
        ck_assert_int_eq(check_fails(geo.total_size), -EPROTO);
        /* even with a checksum that matches it */
        hdr->checksum = layout_checksum(hdr);
        ck_assert_int_eq(check_fails(geo.total_size), -EPROTO);
        hdr->magic = 0;
        ck_assert_int_eq(check_fails(geo.total_size), -EPROTO);
}
END_TEST

/* Each attachment index has its own counter block, two cache lines of their own between the
 * header page and slot 0 (doc/ring.md, "Counters"); the daemon's retired totals live in the
 * header page. */
START_TEST(test_each_attachment_has_its_own_counter_lines_before_slot_0) {
        uint8_t *base = map;

        ck_assert_ptr_eq(layout_counters(map, 0), base + 4096);
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++) {
                uint8_t *b = (uint8_t *)layout_counters(map, i);

                ck_assert_uint_eq((uintptr_t)(b - base) % 128, 0);
                ck_assert_uint_ge((uintptr_t)(b - base), LAYOUT_HEADER_PAGE);
                ck_assert_uint_le((uintptr_t)(b - base) + sizeof(AttCounters), geo.header_size);
        }
        ck_assert_ptr_eq((uint8_t *)layout_counters(map, LAYOUT_ATT_MAX), base + geo.header_size);
        ck_assert_uint_lt(offsetof(MboxHeader, retired) + sizeof(AttCounters), LAYOUT_HEADER_PAGE + 1);
        ck_assert_uint_eq(offsetof(MboxHeader, retired) % 128, 0);
        /* a fresh segment counts nothing */
        for (unsigned i = 0; i < LAYOUT_ATT_MAX; i++)
                ck_assert_uint_eq(atomic_load(&layout_counters(map, i)->sent), 0);
}
END_TEST

/* A segment of shmbox 0.2 (layout 1: no counter area) is refused, never misread: NEWS 0.3.0. */
START_TEST(test_a_layout_1_segment_is_eproto) {
        hdr->version = 1;
        hdr->header_size = 4096;
        hdr->total_size = 4096 + 4 * 192;
        hdr->checksum = layout_checksum(hdr);
        ck_assert_int_eq(check_fails(4096 + 4 * 192), -EPROTO);
}
END_TEST

/* A broadcast mailbox: version 3, its kind in the checksum, the subscriber area after the
 * counters; a version 3 header that says "queue" is no header any step writes. */
START_TEST(test_a_broadcast_segment_has_its_kind_and_subscriber_area) {
        LayoutGeometry b, g2;
        void *m;

        ck_assert_int_eq(layout_geometry_kind(4, 100, LAYOUT_KIND_OVERWRITE, 7, &b), 0);
        ck_assert_int_eq(layout_geometry_kind(4, 100, LAYOUT_KIND_OVERWRITE + 1, 7, &b), -EINVAL);
        ck_assert_int_eq(layout_geometry_kind(4, 100, LAYOUT_KIND_BROADCAST, 7, &b), 0);
        ck_assert_uint_eq(b.header_size, LAYOUT_HEADER_SIZE + 256 * 64);
        ck_assert_uint_eq(b.total_size, b.header_size + 4 * b.slot_stride);
        m = calloc(1, b.total_size);
        ck_assert_ptr_nonnull(m);
        layout_init(m, &b);
        ck_assert_uint_eq(((MboxHeader *)m)->version, LAYOUT_VERSION_BCAST);
        ck_assert_int_eq(layout_check(m, b.total_size, &g2), 0);
        ck_assert_uint_eq(g2.kind, LAYOUT_KIND_BROADCAST);
        ck_assert_uint_eq(g2.header_size, b.header_size);
        ((MboxHeader *)m)->kind = LAYOUT_KIND_OVERWRITE; /* a flipped kind: the checksum says no */
        ck_assert_int_eq(layout_check(m, b.total_size, &g2), -EBADMSG);
        ((MboxHeader *)m)->kind = LAYOUT_KIND_QUEUE;
        ((MboxHeader *)m)->checksum = layout_checksum(m);
        ck_assert_int_eq(layout_check(m, b.total_size, &g2), -EBADMSG);
        ck_assert_int_eq(layout_check(m, b.total_size - 1, &g2), -EBADMSG);
        free(m);
        /* a queue's header is version 2 with the checksum it always had: the kind word is not in it */
        ck_assert_uint_eq(hdr->version, LAYOUT_VERSION);
        hdr->kind = 1;
        ck_assert_int_eq(layout_check(map, geo.total_size, &g2), 0);
        ck_assert_uint_eq(g2.kind, LAYOUT_KIND_QUEUE);
        hdr->kind = 0;
}
END_TEST

START_TEST(test_a_wrong_version_is_eproto) {
        hdr->version = LAYOUT_VERSION_BCAST + 1;
        ck_assert_int_eq(check_fails(geo.total_size), -EPROTO);
        hdr->checksum = layout_checksum(hdr);
        ck_assert_int_eq(check_fails(geo.total_size), -EPROTO);
        hdr->version = 0;
        hdr->checksum = layout_checksum(hdr);
        ck_assert_int_eq(check_fails(geo.total_size), -EPROTO);
}
END_TEST

START_TEST(test_any_flipped_bit_of_the_immutable_header_is_refused) {
        for (size_t byte = 0; byte < offsetof(MboxHeader, total_size) + 8; byte++) {
                /* magic and version are judged before the checksum */
                int expect = byte < offsetof(MboxHeader, header_size) ? -EPROTO : -EBADMSG;

                for (unsigned bit = 0; bit < 8; bit++) {
                        /* version 2 -> 3 is a known version: its checksum refuses it */
                        bool known =
                                byte == offsetof(MboxHeader, version) && (2u ^ (1u << bit)) == LAYOUT_VERSION_BCAST;

                        map[byte] ^= (uint8_t)(1u << bit);
                        ck_assert_msg(check_fails(geo.total_size) == (known ? -EBADMSG : expect), "byte %zu bit %u",
                                      byte, bit);
                        map[byte] ^= (uint8_t)(1u << bit);
                }
        }
        ck_assert_int_eq(check_fails(geo.total_size), 0);
}
END_TEST

START_TEST(test_a_flipped_geometry_byte_is_ebadmsg_by_checksum) {
        hdr->slots ^= 0x02; /* 4 -> 6: a plausible geometry, only the checksum can tell */
        ck_assert_int_eq(check_fails(geo.total_size * 2), -EBADMSG);
        hdr->slots ^= 0x02;
        hdr->slot_size ^= 0x01;
        ck_assert_int_eq(check_fails(geo.total_size), -EBADMSG);
}
END_TEST

START_TEST(test_a_changed_stride_with_a_recomputed_checksum_is_ebadmsg) {
        hdr->slot_stride += LAYOUT_CACHE_LINE;
        hdr->checksum = layout_checksum(hdr);
        ck_assert_int_eq(check_fails(geo.total_size * 2), -EBADMSG);
        hdr->slot_stride = geo.slot_stride - LAYOUT_CACHE_LINE;
        hdr->checksum = layout_checksum(hdr);
        ck_assert_int_eq(check_fails(geo.total_size), -EBADMSG);
        hdr->slot_stride = 0;
        hdr->checksum = layout_checksum(hdr);
        ck_assert_int_eq(check_fails(geo.total_size), -EBADMSG);
}
END_TEST

START_TEST(test_other_inconsistent_geometry_with_a_recomputed_checksum_is_ebadmsg) {
        /* header_size */
        hdr->header_size = 2 * LAYOUT_HEADER_SIZE;
        hdr->checksum = layout_checksum(hdr);
        ck_assert_int_eq(check_fails(geo.total_size * 4), -EBADMSG);
        hdr->header_size = 0;
        hdr->checksum = layout_checksum(hdr);
        ck_assert_int_eq(check_fails(geo.total_size), -EBADMSG);
        hdr->header_size = geo.header_size;

        /* total_size */
        hdr->total_size = geo.total_size - 1;
        hdr->checksum = layout_checksum(hdr);
        ck_assert_int_eq(check_fails(geo.total_size), -EBADMSG);
        hdr->total_size = geo.total_size + geo.slot_stride;
        hdr->checksum = layout_checksum(hdr);
        ck_assert_int_eq(check_fails(geo.total_size * 2), -EBADMSG);
        hdr->total_size = geo.total_size;

        /* slots and slot_size outside the limits */
        hdr->slots = 0;
        hdr->checksum = layout_checksum(hdr);
        ck_assert_int_eq(check_fails(geo.total_size), -EBADMSG);
        hdr->slots = LAYOUT_SLOTS_MAX + 1;
        hdr->checksum = layout_checksum(hdr);
        ck_assert_int_eq(check_fails(UINT64_MAX), -EBADMSG);
        hdr->slots = geo.slots;
        hdr->slot_size = 0;
        hdr->checksum = layout_checksum(hdr);
        ck_assert_int_eq(check_fails(geo.total_size), -EBADMSG);
        hdr->slot_size = LAYOUT_SLOT_SIZE_MAX + 1;
        hdr->checksum = layout_checksum(hdr);
        ck_assert_int_eq(check_fails(UINT64_MAX), -EBADMSG);

        /* all restored: valid again */
        hdr->slot_size = geo.slot_size;
        hdr->checksum = layout_checksum(hdr);
        ck_assert_int_eq(check_fails(geo.total_size), 0);
}
END_TEST

START_TEST(test_a_mapping_smaller_than_the_total_size_is_ebadmsg) {
        ck_assert_int_eq(check_fails(geo.total_size - 1), -EBADMSG);
        ck_assert_int_eq(check_fails(geo.total_size - geo.slot_stride), -EBADMSG);
        ck_assert_int_eq(check_fails(LAYOUT_HEADER_SIZE), -EBADMSG);
        ck_assert_int_eq(check_fails(geo.total_size), 0);
}
END_TEST

START_TEST(test_a_mapping_smaller_than_a_page_is_ebadmsg) {
        LayoutGeometry g = sentinel;
        uint8_t *small;

        ck_assert_int_eq(check_fails(LAYOUT_HEADER_SIZE - 1), -EBADMSG);
        ck_assert_int_eq(check_fails(64), -EBADMSG);
        ck_assert_int_eq(check_fails(0), -EBADMSG);
        /* nothing is read from a mapping that small: a 100-byte buffer is safe to pass */
        small = malloc(100);
        ck_assert_ptr_nonnull(small);
        memcpy(small, map, 100);
        ck_assert_int_eq(layout_check(small, 100, &g), -EBADMSG);
        assert_geometry_eq(&g, &sentinel);
        free(small);
}
END_TEST

static Suite *layout_suite(void) {
        Suite *s = suite_create("layout");
        TCase *tc;

        tc = tcase_create("geometry");
        tcase_set_timeout(tc, 10);
        tcase_add_test(tc, test_zero_slots_or_a_zero_slot_size_is_einval);
        tcase_add_test(tc, test_more_than_the_maximum_slots_or_slot_size_is_einval);
        tcase_add_test(tc, test_the_maximum_slots_and_slot_size_are_accepted_without_overflow);
        tcase_add_test(tc, test_the_stride_is_a_cache_line_slot_head_plus_the_slot_size_rounded_up_to_64);
        tcase_add_test(tc, test_the_total_size_is_a_header_page_plus_slots_times_stride);
        tcase_add_test(tc, test_the_header_fits_its_page_and_slot_heads_are_one_cache_line);
        tcase_add_test(tc, test_slot_words_pack_state_lap_and_token);
        suite_add_tcase(s, tc);

        tc = tcase_create("init and check");
        tcase_set_timeout(tc, 10);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_an_initialised_header_passes_its_check_with_the_same_geometry);
        tcase_add_test(tc, test_an_initialised_header_records_the_geometry_and_its_checksum);
        tcase_add_test(tc, test_an_initialised_segment_is_an_empty_ring_of_free_slots);
        tcase_add_test(tc, test_the_checksum_depends_on_every_immutable_field);
        suite_add_tcase(s, tc);

        tc = tcase_create("check failures");
        tcase_set_timeout(tc, 10);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_a_wrong_magic_is_eproto);
        tcase_add_test(tc, test_a_wrong_version_is_eproto);
        tcase_add_test(tc, test_a_broadcast_segment_has_its_kind_and_subscriber_area);
        tcase_add_test(tc, test_a_layout_1_segment_is_eproto);
        tcase_add_test(tc, test_each_attachment_has_its_own_counter_lines_before_slot_0);
        tcase_add_test(tc, test_any_flipped_bit_of_the_immutable_header_is_refused);
        tcase_add_test(tc, test_a_flipped_geometry_byte_is_ebadmsg_by_checksum);
        tcase_add_test(tc, test_a_changed_stride_with_a_recomputed_checksum_is_ebadmsg);
        tcase_add_test(tc, test_other_inconsistent_geometry_with_a_recomputed_checksum_is_ebadmsg);
        tcase_add_test(tc, test_a_mapping_smaller_than_the_total_size_is_ebadmsg);
        tcase_add_test(tc, test_a_mapping_smaller_than_a_page_is_ebadmsg);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        SRunner *sr = srunner_create(layout_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
