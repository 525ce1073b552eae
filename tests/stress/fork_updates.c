/* SPDX-License-Identifier: MIT */
/*
 * fork() while static calls are being patched.
 *
 * test_fork_loop: the main thread forks hundreds of times while two
 * updater threads retarget the four static calls (each its own two, with
 * single updates and batches; the second one also switches the trace hook
 * on and off) and a caller thread runs them.  Each child checks that
 *   - no trampoline starts with int3 (the library holds its patch lock
 *     across fork(), so no child inherits a half-done patch),
 *   - every static call gives a result legal for the state it inherited,
 *     and its key agrees with its trampoline,
 *   - it can update on its own (single update, batch, the hook, a static
 *     call that only children update) and reaches the new targets,
 *   - nothing starts with int3 afterwards,
 * and exits with a status the parent checks (0, or the number of the check
 * that failed).  The parent also checks that the children's updates did
 * not reach its own code.
 *
 * test_fork_in_hook: fork() from inside an update (the trace hook, at the
 * INT3 and TAIL steps, with the patch lock held and int3 on the sites).
 * The documented behaviour: parent and child each finish the update on
 * their own copy of the code.  The child checks the result as above.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch.h"
#include "common.h"
#include "stress.h"

/* At least this many forks, or the run is extended (up to 4x its time).
 * 100 because the rate depends on the machine more than on us: a fork()
 * of a TSan process takes ~35 ms (the page tables of its shadow memory),
 * and a 2-core machine busy with other work gave 190-250 forks where an
 * idle one gives 300 and more. */
#define MIN_FORKS 100
#define HOOK_FORKS 100
#ifndef CHILD_ALARM
#define CHILD_ALARM 5
#endif

static int c_init(int x) { return x + 11; }
static int c_new(int x) { return x + 22; }
DEFINE_STATIC_CALL(fk_child, c_init); /* updated by children only */

static _Atomic unsigned long hook_runs;
static void fk_hook(enum static_call_trace_step step, unsigned int nr)
{
	(void)step;
	(void)nr;
	atomic_fetch_add_explicit(&hook_runs, 1, memory_order_relaxed);
}

static _Atomic int stop;
static _Atomic unsigned long n_updates, n_errors;
static _Atomic int first_error;
static pid_t parent_pid;

/* ------------------------------------------------------------------------
 * In the child: plain system calls only (other threads of the parent may
 * have held stdio or malloc locks at the fork).
 * ------------------------------------------------------------------------ */
static bool trapped(const struct static_call_key *key)
{
	return sc_test_trapped(key->tramp);
}

/* 0, or the number of the first check that failed. */
static int no_int3(int base)
{
	for (int i = 0; i < ST_KEYS; i++)
		if (trapped(st_key[i]))
			return base + i;
	if (trapped(&STATIC_CALL_KEY(static_call_trace_hook)))
		return base + 4;
	if (trapped(&STATIC_CALL_KEY(fk_child)))
		return base + 5;
	return 0;
}

/* Every static call gives a legal result (generations inherited from the
 * parent) and its key names the target its trampoline reaches. */
static int legal_results(int base)
{
	for (int i = 0; i < ST_KEYS; i++) {
		int x = 1000 + i;
		unsigned long c = atomic_load(&st_gen[i].committed);
		unsigned long p = atomic_load(&st_gen[i].pending);
		int k = st_decode(i, x, st_call(i, x));
		if (st_check(i, c, p, k) != ST_LEGAL)
			return base + i;
		if (st_current(i) != k)
			return base + 5 + i;
	}
	if (static_call(fk_child)(5) != c_init(5))
		return base + 4;
	return 0;
}

/* The child updates on its own and reaches the new targets. */
static int child_updates(int base)
{
	struct static_call_batch_entry ents[ST_KEYS + 1];
	struct static_call_batch b;
	int want[ST_KEYS];
	static_call_trace_fn_t *hook =
		static_call_query(static_call_trace_hook);

	want[0] = (st_current(0) + 1) % ST_TARGETS;
	if (st_update(0, want[0]) != 0)
		return base;
	if (st_decode(0, 9, st_call(0, 9)) != want[0])
		return base + 1;
	static_call_batch_init(&b, ents, ST_KEYS + 1);
	for (int i = 0; i < ST_KEYS; i++) {
		want[i] = (st_current(i) + 2) % ST_TARGETS;
		st_batch_add(&b, i, want[i]);
	}
	static_call_batch_add(&b, static_call_trace_hook,
			      hook ? NULL : fk_hook);
	if (static_call_batch_commit(&b) != 0)
		return base + 2;
	for (int i = 0; i < ST_KEYS; i++)
		if (st_decode(i, 9, st_call(i, 9)) != want[i])
			return base + 3;
	if (static_call_update(fk_child, c_new) != 0)
		return base + 4;
	if (static_call(fk_child)(5) != c_new(5))
		return base + 5;
	return 0;
}

static void child_say(const char *msg)
{
	if (write(2, msg, strlen(msg)) < 0)
		_exit(100);
}

