/* SPDX-License-Identifier: MIT */
/*
 * Issue 13, item 3: the SIGTRAP check must fail closed.
 *
 * In a fork child: the key is toggled twice (so that the library opens
 * what it keeps open), then a thread that blocks SIGTRAP (only) runs a
 * site of rg_exe_key in a loop; the descriptors are exhausted (RLIMIT_NOFILE
 * lowered, /dev/null opened until EMFILE), so that /proc/self/task cannot
 * be read; the key is toggled up to 5000 times (1 s) with the int3
 * protocol.  Asserts:
 * every toggle returns 0 (and the site then follows the key: a way was
 * found that needs no int3 or no descriptor) or a negative errno; the
 * child survives (exit status 0).
 *
 * On the code of issue 13: the check cannot open /proc/self/task, takes
 * that for "no thread blocks SIGTRAP", writes the int3, and the blocking
 * thread runs into it: the child is killed by SIGTRAP (a shell's exit
 * status 133).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>

#include "regress.h"

__attribute__((noinline)) static int exe_probe(void)
{
	return static_branch_unlikely(&rg_exe_key) ? 1 : 0;
}

static _Atomic int stop;
static _Atomic unsigned long runs;

static void *blocks_sigtrap(void *arg)
{
	sigset_t set;
	(void)arg;

	sigemptyset(&set);
	sigaddset(&set, SIGTRAP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		exe_probe();
		atomic_fetch_add_explicit(&runs, 1, memory_order_relaxed);
	}
	return NULL;
}

static int scenario(void *arg)
{
	struct rlimit rl = {64, 64};
	int fds[128], nfd = 0, ok = 0, failed = 0, first = 0;
	pthread_t t;
	(void)arg;

	RG_CHECK(static_call_set_option("protocol", "int3") == 0, "int3");
	/* the library may keep descriptors it opened before (e.g. for
	 * writing code): let it, with toggles before the thread blocks */
	RG_CHECK(static_branch_enable(&rg_exe_key) == 0, "enable");
	RG_CHECK(static_branch_disable(&rg_exe_key) == 0, "disable");
	RG_CHECK(pthread_create(&t, NULL, blocks_sigtrap, NULL) == 0, "thread");
	while (atomic_load(&runs) < 1000)
		usleep(100);
	RG_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit: %s",
		 strerror(errno));
	while (nfd < 128) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			RG_CHECK(errno == EMFILE, "open: %s", strerror(errno));
			break;
		}
		fds[nfd++] = fd;
	}
	RG_CHECK(nfd < 128, "descriptors not exhausted");
	double end = sc_now() + 1.0;
	for (int i = 0; i < 5000 && sc_now() < end; i++) {
		int on = !(i % 2);
		int err = on ? static_branch_enable(&rg_exe_key)
			     : static_branch_disable(&rg_exe_key);
		RG_CHECK(err <= 0, "toggle returned %d", err);
		if (err == 0) {
			RG_CHECK(exe_probe() == on,
				 "toggle to %d returned 0, "
				 "the site reads %d",
				 on, exe_probe());
			ok++;
		} else {
			failed++;
			if (!first)
				first = err;
		}
	}
	while (nfd > 0)
		close(fds[--nfd]);
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	printf("descriptors exhausted: %d toggles worked, %d failed (first: "
	       "%s); the thread that blocks SIGTRAP ran the site %lu times\n",
	       ok, failed, first ? strerror(-first) : "-", atomic_load(&runs));
	return 0;
}

static void test_sigtrap_check_emfile(void **state)
{
	(void)state;
	assert_true(rg_exited(rg_child("emfile", scenario, NULL, 20), 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigtrap_check_emfile),
	};

	sc_test_watchdog(40);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
