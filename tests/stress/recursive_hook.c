/* SPDX-License-Identifier: MIT */
/*
 * The recursive case, through the trace hook: the patch engine calls the
 * static call static_call_trace_hook between the steps of its protocol,
 * with the patch lock held.  Here the hook
 *
 *  - calls the user static calls that are being patched: at the INT3 and
 *    TAIL steps their first byte is int3, so the patching thread traps on
 *    its own int3 and must get the NEW target (what the handler emulates);
 *    at BEGIN it must get the old one, at FINISH the new one;
 *  - tries to update (a static call, the hook itself, a batch): -EDEADLK;
 *  - is itself in most batches (its target flips between hook_a, hook_b
 *    and now and then NULL), so that the call of the hook at INT3 and TAIL
 *    goes through the hook's own int3: the hook that runs there must be the
 *    new one, its trampoline must start with int3 at that moment, and
 *    traps_emulated must have grown by at least that many traps.
 *
 * Caller threads run the user static calls all along, every result
 * checked (stress.h).  Thousands of updates; assertions in main only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch.h"
#include "common.h"
#include "stress.h"

#define NR_CALLERS 2
#define MIN_HOOK_BATCHES 2000

enum { H_NULL = 0, H_A, H_B };

static bool active;	    /* checks on (main thread only: the patcher) */
static int cur_hook;	    /* H_* installed now */
static int next_hook;	    /* H_* the commit under way installs */
static struct st_plan plan; /* its user static calls */

/* Per commit: which hook ran at each step, traps the hook proved. */
static int ran[4];
static int nr_seen[4];
static unsigned long batch_self_traps;

/* Totals. */
static struct st_counts hook_counts; /* calls made from the hook */
static unsigned long hook_window_runs, hook_self_traps, key_self_traps;
static unsigned long strict_bad, byte_bad, wrong_hook, nr_bad;
static unsigned long deadlk_ok, deadlk_bad;
#ifdef STRESS_INLINE
static unsigned long inline_pokes; /* inline sites rewritten */
#endif

static bool trapped(const struct static_call_key *key)
{
	return sc_test_trapped(key->tramp);
}

static bool in_plan(int i, int *j)
{
	for (*j = 0; *j < plan.n; (*j)++)
		if (plan.key[*j] == i)
			return true;
	return false;
}

/* Updates from inside the patch path: all refused, nothing changed. */
static void try_nested_updates(void)
{
	struct static_call_batch_entry ents[2];
	struct static_call_batch b;
	int k = st_current(0), t = (k + 1) % ST_LOCAL;
	int rc[3];
	bool hook_null;

	/* an update that changes something needs the lock: -EDEADLK (one to
	 * the target already installed returns 0 without it: not this one) */
	while (static_call_query(st_op0) == st_target[0][t] || t == k)
		t = (t + 1) % ST_LOCAL;
	rc[0] = st_update(0, t);
	/* the hook may still be NULL for the library (a batch installing it
	 * is the one under way): then NULL is what is installed, and that
	 * update returns 0 at once; else it needs the lock */
	hook_null = static_call_query(static_call_trace_hook) == NULL;
	rc[1] = static_call_update(static_call_trace_hook, NULL);
	if (hook_null && rc[1] == 0)
		rc[1] = -EDEADLK;
	static_call_batch_init(&b, ents, 2);
	st_batch_add(&b, 1, 0);
	st_batch_add(&b, 2, 0);
	rc[2] = static_call_batch_commit(&b);
	for (int n = 0; n < 3; n++) {
		if (rc[n] == -EDEADLK)
			deadlk_ok++;
		else
			deadlk_bad++;
	}
	if (st_current(0) != k)
		deadlk_bad++;
}

static void hook_body(enum static_call_trace_step step, unsigned int nr,
		      int which)
{
	bool window = step == STATIC_CALL_TRACE_INT3 ||
		      step == STATIC_CALL_TRACE_TAIL;
	int x = 1000 + (int)step;

	if (!active)
		return;
	ran[step] = which;
	nr_seen[step] = (int)nr;
	if (which != (step == STATIC_CALL_TRACE_BEGIN ? cur_hook : next_hook))
		wrong_hook++;

	if (window) {
		hook_window_runs++;
		/* We run on the patcher, between its own writes: if our own
		 * trampoline starts with int3, we got here through a trap. */
		if (next_hook != cur_hook) {
			if (trapped(&STATIC_CALL_KEY(static_call_trace_hook))) {
				hook_self_traps++;
				batch_self_traps++;
			} else {
				byte_bad++;
			}
		}
	}

	for (int i = 0; i < ST_KEYS; i++, x = st_next_x(x)) {
		bool b0 = trapped(st_key[i]);
		int j, k, r;
		bool patched = in_plan(i, &j);

		if (!patched) {
			st_call_checked(i, x, &hook_counts, "trace hook");
			continue;
		}
		/* A static call of this commit: old at BEGIN, int3 and
		 * the new target in the window, new at FINISH. */
		if (window != b0)
			byte_bad++;
		if (b0) {
			key_self_traps++;
			batch_self_traps++;
		}
		r = st_call(i, x);
		k = st_decode(i, x, r);
		atomic_fetch_add(&hook_counts.calls, 1);
		if (k != (step == STATIC_CALL_TRACE_BEGIN ? st_current(i)
							  : plan.k[j]))
			strict_bad++;
	}

	if (step == STATIC_CALL_TRACE_INT3)
		try_nested_updates();
}

