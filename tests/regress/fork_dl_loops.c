/* SPDX-License-Identifier: MIT */
/*
 * Issue 14: fork() in a loop and dlopen()/dlclose() loops during updates.
 *
 * The executable is linked for inline call sites.  Two threads check
 * every result of rg_fd_op (an inline site and the trampoline) and of a
 * site of rg_exe_key against the generations of the updates (itgen.h);
 * the main thread retargets rg_fd_op and toggles the key for 2.5 s; a
 * thread fork()s every ~10 ms: each child checks the sites (a result
 * legal for its copy of the generations), retargets rg_fd_op to a target
 * the parent never uses and toggles the key, checks both took effect in
 * the child, and exits; a thread loads the plug-in (sites of rg_exe_key,
 * a static call of its own), checks its key site against the generations,
 * retargets its static call, and unloads it, in a loop.  Asserts: every
 * update and toggle returns 0 (parent, children, plug-in); 0 wrong
 * results (a child's update reaching the parent would be one); every
 * child exits with 0; under the default protocol, 0 traps in the parent.
 *
 * On the code of issue 14: key sites and inline sites take the int3
 * protocol: traps > 0 under the default protocol.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>

#include "../inline/itgen.h"
#include "regress.h"

__attribute__((noinline, used)) int fd_a(int x) { return x * 4 + 1; }
__attribute__((noinline, used)) int fd_b(int x) { return x * 4 + 2; }
__attribute__((noinline, used)) int fd_c(int x) { return x * 4 + 3; }
DEFINE_STATIC_CALL(rg_fd_op, fd_a);

__attribute__((noinline)) static int fd_inline(int x)
{
	int r = static_call(rg_fd_op)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}

static int (*volatile fd_tramp)(int) = &STATIC_CALL_TRAMP(rg_fd_op);

__attribute__((noinline)) static int exe_probe(void)
{
	return static_branch_unlikely(&rg_exe_key) ? 1 : 0;
}

static struct itg call_gen, key_gen;
static struct itg_counts counts;
static _Atomic int stop;
static _Atomic unsigned long forks, child_bad, loads;

static int decode(int x, int r)
{
	return r == fd_a(x) ? 0 : r == fd_b(x) ? 1 : -1;
}

static void check_all(int x, struct itg_counts *cnt)
{
	unsigned long c = itg_before(&call_gen);
	int r1 = fd_inline(x), r2 = fd_tramp(x);
	unsigned long p = itg_after(&call_gen);

	itg_count(cnt, itg_check(&call_gen, c, p, decode(x, r1)));
	itg_count(cnt, itg_check(&call_gen, c, p, decode(x, r2)));
	c = itg_before(&key_gen);
	r1 = exe_probe();
	p = itg_after(&key_gen);
	itg_count(cnt, itg_check(&key_gen, c, p, r1));
}

static void *runner(void *arg)
{
	int x = (int)(intptr_t)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		check_all(x, &counts);
		x = x % 100000 + 1;
	}
	return NULL;
}

static void child(void)
{
	struct itg_counts mine = {0};
	int on;

	check_all(7, &mine);
	RG_CHECK(atomic_load(&mine.wrong) == 0, "fork child: a wrong result");
	RG_CHECK(static_call_update(rg_fd_op, fd_c) == 0, "child's update");
	RG_CHECK(fd_inline(7) == fd_c(7) && fd_tramp(7) == fd_c(7),
		 "child's update did not take");
	on = !static_key_enabled(&rg_exe_key);
	RG_CHECK((on ? static_branch_enable(&rg_exe_key)
		     : static_branch_disable(&rg_exe_key)) == 0,
		 "child's toggle");
	RG_CHECK(exe_probe() == on, "child's toggle did not take");
	_exit(0);
}

static void *forker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		int status;
		pid_t pid = fork();
		if (pid == 0)
			child();
		if (pid < 0 || waitpid(pid, &status, 0) != pid ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			atomic_fetch_add(&child_bad, 1);
		atomic_fetch_add(&forks, 1);
		usleep(10000);
	}
	return NULL;
}

static void *dlloop(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		struct rg_mod m;
		unsigned long c, p;
		int r;
		RG_CHECK(rg_mod_open(RG_MOD, &m) == 0, "dlopen");
		for (int i = 0; i < 100; i++) {
			c = itg_before(&key_gen);
			r = m.probe_exe();
			p = itg_after(&key_gen);
			itg_count(&counts, itg_check(&key_gen, c, p, r));
		}
		RG_CHECK(m.update(1) == 0, "plug-in update");
		RG_CHECK(rgm_decode(3, m.call(3)) == 1, "plug-in call");
		RG_CHECK(rg_mod_close(&m) == 0, "dlclose");
		atomic_fetch_add(&loads, 1);
	}
	return NULL;
}

static int fdl_set(int k)
{
	return static_call_update(rg_fd_op, k ? fd_b : fd_a);
}

static void test_fork_and_dlopen_loops(void **state)
{
	unsigned long long traps0;
	struct rg_updates u;
	pthread_t t[4];
	(void)state;

	itg_init(&call_gen, 0);
	itg_init(&key_gen, 0);
	traps0 = rg_traps();
	rg_thread(&t[0], runner, (void *)(intptr_t)1);
	rg_thread(&t[1], runner, (void *)(intptr_t)50001);
	rg_thread(&t[2], forker, NULL);
	rg_thread(&t[3], dlloop, NULL);
	rg_update_loop(2.5, &call_gen, 2, fdl_set, &key_gen, &rg_exe_key, &u);
	atomic_store(&stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	printf("%lu updates and toggles, %d failed (first: %s); %lu forks, "
	       "%lu children failed; %lu plug-in loads; %lu checked results, "
	       "%lu wrong, %lu unknown; %llu traps\n",
	       u.ops, u.errors, u.first ? strerror(-u.first) : "-",
	       atomic_load(&forks), atomic_load(&child_bad),
	       atomic_load(&loads), atomic_load(&counts.calls),
	       atomic_load(&counts.wrong), atomic_load(&counts.unknown),
	       rg_traps() - traps0);
	assert_int_equal(atomic_load(&counts.wrong), 0);
	assert_int_equal(u.errors, 0);
	assert_int_equal(atomic_load(&child_bad), 0);
	assert_true(atomic_load(&forks) > 0 && atomic_load(&loads) > 0);
	if (rg_default_protocol())
		assert_int_equal(rg_traps() - traps0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_and_dlopen_loops),
	};

	sc_test_watchdog(40 + 2 * sc_test_seconds(2.5));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
