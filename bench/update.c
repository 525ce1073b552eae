/* SPDX-License-Identifier: MIT */
/*
 * Update costs, side by side in one process:
 *
 *   A. one static_call_update() with 0, 1 and 2 busy caller threads (they
 *      call the static call in a loop), for each protocol (bench_protos:
 *      auto, flip, store, int3, int3 without its SIGTRAP check; "n/a" where
 *      this library refuses the option value), each update paired with one
 *      raw membarrier(PRIVATE_EXPEDITED_SYNC_CORE) timed just before or
 *      just after it, so that update/sync is a ratio within the same
 *      instant and load (the protocols take turns; two untimed updates
 *      under each, out and back, come before its timed one, so that the
 *      conversion of the page when the protocol changes is not timed,
 *      and the callers run again before the timing starts);
 *      with no caller, also the naive alternative
 *      (mprotect RW, memcpy, mprotect RX: unsafe with concurrent callers, so
 *      timed without any);
 *   S. an update to the target already installed, and a key set to the
 *      state it has (issue 15): blocks of K such calls timed together, ns
 *      per call, against K calls through a function pointer timed in the
 *      same round; syncs and sites patched per call from the statistics;
 *   B. batches of 1 .. 10000 static calls: time per commit, syncs per commit
 *      (from static_call_get_stats()), time per site beyond the syncs;
 *   C. static key toggles, keys with 1 .. 1000 sites (plain sites and sites
 *      built with STATICCALL_KEYS_TRAPFREE), per protocol.
 *
 *   update [--reps R] [--quick] [--csv]
 *   update --callgrind N [call|key|funcall]
 *                            N same-target updates, N same-state key sets and
 *                            N function pointer calls (or only one of the
 *                            three), each in a function of its own
 *                            (run_same_call, run_same_key, run_funcall), for
 *                            callgrind's instruction counts and strace's
 *                            system call counts
 *
 * Every update is checked (the static call then returns the new target's
 * value); nothing about the timings is asserted.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <staticcall.h>

#include "bench_update.h"

DEFINE_STATIC_CALL(upd_op, bench_t0);

/* gen/many_calls.c */
extern const unsigned int bench_many_n;
extern struct static_call_key *const bench_many_keys[];
extern long (*const bench_many_tramps[])(long);
/* gen/key_sites.c and gen/key_sites_trapfree.c: keys with 1/10/100/1000
 * sites; run(x) returns x + (number of sites) when the key is on. */
#define NKEYSIZES 4
static const int key_sizes[NKEYSIZES] = {1, 10, 100, 1000};
extern struct static_key_false *const bk_keys[NKEYSIZES];
extern long (*const bk_runs[NKEYSIZES])(long);
extern struct static_key_false *const bkt_keys[NKEYSIZES];
extern long (*const bkt_runs[NKEYSIZES])(long);

/* The naive alternative's trampoline: alone in its page. */
__asm__(".pushsection .text.bench_naive, \"ax\", @progbits\n\t"
	".balign 4096, 0xcc\n\t"
	".globl bench_naive_tramp\n\t"
	".type bench_naive_tramp, @function\n"
	"bench_naive_tramp:\n\t"
	"{disp32} jmp bench_t0\n\t"
	".byte 0xcc\n\t"
	".balign 4096, 0xcc\n\t"
	".popsection\n");
long bench_naive_tramp(long x);

static int csv, quick;
static long reps = 1001;
static int supported[BENCH_NPROTOS];

#define BUSY_MAX BENCH_BUSY_MAX /* busy caller threads: 0, 1, 2 */

static void die(const char *what, int err) { bench_die("update", what, err); }

static struct static_call_stats stats(void) { return bench_stats("update"); }

static double raw_sync_ns(void) { return bench_raw_sync_ns("update"); }

static void use(size_t p) { bench_proto_use("update", &bench_protos[p]); }

/* ---- busy callers ------------------------------------------------------ */
static atomic_int stop_busy;
static atomic_ulong busy_calls;

static void *busy(void *arg)
{
	uintptr_t t = (uintptr_t)arg;
	long x = 0;
	unsigned long n = 0;

	while (!atomic_load_explicit(&stop_busy, memory_order_relaxed)) {
		for (int i = 0; i < 1024; i++) {
			x = static_call(upd_op)(x);
			BENCH_BARRIER();
		}
		n += 1024;
		bench_busy_tick(t);
	}
	atomic_fetch_add(&busy_calls, n + (unsigned long)(x & 0));
	return NULL;
}

