/* SPDX-License-Identifier: MIT */
/*
 * A module unloaded while its key is updated.  The executable defines d_op;
 * the module dlloop_mod.c (linked for inline sites) calls it from a call
 * site and a tail site through its PLT.  The main thread dlopen()s and
 * dlclose()s the module in a loop while an updater thread cycles d_op over
 * A, B, RET0 and a far function, and two caller threads call into the
 * module whenever it is loaded (and into the executable's own sites at all
 * times).  Proves that: every result is legal (itgen.h: wrong == 0); every
 * update succeeds; after each dlopen() static_call_sites() lists the
 * module's sites, none CHANGED; after each dlclose() only the executable's
 * sites are left; nothing crashes (an update never writes into an
 * unloaded module, a load never misses an update).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"
#include "itgen.h"

#ifndef DM_PATH
#error "DM_PATH: the module to load"
#endif

#define CALLERS 2
#define MAX_SITES 32
#define XMAX 0xfffff

typedef int d_fn_t(int x);

IT_NOINLINE int d_a(int x) { return x * 4 + 1; }
IT_NOINLINE int d_b(int x) { return x * 4 + 2; }

DEFINE_STATIC_CALL(d_op, d_a);

IT_NOINLINE int d_call(int x)
{
	int r = static_call(d_op)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}

static void *target[4]; /* 0 A, 1 B, 2 RET0, 3 far */

static struct itg gen;
static struct itg_counts exe_counts, mod_counts;
static _Atomic int stop, start_updates;
static _Atomic unsigned long n_updates, n_errors, n_refused;
static _Atomic int first_error;

/* The module, while it is loaded: callers hold the read side. */
static pthread_rwlock_t mod_lock;
static d_fn_t *mod_call, *mod_tail;

static int decode(int x, int r)
{
	static const int k_of_low[4] = {-1, 0, 1, 3};

	if (r == 0)
		return 2;
	return r >> 2 == x ? k_of_low[r & 3] : -1;
}

static void checked(d_fn_t *fn, int x, struct itg_counts *cnt)
{
	unsigned long c = itg_before(&gen);
	int r = fn(x);
	unsigned long p = itg_after(&gen);

	itg_count(cnt, itg_check(&gen, c, p, decode(x, r)));
}

static void *caller(void *arg)
{
	int x = (int)(intptr_t)arg * 1000 + 1;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		pthread_rwlock_rdlock(&mod_lock);
		for (int i = 0; mod_call && i < 256; i++) {
			checked(mod_call, x, &mod_counts);
			checked(mod_tail, x, &mod_counts);
			x = x % XMAX + 1;
		}
		pthread_rwlock_unlock(&mod_lock);
		for (int i = 0; i < 64; i++) {
			checked(d_call, x, &exe_counts);
			x = x % XMAX + 1;
		}
	}
	return NULL;
}

/* -EAGAIN (nothing written) is retried, as in concurrent.c. */
static void *updater(void *arg)
{
	(void)arg;
	while (!atomic_load(&start_updates))
		usleep(100);
	for (unsigned int i = 1; !atomic_load(&stop); i++) {
		int k = (int)(i % 4), err;
		unsigned long g = itg_publish(&gen, k);
		while ((err = static_call_update(d_op, (d_fn_t *)target[k])) ==
			       -EAGAIN &&
		       !atomic_load(&stop)) {
			atomic_fetch_add(&n_refused, 1);
			usleep(100);
		}
		if (err == -EAGAIN)
			break; /* stopped while refused */
		if (err) {
			int none = 0;
			atomic_fetch_add(&n_errors, 1);
			atomic_compare_exchange_strong(&first_error, &none,
						       err);
			break;
		}
		itg_commit(&gen, g);
		atomic_fetch_add(&n_updates, 1);
	}
	return NULL;
}

/* The sites of d_op: how many lie in the module of @in (NULL: any). */
static int count_sites(const void *in, int *total)
{
	struct static_call_site s[MAX_SITES];
	int n = static_call_sites(d_op, s, MAX_SITES), in_mod = 0;

	assert_true(n > 0 && n <= MAX_SITES);
	for (int i = 0; i < n; i++) {
		if (s[i].state == STATIC_CALL_SITE_CHANGED)
			fail_msg("site %p is CHANGED", s[i].addr);
		in_mod += in && it_same_module(s[i].addr, in);
	}
	*total = n;
	return in_mod;
}

