/* SPDX-License-Identifier: MIT */
/*
 * Issue 13, item 10: perf_map=on while modules come and go.
 *
 * With STATICCALL_PERF_MAP=on: two threads each dlopen() a plug-in (two
 * files of rg_mod.c), retarget its static call twice (its trampoline page
 * is new at every load, so each load asks for a perf map entry), check
 * the call, and dlclose() it, in a loop; the main thread retargets a
 * static call of the executable and toggles a key meanwhile.  Asserts:
 * 2 s of this end (no deadlock: the watchdog would kill the process with
 * status 99 and every thread's state printed), every update returns 0,
 * every call reaches the target just installed.
 *
 * On the code of issue 13: the perf map is written with dladdr() under
 * the patch lock; dladdr() waits for the loader's lock, which a dlopen()
 * or dlclose() in the other thread holds while its module's constructor
 * or destructor waits for the patch lock: a deadlock, found by the
 * watchdog.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "regress.h"

static int op_a(int x) { return x * 4 + 1; }
static int op_b(int x) { return x * 4 + 2; }
DEFINE_STATIC_CALL(rg_pm_op, op_a);

__attribute__((noinline)) static int exe_probe(void)
{
	return static_branch_unlikely(&rg_exe_key) ? 1 : 0;
}

static _Atomic int stop;
static _Atomic unsigned long loads;

static void *loader(void *arg)
{
	const char *path = arg;

	while (!atomic_load(&stop)) {
		struct rg_mod m;
		RG_CHECK(rg_mod_open(path, &m) == 0, "dlopen %s", path);
		for (int k = 1; k >= 0; k--) {
			int err = m.update(k);
			RG_CHECK(err == 0, "update in the plug-in: %s",
				 strerror(-err));
			RG_CHECK(rgm_decode(5, m.call(5)) == k,
				 "the plug-in's call reaches %d, not %d",
				 rgm_decode(5, m.call(5)), k);
		}
		RG_CHECK(rg_mod_close(&m) == 0, "dlclose");
		atomic_fetch_add(&loads, 1);
	}
	return NULL;
}

static void test_perf_map_with_dlopen(void **state)
{
	unsigned long updates = 0;
	pthread_t t[2];
	double end;
	(void)state;

	assert_int_equal(static_call_set_option("perf_map", "on"), 0);
	rg_thread(&t[0], loader, RG_MOD);
	rg_thread(&t[1], loader, RG_MOD2);
	end = sc_now() + sc_test_seconds(2.0);
	while (sc_now() < end) {
		assert_int_equal(static_call_update(rg_pm_op, op_b), 0);
		assert_int_equal(static_call(rg_pm_op)(3), op_b(3));
		assert_int_equal(static_call_update(rg_pm_op, op_a), 0);
		assert_int_equal(static_call(rg_pm_op)(3), op_a(3));
		assert_int_equal(static_branch_enable(&rg_exe_key), 0);
		assert_int_equal(exe_probe(), 1);
		assert_int_equal(static_branch_disable(&rg_exe_key), 0);
		assert_int_equal(exe_probe(), 0);
		updates += 4;
	}
	atomic_store(&stop, 1);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	printf("perf_map=on: %lu plug-in loads, %lu updates and toggles, no "
	       "deadlock\n",
	       atomic_load(&loads), updates);
	assert_true(atomic_load(&loads) > 0);
	sc_test_perf_map_remove();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_perf_map_with_dlopen),
	};

	sc_test_watchdog(20 + 2 * sc_test_seconds(2.0));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
