/* SPDX-License-Identifier: MIT */
/*
 * Update cost with inline call sites: one static_call_update() of a static
 * call that has 0, 1, 10, 100 or 1000 inline sites (bsi_<n>, generated into
 * gen/inline_sites.c; this program is linked with staticcall_inline()),
 * while 0 or 1 busy caller threads run those sites, each update interleaved
 * with one raw membarrier(PRIVATE_EXPEDITED_SYNC_CORE) so that update/sync
 * is a ratio within the same instant (as in update.c).
 *
 * An update rewrites the trampoline and every site, all in one batch.
 * Rows per protocol (bench_protos: auto, flip, store, int3, int3 without
 * its SIGTRAP check; "n/a" where this library refuses the option value).
 * (bench/update_sites measures 1000 sites laid out densely, one per page,
 * and one every 8 pages.)
 *
 *   update_inline [--reps R] [--quick] [--csv]
 *
 * Before measuring, every site is checked to be inline on the current
 * target (static_call_sites()); every update is checked (the sites' function
 * returns n times the new target's increment).  Nothing about the timings
 * is asserted.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <staticcall.h>

#include "bench_update.h"

/* gen/inline_sites.c */
#define NSIZES 5
extern const int bench_isite_sizes[NSIZES];
extern struct static_call_key *const bench_isite_keys[NSIZES];
extern long (*const bench_isite_runs[NSIZES])(long);

static int csv, quick;
static long reps = 101;
static int supported[BENCH_NPROTOS];

static void die(const char *what, int err)
{
	bench_die("update_inline", what, err);
}

static struct static_call_stats stats(void)
{
	return bench_stats("update_inline");
}

static double raw_sync_ns(void) { return bench_raw_sync_ns("update_inline"); }

/* Every site of bsi_<n> inline on @target (bsi_0: none). */
static void check_sites(int k, void *target)
{
	int n = bench_isite_sizes[k];
	struct static_call_site *s = calloc((size_t)n + 1, sizeof(*s));
	int got = s ? __static_call_sites(bench_isite_keys[k], s, (size_t)n)
		    : -ENOMEM;

	if (got != n) {
		fprintf(stderr,
			"update_inline: bsi_%d has %d inline sites, %d "
			"expected (linked with staticcall_inline()? "
			"STATICCALL_INLINE=off?)\n",
			n, got, n);
		exit(1);
	}
	for (int i = 0; i < n; i++)
		if (s[i].state != STATIC_CALL_SITE_INLINE ||
		    s[i].target != target) {
			fprintf(stderr,
				"update_inline: bsi_%d: site %p in state %d, "
				"not inline on %p\n",
				n, s[i].addr, s[i].state, target);
			exit(1);
		}
	free(s);
}

/* ---- busy callers ------------------------------------------------------ */
static atomic_int stop_busy;
static long (*busy_run)(long);

static void *busy(void *arg)
{
	uintptr_t t = (uintptr_t)arg;
	long x = 0;

	while (!atomic_load_explicit(&stop_busy, memory_order_relaxed)) {
		x = busy_run(x);
		BENCH_BARRIER();
		bench_busy_tick(t);
	}
	return (void *)(x & 0);
}

static void measure(size_t p, int k, int nthreads)
{
	const struct bench_proto *v = &bench_protos[p];
	int n = bench_isite_sizes[k];
	long nr = n >= 1000 ? (reps + 4) / 5 : reps;

	if (!supported[p]) {
		if (csv)
			printf("update_inline,%s,%d,%d,%s,,,,,,,,0\n", v->name,
			       n, nthreads, BENCH_NA);
		else
			printf("%-12s %5d %3d %11s\n", v->name, n, nthreads,
			       BENCH_NA);
		return;
	}
	struct static_call_key *key = bench_isite_keys[k];
	long (*run)(long) = bench_isite_runs[k];
	struct bench_row w;
	pthread_t tid[8];
	int err;

	bench_row_init(&w, nr, "update_inline");
	bench_proto_use("update_inline", v);
	busy_run = run;
	atomic_store(&stop_busy, 0);
	for (int t = 0; t < nthreads; t++)
		if (pthread_create(&tid[t], NULL, busy, (void *)(uintptr_t)t))
			die("pthread_create", errno);
	usleep(20000);
	for (long r = 0; r < nr; r++) {
		/* every update changes the target */
		int to1 = key->func == (void *)bench_t0;
		void *target = to1 ? (void *)bench_t1 : (void *)bench_t0;
		long want = (n ? n : 1) * (to1 ? 2 : 1);
		double s1 = 0, s2 = 0, t0, t1;
		struct static_call_stats a = stats();

		bench_settle(nthreads);
		if (r & 1)
			s1 = raw_sync_ns();
		t0 = bench_now_ns();
		err = __static_call_update(key, target);
		t1 = bench_now_ns();
		if (!(r & 1)) {
			bench_settle(nthreads);
			s2 = raw_sync_ns();
		}
		struct static_call_stats b = stats();
		if (err)
			die("static_call_update", err);
		if (run(0) != want) {
			fprintf(stderr,
				"update_inline: bsi_%d: wrong result %ld, "
				"%ld expected\n",
				n, run(0), want);
			exit(1);
		}
		bench_row_add(&w, r, t1 - t0, s1 + s2, &a, &b);
	}
	atomic_store(&stop_busy, 1);
	for (int t = 0; t < nthreads; t++)
		pthread_join(tid[t], NULL);
	check_sites(k, key->func);

	double u = bench_median(w.upd, (size_t)nr) / 1e3;
	double s = bench_median(w.syn, (size_t)nr) / 1e3;
	double q = bench_median(w.rat, (size_t)nr);
	if (csv)
		printf("update_inline,%s,%d,%d,ok,%.3f,%.3f,%.3f,%llu,%llu,%."
		       "3f,%"
		       ".2f,%ld\n",
		       v->name, n, nthreads, u, s, q, w.smin, w.smax,
		       (double)w.traps / (double)nr,
		       (double)w.patched / (double)nr, nr);
	else
		printf("%-12s %5d %3d %11.2f %11.2f %8.2f %4llu-%-4llu %9.2f "
		       "%9.1f\n",
		       v->name, n, nthreads, u, s, q, w.smin, w.smax,
		       (double)w.traps / (double)nr,
		       (double)w.patched / (double)nr);
	bench_row_free(&w);
}

int main(int argc, char **argv)
{
	if (bench_args(argc, argv, "update_inline", &reps, &csv, &quick, 5))
		return 2;
	bench_register_membarrier("update_inline");
	for (size_t p = 0; p < BENCH_NPROTOS; p++)
		supported[p] = bench_proto_supported(&bench_protos[p]);
	for (int k = 0; k < NSIZES; k++)
		check_sites(k, (void *)bench_t0);

	if (csv)
		printf("kind,protocol,sites,threads,status,update_us,sync_us,"
		       "ratio,"
		       "syncs_min,syncs_max,traps_per_update,"
		       "sites_patched_per_update,reps\n");
	else
		printf("%-12s %5s %3s %11s %11s %8s %9s %9s %9s\n", "protocol",
		       "sites", "thr", "update us", "raw sync us", "upd/sync",
		       "syncs", "traps/upd", "patched");
	for (size_t p = 0; p < BENCH_NPROTOS; p++)
		for (int t = 0; t <= 1; t++)
			for (int k = 0; k < NSIZES; k++)
				measure(p, k, t);
	return 0;
}
