/* SPDX-License-Identifier: MIT */
/*
 * Issue 13, item 13: memfd pages released on dlclose().
 *
 * A plug-in reload loop, 250 rounds: dlopen(), retarget the plug-in's own
 * static call and toggle its own key (checking the call and the site),
 * dlclose().  Asserts: from round 20 to round 250, the memory held by
 * the process's memfds (st_blocks of every memfd descriptor in
 * /proc/self/fd) grows by at most 64 KiB, and the number of memfd
 * mappings in /proc/self/maps by at most 4 (whatever the protocol keeps
 * per page, a plug-in that is gone must not keep it).
 *
 * On the code of issue 13: each load's trampoline page gets a page of the
 * one memfd, which is never given back: +4 KiB per round, ~920 KiB.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "regress.h"

#define ROUNDS 250
#define WARMUP 20

static void round_trip(int i)
{
	struct rg_mod m;
	int err;

	assert_int_equal(rg_mod_open(RG_MOD, &m), 0);
	err = m.update(1 + i % 2);
	if (err)
		fail_msg("round %d: update: %s", i, strerror(-err));
	assert_int_equal(rgm_decode(11, m.call(11)), 1 + i % 2);
	assert_int_equal(m.toggle(1), 0);
	assert_int_equal(m.probe_own(), 1);
	assert_int_equal(rg_mod_close(&m), 0);
}

static void test_reload_loop(void **state)
{
	long long b0 = 0, b1;
	int n0 = 0, n1, maps0 = 0, maps1;
	(void)state;

	for (int i = 0; i < ROUNDS; i++) {
		if (i == WARMUP) {
			b0 = rg_memfd_bytes(&n0);
			maps0 = rg_memfd_mappings();
		}
		round_trip(i);
	}
	b1 = rg_memfd_bytes(&n1);
	maps1 = rg_memfd_mappings();
	printf("after %d reloads: memfd memory %lld KiB (%d memfds), %d memfd "
	       "mappings; after %d: %lld KiB (%d memfds), %d mappings\n",
	       WARMUP, b0 / 1024, n0, maps0, ROUNDS, b1 / 1024, n1, maps1);
	assert_true(b0 >= 0 && b1 >= 0 && maps0 >= 0);
	assert_true(b1 - b0 <= 64 * 1024);
	assert_true(maps1 - maps0 <= 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reload_loop),
	};

	sc_test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
