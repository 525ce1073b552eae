/* SPDX-License-Identifier: MIT */
/*
 * Call cost matrix: every way of making a call (and of testing a rarely
 * changing condition) timed side by side in one process.
 *
 *   calls [--reps R] [--iters N] [--csv]
 *
 * Each case is a loop of N iterations in a function of its own (run_<case>),
 * so that callgrind's inclusive count for that function divided by N is the
 * number of instructions per iteration (bench/run runs it twice with
 * different N and takes the difference, which cancels one-off costs such as
 * lazy PLT binding).  The cases run round-robin, R rounds, each round
 * starting at another case; every figure is the median over the rounds, and
 * every ratio is taken within one round, then the median of those ratios.
 *
 * `calls` is linked with staticcall_inline(): static_call() sites are inline
 * sites (direct calls to the target, patched at load); the trampoline rows
 * call the same trampolines through an alias (bench_tramp, bench.h).  main()
 * checks both with static_call_sites() before measuring anything.
 *
 * Groups (the reference of each group is its first row):
 *   call    one call site, always the same target (predictable)
 *   random  eight targets chosen by a fixed pseudo-random sequence, which
 *           defeats the branch predictors (see docs/performance.md for what
 *           the static call rows of this group mean)
 *   branch  a rarely changing condition: static keys against plain flags
 *
 * Nothing is asserted: the program prints what it measured.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <staticcall.h>

#include "bench.h"
#include "calls.h"

#define MASK (BENCH_SEQ - 1)

DEFINE_STATIC_CALL(bsc_p, bench_t0);
DEFINE_STATIC_CALL(bsc_far, bench_t0); /* retargeted to the shared object */
BENCH_TRAMP_ALIAS(bsc_p);
BENCH_DECLARE_TRAMP_ALIAS(bsc_p);
BENCH_TRAMP_ALIAS(bsc_far);
BENCH_DECLARE_TRAMP_ALIAS(bsc_far);
DEFINE_STATIC_KEY_FALSE(bk_unlikely_off);
DEFINE_STATIC_KEY_FALSE(bk_unlikely_on); /* enabled in main() */
DEFINE_STATIC_KEY_TRUE(bk_likely_on);
DEFINE_STATIC_KEY_TRUE(bk_likely_off); /* disabled in main() */

/* One call per iteration; x carries a dependency from call to call. */
#define CALL_LOOP(name, expr)                                                  \
	long run_##name(long n);                                               \
	BENCH_LOOP long run_##name(long n)                                     \
	{                                                                      \
		long x = 0;                                                    \
		for (long i = 0; i < n; i++) {                                 \
			x = (expr);                                            \
			BENCH_BARRIER();                                       \
		}                                                              \
		return x;                                                      \
	}

CALL_LOOP(direct, bench_t0(x))
CALL_LOOP(static_call, bench_tramp(bsc_p)(x))
CALL_LOOP(static_call_inline, static_call(bsc_p)(x))
CALL_LOOP(static_call_far, bench_tramp(bsc_far)(x))
CALL_LOOP(fp, bench_fp(x))
CALL_LOOP(plt, bench_lib_target(x))
CALL_LOOP(ifunc, bench_ifunc(x))
CALL_LOOP(rand_direct, bench_t0(x + bench_seq[i & MASK]))
CALL_LOOP(rand_static_call, bench_tramp(bsc_p)(x + bench_seq[i & MASK]))
CALL_LOOP(rand_static_call_inline, static_call(bsc_p)(x + bench_seq[i & MASK]))
CALL_LOOP(rand_fp, bench_fptab[bench_seq[i & MASK]](x))

/* A branch per iteration; the taken side holds an asm statement so that
 * the compiler cannot turn the branch into a conditional move. */
#define BRANCH_LOOP(name, cond)                                                \
	long run_##name(long n);                                               \
	BENCH_LOOP long run_##name(long n)                                     \
	{                                                                      \
		long x = 0;                                                    \
		for (long i = 0; i < n; i++) {                                 \
			if (cond) {                                            \
				x ^= 5;                                        \
				__asm__ volatile("" : "+r"(x));                \
			}                                                      \
			x++;                                                   \
			BENCH_BARRIER();                                       \
		}                                                              \
		return x;                                                      \
	}

