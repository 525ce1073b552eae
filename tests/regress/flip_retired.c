/* SPDX-License-Identifier: MIT */
/*
 * Issue 13.11 / 14: dlclose() of a plug-in from the trace hook (inside an
 * update, on the updating thread) while the batch holds page flips of the
 * plug-in's code, repeated.
 *
 * 40 rounds, each: dlopen() the plug-in (sites of the executable's key
 * rg_exe_key), arm the hook, toggle rg_exe_key; the hook unloads the
 * plug-in at STATIC_CALL_TRACE_BEGIN.  Even rounds load the plug-in with
 * the key disabled (its page becomes a NEW region in the toggle), odd
 * rounds with the key enabled (its page is a region since its load).
 * Asserts: every toggle returns 0 and the executable's site follows (the
 * engine's promise: the pokes of code that went leave the batch, the
 * others go on); from round 10 to round 40 the memory of the process's
 * memfds grows by at most 64 KiB.  A second case unloads the plug-in from
 * the hook of an update of the executable's own static call, 40 rounds:
 * every update returns 0 and the call reaches the new target.
 *
 * On the code of the page-flip merge (main at 6caf2a0): the step over the
 * plug-in's pages is "dropped" by setting its page count to 0
 * (src/flip.c, sc_flip_drop_retired()) but still mapped: mmap(len 0)
 * fails, the whole toggle returns -EINVAL; and a new region's copies,
 * already written, are never given back (freed with a page count of 0).
 * Both cases also fail at round 16 or 17: the table of retired code
 * ranges (src/os.c, 64 entries, 4 per unload of the plug-in) is never
 * emptied, and once full every address counts as retired, so the update
 * leaves out every poke and returns 0 with nothing changed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "regress.h"

#define ROUNDS 40
#define WARMUP 10

__attribute__((noinline)) static int exe_probe(void)
{
	return static_branch_unlikely(&rg_exe_key) ? 1 : 0;
}

static int op_a(int x) { return x * 4 + 1; }
static int op_b(int x) { return x * 4 + 2; }
DEFINE_STATIC_CALL(rg_rt_op, op_a);

static struct rg_mod mod;

static int scenario(void *arg)
{
	long long b0 = 0, b1;
	int n0, n1;
	(void)arg;

	for (int round = 0; round < ROUNDS; round++) {
		int on = round & 1, err;
		if (round == WARMUP)
			b0 = rg_memfd_bytes(&n0);
		RG_CHECK((on ? static_branch_enable(&rg_exe_key)
			     : static_branch_disable(&rg_exe_key)) == 0,
			 "round %d: set the key", round);
		RG_CHECK(rg_mod_open(RG_MOD, &mod) == 0, "dlopen");
		RG_CHECK(mod.probe_exe() == on, "round %d: plug-in's site",
			 round);
		rg_unload_at_next_begin(&mod);
		err = on ? static_branch_disable(&rg_exe_key)
			 : static_branch_enable(&rg_exe_key);
		RG_CHECK(rg_unload_hook_off() == 0,
			 "round %d: the hook did not unload", round);
		RG_CHECK(err == 0,
			 "round %d: toggle with the plug-in unloaded from the "
			 "hook: %s",
			 round, strerror(-err));
		RG_CHECK(exe_probe() == !on, "round %d: site %d, key %d", round,
			 exe_probe(), !on);
	}
	b1 = rg_memfd_bytes(&n1);
	printf("memfd memory after %d rounds: %lld KiB (%d memfds); after %d: "
	       "%lld KiB (%d memfds)\n",
	       WARMUP, b0 / 1024, n0, ROUNDS, b1 / 1024, n1);
	RG_CHECK(b0 >= 0 && b1 >= 0, "memfd memory");
	RG_CHECK(b1 - b0 <= 64 * 1024, "memfd memory grew by %lld KiB",
		 (b1 - b0) / 1024);
	return 0;
}

static int updates(void *arg)
{
	(void)arg;

	for (int round = 0; round < ROUNDS; round++) {
		int (*to)(int) = round & 1 ? op_a : op_b, err;
		RG_CHECK(rg_mod_open(RG_MOD, &mod) == 0, "dlopen");
		rg_unload_at_next_begin(&mod);
		err = static_call_update(rg_rt_op, to);
		RG_CHECK(rg_unload_hook_off() == 0,
			 "round %d: the hook did not unload", round);
		RG_CHECK(err == 0,
			 "round %d: update with the plug-in unloaded from the "
			 "hook: %s",
			 round, strerror(-err));
		RG_CHECK(static_call(rg_rt_op)(3) == to(3),
			 "round %d: the call gives %d, want %d", round,
			 static_call(rg_rt_op)(3), to(3));
	}
	return 0;
}

static void test_unload_during_updates(void **state)
{
	(void)state;
	assert_true(rg_exited(
		rg_child("unload from the hook, updates", updates, NULL, 30),
		0));
}

static void test_unload_during_flips(void **state)
{
	(void)state;
	assert_true(rg_exited(
		rg_child("unload from the hook, flips", scenario, NULL, 30),
		0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unload_during_flips),
		cmocka_unit_test(test_unload_during_updates),
	};

	sc_test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
