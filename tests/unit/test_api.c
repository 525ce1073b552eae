/* SPDX-License-Identifier: MIT */
/* Every public call, single-threaded: results, queries, errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "common.h"

static int add1(int x) { return x + 1; }
static int add2(int x) { return x + 2; }
static int neg(int x) { return -x; }
static int hits;
static void bump(int by) { hits += by; }
static void bump2(int by) { hits += 2 * by; }

DEFINE_STATIC_CALL(sc_op, add1);
DEFINE_STATIC_CALL_NULL(sc_null, add1);
DEFINE_STATIC_CALL_RET0(sc_ret0, add1);
DEFINE_STATIC_CALL(sc_void, bump);
DEFINE_STATIC_CALL_NULL(sc_void_null, bump);
DEFINE_STATIC_CALL_RET0(sc_ptr0, getenv);

/* The kernel's static_call_selftest sequence: x+1, x+2, x+1 again. */
static void test_kernel_selftest(void **state)
{
	static const struct {
		int (*func)(int);
		int val, expect;
	} steps[] = {
		{NULL, 2, 3},
		{add2, 3, 5},
		{add1, 4, 5},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (steps[i].func)
			assert_int_equal(
				static_call_update(sc_op, steps[i].func), 0);
		assert_int_equal(static_call(sc_op)(steps[i].val),
				 steps[i].expect);
	}
}

static void test_update_query(void **state)
{
	(void)state;
	assert_ptr_equal(static_call_query(sc_op), add1);
	assert_int_equal(static_call_update(sc_op, neg), 0);
	assert_ptr_equal(static_call_query(sc_op), neg);
	assert_int_equal(static_call(sc_op)(7), -7);
	/* the same target again: nothing to write, still success */
	struct static_call_stats before = sc_test_stats();
	assert_int_equal(static_call_update(sc_op, neg), 0);
	struct static_call_stats after = sc_test_stats();
	assert_int_equal(after.bytes_written, before.bytes_written);
	assert_int_equal(after.syncs, before.syncs);
	assert_int_equal(static_call_update(sc_op, add1), 0);
	assert_int_equal(static_call(sc_op)(7), 8);
}

static void test_null_and_cond(void **state)
{
	(void)state;
	assert_null(static_call_query(sc_void_null));
	hits = 0;
	static_call_cond(sc_void_null)(5); /* NULL: a no-op */
	assert_int_equal(hits, 0);
	assert_int_equal(static_call_update(sc_void_null, bump), 0);
	static_call_cond(sc_void_null)(5);
	assert_int_equal(hits, 5);
	assert_int_equal(static_call_update(sc_void_null, NULL), 0);
	assert_null(static_call_query(sc_void_null));
	static_call_cond(sc_void_null)(5);
	assert_int_equal(hits, 5);

	/* static_call_cond on a non-NULL void call calls it */
	static_call_cond(sc_void)(1);
	assert_int_equal(hits, 6);
	assert_int_equal(static_call_update(sc_void, bump2), 0);
	static_call(sc_void)(1);
	assert_int_equal(hits, 8);
	assert_int_equal(static_call_update(sc_void, NULL), 0);
	static_call_cond(sc_void)(100);
	assert_int_equal(hits, 8);
	assert_int_equal(static_call_update(sc_void, bump), 0);

	/* a NULL-defined call gets a target and loses it again */
	assert_null(static_call_query(sc_null));
	assert_int_equal(static_call_update(sc_null, add2), 0);
	assert_int_equal(static_call(sc_null)(1), 3);
	assert_int_equal(static_call_update(sc_null, NULL), 0);
	assert_null(static_call_query(sc_null));
}