/* ---- A: one update ----------------------------------------------------- */
static int naive_update(long (*target)(long))
{
	unsigned char *tramp = (unsigned char *)(uintptr_t)&bench_naive_tramp;
	void *page = (void *)((uintptr_t)tramp & ~(uintptr_t)4095);
	unsigned char insn[5];
	int32_t rel = (int32_t)((intptr_t)(uintptr_t)target -
				(intptr_t)(uintptr_t)(tramp + 5));

	insn[0] = 0xe9;
	memcpy(insn + 1, &rel, 4);
	if (mprotect(page, 4096, PROT_READ | PROT_WRITE))
		return -errno;
	memcpy(tramp, insn, sizeof(insn));
	if (mprotect(page, 4096, PROT_READ | PROT_EXEC))
		return -errno;
	return 0;
}

#define NAIVE BENCH_NPROTOS /* the column of the naive alternative */

static void phase_update(int nthreads)
{
	pthread_t tid[BUSY_MAX];
	double *upd[NAIVE + 1], *syn[NAIVE + 1], *rat[NAIVE + 1];
	unsigned long long traps[NAIVE] = {0}, syncs[NAIVE] = {0};
	/* the current targets of upd_op and of the naive trampoline (1:
	 * bench_t1), kept across calls: every update changes the target */
	static int cur[2] = {0, 0};
	size_t cols[NAIVE + 1], ncols = 0;

	for (size_t p = 0; p < NAIVE; p++)
		if (supported[p])
			cols[ncols++] = p;
	/* the naive alternative runs only without concurrent callers */
	if (nthreads == 0)
		cols[ncols++] = NAIVE;
	atomic_store(&stop_busy, 0);
	for (int t = 0; t < nthreads; t++)
		if (pthread_create(&tid[t], NULL, busy, (void *)(uintptr_t)t))
			die("pthread_create", errno);
	usleep(20000);
	for (size_t p = 0; p <= NAIVE; p++) {
		upd[p] = calloc((size_t)reps, sizeof(double));
		syn[p] = calloc((size_t)reps, sizeof(double));
		rat[p] = calloc((size_t)reps, sizeof(double));
		if (!upd[p] || !syn[p] || !rat[p])
			die("calloc", ENOMEM);
	}
	for (long r = 0; r < reps; r++) {
		for (size_t k = 0; k < ncols; k++) {
			size_t p = cols[(k + (size_t)r) % ncols];
			/* every update changes the target */
			int *c = &cur[p < NAIVE ? 0 : 1];
			long (*target)(long) = *c ? bench_t0 : bench_t1;
			long want = *c ? 1 : 2;
			double s1 = 0, s2 = 0, t0, t1;
			int err;

			*c = !*c;
			if (p < NAIVE && static_call_query(upd_op) == target)
				die("not a change of target", EINVAL);
			if (p < NAIVE) {
				use(p);
				/* out and back, untimed: the protocols take
				 * turns, and the first update after a switch
				 * converts the page (a flip region to a store
				 * view and back), a one-off cost that a
				 * program which keeps its protocol never
				 * pays */
				if (static_call_update(upd_op, target) ||
				    static_call_update(upd_op,
						       target == bench_t0
							       ? bench_t1
							       : bench_t0))
					die("untimed update", EIO);
			}
			bench_settle(nthreads);
			struct static_call_stats a = stats();
			if (r & 1)
				s1 = raw_sync_ns();
			t0 = bench_now_ns();
			if (p < NAIVE)
				err = static_call_update(upd_op, target);
			else
				err = naive_update(target);
			t1 = bench_now_ns();
			if (!(r & 1)) {
				bench_settle(nthreads);
				s2 = raw_sync_ns();
			}
			struct static_call_stats b = stats();
			if (err)
				die(p < NAIVE ? "static_call_update"
					      : "naive update",
				    err);
			long got = p < NAIVE ? static_call(upd_op)(0)
					     : bench_naive_tramp(0);
			if (got != want) {
				fprintf(stderr, "update: wrong result %ld\n",
					got);
				exit(1);
			}
			upd[p][r] = t1 - t0;
			syn[p][r] = s1 + s2;
			rat[p][r] = upd[p][r] / syn[p][r];
			if (p < NAIVE) {
				traps[p] += bench_traps(&a, &b);
				syncs[p] += b.syncs - a.syncs;
			}
		}
	}
	atomic_store(&stop_busy, 1);
	for (int t = 0; t < nthreads; t++)
		pthread_join(tid[t], NULL);

	for (size_t p = 0; p <= NAIVE; p++) {
		const char *name =
			p < NAIVE ? bench_protos[p].name : "naive_mprotect";
		if (p == NAIVE && nthreads)
			continue;
		if (p < NAIVE && !supported[p]) {
			if (csv)
				printf("update,%s,%d,%s,,,,,,0\n", name,
				       nthreads, BENCH_NA);
			else
				printf("%-16s %3d %12s\n", name, nthreads,
				       BENCH_NA);
			continue;
		}
		double u = bench_median(upd[p], (size_t)reps) / 1e3;
		double s = bench_median(syn[p], (size_t)reps) / 1e3;
		double q = bench_median(rat[p], (size_t)reps);
		double tr = p < NAIVE ? (double)traps[p] / (double)reps : 0;
		double sy = p < NAIVE ? (double)syncs[p] / (double)reps : 0;
		if (csv)
			printf("update,%s,%d,ok,%.3f,%.3f,%.3f,%.3f,%.3f,%ld\n",
			       name, nthreads, u, s, q, sy, tr, reps);
		else
			printf("%-16s %3d %12.2f %12.2f %9.2f %7.2f %9.3f\n",
			       name, nthreads, u, s, q, sy, tr);
	}
	for (size_t p = 0; p <= NAIVE; p++) {
		free(upd[p]);
		free(syn[p]);
		free(rat[p]);
	}
}

