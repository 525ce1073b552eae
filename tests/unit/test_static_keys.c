/* SPDX-License-Identifier: MIT */
/*
 * Static keys, single-threaded: the kernel's lib/test_static_keys.c matrix
 * (true/false keys x likely/unlikely, initial state, invert all, check every
 * branch, invert back), reference counts, batches, and refusals.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "arch.h"
#include "common.h"

DEFINE_STATIC_KEY_TRUE(kt_a);
DEFINE_STATIC_KEY_TRUE(kt_b);
DEFINE_STATIC_KEY_FALSE(kf_a);
DEFINE_STATIC_KEY_FALSE(kf_b);
DEFINE_STATIC_KEY_ARRAY_TRUE(kt_arr, 3);
DEFINE_STATIC_KEY_ARRAY_FALSE(kf_arr, 3);

static int add1(int x) { return x + 1; }
static int add2(int x) { return x + 2; }
DEFINE_STATIC_CALL(sk_call, add1);

/* Each key behind both forms, each in a function of its own so that the
 * compiler keeps one site per form (noinline), plus a second site of the
 * same form to make sure every site of a key is patched. */
#define BRANCHES(k)                                                            \
	static __attribute__((noinline)) int likely_##k(void)                  \
	{                                                                      \
		return static_branch_likely(&k) ? 1 : 0;                       \
	}                                                                      \
	static __attribute__((noinline)) int unlikely_##k(void)                \
	{                                                                      \
		if (static_branch_unlikely(&k))                                \
			return 1;                                              \
		return 0;                                                      \
	}                                                                      \
	static __attribute__((noinline)) int both_##k(void)                    \
	{                                                                      \
		int a = static_branch_likely(&k) ? 1 : 0;                      \
		int b = static_branch_unlikely(&k) ? 1 : 0;                    \
		return a == b ? a : -1;                                        \
	}
BRANCHES(kt_a)
BRANCHES(kt_b)
BRANCHES(kf_a)
BRANCHES(kf_b)

static __attribute__((noinline)) int arr_likely(int i)
{
	switch (i) {
	case 0:
		return static_branch_likely(&kt_arr[0]) * 1 +
		       static_branch_unlikely(&kf_arr[0]) * 2;
	case 1:
		return static_branch_likely(&kt_arr[1]) * 1 +
		       static_branch_unlikely(&kf_arr[1]) * 2;
	default:
		return static_branch_likely(&kt_arr[2]) * 1 +
		       static_branch_unlikely(&kf_arr[2]) * 2;
	}
}

struct test_key {
	const char *name;
	struct static_key *key;
	int (*likely)(void), (*unlikely)(void), (*both)(void);
};

#define TK(k)                                                                  \
	{                                                                      \
#k, &k.key, likely_##k, unlikely_##k, both_##k                 \
	}
static const struct test_key keys[] = {TK(kt_a), TK(kt_b), TK(kf_a), TK(kf_b)};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* Every branch of every key must say what its key's state says. */
static void verify_keys(void)
{
	for (size_t i = 0; i < NKEYS; i++) {
		int on = keys[i].key->enabled > 0;
		if (keys[i].likely() != on || keys[i].unlikely() != on ||
		    keys[i].both() != on)
			fail_msg("key %s: enabled=%d but branches say %d/%d/%d",
				 keys[i].name, on, keys[i].likely(),
				 keys[i].unlikely(), keys[i].both());
	}
}

static int set_key(const struct test_key *k, int on)
{
	return on ? __static_key_set(k->key, 1) : __static_key_set(k->key, 0);
}

static void test_initial_state(void **state)
{
	(void)state;
	assert_true(static_key_enabled(&kt_a));
	assert_true(static_key_enabled(&kt_b));
	assert_false(static_key_enabled(&kf_a));
	assert_false(static_key_enabled(&kf_b));
	assert_int_equal(likely_kt_a(), 1);
	assert_int_equal(unlikely_kt_a(), 1);
	assert_int_equal(likely_kf_a(), 0);
	assert_int_equal(unlikely_kf_a(), 0);
	verify_keys();
}

