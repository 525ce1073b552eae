/* SPDX-License-Identifier: MIT */
/*
 * Sites nobody discovered keep working through the trampoline.  The
 * executable (linked for inline sites) defines u_op; a shared library
 * linked WITHOUT staticcall_inline() (plain_mod.c) calls u_op through its
 * PLT and defines pm_op, which it calls itself and which the executable
 * calls through its own PLT.  Proves that:
 *
 *   - static_call_sites() lists exactly the executable's sites (as many as
 *     its relocations name; for pm_op the one reached through the
 *     executable's PLT), none in the library;
 *   - the library's sites (found from inside the targets: return address
 *     minus 5) are never written: `call` to the library's PLT entry of
 *     __SCT__u_op, after load and after every update;
 *   - every call from the library is right for every target: near, RET0,
 *     far (a page > 2 GiB away), NULL-free cycles of both static calls.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "itest.h"
#include "plain_mod.h"

#define MAX_SITES 32

static void *volatile last_ra;

IT_NOINLINE int u_a(int x)
{
	last_ra = __builtin_return_address(0);
	return x + 1;
}

IT_NOINLINE int u_b(int x)
{
	last_ra = __builtin_return_address(0);
	return x * 3;
}

DEFINE_STATIC_CALL(u_op, u_a);

IT_NOINLINE int ex_call_u(int x)
{
	int r = static_call(u_op)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}

IT_NOINLINE int ex_call_pm(int x)
{
	int r = static_call(pm_op)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}

static int far_ref(int x) { return 4 * x + 3; }
static int ret0_ref(int x) { return x - x; }
static int a_ref(int x) { return x + 1; }
static int b_ref(int x) { return x * 3; }

static uint8_t *lib_site; /* pm_call_u's call of u_op */
static uint8_t lib_bytes[IT_SITE_LEN];
static unsigned long n_checks, n_calls, n_updates;

/* Listed sites of @key: all in the executable; returns how many. */
static int listed_in_exe(struct static_call_key *key, const char *sym)
{
	struct static_call_site s[MAX_SITES];
	int n = __static_call_sites(key, s, MAX_SITES);

	assert_true(n >= 1 && n <= MAX_SITES);
	assert_int_equal(n, it_count_sites("/proc/self/exe", sym));
	for (int i = 0; i < n; i++) {
		if (!it_same_module(s[i].addr, (void *)ex_call_u))
			fail_msg("%s: site %p outside the executable is listed",
				 sym, s[i].addr);
		assert_true(s[i].addr != lib_site);
		n_checks++;
	}
	return n;
}

/* The library's calls of u_op, right for @ref, its site untouched. */
static void check_u(int (*ref)(int))
{
	for (int x = 1; x < 5; x++) {
		assert_int_equal(pm_call_u(x), ref(x));
		assert_int_equal(pm_tail_u(x), ref(x));
		assert_int_equal(ex_call_u(x), ref(x));
		n_calls += 3;
	}
	assert_memory_equal(lib_site, lib_bytes, IT_SITE_LEN);
	listed_in_exe(&STATIC_CALL_KEY(u_op), "__SCT__u_op");
}

static void test_undiscovered(void **state)
{
	struct static_call_site s[MAX_SITES];
	uintptr_t dest, slot, near[MAX_SITES + 2];
	void *far;
	int n;

	(void)state;
	/* the library's site, seen from the target */
	assert_int_equal(pm_call_u(1), 2);
	lib_site = (uint8_t *)last_ra - IT_SITE_LEN;
	assert_false(it_same_module(lib_site, (void *)ex_call_u));
	memcpy(lib_bytes, lib_site, IT_SITE_LEN);
	assert_int_equal(it_rel32(lib_site, &dest), IT_CALL);
	assert_int_equal(it_plt_slot((void *)dest, &slot), 0);
	assert_int_equal(*(uintptr_t *)slot,
			 (uintptr_t)&STATIC_CALL_TRAMP(u_op));

	n = static_call_sites(u_op, s, MAX_SITES);
	assert_true(n >= 1 && n <= MAX_SITES);
	for (int i = 0; i < n; i++)
		near[i] = (uintptr_t)s[i].addr;
	near[n] = (uintptr_t)lib_site;
	near[n + 1] = (uintptr_t)&STATIC_CALL_TRAMP(u_op);
	far = it_far_code(near, (size_t)n + 2, it_code_4x3, it_code_4x3_len);
	assert_non_null(far);

	check_u(a_ref);
	assert_int_equal(static_call_update(u_op, u_b), 0);
	check_u(b_ref);
	assert_int_equal(static_call_update(u_op, static_call_return0), 0);
	check_u(ret0_ref);
	assert_int_equal(static_call_update(u_op, (u_fn_t *)far), 0);
	check_u(far_ref);
	assert_int_equal(static_call_update(u_op, u_a), 0);
	check_u(a_ref);
	n_updates += 4;

	/* pm_op: the executable's site through its PLT is listed, the
	 * library's own is not */
	n = listed_in_exe(&STATIC_CALL_KEY(pm_op), "__SCT__pm_op");
	assert_int_equal(pm_call_own(1), 6);
	assert_int_equal(ex_call_pm(1), 6);
	assert_int_equal(static_call_update(pm_op, u_b), 0);
	n_updates++;
	assert_int_equal(static_call_sites(pm_op, s, MAX_SITES), n);
	for (int i = 0; i < n; i++) {
		/* u_b is in the executable, in reach of its sites */
		assert_int_equal(s[i].state, STATIC_CALL_SITE_INLINE);
		assert_ptr_equal(s[i].target, u_b);
	}
	for (int x = 1; x < 5; x++) {
		assert_int_equal(pm_call_own(x), x * 3);
		assert_int_equal(ex_call_pm(x), x * 3);
		n_calls += 2;
	}
	assert_int_equal(static_call_update(pm_op, static_call_return0), 0);
	n_updates++;
	assert_int_equal(pm_call_own(7), 0);
	assert_int_equal(ex_call_pm(7), 0);
	n_calls += 2;
	assert_int_equal(sc_test_stats().sites_rejected, 0);
	printf("library site %p never listed nor written; %d executable "
	       "site(s) of pm_op via its PLT; %lu updates, %lu site checks, "
	       "%lu calls\n",
	       (void *)lib_site, n, n_updates, n_checks, n_calls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_undiscovered),
	};

	it_watchdog(20);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
