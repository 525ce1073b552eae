/* SPDX-License-Identifier: MIT */
/*
 * Page flips: two groups of pokes of one batch, farther apart than the
 * planner's gap, that both lie in one existing region.
 *
 * A 17-page section holds sites of two keys: ov_k1 on pages 0, 8 and 16
 * (close enough to make ONE region of pages 0..16 when ov_k1 is toggled),
 * ov_k2 on pages 0 and 16 only (16 pages apart: two groups of pokes, each
 * widened to that same region).  The keys are toggled through every
 * combination of states, one at a time, 200 rounds.
 *
 * Asserts: every toggle returns 0 and every site of both keys then
 * returns its key's state (the promise of static_branch_enable/disable);
 * under the default protocol, no site falls back to int3 (nothing on
 * these pages stops a flip).
 *
 * test_regions_absorbed (passes): keys ra_a (pages 0 and 40), ra_b (page
 * 12) and ra_c (pages 6 and 30) of a 41-page section, toggled alone (two
 * new regions per batch, inserted between others) and in batches of all
 * three (one new region absorbing three, then two regions flipped whose
 * indices moved), 100 rounds: every site follows its key after every
 * change, every change returns 0.
 *
 * On the code of the page-flip merge (main at 6caf2a0): the planner turns
 * the second group into int3 pokes (src/flip.c, sc_flip_plan: "two steps
 * that grew into each other") while the first group flips the region they
 * share.  The int3 writes go into the copy being mapped out (and the new
 * first byte after the flip into the copy no longer mapped), so
 * static_branch_enable(&ov_k2) returns 0 while ov_k2's site on page 16
 * still returns 0; the next toggle of ov_k2 fails with -EILSEQ.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "regress.h"
#include "rg_pages.h"

DEFINE_STATIC_KEY_FALSE(ov_k1);
DEFINE_STATIC_KEY_FALSE(ov_k2);
RG_KEY_REF(ov_k1_ref, ov_k1);
RG_KEY_REF(ov_k2_ref, ov_k2);

int ov_a0(void), ov_a8(void), ov_a16(void), ov_b0(void), ov_b16(void);

__asm__(RG_PAGES_MACRO);
__asm__(".pushsection .text.rg_flip_overlap, \"ax\", @progbits\n"
	".balign 4096, 0xcc\n"
	"rg_key_site ov_a0, ov_k1_ref, 0\n"
	"rg_key_site ov_b0, ov_k2_ref, 256\n"
	"rg_key_site ov_a8, ov_k1_ref, (8*4096)\n"
	"rg_key_site ov_a16, ov_k1_ref, (16*4096)\n"
	"rg_key_site ov_b16, ov_k2_ref, (16*4096+256)\n"
	".org 17 * 4096 - 1, 0xcc\n"
	".byte 0xcc\n"
	".popsection\n");

DEFINE_STATIC_KEY_FALSE(ra_a);
DEFINE_STATIC_KEY_FALSE(ra_b);
DEFINE_STATIC_KEY_FALSE(ra_c);
RG_KEY_REF(ra_a_ref, ra_a);
RG_KEY_REF(ra_b_ref, ra_b);
RG_KEY_REF(ra_c_ref, ra_c);

int ra_a0(void), ra_c6(void), ra_b12(void), ra_c30(void), ra_a40(void);

__asm__(".pushsection .text.rg_flip_absorb, \"ax\", @progbits\n"
	".balign 4096, 0xcc\n"
	"rg_key_site ra_a0, ra_a_ref, 0\n"
	"rg_key_site ra_c6, ra_c_ref, (6*4096)\n"
	"rg_key_site ra_b12, ra_b_ref, (12*4096)\n"
	"rg_key_site ra_c30, ra_c_ref, (30*4096)\n"
	"rg_key_site ra_a40, ra_a_ref, (40*4096)\n"
	".org 41 * 4096 - 1, 0xcc\n"
	".byte 0xcc\n"
	".popsection\n");

static int (*const k1_sites[])(void) = {ov_a0, ov_a8, ov_a16};
static int (*const k2_sites[])(void) = {ov_b0, ov_b16};

static void check_sites(int round)
{
	int k1 = static_key_enabled(&ov_k1), k2 = static_key_enabled(&ov_k2);

	for (size_t i = 0; i < 3; i++)
		if (k1_sites[i]() != k1)
			fail_msg("round %d: ov_k1 site %zu returns %d, key %d",
				 round, i, k1_sites[i](), k1);
	for (size_t i = 0; i < 2; i++)
		if (k2_sites[i]() != k2)
			fail_msg("round %d: ov_k2 site %zu returns %d, key %d",
				 round, i, k2_sites[i](), k2);
}

static void toggle(struct static_key_false *k, int on, int round)
{
	int err = on ? static_branch_enable(k) : static_branch_disable(k);

	if (err)
		fail_msg("round %d: %s(%s): %s", round,
			 on ? "enable" : "disable", k == &ov_k1 ? "k1" : "k2",
			 strerror(-err));
}

static void test_two_groups_in_one_region(void **state)
{
	struct static_call_stats st0, st1;
	(void)state;

	assert_int_equal((uintptr_t)ov_a0 % RG_PAGE, 0);
	assert_int_equal((uintptr_t)ov_b16 - (uintptr_t)ov_a0,
			 16 * RG_PAGE + 256);
	check_sites(-1);
	st0 = sc_test_stats();
	/* the region of pages 0..16 */
	toggle(&ov_k1, 1, 0);
	check_sites(0);
	for (int round = 1; round <= 200; round++) {
		toggle(&ov_k2, round & 1, round);
		check_sites(round);
		if (round % 4 == 0) {
			toggle(&ov_k1, !static_key_enabled(&ov_k1), round);
			check_sites(round);
		}
	}
	st1 = sc_test_stats();
	printf("two groups in one region: %llu flips, %llu int3 fallbacks, "
	       "%llu errors\n",
	       st1.flips - st0.flips, st1.int3_fallbacks - st0.int3_fallbacks,
	       st1.errors - st0.errors);
	if (rg_default_protocol())
		assert_int_equal(st1.int3_fallbacks - st0.int3_fallbacks, 0);
}

