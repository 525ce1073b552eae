/* SPDX-License-Identifier: MIT */
/*
 * Tail-call sites and the special targets.  Built at -O2/-O3/-Os, where
 * `return static_call(x)(a);` is a `jmp __SCT__x` (asserted: each static
 * call here has at least one tail site and one call site).  Proves that:
 *
 *   - a tail site goes INLINE as `e9 rel32 target`, a call site as e8;
 *   - NULL makes call sites a 5-byte nop (NOP) and tail sites `c3 cc cc cc
 *     cc` (RET), for a value-returning static call and for a void one
 *     (DEFINE_STATIC_CALL_NULL, static_call_cond), whose calls do nothing;
 *   - RET0 (static_call_return0, and DEFINE_STATIC_CALL_RET0 from load on)
 *     makes call sites `2e 2e 2e 31 c0` (RET0) and every call return 0;
 *     a tail site jumps to __static_call_return0 directly when in reach,
 *     else keeps its jmp to the trampoline;
 *   - the bytes of every listed site are what its state says, and the
 *     module's kept relocations name exactly the listed sites;
 *   - a conditional tail call (`jne __SCT__t_op`, which clang -Os emits) is
 *     neither a site nor a rejected entry, and keeps working through the
 *     trampoline for every target.
 *
 * Built with libstaticcall.so and with libstaticcall.a (IT_STATIC), where
 * the library's own code is part of the inline executable: the RET0 tail
 * sites are then INLINE, and the trace hook's call sites inside the patch
 * engine are inline sites too, which an update of the hook rewrites while
 * the engine runs through them.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "itest.h"

#define MAX_SITES 32

IT_NOINLINE int t_a(int x) { return x + 1; }
IT_NOINLINE int t_b(int x) { return x * 5; }
IT_NOINLINE void v_a(int *s) { *s = 1; }
IT_NOINLINE void v_b(int *s) { *s = 2; }

DEFINE_STATIC_CALL(t_op, t_a);
DEFINE_STATIC_CALL_NULL(t_void, v_a);
DEFINE_STATIC_CALL_RET0(t_r0, t_a);

IT_NOINLINE int op_tail(int x) { return static_call(t_op)(x); }
IT_NOINLINE int op_call(int x)
{
	int r = static_call(t_op)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}
IT_NOINLINE void v_tail(int *s) { static_call_cond(t_void)(s); }
IT_NOINLINE void v_call(int *s)
{
	static_call_cond(t_void)(s);
	__asm__ volatile("" ::: "memory");
}
IT_NOINLINE int r0_tail(int x) { return static_call(t_r0)(x); }
IT_NOINLINE int r0_call(int x)
{
	int r = static_call(t_r0)(x);
	__asm__ volatile("" : "+r"(r)::"memory");
	return r;
}

/* A conditional tail call, as clang -Os emits them: `jne __SCT__t_op`
 * (0f 85 rel32) on x86-64, `cbnz w0, __SCT__t_op` on aarch64.  Not a site
 * the library rewrites, nor an error: it keeps going through the
 * trampoline. */
int jcc_tail(int x);
#if defined(__x86_64__)
#define JCC_TAIL_BODY                                                          \
	"test %edi, %edi\n\t"                                                  \
	"jne " STATIC_CALL_TRAMP_STR(t_op) "\n\t"                              \
					   "xor %eax, %eax\n\t"                \
					   "ret\n"
#else
#define JCC_TAIL_BODY                                                          \
	"cbnz w0, " STATIC_CALL_TRAMP_STR(t_op) "\n\t"                         \
						"mov w0, #0\n\t"               \
						"ret\n"
#endif
__asm__(".pushsection .text\n"
	".globl jcc_tail\n"
	".type jcc_tail, @function\n"
	"jcc_tail:\n\t" JCC_TAIL_BODY ".size jcc_tail, . - jcc_tail\n"
	".popsection\n");

enum kind { K_FN, K_NULL, K_RET0 };

static unsigned long n_checks, n_calls, n_updates;

/* The state every site of a static call must be in, and its bytes. */
static int check_sites(const char *name, struct static_call_key *key,
		       enum kind kind, void *fn)
{
	struct static_call_site s[MAX_SITES];
	char sym[64];
	int n = __static_call_sites(key, s, MAX_SITES), tails = 0;
	uintptr_t tramp = (uintptr_t)key->tramp;

