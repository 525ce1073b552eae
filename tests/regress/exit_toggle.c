/* SPDX-License-Identifier: MIT */
/*
 * Issue 13, item 11 (second half): exit() while other threads toggle keys
 * whose sites are in the executable.
 *
 * A thread toggles rg_exe_key and checks after each toggle that the
 * executable's site follows (0 returned: the new state; an error: the
 * state the key still reports).  The main thread calls exit(0) while it
 * does.  The executable's destructors run first, then those of its
 * libraries: rg_slowexit's takes 300 ms, during which the thread goes on.
 * Asserts: the process ends with status 0; the thread never sees its site
 * disagree with the key (it would end the process with status 3) and
 * never gets an unexpected error (status 4).
 *
 * On the code of issue 13: the executable's destructor unregisters its
 * jump table, then toggles return 0 and change no site: status 3.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "regress.h"

extern int rg_slowexit_linked(void);

__attribute__((noinline)) static int exe_probe(void)
{
	return static_branch_unlikely(&rg_exe_key) ? 1 : 0;
}

static _Atomic unsigned long toggles;

static void *toggler(void *arg)
{
	(void)arg;
	for (unsigned long i = 0;; i++) {
		int on = (int)(i & 1), err;
		err = on ? static_branch_enable(&rg_exe_key)
			 : static_branch_disable(&rg_exe_key);
		if (err != 0 && err != -EAGAIN) {
			fprintf(stderr, "exit_toggle: toggle %lu: %s\n", i,
				strerror(-err));
			_exit(4);
		}
		if (exe_probe() != static_key_enabled(&rg_exe_key)) {
			fprintf(stderr,
				"exit_toggle: after toggle %lu (returned %d, "
				"%lu toggles in all) the executable's site "
				"reads %d, the key %d: wrong branch during "
				"exit()\n",
				i, err, atomic_load(&toggles), exe_probe(),
				static_key_enabled(&rg_exe_key));
			_exit(3);
		}
		atomic_fetch_add(&toggles, 1);
	}
	return NULL;
}

int main(void)
{
	pthread_t t;

	sc_test_watchdog(30);
	if (!rg_slowexit_linked())
		return 2;
	if (pthread_create(&t, NULL, toggler, NULL) != 0)
		return 2;
	while (atomic_load(&toggles) < 1000)
		usleep(1000);
	printf("exit() after %lu toggles; the thread goes on\n",
	       atomic_load(&toggles));
	fflush(stdout);
	exit(0);
}
