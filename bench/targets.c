/* SPDX-License-Identifier: MIT */
/*
 * Call targets and helpers for the benchmarks, in a translation unit of their
 * own so that no caller can inline them or see their bodies.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"

/* Each target is two instructions plus ret: an add and the asm barrier
 * (which emits nothing but pins x in a register). */
#define BENCH_TARGET(i)                                                        \
	long bench_t##i(long x)                                                \
	{                                                                      \
		__asm__ volatile("" : "+r"(x));                                \
		return x + (i) + 1;                                            \
	}
BENCH_TARGET(0)
BENCH_TARGET(1)
BENCH_TARGET(2)
BENCH_TARGET(3)
BENCH_TARGET(4)
BENCH_TARGET(5)
BENCH_TARGET(6)
BENCH_TARGET(7)

/* GNU ifunc: the resolver runs once, at relocation time. */
__attribute__((used)) static long (*resolve_bench_ifunc(void))(long)
{
	return bench_t0;
}
long bench_ifunc(long x) __attribute__((ifunc("resolve_bench_ifunc")));

long (*bench_fp)(long) = bench_t0;
long (*bench_fptab[BENCH_NTARGETS])(long) = {
	bench_t0, bench_t1, bench_t2, bench_t3,
	bench_t4, bench_t5, bench_t6, bench_t7,
};
int bench_flag0 = 0, bench_flag1 = 1;
unsigned char bench_seq[BENCH_SEQ];

/* xorshift32: fixed seed, so every run (and callgrind) sees the same
 * sequence. */
void bench_seq_init(unsigned int ntargets)
{
	uint32_t s = 2463534242u;

	for (size_t i = 0; i < BENCH_SEQ; i++) {
		s ^= s << 13;
		s ^= s >> 17;
		s ^= s << 5;
		bench_seq[i] = (unsigned char)((s >> 8) % ntargets);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

long bench_rss_kib(void)
{
	long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}
