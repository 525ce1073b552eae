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

#include "regress.h"
#include "rg_pages.h"

DEFINE_STATIC_KEY_FALSE(cs_k);
RG_KEY_REF(cs_k_ref, cs_k);

int cs_p0(void), cs_straddle(void), cs_p1(void);

__asm__(RG_PAGES_MACRO);
__asm__(".pushsection .text.rg_flip_cow_int3, \"ax\", @progbits\n"
	".balign 4096, 0xcc\n"
	"rg_key_site cs_p0, cs_k_ref, 100\n"
	"rg_key_site cs_straddle, cs_k_ref, 4094\n"
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
		const volatile uint8_t *b = (const void *)sites[i];
		if (*b == 0xcc)
			fail_msg("%s, round %d: the %s site still starts with "
				 "int3",
				 protocol, round, names[i]);
		if (sites[i]() != on)
			fail_msg("%s, round %d: the %s site returns %d, key "
				 "%d",
				 protocol, round, names[i], sites[i](), on);
	}
}

static void test_int3_after_flips(void **state)
{
	static const char *const protocols[] = {"auto", "int3", "store",
						"auto"};
	struct static_call_stats st0, st1;
	(void)state;

	assert_int_equal((uintptr_t)cs_straddle % RG_PAGE, RG_PAGE - 2);
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