/* The kernel's sequence: invert every key, check, invert back, check. */
static void test_invert_all(void **state)
{
	(void)state;
	for (int round = 0; round < 4; round++) {
		for (size_t i = 0; i < NKEYS; i++)
			assert_int_equal(
				set_key(&keys[i], !(keys[i].key->enabled > 0)),
				0);
		verify_keys();
	}
	assert_true(static_key_enabled(&kt_a));
	assert_false(static_key_enabled(&kf_a));
}

/* The same in one batch: one patch run, three syncs, all keys at once. */
static void test_invert_batch(void **state)
{
	struct static_call_batch_entry e[NKEYS + 1];
	struct static_call_batch b;
	(void)state;

	for (int round = 0; round < 2; round++) {
		static_call_batch_init(&b, e, NKEYS + 1);
		for (size_t i = 0; i < NKEYS; i++)
			assert_int_equal(__static_key_batch_set(
						 &b, keys[i].key,
						 !(keys[i].key->enabled > 0)),
					 0);
		assert_int_equal(
			static_call_batch_add(&b, sk_call, round ? add1 : add2),
			0);
		struct static_call_stats before = sc_test_stats();
		assert_int_equal(static_call_batch_commit(&b), 0);
		struct static_call_stats after = sc_test_stats();
		verify_keys();
		assert_int_equal(static_call(sk_call)(1), round ? 2 : 3);
		/* one sync for the whole batch (three with int3, which the
		 * store protocol uses for key sites not built trap-free) */
		assert_int_equal(after.syncs - before.syncs,
				 sc_test_code_syncs());
		assert_int_equal(after.batches - before.batches, 1);
		/* 4 keys x 4 sites (likely, unlikely, both x2) + trampoline */
		assert_int_equal(after.sites_patched - before.sites_patched,
				 NKEYS * 4 + 1);
	}
	/* the helper macros */
	static_call_batch_init(&b, e, 2);
	assert_int_equal(static_branch_batch_disable(&b, &kt_a), 0);
	assert_int_equal(static_branch_batch_enable(&b, &kf_a), 0);
	assert_int_equal(static_call_batch_commit(&b), 0);
	assert_int_equal(likely_kt_a(), 0);
	assert_int_equal(unlikely_kf_a(), 1);
	static_call_batch_init(&b, e, 2);
	static_branch_batch_enable(&b, &kt_a);
	static_branch_batch_disable(&b, &kf_a);
	assert_int_equal(static_call_batch_commit(&b), 0);
	verify_keys();
}

static void test_counts(void **state)
{
	(void)state;
	/* false key: inc/dec */
	assert_int_equal(static_key_count(&kf_b), 0);
	assert_int_equal(static_branch_dec(&kf_b), -EINVAL); /* no wrap */
	assert_int_equal(static_key_count(&kf_b), 0);
	assert_int_equal(static_branch_inc(&kf_b), 0);
	assert_int_equal(static_branch_inc(&kf_b), 0);
	assert_int_equal(static_key_count(&kf_b), 2);
	assert_int_equal(unlikely_kf_b(), 1);
	assert_int_equal(static_branch_dec(&kf_b), 0);
	assert_int_equal(unlikely_kf_b(), 1); /* still referenced */
	assert_int_equal(static_branch_dec(&kf_b), 0);
	assert_int_equal(unlikely_kf_b(), 0);
	assert_int_equal(static_branch_dec(&kf_b), -EINVAL);
	/* enable of a counted key keeps the count; disable drops it */
	assert_int_equal(static_branch_inc(&kf_b), 0);
	assert_int_equal(static_branch_inc(&kf_b), 0);
	assert_int_equal(static_branch_enable(&kf_b), 0);
	assert_int_equal(static_key_count(&kf_b), 2);
	assert_int_equal(static_branch_disable(&kf_b), 0);
	assert_int_equal(static_key_count(&kf_b), 0);
	assert_int_equal(likely_kf_b(), 0);
	/* true key starts at 1 */
	assert_int_equal(static_key_count(&kt_b), 1);
	assert_int_equal(static_branch_dec(&kt_b), 0);
	assert_int_equal(likely_kt_b(), 0);
	assert_int_equal(static_branch_inc(&kt_b), 0);
	assert_int_equal(likely_kt_b(), 1);
	verify_keys();
	/* a count change that moves no site costs no patch */
	struct static_call_stats before = sc_test_stats();
	assert_int_equal(static_branch_inc(&kt_b), 0);
	assert_int_equal(static_branch_dec(&kt_b), 0);
	assert_int_equal(static_branch_enable(&kt_b), 0);
	struct static_call_stats after = sc_test_stats();
	assert_int_equal(after.syncs, before.syncs);
	assert_int_equal(after.bytes_written, before.bytes_written);
}

