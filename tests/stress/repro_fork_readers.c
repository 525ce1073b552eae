/* SPDX-License-Identifier: MIT */
/*
 * fork() from inside an update (the trace hook, at STATIC_CALL_TRACE_INT3)
 * while caller threads keep running into the int3 of the site being
 * patched.  runtime.c documents that the child then finishes the update on
 * its own copy of the code.  For that, the child's sc_trap_unpublish() must
 * not wait for SIGTRAP handlers of threads that exist only in the parent:
 * the handlers' reader count (trap.c, `readers`) is copied by fork() with
 * the other threads' increments in it, and the child, which has one
 * thread, waits for it to drop to zero forever.
 *
 * Each child gets 5 seconds (alarm) to finish the update and exit 0; the
 * parent stops at the first child that does not.
 *
 * An update refused with -EAGAIN by the SIGTRAP check (a caller seen with
 * SIGTRAP blocked for too long: passing through the library's handler, and
 * starved there on a loaded machine) wrote nothing and forked nothing: it
 * is retried, and counted.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define FORKS 600
#define CALLERS 2

static int fr_a(int x) { return x + 1; }
static int fr_b(int x) { return x + 2; }
DEFINE_STATIC_CALL(fr_op, fr_a);

static _Atomic int stop;
static _Atomic unsigned long wrong;
static volatile int armed;
static pid_t parent_pid, child;

static void *caller(void *arg)
{
	int x = (int)(intptr_t)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int r = static_call(fr_op)(x);
		if (r != x + 1 && r != x + 2)
			atomic_fetch_add(&wrong, 1);
		x = (x + 1) & 0xffff;
	}
	return NULL;
}

static void hook(enum static_call_trace_step step, unsigned int nr)
{
	(void)nr;
	if (!armed || step != STATIC_CALL_TRACE_INT3 || getpid() != parent_pid)
		return;
	child = fork();
	if (child == 0)
		alarm(5); /* the child must finish the update by then */
}

static void test_fork_in_window(void **state)
{
	pthread_t t[CALLERS];
	unsigned long forks = 0, hung = 0, failed = 0, refused = 0;
	int first_status = 0;
	(void)state;

	assert_int_equal(static_call_update(static_call_trace_hook, hook), 0);
	for (intptr_t i = 0; i < CALLERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, caller, (void *)i),
				 0);
	assert_int_equal(sc_test_wait_unblocked(), 0);
	for (int n = 0; n < FORKS && !failed; n++) {
		int status, err;

		fflush(stdout);
		armed = 1;
		for (int tries = 0;; tries++) {
			err = static_call_update(fr_op, n % 2 ? fr_a : fr_b);
			if (err != -EAGAIN || tries == 1000)
				break;
			refused++; /* nothing written, no fork: again */
			usleep(1000);
		}
		armed = 0;
		if (getpid() != parent_pid)
			_exit(err ? 2 : 0); /* the child: update finished */
		assert_int_equal(err, 0);
		assert_true(child > 0);
		forks++;
		assert_int_equal(waitpid(child, &status, 0), child);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			first_status = status;
			failed++;
			if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
				hung++;
		}
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < CALLERS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(static_call_update(static_call_trace_hook, NULL), 0);

	printf("repro_fork_readers: forks=%lu failed_children=%lu "
	       "(hung in the update: %lu, first status 0x%x) wrong=%lu "
	       "refused (EAGAIN, retried)=%lu\n",
	       forks, failed, hung, first_status, atomic_load(&wrong), refused);
	assert_int_equal(failed, 0);
	assert_int_equal(atomic_load(&wrong), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_in_window),
	};

	parent_pid = getpid();
	sc_test_watchdog(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
