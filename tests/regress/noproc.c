/* SPDX-License-Identifier: MIT */
/*
 * Issue 13, item 4: no /proc.
 *
 * In a fork child, in a mount namespace of its own (unshare(CLONE_NEWUSER |
 * CLONE_NEWNS), or CLONE_NEWNS alone for root) with a tmpfs over /proc, the
 * plug-in linked for inline call sites is dlopen()ed; then the executable's
 * key (which has sites in the plug-in), the plug-in's own key and its
 * static call (whose call site in rgm_call() is an inline site) are
 * changed.  Asserts, for each: the change returns 0 and every site takes
 * the new path / reaches the new target, or it returns a negative errno
 * and nothing changed; never 0 with a site left behind.  Exit status 77
 * (ctest: skipped) when no such namespace can be made here.
 *
 * On the code of issue 13: the plug-in's key sites are "ignored" at load
 * (their mapping cannot be looked up), then static_branch_enable() returns
 * 0 and static_key_enabled() says 1 while the plug-in's site still takes
 * the disabled path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "regress.h"

__attribute__((noinline)) static int exe_probe(void)
{
	return static_branch_unlikely(&rg_exe_key) ? 1 : 0;
}

static int scenario(void *arg)
{
	struct rg_mod m;
	int err, hidden = rg_hide_proc();
	(void)arg;

	if (hidden)
		return hidden;
	RG_CHECK(rg_mod_open(RG_MOD_INLINE, &m) == 0, "dlopen without /proc");
	RG_CHECK(m.probe_exe() == 0 && exe_probe() == 0, "key off");

	/* a key with sites in the executable and in the plug-in */
	err = static_branch_enable(&rg_exe_key);
	printf("no /proc: static_branch_enable: %d (%s); key %d; sites: "
	       "executable %d, plug-in %d\n",
	       err, err ? strerror(-err) : "ok",
	       static_key_enabled(&rg_exe_key), exe_probe(), m.probe_exe());
	RG_CHECK(err <= 0, "enable returned %d", err);
	if (err == 0)
		RG_CHECK(exe_probe() == 1 && m.probe_exe() == 1,
			 "enable returned 0, a site still takes the disabled "
			 "path (executable %d, plug-in %d)",
			 exe_probe(), m.probe_exe());
	else
		RG_CHECK(!static_key_enabled(&rg_exe_key) && exe_probe() == 0 &&
				 m.probe_exe() == 0,
			 "a failed enable changed something");

	/* the plug-in's own key */
	err = m.toggle(1);
	printf("no /proc: the plug-in's key: %d (%s); its site: %d\n", err,
	       err ? strerror(-err) : "ok", m.probe_own());
	RG_CHECK(err <= 0, "enable returned %d", err);
	RG_CHECK(m.probe_own() == (err == 0),
		 "the plug-in's key site reads "
		 "%d after a toggle that "
		 "returned %d",
		 m.probe_own(), err);

	/* the plug-in's static call, with an inline call site */
	err = m.update(1);
	printf("no /proc: static call update: %d (%s); the call site "
	       "reaches target %d\n",
	       err, err ? strerror(-err) : "ok", rgm_decode(7, m.call(7)));
	RG_CHECK(err <= 0, "update returned %d", err);
	RG_CHECK(rgm_decode(7, m.call(7)) == (err == 0 ? 1 : 0),
		 "the call site reaches target %d after an update that "
		 "returned %d",
		 rgm_decode(7, m.call(7)), err);
	return 0;
}

static bool skipped;

static void test_no_proc(void **state)
{
	int status = rg_child("no /proc", scenario, NULL, 20);
	(void)state;

	if (rg_exited(status, RG_SKIP)) {
		skipped = true;
		skip();
	}
	assert_true(rg_exited(status, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_proc),
	};
	int r;

	sc_test_watchdog(40);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	return skipped ? RG_SKIP : r;
}
