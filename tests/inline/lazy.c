/* SPDX-License-Identifier: MIT */
/*
 * Sites behind lazily bound PLT slots.  lazy_mod.c is linked with
 * --emit-relocs and lazy binding and dlopen()ed with RTLD_LAZY: its sites
 * of the executable's l_op1 and l_op2 are "pending" until the dynamic
 * linker binds their slots at the first call.  Proves that:
 *
 *   - pending sites are not listed and keep working through the PLT;
 *   - once bound, a site joins its static call at the next update (INLINE);
 *   - a batch that updates a static call whose sites are in place AND one
 *     whose site joins during that very batch leaves every site recorded
 *     right: no CHANGED state, and later updates reach every site.  (Joining
 *     re-sorts the module's site array; pokes made earlier in the batch held
 *     pointers into it, so the new bytes of one site were recorded for
 *     another, and a later update that "changed nothing" at the first site
 *     left it calling the old target while returning 0.)
 *
 * Run in both orders (l_op1 bound first, then l_op2 first), since which
 * one moves the other depends on where the linker put keys and trampolines.
 *
 * Also: sites brought to their target at load (RTLD_NOW) when that target
 * is a thunk `jmp *l_fp(%rip)` through a writable pointer that holds
 * __static_call_return0 at the time are not made RET0 (xor): they must
 * follow l_fp when it changes.  Only a PLT slot in RELRO (bound for good)
 * makes a trampoline's jmp through a PLT entry RET0.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#ifndef LZ_PATH
#error "LZ_PATH: the lazily bound module"
#endif

#define MAX_SITES 8

typedef int l_fn_t(int x);

IT_NOINLINE int l_id1(int x) { return x; }
int l_id2(int x);

DEFINE_STATIC_CALL(l_op1, l_id1);
DECLARE_STATIC_CALL(l_op2, l_fn_t);

struct mod {
	void *h;
	l_fn_t *call[2], *a, *b;
};

static unsigned long n_checks, n_calls, n_batches;

static void sym(struct mod *m, l_fn_t **f, const char *name)
{
	*(void **)f = dlsym(m->h, name);
	assert_non_null(*f);
}

static int update(int which, l_fn_t *f)
{
	return which ? static_call_update(l_op2, f)
		     : static_call_update(l_op1, f);
}

static int sites(int which, struct static_call_site *s)
{
	return which ? static_call_sites(l_op2, s, MAX_SITES)
		     : static_call_sites(l_op1, s, MAX_SITES);
}

/* Static call @which: calls right for @f, its site listed @want times and
 * INLINE at @f. */
static void check(const struct mod *m, int which, l_fn_t *f, int want)
{
	struct static_call_site s[MAX_SITES];
	int n = sites(which, s);

	for (int x = 1; x < 4; x++) {
		assert_int_equal(m->call[which](x), f(x));
		n_calls++;
	}
	assert_int_equal(n, want);
	for (int i = 0; i < n; i++) {
		uintptr_t dest;
		if (s[i].state != STATIC_CALL_SITE_INLINE ||
		    s[i].target != (void *)f)
			fail_msg("l_op%d: site %p is %s to %p, expected INLINE "
				 "to %p",
				 which + 1, s[i].addr, it_state(s[i].state),
				 s[i].target, (void *)f);
		assert_int_equal(it_rel32(s[i].addr, &dest), IT_CALL);
		assert_int_equal(dest, (uintptr_t)f);
		n_checks++;
	}
}

/* Bind @first's slot and update it; bind @second's slot (no query, no
 * update: still pending); then one batch for both. */
static void scenario(int first)
{
	struct static_call_site s[MAX_SITES];
	struct static_call_batch_entry ents[2];
	struct static_call_batch b;
	int second = !first;
	struct mod m;

	m.h = dlopen(LZ_PATH, RTLD_LAZY | RTLD_LOCAL);
	if (!m.h)
		fail_msg("dlopen(%s): %s", LZ_PATH, dlerror());
	sym(&m, &m.call[0], "lm_call1");
	sym(&m, &m.call[1], "lm_call2");
	sym(&m, &m.a, "lm_a");
	sym(&m, &m.b, "lm_b");
	if (sites(0, s) != 0 || sites(1, s) != 0) {
		dlclose(m.h);
		skip(); /* bound at load: LD_BIND_NOW? */
	}

	/* first: bound by its first call, joins at the next update */
	assert_int_equal(m.call[first](5), 5);
	assert_int_equal(update(first, m.a), 0);
	check(&m, first, m.a, 1);

	/* second: bound, still pending; both in one batch */
	assert_int_equal(m.call[second](5), 5);
	static_call_batch_init(&b, ents, 2);
	static_call_batch_add(&b, l_op1, first == 0 ? m.b : m.a);
	static_call_batch_add(&b, l_op2, first == 1 ? m.b : m.a);
	assert_int_equal(static_call_batch_commit(&b), 0);
	n_batches++;
	check(&m, first, m.b, 1);
	check(&m, second, m.a, 1);

	/* every site reached by later updates */
	assert_int_equal(update(first, m.a), 0);
	check(&m, first, m.a, 1);
	assert_int_equal(update(second, m.b), 0);
	check(&m, second, m.b, 1);
	assert_int_equal(update(first, m.b), 0);
	check(&m, first, m.b, 1);

	/* away from the module before it goes */
	assert_int_equal(static_call_update(l_op1, l_id1), 0);
	assert_int_equal(static_call_update(l_op2, l_id2), 0);
	assert_int_equal(dlclose(m.h), 0);
}

static void test_lazy_op1_first(void **state)
{
	(void)state;
	scenario(0);
}

IT_NOINLINE int l_plus100(int x) { return x + 100; }

/* A writable function pointer and a thunk through it (jmp *l_fp(%rip)). */
l_fn_t *l_fp;
IT_NOINLINE int l_thunk(int x) { return l_fp(x); }

static void test_thunk_not_ret0(void **state)
{
	struct static_call_site s[MAX_SITES];
	l_fn_t *call;
	void *h;
	int n;

	(void)state;
	l_fp = (l_fn_t *)static_call_return0;
	assert_int_equal(static_call_update(l_op1, l_thunk), 0);
	h = dlopen(LZ_PATH, RTLD_NOW | RTLD_LOCAL); /* sites synced at load */
	if (!h)
		fail_msg("dlopen(%s): %s", LZ_PATH, dlerror());
	*(void **)&call = dlsym(h, "lm_call1");
	assert_non_null(call);
	n = static_call_sites(l_op1, s, MAX_SITES);
	assert_int_equal(n, 1);
	assert_int_not_equal(s[0].state, STATIC_CALL_SITE_RET0);
	assert_int_equal(call(5), 0);
	l_fp = l_plus100;
	assert_int_equal(call(5), 105);
	printf("thunk target: site %s, follows its pointer\n",
	       it_state(s[0].state));
	assert_int_equal(static_call_update(l_op1, l_id1), 0);
	assert_int_equal(dlclose(h), 0);
}

static void test_lazy_op2_first(void **state)
{
	(void)state;
	scenario(1);
	printf("lazily bound sites: %lu batches with a site joining, %lu site "
	       "checks, %lu calls, %llu rejected\n",
	       n_batches, n_checks, n_calls, sc_test_stats().sites_rejected);
	assert_int_equal(sc_test_stats().sites_rejected, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lazy_op1_first),
		cmocka_unit_test(test_lazy_op2_first),
		cmocka_unit_test(test_thunk_not_ret0),
	};

	it_watchdog(20);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
