/* SPDX-License-Identifier: MIT */
/*
 * Choosing one of eight calls by data, without an indirect branch: compiled
 * with -fno-jump-tables, the switch is a chain of compares and conditional
 * branches.  This is what a program that wants several targets at one place
 * and uses static calls would do (one static call per target); with a
 * pseudo-random choice, the conditional branches mispredict instead of an
 * indirect one.  Twice: through the trampolines (bench_tramp, see bench.h)
 * and through inline sites (static_call: direct calls to the targets once
 * the library has patched them).
 */
#include <staticcall.h>

#include "bench.h"
#include "calls.h"

DEFINE_STATIC_CALL(bsc_r0, bench_t0);
DEFINE_STATIC_CALL(bsc_r1, bench_t1);
DEFINE_STATIC_CALL(bsc_r2, bench_t2);
DEFINE_STATIC_CALL(bsc_r3, bench_t3);
DEFINE_STATIC_CALL(bsc_r4, bench_t4);
DEFINE_STATIC_CALL(bsc_r5, bench_t5);
DEFINE_STATIC_CALL(bsc_r6, bench_t6);
DEFINE_STATIC_CALL(bsc_r7, bench_t7);

#define TRAMP_ALIAS(k)                                                         \
	BENCH_TRAMP_ALIAS(bsc_r##k);                                           \
	BENCH_DECLARE_TRAMP_ALIAS(bsc_r##k)
TRAMP_ALIAS(0);
TRAMP_ALIAS(1);
TRAMP_ALIAS(2);
TRAMP_ALIAS(3);
TRAMP_ALIAS(4);
TRAMP_ALIAS(5);
TRAMP_ALIAS(6);
TRAMP_ALIAS(7);

struct static_call_key *const bench_switch_keys[8] = {
	&STATIC_CALL_KEY(bsc_r0), &STATIC_CALL_KEY(bsc_r1),
	&STATIC_CALL_KEY(bsc_r2), &STATIC_CALL_KEY(bsc_r3),
	&STATIC_CALL_KEY(bsc_r4), &STATIC_CALL_KEY(bsc_r5),
	&STATIC_CALL_KEY(bsc_r6), &STATIC_CALL_KEY(bsc_r7),
};

#define SWITCH8(call)                                                          \
	switch (bench_seq[i & (BENCH_SEQ - 1)]) {                              \
	case 0:                                                                \
		x = call(0)(x);                                                \
		break;                                                         \
	case 1:                                                                \
		x = call(1)(x);                                                \
		break;                                                         \
	case 2:                                                                \
		x = call(2)(x);                                                \
		break;                                                         \
	case 3:                                                                \
		x = call(3)(x);                                                \
		break;                                                         \
	case 4:                                                                \
		x = call(4)(x);                                                \
		break;                                                         \
	case 5:                                                                \
		x = call(5)(x);                                                \
		break;                                                         \
	case 6:                                                                \
		x = call(6)(x);                                                \
		break;                                                         \
	default:                                                               \
		x = call(7)(x);                                                \
		break;                                                         \
	}

#define DIRECT(k) bench_t##k
#define TRAMP(k) bench_tramp(bsc_r##k)
#define INLINE(k) static_call(bsc_r##k)

BENCH_LOOP long run_rand_switch_direct(long n)
{
	long x = 0;

	for (long i = 0; i < n; i++) {
		SWITCH8(DIRECT)
		BENCH_BARRIER();
	}
	return x;
}

BENCH_LOOP long run_rand_switch_static(long n)
{
	long x = 0;

	for (long i = 0; i < n; i++) {
		SWITCH8(TRAMP)
		BENCH_BARRIER();
	}
	return x;
}

BENCH_LOOP long run_rand_switch_inline(long n)
{
	long x = 0;

	for (long i = 0; i < n; i++) {
		SWITCH8(INLINE)
		BENCH_BARRIER();
	}
	return x;
}
