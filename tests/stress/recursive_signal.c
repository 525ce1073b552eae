/* SPDX-License-Identifier: MIT */
/*
 * The recursive case, through signals: a storm of signals aimed at the
 * PATCHING thread (another thread doing pthread_kill() in a loop, and a
 * POSIX timer with SIGEV_THREAD_ID firing every 100 us) while it
 * updates four static calls thousands of times.  The handler
 *
 *  - calls the very static calls being patched and checks every result
 *    (stress.h); when it interrupted the patch window (the trace hook tells
 *    it: open from STATIC_CALL_TRACE_BEGIN to FINISH) and a trampoline
 *    started with int3, that call went through the int3 handler on top of
 *    the interrupted patcher;
 *  - updates another static call: it must get -EDEADLK when it interrupted
 *    an update in the window (the patch lock is held there), must succeed
 *    when it interrupted no update, and may do either in the short stretch
 *    of an update outside the window.  The update's effect (or absence) is
 *    checked by calling it.
 *
 * Asserted: no wrong result, handler runs inside the window that hit an
 * int3 (> 0), -EDEADLK seen (> 0) and successful handler updates (> 0),
 * no unexpected return code, no failed update of the patcher, and (the
 * watchdog) no deadlock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "common.h"
#include "stress.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#define MIN_UPDATES 2000
#define TIMER_NS 100000

static int v_a(int x) { return x + 1; }
static int v_b(int x) { return x + 2; }
DEFINE_STATIC_CALL(rs_victim, v_a); /* updated by the handler only */

/* Patcher state, read by the handler on the same thread. */
static volatile sig_atomic_t in_update; /* around each update */
static volatile sig_atomic_t in_window; /* hook: BEGIN .. FINISH */
static volatile sig_atomic_t in_handler;
static volatile int victim_k; /* 0: v_a, 1: v_b */

/* Handler counters (one thread, never nested: plain volatile is enough,
 * atomics for what other threads read while it runs). */
static struct st_counts sig_counts;
static _Atomic unsigned long sig_runs[2], sig_in_window, sig_trapped;
static _Atomic unsigned long upd_ok_idle, upd_ok_between, deadlk_window,
	deadlk_between, upd_bad, victim_bad;
static _Atomic int upd_bad_rc;
static unsigned long tick;

static _Atomic int stop;

static void hook(enum static_call_trace_step step, unsigned int nr)
{
	(void)nr;
	if (in_handler)
		return; /* the handler's own update */
	if (step == STATIC_CALL_TRACE_BEGIN)
		in_window = 1;
	else if (step == STATIC_CALL_TRACE_FINISH)
		in_window = 0;
}

static int victim_expect(int k, int x) { return k ? v_b(x) : v_a(x); }

static void handler_update(bool upd, bool win)
{
	int k = victim_k, x = 500 + (int)(tick & 1023);
	int rc = static_call_update(rs_victim, k ? v_a : v_b);

	if (rc == 0) {
		victim_k = k = !k;
		if (win || upd)
			atomic_fetch_add(win ? &upd_bad : &upd_ok_between, 1);
		else
			atomic_fetch_add(&upd_ok_idle, 1);
	} else if (rc == -EDEADLK && upd) {
		atomic_fetch_add(win ? &deadlk_window : &deadlk_between, 1);
	} else {
		int none = 0;
		atomic_fetch_add(&upd_bad, 1);
		atomic_compare_exchange_strong(&upd_bad_rc, &none, rc);
	}
	if (static_call(rs_victim)(x) != victim_expect(k, x))
		atomic_fetch_add(&victim_bad, 1);
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;
	bool upd = in_update, win = in_window, trapped = false;
	int x = 1 + (int)(tick++ % ST_XMAX);

	(void)si;
	(void)uc;
	in_handler = 1;
	atomic_fetch_add(&sig_runs[sig == SIGUSR2], 1);
	for (int i = 0; i < ST_KEYS; i++, x = st_next_x(x)) {
		/* Only this thread writes code, and it is here: an int3 now
		 * means that the call below traps. */
		if (sc_test_trapped(st_key[i]->tramp))
			trapped = true;
		st_call_checked(i, x, &sig_counts, "signal handler");
	}
	if (win) {
		atomic_fetch_add(&sig_in_window, 1);
		if (trapped)
			atomic_fetch_add(&sig_trapped, 1);
	}
	handler_update(upd, win);
	in_handler = 0;
	errno = saved_errno;
}

/*
 * One signal at a time, then a random pause of up to a few microseconds:
 * a signal that is always pending would be delivered again at every
 * sigreturn, and the patcher would never get back to its update.
 */
static void *killer(void *arg)
{
	pthread_t target = *(pthread_t *)arg;
	unsigned int seed = 99;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned long seen = atomic_load(&sig_runs[0]);
		int spin = rand_r(&seed) % 4096;
		pthread_kill(target, SIGUSR1);
		while (atomic_load(&sig_runs[0]) == seen &&
		       !atomic_load_explicit(&stop, memory_order_relaxed))
			sched_yield();
		for (volatile int i = 0; i < spin; i++)
			;
	}
	return NULL;
}

