/* SPDX-License-Identifier: MIT */
/*
 * Issue 13, item 11 (first half): dlclose() of a module from inside an
 * update on the same thread (from the trace hook, static_call_trace_hook,
 * which the engine calls with its patch lock held).
 *
 * The promise this test holds the library to: such a dlclose() is
 * survived; the update under way returns 0 or a negative errno; the
 * unloaded module's sites are forgotten (its table is never read again,
 * nothing is mapped or written where its code was); every later update
 * and toggle works (returns 0, every remaining site follows); the module
 * loaded again comes up in its keys' current state and follows toggles.
 *
 * Two cases, each in a fork child (a crash is reported, not fatal to the
 * test): (a) the plug-in, holding sites of the executable's enabled key
 * rg_exe_key, is unloaded from the hook during an update of an unrelated
 * static call; (b) it is unloaded from the hook during a toggle of
 * rg_exe_key itself, whose batch holds the plug-in's sites.
 *
 * On the code of issue 13: the module's destructor cannot take the patch
 * lock (-EDEADLK) and returns silently, leaving the library with a pointer
 * to the unmapped jump table: the next toggle of rg_exe_key reads it and
 * the child dies of SIGSEGV.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "regress.h"

static int op_a(int x) { return x * 4 + 1; }
static int op_b(int x) { return x * 4 + 2; }
DEFINE_STATIC_CALL(rg_ul_op, op_a);

__attribute__((noinline)) static int exe_probe(void)
{
	return static_branch_unlikely(&rg_exe_key) ? 1 : 0;
}

static struct rg_mod mod;

/* Is @addr mapped, and by a memfd? 0 not mapped, 1 mapped, 2 memfd. */
static int mapped(uintptr_t addr)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int r = 0;

	RG_CHECK(f != NULL, "maps");
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && addr >= lo &&
		    addr < hi)
			r = strstr(line, "memfd:") ? 2 : 1;
	}
	fclose(f);
	return r;
}

static void toggles_work(const char *when)
{
	for (int i = 0; i < 4; i++) {
		int on = i % 2, err;
		err = on ? static_branch_enable(&rg_exe_key)
			 : static_branch_disable(&rg_exe_key);
		RG_CHECK(err == 0, "%s: toggle to %d: %d (%s)", when, on, err,
			 strerror(-err));
		RG_CHECK(exe_probe() == on, "%s: site %d, key %d", when,
			 exe_probe(), on);
	}
}

static int scenario(void *arg)
{
	int during_toggle = (int)(intptr_t)arg, err, closed;
	uintptr_t code;

	RG_CHECK(static_branch_enable(&rg_exe_key) == 0, "enable");
	RG_CHECK(rg_mod_open(RG_MOD, &mod) == 0, "dlopen");
	RG_CHECK(mod.probe_exe() == 1, "plug-in site after load");
	code = (uintptr_t)mod.probe_exe;
	rg_unload_at_next_begin(&mod);
	if (during_toggle)
		err = static_branch_disable(&rg_exe_key);
	else
		err = static_call_update(rg_ul_op, op_b);
	closed = rg_unload_hook_off();
	printf("%s with the plug-in unloaded from the trace hook: %d (%s); "
	       "dlclose: %d\n",
	       during_toggle ? "toggle" : "update", err,
	       err ? strerror(-err) : "ok", closed);
	RG_CHECK(closed == 0, "the hook did not unload the plug-in");
	RG_CHECK(err <= 0, "returned %d", err);
	if (!during_toggle && err == 0)
		RG_CHECK(static_call(rg_ul_op)(3) == op_b(3), "new target");
	if (during_toggle)
		RG_CHECK(exe_probe() == static_key_enabled(&rg_exe_key),
			 "site %d, key %d", exe_probe(),
			 static_key_enabled(&rg_exe_key));
	RG_CHECK(mapped(code) != 2, "a memfd is mapped where the unloaded "
				    "plug-in's code was");

	toggles_work("after the unload");
	RG_CHECK(static_call_update(rg_ul_op, op_a) == 0, "update");
	RG_CHECK(static_call(rg_ul_op)(3) == op_a(3), "target");

	/* loaded again (maybe at the same address): in the key's state */
	RG_CHECK(static_branch_enable(&rg_exe_key) == 0, "enable");
	RG_CHECK(rg_mod_open(RG_MOD, &mod) == 0, "dlopen again");
	RG_CHECK(mod.probe_exe() == 1, "reloaded plug-in: site %d, key on",
		 mod.probe_exe());
	RG_CHECK(static_branch_disable(&rg_exe_key) == 0, "disable");
	RG_CHECK(mod.probe_exe() == 0 && exe_probe() == 0, "sites follow");
	RG_CHECK(static_branch_enable(&rg_exe_key) == 0, "enable");
	RG_CHECK(mod.probe_exe() == 1 && exe_probe() == 1, "sites follow");
	RG_CHECK(rg_mod_close(&mod) == 0, "dlclose");
	toggles_work("at the end");
	return 0;
}

static void test_unload_during_update(void **state)
{
	(void)state;
	assert_true(rg_exited(rg_child("unload from the hook of an update",
				       scenario, (void *)(intptr_t)0, 20),
			      0));
}

static void test_unload_during_toggle(void **state)
{
	(void)state;
	assert_true(rg_exited(rg_child("unload from the hook of a toggle",
				       scenario, (void *)(intptr_t)1, 20),
			      0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unload_during_update),
		cmocka_unit_test(test_unload_during_toggle),
	};

	sc_test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
