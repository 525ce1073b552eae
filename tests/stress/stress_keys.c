/* SPDX-License-Identifier: MIT */
/*
 * Static keys under load: threads run branch sites of several keys while
 * another thread toggles the keys (singly and in batches); every observation
 * is checked against the states the key went through while it was made.
 * Then inc/dec from many threads at once must leave the right count.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "common.h"

#define NKEYS 4
DEFINE_STATIC_KEY_FALSE(sk0);
DEFINE_STATIC_KEY_TRUE(sk1);
DEFINE_STATIC_KEY_FALSE(sk2);
DEFINE_STATIC_KEY_TRUE(sk3);

/*
 * Per key: the toggler bumps `pending` before a change and `committed`
 * after it; generation g means "enabled iff (g + initial) is odd".  An
 * observation made between reading committed == c and pending == p is
 * legal iff some generation in [c, p] gives it.
 */
static _Atomic unsigned long pending[NKEYS], committed[NKEYS];
static const int initial[NKEYS] = {0, 1, 0, 1};
static _Atomic int stop;
static _Atomic unsigned long observations, wrong;

static int state_of(int k, unsigned long g)
{
	return (int)((g + (unsigned long)initial[k]) & 1);
}

static __attribute__((noinline)) int read_key(int k, int form)
{
	/* every key behind both forms: 8 sites */
	switch (k * 2 + form) {
	case 0:
		return static_branch_unlikely(&sk0) ? 1 : 0;
	case 1:
		return static_branch_likely(&sk0) ? 1 : 0;
	case 2:
		return static_branch_unlikely(&sk1) ? 1 : 0;
	case 3:
		return static_branch_likely(&sk1) ? 1 : 0;
	case 4:
		return static_branch_unlikely(&sk2) ? 1 : 0;
	case 5:
		return static_branch_likely(&sk2) ? 1 : 0;
	case 6:
		return static_branch_unlikely(&sk3) ? 1 : 0;
	default:
		return static_branch_likely(&sk3) ? 1 : 0;
	}
}

static struct static_key *const keys[NKEYS] = {&sk0.key, &sk1.key, &sk2.key,
					       &sk3.key};

static void *reader(void *arg)
{
	unsigned long n = 0, bad = 0;
	int i = (int)(intptr_t)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int k = i++ % NKEYS, form = (i / NKEYS) & 1;
		unsigned long c = atomic_load(&committed[k]);
		int v = read_key(k, form);
		unsigned long p = atomic_load(&pending[k]);
		int ok = 0;
		for (unsigned long g = c; g <= p && !ok; g++)
			ok = state_of(k, g) == v;
		bad += !ok;
		if (++n % 1024 == 0)
			atomic_fetch_add(&observations, 1024);
	}
	atomic_fetch_add(&observations, n % 1024);
	atomic_fetch_add(&wrong, bad);
	return NULL;
}

