/* SPDX-License-Identifier: MIT */
/*
 * A late trap that meets the next update of the same site.
 *
 * trap.c's handler, for a site it does not find in the published batch,
 * reads the site's first byte: not int3 any more means "late trap, re-run
 * the site"; int3 means "not ours, pass it on" (and with no other SIGTRAP
 * handler, the process dies of SIGTRAP).  But the handler loads the batch
 * pointer and reads the byte at two different times.  If its batch ended
 * in between (active == NULL when loaded) and the next update of the same
 * site has since written its int3, the handler takes the library's own
 * int3 for a foreign one.
 *
 * The window is a few instructions wide; it opens up when the handler is
 * slowed down, e.g. by the copy-on-write faults that follow each fork().
 * So: two updaters retarget one static call back to back, callers run it,
 * and a third thread forks (children exit at once).  All of it runs in a
 * child process, so that a SIGTRAP death is reported instead of ending
 * the test program.  Passes when nothing dies within the time given.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define CALLERS 2

static int lt_a(int x) { return x + 1; }
static int lt_b(int x) { return x + 2; }
DEFINE_STATIC_CALL(lt_op, lt_a);

static _Atomic int stop, go;
static _Atomic unsigned long wrong, updates, forks, errors;

static void *caller(void *arg)
{
	int x = (int)(intptr_t)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int r = static_call(lt_op)(x);
		if (r != x + 1 && r != x + 2)
			atomic_fetch_add(&wrong, 1);
		x = (x + 1) & 0xffff;
	}
	return NULL;
}

static void *updater(void *arg)
{
	(void)arg;
	while (!atomic_load(&go))
		usleep(100);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		bool a = static_call_query(lt_op) == lt_a;
		if (static_call_update(lt_op, a ? lt_b : lt_a))
			atomic_fetch_add(&errors, 1);
		else
			atomic_fetch_add(&updates, 1);
	}
	return NULL;
}

static void *forker(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid(pid, NULL, 0);
		atomic_fetch_add(&forks, 1);
	}
	return NULL;
}

/* The whole scenario, in a child: exits 0 if nothing went wrong. */
static void scenario(double seconds)
{
	pthread_t c[CALLERS], u[2], f;

	alarm((unsigned int)seconds + 30);
	for (intptr_t i = 0; i < CALLERS; i++)
		pthread_create(&c[i], NULL, caller, (void *)i);
	for (intptr_t i = 0; i < 2; i++)
		pthread_create(&u[i], NULL, updater, (void *)i);
	pthread_create(&f, NULL, forker, NULL);
	sc_test_wait_unblocked(); /* every thread started: then update */
	atomic_store(&go, 1);
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&stop, 1);
	for (int i = 0; i < CALLERS; i++)
		pthread_join(c[i], NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(u[i], NULL);
	pthread_join(f, NULL);
	printf("  scenario: updates=%lu forks=%lu errors=%lu wrong=%lu "
	       "traps_emulated=%llu traps_rewound=%llu traps_foreign=%llu\n",
	       atomic_load(&updates), atomic_load(&forks), atomic_load(&errors),
	       atomic_load(&wrong), sc_test_stats().traps_emulated,
	       sc_test_stats().traps_rewound, sc_test_stats().traps_foreign);
	fflush(stdout);
	_exit(atomic_load(&wrong) || atomic_load(&errors) ? 1 : 0);
}

static void test_late_trap(void **state)
{
	double seconds = sc_test_seconds(3.0);
	int status;
	pid_t pid;
	(void)state;

	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		scenario(seconds);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		printf("repro_late_trap: the process died of signal %d (%s)\n",
		       WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		printf("repro_late_trap: exit status %d\n",
		       WEXITSTATUS(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_late_trap),
	};

	sc_test_watchdog(5 * sc_test_seconds(3.0) + 60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
