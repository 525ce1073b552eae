/* SPDX-License-Identifier: MIT */
/*
 * Updates from places that run inside an update: the trace hook (with the
 * patch lock held) and a signal handler that interrupted an update on the
 * same thread get -EDEADLK and change nothing; a signal handler that did
 * not interrupt an update updates normally.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>

#include "common.h"

static int add1(int x) { return x + 1; }
static int add2(int x) { return x + 2; }
static int add3(int x) { return x + 3; }
static int times2(int x) { return x * 2; }

DEFINE_STATIC_CALL(nt_op, add1);    /* the one the outer update patches */
DEFINE_STATIC_CALL(nt_other, add1); /* the one nested updates try */

#define MAX_EVENTS 32

/* What the hook saw, in order. */
static struct {
	int n;
	enum static_call_trace_step step[MAX_EVENTS];
	unsigned int nr[MAX_EVENTS];
	int nested_rc[MAX_EVENTS];   /* rc of the update tried from there */
	int call_result[MAX_EVENTS]; /* static_call(nt_op)(10) from there */
} ev;

enum hook_mode {
	HOOK_OFF = 0,
	HOOK_RECORD,	   /* record the steps */
	HOOK_UPDATE_OTHER, /* try to update nt_other */
	HOOK_UPDATE_SAME,  /* try to update nt_op, the one being patched */
	HOOK_UPDATE_HOOK,  /* try to update the hook itself */
	HOOK_BATCH,	   /* try a batch commit */
	HOOK_RAISE,	   /* raise SIGUSR1, whose handler tries to update */
};
static volatile enum hook_mode hook_mode;

static volatile int sig_rc = 1;	   /* rc of the handler's update */
static volatile int sig_result;	   /* static_call(nt_other)(10) after it */
static volatile int sig_nt_result; /* static_call(nt_op)(10) in the handler */
static volatile int sig_count;
static int (*volatile sig_target)(int) = add2;

static void usr1_handler(int sig)
{
	(void)sig;
	sig_count++;
	sig_nt_result = static_call(nt_op)(10);
	sig_rc = static_call_update(nt_other, sig_target);
	sig_result = static_call(nt_other)(10);
}

static void test_hook(enum static_call_trace_step step, unsigned int nr)
{
	struct static_call_batch_entry ents[2];
	struct static_call_batch b;
	int rc = 1;

	if (hook_mode == HOOK_OFF || ev.n >= MAX_EVENTS)
		return;
	switch (hook_mode) {
	case HOOK_UPDATE_OTHER:
		rc = static_call_update(nt_other, add3);
		break;
	case HOOK_UPDATE_SAME:
		rc = static_call_update(nt_op, times2);
		break;
	case HOOK_UPDATE_HOOK:
		rc = static_call_update(static_call_trace_hook, NULL);
		break;
	case HOOK_BATCH:
		static_call_batch_init(&b, ents, 2);
		static_call_batch_add(&b, nt_other, add3);
		rc = static_call_batch_commit(&b);
		break;
	case HOOK_RAISE:
		sig_rc = 1;
		raise(SIGUSR1); /* delivered before raise() returns */
		rc = sig_rc;
		break;
	default:
		break;
	}
	ev.step[ev.n] = step;
	ev.nr[ev.n] = nr;
	ev.nested_rc[ev.n] = rc;
	/* the site being patched, run from inside its own patch */
	ev.call_result[ev.n] = static_call(nt_op)(10);
	ev.n++;
}

static void set_hook(enum hook_mode mode)
{
	hook_mode = HOOK_OFF;
	assert_int_equal(static_call_update(static_call_trace_hook, test_hook),
			 0);
	memset(&ev, 0, sizeof(ev));
	hook_mode = mode;
}

static void clear_hook(void)
{
	hook_mode = HOOK_OFF;
	assert_int_equal(static_call_update(static_call_trace_hook, NULL), 0);
	assert_null(static_call_query(static_call_trace_hook));
}

static void install_usr1(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = usr1_handler;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
}

static static_call_print_fn_t saved_print;