static void test_toggle_under_load(void **state)
{
	double seconds = sc_test_seconds(2.5);
	int nreaders = 4;
	pthread_t t[8];
	unsigned long toggles = 0, batches = 0;
	struct static_call_stats before, after;
	(void)state;

	sc_test_watchdog(seconds + 90);
	for (int i = 0; i < nreaders; i++)
		pthread_create(&t[i], NULL, reader, (void *)(intptr_t)i);
	assert_int_equal(sc_test_wait_unblocked(), 0);
	before = sc_test_stats();
	/* at least @seconds, and (on a loaded machine, up to 60 s more) until
	 * enough was toggled and observed to be worth checking */
	double end = sc_now() + seconds, hard_end = end + 60;
	for (unsigned long it = 0;
	     sc_now() < end ||
	     ((toggles <= 100 || atomic_load(&observations) <= 1000) &&
	      sc_now() < hard_end);
	     it++) {
		if (it % 8 == 7) {
			/* every key at once: one batch */
			struct static_call_batch_entry e[NKEYS];
			struct static_call_batch b;
			static_call_batch_init(&b, e, NKEYS);
			for (int k = 0; k < NKEYS; k++) {
				atomic_fetch_add(&pending[k], 1);
				__static_key_batch_set(
					&b, keys[k],
					state_of(k, atomic_load(&pending[k])));
			}
			assert_int_equal(static_call_batch_commit(&b), 0);
			for (int k = 0; k < NKEYS; k++)
				atomic_fetch_add(&committed[k], 1);
			batches++;
			toggles += NKEYS;
		} else {
			int k = (int)(it % NKEYS);
			atomic_fetch_add(&pending[k], 1);
			assert_int_equal(
				__static_key_set(
					keys[k],
					state_of(k, atomic_load(&pending[k]))),
				0);
			atomic_fetch_add(&committed[k], 1);
			toggles++;
		}
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < nreaders; i++)
		pthread_join(t[i], NULL);
	after = sc_test_stats();
	printf("stress_keys: toggles=%lu (batches=%lu) observations=%lu "
	       "sites patched=%llu traps=%llu wrong=%lu\n",
	       toggles, batches, atomic_load(&observations),
	       after.sites_patched - before.sites_patched,
	       after.traps_emulated - before.traps_emulated +
		       after.traps_rewound - before.traps_rewound,
	       atomic_load(&wrong));
	assert_int_equal(atomic_load(&wrong), 0);
	assert_true(toggles > 100);
	assert_true(atomic_load(&observations) > 1000);
	/* every toggle rewrote both sites of its key (how many readers ran
	 * into an int3 meanwhile, if any, is up to the scheduler) */
	assert_int_equal(after.sites_patched - before.sites_patched,
			 2 * toggles);
	/* page flips take no trap; nor do the store protocol's atomic stores
	 * of sites built for them (STATICCALL_KEYS_TRAPFREE) */
#ifdef STATICCALL_KEYS_TRAPFREE
	if (!sc_test_int3())
		assert_int_equal(after.traps_emulated, before.traps_emulated);
	if (sc_test_store())
		assert_true(after.writes_view > before.writes_view);
#else
	if (!sc_test_int3() && !sc_test_store())
		assert_int_equal(after.traps_emulated, before.traps_emulated);
#endif
	if (!sc_test_int3() && !sc_test_store())
		assert_true(after.flips > before.flips);
	for (int k = 0; k < NKEYS; k++)
		assert_int_equal(
			static_key_count((struct static_key_true *)keys[k]) > 0,
			state_of(k, atomic_load(&committed[k])));
}

DEFINE_STATIC_KEY_FALSE(counted);
#define INCDEC_THREADS 4
#define INCDEC_ROUNDS 300

static _Atomic int incdec_go;

static void *incdec(void *arg)
{
	(void)arg;
	while (!atomic_load(&incdec_go))
		usleep(100);
	for (int i = 0; i < INCDEC_ROUNDS; i++) {
		assert_int_equal(static_branch_inc(&counted), 0);
		if (!static_branch_unlikely(&counted))
			atomic_fetch_add(&wrong, 1); /* we hold a reference */
		if (i & 1) {
			assert_int_equal(static_branch_inc(&counted), 0);
			assert_int_equal(static_branch_dec(&counted), 0);
		}
		assert_int_equal(static_branch_dec(&counted), 0);
	}
	/* leave one reference each */
	assert_int_equal(static_branch_inc(&counted), 0);
	return NULL;
}

static void test_inc_dec_threads(void **state)
{
	pthread_t t[INCDEC_THREADS];
	(void)state;

	atomic_store(&wrong, 0);
	for (int i = 0; i < INCDEC_THREADS; i++)
		pthread_create(&t[i], NULL, incdec, NULL);
	assert_int_equal(sc_test_wait_unblocked(), 0);
	atomic_store(&incdec_go, 1);
	for (int i = 0; i < INCDEC_THREADS; i++)
		pthread_join(t[i], NULL);
	printf("inc/dec: %d threads x %d rounds, count=%d wrong=%lu\n",
	       INCDEC_THREADS, INCDEC_ROUNDS, static_key_count(&counted),
	       atomic_load(&wrong));
	assert_int_equal(atomic_load(&wrong), 0);
	assert_int_equal(static_key_count(&counted), INCDEC_THREADS);
	assert_true(static_branch_unlikely(&counted));
	for (int i = 0; i < INCDEC_THREADS; i++)
		assert_int_equal(static_branch_dec(&counted), 0);
	assert_false(static_branch_unlikely(&counted));
	assert_int_equal(static_branch_dec(&counted), -EINVAL);
	assert_int_equal(static_key_count(&counted), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_toggle_under_load),
		cmocka_unit_test(test_inc_dec_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