static void test_signal_storm(void **state)
{
	struct static_call_stats before, after;
	struct st_counts counts = {0};
	struct st_caller_arg carg = {&stop, &counts, 4242};
	pthread_t self = pthread_self(), kill_thread, caller;
	struct sigevent sev;
	struct itimerspec its;
	struct sigaction sa;
	timer_t timer;
	unsigned int seed = 777;
	unsigned long updates = 0, commits = 0, errors = 0;
	double seconds = sc_test_seconds(3.0), t0;
	int first_err = 0;
	(void)state;
	st_crash_report(false);

	static_call_set_print(st_count_log);
	st_gen_reset();
	assert_int_equal(static_call_update(static_call_trace_hook, hook), 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask); /* never SIGTRAP: the handler traps */
	sigaddset(&sa.sa_mask, SIGUSR1);
	sigaddset(&sa.sa_mask, SIGUSR2);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	assert_int_equal(sigaction(SIGUSR2, &sa, NULL), 0);

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGUSR2;
	sev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
	assert_int_equal(timer_create(CLOCK_MONOTONIC, &sev, &timer), 0);
	/* under an emulator a signal and its handler's update cost tens of
	 * times more: a timer as fast as natively would starve the patcher */
	its.it_value.tv_sec = its.it_interval.tv_sec = 0;
	its.it_value.tv_nsec = its.it_interval.tv_nsec =
		(long)(TIMER_NS * sc_test_slowdown());

	assert_int_equal(pthread_create(&caller, NULL, st_caller_thread, &carg),
			 0);
	assert_int_equal(pthread_create(&kill_thread, NULL, killer, &self), 0);
	assert_int_equal(timer_settime(timer, 0, &its, NULL), 0);
	before = sc_test_stats();

	t0 = sc_now();
	while (sc_now() < t0 + seconds ||
	       ((updates < MIN_UPDATES || atomic_load(&sig_trapped) == 0 ||
		 atomic_load(&deadlk_window) == 0 ||
		 atomic_load(&upd_ok_idle) == 0) &&
		sc_now() < t0 + 4 * seconds)) {
		struct st_plan pl;
		bool single = rand_r(&seed) % 3 != 0;
		int err;

		st_plan_random(&pl, &seed, 0, ST_KEYS, single);
		st_plan_publish(&pl);
		in_update = 1;
		err = st_plan_apply(&pl, single);
		in_update = 0;
		if (err) {
			if (!first_err)
				first_err = err;
			errors++;
			continue;
		}
		st_plan_commit(&pl);
		commits++;
		updates += (unsigned long)pl.n;
	}

	its.it_value.tv_nsec = its.it_interval.tv_nsec = 0;
	timer_settime(timer, 0, &its, NULL);
	timer_delete(timer);
	atomic_store(&stop, 1);
	pthread_join(kill_thread, NULL);
	pthread_join(caller, NULL);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	after = sc_test_stats();
	assert_int_equal(static_call_update(static_call_trace_hook, NULL), 0);
	static_call_set_print(NULL);

	printf("recursive_signal: updates=%lu commits=%lu signals=%lu "
	       "(pthread_kill %lu, timer %lu) in_window=%lu "
	       "in_window_trapped=%lu handler_updates_ok=%lu "
	       "(+%lu mid-update) edeadlk=%lu (+%lu mid-update) "
	       "bad_rc=%lu victim_bad=%lu traps_emulated=%llu "
	       "traps_rewound=%llu handler_calls=%lu caller_calls=%lu "
	       "unchecked=%lu wrong=%lu errors=%lu\n",
	       updates, commits,
	       atomic_load(&sig_runs[0]) + atomic_load(&sig_runs[1]),
	       atomic_load(&sig_runs[0]), atomic_load(&sig_runs[1]),
	       atomic_load(&sig_in_window), atomic_load(&sig_trapped),
	       atomic_load(&upd_ok_idle), atomic_load(&upd_ok_between),
	       atomic_load(&deadlk_window), atomic_load(&deadlk_between),
	       atomic_load(&upd_bad), atomic_load(&victim_bad),
	       after.traps_emulated - before.traps_emulated,
	       after.traps_rewound - before.traps_rewound,
	       atomic_load(&sig_counts.calls), atomic_load(&counts.calls),
	       atomic_load(&sig_counts.unknown) + atomic_load(&counts.unknown),
	       atomic_load(&sig_counts.wrong) + atomic_load(&counts.wrong),
	       errors);
	st_report_wrong();
	if (first_err)
		fprintf(stderr, "first failed update: %s\n",
			strerror(-first_err));
	if (atomic_load(&upd_bad_rc))
		fprintf(stderr, "first unexpected handler rc: %s\n",
			strerror(-atomic_load(&upd_bad_rc)));

	assert_int_equal(errors, 0);
	assert_int_equal(atomic_load(&sig_counts.wrong), 0);
	assert_int_equal(atomic_load(&counts.wrong), 0);
	assert_int_equal(atomic_load(&upd_bad), 0);
	assert_int_equal(atomic_load(&victim_bad), 0);
	assert_true(updates >= MIN_UPDATES);
	assert_true(atomic_load(&sig_trapped) > 0);
	assert_true(atomic_load(&deadlk_window) > 0);
	assert_true(atomic_load(&upd_ok_idle) > 0);
	assert_int_equal(after.traps_foreign, before.traps_foreign);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signal_storm),
	};

	st_crash_report(true);
	sc_test_watchdog(5 * sc_test_seconds(3.0) + 30);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