static int setup(void **state)
{
	(void)state;
	hook_mode = HOOK_OFF;
	saved_print = static_call_set_print(NULL);
	sc_test_capture_log(); /* the refusals are logged: keep them */
	if (static_call_update(nt_op, add1) ||
	    static_call_update(nt_other, add1))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	hook_mode = HOOK_OFF;
	static_call_set_print(saved_print);
	return static_call_update(static_call_trace_hook, NULL);
}

/* The hook runs at the four steps, in order, with the number of sites. */
static void test_hook_steps(void **state)
{
	struct static_call_batch_entry ents[4];
	struct static_call_batch b;
	(void)state;

	set_hook(HOOK_RECORD);
	assert_int_equal(static_call_update(nt_op, add2), 0);
	hook_mode = HOOK_OFF;
	assert_int_equal(ev.n, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(ev.step[i], i); /* BEGIN, INT3, TAIL, FINISH */
		assert_int_equal(ev.nr[i], 1);
	}
	/* the site under patch, called from the patching thread: the old
	 * target before the int3, the new one (emulated) from then on */
	assert_int_equal(ev.call_result[0], 11);
	assert_int_equal(ev.call_result[1], 12);
	assert_int_equal(ev.call_result[2], 12);
	assert_int_equal(ev.call_result[3], 12);

	/* a batch of two: one protocol run, nr = 2 */
	memset(&ev, 0, sizeof(ev));
	hook_mode = HOOK_RECORD;
	static_call_batch_init(&b, ents, 4);
	static_call_batch_add(&b, nt_op, add3);
	static_call_batch_add(&b, nt_other, add2);
	assert_int_equal(static_call_batch_commit(&b), 0);
	hook_mode = HOOK_OFF;
	assert_int_equal(ev.n, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(ev.nr[i], 2);
	assert_int_equal(ev.call_result[3], 13);
	assert_int_equal(static_call(nt_other)(10), 12);

	/* an update that writes nothing does not run the protocol */
	memset(&ev, 0, sizeof(ev));
	hook_mode = HOOK_RECORD;
	assert_int_equal(static_call_update(nt_op, add3), 0);
	hook_mode = HOOK_OFF;
	assert_int_equal(ev.n, 0);
	clear_hook();
}

static void check_nested_refused(enum hook_mode mode)
{
	struct static_call_stats before, after;

	set_hook(mode);
	before = sc_test_stats();
	assert_int_equal(static_call_update(nt_op, add2), 0);
	after = sc_test_stats();
	hook_mode = HOOK_OFF;
	assert_int_equal(ev.n, 4);
	for (int i = 0; i < ev.n; i++)
		assert_int_equal(ev.nested_rc[i], -EDEADLK);
	assert_non_null(strstr(sc_test_last_log(), "inside an update"));
	/* four refused nested updates; only the outer one counted */
	assert_int_equal(after.errors - before.errors, 4);
	assert_int_equal(after.updates - before.updates, 1);
	assert_int_equal(after.batches - before.batches, 1);
	/* the outer update did its job */
	assert_int_equal(static_call(nt_op)(10), 12);
	assert_ptr_equal(static_call_query(nt_op), add2);
	clear_hook();
}

/* From the trace hook (patch lock held): -EDEADLK, nothing written. */
static void test_update_from_hook(void **state)
{
	(void)state;
	assert_int_equal(static_call_update(nt_other, add1), 0);
	check_nested_refused(HOOK_UPDATE_OTHER);
	assert_ptr_equal(static_call_query(nt_other), add1);
	assert_int_equal(static_call(nt_other)(10), 11);

	assert_int_equal(static_call_update(nt_op, add1), 0);
	check_nested_refused(HOOK_UPDATE_SAME);
	assert_int_equal(static_call(nt_op)(10), 12); /* add2, not times2 */

	assert_int_equal(static_call_update(nt_op, add1), 0);
	check_nested_refused(HOOK_UPDATE_HOOK);

	assert_int_equal(static_call_update(nt_op, add1), 0);
	check_nested_refused(HOOK_BATCH);
	assert_ptr_equal(static_call_query(nt_other), add1);

	/* and nothing is left locked: ordinary updates work */
	assert_int_equal(static_call_update(nt_other, times2), 0);
	assert_int_equal(static_call(nt_other)(10), 20);
	assert_int_equal(static_call_update(nt_other, add1), 0);
}

/* From a signal handler that did not interrupt an update: works. */
static void test_update_from_signal_handler(void **state)
{
	(void)state;
#ifdef SC_TEST_TSAN
	/* TSan runs every handler with all signals blocked, whatever its
	 * sa_mask: the update from the handler then (rightly) refuses the
	 * int3 protocol, -EAGAIN, since this very thread blocks SIGTRAP. */
	skip();
#endif
	install_usr1();
	sig_rc = 1;
	sig_count = 0;
	sig_target = add3;
	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(sig_count, 1);
	assert_int_equal(sig_rc, 0);
	assert_int_equal(sig_result, 13); /* seen inside the handler */
	assert_int_equal(static_call(nt_other)(10), 13);
	assert_ptr_equal(static_call_query(nt_other), add3);

	sig_target = times2;
	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(sig_rc, 0);
	assert_int_equal(static_call(nt_other)(10), 20);
	sig_target = add1;
	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(sig_rc, 0);
	assert_int_equal(static_call(nt_other)(10), 11);
	signal(SIGUSR1, SIG_DFL);
}

/*
 * From a signal handler that interrupted an update on the same thread: the
 * hook raises SIGUSR1 at every step, so the handler runs in the middle of
 * the update, deterministically.
 */
static void test_update_from_signal_inside_update(void **state)
{
	struct static_call_stats before, after;
	(void)state;
#ifdef SC_TEST_TSAN
	/* The same: the handler would run a site holding int3 with SIGTRAP
	 * blocked, which the kernel punishes with death. */
	skip();
#endif

	install_usr1();
	assert_int_equal(static_call_update(nt_op, add1), 0);
	assert_int_equal(static_call_update(nt_other, add1), 0);
	sig_count = 0;
	sig_target = times2;
	set_hook(HOOK_RAISE);
	before = sc_test_stats();
	assert_int_equal(static_call_update(nt_op, add3), 0);
	after = sc_test_stats();
	hook_mode = HOOK_OFF;

	assert_int_equal(sig_count, 4);
	assert_int_equal(ev.n, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(ev.nested_rc[i], -EDEADLK);
	assert_int_equal(after.errors - before.errors, 4);
	/* nothing written for the refused updates */
	assert_ptr_equal(static_call_query(nt_other), add1);
	assert_int_equal(static_call(nt_other)(10), 11);
	/* the handler ran the site under patch: it was emulated (the new
	 * target) once its first byte was int3 */
	assert_int_equal(sig_nt_result, 13);
	assert_true(after.traps_emulated - before.traps_emulated >= 3);
	/* the interrupted update completed */
	assert_int_equal(static_call(nt_op)(10), 13);
	clear_hook();

	/* afterwards, the same handler updates normally */
	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(sig_rc, 0);
	assert_int_equal(static_call(nt_other)(10), 20);
	assert_int_equal(static_call_update(nt_other, add1), 0);
	signal(SIGUSR1, SIG_DFL);
}

/*
 * Installing the hook patches the hook's own trampoline, so the new hook
 * already runs (emulated) inside its own installation; from there too an
 * update is refused.
 */
static void test_hook_runs_during_own_install(void **state)
{
	(void)state;
	assert_int_equal(static_call_update(nt_other, add1), 0);
	memset(&ev, 0, sizeof(ev));
	hook_mode = HOOK_UPDATE_OTHER;
	assert_int_equal(static_call_update(static_call_trace_hook, test_hook),
			 0);
	hook_mode = HOOK_OFF;
	/* at least the steps after the int3 ran the new hook */
	assert_true(ev.n >= 2 && ev.n <= 4);
	for (int i = 0; i < ev.n; i++)
		assert_int_equal(ev.nested_rc[i], -EDEADLK);
	assert_ptr_equal(static_call_query(nt_other), add1);
	assert_ptr_equal(static_call_query(static_call_trace_hook), test_hook);
	clear_hook();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hook_steps, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_update_from_hook, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_update_from_signal_handler,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_update_from_signal_inside_update, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_hook_runs_during_own_install, setup, teardown),
	};
	sc_test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
