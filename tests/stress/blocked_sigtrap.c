/* SPDX-License-Identifier: MIT */
/*
 * Updates must never kill a thread that blocks SIGTRAP.
 *
 * While the main thread retargets static calls thousands of times, these run
 * the sites continuously and check every result:
 *   - a thread that blocked every signal with pthread_sigmask();
 *   - a SIGUSR1 handler installed with a full sa_mask, fired at a high rate
 *     at a worker AND at the patching thread (the seed's recursive case, with
 *     SIGTRAP blocked on top);
 *   - the callback of a POSIX timer with SIGEV_THREAD (glibc runs it in a
 *     thread that blocks every signal);
 *   - the trace hook, a site inside the patch path, whose own trampoline is
 *     in the batches.
 * Then, in the same run, the update latency of the trap-free protocol next
 * to the plain int3 protocol, and the int3 protocol's refusal (-EAGAIN,
 * nothing written) when a thread blocks SIGTRAP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define NT 4
static long f0(long x) { return x * 16 + 0; }
static long f1(long x) { return x * 16 + 1; }
static long f2(long x) { return x * 16 + 2; }
static long f3(long x) { return x * 16 + 3; }
static long (*const tg[NT])(long) = {f0, f1, f2, f3};
DEFINE_STATIC_CALL(bs_op, f0);

static _Atomic unsigned long pending, committed;
static _Atomic int stop;
static _Atomic unsigned long wrong, calls_blocked, calls_handler,
	calls_handler_patcher, calls_timer, calls_hook;

/* One checked call: legal iff it reached a generation in [c, p]. */
static void checked_call(long x, _Atomic unsigned long *count)
{
	unsigned long c = atomic_load(&committed);
	long r = static_call(bs_op)(x);
	unsigned long p = atomic_load(&pending);
	long k = r - x * 16;
	int ok = k >= 0 && k < NT &&
		 (p - c >= NT || ((unsigned long)k - c % NT) % NT <= p - c);

	if (!ok)
		atomic_fetch_add(&wrong, 1);
	atomic_fetch_add_explicit(count, 1, memory_order_relaxed);
}

static void *blocked_thread(void *arg)
{
	sigset_t all;
	long x = 0;
	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		checked_call(x++, &calls_blocked);
	return NULL;
}

static pthread_t patcher, victim;

static void usr1(int sig)
{
	(void)sig;
	int saved = errno;
	for (int i = 0; i < 8; i++)
		checked_call(i, pthread_self() == patcher
					? &calls_handler_patcher
					: &calls_handler);
	errno = saved;
}

static void *victim_thread(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		usleep(50);
	return NULL;
}

static void *firer(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		pthread_kill(victim, SIGUSR1);
		pthread_kill(patcher, SIGUSR1);
		usleep(20);
	}
	return NULL;
}

/* glibc starts the threads of a SIGEV_THREAD timer inside libc, where
 * ThreadSanitizer does not see them start: instrumented code run in them
 * (timer_cb) crashes its runtime.  So under TSan there is no timer. */
#ifdef SC_TEST_TSAN
#define WITH_TIMER 0
#else
#define WITH_TIMER 1
#endif

static void timer_cb(union sigval v)
{
	(void)v;
	for (int i = 0; i < 16; i++)
		checked_call(i, &calls_timer);
}

static void hook_a(enum static_call_trace_step step, unsigned int n)
{
	(void)step;
	(void)n;
	checked_call(7, &calls_hook);
}

