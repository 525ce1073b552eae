/* SPDX-License-Identifier: MIT */
/*
 * Issue 13.14 / 14: updates from a signal handler that interrupts an
 * update, or a page flip, of the same page on the same thread.
 *
 * One page (rg_pages.h) holds sites of fg_k1, fg_k2 and fg_k3.  The main
 * thread toggles fg_k1 for 2 s (each toggle flips the page); a POSIX timer
 * sends it a signal every 200 us (4 ms under an emulator); a second thread toggles fg_k3 (so the
 * handler also meets the lock held by another thread).  The handler runs
 * fg_k1's site (its result must be one the interrupted toggle allows) and
 * toggles fg_k2, which has no other writer.
 *
 * Asserts: every toggle of the main thread and of the second thread
 * returns 0 with its site following; every toggle from the handler returns
 * 0 (its site then follows) or -EDEADLK (it interrupted an update on its
 * own thread; nothing changed); no result of fg_k1's site is illegal; no
 * deadlock (the watchdog), no crash; under the default protocol, no trap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#include "regress.h"
#include "rg_pages.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

DEFINE_STATIC_KEY_FALSE(fg_k1);
DEFINE_STATIC_KEY_FALSE(fg_k2);
DEFINE_STATIC_KEY_FALSE(fg_k3);
RG_KEY_REF(fg_k1_ref, fg_k1);
RG_KEY_REF(fg_k2_ref, fg_k2);
RG_KEY_REF(fg_k3_ref, fg_k3);

int fg_s1(void), fg_s2(void), fg_s3(void);

__asm__(RG_PAGES_MACRO);
__asm__(".pushsection .text.rg_flip_signal, \"ax\", @progbits\n"
	".balign 4096, 0xcc\n"
	"rg_key_site fg_s1, fg_k1_ref, 0\n"
	"rg_key_site fg_s2, fg_k2_ref, 256\n"
	"rg_key_site fg_s3, fg_k3_ref, 512\n"
	".org 4095, 0xcc\n"
	".byte 0xcc\n"
	".popsection\n");

/* fg_k1: the state before and after the toggle under way (main thread,
 * read by its own handler: volatile is enough). */
static volatile sig_atomic_t k1_from, k1_to;
static volatile sig_atomic_t h_on; /* fg_k2's state, the handler's own */
static _Atomic unsigned long h_runs, h_ok, h_deadlk, h_bad, h_wrong;
static _Atomic int h_bad_err;
static _Atomic int stop;

static void handler(int sig)
{
	int saved = errno, r, err;

	(void)sig;
	atomic_fetch_add(&h_runs, 1);
	r = fg_s1();
	if (r != k1_from && r != k1_to)
		atomic_fetch_add(&h_wrong, 1);
	err = h_on ? static_branch_disable(&fg_k2)
		   : static_branch_enable(&fg_k2);
	if (err == 0) {
		h_on = !h_on;
		atomic_fetch_add(&h_ok, 1);
		if (fg_s2() != h_on)
			atomic_fetch_add(&h_wrong, 1);
	} else if (err == -EDEADLK) {
		atomic_fetch_add(&h_deadlk, 1);
		if (fg_s2() != h_on)
			atomic_fetch_add(&h_wrong, 1);
	} else {
		atomic_fetch_add(&h_bad, 1);
		atomic_store(&h_bad_err, err);
	}
	errno = saved;
}

static void *other(void *arg)
{
	(void)arg;
	for (int on = 1; !atomic_load(&stop); on = !on) {
		int err = on ? static_branch_enable(&fg_k3)
			     : static_branch_disable(&fg_k3);
		RG_CHECK(err == 0 && fg_s3() == on, "fg_k3: %d", err);
	}
	return NULL;
}

static void test_updates_from_handler(void **state)
{
	struct sigaction sa;
	struct sigevent sev;
	struct itimerspec its;
	timer_t timer;
	unsigned long long traps0 = rg_traps();
	unsigned long toggles = 0;
	pthread_t t;
	double end;
	(void)state;

	/* -EDEADLK is expected here: not a message each time */
	assert_int_equal(static_call_set_option("log", "off"), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	assert_int_equal(sigaction(SIGRTMIN, &sa, NULL), 0);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGRTMIN;
	sev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
	assert_int_equal(timer_create(CLOCK_MONOTONIC, &sev, &timer), 0);
	rg_thread(&t, other, NULL);
	rg_settle();
	/* every 200 us; under an emulator, whose toggle from the handler can
	 * take longer than that, every 4 ms: a timer faster than the handler
	 * would leave the main thread nothing but handlers (a livelock of the
	 * test's own making, not the library's) */
	its.it_interval.tv_sec = 0;
	its.it_interval.tv_nsec = (long)(200000 * sc_test_slowdown());
	its.it_value = its.it_interval;
	assert_int_equal(timer_settime(timer, 0, &its, NULL), 0);
	end = sc_now() + sc_test_seconds(2.0);
	while (sc_now() < end) {
		int on = !static_key_enabled(&fg_k1), err;
		k1_to = on;
		err = on ? static_branch_enable(&fg_k1)
			 : static_branch_disable(&fg_k1);
		if (err)
			fail_msg("toggle %lu: %s", toggles, strerror(-err));
		k1_from = on;
		assert_int_equal(fg_s1(), on);
		toggles++;
	}
	memset(&its, 0, sizeof(its));
	timer_settime(timer, 0, &its, NULL);
	timer_delete(timer);
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	printf("updates from a handler: %lu toggles; handler ran %lu times: "
	       "%lu "
	       "toggles, %lu -EDEADLK, %lu other (last %d), %lu wrong; %llu "
	       "traps\n",
	       toggles, atomic_load(&h_runs), atomic_load(&h_ok),
	       atomic_load(&h_deadlk), atomic_load(&h_bad),
	       atomic_load(&h_bad_err), atomic_load(&h_wrong),
	       rg_traps() - traps0);
	assert_int_equal(atomic_load(&h_bad), 0);
	assert_int_equal(atomic_load(&h_wrong), 0);
	assert_int_equal(fg_s2(), h_on);
	if (rg_default_protocol())
		assert_int_equal(rg_traps() - traps0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_updates_from_handler),
	};

	sc_test_watchdog(30 + 2 * sc_test_seconds(2.0));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