/* ---- S: the target already installed, the state a key has (issue 15) ---- */
#define SAME_K 100     /* calls per timed block */
#define FUNCALL_K 1000 /* the reference: calls through a pointer */

/* Each in a function of its own: callgrind's inclusive count of it, for two
 * values of n, gives the instructions per call (update --callgrind N). */
long run_same_call(long n);
__attribute__((noinline)) BENCH_LOOP long run_same_call(long n)
{
	long err = 0;

	for (long i = 0; i < n; i++) {
		err |= static_call_update(upd_op, bench_t0);
		BENCH_BARRIER();
	}
	return err;
}

long run_same_key(long n);
__attribute__((noinline)) BENCH_LOOP long run_same_key(long n)
{
	long err = 0;

	for (long i = 0; i < n; i++) {
		err |= static_branch_enable(bk_keys[0]);
		BENCH_BARRIER();
	}
	return err;
}

long run_funcall(long n);
__attribute__((noinline)) BENCH_LOOP long run_funcall(long n)
{
	long x = 0;

	for (long i = 0; i < n; i++) {
		x = bench_fp(x);
		BENCH_BARRIER();
	}
	return x;
}

static void same_setup(void)
{
	int err = static_call_update(upd_op, bench_t0);

	if (!err)
		err = static_branch_enable(bk_keys[0]);
	if (err)
		die("same: set-up", err);
}

static void same_check(void)
{
	if (static_call(upd_op)(0) != 1 || bk_runs[0](0) != 1)
		die("same: wrong result", EIO);
}