static void test_ret0(void **state)
{
	(void)state;
	assert_ptr_equal(static_call_query(sc_ret0), static_call_return0);
	assert_int_equal(static_call(sc_ret0)(41), 0);
	assert_int_equal(static_call_update(sc_ret0, add2), 0);
	assert_int_equal(static_call(sc_ret0)(41), 43);
	assert_int_equal(static_call_update(sc_ret0, static_call_return0), 0);
	assert_int_equal(static_call(sc_ret0)(41), 0);
	assert_ptr_equal(static_call_query(sc_ret0), static_call_return0);
	/* RET0 works for pointer-returning calls too (all 64 bits cleared) */
	assert_null(static_call(sc_ptr0)("HOME"));
	assert_int_equal(static_call_update(sc_ptr0, getenv), 0);
	assert_ptr_equal(static_call(sc_ptr0)("PATH"), getenv("PATH"));
	/* any op may become ret0, even one defined with a target */
	assert_int_equal(static_call_update(sc_op, static_call_return0), 0);
	assert_int_equal(static_call(sc_op)(9), 0);
	assert_int_equal(static_call_update(sc_op, add1), 0);
}

/* A target beyond +-2 GiB (libc, from the executable) uses the far form. */
static void test_far_target(void **state)
{
	(void)state;
	assert_int_equal(static_call_update(sc_op, abs), 0);
	assert_int_equal(static_call(sc_op)(-12), 12);
	assert_ptr_equal(static_call_query(sc_op), abs);
	assert_int_equal(static_call_update(sc_op, add1), 0);
	assert_int_equal(static_call(sc_op)(-12), -11);
}

static void test_batch(void **state)
{
	struct static_call_batch_entry ents[4];
	struct static_call_batch b;
	(void)state;

	assert_int_equal(static_call_batch_init(&b, ents, 4), 0);
	assert_int_equal(static_call_batch_add(&b, sc_op, add2), 0);
	assert_int_equal(static_call_batch_add(&b, sc_null, neg), 0);
	assert_int_equal(static_call_batch_add(&b, sc_ret0, add1), 0);
	assert_int_equal(static_call_batch_add(&b, sc_op, neg), 0); /* wins */
	struct static_call_stats before = sc_test_stats();
	assert_int_equal(static_call_batch_commit(&b), 0);
	struct static_call_stats after = sc_test_stats();
	assert_int_equal(b.count, 0);
	assert_int_equal(static_call(sc_op)(3), -3);
	assert_int_equal(static_call(sc_null)(3), -3);
	assert_int_equal(static_call(sc_ret0)(3), 4);
	/* trap-free protocol: one round of stores, one sync */
	assert_int_equal(after.syncs - before.syncs, 1);
	assert_int_equal(after.batches - before.batches, 1);
	assert_int_equal(after.sites_patched - before.sites_patched, 3);

	/* int3 protocol: three syncs for the whole batch (two on aarch64,
	 * where a near target changes the first instruction word only) */
	assert_int_equal(static_call_set_option("protocol", "int3"), 0);
	static_call_batch_add(&b, sc_op, add1);
	static_call_batch_add(&b, sc_null, add2);
	static_call_batch_add(&b, sc_ret0, add2);
	before = sc_test_stats();
	assert_int_equal(static_call_batch_commit(&b), 0);
	after = sc_test_stats();
	assert_int_equal(after.syncs - before.syncs, SC_TEST_INT3_STEPS);
	assert_int_equal(after.sites_patched - before.sites_patched, 3);
	assert_int_equal(static_call(sc_op)(3), 4);
	assert_int_equal(static_call(sc_null)(3), 5);
	assert_int_equal(static_call(sc_ret0)(3), 5);
	assert_int_equal(static_call_set_option("protocol", "auto"), 0);
	static_call_batch_add(&b, sc_op, neg);
	static_call_batch_add(&b, sc_null, neg);
	static_call_batch_add(&b, sc_ret0, add1);
	assert_int_equal(static_call_batch_commit(&b), 0);

	/* full batch: -ENOSPC, remembered, and the commit writes nothing */
	assert_int_equal(static_call_batch_init(&b, ents, 1), 0);
	assert_int_equal(static_call_batch_add(&b, sc_op, add1), 0);
	assert_int_equal(static_call_batch_add(&b, sc_null, NULL), -ENOSPC);
	assert_int_equal(static_call_batch_commit(&b), -ENOSPC);
	assert_int_equal(static_call(sc_op)(3), -3);
	static_call_batch_reset(&b);
	assert_int_equal(static_call_batch_add(&b, sc_op, add1), 0);
	assert_int_equal(static_call_batch_commit(&b), 0);
	assert_int_equal(static_call(sc_op)(3), 4);

	/* an empty batch is fine and costs nothing */
	before = sc_test_stats();
	assert_int_equal(static_call_batch_commit(&b), 0);
	after = sc_test_stats();
	assert_int_equal(after.syncs, before.syncs);

	assert_int_equal(static_call_batch_add(&b, sc_null, NULL), 0);
	assert_int_equal(
		static_call_batch_add(&b, sc_ret0, static_call_return0),
		-ENOSPC);
	static_call_batch_reset(&b);
	assert_int_equal(static_call_update(sc_null, NULL), 0);
	assert_int_equal(static_call_update(sc_ret0, static_call_return0), 0);
}