	snprintf(sym, sizeof(sym), "__SCT__%s", name);
	assert_true(n > 0 && n <= MAX_SITES);
	assert_int_equal(n, it_count_sites("/proc/self/exe", sym));
	for (int i = 0; i < n; i++) {
		uintptr_t dest = 0;
		int op = it_rel32(s[i].addr, &dest), want;
		tails += s[i].tail;
		switch (kind) {
		case K_FN:
			want = STATIC_CALL_SITE_INLINE;
			break;
		case K_NULL:
			want = s[i].tail ? STATIC_CALL_SITE_RET
					 : STATIC_CALL_SITE_NOP;
			break;
		default:
			/* RET0: x86 has an instruction of its own at call
			 * sites; elsewhere, and at tail sites, a call of
			 * __static_call_return0 like any target */
			want = !s[i].tail && IT_RET0_INLINE
				       ? STATIC_CALL_SITE_RET0
			       : it_far((uintptr_t)s[i].addr,
					(uintptr_t)static_call_return0)
				       ? STATIC_CALL_SITE_TRAMPOLINE
				       : STATIC_CALL_SITE_INLINE;
			if (kind == K_RET0)
				fn = static_call_return0;
		}
		if (s[i].state != want)
			fail_msg("%s: site %p (%s) is %s, expected %s", name,
				 s[i].addr, s[i].tail ? "tail" : "call",
				 it_state(s[i].state), it_state(want));
		switch (s[i].state) {
		case STATIC_CALL_SITE_INLINE:
			assert_int_equal(op, s[i].tail ? IT_TAIL : IT_CALL);
			assert_ptr_equal(dest, fn);
			assert_ptr_equal(s[i].target, fn);
			break;
		case STATIC_CALL_SITE_TRAMPOLINE:
			assert_int_equal(op, s[i].tail ? IT_TAIL : IT_CALL);
			assert_int_equal(dest, tramp);
			assert_int_equal((uintptr_t)s[i].target, tramp);
			break;
		case STATIC_CALL_SITE_NOP:
			assert_memory_equal(s[i].addr, it_nop, IT_SITE_LEN);
			assert_null(s[i].target);
			break;
		case STATIC_CALL_SITE_RET:
			assert_true(it_null_tail(s[i].addr, tramp));
			assert_null(s[i].target);
			break;
#if IT_RET0_INLINE
		case STATIC_CALL_SITE_RET0:
			assert_memory_equal(s[i].addr, it_xor5, 5);
			break;
#endif
		default:
			fail_msg("%s: site %p in state %s", name, s[i].addr,
				 it_state(s[i].state));
		}
		n_checks++;
	}
	/* a call site and a tail site at least, or this proves nothing */
	if (tails < 1 || n - tails < 1)
		fail_msg("%s: %d call sites and %d tail sites (compiled "
			 "without tail calls?)",
			 name, n - tails, tails);
	return (n - tails) << 8 | tails;
}