BRANCH_LOOP(loop_empty, 0)
BRANCH_LOOP(key_unlikely_off, static_branch_unlikely(&bk_unlikely_off))
BRANCH_LOOP(key_likely_on, static_branch_likely(&bk_likely_on))
BRANCH_LOOP(key_unlikely_on, static_branch_unlikely(&bk_unlikely_on))
BRANCH_LOOP(key_likely_off, static_branch_likely(&bk_likely_off))
BRANCH_LOOP(flag_off, bench_flag0)
BRANCH_LOOP(flag_expect_off, __builtin_expect(bench_flag0, 0))
BRANCH_LOOP(flag_on, bench_flag1)
BRANCH_LOOP(flag_expect_off_on, __builtin_expect(bench_flag1, 0))

struct bcase {
	const char *name;  /* run_<name> */
	const char *group; /* call, random, branch */
	const char *label;
	long (*run)(long n); /* NULL: not implemented, printed as n/a */
	long expect;	     /* result of run(n) per iteration, for a check */
};

static const struct bcase cases[] = {
	{"direct", "call", "direct call", run_direct, 1},
	{"static_call", "call", "static call (trampoline: call + jmp)",
	 run_static_call, 1},
	{"static_call_inline", "call", "static call, inline site (call target)",
	 run_static_call_inline, 1},
	{"static_call_far", "call",
	 "static call to a shared object (jmp *slot)", run_static_call_far, 1},
	{"fp", "call", "function pointer", run_fp, 1},
	{"fp_retpoline", "call", "function pointer, retpoline",
	 run_fp_retpoline, 1},
	{"plt", "call", "PLT call into a shared object", run_plt, 1},
	{"ifunc", "call", "GNU ifunc (through the PLT)", run_ifunc, 1},
	{"rand_direct", "random", "direct call, same data loads",
	 run_rand_direct, -1},
	{"rand_static_call", "random", "static call, same data loads",
	 run_rand_static_call, -1},
	{"rand_static_call_inline", "random",
	 "static call, inline site, same data loads",
	 run_rand_static_call_inline, -1},
	{"rand_fp", "random", "function pointer array[random]", run_rand_fp,
	 -1},
	{"rand_fp_retpoline", "random",
	 "function pointer array[random], retpoline", run_rand_fp_retpoline,
	 -1},
	{"rand_switch_direct", "random", "switch[random] -> 8 direct calls",
	 run_rand_switch_direct, -1},
	{"rand_switch_static", "random", "switch[random] -> 8 static calls",
	 run_rand_switch_static, -1},
	{"rand_switch_inline", "random",
	 "switch[random] -> 8 static calls, inline sites",
	 run_rand_switch_inline, -1},
	{"loop_empty", "branch", "no branch (loop only)", run_loop_empty, 1},
	{"key_unlikely_off", "branch", "static_branch_unlikely, off (nop)",
	 run_key_unlikely_off, 1},
	{"key_likely_on", "branch", "static_branch_likely, on (nop)",
	 run_key_likely_on, -1},
	{"key_unlikely_on", "branch", "static_branch_unlikely, on (jmp)",
	 run_key_unlikely_on, -1},
	{"key_likely_off", "branch", "static_branch_likely, off (jmp)",
	 run_key_likely_off, 1},
	{"flag_off", "branch", "if (flag), flag 0", run_flag_off, 1},
	{"flag_expect_off", "branch", "if (__builtin_expect(flag, 0)), flag 0",
	 run_flag_expect_off, 1},
	{"flag_on", "branch", "if (flag), flag 1", run_flag_on, -1},
	{"flag_expect_off_on", "branch",
	 "if (__builtin_expect(flag, 0)), flag 1", run_flag_expect_off_on, -1},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static size_t reference(size_t c)
{
	size_t r = c;

	while (r > 0 && strcmp(cases[r - 1].group, cases[c].group) == 0)
		r--;
	return r;
}

/*
 * The inline rows measure what they say only if the library patched their
 * sites: @key must have at least @min sites, every one inline, on @target.
 * (The trampoline rows' calls, through bench_tramp, are not sites at all.)
 */
static int check_sites(const char *name, struct static_call_key *key, int min,
		       void *target)
{
	struct static_call_site s[16];
	int n = __static_call_sites(key, s, 16);

	if (n < min || n > 16) {
		fprintf(stderr,
			"calls: %s has %d inline site(s), %d expected: is "
			"`calls` linked with staticcall_inline(), and "
			"STATICCALL_INLINE not off?\n",
			name, n, min);
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (s[i].state != STATIC_CALL_SITE_INLINE ||
		    s[i].target != target) {
			fprintf(stderr,
				"calls: %s: site %p is in state %d, not "
				"inline on %p\n",
				name, s[i].addr, s[i].state, target);
			return -1;
		}
	return n;
}

static void usage(void)
{
	fprintf(stderr, "usage: calls [--reps R] [--iters N] [--csv]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long reps = 21, iters = 2000000;
	int csv = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
			reps = atol(argv[++i]);
		else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
			iters = atol(argv[++i]);
		else if (strcmp(argv[i], "--csv") == 0)
			csv = 1;
		else
			usage();
	}
	if (reps < 1 || iters < 1)
		usage();

	bench_seq_init(BENCH_NTARGETS);
	if (static_call_update(bsc_far, bench_lib_target) ||
	    static_branch_enable(&bk_unlikely_on) ||
	    static_branch_disable(&bk_likely_off)) {
		fprintf(stderr,
			"calls: setting up the static call/keys failed\n");
		return 1;
	}
	/* bsc_p: run_static_call_inline and run_rand_static_call_inline */
	int nsites = check_sites("bsc_p", &STATIC_CALL_KEY(bsc_p), 2,
				 (void *)bench_t0);
	for (int k = 0; k < 8 && nsites > 0; k++) {
		char name[16];
		snprintf(name, sizeof(name), "bsc_r%d", k);
		if (check_sites(name, bench_switch_keys[k], 1,
				(void *)bench_fptab[k]) < 0)
			nsites = -1;
	}
	if (nsites < 0)
		return 1;
	/* From the key, not &STATIC_CALL_TRAMP(): the library would report
	 * that `lea` of the trampoline as a site it rejects. */
	const unsigned char *far =
		(const unsigned char *)STATIC_CALL_KEY(bsc_far).tramp;

	double *ns = calloc(NCASES * (size_t)reps, sizeof(double));
	double *tmp = calloc((size_t)reps, sizeof(double));
	if (!ns || !tmp)
		return 1;
	for (long r = 0; r < reps; r++) {
		for (size_t k = 0; k < NCASES; k++) {
			size_t c = (k + (size_t)r) % NCASES;
			if (!cases[c].run)
				continue;
			double t0 = bench_now_ns();
			long x = cases[c].run(iters);
			double t1 = bench_now_ns();
			ns[c * reps + r] = (t1 - t0) / (double)iters;
			/* The result is checked only loosely (a wrong target
			 * would add a different constant). */
			if (cases[c].expect > 0 && x != iters &&
			    strcmp(cases[c].group, "random") != 0) {
				fprintf(stderr, "calls: %s returned %ld\n",
					cases[c].name, x);
				return 1;
			}
		}
	}

	if (csv)
		printf("case,group,label,ns_median,ns_min,ns_max,ref,"
		       "ratio_median,delta_ns_median,reps,iters\n");
	else
		printf("%-46s %9s %9s %9s\n", "case", "ns/iter", "x ref",
		       "+ns vs ref");
	const char *group = "";
	for (size_t c = 0; c < NCASES; c++) {
		size_t ref = reference(c);
		if (!csv && strcmp(group, cases[c].group) != 0) {
			group = cases[c].group;
			printf("-- %s (reference: %s)\n", group,
			       cases[ref].label);
		}
		if (!cases[c].run) {
			if (csv)
				printf("%s,%s,\"%s\",,,,%s,,,0,0\n",
				       cases[c].name, cases[c].group,
				       cases[c].label, cases[ref].name);
			else
				printf("%-46s %9s\n", cases[c].label,
				       "n/a (not implemented yet)");
			continue;
		}
		double *v = ns + c * reps, *rv = ns + ref * reps;
		for (long r = 0; r < reps; r++)
			tmp[r] = v[r] / rv[r];
		double ratio = bench_median(tmp, (size_t)reps);
		for (long r = 0; r < reps; r++)
			tmp[r] = v[r] - rv[r];
		double delta = bench_median(tmp, (size_t)reps);
		memcpy(tmp, v, sizeof(double) * (size_t)reps);
		double med = bench_median(tmp, (size_t)reps);
		double lo = tmp[0], hi = tmp[reps - 1];
		if (csv)
			printf("%s,%s,\"%s\",%.4f,%.4f,%.4f,%s,%.4f,%.4f,%ld,%"
			       "ld\n",
			       cases[c].name, cases[c].group, cases[c].label,
			       med, lo, hi, cases[ref].name, ratio, delta, reps,
			       iters);
		else
			printf("%-46s %9.3f %9.2f %+9.3f\n", cases[c].label,
			       med, ratio, delta);
	}
	if (!csv)
		printf("(medians of %ld rounds of %ld iterations; the far "
		       "static "
		       "call trampoline starts with %02x %02x: %s)\n",
		       reps, iters, far[0], far[1],
		       far[0] == 0xff ? "jmp *slot" : "jmp rel32");
	free(ns);
	free(tmp);
	return 0;
}
