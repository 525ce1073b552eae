/* SPDX-License-Identifier: MIT */
/*
 * Issue 13, item 9: a child made by a raw fork system call (no atfork
 * handlers) while another thread of the parent is in the middle of
 * updates.
 *
 * The parent's updater thread retargets a static call and toggles a key
 * back to back; the main thread forks with a bare fork system call
 * (rg_raw_fork()) 50 times.
 * Each child (one thread, async-signal-safe calls only) makes one update
 * of the static call and one toggle of the key, with an alarm of 2 s
 * (the forks stop after the second child that hangs).
 * Asserts, for every child: it does not hang (the alarm would kill it),
 * each of its changes returns 0 (and its call then reaches the new
 * target, its site the new state) or a negative errno; and the parent's
 * updates all return 0.
 *
 * test_raw_fork_idle: the same raw forks while no update is in flight
 * (the parent's updater stopped), so that each child finds the lock free
 * and carries on in a process of its own.  Asserts: every child's update
 * and toggle return 0 and take effect in the child; after each child,
 * the parent's call still reaches the parent's target and its key site
 * is still off (the child never wrote code the parent runs), and the
 * parent's next update and toggle work.  (Under the first test nearly
 * every child finds the lock held: -ENOTRECOVERABLE.)
 *
 * On the code of issue 13: the child inherits the patch lock held by the
 * parent's updater (owner: a thread that does not exist in the child) and
 * waits for it forever in its first update (killed by SIGALRM).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "regress.h"

static int op_a(int x) { return x * 4 + 1; }
static int op_b(int x) { return x * 4 + 2; }
static int op_c(int x) { return x * 4 + 3; }
DEFINE_STATIC_CALL(rg_fork_op, op_a);

__attribute__((noinline)) static int exe_probe(void)
{
	return static_branch_unlikely(&rg_exe_key) ? 1 : 0;
}

static _Atomic int stop;
static _Atomic unsigned long updates;

static void *updater(void *arg)
{
	(void)arg;
	for (unsigned long i = 0; !atomic_load(&stop); i++) {
		RG_CHECK(static_call_update(rg_fork_op, i & 1 ? op_b : op_a) ==
				 0,
			 "parent's update");
		RG_CHECK(static_branch_enable(&rg_exe_key) == 0 &&
				 static_branch_disable(&rg_exe_key) == 0,
			 "parent's toggle");
		atomic_fetch_add(&updates, 1);
	}
	return NULL;
}

static void say(const char *msg)
{
	if (write(2, msg, strlen(msg)) < 0)
		_exit(4);
}

/* The child: one thread, async-signal-safe calls only. */
static void child(void)
{
	int err;

	alarm(2);
	err = static_call_update(rg_fork_op, op_c);
	if (err > 0 || (err == 0 && static_call(rg_fork_op)(3) != op_c(3))) {
		say("raw fork child: update returned 0, the call does not "
		    "reach the new target\n");
		_exit(1);
	}
	err = static_branch_enable(&rg_exe_key);
	if (err > 0 || (err == 0 && exe_probe() != 1)) {
		say("raw fork child: enable returned 0, the site is not "
		    "enabled\n");
		_exit(1);
	}
	_exit(0);
}

static void test_raw_fork_during_updates(void **state)
{
	int hung = 0, bad = 0, ok = 0;
	pthread_t t;
	(void)state;

	assert_int_equal(static_call_update(rg_fork_op, op_b), 0);
	rg_thread(&t, updater, NULL);
	rg_settle();
	while (atomic_load(&updates) < 10)
		usleep(100);
	int forks = 0;
	for (; forks < 50 && hung < 2; forks++) {
		int status;
		long pid = rg_raw_fork();
		if (pid == 0)
			child();
		assert_true(pid > 0);
		assert_int_equal(waitpid((pid_t)pid, &status, 0), pid);
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
			hung++;
		else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad++;
		else
			ok++;
		usleep(1000);
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	printf("%d raw forks during %lu updates: %d children fine, %d hung "
	       "(killed by their alarm), %d failed otherwise\n",
	       forks, atomic_load(&updates), ok, hung, bad);
	assert_int_equal(hung, 0);
	assert_int_equal(bad, 0);
}

/* The child of an idle parent: every change must go through. */
static void child_strict(void)
{
	alarm(2);
	if (static_call_update(rg_fork_op, op_c) != 0 ||
	    static_call(rg_fork_op)(3) != op_c(3)) {
		say("raw fork child: update failed or not in effect\n");
		_exit(1);
	}
	if (static_branch_enable(&rg_exe_key) != 0 || exe_probe() != 1) {
		say("raw fork child: enable failed or not in effect\n");
		_exit(1);
	}
	_exit(0);
}

static void test_raw_fork_idle(void **state)
{
	(void)state;

	for (int i = 0; i < 20; i++) {
		int (*mine)(int) = i & 1 ? op_a : op_b;
		int status;
		assert_int_equal(static_call_update(rg_fork_op, mine), 0);
		assert_int_equal(static_branch_disable(&rg_exe_key), 0);
		long pid = rg_raw_fork();
		if (pid == 0)
			child_strict();
		assert_true(pid > 0);
		assert_int_equal(waitpid((pid_t)pid, &status, 0), pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("raw fork child %d: status %#x", i, status);
		assert_int_equal(static_call(rg_fork_op)(3), mine(3));
		assert_int_equal(exe_probe(), 0);
	}
	assert_int_equal(static_call_update(rg_fork_op, op_c), 0);
	assert_int_equal(static_call(rg_fork_op)(3), op_c(3));
	assert_int_equal(static_branch_enable(&rg_exe_key), 0);
	assert_int_equal(exe_probe(), 1);
	assert_int_equal(static_branch_disable(&rg_exe_key), 0);
	printf("20 raw forks of an idle parent: every child updated its own "
	       "code, the parent's stayed\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw_fork_during_updates),
		cmocka_unit_test(test_raw_fork_idle),
	};

	sc_test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