static void phase_same(void)
{
	long nr = quick ? 3 : 21;
	double *t[BENCH_NPROTOS][2], *fc = calloc((size_t)nr, sizeof(double));
	double *sy = calloc((size_t)nr, sizeof(double));
	unsigned long long syncs[BENCH_NPROTOS][2] = {{0}},
			   patched[BENCH_NPROTOS][2] = {{0}};
	static const char *const what[2] = {"call", "key"};

	if (!fc || !sy)
		die("calloc", ENOMEM);
	for (size_t p = 0; p < BENCH_NPROTOS; p++)
		for (int w = 0; w < 2; w++)
			if (!(t[p][w] = calloc((size_t)nr, sizeof(double))))
				die("calloc", ENOMEM);
	same_setup();
	for (long r = 0; r < nr; r++) {
		double t0 = bench_now_ns();
		long x = run_funcall(FUNCALL_K);
		fc[r] = (bench_now_ns() - t0) / FUNCALL_K;
		if (x != FUNCALL_K)
			die("same: function call", EIO);
		sy[r] = raw_sync_ns();
		for (size_t k = 0; k < BENCH_NPROTOS; k++) {
			size_t p = (k + (size_t)r) % BENCH_NPROTOS;
			if (!supported[p])
				continue;
			use(p);
			for (int w = 0; w < 2; w++) {
				struct static_call_stats a = stats();
				t0 = bench_now_ns();
				long err = w ? run_same_key(SAME_K)
					     : run_same_call(SAME_K);
				double t1 = bench_now_ns();
				struct static_call_stats b = stats();
				if (err)
					die(w ? "same: static_branch_enable"
					      : "same: static_call_update",
					    (int)err);
				same_check();
				t[p][w][r] = (t1 - t0) / SAME_K;
				syncs[p][w] += b.syncs - a.syncs;
				patched[p][w] +=
					b.sites_patched - a.sites_patched;
			}
		}
	}
	if (static_branch_disable(bk_keys[0]))
		die("same: static_branch_disable", EIO);
	double f = bench_median(fc, (size_t)nr);
	double s = bench_median(sy, (size_t)nr) / 1e3;
	for (size_t p = 0; p < BENCH_NPROTOS; p++) {
		for (int w = 0; w < 2; w++) {
			const char *name = bench_protos[p].name;
			if (!supported[p]) {
				if (csv)
					printf("same,%s,%s,%s,,,,,,,0,0\n",
					       name, what[w], BENCH_NA);
				else
					printf("%-14s %-5s %12s\n", name,
					       what[w], BENCH_NA);
				continue;
			}
			double m = bench_median(t[p][w], (size_t)nr);
			double n = (double)(nr * SAME_K);
			if (csv)
				printf("same,%s,%s,ok,%.1f,%.2f,%.2f,%.3f,%.3f,"
				       "%.3f,%ld,%d\n",
				       name, what[w], m, f, m / f, s,
				       (double)syncs[p][w] / n,
				       (double)patched[p][w] / n, nr, SAME_K);
			else
				printf("%-14s %-5s %12.1f %10.2f %10.1f %9.2f "
				       "%8.3f %8.3f\n",
				       name, what[w], m, f, m / f, s,
				       (double)syncs[p][w] / n,
				       (double)patched[p][w] / n);
			free(t[p][w]);
		}
	}
	free(fc);
	free(sy);
}

/* update --callgrind N [call|key|funcall]: the loops of phase S alone, all
 * three or one (for a count of system calls per call: strace -c). */
static int callgrind_mode(long n, const char *which)
{
	int all = !which;

	same_setup();
	if ((all || !strcmp(which, "call")) && run_same_call(n))
		die("--callgrind: static_call_update", EIO);
	if ((all || !strcmp(which, "key")) && run_same_key(n))
		die("--callgrind: static_branch_enable", EIO);
	if ((all || !strcmp(which, "funcall")) && run_funcall(n) != n)
		die("--callgrind: function call", EIO);
	same_check();
	printf("%s: %ld calls\n", all ? "call, key, funcall" : which, n);
	return 0;
}

/* ---- B: batches -------------------------------------------------------- */
static unsigned char *many_state; /* 1: the static call is on bench_t1 */
static unsigned int *order;	  /* which static calls a batch takes */

static int by_key_address(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)bench_many_keys[*(const unsigned int *)a];
	uintptr_t y = (uintptr_t)bench_many_keys[*(const unsigned int *)b];

	return (x > y) - (x < y);
}

static double commit_many(unsigned int n, struct static_call_batch *b,
			  unsigned long long *syncs, unsigned long long *sites)
{
	struct static_call_stats a, z;
	double t0, t1;
	int err = 0;

	for (unsigned int i = 0; i < n && !err; i++)
		err = __static_call_batch_add(
			b, bench_many_keys[order[i]],
			(void *)(many_state[order[i]] ? bench_t0 : bench_t1));
	if (err)
		die("static_call_batch_add", err);
	a = stats();
	t0 = bench_now_ns();
	err = static_call_batch_commit(b);
	t1 = bench_now_ns();
	z = stats();
	if (err)
		die("static_call_batch_commit", err);
	for (unsigned int k = 0; k < n; k++) {
		unsigned int i = order[k];
		many_state[i] = !many_state[i];
		if (bench_many_tramps[i](0) != 1 + many_state[i]) {
			fprintf(stderr, "update: batch: wrong result\n");
			exit(1);
		}
	}
	*syncs = z.syncs - a.syncs;
	*sites = z.sites_patched - a.sites_patched;
	return t1 - t0;
}

