/* SPDX-License-Identifier: MIT */
/*
 * Black-box check of inline call sites: inside a target, the return address
 * minus 5 is the call site that called it, and it must hold `e8 rel32`
 * pointing straight at that target (not at the trampoline) right after the
 * module was loaded and after every update; static_call_sites() must list
 * exactly the sites the module's kept relocations name (counted here from
 * the file, independently of the library), all INLINE at the target.
 *
 * Built at -O0 -O1 -O2 -O3 -Os, as a PIE and a non-PIE executable holding
 * bb_mod.c, and as a driver of bb_mod.c built as a shared library linked at
 * build time (BB_LINKED) or dlopen()ed (BB_DLOPEN).  With
 * STATICCALL_INLINE=off in the environment the same program checks that the
 * sites stay as compiled (`call` to the trampoline, none listed) and that
 * the calls are still right.  The dlopen() variant also reloads the module
 * after static_call_set_option("inline", "off").
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_mod.h"
#include "itest.h"

#define MAX_SITES 64

static const struct bb_api *api;
#ifdef BB_DLOPEN
static void *handle;
#endif
static bool inline_on = true;
static int file_sites; /* from the module's file */
static unsigned long n_checks, n_calls, n_updates;

static int expect(int k, int which, int x)
{
	if (which == 0)
		return k ? x * 3 : x + 1;
	return k ? (x + 100) * 3 - 100 : x + 1;
}

/* Call through both sites and look at the instruction that made each call;
 * then compare static_call_sites() with what the sites hold. */
static void check(int k, bool want_inline, const char *when)
{
	struct static_call_site s[MAX_SITES];
	void *ras[2];
	int n;

	for (int which = 0; which < 2; which++) {
		uintptr_t dest;
		int x = 7 + which, r, op;
		*api->last_ra = NULL;
		r = which ? api->call2(x) : api->call1(x);
		n_calls++;
		assert_int_equal(r, expect(k, which, x));
		assert_non_null(*api->last_ra);
		ras[which] = (uint8_t *)*api->last_ra - IT_SITE_LEN;
		op = it_rel32(ras[which], &dest);
		if (op != IT_CALL ||
		    dest != (uintptr_t)(want_inline ? api->fn[k]
						    : api->tramp)) {
			fail_msg("%s: site %p of call%d holds kind %d, to %p; "
				 "expected a call to %p (%s)",
				 when, ras[which], which + 1, op, (void *)dest,
				 want_inline ? api->fn[k] : api->tramp,
				 want_inline ? "the target" : "the trampoline");
		}
		n_checks++;
	}

	n = api->sites(s, MAX_SITES);
	assert_true(n >= 0 && n <= MAX_SITES);
	if (!want_inline) {
		assert_int_equal(n, 0);
		return;
	}
	assert_int_equal(n, file_sites);
	/* a count only: no buffer */
	assert_int_equal(api->sites(NULL, 0), n);
	assert_int_equal(api->sites(s, 1), n);
	for (int i = 0; i < n; i++) {
		uintptr_t dest;
		if (s[i].state != STATIC_CALL_SITE_INLINE ||
		    s[i].target != api->fn[k] || s[i].tail)
			fail_msg("%s: site %p listed as %s tail %d to %p, "
				 "expected INLINE to %p",
				 when, s[i].addr, it_state(s[i].state),
				 s[i].tail, s[i].target, api->fn[k]);
		assert_int_equal(it_rel32(s[i].addr, &dest), IT_CALL);
		assert_int_equal(dest, (uintptr_t)api->fn[k]);
		assert_true(it_same_module(s[i].addr, api->tramp));
		n_checks++;
	}
	for (int which = 0; which < 2; which++) {
		bool listed = false;
		for (int i = 0; i < n; i++)
			listed |= s[i].addr == ras[which];
		if (!listed)
			fail_msg("%s: the site %p of call%d is not listed",
				 when, ras[which], which + 1);
	}
}

static void load(void)
{
#ifdef BB_DLOPEN
	const struct bb_api *(*get)(void);
	handle = dlopen(BB_DLOPEN, RTLD_NOW | RTLD_LOCAL);
	if (!handle)
		fail_msg("dlopen(%s): %s", BB_DLOPEN, dlerror());
	*(void **)&get = dlsym(handle, "bb_api");
	assert_non_null(get);
	api = get();
#else
	api = bb_api();
#endif
}

static void test_blackbox(void **state)
{
	const char *path, *e = getenv("STATICCALL_INLINE");
	struct static_call_stats st0 = sc_test_stats(), st1;

	(void)state;
	inline_on = !(e && strcmp(e, "off") == 0);
	load();
	st1 = sc_test_stats();
	path = it_module_path(api->tramp);
	assert_non_null(path);
	file_sites = it_count_sites(path, "__SCT__bb_op");
	/* both call sites, maybe more if the compiler duplicated one */
	assert_true(file_sites >= 2);
#ifdef BB_DLOPEN
	assert_int_equal(st1.sites_found - st0.sites_found,
			 inline_on ? file_sites : 0);
#endif
	(void)st0;

	/* patched at load: the first call already goes straight there */
	check(0, inline_on, "after load");
	for (int i = 1; i <= 4; i++) {
		assert_int_equal(api->update(i % 2), 0);
		n_updates++;
		check(i % 2, inline_on, "after an update");
	}
	printf("%s (inline %s): %d sites in the file, %lu updates, %lu calls, "
	       "%lu site checks; sites_found %llu\n",
	       path, inline_on ? "on" : "off", file_sites, n_updates, n_calls,
	       n_checks, st1.sites_found);
	assert_int_equal(sc_test_stats().sites_rejected, 0);
}

#ifdef BB_DLOPEN
/* The option, set at run time, applies to modules loaded afterwards. */
static void test_reload_inline_off(void **state)
{
	(void)state;
	if (!inline_on)
		skip();
	assert_int_equal(dlclose(handle), 0);
	assert_int_equal(static_call_set_option("inline", "off"), 0);
	load();
	check(0, false, "reloaded with inline=off");
	assert_int_equal(api->update(1), 0);
	check(1, false, "reloaded with inline=off, updated");
	assert_int_equal(dlclose(handle), 0);
	assert_int_equal(static_call_set_option("inline", "on"), 0);
	load();
	check(0, true, "reloaded with inline=on");
	assert_int_equal(api->update(1), 0);
	check(1, true, "reloaded with inline=on, updated");
	printf("reloaded twice: inline off then on, %lu site checks\n",
	       n_checks);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blackbox),
#ifdef BB_DLOPEN
		cmocka_unit_test(test_reload_inline_off),
#endif
	};

	it_watchdog(20);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
