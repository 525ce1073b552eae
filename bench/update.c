/* SPDX-License-Identifier: MIT */
/*
 * Update costs, side by side in one process:
 *
 *   A. one static_call_update() with 0, 1 .. nproc busy caller threads, for
 *      each protocol (trap-free; int3 with its SIGTRAP check; plain int3),
 *      each interleaved with one raw membarrier(PRIVATE_EXPEDITED_SYNC_CORE)
 *      so that update/sync is a ratio within the same instant; with no
 *      caller, also the naive alternative (mprotect RW, memcpy, mprotect
 *      RX: unsafe with concurrent callers, so it is timed without any);
 *   B. batches of 1 .. 10000 static calls: time per commit, syncs per commit
 *      (from static_call_get_stats()), time per site beyond the syncs;
 *   C. static key toggles, keys with 1 .. 1000 sites.
 *
 *   update [--reps R] [--csv]
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

static int csv;
static long reps = 300;

struct proto {
	const char *name, *protocol, *check;
};
static const struct proto protos[] = {
	{"trapfree", "auto", "on"},
	{"int3", "int3", "on"},
	{"int3_plain", "int3", "off"},
};
#define NPROTOS (sizeof(protos) / sizeof(protos[0]))

static void die(const char *what, int err) { bench_die("update", what, err); }

static void set_proto(const struct proto *p)
{
	int err = static_call_set_option("protocol", p->protocol);

	if (!err)
		err = static_call_set_option("sigtrap_check", p->check);
	if (err)
		die("static_call_set_option", err);
}

static struct static_call_stats stats(void) { return bench_stats("update"); }

static double raw_sync_ns(void) { return bench_raw_sync_ns("update"); }

/* ---- busy callers ------------------------------------------------------ */
static atomic_int stop_busy;
static atomic_ulong busy_calls;

