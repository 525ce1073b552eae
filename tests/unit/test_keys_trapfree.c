/* SPDX-License-Identifier: MIT */
/*
 * Static keys built with STATICCALL_KEYS_TRAPFREE: every site sits inside
 * one aligned 8-byte word and is toggled with one atomic store through a
 * writable view of its page, without a trap, so a thread that blocks
 * SIGTRAP and runs the sites does not stop a toggle (nor die from it).
 */
#define _GNU_SOURCE
#define STATICCALL_KEYS_TRAPFREE 1
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "arch.h"
#include "common.h"

DEFINE_STATIC_KEY_FALSE(tf_a);
DEFINE_STATIC_KEY_TRUE(tf_b);

static __attribute__((noinline)) int probe(void)
{
	int r = 0;
	if (static_branch_unlikely(&tf_a))
		r |= 1;
	if (static_branch_likely(&tf_a))
		r |= 2;
	if (static_branch_unlikely(&tf_b))
		r |= 4;
	if (static_branch_likely(&tf_b))
		r |= 8;
	return r;
}

static int expect(void)
{
	return (static_key_enabled(&tf_a) ? 3 : 0) |
	       (static_key_enabled(&tf_b) ? 12 : 0);
}

static void test_sites_in_one_word(void **state)
{
	int n = 0;
	(void)state;
	for (struct static_key_entry *e = __start_sc_jump_table;
	     e < __stop_sc_jump_table; e++) {
		uintptr_t code = (uintptr_t)&e->code + (intptr_t)e->code;
		assert_true(e->key & 2);
		assert_true((code & 7) + SC_TEST_SITE_LEN <= 8);
		n++;
	}
	assert_true(n >= 4);
}

static void test_toggle_without_traps(void **state)
{
	(void)state;
	assert_int_equal(probe(), expect());
	struct static_call_stats before = sc_test_stats();
	for (int i = 0; i < 50; i++) {
		assert_int_equal(static_branch_enable(&tf_a), 0);
		assert_int_equal(probe(), expect());
		assert_int_equal(static_branch_disable(&tf_b), 0);
		assert_int_equal(probe(), expect());
		assert_int_equal(static_branch_disable(&tf_a), 0);
		assert_int_equal(static_branch_enable(&tf_b), 0);
		assert_int_equal(probe(), expect());
	}
	struct static_call_stats after = sc_test_stats();
	assert_int_equal(after.traps_emulated, before.traps_emulated);
	assert_int_equal(after.writes_procmem, before.writes_procmem);
	/* page flips by default; atomic stores through the view with the
	 * store protocol */
	if (sc_test_store()) {
		assert_true(after.writes_view > before.writes_view);
		/* each view write changes one site's instruction: one
		 * store of SC_TEST_INSN_STORE bytes (aarch64: 32 bits) */
		assert_int_equal(after.bytes_written - before.bytes_written,
				 SC_TEST_INSN_STORE * (after.writes_view -
						       before.writes_view));
	} else
		assert_true(after.flips > before.flips);
	/* one sync per toggle: 200 toggles */
	assert_int_equal(after.syncs - before.syncs, 200);
	assert_int_equal(sc_test_count_wx(), 0);
}

static _Atomic int stop;
static _Atomic unsigned long calls, bad;

static void *blocked_runner(void *arg)
{
	sigset_t all;
	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int r = probe();
		/* tf_b stays enabled all along: both its forms say so */
		if ((r & 12) != 12)
			atomic_fetch_add(&bad, 1);
		atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
	}
	return NULL;
}

static void test_blocked_thread(void **state)
{
	pthread_t t;
	int toggles = 0;
	(void)state;

	sc_test_watchdog(120);
	pthread_create(&t, NULL, blocked_runner, NULL);
	/* on a loaded machine, longer (up to 60 s more) until the thread ran
	 * the site while keys were toggled */
	double end = sc_now() + sc_test_seconds(1.5), hard_end = end + 60;
	while (sc_now() < end || ((toggles <= 100 || !atomic_load(&calls)) &&
				  sc_now() < hard_end)) {
		assert_int_equal(static_branch_enable(&tf_a), 0);
		assert_int_equal(static_branch_disable(&tf_a), 0);
		toggles += 2;
	}
	/* the int3 protocol, by contrast, refuses while the thread runs
	 * (unless its check is off: the thread would die) */
	if (sc_test_sigtrap_check()) {
		assert_int_equal(static_call_set_option("protocol", "int3"), 0);
		sc_test_capture_log();
		assert_int_equal(static_branch_enable(&tf_a), -EAGAIN);
		static_call_set_print(NULL);
		assert_int_equal(static_call_set_option("protocol", "auto"), 0);
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	printf("keys trap-free: toggles=%d while a SIGTRAP-blocking thread "
	       "made %lu probes, bad=%lu\n",
	       toggles, atomic_load(&calls), atomic_load(&bad));
	assert_true(toggles > 100);
	assert_true(atomic_load(&calls) > 0);
	assert_int_equal(atomic_load(&bad), 0);
	assert_false(static_key_enabled(&tf_a));
	assert_int_equal(probe(), expect());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sites_in_one_word),
		cmocka_unit_test(test_toggle_without_traps),
		cmocka_unit_test(test_blocked_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
