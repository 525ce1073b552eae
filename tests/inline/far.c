/* SPDX-License-Identifier: MIT */
/*
 * Targets out of rel32 reach.  The executable defines f_op and calls it
 * (a call site and a tail site); a shared library (far_mod.c) calls it
 * through its PLT.  A page is mapped more than 2 GiB away from every site
 * and an 8-byte function (return 4x + 3) written into it (read+write, then
 * read+exec: never both).  Proves that:
 *
 *   - updated to that far function, every site is TRAMPOLINE: its compiled
 *     call/jmp, to the trampoline (executable) or to the PLT entry whose
 *     slot holds the trampoline (library), and calls return 4x + 3;
 *   - updated back to a near target, sites in reach are INLINE again;
 *   - a target in reach of some sites only (a function of the executable,
 *     one of the library) makes exactly those INLINE and the others
 *     TRAMPOLINE, with correct results from all of them;
 *   - code that takes the trampoline's address (here, in the PIE build,
 *     `lea __SCT__f_op(%rip)`: a PC32 relocation like a call's) is no
 *     site and no rejected entry: sites_rejected stays 0.
 *
 * Built as a PIE and as a non-PIE executable.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "far_mod.h"
#include "itest.h"

#define MAX_SITES 32

IT_NOINLINE int f_a(int x) { return x + 1; }
IT_NOINLINE int f_b(int x) { return x * 7; }

DEFINE_STATIC_CALL(f_op, f_a);

IT_NOINLINE int f_call(int x)
{
	int r = static_call(f_op)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}
IT_NOINLINE int f_tail(int x) { return static_call(f_op)(x); }

static int far_ref(int x) { return 4 * x + 3; }
static far_fn_t *far_fn;

static unsigned long n_inline, n_tramp, n_calls, n_updates;

/* Each site: INLINE at @fn when in reach, else its compiled instruction. */
static void check(far_fn_t *fn, int (*ref)(int), int want_inline,
		  const char *when)
{
	struct static_call_site s[MAX_SITES];
	uintptr_t tramp = (uintptr_t)&STATIC_CALL_TRAMP(f_op);
	int n = static_call_sites(f_op, s, MAX_SITES), inl = 0;
	int (*const callers[])(int) = {f_call, f_tail, fm_call, fm_tail};

	assert_true(n >= 4 && n <= MAX_SITES);
	for (int i = 0; i < n; i++) {
		uintptr_t dest, slot;
		int op = it_rel32(s[i].addr, &dest);
		bool reach = !it_far((uintptr_t)s[i].addr, (uintptr_t)fn);
		bool exe = it_same_module(s[i].addr, (void *)tramp);
		assert_int_equal(op, s[i].tail ? IT_TAIL : IT_CALL);
		assert_int_equal(dest, (uintptr_t)s[i].target);
		if (reach) {
			if (s[i].state != STATIC_CALL_SITE_INLINE)
				fail_msg("%s: site %p is %s, expected INLINE",
					 when, s[i].addr, it_state(s[i].state));
			assert_ptr_equal(s[i].target, fn);
			inl++;
			n_inline++;
			continue;
		}
		if (s[i].state != STATIC_CALL_SITE_TRAMPOLINE)
			fail_msg("%s: site %p (%s) is %s, expected TRAMPOLINE",
				 when, s[i].addr,
				 exe ? "executable" : "library",
				 it_state(s[i].state));
		if (exe) {
			assert_int_equal(dest, tramp);
		} else {
			/* the library's PLT entry, bound to the trampoline */
			assert_int_equal(it_plt_slot((void *)dest, &slot), 0);
			assert_int_equal(*(uintptr_t *)slot, tramp);
		}
		n_tramp++;
	}
	if (want_inline >= 0)
		assert_int_equal(inl, want_inline);
	for (int x = 1; x < 5; x++)
		for (int c = 0; c < 4; c++) {
			assert_int_equal(callers[c](x), ref(x));
			n_calls++;
		}
}

#define UPDATE(fn)                                                             \
	do {                                                                   \
		assert_int_equal(static_call_update(f_op, fn), 0);             \
		n_updates++;                                                   \
	} while (0)

static void test_far(void **state)
{
	struct static_call_site s[MAX_SITES];
	uintptr_t near[MAX_SITES + 1];
	int n, n_exe = 0;

	(void)state;
	n = static_call_sites(f_op, s, MAX_SITES);
	assert_true(n >= 4 && n <= MAX_SITES);
	for (int i = 0; i < n; i++) {
		near[i] = (uintptr_t)s[i].addr;
		n_exe += it_same_module(s[i].addr, &STATIC_CALL_TRAMP(f_op));
	}
	assert_true(n_exe >= 2 && n - n_exe >= 2);
	near[n] = (uintptr_t)&STATIC_CALL_TRAMP(f_op);
	far_fn = (far_fn_t *)it_far_code(near, (size_t)n + 1, it_code_4x3,
					 it_code_4x3_len);
	assert_non_null(far_fn);
	printf("%d sites (%d in the executable, %d in the library); far "
	       "function at %p\n",
	       n, n_exe, n - n_exe, (void *)far_fn);

	/* at load: the executable's sites reach f_a, the library's only if
	 * the loader put it close enough (not on x86-64; under qemu-user on
	 * aarch64, within 128 MiB): check() asserts INLINE exactly where the
	 * target is in reach, whatever the layout */
	check(f_a, f_a, -1, "after load");
	UPDATE(far_fn);
	check(far_fn, far_ref, 0, "far target");
	UPDATE(f_b);
	check(f_b, f_b, -1, "back to a near target");
	UPDATE(fm_near);
	check(fm_near, fm_near, -1, "a target in the library");
	UPDATE(far_fn);
	check(far_fn, far_ref, 0, "far target again");
	UPDATE(f_a);
	check(f_a, f_a, -1, "back to the initial target");
	assert_true(n_inline > 0 && n_tramp > 0);
	/* the lea of the trampoline's address above is not a site */
	assert_int_equal(sc_test_stats().sites_rejected, 0);
	assert_int_equal(sc_test_stats().sites_found, n);
	printf("%lu updates: %lu INLINE and %lu TRAMPOLINE site checks, "
	       "%lu calls\n",
	       n_updates, n_inline, n_tramp, n_calls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_far),
	};

	it_watchdog(20);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
