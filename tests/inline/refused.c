/* SPDX-License-Identifier: MIT */
/*
 * When the library refuses to patch inline sites, it writes nothing.
 * Proves that:
 *
 *   - a site whose bytes were changed behind the library's back is listed
 *     as CHANGED, and an update of its static call fails with -EILSEQ
 *     without writing anything (trampoline, other sites and the changed
 *     site keep their bytes; calls keep reaching the old target); with the
 *     bytes put back, updates work again;
 *   - while a thread blocks SIGTRAP, an update that must rewrite inline
 *     sites with the int3 protocol fails with -EAGAIN, again with nothing
 *     written (not even the trampoline, which alone could have been done
 *     without a trap); the default protocol (page flips) writes no int3
 *     and succeeds meanwhile; once the thread is gone int3 works too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

#define MAX_SITES 16

IT_NOINLINE int r_a(int x) { return x + 1; }
IT_NOINLINE int r_b(int x) { return x * 6; }

DEFINE_STATIC_CALL(r_op, r_a);

IT_NOINLINE int r_call(int x)
{
	int r = static_call(r_op)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}
IT_NOINLINE int r_call2(int x)
{
	int r = static_call(r_op)(x + 1);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}

struct snap {
	int n;
	struct static_call_site s[MAX_SITES];
	uint8_t bytes[MAX_SITES][IT_SITE_LEN];
	uint8_t tramp[STATIC_CALL_TRAMP_SIZE];
};

static void take(struct snap *sn)
{
	sn->n = static_call_sites(r_op, sn->s, MAX_SITES);
	assert_true(sn->n >= 2 && sn->n <= MAX_SITES);
	for (int i = 0; i < sn->n; i++)
		memcpy(sn->bytes[i], sn->s[i].addr, IT_SITE_LEN);
	memcpy(sn->tramp, (void *)&STATIC_CALL_TRAMP(r_op),
	       STATIC_CALL_TRAMP_SIZE);
}

static void same(const struct snap *a)
{
	assert_memory_equal(a->tramp, (void *)&STATIC_CALL_TRAMP(r_op),
			    STATIC_CALL_TRAMP_SIZE);
	for (int i = 0; i < a->n; i++)
		assert_memory_equal(a->bytes[i], a->s[i].addr, IT_SITE_LEN);
}

static void test_changed_site(void **state)
{
	struct snap before;
	struct static_call_site s[MAX_SITES];
	uint8_t saved[IT_SITE_LEN];
	const struct static_call_stats st0 = sc_test_stats();

	(void)state;
	take(&before);
	assert_int_equal(before.s[0].state, STATIC_CALL_SITE_INLINE);
	/* someone else writes the first site: a call to r_b, say */
	memcpy(saved, before.s[0].addr, IT_SITE_LEN);
	{
		uint8_t mine[IT_SITE_LEN];
		assert_int_equal(sc_test_put_call(mine,
						  (uintptr_t)before.s[0].addr,
						  (uintptr_t)r_b),
				 IT_SITE_LEN);
		assert_int_equal(
			sc_test_poke_code(before.s[0].addr, mine, IT_SITE_LEN),
			0);
		memcpy(before.bytes[0], mine, IT_SITE_LEN);
	}
	assert_int_equal(static_call_sites(r_op, s, MAX_SITES), before.n);
	assert_int_equal(s[0].state, STATIC_CALL_SITE_CHANGED);
	for (int i = 1; i < before.n; i++)
		assert_int_equal(s[i].state, STATIC_CALL_SITE_INLINE);

	sc_test_capture_log();
	assert_int_equal(static_call_update(r_op, r_b), -EILSEQ);
	printf("refused: %s\n", sc_test_last_log());
	assert_non_null(strstr(sc_test_last_log(), "changed behind our back"));
	static_call_set_print(NULL);
	same(&before);
	assert_ptr_equal(static_call_query(r_op), r_a);

	/* put back: updates work again */
	assert_int_equal(
		sc_test_poke_code(before.s[0].addr, saved, IT_SITE_LEN), 0);
	assert_int_equal(static_call_update(r_op, r_b), 0);
	assert_int_equal(r_call(2), 12);
	assert_int_equal(r_call2(2), 18);
	assert_int_equal(static_call_update(r_op, r_a), 0);
	assert_int_equal(r_call(2), 3);
	assert_true(sc_test_stats().errors > st0.errors);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int phase;

static void *blocker(void *arg)
{
	sigset_t set;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGTRAP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_mutex_lock(&mu);
	phase = 1;
	pthread_cond_broadcast(&cv);
	while (phase != 2)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return NULL;
}

static void test_sigtrap_blocked(void **state)
{
	struct snap before;
	pthread_t t;
	const struct static_call_stats st0 = sc_test_stats();

	(void)state;
	if (sc_test_int3() || getenv("STATICCALL_SIGTRAP_CHECK"))
		skip();
	take(&before);
	assert_int_equal(it_settle(), 0);
	assert_int_equal(pthread_create(&t, NULL, blocker, NULL), 0);
	pthread_mutex_lock(&mu);
	while (phase != 1)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);

	static_call_set_print(NULL);
	/* the int3 protocol refuses, nothing written */
	assert_int_equal(static_call_set_option("protocol", "int3"), 0);
	assert_int_equal(static_call_update(r_op, r_b), -EAGAIN);
	assert_int_equal(static_call_set_option("protocol", "auto"), 0);
	same(&before);
	assert_ptr_equal(static_call_query(r_op), r_a);
	assert_int_equal(r_call(2), 3);
	/* the default page flip writes no int3: it needs no check */
	assert_int_equal(static_call_update(r_op, r_b), 0);
	assert_ptr_equal(static_call_query(r_op), r_b);
	assert_int_equal(static_call_update(r_op, r_a), 0);
	assert_int_equal(r_call(2), 3);

	pthread_mutex_lock(&mu);
	phase = 2;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(t, NULL);
	assert_int_equal(static_call_update(r_op, r_b), 0);
	assert_int_equal(r_call(2), 12);
	assert_int_equal(static_call_update(r_op, r_a), 0);
	printf("int3 refusals: %llu; %d sites untouched while refused\n",
	       sc_test_stats().int3_refused - st0.int3_refused, before.n);
	assert_true(sc_test_stats().int3_refused > st0.int3_refused);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_changed_site),
		cmocka_unit_test(test_sigtrap_blocked),
	};

	it_watchdog(20);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