static void test_bad_input(void **state)
{
	struct static_call_batch b;
	struct static_call_batch_entry e[1];
	struct static_call_key fake;
	(void)state;

	sc_test_capture_log();
	assert_int_equal(__static_call_update(NULL, add1), -EINVAL);
	assert_int_equal(static_call_batch_init(NULL, e, 1), -EINVAL);
	assert_int_equal(static_call_batch_init(&b, NULL, 1), -EINVAL);
	assert_int_equal(static_call_batch_commit(NULL), -EINVAL);
	assert_int_equal(__static_call_batch_add(NULL, &fake, add1), -EINVAL);
	assert_int_equal(static_call_batch_init(&b, e, 1), 0);
	assert_int_equal(__static_call_batch_add(&b, NULL, add1), -EINVAL);
	assert_int_equal(static_call_batch_commit(&b), -EINVAL);
	assert_int_equal(static_call_get_stats(NULL, 0), -EINVAL);

	/* keys whose trampoline is not one: NULL, misaligned, data, unmapped,
	 * ordinary code */
	static const unsigned char data[32] __attribute__((aligned(16)));
	void *bad[] = {NULL, (char *)add1 + 1, (void *)data, (void *)16,
		       (void *)((uintptr_t)add1 & ~(uintptr_t)15)};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&fake, 0, sizeof(fake));
		fake.func = add1;
		fake.tramp = bad[i];
		int err = __static_call_update(&fake, add2);
		assert_true(err == -ENOEXEC || err == -EFAULT);
		assert_true(strlen(sc_test_last_log()) > 0);
	}
	/* the real one still works */
	assert_int_equal(static_call_update(sc_op, add2), 0);
	assert_int_equal(static_call(sc_op)(1), 3);
	assert_int_equal(static_call_update(sc_op, add1), 0);
	static_call_set_print(NULL);
}

/* The library refuses to write over bytes it did not put there. */
static void test_mismatch(void **state)
{
	unsigned char *t = (unsigned char *)STATIC_CALL_KEY(sc_op).tramp;
	unsigned char saved[STATIC_CALL_TRAMP_SIZE],
		now[STATIC_CALL_TRAMP_SIZE];
	(void)state;

	assert_int_equal(static_call_update(sc_op, add2), 0); /* known state */
	memcpy(saved, t, sizeof(saved));
	/* someone else retargets the jump: still a valid jmp, not ours */
	unsigned char evil[8];
	size_t evil_len = sc_test_put_jump(evil, (uintptr_t)t, (uintptr_t)neg);
	assert_true(evil_len > 0);
	assert_int_equal(sc_test_poke_code(t, evil, evil_len), 0);
	assert_int_equal(static_call(sc_op)(4), -4);

	sc_test_capture_log();
	struct static_call_stats before = sc_test_stats();
	assert_int_equal(static_call_update(sc_op, add1), -EILSEQ);
	struct static_call_stats after = sc_test_stats();
	assert_non_null(strstr(sc_test_last_log(), "changed behind our back"));
	assert_int_equal(after.bytes_written, before.bytes_written);
	assert_int_equal(after.errors - before.errors, 1);
	memcpy(now, t, sizeof(now));
	assert_memory_not_equal(now, saved, evil_len);
	assert_int_equal(static_call(sc_op)(4), -4); /* untouched */

	/* a batch with one bad entry writes nothing at all */
	struct static_call_batch_entry ents[2];
	struct static_call_batch b;
	static_call_batch_init(&b, ents, 2);
	static_call_batch_add(&b, sc_null, add2);
	static_call_batch_add(&b, sc_op, add1);
	before = sc_test_stats();
	assert_int_equal(static_call_batch_commit(&b), -EILSEQ);
	after = sc_test_stats();
	assert_int_equal(after.bytes_written, before.bytes_written);
	assert_null(static_call_query(sc_null));
	assert_int_equal(b.count, 2); /* kept for a retry */

	/* put our bytes back; updates work again */
	assert_int_equal(sc_test_poke_code(t, saved, sizeof(saved)), 0);
	assert_int_equal(static_call_batch_commit(&b), 0);
	assert_int_equal(static_call(sc_op)(4), 5);
	assert_int_equal(static_call(sc_null)(4), 6);
	assert_int_equal(static_call_update(sc_null, NULL), 0);
	static_call_set_print(NULL);
}