static void phase_batch(void)
{
	static const unsigned int sizes[] = {1, 10, 100, 1000, 10000};
	unsigned int nmax = bench_many_n;
	struct static_call_batch_entry *ents = calloc(nmax, sizeof(*ents));
	struct static_call_batch b;
	unsigned long long sy, si;

	many_state = calloc(nmax, 1);
	order = calloc(nmax, sizeof(*order));
	if (!ents || !many_state || !order)
		die("calloc", ENOMEM);
	for (unsigned int i = 0; i < nmax; i++)
		order[i] = i;
	if (static_call_batch_init(&b, ents, nmax))
		die("static_call_batch_init", EINVAL);
	/* First update of every static call: first-use checks of each
	 * trampoline and the writable views of their pages. */
	use(0);
	double first = commit_many(nmax, &b, &sy, &si);
	if (csv)
		printf("batch_first,%s,%u,%.3f,%llu,%llu,,,1\n",
		       bench_protos[0].name, nmax, first / 1e3, sy, si);
	else
		printf("first update of %u static calls (first-use checks, "
		       "views): %.2f ms, %llu sync(s)\n\n",
		       nmax, first / 1e6, sy);
	if (!csv)
		printf("%-16s %6s %12s %8s %8s %10s %14s\n", "protocol",
		       "sites", "batch us", "syncs", "", "sync us",
		       "ns/site beyond");
	/* Pass NPROTOS: the default protocol again, the static calls added
	 * in ascending key address order (the others add them in definition
	 * order, which the compiler lays out in descending address order). */
	for (size_t p = 0; p <= BENCH_NPROTOS; p++) {
		const char *pname = p < BENCH_NPROTOS ? bench_protos[p].name
						      : "auto_addr_order";
		size_t q = p < BENCH_NPROTOS ? p : 0;
		if (!supported[q]) {
			for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]);
			     k++)
				if (csv)
					printf("batch,%s,%u,,,,,,0\n", pname,
					       sizes[k]);
				else
					printf("%-16s %6u %12s\n", pname,
					       sizes[k], BENCH_NA);
			continue;
		}
		use(q);
		if (p == BENCH_NPROTOS)
			qsort(order, nmax, sizeof(*order), by_key_address);
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			unsigned int n = sizes[k] < nmax ? sizes[k] : nmax;
			long nr = n >= 10000 ? 5 : n >= 1000 ? 15 : 41;
			if (quick)
				nr = 2;
			double *tb = calloc((size_t)nr, sizeof(double));
			double *ts = calloc((size_t)nr, sizeof(double));
			unsigned long long smin = ~0ull, smax = 0;
			if (!tb || !ts)
				die("calloc", ENOMEM);
			for (long r = 0; r < nr; r++) {
				ts[r] = raw_sync_ns();
				tb[r] = commit_many(n, &b, &sy, &si);
				smin = sy < smin ? sy : smin;
				smax = sy > smax ? sy : smax;
				if (si < n) {
					fprintf(stderr,
						"update: %llu sites patched, "
						"%u expected\n",
						si, n);
					exit(1);
				}
			}
			double mb = bench_median(tb, (size_t)nr);
			double ms = bench_median(ts, (size_t)nr);
			double beyond = (mb - (double)smax * ms) / n;
			if (csv)
				printf("batch,%s,%u,%.3f,%llu,%llu,%.3f,%.1f,%"
				       "ld\n",
				       pname, n, mb / 1e3, smin, smax, ms / 1e3,
				       beyond, nr);
			else
				printf("%-16s %6u %12.2f %4llu-%-3llu %8s "
				       "%10.2f "
				       "%14.1f\n",
				       pname, n, mb / 1e3, smin, smax, "",
				       ms / 1e3, beyond);
			free(tb);
			free(ts);
		}
	}
	free(ents);
	free(many_state);
	free(order);
}

