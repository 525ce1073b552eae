/* SPDX-License-Identifier: MIT */
/*
 * The two ways of writing code, chosen with STATICCALL_WRITE (ctest runs
 * this program once with "mprotect" and once with "procmem"):
 *
 *  - the counters show the chosen method and only it;
 *  - no mapping is ever writable and executable, after or during updates;
 *  - a thread that keeps executing code on the trampoline's own page (the
 *    static call itself and small functions placed right next to it) runs
 *    correctly through hundreds of updates (with mprotect, that page is not
 *    executable for a moment at every write);
 *  - the application's own SIGSEGVs still reach its handler, and with no
 *    handler still kill the process, as without the library.
 *
 * The multi-threaded cases run in fork()ed children so that a crash is
 * reported as a failed test rather than ending the whole program.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch.h"
#include "common.h"

/* Code placed in the trampolines' own section, so on the same page. */
#define NEXT_TO_TRAMP                                                          \
	__attribute__((noinline, section(".text.staticcall_tramp")))

/* unsigned: no sanitizer checks, so the functions stay tiny */
NEXT_TO_TRAMP static unsigned int mp_add1(unsigned int x) { return x + 1; }
NEXT_TO_TRAMP static unsigned int mp_add2(unsigned int x) { return x + 2; }
NEXT_TO_TRAMP static unsigned int mp_xor(unsigned int x) { return x ^ 0x55; }

/*
 * The initial target must live in another section: the assembler would
 * shorten a jump within the trampolines' section to the 2-byte form, which
 * is not one the library accepts.
 */
static unsigned int mp_start(unsigned int x) { return x + 1; }
DEFINE_STATIC_CALL(mp_op, mp_start);

static _Atomic int stop;

/* The executing thread's loop, on the same page as well. */
NEXT_TO_TRAMP static long exec_loop(unsigned int n)
{
	long bad = 0;

	for (unsigned int i = 0; i < n; i++) {
		unsigned int r = static_call(mp_op)(i);
		if (r != i + 1 && r != i + 2 && r != (i ^ 0x55))
			bad++;
		if (mp_xor(i) != (i ^ 0x55))
			bad++;
	}
	return bad;
}

enum method { M_MPROTECT, M_PROCMEM };

static enum method method(void)
{
	const char *e = getenv("STATICCALL_WRITE");

	if (e && strcmp(e, "mprotect") == 0)
		return M_MPROTECT;
	if (e && strcmp(e, "procmem") == 0)
		return M_PROCMEM;
	fail_msg("run me with STATICCALL_WRITE=mprotect or procmem");
	return M_PROCMEM;
}

static uintptr_t page_of(const void *p)
{
	return (uintptr_t)p & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1);
}

static void check_method_counters(const struct static_call_stats *before,
				  const struct static_call_stats *after)
{
	if (method() == M_MPROTECT) {
		assert_true(after->writes_mprotect > before->writes_mprotect);
		assert_int_equal(after->writes_procmem, 0);
	} else {
		assert_true(after->writes_procmem > before->writes_procmem);
		assert_int_equal(after->writes_mprotect, 0);
		assert_int_equal(after->segv_waits, 0);
	}
}

/* ------------------------------------------------------------------------
 * Single-threaded: results, counters, W^X
 * ------------------------------------------------------------------------ */
static void test_updates_and_counters(void **state)
{
	struct static_call_stats before, after;
	(void)state;

	before = sc_test_stats();
	assert_int_equal(static_call(mp_op)(10), 11);
	assert_int_equal(static_call_update(mp_op, mp_add2), 0);
	assert_int_equal(static_call(mp_op)(10), 12);
	assert_int_equal(static_call_update(mp_op, mp_xor), 0);
	assert_int_equal(static_call(mp_op)(10), 10 ^ 0x55);
	/* the RET0 form, through this method too */
	assert_int_equal(static_call_update(mp_op, static_call_return0), 0);
	assert_int_equal(static_call(mp_op)(10), 0);
	assert_int_equal(static_call_update(mp_op, mp_add1), 0);
	assert_int_equal(static_call(mp_op)(10), 11);
	after = sc_test_stats();
	check_method_counters(&before, &after);
	assert_int_equal(after.updates - before.updates, 4);
	/* every write went through the chosen method (at least a breakpoint
	 * and the new instruction per batch, and the tail between on x86) */
	assert_true(after.writes_mprotect + after.writes_procmem >=
		    SC_TEST_INT3_STEPS * (after.batches - before.batches));
}

