/* SPDX-License-Identifier: MIT */
/*
 * Issue 13, item 12: updates from a signal handler that runs with every
 * signal blocked (sa_mask full) on the patching thread.
 *
 * A thread runs the sites; the main thread raises SIGUSR1 100 times; its
 * handler (installed with sigfillset(&sa.sa_mask)) retargets a static
 * call and toggles a key.  Asserts: each change returns 0 (and the call
 * and the site then take the new state, checked inside the handler) or
 * fails at once with -EAGAIN; the 200 changes take less than 1 s in all
 * (a generous bound: an update is tens of microseconds; what it catches
 * is a wait of ~20 ms per change, 4 s for 200; the loop stops at 1 s).
 *
 * Run with STATICCALL_PROTOCOL=int3 (regress_handler_update_int3) and
 * with the default protocol (regress_handler_update).  On the code of
 * issue 13 both fail: the SIGTRAP check does not leave out the patching
 * thread itself, sees SIGTRAP blocked (the handler's mask), looks again
 * for ~20 ms and refuses with -EAGAIN (int3: the static call and the key;
 * default: the key, whose sites always take the int3 protocol).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "regress.h"

static int op_a(int x) { return x * 4 + 1; }
static int op_b(int x) { return x * 4 + 2; }
DEFINE_STATIC_CALL(rg_hu_op, op_a);

__attribute__((noinline)) static int exe_probe(void)
{
	return static_branch_unlikely(&rg_exe_key) ? 1 : 0;
}

static _Atomic int stop;
static int round_no, ok, again, bad;

static void *reader(void *arg)
{
	int x = 1;
	(void)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int r = static_call(rg_hu_op)(x);
		RG_CHECK(r == op_a(x) || r == op_b(x), "wrong result %d", r);
		exe_probe();
		x = x % 100000 + 1;
	}
	return NULL;
}

static void count(int err)
{
	if (err == 0)
		ok++;
	else if (err == -EAGAIN)
		again++;
	else
		bad++;
}

static void handler(int sig)
{
	int on = round_no & 1, err;
	(void)sig;

	err = static_call_update(rg_hu_op, on ? op_b : op_a);
	count(err);
	if (err == 0 && static_call(rg_hu_op)(9) != (on ? op_b(9) : op_a(9)))
		bad++;
	err = on ? static_branch_enable(&rg_exe_key)
		 : static_branch_disable(&rg_exe_key);
	count(err);
	if (err == 0 && exe_probe() != on)
		bad++;
}

static void test_update_from_full_mask_handler(void **state)
{
	struct sigaction sa;
	pthread_t t;
	double t0, took;
	(void)state;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigfillset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	rg_thread(&t, reader, NULL);
	rg_settle();
	/* outside a handler first: the runtime is set up */
	assert_int_equal(static_call_update(rg_hu_op, op_b), 0);
	assert_int_equal(static_branch_enable(&rg_exe_key), 0);

	t0 = sc_now();
	for (round_no = 0; round_no < 100 && sc_now() - t0 < 1.0; round_no++)
		raise(SIGUSR1);
	took = sc_now() - t0;
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	printf("%d rounds from a full-mask handler on the patching thread in "
	       "%.3f s: %d changes worked, %d refused (-EAGAIN), %d wrong\n",
	       round_no, took, ok, again, bad);
	assert_int_equal(bad, 0);
	assert_int_equal(round_no, 100);
	assert_true(took < 1.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_update_from_full_mask_handler),
	};

	sc_test_watchdog(30);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
