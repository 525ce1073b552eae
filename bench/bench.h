/* SPDX-License-Identifier: MIT */
/*
 * Shared by the benchmark programs: call targets that the compiler cannot
 * see through (defined in another translation unit, each with an asm
 * barrier), the timing helpers, and the statistics.
 */
#ifndef BENCH_H
#define BENCH_H

#include <string.h>
#include <stdlib.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Keeps the compiler from merging, hoisting or deleting loop iterations. */
#define BENCH_BARRIER() __asm__ volatile("" ::: "memory")

/* Every timed loop function starts on a 64-byte boundary, so that loops
 * that compile to the same instructions (a direct call and an inline site)
 * also have the same layout in the cache lines and fetch blocks. */
#define BENCH_LOOP __attribute__((aligned(64)))

/*
 * `calls` and `update_inline` are linked with staticcall_inline(), so every
 * static_call() site in them is an inline site: a direct call to the target.
 * Their trampoline rows call the same trampoline through a second name:
 * BENCH_TRAMP_ALIAS(name), in the translation unit that defines the static
 * call, makes bench_tramp_<name> a global symbol at the trampoline, and
 * bench_tramp(name)(args) is `call <trampoline>`, the very instruction
 * static_call(name)(args) compiles to.  Its relocation names
 * bench_tramp_<name>, not a __SCT__ symbol, so the library does not take it
 * as an inline site: it stays what every site of a module linked without
 * staticcall_inline() executes (call, then the trampoline's jmp).  (The
 * macros need <staticcall.h>.)
 */
#define BENCH_TRAMP_ALIAS(name)                                                \
	__asm__(".globl bench_tramp_" #name "\n\t"                             \
		".protected bench_tramp_" #name "\n\t"                         \
		".type bench_tramp_" #name ", @function\n\t"                   \
		".set bench_tramp_" #name ", " STATIC_CALL_TRAMP_STR(name))
#define BENCH_DECLARE_TRAMP_ALIAS(name)                                        \
	extern __typeof__(STATIC_CALL_TRAMP(name)) bench_tramp_##name
#define bench_tramp(name) (bench_tramp_##name)

/* bench_t<i>(x) returns x + i + 1; defined in targets.c. */
long bench_t0(long x);
long bench_t1(long x);
long bench_t2(long x);
long bench_t3(long x);
long bench_t4(long x);
long bench_t5(long x);
long bench_t6(long x);
long bench_t7(long x);
#define BENCH_NTARGETS 8

/* The same function as bench_t0, reached through a GNU ifunc. */
long bench_ifunc(long x);

/* Function pointers the compiler cannot constant-fold (non-static, written
 * nowhere it can see). */
extern long (*bench_fp)(long);
extern long (*bench_fptab[BENCH_NTARGETS])(long);

/* The pseudo-random sequence of target indices (0..7), BENCH_SEQ long. */
#define BENCH_SEQ (1 << 16)
extern unsigned char bench_seq[BENCH_SEQ];
void bench_seq_init(unsigned int ntargets);

/* Flags for the `if (flag)` rows. */
extern int bench_flag0, bench_flag1;

/* The common command line: [--reps R] [--quick] [--csv].  --quick: a few
 * repetitions only, to check that the program runs and reports (bench/run
 * --quick): R then defaults to @quick_reps.  0, or 2 (usage printed). */
static inline int bench_args(int argc, char **argv, const char *prog,
			     long *reps, int *csv, int *quick, long quick_reps)
{
	long r = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
			r = atol(argv[++i]);
		else if (strcmp(argv[i], "--csv") == 0)
			*csv = 1;
		else if (strcmp(argv[i], "--quick") == 0)
			*quick = 1;
		else {
			fprintf(stderr,
				"usage: %s [--reps R] [--quick] [--csv]\n",
				prog);
			return 2;
		}
	}
	if (r > 0)
		*reps = r;
	else if (*quick)
		*reps = quick_reps;
	if (*reps < 1)
		*reps = 1;
	return 0;
}

static inline double bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Median of v[0..n) (sorts v in place); 0 for n == 0. */
double bench_median(double *v, size_t n);
/* Resident set size in KiB, from /proc/self/statm. */
long bench_rss_kib(void);

/* The memory of this process (KiB) from /proc/self/status and friends. */
struct bench_mem {
	long rss, anon, file, shmem; /* VmRSS, RssAnon, RssFile, RssShmem */
	long memfd;	/* blocks of the memfds this process has open */
	long memfd_rss; /* resident pages of its memfd mappings */
	long maps;	/* mappings (VMAs) */
};
void bench_mem_read(struct bench_mem *m);

#endif /* BENCH_H */
