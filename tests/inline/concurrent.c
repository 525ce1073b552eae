/* SPDX-License-Identifier: MIT */
/*
 * Inline sites under fire: three caller threads run inline call sites and
 * tail sites of two static calls in a tight loop while an updater thread
 * cycles their targets through every site encoding: c_op (int) over A, B,
 * RET0 (xor5 at call sites) and a far function (sites back to the
 * trampoline); c_void (void, DEFINE_STATIC_CALL_NULL, static_call_cond) over
 * A, NULL (nop5 / ret), B and a far function; single updates and batches of
 * both.  Every result is checked against the targets that were legal at
 * that moment (itgen.h); the test asserts that none was wrong, that no
 * update failed, that the callers really ran into patch windows (int3
 * traps emulated), and that every site ends consistent.  ctest runs it with
 * the default protocol and with STATICCALL_PROTOCOL=int3.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"
#include "itgen.h"

#define CALLERS 3
#define MAX_SITES 32
#define XMAX 0xfffff

typedef int c_fn_t(int x);
typedef void v_fn_t(int *slot);

IT_NOINLINE int c_a(int x) { return x * 4 + 1; }
IT_NOINLINE int c_b(int x) { return x * 4 + 2; }
IT_NOINLINE void v_a(int *s) { *s = 1; }
IT_NOINLINE void v_b(int *s) { *s = 2; }

DEFINE_STATIC_CALL(c_op, c_a);
DEFINE_STATIC_CALL_NULL(c_void, v_a);

IT_NOINLINE int c_call(int x)
{
	int r = static_call(c_op)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}
IT_NOINLINE int c_tail(int x) { return static_call(c_op)(x); }
IT_NOINLINE void v_call(int *s)
{
	static_call_cond(c_void)(s);
	__asm__ volatile("" ::: "memory");
}
IT_NOINLINE void v_tail(int *s) { static_call_cond(c_void)(s); }

/* Targets k: 0 A, 1 B, 2 RET0 / NULL, 3 far */
static void *op_target[4], *void_target[4];
static const int op_cycle[] = {1, 2, 3, 0};	 /* B RET0 far A */
static const int void_cycle[] = {0, 1, 2, 3, 2}; /* A B NULL far NULL */

static struct itg op_gen, void_gen;
static struct itg_counts counts;
static _Atomic int stop, start_updates;
static _Atomic unsigned long n_updates, n_batches, n_errors, n_refused;
static _Atomic int first_error;

static int op_decode(int x, int r)
{
	static const int k_of_low[4] = {-1, 0, 1, 3};

	if (r == 0)
		return 2;
	return r >> 2 == x ? k_of_low[r & 3] : -1;
}

static int void_decode(int s)
{
	static const int k_of_slot[4] = {2, 0, 1, 3};

	return s >= 0 && s < 4 ? k_of_slot[s] : -1;
}

static void *caller(void *arg)
{
	int x = (int)(intptr_t)arg * 1000 + 1;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (int which = 0; which < 4; which++) {
			bool op = which < 2;
			struct itg *g = op ? &op_gen : &void_gen;
			unsigned long c = itg_before(g), p;
			int k, slot = 0;
			if (op) {
				int r = which == 0 ? c_call(x) : c_tail(x);
				p = itg_after(g);
				k = op_decode(x, r);
			} else {
				if (which == 2)
					v_call(&slot);
				else
					v_tail(&slot);
				p = itg_after(g);
				k = void_decode(slot);
			}
			itg_count(&counts, itg_check(g, c, p, k));
			x = x % XMAX + 1;
		}
	}
	return NULL;
}

static int do_update(bool op, int k)
{
	return op ? static_call_update(c_op, (c_fn_t *)op_target[k])
		  : static_call_update(c_void, (v_fn_t *)void_target[k]);
}

/* One update: c_op (0), c_void (1) or both in a batch (2). */
static int apply(int what, int ko, int kv)
{
	struct static_call_batch_entry ents[2];
	struct static_call_batch b;

	if (what < 2)
		return do_update(what == 0, what == 0 ? ko : kv);
	static_call_batch_init(&b, ents, 2);
	static_call_batch_add(&b, c_op, (c_fn_t *)op_target[ko]);
	static_call_batch_add(&b, c_void, (v_fn_t *)void_target[kv]);
	return static_call_batch_commit(&b);
}

/*
 * -EAGAIN (nothing written) is retried: a thread passing through the
 * library's SIGTRAP handler has SIGTRAP blocked, and on a loaded machine it
 * can stay preempted there longer than the library waits for it (20 ms)
 * before it refuses the int3 protocol.  Counted and printed as refusals.
 */
static void *updater(void *arg)
{
	unsigned int i = 0, io = 0, iv = 0;

	(void)arg;
	while (!atomic_load(&start_updates))
		usleep(100);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int ko = op_cycle[io % 4], kv = void_cycle[iv % 5], err;
		int what = (int)(i++ % 3);
		unsigned long go = 0, gv = 0;
		if (what != 1)
			go = itg_publish(&op_gen, ko), io++;
		if (what != 0)
			gv = itg_publish(&void_gen, kv), iv++;
		while ((err = apply(what, ko, kv)) == -EAGAIN &&
		       !atomic_load(&stop)) {
			atomic_fetch_add(&n_refused, 1);
			usleep(100);
		}
		if (err == -EAGAIN)
			break; /* stopped while refused */
		if (err) {
			int none = 0;
			atomic_fetch_add(&n_errors, 1);
			atomic_compare_exchange_strong(&first_error, &none,
						       err);
			break; /* the generations no longer match */
		}
		if (go)
			itg_commit(&op_gen, go);
		if (gv)
			itg_commit(&void_gen, gv);
		atomic_fetch_add(&n_updates, 1);
		n_batches += what == 2;
	}
	return NULL;
}