static const char *const what[] = {
	[1] = "a trampoline starts with int3 in the child",
	[2] = "a static call gave an illegal result in the child",
	[3] = "the child's own update failed or was not reached",
	[4] = "a trampoline starts with int3 after the child's updates",
	[5] = "the child's update of the forking commit is not complete",
};

static void child_main(void)
{
	int rc;

	alarm(CHILD_ALARM); /* a deadlocked child dies, never stays behind */
	rc = no_int3(10);
	if (!rc)
		rc = legal_results(20);
	if (!rc)
		rc = child_updates(30);
	if (!rc)
		rc = no_int3(40);
	if (rc) {
		child_say("fork child: ");
		child_say(what[rc / 10]);
		child_say("\n");
	}
	_exit(rc);
}

/* ------------------------------------------------------------------------ */

static void *updater(void *arg)
{
	int id = (int)(intptr_t)arg;
	unsigned int seed = 1000u + (unsigned int)id;
	bool hook_on = false;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		struct static_call_batch_entry ents[ST_KEYS + 1];
		struct static_call_batch b;
		struct st_plan pl;
		bool single = rand_r(&seed) % 2 == 0;
		bool flip = id == 1 && rand_r(&seed) % 4 == 0;
		int err = 0;

		/* updater 0 owns static calls 0-1, updater 1 owns 2-3 */
		st_plan_random(&pl, &seed, 2 * id, 2, single);
		st_plan_publish(&pl);
		if (single && !flip) {
			err = st_update(pl.key[0], pl.k[0]);
		} else {
			static_call_batch_init(&b, ents, ST_KEYS + 1);
			for (int j = 0; j < pl.n; j++)
				st_batch_add(&b, pl.key[j], pl.k[j]);
			if (flip)
				static_call_batch_add(&b,
						      static_call_trace_hook,
						      hook_on ? NULL : fk_hook);
			err = static_call_batch_commit(&b);
		}
		if (err) {
			int none = 0;
			atomic_fetch_add(&n_errors, 1);
			atomic_compare_exchange_strong(&first_error, &none,
						       err);
			continue;
		}
		if (flip)
			hook_on = !hook_on;
		st_plan_commit(&pl);
		atomic_fetch_add(&n_updates, (unsigned long)pl.n + flip);
	}
	if (hook_on && static_call_update(static_call_trace_hook, NULL))
		atomic_fetch_add(&n_errors, 1);
	return NULL;
}

/* The status of a child, for the report. */
static void describe(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "status 0x%x", status);
}

static void test_fork_loop(void **state)
{
	pthread_t updaters[2], caller;
	struct st_counts counts = {0};
	struct st_caller_arg carg = {&stop, &counts, 31337};
	struct static_call_stats before, after;
	uint8_t tramp_copy[STATIC_CALL_TRAMP_SIZE];
	unsigned long forks = 0, failed = 0, parent_changed = 0;
	int first_status = 0;
	double seconds = sc_test_seconds(2.0), t0;
	/* a fork of the emulator (qemu-user: its translations, its threads)
	 * costs ~10x a native one: the same time makes fewer */
	unsigned long min_forks =
		sc_test_slowdown() > 1 ? MIN_FORKS / 4 : MIN_FORKS;
	char desc[80];
	(void)state;
	st_crash_report(false);

	st_gen_reset();
	atomic_store(&stop, 0);
	memcpy(tramp_copy, STATIC_CALL_KEY(fk_child).tramp, sizeof(tramp_copy));
	before = sc_test_stats();
	assert_int_equal(pthread_create(&caller, NULL, st_caller_thread, &carg),
			 0);
	for (intptr_t t = 0; t < 2; t++)
		assert_int_equal(
			pthread_create(&updaters[t], NULL, updater, (void *)t),
			0);

	t0 = sc_now();
	while (sc_now() < t0 + seconds ||
	       (forks < min_forks && sc_now() < t0 + 4 * seconds)) {
		int status;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0)
			child_main();
		forks++;
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			if (!failed)
				first_status = status;
			failed++;
		}
		/* A child's update must not have reached our code. */
		if (static_call(fk_child)(5) != c_init(5) ||
		    memcmp(tramp_copy, STATIC_CALL_KEY(fk_child).tramp,
			   sizeof(tramp_copy)) != 0)
			parent_changed++;
	}
	atomic_store(&stop, 1);
	for (int t = 0; t < 2; t++)
		pthread_join(updaters[t], NULL);
	pthread_join(caller, NULL);
	after = sc_test_stats();

	describe(first_status, desc, sizeof(desc));
	printf("fork_updates: forks=%lu failed_children=%lu%s%s "
	       "parent_changed=%lu updates=%lu errors=%lu hook_runs=%lu "
	       "traps_emulated=%llu calls=%lu unchecked=%lu wrong=%lu\n",
	       forks, failed, failed ? " first: " : "", failed ? desc : "",
	       parent_changed, atomic_load(&n_updates), atomic_load(&n_errors),
	       atomic_load(&hook_runs),
	       after.traps_emulated - before.traps_emulated,
	       atomic_load(&counts.calls), atomic_load(&counts.unknown),
	       atomic_load(&counts.wrong));
	st_report_wrong();
	if (atomic_load(&first_error))
		fprintf(stderr, "first failed update: %s\n",
			strerror(-atomic_load(&first_error)));
	assert_int_equal(failed, 0);
	assert_int_equal(parent_changed, 0);
	assert_int_equal(atomic_load(&n_errors), 0);
	assert_int_equal(atomic_load(&counts.wrong), 0);
	assert_true(forks >= min_forks);
	assert_true(atomic_load(&n_updates) > 0);
}