/* ---- C: static key toggles --------------------------------------------- */
static void phase_keys(void)
{
	static const char *const sites[2] = {"plain", "trapfree"};
	long nmax = quick ? 2 : 41;
	double *t = calloc((size_t)nmax * 2, sizeof(double));

	if (!t)
		die("calloc", ENOMEM);
	if (!csv)
		printf("%-14s %-9s %6s %12s %8s %8s\n", "protocol", "sites",
		       "n", "toggle us", "syncs", "traps");
	for (size_t p = 0; p < BENCH_NPROTOS; p++) {
		for (int tf = 0; tf < 2; tf++) {
			for (int k = 0; k < NKEYSIZES; k++) {
				const char *name = bench_protos[p].name;
				if (!supported[p]) {
					if (csv)
						printf("keys,%s,%s,%d,%s,,,,"
						       "0\n",
						       name, sites[tf],
						       key_sizes[k], BENCH_NA);
					else
						printf("%-14s %-9s %6d %12s\n",
						       name, sites[tf],
						       key_sizes[k], BENCH_NA);
					continue;
				}
				use(p);
				struct static_key_false *key =
					tf ? bkt_keys[k] : bk_keys[k];
				long (*run)(long) =
					tf ? bkt_runs[k] : bk_runs[k];
				long nr = key_sizes[k] >= 1000 && !quick ? 15
									 : nmax;
				struct static_call_stats a = stats();
				for (long r = 0; r < nr; r++) {
					double t0 = bench_now_ns();
					int err = static_branch_enable(key);
					double t1 = bench_now_ns();
					if (err)
						die("static_branch_enable",
						    err);
					if (run(0) != key_sizes[k])
						die("key on: wrong result",
						    EIO);
					double t2 = bench_now_ns();
					err = static_branch_disable(key);
					double t3 = bench_now_ns();
					if (err)
						die("static_branch_disable",
						    err);
					if (run(0) != 0)
						die("key off: wrong result",
						    EIO);
					t[2 * r] = t1 - t0;
					t[2 * r + 1] = t3 - t2;
				}
				struct static_call_stats z = stats();
				double m = bench_median(t, (size_t)nr * 2);
				double sy = (double)(z.syncs - a.syncs) /
					    (double)(2 * nr);
				double tr = (double)bench_traps(&a, &z) /
					    (double)(2 * nr);
				if (csv)
					printf("keys,%s,%s,%d,ok,%.3f,%.2f,%."
					       "2f,%ld\n",
					       name, sites[tf], key_sizes[k],
					       m / 1e3, sy, tr, 2 * nr);
				else
					printf("%-14s %-9s %6d %12.2f %8.2f "
					       "%8.2f\n",
					       name, sites[tf], key_sizes[k],
					       m / 1e3, sy, tr);
			}
		}
	}
	free(t);
}

int main(int argc, char **argv)
{
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "--callgrind") == 0)
		return callgrind_mode(atol(argv[2]),
				      argc == 4 ? argv[3] : NULL);
	if (bench_args(argc, argv, "update", &reps, &csv, &quick, 5))
		return 2;
	bench_register_membarrier("update");
	for (size_t p = 0; p < BENCH_NPROTOS; p++)
		supported[p] = bench_proto_supported(&bench_protos[p]);

	if (csv)
		printf("kind,protocol,threads,status,update_us,sync_us,ratio,"
		       "syncs_per_update,traps_per_update,reps\n");
	else
		printf("%-16s %3s %12s %12s %9s %7s %9s\n", "protocol", "thr",
		       "update us", "raw sync us", "upd/sync", "syncs",
		       "traps/upd");
	for (int t = 0; t <= BUSY_MAX; t++)
		phase_update(t);
	if (csv)
		printf("kind,protocol,what,status,ns_per_call,funcall_ns,"
		       "x_funcall,sync_us,syncs_per_call,patched_per_call,reps,"
		       "calls_per_rep\n");
	else
		printf("\n%-14s %-5s %12s %10s %10s %9s %8s %8s\n", "protocol",
		       "same", "ns/call", "funcall ns", "x funcall", "sync us",
		       "syncs", "patched");
	phase_same();
	if (csv)
		printf("kind,protocol,sites,batch_us,syncs_min,syncs_max,"
		       "sync_us,ns_per_site_beyond_syncs,reps\n");
	else
		printf("\n");
	phase_batch();
	if (csv)
		printf("kind,protocol,sites,n,status,toggle_us,"
		       "syncs_per_toggle,traps_per_toggle,reps\n");
	else
		printf("\n");
	phase_keys();
	return 0;
}