static void test_no_wx(void **state)
{
	(void)state;
	for (int i = 0; i < 50; i++)
		assert_int_equal(
			static_call_update(sc_op, (i & 1) ? add2 : add1), 0);
	assert_int_equal(sc_test_count_wx(), 0);
}

static void test_options(void **state)
{
	(void)state;
	sc_test_capture_log();
	assert_int_equal(static_call_set_option("nope", "1"), -ENOENT);
	assert_int_equal(static_call_set_option("protocol", "fast"), -EINVAL);
	assert_int_equal(static_call_set_option("write", "floppy"), -EINVAL);
	assert_int_equal(static_call_set_option(NULL, "auto"), -EINVAL);
	assert_int_equal(static_call_set_option("write", NULL), -EINVAL);
	assert_true(strlen(sc_test_last_log()) > 0);
	assert_int_equal(static_call_set_option("log", "loud"), -EINVAL);
	assert_int_equal(static_call_set_option("perf_map", "maybe"), -EINVAL);
	assert_int_equal(static_call_set_option("write", "auto"), 0);
	assert_int_equal(static_call_set_option("protocol", "auto"), 0);
	assert_int_equal(static_call_set_option("log", "warn"), 0);
	assert_int_equal(static_call_set_option("perf_map", "off"), 0);
	static_call_set_print(NULL);
}

static int sync_from_hook = 1;
static void hook_sync(enum static_call_trace_step step, unsigned int n)
{
	(void)n;
	if (step == STATIC_CALL_TRACE_BEGIN)
		sync_from_hook = static_call_synchronize();
}

static void test_synchronize(void **state)
{
	(void)state;
	assert_int_equal(static_call_update(sc_op, add2), 0);
	assert_int_equal(static_call_synchronize(), 0);
	assert_int_equal(static_call(sc_op)(1), 3);
	/* from inside an update (the trace hook): refused, not a deadlock */
	sc_test_capture_log();
	assert_int_equal(static_call_update(static_call_trace_hook, hook_sync),
			 0);
	assert_int_equal(static_call_update(sc_op, add1), 0);
	assert_int_equal(sync_from_hook, -EDEADLK);
	assert_int_equal(static_call_update(static_call_trace_hook, NULL), 0);
	static_call_set_print(NULL);
	assert_int_equal(static_call_synchronize(), 0);
}

static void test_stats_size(void **state)
{
	struct static_call_stats st;
	(void)state;
	memset(&st, 0xff, sizeof(st));
	/* a smaller (older) struct is filled only as far as it goes */
	assert_int_equal(static_call_get_stats(&st, sizeof(unsigned long long)),
			 0);
	assert_true(st.batches == ~0ull);
	assert_int_equal(static_call_get_stats(&st, sizeof(st)), 0);
	assert_true(st.batches > 0 && st.batches != ~0ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_selftest),
		cmocka_unit_test(test_update_query),
		cmocka_unit_test(test_null_and_cond),
		cmocka_unit_test(test_ret0),
		cmocka_unit_test(test_far_target),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_mismatch),
		cmocka_unit_test(test_no_wx),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_synchronize),
		cmocka_unit_test(test_stats_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
