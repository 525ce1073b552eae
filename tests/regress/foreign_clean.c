/* SPDX-License-Identifier: MIT */
/*
 * Issue 14: a uprobe-like foreign int3 on a page of key sites, kept while
 * it is there, and the page flips again once it is gone.
 *
 * One 4 KiB page (rg_pages.h) holds sites of fc_k1 (offset 0) and fc_k2
 * (offset 256) and, at 512, fc_victim, a function never run.  An int3 is
 * written over fc_victim's second byte through /proc/self/mem, as a
 * uprobe or a debugger would.  While it is there: fc_k1 is enabled (and
 * stays so) and fc_k2 toggled 20 times, with two threads running both
 * sites; every toggle must return 0 with the sites following, or a
 * negative errno with the sites as they were; the foreign byte must stay.
 * Then the byte is written back (the probe removed) and fc_k2 is toggled
 * 20 more times: every toggle returns 0, the sites follow, and under the
 * default protocol no site falls back to int3 (the page holds nothing but
 * what it was mapped from and what the library wrote: it can flip).
 *
 * Two cases, each in a fork child: the page was never flipped before the
 * probe (a page of the file), or it was (a page of a flip region).
 *
 * On the code of the page-flip merge (main at 6caf2a0): while the probe is
 * there, fc_k1's site is written in place (int3 protocol), which leaves
 * the page a private copy that differs from the file (or from the
 * region's copy) at fc_k1's site; after the probe is gone the page's F4
 * check (src/flip.c, pristine()) still finds it differs, so every toggle
 * of fc_k2 takes the int3 protocol for as long as fc_k1 stays enabled.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "regress.h"
#include "rg_pages.h"

DEFINE_STATIC_KEY_FALSE(fc_k1);
DEFINE_STATIC_KEY_FALSE(fc_k2);
RG_KEY_REF(fc_k1_ref, fc_k1);
RG_KEY_REF(fc_k2_ref, fc_k2);

int fc_a(void), fc_b(void);

/* The victim's 8 bytes, and the breakpoint a uprobe would put in them
 * (at FC_PROBE_AT). */
#if defined(__x86_64__)
#define FC_VICTIM "	.byte 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xc3\n"
#define FC_PROBE_AT 1
static const unsigned char fc_probe[] = {0xcc};
#elif defined(__aarch64__)
#define FC_VICTIM "	nop\n	ret\n"
#define FC_PROBE_AT 0
/* brk #5, the kernel's uprobe breakpoint on arm64 (little-endian) */
static const unsigned char fc_probe[] = {0xa0, 0x00, 0x20, 0xd4};
#endif
extern const unsigned char fc_victim[];

__asm__(RG_PAGES_MACRO);
__asm__(".pushsection .text.rg_foreign_clean, \"ax\", @progbits\n"
	".balign 4096, 0xcc\n"
	"rg_key_site fc_a, fc_k1_ref, 0\n"
	"rg_key_site fc_b, fc_k2_ref, 256\n"
	".org 512, 0xcc\n"
	".globl fc_victim\n"
	".type fc_victim, @function\n"
	"fc_victim:\n" FC_VICTIM ".size fc_victim, . - fc_victim\n"
	".org 4095, 0xcc\n"
	".byte 0xcc\n"
	".popsection\n");

static _Atomic int stop;

/* The victim's bytes as they are now (code the compiler takes for
 * constant: read through a volatile pointer). */
static bool victim_is(const unsigned char *want)
{
	const volatile unsigned char *v = fc_victim;

	for (int i = 0; i < 8; i++)
		if (v[i] != want[i])
			return false;
	return true;
}

static void *runner(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int a = fc_a(), b = fc_b();
		RG_CHECK((a == 0 || a == 1) && (b == 0 || b == 1),
			 "sites returned %d %d", a, b);
	}
	return NULL;
}

static void toggle_k2(int i, bool must_work)
{
	int on = !(i & 1);
	int err = on ? static_branch_enable(&fc_k2)
		     : static_branch_disable(&fc_k2);

	RG_CHECK(err <= 0, "toggle: %d", err);
	RG_CHECK(!must_work || err == 0, "toggle %d: %s", i, strerror(-err));
	RG_CHECK(fc_b() == static_key_enabled(&fc_k2) &&
			 static_key_enabled(&fc_k2) == (err ? !on : on),
		 "toggle %d: site %d, key %d, result %d", i, fc_b(),
		 static_key_enabled(&fc_k2), err);
	RG_CHECK(fc_a() == static_key_enabled(&fc_k1), "fc_k1's site");
}

static int scenario(void *arg)
{
	unsigned char clean[8], probed[8];
	struct static_call_stats s0, s1;
	bool flipped_before = arg != NULL;
	pthread_t t[2];
	int err;

	memcpy(clean, fc_victim, sizeof(clean));
	memcpy(probed, clean, sizeof(probed));
	memcpy(probed + FC_PROBE_AT, fc_probe, sizeof(fc_probe));
	if (flipped_before) {
		/* the page becomes a region of two copies */
		RG_CHECK(static_branch_enable(&fc_k2) == 0, "enable");
		RG_CHECK(static_branch_disable(&fc_k2) == 0, "disable");
	}
	RG_CHECK(sc_test_poke_code((void *)(fc_victim + FC_PROBE_AT), fc_probe,
				   sizeof(fc_probe)) == 0,
		 "probe");
	RG_CHECK(pthread_create(&t[0], NULL, runner, NULL) == 0 &&
			 pthread_create(&t[1], NULL, runner, NULL) == 0,
		 "threads");
	RG_CHECK(sc_test_wait_unblocked() == 0, "threads started");
	err = static_branch_enable(&fc_k1);
	RG_CHECK(err <= 0 && fc_a() == (err == 0), "fc_k1: %d, site %d", err,
		 fc_a());
	for (int i = 0; i < 20; i++) {
		toggle_k2(i, false);
		RG_CHECK(victim_is(probed), "the foreign int3 went");
	}
	RG_CHECK(sc_test_poke_code((void *)(fc_victim + FC_PROBE_AT),
				   clean + FC_PROBE_AT, sizeof(fc_probe)) == 0,
		 "probe removed");
	RG_CHECK(victim_is(clean), "victim");
	s0 = sc_test_stats();
	for (int i = 0; i < 20; i++)
		toggle_k2(i, true);
	s1 = sc_test_stats();
	atomic_store(&stop, 1);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	printf("%s: fc_k1 %s; after the probe went: %llu flips, %llu int3 "
	       "fallbacks\n",
	       flipped_before ? "region page" : "file page",
	       err ? strerror(-err) : "enabled", s1.flips - s0.flips,
	       s1.int3_fallbacks - s0.int3_fallbacks);
	if (rg_default_protocol())
		RG_CHECK(s1.int3_fallbacks == s0.int3_fallbacks,
			 "the page does not flip again: %llu int3 fallbacks",
			 s1.int3_fallbacks - s0.int3_fallbacks);
	return 0;
}

static void test_file_page(void **state)
{
	(void)state;
	assert_int_equal((uintptr_t)fc_a % RG_PAGE, 0);
	assert_true(rg_exited(rg_child("file page", scenario, NULL, 30), 0));
}

static void test_region_page(void **state)
{
	(void)state;
	assert_true(
		rg_exited(rg_child("region page", scenario, (void *)1, 30), 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_page),
		cmocka_unit_test(test_region_page),
	};

	sc_test_watchdog(90);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