/* ------------------------------------------------------------------------
 * fork() from inside an update
 * ------------------------------------------------------------------------ */
static struct st_plan hook_plan;
static volatile int fork_step = -1; /* step to fork at, -1: none */
static pid_t hook_child;
static int hook_fork_errno;

static void forking_hook(enum static_call_trace_step step, unsigned int nr)
{
	(void)nr;
	if ((int)step != fork_step || getpid() != parent_pid)
		return;
	fflush(stdout);
	hook_child = fork();
	if (hook_child == 0)
		alarm(CHILD_ALARM); /* before anything can hang */
	if (hook_child < 0)
		hook_fork_errno = errno;
}

/* In the child, once its copy of the update has returned. */
static void hook_child_main(int err)
{
	int rc = 0;

	if (err)
		rc = 30;
	for (int j = 0; !rc && j < hook_plan.n; j++) {
		int i = hook_plan.key[j];
		if (st_decode(i, 7, st_call(i, 7)) != hook_plan.k[j] ||
		    st_current(i) != hook_plan.k[j])
			rc = 50;
	}
	if (!rc)
		rc = no_int3(10);
	if (!rc) {
		st_plan_commit(&hook_plan);
		rc = legal_results(20);
	}
	if (!rc)
		rc = child_updates(30);
	if (!rc)
		rc = no_int3(40);
	if (rc) {
		child_say("fork child (forked in the hook): ");
		child_say(what[rc / 10]);
		child_say("\n");
	}
	_exit(rc);
}

static void test_fork_in_hook(void **state)
{
	struct st_counts counts = {0};
	struct st_caller_arg carg = {&stop, &counts, 4711};
	unsigned int seed = 2024;
	unsigned long forks = 0, failed = 0;
	int first_status = 0;
	pthread_t caller;
	char desc[80];
	(void)state;
	st_crash_report(false);

	st_gen_reset();
	atomic_store(&stop, 0);
	assert_int_equal(
		static_call_update(static_call_trace_hook, forking_hook), 0);
	assert_int_equal(pthread_create(&caller, NULL, st_caller_thread, &carg),
			 0);
	for (int n = 0; n < HOOK_FORKS; n++) {
		int status, err;

		st_plan_random(&hook_plan, &seed, 0, ST_KEYS, n % 3 == 0);
		st_plan_publish(&hook_plan);
		hook_child = 0;
		/* the int3 protocol's window; the trap-free one has only
		 * BEGIN (before its stores) and FINISH (after them) */
		if (sc_test_int3())
			fork_step = n % 2 ? STATIC_CALL_TRACE_INT3
					  : STATIC_CALL_TRACE_TAIL;
		else
			fork_step = n % 2 ? STATIC_CALL_TRACE_BEGIN
					  : STATIC_CALL_TRACE_FINISH;
		err = st_plan_apply(&hook_plan, n % 3 == 0);
		fork_step = -1;
		if (getpid() != parent_pid)
			hook_child_main(err); /* we are the child */
		assert_int_equal(err, 0);
		st_plan_commit(&hook_plan);
		assert_true(hook_child > 0);
		forks++;
		if (waitpid(hook_child, &status, 0) != hook_child ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			if (!failed)
				first_status = status;
			failed++;
		}
	}
	atomic_store(&stop, 1);
	pthread_join(caller, NULL);
	assert_int_equal(static_call_update(static_call_trace_hook, NULL), 0);

	describe(first_status, desc, sizeof(desc));
	printf("fork_in_hook: forks=%lu failed_children=%lu%s%s fork_errno=%d "
	       "calls=%lu unchecked=%lu wrong=%lu\n",
	       forks, failed, failed ? " first: " : "", failed ? desc : "",
	       hook_fork_errno, atomic_load(&counts.calls),
	       atomic_load(&counts.unknown), atomic_load(&counts.wrong));
	st_report_wrong();
	assert_int_equal(hook_fork_errno, 0);
	assert_int_equal(failed, 0);
	assert_int_equal(atomic_load(&counts.wrong), 0);
	assert_int_equal(forks, HOOK_FORKS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_loop),
		cmocka_unit_test(test_fork_in_hook),
	};

	parent_pid = getpid();
	st_crash_report(true);
	sc_test_watchdog(5 * sc_test_seconds(2.0) + 60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
