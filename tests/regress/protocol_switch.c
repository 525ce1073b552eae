/* SPDX-License-Identifier: MIT */
/*
 * Issue 14 / 18: the protocol switched at run time, auto -> int3 -> store
 * -> auto, while callers run every kind of site.
 *
 * Sites (the executable is linked for inline call sites): page P1
 * (rg_pages.h) holds a key site of ps_k1 and an inline call site of ps_op;
 * page P2, 16 pages away from any other code (so that no flip at load or
 * in the first phases takes it into a region), holds a key site of
 * ps_k2tf placed for trap-free stores (as STATICCALL_KEYS_TRAPFREE places
 * them) and a plain one of ps_k2; ps_op's
 * trampoline is called too, and protocol_switch_b.c has ps_op2 (its own
 * trampoline page, and a call site).  Two threads run every site and
 * check every result against the generations of the updates (itgen.h).
 * The main thread runs four phases of 0.5 s, the protocol set with
 * static_call_set_option() at the start of each: auto, int3, store,
 * auto.  In every phase it retargets ps_op and toggles ps_k1; in the last
 * two (so that their pages are first written under store) also ps_op2,
 * ps_k2tf and ps_k2.
 *
 * Asserts: every update and toggle returns 0, no caller sees a wrong
 * result; in the last phase (the default protocol again) no site falls
 * back to int3; at the end /proc/self/maps has no writable alias of code
 * (issue 18: none under the default protocol).
 *
 * On the code of the page-flip merge (main at 6caf2a0): pages that got a
 * writable view under store keep it for good (src/engine.c, choose(): a
 * page with a view is written through the view, or with int3), so after
 * the switch back to auto ps_k2's site takes int3 on every toggle and the
 * rw- views of ps_op2's trampoline page and of P2 stay.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "../inline/itgen.h"
#include "protocol_switch.h"
#include "regress.h"
#include "rg_pages.h"

__attribute__((noinline, used)) int ps_a(int x) { return x * 4 + 1; }
__attribute__((noinline, used)) int ps_b(int x) { return x * 4 + 2; }
DEFINE_STATIC_CALL(ps_op, ps_a);
DEFINE_STATIC_KEY_FALSE(ps_k1);
DEFINE_STATIC_KEY_FALSE(ps_k2);
DEFINE_STATIC_KEY_FALSE(ps_k2tf);
RG_KEY_REF(ps_k1_ref, ps_k1);
RG_KEY_REF(ps_k2_ref, ps_k2);
RG_KEY_REF(ps_k2tf_ref, ps_k2tf);

int ps_s1(void), ps_s2(void), ps_s2tf(void), ps_call1(int x);

__asm__(RG_PAGES_MACRO);
__asm__(".pushsection .text.rg_protocol_switch1, \"ax\", @progbits\n"
	".balign 4096, 0xcc\n"
	"rg_key_site ps_s1, ps_k1_ref, 0\n"
	".org 512, 0xcc\n"
	".globl ps_call1\n"
	".type ps_call1, @function\n"
	"ps_call1:\n" RG_CALL_BODY(
		"__SCT__ps_op") ".size ps_call1, . - ps_call1\n"
				".org 4095, 0xcc\n"
				".byte 0xcc\n"
				".popsection\n"
				".pushsection .text.rg_protocol_switch2, "
				"\"ax\", @progbits\n"
				".balign 4096, 0xcc\n"
				"rg_key_site ps_s2tf, ps_k2tf_ref, (16*4096), "
				"2\n"
				"rg_key_site ps_s2, ps_k2_ref, (16*4096+256)\n"
				".org 33 * 4096 - 1, 0xcc\n"
				".byte 0xcc\n"
				".popsection\n");

static int (*volatile tramp)(int) = &STATIC_CALL_TRAMP(ps_op);

enum { G_OP, G_OP2, G_K1, G_K2TF, G_K2, G_N }; /* in the order changed */
static struct itg gen[G_N];
static struct itg_counts counts;
static _Atomic int stop;

static int decode(int x, int r, int mul)
{
	return r == 0 ? 2 : r == x * mul + 1 ? 0 : r == x * mul + 2 ? 1 : -1;
}