static void *busy(void *arg)
{
	long x = 0;
	unsigned long n = 0;

	(void)arg;
	while (!atomic_load_explicit(&stop_busy, memory_order_relaxed)) {
		for (int i = 0; i < 1024; i++) {
			x = static_call(upd_op)(x);
			BENCH_BARRIER();
		}
		n += 1024;
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

static void phase_update(int nthreads)
{
	pthread_t tid[64];
	double *upd[NPROTOS + 1], *syn[NPROTOS + 1], *rat[NPROTOS + 1];
	unsigned long long traps[NPROTOS] = {0}, syncs[NPROTOS] = {0};
	int cur[2] = {0, 0}; /* current target of upd_op, of the naive one */

	atomic_store(&stop_busy, 0);
	for (int t = 0; t < nthreads; t++)
		if (pthread_create(&tid[t], NULL, busy, NULL))
			die("pthread_create", errno);
	usleep(20000);
	for (size_t p = 0; p <= NPROTOS; p++) {
		upd[p] = calloc((size_t)reps, sizeof(double));
		syn[p] = calloc((size_t)reps, sizeof(double));
		rat[p] = calloc((size_t)reps, sizeof(double));
		if (!upd[p] || !syn[p] || !rat[p])
			die("calloc", ENOMEM);
	}
	/* the naive alternative runs only without concurrent callers */
	size_t nprot = nthreads == 0 ? NPROTOS + 1 : NPROTOS;
	for (long r = 0; r < reps; r++) {
		for (size_t k = 0; k < nprot; k++) {
			size_t p = (k + (size_t)r) % nprot;
			/* every update changes the target */
			int *c = &cur[p < NPROTOS ? 0 : 1];
			long (*target)(long) = *c ? bench_t0 : bench_t1;
			long want = *c ? 1 : 2;
			double s1 = 0, s2 = 0, t0, t1;
			int err;

			*c = !*c;
			if (p < NPROTOS)
				set_proto(&protos[p]);
			struct static_call_stats a = stats();
			if (r & 1)
				s1 = raw_sync_ns();
			t0 = bench_now_ns();
			if (p < NPROTOS)
				err = static_call_update(upd_op, target);
			else
				err = naive_update(target);
			t1 = bench_now_ns();
			if (!(r & 1))
				s2 = raw_sync_ns();
			struct static_call_stats b = stats();
			if (err)
				die(p < NPROTOS ? "static_call_update"
						: "naive update",
				    err);
			long got = p < NPROTOS ? static_call(upd_op)(0)
					       : bench_naive_tramp(0);
			if (got != want) {
				fprintf(stderr, "update: wrong result %ld\n",
					got);
				exit(1);
			}
			upd[p][r] = t1 - t0;
			syn[p][r] = s1 + s2;
			rat[p][r] = upd[p][r] / syn[p][r];
			if (p < NPROTOS) {
				traps[p] += b.traps_emulated - a.traps_emulated;
				syncs[p] += b.syncs - a.syncs;
			}
		}
	}
	atomic_store(&stop_busy, 1);
	for (int t = 0; t < nthreads; t++)
		pthread_join(tid[t], NULL);

	for (size_t p = 0; p < nprot; p++) {
		const char *name =
			p < NPROTOS ? protos[p].name : "naive_mprotect";
		double u = bench_median(upd[p], (size_t)reps) / 1e3;
		double s = bench_median(syn[p], (size_t)reps) / 1e3;
		double q = bench_median(rat[p], (size_t)reps);
		double tr = p < NPROTOS ? (double)traps[p] / (double)reps : 0;
		double sy = p < NPROTOS ? (double)syncs[p] / (double)reps : 0;
		if (csv)
			printf("update,%s,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%ld\n",
			       name, nthreads, u, s, q, sy, tr, reps);
		else
			printf("%-16s %3d %12.2f %12.2f %9.2f %7.2f %9.3f\n",
			       name, nthreads, u, s, q, sy, tr);
	}
	for (size_t p = 0; p <= NPROTOS; p++) {
		free(upd[p]);
		free(syn[p]);
		free(rat[p]);
	}
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
	set_proto(&protos[0]);
	double first = commit_many(nmax, &b, &sy, &si);
	if (csv)
		printf("batch_first,trapfree,%u,%.3f,%llu,%llu\n", nmax,
		       first / 1e3, sy, si);
	else
		printf("first update of %u static calls (first-use checks, "
		       "views): %.2f ms, %llu sync(s)\n\n",
		       nmax, first / 1e6, sy);
	if (!csv)
		printf("%-12s %6s %12s %8s %8s %10s %14s\n", "protocol",
		       "sites", "batch us", "syncs", "", "sync us",
		       "ns/site beyond");
	/* Pass NPROTOS: trap-free again, the static calls added in ascending
	 * key address order (the others add them in definition order, which
	 * the compiler lays out in descending address order). */
	for (size_t p = 0; p <= NPROTOS; p++) {
		const char *pname =
			p < NPROTOS ? protos[p].name : "trapfree_addr_order";
		set_proto(&protos[p < NPROTOS ? p : 0]);
		if (p == NPROTOS)
			qsort(order, nmax, sizeof(*order), by_key_address);
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			unsigned int n = sizes[k] < nmax ? sizes[k] : nmax;
			long nr = n >= 10000 ? 5 : n >= 1000 ? 15 : 41;
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
				if (si != n) {
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
				printf("%-12s %6u %12.2f %4llu-%-3llu %8s "
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
	static const struct {
		const char *name, *check;
		int trapfree;
	} variants[] = {
		{"int3", "on", 0},
		{"int3_plain", "off", 0},
		{"trapfree_sites", "on", 1},
	};
	long nr = 41;
	double *t = calloc((size_t)nr * 2, sizeof(double));

	if (!t)
		die("calloc", ENOMEM);
	if (!csv)
		printf("%-16s %6s %12s %8s\n", "key sites", "sites",
		       "toggle us", "syncs");
	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
		int err = static_call_set_option("protocol", "auto");
		if (!err)
			err = static_call_set_option("sigtrap_check",
						     variants[v].check);
		if (err)
			die("static_call_set_option", err);
		for (int k = 0; k < NKEYSIZES; k++) {
			struct static_key_false *key =
				variants[v].trapfree ? bkt_keys[k] : bk_keys[k];
			long (*run)(long) =
				variants[v].trapfree ? bkt_runs[k] : bk_runs[k];
			struct static_call_stats a = stats();
			for (long r = 0; r < nr; r++) {
				double t0 = bench_now_ns();
				err = static_branch_enable(key);
				double t1 = bench_now_ns();
				if (err)
					die("static_branch_enable", err);
				if (run(0) != key_sizes[k])
					die("key on: wrong result", EIO);
				double t2 = bench_now_ns();
				err = static_branch_disable(key);
				double t3 = bench_now_ns();
				if (err)
					die("static_branch_disable", err);
				if (run(0) != 0)
					die("key off: wrong result", EIO);
				t[2 * r] = t1 - t0;
				t[2 * r + 1] = t3 - t2;
			}
			struct static_call_stats z = stats();
			double m = bench_median(t, (size_t)nr * 2);
			double sy =
				(double)(z.syncs - a.syncs) / (double)(2 * nr);
			if (csv)
				printf("keys,%s,%d,%.3f,%.2f,%ld\n",
				       variants[v].name, key_sizes[k], m / 1e3,
				       sy, 2 * nr);
			else
				printf("%-16s %6d %12.2f %8.2f\n",
				       variants[v].name, key_sizes[k], m / 1e3,
				       sy);
		}
	}
	free(t);
}

int main(int argc, char **argv)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (bench_args(argc, argv, "update", &reps, &csv))
		return 2;
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > 63)
		ncpu = 63;
	/* The library registers too; registering twice is harmless. */
	if (syscall(SYS_membarrier,
		    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0))
		die("membarrier register", errno);

	if (csv)
		printf("kind,protocol,threads,update_us,sync_us,ratio,"
		       "syncs_per_update,traps_per_update,reps\n");
	else
		printf("%-16s %3s %12s %12s %9s %7s %9s\n", "protocol", "thr",
		       "update us", "raw sync us", "upd/sync", "syncs",
		       "traps/upd");
	for (long t = 0; t <= ncpu; t++)
		phase_update((int)t);
	if (csv)
		printf("kind,protocol,sites,batch_us,syncs_min,syncs_max,"
		       "sync_us,ns_per_site_beyond_syncs,reps\n");
	else
		printf("\n");
	phase_batch();
	if (csv)
		printf("kind,variant,sites,toggle_us,syncs_per_toggle,reps\n");
	else
		printf("\n");
	phase_keys();
	return 0;
}
