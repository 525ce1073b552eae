/* SPDX-License-Identifier: MIT */
/*
 * Issue 14: threads that block every signal, and handlers with a full
 * sa_mask on every thread that can take a signal, including the patching
 * thread, while keys are toggled and calls retargeted.
 *
 * The executable is linked for inline call sites.  What runs, and checks
 * every result against the generations of the updates (itgen.h):
 *  - a thread that blocks every signal: the key's site, the inline call
 *    site of rg_ba_op, and the trampoline (called through a pointer);
 *  - a second thread and the patching (main) thread: the same checks from
 *    a SIGUSR1 handler installed with sigfillset(&sa.sa_mask), sent by a
 *    thread (that also blocks everything) every ~200 us, so that the
 *    patching thread's handler interrupts its own updates anywhere;
 *  - the main thread toggles rg_exe_key and retargets rg_ba_op for 2 s.
 * Asserts: every toggle and update returns 0 (no -EAGAIN: the default
 * protocol has no reason to refuse), 0 wrong results, the process
 * survives, and (the default protocol's promise) 0 traps.
 *
 * On the code of issue 14: key sites and inline sites take the int3
 * protocol, whose SIGTRAP check refuses every toggle and every update
 * of an inline site (-EAGAIN) while the first thread blocks SIGTRAP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>

#include "../inline/itgen.h"
#include "regress.h"

__attribute__((noinline, used)) int ba_a(int x) { return x * 4 + 1; }
__attribute__((noinline, used)) int ba_b(int x) { return x * 4 + 2; }
DEFINE_STATIC_CALL(rg_ba_op, ba_a);

/* An inline call site (the executable is linked for them). */
__attribute__((noinline)) static int ba_inline(int x)
{
	int r = static_call(rg_ba_op)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}

/* The trampoline itself, called through a pointer (not a site). */
static int (*volatile ba_tramp)(int) = &STATIC_CALL_TRAMP(rg_ba_op);

__attribute__((noinline)) static int exe_probe(void)
{
	return static_branch_unlikely(&rg_exe_key) ? 1 : 0;
}

static struct itg call_gen, key_gen;
static struct itg_counts counts;
static _Atomic int stop;
static _Atomic unsigned long handled;

static int decode(int x, int r)
{
	return r == ba_a(x) ? 0 : r == ba_b(x) ? 1 : -1;
}

/* Every kind of site, checked; async-signal-safe. */
static void check_all(int x)
{
	unsigned long c = itg_before(&call_gen);
	int r1 = ba_inline(x), r2 = ba_tramp(x);
	unsigned long p = itg_after(&call_gen);

	itg_count(&counts, itg_check(&call_gen, c, p, decode(x, r1)));
	itg_count(&counts, itg_check(&call_gen, c, p, decode(x, r2)));
	c = itg_before(&key_gen);
	r1 = exe_probe();
	p = itg_after(&key_gen);
	itg_count(&counts, itg_check(&key_gen, c, p, r1));
}

static void on_usr1(int sig)
{
	(void)sig;
	check_all(77);
	atomic_fetch_add_explicit(&handled, 1, memory_order_relaxed);
}

static void block_all(void)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
}

static void *blocked_runner(void *arg)
{
	int x = 1;
	(void)arg;

	block_all();
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		check_all(x);
		x = x % 100000 + 1;
	}
	return NULL;
}

static _Atomic long runner_tid;

static void *signalled_runner(void *arg)
{
	int x = 3;
	(void)arg;

	atomic_store(&runner_tid, syscall(SYS_gettid));
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		check_all(x);
		x = x % 100000 + 1;
	}
	return NULL;
}

static long main_tid;

static void *sender(void *arg)
{
	(void)arg;
	block_all();
	while (!atomic_load(&runner_tid))
		usleep(100);
	while (!atomic_load(&stop)) {
		syscall(SYS_tgkill, getpid(), main_tid, SIGUSR1);
		syscall(SYS_tgkill, getpid(), atomic_load(&runner_tid),
			SIGUSR1);
		usleep(200);
	}
	return NULL;
}

static int ba_set(int k)
{
	return static_call_update(rg_ba_op, k ? ba_b : ba_a);
}

static void test_blocked_and_full_mask(void **state)
{
	struct sigaction sa;
	unsigned long long traps0;
	struct rg_updates u;
	pthread_t t[3];
	(void)state;

	{
		struct static_call_site s[8];
		int n = static_call_sites(rg_ba_op, s, 8);
		assert_true(n >= 1); /* ba_inline()'s call is an inline site */
		assert_int_equal(s[0].state, STATIC_CALL_SITE_INLINE);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigfillset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	itg_init(&call_gen, 0);
	itg_init(&key_gen, 0);
	main_tid = syscall(SYS_gettid);
	traps0 = rg_traps();
	rg_thread(&t[0], blocked_runner, NULL);
	rg_thread(&t[1], signalled_runner, NULL);
	rg_thread(&t[2], sender, NULL);

	rg_update_loop(2.0, &call_gen, 2, ba_set, &key_gen, &rg_exe_key, &u);
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("%lu updates and toggles, %d failed (first: %s); %lu checked "
	       "results, %lu wrong, %lu unknown; %lu handlers ran; %llu "
	       "traps\n",
	       u.ops, u.errors, u.first ? strerror(-u.first) : "-",
	       atomic_load(&counts.calls), atomic_load(&counts.wrong),
	       atomic_load(&counts.unknown), atomic_load(&handled),
	       rg_traps() - traps0);
	assert_int_equal(atomic_load(&counts.wrong), 0);
	assert_int_equal(u.errors, 0);
	assert_true(atomic_load(&handled) > 0);
	if (rg_default_protocol())
		assert_int_equal(rg_traps() - traps0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocked_and_full_mask),
	};

	sc_test_watchdog(30 + 2 * sc_test_seconds(2.0));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