static void check(int g, int x, int (*fn)(int), int mul)
{
	unsigned long c = itg_before(&gen[g]);
	int r = fn(x);
	unsigned long p = itg_after(&gen[g]);

	itg_count(&counts, itg_check(&gen[g], c, p, decode(x, r, mul)));
}

static void check_key(int g, int (*fn)(void))
{
	unsigned long c = itg_before(&gen[g]);
	int r = fn();
	unsigned long p = itg_after(&gen[g]);

	itg_count(&counts, itg_check(&gen[g], c, p, r));
}

static void *runner(void *arg)
{
	int x = (int)(intptr_t)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		check(G_OP, x, ps_call1, 4);
		check(G_OP, x, tramp, 4);
		check(G_OP2, x, ps_call2, 8);
		check_key(G_K1, ps_s1);
		check_key(G_K2, ps_s2);
		check_key(G_K2TF, ps_s2tf);
		x = x % 100000 + 1;
	}
	return NULL;
}

static int errors, first;

/* One change of generation @g to @k (from @prev): publish, change,
 * commit (the old value again if it failed). */
static void change(int g, int k, int prev)
{
	unsigned long n = itg_publish(&gen[g], k);
	int err;

	switch (g) {
	case G_OP:
		err = static_call_update(
			ps_op, k == 0	? ps_a
			       : k == 1 ? ps_b
					: (int (*)(int))static_call_return0);
		break;
	case G_OP2:
		err = ps_update2(k);
		break;
	default: {
		struct static_key_false *key = g == G_K1   ? &ps_k1
					       : g == G_K2 ? &ps_k2
							   : &ps_k2tf;
		err = k ? static_branch_enable(key)
			: static_branch_disable(key);
	}
	}
	itg_commit(&gen[g], err ? itg_publish(&gen[g], prev) : n);
	errors += err != 0;
	first = first ? first : err;
}

static void test_protocol_switch(void **state)
{
	static const char *const phases[] = {"auto", "int3", "store", "auto"};
	struct static_call_stats s0 = {0}, s1;
	int cur[G_N] = {0};
	pthread_t t[2];
	(void)state;

	assert_int_equal((uintptr_t)ps_s1 % RG_PAGE, 0);
	assert_int_equal((uintptr_t)ps_s2tf % RG_PAGE, 0);
	for (int g = 0; g < G_N; g++)
		itg_init(&gen[g], 0);
	rg_thread(&t[0], runner, (void *)(intptr_t)1);
	rg_thread(&t[1], runner, (void *)(intptr_t)50001);
	rg_settle();
	for (int ph = 0; ph < 4; ph++) {
		double end = sc_now() + sc_test_seconds(0.5);
		assert_int_equal(static_call_set_option("protocol", phases[ph]),
				 0);
		if (ph == 3)
			s0 = sc_test_stats();
		for (unsigned long i = 1; sc_now() < end; i++) {
			for (int g = 0; g < G_N; g++) {
				int k, prev = cur[g];
				if ((g == G_OP2 || g == G_K2 || g == G_K2TF) &&
				    ph < 2)
					continue;
				k = g == G_OP || g == G_OP2 ? (int)(i % 3)
							    : (int)(i & 1);
				change(g, k, prev);
				cur[g] = k;
			}
		}
	}
	s1 = sc_test_stats();
	atomic_store(&stop, 1);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	printf("protocol switch: %lu checked results, %lu wrong, %lu unknown; "
	       "%d changes failed (first: %s); last phase: %llu flips, %llu "
	       "int3 fallbacks, %llu view writes\n",
	       atomic_load(&counts.calls), atomic_load(&counts.wrong),
	       atomic_load(&counts.unknown), errors,
	       first ? strerror(-first) : "-", s1.flips - s0.flips,
	       s1.int3_fallbacks - s0.int3_fallbacks,
	       s1.writes_view - s0.writes_view);
	assert_int_equal(atomic_load(&counts.wrong), 0);
	assert_int_equal(errors, 0);
	assert_int_equal(s1.int3_fallbacks - s0.int3_fallbacks, 0);
	assert_int_equal(rg_code_aliases(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protocol_switch),
	};

	sc_test_watchdog(30 + 4 * sc_test_seconds(0.5));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
