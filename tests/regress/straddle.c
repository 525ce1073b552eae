/* SPDX-License-Identifier: MIT */
/*
 * Issue 14: sites that straddle a page boundary.
 *
 * Two functions written in assembly, each at the start of a 4 KiB-aligned
 * section of its own, jump over padding to a site at page offset 4094, so
 * that the site's 5 bytes lie 2 in one page and 3 in the next:
 *  - rg_straddle_key_fn: a static key site (a jump table entry made by
 *    hand, in the layout <staticcall.h> emits) of rg_st_key, unlikely
 *    form: returns 1 when the key is enabled;
 *  - rg_straddle_call_fn: an inline call site, `call __SCT__rg_st_op`
 *    (the executable is linked for inline sites), returning its result.
 * Two threads run both and check every result against the generations of
 * the updates (itgen.h) while the main thread toggles the key and
 * retargets the static call (A, B, RET0) for 2 s.  Asserts: the sites
 * are where they should be (and the call site is known to the library),
 * every toggle and update returns 0, 0 wrong results, and under the
 * default protocol 0 traps.
 *
 * On the code of issue 14: results are right (int3 handles a straddling
 * site), but the key site and the inline site take the int3 protocol, so
 * readers trap (traps > 0 under the default protocol).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "../inline/itgen.h"
#include "regress.h"

__attribute__((noinline, used)) int st_a(int x) { return x * 4 + 1; }
__attribute__((noinline, used)) int st_b(int x) { return x * 4 + 2; }
DEFINE_STATIC_CALL(rg_st_op, st_a);
DEFINE_STATIC_KEY_FALSE(rg_st_key);

/* The key of the hand-made jump table entry. */
__attribute__((used,
	       visibility("hidden"))) struct static_key *const rg_straddle_ref =
	&rg_st_key.key;

int rg_straddle_key_fn(void);
int rg_straddle_call_fn(int x);

__asm__(".pushsection .text.rg_straddle_key, \"ax\", @progbits\n"
	".balign 4096, 0xcc\n"
	".globl rg_straddle_key_fn\n"
	".type rg_straddle_key_fn, @function\n"
	"rg_straddle_key_fn:\n"
	"	.byte 0xe9\n"
	"	.long 1f - (. + 4)\n"
	"	.skip 4094 - (. - rg_straddle_key_fn), 0xcc\n"
	"1:	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"
	"	xor %eax, %eax\n"
	"	ret\n"
	"2:	mov $1, %eax\n"
	"	ret\n"
	".size rg_straddle_key_fn, . - rg_straddle_key_fn\n"
	".popsection\n"
	".pushsection sc_jump_table, \"aw\"\n"
	".balign 8\n"
	".long 1b - ., 2b - .\n"
	".quad rg_straddle_ref - .\n"
	".popsection\n"
	".pushsection .text.rg_straddle_call, \"ax\", @progbits\n"
	".balign 4096, 0xcc\n"
	".globl rg_straddle_call_fn\n"
	".type rg_straddle_call_fn, @function\n"
	"rg_straddle_call_fn:\n"
	"	sub $8, %rsp\n"
	"	.byte 0xe9\n"
	"	.long 3f - (. + 4)\n"
	"	.skip 4094 - (. - rg_straddle_call_fn), 0xcc\n"
	"3:	call __SCT__rg_st_op\n"
	"	add $8, %rsp\n"
	"	ret\n"
	".size rg_straddle_call_fn, . - rg_straddle_call_fn\n"
	".popsection\n");

static struct itg call_gen, key_gen;
static struct itg_counts counts;
static _Atomic int stop;

static int decode(int x, int r)
{
	return r == 0 ? 2 : r == st_a(x) ? 0 : r == st_b(x) ? 1 : -1;
}

static void *runner(void *arg)
{
	int x = (int)(intptr_t)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned long c = itg_before(&call_gen);
		int r = rg_straddle_call_fn(x);
		unsigned long p = itg_after(&call_gen);
		itg_count(&counts, itg_check(&call_gen, c, p, decode(x, r)));
		c = itg_before(&key_gen);
		r = rg_straddle_key_fn();
		p = itg_after(&key_gen);
		itg_count(&counts, itg_check(&key_gen, c, p, r));
		x = x % 100000 + 1;
	}
	return NULL;
}

static int st_set(int k)
{
	static void *const targets[3] = {(void *)st_a, (void *)st_b,
					 static_call_return0};

	return static_call_update(rg_st_op, targets[k]);
}

static void test_straddling_sites(void **state)
{
	static const unsigned char nop5[5] = {0x0f, 0x1f, 0x44, 0x00, 0x00};
	uintptr_t ksite = (uintptr_t)rg_straddle_key_fn + 4094;
	uintptr_t csite = (uintptr_t)rg_straddle_call_fn + 4094;
	struct static_call_site s[8];
	unsigned long long traps0;
	struct rg_updates u;
	int n, found = 0;
	pthread_t t[2];
	(void)state;

	/* where they should be */
	assert_int_equal(ksite & 4095, 4094);
	assert_int_equal(csite & 4095, 4094);
	assert_memory_equal((void *)ksite, nop5, 5);
	assert_int_equal(rg_straddle_key_fn(), 0);
	assert_int_equal(rg_straddle_call_fn(5), st_a(5));
	n = static_call_sites(rg_st_op, s, 8);
	for (int i = 0; i < n && i < 8; i++)
		found |= (uintptr_t)s[i].addr == csite &&
			 s[i].state == STATIC_CALL_SITE_INLINE;
	assert_true(found);
	assert_int_equal(static_branch_enable(&rg_st_key), 0);
	assert_int_equal(rg_straddle_key_fn(), 1);
	assert_int_equal(static_branch_disable(&rg_st_key), 0);
	assert_int_equal(rg_straddle_key_fn(), 0);

	itg_init(&call_gen, 0);
	itg_init(&key_gen, 0);
	traps0 = rg_traps();
	rg_thread(&t[0], runner, (void *)(intptr_t)1);
	rg_thread(&t[1], runner, (void *)(intptr_t)50001);
	rg_settle();
	rg_update_loop(2.0, &call_gen, 3, st_set, &key_gen, &rg_st_key, &u);
	atomic_store(&stop, 1);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	printf("straddling sites: %lu updates and toggles, %d failed (first: "
	       "%s); %lu checked results, %lu wrong, %lu unknown; %llu traps\n",
	       u.ops, u.errors, u.first ? strerror(-u.first) : "-",
	       atomic_load(&counts.calls), atomic_load(&counts.wrong),
	       atomic_load(&counts.unknown), rg_traps() - traps0);
	assert_int_equal(atomic_load(&counts.wrong), 0);
	assert_int_equal(u.errors, 0);
	if (rg_default_protocol())
		assert_int_equal(rg_traps() - traps0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_straddling_sites),
	};

	sc_test_watchdog(30 + 2 * sc_test_seconds(2.0));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
