/* SPDX-License-Identifier: MIT */
/*
 * Live updates under fire: caller threads run four static calls in a tight
 * loop while one or two updater threads retarget them, with single updates
 * and with batches, moving each trampoline between its near, far and RET0
 * encodings.  Every call's result is checked against the targets that were
 * legal at that moment (see stress.h); the test asserts that none was
 * wrong, that no update failed and that the updates rewrote code; how
 * often callers ran into the int3 window (traps_emulated) is printed: no
 * run is promised any.
 *
 * ctest runs this program twice: as stress_update with the default code
 * writer (/proc/self/mem) and as stress_mprotect with
 * STATICCALL_WRITE=mprotect (built with STRESS_WRITE_MPROTECT), where it
 * also asserts that every write went through the mprotect window.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "stress.h"

#define MAX_CALLERS 8
#define MAX_UPDATERS 2
#define NR_CASES 4

static double case_seconds;
static _Atomic int stop, go;
static struct st_counts counts;
static _Atomic unsigned long n_updates, n_batches, n_errors;
static _Atomic int first_error;

/* Totals over every case, printed at the end. */
static struct {
	unsigned long calls, wrong, unknown, updates, batches, traps;
	unsigned long rewound, segv_waits, wprocmem, wmprotect;
} total;

/* With two updaters, generations are taken inside the patch lock. */
static void gen_hook(enum static_call_trace_step step, unsigned int nr)
{
	(void)nr;
	st_hook_begin(step);
}

struct updater_arg {
	unsigned int seed;
	bool shared; /* other updaters update the same static calls */
};

static void *updater(void *arg)
{
	struct updater_arg *a = arg;
	unsigned int seed = a->seed;

	while (!atomic_load(&go))
		usleep(100);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		struct st_plan pl;
		bool single = rand_r(&seed) % 3 != 0;
		int err;

		st_plan_random(&pl, &seed, 0, ST_KEYS, single);
		if (a->shared)
			st_cur_plan = &pl;
		else
			st_plan_publish(&pl);
		err = st_plan_apply(&pl, single);
		st_cur_plan = NULL;
		if (err) {
			int none = 0;
			atomic_fetch_add(&n_errors, 1);
			atomic_compare_exchange_strong(&first_error, &none,
						       err);
			continue;
		}
		st_plan_commit(&pl);
		atomic_fetch_add_explicit(&n_updates, (unsigned long)pl.n,
					  memory_order_relaxed);
		if (!single)
			atomic_fetch_add_explicit(&n_batches, 1,
						  memory_order_relaxed);
	}
	return NULL;
}

