/* SPDX-License-Identifier: MIT */
/*
 * libstaticcall demo: worker threads call through a static call as fast as
 * they can while the main thread retargets it, live, thousands of times,
 * and toggles a static key that guards a branch in the same loop.  Every
 * result is checked against the targets (and key states) that were legal
 * while the call ran; the demo exits with status 1 if a single one was
 * wrong.
 *
 *   demo [--seconds S] [--threads N]
 *
 * demo_inline is the same program linked with staticcall_inline(): its call
 * site is rewritten into a direct call to the current target at every
 * update (docs/inline.md), instead of calling through the trampoline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dlfcn.h>

#include <staticcall.h>

/* Four targets; the low 4 bits of a result name the one that produced it. */
#define NTARGETS 4
long op0(long x) { return x * 16 + 0; }
long op1(long x) { return x * 16 + 1; }
long op2(long x) { return x * 16 + 2; }
long op3(long x) { return x * 16 + 3; }
static long (*const targets[NTARGETS])(long) = {op0, op1, op2, op3};

DEFINE_STATIC_CALL(demo_op, op0);
DEFINE_STATIC_KEY_FALSE(demo_key);

/*
 * Generation g means "target g % NTARGETS".  The updater announces g+1 in
 * `pending` before the update and `committed` after it returns, so a call
 * that saw committed == c before it started and pending == p after it ended
 * may legally have reached any generation in [c, p].
 */
static _Atomic unsigned long pending, committed;
/* The key: generation k means "enabled iff k is odd", same scheme. */
static _Atomic unsigned long key_pending, key_committed;
static _Atomic int stop;

struct worker {
	pthread_t tid;
	unsigned long calls, wrong, key_on;
	char pad[64];
};

static void *work(void *arg)
{
	struct worker *w = arg;
	long x = (long)(uintptr_t)arg & 0xffff;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (int i = 0; i < 256; i++, x++) {
			unsigned long c = atomic_load(&committed);
			long r = static_call(demo_op)(x);
			unsigned long p = atomic_load(&pending);
			long k = r - x * 16;
			bool ok =
				k >= 0 && k < NTARGETS &&
				(p - c >= NTARGETS ||
				 ((unsigned long)k - c % NTARGETS) % NTARGETS <=
					 p - c);
			w->wrong += !ok;
		}
		w->calls += 256;
		{
			unsigned long c = atomic_load(&key_committed);
			int on = static_branch_unlikely(&demo_key) ? 1 : 0;
			unsigned long p = atomic_load(&key_pending);
			/* legal: some generation in [c, p] has this state */
			w->wrong += !(p > c || (int)(c & 1) == on);
			w->key_on += (unsigned long)on;
		}
	}
	return NULL;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static unsigned long total(struct worker *w, int n, int wrong)
{
	unsigned long s = 0;
	for (int i = 0; i < n; i++)
		s += wrong ? w[i].wrong : w[i].calls;
	return s;
}

/* How the program's call sites of demo_op look now. */
static void print_sites(const char *when)
{
	struct static_call_site s[8];
	int n = static_call_sites(demo_op, s, 8);
	static const char *const state[] = {"call via trampoline",
					    "direct call",
					    "nop",
					    "ret",
					    "return 0",
					    "changed"};

	if (n <= 0) {
		printf("call sites (%s): none inline (this build calls "
		       "through the trampoline)\n",
		       when);
		return;
	}
	for (int i = 0; i < n && i < 8; i++) {
		Dl_info info;
		const char *name = "?";
		if (s[i].target && dladdr(s[i].target, &info) && info.dli_sname)
			name = info.dli_sname;
		printf("call site %p (%s): %s to %s\n", s[i].addr, when,
		       state[s[i].state < 6 ? s[i].state : 5], name);
	}
}

static unsigned long total_on(struct worker *w, int n)
{
	unsigned long s = 0;
	for (int i = 0; i < n; i++)
		s += w[i].key_on;
	return s;
}