static void test_no_wx_after_updates(void **state)
{
	struct static_call_stats before, after;
	(void)state;

	before = sc_test_stats();
	for (int i = 0; i < 300; i++) {
		unsigned int (*f)(unsigned int) = (i & 1) ? mp_add2 : mp_add1;
		assert_int_equal(static_call_update(mp_op, f), 0);
		assert_int_equal(static_call(mp_op)(7), f(7));
	}
	after = sc_test_stats();
	assert_int_equal(sc_test_count_wx(), 0);
	check_method_counters(&before, &after);
	assert_true(after.bytes_written - before.bytes_written >= 300);
	assert_int_equal(static_call_update(mp_op, mp_add1), 0);
}

/* ------------------------------------------------------------------------
 * Children
 * ------------------------------------------------------------------------ */
#define CHILD_OK 0

static void child_init(void)
{
	struct rlimit rl = {0, 0};

	setrlimit(RLIMIT_CORE, &rl);
	alarm(20);
	/* cmocka's crash handlers would take the child back into the test
	 * runner: a crash here must be a crash */
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	signal(SIGILL, SIG_DFL);
	signal(SIGFPE, SIG_DFL);
}

static void run_in_child(int (*fn)(void), const char *what)
{
	int st;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_init();
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != CHILD_OK)
		fail_msg("%s: child status %#x (exit %d, signal %d: %s)", what,
			 st, WIFEXITED(st) ? WEXITSTATUS(st) : -1,
			 WIFSIGNALED(st) ? WTERMSIG(st) : -1,
			 WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "-");
}

/* A thread that keeps executing code on the trampoline's page. */
static _Atomic long exec_bad, exec_rounds;

static void *executor(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		atomic_fetch_add(&exec_bad, exec_loop(256));
		atomic_fetch_add(&exec_rounds, 1);
	}
	return NULL;
}

#define SAME_PAGE_UPDATES 500

static int same_page_child(void)
{
	unsigned int (*targets[])(unsigned int) = {mp_add1, mp_add2, mp_xor};
	struct static_call_stats before, after;
	pthread_t t;

	stop = 0;
	before = sc_test_stats();
	if (pthread_create(&t, NULL, executor, NULL) != 0)
		return 10;
	while (atomic_load(&exec_rounds) == 0)
		sched_yield();
	for (int i = 0; i < SAME_PAGE_UPDATES; i++) {
		if (static_call_update(mp_op, targets[i % 3]) != 0) {
			atomic_store(&stop, 1);
			pthread_join(t, NULL);
			return 11;
		}
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	after = sc_test_stats();
	printf("  same page: %ld rounds, %llu SIGSEGV waits, %llu traps "
	       "emulated\n",
	       (long)exec_rounds, after.segv_waits - before.segv_waits,
	       after.traps_emulated - before.traps_emulated);
	fflush(stdout);
	if (exec_bad != 0)
		return 12;
	if (after.updates - before.updates != SAME_PAGE_UPDATES)
		return 13;
	if (method() == M_MPROTECT ? after.writes_procmem != 0
				   : after.writes_mprotect != 0)
		return 14;
	if (static_call_update(mp_op, mp_add2) != 0 ||
	    static_call(mp_op)(1) != 3)
		return 15;
	return CHILD_OK;
}

static void test_same_page_executor(void **state)
{
	const void *code[] = {(void *)mp_add1, (void *)mp_add2, (void *)mp_xor,
			      (void *)exec_loop};
	uintptr_t tp = page_of(STATIC_CALL_KEY(mp_op).tramp);
	int same = 0;
	(void)state;

	for (size_t i = 0; i < sizeof(code) / sizeof(code[0]); i++)
		same += page_of(code[i]) == tp;
	/* the layout this test relies on */
	assert_true(same >= 3);
	run_in_child(same_page_child, "thread executing on the trampoline's "
				      "page during updates");
}

/* W^X holds during the updates too, not only after them. */
static _Atomic int wx_seen, wx_samples;

static void *wx_sampler(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		int n = sc_test_count_wx();
		if (n != 0)
			atomic_store(&wx_seen, n);
		atomic_fetch_add(&wx_samples, 1);
	}
	return NULL;
}