/* Every site in the state its static call's current target asks for. */
static void check_final(struct static_call_key *key, void *target, int *calls,
			int *tails)
{
	struct static_call_site s[MAX_SITES];
	int n = __static_call_sites(key, s, MAX_SITES);

	assert_true(n > 0 && n <= MAX_SITES);
	*calls = *tails = 0;
	for (int i = 0; i < n; i++) {
		int want;
		*tails += s[i].tail;
		*calls += !s[i].tail;
		if (!target)
			want = s[i].tail ? STATIC_CALL_SITE_RET
					 : STATIC_CALL_SITE_NOP;
		else if (target == static_call_return0 && !s[i].tail &&
			 IT_RET0_INLINE)
			want = STATIC_CALL_SITE_RET0;
		else if (it_far((uintptr_t)s[i].addr, (uintptr_t)target))
			want = STATIC_CALL_SITE_TRAMPOLINE;
		else
			want = STATIC_CALL_SITE_INLINE;
		if (s[i].state != want)
			fail_msg("site %p (%s) is %s, expected %s", s[i].addr,
				 s[i].tail ? "tail" : "call",
				 it_state(s[i].state), it_state(want));
	}
}

static void test_concurrent(void **state)
{
	struct static_call_site s[2 * MAX_SITES];
	uintptr_t near[2 * MAX_SITES + 2];
	pthread_t callers[CALLERS], upd;
	struct static_call_stats st0, st1;
	double secs = sc_test_seconds(2.0);
	int n = 0, oc, ot, vc, vt;

	(void)state;
	n = static_call_sites(c_op, s, MAX_SITES);
	assert_true(n > 0 && n <= MAX_SITES);
	n += static_call_sites(c_void, s + n, MAX_SITES);
	for (int i = 0; i < n; i++)
		near[i] = (uintptr_t)s[i].addr;
	near[n++] = (uintptr_t)&STATIC_CALL_TRAMP(c_op);
	near[n++] = (uintptr_t)&STATIC_CALL_TRAMP(c_void);
	op_target[0] = (void *)c_a;
	op_target[1] = (void *)c_b;
	op_target[2] = static_call_return0;
	op_target[3] =
		it_far_code(near, (size_t)n, it_code_4x3, it_code_4x3_len);
	void_target[0] = (void *)v_a;
	void_target[1] = (void *)v_b;
	void_target[2] = NULL;
	void_target[3] = it_far_code(near, (size_t)n, it_code_store3,
				     it_code_store3_len);
	assert_non_null(op_target[3]);
	assert_non_null(void_target[3]);
	itg_init(&op_gen, 0);
	itg_init(&void_gen, 2);

	st0 = sc_test_stats();
	for (int i = 0; i < CALLERS; i++)
		assert_int_equal(pthread_create(&callers[i], NULL, caller,
						(void *)(intptr_t)i),
				 0);
	assert_int_equal(pthread_create(&upd, NULL, updater, NULL), 0);
	/* every new thread running (not blocking SIGTRAP) before patching */
	assert_int_equal(it_settle(), 0);
	atomic_store(&start_updates, 1);
	usleep((useconds_t)(secs * 1e6));
	/* on a loaded machine, a little longer until there is something to
	 * judge (bounded: 3 times as long again) */
	for (double end = sc_now() + 3 * secs;
	     (atomic_load(&n_updates) < 20 ||
	      atomic_load(&counts.calls) < 1000) &&
	     !atomic_load(&n_errors) && sc_now() < end;)
		usleep(100000);
	atomic_store(&stop, 1);
	pthread_join(upd, NULL);
	for (int i = 0; i < CALLERS; i++)
		pthread_join(callers[i], NULL);
	st1 = sc_test_stats();

	check_final(&STATIC_CALL_KEY(c_op), static_call_query(c_op), &oc, &ot);
	check_final(&STATIC_CALL_KEY(c_void), static_call_query(c_void), &vc,
		    &vt);
	printf("%d callers, %.1f s, sites c_op %d call + %d tail, c_void %d "
	       "call + %d tail (%s protocol)\n",
	       CALLERS, secs, oc, ot, vc, vt,
	       sc_test_int3() ? "int3" : "default");
	printf("calls %lu, updates %lu (%lu batches), errors %lu, refused "
	       "(EAGAIN, retried) %lu, wrong %lu, unknown %lu, traps emulated "
	       "%llu, sites patched %llu\n",
	       (unsigned long)counts.calls, (unsigned long)n_updates,
	       (unsigned long)n_batches, (unsigned long)n_errors,
	       (unsigned long)n_refused, (unsigned long)counts.wrong,
	       (unsigned long)counts.unknown,
	       st1.traps_emulated - st0.traps_emulated,
	       st1.sites_patched - st0.sites_patched);
	if (n_errors)
		fail_msg("an update failed: %s", strerror(-first_error));
	assert_int_equal(counts.wrong, 0);
	assert_true(ot >= 1 && oc >= 1 && vt >= 1 && vc >= 1);
	assert_true(n_updates >= 20);
	assert_true(counts.calls > 1000);
	/* the updates rewrote inline sites (whether a caller ran into one
	 * of their int3s meanwhile is up to the scheduler: not asserted) */
	assert_true(st1.sites_patched > st0.sites_patched);
	/* the default protocol flips the sites' pages: no trap at all */
	if (!sc_test_int3())
		assert_int_equal(st1.traps_emulated, st0.traps_emulated);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent),
	};

	it_watchdog(4 * sc_test_seconds(2.0) + 30);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