#define CHECK(name, kind, fn)                                                  \
	check_sites(#name, &STATIC_CALL_KEY(name), kind, (void *)(fn))

static void calls_op(enum kind kind, int (*fn)(int))
{
	assert_int_equal(jcc_tail(0), 0);
	for (int x = 1; x < 4; x++) {
		int a = op_tail(x), b = op_call(x), c = jcc_tail(x);
		n_calls += 3;
		if (kind == K_NULL)
			continue; /* unspecified value, but no crash */
		assert_int_equal(a, kind == K_RET0 ? 0 : fn(x));
		assert_int_equal(b, kind == K_RET0 ? 0 : fn(x));
		assert_int_equal(c, kind == K_RET0 ? 0 : fn(x));
	}
}

static void calls_void(int want)
{
	int s1 = 0, s2 = 0;

	v_tail(&s1);
	v_call(&s2);
	n_calls += 2;
	assert_int_equal(s1, want);
	assert_int_equal(s2, want);
}

static void calls_r0(int (*fn)(int))
{
	for (int x = 1; x < 4; x++) {
		n_calls += 2;
		assert_int_equal(r0_tail(x), fn ? fn(x) : 0);
		assert_int_equal(r0_call(x), fn ? fn(x) : 0);
	}
}

#define UPDATE(name, fn)                                                       \
	do {                                                                   \
		assert_int_equal(static_call_update(name, fn), 0);             \
		n_updates++;                                                   \
	} while (0)

static void test_after_load(void **state)
{
	int a, b, c;

	(void)state;
	a = CHECK(t_op, K_FN, t_a);
	calls_op(K_FN, t_a);
	b = CHECK(t_void, K_NULL, NULL);
	calls_void(0);
	c = CHECK(t_r0, K_RET0, NULL);
	calls_r0(NULL);
	printf("call+tail sites: t_op %d+%d, t_void %d+%d, t_r0 %d+%d\n",
	       a >> 8, a & 255, b >> 8, b & 255, c >> 8, c & 255);
}

static void test_value_call(void **state)
{
	(void)state;
	UPDATE(t_op, NULL);
	CHECK(t_op, K_NULL, NULL);
	calls_op(K_NULL, NULL);
	UPDATE(t_op, static_call_return0);
	CHECK(t_op, K_RET0, NULL);
	calls_op(K_RET0, NULL);
	UPDATE(t_op, t_b);
	CHECK(t_op, K_FN, t_b);
	calls_op(K_FN, t_b);
	UPDATE(t_op, static_call_return0);
	CHECK(t_op, K_RET0, NULL);
	calls_op(K_RET0, NULL);
	UPDATE(t_op, t_a);
	CHECK(t_op, K_FN, t_a);
	calls_op(K_FN, t_a);
}

static void test_void_call(void **state)
{
	(void)state;
	UPDATE(t_void, v_a);
	CHECK(t_void, K_FN, v_a);
	calls_void(1);
	UPDATE(t_void, v_b);
	CHECK(t_void, K_FN, v_b);
	calls_void(2);
	UPDATE(t_void, NULL);
	CHECK(t_void, K_NULL, NULL);
	calls_void(0);
}

static void test_ret0_call(void **state)
{
	(void)state;
	UPDATE(t_r0, t_b);
	CHECK(t_r0, K_FN, t_b);
	calls_r0(t_b);
	UPDATE(t_r0, static_call_return0);
	CHECK(t_r0, K_RET0, NULL);
	calls_r0(NULL);
}

#ifdef IT_STATIC
static _Atomic unsigned long hook_calls;

static void hook(enum static_call_trace_step step, unsigned int nr)
{
	(void)step;
	(void)nr;
	hook_calls++;
}

/* The engine's own static call sites (the trace hook in src/engine.c) are in
 * this executable: inline, and rewritten while the engine runs them. */
static void test_engine_sites(void **state)
{
	struct static_call_site s[MAX_SITES];
	struct static_call_stats st0 = sc_test_stats();
	int n;

	(void)state;
	n = static_call_sites(static_call_trace_hook, s, MAX_SITES);
	assert_true(n > 0 && n <= MAX_SITES);
	for (int i = 0; i < n; i++)
		assert_int_equal(s[i].state, s[i].tail ? STATIC_CALL_SITE_RET
						       : STATIC_CALL_SITE_NOP);
	UPDATE(static_call_trace_hook, hook);
	n = static_call_sites(static_call_trace_hook, s, MAX_SITES);
	for (int i = 0; i < n; i++) {
		assert_int_equal(s[i].state, STATIC_CALL_SITE_INLINE);
		assert_ptr_equal(s[i].target, hook);
	}
	UPDATE(t_op, t_b);
	assert_true(hook_calls >= 2);
	calls_op(K_FN, t_b);
	UPDATE(static_call_trace_hook, NULL);
	UPDATE(t_op, t_a);
	calls_op(K_FN, t_a);
	n = static_call_sites(static_call_trace_hook, s, MAX_SITES);
	for (int i = 0; i < n; i++)
		assert_int_equal(s[i].state, s[i].tail ? STATIC_CALL_SITE_RET
						       : STATIC_CALL_SITE_NOP);
	printf("engine: %d trace hook sites, hook ran %lu times, %llu traps "
	       "emulated\n",
	       n, (unsigned long)hook_calls,
	       sc_test_stats().traps_emulated - st0.traps_emulated);
}
#endif

static void test_summary(void **state)
{
	(void)state;
	printf("tail/call sites: %lu updates, %lu site checks, %lu calls\n",
	       n_updates, n_checks, n_calls);
	assert_int_equal(sc_test_stats().sites_rejected, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_after_load),
		cmocka_unit_test(test_value_call),
		cmocka_unit_test(test_void_call),
		cmocka_unit_test(test_ret0_call),
#ifdef IT_STATIC
		cmocka_unit_test(test_engine_sites),
#endif
		cmocka_unit_test(test_summary),
	};

	it_watchdog(20);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
