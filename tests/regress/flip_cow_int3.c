/* SPDX-License-Identifier: MIT */
/*
 * The int3 protocol writing into flipped pages that an earlier write made
 * private copies (found by bench/update: 1000 key sites toggled with
 * protocol=store after protocol=auto had flipped their pages).
 *
 * A two-page section holds three sites of one key, cs_k: at offset 100 of
 * page 0, at offset 4094 (its 5 bytes straddle the boundary: 2 + 3) and at
 * offset 200 of page 1.  The key is toggled under the default protocol
 * first (the pages become a flipped region), then under protocol=int3,
 * then protocol=store (which writes plain key sites with int3 too), then
 * the default protocol again, 20 times each.
 *
 * Asserts: every toggle returns 0; after each, no site starts with an
 * int3 byte (a half-patched site: calling it would trap for ever) and
 * every site returns the key's state.
 *
 * A fourth site, of key cs_tf, at offset 512 of page 0, is placed for
 * trap-free stores (as STATICCALL_KEYS_TRAPFREE places them).  It is
 * toggled in the store phase: the flipped region must turn into a store
 * view, so these toggles take the store protocol (no int3 fallback).  On
 * main at dee2961 a flipped page got no view (sc_flip_make_view():
 * -EBUSY), so after a switch to protocol=store every site the default
 * protocol had flipped (at load, or before) took int3 for good.
 *
 * On main at 68a2774: the straddling tail could not be written through
 * the region's memfd (sc_flip_write() took one page only) and went
 * through /proc/self/mem, which made both pages private copies of their
 * own; the later writes of that batch went into the memfd again (the
 * pages still compared equal to it), where no thread saw them, and the
 * toggle returned 0 with int3 left on the site at offset 100: the first
 * int3 toggle fails here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "arch.h"
#include "regress.h"
#include "rg_pages.h"

/* How far before page 0's end the "straddling" site starts: x86-64's
 * 5 bytes straddle (2 + 3); an A64 instruction cannot, so there the site
 * is page 0's last word and its function runs on into page 1. */
#if defined(__x86_64__)
#define CS_EDGE 2
#define CS_EDGE_STR "2"
#else
#define CS_EDGE 4
#define CS_EDGE_STR "4"
#endif

DEFINE_STATIC_KEY_FALSE(cs_k);
DEFINE_STATIC_KEY_FALSE(cs_tf);
RG_KEY_REF(cs_k_ref, cs_k);
RG_KEY_REF(cs_tf_ref, cs_tf);

int cs_p0(void), cs_tfsite(void), cs_straddle(void), cs_p1(void);

__asm__(RG_PAGES_MACRO);
__asm__(".pushsection .text.rg_flip_cow_int3, \"ax\", @progbits\n"
	".balign 4096, 0xcc\n"
	"rg_key_site cs_p0, cs_k_ref, 100\n"
	"rg_key_site cs_tfsite, cs_tf_ref, 512, 2\n"
	"rg_key_site cs_straddle, cs_k_ref, (4096-" CS_EDGE_STR ")\n"
	"rg_key_site cs_p1, cs_k_ref, (4096+200)\n"
	".org 2 * 4096 - 1, 0xcc\n"
	".byte 0xcc\n"
	".popsection\n");

static int (*const sites[])(void) = {cs_p0, cs_straddle, cs_p1};
static const char *const names[] = {"page 0", "straddling", "page 1"};

static void check(const char *protocol, int round)
{
	int on = static_key_enabled(&cs_k);

	for (size_t i = 0; i < 3; i++) {
		if (sc_test_trapped((const void *)sites[i]))
			fail_msg("%s, round %d: the %s site still starts with "
				 "int3",
				 protocol, round, names[i]);
		if (sites[i]() != on)
			fail_msg("%s, round %d: the %s site returns %d, key "
				 "%d",
				 protocol, round, names[i], sites[i](), on);
	}
}

/* protocol=store: the trap-free site of cs_tf, on a flipped page, is
 * stored through a view, never written with int3. */
static void store_view_phase(void)
{
	struct static_call_stats a = sc_test_stats(), z;

	for (int round = 0; round < 20; round++) {
		int on = !static_key_enabled(&cs_tf);
		int err = on ? static_branch_enable(&cs_tf)
			     : static_branch_disable(&cs_tf);
		if (err)
			fail_msg("store, round %d: toggle cs_tf: %s", round,
				 strerror(-err));
		if (sc_test_trapped((const void *)cs_tfsite) ||
		    cs_tfsite() != on)
			fail_msg("store, round %d: the trap-free site returns "
				 "%d, key %d",
				 round, cs_tfsite(), on);
		check("store", round);
	}
	z = sc_test_stats();
	printf("store phase, trap-free site: %llu int3 fallbacks, %llu "
	       "syncs for 20 toggles\n",
	       z.int3_fallbacks - a.int3_fallbacks, z.syncs - a.syncs);
	assert_int_equal(z.int3_fallbacks - a.int3_fallbacks, 0);
	assert_int_equal(z.syncs - a.syncs, 20);
}

static void test_int3_after_flips(void **state)
{
	static const char *const protocols[] = {"auto", "int3", "store",
						"auto"};
	struct static_call_stats st0, st1;
	(void)state;

	assert_int_equal((uintptr_t)cs_straddle % RG_PAGE, RG_PAGE - CS_EDGE);
	check("start", -1);
	st0 = sc_test_stats();
	for (size_t p = 0; p < 4; p++) {
		assert_int_equal(
			static_call_set_option("protocol", protocols[p]), 0);
		for (int round = 0; round < 20; round++) {
			int err = static_key_enabled(&cs_k)
					  ? static_branch_disable(&cs_k)
					  : static_branch_enable(&cs_k);
			if (err)
				fail_msg("%s, round %d: toggle: %s",
					 protocols[p], round, strerror(-err));
			check(protocols[p], round);
		}
		if (strcmp(protocols[p], "store") == 0)
			store_view_phase();
	}
	st1 = sc_test_stats();
	printf("%llu flips, %llu int3 fallbacks, %llu traps\n",
	       st1.flips - st0.flips, st1.int3_fallbacks - st0.int3_fallbacks,
	       rg_traps());
	assert_int_equal(static_call_set_option("protocol", "auto"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_int3_after_flips),
	};

	sc_test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