static void run_case(int nr_callers, int nr_updaters)
{
	pthread_t callers[MAX_CALLERS], updaters[MAX_UPDATERS];
	struct st_caller_arg cargs[MAX_CALLERS];
	struct updater_arg uargs[MAX_UPDATERS];
	struct static_call_stats before, after;
	double t0, end;

	st_crash_report(false);
	memset(&counts, 0, sizeof(counts));
	memset(&st_first_wrong, 0, sizeof(st_first_wrong));
	atomic_store(&n_updates, 0);
	atomic_store(&n_batches, 0);
	atomic_store(&n_errors, 0);
	atomic_store(&first_error, 0);
	atomic_store(&stop, 0);
	atomic_store(&go, 0);
	st_gen_reset();
	if (nr_updaters > 1)
		assert_int_equal(
			static_call_update(static_call_trace_hook, gen_hook),
			0);
	before = sc_test_stats();

	for (int t = 0; t < nr_callers; t++) {
		cargs[t] = (struct st_caller_arg){&stop, &counts, t * 7919};
		assert_int_equal(pthread_create(&callers[t], NULL,
						st_caller_thread, &cargs[t]),
				 0);
	}
	for (int t = 0; t < nr_updaters; t++) {
		uargs[t] = (struct updater_arg){(unsigned int)t * 31 + 1,
						nr_updaters > 1};
		assert_int_equal(
			pthread_create(&updaters[t], NULL, updater, &uargs[t]),
			0);
	}

	/* every thread has started (unblocked its signals) before the first
	 * int3 update */
	assert_int_equal(sc_test_wait_unblocked(), 0);
	atomic_store(&go, 1);

	/* Run for the time given; on a very busy machine, run on, up to 3
	 * times as long, until there were updates and batches to judge.
	 * (Whether a caller meets an int3 window is up to the scheduler:
	 * printed, not asserted.) */
	t0 = sc_now();
	end = t0 + case_seconds;
	while (sc_now() < end ||
	       ((!atomic_load(&n_updates) || !atomic_load(&n_batches)) &&
		sc_now() < t0 + 3 * case_seconds))
		usleep(20000);
	atomic_store(&stop, 1);
	for (int t = 0; t < nr_updaters; t++)
		pthread_join(updaters[t], NULL);
	for (int t = 0; t < nr_callers; t++)
		pthread_join(callers[t], NULL);
	after = sc_test_stats();
	if (nr_updaters > 1)
		assert_int_equal(
			static_call_update(static_call_trace_hook, NULL), 0);

	unsigned long calls = atomic_load(&counts.calls);
	unsigned long wrong = atomic_load(&counts.wrong);
	unsigned long unknown = atomic_load(&counts.unknown);
	unsigned long traps = after.traps_emulated - before.traps_emulated;
	unsigned long wproc = after.writes_procmem - before.writes_procmem;
	unsigned long wmprot = after.writes_mprotect - before.writes_mprotect;
	unsigned long segv = after.segv_waits - before.segv_waits;

	printf("  callers=%d updaters=%d: calls=%lu updates=%lu "
	       "batches=%lu traps_emulated=%lu traps_rewound=%llu "
	       "writes_procmem=%lu writes_mprotect=%lu segv_waits=%lu "
	       "errors=%lu unchecked=%lu wrong=%lu\n",
	       nr_callers, nr_updaters, calls, atomic_load(&n_updates),
	       atomic_load(&n_batches), traps,
	       after.traps_rewound - before.traps_rewound, wproc, wmprot, segv,
	       atomic_load(&n_errors), unknown, wrong);
	fflush(stdout);
	total.calls += calls;
	total.wrong += wrong;
	total.unknown += unknown;
	total.updates += atomic_load(&n_updates);
	total.batches += atomic_load(&n_batches);
	total.traps += traps;
	total.rewound += after.traps_rewound - before.traps_rewound;
	total.segv_waits += segv;
	total.wprocmem += wproc;
	total.wmprotect += wmprot;

	st_report_wrong();
	if (atomic_load(&first_error))
		fprintf(stderr, "first failed update: %s\n",
			strerror(-atomic_load(&first_error)));
	assert_int_equal(wrong, 0);
	assert_int_equal(atomic_load(&n_errors), 0);
	assert_true(calls > 0);
	assert_true(atomic_load(&n_updates) > 0);
	assert_true(atomic_load(&n_batches) > 0);
	/* the updates rewrote code */
	assert_true(after.sites_patched > before.sites_patched);
	if (!sc_test_int3()) {
		/* trap-free: no trap at all; every trampoline flipped to a new
		 * copy of its page, or stored atomically through its writable
		 * view (store protocol) */
		assert_int_equal(traps, 0);
		if (sc_test_store())
			assert_true(after.writes_view > before.writes_view);
		else
			assert_true(after.flips > before.flips);
	}
	assert_int_equal(after.traps_foreign, before.traps_foreign);
#ifdef STRESS_WRITE_MPROTECT
	assert_true(wmprot > 0);
	assert_int_equal(wproc, 0);
#endif

	/* Quiet now: every static call runs its latest target. */
	for (int i = 0; i < ST_KEYS; i++) {
		unsigned long p = atomic_load(&st_gen[i].pending);
		unsigned long e = atomic_load(&st_gen[i].ring[p % ST_RING]);
		assert_int_equal(atomic_load(&st_gen[i].committed), p);
		assert_int_equal(e >> 8, p);
		assert_int_equal(st_current(i), (int)(e & 0xff));
		assert_int_equal(st_decode(i, 77, st_call(i, 77)),
				 (int)(e & 0xff));
	}
}

static void test_callers2(void **state)
{
	(void)state;
	run_case(2, 1);
}

static void test_callers4(void **state)
{
	(void)state;
	run_case(4, 1);
}

static void test_callers8(void **state)
{
	(void)state;
	run_case(8, 1);
}

/* Two updaters of the same static calls, serialised by the patch lock. */
static void test_two_updaters(void **state)
{
	(void)state;
	run_case(4, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_callers2),
		cmocka_unit_test(test_callers4),
		cmocka_unit_test(test_callers8),
		cmocka_unit_test(test_two_updaters),
	};
	double seconds = sc_test_seconds(3.0);
	int fails;

#ifdef STRESS_WRITE_MPROTECT
	const char *w = getenv("STATICCALL_WRITE");
	if (!w || strcmp(w, "mprotect") != 0) {
		fprintf(stderr, "stress_mprotect needs STATICCALL_WRITE="
				"mprotect in the environment\n");
		return 1;
	}
#endif
	case_seconds = seconds / NR_CASES;
	st_crash_report(true);
	sc_test_watchdog(5 * seconds + 30);
	fails = cmocka_run_group_tests(tests, NULL, NULL);
	printf("totals: calls=%lu updates=%lu batches=%lu traps_emulated=%lu "
	       "traps_rewound=%lu writes_procmem=%lu writes_mprotect=%lu "
	       "segv_waits=%lu unchecked=%lu wrong=%lu\n",
	       total.calls, total.updates, total.batches, total.traps,
	       total.rewound, total.wprocmem, total.wmprotect, total.segv_waits,
	       total.unknown, total.wrong);
	return fails;
}