static void test_dlloop(void **state)
{
	struct static_call_site s[MAX_SITES];
	uintptr_t near[MAX_SITES + 1];
	pthread_t callers[CALLERS], upd;
	pthread_rwlockattr_t attr;
	struct static_call_stats st0, st1;
	double secs = sc_test_seconds(2.0), end;
	unsigned long loads = 0;
	int exe_sites, mod_sites = -1, n;

	(void)state;
	exe_sites = static_call_sites(d_op, s, MAX_SITES);
	assert_true(exe_sites >= 1 && exe_sites <= MAX_SITES);
	for (int i = 0; i < exe_sites; i++)
		near[i] = (uintptr_t)s[i].addr;
	near[exe_sites] = (uintptr_t)&STATIC_CALL_TRAMP(d_op);
	target[0] = (void *)d_a;
	target[1] = (void *)d_b;
	target[2] = static_call_return0;
	target[3] = it_far_code(near, (size_t)exe_sites + 1, it_code_4x3,
				it_code_4x3_len);
	assert_non_null(target[3]);
	itg_init(&gen, 0);
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(
		&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&mod_lock, &attr);

	st0 = sc_test_stats();
	for (int i = 0; i < CALLERS; i++)
		assert_int_equal(pthread_create(&callers[i], NULL, caller,
						(void *)(intptr_t)i),
				 0);
	assert_int_equal(pthread_create(&upd, NULL, updater, NULL), 0);
	/* every new thread running (not blocking SIGTRAP) before patching */
	assert_int_equal(it_settle(), 0);
	atomic_store(&start_updates, 1);
	end = sc_now() + secs;
	/* at least 10 loads, even on a loaded machine (the watchdog bounds) */
	while ((sc_now() < end || loads < 10) && !atomic_load(&n_errors)) {
		void *h;
		int in_mod;
		pthread_rwlock_wrlock(&mod_lock);
		h = dlopen(DM_PATH, RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			pthread_rwlock_unlock(&mod_lock);
			fail_msg("dlopen(%s): %s", DM_PATH, dlerror());
		}
		*(void **)&mod_call = dlsym(h, "dm_call");
		*(void **)&mod_tail = dlsym(h, "dm_tail");
		pthread_rwlock_unlock(&mod_lock);
		assert_non_null(mod_call);
		assert_non_null(mod_tail);
		loads++;
		in_mod = count_sites((void *)mod_call, &n);
		if (mod_sites < 0)
			mod_sites = in_mod;
		assert_true(in_mod >= 2);
		assert_int_equal(in_mod, mod_sites);
		assert_int_equal(n, exe_sites + mod_sites);
		usleep(2000); /* the callers call into the module */

		pthread_rwlock_wrlock(&mod_lock);
		mod_call = mod_tail = NULL;
		assert_int_equal(dlclose(h), 0);
		pthread_rwlock_unlock(&mod_lock);
		count_sites(NULL, &n);
		assert_int_equal(n, exe_sites);
	}
	atomic_store(&stop, 1);
	pthread_join(upd, NULL);
	for (int i = 0; i < CALLERS; i++)
		pthread_join(callers[i], NULL);
	st1 = sc_test_stats();
	pthread_rwlock_destroy(&mod_lock);

	printf("%lu loads of a module with %d sites (executable: %d), "
	       "%lu updates, %lu errors, %lu refused (EAGAIN, retried)\n",
	       loads, mod_sites, exe_sites, (unsigned long)n_updates,
	       (unsigned long)n_errors, (unsigned long)n_refused);
	printf("calls: module %lu (wrong %lu, unknown %lu), executable %lu "
	       "(wrong %lu, unknown %lu); traps emulated %llu; sites found "
	       "%llu\n",
	       (unsigned long)mod_counts.calls, (unsigned long)mod_counts.wrong,
	       (unsigned long)mod_counts.unknown,
	       (unsigned long)exe_counts.calls, (unsigned long)exe_counts.wrong,
	       (unsigned long)exe_counts.unknown,
	       st1.traps_emulated - st0.traps_emulated,
	       st1.sites_found - st0.sites_found);
	if (n_errors)
		fail_msg("an update failed: %s", strerror(-first_error));
	assert_int_equal(mod_counts.wrong, 0);
	assert_int_equal(exe_counts.wrong, 0);
	assert_true(loads >= 10);
	assert_true(n_updates >= 10);
	assert_true(mod_counts.calls > 0);
	assert_int_equal(st1.sites_found - st0.sites_found,
			 loads * (unsigned long)mod_sites);
	assert_int_equal(st1.sites_rejected, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dlloop),
	};

	it_watchdog(sc_test_seconds(2.0) + 30);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
