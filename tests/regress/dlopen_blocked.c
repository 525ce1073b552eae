/* SPDX-License-Identifier: MIT */
/*
 * Issue 13, item 2: a module loaded while a thread blocks every signal.
 *
 * rg_exe_key is enabled; a thread blocks all signals (and sleeps); the
 * plug-in, which has a site of rg_exe_key, is dlopen()ed.  Asserts:
 *  - after dlopen() the plug-in's site reads the key's state (1), or the
 *    library said why not (a message through the print callback);
 *  - while that thread still blocks: each toggle either works (0, and the
 *    sites of the executable and the plug-in take the key's state) or
 *    fails with a negative errno;
 *  - once the thread is gone: disable and enable return 0 and every site
 *    follows (a load that failed must not leave the key stuck).
 *
 * On the code of issue 13 (key sites patched with int3, guarded by the
 * SIGTRAP check): the load's patch is refused (-EAGAIN), the module is
 * registered as if it had worked, its site reads 0 while the key is on
 * (with a warning: that part is allowed); then a disable fails with
 * -EILSEQ and an enable (no change) returns 0 while the plug-in's site
 * still reads 0: the test fails there.  Every later toggle that changes
 * the key fails with -EILSEQ, also after the blocking thread left.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>

#include "regress.h"

__attribute__((noinline)) static int exe_probe(void)
{
	return static_branch_unlikely(&rg_exe_key) ? 1 : 0;
}

static sem_t go, started;
static char warning[512]; /* the last warning the library printed */

static void capture_warning(enum static_call_print_level level, const char *msg)
{
	if (level == STATIC_CALL_WARN)
		snprintf(warning, sizeof(warning), "%s", msg);
}

static void *blocker(void *arg)
{
	sigset_t all;
	(void)arg;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	sem_post(&started);
	while (sem_wait(&go) != 0)
		;
	return NULL;
}

static void test_dlopen_while_blocked(void **state)
{
	struct rg_mod m;
	pthread_t t;
	int err, probe;
	(void)state;

	sem_init(&go, 0, 0);
	sem_init(&started, 0, 0);
	assert_int_equal(static_branch_enable(&rg_exe_key), 0);
	assert_int_equal(exe_probe(), 1);

	rg_thread(&t, blocker, NULL);
	sem_wait(&started);
	usleep(20000); /* asleep with every signal blocked */

	static_call_set_print(capture_warning);
	assert_int_equal(rg_mod_open(RG_MOD, &m), 0);
	probe = m.probe_exe();
	printf("after dlopen: key on, the plug-in's site reads %d; "
	       "warning: \"%s\"\n",
	       probe, warning);
	if (probe != 1)
		assert_true(warning[0] != 0); /* said why */

	/* still blocked: work, or fail with an errno */
	for (int i = 0; i < 4; i++) {
		err = i % 2 ? static_branch_enable(&rg_exe_key)
			    : static_branch_disable(&rg_exe_key);
		printf("toggle %d while a thread blocks every signal: %d "
		       "(%s)\n",
		       i % 2, err, err ? strerror(-err) : "ok");
		assert_true(err <= 0);
		if (err == 0) {
			assert_int_equal(exe_probe(), i % 2);
			assert_int_equal(m.probe_exe(), i % 2);
		}
	}

	sem_post(&go);
	pthread_join(t, NULL);

	/* the thread is gone: toggles work and every site follows */
	for (int i = 0; i < 4; i++) {
		int on = i % 2;
		err = on ? static_branch_enable(&rg_exe_key)
			 : static_branch_disable(&rg_exe_key);
		printf("toggle to %d after the thread left: %d (%s)\n", on, err,
		       err ? strerror(-err) : "ok");
		assert_int_equal(err, 0);
		assert_int_equal(exe_probe(), on);
		assert_int_equal(m.probe_exe(), on);
	}
	assert_int_equal(rg_mod_close(&m), 0);
	static_call_set_print(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dlopen_while_blocked),
	};

	sc_test_watchdog(30);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