static void hook_a(enum static_call_trace_step step, unsigned int nr)
{
	hook_body(step, nr, H_A);
}

static void hook_b(enum static_call_trace_step step, unsigned int nr)
{
	hook_body(step, nr, H_B);
}

static static_call_trace_fn_t *const hook_fn[] = {NULL, hook_a, hook_b};

static int commit_plan(bool with_hook)
{
	struct static_call_batch_entry ents[ST_KEYS + 1];
	struct static_call_batch b;
	int err = static_call_batch_init(&b, ents, ST_KEYS + 1);

	for (int j = 0; !err && j < plan.n; j++)
		err = st_batch_add(&b, plan.key[j], plan.k[j]);
	if (!err && with_hook)
		err = static_call_batch_add(&b, static_call_trace_hook,
					    hook_fn[next_hook]);
	return err ? err : static_call_batch_commit(&b);
}

static void test_recursive_hook(void **state)
{
	pthread_t callers[NR_CALLERS];
	struct st_caller_arg cargs[NR_CALLERS];
	struct st_counts counts = {0};
	struct static_call_stats before, after, b0, b1;
	static _Atomic int stop;
	unsigned int seed = 12345;
	unsigned long updates = 0, commits = 0, hook_batches = 0;
	unsigned long self_hook_batches = 0, trap_short = 0, seq_bad = 0;
	unsigned long errors = 0;
	double seconds = sc_test_seconds(3.0), t0, end;
	int first_err = 0;
	(void)state;
	st_crash_report(false);

	static_call_set_print(st_count_log);
	st_gen_reset();
	assert_int_equal(static_call_update(static_call_trace_hook, hook_a), 0);
	cur_hook = H_A;
	for (int t = 0; t < NR_CALLERS; t++) {
		cargs[t] = (struct st_caller_arg){&stop, &counts, t * 104729};
		assert_int_equal(pthread_create(&callers[t], NULL,
						st_caller_thread, &cargs[t]),
				 0);
	}
	assert_int_equal(sc_test_wait_unblocked(), 0);
	before = sc_test_stats();
	t0 = sc_now();
	end = t0 + seconds;
	for (unsigned long n = 0;
	     sc_now() < end ||
	     (hook_batches < MIN_HOOK_BATCHES && sc_now() < t0 + 4 * seconds);
	     n++) {
		unsigned int r = (unsigned int)rand_r(&seed);
		bool single_hook = r % 8 == 0; /* hook alone */
		bool with_hook = r % 8 != 1;   /* else user calls only */
		bool single = !single_hook && !with_hook;
		int err;

		if (single_hook) {
			memset(&plan, 0, sizeof(plan));
		} else {
			st_plan_random(&plan, &seed, 0, ST_KEYS, single);
		}
		/* the hook's next target: the other hook, sometimes NULL */
		next_hook = cur_hook;
		if (with_hook || single_hook) {
			if (cur_hook != H_NULL && r % 16 == 2)
				next_hook = H_NULL;
			else
				next_hook = cur_hook == H_A ? H_B : H_A;
		}
		st_plan_publish(&plan);
		memset(ran, -1, sizeof(ran));
		memset(nr_seen, -1, sizeof(nr_seen));
		batch_self_traps = 0;
		b0 = sc_test_stats();
		active = true;
		if (single_hook)
			err = static_call_update(static_call_trace_hook,
						 hook_fn[next_hook]);
		else if (single)
			err = st_update(plan.key[0], plan.k[0]);
		else
			err = commit_plan(with_hook);
		active = false;
		b1 = sc_test_stats();
		if (err) {
			if (!first_err)
				first_err = err;
			errors++;
			continue;
		}
		st_plan_commit(&plan);
		commits++;
		updates += (unsigned long)plan.n + (next_hook != cur_hook);

		/* Which hook ran at which step: BEGIN the old one, the rest
		 * the new one (H_NULL: none ran); nr = sites in the commit. */
		int expect[4] = {cur_hook, next_hook, next_hook, next_hook};
		int sites = plan.n + (next_hook != cur_hook);
#ifdef STRESS_INLINE
		/* the trampolines and the inline sites that changed with them */
		inline_pokes += b1.sites_patched - b0.sites_patched -
				(unsigned long)sites;
		sites = (int)(b1.sites_patched - b0.sites_patched);
#endif
		for (int s = 0; s < 4; s++) {
			if (ran[s] != (expect[s] ? expect[s] : -1))
				seq_bad++;
			if (ran[s] >= 0 && nr_seen[s] != sites)
				nr_bad++;
		}
		/* Every trap proved from inside the hook was counted. */
		if (b1.traps_emulated - b0.traps_emulated < batch_self_traps)
			trap_short++;
		if (next_hook != cur_hook && cur_hook != H_NULL &&
		    next_hook != H_NULL) {
			/* the hook ran through its own int3 at INT3 and TAIL */
			hook_batches++;
			if (batch_self_traps >= 2 &&
			    b1.traps_emulated - b0.traps_emulated >= 2)
				self_hook_batches++;
		}
		cur_hook = next_hook;
	}
	atomic_store(&stop, 1);
	for (int t = 0; t < NR_CALLERS; t++)
		pthread_join(callers[t], NULL);
	after = sc_test_stats();
	assert_int_equal(static_call_update(static_call_trace_hook, NULL), 0);
	static_call_set_print(NULL);

	printf("recursive_hook: updates=%lu commits=%lu hook_batches=%lu "
	       "(patcher trapped on the hook in %lu) hook_window_runs=%lu "
	       "hook_self_traps=%lu key_self_traps=%lu "
	       "traps_emulated=%llu edeadlk=%lu edeadlk_bad=%lu "
	       "caller_calls=%lu hook_calls=%lu unchecked=%lu wrong=%lu "
	       "strict_bad=%lu byte_bad=%lu wrong_hook=%lu seq_bad=%lu "
	       "nr_bad=%lu trap_short=%lu errors=%lu log=%lu\n",
	       updates, commits, hook_batches, self_hook_batches,
	       hook_window_runs, hook_self_traps, key_self_traps,
	       after.traps_emulated - before.traps_emulated, deadlk_ok,
	       deadlk_bad, atomic_load(&counts.calls),
	       atomic_load(&hook_counts.calls),
	       atomic_load(&counts.unknown) + atomic_load(&hook_counts.unknown),
	       atomic_load(&counts.wrong) + atomic_load(&hook_counts.wrong),
	       strict_bad, byte_bad, wrong_hook, seq_bad, nr_bad, trap_short,
	       errors, atomic_load(&st_log_count));
	st_report_wrong();
	if (first_err)
		fprintf(stderr, "first failed commit: %s\n",
			strerror(-first_err));

	assert_int_equal(errors, 0);
	assert_int_equal(atomic_load(&counts.wrong), 0);
	assert_int_equal(atomic_load(&hook_counts.wrong), 0);
	assert_int_equal(strict_bad, 0);
	assert_int_equal(byte_bad, 0);
	assert_int_equal(wrong_hook, 0);
	assert_int_equal(seq_bad, 0);
	assert_int_equal(nr_bad, 0);
	assert_int_equal(trap_short, 0);
	assert_int_equal(deadlk_bad, 0);
	assert_true(deadlk_ok > 0);
	assert_true(hook_batches >= 1000);
	/* the patcher trapped on the hook's own int3 in every such batch */
	assert_int_equal(self_hook_batches, hook_batches);
	assert_true(hook_self_traps >= 2 * hook_batches);
	assert_true(key_self_traps > 0);
	assert_true(hook_window_runs > 0);
	assert_true(atomic_load(&counts.calls) > 0);
	assert_int_equal(after.traps_foreign, before.traps_foreign);
#ifdef STRESS_INLINE
	{
		/* the hook's call site in the patch path is an inline site:
		 * every batch above that held the hook rewrote it, and the
		 * patching thread trapped on it at the INT3 and TAIL steps */
		struct static_call_site s[4];
		int n = static_call_sites(static_call_trace_hook, s, 4);
		printf("inline sites of the trace hook: %d (first: state %d); "
		       "inline sites rewritten: %lu\n",
		       n, n > 0 ? s[0].state : -1, inline_pokes);
		assert_true(n >= 1);
		assert_true(inline_pokes >= hook_batches);
		assert_true(after.sites_found >= 2);
	}
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recursive_hook),
	};

	st_crash_report(true);
	sc_test_watchdog(5 * sc_test_seconds(3.0) + 30);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