static int wx_child(void)
{
	pthread_t t;

	stop = 0;
	if (pthread_create(&t, NULL, wx_sampler, NULL) != 0)
		return 10;
	for (int i = 0; i < 300 || atomic_load(&wx_samples) < 20; i++) {
		if (static_call_update(mp_op, (i & 1) ? mp_add2 : mp_add1)) {
			atomic_store(&stop, 1);
			pthread_join(t, NULL);
			return 11;
		}
		if (i > 100000)
			break;
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	if (wx_seen != 0)
		return 12;
	if (wx_samples < 20)
		return 13;
	return CHILD_OK;
}

static void test_no_wx_during_updates(void **state)
{
	(void)state;
	run_in_child(wx_child, "W^X sampled during updates");
}

/* ------------------------------------------------------------------------
 * The application's own SIGSEGVs
 * ------------------------------------------------------------------------ */
static char *volatile app_page;
static volatile int app_segv_count;
static void *volatile app_segv_addr;
static volatile int app_segv_code;

static void app_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	app_segv_count++;
	app_segv_addr = si->si_addr;
	app_segv_code = si->si_code;
	/* repair the fault: the access is retried and succeeds */
	mprotect(app_page, (size_t)sysconf(_SC_PAGESIZE),
		 PROT_READ | PROT_WRITE);
}

static int app_segv_child(void)
{
	struct sigaction sa;
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = app_segv;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGSEGV, &sa, NULL) != 0)
		return 10;
	app_page =
		mmap(NULL, ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (app_page == MAP_FAILED)
		return 11;
	for (int round = 1; round <= 3; round++) {
		/* a few updates (several code writes each) ... */
		for (int i = 0; i < 3; i++)
			if (static_call_update(mp_op,
					       (i & 1) ? mp_add2 : mp_add1))
				return 12;
		/* ... then a fault of the application's own */
		((volatile char *)app_page)[1] = 1;
		if (app_segv_count != round)
			return 13;
		if (app_segv_addr != app_page + 1 ||
		    app_segv_code != SEGV_ACCERR)
			return 14;
		if (mprotect(app_page, ps, PROT_NONE) != 0)
			return 15;
	}
	return CHILD_OK;
}

static void test_app_sigsegv_handler(void **state)
{
	(void)state;
	run_in_child(app_segv_child, "the app's SIGSEGV handler after updates");
}

/* With no handler, the app's own SIGSEGV kills it, as without us. */
static int segv_default_child(void)
{
	char *p = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 10;
	if (static_call_update(mp_op, mp_add2) ||
	    static_call_update(mp_op, mp_add1))
		return 11;
	((volatile char *)p)[0] = 1;
	return 12;
}

static void test_sigsegv_default_action(void **state)
{
	int st;
	pid_t pid;
	(void)state;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_init();
		_exit(segv_default_child());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSEGV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_updates_and_counters),
		cmocka_unit_test(test_no_wx_after_updates),
		cmocka_unit_test(test_same_page_executor),
		cmocka_unit_test(test_no_wx_during_updates),
		cmocka_unit_test(test_app_sigsegv_handler),
		cmocka_unit_test(test_sigsegv_default_action),
	};
	/* No watchdog thread here: its code could share the trampolines'
	 * page; ctest's timeout bounds the run instead. */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