int main(int argc, char **argv)
{
	double seconds = 5;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int nthreads = ncpu > 1 ? (int)ncpu : 2;
	size_t cap = 1u << 20, nlat = 0;
	double *lat;
	struct worker *w;
	struct static_call_stats st;
	double t0, next_report, elapsed;
	unsigned long g = 0;
	int isatty_out = isatty(STDOUT_FILENO);

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			nthreads = atoi(argv[++i]);
		else {
			fprintf(stderr,
				"usage: %s [--seconds S] [--threads N]\n",
				argv[0]);
			return 2;
		}
	}
	if (nthreads < 1 || seconds <= 0) {
		fprintf(stderr, "need --threads >= 1 and --seconds > 0\n");
		return 2;
	}
	lat = calloc(cap, sizeof(*lat));
	w = calloc((size_t)nthreads, sizeof(*w));
	if (!lat || !w)
		return 2;

	printf("libstaticcall demo: %d worker thread(s) call "
	       "static_call(demo_op) "
	       "and test\nstatic_branch_unlikely(&demo_key) while main "
	       "retargets "
	       "the call and toggles the key, for %.0f s\n",
	       nthreads, seconds);
	print_sites("at start");
	for (int i = 0; i < nthreads; i++)
		pthread_create(&w[i].tid, NULL, work, &w[i]);

	t0 = now();
	next_report = t0 + 0.5;
	for (;;) {
		double a, b;
		int err;

		atomic_store(&pending, g + 1);
		a = now();
		err = static_call_update(demo_op, targets[(g + 1) % NTARGETS]);
		b = now();
		if (err) {
			fprintf(stderr, "\nstatic_call_update: %s\n",
				strerror(-err));
			atomic_store(&stop, 1);
			break;
		}
		atomic_store(&committed, ++g);
		if (nlat < cap)
			lat[nlat++] = b - a;
		if (g % 8 == 0) { /* every 8th update also toggles the key */
			unsigned long k = atomic_load(&key_committed) + 1;
			atomic_store(&key_pending, k);
			err = (k & 1) ? static_branch_enable(&demo_key)
				      : static_branch_disable(&demo_key);
			if (err) {
				fprintf(stderr, "\nstatic_branch: %s\n",
					strerror(-err));
				atomic_store(&stop, 1);
				break;
			}
			atomic_store(&key_committed, k);
		}
		if (b >= next_report) {
			static_call_get_stats(&st, sizeof(st));
			elapsed = b - t0;
			printf("%s[%5.1f s] %7.1f M calls/s | %8lu updates | "
			       "%7llu traps | wrong %lu%s",
			       isatty_out ? "\r" : "", elapsed,
			       (double)total(w, nthreads, 0) / elapsed / 1e6, g,
			       st.traps_emulated + st.traps_rewound,
			       total(w, nthreads, 1), isatty_out ? "" : "\n");
			fflush(stdout);
			next_report = b + 0.5;
			if (elapsed >= seconds)
				break;
		}
		/* A short pause between updates keeps the workers on the
		 * CPUs (2-core machines): we measure calls under updates,
		 * not an updater that owns a core. */
		usleep(50);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < nthreads; i++)
		pthread_join(w[i].tid, NULL);
	elapsed = now() - t0;
	static_call_get_stats(&st, sizeof(st));
	qsort(lat, nlat, sizeof(*lat), cmp_double);

	unsigned long calls = total(w, nthreads, 0),
		      wrong = total(w, nthreads, 1);
	printf("\n\n");
	printf("calls            %lu (%.1f M/s over %d threads)\n", calls,
	       (double)calls / elapsed / 1e6, nthreads);
	printf("updates          %lu (%.0f /s)\n", g, (double)g / elapsed);
	printf("key toggles      %lu (the key was seen on in %lu checks)\n",
	       atomic_load(&key_committed), total_on(w, nthreads));
	if (nlat) {
		printf("update latency   median %.1f us, p99 %.1f us, max %.1f "
		       "us\n",
		       lat[nlat / 2] * 1e6,
		       lat[(size_t)((double)nlat * 0.99)] * 1e6,
		       lat[nlat - 1] * 1e6);
	}
	printf("syncs            %llu (%.2f per update or toggle)\n", st.syncs,
	       g ? (double)st.syncs / (double)(g + atomic_load(&key_committed))
		 : 0.0);
	printf("page flips       %llu (%llu pages mapped from new copies; no "
	       "byte that a thread runs was written)\n",
	       st.flips, st.pages_flipped);
	printf("traps taken      %llu emulated, %llu re-run after the patch "
	       "(int3 protocol only)\n",
	       st.traps_emulated, st.traps_rewound);
	printf("code written     in place: %llu bytes (%llu atomic stores "
	       "through a view, %llu /proc/self/mem writes, %llu mprotect "
	       "windows)\n",
	       st.bytes_written, st.writes_view, st.writes_procmem,
	       st.writes_mprotect);
	printf("wrong results    %lu\n", wrong);
	print_sites("at the end");
	free(lat);
	free(w);
	return wrong ? 1 : 0;
}