static void check_absorbed(int round)
{
	int a = static_key_enabled(&ra_a), b = static_key_enabled(&ra_b),
	    c = static_key_enabled(&ra_c);

	if (ra_a0() != a || ra_a40() != a || ra_b12() != b || ra_c6() != c ||
	    ra_c30() != c)
		fail_msg("round %d: keys %d %d %d, sites a %d %d, b %d, c %d "
			 "%d",
			 round, a, b, c, ra_a0(), ra_a40(), ra_b12(), ra_c6(),
			 ra_c30());
}

static void test_regions_absorbed(void **state)
{
	struct static_key_false *const keys[3] = {&ra_a, &ra_b, &ra_c};
	(void)state;

	assert_int_equal((uintptr_t)ra_a0 % RG_PAGE, 0);
	check_absorbed(-1);
	for (int round = 0; round < 100; round++) {
		if (round % 4 == 3) {
			struct static_call_batch b;
			struct static_call_batch_entry e[3];
			assert_int_equal(static_call_batch_init(&b, e, 3), 0);
			for (int k = 0; k < 3; k++)
				if (static_key_enabled(keys[k]))
					static_branch_batch_disable(&b,
								    keys[k]);
				else
					static_branch_batch_enable(&b, keys[k]);
			assert_int_equal(static_call_batch_commit(&b), 0);
		} else {
			struct static_key_false *k = keys[round % 4];
			assert_int_equal(static_key_enabled(k)
						 ? static_branch_disable(k)
						 : static_branch_enable(k),
					 0);
		}
		check_absorbed(round);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_groups_in_one_region),
		cmocka_unit_test(test_regions_absorbed),
	};

	sc_test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