static void test_arrays(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(arr_likely(i), 1);
	assert_int_equal(static_branch_enable(&kf_arr[1]), 0);
	assert_int_equal(static_branch_disable(&kt_arr[2]), 0);
	assert_int_equal(arr_likely(0), 1);
	assert_int_equal(arr_likely(1), 3);
	assert_int_equal(arr_likely(2), 0);
	assert_int_equal(static_branch_disable(&kf_arr[1]), 0);
	assert_int_equal(static_branch_enable(&kt_arr[2]), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(arr_likely(i), 1);
}

/* A site whose bytes someone else changed: refused, nothing written. */
static void test_site_mismatch(void **state)
{
	struct static_key_entry *e = __start_sc_jump_table;
	uint8_t *site = NULL, saved[SC_TEST_SITE_LEN], bad[SC_TEST_SITE_LEN];
	struct static_key *key = NULL;
	(void)state;

	sc_test_put_foreign(bad);

	/* the first site of kf_a in our jump table */
	for (; e < __stop_sc_jump_table; e++) {
		struct static_key *const *ref =
			(void *)((uintptr_t)&e->key + (e->key & ~7L));
		if (*ref == &kf_a.key) {
			site = (uint8_t *)((uintptr_t)&e->code + e->code);
			key = *ref;
			break;
		}
	}
	assert_non_null(site);
	memcpy(saved, site, sizeof(saved));
	assert_int_equal(sc_test_poke_code(site, bad, sizeof(bad)), 0);
	sc_test_capture_log();
	struct static_call_stats before = sc_test_stats();
	assert_int_equal(__static_key_set(key, 1), -EILSEQ);
	struct static_call_stats after = sc_test_stats();
	assert_int_equal(after.bytes_written, before.bytes_written);
	assert_non_null(strstr(sc_test_last_log(), "changed behind our back"));
	assert_false(static_key_enabled(&kf_a)); /* state unchanged */
	assert_int_equal(sc_test_poke_code(site, saved, sizeof(saved)), 0);
	assert_int_equal(static_branch_enable(&kf_a), 0);
	assert_int_equal(static_branch_disable(&kf_a), 0);
	verify_keys();
	static_call_set_print(NULL);
}

static void test_bad_input(void **state)
{
	(void)state;
	assert_int_equal(__static_key_set(NULL, 1), -EINVAL);
	assert_int_equal(__static_key_add(NULL, 1), -EINVAL);
	assert_int_equal(__static_key_batch_set(NULL, &kt_a.key, 1), -EINVAL);
	assert_int_equal(__static_call_module_load(NULL, NULL), -EINVAL);
	/* registering the same table again is a no-op */
	assert_int_equal(__static_call_module_load(__start_sc_jump_table,
						   __stop_sc_jump_table),
			 0);
	verify_keys();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_initial_state),
		cmocka_unit_test(test_invert_all),
		cmocka_unit_test(test_invert_batch),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_site_mismatch),
		cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