static void hook_b(enum static_call_trace_step step, unsigned int n)
{
	hook_a(step, n);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static unsigned long gen;

static int retarget(void)
{
	int err;
	atomic_store(&pending, gen + 1);
	err = static_call_update(bs_op, tg[(gen + 1) % NT]);
	if (!err)
		atomic_store(&committed, ++gen);
	else
		atomic_store(&pending, gen);
	return err;
}

static void *busy_caller(void *arg)
{
	long x = 0;
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		checked_call(x++, &calls_blocked);
	return NULL;
}

/* Median update latency, in us, of @n updates with one busy caller. */
static double median_update_us(int n)
{
	double *lat = calloc((size_t)n, sizeof(*lat));
	pthread_t t;
	double m;

	assert_non_null(lat);
	atomic_store(&stop, 0);
	pthread_create(&t, NULL, busy_caller, NULL);
	for (int i = 0; i < n; i++) {
		double a = sc_now();
		assert_int_equal(retarget(), 0);
		lat[i] = sc_now() - a;
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
	m = lat[n / 2] * 1e6;
	free(lat);
	return m;
}

static void test_blocked_threads_survive(void **state)
{
	double seconds = sc_test_seconds(3);
	struct sigaction sa;
	struct sigevent sev;
	struct itimerspec its;
	timer_t timer;
	pthread_t tb, tv, tf;
	struct static_call_stats before, after;
	unsigned long updates = 0, batches = 0;
	(void)state;

	sc_test_watchdog(seconds + 120);
	atomic_store(&stop, 0);
	atomic_store(&calls_blocked, 0);
	patcher = pthread_self();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = usr1;
	sigfillset(&sa.sa_mask); /* the common pattern: SIGTRAP blocked too */
	sa.sa_flags = SA_RESTART;
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);

	if (WITH_TIMER) {
		memset(&sev, 0, sizeof(sev));
		sev.sigev_notify = SIGEV_THREAD;
		sev.sigev_notify_function = timer_cb;
		assert_int_equal(timer_create(CLOCK_MONOTONIC, &sev, &timer),
				 0);
		its.it_value.tv_sec = 0;
		its.it_value.tv_nsec = 1000 * 1000;
		its.it_interval = its.it_value;
		assert_int_equal(timer_settime(timer, 0, &its, NULL), 0);
	}

	pthread_create(&tb, NULL, blocked_thread, NULL);
	pthread_create(&tv, NULL, victim_thread, NULL);
	victim = tv;
	pthread_create(&tf, NULL, firer, NULL);

	before = sc_test_stats();
	/* at least @seconds; on a loaded machine up to 60 s more, until every
	 * kind of caller has run while updates went on (what this is about,
	 * not a rate the library promises) */
	double end = sc_now() + seconds, hard_end = end + 60;
	while (sc_now() < end ||
	       ((updates <= 1000 || !atomic_load(&calls_blocked) ||
		 !atomic_load(&calls_handler) ||
		 !atomic_load(&calls_handler_patcher) ||
		 (WITH_TIMER && !atomic_load(&calls_timer)) ||
		 !atomic_load(&calls_hook)) &&
		sc_now() < hard_end)) {
		if (updates % 16 == 15) {
			/* a batch holding the hook's own trampoline too */
			struct static_call_batch_entry e[2];
			struct static_call_batch b;
			static_call_batch_init(&b, e, 2);
			atomic_store(&pending, gen + 1);
			static_call_batch_add(&b, bs_op, tg[(gen + 1) % NT]);
			static_call_batch_add(&b, static_call_trace_hook,
					      (batches & 1) ? hook_a : hook_b);
			assert_int_equal(static_call_batch_commit(&b), 0);
			atomic_store(&committed, ++gen);
			batches++;
		} else {
			assert_int_equal(retarget(), 0);
		}
		updates++;
	}
	atomic_store(&stop, 1);
	if (WITH_TIMER)
		timer_delete(timer);
	pthread_join(tf, NULL);
	pthread_join(tb, NULL);
	pthread_join(tv, NULL);
	usleep(20000); /* let a last timer callback finish */
	assert_int_equal(static_call_update(static_call_trace_hook, NULL), 0);
	after = sc_test_stats();
	signal(SIGUSR1, SIG_DFL);

	printf("blocked_sigtrap: updates=%lu (batches=%lu) calls: "
	       "blocked-thread=%lu handler=%lu handler-on-patcher=%lu "
	       "timer=%lu hook=%lu traps=%llu wrong=%lu\n",
	       updates, batches, atomic_load(&calls_blocked),
	       atomic_load(&calls_handler), atomic_load(&calls_handler_patcher),
	       atomic_load(&calls_timer), atomic_load(&calls_hook),
	       after.traps_emulated - before.traps_emulated +
		       after.traps_rewound - before.traps_rewound,
	       atomic_load(&wrong));
	assert_int_equal(atomic_load(&wrong), 0);
	assert_true(updates > 1000);
	assert_true(atomic_load(&calls_blocked) > 0);
	assert_true(atomic_load(&calls_handler) > 0);
	assert_true(atomic_load(&calls_handler_patcher) > 0);
	assert_true(!WITH_TIMER || atomic_load(&calls_timer) > 0);
	assert_true(atomic_load(&calls_hook) > 0);
	/* trap-free: nobody ever met an int3 */
	assert_int_equal(after.traps_emulated - before.traps_emulated, 0);
	assert_true(after.flips > before.flips);
}

/* The int3 protocol refuses to run while a thread blocks SIGTRAP. */
static void test_int3_refuses(void **state)
{
	const unsigned char *t = STATIC_CALL_KEY(bs_op).tramp;
	unsigned char saved[STATIC_CALL_TRAMP_SIZE];
	pthread_t tb;
	(void)state;

	assert_int_equal(static_call_set_option("protocol", "int3"), 0);
	atomic_store(&stop, 0);
	pthread_create(&tb, NULL, blocked_thread, NULL);
	usleep(10000);
	memcpy(saved, t, STATIC_CALL_TRAMP_SIZE);
	struct static_call_stats before = sc_test_stats();
	sc_test_capture_log();
	assert_int_equal(retarget(), -EAGAIN);
	struct static_call_stats after = sc_test_stats();
	assert_non_null(strstr(sc_test_last_log(), "blocks SIGTRAP"));
	assert_memory_equal(saved, t, STATIC_CALL_TRAMP_SIZE);
	assert_int_equal(after.bytes_written, before.bytes_written);
	assert_int_equal(after.int3_refused - before.int3_refused, 1);
	atomic_store(&stop, 1);
	pthread_join(tb, NULL);
	/* once it is gone, int3 updates work again */
	assert_int_equal(retarget(), 0);
	static_call_set_print(NULL);
	assert_int_equal(static_call_set_option("protocol", "auto"), 0);
	assert_int_equal(atomic_load(&wrong), 0);
}

/* The latency of both protocols, side by side in one run (reported, not
 * asserted: the machine is shared). */
static void test_latency_side_by_side(void **state)
{
	double trapfree = 0, plain = 0, checked;
	(void)state;
	/* alternate, to spread the machine's noise over both */
	for (int round = 0; round < 4; round++) {
		trapfree += median_update_us(500) / 4;
		assert_int_equal(static_call_set_option("protocol", "int3"), 0);
		assert_int_equal(static_call_set_option("sigtrap_check", "off"),
				 0);
		plain += median_update_us(500) / 4;
		assert_int_equal(static_call_set_option("protocol", "auto"), 0);
	}
	assert_int_equal(static_call_set_option("protocol", "int3"), 0);
	assert_int_equal(static_call_set_option("sigtrap_check", "on"), 0);
	checked = median_update_us(500);
	assert_int_equal(static_call_set_option("protocol", "auto"), 0);
	printf("update latency, one busy caller (mean of 4 medians of 500): "
	       "trap-free "
	       "%.1f us, plain int3 %.1f us (%.2fx), int3 + SIGTRAP check "
	       "%.1f us\n",
	       trapfree, plain, plain / trapfree, checked);
	assert_int_equal(atomic_load(&wrong), 0);
}

/* glibc's SIGEV_THREAD helper (an idle thread that blocks everything) is
 * still there: the int3 protocol refuses, the default protocol does not. */
static void test_int3_refused_after_timer(void **state)
{
	(void)state;
	if (!WITH_TIMER)
		skip();
	sc_test_capture_log();
	assert_int_equal(static_call_set_option("protocol", "int3"), 0);
	assert_int_equal(retarget(), -EAGAIN);
	assert_int_equal(static_call_set_option("protocol", "auto"), 0);
	assert_int_equal(retarget(), 0);
	static_call_set_print(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* before the SIGEV_THREAD timer: glibc's helper thread for
		 * it blocks every signal for the rest of the process's life,
		 * and the int3 protocol then (rightly) refuses to run */
		cmocka_unit_test(test_int3_refuses),
		cmocka_unit_test(test_latency_side_by_side),
		cmocka_unit_test(test_blocked_threads_survive),
		cmocka_unit_test(test_int3_refused_after_timer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
