/* SPDX-License-Identifier: MIT */
/*
 * Function pointer calls compiled with retpolines: every indirect call goes
 * through a thunk (`call` to a `ret` whose return address was overwritten),
 * which the CPU never predicts.  The flags are set per file in
 * CMakeLists.txt.
 */
#include "bench.h"
#include "calls.h"

BENCH_LOOP long run_fp_retpoline(long n)
{
	long x = 0;

	for (long i = 0; i < n; i++) {
		x = bench_fp(x);
		BENCH_BARRIER();
	}
	return x;
}

BENCH_LOOP long run_rand_fp_retpoline(long n)
{
	long x = 0;

	for (long i = 0; i < n; i++) {
		x = bench_fptab[bench_seq[i & (BENCH_SEQ - 1)]](x);
		BENCH_BARRIER();
	}
	return x;
}
